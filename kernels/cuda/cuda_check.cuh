// Typed CUDA error checks: PBIT_CUDA_CHECK throws pbit::CudaError (or OutOfMemory); never exits.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "pbit/error.hpp"

namespace pbit::detail {

inline void cuda_throw(cudaError_t e, const char* expr, const char* file, int line) {
  std::string msg = std::string(cudaGetErrorName(e)) + " (" + cudaGetErrorString(e) + ") in " + expr + " at " +
                    file + ":" + std::to_string(line);
  if (e == cudaErrorMemoryAllocation) throw OutOfMemory("CUDA: " + msg);
  throw CudaError(msg);
}

}  // namespace pbit::detail

#define PBIT_CUDA_CHECK(expr)                                                           \
  do {                                                                                  \
    const cudaError_t pbit_err_ = (expr);                                               \
    if (pbit_err_ != cudaSuccess) ::pbit::detail::cuda_throw(pbit_err_, #expr, __FILE__, __LINE__); \
  } while (0)

/// After a kernel launch: catches bad launch configurations immediately.
#define PBIT_CUDA_CHECK_LAUNCH() PBIT_CUDA_CHECK(cudaGetLastError())

/// For destructors: reports nothing, never throws.
#define PBIT_CUDA_CHECK_NOTHROW(expr) ((void)(expr))
