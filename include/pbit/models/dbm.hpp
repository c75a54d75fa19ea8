// Sparse Deep Boltzmann Machines on hardware graphs (Niazi et al., Nature Electronics 7, 610, 2024).
//
// A SparseDbm is an Ising model on a sparse graph (default Pegasus(14)) whose nodes carry roles:
// visible (one per pixel, row-major), label (R replicas x 10 classes, node of class c replica r at
// label[c * R + r]) and hidden. Training is contrastive divergence with persistent chains:
//   positive phase: visible and label nodes clamped to a minibatch, hidden nodes sampled;
//   negative phase: persistent free chains;
//   dJ_ij = lr (<s_i s_j>+ - <s_i s_j>-),  dh_i = lr (<s_i>+ - <s_i>-), with momentum and weight decay.
// Classification clamps the visible nodes and reads the label replicas; generation clamps a class's
// labels and anneals beta. All sampling runs on pbit's Sampler, on any backend.
#pragma once
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pbit/models/dataset.hpp"
#include "pbit/core/graph.hpp"
#include "pbit/core/hardware_model.hpp"
#include "pbit/core/tempering.hpp"
#include "pbit/hardware/roles.hpp"
#include "pbit/core/sampler.hpp"

namespace pbit {

/// One sampling phase: chains (per image for clamped phases), and thrml's schedule.
struct DbmPhase {
  int32_t chains = 1;
  int64_t warmup = 0, samples = 10, steps_per_sample = 4;
  SamplingSchedule schedule() const { return {warmup, samples, steps_per_sample}; }
};

/// Everything a DBM run needs; parsed from JSON by parse_dbm_config (configs/dbm_*.json).
struct DbmConfig {
  // data
  std::string dataset = "mnist";
  std::string data_dir;           ///< empty = the dataset's default location
  int64_t train_limit = 0;        ///< 0 = all training images
  int64_t test_limit = 0;         ///< 0 = all test images
  int32_t pool = 1;               ///< average-pool images by this factor before binarizing (2: 28x28 -> 14x14)
  int32_t threshold = 0;          ///< pixel > threshold -> +1
  // graph and roles
  std::string topology = "pegasus:14";
  std::string graph_file;         ///< instead of topology
  int32_t label_replicas = 5;
  std::string placement = "random";  ///< random | in_order
  uint64_t role_seed = 1;
  // imperfect hardware (the "hardware" section, SamplerOptions::hardware): the device evaluation and
  // generation sample on, and training too with train.mode in_situ (the FPGA paper's way: the
  // statistics measured on the machine itself)
  PbitHardware hardware;
  std::string train_mode = "ideal";  ///< ideal | in_situ
  // execution
  std::string backend = "best";
  int threads = 0;
  uint64_t seed = 1;
  // initialisation
  float init_sigma_j = 0.01f;     ///< J ~ N(0, sigma^2)
  std::string init_bias = "zero"; ///< zero | pm1 (uniform on {-1, 0, 1}) | pm1_logit (pm1, the visible ones the training pixels' log-odds, as the paper's code)
  // training
  int32_t epochs = 1;
  int32_t batch_size = 50;
  float learning_rate = 0.003f;
  std::string lr_schedule = "constant";  ///< constant | cosine (to lr_final over all updates)
  float lr_final = 0.0f;
  float momentum = 0.6f;
  float weight_decay = 0.0f;
  /// > 0: centered updates (Montavon & Mueller 2012) with offsets tracking the positive phase's node
  /// means at this rate (the first update sets them); 0: the plain rule.
  float centering_rate = 0.0f;
  float beta = 1.0f;
  DbmPhase positive{1, 0, 10, 4};     ///< chains per image
  DbmPhase negative{256, 0, 10, 4};   ///< persistent chains in total
  int64_t checkpoint_every_batches = 0;  ///< 0 = only at the end of each epoch
  /// > 0: training stops once this much training wall time (sampling and updates, not evaluation)
  /// is spent, and the lr schedule runs against whichever of epochs and time ends first. Such a run
  /// depends on the machine's speed; leave it 0 for runs that repeat bit for bit.
  double time_budget_s = 0;
  int64_t eval_images_per_epoch = 1000;  ///< quick test accuracy after each epoch (0 = off)
  // evaluation
  DbmPhase eval{1, 100, 50, 2};       ///< chains per image
  int64_t eval_batch_images = 1000;
  /// >= 0: anneal during the warm-up, beta rising linearly from this value to `beta`; < 0: constant beta.
  float eval_beta_start = -1.0f;
  /// eval.tempering present: each image's chains run as parallel tempering (core/tempering.hpp), the
  /// target replica at `beta` (default target) read out; excludes beta_start and a hardware section.
  bool eval_tempered = false;
  TemperingOptions eval_tempering;
  // generation
  int32_t gen_per_class = 8;
  float gen_beta_start = 0.0f, gen_beta_end = 5.0f, gen_beta_step = 0.125f;
  int64_t gen_sweeps_per_beta = 100;
  /// generate.tempering present: parallel tempering at a fixed ladder (target default gen_beta_end)
  /// for gen_sweeps sweeps instead of the anneal; every replica's sweeps count as flips.
  bool gen_tempered = false;
  TemperingOptions gen_tempering;
  int64_t gen_sweeps = 4000;
  // output
  std::string output_dir = "out/dbm";
  nlohmann::json source;  ///< the JSON it was parsed from
};

/// Parses and validates; errors are InvalidConfig naming the key; unknown keys are errors.
DbmConfig parse_dbm_config(const nlohmann::json& j);

/// Every setting of `c`, defaults filled in, as a config that parse_dbm_config reads back to the same
/// settings (floats as their shortest decimals): results.json and metrics.json record it as
/// config_resolved beside the config as given.
nlohmann::json resolved_config(const DbmConfig& c);

/// The model: graph with weights, roles and image shape.
class SparseDbm {
 public:
  SparseDbm() = default;
  SparseDbm(Graph graph, std::vector<int32_t> colors, RoleAssignment roles, int32_t rows, int32_t cols, int32_t replicas);

  /// Builds the graph and roles the config asks for and initialises the weights (seeded).
  static SparseDbm create(const DbmConfig& cfg, int32_t rows, int32_t cols);

  const Graph& graph() const { return graph_; }
  Graph& graph() { return graph_; }
  const std::vector<int32_t>& colors() const { return colors_; }
  const RoleAssignment& roles() const { return roles_; }
  int32_t rows() const { return rows_; }
  int32_t cols() const { return cols_; }
  int32_t replicas() const { return replicas_; }
  const std::vector<int32_t>& visible() const { return roles_.of("visible"); }
  const std::vector<int32_t>& labels() const { return roles_.of("label"); }
  int64_t num_parameters() const { return graph_.num_edges() + graph_.num_nodes(); }

  /// Model file: graph JSON (weights, biases, coloring) + roles + image shape + replicas, and the
  /// settings it was trained with, when known (trained_with).
  void save(const std::string& path) const;
  static SparseDbm load(const std::string& path);

  /// What reads the model's data besides its weights, as it was trained: {"threshold", "pool",
  /// "beta"} ('pbit dbm train' sets it; null for an imported model or a file from before 2026-12-01).
  const nlohmann::json& trained_with() const { return trained_with_; }
  void set_trained_with(const DbmConfig& cfg);
  /// Where `cfg` reads the model otherwise than it was trained: one line per setting, e.g.
  /// "dataset.threshold is 128, the model was trained with 60" (empty when they agree or are unknown).
  std::vector<std::string> differences_from_training(const DbmConfig& cfg) const;

  /// Imports a model trained elsewhere (docs/CLI.md, 'Importing a DBM'): an edge list with weights ('i j J'
  /// lines as read_edge_list, or 'i,j,J'), a bias list (one value per line, node order), the visible
  /// nodes (one per pixel, in `pixel_order` "row" = row-major or "col" = column-major, as OPUSLab's
  /// MATLAB code) and the label nodes: one line per replica (10 ids, classes 0-9), one line per class
  /// (R ids), or one id per line in `label_order` ("class": class c replica r at line c R + r;
  /// "replica": replica r class c at line 10 r + c). A label file that could be read two ways without
  /// `label_order` is an error. All other nodes are hidden.
  static SparseDbm import_model(const std::string& edges_path, const std::string& biases_path,
                                const std::string& visible_path, const std::string& labels_path, int32_t rows,
                                int32_t cols, int32_t replicas, const std::string& pixel_order = "row",
                                const std::string& label_order = "");

 private:
  Graph graph_;
  std::vector<int32_t> colors_;
  RoleAssignment roles_;
  int32_t rows_ = 0, cols_ = 0, replicas_ = 0;
  nlohmann::json trained_with_;
};

/// Clamp values for one image: visible spins (row-major) then label replicas (+1 for `label`).
std::vector<int8_t> dbm_clamp_values(const SparseDbm& m, const ImageDataset& d, int64_t image, int32_t threshold);

/// A gradient estimate: (<.>+ - <.>-) per edge (edge order) and node.
struct DbmGradient {
  std::vector<double> edge, node;
  std::vector<double> pos_edge, neg_edge, pos_node, neg_node;
};

struct DbmEval {
  double accuracy = 0;
  int64_t first = 0;   ///< index of the first test image evaluated
  int64_t images = 0;
  int64_t correct = 0;
  std::vector<int64_t> confusion;  ///< 10 x 10, row = true class, column = predicted
  double wall_s = 0, flips = 0;
  /// eval.tempering: swap attempts and acceptances per neighbouring pair, over all images and rounds.
  std::vector<int64_t> swap_attempts, swap_accepts;
};

struct DbmEpochMetrics {
  int32_t epoch = 0;
  int64_t updates = 0;
  double learning_rate = 0, train_wall_s = 0, flips = 0, flips_per_ns = 0;
  double test_accuracy = -1;  ///< -1 if not evaluated
  int64_t test_images = 0;
  double weight_rms = 0;
};

/// Training with checkpoints. Everything random is counter-based (shuffles keyed by epoch, Gibbs by
/// sweep counts), so resuming from a checkpoint continues bit for bit. It holds references to the
/// model and the training images, which must outlive it (a temporary dataset does not compile).
class DbmTrainer {
 public:
  DbmTrainer(SparseDbm& model, const DbmConfig& cfg, const ImageDataset& train);
  DbmTrainer(SparseDbm& model, const DbmConfig& cfg, ImageDataset&& train) = delete;
  ~DbmTrainer();

  /// Positive and negative moments for one minibatch (advances the persistent chains).
  DbmGradient estimate_gradient(const std::vector<int64_t>& images);
  /// One update on one minibatch.
  void train_batch(const std::vector<int64_t>& images, float lr);
  /// Runs the remaining epochs (from where a checkpoint left off), writing checkpoints, metrics and
  /// progress. `test` (may be null) is used for the per-epoch accuracy. `stop_after_batches` > 0 stops
  /// early (to test resume), as if killed, after that many updates in this call.
  std::vector<DbmEpochMetrics> run(const ImageDataset* test, int64_t stop_after_batches = 0);

  void save_checkpoint(const std::string& path) const;
  void load_checkpoint(const std::string& path);
  std::string checkpoint_path() const { return cfg_.output_dir + "/checkpoint.bin"; }
  /// What run() calls wherever it checkpoints (end of epoch, checkpoint_every_batches, end of a
  /// lease), on every rank; by default save_checkpoint(checkpoint_path()). A lease (pbit dbm train
  /// --lease) saves its model-only checkpoint there instead, so a lease killed early keeps its updates.
  void set_checkpoint_writer(std::function<void()> write) { checkpoint_writer_ = std::move(write); }

  /// A model-only checkpoint, for runs that continue on another machine (a lease of a GPU): weights,
  /// biases, optimizer state (velocities, centering offsets), counters, history and `leases` (a JSON
  /// record of the runs so far), without the persistent chains: about 296 KB for Pegasus(14), small
  /// enough to commit. Written atomically.
  void save_model_checkpoint(const std::string& path, const nlohmann::json& leases) const;
  /// Continues from a model-only checkpoint: every chain starts afresh (kInitState) and the negative
  /// chains are burnt in for `burn_in_sweeps` sweeps at the current model (counted as training
  /// flips; not when no update is left: see updates_left), with the saved sweep counters, so no random
  /// number is reused. Returns the leases record.
  nlohmann::json load_model_checkpoint(const std::string& path, int64_t burn_in_sweeps);
  /// Sweeps the negative chains `sweeps` times at the current model, counted as training (flips,
  /// sampling and training seconds, so a time budget may end with it): the burn-in of fresh chains.
  void burn_in(int64_t sweeps);
  /// Ends this call of run() once `seconds` of training were spent in it (0 = no limit), after the
  /// update in progress; unlike time_budget_s it does not end the run or move the lr schedule.
  void set_lease_seconds(double seconds) { lease_s_ = seconds; }
  /// True when run() ended because the lease ran out (the run is not finished).
  bool lease_ended() const { return lease_ended_; }
  /// True when every epoch is done or the time budget is spent.
  bool finished() const { return epoch_ >= cfg_.epochs || out_of_time(); }
  /// True when run() has updates left to make: not finished, and not stopped after the last epoch's
  /// last batch (where only its evaluation is left), so fresh chains need burning in.
  bool updates_left() const;
  /// Training flips and seconds (sampling and updates) since the run began, over every resume.
  double total_flips() const { return flips_; }
  double train_seconds() const { return train_s_; }
  /// The sampling part of train_seconds().
  double sampling_seconds() const { return sample_wall_s_; }

  int32_t epoch() const { return epoch_; }
  int64_t batch_in_epoch() const { return batch_; }
  int64_t updates() const { return updates_; }
  const std::vector<DbmEpochMetrics>& history() const { return history_; }
  /// Learning rate of update number u (schedule; with a time budget, also of the training time spent).
  float learning_rate(int64_t update) const;
  /// True once the time budget (if any) is spent.
  bool out_of_time() const { return cfg_.time_budget_s > 0 && train_s_ >= cfg_.time_budget_s; }
  /// The minibatch order of an epoch (seeded by (seed, epoch)).
  std::vector<int64_t> epoch_order(int32_t epoch) const;
  /// The era of the negative (or positive) phase's sampler: 0 until its sweep count would pass
  /// 2^32 - 1, then one more each time it starts its count again on the next era's stream
  /// (rng::dbm_training_stream), from its chains' state.
  uint32_t sampler_era(bool negative) const { return negative ? neg_era_ : pos_era_; }
  /// Refuses (InvalidConfig on train.epochs) a run whose updates left need more sweeps of a phase's
  /// chains than its eras left hold (kDbmMaxEras + 1 of 2^32 - 1, at whole updates an era), or with
  /// a time budget warns on rank 0's stderr. run() calls it before its first update.
  void check_eras_left() const;

 private:
  void push_weights();
  /// init.bias pm1_logit: each visible bias log(p / (1 - p)) of its pixel's share of +1 over the
  /// training images (binarized at dataset.threshold), clipped to [-100, 100].
  void init_visible_biases();
  /// Rebuilds a phase's sampler on era `era`'s stream with its chains' state and a sweep count of 0.
  void enter_era(bool negative, uint32_t era);
  /// Enters the next era when `sweeps` more would take the phase's sampler past 2^32 - 1.
  void make_room(bool negative, int64_t sweeps);
  void checkpoint();
  nlohmann::json history_json() const;
  void restore_history(std::istream& f, const std::string& path, const std::string& what);
  void put_training_state(std::ostream& f) const;
  void get_training_state(std::istream& f, const std::string& path, const std::string& what, const std::string& may_change);
  SparseDbm& model_;
  DbmConfig cfg_;
  const ImageDataset& train_;
  std::unique_ptr<Sampler> pos_, neg_;
  /// This process's chains of the positive and negative phases (all of them for one process; under
  /// MPI ranks a contiguous share of each, the statistics all-reduced: docs/SCALING.md).
  int64_t pos_first_ = 0, neg_first_ = 0;
  int32_t pos_total_ = 0, neg_total_ = 0;
  uint32_t pos_era_ = 0, neg_era_ = 0;  ///< sampler_era()
  std::vector<int32_t> clamp_nodes_;
  std::vector<float> vel_j_, vel_h_;
  std::vector<float> mu_;  ///< centering offsets (all 0 without centering)
  int32_t epoch_ = 0;
  int64_t batch_ = 0, updates_ = 0;
  double flips_ = 0, sample_wall_s_ = 0;
  double train_s_ = 0;  ///< training wall time so far, over resumes (for time_budget_s)
  /// flips_, sample_wall_s_ and train_s_ when the current epoch began, kept in checkpoints so that an
  /// epoch resumed mid-way reports all of its work
  double epoch_flips0_ = 0, epoch_wall0_ = 0, epoch_train0_ = 0;
  double lease_s_ = 0;
  bool lease_ended_ = false;
  std::function<void()> checkpoint_writer_;
  std::vector<DbmEpochMetrics> history_;
};

/// One batch of an evaluation: test images [start, end) and what they gave (the swap counts with
/// eval.tempering only).
struct DbmEvalBatch {
  int64_t start = 0, end = 0, correct = 0;
  std::vector<int64_t> confusion;  ///< 10 x 10, as DbmEval's
  double flips = 0, wall_s = 0;
  std::vector<int64_t> swap_attempts, swap_accepts;
};

/// An evaluation that goes on where an interrupted one stopped (`pbit dbm eval --journal`): `done`
/// gives a batch an earlier call finished, which evaluate_dbm then counts without sampling it (its
/// images give the same answers whatever the batch, the rank count or the backend), or null;
/// `finished` gets each batch this call samples, once it is done. Either may be empty.
struct DbmEvalJournal {
  std::function<const DbmEvalBatch*(int64_t start, int64_t end)> done;
  std::function<void(const DbmEvalBatch&)> finished;
};

/// Test accuracy: visible nodes clamped, labels read as mean over replicas of (1 + s) / 2 over samples
/// and chains; prediction = argmax. Images first .. first + limit - 1 (limit 0 = to the end), in
/// batches of eval.batch_images. Checks its batch's memory first (check_dbm_eval_memory). With a
/// journal, batches it has are counted, not sampled (their wall time and flips included).
DbmEval evaluate_dbm(const SparseDbm& m, const DbmConfig& cfg, const ImageDataset& test, int64_t limit = 0,
                     bool progress = false, int64_t first = 0, const DbmEvalJournal* journal = nullptr);

/// OutOfMemory, naming eval.chains and eval.batch_images, when evaluating `images` test images (at
/// most eval.batch_images of them at once) would not fit: their clamped values, chains (every
/// replica's, when tempered) and read-outs. `pbit dbm train` calls it before training, so that a run
/// does not train for hours and then fail at its evaluation.
void check_dbm_eval_memory(const SparseDbm& m, const DbmConfig& cfg, int64_t images);
/// The same for generate_dbm: 10 x generate.per_class chains (every replica's, when tempered), then
/// their images classified with eval.chains chains each. generate_dbm and `pbit dbm train` (before
/// training) call it.
void check_dbm_gen_memory(const SparseDbm& m, const DbmConfig& cfg);

/// Class-conditional generation: labels clamped to a class, beta annealed gen_beta_start..end (or
/// parallel tempering at gen_tempering's ladder for gen_sweeps sweeps).
struct DbmGeneration {
  std::vector<std::vector<int8_t>> images;  ///< rows x cols spins each
  std::vector<int32_t> classes;
  double agreement = 0;                     ///< fraction the DBM's own read-out classifies as the clamped class
  double wall_s = 0;
  int64_t sweeps = 0;                       ///< per chain (per replica when tempered)
  TemperingStats tempering;                 ///< swap statistics when tempered
};
DbmGeneration generate_dbm(const SparseDbm& m, const DbmConfig& cfg);

namespace detail {
/// The class of each image from its label read-out: readout[(image * chains + chain) * 10 + class] is
/// the sum of the class's label spins over `samples` observations and `replicas` units of one chain.
/// The class with the largest mean over chains of (1 + <s>) / 2 wins (the lowest class on a tie), so a
/// confident chain outweighs two hesitant ones: it is not a vote. (samples x replicas scales every
/// class alike, so it never changes the winner.) Throws InvalidArgument when the read-out's size is
/// not images x chains x 10.
std::vector<int32_t> dbm_predict_labels(std::span<const int64_t> readout, int32_t images, int32_t chains, int64_t samples,
                                        int32_t replicas);
/// The betas of an evaluation without tempering: train.beta throughout, or, with eval.beta_start set
/// (>= 0) and a warm-up, rising linearly from eval.beta_start at the first sweep to train.beta at the
/// warm-up's last, then train.beta for the samples.
BetaSchedule dbm_eval_betas(const DbmConfig& cfg);
}  // namespace detail

}  // namespace pbit
