// A loop over [0, n) on pbit's OpenMP threads, or on this thread alone when the work is small.
// Only for sources compiled with OpenMP (the library's).
#pragma once

#include <cstdint>

#include "util/threads.hpp"

namespace pbit::detail {

/// f(i) for i in [0, n), split statically over omp_threads(requested) threads where `wide`, else
/// (or where that is one thread) run here without a parallel region: `#pragma omp parallel if
/// (false)` still starts a team of one and wakes it at the end (a futex call), which cost more than a
/// small graph's whole sweep(1).
template <class F>
void parallel_for(int64_t n, int requested, bool wide, F&& f) {
  const int threads = wide ? omp_threads(requested) : 1;
  if (threads == 1) {
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t i = 0; i < n; ++i) f(i);
}

}  // namespace pbit::detail
