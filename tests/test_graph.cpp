#include <gtest/gtest.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <sstream>

#include <unistd.h>

#include "pbit/error.hpp"
#include "pbit/core/graph.hpp"
#include "pbit/core/io.hpp"
#include "pbit/hardware/topology.hpp"
#include "test_util.hpp"

namespace pbit::test {
namespace {

TEST(Graph, BuildsSymmetricSortedCsr) {
  const std::vector<Edge> e = {{2, 0, 0.5f}, {0, 1, -1.0f}, {1, 2, 0.25f}, {3, 1, 2.0f}, {1, 0, -1.0f}};
  const Graph g = Graph::from_edges(4, e, {0.1f, 0.2f, 0.3f, 0.4f});
  EXPECT_EQ(g.num_nodes(), 4);
  EXPECT_EQ(g.num_edges(), 4);  // (0,1) given twice with the same weight is merged
  EXPECT_EQ(g.row_ptr(), (std::vector<int64_t>{0, 2, 5, 7, 8}));
  EXPECT_EQ(g.col_idx(), (std::vector<int32_t>{1, 2, 0, 2, 3, 0, 1, 1}));
  EXPECT_EQ(g.coupling(2, 0), 0.5f);
  EXPECT_EQ(g.coupling(0, 2), 0.5f);
  EXPECT_EQ(g.coupling(0, 3), 0.0f);
  EXPECT_EQ(g.edge_i(), (std::vector<int32_t>{0, 0, 1, 1}));
  EXPECT_EQ(g.edge_j(), (std::vector<int32_t>{1, 2, 2, 3}));
  EXPECT_EQ(g.edge_weights(), (std::vector<float>{-1.0f, 0.5f, 0.25f, 2.0f}));
  EXPECT_EQ(g.find_edge(3, 1), 3);
  EXPECT_EQ(g.find_edge(0, 3), -1);
  EXPECT_EQ(g.max_degree(), 3);
  for (size_t k = 0; k < g.col_idx().size(); ++k) {
    const int64_t e2 = g.csr_edge()[k];
    EXPECT_EQ(g.weights()[k], g.edge_weights()[e2]);
  }
}

TEST(Graph, EnergyFollowsTheDefinition) {
  const Graph g = Graph::from_edges(3, std::vector<Edge>{{0, 1, 1.0f}, {1, 2, -0.5f}}, {0.25f, 0.0f, -1.0f});
  const std::vector<int8_t> s = {1, -1, -1};
  // E = -(J01 s0 s1 + J12 s1 s2 + h0 s0 + h2 s2) = -(-1 - 0.5 + 0.25 + 1) = 0.25
  EXPECT_DOUBLE_EQ(g.energy(s), 0.25);
  // Bits are not spins: a 0 (or any other value) is refused, not summed as another model's energy.
  EXPECT_NE(error_of([&] { g.energy(std::vector<int8_t>{1, 0, -1}); }).find("energy: spin 1 is 0, not +1 or -1"), std::string::npos);
  EXPECT_THROW(g.energy(std::vector<int8_t>{1, -1, 2}, g.edge_weights()), InvalidArgument);
}

TEST(Graph, SetWeightsKeepsStructure) {
  Graph g = random_regular(50, 4, 1);
  std::vector<float> w(g.num_edges());
  for (size_t e = 0; e < w.size(); ++e) w[e] = 0.01f * static_cast<float>(e);
  g.set_edge_weights(w);
  EXPECT_EQ(g.edge_weights(), w);
  for (int64_t e = 0; e < g.num_edges(); ++e) EXPECT_EQ(g.coupling(g.edge_j()[e], g.edge_i()[e]), w[e]);
  EXPECT_THROW(g.set_edge_weights(std::vector<float>(3)), InvalidArgument);
  w[7] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(g.set_edge_weights(w), InvalidGraph);
}

TEST(GraphErrors, IndexOutOfRange) {
  const std::string m = error_of([] { Graph::from_edges(4, std::vector<Edge>{{0, 1, 1.f}, {2, 4, 1.f}}); });
  EXPECT_NE(m.find("edge 1 (2, 4): node index 4 out of range [0, 4)"), std::string::npos) << m;
  EXPECT_THROW(Graph::from_edges(4, std::vector<Edge>{{-1, 1, 1.f}}), InvalidGraph);
}

TEST(GraphErrors, SelfLoop) {
  const std::string m = error_of([] { Graph::from_edges(4, std::vector<Edge>{{2, 2, 1.f}}); });
  EXPECT_NE(m.find("(2, 2): self loop"), std::string::npos) << m;
}

TEST(GraphErrors, ConflictingDuplicate) {
  const std::string m = error_of([] { Graph::from_edges(4, std::vector<Edge>{{0, 1, 1.f}, {1, 0, 0.5f}}); });
  EXPECT_NE(m.find("duplicate edge (0, 1) with conflicting weights 1 and 0.5"), std::string::npos) << m;
}

TEST(GraphErrors, NonFinite) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  EXPECT_NE(error_of([&] { Graph::from_edges(3, std::vector<Edge>{{0, 1, nan}}); }).find("non-finite coupling"), std::string::npos);
  EXPECT_NE(error_of([&] { Graph::from_edges(3, std::vector<Edge>{{0, 1, inf}}); }).find("non-finite coupling"), std::string::npos);
  EXPECT_NE(error_of([&] { Graph::from_edges(3, std::vector<Edge>{{0, 1, 1.f}}, {0.f, nan, 0.f}); }).find("non-finite bias h[1]"),
            std::string::npos);
  EXPECT_NE(error_of([&] { Graph::from_edges(3, std::vector<Edge>{}, {0.f}); }).find("expected 3 biases"), std::string::npos);
}

// Finite couplings whose float sum overflows: node 2's local field with both neighbours at +1 is
// 2e38 + 2e38 - 2e38 - 2e38 = 0, but the float sum reached inf and the spin came out +1 every time.
TEST(GraphErrors, LocalFieldsThatOverflowAFloatAreRefused) {
  const std::vector<Edge> big{{0, 2, 2e38f}, {1, 2, 2e38f}, {2, 3, -2e38f}, {2, 4, -2e38f}};
  EXPECT_NE(error_of([&] { Graph::from_edges(5, big); }).find("from_edges: node 0's couplings and bias sum to 2e+38 in magnitude, above 1e+37"),
            std::string::npos);
  std::vector<Edge> star;  // each coupling well inside the bound, their sum past a float's range
  for (int32_t j = 1; j <= 40; ++j) star.push_back({0, j, 9e36f});
  EXPECT_NE(error_of([&] { Graph::from_edges(41, star); }).find("node 0's couplings and bias sum to 3.6e+38"), std::string::npos);
  Graph g = Graph::from_edges(5, std::vector<Edge>{{0, 2, 1.f}, {1, 2, 1.f}, {2, 3, 1.f}, {2, 4, 1.f}});
  const std::vector<float> w = g.edge_weights();
  EXPECT_NE(error_of([&] { g.set_edge_weights(std::vector<float>{6e36f, 6e36f, 1.f, 1.f}); }).find("set_edge_weights: node 2"), std::string::npos);
  EXPECT_EQ(g.edge_weights(), w);  // left as it was
  EXPECT_NE(error_of([&] { g.set_biases(std::vector<float>{0.f, 0.f, 2e37f, 0.f, 0.f}); }).find("set_biases: node 2"), std::string::npos);
  EXPECT_EQ(g.biases()[2], 0.f);
  EXPECT_NE(error_of([&] { g.with_row_weights(std::vector<float>(8, 5e36f), std::vector<float>(5, 0.f)); }).find("with_row_weights: node 2"),
            std::string::npos);
  EXPECT_NO_THROW(Graph::from_edges(5, std::vector<Edge>{{0, 2, 1e36f}, {1, 2, -1e36f}}));
}

TEST(GraphErrors, AsymmetricCsr) {
  // J01 = 1 but J10 = 2.
  std::string m = error_of([] { Graph::from_csr(2, {0, 1, 2}, {1, 0}, {1.f, 2.f}); });
  EXPECT_NE(m.find("CSR is not symmetric: J(0, 1) = 1 but J(1, 0) = 2"), std::string::npos) << m;
  // J01 stored, J10 missing.
  m = error_of([] { Graph::from_csr(3, {0, 1, 1, 1}, {1}, {1.f}); });
  EXPECT_NE(m.find("J(1, 0) is missing"), std::string::npos) << m;
  // Unsorted row, out of range, self loop, malformed row_ptr.
  EXPECT_NE(error_of([] { Graph::from_csr(3, {0, 2, 3, 4}, {2, 1, 0, 0}, {1.f, 1.f, 1.f, 1.f}); }).find("not strictly ascending"),
            std::string::npos);
  EXPECT_NE(error_of([] { Graph::from_csr(2, {0, 1, 2}, {5, 0}, {1.f, 1.f}); }).find("out of range"), std::string::npos);
  EXPECT_NE(error_of([] { Graph::from_csr(2, {0, 1, 1}, {0}, {1.f}); }).find("self loop"), std::string::npos);
  EXPECT_NE(error_of([] { Graph::from_csr(2, {0, 1}, {1}, {1.f}); }).find("row_ptr has 2 entries"), std::string::npos);
  // Ends right, middle past the column indices: refused before row 0 reads beyond them (ASan sees
  // the read if it happens).
  m = error_of([] { Graph::from_csr(3, {0, 3, 2, 2}, {1, 2}, {1.f, 1.f}); });
  EXPECT_NE(m.find("row_ptr[1] = 3 is past the 2 column indices"), std::string::npos) << m;
  // And a good CSR round-trips.
  const Graph g = random_regular(30, 3, 2);
  const Graph h = Graph::from_csr(30, g.row_ptr(), g.col_idx(), g.weights(), g.biases());
  EXPECT_EQ(h.edge_weights(), g.edge_weights());
}

TEST(GraphIo, JsonRoundTrip) {
  const Graph g = with_random_weights(random_regular(40, 3, 9), 3, 0.5f, 0.5f);
  const std::vector<int32_t> col(40, 0);  // not a valid coloring; not written here
  const GraphFile back = graph_from_json(nlohmann::json::parse(graph_to_json(g).dump()));
  EXPECT_EQ(back.graph.edge_weights(), g.edge_weights());
  EXPECT_EQ(back.graph.biases(), g.biases());
  EXPECT_EQ(back.graph.row_ptr(), g.row_ptr());
  EXPECT_FALSE(back.coloring.has_value());
}

// pbit's JSON text: objects and arrays of them one item a line, an array of scalars on its line
// (wrapped before column 100), and the text reads back as the value it was written from.
TEST(GraphIo, JsonTextKeepsScalarArraysOnTheirLine) {
  nlohmann::json j = {{"edges", {{0, 1, 0.5}, {1, 2, -1.25}}}, {"empty", nlohmann::json::array()}, {"name", "a \"b\""},
                      {"nested", {{"flags", {true, false, nullptr}}, {"none", nlohmann::json::object()}}}};
  std::vector<int> many(100);
  std::iota(many.begin(), many.end(), 1000);
  j["many"] = many;
  // A short array behind a long key: the key's columns count.
  j["a_key_long_enough_that_the_short_array_after_it_would_pass_column_one_hundred"] = {1, 2, 3, 4, 5, 6, 7, 8};
  const std::string text = json_text(j);
  EXPECT_EQ(nlohmann::json::parse(text), j);
  EXPECT_NE(text.find("\n  \"edges\": [\n    [0, 1, 0.5],\n    [1, 2, -1.25]\n  ],\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\"empty\": [],"), std::string::npos) << text;
  EXPECT_NE(text.find("\"flags\": [true, false, null],"), std::string::npos) << text;
  EXPECT_NE(text.find("\"none\": {}"), std::string::npos) << text;
  EXPECT_NE(text.find("\"many\": [\n    1000, 1001,"), std::string::npos) << text;  // 100 numbers: wrapped
  size_t longest = 0, lines = 0;
  for (size_t a = 0, b; a < text.size(); a = b + 1, ++lines) {
    b = text.find('\n', a);
    longest = std::max(longest, b - a);
  }
  EXPECT_LE(longest, 100u);
  EXPECT_LT(lines, 25u);  // not one number a line (dump(2) takes 130)
  EXPECT_EQ(text.back(), '\n');
  EXPECT_THROW(json_text(nlohmann::json(std::string("\xff"))), nlohmann::json::exception);  // as dump(): invalid UTF-8
}

// A spread of 0 gives +0 weights, not -0 for the draws that were negative ("-0.0" in the files).
TEST(GraphIo, ZeroSpreadWeightsArePlusZero) {
  const Graph g = with_random_weights(random_regular(40, 3, 9), 3, 0.0f, 0.0f);
  for (float w : g.edge_weights()) EXPECT_FALSE(std::signbit(w));
  for (float h : g.biases()) EXPECT_FALSE(std::signbit(h));
  EXPECT_EQ(graph_to_json(g).dump().find("-0"), std::string::npos);
}

// The extension is read in any case: G.JSON was read as an edge list ("expected 'i j J', got '{'").
TEST(GraphIo, AJsonExtensionInUpperCaseIsJson) {
  const Graph g = with_random_weights(random_regular(12, 3, 9), 3, 0.5f, 0.5f);
  const std::string path = std::string(PBIT_TEST_TMP) + "/upper_case_graph.JSON";
  write_graph_file(path, g);
  EXPECT_EQ(read_json_file(path)["num_nodes"], 12);  // written as JSON
  EXPECT_EQ(read_graph_file(path).graph.edge_weights(), g.edge_weights());
}

TEST(GraphIo, EdgeListRoundTrip) {
  const Graph g = with_random_weights(random_regular(40, 3, 9), 3, 0.5f, 0.5f);
  std::stringstream ss;
  write_edge_list(ss, g);
  const GraphFile back = read_edge_list(ss);
  EXPECT_EQ(back.graph.edge_weights(), g.edge_weights());
  EXPECT_EQ(back.graph.biases(), g.biases());
}

// The writers refuse what the readers would refuse, and the stream functions see a stream that
// failed (helper-95: a bad coloring was written, then refused on reading; an ifstream that did not
// open read as a graph of no nodes; a write to /dev/full returned normally).
TEST(GraphIo, WritersAndStreamsFailLoudly) {
  const Graph g = with_random_weights(random_regular(12, 3, 9), 3, 0.5f, 0.5f);
  const std::vector<int32_t> good = color_graph(g).colors(), short_one(5, 0), improper(12, 0);
  EXPECT_EQ(read_graph_file([&] {
              const std::string p = std::string(PBIT_TEST_TMP) + "/colored.json";
              write_graph_file(p, g, &good);
              return p;
            }()).coloring, good);
  EXPECT_THROW(graph_to_json(g, &short_one), InvalidColoring);
  EXPECT_THROW(graph_to_json(g, &improper), InvalidColoring);
  EXPECT_THROW(write_graph_file(std::string(PBIT_TEST_TMP) + "/improper.json", g, &improper), InvalidColoring);
  const std::string el = error_of([&] { write_graph_file(std::string(PBIT_TEST_TMP) + "/colored.txt", g, &good); });
  EXPECT_NE(el.find("colored.txt: an edge list holds no coloring"), std::string::npos) << el;
  std::ifstream missing(std::string(PBIT_TEST_TMP) + "/no-such-graph.txt");
  EXPECT_NE(error_of([&] { read_edge_list(missing, "no-such-graph.txt"); }).find("no-such-graph.txt: cannot read it"), std::string::npos);
  std::ofstream nowhere(std::string(PBIT_TEST_TMP) + "/no-such-folder/g.txt");
  EXPECT_NE(error_of([&] { write_edge_list(nowhere, g); }).find("the stream is not writable"), std::string::npos);
  if (std::filesystem::exists("/dev/full")) {
    std::ofstream full("/dev/full");
    EXPECT_NE(error_of([&] { write_edge_list(full, g); }).find("writing the edge list failed"), std::string::npos);
  }
}

TEST(GraphIo, EdgeListErrorsNameTheLine) {
  auto parse = [](const std::string& text) {
    std::istringstream is(text);
    return error_of([&] { read_edge_list(is, "g.txt"); });
  };
  EXPECT_NE(parse("0 1 1.0\n1 x 2.0\n").find("g.txt:2: expected an integer node index, got 'x'"), std::string::npos);
  EXPECT_NE(parse("0 1\n").find("g.txt:1: expected 'i j J'"), std::string::npos);
  EXPECT_NE(parse("0 1 nan\n").find("g.txt:1: non-finite value"), std::string::npos);
  EXPECT_NE(parse("nodes 3\n0 5 1.0\n").find("node index 5 out of range [0, 3)"), std::string::npos);
  // The first index past the end, by an edge and by a bias (a bias at n would be written past h).
  EXPECT_NE(parse("nodes 3\n0 3 1.0\n").find("node index 3 out of range [0, 3)"), std::string::npos);
  EXPECT_NE(parse("nodes 3\nbias 3 1.0\n").find("node index 3 out of range [0, 3)"), std::string::npos);
  EXPECT_NE(parse("0 1 1.0\n# two\n2 2 1.0\n").find("g.txt:3: edge (2, 2) is a self loop"), std::string::npos);  // its line named
  EXPECT_NE(parse("0 1 1.0\n1 0 2.0\n").find("conflicting weights"), std::string::npos);
  EXPECT_NE(parse("0 1 1e60\n").find("does not fit a float32"), std::string::npos);
  EXPECT_NE(parse("0 1 0.5x\n").find("g.txt:1: expected a number, got '0.5x'"), std::string::npos);
  // One sign at most: "+-0.5" is not -0.5 (a leading '+' is stripped only before a digit or '.').
  EXPECT_NE(parse("0 1 +-0.5\n").find("g.txt:1: expected a number, got '+-0.5'"), std::string::npos);
  EXPECT_EQ(parse("0 1 +0.5\nbias 1 -.25\n"), "<no error>");
  EXPECT_NE(parse("0 99999999999 1.0\n").find("node index 99999999999 out of range"), std::string::npos);
  EXPECT_NE(parse("0 -1 1.0\n").find("node index -1 out of range"), std::string::npos);
  // The largest index is 2^31 - 2: one more would make a node count past an int32.
  EXPECT_NE(parse("0 2147483647 1.0\n").find("node index 2147483647 out of range [0, 2^31 - 1)"), std::string::npos);
  // Conflicting biases are shown as they were written, not rounded to 6 decimals.
  EXPECT_NE(parse("bias 1 1e-7\nbias 1 2e-7\n").find("conflicting biases for node 1 (1.00000001e-07 and 2.00000002e-07)"),
            std::string::npos);
  // A file without line breaks (/dev/zero, a binary) is refused at a bounded line length, not read
  // whole into memory; a NUL or control byte in a bad line is shown escaped.
  EXPECT_NE(parse("0 1 1.0\n" + std::string(70000, '7')).find("g.txt:2: a line longer than 65536 characters"), std::string::npos);
  EXPECT_NE(parse(std::string("0 1 1.0\n1 \0x 1.0\n", 17)).find("g.txt:2: expected an integer node index, got '\\x00x'"),
            std::string::npos);
  EXPECT_NE(parse("nodes 3\nnodes 4\n").find("g.txt:2: 'nodes 4' after 'nodes 3' on line 1"), std::string::npos);
  EXPECT_EQ(parse("nodes 3\nnodes 3\n0 1 1.0\n"), "<no error>");  // the same count twice is consistent
  // An empty file, or one of comments alone, is refused (it read as a graph of no nodes: helper-110);
  // a graph of no nodes says so.
  for (const char* empty : {"", "\n\n", "# exported by ...\n"}) {
    EXPECT_NE(parse(empty).find("g.txt: no edges, biases or 'nodes' line (an empty file?)"), std::string::npos) << empty;
  }
  EXPECT_EQ(parse("nodes 0\n"), "<no error>");
  // A file that is plainly something else says what it is, not "expected 'i j J', got 'PBITCKP5...'"
  // (helper-117); a UTF-8 byte-order mark is skipped, as the JSON reader skips it.
  EXPECT_NE(parse(std::string("PBITCKP5\x10\0\0\0", 12)).find("g.txt: not an edge list: it is a DBM training checkpoint"), std::string::npos);
  EXPECT_NE(parse("  {\"num_nodes\": 2, \"edges\": []}\n").find("g.txt: not an edge list: it begins as JSON does"), std::string::npos);
  EXPECT_EQ(parse("\xEF\xBB\xBFnodes 2\n0 1 1.0\n"), "<no error>");
  // Comments, blank lines and biases are fine.
  std::istringstream ok("# a graph\n\nnodes 3\n0 1 +0.5 # edge\nbias 2 -0.25\n");
  const GraphFile g = read_edge_list(ok);
  EXPECT_EQ(g.graph.num_nodes(), 3);
  EXPECT_EQ(g.graph.biases()[2], -0.25f);
  EXPECT_EQ(g.graph.edge_weights()[0], 0.5f);  // an explicit '+' is a number too
}

TEST(GraphIo, JsonErrors) {
  // Each text as a document (graph_from_json) and as a file, whose edges, biases and coloring
  // read_graph_file takes as the parser reads them: the same checks in the same words.
  const std::string file = std::string(PBIT_TEST_TMP) + "/json_errors.json";
  auto streamed = [&](const std::string& text) {
    std::ofstream(file) << text;
    std::string e = error_of([&] { read_graph_file(file); });
    for (size_t at; (at = e.find(file)) != std::string::npos;) e.replace(at, file.size(), "g.json");
    return e;
  };
  auto parse = [&](const std::string& text) {
    const std::string e = error_of([&] { graph_from_json(nlohmann::json::parse(text), "g.json"); });
    EXPECT_EQ(streamed(text), e) << text;
    return e;
  };
  // The shapes the file's reader sees element by element: none taken for another.
  EXPECT_NE(parse(R"({"num_nodes": 2, "edges": {"a": [0, 1, 1]}})").find("missing or non-array key 'edges'"), std::string::npos);
  EXPECT_NE(parse(R"({"num_nodes": 2, "edges": [{"i": 0}]})").find("edges[0] must be [i, j, J], got {\"i\":0}"), std::string::npos);
  EXPECT_NE(parse(R"({"num_nodes": 2, "edges": [[0, 1, 1], 7]})").find("edges[1] must be [i, j, J], got 7"), std::string::npos);
  EXPECT_NE(parse(R"({"num_nodes": 2, "edges": [[[0], 1, 1]]})").find("edges[0][0] must be an integer, got [0]"), std::string::npos);
  EXPECT_NE(parse(R"({"num_nodes": 2, "edges": [], "biases": [[1], 0]})").find("biases[0] must be a number, got [1]"), std::string::npos);
  EXPECT_NE(parse(R"({"num_nodes": 2, "edges": [], "coloring": [0, {"c": 1}]})").find("coloring[1] must be an integer"), std::string::npos);
  EXPECT_EQ(parse(R"({"meta": {"edges": [[5]], "biases": "x"}, "num_nodes": 2, "edges": [[0, 1, 2]], "biases": [1, 2], "coloring": [0, 1]})"),
            "<no error>");
  {
    std::ofstream(file) << R"({"num_nodes": 3, "edges": [[0, 1, 2], [1, 2, -1]], "biases": [1, 2, 3],
      "coloring": [0, 1, 0], "meta": {"edges": [[0, 2, 9]]}})";
    const GraphFile g = read_graph_file(file);
    EXPECT_EQ(g.graph.num_edges(), 2);
    EXPECT_EQ(g.graph.edge_weights(), (std::vector<float>{2, -1}));
    EXPECT_EQ(g.graph.biases(), (std::vector<float>{1, 2, 3}));
    EXPECT_EQ(g.coloring, (std::vector<int32_t>{0, 1, 0}));
  }
  // A key twice is refused (the file's reader checks keys; a document has kept one of them).
  EXPECT_NE(streamed(R"({"num_nodes": 2, "edges": [[0, 1, 1]], "edges": []})").find("the key 'edges' appears twice"), std::string::npos);
  EXPECT_NE(parse(R"({"edges": []})").find("missing key 'num_nodes'"), std::string::npos);
  EXPECT_NE(parse(R"({"num_nodes": 2, "edges": [[0, 1]]})").find("edges[0] must be [i, j, J]"), std::string::npos);
  EXPECT_NE(parse(R"({"num_nodes": 2, "edges": [[0, 1, null]]})").find("edges[0][2] must be a number"), std::string::npos);
  EXPECT_NE(parse(R"({"num_nodes": 2, "edges": [[0, 3, 1.0]]})").find("out of range"), std::string::npos);
  EXPECT_NE(parse(R"({"num_nodes": 2, "edges": [], "colour": []})").find("unknown key 'colour'"), std::string::npos);
  EXPECT_NE(parse(R"({"num_nodes": 2, "edges": [[0, 1, 1.0]], "coloring": [0, 0]})").find("g.json: edge (0, 1) joins two nodes of color 0"),
            std::string::npos);
  // The graph's own checks name the file too.
  EXPECT_NE(parse(R"({"num_nodes": -1, "edges": []})").find("g.json: negative node count -1"), std::string::npos);
  EXPECT_NE(parse(R"({"num_nodes": 2, "edges": [[0, 0, 1.0]]})").find("g.json: "), std::string::npos);
  // An integer past INT64_MAX is too large, not wrapped to a negative one.
  EXPECT_NE(parse(R"({"num_nodes": 18446744073709551615, "edges": []})").find("'num_nodes' = 18446744073709551615 does not fit a node index"),
            std::string::npos);
  // Values held to float32's range, as the edge list's are: none rounds silently to 0 or infinity.
  EXPECT_NE(parse(R"({"num_nodes": 2, "edges": [[0, 1, 1e-300]]})").find("edges[0][2] = 1e-300 does not fit a float32"), std::string::npos);
  EXPECT_NE(parse(R"({"num_nodes": 2, "edges": [[0, 1, 1e300]]})").find("edges[0][2] = 1e+300 does not fit a float32"), std::string::npos);
  EXPECT_NE(parse(R"({"num_nodes": 2, "edges": [], "biases": [0, 1e-50]})").find("biases[1] = 1e-50 does not fit a float32"), std::string::npos);
  EXPECT_EQ(parse(R"({"num_nodes": 2, "edges": [[0, 1, 0.0]], "biases": [-0.0, 3e36]})"), "<no error>");
  // Given, the biases are every node's: an empty list loaded as zeros for any graph (helper-117).
  EXPECT_NE(parse(R"({"num_nodes": 3, "edges": [], "biases": []})").find("g.json: 'biases' holds 0 values for 3 nodes"), std::string::npos);
  EXPECT_EQ(parse(R"({"num_nodes": 3, "edges": []})"), "<no error>");
}

// The atomic writer keeps a replaced file's permissions, and its temporary fits beside a target
// whose name is near the 255-byte limit.
TEST(GraphIo, AtomicWritesKeepPermissionsAndTakeLongNames) {
  const std::string dir = std::string(PBIT_TEST_TMP) + "/atomic";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const Graph g = Graph::from_edges(2, std::vector<Edge>{{0, 1, 1.0f}});
  const std::string priv = dir + "/private.txt";
  write_graph_file(priv, g);
  std::filesystem::permissions(priv, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  write_graph_file(priv, g);
  EXPECT_EQ(std::filesystem::status(priv).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  const std::string longname = dir + "/" + std::string(250, 'a') + ".txt";  // 254 bytes: a legal name
  write_graph_file(longname, g);
  EXPECT_EQ(read_graph_file(longname).graph.num_edges(), 1);
  write_graph_file(longname, g);  // and over itself
  // A name whose temporary ("NAME.tmpPID") would be 256 bytes, one past the limit, is cut too.
  const std::string suffix = ".tmp" + std::to_string(::getpid());
  const std::string edge = dir + "/" + std::string(256 - suffix.size() - 4, 'b') + ".txt";
  write_graph_file(edge, g);
  EXPECT_EQ(read_graph_file(edge).graph.num_edges(), 1);
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) files += e.is_regular_file();
  EXPECT_EQ(files, 3u);  // no temporary left behind
}

// The temporary is a new file: a link planted at its name (where another user could point it at
// their victim) is not followed, and a temporary left by a crashed run of the same pid (a container's
// pid 1 again) is replaced, not refused.
TEST(GraphIo, AtomicWritesNeverWriteThroughAPlantedTemporary) {
  const std::string dir = std::string(PBIT_TEST_TMP) + "/atomic_planted";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const Graph g = Graph::from_edges(2, std::vector<Edge>{{0, 1, 1.0f}});
  const std::string victim = dir + "/victim.txt", out = dir + "/g.txt", tmp = out + ".tmp" + std::to_string(::getpid());
  std::ofstream(victim) << "keep me\n";
  std::filesystem::create_symlink(victim, tmp);
  write_graph_file(out, g);
  EXPECT_EQ(slurp(victim), "keep me\n");
  EXPECT_TRUE(std::filesystem::is_regular_file(std::filesystem::symlink_status(out)));
  EXPECT_EQ(read_graph_file(out).graph.num_edges(), 1);
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(tmp)));
  std::ofstream(tmp) << "left by a crash";  // a plain stale temporary
  write_graph_file(out, g);
  EXPECT_EQ(read_graph_file(out).graph.num_edges(), 1);
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(tmp)));
}

// An IoError carries the file and the system's errno, so a caller can tell a missing file from a
// refused one without parsing the message (Python: .filename and .errno).
TEST(GraphIo, MissingFileIsAnIoErrorWithItsPathAndErrno) {
  for (const std::string path : {"/nonexistent/graph.txt", "/nonexistent/graph.json"}) {
    try {
      read_graph_file(path);
      FAIL() << path;
    } catch (const IoError& e) {
      EXPECT_EQ(e.path(), path);
      EXPECT_EQ(e.error_number(), ENOENT);
      EXPECT_NE(std::string(e.what()).find(std::strerror(ENOENT)), std::string::npos) << e.what();
    }
  }
  const std::string dir = std::string(PBIT_TEST_TMP) + "/ioerror";
  std::filesystem::create_directories(dir);
  try {
    write_graph_file(dir + "/no-such-folder/g.json", Graph::from_edges(2, std::vector<Edge>{{0, 1, 1.0f}}));
    FAIL() << "a write into a missing folder must fail";
  } catch (const IoError& e) {
    EXPECT_EQ(e.path(), dir + "/no-such-folder/g.json");
    EXPECT_EQ(e.error_number(), ENOENT);
    EXPECT_NE(std::string(e.what()).find("(folder '" + dir + "/no-such-folder')"), std::string::npos) << e.what();  // which one is missing
  }
  try {
    read_graph_file(dir);
    FAIL() << "a folder is not a graph file";
  } catch (const IoError& e) {
    EXPECT_EQ(e.path(), dir);
    EXPECT_EQ(e.error_number(), EISDIR);
  }
}

TEST(GraphIo, MakeDirectoriesNamesWhatFailed) {
  const std::string base = std::string(PBIT_TEST_TMP) + "/mkdirs";
  make_directories(base + "/a/b");  // parents too, and again without complaint
  make_directories(base + "/a/b");
  EXPECT_TRUE(std::filesystem::is_directory(base + "/a/b"));
  make_directories("");  // a path with no directory part
  std::ofstream(base + "/file") << "in the way\n";
  try {
    make_directories(base + "/file/sub");
    FAIL() << "a file in the way must be an error";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot create directory '" + base + "/file/sub'"), std::string::npos) << e.what();
  }
}

TEST(Topology, RandomRegularIsSimpleRegularAndSeeded) {
  const Graph a = random_regular(4264, 15, 7), b = random_regular(4264, 15, 7), c = random_regular(4264, 15, 8);
  EXPECT_EQ(a.num_edges(), 4264 * 15 / 2);
  for (int32_t i = 0; i < a.num_nodes(); ++i) ASSERT_EQ(a.degree(i), 15);
  EXPECT_EQ(a.col_idx(), b.col_idx());
  EXPECT_NE(a.col_idx(), c.col_idx());
  EXPECT_THROW(random_regular(5, 3, 1), InvalidArgument);  // n*d odd
}

TEST(Topology, SquareLattice) {
  const Graph t = square_lattice(8, true);
  EXPECT_EQ(t.num_edges(), 128);
  for (int32_t i = 0; i < 64; ++i) EXPECT_EQ(t.degree(i), 4);
  EXPECT_EQ(square_lattice(8, false).num_edges(), 2 * 8 * 7);
  EXPECT_THROW(square_lattice(2, true), InvalidArgument);
}

}  // namespace
}  // namespace pbit::test
