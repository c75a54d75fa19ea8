#include "util/threads.hpp"

#include <omp.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>

namespace pbit::detail {

namespace {

std::atomic<bool> g_started{false};  // this process has asked OpenMP for more than one thread
std::atomic<bool> g_forked{false};   // ... and is a fork of one that had

// Registered when the library loads: a child of fork() runs this before fork() returns in it. Only
// a parent that had started OpenMP's worker threads leaves the child without them (a forkserver
// that imported pbit but never swept forks children that start their own).
const int g_registered =
    pthread_atfork(nullptr, nullptr, [] { g_forked.store(g_started.load(std::memory_order_relaxed), std::memory_order_relaxed); });

}  // namespace

bool in_forked_child() {
  (void)g_registered;
  return g_forked.load(std::memory_order_relaxed);
}

int omp_threads(int requested, bool for_region) {
  if (in_forked_child()) return 1;
  // At most 4 threads a core: more only wait on one another (results never depend on the count),
  // and each costs a stack, so that --threads 1200 under a memory limit ended in libgomp's "Thread
  // creation failed" (exit 1) instead of running.
  static const int most = 4 * std::max(1, omp_get_num_procs());  // once: a system call, asked before every region
  const int n = std::min(requested > 0 ? requested : omp_get_max_threads(), most);
  if (n > 1 && for_region) g_started.store(true, std::memory_order_relaxed);
  return n;
}

}  // namespace pbit::detail
