// Secrets of the control plane: enrollment tokens, node credentials and the admin token. Only
// their SHA-256 (pki::Sha256Hex) is ever stored; comparisons go through the hash, so a stored value
// never unlocks anything by itself.
#ifndef CARRIERARR_CONTROL_PLANE_AUTH_H_
#define CARRIERARR_CONTROL_PLANE_AUTH_H_

#include <string>
#include <string_view>

namespace carrierarr::control_plane {

// prefix + 64 hex characters from 32 random bytes (OpenSSL's CSPRNG). Prefixes make a leaked
// secret recognisable: "cet_" enrollment token, "cnc_" node credential, "cat_" admin token.
std::string NewSecret(std::string_view prefix);
// A short public id: prefix + 12 hex characters.
std::string NewId(std::string_view prefix);
// The secret of an "authorization: Bearer <secret>" value; empty when it is not one.
std::string_view BearerSecret(std::string_view authorization);

// Who is calling, as the transport saw it.
struct Caller {
  std::string secret;  // the bearer secret; empty when none was sent
  std::string peer;    // gRPC's peer URI ("ipv4:10.42.1.5:41000", "unix:..."); may be empty
};

}  // namespace carrierarr::control_plane

#endif  // CARRIERARR_CONTROL_PLANE_AUTH_H_
