// The comparison harness: energy models against hand-computed values, config errors, the NVML loader,
// the RAPL reader on a fake powercap folder, a row's energy fields, and tiny CPU-only suites that
// must produce every output.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <tuple>

#include "pbit/harness/compare.hpp"
#include "pbit/harness/energy.hpp"
#include "pbit/error.hpp"
#include "pbit/core/io.hpp"
#include "pbit/core/sampler.hpp"
#include "pbit/hardware/topology.hpp"
#include "pbit/models/dbm.hpp"
#include "test_util.hpp"

namespace pbit::test {
namespace {

std::string platforms_path() { return std::string(PBIT_SOURCE_DIR) + "/configs/platforms.json"; }

TEST(EnergyModels, MatchHandComputedValues) {
  const energy::Platforms p = energy::load_platforms(platforms_path());
  // RNG chip, DTM on 70x70 with T = 8 and K_mix = 250: 8 * 250 * 4900 * 2 fJ = 19.6 nJ (the paper: "about 20 nJ").
  EXPECT_DOUBLE_EQ(p.chip.joules_per_sample(8, 250, 70), 8.0 * 250 * 4900 * 2e-15);
  EXPECT_NEAR(p.chip.joules_per_sample(8, 250, 70), 19.6e-9, 1e-15);
  EXPECT_DOUBLE_EQ(p.chip.seconds_per_sample(8, 250), 2e-4);  // 2000 updates at 10 MHz
  // FPGA: 25 W at 50e9 flips/s = 0.5 nJ per flip.
  EXPECT_DOUBLE_EQ(p.fpga.joules_per_flip(50e9), 5e-10);
  // p-DNN neuron, n = 784 binary inputs, T = 10, SRAM weights:
  //   784*32*1.5625e-13 + 10 * (785*1*1.5625e-13 + 784*9e-13 + 1e-13) = 3.92e-9 + 10 * 8.2836e-10 = 1.22036e-8 J.
  EXPECT_NEAR(p.pdnn.joules_per_operation(784, 10, 1, false, true), 3.92e-9 + 10 * (785 * 1.5625e-13 + 784 * 9e-13 + 1e-13), 1e-20);
  energy::PdnnModel m;
  m.b_w = 2;
  m.eps_w_sram_j = 5;
  m.eps_w_dram_j = 50;
  m.eps_a_j = 7;
  m.eps_add_j = 11;
  m.eps_mul_j = 17;
  m.eps_n_pbit_j = 13;
  m.eps_n_det_j = 19;
  // n = 4, T = 3: single-bit inputs accumulate (no multiply); multi-bit inputs multiply too.
  EXPECT_DOUBLE_EQ(m.joules_per_operation(4, 3, 1, false, true), 4 * 2 * 5 + 3 * (5 * 1 * 7 + 4 * 11 + 13));
  EXPECT_DOUBLE_EQ(m.joules_per_operation(4, 3, 3, true, false), 4 * 2 * 50 + 3 * (5 * 3 * 7 + 4 * (11 + 17) + 19));
  // A 4-3-2 network: 3 p-bit neurons of 4 inputs (8-bit pixels), 2 linear outputs of 3 single-bit inputs.
  EXPECT_DOUBLE_EQ(m.joules_per_inference({4, 3, 2}, 3, 8, 1, true, false),
                   3 * m.joules_per_operation(4, 3, 8, false, true) + 2 * m.joules_per_operation(3, 3, 1, false, false));
  // With DRAM weights an extra sample costs a small fraction of an inference (the paper's argument).
  const double one = p.pdnn.joules_per_inference({784, 256, 256, 10}, 1, 8, 1, true, true);
  const double two = p.pdnn.joules_per_inference({784, 256, 256, 10}, 2, 8, 1, true, true);
  EXPECT_LT(two / one, 1.1);
}

TEST(EnergyModels, PlatformFileErrorsNameTheKey) {
  nlohmann::json j = read_json_file(platforms_path());
  j["fpga"]["board_power_w"].erase("source");
  try {
    energy::parse_platforms(j);
    FAIL();
  } catch (const InvalidConfig& e) {
    EXPECT_NE(std::string(e.what()).find("key 'fpga.board_power_w'"), std::string::npos) << e.what();
  }
  j = read_json_file(platforms_path());
  j["rng_chip"]["e_cell_j"]["value"] = -1;
  EXPECT_THROW(energy::parse_platforms(j), InvalidConfig);
  // A modeled platform's whole energy of 0 is refused: it wrote "0 J/flip" as if it were a value
  // (helper-98).
  j["rng_chip"]["e_cell_j"]["value"] = 0;
  EXPECT_NE(error_of([&] { energy::parse_platforms(j); }).find("rng_chip.e_cell_j.value': must be > 0"), std::string::npos);
  j = read_json_file(platforms_path());
  j["fpga"]["board_power_w"]["value"] = 0;
  EXPECT_NE(error_of([&] { energy::parse_platforms(j); }).find("fpga.board_power_w.value': must be > 0"), std::string::npos);
  j = read_json_file(platforms_path());
  std::swap(j["fpga"]["flips_per_s_low"]["value"], j["fpga"]["flips_per_s_high"]["value"]);  // the range upside down
  EXPECT_NE(error_of([&] { energy::parse_platforms(j); }).find("key 'fpga.flips_per_s_high': is below flips_per_s_low"), std::string::npos)
      << error_of([&] { energy::parse_platforms(j); });
  j = read_json_file(platforms_path());
  j.erase("pdnn");
  EXPECT_THROW(energy::parse_platforms(j), InvalidConfig);
  // A file that is not JSON is named once ("F: F: not valid JSON" before).
  const std::string broken = std::string(PBIT_TEST_TMP) + "/broken_platforms.json";
  std::ofstream(broken) << "{bad\n";
  const std::string m = error_of([&] { energy::load_platforms(broken); });
  EXPECT_NE(m.find(broken + ": not valid JSON"), std::string::npos) << m;
  EXPECT_EQ(m.find(broken + ": " + broken), std::string::npos) << m;
  // A value in another unit is refused, not read as J or Hz (off by 10^15 or 10^6), and a p-bit
  // count must be whole.
  for (const auto& [section, key, unit] : std::vector<std::tuple<const char*, const char*, const char*>>{
           {"rng_chip", "e_cell_j", "fJ per cell update"}, {"rng_chip", "cell_rate_hz", "MHz"}}) {
    j = read_json_file(platforms_path());
    j[section][key]["unit"] = unit;
    const std::string m = error_of([&] { energy::parse_platforms(j); });
    EXPECT_NE(m.find(std::string(section) + "." + key + ".unit"), std::string::npos) << m;
  }
  j = read_json_file(platforms_path());
  j["fpga"]["pbits"].erase("unit");
  EXPECT_NE(error_of([&] { energy::parse_platforms(j); }).find("fpga.pbits.unit"), std::string::npos);
  j = read_json_file(platforms_path());
  j["fpga"]["pbits"]["value"] = 4264.9;
  EXPECT_NE(error_of([&] { energy::parse_platforms(j); }).find("must be a whole number"), std::string::npos);
  // Looser values refused as the rules say (helper-114): an empty source, a fractional k_mix_dtm, a
  // random bit dearer than the cell update it is part of, a p-DNN of 0 J.
  j = read_json_file(platforms_path());
  j["fpga"]["pbits"]["source"] = " ";
  EXPECT_NE(error_of([&] { energy::parse_platforms(j); }).find("key 'fpga.pbits.source': must say where the value comes from"), std::string::npos);
  j = read_json_file(platforms_path());
  j["rng_chip"]["k_mix_dtm"]["value"] = 2.5;
  EXPECT_NE(error_of([&] { energy::parse_platforms(j); }).find("key 'rng_chip.k_mix_dtm.value': must be a whole number"), std::string::npos);
  j = read_json_file(platforms_path());
  j["rng_chip"]["rng_j_per_bit"]["value"] = 1e-12;  // (within its own range, 1 nJ; above the cell update's 2 fJ)
  EXPECT_NE(error_of([&] { energy::parse_platforms(j); }).find("key 'rng_chip.rng_j_per_bit.value': is more than e_cell_j"), std::string::npos);
  j = read_json_file(platforms_path());
  for (auto& [k, v] : j["pdnn"].items()) {
    if (k.rfind("eps_", 0) == 0) v["value"] = 0;
  }
  EXPECT_NE(error_of([&] { energy::parse_platforms(j); }).find("key 'pdnn': models 0 J per operation"), std::string::npos);
  // A missing platforms file is named as the platforms file.
  EXPECT_NE(error_of([&] { energy::load_platforms(std::string(PBIT_TEST_TMP) + "/no_platforms.json"); }).find("the platforms file: "),
            std::string::npos);
  // A parameter may carry a note, in words.
  j = read_json_file(platforms_path());
  j["fpga"]["pbits"]["note"] = "counted on the board";
  EXPECT_NO_THROW(energy::parse_platforms(j));
  j["fpga"]["pbits"]["note"] = 3;
  EXPECT_NE(error_of([&] { energy::parse_platforms(j); }).find("fpga.pbits.note"), std::string::npos);
  // Values past their range's top are refused as those below it are: 0.9 J per cell update (it
  // modeled 8.8 MJ per sample, helper-123), 2 uJ per p-DNN accumulate, 2e9 p-bits.
  j = read_json_file(platforms_path());
  j["rng_chip"]["e_cell_j"]["value"] = 0.9;
  EXPECT_NE(error_of([&] { energy::parse_platforms(j); }).find("rng_chip.e_cell_j.value': must be in [0, 1e-09]"), std::string::npos)
      << error_of([&] { energy::parse_platforms(j); });
  j = read_json_file(platforms_path());
  j["pdnn"]["eps_add_j"]["value"] = 2e-6;
  EXPECT_NE(error_of([&] { energy::parse_platforms(j); }).find("pdnn.eps_add_j.value': must be in [0, 1e-06]"), std::string::npos)
      << error_of([&] { energy::parse_platforms(j); });
  j = read_json_file(platforms_path());
  j["fpga"]["pbits"]["value"] = 2e9;
  EXPECT_NE(error_of([&] { energy::parse_platforms(j); }).find("fpga.pbits.value': must be in [1, "), std::string::npos)
      << error_of([&] { energy::parse_platforms(j); });
  // A file loaded with a bad value is named in front of the key (a run may name its own file).
  const std::string bad = std::string(PBIT_TEST_TMP) + "/bad_platforms.json";
  std::ofstream(bad) << j.dump();
  const std::string named = error_of([&] { energy::load_platforms(bad); });
  EXPECT_NE(named.find(bad + ": "), std::string::npos) << named;
  EXPECT_NE(named.find("fpga.pbits.value"), std::string::npos) << named;
}

// The default platform file is found from a working folder without configs/; a path given is used
// as it is, and a missing one is an IoError naming it.
TEST(EnergyModels, TheDefaultPlatformFileIsFoundFromAnyFolder) {
  const std::filesystem::path before = std::filesystem::current_path();
  const std::string bare = std::string(PBIT_TEST_TMP) + "/no_configs_here";
  std::filesystem::create_directories(bare);
  std::filesystem::current_path(bare);
  struct Back {
    std::filesystem::path p;
    ~Back() { std::filesystem::current_path(p); }
  } back{before};
  ASSERT_FALSE(std::filesystem::exists(energy::kDefaultPlatforms));
  const std::string found = energy::find_platforms_file(energy::kDefaultPlatforms);
  EXPECT_TRUE(std::filesystem::equivalent(found, platforms_path())) << found;
  EXPECT_NO_THROW(energy::load_platforms(energy::kDefaultPlatforms));
  EXPECT_EQ(energy::find_platforms_file("elsewhere.json"), "elsewhere.json");
  EXPECT_THROW(energy::load_platforms("elsewhere.json"), IoError);
}

// Every parameter lands in its own field. The shipped file gives some fields equal values (eps_n_pbit_j
// = eps_n_det_j, eps_w_sram_j = eps_a_j), so a field read from a sibling's key passes on it; here
// every value is distinct and each parsed field is checked against the value written for its key.
TEST(EnergyModels, EveryPlatformParameterIsReadFromItsOwnKey) {
  nlohmann::json j = read_json_file(platforms_path());
  const std::vector<std::pair<std::string, std::vector<std::pair<const char*, double>>>> values = {
      {"fpga", {{"flips_per_s_low", 11e9}, {"flips_per_s_high", 12e9}, {"pbits", 13}, {"board_power_w", 14}}},
      {"rng_chip", {{"e_cell_j", 15e-15}, {"rng_j_per_bit", 16e-18}, {"cell_rate_hz", 17e6}, {"k_mix_dtm", 18}}},
      {"pdnn", {{"b_w", 19}, {"eps_w_sram_j", 1e-13}, {"eps_w_dram_j", 2e-13}, {"eps_a_j", 3e-13}, {"eps_add_j", 4e-13},
                {"eps_mul_j", 5e-13}, {"eps_n_pbit_j", 6e-13}, {"eps_n_det_j", 7e-13}}}};
  for (const auto& [section, keys] : values) {
    ASSERT_EQ(j[section].size(), keys.size()) << section << ": a parameter this test does not set";
    for (const auto& [key, v] : keys) j[section][key]["value"] = v;
  }
  const energy::Platforms p = energy::parse_platforms(j);
  auto v = [&](const char* section, const char* key) { return j[section][key]["value"].get<double>(); };
  EXPECT_EQ(p.fpga.flips_per_s_low, v("fpga", "flips_per_s_low"));
  EXPECT_EQ(p.fpga.flips_per_s_high, v("fpga", "flips_per_s_high"));
  EXPECT_EQ(p.fpga.pbits, static_cast<int32_t>(v("fpga", "pbits")));
  EXPECT_EQ(p.fpga.board_power_w, v("fpga", "board_power_w"));
  EXPECT_EQ(p.chip.e_cell_j, v("rng_chip", "e_cell_j"));
  EXPECT_EQ(p.chip.rng_j_per_bit, v("rng_chip", "rng_j_per_bit"));
  EXPECT_EQ(p.chip.cell_rate_hz, v("rng_chip", "cell_rate_hz"));
  EXPECT_EQ(p.source["rng_chip"]["k_mix_dtm"]["value"].get<double>(), v("rng_chip", "k_mix_dtm"));
  EXPECT_EQ(p.pdnn.b_w, v("pdnn", "b_w"));
  EXPECT_EQ(p.pdnn.eps_w_sram_j, v("pdnn", "eps_w_sram_j"));
  EXPECT_EQ(p.pdnn.eps_w_dram_j, v("pdnn", "eps_w_dram_j"));
  EXPECT_EQ(p.pdnn.eps_a_j, v("pdnn", "eps_a_j"));
  EXPECT_EQ(p.pdnn.eps_add_j, v("pdnn", "eps_add_j"));
  EXPECT_EQ(p.pdnn.eps_mul_j, v("pdnn", "eps_mul_j"));
  EXPECT_EQ(p.pdnn.eps_n_pbit_j, v("pdnn", "eps_n_pbit_j"));
  EXPECT_EQ(p.pdnn.eps_n_det_j, v("pdnn", "eps_n_det_j"));
}

// RAPL counters are microjoules: a fake powercap folder whose package domains read 2,500,000 and
// 400,000 uJ reads as 2.5 and 0.4 J. A counter that wrapped (end below start) gains one full range,
// its own domain's max_energy_range_uj (10 J and 4 J here), and only that counter: with two packages
// the sum can go down although only one of them wrapped, or stay up although one did. A subdomain
// (intel-rapl:0:0) is part of its package and is not added again, nor is a psys zone (Intel client
// CPUs: the whole platform, which holds the packages; helper-98). A counter that cannot be read is no
// reading, not a wrap of a whole range.
TEST(CpuEnergyMeter, ReadsMicrojoulesAndUnwrapsEachPackage) {
  const std::filesystem::path root = std::string(PBIT_TEST_TMP) + "/fake_powercap";
  std::filesystem::remove_all(root);
  auto put = [&](const std::string& domain, const char* file, const char* text) {
    std::filesystem::create_directories(root / domain);
    std::ofstream(root / domain / file) << text << "\n";
  };
  put("intel-rapl:0", "energy_uj", "2500000");
  put("intel-rapl:0", "max_energy_range_uj", "10000000");
  put("intel-rapl:0:0", "energy_uj", "700000");
  put("intel-rapl:1", "energy_uj", "400000");
  put("intel-rapl:1", "max_energy_range_uj", "4000000");
  put("intel-rapl:0", "name", "package-0");
  put("intel-rapl:1", "name", "package-1");
  put("intel-rapl:2", "name", "psys");
  put("intel-rapl:2", "energy_uj", "9000000");
  put("intel-rapl:2", "max_energy_range_uj", "262143328850");
  std::string why;
  const auto m = energy::CpuEnergyMeter::open(&why, root.string());
  ASSERT_TRUE(m) << why;
  ASSERT_EQ(m->packages(), 2u);
  energy::CpuEnergyMeter::Reading r = m->read();
  std::sort(r.begin(), r.end());  // directory order is not fixed
  ASSERT_EQ(r.size(), 2u);
  EXPECT_DOUBLE_EQ(r[0], 400000 * 1e-6);
  EXPECT_DOUBLE_EQ(r[1], 2500000 * 1e-6);
  // Which index is which package: the one that reads 2.5 J has the 10 J range.
  const size_t p10 = m->read()[0] > 1 ? 0 : 1, p4 = 1 - p10;
  auto reading = [&](double a10, double a4) {
    energy::CpuEnergyMeter::Reading x(2);
    x[p10] = a10;
    x[p4] = a4;
    return x;
  };
  EXPECT_DOUBLE_EQ(m->joules_between(reading(1.0, 1.0), reading(3.5, 2.0)), 2.5 + 1.0);  // no wrap
  // The 10 J package wraps (9.99 -> 0.01: 0.02 J), the other does not (0 -> 1 J): the sum goes
  // down, yet only 10 J is added back, once.
  EXPECT_NEAR(m->joules_between(reading(9.99, 0.0), reading(0.01, 1.0)), 0.02 + 1.0, 1e-12);
  // The 4 J package wraps (3.5 -> 0.5: 1 J) while the other gains 5 J: the sum goes up, and the
  // wrap still counts.
  EXPECT_NEAR(m->joules_between(reading(1.0, 3.5), reading(6.0, 0.5)), 5.0 + 1.0, 1e-12);
  EXPECT_THROW(m->joules_between(energy::CpuEnergyMeter::Reading{1.0}, reading(1, 1)), InvalidArgument);
  const energy::CpuEnergyMeter::Reading before = m->read();
  std::filesystem::remove(root / "intel-rapl:1" / "energy_uj");  // unreadable from now on
  const energy::CpuEnergyMeter::Reading after = m->read();
  EXPECT_TRUE(std::isnan(after[0]) || std::isnan(after[1]));
  EXPECT_EQ(m->joules_between(before, after), -1);
  EXPECT_EQ(m->joules_between(after, before), -1);
  // A package without max_energy_range_uj: a counter that went down wrapped by an unknown range,
  // which counts nothing rather than a negative energy.
  std::filesystem::remove_all(root);
  put("intel-rapl:0", "name", "package-0");
  put("intel-rapl:0", "energy_uj", "5000000");
  const auto unranged = energy::CpuEnergyMeter::open(&why, root.string());
  ASSERT_TRUE(unranged) << why;
  EXPECT_EQ(unranged->joules_between(energy::CpuEnergyMeter::Reading{5.0}, energy::CpuEnergyMeter::Reading{1.0}), 0.0);
  EXPECT_EQ(unranged->joules_between(energy::CpuEnergyMeter::Reading{1.0}, energy::CpuEnergyMeter::Reading{5.0}), 4.0);
  // No such folder: null, and the reason names it.
  const auto none = energy::CpuEnergyMeter::open(&why, (root / "absent").string());
  EXPECT_FALSE(none);
  EXPECT_NE(why.find((root / "absent").string()), std::string::npos) << why;
}

TEST(CompareSuiteParse, BadValuesGiveClearErrors) {
  auto err = [](const std::string& text) {
    try {
      parse_compare_suite(nlohmann::json::parse(text));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("<no error>");
  };
  const std::string ok_tail = R"(, "backends": ["cpu"], "chains": [1]})";
  EXPECT_NE(err(R"({"workloads": []})" ).find("key 'workloads'"), std::string::npos);
  EXPECT_NE(err(R"({"workloads": [{"name": "a", "graph": "lattice:8"}], "threads": -1)" + ok_tail).find("key 'threads': must be in [0, 4096]"),
            std::string::npos);
  EXPECT_NE(err(R"({"workloads": [{"name": "a", "graph": "pegasus:1"}])" + ok_tail).find("key 'workloads[0].graph'"), std::string::npos);
  EXPECT_NE(err(R"({"workloads": [{"name": "a", "graph": "lattice:8"}], "platforms": "")" + ok_tail).find("key 'platforms': must not be empty"),
            std::string::npos);
  EXPECT_NE(err(R"({"workloads": [{"name": "a", "graph": "lattice:8"}], "quality": [{"label": "x", "results": ""}])" + ok_tail)
                .find("key 'quality[0].results': must not be empty"),
            std::string::npos);  // (it said "no file ''", naming no key: helper-114)
  EXPECT_NE(err(R"({"workloads": [{"name": "a", "graph": "lattice:8"}], "quality": [{"label": "x", "results": "a.json"}, {"label": "x", "results": "a.json"}])" +
                ok_tail)
                .find("key 'quality[1].label': 'x' is quality[0]'s label too"),
            std::string::npos);
  EXPECT_NE(err(R"({"workloads": [{"name": "a", "kind": "fft", "graph": "lattice:8"}])" + ok_tail).find("key 'workloads[0].kind'"),
            std::string::npos);
  EXPECT_NE(err(R"({"workloads": [{"name": "a", "graph": "lattice:8"}], "backends": ["tpu"], "chains": [1]})").find("key 'backends[0]'"),
            std::string::npos);
  EXPECT_NE(err(R"({"workloads": [{"name": "a", "graph": "lattice:8"}], "backends": ["cpu"], "chains": [0]})").find("key 'chains[0]'"),
            std::string::npos);
  // A repeated backend or chain count would measure one row twice; an empty output_dir would write
  // its files at the filesystem's root.
  EXPECT_NE(err(R"({"workloads": [{"name": "a", "graph": "lattice:8"}], "backends": ["cpu", "reference", "cpu"], "chains": [1]})")
                .find("key 'backends[2]': 'cpu' is listed twice"),
            std::string::npos);
  EXPECT_NE(err(R"({"workloads": [{"name": "a", "graph": "lattice:8"}], "backends": ["cpu"], "chains": [4, 8, 4]})")
                .find("key 'chains[2]': 4 is listed twice"),
            std::string::npos);
  EXPECT_NE(err(R"({"workloads": [{"name": "a", "graph": "lattice:8"}], "backends": ["cpu"], "chains": [1], "output_dir": ""})")
                .find("key 'output_dir': must not be empty"),
            std::string::npos);
  EXPECT_NE(err(R"({"workloads": [{"name": "a", "graph": "lattice:8"}], "backends": ["cpu"], "chains": [1], "min_secs": 1})")
                .find("key 'min_secs': unknown key"),
            std::string::npos);
  // Two workloads of one name were merged into one plotted series; a model on a gibbs workload failed
  // only when it ran.
  EXPECT_NE(err(R"({"workloads": [{"name": "g", "graph": "lattice:8"}, {"name": "g", "graph": "lattice:6"}])" + ok_tail)
                .find("key 'workloads[1].name'"),
            std::string::npos);
  EXPECT_NE(err(R"({"workloads": [{"name": "g", "graph": "lattice:8", "model": "m.json"}])" + ok_tail).find("key 'workloads[0].model'"),
            std::string::npos);
  // A key a workload's kind does not read was ignored; a model and a graph both given reported the
  // graph for a row that measured the model's.
  EXPECT_NE(err(R"({"workloads": [{"name": "g", "graph": "lattice:8", "sweeps_per_sample": 10}])" + ok_tail)
                .find("key 'workloads[0].sweeps_per_sample': has no effect on a gibbs workload"),
            std::string::npos);
  EXPECT_NE(err(R"({"workloads": [{"name": "d", "kind": "dbm_inference", "graph": "pegasus:4", "steps": 2}])" + ok_tail)
                .find("key 'workloads[0].steps': has no effect on a dbm_inference workload"),
            std::string::npos);
  EXPECT_NE(err(R"({"workloads": [{"name": "d", "kind": "dbm_inference", "graph": "pegasus:4", "model": "m.json"}])" + ok_tail)
                .find("key 'workloads[0].graph': and 'model' both given"),
            std::string::npos);
  EXPECT_EQ(err(R"({"workloads": [{"name": "d", "kind": "dbm_inference", "model": "m.json", "sweeps_per_sample": 10}])" + ok_tail),
            "<no error>");  // a model alone is enough
  EXPECT_EQ(err(R"({"workloads": [{"name": "t", "kind": "dtm_generation", "graph": "grid:12:G8", "steps": 2, "image_side": 6,
                                   "sweeps_per_sample": 5}])" + ok_tail), "<no error>");
  // A row runs whole samples whatever min_seconds says: 2^32 - 1 sweeps a step ran for hours.
  EXPECT_NE(err(R"({"workloads": [{"name": "t", "kind": "dtm_generation", "graph": "grid:8:G8", "sweeps_per_sample": 4294967295}])" + ok_tail)
                .find("key 'workloads[0].sweeps_per_sample': must be in [1, 1000000]"),
            std::string::npos);
  // For a DTM the limit is on the sample: steps x sweeps_per_sample (1000 steps of 10^6 were taken).
  EXPECT_NE(err(R"({"workloads": [{"name": "t", "kind": "dtm_generation", "graph": "grid:8:G8", "steps": 1000, "sweeps_per_sample": 1001}])" + ok_tail)
                .find("key 'workloads[0].sweeps_per_sample': x steps is a DTM sample's sweeps, 1001 x 1000 here; at most 10^6"),
            std::string::npos);
  EXPECT_EQ(err(R"({"workloads": [{"name": "t", "kind": "dtm_generation", "graph": "grid:12:G8", "steps": 1000, "image_side": 6,
                                   "sweeps_per_sample": 1000}])" + ok_tail), "<no error>");
  // Names and labels become gnuplot titles, data-file labels and table cells: a quote broke the plot.
  EXPECT_NE(err(R"({"workloads": [{"name": "it's", "graph": "lattice:8"}])" + ok_tail).find("key 'workloads[0].name': 'it's' is only spaces or holds"),
            std::string::npos);
  // A name of spaces only is invisible in a table, a bidirectional override (U+202E) reverses the
  // cells after it, and a line break is shown as \x0a in the message, not as a broken line (helper-98).
  EXPECT_NE(err(R"({"workloads": [{"name": "   ", "graph": "lattice:8"}])" + ok_tail).find("key 'workloads[0].name': '   ' is only spaces"),
            std::string::npos);
  EXPECT_NE(err(R"({"workloads": [{"name": "a\u202eb", "graph": "lattice:8"}])" + ok_tail).find("key 'workloads[0].name'"), std::string::npos);
  EXPECT_NE(err(R"({"workloads": [{"name": "a\u2067b", "graph": "lattice:8"}])" + ok_tail).find("key 'workloads[0].name'"), std::string::npos);
  EXPECT_NE(err(R"({"workloads": [{"name": "a\nb", "graph": "lattice:8"}])" + ok_tail).find("'a\\x0ab' is only spaces or holds"), std::string::npos);
  EXPECT_EQ(err(R"({"workloads": [{"name": " a \u00e9\u2014\u4e2d", "graph": "lattice:8"}])" + ok_tail), "<no error>");  // spaces and other text are names
  EXPECT_NE(err(R"({"workloads": [{"name": "a|b", "graph": "lattice:8"}])" + ok_tail).find("key 'workloads[0].name'"), std::string::npos);
  EXPECT_NE(err(R"({"workloads": [{"name": "a", "graph": "lattice:8"}], "backends": ["cpu"], "chains": [1],
                    "quality": [{"label": "x\"y", "results": "r.json"}]})").find("key 'quality[0].label'"),
            std::string::npos);
  for (const char* f : {"compare_suite.json", "compare_cpu_quick.json", "compare_device.json"}) {
    EXPECT_NO_THROW(parse_compare_suite(read_json_file(std::string(PBIT_SOURCE_DIR) + "/configs/" + f))) << f;
  }
}

// The meter opens the GPU the CUDA backend runs on, by its PCI bus id.
TEST(NvmlLoader, SkipsVisiblyWithoutAGpu_cuda) {
  std::string why;
  const auto meter = energy::GpuEnergyMeter::open(backend_device_pci_bus_id(Backend::cuda), &why);
  if (!meter) {
    if (gpu_required()) FAIL() << "PBIT_REQUIRE_GPU=1 but NVML is unavailable: " << why;
    EXPECT_FALSE(why.empty());
    GTEST_SKIP() << "NVML not available: " << why;
  }
  uint64_t mj = 0;
  uint32_t mw = 0;
  EXPECT_TRUE(meter->total_energy_mj(mj) || meter->power_mw(mw)) << "NVML gives neither energy nor power";
  EXPECT_FALSE(meter->name().empty());
}

TEST(CompareRun, TinyCpuSuiteProducesAllOutputs) {
  const std::string out = std::string(PBIT_TEST_TMP) + "/compare_tiny";
  std::filesystem::remove_all(out);
  nlohmann::json j = {{"workloads", {{{"name", "gibbs_p2"}, {"kind", "gibbs"}, {"graph", "pegasus:2"}},
                                     {{"name", "gibbs_g8"}, {"kind", "gibbs"}, {"graph", "grid:10:G8"}},
                                     {{"name", "dbm"}, {"kind", "dbm_inference"}, {"graph", "pegasus:8"}, {"sweeps_per_sample", 10}}}},
                      {"backends", {"cpu", "cuda"}},
                      {"chains", {1, 16}},
                      {"min_seconds", 0.02},
                      {"idle_seconds", 0},
                      {"threads", 1},
                      {"platforms", platforms_path()},
                      {"output_dir", out}};
  const CompareSuite suite = parse_compare_suite(j);
  EXPECT_EQ(suite.threads, 1);
  const nlohmann::json res = run_compare(suite, false);
  int measured = 0;
  for (const auto& r : res["results"]) {
    if (r.contains("skipped")) {
      EXPECT_EQ(r["backend"], "cuda");  // only without a GPU
      continue;
    }
    ++measured;
    EXPECT_EQ(r["threads"], 1);  // the suite's, on every row
    EXPECT_GT(r["flips_per_ns"].get<double>(), 0.0);
    EXPECT_GT(r["samples_per_s"].get<double>(), 0.0);
    EXPECT_TRUE(r.contains("energy_source"));
    // The rates share one wall time, so their ratios are exact: a Gibbs sweep flips every node of
    // every chain, and a sample is a chain's sweep; a DBM inference sweep flips the free nodes (all
    // but the 784 clamped pixels), and a sample is a chain's 10 sweeps (one classified image).
    const double chains = r["chains"].get<double>(), n = r["num_nodes"].get<double>(), sweeps = r["sweeps_per_s_per_chain"].get<double>();
    const bool dbm = r["kind"] == "dbm_inference";
    EXPECT_NEAR(r["flips_per_ns"].get<double>() * 1e9, (dbm ? n - 784 : n) * chains * sweeps, 1e-9 * n * chains * sweeps) << r.dump();
    EXPECT_NEAR(r["samples_per_s"].get<double>(), chains * sweeps / (dbm ? 10 : 1), 1e-9 * chains * sweeps) << r.dump();
  }
  EXPECT_GE(measured, 6);  // 3 workloads x 2 chain counts on the cpu
  EXPECT_DOUBLE_EQ(res["modeled"]["rng_chip"]["dtm_energy_j_per_sample"].get<double>(), 1.96e-8);
  // The modeled FPGA (configs/platforms.json: 50-64 flips/ns on 4264 p-bits, a 25 W board): the low
  // energy per flip is at the high rate; the RNG chip updates 70 x 70 cells at 10 MHz each.
  const nlohmann::json& fpga = res["modeled"]["fpga"];
  EXPECT_DOUBLE_EQ(fpga["energy_j_per_flip_low"].get<double>(), 25.0 / 64e9);
  EXPECT_DOUBLE_EQ(fpga["energy_j_per_flip_high"].get<double>(), 25.0 / 50e9);
  EXPECT_DOUBLE_EQ(fpga["sweeps_per_s"].get<double>(), 64e9 / 4264);
  EXPECT_DOUBLE_EQ(fpga["sweeps_per_s_low"].get<double>(), 50e9 / 4264);
  EXPECT_DOUBLE_EQ(fpga["sweeps_per_s_high"].get<double>(), 64e9 / 4264);
  EXPECT_EQ(fpga["board_power_source"].get<std::string>().rfind("assumption: ", 0), 0u) << fpga.dump();  // the paper reports none
  EXPECT_DOUBLE_EQ(res["modeled"]["rng_chip"]["flips_per_ns_70x70"].get<double>(), 4900 * 10e6 / 1e9);
  for (const char* k : {"hostname", "os", "cpu", "logical_cpus", "gpu"}) EXPECT_TRUE(res["machine"].contains(k)) << k;
  for (const char* k : {"git_sha", "build_type", "compiler"}) EXPECT_TRUE(res["build"].contains(k)) << k;
  EXPECT_TRUE(res.contains("timestamp_utc"));
  // An earlier run's energy-vs-quality files, which this suite (no quality runs) does not replace, are
  // removed rather than left to be read as this run's.
  std::filesystem::create_directories(out);
  for (const char* f : {"/energy_vs_quality.dat", "/energy_vs_quality.gp", "/energy_vs_quality.png"}) std::ofstream(out + f) << "old\n";
  const std::vector<std::string> files = write_compare_outputs(res, out);
  for (const char* f : {"/results.json", "/results.md", "/flips_vs_chains.dat", "/flips_vs_chains.gp", "/flips_vs_chains.png"}) {
    EXPECT_TRUE(std::filesystem::exists(out + f)) << f << " (gnuplot is installed by scripts/install_deps.sh)";
  }
  for (const char* f : {"/energy_vs_quality.dat", "/energy_vs_quality.gp", "/energy_vs_quality.png"}) {
    EXPECT_FALSE(std::filesystem::exists(out + f)) << f;
  }
  EXPECT_EQ(read_json_file(out + "/results.json")["results"].size(), res["results"].size());
}

// A dbm_inference row of a model file names the model (its "graph" was an empty string).
TEST(CompareRun, AModelRowNamesItsModel) {
  const std::string out = std::string(PBIT_TEST_TMP) + "/compare_model_row";
  std::filesystem::remove_all(out);
  std::filesystem::create_directories(out);
  DbmConfig c;
  c.topology = "pegasus:8";
  SparseDbm::create(c, 28, 28).save(out + "/model.json");
  nlohmann::json j = {{"workloads", {{{"name", "m"}, {"kind", "dbm_inference"}, {"model", out + "/model.json"}, {"sweeps_per_sample", 4}}}},
                      {"backends", {"cpu"}},
                      {"chains", {2}},
                      {"min_seconds", 0.01},
                      {"idle_seconds", 0},
                      {"platforms", platforms_path()},
                      {"output_dir", out}};
  const nlohmann::json res = run_compare(parse_compare_suite(j), false);
  ASSERT_EQ(res["results"].size(), 1u);
  EXPECT_EQ(res["results"][0]["model"], out + "/model.json");
  // The threads that ran, OpenMP's default (the suite's 0), as the device names them.
  const int ran = res["results"][0]["threads"].get<int>();
  EXPECT_GE(ran, 1);
  EXPECT_EQ(res["results"][0]["device"], backend_device_name(Backend::cpu, 0));
  EXPECT_NE(res["results"][0]["device"].get<std::string>().find("(" + std::to_string(ran) + (ran == 1 ? " thread)" : " threads)")),
            std::string::npos);
}

TEST(CompareRun, EnergyVsQualityFromDtmResults) {
  const std::string out = std::string(PBIT_TEST_TMP) + "/compare_quality";
  std::filesystem::remove_all(out);
  const std::string res = std::string(PBIT_SOURCE_DIR) + "/bench/results/";
  nlohmann::json j = {{"workloads", {{{"name", "dtm_gen"}, {"kind", "dtm_generation"}, {"graph", "grid:12:G8"}, {"steps", 2},
                                      {"sweeps_per_sample", 3}, {"image_side", 6}}}},
                      {"backends", {"cpu"}},
                      {"chains", {8}},
                      {"min_seconds", 0.02},
                      {"idle_seconds", 0},
                      {"platforms", platforms_path()},
                      {"quality", {{{"label", "DTM"}, {"results", res + "dtm_fashion_cpu-2core_2026-11-21/results.json"}},
                                   {{"label", "MEBM"}, {"results", res + "mebm_fashion_cpu-2core_2026-11-21/results.json"}}}},
                      {"output_dir", out}};
  const nlohmann::json r = run_compare(parse_compare_suite(j), false);
  ASSERT_EQ(r["results"].size(), 1u);
  EXPECT_GT(r["results"][0]["samples_per_s"].get<double>(), 0.0);
  {  // a sample is T = 2 steps of 3 sweeps of a chain, each sweep flipping every node
    const nlohmann::json& row = r["results"][0];
    const double sweeps = row["sweeps_per_s_per_chain"].get<double>(), n = row["num_nodes"].get<double>();
    EXPECT_NEAR(row["flips_per_ns"].get<double>() * 1e9, n * 8 * sweeps, 1e-9 * n * 8 * sweeps);
    EXPECT_NEAR(row["samples_per_s"].get<double>(), 8 * sweeps / 6, 1e-9 * sweeps);
  }
  ASSERT_EQ(r["quality"].size(), 2u);
  // DTM on the chip: T * K_mix * N * E_cell with the paper's K_mix = 250 (784-node grid, T = 4).
  EXPECT_DOUBLE_EQ(r["quality"][0]["chip_energy_j_per_sample"].get<double>(), 4.0 * 250 * 784 * 2e-15);
  // MEBM on the chip: its own measured mixing time.
  const nlohmann::json mebm = read_json_file(res + "mebm_fashion_cpu-2core_2026-11-21/results.json");
  const double mt = mebm["final_autocorrelation"][0]["mixing_time_sweeps"].get<double>();
  EXPECT_EQ(r["quality"][1]["chip_k_mix_source"], "measured mixing time");
  EXPECT_DOUBLE_EQ(r["quality"][1]["chip_energy_j_per_sample"].get<double>(), 1.0 * std::max(1.0, mt) * 784 * 2e-15);
  // Both at one rule too: every step at its own measured mixing time (the DTM's 250 a step against
  // the MEBM's measured one made the MEBM the cheaper, helper-123), where the run measured them all.
  for (const auto& [k, file] : {std::pair{0, "dtm_fashion_cpu-2core_2026-11-21"}, std::pair{1, "mebm_fashion_cpu-2core_2026-11-21"}}) {
    const nlohmann::json run = read_json_file(res + file + "/results.json");
    double sweeps = 0;
    size_t measured_steps = 0;
    for (const auto& st : run["final_autocorrelation"]) {
      if (!st["mixing_time_sweeps"].is_number()) continue;
      sweeps += std::max(1.0, st["mixing_time_sweeps"].get<double>());
      ++measured_steps;
    }
    const nlohmann::json& q = r["quality"][static_cast<size_t>(k)];
    if (measured_steps == run["steps"].get<size_t>()) {
      EXPECT_DOUBLE_EQ(q["chip_energy_j_per_sample_at_measured_mixing"].get<double>(), sweeps * 784 * 2e-15) << file;
      EXPECT_EQ(q["chip_mixing_time_sweeps_per_step"].size(), measured_steps) << file;
    } else {
      EXPECT_TRUE(q["chip_energy_j_per_sample_at_measured_mixing"].is_null()) << file;
    }
  }
  EXPECT_TRUE(r["quality"][1]["chip_energy_j_per_sample_at_measured_mixing"].is_number());  // (the MEBM's one step)
  // No energy meter here: why the points have no measured ones.
  EXPECT_TRUE(r["quality"][0].contains("measured_note")) << r["quality"][0].dump();
  auto text = [&](const char* f) {
    std::ifstream in(out + f);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  // Measured devices (index 2) or none: the plot draws what there is, and the data hold no NaN
  // placeholder (helper-88).
  nlohmann::json unmeasured = r, measured_once = r;
  for (auto& q : unmeasured["quality"]) q["measured"] = nlohmann::json::array();
  measured_once["quality"][0]["measured"] = {{{"workload", "dtm_gen"}, {"backend", "cpu"}, {"chains", 8}, {"energy_j_per_sample", 1e-6}}};
  for (auto& row : unmeasured["results"]) {  // (no meter here: no reading, whatever this machine has)
    for (const char* k : {"energy_j", "idle_power_w_subtracted", "energy_j_per_flip", "energy_j_per_sample", "energy_j_total", "energy_j_per_flip_total"}) row.erase(k);
  }
  measured_once["results"][0]["energy_j_per_flip"] = 1e-9;  // and a row with a reading: the energy-per-flip plot
  measured_once["results"][0]["energy_j_per_flip_total"] = 2e-9;
  for (const nlohmann::json* x : {&measured_once, &unmeasured}) {
    const bool measured = x == &measured_once;
    write_compare_outputs(*x, out);
    for (const char* f : {"/energy_vs_quality.dat", "/energy_vs_quality.gp", "/energy_vs_quality.png"}) {
      EXPECT_TRUE(std::filesystem::exists(out + f)) << f << " " << measured;
    }
    EXPECT_EQ(text("/energy_vs_quality.dat").find("nan"), std::string::npos) << text("/energy_vs_quality.dat");
    // (a series a workload and backend, each point named by its chain count: several counts of one
    // backend sat under one label, helper-114, and two workloads' under the same, helper-123)
    EXPECT_EQ(text("/energy_vs_quality.gp").find("'measured: dtm_gen on cpu (points: chains)'") != std::string::npos, measured)
        << text("/energy_vs_quality.gp");
    EXPECT_EQ(text("/energy_vs_quality.dat").find("# dtm_gen on cpu\n1e-06 ") != std::string::npos, measured) << text("/energy_vs_quality.dat");
    EXPECT_EQ(text("/results.md").find("dtm_gen on cpu (8 chains) 1") != std::string::npos, measured) << text("/results.md");
    EXPECT_EQ(std::filesystem::exists(out + "/energy_per_flip.gp"), measured);  // (the unmeasured call, second, removes the first one's)
    if (measured) {
      EXPECT_NE(text("/energy_per_flip.dat").find("# dtm_gen / cpu\n8 1e-09 2e-09\n"), std::string::npos) << text("/energy_per_flip.dat");
      EXPECT_NE(text("/energy_per_flip.gp").find("'dtm_gen / cpu, idle included'"), std::string::npos) << text("/energy_per_flip.gp");
    }
  }
  // A quality entry that is not a DTM result is a clear error, before anything is measured (it ended
  // a finished suite without writing anything).
  j["quality"] = {{{"label", "bad"}, {"results", platforms_path()}}};
  j["min_seconds"] = 3600;  // would take an hour if it measured first
  EXPECT_THROW(run_compare(parse_compare_suite(j), false), InvalidConfig);
  j["quality"] = {{{"label", "missing"}, {"results", out + "/no_such_results.json"}}};
  EXPECT_THROW(run_compare(parse_compare_suite(j), false), IoError);
  // The modeled chip follows the platforms file's k_mix_dtm (it was fixed at 250 beside the file's value).
  nlohmann::json plat = read_json_file(platforms_path());
  plat["rng_chip"]["k_mix_dtm"]["value"] = 100;
  write_json_file(out + "/platforms_k100.json", plat);
  j.erase("quality");
  j["min_seconds"] = 0.02;
  j["platforms"] = out + "/platforms_k100.json";
  const nlohmann::json k100 = run_compare(parse_compare_suite(j), false);
  EXPECT_DOUBLE_EQ(k100["modeled"]["rng_chip"]["dtm_energy_j_per_sample"].get<double>(), 8.0 * 100 * 4900 * 2e-15);
  EXPECT_EQ(k100["modeled"]["rng_chip"]["dtm_parameters"]["k_mix_sweeps_per_step"], 100.0);
  // Every key of the output is snake_case (dtm_parameters.T and .L, pdnn.T were not: helper-114).
  std::vector<std::string> not_snake;
  std::function<void(const nlohmann::json&, const std::string&)> walk = [&](const nlohmann::json& x, const std::string& at) {
    if (x.is_object()) {
      for (const auto& [k, v] : x.items()) {
        if (k.empty() || !std::all_of(k.begin(), k.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; })) {
          not_snake.push_back(at + "." + k);
        }
        walk(v, at + "." + k);
      }
    } else if (x.is_array()) {
      for (const auto& v : x) walk(v, at + "[]");
    }
  };
  walk(k100, "");
  EXPECT_EQ(not_snake, std::vector<std::string>{});
  // A workload whose model cannot be built is refused before the ones before it are measured.
  j["min_seconds"] = 3600;
  j["workloads"].push_back({{"name", "too_big"}, {"kind", "dtm_generation"}, {"graph", "grid:12:G8"}, {"image_side", 40}});
  const std::string e = error_of([&] { run_compare(parse_compare_suite(j), false); });
  EXPECT_NE(e.find("workloads[1] ('too_big')"), std::string::npos) << e;
  EXPECT_EQ(e.find("invalid config", 1), std::string::npos) << "said twice: " << e;
}

// A quality file's values are checked before anything is measured: a wrong type ended a finished
// suite with an internal error, and an MEBM result without final_autocorrelation was read past its end.
TEST(CompareRun, QualityFilesAreCheckedBeforeTheRows) {
  const std::string out = std::string(PBIT_TEST_TMP) + "/compare_quality_types";
  std::filesystem::remove_all(out);
  std::filesystem::create_directories(out);
  const nlohmann::json good = {{"feature_fid", 1.5}, {"steps", 1}, {"sweeps_per_sample", 37}, {"topology", "grid:10:G8"}, {"num_nodes", 100}};
  nlohmann::json j = {{"workloads", {{{"name", "g"}, {"kind", "gibbs"}, {"graph", "pegasus:2"}}}},
                      {"backends", {"cpu"}},
                      {"chains", {1}},
                      {"min_seconds", 3600},  // reached only if a bad file were not refused first
                      {"idle_seconds", 0},
                      {"platforms", platforms_path()},
                      {"quality", {{{"label", "MEBM"}, {"results", out + "/q.json"}}}},
                      {"output_dir", out}};
  const struct {
    const char* key;
    nlohmann::json value;
    const char* expect;
  } edits[] = {
      {"/steps", "4", "'steps' is \"4\", not a whole number in [1, 1000]"},
      {"/steps", 1.5, "'steps' is 1.5, not a whole number"},
      {"/feature_fid", nullptr, "'feature_fid' is null, not a number"},
      {"/num_nodes", -3, "'num_nodes' is -3"},
      {"/topology", 5, "'topology' is not a string"},
      {"/final_autocorrelation", 5, "'final_autocorrelation' is not an array"},
      {"/final_autocorrelation", {{{"mixing_time_sweeps", "x"}}}, "'final_autocorrelation[0].mixing_time_sweeps' is \"x\""},
  };
  for (const auto& ed : edits) {
    nlohmann::json q = good;
    q[nlohmann::json::json_pointer(ed.key)] = ed.value;
    write_json_file(out + "/q.json", q);
    const std::string e = error_of([&] { run_compare(parse_compare_suite(j), false); });
    EXPECT_NE(e.find("quality 'MEBM': " + out + "/q.json: "), std::string::npos) << ed.key << ": " << e;
    EXPECT_NE(e.find(ed.expect), std::string::npos) << ed.key << ": " << e;
  }
  write_json_file(out + "/q.json", nlohmann::json::array({1}));
  EXPECT_NE(error_of([&] { run_compare(parse_compare_suite(j), false); }).find("is not a JSON object"), std::string::npos);
  // A relative path that is not there names the folder it was looked for in (the shipped suites
  // name bench/results/..., from the source tree).
  nlohmann::json rel = j;
  rel["quality"][0]["results"] = "bench/results/no_such_run/results.json";
  const std::string missing = error_of([&] { run_compare(parse_compare_suite(rel), false); });
  EXPECT_NE(missing.find("quality 'MEBM': no file 'bench/results/no_such_run/results.json' in the working folder " +
                         std::filesystem::current_path().string()),
            std::string::npos)
      << missing;
  EXPECT_NE(missing.find("(a 'pbit dtm train' result: train that run first, or run the suite from pbit's source tree"), std::string::npos)
      << missing;
  // Without final_autocorrelation, an MEBM falls back to its sweeps per sample.
  write_json_file(out + "/q.json", good);
  j["min_seconds"] = 0.01;
  const nlohmann::json r = run_compare(parse_compare_suite(j), false);
  EXPECT_EQ(r["quality"][0]["chip_k_mix_sweeps_per_step"], 37.0);
  EXPECT_EQ(r["quality"][0]["chip_k_mix_source"], "sweeps per sample (no finite mixing time measured)");
  // The chip running the run's own sweeps: nodes x sweeps per sample x E_cell, on every replica of a
  // tempered generation (generation_replicas, 1 when the file has none).
  EXPECT_EQ(r["quality"][0]["generation_replicas"], 1);
  EXPECT_DOUBLE_EQ(r["quality"][0]["chip_energy_j_per_sample_at_run_sweeps"].get<double>(), 100.0 * 37 * 2e-15);
  nlohmann::json tempered = good;
  tempered["generation_replicas"] = 3;
  write_json_file(out + "/q.json", tempered);
  const nlohmann::json r3 = run_compare(parse_compare_suite(j), false);
  EXPECT_EQ(r3["quality"][0]["generation_replicas"], 3);
  EXPECT_DOUBLE_EQ(r3["quality"][0]["chip_energy_j_per_sample_at_run_sweeps"].get<double>(), 3 * 100.0 * 37 * 2e-15);
}

// A row that fails (here: more chains than PBIT_MAX_MEMORY allows) is recorded with its error and the
// suite goes on; it used to end the suite with nothing written, the rows before it lost.
TEST(CompareRun, AFailedRowKeepsTheOthers) {
  const std::string out = std::string(PBIT_TEST_TMP) + "/compare_failed_row";
  std::filesystem::remove_all(out);
  const nlohmann::json j = {{"workloads", {{{"name", "g"}, {"kind", "gibbs"}, {"graph", "pegasus:2"}}}},
                            {"backends", {"cpu"}},
                            {"chains", {1, 16777216, 2}},
                            {"min_seconds", 0.01},
                            {"idle_seconds", 0},
                            {"platforms", platforms_path()},
                            {"output_dir", out}};
  setenv("PBIT_MAX_MEMORY", "100M", 1);
  nlohmann::json r;
  const std::string e = error_of([&] { r = run_compare(parse_compare_suite(j), false); });
  unsetenv("PBIT_MAX_MEMORY");
  ASSERT_EQ(e, "<no error>");
  ASSERT_EQ(r["results"].size(), 3u);
  EXPECT_GT(r["results"][0]["flips_per_ns"].get<double>(), 0.0);
  EXPECT_NE(r["results"][1]["error"].get<std::string>().find("out of memory"), std::string::npos) << r["results"][1].dump();
  EXPECT_EQ(r["results"][1]["skipped"].get<std::string>().rfind("failed: ", 0), 0u);
  EXPECT_FALSE(r["results"][1].contains("flips_per_ns"));
  EXPECT_GT(r["results"][2]["flips_per_ns"].get<double>(), 0.0);  // the rows after it are measured too
  write_compare_outputs(r, out);
  std::ifstream md(out + "/results.md");
  const std::string text((std::istreambuf_iterator<char>(md)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("| skipped: failed: out of memory"), std::string::npos) << text;
  // A message with a '|' or a line break stays one cell of one row (it split the table).
  r["results"][1]["skipped"] = "failed: a | b\nc\r";
  write_compare_outputs(r, out);
  std::ifstream md2(out + "/results.md");
  std::string line, header;
  bool found = false;
  while (std::getline(md2, line)) {
    if (line.starts_with("| workload |")) header = line;
    if (line.find("skipped: failed: a") == std::string::npos) continue;
    found = true;
    EXPECT_EQ(std::count(line.begin(), line.end(), '|'), std::count(header.begin(), header.end(), '|')) << line;
    EXPECT_NE(line.find("skipped: failed: a   b c"), std::string::npos) << line;
  }
  EXPECT_TRUE(found);
}

// An MEBM (steps = 1) whose run measured no finite mixing time sits on the modeled chip at its own
// sweeps_per_sample, not the DTM's k_mix_dtm: E = T * K * N * E_cell with T = 1, K = 37 and N = 100
// as written into the result below (k_mix_dtm is 250 in the platform file, so the two differ).
TEST(CompareRun, MebmWithoutAMixingTimeUsesItsSweepsPerSample) {
  const std::string out = std::string(PBIT_TEST_TMP) + "/compare_mebm_fallback";
  std::filesystem::remove_all(out);
  std::filesystem::create_directories(out);
  const nlohmann::json mebm = {{"feature_fid", 1.5},
                               {"steps", 1},
                               {"sweeps_per_sample", 37},
                               {"topology", "grid:10:G8"},
                               {"num_nodes", 100},
                               {"final_autocorrelation", {{{"mixing_time_sweeps", nullptr}}}}};
  write_json_file(out + "/mebm.json", mebm);
  const nlohmann::json j = {{"workloads", {{{"name", "g"}, {"kind", "gibbs"}, {"graph", "pegasus:2"}}}},
                            {"backends", {"cpu"}},
                            {"chains", {1}},
                            {"min_seconds", 0.01},
                            {"idle_seconds", 0},
                            {"platforms", platforms_path()},
                            {"quality", {{{"label", "MEBM"}, {"results", out + "/mebm.json"}}}},
                            {"output_dir", out}};
  const nlohmann::json r = run_compare(parse_compare_suite(j), false);
  const energy::Platforms p = energy::load_platforms(platforms_path());
  ASSERT_NE(p.source["rng_chip"]["k_mix_dtm"]["value"].get<double>(), mebm["sweeps_per_sample"].get<double>());
  ASSERT_EQ(r["quality"].size(), 1u);
  const nlohmann::json& q = r["quality"][0];
  EXPECT_EQ(q["chip_k_mix_source"], "sweeps per sample (no finite mixing time measured)");
  EXPECT_DOUBLE_EQ(q["chip_k_mix_sweeps_per_step"].get<double>(), 37.0);
  EXPECT_DOUBLE_EQ(q["chip_energy_j_per_sample"].get<double>(), 1.0 * 37 * 100 * p.chip.e_cell_j);
}

// A quality point on the measured devices takes only dtm_generation rows of its own graph
// (lattice:10 has grid:10:G8's 100 nodes but other couplings and a different cost per flip), spelled
// any way make_topology reads it (grid:10:G8:torus is grid:10:G8), and charges a tempered generation's every replica; so does the chip
// at the run's sweeps, while the paper's accounting (T K_mix N E_cell) stays one chain.
TEST(CompareQuality, MeasuredPointsComeFromTheSameGraphAndCountEveryReplica) {
  detail::QualityRun run;
  run.feature_fid = 12;
  run.steps = 4;
  run.sweeps_per_sample = 200;  // all T steps
  run.num_nodes = 100;
  run.replicas = 3;
  run.topology = "grid:10:G8";
  auto row = [](const char* graph, const char* kind, double j_per_flip) {
    return nlohmann::json{{"kind", kind}, {"graph", graph}, {"num_nodes", 100}, {"backend", "cpu"}, {"chains", 8},
                          {"energy_j_per_flip", j_per_flip}};
  };
  const nlohmann::json rows = nlohmann::json::array({row("grid:10:G8:torus", "dtm_generation", 2e-9), row("lattice:10", "dtm_generation", 5e-9),
                                                     row("grid:10:G8", "gibbs", 7e-9),
                                                     {{"workload", "w"}, {"backend", "cuda"}, {"skipped", "backend not available here"}}});
  const double e_cell = 2e-15, k_dtm = 250;
  const nlohmann::json q = detail::quality_entry("DTM", run, rows, k_dtm, e_cell);
  ASSERT_EQ(q["measured"].size(), 1u) << q.dump();
  EXPECT_DOUBLE_EQ(q["measured"][0]["energy_j_per_sample"].get<double>(), 2e-9 * 3 * 100 * 200);
  EXPECT_DOUBLE_EQ(q["chip_energy_j_per_sample_at_run_sweeps"].get<double>(), e_cell * 3 * 100 * 200);
  EXPECT_DOUBLE_EQ(q["chip_energy_j_per_sample"].get<double>(), 4 * k_dtm * 100 * e_cell);
  EXPECT_EQ(q["chip_k_mix_source"], "k_mix_dtm");
  EXPECT_EQ(q["generation_replicas"], 3.0);
  EXPECT_FALSE(q.contains("measured_note"));
  // No measured point says why: the graph's rows were skipped (a backend not here), or there are none.
  const nlohmann::json skipped = nlohmann::json::array(
      {{{"workload", "w"}, {"kind", "dtm_generation"}, {"graph", "grid:10:G8"}, {"backend", "cuda"}, {"skipped", "backend not available here"}}});
  EXPECT_NE(detail::quality_entry("DTM", run, skipped, k_dtm, e_cell)["measured_note"].get<std::string>().find("were skipped or failed"),
            std::string::npos);
  EXPECT_NE(detail::quality_entry("DTM", run, nlohmann::json::array(), k_dtm, e_cell)["measured_note"].get<std::string>().find(
                "no dtm_generation workload of the suite runs on this graph"),
            std::string::npos);
  // An MEBM whose autocorrelation fit gave under one sweep is charged one, and says so.
  run.steps = 1;
  run.mixing_time = 0.25;
  const nlohmann::json m = detail::quality_entry("MEBM", run, rows, k_dtm, e_cell);
  EXPECT_EQ(m["chip_k_mix_sweeps_per_step"], 1.0);
  EXPECT_EQ(m["chip_k_mix_source"], "measured mixing time (under 1 sweep: 1)");
}

// "best" is cpu on a machine without a GPU: a suite listing both measures the cpu rows once (it gave
// two identical rows and two points in one plot series).
TEST(CompareRun, BestAndTheBackendItNamesAreMeasuredOnce) {
  const std::string out = std::string(PBIT_TEST_TMP) + "/compare_best_once";
  std::filesystem::remove_all(out);
  const nlohmann::json j = {{"workloads", {{{"name", "g"}, {"kind", "gibbs"}, {"graph", "pegasus:2"}}}},
                            {"backends", {best_available_backend() == Backend::cuda ? "cuda" : "cpu", "best"}},
                            {"chains", {1}},
                            {"min_seconds", 0.01},
                            {"idle_seconds", 0},
                            {"platforms", platforms_path()},
                            {"output_dir", out}};
  const nlohmann::json r = run_compare(parse_compare_suite(j), false);
  ASSERT_EQ(r["results"].size(), 1u) << r["results"].dump();
  EXPECT_EQ(r["results"][0]["backend"], to_string(best_available_backend()));
}

// A speed measurement long enough to pass a sampler's 2^32 - 1 sweeps (its RNG counter's sweep field)
// starts the count again rather than ending the suite; short of the limit the count is left alone.
TEST(CompareRun, ASpeedMeasurementRestartsAFullSweepCount) {
  const Topology t = make_topology("lattice:4");
  Sampler s(t.graph, Coloring(t.graph, t.colors), 1, SamplerOptions{});
  const uint64_t last = std::numeric_limits<uint32_t>::max();
  s.set_sweep_count(last - 4);
  EXPECT_THROW(s.sweep(5), InvalidArgument);  // what the suite met
  detail::restart_sweep_count_if_full(s, 4);
  EXPECT_EQ(s.sweep_count(), last - 4) << "restarted short of the limit";
  s.sweep(4);
  detail::restart_sweep_count_if_full(s, 1);
  EXPECT_EQ(s.sweep_count(), 0u);
  EXPECT_NO_THROW(s.sweep(5));
}

// A measured row's energy: the reading less the idle draw over the wall time is energy_j, and its
// shares per flip and per sample multiply back to it (10 J read, 2 W idle for 3 s: 4 J active over
// 8 flips and 5 samples). A missing reading, or one not above idle, gives no numbers and says why.
TEST(CompareEnergy, PerFlipAndPerSampleShareTheActiveEnergy) {
  nlohmann::json r;
  const double joules = 10, idle_w = 2, wall = 3, flips = 8, samples = 5;
  detail::put_measured_energy(r, joules, idle_w, wall, flips, samples, "rapl");
  EXPECT_EQ(r["energy_source"], "rapl");
  EXPECT_DOUBLE_EQ(r["energy_j"].get<double>(), joules - idle_w * wall);
  EXPECT_DOUBLE_EQ(r["energy_j_per_flip"].get<double>() * flips, r["energy_j"].get<double>());
  EXPECT_DOUBLE_EQ(r["energy_j_per_sample"].get<double>() * samples, r["energy_j"].get<double>());
  // The whole draw beside it, as the FPGA's board power is charged (helper-123).
  EXPECT_DOUBLE_EQ(r["energy_j_total"].get<double>(), joules);
  EXPECT_DOUBLE_EQ(r["energy_j_per_flip_total"].get<double>() * flips, joules);
  nlohmann::json none;
  detail::put_measured_energy(none, -1, idle_w, wall, flips, samples, "rapl");
  EXPECT_EQ(none["energy_source"].get<std::string>().rfind("unavailable: rapl gave no reading for this row (", 0), 0u) << none.dump();
  EXPECT_FALSE(none.contains("energy_j"));
  nlohmann::json idle;
  detail::put_measured_energy(idle, idle_w * wall, idle_w, wall, flips, samples, "rapl");
  EXPECT_EQ(idle["energy_source"], "unavailable: rapl read no more than the idle draw (raise min_seconds)");
  EXPECT_FALSE(idle.contains("energy_j_per_flip"));
  EXPECT_DOUBLE_EQ(r["idle_power_w_subtracted"].get<double>(), idle_w);
  // A window shorter than the meter resolves gives no numbers either (NVML's counter moves every
  // 20-100 ms: a row of 0.3 s would read a quantised, inflated energy).
  nlohmann::json brief;
  detail::put_measured_energy(brief, joules, idle_w, 0.3, flips, samples, "nvml", 1.0);
  EXPECT_EQ(brief["energy_source"], "unavailable: the row's 0.3 s are too short for nvml (it needs 1 s or more: raise min_seconds)");
  EXPECT_FALSE(brief.contains("energy_j"));
}

}  // namespace
}  // namespace pbit::test
