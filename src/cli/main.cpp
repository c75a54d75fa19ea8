// `pbit`: the command-line front end. Library code throws; only here are errors turned into messages
// and exit codes: 0 ok, 2 bad input or I/O (pbit::Error, a bad option), 3 internal error.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <random>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <filesystem>
#include <functional>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "cli.hpp"
#include "pbit/build_info.hpp"
#include "pbit/core/io.hpp"
#include "pbit/dist/comm.hpp"
#include "pbit/hardware/topology.hpp"
#include "util/binary_io.hpp"
#include "util/file_io.hpp"
#include "util/parse_number.hpp"
#include "util/progress.hpp"
#include "util/text.hpp"

namespace pbit::cli {

InvalidArgument journal_refused(const std::string& path, const std::string& why) {
  return InvalidArgument("--journal " + path + ": " + why + "; remove it to start afresh, or name another file");
}

nlohmann::json read_journal(const std::string& path, const std::string& format, const char* list, const std::string& command) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return nullptr;
  const nlohmann::json j = read_json_file(path);
  auto is = [&j](const char* k, const nlohmann::json& v) { return j.contains(k) && j[k] == v; };  // (no throw on a wrong type)
  if (!j.is_object() || !is("format", format) || !is("version", 1) || !j.contains(list) || !j[list].is_array()) {
    throw journal_refused(path, "not a journal of " + command);
  }
  return j;
}

std::string hex_key(uint64_t key) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(key));
  return hex;
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

bool resume_or_start(const std::string& checkpoint, bool resume, bool overwrite, const std::vector<std::string>& stale, bool check_only) {
  const bool exists = std::filesystem::exists(checkpoint);
  if (resume && exists) return true;
  if (resume && !check_only && dist::rank() == 0) std::cerr << "--resume: no checkpoint at " << printable(checkpoint) << " yet; starting afresh\n";
  if (!resume && exists && !overwrite) {
    throw InvalidArgument(checkpoint + " holds an earlier run's checkpoint: pass --resume to continue that run, or --overwrite " +
                          "to start afresh and replace it (or choose another --out)");
  }
  // A lease keeps its checkpoints in its lease folder, so its results here have no checkpoint beside
  // them: they are not removed as an earlier run's without --overwrite either.
  if (!exists && !overwrite) {
    for (const std::string& f : stale) {
      if (std::filesystem::path(f).filename() != "results.json" || !std::filesystem::is_regular_file(f)) continue;
      std::ifstream in(f);
      const nlohmann::json r = nlohmann::json::parse(in, nullptr, false);
      if (r.is_object() && r.contains("leases")) {
        throw InvalidArgument(f + " holds a lease's results (pbit ... --lease): pass --overwrite to replace them, or choose another --out");
      }
    }
  }
  if (dist::rank() == 0 && !check_only) {
    for (const std::string& f : stale) {
      std::error_code ec;
      if (std::filesystem::remove(f, ec) && !ec) std::cerr << "removed " << f << " (an earlier run's)\n";
      if (ec) throw IoError("cannot remove the earlier run's '" + f + "': " + ec.message(), f, ec.value());
    }
  }
  return false;
}

void remove_other_numbered(const std::string& folder, const std::string& prefix, const std::string& suffix, const std::vector<int64_t>& keep) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(folder, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() <= prefix.size() + suffix.size() || name.rfind(prefix, 0) != 0 || !name.ends_with(suffix)) continue;
    const std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
    if (digits.size() > 18 || !std::all_of(digits.begin(), digits.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) continue;
    // A name pbit writes (no leading zero), of a file or link: not a folder a user keeps there.
    if (std::to_string(std::stoll(digits)) != digits || std::find(keep.begin(), keep.end(), std::stoll(digits)) != keep.end()) continue;
    std::error_code st;
    const auto type = e.symlink_status(st).type();
    if (st || (type != std::filesystem::file_type::regular && type != std::filesystem::file_type::symlink)) continue;
    std::error_code rm;
    if (std::filesystem::remove(e.path(), rm) && !rm) std::cerr << "removed " << printable(e.path().string()) << " (an earlier run's)\n";
  }
}

namespace {
void flatten_settings(const nlohmann::json& j, const std::string& at, std::map<std::string, nlohmann::json>& out) {
  if (!j.is_object() || (j.empty() && !at.empty())) {  // (an empty {} is a value too)
    out[at] = j;
    return;
  }
  for (const auto& [k, v] : j.items()) {
    if (k != "_comment") flatten_settings(v, at.empty() ? k : at + "." + k, out);
  }
}

/// Settings no model's checkpoint fingerprint holds (where outputs go, how long, on what, what is
/// evaluated or generated after training): a resume may change them, so they never explain a refusal.
bool resume_may_change(const std::string& key) {
  static const std::set<std::string> keys = {"run.backend",     "run.threads",          "run.output_dir",  "train.epochs",
                                             "dataset.dir",     "dataset.test_limit",   "data.data_dir",   "data.test_images",
                                             "train.eval_images_per_epoch"};
  return keys.count(key) > 0 || key.rfind("eval.", 0) == 0 || key.rfind("generate.", 0) == 0;
}
}  // namespace

std::string changed_settings(const nlohmann::json& was, const nlohmann::json& now, size_t most) {
  std::map<std::string, nlohmann::json> a, b;
  flatten_settings(was, "", a);
  flatten_settings(now, "", b);
  auto shown = [](const std::map<std::string, nlohmann::json>& m, const std::string& k) {
    const auto it = m.find(k);
    if (it == m.end()) return std::string("not set");
    std::string s = it->second.dump();
    if (s.size() <= 40) return s;
    size_t cut = 37;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 character
    return s.substr(0, cut) + "...";
  };
  std::set<std::string> keys;
  for (const auto& [k, v] : a) keys.insert(k);
  for (const auto& [k, v] : b) keys.insert(k);
  std::vector<std::string> fixed, free;  // what the run cannot change, then what a resume may change
  for (const std::string& k : keys) {
    const auto x = a.find(k), y = b.find(k);
    if (x != a.end() && y != b.end() && x->second == y->second) continue;
    (resume_may_change(k) ? free : fixed).push_back(k + " (was " + shown(a, k) + ", now " + shown(b, k) + ")");
  }
  if (fixed.empty()) return "";  // the difference is not in the settings (a graph file's contents, say)
  return pbit::detail::join_at_most(fixed, most) + (free.empty() ? "" : "; also in settings a resume may change: " + pbit::detail::join_at_most(free, most));
}

void load_run_checkpoint(const std::function<void()>& load, const nlohmann::json& given, const nlohmann::json& resolved,
                         const std::string& dir) {
  try {
    load();
  } catch (const ConfigMismatch& e) {
    for (const char* name : {"metrics.json", "results.json", "lease_config.json"}) {  // (lease_config.json: a lease folder's, record_lease_config)
      const std::string f = (dir.empty() ? std::string(".") : dir) + "/" + name;
      std::error_code ec;
      if (!std::filesystem::is_regular_file(f, ec)) continue;
      nlohmann::json r;
      try {
        r = read_json_file(f);  // (its depth cap keeps a hostile file from the recursion below)
      } catch (const Error&) {
        continue;  // unreadable: the refusal as it was
      }
      // Every setting against every setting where the run recorded them (a default given in one
      // config and left out of the other is no difference); else the configs as given.
      const bool all = r.is_object() && r.contains("config_resolved") && r["config_resolved"].is_object();
      const char* key = all ? "config_resolved" : "config";
      if (!r.is_object() || !r.contains(key) || !r[key].is_object()) continue;
      const std::string changed = changed_settings(r[key], all ? resolved : given);
      if (changed.empty()) break;  // the same settings: nothing to name
      throw ConfigMismatch(e.reason() + " (this config differs from the one recorded in " + f + " in " + changed + ")");
    }
    throw;
  }
}

void refuse_lease_over_run(const std::string& output_dir) {
  const std::string ckpt = (output_dir.empty() ? std::string(".") : output_dir) + "/checkpoint.bin";
  if (!std::filesystem::exists(ckpt)) return;
  throw InvalidArgument(ckpt + " is the checkpoint of a run without --lease (or of a lease by a pbit before 2026-12-01); a lease "
                        "there would replace that run's results and break its --resume: choose another --out (or remove the "
                        "checkpoint, if that run is not wanted)");
}

void add_backend_options(CLI::App* s, std::string& backend, int& threads, const std::string& backend_note) {
  s->add_option("--backend", backend, "replaces run.backend: reference, cpu, cuda, packed or best" + backend_note)
      ->check(CLI::IsMember({"reference", "cpu", "cuda", "packed", "best"}));
  s->add_option("--threads", threads,
                "replaces run.threads: the host backends' OpenMP threads, at most 4 per core (0 = OpenMP's default; the results "
                "do not depend on it)")
      ->check(number_in<int>(0, 4096));
}

void add_continue_options(CLI::App* s, std::string& backend, int& threads, bool& check) {
  add_backend_options(s, backend, threads, " (a run may continue on another backend: they train bit for bit alike)");
  s->add_flag("--check", check,
              "with --resume or --lease: read the config, the data and the checkpoint the run would continue from, say where "
              "it stands and exit without training or writing anything (a checkpoint this pbit cannot continue is an error)");
}

void add_check_option(CLI::App* s, bool& check) {
  s->add_flag("--check", check,
              "with --resume: read the config, the data and the checkpoint the run would continue from, say where it stands "
              "and exit without training or writing anything (a checkpoint this pbit cannot continue is an error)");
}

std::string checkpoint_standing(const std::string& checkpoint, int32_t epochs_done, int32_t epochs, int64_t batch, int64_t updates,
                                double train_s) {
  std::ostringstream m;
  m << std::fixed;
  m.precision(2);  // 1234.56 s, not 1.23e+03
  m << checkpoint << ": ";
  if (epochs_done >= epochs) m << "the run has finished (" << epochs_done << " of " << epochs << " epochs";
  else m << "the run continues at epoch " << epochs_done + 1 << " of " << epochs << ", batch " << batch << " (";
  m << (epochs_done >= epochs ? ", " : "") << updates << " updates and " << train_s << " s of training so far)";
  return m.str();
}

void add_seed_option(CLI::App* s, uint64_t& seed, bool& given, const std::string& seeds) {
  s->add_option("--seed", seed, "replaces run.seed (" + seeds + ")")
      ->check(number_in<uint64_t>(0, uint64_t{1} << 40))
      ->each([&given](const std::string&) { given = true; });
}

LeaseLog::LeaseLog(std::string dir, bool writer, SaveCheckpoint save_checkpoint)
    : dir_(std::move(dir)), writer_(writer), save_checkpoint_(std::move(save_checkpoint)) {}

void LeaseLog::resume(nlohmann::json earlier, bool run_finished) {
  earlier_ = std::move(earlier);
  written_ = earlier_;
  run_finished_ = run_finished;
  if (!run_finished || !writer_) return;
  const std::string path = dir_ + "/leases.json";
  bool same = false;
  try {
    same = std::filesystem::exists(path) && read_json_file(path) == earlier_;
  } catch (const Error&) {  // unreadable: written again below
  }
  if (!same) {
    write_json_file(path, earlier_);
    std::cerr << "note: " << printable(path) << " did not hold the lease record of " << printable(dir_) << "/model_checkpoint.bin (a lease ended "
              << "between writing the two?): written again from the checkpoint\n";
  }
}

void LeaseLog::open(const std::string& device, const nlohmann::json& from, const std::string& output_dir) {
  lease_ = {{"lease", earlier_.size() + 1}, {"utc_start", utc_now()}, {"git_sha", build_git_sha()}, {"device", device}};
  lease_.update(from);
  // A run's first lease names it (run_id, random: two runs may start within one second), so that its
  // results are told from another run's.
  if (earlier_.empty()) {
    std::random_device rd;
    char id[17];
    std::snprintf(id, sizeof id, "%08x%08x", rd(), rd());
    lease_["run_id"] = id;
  }
  if (!writer_) return;
  const nlohmann::json& first = earlier_.empty() ? lease_ : earlier_[0];
  const std::string results = output_dir + "/results.json";
  try {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(results, ec)) return;
    const nlohmann::json r = read_json_file(results);
    if (!r.is_object() || !r.contains("leases") || !r["leases"].is_array() || r["leases"].empty()) return;
    const nlohmann::json& theirs = r["leases"][0];
    // (runs from before run_id are not told apart)
    if (theirs.is_object() && theirs.contains("run_id") && first.contains("run_id") && theirs["run_id"] != first["run_id"]) {
      std::cerr << "note: " << results << " holds the results of another lease run (its lease 1 began " << theirs.value("utc_start", "?")
                << "; this run's " << first.value("utc_start", "?") << "): this run's results replace them\n";
    }
  } catch (const Error&) {  // unreadable: replaced as it would be anyway
  } catch (const nlohmann::json::exception&) {
  }
}

void LeaseLog::save(const nlohmann::json& progress, const nlohmann::json& result) {
  if (dir_.empty()) return;
  if (run_finished_) {
    if (!result.is_object() || earlier_.empty()) return;
    nlohmann::json& last = earlier_.back();
    for (const auto& [key, value] : result.items()) {
      if (last.contains(key)) return;
    }
    last.update(result);
    last["result_utc"] = utc_now();
    write(earlier_);
    if (writer_) {
      std::cerr << "note: lease " << earlier_.size() << "'s record had no result (the lease was cut before it recorded one): "
                << "completed with this call's, of the same model, in " << dir_ << "/leases.json\n";
    }
    return;
  }
  nlohmann::json l = lease_;
  if (result.is_object()) l.update(result);
  l["utc_end"] = utc_now();
  l.update(progress);
  nlohmann::json all = earlier_;
  all.push_back(std::move(l));
  write(all);
}

void LeaseLog::write(const nlohmann::json& all) {
  save_checkpoint_(all);  // written by rank 0
  if (writer_) write_json_file(dir_ + "/leases.json", all);
  written_ = all;
}

bool same_file(const std::string& a, const std::string& b) {
  const auto where = [](const std::string& p) {  // through links where the folders exist
    std::error_code ec;
    const auto c = std::filesystem::weakly_canonical(std::filesystem::absolute(p), ec);
    return ec ? std::filesystem::absolute(p).lexically_normal() : c;
  };
  return where(a) == where(b);
}

void refuse_output_over_input(const std::string& out_option, const std::string& out,
                              const std::vector<std::pair<std::string, std::string>>& inputs) {
  if (out.empty()) return;
  for (const auto& [option, path] : inputs) {
    if (!path.empty() && same_file(path, out)) {
      throw InvalidArgument(out_option + " and " + option + " name the same file '" + out + "': the output would replace the input");
    }
  }
}

namespace {

/// Whether the file `name` in `dir` is what a killed pbit left there, and nothing else: the
/// temporary of an atomic write ("NAME.tmpPID", util/file_io.cpp) of a file of a kind pbit writes
/// (`lease`: the lease folder's two files only) whose process has ended on this host (a plot's,
/// util/gnuplot.cpp, are "NAME.png.tmpPID" and "NAME.gnuplot.log.tmpPID"), or a plot's of an earlier
/// build, whose plots' temporaries carried no process id ("NAME.png.tmp", "NAME.gnuplot.tmp"), beside
/// the NAME.gp that pbit writes first.
bool stale_temporary(const std::string& dir, const std::string& name, bool lease) {
  for (const char* plot : {".png.tmp", ".gnuplot.tmp"}) {
    if (!lease && name.ends_with(plot)) {
      const std::string base = name.substr(0, name.size() - std::strlen(plot));
      return !base.empty() && std::filesystem::is_regular_file(dir + "/" + base + ".gp");
    }
  }
  const size_t at = name.rfind(".tmp");
  if (at == std::string::npos || name.size() - at - 4 < 1 || name.size() - at - 4 > 9) return false;
  const std::string base = name.substr(0, at);
  const auto kinds = {".json", ".bin", ".png", ".dat", ".gp", ".log", ".md"};
  const bool ours = lease ? base == "model_checkpoint.bin" || base == "leases.json"
                          : std::any_of(kinds.begin(), kinds.end(), [&base](const char* x) {
                              return base.size() > std::strlen(x) && base.ends_with(x);
                            });
  if (!ours) return false;
  long pid = 0;
  for (size_t k = at + 4; k < name.size(); ++k) {
    if (name[k] < '0' || name[k] > '9') return false;
    pid = pid * 10 + (name[k] - '0');
  }
  return pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

/// Removes the stale temporaries (stale_temporary) in `dir`, saying which.
void remove_stale_temporaries(const std::string& dir, bool lease) {
  std::error_code ec;
  std::vector<std::string> removed;
  for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::error_code e;
    const std::string name = it->path().filename().string();
    if (it->symlink_status(e).type() == std::filesystem::file_type::regular && stale_temporary(dir, name, lease) &&
        std::filesystem::remove(it->path(), e)) {
      removed.push_back(name);
    }
  }
  std::sort(removed.begin(), removed.end());
  if (!removed.empty()) {
    std::cerr << "note: removed " << removed.size() << (removed.size() == 1 ? " temporary file" : " temporary files")
              << " a killed run left in " << printable(dir) << " (" << printable(detail::join_at_most(removed, 3)) << ")\n";
  }
}

}  // namespace

namespace {

/// Whether this process is the pbit program (run() without rethrow): only then does a training command
/// take SIGINT and SIGTERM (in Python, pbit.cli leaves Ctrl-C to the interpreter, progress.hpp).
bool standalone = false;

/// The note a stopped training run prints: where its checkpoint is and how to continue. Made before
/// the handler is installed, and only read by it (write(2) is async-signal-safe; building text is not).
char stop_note[4096];
size_t stop_note_len = 0;
bool stop_on_tty = false;

extern "C" void on_stop_signal(int sig) {
  const char* what = sig == SIGINT ? "pbit: interrupted (SIGINT); " : "pbit: stopped by SIGTERM; ";
  ssize_t ignored = stop_on_tty ? ::write(2, "\n", 1) : 0;  // after a status line redrawn in place
  ignored = ::write(2, what, std::strlen(what));
  ignored = ::write(2, stop_note, stop_note_len);
  (void)ignored;
  ::signal(sig, SIG_DFL);  // then as before: the process ends by the signal (exit status 128 + sig)
  ::raise(sig);
}

/// On rank 0 of a standalone run: SIGINT (Ctrl-C) and SIGTERM (a batch system's time limit) print
/// where the run's checkpoint is and how to continue from it, then end the process as they did. A
/// signal the caller ignores (nohup, a background job of a script) stays ignored. In pbit.cli the
/// note is only kept: an interrupt under mpirun says it (run()).
void say_where_on_stop(const std::string& dir, const std::string& lease) {
  if (dist::rank() != 0) return;
  const std::string note =
      lease.empty() ? "run the same command with --resume (in place of --overwrite, if given) to continue from the last checkpoint in " +
                          printable(dir.empty() ? std::string(".") : dir) + "; what ran after it runs again\n"
                    : "run the same command (--lease " + printable(lease) + ") to continue from the lease's last checkpoint; what ran after it runs again\n";
  stop_note_len = std::min(note.size(), sizeof stop_note);
  std::memcpy(stop_note, note.data(), stop_note_len);
  if (!standalone) return;  // (pbit.cli: the note is said where its interrupt ends the ranks, in run())
  stop_on_tty = ::isatty(2) != 0;
  for (const int sig : {SIGINT, SIGTERM}) {
    struct sigaction now {};
    if (::sigaction(sig, nullptr, &now) != 0 || now.sa_handler == SIG_IGN) continue;
    struct sigaction act {};
    act.sa_handler = on_stop_signal;
    sigemptyset(&act.sa_mask);
    ::sigaction(sig, &act, nullptr);
  }
}

}  // namespace

std::unique_ptr<RunLock> prepare_output(const std::string& dir, bool check, bool resume, const std::string& lease, bool leases) {
  if (check && !resume && lease.empty()) {
    throw InvalidArgument(leases ? "--check needs --resume or --lease: it checks the checkpoint they continue from"
                                 : "--check needs --resume: it checks the checkpoint --resume continues from");
  }
  std::unique_ptr<RunLock> lock;
  if (!check) {
    lock = std::make_unique<RunLock>(dir);  // makes the folder, before the data are read and training starts
    if (dist::rank() == 0) check_writable(dir + "/checkpoint.bin");
  }
  if (!lease.empty()) refuse_lease_over_run(dir);
  // What a killed run of this folder (and its lease's) left, now that no other run can be writing
  // it; not where the lock could not be taken (a filesystem without flock, maybe shared by hosts
  // whose process ids this one cannot see).
  if (lock && lock->held()) {
    remove_stale_temporaries(dir, false);
    if (!lease.empty()) remove_stale_temporaries(lease, true);
  }
  if (!check) say_where_on_stop(dir, lease);
  return lock;
}

MadeFolder::MadeFolder(const std::string& dir) : uncaught_(std::uncaught_exceptions()) {
  // Rank 0 writes the output: only it makes the folder, and so only it removes one that stays empty.
  // Every rank made it and rank 0 alone removed it, while a later rank made it again (helper-112).
  if (dist::rank() != 0) return;
  std::error_code ec;
  std::filesystem::path p = std::filesystem::path(dir).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();  // "out/"
  while (p.has_filename() && p.filename() != "." && p.filename() != ".." && !std::filesystem::exists(std::filesystem::symlink_status(p, ec))) {
    made_.insert(made_.begin(), p.string());
    p = p.parent_path();
  }
  make_directories(dir);
}

bool MadeFolder::failing_in_new_folder() const { return !made_.empty() && std::uncaught_exceptions() > uncaught_; }

MadeFolder::~MadeFolder() {
  if (!failing_in_new_folder() || dist::rank() != 0) return;
  for (auto it = made_.rbegin(); it != made_.rend(); ++it) {
    std::error_code ec;
    if (!std::filesystem::is_directory(*it, ec) || !std::filesystem::is_empty(*it, ec) || ec || !std::filesystem::remove(*it, ec)) return;
  }
}

RunLock::RunLock(const std::string& dir) : folder_(dir) {
  if (dist::rank() != 0) return;
  const std::string path = (dir.empty() ? std::string(".") : dir) + "/.pbit-lock";
  path_ = path;
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    const int e = errno;  // before the message is built
    throw detail::open_failed(e, "cannot open '" + path + "'", path);
  }
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK) {
      throw InvalidArgument("output folder '" + dir + "' is in use by another pbit run (" + path +
                            " is locked); wait for it to end, or choose another --out");
    }
    // A filesystem without flock (some network and parallel filesystems): run unguarded, and say so.
    std::cerr << "note: cannot lock " << printable(path) << " (" << std::strerror(err) << "); nothing stops a second run on this folder\n";
    return;
  }
  held_ = true;
}

RunLock::~RunLock() {
  if (held_ && folder_.failing_in_new_folder()) ::unlink(path_.c_str());  // then the folder may be removed (folder_)
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

void check_ranks_see_same(const std::vector<std::string>& paths, const std::string& what) {
  if (dist::size() == 1) return;
  std::string all;
  for (const std::string& p : paths) {
    all += "|" + p + ":";
    std::error_code ec;
    std::ifstream in(p, std::ios::binary);
    if (in && !std::filesystem::is_directory(p, ec)) all += std::to_string(detail::fnv1a(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>())));
    else all += "absent";
  }
  dist::check_same(detail::fnv1a(all), what + " (present or not, and their bytes: " + [&] {
    std::string l;
    for (const std::string& p : paths) l += (l.empty() ? "" : ", ") + p;
    return l;
  }() + "); they must lie in a folder every rank shares (rank 0 writes them)");
}

void check_ranks_agree(const std::vector<std::string>& files, const std::string& options, const std::string& what) {
  if (dist::size() == 1) return;
  std::string all = options;
  for (const std::string& f : files) {
    detail::refuse_folder(f);
    std::ifstream in(f, std::ios::binary);
    if (!in) {
      const int e = errno;  // before the message is built
      throw detail::open_failed(e, "cannot read '" + f + "'", f);
    }
    all += "|" + std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  dist::check_same(detail::fnv1a(all), what);
}

namespace {

template <class T>
uint64_t hash_values(const std::vector<T>& v, uint64_t h) {
  return detail::fnv1a(std::string_view(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T)), h);
}

}  // namespace

void check_ranks_read_same(const ImageDataset& data, const std::string& what) {
  if (dist::size() == 1) return;
  const uint64_t h = detail::fnv1a(std::to_string(data.rows) + "x" + std::to_string(data.cols) + "|" + std::to_string(data.size()));
  dist::check_same(hash_values(data.labels, hash_values(data.pixels, h)),
                   what + " (their images and labels: each rank reads its node's copy of the dataset, and those differ)");
}

void check_ranks_read_same(const Graph& graph, const std::string& what) {
  if (dist::size() == 1) return;
  uint64_t h = detail::fnv1a(std::to_string(graph.num_nodes()));
  h = hash_values(graph.edge_i(), h);
  h = hash_values(graph.edge_j(), h);
  h = hash_values(graph.weights(), h);
  h = hash_values(graph.biases(), h);
  dist::check_same(h, what + " (its nodes, edges and weights: each rank reads its node's copy of the file, and those differ)");
}

nlohmann::json degree_histogram(const std::vector<int32_t>& degrees) {
  std::map<int32_t, int64_t> hist;
  for (int32_t d : degrees) ++hist[d];
  nlohmann::json h = nlohmann::json::array();
  for (const auto& [d, c] : hist) h.push_back({d, c});
  return h;
}

namespace {

/// CLI11's help, with "usage:" as the rest of pbit writes it.
class Formatter : public CLI::Formatter {
 public:
  std::string make_usage(const CLI::App* app, std::string name) const override {
    std::string u = CLI::Formatter::make_usage(app, std::move(name));
    const auto p = u.find("Usage:");
    if (p != std::string::npos) u.replace(p, 6, "usage:");
    return u;
  }
  /// CLI11 starts the description on the name's line whenever the name is shorter than the column,
  /// so "--plot TEXT Needs: --sweeps" ran into its text with one space; a name that leaves fewer
  /// than two spaces puts its description on the next line, as a longer one already does.
  std::string make_option(const CLI::Option* opt, bool is_positional) const override {
    const std::string name = make_option_name(opt, is_positional) + make_option_opts(opt);
    const std::string desc = make_option_desc(opt);
    std::stringstream out;
    if (!desc.empty() && name.size() + 2 + 2 > get_column_width()) {
      out << "  " << name << "\n";
      CLI::detail::format_help(out, "", desc, get_column_width());
    } else {
      CLI::detail::format_help(out, name, desc, get_column_width());
    }
    return out.str();
  }
};

/// The command path of the deepest subcommand that was given, e.g. "pbit dbm eval".
std::string command_of(const CLI::App& app) {
  std::string s = "pbit";
  const CLI::App* a = &app;
  while (true) {
    const auto subs = a->get_subcommands();
    if (subs.empty()) break;
    a = subs.front();
    s += " " + a->get_name();
  }
  return s;
}

}  // namespace

namespace {

/// " (did you mean --config?)" for an unknown option within two edits of one of `a`'s long options,
/// else "".
std::string did_you_mean(const CLI::App* a, std::string word) {
  word = word.substr(0, word.find('='));  // --confg=x
  if (word.rfind("--", 0) != 0) return "";
  word.erase(0, 2);
  auto distance = [](const std::string& x, const std::string& y) {  // Levenshtein
    std::vector<size_t> row(y.size() + 1);
    for (size_t j = 0; j <= y.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= x.size(); ++i) {
      size_t diag = row[0];
      row[0] = i;
      for (size_t j = 1; j <= y.size(); ++j) {
        const size_t up = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (x[i - 1] != y[j - 1])});
        diag = up;
      }
    }
    return row[y.size()];
  };
  std::string best;
  std::vector<std::string> names;
  for (const CLI::Option* o : a->get_options())
    for (const std::string& name : o->get_lnames()) names.push_back(name);
  if (a->get_parent() == nullptr) names.push_back("version");  // pbit --version (run() makes it the version command)
  size_t best_d = 3;
  for (const std::string& name : names) {
    const size_t d = distance(word, name);
    if (d < best_d) best_d = d, best = name;
  }
  return best.empty() ? "" : " (did you mean --" + best + "?)";
}

/// Whether a word is an option ("--x", "-x", "--x=v") rather than a value: a negative number ("-1",
/// "-.5") is a value (in "--sede -1" the option is --sede).
bool is_option_word(const std::string& w) {
  return w.size() > 1 && w[0] == '-' && !std::isdigit(static_cast<unsigned char>(w[1])) && w[1] != '.';
}

/// The first option among `words`, or "".
std::string first_option(const std::vector<std::string>& words) {
  for (const std::string& w : words)
    if (is_option_word(w)) return w;
  return "";
}

/// The deepest subcommand given.
const CLI::App* deepest(const CLI::App& app) {
  const CLI::App* a = &app;
  while (!a->get_subcommands().empty()) a = a->get_subcommands().front();
  return a;
}

/// "'pbit x' has no option --y (did you mean --z?)", or with "(pbit x --help lists them)" when no
/// option of `a` is near. What follows '=' is not repeated (a path, or a secret).
std::string no_such_option(const CLI::App* a, const std::string& cmd, const std::string& word) {
  const std::string name = word.substr(0, word.find('='));
  // 'pbit dbm --config F train': the option is the subcommand's, given before it ("did you mean --config?").
  if (a->get_option_no_throw(name) != nullptr) return name + " is an option of '" + cmd + "': give it after '" + cmd + "', not before";
  const std::string hint = did_you_mean(a, name);
  return "'" + cmd + "' has no option " + name + (hint.empty() ? " (" + cmd + " --help lists them)" : hint);
}

/// CLI11's parse errors in pbit's words.
std::string parse_message(const CLI::ParseError& e, const CLI::App& app) {
  std::string m = e.what();
  const std::string cmd = command_of(app);
  if (dynamic_cast<const CLI::ExtrasError*>(&e)) {
    // "The following argument(s) were not expected: X [Y ...]": the first option among them (in
    // "--epoch 5" CLI11 may list the value first), else the first.
    const auto colon = m.find(": ");
    std::istringstream extras(colon == std::string::npos ? m : m.substr(colon + 2));
    std::vector<std::string> words;
    for (std::string w; extras >> w;) words.push_back(w);
    const std::string option = first_option(words), first = option.empty() ? (words.empty() ? m : words.front()) : option;
    if (!option.empty()) return no_such_option(deepest(app), cmd, option);
    if (cmd == "pbit") return "unknown command '" + first + "' (pbit --help lists them)";
    return "unexpected argument '" + first + "' for '" + cmd + "'";
  }
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&e)) {
    // "--resume was given a disallowed flag override"
    if (m.find("disallowed flag override") != std::string::npos) {
      const std::string name = m.substr(0, m.find(' '));
      return (name.rfind('-', 0) == 0 ? name : "--" + name) + " is a flag: it takes no value";
    }
    // "--graph: At Most 1 required but received 2": an option given twice
    if (m.find("At Most 1 required") != std::string::npos) return m.substr(0, m.find(':')) + " is given more than once (it takes one value)";
    // "--model: 1 required TEXT missing" and the like
    const std::string opt = m.substr(0, m.find(':'));
    return "option " + opt + " needs a value";
  }
  if (dynamic_cast<const CLI::RequiredError*>(&e)) {
    // "--config is required", or "A subcommand is required"
    // CLI11 checks what is required before what it did not expect: a misspelt --confg would be
    // reported as a missing --config, a misspelt --verson as a missing subcommand. A word where the
    // subcommand goes is the misspelt one ('pbit dbm trian --config F' said "no option --config", the
    // subcommand's option); else an unknown option, at any level of the command, is the error to show.
    const bool wants_subcommand = m.find("subcommand") != std::string::npos;
    if (wants_subcommand) {
      const std::vector<std::string> rest = deepest(app)->remaining();
      if (!rest.empty() && rest.front().rfind("-", 0) != 0) {
        return (cmd == "pbit" ? "unknown command '" : "'" + cmd + "' has no subcommand '") + rest.front() + "' (" + cmd + " --help lists them)";
      }
    }
    if (const std::string unknown = first_option(app.remaining(true)); !unknown.empty()) return no_such_option(deepest(app), cmd, unknown);
    if (wants_subcommand) return "'" + cmd + "' needs a subcommand (" + cmd + " --help lists them)";
    const std::string name = m.substr(0, m.find(' '));
    const CLI::App* a = deepest(app);
    // A positional's name alone ("needs evals") says too little: its description says what to give.
    for (const CLI::Option* o : a->get_options()) {
      if (o->get_positional() && o->get_name() == name) return "'" + cmd + "' needs its " + name + ": " + o->get_description();
    }
    return "'" + cmd + "' needs " + name;
  }
  if (dynamic_cast<const CLI::ValidationError*>(&e) || dynamic_cast<const CLI::ConversionError*>(&e)) {
    // CLI::IsMember's "--acp maybe not in {on,off}" -> "--acp takes one of on, off; got 'maybe'"
    const auto in = m.rfind(" not in {");
    const auto sp = m.find(' ');
    if (m.rfind("--", 0) == 0 && in != std::string::npos && sp < in && m.back() == '}') {
      std::string choices = m.substr(in + 9, m.size() - in - 10);
      for (size_t c = choices.find(','); c != std::string::npos; c = choices.find(',', c + 2)) choices.replace(c, 1, ", ");
      std::string opt = m.substr(0, sp);  // "--acp:" as CLI11 writes it
      if (opt.back() == ':') opt.pop_back();
      return opt + " takes one of " + choices + "; got '" + m.substr(sp + 1, in - sp - 1) + "'";
    }
    // "--steps: takes a number in [...]" -> "--steps takes a number in [...]"
    const auto p = m.find(": ");
    if (m.rfind("--", 0) == 0 && p != std::string::npos) m = m.substr(0, p) + " " + m.substr(p + 2);
    return m;
  }
  return m;
}

/// Every option of `a` and its subcommands: a value must not be empty (`--out ""` would otherwise
/// fall back to the default silently, or make "DIR/file" a file in "/"), and a flag takes no value
/// (`--resume=false` would read as a request to resume).
void harden_options(CLI::App* a) {
  const CLI::Validator non_empty(
      [](std::string& v) -> std::string {
        if (v.empty()) return "needs a non-empty value";
        // "--out --resume": CLI11 takes the next argument as the missing value, whatever it is.
        if (v.size() > 2 && v.compare(0, 2, "--") == 0 && std::isalpha(static_cast<unsigned char>(v[2]))) {
          return "got '" + v + "' as its value: the value is missing (a path that starts with '--' can be written ./" + v + ")";
        }
        return std::string();
      },
      "", "");
  for (CLI::Option* o : a->get_options()) {
    if (o->get_expected_max() == 0) o->disable_flag_override();
    else o->check(non_empty);
  }
  for (CLI::App* s : a->get_subcommands([](CLI::App*) { return true; })) harden_options(s);
}

}  // namespace
}  // namespace pbit::cli

namespace pbit::cli {

namespace {

/// One line on stderr in one write, so that the lines of several ranks (and Open MPI's notes) do not
/// mix inside a line, as separate << writes did.
void say(const std::string& line) {
  const std::string whole = line + "\n";
  std::cerr.flush();
  std::fwrite(whole.data(), 1, whole.size(), stderr);
  std::fflush(stderr);
}

/// PBIT_MPI_START_S: how long a pbit started by a launcher waits for the job's other processes to
/// start MPI and the command (600 s: they start together) before it gives up (docs/SCALING.md); at
/// least 1 s. InvalidConfig for a value that is not a positive number (atof read "ten" as 0).
double mpi_start_s() {
  const char* v = std::getenv("PBIT_MPI_START_S");
  if (!v || !*v) return 600.0;
  double x = 0;
  if (!detail::parse_number_ok(std::string_view(v), x) || !(x > 0) || !std::isfinite(x)) {
    throw InvalidConfig("environment variable PBIT_MPI_START_S must be a positive number of seconds, got '" + printable(v) + "'");
  }
  return std::max(1.0, x);
}

/// Under mpirun, on a rank other than 0 that met an error: a moment for rank 0, which may be meeting
/// the same one (a config or dataset every rank reads), to say it once and end the run (MPI_Abort),
/// having removed the output folder it made. This rank's MPI_Abort killed rank 0 before that: the
/// error was said by every rank, and a refused run left its new folder behind (helper-112). A rank
/// that meets an error alone says it after the moment.
void rank0_first() {
  if (dist::size() > 1 && dist::rank() != 0) std::this_thread::sleep_for(std::chrono::seconds(2));
}

/// " (rank R)" under mpirun, else "".
std::string of_rank() { return dist::size() > 1 ? " (rank " + std::to_string(dist::rank()) + ")" : ""; }

/// Whether to run the command, once every rank has read its own command line: its exit code when
/// not. `refused` is this rank's parse error ("" when none), `helped` that it printed help or the
/// version, `give_up_s` mpi_start_s(). Under mpirun the ranks agree first (collective): a rank that stopped at a bad option while
/// the others went on left them waiting in the run's first collective for ever. When every rank
/// refused, rank 0 says why, and each other rank only where its reason differs; when only some did,
/// each of those says why.
std::optional<int> agree_to_run(const std::string& refused, bool helped, double give_up_s) {
  const int64_t ranks = dist::size();
  // The ranks' first meeting in the command. A rank that does not run it (a Python rank that skips
  // this pbit.cli) left the others waiting here silently for ever: they say so after a while, and a
  // pbit started by a launcher gives up after PBIT_MPI_START_S (its ranks start together). (A rank
  // that never starts MPI is caught before, in MPI_Init: dist::init.)
  const double note_s = std::min(30.0, give_up_s / 4);
  dist::barrier_idle(note_s, [&](double waited) {
    if (standalone && waited >= give_up_s) {
      say("pbit: error" + of_rank() + ": the other ranks did not start this command within " + detail::format_number(give_up_s) +
          " s (PBIT_MPI_START_S): every rank must run it (docs/SCALING.md)");
      dist::abort_all(2);
    }
    if (waited < 2 * note_s) {
      say("pbit" + of_rank() + ": waiting " + detail::format_number(std::floor(waited)) +
          " s for the other ranks to start this command: every rank must run it (docs/SCALING.md)" +
          (standalone ? "; giving up after " + detail::format_number(give_up_s) + " s" : std::string()));
    }
  });
  std::array<int64_t, 2> n = {refused.empty() ? 0 : 1, helped ? 1 : 0};
  dist::allreduce_sum(n);
  if (n[0] == 0 && n[1] == 0) return std::nullopt;
  if (n[0] == ranks) {
    std::vector<uint8_t> first(refused.begin(), refused.end());
    dist::broadcast_bytes(first);  // rank 0's reason
    if (dist::rank() == 0) say("pbit: error: " + printable(refused));
    else if (std::string(first.begin(), first.end()) != refused) say("pbit: error" + of_rank() + ": " + printable(refused));
    return 2;
  }
  if (!refused.empty()) say("pbit: error" + of_rank() + ": " + printable(refused));
  if (n[1] == ranks) return 0;
  if (dist::rank() == 0) {
    say("pbit: error: the ranks' command lines disagree (" + std::to_string(n[0]) + " refused, " + std::to_string(n[1]) +
        " asked for help or the version, " + std::to_string(ranks - n[0] - n[1]) + " would run): every rank must be given the same");
  }
  return 2;
}

}  // namespace

int run(int argc, char** argv, bool rethrow, bool rethrow_bad_options) {
  standalone = !rethrow;
  detail::reset_interrupted();
  stop_note_len = 0;  // (pbit.cli runs again in one process: no earlier command's note)
  double start_s = 0;  // mpi_start_s()
  try {
    // MPI, when started by mpirun or srun (docs/SCALING.md). MPI_Init waits for every process of the
    // job: a pbit started by a launcher gives up on one that never comes (helper-112); a Python rank
    // may reach pbit.cli later than the others, so pbit.cli only says it is waiting.
    start_s = mpi_start_s();
    dist::init(&argc, &argv, std::min(30.0, start_s / 4), standalone ? start_s : 0);
  } catch (const pbit::Error& e) {  // (MPI_Init_thread failed, or PBIT_MPI_START_S is no number: said, not thrown: helper-112)
    if (rethrow) throw;
    say(std::string("pbit: error: ") + printable(e.what()));
    return 2;
  }
  CLI::App app{"pbit: probabilistic-computer simulation (p-bits, Ising machines, Boltzmann machines)", "pbit"};
  app.formatter(std::make_shared<Formatter>());
  app.require_subcommand(1);
  const std::string exit_codes = "Exit codes: 0 ok, 2 bad input or I/O, 3 internal error.";
  app.footer("Each command's options: pbit COMMAND --help (or pbit help COMMAND); pbit --version. Formats and config keys: docs/CLI.md.\n" +
             exit_codes);
  Commands cmds;
  cmds.app = &app;
  try {
    add_graph_commands(cmds);
    add_dbm_commands(cmds);
    add_dtm_commands(cmds);
    add_eqprop_commands(cmds);
    add_pdnn_commands(cmds);
    add_compare_commands(cmds);
    harden_options(&app);
    // Every command's --help ends with the exit codes, as the top level's does.
    std::function<void(CLI::App*)> add_exit_codes = [&](CLI::App* a) {
      for (CLI::App* sub : a->get_subcommands([](CLI::App*) { return true; })) {
        const std::string f = sub->get_footer();  // (a command made after app.footer() has it already)
        if (f.find(exit_codes) == std::string::npos) sub->footer(f.empty() ? exit_codes : f + "\n" + exit_codes);
        add_exit_codes(sub);
      }
    };
    add_exit_codes(&app);
    // What the command line came to before anything runs: refused (its message), help or --version
    // printed, or a command to run. Under mpirun the ranks agree on it below.
    std::string refused;
    bool helped = false;
    if (argc >= 2 && std::string(argv[1]) == "help") {  // `pbit help [COMMAND ...]`: the names are checked first
      const CLI::App* a = &app;
      std::string path = "pbit";
      for (int k = 2; k < argc; ++k) {
        const auto subs = a->get_subcommands([&](const CLI::App* s) { return s->get_name() == argv[k]; });
        if (subs.empty()) {
          refused = "'" + path + "' has no subcommand '" + argv[k] + "' (pbit help lists them)";
          break;
        }
        a = subs.front();
        path += " " + a->get_name();
      }
    }
    // `pbit help A B` runs as `pbit A B --help` (so the usage line names the command); `pbit --version`
    // as `pbit version`.
    std::vector<char*> args(argv, argv + argc);
    char help_flag[] = "--help", version_cmd[] = "version";
    if (argc >= 2 && std::string(argv[1]) == "help") {
      args.erase(args.begin() + 1);
      args.push_back(help_flag);
    }
    if (argc == 2 && std::string(argv[1]) == "--version") args[1] = version_cmd;
    // (`pbit --version extra` went to CLI11, which said "no option --version (did you mean --version?)")
    if (refused.empty() && argc > 2 && std::string(argv[1]) == "--version") {
      refused = std::string("--version takes nothing after it (got '") + argv[2] + "')";
    }
    if (refused.empty()) {
      try {
        // "--out=" (an empty shell variable in --out="$DIR") would make CLI11 take the next argument as
        // the value: refused as the validators refuse `--out ""`.
        for (int k = 1; k < argc; ++k) {
          const std::string a = argv[k];
          if (a == "--") break;
          if (a.size() > 3 && a.compare(0, 2, "--") == 0 && a.find('=') == a.size() - 1) {
            throw CLI::ValidationError(a.substr(0, a.size() - 1), "needs a non-empty value");
          }
        }
        app.parse(static_cast<int>(args.size()), args.data());
      } catch (const CLI::CallForHelp& e) {
        if (dist::rank() == 0) app.exit(e);  // (its exit code is 0)
        helped = true;
      } catch (const CLI::CallForAllHelp& e) {
        if (dist::rank() == 0) app.exit(e);
        helped = true;
      } catch (const CLI::ParseError& e) {
        // pbit.cli: the message in the exception (under mpirun every rank must return instead, below)
        if (rethrow && rethrow_bad_options && dist::size() == 1) throw pbit::InvalidArgument(parse_message(e, app));
        refused = parse_message(e, app);
      }
    }
    // `pbit version` (and --version) under mpirun: printed once, by rank 0, as --help is (it was
    // refused as a command that does not run over ranks).
    if (refused.empty() && !helped && dist::size() > 1 && command_of(app) == "pbit version") {
      if (const auto v = cmds.actions.find(deepest(app)); v != cmds.actions.end() && dist::rank() == 0) v->second();
      helped = true;
    }
    // docs/SCALING.md: what is sharded so far. Refused with the command line, so that the ranks agree
    // and rank 0 says it once (each rank said it, then MPI_Abort: helper-112).
    if (refused.empty() && !helped && dist::size() > 1) {
      const std::string cmd = command_of(app);
      if (cmd != "pbit sample" && cmd != "pbit dbm train" && cmd != "pbit dbm eval" && cmd != "pbit dtm train") {
        refused = "'" + cmd + "' does not run over MPI ranks yet (pbit sample, dbm train, dbm eval and dtm train do); run one process";
      }
    }
    if (const std::optional<int> rc = agree_to_run(refused, helped, start_s)) return *rc;
    // The deepest subcommand given runs.
    const CLI::App* a = deepest(app);
    if (dist::size() > 1) detail::progress_muted() = dist::rank() != 0;  // one status line per run, rank 0's
    const auto it = cmds.actions.find(a);
    if (it == cmds.actions.end()) throw pbit::InvalidArgument("'" + a->get_name() + "' needs a subcommand");
    const int rc = it->second();
    // A result on stdout that did not reach it (a full disk, /dev/full) is an I/O error as a file's
    // is: it returned 0 and said nothing (helper-116). (Cleared, for pbit.cli's next command.)
    // (badbit, not failbit: `cout << rdbuf()` of an empty buffer sets failbit and wrote nothing wrong;
    // errno cleared first, so that the reason is this flush's, or none is named: helper-120)
    errno = 0;
    std::cout.flush();
    if (std::cout.bad() || std::fflush(stdout) != 0 || std::ferror(stdout)) {
      const int e = errno;
      std::cout.clear();
      std::clearerr(stdout);
      throw IoError("cannot write the result to standard output: " + std::string(e ? std::strerror(e) : "a write failed"), "", e);
    }
    std::cout.clear();  // (a failbit alone, as above)
    // Rank 0 writes a run's output files; the others return only once it has, so that a script that
    // goes on after pbit.cli under mpirun reads this run's files on every rank (a failure ends every
    // rank above, so all of them get here).
    if (dist::size() > 1) dist::barrier_idle();
    return rc;
  } catch (const pbit::Error& e) {
    if (rethrow && dist::size() == 1) throw;  // pbit.cli in Python; under mpirun every rank must end (below)
    rank0_first();
    say(std::string("pbit: error") + of_rank() + ": " + printable(e.what()));
    dist::abort_all(2);  // under mpirun: the other ranks may be waiting for this one
    return 2;
  } catch (const std::exception& e) {
    if (rethrow && dist::size() == 1) throw;
    rank0_first();
    // pbit.cli under mpirun, Ctrl-C (the interrupt check's KeyboardInterrupt): every rank must end, and
    // this was no internal error (helper-112); rank 0 says where the run continues from.
    if (detail::interrupted()) {
      std::string note(stop_note, stop_note_len);
      if (!note.empty() && note.back() == '\n') note.pop_back();
      say("pbit: interrupted" + of_rank() + (note.empty() ? std::string() : "; " + note));
      dist::abort_all(130);
      return 130;
    }
    say(std::string("pbit: internal error") + of_rank() + ": " + printable(e.what()));
    dist::abort_all(3);
    return 3;
  }
}

}  // namespace pbit::cli
