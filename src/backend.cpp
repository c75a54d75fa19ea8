#include "pbit/backend.hpp"

#include <omp.h>

#include <fstream>

#include "gibbs_kernels.hpp"
#include "pbit/build_info.hpp"
#include "pbit/error.hpp"

namespace pbit {

std::string to_string(Backend b) {
  switch (b) {
    case Backend::reference: return "reference";
    case Backend::cpu: return "cpu";
    case Backend::cuda: return "cuda";
    case Backend::packed: return "packed";
  }
  return "unknown";
}

Backend backend_from_string(const std::string& name) {
  if (name == "reference") return Backend::reference;
  if (name == "cpu") return Backend::cpu;
  if (name == "cuda") return Backend::cuda;
  if (name == "packed") return Backend::packed;
  if (name == "best") return best_available_backend();
  throw InvalidArgument("unknown backend '" + name + "' (expected reference, cpu, cuda, packed or best)");
}

std::vector<Backend> all_backends() { return {Backend::reference, Backend::cpu, Backend::cuda, Backend::packed}; }

bool backend_compiled(Backend b) { return b != Backend::cuda || build_has_cuda(); }

bool backend_available(Backend b) {
  if (!backend_compiled(b)) return false;
  if (b == Backend::cuda) return detail::cuda_device_count() > 0;
  return true;
}

Backend best_available_backend() { return backend_available(Backend::cuda) ? Backend::cuda : Backend::cpu; }

std::vector<Backend> available_backends() {
  std::vector<Backend> out;
  for (Backend b : all_backends()) {
    if (backend_available(b)) out.push_back(b);
  }
  return out;
}

int64_t backend_device_bytes_in_use(Backend b) { return b == Backend::cuda ? detail::cuda_used_bytes() : -1; }

std::string backend_device_name(Backend b) {
  if (b == Backend::cuda) return backend_available(b) ? detail::cuda_device_name(0) : "none";
  std::string model = "unknown CPU";
  std::ifstream f("/proc/cpuinfo");
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  const int threads = b == Backend::reference ? 1 : omp_get_max_threads();
  if (b == Backend::packed) return model + " (" + std::to_string(threads) + " threads, bit-packed GPU loop)";
  return model + " (" + std::to_string(threads) + (threads == 1 ? " thread)" : " threads)");
}

}  // namespace pbit
