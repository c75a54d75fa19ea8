// A small classifier network whose hidden layer provides features for a Frechet distance between
// sets of binary images ("feature FID"): no downloaded weights, trained deterministically by pbit.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "pbit/models/dataset.hpp"

namespace pbit {

/// 784 -> H (ReLU) -> 10 MLP on +-1 pixels. Training is deterministic (Philox init and order, serial
/// SGD with momentum), so the same data and settings always give the same network.
class FeatureNet {
 public:
  FeatureNet() = default;
  FeatureNet(int32_t inputs, int32_t hidden, uint64_t seed);

  /// Trains on binarized images (pixel > threshold -> +1); prints progress when `progress`.
  void train(const ImageDataset& d, int32_t threshold, int32_t epochs, float lr, uint64_t seed, bool progress = false);
  /// Test accuracy on binarized images.
  double accuracy(const ImageDataset& d, int32_t threshold) const;
  /// Predicted class of each +-1 spin image.
  std::vector<int32_t> classify(const std::vector<std::vector<int8_t>>& images) const;
  /// Hidden-layer features (n x hidden) of +-1 spin images (n x inputs).
  std::vector<double> features(const std::vector<std::vector<int8_t>>& images) const;
  int32_t hidden() const { return hidden_; }

  /// The parameters, in the order w1 (hidden x inputs), b1, w2 (10 x hidden), b2.
  struct Parameters {
    std::vector<float> w1, b1, w2, b2;
  };
  /// The summed softmax cross-entropy of +-1 spin images against their labels (0..9), and its
  /// gradient with respect to every parameter (what one training batch steps along; a
  /// finite-difference test checks it).
  double loss_gradient(const std::vector<std::vector<int8_t>>& images, const std::vector<int32_t>& labels, Parameters& grad) const;
  /// The parameters, to read or to perturb (tests, inspection).
  Parameters& parameters() { return p_; }

  void save(const std::string& path) const;
  static FeatureNet load(const std::string& path);

  /// Where the cache file `name` lives: `$PBIT_CACHE_DIR/name` when that variable is set (a device
  /// job keeps it in its committed state, so each lease does not train the network again), else
  /// `out/cache/name` under the working folder.
  static std::string cache_file(const std::string& name);
  /// Loads `cache_path` if it exists and was trained with the same settings; otherwise trains on
  /// `train`, reports test accuracy on `test` (if non-null) and saves the cache.
  static FeatureNet cached(const std::string& cache_path, const ImageDataset& train, int32_t threshold, int32_t epochs,
                           uint64_t seed, double* test_accuracy = nullptr, const ImageDataset* test = nullptr);

 private:
  void forward(const float* x, float* h, float* out) const;
  /// Adds one image's gradient to `g` (scratch h, out, dout, dh sized hidden, 10, 10, hidden) and
  /// returns its cross-entropy.
  double backprop(const float* x, int32_t label, Parameters& g, float* h, float* out, float* dout, float* dh) const;
  int32_t in_ = 0, hidden_ = 0;
  Parameters p_;                          ///< w1: hidden x in, w2: 10 x hidden
  uint64_t train_key_ = 0;                ///< fingerprint of the training settings (for the cache)
};

/// Binarized images of a dataset as spin vectors.
std::vector<std::vector<int8_t>> spin_images(const ImageDataset& d, int32_t threshold, int64_t limit = 0);

/// Feature-space Frechet distance between two sets of spin images.
double feature_frechet(const FeatureNet& net, const std::vector<std::vector<int8_t>>& a, const std::vector<std::vector<int8_t>>& b);

/// Mean over `gen` of the Hamming distance to the nearest image of `train` (memorisation check);
/// InvalidArgument for an empty side or images of different sizes.
double mean_nearest_hamming(const std::vector<std::vector<int8_t>>& gen, const std::vector<std::vector<int8_t>>& train);

}  // namespace pbit
