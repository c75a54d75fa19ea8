#include "pbit/core/backend.hpp"

#include <omp.h>

#include <cstdlib>
#include <fstream>

#include "gibbs_kernels.hpp"
#include "pbit/build_info.hpp"
#include "pbit/error.hpp"
#include "util/threads.hpp"

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

std::string to_string(CudaKernel k) {
  switch (k) {
    case CudaKernel::automatic: return "auto";
    case CudaKernel::simple: return "simple";
    case CudaKernel::fast: return "fast";
  }
  return "unknown";
}

CudaKernel cuda_kernel_from_string(const std::string& name, const std::string& what) {
  if (name == "auto" || name == "automatic") return CudaKernel::automatic;
  if (name == "simple") return CudaKernel::simple;
  if (name == "fast") return CudaKernel::fast;
  throw InvalidArgument(what + ": unknown CUDA kernel '" + name + "' (expected auto, simple or fast)");
}

std::string to_string(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::automatic: return "auto";
    case CpuIsa::avx512: return "avx512";
    case CpuIsa::avx2: return "avx2";
    case CpuIsa::generic: return "generic";
  }
  return "unknown";
}

CpuIsa cpu_isa_from_string(const std::string& name, const std::string& what) {
  if (name == "auto" || name == "automatic") return CpuIsa::automatic;
  if (name == "avx512") return CpuIsa::avx512;
  if (name == "avx2") return CpuIsa::avx2;
  if (name == "generic") return CpuIsa::generic;
  throw InvalidArgument(what + ": unknown cpu path '" + name + "' (expected auto, avx512, avx2 or generic)");
}

std::string to_string(RngContract c) { return c == RngContract::fast ? "fast" : "exact"; }

RngContract rng_contract_from_string(const std::string& name, const std::string& what) {
  if (name == "exact") return RngContract::exact;
  if (name == "fast") return RngContract::fast;
  throw InvalidArgument(what + ": unknown contract '" + name + "' (expected exact or fast)");
}

std::vector<Backend> all_backends() { return {Backend::reference, Backend::cpu, Backend::cuda, Backend::packed}; }

bool backend_compiled(Backend b) { return b != Backend::cuda || build_has_cuda(); }

bool backend_available(Backend b) {
  if (!backend_compiled(b)) return false;
  if (b == Backend::cuda) return detail::cuda_device_count() > 0;
  return true;
}

std::string backend_unavailable_reason(Backend b) {
  if (!backend_compiled(b)) return "not compiled into this build (configured without nvcc)";
  if (b == Backend::cuda) return detail::cuda_unavailable_reason();
  return "";
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

std::string backend_device_pci_bus_id(Backend b) {
  if (b != Backend::cuda || !backend_available(b)) return "";
  return detail::cuda_pci_bus_id(detail::resolve_cuda_device(-1, detail::cuda_device_count()));
}

std::string backend_device_name(Backend b, int num_threads) {
  if (b == Backend::cuda) {
    if (!backend_available(b)) return "none";
    return detail::cuda_device_name(detail::resolve_cuda_device(-1, detail::cuda_device_count()));
  }
  std::string model = "unknown CPU";
  std::ifstream f("/proc/cpuinfo");
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  const int threads = b == Backend::reference ? 1 : detail::omp_threads(std::max(num_threads, 0), /*for_region=*/false);
  const std::string count = std::to_string(threads) + (threads == 1 ? " thread" : " threads");
  if (b == Backend::packed) return model + " (" + count + ", bit-packed GPU loop)";
  return model + " (" + count + ")";
}

namespace detail {

std::string describe_cuda_unavailable(const std::string& error_name, const std::string& error_text, int driver_version,
                                      int runtime_version) {
  auto version = [](int v) { return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10); };
  const std::string err = error_name.empty() ? std::string() : " (" + error_name + ": " + error_text + ")";
  if (driver_version == 0) {
    return "no NVIDIA driver was found (libcuda.so.1 could not be loaded)" + err;
  }
  if (error_name == "cudaErrorInsufficientDriver" || (runtime_version > 0 && driver_version < runtime_version)) {
    return "the NVIDIA driver is too old for this build: it supports CUDA " + version(driver_version) +
           ", and pbit was built with the CUDA " + version(runtime_version) +
           " runtime; install a newer driver (CUDA 13 needs R580 or later)" + err;
  }
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  const std::string mask = visible ? std::string("; CUDA_VISIBLE_DEVICES is '") + visible + "'" : std::string();
  if (error_name.empty() || error_name == "cudaErrorNoDevice") {
    return "the driver (CUDA " + version(driver_version) + ") sees no CUDA device" + mask + err;
  }
  return "the CUDA runtime could not list devices" + err + mask;
}

int launcher_local_rank() {
  // The MPI launchers' own variables first: under mpirun (MPICH, Intel MPI) inside a Slurm allocation,
  // SLURM_LOCALID is the launcher proxy's (0 for every rank of a node), not the rank's.
  for (const char* v : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "PMI_LOCAL_RANK", "SLURM_LOCALID"}) {
    const char* s = std::getenv(v);
    if (!s || !*s) continue;
    char* end = nullptr;
    const long r = std::strtol(s, &end, 10);
    if (*end == '\0' && r >= 0 && r < (1L << 20)) return static_cast<int>(r);
  }
  return -1;
}

int resolve_cuda_device(int requested, int visible) {
  if (visible <= 0) throw CudaError("no usable CUDA device");
  if (requested == -1) {
    const int local = launcher_local_rank();
    return local < 0 ? 0 : local % visible;
  }
  if (requested < 0 || requested >= visible) {
    throw InvalidArgument("cuda device " + std::to_string(requested) + " does not exist (" + std::to_string(visible) +
                          " visible; -1 picks the local rank's)");
  }
  return requested;
}

}  // namespace detail

}  // namespace pbit
