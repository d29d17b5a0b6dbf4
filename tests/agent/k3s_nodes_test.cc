#include "agent/k3s_nodes.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace carrierarr::agent {
namespace {

using ::testing::HasSubstr;

// Trimmed from what `kubectl get nodes -o json` prints for a k3s server started with
// --flannel-backend=none before any CNI is installed, plus a Ready worker.
constexpr char kNodes[] = R"({"apiVersion":"v1","kind":"List","items":[
 {"metadata":{"name":"ip-10-0-1-5","labels":{"node-role.kubernetes.io/master":"true",
   "node-role.kubernetes.io/control-plane":"true","kubernetes.io/os":"linux"}},
  "status":{"addresses":[{"type":"InternalIP","address":"10.100.2.1"},
                         {"type":"Hostname","address":"ip-10-0-1-5"}],
   "conditions":[{"type":"MemoryPressure","status":"False","reason":"KubeletHasSufficientMemory"},
    {"type":"Ready","status":"False","reason":"KubeletNotReady",
     "message":"container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"}]}},
 {"metadata":{"name":"gpu-1"},
  "status":{"allocatable":{"cpu":"4","nvidia.com/gpu":"1","memory":"16Gi"},"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady",
     "message":"kubelet is posting ready status"}]}}]})";

TEST(ParseKubectlNodesTest, ReadyAndNotReadyWithoutCni) {
  Result<std::vector<K3sNodeReport>> nodes = ParseKubectlNodes(kNodes);
  ASSERT_TRUE(nodes.ok()) << nodes.status().message();
  ASSERT_EQ(nodes->size(), 2u);
  const K3sNodeReport& server = (*nodes)[0];
  EXPECT_EQ(server.name, "ip-10-0-1-5");
  EXPECT_FALSE(server.ready);
  EXPECT_EQ(server.reason, "KubeletNotReady");
  EXPECT_THAT(server.message, HasSubstr("cni plugin not initialized"));
  EXPECT_EQ(server.roles, "control-plane,master");
  EXPECT_EQ(server.internal_ip, "10.100.2.1");
  EXPECT_TRUE((*nodes)[1].ready);
  EXPECT_EQ((*nodes)[1].roles, "");
  EXPECT_EQ(server.gpu_allocatable, 0) << "no device plugin there";
  EXPECT_EQ((*nodes)[1].gpu_allocatable, 1) << "the device plugin offers its GPU";
}

TEST(ParseKubectlNodesTest, AGpuQuantityThatIsNotACountReadsZero) {
  for (const char* q : {R"("2k")", R"("-1")", R"("99999")", "3", R"("")"}) {
    const std::string list = std::string(R"({"items":[{"metadata":{"name":"g"},"status":{)") +
                             R"("allocatable":{"nvidia.com/gpu":)" + q + "}}}]}";
    auto nodes = ParseKubectlNodes(list);
    ASSERT_TRUE(nodes.ok()) << q;
    EXPECT_EQ((*nodes)[0].gpu_allocatable, 0) << q;
  }
}

TEST(ParseKubectlNodesTest, ReportsGoIntoTheStatus) {
  Result<std::vector<K3sNodeReport>> nodes = ParseKubectlNodes(kNodes);
  ASSERT_TRUE(nodes.ok());
  ec2agent::v1::NodeStatus status;
  status.add_k3s_cluster_nodes()->set_name("stale");
  SetK3sClusterNodes(*nodes, &status);
  ASSERT_EQ(status.k3s_cluster_nodes_size(), 2);
  EXPECT_EQ(status.k3s_cluster_nodes(0).name(), "ip-10-0-1-5");
  EXPECT_FALSE(status.k3s_cluster_nodes(0).ready());
  EXPECT_EQ(status.k3s_cluster_nodes(0).internal_ip(), "10.100.2.1");
  EXPECT_TRUE(status.k3s_cluster_nodes(1).ready());
  EXPECT_EQ(status.k3s_cluster_nodes(1).gpu_allocatable(), 1);
}

TEST(ParseKubectlNodesTest, NotANodeListOrOversizedIsAnError) {
  EXPECT_FALSE(ParseKubectlNodes("error: connection refused").ok());
  EXPECT_FALSE(ParseKubectlNodes(R"({"kind":"Status"})").ok());
  const std::string big(kMaxKubectlNodesOutputBytes + 1, ' ');
  EXPECT_EQ(ParseKubectlNodes(big).status().code(), StatusCode::kResourceExhausted);
}

TEST(ParseKubectlNodesTest, FieldsAreBoundedAndSanitized) {
  std::string items;
  for (size_t i = 0; i < kMaxK3sNodes + 5; ++i) {
    items += std::string(i ? "," : "") + R"({"metadata":{"name":"n)" + std::to_string(i) + R"("}})";
  }
  Result<std::vector<K3sNodeReport>> many = ParseKubectlNodes(R"({"items":[)" + items + "]}");
  ASSERT_TRUE(many.ok());
  EXPECT_EQ(many->size(), kMaxK3sNodes);
  EXPECT_FALSE((*many)[0].ready);  // no Ready condition: not Ready
  EXPECT_EQ((*many)[0].reason, "");

  // A long message of 3-byte code points is cut at a code point boundary, under the cap.
  std::string long_message;
  for (int i = 0; i < 400; ++i) long_message += "\xe2\x82\xac";  // U+20AC
  Result<std::vector<K3sNodeReport>> one = ParseKubectlNodes(
      R"({"items":[{"metadata":{"name":"x"},"status":{"conditions":[{"type":"Ready",)"
      R"("status":"False","message":")" +
      long_message + R"("}]}}]})");
  ASSERT_TRUE(one.ok()) << one.status().message();
  const std::string& m = (*one)[0].message;
  EXPECT_LE(m.size(), kMaxK3sFieldBytes);
  EXPECT_EQ(m.size() % 3, 0u);
  EXPECT_EQ(m.substr(0, 3), "\xe2\x82\xac");
}

class ReadKubeconfigForFetchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("k3s_nodes_test." + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "." + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(ReadKubeconfigForFetchTest, AllowedReadsTheFile) {
  const std::string path = Write("k3s.yaml", "apiVersion: v1\nkind: Config\n");
  Result<std::string> text = ReadKubeconfigForFetch(path, /*allowed=*/true);
  ASSERT_TRUE(text.ok()) << text.status().message();
  EXPECT_EQ(*text, "apiVersion: v1\nkind: Config\n");
}

TEST_F(ReadKubeconfigForFetchTest, RefusedByDefaultWithoutReading) {
  const std::string path = Write("k3s.yaml", "client-key-data: SECRET\n");
  Result<std::string> text = ReadKubeconfigForFetch(path, /*allowed=*/false);
  EXPECT_EQ(text.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(text.status().message(), HasSubstr("--allow-kubeconfig-fetch"));
}

TEST_F(ReadKubeconfigForFetchTest, TooBigAndMissingAreErrors) {
  const std::string exact = Write("exact.yaml", std::string(kMaxKubeconfigBytes, 'a'));
  EXPECT_TRUE(ReadKubeconfigForFetch(exact, true).ok());
  const std::string big = Write("big.yaml", std::string(kMaxKubeconfigBytes + 1, 'a'));
  EXPECT_EQ(ReadKubeconfigForFetch(big, true).status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(ReadKubeconfigForFetch((dir_ / "absent.yaml").string(), true).status().code(),
            StatusCode::kNotFound);
}

}  // namespace
}  // namespace carrierarr::agent
