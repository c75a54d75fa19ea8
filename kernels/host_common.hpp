// Host-side bookkeeping shared by the reference and cpu engines: the graph arrays in the form the
// kernels read, clamp and field tables, and the observation accumulators.
#pragma once
#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "gibbs_kernels.hpp"
#include "pbit/core/rng.hpp"

namespace pbit::detail {

struct HostModel {
  int32_t n = 0;
  int32_t chains = 0;
  std::vector<int64_t> row_ptr;
  std::vector<int32_t> col;
  std::vector<float> w;                     ///< CSR weights
  std::vector<float> h;                     ///< biases
  std::vector<int32_t> edge_i, edge_j;      ///< undirected edges, i < j
  std::vector<float> edge_w;                ///< coupling per undirected edge
  std::vector<std::vector<int32_t>> classes;  ///< color classes, ascending
  std::vector<uint8_t> clamped;             ///< N: 1 if never updated
  std::vector<int32_t> clamp_nodes;         ///< K
  std::vector<int8_t> clamp_values;         ///< B x K
  std::vector<int32_t> field_col;           ///< N: column in `field`, or -1
  int32_t field_m = 0;
  std::vector<float> field;                 ///< B x M
  rng::Key key{};
  RngContract contract = RngContract::exact;
  uint32_t chain_offset = 0;                ///< SamplerOptions::first_chain: added to every chain id the RNG sees
  HostActivation act;                       ///< imperfect hardware's input stage (inactive: none)
  std::vector<float> chain_scale;           ///< B per-chain beta factors (empty: none)

  HostModel(const Graph& g, const Coloring& c, int32_t b, const SamplerOptions& opt)
      : n(g.num_nodes()), chains(b), classes(c.classes()),
        clamped(static_cast<size_t>(g.num_nodes()), 0), field_col(static_cast<size_t>(g.num_nodes()), -1),
        key(rng::make_key(opt.seed, opt.stream)), contract(opt.contract), chain_offset(opt.first_chain) {
    load_weights(g);
  }

  void load_weights(const Graph& g) {
    row_ptr = g.row_ptr();
    col = g.col_idx();
    w = g.weights();
    h = g.biases();
    edge_i = g.edge_i();
    edge_j = g.edge_j();
    edge_w = g.edge_weights();
  }

  void set_clamp(std::span<const int32_t> nodes, std::span<const int8_t> values) {
    std::fill(clamped.begin(), clamped.end(), uint8_t{0});
    clamp_nodes.assign(nodes.begin(), nodes.end());
    clamp_values.assign(values.begin(), values.end());
    for (int32_t i : clamp_nodes) clamped[i] = 1;
  }

  void set_field(std::span<const int32_t> nodes, std::span<const float> values) {
    std::fill(field_col.begin(), field_col.end(), -1);
    field_m = static_cast<int32_t>(nodes.size());
    field.assign(values.begin(), values.end());
    for (int32_t m = 0; m < field_m; ++m) field_col[nodes[m]] = m;
  }
};

/// Accumulators of one run, on the host.
struct HostObservation {
  ObserveConfig cfg;
  std::vector<int64_t> node_sum, edge_sum, readout_sum;
  std::vector<double> energy;
  std::vector<int8_t> snapshots;  ///< chain-major per slot

  void begin(const ObserveConfig& c, const HostModel& m) {
    cfg = c;
    node_sum.assign(c.moments ? static_cast<size_t>(m.n) : 0, 0);
    edge_sum.assign(c.moments ? m.edge_i.size() : 0, 0);
    readout_sum.assign(static_cast<size_t>(m.chains) * c.num_groups(), 0);
    energy.assign(c.energy ? static_cast<size_t>(c.num_samples) * m.chains : 0, 0.0);
    snapshots.assign(static_cast<size_t>(c.num_snapshots) * m.chains * m.n, 0);
  }

  void finish(Observations& out) {
    out.node_sum = std::move(node_sum);
    out.edge_sum = std::move(edge_sum);
    out.readout_sum = std::move(readout_sum);
    out.energy = std::move(energy);
    out.snapshots = std::move(snapshots);
  }
};

}  // namespace pbit::detail
