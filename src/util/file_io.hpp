// The one way pbit writes a file (issue 16): the whole content goes to a temporary file in the same
// folder, which is flushed, checked, fsync'ed and renamed over the target, so a file is either the
// complete new content or left as it was; a failure is an IoError naming the path and the system's
// reason, and leaves no temporary behind. Nothing is reported written before the rename succeeded.
// A symbolic link is followed (the file it points at is replaced; the link stays), and a path that
// is neither a file nor a folder (/dev/null, /dev/stdout, a named pipe) is written in place, not
// replaced by a file.
#pragma once
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>

namespace pbit::detail {

/// Writes `content` to `path` atomically (see the file comment).
void write_file_atomically(const std::string& path, std::string_view content);
/// The same, with the content produced by `body` into a stream.
void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& body);

/// Throws IoError when `path` names a folder: a stream opens one without complaint, and the first
/// read throws a system error that is no user's message. Call it before reading a user's path.
void refuse_folder(const std::string& path);

/// CRC-32 (zlib's, IEEE polynomial) of a buffer: the checksum of checkpoints and model files.
uint32_t crc32_of(std::string_view data);

/// A checksummed binary container: magic (8 bytes) | payload length (u64) | CRC-32 of the payload
/// (u32) | payload. Writing goes through write_file_atomically; reading checks the magic, the length
/// (against the file's size) and the checksum, and says which failed, naming the file.
void write_checksummed(const std::string& path, const char (&magic)[8], std::string_view payload);
/// Returns the payload; `what` names the kind of file in errors ("DBM checkpoint").
std::string read_checksummed(const std::string& path, const char (&magic)[8], const std::string& what);

}  // namespace pbit::detail
