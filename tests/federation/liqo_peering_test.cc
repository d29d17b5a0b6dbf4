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
#include "federation/two_clusters.h"
#include "kube/client.h"
#include "kube/kubeconfig.h"
#include "ops/fleet_ops.h"
#include "pki/pem.h"
#include "providers/kubernetes/manifests.h"
#include "testing/fake_kube.h"
#include "testing/fake_process_runner.h"

namespace carrierarr {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

using testing::InstallLiqo;
using testing::ServeLiqoKinds;

class LiqoPeeringTest : public testing::TwoClusters {
 protected:
  void SetUp() override {
    home_.AddNamespace("liqo");
    home_.AddNamespace("ai");
    cloud_.AddNamespace("liqo-system");
    ServeLiqoKinds(home_);
    ServeLiqoKinds(cloud_);
    InstallLiqo(*home_api_, "liqo", "talos-home", "v1.0.1");
    InstallLiqo(*cloud_api_, "liqo-system", "aws-k3s", "v1.0.3");
    // What Liqo makes once the ResourceSlice is accepted: the cloud cluster as a node.
    home_.AddNode("liqo-aws-k3s",
                  {{"liqo.io/type", "virtual-node"}, {"liqo.io/remote-cluster-id", "aws-k3s"}},
                  "10.96.0.9");
    WriteLiqoFleet("");
  }

  void WriteLiqoFleet(const std::string& liqo_extra) {
    WriteFleet(
        "federation:\n  mode: liqo\n  cloud_kubeconfig: cloud.kubeconfig\n"
        "  liqo:\n    offload:\n      - {namespace: ai, pod_offloading_strategy: Remote}\n" +
        liqo_extra);
  }
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

  ExpectARerunChangesNothing();

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
  ASSERT_GE(FederationRecords().size(), 9u);  // 5 in the cloud, 4 in the homelab
  ExpectEachObjectDeletedByHandIsRepaired();
}

// The seeds' "re-peering after reprovisioning": a new cloud cluster (new API server, new CA,
// Liqo installed afresh) where the old one was, and the next `up` peers with it.
TEST_F(LiqoPeeringTest, ARecreatedCloudClusterIsPeeredAgain) {
  UpOk();
  testing::FakeKube recreated;
  recreated.AddNamespace("liqo-system");
  ServeLiqoKinds(recreated);
  recreated.WriteKubeconfig(dir_ / "cloud.kubeconfig");
  InstallLiqo(*testing::ClientFor(dir_ / "cloud.kubeconfig", "helm"), "liqo-system", "aws-k3s",
              "v1.0.3");
  WriteLiqoFleet("");  // a new run of carrierarr
  UpOk();
  EXPECT_FALSE(recreated
                   .Object("authentication.liqo.io/v1beta1", "Tenant", "liqo-tenant-talos-home",
                           "talos-home")
                   .is_null());
  Json identity =
      home_.Object("v1", "Secret", "liqo-tenant-aws-k3s", "kubeconfig-controlplane-aws-k3s");
  Json kubeconfig = Json::parse(Decoded(identity, "kubeconfig"));
  EXPECT_EQ(kubeconfig["clusters"][0]["cluster"]["server"], recreated.url());
  Json token =
      recreated.Object("v1", "Secret", "liqo-tenant-talos-home", "carrierarr-liqo-consumer-token");
  EXPECT_EQ(kubeconfig["users"][0]["user"]["token"], Decoded(token, "token"))
      << "the identity carries the new cluster's token";
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
  WriteLiqoFleet("    remote_namespace: liqo\n");
  auto plan = ops::PlanFleet(ctx_, {});
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(plan.status().message(),
              HasSubstr("federation.liqo.remote_namespace is 'liqo', but Liqo is in liqo-system"));
  EXPECT_THAT(plan.status().message(), HasSubstr("configmaps 'configmaps' not found"));
}

// use_liqoctl: the user's liqoctl peers (a FakeProcessRunner stands in for it: liqoctl is not a
// Debian package), with the namespaces found on each side and Liqo's network off; carrierarr
// makes the NamespaceOffloading after it, and `down` runs liqoctl unpeer.
TEST_F(LiqoPeeringTest, WithLiqoctlItPeersAndUnpeersWithTheRightFlags) {
  testing::FakeProcessRunner liqoctl;
  const std::string bin = dir_ / "bin";
  ASSERT_TRUE(MakeDirectory(bin, 0700).ok());
  ASSERT_TRUE(WriteFileAtomic(bin + "/liqoctl", "#!/bin/sh\nexit 1\n", 0700).ok());
  // What liqoctl peer leaves behind: the virtual node (the fixture's is taken away first).
  ASSERT_TRUE(
      home_api_->Delete({"v1", "Node", "", "liqo-aws-k3s"}, kube::Propagation::kBackground).ok());
  std::vector<std::vector<std::string>> runs;
  liqoctl.OnRun({bin + "/liqoctl", "peer"}, [&](const std::vector<std::string>& argv) {
    runs.push_back(argv);
    home_.AddNode("liqo-aws-k3s",
                  {{"liqo.io/type", "virtual-node"}, {"liqo.io/remote-cluster-id", "aws-k3s"}},
                  "10.96.0.9");
    return Result<RunResult>(testing::FakeProcessRunner::Exit(0));
  });
  liqoctl.OnRun({bin + "/liqoctl", "unpeer"}, [&](const std::vector<std::string>& argv) {
    runs.push_back(argv);
    return Result<RunResult>(testing::FakeProcessRunner::Exit(0));
  });
  WriteLiqoFleet("    use_liqoctl: true\n");
  ctx_.seams.processes = &liqoctl;
  ctx_.seams.environment.vars["PATH"] = "/nonexistent:" + bin;
  UpOk();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_THAT(runs[0], ::testing::ElementsAre(
                           bin + "/liqoctl", "peer", "--kubeconfig=" + (dir_ / "home.kubeconfig"),
                           "--context=fake", "--remote-kubeconfig=" + (dir_ / "cloud.kubeconfig"),
                           "--namespace=liqo", "--remote-namespace=liqo-system",
                           "--networking-disabled", "--cpu=8", "--memory=32Gi", "--pods=110"));
  EXPECT_FALSE(home_.Object("offloading.liqo.io/v1beta1", "NamespaceOffloading", "ai", "offloading")
                   .is_null());
  EXPECT_TRUE(cloud_.Object("v1", "Namespace", "", "liqo-tenant-talos-home").is_null())
      << "liqoctl's work, not ours";
  UpOk();
  EXPECT_EQ(runs.size(), 1u) << "peered: not run again";
  DownOk();
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[1][1], "unpeer");
  EXPECT_THAT(runs[1], ::testing::Contains("--remote-namespace=liqo-system"));
  EXPECT_TRUE(home_.Object("offloading.liqo.io/v1beta1", "NamespaceOffloading", "ai", "offloading")
                  .is_null());

  // Without liqoctl in PATH: said so, with what to do.
  ctx_.seams.environment.vars["PATH"] = "/nonexistent";
  auto plan = ops::PlanFleet(ctx_, {});
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(plan.status().message(), HasSubstr("no liqoctl is in PATH; install the liqoctl of "
                                                 "Liqo v1.0.1"));
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
  DownOk();
  ExpectNothingOfTheFleetLeft();
  EXPECT_FALSE(home_.Object("v1", "Namespace", "", "ai").is_null()) << "the user's namespace stays";
}

}  // namespace
}  // namespace carrierarr
