// Liqo peering over the mesh, as Liqo (>= 1.0) documents "declarative peering" with its own network
// disabled (Nebula carries the traffic, the seeds' `liqoctl peer --networking-disabled`). The
// homelab is the consumer (its pods are offloaded), the cloud cluster the provider.
//
// Facts relied on, read in liqotech/liqo (docs/advanced/peering/peering-via-cr.md,
// pkg/consts/{clusterid,labels,namespace_mapping,authentication}.go,
// pkg/utils/getters/k8sGetters.go GetLiqoVersion, the liqo-crds chart's CRDs):
// - a cluster's id is the `CLUSTER_ID` key of the ConfigMap labelled
//   app.kubernetes.io/name=clusterid-configmap (named liqo-clusterid-configmap) in Liqo's
//   namespace; Liqo's version is the image tag of the `controller-manager` container of the
//   Deployment labelled app.kubernetes.io/name=controller-manager,
//   app.kubernetes.io/component=controller-manager there (what `liqoctl version` prints);
// - per peering a tenant namespace on each side labelled liqo.io/remote-cluster-id=<peer> and
//   liqo.io/tenant-namespace="true"; on the provider a RoleBinding to ClusterRole
//   liqo-remote-controlplane for the consumer's credentials and a Tenant (spec.clusterID,
//   authzPolicy TolerateNoHandshake, tenantCondition Active); on the consumer a Secret labelled
//   liqo.io/identity-type=ControlPlane, liqo.io/remote-cluster-id=<provider>, annotated
//   liqo.io/remote-tenant-namespace=<provider's tenant namespace>, data `kubeconfig`; a
//   ResourceSlice annotated liqo.io/create-virtual-node="true", labelled
//   liqo.io/remote-cluster-id, liqo.io/remoteID and liqo.io/replication="true";
// - NamespaceOffloading `offloading` in each offloaded namespace, before any pod of it;
// - Liqo's virtual node is a Node labelled liqo.io/type=virtual-node and
//   liqo.io/remote-cluster-id=<provider>.
// The consumer's credentials are a ServiceAccount in the provider's tenant namespace and its
// token Secret (kubernetes.io/service-account-token), bound as above: nothing of the operator's
// own kubeconfig is handed to Liqo.
#ifndef CARRIERARR_FEDERATION_LIQO_H_
#define CARRIERARR_FEDERATION_LIQO_H_

#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "kube/client.h"
#include "spec/fleet.h"

namespace carrierarr::federation {

// Where Liqo is installed in one cluster, read from the cluster (never assumed).
struct LiqoInstall {
  std::string ns;
  std::string cluster_id;
  std::string version;  // "v1.0.1"
};

// Finds Liqo's clusterid ConfigMap in any namespace and the controller manager's version there.
// `configured_ns` is fleet.yaml's (federation.liqo.namespace or remote_namespace; "" = wherever it
// is); `side` ("homelab", "cloud") names the cluster in messages. Errors say what was looked for
// and the fix: Liqo not installed; installed in another namespace than fleet.yaml says (the
// seeds' `configmaps 'configmaps' not found`); installed twice; no version.
Result<LiqoInstall> DiscoverLiqo(kube::KubeApi& api, const std::string& configured_ns,
                                 const std::string& side);

// The two installs must run the same major.minor release (Liqo's peering protocol changes
// between minors); a mismatch names both versions and clusters.
Status CheckLiqoVersions(const LiqoInstall& homelab, const LiqoInstall& cloud);

// fleet.yaml's federation.liqo.resources with the defaults for what it leaves out: cpu 8,
// memory 32Gi, pods 110, and nvidia.com/gpu = the fleet's GPU workers (when it has any).
std::map<std::string, std::string> LiqoResources(const spec::FleetSpec& fleet);

struct LiqoPeering {
  std::string fleet;     // the carrierarr.io/fleet label
  LiqoInstall consumer;  // the homelab
  LiqoInstall provider;  // the cloud cluster
  std::vector<spec::OffloadedNamespace> offload;
  std::map<std::string, std::string> resources;
};

struct LiqoObjects {
  std::vector<kube::Object> provider;  // to the cloud cluster, in apply order
  std::vector<kube::Object> consumer;  // to the homelab, in apply order (no identity Secret)
};

// Every object of the peering but the consumer's identity Secret (RenderIdentitySecret), pure and
// deterministic: the same peering renders the same JSON.
LiqoObjects RenderLiqoPeering(const LiqoPeering& peering);

// The tenant namespaces: liqo-tenant-<peer id> on each side.
std::string ConsumerTenantNamespace(const LiqoPeering& peering);
std::string ProviderTenantNamespace(const LiqoPeering& peering);

// The provider's ServiceAccount for the consumer, and the Secret its token is written to.
kube::ObjectRef ProviderServiceAccountRef(const LiqoPeering& peering);
kube::ObjectRef ProviderTokenSecretRef(const LiqoPeering& peering);
// The label selector of Liqo's virtual node for the provider cluster `provider_cluster_id`.
std::string VirtualNodeSelector(const std::string& provider_cluster_id);

// The consumer's ResourceSlice (what makes Liqo create the virtual node).
kube::ObjectRef ResourceSliceRef(const LiqoPeering& peering);

// The consumer's identity Secret: a kubeconfig for the provider's API at `server` (its mesh
// address), trusting `ca_pem`, with the ServiceAccount token of `token_secret` (its data.token,
// base64 as the API returns it). FailedPrecondition (never quoting the token) while the token is
// not filled in.
Result<kube::Object> RenderIdentitySecret(const LiqoPeering& peering, const std::string& server,
                                          const std::string& ca_pem,
                                          const kube::Object& token_secret);

// federation.liqo.use_liqoctl: the peering made by the user's liqoctl instead of through the API
// (its flags as liqotech/liqo's cmd/liqoctl/cmd/{peer,unpeer}.go declare them): both clusters'
// kubeconfigs and contexts, the Liqo namespaces found on each side, Liqo's own network off
// (Nebula carries the traffic), and the virtual node's resources.
struct LiqoctlTarget {
  std::string liqoctl;              // its path
  std::string kubeconfig, context;  // the homelab ("" = liqoctl's defaults)
  std::string remote_kubeconfig;    // the cloud cluster
  std::string ns, remote_ns;        // where Liqo is on each side
};
std::vector<std::string> LiqoctlPeerArgv(const LiqoctlTarget& target,
                                         const std::map<std::string, std::string>& resources);
std::vector<std::string> LiqoctlUnpeerArgv(const LiqoctlTarget& target);

// `carrierarr render workload`: an example GPU inference server (Ollama, its API on 11434)
// offloaded to the cloud: a Deployment in `ns` (an offloaded namespace) selecting Liqo's virtual
// node and tolerating its taint virtual-node.liqo.io/not-allowed with effect NoExecute (with
// NoSchedule it stays Pending), asking for `gpus` nvidia.com/gpu, and its ClusterIP Service.
struct WorkloadOptions {
  std::string ns;
  int gpus = 1;
  std::string image = "docker.io/ollama/ollama:0.5.4";
};
std::vector<kube::Object> RenderOffloadedWorkload(const WorkloadOptions& options);

}  // namespace carrierarr::federation

#endif  // CARRIERARR_FEDERATION_LIQO_H_
