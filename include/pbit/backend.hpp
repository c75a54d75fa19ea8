// Which implementation of the Gibbs kernels runs a Sampler.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace pbit {

enum class Backend {
  reference,  ///< serial, obviously correct: the oracle every other backend is compared with
  cpu,        ///< OpenMP threads over chain blocks, SIMD over chains
  cuda,       ///< NVIDIA GPU; states, fields and statistics stay on the device
  packed,     ///< the fast GPU kernel's bit-packed loop (32 chains per word) run on the host, to test it
              ///< without a GPU; slow, not for production runs
};

/// Every backend, in the order listings use.
std::vector<Backend> all_backends();

std::string to_string(Backend b);
/// "reference" | "cpu" | "cuda" | "packed" | "best"; throws InvalidArgument otherwise. "best" = best_available_backend().
Backend backend_from_string(const std::string& name);
/// True if this build contains the backend (cuda needs nvcc at build time).
bool backend_compiled(Backend b);
/// True if the backend is compiled and can run here (cuda also needs a visible device).
bool backend_available(Backend b);
/// cuda if available, else cpu.
Backend best_available_backend();
/// All backends that are available here, reference first.
std::vector<Backend> available_backends();
/// Bytes of device memory in use on the backend's device (cuda: all processes on the current GPU), or
/// -1 for host backends and when no GPU is visible. Differences before and after creating a Sampler
/// give its footprint (pbit_bench_gibbs reports it per chain).
int64_t backend_device_bytes_in_use(Backend b);
/// Human-readable name of the device a backend runs on (GPU name, or CPU model and thread count).
std::string backend_device_name(Backend b);

}  // namespace pbit
