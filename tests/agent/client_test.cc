// AgentClient against a fake, in-process AgentControl service on 127.0.0.1 (the real control
// plane has its own integration tests): registration and the credential file, the fallback to
// the token, commands, acks, resends and Stop().
#include "agent/client.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "core/file_util.h"
#include "core/time_source.h"
#include "ec2agent/v1/agent.grpc.pb.h"
#include "testing/eventually.h"
#include "testing/tools.h"

namespace carrierarr::agent {
namespace {

namespace v1 = ::ec2agent::v1;
using ::carrierarr::testing::Eventually;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kToken[] = "T0K3N-secret-xyz";
constexpr char kCredential[] = "CRED-secret-abc";

class FakeControlPlane final : public v1::AgentControl::Service {
 public:
  grpc::Status Register(grpc::ServerContext* ctx, const v1::RegisterRequest* req,
                        v1::RegisterResponse* resp) override {
    std::lock_guard<std::mutex> lock(mu);
    std::string secret = Bearer(ctx);
    register_secrets.push_back(secret);
    last_register = *req;
    cv.notify_all();
    if (secret == kToken) {
      good_credentials.insert(kCredential);
      resp->set_node_credential(kCredential);
    } else if (good_credentials.count(secret) == 0) {
      return grpc::Status(grpc::UNAUTHENTICATED, "credential not recognised");
    }
    resp->set_accepted(true);
    resp->set_assigned_id(req->node_id());
    resp->set_heartbeat_interval_sec(3);
    resp->set_status_interval_sec(4);
    return grpc::Status::OK;
  }

  grpc::Status Heartbeat(grpc::ServerContext* ctx, const v1::HeartbeatRequest*,
                         v1::HeartbeatResponse* resp) override {
    std::lock_guard<std::mutex> lock(mu);
    if (good_credentials.count(Bearer(ctx)) == 0) return grpc::Status(grpc::UNAUTHENTICATED, "");
    ++heartbeats;
    resp->set_ok(true);
    return grpc::Status::OK;
  }

  grpc::Status Connect(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<v1::ControlMessage, v1::AgentMessage>* stream) override {
    std::vector<v1::Command> commands;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (good_credentials.count(Bearer(ctx)) == 0) {
        return grpc::Status(grpc::UNAUTHENTICATED, "credential not recognised");
      }
      ++streams;
      commands = to_send;
      cv.notify_all();
    }
    v1::AgentMessage in;
    if (silent_until_status) {
      // As the original control plane: nothing is sent before the agent's first status.
      if (!stream->Read(&in) || !in.has_status()) return grpc::Status::OK;
      std::lock_guard<std::mutex> lock(mu);
      ++statuses;
      cv.notify_all();
    } else {
      v1::ControlMessage m;
      *m.mutable_config() = config;
      stream->Write(m);
    }
    for (const auto& c : commands) {
      v1::ControlMessage m;
      *m.mutable_command() = c;
      stream->Write(m);
      if (after_each_command) after_each_command(c);
    }
    while (stream->Read(&in)) {
      std::unique_lock<std::mutex> lock(mu);
      if (in.has_status()) ++statuses;
      if (in.has_command_result()) {
        results.push_back(in.command_result());
        cv.notify_all();
        if (drop_next_result) {
          drop_next_result = false;  // no ack, and the stream ends
          return grpc::Status(grpc::UNAVAILABLE, "going away");
        }
        v1::ControlMessage ack;
        ack.mutable_ack()->set_message_id(in.command_result().command_id());
        ack.mutable_ack()->set_received(true);
        lock.unlock();
        stream->Write(ack);
        continue;
      }
      cv.notify_all();
    }
    return grpc::Status::OK;
  }

  template <typename Pred>
  bool WaitFor(Pred pred, milliseconds timeout = seconds(10)) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, timeout, pred);
  }

  static std::string Bearer(grpc::ServerContext* ctx) {
    auto it = ctx->client_metadata().find("authorization");
    if (it == ctx->client_metadata().end()) return "";
    std::string v(it->second.data(), it->second.size());
    return v.rfind("Bearer ", 0) == 0 ? v.substr(7) : "";
  }

  std::mutex mu;
  std::condition_variable cv;
  std::set<std::string> good_credentials;
  std::vector<std::string> register_secrets;
  v1::RegisterRequest last_register;
  std::vector<v1::Command> to_send;
  std::vector<v1::CommandResult> results;
  bool drop_next_result = false;
  bool silent_until_status = false;  // and no ConfigUpdate, as the original control plane
  v1::ConfigUpdate config = [] {
    v1::ConfigUpdate c;
    c.set_heartbeat_interval_sec(7);
    c.set_status_interval_sec(9);
    return c;
  }();
  std::function<void(const v1::Command&)> after_each_command;  // on the stream's thread
  int streams = 0, statuses = 0, heartbeats = 0;
};

class AgentClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&fake_);
    server_ = builder.BuildAndStart();
    ASSERT_TRUE(server_);
    ASSERT_GT(port_, 0);
  }
  void TearDown() override {
    if (client_) client_->Stop();
    server_->Shutdown(std::chrono::system_clock::now() + seconds(1));
  }

  ClientOptions Options() {
    ClientOptions o;
    o.control_plane = "127.0.0.1:" + std::to_string(port_);
    o.identity.set_node_id("node-a");
    o.identity.set_node_type(v1::NODE_TYPE_CPU_WORKER);
    o.token = kToken;
    o.state_dir = dir_ / "state";
    o.backoff_initial = milliseconds(10);
    o.backoff_max = milliseconds(100);
    o.collector.ollama_url = "http://127.0.0.1:9";  // nothing listens there
    o.collector.nvidia_smi = dir_ / "no-nvidia-smi";
    o.version = "test";
    o.log = [this](const std::string& line) {
      std::lock_guard<std::mutex> lock(log_mu_);
      log_ += line + "\n";
    };
    return o;
  }

  void StartClient(ClientOptions o) {
    client_ = std::make_unique<AgentClient>(std::move(o));
    Status s = client_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  std::string Log() {
    std::lock_guard<std::mutex> lock(log_mu_);
    return log_;
  }

  testing::ScratchDir dir_;
  FakeControlPlane fake_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<AgentClient> client_;
  std::mutex log_mu_;
  std::string log_;
};

TEST_F(AgentClientTest, RegistersWithTheTokenStoresTheCredentialAndConnects) {
  StartClient(Options());
  ASSERT_TRUE(client_->WaitConnected(seconds(10))) << client_->last_error() << "\n" << Log();
  EXPECT_TRUE(client_->metrics()->connected());
  EXPECT_EQ(client_->node_id(), "node-a");
  EXPECT_EQ(testing::Slurp(dir_ / "state/credential"), std::string(kCredential) + "\n");
  EXPECT_EQ(testing::ModeOf(dir_ / "state/credential"), 0600u);
  {
    std::lock_guard<std::mutex> lock(fake_.mu);
    ASSERT_EQ(fake_.register_secrets, std::vector<std::string>{kToken});
    EXPECT_EQ(fake_.last_register.node_id(), "node-a");
    EXPECT_EQ(fake_.last_register.node_type(), v1::NODE_TYPE_CPU_WORKER);
    EXPECT_EQ(fake_.last_register.agent_version(), "test");
    EXPECT_GT(fake_.last_register.capabilities().cpu_cores(), 0);
  }
  // The first status goes out on connect; the ConfigUpdate's intervals apply.
  EXPECT_TRUE(fake_.WaitFor([&] { return fake_.statuses >= 1; }));
  EXPECT_TRUE(Eventually([&] { return client_->heartbeat_interval() == seconds(7); }));
  EXPECT_EQ(client_->status_interval(), seconds(9));

  auto t0 = std::chrono::steady_clock::now();
  client_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, seconds(1));
  EXPECT_FALSE(client_->connected());
  EXPECT_FALSE(client_->metrics()->connected());
  std::string log = Log();
  EXPECT_THAT(log, HasSubstr("registered with"));
  EXPECT_THAT(log, HasSubstr("connected to"));
  EXPECT_THAT(log, Not(HasSubstr(kToken)));
  EXPECT_THAT(log, Not(HasSubstr(kCredential)));
}

TEST_F(AgentClientTest, StoredCredentialIsUsedAndARefusedOneFallsBackToTheToken) {
  std::filesystem::create_directories(dir_ / "state");
  ASSERT_TRUE(WriteFileAtomic(dir_ / "state/credential", "stale-cred\n", 0600).ok());
  StartClient(Options());
  ASSERT_TRUE(client_->WaitConnected(seconds(10))) << client_->last_error() << "\n" << Log();
  {
    std::lock_guard<std::mutex> lock(fake_.mu);
    EXPECT_EQ(fake_.register_secrets, (std::vector<std::string>{"stale-cred", kToken}));
  }
  EXPECT_EQ(testing::Slurp(dir_ / "state/credential"), std::string(kCredential) + "\n");
  EXPECT_THAT(Log(), HasSubstr("refused the stored credential"));
  client_->Stop();

  // A restarted agent re-registers with the credential alone.
  {
    std::lock_guard<std::mutex> lock(fake_.mu);
    fake_.register_secrets.clear();
  }
  ClientOptions o = Options();
  o.token.clear();
  StartClient(std::move(o));
  ASSERT_TRUE(client_->WaitConnected(seconds(10))) << client_->last_error();
  std::lock_guard<std::mutex> lock(fake_.mu);
  EXPECT_EQ(fake_.register_secrets, std::vector<std::string>{kCredential});
}

TEST_F(AgentClientTest, RefusedTokenKeepsRetryingAndRereadsTheTokenFile) {
  ClientOptions o = Options();
  o.token.clear();
  o.token_file = dir_ / "token";
  ASSERT_TRUE(WriteFileAtomic(o.token_file, "wrong-token\n", 0600).ok());
  StartClient(o);
  ASSERT_TRUE(fake_.WaitFor([&] { return fake_.register_secrets.size() >= 2; }));
  EXPECT_FALSE(client_->connected());
  EXPECT_THAT(client_->last_error(), HasSubstr("credential not recognised"));
  EXPECT_THAT(client_->metrics()->not_ready_reason(), HasSubstr("refused the enrollment token"));
  // The operator writes a good token: the next attempt uses it.
  ASSERT_TRUE(WriteFileAtomic(o.token_file, std::string(kToken) + "\n", 0600).ok());
  ASSERT_TRUE(client_->WaitConnected(seconds(10))) << client_->last_error();
  EXPECT_THAT(Log(), Not(HasSubstr("wrong-token")));
  EXPECT_THAT(Log(), Not(HasSubstr(kToken)));
}

TEST_F(AgentClientTest, CommandRunsOnceResultIsAckedAndDuplicatesAreIgnored) {
  v1::Command c;
  c.set_command_id("cmd-1");
  c.set_type(v1::COMMAND_TYPE_UPDATE_CONFIG);
  (*c.mutable_args())["status_interval_sec"] = "11";
  fake_.to_send = {c, c};  // the same id twice on one stream
  StartClient(Options());
  ASSERT_TRUE(fake_.WaitFor([&] { return !fake_.results.empty(); }));
  {
    std::lock_guard<std::mutex> lock(fake_.mu);
    EXPECT_EQ(fake_.results[0].command_id(), "cmd-1");
    EXPECT_TRUE(fake_.results[0].success()) << fake_.results[0].error();
  }
  // Acked: nothing kept; the UPDATE_CONFIG took effect.
  EXPECT_TRUE(Eventually([&] { return client_->unacked_results() == 0; }));
  EXPECT_EQ(client_->status_interval(), seconds(11));
  // The second copy came before or after the ack: the result may be sent again, but the
  // command never runs twice.
  std::this_thread::sleep_for(milliseconds(300));
  {
    std::lock_guard<std::mutex> lock(fake_.mu);
    for (const auto& r : fake_.results) EXPECT_EQ(r.command_id(), "cmd-1");
  }
  EXPECT_EQ(client_->metrics()->commands("update_config", "success"), 1u);
  EXPECT_EQ(client_->metrics()->commands("update_config", "duplicate"), 1u);
}

TEST_F(AgentClientTest, UnackedResultIsSentAgainAfterAReconnect) {
  v1::Command c;
  c.set_command_id("cmd-2");
  c.set_type(v1::COMMAND_TYPE_UPDATE_CONFIG);
  (*c.mutable_args())["heartbeat_interval_sec"] = "5";
  fake_.to_send = {c};
  fake_.drop_next_result = true;  // first stream: no ack, then the stream ends
  StartClient(Options());
  // Second stream: the control plane sends the command again (it has no result); the agent
  // does not run it again but sends its kept result, which is acked this time.
  ASSERT_TRUE(fake_.WaitFor([&] { return fake_.results.size() >= 2 && fake_.streams >= 2; }))
      << Log();
  EXPECT_TRUE(Eventually([&] { return client_->unacked_results() == 0; }));
  std::lock_guard<std::mutex> lock(fake_.mu);
  for (const auto& r : fake_.results) EXPECT_EQ(r.command_id(), "cmd-2");
  EXPECT_EQ(client_->metrics()->commands("update_config", "success"), 1u) << "ran once";
  EXPECT_GE(client_->metrics()->reconnects(), 1u);
}

TEST_F(AgentClientTest, StopIsPromptWhileTheControlPlaneIsUnreachable) {
  ClientOptions o = Options();
  o.control_plane = "127.0.0.1:1";
  o.backoff_initial = seconds(5);
  o.backoff_max = seconds(60);
  StartClient(o);
  EXPECT_FALSE(client_->WaitConnected(milliseconds(500)));
  EXPECT_THAT(client_->last_error(), HasSubstr("UNAVAILABLE"));
  auto t0 = std::chrono::steady_clock::now();
  client_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, seconds(1));
}

TEST_F(AgentClientTest, NoTokenAndNoCredentialSaysWhatToDo) {
  ClientOptions o = Options();
  o.token.clear();
  StartClient(o);
  ASSERT_TRUE(Eventually([&] {
    return client_->last_error().find("no enrollment token") != std::string::npos;
  })) << client_->last_error();
  EXPECT_THAT(client_->last_error(), HasSubstr("-token-file"));
  // It asked without a secret (a control plane that knows nodes by their mesh address, or an
  // original one, would take it), and says what the control plane answered.
  EXPECT_THAT(client_->last_error(), HasSubstr("credential not recognised"));
  std::lock_guard<std::mutex> lock(fake_.mu);
  ASSERT_FALSE(fake_.register_secrets.empty());
  EXPECT_EQ(fake_.register_secrets[0], "");
}

TEST_F(AgentClientTest, TheFirstStatusGoesOutBeforeTheControlPlaneSpeaks) {
  // An original-style control plane sends nothing until the first NodeStatus: no deadlock.
  fake_.silent_until_status = true;
  StartClient(Options());
  ASSERT_TRUE(fake_.WaitFor([&] { return fake_.statuses >= 1; })) << Log();
  EXPECT_TRUE(client_->WaitConnected(seconds(10))) << client_->last_error();
  // No ConfigUpdate ever comes: the RegisterResponse's intervals stay.
  EXPECT_EQ(client_->status_interval(), seconds(4));
  EXPECT_EQ(client_->heartbeat_interval(), seconds(3));
}

TEST_F(AgentClientTest, OutOfRangeConfigFromTheControlPlaneIsClampedOrIgnored) {
  fake_.config.set_heartbeat_interval_sec(1000000000);
  fake_.config.set_status_interval_sec(-5);
  fake_.config.set_idle_shutdown_minutes(-1);
  StartClient(Options());
  ASSERT_TRUE(Eventually([&] { return client_->heartbeat_interval() == seconds(86400); }))
      << client_->heartbeat_interval().count() << "\n"
      << Log();
  EXPECT_EQ(client_->status_interval(), seconds(4));  // the RegisterResponse's; -5 ignored
  EXPECT_EQ(client_->idle_shutdown_minutes(), 0);
  EXPECT_THAT(Log(), HasSubstr("heartbeat_interval_sec 1000000000 is over 86400"));
  EXPECT_THAT(Log(), HasSubstr("ignoring the control plane's status_interval_sec -5"));
  EXPECT_THAT(Log(), HasSubstr("ignoring the control plane's idle_shutdown_minutes -1"));
}

TEST_F(AgentClientTest, ACancelGetsThroughWhenTheAgentIsBusy) {
  // One command at a time, and that one is running: a CANCEL is still taken and stops it.
  const std::string pid_file = dir_ / "pid";
  v1::Command sleeper;
  sleeper.set_command_id("long");
  sleeper.set_type(v1::COMMAND_TYPE_EXEC);
  for (const char* a : {"sh", "-c", "echo $$ > \"$0\"; exec sleep 100"}) sleeper.add_argv(a);
  sleeper.add_argv(pid_file);
  v1::Command cancel;
  cancel.set_command_id("stop-long");
  cancel.set_type(v1::COMMAND_TYPE_CANCEL);
  (*cancel.mutable_args())["command_id"] = "long";
  fake_.to_send = {sleeper, cancel};
  // The CANCEL follows once the sleeper runs.
  fake_.after_each_command = [&](const v1::Command& c) {
    if (c.command_id() == "long") {
      Eventually([&] { return PathExists(pid_file); }, seconds(10));
    }
  };
  ClientOptions o = Options();
  o.max_running_commands = 1;
  o.runner.allow_exec = true;
  o.runner.kill_grace = milliseconds(200);
  StartClient(std::move(o));
  ASSERT_TRUE(fake_.WaitFor([&] { return fake_.results.size() >= 2; })) << Log();
  std::lock_guard<std::mutex> lock(fake_.mu);
  std::map<std::string, v1::CommandResult> by_id;
  for (const auto& r : fake_.results) by_id[r.command_id()] = r;
  ASSERT_EQ(by_id.count("stop-long"), 1u);
  EXPECT_TRUE(by_id["stop-long"].success()) << by_id["stop-long"].error();
  ASSERT_EQ(by_id.count("long"), 1u);
  EXPECT_FALSE(by_id["long"].success());
  EXPECT_EQ(by_id["long"].error(), "cancelled");
}

// A simulated clock that also records each sleep: the delays the client waited between attempts.
class RecordingTime final : public TimeSource {
 public:
  std::chrono::system_clock::time_point SystemNow() const override { return sim_.SystemNow(); }
  std::chrono::steady_clock::time_point MonotonicNow() const override {
    return sim_.MonotonicNow();
  }
  void SleepFor(std::chrono::nanoseconds d) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      sleeps_.push_back(std::chrono::duration_cast<milliseconds>(d));
    }
    sim_.SleepFor(d);
  }
  std::vector<milliseconds> sleeps() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sleeps_;
  }

 private:
  SimulatedTimeSource sim_;
  mutable std::mutex mu_;
  std::vector<milliseconds> sleeps_;
};

TEST_F(AgentClientTest, BackoffDoublesUpToItsMaximumOnTheInjectedClock) {
  RecordingTime time;
  ClientOptions o = Options();
  o.control_plane = "127.0.0.1:1";
  o.backoff_initial = seconds(1);
  o.backoff_max = seconds(8);
  o.backoff_random = [] { return 1.0; };  // every delay at its ceiling
  o.time = &time;
  const auto t0 = std::chrono::steady_clock::now();
  StartClient(o);
  ASSERT_TRUE(Eventually([&] { return time.sleeps().size() >= 6; }, seconds(10))) << Log();
  client_->Stop();
  // 31 s of backoff, none of it waited for on the machine's clock.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, seconds(5));
  std::vector<milliseconds> sleeps = time.sleeps();
  sleeps.resize(6);
  EXPECT_EQ(sleeps, (std::vector<milliseconds>{seconds(1), seconds(2), seconds(4), seconds(8),
                                               seconds(8), seconds(8)}));
  EXPECT_THAT(Log(), HasSubstr("unreachable"));
  EXPECT_FALSE(client_->connected());
}

TEST_F(AgentClientTest, StatusAndHeartbeatTimersRunOnTheInjectedClock) {
  SimulatedTimeSource time;
  ClientOptions o = Options();
  o.time = &time;
  const auto t0 = std::chrono::steady_clock::now();
  StartClient(o);
  // Statuses every 4 s or more of the agent's time (Register, then the ConfigUpdate, set the
  // intervals): five timed ones would take 20 s on the machine's clock.
  ASSERT_TRUE(fake_.WaitFor([&] { return fake_.statuses >= 6 && fake_.heartbeats >= 3; })) << Log();
  client_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, seconds(5));
  EXPECT_GE(time.slept(), seconds(20));
}

}  // namespace
}  // namespace carrierarr::agent
