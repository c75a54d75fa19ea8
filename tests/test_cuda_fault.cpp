// A kernel fault must name its kernel when PBIT_CUDA_SYNC_CHECK=1. The fault leaves the process's CUDA
// context unusable, so each case runs in its own process (CTest runs every test alone; the device
// kit runs this binary once per case).
#include <gtest/gtest.h>

#include <cstdlib>

#include "test_util.hpp"

namespace pbit::test {

std::string launch_faulting_kernel();

namespace {

TEST(CudaFault, SyncCheckNamesTheFaultingKernel_cuda) {
  PBIT_REQUIRE_BACKEND(Backend::cuda);
  setenv("PBIT_CUDA_SYNC_CHECK", "1", 1);
  const std::string e = launch_faulting_kernel();
  unsetenv("PBIT_CUDA_SYNC_CHECK");
  EXPECT_NE(e.find("pbit_test_faulting_kernel"), std::string::npos) << e;
  EXPECT_NE(e.find("cudaErrorIllegalAddress"), std::string::npos) << e;
  EXPECT_NE(e.find("running kernel"), std::string::npos) << e;
}

TEST(CudaFault, WithoutSyncCheckTheLaunchLooksFine_cuda) {
  // Why the switch exists: the launch itself succeeds and the fault waits for the next synchronize.
  PBIT_REQUIRE_BACKEND(Backend::cuda);
  unsetenv("PBIT_CUDA_SYNC_CHECK");
  EXPECT_EQ(launch_faulting_kernel(), "<no error>");
}

}  // namespace
}  // namespace pbit::test
