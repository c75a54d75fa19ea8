// Proper graph colorings: nodes of one color share no edge, so a color class updates in parallel.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "pbit/core/graph.hpp"

namespace pbit {

/// A proper coloring and its color classes.
/// classes()[c] lists the nodes of color c in ascending order; rank_in_color()[i] is the position of
/// node i in its class. Both feed the RNG counter (include/pbit/core/rng.hpp), so every backend must use
/// the same Coloring to draw the same numbers.
class Coloring {
 public:
  Coloring() = default;
  /// Validates `colors` against `graph` (throws InvalidColoring naming the first bad edge or node).
  Coloring(const Graph& graph, std::vector<int32_t> colors);

  int32_t num_colors() const { return static_cast<int32_t>(classes_.size()); }
  int32_t num_nodes() const { return static_cast<int32_t>(color_.size()); }
  const std::vector<int32_t>& colors() const { return color_; }
  const std::vector<std::vector<int32_t>>& classes() const { return classes_; }
  const std::vector<int32_t>& rank_in_color() const { return rank_; }

 private:
  std::vector<int32_t> color_;
  std::vector<std::vector<int32_t>> classes_;
  std::vector<int32_t> rank_;
};

/// Checks that `colors` is a proper coloring of `graph` with colors 0..k-1 all used.
/// Throws InvalidColoring naming the offending edge (or node, for a size/range problem).
void verify_coloring(const Graph& graph, std::span<const int32_t> colors);

/// DSATUR (Brelaz 1979) with ties broken by degree then lowest index; deterministic.
/// A bipartite graph is detected first and gets its 2-coloring (DSATUR is also exact there).
Coloring color_graph(const Graph& graph);

/// The 2-coloring of a bipartite graph (BFS), or an empty vector if the graph has an odd cycle.
std::vector<int32_t> bipartite_coloring(const Graph& graph);

}  // namespace pbit
