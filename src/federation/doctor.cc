// `doctor` of the federation: the traps the seeds' troubleshooting and Liqo's and Cilium's users
// report, each read from the two clusters as they are now and named with its fix. Read-only.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <optional>
#include <tuple>

#include "core/file_util.h"
#include "core/ipv4.h"
#include "federation/clusters.h"
#include "federation/host_aliases.h"
#include "federation/liqo.h"
#include "providers/kubernetes/manifests.h"
#include "providers/kubernetes/observe.h"

namespace carrierarr::federation {
namespace {

using providers::DoctorCheck;
using Json = nlohmann::json;
constexpr auto Pass = DoctorCheck::Pass;
constexpr auto Fail = DoctorCheck::Fail;
constexpr auto List = DoctorCheck::List;

constexpr char kVirtualNodeTaint[] = "virtual-node.liqo.io/not-allowed";
constexpr char kOffloadingApi[] = "offloading.liqo.io/v1beta1";
constexpr char kUpFixes[] = "run 'carrierarr up': it repairs what it made";

struct Api {
  std::string side;  // kHomelab, kCloud
  kube::KubeApi* api;
};

std::string Where(const Api& a) { return "the " + a.side + " cluster"; }

std::string NameOf(const Json& o) {
  const Json& m = o["metadata"];
  return (m.contains("namespace") ? m.value("namespace", "") + "/" : "") + m.value("name", "");
}

Result<std::vector<Json>> Items(const Api& a, const std::string& api_version,
                                const std::string& kind, const std::string& ns = "") {
  auto list = a.api->List(api_version, kind, ns, {});
  if (!list.ok()) return list.status().WithPrefix("listing " + kind + " in " + Where(a));
  return list->items;
}

// ---- both modes ----------------------------------------------------------------------------

// A NotReady node whose kubelet says the network plugin is not ready: k3s without flannel
// (our cloud userdata) waits for Cilium, and until then nothing is scheduled there.
DoctorCheck CniCheck(const std::vector<Api>& apis, const spec::FleetSpec& fleet) {
  std::vector<std::string> found;
  for (const Api& a : apis) {
    auto nodes = Items(a, "v1", "Node");
    if (!nodes.ok()) return Fail("node network", nodes.status().message(), "check the kubeconfig");
    for (const Json& node : *nodes) {
      if (kubernetes::IsReady(node)) continue;
      for (const Json& c : node.value("/status/conditions"_json_pointer, Json::array())) {
        const std::string m = c.value("message", "");
        if (c.value("type", "") == "Ready" &&
            (m.find("cni plugin not initialized") != std::string::npos ||
             m.find("NetworkPluginNotReady") != std::string::npos ||
             m.find("network plugin is not ready") != std::string::npos))
          found.push_back(a.side + " node " + NameOf(node) + " is NotReady without a CNI");
      }
    }
  }
  if (found.empty()) return Pass("node network", "no node is waiting for a CNI");
  // The cluster of the first such node names the install command.
  const bool cloud = found[0].rfind(kCloud, 0) == 0;
  const spec::ClusterName& c = cloud ? fleet.federation.cloud : fleet.federation.homelab;
  return Fail("node network", List(found),
              std::string(cloud ? "k3s started with --flannel-backend=none waits for Cilium (the "
                                  "cloud nodes' first boot installs it; see "
                                  "/var/log/carrierarr-bootstrap.log there)"
                                : "the homelab has no CNI yet") +
                  ": install Cilium with the cluster's name and id ('cilium install --set "
                  "cluster.name=" +
                  c.name + " --set cluster.id=" + std::to_string(c.id) +
                  "'), or run the cluster with another CNI");
}

// Pod CIDRs of each cluster: the nodes' spec.podCIDRs, and Cilium's cluster-pool setting.
std::vector<std::string> PodCidrs(const std::vector<Json>& nodes,
                                  const std::optional<Json>& cilium_config) {
  std::vector<std::string> out;
  for (const Json& node : nodes) {
    for (const Json& c : node.value("/spec/podCIDRs"_json_pointer, Json::array()))
      if (c.is_string()) out.push_back(c.get<std::string>());
    if (node.contains("spec") && node["spec"].contains("podCIDR"))
      out.push_back(node["spec"].value("podCIDR", ""));
  }
  if (cilium_config) {
    std::string pools = cilium_config->value("/data/cluster-pool-ipv4-cidr"_json_pointer, "");
    std::replace(pools.begin(), pools.end(), ',', ' ');
    for (size_t at = 0; at < pools.size();) {
      const size_t end = std::min(pools.find(' ', at), pools.size());
      if (end > at) out.push_back(pools.substr(at, end - at));
      at = end + 1;
    }
  }
  return out;
}

Result<std::optional<Json>> Get(const Api& a, const kube::ObjectRef& ref) {
  auto got = a.api->Get(ref);
  if (!got.ok()) return got.status().WithPrefix("reading " + ref.ToString() + " in " + Where(a));
  return *got;
}

DoctorCheck PodCidrCheck(const Api& home, const Api& cloud, const std::string& cilium_ns) {
  std::vector<std::vector<std::string>> cidrs;
  for (const Api* a : {&home, &cloud}) {
    auto nodes = Items(*a, "v1", "Node");
    if (!nodes.ok()) return Fail("pod CIDRs", nodes.status().message(), "check the kubeconfig");
    auto config = Get(*a, {"v1", "ConfigMap", cilium_ns, "cilium-config"});
    if (!config.ok()) return Fail("pod CIDRs", config.status().message(), "check the kubeconfig");
    cidrs.push_back(PodCidrs(*nodes, *config));
  }
  std::vector<std::string> clashes;
  for (const std::string& h : cidrs[0]) {
    for (const std::string& c : cidrs[1]) {
      auto x = ParseCidr(h);
      auto y = ParseCidr(c);
      if (x.ok() && y.ok() && x->Overlaps(*y))
        clashes.push_back("homelab " + h + " overlaps cloud " + c);
    }
  }
  if (cidrs[0].empty() || cidrs[1].empty())
    return Pass("pod CIDRs", "a cluster reports no pod CIDR (nothing to compare)");
  if (clashes.empty()) return Pass("pod CIDRs", "the two clusters' pod CIDRs are apart");
  std::sort(clashes.begin(), clashes.end());
  clashes.erase(std::unique(clashes.begin(), clashes.end()), clashes.end());
  return Fail("pod CIDRs", List(clashes),
              "pods of both clusters share addresses, so traffic between them is routed back "
              "into the sender's cluster; give the cloud k3s its own range (--cluster-cidr "
              "10.52.0.0/16, and Cilium's ipam.operator.clusterPoolIPv4PodCIDRList) and "
              "re-create it");
}

// ---- Liqo ----------------------------------------------------------------------------------

std::vector<DoctorCheck> LiqoChecks(const Api& home, const Api& cloud,
                                    const spec::FleetSpec& fleet) {
  std::vector<DoctorCheck> out;
  const spec::LiqoSpec& liqo = fleet.federation.liqo;
  auto consumer = DiscoverLiqo(*home.api, liqo.ns, kHomelab);
  auto provider = DiscoverLiqo(*cloud.api, liqo.remote_ns, kCloud);
  for (const auto* found : {&consumer, &provider}) {
    const std::string side = found == &consumer ? kHomelab : kCloud;
    out.push_back(found->ok() ? Pass("Liqo in the " + side + " cluster",
                                     "namespace " + (*found)->ns + ", cluster id " +
                                         (*found)->cluster_id + ", " + (*found)->version)
                              : Fail("Liqo in the " + side + " cluster", found->status().message(),
                                     "fix what the line above names, then run 'carrierarr up'"));
  }
  if (!consumer.ok() || !provider.ok()) return out;
  Status versions = CheckLiqoVersions(*consumer, *provider);
  if (!versions.ok()) {
    out.push_back(
        Fail("Liqo versions", versions.message(), "upgrade the older side to the other's release"));
  } else if (consumer->cluster_id == provider->cluster_id) {
    out.push_back(Fail("Liqo versions",
                       "both clusters call themselves '" + consumer->cluster_id + "'",
                       "reinstall Liqo in one of them with its own cluster id "
                       "(liqoctl install ... --cluster-id <name>)"));
  } else {
    out.push_back(Pass("Liqo versions", consumer->version + " and " + provider->version + " (" +
                                            consumer->cluster_id + ", " + provider->cluster_id +
                                            ")"));
  }

  // Tolerations of the virtual node's taint that do not tolerate it (NoSchedule for NoExecute).
  std::vector<std::string> wrong_effect, early;
  for (const auto& [api_version, kind] : std::vector<std::pair<std::string, std::string>>{
           {"apps/v1", "Deployment"}, {"apps/v1", "StatefulSet"}, {"v1", "Pod"}}) {
    auto items = Items(home, api_version, kind);
    if (!items.ok()) {
      out.push_back(
          Fail("virtual node toleration", items.status().message(), "check the kubeconfig"));
      return out;
    }
    for (const Json& o : *items) {
      const Json spec = kind == "Pod" ? o.value("spec", Json::object())
                                      : o.value("/spec/template/spec"_json_pointer, Json::object());
      for (const Json& t : spec.value("tolerations", Json::array())) {
        const std::string effect = t.value("effect", "");
        if (t.value("key", "") == kVirtualNodeTaint && !effect.empty() && effect != "NoExecute")
          wrong_effect.push_back(kind + " " + NameOf(o) + " tolerates it with " + effect);
      }
    }
  }
  out.push_back(
      wrong_effect.empty()
          ? Pass("virtual node toleration", "no workload tolerates " +
                                                std::string(kVirtualNodeTaint) +
                                                " with the wrong effect")
          : Fail("virtual node toleration", List(wrong_effect),
                 "Liqo taints its virtual node " + std::string(kVirtualNodeTaint) +
                     "=true:NoExecute; a NoSchedule toleration leaves the pod Pending: use "
                     "effect: NoExecute ('carrierarr render workload' writes an example)"));

  // Pods made before their namespace's NamespaceOffloading are never offloaded: Pending forever.
  for (const auto& o : liqo.offload) {
    auto offloading = Get(home, {kOffloadingApi, "NamespaceOffloading", o.name, "offloading"});
    auto pods = Items(home, "v1", "Pod", o.name);
    if (!offloading.ok() || !pods.ok()) {
      out.push_back(Fail("pods before offloading",
                         (!offloading.ok() ? offloading.status() : pods.status()).message(),
                         "check the kubeconfig"));
      return out;
    }
    const std::string since =
        *offloading ? (**offloading).value("/metadata/creationTimestamp"_json_pointer, "") : "";
    for (const Json& pod : *pods) {
      if (pod.value("/status/phase"_json_pointer, "") != "Pending") continue;
      const std::string made = pod.value("/metadata/creationTimestamp"_json_pointer, "");
      // RFC 3339 in UTC ("2026-12-03T06:00:00Z") orders as text.
      if (!*offloading || (!made.empty() && made < since))
        early.push_back("pod " + NameOf(pod) + " (made " + made + ")");
    }
  }
  out.push_back(
      early.empty()
          ? Pass("pods before offloading",
                 "no Pending pod of an offloaded namespace predates its "
                 "NamespaceOffloading")
          : Fail("pods before offloading",
                 List(early) + " is Pending and was made before its namespace's "
                               "NamespaceOffloading (or there is none)",
                 "run 'carrierarr up' (it makes the NamespaceOffloading), then delete "
                 "those pods: their controller makes them again, and those are offloaded"));
  return out;
}

// ---- ClusterMesh ---------------------------------------------------------------------------

struct MeshSide {
  Api api;
  const spec::ClusterName& self;
  const std::vector<std::string>& self_ips;
  std::optional<Json> clustermesh, kvstoremesh, server, service, config;
  std::optional<Json> agents, apiserver;  // Cilium's DaemonSet and clustermesh-apiserver
};

Status ReadMeshSide(const std::string& ns, MeshSide& s) {
  for (auto [name, into] :
       {std::pair{kClusterMeshSecret, &s.clustermesh},
        std::pair{kKvstoreMeshSecret, &s.kvstoremesh}, std::pair{kServerCertSecret, &s.server}}) {
    auto got = Get(s.api, {"v1", "Secret", ns, name});
    if (!got.ok()) return got.status();
    *into = *got;
  }
  auto service = Get(s.api, {"v1", "Service", ns, "clustermesh-apiserver"});
  if (!service.ok()) return service.status();
  s.service = *service;
  auto config = Get(s.api, {"v1", "ConfigMap", ns, "cilium-config"});
  if (!config.ok()) return config.status();
  s.config = *config;
  for (auto [kind, name, into] : {std::tuple{"DaemonSet", kAgentDaemonSet, &s.agents},
                                  std::tuple{"Deployment", kApiserverDeployment, &s.apiserver}}) {
    auto got = Get(s.api, {"apps/v1", kind, ns, name});
    if (!got.ok()) return got.status();
    *into = *got;
  }
  return Status::Ok();
}

// Where the pods of `workload` reach `host`: an IP as it is, a name through their host aliases
// ("" when they cannot resolve it).
std::string Resolved(const std::string& host, const std::optional<Json>& workload) {
  if (ParseIpv4(host).ok()) return host;
  return workload ? HostAliasIp(*workload, host) : "";
}

// Each remote cluster's `endpoints:` in a side's two Secrets must be mesh addresses, as the pods
// reading them resolve them: the peer's LAN or public address does not route over Nebula
// (KVStoreMesh then never connects), and a name without a host alias does not resolve.
void CheckEndpoints(const MeshSide& s, const Ipv4Net& mesh, std::vector<std::string>& bad,
                    std::vector<std::string>& missing) {
  for (const auto& [name, secret, workload] :
       {std::tuple{kClusterMeshSecret, &s.clustermesh, &s.agents},
        std::tuple{kKvstoreMeshSecret, &s.kvstoremesh, &s.apiserver}}) {
    if (!*secret) {
      missing.push_back(s.api.side + " " + name);
      continue;
    }
    const Json data = (**secret).value("data", Json::object());
    for (const auto& [key, value] : data.items()) {
      if (key.find('.') != std::string::npos) continue;  // a file, not a cluster's config
      try {
        for (const auto& e : YAML::Load(DataOf(**secret, key))["endpoints"]) {
          std::string url = e.as<std::string>();
          std::string host =
              url.substr(url.find("://") == std::string::npos ? 0 : url.find("://") + 3);
          host = host.substr(0, host.find(':'));
          const std::string at = Resolved(host, *workload);
          auto ip = ParseIpv4(at);
          if (!ip.ok() || !mesh.Contains(*ip)) {
            bad.push_back(s.api.side + " " + name + " " + key + ": " + url +
                          (at == host   ? ""
                           : at.empty() ? " (no host alias for " + host + ")"
                                        : " (" + host + " is " + at + ")"));
          }
        }
      } catch (const YAML::Exception& e) {
        bad.push_back(s.api.side + " " + name + " " + key + ": unreadable (" + e.what() + ")");
      }
    }
  }
}

// The server certificate as the peer's agents judge it (the CA file the peer's Secret holds for
// this cluster, every mesh address), and the peer's client certificate as this apiserver judges
// it (its ca.crt).
void CheckCertificates(const MeshSide& s, const MeshSide& peer, pki::TimePoint now,
                       std::vector<std::string>& problems) {
  if (!s.server || !peer.clustermesh) return;  // reported as missing
  const std::string self = s.self.name;
  const std::string peer_secret = peer.api.side + " " + kClusterMeshSecret;
  Status server =
      pki::VerifyTlsPair({.role = pki::TlsRole::kServer,
                          .cert_name = s.api.side + " " + kServerCertSecret + " tls.crt",
                          .cert_pem = DataOf(*s.server, "tls.crt"),
                          .key_name = s.api.side + " " + kServerCertSecret + " tls.key",
                          .key_pem = DataOf(*s.server, "tls.key"),
                          .bundle_name = peer_secret + " " + self + ".etcd-client-ca.crt",
                          .bundle_pem = DataOf(*peer.clustermesh, self + ".etcd-client-ca.crt"),
                          .ip_addresses = s.self_ips,
                          .host_names = {MeshHostName(self)}},
                         now);
  if (!server.ok()) problems.push_back(server.message());
  Status client =
      pki::VerifyTlsPair({.role = pki::TlsRole::kClient,
                          .cert_name = peer_secret + " " + self + ".etcd-client.crt",
                          .cert_pem = DataOf(*peer.clustermesh, self + ".etcd-client.crt"),
                          .key_name = peer_secret + " " + self + ".etcd-client.key",
                          .key_pem = DataOf(*peer.clustermesh, self + ".etcd-client.key"),
                          .bundle_name = s.api.side + " " + kServerCertSecret + " ca.crt",
                          .bundle_pem = DataOf(*s.server, "ca.crt")},
                         now);
  if (!client.ok()) problems.push_back(client.message());
}

int NodePortOf(const std::optional<Json>& service) {
  if (!service) return 0;
  for (const Json& p : service->value("/spec/ports"_json_pointer, Json::array()))
    if (p.contains("nodePort")) return p.value("nodePort", 0);
  return 0;
}

DoctorCheck NodePortCheck(const MeshSide& home, const MeshSide& cloud) {
  std::vector<std::string> problems;
  const int h = NodePortOf(home.service), c = NodePortOf(cloud.service);
  for (const MeshSide* s : {&home, &cloud}) {
    const int port = s == &home ? h : c;
    if (port == 0) {
      problems.push_back(s->api.side + ": no NodePort clustermesh-apiserver Service");
    } else if (port != s->self.clustermesh_port) {
      problems.push_back(s->api.side + "'s clustermesh-apiserver is on NodePort " +
                         std::to_string(port) + ", fleet.yaml says " +
                         std::to_string(s->self.clustermesh_port));
    }
  }
  if (h != 0 && h == c) {
    problems.insert(problems.begin(),
                    "both clusters' clustermesh-apiservers are on NodePort " + std::to_string(h) +
                        ": the forwarder of each side listens on the other's port, so agents "
                        "reach their own apiserver");
  }
  if (problems.empty())
    return Pass("clustermesh NodePorts", "homelab " + std::to_string(h) + ", cloud " +
                                             std::to_string(c) + ", as fleet.yaml says");
  return Fail("clustermesh NodePorts", List(problems),
              "give each cluster its own port (helm upgrade cilium ... --set "
              "clustermesh.apiserver.service.type=NodePort --set "
              "clustermesh.apiserver.service.nodePort=<port>) and set federation.homelab and "
              "federation.cloud clustermesh_port to match");
}

DoctorCheck ClusterIdCheck(const MeshSide& home, const MeshSide& cloud) {
  std::vector<std::string> problems;
  std::string names[2], ids[2];
  int i = 0;
  for (const MeshSide* s : {&home, &cloud}) {
    const Json data = s->config ? s->config->value("data", Json::object()) : Json::object();
    names[i] = data.value("cluster-name", "");
    ids[i] = data.value("cluster-id", "");
    if (!s->config) {
      problems.push_back(s->api.side + ": no cilium-config ConfigMap (is Cilium installed?)");
    } else if (Status n = pki::CheckClusterMeshName(names[i]); !n.ok()) {
      problems.push_back(s->api.side + ": " + n.message());
    } else if (names[i] != s->self.name || ids[i] != std::to_string(s->self.id)) {
      problems.push_back(s->api.side + " Cilium runs as '" + names[i] + "' id " + ids[i] +
                         ", fleet.yaml says '" + s->self.name + "' id " +
                         std::to_string(s->self.id));
    }
    ++i;
  }
  if (home.config && cloud.config && ids[0] == ids[1])
    problems.insert(problems.begin(), "both clusters have Cilium cluster id " + ids[0]);
  if (home.config && cloud.config && names[0] == names[1])
    problems.insert(problems.begin(), "both clusters are named '" + names[0] + "' in Cilium");
  if (problems.empty())
    return Pass("Cilium cluster ids",
                "'" + names[0] + "' " + ids[0] + " and '" + names[1] + "' " + ids[1]);
  return Fail("Cilium cluster ids", List(problems),
              "each cluster needs its own cluster.name (at most 32 of a-z, 0-9 and '-') and "
              "cluster.id (1-255): 'cilium upgrade --set cluster.name=... --set cluster.id=...' "
              "(changing an id needs the cluster's pods restarted), and fleet.yaml's "
              "federation.homelab / federation.cloud to match");
}

std::vector<DoctorCheck> ClusterMeshChecks(const Api& home, const Api& cloud,
                                           const FederationRequest& r) {
  const ClusterMeshInputs in = ClusterMeshInputsFor(r);
  MeshSide h{home, in.homelab, in.homelab_mesh_ips, {}, {}, {}, {}, {}};
  MeshSide c{cloud, in.cloud, in.cloud_mesh_ips, {}, {}, {}, {}, {}};
  for (MeshSide* s : {&h, &c}) {
    Status read = ReadMeshSide(in.settings.ns, *s);
    if (!read.ok()) return {Fail("ClusterMesh", read.message(), "check the kubeconfig")};
  }
  std::vector<DoctorCheck> out;
  out.push_back(ClusterIdCheck(h, c));
  out.push_back(NodePortCheck(h, c));
  std::vector<std::string> bad, missing;
  CheckEndpoints(h, r.fleet.mesh.cidr, bad, missing);
  CheckEndpoints(c, r.fleet.mesh.cidr, bad, missing);
  for (const MeshSide* s : {&h, &c})
    if (!s->server) missing.push_back(s->api.side + " " + kServerCertSecret);
  out.push_back(
      !missing.empty() ? Fail("ClusterMesh endpoints", "missing: " + List(missing), kUpFixes)
      : bad.empty()
          ? Pass("ClusterMesh endpoints", "every remote cluster is dialed at a mesh address")
          : Fail("ClusterMesh endpoints",
                 "not a mesh address (" + r.fleet.mesh.cidr.ToString() + "): " + List(bad),
                 "a LAN or public address does not route over Nebula, so KVStoreMesh never "
                 "connects; " +
                     std::string(kUpFixes) + " with each peer's mesh address"));
  std::vector<std::string> problems;
  const pki::TimePoint now = r.seams.time->SystemNow();
  CheckCertificates(h, c, now, problems);
  CheckCertificates(c, h, now, problems);
  out.push_back(problems.empty() && missing.empty()
                    ? Pass("ClusterMesh certificates",
                           "each server certificate lists its mesh addresses and verifies "
                           "against the CA its peer trusts, with its own key; so do the clients")
                : problems.empty()
                    ? Fail("ClusterMesh certificates", "missing: " + List(missing), kUpFixes)
                    : Fail("ClusterMesh certificates", List(problems),
                           "run 'carrierarr up': it re-issues every certificate that does not "
                           "verify from each cluster's cilium-ca ('crypto/rsa: verification "
                           "error' in Cilium's log is one of these)"));
  return out;
}

}  // namespace

std::vector<DoctorCheck> DirectMembershipChecks(const spec::FleetSpec& fleet) {
  if (fleet.federation.mode != spec::FederationMode::kDirect) return {};
  const spec::DirectSpec& d = fleet.federation.direct;
  if (d.control_plane_pools.empty()) {
    return {Pass("Talos control plane",
                 "cloud nodes join as workers: etcd and the control plane stay in the homelab")};
  }
  std::string pools;
  for (const auto& p : d.control_plane_pools) pools += (pools.empty() ? "" : ", ") + p;
  const std::string risk = "pools " + pools +
                           " would be control-plane nodes, etcd members across the WAN: a "
                           "lossy or slow link costs the cluster its quorum";
  if (d.force_control_plane) {
    return {Pass("Talos control plane",
                 "WARNING (forced by federation.direct.force_control_plane): " + risk)};
  }
  return {Fail("Talos control plane", risk + "; 'render talos' refuses them",
               "keep cloud nodes workers (empty federation.direct.control_plane_pools), or set "
               "force_control_plane: true if you accept the risk")};
}

std::vector<DoctorCheck> FederationChecks(const FederationRequest& r) {
  const spec::FederationMode mode = r.fleet.federation.mode;
  if (mode != spec::FederationMode::kLiqo && mode != spec::FederationMode::kClusterMesh) return {};
  const std::string cloud_path = CloudKubeconfig(r.fleet, r.fleet_dir, r.state_dir);
  if (!PathExists(cloud_path)) {
    return {Fail("cloud cluster", "no kubeconfig at " + cloud_path,
                 "run 'carrierarr kubeconfig' once the k3s server is up")};
  }
  const Clusters clusters = SessionsFor(r);
  auto home_api = clusters.homelab.session->Api();
  auto cloud_api = clusters.cloud.session->Api();
  if (!home_api.ok() || !cloud_api.ok()) {
    return {Fail("cloud cluster",
                 (!home_api.ok() ? home_api.status() : cloud_api.status()).message(),
                 "check the kubeconfig")};
  }
  const Api home{kHomelab, *home_api}, cloud{kCloud, *cloud_api};
  std::vector<DoctorCheck> out = mode == spec::FederationMode::kLiqo
                                     ? LiqoChecks(home, cloud, r.fleet)
                                     : ClusterMeshChecks(home, cloud, r);
  out.push_back(CniCheck({home, cloud}, r.fleet));
  out.push_back(PodCidrCheck(home, cloud, r.fleet.federation.clustermesh.ns));
  return out;
}

}  // namespace carrierarr::federation
