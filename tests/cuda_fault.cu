// A kernel that faults on purpose, launched the way the CUDA engine launches its kernels, so that
// test_cuda_fault can check what the launch check reports. Built only with CUDA.
#include <string>

#include "cuda/cuda_check.cuh"

namespace {

// It waits about 0.1 s (2e8 clocks at the H200's 1.98 GHz; longer at lower clocks) before its store:
// cudaGetLastError may report an earlier launch's fault, so a kernel that faulted before the host's
// check would fail WithoutSyncCheckTheLaunchLooksFine by chance (helper-133).
__global__ void pbit_test_faulting_kernel(int* p) {
  const long long t0 = clock64();
  while (clock64() - t0 < 200000000LL) {
  }
  p[threadIdx.x] = 1;
}

}  // namespace

namespace pbit::test {

/// Launches the faulting kernel (a store through a null pointer) and returns the pbit::Error the
/// launch check throws, or "<no error>".
std::string launch_faulting_kernel() {
  cudaStream_t s = nullptr;
  PBIT_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  try {
    pbit_test_faulting_kernel<<<1, 32, 0, s>>>(nullptr);
    PBIT_CUDA_LAUNCHED(pbit_test_faulting_kernel, s);
  } catch (const pbit::Error& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace pbit::test
