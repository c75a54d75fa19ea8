#include "pbit/models/eqprop.hpp"

#include <algorithm>
#include <span>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "pbit/core/rng.hpp"
#include "pbit/hardware/roles.hpp"
#include "pbit/hardware/topology.hpp"
#include "pbit/error.hpp"
#include "models/common/adam.hpp"
#include "models/common/checkpoint.hpp"
#include "models/common/image_selection.hpp"
#include "models/common/sweep_limit.hpp"
#include "util/binary_io.hpp"
#include "util/file_formats.hpp"
#include "util/json_util.hpp"
#include "util/memory.hpp"
#include "util/progress.hpp"

namespace pbit {

using detail::get_bool;
using detail::get_float_in;
using detail::get_int;
using detail::get_string;
using detail::only_keys;

namespace {

constexpr const auto& kModelMagic = detail::kEqPropModel.magic;  // (util/file_formats.hpp)
constexpr const auto& kCkptMagic = detail::kEqPropCheckpoint.magic;
constexpr int32_t kMaxEpochs = 100000;

void parse_free(const nlohmann::json& j, const std::string& w, EqPropFreePhase& p) {
  only_keys(j, w, {"beta_start", "beta_end", "anneal_sweeps", "samples", "steps_per_sample"});
  if (j.contains("beta_start")) p.beta_start = get_float_in(j["beta_start"], w + ".beta_start", 0, 1000);
  if (j.contains("beta_end")) p.beta_end = get_float_in(j["beta_end"], w + ".beta_end", 1e-6, 1000);
  if (j.contains("anneal_sweeps")) p.anneal_sweeps = get_int(j["anneal_sweeps"], w + ".anneal_sweeps", 0, 1 << 24);
  if (j.contains("samples")) p.samples = get_int(j["samples"], w + ".samples", 1, 1 << 20);
  if (j.contains("steps_per_sample")) p.steps_per_sample = get_int(j["steps_per_sample"], w + ".steps_per_sample", 1, 1 << 20);
}

/// Linear from a to b over n sweeps, n values, ending at b (n >= 1).
void ramp(std::vector<float>& out, float a, float b, int64_t n) {
  for (int64_t k = 1; k <= n; ++k) out.push_back(a + (b - a) * static_cast<float>(k) / static_cast<float>(n));
}

/// Statistics of one phase: node and edge sums over every chain and sample, and per-chain node sums.
struct PhaseStats {
  Observations obs;
  int64_t samples = 0;
};

PhaseStats observe(Sampler& s, const SamplingSchedule& sch, const BetaSchedule& beta) {
  ObserverSpec spec;
  spec.moments = true;
  spec.readout_groups.resize(static_cast<size_t>(s.num_nodes()));
  for (int32_t i = 0; i < s.num_nodes(); ++i) spec.readout_groups[static_cast<size_t>(i)] = {i};
  PhaseStats p;
  p.obs = s.run(sch, beta, spec);
  p.samples = sch.samples;
  return p;
}

/// Mean of node i over the chains of image m and the samples.
double image_mean(const PhaseStats& p, int32_t n, int32_t chains_per_image, int64_t m, int32_t i) {
  int64_t acc = 0;
  for (int32_t c = 0; c < chains_per_image; ++c) acc += p.obs.readout_sum[static_cast<size_t>((m * chains_per_image + c) * n + i)];
  return static_cast<double>(acc) / (static_cast<double>(chains_per_image) * static_cast<double>(p.samples));
}

void set_net_weights(const EqPropNet& net, Sampler& s) {
  std::vector<float> b(net.bh);
  b.insert(b.end(), net.bo.begin(), net.bo.end());
  s.set_weights(net.w1, b);
}

/// Graph mode: the visible spins of every chain clamped to its image's pixels (x > threshold -> +1).
void clamp_inputs(const EqPropNet& net, Sampler& s, const std::vector<float>& x, int64_t images, int32_t cpi) {
  const auto V = static_cast<int32_t>(net.visible.size());
  std::vector<int8_t> v(static_cast<size_t>(images * cpi) * V);
  for (int64_t m = 0; m < images; ++m)
    for (int32_t c = 0; c < cpi; ++c)
      for (int32_t k = 0; k < V; ++k) {
        v[static_cast<size_t>((m * cpi + c) * V + k)] = x[static_cast<size_t>(m * net.inputs + k)] > net.input_threshold ? int8_t{1} : int8_t{-1};
      }
  s.set_clamp(net.visible, v);
}

/// Graph mode: the nudge field b t_j on the output spins (b = 0: none).
void nudge_outputs(const EqPropNet& net, Sampler& s, const std::vector<int32_t>* labels, int64_t images, int32_t cpi, float b) {
  if (b == 0.0f || !labels) {
    s.clear_field();
    return;
  }
  const int32_t O = net.outputs();
  std::vector<float> f(static_cast<size_t>(images * cpi) * O);
  for (int64_t m = 0; m < images; ++m) {
    const std::vector<float> t = net.target((*labels)[static_cast<size_t>(m)]);
    for (int32_t c = 0; c < cpi; ++c)
      for (int32_t j = 0; j < O; ++j) f[static_cast<size_t>((m * cpi + c) * O + j)] = b * t[static_cast<size_t>(j)];
  }
  s.set_field(net.output_nodes, f);
}

/// The class read-out groups (each class's output spins).
std::vector<std::vector<int32_t>> class_groups(const EqPropNet& net) {
  std::vector<std::vector<int32_t>> g(static_cast<size_t>(net.classes));
  for (int32_t c = 0; c < net.classes; ++c)
    for (int32_t k = 0; k < net.per_class; ++k) g[static_cast<size_t>(c)].push_back(net.output_node(c * net.per_class + k));
  return g;
}

std::vector<float> chain_fields(const EqPropNet& net, const std::vector<float>& x, int64_t images, int32_t cpi,
                                float field_clip, const std::vector<int32_t>* labels, float nudge);

/// Sets the net's weights and the images' inputs on the sampler, with no nudge, from a fresh state.
void prepare_free(const EqPropNet& net, Sampler& s, const std::vector<float>& x, int64_t images, int32_t cpi, float field_clip) {
  set_net_weights(net, s);
  if (net.on_graph()) {
    clamp_inputs(net, s, x, images, cpi);
    s.clear_field();
  } else {
    s.set_field({}, chain_fields(net, x, images, cpi, field_clip, nullptr, 0.0f));
  }
  s.randomize_state();
}

/// Per-chain fields: W0^T x on the hidden spins, nudge * t on the outputs.
std::vector<float> chain_fields(const EqPropNet& net, const std::vector<float>& x, int64_t images, int32_t cpi,
                                float field_clip, const std::vector<int32_t>* labels, float nudge) {
  const int32_t n = net.spins(), H = net.hidden;
  std::vector<float> f(static_cast<size_t>(images * cpi) * n, 0.0f), hf(static_cast<size_t>(H));
  for (int64_t m = 0; m < images; ++m) {
    net.hidden_field(x.data() + m * net.inputs, field_clip, hf.data());
    std::vector<float> t;
    if (labels && nudge != 0.0f) t = net.target((*labels)[static_cast<size_t>(m)]);
    for (int32_t c = 0; c < cpi; ++c) {
      float* row = f.data() + static_cast<size_t>(m * cpi + c) * n;
      std::copy(hf.begin(), hf.end(), row);
      if (!t.empty())
        for (int32_t j = 0; j < net.outputs(); ++j) row[H + j] = nudge * t[static_cast<size_t>(j)];
    }
  }
  return f;
}

/// The spins a sweep updates, the flips it counts: in graph mode not the visible ones, clamped to the
/// pixels for the whole run (they were counted: 5.5x on pegasus:7, 1.23x on the shipped Pegasus(14)
/// config, where the DBM on the same graph counts its free nodes only; helper-124).
int32_t sampled_spins(const EqPropNet& net) {
  return net.on_graph() ? net.spins() - static_cast<int32_t>(net.visible.size()) : net.spins();
}

SamplingSchedule free_schedule(const EqPropConfig& cfg) {
  return {cfg.free.anneal_sweeps, cfg.free.samples, cfg.free.steps_per_sample};
}
BetaSchedule free_beta(const EqPropConfig& cfg) {
  return cfg.free.anneal_sweeps > 0 ? BetaSchedule::linear(cfg.free.beta_start, cfg.free.beta_end, cfg.free.anneal_sweeps)
                                    : BetaSchedule::constant(cfg.free.beta_end);
}

}  // namespace

/// The nudged phases' betas: a reverse anneal or a continuation, then the samples at beta_end.
std::vector<float> detail::eqprop_nudge_betas(const EqPropConfig& cfg) {
  std::vector<float> betas;
  if (cfg.nudge.schedule == "reverse" && cfg.nudge.sweeps > 0) {
    const float hot = cfg.free.beta_start + cfg.nudge.reheat * (cfg.free.beta_end - cfg.free.beta_start);
    const int64_t down = cfg.nudge.sweeps / 2;
    if (down > 0) ramp(betas, cfg.free.beta_end, hot, down);
    ramp(betas, down > 0 ? hot : cfg.free.beta_end, cfg.free.beta_end, cfg.nudge.sweeps - down);
  } else {
    betas.assign(static_cast<size_t>(std::max<int64_t>(cfg.nudge.sweeps, 1)), cfg.free.beta_end);
  }
  betas.push_back(cfg.free.beta_end);  // the samples
  return betas;
}

// ---------------------------------------------------------------- config

EqPropConfig parse_eqprop_config(const nlohmann::json& j) {
  if (!j.is_object()) throw InvalidConfig("an EqProp config must be a JSON object");
  detail::only_config_sections(j, detail::ConfigKind::eqprop);
  EqPropConfig c;
  c.source = j;
  if (j.contains("data")) {
    const auto& d = j["data"];
    only_keys(d, "data", {"dataset", "data_dir", "train_images", "test_images", "balanced"});
    if (d.contains("dataset")) c.dataset = get_string(d["dataset"], "data.dataset", {"mnist", "fashion-mnist"});
    if (d.contains("data_dir")) c.data_dir = detail::get_path(d["data_dir"], "data.data_dir");
    if (d.contains("train_images")) c.train_images = get_int(d["train_images"], "data.train_images", 0, 1 << 24);
    if (d.contains("test_images")) c.test_images = get_int(d["test_images"], "data.test_images", 0, 1 << 24);
    if (d.contains("balanced")) c.balanced = get_bool(d["balanced"], "data.balanced");
    // (eqprop_select refuses the same once the data is read: here `eqprop config` says it too)
    for (const auto& [key, n] : {std::pair<const char*, int64_t>{"data.train_images", c.train_images}, {"data.test_images", c.test_images}}) {
      if (c.balanced && n > 0 && n % c.classes != 0) {
        detail::config_error(key, "with data.balanced, a class-balanced selection needs a multiple of " + std::to_string(c.classes) +
                                      " images, got " + std::to_string(n) + " (or 0 for all of them)");
      }
    }
  }
  if (j.contains("network")) {
    const auto& n = j["network"];
    only_keys(n, "network", {"hidden", "per_class", "init_gain_w0", "init_gain_w1", "topology", "role_seed", "init_sigma_j", "threshold"});
    if (n.contains("threshold")) c.threshold = static_cast<int32_t>(get_int(n["threshold"], "network.threshold", 0, 254));
    if (n.contains("topology")) {
      c.topology = get_string(n["topology"], "network.topology");
      if (c.topology.empty()) detail::config_error("network.topology", "must not be empty (leave it out for the layered network)");
    }
    // Each network's own keys: the other's would be dropped without a word.
    static constexpr const char* layered[] = {"hidden", "init_gain_w0", "init_gain_w1"};
    static constexpr const char* graph[] = {"role_seed", "init_sigma_j", "threshold"};  // (the layered network reads gray levels)
    for (const char* k : c.topology.empty() ? std::span<const char* const>(graph) : std::span<const char* const>(layered)) {
      if (n.contains(k)) {
        detail::config_error(std::string("network.") + k, c.topology.empty() ? "is a hardware graph's (network.topology): the layered network has no use for it"
                                                                     : "is the layered network's: the network is network.topology's graph");
      }
    }
    if (n.contains("role_seed")) c.role_seed = static_cast<uint64_t>(get_int(n["role_seed"], "network.role_seed", 0, int64_t{1} << 40));
    if (n.contains("init_sigma_j")) c.init_sigma_j = get_float_in(n["init_sigma_j"], "network.init_sigma_j", 0, 100);
    if (n.contains("hidden")) c.hidden = static_cast<int32_t>(get_int(n["hidden"], "network.hidden", 1, 1 << 16));
    if (n.contains("per_class")) c.per_class = static_cast<int32_t>(get_int(n["per_class"], "network.per_class", 1, 1024));
    if (n.contains("init_gain_w0")) c.init_gain_w0 = get_float_in(n["init_gain_w0"], "network.init_gain_w0", 0, 100);
    if (n.contains("init_gain_w1")) c.init_gain_w1 = get_float_in(n["init_gain_w1"], "network.init_gain_w1", 0, 100);
  }
  if (j.contains("free")) parse_free(j["free"], "free", c.free);
  if (c.free.anneal_sweeps > 0 && c.free.beta_start > c.free.beta_end) {
    throw InvalidConfig("key 'free.beta_start': must not exceed free.beta_end (" + detail::format_number(c.free.beta_end) + ")");
  }
  if (j.contains("nudge")) {
    const auto& n = j["nudge"];
    only_keys(n, "nudge", {"beta", "symmetric", "schedule", "reheat", "sweeps", "samples", "steps_per_sample"});
    if (n.contains("beta")) c.nudge.beta = get_float_in(n["beta"], "nudge.beta", 1e-6, 1000);
    if (n.contains("symmetric")) c.nudge.symmetric = get_bool(n["symmetric"], "nudge.symmetric");
    if (n.contains("schedule")) c.nudge.schedule = get_string(n["schedule"], "nudge.schedule", {"reverse", "continue"});
    if (n.contains("reheat")) c.nudge.reheat = get_float_in(n["reheat"], "nudge.reheat", 0, 1);
    if (n.contains("sweeps")) c.nudge.sweeps = get_int(n["sweeps"], "nudge.sweeps", 0, 1 << 24);
    if (n.contains("samples")) c.nudge.samples = get_int(n["samples"], "nudge.samples", 1, 1 << 20);
    if (n.contains("steps_per_sample")) c.nudge.steps_per_sample = get_int(n["steps_per_sample"], "nudge.steps_per_sample", 1, 1 << 20);
  }
  // A reverse nudge re-heats towards free.beta_start whether or not the free phase anneals: a
  // beta_start above beta_end would make it cool instead.
  if (c.nudge.schedule == "reverse" && c.nudge.sweeps > 0 && c.free.beta_start > c.free.beta_end) {
    throw InvalidConfig("key 'free.beta_start': must not exceed free.beta_end (" + detail::format_number(c.free.beta_end) +
                        "): the reverse nudge (nudge.schedule) re-heats towards it");
  }
  if (j.contains("train")) {
    const auto& t = j["train"];
    only_keys(t, "train", {"epochs", "batch_size", "chains_per_image", "optimizer", "lr_weights", "lr_biases", "adam_b1", "adam_b2",
                           "clip", "field_clip", "skip_when_correct", "checkpoint_every_batches", "time_budget_s", "lr_decay", "mode"});
    if (t.contains("time_budget_s")) c.time_budget_s = detail::get_double_in(t["time_budget_s"], "train.time_budget_s", 0, 1e9);
    if (t.contains("mode")) c.train_mode = get_string(t["mode"], "train.mode", {"ideal", "pat", "in_situ"});
    if (t.contains("lr_decay")) c.lr_decay = get_float_in(t["lr_decay"], "train.lr_decay", 1e-6, 1);
    if (t.contains("epochs")) c.epochs = static_cast<int32_t>(get_int(t["epochs"], "train.epochs", 1, kMaxEpochs));
    if (t.contains("batch_size")) c.batch_size = static_cast<int32_t>(get_int(t["batch_size"], "train.batch_size", 1, 1 << 16));
    if (t.contains("chains_per_image")) c.chains_per_image = static_cast<int32_t>(get_int(t["chains_per_image"], "train.chains_per_image", 1, 1 << 16));
    if (t.contains("optimizer")) c.optimizer = get_string(t["optimizer"], "train.optimizer", {"sgd", "adam"});
    if (t.contains("lr_weights")) c.lr_weights = get_float_in(t["lr_weights"], "train.lr_weights", 0, 100);
    if (t.contains("lr_biases")) c.lr_biases = get_float_in(t["lr_biases"], "train.lr_biases", 0, 100);
    if (t.contains("adam_b1")) c.adam_b1 = get_float_in(t["adam_b1"], "train.adam_b1", 0, 0.999999);
    if (t.contains("adam_b2")) c.adam_b2 = get_float_in(t["adam_b2"], "train.adam_b2", 0, 0.999999);
    if (t.contains("clip")) c.clip = get_float_in(t["clip"], "train.clip", 0, 1e6);
    if (t.contains("field_clip")) c.field_clip = get_float_in(t["field_clip"], "train.field_clip", 0, 1e6);
    if (t.contains("skip_when_correct")) c.skip_when_correct = get_bool(t["skip_when_correct"], "train.skip_when_correct");
    if (t.contains("checkpoint_every_batches")) c.checkpoint_every_batches = get_int(t["checkpoint_every_batches"], "train.checkpoint_every_batches", 0, int64_t{1} << 40);
  }
  if (static_cast<int64_t>(c.batch_size) * c.chains_per_image > (1 << 24)) {
    throw InvalidConfig("key 'train.batch_size': batch_size x chains_per_image must be at most 2^24 chains");
  }
  if (j.contains("eval")) {
    const auto& e = j["eval"];
    only_keys(e, "eval", {"chains_per_image", "batch_images"});
    if (e.contains("chains_per_image")) c.eval_chains_per_image = static_cast<int32_t>(get_int(e["chains_per_image"], "eval.chains_per_image", 1, 1 << 16));
    if (e.contains("batch_images")) c.eval_batch_images = get_int(e["batch_images"], "eval.batch_images", 1, 1 << 20);
  }
  if (c.eval_batch_images * c.eval_chains_per_image > (1 << 24)) {
    throw InvalidConfig("key 'eval.batch_images': batch_images x chains_per_image must be at most 2^24 chains");
  }
  if (j.contains("hardware")) {
    c.hardware = parse_hardware(j["hardware"], "hardware");
  }
  if (c.train_mode != "ideal" && c.hardware.ideal()) {
    detail::config_error("train.mode", "'" + c.train_mode + "' trains against a device: give a 'hardware' section with some imperfection");
  }
  // A phase one sampler cannot run (2^32 - 1 sweeps) is refused here rather than at the first batch.
  if (const std::string past = free_schedule(c).past_sweep_limit("anneal_sweeps"); !past.empty()) detail::config_error("free", past);
  if (const std::string past = SamplingSchedule{c.nudge.sweeps, c.nudge.samples, c.nudge.steps_per_sample}.past_sweep_limit("sweeps"); !past.empty()) {
    detail::config_error("nudge", past);
  }
  detail::parse_run_section(j, c.backend, c.threads, c.seed, c.output_dir);
  return c;
}

nlohmann::json resolved_config(const EqPropConfig& c) {
  using detail::float_json;
  nlohmann::json j;
  j["data"] = {{"dataset", c.dataset}, {"train_images", c.train_images}, {"test_images", c.test_images}, {"balanced", c.balanced}};
  if (!c.data_dir.empty()) j["data"]["data_dir"] = c.data_dir;  // (absent: the dataset's default folders)
  j["network"] = {{"per_class", c.per_class}};
  if (c.topology.empty()) {  // the layered network's keys, or the hardware graph's
    j["network"].update({{"hidden", c.hidden}, {"init_gain_w0", float_json(c.init_gain_w0)}, {"init_gain_w1", float_json(c.init_gain_w1)}});
  } else {
    j["network"].update({{"topology", c.topology}, {"role_seed", c.role_seed}, {"init_sigma_j", float_json(c.init_sigma_j)}, {"threshold", c.threshold}});
  }
  j["free"] = {{"beta_start", float_json(c.free.beta_start)}, {"beta_end", float_json(c.free.beta_end)},
               {"anneal_sweeps", c.free.anneal_sweeps},        {"samples", c.free.samples},
               {"steps_per_sample", c.free.steps_per_sample}};
  j["nudge"] = {{"beta", float_json(c.nudge.beta)}, {"symmetric", c.nudge.symmetric}, {"schedule", c.nudge.schedule},
                {"reheat", float_json(c.nudge.reheat)}, {"sweeps", c.nudge.sweeps}, {"samples", c.nudge.samples},
                {"steps_per_sample", c.nudge.steps_per_sample}};
  j["train"] = {{"epochs", c.epochs},
                {"batch_size", c.batch_size},
                {"chains_per_image", c.chains_per_image},
                {"optimizer", c.optimizer},
                {"lr_weights", float_json(c.lr_weights)},
                {"lr_biases", float_json(c.lr_biases)},
                {"lr_decay", float_json(c.lr_decay)},
                {"adam_b1", float_json(c.adam_b1)},
                {"adam_b2", float_json(c.adam_b2)},
                {"clip", float_json(c.clip)},
                {"field_clip", float_json(c.field_clip)},
                {"skip_when_correct", c.skip_when_correct},
                {"checkpoint_every_batches", c.checkpoint_every_batches},
                {"time_budget_s", c.time_budget_s},
                {"mode", c.train_mode}};
  j["eval"] = {{"chains_per_image", c.eval_chains_per_image}, {"batch_images", c.eval_batch_images}};
  if (!c.hardware.ideal()) j["hardware"] = c.hardware.config_json();
  j["run"] = detail::run_section_json(c.backend, c.threads, c.seed, c.output_dir);
  return j;
}

// ---------------------------------------------------------------- the network

EqPropNet EqPropNet::create(int32_t inputs, int32_t hidden, int32_t classes, int32_t per_class, float gain_w0, float gain_w1,
                            uint64_t seed) {
  if (inputs < 1 || hidden < 1 || classes < 2 || per_class < 1) throw InvalidArgument("EqPropNet: bad shape");
  // The memory guard (issue 16), before the weights exist: each coupling is a weight, optimizer state
  // and, in the sampler's graph, an edge and two adjacency entries (about 48 bytes); 65536 hidden
  // units of 10 x 1024 outputs ended in std::bad_alloc.
  const double couplings = static_cast<double>(inputs) * hidden + static_cast<double>(hidden) * classes * per_class;
  detail::check_memory(48.0 * couplings, "an EqProp network of " + std::to_string(inputs) + " inputs, " + std::to_string(hidden) +
                                             " hidden units and " + std::to_string(classes) + " x " + std::to_string(per_class) + " outputs");
  EqPropNet n;
  n.inputs = inputs, n.hidden = hidden, n.classes = classes, n.per_class = per_class;
  rng::PhiloxStream rs(seed, rng::eqprop_stream(rng::EqPropUse::init));
  n.w0.resize(static_cast<size_t>(inputs) * hidden);
  for (float& w : n.w0) w = static_cast<float>((2 * rs.uniform() - 1) * gain_w0 / std::sqrt(static_cast<double>(inputs)));
  n.w1.resize(static_cast<size_t>(hidden) * n.outputs());
  for (float& w : n.w1) w = static_cast<float>((2 * rs.uniform() - 1) * gain_w1 / std::sqrt(static_cast<double>(hidden)));
  n.bh.assign(static_cast<size_t>(hidden), 0.0f);
  n.bo.assign(static_cast<size_t>(n.outputs()), 0.0f);
  return n;
}

EqPropNet EqPropNet::create_on_graph(const std::string& topology, int32_t inputs, int32_t classes, int32_t per_class,
                                     float sigma_j, uint64_t role_seed, uint64_t seed) {
  if (inputs < 1 || classes < 2 || per_class < 1) throw InvalidArgument("EqPropNet: bad shape");
  const Topology t = make_topology(topology);
  EqPropNet n;
  n.inputs = inputs, n.classes = classes, n.per_class = per_class;
  n.topology = topology;
  const int32_t N = t.graph.num_nodes(), O = n.outputs();
  if (static_cast<int64_t>(inputs) + O >= N) {
    throw InvalidConfig("key 'network.topology': " + topology + " has " + std::to_string(N) + " nodes, too few for " +
                        std::to_string(inputs) + " visible + " + std::to_string(O) + " output spins and some hidden ones");
  }
  const RoleAssignment roles = place_roles(N, {{"visible", inputs}, {"output", O}, {"hidden", -1}}, role_seed);
  n.visible = roles.of("visible");
  n.output_nodes = roles.of("output");
  n.hidden = N - inputs - O;
  n.structure = t.graph;
  n.node_colors = t.colors;
  rng::PhiloxStream rs(seed, rng::eqprop_stream(rng::EqPropUse::init));
  n.w1.resize(static_cast<size_t>(t.graph.num_edges()));
  for (float& w : n.w1) w = static_cast<float>(sigma_j * rs.normal());
  n.bh.assign(static_cast<size_t>(N), 0.0f);
  return n;
}

EqPropNet eqprop_create(const EqPropConfig& cfg, int32_t inputs) {
  if (cfg.topology.empty()) {
    return EqPropNet::create(inputs, cfg.hidden, cfg.classes, cfg.per_class, cfg.init_gain_w0, cfg.init_gain_w1, cfg.seed);
  }
  EqPropNet n = EqPropNet::create_on_graph(cfg.topology, inputs, cfg.classes, cfg.per_class, cfg.init_sigma_j, cfg.role_seed, cfg.seed);
  n.input_threshold = static_cast<float>(cfg.threshold) / 255.0f;
  return n;
}

std::vector<int32_t> EqPropNet::colors() const {
  if (on_graph()) return node_colors;
  std::vector<int32_t> c(static_cast<size_t>(spins()), 0);
  for (int32_t j = hidden; j < spins(); ++j) c[static_cast<size_t>(j)] = 1;
  return c;
}

Graph EqPropNet::graph() const {
  if (on_graph()) {
    Graph g = structure;
    g.set_edge_weights(w1);
    g.set_biases(bh);
    return g;
  }
  std::vector<Edge> e;
  e.reserve(w1.size());
  for (int32_t i = 0; i < hidden; ++i)
    for (int32_t j = 0; j < outputs(); ++j) e.push_back({i, hidden + j, 1.0f});  // structure; weights below
  std::vector<float> b(bh);
  b.insert(b.end(), bo.begin(), bo.end());
  Graph g = Graph::from_edges(spins(), e, b);
  g.set_edge_weights(w1);  // edge (i, H + j) is number i O + j
  return g;
}

std::vector<float> EqPropNet::target(int32_t label) const {
  if (label < 0 || label >= classes) throw InvalidArgument("label " + std::to_string(label) + " is not a class");
  std::vector<float> t(static_cast<size_t>(outputs()), -1.0f);
  for (int32_t k = 0; k < per_class; ++k) t[static_cast<size_t>(label * per_class + k)] = 1.0f;
  return t;
}

void EqPropNet::hidden_field(const float* x, float field_clip, float* out) const {
  for (int32_t i = 0; i < hidden; ++i) out[i] = 0.0f;
  for (int32_t k = 0; k < inputs; ++k) {
    if (x[k] == 0.0f) continue;
    const float* row = w0.data() + static_cast<size_t>(k) * hidden;
    for (int32_t i = 0; i < hidden; ++i) out[i] += x[k] * row[i];
  }
  if (field_clip > 0)
    for (int32_t i = 0; i < hidden; ++i) out[i] = std::clamp(out[i], -field_clip, field_clip);
}

void EqPropNet::save(const std::string& path) const {
  std::ostringstream f(std::ios::binary);
  detail::put_string(f, topology);
  if (on_graph()) {
    detail::put<int32_t>(f, structure.num_nodes());
    detail::put_vec(f, structure.edge_i());
    detail::put_vec(f, structure.edge_j());
    detail::put_vec(f, node_colors);
    detail::put_vec(f, visible);
    detail::put_vec(f, output_nodes);
    detail::put<float>(f, input_threshold);
  }
  for (int32_t v : {inputs, hidden, classes, per_class}) detail::put<int32_t>(f, v);
  detail::put_vec(f, w0);
  detail::put_vec(f, w1);
  detail::put_vec(f, bh);
  detail::put_vec(f, bo);
  // (from 2026-12-07; an older pbit's reader leaves it unread, so the format is still PBITEQM1)
  if (!trained_with.empty()) detail::put_string(f, trained_with);
  detail::write_checksummed(path, kModelMagic, f.str());
}

EqPropNet EqPropNet::load(const std::string& path) {
  std::istringstream f(detail::read_checksummed(path, kModelMagic, "EqProp model"), std::ios::binary);
  EqPropNet n;
  n.topology = detail::get_string(f, path);
  int64_t edges = 0;
  if (n.on_graph()) {
    // Every array is read (and so known to be in the file) before any work in proportion to the
    // sizes the file declares.
    const auto N = detail::get<int32_t>(f, path);
    if (N < 3 || N > (1 << 24)) throw InvalidArgument("EqProp model '" + path + "' has an impossible graph");
    auto length = [&] {  // the next array's length, left for get_vec to read again
      const auto k = detail::get<uint64_t>(f, path);
      f.seekg(-8, std::ios::cur);
      return k;
    };
    const auto ne = length();
    if (ne > static_cast<uint64_t>(N) * 64) throw InvalidArgument("EqProp model '" + path + "' has an impossible graph");
    const auto ei = detail::get_vec<int32_t>(f, path, ne), ej = detail::get_vec<int32_t>(f, path, ne);
    n.node_colors = detail::get_vec<int32_t>(f, path, static_cast<size_t>(N));
    const auto nv = length();
    if (nv >= static_cast<uint64_t>(N)) throw InvalidArgument("EqProp model '" + path + "' has too many visible nodes");
    n.visible = detail::get_vec<int32_t>(f, path, nv);
    const auto no = length();
    if (no >= static_cast<uint64_t>(N)) throw InvalidArgument("EqProp model '" + path + "' has too many output nodes");
    n.output_nodes = detail::get_vec<int32_t>(f, path, no);
    n.input_threshold = detail::get<float>(f, path);
    if (!(n.input_threshold >= 0.0f && n.input_threshold < 1.0f)) throw InvalidArgument("EqProp model '" + path + "' has a bad input threshold");
    std::vector<Edge> e(ne);
    for (size_t k = 0; k < ne; ++k) e[k] = {ei[k], ej[k], 1.0f};
    n.structure = Graph::from_edges(N, e);  // checks every index; refuses self loops and duplicates
    if (n.structure.num_edges() != static_cast<int64_t>(ne)) throw InvalidArgument("EqProp model '" + path + "' repeats an edge");
    edges = static_cast<int64_t>(ne);
    (void)Coloring(n.structure, n.node_colors);  // a proper coloring, or an error
    std::vector<uint8_t> seen(static_cast<size_t>(N), 0);
    for (const auto* v : {&n.visible, &n.output_nodes})
      for (int32_t i : *v) {
        if (i < 0 || i >= N || seen[static_cast<size_t>(i)]++) throw InvalidArgument("EqProp model '" + path + "' has bad roles");
      }
  }
  n.inputs = detail::get<int32_t>(f, path);
  n.hidden = detail::get<int32_t>(f, path);
  n.classes = detail::get<int32_t>(f, path);
  n.per_class = detail::get<int32_t>(f, path);
  if (n.inputs < 1 || n.inputs > (1 << 20) || n.hidden < 1 || n.hidden > (n.on_graph() ? (1 << 24) : (1 << 16)) || n.classes < 2 || n.classes > 1024 ||
      n.per_class < 1 || n.per_class > 1024) {
    throw InvalidArgument("EqProp model '" + path + "' has an impossible shape");
  }
  if (n.on_graph()) {
    if (n.inputs != static_cast<int32_t>(n.visible.size()) || n.outputs() != static_cast<int32_t>(n.output_nodes.size()) ||
        n.hidden != n.structure.num_nodes() - n.inputs - n.outputs()) {
      throw InvalidArgument("EqProp model '" + path + "' has roles that do not match its shape");
    }
    n.w0 = detail::get_vec<float>(f, path, 0);
    n.w1 = detail::get_vec<float>(f, path, static_cast<size_t>(edges));
    n.bh = detail::get_vec<float>(f, path, static_cast<size_t>(n.structure.num_nodes()));
    n.bo = detail::get_vec<float>(f, path, 0);
  } else {
    n.w0 = detail::get_vec<float>(f, path, static_cast<size_t>(n.inputs) * n.hidden);
    n.w1 = detail::get_vec<float>(f, path, static_cast<size_t>(n.hidden) * n.outputs());
    n.bh = detail::get_vec<float>(f, path, static_cast<size_t>(n.hidden));
    n.bo = detail::get_vec<float>(f, path, static_cast<size_t>(n.outputs()));
  }
  for (const auto* v : {&n.w0, &n.w1, &n.bh, &n.bo})
    for (float w : *v)
      if (!std::isfinite(w)) throw InvalidArgument("EqProp model '" + path + "' holds a non-finite parameter");
  if (detail::bytes_left(f) > 0) {
    const std::string corrupt = "EqProp model '" + path + "' is corrupt: its record of how it was trained is not one";
    // Its length read first and held to 64 KiB, before anything is allocated or parsed (a 20 MB
    // record took 470 MB to parse before the refusal: helper-134); no NUL, where the JSON reader
    // would stop and take what follows for nothing.
    if (detail::bytes_left(f) < 8) throw InvalidArgument(corrupt);
    const auto length = detail::get<uint64_t>(f, path);
    f.seekg(-8, std::ios::cur);
    if (length > 65536) throw InvalidArgument(corrupt);
    n.trained_with = detail::get_string(f, path);
    const nlohmann::json j = nlohmann::json::parse(n.trained_with, nullptr, false);
    // (keys past these, a later pbit's, are left unread, as an older pbit leaves the whole record)
    bool ok = j.is_object() && detail::bytes_left(f) == 0 && n.trained_with.find('\0') == std::string::npos;
    for (const char* k : {"train.field_clip", "free.beta_start", "free.beta_end", "free.anneal_sweeps", "free.samples", "free.steps_per_sample"})
      ok = ok && j.contains(k) && j[k].is_number();
    if (!ok) throw InvalidArgument(corrupt);
  }
  return n;
}

namespace {

/// eqprop_training_record's object, which eqprop_eval_differences compares without writing it out
/// and reading it back.
nlohmann::json training_record(const EqPropConfig& c) {
  using detail::float_json;
  return {{"train.field_clip", float_json(c.field_clip)},
          {"free.beta_start", float_json(c.free.beta_start)},
          {"free.beta_end", float_json(c.free.beta_end)},
          {"free.anneal_sweeps", c.free.anneal_sweeps},
          {"free.samples", c.free.samples},
          {"free.steps_per_sample", c.free.steps_per_sample},
          {"train.mode", c.train_mode},
          {"hardware", c.hardware.ideal() ? nlohmann::json(nullptr) : c.hardware.config_json()}};
}

}  // namespace

std::string eqprop_training_record(const EqPropConfig& c) { return training_record(c).dump(); }

std::vector<std::string> eqprop_eval_differences(const EqPropNet& net, const EqPropConfig& cfg) {
  std::vector<std::string> out;
  if (net.trained_with.empty()) return out;
  // (a record load() has not checked, set by hand, is compared as far as it goes)
  const nlohmann::json was = nlohmann::json::parse(net.trained_with, nullptr, false), now = training_record(cfg);
  if (!was.is_object()) return out;
  // (a graph network's pixels are clamped spins: no field to clip)
  for (const char* k : {"free.beta_start", "free.beta_end", "free.anneal_sweeps", "free.samples", "free.steps_per_sample", "train.field_clip"}) {
    if (net.on_graph() && std::string(k) == "train.field_clip") continue;
    if (!was.contains(k)) continue;
    // The annealed phase's start is read only where it anneals (compared as JSON: a number past an
    // int's range, or no number, in a record set by hand).
    if (std::string(k) == "free.beta_start" && now["free.anneal_sweeps"] == 0 && was.contains("free.anneal_sweeps") &&
        was["free.anneal_sweeps"] == 0) {
      continue;
    }
    if (now[k] != was[k]) out.push_back(std::string(k) + " " + now[k].dump() + " (trained with " + was[k].dump() + ")");
  }
  return out;
}

// ---------------------------------------------------------------- the estimator

namespace {

/// The estimator on a hardware-graph network: inputs clamped, the nudge a field on the output spins,
/// every coupling and bias from the phases' moments (clamped visible spins get no gradient: they are
/// the same in both phases).
EqPropGradient gradient_on_graph(const EqPropNet& net, Sampler& s, const std::vector<float>& x, const std::vector<int32_t>& labels,
                                 const EqPropConfig& cfg, Sampler* ideal) {
  const auto M = static_cast<int64_t>(labels.size());
  const int32_t cpi = static_cast<int32_t>(s.num_chains() / M);
  EqPropGradient g;
  g.images = M;
  prepare_free(net, s, x, M, cpi, cfg.field_clip);
  ObserverSpec spec;
  spec.moments = true;
  spec.readout_groups = class_groups(net);
  const SamplingSchedule fsch = free_schedule(cfg);
  const Observations fr = s.run(fsch, free_beta(cfg), spec);
  g.flips += static_cast<double>(s.num_chains()) * sampled_spins(net) * fsch.total_sweeps();
  bool all_exact = true;
  const double full = static_cast<double>(cpi) * static_cast<double>(fsch.samples) * net.per_class;
  for (int64_t m = 0; m < M; ++m) {
    const int32_t label = labels[static_cast<size_t>(m)];
    std::vector<double> score(static_cast<size_t>(net.classes), 0.0);
    for (int32_t c = 0; c < cpi; ++c)
      for (int32_t k = 0; k < net.classes; ++k) {
        score[static_cast<size_t>(k)] += static_cast<double>(fr.readout_sum[static_cast<size_t>((m * cpi + c) * net.classes + k)]);
      }
    for (int32_t k = 0; k < net.classes; ++k) {
      const double t = k == label ? 1.0 : -1.0;
      g.free_cost += net.per_class - t * score[static_cast<size_t>(k)] / (full / net.per_class);
      if (score[static_cast<size_t>(k)] != t * full) all_exact = false;
    }
    if (std::max_element(score.begin(), score.end()) - score.begin() == label) ++g.free_correct;
  }
  g.free_cost /= static_cast<double>(M);
  g.w1.assign(net.w1.size(), 0.0);
  g.bh.assign(net.bh.size(), 0.0);
  if (cfg.skip_when_correct && all_exact) return g;
  g.nudged = M;
  const SamplingSchedule nsch{cfg.nudge.sweeps, cfg.nudge.samples, cfg.nudge.steps_per_sample};
  const BetaSchedule nbeta = BetaSchedule::per_sweep(detail::eqprop_nudge_betas(cfg));
  ObserverSpec mom;
  mom.moments = true;
  // PAT: the nudged phases and their reference on the ideal sampler, from the device's free state.
  Sampler& ns = ideal ? *ideal : s;
  const bool own_reference = cfg.nudge.symmetric || ideal;
  const std::vector<int8_t> free_state = own_reference ? s.state() : std::vector<int8_t>{};
  if (ideal) {
    set_net_weights(net, *ideal);
    clamp_inputs(net, *ideal, x, M, cpi);
    ideal->set_state(free_state);
  }
  auto nudged = [&](float b) {
    nudge_outputs(net, ns, &labels, M, cpi, b);
    g.flips += static_cast<double>(ns.num_chains()) * sampled_spins(net) * nsch.total_sweeps();
    return ns.run(nsch, nbeta, mom);
  };
  const Observations a = nudged(cfg.nudge.beta);
  Observations bneg;
  int64_t nb_samples = fsch.samples;
  if (own_reference) {
    ns.set_state(free_state);
    bneg = nudged(cfg.nudge.symmetric ? -cfg.nudge.beta : 0.0f);
    nb_samples = nsch.samples;
  }
  const Observations& b = own_reference ? bneg : fr;
  const double den = cfg.nudge.symmetric ? 2.0 * cfg.nudge.beta : cfg.nudge.beta;
  const double na = static_cast<double>(s.num_chains()) * static_cast<double>(nsch.samples);
  const double nbd = static_cast<double>(s.num_chains()) * static_cast<double>(nb_samples);
  for (size_t e = 0; e < g.w1.size(); ++e) {
    g.w1[e] = -(static_cast<double>(a.edge_sum[e]) / na - static_cast<double>(b.edge_sum[e]) / nbd) / den;
  }
  for (size_t i = 0; i < g.bh.size(); ++i) {
    g.bh[i] = -(static_cast<double>(a.node_sum[i]) / na - static_cast<double>(b.node_sum[i]) / nbd) / den;
  }
  return g;
}

}  // namespace

EqPropGradient eqprop_gradient(const EqPropNet& net, Sampler& s, const std::vector<float>& x, const std::vector<int32_t>& labels,
                               const EqPropConfig& cfg, Sampler* ideal) {
  const auto M = static_cast<int64_t>(labels.size());
  if (M < 1 || s.num_chains() % M != 0 || s.num_nodes() != net.spins() || static_cast<int64_t>(x.size()) != M * net.inputs) {
    throw InvalidArgument("eqprop_gradient: the sampler's chains must be a multiple of the images, on the net's graph");
  }
  if (ideal && (ideal->num_chains() != s.num_chains() || ideal->num_nodes() != s.num_nodes())) {
    throw InvalidArgument("eqprop_gradient: the ideal sampler of physics-aware training must have the device sampler's chains and nodes");
  }
  if (net.on_graph()) return gradient_on_graph(net, s, x, labels, cfg, ideal);
  const int32_t N = net.spins(), H = net.hidden, O = net.outputs();
  const int32_t cpi = static_cast<int32_t>(s.num_chains() / M);
  EqPropGradient g;
  g.images = M;
  prepare_free(net, s, x, M, cpi, cfg.field_clip);  // the free phase starts from a fresh random state
  const PhaseStats fr = observe(s, free_schedule(cfg), free_beta(cfg));
  g.flips += static_cast<double>(s.num_chains()) * sampled_spins(net) * free_schedule(cfg).total_sweeps();
  std::vector<double> mh0(static_cast<size_t>(M * H)), mo0(static_cast<size_t>(M * O));
  bool all_exact = true;
  for (int64_t m = 0; m < M; ++m) {
    for (int32_t i = 0; i < H; ++i) mh0[static_cast<size_t>(m * H + i)] = image_mean(fr, N, cpi, m, i);
    const std::vector<float> t = net.target(labels[static_cast<size_t>(m)]);
    std::vector<double> score(static_cast<size_t>(net.classes), 0.0);
    for (int32_t j = 0; j < O; ++j) {
      const double o = image_mean(fr, N, cpi, m, H + j);
      mo0[static_cast<size_t>(m * O + j)] = o;
      g.free_cost += 1.0 - o * t[static_cast<size_t>(j)];
      score[static_cast<size_t>(j / net.per_class)] += o;
      if (o * t[static_cast<size_t>(j)] != 1.0) all_exact = false;
    }
    const auto best = std::max_element(score.begin(), score.end()) - score.begin();
    if (best == labels[static_cast<size_t>(m)]) ++g.free_correct;
  }
  g.free_cost /= static_cast<double>(M);
  g.w0.assign(net.w0.size(), 0.0);
  g.w1.assign(net.w1.size(), 0.0);
  g.bh.assign(net.bh.size(), 0.0);
  g.bo.assign(net.bo.size(), 0.0);
  if (cfg.skip_when_correct && all_exact) return g;  // the free phase already sits on every target
  g.nudged = M;
  // Nudged phase(s), from the free state; with PAT on the ideal sampler, which also measures the
  // reference (b = 0) from the same state.
  const std::vector<float> betas = detail::eqprop_nudge_betas(cfg);
  const SamplingSchedule nsch{cfg.nudge.sweeps, cfg.nudge.samples, cfg.nudge.steps_per_sample};
  Sampler& ns = ideal ? *ideal : s;
  const bool own_reference = cfg.nudge.symmetric || ideal;
  const std::vector<int8_t> free_state = own_reference ? s.state() : std::vector<int8_t>{};
  if (ideal) {
    set_net_weights(net, *ideal);
    ideal->set_state(free_state);
  }
  auto nudged = [&](float b) {
    ns.set_field({}, chain_fields(net, x, M, cpi, cfg.field_clip, &labels, b));
    g.flips += static_cast<double>(ns.num_chains()) * sampled_spins(net) * nsch.total_sweeps();
    return observe(ns, nsch, BetaSchedule::per_sweep(betas));
  };
  const PhaseStats a = nudged(cfg.nudge.beta);
  PhaseStats bneg;
  if (own_reference) {
    ns.set_state(free_state);
    bneg = nudged(cfg.nudge.symmetric ? -cfg.nudge.beta : 0.0f);
  }
  const PhaseStats& b = own_reference ? bneg : fr;
  const double den = cfg.nudge.symmetric ? 2.0 * cfg.nudge.beta : cfg.nudge.beta;
  const double na = static_cast<double>(s.num_chains()) * static_cast<double>(a.samples);
  const double nb = static_cast<double>(s.num_chains()) * static_cast<double>(b.samples);
  // dE/dW1_ij = -h_i o_j: g = -(<h o>_a - <h o>_b) / den, edge i O + j.
  for (size_t e = 0; e < g.w1.size(); ++e) {
    g.w1[e] = -(static_cast<double>(a.obs.edge_sum[e]) / na - static_cast<double>(b.obs.edge_sum[e]) / nb) / den;
  }
  for (int32_t i = 0; i < H; ++i) {
    g.bh[static_cast<size_t>(i)] = -(static_cast<double>(a.obs.node_sum[static_cast<size_t>(i)]) / na -
                                     static_cast<double>(b.obs.node_sum[static_cast<size_t>(i)]) / nb) / den;
  }
  for (int32_t j = 0; j < O; ++j) {
    g.bo[static_cast<size_t>(j)] = -(static_cast<double>(a.obs.node_sum[static_cast<size_t>(H + j)]) / na -
                                     static_cast<double>(b.obs.node_sum[static_cast<size_t>(H + j)]) / nb) / den;
  }
  // dE/dW0_ki = -x_k h_i, per image: g = -(1/M) sum_m x_mk (<h_i>_a,m - <h_i>_b,m) / den.
  std::vector<double> dh(static_cast<size_t>(H));
  for (int64_t m = 0; m < M; ++m) {
    for (int32_t i = 0; i < H; ++i) {
      const double hb = own_reference ? image_mean(b, N, cpi, m, i) : mh0[static_cast<size_t>(m * H + i)];
      dh[static_cast<size_t>(i)] = (image_mean(a, N, cpi, m, i) - hb) / (den * static_cast<double>(M));
    }
    const float* xm = x.data() + m * net.inputs;
    for (int32_t k = 0; k < net.inputs; ++k) {
      if (xm[k] == 0.0f) continue;
      double* row = g.w0.data() + static_cast<size_t>(k) * H;
      for (int32_t i = 0; i < H; ++i) row[i] -= xm[k] * dh[static_cast<size_t>(i)];
    }
  }
  return g;
}

std::vector<double> eqprop_scores(const EqPropNet& net, Sampler& s, const std::vector<float>& x, int64_t images,
                                  const EqPropConfig& cfg, double* flips) {
  const int32_t cpi = static_cast<int32_t>(s.num_chains() / images);
  prepare_free(net, s, x, images, cpi, cfg.field_clip);
  ObserverSpec spec;
  spec.readout_groups = class_groups(net);
  const SamplingSchedule sch = free_schedule(cfg);
  const Observations o = s.run(sch, free_beta(cfg), spec);
  if (flips) *flips += static_cast<double>(s.num_chains()) * sampled_spins(net) * sch.total_sweeps();
  std::vector<double> score(static_cast<size_t>(images * net.classes), 0.0);
  const double den = static_cast<double>(cpi) * static_cast<double>(sch.samples) * net.per_class;
  for (int64_t m = 0; m < images; ++m)
    for (int32_t c = 0; c < cpi; ++c)
      for (int32_t k = 0; k < net.classes; ++k) {
        score[static_cast<size_t>(m * net.classes + k)] +=
            static_cast<double>(o.readout_sum[static_cast<size_t>((m * cpi + c) * net.classes + k)]) / den;
      }
  return score;
}

std::vector<float> eqprop_inputs(const ImageDataset& d, const std::vector<int64_t>& index, int64_t first, int64_t n) {
  detail::check_image_selection(d, index, first, n, "EqProp inputs");
  const int32_t P = d.pixels_per_image();
  std::vector<float> x(static_cast<size_t>(n) * P);
  for (int64_t m = 0; m < n; ++m) {
    const uint8_t* px = d.image(index[static_cast<size_t>(first + m)]);
    for (int32_t k = 0; k < P; ++k) x[static_cast<size_t>(m * P + k)] = static_cast<float>(px[k]) / 255.0f;
  }
  return x;
}

std::vector<int64_t> eqprop_select(const ImageDataset& d, int64_t limit, bool balanced, int32_t classes) {
  d.check("EqProp selection");
  std::vector<int64_t> idx;
  // (before "all": parse_eqprop_config refuses the count before the data's size is known, and a
  // config must not pass one command and fail the other: helper-92)
  if (balanced && limit > 0 && limit % classes != 0) {
    throw InvalidConfig("data.train_images / data.test_images (or --test-images): with data.balanced, a class-balanced selection "
                        "needs a multiple of " + std::to_string(classes) + " images, got " + std::to_string(limit));
  }
  if (limit <= 0 || limit >= d.size()) {
    idx.resize(static_cast<size_t>(d.size()));
    for (int64_t k = 0; k < d.size(); ++k) idx[static_cast<size_t>(k)] = k;
    return idx;
  }
  if (!balanced) {
    for (int64_t k = 0; k < limit; ++k) idx.push_back(k);
    return idx;
  }
  const int64_t per = limit / classes;
  std::vector<int64_t> taken(static_cast<size_t>(classes), 0);
  for (int64_t k = 0; k < d.size() && static_cast<int64_t>(idx.size()) < limit; ++k) {
    const int32_t c = d.labels[static_cast<size_t>(k)];
    if (c < classes && taken[static_cast<size_t>(c)] < per) {
      ++taken[static_cast<size_t>(c)];
      idx.push_back(k);
    }
  }
  if (static_cast<int64_t>(idx.size()) < limit) {
    const auto few = std::min_element(taken.begin(), taken.end());
    throw InvalidConfig("data.train_images / data.test_images (or --test-images): with data.balanced, " + std::to_string(limit) +
                        " images need " + std::to_string(per) + " of each class, and class " + std::to_string(few - taken.begin()) +
                        " has " + std::to_string(*few) + " (ask for at most " + std::to_string(*few * classes) +
                        ", or all of them with 0, or set data.balanced false)");
  }
  std::sort(idx.begin(), idx.end());
  return idx;
}

namespace {

/// What a batch of `chains` chains costs beside the network, checked before any sampler is built:
/// each sampler's chains as its backend lays them out (and its graph), the per-chain fields (built,
/// then copied three times inside Sampler::set_field: 16 bytes a spin), and each live phase's read-out,
/// one group per node (16 bytes a spin). Measured against the guard's old 8 bytes a spin, a training
/// batch took about 3x the limit before the last check fired.
void check_eqprop_memory(const Graph& g, Backend backend, int64_t chains, int samplers, int phases, const std::string& what) {
  const double spins = static_cast<double>(chains) * g.num_nodes();
  detail::check_memory(samplers * (Sampler::state_bytes(backend, chains, g.num_nodes()) + graph_bytes(g.num_nodes(), g.num_edges())) +
                           16.0 * spins + 16.0 * phases * spins,
                       what);
}

}  // namespace

EqPropEval eqprop_evaluate(const EqPropNet& net, const ImageDataset& d, const std::vector<int64_t>& index,
                           const EqPropConfig& cfg, const std::string& progress_label) {
  detail::check_image_selection(d, index, 0, static_cast<int64_t>(index.size()), "EqProp evaluation");
  const double t0 = detail::monotonic_s();
  EqPropEval ev;
  ev.images = static_cast<int64_t>(index.size());
  ev.confusion.assign(static_cast<size_t>(net.classes * net.classes), 0);
  const Graph g = net.graph();
  {
    const int64_t n = std::min<int64_t>(cfg.eval_batch_images, ev.images);
    const Backend backend = sampler_options(cfg.backend, cfg.seed, rng::eqprop_stream(rng::EqPropUse::eval), cfg.threads).backend;
    check_eqprop_memory(g, backend, std::max<int64_t>(1, n) * cfg.eval_chains_per_image, 1, 1, "EqProp evaluation of " + std::to_string(n) + " images at once (eval.batch_images) x " +
                                  std::to_string(cfg.eval_chains_per_image) + " chains each (eval.chains_per_image)");
  }
  const Coloring col(g, net.colors());
  if (ev.images * cfg.eval_chains_per_image > (int64_t{1} << 32)) {  // (ids 0 .. 2^32 - 1, as the Sampler allows)
    throw InvalidArgument("EqProp evaluation: " + std::to_string(ev.images) + " images x " + std::to_string(cfg.eval_chains_per_image) +
                          " chains each (eval.chains_per_image) number more chains than a sampler's chain ids hold (2^32)");
  }
  std::unique_ptr<detail::Progress> prog;
  if (!progress_label.empty()) prog = std::make_unique<detail::Progress>(progress_label, ev.images);
  for (int64_t first = 0; first < ev.images; first += cfg.eval_batch_images) {
    const int64_t n = std::min(cfg.eval_batch_images, ev.images - first);
    // Each batch on a sampler of its own, its chains numbered from its first image's and its count
    // from 0: an image's draws are keyed by its place in the selection (seed, chain = place x
    // chains_per_image + copy, node, sweep), not by the batches before it, so eval.batch_images
    // changes the memory and speed and never a prediction - a GPU evaluating 10,000 images at once
    // predicts what the CPU did in batches of 1,000. (One sampler running every batch gave the second
    // batch's images the draws of sweeps past the first's; a sampler numbering its chains from 0
    // gave a smaller last batch the first's draws: helper-124.) Each batch's count starting at 0,
    // no number of batches can take a sampler past 2^32 - 1 sweeps (the config's free phase is checked
    // against that when it is read).
    SamplerOptions so = sampler_options(cfg.backend, cfg.seed, rng::eqprop_stream(rng::EqPropUse::eval), cfg.threads);
    so.hardware = cfg.hardware;  // evaluation runs on the device
    so.first_chain = static_cast<uint32_t>(first * cfg.eval_chains_per_image);
    Sampler s(g, col, static_cast<int32_t>(n * cfg.eval_chains_per_image), so);
    const std::vector<double> sc = eqprop_scores(net, s, eqprop_inputs(d, index, first, n), n, cfg, &ev.flips);
    for (int64_t m = 0; m < n; ++m) {
      const auto* row = sc.data() + m * net.classes;
      const int32_t pred = static_cast<int32_t>(std::max_element(row, row + net.classes) - row);
      const int32_t truth = d.labels[static_cast<size_t>(index[static_cast<size_t>(first + m)])];
      if (truth >= net.classes) throw InvalidArgument("label " + std::to_string(truth) + " is not one of the net's classes");
      ++ev.confusion[static_cast<size_t>(truth * net.classes + pred)];
      ev.predictions.push_back(pred);
      if (pred == truth) ++ev.correct;
    }
    if (prog) prog->update(first + n);
  }
  ev.accuracy = ev.images ? static_cast<double>(ev.correct) / static_cast<double>(ev.images) : 0.0;
  ev.wall_s = detail::monotonic_s() - t0;
  return ev;
}

// ---------------------------------------------------------------- training

EqPropTrainer::EqPropTrainer(EqPropNet& net, const EqPropConfig& cfg, const ImageDataset& train, std::vector<int64_t> train_index,
                             const ImageDataset& test, std::vector<int64_t> test_index)
    : net_(net), cfg_(cfg), train_(train), test_(test), train_index_(std::move(train_index)), test_index_(std::move(test_index)) {
  detail::check_image_selection(train_, train_index_, 0, static_cast<int64_t>(train_index_.size()), "EqProp training set");
  detail::check_image_selection(test_, test_index_, 0, static_cast<int64_t>(test_index_.size()), "EqProp test set");
  if (static_cast<int64_t>(train_index_.size()) < cfg_.batch_size) {
    throw InvalidConfig("key 'train.batch_size': " + std::to_string(cfg_.batch_size) + " is more than the " +
                        std::to_string(train_index_.size()) + " training images");
  }
  const Graph g = net_.graph();
  SamplerOptions so = sampler_options(cfg_.backend, cfg_.seed, rng::eqprop_stream(rng::EqPropUse::train), cfg_.threads);
  // The free, nudged and reference phases' read-outs may be alive at once; pat adds the ideal sampler.
  check_eqprop_memory(g, so.backend, static_cast<int64_t>(cfg_.batch_size) * cfg_.chains_per_image, cfg_.train_mode == "pat" ? 2 : 1, 3,
                      "EqProp training of " + std::to_string(cfg_.batch_size) + " images a batch (train.batch_size) x " +
                          std::to_string(cfg_.chains_per_image) + " chains each (train.chains_per_image)");
  if (cfg_.train_mode != "ideal") so.hardware = cfg_.hardware;  // pat and in_situ: the free phase on the device
  sampler_ = std::make_unique<Sampler>(g, Coloring(g, net_.colors()), cfg_.batch_size * cfg_.chains_per_image, so);
  if (cfg_.train_mode == "pat") {
    ideal_sampler_ = std::make_unique<Sampler>(g, Coloring(g, net_.colors()), cfg_.batch_size * cfg_.chains_per_image,
                                               sampler_options(cfg_.backend, cfg_.seed, rng::eqprop_stream(rng::EqPropUse::pat), cfg_.threads));
  }
  net_.trained_with = eqprop_training_record(cfg_);  // (model.bin says how to read it out)
  const size_t sizes[4] = {net_.w0.size(), net_.w1.size(), net_.bh.size(), net_.bo.size()};
  if (cfg_.optimizer == "adam")
    for (int k = 0; k < 4; ++k) m_[k].assign(sizes[k], 0.0), v_[k].assign(sizes[k], 0.0);
}

EqPropTrainer::~EqPropTrainer() = default;

void EqPropTrainer::check_sweeps_left(int64_t per_epoch) const {
  // Each batch runs the free phase on the training sampler, and the nudged phase(s) on it or, under
  // PAT, on the ideal sampler; skip_when_correct may skip the nudges. A run past one sampler's sweeps
  // stopped with an error in a late epoch, and its resume stopped again (helper-113).
  const auto free = static_cast<double>(free_schedule(cfg_).total_sweeps());
  const double nudges = (cfg_.nudge.symmetric || ideal_sampler_ ? 2.0 : 1.0) *
                        static_cast<double>(SamplingSchedule{cfg_.nudge.sweeps, cfg_.nudge.samples, cfg_.nudge.steps_per_sample}.total_sweeps());
  const double batches = static_cast<double>(cfg_.epochs - epoch_) * static_cast<double>(per_epoch) - static_cast<double>(batch_);
  const std::string left = "the " + detail::format_number(batches) + " batches left (train.epochs " + std::to_string(cfg_.epochs) + " x " +
                           std::to_string(per_epoch) + " batches of train.batch_size " + std::to_string(cfg_.batch_size) + ")";
  const std::string cure = "train fewer epochs, on fewer images or in larger batches, or with fewer sweeps a batch (free, nudge)";
  const std::string varies = "with every nudge; train.skip_when_correct skips some";
  if (ideal_sampler_) {
    detail::check_sampler_sweeps_left({"the training sampler", "sweeps", static_cast<double>(sampler_->sweep_count()), batches, free, free, ""},
                                      left, cure, cfg_.time_budget_s);
    detail::check_sampler_sweeps_left({"the ideal sampler (train.mode pat)", "sweeps", static_cast<double>(ideal_sampler_->sweep_count()),
                                       batches, cfg_.skip_when_correct ? 0 : nudges, nudges, varies},
                                      left, cure, cfg_.time_budget_s);
  } else {
    detail::check_sampler_sweeps_left({"the training sampler", "sweeps", static_cast<double>(sampler_->sweep_count()), batches,
                                       cfg_.skip_when_correct ? free : free + nudges, free + nudges, varies},
                                      left, cure, cfg_.time_budget_s);
  }
}

void EqPropTrainer::step(const EqPropGradient& g) {
  ++updates_;
  std::vector<float>* p[4] = {&net_.w0, &net_.w1, &net_.bh, &net_.bo};
  const std::vector<double>* d[4] = {&g.w0, &g.w1, &g.bh, &g.bo};
  for (int k = 0; k < 4; ++k) {
    const double lr = (k < 2 ? cfg_.lr_weights : cfg_.lr_biases) * std::pow(static_cast<double>(cfg_.lr_decay), epoch_);
    std::vector<float>& w = *p[k];
    const std::vector<double>& gr = *d[k];
    if (cfg_.optimizer == "adam") {
      detail::adam_update(std::span(w), std::span(gr), std::span(m_[k]), std::span(v_[k]), lr, cfg_.adam_b1, cfg_.adam_b2, updates_,
                          detail::AdamDirection::descend);
    } else {
      for (size_t q = 0; q < w.size(); ++q) w[q] = static_cast<float>(w[q] - lr * gr[q]);
    }
    if (cfg_.clip > 0)
      for (float& x : w) x = std::clamp(x, -cfg_.clip, cfg_.clip);
  }
}

void EqPropTrainer::run(const std::function<void(const EqPropEpoch&)>& on_epoch) {
  const int64_t per_epoch = static_cast<int64_t>(train_index_.size()) / cfg_.batch_size;
  check_sweeps_left(per_epoch);
  const std::string ckpt = cfg_.output_dir + "/checkpoint.bin";
  out_of_time_ = false;
  for (; epoch_ < cfg_.epochs; ++epoch_) {
    // The epoch's order: a Fisher-Yates shuffle keyed by (seed, epoch).
    std::vector<int64_t> order(train_index_);
    rng::PhiloxStream rs(cfg_.seed, rng::eqprop_stream(rng::EqPropUse::shuffle), static_cast<uint32_t>(epoch_));
    rs.shuffle(order);
    detail::Progress prog("eqprop epoch " + std::to_string(epoch_ + 1) + "/" + std::to_string(cfg_.epochs), per_epoch);
    const double t0 = detail::monotonic_s();
    for (; batch_ < per_epoch; ++batch_) {
      if (detail::time_budget_spent(cfg_.time_budget_s, train_seconds(), &epoch_wall_, t0)) {
        save_checkpoint(ckpt);
        out_of_time_ = true;
        return;
      }
      std::vector<int32_t> labels(static_cast<size_t>(cfg_.batch_size));
      for (int32_t m = 0; m < cfg_.batch_size; ++m) {
        labels[static_cast<size_t>(m)] = train_.labels[static_cast<size_t>(order[static_cast<size_t>(batch_ * cfg_.batch_size + m)])];
      }
      const std::vector<float> x = eqprop_inputs(train_, order, batch_ * cfg_.batch_size, cfg_.batch_size);
      const EqPropGradient g = eqprop_gradient(net_, *sampler_, x, labels, cfg_, ideal_sampler_.get());
      epoch_correct_ += static_cast<double>(g.free_correct);
      epoch_cost_ += g.free_cost * static_cast<double>(g.images);
      epoch_flips_ += g.flips;
      if (g.nudged > 0) step(g);
      char extra[96];
      std::snprintf(extra, sizeof extra, "train acc %.3f", epoch_correct_ / static_cast<double>((batch_ + 1) * cfg_.batch_size));
      prog.update(batch_ + 1, extra);
      detail::save_mid_epoch(cfg_.checkpoint_every_batches, per_epoch, batch_, [&] { save_checkpoint(ckpt); }, &epoch_wall_, t0);
    }
    epoch_wall_ += detail::monotonic_s() - t0;
    EqPropEpoch e;
    e.epoch = epoch_ + 1;
    e.updates = updates_;
    e.train_accuracy = epoch_correct_ / static_cast<double>(per_epoch * cfg_.batch_size);
    e.train_cost = epoch_cost_ / static_cast<double>(per_epoch * cfg_.batch_size);
    e.flips = epoch_flips_;
    e.wall_s = epoch_wall_;
    if (!test_index_.empty()) e.test_accuracy = eqprop_evaluate(net_, test_, test_index_, cfg_).accuracy;
    std::fprintf(stderr, "epoch %d: train acc %.4f (free phase), cost %.3f, test acc %.4f, %.1f s\n", e.epoch, e.train_accuracy,
                 e.train_cost, e.test_accuracy, e.wall_s);
    history_.push_back(e);
    batch_ = 0;
    epoch_correct_ = epoch_cost_ = epoch_flips_ = epoch_wall_ = 0;
    if (on_epoch) on_epoch(e);
    ++epoch_;
    save_checkpoint(ckpt);
    --epoch_;
  }
}

namespace {

/// What must match for a checkpoint to continue a run: everything that shapes training (not epochs,
/// evaluation, threads, backend or where outputs go).
uint64_t fingerprint(const EqPropConfig& c, const EqPropNet& n) {
  std::ostringstream f;
  f.precision(9);
  f << c.dataset << '|' << c.train_images << '|' << c.balanced << '|' << n.inputs << '|' << c.hidden << '|' << c.classes << '|'
    << c.per_class << '|' << c.init_gain_w0 << '|' << c.init_gain_w1 << '|' << c.free.beta_start << '|' << c.free.beta_end << '|'
    << c.free.anneal_sweeps << '|' << c.free.samples << '|' << c.free.steps_per_sample << '|' << c.nudge.beta << '|'
    << c.nudge.symmetric << '|' << c.nudge.schedule << '|' << c.nudge.reheat << '|' << c.nudge.sweeps << '|' << c.nudge.samples
    << '|' << c.nudge.steps_per_sample << '|' << c.batch_size << '|' << c.chains_per_image << '|' << c.optimizer << '|'
    << c.lr_weights << '|' << c.lr_biases << '|' << c.lr_decay << '|' << c.adam_b1 << '|' << c.adam_b2 << '|' << c.clip << '|' << c.field_clip << '|'
    << c.skip_when_correct << '|' << c.seed << '|' << c.topology << '|' << c.role_seed << '|' << c.init_sigma_j << '|' << c.threshold;
  if (c.train_mode != "ideal") f << '|' << c.train_mode << '|' << c.hardware.to_json().dump();
  return detail::fnv1a(f.str());
}

nlohmann::json history_json(const std::vector<EqPropEpoch>& h) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& e : h) {
    a.push_back({{"epoch", e.epoch}, {"updates", e.updates}, {"train_accuracy", e.train_accuracy}, {"train_cost", e.train_cost},
                 {"test_accuracy", e.test_accuracy}, {"wall_s", e.wall_s}, {"flips", e.flips}});
  }
  return a;
}

}  // namespace

double EqPropTrainer::train_seconds() const {
  double s = epoch_wall_;
  for (const auto& e : history_) s += e.wall_s;
  return s;
}

double EqPropTrainer::train_flips() const {
  double f = epoch_flips_;
  for (const auto& e : history_) f += e.flips;
  return f;
}

void EqPropTrainer::save_checkpoint(const std::string& path) const {
  std::ostringstream f(std::ios::binary);
  detail::put_position(f, fingerprint(cfg_, net_), {epoch_, batch_, updates_});
  for (double v : {epoch_correct_, epoch_cost_, epoch_flips_, epoch_wall_}) detail::put<double>(f, v);
  detail::put<uint64_t>(f, sampler_->sweep_count());
  if (ideal_sampler_) detail::put<uint64_t>(f, ideal_sampler_->sweep_count());
  detail::put_vec(f, net_.w0);
  detail::put_vec(f, net_.w1);
  detail::put_vec(f, net_.bh);
  detail::put_vec(f, net_.bo);
  for (int k = 0; k < 4; ++k) detail::put_vec(f, m_[k]), detail::put_vec(f, v_[k]);
  detail::put_string(f, history_json(history_).dump());
  detail::write_checksummed(path, kCkptMagic, f.str());
}

void EqPropTrainer::load_checkpoint(const std::string& path) {
  std::istringstream f(detail::read_checksummed(path, kCkptMagic, "EqProp checkpoint"), std::ios::binary);
  using detail::get;
  const auto at = detail::get_position(f, path, "checkpoint", fingerprint(cfg_, net_), static_cast<int64_t>(train_index_.size()) / cfg_.batch_size,
                                      kMaxEpochs, cfg_.epochs, detail::kClassifierResumeHint);
  epoch_ = at.epoch, batch_ = at.batch, updates_ = at.updates;
  epoch_correct_ = detail::get_tally(f, path, "checkpoint");
  epoch_cost_ = detail::get_tally(f, path, "checkpoint");
  epoch_flips_ = detail::get_tally(f, path, "checkpoint");
  epoch_wall_ = detail::get_tally(f, path, "checkpoint", true, detail::kMostTallySeconds);
  sampler_->set_sweep_count(detail::get_sweep_count(f, path, "checkpoint"));
  if (ideal_sampler_) ideal_sampler_->set_sweep_count(detail::get_sweep_count(f, path, "checkpoint"));
  for (std::vector<float>* a : {&net_.w0, &net_.w1, &net_.bh, &net_.bo}) *a = detail::get_finite_vec<float>(f, path, a->size(), "checkpoint");
  for (int k = 0; k < 4; ++k) {
    m_[k] = detail::get_finite_vec<double>(f, path, m_[k].size(), "checkpoint");
    v_[k] = detail::get_finite_vec<double>(f, path, v_[k].size(), "checkpoint");
    if (cfg_.optimizer == "adam") detail::check_second_moments(v_[k], path, "checkpoint");
  }
  // The history's numbers in range and its epochs 1, 2, ... (an epoch of 7.5 was truncated, an
  // accuracy of -5 went into results.json: helper-91 on the DBM's and DTM's, checked since d3ada1c).
  history_ = detail::get_history<EqPropEpoch>(f, path, "checkpoint", epoch_, [](const nlohmann::json& e) {
    using detail::history_number;
    const double most = detail::kMostTally;
    EqPropEpoch x;
    x.epoch = static_cast<int32_t>(history_number(e.at("epoch"), 1, kMaxEpochs, true));
    x.updates = static_cast<int64_t>(history_number(e.at("updates"), 0, 9.0e15, true));
    x.train_accuracy = history_number(e.at("train_accuracy"), 0, 1);
    x.train_cost = history_number(e.at("train_cost"), 0, most);
    x.test_accuracy = detail::history_number_or_none(e.at("test_accuracy"), 0, 1);  // -1: no test images
    x.wall_s = history_number(e.at("wall_s"), 0, detail::kMostTallySeconds);
    x.flips = history_number(e.at("flips"), 0, most);
    return x;
  });
  detail::check_history_epochs(history_, epoch_, path, "checkpoint");
}

}  // namespace pbit
