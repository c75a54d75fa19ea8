#include <gtest/gtest.h>
#include <tuple>
#include <set>

#include "pbit/core/coloring.hpp"
#include "pbit/core/rng.hpp"
#include "pbit/error.hpp"
#include "pbit/hardware/topology.hpp"

namespace pbit::test {
namespace {

Graph ring(int n) {
  std::vector<Edge> e;
  for (int i = 0; i < n; ++i) e.push_back({i, (i + 1) % n, 1.0f});
  return Graph::from_edges(n, e);
}

TEST(Coloring, BipartiteGraphsGetTwoColors) {
  EXPECT_EQ(color_graph(square_lattice(10, true)).num_colors(), 2);
  EXPECT_EQ(color_graph(square_lattice(7, false)).num_colors(), 2);
  EXPECT_EQ(color_graph(ring(12)).num_colors(), 2);
  // Complete bipartite K_{5,7}.
  std::vector<Edge> e;
  for (int i = 0; i < 5; ++i)
    for (int j = 5; j < 12; ++j) e.push_back({i, j, 1.0f});
  EXPECT_EQ(color_graph(Graph::from_edges(12, e)).num_colors(), 2);
}

TEST(Coloring, OddCyclesAndCliques) {
  EXPECT_EQ(color_graph(ring(7)).num_colors(), 3);
  EXPECT_EQ(color_graph(square_lattice(5, true)).num_colors(), 3);  // odd torus
  std::vector<Edge> k6;
  for (int i = 0; i < 6; ++i)
    for (int j = i + 1; j < 6; ++j) k6.push_back({i, j, 1.0f});
  EXPECT_EQ(color_graph(Graph::from_edges(6, k6)).num_colors(), 6);
}

TEST(Coloring, DsaturIsProperOnRandomGraphsAndDeterministic) {
  for (int d : {3, 6, 15}) {
    const Graph g = random_regular(1000, d, d);
    const Coloring c = color_graph(g);
    EXPECT_NO_THROW(verify_coloring(g, c.colors()));
    EXPECT_LE(c.num_colors(), d + 1);
    EXPECT_EQ(c.colors(), color_graph(g).colors());
    // Classes and ranks are consistent.
    for (int32_t k = 0; k < c.num_colors(); ++k) {
      for (size_t r = 0; r < c.classes()[k].size(); ++r) {
        const int32_t i = c.classes()[k][r];
        EXPECT_EQ(c.colors()[i], k);
        EXPECT_EQ(c.rank_in_color()[i], static_cast<int32_t>(r));
        if (r) EXPECT_LT(c.classes()[k][r - 1], i);
      }
    }
  }
}

// Irregular graphs, where DSATUR's degree order matters (every graph above is regular): wheels (a
// hub joined to every node of a ring) need 4 colors around an odd ring and 3 around an even one, and
// DSATUR, which starts at the hub, colors wheels optimally; on random sparse graphs of mixed degree
// it stays proper.
TEST(Coloring, DsaturOnIrregularGraphs) {
  auto wheel = [](int rim) {
    std::vector<Edge> e;
    for (int i = 0; i < rim; ++i) {
      e.push_back({i, (i + 1) % rim, 1.0f});
      e.push_back({i, rim, 1.0f});
    }
    return Graph::from_edges(rim + 1, e);
  };
  for (int rim : {5, 6, 7, 8, 11, 12}) {
    const Graph g = wheel(rim);
    const Coloring c = color_graph(g);
    EXPECT_NO_THROW(verify_coloring(g, c.colors())) << rim;
    EXPECT_EQ(c.num_colors(), rim % 2 ? 4 : 3) << "wheel with a rim of " << rim;
    EXPECT_EQ(c.colors()[rim], 0) << "DSATUR starts at the node of highest degree, the hub";
    EXPECT_EQ(c.colors()[0], 1) << "then the lowest-numbered of the rim, all equally saturated";
  }
  rng::PhiloxStream rs(5, rng::kTest);
  std::vector<Edge> e;
  for (int i = 0; i < 300; ++i)
    for (int j = i + 1; j < 300; ++j)
      if (rs.uniform() < (i < 30 ? 0.2 : 0.01)) e.push_back({i, j, 1.0f});  // 30 dense nodes among sparse ones
  const Graph g = Graph::from_edges(300, e);
  const Coloring c = color_graph(g);
  EXPECT_NO_THROW(verify_coloring(g, c.colors()));
  EXPECT_LE(c.num_colors(), g.max_degree() + 1);
  EXPECT_EQ(c.colors(), color_graph(g).colors());
}

/// DSATUR as first written: a square table of neighbour-color counts (N x (max degree + 2)).
std::vector<int32_t> dense_dsatur(const Graph& g) {
  const int32_t n = g.num_nodes(), width = g.max_degree() + 2;
  std::vector<int32_t> color(static_cast<size_t>(n), -1), sat(static_cast<size_t>(n), 0), cnt(static_cast<size_t>(n) * width, 0);
  std::set<std::tuple<int32_t, int32_t, int32_t>> pq;
  for (int32_t i = 0; i < n; ++i) pq.insert({0, g.degree(i), -i});
  while (!pq.empty()) {
    const int32_t i = -std::get<2>(*std::prev(pq.end()));
    pq.erase(std::prev(pq.end()));
    int32_t c = 0;
    while (cnt[static_cast<size_t>(i) * width + c] > 0) ++c;
    color[i] = c;
    for (int64_t k = g.row_ptr()[i]; k < g.row_ptr()[i + 1]; ++k) {
      const int32_t j = g.col_idx()[k];
      if (color[j] < 0 && cnt[static_cast<size_t>(j) * width + c]++ == 0) {
        pq.erase({sat[j], g.degree(j), -j});
        pq.insert({++sat[j], g.degree(j), -j});
      }
    }
  }
  return color;
}

// DSATUR keeps O(N + E) memory (a flag per node and neighbour slot), and colors exactly as the square
// table did, on graphs whose nodes see neighbour colors above their own degree. A hub joined to
// 200,000 nodes plus a triangle (not bipartite) needed 160 GB that way.
TEST(Coloring, DsaturTakesMemoryOfTheEdgesNotOfNodesTimesDegree) {
  rng::PhiloxStream rs(9, rng::kTest);
  for (int trial = 0; trial < 4; ++trial) {
    std::vector<Edge> e;
    const int n = 400;
    for (int i = 0; i < n; ++i)
      for (int j = i + 1; j < n; ++j)
        if (rs.uniform() < (i < 20 ? 0.5 : (trial + 1) * 0.004)) e.push_back({i, j, 1.0f});
    const Graph g = Graph::from_edges(n, e);
    if (bipartite_coloring(g).size()) continue;
    EXPECT_EQ(color_graph(g).colors(), dense_dsatur(g)) << trial;
  }
  const int32_t n = 200000;
  std::vector<Edge> hub;
  for (int32_t i = 1; i < n; ++i) hub.push_back({0, i, 1.0f});
  hub.push_back({1, 2, 1.0f});
  const Graph g = Graph::from_edges(n, hub);
  const Coloring c = color_graph(g);
  EXPECT_EQ(c.num_colors(), 3);
  EXPECT_NO_THROW(verify_coloring(g, c.colors()));
}

TEST(Coloring, EdgelessGraphUsesOneColor) {
  const Graph g = Graph::from_edges(5, std::vector<Edge>{});
  EXPECT_EQ(color_graph(g).num_colors(), 1);
}

TEST(Coloring, InvalidColoringNamesTheEdge) {
  const Graph g = ring(6);
  try {
    verify_coloring(g, std::vector<int32_t>{0, 1, 0, 0, 1, 2});
    FAIL() << "no error";
  } catch (const InvalidColoring& e) {
    EXPECT_NE(std::string(e.what()).find("edge (2, 3) joins two nodes of color 0"), std::string::npos) << e.what();
  }
  EXPECT_THROW(verify_coloring(g, std::vector<int32_t>{0, 1, 0}), InvalidColoring);           // wrong size
  EXPECT_THROW(verify_coloring(g, std::vector<int32_t>{0, 1, 0, 1, 0, -1}), InvalidColoring);  // negative
  EXPECT_THROW(verify_coloring(g, std::vector<int32_t>{0, 2, 0, 2, 0, 2}), InvalidColoring);   // color 1 unused
  EXPECT_NO_THROW(Coloring(g, {0, 1, 0, 1, 0, 1}));
  EXPECT_NO_THROW(Coloring(g, {0, 1, 2, 0, 1, 2}));  // proper with 3 colors is fine too
}

}  // namespace
}  // namespace pbit::test
