// The config parsers, one target each (CMake compiles this file once per parser with PBIT_FUZZ_CONFIG
// set): sample, dbm, dtm, compare, eqprop and pdnn configs, read from a file as the CLI reads them.
#include "fuzz_common.hpp"
#include "pbit/core/config.hpp"
#include "pbit/core/io.hpp"
#include "pbit/harness/compare.hpp"
#include "pbit/models/dbm.hpp"
#include "pbit/models/dtm_model.hpp"
#include "pbit/models/eqprop.hpp"
#include "pbit/models/pdnn.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  pbit::fuzz::init_limits();
#if PBIT_FUZZ_CONFIG == 4
  // A suite's parser builds each workload's topology to check its spec: a valid suite of big graphs
  // (the shipped GPU suite, or pegasus:28) is work in proportion to what it asks for, slower than the
  // fuzzer's 10 s per input under instrumentation. The memory guard bounds it; set low here (graphs
  // of a few hundred nodes: building pegasus:14 for every input held the target near 100 inputs/s),
  // since the specs themselves are fuzz_specs' subject.
  setenv("PBIT_MAX_MEMORY", "1M", 1);
#endif
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = pbit::fuzz::write_input(data, size, ".json");
  return pbit::fuzz::accept_errors([&] {
    const nlohmann::json j = pbit::read_json_file(path);
#if PBIT_FUZZ_CONFIG == 1
    // What the CLI does next: check the config against the graph (clamp and field nodes, read-out
    // groups, snapshots), here a graph of 64 nodes.
    pbit::check_sample_config(pbit::parse_sample_config(j), 64);
#elif PBIT_FUZZ_CONFIG == 2
    (void)pbit::parse_dbm_config(j);
#elif PBIT_FUZZ_CONFIG == 3
    (void)pbit::parse_dtm_config(j);
#elif PBIT_FUZZ_CONFIG == 4
    (void)pbit::parse_compare_suite(j);
#elif PBIT_FUZZ_CONFIG == 5
    (void)pbit::parse_eqprop_config(j);
#elif PBIT_FUZZ_CONFIG == 6
    (void)pbit::parse_pdnn_config(j);
#else
#error "PBIT_FUZZ_CONFIG: 1 sample, 2 dbm, 3 dtm, 4 compare, 5 eqprop, 6 pdnn"
#endif
  });
}
