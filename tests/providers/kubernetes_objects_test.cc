// The kubernetes provider's resources against FakeKube on loopback HTTPS, through the real
// client: an object is applied with its content digest, found again without a write, adopted
// when it was applied before, named in errors (RBAC, missing namespace), deleted from its
// recorded attrs alone; a rollout waits; the admin token is made once, 0600.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>
#include <thread>

#include "core/file_util.h"
#include "providers/kubernetes/kubernetes_provider.h"
#include "providers/kubernetes/objects.h"
#include "testing/eventually.h"
#include "testing/fake_kube.h"
#include "testing/tools.h"

namespace carrierarr::kubernetes {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

Json Labels() {
  return {{"app.kubernetes.io/managed-by", "carrierarr"}, {"carrierarr.io/fleet", "demo"}};
}
Json NamespaceObject(const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "Namespace"},
          {"metadata", {{"name", name}, {"labels", Labels()}}}};
}
Json ConfigMap(const std::string& ns, const std::string& value) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", "nebula-config"}, {"namespace", ns}, {"labels", Labels()}}},
          {"data", {{"node-1.yml", value}}}};
}

class KubeObjectsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kube_.WriteKubeconfig(kubeconfig_);
    session_ = std::make_shared<KubeSession>(ClusterTarget{kubeconfig_, "fake", false}, seams_);
  }
  std::unique_ptr<provision::Resource> Object(const Json& o, std::vector<std::string> deps = {}) {
    return MakeObjectResource(
        {.session = session_,
         .planned = o,
         .deps = std::move(deps),
         .source = [o](const kube::ObjectRef&) -> Result<kube::Object> { return o; }});
  }

  testing::FakeKube kube_;
  testing::ScratchDir dir_;
  const std::string kubeconfig_ = dir_ / "kubeconfig";
  Seams seams_;
  std::shared_ptr<KubeSession> session_;
};

TEST_F(KubeObjectsTest, AppliesOnceWithItsDigestAndARerunWritesNothing) {
  auto ns = Object(NamespaceObject("nebula-system"));
  auto cm = Object(ConfigMap("nebula-system", "a"), {ns->id()});
  EXPECT_EQ(ns->id(), "kube/Namespace/-/nebula-system");
  EXPECT_EQ(cm->id(), "kube/ConfigMap/nebula-system/nebula-config");
  EXPECT_EQ(cm->kind(), kObjectKind);
  ASSERT_FALSE(*cm->Exists());
  ASSERT_TRUE(ns->Create().ok());
  auto created = cm->Create();
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ((*created)["kind"], "ConfigMap");
  EXPECT_EQ((*created)["kubeconfig"], kubeconfig_);
  EXPECT_EQ((*created)["context"], "fake");
  Json got = kube_.Object("v1", "ConfigMap", "nebula-system", "nebula-config");
  ASSERT_FALSE(got.is_null());
  EXPECT_EQ(got["metadata"]["annotations"][kAppliedHashAnnotation],
            ContentDigest(ConfigMap("nebula-system", "a")));
  const int patches = kube_.CountRequests("PATCH");
  EXPECT_TRUE(*cm->Exists());
  EXPECT_TRUE(*ns->Exists());
  EXPECT_EQ(kube_.CountRequests("PATCH"), patches) << "found again without a write";
  // Changed content: no longer as desired.
  EXPECT_FALSE(*Object(ConfigMap("nebula-system", "b"))->Exists());
}

TEST_F(KubeObjectsTest, ADeniedApplyNamesTheObjectVerbAndResource) {
  kube_.AddNamespace("nebula-system");
  kube_.Deny("admin", "patch", "configmaps", "nebula-system");
  auto created = Object(ConfigMap("nebula-system", "a"))->Create();
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(created.status().message(),
              HasSubstr("applying ConfigMap nebula-system/nebula-config"));
  EXPECT_THAT(created.status().message(), HasSubstr("configmaps"));
}

TEST_F(KubeObjectsTest, AMissingNamespaceIsNamed) {
  auto created = Object(ConfigMap("nowhere", "a"))->Create();
  ASSERT_FALSE(created.ok());
  EXPECT_THAT(created.status().message(), HasSubstr("applying ConfigMap nowhere/nebula-config"));
  EXPECT_THAT(created.status().message(), HasSubstr("nowhere"));
}

TEST_F(KubeObjectsTest, TheDeleterNeedsOnlyTheRecordedAttrs) {
  auto ns = Object(NamespaceObject("nebula-system"));
  auto cm = Object(ConfigMap("nebula-system", "a"));
  ASSERT_TRUE(ns->Create().ok());
  auto attrs = cm->Create();
  ASSERT_TRUE(attrs.ok()) << attrs.status().ToString();
  provision::KindRegistry kinds;
  RegisterObjectKinds(kinds, seams_);
  ASSERT_NE(kinds.Find(kObjectKind), nullptr);
  ASSERT_TRUE((*kinds.Find(kObjectKind))(*attrs).ok());
  EXPECT_TRUE(kube_.Object("v1", "ConfigMap", "nebula-system", "nebula-config").is_null());
  EXPECT_TRUE((*kinds.Find(kObjectKind))(*attrs).ok()) << "gone already is fine";
}

TEST_F(KubeObjectsTest, ARolloutWaitsUntilTheDeploymentIsReady) {
  kube_.AddNode("node-1");
  kube_.set_rollouts_ready(false);
  ASSERT_TRUE(Object(NamespaceObject("carrierarr"))->Create().ok());
  Json deployment = {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", {{"name", "cp"}, {"namespace", "carrierarr"}, {"labels", Labels()}}},
      {"spec",
       {{"replicas", 1},
        {"selector", {{"matchLabels", {{"app", "cp"}}}}},
        {"template",
         {{"metadata", {{"labels", {{"app", "cp"}}}}},
          {"spec", {{"containers", {{{"name", "cp"}, {"image", "r/c:1"}}}}}}}}}}};
  auto applied = Object(deployment)->Create();
  ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  auto rollout = MakeRolloutResource({.session = session_,
                                      .ref = {"apps/v1", "Deployment", "carrierarr", "cp"},
                                      .timeout = std::chrono::seconds(30)});
  EXPECT_EQ(rollout->id(), "rollout/Deployment/cp");
  Result<Json> waited = Status::Internal("not run");
  std::thread waiter([&] { waited = rollout->Create(); });
  // Completed only once the wait watches: the rollout resource must have been waiting.
  bool watching = testing::Eventually(
      [&] {
        for (const auto& r : kube_.Requests())
          if (r.find("watch") != std::string::npos) return true;
        return false;
      },
      std::chrono::seconds(10));
  kube_.CompleteRollouts();
  waiter.join();
  EXPECT_TRUE(watching);
  EXPECT_TRUE(waited.ok()) << waited.status().ToString();
}

TEST_F(KubeObjectsTest, TheTokenFileIsMadeOnceWithMode0600) {
  const std::string path = dir_ / "admin.token";
  auto token = MakeTokenFileResource("admin-token", "the admin token", path);
  EXPECT_FALSE(*token->Exists());
  ASSERT_TRUE(token->Create().ok());
  auto first = ReadFile(path);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->size(), 65u);  // 64 hex digits and a newline
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_TRUE(token->Create().ok());
  EXPECT_EQ(*ReadFile(path), *first) << "kept on a rerun";
  EXPECT_TRUE(*token->Exists());
}

}  // namespace
}  // namespace carrierarr::kubernetes
