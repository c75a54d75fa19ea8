#include "pbit/core/tempering.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <sstream>

#include "pbit/core/rng.hpp"
#include "pbit/error.hpp"
#include "util/memory.hpp"
#include "util/parallel_for.hpp"
#include "util/threads.hpp"

namespace pbit {

namespace {

/// The user's options, refused on imperfect hardware.
SamplerOptions checked(const SamplerOptions& o) {
  if (!o.hardware.ideal()) {
    throw InvalidArgument("parallel tempering: the swap needs the model's energy, which a device with imperfections does not "
                          "sample; use ideal p-bits");
  }
  return o;
}

int32_t replica_chains(int32_t chains, const TemperingOptions& t, const Graph& graph, const SamplerOptions& o) {
  if (chains < 1) throw InvalidArgument("parallel tempering: num_chains must be >= 1, got " + std::to_string(chains));
  if (t.betas.size() < 2) throw InvalidArgument("parallel tempering: give at least two betas (the target and a hotter one)");
  if (static_cast<int64_t>(chains) * static_cast<int64_t>(t.betas.size()) > (int64_t{1} << 30)) {
    throw InvalidArgument("parallel tempering: chains x replicas must be at most 2^30");
  }
  const uint64_t R = t.betas.size();
  if ((static_cast<uint64_t>(o.first_chain) + static_cast<uint64_t>(chains)) * R > (uint64_t{1} << 32)) {
    throw InvalidArgument("parallel tempering: (first_chain + chains) x replicas must be at most 2^32 (the RNG counter's chain "
                          "field), got (" + std::to_string(o.first_chain) + " + " + std::to_string(chains) + ") x " + std::to_string(R));
  }
  const int32_t total = chains * static_cast<int32_t>(t.betas.size());
  // Checked here, before the sampler's own check, which would count the B R chains as the user's.
  if (graph.num_nodes() >= 1) {
    detail::check_memory(Sampler::state_bytes(o.backend, total, graph.num_nodes()) + graph_bytes(graph.num_nodes(), graph.num_edges()),
                         "parallel tempering: " + std::to_string(t.betas.size()) + " replicas x " + std::to_string(chains) + " chains (" +
                             std::to_string(total) + " sampler chains) of " + std::to_string(graph.num_nodes()) + " nodes on the " +
                             to_string(o.backend) + " backend");
  }
  return total;
}

/// The B R sampler's options: its first chain is the first replica of chain first_chain (which
/// replica_chains, evaluated first, has checked).
SamplerOptions replica_options(SamplerOptions o, const TemperingOptions& t) {
  const auto R = static_cast<uint32_t>(t.betas.size());
  o.first_chain *= R;
  return o;
}

}  // namespace

std::vector<float> TemperingOptions::geometric(float target, float hottest, int32_t replicas) {
  if (replicas < 2 || replicas > 65536) {
    throw InvalidArgument("a tempering ladder needs 2 to 65536 replicas, got " + std::to_string(replicas));
  }
  if (!(target > 0 && hottest > 0 && target <= 1e6f && hottest <= 1e6f)) {
    throw InvalidArgument("a tempering ladder's betas must be finite and > 0");
  }
  if (!(hottest < target)) {
    std::ostringstream m;  // 0.99999999 below 1 is 1 as a float: say what was compared
    m.precision(9);
    m << "a tempering ladder's hottest beta must be below its target beta, got hottest " << hottest << " and target " << target
      << " (as floats)";
    throw InvalidArgument(m.str());
  }
  std::vector<float> b(static_cast<size_t>(replicas));
  const double ratio = std::pow(static_cast<double>(hottest) / target, 1.0 / (replicas - 1));
  for (int32_t r = 0; r < replicas; ++r) b[static_cast<size_t>(r)] = static_cast<float>(target * std::pow(ratio, r));
  b.back() = hottest;
  // Rungs closer than a float's spacing round onto each other; the sampler would refuse the ladder.
  for (size_t r = 1; r < b.size(); ++r) {
    if (!(b[r] < b[r - 1])) {
      std::ostringstream ends;  // (std::to_string wrote a beta of 1e-30 as 0.000000)
      ends << target << " to " << hottest;
      throw InvalidArgument("a geometric ladder from " + ends.str() + " with " +
                            std::to_string(replicas) + " replicas has rungs closer than a float can tell apart; use fewer "
                            "replicas or a lower hottest beta");
    }
  }
  return b;
}

std::vector<double> TemperingStats::acceptance() const {
  std::vector<double> a(attempts.size(), 0.0);
  for (size_t p = 0; p < a.size(); ++p) a[p] = attempts[p] ? static_cast<double>(accepts[p]) / static_cast<double>(attempts[p]) : 0.0;
  return a;
}

uint32_t TemperedSampler::swap_stream() { return rng::tempering_stream(rng::TemperingUse::swap); }

void TemperedSampler::live() const {
  if (!sampler_.valid()) {
    throw InvalidArgument("pbit::TemperedSampler used after it was moved from: a moved-from sampler may only be assigned to or destroyed");
  }
}

namespace {
/// Swap rounds between two adaptations of the ladder (swap_round, adaptations, adaptation_sweeps).
int64_t adapt_every(const TemperingOptions& t) { return std::max<int64_t>(10, t.adapt_rounds / 5); }

/// The options checked before the B R chains are allocated.
TemperingOptions validated(TemperingOptions t) {
  for (size_t r = 0; r < t.betas.size(); ++r) {
    if (!(t.betas[r] > 0.0f && t.betas[r] <= 1e6f)) {
      std::ostringstream os;
      os << "parallel tempering: beta " << r << " is " << t.betas[r] << "; betas must be finite and in (0, 1e6]";
      throw InvalidArgument(os.str());
    }
    if (r > 0 && !(t.betas[r] < t.betas[r - 1])) {
      std::ostringstream os;
      os << "parallel tempering: the betas must decrease from the target to the hottest replica; beta " << r << " (" << t.betas[r]
         << ") is not below beta " << r - 1 << " (" << t.betas[r - 1] << ")";
      throw InvalidArgument(os.str());
    }
  }
  if (t.sweeps_per_round < 1) throw InvalidArgument("parallel tempering: sweeps_per_round must be >= 1");
  if (t.scheme != "deo" && t.scheme != "seo") {
    throw InvalidArgument("parallel tempering: scheme must be 'deo' or 'seo', got '" + t.scheme + "'");
  }
  if (t.adapt_rounds < 0 || (t.adapt_rounds > 0 && t.adapt_rounds < 10)) {  // it adapts every max(10, adapt_rounds / 5) rounds
    throw InvalidArgument("parallel tempering: adapt_rounds must be 0 (a fixed ladder) or >= 10, got " + std::to_string(t.adapt_rounds));
  }
  return t;
}
}  // namespace

TemperedSampler::TemperedSampler(const Graph& graph, const Coloring& coloring, int32_t chains, TemperingOptions tempering,
                                 SamplerOptions options)
    : graph_(graph), chains_(chains), first_(options.first_chain), opt_(validated(std::move(tempering))), options_(checked(options)),
      // Braces: replica_chains's checks (first_chain, then memory) run before replica_options.
      sampler_{graph, coloring, replica_chains(chains, opt_, graph, options_), replica_options(options_, opt_)} {
  const int32_t R = num_replicas();
  sampler_.set_chain_betas(chain_factors());
  stats_.betas = opt_.betas;
  stats_.attempts.assign(static_cast<size_t>(R - 1), 0);
  stats_.accepts.assign(static_cast<size_t>(R - 1), 0);
  window_attempts_.assign(static_cast<size_t>(R - 1), 0);
  window_accepts_.assign(static_cast<size_t>(R - 1), 0);
  reset_walkers();
}

void TemperedSampler::reset_walkers() {
  walker_.resize(opt_.betas.size() * static_cast<size_t>(chains_));
  for (size_t k = 0; k < walker_.size(); ++k) walker_[k] = static_cast<int32_t>(k);
  direction_.assign(walker_.size(), 0);
  for (int32_t b = 0; b < chains_; ++b) direction_[slot(0, b)] = 1;  // the walkers that start at the target
}

void TemperedSampler::set_weights(std::span<const float> edge_weights, std::span<const float> biases) {
  live();
  sampler_.set_weights(edge_weights, biases);  // checks them first
  graph_.set_edge_weights(edge_weights);
  graph_.set_biases(biases);
}

int64_t TemperedSampler::adaptation_sweeps(const TemperingOptions& t) {
  if (t.sweeps_per_round < 1) throw InvalidArgument("parallel tempering: sweeps_per_round must be >= 1");
  // Two replicas have no interior beta: adapt_ladder keeps both ends, so the ladder never moves
  // (every sample was counted as taken while it adapted: helper-116).
  if (t.adapt_rounds <= 0 || t.betas.size() <= 2) return 0;
  const int64_t every = adapt_every(t);
  return t.adapt_rounds / every * every * t.sweeps_per_round;
}

int64_t TemperedSampler::adaptations(const TemperingOptions& t, int64_t sweeps) {
  if (t.sweeps_per_round < 1) throw InvalidArgument("parallel tempering: sweeps_per_round must be >= 1");
  if (sweeps <= 0 || t.adapt_rounds <= 0) return 0;
  const int64_t every = adapt_every(t);
  return std::min(sweeps / t.sweeps_per_round, t.adapt_rounds) / every;
}

std::vector<float> TemperedSampler::chain_factors() const {
  const int32_t R = num_replicas();
  std::vector<float> f(static_cast<size_t>(R) * chains_);
  for (int32_t b = 0; b < chains_; ++b)
    for (int32_t r = 0; r < R; ++r) f[slot(r, b)] = opt_.betas[static_cast<size_t>(r)];
  return f;
}

std::vector<int8_t> TemperedSampler::rows(const std::vector<int8_t>& st, int32_t replica) const {
  const size_t N = static_cast<size_t>(graph_.num_nodes());
  std::vector<int8_t> out(static_cast<size_t>(chains_) * N);
  for (int32_t b = 0; b < chains_; ++b) {
    std::copy_n(st.begin() + static_cast<ptrdiff_t>(slot(replica, b) * N), N, out.begin() + static_cast<ptrdiff_t>(b * N));
  }
  return out;
}

void TemperedSampler::set_clamp(std::vector<int32_t> nodes, std::span<const int8_t> values) {
  live();
  const size_t k = nodes.size(), R = static_cast<size_t>(num_replicas());
  std::vector<int8_t> full;
  if (values.size() == k) {
    full.assign(values.begin(), values.end());
  } else if (values.size() == k * chains_) {
    full.resize(R * values.size());
    for (int32_t b = 0; b < chains_; ++b)
      for (size_t r = 0; r < R; ++r) {
        std::copy_n(values.begin() + static_cast<ptrdiff_t>(b * k), k, full.begin() + static_cast<ptrdiff_t>(slot(static_cast<int32_t>(r), b) * k));
      }
  } else {
    throw InvalidArgument("set_clamp: expected K = " + std::to_string(k) + " or B x K = " + std::to_string(k * chains_) +
                          " values, got " + std::to_string(values.size()));
  }
  sampler_.set_clamp(std::move(nodes), full);
}

void TemperedSampler::set_field(std::vector<int32_t> nodes, std::span<const float> values) {
  live();
  if (nodes.empty()) {
    nodes.resize(static_cast<size_t>(graph_.num_nodes()));
    for (int32_t i = 0; i < graph_.num_nodes(); ++i) nodes[static_cast<size_t>(i)] = i;
  }
  const size_t m = nodes.size(), R = static_cast<size_t>(num_replicas());
  std::vector<float> full(R * chains_ * m);
  if (values.size() == m) {
    for (size_t c = 0; c < R * chains_; ++c) std::copy(values.begin(), values.end(), full.begin() + c * m);
  } else if (values.size() == m * chains_) {
    for (int32_t b = 0; b < chains_; ++b)
      for (size_t r = 0; r < R; ++r) {
        std::copy_n(values.begin() + static_cast<ptrdiff_t>(b * m), m, full.begin() + static_cast<ptrdiff_t>(slot(static_cast<int32_t>(r), b) * m));
      }
  } else {
    throw InvalidArgument("set_field: expected M = " + std::to_string(m) + " or B x M = " + std::to_string(m * chains_) +
                          " values, got " + std::to_string(values.size()));
  }
  sampler_.set_field(std::move(nodes), full);  // checks nodes and values; the swap energies include it
}

void TemperedSampler::swap_round() {
  const int32_t R = num_replicas();
  const int64_t round = stats_.rounds++;
  // The energies are computed where the state lives (on a GPU: B R doubles come back, not the state),
  // the decisions on the host, and accepted swaps move the states by a permutation of the chains.
  const std::vector<double> energy = sampler_.chain_energies();
  std::vector<int32_t> src(energy.size());
  for (size_t c = 0; c < src.size(); ++c) src[c] = static_cast<int32_t>(c);
  bool changed = false;
  // Keyed by the seed and the swap stream; the counter holds the sampler's own stream too, so that two
  // tempered samplers of one seed (a DTM's steps, a DBM's evaluation and generation) swap independently.
  const rng::Key key = rng::make_key(options_.seed, swap_stream());
  const uint32_t stream = options_.stream;
  for (int32_t b = 0; b < chains_; ++b) {
    const uint32_t id = first_ + static_cast<uint32_t>(b);  // the chain's global id keys its swaps
    int32_t parity = static_cast<int32_t>(round & 1);
    if (opt_.scheme == "seo") {  // "pair" 2^32 - 1, which no pair has
      parity = static_cast<int32_t>(rng::philox4x32_10(rng::Counter{id, 0xffffffffu, static_cast<uint32_t>(round), stream}, key).w0 & 1u);
    }
    for (int32_t r = parity; r + 1 < R; r += 2) {
      const size_t c0 = slot(r, b), c1 = slot(r + 1, b);
      const double delta = (static_cast<double>(opt_.betas[r]) - opt_.betas[r + 1]) * (energy[c0] - energy[c1]);
      const uint32_t w = rng::philox4x32_10(rng::Counter{id, static_cast<uint32_t>(r), static_cast<uint32_t>(round), stream}, key).w0;
      ++stats_.attempts[static_cast<size_t>(r)];
      ++window_attempts_[static_cast<size_t>(r)];
      // A 32-bit uniform in (0, 1), never 0: a swap as unlikely as exp(delta) < 2^-24 is not accepted
      // 2^-24 of the time, as a 24-bit float uniform would.
      if (delta >= 0 || (static_cast<double>(w) + 0.5) * 0x1p-32 < std::exp(delta)) {
        ++stats_.accepts[static_cast<size_t>(r)];
        ++window_accepts_[static_cast<size_t>(r)];
        std::swap(src[c0], src[c1]);  // the pairs of one round are disjoint
        std::swap(walker_[c0], walker_[c1]);
        changed = true;
      }
    }
    // Round trips: a walker counts when it comes back to the target after reaching the hottest.
    const int32_t at_target = walker_[slot(0, b)], at_hottest = walker_[slot(R - 1, b)];
    if (direction_[static_cast<size_t>(at_target)] == -1) ++stats_.round_trips;
    direction_[static_cast<size_t>(at_target)] = 1;
    if (direction_[static_cast<size_t>(at_hottest)] == 1) direction_[static_cast<size_t>(at_hottest)] = -1;
  }
  if (changed) sampler_.permute_chains(src);
  const int64_t every = adapt_every(opt_);
  if (stats_.rounds <= opt_.adapt_rounds && stats_.rounds % every == 0) adapt_ladder();
}

void TemperedSampler::adapt_ladder() {
  const int32_t R = num_replicas();
  if (shard_sum_) {  // every shard's counts, so that every shard moves the ladder alike
    std::vector<int64_t> w(window_attempts_);
    w.insert(w.end(), window_accepts_.begin(), window_accepts_.end());
    shard_sum_(w);
    std::copy_n(w.begin(), R - 1, window_attempts_.begin());
    std::copy_n(w.begin() + (R - 1), R - 1, window_accepts_.begin());
  }
  // Cumulative rejection Lambda at each rung (a small floor keeps every segment invertible).
  std::vector<double> lambda(static_cast<size_t>(R), 0.0);
  for (int32_t p = 0; p + 1 < R; ++p) {
    const auto q = static_cast<size_t>(p);
    const double rej = window_attempts_[q] ? 1.0 - static_cast<double>(window_accepts_[q]) / static_cast<double>(window_attempts_[q]) : 0.0;
    lambda[q + 1] = lambda[q] + std::max(rej, 1e-3);
  }
  std::fill(window_attempts_.begin(), window_attempts_.end(), 0);
  std::fill(window_accepts_.begin(), window_accepts_.end(), 0);
  std::vector<float> nb(opt_.betas);
  size_t seg = 0;
  for (int32_t k = 1; k + 1 < R; ++k) {  // the ends stay
    const double target = lambda.back() * k / (R - 1);
    while (seg + 2 < lambda.size() && lambda[seg + 1] < target) ++seg;
    const double t = (target - lambda[seg]) / (lambda[seg + 1] - lambda[seg]);
    nb[static_cast<size_t>(k)] = static_cast<float>(opt_.betas[seg] + t * (static_cast<double>(opt_.betas[seg + 1]) - opt_.betas[seg]));
  }
  opt_.betas = nb;
  stats_.betas = nb;
  sampler_.set_chain_betas(chain_factors());
}

Observations TemperedSampler::run(const SamplingSchedule& schedule_arg, const ObserverSpec& observe) {
  live();
  const SamplingSchedule schedule = schedule_arg;  // as Sampler::run: the caller's may change mid-run
  schedule.validate();
  const int32_t N = graph_.num_nodes();
  const int64_t total = schedule.total_sweeps();
  // Refused before the first sweep, as Sampler::run does (the inner sampler would refuse only when
  // a stretch reached the limit, after hours).
  if (sampler_.sweep_count() + static_cast<uint64_t>(total) > SamplingSchedule::kMaxSweeps) {
    throw InvalidArgument("parallel tempering: run would pass 2^32 - 1 sweeps on one sampler (the RNG counter's sweep field)");
  }
  std::vector<int64_t> snaps = observe.snapshot_sweeps;
  std::sort(snaps.begin(), snaps.end());
  for (int64_t s : snaps) {
    if (s < 1 || s > total) {
      throw InvalidArgument("snapshot sweep " + std::to_string(s) + " is outside the run's sweeps 1.." + std::to_string(total));
    }
  }
  if (std::adjacent_find(snaps.begin(), snaps.end()) != snaps.end()) throw InvalidArgument("snapshot sweeps must be distinct");
  const size_t target_spins = static_cast<size_t>(chains_) * static_cast<size_t>(N);
  if (static_cast<double>(snaps.size()) * static_cast<double>(target_spins) > 4e9) {
    throw InvalidArgument("parallel tempering: " + std::to_string(snaps.size()) + " snapshots of " + std::to_string(chains_) +
                          " chains would need more than 4 GB");
  }
  observe.check_readout_groups(N);
  // What the run will hold (energies, snapshots, read-outs), checked before it is allocated.
  if (const double bytes = 8.0 * (observe.energy ? static_cast<double>(schedule.samples) * chains_ : 0.0) +
                           static_cast<double>(snaps.size()) * static_cast<double>(target_spins) +
                           16.0 * static_cast<double>(chains_) * static_cast<double>(observe.readout_groups.size());
      bytes > detail::kUncheckedRunBytes) {
    detail::check_memory(bytes, "the observations of this parallel-tempering run (" + std::to_string(schedule.samples) + " samples, " +
                                    std::to_string(snaps.size()) + " snapshots of " + std::to_string(chains_) + " chains)");
  }
  Observations out;
  out.num_chains = chains_;
  out.num_samples = schedule.samples;
  out.sweeps = schedule.total_sweeps();
  const int64_t E = graph_.num_edges();
  const int32_t G = static_cast<int32_t>(observe.readout_groups.size());
  if (observe.moments) out.node_sum.assign(static_cast<size_t>(N), 0), out.edge_sum.assign(static_cast<size_t>(E), 0);
  if (observe.energy) out.energy.assign(static_cast<size_t>(schedule.samples) * chains_, 0.0);
  if (G) out.readout_sum.assign(static_cast<size_t>(chains_) * G, 0);
  // The observers of the target replicas, on the host in the sampler's threads (integer sums: the
  // same whatever the thread count). Only the target rows leave a GPU.
  const int threads = sampler_.options().num_threads;  // parallel_for asks OpenMP only for a wide loop
  // Each loop's work, in units of one chain's node or edge (detail::kHostUnitsPerVisit each).
  const auto units = [&](double per_chain) { return detail::kHostUnitsPerVisit * static_cast<double>(chains_) * per_chain; };
  double readout_nodes = 0;
  for (const auto& grp : observe.readout_groups) readout_nodes += static_cast<double>(grp.size());
  const double chain_work = (observe.energy ? static_cast<double>(E + N) : 0.0) + readout_nodes;
  const int32_t* ei = graph_.edge_i().data();
  const int32_t* ej = graph_.edge_j().data();
  const std::vector<float> weights = observe.energy ? graph_.edge_weights() : std::vector<float>{};
  auto sample = [&](int64_t j) {
    const std::vector<int8_t> st = state();
    const int8_t* s0 = st.data();
    const size_t n = static_cast<size_t>(N);
    if (observe.moments) {
      detail::parallel_for(N, threads, units(N), [&](int64_t i) {
        int64_t acc = 0;
        for (int32_t b = 0; b < chains_; ++b) acc += s0[static_cast<size_t>(b) * n + static_cast<size_t>(i)];
        out.node_sum[static_cast<size_t>(i)] += acc;
      });
      detail::parallel_for(E, threads, units(static_cast<double>(E)), [&](int64_t e) {
        int64_t acc = 0;
        for (int32_t b = 0; b < chains_; ++b) {
          const int8_t* s = s0 + static_cast<size_t>(b) * n;
          acc += s[ei[e]] * s[ej[e]];
        }
        out.edge_sum[static_cast<size_t>(e)] += acc;
      });
    }
    detail::parallel_for(chains_, threads, units(chain_work), [&](int64_t b) {
      const int8_t* s = s0 + static_cast<size_t>(b) * n;
      if (observe.energy) out.energy[static_cast<size_t>(j) * chains_ + b] = graph_.energy(std::span<const int8_t>(s, n), weights);
      for (int32_t g = 0; g < G; ++g) {
        int64_t acc = 0;
        for (int32_t i : observe.readout_groups[static_cast<size_t>(g)]) acc += s[i];
        out.readout_sum[static_cast<size_t>(b) * G + g] += acc;
      }
    });
  };
  int64_t done = 0, next_sample = 1;
  size_t snap_idx = 0;
  auto last_report = std::chrono::steady_clock::now();
  out.snapshots.reserve(snaps.size() * target_spins);
  auto sample_at = [&](int64_t m) { return schedule.warmup + m * schedule.steps_per_sample; };
  const int64_t last_adaptation = adaptation_sweeps(opt_) / opt_.sweeps_per_round;  // its round
  const int64_t percent = std::max<int64_t>(1, total / 100);
  while (done < total) {
    int64_t stop = std::min(total, done + (opt_.sweeps_per_round - sweeps_since_round_));
    if (next_sample <= schedule.samples) stop = std::min(stop, sample_at(next_sample));
    if (snap_idx < snaps.size()) stop = std::min(stop, snaps[snap_idx]);
    if (progress_ && progress_every_percent_) stop = std::min(stop, (done / percent + 1) * percent);  // a report every 1% of the run
    sampler_.sweep(stop - done, BetaSchedule::constant(1.0f));  // the factors are the replicas' betas
    sweeps_since_round_ += stop - done;
    done = stop;
    if (sweeps_since_round_ == opt_.sweeps_per_round) {
      swap_round();
      sweeps_since_round_ = 0;
    }
    if (next_sample <= schedule.samples && sample_at(next_sample) == done) {
      if (stats_.rounds < last_adaptation) ++stats_.samples_while_adapting;
      sample(next_sample++ - 1);
    }
    if (snap_idx < snaps.size() && snaps[snap_idx] == done) {  // the target replicas, after this sweep's swaps
      const std::vector<int8_t> st = state();
      out.snapshots.insert(out.snapshots.end(), st.begin(), st.end());
      ++snap_idx;
    }
    if (progress_) {
      const auto now = std::chrono::steady_clock::now();
      if (done == total || (progress_every_percent_ && done % percent == 0) || now - last_report > std::chrono::milliseconds(250)) {
        last_report = now;
        progress_(done, total);
      }
    }
  }
  const double denom = static_cast<double>(chains_) * static_cast<double>(schedule.samples);
  if (observe.moments && schedule.samples > 0) {
    out.node_mean.resize(out.node_sum.size());
    out.edge_corr.resize(out.edge_sum.size());
    for (size_t i = 0; i < out.node_sum.size(); ++i) out.node_mean[i] = static_cast<double>(out.node_sum[i]) / denom;
    for (size_t e = 0; e < out.edge_sum.size(); ++e) out.edge_corr[e] = static_cast<double>(out.edge_sum[e]) / denom;
  }
  if (G && schedule.samples > 0) {
    out.readout_mean.resize(out.readout_sum.size());
    for (int32_t b = 0; b < chains_; ++b)
      for (int32_t g = 0; g < G; ++g) {
        out.readout_mean[static_cast<size_t>(b) * G + g] =
            static_cast<double>(out.readout_sum[static_cast<size_t>(b) * G + g]) /
            (static_cast<double>(observe.readout_groups[static_cast<size_t>(g)].size()) * static_cast<double>(schedule.samples));
      }
  }
  return out;
}

void TemperedSampler::sweep(int64_t sweeps) {
  live();
  if (sweeps < 0) throw InvalidArgument("parallel tempering: sweeps must be >= 0");
  if (sweeps > 0) run(SamplingSchedule{sweeps, 0, 1});
}

void TemperedSampler::set_state(std::span<const int8_t> states) {
  live();
  const size_t per = static_cast<size_t>(chains_) * graph_.num_nodes();
  if (states.size() != per) {
    throw InvalidArgument("set_state: expected B x N = " + std::to_string(per) + " spins, got " + std::to_string(states.size()));
  }
  const size_t N = static_cast<size_t>(graph_.num_nodes());
  std::vector<int8_t> all(per * static_cast<size_t>(num_replicas()));
  for (int32_t b = 0; b < chains_; ++b)
    for (int32_t r = 0; r < num_replicas(); ++r) {
      std::copy_n(states.begin() + static_cast<ptrdiff_t>(b * N), N, all.begin() + static_cast<ptrdiff_t>(slot(r, b) * N));
    }
  sampler_.set_state(all);
}

TemperedState TemperedSampler::save_state() const {
  live();
  TemperedState s;
  s.spins = sampler_.state();
  s.sweeps = sampler_.sweep_count();
  s.sweeps_since_round = sweeps_since_round_;
  s.walker = walker_;
  s.direction = direction_;
  s.window_attempts = window_attempts_;
  s.window_accepts = window_accepts_;
  s.stats = stats_;
  return s;
}

void TemperedSampler::restore_state(const TemperedState& s) {
  live();
  const size_t R = opt_.betas.size(), slots = R * static_cast<size_t>(chains_);
  const auto size_is = [](const char* what, size_t got, size_t want) {
    if (got != want) {
      throw InvalidArgument(std::string("TemperedSampler::restore_state: ") + what + " has " + std::to_string(got) + " entries, this sampler " +
                            std::to_string(want) + " (another graph, chain count or ladder)");
    }
  };
  size_is("spins", s.spins.size(), slots * static_cast<size_t>(graph_.num_nodes()));
  size_is("walker", s.walker.size(), slots);
  size_is("direction", s.direction.size(), slots);
  for (const auto* v : {&s.window_attempts, &s.window_accepts, &s.stats.attempts, &s.stats.accepts}) size_is("a swap count", v->size(), R - 1);
  size_is("the ladder", s.stats.betas.size(), R);
  std::vector<char> seen(slots, 0);
  for (const int32_t w : s.walker) {
    if (w < 0 || static_cast<size_t>(w) >= slots || seen[static_cast<size_t>(w)]++) {
      throw InvalidArgument("TemperedSampler::restore_state: the walkers are not a permutation of the slots");
    }
  }
  // Everything is checked before anything changes: a refused state leaves the sampler as it was.
  constexpr int64_t kMaxCount = 0xFFFFFFFFll;  // the sweep and round fields of the random numbers' counters
  if (s.sweeps_since_round < 0 || s.sweeps_since_round >= opt_.sweeps_per_round || s.stats.rounds < 0 || s.stats.rounds > kMaxCount ||
      s.sweeps > static_cast<uint64_t>(kMaxCount) || s.stats.round_trips < 0 || s.stats.samples_while_adapting < 0) {
    throw InvalidArgument("TemperedSampler::restore_state: impossible counters (" + std::to_string(s.sweeps) + " sweeps, " +
                          std::to_string(s.sweeps_since_round) + " since a round, " + std::to_string(s.stats.rounds) + " rounds)");
  }
  for (const auto* v : {&s.window_attempts, &s.window_accepts, &s.stats.attempts, &s.stats.accepts})
    for (size_t p = 0; p < v->size(); ++p)
      if ((*v)[p] < 0) throw InvalidArgument("TemperedSampler::restore_state: a negative swap count");
  for (const int8_t d : s.direction)
    if (d < -1 || d > 1) throw InvalidArgument("TemperedSampler::restore_state: a walker direction other than -1, 0 or 1");
  TemperingOptions ladder = opt_;
  ladder.betas = s.stats.betas;
  ladder = validated(std::move(ladder));  // finite, decreasing, positive
  sampler_.set_state(s.spins);  // the first change: it checks the spins before it changes anything
  sampler_.set_sweep_count(s.sweeps);
  opt_ = std::move(ladder);
  sampler_.set_chain_betas(chain_factors());
  sweeps_since_round_ = s.sweeps_since_round;
  walker_ = s.walker;
  direction_ = s.direction;
  window_attempts_ = s.window_attempts;
  window_accepts_ = s.window_accepts;
  stats_ = s.stats;
}

void TemperedSampler::restart(uint64_t sweeps, int64_t rounds) {
  live();
  if (rounds < 0 || rounds > 0xFFFFFFFFll) throw InvalidArgument("TemperedSampler::restart: " + std::to_string(rounds) + " rounds, not in [0, 2^32)");
  sampler_.set_sweep_count(sweeps);  // (refuses past 2^32 - 1 before anything changes)
  sampler_.randomize_state();
  sweeps_since_round_ = 0;
  reset_walkers();
  const std::vector<float> ladder = stats_.betas;
  stats_ = TemperingStats{};
  stats_.attempts.assign(static_cast<size_t>(num_replicas() - 1), 0);
  stats_.accepts = stats_.attempts;
  stats_.betas = ladder;
  window_attempts_ = window_accepts_ = stats_.attempts;
  stats_.rounds = rounds;
}

std::vector<int8_t> TemperedSampler::state() const {
  live();
  // slot(0, b) = b R: the target replicas are every R-th sampler chain from chain 0
  return sampler_.state_rows(static_cast<int32_t>(slot(0, 0)), num_replicas(), chains_);
}

std::vector<int8_t> TemperedSampler::replica_states() const {
  live();
  const std::vector<int8_t> st = sampler_.state();
  std::vector<int8_t> out;
  out.reserve(st.size());
  for (int32_t r = 0; r < num_replicas(); ++r) {
    const std::vector<int8_t> row = rows(st, r);
    out.insert(out.end(), row.begin(), row.end());
  }
  return out;
}

}  // namespace pbit
