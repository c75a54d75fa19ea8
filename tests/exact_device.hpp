// Exact answers on imperfect hardware (core/hardware_model.hpp) for small graphs: the stationary
// distribution of the colored Gibbs chain a device defines, by pushing the distribution over all 2^N
// states through its sweeps (the device no longer samples the Boltzmann distribution of (J, h), so
// enumeration of the energy does not give it).
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "exact.hpp"
#include "pbit/core/coloring.hpp"
#include "pbit/core/graph.hpp"
#include "pbit/core/hardware_model.hpp"

namespace pbit::test {

/// The stationary distribution of sweeps (colors in order) on device instance 0 of `hw` at `beta`,
/// with cs's clamps and fields: `sweeps` sweeps from the uniform start (far past mixing for the
/// tests' graphs). The field is added to a node's input current; a stuck p-bit holds its value, over
/// a clamp too (as the sampler's clamps give way to it).
inline std::vector<double> device_stationary(const Graph& g, const Coloring& col, const PbitHardware& hw, const ChainSetup& cs, float beta,
                                             int sweeps = 400) {
  const int32_t N = g.num_nodes();
  const PbitDevice dev = draw_device(hw, N, 0);
  const double b = static_cast<double>(beta) * (1.0 + hw.beta_offset);
  const bool stage = hw.input_bits != 0 || hw.lut_bits != 0;
  // P(node i -> +1 | state s) on the device: with an input stage, the input current quantized, then
  // gain and offset, then the tanh table (the cell centre's exact value, hardware_tanh at beta'):
  // P = (1 + t) / 2.
  auto p_up = [&](uint32_t s, int32_t i) {
    if (dev.stuck[i]) return dev.stuck[i] > 0 ? 1.0 : 0.0;
    double I = hardware_weight(hw, g.biases()[i]) + cs.field[i];
    for (int64_t k = g.row_ptr()[i]; k < g.row_ptr()[i + 1]; ++k) I += hardware_weight(hw, g.weights()[k]) * spin_of(s, g.col_idx()[k]);
    if (stage) {
      const double x = dev.gain[i] * static_cast<double>(hardware_input(hw, static_cast<float>(I))) + dev.offset[i];
      PbitHardware at_beta = hw;  // hardware_tanh applies 1 + beta_offset: fold the schedule's beta in
      at_beta.beta_offset = static_cast<float>(b) - 1.0f;
      return (1.0 + static_cast<double>(hardware_tanh(at_beta, static_cast<float>(x)))) / 2.0;
    }
    const double x = dev.gain[i] * I + dev.offset[i];
    return 1.0 / (1.0 + std::exp(-2.0 * b * x));
  };
  ChainSetup held = cs;  // a stuck p-bit is updated (to its value), not clamped
  for (int32_t i = 0; i < N; ++i)
    if (dev.stuck[i]) held.clamp[i] = 0;
  std::vector<double> p = uniform_start(g, held);
  for (int sweep = 0; sweep < sweeps; ++sweep) evolve_sweep_with(g, col, held, p_up, p);
  return p;
}

}  // namespace pbit::test
