// The sampler on imperfect hardware (SamplerOptions::hardware, core/hardware_model.hpp): each mode
// against the exact stationary distribution of the colored Gibbs chain it defines (its transition
// matrix built by enumeration; not the Boltzmann distribution of (J, h), which the device no longer
// samples), every backend bit for bit, and the ideal settings giving today's chains.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "pbit/core/coloring.hpp"
#include "pbit/core/detail/device_activation.hpp"
#include "pbit/core/detail/lfsr.hpp"
#include "pbit/core/config.hpp"
#include "pbit/core/graph.hpp"
#include "pbit/core/hardware_model.hpp"
#include "pbit/core/rng.hpp"
#include "pbit/core/sampler.hpp"
#include "pbit/models/dbm.hpp"
#include "pbit/error.hpp"
#include "exact_device.hpp"
#include "test_util.hpp"

namespace pbit::test {
namespace {

/// Six nodes: a ring with two chords (three colors), couplings and biases from a seed.
Graph small_graph(uint64_t seed) {
  rng::PhiloxStream rs(seed, rng::kTest);
  std::vector<Edge> e;
  for (int32_t i = 0; i < 6; ++i) e.push_back({i, (i + 1) % 6, static_cast<float>(1.6 * rs.uniform() - 0.8)});
  e.push_back({0, 3, 0.7f});
  e.push_back({1, 4, -0.6f});
  std::vector<float> h(6);
  for (float& v : h) v = static_cast<float>(0.8 * rs.uniform() - 0.4);
  return Graph::from_edges(6, e, h);
}

/// Exact marginals <s_i> and edge correlations <s_i s_j> of the stationary distribution of one
/// colored sweep (colors in order, each color's nodes updated in parallel) on the device.
struct Exact {
  std::vector<double> mean, corr;
};
/// `field`, if given (one value per node), is an external field added to each node's input current.
Exact exact_stationary(const Graph& g, const Coloring& col, const PbitHardware& hw, float beta, const std::vector<double>& field = {}) {
  const auto N = static_cast<size_t>(g.num_nodes());
  const ChainSetup cs{std::vector<int8_t>(N, 0), field.empty() ? std::vector<double>(N, 0.0) : field};
  Exact e;
  moments(g, device_stationary(g, col, hw, cs, beta), e.mean, e.corr);
  return e;
}

/// The Boltzmann marginals of (J, h) at beta, for contrast.
std::vector<double> boltzmann_means(const Graph& g, float beta) {
  const int32_t N = g.num_nodes();
  std::vector<double> m(N, 0.0);
  double z = 0;
  std::vector<int8_t> s(N);
  for (size_t k = 0; k < (size_t{1} << N); ++k) {
    for (int32_t i = 0; i < N; ++i) s[i] = (k >> i) & 1u ? 1 : -1;
    const double w = std::exp(-beta * g.energy(s));
    z += w;
    for (int32_t i = 0; i < N; ++i) m[i] += w * s[i];
  }
  for (double& v : m) v /= z;
  return m;
}

struct Mode {
  std::string name;
  PbitHardware hw;
};

std::vector<Mode> modes() {
  std::vector<Mode> m;
  PbitHardware a;
  a.gain_sigma = 0.4f;
  a.offset_sigma = 0.3f;
  a.device_seed = 5;
  m.push_back({"gain_offset", a});
  PbitHardware b;
  b.weight_bits = 3;
  b.weight_range = 0.9f;
  b.beta_offset = 0.35f;
  m.push_back({"fixed_point_beta", b});
  PbitHardware c;
  c.stuck_fraction = 0.3f;
  c.gain_sigma = 0.2f;
  c.device_seed = 2;
  m.push_back({"stuck_gain", c});
  PbitHardware d;  // an FPGA-like input stage: 4-bit input current, an 8-cell tanh table
  d.weight_bits = 5;
  d.input_bits = 4;
  d.input_range = 2.0f;
  d.lut_bits = 3;
  m.push_back({"input_table", d});
  PbitHardware e;  // quantized input with analog gain and offset after it
  e.input_bits = 3;
  e.input_range = 1.5f;
  e.gain_sigma = 0.3f;
  e.offset_sigma = 0.2f;
  e.device_seed = 6;
  m.push_back({"input_gain_offset", e});
  PbitHardware f;  // the table alone, with a miscalibrated temperature
  f.lut_bits = 2;
  f.input_range = 3.0f;
  f.beta_offset = -0.2f;
  m.push_back({"table_beta", f});
  PbitHardware g;  // per-p-bit LFSR uniforms (32 shifts per sweep) on a device with gains and offsets
  g.rng = "lfsr";
  g.gain_sigma = 0.4f;
  g.offset_sigma = 0.3f;
  g.device_seed = 5;
  m.push_back({"lfsr_gain_offset", g});
  return m;
}

/// Independent draws from the device's stationary distribution: kDraws chains of `hw` (reference
/// backend, keyed by `seed`), one sample each after an 80-sweep warm-up at `beta`, their moments; a
/// field on `field_nodes` (the same values for every chain) if given; under RNG contract `contract`.
constexpr int32_t kDraws = 20000;
Observations stationary_draws(const Graph& g, const Coloring& col, const PbitHardware& hw, float beta, uint64_t seed,
                              const std::vector<int32_t>& field_nodes = {}, const std::vector<float>& field = {},
                              RngContract contract = RngContract::exact) {
  SamplerOptions o;
  o.backend = Backend::reference;
  o.seed = seed;
  o.hardware = hw;
  o.contract = contract;
  Sampler s(g, col, kDraws, o);
  if (!field_nodes.empty()) {
    std::vector<float> f;
    for (int32_t b = 0; b < kDraws; ++b) f.insert(f.end(), field.begin(), field.end());
    s.set_field(field_nodes, f);
  }
  ObserverSpec spec;
  spec.moments = true;
  return s.run(SamplingSchedule{80, 1, 1}, BetaSchedule::constant(beta), spec);
}

class HardwareExact : public ::testing::TestWithParam<Mode> {};

TEST_P(HardwareExact, MarginalsMatchTheDevicesOwnStationaryDistribution) {
  const Graph g = small_graph(3);
  const Coloring col = color_graph(g);
  const PbitHardware& hw = GetParam().hw;
  const float beta = 1.2f;
  const Exact ex = exact_stationary(g, col, hw, beta);
  const std::vector<double> boltz = boltzmann_means(g, beta);
  const int32_t B = kDraws;
  // Under both contracts (the fast one's 16-bit uniforms move a flip probability by under 2^-16, far
  // below 5 standard errors here); per-p-bit LFSRs take the exact contract only.
  for (const RngContract contract : {RngContract::exact, RngContract::fast}) {
    if (contract == RngContract::fast && hw.lfsr()) continue;
    SCOPED_TRACE("contract " + to_string(contract));
    const Observations obs = stationary_draws(g, col, hw, beta, 11, {}, {}, contract);
    for (int32_t i = 0; i < g.num_nodes(); ++i) {
      const double sigma = std::sqrt(std::max(1e-12, (1 - ex.mean[i] * ex.mean[i]) / B));
      EXPECT_NEAR(obs.node_mean[i], ex.mean[i], 5 * sigma + 1e-9) << GetParam().name << " node " << i;
    }
    for (int64_t k = 0; k < g.num_edges(); ++k) {
      const double sigma = std::sqrt(std::max(1e-12, (1 - ex.corr[k] * ex.corr[k]) / B));
      EXPECT_NEAR(obs.edge_corr[k], ex.corr[k], 5 * sigma + 1e-9) << GetParam().name << " edge " << k;
    }
  }
  double farthest_from_boltzmann = 0;
  for (int32_t i = 0; i < g.num_nodes(); ++i) {
    const double sigma = std::sqrt(std::max(1e-12, (1 - ex.mean[i] * ex.mean[i]) / B));
    farthest_from_boltzmann = std::max(farthest_from_boltzmann, std::fabs(ex.mean[i] - boltz[i]) / std::max(sigma, 1e-3));
  }
  // The device's distribution is measurably not the Boltzmann one: the test could tell them apart.
  EXPECT_GT(farthest_from_boltzmann, 10.0) << GetParam().name;
}

INSTANTIATE_TEST_SUITE_P(Modes, HardwareExact, ::testing::ValuesIn(modes()),
                         [](const ::testing::TestParamInfo<Mode>& i) { return i.param.name; });

// An external field on some nodes (a DTM's conditioning, a clamp's neighbours) is an input like any
// other: the device amplifies it by the gain of the node it acts on. Nodes 4 and 1, in that order,
// so that a field's position in the list is not its node.
TEST(HardwareSampler, AFieldIsAmplifiedByItsOwnNodesGain) {
  const Graph g = small_graph(3);
  const Coloring col = color_graph(g);
  PbitHardware hw;
  hw.gain_sigma = 0.5f;
  hw.offset_sigma = 0.2f;
  hw.device_seed = 9;
  const float beta = 1.2f;
  const Exact ex = exact_stationary(g, col, hw, beta, {0, -0.6, 0, 0, 0.9, 0});
  const int32_t B = kDraws;
  const Observations obs = stationary_draws(g, col, hw, beta, 12, {4, 1}, {0.9f, -0.6f});
  for (int32_t i = 0; i < g.num_nodes(); ++i) {
    const double sigma = std::sqrt(std::max(1e-12, (1 - ex.mean[i] * ex.mean[i]) / B));
    EXPECT_NEAR(obs.node_mean[i], ex.mean[i], 5 * sigma + 1e-9) << "node " << i;
  }
}

// A device with imperfections samples its own per-row couplings g_i q(J_ij), no model's E(s): the
// energy observer summed them (-2.9992 for a state whose E is -1.7: helper-116), so it is refused,
// as chain_energies is; the other observers run.
TEST(HardwareSampler, TheModelsEnergyIsNotObservedOnADevice) {
  const Graph g = small_graph(3);
  SamplerOptions o;
  o.hardware.gain_sigma = 0.5f;
  Sampler s(g, color_graph(g), 4, o);
  ObserverSpec energy;
  energy.energy = true;
  EXPECT_NE(error_of([&] { s.run({2, 3, 1}, BetaSchedule::constant(1.0f), energy); }).find("observing energy: the model's energy is not what a device"),
            std::string::npos);
  EXPECT_EQ(s.sweep_count(), 0u);  // refused before it ran
  EXPECT_NE(error_of([&] { s.chain_energies(); }).find("use ideal p-bits"), std::string::npos);
  ObserverSpec moments;
  moments.moments = true;
  EXPECT_EQ(s.run({2, 3, 1}, BetaSchedule::constant(1.0f), moments).num_samples, 3);
}

class HardwareBackends : public ::testing::TestWithParam<Backend> {};

TEST_P(HardwareBackends, EveryBackendRunsTheSameDevice) {
  PBIT_REQUIRE_BACKEND(GetParam());
  const Graph g = small_graph(7);
  PbitHardware hw;
  hw.weight_bits = 5;
  hw.gain_sigma = 0.3f;
  hw.offset_sigma = 0.2f;
  hw.beta_offset = -0.1f;
  hw.stuck_fraction = 0.2f;
  hw.device_seed = 9;
  for (int stage = 0; stage < 3; ++stage) {
    if (stage == 1) {  // and with an input stage: quantized input current and a tanh table
      hw.input_bits = 5;
      hw.input_range = 2.5f;
      hw.lut_bits = 4;
    }
    if (stage == 2) {  // and with per-p-bit LFSRs
      hw.rng = "lfsr";
      hw.lfsr_steps = 3;
    }
    std::vector<int8_t> exact_chains;
    for (const RngContract contract : {RngContract::exact, RngContract::fast}) {
      if (contract == RngContract::fast && hw.lfsr()) continue;  // LFSRs take the exact contract only
      auto run = [&](SamplerOptions o) {
        o.seed = 4;
        o.hardware = hw;
        o.contract = contract;
        Sampler s(g, 70, o);
        s.set_clamp({2}, std::vector<int8_t>{1});
        std::vector<float> f(6 * 70);
        for (size_t k = 0; k < f.size(); ++k) f[k] = 0.05f * static_cast<float>(k % 7) - 0.15f;
        s.set_field({}, f);
        ObserverSpec spec;
        spec.moments = true;
        s.run(SamplingSchedule{15, 5, 2}, BetaSchedule::linear(0.5f, 1.5f, 20), spec);
        return s.state();
      };
      SamplerOptions ref;
      ref.backend = Backend::reference;
      const std::vector<int8_t> want = run(ref);
      if (contract == RngContract::exact) exact_chains = want;
      else EXPECT_NE(want, exact_chains) << "stage " << stage << ": the fast contract's chains are the exact one's";
      // Every path of the backend: on cuda the fast kernel too (at 70 chains the automatic choice is the
      // simple one). The fast kernel has the input stage but no per-p-bit LFSR: with one, the sampler
      // runs the simple kernel whatever was asked (src/core/sampler.cpp).
      for_each_variant(GetParam(), SamplerOptions{}, [&](const SamplerOptions& o) {
        EXPECT_EQ(run(o), want) << "stage " << stage << ", contract " << to_string(contract);
      });
    }
  }
  // The cpu backend runs the reference loop for an input stage, and says so.
  SamplerOptions o;
  o.backend = Backend::cpu;
  o.hardware = hw;
  EXPECT_NE(Sampler(g, 4, o).kernel_description().find("reference"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(AllBackends, HardwareBackends, ::testing::ValuesIn(test_backends()), backend_param_name);

// A drawn device has the statistics asked for: gains 1 + gain_sigma z, offsets offset_sigma z'
// independent of them, stuck_fraction of the p-bits stuck, half of those at +1. Bounds at 5 standard
// errors of N = 20,000 draws (gains clamped at 0 move their mean by under 1e-4 at sigma 0.3).
TEST(HardwareModel, DrawnDevicesHaveTheAskedForStatistics) {
  PbitHardware hw;
  hw.gain_sigma = 0.3f;
  hw.offset_sigma = 0.2f;
  hw.stuck_fraction = 0.1f;
  hw.device_seed = 5;
  const int32_t N = 20000;
  const PbitDevice d = draw_device(hw, N, 0);
  double mg = 0, mo = 0, sgg = 0, soo = 0, sgo = 0;
  int64_t stuck = 0, up = 0;
  for (int32_t i = 0; i < N; ++i) {
    mg += d.gain[i], mo += d.offset[i];
    stuck += d.stuck[i] != 0, up += d.stuck[i] == 1;
  }
  mg /= N, mo /= N;
  for (int32_t i = 0; i < N; ++i) {
    sgg += (d.gain[i] - mg) * (d.gain[i] - mg), soo += (d.offset[i] - mo) * (d.offset[i] - mo), sgo += (d.gain[i] - mg) * (d.offset[i] - mo);
  }
  const double sd_g = std::sqrt(sgg / N), sd_o = std::sqrt(soo / N), corr = sgo / std::sqrt(sgg * soo);
  EXPECT_NEAR(mg, 1.0, 5 * 0.3 / std::sqrt(N));
  EXPECT_NEAR(sd_g, 0.3, 5 * 0.3 / std::sqrt(2.0 * N));
  EXPECT_NEAR(mo, 0.0, 5 * 0.2 / std::sqrt(N));
  EXPECT_NEAR(sd_o, 0.2, 5 * 0.2 / std::sqrt(2.0 * N));
  EXPECT_NEAR(corr, 0.0, 5 / std::sqrt(N));
  EXPECT_NEAR(static_cast<double>(stuck) / N, 0.1, 5 * std::sqrt(0.09 / N));
  EXPECT_NEAR(static_cast<double>(up) / static_cast<double>(stuck), 0.5, 5 * 0.5 / std::sqrt(0.1 * N));
  // Another group or seed is another device; the same is the same.
  EXPECT_EQ(draw_device(hw, N, 0).gain, d.gain);
  EXPECT_NE(draw_device(hw, N, 1).gain, d.gain);
  // A spread wider than the gain (sigma 2): no p-bit's response is inverted; the draws below 0, a
  // fraction Phi(-1/2) of them, are gains of exactly 0 (a p-bit that ignores its input).
  hw.gain_sigma = 2.0f;
  const PbitDevice wide = draw_device(hw, N, 0);
  int64_t zero = 0;
  for (int32_t i = 0; i < N; ++i) zero += wide.gain[i] == 0.0f;
  EXPECT_GE(*std::min_element(wide.gain.begin(), wide.gain.end()), 0.0f);
  const double below = 0.5 * std::erfc(0.5 / std::sqrt(2.0));  // Phi(-1/2) = 0.3085
  EXPECT_NEAR(static_cast<double>(zero) / N, below, 5 * std::sqrt(below * (1 - below) / N));
}

TEST(HardwareSampler, IdealSettingsGiveTodaysChainsAndStuckBitsHold) {
  const Graph g = small_graph(1);
  SamplerOptions o;
  o.backend = Backend::cpu;
  o.seed = 3;
  Sampler plain(g, 50, o);
  o.hardware = PbitHardware{};  // all off
  Sampler ideal(g, 50, o);
  plain.run(SamplingSchedule{30, 1, 1});
  ideal.run(SamplingSchedule{30, 1, 1});
  EXPECT_EQ(plain.state(), ideal.state());
  // Stuck p-bits hold their values whatever the user clamps, and the user's clamps on the others hold.
  o.hardware.stuck_fraction = 0.5f;
  o.hardware.device_seed = 4;
  const PbitDevice dev = draw_device(o.hardware, 6, 0);
  Sampler s(g, 50, o);
  s.set_clamp({0, 1, 2, 3, 4, 5}, std::vector<int8_t>{1, 1, 1, 1, 1, 1});
  s.clear_clamp();
  int32_t free_node = -1;
  for (int32_t i = 0; i < 6; ++i)
    if (!dev.stuck[i]) free_node = i;
  ASSERT_GE(free_node, 0);
  s.set_clamp({free_node}, std::vector<int8_t>{-1});
  s.run(SamplingSchedule{10, 1, 1});
  const std::vector<int8_t> st = s.state();
  int stuck = 0;
  for (int32_t b = 0; b < 50; ++b)
    for (int32_t i = 0; i < 6; ++i) {
      if (dev.stuck[i]) {
        EXPECT_EQ(st[b * 6 + i], dev.stuck[i]);
        ++stuck;
      }
      if (i == free_node) EXPECT_EQ(st[b * 6 + i], -1);
    }
  EXPECT_GT(stuck, 0);
}

// The per-p-bit LFSR (detail/lfsr.hpp): its polynomial is maximal (the step matrix M has order
// exactly 2^32 - 1: M^(2^32-1) = I and M^((2^32-1)/p) != I for each prime p of 3 5 17 257 65537), the
// sweep matrices equal stepping the register, and a sampler on it is keyed by sweep (split runs
// equal one run) and differs from Philox.
TEST(HardwareLfsr, MaximalPeriodJumpsAndKeying) {
  using detail::Gf2Matrix;
  const Gf2Matrix M = Gf2Matrix::lfsr_step_matrix();
  const uint64_t period = 0xffffffffull;
  EXPECT_TRUE(M.pow(period) == Gf2Matrix::identity());
  for (uint64_t p : {3ull, 5ull, 17ull, 257ull, 65537ull}) EXPECT_FALSE(M.pow(period / p) == Gf2Matrix::identity()) << p;
  const Gf2Matrix bad = [] {  // a non-maximal register is caught: taps 0x80000001 (x^32 + x + 1 is reducible)
    Gf2Matrix m{};
    for (int k = 0; k < 32; ++k) {
      const uint32_t s = 1u << k;
      m.c[k] = (s >> 1) ^ ((0u - (s & 1u)) & 0x80000001u);
    }
    return m;
  }();
  bool bad_is_maximal = bad.pow(period) == Gf2Matrix::identity();
  for (uint64_t p : {3ull, 5ull, 17ull, 257ull, 65537ull}) bad_is_maximal = bad_is_maximal && !(bad.pow(period / p) == Gf2Matrix::identity());
  EXPECT_FALSE(bad_is_maximal);
  const uint32_t s0 = 0x1234567u;
  const std::vector<uint32_t> cols = detail::lfsr_sweep_matrices(5, 3, 7);
  for (int t = 0; t < 3; ++t) {
    uint32_t s = s0;
    for (int q = 0; q < 7 * (5 + t + 1); ++q) s = detail::lfsr_step(s);
    EXPECT_EQ(detail::gf2_apply(cols.data() + 32 * t, s0), s) << t;
  }
  const Graph g = small_graph(2);
  SamplerOptions o;
  o.backend = Backend::cpu;
  o.seed = 8;
  o.hardware.rng = "lfsr";
  o.hardware.lfsr_steps = 32;
  Sampler one(g, 40, o), two(g, 40, o);
  one.sweep(20, BetaSchedule::constant(1.0f));
  two.sweep(9, BetaSchedule::constant(1.0f));
  two.sweep(11, BetaSchedule::constant(1.0f));
  EXPECT_EQ(one.state(), two.state());
  EXPECT_NE(one.kernel_description().find("reference"), std::string::npos);
  SamplerOptions p = o;
  p.hardware = PbitHardware{};
  Sampler philox(g, 40, p);
  philox.run(SamplingSchedule{20, 1, 1});
  EXPECT_NE(one.state(), philox.state());
  o.contract = RngContract::fast;
  EXPECT_THROW(Sampler(g, 4, o), InvalidArgument);
}

// The input stage's arithmetic (detail/device_activation.hpp) is the host model's (hardware_input,
// hardware_tanh), which the p-DNN uses: one definition of the device.
TEST(HardwareSampler, InputStageIsTheHostModels) {
  PbitHardware hw;
  hw.input_bits = 4;
  hw.input_range = 2.0f;
  hw.lut_bits = 3;
  const float levels = 7.0f, step = 2.0f / 7.0f;
  detail::ActivationArgs a;
  const float gain = 1.0f, offset = 0.0f;
  a.gain = &gain;
  a.offset = &offset;
  a.in_levels = levels;
  a.in_step = step;
  for (float I : {-3.0f, -0.93f, -0.2f, 0.0f, 0.14f, 0.15f, 0.6f, 1.99f, 2.5f, 1e30f}) {
    SCOPED_TRACE(I);
    EXPECT_EQ(detail::device_input(a, 0, I), hardware_input(hw, I));
    EXPECT_LE(std::fabs(detail::device_input(a, 0, I)), 2.0f);
  }
  EXPECT_FLOAT_EQ(detail::device_input(a, 0, 0.6f), 2 * step);  // 0.6 / (2/7) = 2.1 -> 2 steps
  EXPECT_FLOAT_EQ(detail::device_input(a, 0, -0.75f), -3 * step);  // -2.625 -> -3
  EXPECT_FLOAT_EQ(detail::device_input(a, 0, 1e30f), 2.0f);  // saturates at the range
  a.lut_cells = 8.0f;
  a.lut_range = 2.0f;
  for (float x : {-5.0f, -0.3f, 0.1f, 0.3f, 1.9f, 7.0f}) {
    const float c = detail::table_centre(x, 2.0f, 8.0f);
    EXPECT_EQ(detail::tanh_det(std::fabs(c)) * (x < 0 ? -1.0f : 1.0f), hardware_tanh(hw, x)) << x;
    EXPECT_EQ(std::fmod(std::fabs(c) - 0.125f, 0.25f), 0.0f) << x;  // a cell centre: (k + 1/2) 2 / 8
  }
  // Inputs at or past the range read the last cell, (7 + 1/2) 2 / 8 = 1.875: the table has 8 cells a
  // side, not a ninth at 2.125 or one per input (a huge input converts no huge float to an index).
  for (float x : {1.99f, 2.0f, 2.3f, 7.0f, 1e30f, std::numeric_limits<float>::infinity()}) {
    EXPECT_EQ(detail::table_centre(x, 2.0f, 8.0f), 1.875f) << x;
    EXPECT_EQ(detail::table_centre(-x, 2.0f, 8.0f), -1.875f) << -x;
  }
  EXPECT_EQ(detail::table_centre(1.74f, 2.0f, 8.0f), 1.625f);  // the cell before
  // A zero input is the fair coin, not the first positive cell: the table is odd, 0 included.
  for (float z : {0.0f, -0.0f}) {
    EXPECT_EQ(detail::table_centre(z, 2.0f, 8.0f), 0.0f);
    EXPECT_EQ(hardware_tanh(hw, z), 0.0f);
    EXPECT_EQ(detail::device_input(a, 0, z), 0.0f);
  }
}

TEST(HardwareSampler, SampleConfigsTakeAHardwareSection) {
  const SampleConfig c = parse_sample_config(nlohmann::json::parse(R"({"hardware": {"weight_bits": 6, "gain_sigma": 0.1}})"));
  EXPECT_EQ(c.hardware.weight_bits, 6);
  EXPECT_FLOAT_EQ(c.hardware.gain_sigma, 0.1f);
  EXPECT_EQ(parse_sample_config(nlohmann::json::parse(R"({"hardware": {"lut_bits": 4, "input_bits": 6}})")).hardware.lut_bits, 4);
  const SampleConfig l = parse_sample_config(nlohmann::json::parse(R"({"hardware": {"rng": "lfsr", "lfsr_steps": 8}})"));
  EXPECT_TRUE(l.hardware.lfsr());
  EXPECT_EQ(l.hardware.lfsr_steps, 8);
  EXPECT_FALSE(l.hardware.ideal());
  for (const char* bad : {R"({"hardware": {"lut_bits": 21}})", R"({"hardware": {"gain": 0.1}})", R"({"hardware": {"weight_bits": 1}})",
                          R"({"hardware": {"rng": "mt19937"}})", R"({"hardware": {"rng": "lfsr", "lfsr_steps": 0}})"}) {
    try {
      parse_sample_config(nlohmann::json::parse(bad));
      FAIL() << bad;
    } catch (const InvalidConfig& e) {
      EXPECT_NE(std::string(e.what()).find("hardware"), std::string::npos) << e.what();
    }
  }
}

// A setting nothing reads is refused (a config must not look like a device it does not run), while
// a section as to_json writes it back, defaults included, still reads.
TEST(HardwareSampler, SettingsWithoutEffectAreRefused) {
  for (const auto& [bad, key] : std::vector<std::pair<const char*, const char*>>{
           {R"({"lfsr_steps": 3})", "hardware.lfsr_steps"},
           {R"({"input_range": 2})", "hardware.input_range"},
           {R"({"weight_range": 3, "input_bits": 4})", "hardware.weight_range"},
           {R"({"weight_bits": 4, "device_seed": 7})", "hardware.device_seed"}}) {
    try {
      parse_hardware(nlohmann::json::parse(bad));
      ADD_FAILURE() << bad;
    } catch (const InvalidConfig& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
  PbitHardware hw;
  hw.weight_bits = 6;
  hw.lut_bits = 3;
  const PbitHardware back = parse_hardware(hw.to_json());
  EXPECT_EQ(back.to_json(), hw.to_json());
  EXPECT_NO_THROW(parse_hardware(nlohmann::json::parse(R"({"gain_sigma": 0.1, "device_seed": 7, "input_range": 2, "lut_bits": 4})")));
}

// Set through the C++ API, out-of-range fields are refused by the sampler, not run: beta_offset -3
// would flip beta's sign, input_bits 40 shift past an int, a NaN spread poison every draw.
TEST(HardwareSampler, TheSamplerRefusesHardwareOutOfRange) {
  const Graph g = Graph::from_edges(2, std::vector<Edge>{{0, 1, 1.0f}});
  auto make = [&](const std::function<void(PbitHardware&)>& set) {
    SamplerOptions o;
    set(o.hardware);
    return error_of([&] { Sampler(g, 4, o); });
  };
  EXPECT_NE(make([](PbitHardware& h) { h.beta_offset = -3; }).find("PbitHardware::beta_offset = -3 outside"), std::string::npos);
  EXPECT_NE(make([](PbitHardware& h) { h.input_bits = 40; }).find("PbitHardware::input_bits = 40"), std::string::npos);
  EXPECT_NE(make([](PbitHardware& h) { h.gain_sigma = std::nanf(""); }).find("PbitHardware::gain_sigma"), std::string::npos);
  EXPECT_NE(make([](PbitHardware& h) { h.rng = "mt"; }).find("PbitHardware::rng"), std::string::npos);
  EXPECT_EQ(make([](PbitHardware& h) { h.beta_offset = -0.5f; }), "<no error>");
  // The bounds a config may give, as parse_hardware holds them in floats, still run.
  const PbitHardware edge = parse_hardware(nlohmann::json::parse(R"({"beta_offset": -0.99, "weight_bits": 4, "weight_range": 1e-6,
                                                                      "lut_bits": 3, "input_range": 1e-6})"));
  EXPECT_EQ(make([&](PbitHardware& h) { h = edge; }), "<no error>");
  // A results file's section is read as it was recorded, settings without effect and all.
  EXPECT_EQ(parse_hardware(nlohmann::json::parse(R"({"weight_bits": 4, "device_seed": 7})"), "hardware", false).device_seed, 7u);
}

TEST(HardwareSampler, DbmConfigsTakeAHardwareSectionAndATrainingMode) {
  const DbmConfig c = parse_dbm_config(nlohmann::json::parse(R"({"hardware": {"weight_bits": 4}, "train": {"mode": "in_situ"}})"));
  EXPECT_EQ(c.hardware.weight_bits, 4);
  EXPECT_EQ(c.train_mode, "in_situ");
  EXPECT_THROW(parse_dbm_config(nlohmann::json::parse(R"({"train": {"mode": "in_situ"}})")), InvalidConfig);
  EXPECT_EQ(parse_dbm_config(nlohmann::json::parse(R"({"hardware": {"input_bits": 6}})")).hardware.input_bits, 6);
}

}  // namespace
}  // namespace pbit::test

namespace pbit::test {
namespace {

// What a naive LFSR costs: read once per shift (lfsr_steps 1), consecutive uniforms of a p-bit share
// 31 bits and the chain no longer samples its stationary distribution; with 32 shifts per sweep it
// does (within sampling error). Measured against the exact stationary distribution, in standard errors.
TEST(HardwareLfsr, ANaiveRegisterBiasesTheChainAndAFreshOneDoesNot) {
  const Graph g = small_graph(3);
  const Coloring col = color_graph(g);
  const float beta = 1.2f;
  PbitHardware exact_hw;  // the chain the LFSR sampler should follow: the ideal one
  const Exact ex = exact_stationary(g, col, exact_hw, beta);
  auto worst_z = [&](const PbitHardware& hw) {
    const int32_t B = kDraws;
    const Observations obs = stationary_draws(g, col, hw, beta, 11);
    double worst = 0;
    for (int32_t i = 0; i < g.num_nodes(); ++i) {
      const double sigma = std::sqrt(std::max(1e-12, (1 - ex.mean[i] * ex.mean[i]) / B));
      worst = std::max(worst, std::fabs(obs.node_mean[i] - ex.mean[i]) / sigma);
    }
    for (int64_t k = 0; k < g.num_edges(); ++k) {
      const double sigma = std::sqrt(std::max(1e-12, (1 - ex.corr[k] * ex.corr[k]) / B));
      worst = std::max(worst, std::fabs(obs.edge_corr[k] - ex.corr[k]) / sigma);
    }
    return worst;
  };
  for (int steps : {1, 2, 4, 8, 16, 32}) {
    PbitHardware hw;
    hw.rng = "lfsr";
    hw.lfsr_steps = steps;
    const double z = worst_z(hw);
    std::printf("lfsr_steps %2d: worst deviation from the exact chain %.1f standard errors\n", steps, z);
    if (steps == 1) EXPECT_GT(z, 8.0);   // the naive register is measurably wrong
    if (steps == 32) EXPECT_LT(z, 5.0);  // a fresh register per update is not
  }
}

}  // namespace
}  // namespace pbit::test
