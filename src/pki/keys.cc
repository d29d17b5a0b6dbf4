#include "pki/keys.h"

#include "pki/crypto.h"
#include "pki/pem.h"

namespace carrierarr::pki {
namespace {

// `what` is how nebula names the key in its messages ("nebula X25519 private key").
Result<std::string> ParseKey(std::string_view pem, std::string_view banner, std::string_view what,
                             size_t len, std::string_view len_error) {
  std::string_view rest;
  auto block = PemDecode(pem, &rest);
  if (!block) return Status::DataLoss("input did not contain a valid PEM encoded block");
  if (block->type != banner) {
    return Status::DataLoss("bytes did not contain a proper " + std::string(what) + " banner");
  }
  if (block->bytes.size() != len) return Status::DataLoss(std::string(len_error));
  return std::move(block->bytes);
}

}  // namespace

Result<std::string> ParseEd25519PrivateKeyPem(std::string_view pem) {
  return ParseKey(pem, kEd25519PrivateKeyBanner, "nebula Ed25519 private key",
                  kEd25519PrivateKeyLen, "key was not 64 bytes, is invalid ed25519 private key");
}

Result<std::string> ParseEd25519PublicKeyPem(std::string_view pem) {
  return ParseKey(pem, kEd25519PublicKeyBanner, "nebula Ed25519 public key", kKeyLen,
                  "key was not 32 bytes, is invalid ed25519 public key");
}

Result<std::string> ParseX25519PrivateKeyPem(std::string_view pem) {
  return ParseKey(pem, kX25519PrivateKeyBanner, "nebula X25519 private key", kKeyLen,
                  "key was not 32 bytes, is invalid X25519 private key");
}

Result<std::string> ParseX25519PublicKeyPem(std::string_view pem) {
  return ParseKey(pem, kX25519PublicKeyBanner, "nebula X25519 public key", kKeyLen,
                  "key was not 32 bytes, is invalid X25519 public key");
}

std::string Ed25519PrivateKeyToPem(std::string_view key) {
  return PemEncode(kEd25519PrivateKeyBanner, key);
}
std::string Ed25519PublicKeyToPem(std::string_view key) {
  return PemEncode(kEd25519PublicKeyBanner, key);
}
std::string X25519PrivateKeyToPem(std::string_view key) {
  return PemEncode(kX25519PrivateKeyBanner, key);
}
std::string X25519PublicKeyToPem(std::string_view key) {
  return PemEncode(kX25519PublicKeyBanner, key);
}

}  // namespace carrierarr::pki
