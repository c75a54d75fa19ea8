// Graph generators. (Hardware topologies: Pegasus, Zephyr, Chimera, Extropic grids come with issue 3.)
#pragma once
#include <cstdint>

#include "pbit/graph.hpp"

namespace pbit {

/// L x L square lattice (4 neighbours), periodic (torus, needs L >= 3) or open. Node = row * L + col.
/// All couplings `J`, biases 0.
Graph square_lattice(int32_t L, bool periodic = true, float J = 1.0f);

/// Random simple d-regular graph on n nodes (n * d even, d < n), seeded: same seed, same graph.
/// Pairs random free stubs that form a new simple edge and restarts when stuck (Steger-Wormald).
Graph random_regular(int32_t n, int32_t d, uint64_t seed);

/// Same structure, couplings drawn from N(0, sigma_j^2) and biases from N(0, sigma_h^2), seeded.
Graph with_random_weights(const Graph& g, uint64_t seed, float sigma_j, float sigma_h = 0.0f);

}  // namespace pbit
