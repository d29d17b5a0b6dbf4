// A set of trusted CA certificates and the verification nebula performs against it.
#ifndef CARRIERARR_PKI_CA_POOL_H_
#define CARRIERARR_PKI_CA_POOL_H_

#include <map>
#include <set>
#include <string>
#include <string_view>

#include "pki/cert.h"

namespace carrierarr::pki {

// The checks of Verify, in the order they run. kNone means the certificate passed.
enum class VerifyCheck {
  kNone = 0,
  kBlocklist,    // 1. not on the blocklist
  kIssuer,       // 2. issuer present
  kKnownCa,      // 3. issuer among the trusted CAs
  kCaValidity,   // 4. the CA itself inside its validity window
  kValidity,     // 5. the certificate inside its validity window
  kSignature,    // 6. the CA's signature over the canonical details
  kConstraints,  // 7. the CA's limits on validity, groups, IPs and subnets
};

struct VerifyResult {
  Status status;  // nebula's exact error message, or OK
  VerifyCheck failed = VerifyCheck::kNone;
  std::string explanation;  // what was compared and how to fix it (empty when OK)
  bool ok() const { return status.ok(); }
};

// Not thread-safe for mutation; concurrent const use (Verify) is safe.
class CaPool {
 public:
  // Adds every CA block of `pem` (as `nebula-cert verify -ca` loads a file). Each must be a CA
  // with a valid self-signature. An expired CA is added but reported with
  // "<name>: certificate is expired", as nebula 1.6 does; callers decide whether that is fatal.
  Status AddCasFromPem(std::string_view pem, TimePoint now);
  // Adds one decoded CA after the same checks.
  Status AddCa(const Certificate& ca, TimePoint now);

  void Blocklist(std::string fingerprint_hex) { blocklist_.insert(std::move(fingerprint_hex)); }

  VerifyResult Verify(const Certificate& cert, TimePoint now) const;

  // nullptr when the fingerprint is not trusted.
  const Certificate* Find(const std::string& fingerprint_hex) const;
  size_t size() const { return cas_.size(); }

 private:
  std::map<std::string, Certificate> cas_;  // by hex fingerprint
  std::set<std::string> blocklist_;
};

// UTC RFC 3339, for explanations ("2026-11-22T03:57:21Z").
std::string FormatUtc(int64_t unix_seconds);

}  // namespace carrierarr::pki

#endif  // CARRIERARR_PKI_CA_POOL_H_
