// Typed CUDA error checks: PBIT_CUDA_CHECK throws pbit::CudaError (or OutOfMemory); never exits.
#pragma once
#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "pbit/error.hpp"

namespace pbit::detail {

// Each with internal linkage (static): as plain inline functions libpbit exported them, and a binary
// that links its own CUDA runtime (test_cuda_fault's cudart_static) and holds its own copies would
// have had libpbit's launch checks call them, asking that runtime, not libpbit's, for the launch's
// error (helper-133).
static inline void cuda_throw(cudaError_t e, const char* expr, const char* file, int line) {
  // This exception reports `e`: cleared, so that the next launch's check (cudaGetLastError) does not
  // report it again as that kernel's, after a caller caught it (an allocation too large, say). A
  // sticky error (a kernel's fault) stays: every later call returns it.
  (void)cudaGetLastError();
  std::string msg = std::string(cudaGetErrorName(e)) + " (" + cudaGetErrorString(e) + ") in " + expr + " at " +
                    file + ":" + std::to_string(line);
  if (e == cudaErrorMemoryAllocation) throw OutOfMemory("CUDA: " + msg);
  throw CudaError(msg);
}

/// PBIT_CUDA_SYNC_CHECK=1: every launch is followed by a synchronize and a check, so that a kernel
/// fault names its kernel (at a cost in speed). Without it a fault surfaces at the next synchronize.
static inline bool cuda_sync_check() {
  const char* v = std::getenv("PBIT_CUDA_SYNC_CHECK");
  return v && std::strcmp(v, "1") == 0;
}

/// After a launch of `kernel` on `stream`: a bad launch configuration throws at once, naming the
/// kernel; with PBIT_CUDA_SYNC_CHECK=1 the kernel is also waited for and any fault it caused throws.
static inline void cuda_after_launch(const char* kernel, cudaStream_t stream, const char* file, int line) {
  cudaError_t e = cudaGetLastError();
  const char* when = "launching";
  if (e == cudaSuccess && cuda_sync_check()) {
    e = cudaStreamSynchronize(stream);
    when = "running";
  }
  if (e == cudaSuccess) return;
  const std::string msg = std::string(cudaGetErrorName(e)) + " (" + cudaGetErrorString(e) + ") " + when + " kernel " +
                          kernel + " (launched at " + file + ":" + std::to_string(line) + ")";
  if (e == cudaErrorMemoryAllocation) throw OutOfMemory("CUDA: " + msg);
  throw CudaError(msg);
}

}  // namespace pbit::detail

#define PBIT_CUDA_CHECK(expr)                                                           \
  do {                                                                                  \
    const cudaError_t pbit_err_ = (expr);                                               \
    if (pbit_err_ != cudaSuccess) ::pbit::detail::cuda_throw(pbit_err_, #expr, __FILE__, __LINE__); \
  } while (0)

/// After a kernel launch: PBIT_CUDA_LAUNCHED(kernel_name, stream) (see cuda_after_launch).
#define PBIT_CUDA_LAUNCHED(kernel, stream) ::pbit::detail::cuda_after_launch(#kernel, (stream), __FILE__, __LINE__)

/// For destructors: reports nothing, never throws.
#define PBIT_CUDA_CHECK_NOTHROW(expr) ((void)(expr))
