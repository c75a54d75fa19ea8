// The cpu backend's instruction-set variants (gibbs_kernels.cpp compiled once per target) and the
// run-time choice between them: the widest the CPU runs, unless SamplerOptions::cpu_isa or the
// environment variable PBIT_CPU_ISA asks for another. Every variant gives the same chains, bit for bit.
#include <cstdlib>
#include <string>

#include "gibbs_kernels.hpp"
#include "pbit/error.hpp"

namespace pbit::detail {

#define PBIT_DECLARE_CPU(ns)                                                                              \
  namespace ns {                                                                                         \
  std::unique_ptr<GibbsEngine> make_engine(const Graph& g, const Coloring& c, int32_t chains, const SamplerOptions& opt); \
  }
#if PBIT_CPU_HAVE_AVX512
PBIT_DECLARE_CPU(cpu_avx512)
#endif
#if PBIT_CPU_HAVE_AVX2
PBIT_DECLARE_CPU(cpu_avx2)
#endif
PBIT_DECLARE_CPU(cpu_generic)

bool cpu_isa_runs_here(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::automatic: return true;
    case CpuIsa::generic: return true;
#if PBIT_CPU_HAVE_AVX2
    case CpuIsa::avx2: return __builtin_cpu_supports("x86-64-v3");
#endif
#if PBIT_CPU_HAVE_AVX512
    case CpuIsa::avx512: return __builtin_cpu_supports("x86-64-v4");
#endif
    default: return false;
  }
}

CpuIsa resolve_cpu_isa(CpuIsa requested) {
  if (requested == CpuIsa::automatic) {
    const char* v = std::getenv("PBIT_CPU_ISA");
    if (v && *v) requested = cpu_isa_from_string(v, "environment variable PBIT_CPU_ISA");
  }
  if (requested == CpuIsa::automatic) {
    for (CpuIsa isa : {CpuIsa::avx512, CpuIsa::avx2}) {
      if (cpu_isa_runs_here(isa)) return isa;
    }
    return CpuIsa::generic;
  }
  if (!cpu_isa_runs_here(requested)) {
    throw InvalidArgument("the cpu backend's " + to_string(requested) + " path " +
                          (cpu_isa_compiled(requested) ? "needs instructions this CPU lacks" : "is not compiled into this build") +
                          " (available here: " + [] {
                            std::string s;
                            for (CpuIsa i : available_cpu_isas()) s += (s.empty() ? "" : ", ") + to_string(i);
                            return s;
                          }() + ")");
  }
  return requested;
}

std::unique_ptr<GibbsEngine> make_cpu_engine(const Graph& g, const Coloring& c, int32_t chains, const SamplerOptions& opt) {
  switch (resolve_cpu_isa(opt.cpu_isa)) {
#if PBIT_CPU_HAVE_AVX512
    case CpuIsa::avx512: return cpu_avx512::make_engine(g, c, chains, opt);
#endif
#if PBIT_CPU_HAVE_AVX2
    case CpuIsa::avx2: return cpu_avx2::make_engine(g, c, chains, opt);
#endif
    default: return cpu_generic::make_engine(g, c, chains, opt);
  }
}

}  // namespace pbit::detail

namespace pbit {

bool cpu_isa_compiled(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::automatic:
    case CpuIsa::generic: return true;
    case CpuIsa::avx2: return PBIT_CPU_HAVE_AVX2;
    case CpuIsa::avx512: return PBIT_CPU_HAVE_AVX512;
  }
  return false;
}

std::vector<CpuIsa> available_cpu_isas() {
  std::vector<CpuIsa> out;
  for (CpuIsa isa : {CpuIsa::avx512, CpuIsa::avx2, CpuIsa::generic}) {
    if (cpu_isa_compiled(isa) && detail::cpu_isa_runs_here(isa)) out.push_back(isa);
  }
  return out;
}

}  // namespace pbit
