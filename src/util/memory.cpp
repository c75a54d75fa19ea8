#include "util/memory.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "pbit/error.hpp"
#include "util/parse_number.hpp"

namespace pbit::detail {

std::string format_bytes(double b) {
  char buf[32];
  if (b >= 1e12) std::snprintf(buf, sizeof buf, "%.1f TB", b / 1e12);
  else if (b >= 1e9) std::snprintf(buf, sizeof buf, "%.1f GB", b / 1e9);
  else if (b >= 1e6) std::snprintf(buf, sizeof buf, "%.0f MB", b / 1e6);
  else std::snprintf(buf, sizeof buf, "%.0f KB", b / 1e3);
  return buf;
}

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
      throw InvalidArgument("environment variable PBIT_MAX_MEMORY must be a positive number of bytes (or with K, M, G, T), got '" +
                            std::string(v) + "'");
    }
    return x * mult;
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
  return room >= 0 && room < available ? room : available;
}

double cgroup_room_bytes(const std::string& root) {
  // The first number in a file, or < 0 ("max", absent, unreadable).
  const auto read = [](const std::string& path) {
    std::ifstream f(path);
    std::string word;
    double x = -1;
    if (f >> word && !parse_number_ok(word, x)) x = -1;
    return x;
  };
  // A key's value in a memory.stat file, or 0.
  const auto stat = [](const std::string& path, const std::string& key) {
    std::ifstream f(path);
    std::string k;
    double v = 0;
    while (f >> k >> v)
      if (k == key) return v;
    return 0.0;
  };
  // Usage counts the page cache, which the kernel reclaims before it kills: its inactive part is
  // room (a container that has read its dataset would otherwise seem full).
  double limit = read(root + "/memory.max"), usage = 0;
  if (limit >= 0) {
    usage = read(root + "/memory.current") - stat(root + "/memory.stat", "inactive_file");
  } else {
    limit = read(root + "/memory/memory.limit_in_bytes");
    usage = read(root + "/memory/memory.usage_in_bytes") - stat(root + "/memory/memory.stat", "total_inactive_file");
    if (limit >= 9e18) limit = -1;  // v1's "no limit": about 2^63 rounded down to a page
  }
  if (limit < 0) return -1;
  return std::max(0.0, limit - std::max(0.0, usage));
}

void check_memory(double bytes, const std::string& what) {
  const double limit = memory_limit_bytes();
  if (bytes > limit) {
    throw OutOfMemory(what + " needs about " + format_bytes(bytes) + ", more than the " + format_bytes(limit) +
                      (std::getenv("PBIT_MAX_MEMORY") ? " that PBIT_MAX_MEMORY allows" : " this machine (or its memory cgroup) has available (PBIT_MAX_MEMORY sets the limit)"));
  }
}

}  // namespace pbit::detail
