// The AWS provider's plan, offline: which resources a fleet with nodes on AWS asks for, how they
// depend on each other (the Elastic IP before every config, instances after what they need,
// independent resources free to run at once), the security group's rules, and that planning
// makes no AWS call. The resources themselves run against the fake AWS endpoint in
// aws_e2e_test.
#include "providers/aws/aws_provider.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "ops/fleet_ops.h"
#include "providers/aws/resources.h"
#include "providers/registry.h"
#include "provision/plan.h"

namespace carrierarr {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsSupersetOf;
using ::testing::Not;

spec::FleetSpec AwsFleet() {
  spec::FleetSpec f;
  f.name = "t1";
  f.lighthouse.provider = "aws";
  f.lighthouse.size = "t3.small";
  f.pools = {{.name = "gpu",
              .type = spec::PoolType::kGpuWorker,
              .count = 2,
              .provider = "aws",
              .instance_type = "g4dn.xlarge"},
             {.name = "arm",
              .type = spec::PoolType::kCpuWorker,
              .count = 1,
              .provider = "aws",
              .instance_type = "t4g.medium",
              .spot = true},
             {.name = "cpu", .type = spec::PoolType::kCpuWorker, .count = 1, .provider = "local"}};
  f.homelab.provider = "local";
  f.aws.region = "us-east-1";
  // Nothing may be sent here: planning an unrecorded fleet makes no AWS call.
  f.aws.endpoint_url = "http://127.0.0.1:1";
  return f;
}

ops::FleetContext Context(const spec::FleetSpec& spec) {
  ops::FleetContext ctx;
  ctx.fleet_file = "/nonexistent/fleet.yaml";
  ctx.fleet_dir = "/nonexistent";
  ctx.spec = spec;
  ctx.paths.state_dir = "/nonexistent/.carrierarr";
  return ctx;
}

std::map<std::string, const provision::Resource*> ById(const ops::Desired& d) {
  std::map<std::string, const provision::Resource*> out;
  for (const auto& r : d.resources) out[r->id()] = r.get();
  return out;
}

std::set<std::string> Deps(const provision::Resource* r) {
  auto deps = r->deps();
  return {deps.begin(), deps.end()};
}

TEST(AwsProviderTest, ArchFollowsTheInstanceFamily) {
  EXPECT_EQ(aws_provider::ArchOf("g4dn.xlarge"), "x86_64");
  EXPECT_EQ(aws_provider::ArchOf("p4d.24xlarge"), "x86_64");
  EXPECT_EQ(aws_provider::ArchOf("t3.small"), "x86_64");
  EXPECT_EQ(aws_provider::ArchOf("g6e.xlarge"), "x86_64");
  EXPECT_EQ(aws_provider::ArchOf("t4g.medium"), "arm64");
  EXPECT_EQ(aws_provider::ArchOf("c7gn.large"), "arm64");
  EXPECT_EQ(aws_provider::ArchOf("g5g.xlarge"), "arm64");
  EXPECT_EQ(aws_provider::ArchOf("m7gd.2xlarge"), "arm64");
}

TEST(AwsProviderTest, SecurityGroupOpensOnlyNebulaToTheWorld) {
  spec::FleetSpec f = AwsFleet();
  f.aws.operator_cidrs = {{0xcb007107, 0xffffffff}};  // 203.0.113.7/32
  auto rules = aws_provider::SecurityGroupRules(f);
  std::set<std::string> open_to_world;
  std::map<int, std::set<std::string>> tcp_sources;
  for (const auto& r : rules) {
    if (r.cidr == "0.0.0.0/0") open_to_world.insert(r.protocol + "/" + std::to_string(r.to_port));
    if (r.protocol == "tcp") tcp_sources[r.from_port].insert(r.cidr);
    EXPECT_EQ(r.from_port, r.to_port);
    EXPECT_FALSE(r.description.empty());
  }
  EXPECT_EQ(open_to_world, std::set<std::string>{"udp/4242"});
  for (int port : {22, 6443, 8080, 32379}) {
    EXPECT_EQ(tcp_sources[port], (std::set<std::string>{"10.42.0.0/16", "203.0.113.7/32"})) << port;
  }
  EXPECT_EQ(tcp_sources.size(), 4u);
}

TEST(AwsProviderTest, PlansEveryAwsResourceWithoutCallingAws) {
  ops::FleetContext ctx = Context(AwsFleet());
  auto desired = ops::BuildDesired(ctx, {});
  ASSERT_TRUE(desired.ok()) << desired.status().ToString();
  auto by_id = ById(*desired);
  std::set<std::string> ids;
  for (const auto& [id, r] : by_id) ids.insert(id);
  EXPECT_THAT(ids, IsSupersetOf({"aws-sg", "aws-key", "aws-image/x86_64", "aws-image/arm64",
                                 "aws-image/gpu-x86_64", "aws-quota/gpu", "aws-quota/arm",
                                 "k3s-token", "k3s-agent-token", "instance/lighthouse",
                                 "instance/gpu-1", "instance/gpu-2", "instance/arm-1",
                                 "eip/lighthouse", "eip-association/lighthouse",
                                 // the homelab and the local pool stay namespaces
                                 "netns/homelab", "netns/cpu-1", "agent/cpu-1", "control-plane"}));
  // Cloud nodes have no namespace and no agent daemon here: their agent is in their userdata.
  for (const char* id : {"netns/gpu-1", "nebula/lighthouse", "agent/gpu-1", "agent-token/gpu-1",
                         "aws-quota/cpu", "aws-secret/gpu-1"}) {
    EXPECT_THAT(ids, Not(Contains(id)));
  }

  auto plan = provision::MakePlan(desired->resources, {}, {});
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->Count(provision::Action::kCreate), static_cast<int>(ids.size()));
}

// A pool's own image (e.g. baked by `render packer`) is what its nodes boot: no image lookup for
// them, and a new image replaces them.
TEST(AwsProviderTest, APoolsImageIsTheAmiItsNodesBoot) {
  spec::FleetSpec f = AwsFleet();
  ops::FleetContext before = Context(f);
  auto plain = ops::BuildDesired(before, {});
  ASSERT_TRUE(plain.ok());
  f.pools[1].image = "ami-0abc1234def567890";  // the arm pool
  auto desired = ops::BuildDesired(Context(f), {});
  ASSERT_TRUE(desired.ok()) << desired.status().ToString();
  auto by_id = ById(*desired);
  EXPECT_THAT(Deps(by_id["instance/arm-1"]), Not(Contains("aws-image/arm64")));
  EXPECT_THAT(by_id["instance/arm-1"]->summary(), HasSubstr("ami-0abc1234def567890"));
  EXPECT_EQ(by_id.count("aws-image/arm64"), 0u) << "nothing else needs the lookup";
  EXPECT_NE(by_id["instance/arm-1"]->hash(), ById(*plain)["instance/arm-1"]->hash());
  EXPECT_EQ(by_id["instance/gpu-1"]->hash(), ById(*plain)["instance/gpu-1"]->hash());
}

// A GPU worker boots AWS's Deep Learning Base image (NVIDIA driver and container toolkit), not
// providers.aws.ami, which is a plain image for the other nodes; its pool's own image wins.
TEST(AwsProviderTest, AGpuWorkerBootsTheDriverImage) {
  spec::FleetSpec f = AwsFleet();
  f.aws.ami = "ami-0aaaa1111bbbb2222";
  auto desired = ops::BuildDesired(Context(f), {});
  ASSERT_TRUE(desired.ok()) << desired.status().ToString();
  auto by_id = ById(*desired);
  EXPECT_THAT(Deps(by_id.at("instance/gpu-1")), Contains("aws-image/gpu-x86_64"));
  EXPECT_THAT(by_id.at("aws-image/gpu-x86_64")->summary(),
              HasSubstr("Deep Learning Base OSS Nvidia Driver GPU AMI (Amazon Linux 2023)"));
  EXPECT_THAT(by_id.at("instance/lighthouse")->summary(), HasSubstr("ami-0aaaa1111bbbb2222"));
  EXPECT_EQ(by_id.count("aws-image/x86_64"), 0u) << "the plain nodes boot providers.aws.ami";
  f.pools[0].image = "ami-0cccc3333dddd4444";
  desired = ops::BuildDesired(Context(f), {});
  ASSERT_TRUE(desired.ok()) << desired.status().ToString();
  by_id = ById(*desired);
  EXPECT_THAT(by_id.at("instance/gpu-1")->summary(), HasSubstr("ami-0cccc3333dddd4444"));
  EXPECT_EQ(by_id.count("aws-image/gpu-x86_64"), 0u);
}

TEST(AwsProviderTest, TheElasticIpComesFirstAndInstancesAfterWhatTheyNeed) {
  ops::FleetContext ctx = Context(AwsFleet());
  auto desired = ops::BuildDesired(ctx, {});
  ASSERT_TRUE(desired.ok()) << desired.status().ToString();
  auto by_id = ById(*desired);
  // Every config names the lighthouse's address.
  for (const char* config : {"config/gpu-1", "config/homelab", "config/lighthouse"})
    EXPECT_THAT(Deps(by_id.at(config)), Contains("eip/lighthouse")) << config;
  EXPECT_TRUE(Deps(by_id.at("eip/lighthouse")).empty());
  EXPECT_THAT(
      Deps(by_id.at("instance/gpu-1")),
      IsSupersetOf({"cert/gpu-1", "config/gpu-1", "aws-sg", "aws-key", "aws-image/gpu-x86_64",
                    "aws-quota/gpu", "k3s-agent-token", "enrollment-key"}));
  // The k3s server token goes to the server alone; workers get the agent token.
  EXPECT_THAT(Deps(by_id.at("instance/gpu-1")), Not(Contains("k3s-token")));
  EXPECT_THAT(Deps(by_id.at("instance/lighthouse")),
              IsSupersetOf({"k3s-token", "k3s-agent-token"}));
  EXPECT_THAT(Deps(by_id.at("instance/arm-1")), Contains("aws-image/arm64"));
  // Workers do not wait for the lighthouse's instance: Nebula keeps trying its address.
  EXPECT_THAT(Deps(by_id.at("instance/gpu-1")), Not(Contains("instance/lighthouse")));
  EXPECT_THAT(Deps(by_id.at("eip-association/lighthouse")),
              IsSupersetOf({"eip/lighthouse", "instance/lighthouse"}));
  // Shared resources need nothing: they are made at once, side by side.
  for (const char* shared :
       {"aws-sg", "aws-key", "aws-image/x86_64", "aws-image/gpu-x86_64", "aws-quota/gpu"})
    EXPECT_TRUE(Deps(by_id.at(shared)).empty()) << shared;

  EXPECT_THAT(by_id.at("instance/gpu-1")->summary(),
              HasSubstr("100 GB encrypted, IMDSv2 (hop limit 1)"));
  EXPECT_THAT(by_id.at("instance/lighthouse")->summary(), HasSubstr("30 GB"));
  EXPECT_THAT(by_id.at("instance/lighthouse")->summary(), HasSubstr("k3s server"));
  EXPECT_THAT(by_id.at("instance/arm-1")->summary(), HasSubstr("spot t4g.medium"));
}

TEST(AwsProviderTest, ConfigsNameTheRecordedElasticIpAndPathsOnTheNode) {
  ops::FleetContext ctx = Context(AwsFleet());
  auto before = ops::BuildDesired(ctx, {});
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->lighthouse_endpoint, "<lighthouse elastic ip>:4242");

  provision::FleetState state;
  provision::ResourceRecord eip;
  eip.kind = "aws-eip";
  eip.phase = provision::Phase::kReady;
  eip.attrs = {{"public_ip", "198.51.100.7"}, {"allocation_id", "eipalloc-1"}};
  state.resources["eip/lighthouse"] = eip;
  auto after = ops::BuildDesired(ctx, state);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->lighthouse_endpoint, "198.51.100.7:4242");

  providers::NodeFiles files =
      after->providers.at("aws")->NebulaFiles(ctx.paths, after->nodes.front());
  EXPECT_EQ(files.cert, "/etc/nebula/host.crt");
  EXPECT_EQ(files.key, "/etc/nebula/host.key");
}

TEST(AwsProviderTest, ADnsNameMakesTheEndpointKnownUpFront) {
  spec::FleetSpec f = AwsFleet();
  f.aws.dns_name = "nebula.example.org";
  auto provider = providers::MakeProvider("aws", Seams::FromProcess());
  ASSERT_TRUE(provider.ok());
  EXPECT_TRUE((*provider)->EndpointResources(f).empty());
  auto desired = ops::BuildDesired(Context(f), {});
  ASSERT_TRUE(desired.ok());
  EXPECT_EQ(desired->lighthouse_endpoint, "nebula.example.org:4242");
  auto by_id = ById(*desired);
  EXPECT_THAT(Deps(by_id.at("config/gpu-1")), Not(Contains("eip/lighthouse")));
}

TEST(AwsProviderTest, SecretsManagerModeAddsOneSecretPerCloudNode) {
  spec::FleetSpec f = AwsFleet();
  f.aws.nebula_material = spec::NebulaMaterial::kSecretsManager;
  f.aws.iam_instance_profile = "carrierarr-node";
  auto desired = ops::BuildDesired(Context(f), {});
  ASSERT_TRUE(desired.ok());
  auto by_id = ById(*desired);
  for (const char* node : {"lighthouse", "gpu-1", "gpu-2", "arm-1"}) {
    std::string secret = std::string("aws-secret/") + node;
    ASSERT_TRUE(by_id.count(secret)) << secret;
    EXPECT_THAT(Deps(by_id.at(secret)),
                IsSupersetOf({"cert/" + std::string(node), "config/" + std::string(node)}));
    EXPECT_THAT(Deps(by_id.at(std::string("instance/") + node)), Contains(secret));
  }
  EXPECT_FALSE(by_id.count("aws-secret/homelab"));
}

}  // namespace
}  // namespace carrierarr
