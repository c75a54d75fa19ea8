#include "pbit/dist/comm.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "pbit/error.hpp"

#ifdef PBIT_HAVE_MPI
#include <mpi.h>
#endif

namespace pbit::dist {

namespace {
/// PBIT_NO_MPI=1: this process runs pbit alone, whatever its launcher says and whether or not MPI
/// is running in it (mpi4py starts MPI at import: pbit then joined the other ranks' collectives, and
/// a call made on one rank alone waited for them for ever).
bool alone_asked() {
  const char* v = std::getenv("PBIT_NO_MPI");
  return v && std::string(v) == "1";
}
#ifdef PBIT_HAVE_MPI
bool mpi_running() {
  int started = 0, finished = 0;
  MPI_Initialized(&started);
  MPI_Finalized(&finished);
  return started && !finished;
}
/// Whether pbit runs over MPI ranks: MPI running, and PBIT_NO_MPI not set.
bool mpi_on() { return mpi_running() && !alone_asked(); }
void finalize_at_exit() {  // (MPI that pbit started is finalised, PBIT_NO_MPI or not)
  if (mpi_running()) MPI_Finalize();
}
void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) throw Error(std::string("MPI: ") + what + " failed");
}
#endif
}  // namespace

bool built_with_mpi() {
#ifdef PBIT_HAVE_MPI
  return true;
#else
  return false;
#endif
}

namespace {

#ifdef PBIT_HAVE_MPI
/// Watches MPI_Init from another thread (init's note_s and give_up_s): MPI_Init returns only when
/// every process of the job has called it.
class InitWatch {
 public:
  InitWatch(double note_s, double give_up_s) {
    if (note_s <= 0 && give_up_s <= 0) return;
    thread_ = std::thread([this, note_s, give_up_s] {
      std::unique_lock<std::mutex> lock(mu_);
      const auto t0 = std::chrono::steady_clock::now();
      const auto at = [&](double s) { return t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(s)); };
      if (note_s > 0 && !cv_.wait_until(lock, at(note_s), [this] { return done_; })) {
        std::fprintf(stderr, "pbit: waiting %.0f s in MPI_Init for the other processes of the job to start MPI: one run with "
                             "PBIT_NO_MPI=1, or a pbit built without MPI, never does (docs/SCALING.md)%s\n", note_s,
                     give_up_s > 0 ? "; giving up after PBIT_MPI_START_S" : "");
      }
      if (give_up_s > 0 && !cv_.wait_until(lock, at(give_up_s), [this] { return done_; })) {
        std::fprintf(stderr, "pbit: error: the other processes of the job did not start MPI within %.0f s (PBIT_MPI_START_S); is "
                             "PBIT_NO_MPI=1 set on some ranks only, or a pbit without MPI started on some? (docs/SCALING.md)\n", give_up_s);
        std::fflush(stderr);
        std::_Exit(2);  // (MPI_Init holds the main thread: the launcher sees this process end and ends the job)
      }
      cv_.wait(lock, [this] { return done_; });
    });
  }
  ~InitWatch() {
    if (!thread_.joinable()) return;
    {
      const std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  InitWatch(const InitWatch&) = delete;
  InitWatch& operator=(const InitWatch&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};
#endif

int start(int* argc, char*** argv, double note_s, double give_up_s) {
#ifdef PBIT_HAVE_MPI
  if (!mpi_running()) {
    const bool launched = std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE") || std::getenv("PMIX_RANK");
    // PBIT_NO_MPI=1: one process even so (a pbit started by an MPI rank inherits its launcher's
    // environment, and MPI_Init there ends it).
    if (!launched || alone_asked()) return 1;
    // OpenMP threads run beside MPI on every rank (the host backends, the p-DNN's matrix products),
    // and only the main thread calls MPI: the level that promises is MPI_THREAD_FUNNELED (plain
    // MPI_Init asks for MPI_THREAD_SINGLE, under which no other thread may exist at all).
    int provided = MPI_THREAD_SINGLE;
    {
      const InitWatch watch(note_s, give_up_s);
      check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    }
    std::atexit(finalize_at_exit);
    if (provided < MPI_THREAD_FUNNELED && rank() == 0) {
      std::fprintf(stderr, "warning: this MPI library supports only MPI_THREAD_SINGLE, while pbit runs OpenMP threads beside it; "
                           "if it misbehaves, run with run.threads 1 (or --threads 1)\n");
    }
  }
  return size();
#else
  (void)argc;
  (void)argv;
  (void)note_s;
  (void)give_up_s;
  return 1;
#endif
}

/// How many processes the launcher says it started: OMPI_COMM_WORLD_SIZE (mpirun), PMI_SIZE (MPICH,
/// srun's PMI), SLURM_STEP_NUM_TASKS (srun, with or without an MPI plugin); 1 when none says.
long launched_tasks() {
  long most = 1;
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"}) {
    const char* v = std::getenv(name);
    char* end = nullptr;
    const long n = v && *v ? std::strtol(v, &end, 10) : 1;
    if (end && *end == '\0' && n > most) most = n;
  }
  return most;
}

}  // namespace

int init(int* argc, char*** argv, double note_s, double give_up_s) {
  const int ranks = start(argc, argv, note_s, give_up_s);
  // A launcher that started several processes which cannot see each other (a pbit built without
  // MPI under mpirun, srun --mpi=none) gets K whole runs that write the same files: said once. A
  // PBIT_NO_MPI=1 process asked to run alone.
  static std::atomic<bool> told{false};
  if (ranks == 1 && !alone_asked()) {
    if (const long tasks = launched_tasks(); tasks > 1 && !told.exchange(true)) {
      std::fprintf(stderr,
                   "note: the launcher started %ld processes, but this one runs alone (%s): each runs the whole run and "
                   "writes the same files (docs/SCALING.md)\n",
                   tasks, built_with_mpi() ? "no MPI in its environment: srun --mpi=none? use srun --mpi=pmix" : "this pbit is built without MPI");
    }
  }
  return ranks;
}

void abort_all(int code) {
#ifdef PBIT_HAVE_MPI
  if (mpi_on() && size() > 1) MPI_Abort(MPI_COMM_WORLD, code);
#else
  (void)code;
#endif
}

int rank() {
#ifdef PBIT_HAVE_MPI
  if (mpi_on()) {
    int r = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
  }
#endif
  return 0;
}

int size() {
#ifdef PBIT_HAVE_MPI
  if (mpi_on()) {
    int s = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &s);
    return s;
  }
#endif
  return 1;
}

Range share(int64_t total, int r, int ranks, const std::string& what, bool allow_empty) {
  if (ranks < 1 || r < 0 || r >= ranks) throw InvalidArgument("share: rank " + std::to_string(r) + " of " + std::to_string(ranks));
  if (total < 0) throw InvalidArgument("share: " + std::to_string(total) + " " + what);
  if (ranks > total && !allow_empty) {
    throw InvalidArgument(std::to_string(ranks) + " ranks for " + std::to_string(total) + " " + what + ": every rank needs at least one; " +
                          "run fewer ranks (mpirun -np) or more " + what);
  }
  const int64_t base = total / ranks, extra = total % ranks;
  Range g;
  g.count = base + (r < extra ? 1 : 0);
  g.first = r * base + std::min<int64_t>(r, extra);
  return g;
}

void check_same(uint64_t fingerprint, const std::string& what) {
#ifdef PBIT_HAVE_MPI
  if (mpi_on() && size() > 1) {
    uint64_t lo = 0, hi = 0;
    check(MPI_Allreduce(&fingerprint, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce");
    check(MPI_Allreduce(&fingerprint, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
    if (lo != hi) throw InvalidArgument("the ranks disagree on " + what + ": every rank must be given the same");
  }
#else
  (void)fingerprint;
  (void)what;
#endif
}

void allreduce_sum(std::span<int64_t> v) {
#ifdef PBIT_HAVE_MPI
  if (mpi_on() && size() > 1 && !v.empty()) {
    check(MPI_Allreduce(MPI_IN_PLACE, v.data(), static_cast<int>(v.size()), MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
  }
#else
  (void)v;
#endif
}

double allreduce_max(double x) {
#ifdef PBIT_HAVE_MPI
  if (mpi_on() && size() > 1) check(MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
#endif
  return x;
}

void barrier_idle() { barrier_idle(0, {}); }

void barrier_idle(double every_s, const std::function<void(double)>& waiting) {
#ifdef PBIT_HAVE_MPI
  if (mpi_on() && size() > 1) {
    MPI_Request req = MPI_REQUEST_NULL;
    check(MPI_Ibarrier(MPI_COMM_WORLD, &req), "MPI_Ibarrier");
    const auto t0 = std::chrono::steady_clock::now();
    double next = every_s;
    for (int done = 0;;) {
      check(MPI_Test(&req, &done, MPI_STATUS_IGNORE), "MPI_Test");
      if (done) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (waiting && every_s > 0 && waited >= next) {
        next += every_s;
        waiting(waited);
      }
    }
  }
#else
  (void)every_s;
  (void)waiting;
#endif
}

namespace {
void check_message_bytes(size_t message_bytes) {
  if (message_bytes == 0 || message_bytes > 0x7fffffffu) {
    throw InvalidArgument("MPI: a message of " + std::to_string(message_bytes) + " bytes (1 to 2^31 - 1)");
  }
}
constexpr int kGatherTag = 23;  // (issue 23) the only point-to-point messages pbit sends
}  // namespace

std::vector<uint8_t> gather_bytes(std::span<const uint8_t> mine, size_t message_bytes) {
  check_message_bytes(message_bytes);
#ifdef PBIT_HAVE_MPI
  if (mpi_on() && size() > 1) {
    // Each rank's bytes go to rank 0 in messages of at most message_bytes (an MPI_Gatherv counts in
    // ints, and refused a result of 2 GB: helper-112); rank 0 receives them in rank order.
    const int n = size();
    const uint64_t my = mine.size();
    std::vector<uint64_t> sizes(static_cast<size_t>(n));
    check(MPI_Gather(&my, 1, MPI_UINT64_T, sizes.data(), 1, MPI_UINT64_T, 0, MPI_COMM_WORLD), "MPI_Gather");
    if (rank() != 0) {
      for (uint64_t done = 0; done < my; done += message_bytes) {
        const int c = static_cast<int>(std::min<uint64_t>(message_bytes, my - done));
        check(MPI_Send(mine.data() + done, c, MPI_BYTE, 0, kGatherTag, MPI_COMM_WORLD), "MPI_Send");
      }
      return {};
    }
    uint64_t total = 0;
    for (const uint64_t k : sizes) total += k;
    std::vector<uint8_t> out(total);
    std::copy(mine.begin(), mine.end(), out.begin());
    uint64_t at = my;
    for (int k = 1; k < n; ++k) {
      for (uint64_t done = 0; done < sizes[static_cast<size_t>(k)]; done += message_bytes) {
        const int c = static_cast<int>(std::min<uint64_t>(message_bytes, sizes[static_cast<size_t>(k)] - done));
        check(MPI_Recv(out.data() + at + done, c, MPI_BYTE, k, kGatherTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv");
      }
      at += sizes[static_cast<size_t>(k)];
    }
    return out;
  }
#endif
  return std::vector<uint8_t>(mine.begin(), mine.end());
}

void broadcast_bytes(std::vector<uint8_t>& bytes, size_t message_bytes) {
  check_message_bytes(message_bytes);
#ifdef PBIT_HAVE_MPI
  if (mpi_on() && size() > 1) {
    uint64_t n = bytes.size();
    check(MPI_Bcast(&n, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD), "MPI_Bcast");
    bytes.resize(n);
    for (uint64_t done = 0; done < n; done += message_bytes) {
      const int c = static_cast<int>(std::min<uint64_t>(message_bytes, n - done));
      check(MPI_Bcast(bytes.data() + done, c, MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast");
    }
  }
#else
  (void)bytes;
#endif
}

void allreduce_moments(Observations& o, int32_t total_chains) {
  if (size() == 1) return;
  allreduce_sum(o.node_sum);
  allreduce_sum(o.edge_sum);
  o.num_chains = total_chains;
  set_moment_means(o, total_chains);  // Sampler::run's formula: the same doubles as one process
}

Observations combine(const Observations& mine, int32_t total_chains, int32_t num_nodes, const std::vector<std::vector<int32_t>>& groups) {
  Observations out = mine;
  if (size() == 1) return out;
  const int ranks = size();
  std::vector<int64_t> counts(static_cast<size_t>(ranks));
  for (int r = 0; r < ranks; ++r) counts[r] = share(total_chains, r, ranks).count;
  allreduce_moments(out, total_chains);
  const int64_t S = mine.num_samples, G = static_cast<int64_t>(groups.size()), N = num_nodes, B = total_chains;
  // Per-chain blocks: [row][local chains][width] on each rank -> [row][all chains][width].
  auto regroup = [&](const auto& local, int64_t rows, int64_t width) {
    using T = typename std::decay_t<decltype(local)>::value_type;
    const std::vector<T> all = gather(std::span<const T>(local));
    std::vector<T> res;
    if (rank() != 0 || all.empty()) return res;
    res.resize(static_cast<size_t>(rows * B * width));
    int64_t src = 0, first = 0;
    for (int r = 0; r < ranks; ++r) {
      for (int64_t row = 0; row < rows; ++row) {
        const int64_t n = counts[r] * width;
        std::copy_n(all.begin() + src, n, res.begin() + (row * B + first) * width);
        src += n;
      }
      first += counts[r];
    }
    return res;
  };
  out.readout_sum = regroup(mine.readout_sum, 1, G);
  out.energy = regroup(mine.energy, S, 1);
  const int64_t snaps = N > 0 && mine.num_chains > 0 ? static_cast<int64_t>(mine.snapshots.size()) / (N * mine.num_chains) : 0;
  out.snapshots = regroup(mine.snapshots, snaps, N);
  out.readout_mean.clear();  // as Sampler::run: only with groups and samples
  if (G > 0 && S > 0) {
    out.readout_mean.assign(out.readout_sum.size(), 0.0);
    for (int64_t b = 0; b < (G ? static_cast<int64_t>(out.readout_sum.size()) / G : 0); ++b)
      for (int64_t g = 0; g < G; ++g) {
        out.readout_mean[static_cast<size_t>(b * G + g)] =
            static_cast<double>(out.readout_sum[static_cast<size_t>(b * G + g)]) / (static_cast<double>(groups[g].size()) * static_cast<double>(S));
      }
  }
  return out;
}

}  // namespace pbit::dist
