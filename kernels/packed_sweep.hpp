// The bit-packed sweep of the fast GPU kernel (docs/FAST_KERNEL.md, issue 7), written once for host
// and device.
//
// Layout: chains in bits. Bit l of word w of node i is the spin (1 = +1) of chain 32 w + l. A team of
// warps (a GPU block) owns one word index w for every node, keeps those words on chip and runs all
// the sweeps of a stretch on them; the team splits each color's nodes, and a team barrier separates
// colors. All 32 lanes of a warp walk the same nodes (warp-uniform CSR loads); lane l sums the field
// of its own chain in CSR order with the contract's arithmetic (detail/gibbs_math.hpp), so the result
// is bit-identical to the reference backend.
//
// The parallel parts are behind a `Lanes` policy, so the same loop runs:
//  - on the GPU (kernels/cuda/gibbs_kernels.cu, BlockLanes): one lane per thread, __ballot_sync packs
//    the 32 decisions, the block's warps are the team, __syncthreads separates colors;
//  - on the host (kernels/reference/, the `packed` backend, HostLanes below): the team's warps one
//    after another and the 32 lanes in a loop.
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

/// Up to kPackedGroup nodes of one color that share a Philox call (ranks 4g .. 4g + 3), unclamped.
constexpr int kPackedGroup = 4;
struct PackedGroup {
  int32_t count = 0;
  int32_t node[kPackedGroup] = {};
  uint32_t word[kPackedGroup] = {};  ///< which word of the Philox block (rank % 4)
};

/// Lane `lane` (chain `chain`): the Gibbs decisions (bit q = node q goes to +1) for the nodes of a
/// group, from the 32-chain words S (one per node) and the lane's Philox block. The field sums of the
/// group's nodes run interleaved, so a lane has up to four independent add chains in flight instead
/// of one; each node's sum still runs over its own CSR row in order, so the arithmetic is the
/// contract's (detail/gibbs_math.hpp), bit for bit.
PBIT_HD uint32_t packed_lane_up(const PackedArgs& a, const uint32_t* S, const PackedGroup& g, uint32_t lane,
                                int32_t chain, const rng::Block& blk, float two_beta) {
  float f[kPackedGroup] = {};
  int64_t beg[kPackedGroup] = {}, len[kPackedGroup] = {};
  int64_t longest = 0;
  for (int q = 0; q < kPackedGroup; ++q) {
    if (q < g.count) {
      beg[q] = a.row_ptr[g.node[q]];
      len[q] = a.row_ptr[g.node[q] + 1] - beg[q];
      longest = len[q] > longest ? len[q] : longest;
    }
  }
  for (int64_t t = 0; t < longest; ++t) {
    for (int q = 0; q < kPackedGroup; ++q) {
      if (q < g.count && t < len[q]) {  // the same for every lane
        const int64_t e = beg[q] + t;
        const uint32_t up = (S[packed_ldg(a.col + e)] >> lane) & 1u;
        f[q] = fadd(f[q], times_spin(packed_ldg(a.w + e), up));  // == fmul(wj, +-1) exactly, as in the reference
      }
    }
  }
  uint32_t bits = 0;
  for (int q = 0; q < kPackedGroup; ++q) {
    if (q < g.count) {
      const int32_t i = g.node[q];
      float x = fadd(f[q], a.h[i]);
      const int32_t fc = a.field_col[i];
      if (fc >= 0 && chain < a.chains) x = fadd(x, a.field[fc * a.field_col_stride + static_cast<int64_t>(chain) * a.field_chain_stride]);
      bits |= static_cast<uint32_t>(gibbs_up(rng::word(blk, g.word[q]), boltzmann_ratio(two_beta, x))) << q;
    }
  }
  return bits;
}

/// One color for the 32 chains from chain0: member `member` of a team of `team` warps that share the
/// word takes every team-th Philox group (ranks 4g .. 4g + 3) of the color. Lane l draws
/// Philox(counter = (chain, color, rank / 4, sweep)) once per group and uses word rank % 4 (rng.hpp),
/// exactly as the other backends do; the (up to) four nodes of a group are updated together
/// (packed_lane_up), which is allowed because nodes of one color never neighbour each other.
template <class Lanes>
PBIT_HD void packed_color(const PackedArgs& a, uint32_t* S, int32_t chain0, Lanes& lanes, int32_t c, uint32_t sweep,
                          float two_beta, int32_t member, int32_t team) {
  const int32_t off = a.class_off[c], len = a.class_off[c + 1] - off;
  for (int32_t r0 = kPackedGroup * member; r0 < len; r0 += kPackedGroup * team) {
    PackedGroup g;
    for (int32_t q = 0; q < kPackedGroup && r0 + q < len; ++q) {
      const int32_t i = a.color_nodes[off + r0 + q];
      if (a.clamped[i]) continue;  // the same for every lane
      g.node[g.count] = i;
      g.word[g.count++] = static_cast<uint32_t>(q);
    }
    if (g.count == 0) continue;
    lanes.draw(a.key, chain0, static_cast<uint32_t>(c), static_cast<uint32_t>(r0), sweep);
    uint32_t m[kPackedGroup];
    lanes.vote(m, [&](uint32_t lane, const rng::Block& blk) {
      return packed_lane_up(a, S, g, lane, chain0 + static_cast<int32_t>(lane), blk, two_beta);
    });
    for (int32_t q = 0; q < g.count; ++q) lanes.store(S + g.node[q], m[q]);
  }
}

/// All sweeps of a stretch for the 32 chains of word `word`, whose words (one per node) are in S.
/// The lanes' team (the warps of a GPU block; a loop on the host) splits each color, and a barrier
/// separates the colors.
template <class Lanes>
PBIT_HD void packed_stretch(const PackedArgs& a, uint32_t* S, int32_t word, Lanes& lanes) {
  const int32_t chain0 = kPackedLanes * word;
  for (int64_t k = 0; k < a.nsweeps; ++k) {
    const auto sweep = static_cast<uint32_t>(a.first_sweep + k);
    const float two_beta = fmul(2.0f, a.betas[k]);
    for (int32_t c = 0; c < a.num_colors; ++c) {
      lanes.team([&](int32_t member, int32_t team) { packed_color(a, S, chain0, lanes, c, sweep, two_beta, member, team); });
      lanes.sync();  // this color's words are written before the next color reads them
    }
  }
}

/// The host's stand-in for a GPU block: a team of `team_size` warps run one after another within a
/// color (any order gives the same result, as on the GPU), each warp's 32 lanes in a loop, each lane
/// with its own Philox block.
struct HostLanes {
  int32_t team_size = 1;
  rng::Block blk[kPackedLanes];
  template <class F>
  void team(F&& f) {
    for (int32_t m = 0; m < team_size; ++m) f(m, team_size);
  }
  void draw(rng::Key key, int32_t chain0, uint32_t color, uint32_t rank, uint32_t sweep) {
    for (uint32_t l = 0; l < kPackedLanes; ++l) {
      blk[l] = rng::philox4x32_10(rng::gibbs_counter(static_cast<uint32_t>(chain0) + l, color, rank, sweep), key);
    }
  }
  /// m[q] gets bit l = bit q of lane l's decisions f(l, block of lane l).
  template <class F>
  void vote(uint32_t (&m)[kPackedGroup], F&& f) {
    for (uint32_t& x : m) x = 0;
    for (uint32_t l = 0; l < kPackedLanes; ++l) {
      const uint32_t bits = f(l, blk[l]);
      for (int q = 0; q < kPackedGroup; ++q) m[q] |= ((bits >> q) & 1u) << l;
    }
  }
  void store(uint32_t* p, uint32_t m) { *p = m; }
  void sync() {}
};

}  // namespace pbit::detail
