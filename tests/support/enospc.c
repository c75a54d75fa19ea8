// A full disk, simulated for the writer tests (issue 16): preloaded into a pbit process
// (LD_PRELOAD), it makes writes to regular files fail with ENOSPC, as a full disk would.
//   PBIT_ENOSPC_MATCH  only files whose path contains this text (default: every regular file)
//   PBIT_ENOSPC_AFTER  bytes such files may take in all before writes fail (default 0)
//   PBIT_EIO_FSYNC     when set: writes succeed, and fsync / fdatasync of such files fail with EIO
//                      (a delayed-allocation filesystem reports a full disk, or a device its error, there)
// Pipes and terminals (stdout, stderr) are never touched. It works on any build of pbit, old or new,
// so a test that uses it can be run against the code before a fix to watch it fail.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static long long written = 0;

static int targeted(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
  const char* match = getenv("PBIT_ENOSPC_MATCH");
  if (!match || !*match) return 1;
  char link[64], path[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, path, sizeof path - 1);
  if (n < 0) return 0;
  path[n] = '\0';
  return strstr(path, match) != NULL;
}

// How many of `want` bytes may be written to fd now; -1 (errno ENOSPC) when none.
static ssize_t allowed(int fd, size_t want) {
  const char* eio = getenv("PBIT_EIO_FSYNC");  // writes succeed; fsync fails (sync_or_eio)
  if (!targeted(fd) || (eio && *eio)) return (ssize_t)want;
  const char* v = getenv("PBIT_ENOSPC_AFTER");
  const long long limit = v && *v ? atoll(v) : 0;
  if (written >= limit) {
    errno = ENOSPC;
    return -1;
  }
  const long long room = limit - written;
  return (ssize_t)((long long)want < room ? (long long)want : room);
}

static void count(int fd, ssize_t w) {
  if (w > 0 && targeted(fd)) written += w;
}

// fsync or fdatasync: EIO for a matched file under PBIT_EIO_FSYNC, else the real call.
static int sync_or_eio(int fd, const char* name, int (**real)(int)) {
  if (!*real) *real = (int (*)(int))dlsym(RTLD_NEXT, name);
  const char* eio = getenv("PBIT_EIO_FSYNC");
  if (eio && *eio && targeted(fd)) {
    errno = EIO;
    return -1;
  }
  return (*real)(fd);
}

int fsync(int fd) {
  static int (*real)(int);
  return sync_or_eio(fd, "fsync", &real);
}

int fdatasync(int fd) {
  static int (*real)(int);
  return sync_or_eio(fd, "fdatasync", &real);
}

ssize_t write(int fd, const void* buf, size_t n) {
  static ssize_t (*real)(int, const void*, size_t);
  if (!real) real = (ssize_t(*)(int, const void*, size_t))dlsym(RTLD_NEXT, "write");
  const ssize_t a = allowed(fd, n);
  if (a < 0) return -1;
  const ssize_t w = real(fd, buf, (size_t)a);
  count(fd, w);
  return w;
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  static ssize_t (*real)(int, const void*, size_t, off_t);
  if (!real) real = (ssize_t(*)(int, const void*, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
  const ssize_t a = allowed(fd, n);
  if (a < 0) return -1;
  const ssize_t w = real(fd, buf, (size_t)a, off);
  count(fd, w);
  return w;
}

// libstdc++'s file streams write with writev: a short write takes from the first buffers only.
ssize_t writev(int fd, const struct iovec* iov, int cnt) {
  static ssize_t (*real)(int, const struct iovec*, int);
  if (!real) real = (ssize_t(*)(int, const struct iovec*, int))dlsym(RTLD_NEXT, "writev");
  size_t total = 0;
  for (int i = 0; i < cnt; ++i) total += iov[i].iov_len;
  const ssize_t a = allowed(fd, total);
  if (a < 0) return -1;
  if ((size_t)a == total) {
    const ssize_t w = real(fd, iov, cnt);
    count(fd, w);
    return w;
  }
  return write(fd, iov[0].iov_base, (size_t)a < iov[0].iov_len ? (size_t)a : iov[0].iov_len);
}
