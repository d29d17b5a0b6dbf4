#include "control_plane/auth.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdlib>

#include "core/strings.h"

namespace carrierarr::control_plane {
namespace {

std::string Hex(const unsigned char* data, size_t n) {
  return HexEncode(std::string_view(reinterpret_cast<const char*>(data), n));
}

std::string RandomHex(size_t bytes) {
  unsigned char buf[32];
  // RAND_bytes only fails when the OS has no entropy source at all; nothing is safe then.
  if (bytes > sizeof buf || RAND_bytes(buf, static_cast<int>(bytes)) != 1) std::abort();
  return Hex(buf, bytes);
}

}  // namespace

std::string NewSecret(std::string_view prefix) { return std::string(prefix) + RandomHex(32); }

std::string NewId(std::string_view prefix) { return std::string(prefix) + RandomHex(6); }

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) != 1) std::abort();
  return Hex(digest, len);
}

std::string_view BearerSecret(std::string_view authorization) {
  constexpr std::string_view kScheme = "Bearer ";
  if (authorization.size() <= kScheme.size()) return {};
  for (size_t i = 0; i < kScheme.size(); ++i) {
    // The scheme is case-insensitive (RFC 7235).
    if (std::tolower(static_cast<unsigned char>(authorization[i])) !=
        std::tolower(static_cast<unsigned char>(kScheme[i])))
      return {};
  }
  std::string_view secret = authorization.substr(kScheme.size());
  while (!secret.empty() && secret.front() == ' ') secret.remove_prefix(1);
  while (!secret.empty() && (secret.back() == ' ' || secret.back() == '\r'))
    secret.remove_suffix(1);
  return secret;
}

}  // namespace carrierarr::control_plane
