#include "pbit/core/sampler.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <sstream>

#include "cuda_plan.hpp"
#include "gibbs_kernels.hpp"
#include "pbit/error.hpp"
#include "util/memory.hpp"
#include "util/parallel_for.hpp"
#include "util/threads.hpp"

namespace pbit {

// ---------------------------------------------------------------- schedules

void SamplingSchedule::validate() const {
  if (warmup < 0) throw InvalidArgument("SamplingSchedule.warmup must be >= 0, got " + std::to_string(warmup));
  if (samples < 0) throw InvalidArgument("SamplingSchedule.samples must be >= 0, got " + std::to_string(samples));
  if (steps_per_sample < 1) {
    throw InvalidArgument("SamplingSchedule.steps_per_sample must be >= 1, got " + std::to_string(steps_per_sample));
  }
  const std::string past = past_sweep_limit();
  if (!past.empty()) throw InvalidArgument("SamplingSchedule: " + past);
}

std::string SamplingSchedule::past_sweep_limit(std::string_view warmup_name) const {
  if (warmup <= kMaxSweeps && (samples == 0 || steps_per_sample <= (kMaxSweeps - warmup) / samples)) return {};
  return std::string(warmup_name) + " + samples x steps_per_sample (" + std::to_string(warmup) + " + " + std::to_string(samples) + " x " +
         std::to_string(steps_per_sample) + ") is more than one sampler runs (2^32 - 1 sweeps: its RNG counter's sweep field)";
}

namespace {

void check_beta(float beta, int64_t sweep) {
  if (!std::isfinite(beta) || beta < 0.0f || beta > 1e30f) {  // 2 beta x factor (<= 1e6) stays a float
    std::ostringstream os;
    os << "beta at sweep " << sweep << " is " << beta << "; beta must be finite, >= 0 and at most 1e30";
    throw InvalidArgument(os.str());
  }
}

}  // namespace

BetaSchedule::BetaSchedule(std::vector<float> per_sweep, std::vector<Piece> pieces)
    : per_sweep_(std::move(per_sweep)), pieces_(std::move(pieces)) {
  if (per_sweep_.empty() && pieces_.empty()) throw InvalidArgument("beta schedule is empty");
  for (size_t k = 0; k < per_sweep_.size(); ++k) check_beta(per_sweep_[k], static_cast<int64_t>(k));
  for (const Piece& p : pieces_) {  // a linear piece lies between its ends
    check_beta(p.from, p.start);
    check_beta(p.to, p.start + p.length - 1);
  }
}

BetaSchedule BetaSchedule::constant(float beta) { return BetaSchedule(std::vector<float>{beta}, {}); }
BetaSchedule BetaSchedule::per_sweep(std::vector<float> betas) { return BetaSchedule(std::move(betas), {}); }

BetaSchedule BetaSchedule::piecewise(const std::vector<std::pair<float, int64_t>>& segments) {
  std::vector<Piece> pieces;
  int64_t start = 0;
  for (const auto& [beta, n] : segments) {
    if (n < 0) throw InvalidArgument("beta schedule segment has negative sweep count " + std::to_string(n));
    if (n > std::numeric_limits<int64_t>::max() / 2 - start) throw InvalidArgument("beta schedule is too long");
    if (n == 0) continue;
    pieces.push_back({start, n, beta, beta});
    start += n;
  }
  return BetaSchedule({}, std::move(pieces));
}

BetaSchedule BetaSchedule::linear(float b0, float b1, int64_t sweeps) {
  if (sweeps < 1) throw InvalidArgument("linear beta schedule needs >= 1 sweep, got " + std::to_string(sweeps));
  return BetaSchedule({}, {Piece{0, sweeps, b0, b1}});
}

float BetaSchedule::at_absolute(int64_t sweep) const {
  if (!per_sweep_.empty()) return sweep < static_cast<int64_t>(per_sweep_.size()) ? per_sweep_[sweep] : per_sweep_.back();
  // The last piece starting at or before `sweep`.
  auto it = std::upper_bound(pieces_.begin(), pieces_.end(), sweep, [](int64_t k, const Piece& p) { return k < p.start; });
  const Piece& p = *(it == pieces_.begin() ? it : std::prev(it));
  // Past the end the last sweep's value holds: the formula at t = 1, which for a linear piece need
  // not be `to` exactly (float arithmetic), as the per-sweep vector this replaces held it.
  sweep = std::min(sweep, p.start + p.length - 1);
  const double t = p.length == 1 ? 1.0 : static_cast<double>(sweep - p.start) / static_cast<double>(p.length - 1);
  return static_cast<float>(p.from + (p.to - p.from) * t);
}

BetaSchedule BetaSchedule::from_parts(std::vector<float> per_sweep, std::vector<Piece> pieces, int64_t offset) {
  if (!per_sweep.empty() && !pieces.empty()) throw InvalidArgument("beta schedule: both per-sweep values and pieces given");
  int64_t start = 0;
  for (size_t k = 0; k < pieces.size(); ++k) {
    const Piece& p = pieces[k];
    if (p.start != start || p.length < 1 || p.length > std::numeric_limits<int64_t>::max() / 2 - start) {
      throw InvalidArgument("beta schedule: piece " + std::to_string(k) + " (start " + std::to_string(p.start) + ", " +
                            std::to_string(p.length) + " sweeps) does not follow the one before it (expected start " +
                            std::to_string(start) + ", at least 1 sweep)");
    }
    start += p.length;
  }
  if (offset < 0 || offset > std::numeric_limits<int64_t>::max() / 2) {
    throw InvalidArgument("beta schedule: offset " + std::to_string(offset) + " is out of range");
  }
  BetaSchedule b(std::move(per_sweep), std::move(pieces));  // checks the betas, and that there are some
  b.offset_ = offset;
  return b;
}

float BetaSchedule::at(int64_t sweep) const { return at_absolute(offset_ + std::max<int64_t>(sweep, 0)); }

int64_t BetaSchedule::length() const {
  const int64_t whole = per_sweep_.empty() ? pieces_.back().start + pieces_.back().length : static_cast<int64_t>(per_sweep_.size());
  return std::max<int64_t>(whole - offset_, 1);
}

BetaSchedule BetaSchedule::after(int64_t sweeps) const {
  if (sweeps < 0) throw InvalidArgument("BetaSchedule::after: negative sweep count " + std::to_string(sweeps));
  BetaSchedule b = *this;
  b.offset_ = offset_ + std::min<int64_t>(sweeps, std::numeric_limits<int64_t>::max() / 2 - offset_);
  return b;
}

std::vector<float> BetaSchedule::expand(int64_t first, int64_t sweeps) const {
  if (sweeps > (int64_t{1} << 20)) {  // 4 MB and less: no check (Sampler::run fills its stretches itself)
    detail::check_memory(4.0 * static_cast<double>(sweeps), "a beta schedule of " + std::to_string(sweeps) + " sweeps");
  }
  std::vector<float> out(static_cast<size_t>(std::max<int64_t>(sweeps, 0)));
  for (int64_t k = 0; k < sweeps; ++k) out[k] = at(first + k);
  return out;
}

// ---------------------------------------------------------------- sampler

SamplerOptions sampler_options(const std::string& backend, uint64_t seed, uint32_t stream, int threads) {
  SamplerOptions o;
  o.backend = backend_from_string(backend);
  o.seed = seed;
  o.stream = stream;
  o.num_threads = threads;
  return o;
}

namespace {

std::unique_ptr<detail::GibbsEngine> make_engine(const Graph& g, const Coloring& c, int32_t chains,
                                                 const SamplerOptions& opt) {
  switch (opt.backend) {
    case Backend::reference: return detail::make_reference_engine(g, c, chains, opt);
    case Backend::cpu: return detail::make_cpu_engine(g, c, chains, opt);
    case Backend::cuda: return detail::make_cuda_engine(g, c, chains, opt);
    case Backend::packed: return detail::make_packed_engine(g, c, chains, opt);
  }
  throw InvalidArgument("unknown backend");
}

void check_node(int32_t i, int32_t n, const char* what) {
  if (i < 0 || i >= n) {
    throw InvalidArgument(std::string(what) + ": node index " + std::to_string(i) + " out of range [0, " +
                          std::to_string(n) + ")");
  }
}

}  // namespace

void ObserverSpec::check_readout_groups(int32_t num_nodes) const {
  for (size_t g = 0; g < readout_groups.size(); ++g) {
    const std::string which = "readout group " + std::to_string(g);
    if (readout_groups[g].empty()) throw InvalidArgument(which + " is empty");
    for (int32_t i : readout_groups[g]) check_node(i, num_nodes, which.c_str());
    std::vector<int32_t> sorted = readout_groups[g];
    std::sort(sorted.begin(), sorted.end());
    if (const auto d = std::adjacent_find(sorted.begin(), sorted.end()); d != sorted.end()) {
      throw InvalidArgument(which + " lists node " + std::to_string(*d) + " twice (it would be counted twice)");
    }
  }
}

namespace {

/// `values` holds K entries shared by every chain, or B x K chain-major entries; returns B x K.
template <class T>
std::vector<T> per_chain(std::span<const T> values, size_t k, int32_t chains, const char* what, const char* letter) {
  if (values.size() == k) {
    std::vector<T> full(k * chains);
    for (int32_t b = 0; b < chains; ++b) std::copy(values.begin(), values.end(), full.begin() + b * k);
    return full;
  }
  if (values.size() == k * chains) return std::vector<T>(values.begin(), values.end());
  throw InvalidArgument(std::string(what) + ": expected " + letter + " = " + std::to_string(k) + " or B x " + letter + " = " +
                        std::to_string(k * chains) + " values, got " + std::to_string(values.size()));
}

void check_unique(std::vector<int32_t> nodes, const char* what) {
  std::sort(nodes.begin(), nodes.end());
  const auto it = std::adjacent_find(nodes.begin(), nodes.end());
  if (it != nodes.end()) throw InvalidArgument(std::string(what) + ": node " + std::to_string(*it) + " listed twice");
}

/// What both constructors check before they color the graph or allocate anything.
void check_arguments(const Graph& graph, int32_t num_chains, const SamplerOptions& options) {
  if (num_chains < 1) throw InvalidArgument("num_chains must be >= 1, got " + std::to_string(num_chains));
  // The backends round chain counts up to words and blocks in 32-bit arithmetic; 2^30 leaves room.
  if (num_chains > (int32_t{1} << 30)) throw InvalidArgument("num_chains must be at most 2^30, got " + std::to_string(num_chains));
  if (static_cast<uint64_t>(options.first_chain) + static_cast<uint64_t>(num_chains) > (uint64_t{1} << 32)) {
    throw InvalidArgument("first_chain + num_chains must be at most 2^32 (the RNG counter's chain field), got " +
                          std::to_string(options.first_chain) + " + " + std::to_string(num_chains));
  }
  if (graph.num_nodes() < 1) throw InvalidArgument("the graph has no nodes");
  if (options.contract != RngContract::exact && options.contract != RngContract::fast) {
    throw InvalidArgument("SamplerOptions::contract " + std::to_string(static_cast<uint32_t>(options.contract)) +
                          " is not an RNG contract (exact or fast)");
  }
  // Every option is checked whatever the backend (a negative thread count was read as the default,
  // and the CUDA ones were checked only where CUDA ran).
  if (options.num_threads < 0) {  // (a request past 4 threads a core runs on 4 a core)
    throw InvalidArgument("SamplerOptions::num_threads must be >= 0 (0 = OpenMP's default), got " + std::to_string(options.num_threads));
  }
  if (options.device < -1) throw InvalidArgument("SamplerOptions::device must be a device ordinal or -1 (automatic), got " + std::to_string(options.device));
  if (options.cuda_team_warps < 0 || options.cuda_team_warps > detail::kMaxTeamWarps) {
    throw InvalidArgument("SamplerOptions::cuda_team_warps must be 1.." + std::to_string(detail::kMaxTeamWarps) +
                          " (0 = chosen by occupancy), got " + std::to_string(options.cuda_team_warps));
  }
  if (options.fast_words_per_lane != 0 && options.fast_words_per_lane != 1 && options.fast_words_per_lane != 2 && options.fast_words_per_lane != 4) {
    throw InvalidArgument("SamplerOptions::fast_words_per_lane must be 1, 2 or 4 (0 = automatic), got " + std::to_string(options.fast_words_per_lane));
  }
}

}  // namespace

Sampler::Sampler(const Graph& graph, int32_t num_chains, SamplerOptions options)
    : Sampler(graph, (check_arguments(graph, num_chains, options), color_graph(graph)), num_chains, options) {}

double Sampler::state_bytes(Backend backend, int64_t num_chains, int32_t num_nodes) {
  // As the engines lay the chains out: one byte a spin, twice for the copies a backend makes
  // (reference, cuda's host copies); cpu: float spins in rows padded to 16 chains, and a byte copy;
  // packed: the bytes and bit words, ceil(B / 32) a node rounded up to the lane's up-to-4 words.
  if (num_chains < 0 || num_nodes < 0) {
    throw InvalidArgument("state_bytes: chains and nodes must be >= 0, got " + std::to_string(num_chains) + " and " + std::to_string(num_nodes));
  }
  const double B = static_cast<double>(num_chains), N = num_nodes;
  switch (backend) {
    case Backend::cpu: return 4.0 * 16.0 * std::ceil(B / 16.0) * N + B * N;
    case Backend::packed: return 2.0 * B * N + 4.0 * (std::ceil(B / 32.0) + 3.0) * N;
    default: return 2.0 * B * N;
  }
}

Sampler::Sampler(const Graph& graph, const Coloring& coloring, int32_t num_chains, SamplerOptions options)
    : graph_(graph), coloring_(coloring), num_chains_(num_chains), options_(options) {
  check_arguments(graph, num_chains, options);
  // A coloring built for another graph (or another node count) would silently break the sweep.
  verify_coloring(graph_, coloring_.colors());
  // The chains' state on the host, checked before it is allocated.
  detail::check_memory(state_bytes(options_.backend, num_chains, graph.num_nodes()) + graph_bytes(graph.num_nodes(), graph.num_edges()),
                       std::to_string(num_chains) + " chains of " + std::to_string(graph.num_nodes()) + " nodes on the " +
                           to_string(options_.backend) + " backend");
  options_.hardware.validate();
  on_hardware_ = !options_.hardware.ideal();
  if (on_hardware_) {
    const PbitHardware& hw = options_.hardware;
    input_stage_ = hw.input_bits != 0 || hw.lut_bits != 0;
    device_ = draw_device(hw, graph_.num_nodes(), 0);
    // The cpu engine's vectorised loop has no input stage and no LFSR, the bit-packed loops no LFSR:
    // the reference loop (or the simple CUDA kernel) runs those devices.
    SamplerOptions eo = options_;
    if (input_stage_ && eo.backend == Backend::cpu) eo.backend = Backend::reference;
    if (hw.lfsr()) {
      if (options_.contract != RngContract::exact) {
        throw InvalidArgument("SamplerOptions::hardware: rng 'lfsr' takes the exact contract's 32-bit decision; the fast contract "
                              "is refused");
      }
      if (eo.backend == Backend::cpu || eo.backend == Backend::packed) eo.backend = Backend::reference;
      if (eo.backend == Backend::cuda) eo.cuda_kernel = CudaKernel::simple;
    }
    engine_ = make_engine(device_graph(graph_), coloring_, num_chains_, eo);
    if (hw.lfsr()) {
      engine_->set_lfsr(static_cast<uint32_t>(hw.lfsr_steps), rng::make_key(options_.seed, rng::hardware_stream(rng::HardwareUse::lfsr)),
                        options_.stream);
    }
    if (input_stage_) {
      detail::HostActivation a;
      a.gain = device_.gain;
      a.offset = device_.offset;
      const InputStageConstants c = input_stage(hw);
      a.in_step = c.in_step, a.in_levels = c.in_levels, a.lut_range = c.lut_range, a.lut_cells = c.lut_cells;
      engine_->set_activation(a);
    }
    push_clamps();
  } else {
    engine_ = make_engine(graph_, coloring_, num_chains_, options_);
  }
  randomize_state();
}

/// What node i feels on the device: g_i (sum_j q(J_ij) s_j + q(h_i)) + o_i, as per-row couplings
/// g_i q(J_ij) and biases g_i q(h_i) + o_i (fixed point q of weight_bits). With an input stage the
/// gain and offset act there instead, and the graph holds q(J_ij) and q(h_i).
Graph Sampler::device_graph(const Graph& ideal) const {
  const PbitHardware& hw = options_.hardware;
  std::vector<float> w = ideal.weights(), h = ideal.biases();
  if (h.empty()) h.assign(static_cast<size_t>(ideal.num_nodes()), 0.0f);
  if (input_stage_) {
    for (float& v : w) v = hardware_weight(hw, v);
    for (float& v : h) v = hardware_weight(hw, v);
    return ideal.with_row_weights(std::move(w), std::move(h));
  }
  for (int32_t i = 0; i < ideal.num_nodes(); ++i) {
    for (int64_t k = ideal.row_ptr()[i]; k < ideal.row_ptr()[i + 1]; ++k) w[k] = device_.gain[i] * hardware_weight(hw, w[k]);
    h[i] = device_.gain[i] * hardware_weight(hw, h[i]) + device_.offset[i];
  }
  return ideal.with_row_weights(std::move(w), std::move(h));
}

/// The user's clamps and the stuck p-bits (which win) to the engine.
void Sampler::push_clamps() {
  std::vector<int32_t> nodes;
  std::vector<int8_t> values;
  const size_t k = user_clamp_nodes_.size();
  std::vector<int32_t> stuck;
  for (int32_t i = 0; i < num_nodes(); ++i)
    if (device_.stuck[i]) stuck.push_back(i);
  std::vector<size_t> keep;
  for (size_t q = 0; q < k; ++q)
    if (!device_.stuck[user_clamp_nodes_[q]]) keep.push_back(q);
  nodes.reserve(keep.size() + stuck.size());
  for (size_t q : keep) nodes.push_back(user_clamp_nodes_[q]);
  for (int32_t i : stuck) nodes.push_back(i);
  values.resize(static_cast<size_t>(num_chains_) * nodes.size());
  for (int32_t b = 0; b < num_chains_; ++b) {
    int8_t* row = values.data() + static_cast<size_t>(b) * nodes.size();
    size_t c = 0;
    for (size_t q : keep) row[c++] = user_clamp_values_[static_cast<size_t>(b) * k + q];
    for (int32_t i : stuck) row[c++] = device_.stuck[i];
  }
  engine_->set_clamp(nodes, values);
  clamp_nodes_ = std::move(nodes);
}

Sampler::~Sampler() = default;

std::string Sampler::kernel_description() const {
  check_live();
  return engine_->describe();
}
Sampler::Sampler(Sampler&&) noexcept = default;
Sampler& Sampler::operator=(Sampler&&) noexcept = default;

void Sampler::check_live() const {
  if (!engine_) {
    throw InvalidArgument("pbit::Sampler used after it was moved from: a moved-from sampler may only be assigned to or destroyed");
  }
}

void Sampler::randomize_state() {
  check_live();
  engine_->randomize_state(options_.seed, options_.stream, static_cast<uint32_t>(sweep_count_));  // <= 2^32 - 1 (set_sweep_count)
  engine_->apply_clamp();
}

void Sampler::set_state(std::span<const int8_t> spins) {
  check_live();
  const size_t want = static_cast<size_t>(num_chains_) * num_nodes();
  if (spins.size() != want) {
    throw InvalidArgument("set_state: expected B x N = " + std::to_string(want) + " spins, got " +
                          std::to_string(spins.size()));
  }
  for (size_t k = 0; k < spins.size(); ++k) {
    if (spins[k] != 1 && spins[k] != -1) {
      throw InvalidArgument("set_state: spin " + std::to_string(k) + " (chain " + std::to_string(k / num_nodes()) +
                            ", node " + std::to_string(k % num_nodes()) + ") is " + std::to_string(spins[k]) +
                            "; spins must be -1 or +1");
    }
  }
  engine_->set_state(spins);
  engine_->apply_clamp();
}

std::vector<int8_t> Sampler::state() const {
  check_live();
  std::vector<int8_t> s(static_cast<size_t>(num_chains_) * num_nodes());
  engine_->get_state(s);
  return s;
}

std::vector<int8_t> Sampler::state_rows(int32_t first, int32_t stride, int32_t count) const {
  check_live();
  if (first < 0 || stride < 1 || count < 0 ||
      (count > 0 && static_cast<int64_t>(first) + static_cast<int64_t>(count - 1) * stride >= num_chains_)) {
    throw InvalidArgument("state_rows: chains " + std::to_string(first) + ", " + std::to_string(first) + " + " + std::to_string(stride) +
                          ", ... (" + std::to_string(count) + " of them) are not all among the sampler's " + std::to_string(num_chains_) +
                          " chains (first >= 0, stride >= 1, count >= 0)");
  }
  const size_t N = static_cast<size_t>(num_nodes());
  std::vector<int8_t> out(static_cast<size_t>(count) * N);
  if (count == 0 || engine_->get_rows(out, first, stride, count)) return out;
  const std::vector<int8_t> all = state();
  for (int32_t k = 0; k < count; ++k) {
    std::copy_n(all.begin() + static_cast<ptrdiff_t>((static_cast<size_t>(first) + static_cast<size_t>(k) * stride) * N), N,
                out.begin() + static_cast<ptrdiff_t>(static_cast<size_t>(k) * N));
  }
  return out;
}

void set_moment_means(Observations& o, int32_t chains) {
  const double denom = static_cast<double>(chains) * static_cast<double>(o.num_samples);
  for (size_t i = 0; i < o.node_sum.size() && i < o.node_mean.size(); ++i) o.node_mean[i] = static_cast<double>(o.node_sum[i]) / denom;
  for (size_t e = 0; e < o.edge_sum.size() && e < o.edge_corr.size(); ++e) o.edge_corr[e] = static_cast<double>(o.edge_sum[e]) / denom;
}

Sampler::StateView Sampler::state_view() const {
  check_live();
  StateView v;
  v.chains = num_chains_;
  v.nodes = num_nodes();
  detail::DeviceState d;
  if (engine_->export_state(d)) {  // cuda: on the device
    v.data = d.data;
    v.on_device = true;
    v.device = d.device;
    v.owner = std::move(d.owner);
    return v;
  }
  auto host = std::make_shared<std::vector<int8_t>>(state());
  v.data = host->data();
  v.owner = std::move(host);
  return v;
}

void Sampler::set_clamp(std::vector<int32_t> nodes, std::span<const int8_t> values) {
  check_live();
  for (int32_t i : nodes) check_node(i, num_nodes(), "set_clamp");
  check_unique(nodes, "set_clamp");
  const size_t k = nodes.size();
  const std::vector<int8_t> full = per_chain(values, k, num_chains_, "set_clamp", "K");
  for (size_t q = 0; q < full.size(); ++q) {
    if (full[q] != 1 && full[q] != -1) {
      throw InvalidArgument("set_clamp: value " + std::to_string(full[q]) + " (index " + std::to_string(q) +
                            ") is not a spin; clamped spins must be -1 or +1");
    }
  }
  if (k == 0) {
    clear_clamp();
    return;
  }
  if (on_hardware_) {
    user_clamp_nodes_ = std::move(nodes);
    user_clamp_values_ = full;
    push_clamps();
    return;
  }
  engine_->set_clamp(nodes, full);
  clamp_nodes_ = std::move(nodes);
}

void Sampler::clear_clamp() {
  check_live();
  if (on_hardware_) {
    user_clamp_nodes_.clear();
    user_clamp_values_.clear();
    push_clamps();
    return;
  }
  std::vector<int32_t> none;
  engine_->set_clamp(none, {});
  clamp_nodes_.clear();
}

void Sampler::set_field(std::vector<int32_t> nodes, std::span<const float> values) {
  check_live();
  if (nodes.empty()) {
    nodes.resize(num_nodes());
    for (int32_t i = 0; i < num_nodes(); ++i) nodes[i] = i;
  }
  for (int32_t i : nodes) check_node(i, num_nodes(), "set_field");
  check_unique(nodes, "set_field");
  const size_t m = nodes.size();
  const std::vector<float> full = per_chain(values, m, num_chains_, "set_field", "M");
  for (size_t q = 0; q < full.size(); ++q) {
    if (!std::isfinite(full[q]) || std::fabs(full[q]) > Graph::kMaxLocalField) {
      std::ostringstream os;
      os << "set_field: entry " << q << " (chain " << q / m << ", node " << nodes[q % m] << ") is " << full[q]
         << "; fields must be finite and at most 1e37 in magnitude";
      throw InvalidArgument(os.str());
    }
  }
  field_nodes_ = nodes;
  field_ = full;
  if (on_hardware_ && !input_stage_) {  // the device amplifies a field like any input: g_i f_i
    std::vector<float> scaled(full);
    for (size_t q = 0; q < scaled.size(); ++q) scaled[q] *= device_.gain[nodes[q % m]];
    engine_->set_field(nodes, scaled);
    return;
  }
  engine_->set_field(nodes, full);
}

void Sampler::clear_field() {
  check_live();
  engine_->set_field({}, {});
  field_nodes_.clear();
  field_.clear();
}

std::vector<double> Sampler::chain_energies() const {
  check_live();
  if (on_hardware_) {
    throw InvalidArgument("chain_energies: the model's energy is not what a device with imperfections samples; use ideal p-bits");
  }
  std::vector<double> e(static_cast<size_t>(num_chains_));
  if (engine_->chain_energies(e)) return e;
  const std::vector<int8_t> st = state();
  const std::vector<float> w = graph_.edge_weights();
  const size_t N = static_cast<size_t>(num_nodes()), m = field_nodes_.size();
  // One chain per iteration, each summed in Graph::energy's order: the same whatever the thread count.
  const int64_t B = num_chains_;
  const double units = detail::kHostUnitsPerVisit * static_cast<double>(B) * (static_cast<double>(w.size()) + static_cast<double>(N));
  detail::parallel_for(B, options_.num_threads, units, [&](int64_t b) {
    const std::span<const int8_t> s(st.data() + static_cast<size_t>(b) * N, N);
    double v = graph_.energy(s, w);
    for (size_t q = 0; q < m; ++q) v -= static_cast<double>(field_[static_cast<size_t>(b) * m + q]) * s[static_cast<size_t>(field_nodes_[q])];
    e[static_cast<size_t>(b)] = v;
  });
  return e;
}

void Sampler::permute_chains(std::span<const int32_t> src) {
  check_live();
  if (src.size() != static_cast<size_t>(num_chains_)) {
    throw InvalidArgument("permute_chains: expected B = " + std::to_string(num_chains_) + " chain indices, got " + std::to_string(src.size()));
  }
  std::vector<uint8_t> seen(src.size(), 0);
  for (int32_t c : src) {
    if (c < 0 || c >= num_chains_ || seen[static_cast<size_t>(c)]) {
      throw InvalidArgument("permute_chains: not a permutation of the chains 0.." + std::to_string(num_chains_ - 1));
    }
    seen[static_cast<size_t>(c)] = 1;
  }
  engine_->permute_chains(src, num_nodes());
  engine_->apply_clamp();
}

void Sampler::set_chain_betas(std::span<const float> factors) {
  check_live();
  if (!factors.empty() && factors.size() != static_cast<size_t>(num_chains_)) {
    throw InvalidArgument("set_chain_betas: expected B = " + std::to_string(num_chains_) + " factors (or none), got " +
                          std::to_string(factors.size()));
  }
  for (size_t b = 0; b < factors.size(); ++b) {
    if (!(factors[b] > 0.0f && factors[b] <= 1e6f)) {  // NaN fails too
      std::ostringstream os;
      os << "set_chain_betas: factor " << b << " is " << factors[b] << "; factors must be finite and in (0, 1e6]";
      throw InvalidArgument(os.str());
    }
  }
  chain_betas_.assign(factors.begin(), factors.end());
  engine_->set_chain_beta_scale(chain_betas_);
}

void Sampler::set_weights(std::span<const float> edge_weights, std::span<const float> biases) {
  check_live();
  Graph g = graph_;
  g.set_edge_weights(edge_weights);
  g.set_biases(biases);
  engine_->set_weights(on_hardware_ ? device_graph(g) : g);
  graph_ = std::move(g);
}

void Sampler::sweep(int64_t sweeps, const BetaSchedule& beta) {
  // (run() would name the schedule's warmup, which the caller never gave: helper-109)
  if (sweeps < 0) throw InvalidArgument("sweep: sweeps must be >= 0, got " + std::to_string(sweeps));
  run(SamplingSchedule{sweeps, 0, 1}, beta, {});
}

Observations Sampler::run(const SamplingSchedule& schedule_arg, const BetaSchedule& beta, const ObserverSpec& observe) {
  check_live();
  // A copy: the buffers are sized from it, and a progress callback (or another thread, in Python)
  // that changed the caller's schedule mid-run would otherwise have the loop write past them.
  const SamplingSchedule schedule = schedule_arg;
  schedule.validate();
  const int64_t total = schedule.total_sweeps();
  // The RNG counter holds the sweep index in 32 bits; beyond that uniforms would repeat.
  // (Written so that no sum wraps: a sweep count set past 2^32 by set_sweep_count is refused too.)
  if (sweep_count_ > SamplingSchedule::kMaxSweeps || static_cast<uint64_t>(total) > SamplingSchedule::kMaxSweeps - sweep_count_) {
    throw InvalidArgument("run would pass 2^32 - 1 sweeps on one sampler (the RNG counter's sweep field)");
  }
  if (observe.energy && on_hardware_) {  // the engine would sum the device's per-row couplings (helper-116)
    throw InvalidArgument("observing energy: the model's energy is not what a device with imperfections samples; use ideal p-bits");
  }
  detail::ObserveConfig cfg;
  cfg.moments = observe.moments;
  cfg.energy = observe.energy;
  cfg.num_samples = schedule.samples;
  std::vector<int64_t> snaps = observe.snapshot_sweeps;
  std::sort(snaps.begin(), snaps.end());
  for (int64_t s : snaps) {
    if (s < 1 || s > total) {
      throw InvalidArgument("snapshot sweep " + std::to_string(s) + " is outside the run's sweeps 1.." +
                            std::to_string(total));
    }
  }
  if (std::adjacent_find(snaps.begin(), snaps.end()) != snaps.end()) {
    throw InvalidArgument("snapshot sweeps must be distinct");
  }
  cfg.num_snapshots = static_cast<int64_t>(snaps.size());
  // What the run will hold, checked before the engine allocates it (energies, snapshots, read-outs,
  // moments; the engine may keep a second copy of each).
  const double B = num_chains_, N = num_nodes();
  if (const double bytes = 2.0 * (observe.energy ? 8.0 * static_cast<double>(schedule.samples) * B : 0.0) +
                           2.0 * static_cast<double>(cfg.num_snapshots) * B * N + 16.0 * B * static_cast<double>(observe.readout_groups.size()) +
                           (observe.moments ? 16.0 * (N + static_cast<double>(graph_.num_edges())) : 0.0);
      bytes > detail::kUncheckedRunBytes) {
    detail::check_memory(bytes, "the observations of this run (" + std::to_string(schedule.samples) + " samples, " +
                                    std::to_string(cfg.num_snapshots) + " snapshots of " + std::to_string(num_chains_) + " chains)");
  }
  cfg.group_offsets.push_back(0);
  observe.check_readout_groups(num_nodes());
  for (const auto& grp : observe.readout_groups) {
    cfg.group_nodes.insert(cfg.group_nodes.end(), grp.begin(), grp.end());
    cfg.group_offsets.push_back(static_cast<int64_t>(cfg.group_nodes.size()));
  }

  // The betas of one stretch at a time (at most 2^20 sweeps: 4 MB), so a long run costs no memory for
  // its schedule; stretches are cut anywhere without changing the chains.
  // An LFSR device's engine builds 128 bytes of sweep matrices a sweep of the stretch: 2^14 sweeps
  // (2 MB) at most then.
  const int64_t max_stretch = on_hardware_ && options_.hardware.lfsr() ? int64_t{1} << 14 : int64_t{1} << 20;
  std::vector<float> betas;
  auto betas_of = [&](int64_t first, int64_t n) -> std::span<const float> {  // no allocation or memory check per stretch
    betas.resize(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) betas[static_cast<size_t>(k)] = beta.at(first + k);
    if (on_hardware_ && options_.hardware.beta_offset != 0.0f) {  // a miscalibrated temperature
      for (float& b : betas) b *= 1.0f + options_.hardware.beta_offset;
    }
    return betas;
  };
  engine_->begin_observation(cfg);
  // Observation points, in sweep counts within the run.
  int64_t done = 0, next_sample = 1, snap_idx = 0;
  auto sample_at = [&](int64_t m) { return schedule.warmup + m * schedule.steps_per_sample; };
  // With a progress callback, stretches of at most 1% of the run (unless !progress_every_percent_) and
  // about a quarter second, so that the callback (and Ctrl-C in Python) is heard often on slow runs
  // too; split runs are bit-identical.
  // (1% rounded down, as the tempered sampler's: 4 sweeps of 341 would be 1.17%, helper-110)
  const int64_t max_piece = progress_ && progress_every_percent_ ? std::max<int64_t>(1, total / 100) : total;
  int64_t piece = progress_ ? std::min<int64_t>(max_piece, 8) : total;  // without a callback: one stretch
  while (done < total) {
    int64_t stop = std::min({total, done + piece, done + max_stretch});
    const int64_t first = done;
    const auto t_stretch = progress_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    if (next_sample <= schedule.samples) stop = std::min(stop, sample_at(next_sample));
    if (snap_idx < cfg.num_snapshots) stop = std::min(stop, snaps[snap_idx]);
    engine_->sweeps(sweep_count_ + done, betas_of(done, stop - done));
    done = stop;
    if (next_sample <= schedule.samples && sample_at(next_sample) == done) {
      engine_->observe(next_sample - 1);
      ++next_sample;
    }
    if (snap_idx < cfg.num_snapshots && snaps[snap_idx] == done) engine_->snapshot(snap_idx++);
    if (progress_) {
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_stretch).count();
      const double per_sweep = dt / static_cast<double>(done - first);
      piece = per_sweep > 0 ? std::clamp<int64_t>(static_cast<int64_t>(0.25 / per_sweep), 1, max_piece) : max_piece;
      try {
        progress_(done, total);
      } catch (...) {
        sweep_count_ += static_cast<uint64_t>(done);  // the chains hold the sweeps done
        Observations discard;
        engine_->end_observation(discard);
        throw;
      }
    }
  }
  sweep_count_ += static_cast<uint64_t>(total);

  Observations out;
  out.num_chains = num_chains_;
  out.num_samples = schedule.samples;
  out.sweeps = total;
  engine_->end_observation(out);
  if (cfg.moments && schedule.samples > 0) {
    out.node_mean.resize(out.node_sum.size());
    out.edge_corr.resize(out.edge_sum.size());
    set_moment_means(out, num_chains_);
  }
  const int32_t ng = cfg.num_groups();
  if (ng > 0 && schedule.samples > 0) {
    out.readout_mean.resize(out.readout_sum.size());
    for (int32_t b = 0; b < num_chains_; ++b) {
      for (int32_t g = 0; g < ng; ++g) {
        const double size = static_cast<double>(cfg.group_offsets[g + 1] - cfg.group_offsets[g]);
        out.readout_mean[static_cast<size_t>(b) * ng + g] =
            static_cast<double>(out.readout_sum[static_cast<size_t>(b) * ng + g]) / (size * schedule.samples);
      }
    }
  }
  return out;
}

}  // namespace pbit
