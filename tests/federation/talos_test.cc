// federation.mode direct: the Talos machine configs of cloud nodes joining the homelab over the
// mesh (`carrierarr render talos`), and doctor's refusal of cloud control-plane nodes. No root.
#include "federation/talos.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "core/file_util.h"
#include "federation/federation.h"
#include "federation/two_clusters.h"

namespace carrierarr {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// What `talosctl gen config` writes as worker.yaml, in its shape (secrets shortened), with an
// older nebula ExtensionServiceConfig appended by hand.
constexpr char kWorkerYaml[] = R"(version: v1alpha1
debug: false
persist: true
machine:
  type: worker
  token: abcdef.0123456789abcdef
  ca:
    crt: LS0tLS1CRUdJTi1DRVJU
    key: ""
  certSANs: [192.168.1.20]
  kubelet:
    image: ghcr.io/siderolabs/kubelet:v1.32.0
    defaultRuntimeSeccompProfileEnabled: true
  network: {}
  install:
    disk: /dev/xvda
    image: ghcr.io/siderolabs/installer:v1.9.1
cluster:
  id: "0123"
  secret: c2VjcmV0
  controlPlane:
    endpoint: https://10.42.1.1:6443
  clusterName: talos-home
  token: wxyz12.0123456789abcdef
  ca:
    crt: LS0tLS1CRUdJTi1DRVJU
    key: ""
---
apiVersion: v1alpha1
kind: ExtensionServiceConfig
name: nebula
configFiles:
  - content: old
    mountPath: /usr/local/etc/nebula/config.yml
)";

federation::TalosNode Node() {
  return {.name = "gpu-1",
          .mesh_ip = "10.42.2.1",
          .ca_crt = "-----BEGIN NEBULA CERTIFICATE-----\nCA\n-----END NEBULA CERTIFICATE-----\n",
          .host_crt = "-----BEGIN NEBULA CERTIFICATE-----\nH\n-----END NEBULA CERTIFICATE-----\n",
          .host_key =
              "-----BEGIN NEBULA X25519 PRIVATE KEY-----\nK\n"
              "-----END NEBULA X25519 PRIVATE KEY-----\n",
          .nebula_config =
              "pki:\n  ca: /etc/nebula/ca.crt\n  cert: /etc/nebula/host.crt\n"
              "  key: /etc/nebula/host.key\nlighthouse:\n  hosts: [10.42.0.1]\n"
              "tun:\n  dev: nebula1\n"};
}

// The files of the nebula ExtensionServiceConfig by mount path.
std::map<std::string, std::string> NebulaFiles(const std::vector<YAML::Node>& docs) {
  std::map<std::string, std::string> out;
  int services = 0;
  for (const auto& doc : docs) {
    if (doc["kind"].as<std::string>("") != "ExtensionServiceConfig") continue;
    ++services;
    EXPECT_EQ(doc["apiVersion"].as<std::string>(), "v1alpha1");
    EXPECT_EQ(doc["name"].as<std::string>(), "nebula");
    for (const auto& f : doc["configFiles"])
      out[f["mountPath"].as<std::string>()] = f["content"].as<std::string>();
  }
  EXPECT_EQ(services, 1);
  return out;
}

TEST(TalosPatch, PinsTheKubeletToTheMeshAndRunsNebulaAsTheExtension) {
  const spec::FleetSpec fleet;
  const federation::TalosNode node = Node();
  auto patch = federation::RenderTalosPatch(fleet, node);
  ASSERT_TRUE(patch.ok()) << patch.status().ToString();
  std::vector<YAML::Node> docs = YAML::LoadAll(*patch);
  ASSERT_EQ(docs.size(), 2u) << *patch;
  EXPECT_EQ(docs[0]["machine"]["kubelet"]["nodeIP"]["validSubnets"].as<std::vector<std::string>>(),
            std::vector<std::string>{"10.42.0.0/16"});
  EXPECT_EQ(docs[0]["machine"]["certSANs"].as<std::vector<std::string>>(),
            std::vector<std::string>{"10.42.2.1"});
  EXPECT_FALSE(docs[0]["cluster"]) << "a worker serves no API";
  std::map<std::string, std::string> files = NebulaFiles(docs);
  EXPECT_EQ(files["/usr/local/etc/nebula/ca.crt"], node.ca_crt);
  EXPECT_EQ(files["/usr/local/etc/nebula/host.crt"], node.host_crt);
  EXPECT_EQ(files["/usr/local/etc/nebula/host.key"], node.host_key) << "byte for byte";
  const YAML::Node config = YAML::Load(files["/usr/local/etc/nebula/config.yml"]);
  EXPECT_EQ(config["pki"]["ca"].as<std::string>(), "/usr/local/etc/nebula/ca.crt");
  EXPECT_EQ(config["pki"]["cert"].as<std::string>(), "/usr/local/etc/nebula/host.crt");
  EXPECT_EQ(config["pki"]["key"].as<std::string>(), "/usr/local/etc/nebula/host.key");
  EXPECT_EQ(config["tun"]["dev"].as<std::string>(), "nebula1");

  federation::TalosNode cp = node;
  cp.control_plane = true;
  auto cp_patch = federation::RenderTalosPatch(fleet, cp);
  ASSERT_TRUE(cp_patch.ok());
  EXPECT_EQ(YAML::LoadAll(*cp_patch)[0]["cluster"]["apiServer"]["certSANs"][0].as<std::string>(),
            "10.42.2.1");
}

TEST(TalosPatch, MergedIntoTalosctlsWorkerConfigIsTheNodesWholeConfig) {
  auto patch = federation::RenderTalosPatch(spec::FleetSpec{}, Node());
  ASSERT_TRUE(patch.ok());
  auto merged = federation::MergeTalosConfig(kWorkerYaml, "worker.yaml", *patch, false, "v1.9.1");
  ASSERT_TRUE(merged.ok()) << merged.status().ToString();
  std::vector<YAML::Node> docs = YAML::LoadAll(*merged);
  ASSERT_EQ(docs.size(), 2u) << *merged;
  const YAML::Node& m = docs[0]["machine"];
  EXPECT_EQ(m["type"].as<std::string>(), "worker");
  EXPECT_EQ(m["token"].as<std::string>(), "abcdef.0123456789abcdef") << "talosctl's kept";
  EXPECT_EQ(m["install"]["disk"].as<std::string>(), "/dev/xvda");
  EXPECT_THAT(m["certSANs"].as<std::vector<std::string>>(),
              ElementsAre("192.168.1.20", "10.42.2.1"));
  EXPECT_EQ(m["kubelet"]["image"].as<std::string>(), "ghcr.io/siderolabs/kubelet:v1.32.0");
  EXPECT_EQ(m["kubelet"]["nodeIP"]["validSubnets"][0].as<std::string>(), "10.42.0.0/16");
  EXPECT_EQ(docs[0]["cluster"]["id"].as<std::string>(), "0123");
  EXPECT_THAT(*merged, HasSubstr("id: \"0123\"")) << "a quoted string stays a string";
  EXPECT_EQ(NebulaFiles(docs).size(), 4u) << "the old nebula config is replaced";
  // Merging again changes nothing: lists do not grow.
  auto twice = federation::MergeTalosConfig(*merged, "worker.yaml", *patch, false, "v1.9.1");
  ASSERT_TRUE(twice.ok());
  EXPECT_EQ(*twice, *merged);
}

TEST(TalosPatch, RefusesWhatIsNotTheNodesMachineConfig) {
  auto patch = federation::RenderTalosPatch(spec::FleetSpec{}, Node());
  ASSERT_TRUE(patch.ok());
  std::string cp = kWorkerYaml;
  cp.replace(cp.find("type: worker"), 12, "type: controlplane");
  auto wrong = federation::MergeTalosConfig(cp, "controlplane.yaml", *patch, false, "v1.9.1");
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(wrong.status().message(),
              HasSubstr("controlplane.yaml is a 'controlplane' machine config, and this node "
                        "joins as 'worker'"));
  auto broken =
      federation::MergeTalosConfig("machine: [\n", "worker.yaml", *patch, false, "v1.9.1");
  ASSERT_FALSE(broken.ok());
  EXPECT_THAT(broken.status().message(), HasSubstr("worker.yaml:2:1: "));
  auto none = federation::MergeTalosConfig("a: 1\n", "worker.yaml", *patch, false, "v1.9.1");
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(), HasSubstr("has no Talos machine config"));
  auto other = federation::MergeTalosConfig(kWorkerYaml, "worker.yaml", *patch, false, "v1.10.0");
  ASSERT_FALSE(other.ok());
  EXPECT_THAT(other.status().message(),
              HasSubstr("worker.yaml installs ghcr.io/siderolabs/installer:v1.9.1, and "
                        "federation.direct.talos_version is v1.10.0"));
}

// `carrierarr render talos` and doctor on a fleet in direct mode, in-process.
class DirectMode : public testing::TwoClusters {
 protected:
  void WriteDirect(const std::string& direct) {
    WriteFleet(
        "  aws:\n    region: us-east-1\n"
        "pools:\n  - {name: gpu, type: gpu-worker, count: 2, provider: aws, instance_type: "
        "g4dn.xlarge}\n"
        "federation:\n  mode: direct\n" +
        direct);
  }
  providers::DoctorCheck TalosCheck() {
    auto checks = federation::DirectMembershipChecks(ctx_.spec);
    EXPECT_EQ(checks.size(), 1u);
    return checks.empty() ? providers::DoctorCheck{} : checks[0];
  }
};

TEST_F(DirectMode, RenderTalosWritesEachNodesPatchAndConfigPrivately) {
  WriteDirect("");
  ASSERT_TRUE(WriteFileAtomic(dir_ / "worker.yaml", kWorkerYaml, 0600).ok());
  ASSERT_TRUE(MakeDirectory(dir_ / "out", 0700).ok());
  auto written = ops::RenderTalos(ctx_, {.worker = dir_ / "worker.yaml"}, dir_ / "out");
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_THAT(*written, ElementsAre(dir_ / "out/gpu-1.patch.yaml", dir_ / "out/gpu-1.yaml",
                                    dir_ / "out/gpu-2.patch.yaml", dir_ / "out/gpu-2.yaml"));
  for (const auto& path : *written) EXPECT_EQ(testing::ModeOf(path), 0600u) << path;
  // Each node's own certificate, from the fleet's CA, and its own mesh address.
  std::vector<YAML::Node> docs = YAML::LoadAll(testing::Slurp(dir_ / "out/gpu-2.yaml"));
  EXPECT_EQ(docs[0]["machine"]["certSANs"][1].as<std::string>(), "10.42.2.2");
  std::map<std::string, std::string> files = NebulaFiles(docs);
  EXPECT_EQ(files["/usr/local/etc/nebula/host.crt"], testing::Slurp(ctx_.paths.HostCert("gpu-2")));
  EXPECT_EQ(files["/usr/local/etc/nebula/ca.crt"], testing::Slurp(ctx_.paths.CaCert()));
  EXPECT_THAT(files["/usr/local/etc/nebula/config.yml"], HasSubstr("10.42.0.1"));
  EXPECT_TRUE(TalosCheck().ok);
  EXPECT_THAT(TalosCheck().detail, HasSubstr("join as workers"));
}

TEST_F(DirectMode, CloudControlPlaneNodesAreRefusedUnlessForced) {
  WriteDirect("  direct: {control_plane_pools: [gpu]}\n");
  ASSERT_TRUE(MakeDirectory(dir_ / "out", 0700).ok());
  auto refused = ops::RenderTalos(ctx_, {}, dir_ / "out");
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("etcd members across the WAN"));
  EXPECT_THAT(refused.status().message(), HasSubstr("force_control_plane: true"));
  EXPECT_TRUE(testing::Entries(dir_ / "out").empty()) << "nothing written";
  EXPECT_FALSE(TalosCheck().ok);
  EXPECT_THAT(TalosCheck().fix, HasSubstr("keep cloud nodes workers"));

  WriteDirect("  direct: {control_plane_pools: [gpu], force_control_plane: true}\n");
  auto forced = ops::RenderTalos(ctx_, {}, dir_ / "out");
  ASSERT_TRUE(forced.ok()) << forced.status().ToString();
  EXPECT_THAT(testing::Slurp(dir_ / "out/gpu-1.patch.yaml"), HasSubstr("apiServer"));
  EXPECT_TRUE(TalosCheck().ok);
  EXPECT_THAT(TalosCheck().detail, HasSubstr("WARNING"));
  // And `up` says what to use instead of launching the wrong OS.
  auto plan = ops::PlanFleet(ctx_, {});
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(plan.status().message(), HasSubstr("'carrierarr render talos'"));
}

}  // namespace
}  // namespace carrierarr
