#include "pbit/core/coloring.hpp"

#include <algorithm>
#include <queue>
#include <set>
#include <utility>
#include <unordered_set>
#include <tuple>

#include "pbit/error.hpp"

namespace pbit {

void verify_coloring(const Graph& g, std::span<const int32_t> colors) {
  if (static_cast<int64_t>(colors.size()) != g.num_nodes()) {
    throw InvalidColoring("coloring has " + std::to_string(colors.size()) + " entries but the graph has " +
                          std::to_string(g.num_nodes()) + " nodes");
  }
  // Colors are 0..k-1 with every one used, so k <= N: a larger color is refused before anything of
  // its size is allocated (2147483647 used to overflow k and crash).
  const int32_t n = g.num_nodes();
  int32_t k = 0;
  for (size_t i = 0; i < colors.size(); ++i) {
    if (colors[i] < 0) {
      throw InvalidColoring("node " + std::to_string(i) + " has negative color " + std::to_string(colors[i]));
    }
    if (colors[i] >= n) {
      throw InvalidColoring("node " + std::to_string(i) + " has color " + std::to_string(colors[i]) + ", but " + std::to_string(n) +
                            " nodes need at most colors 0.." + std::to_string(n - 1));
    }
    k = std::max(k, colors[i] + 1);
  }
  std::vector<char> used(static_cast<size_t>(k), 0);
  for (int32_t c : colors) used[c] = 1;
  for (int32_t c = 0; c < k; ++c) {
    if (!used[c]) {
      throw InvalidColoring("color " + std::to_string(c) + " is unused; colors must be 0.." + std::to_string(k - 1));
    }
  }
  for (int64_t e = 0; e < g.num_edges(); ++e) {
    const int32_t i = g.edge_i()[e], j = g.edge_j()[e];
    if (colors[i] == colors[j]) {
      throw InvalidColoring("edge (" + std::to_string(i) + ", " + std::to_string(j) + ") joins two nodes of color " +
                            std::to_string(colors[i]));
    }
  }
}

Coloring::Coloring(const Graph& graph, std::vector<int32_t> colors) {
  verify_coloring(graph, colors);
  color_ = std::move(colors);
  int32_t k = 0;
  for (int32_t c : color_) k = std::max(k, c + 1);
  classes_.assign(static_cast<size_t>(k), {});
  rank_.assign(color_.size(), 0);
  for (int32_t i = 0; i < static_cast<int32_t>(color_.size()); ++i) {
    rank_[i] = static_cast<int32_t>(classes_[color_[i]].size());
    classes_[color_[i]].push_back(i);
  }
}

std::vector<int32_t> bipartite_coloring(const Graph& g) {
  const int32_t n = g.num_nodes();
  std::vector<int32_t> color(static_cast<size_t>(n), -1);
  std::queue<int32_t> q;
  for (int32_t s = 0; s < n; ++s) {
    if (color[s] >= 0) continue;
    color[s] = 0;
    q.push(s);
    while (!q.empty()) {
      const int32_t i = q.front();
      q.pop();
      for (int64_t k = g.row_ptr()[i]; k < g.row_ptr()[i + 1]; ++k) {
        const int32_t j = g.col_idx()[k];
        if (color[j] < 0) {
          color[j] = 1 - color[i];
          q.push(j);
        } else if (color[j] == color[i]) {
          return {};
        }
      }
    }
  }
  // A graph without edges is "bipartite" but may use one color only; verify_coloring wants 0..k-1 used.
  return color;
}

namespace {

std::vector<int32_t> dsatur(const Graph& g) {
  const int32_t n = g.num_nodes();
  std::vector<int32_t> color(static_cast<size_t>(n), -1);
  std::vector<int32_t> sat(static_cast<size_t>(n), 0);
  // Which colors node j's colored neighbours carry: a flag per color 0..deg(j), at row_ptr[j] + j
  // (deg(j) + 1 flags a node, O(N + E) in all; a square N x (max degree + 2) table took 40 GB for a
  // hub node joined to 100,000 others). j's own color is the smallest not flagged, so at most deg(j);
  // a neighbour's color above deg(j) only raises j's saturation, and is remembered in `above`.
  std::vector<char> seen(static_cast<size_t>(g.num_nodes()) + static_cast<size_t>(g.row_ptr().back()), 0);
  std::unordered_set<uint64_t> above;
  // Highest saturation, then highest degree, then lowest index.
  using Key = std::tuple<int32_t, int32_t, int32_t>;  // (sat, degree, -index)
  std::set<Key> pq;
  for (int32_t i = 0; i < n; ++i) pq.insert({0, g.degree(i), -i});
  while (!pq.empty()) {
    const auto it = std::prev(pq.end());
    const int32_t i = -std::get<2>(*it);
    pq.erase(it);
    const char* mine = seen.data() + g.row_ptr()[i] + i;
    int32_t c = 0;
    while (mine[c]) ++c;  // stops at deg(i) at the latest: deg(i) neighbours flag at most deg(i) colors
    color[i] = c;
    for (int64_t k = g.row_ptr()[i]; k < g.row_ptr()[i + 1]; ++k) {
      const int32_t j = g.col_idx()[k];
      if (color[j] >= 0) continue;
      const bool fresh = c <= g.degree(j) ? !std::exchange(seen[static_cast<size_t>(g.row_ptr()[j] + j + c)], char{1})
                                          : above.insert(static_cast<uint64_t>(j) << 32 | static_cast<uint32_t>(c)).second;
      if (fresh) {
        pq.erase({sat[j], g.degree(j), -j});
        ++sat[j];
        pq.insert({sat[j], g.degree(j), -j});
      }
    }
  }
  return color;
}

}  // namespace

Coloring color_graph(const Graph& g) {
  if (g.num_nodes() == 0) return Coloring(g, {});
  std::vector<int32_t> c = bipartite_coloring(g);
  if (!c.empty()) {
    const bool uses_both = std::find(c.begin(), c.end(), 1) != c.end();
    if (!uses_both) std::fill(c.begin(), c.end(), 0);
    return Coloring(g, std::move(c));
  }
  return Coloring(g, dsatur(g));
}

}  // namespace pbit
