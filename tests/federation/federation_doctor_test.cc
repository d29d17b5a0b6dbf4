// `doctor` of the federation against two FakeKubes: after `up` every check passes; then each
// trap of the seeds and of Liqo's and Cilium's users is put into a cluster as it is found in the
// field (a Pending pod, a NotReady node, a Secret edited by hand), and doctor names it with its
// fix. No root.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "federation/clustermesh_objects.h"
#include "federation/two_clusters.h"
#include "ops/fleet_ops.h"
#include "pki/pem.h"

namespace carrierarr {
namespace {

using ::testing::HasSubstr;
using testing::InstallLiqo;
using Json = nlohmann::json;

class FederationDoctor : public testing::TwoClusters {
 protected:
  // The check of that name from a run of doctor; a failed test when doctor has none.
  providers::DoctorCheck Check(const std::string& name) {
    auto checks = ops::Doctor(ctx_);
    EXPECT_TRUE(checks.ok()) << checks.status().ToString();
    for (const auto& c : checks.ok() ? *checks : std::vector<providers::DoctorCheck>{})
      if (c.name == name) return c;
    ADD_FAILURE() << "doctor has no check '" << name << "'";
    return {};
  }

  void ExpectPasses(const std::vector<std::string>& names) {
    for (const auto& name : names) {
      providers::DoctorCheck c = Check(name);
      EXPECT_TRUE(c.ok) << name << ": " << c.detail;
    }
  }

  // Fails with `detail` in what it found and `fix` in what to do.
  void ExpectFails(const std::string& name, const std::string& detail, const std::string& fix) {
    providers::DoctorCheck c = Check(name);
    EXPECT_FALSE(c.ok) << name << " passed: " << c.detail;
    EXPECT_THAT(c.detail, HasSubstr(detail)) << name;
    EXPECT_THAT(c.fix, HasSubstr(fix)) << name;
  }

  void Store(testing::FakeKube& kube, const Json& object) { kube.Store(object); }

  Json NodeWith(const std::string& name, const Json& spec, const Json& ready) {
    return {{"apiVersion", "v1"},
            {"kind", "Node"},
            {"metadata", {{"name", name}, {"labels", {{"kubernetes.io/hostname", name}}}}},
            {"spec", spec},
            {"status", {{"conditions", Json::array({ready})}}}};
  }
};

// ---- Liqo ----------------------------------------------------------------------------------

class LiqoDoctor : public FederationDoctor {
 protected:
  void SetUp() override {
    home_.AddNamespace("liqo");
    home_.AddNamespace("ai");
    cloud_.AddNamespace("liqo-system");
    testing::ServeLiqoKinds(home_);
    testing::ServeLiqoKinds(cloud_);
    InstallLiqo(*home_api_, "liqo", "talos-home", "v1.0.1");
    InstallLiqo(*cloud_api_, "liqo-system", "aws-k3s", "v1.0.3");
    home_.AddNode("liqo-aws-k3s",
                  {{"liqo.io/type", "virtual-node"}, {"liqo.io/remote-cluster-id", "aws-k3s"}},
                  "10.96.0.9");
    WriteLiqo("");
    UpOk();
  }
  void WriteLiqo(const std::string& extra) {
    WriteFleet(
        "federation:\n  mode: liqo\n  cloud_kubeconfig: cloud.kubeconfig\n"
        "  liqo:\n    offload:\n      - {namespace: ai}\n" +
        extra);
  }
  Json Pod(const std::string& name, const std::string& created, const Json& tolerations) {
    return {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata", {{"name", name}, {"namespace", "ai"}, {"creationTimestamp", created}}},
            {"spec",
             {{"containers", Json::array({{{"name", "llm"}, {"image", "vllm/vllm-openai"}}})},
              {"tolerations", tolerations}}},
            {"status", {{"phase", "Pending"}}}};
  }
};

TEST_F(LiqoDoctor, AllPassAfterUp) {
  ExpectPasses({"Liqo in the homelab cluster", "Liqo in the cloud cluster", "Liqo versions",
                "virtual node toleration", "pods before offloading", "node network", "pod CIDRs"});
}

TEST_F(LiqoDoctor, WrongLiqoNamespace) {
  WriteLiqo("    remote_namespace: liqo\n");
  ExpectFails("Liqo in the cloud cluster", "configmaps 'configmaps' not found", "carrierarr up");
  EXPECT_THAT(Check("Liqo in the cloud cluster").detail,
              HasSubstr("set federation.liqo.remote_namespace: liqo-system"));
}

TEST_F(LiqoDoctor, VersionMismatch) {
  InstallLiqo(*cloud_api_, "liqo-system", "aws-k3s", "v1.1.0");
  ExpectFails("Liqo versions", "Liqo v1.0.1 in the homelab", "upgrade");
  EXPECT_THAT(Check("Liqo versions").detail, HasSubstr("Liqo v1.1.0 in the cloud cluster"));
}

TEST_F(LiqoDoctor, BothClustersWithOneLiqoClusterId) {
  InstallLiqo(*cloud_api_, "liqo-system", "talos-home", "v1.0.3");
  ExpectFails("Liqo versions", "both clusters call themselves 'talos-home'", "--cluster-id");
}

TEST_F(LiqoDoctor, NoScheduleInsteadOfNoExecute) {
  Json toleration = {{"key", "virtual-node.liqo.io/not-allowed"},
                     {"operator", "Exists"},
                     {"effect", "NoSchedule"}};
  Json deployment = {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", {{"name", "llm"}, {"namespace", "ai"}}},
      {"spec",
       {{"selector", {{"matchLabels", {{"app", "llm"}}}}},
        {"template",
         {{"metadata", {{"labels", {{"app", "llm"}}}}},
          {"spec",
           {{"containers", Json::array({{{"name", "llm"}, {"image", "vllm/vllm-openai"}}})},
            {"tolerations", Json::array({toleration})}}}}}}}};
  ASSERT_TRUE(home_api_->Apply(deployment).ok());
  ExpectFails("virtual node toleration", "Deployment ai/llm tolerates it with NoSchedule",
              "effect: NoExecute");
  // A toleration without an effect tolerates every effect: not a trap.
  deployment["spec"]["template"]["spec"]["tolerations"][0].erase("effect");
  ASSERT_TRUE(home_api_->Apply(deployment).ok());
  ExpectPasses({"virtual node toleration"});
}

TEST_F(LiqoDoctor, PodMadeBeforeItsNamespaceOffloading) {
  Store(home_, Pod("early", "2020-01-01T00:00:00Z", Json::array()));
  ExpectFails("pods before offloading", "pod ai/early (made 2020-01-01T00:00:00Z)",
              "delete those pods");
  // One made after it is not.
  Store(home_, Pod("early", "2099-01-01T00:00:00Z", Json::array()));
  ExpectPasses({"pods before offloading"});
}

TEST_F(LiqoDoctor, ACloudNodeNotReadyWithoutACni) {
  Store(cloud_, NodeWith("gpu-1", Json::object(),
                         {{"type", "Ready"},
                          {"status", "False"},
                          {"reason", "KubeletNotReady"},
                          {"message",
                           "container runtime network not ready: NetworkReady=false "
                           "reason:NetworkPluginNotReady message:Network plugin returns error: "
                           "cni plugin not initialized"}}));
  ExpectFails("node network", "cloud node gpu-1 is NotReady without a CNI",
              "cilium install --set cluster.name=aws-k3s --set cluster.id=2");
}

TEST_F(LiqoDoctor, OverlappingPodCidrs) {
  const Json ready = {{"type", "Ready"}, {"status", "True"}};
  Store(home_, NodeWith("node-a", {{"podCIDR", "10.244.1.0/24"}}, ready));
  Store(cloud_, NodeWith("gpu-1", {{"podCIDRs", {"10.244.0.0/16"}}}, ready));
  ExpectFails("pod CIDRs", "homelab 10.244.1.0/24 overlaps cloud 10.244.0.0/16", "--cluster-cidr");
  Store(cloud_, NodeWith("gpu-1", {{"podCIDRs", {"10.52.0.0/24"}}}, ready));
  ExpectPasses({"pod CIDRs"});
}

// ---- ClusterMesh ---------------------------------------------------------------------------

constexpr char kCloudMeshIp[] = "10.42.200.1";
using testing::InstallCilium;

class ClusterMeshDoctor : public FederationDoctor {
 protected:
  void SetUp() override {
    home_ca_ = testing::InstallCiliumCa(*home_api_, "talos-home");
    testing::InstallCiliumCa(*cloud_api_, "aws-k3s");
    cloud_.AddNode("gpu-1", {}, kCloudMeshIp);
    // Cilium as installed on each side, its clustermesh-apiserver on its own NodePort.
    InstallCilium(home_, "talos-home", "1", 32379);
    InstallCilium(cloud_, "aws-k3s", "2", 32380);
    WriteFleet("federation:\n  mode: clustermesh\n  cloud_kubeconfig: cloud.kubeconfig\n");
    UpOk();
  }

  // Replaces data keys of a Secret in kube-system as an operator's `kubectl edit` would.
  void EditSecret(testing::FakeKube& kube, const std::string& name,
                  const std::map<std::string, std::string>& plain) {
    Json secret = kube.Object("v1", "Secret", "kube-system", name);
    ASSERT_FALSE(secret.is_null()) << name;
    for (const auto& [k, v] : plain) secret["data"][k] = pki::Base64Encode(v);
    Store(kube, secret);
  }

  // A server certificate for the homelab from `ca` (a new CA when none) for `ips`.
  pki::PemPair HomeServer(const std::optional<pki::PemPair>& ca,
                          const std::vector<std::string>& ips) {
    auto made = pki::CreateClusterMeshMaterial({.cluster = "talos-home", .mesh_ips = ips, .ca = ca},
                                               std::chrono::system_clock::now());
    EXPECT_TRUE(made.ok()) << made.status().ToString();
    return made.ok() ? made->server : pki::PemPair{};
  }

  std::string HomeMeshIp() {
    auto state = ops::ReadState(ctx_);
    for (const auto& [name, ip] : state->addresses)
      if (name == "node-a") return FormatIpv4(ip);
    return "";
  }

  pki::PemPair home_ca_;
};

TEST_F(ClusterMeshDoctor, AllPassAfterUp) {
  ExpectPasses({"Cilium cluster ids", "clustermesh NodePorts", "ClusterMesh endpoints",
                "ClusterMesh certificates", "node network", "pod CIDRs"});
}

TEST_F(ClusterMeshDoctor, KvstoremeshEndpointNotAMeshAddress) {
  EditSecret(home_, federation::kKvstoreMeshSecret,
             {{"aws-k3s", federation::EtcdClientConfig("aws-k3s", "172.31.0.9", 32380)}});
  ExpectFails("ClusterMesh endpoints",
              "homelab cilium-kvstoremesh aws-k3s: https://172.31.0.9:32380",
              "each peer's mesh address");
}

// The agents dial the cloud cluster by name: a host alias dropped, or pointing at its LAN
// address, leaves them without a mesh address for it.
TEST_F(ClusterMeshDoctor, EndpointNameWithoutAMeshHostAlias) {
  Json agents = home_.Object("apps/v1", "DaemonSet", "kube-system", "cilium");
  agents["spec"]["template"]["spec"]["hostAliases"][0]["ip"] = "172.31.0.9";
  Store(home_, agents);
  ExpectFails("ClusterMesh endpoints",
              "homelab cilium-clustermesh aws-k3s: https://aws-k3s.mesh.cilium.io:32380 "
              "(aws-k3s.mesh.cilium.io is 172.31.0.9)",
              "each peer's mesh address");
  agents["spec"]["template"]["spec"].erase("hostAliases");
  Store(home_, agents);
  ExpectFails("ClusterMesh endpoints", "(no host alias for aws-k3s.mesh.cilium.io)",
              "each peer's mesh address");
}

TEST_F(ClusterMeshDoctor, ServerCertificateWithoutAMeshAddress) {
  pki::PemPair other = HomeServer(home_ca_, {"10.42.9.9"});
  EditSecret(home_, federation::kServerCertSecret,
             {{"tls.crt", other.cert_pem}, {"tls.key", other.key_pem}});
  ExpectFails("ClusterMesh certificates", "does not list IP address " + HomeMeshIp(),
              "re-issues every certificate");
}

TEST_F(ClusterMeshDoctor, ServerCertificateFromARegeneratedCa) {
  pki::PemPair other = HomeServer(std::nullopt, {HomeMeshIp()});  // a new CA, the same name
  EditSecret(home_, federation::kServerCertSecret,
             {{"tls.crt", other.cert_pem}, {"tls.key", other.key_pem}});
  ExpectFails("ClusterMesh certificates", "is not signed by the CA in cloud cilium-clustermesh",
              "crypto/rsa: verification error");
}

TEST_F(ClusterMeshDoctor, KeyNotMatchingItsCertificate) {
  pki::PemPair other = HomeServer(home_ca_, {HomeMeshIp()});
  EditSecret(home_, federation::kServerCertSecret, {{"tls.key", other.key_pem}});
  ExpectFails("ClusterMesh certificates",
              "homelab clustermesh-apiserver-server-cert tls.key does not match", "carrierarr up");
}

TEST_F(ClusterMeshDoctor, IdenticalNodePorts) {
  InstallCilium(home_, "talos-home", "1", 32380);
  ExpectFails("clustermesh NodePorts",
              "both clusters' clustermesh-apiservers are on NodePort 32380",
              "clustermesh.apiserver.service.nodePort");
}

TEST_F(ClusterMeshDoctor, ClusterIdClashAndNameTooLong) {
  InstallCilium(cloud_, "aws-k3s", "1", 32380);
  ExpectFails("Cilium cluster ids", "both clusters have Cilium cluster id 1", "cluster.id");
  InstallCilium(cloud_, std::string(33, 'a'), "2", 32380);
  ExpectFails("Cilium cluster ids", "cloud: ", "at most 32");
}

}  // namespace
}  // namespace carrierarr
