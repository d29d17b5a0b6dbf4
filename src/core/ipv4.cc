#include "core/ipv4.h"

#include <arpa/inet.h>

#include <bit>
#include <charconv>

namespace carrierarr {

uint32_t PrefixToMask(int prefix) {
  if (prefix <= 0) return 0;
  if (prefix >= 32) return 0xffffffffu;
  return ~((1u << (32 - prefix)) - 1);
}

int Ipv4Net::PrefixLength() const {
  int ones = std::countl_one(mask);
  return PrefixToMask(ones) == mask ? ones : -1;
}

std::string FormatIpv4(uint32_t ip) {
  return std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 0xff) + "." +
         std::to_string((ip >> 8) & 0xff) + "." + std::to_string(ip & 0xff);
}

std::string Ipv4Net::ToString() const {
  int prefix = PrefixLength();
  if (prefix >= 0) return FormatIpv4(ip) + "/" + std::to_string(prefix);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(8, '0');
  for (int i = 0; i < 8; ++i) hex[i] = kHex[(mask >> (28 - 4 * i)) & 0xf];
  return FormatIpv4(ip) + "/" + hex;
}

Result<uint32_t> ParseIpv4(std::string_view s) {
  uint32_t ip = 0;
  int octets = 0;
  while (octets < 4) {
    size_t len = 0;
    while (len < s.size() && s[len] >= '0' && s[len] <= '9') ++len;
    if (len == 0 || len > 3 || (len > 1 && s[0] == '0')) break;
    unsigned value = 0;
    std::from_chars(s.data(), s.data() + len, value);
    if (value > 255) break;
    ip = (ip << 8) | value;
    ++octets;
    s.remove_prefix(len);
    if (octets < 4) {
      if (s.empty() || s[0] != '.') break;
      s.remove_prefix(1);
    }
  }
  if (octets != 4 || !s.empty()) return Status::InvalidArgument("invalid IPv4 address");
  return ip;
}

Result<Ipv4Net> ParseCidr(std::string_view s) {
  auto invalid = [&] { return Status::InvalidArgument("invalid CIDR address: " + std::string(s)); };
  auto slash = s.find('/');
  if (slash == std::string_view::npos) return invalid();
  std::string_view addr = s.substr(0, slash);
  std::string_view bits = s.substr(slash + 1);
  int prefix = -1;
  // Like Go's dtoi: any number of leading zeros ("/0016"); a value too big for int stays -1.
  if (!bits.empty() && bits.find_first_not_of("0123456789") == bits.npos) {
    std::from_chars(bits.data(), bits.data() + bits.size(), prefix);
  }
  auto ip = ParseIpv4(addr);
  if (!ip.ok()) {
    unsigned char v6[16];
    if (addr.find(':') != addr.npos && prefix >= 0 && prefix <= 128 &&
        ::inet_pton(AF_INET6, std::string(addr).c_str(), v6) == 1) {
      return Status::InvalidArgument("can only be ipv4, have " + std::string(s));
    }
    return invalid();
  }
  if (prefix < 0 || prefix > 32) return invalid();
  return Ipv4Net{*ip, PrefixToMask(prefix)};
}

}  // namespace carrierarr
