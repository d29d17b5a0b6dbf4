// The real carrierarr-fleet binary against a control plane started in-process on a unix socket
// in a scratch directory laid out like a fleet (.carrierarr/control/serve.sock and admin.token),
// so that the defaults the commands derive from the working directory are exercised too.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "control_plane/control_plane.h"
#include "control_plane/server.h"
#include "core/file_util.h"
#include "core/subprocess.h"
#include "testing/tools.h"

namespace carrierarr::control_plane {
namespace {

using nlohmann::json;

const std::string kBinary = CARRIERARR_BINARY_DIR "/bin/carrierarr-fleet";

// Plays a connected agent: answers every command it is sent with a fixed result, from a thread
// of its own (the control plane may deliver while the caller holds locks).
class FakeAgent : public StreamSink {
 public:
  FakeAgent(ControlPlane* cp, std::string node_id, ec2agent::v1::CommandResult result)
      : cp_(cp), node_id_(std::move(node_id)), result_(std::move(result)) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~FakeAgent() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  bool Send(const ec2agent::v1::ControlMessage& message) override {
    if (!message.has_command()) return true;
    {
      std::lock_guard lock(mu_);
      commands_.push_back(message.command());
      received_.push_back(message.command());
    }
    cv_.notify_all();
    return true;
  }
  void Close(const Status&) override {}
  std::vector<ec2agent::v1::Command> received() {
    std::lock_guard lock(mu_);
    return received_;
  }

 private:
  void Loop() {
    std::unique_lock lock(mu_);
    while (true) {
      cv_.wait(lock, [&] { return stop_ || !commands_.empty(); });
      if (stop_) return;
      ec2agent::v1::Command c = commands_.front();
      commands_.pop_front();
      lock.unlock();
      ec2agent::v1::AgentMessage m;
      *m.mutable_command_result() = result_;
      m.mutable_command_result()->set_command_id(c.command_id());
      EXPECT_TRUE(cp_->OnAgentMessage(node_id_, m).ok());
      lock.lock();
    }
  }

  ControlPlane* cp_;
  std::string node_id_;
  ec2agent::v1::CommandResult result_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ec2agent::v1::Command> commands_;
  std::vector<ec2agent::v1::Command> received_;
  bool stop_ = false;
  std::thread thread_;
};

class FleetCliTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(/*allow_exec=*/false); }
  void TearDown() override { server_.reset(); }

  void StartServer(bool allow_exec) {
    server_.reset();
    ServeOptions o;
    o.db = dir_ / "fleet.db";
    o.state_dir = control_dir_;
    o.grpc_listen = {"unix:" + socket_};
    o.http_listen = "";
    o.batch_delay = std::chrono::milliseconds(5);
    o.allow_exec = allow_exec;
    auto s = Server::Start(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
  }

  ControlPlane& cp() { return server_->control_plane(); }

  // Runs carrierarr-fleet in the fleet directory with no connection flags: the defaults find
  // the socket and the admin token.
  RunResult Cli(const std::vector<std::string>& args,
                const std::vector<std::string>& env = {}) const {
    std::vector<std::string> argv = {kBinary};
    argv.insert(argv.end(), args.begin(), args.end());
    RunOptions o;
    o.working_dir = dir_.path();
    o.timeout = std::chrono::seconds(60);
    o.extra_env = env;
    auto r = carrierarr::Run(argv, o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : RunResult{};
  }

  void RegisterNode(const std::string& id) {
    carrierarr::v1::CreateTokenRequest t;
    t.set_max_uses(1);
    t.set_node_id(id);
    auto token = cp().CreateToken(t);
    ASSERT_TRUE(token.ok()) << token.status().ToString();
    ec2agent::v1::RegisterRequest r;
    r.set_node_id(id);
    r.set_node_type(ec2agent::v1::NODE_TYPE_GPU_WORKER);
    r.set_nebula_ip("10.42.0.9");
    auto registered = cp().Register({token->secret()}, r);
    ASSERT_TRUE(registered.ok()) << registered.status().ToString();
  }

  static json ParseJson(const std::string& s) {
    json j = json::parse(s, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << s;
    return j;
  }

  testing::ScratchDir dir_;
  const std::string control_dir_ = dir_ / ".carrierarr/control";
  const std::string socket_ = control_dir_ + "/serve.sock";
  std::unique_ptr<Server> server_;
};

TEST_F(FleetCliTest, TokensCreateListRevoke) {
  auto created = Cli({"tokens", "create", "--node", "gpu-box"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  // Only the secret on stdout, so that `> file` captures it.
  ASSERT_EQ(created.out.rfind("cet_", 0), 0u) << created.out;
  ASSERT_EQ(created.out.find('\n'), created.out.size() - 1) << created.out;
  const std::string secret = created.out.substr(0, created.out.size() - 1);
  EXPECT_NE(created.err.find("single use"), std::string::npos) << created.err;

  auto listed = Cli({"tokens", "list", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  json j = ParseJson(listed.out);
  ASSERT_EQ(j["tokens"].size(), 1u) << listed.out;
  EXPECT_EQ(j["tokens"][0]["name"], "gpu-box");  // the node, when no --name is given
  EXPECT_EQ(j["tokens"][0]["node_id"], "gpu-box");
  EXPECT_EQ(j["tokens"][0]["max_uses"], 1);
  EXPECT_FALSE(j["tokens"][0]["revoked"].get<bool>());
  EXPECT_EQ(listed.out.find(secret), std::string::npos);  // never shown again
  const std::string id = j["tokens"][0]["id"];

  auto table = Cli({"tokens", "list"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("ID"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find(id), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("active"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("node gpu-box"), std::string::npos) << table.out;

  auto revoked = Cli({"tokens", "revoke", id});
  ASSERT_EQ(revoked.exit_code, 0) << revoked.err;
  table = Cli({"tokens", "list"});
  EXPECT_NE(table.out.find("revoked"), std::string::npos) << table.out;

  // A revoked token enrolls nothing.
  ec2agent::v1::RegisterRequest r;
  r.set_node_id("gpu-box");
  EXPECT_FALSE(cp().Register({secret}, r).ok());

  auto unknown = Cli({"tokens", "revoke", "tok_000000000000"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("Error:"), std::string::npos) << unknown.err;
}

TEST_F(FleetCliTest, TokensCreateOutWritesAPrivateFileAndNeverOverwrites) {
  const std::string out = dir_ / "token";
  auto created =
      Cli({"tokens", "create", "--pool", "p", "--out", out, "--uses", "0", "--ttl", "1h"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_EQ(testing::ModeOf(out), 0600u);
  const std::string secret = testing::Slurp(out);
  ASSERT_EQ(secret.rfind("cet_", 0), 0u) << secret;
  EXPECT_EQ(created.out.find("cet_"), std::string::npos) << created.out;
  EXPECT_NE(created.out.find("reusable"), std::string::npos) << created.out;

  // The token works: a reusable one, twice.
  for (const char* id : {"p-a", "p-b"}) {
    ec2agent::v1::RegisterRequest r;
    r.set_node_id(id);
    auto registered = cp().Register({secret.substr(0, secret.size() - 1)}, r);
    EXPECT_TRUE(registered.ok());
  }

  auto again = Cli({"tokens", "create", "--pool", "p", "--out", out});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("--force"), std::string::npos) << again.err;
  EXPECT_EQ(testing::Slurp(out), secret);

  auto forced = Cli({"tokens", "create", "--pool", "p", "--out", out, "--force"});
  ASSERT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_NE(testing::Slurp(out), secret);
  EXPECT_EQ(testing::ModeOf(out), 0600u);

  // Reusable and never expiring: refused by the control plane with the reason.
  auto forever = Cli({"tokens", "create", "--pool", "p", "--uses", "0", "--ttl", "0"});
  EXPECT_EQ(forever.exit_code, 1);
  EXPECT_NE(forever.err.find("must expire"), std::string::npos) << forever.err;
}

TEST_F(FleetCliTest, NodesListGetDelete) {
  auto empty = Cli({"nodes"});
  ASSERT_EQ(empty.exit_code, 0) << empty.err;
  EXPECT_NE(empty.err.find("no nodes"), std::string::npos) << empty.err;
  auto empty_json = Cli({"nodes", "--json"});
  ASSERT_EQ(empty_json.exit_code, 0) << empty_json.err;
  EXPECT_TRUE(ParseJson(empty_json.out)["nodes"].empty()) << empty_json.out;

  RegisterNode("gpu-1");
  auto table = Cli({"nodes"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  std::istringstream lines(table.out);
  std::string header, row;
  std::getline(lines, header);
  std::getline(lines, row);
  for (const char* col :
       {"NODE", "TYPE", "LIFECYCLE", "NEBULA IP", "CPU%", "MEM%", "GPUS", "MODELS", "LAST SEEN"})
    EXPECT_NE(header.find(col), std::string::npos) << col << " in " << header;
  EXPECT_EQ(row.rfind("gpu-1", 0), 0u) << table.out;
  EXPECT_NE(row.find("gpu-worker"), std::string::npos) << row;
  EXPECT_NE(row.find("10.42.0.9"), std::string::npos) << row;
  EXPECT_NE(row.find("ago"), std::string::npos) << row;

  auto listed = Cli({"nodes", "--json"});
  json j = ParseJson(listed.out);
  ASSERT_EQ(j["nodes"].size(), 1u);
  EXPECT_EQ(j["nodes"][0]["node_id"], "gpu-1");

  auto got = Cli({"nodes", "get", "gpu-1"});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_NE(got.out.find("10.42.0.9"), std::string::npos) << got.out;
  EXPECT_NE(got.out.find("none received yet"), std::string::npos) << got.out;
  // Flags before or after the arguments alike.
  auto got_json = Cli({"nodes", "--json", "get", "gpu-1"});
  ASSERT_EQ(got_json.exit_code, 0) << got_json.err;
  EXPECT_EQ(ParseJson(got_json.out)["nebula_ip"], "10.42.0.9");

  auto missing = Cli({"nodes", "get", "nope"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("no node nope"), std::string::npos) << missing.err;

  auto deleted = Cli({"nodes", "delete", "gpu-1"});
  ASSERT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_TRUE(cp().ListNodes().empty());
}

TEST_F(FleetCliTest, ExecIsRefusedWhenTheFleetDoesNotAllowIt) {
  RegisterNode("gpu-1");
  auto r = Cli({"exec", "gpu-1", "--", "uname", "-a"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--allow-exec"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST_F(FleetCliTest, ExecPassesArgvVerbatimAndExitsWithTheProgramsCode) {
  StartServer(/*allow_exec=*/true);
  RegisterNode("gpu-1");
  ec2agent::v1::CommandResult result;
  result.set_success(false);
  result.set_exit_code(3);
  result.set_stdout("out line\n");
  result.set_stderr("err line\n");
  auto agent = std::make_shared<FakeAgent>(&cp(), "gpu-1", result);
  cp().AttachStream("gpu-1", agent);

  // The program's own flags (-l, --json) are its arguments, not ours; nothing is split.
  auto r = Cli({"exec", "gpu-1", "--timeout", "20s", "--", "ls", "-l", "a b", "--json", "*"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(r.out, "out line\n");
  EXPECT_EQ(r.err, "err line\n");
  auto received = agent->received();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].type(), ec2agent::v1::COMMAND_TYPE_EXEC);
  EXPECT_EQ(std::vector<std::string>(received[0].argv().begin(), received[0].argv().end()),
            (std::vector<std::string>{"ls", "-l", "a b", "--json", "*"}));
  EXPECT_EQ(received[0].timeout_seconds(), 20);
  // "a b" would not survive the original agent's whitespace split: no args cmd for it.
  EXPECT_EQ(received[0].args().count("cmd"), 0u);

  // Without "--", the first non-flag starts the program.
  auto plain = Cli({"exec", "gpu-1", "--json", "echo", "-n", "x"});
  EXPECT_EQ(plain.exit_code, 3) << plain.err;
  json j = ParseJson(plain.out);
  EXPECT_EQ(j["state"], "failed") << plain.out;
  EXPECT_EQ(j["result"]["exit_code"], 3);
  EXPECT_EQ(j["argv"], json::array({"echo", "-n", "x"}));
  EXPECT_EQ(j["args"]["cmd"], "echo -n x");  // for the original agent, which reads only cmd
  cp().DetachStream("gpu-1", agent.get());
}

TEST_F(FleetCliTest, NoWaitQueuesDrainAndCommands) {
  RegisterNode("gpu-1");
  auto drain = Cli({"drain", "gpu-1", "--force", "--timeout", "2m", "--no-wait", "--json"});
  ASSERT_EQ(drain.exit_code, 0) << drain.err;
  json j = ParseJson(drain.out);
  EXPECT_EQ(j["state"], "queued");
  EXPECT_EQ(j["type"], "COMMAND_TYPE_DRAIN");
  EXPECT_EQ(j["args"]["node"], "gpu-1");
  EXPECT_EQ(j["args"]["force"], "true");
  EXPECT_EQ(j["args"]["timeout"], "120s");

  auto pull = Cli({"command", "gpu-1", "pull-model", "model=llama3:8b", "--no-wait"});
  ASSERT_EQ(pull.exit_code, 0) << pull.err;
  ASSERT_EQ(pull.out.rfind("cmd_", 0), 0u) << pull.out;
  const std::string id = pull.out.substr(0, pull.out.find(' '));
  auto record = cp().GetCommand(id);
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  EXPECT_EQ(record->type(), ec2agent::v1::COMMAND_TYPE_PULL_MODEL);
  EXPECT_EQ(record->args().at("model"), "llama3:8b");
  EXPECT_EQ(record->state(), "queued");

  auto by_enum = Cli({"command", "gpu-1", "COMMAND_TYPE_REBOOT", "--no-wait", "--json"});
  ASSERT_EQ(by_enum.exit_code, 0) << by_enum.err;
  EXPECT_EQ(ParseJson(by_enum.out)["type"], "COMMAND_TYPE_REBOOT");

  auto no_model = Cli({"command", "gpu-1", "pull-model", "--no-wait"});
  EXPECT_EQ(no_model.exit_code, 1);
  EXPECT_NE(no_model.err.find("model"), std::string::npos) << no_model.err;
}

TEST_F(FleetCliTest, EventsShowWhatHappened) {
  RegisterNode("gpu-1");
  auto r = Cli({"events"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("registered"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("gpu-1"), std::string::npos) << r.out;

  auto js = Cli({"events", "--json"});
  ASSERT_EQ(js.exit_code, 0) << js.err;
  std::istringstream lines(js.out);
  std::string line;
  int64_t last_seq = 0;
  int count = 0;
  while (std::getline(lines, line)) {
    json e = ParseJson(line);
    ASSERT_TRUE(e.contains("seq")) << line;
    last_seq = std::stoll(e["seq"].get<std::string>());  // int64: a JSON string in proto3
    ++count;
  }
  ASSERT_GT(count, 0);
  auto after = Cli({"events", "--json", "--after", std::to_string(last_seq)});
  ASSERT_EQ(after.exit_code, 0) << after.err;
  EXPECT_TRUE(after.out.empty()) << after.out;
}

TEST_F(FleetCliTest, CommandCancel) {
  RegisterNode("gpu-1");
  auto queued = Cli({"command", "gpu-1", "reboot", "--no-wait"});
  ASSERT_EQ(queued.exit_code, 0) << queued.err;
  const std::string id = queued.out.substr(0, queued.out.find(' '));
  auto cancelled = Cli({"command", "cancel", id});
  ASSERT_EQ(cancelled.exit_code, 0) << cancelled.err;
  EXPECT_EQ(cancelled.out, id + " cancelled\n");
  EXPECT_EQ(cp().GetCommand(id)->state(), "cancelled");
  auto again = Cli({"command", "cancel", id, "--json"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("already finished"), std::string::npos) << again.err;
  auto no_id = Cli({"command", "cancel"});
  EXPECT_EQ(no_id.exit_code, 2);
  EXPECT_NE(no_id.err.find("command cancel ID"), std::string::npos) << no_id.err;
  // Sending CANCEL itself is refused with a pointer to the above.
  auto direct = Cli({"command", "gpu-1", "cancel", "command_id=" + id, "--no-wait"});
  EXPECT_EQ(direct.exit_code, 1);
  EXPECT_NE(direct.err.find("carrierarr command cancel ID"), std::string::npos) << direct.err;
}

TEST_F(FleetCliTest, AgentTextIsPrintedEscapedAndInvalidUtf8DoesNotEndTheEvents) {
  RegisterNode("gpu-1");
  ec2agent::v1::AgentMessage log;
  log.mutable_log()->set_level(ec2agent::v1::LOG_LEVEL_ERROR);
  log.mutable_log()->set_source("ollama");
  log.mutable_log()->set_message(
      "\x1b]0;pwned\x07\x1b[31mred\nfake line \xC2\x9B"
      "2J");
  ASSERT_TRUE(cp().OnAgentMessage("gpu-1", log).ok());
  // Text stored by an older version, cut inside a character.
  ASSERT_TRUE(
      cp().store().AppendEvent({.node_id = "gpu-1", .kind = "log", .message = "cut \xC3"}).ok());
  cp().Flush();
  cp().UpdateIntervals(std::chrono::seconds(10), std::chrono::seconds(30));  // an event after them

  auto r = Cli({"events"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\\x1b]0;pwned\\x07\\x1b[31mred\\nfake line \\u009b2J"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("cut \xEF\xBF\xBD"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("heartbeat 10s, status 30s"), std::string::npos) << r.out;  // went on
  EXPECT_EQ(r.out.find("\nfake line"), std::string::npos) << r.out;  // one line an event

  // A node's status: service messages escaped; MODELS counts in memory / listed.
  ec2agent::v1::AgentMessage status;
  status.mutable_status()->mutable_ollama()->set_message("ok\x1b[2J");
  for (bool loaded : {true, false, false})
    status.mutable_status()->add_loaded_models()->set_currently_loaded(loaded);
  ASSERT_TRUE(cp().OnAgentMessage("gpu-1", status).ok());
  auto got = Cli({"nodes", "get", "gpu-1"});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.out.find('\x1b'), std::string::npos) << got.out;
  EXPECT_NE(got.out.find("ok\\x1b[2J"), std::string::npos) << got.out;
  EXPECT_NE(got.out.find("(on disk)"), std::string::npos) << got.out;
  auto table = Cli({"nodes"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find(" 1/3 "), std::string::npos) << table.out;
}

TEST_F(FleetCliTest, BadUsageExitsTwoAndNamesTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string err_part;
  };
  const std::vector<Case> cases = {
      {{"nodes", "--bogus"}, "-bogus"},
      {{"tokens", "create", "--uses", "x"}, "-uses"},
      {{"tokens", "create"}, "--node NAME"},
      {{"tokens", "create", "--pool", "gpu", "--replace"}, "--replace needs --node"},
      {{"tokens", "create", "--ttl", "soon"}, "-ttl"},
      {{"tokens"}, "subcommand"},
      {{"nodes", "frobnicate"}, "frobnicate"},
      {{"exec"}, "NODE"},
      {{"exec", "gpu-1"}, "PROGRAM"},
      {{"exec", "gpu-1", "--timeout", "48h", "--", "ls"}, "-timeout"},
      {{"command", "gpu-1", "toaster"}, "toaster"},
      {{"command", "gpu-1", "reboot", "novalue"}, "KEY=VALUE"},
      // It would print the cluster's admin key: 'kubeconfig' writes it 0600 instead.
      {{"command", "lighthouse", "fetch-kubeconfig"}, "carrierarr kubeconfig"},
      {{"command", "lighthouse", "101"}, "carrierarr kubeconfig"},
      {{"kubeconfig", "lighthouse"}, "--node NAME"},
      {{"drain"}, "NODE"},
      {{"events", "--after", "-1"}, "-after"},
      {{"nodes", "--timeout"}, "-timeout"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::PrintToString(c.args));
    auto r = Cli(c.args);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find(c.err_part), std::string::npos) << r.err;
  }
  auto unknown = Cli({"frob"});
  EXPECT_EQ(unknown.exit_code, 2);

  auto help = Cli({"exec", "-h"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("-no-wait"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("-admin-token-file"), std::string::npos) << help.out;
}

TEST_F(FleetCliTest, UnreachableServerAndWrongTokenAreExplained) {
  const std::string token_file = control_dir_ + "/admin.token";
  for (const std::string& server :
       {"unix:" + (dir_ / "nothing.sock"), std::string("127.0.0.1:1")}) {
    SCOPED_TRACE(server);
    auto r = Cli({"nodes", "--server", server, "--admin-token-file", token_file});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("cannot reach the control plane at " + server), std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("carrierarr serve"), std::string::npos) << r.err;
  }

  // The environment names the server and the token file too.
  auto by_env = Cli({"nodes"}, {"CARRIERARR_SERVER=unix:" + (dir_ / "nothing.sock")});
  EXPECT_EQ(by_env.exit_code, 1);
  EXPECT_NE(by_env.err.find("nothing.sock"), std::string::npos) << by_env.err;

  const std::string wrong = dir_ / "wrong.token";
  ASSERT_TRUE(WriteFileAtomic(wrong, "cat_not_the_right_one\n", 0600).ok());
  auto refused = Cli({"tokens", "list"}, {"CARRIERARR_ADMIN_TOKEN_FILE=" + wrong});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find(wrong), std::string::npos) << refused.err;

  auto no_file = Cli({"nodes", "--admin-token-file", dir_ / "missing.token"});
  EXPECT_EQ(no_file.exit_code, 1);
  EXPECT_NE(no_file.err.find("missing.token"), std::string::npos) << no_file.err;
}

TEST_F(FleetCliTest, FleetFileFlagFindsTheControlPlaneFromElsewhere) {
  RegisterNode("gpu-1");
  std::vector<std::string> argv = {kBinary, "nodes", "-f", dir_ / "fleet.yaml", "--json"};
  RunOptions o;
  o.working_dir = "/";
  auto r = carrierarr::Run(argv, o);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->exit_code, 0) << r->err;
  EXPECT_EQ(ParseJson(r->out)["nodes"][0]["node_id"], "gpu-1");
}

}  // namespace
}  // namespace carrierarr::control_plane
