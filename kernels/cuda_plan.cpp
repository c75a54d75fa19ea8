#include "cuda_plan.hpp"

#include <algorithm>
#include <cstdlib>

#include "pbit/error.hpp"
#include "util/parse_number.hpp"

namespace pbit::detail {

namespace {

void check_team(int w, const std::string& what) {
  if (w < 1 || w > kMaxTeamWarps) {
    throw InvalidArgument(what + " must be 1.." + std::to_string(kMaxTeamWarps) + " warps, got " + std::to_string(w));
  }
}

}  // namespace

CudaKernel requested_cuda_kernel(CudaKernel from_options) {
  if (from_options != CudaKernel::automatic) return from_options;
  const char* v = std::getenv("PBIT_CUDA_KERNEL");
  if (!v || !*v) return CudaKernel::automatic;
  return cuda_kernel_from_string(v, "environment variable PBIT_CUDA_KERNEL");
}

int requested_team_warps(int from_options) {
  if (from_options != 0) {
    check_team(from_options, "SamplerOptions::cuda_team_warps");
    return from_options;
  }
  const char* v = std::getenv("PBIT_CUDA_FAST_WARPS");
  if (!v || !*v) return 0;
  int64_t w = 0;
  if (!parse_number_ok(std::string_view(v), w) || w < 1 || w > kMaxTeamWarps) {
    throw InvalidArgument("environment variable PBIT_CUDA_FAST_WARPS must be 1.." + std::to_string(kMaxTeamWarps) +
                          ", got '" + std::string(v) + "'");
  }
  return static_cast<int>(w);
}

CudaKernelPlan plan_cuda_kernel(CudaKernel requested, int team_warps, int32_t nodes, int32_t chains,
                                const CudaDeviceShape& device) {
  CudaKernelPlan p;
  if (requested == CudaKernel::simple) {
    p.reason = "asked for";
    return p;
  }
  if (team_warps != 0) check_team(team_warps, "the fast kernel's team size");
  const int64_t words = (static_cast<int64_t>(chains) + 31) / 32;
  const int64_t smem = 4 * static_cast<int64_t>(nodes);
  if (smem > device.max_smem_optin) {
    const std::string why = "the fast kernel keeps 4 bytes per node in one block's shared memory: " + std::to_string(smem) +
                            " bytes for " + std::to_string(nodes) + " nodes, and a block may have " +
                            std::to_string(device.max_smem_optin);
    if (requested == CudaKernel::fast) throw InvalidArgument(why);
    p.reason = why;
    return p;
  }
  int best = 0, best_bps = 0;
  int64_t best_warps = -1;
  for (int w : {2, 4, 8, 16}) {
    if (team_warps != 0 && w != team_warps) continue;
    const int bps = device.blocks_per_sm ? device.blocks_per_sm(w) : 0;
    if (bps <= 0) continue;
    const int64_t warps = std::min<int64_t>(words, static_cast<int64_t>(bps) * device.sms) * w;
    if (warps > best_warps) best = w, best_bps = bps, best_warps = warps;
  }
  if (team_warps != 0 && best == 0) {  // an explicit size outside 2, 4, 8, 16
    const int bps = device.blocks_per_sm ? device.blocks_per_sm(team_warps) : 0;
    if (bps > 0) best = team_warps, best_bps = bps;
  }
  if (best == 0) {
    const std::string why = "the fast kernel cannot be launched with " +
                            (team_warps ? std::to_string(team_warps) + "-warp teams" : std::string("any team size")) +
                            " and " + std::to_string(smem) + " bytes of shared memory (occupancy 0)";
    if (requested == CudaKernel::fast) throw InvalidArgument(why);
    p.reason = why;
    return p;
  }
  if (requested == CudaKernel::automatic && words < device.sms) {
    p.reason = "automatic: " + std::to_string(words) + " 32-chain words are fewer than the " + std::to_string(device.sms) +
               " SMs the fast kernel would need to fill";
    return p;
  }
  p.fast = true;
  p.team_warps = best;
  p.blocks_per_sm = best_bps;
  p.blocks = words;
  p.reason = requested == CudaKernel::fast ? "asked for"
                                           : "automatic: " + std::to_string(words) + " 32-chain words cover the " +
                                                 std::to_string(device.sms) + " SMs";
  return p;
}

}  // namespace pbit::detail
