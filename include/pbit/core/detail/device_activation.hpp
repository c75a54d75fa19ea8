// The p-bit's input stage on imperfect hardware with a quantized input current or a tanh table
// (PbitHardware::input_bits, lut_bits; core/hardware_model.hpp), shared by every backend and by the
// host model (hardware_input, hardware_tanh) so that they agree bit for bit.
//
// Contract (docs/ARCHITECTURE.md, "Determinism"), after the input I of gibbs_math.hpp:
//   I_q = clamp(rint(I / step), -L, L) * step      step = input_range / L, L = 2^(input_bits-1) - 1
//                                                 (I_q = I with input_bits 0)
//   x   = g_i * I_q + o_i                          the p-bit's gain and offset (fp32, in that order)
//   x   = sign(x) * ((k + 1/2) * input_range) / C  k = min(|x| / input_range * C, C - 1), truncated,
//                                                 C = 2^lut_bits (x unchanged with lut_bits 0;
//                                                 x = 0 stays 0, the fair coin: the table is odd)
// and the decision is gibbs_up at x. The table step is the decision at the centre of x's cell: the
// value a table of tanh(beta' centre) over C cells of |x| in [0, input_range) holds, with the sign
// restored, saturating in the last cell. Without input_bits and lut_bits the device folds the gain
// and offset into the couplings and biases instead (Sampler::device_graph) and no activation runs.
#pragma once
#include <cmath>
#include <cstdint>

#include "pbit/core/detail/gibbs_math.hpp"

namespace pbit::detail {

/// Round to nearest, ties to even (the FPU's default mode on the host; rintf on the device).
PBIT_HD float round_even(float v) {
#if defined(__CUDA_ARCH__)
  return rintf(v);
#else
  return std::nearbyint(v);
#endif
}

/// v in signed fixed point of `levels` = 2^(bits-1) - 1 steps of `step` each side, saturating.
PBIT_HD float fixed_point_det(float v, float step, float levels) {
  float k = round_even(fdiv(v, step));
  k = k < -levels ? -levels : k;
  k = k > levels ? levels : k;
  return fmul(k, step);
}

/// The centre of the table cell of |x| (cells over [0, range)), with x's sign; 0 for x = 0 (of either
/// sign), which lies between the table's two halves: a zero input is the fair coin on hardware as it is
/// without a table, not the first positive cell's bias toward +1.
PBIT_HD float table_centre(float x, float range, float cells) {
  if (x == 0.0f) return 0.0f;
  const float a = x < 0.0f ? -x : x;
  float cell = fmul(fdiv(a, range), cells);
  cell = cell < cells - 1.0f ? cell : cells - 1.0f;  // no conversion of a huge float
  const float c = fdiv(fmul(fadd(static_cast<float>(static_cast<int32_t>(cell)), 0.5f), range), cells);
  return x < 0.0f ? -c : c;
}

/// What the kernels read: the per-p-bit gain and offset (device or host arrays of N) and the input
/// stage's constants. gain == nullptr: no activation (the ideal update, or the folded device).
struct ActivationArgs {
  const float* gain = nullptr;
  const float* offset = nullptr;
  float in_step = 0.0f, in_levels = 0.0f;  ///< in_levels 0: fp32 input
  float lut_range = 0.0f, lut_cells = 0.0f;  ///< lut_cells 0: the exact decision
};

/// The argument of node i's decision for input I (see the file comment).
PBIT_HD float device_input(const ActivationArgs& a, int32_t i, float I) {
  if (a.in_levels > 0.0f) I = fixed_point_det(I, a.in_step, a.in_levels);
  const float x = fadd(fmul(a.gain[i], I), a.offset[i]);
  return a.lut_cells > 0.0f ? table_centre(x, a.lut_range, a.lut_cells) : x;
}

}  // namespace pbit::detail
