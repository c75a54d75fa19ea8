// Shared test helpers: backend parametrisation with visible GPU skips.
#pragma once
#include <gtest/gtest.h>

#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "pbit/core/backend.hpp"
#include "pbit/error.hpp"
#include "pbit/core/sampler.hpp"

namespace pbit::test {

/// A file's bytes (empty when it cannot be read).
inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

/// Where two files' bytes part: "" when they are the same, else the first differing offset and the
/// sizes (a readable failure where comparing the bytes themselves would print them all).
inline std::string byte_difference(const std::string& path_a, const std::string& path_b) {
  const std::string a = slurp(path_a), b = slurp(path_b);
  if (a == b) return "";
  size_t k = 0;
  while (k < a.size() && k < b.size() && a[k] == b[k]) ++k;
  return path_a + " and " + path_b + " part at byte " + std::to_string(k) + " (sizes " + std::to_string(a.size()) + " and " +
         std::to_string(b.size()) + ")";
}

/// Sets (or, with nullptr, unsets) an environment variable for its lifetime, and then puts back what
/// was there: a test does not leave its setting to the next, nor clear one the caller had set.
class WithEnv {
 public:
  WithEnv(const char* name, const char* value) : name_(name) {
    if (const char* was = std::getenv(name)) had_ = true, was_ = was;
    if (value) setenv(name, value, 1);
    else unsetenv(name);
  }
  ~WithEnv() {
    if (had_) setenv(name_, was_.c_str(), 1);
    else unsetenv(name_);
  }
  WithEnv(const WithEnv&) = delete;
  WithEnv& operator=(const WithEnv&) = delete;

 private:
  const char* name_;
  bool had_ = false;
  std::string was_;
};

inline bool gpu_required() {
  const char* v = std::getenv("PBIT_REQUIRE_GPU");
  return v && std::string(v) == "1";
}

/// Every backend the tests should cover: reference, cpu and packed (the fast GPU kernel's loop on the
/// host) always, cuda when compiled.
inline std::vector<Backend> test_backends() {
  std::vector<Backend> b{Backend::reference, Backend::cpu, Backend::packed};
  if (backend_compiled(Backend::cuda) || gpu_required()) b.push_back(Backend::cuda);
  return b;
}

/// A CUDA sweep kernel and team shape the GPU tests run: the simple kernel, and the fast kernel with
/// every team size the occupancy policy can pick (docs/FAST_KERNEL.md). PBIT_TEST_CUDA_VARIANTS
/// (e.g. "fast_w4,simple") restricts them, for sanitizer runs; it may also name fast_w16_k4, the
/// planner's pick at large chain counts (512 threads at its register limit), which the default list
/// leaves to the "auto" cases (it is slow on the emulator).
struct CudaVariant {
  std::string name;
  CudaKernel kernel;
  int team_warps;
  int words_per_lane = 1;
  /// Sets o's backend to cuda with this variant's kernel, team size and words per lane.
  void apply(SamplerOptions& o) const {
    o.backend = Backend::cuda;
    o.cuda_kernel = kernel;
    o.cuda_team_warps = team_warps;
    o.fast_words_per_lane = words_per_lane;
  }
};

inline std::vector<CudaVariant> cuda_variants() {
  const std::vector<CudaVariant> all{{"simple", CudaKernel::simple, 0},
                                     {"fast_w2", CudaKernel::fast, 2},
                                     {"fast_w4", CudaKernel::fast, 4},
                                     {"fast_w8", CudaKernel::fast, 8},
                                     {"fast_w16", CudaKernel::fast, 16},
                                     {"fast_w4_k2", CudaKernel::fast, 4, 2},
                                     {"fast_w8_k4", CudaKernel::fast, 8, 4},
                                     {"fast_w3_k4", CudaKernel::fast, 3, 4}};
  const char* only = std::getenv("PBIT_TEST_CUDA_VARIANTS");
  if (!only || !*only) return all;
  std::vector<CudaVariant> out;
  const std::string list = std::string(",") + only + ",";
  std::vector<CudaVariant> named = all;
  named.push_back({"fast_w16_k4", CudaKernel::fast, 16, 4});
  for (const auto& v : named) {
    if (list.find("," + v.name + ",") != std::string::npos) out.push_back(v);
  }
  return out;
}

/// Calls f(options) once for the reference and packed backends, once per instruction-set path for
/// cpu, and once per CUDA variant for cuda (with a trace naming it), so that the tests cover every
/// path a backend can take.
template <class F>
void for_each_variant(Backend backend, const SamplerOptions& base, F&& f) {
  if (backend == Backend::cpu) {  // every instruction-set path this CPU runs (avx512, avx2, generic)
    for (CpuIsa isa : available_cpu_isas()) {
      SCOPED_TRACE("cpu path " + to_string(isa));
      SamplerOptions o = base;
      o.backend = backend;
      o.cpu_isa = isa;
      f(o);
    }
    return;
  }
  if (backend == Backend::packed) {  // the fast kernel's loop with 1, 2 and 4 words per lane
    for (int k : {1, 2, 4}) {
      SCOPED_TRACE("packed, " + std::to_string(k) + " words per lane");
      SamplerOptions o = base;
      o.backend = backend;
      o.fast_words_per_lane = k;
      f(o);
    }
    return;
  }
  if (backend != Backend::cuda) {
    SamplerOptions o = base;
    o.backend = backend;
    f(o);
    return;
  }
  for (const CudaVariant& v : cuda_variants()) {
    SCOPED_TRACE("cuda kernel " + v.name);
    SamplerOptions o = base;
    v.apply(o);
    f(o);
  }
}

/// The message of the pbit::Error that f throws, or "<no error>".
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

/// A checksummed pbit file (checkpoints, feature networks: magic | u64 payload length | u32 CRC-32 |
/// payload), opened for editing: tests change its payload and seal it again with a valid checksum, as
/// a buggy or hostile writer could, to reach the checks behind the checksum.
struct SealedFile {
  std::string magic, payload;

  explicit SealedFile(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    const std::string all = s.str();
    if (all.size() < 20) throw std::runtime_error("not a sealed file: " + path);
    magic = all.substr(0, 8);
    payload = all.substr(20);
  }
  template <class T>
  void poke(size_t offset, T value) {
    std::memcpy(payload.data() + offset, &value, sizeof value);
  }
  /// The length of the last length-prefixed string of the payload (u64 length | bytes), e.g. the history.
  size_t last_string_length() const {
    for (size_t len = 0; len + 8 <= payload.size(); ++len) {
      uint64_t stored = 0;
      std::memcpy(&stored, payload.data() + payload.size() - len - 8, 8);
      if (stored == len) return len;
    }
    throw std::runtime_error("no length-prefixed string at the end of the payload");
  }
  std::string last_string() const { return payload.substr(payload.size() - last_string_length()); }
  /// Replaces the last length-prefixed string of the payload.
  void replace_last_string(const std::string& text) {
    payload.resize(payload.size() - last_string_length() - 8);
    const uint64_t n = text.size();
    payload.append(reinterpret_cast<const char*>(&n), 8);
    payload += text;
  }
  void write(const std::string& path) const {
    const uint64_t len = payload.size();
    const uint32_t crc = static_cast<uint32_t>(::crc32(0L, reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(payload.size())));
    std::ofstream f(path, std::ios::binary);
    f << magic;
    f.write(reinterpret_cast<const char*>(&len), 8);
    f.write(reinterpret_cast<const char*>(&crc), 4);
    f << payload;
  }
};

/// A copy of the file at `from` with byte `offset` XOR-ed with `mask`, at `to`.
inline void flip_byte(const std::string& from, const std::string& to, size_t offset, unsigned char mask = 1) {
  std::ifstream f(from, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  std::string b = s.str();
  b.at(offset) = static_cast<char>(b.at(offset) ^ mask);
  std::ofstream(to, std::ios::binary) << b;
}

inline std::string backend_param_name(const ::testing::TestParamInfo<Backend>& info) { return to_string(info.param); }

}  // namespace pbit::test

/// At the top of a test that runs on `backend`: skips visibly when a CUDA device is missing, or fails
/// when PBIT_REQUIRE_GPU=1.
#define PBIT_REQUIRE_BACKEND(backend)                                                                  \
  do {                                                                                                 \
    if (!::pbit::backend_available(backend)) {                                                         \
      if (::pbit::test::gpu_required()) {                                                              \
        FAIL() << "PBIT_REQUIRE_GPU=1 but backend " << ::pbit::to_string(backend)                      \
               << " is not available: " << ::pbit::backend_unavailable_reason(backend);                \
      }                                                                                                \
      GTEST_SKIP() << "backend " << ::pbit::to_string(backend)                                         \
                   << " not available here: " << ::pbit::backend_unavailable_reason(backend);          \
    }                                                                                                  \
  } while (0)
