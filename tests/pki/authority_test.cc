// The in-process CA: what CreateCa and Sign put in certificates, and what they refuse.
#include "pki/authority.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pki/ca_pool.h"
#include "pki/crypto.h"
#include "pki/keys.h"

namespace carrierarr::pki {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

const TimePoint kNow = TimePoint(seconds(1'800'000'000)) + milliseconds(250);

CertificateAuthority MakeAuthority(CaOptions options = {.name = "mesh"}) {
  auto ca = CreateCa(options, kNow);
  EXPECT_TRUE(ca.ok()) << ca.status().ToString();
  auto authority = CertificateAuthority::Create(ca->cert, ca->private_key);
  EXPECT_TRUE(authority.ok()) << authority.status().ToString();
  return std::move(*authority);
}

HostOptions Host(const std::string& name, const std::string& cidr) {
  return {.name = name, .ip = *ParseCidr(cidr)};
}

TEST(CreateCaTest, SelfSignedCaWithNebulaCertDefaults) {
  auto ca = CreateCa({.name = "mesh",
                      .groups = {"a"},
                      .ips = {*ParseCidr("10.42.0.0/16")},
                      .subnets = {*ParseCidr("192.168.1.7/24")}},
                     kNow);
  ASSERT_TRUE(ca.ok()) << ca.status().ToString();
  const CertDetails& d = ca->cert.details;
  EXPECT_TRUE(d.is_ca);
  EXPECT_TRUE(d.issuer.empty());
  EXPECT_EQ(d.not_before, 1'800'000'000);
  EXPECT_EQ(d.not_after, 1'800'000'000 + 8760 * 3600);  // a year, like nebula-cert
  EXPECT_EQ(d.ips[0].ToString(), "10.42.0.0/16");
  EXPECT_EQ(d.subnets[0].ToString(), "192.168.1.0/24");  // subnets stored as networks
  ASSERT_EQ(ca->private_key.size(), 64u);
  EXPECT_EQ(ca->private_key.substr(32), d.public_key);
  EXPECT_TRUE(CheckSignature(ca->cert, d.public_key));
  auto key = ParseEd25519PrivateKeyPem(ca->KeyPem());
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(*key, ca->private_key);
}

TEST(CreateCaTest, RefusesMissingNameAndNonPositiveDuration) {
  EXPECT_EQ(CreateCa({}, kNow).status().message(), "-name is required");
  EXPECT_EQ(CreateCa({.name = "x", .duration = seconds(0)}, kNow).status().message(),
            "-duration must be greater than 0");
}

TEST(SignTest, DefaultLifetimeEndsOneSecondBeforeTheCa) {
  CertificateAuthority authority = MakeAuthority();
  auto host = authority.Sign({.name = "lighthouse",
                              .ip = *ParseCidr("10.42.0.1/16"),
                              .groups = {"lighthouse", "homelab"},
                              .subnets = {*ParseCidr("192.168.5.9/24")}},
                             kNow);
  ASSERT_TRUE(host.ok()) << host.status().ToString();
  const CertDetails& d = host->cert.details;
  EXPECT_FALSE(d.is_ca);
  EXPECT_EQ(d.not_before, 1'800'000'000);
  EXPECT_EQ(d.not_after, authority.cert().details.not_after - 1);
  EXPECT_EQ(d.ips[0].ToString(), "10.42.0.1/16");
  EXPECT_EQ(d.subnets[0].ToString(), "192.168.5.0/24");
  EXPECT_EQ(HexEncode(d.issuer), authority.fingerprint());
  EXPECT_EQ(*X25519PublicKey(host->private_key), d.public_key);

  CaPool pool;
  ASSERT_TRUE(pool.AddCa(authority.cert(), kNow).ok());
  EXPECT_TRUE(pool.Verify(host->cert, kNow).ok());
}

TEST(SignTest, ExplicitDurationAndSuppliedPublicKey) {
  CertificateAuthority authority = MakeAuthority();
  auto keys = GenerateX25519();
  ASSERT_TRUE(keys.ok());
  HostOptions options = Host("w", "10.42.2.1/16");
  options.duration = hours(1);
  options.public_key = keys->public_key;
  auto host = authority.Sign(options, kNow);
  ASSERT_TRUE(host.ok()) << host.status().ToString();
  EXPECT_TRUE(host->private_key.empty());
  EXPECT_EQ(host->cert.details.public_key, keys->public_key);
  EXPECT_EQ(host->cert.details.not_after, 1'800'000'000 + 3600);
  options.public_key = "short";
  EXPECT_FALSE(authority.Sign(options, kNow).ok());
}

TEST(SignTest, RefusesWhatTheCaDoesNotAllow) {
  CertificateAuthority authority =
      MakeAuthority({.name = "mesh", .groups = {"workers"}, .ips = {*ParseCidr("10.42.0.0/16")}});
  HostOptions options = Host("w", "10.43.0.1/16");
  EXPECT_EQ(authority.Sign(options, kNow).status().message(),
            "refusing to sign, root certificate constraints violated: certificate contained an ip "
            "assignment outside the limitations of the signing ca: 10.43.0.1/16");
  options = Host("w", "10.42.0.1/16");
  options.groups = {"workers", "admins"};
  EXPECT_EQ(authority.Sign(options, kNow).status().message(),
            "refusing to sign, root certificate constraints violated: certificate contained a "
            "group not present on the signing ca: admins");
  options.groups = {};
  options.duration = hours(24 * 366);
  EXPECT_EQ(authority.Sign(options, kNow).status().message(),
            "refusing to sign, root certificate constraints violated: certificate expires after "
            "signing certificate");
  EXPECT_EQ(authority.Sign(Host("w", "10.42.0.1/16"), kNow + hours(24 * 366)).status().message(),
            "ca certificate is expired");
}

TEST(CreateAuthorityTest, RefusesMismatchedKeysAndNonCas) {
  auto a = CreateCa({.name = "a"}, kNow);
  auto b = CreateCa({.name = "b"}, kNow);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(CertificateAuthority::Create(a->cert, b->private_key).status().message(),
            "refusing to sign, root certificate does not match private key");
  EXPECT_EQ(CertificateAuthority::Create(a->cert, "short").status().message(),
            "refusing to sign, root certificate does not match private key");
  // A 64-byte key whose public half matches the certificate but whose seed does not.
  std::string forged = b->private_key.substr(0, 32) + a->cert.details.public_key;
  EXPECT_FALSE(CertificateAuthority::Create(a->cert, forged).ok());
  Certificate not_ca = a->cert;
  not_ca.details.is_ca = false;
  EXPECT_THAT(CertificateAuthority::Create(not_ca, a->private_key).status().message(),
              HasSubstr("is not a CA certificate"));
}

TEST(WarningsTest, NarrowHostMaskIsTheSeedsSlash24Trap) {
  CertificateAuthority open_ca = MakeAuthority();
  auto warnings = open_ca.Warnings(Host("w", "10.42.1.1/24"));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0],
              HasSubstr("-ip 10.42.1.1/24 has a /24 mask, narrower than the mesh's /16"));
  EXPECT_THAT(warnings[0], HasSubstr("Use -ip 10.42.1.1/16."));
  EXPECT_TRUE(open_ca.Warnings(Host("w", "10.42.1.1/16")).empty());

  // With a CA network, that network is the mesh: a /12 mesh makes a /16 host narrow too.
  CertificateAuthority wide = MakeAuthority({.name = "m", .ips = {*ParseCidr("10.32.0.0/12")}});
  auto wide_warnings = wide.Warnings(Host("w", "10.33.0.1/16"));
  ASSERT_EQ(wide_warnings.size(), 1u);
  EXPECT_THAT(wide_warnings[0], HasSubstr("Use -ip 10.33.0.1/12."));
  EXPECT_TRUE(wide.Warnings(Host("w", "10.33.0.1/12")).empty());
}

TEST(CaPoolTest, ReportsEachFailedCheckWithAnExplanation) {
  CertificateAuthority authority = MakeAuthority({.name = "mesh", .groups = {"a"}});
  auto host = authority.Sign(
      {.name = "h", .ip = *ParseCidr("10.42.0.9/16"), .groups = {"a"}, .duration = hours(1)},
      kNow + hours(1));
  ASSERT_TRUE(host.ok());
  CaPool pool;
  ASSERT_TRUE(pool.AddCa(authority.cert(), kNow).ok());

  VerifyResult late = pool.Verify(host->cert, kNow + hours(3));
  EXPECT_EQ(late.status.message(), "certificate is expired");
  EXPECT_EQ(late.failed, VerifyCheck::kValidity);
  EXPECT_THAT(late.explanation, HasSubstr("expired: sign a new one"));

  VerifyResult early = pool.Verify(host->cert, kNow + std::chrono::minutes(30));
  EXPECT_EQ(early.failed, VerifyCheck::kValidity);
  EXPECT_THAT(early.explanation, HasSubstr("not valid yet"));

  VerifyResult ca_gone = pool.Verify(host->cert, kNow + hours(24 * 400));
  EXPECT_EQ(ca_gone.status.message(), "root certificate is expired");
  EXPECT_EQ(ca_gone.failed, VerifyCheck::kCaValidity);

  Certificate tampered = host->cert;
  tampered.details.groups = {"a", "a"};
  VerifyResult bad_sig = pool.Verify(tampered, kNow + hours(1));
  EXPECT_EQ(bad_sig.status.message(), "certificate signature did not match");
  EXPECT_EQ(bad_sig.failed, VerifyCheck::kSignature);

  pool.Blocklist(Fingerprint(host->cert));
  VerifyResult blocked = pool.Verify(host->cert, kNow + hours(1));
  EXPECT_EQ(blocked.status.message(), "certificate has been blocked");
  EXPECT_EQ(blocked.failed, VerifyCheck::kBlocklist);

  CaPool other;
  ASSERT_TRUE(other.AddCa(MakeAuthority({.name = "other"}).cert(), kNow).ok());
  VerifyResult unknown = other.Verify(host->cert, kNow + hours(1));
  EXPECT_EQ(unknown.status.message(), "could not find ca for the certificate");
  EXPECT_THAT(unknown.explanation, HasSubstr(authority.fingerprint()));
}

TEST(CaPoolTest, LoadsSeveralCasAndRejectsNonCasAndForgeries) {
  CertificateAuthority a = MakeAuthority({.name = "a"});
  CertificateAuthority b = MakeAuthority({.name = "b"});
  CaPool pool;
  std::string both = CertificateToPem(a.cert()) + "\n" + CertificateToPem(b.cert()) + "\n\n";
  ASSERT_TRUE(pool.AddCasFromPem(both, kNow).ok());
  EXPECT_EQ(pool.size(), 2u);
  EXPECT_NE(pool.Find(b.fingerprint()), nullptr);

  auto host = a.Sign(Host("h", "10.42.0.1/16"), kNow);
  ASSERT_TRUE(host.ok());
  CaPool bad;
  EXPECT_EQ(bad.AddCasFromPem(host->CertPem(), kNow).message(), "h: certificate is not a CA");
  Certificate forged = a.cert();
  forged.details.name = "forged";
  EXPECT_EQ(bad.AddCa(forged, kNow).message(), "forged: certificate is not self-signed");
  Status expired = bad.AddCa(a.cert(), kNow + hours(24 * 400));
  EXPECT_EQ(expired.message(), "a: certificate is expired");
  EXPECT_EQ(bad.size(), 1u);  // added, as nebula does, but reported
}

}  // namespace
}  // namespace carrierarr::pki
