// Reference backend: serial, chain-major int8 state, one Philox call per update. The oracle.
//
// The same engine also serves the `packed` backend: its sweeps run the bit-packed loop of the fast
// GPU kernel (kernels/packed_sweep.hpp) on the host, 32 chains per word, OpenMP over words, while the
// canonical state, clamps and observers stay the reference's. It exists to test that loop without a
// GPU; it is not meant to be fast.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "gibbs_kernels.hpp"
#include "host_common.hpp"
#include "cuda_plan.hpp"
#include "packed_sweep.hpp"
#include "pbit/core/detail/gibbs_math.hpp"
#include "pbit/error.hpp"
#include "util/threads.hpp"

namespace pbit::detail {
namespace {

class ReferenceEngine final : public GibbsEngine {
 public:
  ReferenceEngine(const Graph& g, const Coloring& c, int32_t chains, const SamplerOptions& opt, bool packed)
      : m_(g, c, chains, opt), s_(static_cast<size_t>(chains) * g.num_nodes(), 1), packed_(packed),
        threads_(opt.num_threads) {
    if (packed_) {
      wpl_ = requested_words_per_lane(opt.fast_words_per_lane);
      if (wpl_ == 0) wpl_ = 4;  // the v2 layout (docs/FAST_KERNEL.md)
    }
    for (const auto& cls : m_.classes) {
      class_off_.push_back(static_cast<int32_t>(color_nodes_.size()));
      color_nodes_.insert(color_nodes_.end(), cls.begin(), cls.end());
    }
    class_off_.push_back(static_cast<int32_t>(color_nodes_.size()));
  }

  void randomize_state(uint64_t seed, uint32_t stream, uint32_t sweep) override {
    const rng::Key key = rng::make_key(seed, rng::kInitState);
    for (int32_t b = 0; b < m_.chains; ++b) {
      for (int32_t i = 0; i < m_.n; ++i) {
        const rng::Block blk = rng::philox4x32_10(rng::init_counter(static_cast<uint32_t>(b) + m_.chain_offset, i, sweep, stream), key);
        spin(b, i) = static_cast<int8_t>(rng::init_spin(blk, i));
      }
    }
    int8_written(true);
  }
  void set_state(std::span<const int8_t> x) override {
    std::memcpy(s_.data(), x.data(), s_.size());
    int8_written(true);
  }
  void get_state(std::span<int8_t> x) const override {
    if (in_bits_) {
      unpack_to(x.data());
    } else {
      std::memcpy(x.data(), s_.data(), s_.size());
    }
  }
  void set_clamp(std::span<const int32_t> nodes, std::span<const int8_t> values) override {
    m_.set_clamp(nodes, values);
    apply_clamp();
  }
  void apply_clamp() override {
    const size_t k = m_.clamp_nodes.size();
    if (k == 0) return;
    need_int8();
    int8_written(false);
    for (int32_t b = 0; b < m_.chains; ++b) {
      for (size_t q = 0; q < k; ++q) spin(b, m_.clamp_nodes[q]) = m_.clamp_values[b * k + q];
    }
  }
  void set_field(std::span<const int32_t> nodes, std::span<const float> values) override {
    m_.set_field(nodes, values);
  }
  void set_weights(const Graph& g) override { m_.load_weights(g); }
  void set_chain_beta_scale(std::span<const float> scale) override { m_.chain_scale.assign(scale.begin(), scale.end()); }
  void set_activation(const HostActivation& a) override {
    if (a.active() && (a.gain.size() != static_cast<size_t>(m_.n) || a.offset.size() != static_cast<size_t>(m_.n))) {
      throw InvalidArgument("set_activation: expected a gain and an offset per node");
    }
    m_.act = a;
  }
  bool has_activation() const override { return true; }
  void set_lfsr(uint32_t steps, rng::Key key, uint32_t stream) override {
    if (steps && packed_) throw InvalidArgument("the bit-packed loop has no per-p-bit LFSR (hardware.rng lfsr)");
    lfsr_steps_ = steps;
    lfsr_key_ = key;
    lfsr_stream_ = stream;
  }

  void sweeps(uint64_t first_sweep, std::span<const float> betas) override {
    if (packed_) {
      packed_sweeps(first_sweep, betas);
      return;
    }
    if (lfsr_steps_) lfsr_cols_ = lfsr_sweep_matrices(first_sweep, betas.size(), lfsr_steps_);
    for (size_t k = 0; k < betas.size(); ++k) {
      const auto sweep = static_cast<uint32_t>(first_sweep + k);
      const float two_beta = 2.0f * betas[k];
      if (lfsr_steps_) lfsr_now_ = lfsr_cols_.data() + 32 * k;
      for (size_t c = 0; c < m_.classes.size(); ++c) {
        const std::vector<int32_t>& nodes = m_.classes[c];
        for (size_t r = 0; r < nodes.size(); ++r) {
          const int32_t i = nodes[r];
          if (m_.clamped[i]) continue;
          for (int32_t b = 0; b < m_.chains; ++b) update(b, i, static_cast<uint32_t>(c), static_cast<uint32_t>(r), sweep, two_beta);
        }
      }
    }
  }

  void begin_observation(const ObserveConfig& cfg) override { obs_.begin(cfg, m_); }

  void observe(int64_t sample) override {
    if (in_bits_) {
      // The packed backend after a stretch: every observer reads the bits, moments by popcount.
      const ObserveConfig& cfg = obs_.cfg;
      if (cfg.moments) {
        for (int32_t i = 0; i < m_.n; ++i) {
          const uint32_t* x = bits_.data() + static_cast<size_t>(i) * pwords_;
          for (int32_t w = 0; w < pwords_; ++w) obs_.node_sum[i] += packed_word_sum(x[w], packed_valid_mask(w, m_.chains));
        }
        for (size_t e = 0; e < m_.edge_i.size(); ++e) {
          const uint32_t* x = bits_.data() + static_cast<size_t>(m_.edge_i[e]) * pwords_;
          const uint32_t* y = bits_.data() + static_cast<size_t>(m_.edge_j[e]) * pwords_;
          for (int32_t w = 0; w < pwords_; ++w) obs_.edge_sum[e] += packed_word_corr(x[w], y[w], packed_valid_mask(w, m_.chains));
        }
      }
      per_chain_observers(sample, false, [&](int32_t b, int32_t i) { return packed_spin(bits_.data(), pwords_, i, b); });
      return;
    }
    per_chain_observers(sample, true, [&](int32_t b, int32_t i) { return static_cast<int>(spin(b, i)); });
  }

  void snapshot(int64_t slot) override {
    int8_t* out = obs_.snapshots.data() + static_cast<size_t>(slot) * s_.size();
    if (in_bits_) {
      unpack_to(out);
    } else {
      std::memcpy(out, s_.data(), s_.size());
    }
  }
  void end_observation(Observations& out) override { obs_.finish(out); }
  std::string describe() const override {
    if (!packed_) return "reference (serial)";
    // (the threads that run: one a team of wpl_ words, no more)
    const int t = std::min(detail::omp_threads(threads_, /*for_region=*/false), (packed_words(m_.chains) + wpl_ - 1) / wpl_);
    return "packed (the fast GPU kernel's loop on the host, " + std::to_string(wpl_) + (wpl_ == 1 ? " word" : " words") + " per lane, " + std::to_string(t) +
           (t == 1 ? " thread)" : " threads)");
  }

 private:
  int8_t& spin(int32_t b, int32_t i) { return s_[static_cast<size_t>(b) * m_.n + i]; }

  /// Moments (when `moments`), energy and read-outs of every chain, from spin(b, i).
  template <class Spin>
  void per_chain_observers(int64_t sample, bool moments, Spin&& sp) {
    const ObserveConfig& cfg = obs_.cfg;
    for (int32_t b = 0; b < m_.chains; ++b) {
      if (cfg.moments && moments) {
        for (int32_t i = 0; i < m_.n; ++i) obs_.node_sum[i] += sp(b, i);
        for (size_t e = 0; e < m_.edge_i.size(); ++e) obs_.edge_sum[e] += sp(b, m_.edge_i[e]) * sp(b, m_.edge_j[e]);
      }
      if (cfg.energy) obs_.energy[static_cast<size_t>(sample) * m_.chains + b] = energy(b, sp);
      const int32_t ng = cfg.num_groups();
      for (int32_t g = 0; g < ng; ++g) {
        int64_t acc = 0;
        for (int64_t q = cfg.group_offsets[g]; q < cfg.group_offsets[g + 1]; ++q) acc += sp(b, cfg.group_nodes[q]);
        obs_.readout_sum[static_cast<size_t>(b) * ng + g] += acc;
      }
    }
  }

  // ---- packed: where the state lives. After a stretch it is bits_ ([node][pwords_], in_bits_), and
  // s_ is brought up to date only when something reads or writes the int8 state.
  /// s_ is up to date afterwards.
  void need_int8() {
    if (!in_bits_) return;
    unpack_to(s_.data());
    in_bits_ = false;  // bits_ stays valid until s_ is written
  }
  /// Records a write to s_ (`whole`: every spin, so bits_ need not be read first).
  void int8_written(bool whole) {
    if (whole) in_bits_ = false;
    bits_stale_ = true;
  }
  /// bits_ -> chain-major int8 (padding lanes dropped).
  void unpack_to(int8_t* out) const {
    for (int32_t b = 0; b < m_.chains; ++b)
      for (int32_t i = 0; i < m_.n; ++i) out[static_cast<size_t>(b) * m_.n + i] = static_cast<int8_t>(packed_spin(bits_.data(), pwords_, i, b));
  }

  void update(int32_t b, int32_t i, uint32_t color, uint32_t rank, uint32_t sweep, float two_beta) {
    if (!m_.chain_scale.empty()) two_beta = fmul(two_beta, m_.chain_scale[static_cast<size_t>(b)]);
    float field = 0.0f;
    for (int64_t k = m_.row_ptr[i]; k < m_.row_ptr[i + 1]; ++k) {
      field = fadd(field, fmul(m_.w[k], static_cast<float>(spin(b, m_.col[k]))));
    }
    field = fadd(field, m_.h[i]);
    if (m_.field_col[i] >= 0) field = fadd(field, m_.field[static_cast<size_t>(b) * m_.field_m + m_.field_col[i]]);
    if (m_.act.active()) field = device_input(m_.act.args(), i, field);
    if (lfsr_steps_) {  // the p-bit's LFSR word, decided as under the exact contract
      const uint32_t word = gf2_apply(lfsr_now_, lfsr_seed(lfsr_key_, lfsr_stream_, static_cast<uint32_t>(b) + m_.chain_offset, static_cast<uint32_t>(i)));
      spin(b, i) = gibbs_up(word, boltzmann_ratio(two_beta, field)) ? int8_t{1} : int8_t{-1};
      return;
    }
    const rng::Block blk = gibbs_block(m_.contract, m_.key, static_cast<uint32_t>(b) + m_.chain_offset, color, rank, sweep);
    spin(b, i) = gibbs_up(m_.contract, blk, rank, two_beta, field) ? int8_t{1} : int8_t{-1};
  }

  /// The fast GPU kernel's loop on the host: gather each team's K 32-chain words of every node (what
  /// the GPU keeps in shared memory, [node][K]), run the stretch, scatter back. Padding lanes (chain
  /// >= B) and padding words start at -1 and are dropped.
  void packed_sweeps(uint64_t first_sweep, std::span<const float> betas) {
    switch (wpl_) {
      case 1: return packed_sweeps_k<1>(first_sweep, betas);
      case 2: return packed_sweeps_k<2>(first_sweep, betas);
      default: return packed_sweeps_k<4>(first_sweep, betas);
    }
  }

  template <int K>
  void packed_sweeps_k(uint64_t first_sweep, std::span<const float> betas) {
    PackedArgs a;
    a.n = m_.n;
    a.chains = m_.chains;
    a.words = (packed_words(m_.chains) + K - 1) / K * K;
    // Rebuilt per stretch (O(N + E)): weights and clamps may have changed since the last one.
    const std::vector<PackedEdge> edges = packed_edges(m_.col, m_.w, K);
    const PackedGroups groups = packed_groups(color_nodes_, class_off_, m_.row_ptr, m_.clamped);
    a.edges = edges.data();
    a.h = m_.h.data();
    a.groups = groups.groups.data();
    a.group_off = groups.offsets.data();
    a.num_colors = static_cast<int32_t>(m_.classes.size());
    a.field_col = m_.field_col.data();
    a.field = m_.field.data();
    a.field_col_stride = 1;
    a.field_chain_stride = m_.field_m;
    a.betas = betas.data();
    a.nsweeps = static_cast<int64_t>(betas.size());
    a.first_sweep = static_cast<uint32_t>(first_sweep);
    a.key = m_.key;
    a.chain_offset = m_.chain_offset;
    a.contract = m_.contract;
    a.act = m_.act.args();
    a.chain_scale = m_.chain_scale.empty() ? nullptr : m_.chain_scale.data();
    const int32_t teams = a.words / K;
    if (bits_stale_ || pwords_ != a.words) {  // the int8 state changed: pack it (padding lanes -1)
      pwords_ = a.words;
      bits_.assign(static_cast<size_t>(m_.n) * pwords_, 0u);
      for (int32_t b = 0; b < m_.chains; ++b)
        for (int32_t i = 0; i < m_.n; ++i)
          bits_[static_cast<size_t>(i) * pwords_ + b / kPackedLanes] |= static_cast<uint32_t>(spin(b, i) > 0) << (b % kPackedLanes);
      bits_stale_ = false;
    }
    // No more threads than teams: one with none would only wait at the region's end, and on busy
    // cores each wait is a scheduler slice (the cpu engine's team(), helper-121).
#pragma omp parallel for schedule(dynamic, 1) num_threads(std::max(1, std::min(detail::omp_threads(threads_), teams)))
    for (int32_t t = 0; t < teams; ++t) {
      // What a GPU block keeps in shared memory: its K words of every node, [node][K].
      std::vector<uint32_t> S(static_cast<size_t>(m_.n) * K);
      for (int32_t i = 0; i < m_.n; ++i)
        for (int k = 0; k < K; ++k) S[static_cast<size_t>(i) * K + k] = bits_[static_cast<size_t>(i) * pwords_ + t * K + k];
      auto lanes = std::make_unique<HostLanes<K>>();
      lanes->team_size = 3;  // an odd team, so the tests also cover how a GPU block splits a color
      if (a.contract == RngContract::fast) {
        packed_stretch<K, RngContract::fast>(a, S.data(), t * K, *lanes);
      } else {
        packed_stretch<K, RngContract::exact>(a, S.data(), t * K, *lanes);
      }
      for (int32_t i = 0; i < m_.n; ++i)
        for (int k = 0; k < K; ++k) bits_[static_cast<size_t>(i) * pwords_ + t * K + k] = S[static_cast<size_t>(i) * K + k];
    }
    in_bits_ = true;
  }

  // Energy in the order of Graph::energy: edges in edge order, then biases, in double.
  template <class Spin>
  double energy(int32_t b, Spin&& sp) {
    double acc = 0.0;
    for (size_t e = 0; e < m_.edge_i.size(); ++e) {
      acc += static_cast<double>(m_.edge_w[e]) * (sp(b, m_.edge_i[e]) * sp(b, m_.edge_j[e]));
    }
    for (int32_t i = 0; i < m_.n; ++i) acc += static_cast<double>(m_.h[i]) * sp(b, i);
    return -acc;
  }

  HostModel m_;
  std::vector<int8_t> s_;  ///< B x N, chain-major
  HostObservation obs_;
  bool packed_;
  uint32_t lfsr_steps_ = 0;           ///< hardware.rng lfsr: shifts per sweep (0: Philox)
  rng::Key lfsr_key_{};
  uint32_t lfsr_stream_ = 0;
  std::vector<uint32_t> lfsr_cols_;   ///< the stretch's sweep matrices (detail/lfsr.hpp)
  const uint32_t* lfsr_now_ = nullptr;  ///< this sweep's
  int wpl_ = 1;  ///< packed: words per lane
  std::vector<uint32_t> bits_;  ///< packed: the state as words [node][pwords_] (docs/FAST_KERNEL.md, v2)
  int32_t pwords_ = 0;          ///< packed: 32-chain words, rounded up to a multiple of wpl_
  bool in_bits_ = false;        ///< packed: bits_ holds the state and s_ is stale
  bool bits_stale_ = true;      ///< packed: s_ was written since bits_ was made
  int threads_;
  std::vector<int32_t> color_nodes_, class_off_;  ///< classes concatenated, for the packed loop
};

}  // namespace

std::unique_ptr<GibbsEngine> make_reference_engine(const Graph& g, const Coloring& c, int32_t chains,
                                                   const SamplerOptions& opt) {
  return std::make_unique<ReferenceEngine>(g, c, chains, opt, false);
}

std::unique_ptr<GibbsEngine> make_packed_engine(const Graph& g, const Coloring& c, int32_t chains,
                                                const SamplerOptions& opt) {
  return std::make_unique<ReferenceEngine>(g, c, chains, opt, true);
}

}  // namespace pbit::detail
