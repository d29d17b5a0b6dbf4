// fleet.yaml's `federation`: which federation, the two clusters' names, ids and ClusterMesh
// ports, and each mode's settings. Reference: docs/fleet-yaml.md ("federation").
#include <algorithm>
#include <set>

#include "core/strings.h"
#include "spec/federation_reader.h"

namespace carrierarr::spec {
namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool IsDnsLabel(const std::string& s) {
  return !s.empty() && s.size() <= 63 && IsLowerAlnum(s.front()) && IsLowerAlnum(s.back()) &&
         std::all_of(s.begin(), s.end(), [](char c) { return IsLowerAlnum(c) || c == '-'; });
}

bool IsDigits(const std::string& s, size_t from) {
  return from < s.size() && std::all_of(s.begin() + static_cast<std::ptrdiff_t>(from), s.end(),
                                        [](char c) { return c >= '0' && c <= '9'; });
}

// "1.16.5" (with_v false) or "v1.9.1" (with_v true): three dot-separated numbers.
bool IsRelease(const std::string& s, bool with_v) {
  size_t at = with_v ? 1 : 0;
  if (with_v && (s.empty() || s[0] != 'v')) return false;
  for (int part = 0; part < 3; ++part) {
    size_t end = part < 2 ? s.find('.', at) : s.size();
    if (end == std::string::npos || !IsDigits(s.substr(at, end - at), 0)) return false;
    at = end + 1;
  }
  return true;
}

// A Kubernetes quantity as the API accepts it: a decimal number with an optional suffix.
bool IsQuantity(const std::string& s) {
  static const std::set<std::string> kSuffixes = {"",  "m",  "k",  "M",  "G",  "T",  "P",
                                                  "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
  size_t i = 0, digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++digits;
  }
  return digits > 0 && kSuffixes.count(s.substr(i)) == 1;
}

void ReadCluster(FleetReader& r, const YAML::Node& node, const std::string& where,
                 ClusterName& out) {
  auto m = r.Map(node, where, {"name", "id", "clustermesh_port"});
  if (m.count("name")) {
    r.Checked(m["name"], where + ".name",
              "at most 32 lowercase letters, digits or '-', starting and ending with a letter or "
              "digit (Cilium's rule), e.g. talos-home",
              IsClusterName, &out.name);
    r.Remember(where + ".name", m["name"].Mark());
  }
  int64_t id = 0;
  if (m.count("id") && r.Int(m["id"], where + ".id (Cilium's cluster id)", 1, 255, &id)) {
    out.id = static_cast<int>(id);
    r.Remember(where + ".id", m["id"].Mark());
  }
  int64_t port = 0;
  if (m.count("clustermesh_port") &&
      r.Int(m["clustermesh_port"],
            where + ".clustermesh_port (the clustermesh-apiserver's NodePort, in Kubernetes' "
                    "default NodePort range)",
            30000, 32767, &port)) {
    out.clustermesh_port = static_cast<uint16_t>(port);
    r.Remember(where + ".clustermesh_port", m["clustermesh_port"].Mark());
  }
  r.Remember(where, node.Mark());
}

template <typename E>
void ReadEnum(FleetReader& r, const YAML::Node& node, const std::string& what,
              const std::string& choices, std::optional<E> (*named)(std::string_view), E* out) {
  std::string s;
  if (!r.Scalar(node, what, &s)) return;
  if (auto e = named(s)) {
    *out = *e;
  } else {
    r.Error(node.Mark(), what + " '" + s + "' must be one of " + choices + " (Liqo's spelling)");
  }
}

void ReadOffloaded(FleetReader& r, const YAML::Node& node, const std::string& where,
                   std::set<std::string>& seen, std::vector<OffloadedNamespace>& out) {
  auto m = r.Map(node, where,
                 {"namespace", "namespace_mapping_strategy", "remote_namespace_name",
                  "pod_offloading_strategy"});
  if (!node.IsMap()) return;
  OffloadedNamespace o;
  if (!m.count("namespace")) {
    r.Error(node.Mark(), where + " needs a namespace, e.g. 'namespace: ai'");
  } else if (r.Checked(m["namespace"], where + ".namespace", "a namespace name (a DNS label)",
                       IsDnsLabel, &o.name) &&
             !seen.insert(o.name).second) {
    r.Error(m["namespace"].Mark(), where + ": namespace '" + o.name + "' is listed twice");
  }
  if (m.count("namespace_mapping_strategy"))
    ReadEnum(r, m["namespace_mapping_strategy"], where + ".namespace_mapping_strategy",
             "DefaultName, EnforceSameName, SelectedName", &NamespaceMappingNamed, &o.mapping);
  if (m.count("pod_offloading_strategy"))
    ReadEnum(r, m["pod_offloading_strategy"], where + ".pod_offloading_strategy",
             "LocalAndRemote, Remote, Local", &PodOffloadingNamed, &o.pods);
  if (m.count("remote_namespace_name"))
    r.Checked(m["remote_namespace_name"], where + ".remote_namespace_name",
              "a namespace name (a DNS label)", IsDnsLabel, &o.remote_name);
  if (o.mapping == NamespaceMapping::kSelectedName && o.remote_name.empty()) {
    r.Error(node.Mark(), where +
                             " uses namespace_mapping_strategy SelectedName and needs "
                             "remote_namespace_name: the namespace's name in the cloud cluster");
  } else if (o.mapping != NamespaceMapping::kSelectedName && !o.remote_name.empty()) {
    r.Error(m["remote_namespace_name"].Mark(),
            where +
                ".remote_namespace_name is only read with namespace_mapping_strategy "
                "SelectedName; set that, or remove remote_namespace_name");
  }
  out.push_back(o);
}

void ReadResources(FleetReader& r, const YAML::Node& node, const std::string& where,
                   std::map<std::string, std::string>& out) {
  if (!node.IsMap()) {
    r.Error(node.Mark(), where +
                             " must map resource names to quantities, e.g. {cpu: \"20\", "
                             "memory: 128Gi, nvidia.com/gpu: \"1\"}");
    return;
  }
  for (const auto& entry : node) {
    std::string name, value;
    if (!r.Scalar(entry.first, where + " key", &name)) continue;
    if (r.Checked(entry.second, where + "." + name,
                  "a Kubernetes quantity such as 20, 500m or 128Gi", IsQuantity, &value)) {
      out[name] = value;
    }
  }
}

void ReadLiqo(FleetReader& r, const YAML::Node& node, LiqoSpec& out) {
  const std::string w = "federation.liqo";
  auto m = r.Map(node, w, {"namespace", "remote_namespace", "use_liqoctl", "offload", "resources"});
  for (const auto& [key, value] : {std::pair<const char*, std::string*>{"namespace", &out.ns},
                                   {"remote_namespace", &out.remote_ns}}) {
    if (m.count(key))
      r.Checked(
          m[key], w + "." + key, "a namespace name (a DNS label), or \"\" to find it",
          [](const std::string& s) { return s.empty() || IsDnsLabel(s); }, value);
  }
  if (m.count("use_liqoctl")) r.Bool(m["use_liqoctl"], w + ".use_liqoctl", &out.use_liqoctl);
  if (m.count("offload")) {
    const YAML::Node& list = m["offload"];
    if (!list.IsSequence()) {
      r.Error(list.Mark(), w + ".offload must be a list, e.g. [{namespace: ai}]");
    } else {
      std::set<std::string> seen;
      for (size_t i = 0; i < list.size(); ++i)
        ReadOffloaded(r, list[i], w + ".offload[" + std::to_string(i) + "]", seen, out.offload);
    }
  }
  if (m.count("resources")) ReadResources(r, m["resources"], w + ".resources", out.resources);
}

void ReadClusterMesh(FleetReader& r, const YAML::Node& node, ClusterMeshSpec& out) {
  const std::string w = "federation.clustermesh";
  auto m = r.Map(node, w, {"namespace", "cilium_version", "cilium_cli_version", "forwarder_image"});
  if (m.count("namespace"))
    r.Checked(m["namespace"], w + ".namespace", "a namespace name (a DNS label)", IsDnsLabel,
              &out.ns);
  if (m.count("cilium_version"))
    r.Checked(
        m["cilium_version"], w + ".cilium_version", "a Cilium release such as 1.16.5",
        [](const std::string& s) { return IsRelease(s, false); }, &out.cilium_version);
  if (m.count("cilium_cli_version"))
    r.Checked(
        m["cilium_cli_version"], w + ".cilium_cli_version", "a cilium-cli release such as v0.16.22",
        [](const std::string& s) { return IsRelease(s, true); }, &out.cilium_cli_version);
  if (m.count("forwarder_image"))
    r.Checked(
        m["forwarder_image"], w + ".forwarder_image",
        "an image such as docker.io/alpine/socat:1.8.0.1",
        [](const std::string& s) { return IsImageReference(s); }, &out.forwarder_image);
}

void ReadDirect(FleetReader& r, const YAML::Node& node, DirectSpec& out) {
  const std::string w = "federation.direct";
  auto m = r.Map(node, w, {"talos_version", "control_plane_pools", "force_control_plane"});
  if (m.count("talos_version"))
    r.Checked(
        m["talos_version"], w + ".talos_version", "a Talos release such as v1.9.1",
        [](const std::string& s) { return IsRelease(s, true); }, &out.talos_version);
  if (m.count("control_plane_pools")) {
    r.Groups(m["control_plane_pools"], w + ".control_plane_pools", &out.control_plane_pools);
    r.Remember(w + ".control_plane_pools", m["control_plane_pools"].Mark());
  }
  if (m.count("force_control_plane"))
    r.Bool(m["force_control_plane"], w + ".force_control_plane", &out.force_control_plane);
}

}  // namespace

bool IsClusterName(const std::string& s) {
  return s.size() <= kMaxClusterNameLength && IsDnsLabel(s);
}

void ReadFederation(FleetReader& r, const YAML::Node& node, FederationSpec& out) {
  const std::string w = "federation";
  auto m = r.Map(node, w,
                 {"mode", "homelab", "cloud", "cloud_kubeconfig", "liqo", "clustermesh", "direct"});
  if (m.count("mode")) {
    ReadEnum(r, m["mode"], "federation.mode", "none, liqo, clustermesh, direct",
             &FederationModeNamed, &out.mode);
    r.Remember("federation.mode", m["mode"].Mark());
  }
  if (m.count("homelab")) ReadCluster(r, m["homelab"], "federation.homelab", out.homelab);
  if (m.count("cloud")) ReadCluster(r, m["cloud"], "federation.cloud", out.cloud);
  if (m.count("cloud_kubeconfig") &&
      r.Scalar(m["cloud_kubeconfig"], "federation.cloud_kubeconfig", &out.cloud_kubeconfig)) {
    r.Remember("federation.cloud_kubeconfig", m["cloud_kubeconfig"].Mark());
  }
  if (m.count("liqo")) ReadLiqo(r, m["liqo"], out.liqo);
  if (m.count("clustermesh")) ReadClusterMesh(r, m["clustermesh"], out.clustermesh);
  if (m.count("direct")) ReadDirect(r, m["direct"], out.direct);
}

void ValidateFederation(FleetReader& r, const FleetSpec& fleet) {
  const FederationSpec& f = fleet.federation;
  if (f.mode == FederationMode::kNone) return;
  const auto mark = [&](const std::string& key) {
    return r.MarkOf(r.Remembered(key) ? key : "federation.mode");
  };
  if (f.homelab.name == f.cloud.name) {
    r.Error(mark("federation.cloud.name"),
            "federation.homelab.name and federation.cloud.name are both '" + f.cloud.name +
                "'; each cluster needs its own name");
  }
  if (f.homelab.id == f.cloud.id) {
    r.Error(mark("federation.cloud.id"),
            "federation.homelab.id and federation.cloud.id are both " + std::to_string(f.cloud.id) +
                ": Cilium and Liqo tell the clusters apart by id; give each its own (1-255)");
  }
  if (f.mode == FederationMode::kClusterMesh &&
      f.homelab.clustermesh_port == f.cloud.clustermesh_port) {
    r.Error(mark("federation.cloud.clustermesh_port"),
            "federation.homelab.clustermesh_port and federation.cloud.clustermesh_port are both " +
                std::to_string(f.cloud.clustermesh_port) +
                ": each side's forwarder listens on the other cluster's port, so with one port "
                "for both the agents reach their own clustermesh-apiserver; use two ports, e.g. "
                "32379 and 32380");
  }
  for (const std::string& name : f.direct.control_plane_pools) {
    const bool known = std::any_of(fleet.pools.begin(), fleet.pools.end(),
                                   [&](const PoolSpec& p) { return p.name == name; });
    if (!known) {
      r.Error(r.MarkOf("federation.direct.control_plane_pools"),
              "federation.direct.control_plane_pools names '" + name +
                  "', which is not a pool in this file");
    }
  }
}

}  // namespace carrierarr::spec
