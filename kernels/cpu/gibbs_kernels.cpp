// CPU backend: OpenMP threads over blocks of W chains; SIMD across the W chains of a block.
//
// Layout: state is float +-1 in blocks [block][node][lane] (W = 16 lanes = one AVX-512 register), so
// the neighbour loop of one node loads one contiguous vector per neighbour and a block's whole state
// (N * 64 bytes; 270 KB for N = 4264) stays in L2 while the block runs all the sweeps of a stretch.
// One Philox call per lane serves four nodes of one color (rng.hpp), computed lane-parallel.
// Arithmetic follows detail/gibbs_math.hpp exactly, so chains are bit-identical to the reference.
#include <omp.h>

#include <cstdlib>
#include <cstring>
#include <new>

#include "gibbs_kernels.hpp"
#include "host_common.hpp"
#include "pbit/detail/gibbs_math.hpp"
#include "pbit/error.hpp"

namespace pbit::detail {
namespace {

constexpr int W = 16;

template <class T>
struct AlignedAlloc {
  using value_type = T;
  AlignedAlloc() = default;
  template <class U>
  AlignedAlloc(const AlignedAlloc<U>&) {}
  T* allocate(size_t n) {
    void* p = std::aligned_alloc(64, ((n * sizeof(T) + 63) / 64) * 64);
    if (!p) throw OutOfMemory("cpu backend: " + std::to_string(n * sizeof(T)) + " bytes");
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) { std::free(p); }
  template <class U>
  bool operator==(const AlignedAlloc<U>&) const { return true; }
};
template <class T>
using avec = std::vector<T, AlignedAlloc<T>>;

/// Philox4x32-10 for W lanes at once; lane l uses counter (chain0 + l, c1, c2, c3).
inline void philox_lanes(uint32_t chain0, uint32_t c1, uint32_t c2, uint32_t c3, rng::Key key,
                         uint32_t (&out)[4][W]) {
  alignas(64) uint32_t x0[W], x1[W], x2[W], x3[W];
#pragma omp simd
  for (int l = 0; l < W; ++l) {
    x0[l] = chain0 + static_cast<uint32_t>(l);
    x1[l] = c1;
    x2[l] = c2;
    x3[l] = c3;
  }
  uint32_t k0 = key.k0, k1 = key.k1;
  for (int r = 0; r < 10; ++r) {
#pragma omp simd
    for (int l = 0; l < W; ++l) {
      const uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * x0[l];
      const uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * x2[l];
      const uint32_t y0 = static_cast<uint32_t>(p1 >> 32) ^ x1[l] ^ k0;
      const uint32_t y2 = static_cast<uint32_t>(p0 >> 32) ^ x3[l] ^ k1;
      x0[l] = y0;
      x1[l] = static_cast<uint32_t>(p1);
      x2[l] = y2;
      x3[l] = static_cast<uint32_t>(p0);
    }
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  std::memcpy(out[0], x0, sizeof x0);
  std::memcpy(out[1], x1, sizeof x1);
  std::memcpy(out[2], x2, sizeof x2);
  std::memcpy(out[3], x3, sizeof x3);
}

class CpuEngine final : public GibbsEngine {
 public:
  CpuEngine(const Graph& g, const Coloring& c, int32_t chains, const SamplerOptions& opt)
      : m_(g, c, chains, opt), nblk_((chains + W - 1) / W), threads_(opt.num_threads) {
    s_.assign(static_cast<size_t>(nblk_) * m_.n * W, 1.0f);
  }

  void randomize_state(uint64_t seed) override {
    const rng::Key key = rng::make_key(seed, rng::kInitState);
    parallel_blocks([&](int32_t blk) {
      for (int l = 0; l < W; ++l) {
        const uint32_t b = static_cast<uint32_t>(blk * W + l);
        for (int32_t i = 0; i < m_.n; ++i) {
          const rng::Block x = rng::philox4x32_10(rng::init_counter(b, static_cast<uint32_t>(i)), key);
          at(blk, i)[l] = static_cast<float>(rng::init_spin(x, static_cast<uint32_t>(i)));
        }
      }
    });
  }
  void set_state(std::span<const int8_t> x) override {
    parallel_blocks([&](int32_t blk) {
      for (int l = 0; l < lanes(blk); ++l) {
        const size_t b = static_cast<size_t>(blk) * W + l;
        for (int32_t i = 0; i < m_.n; ++i) at(blk, i)[l] = x[b * m_.n + i];
      }
    });
  }
  void get_state(std::span<int8_t> x) const override {
    for (int32_t blk = 0; blk < nblk_; ++blk) {
      for (int l = 0; l < lanes(blk); ++l) {
        const size_t b = static_cast<size_t>(blk) * W + l;
        for (int32_t i = 0; i < m_.n; ++i) x[b * m_.n + i] = static_cast<int8_t>(cat(blk, i)[l]);
      }
    }
  }
  void set_clamp(std::span<const int32_t> nodes, std::span<const int8_t> values) override {
    m_.set_clamp(nodes, values);
    apply_clamp();
  }
  void apply_clamp() override {
    const size_t k = m_.clamp_nodes.size();
    for (int32_t blk = 0; blk < nblk_; ++blk) {
      for (int l = 0; l < lanes(blk); ++l) {
        const size_t b = static_cast<size_t>(blk) * W + l;
        for (size_t q = 0; q < k; ++q) at(blk, m_.clamp_nodes[q])[l] = m_.clamp_values[b * k + q];
      }
    }
  }
  void set_field(std::span<const int32_t> nodes, std::span<const float> values) override {
    m_.set_field(nodes, values);
    // Transpose to [block][column][lane]; padding lanes get 0.
    f_.assign(static_cast<size_t>(nblk_) * m_.field_m * W, 0.0f);
    for (int32_t blk = 0; blk < nblk_; ++blk) {
      for (int l = 0; l < lanes(blk); ++l) {
        const size_t b = static_cast<size_t>(blk) * W + l;
        for (int32_t q = 0; q < m_.field_m; ++q) {
          f_[(static_cast<size_t>(blk) * m_.field_m + q) * W + l] = m_.field[b * m_.field_m + q];
        }
      }
    }
  }
  void set_weights(const Graph& g) override { m_.load_weights(g); }

  void sweeps(uint64_t first_sweep, std::span<const float> betas) override {
    parallel_blocks([&](int32_t blk) {
      float* S = at(blk, 0);
      const float* F = m_.field_m > 0 ? f_.data() + static_cast<size_t>(blk) * m_.field_m * W : nullptr;
      const uint32_t chain0 = static_cast<uint32_t>(blk) * W;
      for (size_t k = 0; k < betas.size(); ++k) {
        const auto sweep = static_cast<uint32_t>(first_sweep + k);
        const float two_beta = 2.0f * betas[k];
        for (size_t c = 0; c < m_.classes.size(); ++c) {
          const std::vector<int32_t>& nodes = m_.classes[c];
          const size_t len = nodes.size();
          for (size_t g = 0; 4 * g < len; ++g) {
            alignas(64) uint32_t u[4][W];
            philox_lanes(chain0, static_cast<uint32_t>(c), static_cast<uint32_t>(g), sweep, m_.key, u);
            for (size_t q = 0; q < 4 && 4 * g + q < len; ++q) {
              const int32_t i = nodes[4 * g + q];
              if (m_.clamped[i]) continue;
              update_node(S, F, i, two_beta, u[q]);
            }
          }
        }
      }
    });
  }

  void begin_observation(const ObserveConfig& cfg) override { obs_.begin(cfg, m_); }

  void observe(int64_t sample) override {
    const ObserveConfig& cfg = obs_.cfg;
    const int32_t ng = cfg.num_groups();
    const size_t ne = m_.edge_i.size();
#pragma omp parallel num_threads(nthreads())
    {
      std::vector<int64_t> node(cfg.moments ? m_.n : 0, 0), edge(cfg.moments ? ne : 0, 0);
#pragma omp for schedule(static)
      for (int32_t blk = 0; blk < nblk_; ++blk) {
        const int nl = lanes(blk);
        if (cfg.moments) {
          for (int32_t i = 0; i < m_.n; ++i) {
            const float* s = cat(blk, i);
            int64_t a = 0;
            for (int l = 0; l < nl; ++l) a += static_cast<int64_t>(s[l]);
            node[i] += a;
          }
          for (size_t e = 0; e < ne; ++e) {
            const float *si = cat(blk, m_.edge_i[e]), *sj = cat(blk, m_.edge_j[e]);
            int64_t a = 0;
            for (int l = 0; l < nl; ++l) a += static_cast<int64_t>(si[l] * sj[l]);
            edge[e] += a;
          }
        }
        if (cfg.energy) {
          double acc[W] = {};
          for (size_t e = 0; e < ne; ++e) {
            const float *si = cat(blk, m_.edge_i[e]), *sj = cat(blk, m_.edge_j[e]);
            const double w = m_.edge_w[e];
            for (int l = 0; l < W; ++l) acc[l] += w * static_cast<double>(si[l] * sj[l]);
          }
          for (int32_t i = 0; i < m_.n; ++i) {
            const float* si = cat(blk, i);
            const double hv = m_.h[i];
            for (int l = 0; l < W; ++l) acc[l] += hv * static_cast<double>(si[l]);
          }
          for (int l = 0; l < nl; ++l) obs_.energy[static_cast<size_t>(sample) * m_.chains + blk * W + l] = -acc[l];
        }
        for (int32_t g = 0; g < ng; ++g) {
          for (int l = 0; l < nl; ++l) {
            int64_t a = 0;
            for (int64_t q = cfg.group_offsets[g]; q < cfg.group_offsets[g + 1]; ++q) {
              a += static_cast<int64_t>(cat(blk, cfg.group_nodes[q])[l]);
            }
            obs_.readout_sum[(static_cast<size_t>(blk) * W + l) * ng + g] += a;
          }
        }
      }
      if (cfg.moments) {
#pragma omp critical
        {
          for (int32_t i = 0; i < m_.n; ++i) obs_.node_sum[i] += node[i];
          for (size_t e = 0; e < ne; ++e) obs_.edge_sum[e] += edge[e];
        }
      }
    }
  }

  void snapshot(int64_t slot) override {
    get_state(std::span<int8_t>(obs_.snapshots).subspan(static_cast<size_t>(slot) * m_.chains * m_.n,
                                                        static_cast<size_t>(m_.chains) * m_.n));
  }
  void end_observation(Observations& out) override { obs_.finish(out); }

 private:
  float* at(int32_t blk, int32_t i) { return s_.data() + (static_cast<size_t>(blk) * m_.n + i) * W; }
  const float* cat(int32_t blk, int32_t i) const { return s_.data() + (static_cast<size_t>(blk) * m_.n + i) * W; }
  int lanes(int32_t blk) const { return std::min(W, m_.chains - blk * W); }
  int nthreads() const { return threads_ > 0 ? threads_ : omp_get_max_threads(); }

  template <class F>
  void parallel_blocks(F&& f) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads())
    for (int32_t blk = 0; blk < nblk_; ++blk) f(blk);
  }

  void update_node(float* __restrict S, const float* __restrict F, int32_t i, float two_beta,
                   const uint32_t* __restrict u) {
    alignas(64) float acc[W] = {};
    const int64_t end = m_.row_ptr[i + 1];
    for (int64_t k = m_.row_ptr[i]; k < end; ++k) {
      const float wk = m_.w[k];
      const float* __restrict sj = S + static_cast<size_t>(m_.col[k]) * W;
#pragma omp simd aligned(sj : 64)
      for (int l = 0; l < W; ++l) acc[l] = acc[l] + wk * sj[l];
    }
    const float hi = m_.h[i];
#pragma omp simd
    for (int l = 0; l < W; ++l) acc[l] = acc[l] + hi;
    const int32_t fc = m_.field_col[i];
    if (fc >= 0 && F) {
      const float* f = F + static_cast<size_t>(fc) * W;
#pragma omp simd
      for (int l = 0; l < W; ++l) acc[l] = acc[l] + f[l];
    }
    float* __restrict si = S + static_cast<size_t>(i) * W;
#pragma omp simd aligned(si : 64)
    for (int l = 0; l < W; ++l) {
      const float p = flip_up_probability(two_beta, acc[l]);
      si[l] = rng::u01(u[l]) < p ? 1.0f : -1.0f;
    }
  }

  HostModel m_;
  int32_t nblk_;
  int threads_;
  avec<float> s_;  ///< [block][node][lane]
  avec<float> f_;  ///< [block][field column][lane]
  HostObservation obs_;
};

}  // namespace

std::unique_ptr<GibbsEngine> make_cpu_engine(const Graph& g, const Coloring& c, int32_t chains,
                                             const SamplerOptions& opt) {
  return std::make_unique<CpuEngine>(g, c, chains, opt);
}

}  // namespace pbit::detail
