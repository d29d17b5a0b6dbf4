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

// At most `max_bytes` bytes of `s`, cut only on a UTF-8 character boundary: a multi-byte
// character that does not fit whole is left out, never split (continuation bytes, 10xxxxxx,
// are never the first byte kept after a cut). Bytes that are not UTF-8 are kept as they are.
inline std::string TruncateUtf8(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return std::string(s);
  size_t cut = max_bytes;
  // A UTF-8 character is at most 4 bytes: step back over at most 3 continuation bytes.
  for (int k = 0; k < 3 && cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80; ++k) {
    --cut;
  }
  return std::string(s.substr(0, cut));
}

}  // namespace carrierarr

#endif  // CARRIERARR_CORE_STRINGS_H_
