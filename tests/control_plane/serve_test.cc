// `carrierarr serve` as one object (control_plane/server.h): its listener defaults, the warning
// for plain-text listeners beyond loopback and the mesh, and the state directory, which it
// creates 0700 when missing and otherwise never changes (nor accepts when anyone may write it).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "control_plane/server.h"
#include "testing/tools.h"

namespace carrierarr::control_plane {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

// On loopback only, ports picked by the kernel.
ServeOptions LocalOptions(const testing::ScratchDir& dir, const std::string& state_dir) {
  ServeOptions o;
  o.db = dir / "fleet.db";
  o.state_dir = state_dir;
  o.grpc_listen = {"127.0.0.1:0"};
  o.http_listen = "127.0.0.1:0";
  return o;
}

TEST(ServeTest, ListensOnLoopbackByDefault) {
  ServeOptions o;
  EXPECT_THAT(o.grpc_listen, ElementsAre("127.0.0.1:50051"));
  EXPECT_EQ(o.http_listen, "127.0.0.1:8090");
  EXPECT_THAT(PlainTextListenerWarnings(o), IsEmpty());
}

TEST(ServeTest, WarnsOfPlainTextListenersBeyondLoopbackAndTheMesh) {
  ServeOptions o;
  o.grpc_listen = {"0.0.0.0:50051", "unix:/run/x.sock", "127.0.0.2:1", "[::1]:2", "10.42.1.1:3"};
  o.http_listen = "192.168.1.5:8090";
  std::vector<std::string> w = PlainTextListenerWarnings(o);
  ASSERT_THAT(w, SizeIs(3));
  EXPECT_THAT(w[0], HasSubstr("--listen 0.0.0.0:50051 is plain text (no TLS)"));
  EXPECT_THAT(w[0], HasSubstr("--tls-cert and --tls-key"));
  EXPECT_THAT(w[1], HasSubstr("--listen 10.42.1.1:3"));
  EXPECT_THAT(w[2], HasSubstr("--http 192.168.1.5:8090"));

  // Inside the mesh, Nebula encrypts: no warning there.
  o.mesh_cidr = "10.42.0.0/16";
  w = PlainTextListenerWarnings(o);
  ASSERT_THAT(w, SizeIs(2));
  EXPECT_THAT(w[0], HasSubstr("0.0.0.0:50051"));
  EXPECT_THAT(w[0], HasSubstr("inside --mesh-cidr 10.42.0.0/16"));

  // With TLS, none.
  o.tls_cert = "c.pem";
  o.tls_key = "k.pem";
  EXPECT_THAT(PlainTextListenerWarnings(o), IsEmpty());
}

TEST(ServeTest, CreatesAMissingStateDir0700) {
  testing::ScratchDir dir;
  const std::string state = dir / "a/b/state";
  auto server = Server::Start(LocalOptions(dir, state));
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  EXPECT_EQ(testing::ModeOf(state), 0700u);
  EXPECT_EQ(testing::ModeOf(state + "/admin.token"), 0600u);
  (*server)->Shutdown();
}

// `--state-dir /tmp` became 0700: an existing directory is never chmod-ed.
TEST(ServeTest, LeavesTheModeOfAnExistingStateDirAlone) {
  testing::ScratchDir dir;
  const std::string state = dir / "shared";
  ASSERT_EQ(mkdir(state.c_str(), 0755), 0);
  ASSERT_EQ(chmod(state.c_str(), 0755), 0);
  auto server = Server::Start(LocalOptions(dir, state));
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  EXPECT_EQ(testing::ModeOf(state), 0755u);
  (*server)->Shutdown();
}

TEST(ServeTest, RefusesAWorldWritableStateDir) {
  testing::ScratchDir dir;
  const std::string state = dir / "tmp";
  ASSERT_EQ(mkdir(state.c_str(), 0700), 0);
  ASSERT_EQ(chmod(state.c_str(), 01777), 0);  // like /tmp
  auto server = Server::Start(LocalOptions(dir, state));
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(server.status().message(), HasSubstr("writable by every user (mode 1777)"));
  EXPECT_THAT(server.status().message(), HasSubstr("chmod o-w"));
  EXPECT_EQ(testing::ModeOf(state), 01777u);
  EXPECT_EQ(testing::Entries(state).size(), 0u) << "nothing may be written there";
}

TEST(ServeTest, RefusesABadMeshCidr) {
  testing::ScratchDir dir;
  ServeOptions o = LocalOptions(dir, dir / "state");
  o.mesh_cidr = "10.42.0.0";
  auto server = Server::Start(o);
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(server.status().message(), HasSubstr("--mesh-cidr"));
}

TEST(ServeTest, TheGatewayServesTheFleetsModelsAndNeedsAFleet) {
  testing::ScratchDir dir;
  ServeOptions o = LocalOptions(dir, dir / "state");
  o.gateway_listen = "127.0.0.1:0";
  auto refused = Server::Start(o);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("--gateway: needs --fleet"));

  spec::FleetSpec fleet;
  spec::PoolSpec gpu;
  gpu.name = "gpu";
  gpu.type = spec::PoolType::kGpuWorker;
  gpu.models = {"llama3:8b"};
  fleet.pools = {gpu};
  o.burst_fleet = fleet;
  auto server = Server::Start(o);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  ASSERT_GT((*server)->gateway_port(), 0);
  httplib::Client gateway("127.0.0.1", (*server)->gateway_port());
  auto tags = gateway.Get("/api/tags");
  ASSERT_TRUE(tags);
  EXPECT_THAT(tags->body, HasSubstr("\"name\":\"llama3:8b\""));
  // Its counters join the HTTP API's /metrics.
  httplib::Client api("127.0.0.1", (*server)->http_port());
  auto metrics = api.Get("/metrics", {{"Authorization", "Bearer " + (*server)->admin_token()}});
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body, HasSubstr("carrierarr_gateway_holding 0"));
  (*server)->Shutdown();
}

}  // namespace
}  // namespace carrierarr::control_plane
