// Every core-API object of the federation (Liqo's tenant namespaces, credentials and binding;
// ClusterMesh's Secrets and forwarder DaemonSets), as their renderers make them for `up`, through
// the real `kubectl kustomize` and the strict core-API check (tests/providers/
// kube_schema_check.py). Liqo's own kinds are checked against its CRDs in liqo_crd_test.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "core/file_util.h"
#include "federation/clustermesh_objects.h"
#include "federation/liqo.h"
#include "federation/two_clusters.h"
#include "pki/pem.h"

namespace carrierarr {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

// `objects` as a kustomize directory (one file each, JSON being YAML) built by kubectl and
// checked against the API's schema; returns kustomize's output.
std::string KustomizeAndCheck(const testing::ScratchDir& dir, const std::string& name,
                              const std::vector<Json>& objects) {
  const std::string at = dir / name;
  EXPECT_TRUE(MakeDirectory(at, 0700).ok());
  Json resources = Json::array();
  for (size_t i = 0; i < objects.size(); ++i) {
    const std::string file = std::to_string(i) + ".yaml";
    EXPECT_TRUE(WriteFileAtomic(at + "/" + file, objects[i].dump(2), 0600).ok());
    resources.push_back(file);
  }
  const Json kustomization = {{"apiVersion", "kustomize.config.k8s.io/v1beta1"},
                              {"kind", "Kustomization"},
                              {"resources", resources}};
  EXPECT_TRUE(WriteFileAtomic(at + "/kustomization.yaml", kustomization.dump(2), 0600).ok());
  const std::string built = testing::Kustomize(at);
  EXPECT_FALSE(built.empty()) << name;
  RunResult check = testing::SchemaCheck(built);
  EXPECT_EQ(check.exit_code, 0) << name << ":\n" << check.err << "\n" << built;
  return built;
}

bool IsCore(const Json& o) {
  return o.value("apiVersion", "").find(".liqo.io/") == std::string::npos;
}

TEST(FederationManifests, LiqosCoreObjectsPassKustomizeAndTheSchema) {
  federation::LiqoPeering peering{
      .fleet = "lab",
      .consumer = {.ns = "liqo", .cluster_id = "talos-home", .version = "v1.0.1"},
      .provider = {.ns = "liqo-system", .cluster_id = "aws-k3s", .version = "v1.0.1"},
      .offload = {{.name = "ai"}},
      .resources = {{"cpu", "8"}}};
  const federation::LiqoObjects objects = federation::RenderLiqoPeering(peering);
  const Json token = {{"data", {{"token", pki::Base64Encode("eyJhbGciOi.token")}}}};
  auto identity = federation::RenderIdentitySecret(peering, "https://10.42.200.1:6443",
                                                   "-----BEGIN CERTIFICATE-----\n", token);
  ASSERT_TRUE(identity.ok()) << identity.status().ToString();
  std::vector<Json> cloud, homelab = {*identity};
  for (const Json& o : objects.provider)
    if (IsCore(o)) cloud.push_back(o);
  for (const Json& o : objects.consumer)
    if (IsCore(o)) homelab.push_back(o);
  ASSERT_EQ(cloud.size(), 4u) << "Namespace, ServiceAccount, token Secret, RoleBinding";
  ASSERT_EQ(homelab.size(), 2u) << "identity Secret, Namespace";
  testing::ScratchDir dir;
  EXPECT_THAT(KustomizeAndCheck(dir, "liqo-cloud", cloud), HasSubstr("kind: RoleBinding"));
  EXPECT_THAT(KustomizeAndCheck(dir, "liqo-homelab", homelab),
              HasSubstr("liqo.io/identity-type: ControlPlane"));
}

class ClusterMeshManifests : public testing::TwoClusters {};

TEST_F(ClusterMeshManifests, EveryObjectPassesKustomizeAndTheSchema) {
  testing::InstallCiliumCa(*home_api_, "talos-home");
  testing::InstallCiliumCa(*cloud_api_, "aws-k3s");
  const spec::FederationSpec defaults;
  const federation::ClusterMeshInputs inputs{.fleet = "lab",
                                             .homelab = defaults.homelab,
                                             .cloud = defaults.cloud,
                                             .homelab_mesh_ips = {"10.42.0.10", "10.42.0.11"},
                                             .cloud_mesh_ips = {"10.42.200.1"}};
  auto objects = federation::RenderClusterMesh(*home_api_, *cloud_api_, inputs,
                                               std::chrono::system_clock::now());
  ASSERT_TRUE(objects.ok()) << objects.status().ToString();
  testing::ScratchDir dir;
  for (const auto& [side, list] :
       {std::pair{"homelab", objects->homelab}, std::pair{"cloud", objects->cloud}}) {
    SCOPED_TRACE(side);
    const std::string built = KustomizeAndCheck(dir, std::string("clustermesh-") + side, list);
    EXPECT_THAT(built, HasSubstr("name: cilium-clustermesh"));
    EXPECT_THAT(built, HasSubstr("name: cilium-kvstoremesh"));
    EXPECT_THAT(built, HasSubstr("kind: DaemonSet"));
    EXPECT_THAT(built, HasSubstr("hostNetwork: true"));
  }
}

// `carrierarr render workload`, the built binary: the offloaded GPU Deployment and its Service.
class RenderWorkload : public testing::TwoClusters {
 protected:
  RunResult Render(const std::vector<std::string>& flags) {
    std::vector<std::string> argv = {testing::CarrierarrBinary(),
                                     "render",
                                     "workload",
                                     "-f",
                                     ctx_.fleet_file,
                                     "--out",
                                     dir_ / "out"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return testing::RunIn(dir_.path(), argv);
  }
};

TEST_F(RenderWorkload, AnOffloadedGpuDeploymentThatKustomizeAndTheSchemaAccept) {
  WriteFleet(
      "federation:\n  mode: liqo\n  cloud_kubeconfig: cloud.kubeconfig\n  liqo:\n    offload:\n    "
      "  - {namespace: ai}\n"
      "      - {namespace: batch}\n");
  RunResult r = Render({"--namespace", "batch", "--gpus", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("kubectl apply -k"));
  const std::string built = testing::Kustomize(dir_ / "out/workload");
  RunResult check = testing::SchemaCheck(built);
  EXPECT_EQ(check.exit_code, 0) << check.err << "\n" << built;
  std::vector<YAML::Node> docs = YAML::LoadAll(built);
  ASSERT_EQ(docs.size(), 2u) << built;
  const YAML::Node& d = docs[0]["kind"].as<std::string>() == "Deployment" ? docs[0] : docs[1];
  const YAML::Node pod = d["spec"]["template"]["spec"];
  EXPECT_EQ(d["metadata"]["namespace"].as<std::string>(), "batch");
  EXPECT_EQ(pod["nodeSelector"]["liqo.io/type"].as<std::string>(), "virtual-node");
  ASSERT_EQ(pod["tolerations"].size(), 1u);
  EXPECT_EQ(pod["tolerations"][0]["key"].as<std::string>(), "virtual-node.liqo.io/not-allowed");
  EXPECT_EQ(pod["tolerations"][0]["effect"].as<std::string>(), "NoExecute");
  EXPECT_EQ(pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"].as<std::string>(), "2");
}

TEST_F(RenderWorkload, RefusesWhatWouldNotBeOffloaded) {
  WriteFleet(
      "federation:\n  mode: liqo\n  cloud_kubeconfig: cloud.kubeconfig\n  liqo:\n    offload:\n    "
      "  - {namespace: ai}\n");
  RunResult r = Render({"--namespace", "default"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("--namespace default is not offloaded"));
  EXPECT_THAT(r.err, HasSubstr("offloads ai"));
  r = Render({"--gpus", "0"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("--gpus 0: give 1 to 8"));
  WriteFleet("federation:\n  mode: clustermesh\n  cloud_kubeconfig: cloud.kubeconfig\n");
  r = Render({});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("set federation.mode: liqo"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "out")) << "a failed run leaves no directory";
}

}  // namespace
}  // namespace carrierarr
