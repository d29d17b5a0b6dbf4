#include "ops/k3s_cluster.h"

#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string_view>

#include "core/file_util.h"

namespace carrierarr::ops {
namespace {

struct ServerUrl {
  std::string host;  // without brackets
  std::string port;  // "" = none given
};

// Splits https://host:port[/path]; false for anything else (we rewrite only what we understand).
bool ParseServer(std::string_view url, ServerUrl& out) {
  constexpr std::string_view kScheme = "https://";
  if (url.substr(0, kScheme.size()) != kScheme) return false;
  std::string_view rest = url.substr(kScheme.size());
  if (const size_t slash = rest.find('/'); slash != std::string_view::npos) {
    rest = rest.substr(0, slash);
  }
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) return false;
    out.host = std::string(rest.substr(1, close - 1));
    rest = rest.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return false;
    out.port = rest.empty() ? "" : std::string(rest.substr(1));
    return true;
  }
  const size_t colon = rest.rfind(':');
  out.host = std::string(rest.substr(0, colon));
  out.port = colon == std::string_view::npos ? "" : std::string(rest.substr(colon + 1));
  return !out.host.empty();
}

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

}  // namespace

Result<std::string> RewriteKubeconfigServers(const std::string& kubeconfig_yaml,
                                             const std::string& mesh_ip) {
  // Messages never quote the YAML: yaml-cpp's own message names only line and column.
  YAML::Node root;
  try {
    root = YAML::Load(kubeconfig_yaml);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument("the fetched kubeconfig is not valid YAML (line " +
                                   std::to_string(e.mark.line + 1) + ", column " +
                                   std::to_string(e.mark.column + 1) + ")");
  }
  if (!root.IsMap() || !root["clusters"] || !root["clusters"].IsSequence() ||
      root["clusters"].size() == 0) {
    return Status::InvalidArgument(
        "the fetched kubeconfig has no `clusters` list: is the agent's --k3s-kubeconfig the k3s "
        "admin kubeconfig (/etc/rancher/k3s/k3s.yaml)?");
  }
  for (YAML::Node entry : root["clusters"]) {
    const std::string name = entry["name"] ? entry["name"].as<std::string>("") : "";
    YAML::Node cluster = entry["cluster"];
    if (!cluster || !cluster.IsMap() || !cluster["server"] || !cluster["server"].IsScalar()) {
      return Status::InvalidArgument("cluster \"" + name +
                                     "\" of the fetched kubeconfig has no `server`");
    }
    ServerUrl url;
    if (!ParseServer(cluster["server"].Scalar(), url) || !IsLoopback(url.host)) continue;
    cluster["server"] = "https://" + mesh_ip + (url.port.empty() ? "" : ":" + url.port);
  }
  YAML::Emitter out;
  out << root;
  if (!out.good()) {
    return Status::Internal("emitting the rewritten kubeconfig failed: " + out.GetLastError());
  }
  return std::string(out.c_str()) + "\n";
}

std::string CloudKubeconfigPath(const std::string& state_dir) {
  return state_dir + "/k3s/kubeconfig";
}

Status StoreCloudKubeconfig(const std::string& fetched_yaml, const std::string& mesh_ip,
                            const std::string& path) {
  Result<std::string> rewritten = RewriteKubeconfigServers(fetched_yaml, mesh_ip);
  if (!rewritten.ok()) return rewritten.status();
  const std::string dir = std::filesystem::path(path).parent_path().string();
  if (!dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Status::Internal("cannot create " + dir + ": " + ec.message());
    // The admin key's directory: only the operator enters it.
    if (::chmod(dir.c_str(), 0700) != 0) {
      return Status::Internal("cannot chmod 0700 " + dir + ": " + std::strerror(errno));
    }
  }
  return WriteFileAtomic(path, *rewritten, 0600);
}

std::string ExplainK3sNode(const K3sClusterNode& node) {
  if (node.ready) return "";
  const std::string& m = node.message;
  if (m.find("cni plugin not initialized") != std::string::npos ||
      m.find("NetworkPluginNotReady") != std::string::npos ||
      m.find("network not ready") != std::string::npos) {
    return "no CNI yet: k3s was started with --flannel-backend=none; install Cilium (cilium "
           "install --cluster-name aws-k3s --cluster-id 2) or let k3s run flannel";
  }
  if (node.reason.empty() && m.empty()) {
    return "the kubelet has not reported (no Ready condition): is k3s running on the node?";
  }
  return node.reason + (m.empty() ? "" : ": " + m);
}

std::string RenderCloudCluster(const std::vector<K3sClusterNode>& nodes) {
  if (nodes.empty()) return "";
  std::string out = "cloud cluster (k3s):\n";
  for (const K3sClusterNode& node : nodes) {
    out += "  " + node.name + "  " + (node.ready ? "Ready" : "NotReady");
    if (!node.roles.empty()) out += "  " + node.roles;
    if (!node.internal_ip.empty()) out += "  " + node.internal_ip;
    out += "\n";
    if (const std::string why = ExplainK3sNode(node); !why.empty()) out += "    " + why + "\n";
  }
  return out;
}

}  // namespace carrierarr::ops
