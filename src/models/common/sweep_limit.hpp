// A training run's sweeps against the most one sampler runs, checked before its first batch: the
// one check EqProp and the DTM share (the DBM instead goes on in a new era: dbm.cpp).
#pragma once
#include <cstdio>
#include <string>

#include "pbit/core/sampler.hpp"
#include "pbit/dist/comm.hpp"
#include "util/json_util.hpp"

namespace pbit::detail {

/// What one sampler needs for a run's batches left. Its count is keyed into its random numbers and
/// holds 2^32 - 1 sweeps (SamplingSchedule::kMaxSweeps) over the whole run, resumes included.
struct SamplerSweepsLeft {
  std::string sampler;            ///< "the training sampler", "step 2's sampler"
  std::string sweeps = "sweeps";  ///< what a batch's sweeps are: "negative-phase sweeps"
  double done = 0;                ///< its count now
  double batches = 0;             ///< batches left
  double least = 0;               ///< sweeps a batch, the fewest
  double most = 0;                ///< and the most (equal unless a phase may be skipped)
  std::string varies;             ///< why they differ: "with every nudge; train.skip_when_correct skips some"
};

/// Refuses the run (InvalidConfig on train.epochs) when even its fewest sweeps take the sampler past
/// the limit, and warns on rank 0's stderr when its most may. With a time budget the epochs are a
/// bound the budget may never reach, so it warns instead of refusing. `batches_left` describes the
/// batches ("the 160 batches left (train.epochs 10 x 16 batches of train.batch_size 4)") and `cure`
/// says what to change.
inline void check_sampler_sweeps_left(const SamplerSweepsLeft& n, const std::string& batches_left, const std::string& cure,
                                      double time_budget_s) {
  if (n.batches <= 0) return;
  const auto limit = static_cast<double>(SamplingSchedule::kMaxSweeps);
  auto sentence = [&](double per_batch, const std::string& take) {
    return batches_left + " of " + format_number(per_batch) + " " + n.sweeps + " each " + take + " " + n.sampler + " from " +
           format_number(n.done) + " to " + format_number(n.done + n.batches * per_batch) +
           " sweeps, past the 2^32 - 1 one sampler runs (its RNG counter's sweep field): " + cure;
  };
  if (n.done + n.batches * n.least > limit && time_budget_s <= 0) config_error("train.epochs", sentence(n.least, "would take"));
  if (n.done + n.batches * n.most > limit && dist::rank() == 0) {
    const std::string take = n.least == n.most ? "take" : "(" + n.varies + ") may take";
    const char* unless = time_budget_s > 0 ? ", unless train.time_budget_s ends the run first" : "";
    std::fprintf(stderr, "warning: %s%s\n", sentence(n.most, take).c_str(), unless);
  }
}

}  // namespace pbit::detail
