#include "pbit/models/dtm_model.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <numeric>

#include "models/common/image_selection.hpp"
#include "models/common/adam.hpp"
#include "models/common/checkpoint.hpp"
#include "models/common/sweep_limit.hpp"
#include "util/binary_io.hpp"
#include "util/file_formats.hpp"
#include "util/json_util.hpp"
#include "util/memory.hpp"
#include "util/progress.hpp"
#include "pbit/error.hpp"
#include "pbit/core/config.hpp"
#include "pbit/core/io.hpp"
#include "pbit/models/metrics.hpp"
#include "pbit/core/rng.hpp"
#include "pbit/dist/comm.hpp"
#include "pbit/hardware/topology.hpp"

namespace pbit {

// ------------------------------------------------------------------ config

namespace {

constexpr int32_t kMaxEpochs = 100000;  ///< train.epochs' range, and what a checkpoint may say
/// The forward noise's tag for the autocorrelation probe's x^t. Training tags its noise with the epoch
/// (0 .. kMaxEpochs - 1); the probe's tag was 0xAC, epoch 172's.
constexpr uint32_t kProbeNoiseTag = 0xFFFFFFACu;
static_assert(kProbeNoiseTag > static_cast<uint32_t>(kMaxEpochs), "the probe's noise must not be an epoch's");

void parse_schedule(const nlohmann::json& j, const std::string& where, SamplingSchedule& s, bool tempering = false) {
  using namespace detail;
  if (tempering) only_keys(j, where, {"warmup", "samples", "steps_per_sample", "tempering"});
  else only_keys(j, where, {"warmup", "samples", "steps_per_sample"});
  const int64_t big = int64_t{1} << 32;
  if (j.contains("warmup")) s.warmup = get_int(j["warmup"], where + ".warmup", 0, big);
  if (j.contains("samples")) s.samples = get_int(j["samples"], where + ".samples", 1, big);
  if (j.contains("steps_per_sample")) s.steps_per_sample = get_int(j["steps_per_sample"], where + ".steps_per_sample", 1, big);
  // What one sampler cannot run is refused here, by name, before anything multiplies the fields (a
  // product of 2^32 x 2^32 wrapped) and before a run loads its data (helper-113).
  if (const std::string past = s.past_sweep_limit(); !past.empty()) config_error(where, past);
}

}  // namespace

DtmConfig parse_dtm_config(const nlohmann::json& j) {
  using namespace detail;
  DtmConfig c;
  c.source = j;
  const int64_t big = int64_t{1} << 40;
  detail::only_config_sections(j, detail::ConfigKind::dtm);
  if (j.contains("dataset")) {
    const auto& d = j["dataset"];
    only_keys(d, "dataset", {"name", "dir", "train_limit", "pool", "threshold"});
    if (d.contains("name")) c.dataset = get_string(d["name"], "dataset.name", {"mnist", "fashion-mnist"});
    if (d.contains("dir")) c.data_dir = get_path(d["dir"], "dataset.dir");
    if (d.contains("train_limit")) c.train_limit = get_int(d["train_limit"], "dataset.train_limit", 0, big);
    if (d.contains("pool")) c.pool = detail::get_pool(d["pool"], "dataset.pool");
    if (d.contains("threshold")) c.threshold = static_cast<int32_t>(get_int(d["threshold"], "dataset.threshold", 0, 254));
  }
  if (j.contains("model")) {
    const auto& m = j["model"];
    only_keys(m, "model", {"topology", "data_color", "role_seed", "steps", "lambda", "label_replicas", "label_lambda"});
    if (m.contains("topology")) c.topology = get_string(m["topology"], "model.topology");
    if (m.contains("data_color")) c.data_color = static_cast<int32_t>(get_int(m["data_color"], "model.data_color", 0, 64));
    if (m.contains("role_seed")) c.role_seed = static_cast<uint64_t>(get_int(m["role_seed"], "model.role_seed", 0, big));
    if (m.contains("steps")) c.steps = static_cast<int32_t>(get_int(m["steps"], "model.steps", 1, 1000));
    if (m.contains("lambda")) c.lambda = get_float_in(m["lambda"], "model.lambda", 1e-6, 1000);
    if (m.contains("label_replicas")) c.label_replicas = static_cast<int32_t>(get_int(m["label_replicas"], "model.label_replicas", 0, 1000));
    if (m.contains("label_lambda")) c.label_lambda = get_float_in(m["label_lambda"], "model.label_lambda", 1e-6, 1000);
  }
  if (j.contains("train")) {
    const auto& t = j["train"];
    only_keys(t, "train", {"epochs", "batch_size", "optimizer", "learning_rate", "lr_final_fraction", "adam_b1", "adam_b2",
                           "init_sigma_j", "positive", "negative", "acp", "time_budget_s"});
    if (t.contains("epochs")) c.epochs = static_cast<int32_t>(get_int(t["epochs"], "train.epochs", 1, kMaxEpochs));
    if (t.contains("batch_size")) c.batch_size = static_cast<int32_t>(get_int(t["batch_size"], "train.batch_size", 1, 1 << 20));
    if (t.contains("optimizer")) c.optimizer = get_string(t["optimizer"], "train.optimizer", {"adam", "sgd"});
    if (t.contains("learning_rate")) c.learning_rate = get_float_in(t["learning_rate"], "train.learning_rate", 0, 100);
    if (t.contains("lr_final_fraction")) c.lr_final_fraction = get_float_in(t["lr_final_fraction"], "train.lr_final_fraction", 0, 1);
    if (t.contains("adam_b1")) c.adam_b1 = get_float_in(t["adam_b1"], "train.adam_b1", 0, 0.99999);
    if (t.contains("adam_b2")) c.adam_b2 = get_float_in(t["adam_b2"], "train.adam_b2", 0, 0.9999999);  // (0.99999999 is 1 as a float)
    if (t.contains("time_budget_s")) c.time_budget_s = detail::get_double_in(t["time_budget_s"], "train.time_budget_s", 0, 1e9);
    if (t.contains("init_sigma_j")) c.init_sigma_j = get_float_in(t["init_sigma_j"], "train.init_sigma_j", 0, 10);
    if (t.contains("positive")) parse_schedule(t["positive"], "train.positive", c.positive);
    if (t.contains("negative")) {
      const auto& n = t["negative"];
      parse_schedule(n, "train.negative", c.negative, true);
      if (n.contains("tempering")) {
        c.neg_tempered = true;
        c.neg_tempering = parse_tempering(n["tempering"], "train.negative.tempering", 1.0f);
        if (c.neg_tempering.betas[0] != 1.0f) {
          config_error("train.negative.tempering", "the target (betas[0]) must be 1: the negative phase samples the model itself, got " +
                                                       detail::format_number(c.neg_tempering.betas[0]));
        }
        if (c.neg_tempering.adapt_rounds != 0) {
          config_error("train.negative.tempering.adapt_rounds", "must be 0: training runs a fixed ladder (tune one with 'pbit dtm "
                                                                "mixing' or a tempered 'pbit sample' and give its betas)");
        }
      }
    }
    if (t.contains("acp")) {
      const auto& a = t["acp"];
      only_keys(a, "train.acp", {"enabled", "lambda0", "eps", "dims", "chains"});
      if (a.contains("enabled")) c.acp = get_bool(a["enabled"], "train.acp.enabled");
      if (a.contains("lambda0")) c.acp_lambda0 = get_float_in(a["lambda0"], "train.acp.lambda0", 0, 100);
      if (a.contains("eps")) c.acp_eps = get_float_in(a["eps"], "train.acp.eps", 1e-9, 1);
      if (a.contains("dims")) c.acp_dims = static_cast<int32_t>(get_int(a["dims"], "train.acp.dims", 1, 4096));
      if (a.contains("chains")) c.acp_chains = static_cast<int32_t>(get_int(a["chains"], "train.acp.chains", 2, 1 << 20));
    }
  }
  if (j.contains("generate")) {
    const auto& g = j["generate"];
    only_keys(g, "generate", {"sweeps", "beta_start", "beta_end", "samples", "tempering"});
    // At most what one sampler runs (the RNG counter's sweep field): refused here, not after training.
    if (g.contains("sweeps")) c.gen_sweeps = get_int(g["sweeps"], "generate.sweeps", 1, SamplingSchedule::kMaxSweeps);
    if (g.contains("beta_start")) c.gen_beta_start = get_float_in(g["beta_start"], "generate.beta_start", 0, 1000);
    if (g.contains("beta_end")) c.gen_beta_end = get_float_in(g["beta_end"], "generate.beta_end", 0, 1000);
    if (g.contains("samples")) c.gen_samples = static_cast<int32_t>(get_int(g["samples"], "generate.samples", 2, 1 << 20));
    if (g.contains("tempering")) {
      c.gen_tempered = true;
      c.gen_tempering = parse_tempering(g["tempering"], "generate.tempering", c.gen_beta_end);
      if (g.contains("beta_start")) {
        detail::config_error("generate.beta_start", "a tempered generation samples at the ladder's betas (target: generate.tempering.target, "
                                                    "default beta_end), it does not anneal; remove beta_start");
      }
    }
  }
  detail::parse_run_section(j, c.backend, c.threads, c.seed, c.output_dir);
  // Every epoch's autocorrelation probe snapshots each chain every negative.steps_per_sample sweeps
  // over twice a negative phase: refused here rather than after an epoch of training (the count
  // overflowed an int32 or asked for a huge buffer).
  const double probe_times = 2.0 * static_cast<double>(c.negative.total_sweeps()) / static_cast<double>(c.negative.steps_per_sample) + 1;
  if (probe_times > 1e6) {
    detail::config_error("train.negative", "the autocorrelation probe would take " + detail::format_number(probe_times) +
                                               " snapshots per chain (2 x (warmup + samples x steps_per_sample) / steps_per_sample + 1); "
                                               "at most 10^6: fewer sweeps, or more steps_per_sample");
  }
  return c;
}

nlohmann::json resolved_config(const DtmConfig& c) {
  using detail::float_json;
  auto schedule = [](const SamplingSchedule& s) {
    return nlohmann::json{{"warmup", s.warmup}, {"samples", s.samples}, {"steps_per_sample", s.steps_per_sample}};
  };
  nlohmann::json j;
  j["dataset"] = {{"name", c.dataset}, {"train_limit", c.train_limit}, {"pool", c.pool}, {"threshold", c.threshold}};
  if (!c.data_dir.empty()) j["dataset"]["dir"] = c.data_dir;  // (absent: the dataset's default folders)
  j["model"] = {{"topology", c.topology},     {"data_color", c.data_color},         {"role_seed", c.role_seed},
                {"steps", c.steps},           {"lambda", float_json(c.lambda)},     {"label_replicas", c.label_replicas},
                {"label_lambda", float_json(c.label_lambda)}};
  j["train"] = {{"epochs", c.epochs},
                {"batch_size", c.batch_size},
                {"optimizer", c.optimizer},
                {"learning_rate", float_json(c.learning_rate)},
                {"lr_final_fraction", float_json(c.lr_final_fraction)},
                {"adam_b1", float_json(c.adam_b1)},
                {"adam_b2", float_json(c.adam_b2)},
                {"init_sigma_j", float_json(c.init_sigma_j)},
                {"positive", schedule(c.positive)},
                {"negative", schedule(c.negative)},
                {"acp", {{"enabled", c.acp}, {"lambda0", float_json(c.acp_lambda0)}, {"eps", float_json(c.acp_eps)},
                         {"dims", c.acp_dims}, {"chains", c.acp_chains}}},
                {"time_budget_s", c.time_budget_s}};
  if (c.neg_tempered) j["train"]["negative"]["tempering"] = tempering_json(c.neg_tempering);
  j["generate"] = {{"sweeps", c.gen_sweeps}, {"beta_end", float_json(c.gen_beta_end)}, {"samples", c.gen_samples}};
  if (c.gen_tempered) j["generate"]["tempering"] = tempering_json(c.gen_tempering);
  else j["generate"]["beta_start"] = float_json(c.gen_beta_start);
  j["run"] = detail::run_section_json(c.backend, c.threads, c.seed, c.output_dir);
  return j;
}

// ------------------------------------------------------------------ model

namespace {

double now_s() { return detail::monotonic_s(); }

SamplerOptions options(const DtmConfig& c, uint32_t stream) { return sampler_options(c.backend, c.seed, stream, c.threads); }

// Sampler streams of the DTM, distinct per step and phase (rng.hpp's registry).
uint32_t pos_stream(int32_t t) { return rng::dtm_stream(static_cast<uint32_t>(t), rng::DtmPhase::positive); }
uint32_t neg_stream(int32_t t) { return rng::dtm_stream(static_cast<uint32_t>(t), rng::DtmPhase::negative); }
uint32_t acp_stream(int32_t t) { return rng::dtm_stream(static_cast<uint32_t>(t), rng::DtmPhase::acp); }
uint32_t gen_stream(int32_t t) { return rng::dtm_stream(static_cast<uint32_t>(t), rng::DtmPhase::generate); }

}  // namespace

RoleAssignment place_dtm_roles(const DtmConfig& cfg, const Topology& topo, int32_t rows, int32_t cols) {
  detail::check_image_size("DTM:", rows, cols);
  const int32_t colors = topo.colors.empty() ? 0 : *std::max_element(topo.colors.begin(), topo.colors.end()) + 1;
  if (cfg.data_color >= colors) {
    throw InvalidConfig("key 'model.data_color': " + cfg.topology + " has " + std::to_string(colors) + " colors (0.." +
                        std::to_string(colors - 1) + "), not color " + std::to_string(cfg.data_color));
  }
  std::vector<RoleSpec> spec = {{"data", rows * cols, cfg.data_color}};
  if (cfg.label_replicas > 0) spec.push_back({"label", 10 * cfg.label_replicas, cfg.data_color});
  spec.push_back({"latent", -1});
  return place_roles(topo.graph.num_nodes(), spec, cfg.role_seed, &topo.colors);
}

void check_acp(const DtmConfig& c) {
  if (c.acp && c.negative.samples < 2) {
    detail::config_error("train.acp.enabled",
                         "the correlation penalty is measured within each chain's negative-phase samples, and train.negative.samples is " +
                             std::to_string(c.negative.samples) + ": give it at least 2, or turn ACP off");
  }
}

Dtm::Dtm(const DtmConfig& cfg, int32_t rows, int32_t cols) : cfg_(cfg), rows_(rows), cols_(cols) {
  if (cfg.steps < 1 || cfg.steps > 1000) throw InvalidArgument("DTM: steps must be in [1, 1000], got " + std::to_string(cfg.steps));
  const Topology topo = make_topology(cfg.topology);
  graph_ = topo.graph;
  colors_ = topo.colors;
  roles_ = place_dtm_roles(cfg, topo, rows, cols);
  visible_ = roles_.of("data");
  if (cfg.label_replicas > 0) visible_.insert(visible_.end(), roles_.of("label").begin(), roles_.of("label").end());
  grid_ = dtm::time_grid(cfg.steps);
  // A forward process so fast that a step before the last keeps almost nothing of x^t (J_f below
  // 1e-3 from lambda dt of about 7, and exactly 0 past about 38) trains that step nearly as an
  // unconditioned MEBM: said, as a run with model.lambda 1000 and T = 3 gave a T = 1 model's results
  // unsaid (helper-113).
  for (int32_t t = 1; t < cfg.steps && dist::rank() == 0; ++t) {
    if (const double j = dtm::forward_coupling(cfg.lambda, grid_[t] - grid_[t - 1]); j < 1e-3) {
      std::fprintf(stderr, "warning: model.lambda %s couples step %d to x^%d by J_f = %.3g: the step keeps almost nothing of its input, and "
                   "trains and generates nearly as an unconditioned MEBM (a smaller lambda keeps the DTM's conditioning)\n",
                   detail::format_number(cfg.lambda).c_str(), t, t, j + 0.0);  // (+ 0.0: not "-0")
      break;
    }
  }
  // And one so slow that steps 1..T-1 together flip almost no pixel: each learns nearly the identity,
  // and step T, from pure noise, carries the model as an MEBM (model.lambda 1e-6 said nothing, helper-125).
  if (cfg.steps > 1 && dist::rank() == 0) {
    const double flipped = dtm::flip_probability(cfg.lambda, grid_[static_cast<size_t>(cfg.steps - 1)]);
    if (flipped < 0.01) {
      std::fprintf(stderr, "warning: model.lambda %s flips %.3g of the pixels over steps 1..%d together: those steps learn nearly the "
                   "identity, and step %d, from pure noise, generates nearly as an MEBM (a larger lambda spreads the noise over the steps)\n",
                   detail::format_number(cfg.lambda).c_str(), flipped, cfg.steps - 1, cfg.steps);
    }
  }
  const size_t E = static_cast<size_t>(graph_.num_edges()), N = static_cast<size_t>(graph_.num_nodes());
  const Coloring col(graph_, colors_);
  // Under MPI ranks each process runs a contiguous share of every step's batch_size chains, keyed by
  // their global ids (first_chain): the random numbers, and after the all-reduce the statistics, are
  // one process's (docs/SCALING.md).
  if (cfg.neg_tempered && (cfg.neg_tempering.betas.empty() || cfg.neg_tempering.betas[0] != 1.0f || cfg.neg_tempering.adapt_rounds != 0)) {
    // (parse_dtm_config refuses these naming the key; a config built in C++ is checked here)
    throw InvalidArgument("DtmConfig::neg_tempering: the negative phase needs a fixed ladder (adapt_rounds 0) whose target, "
                          "betas[0], is 1: it samples the model itself");
  }
  const dist::Range mine = dist::share(cfg.batch_size, dist::rank(), dist::size(), "chains (train.batch_size)");
  first_ = mine.first;
  // Every step's two samplers together (each alone passed the memory guard, while the model as a
  // whole did not fit); a tempered negative phase holds R replicas of each chain.
  const Backend be = options(cfg, pos_stream(1)).backend;
  const double replicas = cfg.neg_tempered ? static_cast<double>(cfg.neg_tempering.betas.size()) : 1.0;
  detail::check_memory((1.0 + replicas) * cfg.steps * Sampler::state_bytes(be, mine.count, graph_.num_nodes()),
                       "the DTM's " + std::to_string(2 * cfg.steps) + " samplers (two per step" +
                           (cfg.neg_tempered ? ", the negative one of " + std::to_string(cfg.neg_tempering.betas.size()) + " replicas" : std::string()) +
                           ") of " + std::to_string(mine.count) + " chains (train.batch_size) of " + std::to_string(graph_.num_nodes()) +
                           " nodes on the " + to_string(be) + " backend");
  for (int32_t t = 1; t <= cfg.steps; ++t) {
    rng::PhiloxStream rs(cfg.seed, rng::kWeightInit, static_cast<uint32_t>(t));
    std::vector<float> w(E + N, 0.0f);
    for (size_t e = 0; e < E; ++e) w[e] = static_cast<float>(cfg.init_sigma_j * rs.normal());
    weights_.push_back(w);
    adam_m_.emplace_back(E + N, 0.0f);
    adam_v_.emplace_back(E + N, 0.0f);
    adam_t_.push_back(0);
    acp_.emplace_back(cfg.acp ? cfg.acp_lambda0 : 0.0, cfg.acp_eps);
    Graph g = graph_;
    g.set_edge_weights(std::span<const float>(w.data(), E));
    SamplerOptions po = options(cfg, pos_stream(t)), no = options(cfg, neg_stream(t));
    po.first_chain = no.first_chain = mine.first;
    pos_.push_back(std::make_unique<Sampler>(g, col, static_cast<int32_t>(mine.count), po));
    // A tempered negative phase shards as the plain one: each chain's replicas stay on its rank, and
    // the swaps are keyed by the chain's global id (no.first_chain), so the ranks swap as one process.
    if (cfg.neg_tempered) tneg_.push_back(std::make_unique<TemperedSampler>(g, col, static_cast<int32_t>(mine.count), cfg.neg_tempering, no));
    else neg_.push_back(std::make_unique<Sampler>(g, col, static_cast<int32_t>(mine.count), no));
  }
  if (cfg.neg_tempered) {
    for (const auto& s : tneg_) tneg_totals_.push_back(s->stats());  // nothing swapped yet: every rank's zeros
  }
}

Dtm::~Dtm() = default;

int32_t Dtm::checked_step(int32_t step, const char* what) const {
  if (step < 1 || step > cfg_.steps) {
    throw InvalidArgument(std::string("DTM ") + what + ": step " + std::to_string(step) + " is not one of the model's 1.." +
                          std::to_string(cfg_.steps));
  }
  return step;
}

double Dtm::coupling(int32_t step) const {
  checked_step(step, "coupling");
  return dtm::forward_coupling(cfg_.lambda, grid_[step] - grid_[step - 1]);
}

std::vector<int8_t> detail::dtm_noisy(const DtmConfig& cfg, const std::vector<double>& grid, int32_t pixels, const ImageDataset& data,
                                      int64_t image, int32_t t, uint32_t tag) {
  data.check("DTM noising");
  // x^t from x^0 in one application: the channel of t_t equals the composition of the steps before it.
  const int32_t P = pixels, R = cfg.label_replicas;
  if (t < 0 || static_cast<size_t>(t) >= grid.size() || image < 0 || image >= data.size() || data.pixels_per_image() < P) {
    throw InvalidArgument("DTM noising: the step, the image or its size does not fit the model");
  }
  std::vector<int8_t> x(static_cast<size_t>(P) + 10 * R);
  binarize(data.image(image), P, cfg.threshold, x.data());
  for (int32_t c = 0; c < 10; ++c)
    for (int32_t r = 0; r < R; ++r) x[P + c * R + r] = c == data.labels[image] ? 1 : -1;
  if (t > 0) {
    const auto item = static_cast<uint32_t>(image);
    dtm::apply_forward_noise(std::span<int8_t>(x.data(), P), cfg.lambda, grid[t], cfg.seed, item, static_cast<uint32_t>(t), tag);
    if (R > 0) {
      dtm::apply_forward_noise(std::span<int8_t>(x.data() + P, 10 * R), cfg.label_lambda, grid[t], cfg.seed ^ 0x1abe1ull, item,
                               static_cast<uint32_t>(t), tag);
    }
  }
  return x;
}

std::vector<int8_t> Dtm::noisy(const ImageDataset& data, int64_t image, int32_t t, uint32_t tag) const {
  return detail::dtm_noisy(cfg_, grid_, rows_ * cols_, data, image, t, tag);
}

void detail::dtm_forward_step(const DtmConfig& cfg, const std::vector<double>& grid, int32_t pixels, std::vector<int8_t>& x,
                              int64_t image, int32_t t, uint32_t tag) {
  const int32_t P = pixels, R = cfg.label_replicas;
  if (t < 1 || static_cast<size_t>(t) >= grid.size() || x.size() != static_cast<size_t>(P) + 10 * static_cast<size_t>(R)) {
    throw InvalidArgument("DTM forward step: the step or the visible state does not fit the model");
  }
  const double dt = grid[t] - grid[t - 1];
  const auto item = static_cast<uint32_t>(image);
  dtm::apply_forward_noise(std::span<int8_t>(x.data(), P), cfg.lambda, dt, cfg.seed ^ 0x5eedull, item, static_cast<uint32_t>(t), tag);
  if (R > 0) {
    dtm::apply_forward_noise(std::span<int8_t>(x.data() + P, 10 * R), cfg.label_lambda, dt, cfg.seed ^ 0x5eed1abeull, item,
                             static_cast<uint32_t>(t), tag);
  }
}

void Dtm::forward_step(std::vector<int8_t>& x, int64_t image, int32_t t, uint32_t tag) const {
  detail::dtm_forward_step(cfg_, grid_, rows_ * cols_, x, image, t, tag);
}

void Dtm::coupling_field(int32_t t, const int8_t* x, float* out) const {
  const auto V = visible_.size();
  dtm::reverse_field(std::span<const int8_t>(x, V), rows_ * cols_, cfg_.lambda, cfg_.label_lambda, grid_[t] - grid_[t - 1],
                     std::span<float>(out, V));
}

void Dtm::train_step_epoch(int32_t t, const ImageDataset& data, double& flips) {
  const int32_t B = cfg_.batch_size, V = static_cast<int32_t>(visible_.size());
  const int64_t per_epoch = data.size() / B;
  const size_t E = static_cast<size_t>(graph_.num_edges()), N = static_cast<size_t>(graph_.num_nodes());
  std::vector<int64_t> order(static_cast<size_t>(data.size()));
  std::iota(order.begin(), order.end(), 0);
  rng::PhiloxStream rs(cfg_.seed, rng::kDataShuffle, static_cast<uint32_t>(epoch_ * 1000 + t));
  rs.shuffle(order);
  const bool coupled = coupling(t) != 0;
  Sampler& pos = *pos_[t - 1];
  Sampler* neg = cfg_.neg_tempered ? nullptr : neg_[t - 1].get();
  TemperedSampler* tneg = cfg_.neg_tempered ? tneg_[t - 1].get() : nullptr;
  std::vector<float>& w = weights_[t - 1];
  const double lam = acp_[t - 1].lambda();
  const std::vector<int32_t>& dn = visible_;
  detail::Progress bar("epoch " + std::to_string(epoch_ + 1) + "/" + std::to_string(cfg_.epochs) + " step " + std::to_string(t) +
                           "/" + std::to_string(steps()),
                       per_epoch);
  const double flips0 = flips, t0 = now_s();
  const int32_t mine = pos.num_chains();  // chains first_ .. first_ + mine - 1 of the batch
  const double replicas = tneg ? static_cast<double>(tneg->num_replicas()) : 1.0;  // every replica's sweeps are flips
  for (int64_t b = 0; b < per_epoch; ++b) {
    // x^{t-1} from the data, x^t one forward step later (noise keyed by image, step and epoch).
    std::vector<int8_t> prev(static_cast<size_t>(mine) * V);
    std::vector<float> field(static_cast<size_t>(mine) * V);
    for (int32_t k = 0; k < mine; ++k) {
      const int64_t img = order[b * B + first_ + k];
      std::vector<int8_t> xm = noisy(data, img, t - 1, static_cast<uint32_t>(epoch_));
      std::vector<int8_t> xt = xm;
      forward_step(xt, img, t, static_cast<uint32_t>(epoch_));
      std::copy(xm.begin(), xm.end(), prev.begin() + static_cast<size_t>(k) * V);
      coupling_field(t, xt.data(), field.data() + static_cast<size_t>(k) * V);
    }
    const std::span<const float> wj(w.data(), E), wh(w.data() + E, N);
    ObserverSpec spec;
    spec.moments = true;
    pos.set_weights(wj, wh);
    pos.set_clamp(dn, prev);
    Observations op = pos.run(cfg_.positive, BetaSchedule::constant(1.0f), spec);
    ObserverSpec nspec = spec;
    if (lam > 0) {  // per-chain node means for the correlation penalty
      for (int32_t i = 0; i < static_cast<int32_t>(N); ++i) nspec.readout_groups.push_back({i});
    }
    Observations on;
    if (tneg) {  // the target replicas (beta 1) are the model's samples; the field is every replica's
      tneg->set_weights(wj, wh);
      if (coupled) tneg->set_field(dn, field);
      on = tneg->run(cfg_.negative, nspec);
    } else {
      neg->set_weights(wj, wh);
      if (coupled) neg->set_field(dn, field);
      on = neg->run(cfg_.negative, BetaSchedule::constant(1.0f), nspec);
    }
    if (dist::size() > 1) {  // every rank: the statistics of the whole batch
      dist::allreduce_moments(op, B);
      dist::allreduce_moments(on, B);
      if (lam > 0) on.readout_mean = dist::allgather(std::span<const double>(on.readout_mean));  // per chain, chain order
    }
    flips += static_cast<double>(B) * static_cast<double>(N - dn.size()) * op.sweeps + static_cast<double>(B) * N * on.sweeps * replicas;
    // Gradient (ascent on the log-likelihood), with the correlation penalty from the negative phase.
    std::vector<float> g(E + N);
    for (size_t e = 0; e < E; ++e) g[e] = static_cast<float>(op.edge_corr[e] - on.edge_corr[e]);
    if (lam > 0) {
      dtm::add_correlation_penalty(lam, graph_.edge_i(), graph_.edge_j(), on.edge_corr, on.readout_mean, static_cast<int32_t>(N), on.num_samples, g);
    }
    for (size_t i = 0; i < N; ++i) g[E + i] = static_cast<float>(op.node_mean[i] - on.node_mean[i]);
    // Learning rate: cosine from learning_rate to learning_rate * lr_final_fraction over the run (over
    // the epochs, or over the time budget if that ends first).
    double progress = (static_cast<double>(epoch_) * per_epoch + b) / std::max<int64_t>(1, cfg_.epochs * per_epoch);
    if (cfg_.time_budget_s > 0) {  // the slowest rank's clock, so that every rank takes the same step
      progress = std::max(progress, (trained_s() + dist::allreduce_max(now_s() - epoch_start_s_)) / cfg_.time_budget_s);
    }
    progress = std::min(1.0, progress);
    const double lr = cfg_.learning_rate * (cfg_.lr_final_fraction + (1 - cfg_.lr_final_fraction) * 0.5 * (1 + std::cos(M_PI * progress)));
    if (cfg_.optimizer == "adam") {
      const int64_t step = ++adam_t_[t - 1];
      detail::adam_update(std::span(w), std::span<const float>(g), std::span(adam_m_[t - 1]), std::span(adam_v_[t - 1]), lr, cfg_.adam_b1,
                          cfg_.adam_b2, step, detail::AdamDirection::ascend);
    } else {
      for (size_t k = 0; k < w.size(); ++k) w[k] += static_cast<float>(lr * g[k]);
    }
    for (float x : w) {
      if (!std::isfinite(x)) throw Error("DTM step " + std::to_string(t) + ": training diverged (non-finite weight); lower the learning rate");
    }
    char extra[80];
    std::snprintf(extra, sizeof extra, "lr %.3g  penalty %.3g  %.3g flips/ns", lr, lam, (flips - flips0) / std::max(1e-9, now_s() - t0) / 1e9);
    bar.update(b + 1, extra);
  }
}

/// The most |r| that measure_autocorrelation can give: r at lag k of a series of n times is at most
/// n / (n - k) by Cauchy-Schwarz, and its lag is at most half the times (k <= (n - 1) / 2), so |r| < 2.
/// A checkpoint's autocorrelation past it (1e300 was read and drove the penalty) is refused.
constexpr double kMostAutocorrelation = 2.0;

namespace {
/// The autocorrelation probe's chains conditioned on one image (each group centred on its own mean).
constexpr int32_t kChainsPerImage = 4;
}  // namespace

double Dtm::measure_autocorrelation(int32_t t, const ImageDataset& data, std::vector<double>* curve) const {
  // Lag = one negative phase (warmup + samples * steps_per_sample sweeps). Snapshots every
  // steps_per_sample sweeps over twice the lag, after a negative-phase warm-up.
  const int64_t stride = cfg_.negative.steps_per_sample;
  const int64_t lag = cfg_.negative.total_sweeps();
  const int32_t times = static_cast<int32_t>(2 * lag / stride) + 1;
  const int32_t lag_idx = static_cast<int32_t>(lag / stride);
  const std::vector<double> r = autocorrelation_curve(t, data, cfg_.negative.warmup, stride, times, std::min(times - 1, 2 * lag_idx), 1.0f);
  if (curve) *curve = r;
  return r[std::min<size_t>(static_cast<size_t>(lag_idx), r.size() - 1)];
}

std::vector<double> Dtm::autocorrelation_curve(int32_t t, const ImageDataset& data, int64_t warmup, int64_t stride, int32_t times,
                                                int32_t max_lag, float beta, const TemperingOptions* tempering,
                                                TemperingStats* stats, const Sampler::Progress& progress) const {
  data.check("DTM autocorrelation");
  // Chains come in groups of kChainsPerImage conditioned on the same x^t, and each group is centred
  // on its own mean: chains conditioned on different images sample different distributions, and the
  // spread between them is not a failure to mix.
  if (t < 1 || t > steps()) throw InvalidArgument("autocorrelation: step must be in [1, " + std::to_string(steps()) + "]");
  if (warmup < 0 || stride < 1 || times < 2 || max_lag < 0 || max_lag >= times) {
    throw InvalidArgument("autocorrelation: needs warmup >= 0, stride >= 1, times >= 2 and 0 <= max_lag < times");
  }
  const int32_t C = probe_chains(data.size());
  const size_t E = static_cast<size_t>(graph_.num_edges()), N = static_cast<size_t>(graph_.num_nodes());
  const int32_t V = static_cast<int32_t>(visible_.size());
  // The snapshots, their projections and the snapshot list, sized before the warm-up: the run's own
  // check came only after it (1e8 sweeps of warm-up for a request that could never fit, helper-108).
  check_probe_memory(times, C);
  Graph g = graph_;
  g.set_edge_weights(std::span<const float>(weights_[t - 1].data(), E));
  g.set_biases(std::span<const float>(weights_[t - 1].data() + E, N));
  const double jf = coupling(t);
  // Under MPI ranks (training's probe) each rank samples a contiguous share of the chains, keyed by
  // their global ids, and the projections are gathered in chain order: every rank gets one process's
  // curve. A tempered probe (pbit dtm mixing, one process) runs whole.
  const bool sharded = !tempering && dist::size() > 1;
  const dist::Range mine = sharded ? dist::share(C, dist::rank(), dist::size(), "probe chains", true) : dist::Range{0, C};
  const auto Cm = static_cast<int32_t>(mine.count);
  std::vector<float> field(static_cast<size_t>(Cm) * V);
  for (int32_t c = 0; c < Cm; ++c) {
    const std::vector<int8_t> xt = noisy(data, static_cast<int32_t>(mine.first + c) / kChainsPerImage, t, kProbeNoiseTag);
    coupling_field(t, xt.data(), field.data() + static_cast<size_t>(c) * V);
  }
  ObserverSpec spec;
  for (int32_t k = 0; k < times; ++k) spec.snapshot_sweeps.push_back(1 + k * stride);
  const SamplingSchedule window{0, 1, (times - 1) * stride + 1};
  Observations snaps;
  if (tempering) {
    TemperedSampler s(g, Coloring(g, colors_), C, *tempering, options(cfg_, acp_stream(t)));
    if (jf != 0) s.set_field(visible_, field);
    if (progress) s.set_progress(progress);
    s.sweep(warmup);
    snaps = s.run(window, spec);
    if (stats) *stats = s.stats();
  } else if (Cm > 0) {
    SamplerOptions o = options(cfg_, acp_stream(t));
    o.first_chain = static_cast<uint32_t>(mine.first);
    Sampler s(g, Coloring(g, colors_), Cm, o);
    if (jf != 0) s.set_field(visible_, field);
    if (progress) s.set_progress(progress);
    s.sweep(warmup, BetaSchedule::constant(beta));  // start from states like the negative phase's
    snaps = s.run(window, BetaSchedule::constant(beta), spec);
  }
  const std::vector<float> Pm = metrics::random_projection(static_cast<int32_t>(N), cfg_.acp_dims, cfg_.seed + 17);
  std::vector<double> y(static_cast<size_t>(Cm) * times * cfg_.acp_dims);
  for (int32_t k = 0; k < times && Cm > 0; ++k) {
    const std::span<const int8_t> st(snaps.snapshots.data() + static_cast<size_t>(k) * Cm * N, static_cast<size_t>(Cm) * N);
    const std::vector<double> yk = metrics::project(Pm, cfg_.acp_dims, st, static_cast<int32_t>(N));
    for (int32_t c = 0; c < Cm; ++c)
      for (int32_t d = 0; d < cfg_.acp_dims; ++d) y[(static_cast<size_t>(c) * times + k) * cfg_.acp_dims + d] = yk[static_cast<size_t>(c) * cfg_.acp_dims + d];
  }
  if (sharded) y = dist::allgather(std::span<const double>(y));  // chain-major: rank order is chain order
  // The last step (J_f = 0) is unconditioned: all its chains sample one distribution.
  const int32_t group = jf != 0 ? kChainsPerImage : C;
  return metrics::autocorrelation(y, C, times, cfg_.acp_dims, max_lag, group);
}

double Dtm::trained_s() const {
  double s = 0;
  for (const DtmEpochMetrics& h : history_) s += h.wall_s;
  return s;
}

bool Dtm::out_of_time() const {
  return cfg_.time_budget_s > 0 && !history_.empty() && trained_s() + history_.back().wall_s > cfg_.time_budget_s;
}

int32_t Dtm::probe_chains(int64_t images) const {
  const auto n = static_cast<int32_t>(std::min<int64_t>(cfg_.acp_chains / kChainsPerImage, images));
  return std::max<int32_t>(1, n) * kChainsPerImage;
}

void Dtm::check_probe_memory(int64_t times, int32_t chains) const {
  const auto N = static_cast<double>(graph_.num_nodes());  // (a byte a chain's node, the projections in doubles)
  detail::check_memory(static_cast<double>(times) * (chains * (N + 16.0 * cfg_.acp_dims) + 16.0),
                       "the autocorrelation probe's " + std::to_string(times) + " snapshots of " + std::to_string(chains) + " chains of " +
                           detail::format_number(N) + " nodes");
}

void Dtm::check_sweeps_left(int64_t images) const {
  // Every epoch's probe (ACP's and the per-epoch mixing time's), before the first epoch trains: with
  // ACP off it first ran after an epoch's training (helper-125: 4 s of training, then 25.2 GB refused).
  check_probe_memory(2 * cfg_.negative.total_sweeps() / cfg_.negative.steps_per_sample + 1, probe_chains(images));
  // Each step's two samplers run every batch (at the defaults a run passes their sweeps past 50,000
  // epochs): refused here, not in a late epoch as EqProp's was (helper-113).
  const double batches = static_cast<double>(cfg_.epochs - epoch_) * static_cast<double>(images / cfg_.batch_size);
  const std::string left = "the " + detail::format_number(batches) + " batches left (train.epochs " + std::to_string(cfg_.epochs) + ")";
  const std::string cure = "train fewer epochs, in larger batches, or with fewer sweeps a batch";
  for (int32_t t = 1; t <= steps(); ++t) {
    const std::string sampler = "step " + std::to_string(t) + "'s sampler";
    const auto pos = static_cast<double>(cfg_.positive.total_sweeps()), neg = static_cast<double>(cfg_.negative.total_sweeps());
    const auto neg_done = static_cast<double>(cfg_.neg_tempered ? tneg_[t - 1]->sweep_count() : neg_[t - 1]->sweep_count());
    detail::check_sampler_sweeps_left({sampler, "positive-phase sweeps", static_cast<double>(pos_[t - 1]->sweep_count()), batches, pos, pos, ""},
                                      left, cure, cfg_.time_budget_s);
    detail::check_sampler_sweeps_left({sampler, "negative-phase sweeps", neg_done, batches, neg, neg, ""},
                                      left, cure, cfg_.time_budget_s);
  }
}

std::vector<DtmEpochMetrics> Dtm::train(const ImageDataset& data, int32_t stop_after_epochs) {
  check_acp(cfg_);  // (dtm train and dtm config check it first; a config built in C++ here)
  data.check("DTM training");
  if (data.size() < cfg_.batch_size) throw InvalidArgument("DTM: fewer training images than one batch");
  if (data.rows != rows_ || data.cols != cols_) throw InvalidArgument("DTM: images do not match the model's data nodes");
  check_sweeps_left(data.size());
  // The cosine schedule runs over train.epochs: a resume with other epochs than the run trained with
  // moves its rate, said as the DBM says it (it changed without a word, helper-125).
  if (!history_.empty() && history_.back().epochs_planned > 0 && history_.back().epochs_planned != cfg_.epochs && cfg_.time_budget_s <= 0 &&
      epoch_ < cfg_.epochs && dist::rank() == 0) {
    const auto rate = [&](int32_t epochs) {
      const double progress = std::min(1.0, static_cast<double>(epoch_) / epochs);
      return cfg_.learning_rate * (cfg_.lr_final_fraction + (1 - cfg_.lr_final_fraction) * 0.5 * (1 + std::cos(M_PI * progress)));
    };
    std::fprintf(stderr, "note: the cosine schedule now runs over %d epochs (train.epochs), not the %d this run trained with: after epoch %d "
                 "its rate is %.4g, not %.4g\n", cfg_.epochs, history_.back().epochs_planned, epoch_, rate(cfg_.epochs),
                 rate(history_.back().epochs_planned));
  }
  make_directories(cfg_.output_dir);
  int32_t done = 0;
  for (; epoch_ < cfg_.epochs; ++epoch_) {
    if (stop_after_epochs > 0 && done == stop_after_epochs) return history_;
    if (out_of_time()) {
      if (dist::rank() == 0) std::fprintf(stderr, "time budget of %.3g s: after %.1f s of training, epoch %d would end past it; training stops here\n",
                   cfg_.time_budget_s, trained_s(), epoch_ + 1);
      return history_;
    }
    DtmEpochMetrics m;
    m.epoch = epoch_ + 1;
    const double t0 = now_s();
    epoch_start_s_ = t0;
    for (int32_t t = 1; t <= steps(); ++t) {
      DtmStepMetrics sm;
      sm.step = t;
      // ACP compares each measurement with the one before (rising: more penalty). The first has one to
      // compare with too, as in the authors' replication: the untrained step's, measured here (not
      // "not rising", which took the default lambda0, the floor, to 0 after one epoch whatever it measured).
      if (cfg_.acp && std::isnan(acp_[t - 1].previous())) acp_[t - 1].restore(acp_[t - 1].lambda(), measure_autocorrelation(t, data, nullptr));
      sm.acp_lambda = acp_[t - 1].lambda();
      sm.acp_previous = acp_[t - 1].previous();
      train_step_epoch(t, data, m.flips);
      std::vector<double> r;
      sm.autocorrelation = measure_autocorrelation(t, data, &r);
      sm.mixing_time = metrics::mixing_time(r) * static_cast<double>(cfg_.negative.steps_per_sample);
      if (cfg_.acp) acp_[t - 1].update(sm.autocorrelation);
      m.steps.push_back(sm);
    }
    m.wall_s = dist::allreduce_max(now_s() - t0);  // one clock for all ranks: time budgets stop them together
    total_negative_tempering_stats();
    m.flips_per_ns = m.flips / m.wall_s / 1e9;
    m.epochs_planned = cfg_.epochs;
    history_.push_back(m);
    if (dist::rank() == 0) {
      std::fprintf(stderr, "epoch %d: %.1f s, %.3g flips/ns;", m.epoch, m.wall_s, m.flips_per_ns);
      for (const auto& s : m.steps) std::fprintf(stderr, " step %d: r=%.3f lambda=%.4g", s.step, s.autocorrelation, s.acp_lambda);
      std::fprintf(stderr, "\n");
    }
    write_metrics();
    ++epoch_;
    checkpoint();
    --epoch_;
    ++done;
  }
  return history_;
}

std::vector<std::vector<std::vector<int8_t>>> Dtm::generate(int32_t count, int64_t sweeps, const std::vector<int32_t>& classes) const {
  if (sweeps < 0) sweeps = cfg_.gen_sweeps;
  const bool conditional = !classes.empty();
  if (conditional && !has_labels()) throw InvalidArgument("class-conditional generation needs label nodes (model.label_replicas > 0)");
  if (conditional && static_cast<int32_t>(classes.size()) != count) throw InvalidArgument("generate: one class per sample");
  const int32_t P = rows_ * cols_, V = static_cast<int32_t>(visible_.size()), R = cfg_.label_replicas;
  const size_t E = static_cast<size_t>(graph_.num_edges()), N = static_cast<size_t>(graph_.num_nodes());
  if (count < 0) throw InvalidArgument("generate: a negative number of samples (" + std::to_string(count) + ")");
  // The memory guard (issue 16), before any of it is allocated: the samples' visible nodes and their
  // trajectory (T + 1 images each, 24 bytes of vector apiece), the coupling field (floats), a copy of
  // the state and one step's sampler (a tempered one holds each replica's chains).
  const double replicas = cfg_.gen_tempered ? std::max<double>(1.0, static_cast<double>(cfg_.gen_tempering.betas.size())) : 1.0;
  const Backend be = options(cfg_, gen_stream(1)).backend;
  detail::check_memory(static_cast<double>(count) * ((steps() + 1.0) * (P + 24) + (V + 24) + 4.0 * V + replicas * N) +
                           replicas * Sampler::state_bytes(be, count, graph_.num_nodes()),
                       "generating " + std::to_string(count) + " DTM samples of " + std::to_string(graph_.num_nodes()) + " nodes on the " +
                           to_string(be) + " backend");
  // x^T: uniform noise on the visible nodes (labels too, unless they are clamped to a class).
  std::vector<std::vector<int8_t>> x(count, std::vector<int8_t>(V));
  const rng::Key key = rng::make_key(cfg_.seed, rng::kForwardNoise);
  for (int32_t c = 0; c < count; ++c) {
    for (int32_t p = 0; p < V; p += 4) {
      const rng::Block b = rng::philox4x32_10(rng::Counter{static_cast<uint32_t>(c), static_cast<uint32_t>(p / 4), 0xFFFFu, 0xFFFFu}, key);
      for (int32_t q = 0; q < 4 && p + q < V; ++q) x[c][p + q] = rng::word(b, q) >> 31 ? 1 : -1;
    }
    if (conditional) {
      if (classes[c] < 0 || classes[c] > 9) throw InvalidArgument("generate: classes must be 0..9");
      for (int32_t k = 0; k < 10; ++k)
        for (int32_t r = 0; r < R; ++r) x[c][P + k * R + r] = k == classes[c] ? 1 : -1;
    }
  }
  std::vector<std::vector<std::vector<int8_t>>> traj;
  auto pixels = [&](const std::vector<std::vector<int8_t>>& v) {
    std::vector<std::vector<int8_t>> out(v.size());
    for (size_t c = 0; c < v.size(); ++c) out[c].assign(v[c].begin(), v[c].begin() + P);
    return out;
  };
  traj.push_back(pixels(x));
  const BetaSchedule beta = sweeps > 1 ? BetaSchedule::linear(cfg_.gen_beta_start, cfg_.gen_beta_end, sweeps)
                                       : BetaSchedule::constant(cfg_.gen_beta_end);
  const std::vector<int32_t> label_nodes = has_labels() ? roles_.of("label") : std::vector<int32_t>{};
  for (int32_t t = steps(); t >= 1; --t) {
    Graph g = graph_;
    g.set_edge_weights(std::span<const float>(weights_[t - 1].data(), E));
    g.set_biases(std::span<const float>(weights_[t - 1].data() + E, N));
    std::vector<float> field;
    if (coupling(t) != 0) {
      field.resize(static_cast<size_t>(count) * V);
      for (int32_t c = 0; c < count; ++c) coupling_field(t, x[c].data(), field.data() + static_cast<size_t>(c) * V);
    }
    std::vector<int8_t> lv;  // labels held at the class in every step
    if (conditional)
      for (int32_t c = 0; c < count; ++c) lv.insert(lv.end(), x[c].begin() + P, x[c].end());
    auto condition = [&](auto& s) {
      if (!field.empty()) s.set_field(visible_, field);
      if (conditional) s.set_clamp(label_nodes, lv);
    };
    std::vector<int8_t> st;
    if (cfg_.gen_tempered) {  // parallel tempering at a fixed ladder instead of the anneal
      TemperedSampler s(g, Coloring(g, colors_), count, cfg_.gen_tempering, options(cfg_, gen_stream(t)));
      condition(s);
      s.sweep(sweeps);
      st = s.state();
    } else {
      Sampler s(g, Coloring(g, colors_), count, options(cfg_, gen_stream(t)));
      condition(s);
      s.sweep(sweeps, beta);
      st = s.state();
    }
    for (int32_t c = 0; c < count; ++c)
      for (int32_t v = 0; v < V; ++v) x[c][v] = st[static_cast<size_t>(c) * N + visible_[v]];
    traj.push_back(pixels(x));
  }
  return traj;
}

// ------------------------------------------------------------------ checkpoints

namespace {
constexpr const auto& kMagic = detail::kDtmCheckpoint.magic;  // (versions: util/file_formats.hpp)
constexpr const auto& kModelMagic = detail::kDtmModelCheckpoint.magic;  // model-only (leases)

/// The fields that must match for a resume to continue the same run (not epochs, generation, threads,
/// the backend, which trains bit for bit alike on every one, or output_dir), taken from the struct so
/// configs built in C++ are covered too. Checkpoints of earlier pbit, which named the backend, still load.
/// `rates`: lambda, label_lambda, acp_lambda0 and acp_eps, and `time_budget_s`, as the fingerprint
/// holds them.
detail::Fingerprint fingerprint_with(const DtmConfig& c, const nlohmann::json& rates, double time_budget_s) {
  const nlohmann::json before = nlohmann::json::array({c.dataset, c.train_limit, c.pool, c.threshold, c.topology, c.data_color, c.role_seed, c.steps,
                                 rates[0], c.label_replicas, rates[1], c.batch_size, c.optimizer, c.learning_rate, c.lr_final_fraction, c.adam_b1, c.adam_b2,
                                 c.init_sigma_j, c.positive.warmup, c.positive.samples, c.positive.steps_per_sample,
                                 c.negative.warmup, c.negative.samples, c.negative.steps_per_sample, c.acp, rates[2],
                                 rates[3], c.acp_dims, c.acp_chains});
  nlohmann::json fields = before;
  if (c.neg_tempered) {  // (only then: the fingerprints of untempered runs stay what they were)
    fields.push_back({"negative_tempering", c.neg_tempering.betas, c.neg_tempering.sweeps_per_round, c.neg_tempering.scheme});
  }
  return detail::fingerprint_without_backend(fields, nlohmann::json::array({c.seed, time_budget_s}));
}

/// fingerprint_with the config's rates; it also accepts the checkpoints of pbit before 2026-12-04
/// (7f56c67 and earlier), whose four rates were doubles: a run that gave one hashed its float, one
/// that left it out the double default (0.9, which no config's number, read as a float, gives).
detail::Fingerprint fingerprint_rates(const DtmConfig& c, double time_budget_s) {
  const float now[] = {c.lambda, c.label_lambda, c.acp_lambda0, c.acp_eps};
  const double old_default[] = {0.9, 0.2, 0.001, 0.016};
  detail::Fingerprint f = fingerprint_with(c, nlohmann::json(now), time_budget_s);
  for (unsigned mask = 1; mask < 16; ++mask) {  // which of the rates at their default the run left out
    nlohmann::json rates = nlohmann::json::array();
    bool possible = true;
    for (int k = 0; k < 4; ++k) {
      const bool left_out = (mask >> k) & 1u;
      possible = possible && (!left_out || now[k] == static_cast<float>(old_default[k]));
      rates.push_back(left_out ? nlohmann::json(old_default[k]) : nlohmann::json(now[k]));
    }
    if (possible) detail::add_earlier(f, fingerprint_with(c, rates, time_budget_s));
  }
  return f;
}

/// fingerprint_rates; pbit before 2026-12-04 also read a config's train.time_budget_s as a float
/// (0.1 as 0.100000001), whose fingerprints it accepts too.
detail::Fingerprint fingerprint(const DtmConfig& c) {
  detail::Fingerprint f = fingerprint_rates(c, c.time_budget_s);
  if (const float was = static_cast<float>(c.time_budget_s); was != c.time_budget_s) detail::add_earlier(f, fingerprint_rates(c, was));
  return f;
}

/// The swap counts of every rank's chains (round trips, per-pair attempts and accepts): an
/// all-reduce, so every rank calls it at once; one process's stats as they are.
TemperingStats summed_swaps(TemperingStats s) {
  if (dist::size() == 1) return s;
  std::vector<int64_t> counts{s.round_trips};
  counts.insert(counts.end(), s.attempts.begin(), s.attempts.end());
  counts.insert(counts.end(), s.accepts.begin(), s.accepts.end());
  dist::allreduce_sum(counts);
  const size_t pairs = s.attempts.size();
  s.round_trips = counts[0];
  std::copy(counts.begin() + 1, counts.begin() + 1 + static_cast<std::ptrdiff_t>(pairs), s.attempts.begin());
  std::copy(counts.begin() + 1 + static_cast<std::ptrdiff_t>(pairs), counts.end(), s.accepts.begin());
  return s;
}

/// A tempered negative phase's chains in a checkpoint, every rank's in chain order (a collective call:
/// the spins, walkers and directions gathered on rank 0, which writes, and the swap counts summed), so
/// that the file is the same for any rank count. `first` is this rank's first chain: its walkers,
/// numbered from 0 here, are the run's walkers from first x R (each chain's replicas stay on its rank).
void put_tempered(std::ostream& f, const TemperedState& s, int64_t first) {
  using namespace detail;
  const auto R = static_cast<int32_t>(s.stats.betas.size());
  std::vector<int64_t> window = s.window_attempts;
  window.insert(window.end(), s.window_accepts.begin(), s.window_accepts.end());
  if (dist::size() > 1) dist::allreduce_sum(window);
  const TemperingStats stats = summed_swaps(s.stats);
  std::vector<int32_t> walker = s.walker;
  for (int32_t& w : walker) w += static_cast<int32_t>(first) * R;
  put<uint64_t>(f, s.sweeps);
  put<int64_t>(f, s.sweeps_since_round);
  put<int64_t>(f, stats.rounds);
  put<int64_t>(f, stats.round_trips);
  put<int64_t>(f, stats.samples_while_adapting);
  const auto half = window.begin() + static_cast<std::ptrdiff_t>(s.window_attempts.size());
  put_vec(f, std::vector<int64_t>(window.begin(), half));
  put_vec(f, std::vector<int64_t>(half, window.end()));
  put_vec(f, stats.attempts);
  put_vec(f, stats.accepts);
  put_vec(f, stats.betas);
  put_vec(f, dist::gather(std::span<const int32_t>(walker)));
  put_vec(f, dist::gather(std::span<const int8_t>(s.direction)));
  put_vec(f, dist::gather(std::span<const int8_t>(s.spins)));
}
/// The file's tempered chains (all `chains` of the run, any rank count wrote them), and this rank's
/// share of them for a sampler of the same shape (the fingerprint has the ladder; the sizes are
/// checked): its chains' replicas, walkers and directions, and the run's swap counts on rank 0 only
/// (the others count from zero: summed, they are the run's). `totals` gets the run's counts.
TemperedState get_tempered(std::istream& f, const std::string& path, const TemperedSampler& like, int64_t chains, int64_t first,
                           TemperingStats& totals) {
  using namespace detail;
  const auto R = static_cast<size_t>(like.num_replicas()), slots = R * static_cast<size_t>(chains);
  const size_t n = static_cast<size_t>(like.graph().num_nodes());
  TemperedState s;
  s.sweeps = get_sweep_count(f, path, "checkpoint");
  s.sweeps_since_round = get<int64_t>(f, path);
  s.stats.rounds = get<int64_t>(f, path);
  s.stats.round_trips = get<int64_t>(f, path);
  s.stats.samples_while_adapting = get<int64_t>(f, path);
  for (auto* v : {&s.window_attempts, &s.window_accepts, &s.stats.attempts, &s.stats.accepts}) *v = get_vec<int64_t>(f, path, R - 1);
  s.stats.betas = get_vec<float>(f, path, R);
  s.walker = get_vec<int32_t>(f, path, slots);
  s.direction = get_vec<int8_t>(f, path, slots);
  s.spins = get_vec<int8_t>(f, path, slots * n);
  totals = s.stats;
  const size_t from = static_cast<size_t>(first) * R, mine = R * static_cast<size_t>(like.num_chains());
  if (from == 0 && mine == slots) return s;  // one process: all of it
  s.walker.assign(s.walker.begin() + static_cast<std::ptrdiff_t>(from), s.walker.begin() + static_cast<std::ptrdiff_t>(from + mine));
  for (int32_t& w : s.walker) w -= static_cast<int32_t>(from);  // (another rank's walker: refused as not a permutation)
  s.direction.assign(s.direction.begin() + static_cast<std::ptrdiff_t>(from), s.direction.begin() + static_cast<std::ptrdiff_t>(from + mine));
  s.spins.assign(s.spins.begin() + static_cast<std::ptrdiff_t>(from * n), s.spins.begin() + static_cast<std::ptrdiff_t>((from + mine) * n));
  if (dist::rank() != 0) {
    s.stats.round_trips = 0;
    for (auto* v : {&s.window_attempts, &s.window_accepts, &s.stats.attempts, &s.stats.accepts}) std::fill(v->begin(), v->end(), 0);
  }
  return s;
}
}  // namespace

TemperingStats Dtm::negative_tempering_stats(int32_t step) const {
  if (step < 1 || step > steps()) throw InvalidArgument("negative_tempering_stats: step " + std::to_string(step) + " is not in 1.." + std::to_string(steps()));
  if (tneg_.empty()) return TemperingStats{};
  return dist::size() > 1 ? tneg_totals_[static_cast<size_t>(step - 1)] : tneg_[static_cast<size_t>(step - 1)]->stats();
}

void Dtm::total_negative_tempering_stats() {
  for (size_t t = 0; t < tneg_.size(); ++t) tneg_totals_[t] = summed_swaps(tneg_[t]->stats());
}

void Dtm::checkpoint() {
  if (checkpoint_writer_) checkpoint_writer_();
  else save_checkpoint(checkpoint_path());
}

void Dtm::save_checkpoint(const std::string& path) const {
  using namespace detail;
  std::ostringstream f(std::ios::binary);
  {
    put<uint64_t>(f, fingerprint(cfg_).current);
    put<int32_t>(f, epoch_);
    put<int32_t>(f, steps());
    for (int32_t t = 0; t < steps(); ++t) {
      put_vec(f, weights_[t]);
      put_vec(f, adam_m_[t]);
      put_vec(f, adam_v_[t]);
      put<int64_t>(f, adam_t_[t]);
      put<double>(f, acp_[t].lambda());
      put<double>(f, acp_[t].previous());
      const auto put_sampler = [&f](const Sampler& s) {
        put<uint64_t>(f, s.sweep_count());
        const std::vector<int8_t> mine = s.state();
        put_vec(f, dist::gather(std::span<const int8_t>(mine)));  // every rank's chains, in chain order, on rank 0
      };
      put_sampler(*pos_[t]);
      if (cfg_.neg_tempered) put_tempered(f, tneg_[t]->save_state(), first_);
      else put_sampler(*neg_[t]);
    }
    put_string(f, history_json().dump());
  }
  if (dist::rank() == 0) write_checksummed(path, kMagic, f.view());
}

nlohmann::json Dtm::history_json() const {
  nlohmann::json hist = nlohmann::json::array();
  for (const auto& h : history_) {
    nlohmann::json st = nlohmann::json::array();
    for (const auto& s : h.steps) {
      st.push_back({s.step, s.acp_lambda, s.autocorrelation, std::isfinite(s.mixing_time) ? nlohmann::json(s.mixing_time) : nlohmann::json(nullptr)});
    }
    hist.push_back({h.epoch, h.wall_s, h.flips, h.flips_per_ns, st, h.feature_fid, h.epochs_planned});
  }
  return hist;
}

void Dtm::restore_history(std::istream& f, const std::string& path, const std::string& what) {
  history_ = detail::get_history<DtmEpochMetrics>(f, path, what, -1, [](const nlohmann::json& h) {
    // (6 entries: a checkpoint from before the planned epochs were kept, 2026-12-07)
    if (!h.is_array() || (h.size() != 6 && h.size() != 7) || !h[4].is_array()) throw detail::CorruptHistoryEntry{};
    using detail::history_number;
    const double most = detail::kMostTally;
    DtmEpochMetrics m;
    m.epoch = static_cast<int32_t>(history_number(h[0], 1, kMaxEpochs, true));
    m.wall_s = history_number(h[1], 0, detail::kMostTallySeconds);
    m.flips = history_number(h[2], 0, most);
    m.flips_per_ns = history_number(h[3], 0, most);
    m.feature_fid = detail::history_number_or_none(h[5], 0, most);  // -1: none measured
    if (h.size() == 7) m.epochs_planned = static_cast<int32_t>(history_number(h[6], 0, kMaxEpochs, true));
    for (const auto& s : h[4]) {
      if (!s.is_array() || s.size() != 4) throw detail::CorruptHistoryEntry{};
      m.steps.push_back({.step = static_cast<int32_t>(history_number(s[0], 1, 1 << 20, true)), .acp_lambda = history_number(s[1], 0, most),
                         .autocorrelation = history_number(s[2], -kMostAutocorrelation, kMostAutocorrelation),
                         .mixing_time = s[3].is_null() ? INFINITY : history_number(s[3], 0, most)});  // null: did not mix
    }
    return m;
  });
  detail::check_history_epochs(history_, epoch_, path, what);
}

void Dtm::set_feature_fid(int32_t epoch, double fid) {
  for (auto& h : history_)
    if (h.epoch == epoch) h.feature_fid = fid;
  write_metrics();  // (with it: the epoch's FID was in results.json alone, at the end; helper-125)
}

void Dtm::write_metrics() const {
  if (dist::rank() != 0) return;
  nlohmann::json ep = nlohmann::json::array();
  for (const DtmEpochMetrics& h : history_) {
    nlohmann::json st = nlohmann::json::array();
    for (const auto& s : h.steps) {
      st.push_back({{"step", s.step}, {"acp_lambda", s.acp_lambda}, {"autocorrelation", s.autocorrelation},
                    {"mixing_time_sweeps", std::isfinite(s.mixing_time) ? nlohmann::json(s.mixing_time) : nlohmann::json(nullptr)}});
    }
    ep.push_back({{"epoch", h.epoch}, {"wall_s", h.wall_s}, {"flips", h.flips}, {"flips_per_ns", h.flips_per_ns}, {"steps", st},
                  {"feature_fid_256", h.feature_fid >= 0 ? nlohmann::json(h.feature_fid) : nlohmann::json(nullptr)}});
  }
  write_json_file(cfg_.output_dir + "/metrics.json", detail::with_config(cfg_, {{"epochs", ep}}));
}

namespace {

/// A checkpoint's epoch count: impossible counts are a damaged file; more epochs than the config asks
/// for are a config to lengthen (as detail::get_position says it for the other trainers).
void check_trained_epochs(const std::string& what, const std::string& path, int32_t epoch, int32_t epochs) {
  if (epoch < 0 || epoch > kMaxEpochs) {
    throw InvalidArgument(what + " '" + path + "' has an impossible epoch count (" + std::to_string(epoch) + ")");
  }
  if (epoch > epochs) {
    throw InvalidConfig("train.epochs: " + what + " '" + path + "' has trained " + std::to_string(epoch) + " epochs, more than the " +
                        std::to_string(epochs) + " epochs asked for; resume with at least " + std::to_string(epoch) +
                        " epochs, or start afresh");
  }
}

/// A step's Adam step count and correlation-penalty state as a run writes them: a count >= 0, a
/// penalty finite and >= 0, the last autocorrelation within kMostAutocorrelation or NaN (none
/// measured yet). Anything else
/// (behind a checksum that matched) is InvalidArgument naming `what` and the path: a negative count
/// turned Adam's bias correction into a negative step.
void get_step_optimizer(std::istream& f, const std::string& path, const std::string& what, int64_t& adam_t, dtm::AcpController& acp) {
  adam_t = detail::get<int64_t>(f, path);
  const double lam = detail::get<double>(f, path), prev = detail::get<double>(f, path);
  if (adam_t < 0 || adam_t > (int64_t{1} << 53) || !std::isfinite(lam) || lam < 0 || std::abs(prev) > kMostAutocorrelation) {
    std::ostringstream text;
    text << "Adam step " << adam_t << ", correlation penalty " << lam << ", last autocorrelation " << prev;
    throw InvalidArgument(what + " '" + path + "' holds an impossible optimizer state (" + text.str() + ")");
  }
  acp.restore(lam, prev);
}

}  // namespace

void Dtm::load_checkpoint(const std::string& path) {
  using namespace detail;
  std::istringstream f(read_checksummed(path, kMagic, "DTM checkpoint"), std::ios::binary);
  if (!fingerprint(cfg_).accepts(get<uint64_t>(f, path))) {
    throw ConfigMismatch("checkpoint '" + path + "' was written by a run with a different training config; resume with the same "
                          "config, --time-budget and --seed (only epochs, generate, threads, backend and output_dir may change)");
  }
  epoch_ = get<int32_t>(f, path);
  check_trained_epochs("checkpoint", path, epoch_, cfg_.epochs);
  if (get<int32_t>(f, path) != steps()) throw InvalidArgument("checkpoint '" + path + "' has a different number of steps");
  for (int32_t t = 0; t < steps(); ++t) {
    weights_[t] = get_finite_vec<float>(f, path, weights_[t].size(), "checkpoint");
    adam_m_[t] = get_finite_vec<float>(f, path, adam_m_[t].size(), "checkpoint");
    adam_v_[t] = get_finite_vec<float>(f, path, adam_v_[t].size(), "checkpoint");
    check_second_moments(adam_v_[t], path, "checkpoint");
    get_step_optimizer(f, path, "checkpoint", adam_t_[t], acp_[t]);
    const auto get_sampler = [&](Sampler& s) {
      const auto sweeps = get_sweep_count(f, path, "checkpoint");
      const size_t n = static_cast<size_t>(s.num_nodes());
      const auto st = get_spins(f, path, static_cast<size_t>(cfg_.batch_size) * n, "checkpoint");  // all chains: any rank count resumes
      s.set_state(std::span<const int8_t>(st).subspan(static_cast<size_t>(first_) * n, static_cast<size_t>(s.num_chains()) * n));
      s.set_sweep_count(sweeps);
    };
    get_sampler(*pos_[t]);
    if (!cfg_.neg_tempered) {
      get_sampler(*neg_[t]);
      continue;
    }
    const TemperedState st = get_tempered(f, path, *tneg_[t], cfg_.batch_size, first_, tneg_totals_[static_cast<size_t>(t)]);
    try {
      tneg_[t]->restore_state(st);
    } catch (const InvalidArgument& e) {  // counters no run writes: a damaged file
      throw InvalidArgument("checkpoint '" + path + "' is corrupt: " + e.reason());
    }
  }
  restore_history(f, path, "checkpoint");
}

void Dtm::save_model_checkpoint(const std::string& path, const nlohmann::json& leases) const {
  using namespace detail;
  std::ostringstream f(std::ios::binary);
  {
    put<uint64_t>(f, fingerprint(cfg_).current);
    put<int32_t>(f, epoch_);
    put<int32_t>(f, steps());
    for (int32_t t = 0; t < steps(); ++t) {
      put_vec(f, weights_[t]);
      put_vec(f, detail::to_bf16(adam_m_[t]));
      put_vec(f, detail::to_bf16(adam_v_[t]));
      put<int64_t>(f, adam_t_[t]);
      put<double>(f, acp_[t].lambda());
      put<double>(f, acp_[t].previous());
      put<uint64_t>(f, pos_[t]->sweep_count());
      if (cfg_.neg_tempered) {  // the swap rounds go on counting in the next lease
        put<uint64_t>(f, tneg_[t]->sweep_count());
        put<int64_t>(f, tneg_[t]->stats().rounds);
      } else {
        put<uint64_t>(f, neg_[t]->sweep_count());
      }
    }
    put_string(f, history_json().dump());
    put_string(f, leases.dump());
  }
  if (dist::rank() == 0) write_checksummed(path, kModelMagic, f.view());
}

nlohmann::json Dtm::load_model_checkpoint(const std::string& path) {
  using namespace detail;
  std::istringstream f(read_checksummed(path, kModelMagic, "DTM model checkpoint"), std::ios::binary);
  if (!fingerprint(cfg_).accepts(get<uint64_t>(f, path))) {
    throw ConfigMismatch("model checkpoint '" + path + "' was written by a run with a different training config; continue it "
                          "with the same config, --time-budget and --seed (only epochs, generate, threads, backend and output_dir may change)");
  }
  epoch_ = get<int32_t>(f, path);
  check_trained_epochs("model checkpoint", path, epoch_, cfg_.epochs);
  if (get<int32_t>(f, path) != steps()) throw InvalidArgument("model checkpoint '" + path + "' has a different number of steps");
  for (int32_t t = 0; t < steps(); ++t) {
    weights_[t] = get_finite_vec<float>(f, path, weights_[t].size(), "model checkpoint");
    adam_m_[t] = detail::from_bf16(get_vec<uint16_t>(f, path, adam_m_[t].size()));
    adam_v_[t] = detail::from_bf16(get_vec<uint16_t>(f, path, adam_v_[t].size()));
    for (const auto* v : {&adam_m_[t], &adam_v_[t]}) check_finite_vec(*v, path, "model checkpoint");
    check_second_moments(adam_v_[t], path, "model checkpoint");
    get_step_optimizer(f, path, "model checkpoint", adam_t_[t], acp_[t]);
    // Fresh chains, drawn at (keyed by) the saved sweep count; a tempered negative phase's swap
    // rounds count on.
    pos_[t]->set_sweep_count(get_sweep_count(f, path, "model checkpoint"));
    pos_[t]->randomize_state();
    const auto neg_sweeps = get_sweep_count(f, path, "model checkpoint");
    if (!cfg_.neg_tempered) {
      neg_[t]->set_sweep_count(neg_sweeps);
      neg_[t]->randomize_state();
      continue;
    }
    const auto rounds = get<int64_t>(f, path);
    if (rounds < 0 || rounds > 0xFFFFFFFFll) {
      throw InvalidArgument("model checkpoint '" + path + "' has impossible counters (" + std::to_string(rounds) + " swap rounds)");
    }
    tneg_[t]->restart(neg_sweeps, rounds);
    tneg_totals_[static_cast<size_t>(t)] = tneg_[t]->stats();  // counted afresh from here, on every rank
  }
  restore_history(f, path, "model checkpoint");
  return get_lease_record(f, path);
}

}  // namespace pbit
