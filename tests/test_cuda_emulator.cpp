// The CUDA emulator's own semantics (docs/TESTING.md, "The CUDA emulator"): ballots, barriers,
// poisoned memory, launch checks, stream order, and the stops on divergence. Built only in
// the cuda-emu preset; the test names end in _cuda so they run with the other CUDA tests there.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <numeric>

#include "cuda_emulator_kernels.hpp"
#include "test_util.hpp"
#include "pbit/core/sampler.hpp"
#include "pbit/hardware/topology.hpp"
#include "pbit/models/pdnn.hpp"
#include "test_util.hpp"

namespace pbit::test {
namespace {
namespace k = emu_kernels;

// (WithEnv, test_util.hpp: the emulator reads its switches at each launch)
constexpr const char* kSchedules[] = {"in-order", "reversed", "interleaved"};

TEST(CudaEmulator, BallotGivesEveryLaneTheWarpsVotes_cuda) {
  for (unsigned threads : {32u, 64u, 70u, 256u}) {
    const unsigned blocks = 3;
    const auto got = k::ballots(blocks, threads);
    for (unsigned b = 0; b < blocks; ++b) {
      for (unsigned t = 0; t < threads; ++t) {
        const unsigned w0 = t / 32 * 32, lanes = std::min(32u, threads - w0);
        unsigned want = 0;
        for (unsigned l = 0; l < lanes; ++l) want |= ((l + b) % 3 == 0 ? 1u : 0u) << l;
        ASSERT_EQ(got[b * threads + t], want) << "block " << b << " thread " << t << " of " << threads;
      }
    }
  }
}

TEST(CudaEmulator, BarrierOrdersSharedMemory_cuda) {
  std::vector<int> in(4 * 96);
  std::iota(in.begin(), in.end(), 7);
  const auto got = k::rotate(in, 4);
  for (size_t t = 0; t < in.size(); ++t) ASSERT_EQ(got[t], in[t / 96 * 96 + (t % 96 + 1) % 96]) << t;
}

TEST(CudaEmulator, EverySchedulePassesABarrier_cuda) {
  std::vector<int> in(2 * 128);
  std::iota(in.begin(), in.end(), 3);
  for (const char* schedule : kSchedules) {
    const WithEnv with("PBIT_CUDA_EMU_SCHEDULE", schedule);
    const auto got = k::rotate(in, 2);
    for (size_t t = 0; t < in.size(); ++t) ASSERT_EQ(got[t], in[t / 128 * 128 + (t % 128 + 1) % 128]) << schedule << " " << t;
  }
}

TEST(CudaEmulator, SchedulesExposeARaceBetweenWarps_cuda) {
  std::vector<std::vector<int>> got;
  for (const char* schedule : kSchedules) {
    const WithEnv with("PBIT_CUDA_EMU_SCHEDULE", schedule);
    got.push_back(k::racy_warp_rotate(4));
  }
  // (interleaved gives in-order's answer here: the kernel has no ballot or barrier to switch at)
  EXPECT_NE(got[0], got[1]) << "in-order and reversed warps read the same values despite the race";
}

/// The samplers' kernels (every CUDA variant) under every warp order give the cpu backend's chains:
/// no kernel relies on the order its warps happen to run in.
TEST(CudaEmulator, KernelsGiveTheSameChainsUnderEverySchedule_cuda) {
  const Graph g = with_random_weights(square_lattice(12), 5, 0.4f, 0.1f);
  SamplerOptions cpu;
  cpu.backend = Backend::cpu;
  cpu.seed = 11;
  Sampler want(g, 100, cpu);
  want.sweep(6);
  for (const char* schedule : kSchedules) {
    SCOPED_TRACE(schedule);
    const WithEnv with("PBIT_CUDA_EMU_SCHEDULE", schedule);
    SamplerOptions base;
    base.seed = 11;
    for_each_variant(Backend::cuda, base, [&](const SamplerOptions& o) {
      Sampler s(g, 100, o);
      s.sweep(6);
      EXPECT_EQ(s.state(), want.state());
    });
  }
}

TEST(CudaEmulator, TwoDimensionalGridsNumberThreadsAsCuda_cuda) {
  const unsigned bx = 8, by = 4, gx = 3, gy = 2;
  const auto got = k::ids(bx, by, gx, gy);
  for (unsigned y = 0; y < by * gy; ++y)
    for (unsigned x = 0; x < bx * gx; ++x) ASSERT_EQ(got[y * bx * gx + x], static_cast<int>(1000 * y + x)) << x << "," << y;
}

TEST(CudaEmulator, EachBlockHasItsOwnPoisonedStaticSharedMemory_cuda) {
  for (const char* schedule : kSchedules) {
    const WithEnv with("PBIT_CUDA_EMU_SCHEDULE", schedule);
    const auto got = k::static_shared(3);
    for (int t = 0; t < 64; ++t) {
      ASSERT_EQ(got[t], t) << schedule;
      ASSERT_EQ(static_cast<uint32_t>(got[64 + t]), 0xA5A5A5A5u) << schedule << ": block 1 sees another block's array";
      ASSERT_EQ(static_cast<uint32_t>(got[128 + t]), 0xA5A5A5A5u) << schedule;
    }
  }
}

TEST(CudaEmulator, UnwrittenMemoryIsPoisoned_cuda) {
  for (unsigned char c : k::fresh_device_bytes(1000)) ASSERT_EQ(c, 0xA5);
  for (int v : k::unwritten_shared(64)) ASSERT_EQ(static_cast<uint32_t>(v), 0xA5A5A5A5u);
}

TEST(CudaEmulator, LaunchesAreCheckedAsOnTheGpu_cuda) {
  constexpr int kOk = 0, kInvalidValue = 1, kInvalidConfiguration = 9;  // cudaError values
  EXPECT_EQ(k::launch_error(1, 1024, 0, -1), kOk);
  EXPECT_EQ(k::launch_error(1, 1025, 0, -1), kInvalidConfiguration);
  EXPECT_EQ(k::launch_error(1, 0, 0, -1), kInvalidConfiguration);
  EXPECT_EQ(k::launch_error(65536, 32, 0, -1), kInvalidConfiguration);
  EXPECT_EQ(k::launch_error(1, 32, 48 * 1024, -1), kOk);
  EXPECT_EQ(k::launch_error(1, 32, 48 * 1024 + 4, -1), kInvalidValue);  // over the default without the attribute
  EXPECT_EQ(k::launch_error(1, 32, 100 * 1024, 100 * 1024), kOk);
  EXPECT_EQ(k::launch_error(1, 32, 100 * 1024 + 4, -1), kInvalidValue);  // over the attribute
}

// CUDA's stream semantics: the legacy default stream (cudaMemcpy) waits for blocking streams, not
// for non-blocking ones; cudaMemcpyAsync into pageable host memory returns once done, and from it
// takes the bytes at the call. The emulator runs a stream's work only when something orders it, so
// a host that reads without synchronizing sees the old bytes, as it may on a GPU.
TEST(CudaEmulator, StreamWorkWaitsUntilSomethingOrdersIt_cuda) {
  constexpr unsigned kBlocking = 0, kNonBlocking = 1;  // cudaStreamDefault, cudaStreamNonBlocking
  for (int v : k::filled_on_stream(kNonBlocking, false)) ASSERT_EQ(static_cast<uint32_t>(v), 0xA5A5A5A5u) << "read before the stream ran";
  for (int v : k::filled_on_stream(kNonBlocking, true)) ASSERT_EQ(v, 7);
  for (int v : k::filled_on_stream(kBlocking, false)) ASSERT_EQ(v, 7) << "the legacy stream waits for blocking streams";
  const auto [down, up] = k::async_copies(96);
  for (int v : down) ASSERT_EQ(v, 7) << "a copy into pageable host memory is done when the call returns";
  for (int v : up) ASSERT_EQ(v, 3) << "a copy from host memory takes the bytes at the call";
  const WithEnv immediate("PBIT_CUDA_EMU_STREAMS", "immediate");
  for (int v : k::filled_on_stream(kNonBlocking, false)) ASSERT_EQ(v, 7);
}

// The p-DNN forward pass and the Gibbs engine run on the device resolve_cuda_device gives this
// process (its local rank's, under mpirun), whichever device the calling thread has current; the
// p-DNN pass makes the caller's current again. (The p-DNN pass ran on the current device.)
TEST(CudaEmulator, PdnnAndSamplerRunOnTheRanksDevice_cuda) {
  const WithEnv devices("PBIT_CUDA_EMU_DEVICES", "2");
  const WithEnv rank("OMPI_COMM_WORLD_LOCAL_RANK", "1");
  ASSERT_EQ(k::current_device(), 0);
  const PdnnNet net = PdnnNet::create({6, 5, 3}, 1);
  PdnnForwardSpec s;
  s.units.activation = PdnnActivation::pbit;
  s.T = 4;
  const std::vector<float> x(12, 0.5f);
  std::vector<float> logits(2 * 4 * 3);
  const long long on0 = k::launches_on_device(0), on1 = k::launches_on_device(1);
  pdnn_forward_cuda(net, s, x.data(), 2, logits.data());
  EXPECT_EQ(k::launches_on_device(0), on0);
  EXPECT_GT(k::launches_on_device(1), on1);
  EXPECT_EQ(k::current_device(), 0) << "the caller's device is current again";
  const long long before = k::launches_on_device(1);
  SamplerOptions o;
  o.backend = Backend::cuda;
  Sampler sampler(make_topology("chimera:1").graph, 32, o);
  sampler.sweep(4);
  EXPECT_EQ(k::launches_on_device(0), on0);
  EXPECT_GT(k::launches_on_device(1), before);
  EXPECT_EQ(k::set_device(0), 0);
}

TEST(CudaEmulator, LaunchWithinLaunchBoundsRuns_cuda) {
  EXPECT_EQ(k::bounded(64), 64);
  EXPECT_EQ(k::bounded(40), 40);
}

TEST(CudaEmulatorDeathTest, LaunchAboveLaunchBoundsStops_cuda) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(k::bounded(96), "bounded_kernel: launched with 96 threads per block, above its __launch_bounds__\\(64\\)");
}

TEST(CudaEmulatorDeathTest, HostPointerArgumentStops_cuda) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(k::launch_with_host_pointer(), "fill_kernel: pointer argument 0 points at no live device allocation");
}

TEST(CudaEmulatorDeathTest, BallotMaskMustNameItsCaller_cuda) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(k::ballot_mask_excludes_caller(), "ballot_mask_excludes_caller_kernel: __ballot_sync mask 65535 leaves out lane 16 of warp 0");
}

TEST(CudaEmulatorDeathTest, DivergentBarrierStopsNamingTheKernel_cuda) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(k::divergent_barrier(), "divergent_barrier_kernel: __syncthreads in block \\(0,0,0\\) after 48 of its threads exited");
}

TEST(CudaEmulatorDeathTest, DeadlockStopsNamingTheKernel_cuda) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(k::deadlock(), "deadlock_kernel: deadlock in block \\(0,0,0\\): 16 threads wait at __syncthreads and 16 at __ballot_sync");
}

TEST(CudaEmulatorDeathTest, BallotAfterALaneExitedStops_cuda) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(k::ballot_after_exit(), "ballot_after_exit_kernel: __ballot_sync in warp 0 .* after 1 of its lanes exited");
}

}  // namespace
}  // namespace pbit::test
