// Cilium ClusterMesh made by `up` between two clusters, each a FakeKube through the real client:
// each side's server certificate, the other side's client files and etcd config in the Secrets
// Cilium's agents and KVStoreMesh read, the host aliases that resolve the names they dial, and
// the socat forwarders; unchanged by a rerun, repaired after any object is deleted (or an alias
// dropped) by hand, re-issued after a CA is regenerated under the same name, refused without
// Cilium's CA or its clustermesh-apiserver, removed by `down` (Cilium's own objects kept) (one port
// for both sides is refused by fleet.yaml's rules: spec_test). No root.
#include "pki/clustermesh.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <string>
#include <vector>

#include "federation/clustermesh_objects.h"
#include "federation/two_clusters.h"
#include "pki/pem.h"

namespace carrierarr {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

constexpr char kCloudMeshIp[] = "10.42.200.1";

std::string Decoded(const Json& secret, const std::string& key) {
  return pki::Base64Decode(secret["data"].value(key, "")).value_or("");
}

using testing::InstallCiliumCa;

class ClusterMeshTest : public testing::TwoClusters {
 protected:
  void SetUp() override {
    home_ca_ = InstallCiliumCa(*home_api_, "talos-home");
    cloud_ca_ = InstallCiliumCa(*cloud_api_, "aws-k3s");
    testing::InstallCilium(home_, "talos-home", "1", 32379);
    testing::InstallCilium(cloud_, "aws-k3s", "2", 32380);
    // A cloud k3s this fleet did not make: its node runs with --node-ip=<mesh ip>, and one more
    // node outside the mesh is not dialed.
    cloud_.AddNode("ip-172-31-0-9", {}, "172.31.0.9");
    cloud_.AddNode("gpu-1", {}, kCloudMeshIp);
    WriteFleet("federation:\n  mode: clustermesh\n  cloud_kubeconfig: cloud.kubeconfig\n");
  }

  // The homelab member's mesh address, as the fleet assigned it.
  std::string HomeMeshIp() {
    auto state = ops::ReadState(ctx_);
    EXPECT_TRUE(state.ok());
    for (const auto& [name, ip] : state->addresses)
      if (name == "node-a") return FormatIpv4(ip);
    ADD_FAILURE() << "node-a has no mesh address";
    return "";
  }

  Json Secret(testing::FakeKube& kube, const std::string& name) {
    return kube.Object("v1", "Secret", "kube-system", name);
  }

  // The server certificate of `kube` as a client of it judges it: against the CA file the
  // other side's Secret gives its agents for this cluster, listing the address they dial.
  void ExpectServerTrustedByPeer(testing::FakeKube& kube, testing::FakeKube& peer,
                                 const std::string& cluster, const std::string& ip) {
    Json server = Secret(kube, federation::kServerCertSecret);
    ASSERT_EQ(server.value("type", ""), "kubernetes.io/tls");
    Json remote = Secret(peer, federation::kClusterMeshSecret);
    Status verified =
        pki::VerifyTlsPair({.role = pki::TlsRole::kServer,
                            .cert_name = "tls.crt",
                            .cert_pem = Decoded(server, "tls.crt"),
                            .key_name = "tls.key",
                            .key_pem = Decoded(server, "tls.key"),
                            .bundle_name = cluster + ".etcd-client-ca.crt",
                            .bundle_pem = Decoded(remote, cluster + ".etcd-client-ca.crt"),
                            .ip_addresses = {ip},
                            .host_names = {cluster + ".mesh.cilium.io"}},
                           std::chrono::system_clock::now());
    EXPECT_TRUE(verified.ok()) << verified.ToString();
  }

  // The client certificate `peer`'s agents present to `cluster`: accepted by the CA that
  // cluster's server trusts (its ca.crt).
  void ExpectClientTrustedByServer(testing::FakeKube& kube, testing::FakeKube& peer,
                                   const std::string& cluster) {
    Json server = Secret(kube, federation::kServerCertSecret);
    Json remote = Secret(peer, federation::kClusterMeshSecret);
    Status verified = pki::VerifyTlsPair({.role = pki::TlsRole::kClient,
                                          .cert_name = cluster + ".etcd-client.crt",
                                          .cert_pem = Decoded(remote, cluster + ".etcd-client.crt"),
                                          .key_name = cluster + ".etcd-client.key",
                                          .key_pem = Decoded(remote, cluster + ".etcd-client.key"),
                                          .bundle_name = "ca.crt",
                                          .bundle_pem = Decoded(server, "ca.crt")},
                                         std::chrono::system_clock::now());
    EXPECT_TRUE(verified.ok()) << verified.ToString();
  }

  pki::PemPair home_ca_, cloud_ca_;
};

// Cilium's agent takes a file of the mounted Secret as a cluster's config only when it holds
// `endpoints:`, named after the cluster; it reads the YAML keys below.
void ExpectEtcdConfig(const Json& secret, const std::string& remote, const std::string& url) {
  for (const auto& [key, value] : secret["data"].items()) {
    const bool config = Decoded(secret, key).find("endpoints:") != std::string::npos;
    EXPECT_EQ(config, key == remote) << key;
  }
  YAML::Node config = YAML::Load(Decoded(secret, remote));
  ASSERT_TRUE(config["endpoints"].IsSequence());
  ASSERT_EQ(config["endpoints"].size(), 1u);
  EXPECT_EQ(config["endpoints"][0].as<std::string>(), url);
  const std::string dir = "/var/lib/cilium/clustermesh/";
  EXPECT_EQ(config["trusted-ca-file"].as<std::string>(), dir + remote + ".etcd-client-ca.crt");
  EXPECT_EQ(config["cert-file"].as<std::string>(), dir + remote + ".etcd-client.crt");
  EXPECT_EQ(config["key-file"].as<std::string>(), dir + remote + ".etcd-client.key");
  for (const char* file : {".etcd-client-ca.crt", ".etcd-client.crt", ".etcd-client.key"})
    EXPECT_TRUE(secret["data"].contains(remote + file)) << remote + file;
}

// The forwarder of one side: the peer's port on every node (host network, not on Liqo's
// virtual node), to the peer's mesh address.
void ExpectForwarder(testing::FakeKube& kube, const std::string& peer, const std::string& port,
                     const std::string& ip) {
  Json ds = kube.Object("apps/v1", "DaemonSet", "kube-system", "clustermesh-forward-" + peer);
  ASSERT_FALSE(ds.is_null());
  const Json& pod = ds["spec"]["template"]["spec"];
  EXPECT_EQ(pod["hostNetwork"], true);
  EXPECT_THAT(pod["containers"][0]["args"].get<std::vector<std::string>>(),
              ElementsAre("TCP-LISTEN:" + port + ",fork,reuseaddr", "TCP:" + ip + ":" + port));
  EXPECT_EQ(pod["containers"][0]["securityContext"]["runAsNonRoot"], true);
  EXPECT_EQ(pod.dump().find("virtual-node") != std::string::npos, true);
}

Json Workload(testing::FakeKube& kube, const std::string& kind) {
  return kube.Object("apps/v1", kind, "kube-system",
                     kind == "DaemonSet" ? "cilium" : "clustermesh-apiserver");
}

// Cilium's agents and its clustermesh-apiserver (KVStoreMesh) resolve `name` to `ip`, and keep
// what their chart gave them.
void ExpectHostAlias(testing::FakeKube& kube, const std::string& name, const std::string& ip) {
  for (const char* kind : {"DaemonSet", "Deployment"}) {
    SCOPED_TRACE(kind);
    const Json pod = Workload(kube, kind)["spec"]["template"]["spec"];
    EXPECT_EQ(pod["hostAliases"],
              Json::parse(R"([{"ip":")" + ip + R"(","hostnames":[")" + name + R"("]}])"));
    EXPECT_EQ(pod["containers"].size(), 1u);
  }
}

// No host alias left, Cilium's workloads themselves untouched.
void ExpectNoHostAliases(testing::FakeKube& kube) {
  for (const char* kind : {"DaemonSet", "Deployment"}) {
    SCOPED_TRACE(kind);
    const Json workload = Workload(kube, kind);
    ASSERT_FALSE(workload.is_null());
    EXPECT_FALSE(workload["spec"]["template"]["spec"].contains("hostAliases"));
    EXPECT_EQ(workload["spec"]["template"]["spec"]["containers"].size(), 1u);
  }
}

TEST_F(ClusterMeshTest, MeshesFromNothingAndARerunChangesNothing) {
  UpOk();
  const std::string home_ip = HomeMeshIp();
  // Each side's agents dial the other by name on the other's port; the name resolves to the
  // other's mesh address in every pod that reads the Secrets.
  ExpectEtcdConfig(Secret(home_, federation::kClusterMeshSecret), "aws-k3s",
                   "https://aws-k3s.mesh.cilium.io:32380");
  ExpectEtcdConfig(Secret(cloud_, federation::kClusterMeshSecret), "talos-home",
                   "https://talos-home.mesh.cilium.io:32379");
  ExpectHostAlias(home_, "aws-k3s.mesh.cilium.io", kCloudMeshIp);
  ExpectHostAlias(cloud_, "talos-home.mesh.cilium.io", home_ip);
  // KVStoreMesh reads the same.
  EXPECT_EQ(Secret(home_, federation::kKvstoreMeshSecret)["data"],
            Secret(home_, federation::kClusterMeshSecret)["data"]);
  EXPECT_EQ(Secret(cloud_, federation::kKvstoreMeshSecret)["data"],
            Secret(cloud_, federation::kClusterMeshSecret)["data"]);
  // Every certificate is trusted where it is presented, and the CAs are the clusters' own.
  ExpectServerTrustedByPeer(home_, cloud_, "talos-home", home_ip);
  ExpectServerTrustedByPeer(cloud_, home_, "aws-k3s", kCloudMeshIp);
  ExpectClientTrustedByServer(home_, cloud_, "talos-home");
  ExpectClientTrustedByServer(cloud_, home_, "aws-k3s");
  EXPECT_EQ(Decoded(Secret(home_, federation::kServerCertSecret), "ca.crt"), home_ca_.cert_pem);
  EXPECT_EQ(Decoded(Secret(cloud_, federation::kServerCertSecret), "ca.crt"), cloud_ca_.cert_pem);
  ExpectForwarder(home_, "aws-k3s", "32380", kCloudMeshIp);
  ExpectForwarder(cloud_, "talos-home", "32379", home_ip);

  ExpectARerunChangesNothing();
  auto status = ops::ReadFleetStatus(ctx_);
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_EQ(status->federation.mode, "clustermesh");
  EXPECT_FALSE(status->federation.items.empty());
  for (const auto& item : status->federation.items)
    EXPECT_THAT(item.detail, Not(HasSubstr("missing"))) << item.what;
}

TEST_F(ClusterMeshTest, RepairsEachObjectDeletedByHand) {
  UpOk();
  ASSERT_EQ(FederationRecords().size(), 8u);  // 3 Secrets and a forwarder on each side
  ExpectEachObjectDeletedByHandIsRepaired();
  ExpectServerTrustedByPeer(home_, cloud_, "talos-home", HomeMeshIp());
  ExpectClientTrustedByServer(home_, cloud_, "talos-home");
  ExpectClientTrustedByServer(cloud_, home_, "aws-k3s");
}

// The names of the Cilium agent pods of `api`'s cluster.
std::vector<std::string> AgentPods(kube::KubeApi& api) {
  auto pods = api.List("v1", "Pod", "kube-system", {.label_selector = "k8s-app=cilium"});
  EXPECT_TRUE(pods.ok()) << pods.status().ToString();
  std::vector<std::string> names;
  for (const auto& p : pods.ok() ? pods->items : std::vector<Json>{})
    names.push_back(p["metadata"]["name"]);
  return names;
}

// One agent's ClusterMesh gauges, as Cilium 1.16 exports them.
std::string AgentMetrics(const std::string& self, const std::string& remote, int ready, int nodes,
                         int endpoints) {
  const std::string labels =
      "{source_cluster=\"" + self + "\",source_node_name=\"n\",target_cluster=\"" + remote + "\"}";
  return "# TYPE cilium_clustermesh_remote_clusters gauge\n"
         "cilium_clustermesh_remote_clusters{source_cluster=\"" +
         self + "\",source_node_name=\"n\"} 1\n" +
         "cilium_clustermesh_remote_cluster_readiness_status" + labels + " " +
         std::to_string(ready) + "\ncilium_clustermesh_remote_cluster_nodes" + labels + " " +
         std::to_string(nodes) + "\ncilium_clustermesh_remote_cluster_endpoints" + labels + " " +
         std::to_string(endpoints) + "\n";
}

void AddIdentities(testing::FakeKube& kube, int n) {
  kube.AddCustomKind("cilium.io", "v2", "CiliumIdentity", "ciliumidentities", false);
  for (int i = 0; i < n; ++i) {
    kube.Store({{"apiVersion", "cilium.io/v2"},
                {"kind", "CiliumIdentity"},
                {"metadata", {{"name", std::to_string(10000 + i)}}},
                {"security-labels", {{"k8s:app", "x"}}}});
  }
}

// `status` shows the seeds' sync table from each side's agents: connected agents and clusters,
// and the nodes, endpoints and identities each side has of the other.
TEST_F(ClusterMeshTest, StatusShowsWhatEachSideSynced) {
  home_.AddNode("node-b", {}, "192.168.1.11");
  UpOk();
  AddIdentities(home_, 4);
  AddIdentities(cloud_, 6);
  const std::vector<std::string> home_agents = AgentPods(*home_api_);
  const std::vector<std::string> cloud_agents = AgentPods(*cloud_api_);
  ASSERT_EQ(home_agents.size(), 2u);
  ASSERT_EQ(cloud_agents.size(), 2u);
  for (const auto& pod : home_agents)
    home_.ServePodProxy("kube-system", pod, 9962, "/metrics",
                        AgentMetrics("talos-home", "aws-k3s", 1, 1, 6));
  home_.ServePodProxy("kube-system", home_agents[1], 9962, "/metrics",
                      AgentMetrics("talos-home", "aws-k3s", 1, 2, 7));  // one agent ahead
  cloud_.ServePodProxy("kube-system", cloud_agents[0], 9962, "/metrics",
                       AgentMetrics("aws-k3s", "talos-home", 1, 5, 135));
  cloud_.ServePodProxy("kube-system", cloud_agents[1], 9962, "/metrics",
                       AgentMetrics("aws-k3s", "talos-home", 0, 0, 0));  // not connected
  auto status = ops::ReadFleetStatus(ctx_);
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  const auto& sync = status->federation.sync;
  ASSERT_EQ(sync.size(), 2u);
  EXPECT_EQ(sync[0].local, "talos-home");
  EXPECT_EQ(sync[0].remote, "aws-k3s");
  EXPECT_TRUE(sync[0].ok()) << sync[0].problem;
  EXPECT_EQ(sync[0].agents_connected, 2);
  EXPECT_EQ(sync[0].clusters_connected, 1);
  EXPECT_EQ(sync[0].clusters_total, 1);
  EXPECT_EQ(sync[0].nodes, 2);
  EXPECT_EQ(sync[0].endpoints, 7);
  EXPECT_EQ(sync[0].identities, 6);  // the cloud cluster's
  EXPECT_FALSE(sync[1].ok());
  EXPECT_EQ(sync[1].agents, 2);
  EXPECT_EQ(sync[1].agents_connected, 1);
  EXPECT_EQ(sync[1].clusters_connected, 0);
  EXPECT_EQ(sync[1].nodes, 5);
  EXPECT_EQ(sync[1].identities, 4);
}

// Agents without metrics, or a user who may not proxy to pods: the table says how to fix it.
TEST_F(ClusterMeshTest, StatusSaysHowToGetTheSyncCounts) {
  UpOk();
  auto status = ops::ReadFleetStatus(ctx_);
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  ASSERT_EQ(status->federation.sync.size(), 2u);
  EXPECT_FALSE(status->federation.sync[0].ok());
  EXPECT_THAT(status->federation.sync[0].problem,
              AllOf(HasSubstr("connection refused"), HasSubstr("prometheus.enabled=true")));
  home_.Deny("*", "get", "pods/proxy");
  status = ops::ReadFleetStatus(ctx_);
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_THAT(status->federation.sync[0].problem,
              HasSubstr("reading Cilium's agent metrics needs 'get pods/proxy' in kube-system"));
}

// An agent that is not running is named: its counts are missing, not zero.
TEST_F(ClusterMeshTest, StatusNamesAnAgentThatIsNotRunning) {
  UpOk();
  for (const auto& pod : AgentPods(*home_api_))
    home_.ServePodProxy("kube-system", pod, 9962, "/metrics",
                        AgentMetrics("talos-home", "aws-k3s", 1, 1, 6));
  home_.Store({{"apiVersion", "v1"},
               {"kind", "Pod"},
               {"metadata",
                {{"name", "cilium-zzz"},
                 {"namespace", "kube-system"},
                 {"labels", {{"k8s-app", "cilium"}}}}},
               {"status", {{"phase", "Pending"}}}});
  auto status = ops::ReadFleetStatus(ctx_);
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  const federation::MeshSync& home = status->federation.sync[0];
  EXPECT_FALSE(home.ok());
  EXPECT_EQ(home.problem, "Cilium agent cilium-zzz is Pending");
  EXPECT_EQ(home.agents_total, 2);
  EXPECT_EQ(home.agents, 1);
  EXPECT_EQ(home.agents_connected, 1);
}

// Host aliases dropped from Cilium's workloads (a `helm upgrade` without them) come back with
// the next `up`, and only they are re-made.
TEST_F(ClusterMeshTest, RepairsHostAliasesDroppedByHand) {
  UpOk();
  for (testing::FakeKube* kube : {&home_, &cloud_}) {
    for (const char* kind : {"DaemonSet", "Deployment"}) {
      SCOPED_TRACE(kind);
      Json workload = Workload(*kube, kind);
      workload["spec"]["template"]["spec"].erase("hostAliases");
      kube->Store(workload);
      auto plan = ops::PlanFleet(ctx_, {});
      ASSERT_TRUE(plan.ok()) << plan.status().ToString();
      std::vector<std::string> remade;
      for (const auto& step : plan->steps)
        if (step.action != provision::Action::kNone) remade.push_back(step.id);
      const std::string side = kube == &home_ ? "homelab" : "cloud";
      const std::string name =
          std::string(kind) == "DaemonSet" ? "cilium" : "clustermesh-apiserver";
      EXPECT_THAT(remade, ElementsAre("federation/" + side + "/host-aliases/" + kind +
                                      "/kube-system/" + name));
      UpOk();
    }
  }
  ExpectHostAlias(home_, "aws-k3s.mesh.cilium.io", kCloudMeshIp);
  ExpectHostAlias(cloud_, "talos-home.mesh.cilium.io", HomeMeshIp());
  ExpectARerunChangesNothing();
}

// Without Cilium's ClusterMesh apiserver on a side, `up` says how to enable it.
TEST_F(ClusterMeshTest, WithoutTheClusterMeshApiserverTheFixIsNamed) {
  ASSERT_TRUE(cloud_api_
                  ->Delete({"apps/v1", "Deployment", "kube-system", "clustermesh-apiserver"},
                           kube::Propagation::kBackground)
                  .ok());
  auto up = Up();
  ASSERT_FALSE(up.ok() && up->apply.status.ok());
  EXPECT_THAT(up.ok() ? up->apply.status.message() : up.status().message(),
              HasSubstr("cilium clustermesh enable --service-type NodePort"));
  EXPECT_TRUE(Workload(cloud_, "Deployment").is_null()) << "never made by carrierarr";
}

// The seeds' `crypto/rsa: verification error`: a Cilium CA regenerated under the same name
// leaves certificates of the old one behind. `up` sees they no longer verify and issues new
// ones from the new CA.
TEST_F(ClusterMeshTest, ACaRegeneratedUnderTheSameNameGetsNewCertificates) {
  UpOk();
  const std::string old_server = Decoded(Secret(home_, federation::kServerCertSecret), "tls.crt");
  home_ca_ = InstallCiliumCa(*home_api_, "talos-home");
  UpOk();
  EXPECT_NE(Decoded(Secret(home_, federation::kServerCertSecret), "tls.crt"), old_server);
  EXPECT_EQ(Decoded(Secret(home_, federation::kServerCertSecret), "ca.crt"), home_ca_.cert_pem);
  ExpectServerTrustedByPeer(home_, cloud_, "talos-home", HomeMeshIp());
  ExpectClientTrustedByServer(home_, cloud_, "talos-home");
  ExpectClientTrustedByServer(cloud_, home_, "aws-k3s");
}

TEST_F(ClusterMeshTest, WithoutCiliumsCaNothingIsMadeAndTheFixIsNamed) {
  ASSERT_TRUE(
      cloud_api_
          ->Delete({"v1", "Secret", "kube-system", "cilium-ca"}, kube::Propagation::kBackground)
          .ok());
  auto up = Up();
  ASSERT_FALSE(up.ok() && up->apply.status.ok());
  EXPECT_THAT(up.ok() ? up->apply.status.message() : up.status().message(),
              HasSubstr("install Cilium there (cilium install --set cluster.name=aws-k3s "
                        "--set cluster.id=2)"));
  EXPECT_TRUE(Secret(home_, federation::kClusterMeshSecret).is_null());
  EXPECT_TRUE(Secret(cloud_, federation::kClusterMeshSecret).is_null());
}

TEST_F(ClusterMeshTest, DownRemovesBothSidesAndKeepsCiliumsOwn) {
  UpOk();
  DownOk();
  ExpectNothingOfTheFleetLeft();
  ExpectNoHostAliases(home_);
  ExpectNoHostAliases(cloud_);
  EXPECT_FALSE(Secret(home_, "cilium-ca").is_null());
  EXPECT_FALSE(Secret(cloud_, "cilium-ca").is_null());
}

}  // namespace
}  // namespace carrierarr
