// Exact parsing of one number from a whole string, for file formats, specs and options: the callers
// turn a failure into an error that names the line, key or option.
#pragma once
#include <charconv>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace pbit::detail {

enum class ParseStatus { ok, malformed, out_of_range };

/// Reads all of `s` as a T (integer or floating point) into `v`. Malformed: empty, anything left
/// over, a sign on an unsigned type, leading spaces. A leading '+' is allowed for signed and floating
/// types. Out of range: too large for T.
template <class T>
ParseStatus parse_number(std::string_view s, T& v) {
  if constexpr (std::is_signed_v<T> || std::is_floating_point_v<T>) {
    if (s.size() > 1 && s[0] == '+' && s[1] != '-') s.remove_prefix(1);
  }
  if (s.empty()) return ParseStatus::malformed;
  const char* end = s.data() + s.size();
  const auto [p, ec] = std::from_chars(s.data(), end, v);
  if (ec == std::errc::result_out_of_range) return ParseStatus::out_of_range;
  if (ec != std::errc() || p != end) return ParseStatus::malformed;
  return ParseStatus::ok;
}

/// parse_number for callers that only need "did it parse".
template <class T>
bool parse_number_ok(std::string_view s, T& v) {
  return parse_number(s, v) == ParseStatus::ok;
}

}  // namespace pbit::detail
