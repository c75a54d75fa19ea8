// Per-chain inverse temperatures (Sampler::set_chain_betas), the kernel part of parallel tempering
// (issue 21): every chain samples the Boltzmann distribution at its own beta (checked against exact
// enumeration), every backend and path gives the same chains bit for bit, factors of 1 give today's
// chains, and bad factors are refused.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "pbit/core/coloring.hpp"
#include "pbit/core/graph.hpp"
#include "pbit/core/rng.hpp"
#include "pbit/core/sampler.hpp"
#include "pbit/error.hpp"
#include "test_util.hpp"

namespace pbit::test {
namespace {

/// Eight nodes, frustrated: a ring with alternating-sign couplings and chords, biases from a seed.
Graph frustrated(uint64_t seed) {
  rng::PhiloxStream rs(seed, rng::kTest);
  std::vector<Edge> e;
  for (int32_t i = 0; i < 8; ++i) e.push_back({i, (i + 1) % 8, static_cast<float>((i % 2 ? -1.0 : 1.0) * (0.6 + 0.6 * rs.uniform()))});
  e.push_back({0, 4, -0.9f});
  e.push_back({2, 6, 0.8f});
  e.push_back({1, 5, 0.7f});
  std::vector<float> h(8);
  for (float& v : h) v = static_cast<float>(0.6 * rs.uniform() - 0.3);
  return Graph::from_edges(8, e, h);
}

/// Exact <s_i> and <s_i s_j> (edge order) under exp(-beta E).
void exact_moments(const Graph& g, double beta, std::vector<double>& mean, std::vector<double>& corr) {
  const int32_t N = g.num_nodes();
  mean.assign(N, 0.0);
  corr.assign(g.num_edges(), 0.0);
  double z = 0;
  std::vector<int8_t> s(N);
  for (uint32_t k = 0; k < (1u << N); ++k) {
    for (int32_t i = 0; i < N; ++i) s[i] = (k >> i) & 1u ? 1 : -1;
    const double w = std::exp(-beta * g.energy(s));
    z += w;
    for (int32_t i = 0; i < N; ++i) mean[i] += w * s[i];
    for (int64_t q = 0; q < g.num_edges(); ++q) corr[q] += w * s[g.edge_i()[q]] * s[g.edge_j()[q]];
  }
  for (double& v : mean) v /= z;
  for (double& v : corr) v /= z;
}

// Four temperatures in one sampler, 4,000 chains each (beta 0.375 .. 1.95; colder ones do not mix
// within the sweeps here, the case for tempering): each group's marginals and correlations match
// enumeration at its own beta within 5 standard errors, and the groups differ from each other by far
// more (a sampler ignoring the factors would fail).
TEST(ChainBetas, EachChainSamplesAtItsOwnBeta) {
  const Graph g = frustrated(4);
  const std::vector<float> factors_of_group{0.25f, 0.6f, 1.0f, 1.3f};
  const int32_t per = 4000, R = 4, B = per * R;
  std::vector<float> f(B);
  for (int32_t b = 0; b < B; ++b) f[b] = factors_of_group[b % R];  // interleaved, as replicas would be
  SamplerOptions o;
  o.backend = Backend::cpu;
  o.seed = 5;
  Sampler s(g, B, o);
  s.set_chain_betas(f);
  s.sweep(3000, BetaSchedule::constant(1.5f));  // long enough to mix at the coldest beta
  const std::vector<int8_t> st = s.state();
  const int32_t N = g.num_nodes();
  std::vector<double> prev_mean;
  for (int32_t r = 0; r < R; ++r) {
    std::vector<double> mean, corr;
    exact_moments(g, 1.5 * factors_of_group[r], mean, corr);
    double worst = 0, spread = 0;
    for (int32_t i = 0; i < N; ++i) {
      double m = 0;
      for (int32_t b = r; b < B; b += R) m += st[static_cast<size_t>(b) * N + i];
      m /= per;
      worst = std::max(worst, std::fabs(m - mean[i]) / std::sqrt(std::max(1e-9, (1 - mean[i] * mean[i]) / per)));
      if (!prev_mean.empty()) spread = std::max(spread, std::fabs(mean[i] - prev_mean[i]));
    }
    for (int64_t q = 0; q < g.num_edges(); ++q) {
      double c = 0;
      for (int32_t b = r; b < B; b += R) c += st[static_cast<size_t>(b) * N + g.edge_i()[q]] * st[static_cast<size_t>(b) * N + g.edge_j()[q]];
      c /= per;
      worst = std::max(worst, std::fabs(c - corr[q]) / std::sqrt(std::max(1e-9, (1 - corr[q] * corr[q]) / per)));
    }
    std::printf("factor %.2f (beta %.3f): worst deviation %.2f standard errors\n", factors_of_group[r], 1.5 * factors_of_group[r], worst);
    EXPECT_LT(worst, 5.0) << "factor " << factors_of_group[r];
    if (!prev_mean.empty()) EXPECT_GT(spread, 10 * std::sqrt(1.0 / per));  // neighbouring temperatures differ measurably
    prev_mean = mean;
  }
}

class ChainBetasOnBackend : public ::testing::TestWithParam<Backend> {};

// Every backend and every path of it (cpu instruction sets, packed words per lane, CUDA kernels) gives
// the reference's chains with per-chain factors, clamps, fields and an annealed schedule.
TEST_P(ChainBetasOnBackend, SameChainsAsTheReference) {
  PBIT_REQUIRE_BACKEND(GetParam());
  const Graph g = frustrated(9);
  const int32_t B = 77;  // not a multiple of any vector width or word
  std::vector<float> f(B), field(static_cast<size_t>(B) * 2);
  for (int32_t b = 0; b < B; ++b) f[b] = 0.2f + 0.05f * static_cast<float>(b % 31);
  for (size_t k = 0; k < field.size(); ++k) field[k] = 0.1f * static_cast<float>(k % 5) - 0.2f;
  auto run = [&](const SamplerOptions& o) {
    Sampler s(g, B, o);
    s.set_chain_betas(f);
    s.set_clamp({3}, std::vector<int8_t>{-1});
    s.set_field({1, 6}, field);
    ObserverSpec spec;
    spec.moments = true;
    const Observations obs = s.run(SamplingSchedule{12, 4, 3}, BetaSchedule::linear(0.3f, 2.0f, 24), spec);
    return std::make_pair(s.state(), obs.edge_sum);
  };
  SamplerOptions ref;
  ref.backend = Backend::reference;
  ref.seed = 13;
  const auto want = run(ref);
  for_each_variant(GetParam(), ref, [&](const SamplerOptions& o) {
    const auto got = run(o);
    EXPECT_EQ(got.first, want.first);
    EXPECT_EQ(got.second, want.second);
  });
}

INSTANTIATE_TEST_SUITE_P(AllBackends, ChainBetasOnBackend, ::testing::ValuesIn(test_backends()), backend_param_name);

// Factors of 1 (and none) are today's chains bit for bit; other factors change them; bad factors are
// refused with the chain named.
TEST(ChainBetas, OnesAreTodaysChainsAndBadFactorsAreRefused) {
  const Graph g = frustrated(2);
  SamplerOptions o;
  o.backend = Backend::cpu;
  o.seed = 3;
  Sampler plain(g, 40, o), ones(g, 40, o), other(g, 40, o);
  ones.set_chain_betas(std::vector<float>(40, 1.0f));
  std::vector<float> f(40, 1.0f);
  f[7] = 0.5f;
  other.set_chain_betas(f);
  for (Sampler* s : {&plain, &ones, &other}) s->sweep(30, BetaSchedule::constant(1.0f));
  EXPECT_EQ(plain.state(), ones.state());
  EXPECT_NE(plain.state(), other.state());
  const std::vector<int8_t> a = plain.state(), b = other.state();
  for (int32_t c = 0; c < 40; ++c) {  // only chain 7 changed: the factors are per chain
    const bool same = std::equal(a.begin() + c * 8, a.begin() + (c + 1) * 8, b.begin() + c * 8);
    EXPECT_EQ(same, c != 7) << "chain " << c;
  }
  EXPECT_NE(error_of([&] { other.set_chain_betas(std::vector<float>(39, 1.0f)); }).find("B = 40"), std::string::npos);
  for (float bad : {0.0f, -1.0f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(), 2e6f}) {
    f[11] = bad;
    EXPECT_NE(error_of([&] { other.set_chain_betas(f); }).find("factor 11"), std::string::npos) << bad;
  }
  other.set_chain_betas({});  // back to the schedule's beta
  EXPECT_TRUE(other.chain_betas().empty());
}

}  // namespace
}  // namespace pbit::test
