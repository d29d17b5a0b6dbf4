// FakeKube's fidelity: the real kubectl (1.32, Debian's kubernetes-client) applies, gets, waits
// for and deletes against it as against a cluster; direct HTTPS requests check the API's Status
// shapes, resource versions and watch streams.
#include "testing/fake_kube.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/pem.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "core/subprocess.h"
#include "testing/eventually.h"
#include "testing/fake_kube_tls.h"
#include "testing/process.h"
#include "testing/tools.h"

namespace carrierarr::testing {
namespace {

using Json = nlohmann::json;

constexpr char kApp[] = R"(apiVersion: v1
kind: Namespace
metadata:
  name: demo
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
  namespace: demo
data:
  key: value
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
)";

constexpr char kDaemonSet[] = R"(apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: nebula
  namespace: nebula-system
spec:
  selector:
    matchLabels: {app: nebula}
  template:
    metadata:
      labels: {app: nebula}
    spec:
      nodeSelector: {mesh: "yes"}
      containers:
      - name: nebula
        image: nebula:1.9
)";

class FakeKubeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kubectl_ = RequireProgram("kubectl", "kubernetes-client");
    ASSERT_FALSE(kubectl_.empty());
    kubeconfig_ = dir_ / "kubeconfig";
    fake_.WriteKubeconfig(kubeconfig_);
    std::ofstream(dir_ / "app.yaml") << kApp;
    std::ofstream(dir_ / "ds.yaml") << kDaemonSet;
  }

  RunResult Kubectl(std::vector<std::string> args) {
    std::vector<std::string> argv = {kubectl_, "--kubeconfig", kubeconfig_};
    argv.insert(argv.end(), args.begin(), args.end());
    RunOptions options;
    options.timeout = std::chrono::seconds(60);
    options.extra_env = {"HOME=" + dir_.path(), "KUBECACHEDIR=" + (dir_ / "cache")};
    auto result = carrierarr::Run(argv, options);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    return result.ok() ? *result : RunResult{};
  }

  // An HTTPS client that trusts the fake's CA and sends the bearer token (or `token`).
  std::unique_ptr<httplib::SSLClient> Client(const std::string& token = FakeKube::kToken) {
    auto client = std::make_unique<httplib::SSLClient>("127.0.0.1", fake_.port());
    BIO* bio = BIO_new_mem_buf(fake_.ca_pem().data(), static_cast<int>(fake_.ca_pem().size()));
    X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    X509_STORE* store = X509_STORE_new();
    X509_STORE_add_cert(store, ca);
    X509_free(ca);
    client->set_ca_cert_store(store);
    client->enable_server_certificate_verification(true);
    if (!token.empty()) client->set_bearer_token_auth(token.c_str());
    client->set_read_timeout(std::chrono::seconds(20));
    return client;
  }

  ScratchDir dir_;
  FakeKube fake_;
  std::string kubectl_;
  std::string kubeconfig_;
};

std::string Describe(const RunResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

TEST_F(FakeKubeTest, KubectlServerSideApplyGetWaitDelete) {
  RunResult apply = Kubectl({"apply", "--server-side", "-f", dir_ / "app.yaml"});
  ASSERT_EQ(apply.exit_code, 0) << Describe(apply);
  EXPECT_NE(apply.out.find("deployment.apps/web serverside-applied"), std::string::npos);
  Json deploy = fake_.Object("apps/v1", "Deployment", "demo", "web");
  ASSERT_TRUE(deploy.is_object());
  EXPECT_EQ(deploy["metadata"]["managedFields"][0]["manager"], "kubectl");
  EXPECT_EQ(deploy["metadata"]["managedFields"][0]["operation"], "Apply");
  EXPECT_TRUE(fake_.Object("v1", "ConfigMap", "demo", "cfg").is_object());

  RunResult get = Kubectl({"get", "deploy", "-n", "demo", "web", "-o", "json"});
  ASSERT_EQ(get.exit_code, 0) << Describe(get);
  Json got = Json::parse(get.out);
  EXPECT_EQ(got["spec"]["replicas"], 2);
  EXPECT_EQ(got["status"]["availableReplicas"], 2);

  RunResult wait = Kubectl(
      {"wait", "--for=condition=Available", "deployment/web", "-n", "demo", "--timeout=10s"});
  ASSERT_EQ(wait.exit_code, 0) << Describe(wait);
  EXPECT_NE(wait.out.find("condition met"), std::string::npos);
  RunResult pods = Kubectl({"get", "pods", "-n", "demo", "-l", "app=web", "-o", "json"});
  ASSERT_EQ(pods.exit_code, 0) << Describe(pods);
  EXPECT_EQ(Json::parse(pods.out)["items"].size(), 2u);

  RunResult del = Kubectl({"delete", "-f", dir_ / "app.yaml"});
  ASSERT_EQ(del.exit_code, 0) << Describe(del);
  EXPECT_TRUE(fake_.Object("apps/v1", "Deployment", "demo", "web").is_null());
  EXPECT_EQ(fake_.CountRequests("DELETE"), 3);
}

TEST_F(FakeKubeTest, KubectlWaitTimesOutUntilRolloutsComplete) {
  fake_.set_rollouts_ready(false);
  ASSERT_EQ(Kubectl({"apply", "--server-side", "-f", dir_ / "app.yaml"}).exit_code, 0);
  RunResult wait = Kubectl(
      {"wait", "--for=condition=Available", "deployment/web", "-n", "demo", "--timeout=2s"});
  EXPECT_NE(wait.exit_code, 0) << Describe(wait);
  EXPECT_NE(wait.err.find("timed out"), std::string::npos) << wait.err;
  RunResult pods = Kubectl({"get", "pods", "-n", "demo", "-o", "json"});
  Json items = Json::parse(pods.out)["items"];
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0]["status"]["phase"], "Pending");
  EXPECT_EQ(items[0]["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
            "ContainerCreating");

  // kubectl waits on a watch: CompleteRollouts while it waits must reach it.
  auto watches = [this] {
    int n = 0;
    for (const std::string& r : fake_.Requests()) {
      n +=
          r.find("/deployments?") != std::string::npos && r.find("watch=true") != std::string::npos;
    }
    return n;
  };
  int watches_before = watches();
  std::thread complete([&] {
    EXPECT_TRUE(Eventually([&] { return watches() > watches_before; }, std::chrono::seconds(15)));
    fake_.CompleteRollouts();
  });
  RunResult waited = Kubectl(
      {"wait", "--for=condition=Available", "deployment/web", "-n", "demo", "--timeout=20s"});
  complete.join();
  EXPECT_EQ(waited.exit_code, 0) << Describe(waited);
  RunResult status =
      Kubectl({"rollout", "status", "deployment/web", "-n", "demo", "--timeout=10s"});
  EXPECT_EQ(status.exit_code, 0) << Describe(status);
}

TEST_F(FakeKubeTest, KubectlTokenContextAndWrongToken) {
  RunResult ok = Kubectl({"--context", "fake-token", "get", "ns", "-o", "name"});
  ASSERT_EQ(ok.exit_code, 0) << Describe(ok);
  EXPECT_NE(ok.out.find("namespace/kube-system"), std::string::npos);
  RunResult bad = Kubectl({"--context", "fake-token", "--token", "wrong", "get", "ns"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("Unauthorized"), std::string::npos) << bad.err;
}

TEST_F(FakeKubeTest, KubectlPrintsTheForbiddenMessage) {
  fake_.AddNamespace("nebula-system");
  fake_.Deny("admin", "patch", "daemonsets", "nebula-system");
  RunResult apply = Kubectl({"apply", "--server-side", "-f", dir_ / "ds.yaml"});
  EXPECT_NE(apply.exit_code, 0);
  EXPECT_NE(apply.err.find("daemonsets.apps \"nebula\" is forbidden: User \"admin\" cannot patch "
                           "resource \"daemonsets\" in API group \"apps\" in the namespace "
                           "\"nebula-system\""),
            std::string::npos)
      << apply.err;
  // kubectl auth can-i asks a SelfSubjectAccessReview (in protobuf): the same rules answer.
  RunResult can_patch =
      Kubectl({"auth", "can-i", "patch", "daemonsets.apps", "-n", "nebula-system"});
  EXPECT_EQ(can_patch.exit_code, 1) << Describe(can_patch);
  EXPECT_EQ(can_patch.out, "no\n");
  RunResult can_get = Kubectl({"auth", "can-i", "get", "daemonsets.apps", "-n", "nebula-system"});
  EXPECT_EQ(can_get.exit_code, 0) << Describe(can_get);
  EXPECT_EQ(can_get.out, "yes\n");
  // The token user is not denied.
  RunResult as_token =
      Kubectl({"--context", "fake-token", "apply", "--server-side", "-f", dir_ / "ds.yaml"});
  EXPECT_EQ(as_token.exit_code, 0) << Describe(as_token);
}

TEST_F(FakeKubeTest, DaemonSetPodsLandOnMatchingNodes) {
  fake_.AddNamespace("nebula-system");
  fake_.AddNode("n1", {{"mesh", "yes"}});
  fake_.AddNode("n2", {{"mesh", "no"}});
  fake_.AddNode("n3", {{"mesh", "yes"}});
  ASSERT_EQ(Kubectl({"apply", "--server-side", "-f", dir_ / "ds.yaml"}).exit_code, 0);
  Json ds = fake_.Object("apps/v1", "DaemonSet", "nebula-system", "nebula");
  EXPECT_EQ(ds["status"]["desiredNumberScheduled"], 2);
  EXPECT_EQ(ds["status"]["numberReady"], 2);
  RunResult pods =
      Kubectl({"get", "pods", "-A", "--field-selector", "spec.nodeName=n3", "-o", "json"});
  ASSERT_EQ(pods.exit_code, 0) << Describe(pods);
  Json items = Json::parse(pods.out)["items"];
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0]["metadata"]["labels"]["app"], "nebula");
  RunResult status =
      Kubectl({"rollout", "status", "ds/nebula", "-n", "nebula-system", "--timeout=10s"});
  EXPECT_EQ(status.exit_code, 0) << Describe(status);
}

// The token controller fills a service-account-token Secret once its ServiceAccount exists.
TEST_F(FakeKubeTest, ServiceAccountTokenSecretsGetTheirToken) {
  fake_.AddNamespace("tenant");
  std::ofstream(dir_ / "token.yaml") << R"(apiVersion: v1
kind: Secret
metadata:
  name: consumer-token
  namespace: tenant
  annotations: {kubernetes.io/service-account.name: consumer}
type: kubernetes.io/service-account-token
)";
  std::ofstream(dir_ / "sa.yaml")
      << "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: consumer, namespace: tenant}\n";
  ASSERT_EQ(Kubectl({"apply", "--server-side", "-f", dir_ / "token.yaml"}).exit_code, 0);
  EXPECT_FALSE(fake_.Object("v1", "Secret", "tenant", "consumer-token").contains("data"))
      << "no ServiceAccount yet";
  ASSERT_EQ(Kubectl({"apply", "--server-side", "-f", dir_ / "sa.yaml"}).exit_code, 0);
  Json data = fake_.Object("v1", "Secret", "tenant", "consumer-token")["data"];
  ASSERT_TRUE(data.contains("token")) << data.dump();
  EXPECT_EQ(data["namespace"], Base64("tenant"));
  EXPECT_EQ(data["ca.crt"], Base64(fake_.ca_pem()));
}

void ExpectStatus(const httplib::Result& res, int code, const std::string& reason,
                  const std::string& message) {
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, code) << res->body;
  Json body = Json::parse(res->body);
  EXPECT_EQ(body["kind"], "Status");
  EXPECT_EQ(body["apiVersion"], "v1");
  EXPECT_EQ(body["status"], "Failure");
  EXPECT_EQ(body["reason"], reason);
  EXPECT_EQ(body["code"], code);
  EXPECT_EQ(body["message"], message);
}

constexpr char kApply[] = "application/apply-patch+yaml";

TEST_F(FakeKubeTest, StatusShapes) {
  auto client = Client();
  auto missing = client->Get("/apis/apps/v1/namespaces/default/deployments/nope");
  ExpectStatus(missing, 404, "NotFound", "deployments.apps \"nope\" not found");
  Json details = Json::parse(missing->body)["details"];
  EXPECT_EQ(details["name"], "nope");
  EXPECT_EQ(details["kind"], "deployments");

  ExpectStatus(Client("")->Get("/api/v1/namespaces"), 401, "Unauthorized", "Unauthorized");
  ExpectStatus(Client("bad")->Get("/api/v1/namespaces"), 401, "Unauthorized", "Unauthorized");

  std::string cm =
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"k":"a"}})";
  ExpectStatus(client->Patch("/api/v1/namespaces/nowhere/configmaps/c?fieldManager=m", cm, kApply),
               404, "NotFound", "namespaces \"nowhere\" not found");
  auto created =
      client->Patch("/api/v1/namespaces/default/configmaps/c?fieldManager=one", cm, kApply);
  ASSERT_TRUE(created);
  EXPECT_EQ(created->status, 201) << created->body;
  std::string other =
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"k":"b"}})";
  ExpectStatus(
      client->Patch("/api/v1/namespaces/default/configmaps/c?fieldManager=two", other, kApply), 409,
      "Conflict", "Apply failed with 1 conflict: conflict with \"one\": .data.k");
  auto forced = client->Patch("/api/v1/namespaces/default/configmaps/c?fieldManager=two&force=true",
                              other, kApply);
  ASSERT_TRUE(forced);
  EXPECT_EQ(forced->status, 200);
  EXPECT_EQ(Json::parse(forced->body)["data"]["k"], "b");

  std::string unknown =
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"dta":{}})";
  ExpectStatus(client->Patch("/api/v1/namespaces/default/configmaps/c?fieldManager=two&"
                             "fieldValidation=Strict",
                             unknown, kApply),
               422, "Invalid",
               "ConfigMap \"c\" is invalid: strict decoding error: unknown field \"dta\"");
  auto no_manager = client->Patch("/api/v1/namespaces/default/configmaps/c", cm, kApply);
  ASSERT_TRUE(no_manager);
  EXPECT_EQ(no_manager->status, 422);
  auto wrong_type = client->Patch("/api/v1/namespaces/default/configmaps/c", cm, "text/plain");
  ASSERT_TRUE(wrong_type);
  EXPECT_EQ(wrong_type->status, 415);

  auto yaml = client->Patch("/api/v1/namespaces/default/configmaps/y?fieldManager=m",
                            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\n"
                            "data:\n  port: \"4242\"\n  n: 7\n",
                            kApply);
  ASSERT_TRUE(yaml);
  EXPECT_EQ(yaml->status, 201) << yaml->body;
  EXPECT_EQ(Json::parse(yaml->body)["data"]["port"], "4242");

  fake_.Deny("token-user", "list", "secrets", "default");
  ExpectStatus(client->Get("/api/v1/namespaces/default/secrets"), 403, "Forbidden",
               "secrets is forbidden: User \"token-user\" cannot list resource \"secrets\" in API "
               "group \"\" in the namespace \"default\"");
  auto review = client->Post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                             R"({"spec":{"resourceAttributes":{"verb":"list","resource":"secrets",)"
                             R"("namespace":"default"}}})",
                             "application/json");
  ASSERT_TRUE(review);
  EXPECT_EQ(Json::parse(review->body)["status"]["allowed"], false);
}

TEST_F(FakeKubeTest, ResourceVersionsGrowAndWatchesDeliverChanges) {
  auto client = Client();
  std::string cm =
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"w"},"data":{"k":"1"}})";
  auto first = client->Patch("/api/v1/namespaces/default/configmaps/w?fieldManager=t", cm, kApply);
  ASSERT_TRUE(first);
  std::string rv1 = Json::parse(first->body)["metadata"]["resourceVersion"];
  auto second = client->Patch("/api/v1/namespaces/default/configmaps/w?fieldManager=t",
                              R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"w"},)"
                              R"("data":{"k":"2"}})",
                              kApply);
  ASSERT_TRUE(second);
  std::string rv2 = Json::parse(second->body)["metadata"]["resourceVersion"];
  EXPECT_GT(std::stoull(rv2), std::stoull(rv1));
  auto list = client->Get("/api/v1/namespaces/default/configmaps");
  ASSERT_TRUE(list);
  EXPECT_GE(std::stoull(Json::parse(list->body)["metadata"]["resourceVersion"].get<std::string>()),
            std::stoull(rv2));

  // The same apply again changes nothing: same resourceVersion. A spec change bumps generation.
  auto again = client->Patch("/api/v1/namespaces/default/configmaps/w?fieldManager=t",
                             R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"w"},)"
                             R"("data":{"k":"2"}})",
                             kApply);
  ASSERT_TRUE(again);
  EXPECT_EQ(Json::parse(again->body)["metadata"]["resourceVersion"], rv2);
  ASSERT_EQ(Kubectl({"apply", "--server-side", "-f", dir_ / "app.yaml"}).exit_code, 0);
  Json before = fake_.Object("apps/v1", "Deployment", "demo", "web");
  ASSERT_EQ(Kubectl({"apply", "--server-side", "-f", dir_ / "app.yaml"}).exit_code, 0);
  EXPECT_EQ(fake_.Object("apps/v1", "Deployment", "demo", "web")["metadata"]["resourceVersion"],
            before["metadata"]["resourceVersion"]);
  ASSERT_EQ(Kubectl({"patch", "deployment/web", "-n", "demo", "-p", R"({"spec":{"replicas":3}})"})
                .exit_code,
            0);
  Json scaled = fake_.Object("apps/v1", "Deployment", "demo", "web");
  EXPECT_EQ(scaled["metadata"]["generation"], before["metadata"]["generation"].get<int>() + 1);
  EXPECT_EQ(scaled["status"]["observedGeneration"], scaled["metadata"]["generation"]);
  EXPECT_EQ(scaled["status"]["readyReplicas"], 3);

  // From rv1: the MODIFIED already made, then a DELETED made while watching.
  std::vector<Json> events;
  std::string buffer;
  auto watcher = Client();
  // The DELETE goes once the watch has delivered its first event, i.e. while it is open.
  std::atomic<bool> watching{false};
  std::thread deleter([&] {
    EXPECT_TRUE(Eventually([&] { return watching.load(); }, std::chrono::seconds(10)));
    Client()->Delete("/api/v1/namespaces/default/configmaps/w");
  });
  auto watch = watcher->Get(
      "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=10&resourceVersion=" + rv1,
      [&](const char* data, size_t len) {
        buffer.append(data, len);
        for (size_t nl; (nl = buffer.find('\n')) != std::string::npos;) {
          events.push_back(Json::parse(buffer.substr(0, nl)));
          buffer.erase(0, nl + 1);
        }
        watching = true;
        return events.size() < 2;
      });
  deleter.join();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["type"], "MODIFIED");
  EXPECT_EQ(events[0]["object"]["data"]["k"], "2");
  EXPECT_EQ(events[1]["type"], "DELETED");
}

// kubectl create sends typed objects in protobuf: Namespace, ConfigMap and Secret are read.
TEST_F(FakeKubeTest, KubectlCreateInProtobuf) {
  ASSERT_EQ(Kubectl({"create", "namespace", "made"}).exit_code, 0);
  RunResult cm = Kubectl({"create", "configmap", "c", "-n", "made", "--from-literal=k=v"});
  ASSERT_EQ(cm.exit_code, 0) << Describe(cm);
  RunResult secret =
      Kubectl({"create", "secret", "generic", "s", "-n", "made", "--from-literal=pw=hunter2"});
  ASSERT_EQ(secret.exit_code, 0) << Describe(secret);
  EXPECT_EQ(fake_.Object("v1", "ConfigMap", "made", "c")["data"]["k"], "v");
  Json s = fake_.Object("v1", "Secret", "made", "s");
  EXPECT_EQ(s["data"]["pw"], "aHVudGVyMg==");
  EXPECT_EQ(s["type"], "Opaque");
  RunResult again = Kubectl({"create", "namespace", "made"});
  EXPECT_NE(again.err.find("namespaces \"made\" already exists"), std::string::npos) << again.err;
  RunResult del = Kubectl({"delete", "namespace", "made"});
  EXPECT_EQ(del.exit_code, 0) << Describe(del);
  EXPECT_TRUE(fake_.Object("v1", "Secret", "made", "s").is_null());
}

TEST_F(FakeKubeTest, DiscoveryListsCustomKinds) {
  fake_.AddCustomKind("offloading.liqo.io", "v1beta1", "NamespaceOffloading",
                      "namespaceoffloadings", true);
  RunResult resources = Kubectl({"api-resources", "--api-group=offloading.liqo.io", "-o", "name"});
  ASSERT_EQ(resources.exit_code, 0) << Describe(resources);
  EXPECT_NE(resources.out.find("namespaceoffloadings.offloading.liqo.io"), std::string::npos);
}

// carrierarr-fake-kube, as the end-to-end tests run it: flags, the ready line, SIGTERM.
TEST_F(FakeKubeTest, ProgramServesUntilSigterm) {
  std::string program = std::string(CARRIERARR_BINARY_DIR) + "/bin/carrierarr-fake-kube";
  std::string config = dir_ / "program-kubeconfig";
  StreamingProcess fake;
  ASSERT_TRUE(fake.Start({program, "--kubeconfig", config, "--node", "edge-1=mesh=yes,zone=a",
                          "--deny", "admin:delete:configmaps:default", "--rollouts-ready=false"},
                         dir_.path())
                  .ok());
  auto ready = fake.ReadLine(std::chrono::seconds(10));
  ASSERT_TRUE(ready.has_value()) << fake.err();
  EXPECT_EQ(ready->rfind("ready https://127.0.0.1:", 0), 0u) << *ready;
  kubeconfig_ = config;
  RunResult nodes = Kubectl({"get", "nodes", "-l", "mesh=yes,zone=a", "-o", "name"});
  EXPECT_EQ(nodes.exit_code, 0) << Describe(nodes);
  EXPECT_EQ(nodes.out, "node/edge-1\n");
  RunResult del = Kubectl({"delete", "configmap", "-n", "default", "anything"});
  EXPECT_NE(del.err.find("cannot delete resource \"configmaps\""), std::string::npos) << del.err;
  ASSERT_TRUE(fake.Signal(SIGTERM));
  auto status = fake.Wait(std::chrono::seconds(10));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << DescribeWaitStatus(*status);
}

}  // namespace
}  // namespace carrierarr::testing
