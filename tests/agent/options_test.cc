#include "agent/options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace carrierarr::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

Result<AgentOptions> Parse(std::vector<std::string> args, const Environment& env = {}) {
  return ParseAgentOptions(args, env);
}

TEST(AgentOptionsTest, DefaultsWithOnlyTheControlPlane) {
  auto o = Parse({"--control-plane", "10.42.0.1:50051"});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->control_plane, "10.42.0.1:50051");
  EXPECT_FALSE(o->node_type_set);
  EXPECT_EQ(o->health_port, 8080);
  EXPECT_EQ(o->health_addr, "0.0.0.0");
  EXPECT_EQ(o->state_dir, "/var/lib/carrierarr-agent");
  EXPECT_EQ(o->nebula_dev, "nebula");
  EXPECT_TRUE(o->imds);
  EXPECT_EQ(o->imds_endpoint, "http://169.254.169.254");
  EXPECT_EQ(o->power_mode, PowerMode::kSystem);
  EXPECT_FALSE(o->allow_exec);
  EXPECT_EQ(o->k3s_kubeconfig, "/etc/rancher/k3s/k3s.yaml");
  EXPECT_FALSE(o->allow_kubeconfig_fetch) << "it hands out the cluster's admin key";
  EXPECT_EQ(o->backoff_initial, std::chrono::seconds(1));
  EXPECT_EQ(o->backoff_max, std::chrono::seconds(60));
  EXPECT_EQ(o->status_interval, std::chrono::seconds(30));
  EXPECT_EQ(o->heartbeat_interval, std::chrono::seconds(10));
  EXPECT_TRUE(o->token.empty());
  EXPECT_TRUE(o->token_file.empty());
  EXPECT_TRUE(o->labels.empty());
}

TEST(AgentOptionsTest, EveryFlag) {
  auto o = Parse({"-control-plane=cp.example:443",
                  "--type",
                  "lighthouse",
                  "--node-id",
                  "lh-1",
                  "--health-port",
                  "0",
                  "--health-addr",
                  "127.0.0.1",
                  "--instance-id",
                  "i-0abc",
                  "--nebula-ip",
                  "10.42.0.5",
                  "--nebula-dev",
                  "nebula9",
                  "--public-ip",
                  "203.0.113.7",
                  "--region",
                  "eu-west-1",
                  "--az",
                  "eu-west-1a",
                  "--label",
                  "zone=a, gpu=none",
                  "--label=team=ml",
                  "--token-file",
                  "/run/secrets/token",
                  "--state-dir",
                  "/tmp/s",
                  "--tls-ca",
                  "/etc/ca.pem",
                  "--tls-server-name",
                  "cp.internal",
                  "--imds",
                  "off",
                  "--imds-endpoint",
                  "http://127.0.0.1:9",
                  "--ollama-url",
                  "http://127.0.0.1:11500",
                  "--nvidia-smi",
                  "/opt/nvidia-smi",
                  "--kubectl",
                  "/opt/kubectl",
                  "--systemctl",
                  "/opt/systemctl",
                  "--allow-exec",
                  "--k3s-kubeconfig",
                  "/srv/k3s.yaml",
                  "--allow-kubeconfig-fetch",
                  "--power-mode",
                  "exit",
                  "--backoff-initial",
                  "250ms",
                  "--backoff-max",
                  "2m",
                  "--status-interval",
                  "5s",
                  "--heartbeat-interval",
                  "2s"});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->control_plane, "cp.example:443");
  EXPECT_TRUE(o->node_type_set);
  EXPECT_EQ(o->node_type, ec2agent::v1::NODE_TYPE_LIGHTHOUSE);
  EXPECT_EQ(o->node_id, "lh-1");
  EXPECT_EQ(o->health_port, 0);
  EXPECT_EQ(o->health_addr, "127.0.0.1");
  EXPECT_EQ(o->instance_id, "i-0abc");
  EXPECT_EQ(o->nebula_ip, "10.42.0.5");
  EXPECT_EQ(o->nebula_dev, "nebula9");
  EXPECT_EQ(o->public_ip, "203.0.113.7");
  EXPECT_EQ(o->region, "eu-west-1");
  EXPECT_EQ(o->az, "eu-west-1a");
  EXPECT_EQ(o->labels,
            (std::map<std::string, std::string>{{"zone", "a"}, {"gpu", "none"}, {"team", "ml"}}));
  EXPECT_EQ(o->token_file, "/run/secrets/token");
  EXPECT_EQ(o->state_dir, "/tmp/s");
  EXPECT_EQ(o->tls_ca, "/etc/ca.pem");
  EXPECT_EQ(o->tls_server_name, "cp.internal");
  EXPECT_FALSE(o->imds);
  EXPECT_EQ(o->imds_endpoint, "http://127.0.0.1:9");
  EXPECT_EQ(o->ollama_url, "http://127.0.0.1:11500");
  EXPECT_EQ(o->nvidia_smi, "/opt/nvidia-smi");
  EXPECT_EQ(o->kubectl, "/opt/kubectl");
  EXPECT_EQ(o->systemctl, "/opt/systemctl");
  EXPECT_TRUE(o->allow_exec);
  EXPECT_EQ(o->k3s_kubeconfig, "/srv/k3s.yaml");
  EXPECT_TRUE(o->allow_kubeconfig_fetch);
  EXPECT_EQ(o->power_mode, PowerMode::kExit);
  EXPECT_EQ(o->backoff_initial, std::chrono::milliseconds(250));
  EXPECT_EQ(o->backoff_max, std::chrono::minutes(2));
  EXPECT_EQ(o->status_interval, std::chrono::seconds(5));
  EXPECT_EQ(o->heartbeat_interval, std::chrono::seconds(2));
}

TEST(AgentOptionsTest, NodeTypes) {
  for (auto [name, type] : {std::pair{"gpu-worker", ec2agent::v1::NODE_TYPE_GPU_WORKER},
                            std::pair{"cpu-worker", ec2agent::v1::NODE_TYPE_CPU_WORKER},
                            std::pair{"lighthouse", ec2agent::v1::NODE_TYPE_LIGHTHOUSE}}) {
    auto o = Parse({"--control-plane", "h:1", "--type", name});
    ASSERT_TRUE(o.ok()) << name;
    EXPECT_EQ(o->node_type, type);
    EXPECT_EQ(NodeTypeName(type), name);
  }
}

TEST(AgentOptionsTest, ControlPlaneIsRequiredAndTheErrorNamesFlagAndVariable) {
  auto o = Parse({});
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(o.status().message(), HasSubstr("-control-plane"));
  EXPECT_THAT(o.status().message(), HasSubstr("CONTROL_PLANE_ADDR"));
}

TEST(AgentOptionsTest, EnvironmentFallbacksAndFlagsWin) {
  Environment env{
      {{"CONTROL_PLANE_ADDR", "10.0.0.1:50051"}, {"CARRIERARR_TOKEN_FILE", "/env/tok"}}};
  auto o = Parse({}, env);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->control_plane, "10.0.0.1:50051");
  EXPECT_EQ(o->token_file, "/env/tok");

  auto f = Parse({"--control-plane", "10.0.0.2:1", "--token", "flagtok"}, env);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->control_plane, "10.0.0.2:1");
  EXPECT_EQ(f->token, "flagtok");
  EXPECT_TRUE(f->token_file.empty()) << "a token flag replaces the environment's token file";

  Environment tok{{{"CONTROL_PLANE_ADDR", "unix:/run/cp.sock"}, {"CARRIERARR_TOKEN", "envtok"}}};
  auto t = Parse({}, tok);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->control_plane, "unix:/run/cp.sock");
  EXPECT_EQ(t->token, "envtok");
}

TEST(AgentOptionsTest, BadEnvironmentAddressNamesTheVariable) {
  auto o = Parse({}, Environment{{{"CONTROL_PLANE_ADDR", "nope"}}});
  ASSERT_FALSE(o.ok());
  EXPECT_THAT(o.status().message(), HasSubstr("CONTROL_PLANE_ADDR"));
  EXPECT_THAT(o.status().message(), HasSubstr("\"nope\""));
}

TEST(AgentOptionsTest, TokenNeverAppearsInErrors) {
  const std::string secret = "s3cr3t-token-value";
  auto both = Parse({"--control-plane", "h:1", "--token", secret, "--token-file", "/f"});
  ASSERT_FALSE(both.ok());
  EXPECT_THAT(both.status().message(), HasSubstr("mutually exclusive"));
  EXPECT_THAT(both.status().message(), Not(HasSubstr(secret)));

  Environment env{{{"CARRIERARR_TOKEN", secret}, {"CARRIERARR_TOKEN_FILE", "/f"}}};
  auto env_both = Parse({"--control-plane", "h:1"}, env);
  ASSERT_FALSE(env_both.ok());
  EXPECT_THAT(env_both.status().message(), Not(HasSubstr(secret)));

  auto later = Parse({"--token", secret, "--health-port", "70000", "--control-plane", "h:1"});
  ASSERT_FALSE(later.ok());
  EXPECT_THAT(later.status().message(), Not(HasSubstr(secret)));
}

TEST(AgentOptionsTest, BadValuesNameTheirFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string flag;
  };
  const std::vector<Case> cases = {
      {{"--control-plane", "host"}, "-control-plane"},
      {{"--control-plane", "host:0"}, "-control-plane"},
      {{"--control-plane", "host:99999"}, "-control-plane"},
      {{"--control-plane", ":50051"}, "-control-plane"},
      {{"--control-plane", "a:b:1"}, "-control-plane"},
      {{"--type", "gpu"}, "-type"},
      {{"--health-port", "65536"}, "-health-port"},
      {{"--health-port", "-1"}, "-health-port"},
      {{"--health-port", "eighty"}, "-health-port"},
      {{"--label", "novalue"}, "-label"},
      {{"--label", "=v"}, "-label"},
      {{"--imds", "maybe"}, "-imds"},
      {{"--imds-endpoint", "169.254.169.254"}, "-imds-endpoint"},
      {{"--imds-endpoint", "http://169.254.169.254/latest"}, "-imds-endpoint"},
      {{"--ollama-url", "localhost:11434"}, "-ollama-url"},
      // Plain HTTP on the node only (agent/http_client.h): no TLS, no path, a valid port.
      {{"--ollama-url", "https://127.0.0.1:11434"}, "https:// is not supported"},
      {{"--ollama-url", "http://127.0.0.1:11434/api"}, "-ollama-url"},
      {{"--ollama-url", "http://127.0.0.1:0"}, "-ollama-url"},
      {{"--power-mode", "halt"}, "-power-mode"},
      {{"--backoff-initial", "0s"}, "-backoff-initial"},
      {{"--backoff-initial", "10s", "--backoff-max", "5s"}, "-backoff-max"},
      {{"--status-interval", "100ms"}, "-status-interval"},
      {{"--heartbeat-interval", "0s"}, "-heartbeat-interval"},
      {{"--heartbeat-interval", "soon"}, "-heartbeat-interval"},
      {{"--tls-server-name", "cp"}, "-tls-server-name"},
      {{"--node-id", ""}, "-node-id"},
      {{"--nvidia-smi", ""}, "-nvidia-smi"},
      {{"--no-such-flag"}, "-no-such-flag"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"--control-plane", "h:1"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    auto o = Parse(args);
    ASSERT_FALSE(o.ok()) << c.args[0] << " " << (c.args.size() > 1 ? c.args[1] : "");
    EXPECT_EQ(o.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(o.status().message(), HasSubstr(c.flag)) << o.status().message();
  }
}

TEST(AgentOptionsTest, PositionalArgumentsAreRefused) {
  auto o = Parse({"--control-plane", "h:1", "extra"});
  ASSERT_FALSE(o.ok());
  EXPECT_THAT(o.status().message(), HasSubstr("\"extra\""));
}

TEST(AgentOptionsTest, HelpAndVersionNeedNothingElse) {
  for (const char* h : {"-h", "--help", "-help"}) {
    auto o = Parse({h});
    ASSERT_TRUE(o.ok()) << h;
    EXPECT_TRUE(o->help);
  }
  auto v = Parse({"--version"});
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->version);
}

TEST(AgentOptionsTest, UsageListsTheFlagsAndRecommendsTheTokenFile) {
  std::string usage = AgentUsage();
  for (const char* flag : {"-control-plane",
                           "-type",
                           "-node-id",
                           "-health-port",
                           "-health-addr",
                           "-instance-id",
                           "-nebula-ip",
                           "-public-ip",
                           "-region",
                           "-az",
                           "-label",
                           "-token",
                           "-token-file",
                           "-state-dir",
                           "-tls-ca",
                           "-tls-server-name",
                           "-imds",
                           "-imds-endpoint",
                           "-ollama-url",
                           "-allow-exec",
                           "-k3s-kubeconfig",
                           "-allow-kubeconfig-fetch",
                           "-power-mode",
                           "-backoff-initial",
                           "-backoff-max",
                           "-status-interval",
                           "-heartbeat-interval",
                           "-version"}) {
    const std::string line = std::string("\n  ") + flag;
    EXPECT_TRUE(usage.find(line + " ") != std::string::npos ||
                usage.find(line + "\n") != std::string::npos)
        << flag;
  }
  EXPECT_THAT(usage, HasSubstr("prefer -token-file"));
  EXPECT_THAT(usage, HasSubstr("CONTROL_PLANE_ADDR"));
}

}  // namespace
}  // namespace carrierarr::agent
