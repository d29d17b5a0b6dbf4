// `status` of the federation: read-only, from both clusters.
#include "providers/kubernetes/observe.h"

#include <algorithm>
#include <charconv>

#include "core/file_util.h"
#include "federation/cilium_metrics.h"
#include "federation/clusters.h"
#include "federation/liqo.h"

namespace carrierarr::federation {
namespace {

using Json = nlohmann::json;

// "cpu 8, memory 32Gi, nvidia.com/gpu 1": what a virtual node offers.
std::string Capacity(const Json& node) {
  std::string out;
  const Json allocatable = node.value("/status/allocatable"_json_pointer, Json::object());
  for (const auto& [name, value] : allocatable.items()) {
    if (name != "cpu" && name != "memory" && name != "nvidia.com/gpu") continue;
    out += (out.empty() ? "" : ", ") + name + " " +
           (value.is_string() ? value.get<std::string>() : value.dump());
  }
  return out;
}

void ObserveLiqo(kube::KubeApi& home, kube::KubeApi& cloud, const spec::FleetSpec& fleet,
                 FederationView& view) {
  auto provider = DiscoverLiqo(cloud, fleet.federation.liqo.remote_ns, kCloud);
  if (!provider.ok()) {
    view.items.push_back({"Liqo in the cloud cluster", false, provider.status().message()});
    return;
  }
  auto nodes =
      home.List("v1", "Node", "", {.label_selector = VirtualNodeSelector(provider->cluster_id)});
  if (!nodes.ok()) {
    view.items.push_back({"virtual node", false, nodes.status().message()});
  } else if (nodes->items.empty()) {
    view.items.push_back({"virtual node", false,
                          "none for cluster " + provider->cluster_id +
                              " yet: Liqo makes it once the peering is accepted; 'carrierarr up' "
                              "makes (or repairs) the peering"});
  }
  for (const auto& node : nodes.ok() ? nodes->items : std::vector<Json>{}) {
    const bool ready = kubernetes::IsReady(node);
    view.items.push_back({"virtual node " + node["metadata"].value("name", ""), ready,
                          std::string(ready ? "Ready" : "NotReady") +
                              (Capacity(node).empty() ? "" : "; " + Capacity(node))});
  }
  for (const auto& o : fleet.federation.liqo.offload) {
    auto got =
        home.Get({"offloading.liqo.io/v1beta1", "NamespaceOffloading", o.name, "offloading"});
    if (!got.ok()) {
      view.items.push_back({"namespace " + o.name, false, got.status().message()});
    } else if (!got->has_value()) {
      view.items.push_back({"namespace " + o.name, false,
                            "no NamespaceOffloading 'offloading': run 'carrierarr up' (before "
                            "creating pods there: a pod made first stays Pending)"});
    } else {
      const Json status = (**got).value("status", Json::object());
      const std::string phase = status.value("offloadingPhase", "");
      view.items.push_back(
          {"namespace " + o.name, phase == "Ready",
           "offloading " + (phase.empty() ? std::string("pending") : phase) +
               (status.contains("remoteNamespaceName")
                    ? " (remote namespace " + status.value("remoteNamespaceName", "") + ")"
                    : "")});
    }
  }
}

// Each object ClusterMesh needs, present or not, and each forwarder's rollout.
void ObserveObjects(kube::KubeApi& api, const std::string& side,
                    const std::vector<kube::Object>& planned, FederationView& view) {
  for (const auto& p : planned) {
    const kube::ObjectRef ref = kube::ObjectRef::Of(p);
    auto got = api.Get(ref);
    const std::string what = side + " " + ref.ToString();
    if (!got.ok()) {
      view.items.push_back({what, false, got.status().message()});
    } else if (!got->has_value()) {
      view.items.push_back({what, false, "missing: 'carrierarr up' makes it again"});
    } else if (ref.kind == "DaemonSet") {
      const Json st = (**got).value("status", Json::object());
      const int want = st.value("desiredNumberScheduled", 0), ready = st.value("numberReady", 0);
      view.items.push_back({what, want > 0 && ready == want,
                            std::to_string(ready) + " of " + std::to_string(want) + " ready"});
    } else {
      view.items.push_back({what, true, "present"});
    }
  }
}

constexpr int kAgentMetricsPort = 9962;  // Cilium's default prometheus.port
constexpr size_t kMaxMetricsBytes = size_t{8} << 20;

// The agent's metrics port: its prometheus.io/port annotation (the chart sets it from
// prometheus.port), else Cilium's default.
int MetricsPort(const Json& meta) {
  const std::string annotated =
      meta.value("/annotations/prometheus.io~1port"_json_pointer, std::string());
  int port = 0;
  auto [end, ec] = std::from_chars(annotated.data(), annotated.data() + annotated.size(), port);
  if (ec != std::errc() || end != annotated.data() + annotated.size() || port < 1 || port > 65535)
    return kAgentMetricsPort;
  return port;
}

// Why an agent's metrics could not be read, with the fix.
std::string MetricsProblem(const Status& status, const std::string& ns) {
  if (status.code() == StatusCode::kPermissionDenied) {
    return "reading Cilium's agent metrics needs 'get pods/proxy' in " + ns + ": " +
           status.message();
  }
  if (status.code() == StatusCode::kUnavailable) {
    return "Cilium's agents serve no metrics (" + status.message() +
           "): set prometheus.enabled=true in Cilium's Helm values ('helm upgrade cilium "
           "cilium/cilium -n " +
           ns + " --reuse-values --set prometheus.enabled=true')";
  }
  return status.message();
}

// `remote` as the agents of `local` (the cluster behind `api`) have it.
MeshSync ObserveSync(kube::KubeApi& api, kube::KubeApi& remote_api, const std::string& ns,
                     const std::string& local, const std::string& remote) {
  MeshSync sync{.local = local, .remote = remote};
  auto identities = remote_api.List("cilium.io/v2", "CiliumIdentity", "", {});
  if (identities.ok()) sync.identities = static_cast<int64_t>(identities->items.size());
  auto pods = api.List("v1", "Pod", ns, {.label_selector = "k8s-app=cilium"});
  if (!pods.ok()) {
    sync.problem = pods.status().message();
    return sync;
  }
  sync.agents_total = static_cast<int>(pods->items.size());
  if (pods->items.empty()) sync.problem = "no Cilium agent pod (k8s-app=cilium) in " + ns;
  for (const Json& pod : pods->items) {
    if (sync.agents == kMaxAgentsRead) break;
    const Json meta = pod.value("metadata", Json::object());
    const std::string name = meta.value("name", "");
    const std::string phase = pod.value("/status/phase"_json_pointer, std::string());
    if (phase != "Running") {
      if (sync.problem.empty()) sync.problem = "Cilium agent " + name + " is " + phase;
      continue;
    }
    auto text = api.PodProxyGet(ns, name, MetricsPort(meta), "/metrics", kMaxMetricsBytes);
    auto view = text.ok() ? ParseAgentMetrics(*text) : Result<AgentMeshView>(text.status());
    if (!view.ok()) {
      if (sync.problem.empty()) sync.problem = MetricsProblem(view.status(), ns);
      continue;
    }
    ++sync.agents;
    int64_t connected = 0;
    for (const auto& [cluster, r] : view->remotes) connected += r.ready ? 1 : 0;
    sync.clusters_connected =
        sync.clusters_connected < 0 ? connected : std::min(sync.clusters_connected, connected);
    sync.clusters_total = std::max(sync.clusters_total, view->remote_clusters);
    auto it = view->remotes.find(remote);
    if (it == view->remotes.end() || !it->second.ready) continue;
    ++sync.agents_connected;
    sync.nodes = std::max(sync.nodes, it->second.nodes);
    sync.endpoints = std::max(sync.endpoints, it->second.endpoints);
  }
  return sync;
}

}  // namespace

FederationView ObserveFederation(const FederationRequest& r) {
  FederationView view;
  const spec::FederationMode mode = r.fleet.federation.mode;
  if (mode != spec::FederationMode::kLiqo && mode != spec::FederationMode::kClusterMesh)
    return view;
  view.mode = spec::FederationModeName(mode);
  const std::string cloud_path = CloudKubeconfig(r.fleet, r.fleet_dir, r.state_dir);
  if (!PathExists(cloud_path)) {
    view.waiting = "no cloud kubeconfig at " + cloud_path +
                   " yet: run 'carrierarr kubeconfig' once the k3s server is up, then "
                   "'carrierarr up'";
    return view;
  }
  const Clusters clusters = SessionsFor(r);
  auto home_api = clusters.homelab.session->Api();
  auto cloud_api = clusters.cloud.session->Api();
  if (!home_api.ok() || !cloud_api.ok()) {
    view.waiting = (!home_api.ok() ? home_api.status() : cloud_api.status()).message();
    return view;
  }
  if (mode == spec::FederationMode::kLiqo) {
    ObserveLiqo(**home_api, **cloud_api, r.fleet, view);
    return view;
  }
  // Only the objects' names matter here, not the addresses in them.
  ClusterMeshObjects planned = ClusterMeshPlanned(ClusterMeshInputsFor(r));
  ObserveObjects(**home_api, kHomelab, planned.homelab, view);
  ObserveObjects(**cloud_api, kCloud, planned.cloud, view);
  const spec::FederationSpec& f = r.fleet.federation;
  view.sync.push_back(
      ObserveSync(**home_api, **cloud_api, f.clustermesh.ns, f.homelab.name, f.cloud.name));
  view.sync.push_back(
      ObserveSync(**cloud_api, **home_api, f.clustermesh.ns, f.cloud.name, f.homelab.name));
  return view;
}

}  // namespace carrierarr::federation
