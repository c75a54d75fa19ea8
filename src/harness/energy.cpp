#include "pbit/harness/energy.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "util/data_dir.hpp"
#include "util/json_util.hpp"
#include "pbit/error.hpp"
#include "pbit/core/io.hpp"

namespace pbit::energy {

// ---------------------------------------------------------------- platform file

namespace {

/// One parameter, {"value", "unit", "source"}: the unit must be the one the model computes in (a
/// value in fJ or MHz would otherwise be read as J or Hz, off by 10^15 or 10^6, without a word).
double param(const nlohmann::json& j, const std::string& where, const char* key, double lo, double hi, const std::string& unit,
             bool integer = false) {
  const std::string k = where + "." + key;
  if (!j.contains(key)) detail::config_error(k, "missing (each parameter is {\"value\", \"unit\", \"source\"})");
  const auto& p = j[key];
  detail::only_keys(p, k, {"value", "unit", "source", "note"});
  if (!p.contains("value") || !p.contains("source")) detail::config_error(k, "needs a 'value' and the 'source' it comes from");
  if (!p.contains("unit") || !p["unit"].is_string() || p["unit"].get<std::string>() != unit) {
    detail::config_error(k + ".unit", "must be \"" + unit + "\" (the unit pbit computes in; convert the value), got " +
                                          (p.contains("unit") ? p["unit"].dump() : std::string("none")));
  }
  const double v = detail::get_double(p["value"], k + ".value");
  if (v < lo || v > hi) detail::config_error(k + ".value", "must be in [" + detail::format_number(lo) + ", " + detail::format_number(hi) + "]");
  if (integer && v != std::floor(v)) detail::config_error(k + ".value", "must be a whole number, got " + p["value"].dump());
  // (an empty source passed, though a parameter's source is what this file requires: helper-114)
  if (detail::get_string(p["source"], k + ".source").find_first_not_of(" \t") == std::string::npos) {
    detail::config_error(k + ".source", "must say where the value comes from");
  }
  if (p.contains("note")) detail::get_string(p["note"], k + ".note");  // free text (results.json keeps the file)
  return v;
}

}  // namespace

Platforms parse_platforms(const nlohmann::json& j) {
  Platforms p;
  p.source = j;
  detail::only_config_sections(j, detail::ConfigKind::platforms);
  for (const char* k : {"fpga", "rng_chip", "pdnn"}) {
    if (!j.contains(k)) detail::config_error(k, "missing");
  }
  const auto& f = j["fpga"];
  detail::only_keys(f, "fpga", {"flips_per_s_low", "flips_per_s_high", "pbits", "board_power_w"});
  p.fpga.flips_per_s_low = param(f, "fpga", "flips_per_s_low", 1, 1e15, "flips/s");
  p.fpga.flips_per_s_high = param(f, "fpga", "flips_per_s_high", 1, 1e15, "flips/s");
  p.fpga.pbits = static_cast<int32_t>(param(f, "fpga", "pbits", 1, 1e9, "p-bits", true));
  p.fpga.board_power_w = param(f, "fpga", "board_power_w", 0, 1e5, "W");
  // The modeled platforms' whole energy rests on these two: 0 wrote "0 J/flip" as if measured.
  if (p.fpga.board_power_w <= 0) detail::config_error("fpga.board_power_w.value", "must be > 0 (the FPGA's energy per flip is board power / flip rate)");
  if (p.fpga.flips_per_s_high < p.fpga.flips_per_s_low) detail::config_error("fpga.flips_per_s_high", "is below flips_per_s_low");
  const auto& c = j["rng_chip"];
  detail::only_keys(c, "rng_chip", {"e_cell_j", "rng_j_per_bit", "cell_rate_hz", "k_mix_dtm"});
  // (bounds a physical cell update stays far inside, 2 fJ published, 7 fJ projected: 0.9 J passed, helper-123)
  p.chip.e_cell_j = param(c, "rng_chip", "e_cell_j", 0, 1e-9, "J per cell update");
  if (p.chip.e_cell_j <= 0) detail::config_error("rng_chip.e_cell_j.value", "must be > 0 (the chip's energy per flip and per sample)");
  p.chip.rng_j_per_bit = param(c, "rng_chip", "rng_j_per_bit", 0, 1e-9, "J per random bit");
  p.chip.cell_rate_hz = param(c, "rng_chip", "cell_rate_hz", 1, 1e12, "updates/s per cell");
  // The random bits are part of a cell update's energy (energy.hpp): a bit that costs more than the
  // update holding it is a wrong unit or a typo (1e-3 J per bit passed).
  if (p.chip.rng_j_per_bit > p.chip.e_cell_j) {
    detail::config_error("rng_chip.rng_j_per_bit.value", "is more than e_cell_j (" + detail::format_number(p.chip.e_cell_j) +
                                                             " J), the cell update it is part of");
  }
  param(c, "rng_chip", "k_mix_dtm", 1, 1e9, "sweeps per DTM step", true);
  const auto& d = j["pdnn"];
  detail::only_keys(d, "pdnn", {"b_w", "eps_w_sram_j", "eps_w_dram_j", "eps_a_j", "eps_add_j", "eps_mul_j", "eps_n_pbit_j", "eps_n_det_j"});
  p.pdnn.b_w = param(d, "pdnn", "b_w", 1, 64, "bits per weight", true);
  // (at most 1 uJ an operation: Horowitz's costliest, a DRAM read, is 1.3-2.6 nJ per 64 bits)
  p.pdnn.eps_w_sram_j = param(d, "pdnn", "eps_w_sram_j", 0, 1e-6, "J per weight bit read");
  p.pdnn.eps_w_dram_j = param(d, "pdnn", "eps_w_dram_j", 0, 1e-6, "J per weight bit read");
  p.pdnn.eps_a_j = param(d, "pdnn", "eps_a_j", 0, 1e-6, "J per activation bit");
  p.pdnn.eps_add_j = param(d, "pdnn", "eps_add_j", 0, 1e-6, "J per accumulate");
  p.pdnn.eps_mul_j = param(d, "pdnn", "eps_mul_j", 0, 1e-6, "J per multiply");
  p.pdnn.eps_n_pbit_j = param(d, "pdnn", "eps_n_pbit_j", 0, 1e-6, "J per p-bit output");
  p.pdnn.eps_n_det_j = param(d, "pdnn", "eps_n_det_j", 0, 1e-6, "J per deterministic activation");
  // As the FPGA's and the chip's: all zero wrote "0 J per operation" as if modeled (helper-114).
  if (!(p.pdnn.joules_per_operation(784, 10, 1, false, true) > 0)) {
    detail::config_error("pdnn", "models 0 J per operation of a p-bit neuron: give its eps_* energies (> 0 for what it does)");
  }
  return p;
}

std::string find_platforms_file(const std::string& path) {
  if (path != kDefaultPlatforms) return path;
  std::vector<std::string> candidates = {path};
  // An installed library's own copy first (under whatever prefix it was installed), then the source
  // tree's, then the configured prefix's.
  if (const std::string own = detail::installed_data_dir(); !own.empty()) candidates.push_back(own + "/platforms.json");
#ifdef PBIT_SOURCE_TREE
  candidates.push_back(std::string(PBIT_SOURCE_TREE) + "/" + kDefaultPlatforms);
#endif
#ifdef PBIT_INSTALL_DATADIR
  if (const std::string c = std::string(PBIT_INSTALL_DATADIR) + "/pbit/platforms.json";
      std::find(candidates.begin(), candidates.end(), c) == candidates.end()) {
    candidates.push_back(c);
  }
#endif
  std::error_code ec;
  for (const std::string& c : candidates)
    if (std::filesystem::is_regular_file(c, ec)) return c;
  std::string where;
  for (const std::string& c : candidates) where += (where.empty() ? "" : ", ") + c;
  throw IoError("cannot find the platform file (looked at " + where + "); pass one with --platforms or the suite's 'platforms'");
}

Platforms load_platforms(const std::string& given) {
  const std::string path = find_platforms_file(given);
  nlohmann::json j;
  try {
    j = read_json_file(path);  // (its errors name the file, not what the file is for)
  } catch (const IoError& e) {
    throw IoError("the platforms file: " + e.reason(), e.path(), e.error_number());
  }
  try {
    return parse_platforms(j);
  } catch (const InvalidConfig& e) {
    throw InvalidConfig(path + ": " + e.reason());
  }
}

// ---------------------------------------------------------------- NVML through dlopen

struct GpuEnergyMeter::Impl {
  using Ret = int;  // nvmlReturn_t; 0 = NVML_SUCCESS
  using Device = void*;
  void* lib = nullptr;
  Device dev = nullptr;
  Ret (*init)() = nullptr;
  Ret (*shutdown)() = nullptr;
  Ret (*handle)(const char*, Device*) = nullptr;
  Ret (*energy)(Device, unsigned long long*) = nullptr;
  Ret (*power)(Device, unsigned*) = nullptr;
  Ret (*get_name)(Device, char*, unsigned) = nullptr;
};

std::unique_ptr<GpuEnergyMeter> GpuEnergyMeter::open(const std::string& pci_bus_id, std::string* why_not) {
  auto fail = [&](const std::string& w) {
    if (why_not) *why_not = w;
    return std::unique_ptr<GpuEnergyMeter>();
  };
  if (pci_bus_id.empty()) return fail("no CUDA device to watch");
  void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) return fail("libnvidia-ml.so.1 not loadable (no NVIDIA driver): " + std::string(dlerror()));
  std::unique_ptr<GpuEnergyMeter> m(new GpuEnergyMeter());
  m->impl_ = std::make_unique<Impl>();
  Impl& i = *m->impl_;
  i.lib = lib;
  auto sym = [&](const char* a, const char* b = nullptr) {
    void* p = dlsym(lib, a);
    return p || !b ? p : dlsym(lib, b);
  };
  i.init = reinterpret_cast<Impl::Ret (*)()>(sym("nvmlInit_v2", "nvmlInit"));
  i.shutdown = reinterpret_cast<Impl::Ret (*)()>(sym("nvmlShutdown"));
  i.handle = reinterpret_cast<Impl::Ret (*)(const char*, Impl::Device*)>(sym("nvmlDeviceGetHandleByPciBusId_v2", "nvmlDeviceGetHandleByPciBusId"));
  i.energy = reinterpret_cast<Impl::Ret (*)(Impl::Device, unsigned long long*)>(sym("nvmlDeviceGetTotalEnergyConsumption"));
  i.power = reinterpret_cast<Impl::Ret (*)(Impl::Device, unsigned*)>(sym("nvmlDeviceGetPowerUsage"));
  i.get_name = reinterpret_cast<Impl::Ret (*)(Impl::Device, char*, unsigned)>(sym("nvmlDeviceGetName"));
  if (!i.init || !i.shutdown || !i.handle) {
    dlclose(lib);
    m->impl_->lib = nullptr;
    return fail("libnvidia-ml.so.1 lacks nvmlInit/nvmlDeviceGetHandleByPciBusId");
  }
  if (i.init() != 0) {
    dlclose(lib);
    m->impl_->lib = nullptr;
    return fail("nvmlInit failed (no GPU or driver not loaded)");
  }
  if (i.handle(pci_bus_id.c_str(), &i.dev) != 0) {
    i.shutdown();
    dlclose(lib);
    m->impl_->lib = nullptr;
    return fail("NVML has no device at PCI bus id " + pci_bus_id);
  }
  return m;
}

GpuEnergyMeter::~GpuEnergyMeter() {
  if (impl_ && impl_->lib) {
    impl_->shutdown();
    dlclose(impl_->lib);
  }
}

std::string GpuEnergyMeter::name() const {
  char buf[96] = {};
  if (impl_->get_name && impl_->get_name(impl_->dev, buf, sizeof buf) == 0) return buf;
  return "unknown GPU";
}

bool GpuEnergyMeter::total_energy_mj(uint64_t& mj) const {
  unsigned long long v = 0;
  if (!impl_->energy || impl_->energy(impl_->dev, &v) != 0) return false;
  mj = v;
  return true;
}

bool GpuEnergyMeter::power_mw(uint32_t& mw) const {
  unsigned v = 0;
  if (!impl_->power || impl_->power(impl_->dev, &v) != 0) return false;
  mw = v;
  return true;
}

// ---------------------------------------------------------------- RAPL

std::unique_ptr<CpuEnergyMeter> CpuEnergyMeter::open(std::string* why_not, const std::string& root_dir) {
  namespace fs = std::filesystem;
  const fs::path root = root_dir;
  std::error_code ec;
  if (!fs::exists(root, ec)) {
    if (why_not) *why_not = "no " + root_dir + " (RAPL not exposed, e.g. inside a VM)";
    return nullptr;
  }
  std::unique_ptr<CpuEnergyMeter> m(new CpuEnergyMeter());
  for (const auto& d : fs::directory_iterator(root, ec)) {
    const std::string name = d.path().filename().string();
    // Package domains only: intel-rapl:N (not intel-rapl:N:M subdomains, which they include), named
    // package-K (not psys, the whole platform's on Intel client CPUs, which holds the packages: it
    // was added as another package, counting them twice).
    if (name.rfind("intel-rapl:", 0) != 0 || name.find(':', 11) != std::string::npos) continue;
    std::ifstream zone(d.path() / "name");
    std::string zone_name;
    if (zone >> zone_name && zone_name.rfind("package-", 0) != 0) continue;
    std::ifstream f(d.path() / "energy_uj");
    double v = 0;
    if (!(f >> v)) continue;
    m->files_.push_back((d.path() / "energy_uj").string());
    std::ifstream r(d.path() / "max_energy_range_uj");
    double range = 0;
    m->range_j_.push_back(r >> range && range > 0 ? range * 1e-6 : 0.0);
  }
  if (m->files_.empty()) {
    if (why_not) *why_not = "RAPL package counters not readable (permissions, or not an Intel/AMD RAPL CPU)";
    return nullptr;
  }
  return m;
}

CpuEnergyMeter::Reading CpuEnergyMeter::read() const {
  Reading r;
  for (const auto& f : files_) {
    std::ifstream in(f);
    double v = 0;
    // A counter that cannot be read now is no reading (NaN), not 0: a 0 read as a wrap, which added
    // a whole range (262130 J) to the row.
    r.push_back(in >> v && std::isfinite(v) && v >= 0 ? v * 1e-6 : std::numeric_limits<double>::quiet_NaN());
  }
  return r;
}

double CpuEnergyMeter::joules_between(const Reading& start, const Reading& end) const {
  if (start.size() != files_.size() || end.size() != files_.size()) {
    throw InvalidArgument("CpuEnergyMeter::joules_between: readings of " + std::to_string(start.size()) + " and " +
                          std::to_string(end.size()) + " packages, the meter reads " + std::to_string(files_.size()));
  }
  double j = 0;
  for (size_t k = 0; k < files_.size(); ++k) {
    if (std::isnan(start[k]) || std::isnan(end[k])) return -1;
    double d = end[k] - start[k];
    if (d < 0) d = range_j_[k] > 0 ? d + range_j_[k] : 0.0;
    j += d;
  }
  return j;
}

}  // namespace pbit::energy
