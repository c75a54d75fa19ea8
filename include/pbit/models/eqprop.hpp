// Equilibrium propagation on the p-bit sampler (Laydevant, Markovic, Grollier, Nat. Commun. 15, 3671,
// 2024; ../shared/REFERENCES.md section 3.1).
//
// A layered Ising network: inputs x (pixels in [0, 1]) enter as per-chain fields on the hidden spins,
// hidden and output spins are sampled, coupled bipartitely, and the outputs are population-coded
// (`per_class` spins per class). In pbit's sign convention
//   E(h, o; x) = -( sum_ij W1_ij h_i o_j + sum_i (bh_i + sum_k W0_ki x_k) h_i + sum_j bo_j o_j ),
//   C(o) = 1/2 sum_j (o_j - t_j)^2 = sum_j (1 - o_j t_j)      (t_j = +1 for the target's spins, else -1),
// sampled at inverse temperature beta_s: P_b(s) ~ exp(-beta_s (E + b C)), i.e. the nudge adds the field
// b t_j on the outputs. The identity (Scellier & Bengio; exact for the Boltzmann distribution)
//   d<C>_0/d theta = d/db <dE/d theta>_b at b = 0
// gives the estimator g = (<dE/dtheta>_b - <dE/dtheta>_0) / b, or the symmetric
// (<dE/dtheta>_b - <dE/dtheta>_-b) / 2b with O(b^2) bias; dE/dW1_ij = -h_i o_j, dE/dbh_i = -h_i,
// dE/dbo_j = -o_j, dE/dW0_ki = -x_k h_i. Training descends g.
//
// On a hardware graph (EqPropConfig::topology) the same estimator trains every coupling and bias of
// the graph from the phases' moments, with the pixels as clamped visible spins, as the sparse DBM.
//
// Two readings of the method are configurations of the same phases: the paper's annealed one (the free
// phase anneals beta_s up, one low-temperature sample; the nudged phase re-heats part way from the free
// state and cools again), and the Boltzmann one (constant beta_s, warm-up, many samples), for which the
// estimator converges to the gradient of the expected cost as b -> 0 (tests/test_eqprop.cpp checks this
// against exact enumeration).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pbit/core/graph.hpp"
#include "pbit/core/hardware_model.hpp"
#include "pbit/core/sampler.hpp"
#include "pbit/models/dataset.hpp"

namespace pbit {

/// One sampling phase: beta_s from beta_start to beta_end over anneal_sweeps (linear; 0 = constant
/// beta_end), then `samples` observations every `steps_per_sample` sweeps at beta_end (thrml's schedule).
struct EqPropFreePhase {
  float beta_start = 0.1f, beta_end = 4.0f;
  int64_t anneal_sweeps = 100;
  int64_t samples = 1, steps_per_sample = 1;
};

/// The nudged phase, started from the free phase's final state: `reverse` re-heats beta_s linearly to
/// beta_start + reheat (beta_end - beta_start) over sweeps / 2 and cools back over the other half
/// (the paper's reverse anneal, s: 1 -> reheat -> 1); `continue` stays at beta_end for `sweeps`.
/// Then `samples` observations as in the free phase.
struct EqPropNudgePhase {
  float beta = 5.0f;              ///< nudge strength b (field b t_j on the outputs)
  bool symmetric = false;         ///< +b and -b phases, (g(+b) - g(-b)) / 2b
  std::string schedule = "reverse";  ///< reverse | continue
  float reheat = 0.25f;
  int64_t sweeps = 50;
  int64_t samples = 1, steps_per_sample = 1;
};

struct EqPropConfig {
  // data
  std::string dataset = "mnist";
  std::string data_dir;
  int64_t train_images = 1000;    ///< 0 = all
  int64_t test_images = 100;      ///< 0 = all
  /// true: the first train_images / 10 images of each class, in file order (likewise for the test
  /// images), as MNIST/100; false: the first images of the files.
  bool balanced = true;
  // network
  int32_t hidden = 120, classes = 10, per_class = 4;
  float init_gain_w0 = 0.5f, init_gain_w1 = 0.25f;  ///< W ~ U(-1, 1) gain / sqrt(fan-in)
  /// Non-empty: the network is a hardware graph (a topology spec, e.g. pegasus:14) whose nodes take
  /// roles as in the sparse DBM: one visible spin per pixel (clamped to pixel > 0), classes x
  /// per_class output spins, the rest hidden; every coupling and bias of the graph is trained.
  std::string topology;
  uint64_t role_seed = 1;
  int32_t threshold = 0;            ///< graph mode: a visible spin is +1 where pixel > threshold (0..255)
  float init_sigma_j = 0.01f;       ///< graph mode: J ~ N(0, sigma^2), h = 0
  // phases
  EqPropFreePhase free;
  EqPropNudgePhase nudge;
  // training
  int32_t epochs = 50;
  int32_t batch_size = 1;
  int32_t chains_per_image = 1;
  std::string optimizer = "sgd";  ///< sgd | adam
  float lr_weights = 0.01f, lr_biases = 0.001f;
  float lr_decay = 1.0f;          ///< learning rates x lr_decay^epoch (epoch counted from 0)
  float adam_b1 = 0.9f, adam_b2 = 0.999f;
  float clip = 1.0f;              ///< weights and biases kept in [-clip, clip] (0 = no clipping)
  float field_clip = 4.0f;        ///< input fields on the hidden spins clipped to +-this (0 = none)
  bool skip_when_correct = true;  ///< no nudged phase (no update) for a batch whose free outputs are all their targets (per batch,
                                  ///< not per image as in the authors' code: with batch_size 1, the same)
  int64_t checkpoint_every_batches = 0;  ///< 0 = at the end of each epoch only
  /// Stop training once this many seconds of it (its batches, over resumes) have passed, with a
  /// checkpoint; 0 = no budget. Not in the checkpoint's fingerprint: a resumed run may change it.
  double time_budget_s = 0;
  // evaluation
  int32_t eval_chains_per_image = 1;
  int64_t eval_batch_images = 1000;
  // imperfect hardware (the "hardware" section, SamplerOptions::hardware): the device the network's
  // sampler runs on in evaluation, and in training with train.mode pat (physics-aware training: the
  // free phase on the device, the nudged phases on the ideal sampler started from the device's free
  // state) or in_situ (both phases' statistics measured on the device, as a hardware Ising machine
  // would)
  PbitHardware hardware;
  std::string train_mode = "ideal";  ///< ideal | pat | in_situ
  // execution
  std::string backend = "best";
  int threads = 0;
  uint64_t seed = 1;
  std::string output_dir = "out/eqprop";
  nlohmann::json source;
};

/// Parses and validates; errors are InvalidConfig naming the key; unknown keys are errors.
EqPropConfig parse_eqprop_config(const nlohmann::json& j);

/// Every setting of `c`, defaults filled in, as a config that parse_eqprop_config reads back to the same
/// settings (floats as their shortest decimals): results.json and metrics.json record it as
/// config_resolved beside the config as given.
nlohmann::json resolved_config(const EqPropConfig& c);

/// The network's parameters. Layered (the paper's): node order of its sampling graph is hidden
/// 0..H-1, then outputs H..H+O-1, output j = class (j / per_class); edge (i, H + j) is edge number
/// i O + j (Graph's edge order). On a hardware graph (on_graph()): w1 holds the couplings in edge
/// order and bh the biases of every node; w0 and bo are empty; the pixels are clamped visible spins.
struct EqPropNet {
  int32_t inputs = 0, hidden = 0, classes = 0, per_class = 0;
  std::vector<float> w0;  ///< inputs x hidden, [k][i]
  std::vector<float> w1;  ///< hidden x outputs, [i][j]
  std::vector<float> bh, bo;
  // graph mode
  std::string topology;                 ///< "" = layered
  Graph structure;                      ///< the hardware graph (its own weights unused)
  std::vector<int32_t> node_colors, visible, output_nodes;
  float input_threshold = 0;            ///< graph mode: visible spin +1 where x > this (x = pixel / 255)
  /// How it was trained, where its evaluation needs it and the network does not say: a JSON object
  /// of eqprop_training_record(), which EqPropTrainer sets and save() writes after the network ("":
  /// not recorded, as in a file written before 2026-12-07).
  std::string trained_with;
  bool on_graph() const { return !topology.empty(); }
  int32_t outputs() const { return classes * per_class; }
  int32_t spins() const { return on_graph() ? structure.num_nodes() : hidden + outputs(); }
  /// The sampling-graph node of output spin j.
  int32_t output_node(int32_t j) const { return on_graph() ? output_nodes[static_cast<size_t>(j)] : hidden + j; }
  /// The coloring the samplers use (layered: hidden 0, outputs 1).
  std::vector<int32_t> colors() const;
  /// A hardware-graph network: roles placed by a seeded permutation (visible = inputs, output =
  /// classes x per_class, hidden = rest), J ~ N(0, sigma_j^2), h = 0.
  static EqPropNet create_on_graph(const std::string& topology, int32_t inputs, int32_t classes, int32_t per_class,
                                   float sigma_j, uint64_t role_seed, uint64_t seed);
  /// U(-1, 1) gain / sqrt(fan-in) weights (keyed by seed), zero biases.
  static EqPropNet create(int32_t inputs, int32_t hidden, int32_t classes, int32_t per_class, float gain_w0, float gain_w1,
                          uint64_t seed);
  /// The sampling graph (couplings W1, biases bh and bo).
  Graph graph() const;
  /// The target code: +1 on the class's spins, -1 elsewhere (outputs()).
  std::vector<float> target(int32_t label) const;
  /// Fields W0^T x on the hidden spins, each clipped to +-field_clip (0 = no clip).
  void hidden_field(const float* x, float field_clip, float* out) const;
  void save(const std::string& path) const;  ///< checksummed binary (PBITEQM1)
  static EqPropNet load(const std::string& path);
};

/// The network a config asks for, initialised (layered, or on network.topology), for `inputs` pixels.
EqPropNet eqprop_create(const EqPropConfig& cfg, int32_t inputs);

/// What a trained network's evaluation needs from its training config and model.bin's network does
/// not hold, as a JSON object keyed by the config's keys: "train.field_clip", "free.beta_start",
/// "free.beta_end", "free.anneal_sweeps", "free.samples", "free.steps_per_sample", and for the record
/// "train.mode" and "hardware" (the device's section, null for ideal p-bits).
std::string eqprop_training_record(const EqPropConfig& cfg);
/// Where `cfg` would read `net` out otherwise than it was trained (net.trained_with), each as "KEY
/// VALUE (trained with VALUE)": the free phase, and on a layered network train.field_clip. Empty where
/// the two agree or the model holds no record. The device and the read-out's chains may differ
/// without note: evaluating on other p-bits is what `hardware` is for.
std::vector<std::string> eqprop_eval_differences(const EqPropNet& net, const EqPropConfig& cfg);

/// A gradient estimate of the batch's mean expected cost (descend it), with the phases' statistics.
struct EqPropGradient {
  std::vector<double> w0, w1, bh, bo;
  int64_t images = 0, nudged = 0;  ///< images in the batch, and those that had a nudged phase
  double free_cost = 0;            ///< mean over images, chains and samples of C in the free phase
  int64_t free_correct = 0;        ///< images whose free read-out is their label
  double flips = 0;
};

/// The EqProp estimate for a batch of images (x: images x inputs, values in [0, 1]) on `sampler`, whose
/// chains are images x chains_per_image (chain b serves image b / chains_per_image) on net.graph(). The
/// sampler's weights are set from the net; its RNG counters advance.
///
/// Physics-aware training (Wright et al. 2022) when `ideal` is given (a sampler on the same graph and
/// chains, normally without hardware imperfections): the free phase, which is the network's forward
/// pass and its prediction, runs on `sampler` (the device); the nudged phase runs on `ideal`, started
/// from the device's free state, and so does the reference it is compared with (a b = 0 phase from the
/// same state, or the -b phase when symmetric). The estimate is then the ideal model's response to the
/// nudge, linearised at the state the device measured, and no device-vs-model mismatch enters the
/// difference. free_cost and free_correct are the device's.
EqPropGradient eqprop_gradient(const EqPropNet& net, Sampler& sampler, const std::vector<float>& x,
                               const std::vector<int32_t>& labels, const EqPropConfig& cfg, Sampler* ideal = nullptr);

/// Class scores (images x classes: mean output spin of each class's population over chains and the
/// free phase's samples) and flips.
std::vector<double> eqprop_scores(const EqPropNet& net, Sampler& sampler, const std::vector<float>& x, int64_t images,
                                  const EqPropConfig& cfg, double* flips = nullptr);

/// Pixels of images [first, first + n) as x in [0, 1].
std::vector<float> eqprop_inputs(const ImageDataset& d, const std::vector<int64_t>& index, int64_t first, int64_t n);

/// The image indices a config uses from a dataset: the first `limit` (0 = all), or class-balanced.
std::vector<int64_t> eqprop_select(const ImageDataset& d, int64_t limit, bool balanced, int32_t classes);

struct EqPropEval {
  double accuracy = 0;
  int64_t images = 0, correct = 0;
  std::vector<int64_t> confusion;  ///< classes x classes, row = true class
  std::vector<int32_t> predictions;  ///< each image's predicted class, in `index` order
  double wall_s = 0, flips = 0;
};
/// Classifies the images `index` names, cfg.eval_batch_images at a time, each batch on a sampler of its
/// own whose chains are numbered from its first image's: an image's draws are keyed by its place in
/// `index`, so the batch size changes memory and speed, never a prediction.
EqPropEval eqprop_evaluate(const EqPropNet& net, const ImageDataset& d, const std::vector<int64_t>& index,
                           const EqPropConfig& cfg, const std::string& progress_label = "");

struct EqPropEpoch {
  int32_t epoch = 0;
  int64_t updates = 0;
  double train_accuracy = 0;   ///< free-phase read-out during the epoch (before each update)
  double train_cost = 0;       ///< mean free-phase cost
  double test_accuracy = -1;
  double wall_s = 0, flips = 0;
};

/// Training with checkpoints (output_dir/checkpoint.bin): epochs of shuffled mini-batches (the order
/// keyed by seed and epoch), one sampler whose RNG counter is stored, so a resumed run continues bit
/// for bit. Each epoch ends with the test accuracy. It holds references to the network and both
/// datasets, which must outlive it (a temporary dataset does not compile).
class EqPropTrainer {
 public:
  EqPropTrainer(EqPropNet& net, const EqPropConfig& cfg, const ImageDataset& train, std::vector<int64_t> train_index,
                const ImageDataset& test, std::vector<int64_t> test_index);
  EqPropTrainer(EqPropNet&, const EqPropConfig&, ImageDataset&&, std::vector<int64_t>, const ImageDataset&, std::vector<int64_t>) = delete;
  EqPropTrainer(EqPropNet&, const EqPropConfig&, const ImageDataset&, std::vector<int64_t>, ImageDataset&&, std::vector<int64_t>) = delete;
  ~EqPropTrainer();
  /// Runs the remaining epochs; `on_epoch` after each (for metrics files).
  void run(const std::function<void(const EqPropEpoch&)>& on_epoch = {});
  void save_checkpoint(const std::string& path) const;
  void load_checkpoint(const std::string& path);
  const std::vector<EqPropEpoch>& history() const { return history_; }
  int32_t epoch() const { return epoch_; }
  int64_t batch_in_epoch() const { return batch_; }  ///< batches done in the epoch under way
  int64_t updates() const { return updates_; }
  /// Training wall time so far: the finished epochs' and the epoch under way's (over resumes).
  double train_seconds() const;
  /// Flips so far, counted as train_seconds() is: a run stopped by its time budget partway through
  /// an epoch recorded the finished epochs' flips beside all of its seconds (helper-131).
  double train_flips() const;
  /// Whether the last run() stopped at train.time_budget_s (its checkpoint written) before its epochs were done.
  bool out_of_time() const { return out_of_time_; }

 private:
  void step(const EqPropGradient& g);
  EqPropNet& net_;
  EqPropConfig cfg_;
  const ImageDataset& train_;
  const ImageDataset& test_;
  std::vector<int64_t> train_index_, test_index_;
  std::unique_ptr<Sampler> sampler_;
  std::unique_ptr<Sampler> ideal_sampler_;  ///< train.mode pat: the nudged phases' ideal sampler
  /// InvalidConfig naming train.epochs when the batches left would take a sampler past 2^32 - 1 sweeps.
  void check_sweeps_left(int64_t per_epoch) const;
  int32_t epoch_ = 0;
  int64_t batch_ = 0, updates_ = 0;
  double epoch_correct_ = 0, epoch_cost_ = 0, epoch_flips_ = 0, epoch_wall_ = 0;
  std::vector<double> m_[4], v_[4];  ///< Adam moments for w0, w1, bh, bo
  std::vector<EqPropEpoch> history_;
  bool out_of_time_ = false;
};

namespace detail {
/// The nudged phases' beta per sweep (EqPropNudgePhase's schedule), then one value for the samples.
std::vector<float> eqprop_nudge_betas(const EqPropConfig& cfg);
}  // namespace detail

}  // namespace pbit
