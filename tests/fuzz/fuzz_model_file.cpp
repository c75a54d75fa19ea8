// DBM model files (model.json: dbm train's, dbm import's): loaded as dbm eval loads them.
#include <filesystem>

#include "fuzz_common.hpp"
#include "pbit/core/io.hpp"
#include "pbit/models/dbm.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  pbit::fuzz::init_limits();
  if (pbit::fuzz::seed_dir()) {  // a small model, with and without its checksum key
    pbit::DbmConfig cfg = pbit::parse_dbm_config(nlohmann::json::parse(R"({"graph": {"topology": "pegasus:3", "label_replicas": 1}})"));
    const std::string p = pbit::fuzz::input_path(".seed.json");
    pbit::SparseDbm::create(cfg, 4, 4).save(p);
    pbit::fuzz::write_seed("model.json", pbit::fuzz::slurp(p));
    nlohmann::json j = pbit::read_json_file(p);
    j.erase("crc32");
    pbit::fuzz::write_seed("model_no_crc.json", j.dump());
    std::filesystem::remove(p);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = pbit::fuzz::write_input(data, size, ".json");
  return pbit::fuzz::accept_errors([&] { (void)pbit::SparseDbm::load(path); });
}
