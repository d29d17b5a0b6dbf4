#include "control_plane/mesh_identity.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "core/file_util.h"
#include "pki/ca_pool.h"
#include "pki/cert.h"

namespace carrierarr::control_plane {
namespace {

// Bounds on what a directory may make us hold: far beyond any fleet.
constexpr size_t kMaxCertificates = 65536;
constexpr uintmax_t kMaxCertificateBytes = uintmax_t{64} << 10;

int64_t ModificationTimeNs(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

}  // namespace

Result<std::unique_ptr<MeshIdentity>> MeshIdentity::Load(std::string dir, const TimeSource& clock) {
  std::unique_ptr<MeshIdentity> identity(new MeshIdentity(std::move(dir), clock));
  MutexLock lock(identity->mu_);
  identity->dir_mtime_ns_ = ModificationTimeNs(identity->dir_);
  if (identity->dir_mtime_ns_ < 0)
    return Status::NotFound("--mesh-identity " + identity->dir_ +
                            ": no such directory (give the fleet's pki directory, "
                            "<state>/pki, holding ca.crt and the host certificates)");
  CARRIERARR_RETURN_IF_ERROR(identity->ScanLocked());
  return identity;
}

Status MeshIdentity::ScanLocked() {
  const std::string where = "--mesh-identity " + dir_;
  auto ca_pem = ReadFile(dir_ + "/ca.crt");
  if (!ca_pem.ok()) return ca_pem.status().WithPrefix(where + ": the fleet's CA");
  const pki::TimePoint now = clock_.SystemNow();
  pki::CaPool cas;
  CARRIERARR_RETURN_IF_ERROR(cas.AddCasFromPem(*ca_pem, now).WithPrefix(where + "/ca.crt"));

  std::map<uint32_t, std::string> node_of_ip;
  std::vector<Ipv4Net> networks;
  std::error_code ec;
  size_t seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::filesystem::path& path = entry.path();
    if (path.extension() != ".crt" || path.filename() == "ca.crt") continue;
    if (++seen > kMaxCertificates) break;
    std::error_code size_ec;
    if (!entry.is_regular_file(size_ec) || entry.file_size(size_ec) > kMaxCertificateBytes)
      continue;
    auto pem = ReadFile(path.string());
    if (!pem.ok()) continue;
    auto cert = pki::CertificateFromPem(*pem);
    // Only what the CA vouches for now: a planted, expired or foreign certificate names nobody.
    if (!cert.ok() || cert->details.is_ca || !cas.Verify(*cert, now).ok()) continue;
    for (const Ipv4Net& net : cert->details.ips) {
      node_of_ip.emplace(net.ip, cert->details.name);
      if (std::none_of(networks.begin(), networks.end(),
                       [&](const Ipv4Net& n) { return n.Masked() == net.Masked(); }))
        networks.push_back(net.Masked());
    }
  }
  if (ec) return Status::PermissionDenied(where + ": cannot list the directory: " + ec.message());
  if (node_of_ip.empty())
    return Status::NotFound(where + ": no host certificate signed by ca.crt in it");
  node_of_ip_ = std::move(node_of_ip);
  networks_ = std::move(networks);
  return Status::Ok();
}

void MeshIdentity::RefreshLocked() {
  const int64_t mtime = ModificationTimeNs(dir_);
  if (mtime == dir_mtime_ns_) return;
  // The new time is taken only when the scan worked, so a failed one is tried again.
  if (ScanLocked().ok()) dir_mtime_ns_ = mtime;
}

bool MeshIdentity::InMesh(uint32_t ip) {
  // Loopback is this host, never a mesh peer, whatever a certificate says.
  if ((ip >> 24) == 127) return false;
  MutexLock lock(mu_);
  RefreshLocked();
  return std::any_of(networks_.begin(), networks_.end(),
                     [ip](const Ipv4Net& n) { return n.Contains(ip); });
}

Result<std::string> MeshIdentity::NodeOf(uint32_t ip) {
  MutexLock lock(mu_);
  RefreshLocked();
  auto it = node_of_ip_.find(ip);
  if (it == node_of_ip_.end())
    return Status::NotFound("no certificate in " + dir_ + " carries mesh address " +
                            FormatIpv4(ip));
  return it->second;
}

std::optional<uint32_t> PeerIpv4(std::string_view peer) {
  std::string_view host;
  if (peer.starts_with("ipv4:")) {
    host = peer.substr(5);
    host = host.substr(0, host.rfind(':'));
  } else if (peer.starts_with("ipv6:")) {
    host = peer.substr(5);
    // "[::ffff:10.42.1.5]:41000", the brackets possibly %-escaped by gRPC.
    for (std::string_view open : {"[", "%5B", "%5b"})
      if (host.starts_with(open)) host.remove_prefix(open.size());
    size_t end = host.find_first_of("]%");
    if (end == std::string_view::npos) return std::nullopt;
    host = host.substr(0, end);
    constexpr std::string_view kMapped = "::ffff:";
    if (!host.starts_with(kMapped)) return std::nullopt;
    host.remove_prefix(kMapped.size());
  } else {
    return std::nullopt;
  }
  auto ip = ParseIpv4(host);
  if (!ip.ok()) return std::nullopt;
  return *ip;
}

}  // namespace carrierarr::control_plane
