// The p-DNN forward pass on a GPU: logits identical to the host path (pdnn.cpp) bit for bit, by the
// forward contract of pbit/models/pdnn.hpp. Two kernels per layer:
//   pdnn_preactivate: one thread per output unit and block of kRows rows; each weight W[k][j] is read
//     once for the kRows rows (a layer's T samples of an image are adjacent rows, so weights are read
//     once for many samples, the point of the paper's energy argument), sums in input order with
//     __fadd_rn/__fmul_rn and zero inputs skipped, as on the host;
//   pdnn_activate: the unit's activation (pdnn_math.hpp), expanding layer 0's per-image rows to T.
#include <cuda_runtime.h>

#include <algorithm>
#include <deque>
#include <vector>

#include "cuda/cuda_check.cuh"
#include "cuda/device_guard.cuh"
#include "gibbs_kernels.hpp"
#include "models/pdnn/pdnn_math.hpp"
#include "pbit/core/backend.hpp"
#include "pbit/models/pdnn.hpp"

namespace pbit {

namespace {

constexpr int kRows = 8;
constexpr int kThreads = 128;

__global__ void pdnn_preactivate(const float* __restrict__ in, int64_t rows, int32_t nin, const float* __restrict__ W,
                                 const float* __restrict__ b, int32_t nout, float* __restrict__ z) {
  const int32_t j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= nout) return;
  const int64_t blocks = (rows + kRows - 1) / kRows;
  for (int64_t rb = blockIdx.y; rb < blocks; rb += gridDim.y) {
    const int64_t r0 = rb * kRows;
    const int nr = static_cast<int>(rows - r0 < kRows ? rows - r0 : kRows);
    float acc[kRows];
#pragma unroll
    for (int q = 0; q < kRows; ++q) acc[q] = 0.0f;
    for (int32_t k = 0; k < nin; ++k) {
      const float w = W[static_cast<int64_t>(k) * nout + j];
#pragma unroll
      for (int q = 0; q < kRows; ++q) {
        if (q < nr) {
          const float a = in[(r0 + q) * nin + k];
          if (a != 0.0f) acc[q] = detail::fadd(acc[q], detail::fmul(a, w));
        }
      }
    }
    const float bj = b[j];
#pragma unroll
    for (int q = 0; q < kRows; ++q)
      if (q < nr) z[(r0 + q) * nout + j] = detail::fadd(acc[q], bj);
  }
}

__global__ void pdnn_activate(const float* __restrict__ z, int64_t images, int32_t T, bool expand, int32_t n, int32_t act, int32_t bits,
                              rng::Key key, uint32_t layer, uint32_t epoch, const int64_t* __restrict__ ids, int64_t first_id,
                              float* __restrict__ a) {
  const int64_t total = images * T * n;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = idx / n;
    const int32_t j = static_cast<int32_t>(idx - r * n);
    const int64_t i = r / T;
    const uint32_t t = static_cast<uint32_t>(r - i * T);
    const float zj = z[(expand ? i : r) * n + j];
    const uint32_t id = static_cast<uint32_t>(ids ? ids[i] : first_id + i);
    a[idx] = detail::pdnn_activate(act, bits, zj, key, id, t, layer, epoch, static_cast<uint32_t>(j));
  }
}

/// The activation on imperfect hardware (pdnn_hardware_activate, as the host path).
__global__ void pdnn_activate_hardware(const float* __restrict__ z, int64_t images, int32_t T, bool expand, int32_t n,
                                       detail::PdnnHardwareUnit hu, const float* __restrict__ gain, const float* __restrict__ offset,
                                       const int8_t* __restrict__ stuck, rng::Key key, uint32_t layer, uint32_t epoch,
                                       const int64_t* __restrict__ ids, int64_t first_id, float* __restrict__ a) {
  const int64_t total = images * T * n;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = idx / n;
    const int32_t j = static_cast<int32_t>(idx - r * n);
    const int64_t i = r / T;
    const uint32_t t = static_cast<uint32_t>(r - i * T);
    const uint32_t id = static_cast<uint32_t>(ids ? ids[i] : first_id + i);
    const rng::Block blk = rng::philox4x32_10(detail::pdnn_counter(id, t, layer, epoch, static_cast<uint32_t>(j)), key);
    a[idx] = detail::pdnn_hardware_activate(hu, z[(expand ? i : r) * n + j], gain[j], offset[j], stuck[j],
                                            rng::word(blk, static_cast<uint32_t>(j) & 3u));
  }
}

template <class T>
struct DeviceBuffer {
  T* p = nullptr;
  explicit DeviceBuffer(size_t n) {
    if (n) PBIT_CUDA_CHECK(cudaMalloc(&p, n * sizeof(T)));
  }
  DeviceBuffer(const T* h, size_t n) : DeviceBuffer(n) {
    if (n) PBIT_CUDA_CHECK(cudaMemcpy(p, h, n * sizeof(T), cudaMemcpyHostToDevice));
  }
  ~DeviceBuffer() {
    if (p) PBIT_CUDA_CHECK_NOTHROW(cudaFree(p));
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

int32_t act_code(PdnnActivation a) {
  return a == PdnnActivation::tanh ? detail::kPdnnTanh : a == PdnnActivation::quant ? detail::kPdnnQuant : detail::kPdnnPbit;
}

}  // namespace

bool pdnn_cuda_compiled() { return true; }

void pdnn_forward_cuda(const PdnnNet& net, const PdnnForwardSpec& s, const float* x, int64_t images, float* logits) {
  detail::check_pdnn_forward(net, s, images);  // (as the host path)
  const int32_t L = net.layers();
  // Imperfect hardware: the weights in its fixed point (quantized here, as the host path does), the
  // units of each hidden layer on its device instance.
  const bool hw = s.hardware && !s.hardware->ideal();
  if (!backend_available(Backend::cuda)) {  // after the arguments' checks, which need no device
    throw InvalidArgument("p-DNN on cuda: " + backend_unavailable_reason(Backend::cuda));
  }
  if (images <= 0) return;
  // The device the Gibbs engine would use (the rank's under MPI, as the energy meter assumes), not
  // whichever one the calling thread has current; the caller's is current again afterwards.
  const detail::DeviceGuard on_device(detail::resolve_cuda_device(-1, detail::cuda_device_count()));
  const int64_t rows = images * s.T;
  // Each layer's pre-activations (layer 0's a row an image) and the hidden layers' activations, no
  // larger: sized by the widest of all sizes, inputs included, 784-64-10 at 2^24 rows took 158 GB
  // where it needs 13 (helper-122).
  int64_t z_size = 0, a_size = 0;
  for (int32_t l = 0; l < L; ++l) {
    z_size = std::max<int64_t>(z_size, (l == 0 ? images : rows) * net.sizes[l + 1]);
    if (l + 1 < L) a_size = std::max<int64_t>(a_size, rows * net.sizes[l + 1]);
  }
  DeviceBuffer<float> dx(x, static_cast<size_t>(images * net.inputs()));
  DeviceBuffer<float> dz(static_cast<size_t>(z_size)), da(static_cast<size_t>(a_size)), dnext(static_cast<size_t>(a_size));
  DeviceBuffer<int64_t> dids(s.ids, s.ids ? static_cast<size_t>(images) : 0);
  // Every layer's parameters on the device before the first launch, freed after the last kernel
  // ended (the synchronisation at the end), not while one may still read them. (A deque: its
  // elements never move.)
  std::deque<DeviceBuffer<float>> dw, db, dgain, doffset;
  std::deque<DeviceBuffer<int8_t>> dstuck;
  for (int32_t l = 0; l < L; ++l) {
    std::vector<float> w = net.w[l], b = net.b[l];
    if (hw) {
      for (float& v : w) v = hardware_weight(*s.hardware, v);
      for (float& v : b) v = hardware_weight(*s.hardware, v);
    }
    dw.emplace_back(w.data(), w.size());
    db.emplace_back(b.data(), b.size());
    if (hw && l + 1 < L) {
      const PbitDevice& d = (*s.device)[static_cast<size_t>(l)];
      dgain.emplace_back(d.gain.data(), d.gain.size());
      doffset.emplace_back(d.offset.data(), d.offset.size());
      dstuck.emplace_back(d.stuck.data(), d.stuck.size());
    }
  }
  const rng::Key key = rng::make_key(s.seed, s.stream);
  float* a = da.p;
  float* next = dnext.p;
  for (int32_t l = 0; l < L; ++l) {
    const int32_t nin = net.sizes[l], nout = net.sizes[l + 1];
    const int64_t zrows = l == 0 ? images : rows;
    const int64_t row_blocks = (zrows + kRows - 1) / kRows;
    const dim3 grid(static_cast<unsigned>((nout + kThreads - 1) / kThreads), static_cast<unsigned>(std::min<int64_t>(row_blocks, 65535)));
    pdnn_preactivate<<<grid, kThreads>>>(l == 0 ? dx.p : a, zrows, nin, dw[l].p, db[l].p, nout, dz.p);
    PBIT_CUDA_LAUNCHED(pdnn_preactivate, 0);
    if (l == L - 1) {
      std::vector<float> z(static_cast<size_t>(zrows * nout));
      PBIT_CUDA_CHECK(cudaMemcpy(z.data(), dz.p, z.size() * sizeof(float), cudaMemcpyDeviceToHost));
      for (int64_t r = 0; r < rows; ++r) std::copy_n(z.data() + (l == 0 ? r / s.T : r) * nout, nout, logits + r * nout);
      break;
    }
    const int64_t total = rows * nout;
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((total + 255) / 256, 1 << 20));
    if (hw) {
      pdnn_activate_hardware<<<blocks, 256>>>(dz.p, images, s.T, l == 0, nout, detail::pdnn_hardware_unit(*s.hardware), dgain[l].p,
                                              doffset[l].p, dstuck[l].p, key, static_cast<uint32_t>(l), s.epoch, dids.p, s.first_id,
                                              next);
      PBIT_CUDA_LAUNCHED(pdnn_activate_hardware, 0);
    } else {
      pdnn_activate<<<blocks, 256>>>(dz.p, images, s.T, l == 0, nout, act_code(s.units.activation), s.units.bits, key,
                                     static_cast<uint32_t>(l), s.epoch, dids.p, s.first_id, next);
      PBIT_CUDA_LAUNCHED(pdnn_activate, 0);
    }
    std::swap(a, next);
  }
  PBIT_CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace pbit
