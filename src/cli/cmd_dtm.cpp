// pbit dtm train, mixing: Denoising Thermodynamic Models and monolithic EBMs (docs/CLI.md, 'Model and suite configs').
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>

#include "cli.hpp"
#include "pbit/dist/comm.hpp"
#include "pbit/build_info.hpp"
#include "pbit/core/config.hpp"
#include "pbit/core/io.hpp"
#include "pbit/models/metrics.hpp"
#include "pbit/models/dtm_model.hpp"
#include "pbit/models/feature_net.hpp"
#include "pbit/util/png.hpp"
#include "util/gnuplot.hpp"
#include "util/progress.hpp"

namespace pbit::cli {


/// Integrated autocorrelation time in units of the lag step: 1 + 2 sum r_k over the initial positive
/// window (up to the first r_k <= 0); `complete` is false when r never fell to 0 within the curve,
/// `within_one_lag` true when r_1 <= 0 already.
double integrated_time(const std::vector<double>& r, bool& complete, bool& within_one_lag) {
  double tau = 1;
  complete = false;
  within_one_lag = false;
  for (size_t k = 1; k < r.size(); ++k) {
    if (r[k] <= 0) {
      complete = true;
      within_one_lag = k == 1;  // decorrelated before the first lag: 1 lag is an upper bound
      break;
    }
    tau += 2 * r[k];
  }
  return tau;
}

/// How the integrated time bounds the true one: "estimate", "lower" (r never reached 0 within the
/// horizon) or "upper" (r was <= 0 at the first lag: the chains decorrelate within one stride K, and
/// the figure, K, is the time's scale from above rather than a strict bound: a positive r that
/// reaches 0 between two snapshots can sum to as much as 2K - 1).
const char* integrated_time_bound(bool complete, bool within_one_lag) { return !complete ? "lower" : within_one_lag ? "upper" : "estimate"; }

/// DIR/autocorrelation.dat / .gp / .png of `pbit dtm mixing --plot DIR`: r against lag in
/// replica-sweeps (equal flips for both samplers), one curve per sampler, its integrated time in the key.
void plot_mixing(const std::string& dir, const nlohmann::json& out, bool tempered) {
  const nlohmann::json& plain = out["plain"]["curve"];
  std::ostringstream dat;
  dat << "# lag_replica_sweeps r_plain" << (tempered ? " r_tempering" : "") << "\n";
  for (size_t k = 0; k < plain.size(); ++k) {
    dat << plain[k]["lag_replica_sweeps"].get<int64_t>() << " " << plain[k]["r"].get<double>();
    if (tempered) dat << " " << out["tempering"]["curve"][k]["r"].get<double>();
    dat << "\n";
  }
  auto key = [&](const char* name, const char* which) {
    const nlohmann::json& d = out[which];
    char tau[32];
    std::snprintf(tau, sizeof tau, "%.3g", d["integrated_time_replica_sweeps"].get<double>());
    const std::string bound = d["integrated_time_bound"].get<std::string>();
    return detail::gnuplot_quote(std::string(name) + ": integrated time " + (bound == "lower" ? ">= " : bound == "upper" ? "about <= " : "") + tau +
                                 " replica-sweeps");
  };
  std::string plot = "plot 'autocorrelation.dat' using 1:2 with linespoints lw 2 pt 7 ps 0.6 title " + key("plain Gibbs", "plain");
  if (tempered) {
    plot += ", '' using 1:3 with linespoints lw 2 pt 5 ps 0.6 title " +
            key(("parallel tempering, " + std::to_string(out["tempering"]["replicas"].get<int64_t>()) + " replicas").c_str(), "tempering");
  }
  detail::write_plot(dir, "autocorrelation", dat.str(),
                     "set title " + detail::gnuplot_quote("DTM step " + std::to_string(out["step"].get<int>()) + " of " +
                                                         std::to_string(out["steps"].get<int>()) + ", beta " +
                                                         detail::gnuplot_number(out["beta"].get<double>()) + ": autocorrelation of the projected state") +
                         " noenhanced\nset xlabel 'lag (replica-sweeps: equal flips)'\nset ylabel 'r'\nset grid\nset key top right noenhanced\n"
                         "set xzeroaxis lt -1\n" + plot + "\n");
}

void add_dtm_mixing(CLI::App* dtm, Commands& c) {
  struct Opt {
    std::string config, run, out, tempering, backend, plot;
    int step = 0, threads = -1;
    int64_t sweeps = 2000, stride = 0, warmup = -1;
  };
  auto o = std::make_shared<Opt>();
  CLI::App* s = dtm->add_subcommand(
      "mixing", "Measures how fast a trained DTM step (or MEBM) mixes: the autocorrelation of ACP's projection against lag, plain "
                "Gibbs against parallel tempering at equal flips (every replica's sweeps count), with the integrated and "
                "exponential mixing times; JSON out, and with --plot the curves as a PNG");
  s->add_option("--config", o->config, "the DTM config the model was trained with, or a run's metrics.json or results.json "
                                       "(the config it recorded); default: --run's metrics.json");
  s->add_option("--run", o->run, "the training run's output directory (checkpoint.bin or model_checkpoint.bin); default run.output_dir");
  s->add_option("--out", o->out, "JSON file to write")->required();
  s->add_option("--plot", o->plot, "also draw DIR/autocorrelation.png (with its .dat and .gp): r against lag, plain Gibbs and tempering");
  s->add_option("--step", o->step, "step t to measure (default T, the step that starts from noise; an MEBM's only one)")
      ->check(number_in<int>(1, 1000));
  s->add_option("--sweeps", o->sweeps, "horizon in replica-sweeps (plain: sweeps; tempering: sweeps x replicas)")
      ->capture_default_str()
      ->check(number_in<int64_t>(2, 100000000));
  s->add_option("--stride", o->stride, "replica-sweeps between snapshots, a multiple of the replicas (default: the smallest such "
                                       ">= sweeps / 200)")
      ->check(number_in<int64_t>(1, 100000000));
  s->add_option("--warmup", o->warmup, "replica-sweeps before the first snapshot (default: the horizon)")->check(number_in<int64_t>(0, 1000000000));
  s->add_option("--tempering", o->tempering, "a tempering section as JSON text (default: the config's generate.tempering; "
                                             "without either only plain Gibbs is measured); its target defaults to generate.beta_end");
  add_backend_options(s, o->backend, o->threads, " (the curves are the same on every backend)");
  s->footer("Plain Gibbs runs at the ladder's target beta (1 without tempering). docs/CLI.md, 'Model and suite configs'.");
  c.add(s, [o] {
    refuse_output_over_input("--out", o->out, {{"--config", o->config}, {"--run's metrics.json", o->run.empty() ? "" : o->run + "/metrics.json"}});
    if (o->config.empty() && o->run.empty()) throw InvalidArgument("'pbit dtm mixing' needs --config FILE or --run DIR (or both)");
    // Without --config, the config the run recorded: the one that ran, with any --seed, --steps,
    // --acp or --time-budget it was given (the checkpoint refuses any other training config).
    const std::string recorded = o->run + "/metrics.json";
    std::error_code ec;
    if (o->config.empty() && !std::filesystem::exists(recorded, ec)) {  // (a name too long for the system: not there either)
      throw InvalidArgument("dtm mixing: no " + recorded + " to read the run's config from (a lease folder holds only its "
                            "checkpoint: pass --config the metrics.json in the lease run's --out directory)");
    }
    // A run's metrics.json or results.json as --config: the config it recorded (a DTM config has no
    // 'config' key), so that a lease run trained with --steps or --acp needs no hand-made file.
    const std::string config_file = o->config.empty() ? recorded : o->config;
    nlohmann::json source = read_json_file(config_file);
    const bool run_record = o->config.empty() || (source.is_object() && source.contains("config"));
    if (run_record) {
      source = source.is_object() ? source.value("config", nlohmann::json()) : nlohmann::json();
      if (!source.is_object()) throw InvalidArgument("dtm mixing: " + config_file + " records no config; pass --config");
    }
    DtmConfig cfg;
    try {
      cfg = parse_dtm_config(source);
    } catch (const InvalidConfig& e) {
      if (!run_record) throw;
      // The run record of another model (a DBM's metrics.json has an 'eval' section): say whose config it was.
      throw InvalidConfig(config_file + " records a config that is not a DTM's (" + e.reason() + ")" +
                          (o->config.empty() ? "; --run takes the output folder of 'pbit dtm train'" : ""));
    }
    // Not part of the training config the checkpoint checks; the JSON's config is the one that ran.
    if (!o->backend.empty()) detail::override_key(cfg.backend, o->backend, cfg.source, {"run", "backend"});
    if (o->threads >= 0) detail::override_key(cfg.threads, o->threads, cfg.source, {"run", "threads"});
    const std::string dir = o->run.empty() ? cfg.output_dir : o->run;
    refuse_output_over_input("--out", o->out, {{"the run's checkpoint.bin", dir + "/checkpoint.bin"}, {"the run's model_checkpoint.bin", dir + "/model_checkpoint.bin"}});
    check_writable(o->out);  // before the measurement, not after it
    std::optional<MadeFolder> plot_folder;  // (removed again if the command fails while it is empty)
    if (!o->plot.empty()) {
      refuse_output_over_input("--plot", o->plot + "/autocorrelation.dat", {{"--out", o->out}});
      plot_folder.emplace(o->plot);
      check_writable(o->plot + "/autocorrelation.dat");
    }
    const ImageDataset train = pool_images(load_dataset(cfg.dataset, "train", cfg.data_dir, cfg.train_limit), cfg.pool);
    Dtm model(cfg, train.rows, train.cols);
    const bool whole = std::filesystem::exists(dir + "/checkpoint.bin", ec);
    if (!whole && !std::filesystem::exists(dir + "/model_checkpoint.bin", ec)) {
      throw InvalidArgument("dtm mixing: no checkpoint.bin or model_checkpoint.bin in '" + dir + "' (train the model first)");
    }
    try {
      if (whole) {
        model.load_checkpoint(dir + "/checkpoint.bin");
      } else {
        model.load_model_checkpoint(dir + "/model_checkpoint.bin");
      }
    } catch (const ConfigMismatch& e) {
      // The checkpoint's refusal of another training config speaks of resuming; here the remedy is
      // the config the run recorded. (Other errors, a corrupt checkpoint, are its own.)
      if (run_record) throw;
      throw InvalidArgument(e.reason() + "\ndtm mixing: give --config the training config as the run recorded it (with its --seed, --steps, "
                            "--acp, --time-budget): the run's metrics.json, or leave --config out to read it from --run's");
    }
    bool tempered = cfg.gen_tempered;
    TemperingOptions ladder = cfg.gen_tempering;
    if (!o->tempering.empty()) {
      const nlohmann::json t = parse_json_text(o->tempering, "--tempering");
      ladder = parse_tempering(t, "--tempering", cfg.gen_beta_end);  // the target defaults as generate.tempering's does
      tempered = true;
    }
    const int64_t R = tempered ? static_cast<int64_t>(ladder.betas.size()) : 1;
    const int32_t step = o->step ? o->step : model.steps();
    if (step > model.steps()) throw InvalidArgument("--step: the model has " + std::to_string(model.steps()) + " steps");
    int64_t stride = o->stride;
    if (stride == 0) stride = R * std::max<int64_t>(1, (o->sweeps / 200 + R - 1) / R);
    if (stride % R) throw InvalidArgument("--stride must be a multiple of the replicas (" + std::to_string(R) + ") for equal flips");
    if (o->sweeps < 2 * stride) throw InvalidArgument("--sweeps must be at least two strides (" + std::to_string(2 * stride) + ")");
    const int64_t warmup = o->warmup >= 0 ? o->warmup : o->sweeps;
    const auto times = static_cast<int32_t>(o->sweeps / stride + 1);
    const float beta = tempered ? ladder.betas[0] : 1.0f;
    const double nodes = model.graph().num_nodes();
    auto describe = [&](const std::vector<double>& r, int64_t replicas, const char* what) {
      bool complete = false, within_one_lag = false;
      const double tau = integrated_time(r, complete, within_one_lag) * static_cast<double>(stride);
      const std::string bound = integrated_time_bound(complete, within_one_lag);
      const double fit = metrics::mixing_time(r) * static_cast<double>(stride);
      nlohmann::json curve = nlohmann::json::array();
      for (size_t k = 0; k < r.size(); ++k) curve.push_back({{"lag_replica_sweeps", static_cast<int64_t>(k) * stride}, {"r", r[k]}});
      // (--stride R, one sweep of each replica, is the smallest there is: no smaller one to suggest)
      std::fprintf(stderr, "%s: integrated autocorrelation time %s%.1f replica-sweeps (%.3g flips per chain), exponential fit %.1f%s\n", what,
                   bound == "lower" ? ">= " : bound == "upper" ? "about <= " : "", tau, tau * nodes, fit,
                   bound != "upper"  ? ""
                   : stride > R      ? " (decorrelated within one stride: a smaller --stride resolves it)"
                                     : " (decorrelated within one stride, the smallest there is)");
      return nlohmann::json{{"replicas", replicas}, {"integrated_time_replica_sweeps", tau}, {"integrated_time_complete", complete},
                            {"integrated_time_bound", bound},
                            {"integrated_time_flips_per_chain", tau * nodes},
                            {"exponential_time_replica_sweeps", std::isfinite(fit) ? nlohmann::json(fit) : nlohmann::json(nullptr)},
                            {"curve", curve}};
    };
    auto mono = [] { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); };
    const double t0 = mono();
    std::fprintf(stderr, "step %d of %d: %d snapshots every %lld replica-sweeps after %lld warm-up, beta %.3g\n", step, model.steps(), times,
                 static_cast<long long>(stride), static_cast<long long>(warmup), beta);
    nlohmann::json out = {{"step", step},        {"steps", model.steps()}, {"beta", beta},
                          {"horizon_replica_sweeps", o->sweeps}, {"stride_replica_sweeps", stride}, {"warmup_replica_sweeps", warmup},
                          {"nodes", model.graph().num_nodes()}, {"epochs_trained", model.epoch()}};
    // A status line for the warm-up, then one for the measured window, each once it has run for a
    // second (a long horizon runs for minutes; a short one says nothing more).
    auto bars = [](const std::string& what, bool warm_up) {
      struct State {
        std::unique_ptr<detail::Progress> bar;
        int64_t total = -1, done = -1;
        double t0 = 0;
        bool warm_up;
      };
      auto st = std::make_shared<State>();
      st->warm_up = warm_up;
      return [st, what](int64_t done, int64_t total) {
        if (total != st->total || done < st->done || st->done == st->total) {  // the sampler's next call
          if (st->total >= 0) st->warm_up = false;
          st->bar.reset();
          st->total = total;
          st->t0 = detail::monotonic_s();
        }
        st->done = done;
        if (!st->bar && detail::monotonic_s() - st->t0 >= 1.0) {
          st->bar = std::make_unique<detail::Progress>(what + (st->warm_up ? ": warm-up" : ": measured window"), total);
        }
        if (st->bar) st->bar->update(done);
      };
    };
    out["plain"] = describe(model.autocorrelation_curve(step, train, warmup, stride, times, times - 1, beta, nullptr, nullptr,
                                                        bars("plain Gibbs", warmup > 0)),
                            1, "plain Gibbs");
    out["plain"]["wall_s"] = mono() - t0;
    if (tempered) {
      // An adaptive ladder still moving after the warm-up measures chains of a changing distribution:
      // how many of the measured window's sweeps (warm-up / R sweeps, then (times - 1) stride / R + 1),
      // in replica-sweeps as every other count here.
      const int64_t window = (times - 1) * (stride / R) + 1;
      const int64_t adapting = R * std::clamp<int64_t>(TemperedSampler::adaptation_sweeps(ladder) - warmup / R, 0, window);
      if (adapting > 0) {
        std::fprintf(stderr, "warning: the ladder adapts during %lld of the %lld measured replica-sweeps (adapt_rounds %lld): the curve "
                     "mixes a moving ladder's chains; give --warmup at least %lld replica-sweeps\n", static_cast<long long>(adapting),
                     static_cast<long long>(window * R), static_cast<long long>(ladder.adapt_rounds),
                     static_cast<long long>(TemperedSampler::adaptation_sweeps(ladder) * R));
      }
      const double t1 = mono();
      TemperingStats st;
      out["tempering"] = describe(model.autocorrelation_curve(step, train, warmup / R, stride / R, times, times - 1, beta, &ladder, &st,
                                                              bars("parallel tempering", warmup / R > 0)),
                                  R,
                                  "parallel tempering");
      out["tempering"]["wall_s"] = mono() - t1;
      out["tempering"]["betas"] = st.betas;  // tuned, if the ladder adapts
      out["tempering"]["sweeps_per_round"] = ladder.sweeps_per_round;
      out["tempering"]["scheme"] = ladder.scheme;
      out["tempering"].update(swap_statistics_json(st.attempts, st.accepts));  // (a pair never attempted: null)
      out["tempering"]["round_trips"] = st.round_trips;
      out["tempering"]["replica_sweeps_while_adapting"] = adapting;
    }
    out["backend"] = to_string(backend_from_string(cfg.backend));
    out["device"] = backend_device_name(backend_from_string(cfg.backend), cfg.threads);
    out["git_sha"] = build_git_sha();
    out = detail::with_config(cfg, std::move(out));
    write_json_file(o->out, out);
    std::fprintf(stderr, "-> %s\n", printable(o->out).c_str());
    if (!o->plot.empty()) plot_mixing(o->plot, out, tempered);
    return 0;
  });
}

void add_dtm_commands(Commands& c) {
  struct Opt {
    std::string config, out, lease, acp, backend;
    int steps = 0, stop_after = 0, threads = -1;
    int64_t gen_sweeps = 0;
    double time_budget = -1, lease_seconds = 0;
    uint64_t seed = 0;
    bool seed_given = false;
    bool resume = false, overwrite = false, check = false;
  };
  auto o = std::make_shared<Opt>();
  CLI::App* dtm = c.app->add_subcommand("dtm", "Denoising Thermodynamic Models (Extropic 2025) and monolithic EBMs: train, mixing, config");
  dtm->require_subcommand(1);
  CLI::App* s = dtm->add_subcommand(
      "train", "Trains a DTM (T = 1: a monolithic EBM) on binarized images, then generates samples and reports feature-FID "
               "against the test set (and the real-data floor), nearest-neighbour Hamming distances, and PNG grids of samples "
               "and of the denoising trajectory");
  s->add_option("--config", o->config, "DTM config (configs/dtm_*.json, configs/mebm_*.json)")->required();
  s->add_option("--steps", o->steps, "replaces model.steps (T)")->check(number_in<int>(1, 1000));
  s->add_option("--acp", o->acp, "adaptive correlation penalty on or off (replaces train.acp.enabled)")->check(CLI::IsMember({"on", "off"}));
  s->add_option("--out", o->out, "replaces the config's run.output_dir");
  s->add_option("--time-budget", o->time_budget, "start no epoch that would end past S seconds, 0 = no budget (also train.time_budget_s)")
      ->check(number_in<double>(0, 1e9));
  s->add_option("--gen-sweeps", o->gen_sweeps, "replaces generate.sweeps; with --resume on a finished run it only generates again")
      ->check(number_in<int64_t>(1, 1000000000));
  add_seed_option(s, o->seed, o->seed_given, "weights, forward noise, data order and every sampler");
  auto* resume = s->add_flag("--resume", o->resume,
                             "continue a killed run from output_dir/checkpoint.bin, bit for bit (starts afresh when there is none yet)");
  auto* overwrite = s->add_flag("--overwrite", o->overwrite, "start afresh even if output_dir holds an earlier run's checkpoint");
  overwrite->excludes(resume);
  s->add_option("--stop-after", o->stop_after,
                "train at most N epochs in this call, then sample and report as usual; --resume continues the run bit for bit "
                "(a run in pieces, e.g. under a job time limit)")
      ->check(number_in<int>(1, 1000000));
  auto* lease = s->add_option("--lease", o->lease,
                              "continue from DIR/model_checkpoint.bin if there is one (model-only, small enough to commit), "
                              "rewritten with DIR/leases.json after every epoch (docs/CLI.md, 'Leases')");
  lease->excludes(resume);
  lease->excludes(overwrite);
  s->add_option("--lease-seconds", o->lease_seconds, "start no epoch that would end past S seconds")
      ->check(number_in<double>(0.001, 1e9))
      ->needs(lease);
  add_continue_options(s, o->backend, o->threads, o->check);
  s->footer("Config keys (dataset, model, train, generate, run): docs/CLI.md, 'Model and suite configs'.");
  c.add(s, [o] {
    DtmConfig cfg = parse_dtm_config(read_json_file(o->config));
    // results.json records the config that ran, overrides included.
    override_run_options(cfg, *o, o->backend);
    if (o->gen_sweeps > 0) detail::override_key(cfg.gen_sweeps, o->gen_sweeps, cfg.source, {"generate", "sweeps"});
    if (o->steps > 0) detail::override_key(cfg.steps, o->steps, cfg.source, {"model", "steps"});
    if (!o->acp.empty()) detail::override_key(cfg.acp, o->acp == "on", cfg.source, {"train", "acp", "enabled"});
    check_acp(cfg);
    // Under MPI ranks (docs/SCALING.md) every rank trains its share of each batch's chains on the same
    // model and rank 0 writes; the ranks must have been given the same run.
    check_ranks_agree({o->config}, o->out + "|" + std::to_string(o->time_budget) + "|" + std::to_string(o->gen_sweeps) + "|" +
                                       std::to_string(o->steps) + "|" + o->acp + "|" + std::to_string(o->resume) + "|" +
                                       std::to_string(o->overwrite) + "|" + o->lease + "|" + std::to_string(o->lease_seconds) + "|" +
                                       std::to_string(o->stop_after) + "|" + o->backend + "|" + std::to_string(o->check) + "|" +
                                       (o->seed_given ? std::to_string(o->seed) : std::string("-")),
                      "the DTM config and the options of dtm train");
    const bool writer = dist::rank() == 0;
    const auto lock = prepare_output(cfg.output_dir, o->check, o->resume, o->lease);
    const ImageDataset train = pool_images(load_dataset(cfg.dataset, "train", cfg.data_dir, cfg.train_limit), cfg.pool);
    // Before the feature network trains (minutes), not after it: an update needs one batch (helper-125).
    if (train.size() < cfg.batch_size) {
      detail::config_error("train.batch_size", std::to_string(cfg.batch_size) + " is more than the " + std::to_string(train.size()) +
                                                   " training images" + (cfg.train_limit > 0 ? " (dataset.train_limit " + std::to_string(cfg.train_limit) + ")" : ""));
    }
    const ImageDataset test = pool_images(load_dataset(cfg.dataset, "test", cfg.data_dir), cfg.pool);
    check_ranks_read_same(train, "the training images");
    check_ranks_read_same(test, "the test images");
    Dtm model(cfg, train.rows, train.cols);
    check_ranks_see_same({model.checkpoint_path(), o->lease.empty() ? std::string() : o->lease + "/model_checkpoint.bin"});
    const std::vector<std::string> stale =
        files_in(cfg.output_dir, {"results.json", "metrics.json", "generated.png", "trajectory.png", "fid.dat", "fid.gp", "fid.png", "gnuplot.log"});
    if (o->check) {  // what --resume or --lease would continue from, read as they read it; nothing written
      const std::string ckpt = o->lease.empty() ? model.checkpoint_path() : o->lease + "/model_checkpoint.bin";
      std::string what = "nothing to continue: no " + ckpt + " (the run would start afresh)";
      if (o->lease.empty() ? resume_or_start(ckpt, o->resume, o->overwrite, stale, true) : std::filesystem::exists(ckpt)) {
        size_t leases = 0;
        if (o->lease.empty()) load_run_checkpoint([&] { model.load_checkpoint(ckpt); }, cfg);
        else load_run_checkpoint([&] { leases = model.load_model_checkpoint(ckpt).size(); }, cfg.source, resolved_config(cfg), o->lease);
        what = ckpt + ": " +
               (model.finished() ? std::string("the run has finished")
                                 : (o->lease.empty() ? std::string("the run") : "lease " + std::to_string(leases + 1)) + " continues") +
               " after epoch " + std::to_string(model.epoch()) + " of " + std::to_string(cfg.epochs);
      }
      if (writer) std::printf("check: %s\n", printable(what).c_str());
      return 0;
    }
    if (o->lease.empty() && resume_or_start(model.checkpoint_path(), o->resume, o->overwrite, stale)) {
      load_run_checkpoint([&] { model.load_checkpoint(model.checkpoint_path()); }, cfg);
      if (writer && model.finished()) {  // not "resuming after epoch 2" of 2
        std::cerr << "the run has finished (" << model.epoch() << " of " << cfg.epochs << " epochs"
                  << (model.out_of_time() ? ", its time budget spent" : "") << "): no training left; generating and writing its results again\n";
      } else if (writer) {
        std::cerr << "resuming after epoch " << model.epoch() << "\n";
      }
    }
    // A lease: continue from DIR/model_checkpoint.bin if there is one; start no epoch that would end
    // past --lease-seconds (judged by the last epoch); leave the checkpoint there after every epoch.
    const std::string lease_dir = o->lease;
    const std::string lease_ckpt = lease_dir + "/model_checkpoint.bin";
    const double lease_s = o->lease_seconds;
    LeaseLog leases(lease_dir, writer, [&](const nlohmann::json& all) { model.save_model_checkpoint(lease_ckpt, all); });
    std::vector<int64_t> rounds_before(static_cast<size_t>(model.steps()), 0);  // per step: swap rounds before this lease
    auto mono = [] { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); };
    const double call_t0 = mono();
    auto trained = [&] {
      double w = 0, f = 0;
      for (const auto& h : model.history()) w += h.wall_s, f += h.flips;
      return std::make_pair(w, f);
    };
    if (!lease_dir.empty()) {
      make_directories(lease_dir);
      if (std::filesystem::exists(lease_ckpt)) {
        nlohmann::json earlier;
        load_run_checkpoint([&] { earlier = model.load_model_checkpoint(lease_ckpt); }, cfg.source, resolved_config(cfg), lease_dir);
        const bool lease_finished = model.finished();
        // The swap rounds go on counting from the file (they key the swaps), while a lease's other swap
        // statistics start afresh: results.json gives the rounds of this lease too.
        if (cfg.neg_tempered) {
          for (int32_t t = 1; t <= model.steps(); ++t) rounds_before[static_cast<size_t>(t - 1)] = model.negative_tempering_stats(t).rounds;
        }
        if (writer && lease_finished) {  // no lease N + 1 that trains nothing
          std::cerr << "lease " << earlier.size() << " finished the run (" << model.epoch() << " of " << cfg.epochs << " epochs"
                    << (model.out_of_time() ? ", its time budget spent" : "")
                    << "): no training left; generating and writing its results again (no lease recorded)\n";
        } else if (writer) {
          std::cerr << "lease " << earlier.size() + 1 << ": continuing after epoch " << model.epoch()
                    << "; chains re-initialised (each batch's warm-up burns them in)\n";
        }
        leases.resume(earlier, lease_finished);
      } else {
        if (writer) std::cerr << "lease 1: starting afresh (no " << printable(lease_ckpt) << ")\n";
      }
      record_lease_config(lease_dir, cfg, writer);
      leases.open(backend_device_name(backend_from_string(cfg.backend), cfg.threads),
                  {{"epochs_from", model.epoch()}, {"train_s_from", trained().first}, {"flips_from", trained().second}}, cfg.output_dir);
    }
    auto save_lease = [&](const nlohmann::json& result) {
      leases.save({{"epochs_to", model.epoch()}, {"train_s_total", trained().first}, {"flips_total", trained().second},
                   {"finished", model.finished()}},
                  result);
    };
    // A lease's checkpoint after every epoch is its model-only one (output_dir gets no checkpoint.bin
    // that a later run without --lease would take for its own).
    if (!lease_dir.empty()) model.set_checkpoint_writer([&] { save_lease(nullptr); });
    if (writer) std::cerr << (cfg.steps == 1 ? "MEBM" : "DTM with T = " + std::to_string(cfg.steps)) << " on " << cfg.topology << " ("
              << model.graph().num_nodes() << " nodes, " << model.data_nodes().size() << " data), " << train.size()
              << " training images, ACP " << (cfg.acp ? "on" : "off") << "\n";
    // Quality: feature-FID with pbit's own classifier network (trained once and cached), after every
    // epoch on a small sample set (the FID over training) and at the end on gen_samples samples.
    double net_acc = 0;
    // Named by what it is trained on, so runs on other training sets (a dry run's 400 images) keep their own.
    const std::string cache = FeatureNet::cache_file("feature_net_" + cfg.dataset + "_pool" + std::to_string(cfg.pool) + "_n" +
                                                          std::to_string(train.size()) + "_t" + std::to_string(cfg.threshold) + ".bin");
    // Under MPI ranks only rank 0 measures (the FIDs, the final generation: they are not sharded, and
    // rank 0 alone writes); the others wait for it to train the network without spinning their cores.
    FeatureNet net;
    if (writer) net = FeatureNet::cached(cache, train, cfg.threshold, 3, 1, &net_acc, &test);
    dist::barrier_idle();
    const auto test_probe = writer ? spin_images(test, cfg.threshold, 1000) : std::vector<std::vector<int8_t>>{};
    // Each epoch's checkpoint is written before its FID and again with it: a run stopped in between
    // resumed without that epoch's point (helper-113). Generation depends on the model alone, so the
    // FID measured here is the one the run in one piece measured.
    if (writer && !model.history().empty() && model.history().back().epoch == model.epoch() && model.history().back().feature_fid < 0) {
      const double f = feature_frechet(net, model.generate(256).back(), test_probe);
      model.set_feature_fid(model.epoch(), f);
      std::cerr << "epoch " << model.epoch() << ": feature-FID " << f << " (256 samples; the run stopped before it measured this one)\n";
    }
    double last_epoch_s = 0;
    int epochs_here = 0;
    while (model.epoch() < cfg.epochs && !model.out_of_time()) {
      if (o->stop_after > 0 && epochs_here == o->stop_after) {
        if (writer) std::cerr << "--stop-after " << o->stop_after << ": stopping after epoch " << model.epoch() << " of " << cfg.epochs
                              << "; --resume continues the run\n";
        break;
      }
      ++epochs_here;
      // The slowest rank's clock (last_epoch_s is already), so that every rank stops at the same epoch.
      if (lease_s > 0 && last_epoch_s > 0 && dist::allreduce_max(mono() - call_t0) + last_epoch_s > lease_s) {
        if (writer) std::cerr << "lease over: epoch " << model.epoch() + 1 << " would end past " << lease_s
                  << " s; the run continues with the next --lease call\n";
        break;
      }
      const double e0 = mono();
      model.train(train, 1);
      if (writer) {
        const double f = feature_frechet(net, model.generate(256).back(), test_probe);
        model.set_feature_fid(model.epoch(), f);
        std::cerr << "epoch " << model.epoch() << ": feature-FID " << f << " (256 samples)\n";
      }
      // The other ranks wait for rank 0's FID here idle, not spinning their cores in the checkpoint's
      // first collective (helper-112).
      dist::barrier_idle();
      // Again, with the FID: a resumed run keeps the whole history.
      if (lease_dir.empty()) model.save_checkpoint(model.checkpoint_path());
      save_lease(nullptr);
      last_epoch_s = dist::allreduce_max(mono() - e0);
    }
    if (!writer) return 0;  // rank 0 generates, measures and writes
    nlohmann::json fid_history = nlohmann::json::array();  // over every epoch, across resumes and leases
    for (const auto& h : model.history()) {
      if (h.feature_fid >= 0) fid_history.push_back({{"epoch", h.epoch}, {"feature_fid_256", h.feature_fid}});
    }
    const auto& hist = model.history();
    const double t0 = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    // With label nodes, generation is class-conditional (gen_samples spread over the 10 classes), and the
    // feature network's own read-out measures how often a sample shows the class it was asked for.
    std::vector<int32_t> classes;
    if (model.has_labels())
      for (int32_t k = 0; k < cfg.gen_samples; ++k) classes.push_back(k * 10 / cfg.gen_samples);
    const auto traj = model.generate(cfg.gen_samples, -1, classes);
    const double gen_s = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count() - t0;
    const auto& samples = traj.back();
    nlohmann::json label_agreement = nullptr;
    if (!classes.empty()) {
      const std::vector<int32_t> pred = net.classify(samples);
      int32_t agree = 0;
      for (size_t k = 0; k < pred.size(); ++k) agree += pred[k] == classes[k];
      label_agreement = static_cast<double>(agree) / static_cast<double>(pred.size());
      if (writer) std::cerr << "class-conditional samples: the feature network reads the requested class in "
                << 100.0 * agree / pred.size() << "% of them\n";
    }
    const auto test_imgs = spin_images(test, cfg.threshold, std::max<int64_t>(cfg.gen_samples, 2000));
    const auto train_imgs = spin_images(train, cfg.threshold, std::max<int64_t>(cfg.gen_samples, 2000));
    const double fid = feature_frechet(net, samples, test_imgs);
    const double floor = feature_frechet(net, train_imgs, test_imgs);
    // And the floor of the per-epoch curve's shape, 256 training images against its 1000 test images:
    // a FID's bias grows as its samples shrink, so the 2000-image floor sat below what the curve could
    // reach (helper-125).
    const double floor_256 = feature_frechet(
        net, std::vector<std::vector<int8_t>>(train_imgs.begin(), train_imgs.begin() + static_cast<std::ptrdiff_t>(std::min<size_t>(256, train_imgs.size()))),
        test_probe);
    // A feature-FID depends on its sample counts (its bias falls as 1/n, and more steeply below the
    // network's feature count): the final samples are also scored as each epoch's were, 256 of them
    // against the same 1000 test images, so that the curve over training and the end compare.
    nlohmann::json fid_256 = nullptr;
    if (samples.size() >= 256) {
      fid_256 = feature_frechet(net, std::vector<std::vector<int8_t>>(samples.begin(), samples.begin() + 256), test_probe);
    }
    if (samples.size() < static_cast<size_t>(net.hidden())) {
      std::cerr << "note: the feature-FID of " << samples.size() << " samples (generate.samples), fewer than the network's "
                << net.hidden() << " features, is biased upward: it compares only with runs of as many samples\n";
    }
    const auto test_small = spin_images(test, cfg.threshold, 500), train_small = spin_images(train, cfg.threshold, 5000);
    std::vector<std::vector<int8_t>> gen_small(samples.begin(), samples.begin() + std::min<size_t>(samples.size(), 500));
    const double ham_gen = mean_nearest_hamming(gen_small, train_small), ham_test = mean_nearest_hamming(test_small, train_small);
    make_directories(cfg.output_dir);
    const std::vector<std::vector<int8_t>> shown(samples.begin(), samples.begin() + std::min<size_t>(samples.size(), 160));
    write_spin_grid_png(cfg.output_dir + "/generated.png", shown, train.rows, train.cols, 16, 600);
    std::vector<std::vector<int8_t>> tr;  // rows: samples, columns: x^T ... x^0
    for (int32_t s = 0; s < std::min<int32_t>(8, cfg.gen_samples); ++s)
      for (const auto& level : traj) tr.push_back(level[s]);
    write_spin_grid_png(cfg.output_dir + "/trajectory.png", tr, train.rows, train.cols, static_cast<int32_t>(traj.size()), 600);
    const int64_t sweeps_per_sample = cfg.gen_sweeps * cfg.steps;
    double flips = 0, wall = 0;
    for (const auto& h : hist) {
      flips += h.flips;
      wall += h.wall_s;
    }
    nlohmann::json last_steps = nlohmann::json::array();
    if (!hist.empty())
      for (const auto& s : hist.back().steps) {
        last_steps.push_back({{"step", s.step}, {"autocorrelation", s.autocorrelation}, {"acp_lambda", s.acp_lambda},
                              {"mixing_time_sweeps", std::isfinite(s.mixing_time) ? nlohmann::json(s.mixing_time) : nlohmann::json(nullptr)}});
      }
    nlohmann::json out = {
        {"model", cfg.steps == 1 ? "MEBM" : "DTM"}, {"steps", cfg.steps}, {"acp", cfg.acp},
        {"feature_fid", fid}, {"feature_fid_test_images", test_imgs.size()}, {"feature_fid_256", fid_256},
        {"feature_fid_real_floor", floor}, {"feature_fid_real_floor_images", train_imgs.size()}, {"feature_fid_real_floor_256", floor_256},
        {"feature_net_test_accuracy", net_acc},
        {"samples", samples.size()}, {"sweeps_per_sample", sweeps_per_sample}, {"sweeps_per_step", cfg.gen_sweeps},
        {"generation_replicas", cfg.gen_tempered ? cfg.gen_tempering.betas.size() : size_t{1}},
        {"generation_tempering_betas", cfg.gen_tempered ? nlohmann::json(cfg.gen_tempering.betas) : nlohmann::json(nullptr)},
        {"topology", cfg.topology}, {"num_nodes", model.graph().num_nodes()},
        {"samples_per_s", samples.size() / gen_s}, {"generation_wall_s", gen_s},
        {"mean_nearest_train_hamming_generated", ham_gen}, {"mean_nearest_train_hamming_test", ham_test},
        {"train_wall_s", wall}, {"train_flips_per_ns", wall > 0 ? flips / wall / 1e9 : 0.0},
        {"epochs_trained", model.epoch()}, {"stopped_by_time_budget", model.out_of_time() && model.epoch() < cfg.epochs},
        {"train_finished", model.finished()},
        {"final_autocorrelation", last_steps}, {"feature_fid_over_training", fid_history},
        {"label_agreement", label_agreement},
        {"backend", to_string(backend_from_string(cfg.backend))},
        {"device", backend_device_name(backend_from_string(cfg.backend), cfg.threads)},
        {"git_sha", build_git_sha()}, {"ranks", dist::size()}};
    out = detail::with_config(cfg, std::move(out));
    if (cfg.neg_tempered) {  // the negative phase's ladder and how its swaps went (since this call built or restored it)
      nlohmann::json acc = nlohmann::json::array(), trips = nlohmann::json::array(), rounds = nlohmann::json::array();
      for (int32_t t = 1; t <= model.steps(); ++t) {
        const TemperingStats st = model.negative_tempering_stats(t);
        acc.push_back(swap_statistics_json(st.attempts, st.accepts)["swap_acceptance"]);  // (a pair never attempted: null)
        trips.push_back(st.round_trips);
        rounds.push_back(st.rounds - rounds_before[static_cast<size_t>(t - 1)]);
      }
      out["negative_tempering"] = {{"betas", cfg.neg_tempering.betas}, {"sweeps_per_round", cfg.neg_tempering.sweeps_per_round},
                                   {"scheme", cfg.neg_tempering.scheme}, {"swap_acceptance_per_step", acc},
                                   {"round_trips_per_step", trips}, {"swap_rounds_per_step", rounds}};
    }
    // (the generation settings a call may change: a record completed by a later call says what it measured)
    save_lease({{"feature_fid", fid}, {"samples", samples.size()}, {"sweeps_per_sample", sweeps_per_sample}});
    if (!lease_dir.empty()) out["leases"] = leases.records();
    write_json_file(cfg.output_dir + "/results.json", out);
    // fid.png: the quality over training (every epoch, across resumes and leases) beside the final one.
    std::ostringstream dat;
    dat << "# epoch feature_fid samples final (0: 256 samples after the epoch, 1: the final generation)\n";
    for (const auto& h : hist)
      if (h.feature_fid >= 0) dat << h.epoch << " " << h.feature_fid << " 256 0\n";
    dat << model.epoch() << " " << fid << " " << samples.size() << " 1\n";
    detail::write_plot(cfg.output_dir, "fid", dat.str(),
                       "set title " + detail::gnuplot_quote(std::string(cfg.steps == 1 ? "MEBM" : "DTM T = " + std::to_string(cfg.steps)) +
                                                           " on " + cfg.topology + ", " + cfg.dataset + (cfg.acp ? ", ACP" : "")) +
                           " noenhanced\nset xlabel 'epoch'\nset ylabel 'feature-FID (lower is better)'\nset yrange [0:*]\nset grid\n"
                           "set offsets graph 0.04, graph 0.04, 0, 0\nset key below\n"
                           "plot 'fid.dat' using 1:($4 == 0 ? $2 : 1/0) with linespoints title '256 samples after each epoch', "
                           "'' using 1:($4 == 1 ? $2 : 1/0) with points pt 7 ps 1.5 title 'final generation (" +
                           std::to_string(samples.size()) + " samples)', " + detail::gnuplot_number(floor) +
                           " with lines dt 2 title 'training images against test images (the final generation''s floor)', " +
                           detail::gnuplot_number(floor_256) + " with lines dt 3 title '256 training images against the epochs'' test images (their floor)'\n");
    std::printf("%s T=%d: feature-FID %.3f (real-data floor %.3f; feature net %.1f%% test accuracy) at %lld sweeps per sample, "
                "%.1f samples/s; nearest-train Hamming %.1f (test images: %.1f); training %.1f s at %.3g flips/ns -> %s\n",
                cfg.steps == 1 ? "MEBM" : "DTM", cfg.steps, fid, floor, 100 * net_acc, static_cast<long long>(sweeps_per_sample),
                samples.size() / gen_s, ham_gen, ham_test, wall, wall > 0 ? flips / wall / 1e9 : 0.0, printable(cfg.output_dir).c_str());
    return 0;
  });
  add_dtm_mixing(dtm, c);
  add_config_command(c, dtm, "DTM", parse_dtm_config, [](const DtmConfig& g) {
    check_acp(g);  // (as dtm train does, after its --acp; dtm mixing reads a recorded config without ACP)
    (void)place_dtm_roles(g, make_topology(g.topology), detail::kImageSide / g.pool, detail::kImageSide / g.pool);
  });
}

}  // namespace pbit::cli
