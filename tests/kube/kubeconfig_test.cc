// kubeconfig parsing in every form carrierarr reads: inline data and files (relative to the
// kubeconfig), tokens and token files, exec plugins (through a FakeProcessRunner), contexts,
// $KUBECONFIG and $HOME, and the errors (which file, what to fix).
#include "kube/kubeconfig.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "testing/fake_process_runner.h"
#include "testing/tools.h"

namespace carrierarr::kube {
namespace {

using testing::FakeProcessRunner;
using ::testing::HasSubstr;

void Write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// "CA" and "CERT" and "KEY", base64.
constexpr const char* kTwoContexts = R"(apiVersion: v1
kind: Config
current-context: home
clusters:
- name: home-cluster
  cluster:
    server: https://192.168.1.10:6443
    certificate-authority-data: Q0E=
- name: lab-cluster
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority: ca.pem
contexts:
- name: home
  context: {cluster: home-cluster, user: admin, namespace: fleet}
- name: lab
  context: {cluster: lab-cluster, user: lab-user}
users:
- name: admin
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
- name: lab-user
  user:
    tokenFile: token
)";

class KubeconfigTest : public ::testing::Test {
 protected:
  KubeconfigTest() { seams_.processes = &runner_; }
  testing::ScratchDir dir_;
  FakeProcessRunner runner_;
  Seams seams_;
};

TEST_F(KubeconfigTest, CurrentContextWithInlineData) {
  auto access = ParseKubeconfig(kTwoContexts, "/x/config", {}, seams_);
  ASSERT_TRUE(access.ok()) << access.status().message();
  EXPECT_EQ(access->context, "home");
  EXPECT_EQ(access->cluster, "home-cluster");
  EXPECT_EQ(access->user, "admin");
  EXPECT_EQ(access->server, "https://192.168.1.10:6443");
  EXPECT_EQ(access->ca_pem, "CA");
  EXPECT_EQ(access->client_cert_pem, "CERT");
  EXPECT_EQ(access->client_key_pem, "KEY");
  EXPECT_EQ(access->token, "");
  EXPECT_EQ(access->default_namespace, "fleet");
  EXPECT_FALSE(access->exec.has_value());
}

TEST_F(KubeconfigTest, OtherContextReadsFilesRelativeToTheKubeconfig) {
  Write(dir_ / "config", kTwoContexts);
  Write(dir_ / "ca.pem", "LAB CA");
  Write(dir_ / "token", "lab-token\n");
  auto access = LoadKubeconfig({.path = dir_ / "config", .context = "lab"}, seams_);
  ASSERT_TRUE(access.ok()) << access.status().message();
  EXPECT_EQ(access->server, "https://10.0.0.1:6443");
  EXPECT_EQ(access->ca_pem, "LAB CA");
  EXPECT_EQ(access->token, "lab-token");
  EXPECT_EQ(access->source, dir_ / "config");
}

TEST_F(KubeconfigTest, MissingFileNamesItAndTheFix) {
  Write(dir_ / "config", kTwoContexts);
  auto access = LoadKubeconfig({.path = dir_ / "config", .context = "lab"}, seams_);
  ASSERT_FALSE(access.ok());
  EXPECT_THAT(access.status().message(), HasSubstr(dir_ / "ca.pem"));
  EXPECT_THAT(access.status().message(), HasSubstr("cluster lab-cluster"));
}

TEST_F(KubeconfigTest, UnknownContextIsRefused) {
  auto access = ParseKubeconfig(kTwoContexts, "/x/config", {.context = "nope"}, seams_);
  ASSERT_FALSE(access.ok());
  EXPECT_THAT(access.status().message(), HasSubstr("/x/config"));
  EXPECT_THAT(access.status().message(), HasSubstr("'nope'"));
}

TEST_F(KubeconfigTest, YamlErrorsHaveLineAndColumn) {
  auto access = ParseKubeconfig("clusters:\n- name: a\n  cluster: [\n", "/x/config", {}, seams_);
  ASSERT_FALSE(access.ok());
  EXPECT_THAT(access.status().message(), HasSubstr("/x/config:4:"));
}

TEST_F(KubeconfigTest, InsecureSkipVerifyOnlyWhenAllowed) {
  const std::string text = R"(current-context: c
clusters: [{name: k, cluster: {server: "https://h:6443", insecure-skip-tls-verify: true}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
users: [{name: u, user: {token: abc}}]
)";
  auto refused = ParseKubeconfig(text, "/x/config", {}, seams_);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("insecure-skip-tls-verify"));
  auto allowed = ParseKubeconfig(text, "/x/config", {.allow_insecure = true}, seams_);
  ASSERT_TRUE(allowed.ok()) << allowed.status().message();
  EXPECT_TRUE(allowed->insecure_skip_tls_verify);
  EXPECT_EQ(allowed->token, "abc");
}

TEST_F(KubeconfigTest, KubeconfigVariableThenHome) {
  Write(dir_ / "first", kTwoContexts);
  seams_.environment.vars["KUBECONFIG"] = (dir_ / "first") + ":" + (dir_ / "second");
  auto from_var = LoadKubeconfig({}, seams_);  // "second" does not exist: skipped, as by kubectl
  ASSERT_TRUE(from_var.ok()) << from_var.status().message();
  EXPECT_EQ(from_var->source, dir_ / "first");

  seams_.environment.vars["KUBECONFIG"] = (dir_ / "none-1") + "::" + (dir_ / "none-2");
  auto none = LoadKubeconfig({}, seams_);
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(), HasSubstr("no file listed in $KUBECONFIG"));
  EXPECT_THAT(none.status().message(), HasSubstr(dir_ / "none-2"));

  seams_.environment.vars.clear();
  seams_.environment.home = dir_.path();
  auto from_home = LoadKubeconfig({}, seams_);
  ASSERT_FALSE(from_home.ok());
  EXPECT_THAT(from_home.status().message(), HasSubstr(dir_ / ".kube/config"));
}

// KUBECONFIG=a:b as kubectl merges it: current-context from the first file that sets one, each
// name from the first file that defines it, and relative paths from the file they are in.
TEST_F(KubeconfigTest, KubeconfigVariableFilesAreMergedFirstWins) {
  std::filesystem::create_directories(dir_ / "talos");
  Write(dir_ / "talos/config", R"(current-context: talos
clusters: [{name: talos, cluster: {server: "https://192.168.1.20:6443", certificate-authority: ca.pem}}]
contexts: [{name: talos, context: {cluster: talos, user: talos-admin}}]
users:
- {name: talos-admin, user: {token: talos-token}}
- {name: admin, user: {token: shadowed}}
)");
  Write(dir_ / "talos/ca.pem", "TALOS CA");
  Write(dir_ / "config", kTwoContexts);
  seams_.environment.vars["KUBECONFIG"] = (dir_ / "talos/config") + ":" + (dir_ / "config");

  auto talos = LoadKubeconfig({}, seams_);  // the first file's current-context
  ASSERT_TRUE(talos.ok()) << talos.status().message();
  EXPECT_EQ(talos->server, "https://192.168.1.20:6443");
  EXPECT_EQ(talos->ca_pem, "TALOS CA");  // relative to talos/, not to the second file
  EXPECT_EQ(talos->token, "talos-token");
  EXPECT_EQ(talos->source, (dir_ / "talos/config") + ":" + (dir_ / "config"));

  auto home = LoadKubeconfig({.context = "home"}, seams_);  // a context of the second file
  ASSERT_TRUE(home.ok()) << home.status().message();
  EXPECT_EQ(home->server, "https://192.168.1.10:6443");
  EXPECT_EQ(home->token, "shadowed");  // user "admin" is the first file's
  EXPECT_EQ(home->client_cert_pem, "");

  Write(dir_ / "config", "clusters: [\n");
  auto broken = LoadKubeconfig({}, seams_);
  ASSERT_FALSE(broken.ok());
  EXPECT_THAT(broken.status().message(), HasSubstr((dir_ / "config") + ":2:"));
}

constexpr const char* kExec = R"(current-context: c
clusters: [{name: k, cluster: {server: "https://h:6443"}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/VERSION
      command: bin/get-token
      args: [--cluster, home]
      env: [{name: REGION, value: eu}]
)";

std::string ExecConfig(const std::string& version) {
  std::string text = kExec;
  text.replace(text.find("VERSION"), 7, version);
  return text;
}

TEST_F(KubeconfigTest, ExecPluginV1Token) {
  runner_.OnRun({"/x/bin/get-token"},
                FakeProcessRunner::Exit(0, R"({"apiVersion":"client.authentication.k8s.io/v1",
    "kind":"ExecCredential","status":{"token":"t0k","expirationTimestamp":"2026-12-02T14:00:00Z"}})"));
  auto access = ParseKubeconfig(ExecConfig("v1"), "/x/config", {}, seams_);
  ASSERT_TRUE(access.ok()) << access.status().message();
  EXPECT_EQ(access->token, "t0k");
  ASSERT_TRUE(access->token_expiry.has_value());
  EXPECT_EQ(std::chrono::system_clock::to_time_t(*access->token_expiry), 1796220000);
  ASSERT_EQ(runner_.runs().size(), 1u);
  EXPECT_EQ(runner_.runs()[0], (std::vector<std::string>{"/x/bin/get-token", "--cluster", "home"}));
  const std::vector<std::string> env = runner_.run_options()[0].extra_env;
  EXPECT_THAT(env, ::testing::Contains("REGION=eu"));
  EXPECT_THAT(env, ::testing::Contains(HasSubstr(
                       R"(KUBERNETES_EXEC_INFO={"apiVersion":"client.authentication.k8s.io/v1")")));
}

TEST_F(KubeconfigTest, ExecPluginV1Beta1ClientCertificate) {
  runner_.OnRun({"/x/bin/get-token"}, FakeProcessRunner::Exit(0, R"({"kind":"ExecCredential",
    "status":{"clientCertificateData":"PEM-CERT","clientKeyData":"PEM-KEY"}})"));
  auto access = ParseKubeconfig(ExecConfig("v1beta1"), "/x/config", {}, seams_);
  ASSERT_TRUE(access.ok()) << access.status().message();
  EXPECT_EQ(access->client_cert_pem, "PEM-CERT");
  EXPECT_EQ(access->client_key_pem, "PEM-KEY");
  EXPECT_FALSE(access->token_expiry.has_value());
}

TEST_F(KubeconfigTest, ExecPluginFailureAndBadVersion) {
  runner_.OnRun({"/x/bin/get-token"}, FakeProcessRunner::Exit(1, "", "no session"));
  auto failed = ParseKubeconfig(ExecConfig("v1"), "/x/config", {}, seams_);
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr("no session"));
  EXPECT_THAT(failed.status().message(), HasSubstr("user u"));
  auto old = ParseKubeconfig(ExecConfig("v1alpha1"), "/x/config", {}, seams_);
  ASSERT_FALSE(old.ok());
  EXPECT_THAT(old.status().message(), HasSubstr("v1alpha1"));
}

}  // namespace
}  // namespace carrierarr::kube
