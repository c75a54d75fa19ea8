// The arithmetic of one Gibbs update, shared by every backend so that they agree bit for bit.
//
// Contract (docs/ARCHITECTURE.md, "Determinism"):
//   I   = ((sum over CSR neighbours j, in CSR order, of J_ij * s_j) + h_i) + f_ci      (fp32, left to right)
//   t   = (2 * beta) * I
//   e   = exp_det(-t)
//   s_i = +1 if u01(word) * (1 + e) < 1 else -1                                        (fp32)
// The last line is u < sigmoid(t) = 1 / (1 + e) without a division (division is the slowest vector
// operation on every backend); in exact arithmetic the two are the same event, and in fp32 the
// threshold differs from sigmoid(t) by at most a few ulp, far below the 2^-24 resolution of u.
// exp_det is pbit's own exp: Cody-Waite reduction and a degree-7 Horner polynomial built from IEEE
// add, multiply and fused multiply-add, each named explicitly (fadd/fmul/ffma), so it rounds
// identically on every compiler and device. No implicit FMA contraction is allowed: the host is built
// with -ffp-contract=off and the device uses the __f*_rn intrinsics here.
#pragma once
#include <cstdint>
#include <cmath>
#include <cstring>

#include "pbit/core/rng.hpp"

namespace pbit::detail {

PBIT_HD float fadd(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
PBIT_HD float fmul(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
PBIT_HD float fdiv(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}
/// Fused multiply-add, correctly rounded (one rounding) on every backend.
PBIT_HD float ffma(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
  return __fmaf_rn(a, b, c);
#else
  return std::fma(a, b, c);
#endif
}
PBIT_HD float bits_to_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

PBIT_HD uint32_t float_to_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

/// w * s for a spin s = +1 (up) or -1, as a sign flip: exactly fmul(w, +-1.0f), zero and NaN included.
PBIT_HD float times_spin(float w, uint32_t up) { return bits_to_float(float_to_bits(w) ^ ((up ^ 1u) << 31)); }

/// times_spin(w, (word >> lane) & 1) for the spin of lane `lane` in a 32-chain bit word, given
/// shift = 31 - lane: the lane's bit is moved straight to the sign position, so the term costs one
/// shift and one three-input logic operation (LOP3 on the GPU) per neighbour.
PBIT_HD float times_word_spin(float w, uint32_t word, uint32_t shift) {
  return bits_to_float(float_to_bits(w) ^ ((word << shift) & 0x80000000u) ^ 0x80000000u);
}

/// exp by clamping to [-80, 80] (exp(80) ~ 5.5e34 still fits), k = round(x / ln 2) by the 1.5*2^23
/// trick (exact round-to-nearest-even for |v| < 2^22), r = x - k ln2 (Cody-Waite, ln2 split so that
/// k * ln2_hi is exact for |k| <= 128), e^r on |r| <= 0.35 by its Taylor polynomial of degree D
/// (Horner with FMA), and p * 2^k, exact (k in [-116, 116] keeps the result normal).
template <int D>
PBIT_HD float exp_taylor(float x) {
  static_assert(D >= 1 && D <= 7, "degree 1..7");
  x = x < -80.0f ? -80.0f : x;
  x = x > 80.0f ? 80.0f : x;
  const float magic = 12582912.0f;
  const float k = fadd(fadd(fmul(x, 1.44269504088896341f), magic), -magic);
  const float r = ffma(k, -1.42860682030941723212e-6f, ffma(k, -0.693145751953125f, x));
  // 1/n! for n = 7 .. 0
  constexpr float c[8] = {1.98412698412698413e-4f, 1.38888888888888889e-3f, 8.33333333333333333e-3f, 4.16666666666666667e-2f,
                          1.66666666666666667e-1f, 0.5f, 1.0f, 1.0f};
  float p = c[7 - D];
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
  for (int j = 8 - D; j < 8; ++j) p = ffma(p, r, c[j]);
  const int32_t ki = static_cast<int32_t>(k);
  return fmul(p, bits_to_float(static_cast<uint32_t>(ki + 127) << 23));
}

/// Deterministic exp for x in any range (exp_taylor of degree 7: truncation < 4e-9 relative).
/// Relative error below 3e-7 on [-80, 80] (tests/test_rng_math.cpp).
PBIT_HD float exp_det(float x) { return exp_taylor<7>(x); }

/// e = exp(-2 beta I) for local field `field`, with two_beta = 2*beta.
PBIT_HD float boltzmann_ratio(float two_beta, float field) { return exp_det(-fmul(two_beta, field)); }

/// The Gibbs decision: +1 iff u01(word) * (1 + e) < 1, i.e. u < sigmoid(2 beta I) (see file comment).
PBIT_HD bool gibbs_up(uint32_t word, float e) { return fmul(rng::u01(word), fadd(1.0f, e)) < 1.0f; }

/// The new spin for local field `field`.
PBIT_HD int8_t gibbs_spin(uint32_t word, float two_beta, float field) {
  return gibbs_up(word, boltzmann_ratio(two_beta, field)) ? int8_t{1} : int8_t{-1};
}

// ---- The `fast` contract (RngContract::fast, docs/ARCHITECTURE.md "Determinism")
//   I, t as above
//   e   = exp_fast(-t)                        degree-5 polynomial: relative error < 3.5e-6
//   h   = fast_half(Philox4x32-7(chain, color, rank / 8, sweep), rank)       16 bits
//   s_i = +1 if ((h + 1/2) 2^-16) * (1 + e) < 1 else -1
// The flip probability is sigmoid(t) to within 2^-17 (the grid of a 16-bit uniform, centred) plus
// 9e-7 (exp_fast's error times sigmoid'), i.e. |P_fast - P_exact| < 8.6e-6 for every update. A bias
// that size moves a marginal by about as much; measuring it would take ~1e10 independent samples.

/// exp for the `fast` contract: exp_det's clamp and Cody-Waite reduction with a degree-5 Taylor
/// polynomial (two FMAs fewer): relative error below 3.5e-6 on [-80, 80] (tests/test_rng_math.cpp).
PBIT_HD float exp_fast(float x) { return exp_taylor<5>(x); }

/// The `fast` decision for the 16 random bits h: +1 iff ((h + 1/2) 2^-16) (1 + e) < 1, evaluated as
/// (2h + 1) (1 + e) < 2^17 (the same comparison scaled by a power of two: exact).
PBIT_HD bool gibbs_up_fast(uint32_t h, float e) {
  return fmul(static_cast<float>(2u * h + 1u), fadd(1.0f, e)) < 131072.0f;
}

/// The new spin under the `fast` contract.
PBIT_HD int8_t gibbs_spin_fast(uint32_t h, float two_beta, float field) {
  return gibbs_up_fast(h, exp_fast(-fmul(two_beta, field))) ? int8_t{1} : int8_t{-1};
}

/// The Philox block that chain `chain` draws for the node of rank `rank` in `color` at `sweep`: under
/// `exact` it serves ranks 4(rank/4) .. +3, under `fast` ranks 8(rank/8) .. +7.
PBIT_HD rng::Block gibbs_block(RngContract c, rng::Key key, uint32_t chain, uint32_t color, uint32_t rank, uint32_t sweep) {
  return c == RngContract::fast ? rng::philox4x32_7(rng::fast_gibbs_counter(chain, color, rank, sweep), key)
                                : rng::philox4x32_10(rng::gibbs_counter(chain, color, rank, sweep), key);
}

/// The decision for the node of rank `rank` from its block (gibbs_block), under contract c.
PBIT_HD bool gibbs_up(RngContract c, const rng::Block& b, uint32_t rank, float two_beta, float field) {
  return c == RngContract::fast ? gibbs_up_fast(rng::fast_half(b, rank), exp_fast(-fmul(two_beta, field)))
                                : gibbs_up(rng::word(b, rank & 3u), boltzmann_ratio(two_beta, field));
}

/// tanh(z) = (1 - e) / (1 + e), e = exp_det(-2z): the same on every backend, finite for every finite z.
PBIT_HD float tanh_det(float z) {
  const float e = exp_det(fmul(-2.0f, z));
  return fdiv(fadd(1.0f, -e), fadd(1.0f, e));
}

/// sigmoid(2 beta I) in fp32 - for documentation and tests; samplers use gibbs_spin.
PBIT_HD float flip_up_probability(float two_beta, float field) {
  return fdiv(1.0f, fadd(1.0f, boltzmann_ratio(two_beta, field)));
}

}  // namespace pbit::detail
