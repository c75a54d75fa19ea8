#include "pbit/models/dbm.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <functional>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <sstream>
#include <tuple>

#include "models/common/image_selection.hpp"
#include "models/common/checkpoint.hpp"
#include "models/common/sweep_limit.hpp"
#include "util/binary_io.hpp"
#include "util/file_formats.hpp"
#include "util/file_io.hpp"
#include "util/json_util.hpp"
#include "util/memory.hpp"
#include "util/parse_number.hpp"
#include "util/progress.hpp"
#include "pbit/error.hpp"
#include "pbit/core/config.hpp"
#include "pbit/core/io.hpp"
#include "pbit/core/rng.hpp"
#include "pbit/dist/comm.hpp"
#include "pbit/hardware/topology.hpp"

namespace pbit {

// ------------------------------------------------------------------ config

namespace {

/// The most epochs a config may ask for; a checkpoint that claims more is corrupt.
constexpr int32_t kMaxEpochs = 100000;
/// A coupling or bias past this in size stops training as diverged (before a checkpoint saves it), and a
/// checkpoint holding one is refused.
constexpr float kMostParameter = 1e6f;

using detail::get_float;
using detail::get_float_in;
using detail::get_int;
using detail::get_string;
using detail::only_keys;

void parse_phase(const nlohmann::json& j, const std::string& where, DbmPhase& p, int64_t max_chains) {
  only_keys(j, where, {"chains", "warmup", "samples", "steps_per_sample"});
  const int64_t big = int64_t{1} << 32;
  if (j.contains("chains")) p.chains = static_cast<int32_t>(get_int(j["chains"], where + ".chains", 1, max_chains));
  if (j.contains("warmup")) p.warmup = get_int(j["warmup"], where + ".warmup", 0, big);
  if (j.contains("samples")) p.samples = get_int(j["samples"], where + ".samples", 1, big);
  if (j.contains("steps_per_sample")) p.steps_per_sample = get_int(j["steps_per_sample"], where + ".steps_per_sample", 1, big);
}

/// Steps of the generation anneal, beta_start, beta_start + beta_step, ... up to beta_end (at least 1):
/// what the config check limits and what generate_dbm runs.
double gen_anneal_steps(const DbmConfig& c) {
  return std::max(0.0, std::floor((c.gen_beta_end - c.gen_beta_start) / c.gen_beta_step + 1e-6)) + 1;
}

}  // namespace

DbmConfig parse_dbm_config(const nlohmann::json& j) {
  DbmConfig c;
  c.source = j;
  detail::only_config_sections(j, detail::ConfigKind::dbm);
  const int64_t big = int64_t{1} << 40;
  if (j.contains("dataset")) {
    const auto& d = j["dataset"];
    only_keys(d, "dataset", {"name", "dir", "train_limit", "test_limit", "pool", "threshold"});
    if (d.contains("name")) c.dataset = get_string(d["name"], "dataset.name", {"mnist", "fashion-mnist"});
    if (d.contains("dir")) c.data_dir = detail::get_path(d["dir"], "dataset.dir");
    if (d.contains("train_limit")) c.train_limit = get_int(d["train_limit"], "dataset.train_limit", 0, big);
    if (d.contains("test_limit")) c.test_limit = get_int(d["test_limit"], "dataset.test_limit", 0, big);
    if (d.contains("pool")) c.pool = detail::get_pool(d["pool"], "dataset.pool");
    if (d.contains("threshold")) c.threshold = static_cast<int32_t>(get_int(d["threshold"], "dataset.threshold", 0, 254));
  }
  if (j.contains("graph")) {
    const auto& g = j["graph"];
    only_keys(g, "graph", {"topology", "file", "label_replicas", "placement", "role_seed"});
    if (g.contains("topology")) c.topology = get_string(g["topology"], "graph.topology");
    if (g.contains("file")) {
      c.graph_file = get_string(g["file"], "graph.file");
      if (c.graph_file.empty()) detail::config_error("graph.file", "must not be empty (leave it out for graph.topology's graph)");
    }
    if (g.contains("label_replicas")) c.label_replicas = static_cast<int32_t>(get_int(g["label_replicas"], "graph.label_replicas", 1, 1000));
    if (g.contains("placement")) c.placement = get_string(g["placement"], "graph.placement", {"random", "in_order"});
    if (g.contains("role_seed")) c.role_seed = static_cast<uint64_t>(get_int(g["role_seed"], "graph.role_seed", 0, big));
    // The seed places roles at random: beside in_order it would do nothing, and a reader of the
    // config would believe it did.
    if (c.placement == "in_order" && g.contains("role_seed")) {
      detail::config_error("graph.role_seed", "it seeds the random placement, and graph.placement is \"in_order\": leave one of them out");
    }
  }
  if (j.contains("hardware")) {
    c.hardware = parse_hardware(j["hardware"], "hardware");
  }
  detail::parse_run_section(j, c.backend, c.threads, c.seed, c.output_dir);
  if (j.contains("init")) {
    const auto& i = j["init"];
    only_keys(i, "init", {"sigma_j", "bias"});
    if (i.contains("sigma_j")) c.init_sigma_j = get_float_in(i["sigma_j"], "init.sigma_j", 0.0, 10.0);
    if (i.contains("bias")) c.init_bias = get_string(i["bias"], "init.bias", {"zero", "pm1", "pm1_logit"});
  }
  if (j.contains("train")) {
    const auto& t = j["train"];
    only_keys(t, "train", {"epochs", "batch_size", "learning_rate", "lr_schedule", "lr_final", "momentum", "weight_decay",
                           "beta", "positive", "negative", "checkpoint_every_batches", "eval_images_per_epoch",
                           "time_budget_s", "centering_rate", "mode"});
    if (t.contains("mode")) c.train_mode = get_string(t["mode"], "train.mode", {"ideal", "in_situ"});
    if (t.contains("epochs")) c.epochs = static_cast<int32_t>(get_int(t["epochs"], "train.epochs", 1, kMaxEpochs));
    if (t.contains("batch_size")) c.batch_size = static_cast<int32_t>(get_int(t["batch_size"], "train.batch_size", 1, 1 << 20));
    if (t.contains("learning_rate")) c.learning_rate = get_float_in(t["learning_rate"], "train.learning_rate", 0.0, 100.0);
    if (t.contains("lr_schedule")) c.lr_schedule = get_string(t["lr_schedule"], "train.lr_schedule", {"constant", "cosine"});
    if (t.contains("lr_final")) c.lr_final = get_float_in(t["lr_final"], "train.lr_final", 0.0, 100.0);
    if (t.contains("momentum")) c.momentum = get_float_in(t["momentum"], "train.momentum", 0.0, 0.9999);
    if (t.contains("weight_decay")) c.weight_decay = get_float_in(t["weight_decay"], "train.weight_decay", 0.0, 1.0);
    if (t.contains("beta")) c.beta = get_float_in(t["beta"], "train.beta", 0.0, 1000.0);
    if (t.contains("positive")) parse_phase(t["positive"], "train.positive", c.positive, 1 << 20);
    if (t.contains("negative")) parse_phase(t["negative"], "train.negative", c.negative, 1 << 24);
    if (t.contains("checkpoint_every_batches")) {
      c.checkpoint_every_batches = get_int(t["checkpoint_every_batches"], "train.checkpoint_every_batches", 0, big);
    }
    if (t.contains("eval_images_per_epoch")) {
      c.eval_images_per_epoch = get_int(t["eval_images_per_epoch"], "train.eval_images_per_epoch", 0, big);
    }
    if (t.contains("time_budget_s")) c.time_budget_s = detail::get_double_in(t["time_budget_s"], "train.time_budget_s", 0, 1e9);
    if (t.contains("centering_rate")) c.centering_rate = get_float_in(t["centering_rate"], "train.centering_rate", 0.0, 1.0);
    // The cosine schedule decays from learning_rate to lr_final: a final rate above the first is a
    // slip (the two swapped, or a learning rate lowered without its final rate), never a warm-up.
    if (c.lr_schedule == "cosine" && c.lr_final > c.learning_rate) {
      std::ostringstream m;  // floats at their own precision (0.003, not 0.00300000002608)
      m << "the cosine schedule decays from train.learning_rate (" << c.learning_rate << ") to it, so it may not be above that, got "
        << c.lr_final;
      detail::config_error("train.lr_final", m.str());
    }
  }
  if (j.contains("eval")) {
    const auto& e = j["eval"];
    only_keys(e, "eval", {"chains", "warmup", "samples", "steps_per_sample", "batch_images", "beta_start", "tempering"});
    nlohmann::json phase = e;
    phase.erase("batch_images");
    phase.erase("beta_start");
    phase.erase("tempering");
    parse_phase(phase, "eval", c.eval, 1 << 16);
    if (e.contains("batch_images")) c.eval_batch_images = get_int(e["batch_images"], "eval.batch_images", 1, 1 << 24);
    if (e.contains("beta_start")) c.eval_beta_start = get_float_in(e["beta_start"], "eval.beta_start", 0.0, 1000.0);
    if (e.contains("tempering")) {
      c.eval_tempered = true;
      c.eval_tempering = parse_tempering(e["tempering"], "eval.tempering", c.beta);
      if (c.eval_beta_start >= 0) detail::config_error("eval.beta_start", "a tempered evaluation has no anneal; remove beta_start");
      if (!c.hardware.ideal()) {
        detail::config_error("eval.tempering", "needs ideal p-bits: the swap uses the model's energy, which a device does not sample");
      }
    }
  }
  if (j.contains("generate")) {
    const auto& g = j["generate"];
    only_keys(g, "generate", {"per_class", "beta_start", "beta_end", "beta_step", "sweeps_per_beta", "tempering", "sweeps"});
    if (g.contains("per_class")) c.gen_per_class = static_cast<int32_t>(get_int(g["per_class"], "generate.per_class", 1, 10000));
    if (g.contains("beta_start")) c.gen_beta_start = get_float_in(g["beta_start"], "generate.beta_start", 0.0, 1000.0);
    if (g.contains("beta_end")) c.gen_beta_end = get_float_in(g["beta_end"], "generate.beta_end", 0.0, 1000.0);
    if (g.contains("beta_step")) c.gen_beta_step = get_float_in(g["beta_step"], "generate.beta_step", 1e-6, 1000.0);
    if (g.contains("sweeps_per_beta")) c.gen_sweeps_per_beta = get_int(g["sweeps_per_beta"], "generate.sweeps_per_beta", 1, big);
    if (g.contains("tempering")) {
      for (const char* k : {"beta_start", "beta_step", "sweeps_per_beta"}) {
        if (g.contains(k)) {
          detail::config_error(std::string("generate.") + k, "a tempered generation does not anneal: it samples at the ladder's betas "
                                                             "(target: generate.tempering.target, default beta_end) for generate.sweeps sweeps");
        }
      }
      c.gen_tempered = true;
      c.gen_tempering = parse_tempering(g["tempering"], "generate.tempering", c.gen_beta_end);
      if (!c.hardware.ideal()) {
        detail::config_error("generate.tempering", "needs ideal p-bits: the swap uses the model's energy, which a device does not sample");
      }
      if (g.contains("sweeps")) c.gen_sweeps = get_int(g["sweeps"], "generate.sweeps", 1, SamplingSchedule::kMaxSweeps);
    } else if (g.contains("sweeps")) {
      detail::config_error("generate.sweeps", "sets the length of a tempered generation; the anneal's length is set by beta_start, "
                                              "beta_end, beta_step and sweeps_per_beta");
    }
  }
  if (!c.graph_file.empty() && j.contains("graph") && j["graph"].contains("topology")) {
    detail::config_error("graph", "give either 'topology' or 'file', not both");
  }
  if (c.train_mode != "ideal" && c.hardware.ideal()) {
    detail::config_error("train.mode", "'in_situ' trains on a device: give a 'hardware' section with some imperfection");
  }
  // Each positive chain holds one image of the batch: batch_size x positive.chains chains in one sampler.
  if (static_cast<int64_t>(c.batch_size) * c.positive.chains > std::numeric_limits<int32_t>::max()) {
    detail::config_error("train.positive.chains", "batch_size (" + std::to_string(c.batch_size) + ") x positive.chains (" +
                                                      std::to_string(c.positive.chains) + ") is more chains than a sampler holds (2^31 - 1)");
  }
  if (c.eval_beta_start >= 0 && c.eval.warmup == 0) {
    detail::config_error("eval.beta_start", "anneals over the warm-up, and eval.warmup is 0: give a warm-up or remove beta_start");
  }
  if (!c.gen_tempered && c.gen_beta_start > c.gen_beta_end) {
    detail::config_error("generate.beta_start", "the anneal rises from beta_start to beta_end, and beta_start (" +
                                                    detail::format_number(c.gen_beta_start) + ") is above beta_end (" +
                                                    detail::format_number(c.gen_beta_end) + ")");
  }
  // Runs one sampler cannot hold (2^32 - 1 sweeps, the RNG counter's sweep field) are refused here,
  // before a training run, rather than when its evaluation or generation starts.
  if (const std::string past = c.eval.schedule().past_sweep_limit(); !past.empty()) detail::config_error("eval", past);
  // (a training phase's failed at its first update, after the data was loaded, naming no key: helper-118)
  if (const std::string past = c.positive.schedule().past_sweep_limit(); !past.empty()) detail::config_error("train.positive", past);
  if (const std::string past = c.negative.schedule().past_sweep_limit(); !past.empty()) detail::config_error("train.negative", past);
  if (!c.gen_tempered) {
    const double steps = gen_anneal_steps(c);
    if (steps > 1e6) {
      detail::config_error("generate.beta_step", "the anneal from beta_start to beta_end would take " + std::to_string(static_cast<int64_t>(steps)) +
                                                     " steps; at most 10^6");
    }
    if (steps * static_cast<double>(c.gen_sweeps_per_beta) > static_cast<double>(SamplingSchedule::kMaxSweeps)) {
      detail::config_error("generate.sweeps_per_beta", "the anneal would run more sweeps than a sampler runs (2^32 - 1)");
    }
  }
  return c;
}

nlohmann::json resolved_config(const DbmConfig& c) {
  using detail::float_json;
  auto phase = [](const DbmPhase& p) {
    return nlohmann::json{{"chains", p.chains}, {"warmup", p.warmup}, {"samples", p.samples}, {"steps_per_sample", p.steps_per_sample}};
  };
  nlohmann::json j;
  j["dataset"] = {{"name", c.dataset}, {"train_limit", c.train_limit}, {"test_limit", c.test_limit}, {"pool", c.pool}, {"threshold", c.threshold}};
  if (!c.data_dir.empty()) j["dataset"]["dir"] = c.data_dir;  // (absent: the dataset's default folders)
  j["graph"] = {{"label_replicas", c.label_replicas}, {"placement", c.placement}};
  if (c.graph_file.empty()) j["graph"]["topology"] = c.topology;
  else j["graph"]["file"] = c.graph_file;
  if (c.placement == "random") j["graph"]["role_seed"] = c.role_seed;
  if (!c.hardware.ideal()) j["hardware"] = c.hardware.config_json();
  j["run"] = detail::run_section_json(c.backend, c.threads, c.seed, c.output_dir);
  j["init"] = {{"sigma_j", float_json(c.init_sigma_j)}, {"bias", c.init_bias}};
  j["train"] = {{"mode", c.train_mode},
                {"epochs", c.epochs},
                {"batch_size", c.batch_size},
                {"learning_rate", float_json(c.learning_rate)},
                {"lr_schedule", c.lr_schedule},
                {"lr_final", float_json(c.lr_final)},
                {"momentum", float_json(c.momentum)},
                {"weight_decay", float_json(c.weight_decay)},
                {"beta", float_json(c.beta)},
                {"positive", phase(c.positive)},
                {"negative", phase(c.negative)},
                {"checkpoint_every_batches", c.checkpoint_every_batches},
                {"eval_images_per_epoch", c.eval_images_per_epoch},
                {"time_budget_s", c.time_budget_s},
                {"centering_rate", float_json(c.centering_rate)}};
  j["eval"] = phase(c.eval);
  j["eval"]["batch_images"] = c.eval_batch_images;
  if (c.eval_tempered) j["eval"]["tempering"] = tempering_json(c.eval_tempering);
  else if (c.eval_beta_start >= 0) j["eval"]["beta_start"] = float_json(c.eval_beta_start);  // (absent: a constant beta)
  j["generate"] = {{"per_class", c.gen_per_class}, {"beta_end", float_json(c.gen_beta_end)}};
  if (c.gen_tempered) {
    j["generate"]["tempering"] = tempering_json(c.gen_tempering);
    j["generate"]["sweeps"] = c.gen_sweeps;
  } else {
    j["generate"]["beta_start"] = float_json(c.gen_beta_start);
    j["generate"]["beta_step"] = float_json(c.gen_beta_step);
    j["generate"]["sweeps_per_beta"] = c.gen_sweeps_per_beta;
  }
  return j;
}

// ------------------------------------------------------------------ model

SparseDbm::SparseDbm(Graph graph, std::vector<int32_t> colors, RoleAssignment roles, int32_t rows, int32_t cols,
                     int32_t replicas)
    : graph_(std::move(graph)), colors_(std::move(colors)), roles_(std::move(roles)), rows_(rows), cols_(cols), replicas_(replicas) {
  verify_coloring(graph_, colors_);
  roles_.validate(graph_.num_nodes());
  if (static_cast<int64_t>(roles_.of("visible").size()) != static_cast<int64_t>(rows) * cols) {
    throw InvalidArgument("DBM: " + std::to_string(roles_.of("visible").size()) + " visible nodes for " + std::to_string(rows) +
                          "x" + std::to_string(cols) + " images");
  }
  if (static_cast<int64_t>(roles_.of("label").size()) != 10LL * replicas) {
    throw InvalidArgument("DBM: " + std::to_string(roles_.of("label").size()) + " label nodes, expected 10 classes x " +
                          std::to_string(replicas) + " replicas");
  }
  roles_.index("hidden");
  // A role besides these would hold nodes that no phase treats as hidden, visible or label (an extra
  // role in a model.json was accepted, its nodes sampled but never counted as hidden).
  for (const std::string& name : roles_.names) {
    if (name != "visible" && name != "label" && name != "hidden") {
      throw InvalidArgument("DBM: role '" + name + "' is not one of the DBM's roles (visible, label, hidden)");
    }
  }
}

SparseDbm SparseDbm::create(const DbmConfig& cfg, int32_t rows, int32_t cols) {
  detail::check_image_size("sparse DBM:", rows, cols);
  Graph g;
  std::vector<int32_t> colors;
  if (!cfg.graph_file.empty()) {
    GraphFile gf = read_graph_file(cfg.graph_file);
    g = gf.graph;
    colors = gf.coloring ? *gf.coloring : color_graph(g).colors();
  } else {
    const Topology t = make_topology(cfg.topology);
    g = t.graph;
    colors = t.colors;
  }
  const int32_t nv = rows * cols, nl = 10 * cfg.label_replicas;
  if (nv + nl >= g.num_nodes()) {
    throw InvalidConfig("graph has " + std::to_string(g.num_nodes()) + " nodes, too few for " + std::to_string(nv) +
                        " visible + " + std::to_string(nl) + " label nodes and some hidden ones");
  }
  const std::vector<RoleSpec> spec = {{"visible", nv}, {"label", nl}, {"hidden", -1}};
  RoleAssignment roles = cfg.placement == "random" ? place_roles(g.num_nodes(), spec, cfg.role_seed)
                                                   : place_roles_in_order(g.num_nodes(), spec);
  rng::PhiloxStream rs(cfg.seed, rng::kWeightInit);
  std::vector<float> w(static_cast<size_t>(g.num_edges())), h(static_cast<size_t>(g.num_nodes()), 0.0f);
  for (float& x : w) x = static_cast<float>(cfg.init_sigma_j * rs.normal());
  if (cfg.init_bias == "pm1" || cfg.init_bias == "pm1_logit") {  // (pm1_logit's visible biases: DbmTrainer, from the data)
    for (float& x : h) x = static_cast<float>(static_cast<int>(rs.uniform_int(3)) - 1);
  }
  g.set_edge_weights(w);
  g.set_biases(h);
  return SparseDbm(std::move(g), std::move(colors), std::move(roles), rows, cols, cfg.label_replicas);
}

void SparseDbm::save(const std::string& path) const {
  nlohmann::json j;
  j["format"] = "pbit.sparse_dbm";
  j["version"] = 1;
  j["image_rows"] = rows_;
  j["image_cols"] = cols_;
  j["label_replicas"] = replicas_;
  j["graph"] = graph_to_json(graph_, &colors_);
  j["roles"] = roles_to_json(roles_);
  if (!trained_with_.is_null()) j["trained_with"] = trained_with_;
  j["crc32"] = detail::crc32_of(j.dump());  // of the rest, as dump() writes it: a changed bit is caught on load
  write_json_file(path, j);
}

SparseDbm SparseDbm::load(const std::string& path) {
  nlohmann::json j;
  try {
    j = read_json_file(path);
  } catch (const InvalidConfig& e) {  // a model file, not a config: "invalid config: ..." misnamed it
    const std::string why = e.what(), prefix = "invalid config: ";
    throw InvalidArgument("model file " + why.substr(why.rfind(prefix, 0) == 0 ? prefix.size() : 0));
  }
  if (!j.is_object() || j.value("format", "") != "pbit.sparse_dbm") {
    throw InvalidArgument("'" + path + "' is not a pbit sparse DBM model file (format \"pbit.sparse_dbm\")");
  }
  if (j.contains("version") && j["version"] != 1) {  // absent: 1, as graph files
    throw InvalidArgument("model file '" + path + "' has version " + j["version"].dump() +
                          "; this pbit reads version 1 (written by 'pbit dbm train' or 'pbit dbm import')");
  }
  if (j.contains("crc32")) {  // files written before checksums have none
    const nlohmann::json crc = j["crc32"];
    j.erase("crc32");
    if (!crc.is_number_unsigned() || crc.get<uint64_t>() != detail::crc32_of(j.dump())) {
      throw InvalidArgument("model file '" + path + "' is corrupt: its checksum does not match (a changed value or a broken copy)");
    }
  }
  for (const char* k : {"image_rows", "image_cols", "label_replicas", "graph", "roles"}) {
    if (!j.contains(k)) throw InvalidArgument("'" + path + "': missing key '" + k + "'");
  }
  int32_t rows = 0, cols = 0, replicas = 0;
  try {
    // A key pbit never writes (a typo in a hand-edited file without its checksum) is not dropped without a word.
    only_keys(j, "", {"format", "version", "image_rows", "image_cols", "label_replicas", "graph", "roles", "trained_with"});
    rows = static_cast<int32_t>(detail::get_int(j["image_rows"], "image_rows", 1, 1 << 16));
    cols = static_cast<int32_t>(detail::get_int(j["image_cols"], "image_cols", 1, 1 << 16));
    replicas = static_cast<int32_t>(detail::get_int(j["label_replicas"], "label_replicas", 1, 1 << 16));
    if (j.contains("trained_with")) {  // the settings a config's are compared with: each one a config could give
      const nlohmann::json& t = j["trained_with"];
      only_keys(t, "trained_with", {"dataset", "threshold", "pool", "beta"});
      for (const char* k : {"threshold", "pool", "beta"}) {
        if (!t.contains(k)) detail::config_error("trained_with", std::string("has no '") + k + "' (it holds threshold, pool, beta and dataset)");
      }
      detail::get_int(t["threshold"], "trained_with.threshold", 0, 254);
      detail::get_pool(t["pool"], "trained_with.pool");
      detail::get_float_in(t["beta"], "trained_with.beta", 0.0, 1000.0);
      if (t.contains("dataset") && (!t["dataset"].is_string() || (t["dataset"] != "mnist" && t["dataset"] != "fashion-mnist"))) {
        detail::config_error("trained_with.dataset", "must be mnist or fashion-mnist, got " + t["dataset"].dump());
      }
    }
  } catch (const InvalidConfig& e) {
    throw InvalidArgument("model file '" + path + "': " + e.reason());
  }
  GraphFile gf = graph_from_json(j["graph"], path + ":graph");
  RoleAssignment roles = roles_from_json(j["roles"], gf.graph.num_nodes(), path + ":roles");
  std::vector<int32_t> colors = gf.coloring ? *gf.coloring : color_graph(gf.graph).colors();
  SparseDbm m;
  try {
    m = SparseDbm(std::move(gf.graph), std::move(colors), std::move(roles), rows, cols, replicas);
  } catch (const Error& e) {
    throw InvalidArgument("model file '" + path + "': " + e.what());
  }
  if (j.contains("trained_with")) m.trained_with_ = j["trained_with"];
  return m;
}

void SparseDbm::set_trained_with(const DbmConfig& cfg) {
  trained_with_ = {{"dataset", cfg.dataset}, {"threshold", cfg.threshold}, {"pool", cfg.pool}, {"beta", cfg.beta}};
}

std::vector<std::string> SparseDbm::differences_from_training(const DbmConfig& cfg) const {
  std::vector<std::string> out;
  if (trained_with_.is_null()) return out;
  // (A model written before the dataset was recorded says nothing of it.)
  if (trained_with_.contains("dataset") && trained_with_["dataset"] != cfg.dataset) {
    out.push_back("dataset.name is " + cfg.dataset + ", the model was trained on " + trained_with_["dataset"].get<std::string>());
  }
  auto differ = [&](const char* key, const char* setting, double now) {
    const double then = trained_with_[key].get<double>();
    if (now != then) {
      out.push_back(std::string(setting) + " is " + detail::format_number(now) + ", the model was trained with " + detail::format_number(then));
    }
  };
  differ("threshold", "dataset.threshold", cfg.threshold);
  differ("pool", "dataset.pool", cfg.pool);
  differ("beta", "train.beta", cfg.beta);
  return out;
}

namespace {

/// An import file is read whole: it must be a regular file (not /dev/zero or a pipe that never ends)
/// whose text fits the memory guard.
void check_text_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw InvalidArgument("'" + path + "' is not a regular file");
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec) detail::check_memory(4.0 * static_cast<double>(size), "reading '" + path + "'");
}

std::vector<std::string> read_lines(const std::string& path) {
  detail::refuse_folder(path);
  std::ifstream f(path);
  if (!f) {
    const int e = errno;  // before the message is built
    throw detail::open_failed(e, "cannot open '" + path + "'", path);
  }
  check_text_file(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(f, line);) {
    const auto hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    if (line.find_first_not_of(" \t\r") != std::string::npos) out.push_back(line);
  }
  return out;
}

/// The node indices of one line of an index file (separated by spaces or commas).
std::vector<int32_t> index_line(const std::string& path, int64_t lineno, std::string l) {
  for (char& ch : l)
    if (ch == ',') ch = ' ';
  std::istringstream is(l);
  std::vector<int32_t> v;
  for (std::string tok; is >> tok;) {
    int64_t x = -1;
    if (!detail::parse_number_ok(tok, x) || x < 0 || x > INT32_MAX) {
      throw InvalidArgument(path + ": line " + std::to_string(lineno) + ": '" + tok + "' is not a node index");
    }
    v.push_back(static_cast<int32_t>(x));
  }
  return v;
}

std::vector<int32_t> read_index_list(const std::string& path) {
  std::vector<int32_t> v;
  int64_t lineno = 0;
  for (const std::string& l : read_lines(path)) {
    const std::vector<int32_t> x = index_line(path, ++lineno, l);
    if (x.size() != 1) {
      throw InvalidArgument(path + ": line " + std::to_string(lineno) + " holds " + std::to_string(x.size()) +
                            " indices; this file takes one node index per line");
    }
    v.push_back(x[0]);
  }
  return v;
}

/// The label nodes in pbit's class-major order (class c replica r at c * R + r), from a file of one
/// id per line (in `order`: "class" or "replica" major) or of one line per replica (10 ids, classes
/// 0-9) or per class (R ids). A layout that could be read two ways is refused unless `order` says.
std::vector<int32_t> read_label_nodes(const std::string& path, int32_t replicas, const std::string& order) {
  std::vector<std::vector<int32_t>> lines;
  int64_t lineno = 0;
  for (const std::string& l : read_lines(path)) lines.push_back(index_line(path, ++lineno, l));
  const int64_t want = 10LL * replicas;
  size_t per = lines.empty() ? 0 : lines[0].size();
  for (const auto& l : lines) {
    if (l.size() != per) throw InvalidArgument(path + ": lines hold different numbers of node indices");
  }
  std::vector<int32_t> flat;
  for (const auto& l : lines) flat.insert(flat.end(), l.begin(), l.end());
  if (static_cast<int64_t>(flat.size()) != want) {
    throw InvalidArgument(path + ": " + std::to_string(flat.size()) + " label nodes, expected 10 classes x " + std::to_string(replicas) +
                          " replicas = " + std::to_string(want));
  }
  std::string how = order;
  if (per == 1) {
    if (how.empty() && replicas == 1) how = "class";  // one replica: both orders are the same
    if (how.empty()) {
      throw InvalidArgument(path + " lists one label node per line, which is ambiguous: say --label-order class (class c, replica r "
                                   "at line c R + r) or --label-order replica (replica r, class c at line 10 r + c)");
    }
  } else if (per == 10 && replicas != 10) {
    if (!how.empty() && how != "replica") throw InvalidArgument(path + " has one line of 10 class nodes per replica, not --label-order " + how);
    how = "replica";
  } else if (static_cast<int32_t>(per) == replicas && replicas != 10) {
    if (!how.empty() && how != "class") throw InvalidArgument(path + " has one line of " + std::to_string(replicas) +
                                                              " replica nodes per class, not --label-order " + how);
    how = "class";
  } else if (how.empty()) {
    throw InvalidArgument(path + ": lines of " + std::to_string(per) + " label nodes could be classes or replicas; say --label-order");
  }
  if (how == "class") return flat;
  if (how != "replica") throw InvalidArgument("label order must be 'class' or 'replica', got '" + how + "'");
  std::vector<int32_t> out(flat.size());
  for (int32_t r = 0; r < replicas; ++r)
    for (int32_t c = 0; c < 10; ++c) out[static_cast<size_t>(c) * replicas + r] = flat[static_cast<size_t>(r) * 10 + c];
  return out;
}

}  // namespace

SparseDbm SparseDbm::import_model(const std::string& edges_path, const std::string& biases_path,
                                  const std::string& visible_path, const std::string& labels_path, int32_t rows,
                                  int32_t cols, int32_t replicas, const std::string& pixel_order, const std::string& label_order) {
  if (pixel_order != "row" && pixel_order != "col") throw InvalidArgument("pixel_order must be 'row' or 'col'");
  detail::refuse_folder(edges_path);
  std::ifstream ef(edges_path);
  if (!ef) {
    const int e = errno;  // before the message is built
    throw detail::open_failed(e, "cannot open edge list '" + edges_path + "'", edges_path);
  }
  check_text_file(edges_path);
  std::string text((std::istreambuf_iterator<char>(ef)), std::istreambuf_iterator<char>());
  for (char& ch : text)
    if (ch == ',') ch = ' ';  // CSV edge lists ("i,j,J") read as "i j J"
  std::istringstream es(text);
  GraphFile gf = read_edge_list(es, edges_path);
  std::vector<float> h;
  int64_t lineno = 0;
  for (const std::string& l : read_lines(biases_path)) {
    ++lineno;
    std::istringstream is(l);
    float x;
    std::string extra;
    if (!(is >> x) || (is >> extra) || !std::isfinite(x)) {
      throw InvalidArgument(biases_path + ": entry " + std::to_string(lineno) + " is not a finite bias: '" + l + "'");
    }
    h.push_back(x);
  }
  if (gf.graph.num_edges() == 0) throw InvalidArgument(edges_path + ": no couplings (an empty or wrong edge list?)");
  int32_t n = gf.graph.num_nodes();
  // A 'nodes N' line fixes the count; without one, isolated trailing nodes only appear in the bias list.
  bool declared = false, bias_lines = false;
  {
    std::istringstream ls(text);
    for (std::string line; std::getline(ls, line);) {
      std::istringstream w(line);
      std::string first;
      if (!(w >> first)) continue;
      declared = declared || first == "nodes";
      bias_lines = bias_lines || first == "bias";
    }
  }
  // The biases come from the bias list. An edge list with 'bias i h' lines (a pbit graph file, which
  // writes every nonzero bias) must agree with it: they used to be dropped without a word.
  if (bias_lines) {
    const std::span<const float> hf = gf.graph.biases();
    for (size_t i = 0; i < hf.size(); ++i) {
      const float hl = i < h.size() ? h[i] : 0.0f;
      // (a bias list written with 6 significant digits agrees with exact bias lines)
      if (std::fabs(hf[i] - hl) > 1e-5f * std::max(1.0f, std::fabs(hl))) {
        throw InvalidArgument(edges_path + ": its bias lines give node " + std::to_string(i) + " the bias " + detail::format_number(hf[i]) +
                              (hf[i] == 0.0f ? " (no bias line)" : "") + ", the bias list (" + biases_path + ") " + detail::format_number(hl) +
                              "; an imported model takes its biases from the bias list: remove the edge list's bias lines, or make "
                              "them agree");
      }
    }
  }
  if (!declared && static_cast<int32_t>(h.size()) > n) {
    std::vector<Edge> e = gf.graph.edges();
    gf.graph = Graph::from_edges(static_cast<int32_t>(h.size()), e);
    n = gf.graph.num_nodes();
  }
  if (static_cast<int32_t>(h.size()) != n) {
    throw InvalidArgument(biases_path + ": " + std::to_string(h.size()) + " biases for " + std::to_string(n) + " nodes");
  }
  gf.graph.set_biases(h);
  std::vector<int32_t> vis = read_index_list(visible_path), lab = read_label_nodes(labels_path, replicas, label_order);
  if (static_cast<int64_t>(vis.size()) != static_cast<int64_t>(rows) * cols) {
    throw InvalidArgument(visible_path + ": " + std::to_string(vis.size()) + " visible nodes for " + std::to_string(rows) + "x" +
                          std::to_string(cols) + " pixels");
  }
  if (pixel_order == "col") {  // entry c * rows + r is pixel (r, c): reorder to row-major
    std::vector<int32_t> rm(vis.size());
    for (int32_t r = 0; r < rows; ++r)
      for (int32_t c = 0; c < cols; ++c) rm[r * cols + c] = vis[c * rows + r];
    vis = std::move(rm);
  }
  RoleAssignment roles;
  roles.names = {"visible", "label", "hidden"};
  roles.nodes = {vis, lab, {}};
  std::vector<char> used(static_cast<size_t>(n), 0);
  for (int32_t i : vis)
    if (i < n) used[i] = 1;
  for (int32_t i : lab)
    if (i < n) used[i] = 1;
  for (int32_t i = 0; i < n; ++i)
    if (!used[i]) roles.nodes[2].push_back(i);
  roles.validate(n);
  roles.role_of.assign(static_cast<size_t>(n), 0);
  for (size_t r = 0; r < 3; ++r)
    for (int32_t i : roles.nodes[r]) roles.role_of[i] = static_cast<int32_t>(r);
  std::vector<int32_t> colors = color_graph(gf.graph).colors();
  return SparseDbm(std::move(gf.graph), std::move(colors), std::move(roles), rows, cols, replicas);
}

std::vector<int8_t> dbm_clamp_values(const SparseDbm& m, const ImageDataset& d, int64_t image, int32_t threshold) {
  d.check("DBM clamp values");
  const int32_t nv = m.rows() * m.cols();
  if (d.rows != m.rows() || d.cols != m.cols()) {
    throw InvalidArgument("images are " + std::to_string(d.rows) + "x" + std::to_string(d.cols) + " but the DBM expects " +
                          std::to_string(m.rows()) + "x" + std::to_string(m.cols()));
  }
  // Every training and gradient entry point clamps through here: an index or label out of range read
  // past the dataset (helper-109), or trained on a label with no +1 spin.
  if (image < 0 || image >= d.size()) {
    throw InvalidArgument("DBM clamp values: image " + std::to_string(image) + " is not one of the dataset's " + std::to_string(d.size()));
  }
  const int label = d.labels[static_cast<size_t>(image)];
  if (label < 0 || label > 9) {
    throw InvalidArgument("DBM clamp values: image " + std::to_string(image) + " has label " + std::to_string(label) + ", not a class 0..9");
  }
  std::vector<int8_t> v(static_cast<size_t>(nv) + 10 * m.replicas());
  binarize(d.image(image), nv, threshold, v.data());
  for (int32_t c = 0; c < 10; ++c)
    for (int32_t r = 0; r < m.replicas(); ++r) v[nv + c * m.replicas() + r] = c == label ? 1 : -1;
  return v;
}

// ------------------------------------------------------------------ progress

namespace {

using detail::Progress;
double now_s() { return detail::monotonic_s(); }

/// `training`: a training phase's sampler (positive or negative, any era), else evaluation or generation.
SamplerOptions sampler_options(const DbmConfig& cfg, uint32_t stream, bool training = false) {
  SamplerOptions o = pbit::sampler_options(cfg.backend, cfg.seed, stream, cfg.threads);
  // Evaluation and generation run on the device; training too when in situ.
  if (!training || cfg.train_mode == "in_situ") o.hardware = cfg.hardware;
  return o;
}

/// A training sampler's era and sweep count as a checkpoint holds them: era << 32 | count, so a
/// checkpoint from before eras (a count alone, at most 2^32 - 1) reads as era 0.
uint64_t era_and_count(uint32_t era, uint64_t count) { return static_cast<uint64_t>(era) << 32 | count; }
std::pair<uint32_t, uint64_t> get_era_and_count(std::istream& f, const std::string& path, const std::string& what) {
  const auto v = detail::get<uint64_t>(f, path);
  if ((v >> 32) > rng::kDbmMaxEras) {
    throw InvalidArgument("DBM " + what + " '" + path + "' has an impossible sweep count (" + std::to_string(v) + ": era " +
                          std::to_string(v >> 32) + ", past " + std::to_string(rng::kDbmMaxEras) + ")");
  }
  return {static_cast<uint32_t>(v >> 32), v & 0xffffffffULL};
}

// Streams of the DBM's samplers (distinct from each other and from rng::Stream's named ones).
const uint32_t kPositiveStream = rng::dbm_stream(rng::DbmPhase::positive), kNegativeStream = rng::dbm_stream(rng::DbmPhase::negative),
               kEvalStream = rng::dbm_stream(rng::DbmPhase::eval), kGenStream = rng::dbm_stream(rng::DbmPhase::generate);

}  // namespace

// ------------------------------------------------------------------ training

DbmTrainer::DbmTrainer(SparseDbm& model, const DbmConfig& cfg, const ImageDataset& train)
    : model_(model), cfg_(cfg), train_(train) {
  train.check("DBM training");
  if (train.size() < cfg.batch_size) {
    throw InvalidArgument("training set has " + std::to_string(train.size()) + " images, fewer than one batch of " +
                          std::to_string(cfg.batch_size));
  }
  clamp_nodes_ = model.visible();
  clamp_nodes_.insert(clamp_nodes_.end(), model.labels().begin(), model.labels().end());
  if (cfg.init_bias == "pm1_logit") init_visible_biases();  // (a resume's checkpoint replaces them)
  const Coloring col(model.graph(), model.colors());
  // Under MPI ranks each process runs a contiguous share of each phase's chains, keyed by their global
  // ids (first_chain), so the random numbers, and after the all-reduce the statistics, are one process's.
  const int64_t pos_total = static_cast<int64_t>(cfg.batch_size) * cfg.positive.chains;  // a DbmConfig not parsed is not checked
  if (pos_total > std::numeric_limits<int32_t>::max()) {
    throw InvalidArgument("batch_size x positive.chains = " + std::to_string(pos_total) + " is more chains than a sampler holds (2^31 - 1)");
  }
  pos_total_ = static_cast<int32_t>(pos_total);
  neg_total_ = cfg.negative.chains;
  const dist::Range pr = dist::share(pos_total_, dist::rank(), dist::size(), "positive-phase chains (batch_size x positive.chains)");
  const dist::Range nr = dist::share(neg_total_, dist::rank(), dist::size(), "negative-phase chains (negative.chains)");
  pos_first_ = pr.first;
  neg_first_ = nr.first;
  SamplerOptions po = sampler_options(cfg, kPositiveStream, true), no = sampler_options(cfg, kNegativeStream, true);
  po.first_chain = pr.first;
  no.first_chain = nr.first;
  // Both phases' samplers together, before either is built.
  detail::check_memory(Sampler::state_bytes(po.backend, pr.count, model.graph().num_nodes()) +
                           Sampler::state_bytes(no.backend, nr.count, model.graph().num_nodes()),
                       "the DBM's positive (batch_size x positive.chains = " + std::to_string(pos_total_) + ") and negative (" +
                           std::to_string(neg_total_) + ") chains of " + std::to_string(model.graph().num_nodes()) + " nodes");
  pos_ = std::make_unique<Sampler>(model.graph(), col, static_cast<int32_t>(pr.count), po);
  neg_ = std::make_unique<Sampler>(model.graph(), col, static_cast<int32_t>(nr.count), no);
  vel_j_.assign(static_cast<size_t>(model.graph().num_edges()), 0.0f);
  vel_h_.assign(static_cast<size_t>(model.graph().num_nodes()), 0.0f);
  mu_.assign(static_cast<size_t>(model.graph().num_nodes()), 0.0f);
}

DbmTrainer::~DbmTrainer() = default;

void DbmTrainer::init_visible_biases() {
  // As the paper's code (OPUSLab main_train.m): each visible bias the log-odds log(p / (1 - p)) of
  // its pixel being on (+1) over the training images, clipped to [-100, 100] (a pixel never or always
  // on); the others keep create()'s draws from {-1, 0, 1} (helper-118: pm1 drew the visible ones too).
  const std::vector<int32_t>& vis = model_.visible();
  const auto nv = static_cast<int32_t>(vis.size());
  if (nv != train_.rows * train_.cols) {
    throw InvalidArgument("init.bias pm1_logit: the training images have " + std::to_string(train_.rows * train_.cols) + " pixels, the DBM " +
                          std::to_string(nv) + " visible nodes");
  }
  std::vector<int64_t> on(static_cast<size_t>(nv), 0);
  std::vector<int8_t> s(static_cast<size_t>(nv));
  for (int64_t k = 0; k < train_.size(); ++k) {
    binarize(train_.image(k), nv, cfg_.threshold, s.data());
    for (int32_t i = 0; i < nv; ++i) on[static_cast<size_t>(i)] += s[static_cast<size_t>(i)] > 0;
  }
  std::vector<float> h = model_.graph().biases();
  for (int32_t i = 0; i < nv; ++i) {
    const double p = static_cast<double>(on[static_cast<size_t>(i)]) / static_cast<double>(train_.size());
    h[static_cast<size_t>(vis[static_cast<size_t>(i)])] = static_cast<float>(std::clamp(std::log(p / (1.0 - p)), -100.0, 100.0));
  }
  model_.graph().set_biases(h);
}

float DbmTrainer::learning_rate(int64_t update) const {
  if (cfg_.lr_schedule == "constant") return cfg_.learning_rate;
  const int64_t per_epoch = train_.size() / cfg_.batch_size;
  const double total = std::max<int64_t>(1, per_epoch * cfg_.epochs);
  double t = static_cast<double>(update) / total;
  if (cfg_.time_budget_s > 0) t = std::max(t, train_s_ / cfg_.time_budget_s);
  t = std::min(1.0, t);
  return static_cast<float>(cfg_.lr_final + 0.5 * (cfg_.learning_rate - cfg_.lr_final) * (1.0 + std::cos(M_PI * t)));
}

std::vector<int64_t> DbmTrainer::epoch_order(int32_t epoch) const {
  std::vector<int64_t> order(static_cast<size_t>(train_.size()));
  std::iota(order.begin(), order.end(), 0);
  rng::PhiloxStream rs(cfg_.seed, rng::kDataShuffle, static_cast<uint32_t>(epoch));
  rs.shuffle(order);
  return order;
}

DbmGradient DbmTrainer::estimate_gradient(const std::vector<int64_t>& images) {
  if (static_cast<int32_t>(images.size()) != cfg_.batch_size) {
    throw InvalidArgument("minibatch has " + std::to_string(images.size()) + " images, expected " + std::to_string(cfg_.batch_size));
  }
  const double t0 = now_s();
  std::vector<int8_t> values;
  values.reserve(static_cast<size_t>(pos_->num_chains()) * clamp_nodes_.size());
  // Chain b of the positive phase holds image b / positive.chains of the batch; this process's share.
  int64_t img_of = -1;
  std::vector<int8_t> v;
  // (the new era's sampler, if one starts, before the clamps are set on it)
  make_room(false, cfg_.positive.schedule().total_sweeps());
  make_room(true, cfg_.negative.schedule().total_sweeps());
  for (int64_t b = pos_first_; b < pos_first_ + pos_->num_chains(); ++b) {
    if (b / cfg_.positive.chains != img_of) {
      img_of = b / cfg_.positive.chains;
      v = dbm_clamp_values(model_, train_, images[static_cast<size_t>(img_of)], cfg_.threshold);
    }
    values.insert(values.end(), v.begin(), v.end());
  }
  pos_->set_clamp(clamp_nodes_, values);
  ObserverSpec spec;
  spec.moments = true;
  const BetaSchedule beta = BetaSchedule::constant(cfg_.beta);
  Observations p = pos_->run(cfg_.positive.schedule(), beta, spec);
  Observations q = neg_->run(cfg_.negative.schedule(), beta, spec);
  dist::allreduce_moments(p, pos_total_);  // every rank: the statistics of all chains (277 KB on Pegasus(14))
  dist::allreduce_moments(q, neg_total_);
  const double n = model_.graph().num_nodes();
  flips_ += static_cast<double>(pos_total_) * (n - static_cast<double>(clamp_nodes_.size())) * p.sweeps +
            static_cast<double>(neg_total_) * n * q.sweeps;
  // The slowest rank's time, so that every rank takes the same time-budget decisions.
  sample_wall_s_ += dist::allreduce_max(now_s() - t0);
  DbmGradient g{std::vector<double>(p.edge_corr.size()), std::vector<double>(p.node_mean.size()), p.edge_corr, q.edge_corr,
                p.node_mean, q.node_mean};
  for (size_t e = 0; e < g.edge.size(); ++e) g.edge[e] = p.edge_corr[e] - q.edge_corr[e];
  for (size_t i = 0; i < g.node.size(); ++i) g.node[i] = p.node_mean[i] - q.node_mean[i];
  return g;
}

void DbmTrainer::enter_era(bool negative, uint32_t era) {
  uint32_t& now = negative ? neg_era_ : pos_era_;
  if (era == now) return;
  if (era > rng::kDbmMaxEras) {
    detail::config_error("train.epochs", std::string("the ") + (negative ? "negative" : "positive") + " phase's persistent chains would run past " +
                                             std::to_string(rng::kDbmMaxEras + 1) + " x (2^32 - 1) sweeps: train fewer epochs or fewer sweeps an update");
  }
  std::unique_ptr<Sampler>& s = negative ? neg_ : pos_;
  SamplerOptions o = sampler_options(cfg_, rng::dbm_training_stream(negative ? rng::DbmPhase::negative : rng::DbmPhase::positive, era), true);
  o.first_chain = negative ? neg_first_ : pos_first_;
  const std::vector<int8_t> state = s->state();
  const int32_t chains = s->num_chains();
  s.reset();  // (the memory guard counted one sampler of these chains: not two at once, helper-115)
  s = std::make_unique<Sampler>(model_.graph(), Coloring(model_.graph(), model_.colors()), chains, o);
  s->set_state(state);
  now = era;
}

void DbmTrainer::check_eras_left() const {
  // A run that needs more stopped with an error when it got there: epoch 15 of the paper's recipe at
  // the FPGA's 10^7 sweeps an update, after about 7.5e14 flips (helper-118).
  const int64_t per_epoch = train_.size() / cfg_.batch_size;
  const double updates = static_cast<double>(cfg_.epochs - epoch_) * static_cast<double>(per_epoch) - static_cast<double>(batch_);
  const std::string left = "the " + detail::format_number(updates) + " updates left (train.epochs " + std::to_string(cfg_.epochs) + " x " +
                           std::to_string(per_epoch) + " batches of train.batch_size " + std::to_string(cfg_.batch_size) + ")";
  for (const bool negative : {false, true}) {
    const auto per_update = static_cast<double>((negative ? cfg_.negative : cfg_.positive).schedule().total_sweeps());
    const Sampler& s = negative ? *neg_ : *pos_;
    detail::check_sampler_sweeps_left({"its persistent chains", std::string(negative ? "negative" : "positive") + "-phase sweeps",
                                       static_cast<double>(s.sweep_count()), updates, per_update, per_update, "",
                                       static_cast<double>(rng::kDbmMaxEras - sampler_era(negative))},
                                      left, "train fewer epochs or fewer sweeps an update", cfg_.time_budget_s);
  }
}

void DbmTrainer::make_room(bool negative, int64_t sweeps) {
  const Sampler& s = negative ? *neg_ : *pos_;
  if (s.sweep_count() + static_cast<uint64_t>(sweeps) > static_cast<uint64_t>(SamplingSchedule::kMaxSweeps)) {
    enter_era(negative, sampler_era(negative) + 1);
  }
}

void DbmTrainer::push_weights() {
  const std::vector<float> w = model_.graph().edge_weights();
  pos_->set_weights(w, model_.graph().biases());
  neg_->set_weights(w, model_.graph().biases());
}

void DbmTrainer::train_batch(const std::vector<int64_t>& images, float lr) {
  const DbmGradient g = estimate_gradient(images);
  std::vector<float> w = model_.graph().edge_weights();
  std::vector<float> h = model_.graph().biases();
  // Centering (Montavon & Mueller 2012): the energy is written in s - mu, with offsets mu tracking
  // the positive phase's node means. Sampling still sees the plain (J, h); only the step changes:
  //   dJ_ij = lr * (g_ij - mu_i g_j - mu_j g_i),  db_i = lr * g_i,  h = b - J mu.
  // Moving mu leaves the model unchanged (h is kept, b absorbs it). mu = 0 is the plain rule.
  // The step is computed on copies of the offsets and velocities, and kept only if it did not diverge
  // (below), so that a trainer whose update threw still holds the state of its last update.
  std::vector<float> mu = mu_, vel_h = vel_h_, vel_j = vel_j_;
  if (cfg_.centering_rate > 0) {
    const double r = updates_ == 0 ? 1.0 : cfg_.centering_rate;
    for (size_t i = 0; i < mu.size(); ++i) mu[i] += static_cast<float>(r * (g.pos_node[i] - mu[i]));
  }
  const auto& ei = model_.graph().edge_i();
  const auto& ej = model_.graph().edge_j();
  for (size_t i = 0; i < h.size(); ++i) {
    vel_h[i] = cfg_.momentum * vel_h[i] + lr * static_cast<float>(g.node[i]);
    h[i] += vel_h[i];
  }
  for (size_t e = 0; e < w.size(); ++e) {
    const int32_t i = ei[e], j = ej[e];
    const double ge = g.edge[e] - mu[i] * g.node[j] - mu[j] * g.node[i];
    vel_j[e] = cfg_.momentum * vel_j[e] + lr * (static_cast<float>(ge) - cfg_.weight_decay * w[e]);
    w[e] += vel_j[e];
    h[i] -= vel_j[e] * mu[j];
    h[j] -= vel_j[e] * mu[i];
  }
  // A diverging run is stopped at the update that diverged, before its model reaches a checkpoint:
  // couplings of 10^6 already make every p-bit deterministic, and the next steps overflow.
  auto diverged = [](const std::vector<float>& v) {
    return std::any_of(v.begin(), v.end(), [](float x) { return !(std::fabs(x) <= kMostParameter); });
  };
  if (diverged(w) || diverged(h)) {
    std::ostringstream msg;
    msg << "train.learning_rate: training diverged at update " << updates_ + 1 << " (epoch " << epoch_ + 1 << ", batch " << batch_ + 1
        << "): a coupling or bias passed 10^6 or is not finite; lower train.learning_rate (" << lr << " now) or train.momentum ("
        << cfg_.momentum << "), or raise train.weight_decay (" << cfg_.weight_decay << "); the checkpoint holds the last model saved "
        << "before it";
    throw InvalidConfig(msg.str());
  }
  mu_ = std::move(mu);
  vel_h_ = std::move(vel_h);
  vel_j_ = std::move(vel_j);
  model_.graph().set_edge_weights(w);
  model_.graph().set_biases(h);
  push_weights();
  ++updates_;
}

std::vector<DbmEpochMetrics> DbmTrainer::run(const ImageDataset* test, int64_t stop_after_batches) {
  make_directories(cfg_.output_dir);
  const int64_t per_epoch = train_.size() / cfg_.batch_size;
  int64_t done_here = 0;
  const double lease_start_s = train_s_;
  lease_ended_ = false;
  // A run whose time budget is spent trains nothing more, even resumed with more epochs.
  if (out_of_time()) {
    if (epoch_ < cfg_.epochs && dist::rank() == 0) {
      std::fprintf(stderr, "time budget of %.3g s already spent (%.3g s trained): nothing more to train\n", cfg_.time_budget_s, train_s_);
    }
    return history_;
  }
  check_eras_left();
  // The cosine schedule runs over epochs x batches (or the time budget): a resume with more epochs
  // stretches it, and the rate moves back up to where a run of that length would be.
  if (cfg_.lr_schedule == "cosine" && updates_ > 0 && !history_.empty() && history_.back().updates == updates_ && dist::rank() == 0) {
    const float was = history_.back().learning_rate, now = learning_rate(updates_ - 1);
    if (std::fabs(now - was) > 1e-6f * std::max(1.0f, std::fabs(was))) {
      std::fprintf(stderr, "note: the cosine schedule now runs over %d epochs (train.epochs) or the time budget: its rate at update %lld is %.4g, "
                   "not the %.4g this run trained with there; it continues from %.4g\n", cfg_.epochs, static_cast<long long>(updates_),
                   now, was, learning_rate(updates_));
    }
  }
  for (; epoch_ < cfg_.epochs; ++epoch_, batch_ = 0) {
    const std::vector<int64_t> order = epoch_order(epoch_);
    Progress bar("epoch " + std::to_string(epoch_ + 1) + "/" + std::to_string(cfg_.epochs), per_epoch);
    if (batch_ == 0) epoch_flips0_ = flips_, epoch_wall0_ = sample_wall_s_, epoch_train0_ = train_s_;
    const double flips0 = epoch_flips0_, wall0 = epoch_wall0_;
    for (; batch_ < per_epoch; ++batch_) {
      if (stop_after_batches > 0 && done_here == stop_after_batches) return history_;  // "killed"
      if (lease_s_ > 0 && train_s_ - lease_start_s >= lease_s_) {  // this lease is over; the run is not
        lease_ended_ = true;
        checkpoint();
        return history_;
      }
      const std::vector<int64_t> images(order.begin() + batch_ * cfg_.batch_size, order.begin() + (batch_ + 1) * cfg_.batch_size);
      const float lr = learning_rate(updates_);
      const double t_batch = now_s();
      train_batch(images, lr);
      train_s_ += dist::allreduce_max(now_s() - t_batch);  // one clock for all ranks: they stop together
      ++done_here;
      const double fl = flips_ - flips0, wl = sample_wall_s_ - wall0;
      char extra[96];
      std::snprintf(extra, sizeof extra, "lr %.4g  %.3g flips/ns", lr, wl > 0 ? fl / wl / 1e9 : 0.0);
      bar.update(batch_ + 1, extra);
      if (out_of_time()) {
        ++batch_;
        break;
      }
      detail::save_mid_epoch(cfg_.checkpoint_every_batches, per_epoch, batch_, [&] { checkpoint(); });
    }
    DbmEpochMetrics m;
    m.epoch = epoch_ + 1;
    m.updates = updates_;
    m.learning_rate = learning_rate(updates_ - 1);
    m.train_wall_s = train_s_ - epoch_train0_;
    m.flips = flips_ - flips0;
    m.flips_per_ns = sample_wall_s_ > wall0 ? m.flips / (sample_wall_s_ - wall0) / 1e9 : 0;
    double ss = 0;
    for (float w : model_.graph().edge_weights()) ss += static_cast<double>(w) * w;
    m.weight_rms = std::sqrt(ss / std::max<int64_t>(1, model_.graph().num_edges()));
    if (test && cfg_.eval_images_per_epoch > 0) {
      // The epoch's batches are done: a run killed during the evaluation resumes at it, and does not
      // train the epoch again. (Not when the time budget cut the epoch: a resume of that checkpoint
      // would stop at once, before this evaluation; the finished checkpoint below follows it.)
      if (!out_of_time()) checkpoint();
      const DbmEval ev = evaluate_dbm(model_, cfg_, *test, cfg_.eval_images_per_epoch);
      m.test_accuracy = ev.accuracy;
      m.test_images = ev.images;
    }
    history_.push_back(m);
    if (out_of_time() && dist::rank() == 0) {
      std::fprintf(stderr, "time budget of %.3g s spent after %lld updates (%lld of epoch %d): training stops here\n",
                   cfg_.time_budget_s, static_cast<long long>(updates_), static_cast<long long>(batch_), m.epoch);
    }
    if (dist::rank() == 0) std::fprintf(stderr, "epoch %d: %lld updates, %.1f s, %.3g flips/ns, weight rms %.4f%s\n", m.epoch,
                 static_cast<long long>(m.updates), m.train_wall_s, m.flips_per_ns, m.weight_rms,
                 m.test_accuracy >= 0 ? (", test accuracy " + std::to_string(m.test_accuracy) + " on " +
                                         std::to_string(m.test_images) + " images").c_str()
                                      : "");
    // Metrics for every finished epoch, then the checkpoint (which starts the next epoch).
    nlohmann::json metrics = nlohmann::json::array();
    for (const DbmEpochMetrics& x : history_) {
      metrics.push_back({{"epoch", x.epoch},
                         {"updates", x.updates},
                         {"learning_rate", detail::float_json(x.learning_rate)},  // (0.05, not 0.05000000074505806)
                         {"train_wall_s", x.train_wall_s},
                         {"flips", x.flips},
                         {"flips_per_ns", x.flips_per_ns},
                         {"weight_rms", x.weight_rms},
                         {"test_accuracy", x.test_accuracy >= 0 ? nlohmann::json(x.test_accuracy) : nlohmann::json(nullptr)},
                         {"test_images", x.test_images}});
    }
    if (dist::rank() == 0) write_json_file(cfg_.output_dir + "/metrics.json", detail::with_config(cfg_, {{"epochs", metrics}}));
    if (out_of_time()) {  // finished: a resume finds nothing left to train
      epoch_ = cfg_.epochs;
      batch_ = 0;
      checkpoint();
      return history_;
    }
    ++epoch_;
    batch_ = 0;
    checkpoint();
    --epoch_;
  }
  return history_;
}

// ------------------------------------------------------------------ checkpoints

namespace {

constexpr const auto& kCkptMagic = detail::kDbmCheckpoint.magic;  // (versions: util/file_formats.hpp)
constexpr const auto& kCkptErasMagic = detail::kDbmCheckpointEras.magic;  // a sampler past era 0
/// What a resume or a lease may change (the end of the message refusing another config's checkpoint).
constexpr const char* kResumeHint =
    "continue it with the same config, --time-budget and --seed (only epochs, eval, generate, threads, backend and output_dir may change)";
constexpr const auto& kModelCkptMagic = detail::kDbmModelCheckpoint.magic;  // model-only (leases)
constexpr const auto& kModelCkptErasMagic = detail::kDbmModelCheckpointEras.magic;

using detail::get;
using detail::get_vec;
using detail::put;
using detail::put_vec;

/// The fields that must match for a resume to continue the same run (not epochs, evaluation,
/// generation, threads or output_dir), taken from the struct so configs built in C++ are covered too.
/// A graph file is named in the fingerprint by what it holds (its nodes, edges and coloring), not by
/// its path: a changed file at the same path put the weights on other couplings without a word, and
/// the same file as ./g.txt was refused. A topology spec names its graph itself.
std::string graph_identity(const DbmConfig& c, const SparseDbm& m) {
  if (c.graph_file.empty()) return "";
  const Graph& g = m.graph();
  std::string bytes = std::to_string(g.num_nodes()) + "|";
  for (int64_t e = 0; e < g.num_edges(); ++e) bytes += std::to_string(g.edge_i()[e]) + "," + std::to_string(g.edge_j()[e]) + ";";
  bytes += "|";
  for (int32_t col : m.colors()) bytes += std::to_string(col) + ",";
  char hex[24];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(detail::fnv1a(bytes)));
  return std::string("graph file with structure ") + hex;
}

/// Not the backend: the backends train bit for bit alike (the device kit checks it on the GPU), so a
/// run may continue on another one. Checkpoints of earlier pbit, which named it, still load.
/// `graph`: graph_identity; `time_budget_s`: the budget as hashed.
detail::Fingerprint fingerprint_of(const DbmConfig& c, const std::string& graph, double time_budget_s) {
  const nlohmann::json before = nlohmann::json::array({c.dataset, c.train_limit, c.pool, c.threshold, c.topology, graph, c.label_replicas,
                                 c.placement, c.role_seed});
  const nlohmann::json after = nlohmann::json::array({c.seed, c.init_sigma_j, c.init_bias, c.batch_size,
                                c.learning_rate, c.lr_schedule, c.lr_final, c.momentum, c.weight_decay, c.beta,
                                c.positive.chains, c.positive.warmup, c.positive.samples, c.positive.steps_per_sample,
                                c.negative.chains, c.negative.warmup, c.negative.samples, c.negative.steps_per_sample,
                                c.checkpoint_every_batches, time_budget_s, c.centering_rate});
  return detail::fingerprint_without_backend(before, after, c.train_mode != "ideal" ? c.train_mode + c.hardware.to_json().dump() : "");
}

/// fingerprint_of; it also accepts the checkpoints of pbit before 2026-12-04, which read a config's
/// train.time_budget_s as a float (0.1 as 0.100000001).
detail::Fingerprint training_fingerprint(const DbmConfig& c, const SparseDbm& m) {
  const std::string graph = graph_identity(c, m);  // (over every edge of a graph file: once)
  detail::Fingerprint f = fingerprint_of(c, graph, c.time_budget_s);
  if (const float was = static_cast<float>(c.time_budget_s); was != c.time_budget_s) detail::add_earlier(f, fingerprint_of(c, graph, was));
  return f;
}

}  // namespace

// What both checkpoints start with: the position, the counters of flips and time, the model and the
// optimiser state (the full checkpoint then adds the chains' states, the model-only one does not).
void DbmTrainer::put_training_state(std::ostream& f) const {
  detail::put_position(f, training_fingerprint(cfg_, model_).current, {epoch_, batch_, updates_});
  for (double v : {flips_, sample_wall_s_, train_s_, epoch_flips0_, epoch_wall0_, epoch_train0_}) put<double>(f, v);
  put_vec(f, model_.graph().edge_weights());
  put_vec(f, model_.graph().biases());
  for (const std::vector<float>* v : {&vel_j_, &vel_h_, &mu_}) put_vec(f, *v);
}

void DbmTrainer::get_training_state(std::istream& f, const std::string& path, const std::string& what, const std::string& may_change) {
  const auto at = detail::get_position(f, path, what, training_fingerprint(cfg_, model_), train_.size() / cfg_.batch_size, kMaxEpochs, cfg_.epochs,
                                         may_change);
  epoch_ = at.epoch, batch_ = at.batch, updates_ = at.updates;
  const double s = detail::kMostTallySeconds, n = detail::kMostTally;
  for (const auto& [v, most] : {std::pair{&flips_, n}, {&sample_wall_s_, s}, {&train_s_, s}, {&epoch_flips0_, n}, {&epoch_wall0_, s}, {&epoch_train0_, s}}) {
    *v = detail::get_tally(f, path, what, true, most);
  }
  const auto w = detail::get_finite_vec<float>(f, path, static_cast<size_t>(model_.graph().num_edges()), what);
  const auto h = detail::get_finite_vec<float>(f, path, static_cast<size_t>(model_.graph().num_nodes()), what);
  // (training stops before one is saved: a larger one, behind a checksum that matched, was reported as
  // divergence, to be mended by a lower learning rate)
  for (const auto* v : {&w, &h}) {
    for (size_t k = 0; k < v->size(); ++k) {
      if (std::fabs((*v)[k]) > kMostParameter) {
        std::ostringstream text;
        text << (*v)[k];
        throw InvalidArgument(what + " '" + path + "' holds a " + (v == &w ? "coupling" : "bias") + " of " + text.str() + " (entry " +
                              std::to_string(k) + "), past the 10^6 at which training stops as diverged: start afresh");
      }
    }
  }
  for (std::vector<float>* v : {&vel_j_, &vel_h_, &mu_}) *v = detail::get_finite_vec<float>(f, path, v->size(), what);
  model_.graph().set_edge_weights(w);
  model_.graph().set_biases(h);
  push_weights();
}

void DbmTrainer::checkpoint() {
  if (checkpoint_writer_) checkpoint_writer_();
  else save_checkpoint(checkpoint_path());
}

void DbmTrainer::save_checkpoint(const std::string& path) const {
  std::ostringstream f(std::ios::binary);
  {
    put_training_state(f);
    for (const Sampler* s : {pos_.get(), neg_.get()}) {
      put<uint64_t>(f, era_and_count(sampler_era(s == neg_.get()), s->sweep_count()));
      const std::vector<int8_t> mine = s->state();
      put_vec(f, dist::gather(std::span<const int8_t>(mine)));  // every rank's chains, in chain order, on rank 0
    }
    detail::put_string(f, history_json().dump());
  }
  const bool eras = pos_era_ > 0 || neg_era_ > 0;  // (a pbit from before eras refuses it as another version's)
  if (dist::rank() == 0) detail::write_checksummed(path, eras ? kCkptErasMagic : kCkptMagic, f.view());
}

nlohmann::json DbmTrainer::history_json() const {
  nlohmann::json hist = nlohmann::json::array();
  for (const DbmEpochMetrics& m : history_) {
    hist.push_back({m.epoch, m.updates, m.learning_rate, m.train_wall_s, m.flips, m.flips_per_ns, m.test_accuracy,
                    m.test_images, m.weight_rms});
  }
  return hist;
}

void DbmTrainer::restore_history(std::istream& f, const std::string& path, const std::string& what) {
  history_ = detail::get_history<DbmEpochMetrics>(f, path, what, -1, [](const nlohmann::json& r) {
    if (!r.is_array() || r.size() != 9) throw detail::CorruptHistoryEntry{};
    using detail::history_number;
    const double most = detail::kMostTally;
    DbmEpochMetrics m;
    m.epoch = static_cast<int32_t>(history_number(r[0], 1, kMaxEpochs, true));
    m.updates = static_cast<int64_t>(history_number(r[1], 0, 9.0e15, true));
    m.learning_rate = history_number(r[2], 0, most);
    m.train_wall_s = history_number(r[3], 0, detail::kMostTallySeconds);
    m.flips = history_number(r[4], 0, most);
    m.flips_per_ns = history_number(r[5], 0, most);
    m.test_accuracy = detail::history_number_or_none(r[6], 0, 1);  // -1: not evaluated
    m.test_images = static_cast<decltype(m.test_images)>(history_number(r[7], 0, 1 << 30, true));
    m.weight_rms = history_number(r[8], 0, most);
    return m;
  });
  detail::check_history_epochs(history_, epoch_, path, what);
}

void DbmTrainer::save_model_checkpoint(const std::string& path, const nlohmann::json& leases) const {
  std::ostringstream f(std::ios::binary);
  {
    put_training_state(f);
    for (const Sampler* s : {pos_.get(), neg_.get()}) put<uint64_t>(f, era_and_count(sampler_era(s == neg_.get()), s->sweep_count()));
    detail::put_string(f, history_json().dump());
    detail::put_string(f, leases.dump());
  }
  const bool eras = pos_era_ > 0 || neg_era_ > 0;
  if (dist::rank() == 0) detail::write_checksummed(path, eras ? kModelCkptErasMagic : kModelCkptMagic, f.view());
}

nlohmann::json DbmTrainer::load_model_checkpoint(const std::string& path, int64_t burn_in_sweeps) {
  std::istringstream f(detail::read_checksummed(path, kModelCkptMagic, "DBM model checkpoint", kModelCkptErasMagic),
                       std::ios::binary);
  get_training_state(f, path, "model checkpoint", kResumeHint);
  for (const bool negative : {false, true}) {  // fresh chains, drawn at (keyed by) the saved era and sweep count
    const auto [era, count] = get_era_and_count(f, path, "model checkpoint");
    enter_era(negative, era);
    Sampler& s = negative ? *neg_ : *pos_;
    s.set_sweep_count(count);
    s.randomize_state();
  }
  restore_history(f, path, "model checkpoint");
  nlohmann::json leases = detail::get_lease_record(f, path);
  if (updates_left()) burn_in(burn_in_sweeps);  // a run with no update left needs no chains
  return leases;
}

bool DbmTrainer::updates_left() const {
  return !finished() && !(epoch_ == cfg_.epochs - 1 && batch_ >= train_.size() / cfg_.batch_size);
}

void DbmTrainer::burn_in(int64_t sweeps) {
  if (sweeps <= 0) return;
  const double t0 = now_s();
  make_room(true, sweeps);
  neg_->sweep(sweeps, BetaSchedule::constant(cfg_.beta));
  flips_ += static_cast<double>(neg_total_) * model_.graph().num_nodes() * sweeps;
  const double dt = dist::allreduce_max(now_s() - t0);
  sample_wall_s_ += dt;
  train_s_ += dt;
}

void DbmTrainer::load_checkpoint(const std::string& path) {
  std::istringstream f(detail::read_checksummed(path, kCkptMagic, "DBM checkpoint", kCkptErasMagic),
                       std::ios::binary);
  get_training_state(f, path, "checkpoint", kResumeHint);
  for (const auto& [negative, first, total] : {std::tuple{false, pos_first_, pos_total_}, std::tuple{true, neg_first_, neg_total_}}) {
    const auto [era, sweeps] = get_era_and_count(f, path, "checkpoint");
    enter_era(negative, era);
    Sampler* s = negative ? neg_.get() : pos_.get();
    const auto st = detail::get_spins(f, path, static_cast<size_t>(total) * s->num_nodes(), "checkpoint");  // all chains: any rank count resumes
    const size_t n = static_cast<size_t>(s->num_nodes());
    s->set_state(std::span<const int8_t>(st).subspan(static_cast<size_t>(first) * n, static_cast<size_t>(s->num_chains()) * n));
    s->set_sweep_count(sweeps);
  }
  restore_history(f, path, "checkpoint");
}

// ------------------------------------------------------------------ evaluation and generation

namespace {

/// Label scores per image for images given as clamp spins; returns predicted classes. The batch is
/// one run of the sampler; with a `tick`, its progress callback calls tick(sweeps done) after
/// stretches of at most 1% of the run and about a quarter second, so a long evaluation shows
/// progress within one batch. vis[k] is image first_image + k of its set: image i's chains are the
/// sampler chains [i per, (i + 1) per) from sweep 0, so an image draws the same random numbers in
/// any batch or slice (with a fixed ladder; an adaptive one adapts to its batch's swaps).
std::vector<int32_t> classify_spins(const SparseDbm& m, const DbmConfig& cfg, const std::vector<std::vector<int8_t>>& vis,
                                    int64_t first_image, double& flips, const std::function<void(int64_t)>& tick = {},
                                    DbmEval* swaps = nullptr) {
  const int32_t per = cfg.eval.chains;
  const int32_t nimg = static_cast<int32_t>(vis.size());
  if ((first_image + nimg) * static_cast<int64_t>(per) > (int64_t{1} << 32)) {
    throw InvalidArgument("images " + std::to_string(first_image) + " to " + std::to_string(first_image + nimg - 1) + " x " +
                          std::to_string(per) + " chains each (eval.chains) pass the 2^32 chain ids of the RNG counter");
  }
  const Coloring col(m.graph(), m.colors());
  std::vector<int8_t> values;
  values.reserve(static_cast<size_t>(nimg) * per * m.visible().size());
  for (const auto& v : vis)
    for (int32_t c = 0; c < per; ++c) values.insert(values.end(), v.begin(), v.end());
  ObserverSpec spec;
  for (int32_t c = 0; c < 10; ++c) {
    spec.readout_groups.emplace_back(m.labels().begin() + c * m.replicas(), m.labels().begin() + (c + 1) * m.replicas());
  }
  const SamplingSchedule sched = cfg.eval.schedule();
  std::vector<int64_t> readout(static_cast<size_t>(nimg) * per * 10, 0);
  // Under MPI ranks each process classifies a contiguous share of the images: the chains of images
  // [first, first + count) of the batch, keyed by those images' ids, so the read-outs are one process's.
  const dist::Range mine = dist::share(nimg, dist::rank(), dist::size(), "images", true);
  if (dist::size() > 1) {
    const int64_t nv = static_cast<int64_t>(m.visible().size());
    values = std::vector<int8_t>(values.begin() + mine.first * per * nv, values.begin() + (mine.first + mine.count) * per * nv);
    readout.assign(static_cast<size_t>(mine.count) * per * 10, 0);
  }
  const int64_t total_sweeps = sched.total_sweeps();
  if (cfg.eval_tempered) {  // parallel tempering: every replica's sweeps count as flips
    const int32_t R = static_cast<int32_t>(cfg.eval_tempering.betas.size());
    std::vector<int64_t> counts(2 * static_cast<size_t>(R - 1), 0);  // swap attempts and accepts per pair, this rank's
    if (mine.count > 0) {
      SamplerOptions so = sampler_options(cfg, kEvalStream);
      so.first_chain = static_cast<uint32_t>((first_image + mine.first) * per);
      TemperedSampler ts(m.graph(), col, static_cast<int32_t>(mine.count * per), cfg.eval_tempering, so);
      if (dist::size() > 1) ts.set_shard_sum([](std::span<int64_t> v) { dist::allreduce_sum(v); });  // one ladder
      ts.set_clamp(m.visible(), values);
      if (tick) ts.set_progress([&](int64_t done, int64_t) { tick(done); });
      readout = ts.run(sched, spec).readout_sum;
      std::copy(ts.stats().attempts.begin(), ts.stats().attempts.end(), counts.begin());
      std::copy(ts.stats().accepts.begin(), ts.stats().accepts.end(), counts.begin() + (R - 1));
    } else {  // a rank without images of this batch still adds its (zero) swap counts to the ladder's
      for (int64_t k = TemperedSampler::adaptations(cfg.eval_tempering, total_sweeps); k > 0; --k) {
        std::vector<int64_t> zeros(2 * static_cast<size_t>(R - 1), 0);
        dist::allreduce_sum(zeros);
      }
      if (tick) tick(total_sweeps);
    }
    if (dist::size() > 1) {
      readout = dist::allgather(std::span<const int64_t>(readout));  // image order = rank order
      dist::allreduce_sum(counts);
    }
    flips += static_cast<double>(nimg) * per * R * (m.graph().num_nodes() - static_cast<double>(m.visible().size())) * total_sweeps;
    if (swaps) {
      swaps->swap_attempts.resize(static_cast<size_t>(R - 1), 0);
      swaps->swap_accepts.resize(static_cast<size_t>(R - 1), 0);
      for (size_t p = 0; p + 1 < static_cast<size_t>(R); ++p) {
        swaps->swap_attempts[p] += counts[p];
        swaps->swap_accepts[p] += counts[static_cast<size_t>(R - 1) + p];
      }
    }
    return detail::dbm_predict_labels(readout, nimg, per, sched.samples, m.replicas());
  }
  if (mine.count > 0) {
    SamplerOptions so = sampler_options(cfg, kEvalStream);
    so.first_chain = static_cast<uint32_t>((first_image + mine.first) * per);
    Sampler s(m.graph(), col, static_cast<int32_t>(mine.count * per), so);
    s.set_clamp(m.visible(), values);
    const BetaSchedule beta = detail::dbm_eval_betas(cfg);
    if (tick) s.set_progress([&](int64_t done, int64_t) { tick(done); });
    readout = s.run(sched, beta, spec).readout_sum;
  }
  if (dist::size() > 1) readout = dist::allgather(std::span<const int64_t>(readout));  // image order = rank order
  flips += static_cast<double>(nimg) * per * (m.graph().num_nodes() - static_cast<double>(m.visible().size())) * total_sweeps;
  return detail::dbm_predict_labels(readout, nimg, per, sched.samples, m.replicas());
}

}  // namespace

namespace detail {

// Optionally annealed: beta rises linearly from eval.beta_start to beta over the warm-up sweeps.
BetaSchedule dbm_eval_betas(const DbmConfig& cfg) {
  return cfg.eval_beta_start >= 0 && cfg.eval.warmup > 0 ? BetaSchedule::linear(cfg.eval_beta_start, cfg.beta, cfg.eval.warmup)
                                                         : BetaSchedule::constant(cfg.beta);
}

std::vector<int32_t> dbm_predict_labels(std::span<const int64_t> readout, int32_t images, int32_t chains, int64_t samples,
                                        int32_t replicas) {
  if (images < 0 || chains < 1 || replicas < 1 || readout.size() != static_cast<size_t>(images) * chains * 10) {
    throw InvalidArgument("label read-out of " + std::to_string(readout.size()) + " sums does not hold 10 classes x " +
                          std::to_string(chains) + " chains x " + std::to_string(images) + " images");
  }
  std::vector<int32_t> pred(static_cast<size_t>(images));
  const double norm = static_cast<double>(std::max<int64_t>(1, samples) * replicas);
  for (int32_t k = 0; k < images; ++k) {
    double best = -1;
    for (int32_t c = 0; c < 10; ++c) {
      double score = 0;  // mean over chains of (1 + <s>) / 2
      for (int32_t q = 0; q < chains; ++q) score += 0.5 * (1.0 + readout[(static_cast<size_t>(k) * chains + q) * 10 + c] / norm);
      score /= chains;
      if (score > best) {
        best = score;
        pred[k] = c;
      }
    }
  }
  return pred;
}

}  // namespace detail

void check_dbm_eval_memory(const SparseDbm& m, const DbmConfig& cfg, int64_t images) {
  const double batch = static_cast<double>(std::min<int64_t>(std::max<int64_t>(images, 0), cfg.eval_batch_images));
  const double chains = batch * cfg.eval.chains;
  const double replicas = cfg.eval_tempered ? static_cast<double>(cfg.eval_tempering.betas.size()) : 1.0;
  // Per chain: the clamped values (built, then held by the sampler) and ten 8-byte read-out sums;
  // and every replica's chain as the sampler holds it on the evaluation's backend.
  const Backend backend = sampler_options(cfg, kEvalStream).backend;
  const double bytes = chains * (2.0 * static_cast<double>(m.visible().size()) + 80.0) +
                       Sampler::state_bytes(backend, static_cast<int64_t>(replicas * chains), m.graph().num_nodes());
  detail::check_memory(bytes, "DBM evaluation of " + detail::format_number(batch) + " images at once (eval.batch_images) x " +
                                  std::to_string(cfg.eval.chains) + " chains each (eval.chains)");
}

void check_dbm_gen_memory(const SparseDbm& m, const DbmConfig& cfg) {
  const double chains = 10.0 * cfg.gen_per_class, n = m.graph().num_nodes(), nv = static_cast<double>(m.visible().size());
  const double replicas = cfg.gen_tempered ? static_cast<double>(cfg.gen_tempering.betas.size()) : 1.0;
  // The sampler with its label clamps; then, with the final states (chains x N) and images kept, the
  // read-out of every image as an evaluation batch.
  const Backend gen_backend = sampler_options(cfg, kGenStream).backend, eval_backend = sampler_options(cfg, kEvalStream).backend;
  const double sample = Sampler::state_bytes(gen_backend, static_cast<int64_t>(replicas * chains), m.graph().num_nodes()) +
                        chains * static_cast<double>(m.labels().size());
  const double per = chains * cfg.eval.chains;
  const double classify = 2 * chains * (n + nv) + per * (2.0 * nv + 80.0) + Sampler::state_bytes(eval_backend, static_cast<int64_t>(per), m.graph().num_nodes());
  detail::check_memory(std::max(sample, classify), "DBM generation of " + std::to_string(cfg.gen_per_class) +
                                                       " images per class (generate.per_class), each read out with " +
                                                       std::to_string(cfg.eval.chains) + " chains (eval.chains)");
}

DbmEval evaluate_dbm(const SparseDbm& m, const DbmConfig& cfg, const ImageDataset& test, int64_t limit, bool progress,
                     int64_t first, const DbmEvalJournal* journal) {
  test.check("DBM evaluation");
  const double t0 = now_s();
  DbmEval ev;
  if (first < 0 || first >= test.size()) {
    throw InvalidArgument("first test image " + std::to_string(first) + " is outside the " + std::to_string(test.size()) +
                          " test images");
  }
  const int64_t stop = limit > 0 ? std::min(first + limit, test.size()) : test.size();
  check_dbm_eval_memory(m, cfg, stop - first);
  for (int64_t k = first; k < stop; ++k) {  // (a dataset built in code is not checked as a file's is)
    if (test.labels[static_cast<size_t>(k)] > 9) {
      throw InvalidArgument("evaluate_dbm: test image " + std::to_string(k) + " has label " + std::to_string(test.labels[static_cast<size_t>(k)]) +
                            ", not a class 0..9");
    }
  }
  ev.confusion.assign(100, 0);
  int64_t correct = 0;
  // Progress in image-sweeps, updated within each batch (one batch may hold every image).
  const int64_t per_image = cfg.eval.schedule().total_sweeps();
  Progress bar("evaluate", (stop - first) * per_image);
  double earlier_s = 0;  // the journal's batches' wall time
  auto add_swaps = [](std::vector<int64_t>& to, const std::vector<int64_t>& from) {
    if (to.size() < from.size()) to.resize(from.size(), 0);
    for (size_t p = 0; p < from.size(); ++p) to[p] += from[p];
  };
  for (int64_t start = first; start < stop; start += cfg.eval_batch_images) {
    const int64_t end = std::min(stop, start + cfg.eval_batch_images);
    if (const DbmEvalBatch* b = journal && journal->done ? journal->done(start, end) : nullptr) {
      const std::string which = "evaluate_dbm: the journal's batch of images " + std::to_string(start) + ".." + std::to_string(end - 1);
      if (b->start != start || b->end != end || b->confusion.size() != 100 || b->correct < 0 || b->correct > end - start) {
        throw InvalidArgument(which + " is not one of this evaluation");
      }
      // What it adds must be what a batch of these images can count: a confusion matrix of end - start
      // images whose diagonal is `correct`, flips and time >= 0, one swap count per neighbouring pair
      // of this evaluation's ladder (none without eval.tempering), no more accepted than attempted.
      int64_t total = 0, diagonal = 0;
      for (size_t q = 0; q < 100; ++q) {
        if (b->confusion[q] < 0 || b->confusion[q] > end - start) throw InvalidArgument(which + " has a confusion count out of range");
        total += b->confusion[q];
        if (q % 11 == 0) diagonal += b->confusion[q];
      }
      if (total != end - start || diagonal != b->correct) {
        throw InvalidArgument(which + " counts " + std::to_string(total) + " images, " + std::to_string(diagonal) + " of them right, against " +
                              std::to_string(end - start) + " images and " + std::to_string(b->correct) + " right: not a record of this evaluation");
      }
      // (and none so large that the sums overflow: 1e308 flips gave eval_flips_per_ns null; no batch
      // flips 1e30 times or runs 1e9 s, 30 years)
      if (!(b->flips >= 0 && b->flips <= 1e30 && b->wall_s >= 0 && b->wall_s <= 1e9)) {
        throw InvalidArgument(which + " has negative, non-finite or impossible flips or wall time");
      }
      const size_t pairs = cfg.eval_tempered ? cfg.eval_tempering.betas.size() - 1 : 0;
      bool swaps_ok = b->swap_attempts.size() == pairs && b->swap_accepts.size() == pairs;
      for (size_t p = 0; swaps_ok && p < pairs; ++p) swaps_ok = b->swap_accepts[p] >= 0 && b->swap_accepts[p] <= b->swap_attempts[p];
      if (!swaps_ok) throw InvalidArgument(which + " has swap counts that are not of this evaluation's tempering ladder");
      for (size_t q = 0; q < 100; ++q) ev.confusion[q] += b->confusion[q];
      correct += b->correct;
      ev.flips += b->flips;
      earlier_s += b->wall_s;
      add_swaps(ev.swap_attempts, b->swap_attempts);
      add_swaps(ev.swap_accepts, b->swap_accepts);
      if (progress) bar.update((end - first) * per_image, "image-sweeps (from the journal)");
      continue;
    }
    const double tb = now_s();
    const double flips_before = ev.flips;
    const std::vector<int64_t> attempts_before = ev.swap_attempts, accepts_before = ev.swap_accepts;
    const std::vector<int64_t> confusion_before = ev.confusion;
    const int64_t correct_before = correct;
    std::vector<std::vector<int8_t>> vis;
    for (int64_t k = start; k < end; ++k) {
      std::vector<int8_t> v = dbm_clamp_values(m, test, k, cfg.threshold);
      v.resize(m.visible().size());
      vis.push_back(std::move(v));
    }
    auto tick = [&](int64_t sweeps) {
      char extra[80];
      std::snprintf(extra, sizeof extra, "image-sweeps (images %lld-%lld)", static_cast<long long>(start), static_cast<long long>(end - 1));
      bar.update((start - first) * per_image + (end - start) * sweeps, extra);
    };
    // Without a bar, no callback: the sampler then runs each batch in one stretch.
    const std::vector<int32_t> pred = classify_spins(m, cfg, vis, start, ev.flips, progress ? std::function<void(int64_t)>(tick) : nullptr, &ev);
    for (int64_t k = start; k < end; ++k) {
      const int truth = test.labels[k];
      ++ev.confusion[truth * 10 + pred[k - start]];
      correct += pred[k - start] == truth;
    }
    if (progress && dist::rank() == 0 && start + cfg.eval_batch_images < stop) {
      std::fprintf(stderr, "evaluate: images %lld-%lld, accuracy so far %.4f\n", static_cast<long long>(first),
                   static_cast<long long>(end - 1), static_cast<double>(correct) / static_cast<double>(end - first));
    }
    if (journal && journal->finished) {
      DbmEvalBatch b;
      b.start = start;
      b.end = end;
      b.correct = correct - correct_before;
      b.confusion.resize(100);
      for (size_t q = 0; q < 100; ++q) b.confusion[q] = ev.confusion[q] - confusion_before[q];
      b.flips = ev.flips - flips_before;
      b.wall_s = now_s() - tb;
      for (size_t p = 0; p < ev.swap_attempts.size(); ++p) {
        b.swap_attempts.push_back(ev.swap_attempts[p] - (p < attempts_before.size() ? attempts_before[p] : 0));
        b.swap_accepts.push_back(ev.swap_accepts[p] - (p < accepts_before.size() ? accepts_before[p] : 0));
      }
      journal->finished(b);
    }
  }
  ev.first = first;
  ev.images = stop - first;
  ev.correct = correct;
  ev.accuracy = ev.images ? static_cast<double>(correct) / ev.images : 0.0;
  ev.wall_s = now_s() - t0 + earlier_s;
  return ev;
}

DbmGeneration generate_dbm(const SparseDbm& m, const DbmConfig& cfg) {
  const double t0 = now_s();
  check_dbm_gen_memory(m, cfg);
  const int32_t per = cfg.gen_per_class, chains = 10 * per;
  const Coloring col(m.graph(), m.colors());
  std::vector<int8_t> values;
  for (int32_t b = 0; b < chains; ++b) {
    const int32_t cls = b / per;
    for (int32_t c = 0; c < 10; ++c)
      for (int32_t r = 0; r < m.replicas(); ++r) values.push_back(c == cls ? 1 : -1);
  }
  DbmGeneration g;
  std::vector<int8_t> st;
  if (cfg.gen_tempered) {
    TemperedSampler ts(m.graph(), col, chains, cfg.gen_tempering, sampler_options(cfg, kGenStream));
    ts.set_clamp(m.labels(), values);
    ts.sweep(cfg.gen_sweeps);
    st = ts.state();
    g.sweeps = cfg.gen_sweeps;
    g.tempering = ts.stats();
  } else {
    Sampler s(m.graph(), col, chains, sampler_options(cfg, kGenStream));
    s.set_clamp(m.labels(), values);
    std::vector<std::pair<float, int64_t>> segs;
    const auto nsteps = static_cast<int>(gen_anneal_steps(cfg));
    for (int k = 0; k < nsteps; ++k) segs.push_back({cfg.gen_beta_start + k * cfg.gen_beta_step, cfg.gen_sweeps_per_beta});
    const BetaSchedule beta = BetaSchedule::piecewise(segs);
    g.sweeps = static_cast<int64_t>(segs.size()) * cfg.gen_sweeps_per_beta;
    s.sweep(g.sweeps, beta);
    st = s.state();
  }
  std::vector<std::vector<int8_t>> vis;
  for (int32_t b = 0; b < chains; ++b) {
    std::vector<int8_t> img(m.visible().size());
    for (size_t p = 0; p < img.size(); ++p) img[p] = st[static_cast<size_t>(b) * m.graph().num_nodes() + m.visible()[p]];
    vis.push_back(img);
    g.images.push_back(img);
    g.classes.push_back(b / per);
  }
  double flips = 0;
  const std::vector<int32_t> pred = classify_spins(m, cfg, vis, 0, flips);
  int32_t agree = 0;
  for (int32_t b = 0; b < chains; ++b) agree += pred[b] == g.classes[b];
  g.agreement = static_cast<double>(agree) / chains;
  g.wall_s = now_s() - t0;
  return g;
}

}  // namespace pbit
