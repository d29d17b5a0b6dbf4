// UTF-8 checks for text that came from elsewhere (an agent, a store written by an older
// version): protobuf `string` fields must hold valid UTF-8 (serializing one that does not fails,
// and gRPC then drops the message), so such text is made valid before it reaches one.
#ifndef CARRIERARR_CORE_UTF8_H_
#define CARRIERARR_CORE_UTF8_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace carrierarr {

// The length (1 to 4) of the well-formed UTF-8 sequence at s[pos], or 0 when the bytes there do
// not start one (a stray continuation byte, a truncated sequence, an overlong form, a surrogate,
// a code point above U+10FFFF). pos must be < s.size().
inline size_t Utf8SequenceLength(std::string_view s, size_t pos) {
  const auto at = [&](size_t i) { return static_cast<unsigned char>(s[pos + i]); };
  const unsigned char b = at(0);
  if (b < 0x80) return 1;
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (b >= 0xC2 && b <= 0xDF) {
    n = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    n = 3;
    if (b == 0xE0) lo = 0xA0;  // no overlong forms
    if (b == 0xED) hi = 0x9F;  // no surrogates
  } else if (b >= 0xF0 && b <= 0xF4) {
    n = 4;
    if (b == 0xF0) lo = 0x90;  // no overlong forms
    if (b == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (pos + n > s.size() || at(1) < lo || at(1) > hi) return 0;
  for (size_t i = 2; i < n; ++i)
    if ((at(i) & 0xC0) != 0x80) return 0;
  return n;
}

inline bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = Utf8SequenceLength(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// `s` with every byte that is not part of a well-formed sequence replaced by U+FFFD.
inline std::string SanitizeUtf8(std::string_view s) {
  if (IsValidUtf8(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 8);
  for (size_t i = 0; i < s.size();) {
    const size_t n = Utf8SequenceLength(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

}  // namespace carrierarr

#endif  // CARRIERARR_CORE_UTF8_H_
