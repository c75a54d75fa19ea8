// Sample a frustrated 3-regular graph with 4096 chains and read the training statistics.
#include <cstdio>

#include "pbit/pbit.hpp"

int main() {
  // A random 3-regular graph on 1000 nodes with Gaussian couplings and biases.
  const pbit::Graph g = pbit::with_random_weights(pbit::random_regular(1000, 3, /*seed=*/1), /*seed=*/2, /*sigma_j=*/0.5f, /*sigma_h=*/0.1f);

  pbit::SamplerOptions opt;
  opt.backend = pbit::best_available_backend();  // cuda if a GPU is present, else cpu
  opt.seed = 42;
  pbit::Sampler sampler(g, /*num_chains=*/4096, opt);

  // Clamp node 0 to +1 in every chain, anneal beta 0.1 -> 1 over the warm-up, then take 100 samples.
  sampler.set_clamp({0}, std::vector<int8_t>{1});
  pbit::ObserverSpec observe;
  observe.moments = true;
  const pbit::Observations obs = sampler.run({/*warmup=*/100, /*samples=*/100, /*steps_per_sample=*/2},
                                             pbit::BetaSchedule::linear(0.1f, 1.0f, 100), observe);

  std::printf("backend %s, %d colors\n", pbit::to_string(opt.backend).c_str(), sampler.coloring().num_colors());
  std::printf("<s_0> = %.3f (clamped), <s_1> = %.3f, <s_%d s_%d> = %.3f\n", obs.node_mean[0], obs.node_mean[1],
              g.edge_i()[0], g.edge_j()[0], obs.edge_corr[0]);
  return obs.node_mean[0] == 1.0 ? 0 : 1;
}
