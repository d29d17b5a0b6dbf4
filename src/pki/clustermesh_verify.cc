// The checks a TLS peer makes on a ClusterMesh certificate, each failure worded with its cause:
// Go reports most of them as `crypto/rsa: verification error` or `unknown authority`.
#include <openssl/bio.h>
#include <openssl/x509v3.h>

#include <cstdint>

#include "pki/clustermesh.h"
#include "pki/x509_internal.h"

namespace carrierarr::pki {
namespace {

using x509::CertPtr;
using x509::KeyPtr;

std::string TimeText(const ASN1_TIME* t) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  ASN1_TIME_print(bio.get(), t);
  char* data = nullptr;
  const int64_t len = BIO_get_mem_data(bio.get(), &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : "?";
}

std::string SubjectOf(X509* cert) { return x509::NameLine(X509_get_subject_name(cert)); }

Status CheckKey(const TlsPair& pair, X509* cert) {
  if (pair.key_pem.empty()) return Status::Ok();
  auto key = x509::ParseKey(pair.key_pem);
  if (!key.ok()) return Status::FailedPrecondition(pair.key_name + ": " + key.status().message());
  if (EVP_PKEY_eq(X509_get0_pubkey(cert), key->get()) != 1) {
    return Status::FailedPrecondition(
        pair.key_name + " does not match " + pair.cert_name +
        ": it is the key of another certificate (re-issued, or another cluster's); a peer "
        "reports this as a signature verification error. Use the key written with " +
        pair.cert_name);
  }
  return Status::Ok();
}

Status CheckUsage(const TlsPair& pair, X509* cert) {
  bool server = pair.role == TlsRole::kServer;
  uint32_t want = server ? XKU_SSL_SERVER : XKU_SSL_CLIENT;
  // Without the extension OpenSSL reports "any usage"; the spec asks for it to be explicit.
  bool has_eku = (X509_get_extension_flags(cert) & EXFLAG_XKUSAGE) != 0;
  if (!has_eku || (X509_get_extended_key_usage(cert) & want) == 0) {
    const char* name = server ? "serverAuth" : "clientAuth";
    return Status::FailedPrecondition(pair.cert_name + " lacks extendedKeyUsage " + name +
                                      ": etcd refuses it as a " + (server ? "server" : "client") +
                                      " certificate; re-issue it with " + name);
  }
  for (const auto& ip : pair.ip_addresses) {
    if (X509_check_ip_asc(cert, ip.c_str(), 0) != 1) {
      return Status::FailedPrecondition(
          pair.cert_name + " does not list IP address " + ip +
          " in its subjectAltName: a client dialing it gets \"certificate is valid for ..., not " +
          ip + "\"; re-issue it with that mesh IP");
    }
  }
  for (const auto& name : pair.host_names) {
    if (X509_check_host(cert, name.data(), name.size(), 0, nullptr) != 1) {
      return Status::FailedPrecondition(
          pair.cert_name + " is not valid for " + name + ", the name its clients dial (a " +
          "subjectAltName " + name + " or *.mesh.cilium.io); re-issue it with the standard names");
    }
  }
  return Status::Ok();
}

// Why no CA of the bundle signed `cert`: one of its issuer's name whose key does not verify the
// signature, or none of that name at all.
Status UnsignedCause(const TlsPair& pair, X509* cert, const std::vector<CertPtr>& bundle) {
  std::string issuer = x509::NameLine(X509_get_issuer_name(cert));
  std::string names;
  for (const auto& ca : bundle) {
    if (X509_NAME_cmp(X509_get_subject_name(ca.get()), X509_get_issuer_name(cert)) == 0) {
      return Status::FailedPrecondition(
          pair.cert_name + " is not signed by the CA in " + pair.bundle_name + ": the CA there " +
          "named \"" + issuer + "\" has another key than the one that signed it (a CA " +
          "regenerated under the same name?); re-issue " + pair.cert_name +
          " with the CA in the bundle, or put the CA that signed it in the bundle");
    }
    names += (names.empty() ? "\"" : ", \"") + SubjectOf(ca.get()) + "\"";
  }
  return Status::FailedPrecondition(pair.cert_name + " is not signed by any CA in " +
                                    pair.bundle_name + ": its issuer \"" + issuer +
                                    "\" is not there (the bundle holds " + names +
                                    "); add that cluster's CA certificate to the bundle (--trust)");
}

Status CheckChain(const TlsPair& pair, X509* cert, const std::vector<CertPtr>& bundle,
                  TimePoint now) {
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), &X509_STORE_free);
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(),
                                                                      &X509_STORE_CTX_free);
  if (!store || !ctx) return Status::Internal("openssl: out of memory");
  for (const auto& ca : bundle) X509_STORE_add_cert(store.get(), ca.get());
  if (X509_STORE_CTX_init(ctx.get(), store.get(), cert, nullptr) != 1)
    return Status::Internal("openssl: cannot set up verification");
  X509_STORE_CTX_set_time(ctx.get(), 0, std::chrono::system_clock::to_time_t(now));
  X509_STORE_CTX_set_purpose(
      ctx.get(), pair.role == TlsRole::kServer ? X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT);
  if (X509_verify_cert(ctx.get()) == 1) return Status::Ok();
  int err = X509_STORE_CTX_get_error(ctx.get());
  X509* at = X509_STORE_CTX_get_current_cert(ctx.get());
  std::string who = at == nullptr || X509_cmp(at, cert) == 0
                        ? pair.cert_name
                        : "its CA \"" + SubjectOf(at) + "\" in " + pair.bundle_name;
  switch (err) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      return UnsignedCause(pair, cert, bundle);
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return Status::FailedPrecondition(
          who + " is not valid now: it is valid from " + TimeText(X509_get0_notBefore(at)) +
          " until " + TimeText(X509_get0_notAfter(at)) + "; re-issue it (or check the clock)");
    default:
      return Status::FailedPrecondition(who + " does not verify against " + pair.bundle_name +
                                        ": " + X509_verify_cert_error_string(err));
  }
}

}  // namespace

Status VerifyTlsPair(const TlsPair& pair, TimePoint now) {
  auto cert = x509::ParseOneCert(pair.cert_pem);
  if (!cert.ok())
    return Status::FailedPrecondition(pair.cert_name + ": " + cert.status().message());
  auto bundle = x509::ParseCerts(pair.bundle_pem);
  if (!bundle.ok())
    return Status::FailedPrecondition(pair.bundle_name + ": " + bundle.status().message());
  for (const auto& ca : *bundle) {
    if (X509_check_ca(ca.get()) == 0) {
      return Status::FailedPrecondition(pair.bundle_name + " holds \"" + SubjectOf(ca.get()) +
                                        "\", which is not a CA certificate");
    }
  }
  CARRIERARR_RETURN_IF_ERROR(CheckKey(pair, cert->get()));
  CARRIERARR_RETURN_IF_ERROR(CheckUsage(pair, cert->get()));
  return CheckChain(pair, cert->get(), *bundle, now);
}

Status VerifyClusterMeshMaterial(const ClusterMeshMaterial& material,
                                 const ClusterMeshOptions& options, TimePoint now) {
  TlsPair server{.role = TlsRole::kServer,
                 .cert_name = "server.crt",
                 .cert_pem = material.server.cert_pem,
                 .key_name = "server.key",
                 .key_pem = material.server.key_pem,
                 .bundle_name = "ca-bundle.crt",
                 .bundle_pem = material.ca_bundle_pem,
                 .ip_addresses = ServerIpAddresses(options),
                 .host_names = {options.cluster + ".mesh.cilium.io"}};
  CARRIERARR_RETURN_IF_ERROR(VerifyTlsPair(server, now));
  TlsPair client{.role = TlsRole::kClient,
                 .cert_name = "client.crt",
                 .cert_pem = material.client.cert_pem,
                 .key_name = "client.key",
                 .key_pem = material.client.key_pem,
                 .bundle_name = "ca-bundle.crt",
                 .bundle_pem = material.ca_bundle_pem};
  return VerifyTlsPair(client, now);
}

}  // namespace carrierarr::pki
