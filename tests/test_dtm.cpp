// DTM building blocks: the forward process, its reverse coupling (checked by enumeration through the
// sampler), the ACP controller, autocorrelation / mixing time, the Frechet distance, and the Adam
// update the DTM, EqProp and p-DNN trainers share.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "exact.hpp"
#include "pbit/models/dtm.hpp"
#include "pbit/error.hpp"
#include "pbit/models/metrics.hpp"
#include "pbit/core/rng.hpp"
#include "pbit/core/sampler.hpp"
#include "models/common/adam.hpp"
#include "test_util.hpp"
#include "util/binary_io.hpp"

namespace pbit::test {
namespace {

double five_sigma(double p, double n) { return 5.0 * std::sqrt(p * (1 - p) / n); }

TEST(ForwardProcess, TimeGridAndCoupling) {
  const std::vector<double> t = dtm::time_grid(4);
  ASSERT_EQ(t.size(), 5u);
  EXPECT_EQ(t[0], 0.0);
  EXPECT_NEAR(t[1], -std::log(0.75), 1e-15);
  EXPECT_NEAR(t[2], std::log(2.0), 1e-15);
  EXPECT_NEAR(t[3], std::log(4.0), 1e-15);
  EXPECT_TRUE(std::isinf(t[4]));
  EXPECT_THROW(dtm::time_grid(0), InvalidArgument);
  // exp(2 J_f) = P(same) / P(flip): the coupling is the exact log-odds of the forward channel.
  for (double x : {0.01, 0.1, 0.5, 1.0, 2.0, 5.0}) {
    const double p = dtm::flip_probability(1.0, x), jf = dtm::forward_coupling(1.0, x);
    EXPECT_NEAR(std::exp(2 * jf), (1 - p) / p, 1e-9 * (1 - p) / p) << x;
  }
  EXPECT_EQ(dtm::forward_coupling(0.9, INFINITY), 0.0);  // the last step is pure noise
  EXPECT_TRUE(std::isinf(dtm::forward_coupling(0.9, 0.0)));
  EXPECT_EQ(dtm::flip_probability(0.9, INFINITY), 0.5);
}

// The reverse field is the log-odds of each spin's own forward channel: pixels at lambda, labels at
// label_lambda (a DTM whose labels took the pixels' rate would condition them wrongly).
TEST(ForwardProcess, ReverseFieldUsesEachGroupsOwnRate) {
  const double lambda = 0.9, label_lambda = 0.2, dt = 0.3;
  const int32_t pixels = 5;
  const std::vector<int8_t> x = {1, -1, -1, 1, 1, -1, 1, 1, -1};  // 5 pixels, 4 label spins
  std::vector<float> out(x.size());
  dtm::reverse_field(x, pixels, lambda, label_lambda, dt, out);
  for (size_t v = 0; v < x.size(); ++v) {
    const double p = dtm::flip_probability(v < static_cast<size_t>(pixels) ? lambda : label_lambda, dt);
    EXPECT_NEAR(out[v], 0.5 * std::log((1 - p) / p) * x[v], 1e-6) << v;
  }
  std::vector<float> only_pixels(static_cast<size_t>(pixels));
  dtm::reverse_field(std::span<const int8_t>(x.data(), static_cast<size_t>(pixels)), pixels, lambda, label_lambda, dt, only_pixels);
  EXPECT_TRUE(std::equal(only_pixels.begin(), only_pixels.end(), out.begin()));
  EXPECT_THROW(dtm::reverse_field(x, pixels, lambda, label_lambda, dt, only_pixels), InvalidArgument);
  EXPECT_THROW(dtm::reverse_field(x, 10, lambda, label_lambda, dt, out), InvalidArgument);
}

TEST(ForwardProcess, FlipStatisticsMatchTheFormula) {
  const int n = 200000;
  const double lambda = 0.9;
  // One step.
  std::vector<int8_t> s(n, 1);
  dtm::apply_forward_noise(s, lambda, 0.5, 7, 0, 1);
  const double flipped = std::count(s.begin(), s.end(), int8_t{-1}) / static_cast<double>(n);
  const double p = dtm::flip_probability(lambda, 0.5);
  EXPECT_NEAR(flipped, p, five_sigma(p, n));
  // Steps along the time grid compose: after step k the flip fraction is (1 - exp(-lambda t_k)) / 2.
  const std::vector<double> t = dtm::time_grid(4);
  std::vector<int8_t> x(n);
  for (int i = 0; i < n; ++i) x[i] = (i % 3) ? 1 : -1;
  const std::vector<int8_t> x0 = x;
  for (int k = 1; k <= 4; ++k) {
    dtm::apply_forward_noise(x, lambda, t[k] - t[k - 1], 7, 1, static_cast<uint32_t>(k));
    int diff = 0;
    for (int i = 0; i < n; ++i) diff += x[i] != x0[i];
    const double want = dtm::flip_probability(lambda, t[k]);
    EXPECT_NEAR(diff / static_cast<double>(n), want, five_sigma(want, n)) << "step " << k;
  }
  // Same (seed, item, step): same noise; another item: different noise.
  std::vector<int8_t> a(1000, 1), b(1000, 1), c(1000, 1);
  dtm::apply_forward_noise(a, lambda, 0.3, 9, 5, 2);
  dtm::apply_forward_noise(b, lambda, 0.3, 9, 5, 2);
  dtm::apply_forward_noise(c, lambda, 0.3, 9, 6, 2);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

// The DTM step's conditional with the coupling applied as a per-chain field J_f x^t must be the exact
// reverse conditional p(x^{t-1} | x^t) ~ p_{t-1}(x^{t-1}) q(x^t | x^{t-1}), enumerated on 5 nodes.
TEST(ForwardProcess, CouplingGivesTheExactReverseConditional) {
  rng::PhiloxStream rs(3, rng::kTest);
  std::vector<Edge> e;
  for (int i = 0; i < 5; ++i)
    for (int j = i + 1; j < 5; ++j)
      if ((i + j) % 2 || i == 0) e.push_back({i, j, static_cast<float>(0.7 * rs.normal())});
  std::vector<float> h(5);
  for (float& x : h) x = static_cast<float>(0.4 * rs.normal());
  const Graph g = Graph::from_edges(5, e, h);
  const double lambda = 0.85, dt = 0.4;
  const double jf = dtm::forward_coupling(lambda, dt), pflip = dtm::flip_probability(lambda, dt);
  const std::vector<std::vector<int8_t>> xt = {{1, -1, 1, 1, -1}, {-1, -1, 1, -1, 1}};
  const int32_t chains = 40000;
  std::vector<float> field;
  for (int32_t b = 0; b < chains; ++b)
    for (int i = 0; i < 5; ++i) field.push_back(static_cast<float>(jf * xt[b % 2][i]));
  SamplerOptions o;
  o.backend = Backend::cpu;
  o.seed = 11;
  Sampler s(g, chains, o);
  s.set_field({}, field);
  s.sweep(60);
  const std::vector<int8_t> st = s.state();
  for (int grp = 0; grp < 2; ++grp) {
    // Exact posterior by enumeration, written directly from the forward channel (not from J_f).
    std::vector<double> post(32, 0.0);
    double z = 0;
    for (uint32_t x = 0; x < 32; ++x) {
      double logp = 0;
      for (const Edge& ed : e) logp += ed.weight * spin_of(x, ed.i) * spin_of(x, ed.j);
      for (int i = 0; i < 5; ++i) logp += h[i] * spin_of(x, i);
      double q = 1;
      for (int i = 0; i < 5; ++i) q *= spin_of(x, i) == xt[grp][i] ? 1 - pflip : pflip;
      z += post[x] = std::exp(logp) * q;
    }
    for (double& v : post) v /= z;
    std::vector<double> counts(32, 0.0);
    double n = 0;
    for (int32_t b = grp; b < chains; b += 2) {
      uint32_t x = 0;
      for (int i = 0; i < 5; ++i)
        if (st[static_cast<size_t>(b) * 5 + i] > 0) x |= 1u << i;
      counts[x] += 1;
      n += 1;
    }
    double x2 = 0;
    int bins = 0;
    for (int x = 0; x < 32; ++x) {
      const double ex = post[x] * n;
      if (ex < 5) continue;
      x2 += (counts[x] - ex) * (counts[x] - ex) / ex;
      ++bins;
    }
    EXPECT_LT(chi2_upper_z(x2, bins - 1), 4.75) << "group " << grp;
  }
}

// Two spins with fields: P(s) ~ exp(J s1 s2 + h1 s1 + h2 s2), enumerated. Its total correlation is
// the mutual information of s1 and s2; a small step along the penalty's gradient term lowers it, on
// either sign of J. (A penalty of the wrong sign would raise it.)
TEST(CorrelationPenalty, AStepAlongItLowersTheTotalCorrelation) {
  struct Moments {
    double m1, m2, corr, mutual_information;
  };
  auto exact = [](double J, double h1, double h2) {
    double p[2][2], z = 0;
    for (int a = 0; a < 2; ++a)
      for (int b = 0; b < 2; ++b) z += p[a][b] = std::exp(J * (2 * a - 1) * (2 * b - 1) + h1 * (2 * a - 1) + h2 * (2 * b - 1));
    Moments m{0, 0, 0, 0};
    const double p1[2] = {(p[0][0] + p[0][1]) / z, (p[1][0] + p[1][1]) / z}, p2[2] = {(p[0][0] + p[1][0]) / z, (p[0][1] + p[1][1]) / z};
    for (int a = 0; a < 2; ++a)
      for (int b = 0; b < 2; ++b) {
        const double q = p[a][b] / z;
        m.m1 += q * (2 * a - 1), m.m2 += q * (2 * b - 1), m.corr += q * (2 * a - 1) * (2 * b - 1);
        m.mutual_information += q * std::log(q / (p1[a] * p2[b]));
      }
    return m;
  };
  const std::vector<int32_t> ei = {0}, ej = {1};
  for (double J : {-0.9, -0.2, 0.3, 1.1}) {
    const double h1 = 0.4, h2 = -0.7, lambda = 0.5;
    const Moments m = exact(J, h1, h2);
    std::vector<float> g = {0.0f};
    const std::vector<double> corr = {m.corr}, means = {m.m1, m.m2};  // one chain: its exact means
    dtm::add_correlation_penalty(lambda, ei, ej, corr, means, 2, 0, g);
    EXPECT_NEAR(g[0], lambda * (m.m1 * m.m2 - m.corr), 1e-6) << J;
    EXPECT_LT(exact(J + 0.01 * g[0], h1, h2).mutual_information, m.mutual_information) << J;
  }
  // Chains that each hold their own conditional: the product of means is averaged over the 3 chains.
  std::vector<float> g = {1.0f};
  dtm::add_correlation_penalty(2.0, ei, ej, std::vector<double>{0.25}, std::vector<double>{1, 1, 0.5, -1, 0.8, 0.5}, 2, 0, g);
  EXPECT_NEAR(g[0], 1.0 + 2.0 * ((1.0 - 0.5 + 0.4) / 3 - 0.25), 1e-6);
  EXPECT_THROW(dtm::add_correlation_penalty(1, ei, ej, std::vector<double>{0}, std::vector<double>{1, 1, 1}, 2, 0, g), InvalidArgument);
  EXPECT_THROW(dtm::add_correlation_penalty(1, ei, std::vector<int32_t>{2}, std::vector<double>{0}, std::vector<double>{1, 1}, 2, 0, g),
               InvalidArgument);
}

// From sampled chains: each chain's means over S samples, spaced apart (nearly independent), give
// the penalty of the exact moments within the sampling error. Without the correction for the
// chain's own samples in m_ci m_cj the term came out (S - 1) / S of its size, half at S = 2 (helper-85).
TEST(CorrelationPenalty, FromSampledChainsItMatchesTheExactTerm) {
  const double J = 0.8, h1 = 0.4, h2 = -0.7, lambda = 1.0;
  const std::vector<Edge> edges = {{0, 1, static_cast<float>(J)}};
  const Graph g = Graph::from_edges(2, edges, {static_cast<float>(h1), static_cast<float>(h2)});
  double z = 0, m1 = 0, m2 = 0, corr = 0;
  for (int a = -1; a <= 1; a += 2)
    for (int b = -1; b <= 1; b += 2) {
      const double w = std::exp(J * a * b + h1 * a + h2 * b);
      z += w, m1 += w * a, m2 += w * b, corr += w * a * b;
    }
  m1 /= z, m2 /= z, corr /= z;
  const double exact = lambda * (m1 * m2 - corr);  // -0.50
  const int32_t chains = 100000;
  const std::vector<int32_t> ei = {0}, ej = {1};
  for (const int64_t S : {2, 5}) {
    SamplerOptions o;
    o.backend = Backend::cpu;
    o.seed = 11 + static_cast<uint64_t>(S);
    Sampler sm(g, chains, o);
    ObserverSpec spec;
    spec.moments = true;
    spec.readout_groups = {{0}, {1}};
    const Observations on = sm.run(SamplingSchedule{20, S, 10}, BetaSchedule::constant(1.0f), spec);
    ASSERT_EQ(on.num_samples, S);
    std::vector<float> gc = {0.0f};
    dtm::add_correlation_penalty(lambda, ei, ej, on.edge_corr, on.readout_mean, 2, S, gc);
    // Each chain's share of the term, S (m_0 m_1 - C_c) / (S - 1), lies within +-2S / (S - 1): a
    // bound on its standard deviation, so this is at least 5 standard errors (about 16 in fact).
    const double tol = 5.0 * 2 * S / (S - 1) / std::sqrt(static_cast<double>(chains));
    EXPECT_NEAR(gc[0], exact, tol) << S;
    std::vector<float> plain = {0.0f};  // the means taken as exact: short by 1 / S
    dtm::add_correlation_penalty(lambda, ei, ej, on.edge_corr, on.readout_mean, 2, 0, plain);
    EXPECT_NEAR(plain[0], exact * (S - 1) / S, tol) << S;
    EXPECT_GT(std::fabs(plain[0] - exact), 2 * tol) << S;
  }
  // One sample tells nothing of the product of means; a negative count is refused.
  std::vector<float> gc = {0.5f};
  dtm::add_correlation_penalty(lambda, ei, ej, std::vector<double>{1}, std::vector<double>{1, 1}, 2, 1, gc);
  EXPECT_EQ(gc[0], 0.5f);
  EXPECT_THROW(dtm::add_correlation_penalty(lambda, ei, ej, std::vector<double>{1}, std::vector<double>{1, 1}, 2, -1, gc), InvalidArgument);
}

// The penalty's unbiasing by hand: chains' means (0.5, -0.2) and (0.1, 0.4) over S = 3 samples, <s_i s_j>
// 0.3: mm = -0.03, unbiased (3 mm - 0.3) / 2 = -0.195, term lambda (mm - corr) = -0.495. Dividing by S
// instead of S - 1 gives -0.43; the sampled test above cannot tell (its m_i m_j is near 0: helper-101).
TEST(CorrelationPenalty, UnbiasingByHand) {
  const std::vector<int32_t> ei{0}, ej{1};
  const std::vector<double> corr{0.3}, means{0.5, -0.2, 0.1, 0.4};
  std::vector<float> g(1, 0.0f);
  dtm::add_correlation_penalty(1.0, ei, ej, corr, means, 2, 3, g);
  EXPECT_NEAR(g[0], -0.495, 1e-6);
  g[0] = 0.0f;
  dtm::add_correlation_penalty(2.0, ei, ej, corr, means, 2, 0, g);  // samples 0: means taken as they are
  EXPECT_NEAR(g[0], 2.0 * (-0.03 - 0.3), 1e-6);
}

TEST(Acp, FollowsTheRuleOnSyntheticSequences) {
  dtm::AcpController c(0.1, 0.016);
  EXPECT_NEAR(c.update(0.008), 0.1 * (0.6 + 0.2 * 0.5), 1e-15);  // below eps: shrink by 0.6 + 0.2 a/eps
  EXPECT_NEAR(c.update(0.02), 0.07 * 1.2, 1e-15);                  // above eps and rising: x1.2
  EXPECT_NEAR(c.update(0.03), 0.084 * 1.5, 1e-15);                 // >= 1.8 eps and rising: x1.5
  EXPECT_NEAR(c.update(0.025), 0.126 * 0.95, 1e-15);               // above eps but falling: x0.95
  EXPECT_NEAR(c.update(0.0), 0.1197 * 0.6, 1e-15);
  // The floor: below 0.001 the penalty switches off, and a rise restarts it at the floor.
  dtm::AcpController f(0.0012, 0.016);
  EXPECT_EQ(f.update(0.0), 0.0);
  EXPECT_EQ(f.update(0.02), 0.001);
  EXPECT_NEAR(f.update(0.04), 0.0015, 1e-15);
  // A measurement below 0 (sampling noise, and the estimate's bias, about 0) is read as 0, as the
  // reference code reads it (thrmlDenoising/step.py: max(0, ...)): below -3 eps the rule's factor
  // was negative and switched the penalty off (helper-125; helper-113 had been told otherwise).
  dtm::AcpController neg(0.1, 0.016);
  EXPECT_NEAR(neg.update(-0.008), 0.1 * 0.6, 1e-15);
  EXPECT_NEAR(neg.update(-0.05), 0.1 * 0.6 * 0.6, 1e-15);
  EXPECT_EQ(neg.previous(), 0.0);
  neg.restore(0.1, -0.3);
  EXPECT_EQ(neg.previous(), 0.0);
  EXPECT_NEAR(neg.update(0.02), 0.1 * 1.2, 1e-15);  // 0.02 > 0: rising
  // First measurement (no previous): not rising.
  dtm::AcpController g(0.2, 0.016);
  EXPECT_NEAR(g.update(0.05), 0.19, 1e-15);
  EXPECT_THROW(g.update(NAN), InvalidArgument);
  // The bound itself: a rise to exactly 1.8 eps already takes the larger step (helper-101: > in place
  // of >= passed).
  dtm::AcpController edge(0.1, 0.016);
  edge.update(0.02);
  EXPECT_NEAR(edge.update(1.8 * 0.016), 0.1 * 0.95 * 1.5, 1e-15);
  // A long run that stays hot grows the penalty; one that stays cold drives it to zero.
  dtm::AcpController hot(0.01), cold(0.5);
  double a = 0.02;
  for (int k = 0; k < 10; ++k) hot.update(a += 0.01);
  for (int k = 0; k < 60; ++k) cold.update(0.001);
  EXPECT_NEAR(hot.lambda(), 0.01 * 0.95 * std::pow(1.5, 9), 1e-12);  // first: no previous (x0.95), then 9 rises >= 1.8 eps
  EXPECT_EQ(cold.lambda(), 0.0);
}

TEST(Autocorrelation, Ar1ProcessHasGeometricDecay) {
  const int32_t chains = 2000, times = 200, dims = 2;
  const double rho = 0.8;
  rng::PhiloxStream rs(5, rng::kTest);
  std::vector<double> y(static_cast<size_t>(chains) * times * dims);
  for (int32_t c = 0; c < chains; ++c)
    for (int32_t d = 0; d < dims; ++d) {
      double v = rs.normal();  // stationary start
      for (int32_t t = 0; t < times; ++t) {
        y[(static_cast<size_t>(c) * times + t) * dims + d] = v;
        v = rho * v + std::sqrt(1 - rho * rho) * rs.normal();
      }
    }
  const std::vector<double> r = metrics::autocorrelation(y, chains, times, dims, 20);
  EXPECT_DOUBLE_EQ(r[0], 1.0);
  for (int k = 1; k <= 10; ++k) EXPECT_NEAR(r[k], std::pow(rho, k), 0.01) << k;
  EXPECT_NEAR(metrics::mixing_time(r), -1.0 / std::log(rho), 0.05 * (-1.0 / std::log(rho)));
  // And over the short windows the DTM's probe reads (21-41 snapshots), where the normalisation
  // matters: a lag-k sum divided by T, not T - k, reads r[10] at 11/21 of its value. The tolerance is
  // 5 standard errors, Bartlett's variance of r[k] for an AR(1) process bounded by
  // (1 + rho^2) / (1 - rho^2) / n for its n = chains (T - k) dims products (helper-127: the test
  // above, at T = 200 and 0.01, let that bias through).
  {
    const int32_t short_chains = 8000, T = 21;
    std::vector<double> z(static_cast<size_t>(short_chains) * T * dims);
    for (int32_t c = 0; c < short_chains; ++c)
      for (int32_t d = 0; d < dims; ++d) {
        double v = rs.normal();
        for (int32_t t = 0; t < T; ++t) {
          z[(static_cast<size_t>(c) * T + t) * dims + d] = v;
          v = rho * v + std::sqrt(1 - rho * rho) * rs.normal();
        }
      }
    const std::vector<double> rs21 = metrics::autocorrelation(z, short_chains, T, dims, 10);
    for (int k = 1; k <= 10; ++k) {
      const double n = static_cast<double>(short_chains) * (T - k) * dims;
      EXPECT_NEAR(rs21[k], std::pow(rho, k), 5 * std::sqrt((1 + rho * rho) / (1 - rho * rho) / n)) << "T = 21, lag " << k;
    }
  }
  // Edge cases: a constant series, an instantly decorrelated one, one that never decays.
  EXPECT_EQ(metrics::autocorrelation(std::vector<double>(20, 1.0), 2, 10, 1, 3)[0], 1.0);
  EXPECT_EQ(metrics::mixing_time(std::vector<double>{1.0, 0.01, 0.0}), 1.0);  // within one lag: bounded by it
  EXPECT_TRUE(std::isinf(metrics::mixing_time(std::vector<double>{1.0})));    // no lag measured
  EXPECT_TRUE(std::isinf(metrics::mixing_time(std::vector<double>{1.0, 0.99, 0.99})));
  // Noise after the decay is not fitted: a curve at 0.023 from lag 1 with two excursions to 0.06 and
  // 0.08 at lags 197 and 200 (a tiny DTM's, `pbit dtm mixing`) mixed in 74.5 sweeps, not within 1.
  std::vector<double> noisy(201, 0.0);
  noisy[0] = 1.0, noisy[1] = 0.023, noisy[197] = 0.06, noisy[200] = 0.08;
  EXPECT_EQ(metrics::mixing_time(noisy), 1.0);
  noisy[1] = 0.5, noisy[2] = 0.25, noisy[3] = 0.125, noisy[4] = 0.04;  // tau = 1 / ln 2, then noise
  EXPECT_NEAR(metrics::mixing_time(noisy), 1.0 / std::log(2.0), 1e-9);
  EXPECT_EQ(metrics::mixing_time(std::vector<double>{1.0, 0.97, 0.01}), 2.0);  // from hi to lo in one lag: that lag
  // A curve with a NaN is refused (it read as mixed within one lag: helper-109).
  EXPECT_NE(error_of([] { metrics::mixing_time(std::vector<double>{1.0, std::nan(""), 0.5}); }).find("r[1] is not a finite number"),
            std::string::npos);
  EXPECT_THROW(metrics::autocorrelation(y, chains, times, dims, times), InvalidArgument);
}

// Chains conditioned on different inputs sample different distributions. Centred on one global mean,
// the spread between their means looks like correlation that never decays; centred per group of
// chains that share a condition, the true decay rho^k comes back.
TEST(Autocorrelation, GroupsOfChainsAreCentredOnTheirOwnMean) {
  const int32_t chains = 800, times = 100, group = 4;
  const double rho = 0.5;
  rng::PhiloxStream rs(6, rng::kTest);
  std::vector<double> y(static_cast<size_t>(chains) * times);
  for (int32_t c = 0; c < chains; ++c) {
    const double offset = ((c / group) % 2) ? 3.0 : -3.0;  // two conditions, far apart
    double v = rs.normal();
    for (int32_t t = 0; t < times; ++t) {
      y[static_cast<size_t>(c) * times + t] = offset + v;
      v = rho * v + std::sqrt(1 - rho * rho) * rs.normal();
    }
  }
  const std::vector<double> global = metrics::autocorrelation(y, chains, times, 1, 5);
  const std::vector<double> grouped = metrics::autocorrelation(y, chains, times, 1, 5, group);
  EXPECT_GT(global[5], 0.85);  // (9 + rho^5) / (9 + 1): the offsets dominate
  for (int k = 1; k <= 5; ++k) EXPECT_NEAR(grouped[k], std::pow(rho, k), 0.02) << k;
  EXPECT_THROW(metrics::autocorrelation(y, chains, times, 1, 5, 3), InvalidArgument);  // 800 is not a multiple of 3
}

TEST(Autocorrelation, ProjectionOfSpinStates) {
  const std::vector<float> P = metrics::random_projection(100, 32, 1);
  EXPECT_EQ(P, metrics::random_projection(100, 32, 1));
  for (float p : P) EXPECT_FLOAT_EQ(std::fabs(p), 0.1f);
  std::vector<int8_t> s(200, 1);  // two states of all +1
  const std::vector<double> y = metrics::project(P, 32, s, 100);
  ASSERT_EQ(y.size(), 64u);
  for (int d = 0; d < 32; ++d) {
    double want = 0;
    for (int i = 0; i < 100; ++i) want += P[d * 100 + i];
    EXPECT_NEAR(y[d], want, 1e-5);
  }
}

metrics::Gaussian gauss(std::vector<double> mean, std::vector<double> cov) {
  metrics::Gaussian g;
  g.dims = static_cast<int32_t>(mean.size());
  g.mean = std::move(mean);
  g.cov = std::move(cov);
  return g;
}

TEST(Frechet, KnownAnswers) {
  // Identical: 0. 1D N(0,1) vs N(1,4): 1 + 1 + 4 - 2*2 = 2.
  EXPECT_NEAR(metrics::frechet_distance(gauss({0.5, -1}, {2, 0.3, 0.3, 1}), gauss({0.5, -1}, {2, 0.3, 0.3, 1})), 0.0, 1e-9);
  EXPECT_NEAR(metrics::frechet_distance(gauss({0}, {1}), gauss({1}, {4})), 2.0, 1e-12);
  // Commuting (diagonal): |mu diff|^2 + sum (sigma1 - sigma2)^2 = 5 + (1-3)^2 + (2-1)^2 = 10.
  EXPECT_NEAR(metrics::frechet_distance(gauss({0, 0}, {1, 0, 0, 4}), gauss({1, 2}, {9, 0, 0, 1})), 10.0, 1e-12);
  // General 2x2: Tr sqrt(S1 S2) = sum of sqrt of the eigenvalues of S1 S2 (closed form for 2x2).
  const double a[4] = {2.0, 0.7, 0.7, 1.0}, b[4] = {1.5, -0.4, -0.4, 0.8};
  const double m[4] = {a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3], a[2] * b[0] + a[3] * b[2], a[2] * b[1] + a[3] * b[3]};
  const double tr = m[0] + m[3], det = m[0] * m[3] - m[1] * m[2], disc = std::sqrt(tr * tr - 4 * det);
  const double trsqrt = std::sqrt((tr + disc) / 2) + std::sqrt((tr - disc) / 2);
  const double want = 0.25 + 1.0 + (a[0] + a[3]) + (b[0] + b[3]) - 2 * trsqrt;
  const auto A = gauss({0, 0}, {a[0], a[1], a[2], a[3]}), B = gauss({0.5, 1}, {b[0], b[1], b[2], b[3]});
  EXPECT_NEAR(metrics::frechet_distance(A, B), want, 1e-10);
  // A Gaussian made by hand whose sizes are not its dimension's is refused (it was read past: a
  // segfault), and so is one of dimension 0, by name (helper-109).
  metrics::Gaussian hollow;
  hollow.dims = 2;
  EXPECT_NE(error_of([&] { metrics::frechet_distance(hollow, A); }).find("a Gaussian of dimension 2 with 0 means and 0 covariances"),
            std::string::npos);
  EXPECT_NE(error_of([] { metrics::frechet_distance(metrics::Gaussian{}, metrics::Gaussian{}); }).find("Gaussians of dimension 0"),
            std::string::npos);
  EXPECT_NEAR(metrics::frechet_distance(B, A), want, 1e-10);  // symmetric
  EXPECT_THROW(metrics::frechet_distance(gauss({0}, {1}), gauss({0, 0}, {1, 0, 0, 1})), InvalidArgument);
}

TEST(Frechet, FittedGaussianConverges) {
  rng::PhiloxStream rs(8, rng::kTest);
  const int64_t n = 40000;
  std::vector<double> f(static_cast<size_t>(n) * 3);
  for (int64_t k = 0; k < n; ++k) {
    const double z0 = rs.normal(), z1 = rs.normal(), z2 = rs.normal();
    f[k * 3 + 0] = 1 + z0;
    f[k * 3 + 1] = -2 + 0.5 * z0 + z1;
    f[k * 3 + 2] = 3 * z2;
  }
  const metrics::Gaussian g = metrics::fit_gaussian(f, n, 3);
  const metrics::Gaussian truth = gauss({1, -2, 0}, {1, 0.5, 0, 0.5, 1.25, 0, 0, 0, 9});
  EXPECT_LT(metrics::frechet_distance(g, truth), 0.01);
  EXPECT_GT(metrics::frechet_distance(g, gauss({1, -2, 0.5}, truth.cov)), 0.2);  // a real shift is seen
}

// The unbiased covariance (divided by n - 1), as numpy's cov and pytorch-fid use, so that FIDs are
// comparable: {0, 1, 2} has variance 1 (2/3 divided by n), and (0,0), (1,2), (2,1) covariance 1/2.
TEST(Frechet, FittedCovarianceIsTheUnbiasedOne) {
  const std::vector<double> one = {0, 1, 2};
  const metrics::Gaussian g1 = metrics::fit_gaussian(one, 3, 1);
  EXPECT_DOUBLE_EQ(g1.mean[0], 1.0);
  EXPECT_DOUBLE_EQ(g1.cov[0], 1.0);
  const std::vector<double> two = {0, 0, 1, 2, 2, 1};
  const metrics::Gaussian g2 = metrics::fit_gaussian(two, 3, 2);
  EXPECT_DOUBLE_EQ(g2.cov[0], 1.0);
  EXPECT_DOUBLE_EQ(g2.cov[1], 0.5);
  EXPECT_DOUBLE_EQ(g2.cov[2], 0.5);
  EXPECT_DOUBLE_EQ(g2.cov[3], 1.0);
  EXPECT_THROW(metrics::fit_gaussian(std::vector<double>{1.0}, 1, 1), InvalidArgument);
}

// Adam against the textbook (Kingma & Ba 2015, Algorithm 1), written out here in long double, over
// five steps of changing gradients, for the state types the trainers use (float: DTM, p-DNN; double:
// EqProp). The trainers' own tests check only the first step, where a bias correction of 1 - b
// instead of 1 - b^t gives the same answer (helper-100 found such a mutant in EqProp and p-DNN alive).
template <class S>
void adam_matches_the_textbook() {
  const double lr = 0.01, b1 = 0.9, b2 = 0.999;
  const std::vector<std::vector<float>> grads = {{0.5f, -2.0f, 1e-3f}, {0.1f, -1.0f, 0.0f}, {-0.7f, 3.0f, 2e-3f}, {0.2f, -0.5f, -1e-3f},
                                                 {0.4f, 0.25f, 5e-4f}};
  std::vector<float> w = {0.3f, -0.1f, 1.0f};
  std::vector<S> m(3, S(0)), v(3, S(0));
  std::vector<long double> rw(w.begin(), w.end()), rm(3, 0), rv(3, 0);
  for (int t = 1; t <= 5; ++t) {
    const std::vector<float>& g = grads[t - 1];
    detail::adam_update(std::span(w), std::span<const float>(g), std::span(m), std::span(v), lr, b1, b2, t, detail::AdamDirection::descend);
    for (size_t q = 0; q < 3; ++q) {
      rm[q] = b1 * rm[q] + (1 - b1) * g[q];
      rv[q] = b2 * rv[q] + (1 - b2) * g[q] * static_cast<long double>(g[q]);
      const long double mhat = rm[q] / (1 - std::pow(static_cast<long double>(b1), t));
      const long double vhat = rv[q] / (1 - std::pow(static_cast<long double>(b2), t));
      rw[q] -= lr * mhat / (std::sqrt(vhat) + 1e-8L);
      EXPECT_NEAR(m[q], static_cast<double>(rm[q]), 1e-6 * std::fabs(static_cast<double>(rm[q])) + 1e-12) << "step " << t << ", q " << q;
      EXPECT_NEAR(v[q], static_cast<double>(rv[q]), 1e-6 * std::fabs(static_cast<double>(rv[q])) + 1e-15) << "step " << t << ", q " << q;
      EXPECT_NEAR(w[q], static_cast<double>(rw[q]), 1e-6) << "step " << t << ", q " << q;
    }
  }
}

// The model-only checkpoints' bfloat16 moments (util/binary_io.hpp): round to nearest, ties to even,
// exact for what bfloat16 holds, and infinities stay infinite. 1 + 2^-8 lies halfway between 1 and
// 1 + 2^-7 and rounds to the even 1; 1 + 3 2^-8 to the even 1 + 2^-6; anything past halfway up.
TEST(Bf16, RoundsToNearestEven) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> in{1.0f, 1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, 1.0f + 0x1p-8f + 0x1p-20f, -(1.0f + 0x1p-8f + 0x1p-20f),
                              1.0f + 0x1p-7f, 0.0f, -0.0f, 0x1.fcp-127f, 0x1.ff8p+127f, inf, -inf};
  // (a subnormal held exactly; the largest float past halfway to the next bfloat16, infinity)
  const std::vector<float> want{1.0f, 1.0f, 1.0f + 0x1p-6f, 1.0f + 0x1p-7f, -(1.0f + 0x1p-7f), 1.0f + 0x1p-7f, 0.0f, -0.0f,
                                0x1.fcp-127f, inf, inf, -inf};
  const std::vector<float> out = detail::from_bf16(detail::to_bf16(in));
  for (size_t k = 0; k < in.size(); ++k) EXPECT_EQ(out[k], want[k]) << "input " << in[k];
  EXPECT_TRUE(std::signbit(out[7]));
  EXPECT_TRUE(std::isnan(detail::from_bf16(detail::to_bf16({std::numeric_limits<float>::quiet_NaN()}))[0]));
  // Within half a unit in the last of bfloat16's 8 significant bits everywhere (2^-8 relative at most).
  rng::PhiloxStream rs(3, rng::kTest);
  for (int k = 0; k < 10000; ++k) {
    const float x = static_cast<float>(rs.normal() * std::exp(10 * rs.normal()));
    const float y = detail::from_bf16(detail::to_bf16({x}))[0];
    int e;
    (void)std::frexp(x, &e);  // |x| in [2^(e-1), 2^e): bfloat16's unit there is 2^(e-8)
    ASSERT_LE(std::fabs(static_cast<double>(y) - x), std::ldexp(1.0, e - 9)) << x;
  }
}

TEST(Adam, MatchesTheTextbookOverFiveSteps) {
  adam_matches_the_textbook<float>();
  adam_matches_the_textbook<double>();
}

// With a constant gradient the bias-corrected moments are g and g^2 at every step, so each step is
// lr g / (|g| + 1e-8): exactly lr in the gradient's direction, the same at step 1 and step 50. The
// DTM ascends its log-likelihood, the others descend their costs.
TEST(Adam, AConstantGradientStepsByTheLearningRateAtEveryStep) {
  const double lr = 0.05;
  for (const auto dir : {detail::AdamDirection::descend, detail::AdamDirection::ascend}) {
    const double sign = dir == detail::AdamDirection::ascend ? 1.0 : -1.0;
    std::vector<double> w = {0.0, 0.0}, m(2, 0.0), v(2, 0.0);
    const std::vector<float> g = {0.25f, -3.0f};
    for (int t = 1; t <= 50; ++t) {
      const std::vector<double> before = w;
      detail::adam_update(std::span(w), std::span<const float>(g), std::span(m), std::span(v), lr, 0.9, 0.999, t, dir);
      for (size_t q = 0; q < 2; ++q) {
        EXPECT_NEAR(w[q] - before[q], sign * lr * g[q] / (std::fabs(g[q]) + 1e-8), 1e-12) << "step " << t << ", q " << q;
      }
    }
  }
}

}  // namespace
}  // namespace pbit::test
