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

int requested_words_per_lane(int from_options) {
  if (from_options != 0) {
    if (from_options != 1 && from_options != 2 && from_options != 4) {
      throw InvalidArgument("SamplerOptions::fast_words_per_lane must be 1, 2 or 4 (0 = automatic), got " +
                            std::to_string(from_options));
    }
    return from_options;
  }
  const char* v = std::getenv("PBIT_FAST_WORDS");
  if (!v || !*v) return 0;
  int64_t k = 0;
  if (!parse_number_ok(std::string_view(v), k) || (k != 1 && k != 2 && k != 4)) {
    throw InvalidArgument("environment variable PBIT_FAST_WORDS must be 1, 2 or 4, got '" + std::string(v) + "'");
  }
  return static_cast<int>(k);
}

int64_t requested_launch_flips() {
  const char* v = std::getenv("PBIT_CUDA_LAUNCH_FLIPS");
  if (!v || !*v) return kDefaultLaunchFlips;
  int64_t f = 0;
  constexpr int64_t kMax = int64_t{1} << 62;
  if (!parse_number_ok(std::string_view(v), f) || f < 1 || f > kMax) {
    throw InvalidArgument("environment variable PBIT_CUDA_LAUNCH_FLIPS must be a whole number of spin updates in [1, " +
                          std::to_string(kMax) + "], got '" + std::string(v) + "'");
  }
  return f;
}

int64_t fast_sweeps_per_launch(int32_t nodes, int64_t chain_slots, int64_t max_flips) {
  const int64_t per_sweep = std::max<int64_t>(1, static_cast<int64_t>(nodes) * std::max<int64_t>(chain_slots, 1));
  return std::clamp<int64_t>(max_flips / per_sweep, 1, int64_t{0x7fffffff});
}

double words_per_lane_speed(int k) { return k == 4 ? 1.20 : k == 2 ? 1.05 : 1.0; }

CudaKernelPlan plan_cuda_kernel(CudaKernel requested, int team_warps, int32_t nodes, int32_t chains,
                                const CudaDeviceShape& device, int words_per_lane) {
  CudaKernelPlan p;
  if (requested == CudaKernel::simple) {
    p.reason = "asked for";
    return p;
  }
  if (team_warps != 0) check_team(team_warps, "the fast kernel's team size");
  if (words_per_lane != 0 && words_per_lane != 1 && words_per_lane != 2 && words_per_lane != 4) {
    throw InvalidArgument("the fast kernel's words per lane must be 1, 2 or 4, got " + std::to_string(words_per_lane));
  }
  const int64_t words = (static_cast<int64_t>(chains) + 31) / 32;
  const int K0 = words_per_lane ? words_per_lane : 1;
  const int64_t smem = 4 * static_cast<int64_t>(nodes) * K0;
  if (smem > device.max_smem_optin) {
    const std::string why = "the fast kernel keeps 4 bytes per node per word in one block's shared memory: " +
                            std::to_string(smem) + " bytes for " + std::to_string(nodes) + " nodes" +
                            (K0 > 1 ? " and " + std::to_string(K0) + " words per lane" : std::string()) +
                            ", and a block may have " + std::to_string(device.max_smem_optin);
    if (requested == CudaKernel::fast) throw InvalidArgument(why);
    p.reason = why;
    return p;
  }
  // Words per lane: as asked, or the K with the best expected rate: its speed per busy SM relative to
  // K = 1 times the share of SMs its blocks keep busy (one block per K words), among those that launch
  // with the team size asked for (any: the smallest, 2 warps).
  int K = K0;
  if (words_per_lane == 0) {
    double best_rate = 0;
    for (int k : {1, 2, 4}) {
      const int64_t blocks_k = (words + k - 1) / k;
      if (4 * static_cast<int64_t>(nodes) * k > device.max_smem_optin || !device.blocks_per_sm ||
          device.blocks_per_sm(team_warps ? team_warps : 2, k) <= 0) {
        continue;
      }
      const double busy = std::min(1.0, static_cast<double>(blocks_k) / std::max(1, device.sms));
      const double rate = words_per_lane_speed(k) * busy;
      if (rate > best_rate) best_rate = rate, K = k;
    }
  }
  const int64_t blocks = (words + K - 1) / K;
  int best = 0, best_bps = 0;
  int64_t best_warps = -1;
  for (int w : {2, 4, 8, 16}) {
    if (team_warps != 0 && w != team_warps) continue;
    const int bps = device.blocks_per_sm ? device.blocks_per_sm(w, K) : 0;
    if (bps <= 0) continue;
    const int64_t warps = std::min<int64_t>(blocks, static_cast<int64_t>(bps) * device.sms) * w;
    if (warps >= best_warps) best = w, best_bps = bps, best_warps = warps;  // the larger team on a tie
  }
  if (team_warps != 0 && best == 0) {  // an explicit size outside 2, 4, 8, 16
    const int bps = device.blocks_per_sm ? device.blocks_per_sm(team_warps, K) : 0;
    if (bps > 0) best = team_warps, best_bps = bps;
  }
  if (best == 0) {
    const std::string why = "the fast kernel cannot be launched with " +
                            (team_warps ? std::to_string(team_warps) + "-warp teams" : std::string("any team size")) +
                            " and " + std::to_string(4 * static_cast<int64_t>(nodes) * K) +
                            " bytes of shared memory (occupancy 0)";
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
  p.words_per_lane = K;
  p.blocks = blocks;
  p.reason = requested == CudaKernel::fast ? "asked for"
                                           : "automatic: " + std::to_string(words) + " 32-chain words cover the " +
                                                 std::to_string(device.sms) + " SMs";
  return p;
}

}  // namespace pbit::detail
