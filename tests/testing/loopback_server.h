// Test servers on 127.0.0.1 and a port the kernel picks, so nothing leaves the machine: an HTTP
// server standing in for what cannot run here (EC2's metadata service, container credentials,
// Ollama, the AWS client's endpoints), and a port that never answers, to prove that clients
// give up on time.
#ifndef CARRIERARR_TESTS_TESTING_LOOPBACK_SERVER_H_
#define CARRIERARR_TESTS_TESTING_LOOPBACK_SERVER_H_

#include <httplib.h>

#include <string>
#include <thread>

namespace carrierarr::testing {

// Register routes on server() first, then Start(). The destructor stops the server and joins
// its thread.
class LoopbackServer {
 public:
  LoopbackServer() = default;
  ~LoopbackServer();
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  httplib::Server& server() { return server_; }

  // Binds 127.0.0.1:0 and serves on a thread; returns once it accepts connections (at most 5 s;
  // fails the test otherwise).
  void Start();

  int port() const { return port_; }
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
  explicit SilentPort(Mode mode = kSilent);
  ~SilentPort();
  SilentPort(const SilentPort&) = delete;
  SilentPort& operator=(const SilentPort&) = delete;

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace carrierarr::testing

#endif  // CARRIERARR_TESTS_TESTING_LOOPBACK_SERVER_H_
