#include "pbit/models/pdnn.hpp"

#include <omp.h>

// GCC 12 reports a false -Wmaybe-uninitialized inside its AVX-512 intrinsic headers, used by Eigen.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// Eigen's products run on one thread: split over threads, a long sum is added in another order, and
// the weights would depend on the machine's core count (tests/test_pdnn.cpp, OpenMpThreadCount).
#define EIGEN_DONT_PARALLELIZE
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "models/pdnn/pdnn_math.hpp"
#include "pbit/core/backend.hpp"
#include "pbit/core/hardware_model.hpp"
#include "pbit/core/rng.hpp"
#include "pbit/error.hpp"
#include "models/common/adam.hpp"
#include "models/common/checkpoint.hpp"
#include "models/common/image_selection.hpp"
#include "util/binary_io.hpp"
#include "util/file_formats.hpp"
#include "util/json_util.hpp"
#include "util/memory.hpp"
#include "util/parallel_for.hpp"
#include "util/progress.hpp"
#include "util/threads.hpp"

namespace pbit {

using detail::get_bool;
using detail::get_float_in;
using detail::get_int;
using detail::get_string;
using detail::only_keys;

namespace {

constexpr const auto& kModelMagic = detail::kPdnnModel.magic;  // (util/file_formats.hpp)
constexpr const auto& kCkptMagic = detail::kPdnnCheckpoint.magic;
constexpr int32_t kMaxEpochs = 100000;
constexpr int32_t kMaxLayers = 16;
constexpr int32_t kMaxWidth = 1 << 16;
constexpr int64_t kMaxParameters = int64_t{1} << 28;
constexpr int32_t kMaxSamples = 1 << 16;

/// A network's layer sizes: inputs, the hidden widths, outputs. The generator's encoder maps the
/// pixels to a mean and a log-variance per latent; its decoder maps the latents to the pixels.
std::vector<int32_t> layer_sizes(int32_t inputs, const std::vector<int32_t>& hidden, int32_t outputs) {
  std::vector<int32_t> sizes{inputs};
  sizes.insert(sizes.end(), hidden.begin(), hidden.end());
  sizes.push_back(outputs);
  return sizes;
}
std::vector<int32_t> encoder_sizes(const PdnnConfig& c, int32_t pixels) { return layer_sizes(pixels, c.gen.encoder_hidden, 2 * c.gen.latent); }
std::vector<int32_t> decoder_sizes(const PdnnConfig& c, int32_t pixels) { return layer_sizes(c.gen.latent, c.hidden, pixels); }

using MatRM = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapRM = Eigen::Map<MatRM>;
using CMapRM = Eigen::Map<const MatRM>;

int32_t act_code(PdnnActivation a) {
  return a == PdnnActivation::tanh ? detail::kPdnnTanh : a == PdnnActivation::quant ? detail::kPdnnQuant : detail::kPdnnPbit;
}

std::vector<int32_t> get_int_list(const nlohmann::json& v, const std::string& key, int64_t lo, int64_t hi, size_t min_size) {
  if (!v.is_array()) detail::config_error(key, "must be a list of whole numbers");
  if (v.size() < min_size) detail::config_error(key, "needs at least " + std::to_string(min_size) + " entries");
  if (v.size() > 64) detail::config_error(key, "has more than 64 entries");
  std::vector<int32_t> out;
  for (size_t k = 0; k < v.size(); ++k) out.push_back(static_cast<int32_t>(get_int(v[k], key + "[" + std::to_string(k) + "]", lo, hi)));
  return out;
}

/// The work units (util/parallel_for.hpp, about 0.2 ns) of one multiply-add of preactivate (measured
/// here: 0.18-0.21 ns, for 1 and for 8192 rows of 784-256-256-10) and of one unit's activation (a
/// quarter of a Philox block, or a tanh).
constexpr double kPdnnUnitsPerMac = 1.0, kPdnnUnitsPerActivation = 16.0;

}  // namespace

/// The threads a forward call of `rows` rows (images x T) is worth, by its whole work, which all its
/// regions then run on: a small call runs on this thread, where it started every OpenMP thread and
/// on a busy machine waited on them for a thousand times its work (helper-121: 85 inferences/s on
/// 2 threads, 2.8e5 on one), while one count for the call keeps its regions from switching between
/// one thread and several, which on 2 images of 784-256-256-10 cost more than either (44,000
/// inferences/s, against 49,000 on one thread and 65,000 on two throughout).
int pdnn_forward_threads(const PdnnNet& net, int64_t images, int32_t T, int requested) {
  const int64_t rows = images * T;
  double units = 0;
  for (int32_t l = 0; l < net.layers(); ++l) {
    const double r = static_cast<double>(l == 0 ? images : rows);
    units += kPdnnUnitsPerMac * r * net.sizes[l] * net.sizes[l + 1];
    if (l + 1 < net.layers()) units += kPdnnUnitsPerActivation * static_cast<double>(rows) * net.sizes[l + 1];
  }
  return detail::threads_for(units, [&] { return detail::omp_threads(requested); });
}

namespace {

/// One row of preactivate, its values passed, not captured: reached through a lambda's references the
/// inner loops ran 7% slower (the compiler reloads what a store might have changed).
void preactivate_row(const float* a, int32_t nin, const float* W, const float* b, int32_t nout, float* zr) {
  std::fill(zr, zr + nout, 0.0f);
  for (int32_t k = 0; k < nin; ++k) {
    const float ak = a[k];
    if (ak == 0.0f) continue;
    const float* wk = W + static_cast<int64_t>(k) * nout;
    if (ak == 1.0f) {  // 1 * w = w and acc + (-w) = acc - w exactly: the same sums, fewer operations
      for (int32_t j = 0; j < nout; ++j) zr[j] += wk[j];
    } else if (ak == -1.0f) {
      for (int32_t j = 0; j < nout; ++j) zr[j] -= wk[j];
    } else {
      for (int32_t j = 0; j < nout; ++j) zr[j] += ak * wk[j];
    }
  }
  for (int32_t j = 0; j < nout; ++j) zr[j] += b[j];
}

/// z (rows x nout) = in (rows x nin) W + b, by the forward contract: inputs in order, zeros skipped,
/// fp32 without contraction. Each row's sums depend on nothing but the row, so threads do not
/// change them; the inner loop over outputs vectorises without reordering any sum.
void preactivate(const float* in, int64_t rows, int32_t nin, const float* W, const float* b, int32_t nout, float* z, int threads) {
  detail::parallel_for_on(rows, threads, [=](int64_t r) { preactivate_row(in + r * nin, nin, W, b, nout, z + r * nout); });
}

/// a (images T x n) from z: rows i T + t read z row i (expand, layer 0) or row i T + t. With hardware
/// (hw non-null) p-bits decide by the hardware model on the same uniform: +1 iff u < (1 + t) / 2.
void activate(const float* z, int64_t images, int32_t T, bool expand, int32_t n, const PdnnUnits& u, rng::Key key, uint32_t layer,
              uint32_t epoch, const int64_t* ids, int64_t first_id, float* a, int threads, const PbitHardware* hw = nullptr,
              const PbitDevice* dev = nullptr) {
  const int32_t code = act_code(u.activation);
  const int64_t rows = images * T;
  const int32_t bits = u.bits;
  // (by value: through references the loops reload what a store might have changed, as preactivate_row says)
  detail::parallel_for_on(rows, threads, [=](int64_t r) {
    const int64_t i = r / T;
    const uint32_t t = static_cast<uint32_t>(r % T);
    const float* zr = z + (expand ? i : r) * n;
    float* ar = a + r * n;
    const uint32_t id = static_cast<uint32_t>(ids ? ids[i] : first_id + i);
    if (hw) {
      const detail::PdnnHardwareUnit hu = detail::pdnn_hardware_unit(*hw);
      for (int32_t j = 0; j < n; j += 4) {
        const rng::Block blk = rng::philox4x32_10(detail::pdnn_counter(id, t, layer, epoch, static_cast<uint32_t>(j)), key);
        for (int32_t q = 0; q < 4 && j + q < n; ++q) {
          const int32_t k = j + q;
          ar[k] = detail::pdnn_hardware_activate(hu, zr[k], dev->gain[k], dev->offset[k], dev->stuck[k],
                                                 rng::word(blk, static_cast<uint32_t>(q)));
        }
      }
    } else if (code == detail::kPdnnPbit) {
      for (int32_t j = 0; j < n; j += 4) {  // one Philox block serves four units
        const rng::Block blk = rng::philox4x32_10(detail::pdnn_counter(id, t, layer, epoch, static_cast<uint32_t>(j)), key);
        for (int32_t q = 0; q < 4 && j + q < n; ++q) {
          ar[j + q] = static_cast<float>(detail::gibbs_spin(rng::word(blk, static_cast<uint32_t>(q)), 2.0f, zr[j + q]));
        }
      }
    } else {
      for (int32_t j = 0; j < n; ++j) ar[j] = detail::pdnn_activate(code, bits, zr[j], key, id, t, layer, epoch, static_cast<uint32_t>(j));
    }
  });
}

int resolve_threads(int t) { return detail::omp_threads(t); }

/// One Adam step on w with gradient gr and moments m, v (float state, double arithmetic), the
/// `step`-th of the run. Both trainers (classifier and generator) use it.
void adam_step(std::vector<float>& w, const std::vector<float>& gr, std::vector<float>& m, std::vector<float>& v, double lr,
               double b1, double b2, int64_t step) {
  detail::adam_update(std::span(w), std::span(gr), std::span(m), std::span(v), lr, b1, b2, step, detail::AdamDirection::descend);
}

}  // namespace

// ---------------------------------------------------------------- names and config

std::string to_string(PdnnActivation a) {
  return a == PdnnActivation::tanh ? "tanh" : a == PdnnActivation::quant ? "quant" : "pbit";
}

PdnnActivation pdnn_activation_from_string(const std::string& s, const std::string& what) {
  if (s == "tanh") return PdnnActivation::tanh;
  if (s == "quant") return PdnnActivation::quant;
  if (s == "pbit") return PdnnActivation::pbit;
  throw InvalidArgument(what + " must be tanh, quant or pbit, got '" + s + "'");
}

std::string PdnnUnits::name() const {
  return activation == PdnnActivation::quant ? "quant" + std::to_string(bits) : to_string(activation);
}

PdnnConfig parse_pdnn_config(const nlohmann::json& j) {
  if (!j.is_object()) throw InvalidConfig("a p-DNN config must be a JSON object");
  detail::only_config_sections(j, detail::ConfigKind::pdnn);
  PdnnConfig c;
  c.source = j;
  if (j.contains("data")) {
    const auto& d = j["data"];
    only_keys(d, "data", {"dataset", "data_dir", "train_images", "test_images"});
    if (d.contains("dataset")) c.dataset = get_string(d["dataset"], "data.dataset", {"mnist", "fashion-mnist"});
    if (d.contains("data_dir")) c.data_dir = detail::get_path(d["data_dir"], "data.data_dir");
    if (d.contains("train_images")) c.train_images = get_int(d["train_images"], "data.train_images", 0, 1 << 24);
    if (d.contains("test_images")) c.test_images = get_int(d["test_images"], "data.test_images", 0, 1 << 24);
  }
  if (j.contains("network")) {
    const auto& n = j["network"];
    only_keys(n, "network", {"hidden", "activation", "bits"});
    if (n.contains("hidden")) c.hidden = get_int_list(n["hidden"], "network.hidden", 1, kMaxWidth, 1);
    if (c.hidden.size() > static_cast<size_t>(kMaxLayers - 1)) detail::config_error("network.hidden", "has more than 15 layers");
    if (n.contains("activation")) {
      c.units.activation = pdnn_activation_from_string(get_string(n["activation"], "network.activation", {"tanh", "quant", "pbit"}));
    }
    if (n.contains("bits")) {
      if (c.units.activation != PdnnActivation::quant) detail::config_error("network.bits", "applies to activation 'quant' only");
      c.units.bits = static_cast<int32_t>(get_int(n["bits"], "network.bits", 1, 8));
    } else if (c.units.activation == PdnnActivation::quant) {
      detail::config_error("network.bits", "missing: activation 'quant' needs its bits (1..8)");
    }
  }
  if (j.contains("train")) {
    const auto& t = j["train"];
    only_keys(t, "train",
              {"samples", "epochs", "batch_size", "lr", "lr_decay", "adam_b1", "adam_b2", "checkpoint_every_batches", "time_budget_s", "mode"});
    if (t.contains("time_budget_s")) c.time_budget_s = detail::get_double_in(t["time_budget_s"], "train.time_budget_s", 0, 1e9);
    if (t.contains("mode")) c.train_mode = get_string(t["mode"], "train.mode", {"ideal", "pat", "in_situ"});
    if (t.contains("samples")) c.train_samples = static_cast<int32_t>(get_int(t["samples"], "train.samples", 1, 1024));
    if (t.contains("epochs")) c.epochs = static_cast<int32_t>(get_int(t["epochs"], "train.epochs", 1, kMaxEpochs));
    if (t.contains("batch_size")) c.batch_size = static_cast<int32_t>(get_int(t["batch_size"], "train.batch_size", 1, 1 << 16));
    if (t.contains("lr")) c.lr = get_float_in(t["lr"], "train.lr", 0, 100);
    if (t.contains("lr_decay")) c.lr_decay = get_float_in(t["lr_decay"], "train.lr_decay", 1e-6, 1);
    if (t.contains("adam_b1")) c.adam_b1 = get_float_in(t["adam_b1"], "train.adam_b1", 0, 0.999999);
    if (t.contains("adam_b2")) c.adam_b2 = get_float_in(t["adam_b2"], "train.adam_b2", 0, 0.999999);
    if (t.contains("checkpoint_every_batches")) {
      c.checkpoint_every_batches = get_int(t["checkpoint_every_batches"], "train.checkpoint_every_batches", 0, int64_t{1} << 40);
    }
  }
  if (c.train_samples > 1 && !c.units.stochastic()) {
    detail::config_error("train.samples", "more than one sample needs stochastic units (network.activation 'pbit')");
  }
  if (static_cast<int64_t>(c.batch_size) * c.train_samples > (1 << 20)) {
    detail::config_error("train.batch_size", "batch_size x samples must be at most 2^20 rows");
  }
  if (j.contains("eval")) {
    const auto& e = j["eval"];
    only_keys(e, "eval", {"samples", "batch_images"});
    if (e.contains("samples")) {
      c.eval_samples = get_int_list(e["samples"], "eval.samples", 1, kMaxSamples, 1);
      if (!std::is_sorted(c.eval_samples.begin(), c.eval_samples.end()) ||
          std::adjacent_find(c.eval_samples.begin(), c.eval_samples.end()) != c.eval_samples.end()) {
        detail::config_error("eval.samples", "must be increasing");
      }
    }
    if (e.contains("batch_images")) c.eval_batch_images = get_int(e["batch_images"], "eval.batch_images", 1, 1 << 20);
  }
  if (j.contains("hardware")) c.hardware = parse_hardware(j["hardware"], "hardware");
  if (c.hardware.lfsr()) {
    detail::config_error("hardware.rng", "'lfsr' is a sampler option; the p-DNN's units draw one Philox word per (image, sample, unit)");
  }
  if (!c.hardware.ideal() && !c.units.stochastic()) {
    detail::config_error("hardware", "models p-bit units: it needs network.activation 'pbit'");
  }
  if (c.train_mode != "ideal" && c.hardware.ideal()) {
    detail::config_error("train.mode", "'" + c.train_mode + "' trains against a device: give a 'hardware' section with some imperfection");
  }
  if (j.contains("generator")) {
    const auto& g = j["generator"];
    only_keys(g, "generator", {"latent", "encoder_hidden", "kl_weight", "fid_images", "threshold"});
    c.generator = true;
    if (g.contains("latent")) c.gen.latent = static_cast<int32_t>(get_int(g["latent"], "generator.latent", 1, 4096));
    if (g.contains("encoder_hidden")) c.gen.encoder_hidden = get_int_list(g["encoder_hidden"], "generator.encoder_hidden", 1, kMaxWidth, 0);
    if (c.gen.encoder_hidden.size() > static_cast<size_t>(kMaxLayers - 1)) detail::config_error("generator.encoder_hidden", "has more than 15 layers");
    if (g.contains("kl_weight")) c.gen.kl_weight = get_float_in(g["kl_weight"], "generator.kl_weight", 0, 1000);
    if (g.contains("fid_images")) c.gen.fid_images = get_int(g["fid_images"], "generator.fid_images", 2, 1 << 20);
    if (g.contains("threshold")) c.gen.threshold = static_cast<int32_t>(get_int(g["threshold"], "generator.threshold", 0, 254));
    if (!c.hardware.ideal()) detail::config_error("hardware", "is not supported for generators yet");
  }
  detail::parse_run_section(j, c.backend, c.threads, c.seed, c.output_dir);
  // The networks' size, known here (both datasets: 784 pixels, 10 classes), so that a config of too
  // many parameters is refused by 'pdnn config' and before the data are read (helper-129: it was
  // refused after, with no word of which key).
  const auto parameters = [](std::vector<int32_t> sizes) {
    PdnnNet shape;
    shape.sizes = std::move(sizes);
    return shape.parameters();
  };
  constexpr int32_t kPixels = 28 * 28, kClasses = 10;
  const std::vector<int32_t> net = c.generator ? decoder_sizes(c, kPixels) : layer_sizes(kPixels, c.hidden, kClasses);
  if (const int64_t n = parameters(net); n > kMaxParameters) {
    detail::config_error("network.hidden", "gives the " + std::string(c.generator ? "decoder " : "network ") + std::to_string(n) +
                                               " parameters, more than 2^28 (" + std::to_string(kMaxParameters) + ")");
  }
  if (c.generator) {
    if (const int64_t n = parameters(encoder_sizes(c, kPixels)); n > kMaxParameters) {
      detail::config_error("generator.encoder_hidden", "gives the encoder " + std::to_string(n) + " parameters, more than 2^28 (" +
                                                           std::to_string(kMaxParameters) + ")");
    }
  }
  return c;
}

nlohmann::json resolved_config(const PdnnConfig& c) {
  using detail::float_json;
  nlohmann::json j;
  j["data"] = {{"dataset", c.dataset}, {"train_images", c.train_images}, {"test_images", c.test_images}};
  if (!c.data_dir.empty()) j["data"]["data_dir"] = c.data_dir;  // (absent: the dataset's default folders)
  j["network"] = {{"hidden", c.hidden}, {"activation", to_string(c.units.activation)}};
  if (c.units.activation == PdnnActivation::quant) j["network"]["bits"] = c.units.bits;
  j["train"] = {{"samples", c.train_samples},
                {"epochs", c.epochs},
                {"batch_size", c.batch_size},
                {"lr", float_json(c.lr)},
                {"lr_decay", float_json(c.lr_decay)},
                {"adam_b1", float_json(c.adam_b1)},
                {"adam_b2", float_json(c.adam_b2)},
                {"checkpoint_every_batches", c.checkpoint_every_batches},
                {"time_budget_s", c.time_budget_s},
                {"mode", c.train_mode}};
  j["eval"] = {{"samples", c.eval_samples}, {"batch_images", c.eval_batch_images}};
  if (!c.hardware.ideal()) j["hardware"] = c.hardware.config_json();
  if (c.generator) {
    j["generator"] = {{"latent", c.gen.latent}, {"encoder_hidden", c.gen.encoder_hidden}, {"kl_weight", float_json(c.gen.kl_weight)},
                      {"fid_images", c.gen.fid_images}, {"threshold", c.gen.threshold}};
  }
  j["run"] = detail::run_section_json(c.backend, c.threads, c.seed, c.output_dir);
  return j;
}

// ---------------------------------------------------------------- the network

int64_t PdnnNet::parameters() const {
  int64_t n = 0;
  for (int32_t l = 0; l < layers(); ++l) n += static_cast<int64_t>(sizes[l]) * sizes[l + 1] + sizes[l + 1];
  return n;
}

PdnnNet PdnnNet::create(const std::vector<int32_t>& sizes, uint64_t seed) {
  if (sizes.size() < 2 || sizes.size() > static_cast<size_t>(kMaxLayers + 1)) throw InvalidArgument("p-DNN: 1 to 16 layers (2 to 17 sizes, inputs to classes), got " + std::to_string(sizes.size()) + " sizes");
  for (int32_t s : sizes)
    if (s < 1 || s > kMaxWidth) throw InvalidArgument("p-DNN: every layer needs 1 to 65536 units");
  if (sizes.back() < 2) throw InvalidArgument("p-DNN: at least two classes");
  PdnnNet n;
  n.sizes = sizes;
  if (n.parameters() > kMaxParameters) {
    throw InvalidArgument("p-DNN: " + std::to_string(n.parameters()) + " parameters, more than 2^28 (the layers' widths give them)");
  }
  rng::PhiloxStream rs(seed, rng::pdnn_stream(rng::PdnnUse::init));
  for (int32_t l = 0; l < n.layers(); ++l) {
    const double a = std::sqrt(6.0 / (sizes[l] + sizes[l + 1]));  // Glorot uniform
    std::vector<float> w(static_cast<size_t>(sizes[l]) * sizes[l + 1]);
    for (float& x : w) x = static_cast<float>((2 * rs.uniform() - 1) * a);
    n.w.push_back(std::move(w));
    n.b.emplace_back(static_cast<size_t>(sizes[l + 1]), 0.0f);
  }
  return n;
}

namespace {

void write_net(std::ostream& f, const PdnnNet& n) {
  detail::put_vec(f, n.sizes);
  detail::put<int32_t>(f, static_cast<int32_t>(n.trained_units.activation));
  detail::put<int32_t>(f, n.trained_units.bits);
  detail::put<int32_t>(f, n.train_samples);
  for (int32_t l = 0; l < n.layers(); ++l) detail::put_vec(f, n.w[l]), detail::put_vec(f, n.b[l]);
}

PdnnNet read_net(std::istream& f, const std::string& path, const std::string& what) {
  const auto ns = detail::get<uint64_t>(f, path);
  if (ns < 2 || ns > static_cast<uint64_t>(kMaxLayers + 1)) throw InvalidArgument(what + " '" + path + "' has an impossible shape");
  f.seekg(-8, std::ios::cur);
  PdnnNet n;
  n.sizes = detail::get_vec<int32_t>(f, path, ns);
  for (int32_t s : n.sizes)
    if (s < 1 || s > kMaxWidth) throw InvalidArgument(what + " '" + path + "' has an impossible shape");
  if (n.parameters() > kMaxParameters) throw InvalidArgument(what + " '" + path + "' has an impossible shape");
  const auto act = detail::get<int32_t>(f, path);
  const auto bits = detail::get<int32_t>(f, path);
  const auto ts = detail::get<int32_t>(f, path);
  if (act < 0 || act > 2 || bits < 1 || bits > 8 || ts < 1 || ts > 1024) throw InvalidArgument(what + " '" + path + "' is corrupt");
  n.trained_units.activation = static_cast<PdnnActivation>(act);
  n.trained_units.bits = bits;
  n.train_samples = ts;
  for (int32_t l = 0; l < n.layers(); ++l) {
    n.w.push_back(detail::get_vec<float>(f, path, static_cast<size_t>(n.sizes[l]) * n.sizes[l + 1]));
    n.b.push_back(detail::get_vec<float>(f, path, static_cast<size_t>(n.sizes[l + 1])));
  }
  for (const auto* v : {&n.w, &n.b})
    for (const auto& a : *v)
      for (float x : a)
        if (!std::isfinite(x)) throw InvalidArgument(what + " '" + path + "' holds a weight that is not finite");
  return n;
}

}  // namespace

// The classifier's file is the network, then (from 2026-12-07) how it was trained: a JSON string
// {"train_mode", "train_hardware"} after it, which an older pbit's reader leaves unread (so its
// format is still PBITPDM1), and a file without it reads as not recorded.
void PdnnNet::save(const std::string& path) const {
  std::ostringstream f(std::ios::binary);
  write_net(f, *this);
  if (!train_mode.empty()) detail::put_string(f, nlohmann::json{{"train_mode", train_mode}, {"train_hardware", train_hardware}}.dump());
  detail::write_checksummed(path, kModelMagic, f.str());
}

PdnnNet PdnnNet::load(const std::string& path) {
  std::istringstream f(detail::read_checksummed(path, kModelMagic, "p-DNN model"), std::ios::binary);
  PdnnNet n = read_net(f, path, "p-DNN model");
  if (n.classes() < 2) throw InvalidArgument("p-DNN model '" + path + "' has an impossible shape");
  if (detail::bytes_left(f) > 0) {
    const std::string text = detail::get_string(f, path);
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    // (keys past these two, a later pbit's, are left unread, as an older pbit leaves the whole record)
    const bool ok = j.is_object() && j.contains("train_mode") && j["train_mode"].is_string() &&
                    j.contains("train_hardware") && j["train_hardware"].is_string() &&
                    (j["train_mode"] == "ideal" || j["train_mode"] == "pat" || j["train_mode"] == "in_situ") &&
                    j["train_hardware"].get<std::string>().size() <= 4096;
    if (!ok || detail::bytes_left(f) != 0) throw InvalidArgument("p-DNN model '" + path + "' is corrupt: its record of how it was trained is not one");
    n.train_mode = j["train_mode"].get<std::string>();
    n.train_hardware = j["train_hardware"].get<std::string>();
  }
  return n;
}

float pdnn_tanh(float z) { return detail::pdnn_tanh_det(z); }
float pdnn_quantize(float t, int32_t bits) {
  if (bits < 1 || bits > 8) throw InvalidArgument("pdnn_quantize: bits must be 1..8");
  return detail::pdnn_quantize_det(t, bits);
}

// ---------------------------------------------------------------- forward

double pdnn_forward_bytes(const PdnnNet& net, int64_t images, int32_t T) {
  int64_t widest = 0;  // of the hidden layers (none: layer 0's pre-activations, one row an image)
  for (size_t l = 1; l + 1 < net.sizes.size(); ++l) widest = std::max<int64_t>(widest, net.sizes[l]);
  const double rows = static_cast<double>(images) * T;
  // The host path's z, a and next and the logits; the GPU path's logits and their copy from the device.
  const double per_row = std::max(3.0 * static_cast<double>(widest), static_cast<double>(net.classes())) + net.classes();
  return (rows * per_row + static_cast<double>(images) * (net.inputs() + (widest > 0 ? 0 : net.classes()))) * sizeof(float);
}

void detail::check_pdnn_forward(const PdnnNet& net, const PdnnForwardSpec& s, int64_t images) {
  if (s.T < 1 || s.T > kMaxSamples) throw InvalidArgument("p-DNN forward: T must be 1..65536");
  if (!s.units.stochastic() && s.T != 1) throw InvalidArgument("p-DNN forward: deterministic units give one sample (T = 1)");
  if (s.epoch >= (1u << 24)) throw InvalidArgument("p-DNN forward: epoch beyond 2^24");
  if (images < 0) throw InvalidArgument("p-DNN forward: a negative number of images (" + std::to_string(images) + ")");
  const bool hw = s.hardware && !s.hardware->ideal();
  if (!hw) return;
  if (!s.units.stochastic()) throw InvalidArgument("p-DNN forward: the hardware model is for p-bit units");
  const int32_t L = net.layers();
  if (!s.device || static_cast<int32_t>(s.device->size()) != L - 1) {
    throw InvalidArgument("p-DNN forward: the hardware model needs a device instance per hidden layer");
  }
  for (int32_t l = 0; l + 1 < L; ++l) {
    const PbitDevice& d = (*s.device)[static_cast<size_t>(l)];
    const auto want = static_cast<size_t>(net.sizes[static_cast<size_t>(l) + 1]);
    if (d.gain.size() != want || d.offset.size() != want || d.stuck.size() != want) {
      throw InvalidArgument("p-DNN forward: the device instance of layer " + std::to_string(l) + " has the wrong size");
    }
  }
}

void pdnn_forward(const PdnnNet& net, const PdnnForwardSpec& s, const float* x, int64_t images, float* logits,
                  std::vector<std::vector<float>>* pre, std::vector<std::vector<float>>* act) {
  detail::check_pdnn_forward(net, s, images);
  const int32_t L = net.layers();
  const int64_t rows = images * s.T;
  const int threads = pdnn_forward_threads(net, images, s.T, s.threads);
  const rng::Key key = rng::make_key(s.seed, s.stream);
  const bool hw = s.hardware && !s.hardware->ideal();
  // On hardware the weights and biases are stored in its fixed point.
  std::vector<std::vector<float>> qw, qb;
  if (hw) {
    for (int32_t l = 0; l < L; ++l) {
      qw.push_back(net.w[l]);
      qb.push_back(net.b[l]);
      for (float& v : qw.back()) v = hardware_weight(*s.hardware, v);
      for (float& v : qb.back()) v = hardware_weight(*s.hardware, v);
    }
  }
  if (pre) pre->assign(static_cast<size_t>(L), {});
  if (act) act->assign(static_cast<size_t>(L - 1), {});
  std::vector<float> z, a, a_next;
  // Layer 0: the pixels are the same for all T samples, so its pre-activations are too.
  for (int32_t l = 0; l < L; ++l) {
    const int32_t nin = net.sizes[l], nout = net.sizes[l + 1];
    const int64_t zrows = l == 0 ? images : rows;
    const float* in = l == 0 ? x : a.data();
    if (l < L - 1 || l == 0) z.resize(static_cast<size_t>(zrows * nout));  // (the last layer's go to the logits)
    float* zout = l == L - 1 && l > 0 ? logits : z.data();
    preactivate(in, zrows, nin, (hw ? qw : net.w)[l].data(), (hw ? qb : net.b)[l].data(), nout, zout, threads);
    if (l == L - 1) {
      if (l == 0) {  // no hidden layer: each image's logits, repeated for its T samples
        for (int64_t r = 0; r < rows; ++r) std::copy_n(z.data() + (r / s.T) * nout, nout, logits + r * nout);
      }
      if (pre) (*pre)[l].assign(zout, zout + zrows * nout);
      break;
    }
    if (pre) (*pre)[l] = z;
    a_next.resize(static_cast<size_t>(rows * nout));
    activate(z.data(), images, s.T, l == 0, nout, s.units, key, static_cast<uint32_t>(l), s.epoch, s.ids, s.first_id, a_next.data(), threads,
             hw ? s.hardware : nullptr, hw ? &(*s.device)[l] : nullptr);
    std::swap(a, a_next);
    if (act) (*act)[l] = a;
  }
}

// ---------------------------------------------------------------- gradient

void pdnn_backward(const PdnnNet& net, int32_t T, const float* x, int64_t images, const std::vector<std::vector<float>>& pre,
                   const std::vector<std::vector<float>>& act, const std::vector<float>& dlogits, PdnnGradient& g,
                   std::vector<float>* d_input, const std::vector<std::vector<float>>* slopes) {
  const int32_t L = net.layers(), C = net.classes();
  const int64_t rows = images * T;
  if (static_cast<int64_t>(dlogits.size()) != rows * C || static_cast<int32_t>(pre.size()) != L ||
      static_cast<int32_t>(act.size()) != L - 1) {
    throw InvalidArgument("pdnn_backward: the forward pass's arrays do not match the network");
  }
  g.w.assign(static_cast<size_t>(L), {});
  g.b.assign(static_cast<size_t>(L), {});
  MatRM dz = CMapRM(dlogits.data(), rows, C);
  for (int32_t l = L - 1; l >= 0; --l) {
    const int32_t nin = net.sizes[l], nout = net.sizes[l + 1];
    if (l == 0) {
      // The inputs are shared by an image's samples: sum their gradients first.
      MatRM dz0 = MatRM::Zero(images, nout);
      for (int64_t r = 0; r < rows; ++r) dz0.row(r / T) += dz.row(r);
      const CMapRM X(x, images, nin);
      MatRM dw = X.transpose() * dz0;
      g.w[0].assign(dw.data(), dw.data() + dw.size());
      Eigen::RowVectorXf db = dz0.colwise().sum();
      g.b[0].assign(db.data(), db.data() + db.size());
      if (d_input) {
        const CMapRM W(net.w[0].data(), nin, nout);
        MatRM dx = dz0 * W.transpose();
        d_input->assign(dx.data(), dx.data() + dx.size());
      }
      break;
    }
    const CMapRM A(act[static_cast<size_t>(l - 1)].data(), rows, nin);
    MatRM dw = A.transpose() * dz;
    g.w[l].assign(dw.data(), dw.data() + dw.size());
    Eigen::RowVectorXf db = dz.colwise().sum();
    g.b[l].assign(db.data(), db.data() + db.size());
    const CMapRM W(net.w[l].data(), nin, nout);
    MatRM da = dz * W.transpose();  // rows x nin
    // Through the units of layer l - 1: d a / d z = 1 - tanh(z)^2 (layer 0's z has one row per image).
    const std::vector<float>& z = pre[static_cast<size_t>(l - 1)];
    const bool per_image = l - 1 == 0;
    if (slopes) {
      const std::vector<float>& sl = (*slopes)[static_cast<size_t>(l - 1)];
      if (sl.size() != z.size()) throw InvalidArgument("pdnn_backward: slopes of the wrong shape");
      for (int64_t r = 0; r < rows; ++r) {
        const float* sr = sl.data() + (per_image ? r / T : r) * nin;
        for (int32_t k = 0; k < nin; ++k) da(r, k) *= sr[k];
      }
    } else {
      for (int64_t r = 0; r < rows; ++r) {
        const float* zr = z.data() + (per_image ? r / T : r) * nin;
        for (int32_t k = 0; k < nin; ++k) {
          const float t = detail::pdnn_tanh_det(zr[k]);
          da(r, k) *= 1.0f - t * t;
        }
      }
    }
    dz = std::move(da);
  }
}

PdnnGradient pdnn_gradient(const PdnnNet& net, const PdnnUnits& units, int32_t T, const float* x, const int32_t* labels,
                           int64_t images, const std::vector<std::vector<float>>& pre,
                           const std::vector<std::vector<float>>& act, const float* logits,
                           const std::vector<std::vector<float>>* slopes) {
  (void)units;  // quant and pbit units pass the gradient of tanh (straight through); tanh units are exact
  const int32_t C = net.classes();
  const int64_t rows = images * T;
  PdnnGradient g;
  // d loss / d logits of each row: (softmax(mean) - onehot) / (images T).
  std::vector<float> dz(static_cast<size_t>(rows * C));
  for (int64_t i = 0; i < images; ++i) {
    std::vector<double> m(static_cast<size_t>(C), 0.0);
    for (int32_t t = 0; t < T; ++t)
      for (int32_t c = 0; c < C; ++c) m[c] += logits[(i * T + t) * C + c];
    double mx = -1e300;
    int32_t arg = 0;
    for (int32_t c = 0; c < C; ++c) {
      m[c] /= T;
      if (m[c] > mx) mx = m[c], arg = c;
    }
    double sum = 0;
    for (int32_t c = 0; c < C; ++c) sum += std::exp(m[c] - mx);
    const int32_t y = labels[i];
    g.loss += -(m[y] - mx - std::log(sum));
    if (arg == y) ++g.correct;
    for (int32_t c = 0; c < C; ++c) {
      const double p = std::exp(m[c] - mx) / sum;
      const float d = static_cast<float>((p - (c == y ? 1.0 : 0.0)) / static_cast<double>(images * T));
      for (int32_t t = 0; t < T; ++t) dz[static_cast<size_t>((i * T + t) * C + c)] = d;
    }
  }
  g.loss /= static_cast<double>(images);
  const double loss = g.loss;
  const int64_t correct = g.correct;
  pdnn_backward(net, T, x, images, pre, act, dz, g, nullptr, slopes);
  g.loss = loss;
  g.correct = correct;
  return g;
}

std::vector<PbitDevice> pdnn_device(const PdnnNet& net, const PbitHardware& hw) {
  std::vector<PbitDevice> d;
  for (int32_t l = 0; l + 1 < net.layers(); ++l) d.push_back(draw_device(hw, net.sizes[l + 1], static_cast<uint32_t>(l)));
  return d;
}

std::vector<std::vector<float>> pdnn_slopes(const PdnnNet& net, const std::string& mode, const PbitHardware& hw,
                                            const std::vector<PbitDevice>& device, int32_t T, const float* x, int64_t images,
                                            const std::vector<std::vector<float>>& pre, const std::vector<std::vector<float>>& act,
                                            int threads) {
  const int32_t L = net.layers();
  threads = resolve_threads(threads);
  std::vector<std::vector<float>> out(static_cast<size_t>(L - 1));
  for (int32_t l = 0; l + 1 < L; ++l) {
    const int32_t nin = net.sizes[l], n = net.sizes[l + 1];
    const int64_t rows = l == 0 ? images : images * T;
    std::vector<float>& sl = out[static_cast<size_t>(l)];
    sl.resize(static_cast<size_t>(rows * n));
    if (mode == "pat") {
      // The ideal model's pre-activations at the measured inputs, with the float weights.
      preactivate(l == 0 ? x : act[static_cast<size_t>(l - 1)].data(), rows, nin, net.w[l].data(), net.b[l].data(), n, sl.data(), threads);
      for (float& v : sl) {
        const float t = detail::tanh_det(v);
        v = 1.0f - t * t;
      }
    } else if (mode == "in_situ") {
      const PbitDevice& d = device[static_cast<size_t>(l)];
      const float beta = 1.0f + hw.beta_offset;
      const std::vector<float>& z = pre[static_cast<size_t>(l)];
      for (int64_t r = 0; r < rows; ++r)
        for (int32_t k = 0; k < n; ++k) {
          const size_t q = static_cast<size_t>(r * n + k);
          if (d.stuck[k]) {
            sl[q] = 0.0f;
            continue;
          }
          const float th = detail::tanh_det(beta * (d.gain[k] * hardware_input(hw, z[q]) + d.offset[k]));
          sl[q] = d.gain[k] * beta * (1.0f - th * th);
        }
    } else {
      throw InvalidArgument("pdnn_slopes: mode must be pat or in_situ, got '" + mode + "'");
    }
  }
  return out;
}

// ---------------------------------------------------------------- evaluation

std::vector<float> pdnn_inputs(const ImageDataset& d, const std::vector<int64_t>& index, int64_t first, int64_t n) {
  detail::check_image_selection(d, index, first, n, "p-DNN inputs");
  const int32_t P = d.pixels_per_image();
  std::vector<float> x(static_cast<size_t>(n * P));
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* px = d.image(index[static_cast<size_t>(first + i)]);
    for (int32_t k = 0; k < P; ++k) x[i * P + k] = static_cast<float>(px[k]) / 255.0f;
  }
  return x;
}

PdnnEval pdnn_evaluate(const PdnnNet& net, const PdnnUnits& units, const std::vector<int32_t>& samples, const ImageDataset& d,
                       const std::vector<int64_t>& index, const PdnnConfig& cfg, const std::string& progress_label) {
  detail::check_image_selection(d, index, 0, static_cast<int64_t>(index.size()), "p-DNN evaluation");
  if (net.inputs() != d.pixels_per_image()) {
    throw InvalidArgument("the p-DNN takes " + std::to_string(net.inputs()) + " inputs; the " + d.name + " images have " +
                          std::to_string(d.pixels_per_image()) + " pixels");
  }
  PdnnEval e;
  e.units = units;
  e.samples = units.stochastic() ? samples : std::vector<int32_t>{1};
  if (e.samples.empty()) throw InvalidArgument("p-DNN evaluation: no sample counts given");
  const int32_t T = *std::max_element(e.samples.begin(), e.samples.end());
  const bool on_hw = !cfg.hardware.ideal() && units.stochastic();
  const std::vector<PbitDevice> device = on_hw ? pdnn_device(net, cfg.hardware) : std::vector<PbitDevice>{};
  const Backend be = backend_from_string(cfg.backend);
  const bool gpu = be == Backend::cuda;
  e.backend = gpu ? "cuda" : "host";
  e.hardware = on_hw ? cfg.hardware.describe() : "ideal";
  const int32_t C = net.classes();
  const int64_t n = static_cast<int64_t>(index.size());
  // A label the network has no output for would index past its logits (the trainer refuses them too).
  for (const int64_t k : index) {  // (each names an image: check_image_selection above)
    if (d.labels[static_cast<size_t>(k)] >= C) {
      throw InvalidArgument("p-DNN evaluation: " + d.name + " image " + std::to_string(k) + " has label " +
                            std::to_string(d.labels[static_cast<size_t>(k)]) + ", beyond the network's " + std::to_string(C) + " classes");
    }
  }
  // No larger than the images there are: the memory check is of what runs.
  const int64_t batch = std::max<int64_t>(
      1, std::min<int64_t>({cfg.eval_batch_images, std::max<int64_t>(1, (int64_t{1} << 24) / T), std::max<int64_t>(n, 1)}));
  detail::check_memory(pdnn_forward_bytes(net, batch, T), "a p-DNN evaluation batch of " + std::to_string(batch) + " images x " +
                                                             std::to_string(T) + " samples (eval.batch_images sets the images)");
  std::vector<int64_t> correct(e.samples.size(), 0);
  std::vector<double> loss(e.samples.size(), 0.0);
  const double t0 = detail::monotonic_s();
  std::unique_ptr<detail::Progress> prog;
  if (!progress_label.empty()) prog = std::make_unique<detail::Progress>(progress_label, n);
  std::vector<float> logits;
  for (int64_t first = 0; first < n; first += batch) {
    const int64_t m = std::min(batch, n - first);
    const std::vector<float> x = pdnn_inputs(d, index, first, m);
    std::vector<int64_t> ids(index.begin() + first, index.begin() + first + m);
    PdnnForwardSpec spec;
    spec.units = units;
    spec.T = units.stochastic() ? T : 1;
    spec.seed = cfg.seed;
    spec.stream = rng::pdnn_stream(rng::PdnnUse::eval);
    spec.ids = ids.data();
    spec.threads = cfg.threads;
    if (on_hw) spec.hardware = &cfg.hardware, spec.device = &device;
    logits.resize(static_cast<size_t>(m * spec.T * C));
    if (gpu) {
      pdnn_forward_cuda(net, spec, x.data(), m, logits.data());
    } else {
      pdnn_forward(net, spec, x.data(), m, logits.data());
    }
    for (int64_t i = 0; i < m; ++i) {
      const int32_t y = d.labels[static_cast<size_t>(index[static_cast<size_t>(first + i)])];
      std::vector<double> sum(static_cast<size_t>(C), 0.0);
      int32_t done = 0;
      for (size_t q = 0; q < e.samples.size(); ++q) {
        for (; done < e.samples[q]; ++done)
          for (int32_t c = 0; c < C; ++c) sum[c] += logits[(i * spec.T + done) * C + c];
        int32_t arg = 0;
        double mx = -1e300;
        for (int32_t c = 0; c < C; ++c)
          if (sum[c] > mx) mx = sum[c], arg = c;
        if (arg == y) ++correct[q];
        double z = 0;
        for (int32_t c = 0; c < C; ++c) z += std::exp((sum[c] - mx) / done);
        loss[q] += -((sum[y] - mx) / done - std::log(z));
      }
    }
    if (prog) prog->update(first + m);
  }
  e.images = n;
  for (size_t q = 0; q < e.samples.size(); ++q) {
    e.accuracy.push_back(n > 0 ? static_cast<double>(correct[q]) / static_cast<double>(n) : 0.0);
    e.mean_loss.push_back(n > 0 ? loss[q] / static_cast<double>(n) : 0.0);
  }
  e.wall_s = detail::monotonic_s() - t0;
  return e;
}

// ---------------------------------------------------------------- training

namespace {

/// A training batch's memory, checked before training starts (it ended in std::bad_alloc after the
/// data were read, or in the OOM killer): per network, its inputs (once per image, `images`) and
/// its rows (images x samples) x every later layer's width for the forward pass's pre-activations
/// and activations and the backward pass's two deltas, and its parameters four times (weights,
/// gradient, Adam's two moments).
void check_training_memory(std::initializer_list<const PdnnNet*> nets, std::initializer_list<double> images,
                           std::initializer_list<double> rows) {
  double bytes = 0;
  auto im = images.begin();
  auto r = rows.begin();
  for (const PdnnNet* n : nets) {
    double width = 0, params = 0;
    for (size_t k = 1; k < n->sizes.size(); ++k) width += n->sizes[k];
    for (int32_t l = 0; l < n->layers(); ++l) params += static_cast<double>(n->w[l].size() + n->b[l].size());
    bytes += (*im++ * n->sizes[0] + *r++ * width * 4 + params * 4) * sizeof(float);
  }
  detail::check_memory(bytes, "p-DNN training (batch_size x train.samples rows of every layer)");
}

/// Training runs on the host, and only its evaluations run on run.backend: a cuda backend without a
/// usable GPU failed at the first epoch's evaluation, that epoch lost (helper-129), so the trainers
/// check it before any training.
void check_training_backend(const PdnnConfig& cfg, const char* what) {
  const Backend be = backend_from_string(cfg.backend);
  if (be == Backend::cuda && !backend_available(be)) {
    throw InvalidArgument(std::string(what) + ": run.backend cuda (its evaluations run there): " + backend_unavailable_reason(be));
  }
}

}  // namespace

PdnnTrainer::PdnnTrainer(PdnnNet& net, const PdnnConfig& cfg, const ImageDataset& train, std::vector<int64_t> train_index,
                         const ImageDataset& test, std::vector<int64_t> test_index)
    : net_(net), cfg_(cfg), train_(train), test_(test), train_index_(std::move(train_index)), test_index_(std::move(test_index)) {
  check_training_backend(cfg_, "p-DNN training");
  detail::check_image_selection(train_, train_index_, 0, static_cast<int64_t>(train_index_.size()), "p-DNN training set");
  detail::check_image_selection(test_, test_index_, 0, static_cast<int64_t>(test_index_.size()), "p-DNN test set");
  if (net_.inputs() != train_.pixels_per_image()) throw InvalidArgument("p-DNN: the network's inputs do not match the images");
  if (static_cast<int64_t>(train_index_.size()) < cfg_.batch_size) {
    throw InvalidArgument("p-DNN training needs at least one batch: " + std::to_string(train_index_.size()) + " images, batch_size " +
                          std::to_string(cfg_.batch_size));
  }
  for (const auto& s : {&train_, &test_})
    for (uint8_t y : s->labels)
      if (y >= net_.classes()) throw InvalidArgument("p-DNN: a label " + std::to_string(y) + " beyond the network's classes");
  net_.trained_units = cfg_.units;
  net_.train_samples = cfg_.units.stochastic() ? cfg_.train_samples : 1;
  net_.train_mode = cfg_.train_mode;
  net_.train_hardware = cfg_.train_mode == "ideal" ? "" : cfg_.hardware.describe();
  check_training_memory({&net_}, {static_cast<double>(cfg_.batch_size)}, {static_cast<double>(cfg_.batch_size) * net_.train_samples});
  if (cfg_.train_mode != "ideal") device_ = pdnn_device(net_, cfg_.hardware);
  for (int32_t l = 0; l < net_.layers(); ++l) {
    mw_.emplace_back(net_.w[l].size(), 0.0f), vw_.emplace_back(net_.w[l].size(), 0.0f);
    mb_.emplace_back(net_.b[l].size(), 0.0f), vb_.emplace_back(net_.b[l].size(), 0.0f);
  }
}

void PdnnTrainer::step(const PdnnGradient& g) {
  ++updates_;
  const double lr = cfg_.lr * std::pow(static_cast<double>(cfg_.lr_decay), epoch_);
  const double b1 = cfg_.adam_b1, b2 = cfg_.adam_b2;
  auto adam = [&](std::vector<float>& w, const std::vector<float>& gr, std::vector<float>& m, std::vector<float>& v) {
    adam_step(w, gr, m, v, lr, b1, b2, updates_);
  };
  for (int32_t l = 0; l < net_.layers(); ++l) {
    adam(net_.w[l], g.w[l], mw_[l], vw_[l]);
    adam(net_.b[l], g.b[l], mb_[l], vb_[l]);
  }
}

void PdnnTrainer::run(const std::function<void(const PdnnEpoch&)>& on_epoch) {
  const int64_t per_epoch = static_cast<int64_t>(train_index_.size()) / cfg_.batch_size;
  const int32_t T = cfg_.units.stochastic() ? cfg_.train_samples : 1;
  const int32_t C = net_.classes();
  const std::string ckpt = cfg_.output_dir + "/checkpoint.bin";
  out_of_time_ = false;
  for (; epoch_ < cfg_.epochs; ++epoch_) {
    std::vector<int64_t> order(train_index_);
    rng::PhiloxStream rs(cfg_.seed, rng::pdnn_stream(rng::PdnnUse::shuffle), static_cast<uint32_t>(epoch_));
    rs.shuffle(order);
    detail::Progress prog("pdnn epoch " + std::to_string(epoch_ + 1) + "/" + std::to_string(cfg_.epochs), per_epoch);
    const double t0 = detail::monotonic_s();
    std::vector<float> logits;
    std::vector<std::vector<float>> pre, act;
    for (; batch_ < per_epoch; ++batch_) {
      if (detail::time_budget_spent(cfg_.time_budget_s, train_seconds(), &epoch_wall_, t0)) {
        save_checkpoint(ckpt);
        out_of_time_ = true;
        return;
      }
      const int64_t first = batch_ * cfg_.batch_size;
      std::vector<int32_t> labels(static_cast<size_t>(cfg_.batch_size));
      for (int32_t m = 0; m < cfg_.batch_size; ++m) labels[m] = train_.labels[static_cast<size_t>(order[static_cast<size_t>(first + m)])];
      const std::vector<float> x = pdnn_inputs(train_, order, first, cfg_.batch_size);
      PdnnForwardSpec spec;
      spec.units = cfg_.units;
      spec.T = T;
      spec.seed = cfg_.seed;
      spec.stream = rng::pdnn_stream(rng::PdnnUse::train);
      spec.epoch = static_cast<uint32_t>(epoch_);
      spec.ids = order.data() + first;
      spec.threads = cfg_.threads;
      const bool on_hw = cfg_.train_mode != "ideal";
      if (on_hw) spec.hardware = &cfg_.hardware, spec.device = &device_;
      logits.resize(static_cast<size_t>(cfg_.batch_size) * T * C);
      pdnn_forward(net_, spec, x.data(), cfg_.batch_size, logits.data(), &pre, &act);
      std::vector<std::vector<float>> slopes;
      if (on_hw) slopes = pdnn_slopes(net_, cfg_.train_mode, cfg_.hardware, device_, T, x.data(), cfg_.batch_size, pre, act, cfg_.threads);
      const PdnnGradient g = pdnn_gradient(net_, cfg_.units, T, x.data(), labels.data(), cfg_.batch_size, pre, act, logits.data(),
                                           on_hw ? &slopes : nullptr);
      epoch_loss_ += g.loss * cfg_.batch_size;
      epoch_correct_ += static_cast<double>(g.correct);
      step(g);
      char extra[96];
      std::snprintf(extra, sizeof extra, "loss %.3f acc %.3f", epoch_loss_ / static_cast<double>(first + cfg_.batch_size),
                    epoch_correct_ / static_cast<double>(first + cfg_.batch_size));
      prog.update(batch_ + 1, extra);
      detail::save_mid_epoch(cfg_.checkpoint_every_batches, per_epoch, batch_, [&] { save_checkpoint(ckpt); }, &epoch_wall_, t0);
    }
    epoch_wall_ += detail::monotonic_s() - t0;
    PdnnEpoch e;
    e.epoch = epoch_ + 1;
    e.train_loss = epoch_loss_ / static_cast<double>(per_epoch * cfg_.batch_size);
    e.train_accuracy = epoch_correct_ / static_cast<double>(per_epoch * cfg_.batch_size);
    e.wall_s = epoch_wall_;
    if (!test_index_.empty()) {
      e.test_accuracy = pdnn_evaluate(net_, cfg_.units, {T}, test_, test_index_, cfg_).accuracy[0];
    }
    std::fprintf(stderr, "epoch %d: train loss %.4f, train acc %.4f, test acc %.4f (T = %d), %.1f s\n", e.epoch, e.train_loss,
                 e.train_accuracy, e.test_accuracy, T, e.wall_s);
    history_.push_back(e);
    batch_ = 0;
    epoch_loss_ = epoch_correct_ = epoch_wall_ = 0;
    if (on_epoch) on_epoch(e);
    ++epoch_;
    save_checkpoint(ckpt);
    --epoch_;
  }
}

namespace {

/// What must match for a checkpoint to continue a run: everything that shapes training.
uint64_t fingerprint(const PdnnConfig& c, const PdnnNet& n) {
  std::ostringstream f;
  f.precision(9);
  f << c.dataset << '|' << c.train_images << '|';
  for (int32_t s : n.sizes) f << s << ',';
  f << '|' << c.units.name() << '|' << c.train_samples << '|' << c.batch_size << '|' << c.lr << '|' << c.lr_decay << '|' << c.adam_b1
    << '|' << c.adam_b2 << '|' << c.seed;
  if (c.train_mode != "ideal") f << '|' << c.train_mode << '|' << c.hardware.to_json().dump();
  return detail::fnv1a(f.str());
}

nlohmann::json history_json(const std::vector<PdnnEpoch>& h) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& e : h) {
    a.push_back({{"epoch", e.epoch}, {"train_loss", e.train_loss}, {"train_accuracy", e.train_accuracy},
                 {"test_accuracy", e.test_accuracy}, {"wall_s", e.wall_s}});
  }
  return a;
}

}  // namespace

double PdnnTrainer::train_seconds() const {
  double s = epoch_wall_;
  for (const auto& e : history_) s += e.wall_s;
  return s;
}

void PdnnTrainer::save_checkpoint(const std::string& path) const {
  std::ostringstream f(std::ios::binary);
  detail::put_position(f, fingerprint(cfg_, net_), {epoch_, batch_, updates_});
  for (double v : {epoch_loss_, epoch_correct_, epoch_wall_}) detail::put<double>(f, v);
  for (int32_t l = 0; l < net_.layers(); ++l) {
    for (const std::vector<float>* v : std::initializer_list<const std::vector<float>*>{&net_.w[l], &net_.b[l], &mw_[l], &vw_[l], &mb_[l], &vb_[l]}) {
      detail::put_vec(f, *v);
    }
  }
  detail::put_string(f, history_json(history_).dump());
  detail::write_checksummed(path, kCkptMagic, f.str());
}

void PdnnTrainer::load_checkpoint(const std::string& path) {
  std::istringstream f(detail::read_checksummed(path, kCkptMagic, "p-DNN checkpoint"), std::ios::binary);
  using detail::get;
  const auto at = detail::get_position(f, path, "checkpoint", fingerprint(cfg_, net_), static_cast<int64_t>(train_index_.size()) / cfg_.batch_size,
                                      kMaxEpochs, cfg_.epochs, detail::kClassifierResumeHint);
  epoch_ = at.epoch, batch_ = at.batch, updates_ = at.updates;
  epoch_loss_ = detail::get_tally(f, path, "checkpoint", false);
  epoch_correct_ = detail::get_tally(f, path, "checkpoint");
  epoch_wall_ = detail::get_tally(f, path, "checkpoint", true, detail::kMostTallySeconds);
  for (int32_t l = 0; l < net_.layers(); ++l) {
    for (auto* v : {&net_.w[l], &net_.b[l], &mw_[l], &vw_[l], &mb_[l], &vb_[l]}) *v = detail::get_finite_vec<float>(f, path, v->size(), "checkpoint");
    for (const auto* v : {&vw_[l], &vb_[l]}) detail::check_second_moments(*v, path, "checkpoint");
  }
  // The history's numbers in range and its epochs 1, 2, ... (as the DBM's, DTM's and EqProp's).
  history_ = detail::get_history<PdnnEpoch>(f, path, "checkpoint", epoch_, [](const nlohmann::json& e) {
    using detail::history_number;
    PdnnEpoch x;
    x.epoch = static_cast<int32_t>(history_number(e.at("epoch"), 1, kMaxEpochs, true));
    x.train_loss = history_number(e.at("train_loss"), -detail::kMostTally, detail::kMostTally);
    x.train_accuracy = history_number(e.at("train_accuracy"), 0, 1);
    x.test_accuracy = detail::history_number_or_none(e.at("test_accuracy"), 0, 1);  // -1: no test images
    x.wall_s = history_number(e.at("wall_s"), 0, detail::kMostTallySeconds);
    return x;
  });
  detail::check_history_epochs(history_, epoch_, path, "checkpoint");
}

// ---------------------------------------------------------------- the generator

namespace {

constexpr const auto& kVaeMagic = detail::kPdnnGenerator.magic;  // (util/file_formats.hpp)
constexpr const auto& kVaeCkptMagic = detail::kPdnnGeneratorCheckpoint.magic;
constexpr float kLogVarClamp = 10.0f;

float sigmoid(float l) { return 1.0f / (1.0f + std::exp(-l)); }

/// Binary cross-entropy (nats) of pixel targets x in [0, 1] against probability p.
double bce(float x, float p) {
  const double q = std::clamp(static_cast<double>(p), 1e-7, 1 - 1e-7);
  return -(x * std::log(q) + (1 - x) * std::log1p(-q));
}

void forward_any(const PdnnNet& net, const PdnnForwardSpec& spec, const float* x, int64_t n, float* out, const PdnnConfig& cfg) {
  if (backend_from_string(cfg.backend) == Backend::cuda) {
    pdnn_forward_cuda(net, spec, x, n, out);
  } else {
    pdnn_forward(net, spec, x, n, out);
  }
}

}  // namespace

PdnnVae PdnnVae::create(int32_t pixels, const PdnnConfig& cfg) {
  PdnnVae v;
  v.encoder = PdnnNet::create(encoder_sizes(cfg, pixels), cfg.seed);
  v.decoder = PdnnNet::create(decoder_sizes(cfg, pixels), cfg.seed + 0x9E3779B97F4A7C15ull);  // another Glorot draw than the encoder's
  v.encoder.trained_units.activation = PdnnActivation::tanh;
  v.decoder.trained_units = cfg.units;
  v.decoder.train_samples = cfg.units.stochastic() ? cfg.train_samples : 1;
  return v;
}

void PdnnVae::save(const std::string& path) const {
  std::ostringstream f(std::ios::binary);
  write_net(f, encoder);
  write_net(f, decoder);
  detail::write_checksummed(path, kVaeMagic, f.str());
}

PdnnVae PdnnVae::load(const std::string& path) {
  std::istringstream f(detail::read_checksummed(path, kVaeMagic, "p-DNN generator"), std::ios::binary);
  PdnnVae v;
  v.encoder = read_net(f, path, "p-DNN generator");
  v.decoder = read_net(f, path, "p-DNN generator");
  if (v.encoder.classes() != 2 * v.decoder.inputs() || v.encoder.inputs() != v.decoder.classes()) {
    throw InvalidArgument("p-DNN generator '" + path + "': the encoder and decoder do not fit together");
  }
  return v;
}

PdnnGenerated pdnn_generate(const PdnnNet& decoder, const PdnnUnits& units, const std::vector<int32_t>& samples, int64_t n,
                            uint64_t seed, const PdnnConfig& cfg, const std::string& progress_label) {
  if (n < 1 || n > (1 << 20)) throw InvalidArgument("pdnn_generate: 1 to 2^20 images");
  PdnnGenerated g;
  g.samples = units.stochastic() ? samples : std::vector<int32_t>{1};
  if (g.samples.empty()) throw InvalidArgument("pdnn_generate: no sample counts given");
  const int32_t T = *std::max_element(g.samples.begin(), g.samples.end());
  const int32_t Z = decoder.inputs(), P = decoder.classes();
  const int64_t batch = std::max<int64_t>(1, std::min<int64_t>(cfg.eval_batch_images, (int64_t{1} << 22) / (int64_t{T} * P) + 1));
  detail::check_memory(static_cast<double>(g.samples.size()) * n * P * sizeof(float) + static_cast<double>(batch) * T * P * 2 * sizeof(float),
                       "p-DNN generation");
  for (size_t q = 0; q < g.samples.size(); ++q) g.images.emplace_back(static_cast<size_t>(n * P));
  const rng::Key zkey = rng::make_key(seed, rng::pdnn_stream(rng::PdnnUse::generate));
  std::vector<float> logits;
  std::vector<double> sum(static_cast<size_t>(P));
  std::unique_ptr<detail::Progress> prog;
  if (!progress_label.empty()) prog = std::make_unique<detail::Progress>(progress_label, n);
  for (int64_t first = 0; first < n; first += batch) {
    const int64_t m = std::min(batch, n - first);
    std::vector<float> z(static_cast<size_t>(m * Z));
    for (int64_t i = 0; i < m; ++i)
      for (int32_t j = 0; j < Z; ++j) z[i * Z + j] = detail::pdnn_keyed_normal(zkey, static_cast<uint32_t>(first + i), 0, static_cast<uint32_t>(j));
    PdnnForwardSpec spec;
    spec.units = units;
    spec.T = units.stochastic() ? T : 1;
    spec.seed = seed;
    spec.stream = rng::pdnn_stream(rng::PdnnUse::generate);
    spec.first_id = first;
    spec.threads = cfg.threads;
    logits.resize(static_cast<size_t>(m * spec.T * P));
    forward_any(decoder, spec, z.data(), m, logits.data(), cfg);
    for (int64_t i = 0; i < m; ++i) {
      std::fill(sum.begin(), sum.end(), 0.0);
      int32_t done = 0;
      for (size_t q = 0; q < g.samples.size(); ++q) {
        for (; done < g.samples[q]; ++done)
          for (int32_t p = 0; p < P; ++p) sum[p] += sigmoid(logits[(i * spec.T + done) * P + p]);
        float* out = g.images[q].data() + (first + i) * P;
        for (int32_t p = 0; p < P; ++p) out[p] = static_cast<float>(sum[p] / done);
      }
    }
    if (prog) prog->update(first + m, "images");
  }
  return g;
}

namespace {

/// Encoder means of images [first, first + m) of index.
std::vector<float> encode_means(const PdnnVae& vae, const std::vector<float>& x, int64_t m, const PdnnConfig& cfg) {
  const int32_t Z = vae.latent();
  PdnnForwardSpec spec;
  spec.units.activation = PdnnActivation::tanh;
  spec.threads = cfg.threads;
  std::vector<float> out(static_cast<size_t>(m * 2 * Z));
  pdnn_forward(vae.encoder, spec, x.data(), m, out.data());
  std::vector<float> mu(static_cast<size_t>(m * Z));
  for (int64_t i = 0; i < m; ++i) std::copy_n(out.data() + i * 2 * Z, Z, mu.data() + i * Z);
  return mu;
}

}  // namespace

std::vector<double> pdnn_reconstruction(const PdnnVae& vae, const PdnnUnits& units, const std::vector<int32_t>& samples,
                                        const ImageDataset& d, const std::vector<int64_t>& index, const PdnnConfig& cfg) {
  if (vae.pixels() != d.pixels_per_image()) throw InvalidArgument("the p-DNN generator's images do not match the dataset's");
  const std::vector<int32_t> Ts = units.stochastic() ? samples : std::vector<int32_t>{1};
  const int32_t T = *std::max_element(Ts.begin(), Ts.end()), P = vae.pixels();
  const int64_t n = static_cast<int64_t>(index.size());
  const int64_t batch = std::max<int64_t>(1, std::min<int64_t>(cfg.eval_batch_images, (int64_t{1} << 22) / (int64_t{T} * P) + 1));
  std::vector<double> loss(Ts.size(), 0.0), sum(static_cast<size_t>(P));
  std::vector<float> logits;
  for (int64_t first = 0; first < n; first += batch) {
    const int64_t m = std::min(batch, n - first);
    const std::vector<float> x = pdnn_inputs(d, index, first, m);
    const std::vector<float> mu = encode_means(vae, x, m, cfg);
    std::vector<int64_t> ids(index.begin() + first, index.begin() + first + m);
    PdnnForwardSpec spec;
    spec.units = units;
    spec.T = units.stochastic() ? T : 1;
    spec.seed = cfg.seed;
    spec.stream = rng::pdnn_stream(rng::PdnnUse::eval);
    spec.ids = ids.data();
    spec.threads = cfg.threads;
    logits.resize(static_cast<size_t>(m * spec.T * P));
    forward_any(vae.decoder, spec, mu.data(), m, logits.data(), cfg);
    for (int64_t i = 0; i < m; ++i) {
      std::fill(sum.begin(), sum.end(), 0.0);
      int32_t done = 0;
      for (size_t q = 0; q < Ts.size(); ++q) {
        for (; done < Ts[q]; ++done)
          for (int32_t p = 0; p < P; ++p) sum[p] += sigmoid(logits[(i * spec.T + done) * P + p]);
        double l = 0;
        for (int32_t p = 0; p < P; ++p) l += bce(x[i * P + p], static_cast<float>(sum[p] / done));
        loss[q] += l;
      }
    }
  }
  for (double& l : loss) l /= std::max<int64_t>(1, n);
  return loss;
}

PdnnVaeGradient pdnn_vae_gradient(const PdnnVae& vae, const PdnnConfig& cfg, const float* xp, const int64_t* ids, int64_t images,
                                  uint32_t epoch) {
  const int32_t T = cfg.units.stochastic() ? cfg.train_samples : 1;
  const int32_t Z = vae.latent(), P = vae.pixels(), B = static_cast<int32_t>(images);
  const float kl_w = cfg.gen.kl_weight;
  const rng::Key zkey = rng::make_key(cfg.seed, rng::pdnn_stream(rng::PdnnUse::latent));
  const std::vector<float> x(xp, xp + static_cast<size_t>(images) * P);
  std::vector<std::vector<float>> epre, eact, dpre, dact;
  // Encoder: mean and log-variance.
  PdnnForwardSpec es;
  es.units.activation = PdnnActivation::tanh;
  es.threads = cfg.threads;
  std::vector<float> enc(static_cast<size_t>(B) * 2 * Z);
  pdnn_forward(vae.encoder, es, x.data(), B, enc.data(), &epre, &eact);
  // z = mu + sigma eps (the reparameterisation), eps keyed by (image, epoch, coordinate).
  std::vector<float> z(static_cast<size_t>(B) * Z), eps(z.size()), lv(z.size());
  double kl = 0;
  for (int32_t i = 0; i < B; ++i) {
    const uint32_t id = static_cast<uint32_t>(ids[i]);
    for (int32_t j = 0; j < Z; ++j) {
      const float mu = enc[static_cast<size_t>(i) * 2 * Z + j];
      const float v = std::clamp(enc[static_cast<size_t>(i) * 2 * Z + Z + j], -kLogVarClamp, kLogVarClamp);
      const size_t k = static_cast<size_t>(i) * Z + j;
      eps[k] = detail::pdnn_keyed_normal(zkey, id, epoch, static_cast<uint32_t>(j));
      lv[k] = v;
      z[k] = mu + std::exp(0.5f * v) * eps[k];
      kl += 0.5 * (static_cast<double>(mu) * mu + std::exp(static_cast<double>(v)) - 1.0 - v);
    }
  }
  // Decoder: T samples, the loss on their mean pixel probability.
  PdnnForwardSpec ds;
  ds.units = cfg.units;
  ds.T = T;
  ds.seed = cfg.seed;
  ds.stream = rng::pdnn_stream(rng::PdnnUse::train);
  ds.epoch = epoch;
  ds.ids = ids;
  ds.threads = cfg.threads;
  std::vector<float> logits(static_cast<size_t>(B) * T * P);
  pdnn_forward(vae.decoder, ds, z.data(), B, logits.data(), &dpre, &dact);
  std::vector<float> dlog(logits.size());
  double rec = 0;
  for (int32_t i = 0; i < B; ++i)
    for (int32_t p = 0; p < P; ++p) {
      const float xt = x[static_cast<size_t>(i) * P + p];
      if (T == 1) {
        const float q = sigmoid(logits[static_cast<size_t>(i) * P + p]);
        rec += bce(xt, q);
        dlog[static_cast<size_t>(i) * P + p] = (q - xt) / static_cast<float>(B);
        continue;
      }
      double pm = 0;
      for (int32_t t = 0; t < T; ++t) pm += sigmoid(logits[(static_cast<size_t>(i) * T + t) * P + p]);
      pm /= T;
      rec += bce(xt, static_cast<float>(pm));
      const double pc = std::clamp(pm, 1e-6, 1 - 1e-6);
      const double dl_dp = (pc - xt) / (pc * (1 - pc));
      for (int32_t t = 0; t < T; ++t) {
        const size_t k = (static_cast<size_t>(i) * T + t) * P + p;
        const double q = sigmoid(logits[k]);
        dlog[k] = static_cast<float>(dl_dp * q * (1 - q) / T / B);
      }
    }
  PdnnVaeGradient out;
  PdnnGradient& gd = out.decoder;
  PdnnGradient& ge = out.encoder;
  std::vector<float> dz;
  pdnn_backward(vae.decoder, T, z.data(), B, dpre, dact, dlog, gd, &dz);
  // Into the encoder's outputs: d/d mu and d/d log-variance, with the KL term's own gradient.
  std::vector<float> denc(enc.size());
  for (int32_t i = 0; i < B; ++i)
    for (int32_t j = 0; j < Z; ++j) {
      const size_t k = static_cast<size_t>(i) * Z + j;
      const float mu = enc[static_cast<size_t>(i) * 2 * Z + j];
      const float raw_lv = enc[static_cast<size_t>(i) * 2 * Z + Z + j];
      const bool clamped = raw_lv != lv[k];
      denc[static_cast<size_t>(i) * 2 * Z + j] = dz[k] + kl_w * mu / B;
      denc[static_cast<size_t>(i) * 2 * Z + Z + j] =
          clamped ? 0.0f : dz[k] * eps[k] * 0.5f * std::exp(0.5f * lv[k]) + kl_w * 0.5f * (std::exp(lv[k]) - 1.0f) / B;
    }
  pdnn_backward(vae.encoder, 1, x.data(), B, epre, eact, denc, ge);
  out.reconstruction = rec;
  out.kl = kl;
  out.loss = (rec + kl_w * kl) / B;
  return out;
}

PdnnVaeTrainer::PdnnVaeTrainer(PdnnVae& vae, const PdnnConfig& cfg, const ImageDataset& train, std::vector<int64_t> train_index,
                               const ImageDataset& test, std::vector<int64_t> test_index)
    : vae_(vae), cfg_(cfg), train_(train), test_(test), train_index_(std::move(train_index)), test_index_(std::move(test_index)) {
  check_training_backend(cfg_, "p-DNN generator training");
  detail::check_image_selection(train_, train_index_, 0, static_cast<int64_t>(train_index_.size()), "p-DNN generator training set");
  detail::check_image_selection(test_, test_index_, 0, static_cast<int64_t>(test_index_.size()), "p-DNN generator test set");
  if (vae_.pixels() != train_.pixels_per_image()) throw InvalidArgument("p-DNN generator: the network's pixels do not match the images");
  if (static_cast<int64_t>(train_index_.size()) < cfg_.batch_size) {
    throw InvalidArgument("p-DNN training needs at least one batch: " + std::to_string(train_index_.size()) + " images, batch_size " +
                          std::to_string(cfg_.batch_size));
  }
  vae_.decoder.trained_units = cfg_.units;
  vae_.decoder.train_samples = cfg_.units.stochastic() ? cfg_.train_samples : 1;
  check_training_memory({&vae_.encoder, &vae_.decoder}, {static_cast<double>(cfg_.batch_size), static_cast<double>(cfg_.batch_size)},
                        {static_cast<double>(cfg_.batch_size), static_cast<double>(cfg_.batch_size) * vae_.decoder.train_samples});
  for (std::vector<float>* a : arrays()) params_.emplace_back(a->size(), 0.0f), params_.emplace_back(a->size(), 0.0f);
}

std::vector<std::vector<float>*> PdnnVaeTrainer::arrays() {
  std::vector<std::vector<float>*> a;
  for (PdnnNet* n : {&vae_.encoder, &vae_.decoder})
    for (int32_t l = 0; l < n->layers(); ++l) a.push_back(&n->w[l]), a.push_back(&n->b[l]);
  return a;
}

void PdnnVaeTrainer::run(const std::function<void(const PdnnVaeEpoch&)>& on_epoch) {
  const int64_t per_epoch = static_cast<int64_t>(train_index_.size()) / cfg_.batch_size;
  const int32_t T = cfg_.units.stochastic() ? cfg_.train_samples : 1;
  const int32_t B = cfg_.batch_size;
  const float kl_w = cfg_.gen.kl_weight;
  const std::string ckpt = cfg_.output_dir + "/checkpoint.bin";
  out_of_time_ = false;
  for (; epoch_ < cfg_.epochs; ++epoch_) {
    std::vector<int64_t> order(train_index_);
    rng::PhiloxStream rs(cfg_.seed, rng::pdnn_stream(rng::PdnnUse::shuffle), static_cast<uint32_t>(epoch_));
    rs.shuffle(order);
    detail::Progress prog("pdnn generator epoch " + std::to_string(epoch_ + 1) + "/" + std::to_string(cfg_.epochs), per_epoch);
    const double t0 = detail::monotonic_s();
    for (; batch_ < per_epoch; ++batch_) {
      if (detail::time_budget_spent(cfg_.time_budget_s, train_seconds(), &epoch_wall_, t0)) {
        save_checkpoint(ckpt);
        out_of_time_ = true;
        return;
      }
      const int64_t first = batch_ * B;
      const std::vector<float> x = pdnn_inputs(train_, order, first, B);
      const PdnnVaeGradient vg = pdnn_vae_gradient(vae_, cfg_, x.data(), order.data() + first, B, static_cast<uint32_t>(epoch_));
      const PdnnGradient& ge = vg.encoder;
      const PdnnGradient& gd = vg.decoder;
      const double rec = vg.reconstruction, kl = vg.kl;
      // Adam over both networks' arrays, in arrays() order.
      ++updates_;
      const double lr = cfg_.lr * std::pow(static_cast<double>(cfg_.lr_decay), epoch_);
      const double b1 = cfg_.adam_b1, b2 = cfg_.adam_b2;
      std::vector<const std::vector<float>*> grads;
      for (const PdnnGradient* g : {&ge, &gd})
        for (size_t l = 0; l < g->w.size(); ++l) grads.push_back(&g->w[l]), grads.push_back(&g->b[l]);
      const auto params = arrays();
      for (size_t a = 0; a < params.size(); ++a) {
        std::vector<float>& w = *params[a];
        const std::vector<float>& gr = *grads[a];
        adam_step(w, gr, params_[2 * a], params_[2 * a + 1], lr, b1, b2, updates_);
      }
      epoch_rec_ += rec;
      epoch_kl_ += kl;
      epoch_loss_ += rec + kl_w * kl;
      char extra[96];
      const double seen = static_cast<double>(first + B);
      std::snprintf(extra, sizeof extra, "loss %.1f rec %.1f kl %.1f", epoch_loss_ / seen, epoch_rec_ / seen, epoch_kl_ / seen);
      prog.update(batch_ + 1, extra);
      detail::save_mid_epoch(cfg_.checkpoint_every_batches, per_epoch, batch_, [&] { save_checkpoint(ckpt); }, &epoch_wall_, t0);
    }
    epoch_wall_ += detail::monotonic_s() - t0;
    PdnnVaeEpoch e;
    e.epoch = epoch_ + 1;
    const double seen = static_cast<double>(per_epoch * B);
    e.train_loss = epoch_loss_ / seen;
    e.train_reconstruction = epoch_rec_ / seen;
    e.train_kl = epoch_kl_ / seen;
    e.wall_s = epoch_wall_;
    if (!test_index_.empty()) e.test_reconstruction = pdnn_reconstruction(vae_, cfg_.units, {T}, test_, test_index_, cfg_)[0];
    std::fprintf(stderr, "epoch %d: loss %.2f (reconstruction %.2f, KL %.2f) per image, test reconstruction %.2f (T = %d), %.1f s\n",
                 e.epoch, e.train_loss, e.train_reconstruction, e.train_kl, e.test_reconstruction, T, e.wall_s);
    history_.push_back(e);
    batch_ = 0;
    epoch_loss_ = epoch_rec_ = epoch_kl_ = epoch_wall_ = 0;
    if (on_epoch) on_epoch(e);
    ++epoch_;
    save_checkpoint(ckpt);
    --epoch_;
  }
}

namespace {

uint64_t vae_fingerprint(const PdnnConfig& c, const PdnnVae& v) {
  std::ostringstream f;
  f.precision(9);
  f << "vae|" << fingerprint(c, v.decoder) << '|' << c.gen.latent << '|' << c.gen.kl_weight << '|';
  for (int32_t s : v.encoder.sizes) f << s << ',';
  return detail::fnv1a(f.str());
}

}  // namespace

double PdnnVaeTrainer::train_seconds() const {
  double s = epoch_wall_;
  for (const auto& e : history_) s += e.wall_s;
  return s;
}

void PdnnVaeTrainer::save_checkpoint(const std::string& path) const {
  std::ostringstream f(std::ios::binary);
  detail::put_position(f, vae_fingerprint(cfg_, vae_), {epoch_, batch_, updates_});
  for (double v : {epoch_loss_, epoch_rec_, epoch_kl_, epoch_wall_}) detail::put<double>(f, v);
  for (std::vector<float>* a : const_cast<PdnnVaeTrainer*>(this)->arrays()) detail::put_vec(f, *a);
  for (const auto& a : params_) detail::put_vec(f, a);
  nlohmann::json h = nlohmann::json::array();
  for (const auto& e : history_) {
    h.push_back({{"epoch", e.epoch}, {"train_loss", e.train_loss}, {"train_reconstruction", e.train_reconstruction},
                 {"train_kl", e.train_kl}, {"test_reconstruction", e.test_reconstruction}, {"wall_s", e.wall_s}});
  }
  detail::put_string(f, h.dump());
  detail::write_checksummed(path, kVaeCkptMagic, f.str());
}

void PdnnVaeTrainer::load_checkpoint(const std::string& path) {
  std::istringstream f(detail::read_checksummed(path, kVaeCkptMagic, "p-DNN generator checkpoint"), std::ios::binary);
  using detail::get;
  const auto at = detail::get_position(f, path, "checkpoint", vae_fingerprint(cfg_, vae_), static_cast<int64_t>(train_index_.size()) / cfg_.batch_size,
                                      kMaxEpochs, cfg_.epochs, detail::kClassifierResumeHint);
  epoch_ = at.epoch, batch_ = at.batch, updates_ = at.updates;
  epoch_loss_ = detail::get_tally(f, path, "checkpoint", false);
  epoch_rec_ = detail::get_tally(f, path, "checkpoint", false);
  epoch_kl_ = detail::get_tally(f, path, "checkpoint", false);
  epoch_wall_ = detail::get_tally(f, path, "checkpoint", true, detail::kMostTallySeconds);
  for (std::vector<float>* a : arrays()) *a = detail::get_finite_vec<float>(f, path, a->size(), "checkpoint");
  for (auto& a : params_) a = detail::get_finite_vec<float>(f, path, a.size(), "checkpoint");
  // Adam's second moments (every other array) are >= 0: a negative one took sqrt(v < 0) and trained
  // NaN weights into model.bin without a word (helper-129), as the classifier's loader already checks.
  for (size_t a = 1; a < params_.size(); a += 2) detail::check_second_moments(params_[a], path, "checkpoint");
  history_ = detail::get_history<PdnnVaeEpoch>(f, path, "checkpoint", epoch_, [](const nlohmann::json& e) {
    using detail::history_number;
    const double most = detail::kMostTally;
    PdnnVaeEpoch x;
    x.epoch = static_cast<int32_t>(history_number(e.at("epoch"), 1, kMaxEpochs, true));
    x.train_loss = history_number(e.at("train_loss"), -most, most);
    x.train_reconstruction = history_number(e.at("train_reconstruction"), -most, most);
    x.train_kl = history_number(e.at("train_kl"), -most, most);
    x.test_reconstruction = history_number(e.at("test_reconstruction"), -most, most);  // -1: no test images
    x.wall_s = history_number(e.at("wall_s"), 0, detail::kMostTallySeconds);
    return x;
  });
  detail::check_history_epochs(history_, epoch_, path, "checkpoint");
}

}  // namespace pbit
