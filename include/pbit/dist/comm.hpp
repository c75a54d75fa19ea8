// Processes of one run (issue 23): MPI ranks when pbit is built with MPI and started by mpirun (or
// srun), otherwise one process. Each rank samples a contiguous range of the run's global chain ids
// (SamplerOptions::first_chain), so the random numbers are those of one process; integer sums are
// all-reduced and per-chain results gathered in chain order on rank 0, which writes the outputs.
// Results are then identical, byte for byte, to one process's.
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "pbit/core/sampler.hpp"

namespace pbit::dist {

/// Starts MPI when this build has it and the environment says the process was launched by mpirun or
/// srun (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_RANK); otherwise (and when already started) nothing.
/// MPI is finalised at exit. Returns the number of ranks. MPI_Init waits for every process the
/// launcher started, and one that never starts MPI (PBIT_NO_MPI=1 on it only, a pbit built without
/// MPI) left the others waiting silently for ever: after `note_s` seconds (> 0) this says so on
/// stderr, and after `give_up_s` (> 0) it ends the process (exit code 2) so the launcher ends the job.
int init(int* argc, char*** argv, double note_s = 30, double give_up_s = 0);
int rank();  ///< 0 without MPI
/// Ends every rank of the run with exit code `code` (MPI_Abort): a rank that fails alone must not
/// leave the others waiting in a collective. Without MPI (or one rank) it returns.
void abort_all(int code);
int size();  ///< 1 without MPI
bool built_with_mpi();

/// The contiguous share of `total` items (chains, images) of `rank` among `ranks`: sizes differ by at
/// most one, the lower ranks take the larger ones. Throws InvalidArgument when ranks > total, unless
/// `allow_empty` (then the ranks past `total` get none, e.g. the last images of an evaluation).
struct Range {
  int64_t first = 0, count = 0;
};
Range share(int64_t total, int rank, int ranks, const std::string& what = "chains", bool allow_empty = false);

/// Throws InvalidArgument on every rank unless every rank passed the same `fingerprint` (e.g. a hash
/// of its config and options): ranks that disagree would compute different runs.
void check_same(uint64_t fingerprint, const std::string& what);

void allreduce_sum(std::span<int64_t> values);
double allreduce_max(double value);
/// Returns when every rank has called it, polling every 10 ms in between (MPI_Ibarrier, MPI_Test)
/// instead of spinning: for waits that may be long, such as ranks waiting for rank 0 to train and
/// cache the feature network, so that the waiting ranks leave their cores idle.
void barrier_idle();
/// barrier_idle, calling `waiting(seconds waited)` every `every_s` seconds while some rank has not
/// come: the first meeting of a command's ranks, where a rank that runs alone (PBIT_NO_MPI=1 on it
/// only) never comes and the others would wait silently for ever. `waiting` may throw or abort.
void barrier_idle(double every_s, const std::function<void(double)>& waiting);
/// What one MPI message carries at most in gather_bytes and broadcast_bytes: MPI counts are ints, so
/// a result of 2 GB or more (a checkpoint of half a million chains of Pegasus(14)) travels in pieces.
inline constexpr size_t kMessageBytes = size_t{1} << 30;
/// Rank 0 gets every rank's values concatenated in rank order, of any size; the others get an empty
/// vector. Collective. `message_bytes` (at most 2^31 - 1) is for tests of the pieces.
std::vector<uint8_t> gather_bytes(std::span<const uint8_t> mine, size_t message_bytes = kMessageBytes);
template <class T>
std::vector<T> gather(std::span<const T> mine) {
  const std::vector<uint8_t> b = gather_bytes(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(mine.data()), mine.size_bytes()));
  std::vector<T> out(b.size() / sizeof(T));
  if (!b.empty()) std::copy_n(reinterpret_cast<const T*>(b.data()), out.size(), out.data());
  return out;
}

/// Rank 0's bytes on every rank (resized there), of any size. Collective.
void broadcast_bytes(std::vector<uint8_t>& bytes, size_t message_bytes = kMessageBytes);
/// Every rank's values concatenated in rank order, on every rank. Collective.
template <class T>
std::vector<T> allgather(std::span<const T> mine) {
  const std::vector<T> all = gather(mine);
  std::vector<uint8_t> b(reinterpret_cast<const uint8_t*>(all.data()), reinterpret_cast<const uint8_t*>(all.data()) + all.size() * sizeof(T));
  broadcast_bytes(b);
  std::vector<T> out(b.size() / sizeof(T));
  if (!b.empty()) std::copy_n(reinterpret_cast<const T*>(b.data()), out.size(), out.data());
  return out;
}

/// Moment sums of a sharded run on every rank: node and edge sums all-reduced, node_mean and edge_corr
/// recomputed over `total_chains` exactly as Sampler::run computes them, so every rank holds the
/// statistics of one process (training's gradient). Other fields are left as they are. Collective.
void allreduce_moments(Observations& o, int32_t total_chains);

/// The Observations of a whole run on rank 0 from each rank's observations of its chain share:
/// moment sums added, per-chain read-outs, energies and snapshots put in global chain order, means
/// recomputed. `total_chains` the run's chains; `groups` the read-out groups observed. Collective.
Observations combine(const Observations& mine, int32_t total_chains, int32_t num_nodes, const std::vector<std::vector<int32_t>>& groups);

}  // namespace pbit::dist
