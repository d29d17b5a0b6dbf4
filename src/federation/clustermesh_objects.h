// Cilium ClusterMesh between the homelab and the cloud cluster over the mesh: what each cluster
// needs to reach the other's clustermesh-apiserver. Facts: ../shared/spec/kubernetes.md
// ("Cilium ClusterMesh over Nebula"):
// - Secrets `cilium-clustermesh` (agents) and `cilium-kvstoremesh` (KVStoreMesh) in Cilium's
//   namespace, one data key per remote cluster, named after it, holding an etcd client config
//   (`endpoints:`, `trusted-ca-file`, `cert-file`, `key-file` under /var/lib/cilium/clustermesh/)
//   and the files it names: <cluster>.etcd-client-ca.crt, .etcd-client.crt, .etcd-client.key;
// - each cluster's clustermesh-apiserver serves etcd with the Secret
//   `clustermesh-apiserver-server-cert` (tls.crt, tls.key, ca.crt), signed by the cluster's
//   `cilium-ca` (ca.crt, ca.key), and trusts that CA for clients;
// - each remote cluster is dialed by name, <cluster>.mesh.cilium.io (the server certificates
//   hold *.mesh.cilium.io), which host aliases on the pods that read the Secrets resolve to its
//   mesh address (federation/host_aliases.h);
// - over Nebula a socat DaemonSet (hostNetwork) on every node of a cluster listens on the other
//   cluster's clustermesh port and forwards to its mesh address, because eBPF does not see the
//   tun; the two ports must differ, or a cluster's agents reach their own apiserver.
// Each cluster's certificates come from its own `cilium-ca` (Cilium must be installed on both
// sides): the server certificate lists every mesh address it is reached on, the client
// certificate the other side presents has CN `remote` and clientAuth. What is already in the
// clusters is reused while it still verifies (so a rerun of `up` changes nothing); anything else
// is issued again. Every certificate is verified (pki::VerifyTlsPair) before it is handed out.
#ifndef CARRIERARR_FEDERATION_CLUSTERMESH_OBJECTS_H_
#define CARRIERARR_FEDERATION_CLUSTERMESH_OBJECTS_H_

#include <string>
#include <vector>

#include "core/status.h"
#include "kube/client.h"
#include "pki/clustermesh.h"
#include "spec/fleet.h"

namespace carrierarr::federation {

inline constexpr char kClusterMeshSecret[] = "cilium-clustermesh";
inline constexpr char kKvstoreMeshSecret[] = "cilium-kvstoremesh";
inline constexpr char kServerCertSecret[] = "clustermesh-apiserver-server-cert";
inline constexpr char kCiliumCaSecret[] = "cilium-ca";
inline constexpr char kClusterMeshDir[] = "/var/lib/cilium/clustermesh/";
// Cilium's workloads whose pods read the Secrets: the agents (cilium-clustermesh) and
// KVStoreMesh, a container of the clustermesh-apiserver (cilium-kvstoremesh).
inline constexpr char kAgentDaemonSet[] = "cilium";
inline constexpr char kApiserverDeployment[] = "clustermesh-apiserver";

struct ClusterMeshInputs {
  std::string fleet;  // the carrierarr.io/fleet label
  spec::ClusterMeshSpec settings;
  spec::ClusterName homelab, cloud;
  // Where each cluster's clustermesh-apiserver is reached over the mesh (its nodes' mesh
  // addresses; the first is the one the other side dials).
  std::vector<std::string> homelab_mesh_ips;
  std::vector<std::string> cloud_mesh_ips;
};

struct ClusterMeshObjects {
  std::vector<kube::Object> homelab, cloud;  // in apply order
};

// Names, ids and ports by Cilium's rules; two different clusters; two different ports; a mesh
// address for each side.
Status CheckClusterMeshInputs(const ClusterMeshInputs& in);

// The objects `up` applies on each side, their certificates left out: what names them.
ClusterMeshObjects ClusterMeshPlanned(const ClusterMeshInputs& in);

// The same with their material, from what both clusters hold now (see above). Errors: Cilium's
// CA missing in a cluster (how to install it), a certificate that does not verify (its cause).
Result<ClusterMeshObjects> RenderClusterMesh(kube::KubeApi& homelab, kube::KubeApi& cloud,
                                             const ClusterMeshInputs& in, pki::TimePoint now);

// Per side, the host aliases its Cilium workloads need (partial objects: see
// federation/host_aliases.h): the peer's name to the peer's mesh address.
ClusterMeshObjects HostAliasPatches(const ClusterMeshInputs& in);

// The name the Secrets dial `cluster` by: "<cluster>.mesh.cilium.io".
std::string MeshHostName(const std::string& cluster);

// A Secret's data[key], decoded; "" when it has none or it is not base64.
std::string DataOf(const kube::Object& secret, const std::string& key);

// The etcd client config of one remote cluster, as the Secrets carry it under its name: dialed
// at https://<host>:<port> (host: MeshHostName(remote)).
std::string EtcdClientConfig(const std::string& remote, const std::string& host, uint16_t port);

}  // namespace carrierarr::federation

#endif  // CARRIERARR_FEDERATION_CLUSTERMESH_OBJECTS_H_
