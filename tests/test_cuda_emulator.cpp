// The CUDA emulator's own semantics (docs/TESTING.md, "The CUDA emulator"): ballots, barriers,
// per-thread parameters, poisoned memory, launch checks, and the stops on divergence. Built only in
// the cuda-emu preset; the test names end in _cuda so they run with the other CUDA tests there.
#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>

#include "cuda_emulator_kernels.hpp"

namespace pbit::test {
namespace {
namespace k = emu_kernels;

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

TEST(CudaEmulator, EachThreadHasItsOwnParameters_cuda) {
  const auto got = k::params(100, 64);
  for (int t = 0; t < 64; ++t) EXPECT_EQ(got[t], 100 + t);
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
