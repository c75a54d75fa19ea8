// pbit pdnn train|eval|generate|bench|report: p-DNNs with p-bit activations (docs/CLI.md, 'p-DNN configs').
#include <algorithm>
#include <optional>
#include <numeric>
#include <functional>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>

#include "cli.hpp"
#include "util/memory.hpp"
#include "pbit/build_info.hpp"
#include "pbit/core/backend.hpp"
#include "pbit/core/io.hpp"
#include "pbit/core/rng.hpp"
#include "pbit/harness/compare.hpp"
#include "pbit/harness/energy.hpp"
#include "pbit/models/feature_net.hpp"
#include "pbit/models/pdnn.hpp"
#include "pbit/util/png.hpp"
#include "util/file_io.hpp"
#include "util/gnuplot.hpp"
#include "util/progress.hpp"
#include "util/text.hpp"

namespace pbit::cli {

namespace {

std::vector<int64_t> first_images(const ImageDataset& d, int64_t limit) {
  const int64_t n = limit > 0 ? std::min(limit, d.size()) : d.size();
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) v[static_cast<size_t>(k)] = k;
  return v;
}

nlohmann::json eval_json(const PdnnEval& e) {
  return {{"units", e.units.name()},          {"activation", to_string(e.units.activation)},
          {"bits", e.units.activation == PdnnActivation::quant ? e.units.bits : (e.units.stochastic() ? 1 : 32)},
          {"samples", e.samples},             {"test_accuracy", e.accuracy},
          {"mean_loss_nats", e.mean_loss},    {"test_images", e.images},  // (the cross-entropy of the mean logits)
          {"wall_s", e.wall_s},               {"path", e.backend},
          {"hardware", e.hardware}};
}

nlohmann::json history_json(const std::vector<PdnnEpoch>& h) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& e : h) {
    a.push_back({{"epoch", e.epoch}, {"train_loss", e.train_loss}, {"train_accuracy", e.train_accuracy},
                 {"test_accuracy", e.test_accuracy}, {"wall_s", e.wall_s}});
  }
  return a;
}

std::vector<int32_t> parse_ints(const std::string& s, const std::string& what, int64_t lo, int64_t hi) {
  std::vector<int32_t> v;
  for (const std::string& t : split_list(s)) {
    int64_t x = 0;
    if (detail::parse_number(t, x) != detail::ParseStatus::ok || x < lo || x > hi) {
      throw InvalidArgument(what + " takes a comma-separated list of whole numbers in [" + std::to_string(lo) + ", " +
                            std::to_string(hi) + "], got '" + s + "'");
    }
    v.push_back(static_cast<int32_t>(x));
  }
  if (v.empty()) throw InvalidArgument(what + " is empty");
  return v;
}

/// The hidden units eval and generate use: those the model was trained with, or --activation/--bits.
PdnnUnits units_from_options(const PdnnUnits& trained, const std::string& activation, int32_t bits) {
  PdnnUnits units = trained;
  if (!activation.empty()) {
    units.activation = pdnn_activation_from_string(activation, "--activation");
    if (units.activation == PdnnActivation::quant && bits == 0 && trained.activation != PdnnActivation::quant) {
      throw InvalidArgument("--activation quant needs --bits");
    }
  }
  if (bits > 0) {
    if (units.activation != PdnnActivation::quant) throw InvalidArgument("--bits applies to --activation quant only");
    units.bits = bits;
  }
  return units;
}

/// --samples: increasing sample counts.
std::vector<int32_t> parse_samples(const std::string& list) {
  std::vector<int32_t> v = parse_ints(list, "--samples", 1, 1 << 16);
  if (!std::is_sorted(v.begin(), v.end()) || std::adjacent_find(v.begin(), v.end()) != v.end()) {
    throw InvalidArgument("--samples must be increasing, got '" + list + "'");
  }
  return v;
}

/// Whether `units` names p-DNN units as PdnnUnits::name() writes them: tanh, pbit, quant1 .. quant8.
bool is_units_name(const std::string& units) {
  return units == "tanh" || units == "pbit" || (units.size() == 6 && units.rfind("quant", 0) == 0 && units[5] >= '1' && units[5] <= '8');
}

/// Where a part of a p-DNN run ran: the GPU for an evaluation or a bench on cuda, else the host path,
/// which reference, cpu and packed all run alike on run.threads (training always runs there).
std::string pdnn_device_name(const std::string& backend, int threads, bool on_gpu) {
  const Backend b = backend_from_string(backend);
  return b == Backend::cuda && on_gpu ? backend_device_name(b, threads) : backend_device_name(Backend::cpu, threads);
}

/// What an evaluation was, by the units it read the network with, the units the network was trained
/// with and the hardware it ran on (names checked by the caller: is_units_name). Only a
/// network read as it was trained, on ideal units, is a paper's baseline ("deterministic fp32"):
/// a p-bit network read with tanh is not.
std::string role_of(const nlohmann::json& r) {
  const std::string units = r["eval"]["units"].get<std::string>(), trained = r["trained_units"].get<std::string>();
  std::string role;
  if (units == "pbit") {
    role = trained == "pbit" ? "sample-aware (s=" + std::to_string(r.value("train_samples", 1)) + ")" : "noise-injected (" + trained + ")";
  } else {
    const std::string read = units == "tanh" ? "fp32" : units.substr(5) + "-bit";
    role = trained == units ? "deterministic " + read : trained + "-trained, read as " + read;
  }
  // The device it ran on ("" where none, or a section this pbit cannot read), read once for both uses below.
  std::optional<PbitHardware> hw;
  bool unreadable = false;
  if (r.contains("hardware") && r["hardware"].is_object()) {
    try {
      hw = parse_hardware(r["hardware"], "hardware", false);  // as an older pbit recorded it
    } catch (const InvalidConfig&) {
      unreadable = true;
    }
  }
  // How it was trained, where recorded (train's results, and eval's of a model from 2026-12-07 on):
  // a network trained against a device is not the ideal one the paper's claims are about.
  if (r.contains("train_mode") && r["train_mode"].is_string() && r["train_mode"] != "ideal") {
    const std::string mode = r["train_mode"] == "pat" ? "physics-aware" : r["train_mode"] == "in_situ" ? "in-situ" : "?";
    std::string device = r.contains("train_hardware") && r["train_hardware"].is_string() ? r["train_hardware"].get<std::string>() : "";
    if (device.empty() && hw) device = hw->describe();  // train's results: the section it trained against
    std::replace_if(device.begin(), device.end(), [](char ch) { return pbit::detail::is_control_byte(ch) || ch == '|' || ch == '"' || ch == '\\'; }, '?');
    role += ", " + mode + "-trained" + (device.empty() ? "" : " on (" + device + ")");
  }
  if (hw && !hw->ideal()) role += " on hardware (" + hw->describe() + ")";
  if (unreadable) role += " on hardware (a section this pbit cannot read)";
  return role;
}

/// `role` with result r's --label (eval's or generate's), if it has one: the name of its curve and
/// table row. A label edited into results file `f` is checked as --label checks it.
std::string labelled(const std::string& role, const nlohmann::json& r, const std::string& f) {
  if (!r.contains("label") || (r["label"].is_string() && r["label"].get<std::string>().empty())) return role;
  if (!r["label"].is_string() || !is_plain_label(r["label"].get<std::string>())) {
    throw InvalidArgument(f + ": its label must be one printable line without quotes, backslashes or '|' (nor spaces only or Unicode " +
                          "bidirectional controls: it names a plot series and a table row)");
  }
  return role + " [" + r["label"].get<std::string>() + "]";
}

/// Tiles the first per_row x per_row images (n x rows x cols, values in [0, 1], 1 = white) into a PNG
/// with a 1-pixel gray border.
void write_gray_grid(const std::string& path, const std::vector<float>& images, int64_t n, int32_t rows, int32_t cols, int32_t per_row) {
  const int64_t shown = std::min<int64_t>(n, static_cast<int64_t>(per_row) * per_row);
  const int32_t grid_rows = static_cast<int32_t>((shown + per_row - 1) / per_row);
  const int32_t W = per_row * (cols + 1) + 1, H = grid_rows * (rows + 1) + 1;
  std::vector<uint8_t> px(static_cast<size_t>(W) * H, 128);
  for (int64_t k = 0; k < shown; ++k) {
    const int32_t gx = static_cast<int32_t>(k % per_row), gy = static_cast<int32_t>(k / per_row);
    for (int32_t r = 0; r < rows; ++r)
      for (int32_t c = 0; c < cols; ++c) {
        const float v = std::clamp(images[static_cast<size_t>(k * rows * cols + r * cols + c)], 0.0f, 1.0f);
        px[static_cast<size_t>((gy * (rows + 1) + 1 + r) * W + gx * (cols + 1) + 1 + c)] = static_cast<uint8_t>(std::lround(255 * v));
      }
  }
  write_png_gray(path, W, H, px);
}

/// Generated images at p > 1/2 as spins (the feature network reads binarized images).
std::vector<std::vector<int8_t>> binarize_probabilities(const std::vector<float>& images, int64_t n, int32_t pixels) {
  std::vector<std::vector<int8_t>> out(static_cast<size_t>(n), std::vector<int8_t>(static_cast<size_t>(pixels)));
  for (int64_t k = 0; k < n; ++k)
    for (int32_t p = 0; p < pixels; ++p) out[static_cast<size_t>(k)][static_cast<size_t>(p)] = images[static_cast<size_t>(k * pixels + p)] > 0.5f ? 1 : -1;
  return out;
}

int train_generator(const PdnnConfig& cfg, bool resume, bool overwrite, bool check) {
  const ImageDataset train = load_dataset(cfg.dataset, "train", cfg.data_dir);
  const ImageDataset test = load_dataset(cfg.dataset, "test", cfg.data_dir);
  const std::vector<int64_t> ti = first_images(train, cfg.train_images), si = first_images(test, cfg.test_images);
  PdnnVae vae = PdnnVae::create(train.pixels_per_image(), cfg);
  PdnnVaeTrainer trainer(vae, cfg, train, ti, test, si);
  const std::string ckpt = cfg.output_dir + "/checkpoint.bin";
  const std::vector<std::string> stale =
      files_in(cfg.output_dir, {"results.json", "metrics.json", "model.bin", "loss.dat", "loss.gp", "loss.png", "gnuplot.log"});
  if (check) return check_trainer(trainer, ckpt, resume, overwrite, stale, cfg);
  if (resume_or_start(ckpt, resume, overwrite, stale)) {
    load_run_checkpoint([&] { trainer.load_checkpoint(ckpt); }, cfg);
    std::cerr << resuming_note(trainer, cfg.epochs) << "\n";
  }
  std::cerr << "p-DNN generator: a VAE with a " << cfg.units.name() << " decoder (" << vae.decoder.sizes.front() << " latent, "
            << vae.decoder.layers() - 1 << " hidden layers), " << cfg.train_samples << " decoder sample(s) per image, on " << ti.size()
            << " " << cfg.dataset << " training images\n";
  auto history = [&] {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& e : trainer.history()) {
      a.push_back({{"epoch", e.epoch}, {"train_loss", e.train_loss}, {"train_reconstruction", e.train_reconstruction},
                   {"train_kl", e.train_kl}, {"test_reconstruction", e.test_reconstruction}, {"wall_s", e.wall_s}});
    }
    return a;
  };
  trainer.run([&](const PdnnVaeEpoch&) {
    vae.save(cfg.output_dir + "/model.bin");
    write_json_file(cfg.output_dir + "/metrics.json", detail::with_config(cfg, {{"epochs", history()}}));
  });
  vae.save(cfg.output_dir + "/model.bin");
  if (trainer.out_of_time()) {
    std::cerr << "time budget of " << cfg.time_budget_s << " s reached after " << trainer.train_seconds()
              << " s of training (epoch " << trainer.epoch() + 1 << ", batch " << trainer.batch_in_epoch()
              << " done): model.bin holds the model as it is; --resume with a larger --time-budget goes on\n";
  }
  const double wall = trainer.train_seconds();
  write_json_file(cfg.output_dir + "/results.json", detail::with_config(cfg, {{"model", "pdnn_generator"}, {"dataset", cfg.dataset},
                                                     {"decoder_sizes", vae.decoder.sizes}, {"encoder_sizes", vae.encoder.sizes},
                                                     {"trained_units", cfg.units.name()}, {"train_samples", vae.decoder.train_samples},
                                                     {"train_images", ti.size()}, {"train_wall_s", wall}, {"stopped_by_time_budget", trainer.out_of_time()}, {"history", history()},
                                                     {"git_sha", build_git_sha()}}));
  std::ostringstream dat;
  dat << "# epoch train_loss train_reconstruction train_kl test_reconstruction (nats per image)\n";
  for (const auto& e : trainer.history()) {
    dat << e.epoch << " " << e.train_loss << " " << e.train_reconstruction << " " << e.train_kl << " ";
    if (e.test_reconstruction >= 0) dat << e.test_reconstruction << "\n";
    else dat << "NaN\n";  // no test images: gnuplot leaves the point out
  }
  detail::write_plot(cfg.output_dir, "loss", dat.str(),
                     "set title " + detail::gnuplot_quote("p-DNN generator (" + cfg.units.name() + " decoder units), " + cfg.dataset) +
                         "\nset xlabel 'epoch'\nset ylabel 'nats per image'\nset grid\nset key top right\n"
                         "plot 'loss.dat' using 1:2 with linespoints title 'training loss (reconstruction + weighted KL)', '' using 1:3 with "
                         "linespoints title 'training reconstruction', '' using 1:5 with linespoints title 'test reconstruction'\n");
  std::printf("p-DNN generator (%s decoder): test reconstruction %.2f nats per image after %zu epochs (%.1f s) -> %s\n",
              cfg.units.name().c_str(), trainer.history().empty() ? -1.0 : trainer.history().back().test_reconstruction,
              trainer.history().size(), wall, printable(cfg.output_dir).c_str());
  return 0;
}

}  // namespace

void add_pdnn_commands(Commands& c) {
  struct Opt {
    std::string config, out, model, activation, samples, sizes = "784,256,256,10", platforms = "configs/platforms.json", label;
    std::vector<std::string> evals;
    int32_t epochs = 0, bits = 0, T = 32;
    double time_budget = -1;
    int64_t test_images = -1, images = 256;
    uint64_t seed = 0;
    bool seed_given = false, resume = false, overwrite = false, ideal = false, check = false;
    std::string backend = "best", train_backend, eval_backend;
    int threads = -1;
    double seconds = 5;
  };
  auto o = std::make_shared<Opt>();
  CLI::App* pd = c.app->add_subcommand(
      "pdnn", "p-DNNs: networks with p-bit activations and sample averaging (Ghantasala et al. 2025): train, eval, generate, bench, report, config");
  pd->require_subcommand(1);

  CLI::App* t = pd->add_subcommand(
      "train", "Trains a multilayer perceptron with tanh, k-bit or p-bit hidden units (Adam, straight-through gradient for "
               "k-bit and p-bit units, the mean logits of train.samples samples per image); writes the model, per-epoch "
               "metrics, results and an accuracy plot to the output folder");
  t->add_option("--config", o->config, "p-DNN config (configs/pdnn_*.json)")->required();
  t->add_option("--out", o->out, "replaces the config's run.output_dir");
  t->add_option("--epochs", o->epochs, "replaces train.epochs")->check(number_in<int32_t>(1, 100000));
  t->add_option("--time-budget", o->time_budget, "stop training once S seconds of it have passed (over resumes), with a checkpoint: --resume with a larger budget goes on bit for bit; 0 = no budget (also train.time_budget_s)")
      ->check(number_in<double>(0, 1e9));
  add_seed_option(t, o->seed, o->seed_given, "weights, data order and every sample");
  auto* resume = t->add_flag("--resume", o->resume, "continue a killed run from output_dir/checkpoint.bin, bit for bit (starts afresh when there is none yet)");
  t->add_flag("--overwrite", o->overwrite, "start afresh even if output_dir holds an earlier run's checkpoint")->excludes(resume);
  add_backend_options(t, o->train_backend, o->threads, " (reference, cpu and packed all run the host path)");
  add_check_option(t, o->check);
  t->footer("Config keys (data, network, train, eval, generator, hardware, run): docs/CLI.md, 'p-DNN configs'.");
  c.add(t, [o] {
    PdnnConfig cfg = parse_pdnn_config(read_json_file(o->config));
    // results.json records the config that ran, overrides included.
    override_run_options(cfg, *o, o->train_backend);
    if (o->epochs > 0) detail::override_key(cfg.epochs, o->epochs, cfg.source, {"train", "epochs"});
    const auto lock = prepare_output(cfg.output_dir, o->check, o->resume, "", false);
    if (lock) {
      for (const char* f : {"/model.bin", "/metrics.json", "/results.json"}) check_writable(cfg.output_dir + f);
    }
    if (cfg.generator) return train_generator(cfg, o->resume, o->overwrite, o->check);
    const ImageDataset train = load_dataset(cfg.dataset, "train", cfg.data_dir);
    const ImageDataset test = load_dataset(cfg.dataset, "test", cfg.data_dir);
    const std::vector<int64_t> ti = first_images(train, cfg.train_images), si = first_images(test, cfg.test_images);
    std::vector<int32_t> sizes{train.pixels_per_image()};
    sizes.insert(sizes.end(), cfg.hidden.begin(), cfg.hidden.end());
    sizes.push_back(10);
    PdnnNet net = PdnnNet::create(sizes, cfg.seed);
    PdnnTrainer trainer(net, cfg, train, ti, test, si);
    const std::string ckpt = cfg.output_dir + "/checkpoint.bin";
    const std::vector<std::string> stale =
        files_in(cfg.output_dir, {"results.json", "metrics.json", "model.bin", "accuracy.dat", "accuracy.gp", "accuracy.png", "gnuplot.log"});
    if (o->check) return check_trainer(trainer, ckpt, o->resume, o->overwrite, stale, cfg);
    if (resume_or_start(ckpt, o->resume, o->overwrite, stale)) {
      load_run_checkpoint([&] { trainer.load_checkpoint(ckpt); }, cfg);
      std::cerr << resuming_note(trainer, cfg.epochs) << "\n";
    }
    std::string shape;
    for (int32_t s : sizes) shape += (shape.empty() ? "" : "-") + std::to_string(s);
    std::cerr << "p-DNN " << shape << " with " << cfg.units.name() << " hidden units, " << cfg.train_samples
              << " sample(s) per image, on " << ti.size() << " " << cfg.dataset << " training images, " << si.size()
              << " test images, batch " << cfg.batch_size << "\n";
    trainer.run([&](const PdnnEpoch&) {
      net.save(cfg.output_dir + "/model.bin");
      write_json_file(cfg.output_dir + "/metrics.json", detail::with_config(cfg, {{"epochs", history_json(trainer.history())}}));
    });
    net.save(cfg.output_dir + "/model.bin");
    if (trainer.out_of_time()) {
      std::cerr << "time budget of " << cfg.time_budget_s << " s reached after " << trainer.train_seconds()
                << " s of training (epoch " << trainer.epoch() + 1 << ", batch " << trainer.batch_in_epoch()
                << " done): evaluating the model as it is; --resume with a larger --time-budget goes on\n";
    }
    const PdnnEval ev = pdnn_evaluate(net, cfg.units, cfg.eval_samples, test, si, cfg, "pdnn test");
    const double wall = trainer.train_seconds();
    nlohmann::json out = {{"model", "pdnn"},
                          {"dataset", cfg.dataset},
                          {"sizes", sizes},
                          {"trained_units", cfg.units.name()},
                          {"train_samples", net.train_samples},
                          {"train_mode", cfg.train_mode},
                          {"hardware", cfg.hardware.config_json()},
                          {"train_images", ti.size()},
                          {"epochs_trained", trainer.history().size()},
                          {"stopped_by_time_budget", trainer.out_of_time()},
                          {"train_wall_s", wall},
                          {"eval", eval_json(ev)},
                          {"history", history_json(trainer.history())},
                          {"device", pdnn_device_name(cfg.backend, cfg.threads, false)},
                          {"eval_device", pdnn_device_name(cfg.backend, cfg.threads, true)},
                          {"git_sha", build_git_sha()}};
    write_json_file(cfg.output_dir + "/results.json", detail::with_config(cfg, std::move(out)));
    std::ostringstream dat;
    dat << "# epoch train_accuracy test_accuracy\n";
    for (const auto& e : trainer.history()) dat << e.epoch << " " << e.train_accuracy << " " << e.test_accuracy << "\n";
    detail::write_plot(cfg.output_dir, "accuracy", dat.str(),
                       "set title " + detail::gnuplot_quote("p-DNN " + shape + ", " + cfg.units.name() + " units, " + cfg.dataset) +
                           "\nset xlabel 'epoch'\nset ylabel 'accuracy'\nset grid\nset key bottom right\n"
                           "plot 'accuracy.dat' using 1:2 with linespoints title 'training batches (during the epoch)', '' using 1:3 with "
                           "linespoints title 'test'\n");
    std::printf("p-DNN (%s units): test accuracy", cfg.units.name().c_str());
    for (size_t q = 0; q < ev.samples.size(); ++q) std::printf(" %.4f (T=%d)", ev.accuracy[q], ev.samples[q]);
    std::printf(" on %lld images after %zu epochs (%.1f s of training) -> %s\n", static_cast<long long>(ev.images),
                trainer.history().size(), wall, printable(cfg.output_dir).c_str());
    return 0;
  });

  CLI::App* e = pd->add_subcommand(
      "eval", "Classifies test images with a trained p-DNN at each sample count T (the mean logits of T samples); "
              "--activation pbit on a tanh-trained model is noise injection without retraining");
  e->add_option("--model", o->model, "model.bin written by 'pbit pdnn train'")->required();
  e->add_option("--config", o->config, "a p-DNN config: its data, eval and run sections, and hardware unless --ideal")->required();
  e->add_option("--activation", o->activation, "hidden units to evaluate with (default: those the model was trained with)")
      ->check(CLI::IsMember({"tanh", "quant", "pbit"}));
  e->add_option("--bits", o->bits, "bits of quant units")->check(number_in<int32_t>(1, 8));
  e->add_option("--samples", o->samples, "sample counts T, comma-separated and increasing (replaces eval.samples)");
  e->add_option("--test-images", o->test_images, "test images (0 = all; default: the config's data.test_images)")
      ->check(number_in<int64_t>(0, 1 << 24));
  e->add_option("--backend", o->eval_backend, "replaces run.backend: reference, cpu, packed (the host path), cuda, or best (cuda when there is a GPU)")
      ->check(CLI::IsMember({"best", "reference", "cpu", "packed", "cuda"}));
  e->add_option("--label", o->label, "a name for this evaluation in reports")->check(plain_label_option());
  e->add_flag("--ideal", o->ideal, "evaluate on the ideal p-bits even if the config has a hardware section");
  e->add_option("--out", o->out, "write the results JSON here");
  c.add(e, [o] {
    refuse_output_over_input("--out", o->out, {{"--model", o->model}, {"--config", o->config}});
    PdnnConfig cfg = parse_pdnn_config(read_json_file(o->config));
    if (!o->out.empty()) check_writable(o->out);
    const PdnnNet net = PdnnNet::load(o->model);
    const PdnnUnits units = units_from_options(net.trained_units, o->activation, o->bits);
    {  // The config's network section is the training's: eval runs the model's network, with the units it was
       // trained with or --activation's, and says so where they differ.
      std::vector<std::string> differ;
      const std::vector<int32_t> hidden(net.sizes.begin() + 1, net.sizes.end() - 1);
      if (cfg.hidden != hidden) differ.push_back("network.hidden " + nlohmann::json(cfg.hidden).dump() + ", the model's " + nlohmann::json(hidden).dump());
      if (o->activation.empty() && cfg.units.name() != net.trained_units.name()) {
        differ.push_back("network.activation " + cfg.units.name() + ", the model trained with " + net.trained_units.name() + " (--activation chooses the units)");
      }
      if (!differ.empty()) std::cerr << "note: the config's network is not the model's (" << detail::join_at_most(differ, 3) << "): evaluating the model's\n";
    }
    if (!o->samples.empty()) cfg.eval_samples = parse_samples(o->samples);
    if (!units.stochastic() && cfg.eval_samples != std::vector<int32_t>{1}) {  // not silently
      std::fprintf(stderr, "note: %s units are deterministic (every sample is the same): evaluated at T=1 only, not at the %s sample "
                           "counts\n", units.name().c_str(), o->samples.empty() ? "config's eval.samples" : "--samples");
    }
    if (!o->eval_backend.empty()) cfg.backend = o->eval_backend;
    if (o->ideal) cfg.hardware = PbitHardware{};
    if (!units.stochastic() && !cfg.hardware.ideal()) {  // (recorded as it ran: a report read it as a run on hardware, helper-121)
      std::fprintf(stderr, "note: the config's hardware section models p-bit units: the %s units are evaluated ideal\n", units.name().c_str());
      cfg.hardware = PbitHardware{};
    }
    const ImageDataset test = load_dataset(cfg.dataset, "test", cfg.data_dir);
    check_test_images_option(o->test_images, test.size(), cfg.dataset);
    const std::vector<int64_t> si = first_images(test, o->test_images >= 0 ? o->test_images : cfg.test_images);
    const PdnnEval ev = pdnn_evaluate(net, units, cfg.eval_samples, test, si, cfg, "pdnn eval");
    nlohmann::json out = {{"pdnn_eval", true},
                          {"label", o->label},
                          {"model", o->model},
                          {"dataset", cfg.dataset},
                          {"sizes", net.sizes},
                          {"trained_units", net.trained_units.name()},
                          {"train_samples", net.train_samples},
                          {"train_mode", net.train_mode.empty() ? nlohmann::json(nullptr) : nlohmann::json(net.train_mode)},
                          {"train_hardware", net.train_hardware.empty() ? nlohmann::json(nullptr) : nlohmann::json(net.train_hardware)},
                          {"eval", eval_json(ev)},
                          {"hardware", cfg.hardware.config_json()},
                          {"seed", cfg.seed},
                          {"device", pdnn_device_name(cfg.backend, cfg.threads, true)},
                          {"git_sha", build_git_sha()}};
    if (!o->out.empty()) write_json_file(o->out, out);
    std::printf("p-DNN %s (trained %s) on %s: test accuracy", units.name().c_str(), net.trained_units.name().c_str(), ev.hardware.c_str());
    for (size_t q = 0; q < ev.samples.size(); ++q) std::printf(" %.4f (T=%d)", ev.accuracy[q], ev.samples[q]);
    std::printf(" on %lld images (%.1f s)\n", static_cast<long long>(ev.images), ev.wall_s);
    return 0;
  });

  CLI::App* b = pd->add_subcommand(
      "bench", "Inference throughput of a p-DNN on random inputs (no dataset needed): samples and inferences per second, and "
               "on cuda the measured energy per inference (NVML)");
  auto* bm = b->add_option("--model", o->model, "a trained model.bin (default: a Glorot-initialised network of --sizes)");
  b->add_option("--sizes", o->sizes, "layer sizes, inputs to classes (default 784,256,256,10)")->excludes(bm);
  b->add_option("--samples", o->T, "samples per image T")->check(number_in<int32_t>(1, 1 << 16))->capture_default_str();
  b->add_option("--images", o->images, "images per forward call")->check(number_in<int64_t>(1, 1 << 20))->capture_default_str();
  b->add_option("--backend", o->backend, "cpu (the host path), cuda, or best (cuda when there is a GPU)")
      ->check(CLI::IsMember({"best", "cpu", "cuda"}))
      ->capture_default_str();
  b->add_option("--threads", o->threads, "host path threads (0 = OpenMP's default; a small call runs on fewer)")
      ->check(number_in<int>(0, 4096));
  b->add_option("--seconds", o->seconds, "measure for at least this long after one warm-up call")
      ->check(number_in<double>(0.01, 3600))
      ->capture_default_str();
  b->add_option("--out", o->out, "write the benchmark JSON here (default: stdout)");
  c.add(b, [o] {
    refuse_output_over_input("--out", o->out, {{"--model", o->model}});
    if (!o->out.empty()) check_writable(o->out);
    const PdnnNet net = o->model.empty() ? PdnnNet::create(parse_ints(o->sizes, "--sizes", 1, 1 << 16), 1) : PdnnNet::load(o->model);
    const Backend be = backend_from_string(o->backend);
    const bool gpu = be == Backend::cuda;
    if (gpu && !backend_available(be)) throw InvalidArgument("--backend cuda: " + backend_unavailable_reason(be));
    const int64_t n = o->images;
    if (static_cast<double>(n) * o->T * (*std::max_element(net.sizes.begin() + 1, net.sizes.end())) > 2e9) {
      throw InvalidArgument("--images x --samples x the widest layer past the inputs is beyond 2e9 values");
    }
    detail::check_memory(pdnn_forward_bytes(net, n, o->T), "pdnn bench (--images x --samples rows of the widest hidden layer)");
    // MNIST-like inputs: about 80% zero pixels, the rest uniform in (0, 1].
    std::vector<float> x(static_cast<size_t>(n * net.inputs()));
    rng::PhiloxStream rs(1, rng::pdnn_stream(rng::PdnnUse::bench));
    for (float& v : x) v = rs.uniform() < 0.8 ? 0.0f : static_cast<float>(1.0 - rs.uniform());
    PdnnForwardSpec spec;
    spec.units.activation = PdnnActivation::pbit;
    spec.T = o->T;
    spec.stream = rng::pdnn_stream(rng::PdnnUse::bench);
    spec.threads = std::max(o->threads, 0);
    std::vector<float> logits(static_cast<size_t>(n * o->T * net.classes()));
    auto call = [&](int64_t k) {
      spec.first_id = k * n;
      if (gpu) {
        pdnn_forward_cuda(net, spec, x.data(), n, logits.data());
      } else {
        pdnn_forward(net, spec, x.data(), n, logits.data());
      }
    };
    call(0);  // warm-up
    std::string why;
    auto meter = gpu ? energy::GpuEnergyMeter::open(backend_device_pci_bus_id(Backend::cuda), &why) : nullptr;
    uint64_t mj0 = 0, mj1 = 0;
    const bool metered = meter && meter->total_energy_mj(mj0);
    const double t0 = detail::monotonic_s();
    int64_t calls = 0;
    // A status line on a long measurement (--seconds up to 3600), in milliseconds measured.
    const auto ms = static_cast<int64_t>(std::llround(o->seconds * 1000));
    std::unique_ptr<detail::Progress> prog;
    if (o->seconds >= 10) prog = std::make_unique<detail::Progress>("pdnn bench", ms);
    int64_t shown = 0;  // (the line's text is built at most every 100 ms: not a cost of every call)
    for (double el = 0; calls == 0 || el < o->seconds;) {
      call(++calls);
      el = detail::monotonic_s() - t0;
      const auto now_ms = static_cast<int64_t>(el * 1000);
      if (prog && now_ms >= shown + 100 && now_ms < ms) prog->update(shown = now_ms, "ms, " + std::to_string(calls) + " calls,");
    }
    if (prog) prog->update(ms, "ms, " + std::to_string(calls) + " calls,");
    const double wall = detail::monotonic_s() - t0;
    const bool read_again = metered && meter->total_energy_mj(mj1);
    const bool have_energy = read_again && mj1 > mj0;
    const int ran_threads = gpu ? 0 : pdnn_forward_threads(net, n, o->T, std::max(o->threads, 0));
    int64_t hidden = 0;
    for (int32_t l = 1; l + 1 < static_cast<int32_t>(net.sizes.size()); ++l) hidden += net.sizes[l];
    const double inferences = static_cast<double>(calls) * n, samples = inferences * o->T;
    nlohmann::json j = {{"benchmark", "pdnn_forward"},
                        {"sizes", net.sizes},
                        {"samples_per_inference", o->T},
                        {"images_per_call", n},
                        {"calls", calls},
                        {"wall_s", wall},
                        {"inferences_per_s", inferences / wall},
                        {"samples_per_s", samples / wall},
                        {"pbit_outputs_per_ns", samples * static_cast<double>(hidden) / wall / 1e9},
                        {"includes_host_transfers", gpu},
                        {"units", "pbit"},
                        {"backend", to_string(gpu ? Backend::cuda : Backend::cpu)},
                        {"threads", ran_threads},  // (those the host path ran on, for this call's work)
                        {"device", backend_device_name(gpu ? Backend::cuda : Backend::cpu, ran_threads)},
                        {"timestamp_utc", utc_timestamp()},
                        {"machine", machine_description()},
                        {"build", build_description()}};
    if (have_energy) {
      const double joules = static_cast<double>(mj1 - mj0) / 1e3;
      // NVML's whole-board counter: the idle draw is included, not subtracted (pbit compare subtracts it).
      j["energy_scope"] = "whole board over the timed calls, idle draw included";
      j["energy_j"] = joules;
      j["energy_j_per_inference"] = joules / inferences;
      j["inferences_per_j"] = inferences / joules;
    } else {
      if (gpu && why.empty()) {  // (the meter opened: its counter failed or did not advance)
        why = read_again ? "the board's energy counter did not advance over the " + detail::format_number(wall) + " s measured (a longer --seconds)"
                         : "the board's energy counter could not be read";
      }
      j["energy_note"] = gpu ? "NVML energy unavailable: " + why : "no energy meter for the host path";
    }
    emit(o->out, j);
    std::fprintf(stderr, "p-DNN forward (%s, T = %d): %.4g inferences/s, %.4g samples/s\n", gpu ? "cuda" : "cpu", o->T,
                 inferences / wall, samples / wall);
    return 0;
  });

  CLI::App* g = pd->add_subcommand(
      "generate", "Generates images with a trained p-DNN generator (a config with a 'generator' section): for each T the mean "
                  "of T decoder samples, its feature-FID against the test images and the test reconstruction cross-entropy; "
                  "image grids, fid.png and a results JSON in --out");
  g->add_option("--model", o->model, "model.bin written by 'pbit pdnn train' with a generator config")->required();
  g->add_option("--config", o->config, "the config it was trained with (data, eval, generator and run sections)")->required();
  g->add_option("--activation", o->activation, "decoder hidden units (default: those it was trained with)")
      ->check(CLI::IsMember({"tanh", "quant", "pbit"}));
  g->add_option("--bits", o->bits, "bits of quant units")->check(number_in<int32_t>(1, 8));
  g->add_option("--samples", o->samples, "sample counts T, comma-separated and increasing (replaces eval.samples)");
  g->add_option("--images", o->images, "images generated at each T (replaces generator.fid_images)")->check(number_in<int64_t>(2, 1 << 20));
  g->add_option("--label", o->label, "a name for this run in reports")->check(plain_label_option());
  g->add_option("--out", o->out, "output folder")->required();
  c.add(g, [o, g] {
    // Not into a training run's folder, whose results.json this one's would replace.
    for (const char* f : {"model.bin", "checkpoint.bin"}) {
      if (std::filesystem::exists(o->out + "/" + f)) {
        throw InvalidArgument("--out " + o->out + " holds " + f + ", a training run's folder: its results.json would be replaced by the "
                              "generation's; choose another --out");
      }
    }
    PdnnConfig cfg = parse_pdnn_config(read_json_file(o->config));
    if (!cfg.generator) {  // its fid_images and threshold would be the defaults, not the run's
      throw InvalidArgument("--config '" + o->config + "' has no 'generator' section: give the config the generator was trained with");
    }
    const MadeFolder made(o->out);  // (removed again if the command fails while it is empty)
    check_writable(o->out + "/results.json");
    const PdnnVae vae = PdnnVae::load(o->model);
    const PdnnUnits units = units_from_options(vae.decoder.trained_units, o->activation, o->bits);
    if (!o->samples.empty()) cfg.eval_samples = parse_samples(o->samples);
    if (!units.stochastic() && cfg.eval_samples != std::vector<int32_t>{1}) {  // not silently (as eval)
      std::fprintf(stderr, "note: %s units are deterministic (every sample is the same): generated at T=1 only, not at the %s sample "
                           "counts\n", units.name().c_str(), o->samples.empty() ? "config's eval.samples" : "--samples");
    }
    const int64_t n = g->count("--images") ? o->images : cfg.gen.fid_images;
    const ImageDataset train = load_dataset(cfg.dataset, "train", cfg.data_dir);
    const ImageDataset test = load_dataset(cfg.dataset, "test", cfg.data_dir);
    if (vae.pixels() != test.pixels_per_image()) throw InvalidArgument("the generator's images do not match the " + cfg.dataset + " images");
    double net_acc = 0;
    const FeatureNet fnet = FeatureNet::cached(FeatureNet::cache_file("feature_net_" + cfg.dataset + "_pool1_n" + std::to_string(train.size()) + "_t" +
                                                                      std::to_string(cfg.gen.threshold) + ".bin"),
                                               train, cfg.gen.threshold, 3, 1, &net_acc, &test);
    const auto test_imgs = spin_images(test, cfg.gen.threshold, std::max<int64_t>(n, 2000));
    const auto train_imgs = spin_images(train, cfg.gen.threshold, std::max<int64_t>(n, 2000));
    const double floor = feature_frechet(fnet, train_imgs, test_imgs);
    const double t0 = detail::monotonic_s();
    const PdnnGenerated gen = pdnn_generate(vae.decoder, units, cfg.eval_samples, n, cfg.seed, cfg, "generate");
    const std::vector<int64_t> rec_index = first_images(test, std::min<int64_t>(test.size(), 1000));
    const std::vector<double> rec = pdnn_reconstruction(vae, units, gen.samples, test, rec_index, cfg);
    nlohmann::json fids = nlohmann::json::array();
    std::ostringstream dat;
    dat << "# samples feature_fid reconstruction_nats\n";
    for (size_t q = 0; q < gen.samples.size(); ++q) {
      const double fid = feature_frechet(fnet, binarize_probabilities(gen.images[q], n, vae.pixels()), test_imgs);
      fids.push_back(fid);
      dat << gen.samples[q] << " " << fid << " " << rec[q] << "\n";
      write_gray_grid(o->out + "/generated_T" + std::to_string(gen.samples[q]) + ".png", gen.images[q], n, test.rows, test.cols, 10);
      std::fprintf(stderr, "T = %d: feature-FID %.3f, test reconstruction %.2f nats\n", gen.samples[q], fid, rec[q]);
    }
    detail::write_plot(o->out, "fid", dat.str(),
                       "set title " + detail::gnuplot_quote("p-DNN generator (" + units.name() + " decoder units), " + cfg.dataset) +
                           "\nset xlabel 'samples T (mean of T decoder samples)'\nset ylabel 'feature-FID (lower is better)'\nset logscale x\n"
                           "set grid\nplot 'fid.dat' using 1:2 with linespoints lw 2 title 'generated', " + detail::gnuplot_number(floor) +
                           " with lines dt 2 title 'training images (floor)'\n");
    nlohmann::json out = {{"pdnn_generate", true},
                          {"label", o->label},
                          {"model", o->model},
                          {"dataset", cfg.dataset},
                          {"sizes", vae.decoder.sizes},
                          {"units", units.name()},
                          {"trained_units", vae.decoder.trained_units.name()},
                          {"train_samples", vae.decoder.train_samples},
                          {"samples", gen.samples},
                          {"images", n},
                          {"feature_fid", fids},
                          {"feature_fid_training_images", floor},
                          {"feature_net_test_accuracy", net_acc},
                          {"test_reconstruction_nats", rec},
                          {"wall_s", detail::monotonic_s() - t0},
                          {"seed", cfg.seed},
                          {"git_sha", build_git_sha()}};
    write_json_file(o->out + "/results.json", out);
    remove_other_numbered(o->out, "generated_T", ".png", std::vector<int64_t>(gen.samples.begin(), gen.samples.end()));
    std::printf("p-DNN generator %s: feature-FID", units.name().c_str());
    for (size_t q = 0; q < gen.samples.size(); ++q) std::printf(" %.3f (T=%d)", fids[q].get<double>(), gen.samples[q]);
    std::printf(" (training images: %.3f) -> %s\n", floor, printable(o->out).c_str());
    return 0;
  });

  CLI::App* r = pd->add_subcommand(
      "report", "The paper's plots from 'pdnn eval' results: accuracy against samples T (p-DNNs) with the deterministic "
                "networks as lines, and energy per inference (SRAM and DRAM weights, configs/platforms.json) against accuracy");
  r->add_option("evals", o->evals, "result files of 'pbit pdnn eval --out', or the results.json of 'pdnn train' or 'pdnn generate' (generators' go into fid.png)")->required();
  r->add_option("--platforms", o->platforms, "energy constants (default configs/platforms.json)");
  r->add_option("--out", o->out, "output folder (curve.png, energy.png, summary.json, summary.md)")->required();
  c.add(r, [o] {
    for (const std::string& f : o->evals) refuse_output_over_input("--out's summary.json", o->out + "/summary.json", {{"a result file", f}});
    refuse_output_over_input("--out's summary.json", o->out + "/summary.json", {{"--platforms", o->platforms}});
    const energy::Platforms plat = energy::load_platforms(o->platforms);
    const MadeFolder made(o->out);  // (removed again if the command fails while it is empty)
    // The numbers of a result file, checked: a hand-edited or foreign file must not become a plot of
    // nonsense (an accuracy of 5, a layer of 10^12 units that overflows the energy model).
    auto ints = [](const nlohmann::json& v, const std::string& f, const std::string& key, int64_t lo, int64_t hi) {
      std::vector<int32_t> out;
      if (!v.is_array() || v.empty()) throw InvalidArgument(f + ": '" + key + "' must be a non-empty array");
      for (const auto& x : v) {
        if (!x.is_number_integer() || x.get<int64_t>() < lo || x.get<int64_t>() > hi) {
          throw InvalidArgument(f + ": '" + key + "' holds " + x.dump() + ", not a whole number in [" + std::to_string(lo) + ", " +
                                std::to_string(hi) + "]");
        }
        out.push_back(static_cast<int32_t>(x.get<int64_t>()));
      }
      return out;
    };
    // Sample counts as eval and generate write them (--samples is refused otherwise): one point per T.
    auto increasing = [](std::vector<int32_t> v, const std::string& f, const std::string& key) {
      if (std::adjacent_find(v.begin(), v.end(), std::greater_equal<int32_t>()) != v.end()) {
        throw InvalidArgument(f + ": '" + key + "' must be increasing (one point per sample count), got " + nlohmann::json(v).dump());
      }
      return v;
    };
    auto reals = [](const nlohmann::json& v, const std::string& f, const std::string& key, double lo, double hi) {
      std::vector<double> out;
      if (!v.is_array() || v.empty()) throw InvalidArgument(f + ": '" + key + "' must be a non-empty array");
      for (const auto& x : v) {
        if (!x.is_number() || !(x.get<double>() >= lo && x.get<double>() <= hi)) {
          throw InvalidArgument(f + ": '" + key + "' holds " + x.dump() + ", not a number in [" + detail::format_number(lo) + ", " +
                                detail::format_number(hi) + "]");
        }
        out.push_back(x.get<double>());
      }
      return out;
    };
    // One report is one dataset: its plots put every file on one axis.
    auto same_dataset = [&](const nlohmann::json& j, const std::string& f, std::string& dataset) {
      const std::string d = j.value("dataset", "");
      if (dataset.empty()) dataset = d;
      else if (!d.empty() && d != dataset) {
        throw InvalidArgument(f + " is a " + d + " result, the files before it " + dataset + " ones: report one dataset at a time");
      }
    };
    nlohmann::json rows = nlohmann::json::array();
    std::string dataset;
    nlohmann::json gens = nlohmann::json::array();
    auto units_of = [](const nlohmann::json& v, const std::string& f, const std::string& key) {
      const std::string u = v.get<std::string>();
      if (!is_units_name(u)) throw InvalidArgument(f + ": '" + key + "' is '" + u + "', not tanh, pbit or quant1 .. quant8");
      return u;
    };
    for (const std::string& f : o->evals) {
      nlohmann::json j = read_json_file(f);
      if (!j.is_object()) throw InvalidArgument(f + " is not a p-DNN result: not a JSON object");
      if (j.contains("pdnn_generate") && !j["pdnn_generate"].is_boolean()) {
        throw InvalidArgument(f + " is not a p-DNN result: 'pdnn_generate' is " + j["pdnn_generate"].dump() + ", not true or false");
      }
      // The sample count a p-bit network was trained with names its row ("sample-aware (s=4)").
      if (j.contains("train_samples")) ints(nlohmann::json::array({j["train_samples"]}), f, "train_samples", 1, 1 << 20);
      if (j.value("pdnn_generate", false)) {  // a 'pdnn generate' result: for the FID plot
        try {
          const auto samples = increasing(ints(j.at("samples"), f, "samples", 1, 1 << 20), f, "samples");
          const auto fid = reals(j.at("feature_fid"), f, "feature_fid", 0, 1e12);
          if (samples.size() != fid.size()) throw InvalidArgument(f + ": samples and FIDs differ in length");
          const auto nats = reals(j.at("test_reconstruction_nats"), f, "test_reconstruction_nats", 0, 1e12);
          if (nats.size() != samples.size()) throw InvalidArgument(f + ": samples and reconstruction losses differ in length");
          const double floor = reals(nlohmann::json::array({j.at("feature_fid_training_images")}), f, "feature_fid_training_images", 0, 1e12)[0];
          const std::string units = units_of(j.at("units"), f, "units"), trained = units_of(j.at("trained_units"), f, "trained_units");
          const std::string role =
              labelled(units == "pbit" ? (trained == "pbit" ? "sample-aware decoder (s=" + std::to_string(j.value("train_samples", 1)) + ")"
                                                            : "noise-injected " + trained + " decoder")
                                       : units + " decoder",
                       j, f);
          for (const auto& other : gens) {  // each is one curve of fid.png, named by its role
            if (other["role"] == role) {
              throw InvalidArgument(other["file"].get<std::string>() + " and " + f + " are both '" + role +
                                    "': give each generation its own --label, or report one of them");
            }
          }
          gens.push_back({{"file", f}, {"role", role}, {"samples", samples}, {"feature_fid", fid},
                          {"floor", floor}, {"test_reconstruction_nats", nats}});
          same_dataset(j, f, dataset);
        } catch (const nlohmann::json::exception& ex) {
          throw InvalidArgument(f + " is not a p-DNN result: " + detail::json_what(ex));
        }
        continue;
      }
      try {
        if (j.value("model", "") == "pdnn_generator") {
          throw InvalidArgument(f + " is a p-DNN generator's training result: report the results.json of 'pbit pdnn generate' with its model");
        }
        if (!j.contains("eval") || !j["eval"].contains("units") || !j.contains("sizes") || !j.contains("trained_units")) {
          throw InvalidArgument(f + " is not a 'pbit pdnn eval' or 'pdnn train' result");
        }
        // (an accuracy over no images is no point of a curve)
        ints(nlohmann::json::array({j["eval"]["test_images"]}), f, "eval.test_images", 1, int64_t{1} << 31);
        const auto sizes = ints(j["sizes"], f, "sizes", 1, 1 << 24);
        if (sizes.size() < 2) throw InvalidArgument(f + " has no network shape");
        const auto samples = increasing(ints(j["eval"]["samples"], f, "eval.samples", 1, 1 << 20), f, "eval.samples");
        const auto acc = reals(j["eval"]["test_accuracy"], f, "eval.test_accuracy", 0, 1);
        if (samples.size() != acc.size()) throw InvalidArgument(f + ": samples and accuracies differ in length");
        const int32_t bits = ints(nlohmann::json::array({j["eval"]["bits"]}), f, "eval.bits", 1, 32)[0];
        const bool pbit = units_of(j["eval"]["units"], f, "eval.units") == "pbit";
        units_of(j["trained_units"], f, "trained_units");
        same_dataset(j, f, dataset);
        nlohmann::json row = {{"file", f}, {"role", labelled(role_of(j), j, f)}, {"kind", role_of(j)}, {"units", j["eval"]["units"]}, {"trained_units", j["trained_units"]},
                              {"sizes", sizes}, {"test_images", j["eval"]["test_images"]}, {"points", nlohmann::json::array()}};
        for (size_t q = 0; q < samples.size(); ++q) {
          row["points"].push_back({{"samples", samples[q]},
                                   {"test_accuracy", acc[q]},
                                   {"energy_j_per_inference_sram", plat.pdnn.joules_per_inference(sizes, samples[q], 8, bits, pbit, false)},
                                   {"energy_j_per_inference_dram", plat.pdnn.joules_per_inference(sizes, samples[q], 8, bits, pbit, true)}});
        }
        for (const auto& other : rows) {  // each row is one curve, and the claims pick their rows by role
          if (other["role"] == row["role"]) {
            throw InvalidArgument(other["file"].get<std::string>() + " and " + f + " are both '" + row["role"].get<std::string>() +
                                  "': give each evaluation its own --label, or report one of them");
          }
        }
        rows.push_back(row);
      } catch (const nlohmann::json::exception& ex) {
        throw InvalidArgument(f + " is not a p-DNN result: " + detail::json_what(ex));
      }
    }
    // A file name in a data file's comment, its control characters as '?': a line break in it
    // began a line gnuplot read as a point.
    auto one_line = [](std::string name) {
      std::replace_if(name.begin(), name.end(), pbit::detail::is_control_byte, '?');
      return name;
    };
    // accuracy against T
    std::ostringstream gp, egp;
    gp << "# gnuplot curve.gp (data: series_*.dat)\nset terminal pngcairo size 900,560\nset output 'curve.png'\n"
       << "set title " << detail::gnuplot_quote("p-DNN test accuracy against samples per inference" + (dataset.empty() ? "" : ", " + dataset)) << "\n"
       << "set xlabel 'samples T (mean logits of T samples)'\nset ylabel 'test accuracy'\nset logscale x\nset grid\nset key bottom right\n"
       << "set xrange [0.8:150]\nplot ";
    egp << "# gnuplot energy.gp (data: series_*.dat)\nset terminal pngcairo size 1300,600\nset output 'energy.png'\n"
        << "set multiplot layout 1,2 title " << detail::gnuplot_quote("energy per inference (Ghantasala et al. model, configs/platforms.json) against test accuracy") << "\n"
        << "set xlabel 'energy per inference (J)'\nset ylabel 'test accuracy'\nset logscale x\nset format x '10^{%L}'\nset grid\n"
        << "set key bottom right font ',9'\n";
    std::string sep, sram = "set title 'weights in SRAM'\nplot ", dram = "set title 'weights in DRAM'\nplot ";
    for (size_t k = 0; k < rows.size(); ++k) {
      const auto& row = rows[k];
      const std::string name = row["role"].get<std::string>();
      std::ostringstream dat;
      dat << "# samples test_accuracy energy_sram_j energy_dram_j  (" << name << ", " << one_line(row["file"].get<std::string>()) << ")\n";
      for (const auto& p : row["points"]) {
        dat << p["samples"] << " " << p["test_accuracy"] << " " << p["energy_j_per_inference_sram"] << " "
            << p["energy_j_per_inference_dram"] << "\n";
      }
      const std::string file = "series_" + std::to_string(k) + ".dat";
      detail::write_file_atomically(o->out + "/" + file, dat.str());
      if (row["points"].size() > 1 || row["units"] == "pbit") {
        gp << sep << "'" << file << "' using 1:2 with linespoints lw 2 title " << detail::gnuplot_quote(name);
      } else {
        gp << sep << row["points"][0]["test_accuracy"].get<double>() << " with lines dt 2 lw 2 title " << detail::gnuplot_quote(name);
      }
      sep = ", ";
      const std::string style = row["points"].size() > 1 ? " with linespoints lw 2 title " : " with points ps 2 lw 2 title ";
      sram += (k ? ", '" : "'") + file + "' using 3:2" + style + detail::gnuplot_quote(name);
      dram += (k ? ", '" : "'") + file + "' using 4:2" + style + detail::gnuplot_quote(name);
    }
    gp << "\n";
    egp << sram << "\n" << dram << "\nunset multiplot\n";
    {  // (a folder reused for fewer results kept the last report's further series beside these)
      std::vector<int64_t> keep(rows.size());
      std::iota(keep.begin(), keep.end(), int64_t{0});
      remove_other_numbered(o->out, "series_", ".dat", keep);
      keep.resize(gens.size());
      std::iota(keep.begin(), keep.end(), int64_t{0});
      remove_other_numbered(o->out, "fid_", ".dat", keep);
    }
    if (!rows.empty()) {
      detail::write_file_atomically(o->out + "/curve.gp", gp.str());
      detail::write_file_atomically(o->out + "/energy.gp", egp.str());
      detail::draw_gnuplot(o->out, "curve");
      detail::draw_gnuplot(o->out, "energy");
    }
    if (!gens.empty()) {  // feature-FID of generated images against T
      std::ostringstream fg;
      fg << "# gnuplot fid.gp (data: fid_*.dat)\nset terminal pngcairo size 900,560\nset output 'fid.png'\n"
         << "set title " << detail::gnuplot_quote("p-DNN generator: feature-FID against samples per image" + (dataset.empty() ? "" : ", " + dataset)) << "\n"
         << "set xlabel 'samples T (mean of T decoder samples)'\nset ylabel 'feature-FID (lower is better)'\nset logscale x\n"
         << "set xrange [0.8:150]\nset grid\nset key top right\nplot ";
      for (size_t k = 0; k < gens.size(); ++k) {
        const auto& gr = gens[k];
        const std::string file = "fid_" + std::to_string(k) + ".dat";
        std::ostringstream d;
        d << "# samples feature_fid  (" << gr["role"].get<std::string>() << ", " << one_line(gr["file"].get<std::string>()) << ")\n";
        for (size_t q = 0; q < gr["samples"].size(); ++q) d << gr["samples"][q] << " " << gr["feature_fid"][q] << "\n";
        detail::write_file_atomically(o->out + "/" + file, d.str());
        if (gr["samples"].size() > 1) {
          fg << (k ? ", '" : "'") << file << "' using 1:2 with linespoints lw 2 title " << detail::gnuplot_quote(gr["role"].get<std::string>());
        } else {
          fg << (k ? ", " : "") << gr["feature_fid"][0].get<double>() << " with lines dt 2 lw 2 title " << detail::gnuplot_quote(gr["role"].get<std::string>());
        }
      }
      fg << ", " << gens[0]["floor"].get<double>() << " with lines dt 3 lc rgb 'black' title 'training images against test images'\n";
      detail::write_file_atomically(o->out + "/fid.gp", fg.str());
      detail::draw_gnuplot(o->out, "fid");
    }
    // A plot this report has no results for is an earlier report's, whose data were just removed.
    for (const auto& [none, plots] : {std::pair{rows.empty(), std::vector<std::string>{"curve", "energy"}},
                                      std::pair{gens.empty(), std::vector<std::string>{"fid"}}}) {
      if (!none) continue;
      for (const std::string& plot : plots) {
        for (const char* ext : {".gp", ".png"}) {
          std::error_code rm;
          const std::string f = o->out + "/" + plot + ext;
          if (std::filesystem::is_regular_file(f, rm) && std::filesystem::remove(f, rm) && !rm) std::cerr << "removed " << printable(f) << " (an earlier run's)\n";
        }
      }
    }
    // The paper's three claims, where the evaluations to judge them are present.
    // (Each by the first evaluation of its kind, labelled or not; the claim names the file.)
    struct Point {
      const nlohmann::json* row = nullptr;
      double accuracy = -1;
    };
    auto point_of = [&](const std::string& role, int32_t T) -> Point {
      for (const auto& row : rows) {
        if (row["kind"] != role) continue;
        for (const auto& p : row["points"])
          if (p["samples"] == T || (row["units"] != "pbit")) return {&row, p["test_accuracy"].get<double>()};
      }
      return {};
    };
    // "About as good" and "match" are read as at most half a percentage point under, "beat" as above,
    // each judged with the accuracies' sampling error (helper-129: fixed thresholds read noise on a
    // few images as a verdict): a claim holds where the difference less two standard errors clears
    // its threshold, does not hold where the difference plus two is under it, and is inconclusive
    // between. The standard error is of two independent binomial accuracies on n images each, which
    // overstates that of two networks on the same images (their errors are correlated), so the
    // margin is conservative. Evaluations on other images or of other network shapes are not compared.
    nlohmann::json claims = nlohmann::json::array();
    const Point fp = point_of("deterministic fp32", 1), q3 = point_of("deterministic 3-bit", 1);
    auto claim = [&](const std::string& text, const std::string& role, int32_t T, const std::string& base_name, const Point& base,
                     bool strictly_above) {
      const Point v = point_of(role, T);
      if (!v.row || !base.row) return;
      const double diff = v.accuracy - base.accuracy;
      const int64_t n = (*v.row)["test_images"].get<int64_t>(), n_base = (*base.row)["test_images"].get<int64_t>();
      std::string verdict, why;
      double se = 0;
      if (n != n_base) {
        verdict = "not comparable";
        why = "the p-DNN was evaluated on " + std::to_string(n) + " test images, the baseline on " + std::to_string(n_base);
      } else if ((*v.row)["sizes"] != (*base.row)["sizes"]) {
        verdict = "not comparable";
        why = "the networks differ in shape (" + (*v.row)["sizes"].dump() + " and " + (*base.row)["sizes"].dump() + ")";
      } else {
        se = std::sqrt((v.accuracy * (1 - v.accuracy) + base.accuracy * (1 - base.accuracy)) / static_cast<double>(n));
        const double threshold = strictly_above ? 0.0 : -0.005;
        const bool above = strictly_above ? diff - 2 * se > threshold : diff - 2 * se >= threshold;
        const bool under = strictly_above ? diff + 2 * se <= threshold : diff + 2 * se < threshold;
        verdict = above ? "holds" : under ? "does not hold" : "inconclusive";
      }
      nlohmann::json cl = {{"claim", text}, {"pdnn", role + ", T=" + std::to_string(T)}, {"pdnn_accuracy", v.accuracy},
                           {"pdnn_file", (*v.row)["file"]}, {"baseline", base_name}, {"baseline_accuracy", base.accuracy},
                           {"baseline_file", (*base.row)["file"]}, {"difference", diff}, {"test_images", n},
                           {"difference_standard_error", se}, {"verdict", verdict}, {"holds", verdict == "holds"}};
      if (!why.empty()) cl["why"] = why;
      claims.push_back(std::move(cl));
    };
    claim("one sample of a 1-bit p-DNN is about as good as the deterministic network", "sample-aware (s=1)", 1, "deterministic fp32", fp, false);
    claim("two samples beat the deterministic network", "sample-aware (s=1)", 2, "deterministic fp32", fp, true);
    claim("about ten samples match the 3-bit deterministic network", "sample-aware (s=1)", 10, "deterministic 3-bit", q3, false);
    for (int32_t s : {4, 8}) {  // the same claims for networks trained with more samples, where present
      const std::string role = "sample-aware (s=" + std::to_string(s) + ")";
      claim("one sample of a 1-bit p-DNN is about as good as the deterministic network", role, 1, "deterministic fp32", fp, false);
      claim("two samples beat the deterministic network", role, 2, "deterministic fp32", fp, true);
      claim("about ten samples match the 3-bit deterministic network", role, 10, "deterministic 3-bit", q3, false);
    }
    nlohmann::json summary = {{"report", "pdnn"}, {"dataset", dataset}, {"rows", rows}, {"generators", gens}, {"claims", claims},
                              {"platforms", o->platforms}, {"git_sha", build_git_sha()}};
    write_json_file(o->out + "/summary.json", summary);
    std::ostringstream md;
    md << "# p-DNN report" << (dataset.empty() ? "" : ": " + dataset) << "\n";
    if (!rows.empty()) md << "\n| network | T | test accuracy | J/inference (SRAM) | J/inference (DRAM) |\n|---|---:|---:|---:|---:|\n";
    char buf[512];
    for (const auto& row : rows)
      for (const auto& p : row["points"]) {
        std::snprintf(buf, sizeof buf, "| %s | %d | %.4f | %.3g | %.3g |\n", row["role"].get<std::string>().c_str(), p["samples"].get<int>(),
                      p["test_accuracy"].get<double>(), p["energy_j_per_inference_sram"].get<double>(),
                      p["energy_j_per_inference_dram"].get<double>());
        md << buf;
      }
    if (!gens.empty()) {
      md << "\n| generator | T | feature-FID | test reconstruction (nats) |\n|---|---:|---:|---:|\n";
      for (const auto& gr : gens)
        for (size_t q = 0; q < gr["samples"].size(); ++q) {
          std::snprintf(buf, sizeof buf, "| %s | %d | %.3f | %.2f |\n", gr["role"].get<std::string>().c_str(), gr["samples"][q].get<int>(),
                        gr["feature_fid"][q].get<double>(), gr["test_reconstruction_nats"][q].get<double>());
          md << buf;
        }
      std::snprintf(buf, sizeof buf, "\nFeature-FID of training images against test images (the floor): %.3f\n", gens[0]["floor"].get<double>());
      md << buf;
    }
    if (!claims.empty()) md << "\n## The paper's claims\n\n";
    for (const auto& cl : claims) {
      const bool compared = !cl.contains("why");
      std::snprintf(buf, sizeof buf, "- %s: %s %.2f%% against %s %.2f%% (%+.2f points", cl["claim"].get<std::string>().c_str(),
                    cl["pdnn"].get<std::string>().c_str(), 100 * cl["pdnn_accuracy"].get<double>(), cl["baseline"].get<std::string>().c_str(),
                    100 * cl["baseline_accuracy"].get<double>(), 100 * cl["difference"].get<double>());
      md << buf;
      if (compared) {
        std::snprintf(buf, sizeof buf, " +- %.2f, 2 standard errors on %lld test images): %s\n", 200 * cl["difference_standard_error"].get<double>(),
                      static_cast<long long>(cl["test_images"].get<int64_t>()), cl["verdict"].get<std::string>().c_str());
        md << buf;
      } else {
        md << "): not comparable, " << cl["why"].get<std::string>() << "\n";
      }
    }
    if (!claims.empty()) {
      md << "\n('About as good' and 'match': at most 0.5 points under; 'beat': above. A claim holds where the difference less 2 standard "
            "errors clears that, does not hold where the difference plus 2 is under it, and is inconclusive between; the standard error, "
            "of two independent accuracies on the same number of images, is conservative for two networks on the same images.)\n";
    }
    detail::write_file_atomically(o->out + "/summary.md", md.str());
    std::cout << md.str();
    return 0;
  });
  add_config_command(c, pd, "p-DNN", parse_pdnn_config);
}

}  // namespace pbit::cli
