#include "federation/federation.h"

#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>

#include "core/file_util.h"
#include "federation/clustermesh_objects.h"
#include "federation/clusters.h"
#include "federation/host_aliases.h"
#include "federation/liqo.h"
#include "kube/kubeconfig.h"
#include "ops/k3s_cluster.h"
#include "pki/pem.h"
#include "providers/kubernetes/manifests.h"
#include "providers/kubernetes/objects.h"
#include "providers/kubernetes/observe.h"

namespace carrierarr::federation {
namespace {

using kubernetes::ClusterTarget;
using kubernetes::KubeSession;
using Json = nlohmann::json;

// "federation/cloud/Secret/liqo-tenant-x/name": unique across both clusters.
std::string ObjectId(const std::string& side, const kube::ObjectRef& ref) {
  return "federation/" + side + "/" + ref.kind + "/" + (ref.ns.empty() ? "-" : ref.ns) + "/" +
         ref.name;
}

// Appends one resource per object in `objects`. A namespaced object depends on its Namespace
// when that is among `objects` (it is re-made with it: a deleted namespace takes it along), any
// other object on `base`; `extra` adds dependencies by object id. Only real dependencies: the
// planner re-makes what depends on a re-made resource, so repairing one object must not
// re-make its siblings.
void AddObjects(const Cluster& cluster, const std::vector<kube::Object>& objects,
                const std::vector<std::string>& base,
                const std::map<std::string, std::vector<std::string>>& extra,
                const kubernetes::ObjectSource& source, provision::ResourceList& out) {
  std::set<std::string> namespaces;
  for (const kube::Object& object : objects)
    if (object.value("kind", "") == "Namespace")
      namespaces.insert(kube::ObjectRef::Of(object).name);
  for (const kube::Object& object : objects) {
    const kube::ObjectRef ref = kube::ObjectRef::Of(object);
    const std::string id = ObjectId(cluster.side, ref);
    std::vector<std::string> deps = base;
    if (namespaces.count(ref.ns) != 0)
      deps = {ObjectId(cluster.side, {"v1", "Namespace", "", ref.ns})};
    if (auto it = extra.find(id); it != extra.end())
      deps.insert(deps.end(), it->second.begin(), it->second.end());
    out.push_back(kubernetes::MakeObjectResource({.session = cluster.session,
                                                  .planned = object,
                                                  .deps = deps,
                                                  .source = source,
                                                  .id = id,
                                                  .kind = kObjectKind}));
  }
}

// A source that hands out the objects as rendered.
kubernetes::ObjectSource Fixed(std::vector<kube::Object> objects) {
  auto all = std::make_shared<const std::vector<kube::Object>>(std::move(objects));
  return [all](const kube::ObjectRef& ref) -> Result<kube::Object> {
    for (const auto& o : *all)
      if (kube::ObjectRef::Of(o) == ref) return o;
    return Status::NotFound(ref.ToString() + " is not among the federation's objects");
  };
}

// Liqo's virtual nodes for the provider cluster `provider_id` in the homelab.
Result<std::vector<kube::Object>> VirtualNodes(kube::KubeApi& api, const std::string& provider_id) {
  auto nodes = api.List("v1", "Node", "", {.label_selector = VirtualNodeSelector(provider_id)});
  if (!nodes.ok()) return nodes.status().WithPrefix("looking for Liqo's virtual node");
  return nodes->items;
}

// ---- Liqo ----------------------------------------------------------------------------------

// Liqo's virtual node for the provider: a Node labelled liqo.io/type=virtual-node and with the
// provider's cluster id, Ready. Liqo makes it once the ResourceSlice is accepted; `up` waits for
// it (bounded) so that "up" means the homelab can offload.
class VirtualNodeWait final : public provision::Resource {
 public:
  VirtualNodeWait(std::shared_ptr<KubeSession> session, std::string provider_id,
                  std::vector<std::string> deps)
      : session_(std::move(session)),
        provider_id_(std::move(provider_id)),
        deps_(std::move(deps)) {}
  std::string id() const override { return "federation/homelab/virtual-node/" + provider_id_; }
  std::string kind() const override { return kWaitKind; }
  std::string summary() const override {
    return "Liqo's virtual node for cluster " + provider_id_ + " in the homelab";
  }
  std::vector<std::string> deps() const override { return deps_; }
  std::string hash() const override { return provider_id_; }
  Json attrs() const override { return {{"provider_cluster_id", provider_id_}}; }
  Result<bool> Exists() const override {
    auto api = session_->Api();
    if (!api.ok()) return api.status();
    return Ready(**api);
  }
  Result<Json> Create() override {
    auto api = session_->Api();
    if (!api.ok()) return api.status();
    TimeSource& time = *session_->seams().time;
    const auto deadline = time.MonotonicNow() + kLimit;
    std::cerr << "waiting for Liqo's virtual node for cluster " << provider_id_
              << " in the homelab (5 minutes at most)\n";
    for (;;) {
      auto ready = Ready(**api);
      if (!ready.ok()) return ready.status();
      if (*ready) return attrs();
      if (time.MonotonicNow() >= deadline) {
        return Status::DeadlineExceeded(
            "Liqo made no Ready virtual node for cluster " + provider_id_ +
            " within 5 minutes; 'kubectl get resourceslices -A' and 'kubectl get foreignclusters' "
            "in the homelab show why (the ResourceSlice's conditions), and the cloud cluster's "
            "'kubectl logs -n <liqo namespace> deploy/liqo-controller-manager'; run 'carrierarr "
            "up' again once it is there");
      }
      time.SleepFor(std::chrono::seconds(2));
    }
  }

 private:
  static constexpr auto kLimit = std::chrono::minutes(5);

  Result<bool> Ready(kube::KubeApi& api) const {
    auto nodes = VirtualNodes(api, provider_id_);
    if (!nodes.ok()) return nodes.status();
    return std::any_of(nodes->begin(), nodes->end(), kubernetes::IsReady);
  }

  std::shared_ptr<KubeSession> session_;
  std::string provider_id_;
  std::vector<std::string> deps_;
};

// use_liqoctl: `liqoctl peer` makes the peering (both sides); it is there once Liqo's virtual
// node for the provider is. `down` runs `liqoctl unpeer` with what the attrs recorded.
class LiqoctlPeering final : public provision::Resource {
 public:
  LiqoctlPeering(std::shared_ptr<KubeSession> home, LiqoctlTarget target,
                 std::map<std::string, std::string> resources, std::string provider_id,
                 std::vector<std::string> deps)
      : home_(std::move(home)),
        target_(std::move(target)),
        resources_(std::move(resources)),
        provider_id_(std::move(provider_id)),
        deps_(std::move(deps)) {}
  std::string id() const override { return "federation/homelab/liqoctl-peer/" + provider_id_; }
  std::string kind() const override { return kLiqoctlKind; }
  std::string summary() const override {
    return "liqoctl peer with cluster " + provider_id_ + " (networking disabled)";
  }
  std::vector<std::string> deps() const override { return deps_; }
  std::string hash() const override {
    std::string h;
    for (const auto& a : LiqoctlPeerArgv(target_, resources_)) h += a + " ";
    return h;
  }
  Json attrs() const override {
    return {{"liqoctl", target_.liqoctl},
            {"kubeconfig", target_.kubeconfig},
            {"context", target_.context},
            {"remote_kubeconfig", target_.remote_kubeconfig},
            {"namespace", target_.ns},
            {"remote_namespace", target_.remote_ns},
            {"provider_cluster_id", provider_id_}};
  }
  Result<bool> Exists() const override {
    auto api = home_->Api();
    if (!api.ok()) return api.status();
    auto nodes = VirtualNodes(**api, provider_id_);
    if (!nodes.ok()) return nodes.status();
    return !nodes->empty();
  }
  Result<Json> Create() override {
    CARRIERARR_RETURN_IF_ERROR(Run(*home_->seams().processes, LiqoctlPeerArgv(target_, resources_),
                                   std::chrono::minutes(11)));
    return attrs();
  }

  // Runs liqoctl; a failure quotes the end of what it said.
  static Status Run(ProcessRunner& processes, const std::vector<std::string>& argv,
                    std::chrono::milliseconds timeout) {
    auto run = processes.Run(argv, {.timeout = timeout, .max_output_bytes = size_t{64} * 1024});
    if (!run.ok()) return run.status().WithPrefix("running " + argv[0]);
    if (run->exit_code == 0) return Status::Ok();
    std::string said = run->err.empty() ? run->out : run->err;
    if (said.size() > 2000) said = "..." + said.substr(said.size() - 2000);
    return Status::FailedPrecondition("liqoctl " + argv[1] + " exited with status " +
                                      std::to_string(run->exit_code) + ": " + said);
  }

 private:
  std::shared_ptr<KubeSession> home_;
  LiqoctlTarget target_;
  std::map<std::string, std::string> resources_;
  std::string provider_id_;
  std::vector<std::string> deps_;
};

// liqoctl as the environment's PATH finds it.
std::optional<std::string> FindLiqoctl(const Environment& env) {
  const std::string path = env.Get("PATH");
  for (size_t at = 0; at <= path.size();) {
    const size_t end = std::min(path.find(':', at), path.size());
    const std::string candidate = (end > at ? path.substr(at, end - at) : ".") + "/liqoctl";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    at = end + 1;
  }
  return std::nullopt;
}

// Every offloaded namespace must exist: `up` makes its NamespaceOffloading, never the namespace
// (`down` would delete the user's workloads with it).
Status CheckOffloadedNamespaces(kube::KubeApi& homelab, const spec::LiqoSpec& liqo) {
  for (const auto& o : liqo.offload) {
    auto got = homelab.Get({"v1", "Namespace", "", o.name});
    if (!got.ok()) return got.status().WithPrefix("reading namespace " + o.name);
    if (got->has_value()) continue;
    return Status::FailedPrecondition(
        "federation.liqo.offload names namespace '" + o.name + "', which " + homelab.Describe() +
        " does not have; create it ('kubectl create namespace " + o.name +
        "') and run 'carrierarr up' again, before you create its pods: a pod made before its "
        "NamespaceOffloading stays Pending");
  }
  return Status::Ok();
}

// The consumer's identity Secret, rendered when applied: it carries the token the cloud
// cluster's token controller writes into the provider's token Secret (waited for, bounded).
kubernetes::ObjectSource IdentitySource(std::shared_ptr<KubeSession> cloud, LiqoPeering peering,
                                        std::string server, std::string ca_pem) {
  return [cloud = std::move(cloud), peering = std::move(peering), server = std::move(server),
          ca_pem = std::move(ca_pem)](const kube::ObjectRef&) -> Result<kube::Object> {
    auto api = cloud->Api();
    if (!api.ok()) return api.status();
    TimeSource& time = *cloud->seams().time;
    const kube::ObjectRef ref = ProviderTokenSecretRef(peering);
    const auto deadline = time.MonotonicNow() + std::chrono::seconds(30);
    for (;;) {
      auto secret = (*api)->Get(ref);
      if (!secret.ok()) return secret.status().WithPrefix("reading " + ref.ToString());
      // No Secret at all: it is not made yet (a plan asks too), nothing to wait for.
      if (!secret->has_value())
        return Status::FailedPrecondition(ref.ToString() + " is not made yet");
      if ((**secret).contains("/data/token"_json_pointer)) {
        return RenderIdentitySecret(peering, server, ca_pem, **secret);
      }
      if (time.MonotonicNow() >= deadline) {
        return Status::DeadlineExceeded(
            ref.ToString() +
            " of the cloud cluster got no token within 30 s: its token "
            "controller fills it once the ServiceAccount exists; 'kubectl get "
            "serviceaccount,secret -n " +
            ref.ns + "' there shows both");
      }
      time.SleepFor(std::chrono::milliseconds(500));
    }
  };
}

// A source that takes `special` from its own source and the rest from `rest`.
kubernetes::ObjectSource Either(kube::ObjectRef special, kubernetes::ObjectSource own,
                                kubernetes::ObjectSource rest) {
  return [special = std::move(special), own = std::move(own), rest = std::move(rest)](
             const kube::ObjectRef& ref) { return ref == special ? own(ref) : rest(ref); };
}

// use_liqoctl: liqoctl peers; carrierarr still makes each namespace's NamespaceOffloading (after
// the peering) and waits for the virtual node.
Result<FederationPlan> PlanLiqoctl(const FederationRequest& r, const Clusters& c,
                                   const LiqoPeering& peering, const LiqoObjects& objects) {
  auto liqoctl = FindLiqoctl(r.seams.environment);
  if (!liqoctl) {
    return Status::FailedPrecondition(
        "federation.liqo.use_liqoctl is true, but no liqoctl is in PATH; install the liqoctl of "
        "Liqo " +
        peering.consumer.version +
        " (https://docs.liqo.io, 'Install liqoctl'), or set use_liqoctl: false and carrierarr "
        "peers through the API");
  }
  const kubernetes::ClusterTarget& home = c.homelab.session->target();
  LiqoctlTarget target{.liqoctl = *liqoctl,
                       .kubeconfig = home.kubeconfig,
                       .context = home.context,
                       .remote_kubeconfig = c.cloud.session->target().kubeconfig,
                       .ns = peering.consumer.ns,
                       .remote_ns = peering.provider.ns};
  FederationPlan plan;
  auto peer = std::make_unique<LiqoctlPeering>(c.homelab.session, target, peering.resources,
                                               peering.provider.cluster_id, r.cloud_node_ids);
  const std::string peer_id = peer->id();
  plan.resources.push_back(std::move(peer));
  std::vector<kube::Object> offloadings;
  for (const auto& o : objects.consumer)
    if (o.value("kind", "") == "NamespaceOffloading") offloadings.push_back(o);
  AddObjects(c.homelab, offloadings, {peer_id}, {}, Fixed(offloadings), plan.resources);
  plan.resources.push_back(std::make_unique<VirtualNodeWait>(
      c.homelab.session, peering.provider.cluster_id, std::vector{peer_id}));
  return plan;
}

Result<FederationPlan> PlanLiqo(const FederationRequest& r, const Clusters& c) {
  auto home = c.homelab.session->Api();
  if (!home.ok()) return home.status().WithPrefix("federation: the homelab cluster");
  auto cloud = c.cloud.session->Api();
  if (!cloud.ok()) return cloud.status().WithPrefix("federation: the cloud cluster");
  const spec::LiqoSpec& liqo = r.fleet.federation.liqo;
  auto consumer = DiscoverLiqo(**home, liqo.ns, kHomelab);
  if (!consumer.ok()) return consumer.status();
  auto provider = DiscoverLiqo(**cloud, liqo.remote_ns, kCloud);
  if (!provider.ok()) return provider.status();
  CARRIERARR_RETURN_IF_ERROR(CheckLiqoVersions(*consumer, *provider));
  CARRIERARR_RETURN_IF_ERROR(CheckOffloadedNamespaces(**home, liqo));
  const LiqoPeering peering{.fleet = r.fleet.name,
                            .consumer = *consumer,
                            .provider = *provider,
                            .offload = liqo.offload,
                            .resources = LiqoResources(r.fleet)};
  LiqoObjects objects = RenderLiqoPeering(peering);
  if (liqo.use_liqoctl) return PlanLiqoctl(r, c, peering, objects);

  // Where the homelab's Liqo reaches the cloud cluster's API: as our kubeconfig of it says
  // (`carrierarr kubeconfig` wrote the k3s server's mesh address there).
  auto access = kube::LoadKubeconfig({.path = c.cloud.session->target().kubeconfig}, r.seams);
  if (!access.ok()) return access.status();
  Json placeholder = {{"data", {{"token", pki::Base64Encode("set when applied")}}}};
  auto identity = RenderIdentitySecret(peering, access->server, access->ca_pem, placeholder);
  if (!identity.ok()) return identity.status();
  // The consumer's tenant Namespace first, then its identity, then the rest.
  std::vector<kube::Object> consumer_objects = objects.consumer;
  auto at = consumer_objects.begin();
  if (at != consumer_objects.end() && at->value("kind", "") == "Namespace") ++at;
  consumer_objects.insert(at, *identity);

  // The identity carries the provider's token (re-made when the token Secret is); the
  // ResourceSlice needs the identity; the virtual node follows the ResourceSlice.
  const std::string token_id = ObjectId(kCloud, ProviderTokenSecretRef(peering));
  const kube::ObjectRef identity_ref = kube::ObjectRef::Of(*identity);
  const std::string identity_id = ObjectId(kHomelab, identity_ref);
  const std::string slice_id = ObjectId(kHomelab, ResourceSliceRef(peering));
  FederationPlan plan;
  AddObjects(c.cloud, objects.provider, r.cloud_node_ids,
             {{token_id, {ObjectId(kCloud, ProviderServiceAccountRef(peering))}}},
             Fixed(objects.provider), plan.resources);
  const kubernetes::ObjectSource consumer_source =
      Either(identity_ref, IdentitySource(c.cloud.session, peering, access->server, access->ca_pem),
             Fixed(objects.consumer));
  AddObjects(c.homelab, consumer_objects, {},
             {{identity_id, {token_id}}, {slice_id, {identity_id}}}, consumer_source,
             plan.resources);
  plan.resources.push_back(std::make_unique<VirtualNodeWait>(
      c.homelab.session, provider->cluster_id, std::vector{slice_id}));
  return plan;
}

// ---- ClusterMesh ---------------------------------------------------------------------------

// RenderClusterMesh once per run, on first use (it reads both clusters' CAs and certificates),
// shared by every ClusterMesh object's resource; thread-safe.
class ClusterMeshMaterial {
 public:
  ClusterMeshMaterial(Clusters clusters, ClusterMeshInputs in, TimeSource* time)
      : clusters_(std::move(clusters)), in_(std::move(in)), time_(time) {}
  Result<kube::Object> Find(const std::string& side, const kube::ObjectRef& ref) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!rendered_.has_value()) rendered_ = Render();
    if (!rendered_->ok()) return rendered_->status();
    for (const auto& o : side == kHomelab ? (*rendered_)->homelab : (*rendered_)->cloud)
      if (kube::ObjectRef::Of(o) == ref) return o;
    return Status::NotFound(ref.ToString() + " is not among ClusterMesh's objects");
  }

 private:
  Result<ClusterMeshObjects> Render() {
    auto home = clusters_.homelab.session->Api();
    if (!home.ok()) return home.status();
    auto cloud = clusters_.cloud.session->Api();
    if (!cloud.ok()) return cloud.status();
    return RenderClusterMesh(**home, **cloud, in_, time_->SystemNow());
  }

  Clusters clusters_;
  ClusterMeshInputs in_;
  TimeSource* time_;
  std::mutex mu_;
  std::optional<Result<ClusterMeshObjects>> rendered_;  // guarded by mu_
};

// The cloud cluster's nodes' InternalIPs inside the mesh: where a cloud cluster that this fleet
// did not provision (federation.cloud_kubeconfig) is reached (k3s runs with --node-ip=<mesh ip>).
Result<std::vector<std::string>> CloudNodeMeshIps(const Cluster& cloud, const Ipv4Net& mesh) {
  auto api = cloud.session->Api();
  if (!api.ok()) return api.status().WithPrefix("federation: the cloud cluster");
  auto nodes = (*api)->List("v1", "Node", "", {});
  if (!nodes.ok()) return nodes.status().WithPrefix("listing the cloud cluster's nodes");
  std::vector<std::string> out;
  for (const auto& node : nodes->items) {
    const std::string ip = kubernetes::NodeInternalIp(node);
    auto parsed = ParseIpv4(ip);
    if (parsed.ok() && mesh.Contains(*parsed)) out.push_back(ip);
  }
  return out;
}

Result<FederationPlan> PlanClusterMesh(const FederationRequest& r, const Clusters& c) {
  ClusterMeshInputs in = ClusterMeshInputsFor(r);
  if (in.cloud_mesh_ips.empty()) {
    auto ips = CloudNodeMeshIps(c.cloud, r.fleet.mesh.cidr);
    if (!ips.ok()) return ips.status();
    in.cloud_mesh_ips = std::move(*ips);
  }
  CARRIERARR_RETURN_IF_ERROR(CheckClusterMeshInputs(in));
  ClusterMeshObjects planned = ClusterMeshPlanned(in);
  auto material = std::make_shared<ClusterMeshMaterial>(c, in, r.seams.time);
  auto source = [material](const std::string& side) -> kubernetes::ObjectSource {
    return [material, side](const kube::ObjectRef& ref) { return material->Find(side, ref); };
  };
  FederationPlan plan;
  AddObjects(c.cloud, planned.cloud, r.cloud_node_ids, {}, source(kCloud), plan.resources);
  AddObjects(c.homelab, planned.homelab, {}, {}, source(kHomelab), plan.resources);
  const ClusterMeshObjects aliases = HostAliasPatches(in);
  for (const auto& patch : aliases.cloud)
    plan.resources.push_back(MakeHostAliases(c.cloud.session, kCloud, patch, r.cloud_node_ids));
  for (const auto& patch : aliases.homelab)
    plan.resources.push_back(MakeHostAliases(c.homelab.session, kHomelab, patch, {}));
  return plan;
}

}  // namespace

Result<FederationPlan> PlanFederation(const FederationRequest& request) {
  const spec::FederationMode mode = request.fleet.federation.mode;
  // Talos nodes are not launched by `up` yet: refused rather than booting the wrong OS.
  if (mode == spec::FederationMode::kDirect) {
    return Status::FailedPrecondition(
        "federation.mode 'direct': 'carrierarr up' does not launch Talos nodes yet; 'carrierarr "
        "render talos' writes each node's machine config (the patch, or with --worker-config "
        "the whole config to boot a Talos image with), or use 'liqo', 'clustermesh' or 'none'");
  }
  if (mode != spec::FederationMode::kLiqo && mode != spec::FederationMode::kClusterMesh) {
    return FederationPlan{};
  }
  const Clusters clusters = SessionsFor(request);
  const std::string& cloud_kubeconfig = clusters.cloud.session->target().kubeconfig;
  if (!PathExists(cloud_kubeconfig)) {
    FederationPlan wait;
    wait.hold_recorded = true;
    wait.notes.push_back(
        "federation (" + std::string(spec::FederationModeName(mode)) +
        ") waits for the cloud cluster: its kubeconfig is not at " + cloud_kubeconfig +
        " yet; once the k3s server is up ('carrierarr status' shows the cloud cluster), run "
        "'carrierarr kubeconfig', then 'carrierarr up' again");
    return wait;
  }
  return mode == spec::FederationMode::kLiqo ? PlanLiqo(request, clusters)
                                             : PlanClusterMesh(request, clusters);
}

Clusters SessionsFor(const FederationRequest& r) {
  const spec::FleetSpec& f = r.fleet;
  ClusterTarget home{f.homelab.kubeconfig, f.kubernetes.context, f.kubernetes.allow_insecure};
  ClusterTarget cloud{CloudKubeconfig(f, r.fleet_dir, r.state_dir), "", false};
  return {{kHomelab, std::make_shared<KubeSession>(home, r.seams)},
          {kCloud, std::make_shared<KubeSession>(cloud, r.seams)}};
}

ClusterMeshInputs ClusterMeshInputsFor(const FederationRequest& r) {
  const spec::FederationSpec& f = r.fleet.federation;
  return {.fleet = r.fleet.name,
          .settings = f.clustermesh,
          .homelab = f.homelab,
          .cloud = f.cloud,
          .homelab_mesh_ips = r.homelab_mesh_ips,
          .cloud_mesh_ips = r.cloud_mesh_ips};
}

std::string CloudKubeconfig(const spec::FleetSpec& fleet, const std::string& fleet_dir,
                            const std::string& state_dir) {
  const std::string& given = fleet.federation.cloud_kubeconfig;
  if (given.empty()) return ops::CloudKubeconfigPath(state_dir);
  return given.front() == '/' ? given : fleet_dir + "/" + given;
}

void RegisterKinds(provision::KindRegistry& kinds, const Seams& seams) {
  kinds.Register(kObjectKind, kubernetes::ObjectDeleter(seams));
  kinds.Register(kWaitKind, [](const Json&) { return Status::Ok(); });
  kinds.Register(kHostAliasesKind, HostAliasesRelease(seams));
  kinds.Register(kLiqoctlKind, [seams](const Json& attrs) {
    const LiqoctlTarget target{.liqoctl = attrs.value("liqoctl", ""),
                               .kubeconfig = attrs.value("kubeconfig", ""),
                               .context = attrs.value("context", ""),
                               .remote_kubeconfig = attrs.value("remote_kubeconfig", ""),
                               .ns = attrs.value("namespace", ""),
                               .remote_ns = attrs.value("remote_namespace", "")};
    if (::access(target.liqoctl.c_str(), X_OK) != 0) {
      return Status::FailedPrecondition(
          "the Liqo peering was made by " + target.liqoctl +
          ", which is gone; reinstall liqoctl there, or run 'liqoctl unpeer' yourself");
    }
    return LiqoctlPeering::Run(*seams.processes, LiqoctlUnpeerArgv(target),
                               std::chrono::minutes(3));
  });
}

}  // namespace carrierarr::federation
