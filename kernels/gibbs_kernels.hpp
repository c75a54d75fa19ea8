// The one kernel interface every backend implements (reference/, cpu/, cuda/).
//
// The host-side Sampler (src/sampler.cpp) owns the schedule logic: it splits a run into stretches of
// sweeps between observation points and calls sweeps() / observe() / snapshot(). A backend is free
// to fuse the sweeps of one stretch (several sweeps per launch, state on chip) as long as it draws the
// uniforms defined in include/pbit/rng.hpp and follows the arithmetic of include/pbit/detail/gibbs_math.hpp.
#pragma once
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <span>
#include <vector>

#include "pbit/core/coloring.hpp"
#include "pbit/core/detail/device_activation.hpp"
#include "pbit/core/detail/lfsr.hpp"
#include "pbit/core/graph.hpp"
#include "pbit/core/sampler.hpp"
#include "pbit/error.hpp"

namespace pbit::detail {

/// Observer configuration for one run.
struct ObserveConfig {
  bool moments = false;
  bool energy = false;
  int64_t num_samples = 0;
  int64_t num_snapshots = 0;
  std::vector<int64_t> group_offsets;  ///< G+1 offsets into group_nodes
  std::vector<int32_t> group_nodes;
  int32_t num_groups() const { return group_offsets.empty() ? 0 : static_cast<int32_t>(group_offsets.size()) - 1; }
};

/// The input stage of imperfect hardware (device_activation.hpp) on the host: per-node gain and
/// offset and the stage's constants. Empty gain: none.
struct HostActivation {
  std::vector<float> gain, offset;
  float in_step = 0.0f, in_levels = 0.0f, lut_range = 0.0f, lut_cells = 0.0f;
  bool active() const { return !gain.empty(); }
  /// The kernels' view, pointing into gain and offset (nullptr when inactive).
  ActivationArgs args() const {
    ActivationArgs a;
    if (!active()) return a;
    a.gain = gain.data();
    a.offset = offset.data();
    a.in_step = in_step, a.in_levels = in_levels, a.lut_range = lut_range, a.lut_cells = lut_cells;
    return a;
  }
};

/// A B x N int8 chain-major state in device memory (Sampler::state_view), kept alive by `owner`.
struct DeviceState {
  const int8_t* data = nullptr;
  int device = -1;
  std::shared_ptr<const void> owner;
};

class GibbsEngine {
 public:
  virtual ~GibbsEngine() = default;

  /// Engines that keep the state on a device fill `out` with a fresh device copy (B x N int8,
  /// chain-major, ready when this returns) and return true; host engines return false.
  virtual bool export_state(DeviceState& /*out*/) const { return false; }

  /// Draws independent uniform spins from stream kInitState for every node, keyed by the sampler's
  /// Gibbs stream and the chains' sweep count `sweep` too (rng::init_counter; clamps are re-imposed by
  /// the caller through set_clamp).
  virtual void randomize_state(uint64_t seed, uint32_t stream, uint32_t sweep) = 0;
  virtual void set_state(std::span<const int8_t> chain_major) = 0;  ///< B x N
  virtual void get_state(std::span<int8_t> chain_major) const = 0;  ///< B x N
  /// Chains first, first + stride, ... (count of them) into `out` (count x N), copying only those to the
  /// host; false where the backend has no such path (the caller then takes them from get_state).
  virtual bool get_rows(std::span<int8_t> /*out*/, int32_t /*first*/, int32_t /*stride*/, int32_t /*count*/) const { return false; }
  /// Clamp mask and values (B x K); writes the values into the state. Empty `nodes` clears the clamp.
  virtual void set_clamp(std::span<const int32_t> nodes, std::span<const int8_t> values) = 0;
  /// Writes the stored clamp values into the state again (after randomize_state / set_state).
  virtual void apply_clamp() = 0;
  /// Per-chain field on `nodes` (B x M); empty nodes = no field.
  virtual void set_field(std::span<const int32_t> nodes, std::span<const float> values) = 0;
  /// Replace couplings and biases (same structure as at construction).
  virtual void set_weights(const Graph& graph) = 0;
  /// Per-chain inverse-temperature factors: chain b's update uses fmul(2 beta, scale[b]) where the
  /// ideal one uses 2 beta (B values; empty = none, the plain update bit for bit).
  virtual void set_chain_beta_scale(std::span<const float> scale) = 0;
  /// The device's input stage (quantized input, tanh table) after each node's sum; engines without it
  /// (the cpu engine's vectorised loop) refuse, and Sampler runs the reference loop instead.
  virtual void set_activation(const HostActivation&) {
    throw InvalidArgument(describe() + " has no input stage for imperfect hardware (input_bits, lut_bits)");
  }
  virtual bool has_activation() const { return false; }
  /// Per-p-bit LFSR uniforms (detail/lfsr.hpp): `steps` shifts per sweep, seeds under `key` and the
  /// sampler's `stream` (steps 0: Philox). Engines without it (the vectorised and bit-packed loops)
  /// refuse, and Sampler runs the reference loop or the simple CUDA kernel instead.
  virtual void set_lfsr(uint32_t steps, rng::Key, uint32_t) {
    if (steps) throw InvalidArgument(describe() + " has no per-p-bit LFSR (hardware.rng lfsr)");
  }

  /// Energy of every chain, E = -(sum J s s + sum h s) - sum f s (edges in edge order, then biases,
  /// then the field's nodes in their order, in double), computed where the state lives. Returns
  /// false where the engine has no such path (Sampler computes them on the host, the same sums).
  virtual bool chain_energies(std::span<double>) { return false; }
  /// Chain c takes chain src[c]'s state (a permutation of the B chains; fields, clamps and beta
  /// factors stay with the chain slots). Default: through the host.
  virtual void permute_chains(std::span<const int32_t> src, int32_t n) {
    std::vector<int8_t> a(src.size() * static_cast<size_t>(n)), b(a.size());
    get_state(a);
    for (size_t c = 0; c < src.size(); ++c) {
      std::copy_n(a.begin() + static_cast<ptrdiff_t>(static_cast<size_t>(src[c]) * n), n, b.begin() + static_cast<ptrdiff_t>(c * n));
    }
    set_state(b);
  }

  /// Runs betas.size() sweeps; sweep k uses absolute sweep index first_sweep + k in the RNG counter.
  virtual void sweeps(uint64_t first_sweep, std::span<const float> betas) = 0;

  /// Starts a run's observation: allocates and zeroes the accumulators.
  virtual void begin_observation(const ObserveConfig& cfg) = 0;
  /// Accumulates moments / readout and records energy for sample `sample_index`.
  virtual void observe(int64_t sample_index) = 0;
  /// Stores the current state in snapshot slot `slot`.
  virtual void snapshot(int64_t slot) = 0;
  /// Copies the accumulators to `out` (integer sums, energy, snapshots; means are filled by Sampler).
  virtual void end_observation(Observations& out) = 0;
  /// What runs the sweeps (Sampler::kernel_description).
  virtual std::string describe() const = 0;
};

std::unique_ptr<GibbsEngine> make_reference_engine(const Graph& g, const Coloring& c, int32_t chains,
                                                   const SamplerOptions& opt);
/// The reference engine with the fast GPU kernel's bit-packed loop (packed_sweep.hpp) as its sweeps.
std::unique_ptr<GibbsEngine> make_packed_engine(const Graph& g, const Coloring& c, int32_t chains,
                                                const SamplerOptions& opt);
/// The cpu engine of the instruction-set path opt.cpu_isa asks for (kernels/cpu/dispatch.cpp).
std::unique_ptr<GibbsEngine> make_cpu_engine(const Graph& g, const Coloring& c, int32_t chains,
                                             const SamplerOptions& opt);
/// The path make_cpu_engine takes for `requested` here (InvalidArgument if it cannot run here).
CpuIsa resolve_cpu_isa(CpuIsa requested);
bool cpu_isa_runs_here(CpuIsa isa);
/// Throws NotCompiled in builds without nvcc, CudaError when no device is usable.
std::unique_ptr<GibbsEngine> make_cuda_engine(const Graph& g, const Coloring& c, int32_t chains,
                                              const SamplerOptions& opt);

/// Number of visible CUDA devices (0 without a driver/device, or in builds without CUDA).
int cuda_device_count();
/// The local rank the launcher (mpirun, srun) gave this process, from its environment
/// (OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID, PMI_LOCAL_RANK, then SLURM_LOCALID); -1 when there is none. No MPI call: the core sits below the dist layer.
int launcher_local_rank();
/// The device a cuda engine uses: `requested` (SamplerOptions::device) when >= 0 (InvalidArgument if
/// not one of the `visible` devices), and for -1 the local rank modulo the visible devices (0 outside
/// mpirun/srun), so that the ranks of one node spread over its GPUs.
int resolve_cuda_device(int requested, int visible);
/// Why no CUDA device can be used ("" when one can): the CUDA runtime's error, the driver's and the
/// runtime's versions, put in words (describe_cuda_unavailable).
std::string cuda_unavailable_reason();
/// The message for a failed device query, from cudaGetDeviceCount's error (its name and text, or ""
/// when it succeeded with no device), cudaDriverGetVersion (0 = no driver loaded) and
/// cudaRuntimeGetVersion (1000 * major + 10 * minor). Host code, so that it is tested without a GPU.
std::string describe_cuda_unavailable(const std::string& error_name, const std::string& error_text, int driver_version,
                                      int runtime_version);
/// CUDA streams that engines hold right now (0 in builds without CUDA): a leak shows as a count that
/// stays up after the engines are gone.
int cuda_live_streams();
/// Whether the CUDA backend of this build is pbit's host emulator of CUDA (the cuda-emu preset,
/// docs/TESTING.md): same code, about 0.03 flips/ns.
bool cuda_emulated();
/// Name of CUDA device `ordinal`, or "" if none.
std::string cuda_device_name(int ordinal);
/// PCI bus id of CUDA device `ordinal` ("0000:3b:00.0", as cudaDeviceGetPCIBusId gives it), or "" if
/// none. NVML numbers GPUs in PCI order and ignores CUDA_VISIBLE_DEVICES; this names the same GPU to it.
std::string cuda_pci_bus_id(int ordinal);
/// Bytes in use on the current CUDA device (all processes), or -1 without a device.
int64_t cuda_used_bytes();
/// Copies `bytes` from device memory to the host (tests of exported device arrays); NotCompiled
/// without CUDA.
void cuda_download(const void* device_ptr, void* host, size_t bytes);

}  // namespace pbit::detail
