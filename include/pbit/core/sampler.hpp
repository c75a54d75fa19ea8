// Multicolor block Gibbs sampling of B independent chains on one Ising graph.
//
//   P(s_i = +1 | rest) = sigmoid(2 beta (sum_j J_ij s_j + h_i + f_ci)),   s in {-1, +1}
//
// One sweep updates the color classes of the Coloring in order. Clamped nodes are never updated.
// f is an optional per-chain external field on a subset of nodes (B x M), used e.g. by DTMs.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pbit/core/backend.hpp"
#include "pbit/core/hardware_model.hpp"
#include "pbit/core/coloring.hpp"
#include "pbit/error.hpp"
#include "pbit/core/graph.hpp"
#include "pbit/core/rng.hpp"

namespace pbit {

/// thrml's vocabulary: `warmup` sweeps, then `samples` observations, each after `steps_per_sample`
/// further sweeps. Total sweeps = warmup + samples * steps_per_sample.
struct SamplingSchedule {
  int64_t warmup = 0;
  int64_t samples = 1;
  int64_t steps_per_sample = 1;
  /// The most sweeps one sampler runs, all its runs together: its RNG counter holds the sweep in 32 bits.
  static constexpr int64_t kMaxSweeps = 0xFFFFFFFF;
  /// The most a config or Python gives one field (their total must still be at most kMaxSweeps).
  static constexpr int64_t kMaxField = kMaxSweeps + 1;
  int64_t total_sweeps() const { return warmup + samples * steps_per_sample; }
  /// InvalidArgument for negative values, steps_per_sample < 1, or a total past kMaxSweeps.
  void validate() const;
  /// Empty when the total is at most kMaxSweeps, else the sum that passes it (compared by division, so
  /// no product wraps), its first term named `warmup` as the caller's config calls it ("anneal_sweeps").
  /// For fields validate() otherwise accepts.
  std::string past_sweep_limit(std::string_view warmup_name = "warmup") const;
};

/// Inverse temperature per sweep of a run. Sweep k (0-based, within the run) uses at(k); a schedule
/// shorter than the run holds its last value. Every beta is finite and in [0, 1e30] (2 beta times a
/// per-chain factor must stay a float): others are InvalidArgument.
class BetaSchedule {
 public:
  BetaSchedule() : per_sweep_{1.0f} {}
  static BetaSchedule constant(float beta);
  /// One beta per sweep.
  static BetaSchedule per_sweep(std::vector<float> betas);
  /// Piecewise constant: (beta, sweeps) segments in order, e.g. the DBM annealing 0, 0.125, ..., 5.
  static BetaSchedule piecewise(const std::vector<std::pair<float, int64_t>>& segments);
  /// Linear from b0 to b1 over `sweeps` sweeps (inclusive ends), then b1.
  static BetaSchedule linear(float b0, float b1, int64_t sweeps);

  float at(int64_t sweep) const;
  /// The per-sweep values for a run of `sweeps` sweeps (4 bytes a sweep, checked against memory).
  std::vector<float> expand(int64_t sweeps) const { return expand(0, sweeps); }
  /// The values of sweeps first .. first + sweeps - 1.
  std::vector<float> expand(int64_t first, int64_t sweeps) const;
  /// The schedule from sweep `sweeps` on: after(n).at(k) == at(n + k). For running one schedule in
  /// pieces (s.sweep(n, beta); s.sweep(m, beta.after(n))).
  BetaSchedule after(int64_t sweeps) const;
  /// Sweeps the schedule spells out (after them the last value holds).
  int64_t length() const;

  /// Linear from `from` at sweep `start` to `to` at start + length - 1; from == to for a constant.
  struct Piece {
    int64_t start, length;
    float from, to;
    bool operator==(const Piece&) const = default;
  };
  /// What a schedule is made of, for saving it (the Python module pickles it): per-sweep values or
  /// pieces (one of the two is empty), and the sweeps after() dropped from the front.
  const std::vector<float>& per_sweep_values() const { return per_sweep_; }
  const std::vector<Piece>& pieces() const { return pieces_; }
  int64_t offset() const { return offset_; }
  /// The schedule those parts describe, checked as the named constructors check theirs: one of
  /// per_sweep and pieces given, pieces back to back from sweep 0, each at least a sweep long,
  /// betas in range, 0 <= offset <= the longest after(). Throws InvalidArgument otherwise.
  static BetaSchedule from_parts(std::vector<float> per_sweep, std::vector<Piece> pieces, int64_t offset);
  /// The same parts: schedules built the same way (constant(b) == per_sweep({b}), but piecewise and
  /// linear schedules are not compared value by value with per-sweep ones).
  bool operator==(const BetaSchedule&) const = default;

 private:
  BetaSchedule(std::vector<float> per_sweep, std::vector<Piece> pieces);
  float at_absolute(int64_t sweep) const;
  // Piecewise and linear schedules keep their pieces, not a value per sweep: a long anneal costs
  // nothing until a stretch of it runs.
  std::vector<float> per_sweep_;
  std::vector<Piece> pieces_;
  int64_t offset_ = 0;  ///< after(): sweeps dropped from the front
};

/// What to observe during a run. Observers run on the backend's device; only their results come back.
struct ObserverSpec {
  /// Per-node <s_i> and per-edge <s_i s_j>, averaged over chains and samples (training statistics).
  bool moments = false;
  /// Energy E(s) of every chain at every sample (samples x B). Excludes the per-chain field f. Refused on
  /// imperfect hardware (the device samples its own per-row couplings, no model's E(s)).
  bool energy = false;
  /// Node groups; for each chain and group, the mean of s over the group's nodes and the samples
  /// (label read-out). Result is B x G.
  std::vector<std::vector<int32_t>> readout_groups;
  /// Throws InvalidArgument for an empty group, a node outside [0, num_nodes) or a node listed twice
  /// in one group (it would be counted twice); Sampler::run and TemperedSampler::run call it.
  void check_readout_groups(int32_t num_nodes) const;
  /// Sweep counts within the run (1 = after the first sweep) at which to copy the full state,
  /// distinct, in any order; the snapshots come back in increasing sweep order.
  std::vector<int64_t> snapshot_sweeps;
};

/// Results of one run. Integer sums are exact and identical on every backend; means derive from them.
/// What was not observed is empty, and so are the means (node_mean, edge_corr, readout_mean) of a run
/// without samples (num_samples == 0: there is nothing to average), while its sums are zeros of their
/// full size; observations_to_json writes those means as null.
struct Observations {
  int32_t num_chains = 0;
  int64_t num_samples = 0;
  int64_t sweeps = 0;
  std::vector<int64_t> node_sum;   ///< N: sum over samples and chains of s_i
  std::vector<int64_t> edge_sum;   ///< E: sum over samples and chains of s_i s_j (edge order)
  std::vector<double> node_mean;   ///< N: node_sum / (B * samples)
  std::vector<double> edge_corr;   ///< E: edge_sum / (B * samples)
  std::vector<double> energy;      ///< samples x B (row = sample)
  std::vector<int64_t> readout_sum;  ///< B x G: sum over samples and group nodes of s
  std::vector<double> readout_mean;  ///< B x G: readout_sum / (samples * group size)
  std::vector<int8_t> snapshots;   ///< snapshot_sweeps.size() x B x N (chain-major), in increasing sweep order
};

/// node_mean and edge_corr from the integer sums over `chains` chains and o.num_samples samples, the
/// one formula Sampler::run and the MPI all-reduce (dist::allreduce_moments) both use, so that a
/// sharded run's means are one process's to the last bit.
void set_moment_means(Observations& o, int32_t chains);

struct SamplerOptions {
  Backend backend = Backend::cpu;
  uint64_t seed = 0;
  uint32_t stream = rng::kGibbs;  ///< Philox stream for the update uniforms; keys the initial states too
  /// How randomness becomes a decision: `exact` (default) or `fast` (rng.hpp; docs/ARCHITECTURE.md,
  /// "Determinism"). Every backend gives the same chains under each.
  RngContract contract = RngContract::exact;
  int num_threads = 0;            ///< cpu backend: OpenMP threads, >= 0 (0 = OpenMP default; at most 4 a core run, fewer where a region's work is small)
  /// cpu backend: the instruction-set path (automatic: the widest this CPU runs, or PBIT_CPU_ISA).
  CpuIsa cpu_isa = CpuIsa::automatic;
  /// cuda backend: device ordinal, or -1 (the default): the process's local rank under mpirun or srun
  /// (OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID, PMI_LOCAL_RANK, SLURM_LOCALID) modulo the visible devices, so that
  /// the ranks on one node take one GPU each; 0 for a plain process (docs/SCALING.md).
  int device = -1;
  /// cuda backend: which sweep kernel (docs/FAST_KERNEL.md). `automatic` picks by occupancy (the fast
  /// kernel when it puts a block on every multiprocessor) and may be overridden by the environment
  /// variable PBIT_CUDA_KERNEL=simple|fast|auto; an explicit choice here ignores the variable. Asking
  /// for `fast` on a graph whose state words do not fit in one block's shared memory is an error.
  CudaKernel cuda_kernel = CudaKernel::automatic;
  /// cuda backend, fast kernel: warps per block (the team that shares one 32-chain word), 1..16;
  /// 0 = chosen by occupancy, or PBIT_CUDA_FAST_WARPS when set. Results never depend on it.
  int cuda_team_warps = 0;
  /// cuda backend's fast kernel and the packed backend (its loop on the host): 32-chain words per
  /// lane, 1, 2 or 4 (docs/FAST_KERNEL.md, "v2"): one edge load then serves 32 x that many chains.
  /// 0 = automatic (cuda: the most that still give every multiprocessor a block; packed: 4), or
  /// PBIT_FAST_WORDS when set. Results never depend on it.
  int fast_words_per_lane = 0;
  /// Imperfect hardware (core/hardware_model.hpp): with anything set, the chains run on a device
  /// instance of it (group 0, one p-bit per node) on every backend, bit for bit alike: couplings and
  /// biases in fixed point, node i feeling g_i (sum_j J_ij s_j + h_i + field_i) + o_i, beta times
  /// (1 + beta_offset), stuck p-bits held at their values (user clamps on them give way). With
  /// input_bits or lut_bits, the gain and offset act after the input current is quantized, and the
  /// decision is taken at the centre of the table cell (include/pbit/core/detail/device_activation.hpp):
  /// x_i = g_i q_in(sum_j J_ij s_j + h_i + field_i) + o_i; the cpu backend then runs the reference
  /// loop (its vectorised one has no input stage; kernel_description() says so). With rng "lfsr"
  /// each p-bit reads its own LFSR (detail/lfsr.hpp) on the reference loop (cpu and packed
  /// backends) or the simple CUDA kernel, under the exact contract. The stationary
  /// distribution is no longer the Boltzmann distribution of (J, h). Energy observers use the
  /// device's couplings as seen from each edge's lower-numbered node.
  PbitHardware hardware;
  /// The global id of this sampler's chain 0: chain b draws every random number (initial state,
  /// updates, LFSR seeds) as chain first_chain + b, so a sampler of chains [k, k + m) of a larger run
  /// gives exactly those chains of it (sharding over processes or devices; issue 23). Default 0.
  uint32_t first_chain = 0;
};

/// Options from a config's fields: backend name ("best", "reference", "cpu", "cuda", "packed"), seed, stream, threads.
SamplerOptions sampler_options(const std::string& backend, uint64_t seed, uint32_t stream, int threads = 0);

namespace detail {
class GibbsEngine;
}

/// B chains of multicolor block Gibbs on one graph. Owns the backend's state arrays; copies between
/// host and backend happen only in the calls that say so (set_state, state, set_clamp, ...).
///
/// The absolute sweep counter advances with every sweep and keys the RNG, so run(10) then run(10)
/// gives the same chains as run(20), and a checkpoint (state + sweep_count) resumes exactly.
class Sampler {
 public:
  /// num_chains in [1, 2^30]. Colors the graph with color_graph().
  Sampler(const Graph& graph, int32_t num_chains, SamplerOptions options = {});
  Sampler(const Graph& graph, const Coloring& coloring, int32_t num_chains, SamplerOptions options = {});
  ~Sampler();
  /// A sampler moves (not copies); the moved-from one may only be assigned to or destroyed: valid()
  /// is false, every call that runs, reads or changes its chains (set_sweep_count too) throws
  /// InvalidArgument, and its plain accessors (num_chains(), sweep_count(), options()) tell nothing:
  /// its graph() is the empty Graph().
  Sampler(Sampler&&) noexcept;
  Sampler& operator=(Sampler&&) noexcept;
  /// False only for a moved-from sampler.
  bool valid() const noexcept { return engine_ != nullptr; }

  /// The host memory a sampler's chains take as its backend lays them out (its constructor checks this
  /// and its copy of the graph against the memory guard),
  /// for models that hold several samplers and check their total first. InvalidArgument for a
  /// negative count.
  static double state_bytes(Backend backend, int64_t num_chains, int32_t num_nodes);

  int32_t num_chains() const { return num_chains_; }
  int32_t num_nodes() const { return graph_.num_nodes(); }
  const Graph& graph() const { return graph_; }
  const Coloring& coloring() const { return coloring_; }
  const SamplerOptions& options() const { return options_; }
  /// What runs the sweeps, e.g. "cpu (2 threads)" or "cuda fast kernel, 4-warp teams, 3125 blocks
  /// (8 per SM)": the kernel the backend chose, for logs and benchmark JSON. The threads are the most a
  /// region may use; one of little work uses fewer, down to one (SamplerOptions::num_threads).
  std::string kernel_description() const;

  /// Independent uniform +-1 spins from stream kInitState, keyed by (seed, options().stream, chain,
  /// node, sweep_count())
  /// (clamped nodes keep their values): a new sampler's chains at sweep 0, and each later draw new
  /// ones as long as sweeps ran in between (the same draw at the same sweep count). Called by the
  /// constructor.
  void randomize_state();
  /// Warm start: B x N spins (chain-major), each -1 or +1. Clamped nodes are re-imposed.
  void set_state(std::span<const int8_t> spins);
  /// Copies the current B x N state to the host (chain-major).
  std::vector<int8_t> state() const;
  /// The states of chains first, first + stride, ..., `count` of them (count x N, chain-major): on the
  /// cuda backend only those rows cross to the host (parallel tempering reads its target replicas so).
  /// InvalidArgument unless 0 <= first, stride >= 1, count >= 0 and every chain named exists.
  std::vector<int8_t> state_rows(int32_t first, int32_t stride, int32_t count) const;
  /// The current B x N state (int8 +-1, chain-major) where the backend keeps it, for zero-copy hand-over
  /// (DLPack in Python): cuda: a fresh buffer on the sampler's GPU, filled there (nothing crosses to
  /// the host); other backends: host memory. `owner` keeps the buffer alive on its own (the sampler may
  /// go first); the view is a snapshot, later sweeps do not change it.
  struct StateView {
    const int8_t* data = nullptr;
    bool on_device = false;
    int device = -1;  ///< the CUDA device ordinal when on_device
    int64_t chains = 0, nodes = 0;
    std::shared_ptr<const void> owner;
  };
  StateView state_view() const;

  /// Clamps `nodes` in every chain to `values` (B x K chain-major, or K values shared by all chains).
  /// Replaces any previous clamp. Clamped nodes are never updated.
  void set_clamp(std::vector<int32_t> nodes, std::span<const int8_t> values);
  void clear_clamp();
  const std::vector<int32_t>& clamped_nodes() const { return clamp_nodes_; }

  /// Per-chain external field on `nodes` (B x M chain-major, or M values shared by all chains).
  /// Empty `nodes` means all N nodes. Replaces any previous field. Values are finite and at most
  /// Graph::kMaxLocalField in magnitude.
  void set_field(std::vector<int32_t> nodes, std::span<const float> values);
  void clear_field();

  /// Per-chain inverse temperatures: chain b samples at beta(sweep) * factors[b] (B values, each
  /// finite and in (0, 1e6]; empty = every chain at the schedule's beta, today's chains bit for bit).
  /// Chain b's update uses fmul(2 beta, factors[b]) on every backend, so they stay identical; one
  /// launch runs every temperature (parallel tempering's replicas, temperature scans).
  void set_chain_betas(std::span<const float> factors);
  const std::vector<float>& chain_betas() const { return chain_betas_; }

  /// Energy of every chain under the model, including its per-chain field:
  ///   E_b = -(sum_edges J s_i s_j + sum_i h_i s_i) - sum_fields f s
  /// summed in double in that order (edge order, node order, the field's nodes), bit for bit the same
  /// on every backend; the CUDA backend computes it on the device and downloads B doubles, not the
  /// state. Refused on imperfect hardware (a device does not sample the model's energy).
  std::vector<double> chain_energies() const;
  /// Chain b takes chain src[b]'s state (src a permutation of 0 .. B-1); fields, clamps and beta
  /// factors stay with the chains, and clamped nodes keep their chain's values. On the GPU a gather
  /// kernel moves the states without a host round trip (parallel tempering's swaps).
  void permute_chains(std::span<const int32_t> src);

  /// New couplings (edge order) and biases (N) with the same structure, e.g. after a training step.
  void set_weights(std::span<const float> edge_weights, std::span<const float> biases);

  /// Runs schedule.total_sweeps() sweeps with the given betas and observers.
  Observations run(const SamplingSchedule& schedule, const BetaSchedule& beta = {},
                   const ObserverSpec& observe = {});
  /// Runs `sweeps` sweeps with no observation.
  void sweep(int64_t sweeps, const BetaSchedule& beta = {});

  /// A progress callback for long runs: run() and sweep() call it with (sweeps done, sweeps of the
  /// run) after every stretch of at most 1% of the run and about a quarter second (stretches also end
  /// at observation points), the last call with done == total. The stretches change no result (the RNG is keyed by the absolute sweep). An exception
  /// it throws ends the run there: the chains keep the sweeps done, sweep_count() counts them, and the
  /// exception propagates (Python's KeyboardInterrupt, a deadline). Empty (the default): no calls, no
  /// extra stretches. `every_percent` false drops the 1% bound, keeping only the quarter second: for
  /// a caller that only checks for an interrupt (the Python module without a progress callback), so
  /// that short runs stay one or two stretches.
  using Progress = std::function<void(int64_t done, int64_t total)>;
  void set_progress(Progress f, bool every_percent = true) {
    progress_ = std::move(f);
    progress_every_percent_ = every_percent;
  }

  /// Absolute number of sweeps done so far; the next sweep uses this value in its RNG counter.
  uint64_t sweep_count() const { return sweep_count_; }
  /// For resuming from a checkpoint.
  void set_sweep_count(uint64_t s) {
    check_live();
    // The RNG counter's sweep field has 32 bits; a count past it would wrap onto sweep 0's numbers.
    if (s > static_cast<uint64_t>(SamplingSchedule::kMaxSweeps)) throw InvalidArgument("set_sweep_count: " + std::to_string(s) + " is past 2^32 - 1 sweeps (a corrupt checkpoint?)");
    sweep_count_ = s;
  }

 private:
  Graph graph_;
  Coloring coloring_;
  int32_t num_chains_ = 0;
  SamplerOptions options_;
  uint64_t sweep_count_ = 0;
  Progress progress_;
  bool progress_every_percent_ = true;
  std::vector<int32_t> clamp_nodes_;
  std::vector<int32_t> field_nodes_;  ///< the per-chain field as given (for chain_energies' host path)
  std::vector<float> field_;          ///< B x M
  std::unique_ptr<detail::GibbsEngine> engine_;
  // imperfect hardware (options_.hardware): the device instance, and the user's clamps (merged with
  // the stuck p-bits when given to the engine)
  std::vector<float> chain_betas_;  ///< per-chain beta factors (empty: none)
  bool on_hardware_ = false;
  bool input_stage_ = false;  ///< input_bits or lut_bits: gain and offset in the engine's input stage
  PbitDevice device_;
  std::vector<int32_t> user_clamp_nodes_;
  std::vector<int8_t> user_clamp_values_;
  Graph device_graph(const Graph& ideal) const;
  void push_clamps();
  /// InvalidArgument for a moved-from sampler (engine_ null): the first thing each public call that
  /// reaches the engine does, before it reads host state that the move emptied (a hardware device's
  /// arrays, the graph's).
  void check_live() const;
};

}  // namespace pbit
