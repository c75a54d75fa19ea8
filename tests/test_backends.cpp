// One test source for every backend: the same seed must give bit-identical chains and observations
// to the reference backend, whatever the chain count, thread count or how a run is split.
#include <gtest/gtest.h>
#include <omp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include <memory>
#include <set>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <vector>

#include "pbit/core/detail/gibbs_math.hpp"
#include "pbit/core/sampler.hpp"
#include "pbit/hardware/topology.hpp"
#include "gibbs_kernels.hpp"
#include "packed_sweep.hpp"
#include "test_util.hpp"
#include "util/parallel_for.hpp"
#include "util/threads.hpp"

namespace pbit::test {
namespace {

struct Scenario {
  Graph graph;
  int32_t chains;
  std::vector<int32_t> clamp_nodes;
  std::vector<int32_t> field_nodes;
};

Scenario scenario(int32_t chains) {
  // Frustrated random 5-regular graph with biases: 3+ colors, odd cycles.
  Scenario s{with_random_weights(random_regular(60, 5, 11), 12, 0.7f, 0.4f), chains, {3, 17, 42}, {}};
  for (int32_t i = 0; i < 60; i += 3) s.field_nodes.push_back(i);
  return s;
}

/// Runs a fixed protocol (random start, clamp, field, annealing run with all observers, warm start,
/// second run) and returns everything observable.
struct Trace {
  std::vector<int8_t> state0, state1, state2;
  Observations obs1, obs2;
};

Trace run_protocol(SamplerOptions opt, int32_t chains, int threads = 0) {
  const Scenario sc = scenario(chains);
  const int32_t n = sc.graph.num_nodes();
  opt.seed = 0xC0FFEEull << 20;
  opt.num_threads = threads;
  Sampler s(sc.graph, chains, opt);
  Trace t;
  t.state0 = s.state();
  std::vector<int8_t> cv;
  for (int32_t b = 0; b < chains; ++b)
    for (size_t q = 0; q < sc.clamp_nodes.size(); ++q) cv.push_back(((b + q) % 3) ? 1 : -1);
  s.set_clamp(sc.clamp_nodes, cv);
  std::vector<float> fv;
  for (int32_t b = 0; b < chains; ++b)
    for (size_t q = 0; q < sc.field_nodes.size(); ++q) fv.push_back(0.01f * static_cast<float>((b * 7 + q * 13) % 41) - 0.2f);
  s.set_field(sc.field_nodes, fv);
  ObserverSpec spec;
  spec.moments = spec.energy = true;
  spec.readout_groups = {{0, 1, 2, 3, 4}, {10, 20, 30}};
  spec.snapshot_sweeps = {1, 7, 25};
  t.obs1 = s.run({5, 10, 2}, BetaSchedule::linear(0.1f, 1.3f, 25), spec);
  t.state1 = s.state();
  // Warm start from a permuted state, new weights, field cleared.
  std::vector<int8_t> warm(t.state1.rbegin(), t.state1.rend());
  s.set_state(warm);
  s.clear_field();
  Graph g2 = with_random_weights(sc.graph, 99, 0.5f, 0.1f);
  s.set_weights(g2.edge_weights(), g2.biases());
  spec.snapshot_sweeps = {3, 12};
  t.obs2 = s.run({0, 4, 3}, BetaSchedule::constant(0.8f), spec);
  t.state2 = s.state();
  (void)n;
  return t;
}

void expect_same(const Trace& a, const Trace& b) {
  EXPECT_EQ(a.state0, b.state0) << "random initial state";
  EXPECT_EQ(a.state1, b.state1) << "state after the first run";
  EXPECT_EQ(a.state2, b.state2) << "state after the warm-started second run";
  for (const auto* p : {&a.obs1, &a.obs2}) {
    const Observations& x = *p;
    const Observations& y = p == &a.obs1 ? b.obs1 : b.obs2;
    EXPECT_EQ(x.node_sum, y.node_sum);
    EXPECT_EQ(x.edge_sum, y.edge_sum);
    EXPECT_EQ(x.energy, y.energy);
    EXPECT_EQ(x.readout_sum, y.readout_sum);
    EXPECT_EQ(x.snapshots, y.snapshots);
  }
}

class BackendTest : public ::testing::TestWithParam<Backend> {};

SamplerOptions on(Backend b) {
  SamplerOptions o;
  o.backend = b;
  return o;
}

/// The RNG contracts (rng.hpp): every backend must match the reference under each.
const RngContract kContracts[] = {RngContract::exact, RngContract::fast};

SamplerOptions on(Backend b, RngContract c) {
  SamplerOptions o = on(b);
  o.contract = c;
  return o;
}

TEST_P(BackendTest, BitIdenticalToReference) {
  PBIT_REQUIRE_BACKEND(GetParam());
  for (const RngContract contract : kContracts) {
    SCOPED_TRACE("contract " + to_string(contract));
    for (int32_t chains : {1, 17, 64, 100}) {  // 17: not a multiple of any vector or warp width
      SCOPED_TRACE("chains=" + std::to_string(chains));
      const Trace ref = run_protocol(on(Backend::reference, contract), chains);
      for_each_variant(GetParam(), on(GetParam(), contract), [&](const SamplerOptions& o) { expect_same(ref, run_protocol(o, chains)); });
    }
  }
}

// No two chains, nodes or sweeps may draw the same random bits, under either contract: on a graph
// without couplings (every update a fair coin), any two chains must differ, and any two nodes, or a
// node at two sweeps, must agree in about half of the chains. Sharing bits (a counter without the
// chain, two nodes on one 16-bit half, ...) makes them agree always.
TEST_P(BackendTest, NoTwoChainsNodesOrSweepsShareRandomBits) {
  PBIT_REQUIRE_BACKEND(GetParam());
  const int32_t n = 96, chains = 2048;
  const Graph g = Graph::from_edges(n, {});
  const double tol = 6.0 * 0.5 / std::sqrt(static_cast<double>(chains));  // 6 sigma of a fair agreement rate
  for (const RngContract contract : kContracts) {
    SCOPED_TRACE("contract " + to_string(contract));
    for_each_variant(GetParam(), on(GetParam(), contract), [&](const SamplerOptions& o) {
      Sampler s(g, chains, o);
      s.sweep(1);
      const std::vector<int8_t> a = s.state();
      s.sweep(1);
      const std::vector<int8_t> b = s.state();
      std::set<std::vector<int8_t>> rows;
      for (int32_t c = 0; c < chains; ++c) rows.insert(std::vector<int8_t>(a.begin() + c * n, a.begin() + (c + 1) * n));
      EXPECT_EQ(rows.size(), static_cast<size_t>(chains)) << "two chains drew the same bits";
      double worst = 0;
      for (int32_t i = 0; i < n; ++i) {
        for (int32_t j = i; j < n; ++j) {
          int32_t agree = 0;  // node i against node j at one sweep; node i at two sweeps (j == i)
          for (int32_t c = 0; c < chains; ++c) agree += i == j ? a[c * n + i] == b[c * n + i] : a[c * n + i] == a[c * n + j];
          worst = std::max(worst, std::fabs(agree / static_cast<double>(chains) - 0.5));
        }
      }
      EXPECT_LT(worst, tol) << "two nodes, or two sweeps of a node, move together";
    });
  }
}

// Every update decided at its boundary: for each chain and node of a graph without couplings, the
// field is bisected (over the floats in order, on the reference) to two neighbouring floats at which
// the reference's decision goes from -1 to +1, and every backend and instruction-set path must decide
// both alike. In the bit-identity tests about one update in 10^6 falls that near its threshold, so a
// vector exp a few ulp off the scalar contract (a dropped Cody-Waite term) passed them all; here
// nearly every update sits on its threshold.
TEST_P(BackendTest, DecisionsAtTheirThresholdMatchTheReference) {
  PBIT_REQUIRE_BACKEND(GetParam());
  const int32_t n = 256, chains = 40;  // 40: two full 16-lane blocks and a partial one, one full 32-chain word and a partial one
  const Graph g = Graph::from_edges(n, {});
  std::vector<int32_t> nodes(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) nodes[static_cast<size_t>(i)] = i;
  const auto order = [](float f) {  // the floats in order, as integers
    const uint32_t b = detail::float_to_bits(f);
    return (b >> 31) ? -static_cast<int64_t>(b & 0x7fffffffu) : static_cast<int64_t>(b);
  };
  const auto from_order = [](int64_t k) {
    return k < 0 ? detail::bits_to_float(static_cast<uint32_t>(-k) | 0x80000000u) : detail::bits_to_float(static_cast<uint32_t>(k));
  };
  const auto decide = [&](const SamplerOptions& o, const std::vector<float>& field) {
    Sampler s(g, chains, o);
    s.set_field(nodes, field);
    s.run({0, 1, 1}, BetaSchedule::constant(0.7f), ObserverSpec{});
    return s.state();
  };
  for (const RngContract contract : kContracts) {
    SCOPED_TRACE("contract " + to_string(contract));
    SamplerOptions ref = on(Backend::reference, contract);
    ref.seed = 0xB0B;
    const size_t m = static_cast<size_t>(n) * chains;
    std::vector<int64_t> lo(m, order(-20.0f)), hi(m, order(20.0f));  // -1 at lo, +1 at hi (but where u = 0 or ~1)
    std::vector<float> field(m);
    for (bool open = true; open;) {
      open = false;
      for (size_t k = 0; k < m; ++k) field[k] = from_order(lo[k] + (hi[k] - lo[k]) / 2);
      const std::vector<int8_t> up = decide(ref, field);
      for (size_t k = 0; k < m; ++k) {
        if (hi[k] - lo[k] <= 1) continue;
        (up[k] > 0 ? hi[k] : lo[k]) = lo[k] + (hi[k] - lo[k]) / 2;
        open = open || hi[k] - lo[k] > 1;
      }
    }
    std::vector<float> below(m), above(m);
    for (size_t k = 0; k < m; ++k) below[k] = from_order(lo[k]), above[k] = from_order(hi[k]);
    const std::vector<int8_t> want_below = decide(ref, below), want_above = decide(ref, above);
    int64_t thresholds = 0;
    for (size_t k = 0; k < m; ++k) thresholds += want_below[k] < 0 && want_above[k] > 0;
    EXPECT_GT(thresholds, static_cast<int64_t>(m) - 3) << "the bisection found too few thresholds";
    for_each_variant(GetParam(), on(GetParam(), contract), [&](SamplerOptions o) {
      o.seed = ref.seed;
      for (const auto& [at, want, where] : {std::tuple{&below, &want_below, "just below"}, {&above, &want_above, "just above"}}) {
        const std::vector<int8_t> got = decide(o, *at);
        int64_t differ = 0;
        size_t first = m;
        for (size_t k = 0; k < m; ++k) {
          if (got[k] == (*want)[k]) continue;
          ++differ;
          first = std::min(first, k);
        }
        EXPECT_EQ(differ, 0) << "of " << m << " updates " << where << " the reference's thresholds; the first: chain " << first / n
                             << ", node " << first % n << ", field " << (first < m ? (*at)[first] : 0.0f);
      }
    });
  }
}

// randomize_state() draws at the chains' sweep count (rng::init_counter): an EqProp batch or a resumed
// lease gets fresh chains, not the first batch's again; the same sweep count gives the same draw,
// and every backend draws the reference's spins.
TEST_P(BackendTest, RandomStatesAreKeyedByTheSweepCount) {
  PBIT_REQUIRE_BACKEND(GetParam());
  const Graph g = with_random_weights(square_lattice(6), 8, 0.6f, 0.2f);
  const int32_t chains = 100;
  Sampler ref(g, chains, on(Backend::reference));
  const std::vector<int8_t> ref0 = ref.state();
  ref.set_sweep_count(70000);
  ref.randomize_state();
  const std::vector<int8_t> ref1 = ref.state();
  size_t same = 0;
  for (size_t k = 0; k < ref0.size(); ++k) same += ref0[k] == ref1[k];
  const double n = static_cast<double>(ref0.size());
  EXPECT_LT(std::fabs(same / n - 0.5), 6.0 * 0.5 / std::sqrt(n)) << "a later draw repeats the first";
  for_each_variant(GetParam(), on(GetParam()), [&](const SamplerOptions& o) {
    Sampler s(g, chains, o);
    EXPECT_EQ(s.state(), ref0);
    s.sweep(3);
    s.set_sweep_count(70000);
    s.randomize_state();
    EXPECT_EQ(s.state(), ref1);
    s.sweep(2);
    s.set_sweep_count(0);
    s.randomize_state();
    EXPECT_EQ(s.state(), ref0);
  });
}

// The initial states are keyed by the sampler's Gibbs stream too (rng::init_counter's fourth word,
// stream ^ kGibbs): a model's samplers on different streams with one seed start from different
// states, on every backend as on the reference, while the default stream keeps the counter
// (chain, node / 4, sweep, 0) of samplers from before the stream was keyed.
TEST_P(BackendTest, RandomStatesAreKeyedByTheStream) {
  PBIT_REQUIRE_BACKEND(GetParam());
  const Graph g = with_random_weights(square_lattice(6), 8, 0.6f, 0.2f);
  const int32_t chains = 100;
  SamplerOptions other = on(Backend::reference);
  other.stream = rng::kTest;
  Sampler ref(g, chains, on(Backend::reference)), ref_other(g, chains, other);
  const std::vector<int8_t> ref0 = ref.state(), ref_s = ref_other.state();
  const int32_t n = g.num_nodes();
  const rng::Key key = rng::make_key(on(Backend::reference).seed, rng::kInitState);
  for (int32_t b = 0; b < chains; ++b)
    for (int32_t i = 0; i < n; ++i) {
      const rng::Block blk = rng::philox4x32_10(rng::Counter{static_cast<uint32_t>(b), static_cast<uint32_t>(i) >> 2, 0u, 0u}, key);
      ASSERT_EQ(ref0[static_cast<size_t>(b) * n + i], rng::init_spin(blk, static_cast<uint32_t>(i))) << "chain " << b << ", node " << i;
    }
  size_t same = 0;
  for (size_t k = 0; k < ref0.size(); ++k) same += ref0[k] == ref_s[k];
  const double total = static_cast<double>(ref0.size());
  EXPECT_LT(std::fabs(same / total - 0.5), 6.0 * 0.5 / std::sqrt(total)) << "two streams start from the same states";
  for_each_variant(GetParam(), on(GetParam()), [&](SamplerOptions o) {
    o.stream = rng::kTest;
    Sampler s(g, chains, o);
    EXPECT_EQ(s.state(), ref_s);
    s.sweep(2);
    s.set_sweep_count(0);
    s.randomize_state();
    EXPECT_EQ(s.state(), ref_s);
  });
}

TEST_P(BackendTest, SplitRunEqualsOneRun) {
  PBIT_REQUIRE_BACKEND(GetParam());
  const Graph g = with_random_weights(square_lattice(6), 5, 0.6f, 0.2f);
  SamplerOptions base;
  base.seed = 77;
  base.contract = RngContract::fast;  // the exact contract's split runs are covered by the model tests
  for_each_variant(GetParam(), base, [&](const SamplerOptions& opt) {
  Sampler a(g, 33, opt), b(g, 33, opt);
  a.sweep(20, BetaSchedule::constant(0.7f));
  b.sweep(7, BetaSchedule::constant(0.7f));
  b.sweep(13, BetaSchedule::constant(0.7f));
  EXPECT_EQ(a.sweep_count(), 20u);
  EXPECT_EQ(a.state(), b.state());
  // Resume from a checkpoint (state + sweep count) in a fresh sampler.
  Sampler c(g, 33, opt);
  c.set_state(b.state());
  c.set_sweep_count(b.sweep_count());
  a.sweep(5, BetaSchedule::constant(0.7f));
  c.sweep(5, BetaSchedule::constant(0.7f));
  EXPECT_EQ(a.state(), c.state());
  });
}

// A sampler made on one thread, used on fresh ones and destroyed on yet another gives the chains it
// gives on one thread. On cuda a fresh thread has no current context: each call's DeviceGuard takes
// the sampler's device there (its branch for a thread without a context, which the emulator
// compiles out, so only a GPU run tests it; helper-111).
TEST_P(BackendTest, ASamplerUsedFromFreshThreadsGivesItsChains) {
  PBIT_REQUIRE_BACKEND(GetParam());
  const Graph g = with_random_weights(square_lattice(6), 6, 0.6f, 0.2f);
  SamplerOptions base;
  base.seed = 91;
  ObserverSpec spec;
  spec.moments = spec.energy = true;
  spec.snapshot_sweeps = {2, 6};
  for_each_variant(GetParam(), base, [&](const SamplerOptions& opt) {
    auto steps = [&](Sampler& s, int part) {
      if (part == 0) {
        s.set_clamp(std::vector<int32_t>{0, 7}, std::vector<int8_t>{1, -1});
        s.sweep(5, BetaSchedule::constant(0.6f));
      }
      if (part == 1) return s.run({2, 3, 2}, BetaSchedule::linear(0.2f, 1.1f, 8), spec);
      return Observations{};
    };
    Sampler one(g, 45, opt);
    steps(one, 0);
    const Observations want = steps(one, 1);
    std::unique_ptr<Sampler> moved;
    std::thread([&] { moved = std::make_unique<Sampler>(g, 45, opt); }).join();  // made on a fresh thread
    std::thread([&] { steps(*moved, 0); }).join();
    Observations got;
    std::thread([&] { got = steps(*moved, 1); }).join();
    std::vector<int8_t> state;
    std::thread([&] { state = moved->state(); }).join();
    EXPECT_EQ(state, one.state());
    EXPECT_EQ(got.node_sum, want.node_sum);
    EXPECT_EQ(got.edge_sum, want.edge_sum);
    EXPECT_EQ(got.energy, want.energy);
    EXPECT_EQ(got.snapshots, want.snapshots);
    std::thread([&] { moved.reset(); }).join();  // and destroyed on another
  });
}

TEST_P(BackendTest, ProgressCallsChangeNothingAndCanStopARun) {
  PBIT_REQUIRE_BACKEND(GetParam());
  const Graph g = with_random_weights(square_lattice(6), 5, 0.6f, 0.2f);
  SamplerOptions opt;
  opt.backend = GetParam();
  opt.seed = 21;
  ObserverSpec spec;
  spec.moments = true;
  spec.energy = true;
  spec.snapshot_sweeps = {37, 250};
  const SamplingSchedule sched{50, 20, 10};  // 250 sweeps
  Sampler a(g, 19, opt), b(g, 19, opt);
  std::vector<std::pair<int64_t, int64_t>> calls;
  b.set_progress([&](int64_t done, int64_t total) { calls.emplace_back(done, total); });
  const Observations oa = a.run(sched, BetaSchedule::linear(0.1f, 0.8f, 60), spec);
  const Observations ob = b.run(sched, BetaSchedule::linear(0.1f, 0.8f, 60), spec);
  EXPECT_EQ(oa.node_sum, ob.node_sum);
  EXPECT_EQ(oa.edge_sum, ob.edge_sum);
  EXPECT_EQ(oa.energy, ob.energy);
  EXPECT_EQ(oa.snapshots, ob.snapshots);
  EXPECT_EQ(a.state(), b.state());
  ASSERT_GE(calls.size(), 125u);  // stretches of at most 2 sweeps (1% of 250, rounded down), cut at the observations too
  EXPECT_LE(calls.size(), 150u);
  for (size_t k = 1; k < calls.size(); ++k) {
    EXPECT_LT(calls[k - 1].first, calls[k].first);
    EXPECT_LE(100 * (calls[k].first - calls[k - 1].first), 250) << "a stretch past 1% of the run, after " << calls[k - 1].first;
  }
  EXPECT_EQ(calls.back(), std::make_pair(int64_t{250}, int64_t{250}));
  // A callback that throws ends the run there; the chains and sweep count hold the sweeps done, and
  // the rest of the run continues them exactly.
  Sampler c(g, 19, opt), d(g, 19, opt);
  c.sweep(100, BetaSchedule::constant(0.6f));
  d.set_progress([](int64_t done, int64_t) {
    if (done >= 40) throw std::runtime_error("stop");
  });
  EXPECT_THROW(d.sweep(100, BetaSchedule::constant(0.6f)), std::runtime_error);
  EXPECT_EQ(d.sweep_count(), 40u);
  d.set_progress({});
  d.sweep(60, BetaSchedule::constant(0.6f));
  EXPECT_EQ(c.state(), d.state());
  // and the next observed run on it is whole
  ObserverSpec energy_only;
  energy_only.energy = true;
  EXPECT_EQ(d.run({0, 3, 1}, BetaSchedule::constant(0.6f), energy_only).energy.size(), 3u * 19u);
  // An interrupt check only (every_percent false: the Python module without a callback) is not
  // called at every 1%: a quick run is a first stretch of 8 sweeps and then about a quarter second's
  // worth, here the rest (250 sweeps of a 36-node lattice take far less on any backend).
  Sampler e(g, 19, opt), f(g, 19, opt);
  int64_t checks = 0;
  e.set_progress([&](int64_t, int64_t) { ++checks; }, false);
  e.sweep(250, BetaSchedule::constant(0.6f));
  f.sweep(250, BetaSchedule::constant(0.6f));
  EXPECT_EQ(e.state(), f.state());
  EXPECT_GE(checks, 1);
  EXPECT_LE(checks, 4);
}

TEST_P(BackendTest, StateViewIsTheStateWhereTheBackendKeepsIt) {
  PBIT_REQUIRE_BACKEND(GetParam());
  const Graph g = with_random_weights(square_lattice(5), 5, 0.6f, 0.2f);
  SamplerOptions base;
  base.seed = 8;
  // Every path: on cuda the fast kernel too, whose state is in bit words until it is exported.
  for_each_variant(GetParam(), base, [&](const SamplerOptions& opt) {
    // Read as a consumer on another stream would: on cuda through the legacy default stream, which
    // does not wait for the engine's non-blocking stream, so the view must be ready when it is given.
    const auto read = [&](const Sampler::StateView& v) {
      std::vector<int8_t> got(static_cast<size_t>(v.chains) * v.nodes);
      EXPECT_EQ(v.on_device, GetParam() == Backend::cuda);
      if (v.on_device) {
        EXPECT_GE(v.device, 0);
        detail::cuda_download(v.data, got.data(), got.size());
      } else {
        std::copy_n(v.data, got.size(), got.begin());
      }
      return got;
    };
    Sampler::StateView v;
    std::vector<int8_t> expected, at_once;
    {
      Sampler s(g, 37, opt);
      s.sweep(9, BetaSchedule::constant(0.7f));
      v = s.state_view();
      EXPECT_EQ(v.chains, 37);
      EXPECT_EQ(v.nodes, 25);
      ASSERT_NE(v.data, nullptr);
      at_once = read(v);  // before anything else touches the sampler
      expected = s.state();
      s.sweep(3);  // a snapshot: later sweeps leave the view as it was
    }  // and the view outlives its sampler
    EXPECT_EQ(at_once, expected);
    EXPECT_EQ(read(v), expected);
  });
}

// state_rows (parallel tempering's read of its target replicas): exactly those rows of state(), on
// every path (on cuda a gather on the device, from int8 state or from the fast kernel's bit words).
TEST_P(BackendTest, StateRowsAreThoseRowsOfTheState) {
  PBIT_REQUIRE_BACKEND(GetParam());
  const Graph g = with_random_weights(square_lattice(5), 5, 0.6f, 0.2f);
  SamplerOptions base;
  base.seed = 9;
  for_each_variant(GetParam(), base, [&](const SamplerOptions& opt) {
    Sampler s(g, 37, opt);
    s.sweep(7, BetaSchedule::constant(0.7f));
    const std::vector<int8_t> all = s.state();
    const size_t N = 25;
    for (const auto& [first, stride, count] : std::vector<std::tuple<int32_t, int32_t, int32_t>>{{0, 4, 10}, {3, 5, 7}, {36, 1, 1}, {0, 1, 37}, {5, 2, 0}}) {
      SCOPED_TRACE(std::to_string(first) + " " + std::to_string(stride) + " " + std::to_string(count));
      std::vector<int8_t> want;
      for (int32_t k = 0; k < count; ++k) {
        const auto row = all.begin() + static_cast<ptrdiff_t>((first + static_cast<size_t>(k) * stride) * N);
        want.insert(want.end(), row, row + static_cast<ptrdiff_t>(N));
      }
      EXPECT_EQ(s.state_rows(first, stride, count), want);
    }
    EXPECT_EQ(s.state(), all);  // reading rows changes nothing
    for (const auto& [first, stride, count] : std::vector<std::tuple<int32_t, int32_t, int32_t>>{{0, 4, 11}, {-1, 1, 1}, {0, 0, 2}, {37, 1, 1}, {0, 1, -1}}) {
      EXPECT_THROW(s.state_rows(first, stride, count), InvalidArgument) << first << " " << stride << " " << count;
    }
  });
}

TEST_P(BackendTest, SeedsAndStreamsGiveDifferentChains) {
  PBIT_REQUIRE_BACKEND(GetParam());
  const Graph g = with_random_weights(square_lattice(5), 5, 0.3f);
  SamplerOptions o1, o2, o3;
  o1.backend = o2.backend = o3.backend = GetParam();
  o1.seed = 1;
  o2.seed = 2;
  o3.seed = 1;
  o3.stream = rng::kGibbs + 1000;
  SamplerOptions o4 = o1;
  o4.contract = RngContract::fast;
  Sampler a(g, 8, o1), b(g, 8, o2), c(g, 8, o3), d(g, 8, o4);
  for (Sampler* s : {&a, &b, &c, &d}) s->sweep(3);
  EXPECT_NE(a.state(), b.state());
  EXPECT_NE(a.state(), c.state());
  EXPECT_NE(a.state(), d.state());  // the two contracts draw differently
  // Chains of one sampler differ from each other (chain id is in the counter).
  const std::vector<int8_t> st = a.state();
  EXPECT_NE(std::vector<int8_t>(st.begin(), st.begin() + 25), std::vector<int8_t>(st.begin() + 25, st.begin() + 50));
}

// Chains enough that the protocol's regions (a sweep, an observation) are worth three threads: a
// region of less work runs on fewer (detail::threads_for), and would test nothing here.
constexpr int32_t kWideChains = 1024;
bool wide_enough(int threads) {
  const Scenario sc = scenario(kWideChains);
  const double units = static_cast<double>(kWideChains) * (sc.graph.num_nodes() + sc.graph.num_edges());
  return detail::threads_for(units, [&] { return threads; }) == threads;
}

TEST_P(BackendTest, ThreadCountDoesNotChangeResults) {
  PBIT_REQUIRE_BACKEND(GetParam());
  if (GetParam() == Backend::cuda) GTEST_SKIP() << "num_threads is a host option";
  ASSERT_TRUE(wide_enough(3)) << "the scenario's regions run on fewer threads than asked";
  for (const RngContract contract : kContracts) {
    SCOPED_TRACE("contract " + to_string(contract));
    for_each_variant(GetParam(), on(GetParam(), contract), [&](const SamplerOptions& o) {
      const Trace one = run_protocol(o, kWideChains, 1);
      expect_same(one, run_protocol(o, kWideChains, 2));
      expect_same(one, run_protocol(o, kWideChains, 3));  // blocks that do not split evenly
    });
  }
  expect_same(run_protocol(on(GetParam()), 80, 1), run_protocol(on(GetParam()), 80, 2));  // a small run: one thread whatever asked
  // set_state over 4096 chains x 60 nodes (a copy: a unit a spin), wide enough for two threads.
  const Scenario sc = scenario(4096);
  ASSERT_EQ(detail::threads_for(4096.0 * sc.graph.num_nodes(), [] { return 2; }), 2);
  std::vector<int8_t> x(static_cast<size_t>(4096) * sc.graph.num_nodes());
  for (size_t k = 0; k < x.size(); ++k) x[k] = (k * 2654435761u >> 7) % 3 ? 1 : -1;
  SamplerOptions two = on(GetParam());
  two.num_threads = 2;
  Sampler s(sc.graph, 4096, two);
  s.set_state(x);
  EXPECT_EQ(s.state(), x);
}

// A sampler used on a thread of the caller's own OpenMP team observes all its chains: run inline,
// the observation's orphaned loops bound to the caller's team, and each thread summed only its share
// of its own sampler's blocks (samplers 1-3 of 4 read node_sum[0] 0; helper-107).
TEST_P(BackendTest, SamplersOnTheThreadsOfTheCallersOpenMpTeamGiveTheirSerialResults) {
  PBIT_REQUIRE_BACKEND(GetParam());
  if (GetParam() == Backend::cuda) GTEST_SKIP() << "a host backend's threads";
  constexpr int kTeam = 3;
  const Trace serial = run_protocol(on(GetParam()), 64, 1);
  std::vector<Trace> traces(kTeam);
  int team = 0;
#pragma omp parallel num_threads(kTeam)
  {
#pragma omp single
    team = omp_get_num_threads();
    traces[static_cast<size_t>(omp_get_thread_num())] = run_protocol(on(GetParam()), 64, 1);
  }
  ASSERT_EQ(team, kTeam) << "OpenMP gave the caller's region fewer threads: nothing tested";
  for (int k = 0; k < kTeam; ++k) {
    SCOPED_TRACE("thread " + std::to_string(k));
    expect_same(serial, traces[static_cast<size_t>(k)]);
  }
}

// How many threads a region is worth: one below 2 * kUnitsPerThread units of work, then one per
// kUnitsPerThread, at most what may run; the bound is not asked of OpenMP for a small region.
TEST(ThreadsFor, GrowsWithTheWorkUpToTheThreadsThatMayRun) {
  const double k = detail::kUnitsPerThread;
  int asked = 0;
  auto most = [&](int m) {
    return [&asked, m] {
      ++asked;
      return m;
    };
  };
  EXPECT_EQ(detail::threads_for(0, most(8)), 1);
  EXPECT_EQ(detail::threads_for(2 * k - 1, most(8)), 1);
  EXPECT_EQ(asked, 0) << "a small region asked OpenMP for its thread count";
  EXPECT_EQ(detail::threads_for(2 * k, most(8)), 2);
  EXPECT_EQ(detail::threads_for(5.5 * k, most(8)), 5);
  EXPECT_EQ(detail::threads_for(1e30, most(8)), 8);
  EXPECT_EQ(detail::threads_for(5.5 * k, most(3)), 3);
  EXPECT_EQ(detail::threads_for(2 * k, most(1)), 1);
  EXPECT_EQ(detail::threads_for(std::nan(""), most(8)), 1);
}

// A thread count past 4 per core is not started: under a memory limit --threads 1200 ended in
// libgomp's "Thread creation failed" (exit 1). The chains are those of one thread.
TEST_P(BackendTest, AHugeThreadRequestRunsOnAtMostFourThreadsACore) {
  PBIT_REQUIRE_BACKEND(GetParam());
  if (GetParam() == Backend::cuda) GTEST_SKIP() << "a host backend's threads";
  const int most = 4 * std::max(1, omp_get_num_procs());
  EXPECT_EQ(detail::omp_threads(100000, false), most);
  EXPECT_EQ(detail::omp_threads(1, false), 1);
  auto opts = [&](int threads) {
    SamplerOptions o = on(GetParam());
    o.num_threads = threads;
    return o;
  };
  const Graph g = with_random_weights(square_lattice(6), 3, 0.5f, 0.2f);
  const int32_t chains = 16 * most;  // a 16-chain block per thread: the cpu backend runs no more threads than blocks
  Sampler one(g, color_graph(g), chains, opts(1)), many(g, color_graph(g), chains, opts(100000));
  if (GetParam() == Backend::cpu) {
    EXPECT_NE(many.kernel_description().find("(" + std::to_string(most) + " threads"), std::string::npos) << many.kernel_description();
    Sampler few(g, color_graph(g), 20, opts(100000));  // two blocks
    EXPECT_NE(few.kernel_description().find("cpu (2 threads"), std::string::npos) << few.kernel_description();
  }
  if (GetParam() == Backend::packed && most > 1) {  // one team of 32 x words-per-lane chains: one thread (helper-122)
    Sampler few(g, color_graph(g), 20, opts(100000));
    EXPECT_NE(few.kernel_description().find(" 1 thread)"), std::string::npos) << few.kernel_description();
  }
  one.sweep(20, BetaSchedule::constant(0.7f));
  many.sweep(20, BetaSchedule::constant(0.7f));
  EXPECT_EQ(one.state(), many.state());
}

// libgomp's worker threads do not survive fork: a forked child (Python's multiprocessing, by
// default) that entered a parallel region with more than one thread waited for them forever. pbit
// runs one thread there, with the same chains as the parent gets.
TEST_P(BackendTest, AForkedChildRunsAndGetsTheSameChains) {
  PBIT_REQUIRE_BACKEND(GetParam());
  if (GetParam() == Backend::cuda) GTEST_SKIP() << "a host backend's threads";
  ASSERT_TRUE(wide_enough(2));
  const Trace parent = run_protocol(on(GetParam()), kWideChains, 2);
  run_protocol(on(Backend::cpu), kWideChains, 2);  // the parent's OpenMP threads are started (the reference backend is serial)
  EXPECT_FALSE(detail::in_forked_child());
  std::fflush(nullptr);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    alarm(60);  // a hang ends the child by SIGALRM, which the parent reports
    const Trace child = run_protocol(on(GetParam()), kWideChains, 2);
    const bool same = child.state2 == parent.state2 && child.obs2.node_sum == parent.obs2.node_sum && detail::in_forked_child() &&
                      detail::omp_threads(2) == 1;
    _exit(same ? 0 : 3);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_FALSE(WIFSIGNALED(status)) << "the child was killed by signal " << WTERMSIG(status) << " (SIGALRM: it hung)";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "3: the child's chains differ from the parent's";
}

TEST_P(BackendTest, LargeGraphMatchesReference) {
  PBIT_REQUIRE_BACKEND(GetParam());
  // Pegasus-sized degree-15 graph, a few sweeps, 40 chains (one full and one partial 32-chain word,
  // two full and one partial 16-lane block): the vectorised and bit-packed paths on realistic rows.
  const Graph g = with_random_weights(random_regular(4264, 15, 3), 4, 0.25f, 0.1f);
  SamplerOptions r;
  r.backend = Backend::reference;
  r.seed = 5;
  const Coloring col = color_graph(g);
  for (const RngContract contract : kContracts) {
    SCOPED_TRACE("contract " + to_string(contract));
    r.contract = contract;
    Sampler a(g, col, 40, r);
    a.sweep(3);
    const std::vector<int8_t> want = a.state();
    for_each_variant(GetParam(), r, [&](const SamplerOptions& c) {
      Sampler b(g, col, 40, c);
      b.sweep(3);
      EXPECT_EQ(want, b.state());
    });
  }
}

TEST(CpuIsa, PathsAreNamedAndChosen) {
  const std::vector<CpuIsa> isas = available_cpu_isas();
  ASSERT_FALSE(isas.empty());
  EXPECT_EQ(isas.back(), CpuIsa::generic);  // widest first; the generic path always runs
  for (CpuIsa isa : isas) {
    SamplerOptions o;
    o.backend = Backend::cpu;
    o.cpu_isa = isa;
    Sampler s(square_lattice(4), 20, o);
    const std::string d = s.kernel_description();
    const std::string want = isa == CpuIsa::avx512 ? "AVX-512" : isa == CpuIsa::avx2 ? "AVX2" : "";
    EXPECT_NE(d.find(want), std::string::npos) << d;
  }
  SamplerOptions o;
  o.backend = Backend::cpu;
  EXPECT_EQ(detail::resolve_cpu_isa(CpuIsa::automatic), isas.front());  // the widest by default
  setenv("PBIT_CPU_ISA", "generic", 1);
  EXPECT_EQ(detail::resolve_cpu_isa(CpuIsa::automatic), CpuIsa::generic);
  setenv("PBIT_CPU_ISA", "avx1024", 1);
  EXPECT_NE(error_of([] { detail::resolve_cpu_isa(CpuIsa::automatic); }).find("PBIT_CPU_ISA"), std::string::npos);
  unsetenv("PBIT_CPU_ISA");
  EXPECT_NE(error_of([] { cpu_isa_from_string("sse9"); }).find("expected auto, avx512, avx2 or generic"), std::string::npos);
}

// A shard (issue 23): a sampler of chains [k, k + m) with first_chain = k gives exactly chains
// k .. k + m - 1 of the whole run - initial states, updates under both contracts, per-chain fields,
// clamps and betas, on every path of every backend (the 32-chain words of the packed loop and the
// fast CUDA kernel start mid-word here), and with per-p-bit LFSRs where a backend runs them.
TEST_P(BackendTest, AShardIsThoseChainsOfTheWholeRun) {
  PBIT_REQUIRE_BACKEND(GetParam());
  const Topology t = make_topology("pegasus:2");
  const Graph g = with_random_weights(t.graph, 3, 0.6f, 0.2f);
  const int32_t B = 100, k = 37, m = 41, N = g.num_nodes();
  std::vector<float> field(static_cast<size_t>(B) * 2), betas(B);
  std::vector<int8_t> clamp(B);
  for (int32_t b = 0; b < B; ++b) {
    field[2 * b] = 0.05f * static_cast<float>(b % 9) - 0.2f, field[2 * b + 1] = 0.3f - 0.04f * static_cast<float>(b % 13);
    betas[b] = 0.6f + 0.01f * static_cast<float>(b % 50);
    clamp[b] = b % 3 ? 1 : -1;
  }
  auto run = [&](SamplerOptions o, int32_t first, int32_t count) {
    o.first_chain = static_cast<uint32_t>(first);
    Sampler s(g, t.coloring(), count, o);
    s.set_field({5, 11}, std::span<const float>(field).subspan(2 * static_cast<size_t>(first), 2 * static_cast<size_t>(count)));
    s.set_clamp({7}, std::span<const int8_t>(clamp).subspan(static_cast<size_t>(first), static_cast<size_t>(count)));
    s.set_chain_betas(std::span<const float>(betas).subspan(static_cast<size_t>(first), static_cast<size_t>(count)));
    s.sweep(9, BetaSchedule::linear(0.4f, 1.2f, 9));
    return s.state();
  };
  for (const RngContract contract : kContracts) {
    SCOPED_TRACE("contract " + to_string(contract));
    SamplerOptions ref = on(Backend::reference, contract);
    ref.seed = 12;
    const std::vector<int8_t> whole = run(ref, 0, B);
    const std::vector<int8_t> want(whole.begin() + static_cast<ptrdiff_t>(k) * N, whole.begin() + static_cast<ptrdiff_t>(k + m) * N);
    for_each_variant(GetParam(), ref, [&](const SamplerOptions& o) { EXPECT_EQ(run(o, k, m), want); });
    ref.first_chain = 0;
    EXPECT_NE(run(ref, 0, m), want);  // the offset is what makes them those chains
  }
  {  // per-p-bit LFSRs (the reference loop on the host backends; the simple CUDA kernel)
    SamplerOptions ref = on(Backend::reference);
    ref.seed = 5;
    ref.hardware.rng = "lfsr";
    ref.hardware.lfsr_steps = 4;
    ref.hardware.device_seed = 2;
    const std::vector<int8_t> whole = run(ref, 0, B);
    const std::vector<int8_t> want(whole.begin() + static_cast<ptrdiff_t>(k) * N, whole.begin() + static_cast<ptrdiff_t>(k + m) * N);
    SamplerOptions o = ref;
    o.backend = GetParam();
    if (GetParam() == Backend::cuda) o.cuda_kernel = CudaKernel::simple;
    EXPECT_EQ(run(o, k, m), want);
  }
  SamplerOptions big = on(GetParam());
  big.first_chain = 0xFFFFFFF0u;
  EXPECT_THROW(Sampler(g, 17, big), InvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(AllBackends, BackendTest, ::testing::ValuesIn(test_backends()), backend_param_name);

}  // namespace
}  // namespace pbit::test

namespace pbit::test {
namespace {

/// Philox calls per lane of one sweep of the bit-packed loop (kernels/packed_sweep.hpp) over a
/// 16 x 16 lattice (2 colors of 128 nodes: 32 groups of four each), with `team` warps per team.
int64_t packed_philox_calls(RngContract contract, int team) {
  using namespace pbit::detail;
  const Graph g = with_random_weights(square_lattice(16), 1, 0.5f);
  const Coloring c = color_graph(g);
  std::vector<int32_t> nodes, off;
  for (const auto& cls : c.classes()) {
    off.push_back(static_cast<int32_t>(nodes.size()));
    nodes.insert(nodes.end(), cls.begin(), cls.end());
  }
  off.push_back(static_cast<int32_t>(nodes.size()));
  const std::vector<uint8_t> clamped(g.num_nodes(), 0);
  const PackedGroups pg = packed_groups(nodes, off, g.row_ptr(), clamped);
  const std::vector<PackedEdge> edges = packed_edges(g.col_idx(), g.weights(), 2);
  const std::vector<int32_t> field_col(g.num_nodes(), -1);
  const float beta = 1.0f;
  PackedArgs a;
  a.n = g.num_nodes();
  a.words = 2;
  a.chains = 64;
  a.edges = edges.data();
  a.h = g.biases().data();
  a.groups = pg.groups.data();
  a.group_off = pg.offsets.data();
  a.num_colors = c.num_colors();
  a.field_col = field_col.data();
  a.betas = &beta;
  a.nsweeps = 1;
  a.key = rng::make_key(1, rng::kGibbs);
  a.contract = contract;
  std::vector<uint32_t> S(static_cast<size_t>(g.num_nodes()) * 2, 0u);
  auto lanes = std::make_unique<HostLanes<2>>();
  lanes->team_size = team;
  if (contract == RngContract::fast) {
    packed_stretch<2, RngContract::fast>(a, S.data(), 0, *lanes);
  } else {
    packed_stretch<2, RngContract::exact>(a, S.data(), 0, *lanes);
  }
  return lanes->philox_calls;
}

// The fast contract's Philox4x32-7 block serves eight ranks, two of the loop's groups of four: the
// loop hands a warp pairs of groups and keeps the block for the second, so it draws half as often.
TEST(PackedLoop, FastContractDrawsOncePerEightRanks) {
  EXPECT_EQ(packed_philox_calls(RngContract::exact, 1), 64);
  EXPECT_EQ(packed_philox_calls(RngContract::fast, 1), 32);
  EXPECT_EQ(packed_philox_calls(RngContract::exact, 3), 64);
  EXPECT_EQ(packed_philox_calls(RngContract::fast, 3), 32);
}

}  // namespace
}  // namespace pbit::test
