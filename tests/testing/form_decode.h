// The fakes' one decoder of a query string's or form body's part: "+" is a space, "%XX" its byte;
// a malformed "%" stays as it is (a fake answers what the client sent; it does not judge it here).
// Header-only: FakeAws and FakeKube are built into different libraries.
#ifndef CARRIERARR_TESTS_TESTING_FORM_DECODE_H_
#define CARRIERARR_TESTS_TESTING_FORM_DECODE_H_

#include <string>
#include <string_view>

namespace carrierarr::testing {

inline int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

inline std::string FormDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && HexDigit(s[i + 1]) >= 0 &&
               HexDigit(s[i + 2]) >= 0) {
      out += static_cast<char>(HexDigit(s[i + 1]) * 16 + HexDigit(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace carrierarr::testing

#endif  // CARRIERARR_TESTS_TESTING_FORM_DECODE_H_
