// Parallel tempering (replica exchange) on any backend (issue 21).
//
// Each of B chains has R replicas at inverse temperatures betas[0..R-1] (betas[0] the target,
// usually 1). They live in one Sampler of B x R chains (sampler chain b R + r = replica r of chain b,
// at per-chain factor betas[r]: Sampler::set_chain_betas), so one launch sweeps every replica of every
// chain, and the replicas of chains [k, k + m) of a larger run are the sampler chains [k R, (k + m) R):
// a shard (SamplerOptions::first_chain = k, in chains) draws the random numbers of the whole run, which
// is how MPI ranks split a tempered run (docs/SCALING.md). Every `sweeps_per_round` sweeps a swap round
// proposes, for each chain, exchanges between
// neighbouring temperatures r, r + 1 of one parity, accepted with the Metropolis probability
//   min(1, exp((beta_r - beta_{r+1}) (E_r - E_{r+1}))),  E = -(sum J s s + sum h s + sum f s)
// (the per-chain field counts: it is part of the distribution sampled; clamps are the same in every
// replica), on the uniform of word 0 of Philox(key (seed, tempering stream), counter (chain, pair,
// round, the sampler's stream)), with the chain's global id: every backend and every split into
// shards makes the same swaps, and samplers of other streams other ones. Schemes: "deo"
// (deterministic even/odd: even pairs in even rounds, odd in odd, the non-reversible scheme of Okabe
// et al. 2001 / Syed et al. 2022) and "seo" (stochastic even/odd: the parity drawn per chain and
// round, the low bit of word 0 at pair 2^32 - 1). Accepted swaps exchange the
// replicas' states, so sampler chain b R + r always holds temperature r.
//
// A swap round asks the sampler for every replica's energy (Sampler::chain_energies: on a GPU a
// kernel, and R B doubles come back), decides on the host, and moves the accepted replicas' states by
// a permutation of the sampler's chains (Sampler::permute_chains: on a GPU a gather kernel), so the
// state never leaves the device for a swap. Observers read the target replicas (r = 0) only, and are
// computed on the host from the state after each sample (moments, energies, read-outs, snapshots):
// a download per sample.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "pbit/core/coloring.hpp"
#include "pbit/core/graph.hpp"
#include "pbit/core/sampler.hpp"

namespace pbit {

struct TemperingOptions {
  std::vector<float> betas;        ///< R >= 2 inverse temperatures, betas[0] the target; all > 0
  int64_t sweeps_per_round = 1;    ///< sweeps between swap rounds
  std::string scheme = "deo";      ///< deo | seo
  /// Adaptive ladder: for the first adapt_rounds swap rounds, every adapt_rounds / 5 rounds (at least
  /// 10) the interior betas move so that each pair's rejection rate becomes equal (Syed et al. 2022:
  /// the cumulative rejection over the ladder, piecewise linear in beta, is inverted at equal steps);
  /// the ends stay. Then the ladder is frozen (0 = a fixed ladder).
  int64_t adapt_rounds = 0;
  /// betas geometric from `target` (replica 0) to `hottest` (replica R - 1), R >= 2.
  static std::vector<float> geometric(float target, float hottest, int32_t replicas);
};

/// Swap statistics since construction.
struct TemperingStats {
  int64_t rounds = 0;
  std::vector<int64_t> attempts, accepts;  ///< per neighbouring pair (R - 1), over chains and rounds
  int64_t round_trips = 0;                 ///< walkers that went from the target to the hottest replica and back
  std::vector<float> betas;                ///< the ladder now (the tuned one after adaptation)
  /// Samples run() observed before the ladder's last adaptation: drawn while the interior betas still
  /// moved, so not from the final ladder's distribution (a warm-up shorter than adapt_rounds x
  /// sweeps_per_round). 0 when the warm-up covers the adaptation.
  int64_t samples_while_adapting = 0;
  std::vector<double> acceptance() const;  ///< accepts / attempts per pair (0 where none)
};

/// Everything a tempered run continues from bit for bit (TemperedSampler::save_state): a checkpoint
/// holds it.
struct TemperedState {
  std::vector<int8_t> spins;          ///< every replica in sampler chain order (chain b's replica r at row b R + r)
  uint64_t sweeps = 0;                ///< the sampler's sweep count (its random numbers' counter)
  int64_t sweeps_since_round = 0;     ///< sweeps since the last swap round
  std::vector<int32_t> walker;        ///< the walker in each slot (R B)
  std::vector<int8_t> direction;      ///< per walker
  std::vector<int64_t> window_attempts, window_accepts;  ///< since the last adaptation
  TemperingStats stats;               ///< its rounds key the swaps; its betas are the ladder
};

class TemperedSampler {
 public:
  /// B chains of R replicas; options.hardware is refused (the swap needs the model's energy).
  /// options.first_chain counts chains, not replicas: this sampler is chains [first_chain,
  /// first_chain + B) of a larger run (its replicas are sampler chains first_chain R + ...).
  TemperedSampler(const Graph& graph, const Coloring& coloring, int32_t chains, TemperingOptions tempering,
                  SamplerOptions options = {});

  /// A shard of a larger run adapts the ladder from the swap counts of every shard: `sum` adds a
  /// vector of counters over the shards in place (under MPI, dist::allreduce_sum), and is called at
  /// each adaptation, at the same round on every shard (TemperedSampler::adaptations of them). A
  /// shard without chains calls the same `sum` that many times with zeros. Without it a shard adapts
  /// from its own chains' counts. The stats() stay this shard's.
  void set_shard_sum(std::function<void(std::span<int64_t>)> sum) { shard_sum_ = std::move(sum); }
  /// How many times a sampler with these options adapts its ladder over its first `sweeps` sweeps.
  static int64_t adaptations(const TemperingOptions& tempering, int64_t sweeps);
  /// The sweep after which the ladder no longer moves (its last adaptation's round x sweeps_per_round;
  /// 0 for a fixed ladder and for two replicas, whose ends stay): a warm-up at least this long takes
  /// no sample while it adapts.
  static int64_t adaptation_sweeps(const TemperingOptions& tempering);

  /// False only for a moved-from sampler, which may only be assigned to or destroyed (its other calls
  /// throw InvalidArgument).
  bool valid() const noexcept { return sampler_.valid(); }
  int32_t num_chains() const { return chains_; }
  const Graph& graph() const { return graph_; }
  int32_t num_replicas() const { return static_cast<int32_t>(opt_.betas.size()); }
  const std::vector<float>& betas() const { return opt_.betas; }
  /// What runs the sweeps of every replica (Sampler::kernel_description), e.g. "cpu (2 threads)".
  std::string kernel_description() const {
    live();
    return sampler_.kernel_description();
  }

  /// Clamps and per-chain fields as Sampler's, for the B chains (B x K / B x M, or shared); every
  /// replica of a chain gets its chain's values.
  void set_clamp(std::vector<int32_t> nodes, std::span<const int8_t> values);
  void set_field(std::vector<int32_t> nodes, std::span<const float> values);

  /// Runs the schedule at the replicas' temperatures (no beta schedule: the ladder is the
  /// temperature), swap rounds every sweeps_per_round sweeps (counted across runs), observing the
  /// target replicas (snapshots too: the target replicas' states after that sweep and its swap round).
  Observations run(const SamplingSchedule& schedule, const ObserverSpec& observe = {});
  /// `sweeps` sweeps of every replica with their swap rounds, observing nothing.
  void sweep(int64_t sweeps);
  /// As Sampler::set_progress: run() and sweep() call it with (sweeps done, sweeps of the run) at
  /// least every 1% of the run (unless `every_percent` is false), about every quarter second, and at
  /// the end; an exception it throws ends the run there (after a whole stretch and its swap round).
  /// Results do not depend on it.
  void set_progress(Sampler::Progress f, bool every_percent = true) {
    progress_ = std::move(f);
    progress_every_percent_ = every_percent;
  }

  /// New couplings (edge order) and biases for every replica (Sampler::set_weights; the ladder's
  /// betas stay the replicas' factors), e.g. after a training step; graph() and the energy
  /// observations follow them.
  void set_weights(std::span<const float> edge_weights, std::span<const float> biases);
  /// As Sampler's: no clamp, no field (on every replica).
  void clear_clamp() {
    live();
    sampler_.clear_clamp();
  }
  void clear_field() {
    live();
    sampler_.clear_field();
  }

  /// Every replica of chain b starts from states[b] (B x N).
  void set_state(std::span<const int8_t> states);
  /// The state a run continues from (replicas, counters, walkers, ladder), and its restoration: a
  /// sampler of the same graph, chains and replicas then runs on bit for bit as this one would. A state
  /// of other sizes is refused (InvalidArgument naming what differs).
  TemperedState save_state() const;
  void restore_state(const TemperedState& s);
  /// Fresh chains for a run that continues without its states (a model-only checkpoint): every
  /// replica drawn as Sampler::randomize_state at sweep count `sweeps`, the walkers back at their
  /// start and the statistics cleared, but the swap rounds counted on from `rounds`, so that no round
  /// reuses an earlier one's random numbers. The ladder stays as it is (made for fixed ladders: an
  /// adaptive one would adapt again from cleared counts).
  void restart(uint64_t sweeps, int64_t rounds);
  /// The sampler's sweep count (every replica's: they sweep together).
  uint64_t sweep_count() const { return sampler_.sweep_count(); }
  /// The state of every replica, replica-major: replica r of chain b at row r B + b (R B x N).
  std::vector<int8_t> replica_states() const;
  /// The target replicas' states (B x N).
  std::vector<int8_t> state() const;
  const TemperingStats& stats() const {
    live();  // (a moved-from sampler's were stale: helper-109)
    return stats_;
  }
  /// The Philox stream of the swap decisions.
  static uint32_t swap_stream();

 private:
  void swap_round();
  void adapt_ladder();
  /// InvalidArgument for a moved-from sampler (the calls that do not go straight to sampler_'s).
  void live() const;
  void reset_walkers();  ///< every walker in its own slot, those at the target heading out
  size_t slot(int32_t replica, int32_t chain) const {  ///< the sampler chain of replica `replica` of local chain `chain`
    return static_cast<size_t>(chain) * opt_.betas.size() + static_cast<size_t>(replica);
  }
  std::vector<float> chain_factors() const;  ///< every sampler chain's beta (B R)
  std::vector<int8_t> rows(const std::vector<int8_t>& st, int32_t replica) const;  ///< replica `replica` of each chain (B x N)
  std::function<void(std::span<int64_t>)> shard_sum_;
  Sampler::Progress progress_;
  bool progress_every_percent_ = true;
  std::vector<int64_t> window_attempts_, window_accepts_;  ///< since the last adaptation
  Graph graph_;
  int32_t chains_;
  uint32_t first_;  ///< the global id of local chain 0
  TemperingOptions opt_;
  SamplerOptions options_;
  Sampler sampler_;
  int64_t sweeps_since_round_ = 0;
  TemperingStats stats_;
  std::vector<int32_t> walker_;     ///< (R B): the walker in each slot
  std::vector<int8_t> direction_;   ///< per walker: 0 unknown, +1 last at the target, -1 last at the hottest
};

}  // namespace pbit
