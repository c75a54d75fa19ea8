// Which implementation of the Gibbs kernels runs a Sampler.
#pragma once
#include <string>
#include <vector>

namespace pbit {

enum class Backend {
  reference,  ///< serial, obviously correct: the oracle every other backend is compared with
  cpu,        ///< OpenMP threads over chain blocks, SIMD over chains
  cuda,       ///< NVIDIA GPU; states, fields and statistics stay on the device
};

std::string to_string(Backend b);
/// "reference" | "cpu" | "cuda" | "best"; throws InvalidArgument otherwise. "best" = best_available_backend().
Backend backend_from_string(const std::string& name);
/// True if this build contains the backend (cuda needs nvcc at build time).
bool backend_compiled(Backend b);
/// True if the backend is compiled and can run here (cuda also needs a visible device).
bool backend_available(Backend b);
/// cuda if available, else cpu.
Backend best_available_backend();
/// All backends that are available here, reference first.
std::vector<Backend> available_backends();
/// Human-readable name of the device a backend runs on (GPU name, or CPU model and thread count).
std::string backend_device_name(Backend b);

}  // namespace pbit
