// The arithmetic of one Gibbs update, shared by every backend so that they agree bit for bit.
//
// Contract (docs/ARCHITECTURE.md, "Determinism"):
//   I   = ((sum over CSR neighbours j, in CSR order, of J_ij * s_j) + h_i) + f_ci      (fp32, left to right)
//   t   = (2 * beta) * I
//   p   = 1 / (1 + exp_det(-t))                                                       (fp32)
//   s_i = +1 if u01(word) < p else -1
// exp_det is pbit's own exp: Cody-Waite reduction and a degree-7 polynomial using only IEEE
// add/multiply, so it rounds identically on every compiler and device. No FMA contraction is allowed:
// the host is built with -ffp-contract=off and the device uses __fadd_rn/__fmul_rn here.
#pragma once
#include <cstdint>
#include <cstring>

#include "pbit/rng.hpp"

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
PBIT_HD float bits_to_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

/// Deterministic exp for x in any range; inputs are clamped to [-80, 80] (exp(80) ~ 5.5e34 still fits).
/// Relative error below 3e-7 on that range (tests/test_rng_math.cpp).
PBIT_HD float exp_det(float x) {
  x = x < -80.0f ? -80.0f : x;
  x = x > 80.0f ? 80.0f : x;
  // k = round(x / ln 2) by the 1.5*2^23 trick: exact round-to-nearest-even for |v| < 2^22.
  const float magic = 12582912.0f;
  const float k = fadd(fadd(fmul(x, 1.44269504088896341f), magic), -magic);
  // r = x - k ln2, with ln2 split so that k * ln2_hi is exact for |k| <= 128.
  const float r = fadd(fadd(x, fmul(k, -0.693145751953125f)), fmul(k, -1.42860682030941723212e-6f));
  // e^r on |r| <= 0.35 by Taylor to degree 7 (truncation < 4e-9 relative).
  float p = 1.98412698412698413e-4f;
  p = fadd(fmul(p, r), 1.38888888888888889e-3f);
  p = fadd(fmul(p, r), 8.33333333333333333e-3f);
  p = fadd(fmul(p, r), 4.16666666666666667e-2f);
  p = fadd(fmul(p, r), 1.66666666666666667e-1f);
  p = fadd(fmul(p, r), 0.5f);
  p = fadd(fmul(p, r), 1.0f);
  p = fadd(fmul(p, r), 1.0f);
  const int32_t ki = static_cast<int32_t>(k);
  return fmul(p, bits_to_float(static_cast<uint32_t>(ki + 127) << 23));
}

/// P(s = +1) for local field `field` at inverse temperature beta given as two_beta = 2*beta.
PBIT_HD float flip_up_probability(float two_beta, float field) {
  const float t = fmul(two_beta, field);
  return fdiv(1.0f, fadd(1.0f, exp_det(-t)));
}

/// The new spin given the uniform word and the probability of +1.
PBIT_HD int8_t gibbs_spin(uint32_t word, float p_up) { return rng::u01(word) < p_up ? int8_t{1} : int8_t{-1}; }

}  // namespace pbit::detail
