// Built against an installed pbit through find_package(pbit).
#include <cstdio>

#include "pbit/pbit.hpp"

int main() {
  pbit::Sampler s(pbit::square_lattice(8), 16);
  s.sweep(10);
  std::printf("installed pbit %s: %zu spins sampled\n", pbit::build_git_sha(), s.state().size());
  return s.state().size() == 16 * 64 ? 0 : 1;
}
