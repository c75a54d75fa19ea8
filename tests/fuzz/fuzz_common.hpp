// Shared by the fuzz targets (libFuzzer, docs/TESTING.md): each target hands the fuzzer's bytes to one
// of pbit's readers exactly as a user's file would reach it (through a file on disk), and accepts
// only two outcomes: success, or a pbit::Error. Anything else (another exception, a crash, a
// sanitizer report, an allocation over -malloc_limit_mb, a hang over -timeout) is a finding.
#pragma once
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

#include "pbit/error.hpp"

namespace pbit::fuzz {

/// A file holding the input: in /dev/shm when there is one (fast), named by process.
inline std::string input_path(const std::string& ext) {
  static const std::string dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  return dir + "/pbit-fuzz-" + std::to_string(getpid()) + ext;
}

inline std::string write_input(const uint8_t* data, size_t size, const std::string& ext) {
  const std::string path = input_path(ext);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

/// Runs `f`; a pbit::Error is the expected way to refuse bad input, anything else escapes to the
/// fuzzer as a crash.
template <class F>
int accept_errors(F&& f) {
  try {
    f();
  } catch (const Error&) {
  }
  return 0;
}

/// The memory guard's limit inside the fuzzers, below their -malloc_limit_mb, so that an input the
/// guard lets through cannot trip the fuzzer's allocation limit.
inline void init_limits() {
  setenv("PBIT_MAX_MEMORY", "256M", 1);
  setenv("OMP_NUM_THREADS", "1", 1);
}

/// With PBIT_FUZZ_SEEDS=DIR a target writes the seed inputs it generates (files in its own formats:
/// checkpoints, models) into DIR; tests/fuzz/run.sh collects them into the corpus.
inline const char* seed_dir() {
  const char* d = std::getenv("PBIT_FUZZ_SEEDS");
  return d && *d ? d : nullptr;
}

inline void write_seed(const std::string& name, std::string_view bytes) {
  if (const char* d = seed_dir()) {
    std::ofstream f(std::string(d) + "/" + name, std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
}

inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

/// A checksummed container (util/file_io.hpp) around `payload`, sealed with a valid CRC-32: the
/// targets for checkpoints fuzz what lies behind the checksum this way (the fuzzer could not forge
/// a checksum itself), and the raw container in their other mode.
inline std::string seal(const std::string& magic, std::string_view payload) {
  std::string out = magic.substr(0, 8);
  const uint64_t len = payload.size();
  const uint32_t crc = static_cast<uint32_t>(::crc32(0L, reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(payload.size())));
  out.append(reinterpret_cast<const char*>(&len), 8);
  out.append(reinterpret_cast<const char*>(&crc), 4);
  out.append(payload);
  return out;
}

}  // namespace pbit::fuzz
