#include "pbit/core/hardware_model.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "pbit/core/detail/device_activation.hpp"
#include "pbit/core/detail/gibbs_math.hpp"
#include "pbit/error.hpp"
#include "util/json_util.hpp"

namespace pbit {

namespace {

/// The kernels' fixed point (detail/device_activation.hpp), with the same step.
float fixed_point(float v, int32_t bits, float range) {
  if (bits == 0) return v;
  const float levels = static_cast<float>((1 << (bits - 1)) - 1);
  return detail::fixed_point_det(v, range / levels, levels);
}

}  // namespace

std::string PbitHardware::describe() const {
  if (ideal()) return "ideal";
  std::string s;
  char buf[96];
  auto add = [&](const std::string& t) { s += (s.empty() ? "" : ", ") + t; };
  if (weight_bits) add(std::to_string(weight_bits) + "-bit weights");
  if (input_bits) add(std::to_string(input_bits) + "-bit input");
  if (lut_bits) add(std::to_string(1 << lut_bits) + "-entry tanh table");
  if (gain_sigma > 0) std::snprintf(buf, sizeof buf, "gain spread %g%%", 100.0 * gain_sigma), add(buf);
  if (offset_sigma > 0) std::snprintf(buf, sizeof buf, "offset spread %g", offset_sigma), add(buf);
  if (beta_offset != 0) std::snprintf(buf, sizeof buf, "beta %+g%%", 100.0 * beta_offset), add(buf);
  if (stuck_fraction > 0) std::snprintf(buf, sizeof buf, "%g%% stuck", 100.0 * stuck_fraction), add(buf);
  if (lfsr()) add("LFSR uniforms (" + std::to_string(lfsr_steps) + " shifts per sweep)");
  return s;
}

nlohmann::json PbitHardware::to_json() const {
  nlohmann::json j = {{"weight_bits", weight_bits}, {"weight_range", weight_range}, {"input_bits", input_bits},
                      {"input_range", input_range}, {"lut_bits", lut_bits}, {"gain_sigma", gain_sigma},
                      {"offset_sigma", offset_sigma}, {"beta_offset", beta_offset}, {"stuck_fraction", stuck_fraction},
                      {"device_seed", device_seed}};
  if (lfsr()) j["rng"] = rng, j["lfsr_steps"] = lfsr_steps;  // only when set: older fingerprints stay valid
  return j;
}

namespace {

/// The ranges a device's settings take, read by both parse_hardware (a config) and
/// PbitHardware::validate (the C++ API).
constexpr int32_t kMaxBits = 24, kMaxLutBits = 20, kMaxLfsrSteps = 32;
struct FloatRange {
  const char* key;
  float PbitHardware::*field;
  double lo, hi;
};
constexpr FloatRange kFloatRanges[] = {
    {"weight_range", &PbitHardware::weight_range, 1e-6, 1e6}, {"input_range", &PbitHardware::input_range, 1e-6, 1e6},
    {"gain_sigma", &PbitHardware::gain_sigma, 0, 10},         {"offset_sigma", &PbitHardware::offset_sigma, 0, 100},
    {"beta_offset", &PbitHardware::beta_offset, -0.99, 100},  {"stuck_fraction", &PbitHardware::stuck_fraction, 0, 1}};

}  // namespace

nlohmann::json PbitHardware::config_json() const {
  nlohmann::json j = to_json();
  for (const FloatRange& r : kFloatRanges) j[r.key] = detail::float_json(this->*r.field);  // (0.1, not 0.10000000149)
  j["rng"] = rng;
  j["lfsr_steps"] = lfsr_steps;
  return j;
}

PbitHardware parse_hardware(const nlohmann::json& j, const std::string& w, bool refuse_unread) {
  using detail::get_float_in;
  using detail::get_int;
  if (!j.is_object()) detail::config_error(w, "must be an object of hardware settings");
  detail::only_keys(j, w, {"weight_bits", "weight_range", "input_bits", "input_range", "lut_bits", "gain_sigma", "offset_sigma",
                           "beta_offset", "stuck_fraction", "device_seed", "rng", "lfsr_steps"});
  PbitHardware h;
  auto bits = [&](const char* k, int32_t& out, int64_t hi) {
    if (!j.contains(k)) return;
    out = static_cast<int32_t>(get_int(j[k], w + "." + k, 0, hi));
    if (out == 1) detail::config_error(w + "." + k, "needs at least 2 bits (a sign and one magnitude bit), or 0 for fp32");
  };
  bits("weight_bits", h.weight_bits, kMaxBits);
  bits("input_bits", h.input_bits, kMaxBits);
  if (j.contains("lut_bits")) h.lut_bits = static_cast<int32_t>(get_int(j["lut_bits"], w + ".lut_bits", 0, kMaxLutBits));
  for (const FloatRange& r : kFloatRanges) {
    if (j.contains(r.key)) h.*r.field = get_float_in(j[r.key], w + "." + r.key, r.lo, r.hi);
  }
  if (j.contains("rng")) h.rng = detail::get_string(j["rng"], w + ".rng", {"philox", "lfsr"});
  if (j.contains("lfsr_steps")) h.lfsr_steps = static_cast<int32_t>(get_int(j["lfsr_steps"], w + ".lfsr_steps", 1, kMaxLfsrSteps));
  if (j.contains("device_seed")) h.device_seed = static_cast<uint64_t>(get_int(j["device_seed"], w + ".device_seed", 0, int64_t{1} << 40));
  // A setting nothing reads is refused when it differs from its default, so that a config cannot
  // look like a device it does not run (a section written back by to_json, defaults and all, reads).
  const PbitHardware d;
  auto unread = [&](const char* key, bool changed, const char* needs) {
    if (changed && refuse_unread) detail::config_error(w + "." + key, std::string("has no effect without ") + needs + "; remove it or give " + needs);
  };
  unread("weight_range", h.weight_range != d.weight_range && h.weight_bits == 0, "weight_bits");
  unread("input_range", h.input_range != d.input_range && h.input_bits == 0 && h.lut_bits == 0, "input_bits or lut_bits");
  unread("lfsr_steps", h.lfsr_steps != d.lfsr_steps && !h.lfsr(), "rng \"lfsr\"");
  unread("device_seed", h.device_seed != d.device_seed && h.gain_sigma == 0 && h.offset_sigma == 0 && h.stuck_fraction == 0,
         "gain_sigma, offset_sigma or stuck_fraction (the device's draws)");
  return h;
}

void PbitHardware::validate() const {
  auto bad = [](const std::string& key, const std::string& why) { throw InvalidArgument("PbitHardware::" + key + " " + why); };
  auto bits = [&](const char* key, int32_t v, int32_t hi) {
    if (v < 0 || v == 1 || v > hi) bad(key, "= " + std::to_string(v) + ": 0 (fp32) or 2.." + std::to_string(hi) + " bits");
  };
  bits("weight_bits", weight_bits, kMaxBits);
  bits("input_bits", input_bits, kMaxBits);
  if (lut_bits < 0 || lut_bits > kMaxLutBits) bad("lut_bits", "= " + std::to_string(lut_bits) + " outside 0.." + std::to_string(kMaxLutBits));
  for (const FloatRange& r : kFloatRanges) {
    // Against the bounds as floats: a config's -0.99 or 1e-6, checked by parse_hardware as a double,
    // is held as a float a hair past them.
    const float v = this->*r.field;
    if (!(v >= static_cast<float>(r.lo) && v <= static_cast<float>(r.hi))) {  // NaN too
      std::ostringstream os;
      os << "= " << v << " outside [" << r.lo << ", " << r.hi << "]";
      bad(r.key, os.str());
    }
  }
  if (rng != "philox" && rng != "lfsr") bad("rng", "= '" + rng + "': philox or lfsr");
  if (lfsr_steps < 1 || lfsr_steps > kMaxLfsrSteps) {
    bad("lfsr_steps", "= " + std::to_string(lfsr_steps) + " outside 1.." + std::to_string(kMaxLfsrSteps));
  }
}

PbitDevice draw_device(const PbitHardware& hw, int32_t count, uint32_t group) {
  hw.validate();
  if (count < 0) throw InvalidArgument("draw_device: negative count");
  PbitDevice d;
  d.gain.resize(static_cast<size_t>(count));
  d.offset.resize(static_cast<size_t>(count));
  d.stuck.assign(static_cast<size_t>(count), 0);
  // The same draws for every severity: one device seed is one device, whose spreads scale.
  rng::PhiloxStream rs(hw.device_seed, rng::hardware_stream(rng::HardwareUse::device), group);
  for (int32_t i = 0; i < count; ++i) {
    const double zg = rs.normal(), zo = rs.normal(), us = rs.uniform(), sign = rs.uniform();
    d.gain[i] = static_cast<float>(std::max(0.0, 1.0 + hw.gain_sigma * zg));
    d.offset[i] = static_cast<float>(hw.offset_sigma * zo);
    if (us < hw.stuck_fraction) d.stuck[i] = sign < 0.5 ? int8_t{-1} : int8_t{1};
  }
  return d;
}

InputStageConstants input_stage(const PbitHardware& hw) {
  InputStageConstants c;
  if (hw.input_bits) {
    c.in_levels = static_cast<float>((1 << (hw.input_bits - 1)) - 1);
    c.in_step = hw.input_range / c.in_levels;
  }
  if (hw.lut_bits) {
    c.lut_cells = static_cast<float>(1 << hw.lut_bits);
    c.lut_range = hw.input_range;
  }
  return c;
}

float hardware_weight(const PbitHardware& hw, float w) { return fixed_point(w, hw.weight_bits, hw.weight_range); }
float hardware_input(const PbitHardware& hw, float I) { return fixed_point(I, hw.input_bits, hw.input_range); }

float hardware_tanh(const PbitHardware& hw, float x) {
  const float beta = 1.0f + hw.beta_offset;
  if (hw.lut_bits == 0) return detail::tanh_det(beta * x);
  // The table's cell centre, as the sampler's input stage takes it (detail/device_activation.hpp).
  // tanh of the magnitude with the sign restored, so that the table is odd bit for bit.
  const float c = detail::table_centre(x, hw.input_range, static_cast<float>(1 << hw.lut_bits));
  const float t = detail::tanh_det(beta * (c < 0 ? -c : c));
  return x < 0 ? -t : t;
}

}  // namespace pbit
