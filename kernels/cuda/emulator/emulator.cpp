// pbit's CUDA emulator (cuda_runtime.h says what and why): one device shaped like an H200, device
// memory on the host, and kernels run block by block with one fiber per GPU thread.
#include "cuda_runtime.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)  // GCC's -fsanitize=address
#define PBIT_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)  // clang's
#define PBIT_EMU_ASAN 1
#endif
#endif
#if defined(PBIT_EMU_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

/// A stream: the work queued on it and not yet run, in order (launches, async copies and sets).
struct CUstream_st {
  unsigned flags;
  std::mutex mu;  ///< held while its work is queued or run
  std::deque<std::function<void()>> pending;
};

namespace pbit::emu {
namespace {

// The emulated device: an H200's shape (132 SMs, 227 KiB of shared memory per block when opted in,
// 48 KiB without), so the kernel plan chooses what it would choose there.
constexpr int kSms = 132;
constexpr int kMaxThreadsPerBlock = 1024;
constexpr int kMaxThreadsPerSm = 2048;
constexpr int kMaxBlocksPerSm = 32;
constexpr size_t kSmemPerSm = 228 * 1024;
constexpr size_t kSmemPerBlockOptin = 227 * 1024;
constexpr size_t kSmemPerBlockDefault = 48 * 1024;
constexpr size_t kSmemReservedPerBlock = 1024;
constexpr size_t kTotalMemory = size_t{140} << 30;
constexpr unsigned char kPoison = 0xA5;  // what unwritten device and shared memory hold

struct State {
  std::mutex mu;
  std::map<const void*, size_t> allocations;
  size_t allocated = 0;
  std::map<const void*, size_t> max_dynamic_smem;  // per kernel (cudaFuncSetAttribute)
};
State& state() {  // never destroyed: device memory may be freed by other static objects at exit
  static State* s = new State;
  return *s;
}
/// The live streams, for the work that orders them all (cudaDeviceSynchronize, cudaFree) or the
/// blocking ones (the legacy default stream). Held while such work runs, so no stream goes meanwhile.
struct Streams {
  std::mutex mu;
  std::set<cudaStream_t> live;
};
Streams& streams() {  // never destroyed, as state()
  static Streams* s = new Streams;
  return *s;
}
thread_local cudaError_t t_last_error = cudaSuccess;
cudaError_t fail(cudaError_t e) {
  t_last_error = e;
  return e;
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "pbit CUDA emulator: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

// ---------------------------------------------------------------- fibers
// A fiber switch pushes the callee-saved registers on the old stack and pops them from the new one
// (x86-64 System V): the GPU threads of a block switch at every ballot, so ucontext's signal-mask
// system calls would cost most of the run. The floating-point control words are not switched: no
// kernel changes the rounding mode.
#if !defined(__x86_64__)
#error "the CUDA emulator's fiber switch is written for x86-64"
#endif
extern "C" void pbit_emu_switch(void** save_sp, void* to_sp);
asm(R"(
  .pushsection .text
  .globl pbit_emu_switch
  .hidden pbit_emu_switch
  .type pbit_emu_switch, @function
pbit_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size pbit_emu_switch, .-pbit_emu_switch
  .popsection
)");

// Under AddressSanitizer every switch is announced, so it knows which stack is live (the
// cuda-emu-asan preset: the emulator as a memory checker for device and shared memory).
inline void asan_start(void** fake_stack, const void* bottom, size_t size) {
#if defined(PBIT_EMU_ASAN)
  __sanitizer_start_switch_fiber(fake_stack, bottom, size);
#else
  (void)fake_stack, (void)bottom, (void)size;
#endif
}
inline void asan_finish(void* fake_stack, const void** bottom, size_t* size) {
#if defined(PBIT_EMU_ASAN)
  __sanitizer_finish_switch_fiber(fake_stack, bottom, size);
#else
  (void)fake_stack, (void)bottom, (void)size;
#endif
}

/// A fiber stack about to be reused: the redzones ASan drew around the frames of its last thread go.
inline void asan_forget_frames(char* base, size_t size) {
#if defined(PBIT_EMU_ASAN)
  __asan_unpoison_memory_region(base, size);
#else
  (void)base, (void)size;
#endif
}

enum class Wait { ready, block_barrier, warp_ballot, done };

/// A fiber's stack, mapped with an inaccessible page below it, so an overflow faults at once rather
/// than corrupting the heap.
class FiberStack {
 public:
  FiberStack() = default;
  FiberStack(const FiberStack&) = delete;
  FiberStack& operator=(const FiberStack&) = delete;
  FiberStack(FiberStack&& o) noexcept : map_(o.map_), bytes_(o.bytes_) { o.map_ = nullptr; }
  FiberStack& operator=(FiberStack&& o) noexcept {
    std::swap(map_, o.map_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }
  ~FiberStack() {
    if (map_) munmap(map_, bytes_);
  }
  char* get(size_t size) {  ///< the usable stack (`size` bytes, above the guard page)
    if (!map_) {
      const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
      bytes_ = size + page;
      void* m = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m == MAP_FAILED) die("cannot map a fiber stack");
      map_ = static_cast<char*>(m);
      if (mprotect(map_, page, PROT_NONE) != 0) die("cannot protect a fiber stack's guard page");
    }
    return map_ + (bytes_ - size);
  }

 private:
  char* map_ = nullptr;
  size_t bytes_ = 0;
};

struct Fiber {
  void* sp = nullptr;
  void* asan_fake_stack = nullptr;
  FiberStack stack;
  uint3 tid{};
  Wait wait = Wait::ready;
  unsigned mask = 0;   // ballot: the mask it passed
  bool pred = false;   // ballot: its predicate
  unsigned result = 0; // ballot: the warp's answer
};

constexpr size_t kStackBytes = 256 * 1024;

/// One host thread's view of the block it is running.
struct BlockRun {
  std::vector<Fiber> fibers;  ///< never shrinks: the first `threads` are the block's
  int threads = 0;
  void* scheduler_sp = nullptr;
  void* scheduler_fake_stack = nullptr;  // AddressSanitizer's view of the scheduler's stack
  const void* scheduler_bottom = nullptr;
  size_t scheduler_size = 0;
  int current = -1;
  const char* kernel = nullptr;  ///< the running kernel's name
  uint3 block{};
  dim3 grid, dim;
  const std::function<void()>* body = nullptr;
  unsigned char* smem = nullptr;  ///< the launch's dynamic shared memory, exactly its size
  /// Static __shared__ arrays of the running block, by declaration (name and size): each block gets
  /// its own, exactly sized and poisoned, as on the GPU (cmake/cuda_emulator.cmake rewrites them).
  std::map<std::pair<const char*, size_t>, std::unique_ptr<unsigned char[]>> statics;
};
thread_local BlockRun t_block_run;
// The running block, reached through a trivially initialised pointer with the initial-exec model, so
// threadIdx costs a load rather than a call into the TLS machinery (most of the run otherwise).
__attribute__((tls_model("initial-exec"))) thread_local BlockRun* t_run = nullptr;

[[noreturn]] void fiber_entry() {
  asan_finish(nullptr, &t_run->scheduler_bottom, &t_run->scheduler_size);
  (*t_run->body)();
  Fiber& f = t_run->fibers[t_run->current];
  f.wait = Wait::done;
  asan_start(nullptr, t_run->scheduler_bottom, t_run->scheduler_size);  // this stack is done
  pbit_emu_switch(&f.sp, t_run->scheduler_sp);
  die("a finished GPU thread was resumed");
}

/// A fresh fiber's stack: the frame pbit_emu_switch pops (six registers, then fiber_entry as the
/// return address), so the first switch to it enters fiber_entry with the stack aligned as after a
/// call.
void* fresh_stack(char* base) {
  asan_forget_frames(base, kStackBytes);
  auto top = reinterpret_cast<uintptr_t>(base + kStackBytes) & ~uintptr_t{15};
  auto* p = reinterpret_cast<uint64_t*>(top);
  *--p = 0;                                         // fiber_entry's return address: none
  *--p = reinterpret_cast<uint64_t>(&fiber_entry);  // popped by pbit_emu_switch's ret
  for (int r = 0; r < 6; ++r) *--p = 0;             // rbp, rbx, r12 .. r15
  return p;
}

/// Back to the scheduler until it lets this thread go on.
void yield(Wait why) {
  Fiber& f = t_run->fibers[t_run->current];
  f.wait = why;
  asan_start(&f.asan_fake_stack, t_run->scheduler_bottom, t_run->scheduler_size);
  pbit_emu_switch(&f.sp, t_run->scheduler_sp);
  asan_finish(f.asan_fake_stack, &t_run->scheduler_bottom, &t_run->scheduler_size);
}


/// The order in which a block's warps take turns (PBIT_CUDA_EMU_SCHEDULE). A GPU runs them side by
/// side in no fixed order, so a kernel must give the same result under each: one that lacks a
/// barrier between warps gives a different one under at least one of them.
enum class Schedule {
  in_order,     ///< warp 0 until it waits at a barrier, then warp 1, ... (the default)
  reversed,     ///< the same, last warp first, lanes last to first, blocks last to first
  interleaved,  ///< round robin: every warp one step (up to its next ballot or barrier) per turn
};

/// Whether work on a stream of one's own waits for something to order it (PBIT_CUDA_EMU_STREAMS).
bool deferred_streams() {
  const char* v = std::getenv("PBIT_CUDA_EMU_STREAMS");
  if (!v || !*v || std::strcmp(v, "deferred") == 0) return true;
  if (std::strcmp(v, "immediate") == 0) return false;
  die(std::string("PBIT_CUDA_EMU_STREAMS=") + v + ": expected deferred or immediate");
}

/// Runs the work queued on `s`, oldest first.
void drain(cudaStream_t s) {
  const std::lock_guard<std::mutex> lock(s->mu);
  while (!s->pending.empty()) {
    const std::function<void()> work = std::move(s->pending.front());
    s->pending.pop_front();
    work();
  }
}
/// Runs the work queued on every stream (`blocking_only`: on those created without
/// cudaStreamNonBlocking, which the legacy default stream waits for).
void drain_all(bool blocking_only) {
  const std::lock_guard<std::mutex> lock(streams().mu);
  for (cudaStream_t s : streams().live) {
    if (!blocking_only || (s->flags & cudaStreamNonBlocking) == 0) drain(s);
  }
}
/// Whether `p` points into a live cudaMalloc allocation (or just past one).
bool is_device(const void* p) {
  const std::lock_guard<std::mutex> lock(state().mu);
  auto it = state().allocations.upper_bound(p);  // the first allocation above p
  if (it == state().allocations.begin()) return false;
  --it;
  return static_cast<const unsigned char*>(p) <= static_cast<const unsigned char*>(it->first) + it->second;
}
/// `work` in `stream`'s order: on the legacy default stream (null) at once, after the blocking
/// streams' work; on a stream of one's own, queued (or at once under PBIT_CUDA_EMU_STREAMS=immediate).
void enqueue(cudaStream_t stream, std::function<void()> work) {
  if (!stream) {
    drain_all(true);
    work();
  } else if (!deferred_streams()) {
    drain(stream);
    work();
  } else {
    const std::lock_guard<std::mutex> lock(stream->mu);
    stream->pending.push_back(std::move(work));
  }
}
/// Returns once everything queued on `stream` so far has run (the legacy stream's work already has).
void finish(cudaStream_t stream) {
  if (stream) drain(stream);
}

Schedule schedule_from_env() {
  const char* v = std::getenv("PBIT_CUDA_EMU_SCHEDULE");
  if (!v || !*v || std::strcmp(v, "in-order") == 0) return Schedule::in_order;
  if (std::strcmp(v, "reversed") == 0) return Schedule::reversed;
  if (std::strcmp(v, "interleaved") == 0) return Schedule::interleaved;
  die(std::string("PBIT_CUDA_EMU_SCHEDULE=") + v + ": expected in-order, reversed or interleaved");
}

/// Runs one block to its end. In turn (Schedule), each warp's lanes run until they finish or wait; a
/// warp whose lanes all wait at a ballot gets its answer and goes on (in its turn: at once, or next
/// round when interleaved); when no thread can run, a barrier opens if every thread of the block
/// waits at it, and anything else is a deadlock.
void run_block(const char* kernel, Schedule schedule) {
  auto& fs = t_run->fibers;
  const int n = t_run->threads;
  const unsigned dx = t_run->dim.x, dy = t_run->dim.y;
  for (int i = 0; i < n; ++i) {
    Fiber& f = fs[i];
    f.sp = fresh_stack(f.stack.get(kStackBytes));
    f.wait = Wait::ready;
    f.tid = uint3{static_cast<unsigned>(i) % dx, (static_cast<unsigned>(i) / dx) % dy, static_cast<unsigned>(i) / (dx * dy)};
  }
  const auto where = [&] {
    return " in block (" + std::to_string(t_run->block.x) + "," + std::to_string(t_run->block.y) + "," + std::to_string(t_run->block.z) + ")";
  };
  const int warps = (n + 31) / 32;
  int live = n;
  while (live > 0) {
    bool ran = false;
    for (int k = 0; k < warps; ++k) {
      const int w = schedule == Schedule::reversed ? warps - 1 - k : k;
      const int w0 = 32 * w, w1 = std::min(n, w0 + 32);
      for (;;) {
        for (int j = w0; j < w1; ++j) {
          const int i = schedule == Schedule::reversed ? w0 + w1 - 1 - j : j;
          if (fs[i].wait != Wait::ready) continue;
          ran = true;
          t_run->current = i;
          asan_start(&t_run->scheduler_fake_stack, fs[i].stack.get(kStackBytes), kStackBytes);
          pbit_emu_switch(&t_run->scheduler_sp, fs[i].sp);
          asan_finish(t_run->scheduler_fake_stack, nullptr, nullptr);
          if (fs[i].wait == Wait::done) --live;
        }
        t_run->current = -1;
        int at = 0, done = 0;
        for (int i = w0; i < w1; ++i) at += fs[i].wait == Wait::warp_ballot, done += fs[i].wait == Wait::done;
        if (at == 0 || at + done < w1 - w0) break;  // no ballot, or lanes wait at a barrier (deadlock, below)
        if (done > 0) {
          die(std::string(kernel) + ": __ballot_sync in warp " + std::to_string(w) + where() + " after " + std::to_string(done) +
              " of its lanes exited");
        }
        const unsigned present = w1 - w0 == 32 ? 0xffffffffu : (1u << (w1 - w0)) - 1u;
        unsigned votes = 0;
        for (int i = w0; i < w1; ++i) {
          if (fs[i].mask != fs[w0].mask || (fs[i].mask & ~present) != 0) {
            die(std::string(kernel) + ": __ballot_sync mask " + std::to_string(fs[i].mask) + " of lane " + std::to_string(i - w0) + " of warp " +
                std::to_string(w) + where() + " names lanes outside the warp or differs from lane 0's");
          }
          if ((fs[i].mask >> (i - w0) & 1u) == 0) {
            die(std::string(kernel) + ": __ballot_sync mask " + std::to_string(fs[i].mask) + " leaves out lane " + std::to_string(i - w0) +
                " of warp " + std::to_string(w) + where() + ", which calls it");
          }
          if (fs[i].pred) votes |= 1u << (i - w0);
        }
        for (int i = w0; i < w1; ++i) fs[i].result = votes & fs[i].mask, fs[i].wait = Wait::ready;
        if (schedule == Schedule::interleaved) break;  // its next step comes in the next round
      }
    }
    if (live == 0 || ran) continue;
    int at_barrier = 0, at_ballot = 0;
    for (int i = 0; i < n; ++i) at_barrier += fs[i].wait == Wait::block_barrier, at_ballot += fs[i].wait == Wait::warp_ballot;
    if (at_barrier != live) {
      die(std::string(kernel) + ": deadlock" + where() + ": " + std::to_string(at_barrier) + " threads wait at __syncthreads and " +
          std::to_string(at_ballot) + " at __ballot_sync (a barrier or ballot not reached by all)");
    }
    if (live != n) {
      die(std::string(kernel) + ": __syncthreads" + where() + " after " + std::to_string(n - live) + " of its threads exited");
    }
    for (int i = 0; i < n; ++i) fs[i].wait = Wait::ready;
  }
}

}  // namespace

const uint3& thread_idx() {
  if (!t_run || t_run->current < 0) die("threadIdx read outside a kernel");
  return t_run->fibers[t_run->current].tid;
}
const uint3& block_idx() { return thread_idx(), t_run->block; }
const dim3& block_dim() { return thread_idx(), t_run->dim; }
const dim3& grid_dim() { return thread_idx(), t_run->grid; }
void sync_threads() {
  if (!t_run || t_run->current < 0) die("__syncthreads outside a kernel");
  yield(Wait::block_barrier);
}
unsigned ballot(unsigned mask, bool pred) {
  if (!t_run || t_run->current < 0) die("__ballot_sync outside a kernel");
  Fiber& f = t_run->fibers[t_run->current];
  f.mask = mask;
  f.pred = pred;
  yield(Wait::warp_ballot);
  return t_run->fibers[t_run->current].result;
}
void* dynamic_shared() {
  if (!t_run || t_run->current < 0) die("dynamic shared memory outside a kernel");
  return t_run->smem;
}
void check_device_pointer(const char* kernel, int index, const void* p) {
  if (!p || is_device(p)) return;
  die(std::string(kernel) + ": pointer argument " + std::to_string(index) +
      " points at no live device allocation (host memory, or device memory already freed)");
}
void launch_bounds(unsigned max_threads, unsigned, unsigned) {
  if (!t_run || t_run->current < 0) die("__launch_bounds__ outside a kernel");
  if (static_cast<unsigned>(t_run->threads) > max_threads) {
    die(std::string(t_run->kernel) + ": launched with " + std::to_string(t_run->threads) + " threads per block, above its __launch_bounds__(" +
        std::to_string(max_threads) + ") (a GPU refuses the launch)");
  }
}
void* block_shared(const char* name, size_t bytes) {
  if (!t_run || t_run->current < 0) die("__shared__ memory outside a kernel");
  auto& buf = t_run->statics[{name, bytes}];
  if (!buf) {
    buf.reset(new unsigned char[bytes]);
    std::memset(buf.get(), kPoison, bytes);
  }
  return buf.get();
}

cudaError_t func_set_attribute(const void* func, cudaFuncAttribute attr, int value) {
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize) return fail(cudaErrorInvalidValue);
  if (value < 0 || static_cast<size_t>(value) > kSmemPerBlockOptin) return fail(cudaErrorInvalidValue);
  const std::lock_guard<std::mutex> lock(state().mu);
  state().max_dynamic_smem[func] = static_cast<size_t>(value);
  return cudaSuccess;
}

namespace {
size_t max_dynamic_smem(const void* func) {
  const std::lock_guard<std::mutex> lock(state().mu);
  const auto it = state().max_dynamic_smem.find(func);
  return it == state().max_dynamic_smem.end() ? kSmemPerBlockDefault : it->second;
}
}  // namespace

cudaError_t occupancy(int* blocks, const void* func, int block_size, size_t dynamic_smem) {
  if (!blocks || block_size <= 0 || block_size > kMaxThreadsPerBlock) return fail(cudaErrorInvalidValue);
  if (dynamic_smem > max_dynamic_smem(func)) {
    *blocks = 0;
    return cudaSuccess;
  }
  const int warps = (block_size + 31) / 32;
  int b = std::min(kMaxBlocksPerSm, kMaxThreadsPerSm / (32 * warps));
  b = std::min<int>(b, static_cast<int>(kSmemPerSm / (dynamic_smem + kSmemReservedPerBlock)));
  *blocks = b;
  return cudaSuccess;
}

namespace {
/// Runs every block of a launch whose configuration was checked, now, on this host thread.
void run_grid(const char* kernel, dim3 grid, dim3 block, size_t dynamic_smem, const std::function<void()>& body) {
  const unsigned long long threads = static_cast<unsigned long long>(block.x) * block.y * block.z;
  if (!t_run) t_run = &t_block_run;
  if (t_run->current >= 0) die("a kernel launched from inside a kernel");
  if (t_run->fibers.size() < threads) t_run->fibers.resize(threads);
  t_run->threads = static_cast<int>(threads);
  t_run->kernel = kernel;
  t_run->grid = grid;
  t_run->dim = block;
  t_run->body = &body;
  const Schedule schedule = schedule_from_env();
  // Dynamic shared memory of exactly the launch's size (ASan sees an overrun), 128-byte aligned as on
  // the GPU; none (a null pointer) when the launch asks for none.
  void* smem = nullptr;
  if (dynamic_smem > 0 && posix_memalign(&smem, 128, dynamic_smem) != 0) die("cannot allocate dynamic shared memory");
  const std::unique_ptr<void, decltype(&std::free)> own_smem(smem, &std::free);
  t_run->smem = static_cast<unsigned char*>(smem);
  const unsigned long long blocks = static_cast<unsigned long long>(grid.x) * grid.y * grid.z;
  for (unsigned long long k = 0; k < blocks; ++k) {
    const unsigned long long b = schedule == Schedule::reversed ? blocks - 1 - k : k;
    t_run->block = uint3{static_cast<unsigned>(b % grid.x), static_cast<unsigned>(b / grid.x % grid.y), static_cast<unsigned>(b / grid.x / grid.y)};
    if (dynamic_smem > 0) std::memset(smem, kPoison, dynamic_smem);
    t_run->statics.clear();
    run_block(kernel, schedule);
  }
  t_run->statics.clear();
  t_run->smem = nullptr;
  t_run->body = nullptr;
  t_run->kernel = nullptr;
}
}  // namespace

namespace {
constexpr int kMaxDevices = 8;
std::array<std::atomic<long long>, kMaxDevices>& launches() {
  static std::array<std::atomic<long long>, kMaxDevices> n{};
  return n;
}

/// PBIT_CUDA_EMU_DEVICES: how many devices the emulator shows (1 to 8; default 1).
int device_count() {
  const char* v = std::getenv("PBIT_CUDA_EMU_DEVICES");
  if (!v || !*v) return 1;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  if (*end != '\0' || n < 1 || n > kMaxDevices) die(std::string("PBIT_CUDA_EMU_DEVICES=") + v + ": expected 1 to 8");
  return static_cast<int>(n);
}
}  // namespace

long long launches_on_device(int device) { return device >= 0 && device < kMaxDevices ? launches()[static_cast<size_t>(device)].load() : 0; }

void launch_grid(const char* kernel, const void* func, dim3 grid, dim3 block, size_t dynamic_smem, cudaStream_t stream,
                 std::function<void()> body) {
  const unsigned long long threads = static_cast<unsigned long long>(block.x) * block.y * block.z;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535 || threads == 0 ||
      threads > kMaxThreadsPerBlock || block.z > 64) {
    fail(cudaErrorInvalidConfiguration);
    return;
  }
  if (dynamic_smem > max_dynamic_smem(func)) {
    fail(cudaErrorInvalidValue);
    return;
  }
  if (t_run && t_run->current >= 0) die(std::string("a kernel launched from inside a kernel (") + t_run->kernel + ")");
  int device = 0;
  (void)cudaGetDevice(&device);
  launches()[static_cast<size_t>(device)].fetch_add(1);
  enqueue(stream, [kernel, grid, block, dynamic_smem, body = std::move(body)] { run_grid(kernel, grid, block, dynamic_smem, body); });
}

}  // namespace pbit::emu

using pbit::emu::fail;
using pbit::emu::state;

cudaError_t cudaGetDeviceCount(int* count) {
  *count = pbit::emu::device_count();
  return cudaSuccess;
}
namespace {
thread_local int t_device = 0;
}
cudaError_t cudaGetDevice(int* device) {
  *device = t_device;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
  if (device < 0 || device >= pbit::emu::device_count()) return fail(cudaErrorInvalidDevice);
  t_device = device;
  return cudaSuccess;
}
cudaError_t cudaDeviceReset() {
  pbit::emu::drain_all(false);
  const std::lock_guard<std::mutex> lock(state().mu);
  state().max_dynamic_smem.clear();
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() {
  pbit::emu::drain_all(false);
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  if (device < 0 || device >= pbit::emu::device_count()) return fail(cudaErrorInvalidDevice);
  *p = cudaDeviceProp{};
  std::snprintf(p->name, sizeof p->name, "pbit CUDA emulator (host, H200-shaped)");
  p->totalGlobalMem = pbit::emu::kTotalMemory;
  p->sharedMemPerBlock = pbit::emu::kSmemPerBlockDefault;
  p->regsPerBlock = 65536;
  p->warpSize = 32;
  p->maxThreadsPerBlock = pbit::emu::kMaxThreadsPerBlock;
  p->maxThreadsDim[0] = p->maxThreadsDim[1] = 1024, p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 0x7fffffff, p->maxGridSize[1] = p->maxGridSize[2] = 65535;
  p->major = 9, p->minor = 0;
  p->multiProcessorCount = pbit::emu::kSms;
  p->maxThreadsPerMultiProcessor = pbit::emu::kMaxThreadsPerSm;
  p->sharedMemPerMultiprocessor = pbit::emu::kSmemPerSm;
  p->sharedMemPerBlockOptin = pbit::emu::kSmemPerBlockOptin;
  p->maxBlocksPerMultiProcessor = pbit::emu::kMaxBlocksPerSm;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetPCIBusId(char* id, int len, int device) {
  if (device < 0 || device >= pbit::emu::device_count()) return fail(cudaErrorInvalidDevice);
  if (!id || len < 13) return fail(cudaErrorInvalidValue);
  std::snprintf(id, static_cast<size_t>(len), "0000:00:%02x.0", device);  // no such GPU: NVML finds none there
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (device < 0 || device >= pbit::emu::device_count()) return fail(cudaErrorInvalidDevice);
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = pbit::emu::kMaxThreadsPerBlock; return cudaSuccess;
    case cudaDevAttrMultiProcessorCount: *value = pbit::emu::kSms; return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = static_cast<int>(pbit::emu::kSmemPerBlockOptin); return cudaSuccess;
  }
  return fail(cudaErrorInvalidValue);
}
cudaError_t cudaDriverGetVersion(int* version) {
  *version = 13000;
  return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int* version) {
  *version = 13000;
  return cudaSuccess;
}
cudaError_t cudaGetLastError() {
  const cudaError_t e = pbit::emu::t_last_error;
  pbit::emu::t_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return pbit::emu::t_last_error; }
const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError: return "cudaErrorInitializationError";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}
const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInitializationError: return "initialization error";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInsufficientDriver: return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
  }
  return "unknown error";
}

cudaError_t cudaMalloc(void** p, size_t bytes) {
  *p = nullptr;
  if (bytes == 0) return cudaSuccess;
  {
    const std::lock_guard<std::mutex> lock(state().mu);
    if (bytes > pbit::emu::kTotalMemory - state().allocated) return fail(cudaErrorMemoryAllocation);
  }
  void* q = nullptr;  // cudaMalloc's alignment, and exactly the size asked for (ASan sees an overrun)
  if (posix_memalign(&q, 256, bytes) != 0) return fail(cudaErrorMemoryAllocation);
  std::memset(q, pbit::emu::kPoison, bytes);
  const std::lock_guard<std::mutex> lock(state().mu);
  state().allocations[q] = bytes;
  state().allocated += bytes;
  *p = q;
  return cudaSuccess;
}
cudaError_t cudaFree(void* p) {
  if (!p) return cudaSuccess;
  pbit::emu::drain_all(false);  // cudaFree waits for the device, so queued work never sees freed memory
  {
    const std::lock_guard<std::mutex> lock(state().mu);
    const auto it = state().allocations.find(p);
    if (it == state().allocations.end()) return fail(cudaErrorInvalidValue);
    state().allocated -= it->second;
    state().allocations.erase(it);
  }
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  const std::lock_guard<std::mutex> lock(state().mu);
  *total_bytes = pbit::emu::kTotalMemory;
  *free_bytes = pbit::emu::kTotalMemory - state().allocated;
  return cudaSuccess;
}
// Copies and sets on the legacy default stream run at once, after the blocking streams' work (not
// the non-blocking ones': a host that reads what such a stream wrote must synchronize it first).
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  return cudaMemcpyAsync(dst, src, bytes, kind, nullptr);
}
// As CUDA documents for pageable host memory (the emulator has no pinned memory): a copy into host
// memory returns once it is done, after the stream's earlier work; a copy from host memory takes the
// bytes at the call (a staging buffer) and writes the device in the stream's order; device to device
// is queued.
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind, cudaStream_t stream) {
  if (!bytes) return cudaSuccess;
  if (!pbit::emu::is_device(dst)) {
    pbit::emu::enqueue(stream, [=] { std::memmove(dst, src, bytes); });
    pbit::emu::finish(stream);
  } else if (!pbit::emu::is_device(src)) {
    auto staged = std::make_shared<std::vector<unsigned char>>(static_cast<const unsigned char*>(src),
                                                               static_cast<const unsigned char*>(src) + bytes);
    pbit::emu::enqueue(stream, [=] { std::memcpy(dst, staged->data(), bytes); });
  } else {
    pbit::emu::enqueue(stream, [=] { std::memmove(dst, src, bytes); });
  }
  return cudaSuccess;
}
cudaError_t cudaMemset(void* p, int value, size_t bytes) { return cudaMemsetAsync(p, value, bytes, nullptr); }
cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t stream) {
  if (bytes) pbit::emu::enqueue(stream, [=] { std::memset(p, value, bytes); });
  return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags) {
  *stream = new CUstream_st{};
  (*stream)->flags = flags;
  const std::lock_guard<std::mutex> lock(pbit::emu::streams().mu);
  pbit::emu::streams().live.insert(*stream);
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (!stream) return fail(cudaErrorInvalidResourceHandle);
  {
    const std::lock_guard<std::mutex> lock(pbit::emu::streams().mu);
    if (pbit::emu::streams().live.erase(stream) == 0) return fail(cudaErrorInvalidResourceHandle);
  }
  pbit::emu::drain(stream);  // its queued work still runs, as on the GPU
  delete stream;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (!stream) {
    pbit::emu::drain_all(true);
    return cudaSuccess;
  }
  {
    const std::lock_guard<std::mutex> lock(pbit::emu::streams().mu);
    if (pbit::emu::streams().live.count(stream) == 0) return fail(cudaErrorInvalidResourceHandle);
  }
  pbit::emu::drain(stream);
  return cudaSuccess;
}
