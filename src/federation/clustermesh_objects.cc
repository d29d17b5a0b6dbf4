#include "federation/clustermesh_objects.h"

#include <chrono>
#include <optional>

#include "pki/pem.h"
#include "providers/kubernetes/manifests.h"

namespace carrierarr::federation {
namespace {

using Json = nlohmann::json;

// A certificate found in a cluster is kept while it stays valid this much longer.
constexpr auto kRenewBefore = std::chrono::hours(24 * 30);

// One cluster and the other, as seen from it.
struct Side {
  std::string role;  // "homelab", "cloud": for messages
  const spec::ClusterName& self;
  const std::vector<std::string>& self_ips;
  const spec::ClusterName& peer;
  const std::vector<std::string>& peer_ips;
};

Side HomelabSide(const ClusterMeshInputs& in) {
  return {"homelab", in.homelab, in.homelab_mesh_ips, in.cloud, in.cloud_mesh_ips};
}
Side CloudSide(const ClusterMeshInputs& in) {
  return {"cloud", in.cloud, in.cloud_mesh_ips, in.homelab, in.homelab_mesh_ips};
}

Json Labels(const ClusterMeshInputs& in, const std::string& app) {
  return {{kubernetes::kManagedByLabel, kubernetes::kManagedBy},
          {kubernetes::kFleetLabel, in.fleet},
          {"app.kubernetes.io/name", app},
          {"app.kubernetes.io/part-of", "carrierarr"}};
}

Json SecretObject(const ClusterMeshInputs& in, const std::string& name, const std::string& type,
                  Json data) {
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata",
           {{"name", name}, {"namespace", in.settings.ns}, {"labels", Labels(in, "clustermesh")}}},
          {"type", type},
          {"data", std::move(data)}};
}

// The address the peer is dialed on ("" while unknown: the planned objects only name things).
std::string PeerIp(const Side& s) { return s.peer_ips.empty() ? "" : s.peer_ips.front(); }

// The files of one remote cluster in cilium-clustermesh / cilium-kvstoremesh (base64).
Json RemoteClusterData(const Side& s, const std::string& ca_pem, const pki::PemPair& client) {
  const std::string& peer = s.peer.name;
  return {{peer,
           pki::Base64Encode(EtcdClientConfig(peer, MeshHostName(peer), s.peer.clustermesh_port))},
          {peer + ".etcd-client-ca.crt", pki::Base64Encode(ca_pem)},
          {peer + ".etcd-client.crt", pki::Base64Encode(client.cert_pem)},
          {peer + ".etcd-client.key", pki::Base64Encode(client.key_pem)}};
}

// socat on every node of this side: the peer's port here, forwarded over the tun to the peer.
Json Forwarder(const ClusterMeshInputs& in, const Side& s) {
  const std::string port = std::to_string(s.peer.clustermesh_port);
  Json labels = Labels(in, "clustermesh-forward");
  labels["carrierarr.io/remote-cluster"] = s.peer.name;
  Json selector = {{"app.kubernetes.io/name", "clustermesh-forward"},
                   {kubernetes::kFleetLabel, in.fleet},
                   {"carrierarr.io/remote-cluster", s.peer.name}};
  Json container = {{"name", "socat"},
                    {"image", in.settings.forwarder_image},
                    {"args", Json::array({"TCP-LISTEN:" + port + ",fork,reuseaddr",
                                          "TCP:" + PeerIp(s) + ":" + port})},
                    {"resources",
                     {{"requests", {{"cpu", "10m"}, {"memory", "16Mi"}}},
                      {"limits", {{"cpu", "200m"}, {"memory", "64Mi"}}}}},
                    {"securityContext",
                     {{"runAsNonRoot", true},
                      {"runAsUser", 65534},
                      {"allowPrivilegeEscalation", false},
                      {"readOnlyRootFilesystem", true},
                      {"capabilities", {{"drop", Json::array({"ALL"})}}}}}};
  Json pod = {
      {"hostNetwork", true},
      {"dnsPolicy", "ClusterFirstWithHostNet"},
      {"tolerations", Json::array({{{"operator", "Exists"}}})},
      {"affinity",
       {{"nodeAffinity",
         {{"requiredDuringSchedulingIgnoredDuringExecution",
           {{"nodeSelectorTerms",
             Json::array(
                 {{{"matchExpressions",
                    Json::array(
                        {{{"key", kubernetes::kLiqoNodeTypeLabel},
                          {"operator", "NotIn"},
                          {"values", Json::array({kubernetes::kLiqoVirtualNode})}}})}}})}}}}}}},
      {"containers", Json::array({container})}};
  return {{"apiVersion", "apps/v1"},
          {"kind", "DaemonSet"},
          {"metadata",
           {{"name", "clustermesh-forward-" + s.peer.name},
            {"namespace", in.settings.ns},
            {"labels", labels}}},
          {"spec",
           {{"selector", {{"matchLabels", selector}}},
            {"template", {{"metadata", {{"labels", labels}}}, {"spec", pod}}}}}};
}

// What one side holds: its own server certificate, the peer's client files, the forwarder.
std::vector<kube::Object> SideObjects(const ClusterMeshInputs& in, const Side& s,
                                      const pki::PemPair& server, const std::string& self_ca,
                                      const pki::PemPair& peer_client, const std::string& peer_ca) {
  Json tls = {{"tls.crt", pki::Base64Encode(server.cert_pem)},
              {"tls.key", pki::Base64Encode(server.key_pem)},
              {"ca.crt", pki::Base64Encode(self_ca)}};
  Json remote = RemoteClusterData(s, peer_ca, peer_client);
  return {SecretObject(in, kServerCertSecret, "kubernetes.io/tls", tls),
          SecretObject(in, kClusterMeshSecret, "Opaque", remote),
          SecretObject(in, kKvstoreMeshSecret, "Opaque", remote), Forwarder(in, s)};
}

Result<std::optional<kube::Object>> GetSecret(kube::KubeApi& api, const std::string& ns,
                                              const std::string& name) {
  auto got = api.Get({"v1", "Secret", ns, name});
  if (!got.ok()) return got.status().WithPrefix("reading Secret " + ns + "/" + name);
  return *got;
}

// The cluster's Cilium CA: its cilium-ca Secret (Cilium's Helm chart makes it).
Result<pki::PemPair> ReadCa(kube::KubeApi& api, const ClusterMeshInputs& in, const Side& s) {
  auto secret = GetSecret(api, in.settings.ns, kCiliumCaSecret);
  if (!secret.ok()) return secret.status();
  pki::PemPair ca;
  if (secret->has_value()) ca = {DataOf(**secret, "ca.crt"), DataOf(**secret, "ca.key")};
  if (ca.cert_pem.empty() || ca.key_pem.empty()) {
    return Status::FailedPrecondition(
        "ClusterMesh needs Cilium in the " + s.role + " cluster (" + api.Describe() +
        "), and it has no Secret " + kCiliumCaSecret + " with ca.crt and ca.key in " +
        in.settings.ns +
        "; install Cilium there (cilium install --set cluster.name=" + s.self.name +
        " --set cluster.id=" + std::to_string(s.self.id) + "), then run 'carrierarr up' again");
  }
  return ca;
}

// `found` when it still verifies as `role` against `ca` (with its key, and for a server the
// addresses and name it is dialed at) a month from now; nullopt: issue a new one.
std::optional<pki::PemPair> Reusable(const pki::PemPair& found, pki::TlsRole role,
                                     const std::string& ca_pem, const std::vector<std::string>& ips,
                                     const std::vector<std::string>& hosts, pki::TimePoint now) {
  if (found.cert_pem.empty() || found.key_pem.empty()) return std::nullopt;
  pki::TlsPair pair{.role = role,
                    .cert_name = "found",
                    .cert_pem = found.cert_pem,
                    .key_name = "found key",
                    .key_pem = found.key_pem,
                    .bundle_name = kCiliumCaSecret,
                    .bundle_pem = ca_pem,
                    .ip_addresses = ips,
                    .host_names = hosts};
  if (!pki::VerifyTlsPair(pair, now + kRenewBefore).ok()) return std::nullopt;
  return found;
}

// One side's server certificate and the client certificate its peer presents to it: reused
// from the clusters when they still verify, else issued by the side's CA. Verified either way.
struct Issued {
  pki::PemPair ca, server, client;
};
Result<Issued> Certificates(kube::KubeApi& self, kube::KubeApi& peer, const ClusterMeshInputs& in,
                            const Side& s, pki::TimePoint now) {
  auto ca = ReadCa(self, in, s);
  if (!ca.ok()) return ca.status();
  auto server_secret = GetSecret(self, in.settings.ns, kServerCertSecret);
  if (!server_secret.ok()) return server_secret.status();
  auto found = [](const std::optional<kube::Object>& secret, const std::string& cert,
                  const std::string& key) {
    return secret ? pki::PemPair{DataOf(*secret, cert), DataOf(*secret, key)} : pki::PemPair{};
  };
  auto server = Reusable(found(*server_secret, "tls.crt", "tls.key"), pki::TlsRole::kServer,
                         ca->cert_pem, s.self_ips, {MeshHostName(s.self.name)}, now);
  // The peer's agents and KVStoreMesh carry the same client certificate: either Secret keeps
  // it when the other was deleted.
  std::optional<pki::PemPair> client;
  for (const char* name : {kClusterMeshSecret, kKvstoreMeshSecret}) {
    auto peer_secret = GetSecret(peer, in.settings.ns, name);
    if (!peer_secret.ok()) return peer_secret.status();
    client = Reusable(
        found(*peer_secret, s.self.name + ".etcd-client.crt", s.self.name + ".etcd-client.key"),
        pki::TlsRole::kClient, ca->cert_pem, {}, {}, now);
    if (client) break;
  }
  pki::ClusterMeshOptions options{
      .cluster = s.self.name, .ns = in.settings.ns, .mesh_ips = s.self_ips, .ca = *ca};
  if (!server || !client) {
    auto made = pki::CreateClusterMeshMaterial(options, now);
    if (!made.ok()) return made.status().WithPrefix("issuing the " + s.role + " certificates");
    if (!server) server = made->server;
    if (!client) client = made->client;
  }
  pki::ClusterMeshMaterial material{
      .ca = *ca, .server = *server, .client = *client, .ca_bundle_pem = ca->cert_pem};
  Status verified = pki::VerifyClusterMeshMaterial(material, options, now);
  if (!verified.ok()) return verified.WithPrefix("the " + s.role + " cluster's ClusterMesh");
  return Issued{*ca, *server, *client};
}

}  // namespace

std::string DataOf(const kube::Object& secret, const std::string& key) {
  auto it = secret.find("data");
  if (it == secret.end() || !it->is_object() || !it->contains(key)) return "";
  auto decoded = pki::Base64Decode((*it)[key].get<std::string>());
  return decoded.value_or("");
}

std::string MeshHostName(const std::string& cluster) { return cluster + ".mesh.cilium.io"; }

std::string EtcdClientConfig(const std::string& remote, const std::string& host, uint16_t port) {
  const std::string dir = std::string(kClusterMeshDir) + remote;
  return "endpoints:\n- https://" + host + ":" + std::to_string(port) +
         "\ntrusted-ca-file: " + dir + ".etcd-client-ca.crt\ncert-file: " + dir +
         ".etcd-client.crt\nkey-file: " + dir + ".etcd-client.key\n";
}

Status CheckClusterMeshInputs(const ClusterMeshInputs& in) {
  for (const spec::ClusterName* c : {&in.homelab, &in.cloud}) {
    CARRIERARR_RETURN_IF_ERROR(pki::CheckClusterMeshName(c->name));
    CARRIERARR_RETURN_IF_ERROR(pki::CheckClusterMeshId(c->id));
  }
  if (in.homelab.name == in.cloud.name || in.homelab.id == in.cloud.id) {
    return Status::InvalidArgument("the two clusters need their own names and ids (both '" +
                                   in.cloud.name + "', " + std::to_string(in.cloud.id) + ")");
  }
  if (in.homelab.clustermesh_port == in.cloud.clustermesh_port) {
    return Status::InvalidArgument(
        "both clusters' clustermesh ports are " + std::to_string(in.cloud.clustermesh_port) +
        ": each side's forwarder listens on the other's port, so with one port the agents "
        "reach their own clustermesh-apiserver; give each cluster its own");
  }
  if (in.homelab_mesh_ips.empty() || in.cloud_mesh_ips.empty()) {
    return Status::FailedPrecondition(
        std::string("ClusterMesh needs a mesh address in each cluster, and the ") +
        (in.homelab_mesh_ips.empty() ? "homelab has no member in this fleet"
                                     : "cloud cluster has none: no cloud node in this fleet, and "
                                       "no node of it with an InternalIP in the mesh (k3s "
                                       "--node-ip=<nebula ip>)"));
  }
  return Status::Ok();
}

ClusterMeshObjects ClusterMeshPlanned(const ClusterMeshInputs& in) {
  const pki::PemPair none;
  return {SideObjects(in, HomelabSide(in), none, "", none, ""),
          SideObjects(in, CloudSide(in), none, "", none, "")};
}

ClusterMeshObjects HostAliasPatches(const ClusterMeshInputs& in) {
  auto patches = [&in](const Side& s) {
    const Json aliases =
        Json::array({{{"ip", PeerIp(s)}, {"hostnames", Json::array({MeshHostName(s.peer.name)})}}});
    std::vector<kube::Object> out;
    for (auto [kind, name] :
         {std::pair{"DaemonSet", kAgentDaemonSet}, std::pair{"Deployment", kApiserverDeployment}}) {
      out.push_back({{"apiVersion", "apps/v1"},
                     {"kind", kind},
                     {"metadata", {{"name", name}, {"namespace", in.settings.ns}}},
                     {"spec", {{"template", {{"spec", {{"hostAliases", aliases}}}}}}}});
    }
    return out;
  };
  return {patches(HomelabSide(in)), patches(CloudSide(in))};
}

Result<ClusterMeshObjects> RenderClusterMesh(kube::KubeApi& homelab, kube::KubeApi& cloud,
                                             const ClusterMeshInputs& in, pki::TimePoint now) {
  CARRIERARR_RETURN_IF_ERROR(CheckClusterMeshInputs(in));
  auto home = Certificates(homelab, cloud, in, HomelabSide(in), now);
  if (!home.ok()) return home.status();
  auto away = Certificates(cloud, homelab, in, CloudSide(in), now);
  if (!away.ok()) return away.status();
  return ClusterMeshObjects{SideObjects(in, HomelabSide(in), home->server, home->ca.cert_pem,
                                        away->client, away->ca.cert_pem),
                            SideObjects(in, CloudSide(in), away->server, away->ca.cert_pem,
                                        home->client, home->ca.cert_pem)};
}

}  // namespace carrierarr::federation
