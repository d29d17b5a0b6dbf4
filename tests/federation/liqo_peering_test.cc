// Liqo peering made by `up` between two clusters, each a FakeKube on loopback HTTPS reached
// through the real client: made from nothing, unchanged by a rerun, repaired after any of its
// objects is deleted by hand, refused on a Liqo version mismatch or a wrong Liqo namespace, left
// alone (and said so) while the cloud cluster's kubeconfig is missing, removed by `down` from
// both sides. No root.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "core/file_util.h"
#include "federation/federation.h"
#include "federation/liqo.h"
#include "kube/client.h"
#include "kube/kubeconfig.h"
#include "ops/fleet_ops.h"
#include "pki/pem.h"
#include "providers/kubernetes/manifests.h"
#include "testing/fake_kube.h"
#include "testing/tools.h"

namespace carrierarr {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

// The kinds Liqo's CRDs serve, as if installed.
void ServeLiqoKinds(testing::FakeKube& kube) {
  kube.AddCustomKind("authentication.liqo.io", "v1beta1", "Tenant", "tenants", true);
  kube.AddCustomKind("authentication.liqo.io", "v1beta1", "ResourceSlice", "resourceslices", true);
  kube.AddCustomKind("offloading.liqo.io", "v1beta1", "NamespaceOffloading", "namespaceoffloadings",
                     true);
}

std::unique_ptr<kube::KubeApi> Client(const std::string& kubeconfig, const std::string& manager) {
  auto access = kube::LoadKubeconfig({.path = kubeconfig}, Seams::FromProcess());
  EXPECT_TRUE(access.ok()) << access.status().ToString();
  auto api = kube::MakeKubeClient(*access, Seams::FromProcess(), {.field_manager = manager});
  EXPECT_TRUE(api.ok()) << api.status().ToString();
  return std::move(*api);
}

// What Liqo's Helm chart leaves in its namespace: the clusterid ConfigMap and the controller
// manager, whose image tag is Liqo's version.
void InstallLiqo(kube::KubeApi& api, const std::string& ns, const std::string& id,
                 const std::string& version) {
  Json cm = {{"apiVersion", "v1"},
             {"kind", "ConfigMap"},
             {"metadata",
              {{"name", "liqo-clusterid-configmap"},
               {"namespace", ns},
               {"labels", {{"app.kubernetes.io/name", "clusterid-configmap"}}}}},
             {"data", {{"CLUSTER_ID", id}}}};
  Json labels = {{"app.kubernetes.io/name", "controller-manager"},
                 {"app.kubernetes.io/component", "controller-manager"}};
  Json deploy = {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", {{"name", "liqo-controller-manager"}, {"namespace", ns}, {"labels", labels}}},
      {"spec",
       {{"selector", {{"matchLabels", labels}}},
        {"template",
         {{"metadata", {{"labels", labels}}},
          {"spec",
           {{"containers", Json::array({{{"name", "controller-manager"},
                                         {"image", "ghcr.io/liqotech/liqo/controller-manager:" +
                                                       version}}})}}}}}}}};
  for (const Json& o : {cm, deploy}) {
    auto applied = api.Apply(o);
    ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  }
}

class LiqoPeeringTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_.AddNode("node-a", {}, "192.168.1.10");
    home_.AddNamespace("liqo");
    home_.AddNamespace("ai");
    cloud_.AddNamespace("liqo-system");
    ServeLiqoKinds(home_);
    ServeLiqoKinds(cloud_);
    home_.WriteKubeconfig(dir_ / "home.kubeconfig");
    cloud_.WriteKubeconfig(dir_ / "cloud.kubeconfig");
    home_api_ = Client(dir_ / "home.kubeconfig", "helm");
    cloud_api_ = Client(dir_ / "cloud.kubeconfig", "helm");
    InstallLiqo(*home_api_, "liqo", "talos-home", "v1.0.1");
    InstallLiqo(*cloud_api_, "liqo-system", "aws-k3s", "v1.0.3");
    // What Liqo makes once the ResourceSlice is accepted: the cloud cluster as a node.
    home_.AddNode("liqo-aws-k3s",
                  {{"liqo.io/type", "virtual-node"}, {"liqo.io/remote-cluster-id", "aws-k3s"}},
                  "10.96.0.9");
    WriteFleet("");
  }

  void WriteFleet(const std::string& liqo_extra) {
    const std::string yaml =
        "name: demo\n"
        "lighthouse:\n  provider: kubernetes\n"
        "homelab:\n  provider: kubernetes\n  kubeconfig: " +
        (dir_ / "home.kubeconfig") +
        "\ncontrol_plane:\n  image: registry.lan/carrierarr:0.1\n"
        "providers:\n  kubernetes:\n    context: fake\n"
        "    lighthouse_endpoint: 192.168.1.10:4242\n"
        "federation:\n  mode: liqo\n  cloud_kubeconfig: cloud.kubeconfig\n"
        "  liqo:\n    offload:\n      - {namespace: ai, pod_offloading_strategy: Remote}\n" +
        liqo_extra;
    ASSERT_TRUE(WriteFileAtomic(dir_ / "fleet.yaml", yaml, 0600).ok());
    auto ctx = ops::LoadContext(dir_ / "fleet.yaml", Seams::FromProcess());
    ASSERT_TRUE(ctx.ok()) << ctx.status().ToString();
    ctx_ = std::move(*ctx);
  }

  Result<ops::UpResult> Up() {
    return ops::Up(ctx_, {.mesh_wait = std::chrono::milliseconds(5000)});
  }
  void UpOk() {
    auto up = Up();
    ASSERT_TRUE(up.ok()) << up.status().ToString();
    ASSERT_TRUE(up->apply.status.ok()) << up->apply.status.ToString();
  }

  // The federation's objects by resource id, as the state records them.
  std::map<std::string, Json> FederationRecords() {
    std::map<std::string, Json> out;
    auto state = ops::ReadState(ctx_);
    EXPECT_TRUE(state.ok());
    for (const auto& [id, r] : state->resources)
      if (r.kind == federation::kObjectKind) out[id] = r.attrs;
    return out;
  }

  testing::FakeKube home_, cloud_;
  testing::ScratchDir dir_;
  std::unique_ptr<kube::KubeApi> home_api_, cloud_api_;
  ops::FleetContext ctx_;
};

std::string Decoded(const Json& secret, const std::string& key) {
  return pki::Base64Decode(secret["data"].value(key, "")).value_or("");
}

TEST_F(LiqoPeeringTest, PeersFromNothingAndARerunChangesNothing) {
  UpOk();
  // The provider (cloud) side: the consumer's tenant namespace, its credentials and Tenant.
  const std::string provider_ns = "liqo-tenant-talos-home";
  Json ns = cloud_.Object("v1", "Namespace", "", provider_ns);
  ASSERT_FALSE(ns.is_null());
  EXPECT_EQ(ns["metadata"]["labels"]["liqo.io/remote-cluster-id"], "talos-home");
  EXPECT_EQ(ns["metadata"]["labels"]["liqo.io/tenant-namespace"], "true");
  Json tenant =
      cloud_.Object("authentication.liqo.io/v1beta1", "Tenant", provider_ns, "talos-home");
  ASSERT_FALSE(tenant.is_null());
  EXPECT_EQ(tenant["spec"]["clusterID"], "talos-home");
  EXPECT_EQ(tenant["spec"]["authzPolicy"], "TolerateNoHandshake");
  Json binding = cloud_.Object("rbac.authorization.k8s.io/v1", "RoleBinding", provider_ns,
                               "liqo-binding-liqo-remote-controlplane");
  ASSERT_FALSE(binding.is_null());
  EXPECT_EQ(binding["roleRef"]["name"], "liqo-remote-controlplane");
  EXPECT_EQ(binding["subjects"][0]["kind"], "ServiceAccount");
  Json token = cloud_.Object("v1", "Secret", provider_ns, "carrierarr-liqo-consumer-token");
  ASSERT_TRUE(token.contains("data")) << token.dump();

  // The consumer (homelab) side: its identity carries that token and the cloud's address.
  const std::string consumer_ns = "liqo-tenant-aws-k3s";
  Json identity = home_.Object("v1", "Secret", consumer_ns, "kubeconfig-controlplane-aws-k3s");
  ASSERT_FALSE(identity.is_null());
  EXPECT_EQ(identity["metadata"]["labels"]["liqo.io/identity-type"], "ControlPlane");
  EXPECT_EQ(identity["metadata"]["labels"]["liqo.io/remote-cluster-id"], "aws-k3s");
  EXPECT_EQ(identity["metadata"]["annotations"]["liqo.io/remote-tenant-namespace"], provider_ns);
  Json kubeconfig = Json::parse(Decoded(identity, "kubeconfig"));
  EXPECT_EQ(kubeconfig["clusters"][0]["cluster"]["server"], cloud_.url());
  EXPECT_EQ(
      pki::Base64Decode(
          kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"].get<std::string>()),
      cloud_.ca_pem());
  EXPECT_EQ(kubeconfig["users"][0]["user"]["token"], Decoded(token, "token"));
  // And the consumer's credentials work against the cloud cluster's API.
  ASSERT_TRUE(WriteFileAtomic(dir_ / "identity.kubeconfig", kubeconfig.dump(), 0600).ok());
  auto as_consumer = kube::LoadKubeconfig({.path = dir_ / "identity.kubeconfig"}, Seams{});
  ASSERT_TRUE(as_consumer.ok()) << as_consumer.status().ToString();
  EXPECT_EQ(as_consumer->server, cloud_.url());

  Json slice =
      home_.Object("authentication.liqo.io/v1beta1", "ResourceSlice", consumer_ns, "aws-k3s");
  ASSERT_FALSE(slice.is_null());
  EXPECT_EQ(slice["metadata"]["annotations"]["liqo.io/create-virtual-node"], "true");
  EXPECT_EQ(slice["spec"]["providerClusterID"], "aws-k3s");
  EXPECT_EQ(slice["spec"]["resources"]["memory"], "32Gi");
  Json offloading =
      home_.Object("offloading.liqo.io/v1beta1", "NamespaceOffloading", "ai", "offloading");
  ASSERT_FALSE(offloading.is_null());
  EXPECT_EQ(offloading["spec"]["podOffloadingStrategy"], "Remote");
  EXPECT_EQ(offloading["spec"]["namespaceMappingStrategy"], "DefaultName");

  // A rerun: nothing to do, nothing applied to either cluster.
  const int home_patches = home_.CountRequests("PATCH");
  const int cloud_patches = cloud_.CountRequests("PATCH");
  auto plan = ops::PlanFleet(ctx_, {});
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  for (const auto& step : plan->steps)
    EXPECT_EQ(step.action, provision::Action::kNone) << step.id << ": " << step.reason;
  UpOk();
  EXPECT_EQ(home_.CountRequests("PATCH"), home_patches);
  EXPECT_EQ(cloud_.CountRequests("PATCH"), cloud_patches);

  // status shows the virtual node and the offloaded namespace.
  auto status = ops::ReadFleetStatus(ctx_);
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_EQ(status->federation.mode, "liqo");
  ASSERT_EQ(status->federation.items.size(), 2u);
  EXPECT_EQ(status->federation.items[0].what, "virtual node liqo-aws-k3s");
  EXPECT_TRUE(status->federation.items[0].ok) << status->federation.items[0].detail;
  EXPECT_EQ(status->federation.items[1].what, "namespace ai");
}

TEST_F(LiqoPeeringTest, RepairsEachObjectDeletedByHand) {
  UpOk();
  const auto records = FederationRecords();
  ASSERT_GE(records.size(), 9u);  // 5 in the cloud, 4 in the homelab
  for (const auto& [id, attrs] : records) {
    SCOPED_TRACE(id);
    const bool cloud = id.rfind("federation/cloud/", 0) == 0;
    kube::KubeApi& api = cloud ? *cloud_api_ : *home_api_;
    const kube::ObjectRef ref{attrs["apiVersion"], attrs["kind"], attrs["namespace"],
                              attrs["name"]};
    if (ref.kind == "Namespace") continue;  // its deletion takes everything in it along
    ASSERT_TRUE(api.Delete(ref, kube::Propagation::kBackground).ok());
    auto plan = ops::PlanFleet(ctx_, {});
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    int creates = 0;
    std::set<std::string> remade;
    for (const auto& step : plan->steps) {
      if (step.action == provision::Action::kNone) continue;
      remade.insert(step.id);
      if (step.id == id) {
        ++creates;
        EXPECT_EQ(step.action, provision::Action::kCreate);
        continue;
      }
      // Only what is made from it again (a new token makes a new identity), never a sibling.
      const bool cascades = std::any_of(step.deps.begin(), step.deps.end(),
                                        [&](const std::string& d) { return remade.count(d) != 0; });
      EXPECT_TRUE(cascades) << step.id << " is re-made: " << step.reason;
      EXPECT_THAT(step.id, Not(HasSubstr("/Namespace/"))) << "no namespace is re-made";
    }
    EXPECT_EQ(creates, 1);
    UpOk();
    auto back = api.Get(ref);
    ASSERT_TRUE(back.ok());
    EXPECT_TRUE(back->has_value()) << ref.ToString() << " is back";
  }
}

TEST_F(LiqoPeeringTest, RefusesAVersionMismatchNamingBoth) {
  InstallLiqo(*cloud_api_, "liqo-system", "aws-k3s", "v1.1.0");
  auto plan = ops::PlanFleet(ctx_, {});
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(plan.status().message(), HasSubstr("Liqo v1.0.1 in the homelab"));
  EXPECT_THAT(plan.status().message(), HasSubstr("Liqo v1.1.0 in the cloud cluster"));
  auto up = Up();
  ASSERT_FALSE(up.ok());
  EXPECT_TRUE(cloud_.Object("v1", "Namespace", "", "liqo-tenant-talos-home").is_null())
      << "nothing is made in either cluster";
}

TEST_F(LiqoPeeringTest, AWrongLiqoNamespaceIsNamedWithTheRightOne) {
  WriteFleet("    remote_namespace: liqo\n");
  auto plan = ops::PlanFleet(ctx_, {});
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(plan.status().message(),
              HasSubstr("federation.liqo.remote_namespace is 'liqo', but Liqo is in liqo-system"));
  EXPECT_THAT(plan.status().message(), HasSubstr("configmaps 'configmaps' not found"));
}

TEST_F(LiqoPeeringTest, WaitsForTheCloudKubeconfigAndKeepsWhatItMade) {
  UpOk();
  const size_t made = FederationRecords().size();
  std::filesystem::rename(dir_ / "cloud.kubeconfig", dir_ / "cloud.kubeconfig.away");
  auto plan = ops::PlanFleet(ctx_, {});
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->notes.size(), 1u);
  EXPECT_THAT(plan->notes[0], HasSubstr("run 'carrierarr kubeconfig'"));
  for (const auto& step : plan->steps)
    EXPECT_NE(step.action, provision::Action::kDelete) << step.id << " is kept, not deleted";
  UpOk();
  EXPECT_EQ(FederationRecords().size(), made);
  auto status = ops::ReadFleetStatus(ctx_);
  ASSERT_TRUE(status.ok());
  EXPECT_THAT(status->federation.waiting, HasSubstr("carrierarr kubeconfig"));
}

TEST_F(LiqoPeeringTest, DownRemovesBothSides) {
  UpOk();
  auto down = ops::Down(ctx_, {});
  ASSERT_TRUE(down.ok()) << down.status().ToString();
  ASSERT_TRUE(down->apply.status.ok()) << down->apply.status.ToString();
  for (testing::FakeKube* kube : {&home_, &cloud_}) {
    for (const auto& o : kube->Objects()) {
      if (o["metadata"].contains("deletionTimestamp")) continue;
      const Json labels = o["metadata"].value("labels", Json::object());
      EXPECT_NE(labels.value(kubernetes::kFleetLabel, ""), "demo")
          << "left: " << o["kind"] << " " << o["metadata"].value("namespace", "") << "/"
          << o["metadata"]["name"];
    }
  }
}

}  // namespace
}  // namespace carrierarr
