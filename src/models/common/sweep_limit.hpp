// A training run's sweeps against the most one sampler runs, checked before its first batch: the
// one check EqProp, the DTM and the DBM share (the DBM's persistent chains go on in new eras).
#pragma once
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "pbit/core/sampler.hpp"
#include "pbit/dist/comm.hpp"
#include "util/json_util.hpp"

namespace pbit::detail {

/// What one sampler needs for a run's batches left. Its count is keyed into its random numbers and
/// holds 2^32 - 1 sweeps (SamplingSchedule::kMaxSweeps) in an era, resumes included; a sampler
/// with further eras (the DBM's, rng::dbm_training_stream) starts the next where a batch would
/// pass the count, so an era holds whole batches.
struct SamplerSweepsLeft {
  std::string sampler;            ///< "the training sampler", "step 2's sampler"
  std::string sweeps = "sweeps";  ///< what a batch's sweeps are: "negative-phase sweeps"
  double done = 0;                ///< its count now, in this era
  double batches = 0;             ///< batches left
  double least = 0;               ///< sweeps a batch, the fewest
  double most = 0;                ///< and the most (equal unless a phase may be skipped)
  std::string varies;             ///< why they differ: "with every nudge; train.skip_when_correct skips some"
  double eras_left = 0;           ///< further eras after this one (0: the count is all it has)
};

/// The batches of `per_batch` sweeps that `n`'s sampler has room for: unbounded for a batch of none,
/// none for a count past the limit (which no sampler reaches: its count stops at the limit).
inline double sampler_batches_room(const SamplerSweepsLeft& n, double per_batch) {
  const auto limit = static_cast<double>(SamplingSchedule::kMaxSweeps);
  if (per_batch <= 0) return std::numeric_limits<double>::infinity();
  if (n.done > limit) return 0;
  return std::floor((limit - n.done) / per_batch) + n.eras_left * std::floor(limit / per_batch);
}

/// Refuses the run (InvalidConfig on `key`, train.epochs unless named) when even its fewest sweeps
/// take the sampler past the limit, and warns on rank 0's stderr when its most may. With a time budget
/// the epochs are a bound the budget may never reach, so it warns instead of refusing. `batches_left`
/// describes the batches ("the 160 batches left (train.epochs 10 x 16 batches of train.batch_size 4)")
/// and `cure` says what to change.
inline void check_sampler_sweeps_left(const SamplerSweepsLeft& n, const std::string& batches_left, const std::string& cure,
                                      double time_budget_s, const std::string& key = "train.epochs") {
  if (n.batches <= 0) return;
  auto sentence = [&](double per_batch, const std::string& take) {
    const std::string each = batches_left + " of " + format_number(per_batch) + " " + n.sweeps + " each ";
    if (n.eras_left > 0) {
      const std::string are = n.least == n.most ? "are" : "(" + n.varies + ") may be";
      return each + are + " more than the " + format_number(sampler_batches_room(n, per_batch)) + " " +
             n.sampler + " have left in their " + format_number(n.eras_left + 1) +
             " eras of 2^32 - 1 sweeps (rng::dbm_training_stream): " + cure;
    }
    return each + take + " " + n.sampler + " from " + format_number(n.done) + " to " + format_number(n.done + n.batches * per_batch) +
           " sweeps, past the 2^32 - 1 one sampler runs (its RNG counter's sweep field): " + cure;
  };
  if (n.batches > sampler_batches_room(n, n.least) && time_budget_s <= 0) config_error(key, sentence(n.least, "would take"));
  if (n.batches > sampler_batches_room(n, n.most) && dist::rank() == 0) {
    const std::string take = n.least == n.most ? "take" : "(" + n.varies + ") may take";
    const char* unless = time_budget_s > 0 ? ", unless train.time_budget_s ends the run first" : "";
    std::fprintf(stderr, "warning: %s%s\n", sentence(n.most, take).c_str(), unless);
  }
}

}  // namespace pbit::detail
