// Built instead of gibbs_kernels.cu when nvcc is absent: asking for the CUDA backend throws NotCompiled.
#include "gibbs_kernels.hpp"
#include "pbit/error.hpp"

namespace pbit::detail {

std::unique_ptr<GibbsEngine> make_cuda_engine(const Graph&, const Coloring&, int32_t, const SamplerOptions&) {
  throw NotCompiled("the CUDA backend (this build of pbit was configured without nvcc); a host backend (backend cpu, or --backend cpu "
                    "where the command has it) runs the same chains bit for bit");
}
int cuda_device_count() { return 0; }
std::string cuda_unavailable_reason() { return "not compiled into this build (configured without nvcc)"; }
std::string cuda_device_name(int) { return ""; }
std::string cuda_pci_bus_id(int) { return ""; }
int64_t cuda_used_bytes() { return -1; }
int cuda_live_streams() { return 0; }
bool cuda_emulated() { return false; }
void cuda_download(const void*, void*, size_t) { throw NotCompiled("the CUDA backend (this build of pbit was configured without nvcc)"); }

}  // namespace pbit::detail
