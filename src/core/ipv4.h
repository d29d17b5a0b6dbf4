// IPv4 addresses and networks as used by Nebula certificates: an address with a mask, where the
// address is kept as given (a host certificate stores 10.42.1.1/16, not 10.42.0.0/16).
#ifndef CARRIERARR_CORE_IPV4_H_
#define CARRIERARR_CORE_IPV4_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace carrierarr {

struct Ipv4Net {
  uint32_t ip = 0;    // host byte order
  uint32_t mask = 0;  // host byte order; canonical masks are ones followed by zeros

  // Prefix length when the mask is canonical, -1 otherwise.
  int PrefixLength() const;
  uint32_t Network() const { return ip & mask; }
  // True when `addr` lies inside this network (both sides masked, like Go's IPNet.Contains).
  bool Contains(uint32_t addr) const { return (addr & mask) == (ip & mask); }
  // True when the two networks share an address (the shorter prefix decides).
  bool Overlaps(const Ipv4Net& other) const {
    const uint32_t both = mask & other.mask;
    return (ip & both) == (other.ip & both);
  }
  // "10.42.1.1/16"; a non-canonical mask prints as hex ("10.0.0.1/ff00ff00"), as Go does.
  std::string ToString() const;
  // This network with the address replaced by the network address ("10.42.0.0/16").
  Ipv4Net Masked() const { return {Network(), mask}; }

  friend bool operator==(const Ipv4Net&, const Ipv4Net&) = default;
};

uint32_t PrefixToMask(int prefix);
std::string FormatIpv4(uint32_t ip);
// Strict dotted quad (no leading zeros, each octet 0..255).
Result<uint32_t> ParseIpv4(std::string_view s);

// Parses "A.B.C.D/N". Errors use Go's wording: "invalid CIDR address: X", and
// "can only be ipv4, have X" for an IPv6 CIDR.
Result<Ipv4Net> ParseCidr(std::string_view s);

}  // namespace carrierarr

#endif  // CARRIERARR_CORE_IPV4_H_
