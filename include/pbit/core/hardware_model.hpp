// A model of imperfect p-bit hardware (../shared/REFERENCES.md section 3.3): what an FPGA or analog
// p-bit does instead of the ideal update s = sgn(tanh(beta I) - r).
//
//   weights   couplings / weights stored in `weight_bits`-bit signed fixed point on
//             [-weight_range, weight_range]: w -> round(w / step) step, step = weight_range / (2^(bits-1) - 1),
//             saturating (0 bits = fp32)
//   input     the input current I in `input_bits`-bit fixed point on [-input_range, input_range], the same
//             rounding (0 bits = fp32)
//   device    per p-bit gain g ~ N(1, gain_sigma^2) (at least 0) and offset o ~ N(0, offset_sigma^2),
//             drawn once from device_seed ("a device"): I -> g I + o
//   beta      a miscalibrated temperature: beta -> beta (1 + beta_offset)
//   lut       tanh from a table of 2^lut_bits entries over |x| in [0, input_range) (the FPGA's |I| -> tanh
//             look-up, mid-point of each cell, saturating), with the sign restored (0 = exact)
//   stuck     a fraction of the p-bits stuck at +1 or -1 (the sign drawn with the device)
//   rng       "philox" (the ideal uniform) or "lfsr": each p-bit reads its own 32-bit Galois LFSR,
//             stepped lfsr_steps times per sweep (detail/lfsr.hpp; the sampler only)
// The decision is then s = +1 iff u < (1 + t) / 2, t = tanh(beta' (g I_q + o)) (or its table value), u
// the p-bit's uniform. With everything off (ideal()) the model is the exact update.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pbit/core/rng.hpp"

namespace pbit {

struct PbitHardware {
  int32_t weight_bits = 0;
  float weight_range = 1.0f;
  int32_t input_bits = 0;
  float input_range = 4.0f;
  int32_t lut_bits = 0;
  float gain_sigma = 0.0f, offset_sigma = 0.0f;
  float beta_offset = 0.0f;
  float stuck_fraction = 0.0f;
  uint64_t device_seed = 1;
  std::string rng = "philox";  ///< philox | lfsr
  int32_t lfsr_steps = 32;     ///< LFSR shifts per sweep (1..32)
  bool lfsr() const { return rng == "lfsr"; }
  bool ideal() const {
    return weight_bits == 0 && input_bits == 0 && lut_bits == 0 && gain_sigma == 0 && offset_sigma == 0 && beta_offset == 0 &&
           stuck_fraction == 0 && !lfsr();
  }
  /// One line for logs and plots, e.g. "6-bit weights, gain spread 10%".
  std::string describe() const;
  /// The settings as a `hardware` section (rng and lfsr_steps only for an LFSR: this is what the
  /// models' checkpoint fingerprints hash).
  nlohmann::json to_json() const;
  /// Every setting, rng and lfsr_steps included: a resolved config's `hardware` section.
  nlohmann::json config_json() const;
  /// Throws InvalidArgument when a field lies outside the ranges a `hardware` section takes
  /// (parse_hardware): set through the C++ API, a beta_offset of -3 would flip beta's sign, and
  /// input_bits 40 shift past an int. Sampler and draw_device call it.
  void validate() const;
};

/// Parses a `hardware` config section (keys as the fields above); errors are InvalidConfig naming
/// `where`.key. Unknown keys are errors.
/// refuse_unread = false reads a section a results file recorded (an older pbit took settings that
/// had no effect) without refusing those settings.
PbitHardware parse_hardware(const nlohmann::json& j, const std::string& where = "hardware", bool refuse_unread = true);

/// A device instance: the gain, offset and stuck state of `count` p-bits of one group (`group`
/// selects an independent draw, e.g. a layer), keyed by (device_seed, group, p-bit).
struct PbitDevice {
  std::vector<float> gain, offset;
  std::vector<int8_t> stuck;  ///< 0 free, +1 / -1 stuck at that value
};
PbitDevice draw_device(const PbitHardware& hw, int32_t count, uint32_t group);

/// The input stage's constants, as the kernels (detail/device_activation.hpp), the sampler and the
/// p-DNN use them: in_levels = 2^(input_bits-1) - 1 and in_step = input_range / in_levels (both 0
/// without input_bits); lut_cells = 2^lut_bits over lut_range = input_range (both 0 without lut_bits).
struct InputStageConstants {
  float in_step = 0.0f, in_levels = 0.0f, lut_range = 0.0f, lut_cells = 0.0f;
};
InputStageConstants input_stage(const PbitHardware& hw);

/// w in weight_bits fixed point (identity for 0 bits).
float hardware_weight(const PbitHardware& hw, float w);
/// The input current in input_bits fixed point (identity for 0 bits).
float hardware_input(const PbitHardware& hw, float I);
/// t = tanh(beta' x) exactly or from the table, for x = g I_q + o.
float hardware_tanh(const PbitHardware& hw, float x);

}  // namespace pbit
