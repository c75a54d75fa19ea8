// Small text helpers shared by the library's and the CLI's messages.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace pbit::detail {

/// A C0 control byte or DEL: what breaks a line of a data file, a table cell or a terminal.
inline bool is_control_byte(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

/// "\xNN": how messages, summaries and plot labels show a byte they cannot print.
inline std::string hex_byte(char c) {
  static constexpr char digits[] = "0123456789abcdef";
  const auto u = static_cast<unsigned char>(c);
  return {'\\', 'x', digits[u >> 4], digits[u & 15]};
}

/// Whether the three bytes of `s` at `k` are one of Unicode's bidirectional controls, U+202A..U+202E
/// or U+2066..U+2069 (E2 80 AA..AE, E2 81 A6..A9 in UTF-8): they reverse the text after them in a
/// terminal line, a table cell or a plot title.
inline bool is_bidi_control_at(std::string_view s, size_t k) {
  if (k + 2 >= s.size() || static_cast<unsigned char>(s[k]) != 0xe2) return false;
  const auto b1 = static_cast<unsigned char>(s[k + 1]), b2 = static_cast<unsigned char>(s[k + 2]);
  return (b1 == 0x80 && b2 >= 0xaa && b2 <= 0xae) || (b1 == 0x81 && b2 >= 0xa6 && b2 <= 0xa9);
}

/// "a, b, c and 4 more": the first `most` items joined by ", ", then how many were left out.
inline std::string join_at_most(const std::vector<std::string>& items, size_t most) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < most; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > most) out += " and " + std::to_string(items.size() - most) + " more";
  return out;
}

/// `text` as a terminal should show it: control bytes (but line breaks and tabs), DEL, the C1
/// controls (U+0080..U+009F: U+009B is a one-byte CSI), Unicode's bidirectional controls
/// (U+202A..U+202E, U+2066..U+2069, which reverse the rest of a line) and bytes that are not well-formed UTF-8
/// (overlong forms, surrogates and code points past U+10FFFF included) as \xNN, so that a config
/// key, option or file name holding a terminal escape or binary junk prints as text. The CLI's
/// errors and the library's own notes on stderr name paths and keys through it.
std::string printable(const std::string& text);

}  // namespace pbit::detail
