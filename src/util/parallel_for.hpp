// A loop over [0, n) on pbit's OpenMP threads, as many as its work is worth; on this thread alone
// (no parallel region) when the work is small.
// Only for sources compiled with OpenMP (the library's).
#pragma once

#include <algorithm>
#include <cstdint>

#include "util/threads.hpp"

namespace pbit::detail {

/// The least work a thread of a region gets, in units of one chain's node or edge in the cpu engine's
/// sweep or observation (about 0.2 ns on one core here). An int8 chain's node or edge on the host, as
/// in chain_energies, costs 5-6 units; its callers count 8 (kHostUnitsPerVisit), so that a second thread starts from 2^14
/// nodes and edges, where all threads had started before. A region's start and end cost about 2^16
/// units: on the 2-core VM the tests run on, a sample (a sweep and an observation, two regions) of a
/// 10x10 lattice with 256 chains (76,800 units each) took 15 us on one thread and 20 on two, one of
/// 1,024 nodes and 64 chains (196,608) 37 and 36, one of 400 nodes and 256 chains (307,200) 56 and 42;
/// chain_energies of 1,024 chains of 3x3 (27,648 nodes and edges) took 33 and 27.
inline constexpr double kUnitsPerThread = 65536.0;
/// The units of one int8 chain's node or edge in a host loop (chain_energies, the tempered observers).
inline constexpr double kHostUnitsPerVisit = 8.0;

/// The threads a region of `units` is worth: one below 2 * kUnitsPerThread, else units /
/// kUnitsPerThread, at most `most()` (called only then, so that a small region asks OpenMP nothing).
/// `units` is a double so that a product of sizes and sweeps cannot overflow.
template <class Most>
int threads_for(double units, Most&& most) {
  if (!(units >= 2 * kUnitsPerThread)) return 1;
  const int m = most();
  return units >= kUnitsPerThread * m ? m : std::max(1, static_cast<int>(units / kUnitsPerThread));
}

/// f(i) for i in [0, n), split statically over `threads` threads, or, where that is one (or fewer),
/// run here without a parallel region: `#pragma omp parallel if (false)` still starts a team of one and
/// wakes it at the end (a futex call), which cost more than a small graph's whole sweep(1). For a
/// caller that decides one count for several loops (pdnn_forward_threads).
template <class F>
void parallel_for_on(int64_t n, int threads, F&& f) {
  if (threads <= 1) {
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t i = 0; i < n; ++i) f(i);
}

/// f(i) for i in [0, n) on the threads `units` of work are worth (at most omp_threads(requested)).
template <class F>
void parallel_for(int64_t n, int requested, double units, F&& f) {
  parallel_for_on(n, threads_for(units, [&] { return omp_threads(requested); }), f);
}

}  // namespace pbit::detail
