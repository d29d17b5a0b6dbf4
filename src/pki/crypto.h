// The cryptography Nebula v1 needs, on OpenSSL 3: Ed25519 for CA signatures, X25519 for host
// keys, SHA-256 for fingerprints, and a CSPRNG. Keys are raw bytes held in std::string, in the
// same layout Nebula stores them (an Ed25519 private key is 64 bytes: seed then public key).
#ifndef CARRIERARR_PKI_CRYPTO_H_
#define CARRIERARR_PKI_CRYPTO_H_

#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "core/strings.h"

namespace carrierarr::pki {

inline constexpr size_t kKeyLen = 32;
inline constexpr size_t kEd25519PrivateKeyLen = 64;
inline constexpr size_t kEd25519SignatureLen = 64;

// Initialises OpenSSL with only what carrierarr uses: no cipher and digest name tables and no
// openssl.cnf, which cost a short-lived CLI call half a millisecond. Optional; call once at the
// top of main().
void InitCrypto();

Result<std::string> RandomBytes(size_t n);
std::string Sha256(std::string_view data);     // 32 raw bytes
std::string Sha256Hex(std::string_view data);  // the same in lowercase hex
using carrierarr::HexEncode;  // (core/strings.h) for the callers that name it pki::HexEncode

struct KeyPair {
  std::string private_key;
  std::string public_key;
};

// X25519 host keys: 32 random bytes and their public point (clamping happens inside X25519).
Result<KeyPair> GenerateX25519();
Result<std::string> X25519PublicKey(std::string_view private_key);

// Ed25519 CA keys: private_key is seed||public (64 bytes), as Go and nebula-cert store it.
Result<KeyPair> GenerateEd25519();

// Signs with one Ed25519 key. Holds the parsed OpenSSL key so that signing many certificates does
// not re-import it. Immutable after construction; Sign() is safe to call from several threads.
class Ed25519Signer {
 public:
  // `private_key` is 64 bytes (seed||public); the public half must match the seed.
  static Result<Ed25519Signer> Create(std::string_view private_key);
  Result<std::string> Sign(std::string_view message) const;
  const std::string& public_key() const { return public_key_; }

 private:
  struct KeyDeleter {
    void operator()(void* key) const;
  };
  Ed25519Signer(void* key, std::string public_key)
      : key_(key), public_key_(std::move(public_key)) {}
  std::unique_ptr<void, KeyDeleter> key_;  // an EVP_PKEY*
  std::string public_key_;
};

bool Ed25519Verify(std::string_view public_key, std::string_view message,
                   std::string_view signature);

// Wipes a buffer that held key material, in a way the compiler will not elide.
void Cleanse(std::string& secret);

}  // namespace carrierarr::pki

#endif  // CARRIERARR_PKI_CRYPTO_H_
