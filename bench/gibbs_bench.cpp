// Gibbs throughput: flips/ns = B * N * sweeps / time, per backend, graph and chain count.
//
//   pbit_bench_gibbs [--backends reference,cpu,cuda|best|all] [--graphs lattice,regular15,pegasus14,zephyr10,g12]
//                    [--chains 1,32,1024,16384,65536] [--cuda-kernels auto,simple,fast] [--team-warps 0,2,4,8,16]
//                    [--words-per-lane 0,1,2,4] [--contracts exact,fast] [--min-time 0.5] [--sweeps N] [--quick] [--out FILE.json]
//
// Prints a table and writes JSON (docs/BENCHMARKING.md describes every key), rewritten after every
// measurement so that a run cut short keeps what it measured. Sweeps per measurement are calibrated
// so each timed stretch lasts at least --min-time seconds (or fixed with --sweeps, e.g. for ncu). A
// configuration that fails (a kernel that cannot launch, say) is recorded with its error, and the
// others still run; the exit status is then 1.
#include <algorithm>
#include <filesystem>
#include <cstdlib>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>

#include "bench_common.hpp"
#include "pbit/core/io.hpp"
#include "pbit/core/sampler.hpp"
#include "pbit/hardware/topology.hpp"

using namespace pbit;

namespace {

struct NamedGraph {
  std::string name, description;
  Graph graph;
  Coloring coloring;
};

/// Short names for the standard benchmark graphs; anything containing ':' is a topology spec
/// (pbit::make_topology). Couplings are Gaussian so the sampler does real fp32 work.
NamedGraph make_graph(const std::string& name) {
  auto from_topology = [&](const std::string& spec, float sigma, const std::string& what) {
    const Topology t = make_topology(spec);
    const Graph g = with_random_weights(t.graph, 1, sigma, 0.1f);
    return NamedGraph{name, what + " [" + t.name + ", coloring " + t.coloring_method + "]", g, Coloring(g, t.colors)};
  };
  if (name == "lattice") return from_topology("lattice:64", 0.5f, "64x64 square lattice, periodic, J ~ N(0, 0.5^2)");
  if (name == "regular15") {
    const Graph g = with_random_weights(random_regular(4264, 15, 1), 1, 0.25f, 0.1f);
    return {name, "random 15-regular graph, N = 4264 (Pegasus(14) size and degree), J ~ N(0, 0.25^2)", g, color_graph(g)};
  }
  if (name == "pegasus14") return from_topology("pegasus:14", 0.25f, "Pegasus(14) as dwave_networkx, J ~ N(0, 0.25^2)");
  if (name == "zephyr10") return from_topology("zephyr:10:4", 0.25f, "Zephyr(10, 4) as dwave_networkx, J ~ N(0, 0.25^2)");
  if (name == "g12") return from_topology("grid:70:G12", 0.3f, "70x70 G12 Extropic grid on a torus, J ~ N(0, 0.3^2)");
  if (name.find(':') != std::string::npos) return from_topology(name, 0.25f, "topology " + name + ", J ~ N(0, 0.25^2)");
  throw InvalidArgument("unknown graph '" + name + "' (known: lattice, regular15, pegasus14, zephyr10, g12, or a topology spec)");
}

/// Model of the bytes one flip moves, for an "effective bandwidth": each of the deg neighbour spins
/// and the written spin at the backend's state width, plus the CSR (weight + column) shared by the
/// chains that read it together.
double bytes_per_flip(Backend b, double avg_degree) {
  const double state = b == Backend::cpu ? 4.0 : b == Backend::packed ? 1.0 / 8.0 : 1.0;
  const double share = b == Backend::cpu ? 16.0 : (b == Backend::cuda || b == Backend::packed) ? 32.0 : 1.0;
  return (avg_degree + 1.0) * state + avg_degree * 8.0 / share;
}

/// Bytes of chain state per chain: cpu keeps float spins, the others int8 (cuda adds 1/8 byte per
/// node of bit words when the fast kernel runs, packed the same on the host). `kernel` is the
/// sampler's own description of the kernel it chose (the row's, not an environment setting).
double state_bytes_per_chain(Backend b, int32_t n, const std::string& kernel) {
  const bool bits = b == Backend::packed || (b == Backend::cuda && kernel.rfind("cuda fast kernel", 0) == 0);
  return (b == Backend::cpu ? 4.0 : 1.0) * n + (bits ? n / 8.0 : 0.0);
}

/// Chain counts a backend is run at by default: the reference oracle is serial and the packed
/// backend is a host emulation of a GPU loop; keep them small.
bool default_chain_ok(Backend b, int32_t chains) {
  if (b == Backend::reference) return chains <= 32;
  if (b == Backend::packed) return chains <= 1024;
  if (b == Backend::cpu) return chains <= 16384;
  return true;
}

/// One measurement: a sampler on the backend, two warm-up sweeps, then timed stretches doubling the
/// sweep count until one lasts min_time (or exactly fixed_sweeps sweeps).
nlohmann::json measure(const NamedGraph& ng, Backend b, int32_t chains, const SamplerOptions& base, double min_time,
                       int64_t fixed_sweeps) {
  const Graph& g = ng.graph;
  const double avg_deg = 2.0 * g.num_edges() / g.num_nodes();
  SamplerOptions opt = base;
  opt.backend = b;
  opt.seed = 1;
  const int64_t used0 = backend_device_bytes_in_use(b);
  Sampler s(g, ng.coloring, chains, opt);
  s.sweep(2);  // warm-up: first-touch pages, caches, GPU clocks (and the sweep buffers)
  const int64_t used1 = backend_device_bytes_in_use(b);
  int64_t sweeps = fixed_sweeps > 0 ? fixed_sweeps : 1;
  double wall = 0;
  for (;;) {
    const auto t0 = std::chrono::steady_clock::now();
    s.sweep(sweeps);
    wall = bench::seconds_since(t0);
    if (fixed_sweeps > 0 || wall >= min_time || sweeps >= (int64_t{1} << 24)) break;
    sweeps = wall <= 0 ? sweeps * 8 : std::max<int64_t>(sweeps * 2, static_cast<int64_t>(sweeps * 1.2 * min_time / wall));
  }
  const double flips = static_cast<double>(chains) * g.num_nodes() * sweeps;
  const double fpns = flips / (wall * 1e9);
  const double gbps = flips * bytes_per_flip(b, avg_deg) / wall / 1e9;
  return {{"backend", to_string(b)},
          {"device", backend_device_name(b)},
          {"kernel", s.kernel_description()},
          {"cuda_kernel", b == Backend::cuda ? to_string(opt.cuda_kernel) : "-"},
          {"cuda_team_warps", b == Backend::cuda ? opt.cuda_team_warps : 0},
          {"fast_words_per_lane", b == Backend::cuda || b == Backend::packed ? opt.fast_words_per_lane : 0},
          {"cpu_isa", b == Backend::cpu ? to_string(opt.cpu_isa) : "-"},
          {"contract", to_string(opt.contract)},
          {"graph", ng.name},
          {"graph_description", ng.description},
          {"num_nodes", g.num_nodes()},
          {"num_edges", g.num_edges()},
          {"avg_degree", avg_deg},
          {"num_colors", ng.coloring.num_colors()},
          {"chains", chains},
          {"sweeps", sweeps},
          {"wall_s", wall},
          {"flips_per_ns", fpns},
          {"sweeps_per_s_per_chain", sweeps / wall},
          {"effective_gb_per_s", gbps},
          {"bytes_per_flip_model", bytes_per_flip(b, avg_deg)},
          {"state_bytes_per_chain_model", state_bytes_per_chain(b, g.num_nodes(), s.kernel_description())},
          {"device_bytes_per_chain", used0 >= 0 && used1 >= 0 ? nlohmann::json(static_cast<double>(used1 - used0) / chains)
                                                              : nlohmann::json(nullptr)}};
}

/// Writes the JSON next to its final name and renames it over, so a reader never sees half a file.
void write_atomically(const std::string& path, const nlohmann::json& doc) {
  const std::string tmp = path + ".tmp";
  write_json_file(tmp, doc);
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw IoError("cannot rename " + tmp + " to " + path + ": " + ec.message());
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string backends_arg = "all", graphs_arg = "lattice,regular15,pegasus14,zephyr10,g12", chains_arg = "1,32,1024,16384,65536", out;
    std::string kernels_arg = "auto", teams_arg = "0", isas_arg = "auto", contracts_arg = "exact", wpl_arg = "0";
    double min_time = 0.5;
    int64_t fixed_sweeps = 0;
    bool quick = false, chains_given = false;
    for (int k = 1; k < argc; ++k) {
      const std::string a = argv[k];
      auto val = [&]() -> std::string {
        if (k + 1 >= argc) throw InvalidArgument("option " + a + " needs a value");
        return argv[++k];
      };
      if (a == "--backends") backends_arg = val();
      else if (a == "--graphs") graphs_arg = val();
      else if (a == "--chains") chains_arg = val(), chains_given = true;
      else if (a == "--cuda-kernels") kernels_arg = val();
      else if (a == "--team-warps") teams_arg = val();
      else if (a == "--cpu-isas") isas_arg = val();
      else if (a == "--contracts") contracts_arg = val();
      else if (a == "--words-per-lane") wpl_arg = val();
      else if (a == "--min-time") min_time = bench::number<double>(val(), a, 1e-6, 3600);
      // (a measurement's 2 warm-up sweeps and its timed ones run on one sampler: 2^32 - 1 in all)
      else if (a == "--sweeps") fixed_sweeps = bench::number<int64_t>(val(), a, 1, SamplingSchedule::kMaxSweeps - 2);
      else if (a == "--out") out = val();
      else if (a == "--quick") quick = true;
      else if (a == "--help" || a == "-h") {
        std::cout << "usage: pbit_bench_gibbs [--backends LIST|best|all] [--graphs lattice,regular15,pegasus14,zephyr10,g12|SPEC]\n"
                     "                        [--chains LIST] [--cuda-kernels auto,simple,fast] [--team-warps 0,2,4,8,16]\n"
                     "                        [--cpu-isas auto,avx512,avx2,generic] [--words-per-lane 0,1,2,4] [--contracts exact,fast]\n"
                     "                        [--min-time S] [--sweeps N] [--quick] [--out FILE.json]\n"
                     "  --cuda-kernels  cuda backend: the sweep kernels to measure, each a row (auto = chosen by occupancy)\n"
                     "  --team-warps    fast kernel: warps per block to measure (0 = chosen by occupancy)\n"
                     "  --cpu-isas      cpu backend: the instruction-set paths to measure, each a row (auto = the widest here)\n"
                     "  --words-per-lane  cuda fast kernel and packed backend: 32-chain words per lane, each a row (0 = automatic)\n"
                     "  --contracts     RNG/arithmetic contracts to measure, each a row (docs/ARCHITECTURE.md, Determinism)\n"
                     "  --sweeps N      timed sweeps per measurement, no calibration (e.g. under ncu)\n";
        return 0;
      } else {
        throw InvalidArgument("unknown option '" + a + "'");
      }
    }
    if (!out.empty()) check_writable(out);  // before the measurements, not after the first row
    if (quick) {
      min_time = std::min(min_time, 0.2);
      if (!chains_given) chains_arg = "32,1024";
    }
    std::vector<Backend> backends;
    if (backends_arg == "all") backends = available_backends();
    else if (backends_arg == "best") backends = {best_available_backend()};
    else
      for (const auto& b : bench::split(backends_arg)) backends.push_back(backend_from_string(b));
    std::vector<int32_t> chain_counts;
    for (const auto& c : bench::split(chains_arg)) chain_counts.push_back(bench::number<int32_t>(c, "--chains", 1, 1 << 28));
    std::vector<CudaKernel> kernels;
    for (const auto& k : bench::split(kernels_arg)) kernels.push_back(cuda_kernel_from_string(k, "--cuda-kernels"));
    std::vector<int> teams;
    for (const auto& t : bench::split(teams_arg)) teams.push_back(bench::number<int>(t, "--team-warps", 0, 16));
    std::vector<CpuIsa> isas;
    for (const auto& t : bench::split(isas_arg)) isas.push_back(cpu_isa_from_string(t, "--cpu-isas"));
    std::vector<int> wpls;
    for (const auto& t : bench::split(wpl_arg)) {
      wpls.push_back(bench::number<int>(t, "--words-per-lane", 0, 4));
      if (wpls.back() == 3) throw InvalidArgument("--words-per-lane takes 0 (automatic), 1, 2 or 4");
    }
    std::vector<RngContract> contracts;
    for (const auto& c : bench::split(contracts_arg)) contracts.push_back(rng_contract_from_string(c, "--contracts"));
    if (kernels.empty() || teams.empty() || isas.empty() || contracts.empty() || wpls.empty()) {
      throw InvalidArgument("--cuda-kernels, --team-warps, --cpu-isas, --words-per-lane and --contracts need at least one value");
    }
    // Graphs are built before anything is measured, so a typo costs no time.
    std::vector<NamedGraph> graphs;
    for (const auto& gname : bench::split(graphs_arg)) graphs.push_back(make_graph(gname));
    // (an empty list measured nothing and said "0 rows skipped", naming no option: helper-114)
    for (const auto& [empty, option] : {std::pair{backends.empty(), "--backends"}, {chain_counts.empty(), "--chains"}, {graphs.empty(), "--graphs"}}) {
      if (empty) throw InvalidArgument(std::string(option) + " needs at least one value");
    }

    nlohmann::json results = nlohmann::json::array(), skipped = nlohmann::json::array();
    int failures = 0;
    auto document = [&] {
      return nlohmann::json{{"benchmark", "gibbs"},
                            {"timestamp_utc", bench::utc_now()},
                            {"machine", bench::machine_info()},
                            {"build", bench::build_info()},
                            {"parameters", {{"min_time_s", min_time}, {"fixed_sweeps", fixed_sweeps}, {"beta", 1.0},
                                            {"update", "sigmoid Gibbs, fp32"}, {"contracts", bench::split(contracts_arg)},
                                            {"cuda_kernels", bench::split(kernels_arg)}, {"cpu_isas", bench::split(isas_arg)},
                                            {"fast_words_per_lane", wpls}, {"cuda_team_warps", teams}}},
                            {"failures", failures},
                            {"skipped", skipped},
                            {"results", results}};
    };
    std::printf("%-10s %-10s %-14s %8s %8s %10s %10s %12s %14s %10s\n", "backend", "graph", "kernel", "nodes", "chains", "sweeps",
                "wall_s", "flips_per_ns", "sweeps/s/chain", "eff_GB/s");
    for (const NamedGraph& ng : graphs) {
      for (Backend b : backends) {
        if (!backend_available(b)) {
          std::printf("%-10s skipped: not available here (%s)\n", to_string(b).c_str(), backend_unavailable_reason(b).c_str());
          skipped.push_back({{"backend", to_string(b)}, {"graph", ng.name}, {"reason", backend_unavailable_reason(b)}});
          continue;
        }
        // The cuda rows: each kernel asked for, and for the fast one each team size.
        std::vector<SamplerOptions> variants;
        if (b == Backend::cuda) {
          for (CudaKernel k : kernels) {
            for (int t : teams) {
              if (k != CudaKernel::fast && t != teams.front()) continue;
              for (int wpl : wpls) {
                if (k == CudaKernel::simple && wpl != wpls.front()) continue;
                SamplerOptions o;
                o.cuda_kernel = k;
                o.cuda_team_warps = k == CudaKernel::simple ? 0 : t;
                o.fast_words_per_lane = k == CudaKernel::simple ? 0 : wpl;
                variants.push_back(o);
              }
            }
          }
        } else if (b == Backend::cpu) {
          for (CpuIsa isa : isas) {
            SamplerOptions o;
            o.cpu_isa = isa;
            variants.push_back(o);
          }
        } else if (b == Backend::packed) {
          for (int wpl : wpls) {
            SamplerOptions o;
            o.fast_words_per_lane = wpl;
            variants.push_back(o);
          }
        } else {
          variants.push_back({});
        }
        // Each variant under each contract asked for.
        {
          std::vector<SamplerOptions> all;
          for (RngContract c : contracts)
            for (SamplerOptions o : variants) {
              o.contract = c;
              all.push_back(o);
            }
          variants = std::move(all);
        }
        for (int32_t chains : chain_counts) {
          if (!chains_given && !default_chain_ok(b, chains)) continue;
          for (const SamplerOptions& v : variants) {
            const std::string wl = v.fast_words_per_lane ? "x" + std::to_string(v.fast_words_per_lane) : "";
            const std::string label = (b == Backend::cuda ? to_string(v.cuda_kernel) + (v.cuda_team_warps ? "/" + std::to_string(v.cuda_team_warps) : "") + wl
                                       : b == Backend::packed ? (wl.empty() ? "-" : wl)
                                      : b == Backend::cpu ? to_string(v.cpu_isa) : "-") +
                                      (contracts.size() > 1 || v.contract != RngContract::exact ? "+" + to_string(v.contract) : "");
            try {
              const nlohmann::json r = measure(ng, b, chains, v, min_time, fixed_sweeps);
              std::printf("%-10s %-10s %-14s %8d %8d %10lld %10.3f %12.4f %14.1f %10.2f\n", to_string(b).c_str(), ng.name.c_str(),
                          label.c_str(), ng.graph.num_nodes(), chains, static_cast<long long>(r["sweeps"].get<int64_t>()),
                          r["wall_s"].get<double>(), r["flips_per_ns"].get<double>(), r["sweeps_per_s_per_chain"].get<double>(),
                          r["effective_gb_per_s"].get<double>());
              results.push_back(r);
            } catch (const Error& e) {
              ++failures;
              std::printf("%-10s %-10s %-14s %8d %8d  FAILED: %s\n", to_string(b).c_str(), ng.name.c_str(), label.c_str(),
                          ng.graph.num_nodes(), chains, e.what());
              results.push_back({{"backend", to_string(b)}, {"graph", ng.name}, {"chains", chains},
                                 {"cuda_kernel", to_string(v.cuda_kernel)}, {"cuda_team_warps", v.cuda_team_warps},
                                 {"cpu_isa", to_string(v.cpu_isa)}, {"fast_words_per_lane", v.fast_words_per_lane},
                                 {"contract", to_string(v.contract)}, {"error", e.what()}});
            }
            std::fflush(stdout);
            if (!out.empty()) write_atomically(out, document());
          }
        }
      }
    }
    if (!out.empty()) {
      write_atomically(out, document());
      std::printf("wrote %s\n", out.c_str());
    }
    if (results.empty()) {  // every backend asked for was skipped: not a successful benchmark
      std::fprintf(stderr, "pbit_bench_gibbs: error: nothing was measured (%zu rows skipped; see 'skipped')\n", skipped.size());
      return 2;
    }
    return failures ? 1 : 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "pbit_bench_gibbs: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pbit_bench_gibbs: error: %s\n", e.what());
    return 2;
  }
}
