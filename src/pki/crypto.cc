#include "pki/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

namespace carrierarr::pki {
namespace {

using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

Result<std::string> RawPublicKey(EVP_PKEY* key) {
  std::string pub(kKeyLen, '\0');
  size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(pub.data()), &len) != 1 ||
      len != kKeyLen) {
    return Status::Internal("openssl: cannot read a raw public key");
  }
  return pub;
}

}  // namespace

void InitCrypto() {
  // Not the system's openssl.cnf: Ed25519, X25519 and SHA-256 need no configuration. The
  // digest and cipher tables are kept: X.509 checks look signature digests up there (the
  // ClusterMesh material, and TLS through libcurl when it shares this libcrypto, as in the
  // sanitizer builds: without them every certificate is "ca md too weak").
  OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, nullptr);
}

Result<std::string> RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return Status::Internal("openssl: the random number generator failed");
  }
  return out;
}

std::string Sha256(std::string_view data) {
  std::string out(SHA256_DIGEST_LENGTH, '\0');
  SHA256(Bytes(data), data.size(), reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

std::string Sha256Hex(std::string_view data) { return HexEncode(Sha256(data)); }

Result<std::string> X25519PublicKey(std::string_view private_key) {
  if (private_key.size() != kKeyLen)
    return Status::InvalidArgument("X25519 private key is not 32 bytes");
  PkeyPtr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, Bytes(private_key), kKeyLen),
              &EVP_PKEY_free);
  if (!key) return Status::Internal("openssl: cannot import an X25519 private key");
  return RawPublicKey(key.get());
}

Result<KeyPair> GenerateX25519() {
  auto priv = RandomBytes(kKeyLen);
  if (!priv.ok()) return priv.status();
  auto pub = X25519PublicKey(*priv);
  if (!pub.ok()) return pub.status();
  return KeyPair{std::move(*priv), std::move(*pub)};
}

Result<KeyPair> GenerateEd25519() {
  auto seed = RandomBytes(kKeyLen);
  if (!seed.ok()) return seed.status();
  PkeyPtr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, Bytes(*seed), kKeyLen),
              &EVP_PKEY_free);
  if (!key) return Status::Internal("openssl: cannot create an Ed25519 key");
  auto pub = RawPublicKey(key.get());
  if (!pub.ok()) return pub.status();
  KeyPair pair{*seed + *pub, *pub};
  Cleanse(*seed);
  return pair;
}

void Ed25519Signer::KeyDeleter::operator()(void* key) const {
  EVP_PKEY_free(static_cast<EVP_PKEY*>(key));
}

Result<Ed25519Signer> Ed25519Signer::Create(std::string_view private_key) {
  if (private_key.size() != kEd25519PrivateKeyLen) {
    return Status::InvalidArgument("key was not 64 bytes, is invalid ed25519 private key");
  }
  PkeyPtr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, Bytes(private_key), kKeyLen),
              &EVP_PKEY_free);
  if (!key) return Status::Internal("openssl: cannot import an Ed25519 private key");
  auto pub = RawPublicKey(key.get());
  if (!pub.ok()) return pub.status();
  if (*pub != private_key.substr(kKeyLen)) {
    return Status::InvalidArgument(
        "invalid ed25519 private key: its public half does not match its seed");
  }
  return Ed25519Signer(key.release(), std::move(*pub));
}

Result<std::string> Ed25519Signer::Sign(std::string_view message) const {
  MdCtxPtr ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  std::string sig(kEd25519SignatureLen, '\0');
  size_t len = sig.size();
  if (!ctx ||
      EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr,
                         static_cast<EVP_PKEY*>(key_.get())) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, Bytes(message),
                     message.size()) != 1 ||
      len != kEd25519SignatureLen) {
    return Status::Internal("openssl: Ed25519 signing failed");
  }
  return sig;
}

bool Ed25519Verify(std::string_view public_key, std::string_view message,
                   std::string_view signature) {
  if (public_key.size() != kKeyLen || signature.size() != kEd25519SignatureLen) return false;
  PkeyPtr key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, Bytes(public_key), kKeyLen),
              &EVP_PKEY_free);
  MdCtxPtr ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!key || !ctx) return false;
  return EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), Bytes(signature), signature.size(), Bytes(message),
                          message.size()) == 1;
}

void Cleanse(std::string& secret) {
  if (!secret.empty()) OPENSSL_cleanse(secret.data(), secret.size());
}

}  // namespace carrierarr::pki
