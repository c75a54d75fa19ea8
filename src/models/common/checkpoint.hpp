// What the trainers' checkpoints (DBM, EqProp, p-DNN, p-DNN generator; the DTM's history) share: the
// header of config fingerprint and training position, checked on reading, and the training history
// as a JSON string. One implementation, so every model refuses a foreign or damaged file with the
// same messages. The byte layout is the one those files always had (committed device-job
// checkpoints still load).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <istream>
#include <ostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "pbit/core/backend.hpp"
#include "pbit/error.hpp"
#include "util/binary_io.hpp"
#include "util/progress.hpp"

namespace pbit::detail {

/// Where a run stands: the epoch it is in, the batch within that epoch, the updates made so far.
struct TrainingPosition {
  int32_t epoch = 0;
  int64_t batch = 0;
  int64_t updates = 0;
};

/// fingerprint (u64) | epoch (i32) | batch (i64) | updates (i64).
inline void put_position(std::ostream& f, uint64_t fingerprint, const TrainingPosition& p) {
  put<uint64_t>(f, fingerprint);
  put<int32_t>(f, p.epoch);
  put<int64_t>(f, p.batch);
  put<int64_t>(f, p.updates);
}

/// The fingerprint a checkpoint is written with, and the ones it is also read with: those earlier
/// versions of pbit wrote for the same training config (the DBM and the DTM named the backend until
/// backends were shown to train bit for bit alike), so that committed checkpoints still continue.
struct Fingerprint {
  uint64_t current = 0;
  std::vector<uint64_t> earlier;
  Fingerprint(uint64_t c) : current(c) {}  // NOLINT: one fingerprint is the common case
  Fingerprint(uint64_t c, std::vector<uint64_t> e) : current(c), earlier(std::move(e)) {}
  bool accepts(uint64_t v) const {
    if (v == current) return true;
    for (uint64_t e : earlier) {
      if (v == e) return true;
    }
    return false;
  }
};

/// Makes `f` accept what `other` accepts too (the fingerprints an earlier pbit wrote for the same run).
inline void add_earlier(Fingerprint& f, const Fingerprint& other) {
  f.earlier.push_back(other.current);
  f.earlier.insert(f.earlier.end(), other.earlier.begin(), other.earlier.end());
}

/// The fingerprints of a config whose fields `before` and `after` the backend once sat between: the
/// current one (without it) and the earlier ones, with each backend name a config could give.
/// `extra` is appended to the fields' JSON before hashing (the DBM's training mode).
inline Fingerprint fingerprint_without_backend(const nlohmann::json& before, const nlohmann::json& after, const std::string& extra = "") {
  auto hash = [&](const std::string* backend) {
    nlohmann::json j = before;
    if (backend) j.push_back(*backend);
    for (const auto& x : after) j.push_back(x);
    return fnv1a(j.dump() + extra);
  };
  std::vector<uint64_t> earlier;
  std::vector<std::string> names{"best"};
  for (Backend b : all_backends()) names.push_back(to_string(b));
  for (const std::string& b : names) earlier.push_back(hash(&b));
  return {hash(nullptr), std::move(earlier)};
}

/// What a resumed EqProp or p-DNN run may change (the end of the message refusing another config's
/// checkpoint).
inline constexpr const char* kClassifierResumeHint =
    "resume with the same config and --seed (only epochs, eval, threads, backend, test_images and output_dir may change)";

/// Reads what put_position wrote. A file of another training config (its fingerprint differs) or
/// with counters no run of this one can reach is refused with InvalidArgument naming `what` (e.g.
/// "checkpoint", "model checkpoint") and the path; `may_change` is appended to the config message
/// (what a resumed run may change).
inline TrainingPosition get_position(std::istream& f, const std::string& path, const std::string& what, const Fingerprint& fingerprint,
                                     int64_t batches_per_epoch, int32_t max_epochs, int32_t config_epochs, const std::string& may_change = "") {
  if (!fingerprint.accepts(get<uint64_t>(f, path))) {
    throw ConfigMismatch(what + " '" + path + "' was written by a run with a different training config" +
                          (may_change.empty() ? "" : "; " + may_change));
  }
  TrainingPosition p;
  p.epoch = get<int32_t>(f, path);
  p.batch = get<int64_t>(f, path);
  p.updates = get<int64_t>(f, path);
  // One update a batch at most: more updates than the batches up to this one are a damaged file (a
  // count near 2^63 overflowed at the next update).
  const int64_t most_updates = (static_cast<int64_t>(std::max(p.epoch, 0)) + 1) * std::max<int64_t>(batches_per_epoch, 1);
  if (p.epoch < 0 || p.epoch > max_epochs || p.batch < 0 || p.batch > batches_per_epoch || p.updates < 0 || p.updates > most_updates) {
    // (the batch and update bounds hang on this training set's size, which the fingerprint does not
    // hold: a dataset of another size behind train_limit 0 breaks them too: helper-92)
    throw InvalidArgument(what + " '" + path + "' has impossible counters (epoch " + std::to_string(p.epoch) + ", batch " +
                          std::to_string(p.batch) + ", update " + std::to_string(p.updates) + ", for " + std::to_string(batches_per_epoch) +
                          " batches an epoch, one update a batch at most): a damaged file, or a run on a training set of another size");
  }
  // A run resumed with fewer epochs than it has trained would be reported as that many epochs long.
  if (p.epoch > config_epochs || (p.epoch == config_epochs && p.batch > 0)) {
    throw InvalidConfig("train.epochs: " + what + " '" + path + "' has trained " + std::to_string(p.epoch) + " epochs and " +
                        std::to_string(p.batch) + " batches, more than the " + std::to_string(config_epochs) +
                        " epochs asked for; resume with at least " + std::to_string(p.epoch + (p.batch > 0 ? 1 : 0)) +
                        " epochs, or start afresh");
  }
  return p;
}

/// The largest tally of seconds a checkpoint may hold (about 32 years): a larger one, behind a checksum
/// that matched, swallowed the seconds added to it, and a lease never saw its time pass.
inline constexpr double kMostTallySeconds = 1e9;
/// The largest other tally (flips, correct answers, a sum of losses): past any run's.
inline constexpr double kMostTally = 1e24;

/// A running tally a checkpoint keeps (seconds, flips, correct answers, a sum of losses): finite, at
/// most `most` in size, and not negative where `nonnegative`. Anything else, behind a checksum that
/// matched (a forged or miswritten file), is InvalidArgument naming the path: a NaN read on went into
/// the results as null.
inline double get_tally(std::istream& f, const std::string& path, const std::string& what, bool nonnegative = true,
                        double most = kMostTally) {
  const double v = get<double>(f, path);
  if (!std::isfinite(v) || (nonnegative && v < 0) || std::fabs(v) > most) {
    std::ostringstream text;  // (with the bound it broke: a finite 1e10 seconds looked arbitrary: helper-92)
    text << v << "; finite" << (nonnegative ? ", not negative" : "") << " and at most " << most << " in size";
    throw InvalidArgument(what + " '" + path + "' has an impossible tally (" + text.str() + ")");
  }
  return v;
}

/// A sampler's sweep count from a checkpoint: at most 2^32 - 1 (the RNG counter's sweep word), else
/// InvalidArgument naming `what` and the path (the sampler's refusal named neither).
inline uint64_t get_sweep_count(std::istream& f, const std::string& path, const std::string& what) {
  const auto v = get<uint64_t>(f, path);
  if (v > 0xffffffffULL) {
    throw InvalidArgument(what + " '" + path + "' has an impossible sweep count (" + std::to_string(v) + ", past 2^32 - 1)");
  }
  return v;
}

/// Refuses an array of parameters or optimizer moments read from a checkpoint that holds one that is
/// not finite: behind a checksum that matched (a forged or miswritten file), a NaN trained on and
/// went into model.bin, which eval then refused. InvalidArgument naming `what` and the path.
template <class T>
void check_finite_vec(const std::vector<T>& v, const std::string& path, const std::string& what) {
  for (size_t k = 0; k < v.size(); ++k) {
    if (!std::isfinite(v[k])) {
      std::ostringstream text;
      text << v[k];
      throw InvalidArgument(what + " '" + path + "' holds a parameter that is not finite (" + text.str() + ", entry " + std::to_string(k) +
                            " of " + std::to_string(v.size()) + "): start afresh");
    }
  }
}

/// Refuses an optimizer's second moments (a mean of squares) that hold a negative one, naming `what`
/// and the path: Adam took its square root.
template <class T>
void check_second_moments(const std::vector<T>& v, const std::string& path, const std::string& what) {
  for (size_t k = 0; k < v.size(); ++k) {
    if (v[k] < 0) {
      std::ostringstream text;
      text << v[k];
      throw InvalidArgument(what + " '" + path + "' holds a negative second moment (" + text.str() + ", entry " + std::to_string(k) +
                            " of " + std::to_string(v.size()) + "): start afresh");
    }
  }
}

/// A checkpoint's array of `n` parameters or optimizer moments, every one finite (check_finite_vec).
template <class T>
std::vector<T> get_finite_vec(std::istream& f, const std::string& path, size_t n, const std::string& what) {
  std::vector<T> v = get_vec<T>(f, path, n);
  check_finite_vec(v, path, what);
  return v;
}

/// A checkpoint's `n` chain spins, each -1 or +1: anything else (behind a checksum that matched) is
/// InvalidArgument naming `what` and the path, where the sampler's refusal named neither.
inline std::vector<int8_t> get_spins(std::istream& f, const std::string& path, size_t n, const std::string& what) {
  std::vector<int8_t> v = get_vec<int8_t>(f, path, n);
  for (size_t k = 0; k < v.size(); ++k) {
    if (v[k] != 1 && v[k] != -1) {
      throw InvalidArgument(what + " '" + path + "' holds a chain spin that is " + std::to_string(v[k]) + ", not -1 or +1 (entry " +
                            std::to_string(k) + " of " + std::to_string(n) + "): start afresh");
    }
  }
  return v;
}

/// The lease record that ends a model-only checkpoint (DBM, DTM): a JSON array of one object per
/// lease. Anything else (another JSON value with the checksum made to match, say) is InvalidArgument
/// "model checkpoint '<path>' has a corrupt lease record", before the next lease trains: appending
/// to it failed only after the lease's training, as an internal error.
inline nlohmann::json get_lease_record(std::istream& f, const std::string& path) {
  nlohmann::json leases;
  try {
    leases = nlohmann::json::parse(get_string(f, path));
  } catch (const nlohmann::json::exception&) {
    throw InvalidArgument("model checkpoint '" + path + "' has a corrupt lease record");
  }
  const bool ok = leases.is_array() && std::all_of(leases.begin(), leases.end(), [](const nlohmann::json& l) { return l.is_object(); });
  if (!ok) throw InvalidArgument("model checkpoint '" + path + "' has a corrupt lease record (not an array of one object per lease)");
  // The fields pbit writes, as it writes them: they go on into leases.json, results.json and the
  // device report (helper-91: "x", null and 1e300 went there).
  static constexpr const char* counts[] = {"lease", "burn_in_sweeps", "updates_from", "updates_to", "epochs_from", "epochs_to",
                                           "eval_sweeps_per_image", "test_images", "samples", "sweeps_per_sample"};
  static constexpr const char* seconds[] = {"train_s_from", "train_s_total"};  // (capped as the tallies' seconds)
  static constexpr const char* tallies[] = {"flips_from", "flips_total", "feature_fid"};
  static constexpr const char* texts[] = {"utc_start", "utc_end", "git_sha", "device", "run_id", "result_utc"};
  for (size_t k = 0; k < leases.size(); ++k) {
    const nlohmann::json& l = leases[k];
    std::string bad;
    for (const char* key : counts) {
      if (l.contains(key) && !(l[key].is_number_unsigned() && l[key].get<uint64_t>() < (uint64_t{1} << 53))) bad = key;
    }
    const auto in_range = [&l](const char* key, double most) {
      return !l.contains(key) || (l[key].is_number() && l[key].get<double>() >= 0 && l[key].get<double>() <= most);
    };
    for (const char* key : seconds) {
      if (!in_range(key, kMostTallySeconds)) bad = key;
    }
    for (const char* key : tallies) {
      if (!in_range(key, kMostTally)) bad = key;
    }
    for (const char* key : texts) {
      if (l.contains(key) && !l[key].is_string()) bad = key;
    }
    if (l.contains("finished") && !l["finished"].is_boolean()) bad = "finished";
    if (l.contains("test_accuracy") && !(l["test_accuracy"].is_number() && l["test_accuracy"].get<double>() >= 0 &&
                                         l["test_accuracy"].get<double>() <= 1)) {
      bad = "test_accuracy";
    }
    if (bad.empty() && l.value("lease", nlohmann::json()) != k + 1) bad = "lease";
    if (!bad.empty()) {
      throw InvalidArgument("model checkpoint '" + path + "' has a corrupt lease record (lease " + std::to_string(k + 1) + "'s " + bad +
                            (l.contains(bad) ? " is " + l[bad].dump() : " is missing") + ")");
    }
  }
  return leases;
}

/// Thrown by a history entry reader (get_history) for an entry of the wrong shape.
struct CorruptHistoryEntry {};

/// The history string that follows in f, parsed as a JSON array whose entries `read(entry)` turns
/// into E (it may throw CorruptHistoryEntry or nlohmann's exceptions, e.g. from at() or get<>());
/// with `entries` >= 0 the array must hold exactly that many. Anything else is InvalidArgument
/// "<what> '<path>' has a corrupt training history".
template <class E, class Read>
std::vector<E> get_history(std::istream& f, const std::string& path, const std::string& what, int64_t entries, Read&& read) {
  const std::string text = get_string(f, path);
  const std::string bad = what + " '" + path + "' has a corrupt training history";
  std::vector<E> out;
  try {
    const nlohmann::json h = nlohmann::json::parse(text);
    if (!h.is_array() || (entries >= 0 && static_cast<int64_t>(h.size()) != entries)) throw InvalidArgument(bad);
    for (const auto& e : h) out.push_back(read(e));
  } catch (const nlohmann::json::exception&) {
    throw InvalidArgument(bad);
  } catch (const CorruptHistoryEntry&) {
    throw InvalidArgument(bad);
  }
  return out;
}

/// A number of a history entry (read by get_history's `read`) in [lo, hi], and a whole number where
/// `integer`; else CorruptHistoryEntry (a forged -5 accuracy went into the results as null, an epoch
/// of 2^63 as 0).
inline double history_number(const nlohmann::json& x, double lo, double hi, bool integer = false) {
  if (!x.is_number()) throw CorruptHistoryEntry{};
  const double v = x.get<double>();
  if (!(v >= lo && v <= hi) || (integer && v != std::floor(v))) throw CorruptHistoryEntry{};
  return v;
}

/// A history number that is -1 for "none" (an accuracy not evaluated, a loss not measured) or else in
/// [lo, hi]; else CorruptHistoryEntry.
inline double history_number_or_none(const nlohmann::json& x, double lo, double hi) {
  const double v = history_number(x, std::min(lo, -1.0), hi);
  if (v != -1 && v < lo) throw CorruptHistoryEntry{};
  return v;
}

/// The epochs of a history read from a checkpoint that has finished `done` epochs: increasing, each
/// in [1, done]. Else InvalidArgument "<what> '<path>' has a corrupt training history" (a history
/// tripled gave three rows of epoch 1).
template <class E>
void check_history_epochs(const std::vector<E>& history, int32_t done, const std::string& path, const std::string& what) {
  int32_t last = 0;
  for (const E& e : history) {
    if (e.epoch <= last || e.epoch > done) {
      throw InvalidArgument(what + " '" + path + "' has a corrupt training history (epoch " + std::to_string(e.epoch) + " after epoch " +
                            std::to_string(last) + ", of " + std::to_string(done) + " finished)");
    }
    last = e.epoch;
  }
}

/// The mid-epoch checkpoint of a trainer's batch loop, every `every` batches (0: never) but not
/// after an epoch's last batch (the end of the epoch writes its own): called after batch `batch`
/// (0-based) is done, `save` sees batch + 1 batches done and, when epoch_wall is given, the epoch's
/// wall time so far (epoch_wall + now - t0); both are as before afterwards, the time spent saving
/// left out of the epoch's.
template <class Save>
void save_mid_epoch(int64_t every, int64_t per_epoch, int64_t& batch, Save&& save, double* epoch_wall = nullptr, double t0 = 0) {
  if (every <= 0 || (batch + 1) % every != 0 || batch + 1 >= per_epoch) return;
  if (epoch_wall) *epoch_wall += monotonic_s() - t0;
  ++batch;
  save();
  --batch;
  if (epoch_wall) *epoch_wall -= monotonic_s() - t0;
}

/// The training time budget of a trainer's batch loop (train.time_budget_s; 0: none), checked before
/// each batch: true once the run's training time, `trained_s` (finished epochs and this one's earlier
/// stretches, over resumes) plus this stretch's (now - t0), reaches `budget_s`; *epoch_wall then
/// includes this stretch. The trainer checkpoints and stops there, so that a resumed run with a
/// larger budget (or none) goes on bit for bit.
inline bool time_budget_spent(double budget_s, double trained_s, double* epoch_wall, double t0) {
  if (budget_s <= 0) return false;
  const double stretch = monotonic_s() - t0;
  if (trained_s + stretch < budget_s) return false;
  *epoch_wall += stretch;
  return true;
}

}  // namespace pbit::detail
