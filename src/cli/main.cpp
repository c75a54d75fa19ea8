// `pbit`: command-line front end. Library code throws; only this file turns errors into exit codes.
#include <chrono>
#include <cmath>
#include <filesystem>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "util/json_util.hpp"  // format_number
#include "util/parse_number.hpp"
#include "pbit/build_info.hpp"
#include "pbit/harness/compare.hpp"
#include "pbit/core/config.hpp"
#include "pbit/models/dbm.hpp"
#include "pbit/models/dtm_model.hpp"
#include "pbit/models/feature_net.hpp"
#include "pbit/util/png.hpp"
#include "pbit/error.hpp"
#include "pbit/core/io.hpp"
#include "pbit/hardware/roles.hpp"
#include "pbit/core/sampler.hpp"
#include "pbit/hardware/topology.hpp"

namespace {

const char* kUsage = R"(pbit - probabilistic-computer simulation (p-bits, Ising machines, Boltzmann machines)

usage:
  pbit sample (--graph FILE | --topology SPEC) --config FILE [--out FILE] [--backend NAME]
      Gibbs-samples the graph as the JSON config says and writes the observed statistics as JSON
      (stdout if --out is not given). FILE.json is graph JSON, anything else an edge list.
  pbit color --graph FILE [--out FILE]
      Colors the graph (DSATUR; 2 colors for bipartite graphs) or verifies the coloring in a graph
      JSON file, and prints/writes the coloring.
  pbit graph --topology SPEC --out FILE [--weights SIGMA_J[,SIGMA_H]] [--seed S]
             [--roles SPECS [--role-seed S | --roles-in-order] --roles-out FILE]
      Generates a topology (pegasus:14, zephyr:10:4, chimera:16, grid:70:G12[:torus|open],
      lattice:L, king:L, regular:N:D[:SEED]) with its closed-form coloring and coordinates, optionally
      with Gaussian weights, and optionally places node roles (e.g. visible:784,label:50,hidden:rest;
      name:count:color restricts a role to one color), printing the role hop distances.
  pbit info --graph FILE
      Prints node, edge and degree counts.
  pbit dtm train --config FILE [--steps T] [--acp on|off] [--out DIR] [--time-budget S] [--gen-sweeps N]
                 [--resume | --lease DIR [--lease-seconds S]]
      Trains a Denoising Thermodynamic Model (T = 1: a monolithic EBM) on binarized images, then
      generates samples and reports feature-FID against the test set (and the real-data floor),
      nearest-neighbour Hamming distances, PNG grids of samples and of the denoising trajectory.
      --time-budget S (also train.time_budget_s) starts no epoch that would end past S seconds.
      --gen-sweeps N replaces generate.sweeps; with --resume on a finished run it only generates again
      (e.g. an MEBM at several sweep budgets). --lease DIR continues from DIR/model_checkpoint.bin (a
      model-only checkpoint, small enough to commit) and starts no epoch that would end past
      --lease-seconds; the checkpoint and DIR/leases.json are rewritten after every epoch.
  pbit compare --suite FILE [--out DIR]
      Runs a comparison suite (configs/compare_suite.json): throughput and measured energy per
      workload, backend and chain count, beside modeled FPGA / RNG-chip / p-DNN platforms; writes
      results.json, results.md and plots (gnuplot) to the suite's output_dir or DIR.
  pbit dbm train --config FILE [--out DIR] [--time-budget S] [--resume | --lease DIR [--lease-seconds S] [--burn-in N]]
      Trains a sparse DBM (configs/dbm_*.json) with checkpoints, metrics and progress in the config's
      output_dir, then evaluates on the test set, generates digits (PNG) and writes results.json.
      --resume continues a killed run from output_dir/checkpoint.bin, bit for bit. --out replaces the
      config's output_dir; --time-budget S (also train.time_budget_s) stops training after S seconds.
      --lease DIR continues from DIR/model_checkpoint.bin if there is one (a model-only checkpoint,
      small enough to commit; chains re-initialised and burnt in for --burn-in sweeps, default 1000),
      trains for at most --lease-seconds, and leaves the checkpoint and DIR/leases.json there.
  pbit dbm eval --config FILE --model FILE [--first K] [--limit N] [--chains C] [--sweeps S1,S2,... [--warmup-fraction F]]
                [--out FILE.json]
      Test accuracy and confusion matrix (config's eval section) on test images K .. K + N - 1;
      --sweeps gives accuracy against inference sweeps per image instead (a fraction F, default 0.5,
      warm-up, the rest sampled; exactly S sweeps run), to see how well a model mixes.
  pbit dbm generate --config FILE --model FILE --out FILE.png
  pbit dbm import --edges FILE --biases FILE --visible FILE --labels FILE --rows R --cols C
                  --replicas K [--pixel-order row|col] --out MODEL.json
  pbit backends
      Lists the backends and whether they are compiled and available here.
  pbit version

Formats: docs/CLI.md. Example config: configs/sample_example.json.
)";

struct Args {
  std::string cmd;
  std::map<std::string, std::string> opt;
};

/// The options argv[first..] of command `cmd`: `--key value` pairs, and `--resume`, which takes no
/// value. Which keys a command accepts is checked by only().
Args parse_args(int argc, char** argv, int first, std::string cmd) {
  Args a;
  a.cmd = std::move(cmd);
  for (int k = first; k < argc; ++k) {
    std::string s = argv[k];
    if (s.rfind("--", 0) != 0) throw pbit::InvalidArgument("unexpected argument '" + s + "'");
    if (s == "--resume") {
      a.opt["resume"] = "1";
      continue;
    }
    if (k + 1 >= argc) throw pbit::InvalidArgument("option " + s + " needs a value");
    a.opt[s.substr(2)] = argv[++k];
  }
  return a;
}

std::string need(const Args& a, const std::string& key) {
  auto it = a.opt.find(key);
  if (it == a.opt.end()) throw pbit::InvalidArgument("'pbit " + a.cmd + "' needs --" + key);
  return it->second;
}

void only(const Args& a, std::initializer_list<const char*> allowed) {
  for (const auto& [k, v] : a.opt) {
    bool ok = false;
    for (const char* x : allowed) ok = ok || k == x;
    if (!ok) throw pbit::InvalidArgument("'pbit " + a.cmd + "' has no option --" + k);
  }
}

/// A number option within [lo, hi], with an error that names the option.
double number_opt(const Args& a, const std::string& key, double lo, double hi) {
  const std::string v = need(a, key);
  double x = 0;
  if (!pbit::detail::parse_number_ok(v, x) || !(x >= lo && x <= hi)) {
    throw pbit::InvalidArgument("--" + key + " takes a number in [" + pbit::detail::format_number(lo) + ", " +
                                pbit::detail::format_number(hi) + "], got '" + v + "'");
  }
  return x;
}

/// A whole-number option within [lo, hi].
int64_t int_opt(const Args& a, const std::string& key, int64_t lo, int64_t hi) {
  const double x = number_opt(a, key, static_cast<double>(lo), static_cast<double>(hi));
  if (x != std::floor(x)) throw pbit::InvalidArgument("--" + key + " takes a whole number, got '" + need(a, key) + "'");
  return static_cast<int64_t>(x);
}

/// A seed option: any whole number in [0, 2^64), parsed exactly (a double would round large seeds).
uint64_t seed_opt(const Args& a, const std::string& key) {
  const std::string v = need(a, key);
  uint64_t x = 0;
  if (!pbit::detail::parse_number_ok(v, x)) {  // unlike stoull, "-1" is an error, not 2^64 - 1
    throw pbit::InvalidArgument("--" + key + " takes a whole number in [0, 2^64), got '" + v + "'");
  }
  return x;
}

void emit(const Args& a, const nlohmann::json& j) {
  auto it = a.opt.find("out");
  if (it == a.opt.end()) {
    std::cout << j.dump(2) << "\n";
  } else {
    pbit::write_json_file(it->second, j);
    std::cerr << "wrote " << it->second << "\n";
  }
}

int cmd_sample(const Args& a) {
  only(a, {"graph", "topology", "config", "out", "backend"});
  pbit::GraphFile gf;
  if (a.opt.count("topology")) {
    if (a.opt.count("graph")) throw pbit::InvalidArgument("give --graph or --topology, not both");
    const pbit::Topology t = pbit::make_topology(a.opt.at("topology"));
    gf = pbit::GraphFile{t.graph, t.colors};
  } else {
    gf = pbit::read_graph_file(need(a, "graph"));
  }
  const std::string config_path = need(a, "config");
  pbit::SampleConfig cfg = pbit::parse_sample_config(pbit::read_json_file(config_path));
  if (a.opt.count("backend")) cfg.backend = a.opt.at("backend");
  pbit::SamplerOptions opt;
  opt.backend = pbit::backend_from_string(cfg.backend);
  opt.seed = cfg.seed;
  opt.num_threads = cfg.num_threads;
  const pbit::Coloring coloring =
      gf.coloring ? pbit::Coloring(gf.graph, *gf.coloring) : pbit::color_graph(gf.graph);
  pbit::Sampler sampler(gf.graph, coloring, cfg.chains, opt);
  if (!cfg.clamp_nodes.empty()) sampler.set_clamp(cfg.clamp_nodes, cfg.clamp_values);
  if (!cfg.field_values.empty()) sampler.set_field(cfg.field_nodes, cfg.field_values);
  std::cerr << "pbit sample: " << gf.graph.num_nodes() << " nodes, " << gf.graph.num_edges() << " edges, "
            << coloring.num_colors() << " colors, " << cfg.chains << " chains, " << cfg.schedule.total_sweeps()
            << " sweeps on " << pbit::to_string(opt.backend) << "\n";
  const auto t0 = std::chrono::steady_clock::now();
  const pbit::Observations obs = sampler.run(cfg.schedule, cfg.beta, cfg.observe);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  nlohmann::json j = pbit::observations_to_json(obs, gf.graph);
  const double flips = static_cast<double>(cfg.chains) * gf.graph.num_nodes() * obs.sweeps;
  j["run"] = {{"backend", pbit::to_string(opt.backend)},
              {"device", pbit::backend_device_name(opt.backend)},
              {"seed", cfg.seed},
              {"num_colors", coloring.num_colors()},
              {"wall_s", wall},
              {"flips_per_ns", wall > 0 ? flips / (wall * 1e9) : 0.0},
              {"git_sha", pbit::build_git_sha()}};
  emit(a, j);
  return 0;
}

int cmd_color(const Args& a) {
  only(a, {"graph", "out"});
  const pbit::GraphFile gf = pbit::read_graph_file(need(a, "graph"));
  const pbit::Coloring c = gf.coloring ? pbit::Coloring(gf.graph, *gf.coloring) : pbit::color_graph(gf.graph);
  nlohmann::json j;
  j["num_colors"] = c.num_colors();
  j["coloring"] = c.colors();
  j["verified"] = true;
  j["source"] = gf.coloring ? "file" : "dsatur";
  emit(a, j);
  return 0;
}

int cmd_graph(const Args& a) {
  only(a, {"topology", "out", "weights", "seed", "roles", "role-seed", "roles-in-order", "roles-out"});
  pbit::Topology t = pbit::make_topology(need(a, "topology"));
  if (a.opt.count("roles")) need(a, "roles-out");
  const uint64_t seed = a.opt.count("seed") ? seed_opt(a, "seed") : 1;
  if (a.opt.count("weights")) {
    const std::string w = a.opt.at("weights");
    const auto sigma = [&](const std::string& t) {
      float x = -1.0f;
      if (!pbit::detail::parse_number_ok(t, x) || !(x >= 0) || !std::isfinite(x)) {
        throw pbit::InvalidArgument("--weights takes SIGMA_J[,SIGMA_H], standard deviations >= 0, got '" + w + "'");
      }
      return x;
    };
    const auto comma = w.find(',');
    const float sj = sigma(w.substr(0, comma));
    const float sh = comma == std::string::npos ? 0.0f : sigma(w.substr(comma + 1));
    t.graph = pbit::with_random_weights(t.graph, seed, sj, sh);
  }
  const std::string out = need(a, "out");
  pbit::write_topology_file(out, t);
  std::map<int32_t, int64_t> hist;
  for (int32_t i = 0; i < t.graph.num_nodes(); ++i) ++hist[t.graph.degree(i)];
  nlohmann::json h;
  for (const auto& [d, c] : hist) h[std::to_string(d)] = c;
  nlohmann::json summary = {{"topology", t.name},          {"file", out},
                            {"num_nodes", t.graph.num_nodes()}, {"num_edges", t.graph.num_edges()},
                            {"degree_histogram", h},       {"num_colors", t.coloring().num_colors()},
                            {"coloring_method", t.coloring_method}};
  if (a.opt.count("roles")) {
    const std::string roles_out = need(a, "roles-out");
    const auto specs = pbit::parse_role_specs(a.opt.at("roles"));
    const bool in_order = a.opt.count("roles-in-order") && a.opt.at("roles-in-order") != "false";
    if (in_order && a.opt.count("role-seed")) throw pbit::InvalidArgument("give --role-seed or --roles-in-order, not both");
    const uint64_t role_seed = a.opt.count("role-seed") ? seed_opt(a, "role-seed") : 1;
    const pbit::RoleAssignment r = in_order ? pbit::place_roles_in_order(t.graph.num_nodes(), specs, &t.colors)
                                            : pbit::place_roles(t.graph.num_nodes(), specs, role_seed, &t.colors);
    pbit::write_roles_file(roles_out, r);
    nlohmann::json d = nlohmann::json::array();
    for (const auto& x : pbit::role_distances(t.graph, r)) {
      d.push_back({{"from", x.from}, {"to", x.to}, {"mean_hops", x.mean_hops}, {"max_hops", x.max_hops}, {"unreachable", x.unreachable}});
    }
    summary["roles_file"] = roles_out;
    summary["role_placement"] = in_order ? "index order" : "random permutation, seed " + std::to_string(role_seed);
    summary["role_distances"] = d;
  } else if (a.opt.count("roles-out") || a.opt.count("role-seed")) {
    throw pbit::InvalidArgument("--roles-out and --role-seed need --roles");
  }
  std::cout << summary.dump(2) << "\n";
  return 0;
}

// ---- sparse DBM

nlohmann::json eval_json(const pbit::DbmEval& ev) {
  return {{"test_accuracy", ev.accuracy}, {"test_images", ev.images}, {"first_image", ev.first}, {"correct", ev.correct},
          {"confusion", ev.confusion}, {"eval_wall_s", ev.wall_s},
          {"eval_flips_per_ns", ev.wall_s > 0 ? ev.flips / ev.wall_s / 1e9 : 0.0}};
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream list(s);
  for (std::string tok; std::getline(list, tok, ',');) out.push_back(tok);
  return out;
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

pbit::ImageDataset dbm_data(const pbit::DbmConfig& cfg, const std::string& split) {
  const int64_t limit = split == "train" ? cfg.train_limit : cfg.test_limit;
  return pbit::pool_images(pbit::load_dataset(cfg.dataset, split, cfg.data_dir, limit), cfg.pool);
}

void write_generation(const pbit::SparseDbm& m, const pbit::DbmConfig& cfg, const std::string& png, nlohmann::json& out) {
  const pbit::DbmGeneration g = pbit::generate_dbm(m, cfg);
  pbit::write_spin_grid_png(png, g.images, m.rows(), m.cols(), cfg.gen_per_class);
  out["generation"] = {{"png", png}, {"per_class", cfg.gen_per_class}, {"label_agreement", g.agreement}, {"wall_s", g.wall_s},
                       {"beta", {cfg.gen_beta_start, cfg.gen_beta_end, cfg.gen_beta_step}},
                       {"sweeps_per_beta", cfg.gen_sweeps_per_beta}};
  std::cerr << "generated " << g.images.size() << " images (" << cfg.gen_per_class << " per class, rows = classes 0-9) -> " << png
            << "; the DBM's own read-out agrees with the clamped class for " << g.agreement * 100 << "%\n";
}

int cmd_dbm(int argc, char** argv) {
  if (argc < 3) throw pbit::InvalidArgument("'pbit dbm' needs a subcommand: train, eval, generate or import");
  const std::string sub = argv[2];
  Args a = parse_args(argc, argv, 3, "dbm " + sub);
  if (sub == "import") {
    only(a, {"edges", "biases", "visible", "labels", "rows", "cols", "replicas", "pixel-order", "out"});
    const pbit::SparseDbm m = pbit::SparseDbm::import_model(
        need(a, "edges"), need(a, "biases"), need(a, "visible"), need(a, "labels"), static_cast<int32_t>(int_opt(a, "rows", 1, 1 << 16)),
        static_cast<int32_t>(int_opt(a, "cols", 1, 1 << 16)), static_cast<int32_t>(int_opt(a, "replicas", 1, 1 << 16)), a.opt.count("pixel-order") ? a.opt.at("pixel-order") : "row");
    m.save(need(a, "out"));
    std::cerr << "imported " << m.graph().num_nodes() << " nodes, " << m.graph().num_edges() << " couplings -> " << a.opt.at("out")
              << "\n";
    return 0;
  }
  pbit::DbmConfig cfg = pbit::parse_dbm_config(pbit::read_json_file(need(a, "config")));
  if (sub == "train") {
    only(a, {"config", "resume", "time-budget", "out", "lease", "lease-seconds", "burn-in"});
    if (a.opt.count("time-budget")) cfg.time_budget_s = number_opt(a, "time-budget", 0, 1e9);
    if (a.opt.count("out")) cfg.output_dir = a.opt.at("out");
    if (a.opt.count("resume") && a.opt.count("lease")) throw pbit::InvalidArgument("give --resume or --lease, not both");
    if ((a.opt.count("lease-seconds") || a.opt.count("burn-in")) && !a.opt.count("lease")) {
      throw pbit::InvalidArgument("--lease-seconds and --burn-in go with --lease DIR");
    }
    const pbit::ImageDataset train = dbm_data(cfg, "train"), test = dbm_data(cfg, "test");
    pbit::SparseDbm model = pbit::SparseDbm::create(cfg, train.rows, train.cols);
    pbit::DbmTrainer trainer(model, cfg, train);
    if (a.opt.count("resume")) {
      trainer.load_checkpoint(trainer.checkpoint_path());
      std::cerr << "resuming at epoch " << trainer.epoch() + 1 << ", batch " << trainer.batch_in_epoch() << " (" << trainer.updates()
                << " updates done)\n";
    }
    // A lease (docs/BENCHMARKING.md, model runs): the run continues from DIR/model_checkpoint.bin when
    // there is one, trains for at most --lease-seconds, and leaves its model-only checkpoint there.
    const std::string lease_dir = a.opt.count("lease") ? a.opt.at("lease") : "";
    const std::string lease_ckpt = lease_dir + "/model_checkpoint.bin";
    nlohmann::json leases = nlohmann::json::array(), lease;
    if (!lease_dir.empty()) {
      pbit::make_directories(lease_dir);
      const int64_t burn_in = a.opt.count("burn-in") ? int_opt(a, "burn-in", 0, 1000000000) : 1000;
      if (std::filesystem::exists(lease_ckpt)) {
        leases = trainer.load_model_checkpoint(lease_ckpt, burn_in);
        std::cerr << "lease " << leases.size() + 1 << ": continuing at epoch " << trainer.epoch() + 1 << ", batch "
                  << trainer.batch_in_epoch() << " (" << trainer.updates() << " updates, " << trainer.train_seconds()
                  << " s of training so far); chains re-initialised and burnt in for " << burn_in << " sweeps\n";
      } else {
        std::cerr << "lease 1: starting afresh (no " << lease_ckpt << ")\n";
      }
      if (a.opt.count("lease-seconds")) trainer.set_lease_seconds(number_opt(a, "lease-seconds", 0.001, 1e9));
      lease = {{"lease", leases.size() + 1}, {"utc_start", utc_now()}, {"git_sha", pbit::build_git_sha()},
               {"device", pbit::backend_device_name(pbit::backend_from_string(cfg.backend))},
               {"burn_in_sweeps", leases.empty() ? 0 : burn_in}, {"updates_from", trainer.updates()},
               {"train_s_from", trainer.train_seconds()}, {"flips_from", trainer.total_flips()}};
    }
    std::cerr << "sparse DBM: " << model.graph().num_nodes() << " nodes (" << model.visible().size() << " visible, "
              << model.labels().size() << " label, " << model.roles().of("hidden").size() << " hidden), " << model.num_parameters()
              << " parameters, " << train.size() << " training images, backend " << pbit::to_string(pbit::backend_from_string(cfg.backend))
              << "\n";
    const auto hist = trainer.run(&test);
    auto save_lease = [&](const nlohmann::json& extra) {
      if (lease_dir.empty()) return;
      nlohmann::json l = lease;
      if (extra.is_object()) l.update(extra);
      l["utc_end"] = utc_now();
      l["updates_to"] = trainer.updates();
      l["train_s_total"] = trainer.train_seconds();
      l["flips_total"] = trainer.total_flips();
      l["finished"] = trainer.finished();
      nlohmann::json all = leases;
      all.push_back(l);
      trainer.save_model_checkpoint(lease_ckpt, all);
      pbit::write_json_file(lease_dir + "/leases.json", all);
    };
    save_lease({});  // the training is safe before the evaluation starts
    if (trainer.lease_ended()) {
      std::cerr << "lease over after " << trainer.updates() << " updates (" << trainer.train_seconds()
                << " s of training in all); the run continues with the next --lease call\n";
    }
    model.save(cfg.output_dir + "/model.json");
    const pbit::DbmEval ev = pbit::evaluate_dbm(model, cfg, test, 0, true);
    nlohmann::json out = eval_json(ev);
    const double train_wall = trainer.train_seconds(), flips = trainer.total_flips();
    out["train_wall_s"] = train_wall;
    out["train_flips"] = flips;
    out["train_updates"] = trainer.updates();
    out["train_finished"] = trainer.finished();
    out["stopped_by_time_budget"] = trainer.out_of_time();
    out["train_flips_per_ns"] = hist.empty() ? 0.0 : hist.back().flips_per_ns;
    out["num_parameters"] = model.num_parameters();
    out["backend"] = pbit::to_string(pbit::backend_from_string(cfg.backend));
    out["device"] = pbit::backend_device_name(pbit::backend_from_string(cfg.backend));
    out["git_sha"] = pbit::build_git_sha();
    out["config"] = cfg.source;
    save_lease({{"test_accuracy", ev.accuracy}, {"test_images", ev.images}, {"eval_sweeps_per_image", cfg.eval.schedule().total_sweeps()}});
    if (!lease_dir.empty()) out["leases"] = pbit::read_json_file(lease_dir + "/leases.json");
    write_generation(model, cfg, cfg.output_dir + "/generated.png", out);
    pbit::write_json_file(cfg.output_dir + "/results.json", out);
    std::printf("test accuracy %.4f on %lld images; training %.1f s at %.3g flips/ns (%s); results in %s/results.json\n",
                ev.accuracy, static_cast<long long>(ev.images), train_wall, out["train_flips_per_ns"].get<double>(),
                out["device"].get<std::string>().c_str(), cfg.output_dir.c_str());
    return 0;
  }
  const pbit::SparseDbm model = pbit::SparseDbm::load(need(a, "model"));
  if (sub == "eval") {
    only(a, {"config", "model", "limit", "first", "chains", "sweeps", "warmup-fraction", "out"});
    // The result goes to stdout, and with --out also to FILE (written whole or not at all).
    auto emit = [&](const nlohmann::json& j) {
      std::cout << j.dump(2) << "\n";
      if (a.opt.count("out")) pbit::write_json_file(a.opt.at("out"), j);
    };
    const pbit::ImageDataset test = dbm_data(cfg, "test");
    const int64_t limit = a.opt.count("limit") ? int_opt(a, "limit", 0, 1000000000) : 0;
    const int64_t first = a.opt.count("first") ? int_opt(a, "first", 0, test.size() - 1) : 0;
    if (a.opt.count("chains")) cfg.eval.chains = static_cast<int32_t>(int_opt(a, "chains", 1, 1 << 20));
    if (a.opt.count("warmup-fraction") && !a.opt.count("sweeps")) throw pbit::InvalidArgument("--warmup-fraction goes with --sweeps");
    if (!a.opt.count("sweeps")) {
      const pbit::DbmEval ev = pbit::evaluate_dbm(model, cfg, test, limit, true, first);
      emit(eval_json(ev));
      return 0;
    }
    // Accuracy against inference sweeps per image (how well the model mixes): for each budget S, a
    // fraction (--warmup-fraction, default 0.5) is warm-up and the rest is sampled every
    // eval.steps_per_sample sweeps; the warm-up takes the remainder, so exactly S sweeps run.
    const double warm_frac = a.opt.count("warmup-fraction") ? number_opt(a, "warmup-fraction", 0, 0.99) : 0.5;
    const int64_t step = cfg.eval.steps_per_sample;
    std::vector<int64_t> budgets;
    for (const std::string& tok : split_list(a.opt.at("sweeps"))) {
      int64_t total = 0;
      if (!pbit::detail::parse_number_ok(tok, total) || total < step || total > (int64_t{1} << 40)) {
        throw pbit::InvalidArgument("--sweeps takes a comma-separated list of sweep counts >= " + std::to_string(step) +
                                    " (eval.steps_per_sample), got '" + tok + "'");
      }
      budgets.push_back(total);
    }
    nlohmann::json curve = nlohmann::json::array();
    for (const int64_t total : budgets) {
      pbit::DbmConfig c = cfg;
      c.eval.samples = std::max<int64_t>(1, static_cast<int64_t>((1.0 - warm_frac) * static_cast<double>(total)) / step);
      c.eval.warmup = total - c.eval.samples * step;
      const pbit::DbmEval ev = pbit::evaluate_dbm(model, c, test, limit, false, first);
      std::cerr << total << " sweeps per image (" << c.eval.warmup << " warm-up + " << c.eval.samples << " x " << step << ") x "
                << c.eval.chains << " chains: test accuracy " << ev.accuracy << " on images " << ev.first << ".."
                << ev.first + ev.images - 1 << " (" << ev.wall_s << " s)\n";
      nlohmann::json r = eval_json(ev);
      r.update({{"sweeps_per_image", c.eval.warmup + c.eval.samples * step}, {"warmup", c.eval.warmup},
                {"samples", c.eval.samples}, {"steps_per_sample", step}, {"chains", c.eval.chains}});
      curve.push_back(r);
    }
    emit(nlohmann::json{{"model", a.opt.at("model")}, {"curve", curve}});
    return 0;
  }
  if (sub == "generate") {
    only(a, {"config", "model", "out"});
    nlohmann::json out;
    write_generation(model, cfg, need(a, "out"), out);
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  throw pbit::InvalidArgument("unknown 'pbit dbm' subcommand '" + sub + "' (train, eval, generate, import)");
}

// ---- DTM / MEBM

int cmd_dtm(int argc, char** argv) {
  if (argc < 3 || std::strcmp(argv[2], "train")) throw pbit::InvalidArgument("usage: pbit dtm train --config FILE [--steps T] [--acp on|off] [--out DIR] [--time-budget S] [--gen-sweeps N] [--resume | --lease DIR [--lease-seconds S]]");
  const Args a = parse_args(argc, argv, 3, "dtm train");
  only(a, {"config", "steps", "acp", "out", "resume", "time-budget", "gen-sweeps", "lease", "lease-seconds"});
  if (a.opt.count("resume") && a.opt.count("lease")) throw pbit::InvalidArgument("give --resume or --lease, not both");
  if (a.opt.count("lease-seconds") && !a.opt.count("lease")) throw pbit::InvalidArgument("--lease-seconds goes with --lease DIR");
  pbit::DtmConfig cfg = pbit::parse_dtm_config(pbit::read_json_file(need(a, "config")));
  if (a.opt.count("time-budget")) cfg.time_budget_s = number_opt(a, "time-budget", 0, 1e9);
  if (a.opt.count("gen-sweeps")) cfg.gen_sweeps = int_opt(a, "gen-sweeps", 1, 1000000000);
  if (a.opt.count("steps")) cfg.steps = static_cast<int32_t>(int_opt(a, "steps", 1, 1 << 20));
  if (a.opt.count("acp")) {
    if (a.opt.at("acp") != "on" && a.opt.at("acp") != "off") throw pbit::InvalidArgument("--acp takes on or off");
    cfg.acp = a.opt.at("acp") == "on";
  }
  if (a.opt.count("out")) cfg.output_dir = a.opt.at("out");
  const pbit::ImageDataset train = pbit::pool_images(pbit::load_dataset(cfg.dataset, "train", cfg.data_dir, cfg.train_limit), cfg.pool);
  const pbit::ImageDataset test = pbit::pool_images(pbit::load_dataset(cfg.dataset, "test", cfg.data_dir), cfg.pool);
  pbit::Dtm model(cfg, train.rows, train.cols);
  if (a.opt.count("resume")) {
    model.load_checkpoint(model.checkpoint_path());
    std::cerr << "resuming after epoch " << model.epoch() << "\n";
  }
  // A lease: continue from DIR/model_checkpoint.bin if there is one; start no epoch that would end
  // past --lease-seconds (judged by the last epoch); leave the checkpoint there after every epoch.
  const std::string lease_dir = a.opt.count("lease") ? a.opt.at("lease") : "";
  const std::string lease_ckpt = lease_dir + "/model_checkpoint.bin";
  const double lease_s = a.opt.count("lease-seconds") ? number_opt(a, "lease-seconds", 0.001, 1e9) : 0;
  nlohmann::json leases = nlohmann::json::array(), lease;
  auto mono = [] { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); };
  const double call_t0 = mono();
  auto trained = [&] {
    double w = 0, f = 0;
    for (const auto& h : model.history()) w += h.wall_s, f += h.flips;
    return std::make_pair(w, f);
  };
  if (!lease_dir.empty()) {
    pbit::make_directories(lease_dir);
    if (std::filesystem::exists(lease_ckpt)) {
      leases = model.load_model_checkpoint(lease_ckpt);
      std::cerr << "lease " << leases.size() + 1 << ": continuing after epoch " << model.epoch()
                << "; chains re-initialised (each batch's warm-up burns them in)\n";
    } else {
      std::cerr << "lease 1: starting afresh (no " << lease_ckpt << ")\n";
    }
    lease = {{"lease", leases.size() + 1}, {"utc_start", utc_now()}, {"git_sha", pbit::build_git_sha()},
             {"device", pbit::backend_device_name(pbit::backend_from_string(cfg.backend))}, {"epochs_from", model.epoch()},
             {"train_s_from", trained().first}, {"flips_from", trained().second}};
  }
  auto save_lease = [&](const nlohmann::json& extra) {
    if (lease_dir.empty()) return;
    nlohmann::json l = lease;
    if (extra.is_object()) l.update(extra);
    l["utc_end"] = utc_now();
    l["epochs_to"] = model.epoch();
    l["train_s_total"] = trained().first;
    l["flips_total"] = trained().second;
    l["finished"] = model.finished();
    nlohmann::json all = leases;
    all.push_back(l);
    model.save_model_checkpoint(lease_ckpt, all);
    pbit::write_json_file(lease_dir + "/leases.json", all);
  };
  std::cerr << (cfg.steps == 1 ? "MEBM" : "DTM with T = " + std::to_string(cfg.steps)) << " on " << cfg.topology << " ("
            << model.graph().num_nodes() << " nodes, " << model.data_nodes().size() << " data), " << train.size()
            << " training images, ACP " << (cfg.acp ? "on" : "off") << "\n";
  // Quality: feature-FID with pbit's own classifier network (trained once and cached), after every
  // epoch on a small sample set (the FID over training) and at the end on gen_samples samples.
  double net_acc = 0;
  const std::string cache = "out/cache/feature_net_" + cfg.dataset + "_pool" + std::to_string(cfg.pool) + ".bin";
  const pbit::FeatureNet net = pbit::FeatureNet::cached(cache, train, cfg.threshold, 3, 1, &net_acc, &test);
  const auto test_probe = pbit::spin_images(test, cfg.threshold, 1000);
  double last_epoch_s = 0;
  while (model.epoch() < cfg.epochs && !model.out_of_time()) {
    if (lease_s > 0 && last_epoch_s > 0 && mono() - call_t0 + last_epoch_s > lease_s) {
      std::cerr << "lease over: epoch " << model.epoch() + 1 << " would end past " << lease_s
                << " s; the run continues with the next --lease call\n";
      break;
    }
    const double e0 = mono();
    model.train(train, 1);
    const double f = pbit::feature_frechet(net, model.generate(256).back(), test_probe);
    model.set_feature_fid(model.epoch(), f);
    std::cerr << "epoch " << model.epoch() << ": feature-FID " << f << " (256 samples)\n";
    save_lease({});
    last_epoch_s = mono() - e0;
  }
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
    std::cerr << "class-conditional samples: the feature network reads the requested class in "
              << 100.0 * agree / pred.size() << "% of them\n";
  }
  const auto test_imgs = pbit::spin_images(test, cfg.threshold, std::max<int64_t>(cfg.gen_samples, 2000));
  const auto train_imgs = pbit::spin_images(train, cfg.threshold, std::max<int64_t>(cfg.gen_samples, 2000));
  const double fid = pbit::feature_frechet(net, samples, test_imgs);
  const double floor = pbit::feature_frechet(net, train_imgs, test_imgs);
  const auto test_small = pbit::spin_images(test, cfg.threshold, 500), train_small = pbit::spin_images(train, cfg.threshold, 5000);
  std::vector<std::vector<int8_t>> gen_small(samples.begin(), samples.begin() + std::min<size_t>(samples.size(), 500));
  const double ham_gen = pbit::mean_nearest_hamming(gen_small, train_small), ham_test = pbit::mean_nearest_hamming(test_small, train_small);
  pbit::make_directories(cfg.output_dir);
  const std::vector<std::vector<int8_t>> shown(samples.begin(), samples.begin() + std::min<size_t>(samples.size(), 160));
  pbit::write_spin_grid_png(cfg.output_dir + "/generated.png", shown, train.rows, train.cols, 16);
  std::vector<std::vector<int8_t>> tr;  // rows: samples, columns: x^T ... x^0
  for (int32_t s = 0; s < std::min<int32_t>(8, cfg.gen_samples); ++s)
    for (const auto& level : traj) tr.push_back(level[s]);
  pbit::write_spin_grid_png(cfg.output_dir + "/trajectory.png", tr, train.rows, train.cols, static_cast<int32_t>(traj.size()));
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
      {"feature_fid", fid}, {"feature_fid_real_floor", floor}, {"feature_net_test_accuracy", net_acc},
      {"samples", samples.size()}, {"sweeps_per_sample", sweeps_per_sample}, {"sweeps_per_step", cfg.gen_sweeps},
      {"topology", cfg.topology}, {"num_nodes", model.graph().num_nodes()},
      {"samples_per_s", samples.size() / gen_s}, {"generation_wall_s", gen_s},
      {"mean_nearest_train_hamming_generated", ham_gen}, {"mean_nearest_train_hamming_test", ham_test},
      {"train_wall_s", wall}, {"train_flips_per_ns", wall > 0 ? flips / wall / 1e9 : 0.0},
      {"epochs_trained", model.epoch()}, {"stopped_by_time_budget", model.out_of_time() && model.epoch() < cfg.epochs},
      {"train_finished", model.finished()},
      {"final_autocorrelation", last_steps}, {"feature_fid_over_training", fid_history},
      {"label_agreement", label_agreement},
      {"backend", pbit::to_string(pbit::backend_from_string(cfg.backend))},
      {"device", pbit::backend_device_name(pbit::backend_from_string(cfg.backend))},
      {"git_sha", pbit::build_git_sha()}, {"config", cfg.source}};
  save_lease({{"feature_fid", fid}, {"samples", samples.size()}});
  if (!lease_dir.empty()) out["leases"] = pbit::read_json_file(lease_dir + "/leases.json");
  pbit::write_json_file(cfg.output_dir + "/results.json", out);
  std::printf("%s T=%d: feature-FID %.3f (real-data floor %.3f; feature net %.1f%% test accuracy) at %lld sweeps per sample, "
              "%.1f samples/s; nearest-train Hamming %.1f (test images: %.1f); training %.1f s at %.3g flips/ns -> %s\n",
              cfg.steps == 1 ? "MEBM" : "DTM", cfg.steps, fid, floor, 100 * net_acc, static_cast<long long>(sweeps_per_sample),
              samples.size() / gen_s, ham_gen, ham_test, wall, wall > 0 ? flips / wall / 1e9 : 0.0, cfg.output_dir.c_str());
  return 0;
}

int cmd_compare(const Args& a) {
  only(a, {"suite", "out"});
  pbit::CompareSuite suite = pbit::parse_compare_suite(pbit::read_json_file(need(a, "suite")));
  if (a.opt.count("out")) suite.output_dir = a.opt.at("out");
  const nlohmann::json res = pbit::run_compare(suite, true);
  for (const std::string& f : pbit::write_compare_outputs(res, suite.output_dir)) std::cerr << "wrote " << f << "\n";
  std::ifstream md(suite.output_dir + "/results.md");
  std::cout << md.rdbuf();
  return 0;
}

int cmd_info(const Args& a) {
  only(a, {"graph"});
  const pbit::GraphFile gf = pbit::read_graph_file(need(a, "graph"));
  const pbit::Graph& g = gf.graph;
  std::map<int32_t, int64_t> hist;
  for (int32_t i = 0; i < g.num_nodes(); ++i) ++hist[g.degree(i)];
  nlohmann::json h;
  for (const auto& [d, c] : hist) h[std::to_string(d)] = c;
  std::cout << nlohmann::json{{"num_nodes", g.num_nodes()}, {"num_edges", g.num_edges()}, {"max_degree", g.max_degree()},
                              {"degree_histogram", h}}
                   .dump(2)
            << "\n";
  return 0;
}

int cmd_backends() {
  for (pbit::Backend b : pbit::all_backends()) {
    std::cout << pbit::to_string(b) << ": " << (pbit::backend_compiled(b) ? "compiled" : "not compiled") << ", "
              << (pbit::backend_available(b) ? "available on " + pbit::backend_device_name(b)
                                             : "unavailable: " + pbit::backend_unavailable_reason(b))
              << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    bool help = argc >= 2 && !std::strcmp(argv[1], "help");
    for (int k = 1; k < argc; ++k) help = help || !std::strcmp(argv[k], "--help") || !std::strcmp(argv[k], "-h");
    if (help) {  // anywhere, e.g. `pbit dbm eval --help`
      std::cout << kUsage;
      return 0;
    }
    if (argc < 2) throw pbit::InvalidArgument("no command given\n\n" + std::string(kUsage));
    if (!std::strcmp(argv[1], "dbm")) return cmd_dbm(argc, argv);
    if (!std::strcmp(argv[1], "dtm")) return cmd_dtm(argc, argv);
    const Args a = parse_args(argc, argv, 2, argv[1]);
    if (a.cmd == "sample") return cmd_sample(a);
    if (a.cmd == "color") return cmd_color(a);
    if (a.cmd == "info") return cmd_info(a);
    if (a.cmd == "graph") return cmd_graph(a);
    if (a.cmd == "compare") return cmd_compare(a);
    if (a.cmd == "backends") return cmd_backends();
    if (a.cmd == "version") {
      std::cout << "pbit " << pbit::build_git_sha() << " (" << pbit::build_type() << ", " << pbit::build_compiler()
                << (pbit::build_has_cuda() ? ", CUDA" : ", no CUDA") << ")\n";
      return 0;
    }
    throw pbit::InvalidArgument("unknown command '" + a.cmd + "'\n\n" + kUsage);
  } catch (const pbit::Error& e) {
    std::cerr << "pbit: error: " << e.what() << "\n";
    return 2;
  } catch (const std::invalid_argument& e) {  // a std::sto* left somewhere on a malformed number
    std::cerr << "pbit: error: malformed number in an option (" << e.what() << ")\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "pbit: internal error: " << e.what() << "\n";
    return 3;
  }
}
