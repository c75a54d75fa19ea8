// Role files (graph --roles-out): the first two bytes give the graph's node count.
#include "fuzz_common.hpp"
#include "pbit/hardware/roles.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  pbit::fuzz::init_limits();
  if (pbit::fuzz::seed_dir()) {
    const auto r = pbit::place_roles(40, pbit::parse_role_specs("visible:16,label:10,hidden:rest"), 3);
    const std::string p = pbit::fuzz::input_path(".seed.json");
    pbit::write_roles_file(p, r);
    pbit::fuzz::write_seed("roles.json", std::string("\x28\x00", 2) + pbit::fuzz::slurp(p));
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const int32_t n = data[0] | (data[1] << 8);
  const std::string path = pbit::fuzz::write_input(data + 2, size - 2, ".json");
  return pbit::fuzz::accept_errors([&] { (void)pbit::read_roles_file(path, n); });
}
