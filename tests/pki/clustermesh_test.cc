// The ClusterMesh X.509 material, read back with OpenSSL's own parsers, and VerifyTlsPair's
// causes for the failures behind Go's `crypto/rsa: verification error`.
#include "pki/clustermesh.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <set>
#include <string>

#include "pki/crypto.h"

namespace carrierarr::pki {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

struct X509Free {
  void operator()(X509* c) const { X509_free(c); }
};
using CertPtr = std::unique_ptr<X509, X509Free>;

CertPtr Parse(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), int(pem.size())),
                                                &BIO_free);
  return CertPtr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

std::string CommonName(X509* cert) {
  char buf[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof(buf));
  return buf;
}

std::set<std::string> DnsNames(X509* cert) {
  std::set<std::string> names;
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; sans != nullptr && i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
    if (name->type != GEN_DNS) continue;
    names.emplace(reinterpret_cast<const char*>(ASN1_STRING_get0_data(name->d.dNSName)),
                  ASN1_STRING_length(name->d.dNSName));
  }
  GENERAL_NAMES_free(sans);
  return names;
}

int KeyBaseId(const std::string& cert_pem) {
  CertPtr cert = Parse(cert_pem);
  return EVP_PKEY_get_base_id(X509_get0_pubkey(cert.get()));
}

class ClusterMeshTest : public ::testing::Test {
 protected:
  // As `carrierarr` main() does: it leaves OpenSSL's digest table empty, which once made every
  // X.509 signature fail to verify in the binary but not in tests.
  static void SetUpTestSuite() { InitCrypto(); }

  ClusterMeshOptions Options(const std::string& cluster, std::vector<std::string> ips) {
    return {.cluster = cluster, .mesh_ips = std::move(ips)};
  }
  ClusterMeshMaterial Make(const ClusterMeshOptions& options) {
    auto m = CreateClusterMeshMaterial(options, now_);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? *m : ClusterMeshMaterial{};
  }
  TlsPair Pair(TlsRole role, const PemPair& leaf, const std::string& bundle) {
    return {.role = role,
            .cert_name = role == TlsRole::kServer ? "server.crt" : "client.crt",
            .cert_pem = leaf.cert_pem,
            .key_name = role == TlsRole::kServer ? "server.key" : "client.key",
            .key_pem = leaf.key_pem,
            .bundle_name = "ca-bundle.crt",
            .bundle_pem = bundle};
  }

  TimePoint now_ = std::chrono::system_clock::now();
};

TEST_F(ClusterMeshTest, ClusterNamesFollowCiliumsRule) {
  for (const char* good :
       {"talos-home", "aws-k3s", "a", "0", "a-b-1", "abcdefghijklmnopqrstuvwxyz012345"}) {
    EXPECT_TRUE(CheckClusterMeshName(good).ok()) << good;
  }
  EXPECT_THAT(CheckClusterMeshName("abcdefghijklmnopqrstuvwxyz0123456").message(),
              HasSubstr("is 33 characters long; Cilium allows at most 32"));
  for (const char* bad : {"Talos", "a_b", "a.b", "a b", "ä"}) {
    EXPECT_THAT(CheckClusterMeshName(bad).message(),
                HasSubstr("only lowercase letters, digits and dashes"))
        << bad;
  }
  for (const char* bad : {"-a", "a-", "-"}) {
    EXPECT_THAT(CheckClusterMeshName(bad).message(), HasSubstr("start and end with a letter"))
        << bad;
  }
  EXPECT_FALSE(CheckClusterMeshName("").ok());
  EXPECT_TRUE(CheckClusterMeshId(1).ok());
  EXPECT_TRUE(CheckClusterMeshId(255).ok());
  EXPECT_FALSE(CheckClusterMeshId(0).ok());
  EXPECT_FALSE(CheckClusterMeshId(256).ok());
}

TEST_F(ClusterMeshTest, ServerCertCarriesBothChartNamesEveryMeshIpAndServerAuth) {
  auto options = Options("talos-home", {"10.42.0.1", "10.42.0.7", "fd42::1"});
  options.ns = "cilium";
  ClusterMeshMaterial m = Make(options);
  CertPtr server = Parse(m.server.cert_pem);
  ASSERT_TRUE(server);
  EXPECT_EQ(CommonName(server.get()), "clustermesh-apiserver.cilium.svc");
  EXPECT_EQ(DnsNames(server.get()),
            (std::set<std::string>{"clustermesh-apiserver.cilium.io",
                                   "clustermesh-apiserver.cilium.svc", "*.mesh.cilium.io"}));
  for (const char* ip : {"127.0.0.1", "::1", "10.42.0.1", "10.42.0.7", "fd42::1"})
    EXPECT_EQ(X509_check_ip_asc(server.get(), ip, 0), 1) << ip;
  EXPECT_NE(X509_check_ip_asc(server.get(), "10.42.0.2", 0), 1);
  EXPECT_EQ(X509_check_host(server.get(), "talos-home.mesh.cilium.io", 0, 0, nullptr), 1);
  EXPECT_TRUE(X509_get_extension_flags(server.get()) & EXFLAG_XKUSAGE);
  EXPECT_EQ(X509_get_extended_key_usage(server.get()), uint32_t{XKU_SSL_SERVER});
  EXPECT_EQ(X509_check_ca(server.get()), 0);
  // RSA 2048 by default, under a new RSA CA.
  EXPECT_EQ(EVP_PKEY_get_bits(X509_get0_pubkey(server.get())), kMeshRsaBits);
  EXPECT_TRUE(m.ca_created);
  EXPECT_EQ(KeyBaseId(m.ca.cert_pem), EVP_PKEY_RSA);
  EXPECT_THAT(m.ca.key_pem, HasSubstr("BEGIN PRIVATE KEY"));
}

TEST_F(ClusterMeshTest, OlderChartsCnIsTheCiliumIoName) {
  auto options = Options("aws-k3s", {"10.42.1.1"});
  options.server_cn = ServerCnStyle::kCiliumIo;
  CertPtr server = Parse(Make(options).server.cert_pem);
  EXPECT_EQ(CommonName(server.get()), "clustermesh-apiserver.cilium.io");
  EXPECT_THAT(DnsNames(server.get()), ::testing::Contains("clustermesh-apiserver.kube-system.svc"));
}

TEST_F(ClusterMeshTest, ClientCertIsRemoteWithClientAuthOnly) {
  CertPtr client = Parse(Make(Options("aws-k3s", {"10.42.1.1"})).client.cert_pem);
  ASSERT_TRUE(client);
  EXPECT_EQ(CommonName(client.get()), "remote");
  EXPECT_TRUE(X509_get_extension_flags(client.get()) & EXFLAG_XKUSAGE);
  EXPECT_EQ(X509_get_extended_key_usage(client.get()), uint32_t{XKU_SSL_CLIENT});
  EXPECT_TRUE(DnsNames(client.get()).empty());
}

TEST_F(ClusterMeshTest, EcdsaLeavesUnderAnRsaCaVerify) {
  auto options = Options("aws-k3s", {"10.42.1.1"});
  options.key_type = MeshKeyType::kEcdsa;
  ClusterMeshMaterial m = Make(options);
  EXPECT_EQ(KeyBaseId(m.server.cert_pem), EVP_PKEY_EC);
  EXPECT_EQ(KeyBaseId(m.client.cert_pem), EVP_PKEY_EC);
  EXPECT_EQ(KeyBaseId(m.ca.cert_pem), EVP_PKEY_RSA);
  Status s = VerifyClusterMeshMaterial(m, options, now_);
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST_F(ClusterMeshTest, BundleHoldsOwnCaThenEachTrustedCaOnce) {
  ClusterMeshMaterial b = Make(Options("aws-k3s", {"10.42.1.1"}));
  auto options = Options("talos-home", {"10.42.0.1"});
  options.trusted_cas = {{"b.crt", b.ca.cert_pem}, {"b-again.crt", b.ca.cert_pem}};
  ClusterMeshMaterial a = Make(options);
  EXPECT_EQ(a.ca_bundle_pem, a.ca.cert_pem + b.ca.cert_pem);
  // Each cluster's client verifies against the other's bundle through the combined CA.
  Status s = VerifyTlsPair(Pair(TlsRole::kClient, b.client, a.ca_bundle_pem), now_);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(VerifyClusterMeshMaterial(a, options, now_).ok());
}

TEST_F(ClusterMeshTest, TrustingALeafCertificateIsRefused) {
  ClusterMeshMaterial b = Make(Options("aws-k3s", {"10.42.1.1"}));
  auto options = Options("talos-home", {"10.42.0.1"});
  options.trusted_cas = {{"b/server.crt", b.server.cert_pem}};
  auto m = CreateClusterMeshMaterial(options, now_);
  EXPECT_THAT(m.status().message(),
              AllOf(HasSubstr("b/server.crt: CN=clustermesh-apiserver.kube-system.svc is not a CA"),
                    HasSubstr("give the other cluster's ca.crt")));
}

TEST_F(ClusterMeshTest, AnExistingCaSignsAndIsNotWrittenBack) {
  ClusterMeshMaterial first = Make(Options("talos-home", {"10.42.0.1"}));
  auto options = Options("talos-home", {"10.42.0.1", "10.42.0.9"});
  options.ca = first.ca;
  ClusterMeshMaterial again = Make(options);
  EXPECT_FALSE(again.ca_created);
  EXPECT_TRUE(again.ca.key_pem.empty());
  EXPECT_EQ(again.ca.cert_pem, first.ca.cert_pem);
  // The new server certificate verifies against the first run's bundle: nothing to redistribute.
  Status s = VerifyTlsPair(Pair(TlsRole::kServer, again.server, first.ca_bundle_pem), now_);
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST_F(ClusterMeshTest, AnExistingCaWithAnotherKeyIsRefused) {
  ClusterMeshMaterial a = Make(Options("talos-home", {"10.42.0.1"}));
  auto options = Options("talos-home", {"10.42.0.1"});
  options.ca = PemPair{a.ca.cert_pem, a.server.key_pem};
  EXPECT_THAT(CreateClusterMeshMaterial(options, now_).status().message(),
              HasSubstr("the CA key does not match the CA certificate"));
  options.ca = PemPair{a.server.cert_pem, a.server.key_pem};
  EXPECT_THAT(CreateClusterMeshMaterial(options, now_).status().message(),
              HasSubstr("is not a CA"));
}

TEST_F(ClusterMeshTest, KeyOfAnotherCertificateIsNamedAsSuch) {
  ClusterMeshMaterial m = Make(Options("talos-home", {"10.42.0.1"}));
  TlsPair pair = Pair(TlsRole::kServer, m.server, m.ca_bundle_pem);
  pair.key_pem = m.client.key_pem;
  std::string message = VerifyTlsPair(pair, now_).message();
  EXPECT_THAT(message, AllOf(HasSubstr("server.key does not match server.crt"),
                             Not(HasSubstr("RSA")), Not(HasSubstr("ECDSA"))));
  // Of another type too: still a mismatch, not a "key type" problem.
  auto options = Options("talos-home", {"10.42.0.1"});
  options.key_type = MeshKeyType::kEcdsa;
  pair.key_pem = Make(options).server.key_pem;
  EXPECT_THAT(VerifyTlsPair(pair, now_).message(),
              AllOf(HasSubstr("server.key does not match server.crt"), Not(HasSubstr("type"))));
}

TEST_F(ClusterMeshTest, CaRegeneratedUnderTheSameNameIsNamedAsSuch) {
  ClusterMeshMaterial old_ca = Make(Options("talos-home", {"10.42.0.1"}));
  ClusterMeshMaterial new_ca = Make(Options("talos-home", {"10.42.0.1"}));
  std::string message =
      VerifyTlsPair(Pair(TlsRole::kServer, old_ca.server, new_ca.ca_bundle_pem), now_).message();
  EXPECT_THAT(message, AllOf(HasSubstr("server.crt is not signed by the CA in ca-bundle.crt"),
                             HasSubstr("a CA regenerated under the same name?"),
                             HasSubstr("CN=carrierarr ClusterMesh CA talos-home")));
}

TEST_F(ClusterMeshTest, ForeignCaNotInTheBundleIsNamed) {
  ClusterMeshMaterial a = Make(Options("talos-home", {"10.42.0.1"}));
  ClusterMeshMaterial b = Make(Options("aws-k3s", {"10.42.1.1"}));
  std::string message =
      VerifyTlsPair(Pair(TlsRole::kClient, b.client, a.ca_bundle_pem), now_).message();
  EXPECT_THAT(message,
              AllOf(HasSubstr("client.crt is not signed by any CA in ca-bundle.crt"),
                    HasSubstr("its issuer \"CN=carrierarr ClusterMesh CA aws-k3s\" is not there"),
                    HasSubstr("--trust")));
}

TEST_F(ClusterMeshTest, WrongUsageMissingIpOrNameAndExpiryAreNamed) {
  ClusterMeshMaterial m = Make(Options("talos-home", {"10.42.0.1"}));
  // A client certificate where a server's is expected, and the other way round.
  TlsPair swapped = Pair(TlsRole::kServer, m.client, m.ca_bundle_pem);
  swapped.cert_name = "client.crt";
  EXPECT_THAT(VerifyTlsPair(swapped, now_).message(),
              HasSubstr("client.crt lacks extendedKeyUsage serverAuth"));
  swapped = Pair(TlsRole::kClient, m.server, m.ca_bundle_pem);
  swapped.cert_name = "server.crt";
  EXPECT_THAT(VerifyTlsPair(swapped, now_).message(),
              HasSubstr("server.crt lacks extendedKeyUsage clientAuth"));
  TlsPair pair = Pair(TlsRole::kServer, m.server, m.ca_bundle_pem);
  pair.ip_addresses = {"10.42.0.1", "10.42.0.2"};
  EXPECT_THAT(VerifyTlsPair(pair, now_).message(),
              HasSubstr("server.crt does not list IP address 10.42.0.2 in its subjectAltName"));
  pair.ip_addresses.clear();
  // Dialed by name: *.mesh.cilium.io covers any cluster's name, nothing else.
  pair.host_names = {"aws-k3s.mesh.cilium.io"};
  EXPECT_TRUE(VerifyTlsPair(pair, now_).ok());
  pair.host_names = {"aws-k3s.mesh.example.org"};
  EXPECT_THAT(VerifyTlsPair(pair, now_).message(),
              HasSubstr("server.crt is not valid for aws-k3s.mesh.example.org, the name its "
                        "clients dial"));
  pair.host_names.clear();
  EXPECT_THAT(VerifyTlsPair(pair, now_ + std::chrono::hours(2 * 8760)).message(),
              HasSubstr("server.crt is not valid now"));
}

TEST_F(ClusterMeshTest, LeavesNeverOutliveTheirCa) {
  auto options = Options("talos-home", {"10.42.0.1"});
  options.ca_validity = std::chrono::hours(24);
  ClusterMeshMaterial m = Make(options);
  CertPtr ca = Parse(m.ca.cert_pem), server = Parse(m.server.cert_pem);
  EXPECT_EQ(ASN1_TIME_compare(X509_get0_notAfter(ca.get()), X509_get0_notAfter(server.get())), 0);
}

TEST_F(ClusterMeshTest, BadOptionsAreRefused) {
  EXPECT_THAT(CreateClusterMeshMaterial(Options("Bad", {"10.42.0.1"}), now_).status().message(),
              HasSubstr("cluster name \"Bad\""));
  EXPECT_THAT(CreateClusterMeshMaterial(Options("a", {}), now_).status().message(),
              HasSubstr("no mesh IP"));
  EXPECT_THAT(CreateClusterMeshMaterial(Options("a", {"10.42.0.300"}), now_).status().message(),
              HasSubstr("mesh IP \"10.42.0.300\" is not an IPv4 or IPv6 address"));
}

}  // namespace
}  // namespace carrierarr::pki
