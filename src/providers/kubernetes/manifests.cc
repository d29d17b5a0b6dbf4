// The Kubernetes objects of a homelab cluster on the mesh (see manifests.h). Objects are built as
// JSON: JSON is valid YAML, so kustomize and server-side apply read the same bytes.
#include "providers/kubernetes/manifests.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "core/file_util.h"
#include "core/ipv4.h"
#include "pki/pem.h"

namespace carrierarr::kubernetes {
namespace {

using nlohmann::json;

constexpr char kStateDir[] = "/var/lib/carrierarr";
constexpr char kSecretDir[] = "/etc/carrierarr/secrets";
constexpr char kMeshIdentityDir[] = "/etc/carrierarr/mesh-identity";
constexpr int kNonRootUid = 65532;

json Labels(const ManifestInput& in, const std::string& name) {
  return {{kManagedByLabel, kManagedBy},
          {kFleetLabel, in.fleet.name},
          {"app.kubernetes.io/name", name},
          {"app.kubernetes.io/part-of", "carrierarr"}};
}

json Meta(const ManifestInput& in, const std::string& name, const std::string& ns,
          const std::string& app) {
  json m = {{"name", name}, {"labels", Labels(in, app)}};
  if (!ns.empty()) m["namespace"] = ns;
  return m;
}

// What a workload's pods are selected by (and its Service, when it has one).
json Selector(const ManifestInput& in, const std::string& app) {
  return {{"app.kubernetes.io/name", app}, {kFleetLabel, in.fleet.name}};
}

json ServicePort(const std::string& name, const std::string& protocol, int port, int node_port) {
  return {{"name", name},
          {"protocol", protocol},
          {"port", port},
          {"targetPort", port},
          {"nodePort", node_port}};
}

// A NodePort Service `app` in `ns` in front of the pods of workload `app`.
json NodePortService(const ManifestInput& in, const std::string& app, const std::string& ns,
                     json ports) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", Meta(in, app, ns, app)},
          {"spec", {{"type", "NodePort"}, {"selector", Selector(in, app)}, {"ports", ports}}}};
}

json Namespace(const ManifestInput& in, const std::string& ns) {
  return {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", Meta(in, ns, "", ns)}};
}

// Nebula's pods need hostNetwork, NET_ADMIN and the /dev/net/tun hostPath, the control plane's
// hostNetwork: the baseline and restricted Pod Security levels refuse them, so these two
// namespaces admit them.
json PrivilegedNamespace(const ManifestInput& in, const std::string& ns) {
  json n = Namespace(in, ns);
  n["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "privileged";
  return n;
}

// Secrets carry base64 `data` (not stringData) so apply and kustomize see identical objects.
json Secret(const ManifestInput& in, const std::string& name, const std::string& ns,
            const std::string& app, const std::map<std::string, std::string>& values) {
  json data = json::object();
  for (const auto& [k, v] : values) data[k] = pki::Base64Encode(v);
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata", Meta(in, name, ns, app)},
          {"type", "Opaque"},
          {"data", data}};
}

json ConfigMap(const ManifestInput& in, const std::string& name, const std::string& ns,
               const std::string& app, const std::map<std::string, std::string>& values) {
  json data = json::object();
  for (const auto& [k, v] : values) data[k] = v;
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", Meta(in, name, ns, app)},
          {"data", data}};
}

json Resources(const std::string& cpu, const std::string& mem, const std::string& cpu_limit,
               const std::string& mem_limit) {
  return {{"requests", {{"cpu", cpu}, {"memory", mem}}},
          {"limits", {{"cpu", cpu_limit}, {"memory", mem_limit}}}};
}

json TunVolume() {
  return {{"name", "tun"}, {"hostPath", {{"path", "/dev/net/tun"}, {"type", "CharDevice"}}}};
}

// Nebula needs NET_ADMIN to create and address its tun device; nothing more.
json NebulaSecurity() {
  return {{"privileged", false},
          {"allowPrivilegeEscalation", false},
          {"capabilities", {{"add", json::array({"NET_ADMIN"})}, {"drop", json::array({"ALL"})}}}};
}

json NebulaMounts() {
  return json::array({{{"name", "certs"}, {"mountPath", kNebulaCertDir}, {"readOnly", true}},
                      {{"name", "config"}, {"mountPath", kNebulaConfigDir}, {"readOnly", true}},
                      {{"name", "tun"}, {"mountPath", "/dev/net/tun"}}});
}

// Nebula has no health endpoint; a liveness probe would have to exec into an image without a
// shell we control, and a dead nebula exits (restartPolicy restarts it), so none is set.
json NebulaDaemonSet(const ManifestInput& in) {
  const auto& k = in.fleet.kubernetes;
  json pod = {
      {"serviceAccountName", "nebula"},
      {"hostNetwork", true},
      {"dnsPolicy", "ClusterFirstWithHostNet"},
      {"priorityClassName", "system-node-critical"},
      {"tolerations", json::array({{{"operator", "Exists"}}})},
      {"containers",
       json::array(
           {{{"name", "nebula"},
             {"image", k.nebula_image},
             {"args",
              json::array({"-config", std::string(kNebulaConfigDir) + "/$(NODE_NAME).yml"})},
             {"env",
              json::array({{{"name", "NODE_NAME"},
                            {"valueFrom", {{"fieldRef", {{"fieldPath", "spec.nodeName"}}}}}}})},
             {"securityContext", NebulaSecurity()},
             {"resources", Resources("50m", "32Mi", "500m", "128Mi")},
             {"volumeMounts", NebulaMounts()}}})},
      {"volumes", json::array({{{"name", "certs"}, {"secret", {{"secretName", "nebula-certs"}}}},
                               {{"name", "config"}, {"configMap", {{"name", "nebula-config"}}}},
                               TunVolume()})}};
  if (!k.node_selector.empty()) pod["nodeSelector"] = k.node_selector;
  // Never on a Liqo virtual node: it tolerates every taint, so only this keeps it off one (Liqo
  // would offload a privileged host-network pod into the cloud cluster).
  pod["affinity"] = {
      {"nodeAffinity",
       {{"requiredDuringSchedulingIgnoredDuringExecution",
         {{"nodeSelectorTerms",
           json::array({{{"matchExpressions",
                          json::array({{{"key", kLiqoNodeTypeLabel},
                                        {"operator", "NotIn"},
                                        {"values", json::array({kLiqoVirtualNode})}}})}}})}}}}}};
  json sel = Selector(in, "nebula");
  return {{"apiVersion", "apps/v1"},
          {"kind", "DaemonSet"},
          {"metadata", Meta(in, kNebulaDaemonSet, k.nebula_namespace, "nebula")},
          {"spec",
           {{"selector", {{"matchLabels", sel}}},
            {"updateStrategy", {{"type", "RollingUpdate"}}},
            {"template", {{"metadata", {{"labels", Labels(in, "nebula")}}}, {"spec", pod}}}}}};
}

Component NebulaComponent(const ManifestInput& in) {
  const std::string& ns = in.fleet.kubernetes.nebula_namespace;
  std::map<std::string, std::string> secret{{"ca.crt", in.ca_pem}};
  std::map<std::string, std::string> configs;
  for (const auto& m : in.homelab) {
    secret[m.node + ".crt"] = m.cert_pem;
    secret[m.node + ".key"] = m.key_pem;
    configs[m.node + ".yml"] = m.config_yaml;
  }
  json sa = {{"apiVersion", "v1"},
             {"kind", "ServiceAccount"},
             {"metadata", Meta(in, "nebula", ns, "nebula")},
             {"automountServiceAccountToken", false}};
  return {"nebula",
          {PrivilegedNamespace(in, ns), sa, Secret(in, "nebula-certs", ns, "nebula", secret),
           ConfigMap(in, "nebula-config", ns, "nebula", configs), NebulaDaemonSet(in)}};
}

// A nodePort exposure needs lighthouse_port inside 30000-32767; the provider's fleet rules
// report a port outside it, so this pure function just uses the port.
Component LighthouseComponent(const ManifestInput& in) {
  const auto& k = in.fleet.kubernetes;
  const std::string& ns = k.nebula_namespace;
  const NebulaMember& lh = *in.lighthouse;
  const std::string app = kLighthouseDeployment;
  int port = in.fleet.mesh.lighthouse_port;
  bool host_port = k.lighthouse_exposure == spec::LighthouseExposure::kHostPort;
  json cport = {{"name", "nebula"}, {"containerPort", port}, {"protocol", "UDP"}};
  if (host_port) cport["hostPort"] = port;
  json sel = Selector(in, app);
  json pod = {
      {"nodeSelector", {{"kubernetes.io/hostname", in.lighthouse_node}}},
      {"tolerations", json::array({{{"operator", "Exists"}}})},
      {"containers", json::array({{{"name", "nebula"},
                                   {"image", k.nebula_image},
                                   {"args", json::array({"-config", std::string(kNebulaConfigDir) +
                                                                        "/" + lh.node + ".yml"})},
                                   {"ports", json::array({cport})},
                                   {"securityContext", NebulaSecurity()},
                                   {"resources", Resources("50m", "32Mi", "500m", "128Mi")},
                                   {"volumeMounts", NebulaMounts()}}})},
      {"volumes",
       json::array({{{"name", "certs"}, {"secret", {{"secretName", "nebula-lighthouse"}}}},
                    {{"name", "config"}, {"configMap", {{"name", "nebula-lighthouse"}}}},
                    TunVolume()})}};
  json deploy = {{"apiVersion", "apps/v1"},
                 {"kind", "Deployment"},
                 {"metadata", Meta(in, app, ns, app)},
                 {"spec",
                  {{"replicas", 1},
                   {"strategy", {{"type", "Recreate"}}},
                   {"selector", {{"matchLabels", sel}}},
                   {"template", {{"metadata", {{"labels", Labels(in, app)}}}, {"spec", pod}}}}}};
  Component c{"lighthouse",
              {Secret(in, app, ns, app,
                      {{"ca.crt", in.ca_pem},
                       {lh.node + ".crt", lh.cert_pem},
                       {lh.node + ".key", lh.key_pem}}),
               ConfigMap(in, app, ns, app, {{lh.node + ".yml", lh.config_yaml}}), deploy}};
  if (!host_port) {
    c.objects.push_back(
        NodePortService(in, app, ns, json::array({ServicePort("nebula", "UDP", port, port)})));
  }
  return c;
}

// Restricted pod security: non-root, read-only root, no capabilities.
json RestrictedSecurity() {
  return {{"runAsNonRoot", true},
          {"runAsUser", kNonRootUid},
          {"runAsGroup", kNonRootUid},
          {"readOnlyRootFilesystem", true},
          {"allowPrivilegeEscalation", false},
          {"capabilities", {{"drop", json::array({"ALL"})}}},
          {"seccompProfile", {{"type", "RuntimeDefault"}}}};
}

// serve reads <state-dir>/admin.token; the initContainer copies the Secret's token there 0600
// (a Secret mount cannot be the state dir: serve writes its database and files beside it).
json ControlPlaneInit(const ManifestInput& in) {
  std::string copy =
      std::string("install -m 0600 ") + kSecretDir + "/admin.token " + kStateDir + "/admin.token";
  return {{"name", "admin-token"},
          {"image", in.fleet.control_plane.image},
          {"command", json::array({"/bin/sh", "-c", copy})},
          {"securityContext", RestrictedSecurity()},
          {"resources", Resources("10m", "16Mi", "100m", "64Mi")},
          {"volumeMounts",
           json::array({{{"name", "state"}, {"mountPath", kStateDir}},
                        {{"name", "secrets"}, {"mountPath", kSecretDir}, {"readOnly", true}}})}};
}

json ControlPlaneArgs(const ManifestInput& in) {
  const auto& cp = in.fleet.control_plane;
  // 0.0.0.0, not the mesh address only: the operator's NodePort Service targets the node's own
  // address, and agents reach the same socket through Nebula's tun on the host network.
  json args = json::array({"serve", "--state-dir", kStateDir, "--listen",
                           "0.0.0.0:" + std::to_string(cp.grpc_port), "--http",
                           "0.0.0.0:" + std::to_string(cp.http_port), "--enrollment-key",
                           std::string(kSecretDir) + "/enrollment.pub", "--mesh-identity",
                           kMeshIdentityDir, "--mesh-cidr", in.fleet.mesh.cidr.ToString()});
  // The URL holds a password: it stays in its Secret and reaches the flag through $(VAR).
  if (!cp.database_url_secret.empty()) {
    args.push_back("--db");
    args.push_back("$(CARRIERARR_DB_URL)");
  }
  return args;
}

json ControlPlaneContainer(const ManifestInput& in) {
  const auto& cp = in.fleet.control_plane;
  json probe = {{"httpGet", {{"path", "/health"}, {"port", cp.http_port}}},
                {"periodSeconds", 10},
                {"failureThreshold", 3}};
  json c = {
      {"name", "control-plane"},
      {"image", cp.image},
      {"command", json::array({"carrierarr-fleet"})},
      {"args", ControlPlaneArgs(in)},
      {"ports",
       json::array({{{"name", "grpc"}, {"containerPort", cp.grpc_port}, {"protocol", "TCP"}},
                    {{"name", "http"}, {"containerPort", cp.http_port}, {"protocol", "TCP"}}})},
      {"readinessProbe", probe},
      {"livenessProbe", probe},
      {"securityContext", RestrictedSecurity()},
      {"resources", Resources("100m", "128Mi", "1", "512Mi")},
      {"volumeMounts",
       json::array(
           {{{"name", "state"}, {"mountPath", kStateDir}},
            {{"name", "secrets"}, {"mountPath", kSecretDir}, {"readOnly", true}},
            {{"name", "mesh-identity"}, {"mountPath", kMeshIdentityDir}, {"readOnly", true}}})}};
  c["livenessProbe"]["initialDelaySeconds"] = 10;
  if (!cp.database_url_secret.empty()) {
    c["env"] = json::array(
        {{{"name", "CARRIERARR_DB_URL"},
          {"valueFrom", {{"secretKeyRef", {{"name", cp.database_url_secret}, {"key", "url"}}}}}}});
  }
  return c;
}

json ControlPlaneDeployment(const ManifestInput& in) {
  const auto& cp = in.fleet.control_plane;
  const std::string& ns = in.fleet.kubernetes.control_plane_namespace;
  const std::string app = kControlPlaneDeployment;
  json identity_items = json::array({{{"key", "ca.crt"}, {"path", "ca.crt"}}});
  for (const auto& [node, pem] : in.mesh_certificates) {
    identity_items.push_back({{"key", node + ".crt"}, {"path", node + ".crt"}});
  }
  json state = cp.database_url_secret.empty()
                   ? json{{"name", "state"}, {"persistentVolumeClaim", {{"claimName", app}}}}
                   : json{{"name", "state"}, {"emptyDir", json::object()}};
  json pod = {
      {"hostNetwork", true},
      {"dnsPolicy", "ClusterFirstWithHostNet"},
      {"automountServiceAccountToken", false},
      {"nodeSelector", {{"kubernetes.io/hostname", in.control_plane_node}}},
      {"tolerations", json::array({{{"operator", "Exists"}}})},
      {"securityContext",
       {{"runAsNonRoot", true},
        {"fsGroup", kNonRootUid},
        {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
      {"initContainers", json::array({ControlPlaneInit(in)})},
      {"containers", json::array({ControlPlaneContainer(in)})},
      {"volumes",
       json::array(
           {state,
            {{"name", "secrets"},
             {"secret",
              {{"secretName", app},
               {"items", json::array({{{"key", "admin.token"}, {"path", "admin.token"}},
                                      {{"key", "enrollment.pub"}, {"path", "enrollment.pub"}}})}}}},
            {{"name", "mesh-identity"},
             {"secret", {{"secretName", app}, {"items", identity_items}}}}})}};
  json sel = Selector(in, app);
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", Meta(in, app, ns, app)},
          {"spec",
           {{"replicas", 1},
            {"strategy", {{"type", "Recreate"}}},
            {"selector", {{"matchLabels", sel}}},
            {"template", {{"metadata", {{"labels", Labels(in, app)}}}, {"spec", pod}}}}}};
}

Component ControlPlaneComponent(const ManifestInput& in) {
  const auto& cp = in.fleet.control_plane;
  const std::string& ns = in.fleet.kubernetes.control_plane_namespace;
  const std::string app = kControlPlaneDeployment;
  std::map<std::string, std::string> secret{{"admin.token", in.admin_token},
                                            {"enrollment.pub", in.enrollment_public_key_pem},
                                            {"ca.crt", in.ca_pem}};
  for (const auto& [node, pem] : in.mesh_certificates) secret[node + ".crt"] = pem;
  Component c{"control-plane", {PrivilegedNamespace(in, ns), Secret(in, app, ns, app, secret)}};
  if (cp.database_url_secret.empty()) {
    json spec = {{"accessModes", json::array({"ReadWriteOnce"})},
                 {"resources", {{"requests", {{"storage", cp.storage_size}}}}}};
    if (!cp.storage_class.empty()) spec["storageClassName"] = cp.storage_class;
    c.objects.push_back({{"apiVersion", "v1"},
                         {"kind", "PersistentVolumeClaim"},
                         {"metadata", Meta(in, app, ns, app)},
                         {"spec", spec}});
  }
  c.objects.push_back(ControlPlaneDeployment(in));
  c.objects.push_back(
      NodePortService(in, app, ns,
                      json::array({ServicePort("grpc", "TCP", cp.grpc_port, cp.grpc_node_port),
                                   ServicePort("http", "TCP", cp.http_port, cp.http_node_port)})));
  return c;
}

std::string FileName(const json& obj) {
  std::string kind = obj.at("kind").get<std::string>();
  for (char& ch : kind) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return kind + "-" + obj.at("metadata").at("name").get<std::string>() + ".yaml";
}

// One secretGenerator entry: the Secret's values become files under secrets/<name>/, read back
// by kustomize with the same name, namespace and labels.
Result<json> SecretGenerator(const json& secret, const std::string& dir,
                             std::vector<std::string>& written) {
  const std::string name = secret.at("metadata").at("name").get<std::string>();
  const std::string sdir = dir + "/secrets/" + name;
  CARRIERARR_RETURN_IF_ERROR(MakeDirectory(dir + "/secrets", 0700));
  CARRIERARR_RETURN_IF_ERROR(MakeDirectory(sdir, 0700));
  json files = json::array();
  for (const auto& [key, value] : secret.at("data").items()) {
    std::optional<std::string> raw = pki::Base64Decode(value.get<std::string>());
    if (!raw) return Status::Internal("secret " + name + " key " + key + " is not base64");
    CARRIERARR_RETURN_IF_ERROR(WriteFileAtomic(sdir + "/" + key, *raw, 0600));
    written.push_back(sdir + "/" + key);
    files.push_back(key + "=secrets/" + name + "/" + key);
  }
  json gen = {{"name", name},
              {"type", secret.value("type", "Opaque")},
              {"files", files},
              {"options", {{"labels", secret.at("metadata").at("labels")}}}};
  if (secret.at("metadata").contains("namespace")) {
    gen["namespace"] = secret.at("metadata").at("namespace");
  }
  return gen;
}

}  // namespace

std::vector<Component> RenderManifests(const ManifestInput& input) {
  std::vector<Component> out;
  out.push_back(NebulaComponent(input));
  if (input.lighthouse) out.push_back(LighthouseComponent(input));
  out.push_back(ControlPlaneComponent(input));
  return out;
}

Result<std::vector<std::string>> WriteKustomizeDirs(const std::vector<Component>& components,
                                                    const std::string& out_dir) {
  std::vector<std::string> written;
  CARRIERARR_RETURN_IF_ERROR(MakeDirectory(out_dir, 0755));
  for (const Component& c : components) {
    const std::string dir = out_dir + "/" + c.name;
    CARRIERARR_RETURN_IF_ERROR(MakeDirectory(dir, 0755));
    json resources = json::array();
    json generators = json::array();
    for (const json& obj : c.objects) {
      if (obj.at("kind") == "Secret") {
        Result<json> gen = SecretGenerator(obj, dir, written);
        if (!gen.ok()) return gen.status();
        generators.push_back(*gen);
        continue;
      }
      const std::string file = FileName(obj);
      CARRIERARR_RETURN_IF_ERROR(WriteFileAtomic(dir + "/" + file, obj.dump(2) + "\n", 0644));
      written.push_back(dir + "/" + file);
      resources.push_back(file);
    }
    json k = {{"apiVersion", "kustomize.config.k8s.io/v1beta1"},
              {"kind", "Kustomization"},
              {"resources", resources}};
    if (!generators.empty()) {
      k["secretGenerator"] = generators;
      k["generatorOptions"] = {{"disableNameSuffixHash", true}};
    }
    CARRIERARR_RETURN_IF_ERROR(
        WriteFileAtomic(dir + "/kustomization.yaml", k.dump(2) + "\n", 0644));
    written.push_back(dir + "/kustomization.yaml");
    // The secret files never belong in a GitOps repository.
    CARRIERARR_RETURN_IF_ERROR(WriteFileAtomic(dir + "/.gitignore", "secrets/\n", 0644));
    written.push_back(dir + "/.gitignore");
  }
  return written;
}

}  // namespace carrierarr::kubernetes
