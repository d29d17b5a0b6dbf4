#include "agent/k3s_nodes.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/utf8.h"

namespace carrierarr::agent {
namespace {

// Cut at a code point boundary: sanitize first, then back off over continuation bytes.
std::string Bounded(std::string_view s) {
  std::string out = SanitizeUtf8(s);
  if (out.size() <= kMaxK3sFieldBytes) return out;
  size_t cut = kMaxK3sFieldBytes;
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
  out.resize(cut);
  return out;
}

std::string StringAt(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? Bounded(it->get<std::string>()) : "";
}

std::string Roles(const nlohmann::json& metadata) {
  constexpr std::string_view kPrefix = "node-role.kubernetes.io/";
  std::vector<std::string> roles;
  auto labels = metadata.find("labels");
  if (labels == metadata.end() || !labels->is_object()) return "";
  for (const auto& [key, value] : labels->items()) {
    if (key.rfind(kPrefix, 0) == 0 && key.size() > kPrefix.size()) {
      roles.push_back(key.substr(kPrefix.size()));
    }
  }
  std::sort(roles.begin(), roles.end());
  std::string out;
  for (const std::string& role : roles) out += (out.empty() ? "" : ",") + role;
  return Bounded(out);
}

K3sNodeReport ParseNode(const nlohmann::json& item) {
  K3sNodeReport node;
  const nlohmann::json empty = nlohmann::json::object();
  const nlohmann::json& metadata =
      item.is_object() && item.contains("metadata") ? item["metadata"] : empty;
  const nlohmann::json& status =
      item.is_object() && item.contains("status") ? item["status"] : empty;
  node.name = StringAt(metadata, "name");
  node.roles = metadata.is_object() ? Roles(metadata) : "";
  if (auto conditions = status.find("conditions");
      status.is_object() && conditions != status.end() && conditions->is_array()) {
    for (const nlohmann::json& c : *conditions) {
      if (StringAt(c, "type") != "Ready") continue;
      node.ready = StringAt(c, "status") == "True";
      node.reason = StringAt(c, "reason");
      node.message = StringAt(c, "message");
    }
  }
  if (auto alloc = status.find("allocatable");
      status.is_object() && alloc != status.end() && alloc->is_object()) {
    const std::string gpus = StringAt(*alloc, "nvidia.com/gpu");
    if (!gpus.empty() && gpus.size() <= 4 &&
        std::all_of(gpus.begin(), gpus.end(), [](char c) { return c >= '0' && c <= '9'; }))
      node.gpu_allocatable = std::stoi(gpus);
  }
  if (auto addresses = status.find("addresses");
      status.is_object() && addresses != status.end() && addresses->is_array()) {
    for (const nlohmann::json& a : *addresses) {
      if (StringAt(a, "type") == "InternalIP") node.internal_ip = StringAt(a, "address");
    }
  }
  return node;
}

}  // namespace

Result<std::vector<K3sNodeReport>> ParseKubectlNodes(std::string_view json_text) {
  if (json_text.size() > kMaxKubectlNodesOutputBytes) {
    return Status::ResourceExhausted("kubectl get nodes printed " +
                                     std::to_string(json_text.size()) + " bytes, over the " +
                                     std::to_string(kMaxKubectlNodesOutputBytes) + " we read");
  }
  auto list = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (list.is_discarded() || !list.is_object() || !list.contains("items") ||
      !list["items"].is_array()) {
    return Status::InvalidArgument("kubectl get nodes -o json did not print a NodeList");
  }
  std::vector<K3sNodeReport> nodes;
  for (const nlohmann::json& item : list["items"]) {
    if (nodes.size() == kMaxK3sNodes) break;
    nodes.push_back(ParseNode(item));
  }
  return nodes;
}

void SetK3sClusterNodes(const std::vector<K3sNodeReport>& nodes, ec2agent::v1::NodeStatus* status) {
  status->clear_k3s_cluster_nodes();
  for (const K3sNodeReport& n : nodes) {
    ec2agent::v1::K3sClusterNode* out = status->add_k3s_cluster_nodes();
    out->set_name(n.name);
    out->set_ready(n.ready);
    out->set_reason(n.reason);
    out->set_message(n.message);
    out->set_roles(n.roles);
    out->set_internal_ip(n.internal_ip);
    out->set_gpu_allocatable(n.gpu_allocatable);
  }
}

Result<std::string> ReadKubeconfigForFetch(const std::string& path, bool allowed) {
  if (!allowed) {
    return Status::PermissionDenied(
        "this agent does not hand out the k3s kubeconfig: start it with "
        "--allow-kubeconfig-fetch (set on the k3s server node by the AWS userdata)");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::NotFound("cannot read the k3s kubeconfig " + path +
                            ": is this the k3s server node, and is k3s running?");
  }
  // One byte past the cap tells "too big" from "exactly the cap".
  std::string text(kMaxKubeconfigBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxKubeconfigBytes) {
    return Status::ResourceExhausted("the k3s kubeconfig " + path + " is over " +
                                     std::to_string(kMaxKubeconfigBytes) + " bytes");
  }
  return text;
}

}  // namespace carrierarr::agent
