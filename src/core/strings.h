// Small string helpers shared across the code base.
#ifndef CARRIERARR_CORE_STRINGS_H_
#define CARRIERARR_CORE_STRINGS_H_

#include <cctype>
#include <string_view>

namespace carrierarr {

// `s` without leading and trailing white space (std::isspace: space, \t, \n, \v, \f, \r).
inline std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace carrierarr

#endif  // CARRIERARR_CORE_STRINGS_H_
