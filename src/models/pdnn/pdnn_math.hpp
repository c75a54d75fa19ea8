// The arithmetic of one p-DNN unit, shared by the host path (pdnn.cpp) and the CUDA path
// (pdnn_forward.cu) so that they agree bit for bit (the forward contract in pbit/models/pdnn.hpp).
#pragma once
#include <cmath>
#include <cstdint>

#include "pbit/core/detail/device_activation.hpp"
#include "pbit/core/detail/gibbs_math.hpp"
#include "pbit/core/hardware_model.hpp"
#include "pbit/core/rng.hpp"

namespace pbit {
struct PdnnNet;
struct PdnnForwardSpec;
}  // namespace pbit

namespace pbit::detail {

/// The arguments of a forward pass, checked alike by the host and the CUDA path (pdnn.cpp): T,
/// the epoch (the counter's 24 bits: past them epochs share bits), the image count, and on
/// hardware a device instance of the right size per hidden layer (gain, offset and stuck, which the
/// host path read past where a hand-built instance was short: helper-129).
void check_pdnn_forward(const PdnnNet& net, const PdnnForwardSpec& spec, int64_t images);

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

/// A p-bit unit on imperfect hardware (core/hardware_model.hpp): the input z in fixed point
/// (in_levels 0: fp32), x = gain z_q + offset, t = tanh(beta' x) or the table's value at x's cell
/// centre (lut_cells 0: exact; the magnitude's tanh with the sign restored, as hardware_tanh), and
/// +1 iff u < (1 + t) / 2 on the unit's uniform word; a stuck unit gives its value.
struct PdnnHardwareUnit {
  float in_step = 0.0f, in_levels = 0.0f, lut_range = 0.0f, lut_cells = 0.0f, beta = 1.0f;
};
PBIT_HD float pdnn_hardware_activate(const PdnnHardwareUnit& h, float z, float gain, float offset, int8_t stuck, uint32_t word) {
  if (stuck) return static_cast<float>(stuck);
  const float zq = h.in_levels > 0.0f ? fixed_point_det(z, h.in_step, h.in_levels) : z;
  const float x = fadd(fmul(gain, zq), offset);
  float t;
  if (h.lut_cells > 0.0f) {
    const float c = table_centre(x, h.lut_range, h.lut_cells);
    const float m = tanh_det(fmul(h.beta, c < 0.0f ? -c : c));
    t = x < 0.0f ? -m : m;
  } else {
    t = tanh_det(fmul(h.beta, x));
  }
  return rng::u01(word) < fmul(0.5f, fadd(1.0f, t)) ? 1.0f : -1.0f;
}

/// The unit constants of a hardware model, computed as hardware_input and hardware_tanh do.
inline PdnnHardwareUnit pdnn_hardware_unit(const PbitHardware& hw) {
  PdnnHardwareUnit u;
  const InputStageConstants c = input_stage(hw);
  u.in_step = c.in_step, u.in_levels = c.in_levels, u.lut_range = c.lut_range, u.lut_cells = c.lut_cells;
  u.beta = 1.0f + hw.beta_offset;
  return u;
}

/// The generator's standard normals (its latent z, and the reparameterisation's eps in training),
/// keyed by (seed, stream, image id, epoch, coordinate j): Box-Muller on one Philox block per pair of
/// coordinates, the cosine for even j and the sine for odd j (independent normals; host only).
inline float pdnn_keyed_normal(rng::Key key, uint32_t id, uint32_t epoch, uint32_t j) {
  const rng::Block b = rng::philox4x32_10(rng::Counter{id, epoch, j >> 1, 0x6e6f726du}, key);
  const double u1 = (static_cast<double>(b.w0) + 1.0) * 0x1p-32;  // (0, 1]
  const double u2 = static_cast<double>(b.w1) * 0x1p-32;
  const double r = std::sqrt(-2.0 * std::log(u1)), a = 6.283185307179586 * u2;
  return static_cast<float>((j & 1u) ? r * std::sin(a) : r * std::cos(a));
}

}  // namespace pbit::detail
