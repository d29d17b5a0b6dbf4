#include "ops/k3s_cluster.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <string>

#include "core/file_util.h"

namespace carrierarr::ops {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The shape k3s writes to /etc/rancher/k3s/k3s.yaml (keys shortened).
constexpr char kK3sYaml[] = R"(apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0FEQVRB
    server: https://127.0.0.1:6443
  name: default
- cluster:
    server: https://localhost:6443
  name: second
- cluster:
    server: https://api.example.org:443
  name: elsewhere
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
users:
- name: default
  user:
    client-key-data: S0VZREFUQQ==
)";

TEST(RewriteKubeconfigServersTest, RewritesLoopbackServersAndKeepsTheRest) {
  Result<std::string> out = RewriteKubeconfigServers(kK3sYaml, "10.100.2.1");
  ASSERT_TRUE(out.ok()) << out.status().message();
  YAML::Node root = YAML::Load(*out);
  EXPECT_EQ(root["clusters"][0]["cluster"]["server"].as<std::string>(), "https://10.100.2.1:6443");
  EXPECT_EQ(root["clusters"][1]["cluster"]["server"].as<std::string>(), "https://10.100.2.1:6443");
  EXPECT_EQ(root["clusters"][2]["cluster"]["server"].as<std::string>(),
            "https://api.example.org:443");
  // The CA and the user's key survive, so TLS still verifies and the client still authenticates.
  EXPECT_EQ(root["clusters"][0]["cluster"]["certificate-authority-data"].as<std::string>(),
            "Q0FEQVRB");
  EXPECT_EQ(root["users"][0]["user"]["client-key-data"].as<std::string>(), "S0VZREFUQQ==");
  EXPECT_EQ(root["current-context"].as<std::string>(), "default");
}

TEST(RewriteKubeconfigServersTest, AlreadyRewrittenIsUnchanged) {
  Result<std::string> once = RewriteKubeconfigServers(kK3sYaml, "10.100.2.1");
  ASSERT_TRUE(once.ok());
  Result<std::string> twice = RewriteKubeconfigServers(*once, "10.100.2.1");
  ASSERT_TRUE(twice.ok());
  EXPECT_EQ(*once, *twice);
}

TEST(RewriteKubeconfigServersTest, MalformedYamlIsAClearErrorThatQuotesNothing) {
  Result<std::string> out =
      RewriteKubeconfigServers("clusters: [\n  client-key-data: SECRETKEY", "10.100.2.1");
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("not valid YAML"));
  EXPECT_THAT(out.status().message(), Not(HasSubstr("SECRETKEY")));
}

TEST(RewriteKubeconfigServersTest, NoClustersOrNoServerIsAnError) {
  EXPECT_THAT(RewriteKubeconfigServers("kind: Config\n", "10.100.2.1").status().message(),
              HasSubstr("no `clusters` list"));
  EXPECT_THAT(RewriteKubeconfigServers("clusters:\n- name: x\n  cluster: {}\n", "10.100.2.1")
                  .status()
                  .message(),
              HasSubstr("cluster \"x\" of the fetched kubeconfig has no `server`"));
}

TEST(StoreCloudKubeconfigTest, WritesTheRewrittenFile0600InA0700Directory) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      ("k3s_cluster_test." + std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
  const std::string path = CloudKubeconfigPath((dir / ".carrierarr").string());
  EXPECT_EQ(path, (dir / ".carrierarr/k3s/kubeconfig").string());
  ASSERT_TRUE(StoreCloudKubeconfig(kK3sYaml, "10.100.2.1", path).ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir / ".carrierarr/k3s").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  Result<std::string> text = ReadFile(path);
  ASSERT_TRUE(text.ok());
  EXPECT_THAT(*text, HasSubstr("https://10.100.2.1:6443"));
  // A malformed fetch leaves the stored file as it was.
  EXPECT_FALSE(StoreCloudKubeconfig("{", "10.100.2.1", path).ok());
  EXPECT_EQ(*ReadFile(path), *text);
  std::filesystem::remove_all(dir);
}

TEST(ExplainK3sNodeTest, NotReadyWithoutCniNamesTheFix) {
  K3sClusterNode node{.name = "ip-10-0-1-5",
                      .ready = false,
                      .reason = "KubeletNotReady",
                      .message =
                          "container runtime network not ready: NetworkReady=false "
                          "reason:NetworkPluginNotReady message:Network plugin returns "
                          "error: cni plugin not initialized",
                      .roles = "control-plane,master",
                      .internal_ip = "10.100.2.1"};
  EXPECT_THAT(ExplainK3sNode(node), HasSubstr("no CNI yet"));
  EXPECT_THAT(ExplainK3sNode(node),
              HasSubstr("cilium install --cluster-name aws-k3s --cluster-id 2"));
  const std::string rendered = RenderCloudCluster({node, {.name = "worker", .ready = true}});
  EXPECT_EQ(rendered,
            "cloud cluster (k3s):\n"
            "  ip-10-0-1-5  NotReady  control-plane,master  10.100.2.1\n"
            "    no CNI yet: k3s was started with --flannel-backend=none; install Cilium (cilium "
            "install --cluster-name aws-k3s --cluster-id 2) or let k3s run flannel\n"
            "  worker  Ready\n");
}

TEST(ExplainK3sNodeTest, OtherReasonsAreQuotedAndReadyNeedsNone) {
  EXPECT_EQ(ExplainK3sNode({.name = "n", .ready = true}), "");
  EXPECT_EQ(ExplainK3sNode({.name = "n",
                            .reason = "NodeStatusUnknown",
                            .message = "Kubelet stopped posting node status."}),
            "NodeStatusUnknown: Kubelet stopped posting node status.");
  EXPECT_THAT(ExplainK3sNode({.name = "n"}), HasSubstr("no Ready condition"));
  EXPECT_EQ(RenderCloudCluster({}), "");
}

}  // namespace
}  // namespace carrierarr::ops
