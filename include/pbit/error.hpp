// pbit's one exception hierarchy. Library code never calls exit(); every failure is one of these.
#pragma once
#include <stdexcept>
#include <string>
#include <utility>

namespace pbit {

/// Base of every error pbit throws. A NUL byte in the message (from a quoted argument or a JSON
/// "\u0000") is kept as the two characters \0, so that what() is the whole message.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(without_nul(what)), reason_(without_nul(what)) {}
  /// The message without its kind ("invalid argument: ", "invalid graph: ", ...): for a caller that
  /// words the error its own way around it ("topology 'grid:8': " + reason()).
  const std::string& reason() const noexcept { return reason_; }

 protected:
  /// what() is kind + reason.
  Error(const std::string& kind, const std::string& reason) : std::runtime_error(without_nul(kind + reason)), reason_(without_nul(reason)) {}

 private:
  static std::string without_nul(std::string s) {
    for (size_t p = s.find('\0'); p != std::string::npos; p = s.find('\0', p + 2)) s.replace(p, 1, "\\0");
    return s;
  }
  std::string reason_;
};

/// A graph that is not a valid undirected weighted graph (index out of range, self loop,
/// conflicting duplicate, asymmetric CSR, non-finite value), or an unreadable graph file.
class InvalidGraph : public Error {
 public:
  explicit InvalidGraph(const std::string& what) : Error("invalid graph: ", what) {}
};

/// A coloring that is not proper or does not match its graph. The message names the offending edge.
class InvalidColoring : public Error {
 public:
  explicit InvalidColoring(const std::string& what) : Error("invalid coloring: ", what) {}
};

/// A configuration value that is missing, of the wrong type or out of range. The message names the key.
class InvalidConfig : public Error {
 public:
  explicit InvalidConfig(const std::string& what) : Error("invalid config: ", what) {}
};

/// A bad argument to an API call (wrong array size, bad node index, non-finite field, ...).
class InvalidArgument : public Error {
 public:
  explicit InvalidArgument(const std::string& what) : Error("invalid argument: ", what) {}
};

/// A checkpoint or model file written by a run with another training config (its fingerprint
/// differs): an InvalidArgument, so that callers may also tell this refusal, whose remedy is the
/// run's own config, from a corrupt or unreadable file.
class ConfigMismatch : public InvalidArgument {
 public:
  using InvalidArgument::InvalidArgument;
};

/// A backend that this build of pbit does not contain (e.g. CUDA built without nvcc).
class NotCompiled : public Error {
 public:
  explicit NotCompiled(const std::string& what) : Error("not compiled: ", what) {}
};

/// A CUDA runtime error, including "no device".
class CudaError : public Error {
 public:
  explicit CudaError(const std::string& what) : Error("CUDA error: ", what) {}
};

/// A device (or host) allocation that did not fit. Says how many bytes were asked for.
class OutOfMemory : public Error {
 public:
  explicit OutOfMemory(const std::string& what) : Error("out of memory: ", what) {}
};

/// A file that cannot be opened, read or written. Where pbit knows them, it also carries the file's
/// path and the errno of the call that failed (Python's pbit.IoError has them as .filename and .errno).
class IoError : public Error {
 public:
  explicit IoError(const std::string& what) : Error("I/O error: ", what) {}
  IoError(const std::string& what, std::string path, int error_number)
      : Error("I/O error: ", what), path_(std::move(path)), error_number_(error_number) {}
  /// The file concerned, or "" when there is no one file.
  const std::string& path() const noexcept { return path_; }
  /// The errno of the system call that failed (ENOENT, EACCES, ...), or 0 when none did.
  int error_number() const noexcept { return error_number_; }

 private:
  std::string path_;
  int error_number_ = 0;
};

}  // namespace pbit
