#include "agent/health_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <memory>
#include <string>

#include "agent/metrics.h"

namespace carrierarr::agent {
namespace {

using ::testing::HasSubstr;

class HealthServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    metrics_ = std::make_shared<AgentMetrics>();
    server_ = std::make_unique<HealthServer>(
        HealthServerOptions{.addr = "127.0.0.1", .port = 0, .version = "1.2.3-test"}, metrics_);
    Status s = server_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_GT(server_->port(), 0);
  }
  void TearDown() override { server_->Stop(); }

  httplib::Result Get(const std::string& path) {
    httplib::Client client("127.0.0.1", server_->port());
    client.set_connection_timeout(2, 0);
    client.set_read_timeout(5, 0);
    return client.Get(path.c_str());
  }

  std::shared_ptr<AgentMetrics> metrics_;
  std::unique_ptr<HealthServer> server_;
};

TEST_F(HealthServerTest, HealthIsAlwaysOk) {
  auto res = Get("/health");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "{\"status\":\"ok\"}\n");
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
}

TEST_F(HealthServerTest, ReadyFollowsTheConnectionWithTheReason) {
  auto before = Get("/ready");
  ASSERT_TRUE(before);
  EXPECT_EQ(before->status, 503);
  EXPECT_THAT(before->body, HasSubstr("not connected yet"));

  metrics_->SetConnected(true, "");
  auto up = Get("/ready");
  ASSERT_TRUE(up);
  EXPECT_EQ(up->status, 200);

  metrics_->SetConnected(false, "stream ended: UNAVAILABLE: \"gone\"");
  auto down = Get("/ready");
  ASSERT_TRUE(down);
  EXPECT_EQ(down->status, 503);
  // The reason is quoted into JSON, escaped.
  EXPECT_THAT(down->body, HasSubstr("stream ended: UNAVAILABLE: \\\"gone\\\""));
}

TEST_F(HealthServerTest, Version) {
  auto res = Get("/version");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "{\"version\":\"1.2.3-test\"}\n");
}

TEST_F(HealthServerTest, MetricsInPrometheusTextFormat) {
  metrics_->SetConnected(true, "");
  metrics_->CountReconnect();
  metrics_->CountReconnect();
  metrics_->CountStatusSent();
  metrics_->CountCommand("exec", "success");
  metrics_->CountCommand("exec", "success");
  metrics_->CountCommand("reboot", "failure");
  auto res = Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_THAT(res->get_header_value("Content-Type"), HasSubstr("text/plain; version=0.0.4"));
  const std::string& b = res->body;
  EXPECT_THAT(b,
              HasSubstr("# TYPE carrierarr_agent_connected gauge\ncarrierarr_agent_connected 1\n"));
  EXPECT_THAT(b, HasSubstr("# TYPE carrierarr_agent_reconnects_total counter\n"
                           "carrierarr_agent_reconnects_total 2\n"));
  EXPECT_THAT(b, HasSubstr("carrierarr_agent_status_sent_total 1\n"));
  EXPECT_THAT(b,
              HasSubstr("carrierarr_agent_commands_total{type=\"exec\",result=\"success\"} 2\n"));
  EXPECT_THAT(b,
              HasSubstr("carrierarr_agent_commands_total{type=\"reboot\",result=\"failure\"} 1\n"));
  // RSS is read live: a running process has some.
  auto pos = b.find("\ncarrierarr_agent_rss_bytes ");
  ASSERT_NE(pos, std::string::npos);
  EXPECT_GT(std::stoull(b.substr(pos + 28)), 1000000u);
  EXPECT_EQ(b.back(), '\n');
}

TEST_F(HealthServerTest, AnythingElseIs404) {
  for (const char* path : {"/", "/healthz", "/metrics/x", "/api/v1/fleet"}) {
    auto res = Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 404) << path;
  }
  httplib::Client client("127.0.0.1", server_->port());
  auto post = client.Post("/health", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 404);
}

TEST_F(HealthServerTest, ManySequentialRequestsWithTwoWorkers) {
  // Connections are not kept alive, so the small pool never runs dry.
  for (int i = 0; i < 50; ++i) {
    auto res = Get("/health");
    ASSERT_TRUE(res) << "request " << i;
    ASSERT_EQ(res->status, 200);
  }
}

TEST(HealthServerStandaloneTest, ATakenPortFailsClearly) {
  auto metrics = std::make_shared<AgentMetrics>();
  HealthServer first({.addr = "127.0.0.1", .port = 0, .version = "v"}, metrics);
  ASSERT_TRUE(first.Start().ok());
  HealthServer second({.addr = "127.0.0.1", .port = first.port(), .version = "v"}, metrics);
  Status s = second.Start();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("127.0.0.1:" + std::to_string(first.port())));
  EXPECT_THAT(s.message(), HasSubstr("-health-port"));
  first.Stop();
}

TEST(HealthServerStandaloneTest, StopRightAfterStartAndTwiceIsFine) {
  auto metrics = std::make_shared<AgentMetrics>();
  for (int i = 0; i < 20; ++i) {
    HealthServer s({.addr = "127.0.0.1", .port = 0, .version = "v"}, metrics);
    ASSERT_TRUE(s.Start().ok());
    s.Stop();
    s.Stop();
  }
}

TEST(HealthServerStandaloneTest, StoppedServerRefusesConnections) {
  auto metrics = std::make_shared<AgentMetrics>();
  HealthServer s({.addr = "127.0.0.1", .port = 0, .version = "v"}, metrics);
  ASSERT_TRUE(s.Start().ok());
  int port = s.port();
  s.Stop();
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(1, 0);
  EXPECT_FALSE(client.Get("/health"));
}

}  // namespace
}  // namespace carrierarr::agent
