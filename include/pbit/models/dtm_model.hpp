// Denoising Thermodynamic Models and monolithic EBMs (Jelincic et al. 2025) on grid graphs.
//
// A Dtm holds T step models on one graph (default 70x70 G12 torus) whose data nodes (one per pixel)
// sit on one color and whose other nodes are latent. Step t models P(x^{t-1} | x^t): the sampler sees
// the coupling to x^t as the per-chain field J_f(t) x^t on the data nodes. Each step is trained on
// its own:
//   positive phase: data nodes clamped to x^{t-1} (latents free);
//   negative phase: only the field from x^t;
//   dJ = <ss>+ - <ss>- + lambda_t (<s_i><s_j> - <s_i s_j>)-,   dh = <s>+ - <s>-,
// with Adam or SGD and the adaptive correlation penalty (ACP) controlling lambda_t from each step's
// measured autocorrelation. An MEBM is the same with T = 1: its only step starts from pure noise,
// so J_f = 0 and it models the data distribution directly.
#pragma once
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pbit/models/dataset.hpp"
#include "pbit/models/dtm.hpp"
#include "pbit/core/graph.hpp"
#include "pbit/hardware/roles.hpp"
#include "pbit/hardware/topology.hpp"
#include "pbit/core/sampler.hpp"
#include "pbit/core/tempering.hpp"

namespace pbit {

struct DtmConfig {
  // data
  std::string dataset = "fashion-mnist";
  std::string data_dir;
  int64_t train_limit = 0;
  int32_t pool = 1;
  int32_t threshold = 127;      ///< binarization of Fashion-MNIST: pixel > threshold
  // model
  std::string topology = "grid:70:G12";
  int32_t data_color = 0;
  uint64_t role_seed = 1;
  int32_t steps = 4;            ///< T (1 = MEBM)
  // (A config's number is read as a float: these are floats, so that a default is what the same
  // number written in a config gives, and a resolved config reads back to the same run.)
  float lambda = 0.9f;          ///< forward-process rate for pixels
  int32_t label_replicas = 0;   ///< > 0: 10 classes x this many label nodes on the data color
  float label_lambda = 0.2f;    ///< forward-process rate for labels
  // optimisation
  int32_t epochs = 1;
  /// > 0: no epoch starts that would end past this much training wall time (estimated from the last
  /// epoch), and the cosine schedule runs against whichever of epochs and time ends first. Such a run
  /// depends on the machine's speed; leave it 0 for runs that repeat bit for bit.
  double time_budget_s = 0;
  int32_t batch_size = 100;
  std::string optimizer = "adam";  ///< adam | sgd
  float learning_rate = 0.014f;
  float lr_final_fraction = 0.2f;  ///< cosine decay to this fraction of the learning rate
  float adam_b1 = 0.9f, adam_b2 = 0.999f;
  float init_sigma_j = 0.01f;
  SamplingSchedule positive{50, 10, 4};
  SamplingSchedule negative{100, 10, 4};
  /// train.negative.tempering present: the negative phase's persistent chains run as parallel
  /// tempering at this fixed ladder (target betas[0] = 1, the model itself; adapt_rounds 0), and the
  /// gradient reads the target replicas. For a model whose modes plain Gibbs chains do not cross
  /// (an MEBM), so that the negative phase sees every mode. Every replica's sweeps count as flips;
  /// one process only (not under MPI ranks). ACP and the per-epoch autocorrelation probe still
  /// measure plain Gibbs at the negative schedule.
  bool neg_tempered = false;
  TemperingOptions neg_tempering;
  // adaptive correlation penalty
  bool acp = true;
  float acp_lambda0 = 0.001f;
  float acp_eps = 0.016f;
  int32_t acp_dims = 32;
  int32_t acp_chains = 64;
  // generation
  int64_t gen_sweeps = 200;      ///< per step
  float gen_beta_start = 0.8f, gen_beta_end = 1.2f;
  int32_t gen_samples = 64;
  /// generate.tempering present: each step samples by parallel tempering at a fixed ladder (its target,
  /// betas[0], defaults to gen_beta_end) for gen_sweeps sweeps instead of annealing; every replica's
  /// sweeps count as flips.
  bool gen_tempered = false;
  TemperingOptions gen_tempering;
  // run
  std::string backend = "best";
  int threads = 0;
  uint64_t seed = 1;
  std::string output_dir = "out/dtm";
  nlohmann::json source;
};

DtmConfig parse_dtm_config(const nlohmann::json& j);
/// InvalidConfig naming train.acp.enabled when ACP is on with one negative-phase sample per chain: the
/// penalty, a within-chain covariance, is then 0 and ACP did nothing while its lambda was reported.
/// Checked where training starts (dtm train after --acp, dtm config, Dtm::train), not by the parser:
/// --acp off rescues such a config, and dtm mixing reads recorded configs whatever their ACP.
void check_acp(const DtmConfig& c);

/// Every setting of `c`, defaults filled in, as a config that parse_dtm_config reads back to the same
/// settings (floats as their shortest decimals): results.json and metrics.json record it as
/// config_resolved beside the config as given.
nlohmann::json resolved_config(const DtmConfig& c);

namespace detail {
/// One forward step t-1 -> t of the noising process on a visible state x (`pixels` data spins, then
/// cfg.label_replicas x 10 label spins), as Dtm's training makes x^t from x^{t-1}: over the step's
/// own length dt = grid[t] - grid[t - 1], the pixels at rate cfg.lambda and the labels at
/// cfg.label_lambda (dtm::apply_forward_noise), keyed by (cfg.seed, image, t, tag). Dtm calls it;
/// declared here so that tests can reach the noised pairs.
void dtm_forward_step(const DtmConfig& cfg, const std::vector<double>& grid, int32_t pixels, std::vector<int8_t>& x, int64_t image,
                      int32_t t, uint32_t tag);
/// x^t straight from image `image` of `data` (binarized at cfg.threshold, its label as
/// cfg.label_replicas one-hot replicas): the noise of time grid[t] in one application, the pixels at
/// cfg.lambda and the labels at cfg.label_lambda, keyed by (cfg.seed, image, t, tag). Dtm::noisy.
std::vector<int8_t> dtm_noisy(const DtmConfig& cfg, const std::vector<double>& grid, int32_t pixels, const ImageDataset& data,
                              int64_t image, int32_t t, uint32_t tag);
}  // namespace detail

/// Per-step training record of one epoch.
struct DtmStepMetrics {
  int32_t step = 0;
  double acp_lambda = 0;       ///< the penalty used during the epoch
  double autocorrelation = 0;  ///< r_yy at the training lag, measured after the epoch
  double mixing_time = 0;      ///< sweeps, from the exponential fit
  /// The autocorrelation its ACP update compared with (epoch 1: the untrained step's; NaN without
  /// ACP). Not kept in checkpoints: 0 in epochs read back from one.
  double acp_previous = 0;
};
struct DtmEpochMetrics {
  int32_t epoch = 0;
  double wall_s = 0, flips = 0, flips_per_ns = 0;
  std::vector<DtmStepMetrics> steps;
  double feature_fid = -1;  ///< quality measured after the epoch by the caller (set_feature_fid), -1 = none
  int32_t epochs_planned = 0;  ///< train.epochs when it trained (the cosine schedule's length); 0 = not recorded
};

/// The DTM's roles on `topo` (its cfg.topology): rows x cols data nodes and 10 x label_replicas label
/// nodes on cfg.data_color, the rest latent, placed by cfg.role_seed. What Dtm's constructor and
/// `pbit dtm config` place; InvalidArgument when they do not fit.
RoleAssignment place_dtm_roles(const DtmConfig& cfg, const Topology& topo, int32_t rows, int32_t cols);

class Dtm {
 public:
  /// Builds the graph and roles and initialises every step's weights (seeded). rows x cols = data nodes.
  Dtm(const DtmConfig& cfg, int32_t rows, int32_t cols);
  ~Dtm();

  int32_t steps() const { return static_cast<int32_t>(weights_.size()); }
  const Graph& graph() const { return graph_; }
  const std::vector<int32_t>& data_nodes() const { return roles_.of("data"); }
  /// Data nodes followed by the label nodes (class c replica r at data size + c * R + r), if any.
  const std::vector<int32_t>& visible_nodes() const { return visible_; }
  bool has_labels() const { return cfg_.label_replicas > 0; }
  const std::vector<double>& time_grid() const { return grid_; }
  double coupling(int32_t step) const;  ///< J_f of step t (1-based)
  /// Couplings (edge order) then biases of step t (1-based).
  const std::vector<float>& weights(int32_t step) const { return weights_[static_cast<size_t>(checked_step(step, "weights") - 1)]; }
  double acp_lambda(int32_t step) const { return acp_[static_cast<size_t>(checked_step(step, "acp_lambda") - 1)].lambda(); }
  /// With train.negative.tempering: the negative phase's swap statistics of step `step` (1..T): of
  /// the whole run through checkpoints (--resume), since the last model-only checkpoint's restart (a
  /// lease); empty stats without tempering. Under MPI ranks those of every rank's chains, as of the
  /// last epoch's end or checkpoint read (every rank holds them: no collective call here).
  TemperingStats negative_tempering_stats(int32_t step) const;
  /// The autocorrelation the next ACP update compares with (NaN before any measurement): after the
  /// first epoch's, the one measured on the untrained step before training.
  double acp_previous(int32_t step) const { return acp_[static_cast<size_t>(checked_step(step, "acp_previous") - 1)].previous(); }

  /// Trains all steps for the remaining epochs; checkpoints after every epoch; `stop_after_epochs` > 0
  /// returns early (as if killed) after that many epochs in this call.
  std::vector<DtmEpochMetrics> train(const ImageDataset& data, int32_t stop_after_epochs = 0);
  int32_t epoch() const { return epoch_; }
  /// Training wall time of the finished epochs.
  double trained_s() const;
  /// True when time_budget_s is set and one more epoch, as long as the last, would end past it.
  bool out_of_time() const;
  /// What train() checks first: InvalidConfig naming train.epochs when the epochs left, on `images`
  /// training images, would take a step's positive or negative sampler past 2^32 - 1 sweeps; with
  /// train.time_budget_s set, a warning on stderr instead (the budget may end the run first).
  void check_sweeps_left(int64_t images) const;

  /// Generates `count` samples: x^T uniform noise, then each step's EBM in turn with beta annealed
  /// gen_beta_start -> gen_beta_end over gen_sweeps sweeps. Returns [T + 1][count][pixels]: the
  /// trajectory x^T ... x^0 (the last entry is the output). With label nodes and `classes` (one class
  /// per sample), the labels are clamped to each sample's class in every step: class-conditional
  /// generation.
  std::vector<std::vector<std::vector<int8_t>>> generate(int32_t count, int64_t sweeps_per_step = -1,
                                                         const std::vector<int32_t>& classes = {}) const;

  /// Autocorrelation at the training lag (one negative phase, warmup + samples x steps_per_sample
  /// sweeps) of step t's sampler: acp_chains chains, 4 per conditioning x^t from the forward process
  /// of `data`, projected onto a fixed random acp_dims-dimensional subspace, each group of 4 centred on
  /// its own mean (ACP's measurement). Also returns the whole r_yy curve (in units of steps_per_sample).
  double measure_autocorrelation(int32_t step, const ImageDataset& data, std::vector<double>* curve = nullptr) const;

  /// The mixing of step t's sampler, as measure_autocorrelation measures it (the same chains, fields
  /// and projection): plain Gibbs at inverse temperature `beta`, or, with `tempering`, the target
  /// replicas of parallel tempering at its ladder (`beta` unused). `warmup` sweeps, then `times`
  /// snapshots every `stride` sweeps; returns r_yy over lags 0 .. max_lag (in units of stride), and
  /// the swap statistics in `stats` when tempering. `progress`, if given, is the samplers' (as
  /// Sampler::set_progress): called for the warm-up, then for the measured window.
  std::vector<double> autocorrelation_curve(int32_t step, const ImageDataset& data, int64_t warmup, int64_t stride, int32_t times,
                                            int32_t max_lag, float beta, const TemperingOptions* tempering = nullptr,
                                            TemperingStats* stats = nullptr, const Sampler::Progress& progress = {}) const;

  void save_checkpoint(const std::string& path) const;
  void load_checkpoint(const std::string& path);
  std::string checkpoint_path() const { return cfg_.output_dir + "/checkpoint.bin"; }
  /// What train() calls after every epoch, on every rank; by default save_checkpoint(checkpoint_path()).
  /// A lease (pbit dtm train --lease) saves its model-only checkpoint there instead.
  void set_checkpoint_writer(std::function<void()> write) { checkpoint_writer_ = std::move(write); }
  const std::vector<DtmEpochMetrics>& history() const { return history_; }
  /// Records a quality figure for a finished epoch (1-based), kept in checkpoints with the history.
  void set_feature_fid(int32_t epoch, double fid);

  /// A model-only checkpoint for runs that continue on another machine (a lease of a GPU): every
  /// step's weights, Adam state (moments stored as bfloat16, which halves them; the step counts and
  /// the ACP controllers exactly), the epoch and the history, with `leases` (a JSON record of the
  /// runs so far); no chains. About 0.27 MB per step on 70x70 G12. Written atomically.
  void save_model_checkpoint(const std::string& path, const nlohmann::json& leases) const;
  /// Continues from a model-only checkpoint: chains start afresh (the sweep counters continue, so no
  /// random number is reused); each batch's warm-up burns them in. Returns the leases record.
  nlohmann::json load_model_checkpoint(const std::string& path);
  /// True when every epoch is done or the time budget is spent.
  bool finished() const { return epoch_ >= cfg_.epochs || out_of_time(); }

 private:
  /// `step` when it is one of the model's steps (1..steps), else InvalidArgument naming `what`.
  int32_t checked_step(int32_t step, const char* what) const;
  void train_step_epoch(int32_t step, const ImageDataset& data, double& flips);
  void checkpoint();  ///< through the checkpoint writer, if one is set
  nlohmann::json history_json() const;
  void write_metrics() const;  ///< metrics.json: the history so far, with each epoch's FID where measured
  int32_t probe_chains(int64_t images) const;  ///< the autocorrelation probe's chains: 4 a conditioning image
  void check_probe_memory(int64_t times, int32_t chains) const;
  void restore_history(std::istream& f, const std::string& path, const std::string& what);
  /// Visible state (data then labels) of `image` after the forward process to time t_t.
  std::vector<int8_t> noisy(const ImageDataset& data, int64_t image, int32_t t, uint32_t epoch_tag) const;
  /// One forward step t-1 -> t applied to a visible state, pixels and labels at their own rates.
  void forward_step(std::vector<int8_t>& x, int64_t image, int32_t t, uint32_t epoch_tag) const;
  /// The per-chain field J_f x on the visible nodes for step t (data and labels have their own J_f).
  void coupling_field(int32_t t, const int8_t* x, float* out) const;

  DtmConfig cfg_;
  int32_t rows_, cols_;
  Graph graph_;
  std::vector<int32_t> colors_;
  RoleAssignment roles_;
  std::vector<int32_t> visible_;
  std::vector<double> grid_;
  std::vector<std::vector<float>> weights_;         ///< per step: E couplings then N biases
  std::vector<std::vector<float>> adam_m_, adam_v_;  ///< per step
  std::vector<int64_t> adam_t_;
  std::vector<dtm::AcpController> acp_;
  std::vector<std::unique_ptr<Sampler>> pos_, neg_;  ///< per step, persistent (warm starts)
  /// With train.negative.tempering: per step, the negative phase's tempered chains (neg_ is then empty).
  std::vector<std::unique_ptr<TemperedSampler>> tneg_;
  /// Under MPI ranks, per step: the swap statistics of every rank's chains (each rank's tneg_ counts
  /// its own since the last checkpoint read, rank 0's also the file's totals), summed at each epoch's end.
  std::vector<TemperingStats> tneg_totals_;
  /// Sums every rank's swap counts into tneg_totals_ (a collective call: every rank at once).
  void total_negative_tempering_stats();
  /// This process's chains of each phase: [first_, first_ + pos_[t]->num_chains()) of batch_size (all
  /// of them for one process; under MPI ranks a contiguous share, the statistics all-reduced).
  int64_t first_ = 0;
  int32_t epoch_ = 0;
  double epoch_start_s_ = 0;  ///< monotonic time at which the running epoch started
  std::function<void()> checkpoint_writer_;
  std::vector<DtmEpochMetrics> history_;
};

}  // namespace pbit
