#include "aws/client.h"
#include "aws/sigv4.h"

namespace carrierarr::aws {

std::string FormEncode(const QueryParams& params) {
  std::string out;
  for (const auto& [key, value] : params) {
    if (!out.empty()) out += '&';
    out += UriEncode(key) + '=';
    std::string v = UriEncode(value);
    // botocore sends spaces as '+': the signature covers the body exactly as sent.
    for (size_t at = v.find("%20"); at != std::string::npos; at = v.find("%20", at + 1))
      v.replace(at, 3, "+");
    out += v;
  }
  return out;
}

}  // namespace carrierarr::aws
