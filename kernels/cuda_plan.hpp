// How the CUDA backend picks its sweep kernel and the fast kernel's team shape (docs/FAST_KERNEL.md).
// Host code with the device's numbers passed in, so the policy is tested on machines without a GPU;
// kernels/cuda/gibbs_kernels.cu feeds it cudaOccupancyMaxActiveBlocksPerMultiprocessor.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "pbit/core/backend.hpp"

namespace pbit::detail {

/// The largest team the fast kernel is compiled for (__launch_bounds__(32 * kMaxTeamWarps)).
constexpr int kMaxTeamWarps = 16;

struct CudaKernelPlan {
  bool fast = false;
  int team_warps = 0;          ///< fast kernel: warps per block
  int blocks_per_sm = 0;       ///< fast kernel: resident blocks per SM at that team size
  int words_per_lane = 0;      ///< fast kernel: 32-chain words per lane (1, 2 or 4)
  int64_t blocks = 0;          ///< fast kernel: one block per words_per_lane 32-chain words
  std::string reason;          ///< why this kernel, in words (for describe() and the benchmark JSON)
};

/// The device's side of the decision.
struct CudaDeviceShape {
  int sms = 0;                     ///< multiprocessors
  int64_t max_smem_optin = 0;      ///< bytes of shared memory one block may opt in to
  /// Resident blocks per SM of the fast kernel for `words_per_lane` with `team_warps` warps and its
  /// shared memory, 4 x nodes x words_per_lane bytes (cudaOccupancyMaxActiveBlocksPerMultiprocessor);
  /// 0 = cannot launch.
  std::function<int(int team_warps, int words_per_lane)> blocks_per_sm;
};

/// The fast kernel's speed per busy SM with K words per lane, relative to K = 1: 1.05 and 1.2, about
/// the middle of K = 2's gains and the least of K = 4's that an H200 measured over Pegasus(14),
/// Zephyr(10,4) and 70x70 G12 at 16,384 chains with 16-warp teams (K = 2: +3 to +14%, K = 4: +20 to
/// +40%; bench/results/gpu-h200_2026-11-30/gibbs_bench_gpu_v2.json).
double words_per_lane_speed(int k);

/// Chooses the kernel for `nodes` nodes and `chains` chains:
///  - `requested` simple: the simple kernel. fast: the fast kernel, or InvalidArgument when its state
///    (4 bytes per node per block) exceeds the shared memory a block may have. automatic: the fast
///    kernel when it fits and its blocks (one per 32-chain word) cover every SM, else the simple one.
///  - words per lane: `words_per_lane` when > 0 (1, 2 or 4, else InvalidArgument; one that does not fit
///    in shared memory is an error when the fast kernel is asked for), else the K of 1, 2, 4 whose state
///    fits and that launches with `team_warps` (when > 0) with the highest words_per_lane_speed(K) x
///    min(1, blocks / SMs) (one block per K words).
///  - team size: `team_warps` when > 0 (1..16, else InvalidArgument), else the size in 2, 4, 8, 16 with
///    the most resident warps (min(blocks, blocks_per_sm * SMs) * warps), the larger on a tie (on an
///    H200, 16-warp teams beat 8-warp ones at equal resident warps: 141.5 against 129.2 flips/ns,
///    Pegasus(14), 100,000 chains; bench/results/gpu-h200_2026-11-30).
CudaKernelPlan plan_cuda_kernel(CudaKernel requested, int team_warps, int32_t nodes, int32_t chains,
                                const CudaDeviceShape& device, int words_per_lane = 0);

/// The kernel and team size asked for by SamplerOptions, with the environment variables
/// PBIT_CUDA_KERNEL (simple|fast|auto) and PBIT_CUDA_FAST_WARPS (1..16) filling what the options leave
/// automatic. Bad values are InvalidArgument naming the variable.
CudaKernel requested_cuda_kernel(CudaKernel from_options);
int requested_team_warps(int from_options);
/// Words per lane asked for by SamplerOptions::fast_words_per_lane, or PBIT_FAST_WORDS (1, 2 or 4)
/// when the options leave it automatic (0).
int requested_words_per_lane(int from_options);

/// The fast kernel's work per launch, in spin updates, by default: 2^32. A stretch of sweeps runs as
/// launches of at most this many updates each (but at least one sweep), so that a launch does not
/// last long enough for a display GPU's watchdog to kill it (2 s under Windows' TDR, about 5 s under
/// X): 30 ms at the H200's 141 flips/ns, 0.4 s at 10. Launches are queued back to back on one stream; the chains do
/// not depend on where a stretch is cut.
constexpr int64_t kDefaultLaunchFlips = int64_t{1} << 32;
/// PBIT_CUDA_LAUNCH_FLIPS (a whole number in [1, 2^62]) when set, else kDefaultLaunchFlips; a bad
/// value is InvalidArgument naming the variable.
int64_t requested_launch_flips();
/// Sweeps per fast-kernel launch: max(1, floor(max_flips / (nodes x chain_slots))), at most 2^31 - 1
/// (chain_slots: the chains the launch updates, padding lanes included).
int64_t fast_sweeps_per_launch(int32_t nodes, int64_t chain_slots, int64_t max_flips);

}  // namespace pbit::detail
