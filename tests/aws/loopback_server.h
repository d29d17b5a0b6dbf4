// A cpp-httplib server on 127.0.0.1 and a port the kernel picks, for the AWS client's tests
// (the real curl transport, instance metadata and container credentials): nothing leaves the
// machine. Register routes on server() before Start(); the destructor stops and joins it.
#ifndef CARRIERARR_TESTS_AWS_LOOPBACK_SERVER_H_
#define CARRIERARR_TESTS_AWS_LOOPBACK_SERVER_H_

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <string>
#include <thread>

namespace carrierarr::testing {

class LoopbackServer {
 public:
  LoopbackServer() = default;
  ~LoopbackServer() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  httplib::Server& server() { return server_; }

  // Binds, serves on a thread, and waits (at most 5 s) until it accepts.
  void Start() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0) << "cannot bind a loopback port";
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 500 && !server_.is_running(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_TRUE(server_.is_running()) << "the loopback server did not start";
  }

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace carrierarr::testing

#endif  // CARRIERARR_TESTS_AWS_LOOPBACK_SERVER_H_
