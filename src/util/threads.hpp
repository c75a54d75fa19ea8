// The thread count of pbit's OpenMP regions, in one place: the backends, tempering and the p-DNN
// ask here rather than OpenMP, so that a forked process stays usable.
#pragma once

namespace pbit::detail {

/// The threads a parallel region of pbit's runs with: `requested` when > 0, else OpenMP's default;
/// but 1 in a process forked from one that had loaded pbit (Python's multiprocessing with its
/// default 'fork' start method). libgomp's worker threads do not survive fork, so a region with
/// more than one thread there waits for them forever; results never depend on the thread count.
int omp_threads(int requested);

/// True in a process forked (without exec) from one that had loaded pbit.
bool in_forked_child();

}  // namespace pbit::detail
