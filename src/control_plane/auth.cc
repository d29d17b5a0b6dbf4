#include "control_plane/auth.h"

#include <cstdlib>

#include "core/strings.h"
#include "pki/crypto.h"

namespace carrierarr::control_plane {
namespace {

std::string RandomHex(size_t bytes) {
  auto random = pki::RandomBytes(bytes);
  // The CSPRNG only fails when the OS has no entropy source at all; nothing is safe then.
  if (!random.ok()) std::abort();
  return HexEncode(*random);
}

}  // namespace

std::string NewSecret(std::string_view prefix) { return std::string(prefix) + RandomHex(32); }

std::string NewId(std::string_view prefix) { return std::string(prefix) + RandomHex(6); }

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
