// The bit-packed sweep of the fast GPU kernel (docs/FAST_KERNEL.md, issue 7), written once for host
// and device.
//
// Layout: chains in bits. Bit l of word w of node i is the spin (1 = +1) of chain 32 w + l. A team of
// warps (a GPU block) owns K consecutive word indices w0 .. w0 + K - 1 for every node (K = 1, 2 or 4
// "words per lane": v1 is K = 1, v2 K > 1), keeps those words on chip ([node][K], so one vector load
// fetches them) and runs all the sweeps of a stretch on them; the team splits each color's nodes, and
// a team barrier separates colors. All 32 lanes of a warp walk the same nodes (warp-uniform CSR
// loads); lane l sums the fields of its K chains 32 (w0 + k) + l in CSR order with the contract's
// arithmetic (detail/gibbs_math.hpp), so the result is bit-identical to the reference backend, and one
// edge load serves 32 K chains.
//
// The parallel parts are behind a `Lanes` policy, so the same loop runs:
//  - on the GPU (kernels/cuda/gibbs_kernels.cu, BlockLanes): one lane per thread, __ballot_sync packs
//    the 32 decisions, the block's warps are the team, __syncthreads separates colors;
//  - on the host (kernels/reference/, the `packed` backend, HostLanes below): the team's warps one
//    after another and the 32 lanes in a loop.
// The host run goes through every exact-enumeration and bit-identity test, which checks this loop,
// the Philox counters per lane, clamps, fields and padding lanes without a GPU.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "pbit/core/detail/device_activation.hpp"
#include "pbit/core/detail/gibbs_math.hpp"
#include "pbit/error.hpp"
#include "pbit/core/rng.hpp"

namespace pbit::detail {

constexpr int kPackedLanes = 32;

/// Number of 32-chain words for `chains` chains.
PBIT_HD int32_t packed_words(int32_t chains) { return (chains + kPackedLanes - 1) / kPackedLanes; }

// ---- The state in bits, between stretches (docs/FAST_KERNEL.md, v2): engines that run this loop
// keep the words [node][words] as their state after a stretch, and observers read the bits, so a
// stretch costs no pack or unpack unless the int8 state is asked for.

/// Lanes of word w that hold a chain (padding lanes and padding words hold none).
PBIT_HD uint32_t packed_valid_mask(int32_t w, int32_t chains) {
  const int32_t rem = chains - kPackedLanes * w;
  return rem >= kPackedLanes ? 0xffffffffu : rem <= 0 ? 0u : (1u << rem) - 1u;
}

PBIT_HD int packed_popc(uint32_t x) {
#if defined(__CUDA_ARCH__)
  return __popc(x);
#else
  return __builtin_popcount(x);
#endif
}

/// The spin (+1 / -1) of chain b at node i in words [node][words].
PBIT_HD int packed_spin(const uint32_t* bits, int32_t words, int32_t i, int32_t b) {
  return ((bits[static_cast<int64_t>(i) * words + b / kPackedLanes] >> (b % kPackedLanes)) & 1u) ? 1 : -1;
}

/// Sum over the chains of word w of s_i (node word x): 2 popc(x) - chains in it.
PBIT_HD int64_t packed_word_sum(uint32_t x, uint32_t valid) { return 2 * packed_popc(x & valid) - packed_popc(valid); }

/// Sum over the chains of word w of s_i s_j (node words x, y): chains - 2 popc(x ^ y).
PBIT_HD int64_t packed_word_corr(uint32_t x, uint32_t y, uint32_t valid) {
  return packed_popc(valid) - 2 * packed_popc((x ^ y) & valid);
}

/// One CSR entry of the packed loop: where the neighbour's word lies and the coupling, side by side,
/// so that a warp fetches both with one 64-bit load (the loads are warp-uniform, so each is one
/// instruction per warp however many lanes use it). The neighbour is kept as the byte offset of its
/// word in the state array (4 x its index), which saves the scaling of the index on every load.
struct alignas(8) PackedEdge {
  uint32_t off;  ///< 4 * CSR column
  float w;
};

/// The words per lane the loop is compiled for (kernels dispatch on a runtime value to one of them).
PBIT_HD bool packed_wpl_ok(int k) { return k == 1 || k == 2 || k == 4; }

/// The graph's CSR columns and weights as PackedEdges, in CSR order, for K words per lane (the
/// neighbour's K words start at byte 4 K col).
inline std::vector<PackedEdge> packed_edges(std::span<const int32_t> col, std::span<const float> w, int K = 1) {
  if (!packed_wpl_ok(K)) throw InvalidArgument("words per lane must be 1, 2 or 4, got " + std::to_string(K));
  if (!col.empty() && static_cast<uint64_t>(*std::max_element(col.begin(), col.end())) * 4u * K > UINT32_MAX) {
    throw InvalidArgument("the bit-packed loop addresses state words with 32-bit byte offsets; too many nodes");
  }
  std::vector<PackedEdge> e(col.size());
  for (size_t k = 0; k < col.size(); ++k) e[k] = PackedEdge{static_cast<uint32_t>(col[k]) * 4u * static_cast<uint32_t>(K), w[k]};
  return e;
}

/// The K words at byte offset `off` of S (one 4-, 8- or 16-byte load; `off` is a multiple of 4 K).
template <int K>
struct PackedWords {
  uint32_t w[K];
};
template <int K>
PBIT_HD PackedWords<K> packed_words_at(const uint32_t* S, uint32_t off) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(S) + off;
#if defined(__CUDA_ARCH__)
  if constexpr (K == 4) {
    const uint4 v = *reinterpret_cast<const uint4*>(p);
    return PackedWords<4>{{v.x, v.y, v.z, v.w}};
  } else if constexpr (K == 2) {
    const uint2 v = *reinterpret_cast<const uint2*>(p);
    return PackedWords<2>{{v.x, v.y}};
  } else {
    return PackedWords<1>{{*reinterpret_cast<const uint32_t*>(p)}};
  }
#else
  PackedWords<K> r;
  std::memcpy(r.w, p, sizeof(r.w));
  return r;
#endif
}

PBIT_HD PackedEdge packed_load(const PackedEdge* p) {
#if defined(__CUDA_ARCH__)
  const uint2 v = __ldg(reinterpret_cast<const uint2*>(p));
  return PackedEdge{v.x, __uint_as_float(v.y)};
#else
  return *p;
#endif
}

/// The kPackedGroup nodes of one color that share a Philox call (ranks 4g .. 4g + 3), as the loop
/// walks them. Slot q is rank rank0 + q and uses word q of the Philox block. A slot is live when its
/// rank exists and its node is not clamped; a dead slot repeats the first live slot's node and row, so
/// that every slot has a valid row to walk, and its result is dropped. The host builds the groups
/// (packed_groups) whenever the clamps change, so the loop reads one 64-byte record per group instead
/// of looking up nodes, clamps and row bounds; slots are indexed only by constants, so a GPU keeps
/// the record in registers.
constexpr int kPackedGroup = 4;
struct alignas(16) PackedGroup {
  int32_t node[kPackedGroup];
  uint32_t beg[kPackedGroup];  ///< first CSR entry of the node's row
  int32_t len[kPackedGroup];   ///< the row's length
  uint32_t rank0;              ///< rank of slot 0 in its color (4g): the Philox counter's rank
  uint32_t live;               ///< bit q: slot q is updated
  uint32_t pad[2];
  PBIT_HD bool is_live(int q) const { return (live >> q) & 1u; }
};
static_assert(sizeof(PackedGroup) == 64, "PackedGroup is read as four 16-byte loads");

/// Everything a stretch of sweeps reads besides the state words. Pointers are host or device
/// pointers to match where the loop runs.
struct PackedArgs {
  int32_t n = 0, words = 0, chains = 0;  ///< words: 32-chain words, rounded up to a multiple of K
  const PackedEdge* edges = nullptr;     ///< CSR entries (packed_edges), indexed like the CSR
  const float* h = nullptr;
  const PackedGroup* groups = nullptr;   ///< every color's groups with a live slot (packed_groups)
  const int32_t* group_off = nullptr;    ///< num_colors + 1 offsets into groups
  int32_t num_colors = 0;
  const int32_t* field_col = nullptr;    ///< N: column of the per-chain field, or -1
  const float* field = nullptr;          ///< field of (column q, chain b) at q * field_col_stride + b * field_chain_stride
  int64_t field_col_stride = 0, field_chain_stride = 0;
  const float* betas = nullptr;          ///< one per sweep of the stretch
  int64_t nsweeps = 0;
  uint32_t first_sweep = 0;
  rng::Key key{};
  RngContract contract = RngContract::exact;
  uint32_t chain_offset = 0;  ///< SamplerOptions::first_chain: added to the chain ids the RNG sees
  ActivationArgs act{};                  ///< imperfect hardware's input stage (gain == nullptr: none)
  const float* chain_scale = nullptr;    ///< per-chain beta factors (B; nullptr: none)
};

/// The groups of every color with at least one live slot, in color and rank order, and the offset of
/// each color's first group (num_colors + 1 entries).
struct PackedGroups {
  std::vector<PackedGroup> groups;
  std::vector<int32_t> offsets;
};

/// Builds the groups from the color classes (concatenated, with offsets), the CSR row pointers and the
/// clamp mask (1 = never updated).
inline PackedGroups packed_groups(std::span<const int32_t> color_nodes, std::span<const int32_t> class_off,
                                  std::span<const int64_t> row_ptr, std::span<const uint8_t> clamped) {
  if (!row_ptr.empty() && row_ptr.back() > static_cast<int64_t>(UINT32_MAX)) {
    throw InvalidArgument("the bit-packed loop indexes CSR entries with 32 bits; this graph has " +
                          std::to_string(row_ptr.back()));
  }
  PackedGroups out;
  out.offsets.push_back(0);
  for (size_t c = 0; c + 1 < class_off.size(); ++c) {
    const int32_t off = class_off[c], len = class_off[c + 1] - off;
    for (int32_t r0 = 0; r0 < len; r0 += kPackedGroup) {
      PackedGroup g{};
      g.rank0 = static_cast<uint32_t>(r0);
      int32_t fill = -1;
      for (int q = kPackedGroup - 1; q >= 0; --q) {
        const int32_t i = r0 + q < len ? color_nodes[off + r0 + q] : -1;
        if (i >= 0 && !clamped[i]) {
          g.live |= 1u << q;
          fill = i;  // ends as the first live node
        }
        g.node[q] = i;
      }
      if (g.live == 0) continue;
      for (int q = 0; q < kPackedGroup; ++q) {
        if (!g.is_live(q)) g.node[q] = fill;
        g.beg[q] = static_cast<uint32_t>(row_ptr[g.node[q]]);
        g.len[q] = static_cast<int32_t>(row_ptr[g.node[q] + 1] - row_ptr[g.node[q]]);
      }
      out.groups.push_back(g);
    }
    out.offsets.push_back(static_cast<int32_t>(out.groups.size()));
  }
  return out;
}

PBIT_HD PackedGroup packed_group_load(const PackedGroup* p) {
#if defined(__CUDA_ARCH__)
  PackedGroup g;
  const uint4* src = reinterpret_cast<const uint4*>(p);
  uint4* dst = reinterpret_cast<uint4*>(&g);
  for (int k = 0; k < 4; ++k) dst[k] = __ldg(src + k);
  return g;
#else
  return *p;
#endif
}

/// Lane `lane`: the Gibbs decisions (bit 4 k + q = node q of the group goes to +1 in chain
/// chain0 + 32 k + lane) for the nodes of a group, from the K words per node in S and the lane's K
/// Philox blocks. The field sums of the group's nodes run interleaved, so a lane has 4 K independent
/// add chains in flight; each node's sum still runs over its own CSR row in order, so the arithmetic is
/// the contract's (detail/gibbs_math.hpp), bit for bit.
///
/// The interleaved part runs over the shortest row of the group with no per-neighbour bounds test
/// (dead slots walk a live slot's row and their sums are dropped); the rest of each
/// longer row follows on its own. Indices are 32-bit inside a row. Per neighbour and lane that
/// leaves one 64-bit edge load (warp-uniform) and one K-word shared-memory load (a broadcast), then
/// per chain one shift, one logic operation and the add.
template <int K, RngContract C>
PBIT_HD uint32_t packed_lane_up(const PackedArgs& a, const uint32_t* S, const PackedGroup& g, uint32_t lane,
                                int32_t chain0, const rng::Block (&blk)[K], float two_beta) {
  float f[kPackedGroup][K] = {};
  const PackedEdge* row[kPackedGroup];
  int32_t len[kPackedGroup];
  int32_t common = 0x7fffffff;
  for (int q = 0; q < kPackedGroup; ++q) {
    row[q] = a.edges + g.beg[q];
    len[q] = g.len[q];
    common = len[q] < common ? len[q] : common;
  }
  const uint32_t shift = 31u - lane;
  for (int32_t t = 0; t < common; ++t) {
    for (int q = 0; q < kPackedGroup; ++q) {
      const PackedEdge e = packed_load(row[q]++);
      const PackedWords<K> sw = packed_words_at<K>(S, e.off);
      for (int k = 0; k < K; ++k) f[q][k] = fadd(f[q][k], times_word_spin(e.w, sw.w[k], shift));  // == fmul(w, +-1) exactly, as in the reference
    }
  }
  for (int q = 0; q < kPackedGroup; ++q) {  // a constant trip count keeps row, len and f in registers
    const PackedEdge* p = row[q];
    const int32_t rest = g.is_live(q) ? len[q] - common : 0;
    for (int32_t t = 0; t < rest; ++t) {  // the same for every lane
      const PackedEdge e = packed_load(p + t);
      const PackedWords<K> sw = packed_words_at<K>(S, e.off);
      for (int k = 0; k < K; ++k) f[q][k] = fadd(f[q][k], times_word_spin(e.w, sw.w[k], shift));
    }
  }
  uint32_t bits = 0;
  for (int q = 0; q < kPackedGroup; ++q) {
    if (g.is_live(q)) {
      const int32_t i = g.node[q];
      const int32_t fc = a.field_col[i];
      for (int k = 0; k < K; ++k) {
        const int32_t chain = chain0 + kPackedLanes * k + static_cast<int32_t>(lane);
        float x = fadd(f[q][k], a.h[i]);
        if (fc >= 0 && chain < a.chains) x = fadd(x, a.field[fc * a.field_col_stride + static_cast<int64_t>(chain) * a.field_chain_stride]);
        if (a.act.gain) x = device_input(a.act, i, x);
        const float tb = a.chain_scale && chain < a.chains ? fmul(two_beta, a.chain_scale[chain]) : two_beta;
        bits |= static_cast<uint32_t>(gibbs_up(C, blk[k], g.rank0 + static_cast<uint32_t>(q), tb, x)) << (kPackedGroup * k + q);
      }
    }
  }
  return bits;
}

/// One group for the 32 K chains from chain0: the lanes draw their Philox blocks (Lanes::draw keeps
/// them when the group shares the previous group's block: under the `fast` contract two groups of
/// four share one Philox4x32-7 call), vote, and the new words are stored.
template <int K, RngContract C, class Lanes>
PBIT_HD void packed_group(const PackedArgs& a, uint32_t* S, int32_t chain0, Lanes& lanes, const PackedGroup* gp, uint32_t c,
                          uint32_t sweep, float two_beta) {
  const PackedGroup g = packed_group_load(gp);  // the same for every lane
  lanes.draw(C, a.key, static_cast<uint32_t>(chain0) + a.chain_offset, c, g.rank0, sweep);  // unsigned: first_chain may be near 2^32
  uint32_t m[K][kPackedGroup];
  lanes.vote(m, [&](uint32_t lane, const rng::Block (&blk)[K]) {
    return packed_lane_up<K, C>(a, S, g, lane, chain0, blk, two_beta);
  });
  for (int q = 0; q < kPackedGroup; ++q) {
    if (g.is_live(q)) lanes.store(S + static_cast<int64_t>(g.node[q]) * K, m, q);
  }
}

/// One color for the 32 K chains from chain0: member `member` of a team of `team` warps that share the
/// words takes every team-th pair of groups of the color (packed_groups); a pair is usually the
/// eight ranks of one `fast` Philox block. Lane l draws, for each of its K chains,
/// Philox(counter = (chain, color, rank / 4, sweep)) once per group and uses word rank % 4 (rng.hpp;
/// under the `fast` contract Philox4x32-7 of (chain, color, rank / 8, sweep) and half rank % 8),
/// exactly as the other backends do; the (up to) four nodes of a group are updated together
/// (packed_lane_up), which is allowed because nodes of one color never neighbour each other.
template <int K, RngContract C, class Lanes>
PBIT_HD void packed_color(const PackedArgs& a, uint32_t* S, int32_t chain0, Lanes& lanes, int32_t c, uint32_t sweep,
                          float two_beta, int32_t member, int32_t team) {
  const int32_t end = a.group_off[c + 1];
  lanes.forget();  // blocks are never kept across colors or members' shares
  for (int32_t k = a.group_off[c] + 2 * member; k < end; k += 2 * team) {
    packed_group<K, C>(a, S, chain0, lanes, a.groups + k, static_cast<uint32_t>(c), sweep, two_beta);
    if (k + 1 < end) packed_group<K, C>(a, S, chain0, lanes, a.groups + k + 1, static_cast<uint32_t>(c), sweep, two_beta);
  }
}

/// All sweeps of a stretch for the 32 K chains of words word0 .. word0 + K - 1, whose words are in S
/// ([node][K]). The lanes' team (the warps of a GPU block; a loop on the host) splits each color, and
/// a barrier separates the colors. The contract is a compile-time constant C (== a.contract; callers
/// dispatch on it), so a GPU kernel holds only its own contract's code.
template <int K, RngContract C, class Lanes>
PBIT_HD void packed_stretch(const PackedArgs& a, uint32_t* S, int32_t word0, Lanes& lanes) {
  const int32_t chain0 = kPackedLanes * word0;
  for (int64_t k = 0; k < a.nsweeps; ++k) {
    const auto sweep = static_cast<uint32_t>(a.first_sweep + k);
    const float two_beta = fmul(2.0f, a.betas[k]);
    for (int32_t c = 0; c < a.num_colors; ++c) {
      lanes.team([&](int32_t member, int32_t team) { packed_color<K, C>(a, S, chain0, lanes, c, sweep, two_beta, member, team); });
      lanes.sync();  // this color's words are written before the next color reads them
    }
  }
}

/// Which Philox blocks a lane holds: draw() skips the call when the next group needs the same ones
/// (the `fast` contract's block serves ranks 8 j .. 8 j + 7, i.e. two groups).
struct PackedDrawCache {
  uint32_t color = 0, slot = 0, sweep = 0;
  bool valid = false;
  /// True when the blocks for (color, rank, sweep) must be drawn; records them as held.
  PBIT_HD bool need(RngContract contract, uint32_t c, uint32_t rank, uint32_t s) {
    const uint32_t sl = contract == RngContract::fast ? rank >> 3 : rank >> 2;
    if (valid && c == color && sl == slot && s == sweep) return false;
    color = c, slot = sl, sweep = s, valid = true;
    return true;
  }
};

/// The host's stand-in for a GPU block: a team of `team_size` warps run one after another within a
/// color (any order gives the same result, as on the GPU), each warp's 32 lanes in a loop, each lane
/// with its own K Philox blocks.
template <int K>
struct HostLanes {
  int32_t team_size = 1;
  int64_t philox_calls = 0;  ///< per lane (for tests: the fast contract draws once per 8 ranks)
  rng::Block blk[kPackedLanes][K];
  PackedDrawCache cache;
  template <class F>
  void team(F&& f) {
    for (int32_t m = 0; m < team_size; ++m) f(m, team_size);
  }
  void forget() { cache.valid = false; }
  void draw(RngContract contract, rng::Key key, uint32_t chain0, uint32_t color, uint32_t rank, uint32_t sweep) {
    if (!cache.need(contract, color, rank, sweep)) return;
    ++philox_calls;
    for (uint32_t l = 0; l < kPackedLanes; ++l) {
      for (int k = 0; k < K; ++k) {
        blk[l][k] = gibbs_block(contract, key, chain0 + static_cast<uint32_t>(kPackedLanes * k + l), color, rank, sweep);
      }
    }
  }
  /// m[k][q] gets bit l = bit 4 k + q of lane l's decisions f(l, blocks of lane l).
  template <class F>
  void vote(uint32_t (&m)[K][kPackedGroup], F&& f) {
    for (auto& mk : m)
      for (uint32_t& x : mk) x = 0;
    for (uint32_t l = 0; l < kPackedLanes; ++l) {
      const uint32_t bits = f(l, blk[l]);
      for (int k = 0; k < K; ++k)
        for (int q = 0; q < kPackedGroup; ++q) m[k][q] |= ((bits >> (kPackedGroup * k + q)) & 1u) << l;
    }
  }
  /// The K new words of the group's slot q.
  void store(uint32_t* p, const uint32_t (&m)[K][kPackedGroup], int q) {
    for (int k = 0; k < K; ++k) p[k] = m[k][q];
  }
  void sync() {}
};

}  // namespace pbit::detail
