// The comparison harness: GPU/CPU throughput and energy set beside modeled p-bit hardware.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace pbit {

class Sampler;

/// One workload of a suite.
struct CompareWorkload {
  std::string name;
  std::string kind;       ///< "gibbs" (raw sweeps), "dbm_inference" (classify images) or "dtm_generation"
  std::string graph;      ///< topology spec (gibbs), or a DBM's topology when no model is given
  std::string model;      ///< dbm_inference: model file (empty = a randomly initialised DBM on `graph`)
  int64_t sweeps_per_sample = 100;  ///< dbm_inference: sweeps per image; dtm_generation: sweeps per step
  int32_t steps = 4;                ///< dtm_generation: T (1 = MEBM)
  int32_t image_side = 28;          ///< dtm_generation: data nodes = image_side^2 (on one color)
};

/// A trained DTM or MEBM (the results.json of 'pbit dtm train') placed on the energy-vs-quality plot.
struct QualityPoint {
  std::string label;
  std::string results;  ///< path to results.json
};

/// A suite (configs/compare_*.json).
struct CompareSuite {
  std::vector<CompareWorkload> workloads;
  std::vector<std::string> backends;
  std::vector<int32_t> chains;
  std::vector<QualityPoint> quality;  ///< DTM / MEBM runs for the energy-per-sample vs quality plot
  double min_seconds = 1.0;     ///< per measurement (energy wants tens of seconds on a GPU)
  double idle_seconds = 2.0;    ///< idle-power measurement before the suite
  int threads = 0;              ///< the host backends' OpenMP threads (0: OpenMP's default), every row
  std::string platforms = "configs/platforms.json";
  std::string output_dir = "out/compare";
  nlohmann::json source;
};

/// Parses and validates; errors are InvalidConfig naming the key.
CompareSuite parse_compare_suite(const nlohmann::json& j);

/// Rows measured by an earlier, cut run of the same suite on the same kind of machine (`pbit compare
/// --journal`): `done` gives the recorded row of (workload, backend, chains), or null to measure it;
/// `finished` records a row as soon as it is measured (not a failed or skipped one: those are tried
/// again).
struct CompareJournal {
  std::function<const nlohmann::json*(const std::string& workload, const std::string& backend, int32_t chains)> done;
  std::function<void(const nlohmann::json& row)> finished;
};

/// Runs the suite: every workload x backend x chain count. Returns the results document (also written,
/// with a Markdown table and plots, to suite.output_dir by write_compare_outputs). A row that runs out
/// of memory or into a CUDA error is returned as a row with `skipped` and `error`, not thrown, so the
/// other rows are kept; other errors end the run.
/// With a journal, the rows it holds are taken from it, not measured again.
nlohmann::json run_compare(const CompareSuite& suite, bool progress = true, const CompareJournal* journal = nullptr);

/// What every benchmark result records about where it ran: hostname, os, arch, cpu, logical_cpus,
/// gpu (machine_description); git_sha, build_type, compiler, cuda_compiled (build_description).
nlohmann::json machine_description();
nlohmann::json build_description();
/// The time now, ISO 8601 UTC (timestamp_utc).
std::string utc_timestamp();

/// Whether `s` can name a plot series, a row of a gnuplot data file and a Markdown table cell: not
/// empty or spaces only, one printable line without quotes, backslashes, '|' or Unicode's
/// bidirectional controls (U+202A..U+202E, U+2066..U+2069). Compare's workload names and quality
/// labels must be; so must `pdnn eval --label`.
bool is_plain_label(std::string_view s);

namespace detail {
/// A measured row's energy fields: `joules` read by `source` over `wall_s` seconds (negative: no
/// reading), less `idle_w` over the same time, into energy_j, energy_j_per_flip (over `flips`) and
/// energy_j_per_sample (over `samples`) with energy_source; or only energy_source ("unavailable: ...")
/// when there is no reading, nothing above the idle draw, or a window shorter than `min_wall_s` (the
/// meter's resolution: NVML's counter moves every 20-100 ms). idle_power_w_subtracted says what was
/// taken off (0 when the suite measured no idle draw: then energy_j is the whole draw), and
/// energy_j_total and energy_j_per_flip_total give the whole draw, idle included. Used by run_compare.
void put_measured_energy(nlohmann::json& row, double joules, double idle_w, double wall_s, double flips, double samples,
                         const std::string& source, double min_wall_s = 0);

/// What run_compare reads from a quality run's results.json ('pbit dtm train').
struct QualityRun {
  double feature_fid = 0, sweeps_per_sample = 0, num_nodes = 0;
  double mixing_time = -1;  ///< final_autocorrelation[0].mixing_time_sweeps; < 0: none measured
  /// Every step's mixing_time_sweeps, in order; empty unless the run measured them all (one per step).
  std::vector<double> step_mixing_times;
  double replicas = 1;      ///< generation_replicas: a tempered generation runs each sample's sweeps on every replica
  int64_t steps = 0;
  std::string topology;
};

/// One entry of the results' `quality` (docs/CLI.md): the run on the modeled chip at the paper's
/// K_mix (k_mix_dtm sweeps per DTM step, an MEBM's mixing time), at each step's measured mixing time
/// and at the run's own sweeps, and on each measured dtm_generation row of `rows` on the same graph,
/// at its energy per flip.
nlohmann::json quality_entry(const std::string& label, const QualityRun& run, const nlohmann::json& rows, double k_mix_dtm,
                             double e_cell_j);

/// A sampler refuses to pass 2^32 - 1 sweeps (the RNG counter's sweep field), which a small graph
/// reaches within a long min_seconds. Before `next` more sweeps, a measurement of speed starts the
/// count again when they would pass it: the random numbers repeat, at the same cost.
void restart_sweep_count_if_full(Sampler& s, int64_t next);
}  // namespace detail

/// results.json, results.md, and for each plot its .dat and .gp files and, when gnuplot is installed,
/// the .png. Returns the paths written.
std::vector<std::string> write_compare_outputs(const nlohmann::json& results, const std::string& dir);
/// Every file write_compare_outputs may write into `dir` (whatever the results hold), so that a
/// command can refuse inputs it would replace.
std::vector<std::string> compare_output_files(const std::string& dir);

}  // namespace pbit
