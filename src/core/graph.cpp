#include "pbit/core/graph.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <tuple>
#include <utility>

#include "pbit/error.hpp"
#include "util/memory.hpp"

namespace pbit {
namespace {

std::string edge_str(int32_t i, int32_t j) {
  std::ostringstream os;
  os << "(" << i << ", " << j << ")";
  return os.str();
}

void check_biases(const std::vector<float>& biases, int32_t n) {
  if (!biases.empty() && static_cast<int64_t>(biases.size()) != n) {
    throw InvalidGraph("expected " + std::to_string(n) + " biases, got " + std::to_string(biases.size()));
  }
  for (size_t i = 0; i < biases.size(); ++i) {
    if (!std::isfinite(biases[i])) {
      std::ostringstream os;
      os << "non-finite bias h[" << i << "] = " << biases[i];
      throw InvalidGraph(os.str());
    }
  }
}

}  // namespace

// (Its members start as Graph()'s: row_ptr_ {0} is one int64 allocated, as the assignment's reset
// allocates another. A failed allocation of either ends the program, as noexcept says.)
Graph::Graph(Graph&& other) noexcept { *this = std::move(other); }

Graph& Graph::operator=(Graph&& other) noexcept {
  if (this == &other) return *this;
  n_ = std::exchange(other.n_, 0);
  row_ptr_ = std::move(other.row_ptr_);
  col_idx_ = std::move(other.col_idx_);
  weights_ = std::move(other.weights_);
  biases_ = std::move(other.biases_);
  csr_edge_ = std::move(other.csr_edge_);
  edge_i_ = std::move(other.edge_i_);
  edge_j_ = std::move(other.edge_j_);
  other.col_idx_.clear();  // (a moved-from vector is only "valid but unspecified")
  other.weights_.clear();
  other.biases_.clear();
  other.csr_edge_.clear();
  other.edge_i_.clear();
  other.edge_j_.clear();
  other.row_ptr_.assign(1, 0);  // Graph()'s {0}
  return *this;
}

Graph Graph::from_edges(int32_t num_nodes, std::span<const Edge> edges, std::vector<float> biases) {
  if (num_nodes < 0) throw InvalidGraph("negative node count " + std::to_string(num_nodes));
  detail::check_memory(graph_bytes(num_nodes, static_cast<int64_t>(edges.size())),
                       "a graph of " + std::to_string(num_nodes) + " nodes and " + std::to_string(edges.size()) + " edges");
  check_biases(biases, num_nodes);
  // Normalise to (min, max), validate, sort, merge duplicates.
  std::vector<Edge> es;
  es.reserve(edges.size());
  for (size_t k = 0; k < edges.size(); ++k) {
    const Edge& e = edges[k];
    for (int32_t v : {e.i, e.j}) {
      if (v < 0 || v >= num_nodes) {
        throw InvalidGraph("edge " + std::to_string(k) + " " + edge_str(e.i, e.j) + ": node index " +
                           std::to_string(v) + " out of range [0, " + std::to_string(num_nodes) + ")");
      }
    }
    if (e.i == e.j) throw InvalidGraph("edge " + std::to_string(k) + " " + edge_str(e.i, e.j) + ": self loop");
    if (!std::isfinite(e.weight)) {
      std::ostringstream os;
      os << "edge " << k << " " << edge_str(e.i, e.j) << ": non-finite coupling " << e.weight;
      throw InvalidGraph(os.str());
    }
    es.push_back(Edge{std::min(e.i, e.j), std::max(e.i, e.j), e.weight});
  }
  std::stable_sort(es.begin(), es.end(),
                   [](const Edge& a, const Edge& b) { return std::tie(a.i, a.j) < std::tie(b.i, b.j); });
  std::vector<Edge> uniq;
  uniq.reserve(es.size());
  for (const Edge& e : es) {
    if (!uniq.empty() && uniq.back().i == e.i && uniq.back().j == e.j) {
      if (uniq.back().weight != e.weight) {
        std::ostringstream os;
        os << "duplicate edge " << edge_str(e.i, e.j) << " with conflicting weights " << uniq.back().weight
           << " and " << e.weight;
        throw InvalidGraph(os.str());
      }
      continue;
    }
    uniq.push_back(e);
  }
  // Symmetric CSR with sorted neighbour lists.
  Graph g;
  g.n_ = num_nodes;
  std::vector<int64_t> deg(static_cast<size_t>(num_nodes) + 1, 0);
  for (const Edge& e : uniq) {
    ++deg[e.i + 1];
    ++deg[e.j + 1];
  }
  g.row_ptr_.assign(deg.size(), 0);
  for (int32_t i = 0; i < num_nodes; ++i) g.row_ptr_[i + 1] = g.row_ptr_[i] + deg[i + 1];
  g.col_idx_.assign(static_cast<size_t>(g.row_ptr_.back()), 0);
  g.weights_.assign(g.col_idx_.size(), 0.0f);
  std::vector<int64_t> fill(g.row_ptr_.begin(), g.row_ptr_.end() - 1);
  // uniq is sorted by (i, j): pushing j into row i and i into row j in this order keeps rows sorted
  // (row r receives first its lower neighbours i < r in increasing i, then its higher ones in increasing j).
  for (const Edge& e : uniq) {
    g.col_idx_[fill[e.j]] = e.i;
    g.weights_[fill[e.j]++] = e.weight;
  }
  for (const Edge& e : uniq) {
    g.col_idx_[fill[e.i]] = e.j;
    g.weights_[fill[e.i]++] = e.weight;
  }
  g.biases_ = biases.empty() ? std::vector<float>(static_cast<size_t>(num_nodes), 0.0f) : std::move(biases);
  g.check_local_fields("from_edges", g.weights_, g.biases_);
  g.build_edge_index();
  return g;
}

Graph Graph::from_csr(int32_t num_nodes, std::vector<int64_t> row_ptr, std::vector<int32_t> col_idx,
                      std::vector<float> weights, std::vector<float> biases) {
  if (num_nodes < 0) throw InvalidGraph("negative node count " + std::to_string(num_nodes));
  check_biases(biases, num_nodes);
  Graph g;
  g.n_ = num_nodes;
  g.row_ptr_ = std::move(row_ptr);
  g.col_idx_ = std::move(col_idx);
  g.weights_ = std::move(weights);
  g.biases_ = biases.empty() ? std::vector<float>(static_cast<size_t>(num_nodes), 0.0f) : std::move(biases);
  g.validate_csr();
  g.check_local_fields("from_csr", g.weights_, g.biases_);
  g.build_edge_index();
  return g;
}

void Graph::check_local_fields(const char* what, const std::vector<float>& w, const std::vector<float>& h) const {
  for (int32_t i = 0; i < n_; ++i) {
    double s = std::fabs(static_cast<double>(h[static_cast<size_t>(i)]));
    for (int64_t k = row_ptr_[i]; k < row_ptr_[i + 1]; ++k) s += std::fabs(static_cast<double>(w[static_cast<size_t>(k)]));
    if (s > kMaxLocalField) {
      std::ostringstream os;
      os << what << ": node " << i << "'s couplings and bias sum to " << s << " in magnitude, above " << kMaxLocalField
         << " (a float sum of them would overflow)";
      throw InvalidGraph(os.str());
    }
  }
}

void Graph::validate_csr() const {
  if (row_ptr_.size() != static_cast<size_t>(n_) + 1) {
    throw InvalidGraph("CSR row_ptr has " + std::to_string(row_ptr_.size()) + " entries, expected " +
                       std::to_string(n_ + 1));
  }
  if (row_ptr_.front() != 0 || row_ptr_.back() != static_cast<int64_t>(col_idx_.size()) ||
      col_idx_.size() != weights_.size()) {
    throw InvalidGraph("CSR arrays are inconsistent: row_ptr[0] = " + std::to_string(row_ptr_.front()) +
                       ", row_ptr[N] = " + std::to_string(row_ptr_.back()) + ", " +
                       std::to_string(col_idx_.size()) + " column indices, " + std::to_string(weights_.size()) +
                       " weights");
  }
  // Every row's range inside col_idx before any row is read: a row_ptr whose ends are right but
  // whose middle overshoots would otherwise send a row past the arrays.
  for (int32_t i = 0; i < n_; ++i) {
    if (row_ptr_[i + 1] < row_ptr_[i]) throw InvalidGraph("CSR row_ptr decreases at row " + std::to_string(i));
    if (row_ptr_[i + 1] > row_ptr_.back()) {
      throw InvalidGraph("CSR row_ptr[" + std::to_string(i + 1) + "] = " + std::to_string(row_ptr_[i + 1]) +
                         " is past the " + std::to_string(col_idx_.size()) + " column indices");
    }
  }
  for (int32_t i = 0; i < n_; ++i) {
    for (int64_t k = row_ptr_[i]; k < row_ptr_[i + 1]; ++k) {
      const int32_t j = col_idx_[k];
      if (j < 0 || j >= n_) {
        throw InvalidGraph("CSR entry " + edge_str(i, j) + ": node index " + std::to_string(j) +
                           " out of range [0, " + std::to_string(n_) + ")");
      }
      if (j == i) throw InvalidGraph("CSR entry " + edge_str(i, j) + ": self loop");
      if (!std::isfinite(weights_[k])) {
        std::ostringstream os;
        os << "CSR entry " << edge_str(i, j) << ": non-finite coupling " << weights_[k];
        throw InvalidGraph(os.str());
      }
      if (k > row_ptr_[i] && col_idx_[k - 1] >= j) {
        throw InvalidGraph("CSR row " + std::to_string(i) + " is not strictly ascending at column " +
                           std::to_string(j) + " (duplicate or unsorted entry)");
      }
    }
  }
  for (int32_t i = 0; i < n_; ++i) {
    for (int64_t k = row_ptr_[i]; k < row_ptr_[i + 1]; ++k) {
      const int32_t j = col_idx_[k];
      const auto b = col_idx_.begin() + row_ptr_[j], e = col_idx_.begin() + row_ptr_[j + 1];
      const auto it = std::lower_bound(b, e, i);
      if (it == e || *it != i) {
        throw InvalidGraph("CSR is not symmetric: J" + edge_str(i, j) + " is stored but J" + edge_str(j, i) +
                           " is missing");
      }
      const float back = weights_[it - col_idx_.begin()];
      if (back != weights_[k]) {
        std::ostringstream os;
        os << "CSR is not symmetric: J" << edge_str(i, j) << " = " << weights_[k] << " but J" << edge_str(j, i)
           << " = " << back;
        throw InvalidGraph(os.str());
      }
    }
  }
}

void Graph::build_edge_index() {
  edge_i_.clear();
  edge_j_.clear();
  csr_edge_.assign(col_idx_.size(), -1);
  for (int32_t i = 0; i < n_; ++i) {
    for (int64_t k = row_ptr_[i]; k < row_ptr_[i + 1]; ++k) {
      if (col_idx_[k] > i) {
        csr_edge_[k] = static_cast<int64_t>(edge_i_.size());
        edge_i_.push_back(i);
        edge_j_.push_back(col_idx_[k]);
      }
    }
  }
  for (int32_t i = 0; i < n_; ++i) {
    for (int64_t k = row_ptr_[i]; k < row_ptr_[i + 1]; ++k) {
      if (col_idx_[k] < i) csr_edge_[k] = find_edge(col_idx_[k], i);
    }
  }
}

int32_t Graph::max_degree() const {
  int32_t m = 0;
  for (int32_t i = 0; i < n_; ++i) m = std::max(m, degree(i));
  return m;
}

std::vector<Edge> Graph::edges() const {
  std::vector<Edge> out(edge_i_.size());
  for (size_t e = 0; e < out.size(); ++e) out[e] = Edge{edge_i_[e], edge_j_[e], coupling(edge_i_[e], edge_j_[e])};
  return out;
}

int64_t Graph::find_edge(int32_t i, int32_t j) const {
  if (i < 0 || j < 0 || i >= n_ || j >= n_ || i == j) return -1;
  const auto b = col_idx_.begin() + row_ptr_[i], e = col_idx_.begin() + row_ptr_[i + 1];
  const auto it = std::lower_bound(b, e, j);
  if (it == e || *it != j) return -1;
  const int64_t k = it - col_idx_.begin();
  if (i < j) return csr_edge_.empty() || csr_edge_[k] < 0 ? -1 : csr_edge_[k];
  return find_edge(j, i);
}

float Graph::coupling(int32_t i, int32_t j) const {
  if (i < 0 || j < 0 || i >= n_ || j >= n_ || i == j) return 0.0f;
  const auto b = col_idx_.begin() + row_ptr_[i], e = col_idx_.begin() + row_ptr_[i + 1];
  const auto it = std::lower_bound(b, e, j);
  return (it == e || *it != j) ? 0.0f : weights_[it - col_idx_.begin()];
}

void Graph::set_edge_weights(std::span<const float> w) {
  if (static_cast<int64_t>(w.size()) != num_edges()) {
    throw InvalidArgument("set_edge_weights: expected " + std::to_string(num_edges()) + " weights, got " +
                          std::to_string(w.size()));
  }
  for (size_t e = 0; e < w.size(); ++e) {
    if (!std::isfinite(w[e])) {
      std::ostringstream os;
      os << "non-finite coupling on edge " << edge_str(edge_i_[e], edge_j_[e]) << ": " << w[e];
      throw InvalidGraph(os.str());
    }
  }
  std::vector<float> csr(col_idx_.size());
  for (size_t k = 0; k < col_idx_.size(); ++k) csr[k] = w[csr_edge_[k]];
  check_local_fields("set_edge_weights", csr, biases_);  // before anything changes
  weights_ = std::move(csr);
}

void Graph::set_biases(std::span<const float> h) {
  std::vector<float> v(h.begin(), h.end());
  if (static_cast<int64_t>(v.size()) != n_) {
    throw InvalidArgument("set_biases: expected " + std::to_string(n_) + " biases, got " + std::to_string(v.size()));
  }
  check_biases(v, n_);
  check_local_fields("set_biases", weights_, v);
  biases_ = std::move(v);
}

Graph Graph::with_row_weights(std::vector<float> csr_weights, std::vector<float> biases) const {
  if (csr_weights.size() != weights_.size() || biases.size() != static_cast<size_t>(n_)) {
    throw InvalidArgument("with_row_weights: " + std::to_string(csr_weights.size()) + " couplings and " + std::to_string(biases.size()) +
                          " biases for a graph of " + std::to_string(weights_.size()) + " CSR entries and " + std::to_string(n_) + " nodes");
  }
  for (float v : csr_weights)
    if (!std::isfinite(v)) throw InvalidGraph("with_row_weights: a coupling is not finite");
  for (float v : biases)
    if (!std::isfinite(v)) throw InvalidGraph("with_row_weights: a bias is not finite");
  Graph g = *this;
  g.weights_ = std::move(csr_weights);
  g.biases_ = std::move(biases);
  g.check_local_fields("with_row_weights", g.weights_, g.biases_);
  return g;
}

std::vector<float> Graph::edge_weights() const {
  std::vector<float> w(edge_i_.size());
  for (int32_t i = 0; i < n_; ++i) {
    for (int64_t k = row_ptr_[i]; k < row_ptr_[i + 1]; ++k) {
      if (col_idx_[k] > i) w[csr_edge_[k]] = weights_[k];
    }
  }
  return w;
}

double Graph::energy(std::span<const int8_t> s) const {
  if (static_cast<int64_t>(s.size()) != n_) {
    throw InvalidArgument("energy: expected " + std::to_string(n_) + " spins, got " + std::to_string(s.size()));
  }
  return energy(s, edge_weights());
}

double Graph::energy(std::span<const int8_t> s, std::span<const float> w) const {
  if (static_cast<int64_t>(s.size()) != n_ || w.size() != edge_i_.size()) {
    throw InvalidArgument("energy: expected " + std::to_string(n_) + " spins and " + std::to_string(edge_i_.size()) +
                          " edge weights, got " + std::to_string(s.size()) + " and " + std::to_string(w.size()));
  }
  // Bits (0/1) would give another model's energy, silently. A branch-free pass first (it vectorises:
  // the tempering swap rounds call this for every chain), then the culprit only when there is one.
  int bad = 0;
  for (int32_t i = 0; i < n_; ++i) bad |= s[i] * s[i] != 1;
  if (bad) {
    const auto i = static_cast<size_t>(std::find_if(s.begin(), s.end(), [](int8_t v) { return v * v != 1; }) - s.begin());
    throw InvalidArgument("energy: spin " + std::to_string(i) + " is " + std::to_string(s[i]) + ", not +1 or -1");
  }
  double acc = 0.0;
  for (size_t e = 0; e < edge_i_.size(); ++e) acc += static_cast<double>(w[e]) * (s[edge_i_[e]] * s[edge_j_[e]]);
  for (int32_t i = 0; i < n_; ++i) acc += static_cast<double>(biases_[i]) * s[i];
  return -acc;
}

}  // namespace pbit
