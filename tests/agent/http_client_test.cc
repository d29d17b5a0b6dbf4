// The agent's HTTP client (agent/http_client.h) against a real HTTP server (cpp-httplib, as in
// the collector tests) and against scripted servers that answer byte for byte what a test
// wants, all on 127.0.0.1.
#include "agent/http_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "testing/loopback_server.h"

namespace carrierarr::agent::http {
namespace {

using ::carrierarr::testing::LoopbackServer;
using ::carrierarr::testing::SilentPort;
using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;

TEST(ParseHttpUrlTest, HostsAndPorts) {
  struct Case {
    const char* url;
    const char* host;
    uint16_t port;
  };
  for (const Case& c :
       {Case{"http://127.0.0.1:11434", "127.0.0.1", 11434},
        Case{"http://127.0.0.1:11434//", "127.0.0.1", 11434},
        Case{"http://169.254.169.254", "169.254.169.254", 80},
        Case{"HTTP://localhost:8080/", "localhost", 8080}, Case{"http://[::1]:9000", "::1", 9000},
        Case{"http://[fe80::1]", "fe80::1", 80}}) {
    auto e = ParseHttpUrl(c.url);
    ASSERT_TRUE(e.ok()) << c.url << ": " << e.status().ToString();
    EXPECT_EQ(e->host, c.host) << c.url;
    EXPECT_EQ(e->port, c.port) << c.url;
  }
  EXPECT_EQ(ParseHttpUrl("http://[::1]:9000")->HostPort(), "[::1]:9000");
  EXPECT_EQ(ParseHttpUrl("http://127.0.0.1")->HostPort(), "127.0.0.1:80");
}

TEST(ParseHttpUrlTest, RefusalsSayWhy) {
  struct Case {
    const char* url;
    const char* why;
  };
  for (const Case& c : {Case{"https://127.0.0.1:11434", "https:// is not supported"},
                        Case{"127.0.0.1:11434", "is not an http:// URL"},
                        Case{"http://:80", "has no host"}, Case{"http://", "has no host"},
                        Case{"http://h:0", "1..65535"}, Case{"http://h:65536", "1..65535"},
                        Case{"http://h:", "1..65535"}, Case{"http://h:8x", "1..65535"},
                        Case{"http://h/api", "has a path"}, Case{"http://h?x=1", "has a path"},
                        Case{"http://u:p@h", "user info"}, Case{"http://::1:80", "brackets"},
                        Case{"http://[::1", "closing ']'"}, Case{"http://[::1]x", "after"}}) {
    auto e = ParseHttpUrl(c.url);
    ASSERT_FALSE(e.ok()) << c.url;
    EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument) << c.url;
    EXPECT_THAT(e.status().message(), HasSubstr(c.why)) << c.url;
  }
}

TEST(HttpCallTest, RequestsThatWouldSmuggleALineAreRefusedUnsent) {
  // No server: a refusal must come before any connection attempt.
  const Endpoint nowhere{.host = "127.0.0.1", .port = 9};
  auto header = Call(nowhere, {.path = "/", .headers = {{"X-Token", "abc\r\nX-Evil: 1"}}});
  ASSERT_FALSE(header.ok());
  EXPECT_EQ(header.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(header.status().message(), HasSubstr("X-Token"));
  EXPECT_THAT(header.status().message(), Not(HasSubstr("abc")));  // values may be secrets
  auto name = Call(nowhere, {.path = "/", .headers = {{"X Token", "v"}}});
  EXPECT_EQ(name.status().code(), StatusCode::kInvalidArgument);
  auto path = Call(nowhere, {.path = "/a b HTTP/1.0\r\n"});
  EXPECT_EQ(path.status().code(), StatusCode::kInvalidArgument);
  auto relative = Call(nowhere, {.path = "api"});
  EXPECT_EQ(relative.status().code(), StatusCode::kInvalidArgument);
}

Endpoint LocalEndpoint(int port) {
  return Endpoint{.host = "127.0.0.1", .port = static_cast<uint16_t>(port)};
}

int PortOf(const std::string& url) { return std::stoi(url.substr(url.rfind(':') + 1)); }

TEST(HttpCallTest, RequestAndAnswerThroughARealServer) {
  LoopbackServer server;
  std::mutex mu;
  httplib::Headers seen;
  std::string seen_body, seen_method;
  auto record = [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu);
    seen = req.headers;
    seen_body = req.body;
    seen_method = req.method;
    res.status = req.method == "PUT" ? 201 : 200;
    res.set_header("X-Answer", "42");
    res.set_content("answer to " + req.method, "text/plain");
  };
  server.server().Get("/thing", record);
  server.server().Put("/thing", record);
  server.server().Post("/thing", record);
  server.Start();
  const Endpoint endpoint = *ParseHttpUrl(server.url());

  auto get = Call(endpoint, {.method = "GET", .path = "/thing", .headers = {{"X-Token", "t1"}}});
  ASSERT_TRUE(get.ok()) << get.status().ToString();
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, "answer to GET");
  ASSERT_NE(FindHeader(get->headers, "x-answer"), nullptr);
  EXPECT_EQ(*FindHeader(get->headers, "x-answer"), "42");
  {
    std::lock_guard<std::mutex> lock(mu);
    auto header = [&](const char* name) {
      auto it = seen.find(name);
      return it == seen.end() ? std::string("(none)") : it->second;
    };
    EXPECT_EQ(header("X-Token"), "t1");
    EXPECT_EQ(header("Host"), endpoint.HostPort());
    EXPECT_EQ(header("Connection"), "close");
    EXPECT_EQ(header("Content-Length"), "(none)");
  }

  // A PUT with no body still says so (IMDS's token request has none).
  auto put = Call(endpoint, {.method = "PUT", .path = "/thing"});
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ(put->status, 201);
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(seen.find("Content-Length")->second, "0");
  }

  const std::string big(size_t{300} * 1024, 'b');
  auto post = Call(endpoint, {.method = "POST", .path = "/thing", .body = big});
  ASSERT_TRUE(post.ok()) << post.status().ToString();
  EXPECT_EQ(post->body, "answer to POST");
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen_method, "POST");
  EXPECT_EQ(seen_body, big);
}

TEST(HttpCallTest, ChunkedAnswersFromARealServer) {
  LoopbackServer server;
  server.server().Get("/stream", [](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider(
        "application/json", [](size_t offset, httplib::DataSink& sink) {
          if (offset >= 100000) {
            sink.done();
            return true;
          }
          std::string piece(1000, static_cast<char>('a' + (offset / 1000) % 26));
          return sink.write(piece.data(), piece.size());
        });
  });
  server.Start();
  auto r = Call(*ParseHttpUrl(server.url()), {.path = "/stream"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->body.size(), 100000u);
  EXPECT_EQ(r->body.substr(0, 3), "aaa");
  EXPECT_EQ(r->body.substr(99997), "vvv");  // the 100th piece: 'a' + 99 % 26
}

// Accepts one connection on 127.0.0.1, reads the request head, then sends `pieces` with
// `gap` between them and closes. For answers no real server would give.
class ScriptedServer {
 public:
  ScriptedServer(std::vector<std::string> pieces, std::chrono::milliseconds gap)
      : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 4), 0);
    EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this, pieces = std::move(pieces), gap] {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string request;
      char buf[1024];
      while (request.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        request.append(buf, static_cast<size_t>(n));
      }
      for (const std::string& p : pieces) {
        if (::send(c, p.data(), p.size(), MSG_NOSIGNAL) < 0) break;
        std::this_thread::sleep_for(gap);
      }
      ::close(c);
    });
  }
  ~ScriptedServer() {
    ::shutdown(fd_, SHUT_RDWR);  // ends a pending accept() when the client never came
    thread_.join();
    ::close(fd_);
  }
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;
  int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
  std::thread thread_;
};

TEST(HttpCallTest, AnswersInPiecesAndInterimAnswers) {
  ScriptedServer server({"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 2", "00 OK\r\nContent-Le",
                         "ngth: 5\r\n\r\nhel", "lo"},
                        std::chrono::milliseconds(10));
  auto r = Call(LocalEndpoint(server.port()), {.path = "/"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello");
}

TEST(HttpCallTest, ABodyUntilTheConnectionCloses) {
  ScriptedServer server({"HTTP/1.0 200 OK\r\n\r\nfirst ", "second"}, std::chrono::milliseconds(5));
  auto r = Call(LocalEndpoint(server.port()), {.path = "/"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "first second");
}

TEST(HttpCallTest, BrokenAnswersAreErrorsThatSayWhat) {
  struct Case {
    std::vector<std::string> pieces;
    StatusCode code;
    const char* why;
  };
  for (const Case& c : {
           Case{{"SSH-2.0-OpenSSH_9.2\r\n\r\n"}, StatusCode::kDataLoss, "not HTTP/1.x"},
           Case{{"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"},
                StatusCode::kDataLoss,
                "5 of 10"},
           Case{{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"},
                StatusCode::kDataLoss,
                "inside a chunked body"},
           Case{{}, StatusCode::kUnavailable, "without an answer"},
           Case{{"HTTP/1.1 200 OK\r\n"}, StatusCode::kUnavailable, "without a complete answer"},
       }) {
    ScriptedServer server(c.pieces, std::chrono::milliseconds(0));
    auto r = Call(LocalEndpoint(server.port()), {.path = "/"});
    ASSERT_FALSE(r.ok()) << c.why;
    EXPECT_EQ(r.status().code(), c.code) << r.status().ToString();
    EXPECT_THAT(r.status().message(), HasSubstr(c.why));
    EXPECT_THAT(r.status().message(), HasSubstr("127.0.0.1:" + std::to_string(server.port())));
  }
}

TEST(HttpCallTest, AnswersAreBoundedInSize) {
  ScriptedServer server({"HTTP/1.1 200 OK\r\n\r\n", std::string(70000, 'x')},
                        std::chrono::milliseconds(0));
  auto r = Call(LocalEndpoint(server.port()), {.path = "/"}, {.max_response_bytes = 65536});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(r.status().message(), HasSubstr("more than 65536 bytes"));
}

TEST(HttpCallTest, SilentAndRefusingServersFailWithinTheTimeout) {
  SilentPort silent;
  auto start = Clock::now();
  auto r = Call(LocalEndpoint(PortOf(silent.url())), {.path = "/"},
                {.connect_timeout = std::chrono::milliseconds(200),
                 .timeout = std::chrono::milliseconds(300)});
  auto took = Clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded) << r.status().ToString();
  EXPECT_THAT(r.status().message(), HasSubstr("within 300 ms"));
  EXPECT_GE(took, std::chrono::milliseconds(290));
  EXPECT_LT(took, std::chrono::milliseconds(1500));

  // A server that trickles bytes does not stretch the deadline either.
  ScriptedServer trickle({"HTTP/1.1 200 OK\r\n", "X: 1\r\n", "X: 2\r\n", "X: 3\r\n", "X: 4\r\n"},
                         std::chrono::milliseconds(100));
  start = Clock::now();
  r = Call(LocalEndpoint(trickle.port()), {.path = "/"},
           {.timeout = std::chrono::milliseconds(250)});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded) << r.status().ToString();
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(1500));

  SilentPort refusing(SilentPort::kRefusing);
  r = Call(LocalEndpoint(PortOf(refusing.url())), {.path = "/"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(r.status().message(), HasSubstr("connection refused"));
}

}  // namespace
}  // namespace carrierarr::agent::http
