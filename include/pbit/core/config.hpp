// The JSON sampling config read by `pbit sample` (see configs/sample_example.json and docs/CLI.md).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pbit/core/hardware_model.hpp"
#include "pbit/core/tempering.hpp"
#include "pbit/core/sampler.hpp"

namespace pbit {

struct SampleConfig {
  int32_t chains = 1;
  uint64_t seed = 0;
  std::string backend = "best";
  RngContract contract = RngContract::exact;  ///< "contract": "exact" | "fast"
  int num_threads = 0;
  SamplingSchedule schedule{};
  BetaSchedule beta{};
  ObserverSpec observe{};
  std::vector<int32_t> clamp_nodes;
  std::vector<int8_t> clamp_values;  ///< K or B x K
  std::vector<int32_t> field_nodes;  ///< empty with non-empty field_values = all nodes
  std::vector<float> field_values;   ///< M or B x M
  PbitHardware hardware;             ///< "hardware": imperfect p-bits (SamplerOptions::hardware)
  bool tempered = false;             ///< "tempering" present: parallel tempering (core/tempering.hpp)
  TemperingOptions tempering;
};

/// A `tempering` section (docs/CLI.md): betas, or replicas and hottest (and target, default
/// `target`); sweeps_per_round; scheme. Errors are InvalidConfig naming `where`.key.
TemperingOptions parse_tempering(const nlohmann::json& t, const std::string& where = "tempering", float target = 1.0f);

/// A `tempering` section that parse_tempering reads back as `o`: its betas (the ladder a replicas and
/// hottest section made), sweeps_per_round, scheme and adapt_rounds.
nlohmann::json tempering_json(const TemperingOptions& o);

/// Parses and validates; errors are InvalidConfig naming the key, e.g. "schedule.samples".
/// Unknown keys are errors too (a typo must not silently fall back to a default).
SampleConfig parse_sample_config(const nlohmann::json& j);

/// The parts of a sampling config that depend on its graph, checked before anything runs: node indices
/// of clamp.nodes, field.nodes and observe.readout_groups below `num_nodes` (no node twice in one
/// list; an empty group is refused by parse_sample_config), clamp.values K or B x K and field.values M or B x M long, and
/// observe.snapshot_sweeps distinct and within the run's 1..total sweeps. Errors are InvalidConfig
/// naming the key, e.g. "clamp.nodes[2]".
void check_sample_config(const SampleConfig& c, int32_t num_nodes);

/// Observations as JSON (means, sums, energies, readouts, snapshots) plus run metadata. `g` is the
/// run's graph: moments of another size are InvalidArgument, and so are snapshots that are not whole
/// states of its nodes (a coarse check: a graph whose node count divides the run's passes it).
nlohmann::json observations_to_json(const Observations& obs, const Graph& g);

/// A tempered run's swaps per neighbouring pair, as pbit's outputs write them: `swap_acceptance`
/// (accepts / attempts, null for a pair never attempted, which deo leaves the odd pairs in a run of
/// one round; 0 is a pair that refused every swap), `swap_attempts` and `swap_accepts`. An object to
/// merge into the caller's (json::update). InvalidArgument when the two lists differ in length.
nlohmann::json swap_statistics_json(const std::vector<int64_t>& attempts, const std::vector<int64_t>& accepts);

}  // namespace pbit
