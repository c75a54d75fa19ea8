// p-DNNs: feed-forward networks with p-bit activations and sample averaging (Ghantasala, Li, Jaiswal,
// Behin-Aein, Makin, Sen, Datta, arXiv 2507.07763; ../shared/REFERENCES.md section 3.2).
//
// A multilayer perceptron inputs -> hidden... -> classes. Every hidden unit has one of three
// activations (PdnnActivation):
//   tanh   a = tanh(z)                                   deterministic, full precision
//   quant  a = q_k(tanh(z)): tanh rounded to 2^k levels evenly spaced on [-1, 1] (k = 1: sign(z))
//   pbit   a = sgn(tanh(z) - r), r ~ U(-1, 1): P(a = +1) = sigmoid(2z), E[a] = tanh(z)
// and the output layer is linear (logits). A p-DNN runs T independent samples of the whole network
// for an image (each sample draws fresh bits in every hidden layer) and averages the T samples' logits
// at the output: the prediction is argmax of the mean logit vector. Since the output layer is linear
// this is also the output layer applied to the last hidden layer's T-sample average.
//
// Training (PdnnTrainer): Adam on the softmax cross-entropy of the mean logits of `train_samples`
// samples per image; the gradient passes through quant and pbit units as if they were tanh (the
// straight-through estimator, d a / d z := 1 - tanh(z)^2). "Noise injection" is the evaluation of a
// network trained with tanh (or quant) units with pbit units instead, without retraining.
//
// The forward contract (identical on the host and in the CUDA path, bit for bit):
//   z_j = (sum over inputs k in order, skipping inputs equal to 0, of a_k * W[k][j]) + b_j   (fp32,
//         left to right from +0, no fused multiply-add)
//   tanh(z) = (1 - e) / (1 + e), e = exp_det(-2z)   (detail/gibbs_math.hpp: the same exp everywhere)
//   pbit: a = gibbs_spin(word, 2, z)  -- the sampler's own Gibbs decision with beta = 1, i.e.
//         a = +1 iff u01(word) (1 + exp_det(-2z)) < 1
//   word: Philox4x32-10, key (seed, pdnn stream), counter (image id, sample, layer | epoch << 8,
//         unit / 4), word unit % 4  -- keyed by logical identity only (rng.hpp).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pbit/core/hardware_model.hpp"
#include "pbit/models/dataset.hpp"

namespace pbit {

enum class PdnnActivation { tanh, quant, pbit };
std::string to_string(PdnnActivation a);
/// "tanh" | "quant" | "pbit"; InvalidArgument naming `what` otherwise.
PdnnActivation pdnn_activation_from_string(const std::string& s, const std::string& what = "activation");

/// How hidden units compute: an activation and, for quant, its bits.
struct PdnnUnits {
  PdnnActivation activation = PdnnActivation::pbit;
  int32_t bits = 1;  ///< quant only: 1..8
  bool stochastic() const { return activation == PdnnActivation::pbit; }
  /// "tanh", "pbit", "quant3", ...
  std::string name() const;
};

/// The generator (PdnnConfig::generator): a variational autoencoder whose decoder is the p-DNN
/// (latent -> network.hidden -> pixels, with network.activation units) and whose encoder is a tanh
/// network (pixels -> encoder_hidden -> mean and log-variance of the latent). Trained on the ELBO:
/// the binary cross-entropy of each pixel against the mean over train.samples decoder samples of
/// sigmoid(logit), plus kl_weight times the KL divergence from N(0, I).
struct PdnnGenConfig {
  int32_t latent = 16;
  std::vector<int32_t> encoder_hidden = {256};
  float kl_weight = 1.0f;
  int64_t fid_images = 1000;  ///< images generated at each T for the feature-FID
  int32_t threshold = 127;    ///< test images binarized at pixel > threshold, generated ones at p > 1/2
};

struct PdnnConfig {
  // data
  std::string dataset = "mnist";
  std::string data_dir;
  int64_t train_images = 0;  ///< 0 = all
  int64_t test_images = 0;   ///< 0 = all
  // network
  std::vector<int32_t> hidden = {256, 256};
  PdnnUnits units;           ///< hidden units while training
  // training
  int32_t train_samples = 1;  ///< pbit: samples per image whose mean logits enter the loss
  int32_t epochs = 10;
  int32_t batch_size = 64;
  float lr = 1e-3f;
  float lr_decay = 1.0f;      ///< lr x lr_decay^epoch (epoch counted from 0)
  float adam_b1 = 0.9f, adam_b2 = 0.999f;
  int64_t checkpoint_every_batches = 0;  ///< 0 = at the end of each epoch only
  /// Stop training once this many seconds of it (its batches, over resumes) have passed, with a
  /// checkpoint; 0 = no budget. Not in the checkpoint's fingerprint: a resumed run may change it.
  double time_budget_s = 0;
  // evaluation
  std::vector<int32_t> eval_samples = {1, 2, 4, 10, 32, 100};  ///< T values (stochastic units)
  int64_t eval_batch_images = 500;
  // imperfect hardware (the "hardware" section; core/hardware_model.hpp): the device the p-bit units
  // run on in evaluation and, with train.mode pat or in_situ, in training
  PbitHardware hardware;
  /// ideal: forward and backward on the ideal model; pat (physics-aware training, Wright et al. 2022):
  /// forward on the device, backward through the ideal model at the measured activations; in_situ:
  /// forward on the device, backward through the device's own response (its gains and temperature known).
  std::string train_mode = "ideal";
  // generator (the "generator" section; absent = a classifier)
  bool generator = false;
  PdnnGenConfig gen;
  // execution
  std::string backend = "best";  ///< host backends (reference, cpu, packed) all run the host path; cuda the CUDA path
  int threads = 0;
  uint64_t seed = 1;
  std::string output_dir = "out/pdnn";
  nlohmann::json source;
};

/// Parses and validates; errors are InvalidConfig naming the key; unknown keys are errors.
PdnnConfig parse_pdnn_config(const nlohmann::json& j);

/// Every setting of `c`, defaults filled in, as a config that parse_pdnn_config reads back to the same
/// settings (floats as their shortest decimals): results.json and metrics.json record it as
/// config_resolved beside the config as given.
nlohmann::json resolved_config(const PdnnConfig& c);

/// The network: sizes = {inputs, hidden..., classes}; layer l maps sizes[l] -> sizes[l + 1] with
/// w[l] (sizes[l] x sizes[l + 1], row k = input k) and b[l].
struct PdnnNet {
  std::vector<int32_t> sizes;
  std::vector<std::vector<float>> w, b;
  PdnnUnits trained_units;  ///< the units it was trained with (the default for evaluation)
  int32_t train_samples = 1;
  /// How it was trained (PdnnConfig::train_mode: ideal, pat, in_situ), and for pat and in_situ the
  /// training device (PbitHardware::describe): eval's results and report's roles tell an ideal-,
  /// a physics-aware- and an in-situ-trained network apart. Empty: not recorded (a model of a pbit
  /// before 2026-12-07, whose reader takes a newer file and leaves the record unread).
  std::string train_mode, train_hardware;
  int32_t layers() const { return static_cast<int32_t>(sizes.size()) - 1; }
  int32_t inputs() const { return sizes.front(); }
  int32_t classes() const { return sizes.back(); }
  int64_t parameters() const;
  /// Glorot-uniform weights (keyed by seed), zero biases.
  static PdnnNet create(const std::vector<int32_t>& sizes, uint64_t seed);
  void save(const std::string& path) const;  ///< checksummed binary (PBITPDM1)
  static PdnnNet load(const std::string& path);
};

/// The forward pass of `images` images (x: images x inputs, values in [0, 1]) with T samples each:
/// logits (images x T x classes; row i T + t is image i's sample t). Image i's id in the counter is
/// ids[i], or first_id + i without ids. Deterministic units give one sample (T must be 1). `pre` and
/// `act`, when given, receive every layer's pre-activations and the hidden layers' activations for
/// training: layer l has images T rows of sizes[l + 1], except pre[0], which has one row per image
/// (the pixels, and so layer 0's pre-activations, are the same for all samples). The host path,
/// OpenMP over rows; the result does not depend on the thread count.
struct PdnnForwardSpec {
  PdnnUnits units;
  int32_t T = 1;
  uint64_t seed = 1;
  uint32_t stream = 0;
  uint32_t epoch = 0;  ///< part of the counter (training draws fresh bits every epoch)
  int64_t first_id = 0;
  const int64_t* ids = nullptr;
  int threads = 0;
  /// Non-null and not ideal: the p-bit units run on this hardware (host and CUDA paths alike), with the device
  /// instance of each hidden layer (device[l], sizes[l + 1] p-bits).
  const PbitHardware* hardware = nullptr;
  const std::vector<PbitDevice>* device = nullptr;
};

/// The device instance of a network's hidden layers on `hw` (layer l: group l).
std::vector<PbitDevice> pdnn_device(const PdnnNet& net, const PbitHardware& hw);
void pdnn_forward(const PdnnNet& net, const PdnnForwardSpec& spec, const float* x, int64_t images, float* logits,
                  std::vector<std::vector<float>>* pre = nullptr, std::vector<std::vector<float>>* act = nullptr);

/// The threads pdnn_forward runs a call on: as many of `requested` (0: OpenMP's default) as its
/// whole work is worth (util/parallel_for.hpp's rule), all its regions alike; one for a small call.
int pdnn_forward_threads(const PdnnNet& net, int64_t images, int32_t T, int requested);

/// The host bytes a call of pdnn_forward or pdnn_forward_cuda on `images` images of T samples holds
/// (three buffers of the widest hidden layer, or the GPU path's copy of the logits, and the logits,
/// a row each; and the inputs), for a memory check before it.
double pdnn_forward_bytes(const PdnnNet& net, int64_t images, int32_t T);

/// The same on the GPU (src/models/pdnn/pdnn_forward.cu): logits identical to pdnn_forward's bit for
/// bit. Throws NotCompiled without CUDA, and InvalidArgument without a device.
void pdnn_forward_cuda(const PdnnNet& net, const PdnnForwardSpec& spec, const float* x, int64_t images, float* logits);
bool pdnn_cuda_compiled();

/// The deterministic tanh of the contract, and the k-bit level of a tanh value.
float pdnn_tanh(float z);
float pdnn_quantize(float t, int32_t bits);

/// The gradient of the batch's mean loss (softmax cross-entropy of each image's mean logits over its
/// samples) with respect to every weight and bias, by the straight-through estimator, from one
/// forward pass (pre, act, logits as pdnn_forward returns them for images x T rows).
struct PdnnGradient {
  std::vector<std::vector<float>> w, b;
  double loss = 0;      ///< mean over the batch
  int64_t correct = 0;  ///< images whose mean logits' argmax is the label
};
PdnnGradient pdnn_gradient(const PdnnNet& net, const PdnnUnits& units, int32_t T, const float* x, const int32_t* labels,
                           int64_t images, const std::vector<std::vector<float>>& pre,
                           const std::vector<std::vector<float>>& act, const float* logits,
                           const std::vector<std::vector<float>>* slopes = nullptr);

/// Backpropagation from d loss / d logits (images x T rows of classes, as pdnn_forward wrote the
/// logits) through a network: the weight and bias gradients into g (replacing them), and, when
/// d_input is given, d loss / d x (images x inputs, summed over each image's samples). Hidden units
/// pass the gradient of tanh (exact for tanh units, the straight-through estimator for the others).
/// `slopes`, when given, replaces the hidden units' d a / d z (same shapes as pre).
void pdnn_backward(const PdnnNet& net, int32_t T, const float* x, int64_t images, const std::vector<std::vector<float>>& pre,
                   const std::vector<std::vector<float>>& act, const std::vector<float>& dlogits, PdnnGradient& g,
                   std::vector<float>* d_input = nullptr, const std::vector<std::vector<float>>* slopes = nullptr);

/// The hidden units' d a / d z for training against hardware (PdnnConfig::train_mode), from a
/// hardware forward pass's pre (its pre-activations) and act (its measured activations): pat, the
/// ideal model's tanh' at the ideal pre-activations of the measured inputs (float weights); in_situ,
/// the device's own g beta' (1 - t^2) at its input current (0 for stuck p-bits).
std::vector<std::vector<float>> pdnn_slopes(const PdnnNet& net, const std::string& mode, const PbitHardware& hw,
                                            const std::vector<PbitDevice>& device, int32_t T, const float* x, int64_t images,
                                            const std::vector<std::vector<float>>& pre, const std::vector<std::vector<float>>& act,
                                            int threads = 0);

/// Accuracy for each T of `samples` on images `index` of a dataset, read from one run of max(T)
/// samples per image (the accuracy at T averages the first T samples). Deterministic units: T = 1.
struct PdnnEval {
  PdnnUnits units;
  std::vector<int32_t> samples;
  std::vector<double> accuracy;     ///< per T
  std::vector<double> mean_loss;    ///< cross-entropy of the T-sample mean logits, per T
  int64_t images = 0;
  double wall_s = 0;
  std::string backend;
  std::string hardware = "ideal";  ///< the device the units ran on (PbitHardware::describe)
};
PdnnEval pdnn_evaluate(const PdnnNet& net, const PdnnUnits& units, const std::vector<int32_t>& samples, const ImageDataset& d,
                       const std::vector<int64_t>& index, const PdnnConfig& cfg, const std::string& progress_label = "");

/// Pixels of images index[first .. first + n) as x in [0, 1].
std::vector<float> pdnn_inputs(const ImageDataset& d, const std::vector<int64_t>& index, int64_t first, int64_t n);

struct PdnnEpoch {
  int32_t epoch = 0;
  double train_loss = 0, train_accuracy = 0;  ///< during the epoch, on the training forward passes
  double test_accuracy = -1;                  ///< T = train_samples for pbit units
  double wall_s = 0;
};

/// Adam training with checkpoints (output_dir/checkpoint.bin, at each epoch's end and every
/// checkpoint_every_batches): the epoch's order and every training bit are keyed by (seed, epoch,
/// image), so a resumed run continues bit for bit. It holds references to the network and both
/// datasets, which must outlive it (a temporary dataset does not compile).
class PdnnTrainer {
 public:
  PdnnTrainer(PdnnNet& net, const PdnnConfig& cfg, const ImageDataset& train, std::vector<int64_t> train_index,
              const ImageDataset& test, std::vector<int64_t> test_index);
  PdnnTrainer(PdnnNet&, const PdnnConfig&, ImageDataset&&, std::vector<int64_t>, const ImageDataset&, std::vector<int64_t>) = delete;
  PdnnTrainer(PdnnNet&, const PdnnConfig&, const ImageDataset&, std::vector<int64_t>, ImageDataset&&, std::vector<int64_t>) = delete;
  void run(const std::function<void(const PdnnEpoch&)>& on_epoch = {});
  void save_checkpoint(const std::string& path) const;
  void load_checkpoint(const std::string& path);
  const std::vector<PdnnEpoch>& history() const { return history_; }
  int32_t epoch() const { return epoch_; }
  int64_t batch_in_epoch() const { return batch_; }  ///< batches done in the epoch under way
  int64_t updates() const { return updates_; }
  /// Training wall time so far: the finished epochs' and the epoch under way's (over resumes).
  double train_seconds() const;
  /// Whether the last run() stopped at train.time_budget_s (its checkpoint written) before its epochs were done.
  bool out_of_time() const { return out_of_time_; }

 private:
  void step(const PdnnGradient& g);
  PdnnNet& net_;
  PdnnConfig cfg_;
  const ImageDataset& train_;
  const ImageDataset& test_;
  std::vector<int64_t> train_index_, test_index_;
  int32_t epoch_ = 0;
  int64_t batch_ = 0, updates_ = 0;
  double epoch_loss_ = 0, epoch_correct_ = 0, epoch_wall_ = 0;
  std::vector<std::vector<float>> mw_, vw_, mb_, vb_;  ///< Adam moments
  std::vector<PdnnEpoch> history_;
  bool out_of_time_ = false;
  std::vector<PbitDevice> device_;  ///< the device instance (train_mode pat, in_situ)
};

// ---------------------------------------------------------------- the generator

/// A variational autoencoder with a p-DNN decoder (PdnnGenConfig).
struct PdnnVae {
  PdnnNet encoder;  ///< inputs -> encoder_hidden -> 2 latent: (mean, log-variance), tanh units
  PdnnNet decoder;  ///< latent -> hidden -> inputs: pixel logits
  int32_t latent() const { return decoder.inputs(); }
  int32_t pixels() const { return decoder.classes(); }
  static PdnnVae create(int32_t pixels, const PdnnConfig& cfg);
  void save(const std::string& path) const;  ///< checksummed binary (PBITPDV1)
  static PdnnVae load(const std::string& path);
};

/// Generated images: n latent vectors z ~ N(0, I) (keyed by seed and image number), each decoded
/// with max(samples) samples of `units`; for each T of `samples`, n images (n x pixels) of the mean
/// over the first T samples of sigmoid(logit). Deterministic units: T = 1 only.
struct PdnnGenerated {
  std::vector<int32_t> samples;
  std::vector<std::vector<float>> images;  ///< per T: n x pixels, values in (0, 1)
};
/// A non-empty `progress_label` draws a status line (images done).
PdnnGenerated pdnn_generate(const PdnnNet& decoder, const PdnnUnits& units, const std::vector<int32_t>& samples, int64_t n,
                            uint64_t seed, const PdnnConfig& cfg, const std::string& progress_label = "");

/// The mean reconstruction cross-entropy (nats per image) of test images through the encoder's mean
/// and T decoder samples, for each T of `samples`.
std::vector<double> pdnn_reconstruction(const PdnnVae& vae, const PdnnUnits& units, const std::vector<int32_t>& samples,
                                        const ImageDataset& d, const std::vector<int64_t>& index, const PdnnConfig& cfg);

/// The gradient of a batch's ELBO loss, (sum over images of reconstruction + kl_weight KL) / images,
/// with respect to both networks, for images x (images x pixels) whose ids key the latent noise and
/// the decoder's bits (with `epoch`): eps ~ N(0, I), z = mu + exp(logvar / 2) eps (log-variance clamped
/// to +-10), the reconstruction the binary cross-entropy of the mean of T = train.samples sigmoid
/// outputs. Exact for a tanh decoder (tests check it against finite differences), the
/// straight-through estimate for p-bit and k-bit decoders.
struct PdnnVaeGradient {
  PdnnGradient encoder, decoder;
  double loss = 0;                  ///< per image
  double reconstruction = 0, kl = 0;  ///< sums over the images
};
PdnnVaeGradient pdnn_vae_gradient(const PdnnVae& vae, const PdnnConfig& cfg, const float* x, const int64_t* ids, int64_t images,
                                  uint32_t epoch);

struct PdnnVaeEpoch {
  int32_t epoch = 0;
  double train_loss = 0, train_reconstruction = 0, train_kl = 0;  ///< per image, during the epoch
  double test_reconstruction = -1;                                ///< at T = train_samples
  double wall_s = 0;
};

/// Adam training of the ELBO with checkpoints, resumed bit for bit (as PdnnTrainer, and like it
/// holding references to the model and both datasets, which must outlive it).
class PdnnVaeTrainer {
 public:
  PdnnVaeTrainer(PdnnVae& vae, const PdnnConfig& cfg, const ImageDataset& train, std::vector<int64_t> train_index,
                 const ImageDataset& test, std::vector<int64_t> test_index);
  PdnnVaeTrainer(PdnnVae&, const PdnnConfig&, ImageDataset&&, std::vector<int64_t>, const ImageDataset&, std::vector<int64_t>) = delete;
  PdnnVaeTrainer(PdnnVae&, const PdnnConfig&, const ImageDataset&, std::vector<int64_t>, ImageDataset&&, std::vector<int64_t>) = delete;
  void run(const std::function<void(const PdnnVaeEpoch&)>& on_epoch = {});
  void save_checkpoint(const std::string& path) const;
  void load_checkpoint(const std::string& path);
  const std::vector<PdnnVaeEpoch>& history() const { return history_; }
  int32_t epoch() const { return epoch_; }
  int64_t batch_in_epoch() const { return batch_; }  ///< batches done in the epoch under way
  int64_t updates() const { return updates_; }
  /// Training wall time so far: the finished epochs' and the epoch under way's (over resumes).
  double train_seconds() const;
  /// Whether the last run() stopped at train.time_budget_s (its checkpoint written) before its epochs were done.
  bool out_of_time() const { return out_of_time_; }

 private:
  PdnnVae& vae_;
  PdnnConfig cfg_;
  const ImageDataset& train_;
  const ImageDataset& test_;
  std::vector<int64_t> train_index_, test_index_;
  int32_t epoch_ = 0;
  int64_t batch_ = 0, updates_ = 0;
  double epoch_loss_ = 0, epoch_rec_ = 0, epoch_kl_ = 0, epoch_wall_ = 0;
  std::vector<std::vector<float>> params_;  ///< Adam state: m and v for every array of both networks, in order
  std::vector<PdnnVaeEpoch> history_;
  bool out_of_time_ = false;
  std::vector<std::vector<float>*> arrays();
};

}  // namespace pbit
