// CPU backend: OpenMP threads over blocks of W chains; SIMD across the W chains of a block.
//
// Layout: state is float +-1 in blocks [block][node][lane] (W = 16 lanes = one AVX-512 register), so
// the neighbour loop of one node loads one contiguous vector per neighbour and a block's whole state
// (N * 64 bytes; 270 KB for N = 4264) stays in L2 while the block runs all the sweeps of a stretch.
// One Philox call per lane serves four nodes of one color (rng.hpp), computed lane-parallel.
// Arithmetic follows detail/gibbs_math.hpp exactly, so chains are bit-identical to the reference.
// GCC 12 reports a false -Wmaybe-uninitialized inside its own AVX-512 intrinsic headers.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <new>

#include "gibbs_kernels.hpp"
#include "host_common.hpp"
#include "pbit/core/detail/gibbs_math.hpp"
#include "pbit/error.hpp"

namespace pbit::detail {
namespace {

constexpr int W = 16;
/// W floats, one AVX-512 register; 64-byte aligned.
typedef float vfloat __attribute__((vector_size(W * sizeof(float)), aligned(64)));

inline vfloat load(const float* p) { return *reinterpret_cast<const vfloat*>(p); }

template <class T>
struct AlignedAlloc {
  using value_type = T;
  AlignedAlloc() = default;
  template <class U>
  AlignedAlloc(const AlignedAlloc<U>&) {}
  T* allocate(size_t n) {
    void* p = std::aligned_alloc(64, ((n * sizeof(T) + 63) / 64) * 64);
    if (!p) throw OutOfMemory("cpu backend: " + std::to_string(n * sizeof(T)) + " bytes");
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) { std::free(p); }
  template <class U>
  bool operator==(const AlignedAlloc<U>&) const { return true; }
};
template <class T>
using avec = std::vector<T, AlignedAlloc<T>>;

#if defined(__AVX512F__)
// ---------------------------------------------------------------- AVX-512 path

/// The parts of a Philox counter that stay fixed across the steps of one color in one block and
/// sweep, prepared once: lane chain ids, color, sweep, and the key schedule.
struct PhiloxInit {
  __m512i chains[2];  ///< chain0 + 0..7 and chain0 + 8..15, one per 64-bit element
  __m512i color, sweep;
  uint64_t ks0[10], ks1[10];  ///< key schedule, broadcast from memory each round
  PhiloxInit(uint32_t chain0, uint32_t c, uint32_t sw, rng::Key key) {
    const __m512i lane = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
    chains[0] = _mm512_add_epi64(_mm512_set1_epi64(chain0), lane);
    chains[1] = _mm512_add_epi64(_mm512_set1_epi64(chain0 + 8u), lane);
    color = _mm512_set1_epi64(c);
    sweep = _mm512_set1_epi64(sw);
    uint32_t k0 = key.k0, k1 = key.k1;
    for (int r = 0; r < 10; ++r, k0 += 0x9E3779B9u, k1 += 0xBB67AE85u) {
      ks0[r] = k0;
      ks1[r] = k1;
    }
  }
};

/// Philox4x32-10 for 16 lanes and NG consecutive node groups: lane l of group j uses counter
/// (chain0 + l, color, c2 + j, sweep); out[4 * j + w] receives word w.
/// The 16 lanes are held as two halves of 8 lanes, each 32-bit word in the low half of a 64-bit
/// element, so vpmuludq gives the full 64-bit product in place: hi = product >> 32, lo = product
/// (its high half is garbage that vpmuludq and the final pack ignore). 6 single-uop instructions
/// per half per round; the NG * 2 independent chains are interleaved to hide the multiply latency.
template <int NG>
inline void philox_lanes(const PhiloxInit& in, uint32_t c2, uint32_t (&out)[4 * NG][W]) {
  constexpr int H = 2 * NG;  // halves
  __m512i x0[H], x1[H], x2[H], x3[H];
  for (int h = 0; h < H; ++h) {
    x0[h] = in.chains[h & 1];
    x1[h] = in.color;
    x2[h] = _mm512_set1_epi64(c2 + static_cast<uint32_t>(h >> 1));
    x3[h] = in.sweep;
  }
  const __m512i m0 = _mm512_set1_epi64(0xD2511F53u), m1 = _mm512_set1_epi64(0xCD9E8D57u);
  for (int r = 0; r < 10; ++r) {
    const __m512i kk0 = _mm512_set1_epi64(static_cast<int64_t>(in.ks0[r]));
    const __m512i kk1 = _mm512_set1_epi64(static_cast<int64_t>(in.ks1[r]));
    for (int h = 0; h < H; ++h) {
      const __m512i p0 = _mm512_mul_epu32(x0[h], m0);
      const __m512i p1 = _mm512_mul_epu32(x2[h], m1);
      x0[h] = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p1, 32), x1[h], kk0, 0x96);  // hi1 ^ x1 ^ k0
      x2[h] = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p0, 32), x3[h], kk1, 0x96);  // hi0 ^ x3 ^ k1
      x1[h] = p1;  // lo1 in the low half
      x3[h] = p0;  // lo0 in the low half
    }
  }
  // Pack the low halves of the two 8-lane halves into 16 lanes.
  const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  for (int j = 0; j < NG; ++j) {
    _mm512_store_si512(out[4 * j + 0], _mm512_permutex2var_epi32(x0[2 * j], evens, x0[2 * j + 1]));
    _mm512_store_si512(out[4 * j + 1], _mm512_permutex2var_epi32(x1[2 * j], evens, x1[2 * j + 1]));
    _mm512_store_si512(out[4 * j + 2], _mm512_permutex2var_epi32(x2[2 * j], evens, x2[2 * j + 1]));
    _mm512_store_si512(out[4 * j + 3], _mm512_permutex2var_epi32(x3[2 * j], evens, x3[2 * j + 1]));
  }
}

/// acc + w * s for spins s = +-1. The product is exact, so a fused multiply-add rounds exactly like
/// the reference's separate multiply and add: bit-identical, one instruction instead of two.
inline __m512 add_coupling(__m512 acc, float w, const float* s) {
  return _mm512_fmadd_ps(_mm512_set1_ps(w), _mm512_load_ps(s), acc);
}

/// The tail of gibbs_math.hpp for NQ vectors of 16 lanes, each step across all NQ (independent
/// chains interleaved). Bit-identical to the scalar contract:
///  - clamps: max/min equal the ternaries for finite x;
///  - k: vrndscaleps to nearest-even equals the 1.5*2^23 magic-number rounding;
///  - p * 2^k: vscalefps is exact here, as is the scalar multiply by the constructed power of two;
///  - u01(w) * (1 + e) < 1  <=>  float(w >> 8) * (1 + e) < 2^24 (scaling by 2^24 is exact).
template <int NQ>
inline void decide(__m512 (&x)[NQ], const uint32_t* const* words, float* const* dst) {
  __m512 k[NQ], r[NQ], p[NQ];
  for (int q = 0; q < NQ; ++q) x[q] = _mm512_min_ps(_mm512_max_ps(x[q], _mm512_set1_ps(-80.0f)), _mm512_set1_ps(80.0f));
  for (int q = 0; q < NQ; ++q) {
    k[q] = _mm512_roundscale_ps(_mm512_mul_ps(x[q], _mm512_set1_ps(1.44269504088896341f)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  for (int q = 0; q < NQ; ++q) r[q] = _mm512_fmadd_ps(k[q], _mm512_set1_ps(-0.693145751953125f), x[q]);
  for (int q = 0; q < NQ; ++q) r[q] = _mm512_fmadd_ps(k[q], _mm512_set1_ps(-1.42860682030941723212e-6f), r[q]);
  for (int q = 0; q < NQ; ++q) p[q] = _mm512_set1_ps(1.98412698412698413e-4f);
  for (const float c : {1.38888888888888889e-3f, 8.33333333333333333e-3f, 4.16666666666666667e-2f,
                        1.66666666666666667e-1f, 0.5f, 1.0f, 1.0f}) {
    for (int q = 0; q < NQ; ++q) p[q] = _mm512_fmadd_ps(p[q], r[q], _mm512_set1_ps(c));
  }
  const __m512 one = _mm512_set1_ps(1.0f), minus_one = _mm512_set1_ps(-1.0f), two24 = _mm512_set1_ps(16777216.0f);
  for (int q = 0; q < NQ; ++q) {
    const __m512 e = _mm512_scalef_ps(p[q], k[q]);
    const __m512 u = _mm512_cvtepi32_ps(_mm512_srli_epi32(_mm512_load_si512(words[q]), 8));
    const __mmask16 up = _mm512_cmp_ps_mask(_mm512_mul_ps(u, _mm512_add_ps(one, e)), two24, _CMP_LT_OQ);
    _mm512_store_ps(dst[q], _mm512_mask_blend_ps(up, minus_one, one));
  }
}

#else
// ---------------------------------------------------------------- portable path (any x86-64/ARM)

struct PhiloxInit {
  uint32_t chain0, color, sweep;
  rng::Key key;
  PhiloxInit(uint32_t c0, uint32_t c, uint32_t sw, rng::Key k) : chain0(c0), color(c), sweep(sw), key(k) {}
};

template <int NG>
inline void philox_lanes(const PhiloxInit& in, uint32_t c2, uint32_t (&out)[4 * NG][W]) {
  for (int j = 0; j < NG; ++j) {
    for (int l = 0; l < W; ++l) {
      const rng::Block b = rng::philox4x32_10(
          rng::Counter{in.chain0 + static_cast<uint32_t>(l), in.color, c2 + static_cast<uint32_t>(j), in.sweep}, in.key);
      out[4 * j + 0][l] = b.w0;
      out[4 * j + 1][l] = b.w1;
      out[4 * j + 2][l] = b.w2;
      out[4 * j + 3][l] = b.w3;
    }
  }
}

#endif

class CpuEngine final : public GibbsEngine {
 public:
  CpuEngine(const Graph& g, const Coloring& c, int32_t chains, const SamplerOptions& opt)
      : m_(g, c, chains, opt), nblk_((chains + W - 1) / W), threads_(opt.num_threads) {
    s_.assign(static_cast<size_t>(nblk_) * m_.n * W, 1.0f);
    build_steps();
  }

  void randomize_state(uint64_t seed) override {
    const rng::Key key = rng::make_key(seed, rng::kInitState);
    parallel_blocks([&](int32_t blk) {
      for (int l = 0; l < W; ++l) {
        const uint32_t b = static_cast<uint32_t>(blk * W + l);
        for (int32_t i = 0; i < m_.n; ++i) {
          const rng::Block x = rng::philox4x32_10(rng::init_counter(b, static_cast<uint32_t>(i)), key);
          at(blk, i)[l] = static_cast<float>(rng::init_spin(x, static_cast<uint32_t>(i)));
        }
      }
    });
  }
  void set_state(std::span<const int8_t> x) override {
    parallel_blocks([&](int32_t blk) {
      for (int l = 0; l < lanes(blk); ++l) {
        const size_t b = static_cast<size_t>(blk) * W + l;
        for (int32_t i = 0; i < m_.n; ++i) at(blk, i)[l] = x[b * m_.n + i];
      }
    });
  }
  void get_state(std::span<int8_t> x) const override {
    for (int32_t blk = 0; blk < nblk_; ++blk) {
      for (int l = 0; l < lanes(blk); ++l) {
        const size_t b = static_cast<size_t>(blk) * W + l;
        for (int32_t i = 0; i < m_.n; ++i) x[b * m_.n + i] = static_cast<int8_t>(cat(blk, i)[l]);
      }
    }
  }
  void set_clamp(std::span<const int32_t> nodes, std::span<const int8_t> values) override {
    m_.set_clamp(nodes, values);
    build_steps();
    apply_clamp();
  }
  void apply_clamp() override {
    const size_t k = m_.clamp_nodes.size();
    for (int32_t blk = 0; blk < nblk_; ++blk) {
      for (int l = 0; l < lanes(blk); ++l) {
        const size_t b = static_cast<size_t>(blk) * W + l;
        for (size_t q = 0; q < k; ++q) at(blk, m_.clamp_nodes[q])[l] = m_.clamp_values[b * k + q];
      }
    }
  }
  void set_field(std::span<const int32_t> nodes, std::span<const float> values) override {
    m_.set_field(nodes, values);
    // Transpose to [block][column][lane]; padding lanes get 0.
    f_.assign(static_cast<size_t>(nblk_) * m_.field_m * W, 0.0f);
    for (int32_t blk = 0; blk < nblk_; ++blk) {
      for (int l = 0; l < lanes(blk); ++l) {
        const size_t b = static_cast<size_t>(blk) * W + l;
        for (int32_t q = 0; q < m_.field_m; ++q) {
          f_[(static_cast<size_t>(blk) * m_.field_m + q) * W + l] = m_.field[b * m_.field_m + q];
        }
      }
    }
  }
  void set_weights(const Graph& g) override {
    m_.load_weights(g);
    build_steps();
  }

  void sweeps(uint64_t first_sweep, std::span<const float> betas) override {
    parallel_blocks([&](int32_t blk) {
      float* S = at(blk, 0);
      const float* F = m_.field_m > 0 ? f_.data() + static_cast<size_t>(blk) * m_.field_m * W : nullptr;
      const uint32_t chain0 = static_cast<uint32_t>(blk) * W;
      for (size_t k = 0; k < betas.size(); ++k) {
        const auto sweep = static_cast<uint32_t>(first_sweep + k);
        const float two_beta = 2.0f * betas[k];
        for (size_t c = 0; c < m_.classes.size(); ++c) {
          // Each step covers two Philox groups (up to 8 free nodes of this color): 8 independent
          // update chains in flight, one pointer walking the step's interleaved neighbour entries.
          const PhiloxInit pin(chain0, static_cast<uint32_t>(c), sweep, m_.key);
          for (const Step& st : steps_[c]) {
            alignas(64) uint32_t u[4 * kGroupsPerStep][W];
            philox_lanes<kGroupsPerStep>(pin, st.group, u);
            dispatch_step(S, F, st, u, two_beta);
          }
        }
      }
    });
  }

  void begin_observation(const ObserveConfig& cfg) override { obs_.begin(cfg, m_); }

  void observe(int64_t sample) override {
    const ObserveConfig& cfg = obs_.cfg;
    const int32_t ng = cfg.num_groups();
    const size_t ne = m_.edge_i.size();
#pragma omp parallel num_threads(nthreads())
    {
      std::vector<int64_t> node(cfg.moments ? m_.n : 0, 0), edge(cfg.moments ? ne : 0, 0);
#pragma omp for schedule(static)
      for (int32_t blk = 0; blk < nblk_; ++blk) {
        const int nl = lanes(blk);
        if (cfg.moments) {
          for (int32_t i = 0; i < m_.n; ++i) {
            const float* s = cat(blk, i);
            int64_t a = 0;
            for (int l = 0; l < nl; ++l) a += static_cast<int64_t>(s[l]);
            node[i] += a;
          }
          for (size_t e = 0; e < ne; ++e) {
            const float *si = cat(blk, m_.edge_i[e]), *sj = cat(blk, m_.edge_j[e]);
            int64_t a = 0;
            for (int l = 0; l < nl; ++l) a += static_cast<int64_t>(si[l] * sj[l]);
            edge[e] += a;
          }
        }
        if (cfg.energy) {
          double acc[W] = {};
          for (size_t e = 0; e < ne; ++e) {
            const float *si = cat(blk, m_.edge_i[e]), *sj = cat(blk, m_.edge_j[e]);
            const double w = m_.edge_w[e];
            for (int l = 0; l < W; ++l) acc[l] += w * static_cast<double>(si[l] * sj[l]);
          }
          for (int32_t i = 0; i < m_.n; ++i) {
            const float* si = cat(blk, i);
            const double hv = m_.h[i];
            for (int l = 0; l < W; ++l) acc[l] += hv * static_cast<double>(si[l]);
          }
          for (int l = 0; l < nl; ++l) obs_.energy[static_cast<size_t>(sample) * m_.chains + blk * W + l] = -acc[l];
        }
        for (int32_t g = 0; g < ng; ++g) {
          for (int l = 0; l < nl; ++l) {
            int64_t a = 0;
            for (int64_t q = cfg.group_offsets[g]; q < cfg.group_offsets[g + 1]; ++q) {
              a += static_cast<int64_t>(cat(blk, cfg.group_nodes[q])[l]);
            }
            obs_.readout_sum[(static_cast<size_t>(blk) * W + l) * ng + g] += a;
          }
        }
      }
      if (cfg.moments) {
#pragma omp critical
        {
          for (int32_t i = 0; i < m_.n; ++i) obs_.node_sum[i] += node[i];
          for (size_t e = 0; e < ne; ++e) obs_.edge_sum[e] += edge[e];
        }
      }
    }
  }

  void snapshot(int64_t slot) override {
    get_state(std::span<int8_t>(obs_.snapshots).subspan(static_cast<size_t>(slot) * m_.chains * m_.n,
                                                        static_cast<size_t>(m_.chains) * m_.n));
  }
  void end_observation(Observations& out) override { obs_.finish(out); }
  std::string describe() const override {
#if defined(__AVX512F__)
    const char* path = "AVX-512";
#else
    const char* path = "scalar";
#endif
    return "cpu (" + std::to_string(nthreads()) + " threads, " + std::to_string(W) + "-chain blocks, " + path + " path)";
  }

 private:
  float* at(int32_t blk, int32_t i) { return s_.data() + (static_cast<size_t>(blk) * m_.n + i) * W; }
  const float* cat(int32_t blk, int32_t i) const { return s_.data() + (static_cast<size_t>(blk) * m_.n + i) * W; }
  int lanes(int32_t blk) const { return std::min(W, m_.chains - blk * W); }
  int nthreads() const { return threads_ > 0 ? threads_ : omp_get_max_threads(); }

  template <class F>
  void parallel_blocks(F&& f) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads())
    for (int32_t blk = 0; blk < nblk_; ++blk) f(blk);
  }

  static constexpr int kGroupsPerStep = 2;
  static constexpr int kStepNodes = 4 * kGroupsPerStep;

  /// A neighbour term: float offset of the neighbour's lanes in a block (column * W) and J.
  struct Entry {
    uint32_t off;
    float w;
  };
  /// Up to kStepNodes free nodes of one color, from Philox groups group .. group + kGroupsPerStep - 1.
  /// Their neighbour terms are interleaved (term t of node q at entry + t * na + q); rows shorter than
  /// `len` are padded with J = 0 terms, which leave the sum unchanged (x + 0 * s == x, and a zero
  /// field's sign does not change exp(-0) = exp(+0)).
  struct Step {
    uint32_t group = 0;
    int32_t na = 0;
    int32_t node[kStepNodes] = {};
    int32_t slot[kStepNodes] = {};  ///< which of the step's 4 * kGroupsPerStep uniforms node q uses
    int64_t len = 0;
    int64_t entry = 0;
  };

  /// Rebuilt whenever clamps or weights change.
  void build_steps() {
    steps_.assign(m_.classes.size(), {});
    entries_.clear();
    for (size_t c = 0; c < m_.classes.size(); ++c) {
      const std::vector<int32_t>& nodes = m_.classes[c];
      for (size_t g = 0; 4 * g < nodes.size(); g += kGroupsPerStep) {
        Step st;
        st.group = static_cast<uint32_t>(g);
        for (size_t q = 0; q < kStepNodes && 4 * g + q < nodes.size(); ++q) {
          const int32_t i = nodes[4 * g + q];
          if (m_.clamped[i]) continue;
          st.node[st.na] = i;
          st.slot[st.na++] = static_cast<int32_t>(q);
          st.len = std::max<int64_t>(st.len, m_.row_ptr[i + 1] - m_.row_ptr[i]);
        }
        if (st.na == 0) continue;
        st.entry = static_cast<int64_t>(entries_.size());
        for (int64_t t = 0; t < st.len; ++t) {
          for (int q = 0; q < st.na; ++q) {
            const int32_t i = st.node[q];
            const int64_t k = m_.row_ptr[i] + t;
            entries_.push_back(k < m_.row_ptr[i + 1] ? Entry{static_cast<uint32_t>(m_.col[k]) * W, m_.w[k]} : Entry{0u, 0.0f});
          }
        }
        steps_[c].push_back(st);
      }
    }
  }

  void dispatch_step(float* S, const float* F, const Step& st, const uint32_t (&u)[kStepNodes][W], float two_beta) {
    switch (st.na) {
      case 8: if constexpr (kStepNodes >= 8) update_step<8>(S, F, st, u, two_beta); break;
      case 7: if constexpr (kStepNodes >= 8) update_step<7>(S, F, st, u, two_beta); break;
      case 6: if constexpr (kStepNodes >= 8) update_step<6>(S, F, st, u, two_beta); break;
      case 5: if constexpr (kStepNodes >= 8) update_step<5>(S, F, st, u, two_beta); break;
      case 4: update_step<4>(S, F, st, u, two_beta); break;
      case 3: update_step<3>(S, F, st, u, two_beta); break;
      case 2: update_step<2>(S, F, st, u, two_beta); break;
      case 1: update_step<1>(S, F, st, u, two_beta); break;
      default: break;
    }
  }

  // The NQ nodes of a step for W chains. Each node's field is summed in its own CSR order, as in the
  // reference, with the NQ sums interleaved so that their add chains overlap.
  template <int NQ>
  void update_step(float* __restrict S, const float* __restrict F, const Step& st,
                   const uint32_t (&u)[kStepNodes][W], float two_beta) {
    const Entry* __restrict e = entries_.data() + st.entry;
    const uint32_t* words[NQ];
    for (int q = 0; q < NQ; ++q) words[q] = u[st.slot[q]];
#if defined(__AVX512F__)
    __m512 acc[NQ];
    for (int q = 0; q < NQ; ++q) acc[q] = _mm512_setzero_ps();
    for (int64_t t = 0; t < st.len; ++t, e += NQ) {
      for (int q = 0; q < NQ; ++q) acc[q] = add_coupling(acc[q], e[q].w, S + e[q].off);
    }
    // x = -(2 beta) * ((acc + h) + f), the exponent of e (gibbs_math.hpp).
    float* dst[NQ];
    const __m512 m2b = _mm512_set1_ps(-two_beta);  // (-a) * b == -(a * b) exactly: RN is sign-symmetric
    for (int q = 0; q < NQ; ++q) {
      const int32_t i = st.node[q];
      __m512 f = _mm512_add_ps(acc[q], _mm512_set1_ps(m_.h[i]));
      const int32_t fc = m_.field_col[i];
      if (fc >= 0 && F) f = _mm512_add_ps(f, _mm512_load_ps(F + static_cast<size_t>(fc) * W));
      acc[q] = _mm512_mul_ps(m2b, f);
      dst[q] = S + static_cast<size_t>(i) * W;
    }
    decide<NQ>(acc, words, dst);
#else
    vfloat acc[NQ] = {};
    for (int64_t t = 0; t < st.len; ++t, e += NQ) {
      for (int q = 0; q < NQ; ++q) acc[q] = acc[q] + e[q].w * load(S + e[q].off);
    }
    for (int q = 0; q < NQ; ++q) {
      const int32_t i = st.node[q];
      vfloat f = acc[q] + m_.h[i];
      const int32_t fc = m_.field_col[i];
      if (fc >= 0 && F) f = f + load(F + static_cast<size_t>(fc) * W);
      float* si = S + static_cast<size_t>(i) * W;
      for (int l = 0; l < W; ++l) si[l] = gibbs_spin(words[q][l], two_beta, f[l]);
    }
#endif
  }

  HostModel m_;
  int32_t nblk_;
  int threads_;
  std::vector<std::vector<Step>> steps_;  ///< per color
  std::vector<Entry> entries_;
  avec<float> s_;  ///< [block][node][lane]
  avec<float> f_;  ///< [block][field column][lane]
  HostObservation obs_;
};

}  // namespace

std::unique_ptr<GibbsEngine> make_cpu_engine(const Graph& g, const Coloring& c, int32_t chains,
                                             const SamplerOptions& opt) {
  return std::make_unique<CpuEngine>(g, c, chains, opt);
}

}  // namespace pbit::detail
