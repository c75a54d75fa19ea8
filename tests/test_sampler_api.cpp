// The Sampler's contract at its edges: bad input is a clear error, never a crash or a silent NaN.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "pbit/core/config.hpp"
#include "pbit/core/detail/gibbs_math.hpp"
#include "pbit/error.hpp"
#include "pbit/core/sampler.hpp"
#include "pbit/core/tempering.hpp"
#include "pbit/dist/comm.hpp"
#include "pbit/hardware/topology.hpp"
#include "test_util.hpp"

namespace pbit::test {
namespace {

const Graph& lattice() {
  static const Graph g = with_random_weights(square_lattice(4), 1, 0.5f);
  return g;
}

// The RNG contracts pinned: a fixed graph (weights and biases from a formula, no random draws), seed,
// chain count and schedule give these chains on every backend (the backend tests compare them with the
// reference) and in every release. The numbers are a 64-bit FNV-1a hash of the final B x N state. A
// change to the update rule's arithmetic (gibbs_math.hpp: exp_det's polynomial, the uniforms' bits)
// that every backend shares passes every other test; this one says that earlier runs no longer
// reproduce. If that is deliberate, pin the new numbers and say so in the commit.
TEST(SamplerApi, RngContractsArePinned) {
  std::vector<Edge> edges;
  const int32_t L = 4;
  for (int32_t r = 0; r < L; ++r)
    for (int32_t c = 0; c < L; ++c) {
      const int32_t i = r * L + c;
      if (c + 1 < L) edges.push_back({i, i + 1, 0.1f * static_cast<float>((i * 7) % 11 - 5)});
      if (r + 1 < L) edges.push_back({i, i + L, 0.1f * static_cast<float>((i * 5) % 13 - 6)});
    }
  std::vector<float> h(L * L);
  for (int32_t i = 0; i < L * L; ++i) h[static_cast<size_t>(i)] = 0.05f * static_cast<float>((i * 3) % 7 - 3);
  const Graph g = Graph::from_edges(L * L, edges, h);
  auto fnv = [](const std::vector<int8_t>& s) {
    uint64_t x = 1469598103934665603ull;
    for (int8_t v : s) x = (x ^ static_cast<uint8_t>(v)) * 1099511628211ull;
    return x;
  };
  for (const auto& [contract, pinned] : {std::pair{RngContract::exact, uint64_t{17804475212418060323ull}},
                                         std::pair{RngContract::fast, uint64_t{4463529341108492287ull}}}) {
    SamplerOptions o;
    o.backend = Backend::reference;
    o.seed = 1;
    o.contract = contract;
    Sampler s(g, 8, o);
    s.sweep(50, BetaSchedule::constant(0.7f));
    EXPECT_EQ(fnv(s.state()), pinned) << (contract == RngContract::exact ? "exact" : "fast") << " contract";
  }
  // A change of the last bits of the exponentials moves a decision once in ~1e7 updates, too rarely for
  // the chains above to show: the contracts' exponentials themselves, bit for bit, on a grid.
  uint64_t exact = 1469598103934665603ull, fast = exact;
  for (float tb : {0.05f, 0.3f, 0.7f, 1.4f, 2.0f}) {
    for (int k = -40; k <= 40; ++k) {
      const float f = 0.2f * static_cast<float>(k) + 0.013f;
      const float e = detail::boltzmann_ratio(tb, f), ef = detail::exp_fast(-tb * f);
      uint32_t be, bf;
      std::memcpy(&be, &e, 4);
      std::memcpy(&bf, &ef, 4);
      exact = (exact ^ be) * 1099511628211ull;
      fast = (fast ^ bf) * 1099511628211ull;
    }
  }
  EXPECT_EQ(exact, 5752453486380025435ull) << "exact contract: boltzmann_ratio's bits";
  EXPECT_EQ(fast, 225863635296971339ull) << "fast contract: exp_fast's bits";
}

TEST(SamplerApi, ConstructionErrors) {
  SamplerOptions o;
  o.backend = Backend::reference;
  EXPECT_NE(error_of([&] { Sampler(lattice(), 0, o); }).find("num_chains must be >= 1"), std::string::npos);
  // Near 2^31 the backends' rounding to words and blocks would overflow (before any allocation).
  EXPECT_NE(error_of([&] { Sampler(lattice(), (int32_t{1} << 30) + 1, o); }).find("at most 2^30"), std::string::npos);
  // An RNG contract that is not one (a cast integer) is refused, as a bad backend is.
  SamplerOptions bad_contract = o;
  bad_contract.contract = static_cast<RngContract>(7);
  EXPECT_NE(error_of([&] { Sampler(lattice(), 4, bad_contract); }).find("SamplerOptions::contract 7 is not an RNG contract"),
            std::string::npos);
  // A coloring of another graph.
  const Coloring other = color_graph(square_lattice(3));
  EXPECT_THROW(Sampler(lattice(), other, 4, o), InvalidColoring);
  // A coloring that is not proper for this graph names the edge.
  std::vector<int32_t> bad(16, 0);
  bad[1] = 1;
  EXPECT_THROW(Coloring(lattice(), bad), InvalidColoring);
  // What a caller gave is what an error names (helper-109: sweep(-1) named a schedule's warmup).
  Sampler s(lattice(), 4, o);
  EXPECT_NE(error_of([&] { s.sweep(-1); }).find("sweep: sweeps must be >= 0, got -1"), std::string::npos);
  EXPECT_NE(error_of([] { Sampler::state_bytes(Backend::cpu, -5, 10); }).find("chains and nodes must be >= 0"), std::string::npos);
}

// A moved-from sampler may only be assigned to or destroyed: its other calls are a clear error (they
// dereferenced a null engine: a segfault, helper-86), and it can be assigned a live one again.
TEST(SamplerApi, AMovedFromSamplerIsAClearError) {
  SamplerOptions o;
  o.backend = Backend::cpu;
  Sampler a(lattice(), 4, o);
  Sampler b(std::move(a));
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): the point of the test
  EXPECT_TRUE(b.valid());
  const std::vector<int8_t> spins(4 * 16, 1);
  const std::vector<std::pair<std::string, std::function<void()>>> calls = {
      {"state", [&] { (void)a.state(); }},
      {"sweep", [&] { a.sweep(1); }},
      {"run", [&] { (void)a.run(SamplingSchedule{1, 1, 1}); }},
      {"kernel_description", [&] { (void)a.kernel_description(); }},
      {"set_clamp", [&] { a.set_clamp({0}, std::vector<int8_t>(4, 1)); }},
      {"set_state", [&] { a.set_state(spins); }},
      {"randomize_state", [&] { a.randomize_state(); }},
      {"set_sweep_count", [&] { a.set_sweep_count(5); }},
  };
  for (const auto& [name, call] : calls) EXPECT_NE(error_of(call).find("used after it was moved from"), std::string::npos) << name;
  // Its graph, and any moved-from graph, is the empty one: a sampler of it is refused, where the
  // implicit move kept the node count beside emptied arrays and the coloring read past them (helper-95).
  EXPECT_EQ(a.graph().num_nodes(), 0);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(a.graph().row_ptr(), std::vector<int64_t>{0});
  Graph g = lattice();
  const Graph kept = std::move(g);
  EXPECT_EQ(kept.num_nodes(), 16);
  EXPECT_EQ(g.num_nodes(), 0);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(g.num_edges(), 0);
  EXPECT_EQ(g.max_degree(), 0);
  EXPECT_EQ(g.energy({}), 0.0);
  EXPECT_NE(error_of([&] { Sampler(g, 2, o); }).find("the graph has no nodes"), std::string::npos);
  EXPECT_NE(error_of([&] { Sampler(a.graph(), 2, o); }).find("the graph has no nodes"), std::string::npos);
  Graph h0 = lattice();
  h0 = std::move(g);  // a moved-from graph assigned on: the empty one
  EXPECT_EQ(h0.num_nodes(), 0);
  Graph& self = h0 = lattice();
  h0 = std::move(self);  // a self-move keeps the graph  NOLINT
  EXPECT_EQ(h0.num_nodes(), 16);
  g = kept;  // and assigned a graph again, it is that graph
  EXPECT_EQ(g.col_idx(), kept.col_idx());
  EXPECT_EQ(g.num_nodes(), 16);
  // On imperfect hardware too, whose calls read the device's arrays (emptied by the move) first.
  SamplerOptions ho = o;
  ho.hardware.gain_sigma = 0.1f;
  ho.hardware.stuck_fraction = 0.2f;
  Sampler h(lattice(), 4, ho);
  Sampler h2(std::move(h));
  const std::vector<std::pair<std::string, std::function<void()>>> hcalls = {
      {"set_clamp", [&] { h.set_clamp({0}, std::vector<int8_t>(4, 1)); }},
      {"clear_clamp", [&] { h.clear_clamp(); }},
      {"set_field", [&] { h.set_field({0}, std::vector<float>(4, 0.5f)); }},
      {"set_weights", [&] { h.set_weights(lattice().edge_weights(), lattice().biases()); }},
  };
  for (const auto& [name, call] : hcalls) EXPECT_NE(error_of(call).find("used after it was moved from"), std::string::npos) << name;
  a = std::move(b);  // assigned a live sampler, it works again
  EXPECT_TRUE(a.valid());
  a.sweep(1);
  EXPECT_EQ(a.state().size(), spins.size());
  EXPECT_NE(error_of([&] { b.sweep(1); }).find("used after it was moved from"), std::string::npos);
  TemperingOptions t;
  t.betas = TemperingOptions::geometric(1.0f, 0.5f, 3);
  TemperedSampler ta(lattice(), color_graph(lattice()), 2, t, o);
  TemperedSampler tb(std::move(ta));
  EXPECT_FALSE(ta.valid());
  EXPECT_TRUE(tb.valid());
  const std::vector<std::pair<std::string, std::function<void()>>> tcalls = {
      {"state", [&] { (void)ta.state(); }},
      {"replica_states", [&] { (void)ta.replica_states(); }},
      {"sweep", [&] { ta.sweep(1); }},
      {"run", [&] { (void)ta.run(SamplingSchedule{1, 1, 1}); }},
      {"save_state", [&] { (void)ta.save_state(); }},
      {"set_clamp", [&] { ta.set_clamp({0}, std::vector<int8_t>(2, 1)); }},
      {"kernel_description", [&] { (void)ta.kernel_description(); }},
      {"stats", [&] { (void)ta.stats(); }},  // (stale, and clear_* named pbit::Sampler: helper-109)
      {"clear_clamp", [&] { ta.clear_clamp(); }},
      {"clear_field", [&] { ta.clear_field(); }},
  };
  for (const auto& [name, call] : tcalls) EXPECT_NE(error_of(call).find("pbit::TemperedSampler used after it was moved from"), std::string::npos) << name;
  tb.sweep(1);
}

// Every option is checked on every backend (helper-95: num_threads -1 was read as the default, and
// the CUDA options were checked only where CUDA ran).
TEST(SamplerApi, OptionsAreCheckedOnEveryBackend) {
  for (const Backend b : {Backend::reference, Backend::cpu, Backend::packed}) {
    SamplerOptions o;
    o.backend = b;
    auto refused = [&](auto set) {
      SamplerOptions bad = o;
      set(bad);
      return error_of([&] { Sampler(lattice(), 4, bad); });
    };
    EXPECT_NE(refused([](SamplerOptions& x) { x.num_threads = -1; }).find("num_threads must be >= 0"), std::string::npos);
    EXPECT_NE(refused([](SamplerOptions& x) { x.device = -7; }).find("device must be a device ordinal or -1"), std::string::npos);
    EXPECT_NE(refused([](SamplerOptions& x) { x.cuda_team_warps = 99; }).find("cuda_team_warps must be 1..16"), std::string::npos);
    EXPECT_NE(refused([](SamplerOptions& x) { x.fast_words_per_lane = 3; }).find("fast_words_per_lane must be 1, 2 or 4"), std::string::npos);
    EXPECT_EQ(refused([](SamplerOptions& x) { x.num_threads = 2, x.device = 0, x.cuda_team_warps = 4, x.fast_words_per_lane = 2; }),
              "<no error>");
  }
}

TEST(SamplerApi, AnErrorMessageKeepsANulAsBackslashZero) {
  // A quoted argument with a NUL byte (from Python, or a JSON "\u0000") cut what() there.
  using namespace std::string_literals;
  EXPECT_EQ(error_of([] { backend_from_string("cu\0da"s); }), "invalid argument: unknown backend 'cu\\0da' (expected reference, cpu, cuda, packed or best)");
  EXPECT_STREQ(Error("\0a\0\0b\0"s).what(), "\\0a\\0\\0b\\0");
  EXPECT_STREQ(IoError("x\0y"s, "p", 2).what(), "I/O error: x\\0y");
}

// reason() is the message without its kind, for a caller that words the error its own way around it
// (each did it by cutting a prefix it had to know).
TEST(SamplerApi, AnErrorsReasonIsItsMessageWithoutItsKind) {
  using namespace std::string_literals;
  const InvalidArgument a("node 3 out of range");
  EXPECT_STREQ(a.what(), "invalid argument: node 3 out of range");
  EXPECT_EQ(a.reason(), "node 3 out of range");
  EXPECT_EQ(ConfigMismatch("other config").reason(), "other config");
  EXPECT_EQ(InvalidConfig("key 'x': bad").reason(), "key 'x': bad");
  EXPECT_EQ(InvalidGraph("self loop").reason(), "self loop");
  EXPECT_EQ(IoError("x\0y"s, "p", 2).reason(), "x\\0y");
  EXPECT_EQ(Error("plain").reason(), "plain");
  // A caller that did the cutting: a generator's refusal names the spec once.
  EXPECT_EQ(error_of([] { make_topology("lattice:1"); }), "invalid argument: topology 'lattice:1': square_lattice: L = 1 (a torus needs L >= 3)");
  EXPECT_EQ(error_of([] { make_topology("grid:1:G8"); }), "invalid argument: topology 'grid:1:G8': L must be in [2, 8192], got 1");
}

TEST(SamplerApi, CudaBackendAbsentIsAClearError) {
  if (backend_available(Backend::cuda)) GTEST_SKIP() << "a CUDA device is present; nothing to check";
  SamplerOptions o;
  o.backend = Backend::cuda;
  if (!backend_compiled(Backend::cuda)) {
    EXPECT_THROW(Sampler(lattice(), 4, o), NotCompiled);
  } else {
    const std::string m = error_of([&] { Sampler(lattice(), 4, o); });
    EXPECT_NE(m.find("no usable CUDA device: " + backend_unavailable_reason(Backend::cuda)), std::string::npos) << m;
    EXPECT_NE(m.find("a host backend (backend cpu, or --backend cpu where the command has it) runs the same chains"), std::string::npos) << m;
  }
  EXPECT_EQ(best_available_backend(), Backend::cpu);
}

TEST(SamplerApi, StateClampFieldErrors) {
  SamplerOptions o;
  o.backend = Backend::cpu;
  Sampler s(lattice(), 3, o);
  EXPECT_NE(error_of([&] { s.set_state(std::vector<int8_t>(47, 1)); }).find("expected B x N = 48 spins, got 47"), std::string::npos);
  std::vector<int8_t> st(48, 1);
  st[20] = 0;
  EXPECT_NE(error_of([&] { s.set_state(st); }).find("spin 20 (chain 1, node 4) is 0"), std::string::npos);
  EXPECT_NE(error_of([&] { s.set_clamp({16}, std::vector<int8_t>{1}); }).find("node index 16 out of range [0, 16)"), std::string::npos);
  EXPECT_NE(error_of([&] { s.set_clamp({1, 1}, std::vector<int8_t>{1, 1}); }).find("node 1 listed twice"), std::string::npos);
  EXPECT_NE(error_of([&] { s.set_clamp({1, 2}, std::vector<int8_t>{1, 1, 1}); }).find("expected K = 2 or B x K = 6 values, got 3"),
            std::string::npos);
  EXPECT_NE(error_of([&] { s.set_clamp({1, 2}, std::vector<int8_t>{1, 0}); }).find("set_clamp: value 0 (index 1) is not a spin; clamped spins must be -1 or +1"),
            std::string::npos);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_NE(error_of([&] { s.set_field({0, 5}, std::vector<float>{0.f, 1.f, 0.f, nan, 0.f, 0.f}); }).find("chain 1, node 5) is nan"),
            std::string::npos);
  EXPECT_NE(error_of([&] { s.set_field({}, std::vector<float>(5, 0.f)); }).find("expected M = 16 or B x M = 48"), std::string::npos);
  EXPECT_THROW(s.set_weights(std::vector<float>(3, 0.f), std::vector<float>(16, 0.f)), InvalidArgument);
  EXPECT_THROW(s.set_weights(lattice().edge_weights(), std::vector<float>(16, nan)), InvalidGraph);
}

TEST(SamplerApi, ScheduleAndObserverErrors) {
  Sampler s(lattice(), 2);
  EXPECT_NE(error_of([&] { s.run({-1, 1, 1}); }).find("warmup must be >= 0"), std::string::npos);
  EXPECT_NE(error_of([&] { s.run({0, 1, 0}); }).find("steps_per_sample must be >= 1"), std::string::npos);
  EXPECT_NE(error_of([&] { s.run({0, int64_t{1} << 62, 4}); }).find("(0 + 4611686018427387904 x 4) is more than one sampler runs"),
            std::string::npos);  // total_sweeps() would wrap to 0
  // One sweep past the counter is refused where the schedule is checked, whatever the sweeps done.
  EXPECT_NE(error_of([&] { s.run({1, 0xFFFFFFFF, 1}); })
                .find("SamplingSchedule: warmup + samples x steps_per_sample (1 + 4294967295 x 1) is more than one sampler runs (2^32 - 1 sweeps"),
            std::string::npos);
  EXPECT_NO_THROW((SamplingSchedule{1, 0x7FFFFFFF, 2}.validate()));  // exactly 2^32 - 1
  EXPECT_NE(error_of([] { BetaSchedule::constant(1.0f).expand(int64_t{1} << 50); }).find("memory"), std::string::npos);
  ObserverSpec spec;
  spec.snapshot_sweeps = {11};
  EXPECT_NE(error_of([&] { s.run({0, 10, 1}, {}, spec); }).find("snapshot sweep 11 is outside the run's sweeps 1..10"),
            std::string::npos);
  spec.snapshot_sweeps = {2, 5, 2};  // a repeat would leave one snapshot slot unfilled
  EXPECT_NE(error_of([&] { s.run({0, 10, 1}, {}, spec); }).find("snapshot sweeps must be distinct"), std::string::npos);
  spec.snapshot_sweeps = {};
  spec.readout_groups = {{0, 99}};
  EXPECT_NE(error_of([&] { s.run({0, 1, 1}, {}, spec); }).find("node index 99"), std::string::npos);
  spec.readout_groups = {{}};
  EXPECT_NE(error_of([&] { s.run({0, 1, 1}, {}, spec); }).find("readout group 0 is empty"), std::string::npos);
  spec.readout_groups = {{3}, {1, 0, 1}};
  EXPECT_NE(error_of([&] { s.run({0, 1, 1}, {}, spec); }).find("readout group 1 lists node 1 twice"), std::string::npos);
  EXPECT_NE(error_of([] { BetaSchedule::constant(std::nanf("")); }).find("beta must be finite, >= 0 and at most 1e30"), std::string::npos);
  // 2 beta past FLT_MAX is inf, and inf x 0 NaN: a free spin was sampled -1 every time.
  EXPECT_NE(error_of([] { BetaSchedule::constant(2e38f); }).find("at most 1e30"), std::string::npos);
  EXPECT_NO_THROW(BetaSchedule::constant(1e30f));
  EXPECT_NE(error_of([&] { s.set_field({0}, std::vector<float>{2e37f}); }).find("fields must be finite and at most 1e37 in magnitude"),
            std::string::npos);
  EXPECT_THROW(BetaSchedule::constant(-1.0f), InvalidArgument);
  EXPECT_THROW(BetaSchedule::per_sweep({}), InvalidArgument);
  EXPECT_THROW(BetaSchedule::linear(0.f, 1.f, 0), InvalidArgument);
  // A failed run leaves the sampler usable and its sweep count unchanged.
  EXPECT_EQ(s.sweep_count(), 0u);
  s.sweep(2);
  EXPECT_EQ(s.sweep_count(), 2u);
  // The sweep field holds 32 bits: a count past it is refused, not wrapped onto sweep 0's numbers.
  EXPECT_NE(error_of([&] { s.set_sweep_count(std::numeric_limits<uint64_t>::max() - 4); }).find("past 2^32 - 1 sweeps"), std::string::npos);
  s.set_sweep_count(0xFFFFFFFFu - 3);
  EXPECT_NE(error_of([&] { s.sweep(4); }).find("2^32 - 1 sweeps"), std::string::npos);
  s.sweep(3);
  EXPECT_EQ(s.sweep_count(), 0xFFFFFFFFu);
}

TEST(SamplerApi, BetaSchedules) {
  const BetaSchedule p = BetaSchedule::piecewise({{0.0f, 2}, {0.5f, 1}, {1.0f, 3}});
  EXPECT_EQ(p.expand(8), (std::vector<float>{0.f, 0.f, 0.5f, 1.f, 1.f, 1.f, 1.f, 1.f}));
  const BetaSchedule l = BetaSchedule::linear(0.0f, 1.0f, 5);
  EXPECT_EQ(l.expand(6), (std::vector<float>{0.f, 0.25f, 0.5f, 0.75f, 1.f, 1.f}));
  EXPECT_EQ(BetaSchedule().at(100), 1.0f);
  // after(n) is the same schedule n sweeps on, within a piece, across pieces and past the end.
  for (const BetaSchedule& b : {p, l, BetaSchedule::per_sweep({0.1f, 0.2f, 0.3f})}) {
    const std::vector<float> whole = b.expand(9);
    for (int64_t n : {0, 1, 2, 4, 7}) {
      EXPECT_EQ(b.after(n).expand(9 - n), std::vector<float>(whole.begin() + n, whole.end())) << n;
      EXPECT_EQ(b.after(2).after(n).expand(3), b.expand(2 + n, 3)) << n;
    }
  }
  // Past its end a schedule holds its last sweep's value exactly (for a falling linear schedule the
  // formula at t = 1 is not the end value in float arithmetic).
  for (const BetaSchedule& b : {BetaSchedule::linear(1.0f, 0.1f, 5), BetaSchedule::linear(2.0f, 0.7f, 9), l, p}) {
    const std::vector<float> v = b.expand(b.length() + 4);
    for (int64_t k = b.length(); k < b.length() + 4; ++k) EXPECT_EQ(v[k], v[b.length() - 1]) << k;
  }
  EXPECT_EQ(p.length(), 6);
  // Segments of 0 sweeps take no sweep: neither a first one nor a last one (which would otherwise be
  // what holds past the end).
  EXPECT_EQ(BetaSchedule::piecewise({{0.5f, 2}, {1.0f, 0}}).expand(5), std::vector<float>(5, 0.5f));
  EXPECT_EQ(BetaSchedule::piecewise({{2.0f, 0}, {0.25f, 1}, {0.75f, 2}}).expand(4), (std::vector<float>{0.25f, 0.75f, 0.75f, 0.75f}));
  EXPECT_THROW(BetaSchedule::piecewise({{0.5f, 0}}), InvalidArgument);
  EXPECT_EQ(p.after(4).length(), 2);
  // A long anneal is pieces, not a value per sweep: 2^40 sweeps cost nothing until they run.
  const BetaSchedule longer = BetaSchedule::piecewise({{0.5f, int64_t{1} << 40}, {2.0f, int64_t{1} << 40}});
  EXPECT_EQ(longer.at((int64_t{1} << 40) - 1), 0.5f);
  EXPECT_EQ(longer.at(int64_t{1} << 40), 2.0f);
  const BetaSchedule ramp = BetaSchedule::linear(0.0f, 4.0f, (int64_t{1} << 40) + 1);
  EXPECT_EQ(ramp.at(int64_t{1} << 38), 1.0f);
  EXPECT_THROW(longer.expand(int64_t{1} << 40), OutOfMemory);  // expanding it all is refused, not attempted
  EXPECT_NE(error_of([] { BetaSchedule::piecewise({{0.5f, 3}, {-1.0f, 2}}); }).find("beta at sweep 3 is -1"), std::string::npos);
  EXPECT_NE(error_of([] { BetaSchedule::linear(0.5f, NAN, 4); }).find("beta at sweep 3 is nan"), std::string::npos);
}

TEST(SamplerApi, BetaSchedulePartsRebuildIt) {
  // A schedule rebuilt from its parts (what the Python module pickles) is the same schedule, after()
  // offset included, and compares equal; another schedule does not.
  const BetaSchedule p = BetaSchedule::piecewise({{0.0f, 2}, {0.5f, 1}, {1.0f, 3}});
  for (const BetaSchedule& b : {p, p.after(3), BetaSchedule::linear(0.2f, 1.5f, 7).after(2), BetaSchedule::per_sweep({0.1f, 0.2f, 0.3f}),
                                BetaSchedule::constant(0.7f)}) {
    const BetaSchedule r = BetaSchedule::from_parts(b.per_sweep_values(), b.pieces(), b.offset());
    EXPECT_EQ(r.expand(12), b.expand(12));
    EXPECT_EQ(r.length(), b.length());
    EXPECT_TRUE(r == b);
  }
  EXPECT_FALSE(p == p.after(1));
  EXPECT_FALSE(BetaSchedule::linear(0.2f, 1.5f, 7) == BetaSchedule::linear(0.2f, 1.5f, 8));
  EXPECT_TRUE(BetaSchedule::constant(0.5f) == BetaSchedule::per_sweep({0.5f}));
  // Parts that no constructor makes are refused with what is wrong.
  using Piece = BetaSchedule::Piece;
  EXPECT_NE(error_of([] { BetaSchedule::from_parts({}, {}, 0); }).find("empty"), std::string::npos);
  EXPECT_NE(error_of([] { BetaSchedule::from_parts({0.5f}, {Piece{0, 2, 1.0f, 1.0f}}, 0); }).find("both"), std::string::npos);
  EXPECT_NE(error_of([] { BetaSchedule::from_parts({}, {Piece{1, 2, 1.0f, 1.0f}}, 0); }).find("piece 0 (start 1"), std::string::npos);
  EXPECT_NE(error_of([] { BetaSchedule::from_parts({}, {Piece{0, 2, 1.0f, 1.0f}, Piece{3, 1, 1.0f, 1.0f}}, 0); }).find("piece 1 (start 3"),
            std::string::npos);
  EXPECT_NE(error_of([] { BetaSchedule::from_parts({}, {Piece{0, 0, 1.0f, 1.0f}}, 0); }).find("piece 0"), std::string::npos);
  EXPECT_NE(error_of([] { BetaSchedule::from_parts({}, {Piece{0, std::numeric_limits<int64_t>::max(), 1.0f, 1.0f}}, 0); }).find("piece 0"),
            std::string::npos);
  EXPECT_NE(error_of([] { BetaSchedule::from_parts({0.5f}, {}, -1); }).find("offset -1"), std::string::npos);
  EXPECT_NE(error_of([] { BetaSchedule::from_parts({}, {Piece{0, 4, 0.5f, -2.0f}}, 0); }).find("beta at sweep 3 is -2"), std::string::npos);
}

TEST(SamplerApi, AScheduleRunInPiecesIsThatSchedule) {
  // s.sweep(n, beta) then s.sweep(m, beta.after(n)) gives the chains of s.sweep(n + m, beta).
  SamplerOptions o;
  o.seed = 9;
  o.backend = Backend::reference;
  const BetaSchedule beta = BetaSchedule::linear(0.1f, 2.0f, 13);
  Sampler whole(lattice(), 6, o), pieces(lattice(), 6, o);
  whole.sweep(20, beta);
  int64_t done = 0;
  for (int64_t n : {3, 1, 7, 9}) {
    pieces.sweep(n, beta.after(done));
    done += n;
  }
  EXPECT_EQ(whole.state(), pieces.state());
  Sampler other(lattice(), 6, o);
  other.sweep(20, BetaSchedule::linear(0.1f, 2.0f, 12));  // a different schedule is different chains
  EXPECT_NE(whole.state(), other.state());
}

// How MPI ranks split chains or images (docs/SCALING.md): contiguous, in rank order, sizes differing
// by at most one with the larger shares first, covering every item once.
TEST(DistShare, SplitsContiguouslyInRankOrder) {
  for (const auto& [total, ranks] : std::vector<std::pair<int64_t, int>>{{10, 3}, {9, 3}, {7, 7}, {1, 1}, {100, 8}, {5, 2}}) {
    int64_t next = 0;
    for (int r = 0; r < ranks; ++r) {
      const dist::Range g = dist::share(total, r, ranks);
      EXPECT_EQ(g.first, next) << total << " over " << ranks << ", rank " << r;
      EXPECT_EQ(g.count, total / ranks + (r < total % ranks ? 1 : 0)) << total << " over " << ranks << ", rank " << r;
      next += g.count;
    }
    EXPECT_EQ(next, total);
  }
  const dist::Range a = dist::share(10, 0, 3), c = dist::share(10, 2, 3);
  EXPECT_EQ(a.first, 0);
  EXPECT_EQ(a.count, 4);
  EXPECT_EQ(c.first, 7);
  EXPECT_EQ(c.count, 3);
  EXPECT_THROW(dist::share(2, 0, 3), InvalidArgument);  // a rank would get nothing
  const dist::Range empty = dist::share(2, 2, 3, "images", true);
  EXPECT_EQ(empty.count, 0);
  EXPECT_EQ(empty.first, 2);
  EXPECT_THROW(dist::share(10, 3, 3), InvalidArgument);
}

TEST(SamplerApi, ObservationShapesAndMeans) {
  SamplerOptions o;
  o.seed = 3;
  Sampler s(lattice(), 5, o);
  ObserverSpec spec;
  spec.moments = spec.energy = true;
  spec.readout_groups = {{0, 1}, {2}};
  spec.snapshot_sweeps = {2, 4};
  const Observations obs = s.run({1, 3, 1}, BetaSchedule::constant(0.5f), spec);
  EXPECT_EQ(obs.num_samples, 3);
  EXPECT_EQ(obs.sweeps, 4);
  EXPECT_EQ(obs.node_mean.size(), 16u);
  EXPECT_EQ(obs.edge_corr.size(), static_cast<size_t>(lattice().num_edges()));
  EXPECT_EQ(obs.energy.size(), 15u);
  EXPECT_EQ(obs.readout_mean.size(), 10u);
  EXPECT_EQ(obs.snapshots.size(), 2u * 5 * 16);
  for (size_t i = 0; i < 16; ++i) EXPECT_DOUBLE_EQ(obs.node_mean[i], obs.node_sum[i] / 15.0);
  // A group's mean is per node and sample: group {0, 1} sums 2 nodes over 3 samples.
  for (int32_t b = 0; b < 5; ++b) {
    EXPECT_DOUBLE_EQ(obs.readout_mean[2 * b], obs.readout_sum[2 * b] / (2.0 * 3));
    EXPECT_DOUBLE_EQ(obs.readout_mean[2 * b + 1], obs.readout_sum[2 * b + 1] / 3.0);
  }
  // The last snapshot (sweep 4) is the final state.
  const std::vector<int8_t> st = s.state();
  EXPECT_EQ(std::vector<int8_t>(obs.snapshots.begin() + 80, obs.snapshots.end()), st);
  for (int32_t b = 0; b < 5; ++b) {
    EXPECT_EQ(obs.energy[2 * 5 + b], lattice().energy(std::span<const int8_t>(st).subspan(b * 16, 16)));
  }
  // Written with the run's graph, and refused with another (helper-95: another graph's node count and
  // edge list were written beside these sums).
  EXPECT_EQ(observations_to_json(obs, lattice())["node_mean"].size(), 16u);
  const Graph other = square_lattice(3);
  EXPECT_NE(error_of([&] { (void)observations_to_json(obs, other); }).find("the moments are of a graph of 16 nodes and 32 edges, not of this one (9 nodes"),
            std::string::npos);
  Observations snaps_only = obs;
  snaps_only.node_sum.clear();
  EXPECT_NE(error_of([&] { (void)observations_to_json(snaps_only, other); }).find("snapshot spins are not whole states of 5 chains"),
            std::string::npos);
}

TEST(SamplerApi, ClampedNodesNeverChange) {
  SamplerOptions o;
  o.backend = Backend::cpu;
  Sampler s(lattice(), 40, o);
  std::vector<int8_t> v;
  for (int b = 0; b < 40; ++b) v.insert(v.end(), {static_cast<int8_t>(b % 2 ? 1 : -1), 1});
  s.set_clamp({5, 9}, v);
  s.sweep(10, BetaSchedule::constant(2.0f));
  s.randomize_state();
  const std::vector<int8_t> st = s.state();
  for (int b = 0; b < 40; ++b) {
    EXPECT_EQ(st[b * 16 + 5], b % 2 ? 1 : -1);
    EXPECT_EQ(st[b * 16 + 9], 1);
  }
  s.clear_clamp();
  EXPECT_TRUE(s.clamped_nodes().empty());
}

TEST(SamplerApi, ZeroBetaGivesFairCoins) {
  // beta = 0: every update is a fair coin whatever the couplings - a check on the uniform threshold.
  const Graph g = with_random_weights(square_lattice(6), 2, 3.0f, 3.0f);
  Sampler s(g, 2000);
  ObserverSpec spec;
  spec.moments = true;
  const Observations obs = s.run({1, 4, 3}, BetaSchedule::constant(0.0f), spec);
  for (double m : obs.node_mean) EXPECT_LT(std::fabs(m), 5.5 / std::sqrt(2000.0 * 4));
}

}  // namespace
}  // namespace pbit::test
