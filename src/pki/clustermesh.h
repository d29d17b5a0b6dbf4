// X.509 material for Cilium ClusterMesh over Nebula: a CA (new, or the cluster's existing
// `cilium-ca`), the clustermesh-apiserver's etcd server certificate, the client certificate
// remote clusters present to it (CN `remote`), and the combined CA bundle that lets two
// clusters with different CAs trust each other. VerifyTlsPair() is the check `doctor` can run
// on material read back from a cluster: it names the real cause of Go's
// `crypto/rsa: verification error` (another CA, or a key of another certificate).
#ifndef CARRIERARR_PKI_CLUSTERMESH_H_
#define CARRIERARR_PKI_CLUSTERMESH_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace carrierarr::pki {

using TimePoint = std::chrono::system_clock::time_point;

// Cilium's rules for a cluster name: at most 32 characters of `^([a-z0-9][-a-z0-9]*)?[a-z0-9]$`
// (it names a data key of the `cilium-clustermesh` Secret), and for a cluster id: 1-255.
Status CheckClusterMeshName(std::string_view name);
Status CheckClusterMeshId(int64_t id);

enum class MeshKeyType { kRsa, kEcdsa };
// RSA 2048: the size Helm's genCA and the seeds' Cilium CA use, and what every Cilium and etcd
// version accepts; 3072 would only slow each clustermesh reconnect's handshake. ECDSA is P-256.
inline constexpr int kMeshRsaBits = 2048;

// Which subject CN the server certificate carries; both names are in its SANs either way.
enum class ServerCnStyle {
  kService,   // clustermesh-apiserver.<namespace>.svc (the newest charts)
  kCiliumIo,  // clustermesh-apiserver.cilium.io (older charts)
};

struct PemPair {
  std::string cert_pem;
  std::string key_pem;  // a secret: PKCS#8 PEM
};

struct NamedPem {
  std::string name;  // where it came from, for messages (a file name)
  std::string pem;
};

struct ClusterMeshOptions {
  std::string cluster;             // CheckClusterMeshName
  std::string ns = "kube-system";  // for the CN clustermesh-apiserver.<ns>.svc
  ServerCnStyle server_cn = ServerCnStyle::kService;
  std::vector<std::string> mesh_ips;  // IPv4 or IPv6 text; every address clients dial
  MeshKeyType key_type = MeshKeyType::kRsa;
  std::optional<PemPair> ca;          // an existing CA to sign with; a new RSA CA otherwise
  std::vector<NamedPem> trusted_cas;  // other clusters' CA certificates (1+ per file)
  std::chrono::seconds ca_validity = std::chrono::hours(3 * 8760);
  std::chrono::seconds validity = std::chrono::hours(8760);  // server and client; <= the CA's
};

struct ClusterMeshMaterial {
  bool ca_created = false;
  PemPair ca;  // key_pem is empty when the CA was given (nothing of it is written back)
  PemPair server;
  PemPair client;
  std::string ca_bundle_pem;  // own CA first, then each trusted CA once
};

// The DNS names and IP addresses the server certificate must list (in that order).
std::vector<std::string> ServerDnsNames(const ClusterMeshOptions& options);
std::vector<std::string> ServerIpAddresses(const ClusterMeshOptions& options);

// Makes (or loads) the CA and signs the server and client certificates. Does not verify: call
// VerifyClusterMeshMaterial before writing anything.
Result<ClusterMeshMaterial> CreateClusterMeshMaterial(const ClusterMeshOptions& options,
                                                      TimePoint now);

enum class TlsRole { kServer, kClient };

// One certificate as a TLS peer will judge it. The names are the files' names, for messages.
struct TlsPair {
  TlsRole role = TlsRole::kServer;
  std::string cert_name, cert_pem;
  std::string key_name, key_pem;          // key_pem empty: the key is not checked
  std::string bundle_name, bundle_pem;    // the CAs the peer trusts
  std::vector<std::string> ip_addresses;  // a server must list each in its SANs
  std::vector<std::string> host_names;    // ... and be valid for each of these names
};

// Checks that the certificate chains to a CA of the bundle (a signature by a CA of the same
// name that fails is reported as such), is within its validity window, has the extended key
// usage its role needs, lists the IP addresses, is valid for the host names, and that the key is
// the certificate's own. FailedPrecondition with the cause on the first failed check.
Status VerifyTlsPair(const TlsPair& pair, TimePoint now);

// VerifyTlsPair on the server and client of `material`, against its own bundle, with the file
// names the CLI writes (server.crt, server.key, client.crt, client.key, ca-bundle.crt).
Status VerifyClusterMeshMaterial(const ClusterMeshMaterial& material,
                                 const ClusterMeshOptions& options, TimePoint now);

}  // namespace carrierarr::pki

#endif  // CARRIERARR_PKI_CLUSTERMESH_H_
