#include "federation/two_clusters.h"

#include <gmock/gmock.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <tuple>

#include "core/file_util.h"
#include "federation/federation.h"
#include "kube/kubeconfig.h"
#include "pki/pem.h"
#include "providers/kubernetes/manifests.h"

namespace carrierarr::testing {

using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

std::unique_ptr<kube::KubeApi> ClientFor(const std::string& kubeconfig,
                                         const std::string& manager) {
  auto access = kube::LoadKubeconfig({.path = kubeconfig}, Seams::FromProcess());
  EXPECT_TRUE(access.ok()) << access.status().ToString();
  auto api = kube::MakeKubeClient(*access, Seams::FromProcess(), {.field_manager = manager});
  EXPECT_TRUE(api.ok()) << api.status().ToString();
  return std::move(*api);
}

void ServeLiqoKinds(FakeKube& kube) {
  kube.AddCustomKind("authentication.liqo.io", "v1beta1", "Tenant", "tenants", true);
  kube.AddCustomKind("authentication.liqo.io", "v1beta1", "ResourceSlice", "resourceslices", true);
  kube.AddCustomKind("offloading.liqo.io", "v1beta1", "NamespaceOffloading", "namespaceoffloadings",
                     true);
}

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

void InstallCilium(FakeKube& kube, const std::string& name, const std::string& id, int node_port) {
  const Json meta = {{"namespace", "kube-system"}};
  auto named = [&meta](const std::string& n) {
    Json m = meta;
    m["name"] = n;
    return m;
  };
  kube.Store({{"apiVersion", "v1"},
              {"kind", "ConfigMap"},
              {"metadata", named("cilium-config")},
              {"data", {{"cluster-name", name}, {"cluster-id", id}}}});
  kube.Store({{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata", named("clustermesh-apiserver")},
              {"spec",
               {{"type", "NodePort"},
                {"ports", Json::array({{{"port", 2379}, {"nodePort", node_port}}})}}}});
  for (auto [kind, workload, image] :
       {std::tuple{"DaemonSet", "cilium", "quay.io/cilium/cilium:v1.16.5"},
        std::tuple{"Deployment", "clustermesh-apiserver",
                   "quay.io/cilium/clustermesh-apiserver:v1.16.5"}}) {
    const Json labels = {{"k8s-app", workload}};
    kube.Store({{"apiVersion", "apps/v1"},
                {"kind", kind},
                {"metadata", named(workload)},
                {"spec",
                 {{"selector", {{"matchLabels", labels}}},
                  {"template",
                   {{"metadata", {{"labels", labels}}},
                    {"spec",
                     {{"containers", Json::array({{{"name", workload}, {"image", image}}})}}}}}}}});
  }
}

pki::PemPair InstallCiliumCa(kube::KubeApi& api, const std::string& cluster) {
  auto made = pki::CreateClusterMeshMaterial({.cluster = cluster, .mesh_ips = {"10.42.0.9"}},
                                             std::chrono::system_clock::now());
  if (!made.ok()) {
    ADD_FAILURE() << made.status().ToString();
    return {};
  }
  Json secret = {{"apiVersion", "v1"},
                 {"kind", "Secret"},
                 {"metadata", {{"name", "cilium-ca"}, {"namespace", "kube-system"}}},
                 {"data",
                  {{"ca.crt", pki::Base64Encode(made->ca.cert_pem)},
                   {"ca.key", pki::Base64Encode(made->ca.key_pem)}}}};
  auto applied = api.Apply(secret);
  EXPECT_TRUE(applied.ok()) << applied.status().ToString();
  return made->ca;
}

TwoClusters::TwoClusters() {
  home_.AddNode("node-a", {}, "192.168.1.10");
  home_.WriteKubeconfig(dir_ / "home.kubeconfig");
  cloud_.WriteKubeconfig(dir_ / "cloud.kubeconfig");
  home_api_ = ClientFor(dir_ / "home.kubeconfig", "helm");
  cloud_api_ = ClientFor(dir_ / "cloud.kubeconfig", "helm");
}

void TwoClusters::WriteFleet(const std::string& federation_yaml) {
  const std::string yaml =
      "name: demo\n"
      "lighthouse:\n  provider: kubernetes\n"
      "homelab:\n  provider: kubernetes\n  kubeconfig: " +
      (dir_ / "home.kubeconfig") +
      "\ncontrol_plane:\n  image: registry.lan/carrierarr:0.1\n"
      "providers:\n  kubernetes:\n    context: fake\n"
      "    lighthouse_endpoint: 192.168.1.10:4242\n" +
      federation_yaml;
  ASSERT_TRUE(WriteFileAtomic(dir_ / "fleet.yaml", yaml, 0600).ok());
  auto ctx = ops::LoadContext(dir_ / "fleet.yaml", Seams::FromProcess());
  ASSERT_TRUE(ctx.ok()) << ctx.status().ToString();
  ctx_ = std::move(*ctx);
}

Result<ops::UpResult> TwoClusters::Up() {
  return ops::Up(ctx_, {.mesh_wait = std::chrono::milliseconds(5000)});
}

void TwoClusters::UpOk() {
  auto up = Up();
  ASSERT_TRUE(up.ok()) << up.status().ToString();
  ASSERT_TRUE(up->apply.status.ok()) << up->apply.status.ToString();
}

void TwoClusters::DownOk() {
  auto down = ops::Down(ctx_, {});
  ASSERT_TRUE(down.ok()) << down.status().ToString();
  ASSERT_TRUE(down->apply.status.ok()) << down->apply.status.ToString();
}

std::map<std::string, Json> TwoClusters::FederationRecords() {
  std::map<std::string, Json> out;
  auto state = ops::ReadState(ctx_);
  EXPECT_TRUE(state.ok());
  for (const auto& [id, r] : state->resources)
    if (r.kind == federation::kObjectKind) out[id] = r.attrs;
  return out;
}

void TwoClusters::ExpectEachObjectDeletedByHandIsRepaired() {
  for (const auto& [id, attrs] : FederationRecords()) {
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
  ExpectARerunChangesNothing();
}

void TwoClusters::ExpectARerunChangesNothing() {
  const int home_patches = home_.CountRequests("PATCH");
  const int cloud_patches = cloud_.CountRequests("PATCH");
  auto plan = ops::PlanFleet(ctx_, {});
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  for (const auto& step : plan->steps)
    EXPECT_EQ(step.action, provision::Action::kNone) << step.id << ": " << step.reason;
  UpOk();
  EXPECT_EQ(home_.CountRequests("PATCH"), home_patches);
  EXPECT_EQ(cloud_.CountRequests("PATCH"), cloud_patches);
}

void TwoClusters::ExpectNothingOfTheFleetLeft() {
  for (FakeKube* kube : {&home_, &cloud_}) {
    for (const auto& o : kube->Objects()) {
      if (o["metadata"].contains("deletionTimestamp")) continue;
      const Json labels = o["metadata"].value("labels", Json::object());
      EXPECT_NE(labels.value(kubernetes::kFleetLabel, ""), "demo")
          << "left: " << o["kind"] << " " << o["metadata"].value("namespace", "") << "/"
          << o["metadata"]["name"];
    }
  }
}

}  // namespace carrierarr::testing
