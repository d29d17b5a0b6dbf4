#include "aws/http.h"

#include <strings.h>

namespace carrierarr::aws {

std::string FindHeader(const Headers& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), name.size()) == 0) return v;
  }
  return "";
}

}  // namespace carrierarr::aws
