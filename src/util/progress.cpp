#include "util/progress.hpp"

#include <atomic>

namespace pbit::detail {

namespace {
std::atomic<void (*)()> g_interrupt_check{nullptr};
std::atomic<bool> g_interrupted{false};
}  // namespace

void set_interrupt_check(void (*check)()) { g_interrupt_check.store(check); }

void run_interrupt_check() {
  if (void (*check)() = g_interrupt_check.load(std::memory_order_relaxed)) {
    try {
      check();
    } catch (...) {
      g_interrupted.store(true);
      throw;
    }
  }
}

bool interrupted() { return g_interrupted.load(); }

void reset_interrupted() { g_interrupted.store(false); }

}  // namespace pbit::detail
