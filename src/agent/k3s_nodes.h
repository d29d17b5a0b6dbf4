// The cloud cluster's nodes as the k3s server's agent reads them (`kubectl get nodes -o json`),
// bounded before they go into a status report: the agent must not forward whatever kubectl says
// at whatever size. The proto message (K3sClusterNode, issue 12) is filled from these.
#ifndef CARRIERARR_AGENT_K3S_NODES_H_
#define CARRIERARR_AGENT_K3S_NODES_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "ec2agent/v1/agent.pb.h"

namespace carrierarr::agent {

struct K3sNodeReport {
  std::string name;
  bool ready = false;
  std::string reason;   // the Ready condition's reason; "" when there is no Ready condition
  std::string message;  // its message
  std::string roles;    // from node-role.kubernetes.io/<role> labels, sorted, comma-separated
  std::string internal_ip;
  // status.allocatable["nvidia.com/gpu"]: what the device plugin offers pods (0 until it runs,
  // and on nodes without GPUs). A quantity that is not a plain count reads 0.
  int gpu_allocatable = 0;
};

// Caps: a k3s cluster of ours has a handful of nodes; a message of a few hundred bytes.
inline constexpr size_t kMaxK3sNodes = 64;
inline constexpr size_t kMaxK3sFieldBytes = 512;
inline constexpr size_t kMaxKubectlNodesOutputBytes = 4 << 20;

// Parses a NodeList. Every string is UTF-8 sanitized and cut to kMaxK3sFieldBytes; nodes past
// kMaxK3sNodes are dropped. Output over kMaxKubectlNodesOutputBytes, or not a NodeList, is an
// error (the report then carries no cluster rather than a wrong one).
Result<std::vector<K3sNodeReport>> ParseKubectlNodes(std::string_view json_text);

// Puts the reports into the status report (NodeStatus.k3s_cluster_nodes, field 100), replacing
// what was there.
void SetK3sClusterNodes(const std::vector<K3sNodeReport>& nodes, ec2agent::v1::NodeStatus* status);

// The k3s admin kubeconfig holds the cluster's admin key, so the agent hands it out only when
// started with --allow-kubeconfig-fetch (the AWS userdata of the k3s server node sets it); the
// default is to refuse. The file is read whole, at most kMaxKubeconfigBytes.
inline constexpr size_t kMaxKubeconfigBytes = 64 << 10;
Result<std::string> ReadKubeconfigForFetch(const std::string& path, bool allowed);

}  // namespace carrierarr::agent

#endif  // CARRIERARR_AGENT_K3S_NODES_H_
