#include "core/ipv4.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace carrierarr {
namespace {

constexpr uint32_t Ip(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return (a << 24) | (b << 16) | (c << 8) | d;
}

struct CidrCase {
  std::string input;
  uint32_t ip;
  int prefix;
};

TEST(ParseCidrTest, KeepsTheHostAddress) {
  const CidrCase cases[] = {
      {"10.42.1.1/16", Ip(10, 42, 1, 1), 16},  // not masked to 10.42.0.0, unlike IPNet.IP
      {"10.42.0.0/16", Ip(10, 42, 0, 0), 16},
      {"192.168.100.7/24", Ip(192, 168, 100, 7), 24},
      {"0.0.0.0/0", 0, 0},
      {"255.255.255.255/32", 0xffffffffu, 32},
      {"1.2.3.4/0", Ip(1, 2, 3, 4), 0},
      {"10.0.0.1/08", Ip(10, 0, 0, 1), 8},  // Go's dtoi takes leading zeros in the prefix
      {"10.0.0.1/0008", Ip(10, 0, 0, 1), 8},
      {"10.0.0.1/000000000000000000016", Ip(10, 0, 0, 1), 16},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.input);
    auto net = ParseCidr(c.input);
    ASSERT_TRUE(net.ok()) << net.status().ToString();
    EXPECT_EQ(net->ip, c.ip);
    EXPECT_EQ(net->mask, PrefixToMask(c.prefix));
    EXPECT_EQ(net->PrefixLength(), c.prefix);
  }
}

TEST(ParseCidrTest, RejectsWhatGoRejects) {
  const std::string cases[] = {
      "",
      "/8",
      "10.0.0.1",   // no prefix
      "10.0.0.1/",  // empty prefix
      "10.0.0.1/33",
      "10.0.0.1/-1",
      "10.0.0.1/+8",
      "10.0.0.1/8x",  // trailing junk
      "10.0.0.1/8 ",
      " 10.0.0.1/8",
      "10.0.0.1/8/8",
      "10.0.0.1/99999999999999999999",
      "010.0.0.1/8",  // leading zeros in an octet (ambiguous octal)
      "10.00.0.1/8",
      "256.0.0.1/8",
      "1.2.3/8",
      "1.2.3.4.5/8",
      "1.2.3./8",
      "1..3.4/8",
      "0x0a.0.0.1/8",
      "a.b.c.d/8",
      "::1/129",          // IPv6 with a prefix no family allows is simply invalid
      "fe80::1%eth0/64",  // zones are refused by Go
      "10.0.0.1/ff000000",
  };
  for (const auto& input : cases) {
    SCOPED_TRACE(input);
    auto net = ParseCidr(input);
    ASSERT_FALSE(net.ok()) << "parsed as " << net->ToString();
    EXPECT_EQ(net.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(net.status().message(), "invalid CIDR address: " + input);
  }
}

// nebula-cert parses IPv6 CIDRs fine and then refuses them with this wording.
TEST(ParseCidrTest, RefusesIpv6WithNebulaCertsWording) {
  for (const std::string input : {"::1/64", "fd00::1/128", "2001:db8::/32", "::/0"}) {
    SCOPED_TRACE(input);
    auto net = ParseCidr(input);
    ASSERT_FALSE(net.ok());
    EXPECT_EQ(net.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(net.status().message(), "can only be ipv4, have " + input);
  }
}

TEST(ParseIpv4Test, StrictDottedQuad) {
  auto ip = ParseIpv4("10.42.1.200");
  ASSERT_TRUE(ip.ok());
  EXPECT_EQ(*ip, Ip(10, 42, 1, 200));
  for (const char* bad : {"", "10.42.1", "10.42.1.1.", "010.42.1.1", "10.42.1.256", "10.42.1.1 ",
                          "1e1.0.0.1", "-1.0.0.1"}) {
    EXPECT_FALSE(ParseIpv4(bad).ok()) << bad;
  }
}

TEST(Ipv4NetTest, ToStringPrintsCanonicalMasksAsPrefix) {
  EXPECT_EQ((Ipv4Net{Ip(10, 42, 1, 1), PrefixToMask(16)}).ToString(), "10.42.1.1/16");
  EXPECT_EQ((Ipv4Net{0, 0}).ToString(), "0.0.0.0/0");
  EXPECT_EQ((Ipv4Net{Ip(255, 255, 255, 255), 0xffffffffu}).ToString(), "255.255.255.255/32");
  // A parsed CIDR prints back as it was written (after canonicalising the prefix).
  for (const std::string s : {"10.42.1.1/16", "192.168.0.0/24", "1.2.3.4/31", "8.8.8.8/1"}) {
    auto net = ParseCidr(s);
    ASSERT_TRUE(net.ok()) << s;
    EXPECT_EQ(net->ToString(), s);
  }
}

// Go's IPNet.String prints a mask that is not ones-then-zeros as 8 hex digits.
TEST(Ipv4NetTest, ToStringPrintsNonCanonicalMaskAsHex) {
  EXPECT_EQ((Ipv4Net{Ip(10, 0, 0, 1), 0xff00ff00u}).ToString(), "10.0.0.1/ff00ff00");
  EXPECT_EQ((Ipv4Net{Ip(10, 0, 0, 1), 0x0000000fu}).ToString(), "10.0.0.1/0000000f");
  EXPECT_EQ((Ipv4Net{Ip(10, 0, 0, 1), 0xfffffffdu}).ToString(), "10.0.0.1/fffffffd");
}

TEST(Ipv4NetTest, PrefixLength) {
  EXPECT_EQ((Ipv4Net{0, 0}).PrefixLength(), 0);
  EXPECT_EQ((Ipv4Net{0, 0x80000000u}).PrefixLength(), 1);
  EXPECT_EQ((Ipv4Net{0, 0xffff0000u}).PrefixLength(), 16);
  EXPECT_EQ((Ipv4Net{0, 0xffffffffu}).PrefixLength(), 32);
  EXPECT_EQ((Ipv4Net{0, 0xff00ff00u}).PrefixLength(), -1);
  EXPECT_EQ((Ipv4Net{0, 0x0000ffffu}).PrefixLength(), -1);
  EXPECT_EQ((Ipv4Net{0, 0x7fffffffu}).PrefixLength(), -1);
  for (int p = 0; p <= 32; ++p) EXPECT_EQ((Ipv4Net{0, PrefixToMask(p)}).PrefixLength(), p);
}

TEST(Ipv4NetTest, PrefixToMaskClamps) {
  EXPECT_EQ(PrefixToMask(-1), 0u);
  EXPECT_EQ(PrefixToMask(0), 0u);
  EXPECT_EQ(PrefixToMask(8), 0xff000000u);
  EXPECT_EQ(PrefixToMask(24), 0xffffff00u);
  EXPECT_EQ(PrefixToMask(32), 0xffffffffu);
  EXPECT_EQ(PrefixToMask(40), 0xffffffffu);
}

TEST(Ipv4NetTest, ContainsComparesNetworksNotHosts) {
  auto net = ParseCidr("10.42.1.1/16");
  ASSERT_TRUE(net.ok());
  EXPECT_TRUE(net->Contains(Ip(10, 42, 0, 0)));
  EXPECT_TRUE(net->Contains(Ip(10, 42, 255, 255)));
  EXPECT_TRUE(net->Contains(Ip(10, 42, 1, 1)));
  EXPECT_FALSE(net->Contains(Ip(10, 43, 0, 0)));
  EXPECT_FALSE(net->Contains(Ip(10, 41, 255, 255)));
  EXPECT_FALSE(net->Contains(Ip(11, 42, 1, 1)));

  EXPECT_TRUE((Ipv4Net{Ip(1, 2, 3, 4), 0}).Contains(Ip(200, 1, 1, 1)));  // /0 holds everything
  const Ipv4Net host{Ip(1, 2, 3, 4), 0xffffffffu};
  EXPECT_TRUE(host.Contains(Ip(1, 2, 3, 4)));
  EXPECT_FALSE(host.Contains(Ip(1, 2, 3, 5)));
}

TEST(Ipv4NetTest, MaskedAndNetwork) {
  auto net = ParseCidr("10.42.1.1/16");
  ASSERT_TRUE(net.ok());
  EXPECT_EQ(net->Network(), Ip(10, 42, 0, 0));
  const Ipv4Net masked = net->Masked();
  EXPECT_EQ(masked.ip, Ip(10, 42, 0, 0));
  EXPECT_EQ(masked.mask, net->mask);
  EXPECT_EQ(masked.ToString(), "10.42.0.0/16");
  EXPECT_EQ(masked, masked.Masked());
  EXPECT_NE(masked, *net);  // equality includes the host part
  EXPECT_EQ((Ipv4Net{Ip(10, 255, 3, 4), 0xff00ff00u}).Masked().ToString(), "10.0.3.0/ff00ff00");
}

TEST(FormatIpv4Test, DottedQuad) {
  EXPECT_EQ(FormatIpv4(0), "0.0.0.0");
  EXPECT_EQ(FormatIpv4(Ip(10, 42, 1, 200)), "10.42.1.200");
  EXPECT_EQ(FormatIpv4(0xffffffffu), "255.255.255.255");
}

}  // namespace
}  // namespace carrierarr
