// Each model config's resolved_config (results.json's and metrics.json's config_resolved): every
// setting the parser knows, defaults filled in, as a config the parser reads back to the same
// settings, and equal to what the config gave.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pbit/core/io.hpp"
#include "pbit/error.hpp"
#include "pbit/models/dbm.hpp"
#include "pbit/models/dtm_model.hpp"
#include "pbit/models/eqprop.hpp"
#include "pbit/models/pdnn.hpp"

namespace pbit {
namespace {

using nlohmann::json;

struct Kind {
  std::string name;
  std::vector<std::string> prefixes;  ///< of the shipped configs (configs/PREFIX*.json)
  std::function<json(const json&)> resolve;
  /// Configs by hand that reach what the shipped ones do not: the sections and keys written only
  /// under a condition (a graph file instead of a topology, tempering instead of an anneal, ...).
  std::vector<std::string> variants;
};

const std::vector<Kind>& kinds() {
  static const std::vector<Kind> k = {
      {"DBM",
       {"dbm_"},
       [](const json& j) { return resolved_config(parse_dbm_config(j)); },
       {R"({})",
        R"({"dataset": {"dir": "/data", "pool": 2}, "graph": {"file": "g.txt", "placement": "in_order"},
            "hardware": {"weight_bits": 8, "gain_sigma": 0.1, "device_seed": 3}, "train": {"mode": "in_situ", "lr_schedule": "cosine",
            "lr_final": 0.001, "time_budget_s": 0.1}, "eval": {"warmup": 10, "beta_start": 0.25}})",
        R"({"train": {"beta": 2}, "eval": {"tempering": {"replicas": 4, "hottest": 0.3, "scheme": "seo"}},
            "generate": {"tempering": {"betas": [5, 2, 1], "sweeps_per_round": 2}, "sweeps": 100}})"}},
      {"DTM",
       {"dtm_", "mebm_"},
       [](const json& j) { return resolved_config(parse_dtm_config(j)); },
       {R"({})",
        R"({"dataset": {"dir": "/data"}, "model": {"lambda": 0.7, "label_replicas": 2},
            "train": {"negative": {"warmup": 5, "tempering": {"betas": [1, 0.5, 0.25]}}, "acp": {"enabled": false, "eps": 0.02}},
            "generate": {"tempering": {"replicas": 3, "hottest": 0.4}}})"}},
      {"EqProp",
       {"eqprop_"},
       [](const json& j) { return resolved_config(parse_eqprop_config(j)); },
       {R"({})",
        R"({"data": {"data_dir": "/data", "balanced": false}, "network": {"topology": "pegasus:2", "threshold": 9},
            "hardware": {"input_bits": 6, "rng": "philox"}, "train": {"mode": "pat", "optimizer": "adam"}})"}},
      {"p-DNN",
       {"pdnn_"},
       [](const json& j) { return resolved_config(parse_pdnn_config(j)); },
       {R"({})",
        R"({"data": {"data_dir": "/data"}, "hardware": {"gain_sigma": 0.1}, "train": {"mode": "in_situ", "samples": 4}})",
        R"({"network": {"activation": "quant", "bits": 3, "hidden": [64]}, "generator": {"encoder_hidden": [], "kl_weight": 0.5}})"}},
  };
  return k;
}

/// Every config of the kind: the shipped ones (by name), then the variants.
std::vector<std::pair<std::string, json>> configs_of(const Kind& k) {
  std::vector<std::pair<std::string, json>> out;
  for (const auto& f : std::filesystem::directory_iterator(std::string(PBIT_SOURCE_DIR) + "/configs")) {
    const std::string name = f.path().filename().string();
    for (const std::string& p : k.prefixes)
      if (name.rfind(p, 0) == 0) out.emplace_back(name, read_json_file(f.path().string()));
  }
  EXPECT_FALSE(out.empty()) << k.name << ": no shipped config";
  for (size_t v = 0; v < k.variants.size(); ++v) out.emplace_back("variant " + std::to_string(v), json::parse(k.variants[v]));
  return out;
}

/// The leaves of a config by dotted path ("train.negative.warmup"), _comment left out.
void leaves(const json& j, const std::string& at, std::map<std::string, json>& out) {
  if (!j.is_object()) {
    out[at] = j;
    return;
  }
  for (const auto& [k, v] : j.items())
    if (k != "_comment") leaves(v, at.empty() ? k : at + "." + k, out);
}

/// The objects of a config by dotted path ("" the top level).
void sections(const json& j, const std::string& at, std::map<std::string, const json*>& out) {
  out[at] = &j;
  for (const auto& [k, v] : j.items())
    if (v.is_object()) sections(v, at.empty() ? k : at + "." + k, out);
}

/// A config's number as the model holds it: an integer exactly, any other number as a float (the
/// parsers read every fraction as one).
bool same_setting(const json& a, const json& b) {
  if (a.is_number_integer() && b.is_number_integer()) return a == b;
  if (a.is_number() && b.is_number()) return static_cast<float>(a.get<double>()) == static_cast<float>(b.get<double>());
  if (a.is_array() && b.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (!same_setting(a[i], b[i])) return false;
    return true;
  }
  return a == b;
}

TEST(ResolvedConfig, ReadsBackToItselfAndKeepsEveryGivenSetting) {
  for (const Kind& k : kinds()) {
    for (const auto& [name, given] : configs_of(k)) {
      SCOPED_TRACE(k.name + " " + name);
      const json r = k.resolve(given);
      ASSERT_TRUE(r.is_object());
      // Read back, it is the same run: its parser takes it (every exclusive key left out as the
      // settings exclude it), and resolves it to itself.
      json again;
      ASSERT_NO_THROW(again = k.resolve(r)) << r.dump();
      EXPECT_EQ(again, r) << again.dump() << "\n" << r.dump();
      // What the config gave is there as given (a tempering ladder given as replicas and hottest
      // is written as its betas).
      std::map<std::string, json> in, out;
      leaves(given, "", in);
      leaves(r, "", out);
      for (const auto& [key, v] : in) {
        const auto t = key.find("tempering.");
        if (t != std::string::npos) {
          const std::string rest = key.substr(t + 10);
          if (rest == "replicas" || rest == "hottest" || rest == "target") {
            const auto b = out.find(key.substr(0, t + 10) + "betas");
            ASSERT_NE(b, out.end()) << key;
            if (rest == "replicas") EXPECT_EQ(b->second.size(), v.get<size_t>()) << key;
            if (rest == "hottest") EXPECT_TRUE(same_setting(b->second.back(), v)) << key;
            continue;
          }
        }
        const auto o = out.find(key);
        ASSERT_NE(o, out.end()) << key << " given, not in " << r.dump();
        EXPECT_TRUE(same_setting(o->second, v)) << key << ": given " << v.dump() << ", resolved " << o->second.dump();
      }
      // Floats are written as the shortest decimal of the float: 0.003, not 0.003000000026077032.
      for (const auto& [key, v] : out)
        if (v.is_number_float()) EXPECT_LE(v.dump().size(), 12u) << key << " = " << v.dump();
    }
  }
}

/// The resolved config reads back to the same numbers, not only the same JSON (the JSON writes a
/// float's shortest decimal, which a double default such as 0.9 would print too, though the parser,
/// reading a float, gives 0.8999999762): what the checkpoints' fingerprints hash.
TEST(ResolvedConfig, ReadsBackToTheSameNumbers) {
  for (const auto& [name, given] : configs_of(kinds()[1])) {  // the DTM's rates
    SCOPED_TRACE(name);
    const DtmConfig a = parse_dtm_config(given), b = parse_dtm_config(resolved_config(a));
    EXPECT_EQ(a.lambda, b.lambda);
    EXPECT_EQ(a.label_lambda, b.label_lambda);
    EXPECT_EQ(a.acp_lambda0, b.acp_lambda0);
    EXPECT_EQ(a.acp_eps, b.acp_eps);
    EXPECT_EQ(a.time_budget_s, b.time_budget_s);
    EXPECT_EQ(a.adam_b2, b.adam_b2);
  }
  // A time budget and a bound that are no float: read as the float they give, which reads back.
  const json budget = json::parse(R"({"train": {"time_budget_s": 1000.1, "adam_b2": 0.9999999}})");
  const DtmConfig a = parse_dtm_config(budget), b = parse_dtm_config(resolved_config(a));
  EXPECT_EQ(a.time_budget_s, b.time_budget_s);
  EXPECT_EQ(a.adam_b2, b.adam_b2);
  const DbmConfig d = parse_dbm_config(json::parse(R"({"train": {"time_budget_s": 0.1}})"));
  EXPECT_EQ(parse_dbm_config(resolved_config(d)).time_budget_s, d.time_budget_s);
}

/// Every key the parser takes in a section ("unknown key (allowed: ...)" lists them) is in some
/// config's resolved form: a key the parser learns and resolved_config forgets fails here.
TEST(ResolvedConfig, WritesEveryKeyTheParserKnows) {
  for (const Kind& k : kinds()) {
    SCOPED_TRACE(k.name);
    std::map<std::string, std::set<std::string>> written;  // section -> keys written in it by some config
    std::map<std::string, json> example;                   // section -> a resolved config holding it
    for (const auto& [name, given] : configs_of(k)) {
      const json r = k.resolve(given);
      std::map<std::string, const json*> secs;
      sections(r, "", secs);
      for (const auto& [at, obj] : secs) {
        for (const auto& [key, v] : obj->items()) written[at].insert(key);
        example.emplace(at, r);
      }
    }
    EXPECT_GE(written.size(), 6u);
    for (const auto& [at, keys] : written) {
      json probe = example.at(at);
      json::json_pointer ptr;
      std::string rest = at;
      while (!rest.empty()) {
        const auto dot = rest.find('.');
        ptr /= rest.substr(0, dot);
        rest = dot == std::string::npos ? "" : rest.substr(dot + 1);
      }
      probe[ptr]["zz_probe"] = 1;
      std::string what;
      try {
        k.resolve(probe);
      } catch (const InvalidConfig& e) {
        what = e.what();
      }
      const auto open = what.find("unknown key (allowed: ");
      ASSERT_NE(open, std::string::npos) << "section '" << at << "' took an unknown key: " << what;
      const auto close = what.find(')', open);
      std::string list = what.substr(open + 22, close - open - 22);
      std::set<std::string> allowed;
      for (size_t p = 0; p <= list.size();) {
        const auto comma = list.find(", ", p);
        allowed.insert(list.substr(p, comma == std::string::npos ? std::string::npos : comma - p));
        if (comma == std::string::npos) break;
        p = comma + 2;
      }
      allowed.erase("_comment");
      // A ladder given as replicas, hottest and target is written as the betas they make.
      if (at.size() >= 9 && at.compare(at.size() - 9, 9, "tempering") == 0) {
        for (const char* alt : {"replicas", "hottest", "target"}) allowed.erase(alt);
      }
      for (const std::string& a : allowed) EXPECT_TRUE(keys.count(a)) << "'" << a << "' of section '" << at << "' is never written";
      for (const std::string& w : keys) EXPECT_TRUE(allowed.count(w)) << "'" << w << "' written in section '" << at << "'";
    }
  }
}

}  // namespace
}  // namespace pbit
