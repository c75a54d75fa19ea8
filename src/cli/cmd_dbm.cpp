// pbit dbm train, eval, generate, import: sparse Deep Boltzmann Machines (docs/CLI.md, 'Model and suite configs').
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <tuple>

#include "cli.hpp"
#include "pbit/build_info.hpp"
#include "pbit/core/config.hpp"
#include "pbit/core/io.hpp"
#include "pbit/dist/comm.hpp"
#include "pbit/models/dbm.hpp"
#include "pbit/util/png.hpp"
#include "util/binary_io.hpp"
#include "util/gnuplot.hpp"

namespace pbit::cli {
namespace {

/// `pbit dbm eval --journal FILE`: every batch of images the evaluation finishes, recorded at once
/// (atomically, by rank 0), and read back by a later call of the same evaluation, which counts those
/// batches instead of sampling them again. The key is a hash of the model file, the config with every
/// setting's value (resolved_config: a default spelt out is the same evaluation), less where the data
/// and outputs lie and how the sampling runs (run.backend and run.threads, which give the same
/// answers), and the options that choose the images and budgets. Journals of pbit up to ea5a1e6
/// hashed the config as given; they still continue. tests/fixtures/eval_journals holds one journal
/// per key: a change to resolved_config(DbmConfig) changes the key, and must accept the earlier too.
class EvalJournal {
 public:
  EvalJournal(std::string path, const std::string& model_path, const DbmConfig& cfg, const std::string& options)
      : path_(std::move(path)), writer_(dist::rank() == 0) {
    std::ifstream in(model_path, std::ios::binary);
    const std::string model((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto key = [&](nlohmann::json c) {
      if (c.is_object() && c.contains("run") && c["run"].is_object()) {
        for (const char* k : {"backend", "threads", "output_dir"}) c["run"].erase(k);
      }
      if (c.is_object() && c.contains("dataset") && c["dataset"].is_object()) c["dataset"].erase("dir");
      return hex_key(detail::fnv1a(c.dump() + "|" + options, detail::fnv1a(model)));
    };
    key_ = key(resolved_config(cfg));
    const nlohmann::json j = read_journal(path_, "pbit.dbm_eval_journal", "batches", "pbit dbm eval");
    if (j.is_null()) return;
    const nlohmann::json was = j.value("key", nlohmann::json());
    if (was != key_ && was != key(cfg.source)) throw journal_refused(path_, "it records another evaluation (another model, config or options)");
    try {
      for (const nlohmann::json& b : j["batches"]) {
        DbmEvalBatch x;
        x.start = b.at("start").get<int64_t>();
        x.end = b.at("end").get<int64_t>();
        x.correct = b.at("correct").get<int64_t>();
        x.confusion = b.at("confusion").get<std::vector<int64_t>>();
        x.flips = b.at("flips").get<double>();
        x.wall_s = b.at("wall_s").get<double>();
        x.swap_attempts = b.value("swap_attempts", std::vector<int64_t>{});
        x.swap_accepts = b.value("swap_accepts", std::vector<int64_t>{});
        batches_[{b.at("sweeps_per_image").get<int64_t>(), x.start, x.end}] = x;
        records_.push_back(b);
      }
    } catch (const nlohmann::json::exception& e) {
      throw journal_refused(path_, std::string("a damaged batch record (") + detail::json_what(e) + ")");
    }
  }

  size_t batches() const { return batches_.size(); }

  /// After the evaluation: a note when some of the journal's records matched no batch of it (the
  /// key holds the options and config, not the test set's size: a set of another size behind
  /// dataset.dir, or batches split otherwise by an earlier pbit). They stay in the journal, unused.
  void note_unmatched() const {
    if (writer_ && used_.size() < batches_.size()) {
      std::cerr << "note: --journal " << printable(path_) << ": " << batches_.size() - used_.size() << " of its " << batches_.size()
                << " batch records matched no batch of this evaluation (another test set?) and were not used\n";
    }
  }

  /// The journal of the budget of `sweeps` sweeps per image, for evaluate_dbm.
  DbmEvalJournal of(int64_t sweeps) {
    DbmEvalJournal j;
    j.done = [this, sweeps](int64_t start, int64_t end) -> const DbmEvalBatch* {
      const auto it = batches_.find({sweeps, start, end});
      if (it == batches_.end()) return nullptr;
      used_.insert(it->first);
      return &it->second;
    };
    j.finished = [this, sweeps](const DbmEvalBatch& b) {
      records_.push_back({{"sweeps_per_image", sweeps}, {"start", b.start}, {"end", b.end}, {"correct", b.correct}, {"confusion", b.confusion},
                          {"flips", b.flips}, {"wall_s", b.wall_s}, {"swap_attempts", b.swap_attempts}, {"swap_accepts", b.swap_accepts}});
      if (writer_) {
        write_json_file(path_, {{"format", "pbit.dbm_eval_journal"}, {"version", 1}, {"key", key_}, {"batches", records_}});
      }
    };
    return j;
  }

 private:
  std::string path_, key_;
  bool writer_;
  std::map<std::tuple<int64_t, int64_t, int64_t>, DbmEvalBatch> batches_;
  std::set<std::tuple<int64_t, int64_t, int64_t>> used_;  // the batches_ this evaluation counted
  std::vector<nlohmann::json> records_;
};

nlohmann::json eval_json(const DbmEval& ev) {
  nlohmann::json j = {{"test_accuracy", ev.accuracy}, {"test_images", ev.images}, {"first_image", ev.first}, {"correct", ev.correct},
                      {"confusion", ev.confusion}, {"eval_wall_s", ev.wall_s},
                      {"eval_flips_per_ns", ev.wall_s > 0 ? ev.flips / ev.wall_s / 1e9 : 0.0}, {"ranks", dist::size()}};
  if (!ev.swap_attempts.empty()) {  // eval.tempering (a pair never attempted: null, not 0; helper-118)
    j.update(swap_statistics_json(ev.swap_attempts, ev.swap_accepts));
  }
  return j;
}

/// accuracy.dat / accuracy.gp, and accuracy.png when gnuplot is installed: test accuracy against the
/// training flips so far (every lease's epochs), after each epoch (on the first
/// train.eval_images_per_epoch test images) and at the end (the eval section, `final`).
void plot_accuracy(const DbmConfig& cfg, const std::vector<DbmEpochMetrics>& history, const DbmEval& final, double flips, double wall_s) {
  std::ostringstream dat;
  dat << "# epoch train_flips train_wall_s test_accuracy test_images final (0: after the epoch, 1: the final evaluation)\n";
  double f = 0, w = 0;
  for (const DbmEpochMetrics& m : history) {
    f += m.flips, w += m.train_wall_s;
    if (m.test_accuracy >= 0) dat << m.epoch << " " << f << " " << w << " " << m.test_accuracy << " " << m.test_images << " 0\n";
  }
  dat << (history.empty() ? 0 : history.back().epoch) << " " << flips << " " << wall_s << " " << final.accuracy << " " << final.images
      << " 1\n";
  const std::string graph = cfg.graph_file.empty() ? cfg.topology : cfg.graph_file;
  detail::write_plot(cfg.output_dir, "accuracy", dat.str(),
                     "set title " + detail::gnuplot_quote("sparse DBM on " + graph + ", " + cfg.dataset) +
                         " noenhanced\nset xlabel 'training flips (every epoch and lease so far)'\nset ylabel 'test accuracy'\n" +
                         std::string(flips > 0 ? "set logscale x\n" : "") + "set yrange [0:1]\nset grid\nset key bottom right\n"
                         "plot 'accuracy.dat' using 2:($6 == 0 ? $4 : 1/0) with linespoints title 'after each epoch (first test images)', "
                         "'' using 2:($6 == 1 ? $4 : 1/0) with points pt 7 ps 1.5 title 'final (eval section)'\n");
}

ImageDataset dbm_data(const DbmConfig& cfg, const std::string& split) {
  const int64_t limit = split == "train" ? cfg.train_limit : cfg.test_limit;
  ImageDataset d = pool_images(load_dataset(cfg.dataset, split, cfg.data_dir, limit), cfg.pool);
  // A limit past the set's size took the whole set, saying nothing (test_limit 20000 evaluated
  // 10,000 images: helper-118).
  if (limit > d.size() && dist::rank() == 0) {
    std::cerr << "note: dataset." << split << "_limit " << limit << " is more than the " << d.size() << " "
              << (split == "train" ? "training" : "test") << " images of " << cfg.dataset << ": all of them are used\n";
  }
  return d;
}

/// Generation runs on every rank (its read-out check is sharded); rank 0 writes the PNG and `out`.
void write_generation(const SparseDbm& m, const DbmConfig& cfg, const std::string& png, nlohmann::json& out) {
  const DbmGeneration g = generate_dbm(m, cfg);
  if (dist::rank() != 0) return;
  write_spin_grid_png(png, g.images, m.rows(), m.cols(), cfg.gen_per_class, 600);
  out["generation"] = {{"png", png}, {"per_class", cfg.gen_per_class}, {"label_agreement", g.agreement}, {"wall_s", g.wall_s},
                       {"sweeps", g.sweeps}};
  if (cfg.gen_tempered) {
    out["generation"]["tempering"] = {{"betas", g.tempering.betas}, {"sweeps_per_round", cfg.gen_tempering.sweeps_per_round},
                                      {"scheme", cfg.gen_tempering.scheme},
                                      {"rounds", g.tempering.rounds}, {"round_trips", g.tempering.round_trips}};
    out["generation"]["tempering"].update(swap_statistics_json(g.tempering.attempts, g.tempering.accepts));
  } else {
    // The anneal by name (it was a bare [start, end, step] list, which no reader could tell apart).
    out["generation"]["beta_start"] = detail::float_json(cfg.gen_beta_start);  // (each float's own digits: 0.1, not 0.10000000149)
    out["generation"]["beta_end"] = detail::float_json(cfg.gen_beta_end);
    out["generation"]["beta_step"] = detail::float_json(cfg.gen_beta_step);
    out["generation"]["sweeps_per_beta"] = cfg.gen_sweeps_per_beta;
  }
  std::cerr << "generated " << g.images.size() << " images (" << cfg.gen_per_class << " per class, rows = classes 0-9) -> " << printable(png)
            << "; the DBM's own read-out agrees with the clamped class for " << g.agreement * 100 << "%\n";
}

/// A model read with other data settings than it was trained with (a config mixed up, or on purpose:
/// another beta) gives other answers: say so, once per setting.
void note_differences_from_training(const SparseDbm& m, const DbmConfig& cfg, const std::string& path) {
  if (dist::rank() != 0) return;
  for (const std::string& d : m.differences_from_training(cfg)) std::cerr << "note: " << d << " (" << printable(path) << ")\n";
}

const char* kDbmKeys = "Config keys (dataset, graph, run, init, train, eval, generate, hardware): docs/CLI.md, 'Model and suite configs'.";

void add_train(CLI::App* dbm, Commands& c) {
  struct Opt {
    std::string config, out, lease, backend;
    int threads = -1;
    double time_budget = -1, lease_seconds = 0;
    int64_t burn_in = 1000;
    uint64_t seed = 0;
    bool seed_given = false;
    bool resume = false, overwrite = false, check = false;
  };
  auto o = std::make_shared<Opt>();
  CLI::App* s = dbm->add_subcommand(
      "train", "Trains a sparse DBM with checkpoints, metrics and progress in the config's output_dir, then evaluates it on the "
               "test set, generates digits (PNG) and writes results.json");
  s->add_option("--config", o->config, "DBM config (configs/dbm_*.json)")->required();
  s->add_option("--out", o->out, "replaces the config's run.output_dir");
  s->add_option("--time-budget", o->time_budget, "stop training after S seconds, 0 = no budget (also train.time_budget_s; the cosine schedule runs against it)")
      ->check(number_in<double>(0, 1e9));
  add_seed_option(s, o->seed, o->seed_given, "weights, data order and every sampler; graph.role_seed places the roles");
  auto* resume = s->add_flag("--resume", o->resume,
                             "continue a killed run from output_dir/checkpoint.bin, bit for bit (starts afresh when there is none yet)");
  auto* overwrite = s->add_flag("--overwrite", o->overwrite, "start afresh even if output_dir holds an earlier run's checkpoint");
  overwrite->excludes(resume);
  auto* lease = s->add_option("--lease", o->lease,
                              "continue from DIR/model_checkpoint.bin if there is one (model-only, small enough to commit), "
                              "and leave it there with DIR/leases.json (docs/CLI.md, 'Leases')");
  lease->excludes(resume);
  lease->excludes(overwrite);
  s->add_option("--lease-seconds", o->lease_seconds, "end this piece after S seconds of training")
      ->check(number_in<double>(0.001, 1e9))
      ->needs(lease);
  s->add_option("--burn-in", o->burn_in, "sweeps that burn the fresh negative chains in on resume (default 1000)")
      ->check(number_in<int64_t>(0, 1000000000))
      ->needs(lease);
  add_continue_options(s, o->backend, o->threads, o->check);
  s->footer(kDbmKeys);
  c.add(s, [o] {
    DbmConfig cfg = parse_dbm_config(read_json_file(o->config));
    override_run_options(cfg, *o, o->backend);  // results.json records the config that ran, overrides included
    // Under MPI ranks (docs/SCALING.md) every rank trains its share of the chains on the same model
    // and rank 0 writes; the ranks must have been given the same run.
    check_ranks_agree({o->config}, o->out + "|" + std::to_string(o->time_budget) + "|" + std::to_string(o->resume) + "|" +
                                       std::to_string(o->overwrite) + "|" + o->lease + "|" + std::to_string(o->lease_seconds) + "|" +
                                       std::to_string(o->burn_in) + "|" + o->backend + "|" + std::to_string(o->check) + "|" +
                                       (o->seed_given ? std::to_string(o->seed) : std::string("-")),
                      "the DBM config and the options of dbm train");
    const bool writer = dist::rank() == 0;
    const auto lock = prepare_output(cfg.output_dir, o->check, o->resume, o->lease);
    const ImageDataset train = dbm_data(cfg, "train"), test = dbm_data(cfg, "test");
    check_ranks_read_same(train, "the training images");
    check_ranks_read_same(test, "the test images");
    SparseDbm model = SparseDbm::create(cfg, train.rows, train.cols);
    if (!cfg.graph_file.empty()) check_ranks_read_same(model.graph(), "graph.file " + cfg.graph_file);
    DbmTrainer trainer(model, cfg, train);
    check_dbm_eval_memory(model, cfg, test.size());  // the evaluation and generation after training, before the training
    check_dbm_gen_memory(model, cfg);
    check_ranks_see_same({trainer.checkpoint_path(), o->lease.empty() ? std::string() : o->lease + "/model_checkpoint.bin"});
    const std::vector<std::string> stale =
        files_in(cfg.output_dir, {"results.json", "metrics.json", "model.json", "generated.png", "accuracy.dat", "accuracy.gp", "accuracy.png", "gnuplot.log"});
    if (o->check) {  // what --resume or --lease would continue from, read as they read it; nothing written
      const std::string ckpt = o->lease.empty() ? trainer.checkpoint_path() : o->lease + "/model_checkpoint.bin";
      std::string what = "nothing to continue: no " + ckpt + " (the run would start afresh)";
      if (o->lease.empty() ? resume_or_start(ckpt, o->resume, o->overwrite, stale, true) : std::filesystem::exists(ckpt)) {
        size_t leases = 0;
        if (o->lease.empty()) load_run_checkpoint([&] { trainer.load_checkpoint(ckpt); }, cfg);
        else load_run_checkpoint([&] { leases = trainer.load_model_checkpoint(ckpt, 0).size(); }, cfg.source, resolved_config(cfg), o->lease);
        std::ostringstream m;
        m << ckpt << ": ";
        if (trainer.finished()) m << "the run has finished";
        else m << (o->lease.empty() ? std::string("the run") : "lease " + std::to_string(leases + 1)) << " continues at epoch "
               << trainer.epoch() + 1 << " of " << cfg.epochs << ", batch " << trainer.batch_in_epoch();
        m << " (" << trainer.updates() << " updates, " << trainer.train_seconds() << " s and " << trainer.total_flips()
          << " flips of training so far)";
        what = m.str();
      }
      if (writer) std::printf("check: %s\n", printable(what).c_str());
      return 0;
    }
    // How a finished run ended: "2 of 2 epochs, 40 updates", or where its time budget ended it, the
    // epoch it was in ("3000 of 3000 epochs" after 12 of them read as a whole run: helper-112).
    auto finished_how = [&] {
      const std::string updates = std::to_string(trainer.updates()) + " updates";
      if (trainer.out_of_time() && !trainer.history().empty()) {
        return "its time budget spent in epoch " + std::to_string(trainer.history().back().epoch) + " of " + std::to_string(cfg.epochs) +
               ", " + updates;
      }
      return std::to_string(trainer.epoch()) + " of " + std::to_string(cfg.epochs) + " epochs, " + updates +
             (trainer.out_of_time() ? ", its time budget spent" : "");
    };
    bool said_finished = false;  // then run() has nothing to train, and would say so a second time
    if (o->lease.empty() && resume_or_start(trainer.checkpoint_path(), o->resume, o->overwrite, stale)) {
      load_run_checkpoint([&] { trainer.load_checkpoint(trainer.checkpoint_path()); }, cfg);
      said_finished = trainer.finished();
      if (writer && said_finished) {  // not "resuming at epoch 2 of 1"
        std::cerr << "the run has finished (" << finished_how() << "): no training left; evaluating and writing its results again\n";
      } else if (writer) {
        std::cerr << "resuming at epoch " << trainer.epoch() + 1 << ", batch " << trainer.batch_in_epoch() << " (" << trainer.updates()
                  << " updates done)\n";
      }
    }
    // A lease (docs/BENCHMARKING.md, model runs): the run continues from DIR/model_checkpoint.bin when
    // there is one, trains for at most --lease-seconds, and leaves its model-only checkpoint there.
    const std::string lease_dir = o->lease;
    const std::string lease_ckpt = lease_dir + "/model_checkpoint.bin";
    LeaseLog leases(lease_dir, writer, [&](const nlohmann::json& all) { trainer.save_model_checkpoint(lease_ckpt, all); });
    if (!lease_dir.empty()) {
      make_directories(lease_dir);
      const int64_t burn_in = o->burn_in;
      int64_t burnt_in = 0;  // sweeps, where a burn-in was needed
      if (std::filesystem::exists(lease_ckpt)) {
        // Finished or not as the checkpoint says, before the burn-in (which may spend a time budget:
        // then this lease trains nothing more, but records that it finished the run).
        nlohmann::json earlier;
        load_run_checkpoint([&] { earlier = trainer.load_model_checkpoint(lease_ckpt, 0); }, cfg.source, resolved_config(cfg), lease_dir);
        said_finished = trainer.finished();
        if (writer && said_finished) {  // no lease N + 1 that trains nothing
          std::cerr << "lease " << earlier.size() << " finished the run (" << finished_how()
                    << "): no training left; evaluating and writing its results again (no lease recorded)\n";
        } else if (writer) {
          std::cerr << "lease " << earlier.size() + 1 << ": continuing at epoch " << trainer.epoch() + 1 << ", batch "
                    << trainer.batch_in_epoch() << " (" << trainer.updates() << " updates, " << trainer.train_seconds()
                    << " s of training so far); "
                    << (trainer.updates_left() ? "chains re-initialised, burning them in for " + std::to_string(burn_in) + " sweeps"
                                               : std::string("the last epoch's batches are done (a lease cut before its evaluation): no burn-in"))
                    << "\n";
        }
        leases.resume(earlier, said_finished);
        if (trainer.updates_left()) trainer.burn_in(burnt_in = burn_in);
      } else {
        if (writer) std::cerr << "lease 1: starting afresh (no " << printable(lease_ckpt) << ")\n";
      }
      record_lease_config(lease_dir, cfg, writer);
      if (o->lease_seconds > 0) trainer.set_lease_seconds(o->lease_seconds);
      leases.open(backend_device_name(backend_from_string(cfg.backend), cfg.threads),
                  {{"burn_in_sweeps", burnt_in}, {"updates_from", trainer.updates()}, {"train_s_from", trainer.train_seconds()},
                   {"flips_from", trainer.total_flips()}}, cfg.output_dir);
    }
    if (writer) std::cerr << "sparse DBM: " << model.graph().num_nodes() << " nodes (" << model.visible().size() << " visible, "
              << model.labels().size() << " label, " << model.roles().of("hidden").size() << " hidden), " << model.num_parameters()
              << " parameters, " << train.size() << " training images, backend " << to_string(backend_from_string(cfg.backend))
              << "\n";
    auto save_lease = [&](const nlohmann::json& result) {
      leases.save({{"updates_to", trainer.updates()}, {"train_s_total", trainer.train_seconds()}, {"flips_total", trainer.total_flips()},
                   {"finished", trainer.finished()}},
                  result);
    };
    // Every checkpoint of the run (end of epoch, checkpoint_every_batches, end of the lease) is the
    // lease's model-only one, so a lease killed early keeps what it trained, and output_dir gets no
    // checkpoint.bin that a later run without --lease would take for its own.
    if (!lease_dir.empty()) trainer.set_checkpoint_writer([&] { save_lease(nullptr); });
    if (!said_finished) trainer.run(&test);
    save_lease(nullptr);  // the training is safe before the evaluation starts
    if (trainer.lease_ended()) {
      if (writer) std::cerr << "lease over after " << trainer.updates() << " updates (" << trainer.train_seconds()
                << " s of training in all); the run continues with the next --lease call\n";
    }
    model.set_trained_with(cfg);  // so that dbm eval and generate can say when they read it otherwise
    if (writer) model.save(cfg.output_dir + "/model.json");
    const DbmEval ev = evaluate_dbm(model, cfg, test, 0, true);
    nlohmann::json out = eval_json(ev);
    const double train_wall = trainer.train_seconds(), flips = trainer.total_flips();
    out["train_wall_s"] = train_wall;
    out["train_flips"] = flips;
    out["train_updates"] = trainer.updates();
    out["train_finished"] = trainer.finished();
    out["stopped_by_time_budget"] = trainer.out_of_time();
    // The whole run's sampling rate (every epoch and lease so far), not the last epoch's: a lease may end
    // before any epoch does.
    out["train_flips_per_ns"] = trainer.sampling_seconds() > 0 ? flips / trainer.sampling_seconds() / 1e9 : 0.0;
    out["num_parameters"] = model.num_parameters();
    out["backend"] = to_string(backend_from_string(cfg.backend));
    out["device"] = backend_device_name(backend_from_string(cfg.backend), cfg.threads);
    out["git_sha"] = build_git_sha();
    out["ranks"] = dist::size();  // MPI processes that shared the chains (docs/SCALING.md)
    out = detail::with_config(cfg, std::move(out));
    save_lease({{"test_accuracy", ev.accuracy}, {"test_images", ev.images}, {"eval_sweeps_per_image", cfg.eval.schedule().total_sweeps()}});
    if (!lease_dir.empty()) out["leases"] = leases.records();
    // The evaluation (hours, at the paper's budget) is kept before the generation starts; results.json
    // is written again with the generation.
    if (writer) write_json_file(cfg.output_dir + "/results.json", out);
    write_generation(model, cfg, cfg.output_dir + "/generated.png", out);
    if (!writer) return 0;
    write_json_file(cfg.output_dir + "/results.json", out);
    plot_accuracy(cfg, trainer.history(), ev, flips, train_wall);
    std::printf("test accuracy %.4f on %lld images; training %.1f s at %.3g flips/ns (%s); results in %s/results.json\n",
                ev.accuracy, static_cast<long long>(ev.images), train_wall, out["train_flips_per_ns"].get<double>(),
                out["device"].get<std::string>().c_str(), printable(cfg.output_dir).c_str());
    return 0;
  });
}

void add_eval(CLI::App* dbm, Commands& c) {
  struct Opt {
    std::string config, model, sweeps, out, plot, journal;
    int64_t limit = 0, first = 0, chains = 0;
    double warmup_fraction = -1;
  };
  auto o = std::make_shared<Opt>();
  CLI::App* s = dbm->add_subcommand(
      "eval", "Test accuracy and confusion matrix of a DBM model (the config's eval section), or, with --sweeps, accuracy against "
              "inference sweeps per image");
  s->add_option("--config", o->config, "DBM config: its dataset, eval, hardware and run sections and train.beta (the inference beta)")->required();
  s->add_option("--model", o->model, "model file (dbm train's model.json, or dbm import's)")->required();
  s->add_option("--first", o->first, "first test image (default 0)")->check(number_in<int64_t>(0, 1000000000));
  s->add_option("--limit", o->limit, "number of test images, at least 1, within the test set (default: to the end)")->check(number_in<int64_t>(1, 1000000000));
  s->add_option("--chains", o->chains, "chains per image (replaces eval.chains)")->check(number_in<int64_t>(1, 1 << 16));  // as eval.chains
  auto* sw = s->add_option("--sweeps", o->sweeps, "S1,S2,...: sweeps per image of each budget, increasing; exactly S run");
  s->add_option("--warmup-fraction", o->warmup_fraction, "the warm-up's share of each budget (default 0.5)")
      ->check(number_in<double>(0, 0.99))
      ->needs(sw);
  s->add_option("--out", o->out, "write the result JSON to FILE (default: stdout)");
  s->add_option("--plot", o->plot, "also draw DIR/accuracy_vs_sweeps.png (with its .dat and .gp)")->needs(sw);
  s->add_option("--journal", o->journal,
                "record each finished batch of images (eval.batch_images) in FILE; run again with the same FILE and arguments, a "
                "killed evaluation counts those batches and samples only the rest, with the same result");
  s->footer(kDbmKeys);
  c.add(s, [o] {
    refuse_output_over_input("--out", o->out, {{"--config", o->config}, {"--model", o->model}});
    refuse_output_over_input("--journal", o->journal, {{"--config", o->config}, {"--model", o->model}, {"--out", o->out}});
    DbmConfig cfg = parse_dbm_config(read_json_file(o->config));
    // Under MPI ranks each rank classifies a share of every batch's images; rank 0 writes.
    check_ranks_agree({o->config, o->model}, o->sweeps + "|" + o->out + "|" + std::to_string(o->limit) + "|" + std::to_string(o->first) +
                                                 "|" + std::to_string(o->chains) + "|" + std::to_string(o->warmup_fraction) + "|" + o->plot +
                                                 "|" + o->journal,
                      "the DBM config, the model and the options of dbm eval");
    const bool writer = dist::rank() == 0;
    if (!o->out.empty() && writer) check_writable(o->out);  // before the evaluation, not after it
    if (!o->journal.empty() && writer) check_writable(o->journal);
    std::optional<MadeFolder> plot_folder;  // (removed again if the command fails while it is empty)
    if (!o->plot.empty() && writer) {
      plot_folder.emplace(o->plot);
      check_writable(o->plot + "/accuracy_vs_sweeps.dat");
    }
    const SparseDbm model = SparseDbm::load(o->model);
    const ImageDataset test = dbm_data(cfg, "test");
    check_ranks_read_same(test, "the test images");
    if (test.rows != model.rows() || test.cols != model.cols()) {  // (the sampler's refusal named neither file nor setting)
      throw InvalidArgument("--model " + o->model + " takes " + std::to_string(model.rows()) + "x" + std::to_string(model.cols()) +
                            " images, and the test images of --config " + o->config + " are " + std::to_string(test.rows) + "x" + std::to_string(test.cols) +
                            " (28x28 pooled by dataset.pool " + std::to_string(cfg.pool) + ")");
    }
    note_differences_from_training(model, cfg, o->model);  // (after the refusal, which says it better than a note that goes on)
    if (o->first >= test.size()) {
      throw InvalidArgument("--first " + std::to_string(o->first) + " is past the " + std::to_string(test.size()) + " test images");
    }
    if (o->limit > 0 && o->first + o->limit > test.size()) {  // not silently fewer images than asked for
      throw InvalidArgument("--first " + std::to_string(o->first) + " --limit " + std::to_string(o->limit) + " asks for images up to " +
                            std::to_string(o->first + o->limit - 1) + ", but the last test image is " + std::to_string(test.size() - 1) +
                            " (omit --limit to evaluate to the end)");
    }
    if (o->chains > 0) cfg.eval.chains = static_cast<int32_t>(o->chains);
    auto emit_eval = [&](const nlohmann::json& j) {  // stdout, or with --out the file (as every command)
      if (writer) emit(o->out, j);
    };
    std::unique_ptr<EvalJournal> journal;
    if (!o->journal.empty()) {
      // Every rank reads it and rank 0 alone writes it: a copy per node would have the ranks skip
      // different batches and pair their collectives wrongly.
      check_ranks_see_same({o->journal}, "the journal --journal " + o->journal);
      journal = std::make_unique<EvalJournal>(o->journal, o->model, cfg,
                                              std::to_string(o->first) + "|" + std::to_string(o->limit) + "|" + std::to_string(cfg.eval.chains) +
                                                  "|" + o->sweeps + "|" + std::to_string(o->warmup_fraction));
      if (writer && journal->batches() > 0) {
        std::cerr << "--journal " << printable(o->journal) << ": " << journal->batches()
                  << " batch(es) of images an earlier call finished are counted, not sampled again\n";
      }
    }
    if (o->sweeps.empty()) {
      DbmEvalJournal j;
      if (journal) j = journal->of(cfg.eval.schedule().total_sweeps());
      const DbmEval ev = evaluate_dbm(model, cfg, test, o->limit, true, o->first, journal ? &j : nullptr);
      if (writer) {  // the JSON (stdout or --out) holds the confusion matrix and the rest
        std::cerr << "test accuracy " << ev.accuracy << " on images " << ev.first << ".." << ev.first + ev.images - 1 << " ("
                  << ev.wall_s << " s)\n";
      }
      // What was evaluated, how, and by which pbit, so the file reads on its own (it held the accuracy
      // and the confusion matrix alone: helper-118); the --sweeps curve's entries say the same.
      nlohmann::json r = eval_json(ev);
      r.update({{"model", o->model}, {"sweeps_per_image", cfg.eval.schedule().total_sweeps()}, {"warmup", cfg.eval.warmup},
                {"samples", cfg.eval.samples}, {"steps_per_sample", cfg.eval.steps_per_sample}, {"chains", cfg.eval.chains},
                {"eval_flips", ev.flips}, {"git_sha", build_git_sha()}});
      if (cfg.eval_beta_start >= 0) r["beta_start"] = detail::float_json(cfg.eval_beta_start);
      emit_eval(r);
      if (journal) journal->note_unmatched();
      return 0;
    }
    // For each budget S a fraction (default 0.5) is warm-up and the rest is sampled every
    // eval.steps_per_sample sweeps; the warm-up takes the remainder, so exactly S sweeps run.
    const double warm_frac = o->warmup_fraction >= 0 ? o->warmup_fraction : 0.5;
    const int64_t step = cfg.eval.steps_per_sample;
    std::vector<int64_t> budgets;
    for (const std::string& tok : split_list(o->sweeps)) {
      int64_t total = 0;
      // At most 2^32 - 1: a sampler's sweep counter (checked here, not after the smaller budgets ran).
      if (!detail::parse_number_ok(tok, total) || total < step || total > SamplingSchedule::kMaxSweeps) {
        throw InvalidArgument("--sweeps takes a comma-separated list of sweep counts from " + std::to_string(step) +
                              " (eval.steps_per_sample) to 4294967295, got '" + tok + "'");
      }
      // increasing, as a curve against sweeps (and pdnn eval's --samples) reads: a budget given twice
      // would only be sampled twice
      if (!budgets.empty() && total <= budgets.back()) throw InvalidArgument("--sweeps must be increasing, got '" + o->sweeps + "'");
      budgets.push_back(total);
      // eval.beta_start anneals over the warm-up: without one the budget ran at beta alone, saying
      // nothing (the config refuses the same pair: helper-118). Refused before any budget runs.
      const int64_t samples = std::max<int64_t>(1, static_cast<int64_t>((1.0 - warm_frac) * static_cast<double>(total)) / step);
      if (cfg.eval_beta_start >= 0 && total - samples * step == 0) {
        throw InvalidArgument("--sweeps " + tok + " leaves no warm-up (--warmup-fraction " + detail::format_number(warm_frac) +
                              "), over which eval.beta_start anneals: give a larger --warmup-fraction or remove eval.beta_start");
      }
    }
    nlohmann::json curve = nlohmann::json::array();
    for (const int64_t total : budgets) {
      DbmConfig b = cfg;
      b.eval.samples = std::max<int64_t>(1, static_cast<int64_t>((1.0 - warm_frac) * static_cast<double>(total)) / step);
      b.eval.warmup = total - b.eval.samples * step;
      DbmEvalJournal j;
      if (journal) j = journal->of(total);
      const DbmEval ev = evaluate_dbm(model, b, test, o->limit, true, o->first, journal ? &j : nullptr);
      if (writer) std::cerr << total << " sweeps per image (" << b.eval.warmup << " warm-up + " << b.eval.samples << " x " << step << ") x "
                << b.eval.chains << " chains: test accuracy " << ev.accuracy << " on images " << ev.first << ".."
                << ev.first + ev.images - 1 << " (" << ev.wall_s << " s)\n";
      nlohmann::json r = eval_json(ev);
      r.update({{"eval_flips", ev.flips}, {"sweeps_per_image", b.eval.warmup + b.eval.samples * step}, {"warmup", b.eval.warmup},
                {"samples", b.eval.samples}, {"steps_per_sample", step}, {"chains", b.eval.chains}});
      if (cfg.eval_beta_start >= 0) r["beta_start"] = detail::float_json(cfg.eval_beta_start);  // (the warm-up's anneal, to beta)
      curve.push_back(r);
    }
    emit_eval(nlohmann::json{{"model", o->model}, {"curve", curve}, {"git_sha", build_git_sha()}});
    if (journal) journal->note_unmatched();
    if (!o->plot.empty() && writer) {
      std::ostringstream dat;
      dat << "# sweeps_per_image test_accuracy test_images chains eval_wall_s\n";
      for (const nlohmann::json& r : curve) {
        dat << r["sweeps_per_image"].get<int64_t>() << " " << r["test_accuracy"].get<double>() << " " << r["test_images"].get<int64_t>()
            << " " << r["chains"].get<int64_t>() << " " << r["eval_wall_s"].get<double>() << "\n";
      }
      const int64_t images = curve.empty() ? 0 : curve[0]["test_images"].get<int64_t>(), from = curve.empty() ? 0 : curve[0]["first_image"].get<int64_t>();
      detail::write_plot(o->plot, "accuracy_vs_sweeps", dat.str(),
                         "set title " + detail::gnuplot_quote(std::filesystem::path(o->model).filename().string() + ": test images " +
                                                             std::to_string(from) + "-" + std::to_string(from + images - 1) + ", " +
                                                             std::to_string(cfg.eval.chains) + (cfg.eval.chains == 1 ? " chain" : " chains") + " per image") +
                             " noenhanced\nset xlabel 'sweeps per image'\nset ylabel 'test accuracy'\nset logscale x\nset yrange [0:1]\n"
                             "set grid\nset key bottom right\nplot 'accuracy_vs_sweeps.dat' using 1:2 with linespoints lw 2 pt 7 notitle\n");
    }
    return 0;
  });
}

void add_generate(CLI::App* dbm, Commands& c) {
  struct Opt {
    std::string config, model, out;
  };
  auto o = std::make_shared<Opt>();
  CLI::App* s = dbm->add_subcommand("generate", "Class-conditional samples of a DBM model (labels clamped, beta annealed or parallel tempering) as a PNG grid");
  s->add_option("--config", o->config, "DBM config: its generate, hardware and run sections")->required();
  s->add_option("--model", o->model, "model file")->required();
  s->add_option("--out", o->out, "PNG to write (rows = classes 0-9), a name ending in .png")
      ->required()
      ->check(CLI::Validator(
          [](const std::string& v) {  // a PNG under another name (digits.txt) is a file no viewer opens as one
            const bool png = v.size() > 4 && (v.compare(v.size() - 4, 4, ".png") == 0 || v.compare(v.size() - 4, 4, ".PNG") == 0);
            return png ? std::string() : "the grid is a PNG image: give a name ending in .png, got '" + v + "'";
          },
          "FILE.png"));
  s->footer(kDbmKeys);
  c.add(s, [o] {
    refuse_output_over_input("--out", o->out, {{"--config", o->config}, {"--model", o->model}});
    const DbmConfig cfg = parse_dbm_config(read_json_file(o->config));
    check_writable(o->out);
    const SparseDbm model = SparseDbm::load(o->model);
    note_differences_from_training(model, cfg, o->model);
    nlohmann::json out;
    write_generation(model, cfg, o->out, out);
    std::cout << json_text(out);
    return 0;
  });
}

void add_import(CLI::App* dbm, Commands& c) {
  struct Opt {
    std::string edges, biases, visible, labels, out, pixel_order = "row", label_order;
    int rows = 0, cols = 0, replicas = 0;
  };
  auto o = std::make_shared<Opt>();
  CLI::App* s = dbm->add_subcommand("import", "Imports a DBM trained elsewhere (e.g. the FPGA-trained model of Niazi et al., "
                                              "scripts/prepare_golden.py) into a pbit model file");
  s->add_option("--edges", o->edges, "couplings: 'i j J' per line (0-based; commas also separate), optional 'nodes N' line")->required();
  s->add_option("--biases", o->biases, "one bias per line, in node order")->required();
  s->add_option("--visible", o->visible, "the visible nodes, one per pixel (order: --pixel-order)")->required();
  s->add_option("--labels", o->labels,
                "the label nodes: one id per line in the order --label-order says (either, with one replica), one line per "
                "replica (10 ids, classes 0-9) or one line per class (R ids)")
      ->required();
  s->add_option("--rows", o->rows, "image rows")->required()->check(number_in<int>(1, 1 << 16));
  s->add_option("--cols", o->cols, "image columns")->required()->check(number_in<int>(1, 1 << 16));
  s->add_option("--replicas", o->replicas, "label replicas per class")->required()->check(number_in<int>(1, 1 << 16));
  s->add_option("--pixel-order", o->pixel_order, "visible nodes in row-major (row) or column-major (col, MATLAB) pixel order")
      ->check(CLI::IsMember({"row", "col"}));
  s->add_option("--label-order", o->label_order,
                "for one id per line: class (class c replica r at line c R + r) or replica (replica r class c at line 10 r + c)")
      ->check(CLI::IsMember({"class", "replica"}));
  s->add_option("--out", o->out, "model file to write")->required();
  s->footer("File formats: docs/CLI.md, 'Importing a DBM'.");
  c.add(s, [o] {
    refuse_output_over_input("--out", o->out, {{"--edges", o->edges}, {"--biases", o->biases}, {"--visible", o->visible}, {"--labels", o->labels}});
    check_writable(o->out);
    const SparseDbm m = SparseDbm::import_model(o->edges, o->biases, o->visible, o->labels, o->rows, o->cols, o->replicas,
                                                o->pixel_order, o->label_order);
    m.save(o->out);
    std::cerr << "imported " << m.graph().num_nodes() << " nodes, " << m.graph().num_edges() << " couplings -> " << printable(o->out) << "\n";
    return 0;
  });
}

}  // namespace

void add_dbm_commands(Commands& c) {
  CLI::App* dbm = c.app->add_subcommand("dbm", "Sparse Deep Boltzmann Machines (Niazi et al. 2024): train, eval, generate, import, config");
  dbm->require_subcommand(1);
  add_train(dbm, c);
  add_eval(dbm, c);
  add_generate(dbm, c);
  add_import(dbm, c);
  add_config_command(c, dbm, "DBM", parse_dbm_config, [](const DbmConfig& g) { (void)SparseDbm::create(g, detail::kImageSide / g.pool, detail::kImageSide / g.pool); });
}

}  // namespace pbit::cli
