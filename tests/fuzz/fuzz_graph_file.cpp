// Graph files, JSON or edge list (the first byte picks which), then what a user does next with one:
// color it, check the coloring, and run a few sweeps on the reference backend.
#include "fuzz_common.hpp"
#include "pbit/core/coloring.hpp"
#include "pbit/core/io.hpp"
#include "pbit/core/sampler.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  pbit::fuzz::init_limits();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string path = pbit::fuzz::write_input(data + 1, size - 1, data[0] & 1 ? ".json" : ".txt");
  return pbit::fuzz::accept_errors([&] {
    const pbit::GraphFile gf = pbit::read_graph_file(path);
    if (gf.graph.num_nodes() < 1 || gf.graph.num_nodes() > 4096) return;
    const pbit::Coloring col = gf.coloring ? pbit::Coloring(gf.graph, *gf.coloring) : pbit::color_graph(gf.graph);
    pbit::SamplerOptions o;
    o.backend = pbit::Backend::reference;
    pbit::Sampler s(gf.graph, col, 2, o);
    s.sweep(2, pbit::BetaSchedule::constant(1.0f));
  });
}
