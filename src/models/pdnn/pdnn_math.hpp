// The arithmetic of one p-DNN unit, shared by the host path (pdnn.cpp) and the CUDA path
// (pdnn_forward.cu) so that they agree bit for bit (the forward contract in pbit/models/pdnn.hpp).
#pragma once
#include <cstdint>

#include "pbit/core/detail/gibbs_math.hpp"
#include "pbit/core/rng.hpp"

namespace pbit::detail {

/// tanh(z) = (1 - e) / (1 + e), e = exp_det(-2z): finite for every finite z (exp_det clamps).
PBIT_HD float pdnn_tanh_det(float z) { return tanh_det(z); }

/// t in [-1, 1] rounded to the nearest of 2^bits levels -1 + 2i / (2^bits - 1) (ties up): bits = 1
/// gives sign(t) with sign(0) = +1.
PBIT_HD float pdnn_quantize_det(float t, int32_t bits) {
  const float L = static_cast<float>((1 << bits) - 1);
  float i = floorf(fadd(fmul(fadd(t, 1.0f), fmul(0.5f, L)), 0.5f));
  i = i < 0.0f ? 0.0f : (i > L ? L : i);
  return fadd(fdiv(fmul(2.0f, i), L), -1.0f);
}

/// The Philox counter of a p-bit: (image id, sample, layer | epoch << 8, unit / 4); word unit % 4.
PBIT_HD rng::Counter pdnn_counter(uint32_t image_id, uint32_t sample, uint32_t layer, uint32_t epoch, uint32_t unit) {
  return rng::Counter{image_id, sample, layer | (epoch << 8), unit >> 2};
}

/// Activation codes of PdnnActivation (tanh 0, quant 1, pbit 2).
enum : int32_t { kPdnnTanh = 0, kPdnnQuant = 1, kPdnnPbit = 2 };

/// One hidden unit's output for pre-activation z. For pbit: +1 with probability sigmoid(2z), the
/// sampler's Gibbs decision at beta = 1 (gibbs_spin), on the unit's own Philox word.
PBIT_HD float pdnn_activate(int32_t act, int32_t bits, float z, rng::Key key, uint32_t image_id, uint32_t sample, uint32_t layer,
                            uint32_t epoch, uint32_t unit) {
  if (act == kPdnnPbit) {
    const rng::Block blk = rng::philox4x32_10(pdnn_counter(image_id, sample, layer, epoch, unit), key);
    return static_cast<float>(gibbs_spin(rng::word(blk, unit & 3u), 2.0f, z));
  }
  const float t = pdnn_tanh_det(z);
  return act == kPdnnQuant ? pdnn_quantize_det(t, bits) : t;
}

}  // namespace pbit::detail
