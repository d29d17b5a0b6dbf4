// Test helpers for the agent: an HTTP server on 127.0.0.1 (an ephemeral port) standing in for
// EC2's metadata service or Ollama, neither of which can run here; and a port that accepts
// connections but never answers, to prove that clients give up on time.
#ifndef CARRIERARR_TESTS_AGENT_FAKE_HTTP_H_
#define CARRIERARR_TESTS_AGENT_FAKE_HTTP_H_

#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

namespace carrierarr::testing {

// Register handlers on server() first, then Start(). The destructor stops the server and joins
// its thread.
class FakeHttpServer {
 public:
  FakeHttpServer() = default;
  ~FakeHttpServer() {
    if (thread_.joinable()) {
      server_.stop();
      thread_.join();
    }
  }
  FakeHttpServer(const FakeHttpServer&) = delete;
  FakeHttpServer& operator=(const FakeHttpServer&) = delete;

  httplib::Server& server() { return server_; }

  // Binds 127.0.0.1:0 and serves on a thread; returns once it accepts connections.
  void Start() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0) << "cannot bind 127.0.0.1:0";
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() before listen_after_bind() has begun would be lost and join() would hang.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!server_.is_running() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_TRUE(server_.is_running());
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

// A socket bound to 127.0.0.1 that never accepts. Listening (kSilent), the kernel completes
// connections into its backlog and then no byte ever comes back (a service that hangs); not
// listening (kRefusing), connections are refused (a service that is down), and the port cannot
// be taken by anyone else meanwhile.
class SilentPort {
 public:
  enum Mode { kSilent, kRefusing };
  explicit SilentPort(Mode mode = kSilent) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    if (mode == kSilent) {
      EXPECT_EQ(::listen(fd_, 16), 0);
    }
    EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentPort() { ::close(fd_); }
  SilentPort(const SilentPort&) = delete;
  SilentPort& operator=(const SilentPort&) = delete;
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace carrierarr::testing

#endif  // CARRIERARR_TESTS_AGENT_FAKE_HTTP_H_
