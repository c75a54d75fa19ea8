#include "util/memory.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <sys/resource.h>

#include "pbit/error.hpp"
#include "util/parse_number.hpp"

namespace pbit::detail {

std::string format_bytes(double b) {
  char buf[32];
  if (b >= 1e12) std::snprintf(buf, sizeof buf, "%.1f TB", b / 1e12);
  else if (b >= 1e9) std::snprintf(buf, sizeof buf, "%.1f GB", b / 1e9);
  else if (b >= 1e6) std::snprintf(buf, sizeof buf, "%.0f MB", b / 1e6);
  else if (b >= 999.5) std::snprintf(buf, sizeof buf, "%.0f KB", b / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f bytes", b);  // (PBIT_MAX_MEMORY=100 is no "0 KB")
  return buf;
}

namespace {
// The smaller room, where < 0 is none.
double tighter(double a, double b) { return a < 0 ? b : b < 0 ? a : std::min(a, b); }
}  // namespace

double memory_limit_bytes() {
  if (const char* v = std::getenv("PBIT_MAX_MEMORY"); v && *v) {
    std::string s = v;
    double mult = 1;
    const char last = s.back();
    if (last == 'K' || last == 'k') mult = 1e3;
    else if (last == 'M' || last == 'm') mult = 1e6;
    else if (last == 'G' || last == 'g') mult = 1e9;
    else if (last == 'T' || last == 't') mult = 1e12;
    if (mult != 1) s.pop_back();
    double x = 0;
    if (!parse_number_ok(s, x) || !(x > 0)) {
      // InvalidConfig, not InvalidArgument: the process's setting, which a caller that names its
      // own argument in an InvalidArgument (make_topology: "topology 'grid:8'") must not claim.
      throw InvalidConfig("environment variable PBIT_MAX_MEMORY must be a positive number of bytes (or with K, M, G, T), got '" +
                            std::string(v) + "'");
    }
    return x * mult;
  }
  // Resource limits are per process (a fork may lower them), read at every call: a syscall, and the
  // process's sizes only when one is set.
  const double rlimit_room = rlimit_room_bytes();
  auto with_rlimit = [&](double limit) { return tighter(limit, rlimit_room); };
  // What the system and the cgroups leave, read at most about once a second: a loop of runs (a
  // training's batches, each run's observations past 4 MB checked) would otherwise read a dozen
  // files per run. (Atomics, not a lock: a forked child must not wait on a lock held by a thread it
  // does not have.)
  static std::atomic<double> cached{-1.0};
  static std::atomic<int64_t> cached_at_ns{0};
  const int64_t now_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  if (const double c = cached.load(std::memory_order_relaxed); c >= 0 && now_ns - cached_at_ns.load(std::memory_order_relaxed) < 1000000000) {
    return with_rlimit(c);
  }
  double available = 16e9;
  std::ifstream f("/proc/meminfo");
  for (std::string key; f >> key;) {
    double kb = 0;
    std::string unit;
    f >> kb >> unit;
    if (key == "MemAvailable:") {
      available = kb * 1024.0;
      break;
    }
  }
  // MemAvailable is the host's; a container or batch job may be held to less.
  const double room = cgroup_room_bytes();
  const double limit = room >= 0 && room < available ? room : available;
  cached.store(limit, std::memory_order_relaxed);
  cached_at_ns.store(now_ns, std::memory_order_relaxed);
  return with_rlimit(limit);
}

double rlimit_room_bytes() {
  double room = -1;
  auto status_kb = [](const std::string& key) {  // a VmXxx: line of /proc/self/status, in bytes
    std::ifstream f("/proc/self/status");
    for (std::string k; f >> k;) {
      double kb = 0;
      if (k == key && f >> kb) return kb * 1024.0;
      std::string rest;
      std::getline(f, rest);
    }
    return 0.0;
  };
  struct rlimit rl {};
  if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    room = std::max(0.0, static_cast<double>(rl.rlim_cur) - status_kb("VmSize:"));
  }
  if (getrlimit(RLIMIT_DATA, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    room = tighter(room, std::max(0.0, static_cast<double>(rl.rlim_cur) - status_kb("VmData:")));
  }
  return room;
}

namespace {

// The first number in a file, or < 0 ("max", absent, unreadable).
double read_number(const std::string& path) {
  std::ifstream f(path);
  std::string word;
  double x = -1;
  if (f >> word && !parse_number_ok(word, x)) x = -1;
  return x;
}

// A key's value in a memory.stat file, or 0.
double stat_value(const std::string& path, const std::string& key) {
  std::ifstream f(path);
  std::string k;
  double v = 0;
  while (f >> k >> v)
    if (k == key) return v;
  return 0.0;
}

// The room one cgroup's own limit leaves, or < 0 without a limit. Usage counts the page cache, which
// the kernel reclaims before it kills: its inactive part is room (a container that has read its
// dataset would otherwise seem full).
double room_v2(const std::string& dir) {
  const double limit = read_number(dir + "/memory.max");
  if (limit < 0) return -1;
  const double usage = read_number(dir + "/memory.current") - stat_value(dir + "/memory.stat", "inactive_file");
  return std::max(0.0, limit - std::max(0.0, usage));
}
double room_v1(const std::string& dir) {
  const double limit = read_number(dir + "/memory.limit_in_bytes");
  if (limit < 0 || limit >= 9e18) return -1;  // v1's "no limit": about 2^63 rounded down to a page
  const double usage = read_number(dir + "/memory.usage_in_bytes") - stat_value(dir + "/memory.stat", "total_inactive_file");
  return std::max(0.0, limit - std::max(0.0, usage));
}


// The tightest room from `base + rel` up to `base`: a batch job's limit is usually on an ancestor of
// the cgroup its processes are in (Slurm: .../job_N, its processes in .../job_N/step_0/task_0), and
// every ancestor's limit holds. Only `base` when `rel` is not a clean absolute path under it (a
// container that sees the host's path in /proc/self/cgroup but its own cgroup at `base`).
double walk_up(const std::string& base, const std::string& rel, double (*room_of)(const std::string&)) {
  namespace fs = std::filesystem;
  fs::path p(rel);
  std::error_code ec;
  const bool clean = !rel.empty() && rel.front() == '/' &&
                     std::none_of(p.begin(), p.end(), [](const fs::path& c) { return c == ".."; });
  if (!clean || !fs::is_directory(base + rel, ec)) p = "/";
  double room = -1;
  for (;;) {
    const std::string s = p.string();
    room = tighter(room, room_of(s == "/" ? base : base + s));
    if (s == "/" || s.empty()) break;
    p = p.parent_path();
  }
  return room;
}

}  // namespace

double cgroup_room_bytes(const std::string& root, const std::string& self) {
  // /proc/self/cgroup: "0::/PATH" (v2) and "ID:CONTROLLERS:/PATH" (v1; the memory one).
  std::string v2, v1;
  std::ifstream f(self);
  for (std::string line; std::getline(f, line);) {
    const auto a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (line.compare(0, a, "0") == 0 && controllers.empty()) v2 = path;
    std::istringstream names(controllers);
    for (std::string c; std::getline(names, c, ',');)
      if (c == "memory") v1 = path;
  }
  return tighter(walk_up(root, v2, room_v2), walk_up(root + "/memory", v1, room_v1));
}

void check_memory(double bytes, const std::string& what) {
  const double limit = memory_limit_bytes();
  if (bytes > limit) {
    throw OutOfMemory(what + " needs about " + format_bytes(bytes) + ", more than the " + format_bytes(limit) +
                      (std::getenv("PBIT_MAX_MEMORY") ? " that PBIT_MAX_MEMORY allows" : " this machine (or its memory cgroup, or ulimit -v / -d) has available (PBIT_MAX_MEMORY sets the limit)"));
  }
}

}  // namespace pbit::detail
