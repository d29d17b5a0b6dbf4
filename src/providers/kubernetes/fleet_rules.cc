// fleet.yaml's part for the kubernetes provider: the providers.kubernetes section, and the rules
// that tie it to the rest of the file (the image the control plane runs, the lighthouse's public
// address, which nodes the cluster may host).
#include <algorithm>
#include <string>

#include "providers/kubernetes/kubernetes_provider.h"
#include "spec/fleet_reader.h"

namespace carrierarr::kubernetes {
namespace {

bool LowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// RFC 1123 label: what Kubernetes accepts as a namespace name.
bool IsDnsLabel(const std::string& s) {
  return !s.empty() && s.size() <= 63 && LowerAlnum(s.front()) && LowerAlnum(s.back()) &&
         std::all_of(s.begin(), s.end(), [](char c) { return LowerAlnum(c) || c == '-'; });
}

// A label key ("kubernetes.io/hostname", "node-role.kubernetes.io/worker") or value: letters,
// digits and -_./, at most 253; no quotes or spaces, since they end up in a label selector.
bool IsLabelText(const std::string& s, bool allow_empty) {
  if (s.empty()) return allow_empty;
  return s.size() <= 253 && std::all_of(s.begin(), s.end(), [](char c) {
           return LowerAlnum(c) || (c >= 'A' && c <= 'Z') || c == '-' || c == '_' || c == '.' ||
                  c == '/';
         });
}

// HOST:PORT with a port in 1-65535 and a host of DNS or IPv4 characters.
bool IsHostPort(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size()) return false;
  std::string host = s.substr(0, colon), port = s.substr(colon + 1);
  if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      port.size() > 5 || std::stoi(port) < 1 || std::stoi(port) > 65535) {
    return false;
  }
  return std::all_of(host.begin(), host.end(),
                     [](char c) { return LowerAlnum(c) || c == '-' || c == '.'; });
}

void ReadNodeSelector(spec::FleetReader& reader, const YAML::Node& node,
                      spec::KubernetesProviderSpec& k) {
  if (!node.IsMap()) {
    reader.Error(node.Mark(),
                 "providers.kubernetes.node_selector must be a map of node labels, e.g. "
                 "{carrierarr.io/mesh: \"true\"}");
    return;
  }
  for (const auto& kv : node) {
    std::string key, value;
    const std::string what = "providers.kubernetes.node_selector";
    if (!reader.Checked(
            kv.first, what + " key", "a label key like kubernetes.io/hostname",
            [](const std::string& s) { return IsLabelText(s, false); }, &key) ||
        !reader.Checked(
            kv.second, what + "." + key, "a label value (letters, digits, -_.)",
            [](const std::string& s) { return IsLabelText(s, true); }, &value)) {
      continue;
    }
    k.node_selector[key] = value;
  }
}

void ReadExposure(spec::FleetReader& reader, const YAML::Node& node,
                  spec::KubernetesProviderSpec& k) {
  std::string s;
  if (!reader.Scalar(node, "providers.kubernetes.lighthouse_exposure", &s)) return;
  if (s == "hostPort") {
    k.lighthouse_exposure = spec::LighthouseExposure::kHostPort;
  } else if (s == "nodePort") {
    k.lighthouse_exposure = spec::LighthouseExposure::kNodePort;
  } else {
    reader.Error(node.Mark(), "providers.kubernetes.lighthouse_exposure '" + s +
                                  "' must be hostPort or nodePort");
  }
}

class Rules final : public spec::ProviderRules {
 public:
  std::string_view name() const override { return kName; }

  void ReadSettings(spec::FleetReader& reader, const YAML::Node& section,
                    spec::FleetSpec& fleet) const override {
    spec::KubernetesProviderSpec& k = fleet.kubernetes;
    auto m = reader.Map(
        section, "providers.kubernetes",
        {"context", "nebula_namespace", "control_plane_namespace", "node_selector", "nebula_image",
         "control_plane_node", "lighthouse_exposure", "lighthouse_endpoint", "allow_insecure"});
    reader.Remember("providers.kubernetes", section.Mark());
    const std::string p = "providers.kubernetes.";
    if (m.count("context")) reader.Scalar(m["context"], p + "context", &k.context);
    for (const auto& [key, out] :
         {std::pair<const char*, std::string*>{"nebula_namespace", &k.nebula_namespace},
          {"control_plane_namespace", &k.control_plane_namespace}}) {
      if (m.count(key)) {
        reader.Checked(m[key], p + key,
                       "a namespace name (a DNS label: 1-63 lowercase letters, digits or '-')",
                       IsDnsLabel, out);
      }
    }
    if (m.count("node_selector")) ReadNodeSelector(reader, m["node_selector"], k);
    if (m.count("nebula_image"))
      reader.Scalar(m["nebula_image"], p + "nebula_image", &k.nebula_image);
    if (m.count("control_plane_node")) {
      reader.Checked(m["control_plane_node"], p + "control_plane_node",
                     "a node name (1-63 lowercase letters, digits, '.', '_' or '-')",
                     IsMeshNodeName, &k.control_plane_node);
    }
    if (m.count("lighthouse_exposure")) {
      ReadExposure(reader, m["lighthouse_exposure"], k);
      reader.Remember(p + "lighthouse_exposure", m["lighthouse_exposure"].Mark());
    }
    if (m.count("lighthouse_endpoint") &&
        reader.Checked(m["lighthouse_endpoint"], p + "lighthouse_endpoint",
                       "HOST:PORT, the public address the router forwards to the lighthouse",
                       IsHostPort, &k.lighthouse_endpoint)) {
      reader.Remember(p + "lighthouse_endpoint", m["lighthouse_endpoint"].Mark());
    }
    if (m.count("allow_insecure")) {
      reader.Bool(m["allow_insecure"], p + "allow_insecure", &k.allow_insecure);
    }
  }

  // The cluster hosts the homelab's own nodes and a lighthouse; workers are elsewhere.
  void CheckPool(spec::FleetReader& reader, const std::map<std::string, YAML::Node>& keys,
                 const spec::PoolSpec& /*pool*/, const std::string& where) const override {
    auto it = keys.find("provider");
    reader.Error(it != keys.end() ? it->second.Mark() : YAML::Mark(),
                 where +
                     ".provider kubernetes cannot host pools: the kubernetes provider "
                     "hosts only the lighthouse and the homelab (its nodes join through "
                     "homelab.provider); put the pool on another provider");
  }

  void Validate(spec::FleetReader& reader, const spec::FleetSpec& f) const override {
    const bool homelab = f.homelab.provider == kName;
    const bool lighthouse = f.lighthouse.provider == kName;
    if (f.federation.mode != spec::FederationMode::kNone && !homelab) {
      reader.Error(reader.MarkOf("federation.mode"),
                   "federation.mode " + std::string(spec::FederationModeName(f.federation.mode)) +
                       " federates the homelab's Kubernetes cluster: it needs homelab.provider "
                       "kubernetes (and the cluster's kubeconfig in homelab.kubeconfig)");
    }
    if (f.federation.mode == spec::FederationMode::kClusterMesh) {
      for (const auto* c : {&f.federation.homelab, &f.federation.cloud}) {
        if (c->clustermesh_port >= 30000 && c->clustermesh_port <= 32767) continue;
        reader.Error(reader.MarkOf("federation.mode"),
                     "the ClusterMesh port " + std::to_string(c->clustermesh_port) + " of '" +
                         c->name +
                         "' is outside the NodePort range 30000-32767; the clustermesh-apiserver "
                         "is reached on a NodePort");
      }
    }
    if (lighthouse && !homelab) {
      reader.Error(reader.MarkOf("lighthouse.provider"),
                   "lighthouse.provider kubernetes needs homelab.provider kubernetes too: the "
                   "lighthouse runs in the homelab's cluster");
    }
    if (homelab && f.control_plane.image.empty()) {
      reader.Error(reader.MarkOf("homelab.provider"),
                   "control_plane.image is required when homelab.provider is kubernetes: the "
                   "control plane runs in the cluster from carrierarr's own image (build and "
                   "push it: docs/providers/kubernetes.md), e.g. "
                   "'control_plane: {image: registry.lan/carrierarr:0.1}'");
    }
    if (lighthouse && f.kubernetes.lighthouse_exposure == spec::LighthouseExposure::kNodePort &&
        (f.mesh.lighthouse_port < 30000 || f.mesh.lighthouse_port > 32767)) {
      reader.Error(reader.MarkOf("providers.kubernetes.lighthouse_exposure"),
                   "providers.kubernetes.lighthouse_exposure nodePort needs mesh.lighthouse_port "
                   "in the NodePort range 30000-32767 (it is " +
                       std::to_string(f.mesh.lighthouse_port) +
                       "); set mesh.lighthouse_port, or use hostPort");
    }
    if (homelab) {
      for (const auto& [key, port] :
           {std::pair<const char*, uint16_t>{"grpc_node_port", f.control_plane.grpc_node_port},
            {"http_node_port", f.control_plane.http_node_port}}) {
        if (port >= 30000 && port <= 32767) continue;
        reader.Error(reader.MarkOf(std::string("control_plane.") + key),
                     std::string("control_plane.") + key + " " + std::to_string(port) +
                         " is outside the NodePort range 30000-32767");
      }
    }
    if (lighthouse && f.kubernetes.lighthouse_endpoint.empty()) {
      reader.Error(reader.MarkOf("lighthouse.provider"),
                   "providers.kubernetes.lighthouse_endpoint is required when the lighthouse is "
                   "in the cluster: the HOST:PORT every member dials for it, i.e. the public "
                   "address your router forwards (UDP) to the lighthouse, e.g. "
                   "'home.example.net:4242' (with no cloud pools yet, the LAN address of the "
                   "lighthouse's node will do)");
    }
  }
};

constinit const Rules kRules;

}  // namespace

bool IsMeshNodeName(const std::string& s) {
  return !s.empty() && s.size() <= 63 && std::all_of(s.begin(), s.end(), [](char c) {
    return LowerAlnum(c) || c == '.' || c == '_' || c == '-';
  });
}

const spec::ProviderRules& KubernetesFleetRules() { return kRules; }

}  // namespace carrierarr::kubernetes
