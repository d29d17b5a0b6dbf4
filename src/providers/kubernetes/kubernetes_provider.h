// The kubernetes provider: the homelab is a Kubernetes cluster reached through its kubeconfig
// (and the lighthouse may run in it). Every joining cluster node is a homelab mesh member with
// its own certificate; `up` applies the objects of providers/kubernetes/manifests.h with
// server-side apply, one resource per object, and waits for their rollouts. The state file is
// the inventory: `down` deletes exactly what it records. Reference: docs/providers/kubernetes.md.
#ifndef CARRIERARR_PROVIDERS_KUBERNETES_KUBERNETES_PROVIDER_H_
#define CARRIERARR_PROVIDERS_KUBERNETES_KUBERNETES_PROVIDER_H_

#include <memory>
#include <string>

#include "core/seams.h"
#include "providers/provider.h"

namespace carrierarr::spec {
class ProviderRules;
}

namespace carrierarr::kubernetes {

inline constexpr char kName[] = "kubernetes";  // fleet.yaml's `provider: kubernetes`

// Resource kinds it records.
inline constexpr char kObjectKind[] = "kube-object";    // one applied object
inline constexpr char kRolloutKind[] = "kube-rollout";  // a wait for a Deployment/DaemonSet
// Set on every applied object to the digest of what was applied: a rerun that finds it equal
// changes nothing, and adopts an object applied before (by an interrupted `up`).
inline constexpr char kAppliedHashAnnotation[] = "carrierarr.io/applied-hash";

// A name a Kubernetes node may have as a mesh node (the control plane's node ids: at most 63 of
// [a-z0-9._-]).
bool IsMeshNodeName(const std::string& name);

// "kube/<Kind>/<ns>/<name>" ("kube/Namespace/-/carrierarr" for cluster-scoped objects).
std::string ObjectResourceId(const std::string& kind, const std::string& ns,
                             const std::string& name);

std::unique_ptr<providers::Provider> MakeKubernetesProvider(const Seams& seams);
const spec::ProviderRules& KubernetesFleetRules();

}  // namespace carrierarr::kubernetes

#endif  // CARRIERARR_PROVIDERS_KUBERNETES_KUBERNETES_PROVIDER_H_
