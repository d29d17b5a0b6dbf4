// Host aliases on Cilium's own workloads in one cluster, so that the pods reading the ClusterMesh
// Secrets resolve the names those Secrets dial (<cluster>.mesh.cilium.io, which the server
// certificates hold as *.mesh.cilium.io) to the remote cluster's mesh address: the agents'
// DaemonSet `cilium` and the Deployment `clustermesh-apiserver` (its kvstoremesh container).
// `cilium clustermesh connect` does the same through Helm values.
//
// Cilium's objects are never made or deleted here: the resource is a partial server-side apply
// that owns spec.template.spec.hostAliases alone. `down` applies the bare object again, which
// gives the field up (the API server removes a field its only manager drops). Changing the pod
// template rolls the pods once, as a Helm upgrade would.
#ifndef CARRIERARR_FEDERATION_HOST_ALIASES_H_
#define CARRIERARR_FEDERATION_HOST_ALIASES_H_

#include <memory>
#include <string>
#include <vector>

#include "core/seams.h"
#include "federation/federation.h"
#include "kube/client.h"
#include "providers/kubernetes/objects.h"
#include "provision/resource.h"

namespace carrierarr::federation {

// `patch`: apiVersion, kind, metadata.name and .namespace of the workload, and the
// spec.template.spec.hostAliases it must carry. Present when the workload's pod template holds
// every one of them; made by applying `patch` (an error naming how to enable ClusterMesh when
// the workload is not in the cluster).
std::unique_ptr<provision::Resource> MakeHostAliases(
    std::shared_ptr<kubernetes::KubeSession> session, const std::string& side, kube::Object patch,
    std::vector<std::string> deps);

// The host aliases of a pod template ("" when `hostname` has none): what `hostname` resolves to.
std::string HostAliasIp(const kube::Object& workload, const std::string& hostname);

// kHostAliasesKind's deleter: gives the field up (nothing to do when the workload is gone).
provision::Deleter HostAliasesRelease(const Seams& seams);

}  // namespace carrierarr::federation

#endif  // CARRIERARR_FEDERATION_HOST_ALIASES_H_
