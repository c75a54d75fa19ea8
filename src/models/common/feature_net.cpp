#include "pbit/models/feature_net.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <numeric>

#include "util/binary_io.hpp"
#include "util/file_formats.hpp"
#include "pbit/error.hpp"
#include "pbit/core/io.hpp"
#include "pbit/models/metrics.hpp"
#include "pbit/core/rng.hpp"
#include "pbit/dist/comm.hpp"
#include "util/memory.hpp"
#include "util/text.hpp"

namespace pbit {

FeatureNet::FeatureNet(int32_t inputs, int32_t hidden, uint64_t seed) : in_(inputs), hidden_(hidden) {
  if (inputs < 1 || hidden < 1) {
    throw InvalidArgument("FeatureNet: needs at least 1 input and 1 hidden unit, got " + std::to_string(inputs) + " and " +
                          std::to_string(hidden));
  }
  detail::check_memory(4.0 * (static_cast<double>(hidden) * inputs + 10.0 * hidden), "the feature network's weights");
  rng::PhiloxStream rs(seed, rng::kWeightInit, 0xFEA7u);
  p_.w1.resize(static_cast<size_t>(hidden) * inputs);
  p_.w2.resize(static_cast<size_t>(10) * hidden);
  p_.b1.assign(hidden, 0.0f);
  p_.b2.assign(10, 0.0f);
  const double s1 = std::sqrt(2.0 / inputs), s2 = std::sqrt(2.0 / hidden);
  for (float& w : p_.w1) w = static_cast<float>(s1 * rs.normal());
  for (float& w : p_.w2) w = static_cast<float>(s2 * rs.normal());
}

void FeatureNet::forward(const float* x, float* h, float* out) const {
  for (int32_t j = 0; j < hidden_; ++j) {
    const float* w = p_.w1.data() + static_cast<size_t>(j) * in_;
    float a = p_.b1[j];
    for (int32_t i = 0; i < in_; ++i) a += w[i] * x[i];
    h[j] = a > 0 ? a : 0;
  }
  for (int32_t k = 0; k < 10; ++k) {
    const float* w = p_.w2.data() + static_cast<size_t>(k) * hidden_;
    float a = p_.b2[k];
    for (int32_t j = 0; j < hidden_; ++j) a += w[j] * h[j];
    out[k] = a;
  }
}

std::vector<std::vector<int8_t>> spin_images(const ImageDataset& d, int32_t threshold, int64_t limit) {
  d.check("spin_images");
  const int64_t n = limit > 0 ? std::min(limit, d.size()) : d.size();
  std::vector<std::vector<int8_t>> out(n, std::vector<int8_t>(d.pixels_per_image()));
  for (int64_t k = 0; k < n; ++k) binarize(d.image(k), d.pixels_per_image(), threshold, out[k].data());
  return out;
}

double FeatureNet::backprop(const float* x, int32_t label, Parameters& g, float* h, float* out, float* dout, float* dh) const {
  forward(x, h, out);
  const float mx = *std::max_element(out, out + 10);
  float z = 0;
  for (int32_t c = 0; c < 10; ++c) z += dout[c] = std::exp(out[c] - mx);
  for (int32_t c = 0; c < 10; ++c) dout[c] = dout[c] / z - (c == label ? 1.0f : 0.0f);
  for (int32_t j = 0; j < hidden_; ++j) {  // back through w2 and the ReLU
    float s = 0;
    for (int32_t c = 0; c < 10; ++c) s += p_.w2[static_cast<size_t>(c) * hidden_ + j] * dout[c];
    dh[j] = h[j] > 0 ? s : 0;
  }
  for (int32_t c = 0; c < 10; ++c) {
    g.b2[c] += dout[c];
    float* gw = g.w2.data() + static_cast<size_t>(c) * hidden_;
    for (int32_t j = 0; j < hidden_; ++j) gw[j] += dout[c] * h[j];
  }
  for (int32_t j = 0; j < hidden_; ++j) {
    if (dh[j] == 0) continue;
    g.b1[j] += dh[j];
    float* gw = g.w1.data() + static_cast<size_t>(j) * in_;
    for (int32_t i = 0; i < in_; ++i) gw[i] += dh[j] * x[i];
  }
  return std::log(static_cast<double>(z)) + mx - out[label];
}

double FeatureNet::loss_gradient(const std::vector<std::vector<int8_t>>& images, const std::vector<int32_t>& labels, Parameters& grad) const {
  if (images.size() != labels.size()) throw InvalidArgument("FeatureNet: one label per image");
  grad = Parameters{std::vector<float>(p_.w1.size(), 0.0f), std::vector<float>(p_.b1.size(), 0.0f), std::vector<float>(p_.w2.size(), 0.0f),
                    std::vector<float>(p_.b2.size(), 0.0f)};
  std::vector<float> x(in_), h(hidden_), out(10), dout(10), dh(hidden_);
  double loss = 0;
  for (size_t k = 0; k < images.size(); ++k) {
    if (static_cast<int32_t>(images[k].size()) != in_) throw InvalidArgument("FeatureNet: image size does not match the network");
    if (labels[k] < 0 || labels[k] > 9) throw InvalidArgument("FeatureNet: labels are 0..9");
    for (int32_t i = 0; i < in_; ++i) x[i] = images[k][i];
    loss += backprop(x.data(), labels[k], grad, h.data(), out.data(), dout.data(), dh.data());
  }
  return loss;
}

void FeatureNet::train(const ImageDataset& d, int32_t threshold, int32_t epochs, float lr, uint64_t seed, bool progress) {
  d.check("FeatureNet::train");
  if (d.pixels_per_image() != in_) throw InvalidArgument("FeatureNet: image size does not match the network");
  std::vector<float> x(in_), h(hidden_), out(10), dout(10), dh(hidden_);
  std::vector<float> mw1(p_.w1.size(), 0), mb1(hidden_, 0), mw2(p_.w2.size(), 0), mb2(10, 0);
  const float mom = 0.9f;
  const int32_t batch = 32;
  Parameters g{std::vector<float>(p_.w1.size()), std::vector<float>(hidden_), std::vector<float>(p_.w2.size()), std::vector<float>(10)};
  for (int32_t ep = 0; ep < epochs; ++ep) {
    std::vector<int64_t> order(static_cast<size_t>(d.size()));
    std::iota(order.begin(), order.end(), 0);
    rng::PhiloxStream rs(seed, rng::kDataShuffle, 0xFEA70000u + static_cast<uint32_t>(ep));
    rs.shuffle(order);
    const float rate = lr * (ep + 1 == epochs && epochs > 1 ? 0.3f : 1.0f);
    for (int64_t start = 0; start + batch <= d.size(); start += batch) {
      for (std::vector<float>* v : {&g.w1, &g.b1, &g.w2, &g.b2}) std::fill(v->begin(), v->end(), 0.0f);
      for (int32_t q = 0; q < batch; ++q) {
        const int64_t k = order[start + q];
        const uint8_t* px = d.image(k);
        for (int32_t i = 0; i < in_; ++i) x[i] = px[i] > threshold ? 1.0f : -1.0f;
        backprop(x.data(), d.labels[k], g, h.data(), out.data(), dout.data(), dh.data());
      }
      const float s = rate / batch;
      for (size_t k = 0; k < p_.w1.size(); ++k) p_.w1[k] += mw1[k] = mom * mw1[k] - s * g.w1[k];
      for (size_t k = 0; k < p_.w2.size(); ++k) p_.w2[k] += mw2[k] = mom * mw2[k] - s * g.w2[k];
      for (int32_t j = 0; j < hidden_; ++j) p_.b1[j] += mb1[j] = mom * mb1[j] - s * g.b1[j];
      for (int32_t c = 0; c < 10; ++c) p_.b2[c] += mb2[c] = mom * mb2[c] - s * g.b2[c];
    }
    if (progress) std::fprintf(stderr, "feature net: epoch %d/%d done\n", ep + 1, epochs);
  }
}

double FeatureNet::accuracy(const ImageDataset& d, int32_t threshold) const {
  d.check("FeatureNet::accuracy");
  if (d.pixels_per_image() != in_) throw InvalidArgument("FeatureNet: image size does not match the network");
  std::vector<float> x(in_), h(hidden_), out(10);
  int64_t correct = 0;
  for (int64_t k = 0; k < d.size(); ++k) {
    for (int32_t i = 0; i < in_; ++i) x[i] = d.image(k)[i] > threshold ? 1.0f : -1.0f;
    forward(x.data(), h.data(), out.data());
    correct += std::max_element(out.begin(), out.end()) - out.begin() == d.labels[k];
  }
  return d.size() ? static_cast<double>(correct) / d.size() : 0.0;
}

std::vector<int32_t> FeatureNet::classify(const std::vector<std::vector<int8_t>>& images) const {
  std::vector<int32_t> out(images.size());
  std::vector<float> x(in_), h(hidden_), o(10);
  for (size_t k = 0; k < images.size(); ++k) {
    if (static_cast<int32_t>(images[k].size()) != in_) throw InvalidArgument("FeatureNet: image size does not match the network");
    for (int32_t i = 0; i < in_; ++i) x[i] = images[k][i];
    forward(x.data(), h.data(), o.data());
    out[k] = static_cast<int32_t>(std::max_element(o.begin(), o.end()) - o.begin());
  }
  return out;
}

std::vector<double> FeatureNet::features(const std::vector<std::vector<int8_t>>& images) const {
  std::vector<double> f(images.size() * hidden_);
  std::vector<float> x(in_), h(hidden_), out(10);
  for (size_t k = 0; k < images.size(); ++k) {
    if (static_cast<int32_t>(images[k].size()) != in_) throw InvalidArgument("FeatureNet: image size does not match the network");
    for (int32_t i = 0; i < in_; ++i) x[i] = images[k][i];
    forward(x.data(), h.data(), out.data());
    std::copy(h.begin(), h.end(), f.begin() + static_cast<std::ptrdiff_t>(k * hidden_));
  }
  return f;
}

namespace {
constexpr const auto& kFeatureNetMagic = detail::kFeatureNet.magic;  // (versions: util/file_formats.hpp)
}  // namespace

void FeatureNet::save(const std::string& path) const {
  using namespace detail;
  make_directories(std::filesystem::path(path).parent_path().string());
  std::ostringstream f(std::ios::binary);
  {
    put<uint64_t>(f, train_key_);
    put<int32_t>(f, in_);
    put<int32_t>(f, hidden_);
    put_vec(f, p_.w1);
    put_vec(f, p_.b1);
    put_vec(f, p_.w2);
    put_vec(f, p_.b2);
  }
  write_checksummed(path, kFeatureNetMagic, f.view());
}

FeatureNet FeatureNet::load(const std::string& path) {
  using namespace detail;
  std::istringstream f(read_checksummed(path, kFeatureNetMagic, "feature network"), std::ios::binary);
  FeatureNet n;
  n.train_key_ = get<uint64_t>(f, path);
  n.in_ = get<int32_t>(f, path);
  n.hidden_ = get<int32_t>(f, path);
  if (n.in_ < 1 || n.in_ > (1 << 20) || n.hidden_ < 1 || n.hidden_ > (1 << 16)) {
    throw InvalidArgument("feature network '" + path + "' declares an impossible shape " + std::to_string(n.in_) + " x " +
                          std::to_string(n.hidden_));
  }
  n.p_.w1 = get_vec<float>(f, path, static_cast<size_t>(n.in_) * n.hidden_);
  n.p_.b1 = get_vec<float>(f, path, n.hidden_);
  n.p_.w2 = get_vec<float>(f, path, static_cast<size_t>(10) * n.hidden_);
  n.p_.b2 = get_vec<float>(f, path, 10);
  return n;
}

std::string FeatureNet::cache_file(const std::string& name) {
  const char* dir = std::getenv("PBIT_CACHE_DIR");
  return (dir && *dir ? std::string(dir) : std::string("out/cache")) + "/" + name;
}

FeatureNet FeatureNet::cached(const std::string& path, const ImageDataset& train, int32_t threshold, int32_t epochs, uint64_t seed,
                              double* test_accuracy, const ImageDataset* test) {
  // The images and labels themselves are in the key: another copy of a dataset of the same name and
  // size (another dataset.dir, a changed file) trains its own network.
  uint64_t key = detail::fnv1a(train.name + "|" + std::to_string(train.size()) + "|" + std::to_string(threshold) + "|" +
                               std::to_string(epochs) + "|" + std::to_string(seed) + "|v1");
  key = detail::fnv1a(std::string_view(reinterpret_cast<const char*>(train.pixels.data()), train.pixels.size()), key);
  key = detail::fnv1a(std::string_view(reinterpret_cast<const char*>(train.labels.data()), train.labels.size()), key);
  FeatureNet n;
  bool have = false;
  if (std::filesystem::exists(path)) {
    try {
      n = load(path);
      have = n.train_key_ == key;
    } catch (const Error& e) {  // a broken cache is retrained, and replaced
      if (dist::rank() == 0) std::cerr << "note: the cached feature network " << detail::printable(path) << " cannot be read (" << detail::printable(e.what())
                                     << "): trained again\n";
    }
  }
  if (!have) {
    n = FeatureNet(train.pixels_per_image(), 128, seed);
    n.train(train, threshold, epochs, 0.02f, seed, true);
    n.train_key_ = key;
    try {  // the cache only saves time: a folder that cannot hold it must not end the run that trained it
      n.save(path);
    } catch (const IoError& e) {
      std::cerr << "note: the feature network is not cached (" << detail::printable(e.what()) << "); it is trained again next time\n";
    }
  }
  if (test_accuracy && test) *test_accuracy = n.accuracy(*test, threshold);
  return n;
}

double feature_frechet(const FeatureNet& net, const std::vector<std::vector<int8_t>>& a, const std::vector<std::vector<int8_t>>& b) {
  const std::vector<double> fa = net.features(a), fb = net.features(b);
  return metrics::frechet_distance(metrics::fit_gaussian(fa, static_cast<int64_t>(a.size()), net.hidden()),
                                   metrics::fit_gaussian(fb, static_cast<int64_t>(b.size()), net.hidden()));
}

double mean_nearest_hamming(const std::vector<std::vector<int8_t>>& gen, const std::vector<std::vector<int8_t>>& train) {
  if (gen.empty() || train.empty()) throw InvalidArgument("mean_nearest_hamming: needs at least one image on each side");
  for (const auto* side : {&gen, &train}) {
    for (const auto& im : *side) {
      if (im.size() != gen.front().size()) {
        throw InvalidArgument("mean_nearest_hamming: images of " + std::to_string(im.size()) + " and " + std::to_string(gen.front().size()) +
                              " pixels");
      }
    }
  }
  double total = 0;
  for (const auto& g : gen) {
    int best = INT32_MAX;
    for (const auto& t : train) {
      int d = 0;
      for (size_t p = 0; p < g.size() && d < best; ++p) d += g[p] != t[p];
      best = std::min(best, d);
    }
    total += best;
  }
  return total / static_cast<double>(gen.size());
}

}  // namespace pbit
