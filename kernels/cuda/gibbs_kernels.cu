// CUDA backend, first version: correct, deterministic, and laid out so that faster kernels can replace
// the sweep kernel without touching the interface.
//
// Layout: state is int8 node-major, s[node * B + chain], so a warp reading one neighbour of 32 chains
// makes one coalesced 32-byte access. One thread updates one chain for one group of four nodes of a
// color class (one Philox call, rng.hpp). Observers are integer sums reduced per node / edge in a fixed
// order, so results are bit-identical to the host backends. States, fields and statistics stay on the
// device; only results are copied back.
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cuda_check.cuh"
#include "cuda_plan.hpp"
#include "device_guard.cuh"
#include "gibbs_kernels.hpp"
#include "packed_sweep.hpp"
#include "pbit/core/detail/gibbs_math.hpp"
#include "pbit/error.hpp"

namespace pbit::detail {
namespace {

/// Owning device array; allocation failures become OutOfMemory naming what was being allocated.
/// Copies and fills run on the owning engine's stream and wait for it, so they are ordered with the
/// kernels on that stream (the engine uses a non-blocking stream, which the legacy default stream
/// would not synchronise with).
template <class T>
class DeviceArray {
 public:
  explicit DeviceArray(cudaStream_t stream = nullptr) : stream_(stream) {}
  void set_stream(cudaStream_t s) { stream_ = s; }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  ~DeviceArray() {
    if (!p_) return;
    const DeviceGuard on_device(device_, /*nothrow=*/true);  // any thread may free it (an exported state)
    PBIT_CUDA_CHECK_NOTHROW(cudaFree(p_));
  }
  void resize(size_t n, const char* what) {
    if (n == n_) return;
    if (p_) PBIT_CUDA_CHECK(cudaFree(p_));
    p_ = nullptr;
    n_ = 0;
    if (n == 0) return;
    PBIT_CUDA_CHECK(cudaGetDevice(&device_));  // the engine's (its calls make it current)
    const cudaError_t e = cudaMalloc(&p_, n * sizeof(T));
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      (void)cudaMemGetInfo(&free_b, &total_b);
      p_ = nullptr;
      const std::string msg = std::to_string(n * sizeof(T)) + " bytes for " + what + " (device has " +
                              std::to_string(free_b) + " of " + std::to_string(total_b) + " bytes free): " +
                              cudaGetErrorString(e);
      if (e == cudaErrorMemoryAllocation) throw OutOfMemory("CUDA backend: " + msg);
      throw CudaError(msg);
    }
    n_ = n;
  }
  void upload(const std::vector<T>& h, const char* what) { upload(h.data(), h.size(), what); }
  void upload(const T* h, size_t n, const char* what) {
    resize(n, what);
    if (n) {
      PBIT_CUDA_CHECK(cudaMemcpyAsync(p_, h, n * sizeof(T), cudaMemcpyHostToDevice, stream_));
      PBIT_CUDA_CHECK(cudaStreamSynchronize(stream_));  // h may be freed by the caller right after
    }
  }
  void zero() {
    if (n_) PBIT_CUDA_CHECK(cudaMemsetAsync(p_, 0, n_ * sizeof(T), stream_));
  }
  std::vector<T> download() const {
    std::vector<T> h(n_);
    download_to(h.data(), n_);
    return h;
  }
  void download_to(T* h, size_t n, size_t offset = 0) const {
    if (n) {
      PBIT_CUDA_CHECK(cudaMemcpyAsync(h, p_ + offset, n * sizeof(T), cudaMemcpyDeviceToHost, stream_));
      PBIT_CUDA_CHECK(cudaStreamSynchronize(stream_));
    }
  }
  T* get() { return p_; }
  const T* get() const { return p_; }
  size_t size() const { return n_; }
  /// Exchanges the buffers (same stream).
  void swap(DeviceArray& o) {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    std::swap(device_, o.device_);
  }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
  int device_ = 0;
  cudaStream_t stream_ = nullptr;
};

struct SweepArgs {
  int8_t* s;
  const int64_t* row_ptr;
  const int32_t* col;
  const float* w;
  const float* h;
  const int32_t* color_nodes;  ///< nodes of this color, ascending
  int32_t color_len;
  uint32_t color;
  const uint8_t* clamped;
  const int32_t* field_col;
  const float* field;  ///< [M][B]
  int32_t chains;
  rng::Key key;
  RngContract contract;
  uint32_t chain_offset;  ///< SamplerOptions::first_chain: added to the chain ids the RNG sees
  ActivationArgs act;  ///< imperfect hardware's input stage (gain == nullptr: none)
  LfsrArgs lfsr;       ///< per-p-bit LFSR uniforms (cols == nullptr: Philox); cols point at this sweep's
  const float* chain_scale;  ///< per-chain beta factors (nullptr: none)
};

__global__ void sweep_color_kernel(SweepArgs a, uint32_t sweep, float two_beta) {
  const int32_t chain = blockIdx.x * blockDim.x + threadIdx.x;
  if (chain >= a.chains) return;
  if (a.chain_scale) two_beta = fmul(two_beta, a.chain_scale[chain]);
  const int32_t groups = (a.color_len + 3) / 4;
  for (int32_t g = blockIdx.y; g < groups; g += gridDim.y) {
    const rng::Block blk = gibbs_block(a.contract, a.key, static_cast<uint32_t>(chain) + a.chain_offset, a.color, 4u * g, sweep);
    for (int q = 0; q < 4; ++q) {
      const int32_t r = 4 * g + q;
      if (r >= a.color_len) break;
      const int32_t i = a.color_nodes[r];
      if (a.clamped[i]) continue;
      float f = 0.0f;
      const int64_t end = a.row_ptr[i + 1];
      for (int64_t k = a.row_ptr[i]; k < end; ++k) {
        const float sj = static_cast<float>(a.s[static_cast<size_t>(a.col[k]) * a.chains + chain]);
        f = fadd(f, fmul(__ldg(a.w + k), sj));
      }
      f = fadd(f, a.h[i]);
      const int32_t fc = a.field_col[i];
      if (fc >= 0) f = fadd(f, a.field[static_cast<size_t>(fc) * a.chains + chain]);
      if (a.act.gain) f = device_input(a.act, i, f);
      const bool up = a.lfsr.cols ? gibbs_up(lfsr_word(a.lfsr, 0, static_cast<uint32_t>(chain) + a.chain_offset, static_cast<uint32_t>(i)),
                                             boltzmann_ratio(two_beta, f))
                                  : gibbs_up(a.contract, blk, static_cast<uint32_t>(r), two_beta, f);
      a.s[static_cast<size_t>(i) * a.chains + chain] = up ? int8_t{1} : int8_t{-1};
    }
  }
}

// ---------------------------------------------------------------- fast path (issue 7)
// docs/FAST_KERNEL.md, step 1 and v2: a block owns 32 K chains, held as K bit words per node in shared
// memory; its warps split each color, all lanes of a warp walk the same nodes (warp-uniform CSR
// loads), each lane sums its own chain's field in CSR order with the contract's arithmetic, and
// __ballot_sync packs the 32 new spins. The sweeps of a stretch run in launches of at most 2^32 updates
// or one sweep each (kDefaultLaunchFlips: under a display watchdog's limit); colors are
// separated by __syncthreads() (no other block touches the words). The loop itself is
// kernels/packed_sweep.hpp, shared with the host `packed` backend, which runs it through every exact
// and bit-identity test without a GPU. The plan (kernels/cuda_plan.cpp) chooses it by occupancy
// when the chains fill the device's SMs; SamplerOptions::cuda_kernel or PBIT_CUDA_KERNEL force either.

/// int8 node-major [N][B] -> bit words [N][W], W = ceil(B / 32); bit l of word w is chain 32 w + l.
__global__ void pack_kernel(const int8_t* s, int32_t n, int32_t chains, int32_t words, uint32_t* bits) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= static_cast<int64_t>(n) * words) return;
  const int32_t i = static_cast<int32_t>(idx / words), w = static_cast<int32_t>(idx % words);
  uint32_t m = 0;
  for (int32_t l = 0; l < 32; ++l) {
    const int32_t c = 32 * w + l;
    if (c < chains && s[static_cast<size_t>(i) * chains + c] > 0) m |= 1u << l;
  }
  bits[idx] = m;
}

__global__ void unpack_kernel(const uint32_t* bits, int32_t n, int32_t chains, int32_t words, int8_t* s) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= static_cast<int64_t>(n) * chains) return;
  const int32_t i = static_cast<int32_t>(idx / chains), c = static_cast<int32_t>(idx % chains);
  s[idx] = ((bits[static_cast<size_t>(i) * words + c / 32] >> (c % 32)) & 1u) ? int8_t{1} : int8_t{-1};
}

/// A block as packed_stretch's lane policy: its warps are the team that shares K 32-chain words,
/// one lane per thread, each lane with its own K Philox blocks (kept for the next group when it
/// shares them: PackedDrawCache).
template <int K>
struct BlockLanes {
  uint32_t lane;
  rng::Block blk[K];
  PackedDrawCache cache;
  template <class F>
  __device__ void team(F&& f) {
    f(static_cast<int32_t>(threadIdx.x / 32), static_cast<int32_t>(blockDim.x / 32));
  }
  __device__ void forget() { cache.valid = false; }
  __device__ void draw(RngContract contract, rng::Key key, uint32_t chain0, uint32_t color, uint32_t rank, uint32_t sweep) {
    if (!cache.need(contract, color, rank, sweep)) return;  // warp-uniform
#pragma unroll
    for (int k = 0; k < K; ++k) {
      blk[k] = gibbs_block(contract, key, chain0 + static_cast<uint32_t>(kPackedLanes * k) + lane, color, rank, sweep);
    }
  }
  template <class F>
  __device__ void vote(uint32_t (&m)[K][kPackedGroup], F&& f) {
    const uint32_t bits = f(lane, blk);
#pragma unroll
    for (int k = 0; k < K; ++k)
#pragma unroll
      for (int q = 0; q < kPackedGroup; ++q) m[k][q] = __ballot_sync(0xffffffffu, (bits >> (kPackedGroup * k + q)) & 1u);
  }
  /// The K new words of the group's slot q, one store (p is 4 K-byte aligned).
  __device__ void store(uint32_t* p, const uint32_t (&m)[K][kPackedGroup], int q) {
    if (lane != 0) return;
    if constexpr (K == 4) {
      *reinterpret_cast<uint4*>(p) = make_uint4(m[0][q], m[1][q], m[2][q], m[3][q]);
    } else if constexpr (K == 2) {
      *reinterpret_cast<uint2*>(p) = make_uint2(m[0][q], m[1][q]);
    } else {
      *p = m[0][q];
    }
  }
  __device__ void sync() { __syncthreads(); }
};

/// One block per K 32-chain words: the K words of every node move to shared memory ([node][K],
/// 4 K N bytes), the sweeps of the launch run there with the block's warps splitting each color
/// (packed_sweep.hpp), and the words move back. `a.words` is a multiple of K (padding words are 0).
template <int K, RngContract C>
__global__ void __launch_bounds__(512) fast_sweeps_kernel(PackedArgs a, uint32_t* bits) {
  extern __shared__ __align__(16) uint32_t S[];
  const int32_t word0 = static_cast<int32_t>(blockIdx.x) * K;
  for (int32_t x = threadIdx.x; x < a.n * K; x += blockDim.x) {
    S[x] = bits[static_cast<size_t>(x / K) * a.words + word0 + x % K];
  }
  __syncthreads();
  BlockLanes<K> lanes{threadIdx.x % 32u};
  packed_stretch<K, C>(a, S, word0, lanes);
  for (int32_t x = threadIdx.x; x < a.n * K; x += blockDim.x) {
    bits[static_cast<size_t>(x / K) * a.words + word0 + x % K] = S[x];
  }
}

/// The fast kernel for K words per lane and contract c, as a function pointer (launches, occupancy
/// queries, attributes).
using FastKernelFn = void (*)(PackedArgs, uint32_t*);
FastKernelFn fast_kernel_for(int K, RngContract c) {
  if (c == RngContract::fast) {
    return K == 4 ? fast_sweeps_kernel<4, RngContract::fast>
                  : K == 2 ? fast_sweeps_kernel<2, RngContract::fast> : fast_sweeps_kernel<1, RngContract::fast>;
  }
  return K == 4 ? fast_sweeps_kernel<4, RngContract::exact>
                : K == 2 ? fast_sweeps_kernel<2, RngContract::exact> : fast_sweeps_kernel<1, RngContract::exact>;
}

__global__ void init_kernel(int8_t* s, int32_t n, int32_t chains, uint32_t chain_offset, rng::Key key, uint32_t sweep, uint32_t rng_stream) {
  const int32_t chain = blockIdx.x * blockDim.x + threadIdx.x;
  if (chain >= chains) return;
  for (int32_t q = blockIdx.y; 4 * q < n; q += gridDim.y) {
    const rng::Block blk = rng::philox4x32_10(rng::init_counter(static_cast<uint32_t>(chain) + chain_offset, 4u * q, sweep, rng_stream), key);
    for (int32_t t = 0; t < 4 && 4 * q + t < n; ++t) {
      const int32_t i = 4 * q + t;
      s[static_cast<size_t>(i) * chains + chain] = static_cast<int8_t>(rng::init_spin(blk, i));
    }
  }
}

__global__ void clamp_kernel(int8_t* s, const int32_t* nodes, const int8_t* values /*[B][K]*/, int32_t k,
                             int32_t chains) {
  const int32_t chain = blockIdx.x * blockDim.x + threadIdx.x;
  if (chain >= chains) return;
  for (int32_t q = 0; q < k; ++q) s[static_cast<size_t>(nodes[q]) * chains + chain] = values[static_cast<size_t>(chain) * k + q];
}

/// Block-wide sum of int64 in a fixed order (tree over threads), so it does not depend on timing.
template <int BLOCK>
__device__ int64_t block_sum(int64_t v) {
  __shared__ int64_t buf[BLOCK];
  buf[threadIdx.x] = v;
  __syncthreads();
  for (int off = BLOCK / 2; off > 0; off >>= 1) {
    if (threadIdx.x < off) buf[threadIdx.x] += buf[threadIdx.x + off];
    __syncthreads();
  }
  const int64_t r = buf[0];
  __syncthreads();
  return r;
}

constexpr int kReduceBlock = 256;

/// One block per node (or edge): sum over chains of s_i (or s_i s_j). Integer sums are exact.
__global__ void node_sum_kernel(const int8_t* s, int32_t n, int32_t chains, int64_t* out) {
  for (int32_t i = blockIdx.x; i < n; i += gridDim.x) {
    int64_t a = 0;
    for (int32_t b = threadIdx.x; b < chains; b += blockDim.x) a += s[static_cast<size_t>(i) * chains + b];
    const int64_t t = block_sum<kReduceBlock>(a);
    if (threadIdx.x == 0) out[i] += t;
  }
}

__global__ void edge_sum_kernel(const int8_t* s, const int32_t* ei, const int32_t* ej, int64_t ne, int32_t chains,
                                int64_t* out) {
  for (int64_t e = blockIdx.x; e < ne; e += gridDim.x) {
    const int8_t* si = s + static_cast<size_t>(ei[e]) * chains;
    const int8_t* sj = s + static_cast<size_t>(ej[e]) * chains;
    int64_t a = 0;
    for (int32_t b = threadIdx.x; b < chains; b += blockDim.x) a += si[b] * sj[b];
    const int64_t t = block_sum<kReduceBlock>(a);
    if (threadIdx.x == 0) out[e] += t;
  }
}

/// Chain `chain`'s energy in the order of Graph::energy (edges, then biases), in double, without FMA
/// contraction: the host's sums bit for bit.
__device__ double model_energy(const int8_t* s, const int32_t* ei, const int32_t* ej, const float* ew, int64_t ne, const float* h,
                               int32_t n, int32_t chains, int32_t chain) {
  double acc = 0.0;
  for (int64_t e = 0; e < ne; ++e) {
    const int prod = s[static_cast<size_t>(ei[e]) * chains + chain] * s[static_cast<size_t>(ej[e]) * chains + chain];
    acc = __dadd_rn(acc, __dmul_rn(static_cast<double>(ew[e]), static_cast<double>(prod)));
  }
  for (int32_t i = 0; i < n; ++i) {
    acc = __dadd_rn(acc, __dmul_rn(static_cast<double>(h[i]), static_cast<double>(s[static_cast<size_t>(i) * chains + chain])));
  }
  return -acc;
}

/// One thread per chain: the energy observer.
__global__ void energy_kernel(const int8_t* s, const int32_t* ei, const int32_t* ej, const float* ew, int64_t ne,
                              const float* h, int32_t n, int32_t chains, double* out) {
  const int32_t chain = blockIdx.x * blockDim.x + threadIdx.x;
  if (chain >= chains) return;
  out[chain] = model_energy(s, ei, ej, ew, ne, h, n, chains, chain);
}

/// Parallel tempering's swap energies: the model energy, then minus each chain's field term in the
/// field's node order (Sampler::chain_energies' host path, operation for operation).
__global__ void chain_energy_kernel(const int8_t* s, const int32_t* ei, const int32_t* ej, const float* ew, int64_t ne,
                                    const float* h, int32_t n, const int32_t* field_nodes, const float* field /*[M][B]*/, int32_t m,
                                    int32_t chains, double* out) {
  const int32_t chain = blockIdx.x * blockDim.x + threadIdx.x;
  if (chain >= chains) return;
  double v = model_energy(s, ei, ej, ew, ne, h, n, chains, chain);
  for (int32_t q = 0; q < m; ++q) {
    const double f = static_cast<double>(field[static_cast<size_t>(q) * chains + chain]);
    v = __dsub_rn(v, __dmul_rn(f, static_cast<double>(s[static_cast<size_t>(field_nodes[q]) * chains + chain])));
  }
  out[chain] = v;
}

/// out[i][c] = in[i][src[c]] (node-major states): chain c takes chain src[c]'s state.
__global__ void permute_chains_kernel(const int8_t* in, int32_t n, int32_t chains, const int32_t* src, int8_t* out) {
  const int64_t total = static_cast<int64_t>(n) * chains;
  for (int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; k < total; k += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = k / chains;
    const int32_t c = static_cast<int32_t>(k - i * chains);
    out[k] = in[i * chains + src[c]];
  }
}

__global__ void readout_kernel(const int8_t* s, const int64_t* offsets, const int32_t* nodes, int32_t groups,
                               int32_t chains, int64_t* out /*[B][G]*/) {
  const int32_t chain = blockIdx.x * blockDim.x + threadIdx.x;
  if (chain >= chains) return;
  for (int32_t g = 0; g < groups; ++g) {
    int64_t a = 0;
    for (int64_t q = offsets[g]; q < offsets[g + 1]; ++q) a += s[static_cast<size_t>(nodes[q]) * chains + chain];
    out[static_cast<size_t>(chain) * groups + g] += a;
  }
}

// ---- Observers on the bit words [node][words] (the fast kernel's state between stretches), so an
// observation needs no unpack. Same sums, same order, so the results equal the int8 kernels' bit for bit.

__global__ void node_sum_bits_kernel(const uint32_t* bits, int32_t n, int32_t words, int32_t chains, int64_t* out) {
  for (int32_t i = blockIdx.x; i < n; i += gridDim.x) {
    int64_t a = 0;
    for (int32_t w = threadIdx.x; w < words; w += blockDim.x) {
      a += packed_word_sum(bits[static_cast<size_t>(i) * words + w], packed_valid_mask(w, chains));
    }
    const int64_t t = block_sum<kReduceBlock>(a);
    if (threadIdx.x == 0) out[i] += t;
  }
}

__global__ void edge_sum_bits_kernel(const uint32_t* bits, const int32_t* ei, const int32_t* ej, int64_t ne, int32_t words,
                                     int32_t chains, int64_t* out) {
  for (int64_t e = blockIdx.x; e < ne; e += gridDim.x) {
    const uint32_t* x = bits + static_cast<size_t>(ei[e]) * words;
    const uint32_t* y = bits + static_cast<size_t>(ej[e]) * words;
    int64_t a = 0;
    for (int32_t w = threadIdx.x; w < words; w += blockDim.x) a += packed_word_corr(x[w], y[w], packed_valid_mask(w, chains));
    const int64_t t = block_sum<kReduceBlock>(a);
    if (threadIdx.x == 0) out[e] += t;
  }
}

__global__ void energy_bits_kernel(const uint32_t* bits, int32_t words, const int32_t* ei, const int32_t* ej, const float* ew,
                                   int64_t ne, const float* h, int32_t n, int32_t chains, double* out) {
  const int32_t chain = blockIdx.x * blockDim.x + threadIdx.x;
  if (chain >= chains) return;
  double acc = 0.0;
  for (int64_t e = 0; e < ne; ++e) {
    const int prod = packed_spin(bits, words, ei[e], chain) * packed_spin(bits, words, ej[e], chain);
    acc = __dadd_rn(acc, __dmul_rn(static_cast<double>(ew[e]), static_cast<double>(prod)));
  }
  for (int32_t i = 0; i < n; ++i) {
    acc = __dadd_rn(acc, __dmul_rn(static_cast<double>(h[i]), static_cast<double>(packed_spin(bits, words, i, chain))));
  }
  out[chain] = -acc;
}

__global__ void readout_bits_kernel(const uint32_t* bits, int32_t words, const int64_t* offsets, const int32_t* nodes,
                                    int32_t groups, int32_t chains, int64_t* out /*[B][G]*/) {
  const int32_t chain = blockIdx.x * blockDim.x + threadIdx.x;
  if (chain >= chains) return;
  for (int32_t g = 0; g < groups; ++g) {
    int64_t a = 0;
    for (int64_t q = offsets[g]; q < offsets[g + 1]; ++q) a += packed_spin(bits, words, nodes[q], chain);
    out[static_cast<size_t>(chain) * groups + g] += a;
  }
}

/// Chains first, first + stride, ... (count of them) -> chain-major int8 [count][N], read straight
/// from the bit words [N][words] when `bits` is set, else from the node-major int8 state [N][B]
/// (get_state, get_rows and export_state, without a B x N staging copy).
__global__ void chain_rows_kernel(const uint32_t* bits, int32_t words, const int8_t* node_major, int32_t n, int32_t chains, int32_t first,
                                  int32_t stride, int32_t count, int8_t* out) {
  const size_t idx = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= static_cast<size_t>(n) * count) return;
  const int32_t k = static_cast<int32_t>(idx / n), i = static_cast<int32_t>(idx % n);
  const int32_t b = first + k * stride;
  out[idx] = bits ? static_cast<int8_t>(packed_spin(bits, words, i, b)) : node_major[static_cast<size_t>(i) * chains + b];
}

/// Node-major [N][B] -> chain-major [B][N].
__global__ void transpose_kernel(const int8_t* in, int32_t n, int32_t chains, int8_t* out) {
  const size_t idx = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= static_cast<size_t>(n) * chains) return;
  const size_t i = idx / chains, b = idx % chains;
  out[b * n + i] = in[idx];
}

std::atomic<int> g_live_streams{0};

/// The engine's stream, destroyed last (declared first), also when the constructor throws after
/// creating it.
class Stream {
 public:
  Stream() = default;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream() {
    if (s_) {
      const DeviceGuard on_device(device_, /*nothrow=*/true);
      PBIT_CUDA_CHECK_NOTHROW(cudaStreamDestroy(s_));
      g_live_streams.fetch_sub(1);
    }
  }
  void create() {
    PBIT_CUDA_CHECK(cudaGetDevice(&device_));
    PBIT_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking));
    g_live_streams.fetch_add(1);
  }
  operator cudaStream_t() const { return s_; }

 private:
  cudaStream_t s_ = nullptr;
  int device_ = 0;
};

/// The fast kernel's dynamic shared-memory limit is a property of the kernel in the current device's
/// context, shared by every engine of the process: it is always set to the device's opt-in maximum
/// (a per-engine value would let a later engine for a smaller graph lower it under a live one), and
/// by every engine rather than once per device: a cudaDeviceReset elsewhere in the process (another
/// library) drops it, and the next engine must raise it again.
void allow_fast_kernel_max_smem(int max_optin) {
  for (RngContract c : {RngContract::exact, RngContract::fast}) {
    for (int K : {1, 2, 4}) {
      PBIT_CUDA_CHECK(cudaFuncSetAttribute(fast_kernel_for(K, c), cudaFuncAttributeMaxDynamicSharedMemorySize, max_optin));
    }
  }
}

dim3 chain_grid(int32_t chains, int64_t ywork, int threads) {
  const unsigned gx = static_cast<unsigned>((chains + threads - 1) / threads);
  const unsigned gy = static_cast<unsigned>(std::min<int64_t>(std::max<int64_t>(ywork, 1), 65535));
  return dim3(gx, gy, 1);
}

class CudaEngine final : public GibbsEngine {
 public:
  CudaEngine(const Graph& g, const Coloring& c, int32_t chains, const SamplerOptions& opt)
      : n_(g.num_nodes()), chains_(chains), key_(rng::make_key(opt.seed, opt.stream)), contract_(opt.contract),
        chain_offset_(opt.first_chain) {
    // The options and environment are checked before anything is created on the device.
    const CudaKernel requested = requested_cuda_kernel(opt.cuda_kernel);
    const int team = requested_team_warps(opt.cuda_team_warps);
    const int wpl = requested_words_per_lane(opt.fast_words_per_lane);
    const int count = cuda_device_count();
    if (count == 0) {
      throw CudaError("no usable CUDA device: " + cuda_unavailable_reason() +
                      "; a host backend (backend cpu, or --backend cpu where the command has it) runs the same chains bit for bit");
    }
    const int device = resolve_cuda_device(opt.device, count);
    device_ = device;
    // The engine's device stays current on this thread, as after cudaSetDevice. (Restoring the caller's
    // would make device 0 current in a process that never chose one, and since CUDA 12 that creates a
    // context there: a rank per GPU would each put one on GPU 0.) Every later call makes device_
    // current for itself (DeviceGuard).
    PBIT_CUDA_CHECK(cudaSetDevice(device));
    stream_.create();
    for (auto* a : {&s_, &clamp_values_, &snaps_}) a->set_stream(stream_);
    for (auto* a : {&col_, &ei_, &ej_, &color_nodes_, &field_col_, &clamp_nodes_, &group_nodes_}) a->set_stream(stream_);
    for (auto* a : {&w_, &h_, &ew_, &field_, &act_gain_, &act_offset_}) a->set_stream(stream_);
    for (auto* a : {&row_ptr_, &node_sum_, &edge_sum_, &readout_, &group_off_}) a->set_stream(stream_);
    bits_.set_stream(stream_);
    lfsr_cols_.set_stream(stream_);
    chain_scale_.set_stream(stream_);
    edges_.set_stream(stream_);
    betas_.set_stream(stream_);
    groups_.set_stream(stream_);
    group_off_dev_.set_stream(stream_);
    clamped_.set_stream(stream_);
    energy_.set_stream(stream_);
    for (auto* a : {&field_nodes_, &perm_}) a->set_stream(stream_);
    swap_energy_.set_stream(stream_);
    scratch_.set_stream(stream_);
    // The kernel (docs/FAST_KERNEL.md): the fast one holds a word of every node (4 N bytes) in a
    // block's shared memory; its team size comes from the occupancy calculator.
    int max_optin = 0;
    CudaDeviceShape shape;
    PBIT_CUDA_CHECK(cudaDeviceGetAttribute(&max_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    PBIT_CUDA_CHECK(cudaDeviceGetAttribute(&shape.sms, cudaDevAttrMultiProcessorCount, device));
    shape.max_smem_optin = max_optin;
    const size_t smem = static_cast<size_t>(n_) * sizeof(uint32_t);
    shape.blocks_per_sm = [&](int warps, int K) {
      int blocks = 0;
      if (smem * K > static_cast<size_t>(max_optin)) return 0;
      PBIT_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, fast_kernel_for(K, contract_), 32 * warps, smem * K));
      return blocks;
    };
    if (requested != CudaKernel::simple && smem <= static_cast<size_t>(max_optin)) {
      allow_fast_kernel_max_smem(max_optin);  // before the occupancy query, which checks it
    }
    plan_ = plan_cuda_kernel(requested, team, n_, chains_, shape, wpl);
    fast_ = plan_.fast;
    if (fast_) launch_flips_ = requested_launch_flips();
    s_.resize(static_cast<size_t>(n_) * chains_, "chain states");
    row_ptr_.upload(g.row_ptr(), "CSR row pointers");
    col_.upload(g.col_idx(), "CSR column indices");
    ei_.upload(g.edge_i(), "edge endpoints");
    ej_.upload(g.edge_j(), "edge endpoints");
    load_weights(g);  // after choosing the kernel: the fast one also takes interleaved edges
    std::vector<int32_t> flat;
    for (const auto& cls : c.classes()) {
      class_off_.push_back(static_cast<int32_t>(flat.size()));
      flat.insert(flat.end(), cls.begin(), cls.end());
    }
    class_off_.push_back(static_cast<int32_t>(flat.size()));
    color_nodes_.upload(flat, "color classes");
    clamped_host_.assign(n_, 0);
    clamped_.upload(clamped_host_, "clamp mask");
    if (fast_) {
      color_nodes_host_ = std::move(flat);
      row_ptr_host_ = g.row_ptr();
      load_groups();
    }
    field_col_.upload(std::vector<int32_t>(n_, -1), "field map");
  }
  ~CudaEngine() override = default;

  std::string describe() const override {
    cudaDeviceProp p{};
    std::string dev = cudaGetDeviceProperties(&p, device_) == cudaSuccess ? std::string(p.name) : "device " + std::to_string(device_);
    (void)cudaGetLastError();
    if (!fast_) return "cuda simple kernel on " + dev + " (" + plan_.reason + ")";
    return "cuda fast kernel on " + dev + ", " + std::to_string(plan_.words_per_lane) + " words per lane, " +
           std::to_string(plan_.team_warps) + "-warp teams, " +
           std::to_string(plan_.blocks) + " blocks, " + std::to_string(plan_.blocks_per_sm) + " per SM (" + plan_.reason + ")";
  }

  void randomize_state(uint64_t seed, uint32_t rng_stream, uint32_t sweep) override {
    const DeviceGuard on_device(device_);
    init_kernel<<<chain_grid(chains_, (n_ + 3) / 4, 128), 128, 0, stream_>>>(s_.get(), n_, chains_, chain_offset_,
                                                                             rng::make_key(seed, rng::kInitState), sweep, rng_stream);
    PBIT_CUDA_LAUNCHED(init_kernel, stream_);
    sync();
    in_bits_ = false;
    bits_stale_ = true;
  }
  void set_state(std::span<const int8_t> x) override {
    const DeviceGuard on_device(device_);
    // Host transpose to node-major: explicit, one copy, only when the user asks for it.
    std::vector<int8_t> t(x.size());
    for (int32_t b = 0; b < chains_; ++b)
      for (int32_t i = 0; i < n_; ++i) t[static_cast<size_t>(i) * chains_ + b] = x[static_cast<size_t>(b) * n_ + i];
    s_.upload(t, "chain states");
    in_bits_ = false;
    bits_stale_ = true;
  }
  void get_state(std::span<int8_t> x) const override {
    const DeviceGuard on_device(device_);
    DeviceArray<int8_t> t(stream_);
    fill_rows(t, 0, 1, chains_);
    t.download_to(x.data(), x.size());
  }
  bool get_rows(std::span<int8_t> out, int32_t first, int32_t stride, int32_t count) const override {
    const DeviceGuard on_device(device_);
    DeviceArray<int8_t> rows(stream_);
    fill_rows(rows, first, stride, count);
    rows.download_to(out.data(), out.size());
    return true;
  }
  bool export_state(DeviceState& out) const override {
    const DeviceGuard on_device(device_);
    auto t = std::make_shared<DeviceArray<int8_t>>(stream_);
    fill_rows(*t, 0, 1, chains_);
    PBIT_CUDA_CHECK(cudaStreamSynchronize(stream_));  // ready for any consumer stream
    t->set_stream(nullptr);  // the buffer may outlive this engine and its stream
    out.data = t->get();
    out.device = device_;
    out.owner = std::shared_ptr<const void>(t, t->get());
    return true;
  }
  /// Chains first, first + stride, ... (count >= 1 of them) as chain-major int8 [count][N] into t
  /// (on the device), from whichever form holds the state.
  void fill_rows(DeviceArray<int8_t>& t, int32_t first, int32_t stride, int32_t count) const {
    const int64_t nb = static_cast<int64_t>(n_) * count;
    t.resize(static_cast<size_t>(nb), count == chains_ ? "chain-major state" : "chosen chains' states");
    chain_rows_kernel<<<static_cast<unsigned>((nb + 255) / 256), 256, 0, stream_>>>(in_bits_ ? bits_.get() : nullptr, pwords_, s_.get(), n_,
                                                                                    chains_, first, stride, count, t.get());
    PBIT_CUDA_LAUNCHED(chain_rows_kernel, stream_);
  }
  void set_clamp(std::span<const int32_t> nodes, std::span<const int8_t> values) override {
    const DeviceGuard on_device(device_);
    clamp_k_ = static_cast<int32_t>(nodes.size());
    std::fill(clamped_host_.begin(), clamped_host_.end(), 0);
    for (int32_t i : nodes) clamped_host_[i] = 1;
    clamped_.upload(clamped_host_, "clamp mask");
    if (fast_) load_groups();
    clamp_nodes_.upload(std::vector<int32_t>(nodes.begin(), nodes.end()), "clamped nodes");
    clamp_values_.upload(std::vector<int8_t>(values.begin(), values.end()), "clamp values");
    apply_clamp();
  }
  void apply_clamp() override {
    const DeviceGuard on_device(device_);
    if (clamp_k_ == 0) return;
    need_int8();
    bits_stale_ = true;
    clamp_kernel<<<(chains_ + 127) / 128, 128, 0, stream_>>>(s_.get(), clamp_nodes_.get(), clamp_values_.get(),
                                                             clamp_k_, chains_);
    PBIT_CUDA_LAUNCHED(clamp_kernel, stream_);
    sync();
  }
  void set_field(std::span<const int32_t> nodes, std::span<const float> values) override {
    const DeviceGuard on_device(device_);
    const int32_t m = static_cast<int32_t>(nodes.size());
    std::vector<int32_t> fc(n_, -1);
    for (int32_t q = 0; q < m; ++q) fc[nodes[q]] = q;
    field_col_.upload(fc, "field map");
    std::vector<float> t(values.size());  // [B][M] -> [M][B]
    for (int32_t b = 0; b < chains_; ++b)
      for (int32_t q = 0; q < m; ++q) t[static_cast<size_t>(q) * chains_ + b] = values[static_cast<size_t>(b) * m + q];
    field_.upload(t, "per-chain field");
    field_nodes_.upload(std::vector<int32_t>(nodes.begin(), nodes.end()), "field nodes");
  }
  bool chain_energies(std::span<double> out) override {
    const DeviceGuard on_device(device_);
    need_int8();
    swap_energy_.resize(static_cast<size_t>(chains_), "swap energies");
    const int32_t m = static_cast<int32_t>(field_nodes_.size());
    chain_energy_kernel<<<(chains_ + 127) / 128, 128, 0, stream_>>>(s_.get(), ei_.get(), ej_.get(), ew_.get(), static_cast<int64_t>(ei_.size()),
                                                                    h_.get(), n_, field_nodes_.get(), field_.get(), m, chains_,
                                                                    swap_energy_.get());
    PBIT_CUDA_LAUNCHED(chain_energy_kernel, stream_);
    swap_energy_.download_to(out.data(), out.size());
    return true;
  }
  void permute_chains(std::span<const int32_t> src, int32_t) override {
    const DeviceGuard on_device(device_);
    need_int8();
    perm_.upload(src.data(), src.size(), "chain permutation");
    scratch_.resize(s_.size(), "permuted states");
    const int64_t total = static_cast<int64_t>(n_) * chains_;
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((total + 255) / 256, 65535));
    permute_chains_kernel<<<std::max(blocks, 1u), 256, 0, stream_>>>(s_.get(), n_, chains_, perm_.get(), scratch_.get());
    PBIT_CUDA_LAUNCHED(permute_chains_kernel, stream_);
    sync();
    s_.swap(scratch_);
    in_bits_ = false;
    bits_stale_ = true;
  }
  void set_weights(const Graph& g) override {
    const DeviceGuard on_device(device_);
    load_weights(g);
  }
  void set_chain_beta_scale(std::span<const float> scale) override {
    const DeviceGuard on_device(device_);
    chain_scale_.upload(scale.data(), scale.size(), "per-chain beta factors");
  }
  void set_activation(const HostActivation& a) override {
    const DeviceGuard on_device(device_);
    if (a.active() && (a.gain.size() != static_cast<size_t>(n_) || a.offset.size() != static_cast<size_t>(n_))) {
      throw InvalidArgument("set_activation: expected a gain and an offset per node");
    }
    act_ = a;
    act_gain_.upload(a.gain, "p-bit gains");
    act_offset_.upload(a.offset, "p-bit offsets");
  }
  bool has_activation() const override { return true; }
  void set_lfsr(uint32_t steps, rng::Key key, uint32_t stream) override {
    const DeviceGuard on_device(device_);
    if (steps && fast_) throw InvalidArgument("the fast CUDA kernel has no per-p-bit LFSR (hardware.rng lfsr); use the simple kernel");
    lfsr_steps_ = steps;
    lfsr_key_ = key;
    lfsr_stream_ = stream;
  }
  /// The input stage's view on the device (inactive: gain nullptr).
  ActivationArgs act_args() const {
    ActivationArgs r;
    if (!act_.active()) return r;
    r.gain = act_gain_.get();
    r.offset = act_offset_.get();
    r.in_step = act_.in_step, r.in_levels = act_.in_levels, r.lut_range = act_.lut_range, r.lut_cells = act_.lut_cells;
    return r;
  }

  void sweeps(uint64_t first_sweep, std::span<const float> betas) override {
    const DeviceGuard on_device(device_);
    if (betas.empty()) return;
    if (fast_) {
      fast_sweeps(first_sweep, betas);
      return;
    }
    constexpr int kThreads = 128;
    if (lfsr_steps_) lfsr_cols_.upload(lfsr_sweep_matrices(first_sweep, betas.size(), lfsr_steps_), "LFSR sweep matrices");
    for (size_t k = 0; k < betas.size(); ++k) {
      const auto sweep = static_cast<uint32_t>(first_sweep + k);
      const float two_beta = 2.0f * betas[k];
      LfsrArgs lfsr;
      if (lfsr_steps_) lfsr.cols = lfsr_cols_.get() + 32 * k, lfsr.key = lfsr_key_, lfsr.stream = lfsr_stream_;
      for (size_t c = 0; c + 1 < class_off_.size(); ++c) {
        SweepArgs a{s_.get(),         row_ptr_.get(), col_.get(),       w_.get(),   h_.get(),
                    color_nodes_.get() + class_off_[c],  class_off_[c + 1] - class_off_[c],
                    static_cast<uint32_t>(c), clamped_.get(), field_col_.get(), field_.get(), chains_, key_, contract_,
                    chain_offset_, act_args(), lfsr, chain_scale_.size() ? chain_scale_.get() : nullptr};
        const dim3 grid = chain_grid(chains_, (a.color_len + 3) / 4, kThreads);
        sweep_color_kernel<<<grid, kThreads, 0, stream_>>>(a, sweep, two_beta);
        PBIT_CUDA_LAUNCHED(sweep_color_kernel, stream_);
      }
    }
    sync();
  }

  /// The fast path: pack to bit words (when the int8 state changed), then persistent launches of at
  /// most launch_flips_ updates (or one sweep) each; the words stay the state.
  void fast_sweeps(uint64_t first_sweep, std::span<const float> betas) {
    const int K = plan_.words_per_lane;
    const int32_t words = (packed_words(chains_) + K - 1) / K * K;  // padding words hold no chain
    const size_t smem_per_block = static_cast<size_t>(n_) * sizeof(uint32_t) * K;
    betas_.upload(betas.data(), betas.size(), "beta schedule");
    if (bits_stale_ || pwords_ != words) {  // the int8 state changed since the words were made
      bits_.resize(static_cast<size_t>(n_) * words, "bit-packed states");
      const int64_t nw = static_cast<int64_t>(n_) * words;
      pack_kernel<<<static_cast<unsigned>((nw + 255) / 256), 256, 0, stream_>>>(s_.get(), n_, chains_, words, bits_.get());
      PBIT_CUDA_LAUNCHED(pack_kernel, stream_);
      pwords_ = words;
      bits_stale_ = false;
    }
    PackedArgs a;
    a.n = n_;
    a.words = words;
    a.chains = chains_;
    a.edges = edges_.get();
    a.h = h_.get();
    a.groups = groups_.get();
    a.group_off = group_off_dev_.get();
    a.num_colors = static_cast<int32_t>(class_off_.size()) - 1;
    a.field_col = field_col_.get();
    a.field = field_.get();
    a.field_col_stride = chains_;  // [M][B] on the device
    a.field_chain_stride = 1;
    a.key = key_;
    a.contract = contract_;
    a.chain_offset = chain_offset_;
    a.act = act_args();
    a.chain_scale = chain_scale_.size() ? chain_scale_.get() : nullptr;
    const unsigned grid = static_cast<unsigned>(words / K);
    // Launches of at most launch_flips_ updates (kernels/cuda_plan.hpp), back to back on the stream,
    // so that no launch trips a display GPU's watchdog; the words carry the chains between them.
    const int64_t total = static_cast<int64_t>(betas.size());
    const int64_t per_launch = fast_sweeps_per_launch(n_, int64_t{32} * words, launch_flips_);
    for (int64_t done = 0; done < total; done += per_launch) {
      a.betas = betas_.get() + done;
      a.nsweeps = std::min(per_launch, total - done);
      a.first_sweep = static_cast<uint32_t>(first_sweep + static_cast<uint64_t>(done));
      fast_kernel_for(K, contract_)<<<grid, plan_.team_warps * 32, smem_per_block, stream_>>>(a, bits_.get());
      PBIT_CUDA_LAUNCHED(fast_sweeps_kernel, stream_);
    }
    in_bits_ = true;  // the words are the state now; s_ is brought up to date only when needed
    sync();
  }

  /// s_ up to date (after fast stretches the state lives in bits_ only).
  void need_int8() {
    if (!in_bits_) return;
    const int64_t nb = static_cast<int64_t>(n_) * chains_;
    unpack_kernel<<<static_cast<unsigned>((nb + 255) / 256), 256, 0, stream_>>>(bits_.get(), n_, chains_, pwords_, s_.get());
    PBIT_CUDA_LAUNCHED(unpack_kernel, stream_);
    in_bits_ = false;  // bits_ stays valid until s_ is written
  }

  void begin_observation(const ObserveConfig& cfg) override {
    const DeviceGuard on_device(device_);
    cfg_ = cfg;
    node_sum_.resize(cfg.moments ? n_ : 0, "node sums");
    node_sum_.zero();
    edge_sum_.resize(cfg.moments ? ei_.size() : 0, "edge sums");
    edge_sum_.zero();
    energy_.resize(cfg.energy ? static_cast<size_t>(cfg.num_samples) * chains_ : 0, "energies");
    energy_.zero();  // as the host backends: a run that stops early hands back zeros, not garbage
    group_off_.upload(cfg.group_offsets, "readout groups");
    group_nodes_.upload(cfg.group_nodes, "readout groups");
    readout_.resize(static_cast<size_t>(chains_) * cfg.num_groups(), "readout sums");
    readout_.zero();
    snaps_.resize(static_cast<size_t>(cfg.num_snapshots) * n_ * chains_, "snapshots");
    snaps_.zero();
  }

  void observe(int64_t sample) override {
    const DeviceGuard on_device(device_);
    const int32_t blocks_n = static_cast<int32_t>(std::min<int64_t>(n_, 65535));
    const int64_t ne = static_cast<int64_t>(ei_.size());
    const unsigned blocks_e = static_cast<unsigned>(std::min<int64_t>(std::max<int64_t>(ne, 1), 65535));
    if (in_bits_) {  // after fast stretches: every observer reads the bit words (moments by popcount)
      if (cfg_.moments) {
        node_sum_bits_kernel<<<blocks_n, kReduceBlock, 0, stream_>>>(bits_.get(), n_, pwords_, chains_, node_sum_.get());
        PBIT_CUDA_LAUNCHED(node_sum_bits_kernel, stream_);
        if (ne > 0) {
          edge_sum_bits_kernel<<<blocks_e, kReduceBlock, 0, stream_>>>(bits_.get(), ei_.get(), ej_.get(), ne, pwords_, chains_,
                                                                      edge_sum_.get());
          PBIT_CUDA_LAUNCHED(edge_sum_bits_kernel, stream_);
        }
      }
      if (cfg_.energy) {
        energy_bits_kernel<<<(chains_ + 127) / 128, 128, 0, stream_>>>(bits_.get(), pwords_, ei_.get(), ej_.get(), ew_.get(), ne,
                                                                      h_.get(), n_, chains_,
                                                                      energy_.get() + static_cast<size_t>(sample) * chains_);
        PBIT_CUDA_LAUNCHED(energy_bits_kernel, stream_);
      }
      if (cfg_.num_groups() > 0) {
        readout_bits_kernel<<<(chains_ + 127) / 128, 128, 0, stream_>>>(bits_.get(), pwords_, group_off_.get(), group_nodes_.get(),
                                                                       cfg_.num_groups(), chains_, readout_.get());
        PBIT_CUDA_LAUNCHED(readout_bits_kernel, stream_);
      }
      sync();
      return;
    }
    if (cfg_.moments) {
      node_sum_kernel<<<blocks_n, kReduceBlock, 0, stream_>>>(s_.get(), n_, chains_, node_sum_.get());
      PBIT_CUDA_LAUNCHED(node_sum_kernel, stream_);
      if (ne > 0) {
        edge_sum_kernel<<<blocks_e, kReduceBlock, 0, stream_>>>(s_.get(), ei_.get(), ej_.get(), ne, chains_, edge_sum_.get());
        PBIT_CUDA_LAUNCHED(edge_sum_kernel, stream_);
      }
    }
    if (cfg_.energy) {
      energy_kernel<<<(chains_ + 127) / 128, 128, 0, stream_>>>(s_.get(), ei_.get(), ej_.get(), ew_.get(), ne, h_.get(), n_, chains_,
                                                               energy_.get() + static_cast<size_t>(sample) * chains_);
      PBIT_CUDA_LAUNCHED(energy_kernel, stream_);
    }
    if (cfg_.num_groups() > 0) {
      readout_kernel<<<(chains_ + 127) / 128, 128, 0, stream_>>>(s_.get(), group_off_.get(), group_nodes_.get(),
                                                                cfg_.num_groups(), chains_, readout_.get());
      PBIT_CUDA_LAUNCHED(readout_kernel, stream_);
    }
    sync();
  }

  void snapshot(int64_t slot) override {
    const DeviceGuard on_device(device_);
    const size_t sz = static_cast<size_t>(n_) * chains_;
    if (in_bits_) {
      unpack_kernel<<<static_cast<unsigned>((sz + 255) / 256), 256, 0, stream_>>>(bits_.get(), n_, chains_, pwords_,
                                                                                 snaps_.get() + slot * sz);
      PBIT_CUDA_LAUNCHED(unpack_kernel, stream_);
    } else {
      PBIT_CUDA_CHECK(cudaMemcpyAsync(snaps_.get() + slot * sz, s_.get(), sz, cudaMemcpyDeviceToDevice, stream_));
    }
    sync();
  }

  void end_observation(Observations& out) override {
    const DeviceGuard on_device(device_);
    out.node_sum = node_sum_.download();
    out.edge_sum = edge_sum_.download();
    out.energy = energy_.download();
    out.readout_sum = readout_.download();
    const size_t sz = static_cast<size_t>(n_) * chains_;
    out.snapshots.assign(static_cast<size_t>(cfg_.num_snapshots) * sz, 0);
    if (cfg_.num_snapshots > 0) {
      DeviceArray<int8_t> t(stream_);
      t.resize(sz, "snapshot transpose buffer");
      for (int64_t k = 0; k < cfg_.num_snapshots; ++k) {
        transpose_to(snaps_.get() + k * sz, t.get());
        t.download_to(out.snapshots.data() + k * sz, sz);
      }
    }
  }

 private:
  /// Waits for the stream. A kernel fault surfaces here without naming its kernel; the message says
  /// how to find it.
  void sync() const {
    const cudaError_t e = cudaStreamSynchronize(stream_);
    if (e == cudaSuccess) return;
    if (e == cudaErrorMemoryAllocation) cuda_throw(e, "cudaStreamSynchronize", __FILE__, __LINE__);
    throw CudaError(std::string(cudaGetErrorName(e)) + " (" + cudaGetErrorString(e) +
                    ") in a kernel of the stream (rerun with PBIT_CUDA_SYNC_CHECK=1 to name it)");
  }
  void transpose_to(const int8_t* in, int8_t* out) const {
    const size_t total = static_cast<size_t>(n_) * chains_;
    transpose_kernel<<<static_cast<unsigned>((total + 255) / 256), 256, 0, stream_>>>(in, n_, chains_, out);
    PBIT_CUDA_LAUNCHED(transpose_kernel, stream_);
    sync();
  }
  /// The fast loop's group records, rebuilt whenever the clamps change (packed_groups).
  void load_groups() {
    const PackedGroups pg = packed_groups(color_nodes_host_, class_off_, row_ptr_host_, clamped_host_);
    groups_.upload(pg.groups, "packed groups");
    group_off_dev_.upload(pg.offsets, "packed group offsets");
  }
  void load_weights(const Graph& g) {
    w_.upload(g.weights(), "CSR weights");
    h_.upload(g.biases(), "biases");
    ew_.upload(g.edge_weights(), "edge weights");
    if (fast_) edges_.upload(packed_edges(g.col_idx(), g.weights(), plan_.words_per_lane), "interleaved CSR edges");
  }

  Stream stream_;  // first: destroyed after the arrays that use it
  int32_t n_, chains_;
  rng::Key key_;
  RngContract contract_;
  uint32_t chain_offset_;  ///< SamplerOptions::first_chain
  DeviceArray<int8_t> s_;
  DeviceArray<int64_t> row_ptr_;
  DeviceArray<int32_t> col_, ei_, ej_, color_nodes_, field_col_, clamp_nodes_, group_nodes_;
  DeviceArray<float> w_, h_, ew_, field_, act_gain_, act_offset_;
  HostActivation act_;  ///< the input stage (imperfect hardware), mirrored in act_gain_ and act_offset_
  uint32_t lfsr_steps_ = 0;  ///< hardware.rng lfsr: shifts per sweep (0: Philox)
  rng::Key lfsr_key_{};
  uint32_t lfsr_stream_ = 0;
  DeviceArray<uint32_t> lfsr_cols_;  ///< the stretch's sweep matrices
  DeviceArray<float> chain_scale_;   ///< per-chain beta factors (empty: none)
  DeviceArray<uint8_t> clamped_;
  DeviceArray<int8_t> clamp_values_, snaps_;
  DeviceArray<int64_t> node_sum_, edge_sum_, readout_, group_off_;
  DeviceArray<double> energy_;
  DeviceArray<double> swap_energy_;  ///< chain_energies
  DeviceArray<int32_t> field_nodes_, perm_;
  DeviceArray<int8_t> scratch_;      ///< permute_chains' target, then the state
  std::vector<int32_t> class_off_;
  std::vector<int32_t> color_nodes_host_;  ///< fast path: the classes concatenated, for load_groups
  std::vector<int64_t> row_ptr_host_;      ///< fast path: CSR row pointers, for load_groups
  DeviceArray<PackedGroup> groups_;
  DeviceArray<int32_t> group_off_dev_;
  DeviceArray<uint32_t> bits_;  ///< fast kernel: the state as words [node][pwords_] (docs/FAST_KERNEL.md, v2)
  int32_t pwords_ = 0;           ///< 32-chain words in bits_, a multiple of the words per lane
  bool in_bits_ = false;         ///< bits_ holds the state and s_ is stale
  bool bits_stale_ = true;       ///< s_ was written since bits_ was made
  DeviceArray<PackedEdge> edges_;
  DeviceArray<float> betas_;
  bool fast_ = false;
  CudaKernelPlan plan_;
  int64_t launch_flips_ = kDefaultLaunchFlips;  ///< the fast kernel's most spin updates per launch
  int device_ = 0;
  std::vector<uint8_t> clamped_host_;
  int32_t clamp_k_ = 0;
  ObserveConfig cfg_;
};

}  // namespace

std::unique_ptr<GibbsEngine> make_cuda_engine(const Graph& g, const Coloring& c, int32_t chains,
                                              const SamplerOptions& opt) {
  return std::make_unique<CudaEngine>(g, c, chains, opt);
}

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return count;
}

std::string cuda_unavailable_reason() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  (void)cudaGetLastError();
  if (e == cudaSuccess && count > 0) return "";
  int driver = 0, runtime = 0;
  (void)cudaDriverGetVersion(&driver);
  (void)cudaRuntimeGetVersion(&runtime);
  (void)cudaGetLastError();
  return describe_cuda_unavailable(e == cudaSuccess ? "" : cudaGetErrorName(e), e == cudaSuccess ? "" : cudaGetErrorString(e),
                                   driver, runtime);
}

int cuda_live_streams() { return g_live_streams.load(); }

bool cuda_emulated() {
#if defined(PBIT_CUDA_EMULATOR)
  return true;
#else
  return false;
#endif
}

std::string cuda_device_name(int ordinal) {
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, ordinal) != cudaSuccess) {
    (void)cudaGetLastError();
    return "";
  }
  return p.name;
}

std::string cuda_pci_bus_id(int ordinal) {
  char id[64] = {};
  if (cudaDeviceGetPCIBusId(id, sizeof id, ordinal) != cudaSuccess) {
    (void)cudaGetLastError();
    return "";
  }
  return id;
}

void cuda_download(const void* device_ptr, void* host, size_t bytes) {
  PBIT_CUDA_CHECK(cudaMemcpy(host, device_ptr, bytes, cudaMemcpyDeviceToHost));
}

int64_t cuda_used_bytes() {
  const int count = cuda_device_count();
  if (count == 0) return -1;
  // On the device a Sampler with the default options takes (the rank's under MPI), which
  // backend_device_name names, not whichever one the calling thread has current.
  const DeviceGuard on_device(resolve_cuda_device(-1, count), /*nothrow=*/true);
  size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
    (void)cudaGetLastError();
    return -1;
  }
  return static_cast<int64_t>(total_b - free_b);
}

}  // namespace pbit::detail
