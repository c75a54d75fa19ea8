#include <gtest/gtest.h>

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
