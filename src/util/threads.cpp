#include "util/threads.hpp"

#include <omp.h>
#include <pthread.h>

#include <atomic>

namespace pbit::detail {

namespace {

std::atomic<bool> g_forked{false};

// Registered when the library loads: a child of fork() runs this before fork() returns in it.
const int g_registered = pthread_atfork(nullptr, nullptr, [] { g_forked.store(true, std::memory_order_relaxed); });

}  // namespace

bool in_forked_child() {
  (void)g_registered;
  return g_forked.load(std::memory_order_relaxed);
}

int omp_threads(int requested) {
  if (in_forked_child()) return 1;
  return requested > 0 ? requested : omp_get_max_threads();
}

}  // namespace pbit::detail
