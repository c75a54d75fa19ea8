// Per-chain inverse temperatures (Sampler::set_chain_betas), the kernel part of parallel tempering
// (issue 21): every chain samples the Boltzmann distribution at its own beta (checked against exact
// enumeration), every backend and path gives the same chains bit for bit, factors of 1 give today's
// chains, and bad factors are refused.
#include <gtest/gtest.h>

#include <barrier>
#include <cmath>
#include <limits>
#include <mutex>
#include <thread>

#include "pbit/core/coloring.hpp"
#include "pbit/core/graph.hpp"
#include "pbit/core/rng.hpp"
#include "pbit/core/sampler.hpp"
#include "pbit/error.hpp"
#include "exact.hpp"
#include "util/parallel_for.hpp"
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

// The two operations tempering's swaps are made of, on every backend and path (on CUDA: a kernel each,
// after fast-kernel sweeps too): chain energies equal Graph::energy minus the chain's field term bit
// for bit, and a permutation moves whole states while clamped nodes keep their chain's values.
class ChainOpsOnBackend : public ::testing::TestWithParam<Backend> {};

TEST_P(ChainOpsOnBackend, EnergiesAndPermutationsMatchTheHost) {
  PBIT_REQUIRE_BACKEND(GetParam());
  const Graph g = frustrated(11);
  const int32_t N = g.num_nodes();
  // 900 chains: work enough that the host's energies run on two threads (8 units a node or edge, as
  // sampler.cpp counts), which 45 chains do not.
  ASSERT_EQ(detail::threads_for(8.0 * 900 * (N + g.num_edges()), [] { return 2; }), 2);
  ASSERT_EQ(detail::threads_for(8.0 * 45 * (N + g.num_edges()), [] { return 2; }), 1);
  for (const int32_t B : {45, 900}) {
    SCOPED_TRACE("B=" + std::to_string(B));
    std::vector<float> field(static_cast<size_t>(B) * 2);
    for (size_t k = 0; k < field.size(); ++k) field[k] = 0.37f * static_cast<float>(k % 7) - 1.1f;
    std::vector<int8_t> clamp(B);
    for (int32_t b = 0; b < B; ++b) clamp[b] = b % 3 ? 1 : -1;
    std::vector<int32_t> perm(B);
    for (int32_t b = 0; b < B; ++b) perm[b] = (b * 7 + 4) % B;  // 7 is prime to 45 and 900; moves chains across clamp values
    SamplerOptions ref;
    ref.backend = Backend::reference;
    ref.seed = 23;
    ref.num_threads = 2;  // whatever OpenMP's default is here
    for_each_variant(GetParam(), ref, [&](const SamplerOptions& o) {
      Sampler s(g, B, o);
      s.set_clamp({2}, clamp);
      s.set_field({4, 0}, field);
      s.sweep(7, BetaSchedule::constant(0.8f));
      const std::vector<int8_t> before = s.state();
      const std::vector<double> e = s.chain_energies();
      ASSERT_EQ(e.size(), static_cast<size_t>(B));
      for (int32_t b = 0; b < B; ++b) {
        const int8_t* x = before.data() + static_cast<size_t>(b) * N;
        double want = g.energy(std::span<const int8_t>(x, static_cast<size_t>(N)));
        want -= static_cast<double>(field[2 * b]) * x[4];
        want -= static_cast<double>(field[2 * b + 1]) * x[0];
        EXPECT_EQ(e[b], want) << "chain " << b;
      }
      s.permute_chains(perm);
      const std::vector<int8_t> after = s.state();
      for (int32_t b = 0; b < B; ++b) {
        for (int32_t i = 0; i < N; ++i) {
          const int8_t want = i == 2 ? clamp[b] : before[static_cast<size_t>(perm[b]) * N + i];
          ASSERT_EQ(after[static_cast<size_t>(b) * N + i], want) << "chain " << b << " node " << i;
        }
      }
      s.sweep(3, BetaSchedule::constant(0.8f));  // the engine goes on from the permuted state
      const std::vector<int8_t> later = s.state();
      for (int32_t b = 0; b < B; ++b) EXPECT_EQ(later[static_cast<size_t>(b) * N + 2], clamp[b]);
    });
  }
}

INSTANTIATE_TEST_SUITE_P(AllBackends, ChainOpsOnBackend, ::testing::ValuesIn(test_backends()), backend_param_name);

TEST(ChainOps, BadPermutationsAndDeviceEnergiesAreRefused) {
  const Graph g = frustrated(1);
  Sampler s(g, 3);
  EXPECT_NE(error_of([&] { s.permute_chains(std::vector<int32_t>{0, 1}); }).find("expected B = 3"), std::string::npos);
  EXPECT_NE(error_of([&] { s.permute_chains(std::vector<int32_t>{0, 1, 1}); }).find("not a permutation"), std::string::npos);
  EXPECT_NE(error_of([&] { s.permute_chains(std::vector<int32_t>{0, 1, 3}); }).find("not a permutation"), std::string::npos);
  SamplerOptions hw;
  hw.hardware.gain_sigma = 0.1f;
  Sampler d(g, 3, hw);
  EXPECT_NE(error_of([&] { d.chain_energies(); }).find("ideal p-bits"), std::string::npos);
}

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

#include "pbit/core/config.hpp"
#include "pbit/core/tempering.hpp"

namespace pbit::test {
namespace {

/// Moments of the R B replica states for replica r (sampler chains r B .. r B + B - 1), in standard
/// errors from the exact ones at beta.
double worst_z(const Graph& g, const std::vector<int8_t>& st, int32_t r, int32_t B, double beta) {
  std::vector<double> mean, corr;
  exact_moments(g, beta, mean, corr);
  const int32_t N = g.num_nodes();
  double worst = 0;
  for (int32_t i = 0; i < N; ++i) {
    double m = 0;
    for (int32_t b = 0; b < B; ++b) m += st[(static_cast<size_t>(r) * B + b) * N + i];
    m /= B;
    worst = std::max(worst, std::fabs(m - mean[i]) / std::sqrt(std::max(1e-9, (1 - mean[i] * mean[i]) / B)));
  }
  for (int64_t q = 0; q < g.num_edges(); ++q) {
    double c = 0;
    for (int32_t b = 0; b < B; ++b) {
      const int8_t* s = st.data() + (static_cast<size_t>(r) * B + b) * N;
      c += s[g.edge_i()[q]] * s[g.edge_j()[q]];
    }
    c /= B;
    worst = std::max(worst, std::fabs(c - corr[q]) / std::sqrt(std::max(1e-9, (1 - corr[q] * corr[q]) / B)));
  }
  return worst;
}

// Replica exchange: on the frustrated graph where plain Gibbs at beta 2.55 is 11 standard errors off
// after 3,000 sweeps (ChainBetas.EachChainSamplesAtItsOwnBeta's note), five replicas for 600 sweeps
// (the same flips) put every replica, the coldest included, within 5 standard errors of enumeration at
// its own beta, under both schemes.
TEST(Tempering, EveryReplicaMatchesEnumerationAtItsBeta) {
  const Graph g = frustrated(4);
  const int32_t B = 4000;
  for (const char* scheme : {"deo", "seo"}) {
    SCOPED_TRACE(scheme);
    TemperingOptions t;
    t.betas = TemperingOptions::geometric(2.55f, 0.4f, 5);
    t.scheme = scheme;
    SamplerOptions o;
    o.backend = Backend::cpu;
    o.seed = 5;
    TemperedSampler ts(g, color_graph(g), B, t, o);
    ts.run(SamplingSchedule{600, 0, 1});
    const std::vector<int8_t> st = ts.replica_states();
    for (int32_t r = 0; r < 5; ++r) {
      const double z = worst_z(g, st, r, B, t.betas[r]);
      std::printf("%s replica %d (beta %.3f): worst deviation %.2f standard errors\n", scheme, r, t.betas[r], z);
      EXPECT_LT(z, 5.0) << "replica " << r;
    }
    const std::vector<double> acc = ts.stats().acceptance();
    std::printf("%s: swap acceptance", scheme);
    for (double a : acc) std::printf(" %.3f", a);
    std::printf(", %lld round trips in %lld rounds\n", static_cast<long long>(ts.stats().round_trips),
                static_cast<long long>(ts.stats().rounds));
    for (double a : acc) EXPECT_GT(a, 0.05);
    EXPECT_EQ(ts.stats().rounds, 600);
    EXPECT_GT(ts.stats().round_trips, 0);
  }
}

// The same with what the DTM's tempered negative phase and the DBM's tempered eval add: a clamp and
// per-chain fields, which enter each replica's conditionals and the swap energy. Two groups of chains
// (even, odd) hold node 3 at +1 / -1 and fields of their own on nodes 0 and 5; every replica of each
// group matches enumeration of its own clamp and field at the replica's beta (exact.hpp), within 5
// standard errors. The two groups' exact moments differ by far more, so a swap or sweep that dropped
// the clamp or the field, or took another chain's, would fail.
TEST(Tempering, ClampsAndPerChainFieldsHoldInEveryReplica) {
  const Graph g = frustrated(4);
  const int32_t B = 4000, N = 8, R = 5;
  const std::vector<int32_t> field_nodes{0, 5};
  const float field_of[2][2] = {{0.7f, -0.4f}, {-0.5f, 0.9f}};
  std::vector<int8_t> clamp(B);
  std::vector<float> field(static_cast<size_t>(B) * 2);
  for (int32_t b = 0; b < B; ++b) {
    clamp[static_cast<size_t>(b)] = b % 2 ? -1 : 1;
    for (int k = 0; k < 2; ++k) field[static_cast<size_t>(b) * 2 + k] = field_of[b % 2][k];
  }
  TemperingOptions t;
  t.betas = TemperingOptions::geometric(2.55f, 0.4f, R);
  SamplerOptions o;
  o.backend = Backend::cpu;
  o.seed = 9;
  TemperedSampler ts(g, color_graph(g), B, t, o);
  ts.set_clamp({3}, clamp);
  ts.set_field(field_nodes, field);
  ts.run(SamplingSchedule{600, 0, 1});
  const std::vector<int8_t> st = ts.replica_states();
  double apart = 0, field_apart = 0;
  for (int32_t r = 0; r < R; ++r) {
    std::vector<double> node[2], edge[2];
    for (int grp = 0; grp < 2; ++grp) {
      ChainSetup cs{std::vector<int8_t>(N, 0), std::vector<double>(N, 0.0)};
      cs.clamp[3] = grp ? -1 : 1;
      for (int k = 0; k < 2; ++k) cs.field[static_cast<size_t>(field_nodes[static_cast<size_t>(k)])] = field_of[grp][k];
      moments(g, boltzmann(g, cs, t.betas[static_cast<size_t>(r)]), node[grp], edge[grp]);
      ChainSetup clamp_only = cs;  // the same clamp without the field
      clamp_only.field.assign(N, 0.0);
      std::vector<double> bare_node, bare_edge;
      moments(g, boltzmann(g, clamp_only, t.betas[static_cast<size_t>(r)]), bare_node, bare_edge);
      for (int32_t i = 0; i < N; ++i) {
        const double m = node[grp][static_cast<size_t>(i)], se = std::sqrt(std::max(1e-9, (1 - m * m) / (B / 2)));
        if (i != 3) field_apart = std::max(field_apart, std::fabs(m - bare_node[static_cast<size_t>(i)]) / se);
      }
      // Sampled means over the group's B / 2 chains, each a +-1 value of exact variance 1 - m^2.
      const double n = B / 2;
      auto z = [&](double sampled, double exact) { return std::fabs(sampled - exact) / std::sqrt(std::max(1e-9, (1 - exact * exact) / n)); };
      double worst = 0;
      for (int32_t i = 0; i < N; ++i) {
        double m = 0;
        for (int32_t b = grp; b < B; b += 2) m += st[(static_cast<size_t>(r) * B + b) * N + i];
        worst = std::max(worst, z(m / n, node[grp][static_cast<size_t>(i)]));
      }
      for (int64_t q = 0; q < g.num_edges(); ++q) {
        double c = 0;
        for (int32_t b = grp; b < B; b += 2) {
          const int8_t* s = st.data() + (static_cast<size_t>(r) * B + b) * N;
          c += s[g.edge_i()[q]] * s[g.edge_j()[q]];
        }
        worst = std::max(worst, z(c / n, edge[grp][static_cast<size_t>(q)]));
      }
      std::printf("replica %d (beta %.3f), chains with node 3 at %+d: worst deviation %.2f standard errors\n", r, t.betas[r], grp ? -1 : 1,
                  worst);
      EXPECT_LT(worst, 5.0) << "replica " << r << ", group " << grp;
    }
    for (int32_t i = 0; i < N; ++i) {
      if (i == 3) continue;  // clamped: trivially apart
      const double m = node[0][static_cast<size_t>(i)], se = std::sqrt(std::max(1e-9, (1 - m * m) / (B / 2)));
      apart = std::max(apart, std::fabs(node[0][static_cast<size_t>(i)] - node[1][static_cast<size_t>(i)]) / se);
    }
  }
  std::printf("the two groups' exact means differ by up to %.1f standard errors; without the field, by up to %.1f\n", apart, field_apart);
  EXPECT_GT(apart, 20.0);        // a replica that took another chain's clamp and field fails
  EXPECT_GT(field_apart, 20.0);  // so does one that dropped the field
  EXPECT_EQ(ts.stats().rounds, 600);
}

/// A ferromagnet of 12 nodes (every pair coupled, J = 0.25) with a slight field toward -1: two deep
/// minima (all +1, all -1) far apart, the lower one at -1.
Graph bimodal() {
  std::vector<Edge> e;
  for (int32_t i = 0; i < 12; ++i)
    for (int32_t j = i + 1; j < 12; ++j) e.push_back({i, j, 0.25f});
  return Graph::from_edges(12, e, std::vector<float>(12, -0.05f));
}

// On the bimodal graph, from the all +1 state: plain Gibbs at beta 1 stays in the upper well for the
// whole budget (its magnetisation many standard errors from the exact one), while the beta = 1
// replica of a tempered run with the same number of flips matches enumeration.
TEST(Tempering, TheTargetReplicaCrossesBetweenWellsWherePlainGibbsDoesNot) {
  const Graph g = bimodal();
  const int32_t B = 2000, N = 12, R = 4;
  std::vector<double> mean, corr;
  exact_moments(g, 1.0, mean, corr);
  double exact_m = 0;
  for (double v : mean) exact_m += v / N;
  const std::vector<int8_t> up(static_cast<size_t>(B) * N, 1);
  auto magnetisation = [&](const std::vector<int8_t>& st) {
    double m = 0;
    for (int32_t b = 0; b < B; ++b)
      for (int32_t i = 0; i < N; ++i) m += st[static_cast<size_t>(b) * N + i];
    return m / (static_cast<double>(B) * N);
  };
  SamplerOptions o;
  o.backend = Backend::cpu;
  o.seed = 21;
  Sampler plain(g, B, o);
  plain.set_state(up);
  plain.sweep(400 * R, BetaSchedule::constant(1.0f));
  TemperingOptions t;
  t.betas = TemperingOptions::geometric(1.0f, 0.1f, R);
  TemperedSampler ts(g, color_graph(g), B, t, o);
  ts.set_state(up);
  ts.run(SamplingSchedule{400, 0, 1});
  const double m_plain = magnetisation(plain.state()), m_pt = magnetisation(ts.state());
  // The magnetisation of one chain is in [-1, 1]: its standard error over B chains is at most 1/sqrt(B).
  const double se = 1.0 / std::sqrt(static_cast<double>(B));
  std::printf("magnetisation: exact %.3f, plain Gibbs %.3f, tempering %.3f (standard error <= %.3f)\n", exact_m, m_plain, m_pt, se);
  EXPECT_GT(std::fabs(m_plain - exact_m), 20 * se);
  EXPECT_LT(std::fabs(m_pt - exact_m), 5 * se);
  EXPECT_LT(worst_z(g, ts.replica_states(), 0, B, 1.0), 5.0);
}

// Every backend makes the same swaps: the replica states and the swap counts equal the reference's,
// with a clamp and per-chain fields (which enter the swap energy).
class TemperingOnBackend : public ::testing::TestWithParam<Backend> {};

TEST_P(TemperingOnBackend, SameSwapsAsTheReference) {
  PBIT_REQUIRE_BACKEND(GetParam());
  const Graph g = frustrated(6);
  const int32_t B = 37;
  std::vector<float> field(static_cast<size_t>(B) * 2);
  for (size_t k = 0; k < field.size(); ++k) field[k] = 0.2f * static_cast<float>(k % 7) - 0.6f;
  auto run = [&](const SamplerOptions& o) {
    TemperingOptions t;
    t.betas = {1.5f, 1.0f, 0.7f, 0.3f};
    t.sweeps_per_round = 2;
    t.scheme = "seo";
    TemperedSampler ts(g, color_graph(g), B, t, o);
    ts.set_clamp({5}, std::vector<int8_t>{1});
    ts.set_field({0, 3}, field);
    ObserverSpec spec;
    spec.moments = true;
    spec.energy = true;
    spec.snapshot_sweeps = {25, 4, 13};
    const Observations obs = ts.run(SamplingSchedule{10, 6, 3}, spec);
    return std::make_tuple(ts.replica_states(), ts.stats().accepts, obs.edge_sum, obs.energy, obs.snapshots);
  };
  SamplerOptions ref;
  ref.backend = Backend::reference;
  ref.seed = 17;
  const auto want = run(ref);
  int64_t accepted = 0;
  for (int64_t a : std::get<1>(want)) accepted += a;
  EXPECT_GT(accepted, 0);  // the comparison covers swaps
  for_each_variant(GetParam(), ref, [&](const SamplerOptions& o) { EXPECT_TRUE(run(o) == want); });
}

// The swaps are keyed by the sampler's stream as well as the seed: two tempered samplers of one seed
// on other streams (a DTM's steps, a DBM's evaluation and generation) draw other swap decisions. Under
// "seo" the pairs attempted depend on the parity draws alone: equal on one stream, different on
// another, and even or odd about half the time each (5 standard errors over B x rounds draws).
TEST(Tempering, SwapsAreKeyedByTheSamplersStream) {
  const Graph g = frustrated(6);
  const int32_t B = 50, rounds = 100;
  auto attempts = [&](uint32_t stream) {
    TemperingOptions t;
    t.betas = {1.0f, 0.7f, 0.4f};
    t.scheme = "seo";
    SamplerOptions o;
    o.seed = 5;
    o.stream = stream;
    TemperedSampler ts(g, color_graph(g), B, t, o);
    ts.sweep(rounds);
    return ts.stats().attempts;
  };
  const std::vector<int64_t> a = attempts(rng::kGibbs), again = attempts(rng::kGibbs), other = attempts(rng::kGibbs + 1);
  EXPECT_EQ(a, again);
  EXPECT_NE(a, other) << "two streams drew the same swap parities";
  const double n = static_cast<double>(B) * rounds;
  for (const auto& v : {a, other}) {
    ASSERT_EQ(v.size(), 2u);
    EXPECT_EQ(v[0] + v[1], static_cast<int64_t>(n));  // one pair of three replicas per chain and round
    EXPECT_NEAR(static_cast<double>(v[0]), n / 2, 5 * std::sqrt(n / 4));
  }
}

// Samples taken before the ladder's last adaptation are counted: a warm-up as long as the
// adaptation takes none, one a sample shorter takes one, and a fixed ladder never counts any.
TEST(Tempering, SamplesTakenWhileTheLadderAdaptsAreCounted) {
  const Graph g = frustrated(6);
  TemperingOptions t;
  t.betas = {1.0f, 0.7f, 0.4f};
  t.sweeps_per_round = 2;
  t.adapt_rounds = 30;  // adapts every 10 rounds: the last time at round 30, sweep 60
  ASSERT_EQ(TemperedSampler::adaptation_sweeps(t), 60);
  auto counted = [&](const TemperingOptions& o, int64_t warmup) {
    TemperedSampler ts(g, color_graph(g), 4, o);
    ts.run(SamplingSchedule{warmup, 5, 2});
    return ts.stats().samples_while_adapting;
  };
  EXPECT_EQ(counted(t, 60), 0);
  EXPECT_EQ(counted(t, 57), 1);  // the sample after sweep 59 (round 29)
  EXPECT_EQ(counted(t, 0), 5);   // sweeps 2 .. 10
  TemperingOptions fixed = t;
  fixed.adapt_rounds = 0;
  EXPECT_EQ(TemperedSampler::adaptation_sweeps(fixed), 0);
  EXPECT_EQ(counted(fixed, 0), 0);
  // Two replicas have no interior beta to tune: the ladder never moves, and no sample is counted.
  TemperingOptions two = t;
  two.betas = {1.0f, 0.5f};
  EXPECT_EQ(TemperedSampler::adaptation_sweeps(two), 0);
  EXPECT_EQ(counted(two, 0), 0);
}

// The swap statistics every tempered output writes: a pair never attempted has no acceptance (null),
// one that refused every swap has 0, and the counts go beside them (helper-116, helper-118: pbit
// sample, dbm eval and generate, dtm mixing and train wrote 0 for both).
TEST(Tempering, SwapStatisticsSayWhichPairsWereNeverAttempted) {
  const nlohmann::json j = swap_statistics_json({4, 0, 5}, {1, 0, 0});
  EXPECT_EQ(j.dump(), R"({"swap_acceptance":[0.25,null,0.0],"swap_accepts":[1,0,0],"swap_attempts":[4,0,5]})");
  EXPECT_NE(error_of([] { swap_statistics_json({1, 2}, {1}); }).find("2 attempt counts but 1 accept counts"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(AllBackends, TemperingOnBackend, ::testing::ValuesIn(test_backends()), backend_param_name);

// Snapshots are the target replicas' states after that sweep (and its swap round): the same as
// stopping the run there and reading state(), so split runs continue the rounds exactly.
TEST(Tempering, SnapshotsAreTheTargetStatesAtThoseSweeps) {
  const Graph g = frustrated(3);
  const int32_t B = 50;
  auto make = [&] {
    TemperingOptions t;
    t.betas = {1.0f, 0.6f, 0.3f};
    t.sweeps_per_round = 3;
    SamplerOptions o;
    o.backend = Backend::cpu;
    o.seed = 9;
    return TemperedSampler(g, color_graph(g), B, t, o);
  };
  TemperedSampler whole = make();
  ObserverSpec spec;
  spec.snapshot_sweeps = {7, 2, 12};
  const Observations obs = whole.run(SamplingSchedule{12, 0, 1}, spec);
  TemperedSampler split = make();
  std::vector<int8_t> want;
  for (int64_t n : {2, 5, 5}) {
    split.sweep(n);
    const std::vector<int8_t> st = split.state();
    want.insert(want.end(), st.begin(), st.end());
  }
  EXPECT_EQ(obs.snapshots, want);
  EXPECT_EQ(whole.replica_states(), split.replica_states());
  EXPECT_GT(whole.stats().accepts[0] + whole.stats().accepts[1], 0);
  spec.snapshot_sweeps = {13};
  EXPECT_NE(error_of([&] { whole.run(SamplingSchedule{12, 0, 1}, spec); }).find("outside"), std::string::npos);
}

// The observers sum the target replicas' states: moments, energies and read-outs are those of the
// snapshots taken at the same sweeps, whatever the thread count of the host sums.
TEST(Tempering, ObservationsAreTheTargetStatesSummedAtAnyThreadCount) {
  const Graph g = frustrated(4);
  const int32_t B = 4096, N = g.num_nodes();
  // Work enough that each of the host sums (over the nodes, the edges and the chains) runs on the
  // three threads asked (8 units a chain's node or edge, as tempering.cpp counts): with less they
  // would run on one, and test nothing here.
  ASSERT_EQ(detail::threads_for(8.0 * B * std::min<int64_t>(N, g.num_edges()), [] { return 3; }), 3);
  const SamplingSchedule sched{4, 5, 3};  // samples after sweeps 7, 10, 13, 16, 19
  ObserverSpec spec;
  spec.moments = spec.energy = true;
  spec.readout_groups = {{0, 1, 2}, {5}};
  for (int64_t m = 1; m <= sched.samples; ++m) spec.snapshot_sweeps.push_back(sched.warmup + m * sched.steps_per_sample);
  std::vector<Observations> runs;
  for (int threads : {1, 3}) {
    TemperingOptions t;
    t.betas = {1.0f, 0.6f, 0.3f};
    t.sweeps_per_round = 2;
    SamplerOptions o;
    o.backend = Backend::cpu;
    o.seed = 4;
    o.num_threads = threads;
    TemperedSampler ts(g, color_graph(g), B, t, o);
    runs.push_back(ts.run(sched, spec));
  }
  const Observations& a = runs[0];
  std::vector<int64_t> node(static_cast<size_t>(N), 0), edge(static_cast<size_t>(g.num_edges()), 0), readout(static_cast<size_t>(B) * 2, 0);
  std::vector<double> energy;
  for (int64_t m = 0; m < sched.samples; ++m) {
    for (int32_t b = 0; b < B; ++b) {
      const int8_t* s = a.snapshots.data() + (static_cast<size_t>(m) * B + static_cast<size_t>(b)) * static_cast<size_t>(N);
      for (int32_t i = 0; i < N; ++i) node[static_cast<size_t>(i)] += s[i];
      for (int64_t e = 0; e < g.num_edges(); ++e) edge[static_cast<size_t>(e)] += s[g.edge_i()[e]] * s[g.edge_j()[e]];
      energy.push_back(g.energy(std::span<const int8_t>(s, static_cast<size_t>(N))));
      readout[static_cast<size_t>(b) * 2] += s[0] + s[1] + s[2];
      readout[static_cast<size_t>(b) * 2 + 1] += s[5];
    }
  }
  EXPECT_EQ(a.node_sum, node);
  EXPECT_EQ(a.edge_sum, edge);
  EXPECT_EQ(a.energy, energy);
  EXPECT_EQ(a.readout_sum, readout);
  EXPECT_EQ(runs[1].node_sum, a.node_sum);
  EXPECT_EQ(runs[1].edge_sum, a.edge_sum);
  EXPECT_EQ(runs[1].energy, a.energy);
  EXPECT_EQ(runs[1].readout_sum, a.readout_sum);
  EXPECT_EQ(runs[1].snapshots, a.snapshots);
}

// Round trips, counted exactly: with no couplings and no biases every swap is accepted, so under the
// deterministic even-odd scheme each walker bounces between the ends on a schedule a few lines replay.
// A walker counts when it is back at the target after having reached the hottest replica.
TEST(Tempering, RoundTripsAreCountedAsTheWalkersMove) {
  const Graph g = Graph::from_edges(3, std::vector<Edge>{{0, 1, 0.0f}, {1, 2, 0.0f}}, std::vector<float>(3, 0.0f));
  const int32_t B = 3;
  for (int32_t R : {2, 3, 4, 5}) {
    SCOPED_TRACE("replicas " + std::to_string(R));
    TemperingOptions t;
    t.betas = TemperingOptions::geometric(1.0f, 0.2f, R);
    SamplerOptions o;
    o.backend = Backend::cpu;
    TemperedSampler ts(g, color_graph(g), B, t, o);
    const int64_t rounds = 41;
    ts.sweep(rounds);
    // The replay: at[r] is the walker at rung r; a walker's state is "fresh" (never at the target
    // since it left the hottest), "up" (left the target) or "down" (reached the hottest).
    std::vector<int32_t> at(static_cast<size_t>(R));
    for (int32_t r = 0; r < R; ++r) at[static_cast<size_t>(r)] = r;
    std::vector<int> dir(static_cast<size_t>(R), 0);
    dir[0] = 1;
    int64_t trips = 0;
    for (int64_t round = 0; round < rounds; ++round) {
      for (int32_t r = static_cast<int32_t>(round & 1); r + 1 < R; r += 2) std::swap(at[static_cast<size_t>(r)], at[static_cast<size_t>(r + 1)]);
      if (dir[static_cast<size_t>(at[0])] == -1) ++trips;
      dir[static_cast<size_t>(at[0])] = 1;
      if (dir[static_cast<size_t>(at[static_cast<size_t>(R - 1)])] == 1) dir[static_cast<size_t>(at[static_cast<size_t>(R - 1)])] = -1;
    }
    if (R == 2) EXPECT_EQ(trips, (rounds - 1) / 2);  // swaps on even rounds only: a return every second round from round 2
    EXPECT_GT(trips, 3);
    EXPECT_EQ(ts.stats().round_trips, B * trips);
    EXPECT_EQ(ts.stats().accepts, ts.stats().attempts);
  }
}

// The adaptive ladder: from a badly spaced ladder (three rungs crowded at the cold end, a gap to the
// hot ones) the swap acceptance becomes far more even, the ends stay, and the frozen ladder still
// samples the target exactly.
TEST(Tempering, AdaptiveLadderEvensTheAcceptance) {
  const Graph g = frustrated(4);
  const int32_t B = 2000;
  auto run = [&](int64_t adapt) {
    TemperingOptions t;
    t.betas = {2.0f, 1.9f, 1.8f, 0.35f, 0.3f};
    t.adapt_rounds = adapt;
    SamplerOptions o;
    o.backend = Backend::cpu;
    o.seed = 7;
    TemperedSampler ts(g, color_graph(g), B, t, o);
    ts.run(SamplingSchedule{std::max<int64_t>(adapt, 1), 0, 1});  // adaptation (or not)
    const TemperingStats before = ts.stats();
    ts.run(SamplingSchedule{1000, 0, 1});  // the frozen ladder
    std::vector<double> acc(before.attempts.size());
    for (size_t p = 0; p < acc.size(); ++p) {
      acc[p] = static_cast<double>(ts.stats().accepts[p] - before.accepts[p]) / static_cast<double>(ts.stats().attempts[p] - before.attempts[p]);
    }
    const double spread = *std::max_element(acc.begin(), acc.end()) - *std::min_element(acc.begin(), acc.end());
    std::printf("adapt_rounds %lld: betas", static_cast<long long>(adapt));
    for (float b : ts.betas()) std::printf(" %.3f", b);
    std::printf("; acceptance");
    for (double a : acc) std::printf(" %.3f", a);
    std::printf(" (spread %.3f)\n", spread);
    EXPECT_EQ(ts.stats().betas, ts.betas());
    EXPECT_FLOAT_EQ(ts.betas().front(), 2.0f);
    EXPECT_FLOAT_EQ(ts.betas().back(), 0.3f);
    for (size_t r = 1; r < ts.betas().size(); ++r) EXPECT_LT(ts.betas()[r], ts.betas()[r - 1]);
    EXPECT_LT(worst_z(g, ts.replica_states(), 0, B, 2.0), 5.0);
    return spread;
  };
  const double fixed = run(0), adapted = run(300);
  // Here 0.873 and 0.009: the adapted spread is far below the fixed one (a ladder that aimed its
  // rungs at k / R of the rejection instead of k / (R - 1) left 0.28).
  EXPECT_LT(adapted, 0.05);
  EXPECT_LT(adapted, 0.1 * fixed);
}

// A saved state continues bit for bit in another sampler: mid-round (sweeps_per_round 3), with an
// adapting ladder (its moved betas and window counts are part of the state), the swaps, walkers and
// observations of the rest of the run are the uninterrupted run's. A state of another shape is refused;
// a restart draws fresh chains but counts the rounds on.
TEST(Tempering, ASavedStateContinuesBitForBit) {
  const Graph g = frustrated(5);
  const int32_t B = 40;
  TemperingOptions t;
  t.betas = {1.0f, 0.7f, 0.5f, 0.3f};
  t.sweeps_per_round = 3;
  t.adapt_rounds = 60;
  SamplerOptions o;
  o.seed = 11;
  o.backend = Backend::cpu;
  ObserverSpec spec;
  spec.moments = true;
  spec.energy = true;
  TemperedSampler whole(g, color_graph(g), B, t, o);
  whole.sweep(100);  // 33 rounds and a sweep: mid-round, and mid-adaptation
  const TemperedState saved = whole.save_state();
  EXPECT_EQ(saved.sweeps, 100u);
  EXPECT_EQ(saved.sweeps_since_round, 1);
  EXPECT_EQ(saved.stats.rounds, 33);
  const Observations rest = whole.run(SamplingSchedule{50, 20, 3}, spec);
  TemperedSampler resumed(g, color_graph(g), B, t, o);
  resumed.restore_state(saved);
  EXPECT_EQ(resumed.betas(), saved.stats.betas);
  const Observations again = resumed.run(SamplingSchedule{50, 20, 3}, spec);
  EXPECT_EQ(again.edge_sum, rest.edge_sum);
  EXPECT_EQ(again.node_sum, rest.node_sum);
  EXPECT_EQ(again.energy, rest.energy);
  EXPECT_EQ(resumed.replica_states(), whole.replica_states());
  EXPECT_EQ(resumed.stats().accepts, whole.stats().accepts);
  EXPECT_EQ(resumed.stats().round_trips, whole.stats().round_trips);
  EXPECT_EQ(resumed.betas(), whole.betas());
  // Other shapes are refused, and a refused state changes nothing.
  TemperedSampler fewer(g, color_graph(g), B - 1, t, o);
  EXPECT_THROW(fewer.restore_state(saved), InvalidArgument);
  TemperedState bad = saved;
  bad.walker[0] = bad.walker[1];
  EXPECT_THROW(resumed.restore_state(bad), InvalidArgument);
  bad = saved;
  bad.sweeps_since_round = 3;
  EXPECT_THROW(resumed.restore_state(bad), InvalidArgument);
  bad = saved;
  bad.stats.betas[2] = 0.9f;  // not decreasing
  EXPECT_THROW(resumed.restore_state(bad), InvalidArgument);
  // Refused after the spins were set, before: a sweep count past the counter's 2^32 - 1 changed them.
  bad = saved;
  bad.sweeps = uint64_t{1} << 32;
  bad.spins.assign(bad.spins.size(), 1);
  EXPECT_THROW(resumed.restore_state(bad), InvalidArgument);
  EXPECT_EQ(resumed.replica_states(), whole.replica_states());
  // A restart: fresh chains, those a plain sampler of the B R replica chains draws at that sweep
  // count, and the rounds counted on: its next round is keyed as the uninterrupted run's round 33.
  TemperedSampler fresh(g, color_graph(g), B, t, o);
  fresh.restart(100, 33);
  EXPECT_EQ(fresh.sweep_count(), 100u);
  EXPECT_EQ(fresh.stats().rounds, 33);
  Sampler plain(g, color_graph(g), B * 4, o);
  plain.set_sweep_count(100);
  plain.randomize_state();
  EXPECT_EQ(fresh.save_state().spins, plain.state());
  TemperedState same = fresh.save_state();  // the same fresh chains, with the rounds restarted at 0
  same.stats.rounds = 0;
  TemperedSampler from_zero(g, color_graph(g), B, t, o);
  from_zero.restore_state(same);
  fresh.sweep(3);
  from_zero.sweep(3);
  EXPECT_EQ(fresh.stats().rounds, 34);
  EXPECT_NE(fresh.stats().accepts, from_zero.stats().accepts) << "round 33 drew round 0's swaps";
  EXPECT_THROW(fresh.restart(0, -1), InvalidArgument);
  EXPECT_THROW(fresh.restart(0, int64_t{1} << 32), InvalidArgument);
}

// set_weights reaches every replica and the observers: energies after it are those of the new
// weights (the sampler's copy of the graph follows them).
TEST(Tempering, NewWeightsReachTheReplicasAndTheEnergies) {
  Graph g = frustrated(5);
  TemperingOptions t;
  t.betas = {1.0f, 0.6f};
  SamplerOptions o;
  o.seed = 3;
  TemperedSampler ts(g, color_graph(g), 6, t, o);
  std::vector<float> J = g.edge_weights(), h(static_cast<size_t>(g.num_nodes()), 0.25f);
  for (float& w : J) w = -2 * w;
  ts.set_weights(J, h);
  g.set_edge_weights(J);
  g.set_biases(h);
  EXPECT_EQ(ts.graph().edge_weights(), J);
  ObserverSpec spec;
  spec.energy = true;
  const Observations obs = ts.run(SamplingSchedule{0, 1, 3}, spec);
  const std::vector<int8_t> st = ts.state();
  const size_t N = static_cast<size_t>(g.num_nodes());
  for (int32_t b = 0; b < 6; ++b) {
    EXPECT_DOUBLE_EQ(obs.energy[static_cast<size_t>(b)], g.energy(std::span<const int8_t>(st.data() + b * N, N))) << "chain " << b;
  }
  EXPECT_THROW(ts.set_weights(std::vector<float>(3, 1.0f), h), InvalidArgument);  // the wrong count, refused as Sampler refuses it
}

// And the replicas sample the new weights: after 100 sweeps of one model, set_weights to couplings
// and biases drawn afresh on the same edges, and every replica after 600 more sweeps matches
// enumeration of the new model at its beta (within 5 standard errors), where the old model's moments
// are far off in every replica (the energies alone, above, follow the sampler's copy of the graph
// whether or not the engines took the weights: helper-127); cpu and packed give those chains bit for
// bit.
TEST(Tempering, NewWeightsMidRunAreSampledInEveryReplica) {
  const Graph g = frustrated(4);
  rng::PhiloxStream rs(11, rng::kTest);
  std::vector<float> J(static_cast<size_t>(g.num_edges())), h(static_cast<size_t>(g.num_nodes()));
  for (float& w : J) w = static_cast<float>(0.6 * rs.normal());
  for (float& x : h) x = static_cast<float>(0.3 * rs.normal());
  Graph g2 = g;
  g2.set_edge_weights(J);
  g2.set_biases(h);
  TemperingOptions t;
  t.betas = TemperingOptions::geometric(2.55f, 0.4f, 5);
  // Every replica's states after `before` sweeps, set_weights and `after` more, on `backend`.
  const auto run = [&](Backend backend, int32_t chains, int64_t before, int64_t after) {
    SamplerOptions o;
    o.backend = backend;
    o.seed = 6;
    TemperedSampler ts(g, color_graph(g), chains, t, o);
    ts.sweep(before);
    ts.set_weights(J, h);
    ts.sweep(after);
    return ts.replica_states();
  };
  const int32_t B = 4000;
  const std::vector<int8_t> st = run(Backend::reference, B, 100, 600);
  for (int32_t r = 0; r < 5; ++r) {
    const double z = worst_z(g2, st, r, B, t.betas[r]), stale = worst_z(g, st, r, B, t.betas[r]);
    std::printf("replica %d (beta %.3f): worst deviation %.2f standard errors from the new model, %.1f from the old\n", r, t.betas[r], z, stale);
    EXPECT_LT(z, 5.0) << "replica " << r;
    EXPECT_GT(stale, 5.0) << "replica " << r << ": the old model is not told apart here";
  }
  // The other host backends give the reference's replicas bit for bit across set_weights (the
  // statistics above would be the same numbers again).
  const std::vector<int8_t> ref = run(Backend::reference, 256, 20, 40);
  for (const Backend backend : {Backend::cpu, Backend::packed}) EXPECT_EQ(run(backend, 256, 20, 40), ref) << to_string(backend);
}

// Where every swap is accepted (a model without couplings or fields: every energy is 0) no rung
// rejects; the adaptation must keep a ladder of finite, falling betas with its ends, not divide 0 by 0.
TEST(Tempering, AnAllAcceptedLadderStaysFinite) {
  const std::vector<Edge> edges = {{0, 1, 0.0f}, {1, 2, 0.0f}, {2, 3, 0.0f}};
  const Graph g = Graph::from_edges(4, edges, std::vector<float>(4, 0.0f));
  TemperingOptions t;
  t.betas = {1.0f, 0.8f, 0.5f, 0.2f};
  t.adapt_rounds = 10;
  SamplerOptions o;
  o.backend = Backend::cpu;
  TemperedSampler ts(g, color_graph(g), 8, t, o);
  ts.run(SamplingSchedule{40, 0, 1});
  EXPECT_EQ(ts.stats().accepts, ts.stats().attempts);
  const std::vector<float> b = ts.betas();
  ASSERT_EQ(b.size(), 4u);
  for (float x : b) EXPECT_TRUE(std::isfinite(x)) << x;
  EXPECT_FLOAT_EQ(b.front(), 1.0f);
  EXPECT_FLOAT_EQ(b.back(), 0.2f);
  for (size_t r = 1; r < b.size(); ++r) EXPECT_LT(b[r], b[r - 1]);
}

// A tempered run split into shards of its chains (SamplerOptions::first_chain, as MPI ranks split
// it) is that run: the same target and replica states, swaps and energies, and with an adaptive
// ladder the same ladder, when the shards sum their swap counts at each adaptation (here three
// threads, one of them a shard without chains that adds zeros, as a rank without images does).
TEST(Tempering, ShardsOfARunAreThatRun) {
  const Graph g = frustrated(5);
  const int32_t B = 37, N = g.num_nodes();
  const int32_t split = 15;  // shards [0, 15) and [15, 37)
  std::vector<int8_t> clamp(static_cast<size_t>(B));
  std::vector<float> field(static_cast<size_t>(B) * 2);
  for (int32_t b = 0; b < B; ++b) clamp[static_cast<size_t>(b)] = b % 3 ? 1 : -1;
  for (size_t k = 0; k < field.size(); ++k) field[k] = 0.15f * static_cast<float>(k % 5) - 0.3f;
  TemperingOptions t;
  t.betas = {1.6f, 1.5f, 1.4f, 0.4f};
  t.sweeps_per_round = 2;
  t.scheme = "seo";
  t.adapt_rounds = 60;
  const SamplingSchedule sched{40, 8, 5};  // 80 sweeps: 40 rounds, adaptations at rounds 12, 24 and 36 (every 60 / 5)
  ObserverSpec spec;
  spec.moments = true;
  spec.energy = true;
  spec.snapshot_sweeps = {33, 80};
  struct Result {
    std::vector<int8_t> state, replicas;
    std::vector<int64_t> accepts;
    std::vector<double> energy;
    std::vector<int8_t> snaps;
    std::vector<float> betas;
  };
  auto run = [&](int32_t first, int32_t count, std::function<void(std::span<int64_t>)> sum) {
    SamplerOptions o;
    o.backend = Backend::reference;
    o.seed = 23;
    o.first_chain = static_cast<uint32_t>(first);
    TemperedSampler ts(g, color_graph(g), count, t, o);
    if (sum) ts.set_shard_sum(std::move(sum));
    ts.set_clamp({6}, std::span<const int8_t>(clamp).subspan(static_cast<size_t>(first), static_cast<size_t>(count)));
    ts.set_field({1, 2}, std::span<const float>(field).subspan(static_cast<size_t>(first) * 2, static_cast<size_t>(count) * 2));
    const Observations obs = ts.run(sched, spec);
    return Result{ts.state(), ts.replica_states(), ts.stats().accepts, obs.energy, obs.snapshots, ts.betas()};
  };
  const Result whole = run(0, B, {});
  EXPECT_NE(whole.betas, t.betas);  // the ladder moved
  // Three threads sum their counters at each adaptation: add, wait, read, wait (then cleared).
  std::vector<int64_t> acc;
  std::mutex mu;
  int calls = 0;
  std::barrier added(3);
  std::barrier read(3, [&]() noexcept { acc.clear(); ++calls; });
  auto sum = [&](std::span<int64_t> v) {
    {
      const std::lock_guard<std::mutex> lock(mu);
      acc.resize(v.size(), 0);
      for (size_t k = 0; k < v.size(); ++k) acc[k] += v[k];
    }
    added.arrive_and_wait();
    std::copy(acc.begin(), acc.end(), v.begin());
    read.arrive_and_wait();
  };
  Result lo, hi;
  const int64_t adaptations = TemperedSampler::adaptations(t, sched.total_sweeps());
  EXPECT_EQ(adaptations, 3);
  {
    std::jthread a([&] { lo = run(0, split, sum); });
    std::jthread b([&] { hi = run(split, B - split, sum); });
    std::jthread idle([&] {
      for (int64_t k = 0; k < adaptations; ++k) {
        std::vector<int64_t> zeros(2 * (t.betas.size() - 1), 0);
        sum(zeros);
      }
    });
  }
  EXPECT_EQ(calls, adaptations);
  EXPECT_EQ(lo.betas, whole.betas);
  EXPECT_EQ(hi.betas, whole.betas);
  auto joined = [&](const std::vector<int8_t>& a, const std::vector<int8_t>& b, int32_t rows_each) {  // per replica: lo's rows, hi's
    std::vector<int8_t> out;
    for (int32_t r = 0; r < rows_each; ++r) {
      out.insert(out.end(), a.begin() + static_cast<ptrdiff_t>(r) * split * N, a.begin() + static_cast<ptrdiff_t>(r + 1) * split * N);
      out.insert(out.end(), b.begin() + static_cast<ptrdiff_t>(r) * (B - split) * N, b.begin() + static_cast<ptrdiff_t>(r + 1) * (B - split) * N);
    }
    return out;
  };
  EXPECT_EQ(joined(lo.state, hi.state, 1), whole.state);
  EXPECT_EQ(joined(lo.replicas, hi.replicas, static_cast<int32_t>(t.betas.size())), whole.replicas);
  EXPECT_EQ(joined(lo.snaps, hi.snaps, 2), whole.snaps);
  for (size_t p = 0; p < whole.accepts.size(); ++p) EXPECT_EQ(lo.accepts[p] + hi.accepts[p], whole.accepts[p]) << "pair " << p;
  std::vector<double> energy;
  for (int64_t j = 0; j < sched.samples; ++j) {
    energy.insert(energy.end(), lo.energy.begin() + j * split, lo.energy.begin() + (j + 1) * split);
    energy.insert(energy.end(), hi.energy.begin() + j * (B - split), hi.energy.begin() + (j + 1) * (B - split));
  }
  EXPECT_EQ(energy, whole.energy);
  // A shard that adapts from its own counts alone ends with another ladder.
  EXPECT_NE(run(0, split, {}).betas, whole.betas);
}

TEST(Tempering, BadOptionsAreRefused) {
  const Graph g = frustrated(1);
  const Coloring c = color_graph(g);
  auto make = [&](TemperingOptions t, SamplerOptions o = {}) { TemperedSampler(g, c, 4, std::move(t), o); };
  TemperingOptions ok;
  ok.betas = {1.0f, 0.5f};
  TemperingOptions one = ok;
  one.betas = {1.0f};
  EXPECT_NE(error_of([&] { make(one); }).find("at least two"), std::string::npos);
  TemperingOptions neg = ok;
  neg.betas = {1.0f, -0.5f};
  EXPECT_NE(error_of([&] { make(neg); }).find("beta 1"), std::string::npos);
  TemperingOptions flat = ok;
  flat.betas = {1.0f, 0.5f, 0.5f};
  EXPECT_NE(error_of([&] { make(flat); }).find("must decrease"), std::string::npos);
  EXPECT_THROW(TemperingOptions::geometric(1.0f, 2.0f, 3), InvalidArgument);  // the hottest above the target
  TemperingOptions scheme = ok;
  scheme.scheme = "random";
  EXPECT_NE(error_of([&] { make(scheme); }).find("scheme"), std::string::npos);
  // Checked before the chains are allocated: 2^28 chains of 2 replicas are not built to be refused.
  EXPECT_NE(error_of([&] { TemperedSampler(g, c, 1 << 28, scheme); }).find("scheme"), std::string::npos);
  TemperingOptions adapt = ok;
  adapt.adapt_rounds = -1;
  EXPECT_NE(error_of([&] { make(adapt); }).find("adapt_rounds"), std::string::npos);
  adapt.adapt_rounds = 9;  // it would adapt every 10 rounds while rounds <= 9: never
  EXPECT_NE(error_of([&] { make(adapt); }).find("adapt_rounds must be 0 (a fixed ladder) or >= 10"), std::string::npos);
  TemperingOptions rounds = ok;
  rounds.sweeps_per_round = 0;
  EXPECT_NE(error_of([&] { make(rounds); }).find("sweeps_per_round"), std::string::npos);
  SamplerOptions hw;
  hw.hardware.gain_sigma = 0.1f;
  EXPECT_NE(error_of([&] { make(ok, hw); }).find("ideal p-bits"), std::string::npos);
  SamplerOptions far;
  far.first_chain = (uint32_t{1} << 31) - 2;  // (first + 4) x 2 replicas > 2^32
  EXPECT_NE(error_of([&] { make(ok, far); }).find("at most 2^32"), std::string::npos);
  EXPECT_THROW(TemperingOptions::geometric(1.0f, 0.1f, 1), InvalidArgument);
  // A ladder geometric() gives is one the sampler takes: rungs that round onto each other are
  // refused there, with the reason, and so is a hottest beta that is the target as a float.
  EXPECT_NE(error_of([] { TemperingOptions::geometric(1.0f, 0.9999f, 2000); }).find("closer than a float can tell apart"), std::string::npos);
  EXPECT_NE(error_of([] { TemperingOptions::geometric(1.0f, 0.99999999f, 100); }).find("got hottest 1 and target 1 (as floats)"),
            std::string::npos);
  TemperedSampler ts(g, c, 4, ok);
  ObserverSpec snap;
  snap.snapshot_sweeps = {3};  // past the run's 2 sweeps
  EXPECT_THROW(ts.run(SamplingSchedule{1, 1, 1}, snap), InvalidArgument);
  snap.snapshot_sweeps = {1, 1};
  EXPECT_THROW(ts.run(SamplingSchedule{1, 1, 1}, snap), InvalidArgument);
  ObserverSpec twice;
  twice.readout_groups = {{0, 1, 0}};
  EXPECT_NE(error_of([&] { ts.run(SamplingSchedule{1, 1, 1}, twice); }).find("readout group 0 lists node 0 twice"), std::string::npos);
  EXPECT_THROW(ts.set_state(std::vector<int8_t>(3, 1)), InvalidArgument);
  // Limits are checked before the first sweep, as Sampler::run checks them: the RNG counter's 2^32
  // sweeps (the inner sampler refused only when a stretch reached them, after hours) and the memory
  // the observations need (70 TB of energies here: allocated, or std::bad_alloc, before).
  const std::vector<int8_t> before = ts.replica_states();
  EXPECT_NE(error_of([&] { ts.sweep(int64_t{1} << 32); }).find("2^32 - 1 sweeps"), std::string::npos);
  EXPECT_NE(error_of([&] { ts.run(SamplingSchedule{int64_t{1} << 32, 1, 1}); }).find("2^32 - 1 sweeps"), std::string::npos);
  EXPECT_EQ(ts.replica_states(), before);  // nothing ran
  TemperedSampler wide(g, c, 4096, ok);
  ObserverSpec energy;
  energy.energy = true;
  EXPECT_THROW(wide.run(SamplingSchedule{0, int64_t{1} << 31, 1}, energy), OutOfMemory);
  // Too many chains for the memory are counted as the user gave them: replicas x chains, not the
  // inner sampler's 2^20 "chains".
  setenv("PBIT_MAX_MEMORY", "1M", 1);
  const std::string big = error_of([&] { TemperedSampler(g, c, 1 << 19, ok); });
  unsetenv("PBIT_MAX_MEMORY");
  EXPECT_NE(big.find("parallel tempering: 2 replicas x 524288 chains (1048576 sampler chains) of 8 nodes"), std::string::npos) << big;
  // Both wrong: the first_chain that no memory would mend is named, not the memory (helper-96).
  SamplerOptions far_and_big;
  far_and_big.first_chain = uint32_t{1} << 31;
  setenv("PBIT_MAX_MEMORY", "1M", 1);
  const std::string both = error_of([&] { TemperedSampler(g, c, 1 << 19, ok, far_and_big); });
  unsetenv("PBIT_MAX_MEMORY");
  EXPECT_NE(both.find("(first_chain + chains) x replicas must be at most 2^32"), std::string::npos) << both;
}

// A config's ladder: replicas and hottest give the geometric ladder from `target` when given (else the
// caller's default), so betas[0] is the target exactly; a hottest at or above the target, or at 0, is
// refused by name.
TEST(Tempering, AConfigsLadderStartsAtItsTarget) {
  const TemperingOptions t = parse_tempering(nlohmann::json::parse(R"({"replicas": 3, "hottest": 0.5, "target": 2})"), "tempering", 1.0f);
  EXPECT_EQ(t.betas, TemperingOptions::geometric(2.0f, 0.5f, 3));
  EXPECT_EQ(t.betas.front(), 2.0f);
  EXPECT_NEAR(t.betas[1], 1.0f, 1e-6f);  // sqrt(2 x 0.5)
  const TemperingOptions d = parse_tempering(nlohmann::json::parse(R"({"replicas": 3, "hottest": 0.5})"), "eval.tempering", 4.0f);
  EXPECT_EQ(d.betas, TemperingOptions::geometric(4.0f, 0.5f, 3));
  auto err = [](const char* text) { return error_of([&] { parse_tempering(nlohmann::json::parse(text), "tempering", 1.0f); }); };
  EXPECT_NE(err(R"({"replicas": 3, "hottest": 2, "target": 2})").find("key 'tempering.hottest': must be below the target"), std::string::npos);
  EXPECT_NE(err(R"({"replicas": 3, "hottest": 0})").find("key 'tempering.hottest': the hottest replica's inverse temperature must be in (0, 1e6], got 0"), std::string::npos);
  EXPECT_NE(err(R"({"betas": [1, 0.5], "target": 1})").find("key 'tempering.betas': give either betas or replicas"), std::string::npos);
}

}  // namespace
}  // namespace pbit::test
