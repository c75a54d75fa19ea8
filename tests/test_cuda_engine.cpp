// The CUDA backend's own machinery: how it picks a kernel and team shape (tested on any machine with
// fake device numbers), what it says when no device is usable, and, on a GPU, the defects a reading of
// the engine found (process-wide shared-memory limit, leaked stream, faults without a kernel name) and
// bit-identity with the cpu backend at the chain counts the benchmark runs.
#include <gtest/gtest.h>

#include <cstdlib>
#include <numeric>

#include "cuda_plan.hpp"
#include "gibbs_kernels.hpp"
#include "pbit/core/sampler.hpp"
#include "pbit/hardware/topology.hpp"
#include "test_util.hpp"

namespace pbit::test {
namespace {

using detail::CudaDeviceShape;
using detail::plan_cuda_kernel;

/// An H200-like device: 132 SMs, 227 KB of opt-in shared memory, and an occupancy that is limited by
/// 64 registers per thread (65,536 per SM), 32 blocks per SM and the shared memory.
CudaDeviceShape h200(int32_t nodes) {
  CudaDeviceShape d;
  d.sms = 132;
  d.max_smem_optin = 232448;
  d.blocks_per_sm = [nodes](int warps, int words_per_lane) {
    const int by_regs = 65536 / (32 * warps * 64);
    const int by_smem = static_cast<int>(233472 / (4 * static_cast<int64_t>(nodes) * words_per_lane + 1024));
    return std::min({by_regs, by_smem, 32});
  };
  return d;
}

TEST(CudaPlan, SimpleWhenAskedFor) {
  const auto p = plan_cuda_kernel(CudaKernel::simple, 0, 4264, 100000, h200(4264));
  EXPECT_FALSE(p.fast);
}

TEST(CudaPlan, AutomaticPicksTheFastKernelOnlyWhenItFillsTheDevice) {
  // 1,024 chains are 32 words: the fast kernel would use 32 of 132 SMs.
  const auto small = plan_cuda_kernel(CudaKernel::automatic, 0, 4264, 1024, h200(4264));
  EXPECT_FALSE(small.fast) << small.reason;
  EXPECT_NE(small.reason.find("fewer than the 132 SMs"), std::string::npos) << small.reason;
  const auto big = plan_cuda_kernel(CudaKernel::automatic, 0, 4264, 16384, h200(4264));
  EXPECT_TRUE(big.fast) << big.reason;
  // 512 words: 4 per lane leave 128 blocks for 132 SMs, and still win (measured on an H200: 138 against
  // 112 flips/ns for 2 per lane).
  EXPECT_EQ(big.words_per_lane, 4);
  EXPECT_EQ(big.blocks, 128);
  const auto v1 = plan_cuda_kernel(CudaKernel::automatic, 0, 4264, 16384, h200(4264), 1);
  EXPECT_EQ(v1.words_per_lane, 1);
  EXPECT_EQ(v1.blocks, 512);
}

TEST(CudaPlan, WordsPerLane) {
  // 100k chains = 3,125 words: 4 per lane gives 782 blocks (the last one padded).
  const auto many = plan_cuda_kernel(CudaKernel::automatic, 0, 4264, 100000, h200(4264));
  EXPECT_EQ(many.words_per_lane, 4);
  EXPECT_EQ(many.blocks, 782);
  // The expected rate, speed(K) x share of busy SMs: 4,224 chains (132 words) keep 1 per lane (132
  // blocks; 2 per lane would idle half the SMs); 8,192 (256 words) take 2 (128 blocks: 1.05 x 128/132
  // beats 1.0); 1,024 chains asked to run fast keep 1 (32 blocks; the H200 measured 17.0 flips/ns
  // against 10.6 for 2 and 8.8 for 4).
  EXPECT_EQ(plan_cuda_kernel(CudaKernel::automatic, 0, 4264, 4224, h200(4264)).words_per_lane, 1);
  EXPECT_EQ(plan_cuda_kernel(CudaKernel::automatic, 0, 4264, 8192, h200(4264)).words_per_lane, 2);
  EXPECT_EQ(plan_cuda_kernel(CudaKernel::fast, 0, 4264, 1024, h200(4264)).words_per_lane, 1);
  // A graph whose 4 words per node do not fit takes fewer: 20,000 nodes x 16 bytes > 232,448.
  EXPECT_EQ(plan_cuda_kernel(CudaKernel::automatic, 0, 20000, 100000, h200(20000)).words_per_lane, 2);
  // Asked for: kept, or an error when it cannot fit or is not 1, 2 or 4.
  EXPECT_EQ(plan_cuda_kernel(CudaKernel::fast, 0, 4264, 1024, h200(4264), 4).words_per_lane, 4);
  EXPECT_NE(error_of([] { plan_cuda_kernel(CudaKernel::fast, 0, 20000, 100000, h200(20000), 4); }).find("4 words per lane"),
            std::string::npos);
  EXPECT_NE(error_of([] { plan_cuda_kernel(CudaKernel::fast, 0, 4264, 100000, h200(4264), 3); }).find("1, 2 or 4"),
            std::string::npos);
  setenv("PBIT_FAST_WORDS", "2", 1);
  EXPECT_EQ(detail::requested_words_per_lane(0), 2);
  EXPECT_EQ(detail::requested_words_per_lane(4), 4);  // the options win
  setenv("PBIT_FAST_WORDS", "3", 1);
  EXPECT_NE(error_of([] { detail::requested_words_per_lane(0); }).find("PBIT_FAST_WORDS must be 1, 2 or 4"), std::string::npos);
  unsetenv("PBIT_FAST_WORDS");
  EXPECT_EQ(detail::requested_words_per_lane(0), 0);
}

TEST(CudaPlan, TeamSizeFromOccupancy) {
  // 100k chains = 3125 words, far more than fit: every team size from 4 warps up reaches 32 resident
  // warps per SM (the register limit), 2 warps only 24 (shared memory): the largest full team wins
  // (on an H200, 16-warp teams beat 8-warp ones at equal resident warps, 141.5 against 129.2 flips/ns).
  const auto many = plan_cuda_kernel(CudaKernel::fast, 0, 4264, 100000, h200(4264), 1);
  ASSERT_TRUE(many.fast);
  EXPECT_EQ(many.team_warps, 16);
  EXPECT_EQ(many.blocks_per_sm, 2);
  // Where 16-warp teams keep fewer warps resident than a smaller team, the most resident warps rule:
  // 1 block of 16 warps per SM (16 warps) against 3 of 8 (24).
  CudaDeviceShape odd = h200(4264);
  odd.blocks_per_sm = [](int warps, int) { return warps == 16 ? 1 : warps == 8 ? 3 : 1; };
  const auto eight = plan_cuda_kernel(CudaKernel::fast, 0, 4264, 100000, odd, 1);
  EXPECT_EQ(eight.team_warps, 8);
  EXPECT_EQ(eight.blocks_per_sm, 3);
  // 32 words (1,024 chains), forced fast: one block per word, so the biggest team has the most warps.
  const auto few = plan_cuda_kernel(CudaKernel::fast, 0, 4264, 1024, h200(4264), 1);
  EXPECT_EQ(few.team_warps, 16);
  // An explicit team size is kept, and the automatic words per lane are those it launches with: where
  // 16-warp teams fit with 2 words per lane and not with 4, 16 warps and 2 words (not an error).
  EXPECT_EQ(plan_cuda_kernel(CudaKernel::fast, 8, 4264, 100000, h200(4264)).team_warps, 8);
  CudaDeviceShape tight = h200(4264);
  tight.blocks_per_sm = [](int warps, int k) { return warps == 16 && k == 4 ? 0 : 1; };
  const auto sixteen = plan_cuda_kernel(CudaKernel::fast, 16, 4264, 100000, tight);
  EXPECT_EQ(sixteen.team_warps, 16) << sixteen.reason;
  EXPECT_EQ(sixteen.words_per_lane, 2) << sixteen.reason;
  EXPECT_EQ(plan_cuda_kernel(CudaKernel::fast, 0, 4264, 100000, tight).words_per_lane, 4);  // any team: 4, with smaller teams
  EXPECT_EQ(plan_cuda_kernel(CudaKernel::fast, 3, 4264, 100000, h200(4264)).team_warps, 3);
  EXPECT_NE(error_of([] { plan_cuda_kernel(CudaKernel::fast, 17, 4264, 100000, h200(4264)); }).find("1..16"),
            std::string::npos);
}

TEST(CudaPlan, GraphsTooLargeForSharedMemory) {
  // 62,500 nodes need 250,000 bytes per block; a block may have 232,448.
  const std::string e = error_of([] { plan_cuda_kernel(CudaKernel::fast, 0, 62500, 100000, h200(62500)); });
  EXPECT_NE(e.find("250000 bytes for 62500 nodes"), std::string::npos) << e;
  const auto p = plan_cuda_kernel(CudaKernel::automatic, 0, 62500, 100000, h200(62500));
  EXPECT_FALSE(p.fast);
  EXPECT_NE(p.reason.find("232448"), std::string::npos) << p.reason;
}

TEST(CudaPlan, EnvironmentFillsWhatTheOptionsLeaveAutomatic) {
  setenv("PBIT_CUDA_KERNEL", "fast", 1);
  setenv("PBIT_CUDA_FAST_WARPS", "8", 1);
  EXPECT_EQ(detail::requested_cuda_kernel(CudaKernel::automatic), CudaKernel::fast);
  EXPECT_EQ(detail::requested_cuda_kernel(CudaKernel::simple), CudaKernel::simple);
  EXPECT_EQ(detail::requested_team_warps(0), 8);
  EXPECT_EQ(detail::requested_team_warps(2), 2);
  setenv("PBIT_CUDA_KERNEL", "fastest", 1);
  setenv("PBIT_CUDA_FAST_WARPS", "4x", 1);
  EXPECT_NE(error_of([] { detail::requested_cuda_kernel(CudaKernel::automatic); }).find("PBIT_CUDA_KERNEL"),
            std::string::npos);
  EXPECT_NE(error_of([] { detail::requested_team_warps(0); }).find("PBIT_CUDA_FAST_WARPS"), std::string::npos);
  unsetenv("PBIT_CUDA_KERNEL");
  unsetenv("PBIT_CUDA_FAST_WARPS");
  EXPECT_EQ(detail::requested_cuda_kernel(CudaKernel::automatic), CudaKernel::automatic);
  EXPECT_EQ(cuda_kernel_from_string("auto"), CudaKernel::automatic);
}

TEST(CudaPlan, LaunchesStayUnderTheirWorkCap) {
  // Pegasus(14) at 100,000 chains (3,125 words): 4264 x 100,000 updates a sweep, 10 sweeps a launch.
  EXPECT_EQ(detail::fast_sweeps_per_launch(4264, 100000, detail::kDefaultLaunchFlips), 10);
  EXPECT_EQ(detail::fast_sweeps_per_launch(4264, 100000, 4264 * int64_t{100000} - 1), 1);  // at least one sweep
  EXPECT_EQ(detail::fast_sweeps_per_launch(64, 32, int64_t{1} << 62), 0x7fffffff);
  EXPECT_EQ(detail::requested_launch_flips(), detail::kDefaultLaunchFlips);
  setenv("PBIT_CUDA_LAUNCH_FLIPS", "4096", 1);
  EXPECT_EQ(detail::requested_launch_flips(), 4096);
  for (const char* bad : {"0", "-5", "1.5", "lots", "9223372036854775807"}) {
    setenv("PBIT_CUDA_LAUNCH_FLIPS", bad, 1);
    const std::string e = error_of([] { detail::requested_launch_flips(); });
    EXPECT_NE(e.find("PBIT_CUDA_LAUNCH_FLIPS"), std::string::npos) << bad << ": " << e;
  }
  unsetenv("PBIT_CUDA_LAUNCH_FLIPS");
}

TEST(CudaStatus, MessagesSayWhyNoDeviceIsUsable) {
  using detail::describe_cuda_unavailable;
  const std::string old = describe_cuda_unavailable("cudaErrorInsufficientDriver", "driver too old", 12040, 13000);
  EXPECT_NE(old.find("too old"), std::string::npos) << old;
  EXPECT_NE(old.find("supports CUDA 12.4"), std::string::npos) << old;
  EXPECT_NE(old.find("CUDA 13.0 runtime"), std::string::npos) << old;
  const std::string none = describe_cuda_unavailable("cudaErrorInsufficientDriver", "x", 0, 13000);
  EXPECT_NE(none.find("no NVIDIA driver"), std::string::npos) << none;
  const std::string nodev = describe_cuda_unavailable("cudaErrorNoDevice", "no CUDA-capable device is detected", 13000, 13000);
  EXPECT_NE(nodev.find("sees no CUDA device"), std::string::npos) << nodev;
  EXPECT_NE(nodev.find("cudaErrorNoDevice"), std::string::npos) << nodev;
  if (!backend_available(Backend::cuda)) {
    EXPECT_FALSE(backend_unavailable_reason(Backend::cuda).empty());
    SamplerOptions o;
    o.backend = Backend::cuda;
    const std::string e = error_of([&] { Sampler s(square_lattice(4), 1, o); });
    EXPECT_TRUE(e.find(backend_unavailable_reason(Backend::cuda)) != std::string::npos ||
                e.find("not compiled") != std::string::npos)
        << e;
  } else {
    EXPECT_EQ(backend_unavailable_reason(Backend::cuda), "");
  }
}

TEST(CudaStatus, EachLocalRankTakesItsOwnDevice) {
  using detail::resolve_cuda_device;
  for (const char* v : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID", "PMI_LOCAL_RANK"}) unsetenv(v);
  EXPECT_EQ(detail::launcher_local_rank(), -1);
  EXPECT_EQ(resolve_cuda_device(-1, 4), 0);  // a plain process: device 0
  setenv("OMPI_COMM_WORLD_LOCAL_RANK", "5", 1);
  EXPECT_EQ(resolve_cuda_device(-1, 4), 1);  // local rank 5 of a node with 4 GPUs
  EXPECT_EQ(resolve_cuda_device(-1, 8), 5);
  EXPECT_EQ(resolve_cuda_device(2, 4), 2);   // an explicit device wins
  unsetenv("OMPI_COMM_WORLD_LOCAL_RANK");
  setenv("SLURM_LOCALID", "3", 1);
  EXPECT_EQ(resolve_cuda_device(-1, 2), 1);
  setenv("SLURM_LOCALID", "x3", 1);  // not a number: ignored
  EXPECT_EQ(resolve_cuda_device(-1, 2), 0);
  setenv("SLURM_LOCALID", "0", 1);  // mpirun (MPICH) inside Slurm: the launcher's variable wins over Slurm's
  setenv("MPI_LOCALRANKID", "3", 1);
  EXPECT_EQ(resolve_cuda_device(-1, 4), 3);
  unsetenv("MPI_LOCALRANKID");
  unsetenv("SLURM_LOCALID");
  EXPECT_NE(error_of([] { resolve_cuda_device(4, 4); }).find("does not exist (4 visible"), std::string::npos);
  EXPECT_NE(error_of([] { resolve_cuda_device(-2, 4); }).find("does not exist"), std::string::npos);
}

// ---------------------------------------------------------------- on a GPU

SamplerOptions cuda(CudaKernel k, int team = 0, uint64_t seed = 3) {
  SamplerOptions o;
  o.backend = Backend::cuda;
  o.cuda_kernel = k;
  o.cuda_team_warps = team;
  o.seed = seed;
  return o;
}
/// The options of a variant of test_util.hpp's list: kernel, team size and words per lane.
SamplerOptions cuda(const CudaVariant& v) {
  SamplerOptions o = cuda(v.kernel);
  v.apply(o);
  return o;
}

TEST(CudaEngine, ForcedKernelsRunWhatTheyAsk_cuda) {
  PBIT_REQUIRE_BACKEND(Backend::cuda);
  const Graph g = with_random_weights(square_lattice(8), 1, 0.5f);
  for (const CudaVariant& v : cuda_variants()) {
    Sampler s(g, 64, cuda(v));
    const std::string d = s.kernel_description();
    std::printf("%s: %s\n", v.name.c_str(), d.c_str());
    EXPECT_NE(d.find(v.kernel == CudaKernel::fast ? "fast kernel" : "simple kernel"), std::string::npos) << d;
    if (v.team_warps) EXPECT_NE(d.find(std::to_string(v.team_warps) + "-warp teams"), std::string::npos) << d;
    if (v.kernel == CudaKernel::fast) {
      EXPECT_NE(d.find(std::to_string(v.words_per_lane) + " words per lane"), std::string::npos) << d;
    }
  }
}

/// A graph of n nodes (a periodic square lattice) with Gaussian couplings.
Graph lattice_graph(int side, uint64_t seed) { return with_random_weights(square_lattice(side), seed, 0.4f, 0.1f); }

TEST(CudaEngine, SmallerGraphDoesNotBreakALargerOnesFastKernel_cuda) {
  PBIT_REQUIRE_BACKEND(Backend::cuda);
  // 142 x 142 = 20,164 nodes: 80,656 bytes of shared memory per block, above the 48 KB default. A
  // second engine for a 64-node graph used to lower the kernel's limit to 256 bytes, process-wide.
  const Graph big = lattice_graph(142, 1), small = lattice_graph(8, 2);
  Sampler a(big, 64, cuda(CudaKernel::fast));
  Sampler b(small, 64, cuda(CudaKernel::fast));
  b.sweep(2);
  a.sweep(2);
  SamplerOptions ref;
  ref.backend = Backend::cpu;
  ref.seed = 3;
  Sampler r(big, 64, ref);
  r.sweep(2);
  EXPECT_EQ(a.state(), r.state());
}

TEST(CudaEngine, NoStreamLeaksWhenTheConstructorThrows_cuda) {
  PBIT_REQUIRE_BACKEND(Backend::cuda);
  const int before = detail::cuda_live_streams();
  {
    Sampler ok(lattice_graph(8, 1), 32, cuda(CudaKernel::simple));
    EXPECT_EQ(detail::cuda_live_streams(), before + 1);
  }
  EXPECT_EQ(detail::cuda_live_streams(), before);
  // 250 x 250 = 62,500 nodes do not fit one block's shared memory: forcing the fast kernel throws
  // after the engine created its stream.
  const Graph huge = lattice_graph(250, 1);
  for (int k = 0; k < 3; ++k) {
    const std::string e = error_of([&] { Sampler s(huge, 32, cuda(CudaKernel::fast)); });
    EXPECT_NE(e.find("shared memory"), std::string::npos) << e;
  }
  EXPECT_EQ(detail::cuda_live_streams(), before);
}

TEST(CudaEngine, SyncCheckModeGivesTheSameChains_cuda) {
  PBIT_REQUIRE_BACKEND(Backend::cuda);
  const Graph g = lattice_graph(16, 4);
  for (const CudaVariant& v : cuda_variants()) {
    SCOPED_TRACE(v.name);
    Sampler a(g, 96, cuda(v));
    a.sweep(5);
    setenv("PBIT_CUDA_SYNC_CHECK", "1", 1);
    Sampler b(g, 96, cuda(v));
    b.sweep(5);
    unsetenv("PBIT_CUDA_SYNC_CHECK");
    EXPECT_EQ(a.state(), b.state());
  }
}

// The fast kernel keeps the chains as bit words between sweeps: every host-side change (a new state,
// a clamp, a permutation of the chains) must reach them. The tests above always clamp a node, and
// re-imposing that clamp also refreshed the words, so a change that forgot to was never seen.
TEST(CudaEngine, HostChangesAfterSweepsReachTheFastKernelsWords_cuda) {
  PBIT_REQUIRE_BACKEND(Backend::cuda);
  const Graph g = lattice_graph(8, 5);
  const int32_t B = 96, N = g.num_nodes();
  std::vector<int8_t> x(static_cast<size_t>(B) * N);
  for (size_t k = 0; k < x.size(); ++k) x[k] = (k * 7919 + k / 5) % 3 ? 1 : -1;
  std::vector<int32_t> perm(B);
  for (int32_t b = 0; b < B; ++b) perm[b] = (b * 5 + 3) % B;  // 5 is coprime to 96
  SamplerOptions ref;
  ref.backend = Backend::cpu;
  ref.seed = 11;
  for (const CudaVariant& v : cuda_variants()) {
    SCOPED_TRACE(v.name);
    SamplerOptions o = cuda(v);
    o.seed = 11;
    Sampler a(g, B, o), r(g, B, ref);
    for (Sampler* s : {&a, &r}) s->sweep(3);
    ASSERT_EQ(a.state(), r.state());
    for (Sampler* s : {&a, &r}) {
      s->set_state(x);
      s->sweep(2);
    }
    EXPECT_EQ(a.state(), r.state()) << "set_state";
    for (Sampler* s : {&a, &r}) {
      s->permute_chains(perm);
      s->sweep(2);
    }
    EXPECT_EQ(a.state(), r.state()) << "permute_chains";
    for (Sampler* s : {&a, &r}) {
      s->set_clamp({0, 9, 17}, std::vector<int8_t>{1, -1, 1});
      s->sweep(2);
    }
    EXPECT_EQ(a.state(), r.state()) << "set_clamp";
  }
}

// The fast kernel runs a long stretch as several launches (kernels/cuda_plan.hpp, the display
// watchdog): each launch must continue the last one's sweep numbers and betas.
TEST(CudaEngine, StretchesSplitIntoLaunchesGiveTheSameChains_cuda) {
  PBIT_REQUIRE_BACKEND(Backend::cuda);
  const Graph g = lattice_graph(8, 6);
  ObserverSpec spec;
  spec.moments = true;
  auto run = [&](const CudaVariant& v) {
    Sampler s(g, 96, cuda(v));
    const Observations o = s.run({9, 4, 2}, BetaSchedule::linear(0.2f, 1.1f, 9), spec);  // 17 sweeps, 5 stretches
    s.sweep(13);
    return std::make_pair(s.state(), o.node_sum);
  };
  for (const CudaVariant& v : cuda_variants()) {
    if (v.kernel != CudaKernel::fast) continue;
    SCOPED_TRACE(v.name);
    const auto whole = run(v);
    for (const char* flips : {"1", "20000"}) {  // one sweep a launch; 3 (K = 1: 96 chain slots) or 2 (K = 2, 4: 128) a launch
      SCOPED_TRACE(flips);
      setenv("PBIT_CUDA_LAUNCH_FLIPS", flips, 1);
      const auto split = run(v);
      unsetenv("PBIT_CUDA_LAUNCH_FLIPS");
      EXPECT_EQ(split.first, whole.first);
      EXPECT_EQ(split.second, whole.second);
    }
  }
}

uint64_t fnv1a(const void* p, size_t n, uint64_t h = 1469598103934665603ull) {
  const auto* c = static_cast<const unsigned char*>(p);
  for (size_t k = 0; k < n; ++k) h = (h ^ c[k]) * 1099511628211ull;
  return h;
}

/// Final states and moment sums of one protocol on Pegasus(14): clamps, per-chain fields, an annealed
/// warm-up, then observed samples.
struct BigRun {
  std::vector<int8_t> state;
  std::vector<int64_t> node_sum, edge_sum;
  uint64_t hash() const {
    uint64_t h = fnv1a(state.data(), state.size());
    h = fnv1a(node_sum.data(), node_sum.size() * 8, h);
    return fnv1a(edge_sum.data(), edge_sum.size() * 8, h);
  }
};

BigRun big_run(const Graph& g, const Coloring& col, int32_t chains, SamplerOptions opt) {
  opt.seed = 2026;
  Sampler s(g, col, chains, opt);
  std::vector<int32_t> clamp(40);
  std::iota(clamp.begin(), clamp.end(), 100);
  std::vector<int8_t> cv(clamp.size());
  for (size_t q = 0; q < cv.size(); ++q) cv[q] = q % 3 ? 1 : -1;
  s.set_clamp(clamp, cv);
  std::vector<int32_t> fn(16);
  std::iota(fn.begin(), fn.end(), 1000);
  std::vector<float> fv(static_cast<size_t>(chains) * fn.size());
  for (size_t k = 0; k < fv.size(); ++k) fv[k] = 0.05f * static_cast<float>(static_cast<int>(k % 13) - 6);
  s.set_field(fn, fv);
  ObserverSpec spec;
  spec.moments = true;
  const Observations o = s.run({3, 2, 1}, BetaSchedule::linear(0.3f, 1.0f, 5), spec);
  return {s.state(), o.node_sum, o.edge_sum};
}

TEST(CudaEngine, MatchesCpuAtBenchmarkChainCounts_cuda) {
  PBIT_REQUIRE_BACKEND(Backend::cuda);
  const Topology t = make_topology("pegasus:14");
  const Graph g = with_random_weights(t.graph, 1, 0.25f, 0.1f);
  const Coloring col(g, t.colors);
  // The CUDA emulator (docs/TESTING.md) runs the same code at any chain count, a block at a time, at
  // about 0.03 flips/ns: it takes one count whose words per lane need padding.
  const std::vector<int32_t> counts = detail::cuda_emulated() ? std::vector<int32_t>{1056} : std::vector<int32_t>{16384, 65536, 100000};
  for (int32_t chains : counts) {
    SCOPED_TRACE("chains=" + std::to_string(chains));
    SamplerOptions cpu;
    cpu.backend = Backend::cpu;
    const BigRun want = big_run(g, col, chains, cpu);
    std::vector<CudaVariant> variants = cuda_variants();
    variants.push_back({"auto", CudaKernel::automatic, 0, 0});  // kernel, team and words per lane chosen by the plan
    for (const CudaVariant& v : variants) {
      SCOPED_TRACE("cuda kernel " + v.name);
      const BigRun got = big_run(g, col, chains, cuda(v));
      std::printf("%6d chains, %-8s: hash %016llx (cpu %016llx)\n", chains, v.name.c_str(),
                  static_cast<unsigned long long>(got.hash()), static_cast<unsigned long long>(want.hash()));
      EXPECT_EQ(got.hash(), want.hash());
      if (got.state != want.state) {  // name the first differing spin rather than print 4e8 of them
        size_t k = 0;
        while (k < got.state.size() && got.state[k] == want.state[k]) ++k;
        ADD_FAILURE() << "first differing spin: chain " << k / g.num_nodes() << ", node " << k % g.num_nodes();
      }
      EXPECT_TRUE(got.node_sum == want.node_sum) << "node sums differ";
      EXPECT_TRUE(got.edge_sum == want.edge_sum) << "edge sums differ";
    }
  }
}

}  // namespace
}  // namespace pbit::test
