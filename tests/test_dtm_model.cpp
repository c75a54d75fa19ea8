// The DTM / MEBM model: training learns a toy distribution, generation runs the reverse chain, a
// resumed run is bit-identical, configs are checked.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <utility>

#include "pbit/models/dtm_model.hpp"
#include "pbit/models/feature_net.hpp"
#include "pbit/models/metrics.hpp"
#include "pbit/error.hpp"
#include "pbit/core/io.hpp"
#include "pbit/core/sampler.hpp"
#include "pbit/core/rng.hpp"
#include "pbit/hardware/topology.hpp"
#include "exact.hpp"
#include "test_util.hpp"

namespace pbit::test {
namespace {

/// 8x8 images of two modes (left half on / top half on), 2% pixel noise.
ImageDataset toy(int n, uint64_t seed) {
  ImageDataset d;
  d.rows = d.cols = 8;
  rng::PhiloxStream rs(seed, rng::kTest);
  for (int k = 0; k < n; ++k) {
    const int mode = k % 2;
    d.labels.push_back(static_cast<uint8_t>(mode));
    for (int r = 0; r < 8; ++r)
      for (int c = 0; c < 8; ++c) {
        bool on = mode ? r < 4 : c < 4;
        if (rs.uniform() < 0.02) on = !on;
        d.pixels.push_back(on ? 255 : 0);
      }
  }
  return d;
}

/// Fraction of samples within Hamming distance 10 of one of the two modes.
double good_fraction(const std::vector<std::vector<int8_t>>& gen) {
  int good = 0;
  for (const auto& g : gen) {
    int d0 = 0, d1 = 0;
    for (int r = 0; r < 8; ++r)
      for (int c = 0; c < 8; ++c) {
        const bool v = g[r * 8 + c] > 0;
        d0 += v != (c < 4);
        d1 += v != (r < 4);
      }
    good += std::min(d0, d1) <= 10;
  }
  return static_cast<double>(good) / static_cast<double>(gen.size());
}

DtmConfig toy_config(int32_t T, const std::string& out) {
  DtmConfig c;
  c.topology = "grid:16:G8";
  c.steps = T;
  c.epochs = 4;
  c.batch_size = 50;
  c.learning_rate = 0.05f;
  c.backend = "cpu";
  c.positive = {20, 5, 2};
  c.negative = {20, 5, 2};
  c.acp_chains = 32;
  c.output_dir = out;
  return c;
}

TEST(DtmModel, LearnsAToyDistributionAndGenerates) {
  const ImageDataset d = toy(2000, 1);
  const DtmConfig c = toy_config(4, std::string(PBIT_TEST_TMP) + "/dtm_toy");
  Dtm untrained(c, 8, 8);
  const double before = good_fraction(untrained.generate(200, 10).back());
  Dtm m(c, 8, 8);
  const auto hist = m.train(d);
  ASSERT_EQ(hist.size(), 4u);
  const auto traj = m.generate(200, 10);
  ASSERT_EQ(traj.size(), 5u);  // x^4 (noise) ... x^0
  const double after = good_fraction(traj.back());
  std::printf("toy DTM (T=4, 10 sweeps/step): good samples %.2f untrained -> %.2f trained\n", before, after);
  EXPECT_LT(before, 0.1);
  EXPECT_GT(after, 0.6);
  EXPECT_LT(good_fraction(traj.front()), 0.1);  // x^T is noise
  for (const auto& e : hist) {
    ASSERT_EQ(e.steps.size(), 4u);
    for (const auto& s : e.steps) EXPECT_TRUE(std::isfinite(s.autocorrelation));
  }
  EXPECT_TRUE(std::filesystem::exists(c.output_dir + "/metrics.json"));
  // Couplings: J_f decreases with the step's noise and is 0 for the last (pure-noise) step.
  EXPECT_GT(m.coupling(1), m.coupling(2));
  EXPECT_EQ(m.coupling(4), 0.0);
}

TEST(DtmModel, ClassConditionalGenerationWithLabelNodes) {
  // The two toy modes are classes 0 and 1; with label nodes clamped, each class must produce its mode.
  const ImageDataset d = toy(2000, 4);
  DtmConfig c = toy_config(4, std::string(PBIT_TEST_TMP) + "/dtm_labels");
  c.label_replicas = 2;
  Dtm m(c, 8, 8);
  ASSERT_TRUE(m.has_labels());
  EXPECT_EQ(m.visible_nodes().size(), 64u + 20u);
  m.train(d);
  std::vector<int32_t> classes(200);
  for (int32_t k = 0; k < 200; ++k) classes[k] = k % 2;
  const auto out = m.generate(200, 10, classes).back();
  int right = 0;
  for (int32_t k = 0; k < 200; ++k) {
    int d0 = 0, d1 = 0;  // distance to mode 0 (left half on) and mode 1 (top half on)
    for (int r = 0; r < 8; ++r)
      for (int cc = 0; cc < 8; ++cc) {
        const bool v = out[k][r * 8 + cc] > 0;
        d0 += v != (cc < 4);
        d1 += v != (r < 4);
      }
    right += (classes[k] == 0 ? d0 < d1 : d1 < d0);
  }
  std::printf("class-conditional toy DTM: %d of 200 samples show the requested mode\n", right);
  EXPECT_GT(right, 160);
  EXPECT_THROW(Dtm(toy_config(2, std::string(PBIT_TEST_TMP) + "/dtm_nolabels"), 8, 8).generate(2, 1, {0, 1}), InvalidArgument);
}

TEST(DtmModel, MebmIsTheSingleStepCase) {
  DtmConfig c = toy_config(1, std::string(PBIT_TEST_TMP) + "/mebm_toy");
  Dtm m(c, 8, 8);
  EXPECT_EQ(m.steps(), 1);
  EXPECT_EQ(m.coupling(1), 0.0);  // models the data distribution directly
  m.train(toy(1000, 2));
  EXPECT_GT(good_fraction(m.generate(200, 40).back()), 0.6);
}

// A run whose batches would take a step's sampler past 2^32 - 1 sweeps is refused before it trains,
// naming the numbers (the sampler stopped it with an error in a late epoch, and its resume at once).
TEST(DtmModel, ARunPastOneSamplersSweepsIsRefusedBeforeItTrains) {
  DtmConfig c = toy_config(2, std::string(PBIT_TEST_TMP) + "/dtm_sweep_cap");
  c.negative = {0, 1000, 4000000};  // 4e9 sweeps a batch: one sampler holds one batch's, not 8 of them
  Dtm m(c, 8, 8);
  const std::string e = error_of([&] { m.train(toy(100, 1)); });
  EXPECT_NE(e.find("key 'train.epochs': the 8 batches left (train.epochs 4) of 4000000000 negative-phase sweeps each would take step 1's "
                   "sampler from 0 to 32000000000 sweeps, past the 2^32 - 1"),
            std::string::npos)
      << e;
  EXPECT_EQ(m.epoch(), 0);
  // With a time budget the epochs are a bound the budget may never reach: said, and the run goes on.
  c.time_budget_s = 60;
  const Dtm budget(c, 8, 8);
  testing::internal::CaptureStderr();
  EXPECT_NO_THROW(budget.check_sweeps_left(100));
  const std::string said = testing::internal::GetCapturedStderr();
  EXPECT_NE(said.find("warning: the 8 batches left (train.epochs 4) of 4000000000 negative-phase sweeps each"), std::string::npos) << said;
  EXPECT_NE(said.find("unless train.time_budget_s ends the run first"), std::string::npos) << said;
  // ACP with one negative sample per chain is refused where training starts.
  DtmConfig one = toy_config(2, std::string(PBIT_TEST_TMP) + "/dtm_acp_one");
  one.negative = {20, 1, 2};
  Dtm acp_one(one, 8, 8);
  EXPECT_NE(error_of([&] { acp_one.train(toy(100, 1)); }).find("key 'train.acp.enabled'"), std::string::npos);
}

// A forward process so fast that a step before the last keeps nothing of its input (J_f rounds to 0)
// is said: model.lambda 1000 with T = 3 trained three unconditioned MEBMs unsaid (helper-113).
TEST(DtmModel, AStepThatForgetsItsInputIsSaid) {
  DtmConfig c = toy_config(3, std::string(PBIT_TEST_TMP) + "/dtm_lambda_said");
  // What the model built at `lambda` said on stderr, and its step 1's J_f.
  const auto built = [&c](float lambda) {
    c.lambda = lambda;
    testing::internal::CaptureStderr();
    const Dtm m(c, 8, 8);
    return std::pair{testing::internal::GetCapturedStderr(), m.coupling(1)};
  };
  for (const auto& [lambda, said] : {std::pair{1000.0f, true}, {1.0f, false}}) {
    const auto [err, coupling] = built(lambda);
    EXPECT_EQ(err.find("couples step 1 to x^1 by J_f = 0: the step keeps almost nothing of its input") != std::string::npos, said)
        << lambda << ": " << err;
    EXPECT_EQ(coupling == 0.0, said);
  }
  // And one so slow that steps 1..T-1 flip almost nothing: they learn the identity and step T alone,
  // from noise, is the model (model.lambda 1e-6 said nothing, helper-125).
  for (const auto& [lambda, said] : {std::pair{1e-6f, true}, {1.0f, false}}) {
    const std::string err = built(lambda).first;
    EXPECT_EQ(err.find("of the pixels over steps 1..2 together: those steps learn nearly the identity, and step 3") != std::string::npos, said)
        << lambda << ": " << err;
  }
}

// Parallel tempering in the MEBM (issue 21). At beta 2 the toy MEBM's two modes are deep: plain Gibbs
// chains that fall into the rarer mode stay there, so the projection's autocorrelation keeps a plateau
// (the spread between stuck chains); the target replicas of tempered chains (6 replicas down to beta
// 0.6) cross between the modes and decorrelate within 50 target sweeps. Tempered generation (a fixed
// ladder instead of the anneal) still gives good samples.
// How much of the rarer mode a trained toy MEBM keeps varies with the seed (1 to 25% of generated
// samples), and with it the plateau. With 6 epochs and 32 probe chains, keying the initial states by
// the sampler's stream broke the test (seed 1: a model with almost none of the rarer mode, so plain
// chains mixed; seed 2 failed too: tempered r 0.27). With 12 epochs and 128 chains, seeds 1-16 all
// gave plain r at lag 10 in [0.16, 0.72] and tempered r of at most 0.07.
TEST(DtmModel, TemperingMixesTheMebmFaster) {
  DtmConfig c = toy_config(1, std::string(PBIT_TEST_TMP) + "/mebm_pt");
  c.epochs = 12;
  c.acp_chains = 128;
  Dtm m(c, 8, 8);
  const ImageDataset d = toy(1000, 2);
  m.train(d);
  TemperingOptions t;
  t.betas = TemperingOptions::geometric(2.0f, 0.6f, 6);
  const std::vector<double> plain = m.autocorrelation_curve(1, d, 50, 5, 41, 40, 2.0f);
  TemperingStats st;
  const std::vector<double> pt = m.autocorrelation_curve(1, d, 50, 5, 41, 40, 2.0f, &t, &st);
  // A progress callback (pbit dtm mixing's status lines) sees the warm-up, then the measured window
  // of (41 - 1) x 5 + 1 sweeps, and changes nothing.
  std::vector<std::pair<int64_t, int64_t>> calls;
  EXPECT_EQ(m.autocorrelation_curve(1, d, 50, 5, 41, 40, 2.0f, nullptr, nullptr, [&](int64_t done, int64_t total) { calls.emplace_back(done, total); }),
            plain);
  EXPECT_NE(std::find(calls.begin(), calls.end(), std::make_pair(int64_t{50}, int64_t{50})), calls.end());
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.front().second, 50);
  EXPECT_EQ(calls.back(), std::make_pair(int64_t{201}, int64_t{201}));
  ASSERT_EQ(plain.size(), 41u);
  ASSERT_EQ(pt.size(), 41u);
  EXPECT_DOUBLE_EQ(plain[0], 1.0);
  std::printf("toy MEBM at beta 2: r at 50 / 200 target sweeps: plain %.3f / %.3f, tempering %.3f / %.3f; swap acceptance", plain[10],
              plain[40], pt[10], pt[40]);
  for (double a : st.acceptance()) std::printf(" %.2f", a);
  std::printf("\n");
  EXPECT_GT(plain[10], 0.12);
  EXPECT_LT(std::fabs(pt[10]), 0.1);
  EXPECT_LT(pt[10], 0.5 * plain[10]);
  for (double a : st.acceptance()) EXPECT_GT(a, 0.02);
  DtmConfig ct = c;
  ct.gen_tempered = true;
  ct.gen_tempering.betas = TemperingOptions::geometric(1.2f, 0.4f, 4);
  Dtm mt(ct, 8, 8);
  mt.load_checkpoint(m.checkpoint_path());
  const double good = good_fraction(mt.generate(200, 40).back());
  std::printf("tempered generation: %.2f good samples\n", good);
  EXPECT_GT(good, 0.6);
  EXPECT_THROW(m.autocorrelation_curve(2, d, 0, 1, 4, 3, 1.0f), InvalidArgument);  // no step 2
  EXPECT_THROW(m.autocorrelation_curve(1, d, 0, 1, 4, 4, 1.0f), InvalidArgument);  // lag past the snapshots
}

// The mixing probe centres each image's chains on their own mean (Dtm::autocorrelation_curve): with
// no couplings every sweep draws the spins afresh given the field J_f x^t, so a chain has no memory
// and r at lag >= 1 is 0 up to the noise (and the -1/84 bias of a mean over 4 chains x 21 times); the
// images' different fields are a spread between groups, which a probe centred on the mean of all
// chains reports as autocorrelation (0.11 at every lag, checked, against a bound of 0.05). The
// unconditioned last step (J_f = 0) has no such spread either way.
TEST(DtmModel, TheMixingProbeCentresEachImagesChainsOnTheirOwnMean) {
  DtmConfig c = toy_config(2, std::string(PBIT_TEST_TMP) + "/dtm_probe_centre");
  c.init_sigma_j = 0.0f;
  c.lambda = 0.2f;  // a slow forward process: a strong coupling J_f of x^1 to the visible spins
  c.acp_chains = 256;  // 64 images of 4 chains
  Dtm m(c, 8, 8);
  ASSERT_GT(m.coupling(1), 0.8);
  ASSERT_EQ(m.coupling(2), 0.0);
  const ImageDataset d = toy(64, 8);
  const int32_t times = 21;
  for (int32_t t = 1; t <= 2; ++t) {
    const std::vector<double> r = m.autocorrelation_curve(t, d, 5, 1, times, 10, 1.0f);
    std::printf("step %d, no couplings: r at lags 1, 5, 10: %.3f %.3f %.3f\n", t, r[1], r[5], r[10]);
    for (int32_t k = 1; k <= 10; ++k) EXPECT_LT(std::fabs(r[static_cast<size_t>(k)]), 0.05) << "step " << t << ", lag " << k;
  }
}

// A step's mixing time in the history is the probe's curve read in sweeps: metrics::mixing_time
// counts snapshots, taken every negative.steps_per_sample sweeps.
TEST(DtmModel, TheHistorysMixingTimeIsInSweeps) {
  DtmConfig c = toy_config(2, std::string(PBIT_TEST_TMP) + "/dtm_mixing_sweeps");
  c.epochs = 1;
  c.negative = {20, 5, 3};
  Dtm m(c, 8, 8);
  const ImageDataset d = toy(100, 4);
  m.train(d);
  int32_t finite = 0;
  for (int32_t t = 1; t <= 2; ++t) {
    std::vector<double> curve;
    const double r = m.measure_autocorrelation(t, d, &curve);  // the weights and the probe's chains as at the epoch's end
    const DtmStepMetrics& s = m.history()[0].steps[static_cast<size_t>(t - 1)];
    EXPECT_EQ(s.autocorrelation, r) << "step " << t;
    const double snapshots = metrics::mixing_time(curve);
    if (!std::isfinite(snapshots)) {
      EXPECT_FALSE(std::isfinite(s.mixing_time)) << "step " << t;
      continue;
    }
    ++finite;
    EXPECT_DOUBLE_EQ(s.mixing_time, 3.0 * snapshots) << "step " << t;
  }
  EXPECT_GT(finite, 0);
}

// The optimizers' first step from the same sampled gradient g (same seed, one batch): SGD moves each
// weight by lr g, Adam by lr g / (|g| + 1e-8) (its bias-corrected moments are g and g^2 after one
// step), so Adam's step is lr times the sign of SGD's.
TEST(DtmModel, SgdAndAdamTakeTheirFirstStepFromTheSameGradient) {
  const ImageDataset d = toy(50, 3);
  auto first_step = [&](const std::string& opt) {
    DtmConfig c = toy_config(2, std::string(PBIT_TEST_TMP) + "/dtm_opt_" + opt);
    c.optimizer = opt;
    c.epochs = 1;  // 50 images in one batch: one step per model step
    Dtm m(c, 8, 8);
    std::vector<std::vector<float>> before, delta;
    for (int32_t t = 1; t <= m.steps(); ++t) before.push_back(m.weights(t));
    m.train(d);
    for (int32_t t = 1; t <= m.steps(); ++t) {
      delta.push_back(m.weights(t));
      for (size_t k = 0; k < delta.back().size(); ++k) delta.back()[k] -= before[static_cast<size_t>(t - 1)][k];
    }
    return delta;
  };
  const auto sgd = first_step("sgd"), adam = first_step("adam");
  const double lr = 0.05;
  int64_t checked = 0;
  for (size_t t = 0; t < sgd.size(); ++t) {
    for (size_t k = 0; k < sgd[t].size(); ++k) {
      const double g = sgd[t][k] / lr;
      if (std::fabs(g) < 1e-4) continue;  // Adam's step is lr g / (|g| + 1e-8): the sign where |g| >> 1e-8
      EXPECT_NEAR(adam[t][k], lr * (g > 0 ? 1 : -1), 1e-5) << "step " << t + 1 << ", weight " << k << ", g " << g;
      ++checked;
    }
  }
  EXPECT_GT(checked, 50);
}

// The first SGD step of each model step against its exact expectation (issue: the DTM gradient was
// only checked through Adam's step against SGD's). On a 16-node king torus with 2x2 images the batch's
// pairs (x^{t-1}, x^t) are rebuilt with the noise Dtm uses (detail::dtm_noisy / dtm_forward_step);
// for each, the positive phase (data clamped to x^{t-1}) and the negative phase (field J_f x^t on the
// data) are enumerated. One sample per chain after a long warmup: the chains are independent, so each
// entry's standard error is sqrt(sum over chains of Var+ + Var-) / B with the exact variances
// 1 - m^2 of +-1 products. A negative phase without the field, with its sign flipped, or a gradient
// of the wrong sign fails by many standard errors (checked: expected entries reach > 15 of them).
// `tempered`: the negative phase runs as parallel tempering (betas 1, 0.8, 0.6, a fixed ladder), whose
// beta-1 replicas must sample the same conditional, the field J_f x^t included.
void first_sgd_step_is_the_exact_gradient(bool tempered) {
  const int32_t B = 16384;
  ImageDataset d;
  d.rows = d.cols = 2;
  rng::PhiloxStream rs(11, rng::kTest);
  for (int k = 0; k < B; ++k) {
    d.labels.push_back(0);
    for (int p = 0; p < 4; ++p) d.pixels.push_back(rs.uniform() < (p == 0 ? 0.8 : 0.4) ? 255 : 0);
  }
  DtmConfig c;
  c.topology = "king:4";  // a 4x4 torus of 8 neighbours: 16 nodes, 4 colors
  c.steps = 2;
  c.epochs = 1;
  c.batch_size = B;  // the whole set in one batch: the chains' images are all of them, in any order
  c.optimizer = "sgd";
  c.learning_rate = 0.01f;  // the first step's (the cosine starts at its top)
  c.init_sigma_j = 0.6f;    // couplings the enumeration can tell from zero
  c.acp = false;
  c.acp_chains = 8;
  c.positive = {200, 1, 1};
  c.negative = {200, 1, 1};
  c.backend = "cpu";
  c.output_dir = std::string(PBIT_TEST_TMP) + (tempered ? "/dtm_exact_gradient_tempered" : "/dtm_exact_gradient");
  if (tempered) {
    c.neg_tempered = true;
    c.neg_tempering.betas = {1.0f, 0.8f, 0.6f};
  }
  Dtm m(c, 2, 2);
  ASSERT_GT(m.coupling(1), 0.3);   // step 1 is coupled to x^1
  ASSERT_EQ(m.coupling(2), 0.0);   // step 2 starts from pure noise
  std::vector<std::vector<float>> before;
  for (int32_t t = 1; t <= 2; ++t) before.push_back(m.weights(t));
  m.train(d);
  const Graph& g0 = m.graph();
  const int32_t N = g0.num_nodes();
  const auto E = static_cast<size_t>(g0.num_edges());
  const std::vector<int32_t>& data = m.data_nodes();
  ASSERT_EQ(data.size(), 4u);
  double most_z = 0, no_field_z = 0;
  for (int32_t t = 1; t <= 2; ++t) {
    const std::vector<float>& w0 = before[static_cast<size_t>(t - 1)];
    Graph g = g0;
    g.set_edge_weights(std::span<const float>(w0.data(), E));
    g.set_biases(std::span<const float>(w0.data() + E, static_cast<size_t>(N)));
    // Exact moments of one phase for a visible pattern (bit p = pixel p is +1), cached: 16 of each.
    auto exact = [&](bool positive, const std::vector<int8_t>& x) {
      ChainSetup cs{std::vector<int8_t>(static_cast<size_t>(N), 0), std::vector<double>(static_cast<size_t>(N), 0.0)};
      for (size_t p = 0; p < 4; ++p) {
        if (positive) cs.clamp[static_cast<size_t>(data[p])] = x[p];
        else cs.field[static_cast<size_t>(data[p])] = m.coupling(t) * x[p];
      }
      std::vector<double> node, edge;
      moments(g, boltzmann(g, cs, 1.0), node, edge);
      edge.insert(edge.end(), node.begin(), node.end());  // the weight vector's order: couplings, then biases
      return edge;
    };
    std::map<std::pair<bool, std::vector<int8_t>>, std::vector<double>> cache;
    auto moments_of = [&](bool positive, const std::vector<int8_t>& x) -> const std::vector<double>& {
      auto it = cache.find({positive, x});
      if (it == cache.end()) it = cache.emplace(std::make_pair(positive, x), exact(positive, x)).first;
      return it->second;
    };
    std::vector<double> mean(E + N, 0.0), var(E + N, 0.0), unfielded(E + N, 0.0);
    const std::vector<double> free_neg = moments_of(false, std::vector<int8_t>(4, 0));  // a field of 0: J_f x^t dropped
    for (int64_t img = 0; img < B; ++img) {
      const std::vector<int8_t> prev = detail::dtm_noisy(c, m.time_grid(), 4, d, img, t - 1, 0);
      std::vector<int8_t> xt = prev;
      detail::dtm_forward_step(c, m.time_grid(), 4, xt, img, t, 0);
      const std::vector<double>& pos = moments_of(true, prev);
      const std::vector<double>& neg = moments_of(false, xt);
      for (size_t k = 0; k < E + N; ++k) {
        mean[k] += (pos[k] - neg[k]) / B;
        unfielded[k] += (pos[k] - free_neg[k]) / B;
        var[k] += (1 - pos[k] * pos[k]) + (1 - neg[k] * neg[k]);
      }
    }
    const std::vector<float>& w1 = m.weights(t);
    for (size_t k = 0; k < E + N; ++k) {
      const double se = std::sqrt(var[k]) / B, step = (static_cast<double>(w1[k]) - w0[k]) / c.learning_rate;
      most_z = std::max(most_z, std::fabs(mean[k]) / se);
      if (t == 1) no_field_z = std::max(no_field_z, std::fabs(unfielded[k] - mean[k]) / se);
      EXPECT_NEAR(step, mean[k], 5 * se) << "step " << t << ", " << (k < E ? "coupling " : "bias ") << (k < E ? k : k - E);
    }
  }
  std::printf("DTM first SGD step%s: expected entries reach %.1f standard errors; without step 1's field, %.1f away\n",
              tempered ? " (tempered negative phase)" : "", most_z, no_field_z);
  EXPECT_GT(most_z, 15.0);      // a zero or sign-flipped gradient fails
  EXPECT_GT(no_field_z, 10.0);  // so does a negative phase that drops the coupling field
}

TEST(DtmModel, FirstSgdStepIsTheExactGradient) { first_sgd_step_is_the_exact_gradient(false); }

TEST(DtmModel, FirstSgdStepIsTheExactGradientWithATemperedNegativePhase) { first_sgd_step_is_the_exact_gradient(true); }

// Flip accounting (DtmEpochMetrics::flips): in each batch, each of the B chains updates the N - V
// free nodes in every positive-phase sweep (the V visible nodes are clamped to x^{t-1}) and all N
// nodes in every negative-phase sweep, so one epoch of T steps, per_epoch batches each, counts
// T per_epoch B ((N - V) positive sweeps + N negative sweeps) flips exactly.
TEST(DtmModel, FlipsCountTheNodesEachPhaseUpdates) {
  const ImageDataset d = toy(100, 3);
  DtmConfig c = toy_config(2, std::string(PBIT_TEST_TMP) + "/dtm_flips");
  c.epochs = 1;
  Dtm m(c, 8, 8);
  const auto hist = m.train(d);
  ASSERT_EQ(hist.size(), 1u);
  const double N = m.graph().num_nodes(), V = static_cast<double>(m.visible_nodes().size());
  const double per_epoch = static_cast<double>(d.size() / c.batch_size);
  ASSERT_GT(V, 0);
  ASSERT_LT(V, N);
  const double want = m.steps() * per_epoch * c.batch_size *
                      ((N - V) * static_cast<double>(c.positive.total_sweeps()) + N * static_cast<double>(c.negative.total_sweeps()));
  EXPECT_EQ(hist[0].flips, want);
}

// Generation anneals beta from gen_beta_start to gen_beta_end, so the last sweep runs at beta_end. An
// untrained model with strong random couplings (init_sigma_j 2) annealed 0 -> 3 ends with its data
// nodes correlated through their latent neighbours; ending at beta 0 would leave every node an
// independent fair coin. The statistic is the mean over pixel pairs (i, k) of c_ik^2, c_ik = the mean
// over the n samples of x_i x_k. For independent fair coins each x_i x_k is a fair coin too, so
// E c^2 = 1/n, Var c^2 = (2n^2 - 2n) / n^4 < 2/n^2, and distinct pairs' c^2 are uncorrelated (the
// products are pairwise independent): the mean over M pairs is 1/n within 5 sqrt(2/M)/n at 5 sigma.
TEST(DtmModel, GenerationEndsAtBetaEnd) {
  DtmConfig c = toy_config(1, std::string(PBIT_TEST_TMP) + "/dtm_gen_anneal");
  c.init_sigma_j = 2.0f;
  c.gen_beta_start = 0.0f;
  c.gen_beta_end = 3.0f;
  const Dtm m(c, 8, 8);
  const int32_t n = 400;
  const auto x = m.generate(n, 20).back();
  ASSERT_EQ(x.size(), static_cast<size_t>(n));
  const int32_t P = 64;
  double sum = 0;
  int64_t M = 0;
  for (int32_t i = 0; i < P; ++i)
    for (int32_t k = i + 1; k < P; ++k) {
      double ck = 0;
      for (const auto& s : x) ck += s[i] * s[k];
      ck /= n;
      sum += ck * ck;
      ++M;
    }
  const double mean = sum / static_cast<double>(M);
  const double null_bound = (1.0 + 5 * std::sqrt(2.0 / static_cast<double>(M))) / n;
  EXPECT_GT(mean, null_bound) << "the samples look like beta 0's fair coins";
}

// Generation against enumeration (helper-127: it was checked by quality thresholds alone). A T = 2
// DTM on king:4 (16 nodes, a 2x2 image) with random weights: x^2 is noise, step 2 samples its model
// from a random start for S sweeps of the anneal, and step 1 its own model with the field J_f x^1 on
// the pixels. The exact distribution of x^0 is sum over x^1 of P_2(x^1) P_1(x^0 | x^1), each pushed
// through the same S sweeps from the uniform start in the model's color order (exact.hpp), at the
// betas of a linear anneal worked out here. 20,000 samples of x^1 and of x^0 meet it (chi-square
// z <= 4.75), and the same check rejects the answers of a generator that swapped the steps' weights,
// dropped the field, ran at half the betas or at the end beta throughout.
TEST(DtmModel, GenerationMatchesEnumeration) {
  DtmConfig c;
  c.topology = "king:4";
  c.steps = 2;
  c.init_sigma_j = 0.8f;
  c.backend = "cpu";
  c.gen_beta_start = 0.3f;
  c.gen_beta_end = 1.5f;
  c.output_dir = std::string(PBIT_TEST_TMP) + "/dtm_gen_exact";
  const Dtm m(c, 2, 2);
  ASSERT_GT(m.coupling(1), 0.3);
  ASSERT_EQ(m.coupling(2), 0.0);
  const int32_t n = 20000, S = 8;
  const auto traj = m.generate(n, S);
  ASSERT_EQ(traj.size(), 3u);  // x^2, x^1, x^0
  const auto pattern = [](const std::vector<int8_t>& x) {  // bit p: pixel p is +1
    uint32_t b = 0;
    for (size_t p = 0; p < 4; ++p) b |= (x[p] > 0 ? 1u : 0u) << p;
    return b;
  };
  std::vector<double> count1(16, 0.0), count0(16, 0.0);
  for (int32_t k = 0; k < n; ++k) {
    count1[pattern(traj[1][static_cast<size_t>(k)])] += 1;
    count0[pattern(traj[2][static_cast<size_t>(k)])] += 1;
  }

  const Graph& g0 = m.graph();
  const int32_t N = g0.num_nodes();
  const auto E = static_cast<size_t>(g0.num_edges());
  const Coloring col(g0, make_topology(c.topology).colors);
  const std::vector<int32_t>& data = m.data_nodes();
  ASSERT_EQ(data.size(), 4u);
  auto step_graph = [&](int32_t t) {
    Graph g = g0;
    g.set_edge_weights(std::span<const float>(m.weights(t).data(), E));
    g.set_biases(std::span<const float>(m.weights(t).data() + E, static_cast<size_t>(N)));
    return g;
  };
  const Graph g1 = step_graph(1), g2 = step_graph(2);
  // The pixels' distribution after `betas` from the uniform start, with field J x on the pixels.
  auto pixels_after = [&](const Graph& g, const std::vector<double>& betas, double J, uint32_t x) {
    ChainSetup cs{std::vector<int8_t>(static_cast<size_t>(N), 0), std::vector<double>(static_cast<size_t>(N), 0.0)};
    for (size_t p = 0; p < 4; ++p) cs.field[static_cast<size_t>(data[p])] = J * ((x >> p) & 1u ? 1 : -1);
    std::vector<double> st = uniform_start(g, cs);
    for (double b : betas) evolve_sweep(g, col, cs, b, st);
    std::vector<double> out(16, 0.0);
    for (uint32_t s = 0; s < st.size(); ++s) {
      uint32_t b = 0;
      for (size_t p = 0; p < 4; ++p) b |= ((s >> data[p]) & 1u) << p;
      out[b] += st[s];
    }
    return out;
  };
  // x^1's and x^0's distributions for a generator with these steps' graphs, field scale and betas.
  auto answer = [&](const Graph& first, const Graph& second, double field_scale, const std::vector<double>& betas) {
    const std::vector<double> p1 = pixels_after(second, betas, 0.0, 0);
    std::vector<double> p0(16, 0.0);
    for (uint32_t x1 = 0; x1 < 16; ++x1) {
      const std::vector<double> given = pixels_after(first, betas, field_scale * m.coupling(1), x1);
      for (uint32_t x0 = 0; x0 < 16; ++x0) p0[x0] += p1[x1] * given[x0];
    }
    return std::pair{p1, p0};
  };
  std::vector<double> anneal, half, flat(static_cast<size_t>(S), c.gen_beta_end);
  for (int32_t k = 0; k < S; ++k) anneal.push_back(c.gen_beta_start + (c.gen_beta_end - c.gen_beta_start) * k / (S - 1.0));
  for (double b : anneal) half.push_back(b / 2);
  auto chi2_z = [&](const std::vector<double>& counts, const std::vector<double>& p) { return chi2_pooled_z(counts, p, n); };
  const auto [p1, p0] = answer(g1, g2, 1.0, anneal);
  for (size_t b = 0; b < 16; ++b) {  // (every pattern its own bin under the true answers)
    EXPECT_GE(p1[b] * n, 5.0) << "pattern " << b;
    EXPECT_GE(p0[b] * n, 5.0) << "pattern " << b;
  }
  const double z1 = chi2_z(count1, p1), z0 = chi2_z(count0, p0);
  std::printf("generation against enumeration: x^1 chi2 z %.2f, x^0 chi2 z %.2f\n", z1, z0);
  EXPECT_LE(z1, 4.75);
  EXPECT_LE(z0, 4.75);
  const std::vector<std::pair<const char*, std::vector<double>>> wrong = {
      {"the steps' weights swapped", answer(g2, g1, 1.0, anneal).second},
      {"no field J_f x^1", answer(g1, g2, 0.0, anneal).second},
      {"half the betas", answer(g1, g2, 1.0, half).second},
      {"the end beta throughout", answer(g1, g2, 1.0, flat).second}};
  for (const auto& [what, q] : wrong) {
    const double z = chi2_z(count0, q);
    std::printf("  against the answer with %s: chi2 z %.1f\n", what, z);
    EXPECT_GT(z, 4.75) << what << ": not told apart";
  }
}

/// `flips` of `trials` independent spins, each flipped with probability p: the fraction is within 5
/// sigma of p, sigma = sqrt(p (1 - p) / trials).
void expect_flip_rate(int64_t flips, int64_t trials, double p, const char* what) {
  EXPECT_NEAR(static_cast<double>(flips) / static_cast<double>(trials), p, 5 * std::sqrt(p * (1 - p) / static_cast<double>(trials))) << what;
}

/// The spins of noised states (P pixels, then L label spins) that differ from their clean state:
/// pixels, label spins, and pixel k flipped together with label spin k.
struct FlipCounts {
  int32_t P, L;
  int64_t states = 0, pixels = 0, labels = 0, both = 0;
  void add(const std::vector<int8_t>& x, const std::vector<int8_t>& clean) {
    ASSERT_EQ(x.size(), static_cast<size_t>(P + L));
    ASSERT_EQ(clean.size(), x.size());
    auto flipped = [&](int32_t v) { return x[static_cast<size_t>(v)] != clean[static_cast<size_t>(v)]; };
    ++states;
    for (int32_t v = 0; v < P; ++v) pixels += flipped(v);
    for (int32_t k = 0; k < L; ++k) {
      labels += flipped(P + k);
      both += flipped(k) && flipped(P + k);
    }
  }
  /// Pixels flipped at rate p and label spins at rate q, independently: labels drawn with the
  /// pixels' key would flip together with them (a joint rate of q, not p q).
  void expect_rates(double p, double q) const {
    expect_flip_rate(pixels, states * P, p, "pixels");
    expect_flip_rate(labels, states * L, q, "labels");
    expect_flip_rate(both, states * L, p * q, "pixel k and label spin k together");
  }
};

// The forward process of training (detail::dtm_forward_step, which Dtm's training uses to make x^t
// from x^{t-1}): over step t it flips each pixel with dtm::flip_probability(lambda, dt) and each label
// spin with flip_probability(label_lambda, dt), dt = t_t - t_{t-1} the step's own length (not the
// cumulative time t_t). Step 2 of 4 (t_1 = ln 4/3, t_2 = ln 2) over many images: each group's flipped
// fraction is within 5 sigma of its probability, sigma = sqrt(p (1 - p) / trials).
TEST(DtmModel, ForwardStepFlipsAtEachGroupsRateOverTheStepsLength) {
  DtmConfig c = toy_config(4, std::string(PBIT_TEST_TMP) + "/dtm_forward_step");
  c.lambda = 0.9;
  c.label_lambda = 0.2;
  c.label_replicas = 2;
  const std::vector<double> grid = dtm::time_grid(4);
  const int32_t t = 2, P = 64, L = 10 * c.label_replicas;
  const double dt = grid[t] - grid[t - 1];
  ASSERT_GT(grid[t - 1], 0.0);  // a step whose length is not its end time
  const std::vector<int8_t> clean(static_cast<size_t>(P + L), 1);
  FlipCounts n{P, L};
  for (int64_t img = 0; img < 2000; ++img) {
    std::vector<int8_t> x = clean;
    detail::dtm_forward_step(c, grid, P, x, img, t, 0);
    n.add(x, clean);
  }
  n.expect_rates(dtm::flip_probability(c.lambda, dt), dtm::flip_probability(c.label_lambda, dt));
  // The state it is given must fit the model.
  std::vector<int8_t> short_state(static_cast<size_t>(P), 1);
  EXPECT_THROW(detail::dtm_forward_step(c, grid, P, short_state, 0, t, 0), InvalidArgument);
}

// x^t straight from the data (detail::dtm_noisy, Dtm::noisy: the positive phase's clamp and the
// training targets) carries the noise of time t_t: each pixel flipped with
// flip_probability(lambda, t_t) and each label spin with flip_probability(label_lambda, t_t), 5 sigma.
TEST(DtmModel, NoisedImagesFlipAtEachGroupsRateOverTheWholeTime) {
  DtmConfig c = toy_config(4, std::string(PBIT_TEST_TMP) + "/dtm_noisy");
  c.lambda = 0.9;
  c.label_lambda = 0.2;
  c.label_replicas = 2;
  const std::vector<double> grid = dtm::time_grid(4);
  const int32_t t = 2, P = 64, L = 10 * c.label_replicas;
  const int64_t images = 2000;
  ImageDataset d;
  d.rows = d.cols = 8;
  d.pixels.assign(static_cast<size_t>(images) * P, 255);  // every pixel +1 after binarizing
  for (int64_t k = 0; k < images; ++k) d.labels.push_back(static_cast<uint8_t>(k % 10));
  FlipCounts n{P, L};
  for (int64_t img = 0; img < images; ++img) {
    std::vector<int8_t> clean(static_cast<size_t>(P + L), 1);
    for (int32_t k = 0; k < L; ++k) clean[static_cast<size_t>(P + k)] = k / c.label_replicas == d.labels[static_cast<size_t>(img)] ? 1 : -1;
    n.add(detail::dtm_noisy(c, grid, P, d, img, t, 0), clean);
  }
  n.expect_rates(dtm::flip_probability(c.lambda, grid[t]), dtm::flip_probability(c.label_lambda, grid[t]));
  EXPECT_THROW(detail::dtm_noisy(c, grid, P, d, images, t, 0), InvalidArgument);  // past the last image
}

// ACP (REFERENCES.md): after each epoch lambda follows the rule from the penalty used, the
// measurement before and the one now; the first epoch compares with the untrained step's measurement,
// so it is not taken for "not rising" (which took the default lambda0, the floor, to 0 after one
// epoch whatever it measured).
TEST(DtmModel, AcpFollowsItsRuleFromTheFirstEpoch) {
  const ImageDataset d = toy(500, 3);
  DtmConfig c = toy_config(2, std::string(PBIT_TEST_TMP) + "/dtm_acp_rule");
  c.epochs = 2;
  c.acp = true;
  c.acp_lambda0 = 0.002;
  Dtm m(c, 8, 8);
  const auto hist = m.train(d);
  ASSERT_EQ(hist.size(), 2u);
  for (int32_t t = 1; t <= 2; ++t) {
    SCOPED_TRACE("step " + std::to_string(t));
    EXPECT_TRUE(std::isfinite(hist[0].steps[t - 1].acp_previous)) << "the first update had nothing to compare with";
    for (size_t e = 0; e < hist.size(); ++e) {
      const DtmStepMetrics& s = hist[e].steps[t - 1];
      if (e > 0) {
        EXPECT_EQ(s.acp_previous, std::max(0.0, hist[e - 1].steps[t - 1].autocorrelation));  // (read below 0 as 0)
      }
      dtm::AcpController rule(s.acp_lambda, c.acp_eps);
      rule.restore(s.acp_lambda, s.acp_previous);
      const double next = e + 1 < hist.size() ? hist[e + 1].steps[t - 1].acp_lambda : m.acp_lambda(t);
      EXPECT_EQ(rule.update(s.autocorrelation), next) << "epoch " << e + 1;
    }
  }
}

TEST(DtmModel, ResumeIsBitIdentical) {
  const ImageDataset d = toy(500, 3);
  DtmConfig c = toy_config(2, std::string(PBIT_TEST_TMP) + "/dtm_resume_a");
  c.epochs = 3;
  Dtm a(c, 8, 8);
  a.train(d);
  DtmConfig cb = c;
  cb.output_dir = std::string(PBIT_TEST_TMP) + "/dtm_resume_b";
  {
    Dtm b(cb, 8, 8);
    b.train(d, 2);  // "killed" after two epochs (each epoch ends with a checkpoint)
  }
  // It continues on another backend: they train bit for bit alike, so the checkpoint does not name one.
  DtmConfig cb2 = cb;
  cb2.backend = "packed";
  Dtm b2(cb2, 8, 8);
  b2.load_checkpoint(b2.checkpoint_path());
  EXPECT_EQ(b2.epoch(), 2);
  b2.train(d);
  for (int32_t t = 1; t <= 2; ++t) EXPECT_EQ(b2.weights(t), a.weights(t)) << "step " << t;
  EXPECT_EQ(b2.acp_lambda(1), a.acp_lambda(1));
  EXPECT_EQ(b2.history().size(), 3u);
  // A different config cannot resume it.
  DtmConfig other = cb;
  other.learning_rate = 0.01f;
  Dtm c2(other, 8, 8);
  EXPECT_NE(error_of([&] { c2.load_checkpoint(b2.checkpoint_path()); }).find("different training config"), std::string::npos);
  EXPECT_THROW(c2.load_checkpoint(b2.checkpoint_path()), ConfigMismatch);  // a type the CLI tells from a corrupt file
}

// A tempered negative phase (train.negative.tempering): its replicas, walkers and swap rounds are in
// the checkpoint, so a resumed run (on another backend) is the uninterrupted one bit for bit; a
// model-only checkpoint counts the rounds on; its fingerprint keeps it from a plain run's checkpoint.
TEST(DtmModel, TemperedNegativePhaseResumesBitForBit) {
  const ImageDataset d = toy(300, 6);
  auto config = [](const std::string& name) {
    DtmConfig c = toy_config(2, std::string(PBIT_TEST_TMP) + "/" + name);
    c.epochs = 2;
    c.neg_tempered = true;
    c.neg_tempering.betas = {1.0f, 0.7f, 0.45f};
    c.neg_tempering.sweeps_per_round = 7;  // 30 negative sweeps per batch, 180 per epoch: epochs end mid-round
    return c;
  };
  Dtm a(config("dtm_tneg_a"), 8, 8);
  const auto hist = a.train(d);
  const TemperingStats st = a.negative_tempering_stats(1);
  // 2 epochs of 6 batches x 30 negative sweeps per step: 51 rounds of 7 sweeps (and 3 sweeps);
  // swaps both taken and refused.
  EXPECT_EQ(st.rounds, 51);
  for (double acc : st.acceptance()) {
    EXPECT_GT(acc, 0.0);
    EXPECT_LT(acc, 1.0);
  }
  {
    DtmConfig c = config("dtm_tneg_b");
    Dtm b(c, 8, 8);
    b.train(d, 1);  // killed after one epoch: 25 rounds and 5 sweeps of the 26th
  }
  DtmConfig cb = config("dtm_tneg_b");
  cb.backend = "packed";
  Dtm b(cb, 8, 8);
  b.load_checkpoint(b.checkpoint_path());
  b.train(d);
  for (int32_t t = 1; t <= 2; ++t) EXPECT_EQ(b.weights(t), a.weights(t)) << "step " << t;
  EXPECT_EQ(b.negative_tempering_stats(2).rounds, a.negative_tempering_stats(2).rounds);
  // Every replica's sweeps are flips: 3 replicas of 30 negative sweeps against 30 clamped positive ones.
  DtmConfig pc = toy_config(2, std::string(PBIT_TEST_TMP) + "/dtm_tneg_plain");
  pc.epochs = 2;
  Dtm plain(pc, 8, 8);
  const auto phist = plain.train(d);
  EXPECT_GT(hist[0].flips, 2.0 * phist[0].flips);
  EXPECT_NE(plain.weights(1), a.weights(1));
  // A plain run's checkpoint is not a tempered one's, nor the other way round.
  EXPECT_THROW(Dtm(config("dtm_tneg_c"), 8, 8).load_checkpoint(plain.checkpoint_path()), ConfigMismatch);
  EXPECT_THROW(Dtm(pc, 8, 8).load_checkpoint(a.checkpoint_path()), ConfigMismatch);
  // The model-only checkpoint: fresh chains, the rounds counted on.
  const std::string lease = std::string(PBIT_TEST_TMP) + "/dtm_tneg_model.bin";
  a.save_model_checkpoint(lease, nlohmann::json::array());
  DtmConfig more = config("dtm_tneg_d");
  more.epochs = 3;
  Dtm m(more, 8, 8);
  m.load_model_checkpoint(lease);
  m.save_model_checkpoint(lease + ".again", nlohmann::json::array());  // all of it came back
  EXPECT_EQ(byte_difference(lease + ".again", lease), "");
  EXPECT_EQ(m.negative_tempering_stats(1).rounds, 51);
  EXPECT_EQ(m.negative_tempering_stats(1).accepts, std::vector<int64_t>(2, 0));
  m.train(d);
  EXPECT_EQ(m.negative_tempering_stats(1).rounds, 51 + 25);  // fresh chains start a round: 180 sweeps are 25 more
  EXPECT_THROW(m.negative_tempering_stats(3), InvalidArgument);  // no step 3
  // A config built in C++ is held to what the parser demands: target 1, a fixed ladder.
  DtmConfig hot = config("dtm_tneg_e");
  hot.neg_tempering.betas = {1.2f, 0.5f};
  EXPECT_THROW(Dtm(hot, 8, 8), InvalidArgument);
  DtmConfig moving = config("dtm_tneg_e");
  moving.neg_tempering.adapt_rounds = 100;
  EXPECT_THROW(Dtm(moving, 8, 8), InvalidArgument);
}

TEST(DtmModel, ResumeKeepsTheQualityHistory) {
  const ImageDataset d = toy(500, 3);
  DtmConfig c = toy_config(2, std::string(PBIT_TEST_TMP) + "/dtm_fid_history");
  c.epochs = 2;
  {
    Dtm a(c, 8, 8);
    a.train(d, 1);
    a.set_feature_fid(1, 12.5);
    a.save_checkpoint(a.checkpoint_path());
  }
  Dtm b(c, 8, 8);
  b.load_checkpoint(b.checkpoint_path());
  ASSERT_EQ(b.history().size(), 1u);
  EXPECT_EQ(b.history()[0].feature_fid, 12.5);
}

// A DTM checkpoint's epoch (2e9 was accepted) and history are checked behind the checksum.
TEST(DtmModel, CheckpointsAreCheckedBehindTheirChecksum) {
  const ImageDataset d = toy(100, 3);
  DtmConfig c = toy_config(2, std::string(PBIT_TEST_TMP) + "/dtm_hostile");
  c.epochs = 1;
  Dtm a(c, 8, 8);
  a.train(d);
  const std::string good = a.checkpoint_path(), bad = good + ".bad";
  auto load = [&](const std::string& path) {
    Dtm b(c, 8, 8);
    return error_of([&] { b.load_checkpoint(path); });
  };
  ASSERT_EQ(load(good), "<no error>");
  for (const int32_t epoch : {-1, 2000000000}) {  // payload: fingerprint (8 bytes), epoch (i32), ...
    SealedFile f(good);
    f.poke<int32_t>(8, epoch);
    f.write(bad);
    EXPECT_NE(load(bad).find("has an impossible epoch count (" + std::to_string(epoch) + ")"), std::string::npos);
  }
  {  // A real count past the config's epochs: a config to lengthen, said as the other trainers say it.
    SealedFile f(good);
    f.poke<int32_t>(8, 2);
    f.write(bad);
    const std::string e = load(bad);
    EXPECT_NE(e.find("train.epochs: checkpoint '" + bad + "' has trained 2 epochs, more than the 1 epochs asked for; resume with at least 2"),
              std::string::npos) << e;
  }
  {  // (a history in range is read)
    SealedFile f(good);
    f.replace_last_string("[[1,2,3,4,[[1,0.5,0.1,null]],-1]]");
    f.write(bad);
    EXPECT_EQ(load(bad), "<no error>");
  }
  // ... its numbers in range and its epochs increasing and finished (helper-91).
  for (const char* h : {"[[1]]", "[1]", "[[1,2,3,4,[[1]],6]]", "[[1,2,3,4,[[1.5,2,3,4]],6]]", "[[1,2,3,4,5,6]]", "{",
                        "[[1,2,3,4,[[1,0.5,0.1,null]],-5]]", "[[2,2,3,4,[[1,0.5,0.1,null]],6]]", "[[1,-2,3,4,[[1,0.5,0.1,null]],6]]",
                        "[[1,2,3,4,[[1,-0.5,0.1,null]],6]]", "[[1,2,3,4,[[0,0.5,0.1,null]],6]]", "[[1,2,3,4,[[1,0.5,0.1,-1]],6]]",
                        "[[1,2,3,4,[],6],[1,2,3,4,[],6]]", "[[1,2,3,4,[[1,0.5,0.1,null]],-0.5]]", "[[1,2e12,3,4,[[1,0.5,0.1,null]],6]]",
                        "[[1,2,3,4,[[1,0.5,1e300,null]],6]]", "[[1,2,3,4,[[1,0.5,-3,null]],6]]"}) {
    SealedFile f(good);
    f.replace_last_string(h);
    f.write(bad);
    EXPECT_NE(load(bad).find("corrupt training history"), std::string::npos) << h;
  }
  // Behind the checksum, step 1's weights and Adam moments are finite and its chains' spins -1 or +1
  // (payload: fingerprint, epoch, steps, then each array after a u64 length).
  const size_t W = a.weights(1).size(), w = 16 + 8, spins = w + 3 * (4 * W + 8) - 8 + 5 * 8;  // then adam_t, lambda, previous, sweeps, length
  for (const size_t at : {w + 4, w + 4 * W + 8, w + 2 * (4 * W + 8) + 4 * (W - 1)}) {
    SealedFile f(good);
    f.poke<float>(at, std::nanf(""));
    f.write(bad);
    const std::string e = load(bad);
    EXPECT_NE(e.find("checkpoint '" + bad + "' holds a parameter that is not finite (nan, entry"), std::string::npos) << at << ": " << e;
  }
  // ... its Adam step count >= 0, its correlation penalty finite and >= 0, its last autocorrelation
  // within the |r| < 2 that the probe can measure (1e300 was read, helper-91), or NaN.
  const size_t adam_t = spins - 5 * 8;
  for (const double r : {-1.0, 1.99, std::nan("")}) {
    SealedFile f(good);
    f.poke<double>(adam_t + 16, r);
    f.write(bad);
    EXPECT_EQ(load(bad), "<no error>") << r;
  }
  for (const auto& [at, v] : {std::pair<size_t, double>{adam_t + 8, std::nan("")}, {adam_t + 8, -0.5}, {adam_t + 16, INFINITY},
                              {adam_t + 16, 1e300}, {adam_t + 16, -2.5}}) {
    SealedFile f(good);
    f.poke<double>(at, v);
    f.write(bad);
    const std::string e = load(bad);
    EXPECT_NE(e.find("checkpoint '" + bad + "' holds an impossible optimizer state"), std::string::npos) << at << " = " << v << ": " << e;
  }
  {  // Adam's second moments are not negative
    SealedFile f(good);
    f.poke<float>(w + 2 * (4 * W + 8), -1.0f);
    f.write(bad);
    EXPECT_NE(load(bad).find("checkpoint '" + bad + "' holds a negative second moment (-1, entry 0 of"), std::string::npos) << load(bad);
  }
  {  // a sweep count past the RNG counter's 2^32 - 1 names the file
    SealedFile f(good);
    f.poke<uint64_t>(spins - 16, uint64_t{1} << 32);
    f.write(bad);
    EXPECT_NE(load(bad).find("checkpoint '" + bad + "' has an impossible sweep count"), std::string::npos) << load(bad);
  }
  {
    SealedFile f(good);
    f.poke<int64_t>(adam_t, -3);
    f.write(bad);
    EXPECT_NE(load(bad).find("impossible optimizer state (Adam step -3,"), std::string::npos) << load(bad);
  }
  {
    SealedFile f(good);
    f.poke<int8_t>(spins, 0);
    f.write(bad);
    const std::string e = load(bad);
    EXPECT_NE(e.find("checkpoint '" + bad + "' holds a chain spin that is 0, not -1 or +1 (entry 0 of"), std::string::npos) << e;
  }
  flip_byte(good, bad, 40);
  EXPECT_NE(load(bad).find("checksum does not match"), std::string::npos);
}

// The memory guard sees the model, not one sampler at a time: a DTM's 2 T samplers each passed it
// while all of them together did not fit (PBIT_MAX_MEMORY set to a batch's needs was no guard).
TEST(DtmModel, TheMemoryGuardSeesEverySampler) {
  DtmConfig c = toy_config(2, std::string(PBIT_TEST_TMP) + "/dtm_memory");
  c.batch_size = 2000;  // the samplers, 4 x 4.1 MB, well above the graph's own 0.4 MB
  const double one = Sampler::state_bytes(Backend::cpu, c.batch_size, 256);  // grid:16 has 256 nodes
  EXPECT_EQ(Dtm(c, 8, 8).graph().num_nodes(), 256);
  setenv("PBIT_MAX_MEMORY", std::to_string(static_cast<int64_t>(3 * one)).c_str(), 1);  // room for 3 of the 4
  const std::string e = error_of([&] { Dtm(c, 8, 8); });
  setenv("PBIT_MAX_MEMORY", std::to_string(static_cast<int64_t>(4 * one)).c_str(), 1);
  const std::string fits = error_of([&] { Dtm(c, 8, 8); });
  unsetenv("PBIT_MAX_MEMORY");
  EXPECT_NE(e.find("the DTM's 4 samplers (two per step) of 2000 chains (train.batch_size) of 256 nodes on the cpu backend needs about"),
            std::string::npos) << e;
  EXPECT_EQ(fits, "<no error>");
  // Generation is guarded before it allocates: 2,000,000 samples of the 8x8-image model (gigabytes
  // of host state and trajectory) are refused at once under a 200 MB limit; it used to build the
  // samples' noise first and reach the sampler's guard seconds and gigabytes later.
  c.batch_size = 50;
  const Dtm small(c, 8, 8);
  setenv("PBIT_MAX_MEMORY", "200M", 1);
  const std::string gen = error_of([&] { (void)small.generate(2000000, 1); });
  const std::string gen_fits = error_of([&] { (void)small.generate(10, 1); });
  unsetenv("PBIT_MAX_MEMORY");
  EXPECT_NE(gen.find("generating 2000000 DTM samples of 256 nodes on the cpu backend needs about"), std::string::npos) << gen;
  EXPECT_EQ(gen_fits, "<no error>");
  EXPECT_NE(error_of([&] { (void)small.generate(-1, 1); }).find("negative number of samples"), std::string::npos);
}

TEST(DtmModel, ModelCheckpointContinuesAcrossLeases) {
  const ImageDataset d = toy(500, 3);
  DtmConfig c = toy_config(2, std::string(PBIT_TEST_TMP) + "/dtm_lease_a");
  c.epochs = 3;
  Dtm a(c, 8, 8);
  a.train(d, 2);
  a.set_feature_fid(2, 7.25);
  const std::string ckpt = std::string(PBIT_TEST_TMP) + "/dtm_lease_model.bin";
  const nlohmann::json leases = {{{"lease", 1}}};
  a.save_model_checkpoint(ckpt, leases);
  // No chains, and the Adam moments in bfloat16: well under the full checkpoint.
  EXPECT_LT(std::filesystem::file_size(ckpt), std::filesystem::file_size(a.checkpoint_path()) / 2);
  DtmConfig cb = c;
  cb.output_dir = std::string(PBIT_TEST_TMP) + "/dtm_lease_b";
  Dtm b(cb, 8, 8);
  EXPECT_EQ(b.load_model_checkpoint(ckpt), leases);
  // Everything the file holds came back (weights, Adam's moments and step counts, the penalties, both
  // samplers' sweep counts, which key the next lease's random numbers, the history): saved again at
  // once, it is the same bytes.
  b.save_model_checkpoint(ckpt + ".again", leases);
  EXPECT_EQ(byte_difference(ckpt + ".again", ckpt), "");
  EXPECT_EQ(b.epoch(), 2);
  for (int32_t t = 1; t <= 2; ++t) EXPECT_EQ(b.weights(t), a.weights(t)) << "step " << t;
  EXPECT_EQ(b.acp_lambda(1), a.acp_lambda(1));
  ASSERT_EQ(b.history().size(), 2u);
  EXPECT_EQ(b.history()[1].feature_fid, 7.25);
  EXPECT_FALSE(b.finished());
  b.train(d);
  EXPECT_TRUE(b.finished());
  EXPECT_EQ(b.history().size(), 3u);
  // The same run continued in one go differs only through the fresh chains and the rounded moments.
  a.train(d);
  double diff = 0, norm = 0;
  for (size_t k = 0; k < a.weights(1).size(); ++k) {
    diff += std::abs(a.weights(1)[k] - b.weights(1)[k]);
    norm += std::abs(a.weights(1)[k]);
  }
  EXPECT_GT(diff, 0.0);
  EXPECT_LT(diff, 0.5 * norm);
  DtmConfig other = cb;
  other.learning_rate = 0.01f;
  Dtm e(other, 8, 8);
  EXPECT_NE(error_of([&] { e.load_model_checkpoint(ckpt); }).find("different training config"), std::string::npos);
  EXPECT_THROW(e.load_model_checkpoint(ckpt), ConfigMismatch);
  EXPECT_NE(error_of([&] { e.load_model_checkpoint(a.checkpoint_path()); })
                .find("not a pbit DTM model checkpoint (format PBITTML2): it is a DTM training checkpoint (checkpoint.bin of 'pbit dtm train')"),
            std::string::npos);
}

TEST(DtmModel, TimeBudgetStopsBeforeAnEpochThatWouldOverrunIt) {
  // Deterministic ends of the range (epoch times themselves are too noisy to test against): a budget
  // smaller than one epoch stops after the first epoch, and a budget far beyond the run changes nothing.
  const ImageDataset d = toy(500, 3);
  DtmConfig c = toy_config(2, std::string(PBIT_TEST_TMP) + "/dtm_budget");
  c.epochs = 3;
  Dtm plain(c, 8, 8);
  plain.train(d);
  c.time_budget_s = 1e-6;
  c.output_dir = std::string(PBIT_TEST_TMP) + "/dtm_budget_tiny";
  Dtm tiny(c, 8, 8);
  EXPECT_FALSE(tiny.out_of_time());
  tiny.train(d);
  EXPECT_TRUE(tiny.out_of_time());
  EXPECT_EQ(tiny.epoch(), 1);
  // A resume sees the same history and trains nothing more.
  Dtm r(c, 8, 8);
  r.load_checkpoint(r.checkpoint_path());
  r.train(d);
  EXPECT_EQ(r.epoch(), 1);
  EXPECT_EQ(r.weights(1), tiny.weights(1));
  c.time_budget_s = 1e6;
  c.output_dir = std::string(PBIT_TEST_TMP) + "/dtm_budget_huge";
  Dtm huge(c, 8, 8);
  huge.train(d);
  EXPECT_FALSE(huge.out_of_time());
  EXPECT_EQ(huge.epoch(), 3);
  for (int32_t t = 1; t <= 2; ++t) EXPECT_EQ(huge.weights(t), plain.weights(t)) << "step " << t;
}

double pixel_fd(const std::vector<std::vector<int8_t>>& a, const std::vector<std::vector<int8_t>>& b) {
  auto flat = [](const std::vector<std::vector<int8_t>>& x) {
    std::vector<double> f;
    for (const auto& v : x) f.insert(f.end(), v.begin(), v.end());
    return f;
  };
  const int32_t d = static_cast<int32_t>(a[0].size());
  return metrics::frechet_distance(metrics::fit_gaussian(flat(a), static_cast<int64_t>(a.size()), d),
                                   metrics::fit_gaussian(flat(b), static_cast<int64_t>(b.size()), d));
}

// The mixing-expressivity trade-off in miniature: at equal total sweeps per sample (4 x 50 against
// 1 x 200), a T = 4 DTM generates binarized Fashion-MNIST (pooled to 14x14) closer to the test set than
// an MEBM trained the same way, measured by the Frechet distance in pixel space and averaged over
// two seeds (observed: mean DTM 38.8, MEBM 63.6).
TEST(DtmModel, BeatsMebmAtEqualTotalSweeps) {
  const ImageDataset tr = pool_images(load_dataset("fashion-mnist", "train", "", 5000), 2);
  const ImageDataset te = pool_images(load_dataset("fashion-mnist", "test", "", 2000), 2);
  const auto test = spin_images(te, 127);
  double dtm_fd = 0, mebm_fd = 0;
  for (uint64_t seed : {1, 2}) {
    DtmConfig c = parse_dtm_config(nlohmann::json::parse(R"({"dataset": {"name": "fashion-mnist", "train_limit": 5000, "pool": 2},
      "model": {"topology": "grid:28:G12", "steps": 4}, "train": {"epochs": 2, "batch_size": 50,
      "positive": {"warmup": 20, "samples": 5, "steps_per_sample": 4}, "negative": {"warmup": 40, "samples": 5, "steps_per_sample": 4},
      "acp": {"lambda0": 0.01, "chains": 32}}, "run": {"backend": "cpu"}})"));
    c.seed = seed;
    c.output_dir = std::string(PBIT_TEST_TMP) + "/eq_dtm";
    Dtm dtm(c, 14, 14);
    dtm.train(tr);
    DtmConfig m = c;
    m.steps = 1;
    m.output_dir = std::string(PBIT_TEST_TMP) + "/eq_mebm";
    Dtm mebm(m, 14, 14);
    mebm.train(tr);
    const double a = pixel_fd(dtm.generate(500, 50).back(), test), b = pixel_fd(mebm.generate(500, 200).back(), test);
    std::printf("seed %d: pixel-space FD, DTM (4 steps x 50 sweeps) %.2f, MEBM (200 sweeps) %.2f\n", static_cast<int>(seed), a, b);
    dtm_fd += a / 2;
    mebm_fd += b / 2;
  }
  std::printf("mean: DTM %.2f, MEBM %.2f, ratio %.2f\n", dtm_fd, mebm_fd, dtm_fd / mebm_fd);
  EXPECT_LT(dtm_fd, 0.8 * mebm_fd);
}

TEST(FeatureNet, GradientMatchesFiniteDifferences) {
  // A tiny network on a few images, some of its hidden units inactive (ReLU at 0) on some images: the
  // back-propagated gradient of the summed cross-entropy must match central differences of the loss in
  // every parameter, so a missing ReLU gate, a dropped term or a wrong index fails here.
  FeatureNet net(6, 5, 11);
  const std::vector<std::vector<int8_t>> imgs = {{1, -1, 1, 1, -1, -1}, {-1, -1, 1, -1, 1, 1}, {1, 1, 1, -1, -1, 1}, {-1, 1, -1, 1, 1, -1}};
  const std::vector<int32_t> labels = {3, 0, 9, 3};
  const std::vector<double> h = net.features(imgs);
  const auto inactive = std::count(h.begin(), h.end(), 0.0);
  ASSERT_GT(inactive, 0);  // the gate matters on these images
  ASSERT_LT(inactive, static_cast<long>(h.size()));
  FeatureNet::Parameters g;
  const double loss = net.loss_gradient(imgs, labels, g);
  EXPECT_GT(loss, 0.0);
  FeatureNet::Parameters& p = net.parameters();
  const float eps = 1e-2f;
  int checked = 0;
  for (auto [param, grad] : {std::pair{&p.w1, &g.w1}, {&p.b1, &g.b1}, {&p.w2, &g.w2}, {&p.b2, &g.b2}}) {
    ASSERT_EQ(param->size(), grad->size());
    for (size_t k = 0; k < param->size(); ++k) {
      FeatureNet::Parameters scratch;
      const float v = (*param)[k];
      (*param)[k] = v + eps;
      const double up = net.loss_gradient(imgs, labels, scratch);
      (*param)[k] = v - eps;
      const double down = net.loss_gradient(imgs, labels, scratch);
      (*param)[k] = v;
      const double fd = (up - down) / (2 * eps);
      EXPECT_NEAR((*grad)[k], fd, 2e-3 + 1e-2 * std::abs(fd)) << "parameter " << k << " of a block of " << param->size();
      ++checked;
    }
  }
  EXPECT_EQ(checked, 5 * 6 + 5 + 10 * 5 + 10);
  EXPECT_THROW(net.loss_gradient(imgs, {3, 0, 9}, g), InvalidArgument);
  EXPECT_THROW(net.loss_gradient(imgs, {3, 0, 10, 3}, g), InvalidArgument);
}

TEST(FeatureNet, DeterministicCachedAndInformative) {
  const ImageDataset tr = pool_images(load_dataset("fashion-mnist", "train", "", 3000), 2);
  const ImageDataset te = pool_images(load_dataset("fashion-mnist", "test", "", 1000), 2);
  const std::string cache = std::string(PBIT_TEST_TMP) + "/fnet_test.bin";
  std::filesystem::remove(cache);
  double acc = 0;
  const FeatureNet a = FeatureNet::cached(cache, tr, 127, 2, 5, &acc, &te);
  EXPECT_GT(acc, 0.6);  // 10 classes: a network that learned something
  EXPECT_TRUE(std::filesystem::exists(cache));
  const FeatureNet b = FeatureNet::cached(cache, tr, 127, 2, 5);  // from the cache
  FeatureNet c(196, 128, 5);
  c.train(tr, 127, 2, 0.02f, 5);  // retrained from scratch: the same network
  const auto imgs = spin_images(te, 127, 200);
  EXPECT_EQ(a.features(imgs), b.features(imgs));
  EXPECT_EQ(a.features(imgs), c.features(imgs));
  // The cache is keyed by what shapes the network: another threshold trains (and caches) another one.
  const FeatureNet at60 = FeatureNet::cached(cache, tr, 60, 2, 5);
  FeatureNet fresh60(196, 128, 5);
  fresh60.train(tr, 60, 2, 0.02f, 5);
  EXPECT_EQ(at60.features(imgs), fresh60.features(imgs));
  EXPECT_NE(at60.features(imgs), a.features(imgs));
  // And by the images themselves: another copy of the dataset, of the same name and size (another
  // dataset.dir), trains its own network rather than reading this one's.
  ImageDataset other = tr;
  std::reverse(other.pixels.begin(), other.pixels.end());
  const FeatureNet from_other = FeatureNet::cached(cache, other, 60, 2, 5);
  EXPECT_NE(from_other.features(imgs), at60.features(imgs));
  // A cache folder that cannot be written costs the cache, not the run that trained the network
  // (a run from an unwritable working folder failed after training it).
  testing::internal::CaptureStderr();
  const FeatureNet d = FeatureNet::cached("/proc/pbit_no_such_folder/fnet.bin", tr, 127, 2, 5);
  EXPECT_NE(testing::internal::GetCapturedStderr().find("the feature network is not cached"), std::string::npos);
  EXPECT_EQ(a.features(imgs), d.features(imgs));
  // A broken cache is retrained and replaced, and says so (it did so silently; helper-88). A stale
  // one (another key) is retrained without a note: that is what a key is for.
  std::filesystem::resize_file(cache, std::filesystem::file_size(cache) - 5);
  testing::internal::CaptureStderr();
  const FeatureNet e = FeatureNet::cached(cache, other, 60, 2, 5);
  const std::string said = testing::internal::GetCapturedStderr();
  EXPECT_NE(said.find("note: the cached feature network " + cache + " cannot be read ("), std::string::npos) << said;
  EXPECT_EQ(e.features(imgs), from_other.features(imgs));
  testing::internal::CaptureStderr();
  (void)FeatureNet::cached(cache, other, 60, 2, 5);  // from the cache written again
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  // Where the CLI keeps it: PBIT_CACHE_DIR (a device job's committed state), else out/cache.
  {
    const WithEnv none("PBIT_CACHE_DIR", nullptr);
    EXPECT_EQ(FeatureNet::cache_file("f.bin"), "out/cache/f.bin");
  }
  {
    const WithEnv state("PBIT_CACHE_DIR", "/tmp/pbit state");
    EXPECT_EQ(FeatureNet::cache_file("f.bin"), "/tmp/pbit state/f.bin");
  }
  {
    const WithEnv empty("PBIT_CACHE_DIR", "");
    EXPECT_EQ(FeatureNet::cache_file("f.bin"), "out/cache/f.bin");
  }
  // Feature-FID: a set against itself is 0; real test images are far closer to training images than noise.
  const auto train_imgs = spin_images(tr, 127, 1000), test_imgs = spin_images(te, 127, 1000);
  EXPECT_NEAR(feature_frechet(a, test_imgs, test_imgs), 0.0, 1e-6);
  std::vector<std::vector<int8_t>> noise(1000, std::vector<int8_t>(196));
  rng::PhiloxStream rs(1, rng::kTest);
  for (auto& v : noise)
    for (auto& p : v) p = rs.next_u32() & 1 ? 1 : -1;
  EXPECT_LT(10 * feature_frechet(a, train_imgs, test_imgs), feature_frechet(a, noise, test_imgs));
  // Memorisation check: copies of training images are at Hamming distance 0 from the training set.
  const std::vector<std::vector<int8_t>> copies(train_imgs.begin(), train_imgs.begin() + 20);
  EXPECT_EQ(mean_nearest_hamming(copies, train_imgs), 0.0);
  EXPECT_GT(mean_nearest_hamming(std::vector<std::vector<int8_t>>(noise.begin(), noise.begin() + 20), train_imgs), 40.0);
}

TEST(DtmConfigParse, ErrorsNameTheKey) {
  auto err = [](const std::string& t) { return error_of([&] { parse_dtm_config(nlohmann::json::parse(t)); }); };
  // A negative phase whose autocorrelation probe could not be held (its snapshot count overflowed).
  EXPECT_NE(err(R"({"train": {"negative": {"warmup": 4000000000, "samples": 2, "steps_per_sample": 1}}})").find("key 'train.negative'"),
            std::string::npos);
  // A schedule past one sampler's 2^32 - 1 sweeps, named before its fields are multiplied (2^32 x 2^32
  // wrapped in int64, and the run failed after loading its data with an error that named no key).
  EXPECT_NE(err(R"({"train": {"negative": {"warmup": 0, "samples": 4294967296, "steps_per_sample": 4294967296}}})")
                .find("key 'train.negative': warmup + samples x steps_per_sample (0 + 4294967296 x 4294967296) is more than one sampler runs"),
            std::string::npos);
  EXPECT_NE(err(R"({"train": {"positive": {"samples": 65536, "steps_per_sample": 65537}}})").find("key 'train.positive': warmup + samples"),
            std::string::npos);
  // ACP with one negative-phase sample per chain measures a penalty of 0 (helper-113: it did nothing
  // while its lambda was reported): refused where training starts (check_acp: dtm train after its
  // --acp, which may turn it off, dtm config, Dtm::train), not by the parser, which dtm mixing uses
  // on recorded configs whatever their ACP (helper-115). Off, or with 2 samples, it is taken.
  const DtmConfig one = parse_dtm_config(nlohmann::json::parse(R"({"train": {"negative": {"samples": 1}}})"));
  EXPECT_NE(error_of([&] { check_acp(one); }).find("key 'train.acp.enabled': the correlation penalty is measured within"), std::string::npos);
  EXPECT_NO_THROW(check_acp(parse_dtm_config(nlohmann::json::parse(R"({"train": {"negative": {"samples": 1}, "acp": {"enabled": false}}})"))));
  EXPECT_NO_THROW(check_acp(parse_dtm_config(nlohmann::json::parse(R"({"train": {"negative": {"samples": 2}}})"))));
  EXPECT_NE(err(R"({"model": {"steps": 0}})").find("key 'model.steps'"), std::string::npos);
  EXPECT_NE(err(R"({"dataset": {"dir": ""}})").find("key 'dataset.dir': must not be empty"), std::string::npos);
  EXPECT_NE(err(R"({"dataset": {"pool": 5}})").find("key 'dataset.pool': must divide the 28x28 images"), std::string::npos);
  EXPECT_NE(err(R"({"train": {"optimizer": "lbfgs"}})").find("key 'train.optimizer'"), std::string::npos);
  EXPECT_NE(err(R"({"train": {"acp": {"eps": 0}}})").find("key 'train.acp.eps'"), std::string::npos);
  EXPECT_NE(err(R"({"train": {"negative": {"stepz": 1}}})").find("key 'train.negative.stepz': unknown key"), std::string::npos);
  EXPECT_NE(err(R"({"generate": {"beta_start": 0.5, "tempering": {"replicas": 3, "hottest": 0.3}}})").find("key 'generate.beta_start'"),
            std::string::npos);
  EXPECT_NE(err(R"({"generate": {"tempering": {"replicas": 1, "hottest": 0.3}}})").find("generate.tempering.replicas"), std::string::npos);
  // A ladder is checked where it is read, not first by the sampler after training (which named no key).
  EXPECT_NE(err(R"({"generate": {"tempering": {"betas": [1, 1, 0.5]}}})").find("key 'generate.tempering.betas': must decrease"),
            std::string::npos);
  EXPECT_NE(err(R"({"generate": {"tempering": {"betas": [1, 0.5], "adapt_rounds": 5}}})").find("key 'generate.tempering.adapt_rounds': must be 0"),
            std::string::npos);
  EXPECT_NE(err(R"({"generate": {"sweeps": 4294967296}})").find("key 'generate.sweeps'"), std::string::npos);  // more than a sampler runs
  // One sample has no covariance for the FID: refused here, not after training.
  EXPECT_NE(err(R"({"generate": {"samples": 1}})").find("key 'generate.samples': must be in [2,"), std::string::npos);
  EXPECT_NE(err(R"({"run": {"output_dir": ""}})").find("key 'run.output_dir': must not be empty"), std::string::npos);
  // A tempered negative phase samples the model itself (target 1) at a fixed ladder.
  EXPECT_NE(err(R"({"train": {"negative": {"tempering": {"replicas": 3, "hottest": 0.3, "target": 2}}}})")
                .find("key 'train.negative.tempering': the target (betas[0]) must be 1"), std::string::npos);
  EXPECT_NE(err(R"({"train": {"negative": {"tempering": {"betas": [1, 0.5], "adapt_rounds": 100}}}})")
                .find("key 'train.negative.tempering.adapt_rounds': must be 0"), std::string::npos);
  EXPECT_NE(err(R"({"train": {"positive": {"tempering": {"betas": [1, 0.5]}}}})").find("key 'train.positive.tempering': unknown key"),
            std::string::npos);
  const DtmConfig nt = parse_dtm_config(nlohmann::json::parse(R"({"train": {"negative": {"warmup": 3, "tempering": {"replicas": 4, "hottest": 0.25}}}})"));
  EXPECT_TRUE(nt.neg_tempered);
  EXPECT_EQ(nt.negative.warmup, 3);
  EXPECT_EQ(nt.neg_tempering.betas, TemperingOptions::geometric(1.0f, 0.25f, 4));
  const DtmConfig pt = parse_dtm_config(nlohmann::json::parse(R"({"generate": {"beta_end": 1.5, "tempering": {"replicas": 3, "hottest": 0.3}}})"));
  EXPECT_TRUE(pt.gen_tempered);
  ASSERT_EQ(pt.gen_tempering.betas.size(), 3u);
  EXPECT_FLOAT_EQ(pt.gen_tempering.betas[0], 1.5f);  // the target defaults to beta_end
  for (const auto& f : std::filesystem::directory_iterator(std::string(PBIT_SOURCE_DIR) + "/configs")) {
    const std::string name = f.path().filename().string();
    if (name.rfind("dtm_", 0) == 0 || name.rfind("mebm_", 0) == 0) {
      EXPECT_NO_THROW(parse_dtm_config(read_json_file(f.path().string()))) << name;
    }
  }
}

// Every backend trains the same DTM and generates the same samples bit for bit (per-chain fields of
// the forward coupling, clamped and free phases, ACP). On cuda this is the GPU job dtm_g12's model
// path, checked on the CUDA emulator in CI and on a GPU by the device kit.
class DtmBackends : public ::testing::TestWithParam<Backend> {};

TEST_P(DtmBackends, TrainAndGenerateLikeCpu) {
  PBIT_REQUIRE_BACKEND(GetParam());
  const ImageDataset d = toy(100, 6);
  struct Result {
    std::vector<std::vector<float>> weights;
    std::vector<std::vector<std::vector<int8_t>>> samples;
  };
  auto run_on = [&](Backend b) {
    DtmConfig c = toy_config(2, std::string(PBIT_TEST_TMP) + "/dtm_backend_" + to_string(b) + "_beside_" + to_string(GetParam()));
    c.backend = to_string(b);
    c.epochs = 2;
    c.acp_chains = 40;
    Dtm m(c, 8, 8);
    m.train(d);
    Result r;
    for (int32_t t = 1; t <= m.steps(); ++t) r.weights.push_back(m.weights(t));
    r.samples = m.generate(33, 4);
    return r;
  };
  const Result want = run_on(Backend::cpu), got = run_on(GetParam());
  EXPECT_EQ(got.weights, want.weights) << "trained couplings differ";
  EXPECT_EQ(got.samples, want.samples) << "generated samples differ";
}

INSTANTIATE_TEST_SUITE_P(AllBackends, DtmBackends, ::testing::ValuesIn(test_backends()), backend_param_name);

}  // namespace
}  // namespace pbit::test
