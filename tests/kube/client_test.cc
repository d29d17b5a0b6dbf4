// The real KubeClient against FakeKube on loopback HTTPS: apply, get, list, watch, delete,
// discovery, access reviews, the error mapping (401, 403, kinds not served, missing namespaces,
// an unreachable server), client certificate and token auth, and WaitForRollout.
#include "kube/client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "core/file_util.h"
#include "testing/eventually.h"
#include "testing/fake_kube.h"
#include "testing/fake_process_runner.h"
#include "testing/loopback_server.h"
#include "testing/tools.h"

namespace carrierarr::kube {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

Object ConfigMap(const std::string& ns, const std::string& name, const std::string& value) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"labels", {{"app", "demo"}}}}},
          {"data", {{"key", value}}}};
}

Object Workload(const std::string& kind, const std::string& ns, const std::string& name) {
  Object spec = {{"selector", {{"matchLabels", {{"app", name}}}}},
                 {"template",
                  {{"metadata", {{"labels", {{"app", name}}}}},
                   {"spec", {{"containers", {{{"name", name}, {"image", "nebula:1.9"}}}}}}}}};
  if (kind == "Deployment") spec["replicas"] = 2;
  return {{"apiVersion", "apps/v1"},
          {"kind", kind},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", spec}};
}

int64_t Version(const Object& object) {
  return std::stoll(object["metadata"]["resourceVersion"].get<std::string>());
}

class KubeClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_.WriteKubeconfig(dir_ / "config");
    api_ = Client("fake");  // the client certificate (admin); "fake-token" is token auth
  }
  std::unique_ptr<KubeApi> Client(const std::string& context) {
    auto access = LoadKubeconfig({.path = dir_ / "config", .context = context}, seams_);
    EXPECT_TRUE(access.ok()) << access.status().message();
    if (!access.ok()) return nullptr;
    auto client = MakeKubeClient(*access, seams_, {.request_timeout = std::chrono::seconds(10)});
    EXPECT_TRUE(client.ok()) << client.status().message();
    return client.ok() ? std::move(*client) : nullptr;
  }
  testing::ScratchDir dir_;
  testing::FakeKube fake_;
  Seams seams_;
  std::unique_ptr<KubeApi> api_;
};

TEST_F(KubeClientTest, ApplyCreatesThenUpdatesByServerSideApply) {
  auto created = api_->Apply(ConfigMap("default", "demo", "one"));
  ASSERT_TRUE(created.ok()) << created.status().message();
  auto updated = api_->Apply(ConfigMap("default", "demo", "two"));
  ASSERT_TRUE(updated.ok()) << updated.status().message();
  EXPECT_GT(Version(*updated), Version(*created));
  EXPECT_EQ(fake_.Object("v1", "ConfigMap", "default", "demo")["data"]["key"], "two");
  const std::vector<std::string> requests = fake_.Requests();
  EXPECT_THAT(requests,
              ::testing::Contains("PATCH /api/v1/namespaces/default/configmaps/demo?fieldManager="
                                  "carrierarr&force=true&fieldValidation=Strict"));
}

TEST_F(KubeClientTest, GetMissingIsNulloptAndGetFindsTheObject) {
  auto missing = api_->Get({"v1", "ConfigMap", "default", "nope"});
  ASSERT_TRUE(missing.ok()) << missing.status().message();
  EXPECT_FALSE(missing->has_value());
  ASSERT_TRUE(api_->Apply(ConfigMap("default", "here", "x")).ok());
  auto found = api_->Get({"v1", "ConfigMap", "default", "here"});
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((**found)["data"]["key"], "x");
}

// A pod's port through the API server's proxy: its answer, bounded; a pod that does not answer
// there and a missing pod are errors that say so.
TEST_F(KubeClientTest, PodProxyGetReadsAPodsAnswerWithinItsBound) {
  fake_.Store(
      {{"apiVersion", "v1"},
       {"kind", "Pod"},
       {"metadata", {{"name", "agent"}, {"namespace", "default"}}},
       {"spec", {{"containers", nlohmann::json::array({{{"name", "a"}, {"image", "x"}}})}}}});
  const std::string metrics(100000, 'm');
  fake_.ServePodProxy("default", "agent", 9962, "/metrics", metrics);
  auto got = api_->PodProxyGet("default", "agent", 9962, "/metrics", 100000);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, metrics);
  EXPECT_THAT(fake_.Requests(),
              ::testing::Contains("GET /api/v1/namespaces/default/pods/agent:9962/proxy/metrics"));
  auto big = api_->PodProxyGet("default", "agent", 9962, "/metrics", 99999);
  EXPECT_EQ(big.status().code(), StatusCode::kResourceExhausted) << big.status().ToString();
  auto refused = api_->PodProxyGet("default", "agent", 9090, "/metrics", 100000);
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(refused.status().message(), ::testing::HasSubstr("connection refused"));
  auto missing = api_->PodProxyGet("default", "nope", 9962, "/metrics", 100000);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST_F(KubeClientTest, ListWithSelectors) {
  ASSERT_TRUE(api_->Apply(ConfigMap("default", "a", "1")).ok());
  Object other = ConfigMap("default", "b", "2");
  other["metadata"]["labels"]["app"] = "other";
  ASSERT_TRUE(api_->Apply(other).ok());
  auto list = api_->List("v1", "ConfigMap", "default", {.label_selector = "app=demo"});
  ASSERT_TRUE(list.ok()) << list.status().message();
  ASSERT_EQ(list->items.size(), 1u);
  EXPECT_EQ(ObjectRef::Of(list->items[0]).ToString(), "ConfigMap default/a");
  EXPECT_FALSE(list->resource_version.empty());
  auto by_name = api_->List("v1", "ConfigMap", "", {.field_selector = "metadata.name=b"});
  ASSERT_TRUE(by_name.ok()) << by_name.status().message();
  ASSERT_EQ(by_name->items.size(), 1u);
}

TEST_F(KubeClientTest, WatchSeesAddedModifiedDeletedAndEndsAtItsTimeout) {
  auto list = api_->List("v1", "ConfigMap", "default", {});
  ASSERT_TRUE(list.ok()) << list.status().message();
  std::thread writer([&] {
    // The writes land after the watch started or not: either way they follow the list's version.
    EXPECT_TRUE(api_->Apply(ConfigMap("default", "w", "1")).ok());
    EXPECT_TRUE(api_->Apply(ConfigMap("default", "w", "2")).ok());
    EXPECT_TRUE(api_->Delete({"v1", "ConfigMap", "default", "w"}, Propagation::kBackground).ok());
  });
  std::vector<std::string> types;
  const auto start = std::chrono::steady_clock::now();
  Status watched = api_->Watch("v1", "ConfigMap", "default", {}, list->resource_version,
                               std::chrono::seconds(2), [&](const WatchEvent& event) {
                                 if (event.type != "BOOKMARK") types.push_back(event.type);
                                 return true;
                               });
  writer.join();
  EXPECT_TRUE(watched.ok()) << watched.message();
  EXPECT_EQ(types, (std::vector<std::string>{"ADDED", "MODIFIED", "DELETED"}));
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1500));
}

TEST_F(KubeClientTest, WatchStopsWhenTheCallbackSaysSo) {
  ASSERT_TRUE(api_->Apply(ConfigMap("default", "s", "1")).ok());
  int events = 0;
  const auto start = std::chrono::steady_clock::now();
  Status watched = api_->Watch("v1", "ConfigMap", "default", {}, "0", std::chrono::seconds(30),
                               [&](const WatchEvent&) { return ++events < 1; });
  EXPECT_TRUE(watched.ok()) << watched.message();
  EXPECT_EQ(events, 1);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST_F(KubeClientTest, DeleteIsIdempotentAndSendsThePropagationPolicy) {
  ASSERT_TRUE(api_->Apply(ConfigMap("default", "d", "1")).ok());
  EXPECT_TRUE(api_->Delete({"v1", "ConfigMap", "default", "d"}, Propagation::kForeground).ok());
  EXPECT_TRUE(fake_.Object("v1", "ConfigMap", "default", "d").is_null());
  EXPECT_TRUE(api_->Delete({"v1", "ConfigMap", "default", "d"}, Propagation::kForeground).ok());
  EXPECT_TRUE(api_->Delete({"example.io/v1", "Widget", "default", "d"}, Propagation::kOrphan).ok());
}

TEST_F(KubeClientTest, ClientCertificateAuth) {
  auto access = LoadKubeconfig({.path = dir_ / "config", .context = "fake"}, seams_);
  ASSERT_TRUE(access.ok()) << access.status().message();
  EXPECT_THAT(access->client_cert_pem, HasSubstr("BEGIN CERTIFICATE"));
  EXPECT_TRUE(access->token.empty());
  EXPECT_TRUE(api_->Get({"v1", "ConfigMap", "default", "x"}).ok());
  access->client_cert_pem.clear();  // no credential at all: anonymous, refused
  access->client_key_pem.clear();
  auto anonymous = MakeKubeClient(*access, seams_);
  ASSERT_TRUE(anonymous.ok());
  auto got = (*anonymous)->Get({"v1", "ConfigMap", "default", "x"});
  EXPECT_FALSE(got.ok());
}

TEST_F(KubeClientTest, WrongTokenIsUnauthenticated) {
  auto access = LoadKubeconfig({.path = dir_ / "config", .context = "fake-token"}, seams_);
  ASSERT_TRUE(access.ok()) << access.status().message();
  EXPECT_EQ(access->token, testing::FakeKube::kToken);
  EXPECT_TRUE(access->client_cert_pem.empty());
  auto good = MakeKubeClient(*access, seams_);
  ASSERT_TRUE(good.ok());
  auto ok = (*good)->Get({"v1", "ConfigMap", "default", "x"});
  EXPECT_TRUE(ok.ok()) << ok.status().message();  // token auth works
  access->token = "wrong";
  auto client = MakeKubeClient(*access, seams_);
  ASSERT_TRUE(client.ok());
  auto got = (*client)->Get({"v1", "ConfigMap", "default", "x"});
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kUnauthenticated) << got.status().message();
  EXPECT_THAT(got.status().message(), HasSubstr("credentials expired"));
}

TEST_F(KubeClientTest, ExecPluginTokenIsRefreshedWhenExpired) {
  std::ofstream(dir_ / "ca.pem") << fake_.ca_pem();
  std::ofstream(dir_ / "exec-config")
      << "current-context: c\n"
      << "clusters: [{name: k, cluster: {server: \"" << fake_.url()
      << "\", certificate-authority: ca.pem}}]\n"
      << "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
      << "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, "
         "command: get-token}}}]\n";
  SimulatedTimeSource time;  // 2023-11-14T22:13:20Z
  testing::FakeProcessRunner runner;
  runner.OnRun({"get-token"},
               testing::FakeProcessRunner::Exit(
                   0, std::string(R"({"kind":"ExecCredential","status":{"token":")") +
                          testing::FakeKube::kToken +
                          R"(","expirationTimestamp":"2023-11-14T22:18:20Z"}})"));
  Seams seams{.time = &time, .processes = &runner};
  auto access = LoadKubeconfig({.path = dir_ / "exec-config"}, seams);
  ASSERT_TRUE(access.ok()) << access.status().message();
  auto client = MakeKubeClient(*access, seams);
  ASSERT_TRUE(client.ok()) << client.status().message();
  EXPECT_TRUE((*client)->Get({"v1", "ConfigMap", "default", "x"}).ok());
  EXPECT_EQ(runner.runs().size(), 1u);  // still valid: not run again
  time.Advance(std::chrono::minutes(10));
  auto got = (*client)->Get({"v1", "ConfigMap", "default", "x"});
  EXPECT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(runner.runs().size(), 2u);  // expired: the plugin ran again
}

// A RoleBinding cannot grant a cluster-scoped resource: the hint names the binding that can.
TEST_F(KubeClientTest, ForbiddenAtTheClusterScopeNamesAClusterRoleBinding) {
  fake_.Deny("admin", "patch", "namespaces");
  auto applied =
      api_->Apply({{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "team"}}}});
  ASSERT_FALSE(applied.ok());
  EXPECT_EQ(applied.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(applied.status().message(), HasSubstr("namespaces \"team\" is forbidden"));
  EXPECT_THAT(applied.status().message(), HasSubstr("a ClusterRole and a ClusterRoleBinding"));
  EXPECT_THAT(applied.status().message(), Not(HasSubstr("RoleBinding in that namespace")));
}

TEST_F(KubeClientTest, ForbiddenNamesVerbResourceNamespace) {
  fake_.Deny("admin", "patch", "configmaps", "default");
  auto applied = api_->Apply(ConfigMap("default", "f", "1"));
  ASSERT_FALSE(applied.ok());
  EXPECT_EQ(applied.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(applied.status().message(), HasSubstr("patch"));
  EXPECT_THAT(applied.status().message(), HasSubstr("configmaps"));
  EXPECT_THAT(applied.status().message(), HasSubstr("default"));
  EXPECT_THAT(applied.status().message(), HasSubstr("a Role and a RoleBinding in that namespace"));
  auto may = api_->CanI("patch", "", "configmaps", "default");
  ASSERT_TRUE(may.ok()) << may.status().message();
  EXPECT_FALSE(*may);
  auto may_get = api_->CanI("get", "", "configmaps", "default");
  ASSERT_TRUE(may_get.ok()) << may_get.status().message();
  EXPECT_TRUE(*may_get);
}

TEST_F(KubeClientTest, KindNotServedHasTheCrdHint) {
  Object widget = {{"apiVersion", "example.io/v1"},
                   {"kind", "Widget"},
                   {"metadata", {{"name", "w"}, {"namespace", "default"}}}};
  auto applied = api_->Apply(widget);
  ASSERT_FALSE(applied.ok());
  EXPECT_EQ(applied.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(applied.status().message(), HasSubstr("CustomResourceDefinition"));
  auto serves = api_->Serves("example.io/v1", "Widget");
  ASSERT_TRUE(serves.ok()) << serves.status().message();
  EXPECT_FALSE(*serves);
  EXPECT_TRUE(*api_->Serves("apps/v1", "DaemonSet"));
}

TEST_F(KubeClientTest, CustomKindIsServedOnceAdded) {
  EXPECT_FALSE(*api_->Serves("example.io/v1", "Widget"));  // looked up (and cached) before
  fake_.AddCustomKind("example.io", "v1", "Widget", "widgets", true);
  EXPECT_TRUE(*api_->Serves("example.io/v1", "Widget"));
}

TEST_F(KubeClientTest, MissingNamespaceIsNamed) {
  auto applied = api_->Apply(ConfigMap("nowhere", "m", "1"));
  ASSERT_FALSE(applied.ok());
  EXPECT_EQ(applied.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(applied.status().message(), HasSubstr("nowhere"));
}

TEST(KubeClientUnreachableTest, ClosedPortIsUnavailable) {
  testing::SilentPort closed(testing::SilentPort::kRefusing);
  ClusterAccess access{.server = "https://127.0.0.1:" + std::to_string(closed.port()),
                       .context = "gone"};
  Seams seams;
  auto client = MakeKubeClient(access, seams);
  ASSERT_TRUE(client.ok());
  auto got = (*client)->Get({"v1", "ConfigMap", "default", "x"});
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(got.status().message(), HasSubstr(access.server));
  EXPECT_THAT((*client)->Describe(), HasSubstr("context gone"));
}

TEST_F(KubeClientTest, WaitForRolloutOfADeploymentAndADaemonSet) {
  fake_.AddNode("n1");
  fake_.AddNode("n2");
  fake_.AddNamespace("nebula-system");
  ASSERT_TRUE(api_->Apply(Workload("Deployment", "default", "web")).ok());
  ASSERT_TRUE(api_->Apply(Workload("DaemonSet", "nebula-system", "nebula")).ok());
  std::vector<std::string> lines;
  auto add = [&](const std::string& line) { lines.push_back(line); };
  Status deployment = WaitForRollout(*api_, {"apps/v1", "Deployment", "default", "web"},
                                     std::chrono::seconds(5), *seams_.time, add);
  EXPECT_TRUE(deployment.ok()) << deployment.message();
  Status daemonset = WaitForRollout(*api_, {"apps/v1", "DaemonSet", "nebula-system", "nebula"},
                                    std::chrono::seconds(5), *seams_.time, add);
  EXPECT_TRUE(daemonset.ok()) << daemonset.message();
  EXPECT_THAT(lines, ::testing::Contains("deployment default/web: 2 of 2 pods ready"));
  EXPECT_THAT(lines, ::testing::Contains("daemonset nebula-system/nebula: 2 of 2 pods ready"));
}

TEST_F(KubeClientTest, WaitForRolloutTimesOutNamingWaitingPods) {
  fake_.AddNode("n1");
  fake_.set_rollouts_ready(false);
  ASSERT_TRUE(api_->Apply(Workload("DaemonSet", "default", "slow")).ok());
  std::vector<std::string> lines;
  Status waited =
      WaitForRollout(*api_, {"apps/v1", "DaemonSet", "default", "slow"}, std::chrono::seconds(2),
                     *seams_.time, [&](const std::string& line) { lines.push_back(line); });
  ASSERT_FALSE(waited.ok());
  EXPECT_EQ(waited.code(), StatusCode::kDeadlineExceeded);
  EXPECT_THAT(waited.message(), HasSubstr("0 of 1 pods ready"));
  EXPECT_THAT(waited.message(), HasSubstr("ContainerCreating"));
  EXPECT_THAT(lines, ::testing::Contains("daemonset default/slow: 0 of 1 pods ready"));
}

TEST_F(KubeClientTest, WaitForRolloutSeesACompletionThroughItsWatch) {
  fake_.AddNode("n1");
  fake_.set_rollouts_ready(false);
  ASSERT_TRUE(api_->Apply(Workload("Deployment", "default", "later")).ok());
  std::vector<std::string> lines;  // written by the waiting thread only
  std::atomic<bool> watching{false};
  std::thread completer([&] {
    // Completes once the first progress line is out (the wait then watches).
    EXPECT_TRUE(testing::Eventually([&] { return watching.load(); }));
    fake_.CompleteRollouts();
  });
  Status waited =
      WaitForRollout(*api_, {"apps/v1", "Deployment", "default", "later"}, std::chrono::seconds(20),
                     *seams_.time, [&](const std::string& line) {
                       lines.push_back(line);
                       watching = true;
                     });
  completer.join();
  EXPECT_TRUE(waited.ok()) << waited.message();
  EXPECT_THAT(lines, ::testing::Contains("deployment default/later: 2 of 2 pods ready"));
  // The stopped watch closed its connection: the next call connects again, resuming the TLS
  // session, and is answered.
  auto after = api_->Get({"apps/v1", "Deployment", "default", "later"});
  EXPECT_TRUE(after.ok()) << after.status().message();
}

}  // namespace
}  // namespace carrierarr::kube
