// Graph generators: the hardware topologies probabilistic computers are built on, and simple lattices.
//
// Pegasus and Zephyr graphs are node-for-node the graphs of dwave_networkx.pegasus_graph(m) (default
// fabric_only=True) and dwave_networkx.zephyr_graph(m, t): node ids are the D-Wave linear indices of
// the nodes present, renumbered in ascending order, and each node keeps its hardware coordinates.
// Generated couplings are 1 and biases 0 (structure only); with_random_weights() draws weights.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pbit/core/coloring.hpp"
#include "pbit/core/graph.hpp"

namespace pbit {

/// A generated graph with its proper coloring and (for hardware graphs) coordinates.
struct Topology {
  std::string name;                      ///< e.g. "pegasus(14)", "grid(70, G12, torus)"
  Graph graph;                           ///< couplings 1, biases 0
  std::vector<int32_t> colors;           ///< a proper coloring (closed form where one exists)
  std::string coloring_method;           ///< which formula, or "dsatur"
  std::vector<std::string> coordinate_names;    ///< e.g. {"u", "w", "k", "z"}; empty if none
  std::vector<std::vector<int32_t>> coordinates;  ///< per node, in coordinate_names order
  std::vector<int64_t> linear_index;     ///< per node: the vendor's linear index (empty if none)

  Coloring coloring() const { return Coloring(graph, colors); }
};

/// dwave_networkx.pegasus_graph(m), fabric_only: 24m(m-1) - 8(m-1) nodes, 180(m-1)^2 - 16 edges, m >= 2.
/// Coordinates (u, w, k, z); linear index q = ((u m + w) 12 + k)(m - 1) + z; coloring 2u + ((k xor z) & 1).
Topology pegasus(int32_t m);

/// dwave_networkx.zephyr_graph(m, t): 4tm(2m+1) nodes, 2t((8t+8)m^2 - 2m - 3) edges (m > 1).
/// Coordinates (u, w, k, j, z); linear index q = (((u(2m+1) + w)t + k)2 + j)m + z;
/// coloring j + ((w + 2(z + u) + j) & 2).
Topology zephyr(int32_t m, int32_t t = 4);

/// dwave_networkx.chimera_graph(m, n, t): m x n tiles of K_{t,t}; coordinates (i, j, u, k), linear
/// index ((i n + j) 2 + u) t + k; 2-coloring (i + j + u) mod 2.
Topology chimera(int32_t m, int32_t n = -1, int32_t t = 4);

/// One Extropic grid rule: node (r, c) connects to (r, c) + each of (a, b), (-b, a), (-a, -b), (b, -a).
/// a + b must be odd (so the checkerboard coloring is proper); each rule adds degree 4.
struct GridRule {
  int32_t a = 0, b = 0;
};
/// Rule lists by name: "G8", "G12", "G16", "G20", "G24" and the replication's variants "G12r", "G16r",
/// "G20r" (docs/TOPOLOGIES.md says where each comes from). Throws InvalidArgument for other names.
std::vector<GridRule> grid_preset(const std::string& name);
/// L x L grid, node = row * L + col, on a torus or with an open boundary.
/// Coloring: checkerboard (r + c) mod 2 when proper (always open; torus needs even L), else DSATUR.
/// Throws InvalidArgument when two rules give the same neighbour (on a torus also when L is so small
/// that offsets collide mod L or wrap onto the node), or an offset is above 8192 in magnitude.
Topology extropic_grid(int32_t L, const std::vector<GridRule>& rules, bool torus = true, const std::string& label = "");

/// L x L square lattice (4 neighbours); checkerboard coloring when proper.
Topology square_lattice_topology(int32_t L, bool periodic = true);
/// L x L king's graph (8 neighbours); coloring 2 (r mod 2) + (c mod 2) when proper.
Topology king_graph(int32_t L, bool periodic = false);

/// Parses a topology spec: "pegasus:M", "zephyr:M[:T]", "chimera:M[:N[:T]]",
/// "grid:L:PRESET[:torus|open]", "grid:L:a,b;c,d;...[:torus|open]", "lattice:L[:torus|open]",
/// "king:L[:torus|open]", "regular:N:D[:SEED]". Throws InvalidArgument naming the problem.
Topology make_topology(const std::string& spec);

/// L x L square lattice (4 neighbours), periodic (torus, needs L >= 3) or open. Node = row * L + col.
/// All couplings `J`, biases 0.
Graph square_lattice(int32_t L, bool periodic = true, float J = 1.0f);

/// Random simple d-regular graph on n nodes (n * d even, d <= n / 2: pbit draws sparse ones only),
/// seeded: same seed, same graph.
/// Pairs random free stubs that form a new simple edge and restarts when stuck (Steger-Wormald).
Graph random_regular(int32_t n, int32_t d, uint64_t seed);

/// Same structure, couplings drawn from N(0, sigma_j^2) and biases from N(0, sigma_h^2), seeded.
Graph with_random_weights(const Graph& g, uint64_t seed, float sigma_j, float sigma_h = 0.0f);

/// Graph JSON (io.hpp) with the coloring, plus "meta": topology name, coloring method, coordinate
/// names, per-node coordinates and linear indices. read_graph_file() reads it back (meta is kept only
/// as documentation).
nlohmann::json topology_to_json(const Topology& t);
/// Writes topology_to_json for *.json paths, else an edge list headed by a comment naming the topology.
void write_topology_file(const std::string& path, const Topology& t);

/// Number of triangles (3-cliques).
int64_t count_triangles(const Graph& g);

}  // namespace pbit
