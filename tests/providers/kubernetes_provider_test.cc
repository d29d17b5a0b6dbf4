// `up` and `down` of a fleet whose homelab and lighthouse are a Kubernetes cluster, in process,
// against FakeKube on loopback HTTPS through the real client: every joining node gets its
// certificate in the Secret, the workloads are applied and rolled out, a rerun changes nothing,
// a denied apply is named, `down` leaves nothing carrierarr applied.
#include "providers/kubernetes/kubernetes_provider.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <string>

#include "core/file_util.h"
#include "core/subprocess.h"
#include "ops/fleet_ops.h"
#include "providers/kubernetes/manifests.h"
#include "providers/registry.h"
#include "testing/fake_kube.h"
#include "testing/tools.h"

namespace carrierarr {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

std::string Trimmed(const Result<std::string>& text) {
  std::string s = text.ok() ? *text : "";
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

class KubernetesProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kube_.AddNode("node-a", {{"mesh", "yes"}}, "192.168.1.10");
    kube_.AddNode("node-b", {{"mesh", "yes"}}, "192.168.1.11");
    kube_.AddNode("node-c", {{"mesh", "no"}}, "192.168.1.12");
    kube_.WriteKubeconfig(dir_ / "kubeconfig");
    const std::string yaml =
        "name: demo\n"
        "lighthouse:\n  provider: kubernetes\n"
        "homelab:\n  provider: kubernetes\n  kubeconfig: " +
        (dir_ / "kubeconfig") +
        "\n"
        "control_plane:\n  image: registry.lan/carrierarr:0.1\n"
        "providers:\n  kubernetes:\n    context: fake\n"
        "    node_selector: {mesh: \"yes\"}\n"
        "    lighthouse_endpoint: 192.168.1.10:4242\n";
    ASSERT_TRUE(WriteFileAtomic(dir_ / "fleet.yaml", yaml, 0600).ok());
    auto ctx = ops::LoadContext(dir_ / "fleet.yaml", Seams::FromProcess(),
                                providers::ProviderRegistry::BuiltIn());
    ASSERT_TRUE(ctx.ok()) << ctx.status().ToString();
    ctx_ = std::move(*ctx);
  }
  Result<ops::UpResult> Up() {
    return ops::Up(ctx_, {.mesh_wait = std::chrono::milliseconds(5000)});
  }
  // The objects carrying the fleet's labels, but those being deleted (a Namespace terminates
  // after `down` returns, as on a cluster).
  std::vector<Json> Managed() const {
    std::vector<Json> out;
    for (const auto& o : kube_.Objects()) {
      if (o["metadata"].contains("deletionTimestamp")) continue;
      const Json labels = o["metadata"].value("labels", Json::object());
      if (labels.value(kubernetes::kManagedByLabel, "") == "carrierarr" &&
          labels.value(kubernetes::kFleetLabel, "") == "demo")
        out.push_back(o);
    }
    return out;
  }

  testing::FakeKube kube_;
  testing::ScratchDir dir_;
  ops::FleetContext ctx_;
};

// A Liqo virtual node stands for the cloud cluster: no certificate, no nebula pod (the
// DaemonSet tolerates every taint, so its node affinity is what keeps it off).
TEST_F(KubernetesProviderTest, ALiqoVirtualNodeIsNoMember) {
  kube_.AddNode("liqo-aws-k3s", {{"mesh", "yes"}, {"liqo.io/type", "virtual-node"}}, "10.0.0.9");
  auto up = Up();
  ASSERT_TRUE(up.ok()) << up.status().ToString();
  ASSERT_TRUE(up->apply.status.ok()) << up->apply.status.ToString();
  Json secret = kube_.Object("v1", "Secret", "nebula-system", "nebula-certs");
  EXPECT_TRUE(secret["data"].contains("node-a.crt"));
  EXPECT_FALSE(secret["data"].contains("liqo-aws-k3s.crt"));
  Json ds = kube_.Object("apps/v1", "DaemonSet", "nebula-system", "nebula");
  EXPECT_EQ(ds["status"]["desiredNumberScheduled"], 2) << "node-a and node-b only";
  for (const auto& o : kube_.Objects()) {
    if (o["kind"] != "Pod") continue;
    EXPECT_NE(o["spec"].value("nodeName", ""), "liqo-aws-k3s") << o["metadata"]["name"];
  }
}

TEST_F(KubernetesProviderTest, UpAppliesEverythingARerunChangesNothingDownRemovesIt) {
  auto up = Up();
  ASSERT_TRUE(up.ok()) << up.status().ToString();
  ASSERT_TRUE(up->apply.status.ok()) << up->apply.status.ToString();
  Json secret = kube_.Object("v1", "Secret", "nebula-system", "nebula-certs");
  ASSERT_FALSE(secret.is_null());
  EXPECT_TRUE(secret["data"].contains("node-a.crt"));
  EXPECT_TRUE(secret["data"].contains("node-b.key"));
  EXPECT_FALSE(secret["data"].contains("node-c.crt")) << "left out by the node selector";
  EXPECT_FALSE(kube_.Object("apps/v1", "DaemonSet", "nebula-system", "nebula").is_null());
  EXPECT_FALSE(
      kube_.Object("apps/v1", "Deployment", "carrierarr", "carrierarr-control-plane").is_null());
  EXPECT_EQ(Trimmed(ReadFile(dir_ / ".carrierarr/control/server")), "192.168.1.10:30052");
  EXPECT_FALSE(Managed().empty());

  const int patches = kube_.CountRequests("PATCH");
  auto plan = ops::PlanFleet(ctx_, {});
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  for (const auto& step : plan->steps) {
    EXPECT_EQ(step.action, provision::Action::kNone) << step.id << ": " << step.reason;
  }
  auto again = Up();
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->apply.status.ok()) << again->apply.status.ToString();
  EXPECT_EQ(kube_.CountRequests("PATCH"), patches) << "a rerun applies nothing";

  auto down = ops::Down(ctx_, {});
  ASSERT_TRUE(down.ok()) << down.status().ToString();
  EXPECT_TRUE(down->apply.status.ok()) << down->apply.status.ToString();
  for (const auto& o : Managed())
    ADD_FAILURE() << "left: " << o["kind"] << " " << o["metadata"]["name"];
  EXPECT_FALSE(down->state_removed && !down->leftovers.empty());
}

// An `up` stopped part way (here: only the nebula Secret and what it needs) is finished by the
// next one, which adopts what the first applied.
TEST_F(KubernetesProviderTest, AnInterruptedUpIsFinishedByTheNext) {
  auto part = ops::Up(ctx_, {.plan = {.targets = {"kube/Secret/nebula-system/nebula-certs"}},
                             .mesh_wait = std::chrono::milliseconds(5000)});
  ASSERT_TRUE(part.ok()) << part.status().ToString();
  EXPECT_FALSE(kube_.Object("v1", "Secret", "nebula-system", "nebula-certs").is_null());
  EXPECT_TRUE(kube_.Object("apps/v1", "DaemonSet", "nebula-system", "nebula").is_null());
  auto rest = Up();
  ASSERT_TRUE(rest.ok()) << rest.status().ToString();
  EXPECT_FALSE(kube_.Object("apps/v1", "DaemonSet", "nebula-system", "nebula").is_null());
  auto plan = ops::PlanFleet(ctx_, {});
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_FALSE(plan->HasChanges());
}

TEST_F(KubernetesProviderTest, ADeniedApplyIsNamed) {
  kube_.Deny("admin", "patch", "daemonsets", "nebula-system");
  auto up = Up();
  ASSERT_FALSE(up.ok());
  EXPECT_EQ(up.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(up.status().message(), HasSubstr("applying DaemonSet nebula-system/nebula"));
  EXPECT_THAT(up.status().message(), HasSubstr("cannot patch resource \"daemonsets\""));
}

// `render manifests` makes the key material here and writes what `up` would apply, as kustomize
// directories the real kubectl accepts, without applying anything to the cluster.
TEST_F(KubernetesProviderTest, RenderManifestsWritesKustomizeDirsAndAppliesNothing) {
  const std::string out = dir_ / "manifests";
  ASSERT_EQ(::mkdir(out.c_str(), 0700), 0);
  auto written = ops::RenderManifests(ctx_, out);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_EQ(kube_.CountRequests("PATCH"), 0);
  EXPECT_TRUE(kube_.Object("apps/v1", "DaemonSet", "nebula-system", "nebula").is_null());
  for (const std::string component : {"nebula", "lighthouse", "control-plane"}) {
    auto run = carrierarr::Run({"kubectl", "kustomize", out + "/" + component},
                               {.timeout = std::chrono::seconds(60)});
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    EXPECT_EQ(run->exit_code, 0) << component << ": " << run->err;
    EXPECT_THAT(run->out, HasSubstr("carrierarr.io/fleet: demo")) << component;
  }
  // The certificates of the joining nodes were made on this machine, and only theirs.
  EXPECT_TRUE(ReadFile(ctx_.paths.HostCert("node-a")).ok());
  EXPECT_FALSE(ReadFile(ctx_.paths.HostCert("node-c")).ok());
}

// `status` and `doctor` read the homelab from the cluster: each member's nebula pod, the
// lighthouse's pod, the API server, RBAC and the Pod Security of the namespaces up made.
TEST_F(KubernetesProviderTest, StatusAndDoctorReadTheCluster) {
  auto up = Up();
  ASSERT_TRUE(up.ok()) << up.status().ToString();
  auto status = ops::ReadFleetStatus(ctx_);
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  std::map<std::string, ops::NodeStatus> by_name;
  for (const auto& n : status->nodes) by_name[n.name] = n;
  ASSERT_EQ(by_name.count("node-c"), 0u);  // not selected
  for (const std::string node : {"lighthouse", "node-a", "node-b"}) {
    ASSERT_EQ(by_name.count(node), 1u) << node;
    EXPECT_TRUE(by_name[node].running) << node << ": " << by_name[node].problem;
    EXPECT_THAT(by_name[node].detail, HasSubstr("pod ")) << node;
  }
  auto checks = ops::Doctor(ctx_);
  ASSERT_TRUE(checks.ok()) << checks.status().ToString();
  std::map<std::string, providers::DoctorCheck> by_check;
  for (const auto& c : *checks) by_check[c.name] = c;
  for (const std::string name :
       {"kubernetes API", "RBAC", "Pod Security", "mesh mask", "lighthouse exposure"}) {
    ASSERT_EQ(by_check.count(name), 1u) << name;
    EXPECT_TRUE(by_check[name].ok) << name << ": " << by_check[name].detail;
  }
  // The lighthouse is pinned to the first joining node, node-a (192.168.1.10).
  EXPECT_EQ(by_check["lighthouse exposure"].detail,
            "UDP hostPort 4242 on node node-a; your router must forward 192.168.1.10:4242 (UDP) "
            "to 192.168.1.10:4242");
}

TEST(KubernetesRenderTest, AHomelabThatIsNotInKubernetesHasNoManifests) {
  testing::ScratchDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir / "fleet.yaml", "name: demo\n", 0600).ok());
  auto ctx = ops::LoadContext(dir / "fleet.yaml", Seams::FromProcess(),
                              providers::ProviderRegistry::BuiltIn());
  ASSERT_TRUE(ctx.ok()) << ctx.status().ToString();
  auto written = ops::RenderManifests(*ctx, dir / "out");
  ASSERT_FALSE(written.ok());
  EXPECT_THAT(written.status().message(), HasSubstr("set homelab.provider: kubernetes"));
  EXPECT_FALSE(std::filesystem::exists(dir / ".carrierarr"));
}

}  // namespace
}  // namespace carrierarr
