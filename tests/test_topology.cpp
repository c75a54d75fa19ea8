// Hardware topologies: counts from the literature, node-for-node identity with dwave_networkx, valid
// closed-form colorings, deterministic generators and role placement.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>

#include "pbit/error.hpp"
#include "pbit/core/io.hpp"
#include "pbit/hardware/roles.hpp"
#include "pbit/hardware/topology.hpp"
#include "test_util.hpp"

namespace pbit::test {
namespace {

std::map<int32_t, int64_t> degree_histogram(const Graph& g) {
  std::map<int32_t, int64_t> h;
  for (int32_t i = 0; i < g.num_nodes(); ++i) ++h[g.degree(i)];
  return h;
}

/// FNV-1a 64 of the sorted edge list "a b\n" written in vendor linear indices.
uint64_t linear_edge_digest(const Topology& t) {
  std::vector<std::pair<int64_t, int64_t>> e;
  for (int64_t k = 0; k < t.graph.num_edges(); ++k) {
    const int64_t a = t.linear_index[t.graph.edge_i()[k]], b = t.linear_index[t.graph.edge_j()[k]];
    e.push_back({std::min(a, b), std::max(a, b)});
  }
  std::sort(e.begin(), e.end());
  uint64_t h = 0xcbf29ce484222325ull;
  char buf[64];
  for (const auto& [a, b] : e) {
    const int len = std::snprintf(buf, sizeof buf, "%lld %lld\n", static_cast<long long>(a), static_cast<long long>(b));
    for (int c = 0; c < len; ++c) {
      h ^= static_cast<unsigned char>(buf[c]);
      h *= 0x100000001b3ull;
    }
  }
  return h;
}

TEST(Pegasus, P14MatchesThePaper) {
  const Topology t = pegasus(14);
  EXPECT_EQ(t.graph.num_nodes(), 4264);
  EXPECT_EQ(t.graph.num_edges(), 30404);
  EXPECT_EQ(degree_histogram(t.graph), (std::map<int32_t, int64_t>{{6, 32}, {7, 176}, {10, 32}, {11, 176}, {14, 592}, {15, 3256}}));
  EXPECT_EQ(count_triangles(t.graph), 24336);
  const Coloring c = t.coloring();
  EXPECT_EQ(c.num_colors(), 4);
  for (const auto& cls : c.classes()) EXPECT_EQ(cls.size(), 1066u);  // 4 colors of 1066 nodes (REFERENCES 1)
  EXPECT_EQ(t.coloring_method, "2u + ((k xor z) & 1)");
}

TEST(Pegasus, P16AndTheEdgeFormula) {
  const Topology p16 = pegasus(16);
  EXPECT_EQ(p16.graph.num_nodes(), 5640);
  EXPECT_EQ(p16.graph.num_edges(), 40484);
  for (int m = 2; m <= 16; ++m) {
    const Topology t = pegasus(m);
    EXPECT_EQ(t.graph.num_edges(), 180 * (m - 1) * (m - 1) - 16) << "m = " << m;
    EXPECT_EQ(t.graph.num_nodes(), 24 * m * (m - 1) - 8 * (m - 1)) << "m = " << m;
    EXPECT_LE(t.graph.max_degree(), 15);
    EXPECT_NO_THROW(verify_coloring(t.graph, t.colors)) << "m = " << m;
    EXPECT_EQ(t.coloring_method, "2u + ((k xor z) & 1)");
  }
}

TEST(Pegasus, CoordinatesAndLinearIndices) {
  const int m = 6;
  const Topology t = pegasus(m);
  ASSERT_EQ(t.coordinates.size(), static_cast<size_t>(t.graph.num_nodes()));
  for (int32_t i = 0; i < t.graph.num_nodes(); ++i) {
    const auto& c = t.coordinates[i];  // (u, w, k, z)
    EXPECT_EQ(t.linear_index[i], ((c[0] * m + c[1]) * 12 + c[2]) * (m - 1) + c[3]);
    if (i) EXPECT_LT(t.linear_index[i - 1], t.linear_index[i]);  // ascending renumbering
    EXPECT_FALSE(c[1] == 0 && c[2] < 2) << "fabric_only drops (w = 0, k < 2)";
    EXPECT_FALSE(c[1] == m - 1 && c[2] >= 10) << "fabric_only drops (w = m-1, k >= 10)";
  }
  // An odd edge (u, w, 2j, z) ~ (u, w, 2j+1, z) and an external edge z ~ z+1.
  auto node = [&](int u, int w, int k, int z) {
    const int64_t q = ((static_cast<int64_t>(u) * m + w) * 12 + k) * (m - 1) + z;
    return static_cast<int32_t>(std::lower_bound(t.linear_index.begin(), t.linear_index.end(), q) - t.linear_index.begin());
  };
  EXPECT_GE(t.graph.find_edge(node(0, 2, 4, 1), node(0, 2, 5, 1)), 0);
  EXPECT_GE(t.graph.find_edge(node(1, 3, 7, 2), node(1, 3, 7, 3)), 0);
  EXPECT_LT(t.graph.find_edge(node(0, 2, 4, 1), node(0, 2, 6, 1)), 0);
}

// Golden digests of dwave_networkx's own graphs (dwave-networkx at commit 043f725, run with networkx
// 3.6): each is FNV-1a 64 of its sorted edge list "a b\n" in linear indices. pbit's generators must
// reproduce them node for node.
TEST(DwaveIdentity, SameEdgesAsDwaveNetworkx) {
  EXPECT_EQ(linear_edge_digest(pegasus(2)), 0xf93fabdd0bb17a71ull);
  EXPECT_EQ(linear_edge_digest(pegasus(3)), 0x4e05cac435e62679ull);
  EXPECT_EQ(linear_edge_digest(pegasus(6)), 0xb39900af950d7da3ull);
  EXPECT_EQ(linear_edge_digest(pegasus(14)), 0x186d344947e30bf8ull);
  EXPECT_EQ(linear_edge_digest(pegasus(16)), 0x9ced7bcc313950e4ull);
  EXPECT_EQ(linear_edge_digest(zephyr(1, 4)), 0x6abb0765498c7fd3ull);
  EXPECT_EQ(linear_edge_digest(zephyr(2, 4)), 0x4ccbc237bf2206b7ull);
  EXPECT_EQ(linear_edge_digest(zephyr(3, 2)), 0xd3ddbe01f3827129ull);
  EXPECT_EQ(linear_edge_digest(zephyr(10, 4)), 0x05469d3cb2d7ead5ull);
  EXPECT_EQ(linear_edge_digest(chimera(2, 3, 4)), 0xc7fed75a732ee68full);
  EXPECT_EQ(linear_edge_digest(chimera(16, 16, 4)), 0x7ed9351262d75a57ull);
}

TEST(Zephyr, Z10MatchesTheFormulas) {
  const Topology z = zephyr(10, 4);
  EXPECT_EQ(z.graph.num_nodes(), 3360);
  EXPECT_EQ(z.graph.num_edges(), 31816);
  EXPECT_EQ(z.graph.max_degree(), 20);
  for (int t : {2, 4}) {
    EXPECT_EQ(zephyr(1, t).graph.num_edges(), 2 * t * (8 * t + 3));
    for (int m = 2; m <= 6; ++m) {
      const Topology g = zephyr(m, t);
      EXPECT_EQ(g.graph.num_nodes(), 4 * t * m * (2 * m + 1));
      EXPECT_EQ(g.graph.num_edges(), 2 * t * ((8 * t + 8) * m * m - 2 * m - 3)) << m << " " << t;
      if (m >= 3) EXPECT_EQ(g.graph.max_degree(), 4 * t + 4);  // Z(2, t) stops one short
      EXPECT_LE(g.graph.max_degree(), 4 * t + 4);
      EXPECT_NO_THROW(verify_coloring(g.graph, g.colors));
      EXPECT_EQ(g.coloring_method, "j + ((w + 2(z + u) + j) & 2)");
      EXPECT_EQ(g.coloring().num_colors(), 4);
    }
  }
  for (int32_t i = 0; i < z.graph.num_nodes(); ++i) {
    const auto& c = z.coordinates[i];  // (u, w, k, j, z)
    EXPECT_EQ(z.linear_index[i], (((c[0] * 21 + c[1]) * 4 + c[2]) * 2 + c[3]) * 10 + c[4]);
  }
}

TEST(Chimera, CountsAndColoring) {
  const Topology c = chimera(16, 16, 4);
  EXPECT_EQ(c.graph.num_nodes(), 2048);
  EXPECT_EQ(c.graph.num_edges(), 16 * 16 * 16 + 2 * 15 * 16 * 4);
  EXPECT_EQ(c.coloring().num_colors(), 2);
  const Topology r = chimera(3, 5, 2);
  EXPECT_EQ(r.graph.num_nodes(), 3 * 5 * 4);
  EXPECT_NO_THROW(verify_coloring(r.graph, r.colors));
}

TEST(Grid, G12On70x70Torus) {
  const Topology g = make_topology("grid:70:G12");
  EXPECT_EQ(g.graph.num_nodes(), 4900);
  EXPECT_EQ(g.graph.num_edges(), 29400);
  EXPECT_EQ(degree_histogram(g.graph), (std::map<int32_t, int64_t>{{12, 4900}}));
  EXPECT_EQ(g.coloring().num_colors(), 2);
  EXPECT_EQ(g.coloring_method, "checkerboard (row + col) mod 2");
  // Rule (9, 10) joins (r, c) to (r + 9, c + 10), (r - 10, c + 9), ...
  EXPECT_GE(g.graph.find_edge(0, 9 * 70 + 10), 0);
  EXPECT_GE(g.graph.find_edge(0, 60 * 70 + 9), 0);
  EXPECT_LT(g.graph.find_edge(0, 10 * 70 + 9), 0);  // that is the replication's mirror rule (10, 9)
  EXPECT_GE(make_topology("grid:70:G12r").graph.find_edge(0, 10 * 70 + 9), 0);
}

// Every preset's rules as docs/TOPOLOGIES.md's table gives them (with their sources): "G8 + (9,10)"
// expands G8. Each rule's forward offset (a, b) is an edge of the 70 x 70 torus and its mirror
// (b, a) is not (a swapped rule has the same degree and edge count).
TEST(Grid, PresetsAreTheDocumentedRules) {
  std::ifstream doc(std::string(PBIT_SOURCE_DIR) + "/docs/TOPOLOGIES.md");
  ASSERT_TRUE(doc.good());
  std::map<std::string, std::vector<std::pair<int, int>>> table;
  const std::regex row(R"(^\| (G[0-9]+r?) \| ([^|]+) \|)"), base(R"(^(G[0-9]+r?) \+)"), rule(R"(\((-?[0-9]+),(-?[0-9]+)\))");
  for (std::string line; std::getline(doc, line);) {
    std::smatch m, b;
    if (!std::regex_search(line, m, row)) continue;
    const std::string name = m[1], rules = m[2];
    std::vector<std::pair<int, int>> r;
    if (std::regex_search(rules, b, base)) {
      ASSERT_TRUE(table.count(b[1])) << line;
      r = table[b[1]];
    }
    for (std::sregex_iterator it(rules.begin(), rules.end(), rule), end; it != end; ++it) r.push_back({std::stoi((*it)[1]), std::stoi((*it)[2])});
    table[name] = r;
  }
  ASSERT_EQ(table.size(), 8u);
  for (const auto& [name, rules] : table) {
    const std::vector<GridRule> code = grid_preset(name);
    ASSERT_EQ(code.size(), rules.size()) << name;
    const Topology t = extropic_grid(70, code, true, name);
    for (size_t k = 0; k < rules.size(); ++k) {
      EXPECT_EQ(code[k].a, rules[k].first) << name << " rule " << k;
      EXPECT_EQ(code[k].b, rules[k].second) << name << " rule " << k;
      const auto [a, b] = rules[k];
      EXPECT_GE(t.graph.find_edge(0, a * 70 + b), 0) << name << " (" << a << ", " << b << ")";
      if (a != b && (a != 0 || b != 1) && (a != 1 || b != 0)) {
        bool mirror_is_a_rule = false;
        for (const auto& [c, d] : rules) mirror_is_a_rule |= (c == b && d == a);
        if (!mirror_is_a_rule) EXPECT_LT(t.graph.find_edge(0, b * 70 + a), 0) << name << " mirror of (" << a << ", " << b << ")";
      }
    }
  }
}

TEST(Grid, PresetsAndBoundaries) {
  for (const auto& [name, deg] : std::vector<std::pair<std::string, int>>{
           {"G8", 8}, {"G12", 12}, {"G16", 16}, {"G20", 20}, {"G24", 24}, {"G12r", 12}, {"G16r", 16}, {"G20r", 20}}) {
    EXPECT_EQ(static_cast<int>(grid_preset(name).size()) * 4, deg) << name;
    const Topology t = extropic_grid(70, grid_preset(name), true, name);
    EXPECT_EQ(t.graph.num_edges(), 4900LL * deg / 2) << name;
    EXPECT_EQ(t.graph.max_degree(), deg);
    EXPECT_EQ(t.coloring().num_colors(), 2) << name;
    const Topology open = extropic_grid(70, grid_preset(name), false, name);
    EXPECT_LT(open.graph.num_edges(), t.graph.num_edges());
    EXPECT_EQ(open.coloring().num_colors(), 2);
  }
  // Custom rules, an odd torus (checkerboard not proper: DSATUR fallback), bad input.
  const Topology custom = make_topology("grid:20:0,1;2,3:open");
  EXPECT_EQ(custom.graph.max_degree(), 8);
  const Topology odd = make_topology("grid:21:G8");
  EXPECT_EQ(odd.coloring_method, "dsatur");
  EXPECT_NO_THROW(verify_coloring(odd.graph, odd.colors));
  EXPECT_THROW(extropic_grid(20, {{1, 1}}), InvalidArgument);                 // a + b even
  EXPECT_THROW(make_topology("grid:4:G12"), InvalidArgument);                 // offsets collide mod 4
  EXPECT_THROW(extropic_grid(2, {{0, 1}}, true), InvalidArgument);           // (0,1) == (0,-1) mod 2
  // Open grids too: (1, 0) is (0, 1) turned, the same neighbour; both would have merged into degree 4.
  EXPECT_NE(error_of([] { make_topology("grid:8:0,1;1,0:open"); }).find("give the same neighbour"), std::string::npos);
  EXPECT_NE(error_of([] { make_topology("grid:8:2147483647,2:open"); }).find("at most 8192"), std::string::npos);
  EXPECT_THROW(grid_preset("G10"), InvalidArgument);
}

TEST(Lattices, SquareAndKing) {
  const Topology sq = square_lattice_topology(10, true);
  EXPECT_EQ(sq.graph.num_edges(), 200);
  EXPECT_EQ(sq.coloring().num_colors(), 2);
  const Topology king = king_graph(10, false);
  EXPECT_EQ(king.graph.num_edges(), 2 * 10 * 9 + 2 * 9 * 9);
  EXPECT_EQ(king.coloring().num_colors(), 4);
  const Topology kt = king_graph(10, true);
  EXPECT_EQ(degree_histogram(kt.graph), (std::map<int32_t, int64_t>{{8, 100}}));
  EXPECT_NO_THROW(verify_coloring(kt.graph, kt.colors));
  EXPECT_EQ(make_topology("king:9:torus").coloring_method, "dsatur");  // odd torus
}

TEST(Topology, SpecsAndErrors) {
  EXPECT_EQ(make_topology("pegasus:4").graph.num_nodes(), 24 * 4 * 3 - 8 * 3);
  EXPECT_EQ(make_topology("zephyr:2").graph.num_nodes(), 160);
  EXPECT_EQ(make_topology("chimera:2:3:4").graph.num_nodes(), 48);
  EXPECT_EQ(make_topology("regular:100:3:5").graph.num_edges(), 150);
  EXPECT_EQ(make_topology("regular:100:3:5").graph.col_idx(), make_topology("regular:100:3:5").graph.col_idx());
  EXPECT_NE(make_topology("regular:100:3:5").graph.col_idx(), make_topology("regular:100:3:6").graph.col_idx());
  // The spec takes random_regular's seeds, [0, 2^64): a seed past 2^31 is not "too many nodes".
  EXPECT_EQ(make_topology("regular:100:3:99999999999").graph.col_idx(), random_regular(100, 3, 99999999999ull).col_idx());
  EXPECT_EQ(make_topology("regular:10:3:18446744073709551615").name, "regular(10, 3, seed 18446744073709551615)");
  EXPECT_NE(error_of([] { make_topology("regular:10:3:18446744073709551616"); }).find("seed = 18446744073709551616 is past 2^64 - 1"),
            std::string::npos);
  EXPECT_NE(error_of([] { make_topology("regular:10:3:-5"); }).find("seed must be >= 0, got -5"), std::string::npos);
  EXPECT_EQ(make_topology("regular:10:3:+5").graph.col_idx(), make_topology("regular:10:3:5").graph.col_idx());
  EXPECT_NE(error_of([] { make_topology("regular:10:3:x"); }).find("seed must be an integer, got 'x'"), std::string::npos);
  for (const char* bad : {"", "pegasus", "pegasus:1", "pegasus:x", "zephyr:0", "grid:70", "grid:70:G99", "grid:70:G12:moebius",
                          "grid:70:1;2", "torus:5", "lattice:2", "regular:10:3:-5"}) {
    EXPECT_THROW(make_topology(bad), InvalidArgument) << bad;
  }
  // A stray ':' is refused, not dropped (helper-94: "pegasus:2:" was read as "pegasus:2").
  for (const char* stray : {"pegasus:2:", "zephyr:2:", "chimera:2:2:", "lattice:4:", "regular:10:3:1:", "king:4::", "pegasus::2", ":"}) {
    EXPECT_NE(error_of([&] { make_topology(stray); }).find("is empty (a stray ':'?)"), std::string::npos) << stray;
  }
  EXPECT_NE(error_of([] { make_topology("pegasus:2:"); }).find("topology 'pegasus:2:': field 3 of 3 is empty"), std::string::npos);
  EXPECT_NE(error_of([] { make_topology("grid:8:1,2;"); }).find("rule list '1,2;' ends in ';'"), std::string::npos);  // (helper-96)
  EXPECT_NE(error_of([] { make_topology("grid:8:1,2;;3,4"); }).find("rule '' must be 'a,b'"), std::string::npos);
}

// random_regular called directly (the Python module's pbit.random_regular) is sized before it
// draws, as the spec "regular:N:D" is: a request over the limit is refused, not a std::bad_alloc.
TEST(Topology, RandomRegularIsSizedBeforeItDraws) {
  setenv("PBIT_MAX_MEMORY", "100M", 1);
  const std::string m = error_of([] { random_regular(2000000, 3, 1); });
  unsetenv("PBIT_MAX_MEMORY");
  EXPECT_NE(m.find("random_regular(2000000, 3) needs about"), std::string::npos) << m;
  EXPECT_NE(error_of([] { random_regular(1 << 30, 1 << 28, 1); }).find("more than 2^31 edge ends"), std::string::npos);
}

TEST(Topology, JsonRoundTripKeepsTheColoring) {
  const Topology t = pegasus(4);
  const GraphFile back = graph_from_json(nlohmann::json::parse(topology_to_json(t).dump()));
  EXPECT_EQ(back.graph.col_idx(), t.graph.col_idx());
  ASSERT_TRUE(back.coloring.has_value());
  EXPECT_EQ(*back.coloring, t.colors);
}

// Graph and topology JSON files are written row by row (core/graph_json.hpp), without a document of
// every edge: the same text as json_text of the whole document, and sized against the memory limit
// before it is made (a topology the generator's guard let through died of std::bad_alloc building
// that document under a ulimit, helper-108).
TEST(Topology, JsonFilesAreTheDocumentsTextAndAreSizedFirst) {
  const std::string dir = PBIT_TEST_TMP;
  for (const char* spec : {"pegasus:3", "king:4", "regular:20:3", "chimera:2:3:4", "zephyr:1"}) {
    Topology t = make_topology(spec);
    if (std::string(spec) == "king:4") t.graph = with_random_weights(t.graph, 3, 0.5f, 0.1f);  // weights of many digits
    const std::string p = dir + "/rows_topology.json";
    write_topology_file(p, t);
    EXPECT_EQ(slurp(p), json_text(topology_to_json(t))) << spec;
    write_graph_file(p, t.graph, &t.colors);
    EXPECT_EQ(slurp(p), json_text(graph_to_json(t.graph, &t.colors))) << spec;
    write_graph_file(p, t.graph);
    EXPECT_EQ(slurp(p), json_text(graph_to_json(t.graph))) << spec;
  }
  const Graph no_edges = Graph::from_edges(3, {}, {0.5f, 0.0f, -1.0f});
  write_graph_file(dir + "/rows_no_edges.json", no_edges);
  EXPECT_EQ(slurp(dir + "/rows_no_edges.json"), json_text(graph_to_json(no_edges)));

  const Topology big = make_topology("king:300");  // 358,202 edges: about 50 MB of text
  std::filesystem::remove(dir + "/rows_big.json");
  {
    WithEnv limit("PBIT_MAX_MEMORY", "20M");
    const std::string m = error_of([&] { write_topology_file(dir + "/rows_big.json", big); });
    EXPECT_NE(m.find("the JSON text of topology 'king(300, open)' (358202 edges; as an edge list, not .json, about a quarter as much) needs about"),
              std::string::npos) << m;
    EXPECT_FALSE(std::filesystem::exists(dir + "/rows_big.json"));
    EXPECT_NE(error_of([&] { write_graph_file(dir + "/rows_big.json", big.graph); }).find("the JSON text of a graph of 358202 edges"),
              std::string::npos);
    write_topology_file(dir + "/rows_big.txt", big);  // an edge list is not sized here
  }
  EXPECT_EQ(read_graph_file(dir + "/rows_big.txt").graph.num_edges(), 358202);
}

TEST(Roles, APartitionNamesWhatBreaksIt) {
  RoleAssignment r;
  r.names = {"visible", "hidden"};
  r.nodes = {{0, 2, 0}, {1}};
  EXPECT_NE(error_of([&] { r.validate(3); }).find("role 'visible' lists node 0 twice"), std::string::npos);
  r.nodes = {{0, 2}, {1, 2}};
  EXPECT_NE(error_of([&] { r.validate(3); }).find("node 2 is in both role 'visible' and role 'hidden'"), std::string::npos);
  r.nodes = {{0}, {1}};
  EXPECT_NE(error_of([&] { r.validate(3); }).find("the roles list 2 node ids for 3 nodes: at least 1 have no role"), std::string::npos);
  r.nodes = {{0, 0}, {1}};  // as many as the nodes, but one twice
  EXPECT_NE(error_of([&] { r.validate(3); }).find("role 'visible' lists node 0 twice"), std::string::npos);
  r.nodes = {{0, 1}, {1}};
  EXPECT_NE(error_of([&] { r.validate(3); }).find("node 1 is in both"), std::string::npos);
  // A list far shorter than the graph is refused before anything of the graph's size is allocated
  // (2^31 - 1 nodes: 8 GB of owners and roles).
  EXPECT_NE(error_of([&] { r.validate(2147483647); }).find("the roles list 3 node ids for 2147483647 nodes: at least 2147483644 have no role"),
            std::string::npos);
}

TEST(Roles, RandomPlacementIsADeterministicPartition) {
  const int32_t n = 4264;
  const std::vector<RoleSpec> spec = {{"visible", 784}, {"label", 50}, {"hidden", -1}};
  const RoleAssignment a = place_roles(n, spec, 7), b = place_roles(n, spec, 7), c = place_roles(n, spec, 8);
  EXPECT_NO_THROW(a.validate(n));
  EXPECT_EQ(a.of("visible").size(), 784u);
  EXPECT_EQ(a.of("label").size(), 50u);
  EXPECT_EQ(a.of("hidden").size(), 3430u);
  EXPECT_EQ(a.nodes, b.nodes);
  EXPECT_NE(a.nodes, c.nodes);
  for (size_t r = 0; r < a.nodes.size(); ++r)
    for (int32_t i : a.nodes[r]) EXPECT_EQ(a.role_of[i], static_cast<int32_t>(r));
  // In order: the first 784 indices are visible.
  const RoleAssignment seq = place_roles_in_order(n, spec);
  EXPECT_EQ(seq.of("visible").front(), 0);
  EXPECT_EQ(seq.of("label").front(), 784);
}

TEST(Roles, ColorConstraintAndErrors) {
  const Topology g = make_topology("grid:70:G12");
  const RoleAssignment r = place_roles(4900, {{"data", 784, 0}, {"latent", -1}}, 3, &g.colors);
  for (int32_t i : r.of("data")) EXPECT_EQ(g.colors[i], 0);
  EXPECT_NO_THROW(r.validate(4900));
  EXPECT_THROW(place_roles(4900, {{"data", 2451, 0}, {"latent", -1}}, 3, &g.colors), InvalidArgument);  // only 2450
  EXPECT_THROW(place_roles(4900, {{"data", 784, 0}}, 3, &g.colors), InvalidArgument);                  // not a partition
  EXPECT_THROW(place_roles(4900, {{"a", 10}, {"a", -1}}, 3), InvalidArgument);                          // duplicate name
  EXPECT_THROW(place_roles(4900, {{"a", 10, 0}, {"b", -1}}, 3, nullptr), InvalidArgument);              // color w/o coloring
  EXPECT_THROW(parse_role_specs("visible"), InvalidArgument);
  EXPECT_THROW(place_roles(100, {{"a", -1}, {"b", -1}}, 3), InvalidArgument);  // a second 'rest' would be empty
  EXPECT_THROW(role_distances(square_lattice(3), place_roles(36, {{"a", -1}}, 3)), InvalidArgument);  // roles of another graph
  EXPECT_THROW(square_lattice(100000), InvalidArgument);  // L^2 past 2^30: refused before any edge is built
  EXPECT_THROW(king_graph(100000, false), InvalidArgument);
  EXPECT_NO_THROW(place_roles(4900, {{"a", -1, 0}, {"b", -1, 1}}, 3, &g.colors));  // the rest of each color
  EXPECT_EQ(parse_role_specs("data:784:0,latent:rest")[0].color, 0);
  EXPECT_EQ(parse_role_specs("data:784:0,latent:rest")[1].count, -1);
  EXPECT_EQ(parse_role_specs("visible:2, hidden : rest")[1].name, "hidden");  // spaces around a field are not in it
  EXPECT_THROW(parse_role_specs("visible:2, :rest"), InvalidArgument);
  // A color the coloring lacks is refused naming the colors it has, a coloring with gaps too; a role of
  // count 0 takes no node, so any color will do.
  const auto refusal = [](const std::vector<int32_t>& colors, int32_t color) {
    try {
      place_roles(static_cast<int32_t>(colors.size()), {{"a", 1, color}, {"b", -1}}, 3, &colors);
    } catch (const InvalidArgument& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(refusal({0, 1, 0, 1}, 7).find("has no color 7 (it has 2: 0..1)"), std::string::npos) << refusal({0, 1, 0, 1}, 7);
  EXPECT_NE(refusal({0, 3, 0, 3}, 1).find("has no color 1 (it has 0, 3)"), std::string::npos) << refusal({0, 3, 0, 3}, 1);
  const std::vector<int32_t> two = {0, 1, 0, 1};
  EXPECT_EQ(place_roles(4, {{"a", 0, 5}, {"b", -1}}, 3, &two).of("a").size(), 0u);
}

TEST(Roles, FileRoundTripAndValidation) {
  const RoleAssignment a = place_roles(100, {{"x", 10}, {"y", -1}}, 1);
  const RoleAssignment b = roles_from_json(nlohmann::json::parse(roles_to_json(a).dump()), 100);
  EXPECT_EQ(a.nodes, b.nodes);
  EXPECT_EQ(a.names, b.names);
  nlohmann::json broken = roles_to_json(a);
  broken["roles"][0]["nodes"].push_back(broken["roles"][1]["nodes"][0]);
  EXPECT_THROW(roles_from_json(broken, 100), InvalidArgument);  // node in two roles
  EXPECT_THROW(roles_from_json(roles_to_json(a), 101), InvalidArgument);
  // A node id past int32 is refused, not wrapped onto a node that exists (4294967298 -> 2).
  auto message = [](const nlohmann::json& j) { return error_of([&] { roles_from_json(j, 100); }); };
  nlohmann::json wrapped = roles_to_json(a);
  wrapped["roles"][0]["nodes"][0] = 4294967296LL + wrapped["roles"][0]["nodes"][0].get<int64_t>();
  EXPECT_NE(message(wrapped).find("out of range [0, 100)"), std::string::npos) << message(wrapped);
  wrapped["roles"][0]["nodes"][0] = -1;
  EXPECT_NE(message(wrapped).find("node -1 out of range"), std::string::npos) << message(wrapped);
  // Two roles of one name (of() would find the first only), or a role without a name.
  nlohmann::json twice = roles_to_json(a);
  twice["roles"][1]["name"] = "x";
  EXPECT_NE(message(twice).find("role 'x' is listed twice"), std::string::npos) << message(twice);
  twice["roles"][1]["name"] = "";
  EXPECT_NE(message(twice).find("role 1 has no name"), std::string::npos) << message(twice);
  twice["roles"][1]["name"] = std::string("y\0z", 3);
  EXPECT_NE(message(twice).find("role 1's name has a control character (\\x00 at byte 1)"), std::string::npos) << message(twice);
  EXPECT_THROW(place_roles(100, {{"x", 10}, {"a\nb", -1}}, 1), InvalidArgument);
}

// A coloring that does not cover the nodes was read past its end (Python: place_roles(colors=[1])).
TEST(Roles, ColorsMustCoverTheNodes) {
  const std::vector<int32_t> short_colors{1}, negative(10, -1);
  EXPECT_NE(error_of([&] { place_roles_in_order(10, {{"a", 3, 0}, {"b", -1}}, &short_colors); }).find("colors has 1 entries for 10 nodes"),
            std::string::npos);
  EXPECT_NE(error_of([&] { place_roles(10, {{"a", -1}}, 3, &negative); }).find("colors[0] is -1"), std::string::npos);
}

TEST(Roles, IndexRandomizationBringsRolesCloser) {
  // The effect Niazi et al. report: a random permutation puts every hidden node within a few hops of a
  // label node; placing roles in index order leaves them far apart.
  const Topology p = pegasus(14);
  const std::vector<RoleSpec> spec = {{"visible", 784}, {"label", 50}, {"hidden", -1}};
  auto hidden_to_label = [&](const RoleAssignment& r) {
    for (const RoleDistance& d : role_distances(p.graph, r))
      if (d.from == "hidden" && d.to == "label") return d;
    return RoleDistance{};
  };
  const RoleDistance random = hidden_to_label(place_roles(4264, spec, 1));
  const RoleDistance ordered = hidden_to_label(place_roles_in_order(4264, spec));
  EXPECT_EQ(random.unreachable, 0);
  EXPECT_LT(random.mean_hops, 3.0);
  EXPECT_GT(ordered.mean_hops, 1.5 * random.mean_hops);
  EXPECT_GT(ordered.max_hops, random.max_hops);
}

}  // namespace
}  // namespace pbit::test
