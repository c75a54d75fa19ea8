// pbit sample, color, graph, info, backends, version: graphs and plain sampling.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

#include "cli.hpp"
#include "util/binary_io.hpp"
#include "util/file_io.hpp"
#include "util/memory.hpp"
#include "util/progress.hpp"
#include "pbit/build_info.hpp"
#include "pbit/core/config.hpp"
#include "pbit/core/io.hpp"
#include "pbit/core/sampler.hpp"
#include "pbit/core/tempering.hpp"
#include "pbit/dist/comm.hpp"
#include "pbit/hardware/roles.hpp"
#include "pbit/hardware/topology.hpp"

namespace pbit::cli {

void emit(const std::string& out, const nlohmann::json& j) {
  if (out.empty()) {
    std::cout << json_text(j);
  } else {
    write_json_file(out, j);
    std::cerr << "wrote " << printable(out) << "\n";
  }
}

namespace {

std::vector<int32_t> degrees(const Graph& g) {
  std::vector<int32_t> d(static_cast<size_t>(g.num_nodes()));
  for (int32_t i = 0; i < g.num_nodes(); ++i) d[i] = g.degree(i);
  return d;
}

const char* kTopologies =
    "pegasus:M, zephyr:M[:T], chimera:M[:N[:T]], grid:L:PRESET[:torus|open] (G8, G12, G16, G20, G24, G12r, G16r, G20r) or "
    "grid:L:a,b;c,d[:torus|open], lattice:L[:torus|open], king:L[:torus|open] (grids and lattices are tori by default, "
    "king graphs open), regular:N:D[:SEED] (docs/TOPOLOGIES.md)";

/// Whether a run of `sweeps` sweeps of `flips_per_sweep` flips takes more than a few seconds, and
/// so gets a status line: 2e9 flips are about a second on two CPU cores, and on a small graph each
/// sweep's fixed cost (about 0.2 us, 0.7 tempered: helper-116 ran 1e9 sweeps of 2 nodes for minutes
/// without a word) makes 1e7 sweeps a second or more.
bool long_run(double flips_per_sweep, int64_t sweeps) { return flips_per_sweep * static_cast<double>(sweeps) > 2e9 || sweeps > 10'000'000; }

/// The observations of a sample run as JSON, with the sweeps its snapshots were taken at (the
/// config's list, sorted: the order of `snapshots`).
nlohmann::json sample_json(const Observations& obs, const Graph& g, const SampleConfig& cfg) {
  nlohmann::json j = observations_to_json(obs, g);
  // Asked for and no sample taken (samples 0): an empty list, as Python's (0, B) array, not no key.
  if (cfg.observe.energy && !j.contains("energy")) j["energy"] = nlohmann::json::array();
  if (!cfg.observe.snapshot_sweeps.empty()) {
    std::vector<int64_t> at = cfg.observe.snapshot_sweeps;
    std::sort(at.begin(), at.end());
    j["snapshot_sweeps"] = at;
  }
  return j;
}

/// pbit sample with a tempering section: B chains of R replicas (core/tempering.hpp), the target
/// replicas observed; the JSON gains the ladder, the swap acceptance per pair and the round trips.
/// Under MPI ranks each rank tempers its share `mine` of the chains (their global ids, the ladder
/// adapted from every rank's swap counts), so the output is one process's.
int sample_tempered(const SampleConfig& cfg, const GraphFile& gf, const Coloring& coloring, SamplerOptions opt, const dist::Range& mine,
                    const std::vector<int8_t>& clamp, const std::vector<float>& field, const std::string& out) {
  const int ranks = dist::size();
  opt.first_chain = static_cast<uint32_t>(mine.first);
  TemperedSampler ts(gf.graph, coloring, static_cast<int32_t>(mine.count), cfg.tempering, opt);
  if (ranks > 1) ts.set_shard_sum([](std::span<int64_t> v) { dist::allreduce_sum(v); });
  if (!cfg.clamp_nodes.empty()) ts.set_clamp(cfg.clamp_nodes, clamp);
  if (!cfg.field_values.empty()) ts.set_field(cfg.field_nodes, field);
  const int32_t R = ts.num_replicas();
  if (dist::rank() == 0) {
    std::cerr << "pbit sample: " << gf.graph.num_nodes() << " nodes, " << coloring.num_colors() << " colors, " << cfg.chains
              << " chains x " << R << " replicas" << (ranks > 1 ? " over " + std::to_string(ranks) + " ranks" : "") << " (beta "
              << cfg.tempering.betas.front() << " .. " << cfg.tempering.betas.back() << ", " << cfg.tempering.scheme << " swaps every "
              << cfg.tempering.sweeps_per_round << " sweeps), " << cfg.schedule.total_sweeps() << " sweeps on " << to_string(opt.backend)
              << "\n";
  }
  // The status line of a plain run's size (every replica's flips count); progress_muted() keeps it to rank 0.
  std::unique_ptr<detail::Progress> bar;
  if (long_run(static_cast<double>(cfg.chains) * R * gf.graph.num_nodes(), cfg.schedule.total_sweeps())) {
    bar = std::make_unique<detail::Progress>("sample", cfg.schedule.total_sweeps());
    ts.set_progress([&bar](int64_t done, int64_t) { bar->update(done, "sweeps"); });
  }
  const auto t0 = std::chrono::steady_clock::now();
  const Observations obs =
      dist::combine(ts.run(cfg.schedule, cfg.observe), cfg.chains, gf.graph.num_nodes(), cfg.observe.readout_groups);
  const double wall = dist::allreduce_max(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  // The swap counts of every rank's chains: attempts and accepts per pair, and the round trips.
  const TemperingStats& st = ts.stats();
  std::vector<int64_t> counts(st.attempts);
  counts.insert(counts.end(), st.accepts.begin(), st.accepts.end());
  counts.push_back(st.round_trips);
  dist::allreduce_sum(counts);  // (samples_while_adapting is the same on every rank: the ranks adapt together)
  if (dist::rank() != 0) return 0;  // rank 0 writes the run's output
  TemperingStats all;
  all.attempts.assign(counts.begin(), counts.begin() + (R - 1));
  all.accepts.assign(counts.begin() + (R - 1), counts.begin() + 2 * (R - 1));
  const int64_t adapted_at = TemperedSampler::adaptation_sweeps(cfg.tempering);
  if (st.samples_while_adapting > 0 && adapted_at > cfg.schedule.total_sweeps()) {  // (it said "after sweep 100" of a 50-sweep run)
    std::cerr << "warning: the run's " << cfg.schedule.total_sweeps() << " sweeps ended before the ladder's last adaptation (after sweep "
              << adapted_at << "): its samples, and the output's betas, are of a ladder still adapting; give schedule.warmup at least "
              << adapted_at << " sweeps\n";
  } else if (st.samples_while_adapting > 0) {
    std::cerr << "warning: " << st.samples_while_adapting << " of the " << cfg.schedule.samples << " samples were taken while the ladder "
              << "still adapted (its last adaptation is after sweep " << adapted_at
              << "): they are not all from the final ladder's distribution; give schedule.warmup at least that many sweeps\n";
  }
  if (st.rounds == 0) {
    std::cerr << "warning: no swap round ran (tempering.sweeps_per_round " << cfg.tempering.sweeps_per_round << " > the run's "
              << cfg.schedule.total_sweeps() << " sweeps): this was plain Gibbs sampling at each beta, and swap_acceptance "
              << "is null for want of attempts\n";
  }
  nlohmann::json j = sample_json(obs, gf.graph, cfg);
  const double flips = static_cast<double>(cfg.chains) * R * gf.graph.num_nodes() * obs.sweeps;  // every replica's
  nlohmann::json betas = nlohmann::json::array();  // each float's own digits (0.9, not 0.8999999761581421)
  for (float b : ts.betas()) betas.push_back(detail::float_json(b));
  j["tempering"] = {{"betas", betas},  // as adapted, when adapt_rounds > 0
                    {"adapt_rounds", cfg.tempering.adapt_rounds},
                    {"scheme", cfg.tempering.scheme},
                    {"sweeps_per_round", cfg.tempering.sweeps_per_round},
                    {"rounds", st.rounds},
                    {"samples_while_adapting", st.samples_while_adapting},
                    {"round_trips", counts.back()}};
  // A pair never attempted has no acceptance: null, not the 0 of a pair that refused every swap
  // (deo tries the odd pairs from the second round on: helper-116). The counts say how much each rests on.
  j["tempering"].update(swap_statistics_json(all.attempts, all.accepts));
  j["run"] = {{"backend", to_string(opt.backend)},
              {"device", backend_device_name(opt.backend, opt.num_threads)},
              {"kernel", ts.kernel_description()},
              {"seed", cfg.seed},
              {"contract", to_string(cfg.contract)},
              {"threads", cfg.num_threads},
              {"num_colors", coloring.num_colors()},
              {"replicas", R},
              {"ranks", ranks},
              {"wall_s", wall},
              {"flips_per_ns", wall > 0 ? flips / (wall * 1e9) : 0.0},
              {"git_sha", build_git_sha()}};
  emit(out, j);
  return 0;
}

void add_sample(Commands& c) {
  struct Opt {
    std::string graph, topology, config, out, backend;
    int threads = -1;
  };
  auto o = std::make_shared<Opt>();
  CLI::App* s = c.app->add_subcommand("sample", "Gibbs-samples a graph as a JSON config says and writes the observed statistics as JSON");
  auto* g = s->add_option("--graph", o->graph, "graph file: FILE.json (any case) is graph JSON, anything else an edge list");
  s->add_option("--topology", o->topology, std::string("a generated topology instead (couplings 1, biases 0): ") + kTopologies)->excludes(g);
  s->add_option("--config", o->config, "sampling config (configs/sample_example.json)")->required();
  s->add_option("--out", o->out, "output JSON (default: stdout)");
  s->add_option("--backend", o->backend, "replaces the config's backend: reference, cpu, cuda, packed or best");
  s->add_option("--threads", o->threads, "cpu and packed backends: OpenMP threads, at most 4 per core (replaces the config's threads; 0 = OpenMP's default)")
      ->check(number_in<int>(0, 4096));
  s->footer("Config keys (chains, seed, backend, contract, threads, schedule, beta, clamp, field, observe, hardware, tempering): docs/CLI.md, "
            "'Sampling config'.");
  c.add(s, [o] {
    refuse_output_over_input("--out", o->out, {{"--graph", o->graph}, {"--config", o->config}});
    GraphFile gf;
    if (!o->topology.empty()) {
      const Topology t = make_topology(o->topology);
      gf = GraphFile{t.graph, t.colors};
    } else if (!o->graph.empty()) {
      gf = read_graph_file(o->graph);
      if (gf.graph.num_nodes() == 0) throw InvalidGraph("'" + o->graph + "' has no nodes: nothing to sample (an empty file?)");
    } else {
      throw InvalidArgument("'pbit sample' needs --graph FILE or --topology SPEC");
    }
    SampleConfig cfg = parse_sample_config(read_json_file(o->config));
    check_sample_config(cfg, gf.graph.num_nodes());  // before anything runs, naming the config's keys
    const ObserverSpec& seen = cfg.observe;
    if (!seen.moments && !seen.energy && seen.readout_groups.empty() && seen.snapshot_sweeps.empty() && !cfg.tempered && dist::rank() == 0) {
      std::cerr << "note: the config observes nothing (observe.moments, energy, readout_groups and snapshot_sweeps are all off): "
                   "the result holds only the run's shape\n";
    }
    if (!o->backend.empty()) cfg.backend = o->backend;
    if (o->threads >= 0) cfg.num_threads = o->threads;
    SamplerOptions opt;
    opt.backend = backend_from_string(cfg.backend);
    opt.seed = cfg.seed;
    opt.num_threads = cfg.num_threads;
    opt.contract = cfg.contract;
    opt.hardware = cfg.hardware;
    const Coloring coloring = gf.coloring ? Coloring(gf.graph, *gf.coloring) : color_graph(gf.graph);
    if (!o->out.empty() && dist::rank() == 0) check_writable(o->out);  // rank 0 writes
    // The JSON output holds every per-chain number as a JSON value and as text, about 80 bytes each;
    // rank 0 alone builds it (another rank with less memory refused a run it would not write).
    if (dist::rank() == 0) {
      const double B = cfg.chains, N = gf.graph.num_nodes(), G = static_cast<double>(cfg.observe.readout_groups.size());
      const double numbers = (cfg.observe.energy ? static_cast<double>(cfg.schedule.samples) * B : 0.0) +
                             static_cast<double>(cfg.observe.snapshot_sweeps.size()) * B * N + 2.0 * B * G +
                             (cfg.observe.moments ? 4.0 * (N + static_cast<double>(gf.graph.num_edges())) : 0.0);
      detail::check_memory(80.0 * numbers, "the JSON output of this run (" + std::to_string(cfg.schedule.samples) + " samples, " +
                                               std::to_string(cfg.observe.snapshot_sweeps.size()) + " snapshots of " +
                                               std::to_string(cfg.chains) + " chains: " + std::to_string(static_cast<int64_t>(numbers)) +
                                               " numbers)");
    }
    // Under mpirun each rank samples a contiguous share of the chains (their global ids: the same
    // random numbers as one process) and rank 0 writes the combined result (docs/SCALING.md).
    const int ranks = dist::size();
    if (ranks > 1) {
      dist::check_same(detail::fnv1a(read_json_file(o->config).dump() + "|" + graph_to_json(gf.graph, &coloring.colors()).dump() + "|" +
                                     cfg.backend + "|" + std::to_string(cfg.num_threads)),
                       "the sampling config, the graph and the options");
    }
    const dist::Range mine = dist::share(cfg.chains, dist::rank(), ranks);
    auto my_rows = [&](const auto& v, size_t width) {  // a per-chain (B x width) list: this rank's rows
      using T = typename std::decay_t<decltype(v)>::value_type;
      if (ranks == 1 || v.size() != width * static_cast<size_t>(cfg.chains)) return std::vector<T>(v.begin(), v.end());
      return std::vector<T>(v.begin() + static_cast<ptrdiff_t>(mine.first * width), v.begin() + static_cast<ptrdiff_t>((mine.first + mine.count) * width));
    };
    const std::vector<int8_t> clamp = my_rows(cfg.clamp_values, cfg.clamp_nodes.size());
    const std::vector<float> field =
        my_rows(cfg.field_values, cfg.field_nodes.empty() ? static_cast<size_t>(gf.graph.num_nodes()) : cfg.field_nodes.size());
    // Setting up a billion chains takes a while before the first line below: say so.
    const double state = static_cast<double>(cfg.chains) * (cfg.tempered ? static_cast<double>(cfg.tempering.betas.size()) : 1.0) *
                         gf.graph.num_nodes();
    if (dist::rank() == 0 && state > 1e9) {
      std::cerr << "pbit sample: setting up " << cfg.chains << " chains" << (cfg.tempered ? " x " + std::to_string(cfg.tempering.betas.size()) + " replicas" : "")
                << " of " << gf.graph.num_nodes() << " nodes (" << state << " spins)...\n";
    }
    if (cfg.tempered) return sample_tempered(cfg, gf, coloring, opt, mine, clamp, field, o->out);
    opt.first_chain = static_cast<uint32_t>(mine.first);
    Sampler sampler(gf.graph, coloring, static_cast<int32_t>(mine.count), opt);
    if (!cfg.clamp_nodes.empty()) sampler.set_clamp(cfg.clamp_nodes, clamp);
    if (!cfg.field_values.empty()) sampler.set_field(cfg.field_nodes, field);
    if (dist::rank() == 0) {
      std::cerr << "pbit sample: " << gf.graph.num_nodes() << " nodes, " << gf.graph.num_edges() << " edges, "
                << coloring.num_colors() << " colors, " << cfg.chains << " chains" << (ranks > 1 ? " over " + std::to_string(ranks) + " ranks" : "")
                << ", " << cfg.schedule.total_sweeps() << " sweeps on " << sampler.kernel_description() << "\n";
    }
    // A status line for runs of more than a few seconds; progress_muted() keeps it to rank 0.
    std::unique_ptr<detail::Progress> bar;
    if (long_run(static_cast<double>(cfg.chains) * gf.graph.num_nodes(), cfg.schedule.total_sweeps())) {
      bar = std::make_unique<detail::Progress>("sample", cfg.schedule.total_sweeps());
      sampler.set_progress([&bar](int64_t done, int64_t) { bar->update(done, "sweeps"); });
    }
    const auto t0 = std::chrono::steady_clock::now();
    const Observations obs = dist::combine(sampler.run(cfg.schedule, cfg.beta, cfg.observe), cfg.chains, gf.graph.num_nodes(),
                                           cfg.observe.readout_groups);
    const double wall = dist::allreduce_max(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (dist::rank() != 0) return 0;  // rank 0 writes the run's output
    nlohmann::json j = sample_json(obs, gf.graph, cfg);
    const double flips = static_cast<double>(cfg.chains) * gf.graph.num_nodes() * obs.sweeps;
    j["run"] = {{"backend", to_string(opt.backend)},
                {"device", backend_device_name(opt.backend, opt.num_threads)},
                {"kernel", sampler.kernel_description()},
                {"seed", cfg.seed},
                {"contract", to_string(cfg.contract)},
                {"threads", cfg.num_threads},
                {"num_colors", coloring.num_colors()},
                {"ranks", ranks},
                {"wall_s", wall},
                {"flips_per_ns", wall > 0 ? flips / (wall * 1e9) : 0.0},
                {"git_sha", build_git_sha()}};
    // A run on imperfect p-bits says so: its numbers are not the ideal sampler's.
    if (!cfg.hardware.ideal()) j["run"]["hardware"] = cfg.hardware.config_json();  // (0.1 as written, not 0.10000000149)
    emit(o->out, j);
    return 0;
  });
}

void add_color(Commands& c) {
  struct Opt {
    std::string graph, out;
  };
  auto o = std::make_shared<Opt>();
  CLI::App* s = c.app->add_subcommand(
      "color", "Colors a graph (DSATUR; 2 colors for bipartite graphs), or verifies the coloring a graph JSON file holds");
  s->add_option("--graph", o->graph, "graph file (JSON or edge list)")->required();
  s->add_option("--out", o->out, "output JSON (default: stdout)");
  c.add(s, [o] {
    refuse_output_over_input("--out", o->out, {{"--graph", o->graph}});
    const GraphFile gf = read_graph_file(o->graph);
    // DSATUR's queue and the coloring's JSON, about 100 bytes a node together, checked before either
    // is built: 6e7 nodes died of std::bad_alloc (an abort, inside the JSON's destructor) under a
    // ulimit, and PBIT_MAX_MEMORY was not consulted (helper-117).
    detail::check_memory(100.0 * gf.graph.num_nodes(), "the coloring of the " + std::to_string(gf.graph.num_nodes()) +
                                                           " nodes of '" + o->graph + "' and its JSON");
    const Coloring col = gf.coloring ? Coloring(gf.graph, *gf.coloring) : color_graph(gf.graph);
    emit(o->out, {{"num_colors", col.num_colors()}, {"coloring", col.colors()}, {"verified", true},
                  {"source", gf.coloring ? "file" : "dsatur"}});
    return 0;
  });
}

/// "SIGMA_J[,SIGMA_H]": standard deviations >= 0.
std::pair<float, float> parse_weights(const std::string& w) {
  const auto sigma = [&](const std::string& t) {
    float x = -1.0f;
    if (detail::parse_number(t, x) == detail::ParseStatus::out_of_range) {
      throw InvalidArgument("--weights: '" + t + "' does not fit a float32 (too large, or too close to 0: 0 means none)");
    }
    if (!detail::parse_number_ok(t, x) || !(x >= 0) || !std::isfinite(x)) {
      throw InvalidArgument("--weights takes SIGMA_J[,SIGMA_H], standard deviations >= 0, got '" + w + "'");
    }
    return x;
  };
  const auto comma = w.find(',');
  return {sigma(w.substr(0, comma)), comma == std::string::npos ? 0.0f : sigma(w.substr(comma + 1))};
}

void add_graph(Commands& c) {
  struct Opt {
    std::string topology, out, weights, roles, roles_out;
    uint64_t seed = 1, role_seed = 1;
    bool in_order = false;
  };
  auto o = std::make_shared<Opt>();
  CLI::App* s = c.app->add_subcommand(
      "graph", "Generates a hardware topology with its closed-form coloring and coordinates, optionally with Gaussian weights "
               "and node roles, and prints a summary (and the roles' hop distances)");
  s->add_option("--topology", o->topology, kTopologies)->required();
  s->add_option("--out", o->out, "graph file to write: JSON (.json, with the coloring) or an edge list (any other name)")->required();
  auto* weights = s->add_option("--weights", o->weights, "Gaussian couplings and biases: SIGMA_J[,SIGMA_H] (default: all couplings 1)");
  s->add_option("--seed", o->seed, "seed of the weights (default 1; with --weights, nothing else is drawn)")
      ->check(number_in<uint64_t>(0, UINT64_MAX))
      ->needs(weights);
  auto* roles = s->add_option("--roles", o->roles,
                              "role specs, e.g. visible:784,label:50,hidden:rest (name:count:color restricts a role to a color)");
  auto* rout = s->add_option("--roles-out", o->roles_out, "roles JSON to write (needed with --roles)");
  // The range of a config's role_seed (graph.role_seed, model.role_seed, network.role_seed), so a
  // placement drawn here can be asked of a model.
  auto* rseed = s->add_option("--role-seed", o->role_seed, "seed of the random permutation that places the roles, as a config's role_seed (default 1)")
                    ->check(number_in<uint64_t>(0, uint64_t{1} << 40));
  auto* order = s->add_flag("--roles-in-order", o->in_order, "place the roles in node-index order instead of at random");
  rseed->excludes(order);
  rout->needs(roles);
  rseed->needs(roles);
  order->needs(roles);
  s->footer("Topology specs and node roles: docs/TOPOLOGIES.md ('Node roles').");
  c.add(s, [o] {
    if (!o->roles.empty() && o->roles_out.empty()) throw InvalidArgument("'pbit graph' needs --roles-out with --roles");
    if (!o->roles_out.empty() && same_file(o->out, o->roles_out)) {
      throw InvalidArgument("--out and --roles-out name the same file '" + o->out + "': the roles would replace the graph");
    }
    // Before the graph is built: a folder named as --out was found after 9 s and 1.8 GB (helper-117).
    check_writable(o->out);
    if (!o->roles_out.empty()) check_writable(o->roles_out);
    Topology t = make_topology(o->topology);
    if (!o->weights.empty()) {
      const auto [sj, sh] = parse_weights(o->weights);
      try {
        t.graph = with_random_weights(t.graph, o->seed, sj, sh);
      } catch (const InvalidGraph& e) {  // its message names the library's setter, not the option
        std::string why = e.reason();
        for (const std::string p : {"set_edge_weights: ", "set_biases: "}) {
          if (why.rfind(p, 0) == 0) why.erase(0, p.size());
        }
        throw InvalidArgument("--weights " + o->weights + " draws couplings or biases too large for this graph: " + why);
      }
    }
    // The roles are placed (or refused) before anything is written: a bad spec leaves no graph file.
    std::optional<RoleAssignment> roles;
    if (!o->roles.empty()) {
      const auto specs = parse_role_specs(o->roles);
      roles = o->in_order ? place_roles_in_order(t.graph.num_nodes(), specs, &t.colors)
                          : place_roles(t.graph.num_nodes(), specs, o->role_seed, &t.colors);
    }
    write_topology_file(o->out, t);
    nlohmann::json summary = {{"topology", t.name},
                              {"file", o->out},
                              {"num_nodes", t.graph.num_nodes()},
                              {"num_edges", t.graph.num_edges()},
                              {"degree_histogram", degree_histogram(degrees(t.graph))},
                              {"num_colors", t.coloring().num_colors()},
                              {"coloring_method", t.coloring_method}};
    if (roles) {
      const RoleAssignment& r = *roles;
      write_roles_file(o->roles_out, r);
      nlohmann::json d = nlohmann::json::array();
      for (const auto& x : role_distances(t.graph, r)) {
        d.push_back({{"from", x.from}, {"to", x.to}, {"mean_hops", x.mean_hops}, {"max_hops", x.max_hops}, {"unreachable", x.unreachable}});
      }
      summary["roles_file"] = o->roles_out;
      summary["role_placement"] = o->in_order ? "index order" : "random permutation, seed " + std::to_string(o->role_seed);
      summary["role_distances"] = d;
    }
    // With the graph itself on stdout (--out /dev/stdout) the summary goes to stderr: the two were
    // one stream, a graph and then a JSON text (helper-117).
    (detail::resolve_output(o->out).fd == 1 ? std::cerr : std::cout) << json_text(summary);
    return 0;
  });
}

void add_info(Commands& c) {
  auto graph = std::make_shared<std::string>();
  CLI::App* s = c.app->add_subcommand("info", "Prints node, edge and degree counts of a graph file");
  s->add_option("--graph", *graph, "graph file (JSON or edge list)")->required();
  c.add(s, [graph] {
    const GraphFile gf = read_graph_file(*graph);
    const Graph& g = gf.graph;
    std::cout << json_text({{"num_nodes", g.num_nodes()},
                            {"num_edges", g.num_edges()},
                            {"max_degree", g.max_degree()},
                            {"degree_histogram", degree_histogram(degrees(g))}});
    return 0;
  });
}

}  // namespace

void add_graph_commands(Commands& c) {
  add_sample(c);
  add_color(c);
  add_graph(c);
  add_info(c);
  CLI::App* b = c.app->add_subcommand("backends", "Lists the backends, whether they are compiled and available here, and why not");
  c.add(b, [] {
    for (Backend x : all_backends()) {
      std::cout << to_string(x) << ": " << (backend_compiled(x) ? "compiled" : "not compiled") << ", "
                << (backend_available(x) ? "available on " + backend_device_name(x) : "unavailable: " + backend_unavailable_reason(x))
                << "\n";
    }
    return 0;
  });
  CLI::App* v = c.app->add_subcommand("version", "Prints the git sha, build type and compiler of this build");
  c.add(v, [] {
    std::cout << "pbit " << build_git_sha() << " (" << build_type() << ", " << build_compiler()
              << (build_has_cuda() ? ", CUDA" : ", no CUDA") << ")\n";
    return 0;
  });
}

}  // namespace pbit::cli
