// The transport-independent part of the HTTP seam.
#include "net/http.h"

namespace carrierarr::net {
namespace {

char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

// HTTP field names are ASCII and case-insensitive (RFC 9110); HTTP/2 answers arrive lowercase.
std::string FindHeader(const Headers& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (key.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; same && i < key.size(); ++i)
      same = AsciiLower(key[i]) == AsciiLower(name[i]);
    if (same) return value;
  }
  return "";
}

}  // namespace carrierarr::net
