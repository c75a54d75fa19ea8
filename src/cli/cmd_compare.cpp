// pbit compare: throughput and measured energy beside modeled p-bit hardware (docs/CLI.md, 'Model and suite configs': the comparison suite).
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <tuple>

#include "cli.hpp"
#include "pbit/core/io.hpp"
#include "pbit/harness/compare.hpp"
#include "util/binary_io.hpp"
#include "util/text.hpp"

namespace pbit::cli {
namespace {

/// `pbit compare --journal FILE`: every row the suite measures, recorded at once (atomically), and
/// taken by a later call of the same suite on the same kind of machine instead of measured again.
/// It must be of the same suite (a hash of it, less where its outputs go and what is only read at the
/// end: the platforms file and the quality runs) and machine (CPU and GPU models, logical CPUs, build
/// type); not of the same host or commit, so that a device job's next lease, on another machine of
/// the same kind and maybe a later build, goes on (each row keeps the build that measured it).
class CompareRowJournal {
 public:
  CompareRowJournal(std::string path, const CompareSuite& suite) : path_(std::move(path)) {
    nlohmann::json s = suite.source;
    for (const char* k : {"_comment", "output_dir", "platforms", "quality"}) s.erase(k);
    const nlohmann::json m = machine_description();
    machine_ = {{"cpu", m["cpu"]}, {"logical_cpus", m["logical_cpus"]}, {"gpu", m["gpu"]}, {"build_type", build_description()["build_type"]}};
    suite_key_ = hex_key(detail::fnv1a(s.dump()));
    const nlohmann::json j = read_journal(path_, "pbit.compare_journal", "rows", "pbit compare");
    if (j.is_null()) return;
    if (j.value("suite_key", nlohmann::json()) != suite_key_) {
      throw journal_refused(path_, "it records another suite (other workloads, backends, chains, min_seconds, idle_seconds or threads)");
    }
    if (j.value("machine", nlohmann::json()) != machine_) {
      throw journal_refused(path_, "it was measured on another kind of machine or build (this one: " + machine_.dump() + "; the journal's: " +
                    (j.contains("machine") ? j["machine"].dump() : std::string("not said")) + ")");
    }
    // A row is read as write_compare_outputs and the plots read it: its names, its numbers (finite,
    // >= 0), its energy source.
    for (size_t k = 0; k < j["rows"].size(); ++k) {
      nlohmann::json r = j["rows"][k];
      auto bad = [&](const std::string& why) { return journal_refused(path_, "row " + std::to_string(k) + " " + why); };
      if (!r.is_object()) throw bad("is not an object");
      // A row of a pbit before 2026-12-07 named the idle power energy_idle_w_subtracted and kept no
      // whole-draw figures, which its numbers give exactly (helper-126: such a journal was refused).
      if (r.contains("energy_idle_w_subtracted") && !r.contains("idle_power_w_subtracted")) {
        r["idle_power_w_subtracted"] = r["energy_idle_w_subtracted"];
        r.erase("energy_idle_w_subtracted");
      }
      if (r.contains("energy_j") && !r.contains("energy_j_total") && r["energy_j"].is_number() && r["energy_j"].get<double>() > 0 &&
          r.value("idle_power_w_subtracted", nlohmann::json()).is_number() && r.value("wall_s", nlohmann::json()).is_number() &&
          r.value("energy_j_per_flip", nlohmann::json()).is_number()) {
        const double active = r["energy_j"].get<double>();
        const double total = active + r["idle_power_w_subtracted"].get<double>() * r["wall_s"].get<double>();
        r["energy_j_total"] = total;
        r["energy_j_per_flip_total"] = r["energy_j_per_flip"].get<double>() * total / active;
      }
      for (const char* f : {"workload", "kind", "graph", "backend", "device", "energy_source"}) {
        if (!r.contains(f) || !r[f].is_string()) throw bad(std::string("has no text '") + f + "'");
        // Each goes into a cell of results.md and a plot's title: one line, no '|' (a suite's names
        // are held to that when read; a journal's text was copied as it was).
        const std::string t = r[f].get<std::string>();
        if (std::any_of(t.begin(), t.end(), [](char ch) { return pbit::detail::is_control_byte(ch) || ch == '|'; })) {
          throw bad(std::string("has a text '") + f + "' that is not one line without '|'");
        }
      }
      for (const char* f : {"chains", "num_nodes", "threads"}) {
        if (!r.contains(f) || !r[f].is_number_integer() || r[f].get<int64_t>() < 0) throw bad(std::string("has no whole number '") + f + "' >= 0");
      }
      for (const char* f : {"wall_s", "flips_per_ns", "sweeps_per_s_per_chain", "samples_per_s"}) {
        if (!r.contains(f) || !r[f].is_number() || !std::isfinite(r[f].get<double>()) || std::signbit(r[f].get<double>())) {  // (-0 too)
          throw bad(std::string("has no finite number '") + f + "' >= 0");
        }
      }
      // A reading's numbers all together, or none, as the energy source says (helper-123: a row whose
      // source said "unavailable" carried a J/flip that the quality points then used).
      const bool reading = r["energy_source"].get<std::string>().rfind("unavailable", 0) != 0;
      for (const char* f : {"energy_j", "idle_power_w_subtracted", "energy_j_per_flip", "energy_j_per_sample", "energy_j_total",
                            "energy_j_per_flip_total"}) {
        if (!reading && r.contains(f)) throw bad(std::string("has '") + f + "' while its energy_source says '" + r["energy_source"].get<std::string>() + "'");
        if (reading && (!r.contains(f) || !r[f].is_number() || !std::isfinite(r[f].get<double>()) || std::signbit(r[f].get<double>()))) {
          throw bad(std::string("has no finite number '") + f + "' >= 0 beside its energy_source '" + r["energy_source"].get<std::string>() + "'");
        }
      }
      // Of a workload of this suite, of its kind (a gibbs row relabelled dtm_generation fed the quality points).
      const auto w = std::find_if(suite.workloads.begin(), suite.workloads.end(), [&](const CompareWorkload& cw) { return cw.name == r["workload"]; });
      if (w != suite.workloads.end() && w->kind != r["kind"]) {
        throw bad("is of kind '" + r["kind"].get<std::string>() + "', its workload '" + w->name + "' of kind '" + w->kind + "'");
      }
      const auto at = std::make_tuple(r["workload"].get<std::string>(), r["backend"].get<std::string>(), r["chains"].get<int64_t>());
      if (!rows_.emplace(at, r).second) throw bad("repeats an earlier row's workload, backend and chains");
      records_.push_back(r);
    }
  }

  size_t rows() const { return rows_.size(); }

  CompareJournal journal() {
    CompareJournal j;
    j.done = [this](const std::string& w, const std::string& b, int32_t chains) -> const nlohmann::json* {
      const auto it = rows_.find({w, b, chains});
      return it == rows_.end() ? nullptr : &it->second;
    };
    j.finished = [this](const nlohmann::json& row) {
      records_.push_back(row);
      records_.back()["build_git_sha"] = build_description()["git_sha"];
      write_json_file(path_, {{"format", "pbit.compare_journal"}, {"version", 1}, {"suite_key", suite_key_}, {"machine", machine_}, {"rows", records_}});
    };
    return j;
  }

 private:
  std::string path_, suite_key_;
  nlohmann::json machine_;
  std::map<std::tuple<std::string, std::string, int64_t>, nlohmann::json> rows_;
  std::vector<nlohmann::json> records_;
};

}  // namespace

void add_compare_commands(Commands& c) {
  struct Opt {
    std::string suite, out, journal;
  };
  auto o = std::make_shared<Opt>();
  CLI::App* s = c.app->add_subcommand(
      "compare", "Runs a comparison suite: flips/ns and measured energy per workload, backend and chain count, beside modeled "
                 "FPGA, RNG-chip and p-DNN platforms; writes results.json, results.md and plots (gnuplot)");
  s->add_option("--suite", o->suite, "suite file (configs/compare_*.json)")->required();
  s->add_option("--out", o->out, "replaces the suite's output_dir");
  s->add_option("--journal", o->journal,
                "records each measured row in this file at once; a later call of the same suite on the same kind of machine takes "
                "those rows instead of measuring them again");
  s->footer("Suite keys (workloads, backends, chains, min_seconds, idle_seconds, threads, platforms, output_dir, quality): docs/CLI.md, "
            "'Model and suite configs'.");
  c.add(s, [o] {
    CompareSuite suite = parse_compare_suite(read_json_file(o->suite));
    if (!o->out.empty()) suite.output_dir = o->out;
    // The suite's input files, none of which an output may replace (a quality run's results.json in
    // the output folder was replaced, and the next call could not read it).
    std::vector<std::pair<std::string, std::string>> inputs = {{"--suite", o->suite}, {"the suite's platforms", suite.platforms}};
    for (size_t k = 0; k < suite.quality.size(); ++k) inputs.emplace_back("the suite's quality[" + std::to_string(k) + "].results", suite.quality[k].results);
    for (size_t k = 0; k < suite.workloads.size(); ++k) inputs.emplace_back("the suite's workloads[" + std::to_string(k) + "].model", suite.workloads[k].model);
    // The journal is read and written as the rows are measured: not an input, nor a file written after them.
    if (!o->journal.empty()) inputs.emplace_back("--journal", o->journal);
    for (const std::string& out : compare_output_files(suite.output_dir)) {
      for (const auto& [what, path] : inputs) {
        if (!path.empty() && same_file(path, out)) {
          throw InvalidArgument("compare writes " + out + " into its output folder (" + (o->out.empty() ? "the suite's output_dir" : "--out") +
                                "), and " + what + " names that file: the output would replace " +
                                (what == "--journal" ? "the journal" : "the input"));
        }
      }
    }
    if (!o->journal.empty()) refuse_output_over_input("--journal", o->journal, {inputs.begin(), inputs.end() - 1});
    const MadeFolder made(suite.output_dir);  // before the measurements, not after them (removed again if they fail while it is empty)
    check_writable(suite.output_dir + "/results.json");
    std::unique_ptr<CompareRowJournal> journal;
    CompareJournal rows;
    if (!o->journal.empty()) {
      check_writable(o->journal);
      journal = std::make_unique<CompareRowJournal>(o->journal, suite);
      rows = journal->journal();
    }
    nlohmann::json res = run_compare(suite, true, journal ? &rows : nullptr);
    if (journal) {
      // The rows of this suite taken from it (run_compare counts them), not the rows it holds: one
      // that matches no row here (a backend not available, a hand-edited name) was not taken.
      res["journal"]["file"] = o->journal;
      const int64_t taken = res["journal"]["rows_measured_before"].get<int64_t>(), held = static_cast<int64_t>(journal->rows());
      if (held > 0) {
        std::cerr << "--journal " << printable(o->journal) << ": " << taken << (taken == 1 ? " row" : " rows") << " measured before, not measured again";
        if (const int64_t other = held - taken; other > 0) std::cerr << " (" << other << (other == 1 ? " other row in it matches" : " other rows in it match") << " no row of this suite here)";
        std::cerr << "\n";
      }
    }
    for (const std::string& f : write_compare_outputs(res, suite.output_dir)) std::cerr << "wrote " << printable(f) << "\n";
    std::ifstream md(suite.output_dir + "/results.md");
    std::cout << md.rdbuf();
    // Rows that failed are in the files (with their errors) beside the rows that were measured; the
    // run still fails, so that a script sees it.
    // A run that measured no row (every backend it names unavailable here: a device script on a
    // broken driver) fails too, rather than reporting success with an empty table.
    int64_t failed = 0, measured = 0;
    std::string skipped;
    for (const auto& r : res["results"]) {
      failed += r.contains("error") ? 1 : 0;
      measured += r.contains("flips_per_ns") ? 1 : 0;
      if (r.contains("skipped") && !r.contains("error") && skipped.empty()) skipped = r["backend"].get<std::string>() + ": " + r["skipped"].get<std::string>();
    }
    if (failed > 0) {
      throw InvalidArgument(std::to_string(failed) + " of " + std::to_string(res["results"].size()) +
                            " rows failed (their errors are in results.json and results.md; " +
                            (measured > 0 ? std::to_string(measured) + " rows were measured)" : std::string("no row was measured)")));
    }
    if (measured == 0) throw InvalidArgument("no row was measured (" + skipped + "); results.json and results.md say so");
    return 0;
  });
}

}  // namespace pbit::cli
