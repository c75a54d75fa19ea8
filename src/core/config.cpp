#include "pbit/core/config.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "util/json_util.hpp"
#include "pbit/error.hpp"

namespace pbit {
namespace {

using nlohmann::json;

using detail::get_bool;
using detail::get_float;
using detail::get_int;
using detail::get_nodes;
using detail::only_keys;

[[noreturn]] void bad(const std::string& key, const std::string& what) { detail::config_error(key, what); }

float get_beta(const json& v, const std::string& key) {
  const float b = get_float(v, key);
  if (b < 0.0f || b > 1e30f) bad(key, "beta must be in [0, 1e30], got " + v.dump());  // as written, not its float32 rounding
  return b;
}

BetaSchedule parse_beta(const json& j) {
  if (j.is_number()) return BetaSchedule::constant(get_beta(j, "beta"));
  if (!j.is_object()) bad("beta", "must be a number or an object with one of constant, per_sweep, piecewise, linear; got " + j.dump());
  only_keys(j, "beta", {"constant", "per_sweep", "piecewise", "linear"});
  if (j.size() != 1) bad("beta", "give exactly one of constant, per_sweep, piecewise, linear");
  if (j.contains("constant")) return BetaSchedule::constant(get_beta(j["constant"], "beta.constant"));
  if (j.contains("per_sweep")) {
    const json& a = j["per_sweep"];
    if (!a.is_array() || a.empty()) bad("beta.per_sweep", "must be a non-empty array of numbers");
    std::vector<float> b;
    for (size_t k = 0; k < a.size(); ++k) b.push_back(get_beta(a[k], "beta.per_sweep[" + std::to_string(k) + "]"));
    return BetaSchedule::per_sweep(std::move(b));
  }
  if (j.contains("piecewise")) {
    const json& a = j["piecewise"];
    if (!a.is_array() || a.empty()) bad("beta.piecewise", "must be a non-empty array of [beta, sweeps]");
    std::vector<std::pair<float, int64_t>> seg;
    for (size_t k = 0; k < a.size(); ++k) {
      const std::string key = "beta.piecewise[" + std::to_string(k) + "]";
      if (!a[k].is_array() || a[k].size() != 2) bad(key, "must be [beta, sweeps]");
      seg.push_back({get_beta(a[k][0], key + "[0]"), get_int(a[k][1], key + "[1]", 1, int64_t{1} << 32)});
    }
    return BetaSchedule::piecewise(seg);
  }
  const json& l = j["linear"];
  only_keys(l, "beta.linear", {"from", "to", "sweeps"});
  for (const char* k : {"from", "to", "sweeps"}) {
    if (!l.contains(k)) bad(std::string("beta.linear.") + k, "missing");
  }
  return BetaSchedule::linear(get_beta(l["from"], "beta.linear.from"), get_beta(l["to"], "beta.linear.to"),
                              get_int(l["sweeps"], "beta.linear.sweeps", 1, int64_t{1} << 32));
}

}  // namespace

TemperingOptions parse_tempering(const json& t, const std::string& w, float default_target) {
  if (!t.is_object()) bad(w, "must be an object: betas, or replicas and hottest (and target); sweeps_per_round, scheme");
  only_keys(t, w, {"betas", "replicas", "target", "hottest", "sweeps_per_round", "scheme", "adapt_rounds"});
  TemperingOptions o;
  // A ladder's betas in (0, 1e6], as the tempered sampler takes them: checked here, where the key is
  // known, and not only when a run reaches its tempering (after training, for generate.tempering).
  const auto in_ladder = [](float b) { return b > 0.0f && b <= 1e6f; };
  const auto ladder_beta = [&](const json& v, const std::string& key, const char* what = "a tempering ladder's beta") {
    const float b = get_beta(v, key);
    if (!in_ladder(b)) bad(key, std::string(what) + " must be in (0, 1e6], got " + v.dump());
    return b;
  };
  if (t.contains("betas")) {
    if (t.contains("replicas") || t.contains("hottest") || t.contains("target")) bad(w + ".betas", "give either betas or replicas and hottest, not both");
    const json& b = t["betas"];
    if (!b.is_array() || b.size() < 2 || b.size() > 1024) bad(w + ".betas", "must be an array of 2..1024 inverse temperatures");
    for (size_t k = 0; k < b.size(); ++k) o.betas.push_back(ladder_beta(b[k], w + ".betas[" + std::to_string(k) + "]"));
  } else {
    if (!t.contains("replicas") || !t.contains("hottest")) bad(w, "needs betas, or replicas and hottest");
    const auto r = static_cast<int32_t>(get_int(t["replicas"], w + ".replicas", 2, 1024));
    const float target = t.contains("target") ? ladder_beta(t["target"], w + ".target") : default_target;
    if (!in_ladder(target)) {  // only the default can be outside here
      std::ostringstream text;
      text << target;
      bad(w + ".target", "the default target (the run's beta, " + text.str() + ") is outside a tempering ladder's (0, 1e6]: give a target");
    }
    const float hottest = ladder_beta(t["hottest"], w + ".hottest", "the hottest replica's inverse temperature");
    if (!(hottest < target)) {
      // As written, or the default target: std::to_string showed a target of 1e-30 as 0.000000.
      std::ostringstream target_text;  // (a float's own digits: 1.2, not 1.20000004768)
      if (t.contains("target")) target_text << t["target"].dump();
      else target_text << target;
      bad(w + ".hottest", "must be below the target beta " + target_text.str() + " (the hottest replica has the smallest beta), got " +
                              t["hottest"].dump());
    }
    o.betas = TemperingOptions::geometric(target, hottest, r);
  }
  for (float b : o.betas)
    if (!(b > 0)) bad(w + ".betas", "inverse temperatures must be > 0");
  for (size_t k = 1; k < o.betas.size(); ++k) {
    if (!(o.betas[k] < o.betas[k - 1])) bad(w + ".betas", "must decrease from the target (betas[0]) to the hottest replica");
  }
  if (t.contains("sweeps_per_round")) o.sweeps_per_round = get_int(t["sweeps_per_round"], w + ".sweeps_per_round", 1, int64_t{1} << 32);
  if (t.contains("scheme")) o.scheme = detail::get_string(t["scheme"], w + ".scheme", {"deo", "seo"});
  if (t.contains("adapt_rounds")) {
    o.adapt_rounds = get_int(t["adapt_rounds"], w + ".adapt_rounds", 0, int64_t{1} << 32);
    if (o.adapt_rounds > 0 && o.adapt_rounds < 10) bad(w + ".adapt_rounds", "must be 0 (a fixed ladder) or >= 10 (it adapts every 10 rounds at most)");
  }
  return o;
}

json tempering_json(const TemperingOptions& o) {
  json betas = json::array();
  for (float b : o.betas) betas.push_back(detail::float_json(b));
  return {{"betas", betas}, {"sweeps_per_round", o.sweeps_per_round}, {"scheme", o.scheme}, {"adapt_rounds", o.adapt_rounds}};
}

void check_sample_config(const SampleConfig& c, int32_t num_nodes) {
  auto nodes_in_range = [&](const std::vector<int32_t>& nodes, const std::string& key) {
    for (size_t k = 0; k < nodes.size(); ++k) {
      if (nodes[k] < 0 || nodes[k] >= num_nodes) {
        bad(key + "[" + std::to_string(k) + "]", "node " + std::to_string(nodes[k]) + " is not in the graph (nodes 0.." +
                                                     std::to_string(num_nodes - 1) + ")");
      }
    }
    std::vector<int32_t> seen = nodes;
    std::sort(seen.begin(), seen.end());
    if (const auto d = std::adjacent_find(seen.begin(), seen.end()); d != seen.end()) {
      bad(key, "lists node " + std::to_string(*d) + " twice");
    }
  };
  auto per_chain_count = [&](size_t got, size_t k, const std::string& key, const char* letter) {
    if (got != k && got != k * static_cast<size_t>(c.chains)) {
      bad(key, "expected " + std::string(letter) + " = " + std::to_string(k) + " values (shared by every chain) or chains x " + letter +
                   " = " + std::to_string(k * static_cast<size_t>(c.chains)) + ", got " + std::to_string(got));
    }
  };
  nodes_in_range(c.clamp_nodes, "clamp.nodes");
  if (!c.clamp_nodes.empty()) per_chain_count(c.clamp_values.size(), c.clamp_nodes.size(), "clamp.values", "K");
  nodes_in_range(c.field_nodes, "field.nodes");
  if (!c.field_values.empty()) {
    per_chain_count(c.field_values.size(), c.field_nodes.empty() ? static_cast<size_t>(num_nodes) : c.field_nodes.size(), "field.values",
                    c.field_nodes.empty() ? "N" : "M");
  }
  for (size_t g = 0; g < c.observe.readout_groups.size(); ++g) {
    nodes_in_range(c.observe.readout_groups[g], "observe.readout_groups[" + std::to_string(g) + "]");  // (empty: refused when parsed)
  }
  const int64_t total = c.schedule.total_sweeps();
  std::vector<int64_t> snaps = c.observe.snapshot_sweeps;
  for (size_t k = 0; k < snaps.size(); ++k) {
    if (snaps[k] < 1 || snaps[k] > total) {
      bad("observe.snapshot_sweeps[" + std::to_string(k) + "]", "sweep " + std::to_string(snaps[k]) + " is outside the run's sweeps 1.." +
                                                                   std::to_string(total) + " (schedule: warmup + samples x steps_per_sample)");
    }
  }
  std::sort(snaps.begin(), snaps.end());
  if (const auto d = std::adjacent_find(snaps.begin(), snaps.end()); d != snaps.end()) {
    bad("observe.snapshot_sweeps", "lists sweep " + std::to_string(*d) + " twice");
  }
}

SampleConfig parse_sample_config(const json& j) {
  detail::only_config_sections(j, detail::ConfigKind::sample);
  SampleConfig c;
  if (j.contains("hardware")) {
    c.hardware = parse_hardware(j["hardware"], "hardware");
  }
  if (j.contains("chains")) c.chains = static_cast<int32_t>(get_int(j["chains"], "chains", 1, int64_t{1} << 30));
  if (j.contains("seed")) c.seed = static_cast<uint64_t>(get_int(j["seed"], "seed", 0, std::numeric_limits<int64_t>::max()));
  if (j.contains("threads")) c.num_threads = static_cast<int>(get_int(j["threads"], "threads", 0, 4096));
  if (j.contains("backend")) {
    if (!j["backend"].is_string()) bad("backend", "must be a string");
    c.backend = j["backend"].get<std::string>();
    if (c.backend != "best" && c.backend != "reference" && c.backend != "cpu" && c.backend != "cuda" && c.backend != "packed") {
      bad("backend", "must be one of best, reference, cpu, cuda, packed; got '" + c.backend + "'");
    }
  }
  if (j.contains("contract")) {
    if (!j["contract"].is_string()) bad("contract", "must be a string");
    const std::string name = j["contract"].get<std::string>();
    if (name != "exact" && name != "fast") bad("contract", "must be exact or fast; got '" + name + "'");
    c.contract = rng_contract_from_string(name);
  }
  if (c.hardware.lfsr() && c.contract != RngContract::exact) {  // as the sampler refuses it, but naming the keys
    bad("hardware.rng", "'lfsr' takes the exact contract's 32-bit decision: it needs \"contract\": \"exact\" (the default), not fast");
  }
  if (j.contains("schedule")) {
    const json& s = j["schedule"];
    only_keys(s, "schedule", {"warmup", "samples", "steps_per_sample"});
    const int64_t most = SamplingSchedule::kMaxField;
    if (s.contains("warmup")) c.schedule.warmup = get_int(s["warmup"], "schedule.warmup", 0, most);
    if (s.contains("samples")) c.schedule.samples = get_int(s["samples"], "schedule.samples", 0, most);
    if (s.contains("steps_per_sample")) {
      c.schedule.steps_per_sample = get_int(s["steps_per_sample"], "schedule.steps_per_sample", 1, most);
    }
    // Refused here, naming the key, rather than once the sampler was built.
    if (const std::string past = c.schedule.past_sweep_limit(); !past.empty()) bad("schedule", past);
  }
  if (j.contains("beta")) c.beta = parse_beta(j["beta"]);
  if (j.contains("observe")) {
    const json& o = j["observe"];
    only_keys(o, "observe", {"moments", "energy", "readout_groups", "snapshot_sweeps"});
    if (o.contains("moments")) c.observe.moments = get_bool(o["moments"], "observe.moments");
    if (o.contains("energy")) c.observe.energy = get_bool(o["energy"], "observe.energy");
    if (o.contains("readout_groups")) {
      const json& g = o["readout_groups"];
      if (!g.is_array()) bad("observe.readout_groups", "must be an array of node-index arrays");
      for (size_t k = 0; k < g.size(); ++k) {
        const std::string key = "observe.readout_groups[" + std::to_string(k) + "]";
        std::vector<int32_t> group = get_nodes(g[k], key);
        if (group.empty()) bad(key, "must name at least one node");
        std::vector<int32_t> sorted = group;
        std::sort(sorted.begin(), sorted.end());
        if (const auto d = std::adjacent_find(sorted.begin(), sorted.end()); d != sorted.end()) {
          bad(key, "lists node " + std::to_string(*d) + " twice (it would be counted twice)");
        }
        c.observe.readout_groups.push_back(std::move(group));
      }
    }
    if (o.contains("snapshot_sweeps")) {
      const json& s = o["snapshot_sweeps"];
      if (!s.is_array()) bad("observe.snapshot_sweeps", "must be an array of sweep counts");
      for (size_t k = 0; k < s.size(); ++k) {
        c.observe.snapshot_sweeps.push_back(get_int(s[k], "observe.snapshot_sweeps[" + std::to_string(k) + "]", 1, int64_t{1} << 32));
      }
    }
  }
  if (j.contains("clamp")) {
    const json& cl = j["clamp"];
    only_keys(cl, "clamp", {"nodes", "values"});
    if (!cl.contains("nodes") || !cl.contains("values")) bad("clamp", "needs both 'nodes' and 'values'");
    c.clamp_nodes = get_nodes(cl["nodes"], "clamp.nodes");
    if (c.clamp_nodes.empty()) bad("clamp.nodes", "must name at least one node (leave out the clamp section to clamp none)");
    const json& v = cl["values"];
    if (!v.is_array()) bad("clamp.values", "must be an array of -1/+1 (K shared values or B x K)");
    for (size_t k = 0; k < v.size(); ++k) {
      const int64_t x = get_int(v[k], "clamp.values[" + std::to_string(k) + "]", -1, 1);
      if (x == 0) bad("clamp.values[" + std::to_string(k) + "]", "spins are -1 or +1, got 0");
      c.clamp_values.push_back(static_cast<int8_t>(x));
    }
  }
  if (j.contains("field")) {
    const json& f = j["field"];
    only_keys(f, "field", {"nodes", "values"});
    if (!f.contains("values")) bad("field.values", "missing");
    if (f.contains("nodes")) {  // (an empty list read as "every node", which is what leaving it out says: helper-116)
      c.field_nodes = get_nodes(f["nodes"], "field.nodes");
      if (c.field_nodes.empty()) bad("field.nodes", "must name at least one node (leave out 'nodes' for a field on every node)");
    }
    const json& v = f["values"];
    if (!v.is_array() || v.empty()) bad("field.values", "must be a non-empty array of numbers (M shared values or B x M)");
    for (size_t k = 0; k < v.size(); ++k) {
      const std::string key = "field.values[" + std::to_string(k) + "]";
      c.field_values.push_back(get_float(v[k], key));
      // The sampler's limit (a field past it could overflow the float32 local field), refused here
      // naming the key rather than when the run sets the field.
      if (std::fabs(c.field_values.back()) > Graph::kMaxLocalField) bad(key, "must be at most 1e37 in magnitude, got " + v[k].dump());
    }
  }
  if (j.contains("tempering")) {
    c.tempered = true;
    c.tempering = parse_tempering(j["tempering"]);
    if (j.contains("beta")) bad("beta", "a tempered run's temperatures are tempering's betas; remove 'beta'");
    if (!c.hardware.ideal()) bad("tempering", "needs ideal p-bits: the swap uses the model's energy, which a device does not sample");
    if (static_cast<int64_t>(c.chains) * static_cast<int64_t>(c.tempering.betas.size()) > (int64_t{1} << 30)) {
      bad("tempering", "chains x replicas must be at most 2^30");
    }
  }
  // The energy observer sums the graph the engine samples, which on a device with imperfections is
  // the per-row amplified one, no model's E(s) (helper-116; chain_energies refuses it too).
  if (c.observe.energy && !c.hardware.ideal()) {
    bad("observe.energy", "reads the model's energy, which a device with imperfections (the 'hardware' section) does not sample; "
                          "observe moments, read-outs or snapshots instead");
  }
  c.schedule.validate();
  return c;
}

nlohmann::json swap_statistics_json(const std::vector<int64_t>& attempts, const std::vector<int64_t>& accepts) {
  if (attempts.size() != accepts.size()) {
    throw InvalidArgument("swap_statistics_json: " + std::to_string(attempts.size()) + " attempt counts but " + std::to_string(accepts.size()) +
                          " accept counts");
  }
  json rate = json::array();
  for (size_t k = 0; k < attempts.size(); ++k) {
    rate.push_back(attempts[k] > 0 ? json(static_cast<double>(accepts[k]) / static_cast<double>(attempts[k])) : json(nullptr));
  }
  return {{"swap_acceptance", rate}, {"swap_attempts", attempts}, {"swap_accepts", accepts}};
}

nlohmann::json observations_to_json(const Observations& obs, const Graph& g) {
  // The graph must be the run's: another one's node count and edge list were written beside these sums.
  const auto N = static_cast<size_t>(g.num_nodes()), E = static_cast<size_t>(g.num_edges());
  if (!obs.node_sum.empty() && (obs.node_sum.size() != N || obs.edge_sum.size() != E)) {
    throw InvalidArgument("observations_to_json: the moments are of a graph of " + std::to_string(obs.node_sum.size()) + " nodes and " +
                          std::to_string(obs.edge_sum.size()) + " edges, not of this one (" + std::to_string(N) + " nodes, " +
                          std::to_string(E) + " edges)");
  }
  if (!obs.snapshots.empty() && obs.snapshots.size() % (std::max<size_t>(N, 1) * static_cast<size_t>(std::max(obs.num_chains, 1))) != 0) {
    throw InvalidArgument("observations_to_json: " + std::to_string(obs.snapshots.size()) + " snapshot spins are not whole states of " +
                          std::to_string(obs.num_chains) + " chains of this graph's " + std::to_string(N) + " nodes");
  }
  json j;
  j["num_chains"] = obs.num_chains;
  j["num_samples"] = obs.num_samples;
  j["sweeps"] = obs.sweeps;
  j["num_nodes"] = g.num_nodes();
  j["num_edges"] = g.num_edges();
  // Without samples (a warm-up-only run) there is nothing to average: the means are null, the sums 0.
  const auto mean = [&](const std::vector<double>& m) { return obs.num_samples > 0 ? json(m) : json(nullptr); };
  if (!obs.node_sum.empty()) {
    j["node_mean"] = mean(obs.node_mean);
    j["edge_corr"] = mean(obs.edge_corr);
    j["node_sum"] = obs.node_sum;
    j["edge_sum"] = obs.edge_sum;
    json edges = json::array();
    for (int64_t e = 0; e < g.num_edges(); ++e) edges.push_back({g.edge_i()[e], g.edge_j()[e]});
    j["edges"] = std::move(edges);
  }
  if (!obs.energy.empty()) j["energy"] = obs.energy;
  if (!obs.readout_sum.empty()) {
    j["readout_mean"] = mean(obs.readout_mean);
    j["readout_sum"] = obs.readout_sum;
  }
  if (!obs.snapshots.empty()) {
    std::vector<int> s(obs.snapshots.begin(), obs.snapshots.end());
    j["snapshots"] = std::move(s);
  }
  return j;
}

}  // namespace pbit
