// Equilibrium propagation (include/pbit/models/eqprop.hpp): the estimator against exact enumeration
// and finite differences on a tiny network, the model's sampled estimate against the exact one,
// training that learns, a resume that continues bit for bit, and config errors that name the key.
#include <type_traits>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <memory>
#include <filesystem>
#include <numeric>
#include <stdexcept>

#include "pbit/core/io.hpp"
#include "pbit/models/eqprop.hpp"
#include "exact_device.hpp"
#include "test_util.hpp"

namespace pbit::test {
namespace {

// The trainer holds references to its datasets: a temporary one does not compile (helper-109).
using Index = std::vector<int64_t>;
static_assert(std::is_constructible_v<EqPropTrainer, EqPropNet&, const EqPropConfig&, const ImageDataset&, Index, const ImageDataset&, Index>);
static_assert(!std::is_constructible_v<EqPropTrainer, EqPropNet&, const EqPropConfig&, ImageDataset&&, Index, const ImageDataset&, Index>);
static_assert(!std::is_constructible_v<EqPropTrainer, EqPropNet&, const EqPropConfig&, const ImageDataset&, Index, ImageDataset&&, Index>);

/// A network of 3 inputs, 6 hidden and 2 x 2 output spins (10 spins, 1,024 states) with weights large
/// enough that the phases differ.
EqPropNet tiny_net() {
  EqPropNet n = EqPropNet::create(3, 6, 2, 2, 2.0f, 2.5f, 7);
  for (size_t i = 0; i < n.bh.size(); ++i) n.bh[i] = 0.3f * std::sin(1.7f * static_cast<float>(i));
  for (size_t j = 0; j < n.bo.size(); ++j) n.bo[j] = 0.2f * std::cos(2.3f * static_cast<float>(j));
  return n;
}
const std::vector<float> kX{0.9f, 0.2f, 0.6f};
EqPropNet tiny_graph_net();  // (below, with the graph network's tests)
constexpr int32_t kLabel = 1;

/// The parameters as one double vector: w0, w1, bh, bo.
std::vector<double> flat(const EqPropNet& n) {
  std::vector<double> p;
  for (const auto* v : {&n.w0, &n.w1, &n.bh, &n.bo}) p.insert(p.end(), v->begin(), v->end());
  return p;
}

/// Exact expectations under P_b(s) ~ exp(-beta_s (E + b C)) for parameters p (layout of flat()), for
/// the image x (kX unless given) with target `label`.
struct Exact {
  double cost = 0;
  std::vector<double> dE;  ///< <dE/dtheta>_b, layout of flat()
};
/// With field_clip > 0, each hidden spin's input field W0^T x is clipped to +-field_clip before its
/// bias is added (as train.field_clip documents).
Exact exact(const EqPropNet& shape, const std::vector<double>& p, double b, double beta_s = 1.0,
            const std::vector<float>& x = kX, int32_t label = kLabel, double field_clip = 0) {
  const int32_t I = shape.inputs, H = shape.hidden, O = shape.outputs(), N = H + O;
  const double* w0 = p.data();
  const double* w1 = w0 + I * H;
  const double* bh = w1 + H * O;
  const double* bo = bh + H;
  std::vector<double> hf(H);
  for (int32_t i = 0; i < H; ++i) {
    double in = 0;
    for (int32_t k = 0; k < I; ++k) in += w0[k * H + i] * x[k];
    hf[i] = bh[i] + (field_clip > 0 ? std::clamp(in, -field_clip, field_clip) : in);
  }
  const std::vector<float> t = shape.target(label);
  std::vector<double> logw(size_t{1} << N);
  double mx = -1e300;
  for (uint32_t st = 0; st < logw.size(); ++st) {
    auto s = [&](int32_t q) { return ((st >> q) & 1u) ? 1.0 : -1.0; };
    double e = 0, c = 0;
    for (int32_t i = 0; i < H; ++i) {
      e -= hf[i] * s(i);
      for (int32_t j = 0; j < O; ++j) e -= w1[i * O + j] * s(i) * s(H + j);
    }
    for (int32_t j = 0; j < O; ++j) e -= bo[j] * s(H + j), c += 1.0 - s(H + j) * t[j];
    logw[st] = -beta_s * (e + b * c);
    mx = std::max(mx, logw[st]);
  }
  Exact r;
  r.dE.assign(p.size(), 0.0);
  double z = 0;
  for (uint32_t st = 0; st < logw.size(); ++st) {
    const double w = std::exp(logw[st] - mx);
    z += w;
    auto s = [&](int32_t q) { return ((st >> q) & 1u) ? 1.0 : -1.0; };
    double c = 0;
    for (int32_t j = 0; j < O; ++j) c += 1.0 - s(H + j) * t[j];
    r.cost += w * c;
    double* dw0 = r.dE.data();
    double* dw1 = dw0 + I * H;
    double* dbh = dw1 + H * O;
    double* dbo = dbh + H;
    for (int32_t i = 0; i < H; ++i) {
      for (int32_t k = 0; k < I; ++k) dw0[k * H + i] -= w * x[k] * s(i);
      for (int32_t j = 0; j < O; ++j) dw1[i * O + j] -= w * s(i) * s(H + j);
      dbh[i] -= w * s(i);
    }
    for (int32_t j = 0; j < O; ++j) dbo[j] -= w * s(H + j);
  }
  r.cost /= z;
  for (double& v : r.dE) v /= z;
  return r;
}

/// Central finite difference of the exact expected cost <C>_0.
std::vector<double> fd_gradient(const EqPropNet& n) {
  const std::vector<double> p = flat(n);
  std::vector<double> g(p.size());
  const double h = 1e-5;
  for (size_t q = 0; q < p.size(); ++q) {
    std::vector<double> a = p, b = p;
    a[q] += h, b[q] -= h;
    g[q] = (exact(n, a, 0).cost - exact(n, b, 0).cost) / (2 * h);
  }
  return g;
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double m = 0;
  for (size_t q = 0; q < a.size(); ++q) m = std::max(m, std::abs(a[q] - b[q]));
  return m;
}

// The identity the method rests on: (<dE/dtheta>_b - <dE/dtheta>_0) / b -> d<C>_0/dtheta as b -> 0,
// with an O(b) error, and the symmetric estimate's error O(b^2).
TEST(EqProp, ExactEstimatorConvergesToTheCostGradient) {
  const EqPropNet n = tiny_net();
  const std::vector<double> fd = fd_gradient(n), p = flat(n);
  double scale = 0;
  for (double v : fd) scale = std::max(scale, std::abs(v));
  ASSERT_GT(scale, 0.05);  // a gradient worth checking
  const Exact e0 = exact(n, p, 0);
  double prev_one = 1e9, prev_sym = 1e9;
  for (double b : {0.4, 0.1, 0.025}) {
    const Exact ep = exact(n, p, b), em = exact(n, p, -b);
    std::vector<double> one(p.size()), sym(p.size());
    for (size_t q = 0; q < p.size(); ++q) {
      one[q] = (ep.dE[q] - e0.dE[q]) / b;
      sym[q] = (ep.dE[q] - em.dE[q]) / (2 * b);
    }
    const double err_one = max_abs_diff(one, fd), err_sym = max_abs_diff(sym, fd);
    std::printf("b = %.3f: one-sided error %.2e, symmetric %.2e (gradient scale %.2f)\n", b, err_one, err_sym, scale);
    EXPECT_LT(err_sym, err_one);
    EXPECT_LT(err_one, 0.6 * prev_one);   // O(b): a quarter of b, about a quarter of the error
    EXPECT_LT(err_sym, 0.2 * prev_sym);   // O(b^2): about a sixteenth
    prev_one = err_one, prev_sym = err_sym;
  }
  EXPECT_LT(prev_one, 0.05 * scale);
  EXPECT_LT(prev_sym, 1e-3 * scale);
}

/// eqprop_gradient's mean over `reps` independent runs of chains / reps chains each (cpu samplers
/// seeded seed, seed + 1, ...; with `device`, each on that device, and PAT's ideal sampler seeded 1000
/// above it unless `in_situ`), with each entry's standard error measured from the runs' spread: a tolerance that does
/// not assume how fast the chains decorrelate. Entries in flat()'s order.
struct Measured {
  std::vector<double> mean, se;
  double cost = 0, cost_se = 0;
  int64_t images = 0, nudged = 0;
  double max_se() const { return *std::max_element(se.begin(), se.end()); }
  /// The worst entry's distance from `want` in its own standard errors (an entry with no spread must
  /// match exactly). The tolerance of 5 largest standard errors left an entry far below the
  /// gradient's scale free to be off by 2x or in sign (helper-131, as helper-127 found for the graph
  /// estimate): each entry is held to kEntryBound of its own.
  double worst_t(const std::vector<double>& want) const {
    double w = 0;
    for (size_t q = 0; q < mean.size(); ++q) {
      const double off = std::abs(mean[q] - want[q]);
      w = std::max(w, se[q] > 1e-12 ? off / se[q] : (off > 1e-12 ? std::numeric_limits<double>::infinity() : 0.0));
    }
    return w;
  }
};
/// A t statistic of 15 degrees of freedom (16 runs) is past 6.5 with probability 1e-5.
constexpr double kEntryBound = 6.5;

Measured measured_gradient(const EqPropNet& n, const std::vector<float>& x, const std::vector<int32_t>& labels, const EqPropConfig& cfg,
                           int32_t chains, uint64_t seed, const PbitHardware* device = nullptr, int reps = 16, bool in_situ = false) {
  std::vector<std::vector<double>> runs;
  std::vector<double> costs;
  Measured m;
  for (int r = 0; r < reps; ++r) {
    SamplerOptions o;
    o.backend = Backend::cpu;
    o.seed = seed + static_cast<uint64_t>(r);
    if (device) o.hardware = *device;
    Sampler s(n.graph(), chains / reps, o);
    std::vector<float> xs = x;
    EqPropGradient g;
    if (device && in_situ) {  // both phases on the device
      g = eqprop_gradient(n, s, xs, labels, cfg);
    } else if (device) {
      SamplerOptions io;
      io.backend = Backend::cpu;
      io.seed = o.seed + 1000;
      Sampler ideal(n.graph(), chains / reps, io);
      g = eqprop_gradient(n, s, xs, labels, cfg, &ideal);
    } else {
      g = eqprop_gradient(n, s, xs, labels, cfg);
    }
    std::vector<double> v;
    for (const auto* part : {&g.w0, &g.w1, &g.bh, &g.bo}) v.insert(v.end(), part->begin(), part->end());
    runs.push_back(v);
    costs.push_back(g.free_cost);
    m.images = g.images, m.nudged = g.nudged;
  }
  auto mean_se = [reps](const std::vector<double>& xs, double& mean, double& se) {
    mean = 0;
    for (double v : xs) mean += v / reps;
    double ss = 0;
    for (double v : xs) ss += (v - mean) * (v - mean);
    se = std::sqrt(ss / (reps - 1) / reps);
  };
  m.mean.resize(runs[0].size());
  m.se.resize(runs[0].size());
  for (size_t q = 0; q < runs[0].size(); ++q) {
    std::vector<double> col;
    for (const auto& r : runs) col.push_back(r[q]);
    mean_se(col, m.mean[q], m.se[q]);
  }
  mean_se(costs, m.cost, m.cost_se);
  return m;
}

/// The Boltzmann reading on the sampler: constant beta_s = 1, a warm-up, many samples.
EqPropConfig boltzmann(float b, bool symmetric) {
  EqPropConfig c;
  c.free = {1.0f, 1.0f, 50, 100, 2};
  c.nudge.beta = b;
  c.nudge.symmetric = symmetric;
  c.nudge.schedule = "continue";
  c.nudge.sweeps = 30;
  c.nudge.samples = 100;
  c.nudge.steps_per_sample = 2;
  c.field_clip = 0;
  c.skip_when_correct = false;
  return c;
}

// The nudged phase's betas as EqPropNudgePhase documents them: reverse re-heats to beta_start +
// reheat (beta_end - beta_start) over sweeps / 2 and cools back; continue stays at beta_end.
TEST(EqProp, NudgeScheduleIsTheDocumentedReverseAnneal) {
  EqPropConfig c;
  c.free.beta_start = 0.2f;
  c.free.beta_end = 1.0f;
  c.nudge.reheat = 0.25f;
  // An odd count re-heats over the shorter half (2 of 5 sweeps) and cools over the longer.
  for (const auto& [sweeps, want] : {std::pair{4, std::vector<float>{0.7f, 0.4f, 0.7f, 1.0f, 1.0f}},
                                     std::pair{5, std::vector<float>{0.7f, 0.4f, 0.6f, 0.8f, 1.0f, 1.0f}}}) {
    c.nudge.sweeps = sweeps;
    const std::vector<float> got = detail::eqprop_nudge_betas(c);
    ASSERT_EQ(got.size(), want.size()) << sweeps << " sweeps";
    for (size_t k = 0; k < want.size(); ++k) EXPECT_FLOAT_EQ(got[k], want[k]) << sweeps << " sweeps, entry " << k;
  }
  c.nudge.sweeps = 4;
  c.nudge.schedule = "continue";
  EXPECT_EQ(detail::eqprop_nudge_betas(c), std::vector<float>(5, 1.0f));
}

// The model's estimator (eqprop_gradient, the code training runs) equals the exact EqProp estimate
// within its sampling error, for both nudges; a wrong sign or a missing 1/b would be off by far more.
// At beta_s = 1 and at 2.5 (training runs at beta_end = 4): P ~ exp(-beta_s (E + b C)) gives
// d<dE/dtheta>_b/db = -beta_s Cov(dE/dtheta, C) = d<C>_0/dtheta, so no factor of beta_s belongs in the
// estimate; one divided by (or missing from the nudge's) beta_s would fail at 2.5.
TEST(EqProp, SampledEstimateMatchesTheExactOne) {
  const EqPropNet n = tiny_net();
  const std::vector<double> p = flat(n);
  for (const double beta_s : {1.0, 2.5}) {
  SCOPED_TRACE("beta_s " + std::to_string(beta_s));
  const Exact e0 = exact(n, p, 0, beta_s);
  for (bool symmetric : {false, true}) {
    const float b = 0.5f;
    SCOPED_TRACE(symmetric ? "symmetric" : "one-sided");
    EqPropConfig cfg = boltzmann(b, symmetric);
    cfg.free.beta_start = cfg.free.beta_end = static_cast<float>(beta_s);
    if (beta_s > 1) {  // colder chains mix slower: 50 + 30 sweeps left the symmetric estimate 10x its tolerance off
      cfg.free.anneal_sweeps = cfg.nudge.sweeps = 300;
      cfg.free.steps_per_sample = cfg.nudge.steps_per_sample = 4;
    }
    const Measured got = measured_gradient(n, kX, std::vector<int32_t>(1, kLabel), cfg, 4096, 11);
    const Exact ep = exact(n, p, b, beta_s), em = exact(n, p, -b, beta_s);
    std::vector<double> want(p.size());
    for (size_t q = 0; q < p.size(); ++q) want[q] = symmetric ? (ep.dE[q] - em.dE[q]) / (2 * b) : (ep.dE[q] - e0.dE[q]) / b;
    // 5 standard errors of the entry measured worst, from 16 independent runs of 256 chains; the
    // samples' autocorrelation is in the spread, not assumed.
    const double tol = 5 * got.max_se();
    double worst = 0, scale = 0;
    for (size_t q = 0; q < p.size(); ++q) {
      worst = std::max(worst, std::abs(got.mean[q] - want[q]));
      scale = std::max(scale, std::abs(want[q]));
    }
    std::printf("%s: worst |sampled - exact| %.4f, tolerance %.4f, gradient scale %.3f\n", symmetric ? "symmetric" : "one-sided",
                worst, tol, scale);
    EXPECT_LT(worst, tol);
    EXPECT_GT(scale, 10 * tol);  // the comparison can tell a wrong factor of 2 or a wrong sign
    EXPECT_LT(got.worst_t(want), kEntryBound);
    EXPECT_EQ(got.nudged, 1);
    // The free phase's cost, sum_j (1 - <o_j> t_j), against the exact <C>_0, to 5 measured standard errors.
    EXPECT_NEAR(got.cost, e0.cost, 5 * got.cost_se) << "exact " << e0.cost;
    EXPECT_GT(e0.cost, 25 * got.cost_se);  // a cost the estimate cannot match by chance
  }
  }
}

// Free and nudged phases of different sample counts on the layered network, as on the graph
// (EqPropGraph.PhasesOfDifferentSampleCountsMatchExact; helper-131: the layered code takes each
// phase's means over its own samples in image_mean and PhaseStats::samples, apart from the graph's):
// the estimate still matches the exact one, each entry within kEntryBound of its standard errors.
TEST(EqProp, PhasesOfDifferentSampleCountsMatchTheExactEstimate) {
  const EqPropNet n = tiny_net();
  const std::vector<double> p = flat(n);
  const float b = 0.5f;
  const Exact e0 = exact(n, p, 0), ep = exact(n, p, b), em = exact(n, p, -b);
  for (bool symmetric : {false, true}) {
    SCOPED_TRACE(symmetric ? "symmetric" : "one-sided");
    EqPropConfig cfg = boltzmann(b, symmetric);
    cfg.free.samples = 100;
    cfg.nudge.samples = 40;
    const Measured got = measured_gradient(n, kX, std::vector<int32_t>(1, kLabel), cfg, 4096, 31);
    std::vector<double> want(p.size());
    double scale = 0;
    for (size_t q = 0; q < p.size(); ++q) {
      want[q] = symmetric ? (ep.dE[q] - em.dE[q]) / (2 * b) : (ep.dE[q] - e0.dE[q]) / b;
      scale = std::max(scale, std::abs(want[q]));
    }
    const double worst = got.worst_t(want);
    std::printf("%s, 100 free / 40 nudged samples: worst entry %.2f standard errors from exact\n", symmetric ? "symmetric" : "one-sided", worst);
    EXPECT_LT(worst, kEntryBound);
    EXPECT_GT(scale, 10 * 5 * got.max_se());
  }
}

// train.field_clip (default 4) clips each hidden spin's input field W0^T x to +-clip, in the fields
// the sampler sees: hidden_field clips exactly there and leaves the rest, and the sampled estimate
// matches the exact one of the clipped network, which lies far from the unclipped one (asserted).
// Every other test ran with the clip off or far above its fields (helper-100: a clip never applied
// passed the suite). What this checks is the sampling under the clip: its W0 gradient is EqProp's
// estimate from the states, -x (h_nudged - h_free) / beta, in the exact value as in the code, which
// does not see the clip (a straight-through estimate, as the paper's code; docs/CLI.md, field_clip).
TEST(EqProp, ClippedFieldsAreTheOnesSampled) {
  const EqPropNet n = tiny_net();
  std::vector<float> raw(static_cast<size_t>(n.hidden)), clipped(raw.size());
  n.hidden_field(kX.data(), 0.0f, raw.data());
  float most = 0;
  for (float f : raw) most = std::max(most, std::fabs(f));
  const float clip = 0.5f * most;
  n.hidden_field(kX.data(), clip, clipped.data());
  int32_t cut = 0;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (std::fabs(raw[i]) > clip) {
      EXPECT_EQ(clipped[i], raw[i] > 0 ? clip : -clip) << "hidden " << i;
      ++cut;
    } else {
      EXPECT_EQ(clipped[i], raw[i]) << "hidden " << i;
    }
  }
  ASSERT_GE(cut, 1);
  ASSERT_LT(cut, n.hidden);
  const std::vector<double> p = flat(n);
  const float b = 0.5f;
  const Exact e0 = exact(n, p, 0, 1.0, kX, kLabel, clip), ep = exact(n, p, b, 1.0, kX, kLabel, clip),
              em = exact(n, p, -b, 1.0, kX, kLabel, clip);
  const Exact u0 = exact(n, p, 0), up = exact(n, p, b), um = exact(n, p, -b);
  for (bool symmetric : {false, true}) {  // one-sided, the free phase's fields count too
    SCOPED_TRACE(symmetric ? "symmetric" : "one-sided");
    EqPropConfig cfg = boltzmann(b, symmetric);
    cfg.field_clip = clip;
    const Measured got = measured_gradient(n, kX, std::vector<int32_t>(1, kLabel), cfg, 4096, 23);
    const double tol = 5 * got.max_se();
    double worst = 0, apart = 0;
    std::vector<double> wants(p.size());
    for (size_t q = 0; q < p.size(); ++q) {
      const double want = symmetric ? (ep.dE[q] - em.dE[q]) / (2 * b) : (ep.dE[q] - e0.dE[q]) / b;
      const double unclipped = symmetric ? (up.dE[q] - um.dE[q]) / (2 * b) : (up.dE[q] - u0.dE[q]) / b;
      worst = std::max(worst, std::abs(got.mean[q] - want));
      apart = std::max(apart, std::abs(unclipped - want));
      wants[q] = want;
    }
    EXPECT_LT(got.worst_t(wants), kEntryBound);
    std::printf("%s, clip %.3f (%d of %d fields cut): worst |sampled - exact| %.4f, tolerance %.4f, unclipped exact %.4f away\n",
                symmetric ? "symmetric" : "one-sided", clip, cut, n.hidden, worst, tol, apart);
    EXPECT_LT(worst, tol);
    EXPECT_GT(apart, 10 * tol);  // an unapplied clip would be seen
    // The free phase's cost under the clipped fields.
    EXPECT_NEAR(got.cost, e0.cost, 5 * got.cost_se) << "exact " << e0.cost << ", unclipped " << u0.cost;
  }
  // Evaluation's free phase (eqprop_scores) clips too: the cost its class scores give, sum_j (1 - <o_j>
  // t_j) = O - per_class sum_k t_k score_k, over 16 independent runs, against the exact free cost.
  EqPropConfig cfg = boltzmann(b, false);
  cfg.field_clip = clip;
  std::vector<double> costs;
  for (uint64_t r = 0; r < 16; ++r) {
    SamplerOptions o;
    o.backend = Backend::cpu;
    o.seed = 300 + r;
    Sampler s(n.graph(), 1024, o);
    const std::vector<double> score = eqprop_scores(n, s, kX, 1, cfg, nullptr);
    double c = n.outputs();
    for (int32_t k = 0; k < n.classes; ++k) c -= n.per_class * (k == kLabel ? 1.0 : -1.0) * score[static_cast<size_t>(k)];
    costs.push_back(c);
  }
  double mean = 0, ss = 0;
  for (double c : costs) mean += c / 16;
  for (double c : costs) ss += (c - mean) * (c - mean);
  const double se = std::sqrt(ss / 15 / 16);
  std::printf("evaluation: free cost %.4f +- %.4f, exact %.4f clipped, %.4f unclipped\n", mean, se, e0.cost, u0.cost);
  EXPECT_NEAR(mean, e0.cost, 5 * se);
  EXPECT_GT(std::fabs(u0.cost - e0.cost), 10 * se);
}

// A batch of two different images with different labels (chains 0..C/2-1 serve the first, the rest
// the second): the estimate is the mean over the images of each image's exact EqProp estimate, for
// the per-image input weights w0 (-sum_m x_mk (<h_i>_b,m - <h_i>_0,m) / (b M)) as for the rest.
TEST(EqProp, BatchEstimateIsTheMeanOverItsImages) {
  const EqPropNet n = tiny_net();
  const std::vector<double> p = flat(n);
  const std::vector<float> x2{0.1f, 0.8f, 0.5f};
  const std::vector<std::vector<float>> xs{kX, x2};
  const std::vector<int32_t> labels{kLabel, 1 - kLabel};
  std::vector<float> x = kX;
  x.insert(x.end(), x2.begin(), x2.end());
  const float b = 0.5f;
  const Measured got = measured_gradient(n, x, labels, boltzmann(b, false), 8192, 13);  // 4,096 chains per image in all
  EXPECT_EQ(got.images, 2);
  EXPECT_EQ(got.nudged, 2);
  std::vector<double> want(p.size(), 0.0);
  double want_cost = 0;
  for (size_t m = 0; m < xs.size(); ++m) {
    const Exact e0 = exact(n, p, 0, 1.0, xs[m], labels[m]), eb = exact(n, p, b, 1.0, xs[m], labels[m]);
    for (size_t q = 0; q < p.size(); ++q) want[q] += (eb.dE[q] - e0.dE[q]) / b / 2;
    want_cost += e0.cost / 2;
  }
  // 5 standard errors of the entry measured worst (16 independent runs), as above.
  const double tol = 5 * got.max_se();
  const size_t W0 = n.w0.size();
  double worst = 0, w0_scale = 0;
  for (size_t q = 0; q < p.size(); ++q) worst = std::max(worst, std::abs(got.mean[q] - want[q]));
  for (size_t q = 0; q < W0; ++q) w0_scale = std::max(w0_scale, std::abs(want[q]));
  std::printf("two images: worst |sampled - exact| %.4f, tolerance %.4f, w0 gradient scale %.3f\n", worst, tol, w0_scale);
  EXPECT_LT(worst, tol);
  EXPECT_LT(got.worst_t(want), kEntryBound);
  EXPECT_GT(w0_scale, 3 * tol);  // w0 summed instead of averaged over the images is off by w0_scale
  EXPECT_NEAR(got.cost, want_cost, 5 * got.cost_se);
}

/// Two classes of 8-pixel images: class 0 bright on the left half, class 1 on the right, with noise.
ImageDataset halves(int64_t n, uint64_t seed) {
  ImageDataset d;
  d.name = "halves";
  d.rows = 1, d.cols = 8;
  rng::PhiloxStream rs(seed, rng::kWeightInit);
  for (int64_t k = 0; k < n; ++k) {
    const int32_t c = static_cast<int32_t>(k % 2);
    d.labels.push_back(static_cast<uint8_t>(c));
    for (int32_t q = 0; q < 8; ++q) {
      const bool on = (q < 4) == (c == 0);
      d.pixels.push_back(static_cast<uint8_t>(std::clamp(on ? 200.0 + 55 * rs.uniform() : 60 * rs.uniform(), 0.0, 255.0)));
    }
  }
  return d;
}

/// Every parameter of two nets (or every entry of two gradients) is the same, bit for bit.
template <class T>
void expect_same_parameters(const T& a, const T& b) {
  EXPECT_EQ(a.w0, b.w0);
  EXPECT_EQ(a.w1, b.w1);
  EXPECT_EQ(a.bh, b.bh);
  EXPECT_EQ(a.bo, b.bo);
}

/// 0, 1, ..., n - 1: the images of a selection that takes them all, in order.
std::vector<int64_t> first_indices(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), int64_t{0});
  return v;
}

EqPropConfig small_training(const std::string& dir) {
  EqPropConfig c;
  c.hidden = 8;
  c.classes = 2;
  c.per_class = 2;
  c.free = {0.2f, 3.0f, 20, 1, 1};
  c.nudge.beta = 2.0f;
  c.nudge.sweeps = 10;
  c.epochs = 4;
  c.batch_size = 4;
  c.chains_per_image = 2;
  c.lr_weights = 0.05f;
  c.lr_biases = 0.01f;
  c.backend = "cpu";
  c.seed = 5;
  c.output_dir = dir;
  c.eval_chains_per_image = 4;
  return c;
}

// train.skip_when_correct (helper-131: untested, so a check that never fired would pass): output
// spins held by biases of 50 sit on class 1's targets in every sample (a spin against its bias has
// probability about e^-80), so a batch of images labelled 1 is not nudged and its gradient is exactly
// 0; one image labelled 0 in the batch nudges the whole batch (a nudge of 200, past the biases, moves
// its outputs); and without the option every batch is nudged. On the layered network and on a
// hardware graph.
TEST(EqProp, SkipWhenCorrectSkipsOnlyBatchesWhoseFreeOutputsAllSitOnTheirTargets) {
  for (const bool on_graph : {false, true}) {
    SCOPED_TRACE(on_graph ? "hardware graph" : "layered");
    EqPropNet n = on_graph ? tiny_graph_net() : tiny_net();
    const std::vector<float> t = n.target(1);
    for (int32_t j = 0; j < n.outputs(); ++j) {
      if (on_graph) {
        n.bh[static_cast<size_t>(n.output_nodes[static_cast<size_t>(j)])] = 50.0f * t[static_cast<size_t>(j)];
      } else {
        n.bo[static_cast<size_t>(j)] = 50.0f * t[static_cast<size_t>(j)];
      }
    }
    const std::vector<float> x = {0.9f, 0.2f, 0.6f, 0.1f, 0.8f, 0.4f};  // two images of 3 inputs
    auto gradient = [&](const std::vector<int32_t>& labels, bool skip) {
      EqPropConfig cfg;
      cfg.skip_when_correct = skip;
      cfg.nudge.beta = 200;  // a nudge past the biases, so that a nudged batch moves its outputs
      SamplerOptions o;
      o.backend = Backend::cpu;
      o.seed = 3;
      Sampler s(n.graph(), Coloring(n.graph(), n.colors()), 8, o);
      std::vector<float> xs = x;
      return eqprop_gradient(n, s, xs, labels, cfg);
    };
    auto all_zero = [](const EqPropGradient& g) {
      for (const auto* part : {&g.w0, &g.w1, &g.bh, &g.bo})
        for (double v : *part)
          if (v != 0) return false;
      return true;
    };
    const EqPropGradient right = gradient({1, 1}, true);
    EXPECT_EQ(right.free_correct, 2);
    EXPECT_EQ(right.nudged, 0);
    EXPECT_TRUE(all_zero(right));
    const EqPropGradient one_wrong = gradient({1, 0}, true);
    EXPECT_EQ(one_wrong.free_correct, 1);
    EXPECT_EQ(one_wrong.nudged, 2);  // the whole batch
    EXPECT_FALSE(all_zero(one_wrong));
    const EqPropGradient unskipped = gradient({1, 1}, false);
    EXPECT_EQ(unskipped.nudged, 2);
  }
}

TEST(EqProp, TrainsAndResumesBitForBit) {
  const ImageDataset train = halves(64, 1), test = halves(40, 2);
  const std::vector<int64_t> ti = first_indices(64), si = first_indices(40);
  const std::string dir = std::string(PBIT_TEST_TMP) + "/eqprop_resume";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir + "/a");
  std::filesystem::create_directories(dir + "/b");
  EqPropConfig ca = small_training(dir + "/a");
  EqPropNet na = EqPropNet::create(8, ca.hidden, 2, 2, 0.5f, 0.25f, ca.seed);
  const EqPropEval before = eqprop_evaluate(na, test, si, ca);
  EqPropTrainer ta(na, ca, train, ti, test, si);
  ta.run();
  const EqPropEval after = eqprop_evaluate(na, test, si, ca);
  std::printf("test accuracy %.3f before training, %.3f after\n", before.accuracy, after.accuracy);
  EXPECT_GE(after.accuracy, 0.9);
  EXPECT_GT(after.accuracy, before.accuracy);
  ASSERT_EQ(ta.history().size(), 4u);
  EXPECT_GT(ta.history().back().updates, 0);
  // The same run in two processes' worth: 2 epochs, a checkpoint, then a fresh trainer resuming.
  EqPropConfig cb = small_training(dir + "/b");
  cb.epochs = 2;
  EqPropNet nb = EqPropNet::create(8, cb.hidden, 2, 2, 0.5f, 0.25f, cb.seed);
  {
    EqPropTrainer tb(nb, cb, train, ti, test, si);
    tb.run();
  }
  cb.epochs = 4;
  EqPropNet nc = EqPropNet::create(8, cb.hidden, 2, 2, 0.5f, 0.25f, cb.seed);
  EqPropTrainer tc(nc, cb, train, ti, test, si);
  tc.load_checkpoint(dir + "/b/checkpoint.bin");
  EXPECT_EQ(tc.epoch(), 2);
  tc.run();
  expect_same_parameters(nc, na);
  ASSERT_EQ(tc.history().size(), 4u);
  EXPECT_EQ(tc.history().back().test_accuracy, ta.history().back().test_accuracy);
  // A run that dies in its first epoch's bookkeeping, after the mid-epoch checkpoints (batches 5, 10
  // and 15 of 16) but before the epoch's own: the resumed run redoes batch 16 and ends where the
  // uninterrupted one did.
  EqPropConfig cm = small_training(dir + "/m");
  std::filesystem::create_directories(dir + "/m");
  cm.checkpoint_every_batches = 5;
  EqPropNet nm = EqPropNet::create(8, cm.hidden, 2, 2, 0.5f, 0.25f, cm.seed);
  EXPECT_THROW(EqPropTrainer(nm, cm, train, ti, test, si).run([](const EqPropEpoch&) { throw std::runtime_error("killed"); }),
               std::runtime_error);
  EqPropNet nm2 = EqPropNet::create(8, cm.hidden, 2, 2, 0.5f, 0.25f, cm.seed);
  EqPropTrainer tm(nm2, cm, train, ti, test, si);
  tm.load_checkpoint(dir + "/m/checkpoint.bin");
  EXPECT_EQ(tm.epoch(), 0);
  tm.run();
  expect_same_parameters(nm2, na);
  // The model file round-trips; a changed byte is caught by the checksum.
  na.save(dir + "/model.bin");
  const EqPropNet back = EqPropNet::load(dir + "/model.bin");
  EXPECT_EQ(back.w1, na.w1);
  flip_byte(dir + "/model.bin", dir + "/model_bad.bin", 40);
  EXPECT_NE(error_of([&] { EqPropNet::load(dir + "/model_bad.bin"); }).find("checksum"), std::string::npos);
  // A checkpoint of a different training config is refused.
  EqPropConfig cd = small_training(dir + "/b");
  cd.lr_weights = 0.5f;
  EqPropNet nd = EqPropNet::create(8, cd.hidden, 2, 2, 0.5f, 0.25f, cd.seed);
  EqPropTrainer td(nd, cd, train, ti, test, si);
  EXPECT_NE(error_of([&] { td.load_checkpoint(dir + "/b/checkpoint.bin"); }).find("different training config"), std::string::npos);
  // Behind the checksum, the epoch's tallies (correct answers, cost, flips, seconds; after the
  // position's 28 bytes) are finite and not negative, as the DBM's and the p-DNN's.
  for (const auto& [offset, v] : {std::pair<size_t, double>{28, -1.0}, {36, std::nan("")}, {44, static_cast<double>(INFINITY)}, {52, std::nan("")}}) {
    SealedFile f(dir + "/b/checkpoint.bin");
    f.poke<double>(offset, v);
    f.write(dir + "/bad_tally.bin");
    EqPropNet ne = EqPropNet::create(8, cb.hidden, 2, 2, 0.5f, 0.25f, cb.seed);
    EqPropTrainer te(ne, cb, train, ti, test, si);
    const std::string e = error_of([&] { te.load_checkpoint(dir + "/bad_tally.bin"); });
    EXPECT_NE(e.find("has an impossible tally"), std::string::npos) << offset << " = " << v << ": " << e;
  }
  // ... and so are the weights after them (a NaN weight trained on and
  // went into model.bin, which eval then refused).
  SealedFile f(dir + "/b/checkpoint.bin");
  f.poke<float>(80, std::nanf(""));  // w0's second weight (after the sweep count and its 8-byte length)
  f.write(dir + "/bad_weight.bin");
  EqPropNet ne = EqPropNet::create(8, cb.hidden, 2, 2, 0.5f, 0.25f, cb.seed);
  EqPropTrainer te(ne, cb, train, ti, test, si);
  const std::string e = error_of([&] { te.load_checkpoint(dir + "/bad_weight.bin"); });
  EXPECT_NE(e.find("holds a parameter that is not finite (nan, entry 1 of"), std::string::npos) << e;
  // Adam's second moments are not negative (helper-91). Layout: the position and tallies (60 bytes),
  // the sweep count, then w0 (64), w1 (32), bh (8), bo (4) floats and m[0] (64 doubles), each after
  // its 8-byte length: v[0]'s first value at 1060.
  EqPropConfig cadam = small_training(dir + "/adam");
  cadam.optimizer = "adam";
  cadam.epochs = 1;
  std::filesystem::create_directories(dir + "/adam");
  EqPropNet nadam = EqPropNet::create(8, cadam.hidden, 2, 2, 0.5f, 0.25f, cadam.seed);
  EqPropTrainer(nadam, cadam, train, ti, test, si).run();
  SealedFile fa(dir + "/adam/checkpoint.bin");
  fa.poke<double>(1060, -1.0);
  fa.write(dir + "/bad_moment.bin");
  EqPropNet nbad = EqPropNet::create(8, cadam.hidden, 2, 2, 0.5f, 0.25f, cadam.seed);
  EqPropTrainer tbad(nbad, cadam, train, ti, test, si);
  const std::string em = error_of([&] { tbad.load_checkpoint(dir + "/bad_moment.bin"); });
  EXPECT_NE(em.find("holds a negative second moment (-1, entry 0 of 64)"), std::string::npos) << em;
  EXPECT_EQ(error_of([&] { tbad.load_checkpoint(dir + "/adam/checkpoint.bin"); }), "<no error>");
  // The history's numbers are in range and its epochs 1 ... 4 (as the DBM's and DTM's): a history of
  // the four finished epochs (tc resumed /b to its end) loads; a number out of range in the last
  // entry, or the epochs out of order, are refused.
  const auto history = [](const std::string& key = "", const nlohmann::json& value = {}) {
    nlohmann::json h = nlohmann::json::array();
    for (int32_t k = 1; k <= 4; ++k) {
      h.push_back({{"epoch", k}, {"updates", 8 * k}, {"train_accuracy", 0.5}, {"train_cost", 0.25}, {"test_accuracy", -1}, {"wall_s", 1.5}, {"flips", 1e6}});
    }
    if (!key.empty()) h[3][key] = value;
    return h.dump();
  };
  const auto load_history = [&](const std::string& h) {
    SealedFile fh(dir + "/b/checkpoint.bin");
    fh.replace_last_string(h);
    fh.write(dir + "/bad_history.bin");
    EqPropNet nh = EqPropNet::create(8, cb.hidden, 2, 2, 0.5f, 0.25f, cb.seed);
    EqPropTrainer th(nh, cb, train, ti, test, si);
    return error_of([&] { th.load_checkpoint(dir + "/bad_history.bin"); });
  };
  EXPECT_EQ(load_history(history()), "<no error>") << history();
  EXPECT_EQ(load_history(history("test_accuracy", 0.75)), "<no error>");
  for (const auto& [key, value] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"epoch", 3.5}, {"epoch", 3}, {"epoch", 5}, {"epoch", INT64_MAX}, {"updates", -5}, {"updates", 16.5}, {"train_accuracy", 1.5},
           {"train_accuracy", -1}, {"test_accuracy", -5}, {"test_accuracy", -0.5}, {"train_cost", -1}, {"wall_s", 1e12}, {"flips", 1e300},
           {"flips", "x"}}) {
    const std::string e = load_history(history(key, value));
    EXPECT_NE(e.find("corrupt training history"), std::string::npos) << key << " = " << value.dump() << ": " << e;
  }
}

// train.time_budget_s: a run whose budget is spent stops before its next batch with a checkpoint, at
// the start of training or in the middle of an epoch, and a run resumed from it with no budget ends
// bit for bit where the uninterrupted one did (the budget is not part of the training config).
// A run whose batches would take its sampler past 2^32 - 1 sweeps is refused before the first batch,
// naming the numbers (it stopped with an error in a late epoch, and its resume stopped again:
// helper-113); one that may pass it only if train.skip_when_correct skips no nudge is warned.
TEST(EqProp, ARunPastOneSamplersSweepsIsRefusedBeforeItsFirstBatch) {
  const ImageDataset train = halves(64, 1), test = halves(40, 2);
  const std::vector<int64_t> ti = first_indices(64), si = first_indices(40);
  const std::string dir = std::string(PBIT_TEST_TMP) + "/eqprop_sweep_cap";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  EqPropConfig c = small_training(dir);
  c.free = {0.2f, 3.0f, 1 << 24, 1, 1};  // 2^24 + 1 sweeps a batch, and as many again nudged
  c.nudge.sweeps = 1 << 24;
  c.epochs = 10;  // 16 batches each: 160 x (2^25 + 2) sweeps
  c.skip_when_correct = false;
  EqPropNet n = EqPropNet::create(8, c.hidden, 2, 2, 0.5f, 0.25f, c.seed);
  auto refusal = [&](const EqPropConfig& cfg) {
    EqPropTrainer t(n, cfg, train, ti, test, si);
    return error_of([&] { t.run(); });
  };
  auto warning = [&](const EqPropConfig& cfg) {  // with a budget spent before the first batch
    EqPropTrainer t(n, cfg, train, ti, test, si);
    testing::internal::CaptureStderr();
    EXPECT_NO_THROW(t.run());
    EXPECT_TRUE(t.out_of_time());
    return testing::internal::GetCapturedStderr();
  };
  std::string e = refusal(c);
  EXPECT_NE(e.find("key 'train.epochs': the 160 batches left (train.epochs 10 x 16 batches of train.batch_size 4) of 33554434 sweeps each "
                   "would take the training sampler from 0 to 5368709440 sweeps, past the 2^32 - 1"),
            std::string::npos)
      << e;
  // With a time budget the epochs are a bound the budget may never reach: said, not refused (helper-115).
  c.time_budget_s = 1e-9;
  std::string said = warning(c);
  EXPECT_NE(said.find("warning: the 160 batches left (train.epochs 10 x 16 batches of train.batch_size 4) of 33554434 sweeps each take the "
                      "training sampler from 0 to 5368709440 sweeps"),
            std::string::npos)
      << said;
  EXPECT_NE(said.find("unless train.time_budget_s ends the run first"), std::string::npos) << said;
  c.epochs = 7;  // 112 batches: 3.8e9 sweeps, under the limit
  EXPECT_EQ(warning(c).find("warning"), std::string::npos);
  c.epochs = 10;
  c.skip_when_correct = true;  // the free phases alone fit; every nudge would not
  said = warning(c);
  EXPECT_NE(said.find("warning: the 160 batches left"), std::string::npos) << said;
  EXPECT_NE(said.find("(with every nudge; train.skip_when_correct skips some) may take the training sampler from 0 to 5368709440"), std::string::npos) << said;
  // Physics-aware training: the nudged phases run on the ideal sampler, two a batch; without
  // skip_when_correct they surely pass it (this was only warned of: helper-115).
  c.time_budget_s = 0;
  c.skip_when_correct = false;
  c.train_mode = "pat";
  c.hardware.gain_sigma = 0.1f;
  e = refusal(c);
  EXPECT_NE(e.find("of 33554434 sweeps each would take the ideal sampler (train.mode pat) from 0 to 5368709440"), std::string::npos) << e;
}

TEST(EqProp, TimeBudgetStopsWithACheckpointAndResumesBitForBit) {
  const ImageDataset train = halves(64, 1), test = halves(40, 2);
  const std::vector<int64_t> ti = first_indices(64), si = first_indices(40);
  const std::string dir = std::string(PBIT_TEST_TMP) + "/eqprop_budget";
  std::filesystem::remove_all(dir);
  for (const char* d : {"/a", "/b", "/m"}) std::filesystem::create_directories(dir + d);
  EqPropConfig ca = small_training(dir + "/a");
  ca.epochs = 2;
  EqPropNet na = EqPropNet::create(8, ca.hidden, 2, 2, 0.5f, 0.25f, ca.seed);
  EqPropTrainer ta(na, ca, train, ti, test, si);
  ta.run();
  EXPECT_FALSE(ta.out_of_time());
  // Spent before the first batch: nothing trained, a checkpoint of the start.
  EqPropConfig cb = ca;
  cb.output_dir = dir + "/b";
  cb.time_budget_s = 1e-9;
  EqPropNet nb = EqPropNet::create(8, cb.hidden, 2, 2, 0.5f, 0.25f, cb.seed);
  {
    EqPropTrainer tb(nb, cb, train, ti, test, si);
    tb.run();
    EXPECT_TRUE(tb.out_of_time());
    EXPECT_EQ(tb.epoch(), 0);
    EXPECT_EQ(tb.batch_in_epoch(), 0);
    EXPECT_EQ(tb.updates(), 0);
    EXPECT_TRUE(tb.history().empty());
  }
  cb.time_budget_s = 0;
  EqPropTrainer tb2(nb, cb, train, ti, test, si);
  tb2.load_checkpoint(dir + "/b/checkpoint.bin");
  tb2.run();
  expect_same_parameters(nb, na);
  // In the middle of an epoch: a run killed after its mid-epoch checkpoint at batch 15 of 16,
  // resumed with a budget its 15 batches already spent, stops at once and rewrites the checkpoint;
  // resumed again without one, it ends where the uninterrupted run did.
  EqPropConfig cm = ca;
  cm.output_dir = dir + "/m";
  cm.checkpoint_every_batches = 5;
  EqPropNet nm = EqPropNet::create(8, cm.hidden, 2, 2, 0.5f, 0.25f, cm.seed);
  EXPECT_THROW(EqPropTrainer(nm, cm, train, ti, test, si).run([](const EqPropEpoch&) { throw std::runtime_error("killed"); }),
               std::runtime_error);
  cm.time_budget_s = 1e-9;
  EqPropNet nm2 = EqPropNet::create(8, cm.hidden, 2, 2, 0.5f, 0.25f, cm.seed);
  double trained = 0;
  {
    EqPropTrainer tm(nm2, cm, train, ti, test, si);
    tm.load_checkpoint(dir + "/m/checkpoint.bin");
    ASSERT_EQ(tm.batch_in_epoch(), 15);
    const int64_t updates = tm.updates();
    tm.run();
    EXPECT_TRUE(tm.out_of_time());
    EXPECT_EQ(tm.epoch(), 0);
    EXPECT_EQ(tm.batch_in_epoch(), 15);
    EXPECT_EQ(tm.updates(), updates);
    trained = tm.train_seconds();
    EXPECT_GT(trained, 0.0);
    // Its flips count the 15 batches of the unfinished epoch, as its seconds do (helper-131: results.json
    // summed the finished epochs' flips only, none here, beside all of the seconds).
    EXPECT_TRUE(tm.history().empty());
    EXPECT_GT(tm.train_flips(), 0.0);
    EXPECT_LT(tm.train_flips(), ta.history()[0].flips);
  }
  cm.time_budget_s = 0;
  EqPropNet nm3 = EqPropNet::create(8, cm.hidden, 2, 2, 0.5f, 0.25f, cm.seed);
  EqPropTrainer tm3(nm3, cm, train, ti, test, si);
  tm3.load_checkpoint(dir + "/m/checkpoint.bin");
  EXPECT_EQ(tm3.batch_in_epoch(), 15);
  EXPECT_GE(tm3.train_seconds(), trained);  // the time of the stopped run counts
  tm3.run();
  EXPECT_FALSE(tm3.out_of_time());
  expect_same_parameters(nm3, na);
  EXPECT_EQ(tm3.train_flips(), ta.train_flips());
  EXPECT_EQ(ta.train_flips(), ta.history()[0].flips + ta.history()[1].flips);
}

// Adam: its first update moves every parameter by lr (bias-corrected m / sqrt(v) is g / |g|) or not at
// all (a zero gradient); and a run resumed from a mid-epoch checkpoint, moments and update count
// restored, ends bit for bit where the uninterrupted one did.
TEST(EqProp, AdamStepsByTheLearningRateAndResumesBitForBit) {
  const ImageDataset train = halves(64, 1);
  std::vector<int64_t> ti(64);
  for (int64_t k = 0; k < 64; ++k) ti[k] = k;
  const std::string dir = std::string(PBIT_TEST_TMP) + "/eqprop_adam";
  std::filesystem::remove_all(dir);
  for (const char* sub : {"/one", "/a", "/m"}) std::filesystem::create_directories(dir + sub);
  auto adam = [&](const std::string& sub) {
    EqPropConfig c = small_training(dir + sub);
    c.optimizer = "adam";
    c.epochs = 2;
    c.clip = 0;
    return c;
  };
  EqPropConfig c1 = adam("/one");
  c1.epochs = 1;
  const EqPropNet start = EqPropNet::create(8, c1.hidden, 2, 2, 0.5f, 0.25f, c1.seed);
  EqPropNet n1 = start;
  EqPropTrainer(n1, c1, train, std::vector<int64_t>(ti.begin(), ti.begin() + 4), train, {}).run();  // one batch: one update
  const std::vector<float>* before[4] = {&start.w0, &start.w1, &start.bh, &start.bo};
  const std::vector<float>* after[4] = {&n1.w0, &n1.w1, &n1.bh, &n1.bo};
  int moved = 0;
  for (int k = 0; k < 4; ++k) {
    const double lr = k < 2 ? c1.lr_weights : c1.lr_biases;
    for (size_t q = 0; q < before[k]->size(); ++q) {
      const double d = std::fabs(static_cast<double>((*after[k])[q]) - (*before[k])[q]);
      if (d == 0) continue;
      ++moved;
      EXPECT_NEAR(d, lr, 1e-5) << "parameter group " << k << ", index " << q;
    }
  }
  EXPECT_GT(moved, 10);
  EqPropConfig ca = adam("/a");
  EqPropNet na = start;
  EqPropTrainer(na, ca, train, ti, train, {}).run();
  EqPropConfig cm = adam("/m");
  cm.checkpoint_every_batches = 5;
  EqPropNet nm = start;
  EXPECT_THROW(EqPropTrainer(nm, cm, train, ti, train, {}).run([](const EqPropEpoch&) { throw std::runtime_error("killed"); }),
               std::runtime_error);
  EqPropNet nm2 = start;
  EqPropTrainer tm(nm2, cm, train, ti, train, {});
  tm.load_checkpoint(dir + "/m/checkpoint.bin");
  tm.run();
  expect_same_parameters(nm2, na);
  EXPECT_NE(na.w1, start.w1);
}

/// The net's parameters after each epoch of a run of c on 8 halves images (2 batches an epoch; no test
/// set, so no evaluation), starting from the small training's initial net; [0] is the initial net.
std::vector<EqPropNet> epoch_snapshots(EqPropConfig c) {
  const ImageDataset train = halves(8, 1);
  std::vector<int64_t> ti(8);
  for (int64_t k = 0; k < 8; ++k) ti[k] = k;
  std::filesystem::create_directories(c.output_dir);
  EqPropNet n = EqPropNet::create(8, c.hidden, 2, 2, 0.5f, 0.25f, c.seed);
  std::vector<EqPropNet> snaps{n};
  EqPropTrainer t(n, c, train, ti, train, {});
  t.run([&](const EqPropEpoch&) { snaps.push_back(n); });
  return snaps;
}

// lr_decay scales both learning rates by lr_decay^epoch, epoch counted from 0: the first epoch of a
// decaying run is bit for bit the undecayed one (same gradients: same weights, sampler counters and
// order), and the second epoch's SGD steps, taken from the same weights with the same gradient, are
// lr_decay times the undecayed ones. With one batch an epoch (no clipping) the step is the whole change.
TEST(EqProp, LearningRateDecaysFromTheSecondEpoch) {
  const std::string dir = std::string(PBIT_TEST_TMP) + "/eqprop_decay";
  auto config = [&](float decay) {
    EqPropConfig c = small_training(dir + "/" + std::to_string(decay));
    c.epochs = 2;
    c.batch_size = 8;  // one batch an epoch
    c.skip_when_correct = false;
    c.clip = 0;
    c.lr_decay = decay;
    return c;
  };
  const std::vector<EqPropNet> plain = epoch_snapshots(config(1.0f)), half = epoch_snapshots(config(0.5f));
  ASSERT_EQ(plain.size(), 3u);
  ASSERT_EQ(half.size(), 3u);
  EXPECT_EQ(half[1].w0, plain[1].w0);
  EXPECT_EQ(half[1].w1, plain[1].w1);
  EXPECT_EQ(half[1].bh, plain[1].bh);
  EXPECT_EQ(half[1].bo, plain[1].bo);
  const std::vector<double> p1 = flat(plain[1]), p2 = flat(plain[2]), h2 = flat(half[2]);
  double worst = 0, step = 0;
  for (size_t q = 0; q < p1.size(); ++q) {
    // w2 = fl(w1 - lr g) rounds once to float: the decayed step is half the undecayed one to within
    // half an ulp of the decayed w2 plus half of half an ulp of the undecayed w2, under 1 unit of 2^-23 max|w|.
    const double ulp = std::ldexp(1.0, -23) * std::max({std::abs(p1[q]), std::abs(p2[q]), std::abs(h2[q]), 1e-30});
    worst = std::max(worst, std::abs((h2[q] - p1[q]) - 0.5 * (p2[q] - p1[q])) / ulp);
    step = std::max(step, std::abs(p2[q] - p1[q]));
  }
  std::printf("second epoch: largest undecayed step %.4f, |decayed - step / 2| %.2f ulp at worst\n", step, worst);
  EXPECT_GT(step, 1e-3);  // the second epoch does move the weights
  EXPECT_LE(worst, 1.0);
}

// lr_weights drives w0 and w1 only, lr_biases bh and bo only: with one of them 0 its parameters stay
// bit for bit where they started while the others move.
TEST(EqProp, WeightAndBiasLearningRatesActOnTheirOwnParameters) {
  const std::string dir = std::string(PBIT_TEST_TMP) + "/eqprop_lr_split";
  for (bool weights : {false, true}) {
    SCOPED_TRACE(weights ? "lr_biases 0" : "lr_weights 0");
    EqPropConfig c = small_training(dir + (weights ? "/w" : "/b"));
    c.epochs = 1;
    c.batch_size = 4;
    c.skip_when_correct = false;
    c.lr_weights = weights ? 0.05f : 0.0f;
    c.lr_biases = weights ? 0.0f : 0.05f;
    const std::vector<EqPropNet> s = epoch_snapshots(c);
    ASSERT_EQ(s.size(), 2u);
    const EqPropNet &a = s[0], &z = s[1];
    EXPECT_EQ(z.w0 == a.w0, !weights);
    EXPECT_EQ(z.w1 == a.w1, !weights);
    EXPECT_EQ(z.bh == a.bh, weights);
    EXPECT_EQ(z.bo == a.bo, weights);
  }
}

TEST(EqProp, ConfigErrorsNameTheKey) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"nudge": {"beta": 0}})", "nudge.beta"},
      {R"({"nudge": {"schedule": "sideways"}})", "nudge.schedule"},
      {R"({"free": {"beta_start": 5, "beta_end": 1}})", "free.beta_start"},
      // (with the "continue" nudge no reverse nudge re-heats: the anneal's own check must name it)
      {R"({"free": {"beta_start": 5, "beta_end": 1, "anneal_sweeps": 10}, "nudge": {"schedule": "continue"}})",
       "key 'free.beta_start': must not exceed free.beta_end"},
      {R"({"free": {"beta_start": 5, "beta_end": 1, "anneal_sweeps": 0}})", "the reverse nudge (nudge.schedule) re-heats towards it"},
      {R"({"train": {"optimizer": "rmsprop"}})", "train.optimizer"},
      {R"({"train": {"batch_size": 0}})", "train.batch_size"},
      {R"({"network": {"hidden": 0}})", "network.hidden"},
      {R"({"trian": {}})", "trian"},
      {R"({"data": {"train_images": -1}})", "data.train_images"},
      {R"({"train": {"lr_decay": 0}})", "train.lr_decay"},
      {R"({"train": {"time_budget_s": "1h"}})", "train.time_budget_s"},
      {R"({"network": {"topology": 5}})", "network.topology"},
      {R"({"network": {"topology": ""}})", "key 'network.topology': must not be empty"},
      {R"({"network": {"topology": "pegasus:3", "hidden": 8}})", "key 'network.hidden': is the layered network's"},
      {R"({"network": {"topology": "pegasus:3", "init_gain_w1": 0.5}})", "key 'network.init_gain_w1': is the layered network's"},
      {R"({"network": {"role_seed": 3}})", "key 'network.role_seed': is a hardware graph's"},
      {R"({"network": {"threshold": 50}})", "key 'network.threshold': is a hardware graph's"},  // (helper-93: it was ignored)
      {R"({"data": {"data_dir": ""}})", "key 'data.data_dir': must not be empty"},
      {R"({"network": {"threshold": 255}})", "network.threshold"},
      {R"({"train": {"batch_size": 65536, "chains_per_image": 4096}})", "train.batch_size"},
      {R"({"eval": {"batch_images": 1048576, "chains_per_image": 17}})", "key 'eval.batch_images': batch_images x chains_per_image"},
      // A phase past one sampler's 2^32 - 1 sweeps: refused here, not at the first batch (helper-113).
      {R"({"free": {"samples": 1048576, "steps_per_sample": 4096}})", "key 'free': anneal_sweeps + samples x steps_per_sample (100 + 1048576 x 4096) is more than one sampler runs"},
      {R"({"nudge": {"sweeps": 16777216, "samples": 1048576, "steps_per_sample": 4096}})", "key 'nudge': sweeps + samples x steps_per_sample"},
  };
  for (const auto& [text, key] : cases) {
    const std::string e = error_of([&] { parse_eqprop_config(nlohmann::json::parse(text)); });
    EXPECT_NE(e.find(key), std::string::npos) << text << " -> " << e;
  }
  const EqPropConfig ok = parse_eqprop_config(nlohmann::json::parse(R"({"nudge": {"symmetric": true}, "train": {"epochs": 3}})"));
  EXPECT_TRUE(ok.nudge.symmetric);
  EXPECT_EQ(ok.epochs, 3);
  // Without an anneal and with the "continue" nudge, beta_start is not used at all.
  EXPECT_EQ(error_of([] {
              parse_eqprop_config(nlohmann::json::parse(R"({"free": {"beta_start": 5, "beta_end": 1, "anneal_sweeps": 0},
                                                            "nudge": {"schedule": "continue"}})"));
            }),
            "<no error>");
  // A network the memory does not hold is refused before its weights exist (it ended in bad_alloc).
  setenv("PBIT_MAX_MEMORY", "1G", 1);
  const std::string big = error_of([] { EqPropNet::create(784, 65536, 10, 1024, 1.0f, 1.0f, 1); });
  const std::string fits = error_of([] { EqPropNet::create(784, 120, 10, 4, 1.0f, 1.0f, 1); });
  unsetenv("PBIT_MAX_MEMORY");
  EXPECT_NE(big.find("an EqProp network of 784 inputs, 65536 hidden units and 10 x 1024 outputs needs about"), std::string::npos) << big;
  EXPECT_EQ(fits, "<no error>");
}

TEST(EqProp, BalancedSelection) {
  const ImageDataset d = halves(30, 3);
  const std::vector<int64_t> idx = eqprop_select(d, 10, true, 2);
  ASSERT_EQ(idx.size(), 10u);
  int ones = 0;
  for (int64_t k : idx) ones += d.labels[k];
  EXPECT_EQ(ones, 5);
  EXPECT_NE(error_of([&] { eqprop_select(d, 9, true, 2); }).find("multiple of 2"), std::string::npos);
  // A count at or past the set's size means all of it, but still a multiple of the classes, as the
  // config's parser says before the size is known (helper-92: 31 passed here and failed there).
  EXPECT_NE(error_of([&] { eqprop_select(d, 31, true, 2); }).find("multiple of 2"), std::string::npos);
  EXPECT_EQ(eqprop_select(d, 32, true, 2).size(), 30u);
  EXPECT_EQ(eqprop_select(d, 31, false, 2).size(), 30u);
  // A class too short for the share asked of it is named, with what can be asked.
  ImageDataset lopsided = d;
  for (size_t k : {1, 3, 5}) lopsided.labels[k] = 0;  // 18 images of class 0, 12 of class 1
  EXPECT_EQ(eqprop_select(lopsided, 24, true, 2).size(), 24u);
  EXPECT_EQ(error_of([&] { eqprop_select(lopsided, 28, true, 2); }),
            "invalid config: data.train_images / data.test_images (or --test-images): with data.balanced, 28 images need 14 of each "
            "class, and class 1 has 12 (ask for at most 24, or all of them with 0, or set data.balanced false)");
  // The config says the same before any data is read (eqprop config passed it, and train refused it).
  EXPECT_EQ(error_of([] { parse_eqprop_config(nlohmann::json::parse(R"({"data": {"test_images": 105}})")); }),
            "invalid config: key 'data.test_images': with data.balanced, a class-balanced selection needs a multiple of 10 images, "
            "got 105 (or 0 for all of them)");
  EXPECT_NE(error_of([] { parse_eqprop_config(nlohmann::json::parse(R"({"data": {"train_images": 7, "balanced": true}})")); })
                .find("key 'data.train_images'"),
            std::string::npos);
  EXPECT_NO_THROW(parse_eqprop_config(nlohmann::json::parse(R"({"data": {"train_images": 7, "balanced": false, "test_images": 0}})")));
}

}  // namespace
}  // namespace pbit::test

namespace pbit::test {
namespace {

TEST(EqProp, ShippedConfigsAreValid) {
  int n = 0;
  for (const auto& f : std::filesystem::directory_iterator(std::string(PBIT_SOURCE_DIR) + "/configs")) {
    const std::string name = f.path().filename().string();
    if (name.rfind("eqprop_", 0) != 0) continue;
    EXPECT_NO_THROW(parse_eqprop_config(read_json_file(f.path().string()))) << name;
    ++n;
  }
  EXPECT_GE(n, 2);
}

}  // namespace
}  // namespace pbit::test

namespace pbit::test {
namespace {

// Every backend trains the same model bit for bit (the sampler's contract carries over to the model
// family): a few batches of the tiny training on each backend against the cpu one. On cuda (the
// device kit) the same check runs with a GPU.
class EqPropBackends : public ::testing::TestWithParam<Backend> {};

TEST_P(EqPropBackends, TrainSameModelAsCpu) {
  PBIT_REQUIRE_BACKEND(GetParam());
  const ImageDataset train = halves(16, 1), test = halves(8, 2);
  const std::vector<int64_t> ti = first_indices(16), si = first_indices(8);
  auto train_on = [&](const std::string& backend) {
    EqPropConfig c = small_training(std::string(PBIT_TEST_TMP) + "/eqprop_backend_" + backend + "_beside_" + to_string(GetParam()));
    std::filesystem::create_directories(c.output_dir);
    c.backend = backend;
    c.epochs = 2;
    c.chains_per_image = 3;
    c.nudge.symmetric = true;
    EqPropNet n = EqPropNet::create(8, c.hidden, 2, 2, 0.5f, 0.25f, c.seed);
    EqPropTrainer t(n, c, train, ti, test, si);
    t.run();
    return n;
  };
  const EqPropNet want = train_on("cpu"), got = train_on(to_string(GetParam()));
  expect_same_parameters(got, want);
}

// Every backend evaluating all the images at once predicts what the cpu one does in batches (the
// evaluation's draws keyed by an image's place; on cuda, with a GPU, in the device kit), on ideal
// p-bits and on a device with LFSR random numbers, whose seeds come from each chain's id.
TEST_P(EqPropBackends, EvaluatesAllAtOnceAsTheCpuInBatches) {
  PBIT_REQUIRE_BACKEND(GetParam());
  const ImageDataset d = halves(9, 1);
  EqPropConfig c = small_training(std::string(PBIT_TEST_TMP) + "/eqprop_eval_backend_" + to_string(GetParam()));
  c.free = {0.01f, 0.01f, 0, 1, 4};  // hot: each image's read-out a coin toss of its own
  c.eval_chains_per_image = 2;
  for (bool device : {false, true}) {
    SCOPED_TRACE(device ? "LFSR device" : "ideal");
    if (device) c.hardware.rng = "lfsr", c.hardware.gain_sigma = 0.2f, c.hardware.device_seed = 3;
    const EqPropNet n = eqprop_create(c, 8);
    c.backend = "cpu";
    c.eval_batch_images = 2;
    const EqPropEval want = eqprop_evaluate(n, d, first_indices(9), c);
    c.backend = to_string(GetParam());
    c.eval_batch_images = 9;
    const EqPropEval got = eqprop_evaluate(n, d, first_indices(9), c);
    EXPECT_EQ(got.predictions, want.predictions);
    EXPECT_EQ(got.flips, want.flips);
  }
}

INSTANTIATE_TEST_SUITE_P(AllBackends, EqPropBackends, ::testing::ValuesIn(test_backends()), backend_param_name);

}  // namespace
}  // namespace pbit::test

// ---------------------------------------------------------------- on a hardware graph

namespace pbit::test {
namespace {

/// Exact <s_i s_j> per edge and <s_i> per node of a graph-mode net, visible spins clamped to x > 0,
/// under P_b ~ exp(-(E + b C)), and <C>.
struct GraphExact {
  std::vector<double> corr, mean;
  double cost = 0;
};
GraphExact graph_exact(const EqPropNet& n, const std::vector<double>& J, const std::vector<double>& h, const std::vector<float>& x,
                       int32_t label, double b, double beta_s = 1.0) {
  const Graph& g = n.structure;
  const int32_t N = g.num_nodes();
  std::vector<int8_t> fixed(N, 0);
  for (size_t k = 0; k < n.visible.size(); ++k) fixed[n.visible[k]] = x[k] > 0 ? 1 : -1;
  std::vector<int32_t> free_nodes;
  for (int32_t i = 0; i < N; ++i)
    if (!fixed[i]) free_nodes.push_back(i);
  const std::vector<float> t = n.target(label);
  GraphExact r;
  r.corr.assign(g.num_edges(), 0.0);
  r.mean.assign(N, 0.0);
  std::vector<double> logw(size_t{1} << free_nodes.size());
  std::vector<int8_t> s(N);
  double mx = -1e300;
  auto fill = [&](uint32_t st) {
    s = fixed;
    for (size_t q = 0; q < free_nodes.size(); ++q) s[free_nodes[q]] = ((st >> q) & 1u) ? 1 : -1;
  };
  auto cost_of = [&] {
    double c = 0;
    for (int32_t j = 0; j < n.outputs(); ++j) c += 1.0 - s[n.output_nodes[j]] * t[j];
    return c;
  };
  for (uint32_t st = 0; st < logw.size(); ++st) {
    fill(st);
    double e = 0;
    for (int64_t k = 0; k < g.num_edges(); ++k) e -= J[k] * s[g.edge_i()[k]] * s[g.edge_j()[k]];
    for (int32_t i = 0; i < N; ++i) e -= h[i] * s[i];
    logw[st] = -beta_s * (e + b * cost_of());
    mx = std::max(mx, logw[st]);
  }
  double z = 0;
  for (uint32_t st = 0; st < logw.size(); ++st) {
    fill(st);
    const double w = std::exp(logw[st] - mx);
    z += w;
    for (int64_t k = 0; k < g.num_edges(); ++k) r.corr[k] += w * s[g.edge_i()[k]] * s[g.edge_j()[k]];
    for (int32_t i = 0; i < N; ++i) r.mean[i] += w * s[i];
    r.cost += w * cost_of();
  }
  for (double& v : r.corr) v /= z;
  for (double& v : r.mean) v /= z;
  r.cost /= z;
  return r;
}

/// chimera:1:2:3 (12 nodes), 3 visible, 2 x 2 outputs, 5 hidden: 9 free spins.
EqPropNet tiny_graph_net() {
  EqPropNet n = EqPropNet::create_on_graph("chimera:1:2:3", 3, 2, 2, 1.2f, 3, 5);
  for (size_t i = 0; i < n.bh.size(); ++i) n.bh[i] = 0.25f * std::sin(1.3f * static_cast<float>(i));
  return n;
}

/// The sampled graph estimate of cfg (Boltzmann phases) against the exact one at b = cfg.nudge.beta:
/// -(<.>_b - <.>_0) / b, or -(<.>_b - <.>_-b) / 2b when symmetric, for every coupling and bias. Each
/// entry's standard error is measured: the estimate is the mean of 32 independent runs of 512 chains
/// (seeds seed * 100 + r), its standard error their spread / sqrt(32). (A tolerance from an assumed
/// count of effective draws was 15 times the errors seen, so that an entry below a tenth of the
/// gradient's scale could be off by 2x unseen: helper-127.) Returns {worst, bound, scale}: the worst
/// entry's distance from the exact one in its standard errors, 6.5 (a t statistic of 31 degrees of
/// freedom, whose tail past 5 is 2e-5, past 6.5 3e-7: helper-128), and the least over the entries whose
/// exact value is at least a third of the largest of that value in standard errors (a factor of 2 or
/// a wrong sign must move such an entry by more than the bound). Clamped entries (no spread) must
/// match exactly. `check` says where the phases run and which exact estimate they are held to; every
/// mode but `ideal` needs a rough `device`.
enum class EstimateCheck {
  ideal,             ///< both phases on the ideal sampler, against the exact ideal estimate
  physics_aware,     ///< the free phase on the device, the nudged phase and its reference on the ideal
                     ///< sampler from its state, against the exact ideal estimate
  in_situ,           ///< both phases on the device, against the exact estimate of the device's own
                     ///< stationary distributions (exact_device.hpp), the nudge a field b t on the outputs
                     ///< (the cost sum_o (1 - s_o t_o) is linear in the spins)
  in_situ_vs_ideal,  ///< both phases on the device, against the exact ideal estimate (which they miss)
};

std::array<double, 3> graph_estimate_error(const EqPropConfig& cfg, uint64_t seed, EstimateCheck check = EstimateCheck::ideal,
                                           const PbitHardware* device = nullptr) {
  if ((check == EstimateCheck::ideal) != (device == nullptr))
    throw std::invalid_argument("graph_estimate_error: a device for every check but ideal");
  const bool in_situ = check == EstimateCheck::in_situ || check == EstimateCheck::in_situ_vs_ideal;
  const EqPropNet n = tiny_graph_net();
  const std::vector<float> x{0.7f, 0.0f, 0.4f};
  const int32_t label = 0, chains = 512, runs = 32;
  const std::vector<double> J(n.w1.begin(), n.w1.end()), h(n.bh.begin(), n.bh.end());
  const Graph g = n.graph();
  const size_t E = J.size(), K = E + static_cast<size_t>(n.spins());
  std::vector<double> sum(K, 0.0), sum2(K, 0.0);
  for (int32_t r = 0; r < runs; ++r) {
    SamplerOptions o;
    o.backend = Backend::cpu;
    o.seed = seed * 100 + static_cast<uint64_t>(r);
    Sampler s(g, Coloring(g, n.colors()), chains, o);
    std::unique_ptr<Sampler> dev;
    if (device) {
      SamplerOptions dev_o = o;
      dev_o.hardware = *device;
      dev = std::make_unique<Sampler>(g, Coloring(g, n.colors()), chains, dev_o);
    }
    const EqPropGradient got = !device ? eqprop_gradient(n, s, x, std::vector<int32_t>{label}, cfg)
                               : in_situ ? eqprop_gradient(n, *dev, x, std::vector<int32_t>{label}, cfg)
                                         : eqprop_gradient(n, *dev, x, std::vector<int32_t>{label}, cfg, &s);
    EXPECT_EQ(got.nudged, 1);
    for (size_t k = 0; k < K; ++k) {
      const double v = k < E ? got.w1[k] : got.bh[k - E];
      sum[k] += v;
      sum2[k] += v * v;
    }
  }
  const double b = cfg.nudge.beta, beta_s = cfg.free.beta_end;  // Boltzmann phases: constant beta_s
  const bool sym = cfg.nudge.symmetric;
  GraphExact ea = graph_exact(n, J, h, x, label, b, beta_s), eb = graph_exact(n, J, h, x, label, sym ? -b : 0.0, beta_s);
  if (check == EstimateCheck::in_situ) {  // the device's own moments at nudge b and at the reference
    const std::vector<float> t = n.target(label);
    const auto on_device = [&](double nudge) {
      ChainSetup cs{std::vector<int8_t>(static_cast<size_t>(g.num_nodes()), 0), std::vector<double>(static_cast<size_t>(g.num_nodes()), 0.0)};
      for (size_t k = 0; k < n.visible.size(); ++k) cs.clamp[static_cast<size_t>(n.visible[k])] = x[k] > 0 ? 1 : -1;
      for (int32_t j = 0; j < n.outputs(); ++j) cs.field[static_cast<size_t>(n.output_nodes[j])] = nudge * t[static_cast<size_t>(j)];
      GraphExact r;
      moments(g, device_stationary(g, Coloring(g, n.colors()), *device, cs, static_cast<float>(beta_s)), r.mean, r.corr);
      return r;
    };
    ea = on_device(b);
    eb = on_device(sym ? -b : 0.0);
  }
  const double den = sym ? 2 * b : b;
  std::vector<double> want(K);
  for (size_t k = 0; k < K; ++k) want[k] = k < E ? -(ea.corr[k] - eb.corr[k]) / den : -(ea.mean[k - E] - eb.mean[k - E]) / den;
  const double largest = *std::max_element(want.begin(), want.end(), [](double a, double c) { return std::abs(a) < std::abs(c); });
  double worst = 0, scale = std::numeric_limits<double>::infinity();
  for (size_t k = 0; k < K; ++k) {
    const double mean = sum[k] / runs, var = std::max(0.0, (sum2[k] - runs * mean * mean) / (runs - 1));
    const double se = std::sqrt(var / runs);
    const double off = std::abs(mean - want[k]);
    if (se < 1e-12) {  // a clamped node's bias: the same in both phases, exactly
      if (off > 1e-12) worst = std::numeric_limits<double>::infinity();
      continue;
    }
    worst = std::max(worst, off / se);
    if (std::abs(want[k]) >= std::abs(largest) / 3) scale = std::min(scale, std::abs(want[k]) / se);
  }
  return {worst, 6.5, scale};
}

TEST(EqPropGraph, EstimatorMatchesExactAndTheCostGradient) {
  const EqPropNet n = tiny_graph_net();
  ASSERT_EQ(n.spins(), 12);
  ASSERT_EQ(n.hidden, 5);
  const std::vector<float> x{0.7f, 0.0f, 0.4f};
  const int32_t label = 0;
  const std::vector<double> J(n.w1.begin(), n.w1.end()), h(n.bh.begin(), n.bh.end());
  // Exact symmetric EqProp at small b against the finite difference of <C>_0 in each coupling.
  const double b = 0.01;
  const GraphExact ep = graph_exact(n, J, h, x, label, b), em = graph_exact(n, J, h, x, label, -b);
  double worst_fd = 0, scale = 0;
  for (size_t e = 0; e < J.size(); ++e) {
    std::vector<double> a = J, c = J;
    a[e] += 1e-5, c[e] -= 1e-5;
    const double fd = (graph_exact(n, a, h, x, label, 0).cost - graph_exact(n, c, h, x, label, 0).cost) / 2e-5;
    const double eq = -(ep.corr[e] - em.corr[e]) / (2 * b);
    worst_fd = std::max(worst_fd, std::abs(fd - eq));
    scale = std::max(scale, std::abs(fd));
  }
  EXPECT_GT(scale, 0.05);
  EXPECT_LT(worst_fd, 1e-3 * scale) << worst_fd;
  // The sampled estimate (gradient_on_graph through eqprop_gradient) against the exact one at b.
  const EqPropConfig cfg = boltzmann(0.5f, false);
  const auto [worst, bound, large] = graph_estimate_error(cfg, 21);
  std::printf("graph: worst entry %.2f standard errors from exact (bound %.1f); large entries at least %.0f from 0\n", worst, bound, large);
  EXPECT_LT(worst, bound);
  EXPECT_GT(large, 3 * bound);  // a wrong sign or a factor of 2 (b = 0.5) would be off by more than the bound
  // Physics-aware training (issue 20): the free phase on a rough device, the nudged phase and its
  // reference on the ideal sampler from the device's state: the same exact ideal estimate.
  EqPropConfig pcfg = cfg;
  pcfg.nudge.sweeps = 60;
  PbitHardware rough;
  rough.weight_bits = 3;
  rough.gain_sigma = 0.4f;
  rough.offset_sigma = 0.5f;
  const auto [worst_pat, bound_pat, large_pat] = graph_estimate_error(pcfg, 21, EstimateCheck::physics_aware, &rough);
  std::printf("graph, PAT from a rough device: worst entry %.2f standard errors from the exact ideal estimate\n", worst_pat);
  EXPECT_LT(worst_pat, bound_pat);
  EXPECT_GT(large_pat, 3 * bound_pat);
}

// In-situ training's estimate (both phases on the device) against the exact estimate of the device's
// own stationary distributions, and told from the ideal model's estimate, which it is not (helper-127:
// in situ was checked only as differing from the ideal run).
TEST(EqPropGraph, InSituEstimatorMatchesTheDevicesExactOne) {
  EqPropConfig cfg = boltzmann(0.5f, false);
  cfg.train_mode = "in_situ";
  PbitHardware rough;
  rough.weight_bits = 3;
  rough.gain_sigma = 0.4f;
  rough.offset_sigma = 0.5f;
  cfg.hardware = rough;
  const auto [worst, bound, large] = graph_estimate_error(cfg, 25, EstimateCheck::in_situ, &rough);
  std::printf("graph, in situ: worst entry %.2f standard errors from the device's exact estimate (bound %.1f); large entries at least %.0f "
              "from 0\n",
              worst, bound, large);
  EXPECT_LT(worst, bound);
  EXPECT_GT(large, 3 * bound);
  // Against the ideal model's exact estimate, which a device run that sampled the ideal model would meet.
  const auto [off_ideal, bound_ideal, large_ideal] = graph_estimate_error(cfg, 25, EstimateCheck::in_situ_vs_ideal, &rough);
  std::printf("graph, in situ: worst entry %.1f standard errors from the ideal exact estimate\n", off_ideal);
  EXPECT_GT(off_ideal, bound_ideal);
  (void)large_ideal;
}

// Symmetric nudging on a hardware graph: the +b phase against a -b phase from the same free state,
// -(<s s>_b - <s s>_-b) / 2b, against exact enumeration (a reference nudged with +b again would
// estimate 0, off by the gradient's scale).
TEST(EqPropGraph, SymmetricEstimatorMatchesExact) {
  const auto [worst, tol, scale] = graph_estimate_error(boltzmann(0.5f, true), 22);
  std::printf("graph, symmetric: worst entry %.2f standard errors from exact (bound %.1f); large entries at least %.0f from 0\n", worst, tol,
              scale);
  EXPECT_LT(worst, tol);
  EXPECT_GT(scale, 3 * tol);
}

// At beta_s = 2 as at 1 (the layered estimator's test says why no beta_s belongs in the estimate):
// an estimator divided by beta_s, or a nudge outside it, fails here and passes at 1. Colder chains
// mix slower: 300 sweeps of warm-up and nudge, samples 4 sweeps apart.
TEST(EqPropGraph, EstimatorMatchesExactAtAColderBeta) {
  for (bool symmetric : {false, true}) {
    SCOPED_TRACE(symmetric ? "symmetric" : "one-sided");
    EqPropConfig cfg = boltzmann(0.5f, symmetric);
    cfg.free.beta_start = cfg.free.beta_end = 2.0f;
    cfg.free.anneal_sweeps = cfg.nudge.sweeps = 300;
    cfg.free.steps_per_sample = cfg.nudge.steps_per_sample = 4;
    cfg.free.samples = cfg.nudge.samples = 400;  // the gradient is smaller when colder: a tighter tolerance
    const auto [worst, tol, scale] = graph_estimate_error(cfg, 24);
    std::printf("graph, beta_s 2, %s: worst entry %.2f standard errors from exact (bound %.1f); large entries at least %.0f from 0\n",
                symmetric ? "symmetric" : "one-sided", worst, tol, scale);
    EXPECT_LT(worst, tol);
    EXPECT_GT(scale, 3 * tol);
  }
}

// Free and nudged phases of different lengths on a hardware graph: each phase's moments are means over
// its own samples (the symmetric -b phase's over the nudged phase's count, the one-sided reference's
// over the free phase's), so the estimate still matches the exact one.
TEST(EqPropGraph, PhasesOfDifferentSampleCountsMatchExact) {
  for (bool symmetric : {false, true}) {
    SCOPED_TRACE(symmetric ? "symmetric" : "one-sided");
    EqPropConfig cfg = boltzmann(0.5f, symmetric);
    cfg.free.samples = 100;
    cfg.nudge.samples = 40;
    const auto [worst, tol, scale] = graph_estimate_error(cfg, 23);
    std::printf("graph, %s, 100 free / 40 nudged samples: worst entry %.2f standard errors from exact (bound %.1f); large entries at "
                "least %.0f from 0\n",
                symmetric ? "symmetric" : "one-sided", worst, tol, scale);
    EXPECT_LT(worst, tol);
    EXPECT_GT(scale, 3 * tol);
  }
}

// The read-out's predictions and confusion matrix, image by image (helper-131: tested only through
// its cost and an all-stuck matrix). Two pixels drive hidden spin 0 to +1 (image A) or -1 (image B)
// with fields of 50, hidden spin 1 sits at +1; class 0's output copies hidden spin 0, class 1's its
// opposite and class 2's copies it too: A reads classes 0 and 2 alike, a tie the lowest class wins
// (as the paper's code's np.argmax), B reads class 1. Six images labelled 0, 1, 2, 1, 0, 2.
TEST(EqPropEval, PredictionsAreEachImagesArgmaxWithTiesToTheLowestClass) {
  EqPropNet n = EqPropNet::create(2, 2, 3, 1, 0.5f, 0.25f, 1);
  std::fill(n.w0.begin(), n.w0.end(), 0.0f);
  std::fill(n.w1.begin(), n.w1.end(), 0.0f);
  std::fill(n.bh.begin(), n.bh.end(), 0.0f);
  std::fill(n.bo.begin(), n.bo.end(), 0.0f);
  n.w0[0 * 2 + 0] = 50.0f;   // pixel 0 -> hidden 0
  n.w0[1 * 2 + 0] = -50.0f;  // pixel 1 -> hidden 0
  n.bh[1] = 50.0f;
  n.w1[0 * 3 + 0] = 30.0f, n.w1[0 * 3 + 1] = -30.0f, n.w1[0 * 3 + 2] = 30.0f;
  ImageDataset d;
  d.name = "two images";
  d.rows = 1, d.cols = 2;
  const std::vector<int32_t> labels = {0, 1, 2, 1, 0, 2};
  for (size_t k = 0; k < labels.size(); ++k) {
    d.labels.push_back(static_cast<uint8_t>(labels[k]));
    d.pixels.push_back(k % 2 == 0 ? 255 : 0);  // A: pixel 0 on
    d.pixels.push_back(k % 2 == 0 ? 0 : 255);  // B: pixel 1 on
  }
  EqPropConfig cfg;
  cfg.classes = 3;
  cfg.per_class = 1;
  cfg.field_clip = 0;
  cfg.eval_chains_per_image = 4;
  cfg.backend = "cpu";
  const EqPropEval ev = eqprop_evaluate(n, d, first_indices(6), cfg);
  EXPECT_EQ(ev.predictions, (std::vector<int32_t>{0, 1, 0, 1, 0, 1}));
  EXPECT_EQ(ev.confusion, (std::vector<int64_t>{2, 0, 0, 0, 2, 0, 1, 1, 0}));  // row = true class
  EXPECT_EQ(ev.correct, 4);
  EXPECT_DOUBLE_EQ(ev.accuracy, 4.0 / 6.0);
}

// A smaller last batch's chains draw random numbers of their own: a new sampler's count starts at 0,
// and its chains were numbered from 0 as the first batch's were, so image 2 of three (batches of 2)
// read out with image 0's draws; a copy of image 0 there was predicted alike in 30 of 30 seeds
// (helper-124). Hot free phase, untrained network: the read-out is a coin toss of its own per image.
TEST(EqPropEval, ASmallerLastBatchDrawsItsOwnRandomNumbers) {
  ImageDataset d = halves(3, 1);
  std::copy_n(d.pixels.begin(), 8, d.pixels.begin() + 16);  // image 2 = image 0
  d.labels[2] = d.labels[0];
  EqPropConfig c = small_training(std::string(PBIT_TEST_TMP) + "/eqprop_last_batch");
  c.free = {0.01f, 0.01f, 0, 1, 4};
  c.eval_batch_images = 2;
  c.eval_chains_per_image = 1;
  int same_as_copy = 0, same_as_other = 0;
  const int seeds = 24;
  for (int k = 0; k < seeds; ++k) {
    c.seed = 100 + static_cast<uint64_t>(k);
    const EqPropNet n = eqprop_create(c, 8);
    const EqPropEval ev = eqprop_evaluate(n, d, first_indices(3), c);
    ASSERT_EQ(ev.predictions.size(), 3u);
    same_as_copy += ev.predictions[0] == ev.predictions[2];
    same_as_other += ev.predictions[0] == ev.predictions[1];
  }
  EXPECT_LT(same_as_copy, seeds);  // (the shared draws: every seed)
  EXPECT_GT(same_as_copy, 0);
  EXPECT_LT(std::abs(same_as_copy - same_as_other), seeds / 2) << same_as_copy << " " << same_as_other;
}

// model.bin records what the network's read-out needs from its training config and the network does
// not hold (the free phase, the field clip; helper-131: evaluating with another config's changed the
// accuracy with no word): the trainer sets it, save and load keep it, a model without one (written
// before 2026-12-07) loads as not recorded, and a record that is not one is refused.
TEST(EqPropModel, RecordsTheFreePhaseAndFieldClipItWasTrainedWith) {
  const std::string dir = std::string(PBIT_TEST_TMP) + "/eqprop_record";
  std::filesystem::create_directories(dir);
  const ImageDataset train = halves(8, 1), test = halves(4, 2);
  EqPropConfig c = small_training(dir);
  c.field_clip = 2.5f;
  EqPropNet n = eqprop_create(c, 8);
  EXPECT_EQ(n.trained_with, "");
  EqPropTrainer t(n, c, train, first_indices(8), test, first_indices(4));
  EXPECT_EQ(n.trained_with, eqprop_training_record(c));
  n.save(dir + "/model.bin");
  const EqPropNet back = EqPropNet::load(dir + "/model.bin");
  EXPECT_EQ(back.trained_with, n.trained_with);
  EXPECT_TRUE(eqprop_eval_differences(back, c).empty());
  EqPropConfig other = c;
  other.free.beta_end = 3.5f;
  other.field_clip = 0.0f;
  other.hardware.gain_sigma = 0.2f;  // another device, and other read-out chains: no note
  other.eval_chains_per_image = 7;
  EXPECT_EQ(eqprop_eval_differences(back, other),
            (std::vector<std::string>{"free.beta_end 3.5 (trained with 3.0)", "train.field_clip 0.0 (trained with 2.5)"}));
  // Without a record: nothing to compare.
  EqPropNet bare = back;
  bare.trained_with.clear();
  bare.save(dir + "/bare.bin");
  EXPECT_EQ(EqPropNet::load(dir + "/bare.bin").trained_with, "");
  EXPECT_TRUE(eqprop_eval_differences(EqPropNet::load(dir + "/bare.bin"), other).empty());
  // A record set by hand, not load()'s to check, is compared as far as it goes.
  bare.trained_with = "not json";
  EXPECT_TRUE(eqprop_eval_differences(bare, other).empty());
  bare.trained_with = R"({"free.beta_end": 3.0})";
  EXPECT_EQ(eqprop_eval_differences(bare, other), (std::vector<std::string>{"free.beta_end 3.5 (trained with 3.0)"}));
  // (no number, or one past an int's range, where the config anneals not at all: compared as JSON;
  // the string threw and the 1e300 went through an int: helper-134)
  EqPropConfig constant = other;
  constant.free.anneal_sweeps = 0;
  for (const char* odd : {R"({"free.anneal_sweeps": "x"})", R"({"free.anneal_sweeps": 1e300})"}) {
    bare.trained_with = odd;
    EXPECT_EQ(eqprop_eval_differences(bare, constant).size(), 1u) << odd;
  }
  // A record that is not one: no JSON object, a key missing or not a number, a NUL the JSON reader
  // would stop at, past 64 KiB (refused by its length, before it is read).
  const std::string good = n.trained_with;
  std::string padded = good;
  padded.insert(padded.size() - 1, R"(, "later": ")" + std::string(70000, 'x') + "\"");
  ASSERT_TRUE(nlohmann::json::parse(padded).is_object());
  for (const std::string& bad : {std::string("not json"), std::string("{}"), std::string(R"({"train.field_clip": "2.5"})"), std::string("[1]"),
                                 good + std::string(1, '\0') + "{{{", padded}) {
    bare.trained_with = bad;
    bare.save(dir + "/bad.bin");
    EXPECT_NE(error_of([&] { (void)EqPropNet::load(dir + "/bad.bin"); }).find("is corrupt: its record of how it was trained is not one"),
              std::string::npos)
        << bad.substr(0, 80);
  }
  // A later pbit's further keys are left unread.
  std::string later = good;
  later.insert(later.size() - 1, R"(, "later": [1, 2])");
  bare.trained_with = later;
  bare.save(dir + "/later.bin");
  EXPECT_EQ(EqPropNet::load(dir + "/later.bin").trained_with, later);
}

// eval.batch_images changes memory and speed, never a prediction: each batch runs on a sampler of its
// own, its chains numbered from its first image's and its count from 0, so an image's draws are keyed
// by its place in the selection. (One sampler running every batch gave a later batch the draws of the
// sweeps after the first's: a GPU evaluating all images at once predicted otherwise than the CPU in
// batches.) Hot free phase, untrained network: each image's read-out is a coin toss of its own, so
// draws keyed otherwise change some of the 9 predictions in nearly every seed.
TEST(EqPropEval, PredictionsDoNotDependOnTheBatchSize) {
  const ImageDataset d = halves(9, 1);
  EqPropConfig c = small_training(std::string(PBIT_TEST_TMP) + "/eqprop_eval_batches");
  c.free = {0.01f, 0.01f, 0, 1, 4};
  c.eval_chains_per_image = 2;
  for (const char* backend : {"cpu", "packed"}) {
    c.backend = backend;
    for (int k = 0; k < 6; ++k) {
      c.seed = 200 + static_cast<uint64_t>(k);
      SCOPED_TRACE(std::string(backend) + ", seed " + std::to_string(c.seed));
      const EqPropNet n = eqprop_create(c, 8);
      c.eval_batch_images = 9;
      const EqPropEval all = eqprop_evaluate(n, d, first_indices(9), c);
      ASSERT_EQ(all.predictions.size(), 9u);
      for (int64_t b : {1, 2, 4, 8}) {
        c.eval_batch_images = b;
        const EqPropEval ev = eqprop_evaluate(n, d, first_indices(9), c);
        EXPECT_EQ(ev.predictions, all.predictions) << "batches of " << b;
        EXPECT_EQ(ev.confusion, all.confusion) << "batches of " << b;
        EXPECT_EQ(ev.flips, all.flips) << "batches of " << b;
      }
    }
  }
}

TEST(EqPropGraph, TrainsSavesAndMatchesAcrossBackends) {
  const ImageDataset train = halves(64, 1), test = halves(40, 2);
  const std::vector<int64_t> ti = first_indices(64), si = first_indices(40);
  auto make = [&](const std::string& backend, int32_t epochs) {
    EqPropConfig c = small_training(std::string(PBIT_TEST_TMP) + "/eqprop_graph_" + backend);
    std::filesystem::create_directories(c.output_dir);
    c.topology = "king:6";  // 36 nodes: 8 visible (pixel > 127), 2 x 2 outputs, 24 hidden
    c.backend = backend;
    c.epochs = epochs;
    c.lr_weights = 0.1f;
    c.lr_biases = 0.02f;
    c.threshold = 127;
    c.init_sigma_j = 0.1f;
    EqPropNet n = eqprop_create(c, 8);
    EqPropTrainer t(n, c, train, ti, test, si);
    t.run();
    return std::make_pair(n, c);
  };
  auto [net, cfg] = make("cpu", 6);
  const EqPropEval ev = eqprop_evaluate(net, test, si, cfg);
  std::printf("king:6 graph EqProp: test accuracy %.3f\n", ev.accuracy);
  EXPECT_GE(ev.accuracy, 0.85);
  // Its flips are the 28 spins a sweep updates, not the 8 clamped visible ones too (helper-124).
  ASSERT_EQ(net.visible.size(), 8u);
  EXPECT_DOUBLE_EQ(ev.flips, 40.0 * cfg.eval_chains_per_image * (36 - 8) *
                                 static_cast<double>(cfg.free.anneal_sweeps + cfg.free.samples * cfg.free.steps_per_sample));
  const std::string path = cfg.output_dir + "/model.bin";
  net.save(path);
  const EqPropNet back = EqPropNet::load(path);
  EXPECT_TRUE(back.on_graph());
  EXPECT_EQ(back.w1, net.w1);
  EXPECT_EQ(back.visible, net.visible);
  EXPECT_EQ(eqprop_evaluate(back, test, si, cfg).correct, ev.correct);
  // A sealed (valid-checksum) model that declares 2^24 nodes but holds none of their arrays is refused
  // before anything of that size is built or allocated (fuzz_checkpoints found it taking > 10 s).
  {
    SealedFile f(path);
    const size_t at = 8 + std::string("king:6").size();  // after the topology string: the node count
    f.poke<int32_t>(at, 1 << 24);
    f.poke<uint64_t>(at + 4, 0);  // no edges
    f.payload.resize(at + 4 + 8 + 8 + 8);  // the two empty edge arrays, then the colors' length only
    f.poke<uint64_t>(at + 4 + 16, uint64_t{1} << 24);
    f.write(path + ".big");
    // Under a 16 MB guard, building the declared graph first would be refused as out of memory.
    setenv("PBIT_MAX_MEMORY", "16M", 1);
    const std::string e = error_of([&] { EqPropNet::load(path + ".big"); });
    unsetenv("PBIT_MAX_MEMORY");
    EXPECT_NE(e.find("truncated"), std::string::npos) << e;
  }
  for (Backend b : {Backend::reference, Backend::packed}) {
    auto [other, oc] = make(to_string(b), 2);
    auto [ref, rc] = make("cpu", 2);
    EXPECT_EQ(other.w1, ref.w1) << to_string(b);
    EXPECT_EQ(other.bh, ref.bh) << to_string(b);
  }
}

}  // namespace
}  // namespace pbit::test

namespace pbit::test {
namespace {

// Imperfect hardware (issue 20): train.mode in_situ measures both phases on the device's sampler, so
// it learns other weights than the ideal sampler does; the config refuses in_situ without a device.
TEST(EqPropHardware, InSituTrainsOnTheDevice) {
  const ImageDataset train = halves(16, 1), test = halves(8, 2);
  const std::vector<int64_t> ti = first_indices(16), si = first_indices(8);
  auto train_with = [&](const std::string& mode, float gain) {
    EqPropConfig c = small_training(std::string(PBIT_TEST_TMP) + "/eqprop_hw_" + mode + std::to_string(gain));
    std::filesystem::create_directories(c.output_dir);
    c.epochs = 1;
    c.hardware.gain_sigma = gain;
    c.hardware.weight_bits = gain > 0 ? 4 : 0;
    c.train_mode = mode;
    EqPropNet n = EqPropNet::create(8, c.hidden, 2, 2, 0.5f, 0.25f, c.seed);
    EqPropTrainer t(n, c, train, ti, test, si);
    t.run();
    return n;
  };
  const EqPropNet ideal = train_with("ideal", 0.3f), situ = train_with("in_situ", 0.3f), plain = train_with("ideal", 0.0f);
  const EqPropNet pat = train_with("pat", 0.3f);
  EXPECT_EQ(ideal.w1, plain.w1);  // an ideal-mode run trains on the ideal sampler whatever the device
  EXPECT_NE(situ.w1, ideal.w1);
  EXPECT_NE(pat.w1, ideal.w1);
  EXPECT_NE(pat.w1, situ.w1);
  try {
    parse_eqprop_config(nlohmann::json::parse(R"({"train": {"mode": "in_situ"}})"));
    FAIL();
  } catch (const InvalidConfig& e) {
    EXPECT_NE(std::string(e.what()).find("train.mode"), std::string::npos) << e.what();
  }
  EXPECT_EQ(parse_eqprop_config(nlohmann::json::parse(R"({"hardware": {"lut_bits": 3}})")).hardware.lut_bits, 3);
  const EqPropConfig ok = parse_eqprop_config(nlohmann::json::parse(R"({"hardware": {"weight_bits": 5}, "train": {"mode": "in_situ"}})"));
  EXPECT_EQ(ok.hardware.weight_bits, 5);
  EXPECT_EQ(parse_eqprop_config(nlohmann::json::parse(R"({"hardware": {"gain_sigma": 0.1}, "train": {"mode": "pat"}})")).train_mode, "pat");
  EXPECT_NE(error_of([] { parse_eqprop_config(nlohmann::json::parse(R"({"train": {"mode": "pat"}})")); }).find("'pat'"),
            std::string::npos);
}

/// A device far from the ideal p-bit: 3-bit couplings, 40% gain spread, offsets of half a unit.
PbitHardware rough_device() {
  PbitHardware h;
  h.weight_bits = 3;
  h.weight_range = 1.0f;
  h.gain_sigma = 0.4f;
  h.offset_sigma = 0.5f;
  h.device_seed = 3;
  return h;
}

// Evaluation runs on the configured device (cfg.hardware). On a device whose p-bits are all stuck
// (stuck_fraction 1) every output spin reads its stuck sign in every chain and sample, so every image
// gets the same prediction, the first class with the largest sum of its spins' stuck signs
// (draw_device's device, the sampler's). A network that reads the halves images perfectly on ideal
// p-bits shows the difference: there it gets every image right, on the device only the images of that
// one class.
TEST(EqPropHardware, EvaluationRunsOnTheConfiguredDevice) {
  const ImageDataset test = halves(40, 2);
  std::vector<int64_t> si(40);
  for (int64_t k = 0; k < 40; ++k) si[k] = k;
  // One hidden spin with field 3 (left sum - right sum) >= 3 x 4 (200 - 60) / 255 = 6.6 towards its
  // class's side, more than the 4 its outputs can pull back; outputs coupled +-1 to it. At beta 4 a
  // wrong hidden spin has probability below e^-20, a wrong output spin 1 / (1 + e^8) = 3e-4: a class
  // score is wrong in expectation by less than 0.002 of its range, the prediction right for every image.
  EqPropNet n = EqPropNet::create(8, 1, 2, 2, 0.0f, 0.0f, 1);
  for (int32_t k = 0; k < 8; ++k) n.w0[k] = k < 4 ? 3.0f : -3.0f;
  n.w1 = {1.0f, 1.0f, -1.0f, -1.0f};
  EqPropConfig c;
  c.classes = 2, c.per_class = 2, c.hidden = 1;
  c.free = {0.5f, 4.0f, 20, 10, 1};
  c.field_clip = 0;
  c.backend = "cpu";
  c.eval_chains_per_image = 2;
  c.eval_batch_images = 16;  // batches of 16, 16 and 8 images: the sampler is built twice
  const EqPropEval ideal = eqprop_evaluate(n, test, si, c);
  EXPECT_EQ(ideal.correct, 40);
  c.hardware.stuck_fraction = 1.0f;
  c.hardware.device_seed = 4;
  const PbitDevice dev = draw_device(c.hardware, n.spins(), 0);
  std::vector<int32_t> score(2, 0);
  for (int32_t j = 0; j < n.outputs(); ++j) {
    ASSERT_NE(dev.stuck[n.output_node(j)], 0);
    score[j / n.per_class] += dev.stuck[n.output_node(j)];
  }
  const int32_t pred = score[1] > score[0] ? 1 : 0;
  const EqPropEval on_device = eqprop_evaluate(n, test, si, c);
  std::vector<int64_t> want(4, 0);
  for (int64_t k : si) ++want[test.labels[k] * 2 + pred];
  EXPECT_EQ(on_device.confusion, want) << "every image predicted " << pred;
  EXPECT_EQ(on_device.correct, 20);  // halves alternates the classes
}

// Physics-aware training (issue 20): the free phase on the device, the nudged phase and its reference
// on the ideal sampler from the device's free state. In the Boltzmann reading (nudged chains long
// enough to forget where they started) its estimate is the ideal model's exact EqProp estimate however
// rough the device, while in situ (both phases on the device) estimates something else; and PAT's
// free phase (the prediction) is the device's, draw for draw.
TEST(EqPropHardware, PatEstimatesTheIdealGradientFromTheDevicesState) {
  const EqPropNet n = tiny_net();
  const std::vector<double> p = flat(n);
  const Exact e0 = exact(n, p, 0);
  const Graph g = n.graph();
  const std::vector<int32_t> labels(1, kLabel);
  for (bool symmetric : {false, true}) {
    SCOPED_TRACE(symmetric ? "symmetric" : "one-sided");
    const float b = 0.5f;
    const int32_t chains = 4096;
    EqPropConfig cfg = boltzmann(b, symmetric);
    cfg.nudge.sweeps = 60;
    const PbitHardware hw = rough_device();
    auto device = [&] {
      SamplerOptions o;
      o.backend = Backend::cpu;
      o.seed = 11;
      o.hardware = hw;
      return Sampler(g, chains, o);
    };
    SamplerOptions io;
    io.backend = Backend::cpu;
    io.seed = 12;
    Sampler dev = device(), ideal(g, chains, io), dev2 = device();
    const EqPropGradient pat = eqprop_gradient(n, dev, kX, labels, cfg, &ideal);
    const EqPropGradient situ = eqprop_gradient(n, dev2, kX, labels, cfg);
    EXPECT_EQ(pat.free_cost, situ.free_cost);  // the same device, the same draws: the same free phase
    const Exact ep = exact(n, p, b), em = exact(n, p, -b);
    std::vector<double> want(p.size()), have_situ;
    for (size_t q = 0; q < p.size(); ++q) want[q] = symmetric ? (ep.dE[q] - em.dE[q]) / (2 * b) : (ep.dE[q] - e0.dE[q]) / b;
    for (const auto* v : {&situ.w0, &situ.w1, &situ.bh, &situ.bo}) have_situ.insert(have_situ.end(), v->begin(), v->end());
    // PAT's estimate over 16 independent runs (each on the device, with its own ideal sampler), to 5
    // of its measured standard errors, as in SampledEstimateMatchesTheExactOne.
    const Measured measured = measured_gradient(n, kX, labels, cfg, chains, 21, &hw);
    const double tol = 5 * measured.max_se();
    const double worst = max_abs_diff(measured.mean, want), worst_situ = max_abs_diff(have_situ, want);
    std::printf("%s: worst |PAT - exact ideal| %.4f, |in situ - exact ideal| %.4f, tolerance %.4f\n",
                symmetric ? "symmetric" : "one-sided", worst, worst_situ, tol);
    EXPECT_LT(worst, tol);
    EXPECT_LT(measured.worst_t(want), kEntryBound);
    EXPECT_GT(worst_situ, 3 * tol);  // the device is rough enough that the comparison means something
  }
  // The ideal sampler must match the device sampler's shape.
  SamplerOptions o;
  o.backend = Backend::cpu;
  Sampler a(g, 8, o), other(g, 4, o);
  std::vector<float> x = kX;
  EXPECT_THROW(eqprop_gradient(n, a, x, labels, boltzmann(0.5f, false), &other), InvalidArgument);
}

// In-situ training on the layered network (both phases on the device, through the dense path's
// per-chain fields: W0^T x on the hidden spins, the nudge b t on the outputs) estimates the EqProp
// gradient of the device's own stationary distributions (exact_device.hpp: the colored chain the
// device defines, enumerated over its 1,024 states), each entry within kEntryBound of its standard
// errors, and not the ideal model's, which it is told from; EqPropGraph.InSituEstimatorMatchesThe-
// DevicesExactOne checks the graph path.
TEST(EqPropHardware, InSituEstimatorMatchesTheDevicesExactOneOnTheLayeredNet) {
  const EqPropNet n = tiny_net();
  const std::vector<double> p = flat(n);
  const Graph g = n.graph();
  const Coloring col(g, n.colors());
  const PbitHardware hw = rough_device();
  const std::vector<int32_t> labels(1, kLabel);
  const float b = 0.5f;
  EqPropConfig cfg = boltzmann(b, false);
  cfg.train_mode = "in_situ";
  cfg.nudge.sweeps = 60;
  const int32_t I = n.inputs, H = n.hidden, O = n.outputs();
  std::vector<float> hf(static_cast<size_t>(H));
  n.hidden_field(kX.data(), cfg.field_clip, hf.data());
  const std::vector<float> t = n.target(kLabel);
  auto on_device = [&](double nudge, std::vector<double>& mean, std::vector<double>& corr) {
    ChainSetup cs{std::vector<int8_t>(static_cast<size_t>(g.num_nodes()), 0), std::vector<double>(static_cast<size_t>(g.num_nodes()), 0.0)};
    for (int32_t i = 0; i < H; ++i) cs.field[static_cast<size_t>(i)] = hf[static_cast<size_t>(i)];
    for (int32_t j = 0; j < O; ++j) cs.field[static_cast<size_t>(H + j)] = nudge * t[static_cast<size_t>(j)];
    moments(g, device_stationary(g, col, hw, cs, cfg.free.beta_end), mean, corr);
  };
  std::vector<double> mb, cb, m0, c0;
  on_device(b, mb, cb);
  on_device(0.0, m0, c0);
  ASSERT_EQ(cb.size(), n.w1.size());  // (w1 [i][j] is edge i O + j)
  std::vector<double> want;
  for (int32_t k = 0; k < I; ++k)
    for (int32_t i = 0; i < H; ++i) want.push_back(-kX[static_cast<size_t>(k)] * (mb[static_cast<size_t>(i)] - m0[static_cast<size_t>(i)]) / b);
  for (size_t e = 0; e < cb.size(); ++e) want.push_back(-(cb[e] - c0[e]) / b);
  for (int32_t v = 0; v < H + O; ++v) want.push_back(-(mb[static_cast<size_t>(v)] - m0[static_cast<size_t>(v)]) / b);
  ASSERT_EQ(want.size(), p.size());
  const Measured got = measured_gradient(n, kX, labels, cfg, 4096, 41, &hw, 16, true);
  const Exact e0 = exact(n, p, 0), eb = exact(n, p, b);
  std::vector<double> ideal(p.size());
  for (size_t q = 0; q < p.size(); ++q) ideal[q] = (eb.dE[q] - e0.dE[q]) / b;
  double scale = std::numeric_limits<double>::infinity();
  const double largest = *std::max_element(want.begin(), want.end(), [](double a, double c) { return std::abs(a) < std::abs(c); });
  for (size_t q = 0; q < p.size(); ++q)
    if (std::abs(want[q]) >= std::abs(largest) / 3) scale = std::min(scale, std::abs(want[q]) / got.se[q]);
  std::printf("layered, in situ: worst entry %.2f standard errors from the device's exact estimate, %.1f from the ideal one; "
              "large entries at least %.0f from 0\n", got.worst_t(want), got.worst_t(ideal), scale);
  EXPECT_LT(got.worst_t(want), kEntryBound);
  EXPECT_GT(got.worst_t(ideal), 3 * kEntryBound);  // the device is rough enough for the check to mean something
  EXPECT_GT(scale, 3 * kEntryBound);               // a wrong sign or a factor of 2 would be off by more
}

// PAT's nudged phase starts on the ideal sampler from the device's free state, whatever state the
// ideal sampler held before: two ideal samplers of one seed, one of them set to all +1 first, give the
// same gradient bit for bit, on the dense path and on the graph path. A short nudge (2 sweeps) keeps
// the start visible: PatEstimatesTheIdealGradientFromTheDevicesState's 60 sweeps forget it.
TEST(EqPropHardware, PatNudgesFromTheDevicesFreeState) {
  const std::vector<int32_t> labels(1, kLabel);
  EqPropConfig cfg = boltzmann(0.5f, false);
  cfg.nudge.sweeps = 2;
  cfg.nudge.samples = 2;
  cfg.nudge.steps_per_sample = 1;
  const int32_t chains = 64;
  for (bool on_graph : {false, true}) {
    SCOPED_TRACE(on_graph ? "graph path" : "dense path");
    const EqPropNet n = on_graph ? tiny_graph_net() : tiny_net();
    const std::vector<float> x = on_graph ? std::vector<float>{0.7f, 0.0f, 0.4f} : kX;
    const Graph g = n.graph();
    auto sampler = [&](uint64_t seed, bool rough) {
      SamplerOptions o;
      o.backend = Backend::cpu;
      o.seed = seed;
      if (rough) o.hardware = rough_device();
      return on_graph ? Sampler(g, Coloring(g, n.colors()), chains, o) : Sampler(g, chains, o);  // as the trainer builds them
    };
    Sampler dev_a = sampler(11, true), dev_b = sampler(11, true), ideal_a = sampler(12, false), ideal_b = sampler(12, false);
    ideal_b.set_state(std::vector<int8_t>(static_cast<size_t>(chains) * g.num_nodes(), 1));
    ASSERT_NE(ideal_a.state(), ideal_b.state());
    const EqPropGradient a = eqprop_gradient(n, dev_a, x, labels, cfg, &ideal_a);
    const EqPropGradient b = eqprop_gradient(n, dev_b, x, labels, cfg, &ideal_b);
    ASSERT_EQ(a.nudged, 1);
    expect_same_parameters(a, b);
  }
}

// A PAT run resumes bit for bit: the checkpoint carries the ideal sampler's counter too.
TEST(EqPropHardware, PatResumesBitForBit) {
  const ImageDataset train = halves(16, 1), test = halves(8, 2);
  const std::vector<int64_t> ti = first_indices(16), si = first_indices(8);
  const std::string dir = std::string(PBIT_TEST_TMP) + "/eqprop_pat_resume";
  std::filesystem::remove_all(dir);
  auto config = [&](const std::string& sub, int32_t epochs) {
    EqPropConfig c = small_training(dir + "/" + sub);
    std::filesystem::create_directories(c.output_dir);
    c.epochs = epochs;
    c.hardware = rough_device();
    c.train_mode = "pat";
    return c;
  };
  const EqPropConfig ca = config("a", 2);
  EqPropNet na = EqPropNet::create(8, ca.hidden, 2, 2, 0.5f, 0.25f, ca.seed);
  EqPropTrainer(na, ca, train, ti, test, si).run();
  EqPropConfig cb = config("b", 1);
  EqPropNet nb = EqPropNet::create(8, cb.hidden, 2, 2, 0.5f, 0.25f, cb.seed);
  EqPropTrainer(nb, cb, train, ti, test, si).run();
  cb.epochs = 2;
  EqPropNet nc = EqPropNet::create(8, cb.hidden, 2, 2, 0.5f, 0.25f, cb.seed);
  EqPropTrainer tc(nc, cb, train, ti, test, si);
  tc.load_checkpoint(dir + "/b/checkpoint.bin");
  tc.run();
  expect_same_parameters(nc, na);
  // The checkpoint belongs to its device: another device instance, or another spread, is another
  // training config, refused rather than continued on hardware the run never saw.
  for (int which = 0; which < 2; ++which) {
    EqPropConfig cd = config("d", 2);
    if (which == 0) cd.hardware.device_seed += 1;
    if (which == 1) cd.hardware.gain_sigma *= 2;
    EqPropNet nd = EqPropNet::create(8, cd.hidden, 2, 2, 0.5f, 0.25f, cd.seed);
    EqPropTrainer td(nd, cd, train, ti, test, si);
    EXPECT_NE(error_of([&] { td.load_checkpoint(dir + "/b/checkpoint.bin"); }).find("different training config"), std::string::npos)
        << (which == 0 ? "device_seed" : "gain_sigma");
  }
}

}  // namespace
}  // namespace pbit::test

