// Key-checked JSON reading for configs: every error is InvalidConfig naming the full key path.
#pragma once
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pbit/error.hpp"

namespace pbit::detail {

[[noreturn]] inline void config_error(const std::string& key, const std::string& what) {
  throw InvalidConfig("key '" + key + "': " + what);
}

/// A number as a person writes it in a range: 0, 0.9999, 100, 1000000000 (no "0.000000").
inline std::string format_number(double x) {
  std::ostringstream o;
  o.precision(12);
  o << x;
  return o.str();
}

/// A JSON library error in a person's words: its text without the "[json.exception.parse_error.101] "
/// label in front ("parse error at line 1, column 13: syntax error ...").
inline std::string json_what(const nlohmann::json::exception& e) {
  const std::string w = e.what();
  if (w.rfind("[json.exception.", 0) == 0) {
    const auto end = w.find("] ");
    if (end != std::string::npos) return w.substr(end + 2);
  }
  return w;
}

inline std::string join_key(const std::string& where, const std::string& k) { return where.empty() ? k : where + "." + k; }

/// Rejects keys outside `allowed` (a typo must not silently fall back to a default); `unknown_hint`
/// follows the message of a key it does not know.
inline void only_keys(const nlohmann::json& j, const std::string& where, const std::set<std::string>& ok, const std::string& unknown_hint = "") {
  if (!j.is_object()) config_error(where.empty() ? "(top level)" : where, "must be an object, got " + j.dump());
  for (const auto& [k, v] : j.items()) {
    if (!ok.count(k)) {
      std::string list;
      for (const auto& a : ok) list += (list.empty() ? "" : ", ") + a;
      // A NUL in the key ("\u0000") would end the message where what() is read: shown as \x00.
      std::string shown = k;
      for (size_t p = shown.find('\0'); p != std::string::npos; p = shown.find('\0', p)) shown.replace(p, 1, "\\x00");
      config_error(join_key(where, shown), "unknown key (allowed: " + list + ")" + unknown_hint);
    }
    // Free text by the docs; a number or an object there is more likely a misplaced setting.
    if (k == "_comment" && !v.is_string()) config_error(join_key(where, k), "is free text pbit ignores: give a string, got " + v.dump());
  }
}

inline void only_keys(const nlohmann::json& j, const std::string& where, std::initializer_list<const char*> allowed) {
  only_keys(j, where, std::set<std::string>(allowed.begin(), allowed.end()));
}

/// pbit's JSON inputs and their top-level keys: each reader checks its own here, so that a file
/// given to the wrong command is named for the one it belongs to.
enum class ConfigKind { sample, dbm, dtm, eqprop, pdnn, compare_suite, platforms };

struct ConfigSections {
  ConfigKind kind;
  std::string name;
  std::set<std::string> keys;
};

inline const std::vector<ConfigSections>& config_kinds() {
  static const std::vector<ConfigSections> kinds = {
      {ConfigKind::sample, "a 'pbit sample' config",
       {"_comment", "chains", "seed", "backend", "contract", "threads", "schedule", "beta", "observe", "clamp", "field", "hardware", "tempering"}},
      {ConfigKind::dbm, "a DBM config ('pbit dbm')", {"_comment", "dataset", "graph", "run", "init", "train", "eval", "generate", "hardware"}},
      {ConfigKind::dtm, "a DTM config ('pbit dtm')", {"_comment", "dataset", "model", "train", "generate", "run"}},
      {ConfigKind::eqprop, "an EqProp config ('pbit eqprop')", {"_comment", "data", "network", "free", "nudge", "train", "eval", "hardware", "run"}},
      {ConfigKind::pdnn, "a p-DNN config ('pbit pdnn')", {"_comment", "data", "network", "train", "eval", "generator", "hardware", "run"}},
      {ConfigKind::compare_suite, "a compare suite ('pbit compare --suite')",
       {"_comment", "workloads", "backends", "chains", "min_seconds", "idle_seconds", "threads", "platforms", "output_dir", "quality"}},
      {ConfigKind::platforms, "a platforms file (a compare suite's 'platforms')", {"_comment", "fpga", "rng_chip", "pdnn"}},
  };
  return kinds;
}

/// only_keys for the top level of an input of `kind`. A key it does not know is named with the
/// inputs whose top-level keys are all of this one's ("; these are the sections of a DBM config").
inline void only_config_sections(const nlohmann::json& j, ConfigKind kind) {
  const ConfigSections* mine = nullptr;
  std::string others;
  for (const ConfigSections& k : config_kinds()) {
    if (k.kind == kind) {
      mine = &k;
      continue;
    }
    bool fits = j.is_object() && j.size() > static_cast<size_t>(j.contains("_comment"));
    for (const auto& item : j.items()) fits = fits && k.keys.count(item.key());
    if (fits) others += (others.empty() ? "" : " or ") + k.name;
  }
  only_keys(j, "", mine->keys, others.empty() ? "" : "; these are the sections of " + others);
}

inline int64_t get_int(const nlohmann::json& v, const std::string& key, int64_t lo, int64_t hi) {
  if (!v.is_number_integer()) config_error(key, "must be an integer, got " + v.dump());
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi)) {  // above 2^63 it would read as negative
    config_error(key, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + v.dump());
  }
  const auto x = v.get<int64_t>();
  if (x < lo || x > hi) config_error(key, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + std::to_string(x));
  return x;
}

/// The side of the images of both datasets the model configs name (MNIST, Fashion-MNIST: 28x28).
inline constexpr int32_t kImageSide = 28;

/// dataset.pool of the DBM and DTM configs: a factor in [1, 14] that divides the 28x28 images of both
/// datasets (refused here, naming the key, rather than once the data are read).
inline int32_t get_pool(const nlohmann::json& v, const std::string& key) {
  const auto pool = static_cast<int32_t>(get_int(v, key, 1, 14));
  if (kImageSide % pool) config_error(key, "must divide the 28x28 images (1, 2, 4, 7 or 14), got " + std::to_string(pool));
  return pool;
}

/// Writes a command-line override into a config's source JSON (the copy results.json records), so
/// that the recorded config is the one that ran: set_override(src, {"train", "epochs"}, 3).
inline void set_override(nlohmann::json& source, std::initializer_list<const char*> path, const nlohmann::json& value) {
  nlohmann::json* at = &source;
  for (const char* key : path) {
    if (!at->is_object()) *at = nlohmann::json::object();
    at = &(*at)[key];
  }
  *at = value;
}

/// A command-line option given in place of config key `path`: sets the config's field to it and
/// records it in `source` (set_override), so that no option is applied but left unrecorded.
template <class Field, class Value>
void override_key(Field& field, const Value& value, nlohmann::json& source, std::initializer_list<const char*> path) {
  field = value;
  set_override(source, path, field);
}

inline float get_float(const nlohmann::json& v, const std::string& key) {
  if (!v.is_number()) config_error(key, "must be a number, got " + v.dump());
  const double x = v.get<double>();
  if (!std::isfinite(x) || std::fabs(x) > std::numeric_limits<float>::max()) config_error(key, "must be a finite float32");
  // A value that float32 rounds to 0 is refused, as a graph file's weight is, rather than read changed.
  if (x != 0 && static_cast<float>(x) == 0.0f) config_error(key, "is too close to 0 for a float32 (it would be read as 0), got " + v.dump());
  return static_cast<float>(x);
}

inline double get_double(const nlohmann::json& v, const std::string& key) {
  if (!v.is_number()) config_error(key, "must be a number, got " + v.dump());
  const double x = v.get<double>();
  if (!std::isfinite(x)) config_error(key, "must be finite");
  return x;
}

/// A double setting in [lo, hi] (a time in seconds: no reason to round it to a float).
inline double get_double_in(const nlohmann::json& v, const std::string& key, double lo, double hi) {
  const double x = get_double(v, key);
  if (x < lo || x > hi) config_error(key, "must be in [" + format_number(lo) + ", " + format_number(hi) + "], got " + v.dump());
  return x;
}

inline float get_float_in(const nlohmann::json& v, const std::string& key, double lo, double hi) {
  const float x = get_float(v, key);
  // The value as written is checked, not its float32 rounding (1e-6 rounds below a bound of 1e-6).
  if (const double d = v.get<double>(); d < lo || d > hi) config_error(key, "must be in [" + format_number(lo) + ", " + format_number(hi) + "], got " + v.dump());
  return x;
}

inline bool get_bool(const nlohmann::json& v, const std::string& key) {
  if (!v.is_boolean()) config_error(key, "must be true or false, got " + v.dump());
  return v.get<bool>();
}

inline std::string get_string(const nlohmann::json& v, const std::string& key, std::initializer_list<const char*> choices = {}) {
  if (!v.is_string()) config_error(key, "must be a string, got " + v.dump());
  const std::string s = v.get<std::string>();
  if (choices.size() == 0) return s;
  std::string list;
  for (const char* c : choices) {
    if (s == c) return s;
    list += (list.empty() ? "" : ", ") + std::string(c);
  }
  config_error(key, "must be one of " + list + "; got '" + s + "'");
}

inline std::vector<int32_t> get_nodes(const nlohmann::json& v, const std::string& key) {
  if (!v.is_array()) config_error(key, "must be an array of node indices");
  std::vector<int32_t> out;
  for (size_t k = 0; k < v.size(); ++k) {
    out.push_back(static_cast<int32_t>(get_int(v[k], key + "[" + std::to_string(k) + "]", 0, std::numeric_limits<int32_t>::max())));
  }
  return out;
}

/// A folder or file path: a non-empty string (an empty one would put "DIR/name" files at "/name").
inline std::string get_path(const nlohmann::json& v, const std::string& key) {
  std::string s = get_string(v, key);
  if (s.empty()) config_error(key, "must not be empty (\".\" is the current folder)");
  return s;
}

/// The "run" section shared by the model configs: backend, threads, seed, output_dir.
inline void parse_run_section(const nlohmann::json& j, std::string& backend, int& threads, uint64_t& seed,
                              std::string& output_dir) {
  if (!j.contains("run")) return;
  const auto& r = j["run"];
  only_keys(r, "run", {"backend", "threads", "seed", "output_dir"});
  if (r.contains("backend")) backend = get_string(r["backend"], "run.backend", {"best", "reference", "cpu", "cuda", "packed"});
  if (r.contains("threads")) threads = static_cast<int>(get_int(r["threads"], "run.threads", 0, 4096));
  if (r.contains("seed")) seed = static_cast<uint64_t>(get_int(r["seed"], "run.seed", 0, int64_t{1} << 40));
  if (r.contains("output_dir")) output_dir = get_path(r["output_dir"], "run.output_dir");
}

/// `j` with what a run's metrics.json and results.json say of its config (a DbmConfig, DtmConfig,
/// EqPropConfig or PdnnConfig; docs/CLI.md): "config", as given with the command line's overrides
/// written in, and "config_resolved" (resolved_config), every setting with the value it took.
template <class Config>
nlohmann::json with_config(const Config& c, nlohmann::json j) {
  j["config"] = c.source;
  j["config_resolved"] = resolved_config(c);
  return j;
}

/// The run section parse_run_section reads, as a resolved config writes it.
inline nlohmann::json run_section_json(const std::string& backend, int threads, uint64_t seed, const std::string& output_dir) {
  return {{"backend", backend}, {"threads", threads}, {"seed", seed}, {"output_dir", output_dir}};
}

/// A float setting in a resolved config: the shortest decimal that reads back as the same float
/// (0.003, where the double it widens to prints 0.003000000026077032).
inline nlohmann::json float_json(float x) {
  char buf[48];
  const auto r = std::to_chars(buf, buf + sizeof buf - 1, x);
  *r.ptr = '\0';
  return std::strtod(buf, nullptr);
}

}  // namespace pbit::detail
