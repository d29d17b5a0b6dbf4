// ServeDrain, serve's NodeDrain for the burst controller, against a real ControlPlane whose
// node answers through a stream sink: a k3s node on aws gets DRAIN (its node name and a
// timeout inside the controller's) and the stop waits for the answer; a failed or unanswered
// DRAIN is named; a node without k3s gets no command.
#include "control_plane/serve_drain.h"

#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "control_plane/control_plane.h"
#include "control_plane/store.h"
#include "testing/tools.h"

namespace carrierarr::control_plane {
namespace {

using std::chrono::seconds;

// The node's agent: answers every command (success or not) from a thread of its own, or never.
class DrainingAgent : public StreamSink {
 public:
  DrainingAgent(ControlPlane* cp, bool succeed, bool answer)
      : cp_(cp), succeed_(succeed), answer_(answer) {}
  ~DrainingAgent() override { JoinAll(); }
  void JoinAll() {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
  }
  bool Send(const ec2agent::v1::ControlMessage& message) override {
    if (!message.has_command()) return true;
    std::lock_guard lock(mu_);
    commands_.push_back(message.command());
    if (!answer_) return true;
    threads_.emplace_back([this, id = message.command().command_id()] {
      ec2agent::v1::AgentMessage m;
      m.mutable_command_result()->set_command_id(id);
      m.mutable_command_result()->set_success(succeed_);
      if (!succeed_) m.mutable_command_result()->set_error("kubectl drain: pods would not leave");
      EXPECT_TRUE(cp_->OnAgentMessage("gpu-1", m).ok());
    });
    return true;
  }
  void Close(const Status&) override {}
  std::vector<ec2agent::v1::Command> commands() {
    std::lock_guard lock(mu_);
    return commands_;
  }

 private:
  ControlPlane* cp_;
  const bool succeed_, answer_;
  std::mutex mu_;
  std::vector<std::thread> threads_;
  std::vector<ec2agent::v1::Command> commands_;
};

spec::FleetSpec Fleet(const std::string& provider) {
  spec::FleetSpec fleet;
  fleet.name = "lab";
  fleet.lighthouse.provider = provider;
  spec::PoolSpec gpu;
  gpu.name = "gpu";
  gpu.provider = provider;
  gpu.count = 1;
  fleet.pools.push_back(gpu);
  return fleet;
}

class ServeDrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OpenSqliteStore(dir_ / "fleet.db");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ControlPlaneOptions options;
    options.background_threads = false;
    auto cp = ControlPlane::Create(std::move(*store), options);
    ASSERT_TRUE(cp.ok()) << cp.status().ToString();
    cp_ = std::move(*cp);
    carrierarr::v1::CreateTokenRequest t;
    t.set_name("for gpu-1");
    t.set_max_uses(1);
    t.set_node_id("gpu-1");
    auto token = cp_->CreateToken(t);
    ASSERT_TRUE(token.ok()) << token.status().ToString();
    ec2agent::v1::RegisterRequest r;
    r.set_node_id("gpu-1");
    r.set_node_type(ec2agent::v1::NODE_TYPE_GPU_WORKER);
    r.set_nebula_ip("10.42.2.1");
    r.set_region("us-east-1");
    ASSERT_TRUE(cp_->Register({token->secret()}, r).ok());
  }

  // Drains gpu-1 of `fleet` with an agent that answers so; the commands it got.
  std::vector<ec2agent::v1::Command> DrainWith(const spec::FleetSpec& fleet, bool succeed,
                                               bool answer, std::chrono::milliseconds timeout,
                                               Status* result) {
    auto agent = std::make_shared<DrainingAgent>(cp_.get(), succeed, answer);
    cp_->AttachStream("gpu-1", agent);
    ServeDrain drain(cp_.get(), fleet);
    *result = drain.Drain("gpu-1", timeout);
    drain.Undrain("gpu-1");  // no gateway attached: nothing to do, and no harm
    agent->JoinAll();
    cp_->DetachStream("gpu-1", agent.get());
    return agent->commands();
  }

  testing::ScratchDir dir_;
  std::unique_ptr<ControlPlane> cp_;
};

TEST_F(ServeDrainTest, AK3sNodeOnAwsGetsDrainAndTheStopWaitsForIt) {
  Status result;
  auto commands = DrainWith(Fleet("aws"), /*succeed=*/true, /*answer=*/true, seconds(120), &result);
  EXPECT_TRUE(result.ok()) << result.ToString();
  ASSERT_EQ(commands.size(), 1u);
  EXPECT_EQ(commands[0].type(), ec2agent::v1::COMMAND_TYPE_DRAIN);
  EXPECT_EQ(commands[0].args().at("node"), "gpu-1");
  const std::string timeout = commands[0].args().at("timeout");
  ASSERT_TRUE(timeout.ends_with("s"));
  const int s = std::stoi(timeout);
  EXPECT_GT(s, 100);
  EXPECT_LT(s, 120) << "kubectl's bound inside the controller's";
}

TEST_F(ServeDrainTest, AFailedOrUnansweredDrainIsNamed) {
  Status failed;
  DrainWith(Fleet("aws"), /*succeed=*/false, /*answer=*/true, seconds(60), &failed);
  EXPECT_EQ(failed.code(), StatusCode::kDeadlineExceeded) << failed.ToString();
  EXPECT_NE(failed.message().find("pods would not leave"), std::string::npos) << failed.ToString();

  Status silent;
  const auto start = std::chrono::steady_clock::now();
  DrainWith(Fleet("aws"), /*succeed=*/true, /*answer=*/false, seconds(11), &silent);
  EXPECT_EQ(silent.code(), StatusCode::kDeadlineExceeded) << silent.ToString();
  EXPECT_NE(silent.message().find("did not finish DRAIN within 10s"), std::string::npos)
      << silent.ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(30)) << "bounded by the timeout";

  Status short_time;
  DrainWith(Fleet("aws"), true, true, seconds(5), &short_time);
  EXPECT_NE(short_time.message().find("no time was left"), std::string::npos);
}

TEST_F(ServeDrainTest, ANodeWithoutK3sGetsNoCommand) {
  Status result;
  auto commands = DrainWith(Fleet("local"), true, true, seconds(60), &result);
  EXPECT_TRUE(result.ok()) << result.ToString();
  EXPECT_TRUE(commands.empty());
  spec::FleetSpec no_k3s = Fleet("aws");
  no_k3s.aws.k3s = false;
  commands = DrainWith(no_k3s, true, true, seconds(60), &result);
  EXPECT_TRUE(commands.empty());
}

}  // namespace
}  // namespace carrierarr::control_plane
