// The certificate codec against golden bytes that the real nebula-cert 1.6.1 wrote, and the
// verifier's individual checks.
#include "pki/cert.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>

#include "pki/authority.h"
#include "pki/crypto.h"
#include "pki/pem.h"

namespace carrierarr::pki {
namespace {

using ::testing::HasSubstr;

// Made by `nebula-cert ca -name "test ca" -groups a,b -ips 10.42.0.0/16` and
// `nebula-cert sign -name h1 -ip 10.42.1.1/16 -groups a`; fingerprints from `nebula-cert print`.
constexpr char kGoldenCa[] = R"(-----BEGIN NEBULA CERTIFICATE-----
CkoKB3Rlc3QgY2ESCYCAqFGAgPz/DyIBYSIBYiih0InYBjCht47nBjogDVgHo8sK
hfXsR1yrtpaCifp1pZYR6KpUyxHFS1r5metAARJAn/PJvh8zldGbY/w1D3jp8wK4
6gZzaslA45xXOV56EFSTPuAPh78zJ++4P4jLcvsbPFTtnw24d90ey3PMuerODw==
-----END NEBULA CERTIFICATE-----
)";
constexpr char kGoldenCaFingerprint[] =
    "c5be444fa220ecbbd8a05c90c4cf4b0af9d650a2dbfaaed7198a5298f99c7e0f";
constexpr char kGoldenHost[] = R"(-----BEGIN NEBULA CERTIFICATE-----
CmIKAmgxEgmBgqhRgID8/w8iAWEoodCJ2AYwoLeO5wY6IO4X09dPuK6ZOIaP/gEh
Kpx9URaD214klA6zhDoG/8JoSiDFvkRPoiDsu9igXJDEz0sK+dZQotv6rtcZilKY
+Zx+DxJAzIRu9T0FX6yvBbzXvAizeimq/+efHHf0ev6lqvv1LX7aVg7AUmA3xHy8
24LsbvlIrhCE2m+QuaKeFzWi5O3qDg==
-----END NEBULA CERTIFICATE-----
)";
constexpr char kGoldenHostJson[] =
    R"({"details":{"groups":["a"],"ips":["10.42.1.1/16"],"isCa":false,)"
    R"("issuer":"c5be444fa220ecbbd8a05c90c4cf4b0af9d650a2dbfaaed7198a5298f99c7e0f","name":"h1",)"
    R"("notAfter":"2027-11-22T03:57:20Z","notBefore":"2026-11-22T03:57:21Z",)"
    R"("publicKey":"ee17d3d74fb8ae9938868ffe01212a9c7d511683db5e24940eb3843a06ffc268",)"
    R"("subnets":[]},)"
    R"("fingerprint":"61ff46efde8694e47329e3c4b958c2cf07b86d488365386080bad53002bd86ff",)"
    R"("signature":"cc846ef53d055facaf05bcd7bc08b37a29aaffe79f1c77f47afea5aafbf52d7eda560ec0526037)"
    R"(c47cbcdb82ec6ef948ae1084da6f90b9a29e1735a2e4edea0e"})";

TimePoint At(int64_t unix_seconds) { return TimePoint(std::chrono::seconds(unix_seconds)); }

std::string Body(const char* pem) {
  std::string_view rest;
  return PemDecode(pem, &rest)->bytes;
}

class UtcEnv : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tz = std::getenv("TZ");
    saved_ = tz != nullptr ? std::optional<std::string>(tz) : std::nullopt;
    setenv("TZ", "UTC", 1);
    tzset();
  }
  void TearDown() override {
    if (saved_) {
      setenv("TZ", saved_->c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }
  std::optional<std::string> saved_;
};

using GoldenTest = UtcEnv;

TEST_F(GoldenTest, DecodesNebulaCertCaAndReencodesByteForByte) {
  auto ca = CertificateFromPem(kGoldenCa);
  ASSERT_TRUE(ca.ok()) << ca.status().ToString();
  EXPECT_EQ(ca->details.name, "test ca");
  EXPECT_TRUE(ca->details.is_ca);
  EXPECT_EQ(ca->details.groups, (std::vector<std::string>{"a", "b"}));
  ASSERT_EQ(ca->details.ips.size(), 1u);
  EXPECT_EQ(ca->details.ips[0].ToString(), "10.42.0.0/16");
  EXPECT_TRUE(ca->details.issuer.empty());
  EXPECT_EQ(EncodeCertificate(*ca), Body(kGoldenCa));
  EXPECT_EQ(CertificateToPem(*ca), kGoldenCa);
  EXPECT_EQ(Fingerprint(*ca), kGoldenCaFingerprint);
  EXPECT_TRUE(CheckSignature(*ca, ca->details.public_key));
}

TEST_F(GoldenTest, HostCertificateMatchesNebulaCertPrintJson) {
  auto host = CertificateFromPem(kGoldenHost);
  ASSERT_TRUE(host.ok()) << host.status().ToString();
  EXPECT_EQ(EncodeCertificate(*host), Body(kGoldenHost));
  EXPECT_EQ(CertificateToJson(*host), kGoldenHostJson);
  EXPECT_EQ(HexEncode(host->details.issuer), kGoldenCaFingerprint);
  // The host keeps its own address with the mesh mask, not the network address.
  EXPECT_EQ(host->details.ips[0].ToString(), "10.42.1.1/16");
}

TEST_F(GoldenTest, HostVerifiesAgainstGoldenCaInsideItsWindow) {
  auto ca = CertificateFromPem(kGoldenCa);
  auto host = CertificateFromPem(kGoldenHost);
  ASSERT_TRUE(ca.ok() && host.ok());
  EXPECT_TRUE(CheckSignature(*host, ca->details.public_key));
  EXPECT_TRUE(CheckRootConstraints(*host, *ca).ok());
  EXPECT_FALSE(IsExpired(*host, At(host->details.not_before)));
  EXPECT_TRUE(IsExpired(*host, At(host->details.not_before - 1)));
  EXPECT_FALSE(IsExpired(*host, At(host->details.not_after)));
  EXPECT_TRUE(IsExpired(*host, At(host->details.not_after) + std::chrono::milliseconds(1)));
}

TEST_F(GoldenTest, TextMatchesNebulaCertPrint) {
  auto host = CertificateFromPem(kGoldenHost);
  ASSERT_TRUE(host.ok());
  std::string text = CertificateToText(*host);
  EXPECT_THAT(text, HasSubstr("\t\tNot before: 2026-11-22 03:57:21 +0000 UTC\n"));
  EXPECT_THAT(text, HasSubstr("\t\tIps: [\n\t\t\t10.42.1.1/16\n\t\t]\n\t\tSubnets: []\n"));
  EXPECT_THAT(text, HasSubstr("\t\tGroups: [\n\t\t\t\"a\"\n\t\t]\n"));
  EXPECT_THAT(text,
              HasSubstr("\tFingerprint: "
                        "61ff46efde8694e47329e3c4b958c2cf07b86d488365386080bad53002bd86ff\n"));
  EXPECT_EQ(text.substr(0, 31), "NebulaCertificate {\n\tDetails {\n");
  EXPECT_EQ(text.back(), '}');
}

CertDetails SampleDetails() {
  CertDetails d;
  d.name = "n";
  d.ips = {{0x0a2a0101, 0xffff0000}};
  d.groups = {"g"};
  d.not_before = 1;
  d.not_after = 2;
  d.public_key = std::string(32, '\x07');
  d.issuer = std::string(32, '\x09');
  return d;
}

TEST(EncodeTest, WritesFieldsInOrderPackedAndOmitsZeroValues) {
  std::string bytes = EncodeDetails(SampleDetails());
  std::string expected = std::string("\x0a\x01n", 3) +
                         // Ips packed: tag 2 LEN, 10.42.1.1 then 255.255.0.0 as varints.
                         "\x12\x09\x81\x82\xa8\x51\x80\x80\xfc\xff\x0f" + "\x22\x01g" + "\x28\x01" +
                         "\x30\x02" + "\x3a\x20" + std::string(32, '\x07') + "\x4a\x20" +
                         std::string(32, '\x09');
  EXPECT_EQ(HexEncode(bytes), HexEncode(expected));
  // is_ca false, no subnets: no bytes at all for them.
  CertDetails empty;
  EXPECT_EQ(EncodeDetails(empty), "");
}

TEST(EncodeTest, NegativeTimesUseTenByteVarintsAndRoundTrip) {
  CertDetails d;
  d.not_before = -1;
  std::string bytes = EncodeDetails(d);
  ASSERT_EQ(bytes.size(), 11u);  // tag + 10-byte two's complement varint, as Go writes int64
  EXPECT_EQ(bytes[0], '\x28');
  d.public_key = std::string(32, 'k');
  auto back = DecodeCertificate(EncodeCertificate({d, ""}));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->details.not_before, -1);
}

TEST(DecodeTest, RoundTripsEveryField) {
  Certificate c{SampleDetails(), std::string(64, 's')};
  c.details.subnets = {{0xc0a80000, 0xffffff00}};
  c.details.groups = {"a", "", "b"};  // an empty group is still written (repeated field)
  c.details.is_ca = true;
  auto back = DecodeCertificate(EncodeCertificate(c));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, c);
}

TEST(DecodeTest, AcceptsUnpackedIpsAndUnknownFieldsButReencodesCanonically) {
  CertDetails d = SampleDetails();
  std::string details = std::string("\x0a\x01n", 3) + "\x10\x81\x82\xa8\x51" +
                        "\x10\x80\x80\xfc\xff\x0f" + "\x3a\x20" + std::string(32, '\x07') +
                        // field 100 (Curve) = 1, added in nebula 1.7: unknown here, skipped
                        "\xa0\x06\x01";
  std::string cert = "\x0a" + std::string(1, static_cast<char>(details.size())) + details;
  auto back = DecodeCertificate(cert);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->details.ips.size(), 1u);
  EXPECT_EQ(back->details.ips[0], d.ips[0]);
  EXPECT_NE(EncodeCertificate(*back), cert);  // re-encoding is canonical, the input was not
}

TEST(DecodeTest, MergesRepeatedDetailsMessagesLikeProtobuf) {
  std::string a = EncodeDetails(SampleDetails());
  CertDetails second;
  second.name = "later";
  second.groups = {"h"};
  std::string b = EncodeDetails(second);
  std::string cert =
      "\x0a" + std::string(1, char(a.size())) + a + "\x0a" + std::string(1, char(b.size())) + b;
  auto back = DecodeCertificate(cert);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->details.name, "later");
  EXPECT_EQ(back->details.groups, (std::vector<std::string>{"g", "h"}));
}

struct BadInput {
  const char* label;
  std::string bytes;
  const char* error;
};

TEST(DecodeTest, RejectsMalformedInputWithNebulasWording) {
  const std::string key = "\x3a\x20" + std::string(32, 'k');
  auto wrap = [](const std::string& details) {
    return "\x0a" + std::string(1, static_cast<char>(details.size())) + details;
  };
  const BadInput cases[] = {
      {"empty", "", "nil byte array"},
      {"no details", std::string("\x12\x01x", 3), "encoded Details was nil"},
      {"odd ips", wrap("\x12\x01\x01" + key),
       "encoded IPs should be in pairs, an odd number was found"},
      {"odd subnets", wrap("\x1a\x01\x01" + key),
       "encoded Subnets should be in pairs, an odd number was found"},
      {"short key", wrap("\x3a\x03" + std::string("abc")), "Public key was fewer than 32 bytes; 3"},
      {"no key", wrap(""), "Public key was fewer than 32 bytes; 0"},
      {"bad utf8 name", wrap("\x0a\x02\xc3\x28" + key), "string field contains invalid UTF-8"},
      {"bad utf8 group", wrap("\x22\x01\xff" + key), "string field contains invalid UTF-8"},
      {"truncated varint", std::string("\x0a\x05\x28\xff\xff", 5),
       "proto: cannot parse invalid wire-format data"},
      {"length past end", std::string("\x0a\x7f\x00", 3),
       "proto: cannot parse invalid wire-format data"},
      {"field zero", std::string("\x02\x00", 2), "proto: cannot parse invalid wire-format data"},
      {"group wire type", std::string("\x0b", 1), "proto: cannot parse invalid wire-format data"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    auto result = DecodeCertificate(c.bytes);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().message(), c.error);
  }
}

TEST(PemCertTest, RejectsOtherBannersAndGarbage) {
  auto key = CertificateFromPem(PemEncode(kX25519PublicKeyBanner, std::string(32, 'k')));
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().message(), "bytes did not contain a proper nebula certificate banner");
  auto garbage = CertificateFromPem("hello\n");
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.status().message(), "input did not contain a valid PEM encoded block");
}

TEST(CheckSignatureTest, FailsForTamperedDetailsAndWrongKey) {
  auto ca = CreateCa({.name = "ca"}, At(1'800'000'000));
  ASSERT_TRUE(ca.ok());
  EXPECT_TRUE(CheckSignature(ca->cert, ca->cert.details.public_key));
  Certificate tampered = ca->cert;
  tampered.details.name = "cb";
  EXPECT_FALSE(CheckSignature(tampered, ca->cert.details.public_key));
  EXPECT_FALSE(CheckSignature(ca->cert, std::string(32, 'x')));
  EXPECT_FALSE(CheckSignature(ca->cert, "short"));
}

struct ConstraintCase {
  const char* label;
  void (*mutate)(CertDetails&);
  const char* error;  // nullptr: allowed
};

TEST(CheckRootConstraintsTest, EnforcesEveryLimitWithNebulasMessages) {
  Certificate signer;
  signer.details.is_ca = true;
  signer.details.not_before = 100;
  signer.details.not_after = 200;
  signer.details.groups = {"a", "b"};
  signer.details.ips = {*ParseCidr("10.42.0.0/16")};
  signer.details.subnets = {*ParseCidr("192.168.0.0/16")};
  const ConstraintCase cases[] = {
      {"inside every limit", [](CertDetails&) {}, nullptr},
      {"same window as CA",
       [](CertDetails& d) {
         d.not_before = 100;
         d.not_after = 200;
       },
       nullptr},
      {"outlives CA", [](CertDetails& d) { d.not_after = 201; },
       "certificate expires after signing certificate"},
      {"starts before CA", [](CertDetails& d) { d.not_before = 99; },
       "certificate is valid before the signing certificate"},
      {"foreign group",
       [](CertDetails& d) {
         d.groups = {"a", "c"};
       },
       "certificate contained a group not present on the signing ca: c"},
      {"ip outside", [](CertDetails& d) { d.ips = {*ParseCidr("10.43.0.1/16")}; },
       "certificate contained an ip assignment outside the limitations of the signing ca: "
       "10.43.0.1/16"},
      {"mask wider than CA", [](CertDetails& d) { d.ips = {*ParseCidr("10.42.0.1/8")}; },
       "certificate contained an ip assignment outside the limitations of the signing ca: "
       "10.42.0.1/8"},
      {"narrower mask is fine", [](CertDetails& d) { d.ips = {*ParseCidr("10.42.1.1/24")}; },
       nullptr},
      {"subnet outside", [](CertDetails& d) { d.subnets = {*ParseCidr("172.16.0.0/24")}; },
       "certificate contained a subnet assignment outside the limitations of the signing ca: "
       "172.16.0.0/24"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    Certificate cert;
    cert.details.not_before = 150;
    cert.details.not_after = 160;
    cert.details.groups = {"a"};
    cert.details.ips = {*ParseCidr("10.42.2.1/16")};
    cert.details.subnets = {*ParseCidr("192.168.1.0/24")};
    c.mutate(cert.details);
    Status s = CheckRootConstraints(cert, signer);
    if (c.error == nullptr) {
      EXPECT_TRUE(s.ok()) << s.ToString();
    } else {
      EXPECT_EQ(s.message(), c.error);
    }
  }
}

TEST(CheckRootConstraintsTest, CaWithoutLimitsAllowsAnything) {
  Certificate signer;
  signer.details.not_after = 1000;
  Certificate cert;
  cert.details.groups = {"anything"};
  cert.details.ips = {*ParseCidr("1.2.3.4/1")};
  cert.details.subnets = {*ParseCidr("0.0.0.0/0")};
  EXPECT_TRUE(CheckRootConstraints(cert, signer).ok());
}

TEST_F(GoldenTest, JsonEscapesLikeGo) {
  Certificate c;
  c.details.name = "<a&b>\"q\"\\\n\x01\xe2\x80\xa8";
  c.details.groups = {"g"};
  std::string json = CertificateToJson(c);
  EXPECT_THAT(json, HasSubstr(R"("name":"\u003ca\u0026b\u003e\"q\"\\\n\u0001\u2028")"));
}

}  // namespace
}  // namespace carrierarr::pki
