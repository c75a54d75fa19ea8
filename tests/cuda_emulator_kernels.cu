// Kernels that probe the CUDA emulator's semantics (test_cuda_emulator.cpp; built only with
// PBIT_CUDA_EMULATOR, through cmake/cuda_emulator.cmake like the library's .cu sources).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "cuda_emulator_kernels.hpp"

namespace pbit::test::emu_kernels {
namespace {

__global__ void ballot_kernel(unsigned* out) {
  const unsigned lane = threadIdx.x % 32u;
  const unsigned warp_lanes = blockDim.x - threadIdx.x / 32u * 32u < 32u ? blockDim.x - threadIdx.x / 32u * 32u : 32u;
  const unsigned mask = warp_lanes == 32u ? 0xffffffffu : (1u << warp_lanes) - 1u;
  out[blockIdx.x * blockDim.x + threadIdx.x] = __ballot_sync(mask, (lane + blockIdx.x) % 3 == 0);
}

/// Each thread reads its right neighbour's value after a barrier (wrong without the barrier).
__global__ void rotate_kernel(const int* in, int* out) {
  extern __shared__ int S[];
  S[threadIdx.x] = in[blockIdx.x * blockDim.x + threadIdx.x];
  __syncthreads();
  out[blockIdx.x * blockDim.x + threadIdx.x] = S[(threadIdx.x + 1) % blockDim.x];
}

/// rotate_kernel without its barrier, one value per warp: a race between warps.
__global__ void racy_warp_rotate_kernel(int* out) {
  extern __shared__ int S[];
  const unsigned warp = threadIdx.x / 32u, warps = blockDim.x / 32u;
  if (threadIdx.x % 32u == 0) S[warp] = static_cast<int>(warp);
  out[threadIdx.x] = S[(warp + 1) % warps];
}

/// Every thread of a 2D grid of 2D blocks writes its linear id: threadIdx, blockIdx, blockDim and
/// gridDim as CUDA defines them.
__global__ void ids_kernel(int* out) {
  const unsigned x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
  out[y * gridDim.x * blockDim.x + x] = static_cast<int>(1000 * y + x);
}

/// A static shared array of 64 ints: block 0 fills it, every other block only reads it. Each block
/// has its own, so the others read what nobody wrote.
__global__ void static_shared_kernel(int* out) {
  __shared__ int buf[64];
  if (blockIdx.x == 0) buf[threadIdx.x] = static_cast<int>(threadIdx.x);
  __syncthreads();
  out[blockIdx.x * blockDim.x + threadIdx.x] = buf[threadIdx.x];
}

__global__ void divergent_barrier_kernel(int* out) {
  if (threadIdx.x < 16) __syncthreads();
  out[threadIdx.x] = 1;
}

/// Half a warp at a barrier, the other half at a ballot: neither can open.
__global__ void deadlock_kernel(unsigned* out) {
  if (threadIdx.x < 16) {
    __syncthreads();
  } else {
    out[threadIdx.x] = __ballot_sync(0xffffffffu, 1);
  }
}

__global__ void ballot_after_exit_kernel(unsigned* out) {
  if (threadIdx.x == 5) return;
  out[threadIdx.x] = __ballot_sync(0xffffffffu, 1);
}

__global__ void shared_reader_kernel(int* out) {
  extern __shared__ int S[];
  out[threadIdx.x] = S[threadIdx.x];
}

__global__ void empty_kernel() {}

__global__ void fill_kernel(int* out, int v) { out[blockIdx.x * blockDim.x + threadIdx.x] = v; }

__global__ void __launch_bounds__(64) bounded_kernel(int* out) {
  out[threadIdx.x] = 1;
}

/// Lanes 16 to 31 call __ballot_sync with a mask that leaves them out.
__global__ void ballot_mask_excludes_caller_kernel(unsigned* out) {
  out[threadIdx.x] = __ballot_sync(0x0000ffffu, 1);
}

template <class T>
std::vector<T> download(const T* d, size_t n) {
  std::vector<T> h(n);
  cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost);
  return h;
}

}  // namespace

std::vector<unsigned> ballots(unsigned blocks, unsigned threads) {
  unsigned* d = nullptr;
  cudaMalloc(&d, sizeof(unsigned) * blocks * threads);
  ballot_kernel<<<blocks, threads>>>(d);
  auto h = download(d, static_cast<size_t>(blocks) * threads);
  cudaFree(d);
  return h;
}

std::vector<int> rotate(const std::vector<int>& in, unsigned blocks) {
  int *din = nullptr, *dout = nullptr;
  cudaMalloc(&din, sizeof(int) * in.size());
  cudaMalloc(&dout, sizeof(int) * in.size());
  cudaMemcpy(din, in.data(), sizeof(int) * in.size(), cudaMemcpyHostToDevice);
  const unsigned threads = static_cast<unsigned>(in.size()) / blocks;
  rotate_kernel<<<blocks, threads, threads * sizeof(int)>>>(din, dout);
  auto h = download(dout, in.size());
  cudaFree(din);
  cudaFree(dout);
  return h;
}

std::vector<int> racy_warp_rotate(unsigned warps) {
  int* d = nullptr;
  cudaMalloc(&d, sizeof(int) * 32 * warps);
  racy_warp_rotate_kernel<<<1, 32 * warps, warps * sizeof(int)>>>(d);
  auto h = download(d, 32 * warps);
  cudaFree(d);
  return h;
}

std::vector<int> ids(unsigned bx, unsigned by, unsigned gx, unsigned gy) {
  const size_t n = static_cast<size_t>(bx) * by * gx * gy;
  int* d = nullptr;
  cudaMalloc(&d, sizeof(int) * n);
  ids_kernel<<<dim3(gx, gy), dim3(bx, by)>>>(d);
  auto h = download(d, n);
  cudaFree(d);
  return h;
}

std::vector<int> static_shared(unsigned blocks) {
  int* d = nullptr;
  cudaMalloc(&d, sizeof(int) * 64 * blocks);
  static_shared_kernel<<<blocks, 64>>>(d);
  auto h = download(d, 64 * blocks);
  cudaFree(d);
  return h;
}

void divergent_barrier() {
  int* d = nullptr;
  cudaMalloc(&d, sizeof(int) * 64);
  divergent_barrier_kernel<<<1, 64>>>(d);
  cudaFree(d);
}

void deadlock() {
  unsigned* d = nullptr;
  cudaMalloc(&d, sizeof(unsigned) * 32);
  deadlock_kernel<<<1, 32>>>(d);
  cudaFree(d);
}

void ballot_after_exit() {
  unsigned* d = nullptr;
  cudaMalloc(&d, sizeof(unsigned) * 32);
  ballot_after_exit_kernel<<<1, 32>>>(d);
  cudaFree(d);
}

std::vector<int> unwritten_shared(unsigned threads) {
  int* d = nullptr;
  cudaMalloc(&d, sizeof(int) * threads);
  shared_reader_kernel<<<1, threads, threads * sizeof(int)>>>(d);
  auto h = download(d, threads);
  cudaFree(d);
  return h;
}

std::vector<unsigned char> fresh_device_bytes(size_t n) {
  unsigned char* d = nullptr;
  cudaMalloc(&d, n);
  auto h = download(d, n);
  cudaFree(d);
  return h;
}

int launch_error(unsigned blocks_y, unsigned threads, size_t smem, int smem_attribute) {
  (void)cudaGetLastError();
  if (smem_attribute >= 0) cudaFuncSetAttribute(shared_reader_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem_attribute);
  int* d = nullptr;
  cudaMalloc(&d, sizeof(int) * 1024);
  if (smem > 0) {
    shared_reader_kernel<<<dim3(1, blocks_y), threads, smem>>>(d);
  } else {
    empty_kernel<<<dim3(1, blocks_y), threads>>>();
  }
  const int e = cudaGetLastError();
  cudaFree(d);
  return e;
}

std::vector<int> filled_on_stream(unsigned flags, bool synchronize) {
  cudaStream_t s = nullptr;
  cudaStreamCreateWithFlags(&s, flags);
  int* d = nullptr;
  cudaMalloc(&d, sizeof(int) * 64);
  fill_kernel<<<2, 32, 0, s>>>(d, 7);
  if (synchronize) cudaStreamSynchronize(s);
  auto h = download(d, 64);  // cudaMemcpy: the legacy default stream
  cudaStreamDestroy(s);
  cudaFree(d);
  return h;
}

std::pair<std::vector<int>, std::vector<int>> async_copies(unsigned n) {
  cudaStream_t s = nullptr;
  cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
  int *d = nullptr, *e = nullptr;
  cudaMalloc(&d, sizeof(int) * n);
  cudaMalloc(&e, sizeof(int) * n);
  fill_kernel<<<1, n, 0, s>>>(d, 7);
  std::vector<int> h(n, -1);
  cudaMemcpyAsync(h.data(), d, sizeof(int) * n, cudaMemcpyDeviceToHost, s);
  std::pair<std::vector<int>, std::vector<int>> seen{h, {}};  // pageable: done when the call returns
  std::vector<int> up(n, 3);
  cudaMemcpyAsync(e, up.data(), sizeof(int) * n, cudaMemcpyHostToDevice, s);
  std::fill(up.begin(), up.end(), 4);  // after the call: the copy has staged the 3s
  cudaStreamSynchronize(s);
  seen.second = download(e, n);
  cudaStreamDestroy(s);
  cudaFree(d);
  cudaFree(e);
  return seen;
}

int bounded(unsigned threads) {
  int* d = nullptr;
  cudaMalloc(&d, sizeof(int) * threads);
  bounded_kernel<<<1, threads>>>(d);
  const auto h = download(d, threads);
  cudaFree(d);
  int sum = 0;
  for (int v : h) sum += v;
  return sum;
}

void launch_with_host_pointer() {
  std::vector<int> host(64);
  fill_kernel<<<2, 32>>>(host.data(), 7);
}

void ballot_mask_excludes_caller() {
  unsigned* d = nullptr;
  cudaMalloc(&d, sizeof(unsigned) * 32);
  ballot_mask_excludes_caller_kernel<<<1, 32>>>(d);
  cudaFree(d);
}

long long launches_on_device(int device) { return ::pbit::emu::launches_on_device(device); }

int current_device() {
  int d = -1;
  cudaGetDevice(&d);
  return d;
}

int set_device(int device) { return static_cast<int>(cudaSetDevice(device)); }

}  // namespace pbit::test::emu_kernels
