#include "pbit/hardware/topology.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include <functional>

#include <fstream>

#include "util/file_io.hpp"
#include "util/json_util.hpp"
#include "util/memory.hpp"
#include "util/parse_number.hpp"
#include "pbit/error.hpp"
#include "pbit/core/io.hpp"
#include "pbit/core/rng.hpp"
#include "core/graph_json.hpp"

namespace pbit {

double rng::PhiloxStream::normal() {
  double u1 = uniform();
  while (u1 <= 0.0) u1 = uniform();
  const double u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

namespace {
/// An L x L graph of `degree` within int32 node ids (2^30) and the memory guard, before it is built.
void check_side(const char* what, int32_t L, double degree) {
  const double nodes = static_cast<double>(L) * L;
  if (nodes > 1 << 30) throw InvalidArgument(std::string(what) + ": L = " + std::to_string(L) + " gives L^2 nodes; pbit takes at most 2^30");
  detail::check_memory(graph_bytes(static_cast<int64_t>(nodes), static_cast<int64_t>(nodes * degree / 2)) + 12.0 * nodes * degree / 2,
                       std::string(what) + " of side " + std::to_string(L));
}
}  // namespace

Graph square_lattice(int32_t L, bool periodic, float J) {
  if (L < 1 || (periodic && L < 3)) {
    throw InvalidArgument("square_lattice: L = " + std::to_string(L) + (periodic ? " (a torus needs L >= 3)" : ""));
  }
  check_side("square_lattice", L, 4);
  std::vector<Edge> edges;
  for (int32_t r = 0; r < L; ++r) {
    for (int32_t c = 0; c < L; ++c) {
      const int32_t i = r * L + c;
      if (c + 1 < L || periodic) edges.push_back({i, r * L + (c + 1) % L, J});
      if (r + 1 < L || periodic) edges.push_back({i, ((r + 1) % L) * L + c, J});
    }
  }
  return Graph::from_edges(L * L, edges);
}

Graph random_regular(int32_t n, int32_t d, uint64_t seed) {
  if (n < 1 || d < 0 || d >= n || (static_cast<int64_t>(n) * d) % 2 != 0) {
    throw InvalidArgument("random_regular: no simple " + std::to_string(d) + "-regular graph on " + std::to_string(n) +
                          " nodes (need 0 <= d < n and n*d even)");
  }
  // The pairing method slows down sharply as the graph fills up (d = 2990 of n = 3000 ran for
  // minutes): pbit draws sparse ones only.
  if (2 * static_cast<int64_t>(d) > n) {
    throw InvalidArgument("random_regular: degree " + std::to_string(d) + " on " + std::to_string(n) +
                          " nodes; pbit draws random regular graphs with degree at most n / 2");
  }
  // Sized before anything is drawn, as a topology spec is: the stubs (4 bytes an edge end), the edge
  // list (12 bytes an edge) and the set of placed pairs (about 40 bytes an edge), then the graph.
  const double ends = static_cast<double>(n) * d;
  if (ends > 2147483647.0) {
    throw InvalidArgument("random_regular: " + std::to_string(n) + " nodes of degree " + std::to_string(d) +
                          " have more than 2^31 edge ends; pbit draws smaller ones");
  }
  detail::check_memory(graph_bytes(n, static_cast<int64_t>(ends / 2)) + 4.0 * ends + 52.0 * ends / 2,
                       "random_regular(" + std::to_string(n) + ", " + std::to_string(d) + ")");
  for (uint32_t attempt = 0; attempt < 1000; ++attempt) {
    rng::PhiloxStream rs(seed, rng::kGraphGen, attempt);
    std::vector<int32_t> stubs;
    stubs.reserve(static_cast<size_t>(n) * d);
    for (int32_t i = 0; i < n; ++i) stubs.insert(stubs.end(), static_cast<size_t>(d), i);
    std::unordered_set<int64_t> have;
    std::vector<Edge> edges;
    auto key = [n](int32_t a, int32_t b) { return static_cast<int64_t>(std::min(a, b)) * n + std::max(a, b); };
    bool stuck = false;
    while (!stubs.empty() && !stuck) {
      bool placed = false;
      for (int tries = 0; tries < 200 && !placed; ++tries) {
        const uint32_t a = rs.uniform_int(static_cast<uint32_t>(stubs.size()));
        const uint32_t b = rs.uniform_int(static_cast<uint32_t>(stubs.size()));
        const int32_t u = stubs[a], v = stubs[b];
        if (u == v || have.count(key(u, v))) continue;
        have.insert(key(u, v));
        edges.push_back({u, v, 1.0f});
        // Remove the two stubs (larger index first so the smaller stays valid).
        for (uint32_t idx : {std::max(a, b), std::min(a, b)}) {
          stubs[idx] = stubs.back();
          stubs.pop_back();
        }
        placed = true;
      }
      stuck = !placed;
    }
    if (!stuck) return Graph::from_edges(n, edges);
  }
  throw InvalidArgument("random_regular: could not build a simple " + std::to_string(d) + "-regular graph on " +
                        std::to_string(n) + " nodes in 1000 attempts");
}

// ------------------------------------------------------------------ hardware topologies

namespace {

/// Builds a Topology from edges between vendor linear indices: the nodes are the indices that appear
/// in an edge (as in networkx, which adds nodes through edges), renumbered in ascending order.
Topology from_linear_edges(std::string name, const std::vector<std::pair<int64_t, int64_t>>& qedges,
                           std::vector<std::string> coord_names,
                           const std::function<std::vector<int32_t>(int64_t)>& coords_of) {
  std::vector<int64_t> qs;
  qs.reserve(qedges.size() * 2);
  for (const auto& [a, b] : qedges) {
    qs.push_back(a);
    qs.push_back(b);
  }
  std::sort(qs.begin(), qs.end());
  qs.erase(std::unique(qs.begin(), qs.end()), qs.end());
  std::unordered_map<int64_t, int32_t> id;
  id.reserve(qs.size() * 2);
  for (size_t i = 0; i < qs.size(); ++i) id[qs[i]] = static_cast<int32_t>(i);
  std::vector<Edge> edges;
  edges.reserve(qedges.size());
  for (const auto& [a, b] : qedges) edges.push_back({id.at(a), id.at(b), 1.0f});
  Topology t;
  t.name = std::move(name);
  t.graph = Graph::from_edges(static_cast<int32_t>(qs.size()), edges);
  t.coordinate_names = std::move(coord_names);
  t.linear_index = qs;
  for (int64_t q : qs) t.coordinates.push_back(coords_of(q));
  return t;
}

void set_coloring(Topology& t, std::vector<int32_t> colors, const std::string& method) {
  // The closed forms are proven proper for the full graphs; verify anyway and fall back if not.
  try {
    verify_coloring(t.graph, colors);
    t.colors = std::move(colors);
    t.coloring_method = method;
  } catch (const InvalidColoring&) {
    t.colors = color_graph(t.graph).colors();
    t.coloring_method = "dsatur";
  }
}

}  // namespace

Topology pegasus(int32_t m) {
  if (m < 2 || m > 64) throw InvalidArgument("pegasus: m must be in [2, 64], got " + std::to_string(m));
  static const int S0[12] = {2, 2, 2, 2, 10, 10, 10, 10, 6, 6, 6, 6};
  static const int S1[12] = {6, 6, 6, 6, 2, 2, 2, 2, 10, 10, 10, 10};
  const int64_t m1 = m - 1;
  auto q = [&](int64_t u, int64_t w, int64_t k, int64_t z) { return ((u * m + w) * 12 + k) * m1 + z; };
  // fabric_only: drop (w = 0, k < 2) and (w = m-1, k >= 10): the min / 12 - max of the offsets.
  auto k_lo = [&](int64_t w) { return w == 0 ? 2 : 0; };
  auto k_hi = [&](int64_t w) { return w == m1 ? 10 : 12; };
  std::vector<std::pair<int64_t, int64_t>> e;
  for (int64_t u = 0; u < 2; ++u)
    for (int64_t w = 0; w < m; ++w)
      for (int64_t k = k_lo(w); k < k_hi(w); ++k)
        for (int64_t z = 0; z + 1 < m1; ++z) e.push_back({q(u, w, k, z), q(u, w, k, z + 1)});  // external
  for (int64_t u = 0; u < 2; ++u)
    for (int64_t w = 0; w < m; ++w)
      for (int64_t k = k_lo(w); k < k_hi(w); k += 2)
        for (int64_t z = 0; z < m1; ++z) e.push_back({q(u, w, k, z), q(u, w, k + 1, z)});  // odd
  for (int64_t w = 0; w < m; ++w)  // internal: vertical (0, w, k, z) ~ horizontal (1, z + [kk < S0[k]], kk, w - [k < S1[kk]])
    for (int64_t kk = 0; kk < 12; ++kk)
      for (int64_t k = (w ? 0 : S1[kk]); k < (w < m1 ? 12 : S1[kk]); ++k)
        for (int64_t z = 0; z < m1; ++z) {
          e.push_back({q(0, w, k, z), q(1, z + (kk < S0[k] ? 1 : 0), kk, w - (k < S1[kk] ? 1 : 0))});
        }
  Topology t = from_linear_edges("pegasus(" + std::to_string(m) + ")", e, {"u", "w", "k", "z"}, [&](int64_t r) {
    const int32_t z = static_cast<int32_t>(r % m1);
    r /= m1;
    const int32_t k = static_cast<int32_t>(r % 12);
    r /= 12;
    return std::vector<int32_t>{static_cast<int32_t>(r / m), static_cast<int32_t>(r % m), k, z};
  });
  std::vector<int32_t> colors;
  for (const auto& c : t.coordinates) colors.push_back(2 * c[0] + ((c[2] ^ c[3]) & 1));
  set_coloring(t, std::move(colors), "2u + ((k xor z) & 1)");
  return t;
}

Topology zephyr(int32_t m, int32_t t) {
  if (m < 1 || m > 64 || t < 1 || t > 64) {
    throw InvalidArgument("zephyr: need 1 <= m <= 64 and 1 <= t <= 64, got m = " + std::to_string(m) + ", t = " + std::to_string(t));
  }
  const int64_t M = 2 * static_cast<int64_t>(m) + 1;
  auto q = [&](int64_t u, int64_t w, int64_t k, int64_t j, int64_t z) { return (((u * M + w) * t + k) * 2 + j) * m + z; };
  std::vector<std::pair<int64_t, int64_t>> e;
  for (int64_t u = 0; u < 2; ++u)
    for (int64_t w = 0; w < M; ++w)
      for (int64_t k = 0; k < t; ++k)
        for (int64_t j = 0; j < 2; ++j)
          for (int64_t z = 0; z + 1 < m; ++z) e.push_back({q(u, w, k, j, z), q(u, w, k, j, z + 1)});  // external
  for (int64_t u = 0; u < 2; ++u)
    for (int64_t w = 0; w < M; ++w)
      for (int64_t k = 0; k < t; ++k)
        for (int64_t a = 0; a < 2; ++a)
          for (int64_t z = a; z < m; ++z) e.push_back({q(u, w, k, 0, z), q(u, w, k, 1, z - a)});  // odd
  for (int64_t w = 0; w < m; ++w)  // internal
    for (int64_t z = 0; z < m; ++z)
      for (int64_t h = 0; h < t; ++h)
        for (int64_t k = 0; k < t; ++k)
          for (int64_t i = 0; i < 2; ++i)
            for (int64_t j = 0; j < 2; ++j)
              for (int64_t a = 0; a < 2; ++a)
                for (int64_t b = 0; b < 2; ++b) {
                  e.push_back({q(0, 2 * w + 1 + a * (2 * i - 1), k, j, z), q(1, 2 * z + 1 + b * (2 * j - 1), h, i, w)});
                }
  Topology topo = from_linear_edges("zephyr(" + std::to_string(m) + ", " + std::to_string(t) + ")", e,
                                    {"u", "w", "k", "j", "z"}, [&](int64_t r) {
                                      const int32_t z = static_cast<int32_t>(r % m);
                                      r /= m;
                                      const int32_t j = static_cast<int32_t>(r % 2);
                                      r /= 2;
                                      const int32_t k = static_cast<int32_t>(r % t);
                                      r /= t;
                                      return std::vector<int32_t>{static_cast<int32_t>(r / M), static_cast<int32_t>(r % M), k, j, z};
                                    });
  std::vector<int32_t> colors;
  for (const auto& c : topo.coordinates) colors.push_back(c[3] + ((c[1] + 2 * (c[4] + c[0]) + c[3]) & 2));
  set_coloring(topo, std::move(colors), "j + ((w + 2(z + u) + j) & 2)");
  return topo;
}

Topology chimera(int32_t m, int32_t n, int32_t t) {
  if (n < 0) n = m;
  if (m < 1 || n < 1 || t < 1 || static_cast<int64_t>(m) * n * t > (int64_t{1} << 28)) {
    throw InvalidArgument("chimera: need m, n, t >= 1 (and a graph that fits), got " + std::to_string(m) + ", " +
                          std::to_string(n) + ", " + std::to_string(t));
  }
  auto q = [&](int64_t i, int64_t j, int64_t u, int64_t k) { return ((i * n + j) * 2 + u) * t + k; };
  std::vector<std::pair<int64_t, int64_t>> e;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t k = 0; k < t; ++k)
        for (int64_t kk = 0; kk < t; ++kk) e.push_back({q(i, j, 0, k), q(i, j, 1, kk)});  // K_{t,t}
      for (int64_t k = 0; k < t; ++k) {
        if (i + 1 < m) e.push_back({q(i, j, 0, k), q(i + 1, j, 0, k)});  // vertical
        if (j + 1 < n) e.push_back({q(i, j, 1, k), q(i, j + 1, 1, k)});  // horizontal
      }
    }
  Topology topo = from_linear_edges(
      "chimera(" + std::to_string(m) + ", " + std::to_string(n) + ", " + std::to_string(t) + ")", e, {"i", "j", "u", "k"},
      [&](int64_t r) {
        const int32_t k = static_cast<int32_t>(r % t);
        r /= t;
        const int32_t u = static_cast<int32_t>(r % 2);
        r /= 2;
        return std::vector<int32_t>{static_cast<int32_t>(r / n), static_cast<int32_t>(r % n), u, k};
      });
  std::vector<int32_t> colors;
  for (const auto& c : topo.coordinates) colors.push_back((c[0] + c[1] + c[2]) % 2);
  set_coloring(topo, std::move(colors), "(i + j + u) mod 2");
  return topo;
}

// ------------------------------------------------------------------ grids

std::vector<GridRule> grid_preset(const std::string& name) {
  // Sources: docs/TOPOLOGIES.md. Paper = Jelincic et al. 2025; replication = pschilliOrange/dtm-replication.
  const std::vector<GridRule> g8 = {{0, 1}, {4, 1}};
  auto plus = [](std::vector<GridRule> base, std::initializer_list<GridRule> more) {
    base.insert(base.end(), more.begin(), more.end());
    return base;
  };
  if (name == "G8") return g8;
  if (name == "G12") return plus(g8, {{9, 10}});
  if (name == "G16") return plus(g8, {{8, 7}, {14, 9}});
  if (name == "G20") return plus(g8, {{8, 7}, {14, 9}, {23, 6}});
  if (name == "G24") return plus(g8, {{8, 7}, {14, 9}, {23, 6}, {17, 20}});
  if (name == "G12r") return plus(g8, {{10, 9}});
  if (name == "G16r") return plus(g8, {{10, 9}, {11, 14}});
  if (name == "G20r") return plus(g8, {{10, 9}, {11, 14}, {23, 6}});
  throw InvalidArgument("unknown grid preset '" + name + "' (known: G8, G12, G16, G20, G24, G12r, G16r, G20r)");
}

Topology extropic_grid(int32_t L, const std::vector<GridRule>& rules, bool torus, const std::string& label) {
  if (L < 2 || L > 8192) throw InvalidArgument("grid: L must be in [2, 8192], got " + std::to_string(L));
  if (rules.empty()) throw InvalidArgument("grid: no rules given");
  std::vector<std::pair<int32_t, int32_t>> offsets;  // the two "forward" offsets of each rule
  std::string rule_text;
  for (const GridRule& r : rules) {
    // (Bounded first: an offset past the grid joins nothing, and a huge one would overflow r + a.)
    if (std::abs(static_cast<int64_t>(r.a)) > 8192 || std::abs(static_cast<int64_t>(r.b)) > 8192) {
      throw InvalidArgument("grid rule (" + std::to_string(r.a) + ", " + std::to_string(r.b) + "): offsets are at most 8192 in magnitude");
    }
    if (((r.a + r.b) % 2 + 2) % 2 != 1) {
      throw InvalidArgument("grid rule (" + std::to_string(r.a) + ", " + std::to_string(r.b) +
                            "): a + b must be odd so that the checkerboard coloring is proper");
    }
    offsets.push_back({r.a, r.b});
    offsets.push_back({-r.b, r.a});
    rule_text += (rule_text.empty() ? "" : ";") + std::to_string(r.a) + "," + std::to_string(r.b);
  }
  if (!torus) {
    // Two rules that give the same neighbour (an offset or its negative) would merge their edges
    // silently: a degree of 4 where 8 was asked for.
    std::map<std::pair<int32_t, int32_t>, size_t> seen;
    for (size_t k = 0; k < offsets.size(); ++k) {
      for (int sgn : {1, -1}) {
        auto [it, fresh] = seen.emplace(std::pair<int32_t, int32_t>{sgn * offsets[k].first, sgn * offsets[k].second}, k);
        if (!fresh && it->second / 2 != k / 2) {
          throw InvalidArgument("grid: rules (" + std::to_string(rules[it->second / 2].a) + ", " + std::to_string(rules[it->second / 2].b) +
                                ") and (" + std::to_string(rules[k / 2].a) + ", " + std::to_string(rules[k / 2].b) +
                                ") give the same neighbour");
        }
      }
    }
  }
  if (torus) {
    // Every offset and its negative must be distinct and nonzero mod L, or edges would repeat or loop.
    std::map<std::pair<int32_t, int32_t>, size_t> seen;
    for (size_t k = 0; k < offsets.size(); ++k) {
      for (int sgn : {1, -1}) {
        const std::pair<int32_t, int32_t> o{((sgn * offsets[k].first) % L + L) % L, ((sgn * offsets[k].second) % L + L) % L};
        if (o.first == 0 && o.second == 0) {
          throw InvalidArgument("grid: L = " + std::to_string(L) + " is too small for rule (" + std::to_string(rules[k / 2].a) +
                                ", " + std::to_string(rules[k / 2].b) + "): an offset wraps onto the node itself");
        }
        auto [it, fresh] = seen.emplace(o, k);
        if (!fresh && it->second != k) {
          throw InvalidArgument("grid: L = " + std::to_string(L) + " is too small: rules (" +
                                std::to_string(rules[it->second / 2].a) + ", " + std::to_string(rules[it->second / 2].b) +
                                ") and (" + std::to_string(rules[k / 2].a) + ", " + std::to_string(rules[k / 2].b) +
                                ") give the same neighbour on the torus");
        }
        if (!fresh && it->second == k && sgn == -1) {
          throw InvalidArgument("grid: L = " + std::to_string(L) + " is too small for rule (" +
                                std::to_string(rules[k / 2].a) + ", " + std::to_string(rules[k / 2].b) +
                                "): an offset equals its own negative on the torus");
        }
      }
    }
  }
  // Each rule adds degree 4 (docs/TOPOLOGIES.md): 200 rules on a side of 512 asked for 84 million
  // edges, and the list was filled before any check (helper-117).
  check_side("grid", L, 2.0 * static_cast<double>(offsets.size()));
  std::vector<Edge> edges;
  edges.reserve(static_cast<size_t>(L) * static_cast<size_t>(L) * offsets.size());
  for (int32_t r = 0; r < L; ++r)
    for (int32_t c = 0; c < L; ++c)
      for (const auto& [dr, dc] : offsets) {
        int32_t r2 = r + dr, c2 = c + dc;
        if (torus) {
          r2 = ((r2 % L) + L) % L;
          c2 = ((c2 % L) + L) % L;
        } else if (r2 < 0 || r2 >= L || c2 < 0 || c2 >= L) {
          continue;
        }
        edges.push_back({r * L + c, r2 * L + c2, 1.0f});
      }
  Topology t;
  t.name = "grid(" + std::to_string(L) + ", " + (label.empty() ? rule_text : label) + ", " + (torus ? "torus" : "open") + ")";
  t.graph = Graph::from_edges(L * L, edges);
  t.coordinate_names = {"row", "col"};
  for (int32_t i = 0; i < L * L; ++i) t.coordinates.push_back({i / L, i % L});
  std::vector<int32_t> colors;
  for (int32_t i = 0; i < L * L; ++i) colors.push_back((i / L + i % L) % 2);
  set_coloring(t, std::move(colors), "checkerboard (row + col) mod 2");
  return t;
}

Topology square_lattice_topology(int32_t L, bool periodic) {
  Topology t;
  t.name = "lattice(" + std::to_string(L) + ", " + (periodic ? "torus" : "open") + ")";
  t.graph = square_lattice(L, periodic);
  t.coordinate_names = {"row", "col"};
  std::vector<int32_t> colors;
  for (int32_t i = 0; i < L * L; ++i) {
    t.coordinates.push_back({i / L, i % L});
    colors.push_back((i / L + i % L) % 2);
  }
  set_coloring(t, std::move(colors), "checkerboard (row + col) mod 2");
  return t;
}

Topology king_graph(int32_t L, bool periodic) {
  if (L < 2 || (periodic && L < 3)) throw InvalidArgument("king_graph: L = " + std::to_string(L) + " too small");
  check_side("king_graph", L, 8);
  std::vector<Edge> edges;
  for (int32_t r = 0; r < L; ++r)
    for (int32_t c = 0; c < L; ++c)
      for (const auto& [dr, dc] : {std::pair{0, 1}, std::pair{1, -1}, std::pair{1, 0}, std::pair{1, 1}}) {
        int32_t r2 = r + dr, c2 = c + dc;
        if (periodic) {
          r2 = (r2 + L) % L;
          c2 = (c2 + L) % L;
        } else if (r2 >= L || c2 < 0 || c2 >= L) {
          continue;
        }
        if (r2 * L + c2 != r * L + c) edges.push_back({r * L + c, r2 * L + c2, 1.0f});
      }
  Topology t;
  t.name = "king(" + std::to_string(L) + ", " + (periodic ? "torus" : "open") + ")";
  t.graph = Graph::from_edges(L * L, edges);
  t.coordinate_names = {"row", "col"};
  std::vector<int32_t> colors;
  for (int32_t i = 0; i < L * L; ++i) {
    t.coordinates.push_back({i / L, i % L});
    colors.push_back(2 * ((i / L) % 2) + (i % L) % 2);
  }
  set_coloring(t, std::move(colors), "2 (row mod 2) + (col mod 2)");
  return t;
}

namespace {

nlohmann::json topology_meta(const Topology& t, bool coordinates) {
  nlohmann::json m = {{"topology", t.name}, {"coloring_method", t.coloring_method}, {"coordinate_names", t.coordinate_names},
                      {"linear_index", t.linear_index}};
  if (coordinates) m["coordinates"] = t.coordinates;
  return m;
}

}  // namespace

nlohmann::json topology_to_json(const Topology& t) {
  nlohmann::json j = graph_to_json(t.graph, &t.colors);
  j["meta"] = topology_meta(t, /*coordinates=*/true);
  return j;
}

void write_topology_file(const std::string& path, const Topology& t) {
  if (is_json_path(path)) {
    // The text of topology_to_json, made row by row (core/graph_json.hpp) and checked first: a spec
    // the generator's guard let through died of std::bad_alloc building the whole document under a
    // ulimit (helper-108).
    double values = 0;
    for (const auto& c : t.coordinates) values += static_cast<double>(c.size());
    detail::check_memory(detail::graph_json_bytes(t.graph, values),
                         "the JSON text of topology '" + t.name + "' (" + std::to_string(t.graph.num_edges()) +
                             " edges; as an edge list, not .json, about a quarter as much)");
    const nlohmann::json meta = topology_meta(t, /*coordinates=*/false);
    detail::write_file_atomically(path, detail::graph_json_text(t.graph, &t.colors, &meta, &t.coordinates));
    return;
  }
  detail::write_file_atomically(path, [&](std::ostream& f) {
    f << "# " << t.name << "; coloring: " << t.coloring_method << " (colors are kept only in the JSON format)\n";
    write_edge_list(f, t.graph);
  });
}

int64_t count_triangles(const Graph& g) {
  int64_t n = 0;
  for (int32_t i = 0; i < g.num_nodes(); ++i) {
    for (int64_t a = g.row_ptr()[i]; a < g.row_ptr()[i + 1]; ++a) {
      const int32_t j = g.col_idx()[a];
      if (j <= i) continue;
      // Count k > j adjacent to both (sorted merge of the two rows).
      int64_t x = g.row_ptr()[i], y = g.row_ptr()[j];
      while (x < g.row_ptr()[i + 1] && y < g.row_ptr()[j + 1]) {
        const int32_t ci = g.col_idx()[x], cj = g.col_idx()[y];
        if (ci < cj) ++x;
        else if (cj < ci) ++y;
        else {
          n += ci > j;
          ++x;
          ++y;
        }
      }
    }
  }
  return n;
}

namespace {

int32_t parse_int(const std::string& s, const std::string& spec, const char* what) {
  int32_t v = 0;
  const detail::ParseStatus st = detail::parse_number(s, v);
  if (st == detail::ParseStatus::out_of_range) {
    if (!s.empty() && s[0] == '-') throw InvalidArgument("topology '" + spec + "': " + what + " must be >= 1, got " + s);
    throw InvalidArgument("topology '" + spec + "': " + what + " = " + s + " is too large (pbit takes at most 2^30 nodes)");
  }
  if (st != detail::ParseStatus::ok) {
    throw InvalidArgument("topology '" + spec + "': " + what + " must be an integer, got '" + s + "'");
  }
  return v;
}

}  // namespace

namespace {

Topology build_topology(const std::string& spec) {
  std::vector<std::string> f;
  {
    std::stringstream ss(spec);
    for (std::string item; std::getline(ss, item, ':');) f.push_back(item);
  }
  auto bad = [&](const std::string& why) { return InvalidArgument("topology '" + spec + "': " + why); };
  if (f.empty()) throw bad("empty spec");
  // getline drops a last empty field: "pegasus:2:" read as "pegasus:2". Every field is refused empty.
  if (spec.back() == ':') f.emplace_back();
  for (size_t k = 0; k < f.size(); ++k) {
    if (f[k].empty()) throw bad("field " + std::to_string(k + 1) + " of " + std::to_string(f.size()) + " is empty (a stray ':'?)");
  }
  auto boundary = [&](size_t idx, bool dflt) {
    if (f.size() <= idx) return dflt;
    if (f[idx] == "torus") return true;
    if (f[idx] == "open") return false;
    throw bad("boundary must be 'torus' or 'open', got '" + f[idx] + "'");
  };
  const std::string& kind = f[0];
  // The size a spec asks for is checked before anything is built: nodes within int32, and the graph,
  // its coordinates and its coloring within the memory guard (PBIT_MAX_MEMORY).
  auto guard = [&](double nodes, double degree) {
    // (the count as a double: a spec can ask for more nodes than an int64 holds)
    if (nodes > 1 << 30) throw bad(detail::format_number(nodes) + " nodes; pbit takes at most 2^30");
    // The graph, and the generator's edge lists beside it (measured: 112 bytes an edge in all)
    detail::check_memory(graph_bytes(static_cast<int64_t>(nodes), static_cast<int64_t>(nodes * degree / 2)) + 64.0 * nodes * degree / 2 + 1000.0 * nodes,
                         "topology '" + spec + "'");
  };
  auto positive = [&](int32_t v, const char* what) {
    if (v < 1) throw bad(std::string(what) + " must be >= 1, got " + std::to_string(v));
    return static_cast<double>(v);
  };
  if (kind == "pegasus" && f.size() == 2) {
    const int32_t m = parse_int(f[1], spec, "m");
    if (m < 2 || m > 64) throw bad("m must be in [2, 64], got " + std::to_string(m));  // as pegasus() says
    guard(24.0 * m * m, 15);
    return pegasus(m);
  }
  if (kind == "zephyr" && (f.size() == 2 || f.size() == 3)) {
    const int32_t m = parse_int(f[1], spec, "m"), t = f.size() == 3 ? parse_int(f[2], spec, "t") : 4;
    guard(4.0 * positive(t, "t") * positive(m, "m") * (2.0 * m + 1), 4.0 * t + 4);
    return zephyr(m, t);
  }
  if (kind == "chimera" && f.size() >= 2 && f.size() <= 4) {
    const int32_t m = parse_int(f[1], spec, "m");
    const int32_t n = f.size() >= 3 ? parse_int(f[2], spec, "n") : m, t = f.size() == 4 ? parse_int(f[3], spec, "t") : 4;
    guard(2.0 * positive(m, "m") * positive(n, "n") * positive(t, "t"), t + 2);
    return chimera(m, n, t);
  }
  if (kind == "grid" && (f.size() == 3 || f.size() == 4)) {
    const int32_t L = parse_int(f[1], spec, "L");
    if (L < 2 || L > 8192) throw bad("L must be in [2, 8192], got " + std::to_string(L));  // as extropic_grid says
    if (f[2].find(',') == std::string::npos) {
      guard(static_cast<double>(L) * L, 24);  // the densest preset's degree (G24), before the name is looked up
      return extropic_grid(L, grid_preset(f[2]), boundary(3, true), f[2]);
    }
    std::vector<GridRule> rules;
    std::stringstream rs(f[2]);
    if (f[2].back() == ';') throw bad("rule list '" + f[2] + "' ends in ';' (an empty rule)");  // getline would drop it
    for (std::string r; std::getline(rs, r, ';');) {
      const auto comma = r.find(',');
      if (comma == std::string::npos) throw bad("rule '" + r + "' must be 'a,b'");
      rules.push_back({parse_int(r.substr(0, comma), spec, "rule a"), parse_int(r.substr(comma + 1), spec, "rule b")});
    }
    guard(static_cast<double>(L) * L, 4.0 * static_cast<double>(rules.size()));  // degree 4 a rule (it assumed G24's 24)
    return extropic_grid(L, rules, boundary(3, true));
  }
  if (kind == "lattice" && (f.size() == 2 || f.size() == 3)) {
    const int32_t L = parse_int(f[1], spec, "L");
    guard(positive(L, "L") * L, 4);
    return square_lattice_topology(L, boundary(2, true));
  }
  if (kind == "king" && (f.size() == 2 || f.size() == 3)) {
    const int32_t L = parse_int(f[1], spec, "L");
    guard(positive(L, "L") * L, 8);
    return king_graph(L, boundary(2, false));
  }
  if (kind == "regular" && (f.size() == 3 || f.size() == 4)) {
    Topology t;
    const int32_t n = parse_int(f[1], spec, "N"), d = parse_int(f[2], spec, "D");
    guard(positive(n, "N"), d);
    uint64_t seed = 1;  // any of random_regular's seeds, [0, 2^64)
    if (f.size() == 4) {
      if (!f[3].empty() && f[3][0] == '-') throw bad("seed must be >= 0, got " + f[3]);  // not wrapped to 2^64 - 5
      const detail::ParseStatus st = detail::parse_number(f[3][0] == '+' ? f[3].substr(1) : f[3], seed);  // "+5", as N and D take it
      if (st == detail::ParseStatus::out_of_range) throw bad("seed = " + f[3] + " is past 2^64 - 1");
      if (st != detail::ParseStatus::ok) throw bad("seed must be an integer, got '" + f[3] + "'");
    }
    t.name = "regular(" + std::to_string(n) + ", " + std::to_string(d) + ", seed " + std::to_string(seed) + ")";
    t.graph = random_regular(n, d, seed);
    t.colors = color_graph(t.graph).colors();
    t.coloring_method = "dsatur";
    return t;
  }
  throw bad("expected pegasus:M, zephyr:M[:T], chimera:M[:N[:T]], grid:L:PRESET|RULES[:torus|open], "
            "lattice:L[:torus|open], king:L[:torus|open] or regular:N:D[:SEED]");
}

}  // namespace

Topology make_topology(const std::string& spec) {
  try {
    return build_topology(spec);
  } catch (const InvalidArgument& e) {
    // A generator's own refusal ("grid: L must be in [2, 8192], got 1") names the spec too, as the
    // parser's do.
    if (e.reason().rfind("topology '", 0) == 0) throw;
    throw InvalidArgument("topology '" + spec + "': " + e.reason());
  }
}

Graph with_random_weights(const Graph& g, uint64_t seed, float sigma_j, float sigma_h) {
  if (!(sigma_j >= 0 && sigma_h >= 0 && std::isfinite(sigma_j) && std::isfinite(sigma_h))) {  // a spread, not a sign
    throw InvalidArgument("with_random_weights: sigma_j and sigma_h must be finite and >= 0, got " + std::to_string(sigma_j) + " and " +
                          std::to_string(sigma_h));
  }
  rng::PhiloxStream rs(seed, rng::kWeightInit);
  // "+ 0.0": a spread of 0 gives 0, not -0 for the negative draws (written "-0.0" in graph files). A
  // draw past float's range becomes inf, which set_edge_weights refuses, explicitly: converting it
  // is undefined behaviour (helper-117; a spread near 3.4e38 gets there).
  const auto draw = [&rs](float sigma) {
    const double v = sigma * rs.normal() + 0.0;
    return std::fabs(v) <= std::numeric_limits<float>::max() ? static_cast<float>(v) : std::copysign(std::numeric_limits<float>::infinity(), v);
  };
  std::vector<float> w(static_cast<size_t>(g.num_edges()));
  for (float& x : w) x = draw(sigma_j);
  std::vector<float> h(static_cast<size_t>(g.num_nodes()));
  for (float& x : h) x = draw(sigma_h);
  Graph out = g;
  out.set_edge_weights(w);
  out.set_biases(h);
  return out;
}

}  // namespace pbit
