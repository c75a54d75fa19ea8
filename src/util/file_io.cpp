#include "util/file_io.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "pbit/error.hpp"

namespace pbit::detail {

namespace {

std::string why(int err) { return std::strerror(err); }

}  // namespace

namespace {

/// Writes into something that is not a regular file (a device such as /dev/null or /dev/stdout, a
/// named pipe) in place: renaming a temporary over it would replace the device node with a file.
void write_in_place(const std::string& path, const std::string& dest, std::string_view content) {
  const int fd = ::open(dest.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    throw IoError("cannot write '" + path + "': " + why(e));
  }
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t w = ::write(fd, content.data() + done, content.size() - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      throw IoError("failed writing '" + path + "' (write): " + why(e));
    }
    done += static_cast<size_t>(w);
  }
  if (::close(fd) != 0) {
    const int e = errno;
    throw IoError("failed writing '" + path + "' (close): " + why(e));
  }
}

}  // namespace

void write_file_atomically(const std::string& path, std::string_view content) {
  namespace fs = std::filesystem;
  // A symbolic link stays a link: the file it points at is replaced (in its own folder, where the
  // rename is atomic). A device or a pipe is written in place.
  std::string dest = path;
  std::error_code ec;
  if (fs::is_symlink(fs::symlink_status(path, ec))) {
    const fs::path real = fs::canonical(path, ec);
    if (!ec) dest = real.string();  // a dangling link is replaced by the file
  }
  const fs::file_status st = fs::status(dest, ec);
  if (!ec && fs::exists(st) && !fs::is_regular_file(st) && !fs::is_directory(st)) return write_in_place(path, dest, content);
  const fs::path target(dest);
  const std::string tmp = dest + ".tmp" + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int e = errno;
    throw IoError("cannot write '" + path + "': " + why(e) +
                  (e == ENOENT ? " (folder '" + (target.has_parent_path() ? target.parent_path().string() : ".") + "')" : ""));
  }
  auto fail = [&](int e, const char* doing) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw IoError("failed writing '" + path + "' (" + doing + "): " + why(e) + "; the file was not changed");
  };
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t w = ::write(fd, content.data() + done, content.size() - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail(errno, "write");
    }
    done += static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0) fail(errno, "fsync");
  if (::close(fd) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    throw IoError("failed writing '" + path + "' (close): " + why(e) + "; the file was not changed");
  }
  if (::rename(tmp.c_str(), dest.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    throw IoError("cannot write '" + path + "' (rename): " + why(e) + "; the file was not changed");
  }
}

void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& body) {
  std::ostringstream os(std::ios::binary);
  body(os);
  if (!os) throw IoError("cannot write '" + path + "': could not format its content");
  write_file_atomically(path, os.view());
}

uint32_t crc32_of(std::string_view data) {
  uLong c = ::crc32(0L, Z_NULL, 0);
  size_t done = 0;
  while (done < data.size()) {  // zlib takes uInt lengths
    const uInt n = static_cast<uInt>(std::min<size_t>(data.size() - done, 1u << 30));
    c = ::crc32(c, reinterpret_cast<const Bytef*>(data.data() + done), n);
    done += n;
  }
  return static_cast<uint32_t>(c);
}

void write_checksummed(const std::string& path, const char (&magic)[8], std::string_view payload) {
  std::string out(magic, 8);
  const uint64_t len = payload.size();
  const uint32_t crc = crc32_of(payload);
  out.append(reinterpret_cast<const char*>(&len), 8);
  out.append(reinterpret_cast<const char*>(&crc), 4);
  out.append(payload);
  write_file_atomically(path, out);
}

void refuse_folder(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw IoError("'" + path + "' is a folder; a file was expected there");
}

std::string read_checksummed(const std::string& path, const char (&magic)[8], const std::string& what) {
  refuse_folder(path);
  std::ifstream f(path, std::ios::binary);
  if (!f) throw IoError("cannot open " + what + " '" + path + "'");
  char m[8];
  if (!f.read(m, 8) || std::memcmp(m, magic, 7) != 0) {
    throw InvalidArgument("'" + path + "' is not a pbit " + what + " (format " + std::string(magic, 8) + ")");
  }
  if (m[7] != magic[7]) {
    throw InvalidArgument("'" + path + "' is a " + what + " of format " + std::string(m, 8) + " from another pbit version (this one reads " +
                          std::string(magic, 8) + "); start the run afresh");
  }
  uint64_t len = 0;
  uint32_t crc = 0;
  if (!f.read(reinterpret_cast<char*>(&len), 8) || !f.read(reinterpret_cast<char*>(&crc), 4)) {
    throw InvalidArgument(what + " '" + path + "' is truncated in its header");
  }
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec || size < 20 || len != size - 20) {
    throw InvalidArgument(what + " '" + path + "' is truncated or padded: its header promises " + std::to_string(len) +
                          " bytes of payload, the file holds " + std::to_string(size >= 20 ? size - 20 : 0));
  }
  std::string payload(len, '\0');
  if (!f.read(payload.data(), static_cast<std::streamsize>(len))) throw InvalidArgument(what + " '" + path + "' is truncated");
  if (crc32_of(payload) != crc) {
    throw InvalidArgument(what + " '" + path + "' is corrupt: its checksum does not match (a changed bit or a broken copy)");
  }
  return payload;
}

}  // namespace pbit::detail
