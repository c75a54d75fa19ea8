// Checkpoints: DBM (checkpoint.bin, model_checkpoint.bin), DTM (the same two), feature networks, and
// EqProp's, the p-DNN classifier's and the p-DNN generator's checkpoint and model file,
// each loaded into a small model as --resume and --lease load them. The first byte picks the kind
// and whether the rest is a whole file (the container: format tag, length, checksum) or a payload
// that the target seals with a valid checksum, to reach the checks behind it.
#include <filesystem>
#include <memory>

#include "fuzz_common.hpp"
#include "pbit/core/io.hpp"
#include "pbit/models/dbm.hpp"
#include "pbit/models/dtm_model.hpp"
#include "pbit/models/eqprop.hpp"
#include "pbit/models/feature_net.hpp"
#include "pbit/models/pdnn.hpp"

namespace {

using namespace pbit;

ImageDataset tiny_images() {
  ImageDataset d;
  d.name = "fuzz";
  d.rows = d.cols = 4;
  for (int k = 0; k < 20; ++k) {
    d.labels.push_back(static_cast<uint8_t>(k % 10));
    for (int p = 0; p < 16; ++p) d.pixels.push_back(static_cast<uint8_t>(((k * 7 + p * 13) % 5) * 60));
  }
  return d;
}

struct Models {
  ImageDataset images = tiny_images();
  DbmConfig dbm_cfg;
  std::unique_ptr<SparseDbm> dbm;
  std::unique_ptr<DbmTrainer> trainer;
  DtmConfig dtm_cfg;
  std::unique_ptr<Dtm> dtm;
  EqPropConfig eq_cfg;
  EqPropNet eq_net;
  std::vector<int64_t> eq_index;
  std::unique_ptr<EqPropTrainer> eq_trainer;
  PdnnConfig pd_cfg;
  PdnnNet pd_net;
  std::unique_ptr<PdnnTrainer> pd_trainer;
  PdnnConfig vae_cfg;
  PdnnVae vae;
  std::unique_ptr<PdnnVaeTrainer> vae_trainer;

  Models() {
    const std::string out = fuzz::input_path(".out");
    dbm_cfg = parse_dbm_config(nlohmann::json::parse(R"({"graph": {"topology": "pegasus:3", "label_replicas": 1},
      "run": {"backend": "reference", "output_dir": ")" + out + R"("},
      "train": {"epochs": 2, "batch_size": 10, "positive": {"chains": 1, "samples": 1}, "negative": {"chains": 4, "samples": 1},
                "eval_images_per_epoch": 0}})"));
    dbm = std::make_unique<SparseDbm>(SparseDbm::create(dbm_cfg, 4, 4));
    trainer = std::make_unique<DbmTrainer>(*dbm, dbm_cfg, images);
    dtm_cfg = parse_dtm_config(nlohmann::json::parse(R"({"model": {"topology": "grid:8:G8", "steps": 2},
      "train": {"epochs": 2, "batch_size": 10, "positive": {"warmup": 1, "samples": 1, "steps_per_sample": 1},
                "negative": {"warmup": 1, "samples": 1, "steps_per_sample": 1}, "acp": {"enabled": true, "chains": 4}},
      "run": {"backend": "reference", "output_dir": ")" + out + R"("}})"));
    dtm = std::make_unique<Dtm>(dtm_cfg, 4, 4);
    eq_cfg = parse_eqprop_config(nlohmann::json::parse(R"({"network": {"hidden": 4, "per_class": 1}, "train": {"batch_size": 2},
      "run": {"backend": "reference", "output_dir": ")" + out + R"("}})"));
    eq_net = EqPropNet::create(16, 4, 10, 1, 0.5f, 0.25f, 1);
    for (int64_t k = 0; k < images.size(); ++k) eq_index.push_back(k);
    eq_trainer = std::make_unique<EqPropTrainer>(eq_net, eq_cfg, images, eq_index, images, eq_index);
    pd_cfg = parse_pdnn_config(nlohmann::json::parse(R"({"network": {"hidden": [5, 3]}, "train": {"batch_size": 4},
      "run": {"backend": "cpu", "output_dir": ")" + out + R"("}})"));
    pd_net = PdnnNet::create({16, 5, 3, 10}, 1);  // (the trainer below records its train_mode: the seed holds that record)
    pd_trainer = std::make_unique<PdnnTrainer>(pd_net, pd_cfg, images, eq_index, images, eq_index);
    vae_cfg = parse_pdnn_config(nlohmann::json::parse(R"({"network": {"hidden": [5]}, "generator": {"latent": 3, "encoder_hidden": [4]},
      "train": {"batch_size": 4}, "run": {"backend": "cpu", "output_dir": ")" + out + R"("}})"));
    vae = PdnnVae::create(16, vae_cfg);
    vae_trainer = std::make_unique<PdnnVaeTrainer>(vae, vae_cfg, images, eq_index, images, eq_index);
  }
};

Models& models() {
  static Models m;
  return m;
}

/// The seeds: every kind of file from these models, whole (mode 2k) and as payload (mode 2k + 1).
void write_seeds() {
  Models& m = models();
  const std::string p = fuzz::input_path(".seed");
  auto both = [&](int kind, const std::string& name) {
    const std::string file = fuzz::slurp(p);
    fuzz::write_seed(name + "_file", std::string(1, static_cast<char>(2 * kind)) + file);
    fuzz::write_seed(name + "_payload", std::string(1, static_cast<char>(2 * kind + 1)) + file.substr(20));
  };
  m.trainer->save_checkpoint(p);
  both(0, "dbm_checkpoint");
  m.trainer->save_model_checkpoint(p, nlohmann::json::array({{{"lease", 1}}}));
  both(1, "dbm_model_checkpoint");
  m.dtm->save_checkpoint(p);
  both(2, "dtm_checkpoint");
  m.dtm->save_model_checkpoint(p, nlohmann::json::array());
  both(3, "dtm_model_checkpoint");
  FeatureNet(16, 8, 1).save(p);
  both(4, "feature_net");
  m.eq_trainer->save_checkpoint(p);
  both(5, "eqprop_checkpoint");
  m.eq_net.save(p);
  both(6, "eqprop_model");
  m.pd_trainer->save_checkpoint(p);
  both(7, "pdnn_checkpoint");
  m.pd_net.save(p);
  both(8, "pdnn_model");
  m.vae_trainer->save_checkpoint(p);
  both(9, "pdnn_generator_checkpoint");
  m.vae.save(p);
  both(10, "pdnn_generator");
  std::filesystem::remove(p);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init_limits();
  if (fuzz::seed_dir()) write_seeds();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int kind = (data[0] >> 1) % 11;
  const bool sealed = data[0] & 1;
  static const char* const magic[11] = {"PBITCKP5", "PBITDML2", "PBITDTM3", "PBITTML2", "PBITFNT2", "PBITEQC1",
                                        "PBITEQM1", "PBITPDC1", "PBITPDM1", "PBITPDW1", "PBITPDV1"};
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  // The DBM's two kinds also as their era versions (checkpoint 6, model checkpoint 3: the same
  // layout, written once a sampler is past era 0), which its readers pick by the magic.
  static const char* const era_magic[2] = {"PBITCKP6", "PBITDML3"};
  const bool era = kind < 2 && ((data[0] >> 1) / 11) % 2 == 1;
  const std::string bytes = sealed ? fuzz::seal(era ? era_magic[kind] : magic[kind], rest) : std::string(rest);
  const std::string path = fuzz::write_input(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), ".bin");
  Models& m = models();
  return fuzz::accept_errors([&] {
    switch (kind) {
      case 0: m.trainer->load_checkpoint(path); break;
      case 1: m.trainer->load_model_checkpoint(path, 2); break;
      case 2: m.dtm->load_checkpoint(path); break;
      case 3: m.dtm->load_model_checkpoint(path); break;
      case 4: (void)FeatureNet::load(path); break;
      case 5: m.eq_trainer->load_checkpoint(path); break;
      case 6: (void)EqPropNet::load(path); break;
      case 7: m.pd_trainer->load_checkpoint(path); break;
      case 8: (void)PdnnNet::load(path); break;
      case 9: m.vae_trainer->load_checkpoint(path); break;
      default: (void)PdnnVae::load(path); break;
    }
  });
}
