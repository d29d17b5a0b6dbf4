// The address plan (IPAM): the seeds' layout (lighthouse .0.1, homelab .1.x, workers .2.1 up),
// groups per role, and stability: a node keeps its address for life, and no address is handed
// to a new node while another node still holds it.
#include "mesh/address_plan.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace carrierarr::mesh {
namespace {

using spec::FleetSpec;
using spec::PoolSpec;
using spec::PoolType;

uint32_t Ip(const std::string& text) {
  auto ip = ParseIpv4(text);
  EXPECT_TRUE(ip.ok()) << text;
  return ip.ok() ? *ip : 0;
}

Ipv4Net Net(const std::string& text) {
  auto net = ParseCidr(text);
  EXPECT_TRUE(net.ok()) << text;
  return net.ok() ? *net : Ipv4Net{};
}

PoolSpec Pool(const std::string& name, PoolType type, int count,
              std::vector<std::string> groups = {}) {
  return {
      .name = name, .type = type, .count = count, .provider = "local", .groups = std::move(groups)};
}

FleetSpec TwoPools() {
  FleetSpec fleet;
  fleet.lighthouse.provider = fleet.homelab.provider = "local";
  fleet.pools = {Pool("gpu", PoolType::kGpuWorker, 2, {"workers", "gpu-compute", "inference"}),
                 Pool("cpu", PoolType::kCpuWorker, 3, {"batch", "workers", "batch"})};
  return fleet;
}

std::vector<NodePlan> MustPlan(const FleetSpec& fleet, const Assignments& existing = {}) {
  auto nodes = PlanNodes(fleet, existing);
  EXPECT_TRUE(nodes.ok()) << nodes.status().ToString();
  return nodes.ok() ? *nodes : std::vector<NodePlan>{};
}

// name -> dotted address, for compact comparisons.
std::map<std::string, std::string> AddressesOf(const std::vector<NodePlan>& nodes) {
  std::map<std::string, std::string> out;
  for (const auto& n : nodes) out[n.name] = FormatIpv4(n.mesh_ip);
  return out;
}

Assignments Record(const std::vector<NodePlan>& nodes) {
  Assignments out;
  for (const auto& n : nodes) out[n.name] = n.mesh_ip;
  return out;
}

TEST(AddressPlanTest, LaysOutTheSeedsRanges) {
  const auto nodes = MustPlan(TwoPools());
  ASSERT_EQ(nodes.size(), 7u);
  struct Want {
    std::string name;
    Role role;
    std::string ip;
    std::string pool;
    PoolType type;
    std::vector<std::string> groups;
  };
  const std::vector<Want> want = {
      {"lighthouse", Role::kLighthouse, "10.42.0.1", "", PoolType::kCpuWorker, {"lighthouse"}},
      {"homelab", Role::kHomelab, "10.42.1.1", "", PoolType::kCpuWorker, {"homelab", "kubernetes"}},
      {"gpu-1",
       Role::kWorker,
       "10.42.2.1",
       "gpu",
       PoolType::kGpuWorker,
       {"workers", "gpu-compute", "inference"}},
      {"gpu-2",
       Role::kWorker,
       "10.42.2.2",
       "gpu",
       PoolType::kGpuWorker,
       {"workers", "gpu-compute", "inference"}},
      {"cpu-1", Role::kWorker, "10.42.2.3", "cpu", PoolType::kCpuWorker, {"workers", "batch"}},
      {"cpu-2", Role::kWorker, "10.42.2.4", "cpu", PoolType::kCpuWorker, {"workers", "batch"}},
      {"cpu-3", Role::kWorker, "10.42.2.5", "cpu", PoolType::kCpuWorker, {"workers", "batch"}},
  };
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(want[i].name);
    EXPECT_EQ(nodes[i].name, want[i].name);
    EXPECT_EQ(nodes[i].role, want[i].role);
    EXPECT_EQ(FormatIpv4(nodes[i].mesh_ip), want[i].ip);
    EXPECT_EQ(nodes[i].pool, want[i].pool);
    if (want[i].role == Role::kWorker) {
      EXPECT_EQ(nodes[i].pool_type, want[i].type);
    }
    EXPECT_EQ(nodes[i].provider, "local");
    EXPECT_EQ(nodes[i].groups, want[i].groups);
  }
}

TEST(AddressPlanTest, FollowsTheMeshAndHomelabOfTheSpec) {
  FleetSpec fleet;
  fleet.mesh.cidr = Net("10.7.0.0/16");
  fleet.homelab.mesh_ip = Ip("10.7.1.20");
  fleet.pools = {Pool("a", PoolType::kCpuWorker, 1)};
  const auto nodes = MustPlan(fleet);
  EXPECT_EQ(AddressesOf(nodes), (std::map<std::string, std::string>{
                                    {"lighthouse", "10.7.0.1"},
                                    {"homelab", "10.7.1.20"},
                                    {"a-1", "10.7.2.1"},
                                }));
  EXPECT_EQ(LighthouseIp(fleet), Ip("10.7.0.1"));
}

TEST(AddressPlanTest, RoleGroupsComeFirstThenSpecGroupsDeduplicated) {
  struct Case {
    std::string name;
    PoolType type;
    std::vector<std::string> spec_groups;
    std::vector<std::string> want;
  };
  const Case cases[] = {
      {"CpuNoGroups", PoolType::kCpuWorker, {}, {"workers"}},
      {"GpuNoGroups", PoolType::kGpuWorker, {}, {"workers", "gpu-compute"}},
      {"GpuRepeatsRoleGroups",
       PoolType::kGpuWorker,
       {"gpu-compute", "aws", "workers", "aws"},
       {"workers", "gpu-compute", "aws"}},
      {"CpuAsksForGpuGroup", PoolType::kCpuWorker, {"gpu-compute"}, {"workers", "gpu-compute"}},
      {"KeepsSpecOrder", PoolType::kCpuWorker, {"zeta", "alpha"}, {"workers", "zeta", "alpha"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    FleetSpec fleet;
    fleet.homelab.groups = {"kubernetes", "homelab", "kubernetes"};
    fleet.pools = {Pool("p", c.type, 1, c.spec_groups)};
    const auto nodes = MustPlan(fleet);
    ASSERT_EQ(nodes.size(), 3u);
    EXPECT_EQ(nodes[0].groups, (std::vector<std::string>{"lighthouse"}));
    EXPECT_EQ(nodes[1].groups, (std::vector<std::string>{"homelab", "kubernetes"}));
    EXPECT_EQ(nodes[2].groups, c.want);
  }
}

TEST(AddressPlanTest, IsDeterministic) {
  EXPECT_EQ(AddressesOf(MustPlan(TwoPools())), AddressesOf(MustPlan(TwoPools())));
  const auto first = MustPlan(TwoPools());
  EXPECT_EQ(AddressesOf(MustPlan(TwoPools(), Record(first))), AddressesOf(first));
}

TEST(AddressPlanTest, ExistingWorkersKeepTheirAddressWhenPoolsAreReordered) {
  FleetSpec fleet = TwoPools();
  const auto before = MustPlan(fleet);
  std::swap(fleet.pools[0], fleet.pools[1]);
  const auto after = MustPlan(fleet, Record(before));
  EXPECT_EQ(AddressesOf(after), AddressesOf(before));
  // The order of the plan follows the file, the addresses follow the nodes.
  ASSERT_EQ(after.size(), 7u);
  EXPECT_EQ(after[2].name, "cpu-1");
  EXPECT_EQ(FormatIpv4(after[2].mesh_ip), "10.42.2.3");
  // Without a record, the new order decides.
  EXPECT_EQ(FormatIpv4(MustPlan(fleet)[2].mesh_ip), "10.42.2.1");
}

TEST(AddressPlanTest, AGrowingPoolTakesTheLowestFreeAddressAndMovesNobody) {
  FleetSpec fleet = TwoPools();
  const auto before = MustPlan(fleet);
  fleet.pools[0].count = 4;  // gpu-3 and gpu-4 are new
  const auto after = AddressesOf(MustPlan(fleet, Record(before)));
  for (const auto& [name, ip] : AddressesOf(before)) EXPECT_EQ(after.at(name), ip) << name;
  EXPECT_EQ(after.at("gpu-3"), "10.42.2.6");
  EXPECT_EQ(after.at("gpu-4"), "10.42.2.7");
}

TEST(AddressPlanTest, AShrinkingPoolLeavesTheOthersInPlace) {
  FleetSpec fleet = TwoPools();
  const auto before = AddressesOf(MustPlan(fleet));
  fleet.pools[0].count = 1;  // gpu-2 goes
  Assignments recorded = Record(MustPlan(TwoPools()));
  const auto after = AddressesOf(MustPlan(fleet, recorded));
  EXPECT_EQ(after.count("gpu-2"), 0u);
  for (const auto& [name, ip] : after) EXPECT_EQ(before.at(name), ip) << name;
}

TEST(AddressPlanTest, NeverReusesTheAddressOfANodeBeingRemoved) {
  FleetSpec fleet = TwoPools();
  Assignments recorded = Record(MustPlan(fleet));  // gpu-2 holds 10.42.2.2
  // gpu-2 is leaving (count 1) while a new pool arrives in the same run: gpu-2 still exists
  // until `up` deletes it, so the newcomer must not get its address.
  fleet.pools[0].count = 1;
  fleet.pools.push_back(Pool("new", PoolType::kCpuWorker, 1));
  auto after = AddressesOf(MustPlan(fleet, recorded));
  EXPECT_EQ(after.at("new-1"), "10.42.2.6");
  // Once gpu-2 is gone from the record, its address is free again and the lowest one.
  recorded.erase("gpu-2");
  fleet.pools.back().name = "fresh";
  after = AddressesOf(MustPlan(fleet, recorded));
  EXPECT_EQ(after.at("fresh-1"), "10.42.2.2");
}

TEST(AddressPlanTest, ANewNodeNeverGetsAnAddressAnyRecordedNodeHolds) {
  FleetSpec fleet;
  fleet.pools = {Pool("w", PoolType::kCpuWorker, 6)};
  // Recorded: w-2 at .2.1 (it moved there in an earlier life), and two departed nodes.
  const Assignments recorded = {{"w-2", Ip("10.42.2.1")},
                                {"old-1", Ip("10.42.2.2")},
                                {"old-2", Ip("10.42.2.4")},
                                {"lighthouse", Ip("10.42.0.1")},
                                {"homelab", Ip("10.42.1.1")}};
  EXPECT_EQ(AddressesOf(MustPlan(fleet, recorded)), (std::map<std::string, std::string>{
                                                        {"lighthouse", "10.42.0.1"},
                                                        {"homelab", "10.42.1.1"},
                                                        {"w-1", "10.42.2.3"},
                                                        {"w-2", "10.42.2.1"},
                                                        {"w-3", "10.42.2.5"},
                                                        {"w-4", "10.42.2.6"},
                                                        {"w-5", "10.42.2.7"},
                                                        {"w-6", "10.42.2.8"},
                                                    }));
}

TEST(AddressPlanTest, ARecordOutsideAMovedMeshIsReplaced) {
  FleetSpec fleet;
  fleet.pools = {Pool("w", PoolType::kCpuWorker, 1)};
  const Assignments recorded = {{"w-1", Ip("10.42.2.9")}};
  fleet.mesh.cidr = Net("10.50.0.0/16");
  fleet.homelab.mesh_ip = Ip("10.50.1.1");
  EXPECT_EQ(AddressesOf(MustPlan(fleet, recorded)).at("w-1"), "10.50.2.1");
}

TEST(AddressPlanTest, SkipsNetworkAndBroadcastStyleAddresses) {
  FleetSpec fleet;
  fleet.pools = {Pool("big", PoolType::kCpuWorker, 600)};
  const auto nodes = MustPlan(fleet);
  ASSERT_EQ(nodes.size(), 602u);
  std::set<uint32_t> seen;
  for (const auto& n : nodes) {
    EXPECT_NE(n.mesh_ip & 0xff, 0u) << FormatIpv4(n.mesh_ip);
    EXPECT_NE(n.mesh_ip & 0xff, 255u) << FormatIpv4(n.mesh_ip);
    EXPECT_TRUE(fleet.mesh.cidr.Contains(n.mesh_ip)) << FormatIpv4(n.mesh_ip);
    EXPECT_TRUE(seen.insert(n.mesh_ip).second) << "twice: " << FormatIpv4(n.mesh_ip);
  }
  const auto by_name = AddressesOf(nodes);
  EXPECT_EQ(by_name.at("big-254"), "10.42.2.254");
  EXPECT_EQ(by_name.at("big-255"), "10.42.3.1");
  EXPECT_EQ(by_name.at("big-508"), "10.42.3.254");
  EXPECT_EQ(by_name.at("big-509"), "10.42.4.1");
}

TEST(AddressPlanTest, FailsWhenTheMeshIsFull) {
  // A /16 holds 254 x 254 worker addresses: .2.1 to .255.254 without .0 and .255.
  constexpr int kWorkerCapacity = 254 * 254;
  FleetSpec fleet;
  fleet.pools = {Pool("w", PoolType::kCpuWorker, kWorkerCapacity)};
  auto full = PlanNodes(fleet, {});
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  EXPECT_EQ(FormatIpv4(full->back().mesh_ip), "10.42.255.254");

  fleet.pools[0].count = kWorkerCapacity + 1;
  auto over = PlanNodes(fleet, {});
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(over.status().message(), "mesh 10.42.0.0/16 has no free worker address left");
}

TEST(AddressPlanTest, FailsWhenRecordedNodesHoldTheLastFreeAddresses) {
  // A /22 leaves .2.1-.2.254 and .3.1-.3.254 for workers: 508 addresses.
  FleetSpec fleet;
  fleet.mesh.cidr = Net("10.42.0.0/22");
  Assignments leaving;
  for (int i = 0; i < 500; ++i) {
    leaving["old-" + std::to_string(i + 1)] = Ip("10.42.2.1") + (i < 254 ? i : i + 2);
  }
  fleet.pools = {Pool("w", PoolType::kCpuWorker, 8)};
  auto fits = PlanNodes(fleet, leaving);
  ASSERT_TRUE(fits.ok()) << fits.status().ToString();
  EXPECT_EQ(FormatIpv4(fits->back().mesh_ip), "10.42.3.254");

  fleet.pools[0].count = 9;
  auto over = PlanNodes(fleet, leaving);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(over.status().message().find("10.42.0.0/22 has no free worker address"),
            std::string::npos)
      << over.status().message();
}

// A homelab of several members (a Kubernetes cluster's joining nodes).
TEST(AddressPlanTest, EachHomelabMemberIsANodeTheFirstOnHomelabMeshIp) {
  FleetSpec fleet = TwoPools();
  auto nodes = PlanNodes(fleet, {}, {"node-b", "node-a", "node-c"});
  ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
  auto got = AddressesOf(*nodes);
  EXPECT_EQ(got.count("homelab"), 0u);
  EXPECT_EQ(got["node-b"], "10.42.1.1");  // the first: the control plane's node
  EXPECT_EQ(got["node-a"], "10.42.1.2");
  EXPECT_EQ(got["node-c"], "10.42.1.3");
  EXPECT_EQ(got["gpu-1"], "10.42.2.1");  // workers as before
  for (const auto& n : *nodes) {
    if (n.name.rfind("node-", 0) != 0) continue;
    EXPECT_EQ(n.role, Role::kHomelab);
    EXPECT_EQ(n.groups, (std::vector<std::string>{"homelab", "kubernetes"}));
  }
  // Order: lighthouse, the members, then the workers.
  EXPECT_EQ((*nodes)[0].name, "lighthouse");
  EXPECT_EQ((*nodes)[1].name, "node-b");
  EXPECT_EQ((*nodes)[4].name, "gpu-1");
}

TEST(AddressPlanTest, HomelabMembersKeepTheirAddressAsTheClusterChanges) {
  FleetSpec fleet = TwoPools();
  auto first = PlanNodes(fleet, {}, {"node-a", "node-b", "node-c"});
  ASSERT_TRUE(first.ok());
  // node-b leaves the cluster, node-d joins: node-c stays on .1.3 and node-d never gets node-b's
  // address while node-b is still recorded.
  auto second = PlanNodes(fleet, Record(*first), {"node-a", "node-c", "node-d"});
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  auto got = AddressesOf(*second);
  EXPECT_EQ(got["node-a"], "10.42.1.1");
  EXPECT_EQ(got["node-c"], "10.42.1.3");
  EXPECT_EQ(got["node-d"], "10.42.1.4");
}

TEST(AddressPlanTest, RefusesHomelabMembersThatCannotBeNodes) {
  FleetSpec fleet = TwoPools();
  for (const auto& [members, want] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"Node_A"}, "homelab node 'Node_A' cannot be a mesh node"},
           {{std::string(64, 'a')}, "cannot be a mesh node"},
           {{"lighthouse"}, "homelab node 'lighthouse' has the name of the fleet's lighthouse"},
           {{"node-a", "gpu-2"}, "homelab node 'gpu-2' has the name of the fleet's worker"},
           {{"node-a", "node-a"}, "listed twice"}}) {
    auto nodes = PlanNodes(fleet, {}, members);
    ASSERT_FALSE(nodes.ok()) << want;
    EXPECT_NE(nodes.status().message().find(want), std::string::npos) << nodes.status().ToString();
  }
}

TEST(AddressPlanTest, NoMembersIsTheOneHomelabNode) {
  FleetSpec fleet = TwoPools();
  auto nodes = PlanNodes(fleet, {}, {});
  ASSERT_TRUE(nodes.ok());
  EXPECT_EQ(AddressesOf(*nodes), AddressesOf(MustPlan(fleet)));
}

TEST(AddressPlanTest, RoleNames) {
  EXPECT_EQ(RoleName(Role::kLighthouse), "lighthouse");
  EXPECT_EQ(RoleName(Role::kHomelab), "homelab");
  EXPECT_EQ(RoleName(Role::kWorker), "worker");
}

}  // namespace
}  // namespace carrierarr::mesh
