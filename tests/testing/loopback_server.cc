#include "testing/loopback_server.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include "testing/eventually.h"

namespace carrierarr::testing {

LoopbackServer::~LoopbackServer() {
  // stop() before listen_after_bind() has begun would be lost and join() would hang: Start()
  // returns only once the server runs.
  server_.stop();
  if (thread_.joinable()) thread_.join();
}

void LoopbackServer::Start() {
  port_ = server_.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port_, 0) << "cannot bind 127.0.0.1:0";
  thread_ = std::thread([this] { server_.listen_after_bind(); });
  ASSERT_TRUE(Eventually([&] { return server_.is_running(); }, std::chrono::seconds(5),
                         std::chrono::milliseconds(1)))
      << "the loopback server did not start";
}

SilentPort::SilentPort(Mode mode) {
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

SilentPort::~SilentPort() { ::close(fd_); }

}  // namespace carrierarr::testing
