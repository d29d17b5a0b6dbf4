// What a Cilium agent's Prometheus metrics (its port 9962, Helm value prometheus.enabled=true)
// say of ClusterMesh: how many remote clusters it is configured for and, per remote cluster,
// whether it is connected and how many of that cluster's nodes and endpoints it has synced. Names
// as Cilium 1.14-1.18 export them (cilium_clustermesh_remote_cluster_readiness_status,
// ..._nodes, ..._endpoints{target_cluster}, cilium_clustermesh_remote_clusters), also under the
// cilium_agent_ prefix newer docs use. Pure: parsing only.
#ifndef CARRIERARR_FEDERATION_CILIUM_METRICS_H_
#define CARRIERARR_FEDERATION_CILIUM_METRICS_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "core/status.h"

namespace carrierarr::federation {

struct RemoteClusterView {
  bool ready = false;
  int64_t nodes = -1, endpoints = -1;  // -1: not reported (endpoints: Cilium < 1.14)
};

struct AgentMeshView {
  int64_t remote_clusters = -1;                      // configured; -1: not reported
  std::map<std::string, RemoteClusterView> remotes;  // by target_cluster
};

// Parses the text exposition format (0.0.4): comments, `name{label="v",...} value [ts]`.
// InvalidArgument with the line number on a line that is not a sample; other metrics are skipped.
Result<AgentMeshView> ParseAgentMetrics(std::string_view text);

}  // namespace carrierarr::federation

#endif  // CARRIERARR_FEDERATION_CILIUM_METRICS_H_
