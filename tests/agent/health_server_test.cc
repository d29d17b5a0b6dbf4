#include "agent/health_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "agent/metrics.h"

namespace carrierarr::agent {
namespace {

using ::testing::HasSubstr;

// A plain TCP connection to 127.0.0.1:port for requests that an HTTP library would not send.
// Owns its socket.
class RawConnection {
 public:
  explicit RawConnection(int port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawConnection(RawConnection&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  RawConnection& operator=(RawConnection&&) = delete;

  void Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      ASSERT_GT(n, 0) << "send: " << std::strerror(errno);
      data.remove_prefix(static_cast<size_t>(n));
    }
  }
  void HalfClose() { ::shutdown(fd_, SHUT_WR); }
  // Sends what it can; a connection the server closed meanwhile is no failure.
  void SendQuietly(std::string_view data) {
    (void)::send(fd_, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  // Everything until the server closes the connection, or what came before `timeout`.
  std::string ReadToEnd(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
        ADD_FAILURE() << "no end of answer within " << timeout.count() << " ms";
        return out;
      }
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return out;
      out.append(buf, static_cast<size_t>(n));
    }
  }

 private:
  int fd_;
};

std::string RawExchange(int port, std::string_view request) {
  RawConnection c(port);
  c.Send(request);
  return c.ReadToEnd();
}

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

  std::string RawExchange(std::string_view request) {
    return agent::RawExchange(server_->port(), request);
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
  for (const char* path : {"/", "/healthz", "/metrics/x", "/api/v1/fleet", "/health/"}) {
    auto res = Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 404) << path;
    EXPECT_EQ(res->body, "{\"error\":\"not found\"}\n") << path;
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/json") << path;
  }
  httplib::Client client("127.0.0.1", server_->port());
  auto post = client.Post("/nope", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 404);
}

TEST_F(HealthServerTest, OtherMethodsOnOurPathsAre405) {
  httplib::Client client("127.0.0.1", server_->port());
  auto post = client.Post("/health", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  EXPECT_EQ(post->get_header_value("Allow"), "GET, HEAD");
  auto del = client.Delete("/ready");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 405);
  // A body bigger than the server reads is swallowed before the close: the answer survives.
  auto big =
      client.Put("/metrics", std::string(size_t{200} * 1024, 'x'), "application/octet-stream");
  ASSERT_TRUE(big) << httplib::to_string(big.error());
  EXPECT_EQ(big->status, 405);
}

TEST_F(HealthServerTest, HeadAnswersWithTheHeadersOnly) {
  std::string answer = RawExchange("HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(answer.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << answer;
  EXPECT_THAT(answer, HasSubstr("Content-Length: 16\r\n"));  // of the GET's body
  EXPECT_EQ(answer.substr(answer.size() - 4), "\r\n\r\n") << answer;
}

TEST_F(HealthServerTest, QueryStringsAndAbsoluteTargetsAreRoutedByPath) {
  auto res = Get("/health?verbose=1");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  std::string answer =
      RawExchange("GET http://127.0.0.1/version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  EXPECT_EQ(answer.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << answer;
  EXPECT_THAT(answer, HasSubstr("\r\n\r\n{\"version\":\"1.2.3-test\"}\n"));
  // HTTP/1.0, bare line feeds and blank lines before the request line are all accepted.
  answer = RawExchange("\r\nGET /health HTTP/1.0\n\n");
  EXPECT_EQ(answer.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << answer;
  EXPECT_THAT(answer, HasSubstr("Connection: close\r\n"));
}

TEST_F(HealthServerTest, MalformedRequestsAre400) {
  for (const char* request :
       {"GET /health\r\n\r\n", "GET /health HTTP/2.0\r\n\r\n", "GET  /health HTTP/1.1\r\n\r\n",
        "GET /health HTTP/1.1\r\nNo colon here\r\n\r\n",
        "GET /health HTTP/1.1\r\nX: a\r\n folded\r\n\r\n"}) {
    std::string answer = RawExchange(request);
    EXPECT_EQ(answer.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << request << answer;
    EXPECT_THAT(answer, HasSubstr("{\"error\":\"bad request: ")) << request;
  }
}

TEST_F(HealthServerTest, AnOversizedRequestIs431) {
  std::string request = "GET /health HTTP/1.1\r\nX-Filler: " + std::string(9000, 'a') + "\r\n\r\n";
  std::string answer = RawExchange(request);
  EXPECT_EQ(answer.rfind("HTTP/1.1 431 ", 0), 0u) << answer.substr(0, 100);
}

TEST_F(HealthServerTest, SilentClientsDoNotBlockProbes) {
  // Clients that connect and send nothing do not hold up a probe: connections are served side
  // by side, not in turn.
  std::vector<RawConnection> idle;
  idle.reserve(4);
  for (int i = 0; i < 4; ++i) idle.emplace_back(server_->port());
  auto res = Get("/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST_F(HealthServerTest, SlowAndIdleClientsBeyondTheCapDoNotDelayAProbe) {
  // 20 clients that dribble a request a byte at a time and 20 that send nothing, more than the
  // server serves at once (32), all within the 5 s I/O timeout: a probe is still answered at
  // once (the oldest connections make room for it), not after the others time out.
  std::vector<RawConnection> slow, idle;
  slow.reserve(20);
  idle.reserve(20);
  for (int i = 0; i < 20; ++i) {
    slow.emplace_back(server_->port());
    slow.back().Send("G");
    idle.emplace_back(server_->port());
  }
  std::atomic<bool> done{false};
  std::thread dribble([&] {
    for (int round = 0; round < 20 && !done; ++round) {
      for (auto& c : slow) c.SendQuietly("E");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  for (int probe = 0; probe < 3; ++probe) {
    const auto start = std::chrono::steady_clock::now();
    std::string answer = RawExchange("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(answer.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << answer;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2)) << probe;
  }
  done = true;
  dribble.join();
}

TEST_F(HealthServerTest, ARequestSentInPiecesIsAnswered) {
  RawConnection c(server_->port());
  c.Send("GET /ver");
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  c.Send("sion HTTP/1.1\r\nHost: x\r");
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  c.Send("\n\r\n");
  std::string answer = c.ReadToEnd();
  EXPECT_EQ(answer.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << answer;
  EXPECT_THAT(answer, HasSubstr("1.2.3-test"));
}

TEST_F(HealthServerTest, ARequestFollowedByAHalfCloseIsAnswered) {
  // As `printf 'GET /health HTTP/1.0\r\n\r\n' | nc -N host 8080` sends it.
  RawConnection c(server_->port());
  c.Send("GET /health HTTP/1.0\r\n\r\n");
  c.HalfClose();
  std::string answer = c.ReadToEnd();
  EXPECT_EQ(answer.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << answer;
  // Half a request and a half-close: closed unanswered, at once.
  RawConnection partial(server_->port());
  partial.Send("GET /hea");
  partial.HalfClose();
  EXPECT_EQ(partial.ReadToEnd(std::chrono::seconds(2)), "");
}

TEST(HealthServerStandaloneTest, IdleConnectionsAreClosedAfterTheIoTimeout) {
  auto metrics = std::make_shared<AgentMetrics>();
  HealthServer s({.addr = "127.0.0.1",
                  .port = 0,
                  .version = "v",
                  .io_timeout = std::chrono::milliseconds(200)},
                 metrics);
  ASSERT_TRUE(s.Start().ok());
  // More clients that never send anything than the server serves at once (16): the rest wait
  // in the backlog.
  std::vector<RawConnection> idle;
  idle.reserve(20);
  for (int i = 0; i < 20; ++i) idle.emplace_back(s.port());
  // Each is closed unanswered once the timeout passes...
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(idle[0].ReadToEnd(std::chrono::seconds(3)), "");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  // ...and a probe behind them all is answered.
  httplib::Client client("127.0.0.1", s.port());
  client.set_read_timeout(5, 0);
  auto res = client.Get("/health");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  s.Stop();
}

TEST_F(HealthServerTest, ManySequentialRequests) {
  // Connections are not kept alive: every answer closes its connection.
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
