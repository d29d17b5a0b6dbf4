// ParseAgentMetrics on what Cilium's agents export: the ClusterMesh gauges under both name
// prefixes and with the labels of older and newer releases, everything else skipped, and a
// malformed line named by its number.
#include "federation/cilium_metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace carrierarr::federation {
namespace {

using ::testing::HasSubstr;

// Cilium 1.16's agent: source_cluster and source_node_name on every ClusterMesh gauge.
constexpr char kCilium116[] = R"(# HELP cilium_endpoint Number of endpoints managed by this agent
# TYPE cilium_endpoint gauge
cilium_endpoint 6
# HELP cilium_clustermesh_remote_clusters The total number of remote clusters meshed with the local cluster
# TYPE cilium_clustermesh_remote_clusters gauge
cilium_clustermesh_remote_clusters{source_cluster="talos-home",source_node_name="node-a"} 2
# TYPE cilium_clustermesh_remote_cluster_readiness_status gauge
cilium_clustermesh_remote_cluster_readiness_status{source_cluster="talos-home",source_node_name="node-a",target_cluster="aws-k3s"} 1
cilium_clustermesh_remote_cluster_readiness_status{source_cluster="talos-home",source_node_name="node-a",target_cluster="gcp-1"} 0
cilium_clustermesh_remote_cluster_nodes{source_cluster="talos-home",source_node_name="node-a",target_cluster="aws-k3s"} 5
cilium_clustermesh_remote_cluster_endpoints{source_cluster="talos-home",source_node_name="node-a",target_cluster="aws-k3s"} 135
cilium_clustermesh_remote_cluster_failures{source_cluster="talos-home",source_node_name="node-a",target_cluster="gcp-1"} 7
cilium_clustermesh_remote_cluster_last_failure_ts{source_cluster="talos-home",source_node_name="node-a",target_cluster="gcp-1"} 1.7648e+09
)";

TEST(CiliumMetricsTest, ReadsClusterMeshGaugesOfOlderAgents) {
  auto view = ParseAgentMetrics(kCilium116);
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  EXPECT_EQ(view->remote_clusters, 2);
  ASSERT_EQ(view->remotes.size(), 2u);
  const RemoteClusterView& aws = view->remotes.at("aws-k3s");
  EXPECT_TRUE(aws.ready);
  EXPECT_EQ(aws.nodes, 5);
  EXPECT_EQ(aws.endpoints, 135);
  const RemoteClusterView& gcp = view->remotes.at("gcp-1");
  EXPECT_FALSE(gcp.ready);
  EXPECT_EQ(gcp.nodes, -1);
}

// Newer agents: no source labels, the cilium_agent_ prefix, timestamps, CRLF line ends and
// escaped label values.
TEST(CiliumMetricsTest, ReadsNewerNamesAndTheFormatsCorners) {
  auto view = ParseAgentMetrics(
      "cilium_agent_clustermesh_remote_clusters 1\r\n"
      "cilium_agent_clustermesh_remote_cluster_readiness_status{target_cluster=\"aws-k3s\"} 1 "
      "1764800000000\r\n"
      "cilium_agent_clustermesh_remote_cluster_nodes{note=\"a \\\"b\\\", c}\",target_cluster="
      "\"aws-k3s\"} 3\n"
      "cilium_clustermesh_remote_cluster_endpoints{target_cluster=\"aws-k3s\",} 12\n"
      "cilium_kvstoremesh_remote_cluster_nodes{target_cluster=\"aws-k3s\"} 99\n");
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  EXPECT_EQ(view->remote_clusters, 1);
  const RemoteClusterView& aws = view->remotes.at("aws-k3s");
  EXPECT_TRUE(aws.ready);
  EXPECT_EQ(aws.nodes, 3);  // KVStoreMesh's own gauge is not the agent's
  EXPECT_EQ(aws.endpoints, 12);
}

TEST(CiliumMetricsTest, NoClusterMeshNothingReported) {
  auto view = ParseAgentMetrics("# just comments\n\ncilium_endpoint 3\n");
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->remote_clusters, -1);
  EXPECT_TRUE(view->remotes.empty());
}

TEST(CiliumMetricsTest, MalformedLinesAreNamed) {
  EXPECT_THAT(ParseAgentMetrics("cilium_endpoint 1\n<html>oops</html>\n").status().message(),
              HasSubstr("metrics line 2: not a sample: <html>oops</html>"));
  EXPECT_THAT(ParseAgentMetrics("cilium_clustermesh_remote_cluster_nodes{target_cluster=\"x} 1\n")
                  .status()
                  .message(),
              HasSubstr("metrics line 1: unreadable labels"));
  EXPECT_THAT(ParseAgentMetrics("cilium_clustermesh_remote_clusters NaN\n").status().message(),
              HasSubstr("metrics line 1: no value"));
}

}  // namespace
}  // namespace carrierarr::federation
