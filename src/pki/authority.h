// The in-process certificate authority: what `carrierarr pki` and the fleet engine use to mint
// Nebula CAs and host certificates without running nebula-cert.
//
//   auto ca = pki::CreateCa({.name = "homelab-mesh"}, now);
//   auto authority = pki::CertificateAuthority::Create(ca->cert, ca->private_key);
//   auto host = authority->Sign({.name = "lighthouse", .ip = ip, .groups = {"lighthouse"}}, now);
//   WriteFileAtomic("lighthouse.crt", host->CertPem(), 0600);
#ifndef CARRIERARR_PKI_AUTHORITY_H_
#define CARRIERARR_PKI_AUTHORITY_H_

#include <chrono>
#include <string>
#include <vector>

#include "core/ipv4.h"
#include "core/status.h"
#include "pki/cert.h"
#include "pki/crypto.h"

namespace carrierarr::pki {

// The mask the seeds prescribe for a multi-site mesh; narrower host masks cut nodes off.
inline constexpr int kMeshPrefix = 16;

struct CaOptions {
  std::string name;
  std::chrono::nanoseconds duration = std::chrono::hours(8760);  // nebula-cert's default: a year
  std::vector<std::string> groups;  // limits the groups of hosts it signs (empty: any)
  std::vector<Ipv4Net> ips;         // limits host addresses (empty: any)
  std::vector<Ipv4Net> subnets;     // limits host subnets (empty: any)
};

struct CaMaterial {
  Certificate cert;
  std::string private_key;  // Ed25519, 64 bytes
  std::string CertPem() const { return CertificateToPem(cert); }
  std::string KeyPem() const;
};

// A new self-signed CA valid from `now` for `options.duration`.
Result<CaMaterial> CreateCa(const CaOptions& options, TimePoint now);

struct HostOptions {
  std::string name;
  Ipv4Net ip;  // the host's address with the mesh mask: 10.42.2.1/16
  std::vector<std::string> groups;
  std::vector<Ipv4Net> subnets;
  std::chrono::nanoseconds duration{0};  // 0: until one second before the CA expires
  std::string public_key;                // raw X25519 public key; empty: generate a key pair
};

struct HostMaterial {
  Certificate cert;
  std::string private_key;  // raw X25519; empty when HostOptions::public_key was given
  std::string CertPem() const { return CertificateToPem(cert); }
  std::string KeyPem() const;
};

// A loaded CA key and certificate. Immutable; Sign() may be called from several threads.
class CertificateAuthority {
 public:
  // Checks that `cert` is a valid self-signed CA and that `private_key` belongs to it.
  static Result<CertificateAuthority> Create(Certificate cert, std::string_view private_key);

  // Signs a host certificate. Fails with nebula-cert's messages: "ca certificate is expired",
  // "refusing to sign, root certificate constraints violated: ...".
  Result<HostMaterial> Sign(const HostOptions& options, TimePoint now) const;

  // Advice that does not stop signing: today, a host mask narrower than the mesh (the seeds'
  // /24 trap). One human-readable line per warning.
  std::vector<std::string> Warnings(const HostOptions& options) const;

  const Certificate& cert() const { return cert_; }
  const std::string& fingerprint() const { return fingerprint_hex_; }

 private:
  CertificateAuthority(Certificate cert, Ed25519Signer signer);
  Certificate cert_;
  Ed25519Signer signer_;
  std::string raw_fingerprint_;
  std::string fingerprint_hex_;
};

// Builds, signs and returns a certificate from `details` with no policy check at all. For tests
// that need certificates a careful CA would refuse (expired, outside constraints).
Result<Certificate> SignDetailsUnchecked(CertDetails details, std::string_view ca_private_key);

}  // namespace carrierarr::pki

#endif  // CARRIERARR_PKI_AUTHORITY_H_
