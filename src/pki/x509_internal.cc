#include "pki/x509_internal.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <cstdint>

namespace carrierarr::pki::x509 {
namespace {

using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;

BioPtr ReadBio(std::string_view data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())), &BIO_free);
}

std::string Drain(BIO* bio) {
  char* data = nullptr;
  const int64_t len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

}  // namespace

std::string OpensslError() {
  const uint64_t code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof(buf));
  return buf;
}

Result<std::vector<CertPtr>> ParseCerts(std::string_view pem) {
  BioPtr bio = ReadBio(pem);
  std::vector<CertPtr> certs;
  while (X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) certs.emplace_back(c);
  // The loop ends on "no start line" at the end of the data; anything else is a bad block.
  const uint64_t last = ERR_peek_last_error();
  bool clean_end = ERR_GET_REASON(last) == PEM_R_NO_START_LINE;
  ERR_clear_error();
  if (!clean_end && last != 0) return Status::InvalidArgument("a CERTIFICATE block does not parse");
  if (certs.empty()) return Status::InvalidArgument("no PEM CERTIFICATE block found");
  return certs;
}

Result<CertPtr> ParseOneCert(std::string_view pem) {
  CARRIERARR_ASSIGN_OR_RETURN(auto certs, ParseCerts(pem));
  if (certs.size() != 1) {
    return Status::InvalidArgument("holds " + std::to_string(certs.size()) +
                                   " certificates where one was expected");
  }
  return std::move(certs[0]);
}

Result<KeyPtr> ParseKey(std::string_view pem) {
  BioPtr bio = ReadBio(pem);
  // Any of PKCS#8, PKCS#1 "RSA PRIVATE KEY" and SEC1 "EC PRIVATE KEY" (Cilium's Secrets use all).
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) {
    ERR_clear_error();
    return Status::InvalidArgument("no unencrypted PEM private key found");
  }
  return KeyPtr(key);
}

std::string CertToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()), &BIO_free);
  PEM_write_bio_X509(bio.get(), cert);
  return Drain(bio.get());
}

std::string KeyToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()), &BIO_free);
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  std::string pem = Drain(bio.get());
  // The BIO's buffer held the key too.
  char* data = nullptr;
  const int64_t len = BIO_get_mem_data(bio.get(), &data);
  if (len > 0) OPENSSL_cleanse(data, static_cast<size_t>(len));
  return pem;
}

std::string NameLine(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()), &BIO_free);
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  return Drain(bio.get());
}

}  // namespace carrierarr::pki::x509
