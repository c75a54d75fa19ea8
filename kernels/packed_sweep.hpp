// The bit-packed sweep of the fast GPU kernel (docs/FAST_KERNEL.md, issue 7), written once for host
// and device.
//
// Layout: chains in bits. Bit l of word w of node i is the spin (1 = +1) of chain 32 w + l. A warp
// owns one word index w for every node and runs all the sweeps of a stretch on it; no other warp
// touches those words, so colors need only a warp-level barrier. All 32 lanes walk the same node
// (warp-uniform CSR loads); lane l sums the field of its own chain in CSR order with the contract's
// arithmetic (detail/gibbs_math.hpp), so the result is bit-identical to the reference backend.
//
// The lane-parallel parts are behind a `Lanes` policy, so the same loop runs:
//  - on the GPU (kernels/cuda/gibbs_kernels.cu, WarpLanes): one lane per thread, __ballot_sync packs
//    the 32 decisions, __syncwarp separates colors;
//  - on the host (kernels/reference/, the `packed` backend, HostLanes below): the 32 lanes in a loop.
// The host run goes through every exact-enumeration and bit-identity test, which checks this loop,
// the Philox counters per lane, clamps, fields and padding lanes without a GPU.
#pragma once
#include <cstdint>

#include "pbit/detail/gibbs_math.hpp"
#include "pbit/rng.hpp"

namespace pbit::detail {

constexpr int kPackedLanes = 32;

/// Number of 32-chain words for `chains` chains.
PBIT_HD int32_t packed_words(int32_t chains) { return (chains + kPackedLanes - 1) / kPackedLanes; }

/// Read-only load; the device path goes through the read-only data cache.
template <class T>
PBIT_HD T packed_ldg(const T* p) {
#if defined(__CUDA_ARCH__)
  return __ldg(p);
#else
  return *p;
#endif
}

/// Everything a stretch of sweeps reads besides the state words. Pointers are host or device
/// pointers to match where the loop runs.
struct PackedArgs {
  int32_t n = 0, words = 0, chains = 0;
  const int64_t* row_ptr = nullptr;
  const int32_t* col = nullptr;
  const float* w = nullptr;
  const float* h = nullptr;
  const int32_t* color_nodes = nullptr;  ///< all color classes concatenated, each ascending
  const int32_t* class_off = nullptr;    ///< num_colors + 1 offsets into color_nodes
  int32_t num_colors = 0;
  const uint8_t* clamped = nullptr;      ///< N: 1 if never updated
  const int32_t* field_col = nullptr;    ///< N: column of the per-chain field, or -1
  const float* field = nullptr;          ///< field of (column q, chain b) at q * field_col_stride + b * field_chain_stride
  int64_t field_col_stride = 0, field_chain_stride = 0;
  const float* betas = nullptr;          ///< one per sweep of the stretch
  int64_t nsweeps = 0;
  uint32_t first_sweep = 0;
  rng::Key key{};
};

/// Lane `lane` of word `word`: the Gibbs decision for node i (true = +1), from the 32-chain words S
/// (one per node) and the uniform word u of this (chain, node, sweep).
PBIT_HD bool packed_lane_up(const PackedArgs& a, const uint32_t* S, int32_t i, uint32_t lane, int32_t chain,
                            uint32_t u, float two_beta) {
  float f = 0.0f;
  const int64_t end = a.row_ptr[i + 1];
  for (int64_t e = a.row_ptr[i]; e < end; ++e) {
    const float wj = packed_ldg(a.w + e);
    const bool up = (S[packed_ldg(a.col + e)] >> lane) & 1u;
    f = fadd(f, up ? wj : -wj);  // == fmul(wj, +-1) exactly, as in the reference
  }
  f = fadd(f, a.h[i]);
  const int32_t fc = a.field_col[i];
  if (fc >= 0 && chain < a.chains) f = fadd(f, a.field[fc * a.field_col_stride + static_cast<int64_t>(chain) * a.field_chain_stride]);
  return gibbs_up(u, boltzmann_ratio(two_beta, f));
}

/// All sweeps of a stretch for the 32 chains of word `word`, whose words (one per node) are in S.
/// Lane l draws Philox(counter = (chain, color, rank / 4, sweep)) once per four consecutive ranks of
/// a color and uses word rank % 4 (rng.hpp), exactly as the other backends do.
template <class Lanes>
PBIT_HD void packed_stretch(const PackedArgs& a, uint32_t* S, int32_t word, Lanes& lanes) {
  const int32_t chain0 = kPackedLanes * word;
  for (int64_t k = 0; k < a.nsweeps; ++k) {
    const auto sweep = static_cast<uint32_t>(a.first_sweep + k);
    const float two_beta = fmul(2.0f, a.betas[k]);
    for (int32_t c = 0; c < a.num_colors; ++c) {
      const int32_t off = a.class_off[c], len = a.class_off[c + 1] - off;
      for (int32_t r = 0; r < len; ++r) {
        if ((r & 3) == 0) lanes.draw(a.key, chain0, static_cast<uint32_t>(c), static_cast<uint32_t>(r), sweep);
        const int32_t i = a.color_nodes[off + r];
        if (a.clamped[i]) continue;  // the same for every lane
        const auto q = static_cast<uint32_t>(r & 3);
        const uint32_t m = lanes.vote([&](uint32_t lane, const rng::Block& blk) {
          return packed_lane_up(a, S, i, lane, chain0 + static_cast<int32_t>(lane), rng::word(blk, q), two_beta);
        });
        lanes.store(S + i, m);
      }
      lanes.sync();  // this color's words are written before the next color reads them
    }
  }
}

/// The host's stand-in for a warp: the 32 lanes in a loop, each with its own Philox block.
struct HostLanes {
  rng::Block blk[kPackedLanes];
  void draw(rng::Key key, int32_t chain0, uint32_t color, uint32_t rank, uint32_t sweep) {
    for (uint32_t l = 0; l < kPackedLanes; ++l) {
      blk[l] = rng::philox4x32_10(rng::gibbs_counter(static_cast<uint32_t>(chain0) + l, color, rank, sweep), key);
    }
  }
  template <class F>
  uint32_t vote(F&& f) {
    uint32_t m = 0;
    for (uint32_t l = 0; l < kPackedLanes; ++l) m |= static_cast<uint32_t>(f(l, blk[l])) << l;
    return m;
  }
  void store(uint32_t* p, uint32_t m) { *p = m; }
  void sync() {}
};

}  // namespace pbit::detail
