// Mesh identity (`carrierarr serve --mesh-identity DIR`). Nebula delivers a packet from a mesh
// address only when it came from the holder of the certificate that carries that address, and a
// TCP connection needs packets both ways, so a connection from mesh address A speaks for the node
// whose certificate carries A. The control plane uses that to bind registrations (a connection
// from A may register only as A's node) and to enrol agents that have no token (the original
// agents send none). Addresses outside the mesh networks (loopback, the underlay, a unix socket)
// never get this.
//
// DIR holds the fleet's CA (ca.crt) and its host certificates (*.crt, as `carrierarr up` writes
// them to <state>/pki): a certificate counts only while the CA's signature, validity and
// constraints check out (pki::CaPool::Verify). The directory is read again when its modification
// time changes, so nodes that `up` adds later are known without a restart.
//
// Thread safety: every method may be called from any thread; mu_ guards the table (a leaf lock).
#ifndef CARRIERARR_CONTROL_PLANE_MESH_IDENTITY_H_
#define CARRIERARR_CONTROL_PLANE_MESH_IDENTITY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/ipv4.h"
#include "core/status.h"
#include "core/thread_annotations.h"
#include "core/time_source.h"

namespace carrierarr::control_plane {

class MeshIdentity {
 public:
  // Reads DIR now; an unreadable directory, a missing or invalid ca.crt, or no valid host
  // certificate at all is an error (serve refuses to start). `clock` must outlive this.
  static Result<std::unique_ptr<MeshIdentity>> Load(std::string dir, const TimeSource& clock);

  // Whether `ip` lies in a mesh network (the networks of the host certificates).
  bool InMesh(uint32_t ip) EXCLUDES(mu_);
  // The node whose certificate carries `ip`; NotFound (saying which address) when none does.
  Result<std::string> NodeOf(uint32_t ip) EXCLUDES(mu_);

  const std::string& dir() const { return dir_; }

 private:
  MeshIdentity(std::string dir, const TimeSource& clock) : dir_(std::move(dir)), clock_(clock) {}
  // Re-reads the directory when its modification time moved. A failed re-read keeps the last
  // good table (and is logged), so a half-written file never locks the fleet out.
  void RefreshLocked() REQUIRES(mu_);
  Status ScanLocked() REQUIRES(mu_);

  const std::string dir_;
  const TimeSource& clock_;
  Mutex mu_;
  int64_t dir_mtime_ns_ GUARDED_BY(mu_) = -1;
  std::map<uint32_t, std::string> node_of_ip_ GUARDED_BY(mu_);
  std::vector<Ipv4Net> networks_ GUARDED_BY(mu_);
};

// The IPv4 address of a gRPC peer URI: "ipv4:10.42.1.5:41000" and the IPv4-mapped
// "ipv6:[::ffff:10.42.1.5]:41000" (also %-escaped); nullopt for unix sockets and real IPv6.
std::optional<uint32_t> PeerIpv4(std::string_view peer);

}  // namespace carrierarr::control_plane

#endif  // CARRIERARR_CONTROL_PLANE_MESH_IDENTITY_H_
