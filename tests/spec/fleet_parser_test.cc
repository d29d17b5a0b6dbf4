// fleet.yaml parsing and validation: the template `carrierarr init` writes parses to the
// documented defaults, and every mistake is reported as "FILE:LINE:COLUMN: what; how to fix",
// with 1-based positions that point at the offending key or value.
#include "spec/fleet_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/file_util.h"
#include "providers/aws/aws_provider.h"
#include "providers/registry.h"

namespace carrierarr::spec {
namespace {

// fleet.yaml as this build reads it: with every registered provider's rules.
Result<FleetSpec> ParseFleet(std::string_view yaml, const std::string& filename) {
  return spec::ParseFleet(yaml, filename, providers::FleetRules());
}
Result<FleetSpec> LoadFleet(const std::string& path) {
  return spec::LoadFleet(path, providers::FleetRules());
}

using std::chrono::hours;
using std::chrono::minutes;
using ::testing::HasSubstr;
using ::testing::Not;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

Ipv4Net Net(const std::string& text) {
  auto net = ParseCidr(text);
  EXPECT_TRUE(net.ok()) << text;
  return net.ok() ? *net : Ipv4Net{};
}

uint32_t Ip(const std::string& text) {
  auto ip = ParseIpv4(text);
  EXPECT_TRUE(ip.ok()) << text;
  return ip.ok() ? *ip : 0;
}

TEST(InitTemplateTest, ParsesToTheDocumentedDefaults) {
  auto fleet = ParseFleet(InitTemplate("demo"), "fleet.yaml");
  ASSERT_TRUE(fleet.ok()) << fleet.status().message();

  EXPECT_EQ(fleet->name, "demo");
  EXPECT_EQ(fleet->mesh.cidr, Net("10.42.0.0/16"));
  EXPECT_EQ(fleet->mesh.lighthouse_port, 4242);
  EXPECT_EQ(fleet->mesh.ca_lifetime, hours(87600));
  EXPECT_EQ(fleet->lighthouse.provider, "local");
  EXPECT_EQ(fleet->lighthouse.size, "t3.small");
  EXPECT_EQ(fleet->homelab.mesh_ip, Ip("10.42.1.1"));
  EXPECT_EQ(fleet->homelab.groups, (std::vector<std::string>{"homelab", "kubernetes"}));
  EXPECT_EQ(fleet->homelab.kubeconfig, "");
  EXPECT_EQ(fleet->control_plane.grpc_port, 50051);
  EXPECT_EQ(fleet->control_plane.http_port, 8090);
  EXPECT_EQ(fleet->local.underlay, Net("198.18.0.0/15"));

  ASSERT_EQ(fleet->pools.size(), 2u);
  const PoolSpec& gpu = fleet->pools[0];
  EXPECT_EQ(gpu.name, "gpu");
  EXPECT_EQ(gpu.type, PoolType::kGpuWorker);
  EXPECT_EQ(gpu.count, 1);
  EXPECT_EQ(gpu.provider, "local");
  EXPECT_EQ(gpu.instance_type, "g4dn.xlarge");
  EXPECT_EQ(gpu.groups, (std::vector<std::string>{"workers", "gpu-compute"}));
  const PoolSpec& cpu = fleet->pools[1];
  EXPECT_EQ(cpu.name, "cpu");
  EXPECT_EQ(cpu.type, PoolType::kCpuWorker);
  EXPECT_EQ(cpu.count, 1);
  EXPECT_EQ(cpu.provider, "local");
  EXPECT_EQ(cpu.instance_type, "t3.medium");
  EXPECT_EQ(cpu.groups, (std::vector<std::string>{"workers"}));
}

TEST(InitTemplateTest, TemplateValuesMatchTheModelDefaults) {
  // Whatever the template spells out must be what an absent key means, so deleting a line
  // from the template never changes the fleet.
  auto from_template = ParseFleet(InitTemplate("demo"), "fleet.yaml");
  ASSERT_TRUE(from_template.ok()) << from_template.status().message();
  auto minimal = ParseFleet("name: demo\n", "fleet.yaml");
  ASSERT_TRUE(minimal.ok()) << minimal.status().message();
  const FleetSpec defaults;
  for (const FleetSpec* f : {&*from_template, &*minimal}) {
    EXPECT_EQ(f->name, defaults.name);
    EXPECT_EQ(f->mesh.cidr, defaults.mesh.cidr);
    EXPECT_EQ(f->mesh.lighthouse_port, defaults.mesh.lighthouse_port);
    EXPECT_EQ(f->mesh.ca_lifetime, defaults.mesh.ca_lifetime);
    EXPECT_EQ(f->lighthouse.provider, "local");  // the registry's first
    EXPECT_EQ(f->homelab.provider, "local");
    EXPECT_EQ(f->lighthouse.size, defaults.lighthouse.size);
    EXPECT_EQ(f->homelab.mesh_ip, defaults.homelab.mesh_ip);
    EXPECT_EQ(f->homelab.groups, defaults.homelab.groups);
    EXPECT_EQ(f->control_plane.grpc_port, defaults.control_plane.grpc_port);
    EXPECT_EQ(f->control_plane.http_port, defaults.control_plane.http_port);
    EXPECT_EQ(f->local.underlay, defaults.local.underlay);
  }
  EXPECT_TRUE(minimal->pools.empty());
}

TEST(InitTemplateTest, CarriesTheFleetNameAndExplainsItself) {
  const std::string text = InitTemplate("lab-2");
  auto fleet = ParseFleet(text, "fleet.yaml");
  ASSERT_TRUE(fleet.ok()) << fleet.status().message();
  EXPECT_EQ(fleet->name, "lab-2");
  EXPECT_NE(text.find("# Reference: docs/fleet-yaml.md"), std::string::npos);
  EXPECT_NE(text.find("static_host_map key is not in our subnet"), std::string::npos);
  // A name the parser refuses is reported on the template's own `name:` line.
  auto bad = ParseFleet(InitTemplate("Lab"), "fleet.yaml");
  ASSERT_FALSE(bad.ok());
  int name_line = 0;
  const auto lines = Lines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].rfind("name: ", 0) == 0) name_line = static_cast<int>(i) + 1;
  }
  ASSERT_GT(name_line, 0);
  EXPECT_EQ(
      bad.status().message().rfind("fleet.yaml:" + std::to_string(name_line) + ":7: name 'Lab'", 0),
      0u)
      << bad.status().message();
}

// The template's commented providers.aws block, uncommented the way a user would: "  # aws:"
// and the "  #   key: value  # why" lines below it lose their "# ".
std::string UncommentAwsBlock(const std::string& text, int* uncommented) {
  std::string out;
  bool in_block = false;
  *uncommented = 0;
  for (std::string line : Lines(text)) {
    if (line == "  # aws:") {
      in_block = true;
    } else if (in_block && line.rfind("  #   ", 0) != 0) {
      in_block = false;
    }
    if (in_block) {
      line = "  " + line.substr(4);
      ++*uncommented;
    }
    out += line + "\n";
  }
  return out;
}

TEST(InitTemplateTest, ShowsEveryAwsKeyCommentedOut) {
  const std::string text = InitTemplate("demo");
  for (const std::string key :
       {"region", "profile", "endpoint_url", "vpc_id", "subnet_id", "operator_cidrs", "ami",
        "key_type", "iam_instance_profile", "nebula_material", "dns_name", "nebula_version",
        "agent_url", "agent_sha256", "mirror", "k3s", "k3s_version", "ollama_version"}) {
    EXPECT_NE(text.find("\n  #   " + key + ": "), std::string::npos) << key;
  }
  // Commented out, the default fleet stays local and has no AWS settings.
  auto fleet = ParseFleet(text, "fleet.yaml");
  ASSERT_TRUE(fleet.ok()) << fleet.status().message();
  EXPECT_FALSE(fleet->UsesProvider("aws"));
  EXPECT_EQ(fleet->aws.region, "");
  EXPECT_TRUE(fleet->aws.operator_cidrs.empty());
  // The node sections say where aws goes.
  EXPECT_NE(text.find("or aws (an EC2"), std::string::npos);
  EXPECT_NE(text.find("provider: local | aws"), std::string::npos);
}

TEST(InitTemplateTest, ParsesWithItsAwsBlockUncommented) {
  int uncommented = 0;
  const std::string text = UncommentAwsBlock(InitTemplate("demo"), &uncommented);
  EXPECT_EQ(uncommented, 19) << "aws: and its 18 keys\n" << text;
  auto fleet = ParseFleet(text, "fleet.yaml");
  ASSERT_TRUE(fleet.ok()) << fleet.status().message() << "\n" << text;
  const AwsProviderSpec defaults;
  const AwsProviderSpec& aws = fleet->aws;
  // The two example values; everything else spelt out is the default.
  EXPECT_EQ(aws.region, "us-west-2");
  ASSERT_EQ(aws.operator_cidrs.size(), 1u);
  EXPECT_EQ(aws.operator_cidrs[0], Net("203.0.113.7/32"));
  EXPECT_EQ(aws.profile, defaults.profile);
  EXPECT_EQ(aws.endpoint_url, defaults.endpoint_url);
  EXPECT_EQ(aws.vpc_id, defaults.vpc_id);
  EXPECT_EQ(aws.subnet_id, defaults.subnet_id);
  EXPECT_EQ(aws.ami, defaults.ami);
  EXPECT_EQ(aws.key_type, defaults.key_type);
  EXPECT_EQ(aws.iam_instance_profile, defaults.iam_instance_profile);
  EXPECT_EQ(aws.nebula_material, defaults.nebula_material);
  EXPECT_EQ(aws.dns_name, defaults.dns_name);
  EXPECT_EQ(aws.nebula_version, defaults.nebula_version);
  EXPECT_EQ(aws.agent_url, defaults.agent_url);
  EXPECT_EQ(aws.agent_sha256, defaults.agent_sha256);
  EXPECT_EQ(aws.k3s, defaults.k3s);
  EXPECT_EQ(aws.mirror, defaults.mirror);
  EXPECT_EQ(aws.k3s_version, defaults.k3s_version);
  EXPECT_FALSE(fleet->UsesProvider("aws"));  // until a node says provider: aws

  // And with every node moved to aws, as the comments suggest.
  std::string on_aws = text;
  int moved = 0;
  for (size_t at = on_aws.find("provider: local\n"); at != std::string::npos;
       at = on_aws.find("provider: local\n", at)) {
    on_aws.replace(at, 15, "provider: aws");
    ++moved;
  }
  EXPECT_EQ(moved, 3) << "the lighthouse and two pools";
  auto cloud = ParseFleet(on_aws, "fleet.yaml");
  ASSERT_TRUE(cloud.ok()) << cloud.status().message() << "\n" << on_aws;
  EXPECT_TRUE(cloud->UsesProvider("aws"));
  EXPECT_FALSE(cloud->UsesProvider("local"));
}

TEST(ParseFleetTest, ReadsEveryKey) {
  const std::string yaml = R"(name: lab-2
mesh:
  cidr: 10.7.0.0/16
  lighthouse_port: 65535
  ca_lifetime: 1h30m
lighthouse:
  provider: local
  size: t3.micro
homelab:
  mesh_ip: 10.7.1.254
  groups:
    - homelab
    - storage
  kubeconfig: ~/.kube/talos
pools:
  - name: big
    type: gpu-worker
    count: 250
    provider: local
    instance_type: g5.xlarge
    groups: [workers, gpu-compute, inference]
  - name: none
    type: cpu-worker
    count: 0
control_plane:
  grpc_port: 1
  http_port: 65535
providers:
  local:
    underlay: 198.19.0.0/16
)";
  auto fleet = ParseFleet(yaml, "fleet.yaml");
  ASSERT_TRUE(fleet.ok()) << fleet.status().message();
  EXPECT_EQ(fleet->name, "lab-2");
  EXPECT_EQ(fleet->mesh.cidr, Net("10.7.0.0/16"));
  EXPECT_EQ(fleet->mesh.lighthouse_port, 65535);
  EXPECT_EQ(fleet->mesh.ca_lifetime, minutes(90));
  EXPECT_EQ(fleet->lighthouse.size, "t3.micro");
  EXPECT_EQ(fleet->homelab.mesh_ip, Ip("10.7.1.254"));
  EXPECT_EQ(fleet->homelab.groups, (std::vector<std::string>{"homelab", "storage"}));
  EXPECT_EQ(fleet->homelab.kubeconfig, "~/.kube/talos");
  ASSERT_EQ(fleet->pools.size(), 2u);
  EXPECT_EQ(fleet->pools[0].name, "big");
  EXPECT_EQ(fleet->pools[0].type, PoolType::kGpuWorker);
  EXPECT_EQ(fleet->pools[0].count, 250);
  EXPECT_EQ(fleet->pools[0].instance_type, "g5.xlarge");
  EXPECT_EQ(fleet->pools[0].groups,
            (std::vector<std::string>{"workers", "gpu-compute", "inference"}));
  EXPECT_EQ(fleet->pools[1].name, "none");
  EXPECT_EQ(fleet->pools[1].type, PoolType::kCpuWorker);
  EXPECT_EQ(fleet->pools[1].count, 0);
  EXPECT_EQ(fleet->pools[1].provider, "local");
  EXPECT_EQ(fleet->pools[1].instance_type, "");
  EXPECT_TRUE(fleet->pools[1].groups.empty());
  EXPECT_EQ(fleet->control_plane.grpc_port, 1);
  EXPECT_EQ(fleet->control_plane.http_port, 65535);
  EXPECT_EQ(fleet->local.underlay, Net("198.19.0.0/16"));
}

TEST(ParseFleetTest, ReadsTheFederation) {
  auto fleet = ParseFleet(R"(
lighthouse: {provider: aws}
homelab: {provider: kubernetes}
control_plane: {image: registry.lan/carrierarr:0.1}
pools:
  - {name: gpu, type: gpu-worker, provider: aws, instance_type: g4dn.xlarge, image: ami-0abc1234}
federation:
  mode: liqo
  homelab: {name: home, id: 7, clustermesh_port: 31001}
  cloud: {name: cloud-1, id: 8, clustermesh_port: 31002}
  liqo:
    namespace: liqo
    remote_namespace: liqo-system
    use_liqoctl: true
    offload:
      - namespace: ai
        namespace_mapping_strategy: SelectedName
        remote_namespace_name: ai-cloud
        pod_offloading_strategy: Remote
      - namespace: batch
    resources: {cpu: "20", memory: 128Gi, nvidia.com/gpu: "1"}
  clustermesh: {namespace: cilium, cilium_version: 1.17.0, cilium_cli_version: v0.18.0,
                forwarder_image: "registry.local/socat:1"}
  direct: {talos_version: v1.10.0, control_plane_pools: [gpu], force_control_plane: true}
)",
                          "fleet.yaml");
  ASSERT_TRUE(fleet.ok()) << fleet.status().message();
  const FederationSpec& f = fleet->federation;
  EXPECT_EQ(f.mode, FederationMode::kLiqo);
  EXPECT_EQ(f.homelab.name, "home");
  EXPECT_EQ(f.homelab.id, 7);
  EXPECT_EQ(f.homelab.clustermesh_port, 31001);
  EXPECT_EQ(f.cloud.name, "cloud-1");
  EXPECT_EQ(f.cloud.id, 8);
  EXPECT_EQ(f.cloud.clustermesh_port, 31002);
  EXPECT_EQ(f.liqo.ns, "liqo");
  EXPECT_EQ(f.liqo.remote_ns, "liqo-system");
  EXPECT_TRUE(f.liqo.use_liqoctl);
  ASSERT_EQ(f.liqo.offload.size(), 2u);
  EXPECT_EQ(f.liqo.offload[0].name, "ai");
  EXPECT_EQ(f.liqo.offload[0].mapping, NamespaceMapping::kSelectedName);
  EXPECT_EQ(f.liqo.offload[0].remote_name, "ai-cloud");
  EXPECT_EQ(f.liqo.offload[0].pods, PodOffloading::kRemote);
  EXPECT_EQ(f.liqo.offload[1].mapping, NamespaceMapping::kDefaultName);
  EXPECT_EQ(f.liqo.offload[1].pods, PodOffloading::kLocalAndRemote);
  EXPECT_EQ(f.liqo.resources, (std::map<std::string, std::string>{
                                  {"cpu", "20"}, {"memory", "128Gi"}, {"nvidia.com/gpu", "1"}}));
  EXPECT_EQ(f.clustermesh.ns, "cilium");
  EXPECT_EQ(f.clustermesh.cilium_version, "1.17.0");
  EXPECT_EQ(f.clustermesh.cilium_cli_version, "v0.18.0");
  EXPECT_EQ(f.clustermesh.forwarder_image, "registry.local/socat:1");
  EXPECT_EQ(f.direct.talos_version, "v1.10.0");
  EXPECT_EQ(f.direct.control_plane_pools, std::vector<std::string>{"gpu"});
  EXPECT_TRUE(f.direct.force_control_plane);
  EXPECT_EQ(fleet->pools[0].image, "ami-0abc1234");
}

TEST(ParseFleetTest, FederationDefaultsToTheSeedsClusters) {
  auto fleet = ParseFleet("name: demo\n", "fleet.yaml");
  ASSERT_TRUE(fleet.ok()) << fleet.status().message();
  const FederationSpec& f = fleet->federation;
  EXPECT_EQ(f.mode, FederationMode::kNone);
  EXPECT_EQ(f.homelab.name, "talos-home");
  EXPECT_EQ(f.homelab.id, 1);
  EXPECT_EQ(f.cloud.name, "aws-k3s");
  EXPECT_EQ(f.cloud.id, 2);
  EXPECT_NE(f.homelab.clustermesh_port, f.cloud.clustermesh_port);
  EXPECT_EQ(FederationModeName(FederationMode::kClusterMesh), "clustermesh");
  EXPECT_EQ(FederationModeNamed("direct"), FederationMode::kDirect);
  EXPECT_EQ(FederationModeNamed("Direct"), std::nullopt);
  EXPECT_EQ(NamespaceMappingName(NamespaceMapping::kEnforceSameName), "EnforceSameName");
  EXPECT_EQ(PodOffloadingName(PodOffloading::kLocalAndRemote), "LocalAndRemote");
}

// The k3s server runs on the lighthouse: with the lighthouse elsewhere, aws workers have no
// server to join, so k3s is off by default and refused when written.
TEST(ParseFleetTest, K3sNeedsTheLighthouseOnAws) {
  const std::string pools =
      "pools:\n  - {name: gpu, type: gpu-worker, provider: aws, instance_type: g4dn.xlarge}\n";
  auto quiet = ParseFleet(pools, "fleet.yaml");
  ASSERT_TRUE(quiet.ok()) << quiet.status().message();
  EXPECT_FALSE(aws_provider::K3sOn(*quiet));
  auto on_aws = ParseFleet(pools + "lighthouse: {provider: aws}\n", "fleet.yaml");
  ASSERT_TRUE(on_aws.ok()) << on_aws.status().message();
  EXPECT_TRUE(aws_provider::K3sOn(*on_aws));
  auto written = ParseFleet(pools + "providers:\n  aws:\n    k3s: true\n", "fleet.yaml");
  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.status().message().rfind("fleet.yaml:5:10: providers.aws.k3s is true, but "
                                             "the k3s server runs on the lighthouse, which is "
                                             "on local",
                                             0),
            0u)
      << written.status().message();
  auto off = ParseFleet(pools + "providers:\n  aws:\n    k3s: false\n", "fleet.yaml");
  EXPECT_TRUE(off.ok()) << off.status().message();
}

// k3s's own defaults (10.42.0.0/16 pods) are the mesh's: the cloud k3s uses 10.52.0.0/16 and
// 10.53.0.0/16, and a mesh over them is refused where the k3s runs.
TEST(ParseFleetTest, AMeshOverTheCloudK3sRangesIsRefused) {
  const std::string aws = "lighthouse: {provider: aws}\n";
  auto wide =
      ParseFleet("mesh:\n  cidr: 10.0.0.0/8\nhomelab:\n  mesh_ip: 10.0.1.9\n" + aws, "fleet.yaml");
  ASSERT_FALSE(wide.ok());
  EXPECT_THAT(wide.status().message(),
              HasSubstr("fleet.yaml:2:9: mesh.cidr 10.0.0.0/8 overlaps 10.52.0.0/16, where the "
                        "cloud k3s puts its pods"));
  auto services = ParseFleet("mesh:\n  cidr: 10.53.0.0/16\nhomelab:\n  mesh_ip: 10.53.1.9\n" + aws,
                             "fleet.yaml");
  ASSERT_FALSE(services.ok());
  EXPECT_THAT(services.status().message(), HasSubstr("overlaps 10.53.0.0/16"));
  EXPECT_THAT(services.status().message(), Not(HasSubstr("overlaps 10.52.0.0/16")));
  auto fine = ParseFleet(aws, "fleet.yaml");
  EXPECT_TRUE(fine.ok()) << fine.status().message();
}

// pools[].image: an AMI on aws; a local pool boots no image.
TEST(ParseFleetTest, APoolsImageIsCheckedByItsProvider) {
  auto bad = ParseFleet(
      "pools:\n  - {name: gpu, type: gpu-worker, provider: aws, instance_type: g4dn.xlarge, "
      "image: ubuntu-22}\n",
      "fleet.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(),
              HasSubstr("fleet.yaml:2:85: pool 'gpu'.image 'ubuntu-22' must be an AMI id"));
  auto local = ParseFleet(
      "pools:\n  - {name: cpu, type: cpu-worker, provider: local, image: ami-0abc1234}\n",
      "fleet.yaml");
  ASSERT_FALSE(local.ok());
  EXPECT_THAT(local.status().message(),
              HasSubstr("fleet.yaml:2:59: pool 'cpu'.image is for pools that boot"));
}

TEST(ParseFleetTest, AcceptsAMeshWiderThanSixteenBits) {
  auto fleet = ParseFleet("mesh:\n  cidr: 10.0.0.0/8\nhomelab:\n  mesh_ip: 10.0.1.9\n", "f");
  ASSERT_TRUE(fleet.ok()) << fleet.status().message();
  EXPECT_EQ(fleet->mesh.cidr, Net("10.0.0.0/8"));
}

TEST(ParseFleetTest, PoolCountDefaultsToOne) {
  auto fleet = ParseFleet("pools:\n  - name: a\n    type: cpu-worker\n", "f");
  ASSERT_TRUE(fleet.ok()) << fleet.status().message();
  ASSERT_EQ(fleet->pools.size(), 1u);
  EXPECT_EQ(fleet->pools[0].count, 1);
}

// GPU burst: a scaled pool, its budget and price; the fleet's budget.
TEST(ParseFleetTest, ReadsScalingBudgetsAndPrices) {
  auto fleet = ParseFleet(R"(pools:
  - name: gpu
    type: gpu-worker
    provider: aws
    instance_type: g5.xlarge
    scaling:
      min: 1
      max: 3
      idle_after: 10m
      wake_on: [requests, schedule]
      schedule: ['mon-fri 09:00-18:00', 'sat,sun 10:00-24:00']
    budget: {usd_per_day: 20, usd_per_month: 150.5}
    models: [llama3:8b, hf.co/org/qwen2.5:Q4_K_M]
    keep_alive: 30m
    models_volume_gb: 200
  - name: spot
    type: gpu-worker
    provider: aws
    instance_type: g4dn.xlarge
    spot: true
    scaling: {max: 2}
    models: [phi3]
  - name: anyspot
    type: gpu-worker
    provider: aws
    instance_type: g4dn.xlarge
    spot: true
    on_demand_fallback: true
    scaling: {max: 1}
  - name: cpu
    type: cpu-worker
    instance_type: t3.small
    scaling: {max: 1}
  - name: fixed
    type: cpu-worker
    count: 2
budget: {usd_per_month: 300}
prices:
  g4dn.xlarge: {on_demand: 0.6, spot: 0.2104}
  t3.small: 0.021
)",
                          "f");
  ASSERT_TRUE(fleet.ok()) << fleet.status().message();
  ASSERT_EQ(fleet->pools.size(), 5u);
  const PoolSpec& gpu = fleet->pools[0];
  EXPECT_TRUE(gpu.scaling.enabled);
  EXPECT_EQ(gpu.scaling.min, 1);
  EXPECT_EQ(gpu.scaling.max, 3);
  EXPECT_EQ(gpu.count, 3) << "every node that may run has its identity";
  EXPECT_EQ(gpu.scaling.idle_after, minutes(10));
  EXPECT_EQ(gpu.scaling.wake_on,
            (std::vector<WakeTrigger>{WakeTrigger::kRequests, WakeTrigger::kSchedule}));
  EXPECT_EQ(gpu.scaling.stop, StopMode::kStop) << "a GPU pool keeps its volumes by default";
  ASSERT_EQ(gpu.scaling.schedule.size(), 2u);
  EXPECT_EQ(gpu.scaling.schedule[0].days, 0x1f);
  EXPECT_EQ(gpu.scaling.schedule[0].start_minute, 9 * 60);
  EXPECT_EQ(gpu.scaling.schedule[0].end_minute, 18 * 60);
  EXPECT_EQ(gpu.scaling.schedule[1].days, 0x60);
  EXPECT_EQ(gpu.scaling.schedule[1].end_minute, 24 * 60);
  EXPECT_EQ(gpu.budget.usd_per_day, 20'000'000);
  EXPECT_EQ(gpu.budget.usd_per_month, 150'500'000);
  EXPECT_EQ(gpu.usd_per_hour, 1'006'000) << "aws's list price";
  EXPECT_EQ(gpu.models, (std::vector<std::string>{"llama3:8b", "hf.co/org/qwen2.5:Q4_K_M"}));
  EXPECT_EQ(gpu.keep_alive, "30m");
  EXPECT_EQ(gpu.models_volume_gb, 200);
  EXPECT_EQ(fleet->pools[1].models_volume_gb, kDefaultModelsVolumeGb);
  EXPECT_EQ(fleet->pools[2].models_volume_gb, 0) << "no models, no volume";
  EXPECT_TRUE(fleet->pools[2].on_demand_fallback);
  EXPECT_EQ(fleet->pools[2].usd_per_hour, 600'000) << "may run on-demand: counted at its price";
  EXPECT_EQ(fleet->pools[1].keep_alive, "-1") << "loaded while the node runs, by default";
  const PoolSpec& spot = fleet->pools[1];
  EXPECT_EQ(spot.usd_per_hour, 210'400) << "fleet.yaml's spot price for a spot pool";
  EXPECT_EQ(spot.scaling.min, 0);
  EXPECT_EQ(spot.count, 2);
  EXPECT_EQ(spot.scaling.wake_on,
            (std::vector<WakeTrigger>{WakeTrigger::kRequests, WakeTrigger::kPendingPods}));
  EXPECT_EQ(spot.scaling.idle_after, minutes(15));
  const PoolSpec& cpu = fleet->pools[3];
  EXPECT_EQ(cpu.scaling.stop, StopMode::kTerminate) << "a CPU pool keeps nothing by default";
  EXPECT_EQ(cpu.usd_per_hour, 21'000) << "fleet.yaml's price, on a provider without a list";
  EXPECT_FALSE(fleet->pools[4].scaling.enabled);
  EXPECT_EQ(fleet->pools[4].count, 2);
  EXPECT_EQ(fleet->budget.usd_per_month, 300'000'000);
  EXPECT_EQ(fleet->prices.at("t3.small").on_demand, 21'000);
  EXPECT_FALSE(fleet->prices.at("t3.small").spot);
}

TEST(ParseFleetTest, WrittenPricesOverTheListAndSpotAtOnDemandWithoutASpotPrice) {
  auto fleet = ParseFleet(R"(pools:
  - {name: a, type: gpu-worker, provider: aws, instance_type: g5.xlarge, scaling: {max: 1}}
  - {name: b, type: gpu-worker, provider: aws, instance_type: g5.xlarge, spot: true,
     scaling: {max: 1}, budget: {usd_per_day: 9}}
  - {name: c, type: gpu-worker, provider: aws, instance_type: g4dn.xlarge, spot: true,
     scaling: {max: 1}}
  - {name: d, type: cpu-worker, scaling: {max: 1}}
prices:
  g5.xlarge: 1.2
)",
                          "f");
  ASSERT_TRUE(fleet.ok()) << fleet.status().message();
  EXPECT_EQ(fleet->pools[0].usd_per_hour, 1'200'000);
  EXPECT_EQ(fleet->pools[1].usd_per_hour, 1'200'000) << "spend is never under-counted";
  EXPECT_EQ(fleet->pools[2].usd_per_hour, 526'000) << "the list's on-demand price";
  EXPECT_FALSE(fleet->pools[3].usd_per_hour) << "no price is needed where no budget applies";
}

TEST(ParseFleetTest, ReadsTheAwsProvider) {
  auto fleet = ParseFleet(R"(name: cloud
lighthouse:
  provider: aws
  size: t3.small
pools:
  - name: gpu
    type: gpu-worker
    provider: aws
    instance_type: g5.xlarge
    spot: true
    root_volume_gb: 200
  - name: cpu
    type: cpu-worker
    provider: aws
    instance_type: c7gn.metal-48xl
    spot: false
    root_volume_gb: 8
providers:
  aws:
    region: us-gov-west-1
    profile: sandbox.admin_2
    endpoint_url: http://127.0.0.1:4566/
    vpc_id: vpc-0abc
    subnet_id: subnet-0def
    operator_cidrs: [203.0.113.7/32, 198.51.100.0/24]
    ami: ami-0123
    key_type: rsa
    iam_instance_profile: carrierarr-node+ro@x
    nebula_material: secretsmanager
    dns_name: nebula.example.org
    nebula_version: 1.10.0
    agent_url: https://example.org/dl/carrierarr-agent-{arch}?v=2&sig=a%2Fb
    agent_sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    mirror: https://mirror.example.org/github
    k3s: false
    k3s_version: v1.30.8+k3s2
    ollama_version: 0.12.11
)",
                          "fleet.yaml");
  ASSERT_TRUE(fleet.ok()) << fleet.status().ToString();
  EXPECT_EQ(fleet->lighthouse.provider, "aws");
  EXPECT_EQ(fleet->lighthouse.size, "t3.small");
  ASSERT_EQ(fleet->pools.size(), 2u);
  EXPECT_EQ(fleet->pools[0].provider, "aws");
  EXPECT_TRUE(fleet->pools[0].spot);
  EXPECT_EQ(fleet->pools[0].root_volume_gb, 200);
  EXPECT_EQ(fleet->pools[1].instance_type, "c7gn.metal-48xl");
  EXPECT_FALSE(fleet->pools[1].spot);
  EXPECT_EQ(fleet->pools[1].root_volume_gb, 8);
  const AwsProviderSpec& aws = fleet->aws;
  EXPECT_EQ(aws.region, "us-gov-west-1");
  EXPECT_EQ(aws.profile, "sandbox.admin_2");
  EXPECT_EQ(aws.endpoint_url, "http://127.0.0.1:4566/");
  EXPECT_EQ(aws.vpc_id, "vpc-0abc");
  EXPECT_EQ(aws.subnet_id, "subnet-0def");
  ASSERT_EQ(aws.operator_cidrs.size(), 2u);
  EXPECT_EQ(aws.operator_cidrs[0], Net("203.0.113.7/32"));
  EXPECT_EQ(aws.operator_cidrs[1], Net("198.51.100.0/24"));
  EXPECT_EQ(aws.ami, "ami-0123");
  EXPECT_EQ(aws.key_type, "rsa");
  EXPECT_EQ(aws.iam_instance_profile, "carrierarr-node+ro@x");
  EXPECT_EQ(aws.nebula_material, NebulaMaterial::kSecretsManager);
  EXPECT_EQ(aws.dns_name, "nebula.example.org");
  EXPECT_EQ(aws.nebula_version, "1.10.0");
  EXPECT_EQ(aws.agent_url, "https://example.org/dl/carrierarr-agent-{arch}?v=2&sig=a%2Fb");
  EXPECT_EQ(aws.agent_sha256, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
  EXPECT_FALSE(aws.k3s);
  EXPECT_EQ(aws.mirror, "https://mirror.example.org/github");
  EXPECT_EQ(aws.k3s_version, "v1.30.8+k3s2");
  EXPECT_EQ(aws.ollama_version, "0.12.11");
}

// With a mirror, the agent may be a path under it (still with its digest).
TEST(ParseFleetTest, AnAgentPathIsUnderTheMirror) {
  auto fleet = ParseFleet(
      "providers:\n  aws:\n    mirror: https://mirror.example.org\n    agent_url: "
      "carrierarr/carrierarr-agent-{arch}\n    agent_sha256: " +
          std::string(64, 'a') + "\n",
      "f");
  ASSERT_TRUE(fleet.ok()) << fleet.status().message();
  EXPECT_EQ(fleet->aws.agent_url, "carrierarr/carrierarr-agent-{arch}");
  EXPECT_EQ(fleet->aws.k3s_version, "v1.31.4+k3s1") << "pinned by default";
}

// One digest per architecture, for an agent_url with {arch} and pools of both.
TEST(ParseFleetTest, AnAgentDigestPerArchitecture) {
  auto fleet = ParseFleet(
      "providers:\n  aws:\n    agent_url: https://x.org/agent-{arch}\n"
      "    agent_sha256:\n      x86_64: " +
          std::string(64, 'A') + "\n      arm64: " + std::string(64, 'b') + "\n",
      "f");
  ASSERT_TRUE(fleet.ok()) << fleet.status().message();
  EXPECT_EQ(fleet->aws.agent_sha256, "");
  EXPECT_EQ(fleet->aws.agent_sha256_by_arch,
            (std::map<std::string, std::string>{{"x86_64", std::string(64, 'a')},
                                                {"arm64", std::string(64, 'b')}}));
  auto bad = ParseFleet(
      "providers:\n  aws:\n    agent_url: https://x.org/a\n    agent_sha256:\n      mips: "
      "abc\n",
      "fleet.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("fleet.yaml:5:7: unknown key 'mips'"), std::string::npos)
      << bad.status().message();
}

TEST(ParseFleetTest, AwsKeysDefaultToTheModel) {
  auto fleet = ParseFleet("name: demo\nproviders:\n  aws:\n    region: eu-central-1\n", "f");
  ASSERT_TRUE(fleet.ok()) << fleet.status().message();
  const AwsProviderSpec defaults;
  const AwsProviderSpec& aws = fleet->aws;
  EXPECT_EQ(aws.region, "eu-central-1");
  EXPECT_EQ(aws.profile, defaults.profile);
  EXPECT_EQ(aws.endpoint_url, defaults.endpoint_url);
  EXPECT_TRUE(aws.operator_cidrs.empty());
  EXPECT_EQ(aws.key_type, "ed25519");
  EXPECT_EQ(aws.nebula_material, NebulaMaterial::kUserdata);
  EXPECT_EQ(aws.nebula_version, defaults.nebula_version);
  EXPECT_EQ(aws.agent_url, "");
  EXPECT_TRUE(aws.k3s);
  // A pool's AWS keys default too, also on a local pool (which ignores them).
  auto pools = ParseFleet("pools:\n  - name: a\n    type: cpu-worker\n", "f");
  ASSERT_TRUE(pools.ok()) << pools.status().message();
  EXPECT_FALSE(pools->pools[0].spot);
  EXPECT_EQ(pools->pools[0].root_volume_gb, 0);
}

TEST(ParseFleetTest, AnEmptyAwsStringMeansTheDefault) {
  auto fleet = ParseFleet(R"(providers:
  aws:
    region: ""
    profile: ""
    endpoint_url: ""
    vpc_id: ""
    subnet_id: ""
    ami: ""
    iam_instance_profile: ""
    dns_name: ""
    agent_url: ""
    agent_sha256: ""
    operator_cidrs: []
)",
                          "f");
  ASSERT_TRUE(fleet.ok()) << fleet.status().message();
  const AwsProviderSpec defaults;
  EXPECT_EQ(fleet->aws.region, defaults.region);
  EXPECT_EQ(fleet->aws.vpc_id, defaults.vpc_id);
  EXPECT_EQ(fleet->aws.ami, defaults.ami);
  EXPECT_TRUE(fleet->aws.operator_cidrs.empty());
}

TEST(ParseFleetTest, AcceptsTheWholeInternetOnlyWhenWritten) {
  // The parser takes 0.0.0.0/0 at its word (plan warns about it); it never adds it itself.
  auto open = ParseFleet("providers:\n  aws:\n    operator_cidrs: [0.0.0.0/0]\n", "f");
  ASSERT_TRUE(open.ok()) << open.status().message();
  ASSERT_EQ(open->aws.operator_cidrs.size(), 1u);
  EXPECT_EQ(open->aws.operator_cidrs[0].PrefixLength(), 0);
  auto closed = ParseFleet("providers:\n  aws:\n    region: us-east-1\n", "f");
  ASSERT_TRUE(closed.ok()) << closed.status().message();
  EXPECT_TRUE(closed->aws.operator_cidrs.empty());
}

TEST(ParseFleetTest, KeepsOneSpellingOfTheAgentDigest) {
  auto fleet = ParseFleet(
      "providers:\n  aws:\n    agent_sha256: "
      "0123456789ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef\n",
      "f");
  ASSERT_TRUE(fleet.ok()) << fleet.status().message();
  EXPECT_EQ(fleet->aws.agent_sha256,
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
}

TEST(ParseFleetTest, ReadsBooleansAsYamlWritesThem) {
  for (const auto& [text, want] : std::vector<std::pair<std::string, bool>>{
           {"true", true}, {"yes", true}, {"false", false}, {"no", false}}) {
    auto fleet = ParseFleet("providers:\n  aws:\n    k3s: " + text + "\n", "f");
    ASSERT_TRUE(fleet.ok()) << text << ": " << fleet.status().message();
    EXPECT_EQ(fleet->aws.k3s, want) << text;
  }
}

TEST(ParseFleetTest, AcceptsTheAwsEndpointsTestsAndUsersWrite) {
  for (const std::string url : {"http://127.0.0.1:4566", "https://ec2.us-west-2.amazonaws.com",
                                "http://localhost/", "https://fake-aws.internal:8443"}) {
    auto fleet = ParseFleet("providers:\n  aws:\n    endpoint_url: " + url + "\n", "f");
    ASSERT_TRUE(fleet.ok()) << url << ": " << fleet.status().message();
    EXPECT_EQ(fleet->aws.endpoint_url, url);
  }
}

TEST(UsesProviderTest, LooksAtTheLighthouseAndEveryPool) {
  FleetSpec fleet;
  EXPECT_FALSE(fleet.UsesProvider("local"));  // the model has no default: the parser sets it
  fleet.lighthouse.provider = "local";
  EXPECT_TRUE(fleet.UsesProvider("local"));
  EXPECT_FALSE(fleet.UsesProvider("aws"));
  fleet.pools.push_back(PoolSpec{.name = "a", .provider = "local"});
  fleet.pools.push_back(PoolSpec{.name = "b", .provider = "aws", .instance_type = "t3.small"});
  EXPECT_TRUE(fleet.UsesProvider("aws"));
  fleet.lighthouse.provider = "aws";
  fleet.pools[0].provider = "aws";
  EXPECT_FALSE(fleet.UsesProvider("local"));
  EXPECT_TRUE(fleet.UsesProvider("aws"));
  EXPECT_FALSE(fleet.UsesProvider(""));
}

TEST(NebulaMaterialNameTest, NamesBothWaysAsTheYamlSpellsThem) {
  EXPECT_EQ(NebulaMaterialName(NebulaMaterial::kUserdata), "userdata");
  EXPECT_EQ(NebulaMaterialName(NebulaMaterial::kSecretsManager), "secretsmanager");
  for (NebulaMaterial m : {NebulaMaterial::kUserdata, NebulaMaterial::kSecretsManager}) {
    auto fleet =
        ParseFleet("providers:\n  aws:\n    iam_instance_profile: p\n    nebula_material: " +
                       std::string(NebulaMaterialName(m)) + "\n",
                   "f");
    ASSERT_TRUE(fleet.ok()) << fleet.status().message();
    EXPECT_EQ(fleet->aws.nebula_material, m);
  }
}

TEST(PoolTypeNameTest, NamesBothTypes) {
  EXPECT_EQ(PoolTypeName(PoolType::kGpuWorker), "gpu-worker");
  EXPECT_EQ(PoolTypeName(PoolType::kCpuWorker), "cpu-worker");
}

struct BadCase {
  std::string name;
  std::string yaml;
  std::string want_prefix;  // the start of one line of the message: "fleet.yaml:L:C: ..."
  std::string want_hint;    // must also appear in that line: the fix
  size_t want_lines = 1;    // problems reported in all
};

const std::string kPool = "pools:\n  - name: gpu\n    type: gpu-worker\n";  // lines 1-3
// A homelab in Kubernetes, which federation needs: appended, so line numbers stay put.
const std::string kFederatedHomelab =
    "homelab:\n  provider: kubernetes\ncontrol_plane:\n  image: registry.lan/carrierarr:0.1\n";

const BadCase kBadCases[] = {
    // Unknown and duplicate keys.
    {"UnknownKeyDidYouMean", "mesh:\n  cidr: 10.42.0.0/16\n  lighthouse_prot: 4242\n",
     "fleet.yaml:3:3: unknown key 'lighthouse_prot' in mesh (did you mean 'lighthouse_port'?)",
     "; allowed: cidr, lighthouse_port, ca_lifetime"},
    {"UnknownTopLevelKeyDidYouMean", "name: demo\npool:\n  - name: gpu\n",
     "fleet.yaml:2:1: unknown key 'pool' in fleet.yaml (did you mean 'pools'?)",
     "allowed: name, mesh, lighthouse, homelab, pools, control_plane, federation, providers"},
    {"UnknownKeyFarFromAny", "nodes: 3\n",
     "fleet.yaml:1:1: unknown key 'nodes' in fleet.yaml; allowed: ", "pools"},
    {"UnknownPoolKey", kPool + "    cnt: 2\n",
     "fleet.yaml:4:5: unknown key 'cnt' in pools[0] (did you mean 'count'?)", "instance_type"},
    {"UnknownProvider", "providers:\n  gcp:\n    region: us-east1\n",
     "fleet.yaml:2:3: unknown key 'gcp' in providers", "allowed: local, aws"},
    {"DuplicateKey", "name: demo\nmesh:\n  cidr: 10.42.0.0/16\n  cidr: 10.43.0.0/16\n",
     "fleet.yaml:4:3: duplicate key 'cidr' in mesh", "keep one"},
    // federation.
    {"FederationModeMisspelt", "federation:\n  mode: lico\n",
     "fleet.yaml:2:9: federation.mode 'lico' must be one of none, liqo, clustermesh, direct",
     "Liqo's spelling"},
    {"FederationSameIds",
     "federation:\n  mode: clustermesh\n  cloud_kubeconfig: k.yaml\n  cloud:\n    id: 1\n" +
         kFederatedHomelab,
     "fleet.yaml:5:9: federation.homelab.id and federation.cloud.id are both 1",
     "give each its own"},
    {"FederationIdOutOfRange", "federation:\n  homelab:\n    id: 256\n",
     "fleet.yaml:3:9: federation.homelab.id", "255"},
    {"FederationClusterMeshSamePorts",
     "federation:\n  mode: clustermesh\n  cloud_kubeconfig: k.yaml\n  cloud:\n"
     "    clustermesh_port: 32379\n" +
         kFederatedHomelab,
     "fleet.yaml:5:23: federation.homelab.clustermesh_port and "
     "federation.cloud.clustermesh_port are both 32379",
     "agents reach their own clustermesh-apiserver"},
    {"FederationClusterMeshPortNotANodePort", "federation:\n  cloud:\n    clustermesh_port: 2379\n",
     "fleet.yaml:3:23: federation.cloud.clustermesh_port (the clustermesh-apiserver's NodePort",
     "30000"},
    {"FederationClusterNameNotCilium", "federation:\n  homelab:\n    name: Talos_Home\n",
     "fleet.yaml:3:11: federation.homelab.name", "Cilium's rule"},
    {"FederationClusterNameTooLong",
     "federation:\n  cloud:\n    name: a-cluster-name-that-is-longer-than-32\n",
     "fleet.yaml:3:11: federation.cloud.name", "at most 32"},
    {"FederationSelectedNameNeedsRemote",
     "federation:\n  liqo:\n    offload:\n      - namespace: ai\n"
     "        namespace_mapping_strategy: SelectedName\n",
     "fleet.yaml:4:9: federation.liqo.offload[0] uses namespace_mapping_strategy SelectedName "
     "and needs remote_namespace_name",
     "the namespace's name in the cloud cluster"},
    {"FederationRemoteNameWithoutSelectedName",
     "federation:\n  liqo:\n    offload:\n      - namespace: ai\n"
     "        remote_namespace_name: ai-cloud\n",
     "fleet.yaml:5:32: federation.liqo.offload[0].remote_namespace_name is only read with "
     "namespace_mapping_strategy SelectedName",
     "remove remote_namespace_name"},
    {"FederationPodStrategyMisspelt",
     "federation:\n  liqo:\n    offload:\n      - namespace: ai\n"
     "        pod_offloading_strategy: remote\n",
     "fleet.yaml:5:34: federation.liqo.offload[0].pod_offloading_strategy 'remote' must be one "
     "of LocalAndRemote, Remote, Local",
     "Liqo's spelling"},
    {"FederationNeedsAKubernetesHomelab", "federation:\n  mode: liqo\n  cloud_kubeconfig: k.yaml\n",
     "fleet.yaml:2:9: federation.mode liqo federates the homelab's Kubernetes cluster: it needs "
     "homelab.provider kubernetes",
     "homelab.kubeconfig"},
    {"FederationOffloadTwice",
     "federation:\n  liqo:\n    offload:\n      - namespace: ai\n      - namespace: ai\n",
     "fleet.yaml:5:20: federation.liqo.offload[1]: namespace 'ai' is listed twice", ""},
    {"FederationResourceNotAQuantity", "federation:\n  liqo:\n    resources:\n      cpu: lots\n",
     "fleet.yaml:4:12: federation.liqo.resources.cpu", "500m or 128Gi"},
    {"FederationNeedsACloudCluster", "federation:\n  mode: liqo\n" + kFederatedHomelab,
     "fleet.yaml:2:9: federation.mode liqo joins the homelab with the cloud cluster, and there "
     "is none",
     "federation.cloud_kubeconfig"},
    {"FederationControlPlanePoolUnknown",
     kPool + "federation:\n  mode: direct\n  direct:\n    control_plane_pools: [cp]\n" +
         kFederatedHomelab,
     "fleet.yaml:7:26: federation.direct.control_plane_pools names 'cp', which is not a pool", ""},
    {"DuplicateTopLevelKey", "name: demo\nname: other\n",
     "fleet.yaml:2:1: duplicate key 'name' in fleet.yaml", "keep one"},

    // Addresses.
    {"CidrWithoutMask", "mesh:\n  cidr: 10.42.0.0\n",
     "fleet.yaml:2:9: mesh.cidr: invalid CIDR address: 10.42.0.0", "e.g. 10.42.0.0/16"},
    {"CidrMaskTooLong", "mesh:\n  cidr: 10.42.0.0/33\n",
     "fleet.yaml:2:9: mesh.cidr: invalid CIDR address: 10.42.0.0/33", "write it as A.B.C.D/N"},
    {"CidrBadOctet", "mesh:\n  cidr: 10.420.0.0/16\n",
     "fleet.yaml:2:9: mesh.cidr: invalid CIDR address: 10.420.0.0/16", "A.B.C.D/N"},
    {"CidrIpv6", "mesh:\n  cidr: fd00::/16\n",
     "fleet.yaml:2:9: mesh.cidr: can only be ipv4, have fd00::/16", "e.g. 10.42.0.0/16"},
    {"CidrHostBitsSet", "mesh:\n  cidr: 10.42.7.0/16\n",
     "fleet.yaml:2:9: mesh.cidr 10.42.7.0/16 has host bits set", "did you mean 10.42.0.0/16?"},
    {"UnderlayHostBitsSet", "providers:\n  local:\n    underlay: 198.19.0.0/15\n",
     "fleet.yaml:3:15: providers.local.underlay 198.19.0.0/15 has host bits set",
     "did you mean 198.18.0.0/15?"},
    // The seeds' /24 trap. The default homelab address is then outside the mesh too, and that
    // is reported at the mask that caused it.
    {"MeshNarrowerThanSlash16", "mesh:\n  cidr: 10.42.0.0/24\n",
     "fleet.yaml:2:9: mesh.cidr 10.42.0.0/24 is narrower than /16", "use a /16, e.g. 10.42.0.0/16",
     2},
    {"MeshNarrowerThanSlash16Alone",
     "mesh:\n  cidr: 10.42.0.0/20\nhomelab:\n  mesh_ip: 10.42.1.9\n",
     "fleet.yaml:2:9: mesh.cidr 10.42.0.0/20 is narrower than /16",
     "static_host_map key is not in our subnet"},
    {"MeshOverlapsUnderlayAtMeshCidr",
     "mesh:\n  cidr: 198.18.0.0/16\nhomelab:\n  mesh_ip: 198.18.1.1\n",
     "fleet.yaml:2:9: mesh.cidr 198.18.0.0/16 overlaps providers.local.underlay 198.18.0.0/15",
     "must be disjoint"},
    {"MeshOverlapsUnderlayAtUnderlay", "providers:\n  local:\n    underlay: 10.0.0.0/8\n",
     "fleet.yaml:3:15: mesh.cidr 10.42.0.0/16 overlaps providers.local.underlay 10.0.0.0/8",
     "must be disjoint"},
    {"UnderlayNarrowerThanSlash16", "providers:\n  local:\n    underlay: 192.168.50.0/24\n",
     "fleet.yaml:3:15: providers.local.underlay 192.168.50.0/24 is narrower than /16",
     "use a /16 or wider"},
    {"HomelabOutsideMesh", "homelab:\n  mesh_ip: 10.43.1.1\n",
     "fleet.yaml:2:12: homelab.mesh_ip 10.43.1.1 is outside mesh.cidr 10.42.0.0/16",
     "e.g. 10.42.1.1"},
    {"DefaultHomelabOutsideMovedMesh", "mesh:\n  cidr: 10.50.0.0/16\n",
     "fleet.yaml:2:9: homelab.mesh_ip 10.42.1.1 is outside mesh.cidr 10.50.0.0/16",
     "set homelab.mesh_ip to an address in the homelab range, e.g. 10.50.1.1"},
    {"HomelabInWorkerRange", "homelab:\n  mesh_ip: 10.42.2.7\n",
     "fleet.yaml:2:12: homelab.mesh_ip 10.42.2.7 must be in the homelab range 10.42.1.0/24",
     ".2.x and up the workers'"},
    {"HomelabInLighthouseRange", "homelab:\n  mesh_ip: 10.42.0.1\n",
     "fleet.yaml:2:12: homelab.mesh_ip 10.42.0.1 must be in the homelab range 10.42.1.0/24",
     ".0.x is the lighthouse's"},
    {"HomelabBroadcast", "homelab:\n  mesh_ip: 10.42.1.255\n",
     "fleet.yaml:2:12: homelab.mesh_ip 10.42.1.255 ends in .255", "use .1 to .254"},
    {"HomelabNetworkAddress", "homelab:\n  mesh_ip: 10.42.1.0\n",
     "fleet.yaml:2:12: homelab.mesh_ip 10.42.1.0 ends in .0", "use .1 to .254"},
    {"HomelabWithMask", "homelab:\n  mesh_ip: 10.42.1.1/16\n",
     "fleet.yaml:2:12: homelab.mesh_ip '10.42.1.1/16' is not an IPv4 address", "no mask"},

    // Pools.
    {"DuplicatePoolNames", kPool + "  - name: gpu\n    type: cpu-worker\n",
     "fleet.yaml:4:11: pool name 'gpu' is already used", "names must be unique"},
    {"PoolNamedHomelab", "pools:\n  - name: homelab\n    type: cpu-worker\n",
     "fleet.yaml:2:11: pool name 'homelab' is already used", "not 'lighthouse' or 'homelab'"},
    {"PoolNamedLighthouse", "pools:\n  - name: lighthouse\n    type: cpu-worker\n",
     "fleet.yaml:2:11: pools[0].name 'lighthouse' must be 1-8 lowercase letters",
     "starting with a letter"},
    {"PoolNameUppercase", "pools:\n  - name: GPU\n    type: gpu-worker\n",
     "fleet.yaml:2:11: pools[0].name 'GPU' must be 1-8 lowercase letters", "digits or '-'"},
    {"PoolWithoutName", "pools:\n  - type: cpu-worker\n", "fleet.yaml:2:5: pools[0] needs a name",
     "e.g. 'name: gpu'"},
    {"PoolWithoutType", "pools:\n  - name: a\n", "fleet.yaml:2:5: pool 'a' needs a type",
     "gpu-worker or cpu-worker"},
    {"CountNegative", kPool + "    count: -1\n",
     "fleet.yaml:4:12: pool 'gpu'.count must be a whole number from 0 to 250, not '-1'", ""},
    {"CountTooBig", kPool + "    count: 251\n",
     "fleet.yaml:4:12: pool 'gpu'.count must be a whole number from 0 to 250, not '251'", ""},
    {"CountWord", kPool + "    count: two\n",
     "fleet.yaml:4:12: pool 'gpu'.count must be a whole number from 0 to 250, not 'two'", ""},
    {"CountFraction", kPool + "    count: 1.5\n",
     "fleet.yaml:4:12: pool 'gpu'.count must be a whole number", "not '1.5'"},
    {"BadType", "pools:\n  - name: gpu\n    type: gpu\n",
     "fleet.yaml:3:11: pool 'gpu'.type 'gpu' must be gpu-worker or cpu-worker", ""},
    {"PoolProviderNotAvailable", kPool + "    provider: gcp\n",
     "fleet.yaml:4:15: pool 'gpu'.provider 'gcp' is not available", "providers: local, aws"},
    {"LighthouseProviderNotAvailable", "lighthouse:\n  provider: gcp\n",
     "fleet.yaml:2:13: lighthouse.provider 'gcp' is not available", "providers: local, aws"},
    // Pools and the lighthouse on aws.
    {"AwsPoolWithoutInstanceType", kPool + "    provider: aws\n",
     "fleet.yaml:4:15: pool 'gpu' is on aws and needs an instance_type", "e.g. g4dn.xlarge"},
    {"AwsPoolWithEmptyInstanceType", kPool + "    provider: aws\n    instance_type: \"\"\n",
     "fleet.yaml:4:15: pool 'gpu' is on aws and needs an instance_type", "e.g. g4dn.xlarge"},
    {"AwsPoolBadInstanceType", kPool + "    provider: aws\n    instance_type: \"g4dn xlarge\"\n",
     "fleet.yaml:5:20: pool 'gpu'.instance_type 'g4dn xlarge' must be an EC2 instance type",
     "such as g4dn.xlarge"},
    {"AwsLighthouseBadSize", "lighthouse:\n  provider: aws\n  size: small\n",
     "fleet.yaml:3:9: lighthouse.size 'small' must be an EC2 instance type such as t3.small",
     "the lighthouse is on aws"},
    {"SpotNotABool", kPool + "    spot: maybe\n",
     "fleet.yaml:4:11: pool 'gpu'.spot must be true or false", "not 'maybe'"},
    {"RootVolumeTooSmall", kPool + "    root_volume_gb: 4\n",
     "fleet.yaml:4:21: pool 'gpu'.root_volume_gb must be a whole number from 8 to 16384",
     "not '4'"},
    {"RootVolumeTooBig", kPool + "    root_volume_gb: 16385\n",
     "fleet.yaml:4:21: pool 'gpu'.root_volume_gb must be a whole number from 8 to 16384",
     "not '16385'"},
    {"RootVolumeWithUnit", kPool + "    root_volume_gb: 100G\n",
     "fleet.yaml:4:21: pool 'gpu'.root_volume_gb must be a whole number", "not '100G'"},

    // providers.aws, key by key.
    {"AwsNotAMapping", "providers:\n  aws: us-west-2\n",
     "fleet.yaml:2:8: providers.aws must be a mapping of keys to values", ""},
    {"AwsUnknownKey", "providers:\n  aws:\n    regoin: us-west-2\n",
     "fleet.yaml:3:5: unknown key 'regoin' in providers.aws", "did you mean 'region'?"},
    {"AwsBadRegion", "providers:\n  aws:\n    region: US West\n",
     "fleet.yaml:3:13: providers.aws.region 'US West' must be a region name", "us-west-2"},
    {"AwsBadProfile", "providers:\n  aws:\n    profile: \"my profile\"\n",
     "fleet.yaml:3:14: providers.aws.profile 'my profile' must be a profile name",
     "letters, digits"},
    {"AwsEndpointWithPath", "providers:\n  aws:\n    endpoint_url: http://127.0.0.1:4566/ec2\n",
     "fleet.yaml:3:19: providers.aws.endpoint_url 'http://127.0.0.1:4566/ec2' must be "
     "http(s)://HOST[:PORT]",
     "no path or query"},
    {"AwsEndpointWithQuery", "providers:\n  aws:\n    endpoint_url: https://ec2.example?x=1\n",
     "fleet.yaml:3:19: providers.aws.endpoint_url", "no path or query"},
    {"AwsEndpointBadScheme", "providers:\n  aws:\n    endpoint_url: ftp://127.0.0.1\n",
     "fleet.yaml:3:19: providers.aws.endpoint_url 'ftp://127.0.0.1' must be http(s)://", ""},
    {"AwsEndpointBadPort", "providers:\n  aws:\n    endpoint_url: http://127.0.0.1:70000\n",
     "fleet.yaml:3:19: providers.aws.endpoint_url", "e.g. http://127.0.0.1:4566"},
    {"AwsBadVpc", "providers:\n  aws:\n    vpc_id: sg-123\n",
     "fleet.yaml:3:13: providers.aws.vpc_id 'sg-123' must be a VPC id", "vpc-0abc123"},
    {"AwsBadSubnet", "providers:\n  aws:\n    subnet_id: vpc-123\n",
     "fleet.yaml:3:16: providers.aws.subnet_id 'vpc-123' must be a subnet id", "subnet-0abc123"},
    {"AwsBadAmi", "providers:\n  aws:\n    ami: ami-XYZ\n",
     "fleet.yaml:3:10: providers.aws.ami 'ami-XYZ' must be an image id", "ami-0abc123"},
    {"AwsBadKeyType", "providers:\n  aws:\n    key_type: ecdsa\n",
     "fleet.yaml:3:15: providers.aws.key_type 'ecdsa' must be ed25519 or rsa", ""},
    {"AwsBadInstanceProfile", "providers:\n  aws:\n    iam_instance_profile: \"a b\"\n",
     "fleet.yaml:3:27: providers.aws.iam_instance_profile 'a b' must be an instance profile name",
     "'+=,.@_-'"},
    {"AwsBadMaterial", "providers:\n  aws:\n    nebula_material: s3\n",
     "fleet.yaml:3:22: providers.aws.nebula_material 's3' must be userdata or secretsmanager", ""},
    {"AwsSecretsManagerNeedsProfile", "providers:\n  aws:\n    nebula_material: secretsmanager\n",
     "fleet.yaml:3:22: providers.aws.nebula_material: secretsmanager needs iam_instance_profile",
     "each node fetches its secret at boot with its instance profile"},
    {"AwsSecretsManagerEmptyProfile",
     "providers:\n  aws:\n    nebula_material: secretsmanager\n    iam_instance_profile: \"\"\n",
     "fleet.yaml:3:22: providers.aws.nebula_material: secretsmanager needs iam_instance_profile",
     "or use nebula_material: userdata"},
    {"AwsBadDnsName", "providers:\n  aws:\n    dns_name: -nebula.example.org\n",
     "fleet.yaml:3:15: providers.aws.dns_name '-nebula.example.org' must be a host name",
     "nebula.example.org"},
    {"AwsDnsNameEmptyLabel", "providers:\n  aws:\n    dns_name: nebula..example.org\n",
     "fleet.yaml:3:15: providers.aws.dns_name 'nebula..example.org' must be a host name", ""},
    {"AwsNebulaVersionWithV", "providers:\n  aws:\n    nebula_version: v1.9.5\n",
     "fleet.yaml:3:21: providers.aws.nebula_version 'v1.9.5' must be a release", "no 'v'"},
    {"AwsNebulaVersionEmpty", "providers:\n  aws:\n    nebula_version: \"\"\n",
     "fleet.yaml:3:21: providers.aws.nebula_version '' must be a release", "such as 1.9.5"},
    {"AwsUrlWithQuote", "providers:\n  aws:\n    agent_url: \"https://x.org/a'b\"\n",
     "fleet.yaml:3:16: providers.aws.agent_url 'https://x.org/a'b' must be an https URL",
     "without quotes, spaces or '$'"},
    {"AwsUrlWithSpace", "providers:\n  aws:\n    agent_url: \"https://x.org/a b\"\n",
     "fleet.yaml:3:16: providers.aws.agent_url", "without quotes, spaces"},
    {"AwsUrlWithDollar", "providers:\n  aws:\n    agent_url: \"https://x.org/$(id)\"\n",
     "fleet.yaml:3:16: providers.aws.agent_url", "without quotes, spaces or '$'"},
    {"AwsUrlOtherBrace", "providers:\n  aws:\n    agent_url: \"https://x.org/agent-{os}\"\n",
     "fleet.yaml:3:16: providers.aws.agent_url", "{arch}"},
    {"AwsUrlNotHttp", "providers:\n  aws:\n    agent_url: s3://bucket/agent\n",
     "fleet.yaml:3:16: providers.aws.agent_url 's3://bucket/agent' must be an https URL", ""},
    {"AwsUrlPlainHttp", "providers:\n  aws:\n    agent_url: http://x.org/carrierarr-agent\n",
     "fleet.yaml:3:16: providers.aws.agent_url 'http://x.org/carrierarr-agent' must be an https "
     "URL",
     ""},
    {"AwsUrlPathWithoutMirror", "providers:\n  aws:\n    agent_url: dl/carrierarr-agent\n",
     "fleet.yaml:3:16: providers.aws.agent_url 'dl/carrierarr-agent' must be an https URL", ""},
    {"AwsAgentWithoutSha",
     "providers:\n  aws:\n    agent_url: https://x.org/carrierarr-agent-{arch}\n",
     "fleet.yaml:3:16: providers.aws.agent_url needs agent_sha256 beside it",
     "a node runs no program it cannot check"},
    {"AwsAgentWithEmptySha",
     "providers:\n  aws:\n    agent_url: https://x.org/a\n    agent_sha256: \"\"\n",
     "fleet.yaml:4:19: providers.aws.agent_sha256 is empty but agent_url is set", "sha256sum"},
    {"AwsMirrorPlainHttp", "providers:\n  aws:\n    mirror: http://mirror.example.org\n",
     "fleet.yaml:3:13: providers.aws.mirror 'http://mirror.example.org' must be an https base URL",
     ""},
    {"AwsMirrorTrailingSlash", "providers:\n  aws:\n    mirror: https://mirror.example.org/\n",
     "fleet.yaml:3:13: providers.aws.mirror", "no final '/'"},
    {"AwsK3sVersionUnpinned", "providers:\n  aws:\n    k3s_version: latest\n",
     "fleet.yaml:3:18: providers.aws.k3s_version 'latest' must be a k3s release tag",
     "v1.31.4+k3s1"},
    {"AwsBadSha", "providers:\n  aws:\n    agent_sha256: abc\n",
     "fleet.yaml:3:19: providers.aws.agent_sha256 'abc' must be 64 hex digits", "sha256sum"},
    {"AwsK3sNotABool", "providers:\n  aws:\n    k3s: sometimes\n",
     "fleet.yaml:3:10: providers.aws.k3s must be true or false", "not 'sometimes'"},
    {"AwsOperatorCidrsNotAList", "providers:\n  aws:\n    operator_cidrs: 203.0.113.7/32\n",
     "fleet.yaml:3:21: providers.aws.operator_cidrs must be a list", "e.g. [203.0.113.7/32]"},
    {"AwsOperatorCidrNotACidr", "providers:\n  aws:\n    operator_cidrs: [203.0.113.7]\n",
     "fleet.yaml:3:22: providers.aws.operator_cidrs entry: ", "write it as A.B.C.D/N"},
    {"AwsOperatorCidrHostBits", "providers:\n  aws:\n    operator_cidrs: [203.0.113.7/24]\n",
     "fleet.yaml:3:22: providers.aws.operator_cidrs entry 203.0.113.7/24 has host bits set",
     "did you mean 203.0.113.0/24?"},
    {"AwsOperatorCidrTwice",
     "providers:\n  aws:\n    operator_cidrs:\n      - 203.0.113.7/32\n      - 203.0.113.7/32\n",
     "fleet.yaml:5:9: providers.aws.operator_cidrs lists 203.0.113.7/32 twice", "keep one"},
    {"PoolsNotAList", "pools:\n  name: gpu\n  type: gpu-worker\n",
     "fleet.yaml:2:3: pools must be a list of pools", "'- name: ...'"},
    {"PoolsAScalar", "pools: gpu\n", "fleet.yaml:1:8: pools must be a list of pools",
     "'- name: ...'"},
    {"PoolNotAMapping", "pools:\n  - gpu\n",
     "fleet.yaml:2:5: pools[0] must be a mapping of keys to values", ""},

    // Groups.
    {"GroupsNotAList", "homelab:\n  groups: homelab\n",
     "fleet.yaml:2:11: homelab.groups must be a list", "e.g. [workers, gpu-compute]"},
    {"PoolGroupsNotAList", kPool + "    groups: workers,gpu-compute\n",
     "fleet.yaml:4:13: pool 'gpu'.groups must be a list", "e.g. [workers, gpu-compute]"},
    {"GroupWithComma", "homelab:\n  groups: [homelab, \"k8s,prod\"]\n",
     "fleet.yaml:2:21: homelab.groups entry 'k8s,prod' must be one word",
     "without commas or spaces"},
    {"GroupWithSpace", kPool + "    groups:\n      - workers\n      - gpu compute\n",
     "fleet.yaml:6:9: pool 'gpu'.groups entry 'gpu compute' must be one word",
     "without commas or spaces"},
    {"GroupListedTwice", "homelab:\n  groups: [homelab, k8s, homelab]\n",
     "fleet.yaml:2:26: group 'homelab' is listed twice in homelab.groups", ""},

    // Ports and durations.
    {"LighthousePortZero", "mesh:\n  lighthouse_port: 0\n",
     "fleet.yaml:2:20: mesh.lighthouse_port must be a whole number from 1 to 65535, not '0'", ""},
    {"LighthousePortTooBig", "mesh:\n  lighthouse_port: 70000\n",
     "fleet.yaml:2:20: mesh.lighthouse_port must be a whole number from 1 to 65535, not '70000'",
     ""},
    {"GrpcPortTooBig", "control_plane:\n  grpc_port: 70000\n",
     "fleet.yaml:2:14: control_plane.grpc_port must be a whole number from 1 to 65535", ""},
    {"HttpPortZero", "control_plane:\n  http_port: 0\n",
     "fleet.yaml:2:14: control_plane.http_port must be a whole number from 1 to 65535", ""},
    {"GrpcPortEqualsHttpPort", "control_plane:\n  grpc_port: 9000\n  http_port: 9000\n",
     "fleet.yaml:2:3: control_plane.grpc_port, http_port and gateway_port must differ", ""},
    {"GrpcPortEqualsDefaultHttpPort", "control_plane:\n  grpc_port: 8090\n",
     "fleet.yaml:2:3: control_plane.grpc_port, http_port and gateway_port must differ", ""},
    {"GatewayPortEqualsHttpPort", "control_plane:\n  gateway_port: 8090\n",
     "fleet.yaml:2:3: control_plane.grpc_port, http_port and gateway_port must differ", ""},
    {"LocalOllamaNotAbsolute", "providers:\n  local:\n    ollama: ollama\n",
     "fleet.yaml:3:13: providers.local.ollama 'ollama' must be an absolute path",
     "/usr/local/bin/ollama"},
    {"DurationWithUnknownUnit", "mesh:\n  ca_lifetime: 10y\n",
     "fleet.yaml:2:16: mesh.ca_lifetime '10y' is not a positive duration", "e.g. 8760h or 90m"},
    {"DurationWithoutUnit", "mesh:\n  ca_lifetime: 8760\n",
     "fleet.yaml:2:16: mesh.ca_lifetime '8760' is not a positive duration", "e.g. 8760h"},
    {"DurationZero", "mesh:\n  ca_lifetime: 0s\n",
     "fleet.yaml:2:16: mesh.ca_lifetime '0s' is not a positive duration", "e.g. 8760h"},
    {"DurationNegative", "mesh:\n  ca_lifetime: -1h\n",
     "fleet.yaml:2:16: mesh.ca_lifetime '-1h' is not a positive duration", "e.g. 8760h"},

    // The fleet name.
    {"NameUppercase", "name: Demo\n",
     "fleet.yaml:1:7: name 'Demo' must be 1-12 lowercase letters, digits or '-'",
     "starting with a letter"},
    {"NameTooLong", "name: abcdefghijklm\n",
     "fleet.yaml:1:7: name 'abcdefghijklm' must be 1-12 lowercase letters", ""},
    {"NameStartsWithDigit", "name: 1lab\n", "fleet.yaml:1:7: name '1lab' must be 1-12", ""},
    {"NameEndsWithDash", "name: lab-\n", "fleet.yaml:1:7: name 'lab-' must be 1-12", ""},
    {"NameWithUnderscore", "name: my_lab\n", "fleet.yaml:1:7: name 'my_lab' must be 1-12", ""},
    {"NameNotAScalar", "name: [a, b]\n", "fleet.yaml:1:7: name must be a single value", ""},

    // Shape of the document.
    {"MeshNotAMapping", "mesh: 10.42.0.0/16\n",
     "fleet.yaml:1:7: mesh must be a mapping of keys to values", ""},
    {"RootNotAMapping", "- name: demo\n",
     "fleet.yaml:1:1: fleet.yaml must be a mapping of keys to values", ""},
    {"SizeNotAScalar", "lighthouse:\n  size: [a, b]\n",
     "fleet.yaml:2:9: lighthouse.size must be a single value", ""},
    {"InvalidYamlUnclosedFlow", "name: demo\nmesh:\n  cidr: [10.42.0.0/16\n",
     "fleet.yaml:4:1: not valid YAML: end of sequence flow not found", ""},
    {"InvalidYamlTabIndent", "mesh:\n\tcidr: 10.42.0.0/16\n",
     "fleet.yaml:2:6: not valid YAML: illegal map value", ""},
    {"InvalidYamlTabBeforeKey", "name: demo\n\tmesh: 1\n",
     "fleet.yaml:2:1: not valid YAML: illegal tab when looking for indentation", ""},
    {"InvalidYamlBadIndent", "mesh:\n  cidr: 10.42.0.0/16\n lighthouse_port: 1\n",
     "fleet.yaml:3:2: not valid YAML: end of map not found", ""},
    {"AwsDevicePluginImageNotAnImage", "providers:\n  aws:\n    device_plugin_image: \"a b\"\n",
     "fleet.yaml:3:26: providers.aws.device_plugin_image 'a b' must be an image such as",
     "k8s-device-plugin"},
    // GPU burst: scaling, budgets, prices.
    {"ScalingAndCount", kPool + "    count: 2\n    scaling: {max: 2}\n",
     "fleet.yaml:4:12: pool 'gpu' has both count and scaling", "remove count"},
    {"ScalingMinOverMax", kPool + "    scaling: {min: 3, max: 2}\n",
     "fleet.yaml:4:20: pool 'gpu'.scaling.min 3 is more than max 2", "max 2"},
    {"ScalingMaxZero", kPool + "    scaling: {max: 0}\n", "fleet.yaml:4:20: pool 'gpu'.scaling.max",
     "1"},
    {"ScalingUnknownKey", kPool + "    scaling: {max: 2, idle: 5m}\n",
     "fleet.yaml:4:23: unknown key 'idle' in pool 'gpu'.scaling", "idle_after"},
    {"ScalingIdleZero", kPool + "    scaling: {idle_after: 0s}\n",
     "fleet.yaml:4:27: pool 'gpu'.scaling.idle_after '0s' is not a positive duration", "90m"},
    {"ScalingIdleTooLong", kPool + "    scaling: {idle_after: 200h}\n",
     "fleet.yaml:4:27: pool 'gpu'.scaling.idle_after must be from 1s to 168h", "168h"},
    {"ScalingWakeOnMisspelt", kPool + "    scaling: {wake_on: [request]}\n",
     "fleet.yaml:4:25: pool 'gpu'.scaling.wake_on 'request' must be one of", "pending-pods"},
    {"ScalingWakeOnTwice", kPool + "    scaling: {wake_on: [requests, requests]}\n",
     "fleet.yaml:4:35: pool 'gpu'.scaling.wake_on lists 'requests' twice", "twice"},
    {"ScalingStopMisspelt", kPool + "    scaling: {stop: hibernate}\n",
     "fleet.yaml:4:21: pool 'gpu'.scaling.stop 'hibernate' must be stop", "terminate"},
    {"ScalingScheduleWithoutTrigger",
     kPool + "    scaling:\n      schedule: ['mon-fri 09:00-18:00']\n",
     "fleet.yaml:5:17: pool 'gpu'.scaling.schedule is used only with schedule in wake_on",
     "add it"},
    {"ScalingTriggerWithoutSchedule", kPool + "    scaling: {wake_on: [schedule]}\n",
     "fleet.yaml:4:14: pool 'gpu'.scaling.wake_on has schedule but no schedule windows",
     "mon-fri 09:00-18:00"},
    {"ScalingWindowAcrossMidnight",
     kPool + "    scaling:\n      wake_on: [schedule]\n      schedule: ['fri 22:00-02:00']\n",
     "fleet.yaml:6:18: pool 'gpu'.scaling.schedule 'fri 22:00-02:00' must be DAYS HH:MM-HH:MM",
     "split a window that crosses midnight"},
    {"ScalingWindowBadDay",
     kPool + "    scaling:\n      wake_on: [schedule]\n      schedule: ['monday 09:00-10:00']\n",
     "fleet.yaml:6:18: pool 'gpu'.scaling.schedule 'monday 09:00-10:00'", "mon..sun"},
    {"ScalingScheduleEmpty", kPool + "    scaling: {wake_on: [schedule], schedule: []}\n",
     "fleet.yaml:4:46: pool 'gpu'.scaling.schedule must be a list of windows", "mon-fri"},
    {"ModelsNotAList", kPool + "    models: llama3:8b\n",
     "fleet.yaml:4:13: pool 'gpu'.models must be a list of Ollama models", "[llama3:8b]"},
    {"ModelBadName", kPool + "    models: ['llama 3']\n",
     "fleet.yaml:4:14: pool 'gpu'.models[0] 'llama 3' is not an Ollama model name", "llama3:8b"},
    {"ModelTwice", kPool + "    models: [a, a]\n",
     "fleet.yaml:4:17: pool 'gpu'.models[1] 'a' is listed twice", "twice"},
    {"ModelInTwoPools", kPool + "    models: [a]\n  - {name: b, type: gpu-worker, models: [a]}\n",
     "fleet.yaml:5:41: model 'a' is in pools 'gpu' and 'b'", "keep it in one"},
    {"KeepAliveNotADuration", kPool + "    models: [a]\n    keep_alive: forever\n",
     "fleet.yaml:5:17: pool 'gpu'.keep_alive 'forever' is not", "90m"},
    {"KeepAliveWithoutModels", kPool + "    keep_alive: 5m\n",
     "fleet.yaml:4:17: pool 'gpu'.keep_alive applies to models", "models:"},
    {"ModelsVolumeWithoutModels", kPool + "    models_volume_gb: 50\n",
     "fleet.yaml:4:23: pool 'gpu'.models_volume_gb applies to models", "models:"},
    {"ModelsVolumeTooSmall", kPool + "    models: [a]\n    models_volume_gb: 4\n",
     "fleet.yaml:5:23: pool 'gpu'.models_volume_gb must be 0", "8-16384"},
    {"ModelsVolumeTooBig", kPool + "    models: [a]\n    models_volume_gb: 20000\n",
     "fleet.yaml:5:23: pool 'gpu'.models_volume_gb must be a whole number from 0 to 16384", ""},
    {"FallbackWithoutSpot", kPool + "    on_demand_fallback: true\n",
     "fleet.yaml:4:25: pool 'gpu'.on_demand_fallback applies to spot pools", "spot: true"},
    {"FallbackNotABool", kPool + "    spot: true\n    on_demand_fallback: often\n",
     "fleet.yaml:5:25: pool 'gpu'.on_demand_fallback must be true or false", ""},
    {"OllamaVersionWithV", "providers:\n  aws:\n    ollama_version: v0.13.3\n",
     "fleet.yaml:3:21: providers.aws.ollama_version", "no 'v'"},
    {"BudgetWithoutScaling", kPool + "    budget: {usd_per_day: 5}\n",
     "fleet.yaml:4:13: pool 'gpu'.budget needs scaling", "scaling: {min: 0, max: 1}"},
    {"BudgetEmpty", kPool + "    scaling: {max: 1}\n    budget: {}\n",
     "fleet.yaml:5:13: pool 'gpu'.budget needs usd_per_day or usd_per_month", "usd_per_day"},
    {"BudgetNotMoney", kPool + "    scaling: {max: 1}\n    budget: {usd_per_day: $5}\n",
     "fleet.yaml:5:27: pool 'gpu'.budget.usd_per_day '$5' must be US dollars", "1.006"},
    {"BudgetZero", "budget: {usd_per_month: 0}\n",
     "fleet.yaml:1:25: budget.usd_per_month '0' must be US dollars more than 0", "20"},
    {"BudgetTooPrecise", "budget: {usd_per_month: 0.0000001}\n",
     "fleet.yaml:1:25: budget.usd_per_month", "at most six decimals"},
    {"BudgetWithoutAPrice", kPool + "    scaling: {max: 1}\nbudget: {usd_per_day: 10}\n",
     "fleet.yaml:4:14: pool 'gpu' is held to a budget but has no price (it has no "
     "instance_type)",
     "add prices"},
    {"BudgetUnknownInstanceType",
     kPool + "    provider: aws\n    instance_type: g9.xlarge\n    scaling: {max: 1}\n"
             "    budget: {usd_per_day: 10}\n",
     "fleet.yaml:6:14: pool 'gpu' is held to a budget but has no price for instance type "
     "'g9.xlarge'",
     "add prices: {g9.xlarge: <US dollars per hour>}"},
    {"PricesNotAMap", "prices: [g5.xlarge]\n", "fleet.yaml:1:9: prices must map instance types",
     "on_demand"},
    {"PriceWithoutOnDemand", "prices:\n  g5.xlarge: {spot: 0.4}\n",
     "fleet.yaml:2:14: prices.g5.xlarge needs on_demand", "US dollars per hour"},
    {"PriceNegative", "prices:\n  g5.xlarge: -1\n",
     "fleet.yaml:2:14: prices.g5.xlarge '-1' must be US dollars more than 0", "1.006"},
    {"EmptyFile", "", "fleet.yaml:1:1: the file is empty", "run 'carrierarr init'"},
    {"OnlyComments", "# nothing here yet\n\n", "fleet.yaml:1:1: the file is empty",
     "run 'carrierarr init'"},
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class BadFleetTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadFleetTest, NamesFileLineColumnAndTheFix) {
  const BadCase& c = GetParam();
  SCOPED_TRACE("yaml:\n" + c.yaml);
  auto fleet = ParseFleet(c.yaml, "fleet.yaml");
  ASSERT_FALSE(fleet.ok());
  EXPECT_EQ(fleet.status().code(), StatusCode::kInvalidArgument);
  const auto lines = Lines(fleet.status().message());
  EXPECT_EQ(lines.size(), c.want_lines) << fleet.status().message();
  const std::string* match = nullptr;
  for (const auto& line : lines) {
    if (line.rfind(c.want_prefix, 0) == 0) match = &line;
  }
  ASSERT_NE(match, nullptr) << "want a line starting with\n  " << c.want_prefix << "\ngot\n"
                            << fleet.status().message();
  EXPECT_NE(match->find(c.want_hint), std::string::npos)
      << "want \"" << c.want_hint << "\" in\n  " << *match;
  for (const auto& line : lines) {
    EXPECT_EQ(line.rfind("fleet.yaml:", 0), 0u) << "every line names the file: " << line;
  }
}

INSTANTIATE_TEST_SUITE_P(Inputs, BadFleetTest, ::testing::ValuesIn(kBadCases),
                         [](const ::testing::TestParamInfo<BadCase>& param) {
                           return param.param.name;
                         });

// providers.kubernetes and the keys of a homelab in a cluster.
const std::string kKubeHomelab = "homelab:\n  provider: kubernetes\n";  // lines 1-2

const BadCase kKubeBadCases[] = {
    {"ImageRequired", kKubeHomelab,
     "fleet.yaml:2:13: control_plane.image is required when homelab.provider is kubernetes",
     "docs/providers/kubernetes.md"},
    {"NamespaceNotADnsLabel", "providers:\n  kubernetes:\n    nebula_namespace: Nebula_System\n",
     "fleet.yaml:3:23: providers.kubernetes.nebula_namespace 'Nebula_System' must be a "
     "namespace name",
     "DNS label"},
    {"ControlPlaneNamespaceTooLong",
     "providers:\n  kubernetes:\n    control_plane_namespace: " + std::string(64, 'a') + "\n",
     "fleet.yaml:3:30: providers.kubernetes.control_plane_namespace", "1-63"},
    {"LighthouseInTheClusterNeedsTheHomelabThere",
     "lighthouse:\n  provider: kubernetes\nproviders:\n  kubernetes:\n    lighthouse_endpoint: "
     "h:4242\n",
     "fleet.yaml:2:13: lighthouse.provider kubernetes needs homelab.provider kubernetes", ""},
    {"NodePortOutsideItsRange",
     "homelab:\n  provider: kubernetes\ncontrol_plane:\n  image: r/c:1\n"
     "lighthouse:\n  provider: kubernetes\nproviders:\n  kubernetes:\n"
     "    lighthouse_exposure: nodePort\n    lighthouse_endpoint: h:30242\n",
     "fleet.yaml:9:26: providers.kubernetes.lighthouse_exposure nodePort needs "
     "mesh.lighthouse_port in the NodePort range 30000-32767",
     "or use hostPort"},
    {"UnknownExposure", "providers:\n  kubernetes:\n    lighthouse_exposure: loadBalancer\n",
     "fleet.yaml:3:26: providers.kubernetes.lighthouse_exposure 'loadBalancer' must be hostPort "
     "or nodePort",
     ""},
    {"EndpointRequiredWithPoolsElsewhere",
     std::string("lighthouse:\n  provider: kubernetes\nhomelab:\n  provider: kubernetes\n"
                 "control_plane:\n  image: r/c:1\n") +
         "pools:\n  - name: gpu\n    type: gpu-worker\n    provider: aws\n    instance_type: "
         "t3.small\n",
     "fleet.yaml:2:13: providers.kubernetes.lighthouse_endpoint is required", "UDP"},
    {"EndpointRequiredEvenWithoutPools",
     "lighthouse:\n  provider: kubernetes\nhomelab:\n  provider: kubernetes\n"
     "control_plane:\n  image: r/c:1\n",
     "fleet.yaml:2:13: providers.kubernetes.lighthouse_endpoint is required",
     "the LAN address of the lighthouse's node"},
    {"EndpointNotHostPort",
     "providers:\n  kubernetes:\n    lighthouse_endpoint: home.example.net\n",
     "fleet.yaml:3:26: providers.kubernetes.lighthouse_endpoint 'home.example.net' must be "
     "HOST:PORT",
     ""},
    {"PoolOnKubernetes", kPool + "    provider: kubernetes\n",
     "fleet.yaml:4:15: pool 'gpu'.provider kubernetes cannot host pools",
     "hosts only the lighthouse and the homelab"},
    {"NodeSelectorNotAMap", "providers:\n  kubernetes:\n    node_selector: [a, b]\n",
     "fleet.yaml:3:20: providers.kubernetes.node_selector must be a map of node labels", ""},
    {"NodeSelectorValueWithSpace",
     "providers:\n  kubernetes:\n    node_selector:\n      mesh: \"yes please\"\n",
     "fleet.yaml:4:13: providers.kubernetes.node_selector.mesh 'yes please' must be a label "
     "value",
     ""},
    {"ControlPlaneNodeBadName", "providers:\n  kubernetes:\n    control_plane_node: Node_1\n",
     "fleet.yaml:3:25: providers.kubernetes.control_plane_node 'Node_1' must be a node name", ""},
    {"GrpcNodePortOutsideRange",
     "homelab:\n  provider: kubernetes\ncontrol_plane:\n  image: r/c:1\n  grpc_node_port: 8080\n",
     "fleet.yaml:5:19: control_plane.grpc_node_port 8080 is outside the NodePort range", ""},
    {"UnknownKubernetesKey", "providers:\n  kubernetes:\n    namespace: x\n",
     "fleet.yaml:3:5: unknown key 'namespace' in providers.kubernetes", "nebula_namespace"},
};

INSTANTIATE_TEST_SUITE_P(Kubernetes, BadFleetTest, ::testing::ValuesIn(kKubeBadCases),
                         [](const ::testing::TestParamInfo<BadCase>& param) {
                           return param.param.name;
                         });

TEST(ParseFleetTest, ReadsTheKubernetesProvider) {
  auto f = ParseFleet(R"(homelab:
  provider: kubernetes
  kubeconfig: /home/me/.kube/config
lighthouse:
  provider: kubernetes
mesh:
  lighthouse_port: 30242
control_plane:
  image: registry.lan/carrierarr:0.1
  storage_size: 2Gi
  storage_class: local-path
  database_url_secret: pg-url
  grpc_node_port: 30053
  http_node_port: 30091
providers:
  kubernetes:
    context: home
    nebula_namespace: mesh
    control_plane_namespace: fleet
    node_selector:
      carrierarr.io/mesh: "true"
    nebula_image: registry.lan/nebula:1.9.5
    control_plane_node: node-1
    lighthouse_exposure: nodePort
    lighthouse_endpoint: home.example.net:30242
    allow_insecure: true
)",
                      "fleet.yaml");
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(f->homelab.provider, "kubernetes");
  EXPECT_EQ(f->lighthouse.provider, "kubernetes");
  EXPECT_EQ(f->control_plane.image, "registry.lan/carrierarr:0.1");
  EXPECT_EQ(f->control_plane.storage_size, "2Gi");
  EXPECT_EQ(f->control_plane.storage_class, "local-path");
  EXPECT_EQ(f->control_plane.database_url_secret, "pg-url");
  EXPECT_EQ(f->control_plane.grpc_node_port, 30053);
  EXPECT_EQ(f->control_plane.http_node_port, 30091);
  const KubernetesProviderSpec& k = f->kubernetes;
  EXPECT_EQ(k.context, "home");
  EXPECT_EQ(k.nebula_namespace, "mesh");
  EXPECT_EQ(k.control_plane_namespace, "fleet");
  EXPECT_EQ(k.node_selector, (std::map<std::string, std::string>{{"carrierarr.io/mesh", "true"}}));
  EXPECT_EQ(k.nebula_image, "registry.lan/nebula:1.9.5");
  EXPECT_EQ(k.control_plane_node, "node-1");
  EXPECT_EQ(k.lighthouse_exposure, LighthouseExposure::kNodePort);
  EXPECT_EQ(k.lighthouse_endpoint, "home.example.net:30242");
  EXPECT_TRUE(k.allow_insecure);
}

TEST(ParseFleetTest, TheHomelabStaysLocalByDefault) {
  auto f = ParseFleet("name: demo\n", "fleet.yaml");
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(f->homelab.provider, "local");
  EXPECT_EQ(f->kubernetes.nebula_namespace, "nebula-system");
  EXPECT_EQ(f->kubernetes.control_plane_namespace, "carrierarr");
}

TEST(ParseFleetTest, ReportsEveryProblemAtOnceOneLineEach) {
  const std::string yaml = R"(name: Demo
mesh:
  cidr: 10.42.0.0
  lighthouse_port: 0
  colour: blue
pools:
  - name: gpu
    type: gpu-worker
    count: 999
  - name: gpu
    type: tpu
control_plane:
  grpc_port: 8090
)";
  auto fleet = ParseFleet(yaml, "lab/fleet.yaml");
  ASSERT_FALSE(fleet.ok());
  const std::vector<std::string> want_prefixes = {
      "lab/fleet.yaml:1:7: name 'Demo'",
      "lab/fleet.yaml:5:3: unknown key 'colour' in mesh",
      "lab/fleet.yaml:3:9: mesh.cidr: invalid CIDR address: 10.42.0.0",
      "lab/fleet.yaml:4:20: mesh.lighthouse_port must be a whole number",
      "lab/fleet.yaml:9:12: pool 'gpu'.count must be a whole number from 0 to 250, not '999'",
      "lab/fleet.yaml:10:11: pool name 'gpu' is already used",
      "lab/fleet.yaml:11:11: pool 'gpu'.type 'tpu' must be gpu-worker or cpu-worker",
      "lab/fleet.yaml:13:3: control_plane.grpc_port, http_port and gateway_port must differ",
  };
  const auto lines = Lines(fleet.status().message());
  ASSERT_EQ(lines.size(), want_prefixes.size()) << fleet.status().message();
  for (size_t i = 0; i < lines.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(lines[i].rfind(want_prefixes[i], 0), 0u)
        << "want prefix " << want_prefixes[i] << "\ngot " << lines[i];
  }
}

TEST(ParseFleetTest, ReportsSeveralValidationProblemsAtOnce) {
  const std::string yaml =
      "mesh:\n  cidr: 10.42.0.0/16\nhomelab:\n  mesh_ip: 10.42.9.9\n"
      "providers:\n  local:\n    underlay: 10.42.128.0/24\n";
  auto fleet = ParseFleet(yaml, "fleet.yaml");
  ASSERT_FALSE(fleet.ok());
  const auto lines = Lines(fleet.status().message());
  ASSERT_EQ(lines.size(), 3u) << fleet.status().message();
  EXPECT_EQ(lines[0].rfind("fleet.yaml:7:15: mesh.cidr 10.42.0.0/16 overlaps", 0), 0u) << lines[0];
  EXPECT_EQ(
      lines[1].rfind("fleet.yaml:7:15: providers.local.underlay 10.42.128.0/24 is narrower", 0), 0u)
      << lines[1];
  EXPECT_EQ(lines[2].rfind("fleet.yaml:4:12: homelab.mesh_ip 10.42.9.9 must be in", 0), 0u)
      << lines[2];
}

TEST(ParseFleetTest, LabelsMessagesWithTheGivenFilename) {
  auto fleet = ParseFleet("name: demo\nmesh:\n  cidr: bad\n", "/srv/lab/fleet.yaml");
  ASSERT_FALSE(fleet.ok());
  EXPECT_EQ(fleet.status().message().rfind("/srv/lab/fleet.yaml:3:9: mesh.cidr: ", 0), 0u)
      << fleet.status().message();
}

class LoadFleetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = std::filesystem::temp_directory_path().string() + "/spec-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  std::string dir_;
};

TEST_F(LoadFleetTest, MissingFileSaysToRunInit) {
  const std::string path = dir_ + "/fleet.yaml";
  auto fleet = LoadFleet(path);
  ASSERT_FALSE(fleet.ok());
  EXPECT_EQ(fleet.status().code(), StatusCode::kNotFound) << fleet.status().ToString();
  const std::string& message = fleet.status().message();
  EXPECT_NE(message.find("open " + path + ": no such file or directory"), std::string::npos)
      << message;
  EXPECT_NE(message.find("run 'carrierarr init'"), std::string::npos) << message;
}

TEST_F(LoadFleetTest, ReadsTheTemplateAndLabelsErrorsWithThePath) {
  const std::string good = dir_ + "/fleet.yaml";
  ASSERT_TRUE(WriteFileAtomic(good, InitTemplate("lab"), 0600).ok());
  auto fleet = LoadFleet(good);
  ASSERT_TRUE(fleet.ok()) << fleet.status().message();
  EXPECT_EQ(fleet->name, "lab");

  const std::string bad = dir_ + "/bad.yaml";
  ASSERT_TRUE(WriteFileAtomic(bad,
                              "name: lab\nmesh:\n  cidr: 10.42.0.0/24\n"
                              "homelab:\n  mesh_ip: 10.42.0.2\n",
                              0600)
                  .ok());
  auto failed = LoadFleet(bad);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().message().rfind(bad + ":3:9: mesh.cidr 10.42.0.0/24 is narrower", 0),
            0u)
      << failed.status().message();
}

}  // namespace
}  // namespace carrierarr::spec
