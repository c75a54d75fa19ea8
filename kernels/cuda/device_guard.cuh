// DeviceGuard: a CUDA device made current for a scope, and the caller's again after it. Used by the
// Gibbs engine and the p-DNN forward pass, so that each runs on the device pbit chose for it
// (resolve_cuda_device: the rank's under MPI), whichever device the calling thread had current.
#pragma once
#include <cuda_runtime.h>

#include "cuda_check.cuh"

namespace pbit::detail {

/// Whether the calling thread has a CUDA context current (the driver's cuCtxGetCurrent, reached
/// through the runtime so that pbit links no driver library). A thread that never chose a device
/// reports device 0 from cudaGetDevice without having a context there; making device 0 current again
/// for it would create one (CUDA 12 initialises on cudaSetDevice), on a GPU the process may never have
/// used. When the query is unavailable (the emulator, an old driver), true: restore as asked.
/// (static, as cuda_check.cuh's: not exported from libpbit for another binary's copy to stand in for)
static inline bool thread_has_context() {
#if defined(PBIT_CUDA_EMULATOR) || CUDART_VERSION < 12050  // cudaGetDriverEntryPointByVersion: CUDA 12.5
  return true;
#else
  using GetCurrent = int (*)(void**);  // CUresult cuCtxGetCurrent(CUcontext*)
  static const GetCurrent get_current = [] {
    void* fn = nullptr;
    cudaDriverEntryPointQueryResult found{};
    if (cudaGetDriverEntryPointByVersion("cuCtxGetCurrent", &fn, 12000, cudaEnableDefault, &found) != cudaSuccess ||
        found != cudaDriverEntryPointSuccess) {
      (void)cudaGetLastError();
      return GetCurrent{nullptr};
    }
    return reinterpret_cast<GetCurrent>(fn);
  }();
  if (!get_current) return true;
  void* ctx = nullptr;
  return get_current(&ctx) != 0 || ctx != nullptr;
#endif
}

/// Makes `device` current for a scope and then the caller's again, unless the caller had no context
/// (see thread_has_context): then `device` stays current, as after the engine's constructor. The
/// no-throw form is for destructors (freeing memory or a stream from any thread: a DLPack consumer
/// frees an exported state wherever it likes).
class DeviceGuard {
 public:
  explicit DeviceGuard(int device, bool nothrow = false) {
    const bool had_context = thread_has_context();
    if (nothrow) {
      if (cudaGetDevice(&previous_) != cudaSuccess) {
        (void)cudaGetLastError();
        return;
      }
      if (previous_ != device && cudaSetDevice(device) != cudaSuccess) {
        (void)cudaGetLastError();
        return;
      }
    } else {
      PBIT_CUDA_CHECK(cudaGetDevice(&previous_));
      if (previous_ != device) PBIT_CUDA_CHECK(cudaSetDevice(device));
    }
    restore_ = previous_ != device && had_context;
  }
  ~DeviceGuard() {
    if (restore_) PBIT_CUDA_CHECK_NOTHROW(cudaSetDevice(previous_));
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
  bool restore_ = false;
};

}  // namespace pbit::detail
