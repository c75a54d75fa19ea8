// The one way pbit writes a file (issue 16): the whole content goes to a temporary file in the same
// folder, which is flushed, checked, fsync'ed and renamed over the target, so a file is either the
// complete new content or left as it was; a failure is an IoError naming the path and the system's
// reason, and leaves no temporary behind. Nothing is reported written before the rename succeeded.
// Where the bytes go is resolve_output's answer, which check_writable shares: a symbolic link is
// followed by the kernel (so that fs.protected_symlinks refuses one planted in a shared sticky folder)
// and the file it points at is replaced, the link staying; /dev/stdout, /dev/stderr, /dev/fd/N and
// /proc/self/fd/N are the process's open descriptor, written as it is (a shell's `>> log` appends);
// a device or named pipe is opened and written in place, never replaced by a file.
#pragma once
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>

#include "pbit/error.hpp"

namespace pbit::detail {

/// Where a write to a path goes (see the file comment).
struct OutputTarget {
  std::string dest;       ///< the regular file replaced atomically: the path, or the file its link points at
  int fd = -1;            ///< >= 0: the process's open descriptor, written as it is
  bool in_place = false;  ///< a device or named pipe: opened and written, not replaced
};
/// Resolves `path` as write_file_atomically will write it; IoError for a link the kernel does not
/// follow, a link to a folder, or a descriptor that is not open.
OutputTarget resolve_output(const std::string& path);

/// The temporary a write of `dest` goes through, beside it: "NAME.tmpPID" with this process's id, so
/// that two processes writing one file at once do not take each other's, and a killed run's is known
/// as such (cli/main.cpp, stale_temporary).
std::string temporary_path(const std::string& dest);

/// Writes `content` to `path` atomically (see the file comment).
void write_file_atomically(const std::string& path, std::string_view content);
/// The same, with the content produced by `body` into a stream.
void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& body);

/// Throws IoError when `path` names a folder: a stream opens one without complaint, and the first
/// read throws a system error that is no user's message. Call it before reading a user's path.
void refuse_folder(const std::string& path);

/// The IoError for an open of `path` that failed with `error_number` (errno, read before the
/// message was built): "<message>: <strerror>", carrying the path and the number.
IoError open_failed(int error_number, const std::string& message, const std::string& path);

/// CRC-32 (zlib's, IEEE polynomial) of a buffer: the checksum of checkpoints and model files.
uint32_t crc32_of(std::string_view data);

/// A checksummed binary container: magic (8 bytes) | payload length (u64) | CRC-32 of the payload
/// (u32) | payload. Writing goes through write_file_atomically; reading checks the magic, the length
/// (against the file's size) and the checksum, and says which failed, naming the file.
void write_checksummed(const std::string& path, const char (&magic)[8], std::string_view payload);
/// Returns the payload; `what` names the kind of file in errors ("DBM checkpoint"). `also_reads`: the
/// magic of another version of the kind whose payload the caller reads alike (the DBM's era
/// versions): a file of either is read, and one of a third names both.
std::string read_checksummed(const std::string& path, const char (&magic)[8], const std::string& what, const char* also_reads = nullptr);

/// Which of pbit's checksummed kinds of file one whose first `n` bytes are `head` is, by its magic,
/// for a message where another kind was expected ("a DBM training checkpoint (checkpoint.bin of
/// 'pbit dbm train')"); "" for none of them.
std::string pbit_file_kind(const char* head, size_t n);

}  // namespace pbit::detail
