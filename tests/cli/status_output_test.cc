// What `carrierarr status` prints of a status of the test's own: the cloud cluster's section
// (text and JSON) when the k3s server's agent reports one, and nothing of it otherwise.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/status.h"

namespace carrierarr::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

ops::FleetStatus TwoNodes() {
  ops::FleetStatus s;
  s.fleet = "demo";
  s.deployed = true;
  s.nodes.push_back({.name = "lighthouse", .role = "lighthouse", .mesh_ip = "10.100.0.1"});
  s.nodes.push_back({.name = "gpu-1", .role = "worker", .mesh_ip = "10.100.2.1"});
  s.nodes[0].agent.lifecycle = "connected";
  return s;
}

ops::FleetStatus WithCluster() {
  ops::FleetStatus s = TwoNodes();
  s.nodes[0].agent.cluster = {
      {.name = "lighthouse",
       .ready = false,
       .reason = "KubeletNotReady",
       .message = "container runtime network not ready: NetworkReady=false "
                  "reason:NetworkPluginNotReady message:Network plugin returns error: cni "
                  "plugin not initialized",
       .roles = "control-plane,master",
       .internal_ip = "10.100.0.1"},
      {.name = "gpu-1", .ready = true, .reason = "KubeletReady", .internal_ip = "10.100.2.1"}};
  return s;
}

TEST(StatusOutputTest, TextShowsTheCloudClusterWithTheNoCniExplanation) {
  std::ostringstream out;
  PrintStatusText(WithCluster(), 1, out);
  const std::string text = out.str();
  EXPECT_THAT(text, HasSubstr("cloud cluster (k3s):\n"));
  EXPECT_THAT(text, HasSubstr("  lighthouse  NotReady  control-plane,master  10.100.0.1\n"));
  EXPECT_THAT(text, HasSubstr("    no CNI yet: k3s was started with --flannel-backend=none"));
  EXPECT_THAT(text, HasSubstr("  gpu-1  Ready  10.100.2.1\n"));
  // After the node table.
  EXPECT_LT(text.find("NODE "), text.find("cloud cluster"));
}

TEST(StatusOutputTest, JsonCarriesEachClusterNodeWithItsExplanation) {
  std::ostringstream out;
  PrintStatusJson(WithCluster(), 1, out);
  const auto j = nlohmann::json::parse(out.str());
  ASSERT_TRUE(j.contains("cloud_cluster")) << out.str();
  EXPECT_EQ(j["cloud_cluster"]["reported_by"], "lighthouse");
  const auto& nodes = j["cloud_cluster"]["nodes"];
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0]["name"], "lighthouse");
  EXPECT_EQ(nodes[0]["ready"], false);
  EXPECT_EQ(nodes[0]["reason"], "KubeletNotReady");
  EXPECT_THAT(nodes[0]["message"].get<std::string>(), HasSubstr("cni plugin not initialized"));
  EXPECT_EQ(nodes[0]["roles"], "control-plane,master");
  EXPECT_EQ(nodes[0]["internal_ip"], "10.100.0.1");
  EXPECT_THAT(nodes[0]["explanation"].get<std::string>(), HasSubstr("install Cilium"));
  EXPECT_EQ(nodes[1]["ready"], true);
  EXPECT_EQ(nodes[1]["explanation"], "");
}

TEST(StatusOutputTest, NothingOfAClusterWhenNoNodeReportsOne) {
  std::ostringstream text, json;
  PrintStatusText(TwoNodes(), 0, text);
  PrintStatusJson(TwoNodes(), 0, json);
  EXPECT_THAT(text.str(), Not(HasSubstr("cloud cluster")));
  EXPECT_FALSE(nlohmann::json::parse(json.str()).contains("cloud_cluster"));
}

ops::FleetStatus WithClusterMesh() {
  ops::FleetStatus s = TwoNodes();
  s.federation.mode = "clustermesh";
  s.federation.items.push_back({.what = "homelab Secret kube-system/cilium-clustermesh",
                                .ok = true,
                                .detail = "as planned"});
  s.federation.sync.push_back({.local = "talos-home",
                               .remote = "aws-k3s",
                               .agents = 2,
                               .agents_connected = 2,
                               .agents_total = 2,
                               .clusters_connected = 1,
                               .clusters_total = 1,
                               .nodes = 2,
                               .endpoints = 7,
                               .identities = 6});
  s.federation.sync.push_back({.local = "aws-k3s",
                               .remote = "talos-home",
                               .agents = 0,
                               .agents_total = 40,
                               .identities = 4,
                               .problem = "Cilium's agents serve no metrics"});
  return s;
}

// The seeds' sync table: one row per direction, unknown counts as '-', then each problem.
TEST(StatusOutputTest, TextShowsTheClusterMeshSyncTable) {
  std::ostringstream out;
  PrintStatusText(WithClusterMesh(), 1, out);
  const std::string text = out.str();
  EXPECT_THAT(text,
              HasSubstr("       direction             agents      clusters nodes endpoints "
                        "identities\n"
                        "  ok   aws-k3s -> talos-home 2/2         1/1      2     7         6\n"
                        "  FAIL talos-home -> aws-k3s 0/0 (of 40) -/-      -     -         4\n"))
      << text;
  EXPECT_THAT(text, HasSubstr("  talos-home -> aws-k3s: Cilium's agents serve no metrics\n"));
}

TEST(StatusOutputTest, JsonCarriesTheClusterMeshSync) {
  std::ostringstream out;
  PrintStatusJson(WithClusterMesh(), 1, out);
  const auto j = nlohmann::json::parse(out.str());
  const auto& sync = j["federation"]["clustermesh_sync"];
  ASSERT_EQ(sync.size(), 2u) << out.str();
  EXPECT_EQ(sync[0]["local"], "talos-home");
  EXPECT_EQ(sync[0]["ok"], true);
  EXPECT_EQ(sync[0]["endpoints"], 7);
  EXPECT_EQ(sync[1]["ok"], false);
  EXPECT_EQ(sync[1]["nodes"], -1);
  EXPECT_EQ(sync[1]["agents_total"], 40);
  EXPECT_EQ(sync[1]["problem"], "Cilium's agents serve no metrics");
}

TEST(StatusOutputTest, ScaledPoolsShowWhatRunsAndWhatTheyCost) {
  ops::FleetStatus s = TwoNodes();
  s.pools.push_back({.name = "gpu",
                     .min = 0,
                     .max = 2,
                     .running = {"gpu-1"},
                     .pending = 1,
                     .spent_today = 503'000,
                     .spent_month = 12'250'000,
                     .forecast_day = 14'000'000});
  std::ostringstream text;
  PrintStatusText(s, 1, text);
  EXPECT_THAT(text.str(), HasSubstr("\npools:\n  gpu (0..2): woken: gpu-1; 1 under way; spent "
                                    "$0.503 today, $12.25 this month (UTC); forecast $14.00 "
                                    "today\n"));
  std::ostringstream json;
  PrintStatusJson(s, 1, json);
  auto j = nlohmann::json::parse(json.str());
  ASSERT_EQ(j["pools"].size(), 1u);
  EXPECT_EQ(j["pools"][0]["spent_month_micro_usd"], 12'250'000);
  EXPECT_EQ(j["pools"][0]["running"], nlohmann::json::array({"gpu-1"}));

  // Without a report, the reason is said; without scaled pools, nothing at all.
  s.pools.clear();
  s.pools_problem = "no pool reports: this control plane runs without --fleet";
  std::ostringstream problem;
  PrintStatusText(s, 1, problem);
  EXPECT_THAT(problem.str(), HasSubstr("pools:\n  no pool reports: this control plane"));
  std::ostringstream none;
  PrintStatusText(TwoNodes(), 1, none);
  EXPECT_THAT(none.str(), Not(HasSubstr("pools:")));
}

TEST(StatusOutputTest, EachWorkerSaysWhereItIsOnItsReadinessLadder) {
  ops::FleetStatus s = TwoNodes();
  s.nodes[1].ladder = {{"instance running", true}, {"mesh up", true},
                       {"agent registered", true}, {"GPU visible", true},
                       {"GPU allocatable", false}, {"Ollama up", false}};
  std::ostringstream text;
  PrintStatusText(s, 1, text);
  EXPECT_THAT(text.str(),
              HasSubstr("\nreadiness:\n  gpu-1  4/6  GPU visible; next: GPU allocatable\n"))
      << text.str();
  EXPECT_THAT(text.str(), Not(HasSubstr("  lighthouse  "))) << "not a worker";
  std::ostringstream json;
  PrintStatusJson(s, 1, json);
  auto j = nlohmann::json::parse(json.str());
  EXPECT_EQ(j["nodes"][1]["readiness"]["summary"], "GPU visible; next: GPU allocatable");
  EXPECT_EQ(j["nodes"][1]["readiness"]["ladder"][4],
            nlohmann::json({{"rung", "GPU allocatable"}, {"reached", false}}));
  EXPECT_FALSE(j["nodes"][0].contains("readiness"));
  std::ostringstream none;
  PrintStatusText(TwoNodes(), 1, none);
  EXPECT_THAT(none.str(), Not(HasSubstr("readiness:")));
}

}  // namespace
}  // namespace carrierarr::cli
