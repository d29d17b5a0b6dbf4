// The control-plane clients' shared pieces in process: the command table against
// carrierarr-fleet's runners, how a failed RPC is explained, and the output helpers on a pinned
// clock.
#include "cli/client_command.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <sstream>
#include <string>

#include "cli/client_commands.h"
#include "cli/client_output.h"
#include "core/file_util.h"
#include "testing/tools.h"

namespace carrierarr::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(ClientCommandTableTest, CarrierarrFleetRunsEachOfItsCommandsAndNoOther) {
  std::set<std::string_view> own;
  for (const auto& c : kCommandTable)
    if (c.binary == Binary::kCarrierarrFleet) own.insert(c.name);
  std::set<std::string_view> runners;
  for (const auto& r : kCarrierarrFleetRunners) runners.insert(r.name);
  EXPECT_EQ(own, runners);
}

// Answers every ListNodes as a control plane whose store is down does.
class StoreDownFleet final : public carrierarr::v1::Fleet::Service {
  grpc::Status ListNodes(grpc::ServerContext*, const carrierarr::v1::ListNodesRequest*,
                         carrierarr::v1::ListNodesResponse*) override {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "store unavailable: cannot connect to PostgreSQL at db");
  }
};

class ClientFailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(WriteFileAtomic(dir_ / "admin.token", "secret\n", 0600).ok());
    flags_.token_file = dir_ / "admin.token";
  }
  // ListNodes through a Client to `server`; what Fail says of it.
  std::string ListNodesError(const std::string& server) {
    flags_.server = server;
    std::ostringstream err;
    auto client = Client::Open(flags_, &time_, err);
    EXPECT_NE(client, nullptr) << err.str();
    if (!client) return err.str();
    carrierarr::v1::ListNodesResponse response;
    grpc::Status st = client->stub().ListNodes(client->Context().get(),
                                               carrierarr::v1::ListNodesRequest(), &response);
    EXPECT_FALSE(st.ok());
    EXPECT_EQ(client->Fail(st, err), kExitFailure);
    return err.str();
  }

  testing::ScratchDir dir_;
  ClientFlags flags_;
  SimulatedTimeSource time_{RealTimeSource::Get()->NowMs()};
};

TEST_F(ClientFailTest, NobodyListeningIsUnreachable) {
  const std::string server = "unix:" + (dir_ / "nothing.sock");
  EXPECT_THAT(ListNodesError(server),
              HasSubstr("Error: cannot reach the control plane at " + server));
}

TEST_F(ClientFailTest, AServerAnsweringUnavailableIsReachedAndQuoted) {
  const std::string server = "unix:" + (dir_ / "serve.sock");
  StoreDownFleet service;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(server, grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> grpc_server = builder.BuildAndStart();
  ASSERT_NE(grpc_server, nullptr);
  const std::string said = ListNodesError(server);
  EXPECT_EQ(said, "Error: store unavailable: cannot connect to PostgreSQL at db\n");
  EXPECT_THAT(said, Not(HasSubstr("cannot reach")));
  grpc_server->Shutdown();
}

// `up` of a fleet whose control plane runs in a cluster records its address in
// .carrierarr/control/server; the commands use it when neither --server nor CARRIERARR_SERVER
// says otherwise (here it names a unix socket, so the test stays on this machine).
TEST(ClientDefaultsTest, TheRecordedServerIsUsedWithoutFlags) {
  testing::ScratchDir dir;
  const std::string control = dir / ".carrierarr/control";
  std::filesystem::create_directories(control);
  ASSERT_TRUE(WriteFileAtomic(control + "/admin.token", "secret\n", 0600).ok());
  const std::string server = "unix:" + (dir / "cluster.sock");
  ASSERT_TRUE(WriteFileAtomic(control + "/server", server + "\n", 0600).ok());
  StoreDownFleet service;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(server, grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> grpc_server = builder.BuildAndStart();
  ASSERT_NE(grpc_server, nullptr);
  auto run = [&](const Environment& env) {
    Seams seams{.environment = env};
    std::ostringstream out, err;
    RunNodes({.args = {"-f", dir / "fleet.yaml"}, .seams = seams, .out = out, .err = err});
    return err.str();
  };
  // Reached: the server answers (its store is down), so the recorded address was dialled.
  EXPECT_THAT(run(Environment()), HasSubstr("store unavailable"));
  // CARRIERARR_SERVER beats the recorded address.
  const std::string other = "unix:" + (dir / "nothing.sock");
  EXPECT_THAT(run(Environment{.vars = {{"CARRIERARR_SERVER", other}}}),
              HasSubstr("cannot reach the control plane at " + other));
  grpc_server->Shutdown();
}

TEST(ClientOutputTest, AgoCountsFromTheGivenNow) {
  const int64_t now = 1'700'000'000'000;
  EXPECT_EQ(Ago(0, now), "never");
  EXPECT_EQ(Ago(now - 119'000, now), "119s ago");
  EXPECT_EQ(Ago(now - 120'000, now), "2m ago");
  EXPECT_EQ(Ago(now - 7'200'000, now), "2h ago");
  EXPECT_EQ(Ago(now - 172'800'000, now), "2d ago");
  EXPECT_EQ(Ago(now + 5'000, now), "0s ago") << "a clock ahead of ours is not negative";
}

TEST(ClientOutputTest, TimeoutSecondsRoundsUpAndBounds) {
  int32_t s = -1;
  EXPECT_TRUE(TimeoutSeconds(std::chrono::milliseconds(1), &s));
  EXPECT_EQ(s, 1);
  EXPECT_TRUE(TimeoutSeconds(std::chrono::nanoseconds(0), &s));
  EXPECT_EQ(s, 0);
  EXPECT_TRUE(TimeoutSeconds(std::chrono::hours(24), &s));
  EXPECT_EQ(s, 86400);
  EXPECT_FALSE(TimeoutSeconds(std::chrono::hours(24) + std::chrono::seconds(1), &s));
  EXPECT_FALSE(TimeoutSeconds(std::chrono::seconds(-1), &s));
}

}  // namespace
}  // namespace carrierarr::cli
