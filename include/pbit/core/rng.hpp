// Counter-based randomness shared by every backend (host and device).
//
// Philox4x32-10 (Salmon et al., SC'11). The key is (seed, stream id); the counter is the logical
// identity of the draw, never a thread index. For Gibbs updates the counter is
//   (chain, color, rank_in_color / 4, sweep)   and the word used is rank_in_color % 4,
// where rank_in_color is the node's position in its color class (classes sorted by node id).
// One Philox call thus serves four nodes of one color in one chain, and every backend, whatever its
// thread layout, draws exactly the same uniform for a given (seed, stream, chain, node, sweep).
// That is the `exact` contract; the opt-in `fast` contract (RngContract, gibbs_math.hpp) uses
// Philox4x32-7 with counter (chain, color, rank_in_color / 8, sweep) and 16 bits per node.
#pragma once
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#if defined(__CUDACC__)
#define PBIT_HD __host__ __device__ __forceinline__
#else
#define PBIT_HD inline
#endif

namespace pbit {

/// How a Gibbs update turns randomness into a decision (SamplerOptions::contract). Every backend
/// implements both, bit for bit; a run is reproducible under either, and the two give different
/// (equally valid) chains.
///  - exact: Philox4x32-10, one call per 4 nodes, 24-bit uniforms, exp_det (the default).
///  - fast:  Philox4x32-7, one call per 8 nodes, 16-bit uniforms, exp_fast: each flip probability
///           within 8.6e-6 of sigmoid(2 beta I) (detail/gibbs_math.hpp), for kernels whose budget
///           random numbers and exp dominate.
enum class RngContract : uint32_t { exact = 0, fast = 1 };

}  // namespace pbit

namespace pbit::rng {

/// Stream ids: one per independent use of randomness. Every id pbit uses is declared in this file
/// and nowhere else: the named streams below, and one block per model family (StreamRange), from
/// which a family derives its ids with its own function here. The test RngStreams.NoTwoUsesCollide
/// checks that no two of them overlap, and that no library source picks an id of its own.
enum Stream : uint32_t {
  kGibbs = 1,            ///< Gibbs update uniforms
  kInitState = 2,        ///< random initial spin states
  kGraphGen = 3,         ///< random graph generators (random regular, ...)
  kRolePlacement = 4,    ///< node-role permutations
  kWeightInit = 5,       ///< model weight initialisation
  kDataShuffle = 6,      ///< minibatch order
  kForwardNoise = 7,     ///< DTM forward process
  kCompareWorkload = 8,  ///< random inputs of the comparison suite's workloads
  kTest = 100,           ///< reserved for tests; never used by the library
  kProjection = 101,     ///< random projections of the metrics (autocorrelation for ACP)
};

/// A block of stream ids owned by one user: [first, first + size).
struct StreamRange {
  const char* owner;
  uint32_t first, size;
  constexpr bool contains(uint32_t id) const { return id >= first && id - first < size; }
};

/// The blocks: the two existing families keep the ids they always used (so their results do not
/// change); families to come get blocks of 2^16 from 2^20 on.
constexpr StreamRange kDbmStreams{"sparse DBM", 1000, 100};
constexpr StreamRange kDtmStreams{"DTM", 2000, 4u * 65536u};
constexpr StreamRange kEqPropStreams{"equilibrium propagation", 1u << 20, 1u << 16};
constexpr StreamRange kPdnnStreams{"p-DNN", 2u << 20, 1u << 16};
constexpr StreamRange kHardwareStreams{"imperfect hardware", 3u << 20, 1u << 16};
constexpr StreamRange kTemperingStreams{"parallel tempering", 4u << 20, 1u << 16};

/// The sparse DBM's samplers.
enum class DbmPhase : uint32_t { positive = 1, negative = 2, eval = 3, generate = 4 };
PBIT_HD uint32_t dbm_stream(DbmPhase p) { return kDbmStreams.first + static_cast<uint32_t>(p); }
/// A DBM training sampler's stream in era `era` (positive or negative phase). Its chains persist over
/// the run while its sweep count, the RNG counter's sweep field, holds at most 2^32 - 1 sweeps: the
/// paper's recipe (10^5 negative sweeps an update, 120,000 updates) needs 1.2e10. A sampler that
/// would pass it goes on from its chains' state in the next era, keyed by that era's stream, its
/// count started again; era 0 is the phase's own stream, so a run within one era is unchanged.
constexpr uint32_t kDbmMaxEras = 40;
PBIT_HD uint32_t dbm_training_stream(DbmPhase p, uint32_t era) {
  return era == 0 ? dbm_stream(p) : kDbmStreams.first + 10u + 2u * (era - 1u) + (p == DbmPhase::negative ? 1u : 0u);
}

/// The DTM's samplers: four per step t (1 .. 65535).
enum class DtmPhase : uint32_t { positive = 0, negative = 1, acp = 2, generate = 3 };
PBIT_HD uint32_t dtm_stream(uint32_t step, DtmPhase p) { return kDtmStreams.first + 4u * step + static_cast<uint32_t>(p); }
constexpr uint32_t kDtmMaxSteps = 65535;

/// Equilibrium propagation: the training sampler, the evaluation sampler, the data order, the
/// weight initialisation, the ideal sampler of physics-aware training (its nudged phases).
enum class EqPropUse : uint32_t { train = 1, eval = 2, shuffle = 3, init = 4, pat = 5 };
PBIT_HD uint32_t eqprop_stream(EqPropUse u) { return kEqPropStreams.first + static_cast<uint32_t>(u); }

/// p-DNNs: evaluation samples, training samples, weight initialisation, data order, the benchmark's
/// random inputs, the generator's latent noise in training (reparameterisation) and in generation.
enum class PdnnUse : uint32_t { eval = 1, train = 2, init = 3, shuffle = 4, bench = 5, latent = 6, generate = 7 };
PBIT_HD uint32_t pdnn_stream(PdnnUse u) { return kPdnnStreams.first + static_cast<uint32_t>(u); }

/// Imperfect hardware (core/hardware_model.hpp): the draw of a device instance (per-p-bit gains,
/// offsets, stuck bits), the seeds of the per-p-bit LFSRs (detail/lfsr.hpp).
enum class HardwareUse : uint32_t { device = 1, lfsr = 2 };
PBIT_HD uint32_t hardware_stream(HardwareUse u) { return kHardwareStreams.first + static_cast<uint32_t>(u); }

/// Parallel tempering (core/tempering.hpp): the swap decisions.
enum class TemperingUse : uint32_t { swap = 1 };
PBIT_HD uint32_t tempering_stream(TemperingUse u) { return kTemperingStreams.first + static_cast<uint32_t>(u); }

struct Key {
  uint32_t k0, k1;
};
struct Counter {
  uint32_t c0, c1, c2, c3;
};
struct Block {
  uint32_t w0, w1, w2, w3;
};

/// Key for (seed, stream). Distinct streams of one seed always get distinct keys (the multiplier is
/// odd, so stream -> stream*W is a bijection on 32 bits).
PBIT_HD Key make_key(uint64_t seed, uint32_t stream) {
  return Key{static_cast<uint32_t>(seed),
             static_cast<uint32_t>(seed >> 32) ^ (stream * 0x9E3779B9u)};
}

PBIT_HD void mulhilo32(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t p = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}

/// Philox4x32 with R rounds (Salmon et al. 2011; 7 is the fewest they found to pass BigCrush, 10 the
/// default with a safety margin).
template <int R>
PBIT_HD Block philox4x32(Counter c, Key k) {
  uint32_t x0 = c.c0, x1 = c.c1, x2 = c.c2, x3 = c.c3;
  uint32_t k0 = k.k0, k1 = k.k1;
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
  for (int r = 0; r < R; ++r) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo32(0xD2511F53u, x0, hi0, lo0);
    mulhilo32(0xCD9E8D57u, x2, hi1, lo1);
    const uint32_t y0 = hi1 ^ x1 ^ k0;
    const uint32_t y2 = hi0 ^ x3 ^ k1;
    x0 = y0;
    x1 = lo1;
    x2 = y2;
    x3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Block{x0, x1, x2, x3};
}

/// Philox4x32 with 10 rounds; matches the Random123 known-answer vectors.
PBIT_HD Block philox4x32_10(Counter c, Key k) { return philox4x32<10>(c, k); }
/// Philox4x32 with 7 rounds: the `fast` contract's generator; matches Random123's philox4x32_7.
PBIT_HD Block philox4x32_7(Counter c, Key k) { return philox4x32<7>(c, k); }

PBIT_HD uint32_t word(const Block& b, uint32_t i) {
  return i == 0 ? b.w0 : i == 1 ? b.w1 : i == 2 ? b.w2 : b.w3;
}

/// A 24-bit uniform in [0, 1): exactly representable, identical on host and device.
PBIT_HD float u01(uint32_t x) { return static_cast<float>(x >> 8) * 0x1p-24f; }

/// The Gibbs-update counter (see the file comment).
PBIT_HD Counter gibbs_counter(uint32_t chain, uint32_t color, uint32_t rank_in_color, uint32_t sweep) {
  return Counter{chain, color, rank_in_color >> 2, sweep};
}

/// The `fast` contract's Gibbs counter: one Philox4x32-7 call serves eight nodes of one color, so the
/// counter holds rank_in_color / 8, and the node of rank r uses the 16-bit half fast_half(block, r).
PBIT_HD Counter fast_gibbs_counter(uint32_t chain, uint32_t color, uint32_t rank_in_color, uint32_t sweep) {
  return Counter{chain, color, rank_in_color >> 3, sweep};
}

/// The 16 bits of a `fast` block that the node of rank r uses: half r % 2 (low first) of word
/// (r % 8) / 2.
PBIT_HD uint32_t fast_half(const Block& b, uint32_t rank_in_color) {
  return (word(b, (rank_in_color & 7u) >> 1) >> ((rank_in_color & 1u) << 4)) & 0xffffu;
}

/// The initial-state counter: (chain, node / 4, sweep, stream ^ kGibbs), `sweep` the chains' sweep
/// count when they are drawn (0 for a new sampler) and `stream` the sampler's Gibbs stream, so
/// samplers on different streams start from different states (the default stream's word is 0); the
/// spin is the top bit of word node % 4.
PBIT_HD Counter init_counter(uint32_t chain, uint32_t node, uint32_t sweep = 0, uint32_t stream = kGibbs) {
  return Counter{chain, node >> 2, sweep, stream ^ static_cast<uint32_t>(kGibbs)};
}

/// Initial spin from the init-stream block: +1 when the top bit is set, so P(+1) = 1/2 exactly.
PBIT_HD int init_spin(const Block& b, uint32_t node) { return (word(b, node & 3u) >> 31) ? 1 : -1; }

}  // namespace pbit::rng

namespace pbit::rng {

/// Sequential generator for host-side setup work (graph generators, permutations, weight init):
/// block k of stream `stream` is Philox(counter = (k_lo, k_hi, tag, 0), key(seed, stream)).
class PhiloxStream {
 public:
  PhiloxStream(uint64_t seed, uint32_t stream, uint32_t tag = 0) : key_(make_key(seed, stream)), tag_(tag) {}
  uint32_t next_u32() {
    if (pos_ == 4) {
      buf_ = philox4x32_10(Counter{static_cast<uint32_t>(block_), static_cast<uint32_t>(block_ >> 32), tag_, 0u}, key_);
      ++block_;
      pos_ = 0;
    }
    return word(buf_, pos_++);
  }
  /// Uniform integer in [0, n), n >= 1, without modulo bias (Lemire's method with rejection).
  uint32_t uniform_int(uint32_t n) {
    uint64_t m = static_cast<uint64_t>(next_u32()) * n;
    uint32_t lo = static_cast<uint32_t>(m);
    if (lo < n) {
      const uint32_t t = static_cast<uint32_t>(-n) % n;
      while (lo < t) {
        m = static_cast<uint64_t>(next_u32()) * n;
        lo = static_cast<uint32_t>(m);
      }
    }
    return static_cast<uint32_t>(m >> 32);
  }
  /// Uniform double in [0, 1) with 53 random bits.
  double uniform() {
    const uint64_t hi = next_u32() >> 5, lo = next_u32() >> 6;
    return static_cast<double>((hi << 26) | lo) * 0x1p-53;
  }
  /// Standard normal (Box-Muller).
  double normal();
  /// Shuffles v in place (Fisher-Yates from the back: v[i] swaps with v[uniform_int(i + 1)] for
  /// i = size - 1 down to 1), e.g. a training epoch's order keyed by (seed, stream, epoch).
  template <class T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[uniform_int(static_cast<uint32_t>(i))]);
  }

 private:
  Key key_;
  uint32_t tag_;
  uint64_t block_ = 0;
  Block buf_{};
  uint32_t pos_ = 4;
};

}  // namespace pbit::rng
