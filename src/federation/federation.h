// What `up` keeps true for fleet.yaml's `federation`: one resource per object of the Liqo
// peering (federation/liqo.h) or of ClusterMesh (federation/clustermesh_objects.h) in either
// cluster, applied with server-side apply and found again by its applied-hash annotation, so an
// object deleted by hand is made again by the next `up` and `down` removes exactly what was made.
// The homelab cluster is reached as the kubernetes provider reaches it; the cloud cluster through
// federation.cloud_kubeconfig (default: where `carrierarr kubeconfig` stores the k3s one).
#ifndef CARRIERARR_FEDERATION_FEDERATION_H_
#define CARRIERARR_FEDERATION_FEDERATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/seams.h"
#include "core/status.h"
#include "providers/provider.h"
#include "provision/resource.h"
#include "spec/fleet.h"

namespace carrierarr::federation {

// The kind of every applied federation object (its own, so --skip-peering leaves them alone),
// and of the waits (the Liqo virtual node), which have nothing to undo.
inline constexpr char kObjectKind[] = "federation-object";
inline constexpr char kWaitKind[] = "federation-wait";
// The peering made by the user's liqoctl (federation.liqo.use_liqoctl); `down` runs its unpeer.
inline constexpr char kLiqoctlKind[] = "federation-liqoctl";
// Host aliases on Cilium's workloads, for the names ClusterMesh dials (federation/host_aliases.h).
inline constexpr char kHostAliasesKind[] = "federation-host-aliases";
// Every kind above, which --skip-peering leaves alone.
inline constexpr const char* kKinds[] = {kObjectKind, kWaitKind, kLiqoctlKind, kHostAliasesKind};

struct FederationRequest {
  const spec::FleetSpec& fleet;
  std::string fleet_dir;  // relative kubeconfig paths are from here
  std::string state_dir;  // <fleet dir>/.carrierarr
  // Mesh addresses where each cluster's nodes are reached (ClusterMesh's certificates and
  // forwarders), and the resources that run the cloud nodes (cloud-side objects depend on
  // them, so `down` removes those objects while the cluster is still there).
  std::vector<std::string> homelab_mesh_ips;
  std::vector<std::string> cloud_mesh_ips;
  std::vector<std::string> cloud_node_ids;
  Seams seams;
};

struct FederationPlan {
  provision::ResourceList resources;
  // Why part of the federation is not in the plan (the cloud cluster's kubeconfig is missing),
  // with what to do; `plan` and `up` print them.
  std::vector<std::string> notes;
  // The recorded federation objects must stay as they are: the plan could not reach a cluster
  // to say what they should be (not to be read as "no longer in fleet.yaml").
  bool hold_recorded = false;
};

// Reads both clusters (where Liqo lives, its version, the ClusterMesh CAs) and returns what `up`
// applies. A Liqo version mismatch, Liqo or Cilium missing, an offloaded namespace that does not
// exist: errors that say what to do. federation.mode none or direct: nothing.
Result<FederationPlan> PlanFederation(const FederationRequest& request);

// The cloud cluster's kubeconfig: federation.cloud_kubeconfig (relative to fleet_dir), else
// ops' CloudKubeconfigPath(state_dir).
std::string CloudKubeconfig(const spec::FleetSpec& fleet, const std::string& fleet_dir,
                            const std::string& state_dir);

// What `status` shows of the federation: one line per thing that must hold, read from both
// clusters (Liqo: the virtual node and each offloaded namespace's NamespaceOffloading;
// ClusterMesh: every object `up` applies, and the forwarders' rollouts).
struct FederationItem {
  std::string what;  // "virtual node liqo-aws-k3s", "namespace ai"
  bool ok = false;
  std::string detail;  // "Ready; cpu 8, memory 32Gi, nvidia.com/gpu 1"
};
// ClusterMesh: what one cluster's Cilium agents have of the other (the seeds' sync table), from
// their metrics through the API server's pod proxy; the identities are the other cluster's
// CiliumIdentities (what it exports: the agents report no synced count).
struct MeshSync {
  std::string local, remote;  // cluster names: `remote` as synced into `local`
  int agents = 0;             // agents read (at most kMaxAgentsRead)
  int agents_connected = 0;   // of those, connected to `remote`
  int agents_total = 0;       // agent pods in the cluster
  int64_t clusters_connected = -1, clusters_total = -1;  // per agent: the fewest, the most
  int64_t nodes = -1, endpoints = -1, identities = -1;   // -1: unknown
  std::string problem;                                   // why something is unknown, with the fix
  bool ok() const { return agents > 0 && agents_connected == agents && problem.empty(); }
};
inline constexpr int kMaxAgentsRead = 32;

struct FederationView {
  std::string mode;     // "liqo", "clustermesh"; "" = none
  std::string waiting;  // why nothing more could be read, with what to do
  std::vector<FederationItem> items;
  std::vector<MeshSync> sync;  // clustermesh: one per direction
};
FederationView ObserveFederation(const FederationRequest& request);

// What `doctor` checks of the federation, read from both clusters, each failure with its fix:
// Liqo (where it is installed on each side, its versions and cluster ids, tolerations of the
// virtual node's taint with the wrong effect, Pending pods made before their namespace's
// NamespaceOffloading), ClusterMesh (Cilium's cluster names and ids, the clustermesh-apiserver
// NodePorts, every remote endpoint a mesh address, every certificate verified as its peer will),
// and for both: nodes NotReady without a CNI, overlapping pod CIDRs. Nothing for mode none or
// direct.
std::vector<providers::DoctorCheck> FederationChecks(const FederationRequest& request);

// mode direct, from fleet.yaml alone: cloud pools as Talos control-plane nodes (etcd members
// across the WAN) fail unless forced, and are warned about when forced.
std::vector<providers::DoctorCheck> DirectMembershipChecks(const spec::FleetSpec& fleet);

// The deleters of kKinds: kObjectKind deleted from its cluster (the ClusterTarget in its attrs),
// kLiqoctlKind unpeered, kHostAliasesKind's field given up; kWaitKind has nothing to undo.
void RegisterKinds(provision::KindRegistry& kinds, const Seams& seams);

}  // namespace carrierarr::federation

#endif  // CARRIERARR_FEDERATION_FEDERATION_H_
