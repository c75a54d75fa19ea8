// Topology specs (graph --topology, configs' "topology") and role specs (--roles): the first line is
// a topology spec, the second (optional) a role spec placed on it.
#include "fuzz_common.hpp"
#include "pbit/hardware/roles.hpp"
#include "pbit/hardware/topology.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  pbit::fuzz::init_limits();
  // A valid spec may ask for a big graph (chimera:64:3:77 is 1.2M edges, zephyr:64 132k nodes,
  // regular:7770:39 151k edges, regular:770:249 96k edges to color): that is work in proportion to
  // what was asked, which the memory guard bounds, not a hang. Under the fuzzer's instrumentation on a
  // busy machine such graphs take longer than its 10 s per input, so the guard is set low here (graphs
  // of about a thousand nodes): the spec parser, the size checks and role placement are this target's
  // subject.
  setenv("PBIT_MAX_MEMORY", "2M", 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 200) return 0;  // specs are one short line
  const std::string text(reinterpret_cast<const char*>(data), size);
  const size_t nl = text.find('\n');
  const std::string spec = text.substr(0, nl), roles = nl == std::string::npos ? "" : text.substr(nl + 1);
  return pbit::fuzz::accept_errors([&] {
    if (!roles.empty()) {
      const auto specs = pbit::parse_role_specs(roles);
      if (spec.empty()) return;
      const pbit::Topology t = pbit::make_topology(spec);
      (void)pbit::place_roles(t.graph.num_nodes(), specs, 1, &t.colors);
      return;
    }
    (void)pbit::make_topology(spec);
  });
}
