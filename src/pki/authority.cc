#include "pki/authority.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "pki/keys.h"

namespace carrierarr::pki {
namespace {

using std::chrono::duration_cast;
using std::chrono::nanoseconds;
using std::chrono::seconds;

int64_t FloorSeconds(nanoseconds ns) {
  int64_t s = duration_cast<seconds>(ns).count();
  return (ns.count() < 0 && ns != seconds(s)) ? s - 1 : s;
}

constexpr int64_t kNanosPerSecond = 1'000'000'000;

// FloorSeconds(now + d) in 128 bits: int64 nanoseconds end in 2262, but Go's Time.Add does not,
// and a CA made with nebula-cert's largest -duration (2562047h) is valid until 2318.
int64_t FloorSecondsAfter(nanoseconds now, nanoseconds d) {
  __int128 ns = static_cast<__int128>(now.count()) + d.count();
  __int128 s = ns / kNanosPerSecond;
  if (ns % kNanosPerSecond < 0) --s;
  return static_cast<int64_t>(s);
}

// Go's time.Until(unix_seconds): computed without overflow, saturated to the range of a Duration
// as Go's Time.Sub is.
nanoseconds Until(int64_t unix_seconds, nanoseconds now) {
  __int128 ns = static_cast<__int128>(unix_seconds) * kNanosPerSecond - now.count();
  ns = std::clamp<__int128>(ns, std::numeric_limits<int64_t>::min(),
                            std::numeric_limits<int64_t>::max());
  return nanoseconds(static_cast<int64_t>(ns));
}

}  // namespace

std::string CaMaterial::KeyPem() const { return Ed25519PrivateKeyToPem(private_key); }

std::string HostMaterial::KeyPem() const { return X25519PrivateKeyToPem(private_key); }

Result<Certificate> SignDetailsUnchecked(CertDetails details, std::string_view ca_private_key) {
  auto signer = Ed25519Signer::Create(ca_private_key);
  if (!signer.ok()) return signer.status();
  auto sig = signer->Sign(EncodeDetails(details));
  if (!sig.ok()) return sig.status();
  return Certificate{std::move(details), std::move(*sig)};
}

Result<CaMaterial> CreateCa(const CaOptions& options, TimePoint now) {
  if (options.name.empty()) return Status::InvalidArgument("-name is required");
  if (options.duration <= nanoseconds(0)) {
    return Status::InvalidArgument("-duration must be greater than 0");
  }
  auto keys = GenerateEd25519();
  if (!keys.ok()) return keys.status();
  const nanoseconds now_ns = now.time_since_epoch();
  CertDetails d;
  d.name = options.name;
  d.groups = options.groups;
  d.ips = options.ips;
  for (const auto& s : options.subnets) d.subnets.push_back(s.Masked());  // as nebula-cert does
  d.not_before = FloorSeconds(now_ns);
  d.not_after = FloorSecondsAfter(now_ns, options.duration);
  d.public_key = keys->public_key;
  d.is_ca = true;
  auto cert = SignDetailsUnchecked(std::move(d), keys->private_key);
  if (!cert.ok()) return cert.status();
  return CaMaterial{std::move(*cert), std::move(keys->private_key)};
}

CertificateAuthority::CertificateAuthority(Certificate cert, Ed25519Signer signer)
    : cert_(std::move(cert)),
      signer_(std::move(signer)),
      raw_fingerprint_(RawFingerprint(cert_)),
      fingerprint_hex_(HexEncode(raw_fingerprint_)) {}

Result<CertificateAuthority> CertificateAuthority::Create(Certificate cert,
                                                          std::string_view private_key) {
  if (!cert.details.is_ca) {
    return Status::InvalidArgument("refusing to sign, '" + cert.details.name +
                                   "' is not a CA certificate");
  }
  // nebula-cert compares the key's public half with the certificate.
  if (private_key.size() != kEd25519PrivateKeyLen ||
      private_key.substr(kKeyLen) != cert.details.public_key) {
    return Status::InvalidArgument("refusing to sign, root certificate does not match private key");
  }
  auto signer = Ed25519Signer::Create(private_key);
  if (!signer.ok()) return signer.status();
  if (!CheckSignature(cert, signer->public_key())) {
    return Status::InvalidArgument("refusing to sign, '" + cert.details.name +
                                   "' is not a valid self-signed CA certificate");
  }
  return CertificateAuthority(std::move(cert), std::move(*signer));
}

Result<HostMaterial> CertificateAuthority::Sign(const HostOptions& options, TimePoint now) const {
  if (options.name.empty()) return Status::InvalidArgument("-name is required");
  if (IsExpired(cert_, now)) return Status::FailedPrecondition("ca certificate is expired");
  const nanoseconds now_ns = now.time_since_epoch();
  nanoseconds duration = options.duration;
  if (duration <= nanoseconds(0)) {
    duration = Until(cert_.details.not_after, now_ns) - seconds(1);  // CA not expired: no underflow
  }

  HostMaterial host;
  std::string public_key = options.public_key;
  if (public_key.empty()) {
    auto keys = GenerateX25519();
    if (!keys.ok()) return keys.status();
    host.private_key = std::move(keys->private_key);
    public_key = std::move(keys->public_key);
  } else if (public_key.size() != kKeyLen) {
    return Status::InvalidArgument("key was not 32 bytes, is invalid X25519 public key");
  }

  CertDetails& d = host.cert.details;
  d.name = options.name;
  d.ips = {options.ip};
  d.subnets.reserve(options.subnets.size());
  for (const auto& s : options.subnets) d.subnets.push_back(s.Masked());
  d.groups = options.groups;
  d.not_before = FloorSeconds(now_ns);
  d.not_after = FloorSecondsAfter(now_ns, duration);
  d.public_key = std::move(public_key);
  d.issuer = raw_fingerprint_;
  if (Status s = CheckRootConstraints(host.cert, cert_); !s.ok()) {
    return s.WithPrefix("refusing to sign, root certificate constraints violated");
  }
  auto sig = signer_.Sign(EncodeDetails(d));
  if (!sig.ok()) return sig.status();
  host.cert.signature = std::move(*sig);
  return host;
}

std::vector<std::string> CertificateAuthority::Warnings(const HostOptions& options) const {
  std::vector<std::string> out;
  // The mesh is the CA's network that holds the host, or the seeds' /16 when the CA sets none.
  Ipv4Net mesh{options.ip.ip, PrefixToMask(kMeshPrefix)};
  for (const auto& allowed : cert_.details.ips) {
    if (allowed.Contains(options.ip.ip)) mesh = allowed;
  }
  int host_prefix = options.ip.PrefixLength();
  int mesh_prefix = mesh.PrefixLength();
  if (host_prefix > mesh_prefix && mesh_prefix >= 0) {
    Ipv4Net fixed{options.ip.ip, mesh.mask};
    out.push_back("-ip " + options.ip.ToString() + " has a /" + std::to_string(host_prefix) +
                  " mask, narrower than the mesh's /" + std::to_string(mesh_prefix) + " (" +
                  mesh.Masked().ToString() +
                  "): this host will only reach lighthouses and peers in " +
                  options.ip.Masked().ToString() +
                  " (nebula logs \"static_host_map key is not in our subnet\"). Use -ip " +
                  fixed.ToString() + ".");
  }
  return out;
}

}  // namespace carrierarr::pki
