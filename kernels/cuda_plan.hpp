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
  int64_t blocks = 0;          ///< fast kernel: one block per 32-chain word
  std::string reason;          ///< why this kernel, in words (for describe() and the benchmark JSON)
};

/// The device's side of the decision.
struct CudaDeviceShape {
  int sms = 0;                     ///< multiprocessors
  int64_t max_smem_optin = 0;      ///< bytes of shared memory one block may opt in to
  /// Resident blocks per SM of the fast kernel with `team_warps` warps and its shared memory
  /// (cudaOccupancyMaxActiveBlocksPerMultiprocessor); 0 = cannot launch.
  std::function<int(int team_warps)> blocks_per_sm;
};

/// Chooses the kernel for `nodes` nodes and `chains` chains:
///  - `requested` simple: the simple kernel. fast: the fast kernel, or InvalidArgument when its state
///    (4 bytes per node per block) exceeds the shared memory a block may have. automatic: the fast
///    kernel when it fits and its blocks (one per 32-chain word) cover every SM, else the simple one.
///  - team size: `team_warps` when > 0 (1..16, else InvalidArgument), else the size in 2, 4, 8, 16 with
///    the most resident warps (min(blocks, blocks_per_sm * SMs) * warps), the smaller on a tie
///    (fewer barriers per color).
CudaKernelPlan plan_cuda_kernel(CudaKernel requested, int team_warps, int32_t nodes, int32_t chains,
                                const CudaDeviceShape& device);

/// The kernel and team size asked for by SamplerOptions, with the environment variables
/// PBIT_CUDA_KERNEL (simple|fast|auto) and PBIT_CUDA_FAST_WARPS (1..16) filling what the options leave
/// automatic. Bad values are InvalidArgument naming the variable.
CudaKernel requested_cuda_kernel(CudaKernel from_options);
int requested_team_warps(int from_options);

}  // namespace pbit::detail
