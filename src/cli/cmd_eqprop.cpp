// pbit eqprop train|eval: equilibrium propagation on the sampler (docs/CLI.md, 'Models').
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "cli.hpp"
#include "pbit/build_info.hpp"
#include "pbit/core/io.hpp"
#include "pbit/models/eqprop.hpp"
#include "util/text.hpp"
#include "util/file_io.hpp"
#include "util/gnuplot.hpp"

namespace pbit::cli {

namespace {

nlohmann::json eval_json(const EqPropEval& e) {
  return {{"test_accuracy", e.accuracy}, {"test_images", e.images}, {"correct", e.correct}, {"confusion", e.confusion},
          {"wall_s", e.wall_s}, {"flips", e.flips}};
}

nlohmann::json history_json(const std::vector<EqPropEpoch>& h) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& e : h) {
    a.push_back({{"epoch", e.epoch}, {"updates", e.updates}, {"train_accuracy_free_phase", e.train_accuracy},
                 {"train_cost", e.train_cost}, {"test_accuracy", e.test_accuracy}, {"wall_s", e.wall_s}, {"flips", e.flips}});
  }
  return a;
}

/// accuracy.dat / accuracy.gp, and accuracy.png when gnuplot is installed.
void plot_accuracy(const std::string& dir, const std::vector<EqPropEpoch>& h, const std::string& title) {
  std::ostringstream dat;
  dat << "# epoch train_accuracy_free_phase test_accuracy\n";
  for (const auto& e : h) dat << e.epoch << " " << e.train_accuracy << " " << e.test_accuracy << "\n";
  detail::write_plot(dir, "accuracy", dat.str(),
                     "set title " + detail::gnuplot_quote(title) + "\nset xlabel 'epoch'\nset ylabel 'accuracy'\nset yrange [0:1]\nset grid\n"
                     "set key bottom right\nplot 'accuracy.dat' using 1:2 with linespoints title 'training images (free phase, during the epoch)', "
                     "'' using 1:3 with linespoints title 'test images'\n");
}

}  // namespace

void add_eqprop_commands(Commands& c) {
  struct Opt {
    std::string config, out, model;
    int32_t epochs = 0;
    double time_budget = -1;
    int64_t test_images = -1;
    uint64_t seed = 0;
    bool seed_given = false;
    int32_t chains = 0;
    bool resume = false, overwrite = false, check = false;
    std::string train_backend;
    int threads = -1;
  };
  auto o = std::make_shared<Opt>();
  CLI::App* eq = c.app->add_subcommand("eqprop", "Equilibrium propagation on the p-bit sampler (Laydevant et al. 2024): train, eval, config");
  eq->require_subcommand(1);
  CLI::App* t = eq->add_subcommand(
      "train", "Trains a layered Ising network, or one on a hardware graph, with equilibrium propagation: a free phase, a nudged phase from its state, and "
               "the local update from the difference of their statistics; writes the model, per-epoch metrics, results and "
               "an accuracy plot to the output folder");
  t->add_option("--config", o->config, "EqProp config (configs/eqprop_*.json)")->required();
  t->add_option("--out", o->out, "replaces the config's run.output_dir");
  t->add_option("--epochs", o->epochs, "replaces train.epochs")->check(number_in<int32_t>(1, 100000));
  t->add_option("--time-budget", o->time_budget, "stop training once S seconds of it have passed (over resumes), with a checkpoint: --resume with a larger budget goes on bit for bit; 0 = no budget (also train.time_budget_s)")
      ->check(number_in<double>(0, 1e9));
  add_seed_option(t, o->seed, o->seed_given, "weights, data order and every sampler");
  auto* resume = t->add_flag("--resume", o->resume,
                             "continue a killed run from output_dir/checkpoint.bin, bit for bit (starts afresh when there is none yet)");
  t->add_flag("--overwrite", o->overwrite, "start afresh even if output_dir holds an earlier run's checkpoint")->excludes(resume);
  add_backend_options(t, o->train_backend, o->threads, " (the sampler's backends give the same chains bit for bit)");
  add_check_option(t, o->check);
  t->footer("Config keys (data, network, free, nudge, train, eval, hardware, run): docs/CLI.md, 'EqProp configs'.");
  c.add(t, [o] {
    EqPropConfig cfg = parse_eqprop_config(read_json_file(o->config));
    // results.json records the config that ran, overrides included.
    override_run_options(cfg, *o, o->train_backend);
    if (o->epochs > 0) detail::override_key(cfg.epochs, o->epochs, cfg.source, {"train", "epochs"});
    // Without an anneal the free phase runs at beta_end, but a reverse nudge still re-heats towards
    // beta_start (helper-131: a user who set only anneal_sweeps 0 for the Boltzmann reading got an
    // annealed nudge unsaid).
    if (cfg.free.anneal_sweeps == 0 && cfg.nudge.schedule == "reverse" && cfg.nudge.sweeps > 1 && cfg.free.beta_start != cfg.free.beta_end) {
      const std::vector<float> b = detail::eqprop_nudge_betas(cfg);
      std::cerr << "note: free.anneal_sweeps 0 runs the free phase at beta_end " << cfg.free.beta_end << ", but the reverse nudge still re-heats to "
                << *std::min_element(b.begin(), b.end()) << " (towards free.beta_start " << cfg.free.beta_start
                << "); for a nudge at beta_end set free.beta_start to beta_end, or nudge.schedule to continue\n";
    }
    const auto lock = prepare_output(cfg.output_dir, o->check, o->resume, "", false);
    if (lock) {
      for (const char* f : {"/model.bin", "/metrics.json", "/results.json"}) check_writable(cfg.output_dir + f);
    }
    const ImageDataset train = load_dataset(cfg.dataset, "train", cfg.data_dir);
    const ImageDataset test = load_dataset(cfg.dataset, "test", cfg.data_dir);
    const std::vector<int64_t> ti = eqprop_select(train, cfg.train_images, cfg.balanced, cfg.classes);
    const std::vector<int64_t> si = eqprop_select(test, cfg.test_images, cfg.balanced, cfg.classes);
    EqPropNet net = eqprop_create(cfg, train.pixels_per_image());
    EqPropTrainer trainer(net, cfg, train, ti, test, si);
    const std::string ckpt = cfg.output_dir + "/checkpoint.bin";
    const std::vector<std::string> stale =
        files_in(cfg.output_dir, {"results.json", "metrics.json", "model.bin", "accuracy.dat", "accuracy.gp", "accuracy.png", "gnuplot.log"});
    if (o->check) return check_trainer(trainer, ckpt, o->resume, o->overwrite, stale, cfg);
    if (resume_or_start(ckpt, o->resume, o->overwrite, stale)) {
      load_run_checkpoint([&] { trainer.load_checkpoint(ckpt); }, cfg);
      std::cerr << resuming_note(trainer, cfg.epochs) << "\n";
    }
    std::cerr << "EqProp " << net.inputs << "-" << net.hidden << "-" << net.outputs()
              << (net.on_graph() ? " on " + net.topology + " (" + std::to_string(net.structure.num_edges()) + " couplings)" : "")
              << " (" << cfg.per_class
              << " output spins per class) on " << ti.size() << " training images, " << si.size() << " test images, "
              << cfg.batch_size << " images x " << cfg.chains_per_image << " chains per batch, nudge "
              << (cfg.nudge.symmetric ? "+-" : "") << cfg.nudge.beta << " (" << cfg.nudge.schedule << ")\n";
    const std::string title = "EqProp " + std::to_string(net.inputs) + "-" + std::to_string(net.hidden) + "-" +
                              std::to_string(net.outputs()) + ", " + std::to_string(ti.size()) + " training images";
    trainer.run([&](const EqPropEpoch&) {
      net.save(cfg.output_dir + "/model.bin");
      write_json_file(cfg.output_dir + "/metrics.json", detail::with_config(cfg, {{"epochs", history_json(trainer.history())}}));
    });
    if (trainer.out_of_time()) {
      std::cerr << "time budget of " << cfg.time_budget_s << " s reached after " << trainer.train_seconds()
                << " s of training (epoch " << trainer.epoch() + 1 << ", batch " << trainer.batch_in_epoch()
                << " done): evaluating the model as it is; --resume with a larger --time-budget goes on\n";
    }
    const EqPropEval ev = eqprop_evaluate(net, test, si, cfg);
    const double wall = trainer.train_seconds();
    net.save(cfg.output_dir + "/model.bin");
    write_json_file(cfg.output_dir + "/metrics.json", detail::with_config(cfg, {{"epochs", history_json(trainer.history())}}));
    nlohmann::json out = {{"model", "eqprop"},
                          {"network", net.on_graph() ? nlohmann::json{{"inputs", net.inputs}, {"topology", net.topology}, {"outputs", net.outputs()},
                                                                      {"per_class", net.per_class}, {"spins", net.spins()}}
                                                    : nlohmann::json{{"inputs", net.inputs}, {"hidden", net.hidden}, {"outputs", net.outputs()},
                                                                      {"per_class", net.per_class}}},
                          {"train_images", ti.size()},
                          {"epochs_trained", trainer.history().size()},
                          {"stopped_by_time_budget", trainer.out_of_time()},
                          {"train_wall_s", wall},
                          {"train_flips", trainer.train_flips()},
                          {"updates", trainer.updates()},
                          {"eval", eval_json(ev)},
                          {"history", history_json(trainer.history())},
                          {"backend", to_string(backend_from_string(cfg.backend))},
                          {"device", backend_device_name(backend_from_string(cfg.backend), cfg.threads)},
                          {"git_sha", build_git_sha()}};
    write_json_file(cfg.output_dir + "/results.json", detail::with_config(cfg, std::move(out)));
    plot_accuracy(cfg.output_dir, trainer.history(), title);
    std::printf("EqProp: test accuracy %.4f on %lld images after %zu epochs (%.1f s of training) -> %s\n", ev.accuracy,
                static_cast<long long>(ev.images), trainer.history().size(), wall, printable(cfg.output_dir).c_str());
    return 0;
  });

  CLI::App* e = eq->add_subcommand("eval", "Classifies test images with a trained EqProp model (free phase, population read-out)");
  e->add_option("--model", o->model, "model.bin written by 'pbit eqprop train'")->required();
  e->add_option("--config", o->config, "the config to evaluate with: its data, free, eval, hardware and run sections and train.field_clip (model.bin records the free phase and field clip it was trained with, and a note names any that differ)")->required();
  e->add_option("--test-images", o->test_images, "test images to classify (0 = all; default: the config's data.test_images)")
      ->check(number_in<int64_t>(0, 1 << 24));
  e->add_option("--chains", o->chains, "chains (annealed reads) per image, averaged in the read-out (replaces eval.chains_per_image)")
      ->check(number_in<int32_t>(1, 65536));
  e->add_option("--out", o->out, "write the results JSON here");
  c.add(e, [o] {
    refuse_output_over_input("--out", o->out, {{"--model", o->model}, {"--config", o->config}});
    EqPropConfig cfg = parse_eqprop_config(read_json_file(o->config));
    if (o->chains > 0) cfg.eval_chains_per_image = o->chains;
    if (!o->out.empty()) check_writable(o->out);
    const EqPropNet net = EqPropNet::load(o->model);
    {  // The config's network section is the training's: eval runs the model's network, and says so where they differ.
      std::vector<std::string> differ;
      if (net.topology != cfg.topology) {
        differ.push_back("network.topology '" + cfg.topology + "', the model's '" + net.topology + "'");
      } else if (!net.on_graph() && net.hidden != cfg.hidden) {
        differ.push_back("network.hidden " + std::to_string(cfg.hidden) + ", the model's " + std::to_string(net.hidden));
      }
      if (net.per_class != cfg.per_class) differ.push_back("network.per_class " + std::to_string(cfg.per_class) + ", the model's " + std::to_string(net.per_class));
      if (!differ.empty()) std::cerr << "note: the config's network is not the model's (" << detail::join_at_most(differ, 3) << "): evaluating the model's\n";
    }
    // The free phase and field clip are the config's, which may not be the training's (helper-131:
    // another free.beta_end and field_clip changed the accuracy with no word); a model trained since
    // 2026-12-07 records its own.
    const std::vector<std::string> unlike_training = eqprop_eval_differences(net, cfg);
    if (!unlike_training.empty()) {
      std::cerr << "note: the config reads the model out otherwise than it was trained (" << detail::join_at_most(unlike_training, 3)
                << "): evaluating with the config's\n";
    }
    const ImageDataset test = load_dataset(cfg.dataset, "test", cfg.data_dir);
    if (net.inputs != test.pixels_per_image()) {
      throw InvalidArgument("model '" + o->model + "' takes " + std::to_string(net.inputs) + " inputs; the " + cfg.dataset +
                            " images have " + std::to_string(test.pixels_per_image()) + " pixels");
    }
    check_test_images_option(o->test_images, test.size(), cfg.dataset);
    const int64_t n = o->test_images >= 0 ? o->test_images : cfg.test_images;
    const std::vector<int64_t> si = eqprop_select(test, n, n > 0 && cfg.balanced, net.classes);
    // As the config's own check, of the images that run at once.
    if (const int64_t at_once = std::min<int64_t>(cfg.eval_batch_images, static_cast<int64_t>(si.size()));
        o->chains > 0 && at_once * cfg.eval_chains_per_image > (1 << 24)) {
      throw InvalidArgument("--chains " + std::to_string(o->chains) + " x " + std::to_string(at_once) +
                            " images at once is more than 2^24 chains: lower eval.batch_images or --test-images");
    }
    const EqPropEval ev = eqprop_evaluate(net, test, si, cfg, "eqprop eval");
    nlohmann::json out = {{"model", o->model}, {"eval", eval_json(ev)}, {"balanced_selection", n > 0 && n < test.size() && cfg.balanced},  // (the whole set is taken as it is)
                          {"chains_per_image", cfg.eval_chains_per_image}, {"seed", cfg.seed},
                          {"backend", to_string(backend_from_string(cfg.backend))}, {"git_sha", build_git_sha()}};
    // The config it ran with, the device and the free phase it read out with among it: two evaluations
    // of one model on other hardware wrote the same keys (helper-124).
    out["hardware"] = cfg.hardware.config_json();
    // What model.bin records of its training (null: a model from before 2026-12-07), and where this
    // evaluation's free phase or field clip is not that.
    out["trained_with"] = net.trained_with.empty() ? nlohmann::json(nullptr) : nlohmann::json::parse(net.trained_with);
    out["differs_from_training"] = unlike_training;
    out = detail::with_config(cfg, std::move(out));
    if (!o->out.empty()) write_json_file(o->out, out);
    std::printf("EqProp: test accuracy %.4f on %lld images (%.1f s)\n", ev.accuracy, static_cast<long long>(ev.images), ev.wall_s);
    return 0;
  });
  // A graph network places its roles on the graph, which may be too small; a layered one has nothing
  // more to check, and building it would fill its weights and weigh them against this machine's memory.
  add_config_command(c, eq, "EqProp", parse_eqprop_config, [](const EqPropConfig& g) {
    if (!g.topology.empty()) (void)eqprop_create(g, detail::kImageSide * detail::kImageSide);
  });
}

}  // namespace pbit::cli
