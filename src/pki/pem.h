// PEM armour as Go's encoding/pem reads and writes it. Nebula files are PEM, and decoding must
// accept exactly what nebula-cert accepts (leading junk, blank lines, several blocks in one file).
#ifndef CARRIERARR_PKI_PEM_H_
#define CARRIERARR_PKI_PEM_H_

#include <optional>
#include <string>
#include <string_view>

namespace carrierarr::pki {

// The five banners of Nebula certificate v1 material.
inline constexpr std::string_view kCertBanner = "NEBULA CERTIFICATE";
inline constexpr std::string_view kEd25519PrivateKeyBanner = "NEBULA ED25519 PRIVATE KEY";
inline constexpr std::string_view kEd25519PublicKeyBanner = "NEBULA ED25519 PUBLIC KEY";
inline constexpr std::string_view kX25519PrivateKeyBanner = "NEBULA X25519 PRIVATE KEY";
inline constexpr std::string_view kX25519PublicKeyBanner = "NEBULA X25519 PUBLIC KEY";

struct PemBlock {
  std::string type;
  std::string bytes;  // the decoded body
};

// "-----BEGIN TYPE-----\n", base64 in 64-column lines, "-----END TYPE-----\n".
std::string PemEncode(std::string_view type, std::string_view bytes);

// Finds and decodes the first well-formed block. On success `rest` is what follows it; when no
// block is found the result is empty and `rest` is the whole input (as Go's pem.Decode does).
std::optional<PemBlock> PemDecode(std::string_view data, std::string_view* rest);

// True when only spaces, tabs, CR and LF remain.
bool IsBlank(std::string_view s);

std::string Base64Encode(std::string_view bytes);
// Standard alphabet with padding; CR and LF are ignored. Returns nullopt on malformed input.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace carrierarr::pki

#endif  // CARRIERARR_PKI_PEM_H_
