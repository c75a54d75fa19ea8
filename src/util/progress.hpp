// A status line on stderr for long runs: redrawn in place on a terminal, printed every 10% otherwise
// (logs, CI), with elapsed time and an ETA.
#pragma once
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace pbit::detail {

inline double monotonic_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/// Set on the MPI ranks other than 0 (src/cli/main.cpp): their status lines would repeat rank 0's.
inline bool& progress_muted() {
  static bool muted = false;
  return muted;
}

/// A check run at every status-line update, before the muting and throttling: the Python binding
/// installs one (once, at import) that looks for Ctrl-C while a pbit.cli command runs, so a long
/// command ends with KeyboardInterrupt at its next update. It may throw; the command then unwinds as
/// on an error. An atomic plain function, safe to read from any thread. Defined in libpbit
/// (progress.cpp), not inline: the Python module, built with hidden visibility, must set the copy the
/// library's trainers read.
void set_interrupt_check(void (*check)());
void run_interrupt_check();
/// Whether the interrupt check has thrown in this process (Ctrl-C in pbit.cli): under mpirun the
/// command then ends every rank as interrupted, not as an internal error (cli/main.cpp).
bool interrupted();
void reset_interrupted();  ///< (at a command's start: pbit.cli may run again after a caught Ctrl-C)

class Progress {
 public:
  Progress(std::string label, int64_t total) : label_(std::move(label)), total_(total), t0_(monotonic_s()), tty_(isatty(2)) {}
  void update(int64_t done, const std::string& extra = "") {
    run_interrupt_check();
    if (progress_muted()) return;
    const double t = monotonic_s();
    const bool last = done >= total_;
    if (tty_) {
      if (!last && t - last_draw_ < 0.25) return;
    } else {
      const int64_t decile = total_ > 0 ? done * 10 / total_ : 10;
      if (!last && decile == last_decile_) return;
      last_decile_ = decile;
    }
    last_draw_ = t;
    const int width = 24;
    const int fill = total_ > 0 ? static_cast<int>(width * done / total_) : width;
    const double el = t - t0_, eta = done > 0 ? el * (total_ - done) / done : 0;
    std::fprintf(stderr, "%s%s [%s%s] %lld/%lld %s elapsed %.0fs eta %.0fs%s", tty_ ? "\r" : "", label_.c_str(),
                 std::string(fill, '#').c_str(), std::string(width - fill, '.').c_str(), static_cast<long long>(done),
                 static_cast<long long>(total_), extra.c_str(), el, eta, tty_ ? (last ? "\n" : "") : "\n");
    std::fflush(stderr);
  }

 private:
  std::string label_;
  int64_t total_;
  double t0_, last_draw_ = -1;
  bool tty_;
  int64_t last_decile_ = -1;
};

}  // namespace pbit::detail
