// The `pbit` command, built on CLI11 (Debian's libcli11-dev): one file per group of subcommands
// (cmd_graph.cpp: sample, color, graph, info, backends, version; cmd_dbm.cpp; cmd_dtm.cpp; cmd_eqprop.cpp;
// cmd_pdnn.cpp; cmd_compare.cpp), each registering its subcommands, their typed options and an action that runs
// after parsing. main.cpp turns every error into a message and an exit code (docs/CLI.md): 0 ok,
// 2 bad input or I/O, 3 internal error.
#pragma once
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "pbit/core/io.hpp"
#include "pbit/error.hpp"
#include "pbit/harness/compare.hpp"
#include "pbit/models/dataset.hpp"
#include "util/json_util.hpp"
#include "util/parse_number.hpp"
#include "util/text.hpp"

namespace pbit::cli {

/// Runs the command line `argv` (argv[0] the program name) as the `pbit` executable does and returns
/// its exit code: 0 ok, 2 bad input or I/O (pbit::Error, a bad option), 3 internal error; errors are
/// printed to stderr. With `rethrow`, pbit::Error and other exceptions propagate instead (the Python
/// module turns them into Python exceptions); parse errors print and return 2 unless
/// `rethrow_bad_options` too: then they throw InvalidArgument with the message.
int run(int argc, char** argv, bool rethrow = false, bool rethrow_bad_options = false);


/// What runs when a subcommand was given: its exit code.
using Action = std::function<int()>;

/// The subcommands and their actions. Option values live in objects the actions share (make_shared),
/// so they outlive parsing.
struct Commands {
  CLI::App* app = nullptr;
  std::map<const CLI::App*, Action> actions;
  void add(CLI::App* sub, Action a) { actions[sub] = std::move(a); }
};

void add_graph_commands(Commands& c);
void add_dbm_commands(Commands& c);
void add_dtm_commands(Commands& c);
void add_eqprop_commands(Commands& c);
void add_pdnn_commands(Commands& c);
void add_compare_commands(Commands& c);

/// A validator for a number option within [lo, hi], parsed whole and exactly (std::from_chars): its
/// message completes "--name " (main.cpp joins them), e.g. "takes a number in [1, 65536], got '0'".
/// Integer types also refuse fractions, and say "a whole number in [lo, hi]"; a seed ([0, 2^64)) too.
template <class T>
CLI::Validator number_in(T lo, T hi) {
  return CLI::Validator(
      [lo, hi](std::string& s) -> std::string {
        auto range = [&] {
          if constexpr (std::is_same_v<T, uint64_t>) {
            if (lo == 0 && hi == std::numeric_limits<uint64_t>::max()) return std::string("takes a whole number in [0, 2^64)");
          }
          if constexpr (std::is_integral_v<T>) {  // exact bounds: 1099511627776, not 1.09951162778e+12
            return "takes a whole number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
          }
          return "takes a number in [" + detail::format_number(static_cast<double>(lo)) + ", " +
                 detail::format_number(static_cast<double>(hi)) + "]";
        };
        if constexpr (std::is_integral_v<T>) {
          T v{};
          if (detail::parse_number(s, v) == detail::ParseStatus::ok) {
            if (v < lo || v > hi) return range() + ", got '" + s + "'";
            return "";
          }
          return range() + ", got '" + s + "'";  // a fraction too: the range says "whole"
        } else {
          T v{};
          if (!detail::parse_number_ok(s, v) || !(v >= lo && v <= hi)) return range() + ", got '" + s + "'";
          return "";
        }
      },
      "", "");
}

/// A validator for a name that reports show as a plot series and a table row (pdnn's --label): empty
/// (no name) or is_plain_label. Its message completes "--label ".
inline CLI::Validator plain_label_option() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        return s.empty() || is_plain_label(s) ? "" : "takes one printable line without quotes, backslashes or '|' (nor spaces only or Unicode bidirectional controls: it names a plot series and a table row)";
      },
      "", "");
}

/// A comma-separated list, as given (empty items kept, so that "1,,2" and "1,2," are errors for the
/// caller).
inline std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream list(s);
  for (std::string tok; std::getline(list, tok, ',');) out.push_back(tok);
  if (!s.empty() && s.back() == ',') out.emplace_back();  // getline drops a last empty item
  return out;
}

/// An explicit `--test-images N` must fit in the test set (0 = all): asking for more is an error, not
/// silently fewer images. A config's data.test_images stays "up to" (the same config serves the full
/// dataset and a small test copy).
inline void check_test_images_option(int64_t asked, int64_t available, const std::string& dataset) {
  if (asked > available) {
    throw InvalidArgument("--test-images " + std::to_string(asked) + " asks for more images than the " + dataset + " test set has (" +
                          std::to_string(available) + "; 0 = all)");
  }
}

/// Whether a training run continues from `checkpoint`: with --resume when it exists (without one it
/// says so and starts afresh); a fresh run refuses to replace an earlier run's checkpoint unless
/// --overwrite is given (InvalidArgument naming both flags). A fresh start removes `stale`, the
/// earlier run's results in the same folder (results.json, the model, images), so that they are
/// never read beside the new run's checkpoint. With `check_only` (--check) it refuses and decides as
/// it would, but says and removes nothing.
bool resume_or_start(const std::string& checkpoint, bool resume, bool overwrite, const std::vector<std::string>& stale = {},
                     bool check_only = false);
/// Removes the files of `folder` named prefix + a whole number + suffix ("generated_T8.png") whose
/// number (written as pbit writes it, no leading zero) is not in `keep`, files and links only: an
/// earlier run's outputs of a kind this run wrote for other numbers, so that a folder reused for a
/// run never shows a file of the last one beside this one's. Says each.
void remove_other_numbered(const std::string& folder, const std::string& prefix, const std::string& suffix, const std::vector<int64_t>& keep);
/// Runs `load` (reading a run's checkpoint in `dir`). When it refuses the checkpoint as another
/// training config's (ConfigMismatch, whose fingerprint names no setting), the error also names the
/// settings in which this run's config differs from the one the run recorded in `dir`'s metrics.json
/// or results.json, when one is there: their config_resolved (every setting, defaults filled in)
/// against `resolved`, or, in a file from before pbit recorded it, their config as given against
/// `given`.
void load_run_checkpoint(const std::function<void()>& load, const nlohmann::json& given, const nlohmann::json& resolved,
                         const std::string& dir);
/// The same for a model's config (DbmConfig, DtmConfig, EqPropConfig, PdnnConfig) and its output_dir.
template <class Config>
void load_run_checkpoint(const std::function<void()>& load, const Config& cfg) {
  load_run_checkpoint(load, cfg.source, resolved_config(cfg), cfg.output_dir);
}

/// A lease folder's record of the config its leases run (DIR/lease_config.json, a name no config has:
/// config.json was a user's config kept in the lease folder, overwritten; config_resolved and config,
/// written at each lease's start), so that a lease refused for another config names the settings that
/// differ (load_run_checkpoint reads it) on a machine that lacks the earlier leases' output folder: it
/// said only "a different training config" (helper-118).
template <class Config>
void record_lease_config(const std::string& lease_dir, const Config& cfg, bool writer) {
  if (writer) write_json_file(lease_dir + "/lease_config.json", {{"config_resolved", resolved_config(cfg)}, {"config", cfg.source}});
}

/// "run.seed (was 1, now 7), train.lr (was 0.01, now 0.02)": the settings (dotted keys, _comment
/// left out) in which `now` differs from `was`, at most `most` of them and then how many more; those
/// a resume may change (run.backend, train.epochs, eval.*, ...) follow after "; also in settings a
/// resume may change: ". Empty when only those differ: they cannot explain a refused checkpoint.
std::string changed_settings(const nlohmann::json& was, const nlohmann::json& now, size_t most = 8);

/// A lease (--lease) keeps its checkpoints in the lease folder and writes model.json and results.json
/// into `output_dir`: it refuses a folder that holds a run's checkpoint.bin (a run without --lease, whose
/// results it would replace and whose --resume it would break).
void refuse_lease_over_run(const std::string& output_dir);
/// dir/name for each name: the files of a run's folder.
inline std::vector<std::string> files_in(const std::string& dir, std::initializer_list<const char*> names) {
  std::vector<std::string> out;
  for (const char* n : names) out.push_back(dir + "/" + n);
  return out;
}

/// A command's output folder, made with its missing parents, for the command's scope: if the command
/// fails (an exception leaves that scope), the folders it made are removed again where they are still
/// empty, so that a refused command leaves no folder behind (helper-108: a p-DNN refused for its size
/// left a folder holding only the run's lock). Under MPI only rank 0 makes and removes them.
class MadeFolder {
 public:
  explicit MadeFolder(const std::string& dir);
  ~MadeFolder();
  MadeFolder(const MadeFolder&) = delete;
  MadeFolder& operator=(const MadeFolder&) = delete;
  /// Whether this made the folder (it did not exist) and the command is failing now.
  bool failing_in_new_folder() const;

 private:
  std::vector<std::string> made_;  ///< the folders made, outermost first
  int uncaught_;
};

/// Held by a training command for its whole run: a second pbit run on the same output folder is
/// refused while the first one runs (an flock on DIR/.pbit-lock, released when the process ends,
/// killed or not). Creates the folder (a MadeFolder: a run that fails in a folder it made removes the
/// lock and the folder where nothing else is in it). Under MPI only rank 0 takes it.
class RunLock {
 public:
  explicit RunLock(const std::string& dir);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  /// False on other ranks and where the filesystem has no flock (the run goes on unguarded).
  bool held() const { return held_; }

 private:
  MadeFolder folder_;
  std::string path_;
  int fd_ = -1;
  bool held_ = false;
};

/// --backend NAME and --threads N of a training command (replacing run.backend and run.threads;
/// -1 / empty when not given); `backend_note` ends --backend's help.
void add_backend_options(CLI::App* s, std::string& backend, int& threads, const std::string& backend_note);

/// The options `dbm train` and `dtm train` share for continuing a run: --backend (replaces
/// run.backend; the backends train bit for bit alike, so a run may continue on another one),
/// --threads (replaces run.threads; -1 when not given) and --check (with --resume or --lease: read
/// the checkpoint as the run would, say where it stands, write nothing).
void add_continue_options(CLI::App* s, std::string& backend, int& threads, bool& check);

/// --check alone (eqprop and p-DNN train, whose backends are added with their own note).
void add_check_option(CLI::App* s, bool& check);

/// What --check says of a checkpoint a run would continue from, for the trainers counted in epochs
/// and batches: "CKPT: the run continues at epoch E of N, batch B (U updates and S s of training so
/// far)", or "CKPT: the run has finished (...)".
std::string checkpoint_standing(const std::string& checkpoint, int32_t epochs_done, int32_t epochs, int64_t batch, int64_t updates,
                                double train_s);

/// printable(): util/text.hpp (what the CLI says names paths and keys through it).
using detail::printable;

/// `--check` of such a trainer (EqPropTrainer, PdnnTrainer, PdnnVaeTrainer): reads the checkpoint
/// --resume would continue from (refusing it as --resume would), prints "check: ..." and returns the
/// exit code 0; writes nothing.
template <class Trainer, class Config>
int check_trainer(Trainer& trainer, const std::string& checkpoint, bool resume, bool overwrite, const std::vector<std::string>& stale,
                  const Config& cfg) {
  std::string what = "nothing to continue: no " + checkpoint + " (the run would start afresh)";
  if (resume_or_start(checkpoint, resume, overwrite, stale, true)) {
    load_run_checkpoint([&] { trainer.load_checkpoint(checkpoint); }, cfg);
    what = checkpoint_standing(checkpoint, trainer.epoch(), cfg.epochs, trainer.batch_in_epoch(), trainer.updates(), trainer.train_seconds());
  }
  std::printf("check: %s\n", printable(what).c_str());
  return 0;
}

/// What --resume says of the checkpoint it continues from, for the trainers counted in epochs and
/// batches (eqprop, pdnn; dbm's adds its time budget): "resuming at epoch E of N, batch B (U updates
/// done)", or where the epochs are done "the run has finished (...): no training left". It said
/// "resuming after epoch 0" of a checkpoint in the middle of epoch 1 (helper-108).
template <class Trainer>
std::string resuming_note(const Trainer& t, int32_t epochs) {
  if (t.epoch() >= epochs) {
    return "the run has finished (" + std::to_string(t.epoch()) + " of " + std::to_string(epochs) + " epochs, " + std::to_string(t.updates()) +
           " updates): no training left; evaluating and writing its results again";
  }
  return "resuming at epoch " + std::to_string(t.epoch() + 1) + " of " + std::to_string(epochs) + ", batch " + std::to_string(t.batch_in_epoch()) +
         " (" + std::to_string(t.updates()) + " updates done)";
}

/// --seed S of the training commands: replaces run.seed (`seeds` says what it seeds, for the help),
/// range-checked as the config key is; `given` records that it was given.
void add_seed_option(CLI::App* s, uint64_t& seed, bool& given, const std::string& seeds);

/// The options every training command shares (--time-budget, --seed, --out, --backend, --threads)
/// over its config, each recorded in results.json's config (detail::override_key): `o` has
/// time_budget, seed_given, seed, out and threads; `backend` is its --backend.
template <class Config, class Options>
void override_run_options(Config& cfg, const Options& o, const std::string& backend) {
  if (o.time_budget >= 0) detail::override_key(cfg.time_budget_s, o.time_budget, cfg.source, {"train", "time_budget_s"});
  if (o.seed_given) detail::override_key(cfg.seed, o.seed, cfg.source, {"run", "seed"});
  if (!o.out.empty()) detail::override_key(cfg.output_dir, o.out, cfg.source, {"run", "output_dir"});
  if (!backend.empty()) detail::override_key(cfg.backend, backend, cfg.source, {"run", "backend"});
  if (o.threads >= 0) detail::override_key(cfg.threads, o.threads, cfg.source, {"run", "threads"});
}

/// A training command's output folder before the data are read: created, held (RunLock), cleared
/// of the temporary files a killed run left there and in the lease's folder, checked writable, and
/// refused for a lease when a run without one owns it; the lock lives as long as the returned
/// object. With `check` nothing is created or held (nullptr), and --check without --resume or
/// --lease is refused (`leases`: whether the command has --lease, for that message).
std::unique_ptr<RunLock> prepare_output(const std::string& dir, bool check, bool resume, const std::string& lease, bool leases = true);

/// Under MPI ranks: throws InvalidArgument on every rank unless all ranks read the same bytes from
/// `files` (configs, models: a node may hold another copy) and were given the same `options`; a run
/// whose ranks disagree would not be one run. Nothing for one process.
void check_ranks_agree(const std::vector<std::string>& files, const std::string& options, const std::string& what);

/// Under MPI ranks: throws InvalidArgument on every rank unless all ranks see the same files at
/// `paths` (each absent, or present with the same bytes). Checkpoints are written by rank 0 and read
/// by every rank, so a resume needs an output folder that every rank shares.
void check_ranks_see_same(const std::vector<std::string>& paths, const std::string& what = "the checkpoint files");

/// Under MPI ranks: throws InvalidArgument on every rank unless all ranks read the same images and
/// labels, or the same graph (nodes, edges, weights, biases) from a graph file; `what` names them.
/// check_ranks_agree compares the config, but a dataset or graph file it names is read on each node,
/// which may hold another copy: ranks that read different images trained another model without a
/// word, or ended in an MPI error. Nothing for one process.
void check_ranks_read_same(const ImageDataset& data, const std::string& what);
void check_ranks_read_same(const Graph& graph, const std::string& what);

/// The lease records of a run trained in pieces (--lease DIR, docs/CLI.md): those of the earlier
/// leases, which the model-only checkpoint carries, and this lease's, written with every checkpoint of
/// the lease through `save_checkpoint` (given all the records) and then into DIR/leases.json (rank 0).
class LeaseLog {
 public:
  using SaveCheckpoint = std::function<void(const nlohmann::json& records)>;
  /// `dir` empty: no lease, and save() does nothing.
  LeaseLog(std::string dir, bool writer, SaveCheckpoint save_checkpoint);
  /// The earlier leases' records, read from the checkpoint. `run_finished`: one of them finished the
  /// run, so this lease adds no record; DIR/leases.json, which scripts read to see whether the run is
  /// done, is rewritten from `earlier` (and said so) where it does not hold them (a lease killed
  /// between writing the checkpoint and it).
  void resume(nlohmann::json earlier, bool run_finished);
  /// Opens this lease's record: its number, start time, git sha, `device`, `from` (where it starts)
  /// and, for a run's first lease, a random run_id. Says so (rank 0) where `output_dir` holds the
  /// results.json of another run's leases (another run_id), which this run's will replace (a fresh
  /// run says what it removes).
  void open(const std::string& device, const nlohmann::json& from, const std::string& output_dir);
  /// Writes the records with this lease's: its opening fields, `result` (an evaluation, where it has
  /// one), `progress` (where it has got to) and its end time. A lease on a finished run adds no record,
  /// but its `result` completes a last record that has none (that lease was cut during its final
  /// evaluation or generation; the model is the same), with the time in `result_utc`.
  void save(const nlohmann::json& progress, const nlohmann::json& result = nullptr);
  /// The records as last written (or read).
  const nlohmann::json& records() const { return written_; }

 private:
  std::string dir_;
  bool writer_ = false, run_finished_ = false;
  SaveCheckpoint save_checkpoint_;
  nlohmann::json earlier_ = nlohmann::json::array(), lease_, written_ = nlohmann::json::array();
  void write(const nlohmann::json& all);
};

/// Whether two paths name the same file: through links where the folders exist, else as spelt
/// (after making them absolute and normal).
bool same_file(const std::string& a, const std::string& b);

/// Throws InvalidArgument when the output file `out` (option `out_option`) is one of the command's
/// input files (option, path): writing it would destroy the input before, or while, it is read.
/// The same file through links or another spelling counts; an empty path is no file.
void refuse_output_over_input(const std::string& out_option, const std::string& out,
                              const std::vector<std::pair<std::string, std::string>>& inputs);
inline void refuse_output_over_input(const std::string& out_option, const std::string& out,
                                     std::initializer_list<std::pair<const char*, std::string>> inputs) {
  refuse_output_over_input(out_option, out, std::vector<std::pair<std::string, std::string>>(inputs.begin(), inputs.end()));
}

/// The time now as ISO 8601 UTC.
std::string utc_now();

/// `--journal FILE` (dbm eval, compare): the error for a FILE that is not this run's journal, and
/// FILE read and checked to be a journal of `format` (version 1, with the array `list`) of the
/// command `command`; null when there is no FILE yet.
InvalidArgument journal_refused(const std::string& path, const std::string& why);
nlohmann::json read_journal(const std::string& path, const std::string& format, const char* list, const std::string& command);
/// A journal's key: 16 hex digits.
std::string hex_key(uint64_t key);

/// Prints `j` to stdout, or writes it to `out` (when not empty) and says so on stderr.
void emit(const std::string& out, const nlohmann::json& j);

/// A degree histogram as [[degree, count], ...] in increasing degree (a JSON object would sort the
/// degrees as strings: "10" before "6").
nlohmann::json degree_histogram(const std::vector<int32_t>& degrees);

/// `pbit MODEL config --config FILE [--out F]` in `group` (dbm, dtm, eqprop, pdnn): the config's keys
/// and ranges checked as a run checks them first, and every setting with the value it takes, defaults
/// included (resolved_config: what a run records as config_resolved), written as JSON (emit). With
/// `graph` (given the config, builds the model's network on 28x28 images: its graph built or read, its
/// roles placed), what a run would refuse there is refused here too; the data and the other files it
/// names are not read.
template <class Parse, class Graph = std::nullptr_t>
void add_config_command(Commands& c, CLI::App* group, const std::string& model, Parse parse, Graph graph = nullptr) {
  struct Opt {
    std::string config, out;
  };
  auto o = std::make_shared<Opt>();
  CLI::App* s = group->add_subcommand("config", "Checks a " + model + " config's keys and ranges and prints every setting with the value it takes, "
                                                "defaults included (what a run's results.json records as config_resolved)");
  s->add_option("--config", o->config, model + " config (JSON)")->required();
  s->add_option("--out", o->out, "write it to this file (atomically) instead of stdout");
  c.add(s, [o, parse, graph] {
    refuse_output_over_input("--out", o->out, {{"--config", o->config}});
    const auto cfg = parse(read_json_file(o->config));
    if constexpr (!std::is_null_pointer_v<Graph>) graph(cfg);
    emit(o->out, resolved_config(cfg));
    return 0;
  });
}

}  // namespace pbit::cli
