#include "util/file_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "pbit/error.hpp"
#include "util/binary_io.hpp"
#include "util/file_formats.hpp"

namespace pbit::detail {

namespace {

std::string why(int err) { return std::strerror(err); }

}  // namespace

/// Writes all of `content` to `fd` (a write cut short by a signal goes on); returns 0 or the errno.
static int write_all(int fd, std::string_view content) {
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t w = ::write(fd, content.data() + done, content.size() - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    done += static_cast<size_t>(w);
  }
  return 0;
}

OutputTarget resolve_output(const std::string& path) {
  OutputTarget t;
  t.dest = path;
  // A descriptor the process already has: written as it is, so that a shell's `>> log` appends and
  // `> log` keeps what else went to stdout (reopening /proc/self/fd/1 would start at offset 0, and
  // following it to the log file would replace that file).
  if (path == "/dev/stdout" || path == "/dev/stderr") {
    t.fd = path == "/dev/stdout" ? 1 : 2;
    return t;
  }
  for (const std::string prefix : {"/dev/fd/", "/proc/self/fd/"}) {
    if (path.size() > prefix.size() && path.size() <= prefix.size() + 6 && path.compare(0, prefix.size(), prefix) == 0 &&
        path.find_first_not_of("0123456789", prefix.size()) == std::string::npos) {
      t.fd = std::stoi(path.substr(prefix.size()));
      if (::fcntl(t.fd, F_GETFD) == -1) throw IoError("cannot write '" + path + "': descriptor " + std::to_string(t.fd) + " is not open", path, EBADF);
      return t;
    }
  }
  struct stat ls {};
  if (::lstat(path.c_str(), &ls) != 0) return t;  // nothing there yet: a new file
  if (S_ISLNK(ls.st_mode)) {
    // The kernel follows the link (O_PATH), so that its protections apply: fs.protected_symlinks
    // refuses a link that someone else planted in a shared sticky folder such as /tmp, where
    // following it would replace a file of the link owner's choosing.
    const int pfd = ::open(path.c_str(), O_PATH | O_CLOEXEC);
    if (pfd < 0) {
      const int e = errno;
      if (e == ENOENT) return t;  // a dangling link: the new file replaces it
      throw IoError("cannot write '" + path + "': its symbolic link is not followed: " + why(e), path, e);
    }
    struct stat st {};
    char buf[4096];
    const int fe = ::fstat(pfd, &st) == 0 ? 0 : errno;
    const ssize_t n = ::readlink(("/proc/self/fd/" + std::to_string(pfd)).c_str(), buf, sizeof buf);
    ::close(pfd);
    if (fe != 0) throw IoError("cannot write '" + path + "': " + why(fe), path, fe);
    if (S_ISDIR(st.st_mode)) throw IoError("cannot write '" + path + "': it is a link to a folder", path, EISDIR);
    if (!S_ISREG(st.st_mode)) {
      t.in_place = true;  // a link to a device or a pipe (/dev/stdin style): opened through the link
      return t;
    }
    if (n <= 0 || n >= static_cast<ssize_t>(sizeof buf) || buf[0] != '/') {
      throw IoError("cannot write '" + path + "': the file its symbolic link points at cannot be named", path, 0);
    }
    t.dest.assign(buf, static_cast<size_t>(n));  // the file the link points at is replaced; the link stays
    return t;
  }
  t.in_place = !S_ISREG(ls.st_mode) && !S_ISDIR(ls.st_mode);  // a device or a named pipe
  return t;
}

namespace {

/// Opens `tmp` as a new file: never through a link, never an existing file (a temporary left by a
/// crashed run of the same pid is removed first).
int open_new(const std::string& tmp) {
  for (int attempt = 0;; ++attempt) {
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd >= 0 || errno != EEXIST || attempt == 1) return fd;
    ::unlink(tmp.c_str());
  }
}

}  // namespace

std::string temporary_path(const std::string& dest) {
  // Where "NAME.tmpPID" would pass the 255 bytes a file name may have, the name is cut and a hash of
  // the whole keeps it apart from its neighbours'.
  const std::filesystem::path target(dest);
  const std::string suffix = ".tmp" + std::to_string(::getpid());
  if (const std::string name = target.filename().string(); name.size() + suffix.size() > 255) {
    char h[20];
    std::snprintf(h, sizeof h, ".%016llx", static_cast<unsigned long long>(fnv1a(name)));
    return (target.parent_path() / (name.substr(0, 200) + h + suffix)).string();
  }
  return dest + suffix;
}

void write_file_atomically(const std::string& path, std::string_view content) {
  const OutputTarget out = resolve_output(path);
  if (out.fd >= 0) {  // stdout or another open descriptor: after what the process buffered for it
    if (out.fd == 1) std::fflush(stdout), std::cout.flush();
    if (out.fd == 2) std::fflush(stderr), std::cerr.flush();
    if (const int e = write_all(out.fd, content)) throw IoError("failed writing '" + path + "' (write): " + why(e), path, e);
    return;
  }
  if (out.in_place) {  // a device or a named pipe: renaming a file over it would replace the device node
    int fd;
    do fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
      const int e = errno;
      throw IoError("cannot write '" + path + "': " + why(e), path, e);
    }
    const int e = write_all(fd, content);
    if (::close(fd) != 0 && e == 0) {
      const int ce = errno;
      throw IoError("failed writing '" + path + "' (close): " + why(ce), path, ce);
    }
    if (e != 0) throw IoError("failed writing '" + path + "' (write): " + why(e), path, e);
    return;
  }
  const std::string& dest = out.dest;
  const std::filesystem::path target(dest);
  const std::string tmp = temporary_path(dest);
  const int fd = open_new(tmp);
  if (fd < 0) {
    const int e = errno;
    throw IoError("cannot write '" + path + "': " + why(e) +
                  (e == ENOENT ? " (folder '" + (target.has_parent_path() ? target.parent_path().string() : ".") + "')" : ""),
                  path, e);
  }
  auto fail = [&](int e, const char* doing) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw IoError("failed writing '" + path + "' (" + doing + "): " + why(e) + "; the file was not changed", path, e);
  };
  // A file replaced keeps its permissions (a private file stays private).
  if (struct stat st{}; ::stat(dest.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::fchmod(fd, st.st_mode & 07777) != 0) fail(errno, "fchmod");
  if (const int e = write_all(fd, content)) fail(e, "write");
  if (::fsync(fd) != 0) fail(errno, "fsync");
  if (::close(fd) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    throw IoError("failed writing '" + path + "' (close): " + why(e) + "; the file was not changed", path, e);
  }
  if (::rename(tmp.c_str(), dest.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    throw IoError("cannot write '" + path + "' (rename): " + why(e) + "; the file was not changed", path, e);
  }
}

void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& body) {
  std::ostringstream os(std::ios::binary);
  body(os);
  if (!os) throw IoError("cannot write '" + path + "': could not format its content", path, 0);
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
  if (std::filesystem::is_directory(path, ec)) throw IoError("'" + path + "' is a folder; a file was expected there", path, EISDIR);
}

IoError open_failed(int error_number, const std::string& message, const std::string& path) {
  return IoError(error_number != 0 ? message + ": " + why(error_number) : message, path, error_number);
}

std::string pbit_file_kind(const char* m, size_t n) {
  for (const FileFormat* f : kFileFormats)
    if (n >= 8 && std::memcmp(m, f->magic, 7) == 0) return f->what;  // (a whole magic: a cut one is no file of that kind)
  return "";
}

namespace {

/// What a file of these first bytes is, for a message: "" when pbit does not know.
std::string known_format(const char* m, size_t n) {
  if (std::string kind = pbit_file_kind(m, n); !kind.empty()) return kind;
  size_t k = 0;
  while (k < n && std::isspace(static_cast<unsigned char>(m[k]))) ++k;
  if (k < n && m[k] == '{') return "a JSON text (a model.json, config or result?)";
  return "";
}

}  // namespace

std::string read_checksummed(const std::string& path, const char (&magic)[8], const std::string& what, const char* also_reads) {
  refuse_folder(path);
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    const int e = errno;  // before the message is built
    throw open_failed(e, "cannot open " + what + " '" + path + "'", path);
  }
  char m[8] = {};
  f.read(m, 8);
  const auto got = static_cast<size_t>(f.gcount());
  const bool other_read = also_reads != nullptr && got == 8 && std::memcmp(m, also_reads, 8) == 0;
  if (!other_read && (got < 8 || std::memcmp(m, magic, 7) != 0)) {
    std::string is = known_format(m, got);
    if (is.empty() && got < 8) is = "a file of " + std::to_string(got) + " bytes, shorter than a pbit file's header";
    throw InvalidArgument("'" + path + "' is not a pbit " + what + " (format " + std::string(magic, 8) + ")" + (is.empty() ? "" : ": it is " + is));
  }
  if (!other_read && m[7] != magic[7]) {
    throw InvalidArgument("'" + path + "' is a " + what + " of format " + std::string(m, 8) + " from another pbit version (this one reads " +
                          std::string(magic, 8) + (also_reads ? " and " + std::string(also_reads, 8) : std::string()) + "); start the run afresh");
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
