// Internal to src/federation: how planning and `status` reach the two clusters, and what they
// both derive from a FederationRequest.
#ifndef CARRIERARR_FEDERATION_CLUSTERS_H_
#define CARRIERARR_FEDERATION_CLUSTERS_H_

#include <memory>
#include <string>

#include "federation/clustermesh_objects.h"
#include "federation/federation.h"
#include "providers/kubernetes/objects.h"

namespace carrierarr::federation {

inline constexpr char kHomelab[] = "homelab";
inline constexpr char kCloud[] = "cloud";

struct Cluster {
  std::string side;  // kHomelab or kCloud
  std::shared_ptr<kubernetes::KubeSession> session;
};

struct Clusters {
  Cluster homelab, cloud;
};

// The homelab as the kubernetes provider reaches it; the cloud cluster by CloudKubeconfig().
Clusters SessionsFor(const FederationRequest& request);

// ClusterMesh's inputs from fleet.yaml and the request's mesh addresses.
ClusterMeshInputs ClusterMeshInputsFor(const FederationRequest& request);

}  // namespace carrierarr::federation

#endif  // CARRIERARR_FEDERATION_CLUSTERS_H_
