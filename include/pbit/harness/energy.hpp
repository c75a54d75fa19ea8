// Energy: measured (GPU through NVML, CPU through RAPL) and modeled (p-bit hardware from the papers).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pbit::energy {

// ---------------------------------------------------------------- modeled platforms

/// FPGA sparse Ising machine (Niazi et al. 2024): one chain on up to `pbits` p-bits.
struct FpgaModel {
  double flips_per_s_low = 50e9, flips_per_s_high = 64e9;
  int32_t pbits = 4264;
  double board_power_w = 0;  ///< a parameter: the paper does not report it
  /// Energy per flip at a flip rate.
  double joules_per_flip(double flips_per_s) const { return board_power_w / flips_per_s; }
};

/// All-transistor probabilistic chip (Jelincic et al. 2025): E = T * K_mix * L^2 * E_cell per sample.
struct RngChipModel {
  double e_cell_j = 2e-15;        ///< energy of one cell update (RNG + bias + clock + neighbour communication)
  double rng_j_per_bit = 350e-18; ///< the RNG alone (part of e_cell_j)
  double cell_rate_hz = 10e6;     ///< cell updates per second (RNG autocorrelation time about 100 ns)
  /// Energy of one sample of a T-step model with K_mix sweeps per step on an L x L grid.
  double joules_per_sample(int64_t T, double k_mix, int64_t L) const {
    return static_cast<double>(T) * k_mix * static_cast<double>(L) * static_cast<double>(L) * e_cell_j;
  }
  /// Seconds per sample when every cell of the grid updates in parallel at cell_rate_hz.
  double seconds_per_sample(int64_t T, double k_mix) const { return static_cast<double>(T) * k_mix / cell_rate_hz; }
};

/// Memory-dominated energy of a p-bit DNN (Ghantasala et al. 2025): one neuron reading n inputs, T
/// samples,
///   eps_EO = n b_w eps_wM + T ((n + 1) b_a eps_aM + eps_S + eps_N)
/// with the weights read once for all T samples. pbit's reading of the terms (configs/platforms.json
/// gives every constant with its source): eps_wM per weight bit from SRAM or DRAM; eps_aM per
/// activation bit (SRAM); eps_S = n eps_add when the inputs are single bits (a p-bit's +-1 input
/// turns a multiply-accumulate into an accumulate, the paper's MAC -> AC), n (eps_add + eps_mul) for
/// multi-bit inputs; eps_N one neuron output: eps_n_pbit (random number and compare) or eps_n_det
/// (a deterministic activation). As the paper does, every layer pays its input reads and sums per
/// sample, the first layer's too, although its inputs (the pixels) are the same in every sample and
/// pbit's own forward pass sums them once: hardware that did so would pay less for extra samples
/// (784-256-256-10, SRAM weights, T = 100: 9.7 uJ against this model's 126 uJ). The model follows
/// the paper so that its figures compare (a second sample with DRAM weights: +0.7%, as published).
struct PdnnModel {
  double b_w = 32;                          ///< bits per stored weight
  double eps_w_sram_j = 0, eps_w_dram_j = 0;  ///< per weight bit read
  double eps_a_j = 0;                       ///< per activation bit read or written
  double eps_add_j = 0, eps_mul_j = 0;      ///< one accumulate / one multiply
  double eps_n_pbit_j = 0, eps_n_det_j = 0; ///< one neuron output
  /// eps_EO for a neuron of n inputs of b_a bits each, T samples, weights in DRAM or SRAM, p-bit or
  /// deterministic output.
  double joules_per_operation(int64_t n, int64_t T, double b_a, bool dram, bool pbit_output) const {
    const double nd = static_cast<double>(n);
    const double eps_s = nd * (eps_add_j + (b_a > 1 ? eps_mul_j : 0.0));
    return nd * b_w * (dram ? eps_w_dram_j : eps_w_sram_j) +
           static_cast<double>(T) * ((nd + 1) * b_a * eps_a_j + eps_s + (pbit_output ? eps_n_pbit_j : eps_n_det_j));
  }
  /// One inference of a multilayer perceptron (sizes = inputs, hidden..., classes): the sum over
  /// layers of its neurons' eps_EO, with input_bits for the first layer's inputs (pixels),
  /// hidden_bits for the hidden activations (1 for p-bits, k for k-bit units, 32 for fp32), p-bit or
  /// deterministic hidden outputs, and deterministic (linear) output neurons.
  double joules_per_inference(const std::vector<int32_t>& sizes, int64_t T, double input_bits, double hidden_bits, bool pbit_hidden,
                              bool dram) const {
    double e = 0;
    for (size_t l = 0; l + 1 < sizes.size(); ++l) {
      const bool last = l + 2 == sizes.size();
      e += static_cast<double>(sizes[l + 1]) *
           joules_per_operation(sizes[l], T, l == 0 ? input_bits : hidden_bits, dram, pbit_hidden && !last);
    }
    return e;
  }
};

struct Platforms {
  FpgaModel fpga;
  RngChipModel chip;
  PdnnModel pdnn;
  nlohmann::json source;  ///< the parameter file, with its citations
};

/// The default platform file, relative to the working folder.
inline constexpr const char* kDefaultPlatforms = "configs/platforms.json";
/// `path`, or for the default one the first that exists of: the working folder's, the installed
/// copy of the library in use (PREFIX/share/pbit/platforms.json, under whatever prefix it was
/// installed), the source tree's, the configured prefix's; IoError naming them all when none does.
std::string find_platforms_file(const std::string& path);
/// Reads a platform file (configs/platforms.json, found as find_platforms_file says): every parameter
/// is {"value", "unit", "source"}. Missing or malformed parameters are InvalidConfig errors naming the key.
Platforms load_platforms(const std::string& path);
Platforms parse_platforms(const nlohmann::json& j);

// ---------------------------------------------------------------- measured

/// NVML, loaded at run time with dlopen (no NVML headers or link dependency).
class GpuEnergyMeter {
 public:
  /// The GPU at `pci_bus_id` (backend_device_pci_bus_id(Backend::cuda): the one the CUDA backend runs
  /// on; NVML's own numbering is PCI order, not CUDA's, and ignores CUDA_VISIBLE_DEVICES). Null (and
  /// `why_not` set) when the id is empty, or libnvidia-ml.so.1 or the device is unavailable.
  static std::unique_ptr<GpuEnergyMeter> open(const std::string& pci_bus_id, std::string* why_not);
  /// NVML's device index: not CUDA's numbering (use the PCI bus id), and 0 would read as a null string.
  static std::unique_ptr<GpuEnergyMeter> open(int, std::string*) = delete;
  ~GpuEnergyMeter();
  std::string name() const;
  /// Millijoules since the driver loaded (nvmlDeviceGetTotalEnergyConsumption); false if unsupported.
  bool total_energy_mj(uint64_t& mj) const;
  /// Current board power in milliwatts (nvmlDeviceGetPowerUsage); false if unsupported.
  bool power_mw(uint32_t& mw) const;

 private:
  GpuEnergyMeter() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// CPU package energy from Linux powercap (RAPL); null with `why_not` when not readable.
class CpuEnergyMeter {
 public:
  /// Reads the package domains (intel-rapl:N/energy_uj, microjoules, whose `name` is package-K: not
  /// psys, which holds them) under `root`; the default is the kernel's powercap folder (tests pass a
  /// folder of fake counters).
  static std::unique_ptr<CpuEnergyMeter> open(std::string* why_not, const std::string& root = "/sys/class/powercap");
  /// One reading of every package's counter, in joules since that counter's arbitrary origin; NaN
  /// for a counter that could not be read.
  using Reading = std::vector<double>;
  Reading read() const;
  /// Joules used between two readings, summed over packages. Each package's counter wraps at its own
  /// max_energy_range_uj and is unwrapped on its own (once at most: the kernel's ranges span hours at
  /// full power); a package whose range is unknown and whose counter went down adds nothing. -1 when
  /// either reading misses a counter (NaN): no measurement.
  double joules_between(const Reading& start, const Reading& end) const;
  /// The number of package domains read.
  size_t packages() const { return files_.size(); }

 private:
  std::vector<std::string> files_;
  std::vector<double> range_j_;  // per package; 0 = unknown
};

}  // namespace pbit::energy
