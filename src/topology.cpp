#include "pbit/topology.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "pbit/error.hpp"
#include "pbit/rng.hpp"

namespace pbit {

double rng::PhiloxStream::normal() {
  double u1 = uniform();
  while (u1 <= 0.0) u1 = uniform();
  const double u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

Graph square_lattice(int32_t L, bool periodic, float J) {
  if (L < 1 || (periodic && L < 3)) {
    throw InvalidArgument("square_lattice: L = " + std::to_string(L) + (periodic ? " (a torus needs L >= 3)" : ""));
  }
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

Graph with_random_weights(const Graph& g, uint64_t seed, float sigma_j, float sigma_h) {
  rng::PhiloxStream rs(seed, rng::kWeightInit);
  std::vector<float> w(static_cast<size_t>(g.num_edges()));
  for (float& x : w) x = static_cast<float>(sigma_j * rs.normal());
  std::vector<float> h(static_cast<size_t>(g.num_nodes()));
  for (float& x : h) x = static_cast<float>(sigma_h * rs.normal());
  Graph out = g;
  out.set_edge_weights(w);
  out.set_biases(h);
  return out;
}

}  // namespace pbit
