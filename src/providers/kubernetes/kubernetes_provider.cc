#include "providers/kubernetes/kubernetes_provider.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "core/file_util.h"
#include "providers/kubernetes/manifests.h"
#include "providers/kubernetes/objects.h"
#include "providers/kubernetes/observe.h"
#include "provision/file_resources.h"

namespace carrierarr::kubernetes {
namespace {

using Json = nlohmann::json;

ClusterTarget TargetOf(const spec::FleetSpec& fleet) {
  return {fleet.homelab.kubeconfig, fleet.kubernetes.context, fleet.kubernetes.allow_insecure};
}

std::string LabelSelector(const std::map<std::string, std::string>& labels) {
  std::string out;
  for (const auto& [k, v] : labels) out += (out.empty() ? "" : ",") + k + "=" + v;
  return out;
}

std::string FleetSelector(const spec::FleetSpec& fleet) {
  return LabelSelector({{kManagedByLabel, kManagedBy}, {kFleetLabel, fleet.name}});
}

std::string AdminTokenPath(const providers::FleetPaths& paths) {
  return paths.ControlDir() + "/admin.token";
}

std::string ReadOr(const std::string& path) {
  auto text = ReadFile(path);
  return text.ok() ? *text : std::string();
}

// Trailing newlines off (the token file ends in one; the Secret's value must not).
std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// The ManifestInput of a fleet: with the key material from the state directory when
// `with_material`, else with names only (what the plan is made of: material changes reach the
// objects through their deps' hashes).
struct InputParts {
  std::string ca_pem, admin_token, enrollment_pub;
  std::vector<NebulaMember> homelab;
  std::optional<NebulaMember> lighthouse;
  std::map<std::string, std::string> certs;
};

InputParts ReadParts(const providers::FleetRequest& r, bool with_material) {
  InputParts parts;
  auto material = [&](const std::string& path) { return with_material ? ReadOr(path) : ""; };
  parts.ca_pem = material(r.paths.CaCert());
  parts.admin_token = Trimmed(material(AdminTokenPath(r.paths)));
  parts.enrollment_pub = material(r.paths.EnrollmentPublicKey());
  for (const auto& node : r.nodes) {
    NebulaMember m{node.name, material(r.paths.HostCert(node.name)),
                   material(r.paths.HostKey(node.name)), material(r.paths.NebulaConfig(node.name))};
    parts.certs[node.name] = m.cert_pem;
    if (node.provider != kName) continue;
    if (node.role == mesh::Role::kHomelab) parts.homelab.push_back(m);
    if (node.role == mesh::Role::kLighthouse) parts.lighthouse = m;
  }
  return parts;
}

std::vector<Component> Render(const providers::FleetRequest& r, const InputParts& parts) {
  std::string first = parts.homelab.empty() ? "" : parts.homelab.front().node;
  ManifestInput input{.fleet = r.fleet,
                      .ca_pem = parts.ca_pem,
                      .homelab = parts.homelab,
                      .lighthouse = parts.lighthouse,
                      .lighthouse_node = first,
                      .control_plane_node = first,  // HomelabMembers put it first
                      .admin_token = parts.admin_token,
                      .enrollment_public_key_pem = parts.enrollment_pub,
                      .mesh_certificates = parts.certs};
  return RenderManifests(input);
}

// Renders the objects with their material as the state directory has it now, at each Exists()
// and Create() (never cached: a plan reads it before the certificates exist, the apply after).
class MaterialSource {
 public:
  explicit MaterialSource(const providers::FleetRequest& r)
      : fleet_(r.fleet), paths_(r.paths), nodes_(r.nodes) {}
  Result<kube::Object> Find(const kube::ObjectRef& ref) const {
    providers::FleetRequest r{.fleet = fleet_, .paths = paths_, .nodes = nodes_};
    for (auto& c : Render(r, ReadParts(r, true)))
      for (auto& o : c.objects)
        if (kube::ObjectRef::Of(o) == ref) return std::move(o);
    return Status::NotFound(ref.ToString() + " is not among the fleet's objects");
  }

 private:
  spec::FleetSpec fleet_;
  providers::FleetPaths paths_;
  std::vector<mesh::NodePlan> nodes_;
};

// What the Secrets and ConfigMaps are made of: resources ops and this provider add.
std::vector<std::string> MaterialIds(const providers::FleetRequest& r) {
  std::vector<std::string> ids{provision::kCaId, provision::kEnrollmentKeyId, "admin-token"};
  for (const auto& node : r.nodes) {
    if (node.provider != kName) continue;
    ids.push_back("cert/" + node.name);
    ids.push_back("config/" + node.name);
  }
  return ids;
}

// Writes .carrierarr/control/server: the control plane's node's InternalIP and the gRPC
// NodePort, so the operator's commands find it without flags.
class ServerAddressResource final : public provision::Resource {
 public:
  ServerAddressResource(std::shared_ptr<KubeSession> session, std::string node, uint16_t port,
                        std::string path, std::vector<std::string> deps)
      : session_(std::move(session)),
        node_(std::move(node)),
        port_(port),
        path_(std::move(path)),
        deps_(std::move(deps)) {}
  std::string id() const override { return "control-plane-address"; }
  std::string kind() const override { return "file"; }
  std::string summary() const override { return "the control plane's address (" + path_ + ")"; }
  std::vector<std::string> deps() const override { return deps_; }
  std::string hash() const override { return node_ + ":" + std::to_string(port_); }
  Json attrs() const override { return {{"path", path_}}; }
  Result<bool> Exists() const override {
    auto text = ReadFile(path_);
    return text.ok() && !text->empty();
  }
  Result<Json> Create() override {
    auto api = session_->Api();
    if (!api.ok()) return api.status();
    auto node = (*api)->Get({"v1", "Node", "", node_});
    if (!node.ok()) return node.status().WithPrefix("reading Node " + node_);
    if (!node->has_value()) return Status::NotFound("the cluster has no node " + node_);
    const std::string ip = NodeInternalIp(**node);
    if (ip.empty()) return Status::FailedPrecondition("node " + node_ + " has no InternalIP");
    CARRIERARR_RETURN_IF_ERROR(
        WriteFileAtomic(path_, ip + ":" + std::to_string(port_) + "\n", 0600));
    return attrs();
  }

 private:
  std::shared_ptr<KubeSession> session_;
  std::string node_;
  uint16_t port_;
  std::string path_;
  std::vector<std::string> deps_;
};

class KubernetesProvider final : public providers::Provider {
 public:
  explicit KubernetesProvider(Seams seams) : seams_(std::move(seams)) {}

  std::string name() const override { return kName; }
  // Its nodes are this cluster's, watched through the API server; but nothing here can ping
  // them (MeshRoundTrips stays empty), so `up` does not wait on pings for them.
  bool IsCloud() const override { return false; }

  // Nothing on this machine but the kubeconfig, which is the fleet's (homelab.kubeconfig,
  // providers.kubernetes.context): HomelabMembers reaches the API server before anything is
  // planned and fails there with the client's reason.
  Status CheckEnvironment() const override { return Status::Ok(); }

  Result<std::vector<std::string>> HomelabMembers(const spec::FleetSpec& fleet) const override {
    auto api = Session(TargetOf(fleet))->Api();
    if (!api.ok()) return api.status();
    // A Liqo virtual node stands for the cloud cluster: it runs no nebula of its own.
    std::string selector = LabelSelector(fleet.kubernetes.node_selector);
    selector +=
        (selector.empty() ? "" : ",") + std::string(kLiqoNodeTypeLabel) + "!=" + kLiqoVirtualNode;
    auto nodes = (*api)->List("v1", "Node", "", {.label_selector = selector});
    if (!nodes.ok()) return nodes.status().WithPrefix("listing the homelab's nodes");
    std::vector<std::string> names;
    for (const auto& n : nodes->items) names.push_back(n["metadata"].value("name", ""));
    std::sort(names.begin(), names.end());
    if (names.empty()) {
      return Status::FailedPrecondition("no node of " + (*api)->Describe() +
                                        " matches providers.kubernetes.node_selector '" +
                                        LabelSelector(fleet.kubernetes.node_selector) + "'");
    }
    const std::string& cp = fleet.kubernetes.control_plane_node;
    if (!cp.empty()) {
      auto it = std::find(names.begin(), names.end(), cp);
      if (it == names.end()) {
        return Status::FailedPrecondition("providers.kubernetes.control_plane_node '" + cp +
                                          "' is not a joining node of the cluster");
      }
      std::rotate(names.begin(), it, it + 1);  // the first holds homelab.mesh_ip
    }
    return names;
  }

  std::string LighthouseEndpoint(const spec::FleetSpec& fleet, const mesh::NodePlan& /*node*/,
                                 const provision::FleetState& /*state*/) const override {
    // The router's forward (required by the fleet rules). Homelab members could reach the pod
    // inside the LAN too, but one address for everyone keeps the configs alike
    // (docs/providers/kubernetes.md).
    return fleet.kubernetes.lighthouse_endpoint;
  }

  providers::NodeFiles NebulaFiles(const providers::FleetPaths& /*paths*/,
                                   const mesh::NodePlan& node) const override {
    const std::string certs = kNebulaCertDir;
    return {certs + "/ca.crt", certs + "/" + node.name + ".crt", certs + "/" + node.name + ".key",
            kNebulaTun};
  }

  std::string RunningResourceId(const mesh::NodePlan& node) const override {
    // The fleet's spec is not at hand: the rollout ids name the default namespaces' objects by
    // kind and name only through RolloutId, which AddFleetResources uses the same way.
    return node.role == mesh::Role::kLighthouse ? RolloutId("Deployment", kLighthouseDeployment)
                                                : RolloutId("DaemonSet", kNebulaDaemonSet);
  }

  void AddNodeResources(const providers::NodeRequest& /*request*/,
                        provision::ResourceList& /*out*/) const override {
    // Everything a member needs is in the fleet's objects (AddFleetResources).
  }

  void AddFleetResources(const providers::FleetRequest& r,
                         provision::ResourceList& out) const override;

  void RegisterKinds(provision::KindRegistry& kinds) const override {
    RegisterObjectKinds(kinds, seams_);
  }

  // From the cluster: each member's nebula pod, the lighthouse's pod (observe.h).
  std::map<std::string, providers::NodeObservation> ObserveNodes(
      const spec::FleetSpec& fleet, const provision::FleetState& /*state*/,
      const std::vector<mesh::NodePlan>& nodes, uint32_t /*lighthouse*/,
      uint32_t /*homelab*/) const override {
    std::vector<std::string> members;
    for (const auto& n : nodes)
      if (n.role == mesh::Role::kHomelab) members.push_back(n.name);
    auto api = Session(TargetOf(fleet))->Api();
    Result<HomelabView> view =
        api.ok() ? ObserveHomelab(**api, fleet, members) : Result<HomelabView>(api.status());
    std::map<std::string, providers::NodeObservation> out;
    if (!view.ok()) {
      for (const auto& n : nodes) out[n.name].problem = view.status().message();
      return out;
    }
    auto by_node = ToObservations(*view);
    for (const auto& n : nodes) {
      if (n.role != mesh::Role::kLighthouse) {
        auto it = by_node.find(n.name);
        if (it != by_node.end()) out[n.name] = it->second;
        continue;
      }
      providers::NodeObservation& o = out[n.name];
      o.problem = "no lighthouse pod; run 'carrierarr up'";
      for (const auto& pod : view->pods) {
        if (pod.workload != kLighthouseDeployment) continue;
        o.created = true;
        o.running = pod.ready;
        o.detail = "pod " + pod.name + " " + pod.phase + " on " + pod.node;
        o.problem = pod.ready ? "" : pod.why;
      }
    }
    return out;
  }

  // doctor: the cluster's side (observe.h), when the homelab is on this provider.
  std::vector<providers::DoctorCheck> DeploymentChecks(
      const providers::DoctorRequest& request) const override {
    if (request.fleet.homelab.provider != kName) return {};
    KubeDoctorInputs in{.lighthouse_in_cluster = request.fleet.lighthouse.provider == kName};
    for (const auto& n : request.nodes) {
      if (n.role != mesh::Role::kHomelab) continue;
      in.selected_nodes.push_back(n.name);
      if (auto pem = ReadFile(request.paths.HostCert(n.name)); pem.ok()) in.cert_pem[n.name] = *pem;
    }
    auto api = Session(TargetOf(request.fleet))->Api();
    if (!api.ok()) {
      return {
          providers::DoctorCheck::Fail("kubernetes API", api.status().message(),
                                       "check homelab.kubeconfig and "
                                       "providers.kubernetes.context, then 'kubectl get nodes'")};
    }
    return KubernetesChecks(**api, request.fleet, in);
  }

  bool HasManifests() const override { return true; }
  // The objects `up` applies, with the material the state directory holds now.
  Result<std::vector<std::string>> WriteManifests(const providers::FleetRequest& r,
                                                  const std::string& out_dir) const override {
    return WriteKustomizeDirs(Render(r, ReadParts(r, true)), out_dir);
  }

  Result<std::vector<std::string>> Leftovers(const spec::FleetSpec& fleet) const override;

 private:
  static std::string RolloutId(const std::string& kind, const std::string& name) {
    return "rollout/" + kind + "/" + name;
  }
  std::shared_ptr<KubeSession> Session(const ClusterTarget& target) const {
    std::lock_guard<std::mutex> lock(mu_);
    const std::string key = target.ToJson().dump();
    auto& s = sessions_[key];
    if (s == nullptr) s = std::make_shared<KubeSession>(target, seams_);
    return s;
  }
  void AddObjects(const providers::FleetRequest& r, const std::shared_ptr<KubeSession>& session,
                  provision::ResourceList& out) const;

  Seams seams_;
  mutable std::mutex mu_;
  mutable std::map<std::string, std::shared_ptr<KubeSession>> sessions_;  // guarded by mu_
};

bool IsWorkload(const std::string& kind) { return kind == "DaemonSet" || kind == "Deployment"; }
bool IsMaterial(const std::string& kind) { return kind == "Secret" || kind == "ConfigMap"; }

void KubernetesProvider::AddObjects(const providers::FleetRequest& r,
                                    const std::shared_ptr<KubeSession>& session,
                                    provision::ResourceList& out) const {
  auto source = std::make_shared<MaterialSource>(r);
  const std::vector<Component> planned = Render(r, ReadParts(r, false));
  std::map<std::string, std::string> namespace_ids;  // namespace -> its resource's id
  for (const auto& c : planned) {
    for (const auto& o : c.objects) {
      kube::ObjectRef ref = kube::ObjectRef::Of(o);
      if (ref.kind == "Namespace")
        namespace_ids[ref.name] = ObjectResourceId("Namespace", "", ref.name);
    }
  }
  for (const auto& c : planned) {
    std::vector<std::string> earlier;  // this component's objects so far: applied in its order
    for (const auto& o : c.objects) {
      kube::ObjectRef ref = kube::ObjectRef::Of(o);
      std::vector<std::string> deps = earlier;
      auto ns = namespace_ids.find(ref.ns);
      if (ns != namespace_ids.end() &&
          std::find(deps.begin(), deps.end(), ns->second) == deps.end()) {
        deps.push_back(ns->second);
      }
      if (IsMaterial(ref.kind)) {
        for (auto& id : MaterialIds(r)) deps.push_back(std::move(id));
      }
      const std::string id = ObjectResourceId(ref.kind, ref.ns, ref.name);
      out.push_back(MakeObjectResource(
          {.session = session,
           .planned = o,
           .deps = deps,
           .source = [source](const kube::ObjectRef& want) { return source->Find(want); }}));
      if (IsWorkload(ref.kind)) {
        out.push_back(MakeRolloutResource({.session = session, .ref = ref, .deps = {id}}));
      }
      earlier.push_back(id);
    }
  }
}

void KubernetesProvider::AddFleetResources(const providers::FleetRequest& r,
                                           provision::ResourceList& out) const {
  auto session = Session(TargetOf(r.fleet));
  out.push_back(MakeTokenFileResource("admin-token", "the control plane's admin token",
                                      AdminTokenPath(r.paths)));
  AddObjects(r, session, out);
  std::string first;
  for (const auto& n : r.nodes)
    if (n.role == mesh::Role::kHomelab && first.empty()) first = n.name;
  out.push_back(std::make_unique<ServerAddressResource>(
      session, first, r.fleet.control_plane.grpc_node_port, r.paths.ControlDir() + "/server",
      std::vector<std::string>{RolloutId("Deployment", kControlPlaneDeployment)}));
}

Result<std::vector<std::string>> KubernetesProvider::Leftovers(const spec::FleetSpec& fleet) const {
  auto api = Session(TargetOf(fleet))->Api();
  if (!api.ok()) return api.status();
  std::vector<std::string> left;
  const kube::ListOptions options{.label_selector = FleetSelector(fleet)};
  static const std::pair<const char*, const char*> kKinds[] = {
      {"apps/v1", "DaemonSet"}, {"apps/v1", "Deployment"}, {"v1", "Service"},
      {"v1", "Secret"},         {"v1", "ConfigMap"},       {"v1", "PersistentVolumeClaim"},
      {"v1", "ServiceAccount"}};
  for (const std::string& ns :
       {fleet.kubernetes.nebula_namespace, fleet.kubernetes.control_plane_namespace}) {
    for (const auto& [api_version, kind] : kKinds) {
      auto list = (*api)->List(api_version, kind, ns, options);
      if (!list.ok()) return list.status().WithPrefix(std::string("listing ") + kind + " in " + ns);
      for (const auto& o : list->items) left.push_back(kube::ObjectRef::Of(o).ToString());
    }
  }
  auto namespaces = (*api)->List("v1", "Namespace", "", options);
  if (!namespaces.ok()) return namespaces.status().WithPrefix("listing Namespaces");
  for (const auto& o : namespaces->items) left.push_back(kube::ObjectRef::Of(o).ToString());
  return left;
}

}  // namespace

std::unique_ptr<providers::Provider> MakeKubernetesProvider(const Seams& seams) {
  return std::make_unique<KubernetesProvider>(seams);
}

}  // namespace carrierarr::kubernetes
