// libFuzzer target for everything that reads untrusted Nebula PKI bytes: PEM armour, the
// certificate protobuf, the four key formats and CA pool loading and verification. Malformed
// input must only ever produce an error; on every certificate that does decode, the invariants
// below must hold (round trips, fingerprint shape, sign-then-verify agreement).
//
//   cmake --preset fuzz && cmake --build --preset fuzz
//   build-fuzz/bin/cert_fuzz -dict=tests/fuzz/cert_fuzz.dict corpus_dir/
//
// Everything is deterministic: a fixed CA key and a fixed "now", so any crash reproduces.
#include <openssl/evp.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "pki/authority.h"
#include "pki/ca_pool.h"
#include "pki/cert.h"
#include "pki/crypto.h"
#include "pki/keys.h"
#include "pki/pem.h"

namespace carrierarr::pki {
namespace {

// Abort (so libFuzzer saves the input) with the broken invariant; assert() may be compiled out.
#define FUZZ_CHECK(cond)                                                                \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)

// 2027-12-28T13:20:00Z: inside the fixed CA's window and the checked-in seeds' (10-year CAs).
constexpr int64_t kNowSeconds = 1'830'000'000;
const TimePoint kNow{std::chrono::seconds(kNowSeconds)};

// Caps the expensive (Ed25519) work per input so one big input cannot stall the run.
constexpr size_t kMaxCertsPerInput = 4;

// A CA whose key the fuzzer knows, so that it can sign whatever details it decoded and check
// that our verifier agrees with our signer.
struct Fixture {
  std::string ca_key;  // Ed25519 seed || public, 64 bytes
  Certificate ca;
  std::string ca_raw_fingerprint;
  CaPool pool;  // trusts `ca` only
};

std::string DeterministicEd25519Key() {
  std::string seed(kKeyLen, '\0');
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<char>(0x5a ^ i);
  EVP_PKEY* key = EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(seed.data()), seed.size());
  FUZZ_CHECK(key != nullptr);
  std::string pub(kKeyLen, '\0');
  size_t len = pub.size();
  FUZZ_CHECK(EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(pub.data()), &len) ==
             1);
  EVP_PKEY_free(key);
  return seed + pub;
}

const Fixture& GetFixture() {
  static const Fixture* fixture = [] {
    auto* f = new Fixture;
    f->ca_key = DeterministicEd25519Key();
    CertDetails d;
    d.name = "fuzz-ca";
    d.ips = {{0x0a2a0000, 0xffff0000}};      // 10.42.0.0/16
    d.subnets = {{0xc0a80000, 0xffff0000}};  // 192.168.0.0/16
    d.groups = {"servers", "laptops", "k8s"};
    d.not_before = kNowSeconds - 86400;
    d.not_after = kNowSeconds + 10 * 365 * 86400;
    d.public_key = f->ca_key.substr(kKeyLen);
    d.is_ca = true;
    auto ca = SignDetailsUnchecked(d, f->ca_key);
    FUZZ_CHECK(ca.ok());
    f->ca = *ca;
    f->ca_raw_fingerprint = RawFingerprint(f->ca);
    FUZZ_CHECK(f->pool.AddCa(f->ca, kNow).ok());
    return f;
  }();
  return *fixture;
}

bool IsLowerHex(std::string_view s) {
  return s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// Invariants of any certificate the decoders accepted.
void CheckDecodedCertificate(const Certificate& c) {
  FUZZ_CHECK(c.details.public_key.size() >= kKeyLen);

  // Encoding is canonical and lossless: decode(encode(c)) == c, and encoding is a fixed point.
  const std::string encoded = EncodeCertificate(c);
  auto again = DecodeCertificate(encoded);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(*again == c);
  FUZZ_CHECK(EncodeCertificate(*again) == encoded);

  const std::string fingerprint = Fingerprint(c);
  FUZZ_CHECK(fingerprint.size() == 64 && IsLowerHex(fingerprint));
  FUZZ_CHECK(HexEncode(RawFingerprint(c)) == fingerprint);

  // PEM round trip, with nothing left over.
  std::string_view rest;
  auto from_pem = CertificateFromPem(CertificateToPem(c), &rest);
  FUZZ_CHECK(from_pem.ok());
  FUZZ_CHECK(*from_pem == c);
  FUZZ_CHECK(IsBlank(rest));

  // `print -json` prints one object per line: no raw control characters may leak out.
  const std::string json = CertificateToJson(c);
  FUZZ_CHECK(json.size() > 2 && json.front() == '{' && json.back() == '}');
  FUZZ_CHECK(json.find("\"fingerprint\":\"" + fingerprint + "\"") != std::string::npos);
  for (char ch : json) FUZZ_CHECK(static_cast<unsigned char>(ch) >= 0x20);

  const std::string text = CertificateToText(c);
  FUZZ_CHECK(text.starts_with("NebulaCertificate {\n") && text.ends_with("}"));
  FUZZ_CHECK(text.find("\tFingerprint: " + fingerprint + "\n") != std::string::npos);

  (void)IsExpired(c, kNow);
  (void)CheckSignature(c, c.details.public_key);
  (void)CheckRootConstraints(c, GetFixture().ca);
  (void)CheckRootConstraints(c, c);
}

// Signs the decoded details with the fixture CA: the verifier must then fail exactly where the
// validity window or the CA's constraints say it should, never on the signature.
void CheckSignThenVerify(const Certificate& c) {
  const Fixture& f = GetFixture();
  CertDetails d = c.details;
  d.issuer = f.ca_raw_fingerprint;
  auto signed_cert = SignDetailsUnchecked(d, f.ca_key);
  FUZZ_CHECK(signed_cert.ok());
  VerifyResult r = f.pool.Verify(*signed_cert, kNow);
  Status constraints = CheckRootConstraints(*signed_cert, f.ca);
  if (IsExpired(*signed_cert, kNow)) {
    FUZZ_CHECK(r.failed == VerifyCheck::kValidity);
  } else if (!constraints.ok()) {
    FUZZ_CHECK(r.failed == VerifyCheck::kConstraints);
    FUZZ_CHECK(r.status.message() == constraints.message());
  } else {
    FUZZ_CHECK(r.ok());
    FUZZ_CHECK(r.failed == VerifyCheck::kNone);
  }
}

// Turns the decoded details into a CA we hold the key of, then signs a host with it the way
// `pki sign` does (default duration: until the CA expires). Whatever it signs, Verify accepts.
void CheckAuthority(const Certificate& c) {
  const Fixture& f = GetFixture();
  CertDetails d = c.details;
  d.public_key = f.ca_key.substr(kKeyLen);
  d.is_ca = true;
  d.issuer.clear();
  auto ca = SignDetailsUnchecked(d, f.ca_key);
  FUZZ_CHECK(ca.ok());
  auto authority = CertificateAuthority::Create(*ca, f.ca_key);
  FUZZ_CHECK(authority.ok());

  CaPool pool;
  Status added = pool.AddCa(*ca, kNow);
  FUZZ_CHECK(added.ok() || added.code() == StatusCode::kFailedPrecondition);  // expired

  HostOptions options{.name = "fuzz-host",
                      .ip = d.ips.empty() ? Ipv4Net{0x0a2a0101, 0xffff0000} : d.ips.front()};
  if (!d.groups.empty()) options.groups = {d.groups.front()};
  if (!d.subnets.empty()) options.subnets = {d.subnets.front()};
  options.public_key = std::string(kKeyLen, '\x42');  // no random key: keeps runs reproducible
  (void)authority->Warnings(options);
  auto sign_and_verify = [&] {
    auto host = authority->Sign(options, kNow);
    if (!host.ok()) return;
    FUZZ_CHECK(host->cert.details.issuer == RawFingerprint(*ca));
    FUZZ_CHECK(host->cert.details.not_before == kNowSeconds);
    // A CA that expires at this very second yields a host that is already expired; nebula-cert
    // does the same (NotAfter = CA's NotAfter - 1s).
    if (host->cert.details.not_after < kNowSeconds) return;
    VerifyResult r = pool.Verify(host->cert, kNow);
    if (!r.ok()) {
      std::fprintf(stderr, "signed host does not verify: %s\n", r.status.message().c_str());
    }
    FUZZ_CHECK(r.ok());
  };
  sign_and_verify();  // -duration left out: until one second before the CA expires
  // An explicit -duration, any int64 nanoseconds (the flag parser allows up to ~292 years).
  options.duration = std::chrono::nanoseconds(c.details.not_before);
  if (options.duration > std::chrono::nanoseconds(0)) sign_and_verify();

  // `pki ca -duration D` with the same kind of arbitrary duration.
  auto created =
      CreateCa({.name = "fuzz", .duration = std::chrono::nanoseconds(c.details.not_after)}, kNow);
  if (created.ok()) {
    FUZZ_CHECK(created->cert.details.not_before == kNowSeconds);
    FUZZ_CHECK(created->cert.details.not_after >= kNowSeconds);
    CaPool fresh;
    FUZZ_CHECK(fresh.AddCa(created->cert, kNow).ok());
  }
}

void CheckCertificate(const Certificate& c, size_t& budget) {
  CheckDecodedCertificate(c);
  if (budget == 0) return;
  --budget;
  CheckSignThenVerify(c);
  CheckAuthority(c);
}

// Every PEM block re-encodes to itself (except an empty body under a type with ':', whose END
// line Go's encoding/pem, and so ours, reads as a header).
void CheckPemBlocks(std::string_view input) {
  std::string_view rest = input;
  while (auto block = PemDecode(rest, &rest)) {
    if (block->bytes.empty() && block->type.find(':') != std::string::npos) continue;
    std::string_view again_rest;
    auto again = PemDecode(PemEncode(block->type, block->bytes), &again_rest);
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(again->type == block->type && again->bytes == block->bytes);
    FUZZ_CHECK(IsBlank(again_rest));
  }
}

template <typename Parse, typename ToPem>
void CheckKey(std::string_view input, Parse parse, ToPem to_pem, size_t len) {
  auto key = parse(input);
  if (!key.ok()) return;
  FUZZ_CHECK(key->size() == len);
  auto again = parse(to_pem(*key));
  FUZZ_CHECK(again.ok() && *again == *key);
}

void CheckKeys(std::string_view input) {
  CheckKey(input, ParseEd25519PublicKeyPem, Ed25519PublicKeyToPem, kKeyLen);
  CheckKey(input, ParseX25519PublicKeyPem, X25519PublicKeyToPem, kKeyLen);
  CheckKey(input, ParseEd25519PrivateKeyPem, Ed25519PrivateKeyToPem, kEd25519PrivateKeyLen);
  CheckKey(input, ParseX25519PrivateKeyPem, X25519PrivateKeyToPem, kKeyLen);

  if (auto x = ParseX25519PrivateKeyPem(input); x.ok()) {
    FUZZ_CHECK(X25519PublicKey(*x).ok());  // any 32 bytes are an X25519 private key
  }
  if (auto ed = ParseEd25519PrivateKeyPem(input); ed.ok()) {
    // A key whose halves disagree is refused; one that loads must sign verifiably.
    if (auto signer = Ed25519Signer::Create(*ed); signer.ok()) {
      auto sig = signer->Sign("carrierarr");
      FUZZ_CHECK(sig.ok() && Ed25519Verify(signer->public_key(), "carrierarr", *sig));
    }
  }
}

void FuzzOne(std::string_view input) {
  size_t budget = kMaxCertsPerInput;
  std::vector<Certificate> certs;

  // As `pki print` reads a file: block after block until an error or only whitespace is left.
  std::string_view rest = input;
  for (;;) {
    auto cert = CertificateFromPem(rest, &rest);
    if (!cert.ok()) break;
    CheckCertificate(*cert, budget);
    certs.push_back(std::move(*cert));
    if (IsBlank(rest)) break;
  }

  // The same bytes as a raw RawNebulaCertificate protobuf.
  if (auto raw = DecodeCertificate(input); raw.ok()) {
    CheckCertificate(*raw, budget);
    certs.push_back(std::move(*raw));
  }

  CheckPemBlocks(input);
  CheckKeys(input);
  auto decoded = Base64Decode(Base64Encode(input));
  FUZZ_CHECK(decoded.has_value() && *decoded == input);

  // As `pki verify -ca FILE` loads a CA file, then verifying what we decoded against it and
  // against the fixture's pool.
  CaPool pool;
  (void)pool.AddCasFromPem(input, kNow);
  FUZZ_CHECK(pool.size() <= certs.size());
  pool.Blocklist(std::string(64, '0'));
  for (const auto& c : certs) {
    VerifyResult mine = pool.Verify(c, kNow);
    FUZZ_CHECK(mine.ok() == (mine.failed == VerifyCheck::kNone));
    FUZZ_CHECK(mine.ok() || !mine.explanation.empty());
    VerifyResult fixture = GetFixture().pool.Verify(c, kNow);
    FUZZ_CHECK(fixture.ok() == (fixture.failed == VerifyCheck::kNone));
  }
}

}  // namespace
}  // namespace carrierarr::pki

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  carrierarr::pki::FuzzOne(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
