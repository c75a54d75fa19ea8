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
#include "util/parse_number.hpp"

namespace pbit::bench {

inline nlohmann::json machine_info() {
  utsname u{};
  uname(&u);
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return {{"hostname", host},
          {"os", std::string(u.sysname) + " " + u.release},
          {"arch", u.machine},
          {"cpu", backend_device_name(Backend::reference).substr(0, backend_device_name(Backend::reference).rfind(" ("))},
          {"logical_cpus", sysconf(_SC_NPROCESSORS_ONLN)},
          {"gpu", backend_available(Backend::cuda) ? backend_device_name(Backend::cuda) : "none"}};
}

inline nlohmann::json build_info() {
  return {{"git_sha", build_git_sha()}, {"build_type", build_type()}, {"compiler", build_compiler()},
          {"cuda_compiled", build_has_cuda()}};
}

inline std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

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
