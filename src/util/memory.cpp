#include "util/memory.hpp"

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
  std::ifstream f("/proc/meminfo");
  for (std::string key; f >> key;) {
    double kb = 0;
    std::string unit;
    f >> kb >> unit;
    if (key == "MemAvailable:") return kb * 1024.0;
  }
  return 16e9;
}

void check_memory(double bytes, const std::string& what) {
  const double limit = memory_limit_bytes();
  if (bytes > limit) {
    throw OutOfMemory(what + " needs about " + format_bytes(bytes) + ", more than the " + format_bytes(limit) +
                      (std::getenv("PBIT_MAX_MEMORY") ? " that PBIT_MAX_MEMORY allows" : " this machine has available (PBIT_MAX_MEMORY sets the limit)"));
  }
}

}  // namespace pbit::detail
