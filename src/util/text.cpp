// The text helpers that are not one-liners (text.hpp says what each does).
#include "util/text.hpp"

namespace pbit::detail {

std::string printable(const std::string& msg) {
  std::string out;
  const auto esc = [&out](unsigned char c) { out += hex_byte(static_cast<char>(c)); };
  for (size_t k = 0; k < msg.size();) {
    const auto c = static_cast<unsigned char>(msg[k]);
    if (c < 0x80) {
      if (is_control_byte(static_cast<char>(c)) && c != '\n' && c != '\t') esc(c);
      else out += static_cast<char>(c);
      ++k;
      continue;
    }
    const size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    bool ok = len > 0 && k + len <= msg.size();
    for (size_t i = 1; ok && i < len; ++i) ok = (static_cast<unsigned char>(msg[k + i]) & 0xc0) == 0x80;
    if (ok) {  // the second byte's range (Unicode's table 3-7): no overlong form, surrogate or C1 control
      const auto c2 = static_cast<unsigned char>(msg[k + 1]);
      unsigned char lo = 0x80, hi = 0xbf;
      if (c == 0xc2) lo = 0xa0;  // U+0080..U+009F are the C1 controls
      if (c == 0xe0) lo = 0xa0;
      if (c == 0xed) hi = 0x9f;
      if (c == 0xf0) lo = 0x90;
      if (c == 0xf4) hi = 0x8f;
      ok = c2 >= lo && c2 <= hi;
    }
    if (ok && is_bidi_control_at(msg, k)) {  // it would reverse the rest of the line: escaped as its bytes
      for (size_t i = 0; i < 3; ++i) esc(static_cast<unsigned char>(msg[k + i]));
      k += 3;
      continue;
    }
    if (ok) {
      out.append(msg, k, len);
      k += len;
    } else {
      esc(c);
      ++k;
    }
  }
  return out;
}

}  // namespace pbit::detail
