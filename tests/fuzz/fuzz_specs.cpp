// Topology specs (graph --topology, configs' "topology") and role specs (--roles): the first line is
// a topology spec, the second (optional) a role spec placed on it.
#include "fuzz_common.hpp"
#include "pbit/hardware/roles.hpp"
#include "pbit/hardware/topology.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  pbit::fuzz::init_limits();
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
