// What `status` and `doctor` learn about a Kubernetes homelab from its API server: the pods of
// the Nebula DaemonSet, the lighthouse and the control plane, and the checks that say whether
// `up` can work there (reachable, RBAC, Pod Security, certificate masks, pods on every node).
// Pure reads through kube::KubeApi, so tests run them against FakeKube.
#ifndef CARRIERARR_PROVIDERS_KUBERNETES_OBSERVE_H_
#define CARRIERARR_PROVIDERS_KUBERNETES_OBSERVE_H_

#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "kube/client.h"
#include "providers/provider.h"
#include "spec/fleet.h"

namespace carrierarr::kubernetes {

// One pod of a carrierarr workload, as the cluster reports it.
struct PodView {
  std::string workload;  // kNebulaDaemonSet, kLighthouseDeployment or kControlPlaneDeployment
  std::string ns, name;
  std::string node;   // spec.nodeName; "" while unscheduled
  std::string phase;  // Pending, Running, Succeeded, Failed, Unknown
  bool ready = false;
  int restarts = 0;  // summed over its containers
  std::string why;   // when not ready: "ImagePullBackOff: Back-off pulling image ..."
};

struct HomelabView {
  std::vector<PodView> pods;          // by workload, then name
  std::vector<std::string> problems;  // what is wrong beyond one pod (a node with no pod)
};

// Lists the pods of the three workloads (by their app.kubernetes.io/name label, in the fleet's
// namespaces). `selected_nodes`: the Kubernetes nodes that should each run a nebula pod. An
// unreachable or refusing API server is the error (one message that says which server).
Result<HomelabView> ObserveHomelab(kube::KubeApi& api, const spec::FleetSpec& fleet,
                                   const std::vector<std::string>& selected_nodes);

// One observation per Kubernetes node that has (or should have) a nebula pod, keyed by the
// node's name: running when its nebula pod is ready.
std::map<std::string, providers::NodeObservation> ToObservations(const HomelabView& view);

struct KubeDoctorInputs {
  std::vector<std::string> selected_nodes;      // Kubernetes node names that join the mesh
  std::map<std::string, std::string> cert_pem;  // node name -> its Nebula certificate (PEM)
  bool lighthouse_in_cluster = false;           // lighthouse.provider is this provider
};

// A Node's InternalIP (its LAN address), "" when it reports none.
std::string NodeInternalIp(const kube::Object& node);

// Whether the object's (a Pod's, a Node's) status condition Ready is True.
bool IsReady(const kube::Object& object);

// The `doctor` lines for a Kubernetes homelab, in order: "kubernetes API", "RBAC",
// "Pod Security", "mesh mask", "nebula pods", and with a lighthouse in the cluster "lighthouse
// exposure" (where the router's forward must point, and whether the lighthouse is there to
// receive it). When the API does not answer, only the first.
std::vector<providers::DoctorCheck> KubernetesChecks(kube::KubeApi& api,
                                                     const spec::FleetSpec& fleet,
                                                     const KubeDoctorInputs& in);

}  // namespace carrierarr::kubernetes

#endif  // CARRIERARR_PROVIDERS_KUBERNETES_OBSERVE_H_
