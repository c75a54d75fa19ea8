// pbit's CUDA emulator: the part of the CUDA runtime and of the device language that pbit's .cu
// sources use, on the host, so that those very sources (kernels and engine) run in tests on a
// machine without a GPU. Tests only: one fiber per GPU thread, slow.
//
// How (docs/TESTING.md, "The CUDA emulator"): CMake (cmake/cuda_emulator.cmake) copies each .cu to
// a .cpp with its launches `k<<<grid, block, smem, stream>>>(args)` rewritten as
// `::pbit::emu::launch("k", k, grid, block, smem, stream)(args)` and `extern __shared__ T S[];` as a
// pointer to the block's dynamic shared memory (`__shared__ T x[N];` to its block's own array), and
// compiles it as C++ with this header in place of
// the real one and __CUDA_ARCH__ defined, so the device branches of the shared headers run too.
// A launch checks its configuration as the GPU does (block size, grid limits, dynamic shared memory
// against the kernel's attribute) and that its pointer arguments point at device memory, then runs the blocks one after another; a block's threads are
// fibers that switch only at __syncthreads and __ballot_sync, where the emulator checks that every
// thread of the block (of the warp) arrives: divergence or a deadlock stops the process with a
// message naming the kernel. Device memory is host memory of the exact size, poisoned when
// allocated, as is each block's shared memory (dynamic and static), so a kernel that reads what
// nobody wrote gives wrong results. Warps take turns in the order PBIT_CUDA_EMU_SCHEDULE names.
// Work on a stream of one's own (launches, cudaMemsetAsync, copies to device memory) waits in its
// queue until something orders it: cudaStreamSynchronize of that stream, cudaDeviceSynchronize,
// cudaFree, cudaStreamDestroy, a copy into host memory on that stream (synchronous for pageable
// memory, as CUDA documents), or (for a blocking stream only) work on the legacy default stream; a
// host that reads results without those sees the old bytes, as it may on a GPU.
// PBIT_CUDA_EMU_STREAMS=immediate runs everything at once instead.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

#define __global__
#define __device__
#define __host__
// always_inline: a function whose body differs under __CUDA_ARCH__ (packed_sweep.hpp) must not leave
// an out-of-line copy that the linker could merge with the host build's one.
#define __forceinline__ inline __attribute__((always_inline))
// __launch_bounds__(max_threads, ...): cmake/cuda_emulator.cmake turns it into a call of
// pbit::emu::launch_bounds at the top of the kernel, which stops a launch of more threads.
#define __align__(n) alignas(n)
// Shared memory: cmake/cuda_emulator.cmake rewrites every declaration (dynamic_shared, block_shared
// below); a __shared__ left over does not compile.

enum cudaError {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInitializationError = 3,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInsufficientDriver = 35,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorLaunchOutOfResources = 701,
  cudaErrorLaunchFailure = 719,
};
typedef enum cudaError cudaError_t;

struct CUstream_st;
typedef CUstream_st* cudaStream_t;
#define cudaStreamNonBlocking 0x01

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};
enum cudaDeviceAttr {
  cudaDevAttrMaxThreadsPerBlock = 1,
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
};
enum cudaFuncAttribute {
  cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
};

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;
  int regsPerBlock;
  int warpSize;
  int maxThreadsPerBlock;
  int maxThreadsDim[3];
  int maxGridSize[3];
  int major;
  int minor;
  int multiProcessorCount;
  int maxThreadsPerMultiProcessor;
  size_t sharedMemPerMultiprocessor;
  size_t sharedMemPerBlockOptin;
  int maxBlocksPerMultiProcessor;
};

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};
struct uint3 {
  unsigned x, y, z;
};
struct alignas(8) uint2 {
  unsigned x, y;
};
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};
inline uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }

// ---- the runtime
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaDeviceReset();
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device);
cudaError_t cudaDeviceGetPCIBusId(char* id, int len, int device);
cudaError_t cudaDriverGetVersion(int* version);
cudaError_t cudaRuntimeGetVersion(int* version);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorName(cudaError_t e);
const char* cudaGetErrorString(cudaError_t e);
cudaError_t cudaMalloc(void** p, size_t bytes);
cudaError_t cudaFree(void* p);
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* p, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t stream = nullptr);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);

namespace pbit::emu {
cudaError_t func_set_attribute(const void* func, cudaFuncAttribute attr, int value);
cudaError_t occupancy(int* blocks, const void* func, int block_size, size_t dynamic_smem);
/// Kernels launched so far while `device` was the launching thread's current one (for tests: which
/// device a code path runs on). The emulator has PBIT_CUDA_EMU_DEVICES devices (1 to 8, default 1),
/// which share one memory.
long long launches_on_device(int device);
}  // namespace pbit::emu

template <class T>
cudaError_t cudaMalloc(T** p, size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(p), bytes);
}
template <class T>
cudaError_t cudaFuncSetAttribute(T* func, cudaFuncAttribute attr, int value) {
  return ::pbit::emu::func_set_attribute(reinterpret_cast<const void*>(func), attr, value);
}
template <class T>
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* blocks, T* func, int block_size, size_t dynamic_smem) {
  return ::pbit::emu::occupancy(blocks, reinterpret_cast<const void*>(func), block_size, dynamic_smem);
}

// ---- the device side
namespace pbit::emu {
const uint3& thread_idx();
const uint3& block_idx();
const dim3& block_dim();
const dim3& grid_dim();
void sync_threads();
unsigned ballot(unsigned mask, bool pred);
void* dynamic_shared();
/// The running block's copy of the static __shared__ array `name` of `bytes` bytes (fresh and poisoned
/// for each block, shared by its threads).
void* block_shared(const char* name, size_t bytes);
/// Called by every thread of a kernel declared __launch_bounds__(max_threads, ...): a block of more
/// threads stops the process (a GPU refuses the launch).
void launch_bounds(unsigned max_threads, unsigned min_blocks = 0, unsigned max_blocks_per_cluster = 0);
/// Stops the process unless `p` is null or points into (or just past) a live cudaMalloc allocation:
/// kernel `kernel`'s pointer argument number `index` (from 0). Pointers inside struct arguments are
/// not seen.
void check_device_pointer(const char* kernel, int index, const void* p);
template <class T>
void check_argument(const char* kernel, int index, const T& value) {
  if constexpr (std::is_pointer_v<T>) check_device_pointer(kernel, index, static_cast<const void*>(value));
}

/// Checks the configuration (a bad one sets the last error, as a failed launch does), then queues
/// `body` on `stream`, to run as every thread of `grid` x `block` when the stream's turn comes.
void launch_grid(const char* name, const void* func, dim3 grid, dim3 block, size_t dynamic_smem, cudaStream_t stream,
                 std::function<void()> body);

template <class... P>
struct Launch {
  const char* name;
  void (*func)(P...);
  dim3 grid, block;
  size_t smem;
  cudaStream_t stream;
  /// The arguments are converted to the kernel's parameter types at the launch (the launch keeps
  /// them until it runs), and every thread gets its own copy of them (a kernel may assign to its
  /// parameters), as on the GPU.
  template <class... A>
  void operator()(A&&... args) const {
    auto params = std::make_shared<const std::tuple<P...>>(std::forward<A>(args)...);
    std::apply([this](const auto&... p) {
      int index = 0;
      (check_argument(name, index++, p), ...);
    }, *params);
    launch_grid(name, reinterpret_cast<const void*>(func), grid, block, smem, stream,
                [params, f = func] { std::apply(f, *params); });
  }
};
template <class... P>
Launch<P...> launch(const char* name, void (*func)(P...), dim3 grid, dim3 block, size_t smem = 0, cudaStream_t stream = nullptr) {
  return Launch<P...>{name, func, grid, block, smem, stream};
}
}  // namespace pbit::emu

#define threadIdx (::pbit::emu::thread_idx())
#define blockIdx (::pbit::emu::block_idx())
#define blockDim (::pbit::emu::block_dim())
#define gridDim (::pbit::emu::grid_dim())

inline void __syncthreads() { ::pbit::emu::sync_threads(); }
inline unsigned __ballot_sync(unsigned mask, int pred) { return ::pbit::emu::ballot(mask, pred != 0); }
template <class T>
inline T __ldg(const T* p) {
  return *p;
}
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline unsigned __umulhi(unsigned a, unsigned b) {
  return static_cast<unsigned>((static_cast<unsigned long long>(a) * b) >> 32);
}
// Built with -ffp-contract=off: each is one correctly rounded operation, as its _rn name says.
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
