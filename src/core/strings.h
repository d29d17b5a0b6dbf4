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

}  // namespace carrierarr

#endif  // CARRIERARR_CORE_STRINGS_H_
