// CPU backend: OpenMP threads over blocks of W chains; SIMD across the W chains of a block.
//
// Written once for any vector width with GCC/Clang vector extensions, and compiled once per target
// (CMake: kernels/cpu/gibbs_kernels.cpp three times with PBIT_CPU_LEVEL 3, 2, 1, into the namespaces
// cpu_avx512 / cpu_avx2 / cpu_generic), with W = the target's register width in floats: 16 (AVX-512,
// x86-64-v4), 8 (AVX2 + FMA, x86-64-v3), 4 (SSE2, any x86-64; level 0, plain C++, elsewhere).
// kernels/cpu/dispatch.cpp picks the widest one the CPU runs, at run time (SamplerOptions::cpu_isa
// or PBIT_CPU_ISA override it). Only two operations need the target's own instructions, the
// 32x32->64 multiply of Philox and the fused multiply-add; everything else is plain vector arithmetic
// that every target rounds the same way.
//
// The target is set with #pragma GCC target after every #include, not with -march for the file:
// inline functions of headers (the standard library's, HostModel's) then keep the baseline target,
// so the copy the linker keeps of each can run on any CPU; only this file's own functions use the
// wider instructions, and they run only where the dispatcher found them.
//
// Layout: state is float +-1 in blocks [block][node][lane], so the neighbour loop of one node loads
// one contiguous vector per neighbour, and a block's state (N * 4 W bytes; 270 KB for N = 4264 at
// W = 16) stays in L2 while the block runs all the sweeps of a stretch. One Philox call per lane
// serves four nodes of one color (rng.hpp), computed lane-parallel. Arithmetic follows
// detail/gibbs_math.hpp exactly, so chains are bit-identical to the reference whatever W is.
// GCC 12 reports a false -W(maybe-)uninitialized inside its own intrinsic headers (their
// "__m512 __Y = __Y" for an undefined register), depending on what it inlines. (Clang knows neither
// -Wmaybe-uninitialized nor -Wpsabi, so the pragmas are GCC's only.)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wpsabi"  // vectors wider than the baseline passed between this file's functions
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#include <omp.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

#include "gibbs_kernels.hpp"
#include "host_common.hpp"
#include "pbit/core/detail/gibbs_math.hpp"
#include "pbit/error.hpp"
#include "util/parallel_for.hpp"
#include "util/threads.hpp"

#ifndef PBIT_CPU_NS
#error "compile with PBIT_CPU_NS and PBIT_CPU_LEVEL (CMakeLists.txt)"
#endif
#if PBIT_CPU_LEVEL >= 1 && !(defined(__x86_64__) || defined(__i386__))
#error "PBIT_CPU_LEVEL >= 1 is for x86-64"
#endif

#if PBIT_CPU_LEVEL == 3
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v4")
#elif PBIT_CPU_LEVEL == 2
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v3")
#endif

namespace pbit::detail::PBIT_CPU_NS {
namespace {

/// Chains per block: 16 on every path, so the per-neighbour work (an entry load, a broadcast)
/// serves 16 chains; a block's vectors are N registers of NL lanes each.
constexpr int W = 16;
#if PBIT_CPU_LEVEL == 3
constexpr int NL = 16;
constexpr const char* kIsa = "AVX-512";
#elif PBIT_CPU_LEVEL == 2
constexpr int NL = 8;
constexpr const char* kIsa = "AVX2";
#elif PBIT_CPU_LEVEL == 1
constexpr int NL = 4;
constexpr const char* kIsa = "SSE2";
#else
constexpr int NL = 4;
constexpr const char* kIsa = "portable C++";
#endif
constexpr int N = W / NL;

/// One register of the target: NL lanes of float / uint32 / int32, or NL / 2 lanes of uint64.
/// may_alias, like the intrinsics' __m512 and __m256: they load and store the state's float arrays.
typedef float vfloat __attribute__((vector_size(NL * 4), __may_alias__));
typedef uint32_t vu32 __attribute__((vector_size(NL * 4), __may_alias__));
typedef int32_t vi32 __attribute__((vector_size(NL * 4), __may_alias__));
typedef uint64_t vu64 __attribute__((vector_size(NL * 4), __may_alias__));

inline vfloat load(const float* p) { return *reinterpret_cast<const vfloat*>(p); }
/// x in every lane (a broadcast; 0 + x would turn -0 into +0 and cost an add).
template <size_t... I>
inline vfloat splat(float x, std::index_sequence<I...>) {
  const vfloat v = {x};
  return __builtin_shufflevector(v, v, (I * 0)...);
}
inline vfloat splat(float x) { return splat(x, std::make_index_sequence<NL>{}); }

/// x < lo ? lo : x and x > hi ? hi : x, lane-wise, NaN kept (as the scalar contract): vmaxps and
/// vminps return their second operand when either is NaN.
inline vfloat clamp_low(vfloat x, float lo) {
#if PBIT_CPU_LEVEL == 3
  return reinterpret_cast<vfloat>(_mm512_max_ps(reinterpret_cast<__m512>(splat(lo)), reinterpret_cast<__m512>(x)));
#elif PBIT_CPU_LEVEL == 2
  return reinterpret_cast<vfloat>(_mm256_max_ps(reinterpret_cast<__m256>(splat(lo)), reinterpret_cast<__m256>(x)));
#elif PBIT_CPU_LEVEL == 1
  return reinterpret_cast<vfloat>(_mm_max_ps(reinterpret_cast<__m128>(splat(lo)), reinterpret_cast<__m128>(x)));
#else
  return x < lo ? splat(lo) : x;
#endif
}
inline vfloat clamp_high(vfloat x, float hi) {
#if PBIT_CPU_LEVEL == 3
  return reinterpret_cast<vfloat>(_mm512_min_ps(reinterpret_cast<__m512>(splat(hi)), reinterpret_cast<__m512>(x)));
#elif PBIT_CPU_LEVEL == 2
  return reinterpret_cast<vfloat>(_mm256_min_ps(reinterpret_cast<__m256>(splat(hi)), reinterpret_cast<__m256>(x)));
#elif PBIT_CPU_LEVEL == 1
  return reinterpret_cast<vfloat>(_mm_min_ps(reinterpret_cast<__m128>(splat(hi)), reinterpret_cast<__m128>(x)));
#else
  return x > hi ? splat(hi) : x;
#endif
}

/// round(v) to nearest even for |v| < 2^22: one instruction where there is one, else the scalar
/// contract's (v + 1.5 * 2^23) - 1.5 * 2^23, which gives the same value.
inline vfloat round_even(vfloat v) {
#if PBIT_CPU_LEVEL == 3
  return reinterpret_cast<vfloat>(_mm512_roundscale_ps(reinterpret_cast<__m512>(v), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
#elif PBIT_CPU_LEVEL == 2
  return reinterpret_cast<vfloat>(_mm256_round_ps(reinterpret_cast<__m256>(v), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
#else
  const vfloat magic = splat(12582912.0f);
  return (v + magic) - magic;
#endif
}

/// p * 2^k for integral k in [-126, 127]: exact, like the scalar multiply by the constructed power.
inline vfloat times_pow2(vfloat p, vfloat k) {
#if PBIT_CPU_LEVEL == 3
  return reinterpret_cast<vfloat>(_mm512_scalef_ps(reinterpret_cast<__m512>(p), reinterpret_cast<__m512>(k)));
#else
  const vi32 ki = __builtin_convertvector(k, vi32);  // k is integral: exact
  return p * reinterpret_cast<vfloat>((ki + 127) << 23);
#endif
}

/// a ^ b ^ c in one instruction where there is one (vpternlogq), which GCC does not always find in
/// the vector-extension expression.
inline vu64 xor3(vu64 a, vu64 b, vu64 c) {
#if PBIT_CPU_LEVEL == 3
  return reinterpret_cast<vu64>(_mm512_ternarylogic_epi64(reinterpret_cast<__m512i>(a), reinterpret_cast<__m512i>(b),
                                                          reinterpret_cast<__m512i>(c), 0x96));
#else
  return a ^ b ^ c;
#endif
}

/// The sign bits of the W lanes at p, bit l for lane l: for spins +-1, the lanes that hold -1.
inline uint32_t sign_mask(const float* p) {
  uint32_t m = 0;
  for (int k = 0; k < N; ++k) {
#if PBIT_CPU_LEVEL == 3
    const uint32_t r = _mm512_movepi32_mask(_mm512_castps_si512(_mm512_load_ps(p + k * NL)));
#elif PBIT_CPU_LEVEL == 2
    const uint32_t r = static_cast<uint32_t>(_mm256_movemask_ps(_mm256_load_ps(p + k * NL)));
#elif PBIT_CPU_LEVEL == 1
    const uint32_t r = static_cast<uint32_t>(_mm_movemask_ps(_mm_load_ps(p + k * NL)));
#else
    uint32_t r = 0;
    for (int l = 0; l < NL; ++l) r |= static_cast<uint32_t>(std::signbit(p[k * NL + l])) << l;
#endif
    m |= r << (k * NL);
  }
  return m;
}

/// Lane-wise (a & 0xffffffff) * (b & 0xffffffff) as 64-bit products: vpmuludq. Vector extensions
/// would turn the widening multiply into a full 64-bit one (vpmullq, or three pmuludq).
inline vu64 mul_lo32(vu64 a, vu64 b) {
#if PBIT_CPU_LEVEL == 3
  return reinterpret_cast<vu64>(_mm512_mul_epu32(reinterpret_cast<__m512i>(a), reinterpret_cast<__m512i>(b)));
#elif PBIT_CPU_LEVEL == 2
  return reinterpret_cast<vu64>(_mm256_mul_epu32(reinterpret_cast<__m256i>(a), reinterpret_cast<__m256i>(b)));
#elif PBIT_CPU_LEVEL == 1
  return reinterpret_cast<vu64>(_mm_mul_epu32(reinterpret_cast<__m128i>(a), reinterpret_cast<__m128i>(b)));
#else
  return (a & 0xffffffffull) * (b & 0xffffffffull);
#endif
}

/// a * b + c with one rounding (ffma of gibbs_math.hpp, lane-wise).
inline vfloat fma_v(vfloat a, vfloat b, vfloat c) {
#if PBIT_CPU_LEVEL == 3
  return reinterpret_cast<vfloat>(_mm512_fmadd_ps(reinterpret_cast<__m512>(a), reinterpret_cast<__m512>(b), reinterpret_cast<__m512>(c)));
#elif PBIT_CPU_LEVEL == 2
  return reinterpret_cast<vfloat>(_mm256_fmadd_ps(reinterpret_cast<__m256>(a), reinterpret_cast<__m256>(b), reinterpret_cast<__m256>(c)));
#else
  vfloat r;
  for (int l = 0; l < NL; ++l) r[l] = std::fma(a[l], b[l], c[l]);
  return r;
#endif
}

/// The low 32 bits of each 64-bit lane of a and then of b, as NL 32-bit lanes.
template <size_t... I>
inline vu32 pack_low(vu64 a, vu64 b, std::index_sequence<I...>) {
  return __builtin_shufflevector(reinterpret_cast<vu32>(a), reinterpret_cast<vu32>(b), (2 * I)...);
}
inline vu32 pack_low(vu64 a, vu64 b) { return pack_low(a, b, std::make_index_sequence<NL>{}); }

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

/// The parts of a Philox counter that stay fixed across the steps of one color in one block and
/// sweep, prepared once: the lanes' chain ids (2N registers of NL / 2 lanes, each 32-bit value in the
/// low half of a 64-bit lane), color, sweep, and the key schedule.
struct PhiloxInit {
  static constexpr int H = 2 * N;  // registers per group
  vu64 chains[H];
  vu64 color, sweep;
  uint64_t ks0[10], ks1[10];
  PhiloxInit(uint32_t chain0, uint32_t c, uint32_t sw, rng::Key key) {
    for (int h = 0; h < H; ++h)
      for (int l = 0; l < NL / 2; ++l) chains[h][l] = chain0 + static_cast<uint32_t>(h * (NL / 2) + l);
    color = vu64{} + c;
    sweep = vu64{} + sw;
    uint32_t k0 = key.k0, k1 = key.k1;
    for (int r = 0; r < 10; ++r, k0 += 0x9E3779B9u, k1 += 0xBB67AE85u) {
      ks0[r] = k0;
      ks1[r] = k1;
    }
  }
};

/// Philox4x32-R (10: the exact contract, 7: fast) for W lanes and NG consecutive node groups: lane l
/// of group j uses counter (chain0 + l, color, c2 + j, sweep); out[4 * j + w] receives word w. Each register keeps NL / 2
/// lanes' 32-bit words in the low halves of 64-bit lanes, so the widening multiply gives hi = product
/// >> 32 and lo = product in place (the high halves' garbage is ignored by the multiply and the final
/// pack). The NG * 2N independent registers are interleaved to hide the multiply latency.
template <int NG, int R = 10>
inline void philox_lanes(const PhiloxInit& in, uint32_t c2, uint32_t (&out)[4 * NG][W]) {
  static_assert(R <= 10, "PhiloxInit holds ten rounds of keys");
  constexpr int H = PhiloxInit::H, NR = NG * H;
  vu64 x0[NR], x1[NR], x2[NR], x3[NR];
  for (int j = 0; j < NG; ++j)
    for (int h = 0; h < H; ++h) {
      x0[j * H + h] = in.chains[h];
      x1[j * H + h] = in.color;
      x2[j * H + h] = vu64{} + (c2 + static_cast<uint32_t>(j));
      x3[j * H + h] = in.sweep;
    }
  const vu64 m0 = vu64{} + 0xD2511F53u, m1 = vu64{} + 0xCD9E8D57u;
#pragma GCC unroll 10  // unrolled, the rounds' register rotation costs no moves
  for (int r = 0; r < R; ++r) {
    const vu64 kk0 = vu64{} + in.ks0[r], kk1 = vu64{} + in.ks1[r];
    for (int h = 0; h < NR; ++h) {
      const vu64 p0 = mul_lo32(x0[h], m0);
      const vu64 p1 = mul_lo32(x2[h], m1);
      x0[h] = xor3(p1 >> 32, x1[h], kk0);  // hi1 ^ x1 ^ k0
      x2[h] = xor3(p0 >> 32, x3[h], kk1);  // hi0 ^ x3 ^ k1
      x1[h] = p1;                         // lo1 in the low half
      x3[h] = p0;                         // lo0 in the low half
    }
  }
  for (int j = 0; j < NG; ++j)
    for (int k = 0; k < N; ++k) {
      const int h = j * H + 2 * k;
      *reinterpret_cast<vu32*>(out[4 * j + 0] + k * NL) = pack_low(x0[h], x0[h + 1]);
      *reinterpret_cast<vu32*>(out[4 * j + 1] + k * NL) = pack_low(x1[h], x1[h + 1]);
      *reinterpret_cast<vu32*>(out[4 * j + 2] + k * NL) = pack_low(x2[h], x2[h + 1]);
      *reinterpret_cast<vu32*>(out[4 * j + 3] + k * NL) = pack_low(x3[h], x3[h + 1]);
    }
}

/// acc + w * s for spins s = +-1. The product is exact, so a fused multiply-add rounds exactly like
/// the reference's separate multiply and add: bit-identical, one instruction instead of two.
inline vfloat add_coupling(vfloat acc, float w, const float* s) {
#if PBIT_CPU_LEVEL >= 2
  return fma_v(splat(w), load(s), acc);
#else
  return acc + w * load(s);
#endif
}

/// The tail of gibbs_math.hpp for NQ registers of NL lanes, each step across all NQ (independent
/// chains interleaved), step for step the scalar contract: clamp, k by the 1.5 * 2^23 rounding, Cody-Waite
/// with fused multiply-adds, the Horner polynomial, the exact scaling by 2^k, and the decision
/// u01(w) * (1 + e) < 1 (exact contract: exp_det, 32-bit words) or ((h + 1/2) 2^-16) (1 + e) < 1
/// (fast: exp_fast, 16-bit h).
template <int NQ, bool Fast>
inline void decide(vfloat (&x)[NQ], const uint32_t* const* words, float* const* dst) {
  vfloat k[NQ], r[NQ], p[NQ];
  for (int q = 0; q < NQ; ++q) x[q] = clamp_high(clamp_low(x[q], -80.0f), 80.0f);
  for (int q = 0; q < NQ; ++q) k[q] = round_even(x[q] * 1.44269504088896341f);
  for (int q = 0; q < NQ; ++q) r[q] = fma_v(k[q], splat(-0.693145751953125f), x[q]);
  for (int q = 0; q < NQ; ++q) r[q] = fma_v(k[q], splat(-1.42860682030941723212e-6f), r[q]);
  if constexpr (Fast) {  // exp_fast: degree 5
    for (int q = 0; q < NQ; ++q) p[q] = splat(8.33333333333333333e-3f);
    for (const float c : {4.16666666666666667e-2f, 1.66666666666666667e-1f, 0.5f, 1.0f, 1.0f}) {
      for (int q = 0; q < NQ; ++q) p[q] = fma_v(p[q], r[q], splat(c));
    }
  } else {  // exp_det: degree 7
    for (int q = 0; q < NQ; ++q) p[q] = splat(1.98412698412698413e-4f);
    for (const float c : {1.38888888888888889e-3f, 8.33333333333333333e-3f, 4.16666666666666667e-2f,
                          1.66666666666666667e-1f, 0.5f, 1.0f, 1.0f}) {
      for (int q = 0; q < NQ; ++q) p[q] = fma_v(p[q], r[q], splat(c));
    }
  }
  // u01(w) * (1 + e) < 1  <=>  float(w >> 8) * (1 + e) < 2^24: scaling both sides by 2^24 is exact.
  // fast: ((h + 1/2) 2^-16) (1 + e) < 1  <=>  float(2h + 1) * (1 + e) < 2^17, also exact.
  for (int q = 0; q < NQ; ++q) {
    const vfloat e = times_pow2(p[q], k[q]);
    const vu32 w = *reinterpret_cast<const vu32*>(words[q]);
    if constexpr (Fast) {
      const vfloat u = __builtin_convertvector(reinterpret_cast<vi32>(w + w + 1u), vfloat);
      *reinterpret_cast<vfloat*>(dst[q]) = (u * (1.0f + e) < 131072.0f) ? splat(1.0f) : splat(-1.0f);
    } else {
      const vfloat u = __builtin_convertvector(reinterpret_cast<vi32>(w >> 8), vfloat);
      *reinterpret_cast<vfloat*>(dst[q]) = (u * (1.0f + e) < 16777216.0f) ? splat(1.0f) : splat(-1.0f);
    }
  }
}

class CpuEngine final : public GibbsEngine {
 public:
  CpuEngine(const Graph& g, const Coloring& c, int32_t chains, const SamplerOptions& opt)
      : m_(g, c, chains, opt), nblk_((chains + W - 1) / W), threads_(opt.num_threads) {
    s_.assign(static_cast<size_t>(nblk_) * m_.n * W, 1.0f);
    build_steps();
  }

  void randomize_state(uint64_t seed, uint32_t stream, uint32_t sweep) override {
    const rng::Key key = rng::make_key(seed, rng::kInitState);
    parallel_blocks([&](int32_t blk) {
      for (int l = 0; l < W; ++l) {
        const uint32_t b = static_cast<uint32_t>(blk * W + l);
        for (int32_t i = 0; i < m_.n; ++i) {
          const rng::Block x = rng::philox4x32_10(rng::init_counter(b + m_.chain_offset, static_cast<uint32_t>(i), sweep, stream), key);
          at(blk, i)[l] = static_cast<float>(rng::init_spin(x, static_cast<uint32_t>(i)));
        }
      }
    }, team_for(16.0 * nblk_ * W * m_.n));
  }
  void set_state(std::span<const int8_t> x) override {
    parallel_blocks([&](int32_t blk) {
      for (int l = 0; l < lanes(blk); ++l) {
        const size_t b = static_cast<size_t>(blk) * W + l;
        for (int32_t i = 0; i < m_.n; ++i) at(blk, i)[l] = x[b * m_.n + i];
      }
    }, team_for(static_cast<double>(nblk_) * W * m_.n));
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
  void set_chain_beta_scale(std::span<const float> scale) override {
    scale_.clear();
    if (scale.empty()) return;
    scale_.assign(static_cast<size_t>(nblk_) * W, 1.0f);  // padding lanes hold no chain
    std::copy(scale.begin(), scale.end(), scale_.begin());
  }

  void sweeps(uint64_t first_sweep, std::span<const float> betas) override {
    parallel_blocks([&](int32_t blk) {
      float* S = at(blk, 0);
      const float* F = m_.field_m > 0 ? f_.data() + static_cast<size_t>(blk) * m_.field_m * W : nullptr;
      const float* SC = scale_.empty() ? nullptr : scale_.data() + static_cast<size_t>(blk) * W;
      const uint32_t chain0 = static_cast<uint32_t>(blk) * W + m_.chain_offset;  // the RNG's chain ids
      for (size_t k = 0; k < betas.size(); ++k) {
        const auto sweep = static_cast<uint32_t>(first_sweep + k);
        const float two_beta = 2.0f * betas[k];
        for (size_t c = 0; c < m_.classes.size(); ++c) {
          // Each step covers two Philox groups (up to 8 free nodes of this color): 8 independent
          // update chains in flight, one pointer walking the step's interleaved neighbour entries.
          const PhiloxInit pin(chain0, static_cast<uint32_t>(c), sweep, m_.key);
          for (const Step& st : steps_[c]) {
            alignas(64) uint32_t u[4 * kGroupsPerStep][W];
            if (m_.contract == RngContract::fast) {
              // One Philox4x32-7 call per 8 nodes (ranks 8 (g / 2) ..): a step of two groups starts at
              // an even group and takes all of it; a step of one group takes its half. Node of rank
              // r: 16-bit half r % 2 of word (r % 8) / 2 (rng.hpp, fast_half).
              alignas(64) uint32_t w4[4][W];
              philox_lanes<1, 7>(pin, st.group >> 1, w4);
              for (int q = 0; q < kStepNodes; ++q) {
                const uint32_t rank = 4u * st.group + static_cast<uint32_t>(q);
                const uint32_t* src = w4[(rank & 7u) >> 1];
                const uint32_t sh = (rank & 1u) << 4;
                for (int l = 0; l < W; ++l) u[q][l] = (src[l] >> sh) & 0xffffu;
              }
              dispatch_step<true>(S, F, SC, st, u, two_beta);
            } else {
              philox_lanes<kGroupsPerStep>(pin, st.group, u);
              dispatch_step<false>(S, F, SC, st, u, two_beta);
            }
          }
        }
      }
    }, team_for(static_cast<double>(betas.size()) * sweep_units()));
  }

  void begin_observation(const ObserveConfig& cfg) override { obs_.begin(cfg, m_); }

  void observe(int64_t sample) override {
    const ObserveConfig& cfg = obs_.cfg;
    const int32_t ng = cfg.num_groups();
    const size_t ne = m_.edge_i.size();
    // One thread's share of the sample: its worksharing loops are orphaned, so the same body runs
    // inside a region or, with a team of one, inline (no region: its start and end, a futex wake,
    // cost more than a small graph's sample). Not inline inside a caller's own OpenMP region: the
    // orphaned loops would bind to the caller's team and each of its threads would observe only its
    // share of this sampler's blocks (helper-107); a region there is nested, a team of one.
    const int t = team_for(sweep_units());
    auto body = [&] {
      std::vector<int64_t> node(cfg.moments ? m_.n : 0, 0), edge(cfg.moments ? ne : 0, 0);
      if (cfg.moments) {
        // Sums of +-1 by counting: over the live lanes, sum s = lanes - 2 #(s = -1) and sum s_i s_j
        // = lanes - 2 #(s_i != s_j). The sign bits of a node's lanes in up to four consecutive blocks
        // are one 64-bit mask, so an edge of 64 chains costs an xor and a popcount (lane by lane in
        // floats, the moments had cost ~20% of a DBM's training). Fewer blocks per mask when four
        // would leave threads without a group.
        static_assert(4 * W <= 64, "four blocks' sign bits fit one uint64_t");
        std::vector<uint64_t> neg(m_.n);
        const int32_t per = nblk_ >= 4 * t ? 4 : nblk_ >= 2 * t ? 2 : 1;
        const int32_t ngroups = (nblk_ + per - 1) / per;
#pragma omp for schedule(static)
        for (int32_t grp = 0; grp < ngroups; ++grp) {
          const int32_t b0 = per * grp, b1 = std::min(nblk_, b0 + per);
          int64_t live = 0;  // lanes holding chains in these blocks
          uint32_t live_mask[4] = {};
          for (int32_t b = b0; b < b1; ++b) {
            live += lanes(b);
            live_mask[b - b0] = (1u << lanes(b)) - 1u;
          }
          for (int32_t i = 0; i < m_.n; ++i) {
            uint64_t m = 0;
            for (int32_t b = b0; b < b1; ++b) m |= static_cast<uint64_t>(sign_mask(cat(b, i)) & live_mask[b - b0]) << (W * (b - b0));
            neg[i] = m;
            node[i] += live - 2 * __builtin_popcountll(m);
          }
          for (size_t e = 0; e < ne; ++e) edge[e] += live - 2 * __builtin_popcountll(neg[m_.edge_i[e]] ^ neg[m_.edge_j[e]]);
        }
      }
#pragma omp for schedule(static)
      for (int32_t blk = 0; blk < nblk_; ++blk) {
        const int nl = lanes(blk);
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
    };
    if (t == 1 && !omp_in_parallel()) {
      body();
      return;
    }
#pragma omp parallel num_threads(t)
    body();
  }

  void snapshot(int64_t slot) override {
    get_state(std::span<int8_t>(obs_.snapshots).subspan(static_cast<size_t>(slot) * m_.chains * m_.n,
                                                        static_cast<size_t>(m_.chains) * m_.n));
  }
  void end_observation(Observations& out) override { obs_.finish(out); }
  std::string describe() const override {
    const int t = team(/*for_region=*/false);
    return "cpu (" + std::to_string(t) + (t == 1 ? " thread, " : " threads, ") + std::to_string(W) + "-chain blocks, " + kIsa +
           " path)";  // the most threads that run: no more than the blocks (a small region runs on fewer)
  }

 private:
  float* at(int32_t blk, int32_t i) { return s_.data() + (static_cast<size_t>(blk) * m_.n + i) * W; }
  const float* cat(int32_t blk, int32_t i) const { return s_.data() + (static_cast<size_t>(blk) * m_.n + i) * W; }
  int lanes(int32_t blk) const { return std::min(W, m_.chains - blk * W); }
  int nthreads(bool for_region = true) const { return detail::omp_threads(threads_, for_region); }
  /// The threads a region over the blocks runs with: no more than there are blocks. A thread with
  /// no block would only wait at the region's barriers, and on a machine whose cores are busy each
  /// wait is a scheduler slice (a one-chain DBM read-out ran 2500x slower beside a compiler).
  int team(bool for_region = true) const { return std::max(1, std::min(nthreads(for_region), nblk_)); }
  /// The threads a region of `units` of work over all blocks is worth: no more than team(), and
  /// fewer where the work is small (detail::threads_for: a region's start and end cost about what
  /// 2^16 visits of one chain's node or edge do). Results never depend on it.
  int team_for(double units) const { return detail::threads_for(units, [&] { return team(); }); }
  /// The units of one sweep (or one sample's observation) of every block.
  double sweep_units() const { return static_cast<double>(nblk_) * W * (static_cast<double>(m_.n) + static_cast<double>(m_.edge_i.size())); }

  /// f(blk) for every block, on `t` threads; with one, here and without a region, whose start and end
  /// (a futex wake) cost more than a small graph's sweep.
  template <class F>
  void parallel_blocks(F&& f, int t) {
    if (t == 1) {
      for (int32_t blk = 0; blk < nblk_; ++blk) f(blk);
      return;
    }
#pragma omp parallel for schedule(dynamic, 1) num_threads(t)
    for (int32_t blk = 0; blk < nblk_; ++blk) f(blk);
  }

  // Nodes per step: 8 (two Philox groups) when a node is one register, 4 when it is two or more, so
  // that the accumulators fit the register file (32 zmm; 16 ymm or xmm).
  static constexpr int kGroupsPerStep = N == 1 ? 2 : 1;
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
        // Each step's entries start on a 64-byte line (8 entries): a full step then reads exactly one
        // line per neighbour term (unaligned, it read two; about 10% of the speed on Zen 4).
        while (entries_.size() % 8) entries_.push_back(Entry{0u, 0.0f});
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

  template <bool Fast>
  void dispatch_step(float* S, const float* F, const float* SC, const Step& st, const uint32_t (&u)[kStepNodes][W], float two_beta) {
    switch (st.na) {
      case 8: if constexpr (kStepNodes >= 8) update_step<8, Fast>(S, F, SC, st, u, two_beta); break;
      case 7: if constexpr (kStepNodes >= 8) update_step<7, Fast>(S, F, SC, st, u, two_beta); break;
      case 6: if constexpr (kStepNodes >= 8) update_step<6, Fast>(S, F, SC, st, u, two_beta); break;
      case 5: if constexpr (kStepNodes >= 8) update_step<5, Fast>(S, F, SC, st, u, two_beta); break;
      case 4: update_step<4, Fast>(S, F, SC, st, u, two_beta); break;
      case 3: update_step<3, Fast>(S, F, SC, st, u, two_beta); break;
      case 2: update_step<2, Fast>(S, F, SC, st, u, two_beta); break;
      case 1: update_step<1, Fast>(S, F, SC, st, u, two_beta); break;
      default: break;
    }
  }

  // The NQ nodes of a step for W chains. Each node's field is summed in its own CSR order, as in the
  // reference, with the NQ sums interleaved so that their add chains overlap.
  template <int NQ, bool Fast>
  void update_step(float* __restrict S, const float* __restrict F, const float* __restrict SC, const Step& st,
                   const uint32_t (&u)[kStepNodes][W], float two_beta) {
    const Entry* __restrict e = entries_.data() + st.entry;
    const uint32_t* words[NQ];
    for (int q = 0; q < NQ; ++q) words[q] = u[st.slot[q]];
    // Node q's lanes are N registers; register k of node q is acc[q * N + k].
    vfloat acc[NQ * N];
    for (int r = 0; r < NQ * N; ++r) acc[r] = vfloat{};
    for (int64_t t = 0; t < st.len; ++t, e += NQ) {
      for (int q = 0; q < NQ; ++q) {
        const float* s = S + e[q].off;
        for (int k = 0; k < N; ++k) acc[q * N + k] = add_coupling(acc[q * N + k], e[q].w, s + k * NL);
      }
    }
    // x = -(2 beta) * ((acc + h) + f), the exponent of e (gibbs_math.hpp).
    // The loops below are unrolled before GCC's scalar replacement runs (#pragma GCC unroll): left as
    // loops over acc[q * N + k] there, they kept acc on the stack between the neighbour loop and the
    // decision, 8 stores and 8 reloads of 64 bytes per step, about 6% of the AVX-512 path on Zen 4.
    float* dst[NQ * N];
    const uint32_t* lane_words[NQ * N];
    // (-a) * b == -(a * b) exactly: RN is sign-symmetric. Per-chain factors: -(2 beta s_b), rounded once
    // as the reference's fmul(2 beta, s_b).
    vfloat m2b[N];
    #pragma GCC unroll 32
    for (int k = 0; k < N; ++k) m2b[k] = SC ? splat(-two_beta) * load(SC + k * NL) : splat(-two_beta);
    #pragma GCC unroll 32
    for (int q = 0; q < NQ; ++q) {
      const int32_t i = st.node[q];
      const int32_t fc = m_.field_col[i];
      #pragma GCC unroll 32
      for (int k = 0; k < N; ++k) {
        vfloat f = acc[q * N + k] + m_.h[i];
        if (fc >= 0 && F) f = f + load(F + static_cast<size_t>(fc) * W + k * NL);
        acc[q * N + k] = m2b[k] * f;
        dst[q * N + k] = S + static_cast<size_t>(i) * W + k * NL;
        lane_words[q * N + k] = words[q] + k * NL;
      }
    }
    decide<NQ * N, Fast>(acc, lane_words, dst);
  }

  HostModel m_;
  int32_t nblk_;
  int threads_;
  std::vector<std::vector<Step>> steps_;  ///< per color
  avec<Entry> entries_;  ///< 64-byte aligned
  avec<float> s_;  ///< [block][node][lane]
  avec<float> f_;  ///< [block][field column][lane]
  avec<float> scale_;  ///< [block][lane] per-chain beta factors (empty: none)
  HostObservation obs_;
};

}  // namespace

std::unique_ptr<GibbsEngine> make_engine(const Graph& g, const Coloring& c, int32_t chains, const SamplerOptions& opt) {
  return std::make_unique<CpuEngine>(g, c, chains, opt);
}

}  // namespace pbit::detail::PBIT_CPU_NS

#if PBIT_CPU_LEVEL >= 2
#pragma GCC pop_options
#endif
