// Small string helpers shared across the code base.
#ifndef CARRIERARR_CORE_STRINGS_H_
#define CARRIERARR_CORE_STRINGS_H_

#include <cctype>
#include <string>
#include <string_view>

namespace carrierarr {

// `s` without leading and trailing white space (std::isspace: space, \t, \n, \v, \f, \r).
inline std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// A container image reference ("registry/name:tag", "name@sha256:...") in a shell- and
// YAML-inert alphabet: letters, digits and "./:-_@"; no spaces, quotes or newlines.
inline bool IsImageReference(std::string_view s) {
  if (s.empty() || s.size() > 255) return false;
  for (char c : s) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && std::string_view("./:-_@").find(c) == std::string_view::npos) return false;
  }
  return true;
}

// `bytes` as lowercase hexadecimal, two digits a byte.
inline std::string HexEncode(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

// The longest prefix of `s` that is at most `max_bytes` long and does not end inside a UTF-8
// multi-byte sequence: a cut never splits a character (continuation bytes 10xxxxxx before the
// cut are given back together with their lead byte). Bytes before the cut are kept as they are;
// the result is valid UTF-8 whenever `s` is.
inline std::string TruncateUtf8(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return std::string(s);
  size_t cut = max_bytes;
  // s[cut] is the first byte left out: while it continues a character, that character's start
  // (at most 3 bytes back) is left out too.
  size_t back = 0;
  while (cut > 0 && back < 3 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) {
    --cut;
    ++back;
  }
  if ((static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) cut = max_bytes;  // not UTF-8 anyway
  return std::string(s.substr(0, cut));
}

}  // namespace carrierarr

#endif  // CARRIERARR_CORE_STRINGS_H_
