#include "providers/aws/shapes.h"

#include <algorithm>
#include <string>

namespace carrierarr::aws_provider {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool AllOf(std::string_view s, const std::function<bool(char)>& ok) {
  return std::all_of(s.begin(), s.end(), ok);
}

bool OneOf(char c, std::string_view set) { return set.find(c) != std::string_view::npos; }

bool IsHex(std::string_view s, size_t len) {
  return s.size() == len && AllOf(s, [](char c) {
           return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
         });
}

bool IsHostName(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (start <= s.size()) {
    size_t dot = s.find('.', start);
    if (dot == std::string_view::npos) dot = s.size();
    std::string_view label = s.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-' ||
        !AllOf(label, [](char c) { return IsAlnum(c) || c == '-'; })) {
      return false;
    }
    start = dot + 1;
  }
  return true;
}

bool IsHostPort(std::string_view s) {
  const size_t colon = s.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string_view port = s.substr(colon + 1);
  if (port.empty() || port.size() > 5 || !AllOf(port, IsDigit)) return false;
  const int n = std::stoi(std::string(port));
  return n >= 1 && n <= 65535 && IsHostName(s.substr(0, colon));
}

bool IsVersion(std::string_view s) {
  return !s.empty() && s.size() <= 32 && IsDigit(s.front()) && IsDigit(s.back()) &&
         s.find("..") == std::string_view::npos &&
         AllOf(s, [](char c) { return IsDigit(c) || c == '.'; });
}

bool SplitHttpUrl(std::string_view s, std::string_view* authority, std::string_view* rest) {
  std::string_view tail;
  if (s.rfind("https://", 0) == 0) {
    tail = s.substr(8);
  } else if (s.rfind("http://", 0) == 0) {
    tail = s.substr(7);
  } else {
    return false;
  }
  const size_t slash = tail.find('/');
  *authority = tail.substr(0, slash);
  *rest = slash == std::string_view::npos ? std::string_view() : tail.substr(slash);
  return IsHostName(*authority) || IsHostPort(*authority);
}

bool IsSafeUrlRest(std::string_view rest) {
  return AllOf(rest, [](char c) { return IsAlnum(c) || OneOf(c, "-._~/%+=&?:@,"); });
}

bool IsHttpsUrl(std::string_view s) {
  std::string_view authority, rest;
  return s.rfind("https://", 0) == 0 && SplitHttpUrl(s, &authority, &rest) && IsSafeUrlRest(rest);
}

bool IsMirrorUrl(std::string_view s) {
  std::string_view authority, rest;
  return IsHttpsUrl(s) && SplitHttpUrl(s, &authority, &rest) &&
         rest.find('?') == std::string_view::npos && (rest.empty() || rest.back() != '/');
}

bool IsK3sVersion(std::string_view s) {
  const size_t plus = s.find("+k3s");
  return s.size() <= 32 && s.size() > 1 && s.front() == 'v' && plus != std::string_view::npos &&
         IsVersion(s.substr(1, plus - 1)) &&
         std::count(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(plus), '.') == 2 &&
         plus + 4 < s.size() && AllOf(s.substr(plus + 4), IsDigit);
}

}  // namespace carrierarr::aws_provider
