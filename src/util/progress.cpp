#include "util/progress.hpp"

#include <atomic>

namespace pbit::detail {

namespace {
std::atomic<void (*)()> g_interrupt_check{nullptr};
}  // namespace

void set_interrupt_check(void (*check)()) { g_interrupt_check.store(check); }

void run_interrupt_check() {
  if (void (*check)() = g_interrupt_check.load(std::memory_order_relaxed)) check();
}

}  // namespace pbit::detail
