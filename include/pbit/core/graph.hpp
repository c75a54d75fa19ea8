// An undirected weighted Ising graph: N nodes, couplings J_ij (float32) in symmetric CSR, biases h_i.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace pbit {

/// One undirected coupling J between nodes i and j (order does not matter on input).
struct Edge {
  int32_t i = 0;
  int32_t j = 0;
  float weight = 0.0f;
};

/// Bytes a graph of `nodes` nodes and `edges` undirected edges takes while it is built and held (CSR,
/// biases, the edge list): what the memory guard (PBIT_MAX_MEMORY) checks before building one.
inline double graph_bytes(int64_t nodes, int64_t edges) { return 24.0 * static_cast<double>(nodes) + 48.0 * static_cast<double>(edges); }

/// Immutable-structure, mutable-weight Ising graph.
///
/// Storage is symmetric CSR: the neighbours of node i are col_idx()[row_ptr()[i] .. row_ptr()[i+1]),
/// sorted ascending, with weights()[k] = J_{i, col_idx()[k]}; every edge appears twice.
/// Undirected edges are numbered 0..num_edges()-1 in (i, j) lexicographic order with i < j; edges()
/// and the per-edge statistics of the sampler use this order.
class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = default;
  Graph& operator=(const Graph&) = default;
  /// A moved-from graph is the empty one, Graph() (0 nodes): the implicit move kept its node count
  /// beside emptied arrays, and a sampler built from it read past them.
  Graph(Graph&& other) noexcept;
  Graph& operator=(Graph&& other) noexcept;

  /// Builds from an edge list. Duplicates with the same weight (e.g. both (i,j) and (j,i)) are merged.
  /// `biases` is empty (all zero) or has num_nodes entries.
  /// Throws InvalidGraph on: node index out of range, self loop, duplicate with conflicting weights,
  /// non-finite coupling or bias, negative node count; OutOfMemory when graph_bytes() exceeds the
  /// memory limit.
  static Graph from_edges(int32_t num_nodes, std::span<const Edge> edges, std::vector<float> biases = {});

  /// Builds from CSR arrays; checks that they are well formed, sorted, finite and symmetric.
  static Graph from_csr(int32_t num_nodes, std::vector<int64_t> row_ptr, std::vector<int32_t> col_idx,
                        std::vector<float> weights, std::vector<float> biases = {});

  int32_t num_nodes() const { return n_; }
  int64_t num_edges() const { return static_cast<int64_t>(edge_i_.size()); }
  /// The neighbours of node i, for 0 <= i < num_nodes(): unchecked, like operator[] (the coloring's
  /// inner loop calls it; pbit.Graph.degree checks).
  int32_t degree(int32_t i) const { return static_cast<int32_t>(row_ptr_[static_cast<size_t>(i) + 1] - row_ptr_[static_cast<size_t>(i)]); }
  int32_t max_degree() const;

  const std::vector<int64_t>& row_ptr() const { return row_ptr_; }
  const std::vector<int32_t>& col_idx() const { return col_idx_; }
  const std::vector<float>& weights() const { return weights_; }
  const std::vector<float>& biases() const { return biases_; }
  /// For each CSR entry, the undirected edge it belongs to.
  const std::vector<int64_t>& csr_edge() const { return csr_edge_; }
  /// Endpoints of undirected edge e (i < j).
  const std::vector<int32_t>& edge_i() const { return edge_i_; }
  const std::vector<int32_t>& edge_j() const { return edge_j_; }

  /// The undirected edges, i < j, in edge order.
  std::vector<Edge> edges() const;
  /// Coupling J_ij, 0 if i and j are not adjacent.
  float coupling(int32_t i, int32_t j) const;
  /// Undirected edge id of (i, j), or -1.
  int64_t find_edge(int32_t i, int32_t j) const;

  /// The same structure with per-row CSR couplings (row i's entries are what node i feels from its
  /// neighbours: they need not be symmetric) and biases, for samplers of imperfect hardware
  /// (SamplerOptions::hardware, per-p-bit gains). Sizes and finiteness are checked; edge_weights()
  /// of the result reads each edge from its lower-numbered node's row.
  Graph with_row_weights(std::vector<float> csr_weights, std::vector<float> biases) const;

  /// Replaces all couplings (one per undirected edge, edge order) and/or biases. Structure is kept.
  void set_edge_weights(std::span<const float> edge_weights);
  void set_biases(std::span<const float> biases);
  /// Couplings in edge order.
  std::vector<float> edge_weights() const;

  /// E(s) = -(sum_{i<j} J_ij s_i s_j + sum_i h_i s_i), in double, summed in edge order then node order;
  /// every s_i +1 or -1 (InvalidArgument otherwise).
  double energy(std::span<const int8_t> spins) const;
  /// The same with the edge weights given (edge_weights(), built once for many states). They are
  /// used as given: unlike the graph's own, they are not checked to be finite (a NaN gives NaN).
  double energy(std::span<const int8_t> spins, std::span<const float> edge_weights) const;

  /// The most a node's sum_j |J_ij| + |h_i| may be: a float sum past FLT_MAX is inf (inf - inf NaN),
  /// and the spin would be sampled from it without an error. Every constructor and setter above
  /// refuses more (InvalidGraph, the graph left as it was). A field (Sampler::set_field) may add as
  /// much again, and 2 beta (<= 1e30) times either stays a number or +-inf, never NaN.
  static constexpr double kMaxLocalField = 1e37;

 private:
  void validate_csr() const;
  /// Throws InvalidGraph naming the first node whose sum_j |w_k| + |h_i| over its CSR row passes
  /// kMaxLocalField (`w` CSR weights, `h` biases: this graph's, or ones about to replace them).
  void check_local_fields(const char* what, const std::vector<float>& w, const std::vector<float>& h) const;
  void build_edge_index();

  int32_t n_ = 0;
  std::vector<int64_t> row_ptr_{0};
  std::vector<int32_t> col_idx_;
  std::vector<float> weights_;
  std::vector<float> biases_;
  std::vector<int64_t> csr_edge_;
  std::vector<int32_t> edge_i_, edge_j_;
};

}  // namespace pbit
