#include "federation/liqo.h"

#include <set>

#include "pki/pem.h"
#include "providers/kubernetes/manifests.h"

namespace carrierarr::federation {
namespace {

using Json = nlohmann::json;

constexpr char kClusterIdSelector[] = "app.kubernetes.io/name=clusterid-configmap";
constexpr char kControllerManagerSelector[] =
    "app.kubernetes.io/name=controller-manager,app.kubernetes.io/component=controller-manager";
constexpr char kRemoteClusterId[] = "liqo.io/remote-cluster-id";
constexpr char kLiqoAuthApi[] = "authentication.liqo.io/v1beta1";
constexpr char kLiqoOffloadingApi[] = "offloading.liqo.io/v1beta1";
constexpr char kConsumerAccount[] = "carrierarr-liqo-consumer";
constexpr char kConsumerToken[] = "carrierarr-liqo-consumer-token";

// Liqo's cluster ids: ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ (its CRDs' pattern).
bool IsClusterId(const std::string& s) {
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (s.empty() || s.size() > 253 || !alnum(s.front()) || !alnum(s.back())) return false;
  for (char c : s)
    if (!alnum(c) && c != '-') return false;
  return true;
}

// fleet.yaml's key for the namespace of `side`, for messages.
std::string NamespaceKey(const std::string& side) {
  return side == "homelab" ? "federation.liqo.namespace" : "federation.liqo.remote_namespace";
}

// The tag of the controller-manager container's image ("ghcr.io/liqotech/liqo/controller-manager:
// v1.0.1" -> "v1.0.1"), as `liqoctl version` reads it; "" when the image has none.
std::string ImageTag(std::string image) {
  image = image.substr(0, image.find('@'));
  const size_t colon = image.rfind(':');
  if (colon == std::string::npos || image.find('/', colon) != std::string::npos) return "";
  return image.substr(colon + 1);
}

Result<std::string> LiqoVersion(kube::KubeApi& api, const std::string& ns,
                                const std::string& side) {
  auto deployments =
      api.List("apps/v1", "Deployment", ns, {.label_selector = kControllerManagerSelector});
  if (!deployments.ok()) return deployments.status().WithPrefix("reading Liqo's version");
  if (deployments->items.size() != 1) {
    return Status::FailedPrecondition(
        "Liqo in namespace " + ns + " of the " + side + " cluster (" + api.Describe() + ") has " +
        std::to_string(deployments->items.size()) + " controller-manager Deployments (labelled " +
        kControllerManagerSelector +
        "), where one tells its version; check its install ('kubectl "
        "get deploy -n " +
        ns + "')");
  }
  for (const Json& c :
       deployments->items[0].value("/spec/template/spec/containers"_json_pointer, Json::array())) {
    if (c.value("name", "") != "controller-manager") continue;
    const std::string tag = ImageTag(c.value("image", ""));
    if (!tag.empty()) return tag;
  }
  return Status::FailedPrecondition("Liqo's controller-manager in namespace " + ns + " of the " +
                                    side + " cluster has no image tag to read its version from");
}

Json Labels(const std::string& fleet, const std::string& peer) {
  return {{kubernetes::kManagedByLabel, kubernetes::kManagedBy},
          {kubernetes::kFleetLabel, fleet},
          {kRemoteClusterId, peer}};
}

Json Meta(const std::string& fleet, const std::string& peer, const std::string& ns,
          const std::string& name) {
  Json m = {{"name", name}, {"labels", Labels(fleet, peer)}};
  if (!ns.empty()) m["namespace"] = ns;
  return m;
}

Json TenantNamespace(const std::string& fleet, const std::string& peer, const std::string& name) {
  Json meta = Meta(fleet, peer, "", name);
  meta["labels"]["liqo.io/tenant-namespace"] = "true";
  return {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", meta}};
}

std::vector<kube::Object> ProviderObjects(const LiqoPeering& p) {
  const std::string& consumer = p.consumer.cluster_id;
  const std::string ns = ProviderTenantNamespace(p);
  Json token_meta = Meta(p.fleet, consumer, ns, kConsumerToken);
  token_meta["annotations"] = {{"kubernetes.io/service-account.name", kConsumerAccount}};
  return {TenantNamespace(p.fleet, consumer, ns),
          {{"apiVersion", "v1"},
           {"kind", "ServiceAccount"},
           {"metadata", Meta(p.fleet, consumer, ns, kConsumerAccount)}},
          {{"apiVersion", "v1"},
           {"kind", "Secret"},
           {"metadata", token_meta},
           {"type", "kubernetes.io/service-account-token"}},
          {{"apiVersion", "rbac.authorization.k8s.io/v1"},
           {"kind", "RoleBinding"},
           {"metadata", Meta(p.fleet, consumer, ns, "liqo-binding-liqo-remote-controlplane")},
           {"roleRef",
            {{"apiGroup", "rbac.authorization.k8s.io"},
             {"kind", "ClusterRole"},
             {"name", "liqo-remote-controlplane"}}},
           {"subjects",
            Json::array(
                {{{"kind", "ServiceAccount"}, {"name", kConsumerAccount}, {"namespace", ns}}})}},
          {{"apiVersion", kLiqoAuthApi},
           {"kind", "Tenant"},
           {"metadata", Meta(p.fleet, consumer, ns, consumer)},
           {"spec",
            {{"clusterID", consumer},
             {"authzPolicy", "TolerateNoHandshake"},
             {"tenantCondition", "Active"}}}}};
}

Json Offloading(const LiqoPeering& p, const spec::OffloadedNamespace& o) {
  Json spec = {
      {"namespaceMappingStrategy", spec::NamespaceMappingName(o.mapping)},
      {"podOffloadingStrategy", spec::PodOffloadingName(o.pods)},
      // Only this peering's virtual node: other Liqo peerings of the homelab stay out of it.
      {"clusterSelector",
       {{"nodeSelectorTerms",
         Json::array({{{"matchExpressions",
                        Json::array({{{"key", kRemoteClusterId},
                                      {"operator", "In"},
                                      {"values", Json::array({p.provider.cluster_id})}}})}}})}}}};
  if (o.mapping == spec::NamespaceMapping::kSelectedName && !o.remote_name.empty())
    spec["remoteNamespaceName"] = o.remote_name;
  Json meta = Meta(p.fleet, p.provider.cluster_id, o.name, "offloading");
  return {{"apiVersion", kLiqoOffloadingApi},
          {"kind", "NamespaceOffloading"},
          {"metadata", meta},
          {"spec", spec}};
}

std::vector<kube::Object> ConsumerObjects(const LiqoPeering& p) {
  const std::string& provider = p.provider.cluster_id;
  Json slice_meta = Meta(p.fleet, provider, ConsumerTenantNamespace(p), provider);
  slice_meta["labels"]["liqo.io/remoteID"] = provider;
  slice_meta["labels"]["liqo.io/replication"] = "true";
  slice_meta["annotations"] = {{"liqo.io/create-virtual-node", "true"}};
  Json resources = Json::object();
  for (const auto& [name, quantity] : p.resources) resources[name] = quantity;
  std::vector<kube::Object> out = {
      TenantNamespace(p.fleet, provider, ConsumerTenantNamespace(p)),
      {{"apiVersion", kLiqoAuthApi},
       {"kind", "ResourceSlice"},
       {"metadata", slice_meta},
       {"spec",
        {{"class", "default"}, {"providerClusterID", provider}, {"resources", resources}}}}};
  for (const auto& o : p.offload) out.push_back(Offloading(p, o));
  return out;
}

}  // namespace

Result<LiqoInstall> DiscoverLiqo(kube::KubeApi& api, const std::string& configured_ns,
                                 const std::string& side) {
  auto maps = api.List("v1", "ConfigMap", "", {.label_selector = kClusterIdSelector});
  if (!maps.ok()) {
    return maps.status().WithPrefix("looking for Liqo in the " + side + " cluster");
  }
  const std::string where = "the " + side + " cluster (" + api.Describe() + ")";
  std::set<std::string> found;
  for (const auto& m : maps->items) found.insert(m["metadata"].value("namespace", ""));
  if (found.empty()) {
    return Status::FailedPrecondition(
        "Liqo is not installed in " + where + ": no ConfigMap labelled " + kClusterIdSelector +
        " in any namespace; install Liqo there ('liqoctl install', or its Helm chart) and run "
        "'carrierarr up' again");
  }
  std::string list;
  for (const auto& ns : found) list += (list.empty() ? "" : ", ") + ns;
  if (!configured_ns.empty() && found.count(configured_ns) == 0) {
    return Status::FailedPrecondition(
        "fleet.yaml's " + NamespaceKey(side) + " is '" + configured_ns + "', but Liqo is in " +
        list + " in " + where + ": set " + NamespaceKey(side) + ": " + *found.begin() +
        " (or leave it empty to find it); a wrong namespace is what makes liqoctl say "
        "\"configmaps 'configmaps' not found\"");
  }
  if (configured_ns.empty() && found.size() > 1) {
    return Status::FailedPrecondition("Liqo is installed in several namespaces of " + where + " (" +
                                      list + "); say which in " + NamespaceKey(side));
  }
  LiqoInstall install{.ns = configured_ns.empty() ? *found.begin() : configured_ns};
  for (const auto& m : maps->items) {
    if (m["metadata"].value("namespace", "") != install.ns) continue;
    install.cluster_id = m.value("/data/CLUSTER_ID"_json_pointer, std::string());
  }
  if (!IsClusterId(install.cluster_id)) {
    return Status::FailedPrecondition(
        "Liqo's clusterid ConfigMap in namespace " + install.ns + " of " + where +
        " has no valid CLUSTER_ID (lowercase letters, digits and '-'); reinstall Liqo there with "
        "a cluster id");
  }
  auto version = LiqoVersion(api, install.ns, side);
  if (!version.ok()) return version.status();
  install.version = *version;
  return install;
}

Status CheckLiqoVersions(const LiqoInstall& homelab, const LiqoInstall& cloud) {
  // "v1.0.1" -> "1.0": Liqo's peering changes between minor releases, not patches.
  auto minor = [](std::string v) {
    if (!v.empty() && v[0] == 'v') v.erase(0, 1);
    const size_t dot = v.find('.');
    const size_t second = dot == std::string::npos ? dot : v.find('.', dot + 1);
    return second == std::string::npos ? v : v.substr(0, second);
  };
  if (minor(homelab.version) == minor(cloud.version)) return Status::Ok();
  return Status::FailedPrecondition(
      "Liqo " + homelab.version + " in the homelab (namespace " + homelab.ns + ") and Liqo " +
      cloud.version + " in the cloud cluster (namespace " + cloud.ns +
      ") are different releases, and a peering needs the same one on both sides; upgrade one "
      "('liqoctl version' in each cluster shows it), then run 'carrierarr up' again");
}

std::map<std::string, std::string> LiqoResources(const spec::FleetSpec& fleet) {
  std::map<std::string, std::string> out = {{"cpu", "8"}, {"memory", "32Gi"}, {"pods", "110"}};
  int gpus = 0;
  for (const auto& pool : fleet.pools)
    if (pool.type == spec::PoolType::kGpuWorker) gpus += pool.count;
  if (gpus > 0) out["nvidia.com/gpu"] = std::to_string(gpus);
  for (const auto& [name, quantity] : fleet.federation.liqo.resources) out[name] = quantity;
  return out;
}

std::string ConsumerTenantNamespace(const LiqoPeering& p) {
  return "liqo-tenant-" + p.provider.cluster_id;
}

std::string ProviderTenantNamespace(const LiqoPeering& p) {
  return "liqo-tenant-" + p.consumer.cluster_id;
}

LiqoObjects RenderLiqoPeering(const LiqoPeering& peering) {
  return {ProviderObjects(peering), ConsumerObjects(peering)};
}

kube::ObjectRef ProviderServiceAccountRef(const LiqoPeering& peering) {
  return {"v1", "ServiceAccount", ProviderTenantNamespace(peering), kConsumerAccount};
}

std::string VirtualNodeSelector(const std::string& provider_cluster_id) {
  return std::string(kubernetes::kLiqoNodeTypeLabel) + "=" + kubernetes::kLiqoVirtualNode +
         ",liqo.io/remote-cluster-id=" + provider_cluster_id;
}

kube::ObjectRef ResourceSliceRef(const LiqoPeering& peering) {
  return {kLiqoAuthApi, "ResourceSlice", ConsumerTenantNamespace(peering),
          peering.provider.cluster_id};
}

kube::ObjectRef ProviderTokenSecretRef(const LiqoPeering& peering) {
  return {"v1", "Secret", ProviderTenantNamespace(peering), kConsumerToken};
}

Result<kube::Object> RenderIdentitySecret(const LiqoPeering& peering, const std::string& server,
                                          const std::string& ca_pem,
                                          const kube::Object& token_secret) {
  const std::string encoded = token_secret.value("/data/token"_json_pointer, std::string());
  auto token = pki::Base64Decode(encoded);
  if (encoded.empty() || !token.has_value() || token->empty()) {
    return Status::FailedPrecondition(
        ProviderTokenSecretRef(peering).ToString() +
        " of the cloud cluster has no token yet (its token controller fills it in)");
  }
  const std::string& provider = peering.provider.cluster_id;
  // JSON is YAML: every kubeconfig reader takes it, and nothing needs quoting by hand.
  const Json kubeconfig = {
      {"apiVersion", "v1"},
      {"kind", "Config"},
      {"clusters", Json::array({{{"name", provider},
                                 {"cluster",
                                  {{"server", server},
                                   {"certificate-authority-data", pki::Base64Encode(ca_pem)}}}}})},
      {"users", Json::array({{{"name", kConsumerAccount}, {"user", {{"token", *token}}}}})},
      {"contexts", Json::array({{{"name", provider},
                                 {"context",
                                  {{"cluster", provider},
                                   {"user", kConsumerAccount},
                                   {"namespace", ProviderTenantNamespace(peering)}}}}})},
      {"current-context", provider}};
  Json meta = Meta(peering.fleet, provider, ConsumerTenantNamespace(peering),
                   "kubeconfig-controlplane-" + provider);
  meta["labels"]["liqo.io/identity-type"] = "ControlPlane";
  meta["annotations"] = {{"liqo.io/remote-tenant-namespace", ProviderTenantNamespace(peering)}};
  return Json{{"apiVersion", "v1"},
              {"kind", "Secret"},
              {"metadata", meta},
              {"type", "Opaque"},
              {"data", {{"kubeconfig", pki::Base64Encode(kubeconfig.dump())}}}};
}

namespace {

std::vector<std::string> LiqoctlCommon(const LiqoctlTarget& t, const std::string& verb) {
  std::vector<std::string> argv = {t.liqoctl, verb};
  if (!t.kubeconfig.empty()) argv.push_back("--kubeconfig=" + t.kubeconfig);
  if (!t.context.empty()) argv.push_back("--context=" + t.context);
  argv.insert(argv.end(), {"--remote-kubeconfig=" + t.remote_kubeconfig, "--namespace=" + t.ns,
                           "--remote-namespace=" + t.remote_ns});
  return argv;
}

}  // namespace

std::vector<std::string> LiqoctlPeerArgv(const LiqoctlTarget& target,
                                         const std::map<std::string, std::string>& resources) {
  std::vector<std::string> argv = LiqoctlCommon(target, "peer");
  argv.push_back("--networking-disabled");
  for (const auto& [name, quantity] : resources) {
    if (name == "cpu" || name == "memory" || name == "pods") {
      argv.push_back("--" + name + "=" + quantity);
    } else {
      argv.push_back("--resource=" + name + "=" + quantity);
    }
  }
  return argv;
}

std::vector<std::string> LiqoctlUnpeerArgv(const LiqoctlTarget& target) {
  return LiqoctlCommon(target, "unpeer");
}

std::vector<kube::Object> RenderOffloadedWorkload(const WorkloadOptions& o) {
  const Json labels = {{"app.kubernetes.io/name", "gpu-inference"}};
  const Json meta = {{"name", "gpu-inference"}, {"namespace", o.ns}, {"labels", labels}};
  const std::string gpus = std::to_string(o.gpus);
  Json container = {
      {"name", "ollama"},
      {"image", o.image},
      {"ports", Json::array({{{"name", "http"}, {"containerPort", 11434}}})},
      {"env", Json::array({{{"name", "OLLAMA_HOST"}, {"value", "0.0.0.0:11434"}}})},
      {"readinessProbe", {{"httpGet", {{"path", "/"}, {"port", "http"}}}, {"periodSeconds", 10}}},
      {"resources",
       {{"requests", {{"cpu", "2"}, {"memory", "8Gi"}, {"nvidia.com/gpu", gpus}}},
        {"limits", {{"memory", "16Gi"}, {"nvidia.com/gpu", gpus}}}}},
      {"volumeMounts", Json::array({{{"name", "models"}, {"mountPath", "/root/.ollama"}}})}};
  Json pod = {// Liqo's virtual node, and only there: its taint keeps every other pod off it.
              {"nodeSelector", {{kubernetes::kLiqoNodeTypeLabel, kubernetes::kLiqoVirtualNode}}},
              {"tolerations", Json::array({{{"key", "virtual-node.liqo.io/not-allowed"},
                                            {"operator", "Exists"},
                                            {"effect", "NoExecute"}}})},
              {"containers", Json::array({container})},
              {"volumes", Json::array({{{"name", "models"}, {"emptyDir", Json::object()}}})}};
  return {
      {{"apiVersion", "apps/v1"},
       {"kind", "Deployment"},
       {"metadata", meta},
       {"spec",
        {{"replicas", 1},
         {"selector", {{"matchLabels", labels}}},
         {"template", {{"metadata", {{"labels", labels}}}, {"spec", pod}}}}}},
      {{"apiVersion", "v1"},
       {"kind", "Service"},
       {"metadata", meta},
       {"spec",
        {{"selector", labels},
         {"ports", Json::array({{{"name", "http"}, {"port", 11434}, {"targetPort", "http"}}})}}}}};
}

}  // namespace carrierarr::federation
