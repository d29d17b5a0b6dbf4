#include "pki/clustermesh.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>
#include <ctime>

#include "pki/x509_internal.h"

namespace carrierarr::pki {
namespace {

using x509::CertPtr;
using x509::KeyPtr;

constexpr size_t kMaxClusterNameLen = 32;
constexpr char kLegacyServerName[] = "clustermesh-apiserver.cilium.io";
constexpr char kMeshWildcard[] = "*.mesh.cilium.io";
// Certificates start a little in the past, so a peer whose clock lags does not refuse them.
constexpr std::chrono::minutes kBackdate(5);

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

Result<KeyPtr> GenerateKey(MeshKeyType type) {
  EVP_PKEY* key = type == MeshKeyType::kRsa ? EVP_RSA_gen(kMeshRsaBits) : EVP_EC_gen("P-256");
  if (key == nullptr) return Status::Internal("openssl: key generation failed");
  return KeyPtr(key);
}

time_t NotAfterOf(const X509* cert) {
  struct tm tm {};
  ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm);
  return timegm(&tm);
}

struct CertSpec {
  std::string cn;
  bool is_ca = false;
  std::vector<std::string> dns, ips;
  int eku_nid = NID_undef;  // NID_server_auth or NID_client_auth for a leaf
  time_t not_before = 0, not_after = 0;
};

Status AddExtension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
  if (ext == nullptr) return Status::Internal("openssl: bad extension " + value);
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok == 1 ? Status::Ok() : Status::Internal("openssl: cannot add extension " + value);
}

Status AddExtensions(const CertSpec& spec, X509* cert, X509* issuer, bool rsa) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  std::vector<std::pair<int, std::string>> exts;
  if (spec.is_ca) {
    exts = {{NID_basic_constraints, "critical,CA:TRUE"},
            {NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"}};
  } else {
    // keyEncipherment is for RSA key exchange only; an ECDSA key cannot encipher.
    exts = {{NID_basic_constraints, "critical,CA:FALSE"},
            {NID_key_usage,
             rsa ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature"},
            {NID_ext_key_usage, spec.eku_nid == NID_server_auth ? "serverAuth" : "clientAuth"}};
  }
  exts.emplace_back(NID_subject_key_identifier, "hash");
  exts.emplace_back(NID_authority_key_identifier, "keyid:always");
  std::string san;
  for (const auto& d : spec.dns) san += (san.empty() ? "DNS:" : ",DNS:") + d;
  for (const auto& ip : spec.ips) san += (san.empty() ? "IP:" : ",IP:") + ip;
  if (!san.empty()) exts.emplace_back(NID_subject_alt_name, san);
  for (const auto& [nid, value] : exts)
    CARRIERARR_RETURN_IF_ERROR(AddExtension(cert, &ctx, nid, value));
  return Status::Ok();
}

Status SetSerial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return Status::Internal("openssl: RAND_bytes failed");
  bytes[0] &= 0x7f;  // positive, as RFC 5280 requires
  BIGNUM* bn = BN_bin2bn(bytes, sizeof(bytes), nullptr);
  bool ok = bn != nullptr && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != nullptr;
  BN_free(bn);
  return ok ? Status::Ok() : Status::Internal("openssl: cannot set a serial number");
}

// Signs `spec` for `key`'s public half; a self-signed CA when `issuer` is null.
Result<CertPtr> SignCert(const CertSpec& spec, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key) {
  CertPtr cert(X509_new());
  if (!cert) return Status::Internal("openssl: X509_new failed");
  X509_NAME* subject = X509_get_subject_name(cert.get());
  if (X509_set_version(cert.get(), 2) != 1 ||
      X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(spec.cn.c_str()), -1, -1,
                                 0) != 1 ||
      X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : subject) != 1 ||
      X509_set_pubkey(cert.get(), key) != 1 ||
      ASN1_TIME_set(X509_getm_notBefore(cert.get()), spec.not_before) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert.get()), spec.not_after) == nullptr) {
    return Status::Internal("openssl: cannot fill in a certificate: " + x509::OpensslError());
  }
  CARRIERARR_RETURN_IF_ERROR(SetSerial(cert.get()));
  bool rsa = EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA;
  CARRIERARR_RETURN_IF_ERROR(AddExtensions(spec, cert.get(), issuer ? issuer : cert.get(), rsa));
  if (X509_sign(cert.get(), issuer ? issuer_key : key, EVP_sha256()) == 0)
    return Status::Internal("openssl: signing failed: " + x509::OpensslError());
  return cert;
}

struct LoadedCa {
  CertPtr cert;
  KeyPtr key;
};

Result<LoadedCa> LoadCa(const PemPair& ca, TimePoint now) {
  auto cert = x509::ParseOneCert(ca.cert_pem);
  if (!cert.ok()) return Status::InvalidArgument("CA certificate: " + cert.status().message());
  auto key = x509::ParseKey(ca.key_pem);
  if (!key.ok()) return Status::InvalidArgument("CA key: " + key.status().message());
  if (X509_check_ca(cert->get()) == 0) {
    return Status::InvalidArgument("the CA certificate (" +
                                   x509::NameLine(X509_get_subject_name(cert->get())) +
                                   ") is not a CA: give the cluster's ca.crt");
  }
  if (EVP_PKEY_eq(X509_get0_pubkey(cert->get()), key->get()) != 1)
    return Status::InvalidArgument("the CA key does not match the CA certificate");
  time_t t = std::chrono::system_clock::to_time_t(now);
  if (X509_cmp_time(X509_get0_notAfter(cert->get()), &t) <= 0)
    return Status::InvalidArgument("the CA certificate has expired: renew the CA first");
  return LoadedCa{std::move(*cert), std::move(*key)};
}

Result<LoadedCa> NewCa(const ClusterMeshOptions& options, TimePoint now) {
  // Always RSA: the seeds' Cilium CAs are, and a CA's key type need not match its leaves'.
  CARRIERARR_ASSIGN_OR_RETURN(KeyPtr key, GenerateKey(MeshKeyType::kRsa));
  time_t t = std::chrono::system_clock::to_time_t(now);
  // The cluster in the name keeps two clusters' CAs apart in a combined bundle.
  CertSpec spec{.cn = "carrierarr ClusterMesh CA " + options.cluster,
                .is_ca = true,
                .not_before = t - std::chrono::seconds(kBackdate).count(),
                .not_after = t + options.ca_validity.count()};
  CARRIERARR_ASSIGN_OR_RETURN(CertPtr cert, SignCert(spec, key.get(), nullptr, nullptr));
  return LoadedCa{std::move(cert), std::move(key)};
}

// Own CA first, then each trusted CA once (an exact copy of one already there is dropped).
Result<std::string> MakeBundle(X509* own, const std::vector<NamedPem>& trusted) {
  std::string bundle = x509::CertToPem(own);
  std::vector<CertPtr> seen;
  for (const auto& source : trusted) {
    auto certs = x509::ParseCerts(source.pem);
    if (!certs.ok()) return Status::InvalidArgument(source.name + ": " + certs.status().message());
    for (auto& cert : *certs) {
      if (X509_check_ca(cert.get()) == 0) {
        return Status::InvalidArgument(
            source.name + ": " + x509::NameLine(X509_get_subject_name(cert.get())) +
            " is not a CA certificate: give the other cluster's ca.crt, not a server or client "
            "certificate");
      }
      bool dup = X509_cmp(cert.get(), own) == 0 ||
                 std::any_of(seen.begin(), seen.end(),
                             [&](const CertPtr& s) { return X509_cmp(s.get(), cert.get()) == 0; });
      if (dup) continue;
      bundle += x509::CertToPem(cert.get());
      seen.push_back(std::move(cert));
    }
  }
  return bundle;
}

Status CheckOptions(const ClusterMeshOptions& options) {
  CARRIERARR_RETURN_IF_ERROR(CheckClusterMeshName(options.cluster));
  if (options.ns.empty()) return Status::InvalidArgument("the namespace is empty");
  if (options.mesh_ips.empty())
    return Status::InvalidArgument("no mesh IP: give every address clients reach the server on");
  for (const auto& ip : options.mesh_ips) {
    unsigned char buf[16];
    if (inet_pton(AF_INET, ip.c_str(), buf) != 1 && inet_pton(AF_INET6, ip.c_str(), buf) != 1)
      return Status::InvalidArgument("mesh IP \"" + ip + "\" is not an IPv4 or IPv6 address");
  }
  if (options.validity.count() <= 0 || options.ca_validity.count() <= 0)
    return Status::InvalidArgument("validity must be greater than 0");
  return Status::Ok();
}

}  // namespace

Status CheckClusterMeshName(std::string_view name) {
  std::string quoted = "cluster name \"" + std::string(name) + "\"";
  if (name.empty()) return Status::InvalidArgument("cluster name is empty");
  if (name.size() > kMaxClusterNameLen) {
    return Status::InvalidArgument(quoted + " is " + std::to_string(name.size()) +
                                   " characters long; Cilium allows at most 32");
  }
  for (char c : name) {
    if (!IsLowerAlnum(c) && c != '-') {
      return Status::InvalidArgument(
          quoted + " may hold only lowercase letters, digits and dashes (Cilium's rule)");
    }
  }
  if (name.front() == '-' || name.back() == '-')
    return Status::InvalidArgument(quoted + " must start and end with a letter or digit");
  return Status::Ok();
}

Status CheckClusterMeshId(int64_t id) {
  if (id < 1 || id > 255)
    return Status::InvalidArgument("cluster id " + std::to_string(id) + " is not in 1-255");
  return Status::Ok();
}

std::vector<std::string> ServerDnsNames(const ClusterMeshOptions& options) {
  std::string service = "clustermesh-apiserver." + options.ns + ".svc";
  return {kLegacyServerName, service, kMeshWildcard};
}

std::vector<std::string> ServerIpAddresses(const ClusterMeshOptions& options) {
  std::vector<std::string> ips = {"127.0.0.1", "::1"};
  for (const auto& ip : options.mesh_ips)
    if (std::find(ips.begin(), ips.end(), ip) == ips.end()) ips.push_back(ip);
  return ips;
}

Result<ClusterMeshMaterial> CreateClusterMeshMaterial(const ClusterMeshOptions& options,
                                                      TimePoint now) {
  CARRIERARR_RETURN_IF_ERROR(CheckOptions(options));
  ClusterMeshMaterial out;
  out.ca_created = !options.ca.has_value();
  CARRIERARR_ASSIGN_OR_RETURN(LoadedCa ca,
                              options.ca ? LoadCa(*options.ca, now) : NewCa(options, now));
  out.ca.cert_pem = x509::CertToPem(ca.cert.get());
  if (out.ca_created) out.ca.key_pem = x509::KeyToPem(ca.key.get());
  CARRIERARR_ASSIGN_OR_RETURN(out.ca_bundle_pem, MakeBundle(ca.cert.get(), options.trusted_cas));

  time_t t = std::chrono::system_clock::to_time_t(now);
  // Never past the CA's own end: a peer would refuse the certificate from then on anyway.
  time_t not_after = std::min<time_t>(t + options.validity.count(), NotAfterOf(ca.cert.get()));
  time_t not_before = t - std::chrono::seconds(kBackdate).count();
  std::vector<std::string> dns = ServerDnsNames(options);
  CertSpec server{.cn = options.server_cn == ServerCnStyle::kService ? dns[1] : dns[0],
                  .dns = dns,
                  .ips = ServerIpAddresses(options),
                  .eku_nid = NID_server_auth,
                  .not_before = not_before,
                  .not_after = not_after};
  CertSpec client{
      .cn = "remote", .eku_nid = NID_client_auth, .not_before = not_before, .not_after = not_after};
  for (auto [spec, pair] : {std::pair{&server, &out.server}, {&client, &out.client}}) {
    CARRIERARR_ASSIGN_OR_RETURN(KeyPtr key, GenerateKey(options.key_type));
    CARRIERARR_ASSIGN_OR_RETURN(CertPtr cert,
                                SignCert(*spec, key.get(), ca.cert.get(), ca.key.get()));
    pair->cert_pem = x509::CertToPem(cert.get());
    pair->key_pem = x509::KeyToPem(key.get());
  }
  return out;
}

}  // namespace carrierarr::pki
