// The thread count of pbit's OpenMP regions, in one place: the backends, tempering and the p-DNN
// ask here rather than OpenMP, so that a forked process stays usable.
#pragma once

namespace pbit::detail {

/// The threads a parallel region of pbit's runs with: `requested` when > 0, else OpenMP's default,
/// at most 4 per core OpenMP sees; but 1 in a process forked from one whose pbit had run a region with more than one thread
/// (Python's multiprocessing with its 'fork' start method, after sweeping in the parent). libgomp's
/// worker threads do not survive fork, so a region with more than one thread there waits for them
/// forever; results never depend on the thread count. (Threads another library started before
/// the fork are not seen.)
/// `for_region` false: only to report the count (a description), which starts no thread.
int omp_threads(int requested, bool for_region = true);

/// True in a process forked (without exec) from one whose pbit had used more than one thread.
bool in_forked_child();

}  // namespace pbit::detail
