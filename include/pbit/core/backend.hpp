// Which implementation of the Gibbs kernels runs a Sampler.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "pbit/core/rng.hpp"

namespace pbit {

enum class Backend {
  reference,  ///< serial, obviously correct: the oracle every other backend is compared with
  cpu,        ///< OpenMP threads over chain blocks, SIMD over chains
  cuda,       ///< NVIDIA GPU; states, fields and statistics stay on the device
  packed,     ///< the fast GPU kernel's bit-packed loop (32 chains per word) run on the host, to test it
              ///< without a GPU; slow, not for production runs
};

/// The CUDA backend's sweep kernels (SamplerOptions::cuda_kernel).
enum class CudaKernel {
  automatic,  ///< chosen per sampler by occupancy (docs/FAST_KERNEL.md)
  simple,     ///< int8 states in global memory, one launch per color
  fast,       ///< bit-packed 32-chain words in shared memory, a stretch of sweeps per launch (at most 2^32 updates or one sweep)
};
std::string to_string(CudaKernel k);
/// "auto" | "simple" | "fast"; throws InvalidArgument naming `what` otherwise.
CudaKernel cuda_kernel_from_string(const std::string& name, const std::string& what = "cuda kernel");

/// The cpu backend's instruction-set paths (SamplerOptions::cpu_isa). Every path gives the same
/// chains bit for bit; they differ in speed only.
enum class CpuIsa {
  automatic,  ///< the widest this CPU runs (or the environment variable PBIT_CPU_ISA)
  avx512,     ///< x86-64-v4: 16 chains per vector
  avx2,       ///< x86-64-v3 (AVX2 + FMA): 8 chains per vector
  generic,    ///< any CPU: SSE2 on x86-64 (4 chains per vector), portable C++ elsewhere
};
std::string to_string(CpuIsa isa);
/// "auto" | "avx512" | "avx2" | "generic"; throws InvalidArgument naming `what` otherwise.
CpuIsa cpu_isa_from_string(const std::string& name, const std::string& what = "cpu isa");
/// True if this build contains the path (avx512 and avx2 on x86-64 builds).
bool cpu_isa_compiled(CpuIsa isa);
/// The paths that are compiled and run on this CPU, widest first.
std::vector<CpuIsa> available_cpu_isas();

std::string to_string(RngContract c);
/// "exact" | "fast" (rng.hpp); throws InvalidArgument naming `what` otherwise.
RngContract rng_contract_from_string(const std::string& name, const std::string& what = "contract");

/// Every backend, in the order listings use.
std::vector<Backend> all_backends();

std::string to_string(Backend b);
/// "reference" | "cpu" | "cuda" | "packed" | "best"; throws InvalidArgument otherwise. "best" = best_available_backend().
Backend backend_from_string(const std::string& name);
/// True if this build contains the backend (cuda needs nvcc at build time).
bool backend_compiled(Backend b);
/// True if the backend is compiled and can run here (cuda also needs a visible device).
bool backend_available(Backend b);
/// Why the backend is not available here ("" when it is): not compiled into this build, or for cuda
/// what the CUDA runtime says (no driver, a driver too old for this build's CUDA, no visible device).
std::string backend_unavailable_reason(Backend b);
/// cuda if available, else cpu.
Backend best_available_backend();
/// All backends that are available here, reference first.
std::vector<Backend> available_backends();
/// Bytes of device memory in use on the backend's device (cuda: all processes on the GPU that
/// backend_device_name names), or -1 for host backends and when no GPU is visible. Differences before and after creating a Sampler
/// give its footprint (pbit_bench_gibbs reports it per chain).
int64_t backend_device_bytes_in_use(Backend b);
/// Human-readable name of the device a backend runs on (GPU name, or CPU model and thread count). For
/// cuda, the GPU a Sampler with the default SamplerOptions::device takes in this process (under MPI
/// the rank's: the launcher's local rank modulo the visible devices). The thread count is what a run
/// with SamplerOptions::num_threads = `num_threads` (0: OpenMP's default) is allowed, capped as the
/// host backends cap it (the reference backend runs one); a kernel may use fewer, e.g. one per block
/// of 16 chains (Sampler::kernel_description() says what ran, with the most threads a region may use;
/// a region of little work uses fewer, down to one).
std::string backend_device_name(Backend b, int num_threads = 0);
/// PCI bus id ("0000:3b:00.0") of the GPU that backend_device_name names, for cuda when available;
/// "" for host backends. An energy meter opens the GPU by it (NVML numbers GPUs otherwise).
std::string backend_device_pci_bus_id(Backend b);

}  // namespace pbit
