#include "core/duration.h"

#include <cstdint>

namespace carrierarr {
namespace {

using int128 = __int128;

int64_t UnitNanos(std::string_view unit) {
  if (unit == "ns") return 1;
  if (unit == "us" || unit == "\xc2\xb5s" || unit == "\xce\xbcs")
    return 1000;  // us, µs (two forms)
  if (unit == "ms") return int64_t{1000} * 1000;
  if (unit == "s") return int64_t{1000} * 1000 * 1000;
  if (unit == "m") return 60LL * 1000 * 1000 * 1000;
  if (unit == "h") return 3600LL * 1000 * 1000 * 1000;
  return 0;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// "1.500" -> "1.5", "2.000" -> "2"
std::string WithFraction(int64_t whole, int64_t frac, int digits) {
  std::string out = std::to_string(whole);
  if (frac == 0) return out;
  std::string f = std::to_string(frac);
  f.insert(0, static_cast<size_t>(digits) - f.size(), '0');
  while (!f.empty() && f.back() == '0') f.pop_back();
  return out + "." + f;
}

}  // namespace

Result<std::chrono::nanoseconds> ParseGoDuration(std::string_view s) {
  const std::string original(s);
  auto invalid = [&] {
    return Status::InvalidArgument("time: invalid duration \"" + original + "\"");
  };
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return std::chrono::nanoseconds(0);
  if (s.empty()) return invalid();
  int128 total = 0;
  const int128 kMax = static_cast<int128>(INT64_MAX) + (negative ? 1 : 0);
  while (!s.empty()) {
    if (!(IsDigit(s[0]) || s[0] == '.')) return invalid();
    int128 whole = 0, frac = 0, scale = 1;
    bool any_digits = false;
    while (!s.empty() && IsDigit(s[0])) {
      whole = whole * 10 + (s[0] - '0');
      if (whole > kMax) return invalid();
      any_digits = true;
      s.remove_prefix(1);
    }
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      while (!s.empty() && IsDigit(s[0])) {
        if (scale < static_cast<int128>(1e18)) {  // more digits than this cannot change the result
          frac = frac * 10 + (s[0] - '0');
          scale *= 10;
        }
        any_digits = true;
        s.remove_prefix(1);
      }
    }
    if (!any_digits) return invalid();
    size_t unit_len = 0;
    while (unit_len < s.size() && !IsDigit(s[unit_len]) && s[unit_len] != '.') ++unit_len;
    if (unit_len == 0) {
      return Status::InvalidArgument("time: missing unit in duration \"" + original + "\"");
    }
    int64_t unit = UnitNanos(s.substr(0, unit_len));
    if (unit == 0) {
      return Status::InvalidArgument("time: unknown unit \"" + std::string(s.substr(0, unit_len)) +
                                     "\" in duration \"" + original + "\"");
    }
    s.remove_prefix(unit_len);
    total += whole * unit + frac * unit / scale;
    if (total > kMax) return invalid();
  }
  int64_t ns = negative ? static_cast<int64_t>(-total) : static_cast<int64_t>(total);
  return std::chrono::nanoseconds(ns);
}

std::string FormatGoDuration(std::chrono::nanoseconds d) {
  int64_t n = d.count();
  if (n == 0) return "0s";
  std::string sign = n < 0 ? "-" : "";
  uint64_t u = n < 0 ? static_cast<uint64_t>(-(n + 1)) + 1 : static_cast<uint64_t>(n);
  constexpr uint64_t kSecond = 1000000000ULL;
  if (u < kSecond) {
    if (u < 1000) return sign + std::to_string(u) + "ns";
    if (u < 1000000) return sign + WithFraction(u / 1000, u % 1000, 3) + "\xc2\xb5s";
    return sign + WithFraction(u / 1000000, u % 1000000, 6) + "ms";
  }
  uint64_t secs = u / kSecond;
  std::string out = WithFraction(static_cast<int64_t>(secs % 60), u % kSecond, 9) + "s";
  uint64_t mins = secs / 60;
  if (mins > 0) {
    out = std::to_string(mins % 60) + "m" + out;
    if (mins / 60 > 0) out = std::to_string(mins / 60) + "h" + out;
  }
  return sign + out;
}

}  // namespace carrierarr
