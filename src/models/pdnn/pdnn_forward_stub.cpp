// Built instead of pdnn_forward.cu when nvcc is absent.
#include "pbit/error.hpp"
#include "pbit/models/pdnn.hpp"

namespace pbit {

bool pdnn_cuda_compiled() { return false; }

void pdnn_forward_cuda(const PdnnNet&, const PdnnForwardSpec&, const float*, int64_t, float*) {
  throw NotCompiled("the p-DNN CUDA path (this build of pbit was configured without nvcc)");
}

}  // namespace pbit
