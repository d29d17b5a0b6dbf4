// Every core-API object of the federation (Liqo's tenant namespaces, credentials and binding;
// ClusterMesh's Secrets and forwarder DaemonSets), as their renderers make them for `up`, through
// the real `kubectl kustomize` and the strict core-API check (tests/providers/
// kube_schema_check.py). Liqo's own kinds are checked against its CRDs in liqo_crd_test.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
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

}  // namespace
}  // namespace carrierarr
