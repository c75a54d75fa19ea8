// Shared by the benchmark binaries: machine/build description for the JSON, argument helpers.
#pragma once
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pbit/core/backend.hpp"
#include "pbit/build_info.hpp"
#include "pbit/error.hpp"
#include "pbit/harness/compare.hpp"
#include "util/parse_number.hpp"

namespace pbit::bench {

// The library's own descriptions (harness/compare.hpp), so every result records the same fields.
inline nlohmann::json machine_info() { return machine_description(); }
inline nlohmann::json build_info() { return build_description(); }
inline std::string utc_now() { return utc_timestamp(); }

inline std::vector<std::string> split(const std::string& s, char sep = ',') {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, sep);) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

/// A whole-string number in [lo, hi] for option `what`; anything else is InvalidArgument naming it.
template <class T>
T number(const std::string& s, const std::string& what, T lo, T hi) {
  T v{};
  if (detail::parse_number(s, v) != detail::ParseStatus::ok || !(v >= lo && v <= hi)) {  // NaN fails too
    std::ostringstream os;
    os << what << " expects a number in [" << lo << ", " << hi << "], got '" << s << "'";
    throw InvalidArgument(os.str());
  }
  return v;
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace pbit::bench
