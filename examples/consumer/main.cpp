// Built against an installed pbit through find_package(pbit).
#include <cstdio>
#include <string>
#include <vector>

#include "pbit/pbit.hpp"

int main(int argc, char** argv) {
  pbit::Sampler s(pbit::square_lattice(8), 16);
  s.sweep(10);
  std::printf("installed pbit %s: %zu spins sampled\n", pbit::build_git_sha(), s.state().size());
  if (s.state().size() != 16 * 64) return 1;
  // Run from outside the source tree, an install finds its own data under its prefix (argv[1]),
  // before the source tree's copy: it looked only at the prefix it was configured with.
  if (argc > 1) {
    const std::string share = std::string(argv[1]) + "/share/pbit";
    const std::string platforms = pbit::energy::find_platforms_file(pbit::energy::kDefaultPlatforms);
    const std::vector<std::string> dirs = pbit::dataset_search_dirs("mnist");
    std::printf("platform file: %s\nMNIST looked for after the working folder in %s\n", platforms.c_str(), dirs.size() > 1 ? dirs[1].c_str() : "-");
    if (platforms != share + "/platforms.json" || dirs.size() < 2 || dirs[1] != share + "/datasets/mnist") return 2;
  }
  return 0;
}
