#include "analyzers/untrusted_text.h"

#include <cstdint>

namespace holdscope {

namespace {

// Length of the valid UTF-8 sequence starting at s[i] (1-4), or 0 when it is not one (overlong forms, surrogates and
// code points past U+10FFFF included).
size_t utf8_sequence(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  uint8_t b = byte(i);
  size_t len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xe ? 3 : (b >> 3) == 0x1e ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  uint32_t cp = len == 1 ? b : len == 2 ? (b & 0x1f) : len == 3 ? (b & 0x0f) : (b & 0x07);
  for (size_t k = 1; k < len; k++) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3f);
  }
  static constexpr uint32_t kMinForLength[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMinForLength[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

// C0 and C1 controls and DEL: they steer a terminal.
bool is_control(std::string_view seq) {
  auto b0 = static_cast<uint8_t>(seq[0]);
  if (seq.size() == 1) return b0 < 0x20 || b0 == 0x7f;
  return seq.size() == 2 && b0 == 0xc2 && static_cast<uint8_t>(seq[1]) < 0xa0;
}

}  // namespace

std::string escape_untrusted(std::string_view raw) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size();) {
    size_t len = utf8_sequence(raw, i);
    if (len && !is_control(raw.substr(i, len))) {
      out.append(raw, i, len);
      i += len;
      continue;
    }
    // An escaped control character keeps its whole sequence visible byte by byte.
    size_t n = len ? len : 1;
    for (size_t k = 0; k < n; k++) {
      auto b = static_cast<uint8_t>(raw[i + k]);
      out += "\\x";
      out += kHex[b >> 4];
      out += kHex[b & 0xf];
    }
    i += n;
  }
  return out;
}

}  // namespace holdscope
