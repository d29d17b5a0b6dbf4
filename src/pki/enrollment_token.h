// Fleet-signed enrollment tokens: what `carrierarr up` hands each agent it starts or launches,
// made in-process with the fleet's enrollment key instead of asking the running control plane.
// The control plane holds only the public key, verifies a token offline and records its hash on
// first use, so each token enrolls exactly one node, once, before it expires.
//
//   cst1.<expires unix seconds>.<nonce: 32 hex>.<Ed25519 signature: 128 hex>.<node id>
//
// The signature covers "carrierarr-enrollment-v1\n<expires>\n<nonce>\n<node id>". The node id comes
// last because it may contain dots. Stateless and thread-safe.
#ifndef CARRIERARR_PKI_ENROLLMENT_TOKEN_H_
#define CARRIERARR_PKI_ENROLLMENT_TOKEN_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"
#include "pki/crypto.h"

namespace carrierarr::pki {

inline constexpr std::string_view kSignedTokenPrefix = "cst1.";

// What a verified token says.
struct SignedEnrollment {
  std::string node_id;
  int64_t expires_unix = 0;
};

// A new token for `node_id`, valid until `expires_unix`, signed with `key`.
Result<std::string> SignEnrollmentToken(const Ed25519Signer& key, std::string_view node_id,
                                        int64_t expires_unix);

// Whether `token` is in the signed format at all (then only VerifyEnrollmentToken decides).
inline bool IsSignedEnrollmentToken(std::string_view token) {
  return token.starts_with(kSignedTokenPrefix);
}

// Checks `token` against the 32-byte Ed25519 `public_key` at `now_unix`. InvalidArgument when it
// is malformed, Unauthenticated when the signature does not verify, PermissionDenied when it has
// expired.
Result<SignedEnrollment> VerifyEnrollmentToken(std::string_view public_key, std::string_view token,
                                               int64_t now_unix);

}  // namespace carrierarr::pki

#endif  // CARRIERARR_PKI_ENROLLMENT_TOKEN_H_
