// What built this copy of the library; benchmarks record it next to every measurement.
#pragma once
namespace pbit {
const char* build_git_sha();   ///< short git sha, "-dirty" if the tree had changes, "unknown" outside git
const char* build_type();      ///< CMAKE_BUILD_TYPE
const char* build_compiler();  ///< host compiler id and version
bool build_has_cuda();         ///< whether the CUDA backend was compiled in
}  // namespace pbit
