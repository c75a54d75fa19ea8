// Shared test helpers: backend parametrisation with visible GPU skips.
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "pbit/backend.hpp"
#include "pbit/error.hpp"

namespace pbit::test {

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

inline std::string backend_param_name(const ::testing::TestParamInfo<Backend>& info) { return to_string(info.param); }

}  // namespace pbit::test

/// At the top of a test that runs on `backend`: skips visibly when a CUDA device is missing, or fails
/// when PBIT_REQUIRE_GPU=1.
#define PBIT_REQUIRE_BACKEND(backend)                                                                  \
  do {                                                                                                 \
    if (!::pbit::backend_available(backend)) {                                                         \
      if (::pbit::test::gpu_required()) {                                                              \
        FAIL() << "PBIT_REQUIRE_GPU=1 but backend " << ::pbit::to_string(backend)                      \
               << " is not available (compiled: " << ::pbit::backend_compiled(backend) << ")";         \
      }                                                                                                \
      GTEST_SKIP() << "backend " << ::pbit::to_string(backend) << " not available here (no CUDA device)"; \
    }                                                                                                  \
  } while (0)
