// Nebula configs rendered from the address plan: the YAML is what nebula reads (checked field by
// field with yaml-cpp), firewall rules are by group per role, and the real `nebula -test` accepts
// the configs with certificates our library mints. `nebula -test` loads the certificates, the
// firewall and the lighthouse map and exits without opening a tun device: no root needed.
#include "mesh/nebula_config.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <string>
#include <tuple>
#include <vector>

#include "core/file_util.h"
#include "pki/authority.h"
#include "testing/tools.h"

namespace carrierarr::mesh {
namespace {

using ::carrierarr::testing::RequireProgram;
using ::carrierarr::testing::RunIn;
using ::carrierarr::testing::ScratchDir;
using spec::FleetSpec;
using spec::PoolType;

// port, proto, host, group: one inbound or outbound rule as nebula reads it.
using Rule = std::tuple<std::string, std::string, std::string, std::string>;

FleetSpec DemoFleet() {
  FleetSpec fleet;
  fleet.pools = {{.name = "gpu",
                  .type = PoolType::kGpuWorker,
                  .count = 1,
                  .groups = {"workers", "gpu-compute"}},
                 {.name = "cpu", .type = PoolType::kCpuWorker, .count = 1, .groups = {"aws"}}};
  return fleet;
}

// lighthouse, homelab, gpu-1, cpu-1.
std::vector<NodePlan> DemoNodes() {
  auto nodes = PlanNodes(DemoFleet(), {});
  EXPECT_TRUE(nodes.ok()) << nodes.status().ToString();
  if (!nodes.ok()) return {};
  EXPECT_EQ(nodes->size(), 4u);
  return *nodes;
}

NebulaConfigInput InputFor(const NodePlan& node, const std::string& dir = "/etc/nebula") {
  NebulaConfigInput in;
  in.node = node;
  in.ca_path = dir + "/ca.crt";
  in.cert_path = dir + "/" + node.name + ".crt";
  in.key_path = dir + "/" + node.name + ".key";
  in.lighthouse_mesh_ip = 0x0a2a0001;  // 10.42.0.1
  in.lighthouse_endpoint = "198.18.0.1:4242";
  return in;
}

YAML::Node Load(const std::string& text) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    ADD_FAILURE() << "rendered config is not YAML: " << e.what() << "\n" << text;
    return YAML::Node();
  }
}

std::vector<Rule> RulesOf(const YAML::Node& list) {
  std::vector<Rule> out;
  EXPECT_TRUE(list.IsSequence());
  for (const auto& r : list) {
    out.emplace_back(r["port"].as<std::string>(""), r["proto"].as<std::string>(""),
                     r["host"].as<std::string>(""), r["group"].as<std::string>(""));
  }
  return out;
}

TEST(NebulaConfigTest, LighthouseConfig) {
  const auto nodes = DemoNodes();
  ASSERT_EQ(nodes.size(), 4u);
  NebulaConfigInput in = InputFor(nodes[0]);
  in.listen_port = 4343;
  const std::string text = RenderNebulaConfig(in);
  EXPECT_EQ(text.rfind("# Nebula config for lighthouse (lighthouse, 10.42.0.1).", 0), 0u) << text;
  const YAML::Node y = Load(text);
  ASSERT_TRUE(y.IsMap()) << text;

  EXPECT_EQ(y["pki"]["ca"].as<std::string>(), "/etc/nebula/ca.crt");
  EXPECT_EQ(y["pki"]["cert"].as<std::string>(), "/etc/nebula/lighthouse.crt");
  EXPECT_EQ(y["pki"]["key"].as<std::string>(), "/etc/nebula/lighthouse.key");
  ASSERT_TRUE(y["static_host_map"].IsMap());
  EXPECT_EQ(y["static_host_map"].size(), 1u);
  EXPECT_EQ(y["static_host_map"]["10.42.0.1"].as<std::vector<std::string>>(),
            std::vector<std::string>{"198.18.0.1:4242"});
  EXPECT_TRUE(y["lighthouse"]["am_lighthouse"].as<bool>());
  EXPECT_EQ(y["lighthouse"]["interval"].as<int>(), 60);
  ASSERT_TRUE(y["lighthouse"]["hosts"].IsSequence());
  EXPECT_EQ(y["lighthouse"]["hosts"].size(), 0u);
  EXPECT_EQ(y["listen"]["host"].as<std::string>(), "0.0.0.0");
  EXPECT_EQ(y["listen"]["port"].as<int>(), 4343);
  EXPECT_TRUE(y["punchy"]["punch"].as<bool>());
  EXPECT_TRUE(y["punchy"]["respond"].as<bool>());
  EXPECT_FALSE(y["tun"]["disabled"].as<bool>());
  EXPECT_EQ(y["tun"]["dev"].as<std::string>(), "nebula1");
  EXPECT_EQ(y["tun"]["mtu"].as<int>(), 1300);
  EXPECT_EQ(RulesOf(y["firewall"]["outbound"]), (std::vector<Rule>{{"any", "any", "any", ""}}));
  // Ping from anyone; its agent's health port only from the homelab (the control plane).
  EXPECT_EQ(RulesOf(y["firewall"]["inbound"]),
            (std::vector<Rule>{{"any", "icmp", "any", ""}, {"8080", "tcp", "", "homelab"}}));
}

TEST(NebulaConfigTest, NonLighthousesPointAtTheLighthouseAndListenOnAnyPort) {
  const auto nodes = DemoNodes();
  ASSERT_EQ(nodes.size(), 4u);
  for (size_t i = 1; i < nodes.size(); ++i) {
    SCOPED_TRACE(nodes[i].name);
    NebulaConfigInput in = InputFor(nodes[i]);
    in.listen_port = 4343;  // only the lighthouse uses it
    const std::string text = RenderNebulaConfig(in);
    EXPECT_EQ(text.rfind("# Nebula config for " + nodes[i].name + " (" +
                             std::string(RoleName(nodes[i].role)) + ", " +
                             FormatIpv4(nodes[i].mesh_ip) + ").",
                         0),
              0u)
        << text;
    const YAML::Node y = Load(text);
    ASSERT_TRUE(y.IsMap()) << text;
    EXPECT_EQ(y["pki"]["cert"].as<std::string>(), "/etc/nebula/" + nodes[i].name + ".crt");
    EXPECT_EQ(y["pki"]["key"].as<std::string>(), "/etc/nebula/" + nodes[i].name + ".key");
    EXPECT_EQ(y["static_host_map"]["10.42.0.1"].as<std::vector<std::string>>(),
              std::vector<std::string>{"198.18.0.1:4242"});
    EXPECT_FALSE(y["lighthouse"]["am_lighthouse"].as<bool>());
    EXPECT_EQ(y["lighthouse"]["hosts"].as<std::vector<std::string>>(),
              std::vector<std::string>{"10.42.0.1"});
    EXPECT_EQ(y["listen"]["port"].as<int>(), 0);
    EXPECT_TRUE(y["punchy"]["punch"].as<bool>());
    EXPECT_TRUE(y["punchy"]["respond"].as<bool>());
  }
}

TEST(NebulaConfigTest, DefaultTunDeviceFitsTheKernelLimit) {
  const NebulaConfigInput defaults;
  EXPECT_LE(defaults.tun_dev.size(), kMaxDeviceName);
  EXPECT_EQ(kMaxDeviceName, 15u);  // IFNAMSIZ - 1
  const auto nodes = DemoNodes();
  ASSERT_FALSE(nodes.empty());
  NebulaConfigInput in = InputFor(nodes[2]);
  in.tun_dev = "demo-gpu1-neb0";
  const YAML::Node y = Load(RenderNebulaConfig(in));
  EXPECT_EQ(y["tun"]["dev"].as<std::string>(), "demo-gpu1-neb0");
}

TEST(NebulaConfigTest, FirewallRulesByGroupPerRole) {
  struct Case {
    std::string name;
    Role role;
    uint16_t grpc_port, http_port;
    std::vector<Rule> want;
  };
  const Rule icmp{"any", "icmp", "any", ""};
  const Case cases[] = {
      {"Lighthouse", Role::kLighthouse, 50051, 8090, {icmp, {"8080", "tcp", "", "homelab"}}},
      {"Homelab",
       Role::kHomelab,
       50051,
       8090,
       {icmp,
        {"50051", "tcp", "", "workers"},
        {"50051", "tcp", "", "lighthouse"},
        {"8090", "tcp", "", "workers"},
        {"32379-32380", "tcp", "", "workers"}}},
      {"HomelabCustomPorts",
       Role::kHomelab,
       6000,
       7000,
       {icmp,
        {"6000", "tcp", "", "workers"},
        {"6000", "tcp", "", "lighthouse"},
        {"7000", "tcp", "", "workers"},
        {"32379-32380", "tcp", "", "workers"}}},
      {"Worker",
       Role::kWorker,
       50051,
       8090,
       {icmp,
        {"22", "tcp", "", "homelab"},
        {"6443", "tcp", "", "homelab"},
        {"8080", "tcp", "", "homelab"},
        {"11434", "tcp", "", "homelab"},
        {"32379-32380", "tcp", "", "homelab"},
        {"any", "any", "", "workers"}}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<Rule> direct;
    for (const auto& r : InboundRules(c.role, c.grpc_port, c.http_port)) {
      direct.emplace_back(r.port, r.proto, r.host, r.group);
    }
    EXPECT_EQ(direct, c.want);

    // The same rules come out of the rendered YAML, and the outbound side is open.
    NebulaConfigInput in = InputFor({.name = "n", .role = c.role, .mesh_ip = 0x0a2a0205});
    in.grpc_port = c.grpc_port;
    in.http_port = c.http_port;
    const YAML::Node y = Load(RenderNebulaConfig(in));
    EXPECT_EQ(RulesOf(y["firewall"]["inbound"]), c.want);
    EXPECT_EQ(RulesOf(y["firewall"]["outbound"]), (std::vector<Rule>{{"any", "any", "any", ""}}));
  }
}

TEST(NebulaConfigTest, QuotesPathsSoAnyCharacterSurvives) {
  const auto nodes = DemoNodes();
  ASSERT_FALSE(nodes.empty());
  NebulaConfigInput in = InputFor(nodes[2]);
  in.ca_path = "/srv/my fleet/ca \"2024\".crt";
  in.cert_path = "/srv/a: b/#c.crt";
  in.key_path = "C:\\keys\\gpu-1.key";
  const YAML::Node y = Load(RenderNebulaConfig(in));
  EXPECT_EQ(y["pki"]["ca"].as<std::string>(), in.ca_path);
  EXPECT_EQ(y["pki"]["cert"].as<std::string>(), in.cert_path);
  EXPECT_EQ(y["pki"]["key"].as<std::string>(), in.key_path);
}

// Mints a CA and one certificate per node (with the node's groups and its address in the /16)
// into `dir`, and writes each node's rendered config there. Returns the config paths.
std::vector<std::string> WriteFleet(const ScratchDir& dir, const std::vector<NodePlan>& nodes) {
  const auto now = std::chrono::system_clock::now();
  auto ca = pki::CreateCa({.name = "demo-mesh", .duration = std::chrono::hours(24)}, now);
  EXPECT_TRUE(ca.ok()) << ca.status().ToString();
  if (!ca.ok()) return {};
  auto authority = pki::CertificateAuthority::Create(ca->cert, ca->private_key);
  EXPECT_TRUE(authority.ok()) << authority.status().ToString();
  if (!authority.ok()) return {};
  EXPECT_TRUE(WriteFileAtomic(dir / "ca.crt", ca->CertPem(), 0600).ok());
  std::vector<std::string> configs;
  for (const auto& node : nodes) {
    auto host = authority->Sign({.name = node.name,
                                 .ip = {node.mesh_ip, PrefixToMask(pki::kMeshPrefix)},
                                 .groups = node.groups},
                                now);
    EXPECT_TRUE(host.ok()) << node.name << ": " << host.status().ToString();
    if (!host.ok()) return {};
    NebulaConfigInput in = InputFor(node, dir.path());
    in.lighthouse_endpoint = "127.0.0.1:4242";
    EXPECT_TRUE(WriteFileAtomic(in.cert_path, host->CertPem(), 0600).ok());
    EXPECT_TRUE(WriteFileAtomic(in.key_path, host->KeyPem(), 0600).ok());
    configs.push_back(dir / (node.name + ".yml"));
    EXPECT_TRUE(WriteFileAtomic(configs.back(), RenderNebulaConfig(in), 0600).ok());
  }
  return configs;
}

TEST(NebulaConfigTest, RealNebulaAcceptsEveryRole) {
  const std::string nebula = RequireProgram("nebula", "nebula");
  ASSERT_FALSE(nebula.empty());
  ScratchDir dir;
  const auto nodes = DemoNodes();
  ASSERT_EQ(nodes.size(), 4u);
  const auto configs = WriteFleet(dir, nodes);
  ASSERT_EQ(configs.size(), nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    SCOPED_TRACE(nodes[i].name);
    RunResult run = RunIn(dir.path(), {nebula, "-test", "-config", configs[i]});
    const std::string log = run.out + run.err;  // nebula logs to stdout
    ASSERT_FALSE(run.signaled) << "signal " << run.signal << (run.timed_out ? " (timed out)" : "");
    EXPECT_EQ(run.exit_code, 0) << log;
    EXPECT_EQ(log.find("level=error"), std::string::npos) << log;
  }
}

TEST(NebulaConfigTest, RealNebulaReadsTheFirewallWeRender) {
  // A control for the test above: nebula -test does judge the firewall section, so a broken
  // rule in an otherwise identical config fails.
  const std::string nebula = RequireProgram("nebula", "nebula");
  ASSERT_FALSE(nebula.empty());
  ScratchDir dir;
  const auto nodes = DemoNodes();
  ASSERT_EQ(nodes.size(), 4u);
  const auto configs = WriteFleet(dir, {nodes[2]});
  ASSERT_EQ(configs.size(), 1u);
  std::string text = ::carrierarr::testing::Slurp(configs[0]);
  const std::string good = "proto: tcp";
  const size_t at = text.find(good);
  ASSERT_NE(at, std::string::npos) << text;
  text.replace(at, good.size(), "proto: sctp");
  ASSERT_TRUE(WriteFileAtomic(configs[0], text, 0600).ok());
  RunResult run = RunIn(dir.path(), {nebula, "-test", "-config", configs[0]});
  const std::string log = run.out + run.err;
  EXPECT_NE(run.exit_code, 0) << log;
  EXPECT_NE(log.find("sctp"), std::string::npos) << log;
}

}  // namespace
}  // namespace carrierarr::mesh
