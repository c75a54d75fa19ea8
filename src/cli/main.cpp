// `pbit`: command-line front end. Library code throws; only this file turns errors into exit codes.
#include <chrono>
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "pbit/build_info.hpp"
#include "pbit/config.hpp"
#include "pbit/error.hpp"
#include "pbit/io.hpp"
#include "pbit/roles.hpp"
#include "pbit/sampler.hpp"
#include "pbit/topology.hpp"

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
  pbit backends
      Lists the backends and whether they are compiled and available here.
  pbit version

Formats: docs/CLI.md. Example config: configs/sample_example.json.
)";

struct Args {
  std::string cmd;
  std::map<std::string, std::string> opt;
};

Args parse_args(int argc, char** argv) {
  Args a;
  if (argc < 2) throw pbit::InvalidArgument("no command given\n\n" + std::string(kUsage));
  a.cmd = argv[1];
  for (int k = 2; k < argc; ++k) {
    std::string s = argv[k];
    if (s.rfind("--", 0) != 0) throw pbit::InvalidArgument("unexpected argument '" + s + "'");
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
  const uint64_t seed = a.opt.count("seed") ? std::stoull(a.opt.at("seed")) : 1;
  if (a.opt.count("weights")) {
    const std::string w = a.opt.at("weights");
    const auto comma = w.find(',');
    const float sj = std::stof(w.substr(0, comma));
    const float sh = comma == std::string::npos ? 0.0f : std::stof(w.substr(comma + 1));
    if (!(sj >= 0) || !(sh >= 0)) throw pbit::InvalidArgument("--weights: standard deviations must be >= 0");
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
    const uint64_t role_seed = a.opt.count("role-seed") ? std::stoull(a.opt.at("role-seed")) : 1;
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
  for (pbit::Backend b : {pbit::Backend::reference, pbit::Backend::cpu, pbit::Backend::cuda}) {
    std::cout << pbit::to_string(b) << ": " << (pbit::backend_compiled(b) ? "compiled" : "not compiled") << ", "
              << (pbit::backend_available(b) ? "available on " + pbit::backend_device_name(b) : std::string("unavailable"))
              << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc >= 2 && (!std::strcmp(argv[1], "help") || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h"))) {
      std::cout << kUsage;
      return 0;
    }
    const Args a = parse_args(argc, argv);
    if (a.cmd == "sample") return cmd_sample(a);
    if (a.cmd == "color") return cmd_color(a);
    if (a.cmd == "info") return cmd_info(a);
    if (a.cmd == "graph") return cmd_graph(a);
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
  } catch (const std::invalid_argument& e) {  // std::stoull / std::stof on a malformed number
    std::cerr << "pbit: error: malformed number in an option (" << e.what() << ")\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "pbit: internal error: " << e.what() << "\n";
    return 3;
  }
}
