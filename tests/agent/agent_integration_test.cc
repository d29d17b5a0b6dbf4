// The real worker agent (AgentClient) against the real control plane (control_plane::Server), both
// in this process, over gRPC on loopback, with a SQLite store in a scratch directory. What cannot
// run here stands in as fakes: kubectl and systemctl are scripts that record their argv, Ollama
// is an HTTP server on 127.0.0.1, and SHUTDOWN/REBOOT/DRAIN power off through a recording hook
// (power mode "exit"). Every wait is bounded.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/client.h"
#include "control_plane/control_plane.h"
#include "control_plane/server.h"
#include "core/file_util.h"
#include "core/subprocess.h"
#include "testing/eventually.h"
#include "testing/fake_ollama.h"
#include "testing/tools.h"

namespace carrierarr::agent {
namespace {

namespace v1 = ::ec2agent::v1;
using ::carrierarr::testing::Eventually;
using ::carrierarr::testing::FakeOllama;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kNode[] = "node-int";
constexpr auto kCommandDeadline = seconds(10);

class AgentIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kubectl_ = FakeTool("kubectl");
    systemctl_ = FakeTool("systemctl");
    StartServer(0);
  }

  void TearDown() override {
    for (auto& c : clients_) c->Stop();
    clients_.clear();
    if (server_) server_->Shutdown();
    server_.reset();
  }

  // Starts the control plane on 127.0.0.1:`port` (0: any). A fixed port that is not free yet
  // (the previous server's socket) is retried for up to 5 s.
  void StartServer(int port) {
    control_plane::ServeOptions o;
    o.db = dir_ / "fleet.db";
    o.state_dir = dir_ / "cp-state";
    o.grpc_listen = {"127.0.0.1:" + std::to_string(port)};
    o.http_listen = "";
    o.status_interval = seconds(1);
    o.batch_delay = milliseconds(5);
    o.allow_exec = true;
    const auto deadline = std::chrono::steady_clock::now() + seconds(5);
    for (;;) {
      auto s = control_plane::Server::Start(o);
      if (s.ok()) {
        server_ = std::move(*s);
        break;
      }
      ASSERT_TRUE(port != 0 && std::chrono::steady_clock::now() < deadline)
          << s.status().ToString();
      std::this_thread::sleep_for(milliseconds(50));
    }
    ASSERT_GT(server_->grpc_port(), 0);
    if (port != 0) {
      ASSERT_EQ(server_->grpc_port(), port);
    }
  }

  control_plane::ControlPlane& cp() { return server_->control_plane(); }

  std::string NewToken(const std::string& node_id) {
    carrierarr::v1::CreateTokenRequest req;
    req.set_max_uses(1);
    req.set_ttl_seconds(3600);
    req.set_name("integration");
    req.set_node_id(node_id);
    auto r = cp().CreateToken(req);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->secret() : "";
  }

  // A script that appends each argument on its own line, then "--", to <name>.log.
  std::string FakeTool(const std::string& name) {
    const std::string path = dir_ / name;
    const std::string log = dir_ / (name + ".log");
    std::string script = "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done >> '" + log +
                         "'\necho -- >> '" + log + "'\necho \"" + name + " $1 ok\"\n";
    EXPECT_TRUE(WriteFileAtomic(path, script, 0755).ok());
    return path;
  }
  std::string ToolLog(const std::string& name) {
    const std::string path = dir_ / (name + ".log");
    return PathExists(path) ? testing::Slurp(path) : "";
  }

  ClientOptions Options(const std::string& node_id, bool allow_exec = true) {
    ClientOptions o;
    o.control_plane = "127.0.0.1:" + std::to_string(server_->grpc_port());
    o.identity.set_node_id(node_id);
    o.identity.set_node_type(v1::NODE_TYPE_CPU_WORKER);
    o.identity.set_region("local");
    o.token = NewToken(node_id);
    o.state_dir = dir_ / ("agent-" + node_id);
    o.backoff_initial = milliseconds(20);
    o.backoff_max = milliseconds(200);
    o.power_ack_wait = seconds(5);
    o.collector.nvidia_smi = dir_ / "no-nvidia-smi";
    o.collector.ollama_url = ollama_.url();
    o.runner.allow_exec = allow_exec;
    o.runner.power_mode = PowerMode::kExit;
    o.runner.kubectl = kubectl_;
    o.runner.systemctl = systemctl_;
    o.runner.ollama_url = ollama_.url();
    o.runner.node_name = node_id;
    o.hooks.power = [this](bool reboot) {
      std::lock_guard<std::mutex> lock(mu_);
      power_calls_.push_back(reboot ? "reboot" : "power off");
    };
    o.version = "integration";
    o.log = [this, node_id](const std::string& line) {
      std::lock_guard<std::mutex> lock(mu_);
      log_ += node_id + ": " + line + "\n";
    };
    return o;
  }

  AgentClient* StartAgent(ClientOptions o) {
    clients_.push_back(std::make_unique<AgentClient>(std::move(o)));
    Status s = clients_.back()->Start();
    EXPECT_TRUE(s.ok()) << s.ToString();
    return clients_.back().get();
  }

  // Starts the agent and waits (bounded) until the control plane has it connected.
  AgentClient* StartConnectedAgent(ClientOptions o) {
    const std::string id = o.identity.node_id();
    AgentClient* c = StartAgent(std::move(o));
    EXPECT_TRUE(c->WaitConnected(seconds(10))) << c->last_error() << "\n" << Log();
    EXPECT_EQ(c->node_id(), id);
    return c;
  }

  carrierarr::v1::CommandRecord Run(const std::string& node, v1::CommandType type,
                                    std::map<std::string, std::string> args = {},
                                    std::vector<std::string> argv = {}) {
    carrierarr::v1::SendCommandRequest req;
    req.set_node_id(node);
    req.set_type(type);
    for (auto& [k, v] : args) (*req.mutable_args())[k] = v;
    for (auto& a : argv) req.add_argv(a);
    req.set_timeout_seconds(30);
    auto sent = cp().SendCommand(req);
    EXPECT_TRUE(sent.ok()) << sent.status().ToString();
    if (!sent.ok()) return {};
    auto done = cp().WaitCommand(sent->command_id(), kCommandDeadline);
    EXPECT_TRUE(done.ok()) << done.status().ToString();
    return done.ok() ? *done : carrierarr::v1::CommandRecord{};
  }

  std::vector<std::string> PowerCalls() {
    std::lock_guard<std::mutex> lock(mu_);
    return power_calls_;
  }
  std::string Log() {
    std::lock_guard<std::mutex> lock(mu_);
    return log_;
  }
  std::vector<std::string> NodeIds() {
    std::vector<std::string> ids;
    for (const auto& n : cp().ListNodes()) ids.push_back(n.node_id());
    return ids;
  }

  testing::ScratchDir dir_;
  FakeOllama ollama_;
  std::string kubectl_, systemctl_;
  std::unique_ptr<control_plane::Server> server_;
  std::vector<std::unique_ptr<AgentClient>> clients_;
  std::mutex mu_;
  std::vector<std::string> power_calls_;
  std::string log_;
};

TEST_F(AgentIntegrationTest, EveryCommandTypeRoundTripsThroughTheRealAgent) {
  AgentClient* agent = StartConnectedAgent(Options(kNode));
  ASSERT_TRUE(agent->connected());
  // The control plane's ConfigUpdate applies (status interval 1 s).
  EXPECT_TRUE(Eventually([&] { return agent->status_interval() == seconds(1); }));

  auto shutdown = Run(kNode, v1::COMMAND_TYPE_SHUTDOWN);
  EXPECT_EQ(shutdown.state(), "succeeded") << shutdown.result().error() << "\n" << Log();
  EXPECT_TRUE(shutdown.result().success());
  EXPECT_TRUE(Eventually([&] { return PowerCalls().size() == 1; })) << Log();
  EXPECT_EQ(PowerCalls(), std::vector<std::string>{"power off"});

  auto reboot = Run(kNode, v1::COMMAND_TYPE_REBOOT);
  EXPECT_EQ(reboot.state(), "succeeded") << reboot.result().error();
  EXPECT_TRUE(Eventually([&] { return PowerCalls().size() == 2; })) << Log();
  EXPECT_EQ(PowerCalls(), (std::vector<std::string>{"power off", "reboot"}));

  auto drain = Run(kNode, v1::COMMAND_TYPE_DRAIN, {{"timeout", "45"}});
  EXPECT_EQ(drain.state(), "succeeded") << drain.result().error();
  EXPECT_THAT(drain.result().stdout(), HasSubstr("kubectl cordon ok"));
  EXPECT_THAT(drain.result().stdout(), HasSubstr("kubectl drain ok"));
  const std::string kubectl_log = ToolLog("kubectl");
  EXPECT_THAT(kubectl_log, HasSubstr("cordon\nnode-int\n--\n"));
  EXPECT_THAT(kubectl_log,
              HasSubstr("drain\nnode-int\n--ignore-daemonsets\n--delete-emptydir-data\n"));
  EXPECT_THAT(kubectl_log, Not(HasSubstr("--force")));
  EXPECT_TRUE(Eventually([&] { return PowerCalls().size() == 3; })) << Log();
  EXPECT_EQ(PowerCalls(), (std::vector<std::string>{"power off", "reboot", "power off"}));

  auto pull = Run(kNode, v1::COMMAND_TYPE_PULL_MODEL, {{"model", "qwen2:0.5b"}});
  EXPECT_EQ(pull.state(), "succeeded") << pull.result().error();
  EXPECT_EQ(pull.result().stdout(), "pulled qwen2:0.5b");
  auto unload = Run(kNode, v1::COMMAND_TYPE_UNLOAD_MODEL, {{"model", "llama3:8b"}});
  EXPECT_EQ(unload.state(), "succeeded") << unload.result().error();
  auto requests = ollama_.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].rfind("/api/pull ", 0), 0u);
  EXPECT_THAT(requests[0], HasSubstr("qwen2:0.5b"));
  EXPECT_EQ(requests[1].rfind("/api/generate ", 0), 0u);
  EXPECT_THAT(requests[1], HasSubstr("llama3:8b"));

  auto exec = Run(kNode, v1::COMMAND_TYPE_EXEC, {}, {"printf", "%s|%s\n", "a b", " c  d "});
  EXPECT_EQ(exec.state(), "succeeded") << exec.result().error();
  EXPECT_EQ(exec.result().exit_code(), 0);
  EXPECT_EQ(exec.result().stdout(), "a b| c  d \n");
  EXPECT_EQ(exec.result().stderr(), "");

  auto update = Run(kNode, v1::COMMAND_TYPE_UPDATE_CONFIG, {{"status_interval_sec", "7"}});
  EXPECT_EQ(update.state(), "succeeded") << update.result().error();
  EXPECT_TRUE(Eventually([&] { return agent->status_interval() == seconds(7); }))
      << agent->status_interval().count();

  auto restart = Run(kNode, v1::COMMAND_TYPE_RESTART_SERVICE, {{"service", "ollama"}});
  EXPECT_EQ(restart.state(), "succeeded") << restart.result().error();
  EXPECT_EQ(ToolLog("systemctl"), "restart\nollama.service\n--\n");

  auto failing = Run(kNode, v1::COMMAND_TYPE_EXEC, {}, {"sh", "-c", "echo oops >&2; exit 3"});
  EXPECT_EQ(failing.state(), "failed");
  EXPECT_FALSE(failing.result().success());
  EXPECT_EQ(failing.result().exit_code(), 3);
  EXPECT_EQ(failing.result().stderr(), "oops\n");

  // Only the three power commands ever reached the power hook.
  EXPECT_EQ(PowerCalls().size(), 3u);

  // A second agent that does not allow EXEC refuses it, though the fleet allows it.
  AgentClient* locked = StartConnectedAgent(Options("node-noexec", /*allow_exec=*/false));
  ASSERT_TRUE(locked->connected());
  auto refused = Run("node-noexec", v1::COMMAND_TYPE_EXEC, {}, {"echo", "never"});
  EXPECT_EQ(refused.state(), "failed");
  EXPECT_FALSE(refused.result().success());
  EXPECT_EQ(refused.result().stdout(), "");
  EXPECT_THAT(refused.result().error(), HasSubstr("EXEC is disabled on this agent"));
  EXPECT_THAT(refused.result().error(), HasSubstr("--allow-exec"));

  EXPECT_TRUE(Eventually([&] { return agent->unacked_results() == 0; }));
  EXPECT_THAT(Log(), Not(HasSubstr("PERMISSION_DENIED")));
}

// k3s's own admin kubeconfig, for 127.0.0.1 (trimmed; the data fields are stand-ins).
constexpr char kK3sKubeconfig[] =
    "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: Q0EtREFUQQ==\n"
    "    server: https://127.0.0.1:6443\n  name: default\ncontexts:\n- context:\n"
    "    cluster: default\n    user: default\n  name: default\ncurrent-context: default\n"
    "kind: Config\npreferences: {}\nusers:\n- name: default\n  user:\n"
    "    client-certificate-data: Q0VSVC1EQVRB\n    client-key-data: S0VZLURBVEEtU0VDUkVU\n";
constexpr char kAdminKey[] = "S0VZLURBVEEtU0VDUkVU";
constexpr char kLighthouseMeshIp[] = "10.100.0.1";

// The k3s server node's agent: its kubeconfig, a kubectl that lists one node NotReady for want
// of a CNI, and (when `allow`) --allow-kubeconfig-fetch.
ClientOptions K3sServer(ClientOptions o, const std::string& dir, bool allow) {
  const std::string kubeconfig = dir + "/k3s.yaml";
  EXPECT_TRUE(WriteFileAtomic(kubeconfig, kK3sKubeconfig, 0600).ok());
  const std::string kubectl = dir + "/k3s-kubectl";
  EXPECT_TRUE(WriteFileAtomic(kubectl,
                              "#!/bin/sh\ncat <<'EOF'\n"
                              R"({"kind":"List","items":[{"metadata":{"name":"lighthouse"},)"
                              R"("status":{"conditions":[{"type":"Ready","status":"False",)"
                              R"("reason":"KubeletNotReady","message":"cni plugin not )"
                              R"(initialized"}]}}]})"
                              "\nEOF\n",
                              0755)
                  .ok());
  o.identity.set_node_type(v1::NODE_TYPE_LIGHTHOUSE);
  o.identity.set_nebula_ip(kLighthouseMeshIp);
  o.collector.kubectl = kubectl;
  o.collector.k3s_kubeconfig = kubeconfig;
  o.runner.k3s_kubeconfig = kubeconfig;
  o.runner.allow_kubeconfig_fetch = allow;
  return o;
}

TEST_F(AgentIntegrationTest, KubeconfigComesThroughTheAgentRewrittenToTheMeshAndPrivate) {
  StartConnectedAgent(K3sServer(Options(kNode), dir_.path(), /*allow=*/true));
  // The status carries the cloud cluster, so 'carrierarr kubeconfig' finds the k3s server.
  ASSERT_TRUE(Eventually(
      [&] {
        auto node = cp().GetNode(kNode);
        return node.ok() && node->last_status().k3s_cluster_nodes_size() == 1;
      },
      seconds(5)))
      << Log();
  const auto cluster = cp().GetNode(kNode)->last_status().k3s_cluster_nodes(0);
  EXPECT_FALSE(cluster.ready());
  EXPECT_EQ(cluster.message(), "cni plugin not initialized");

  const std::string fleet_dir = dir_ / "fleet";
  auto run = carrierarr::Run({CARRIERARR_BINARY_DIR "/bin/carrierarr-fleet", "kubeconfig", "-f",
                              fleet_dir + "/fleet.yaml", "--server",
                              "127.0.0.1:" + std::to_string(server_->grpc_port()),
                              "--admin-token-file", dir_ / "cp-state/admin.token"});
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->exit_code, 0) << run->err << Log();
  const std::string path = fleet_dir + "/.carrierarr/k3s/kubeconfig";
  EXPECT_THAT(run->out, HasSubstr(path));
  EXPECT_THAT(run->out, HasSubstr("kubectl --kubeconfig " + path + " get nodes"));
  EXPECT_THAT(run->out + run->err, Not(HasSubstr(kAdminKey)));

  EXPECT_EQ(testing::ModeOf(path), 0600u);
  const std::string stored = testing::Slurp(path);
  EXPECT_THAT(stored, HasSubstr("server: https://10.100.0.1:6443"));
  EXPECT_THAT(stored, Not(HasSubstr("127.0.0.1")));
  EXPECT_THAT(stored, HasSubstr("certificate-authority-data: Q0EtREFUQQ=="));
  EXPECT_THAT(stored, HasSubstr(kAdminKey));

  // Neither the agent's log nor the control plane's store or events hold it.
  EXPECT_THAT(Log(), Not(HasSubstr(kAdminKey)));
  auto commands = cp().store().ListCommands(kNode, false);
  ASSERT_TRUE(commands.ok());
  ASSERT_FALSE(commands->empty());
  for (const auto& c : *commands) EXPECT_EQ(c.result.find(kAdminKey), std::string::npos);
  auto events = cp().store().ListEvents(0, 1000);
  ASSERT_TRUE(events.ok());
  for (const auto& e : *events) EXPECT_EQ(e.message.find(kAdminKey), std::string::npos);
}

TEST_F(AgentIntegrationTest, KubeconfigIsRefusedByAnAgentNotAllowedToHandItOut) {
  StartConnectedAgent(K3sServer(Options(kNode), dir_.path(), /*allow=*/false));
  const std::string out = dir_ / "kube.yaml";
  auto run = carrierarr::Run({CARRIERARR_BINARY_DIR "/bin/carrierarr-fleet", "kubeconfig", "--node",
                              kNode, "--out", out, "--server",
                              "127.0.0.1:" + std::to_string(server_->grpc_port()),
                              "--admin-token-file", dir_ / "cp-state/admin.token"});
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->exit_code, 1);
  EXPECT_THAT(run->err, HasSubstr("refuses to hand out the kubeconfig"));
  EXPECT_THAT(run->err, HasSubstr("--allow-kubeconfig-fetch"));
  EXPECT_FALSE(PathExists(out));

  auto missing =
      carrierarr::Run({CARRIERARR_BINARY_DIR "/bin/carrierarr-fleet", "kubeconfig", "--node",
                       "nosuch", "--server", "127.0.0.1:" + std::to_string(server_->grpc_port()),
                       "--admin-token-file", dir_ / "cp-state/admin.token"});
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->exit_code, 1);
  EXPECT_THAT(missing->err, HasSubstr("no node nosuch is registered"));
  EXPECT_THAT(missing->err, HasSubstr(kNode));
}

TEST_F(AgentIntegrationTest, StatusReachesTheStore) {
  AgentClient* agent = StartConnectedAgent(Options(kNode));
  ASSERT_TRUE(agent->connected());
  v1::NodeStatus status;
  ASSERT_TRUE(Eventually(
      [&] {
        auto rec = cp().store().GetNode(kNode);
        return rec.ok() && !rec->last_status.empty() && status.ParseFromString(rec->last_status) &&
               status.has_resources();
      },
      seconds(5)))
      << Log();
  EXPECT_EQ(status.node_id(), kNode);
  EXPECT_GT(status.resources().memory_total_mb(), 0);
  EXPECT_GT(status.resources().disk_total_mb(), 0);
  EXPECT_GT(status.uptime_seconds(), 0);

  // The admin view agrees.
  auto node = cp().GetNode(kNode);
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  EXPECT_EQ(node->lifecycle(), "connected");
  EXPECT_EQ(node->agent_version(), "integration");
  EXPECT_GT(node->capabilities().cpu_cores(), 0);
  EXPECT_TRUE(node->last_status().has_resources());
}

TEST_F(AgentIntegrationTest, AControlPlaneRestartLosesNothingAndTheAgentReconnects) {
  AgentClient* agent = StartConnectedAgent(Options(kNode));
  ASSERT_TRUE(agent->connected());
  auto before = Run(kNode, v1::COMMAND_TYPE_EXEC, {}, {"echo", "before restart"});
  ASSERT_EQ(before.state(), "succeeded") << before.result().error();
  ASSERT_EQ(before.result().stdout(), "before restart\n");
  ASSERT_TRUE(Eventually([&] { return agent->unacked_results() == 0; }));

  const int port = server_->grpc_port();
  server_->Shutdown();
  server_.reset();
  ASSERT_TRUE(Eventually([&] { return !agent->connected(); })) << Log();

  // The same database, state directory and port; the agent's single-use token is spent, so it
  // can only come back with its stored credential.
  StartServer(port);
  ASSERT_TRUE(server_);
  ASSERT_TRUE(agent->WaitConnected(seconds(10))) << agent->last_error() << "\n" << Log();
  EXPECT_GE(agent->metrics()->reconnects(), 1u);

  auto after = Run(kNode, v1::COMMAND_TYPE_EXEC, {}, {"echo", "after", "restart"});
  EXPECT_EQ(after.state(), "succeeded") << after.result().error() << "\n" << Log();
  EXPECT_EQ(after.result().stdout(), "after restart\n");

  EXPECT_EQ(NodeIds(), std::vector<std::string>{kNode});
  auto old = cp().GetCommand(before.command_id());
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(old->state(), "succeeded");
  EXPECT_EQ(old->node_id(), kNode);
  EXPECT_EQ(old->result().stdout(), "before restart\n");
  EXPECT_THAT(Log(), Not(HasSubstr("refused the stored credential")));
}

TEST_F(AgentIntegrationTest, ADeletedNodeCannotComeBackWithItsOldCredential) {
  AgentClient* agent = StartConnectedAgent(Options(kNode));
  ASSERT_TRUE(agent->connected());
  ASSERT_EQ(NodeIds(), std::vector<std::string>{kNode});

  Status s = cp().DeleteNode(kNode);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_TRUE(Eventually([&] { return !agent->connected(); })) << Log();

  // Its credential is gone and its token is used up: it keeps trying (backoff up to 200 ms),
  // and the control plane keeps refusing it.
  const auto end = std::chrono::steady_clock::now() + seconds(3);
  while (std::chrono::steady_clock::now() < end) {
    ASSERT_TRUE(NodeIds().empty()) << Log();
    ASSERT_FALSE(agent->connected());
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_FALSE(cp().GetNode(kNode).ok());
  EXPECT_FALSE(cp().store().GetNode(kNode).ok());
  EXPECT_THAT(agent->last_error(), HasSubstr("enrollment token")) << Log();
  EXPECT_THAT(Log(), HasSubstr("refused the stored credential"));
}

}  // namespace
}  // namespace carrierarr::agent
