#include "pki/ca_pool.h"

#include <ctime>

#include "pki/crypto.h"
#include "pki/pem.h"

namespace carrierarr::pki {
namespace {

int64_t UnixSeconds(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::string Window(const CertDetails& d) {
  return "valid from " + FormatUtc(d.not_before) + " until " + FormatUtc(d.not_after);
}

VerifyResult Fail(VerifyCheck check, std::string message, std::string explanation) {
  return {Status::FailedPrecondition(std::move(message)), check, std::move(explanation)};
}

}  // namespace

std::string FormatUtc(int64_t unix_seconds) {
  time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm;
  if (gmtime_r(&t, &tm) == nullptr) return std::to_string(unix_seconds);
  char buf[64];
  size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

Status CaPool::AddCa(const Certificate& ca, TimePoint now) {
  const std::string& name = ca.details.name;
  if (!ca.details.is_ca) return Status::InvalidArgument(name + ": certificate is not a CA");
  if (!CheckSignature(ca, ca.details.public_key)) {
    return Status::InvalidArgument(name + ": certificate is not self-signed");
  }
  cas_[Fingerprint(ca)] = ca;
  if (IsExpired(ca, now)) return Status::FailedPrecondition(name + ": certificate is expired");
  return Status::Ok();
}

Status CaPool::AddCasFromPem(std::string_view pem, TimePoint now) {
  Status expired;
  for (;;) {
    std::string_view rest;
    auto ca = CertificateFromPem(pem, &rest);
    if (!ca.ok()) return ca.status();
    Status s = AddCa(*ca, now);
    if (!s.ok() && s.code() != StatusCode::kFailedPrecondition) return s;
    if (!s.ok() && expired.ok()) expired = s;
    if (IsBlank(rest)) break;
    pem = rest;
  }
  return expired;
}

const Certificate* CaPool::Find(const std::string& fingerprint_hex) const {
  auto it = cas_.find(fingerprint_hex);
  return it == cas_.end() ? nullptr : &it->second;
}

VerifyResult CaPool::Verify(const Certificate& cert, TimePoint now) const {
  const CertDetails& d = cert.details;
  const std::string fingerprint = Fingerprint(cert);
  if (blocklist_.count(fingerprint) != 0) {
    return Fail(VerifyCheck::kBlocklist, "certificate has been blocked",
                "fingerprint " + fingerprint +
                    " is on the blocklist (pki.blocklist); sign a new "
                    "certificate for this host");
  }
  if (d.issuer.empty()) {
    return Fail(VerifyCheck::kIssuer, "no issuer in certificate",
                "'" + d.name + "' has no issuer: it is " +
                    (d.is_ca ? "a CA certificate; pass it with -ca, not -crt"
                             : "self-signed, not signed by a CA"));
  }
  const std::string issuer = HexEncode(d.issuer);
  const Certificate* signer = Find(issuer);
  if (signer == nullptr) {
    std::string trusted;
    for (const auto& [fp, ca] : cas_)
      trusted += (trusted.empty() ? "" : ", ") + ca.details.name + " " + fp;
    return Fail(VerifyCheck::kKnownCa, "could not find ca for the certificate",
                "'" + d.name + "' was issued by CA " + issuer +
                    ", which is not among the trusted " + "CAs (" + trusted +
                    "); pass the CA that signed it with -ca");
  }
  const std::string when = FormatUtc(UnixSeconds(now));
  if (IsExpired(*signer, now)) {
    return Fail(VerifyCheck::kCaValidity, "root certificate is expired",
                "CA '" + signer->details.name + "' is " + Window(signer->details) + "; it is now " +
                    when + ". Create a new CA and re-sign every host");
  }
  if (IsExpired(cert, now)) {
    bool early = d.not_before > UnixSeconds(now);
    return Fail(
        VerifyCheck::kValidity, "certificate is expired",
        "'" + d.name + "' is " + Window(d) + "; it is now " + when + " (" +
            (early ? "not valid yet: check this machine's clock" : "expired: sign a new one") +
            ")");
  }
  if (!CheckSignature(cert, signer->details.public_key)) {
    return Fail(VerifyCheck::kSignature, "certificate signature did not match",
                "the signature of '" + d.name + "' does not verify with the key of CA '" +
                    signer->details.name + "' over the canonical encoding; the certificate was " +
                    "altered, or written by an encoder that is not canonical");
  }
  if (Status s = CheckRootConstraints(cert, *signer); !s.ok()) {
    return {s, VerifyCheck::kConstraints,
            "CA '" + signer->details.name + "' limits what it signs and '" + d.name +
                "' is outside those limits; sign it again within the CA's groups, IPs, subnets " +
                "and lifetime"};
  }
  return {};
}

}  // namespace carrierarr::pki
