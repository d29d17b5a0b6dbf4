// PEM key files, with nebula-cert's exact error messages so the two tools read the same files
// the same way.
#ifndef CARRIERARR_PKI_KEYS_H_
#define CARRIERARR_PKI_KEYS_H_

#include <string>
#include <string_view>

#include "core/status.h"

namespace carrierarr::pki {

// Each returns the raw key bytes from the first PEM block of `pem`.
Result<std::string> ParseEd25519PrivateKeyPem(std::string_view pem);  // 64 bytes
Result<std::string> ParseEd25519PublicKeyPem(std::string_view pem);   // 32 bytes
Result<std::string> ParseX25519PrivateKeyPem(std::string_view pem);   // 32 bytes
Result<std::string> ParseX25519PublicKeyPem(std::string_view pem);    // 32 bytes

std::string Ed25519PrivateKeyToPem(std::string_view key);
std::string Ed25519PublicKeyToPem(std::string_view key);
std::string X25519PrivateKeyToPem(std::string_view key);
std::string X25519PublicKeyToPem(std::string_view key);

}  // namespace carrierarr::pki

#endif  // CARRIERARR_PKI_KEYS_H_
