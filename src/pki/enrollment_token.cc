#include "pki/enrollment_token.h"

#include <array>
#include <charconv>

namespace carrierarr::pki {
namespace {

constexpr size_t kNonceBytes = 16;

std::string SignedMessage(std::string_view expires, std::string_view nonce, std::string_view node) {
  std::string m = "carrierarr-enrollment-v1\n";
  m.append(expires).append("\n").append(nonce).append("\n").append(node);
  return m;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Lowercase hex only, as HexEncode writes it: one spelling per token, so one hash per token.
bool HexDecode(std::string_view hex, std::string* out) {
  if (hex.size() % 2 != 0) return false;
  out->clear();
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int high = HexDigit(hex[i]), low = HexDigit(hex[i + 1]);
    if (high < 0 || low < 0) return false;
    out->push_back(static_cast<char>(high * 16 + low));
  }
  return true;
}

}  // namespace

Result<std::string> SignEnrollmentToken(const Ed25519Signer& key, std::string_view node_id,
                                        int64_t expires_unix) {
  if (node_id.empty()) return Status::InvalidArgument("a signed enrollment token needs a node id");
  CARRIERARR_ASSIGN_OR_RETURN(std::string nonce_bytes, RandomBytes(kNonceBytes));
  const std::string nonce = HexEncode(nonce_bytes);
  const std::string expires = std::to_string(expires_unix);
  CARRIERARR_ASSIGN_OR_RETURN(std::string signature,
                              key.Sign(SignedMessage(expires, nonce, node_id)));
  std::string token(kSignedTokenPrefix);
  token.append(expires).append(".").append(nonce).append(".").append(HexEncode(signature));
  token.append(".").append(node_id);
  return token;
}

Result<SignedEnrollment> VerifyEnrollmentToken(std::string_view public_key, std::string_view token,
                                               int64_t now_unix) {
  const Status malformed = Status::InvalidArgument(
      "malformed signed enrollment token: expected cst1.<expires>.<nonce>.<signature>.<node>");
  if (!IsSignedEnrollmentToken(token)) return malformed;
  std::string_view rest = token.substr(kSignedTokenPrefix.size());
  std::array<std::string_view, 3> fields;  // expires, nonce, signature; the rest is the node id
  for (std::string_view& field : fields) {
    const size_t dot = rest.find('.');
    if (dot == std::string_view::npos) return malformed;
    field = rest.substr(0, dot);
    rest.remove_prefix(dot + 1);
  }
  const auto [expires, nonce, signature_hex] = fields;
  int64_t expires_unix = 0;
  auto [end, ec] = std::from_chars(expires.data(), expires.data() + expires.size(), expires_unix);
  std::string nonce_bytes, signature;
  if (ec != std::errc() || end != expires.data() + expires.size() || expires_unix <= 0 ||
      std::to_string(expires_unix) != expires || !HexDecode(nonce, &nonce_bytes) ||
      nonce_bytes.size() != kNonceBytes || !HexDecode(signature_hex, &signature) ||
      signature.size() != kEd25519SignatureLen || rest.empty())
    return malformed;
  if (!Ed25519Verify(public_key, SignedMessage(expires, nonce, rest), signature))
    return Status::Unauthenticated(
        "signed enrollment token does not verify: it was not made with this fleet's enrollment "
        "key");
  if (expires_unix <= now_unix) return Status::PermissionDenied("signed enrollment token expired");
  return SignedEnrollment{.node_id = std::string(rest), .expires_unix = expires_unix};
}

}  // namespace carrierarr::pki
