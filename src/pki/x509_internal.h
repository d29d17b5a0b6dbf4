// OpenSSL X.509 plumbing shared by clustermesh.cc and clustermesh_verify.cc; not a public API.
#ifndef CARRIERARR_PKI_X509_INTERNAL_H_
#define CARRIERARR_PKI_X509_INTERNAL_H_

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace carrierarr::pki::x509 {

struct X509Free {
  void operator()(X509* c) const { X509_free(c); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using CertPtr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// Every CERTIFICATE block of `pem`, in order; InvalidArgument when there is none or one is bad.
Result<std::vector<CertPtr>> ParseCerts(std::string_view pem);
Result<CertPtr> ParseOneCert(std::string_view pem);
Result<KeyPtr> ParseKey(std::string_view pem);
std::string CertToPem(X509* cert);
std::string KeyToPem(EVP_PKEY* key);  // PKCS#8
// The subject or issuer as one line ("CN=Cilium CA").
std::string NameLine(const X509_NAME* name);
// The most recent OpenSSL error as text, and the queue cleared.
std::string OpensslError();

}  // namespace carrierarr::pki::x509

#endif  // CARRIERARR_PKI_X509_INTERNAL_H_
