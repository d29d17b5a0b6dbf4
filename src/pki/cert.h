// Nebula certificate v1: the data model, its canonical protobuf encoding, and the checks a
// verifier makes. Wire facts: shared/spec/nebula-cert-v1.md. Everything here is a pure function
// of its inputs (no I/O, no clock): callers pass "now".
#ifndef CARRIERARR_PKI_CERT_H_
#define CARRIERARR_PKI_CERT_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/ipv4.h"
#include "core/status.h"

namespace carrierarr::pki {

using TimePoint = std::chrono::system_clock::time_point;

struct CertDetails {
  std::string name;
  std::vector<Ipv4Net> ips;      // host: its address with the mesh mask; CA: allowed networks
  std::vector<Ipv4Net> subnets;  // routable subnets behind the host; CA: allowed subnets
  std::vector<std::string> groups;
  int64_t not_before = 0;  // Unix seconds
  int64_t not_after = 0;   // Unix seconds
  std::string public_key;  // raw: X25519 (host) or Ed25519 (CA), 32 bytes
  bool is_ca = false;
  std::string issuer;  // raw SHA-256 fingerprint of the signing CA; empty when self-signed

  friend bool operator==(const CertDetails&, const CertDetails&) = default;
};

struct Certificate {
  CertDetails details;
  std::string signature;  // Ed25519 over EncodeDetails(details)

  friend bool operator==(const Certificate&, const Certificate&) = default;
};

// The canonical bytes Nebula signs: fields ascending, packed repeated uint32, zero values omitted.
std::string EncodeDetails(const CertDetails& details);
// RawNebulaCertificate{Details, Signature}, canonical.
std::string EncodeCertificate(const Certificate& cert);
// Decodes any valid proto3 encoding (packed or not, unknown fields skipped). Errors follow
// nebula-cert's wording where it has one ("encoded Details was nil").
Result<Certificate> DecodeCertificate(std::string_view bytes);

// Lowercase hex SHA-256 of the canonical encoding: the fingerprint and the issuer of children.
std::string Fingerprint(const Certificate& cert);
// Raw 32-byte form of Fingerprint, the value stored in a child's Issuer field.
std::string RawFingerprint(const Certificate& cert);

// True when `now` is outside [not_before, not_after].
bool IsExpired(const Certificate& cert, TimePoint now);
// Verifies the signature over the re-encoded details (so non-canonical input never verifies).
bool CheckSignature(const Certificate& cert, std::string_view ca_public_key);
// The limits a CA puts on what it signs: validity inside the CA's, groups, IPs and subnets
// subsets. Messages match nebula's ("certificate contained a group not present on the signing
// ca: X").
Status CheckRootConstraints(const Certificate& cert, const Certificate& signer);

// Decodes the first NEBULA CERTIFICATE block of a PEM text; `rest` gets what follows it.
Result<Certificate> CertificateFromPem(std::string_view pem, std::string_view* rest = nullptr);
std::string CertificateToPem(const Certificate& cert);

// One line of JSON with exactly the fields and formatting of `nebula-cert print -json`.
std::string CertificateToJson(const Certificate& cert);
// The multi-line text of `nebula-cert print`.
std::string CertificateToText(const Certificate& cert);

}  // namespace carrierarr::pki

#endif  // CARRIERARR_PKI_CERT_H_
