// The cloud cluster (k3s on EC2) as the operator sees it: the kubeconfig fetched from the k3s
// server node, made reachable over the mesh, and the explanation of a node that is NotReady.
// Facts: shared/spec/kubernetes.md ("k3s over Nebula").
#ifndef CARRIERARR_OPS_K3S_CLUSTER_H_
#define CARRIERARR_OPS_K3S_CLUSTER_H_

#include <string>
#include <vector>

#include "core/status.h"

namespace carrierarr::ops {

// k3s writes its admin kubeconfig for https://127.0.0.1:6443, which only works on the node
// itself. Rewrites the `server` of every cluster whose server is a loopback address (127.x,
// localhost, [::1]) to https://<mesh_ip>:<same port>; a server already naming mesh_ip is kept,
// any other server is left alone (it is not k3s's own). The YAML is parsed and emitted again
// (yaml-cpp), so certificate-authority-data stays and TLS still verifies (k3s puts the mesh IP
// in its certificate through --tls-san). Malformed YAML, no `clusters` list, or a cluster
// without a server is an error that never quotes the text (it holds the admin key).
Result<std::string> RewriteKubeconfigServers(const std::string& kubeconfig_yaml,
                                             const std::string& mesh_ip);

// Where `carrierarr kubeconfig` keeps the cloud cluster's kubeconfig: in the fleet's state
// directory (<fleet dir>/.carrierarr), beside the fleet's other secrets.
std::string CloudKubeconfigPath(const std::string& state_dir);

// Rewrites the fetched kubeconfig (RewriteKubeconfigServers) and writes it atomically, mode
// 0600, to `path`, creating its directory 0700 if missing. Never prints or logs the text.
Status StoreCloudKubeconfig(const std::string& fetched_yaml, const std::string& mesh_ip,
                            const std::string& path);

// One node of the cloud cluster as the k3s server's agent reports it.
struct K3sClusterNode {
  std::string name;
  bool ready = false;
  std::string reason;   // the Ready condition's reason, e.g. "KubeletNotReady"
  std::string message;  // its message
  std::string roles;    // "control-plane,master"
  std::string internal_ip;
  int gpu_allocatable = 0;  // status.allocatable["nvidia.com/gpu"]
};

// Why a NotReady node is NotReady, in the operator's words, with the fix when we know it: no CNI
// (k3s started with --flannel-backend=none, as our userdata does, until Cilium is installed).
// "" for a Ready node.
std::string ExplainK3sNode(const K3sClusterNode& node);

// The "cloud cluster" section of `carrierarr status`: one line per node, the explanation under
// each NotReady one. "" when there is no node.
std::string RenderCloudCluster(const std::vector<K3sClusterNode>& nodes);

}  // namespace carrierarr::ops

#endif  // CARRIERARR_OPS_K3S_CLUSTER_H_
