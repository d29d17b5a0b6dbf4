// /health latency of the control plane's HTTP API while 50 slow or idle connections are open
// (issue 11: the cpp-httplib server it replaced was frozen by 4 slow connections). Runs, in one
// process and one run, the real HttpApi (Boost.Beast, default limits) and a "peer": a plain
// cpp-httplib server configured as the old one was (4 pool threads, 1 MiB bodies, httplib's
// default 5 s read timeout), both on 127.0.0.1.
//
// For each server and each kind of client it opens the connections (from 127.0.0.2..6, ten per
// address, under the per-client cap of 32), then sends /health requests one after another, each
// on a new connection with a 2 s timeout, and reports p50/p99/max of the answered ones. A server
// that answers nothing is given up on after 10 timeouts.
//
//   bash bench/run_http_bench.sh            (or build/bin/http_slow_clients_bench [REQUESTS])
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "control_plane/control_plane.h"
#include "control_plane/http_api.h"
#include "control_plane/store.h"
#include "testing/raw_socket.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kConnections = 50;
constexpr int kGiveUpAfter = 10;  // timeouts

int Connect(int port, const std::string& source) {
  int fd = carrierarr::testing::ConnectFromLoopback(port, source);
  if (fd < 0) {
    std::perror("connect");
    std::exit(1);
  }
  return fd;
}

// kConnections open connections; slow ones send a request a byte a second, never finishing it.
class Crowd {
 public:
  Crowd(int port, bool slow) {
    for (int i = 0; i < kConnections; ++i)
      fds_.push_back(Connect(port, "127.0.0." + std::to_string(2 + i % 5)));
    if (slow) trickler_ = std::thread([this] { Trickle(); });
  }
  ~Crowd() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    if (trickler_.joinable()) trickler_.join();
    for (int fd : fds_) close(fd);
  }

 private:
  void Trickle() {
    const std::string request =
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(600, 'a');
    for (char byte : request) {
      for (int fd : fds_) send(fd, &byte, 1, MSG_NOSIGNAL);
      std::unique_lock lock(mu_);
      if (cv_.wait_for(lock, std::chrono::seconds(1), [this] { return done_; })) return;
    }
  }

  std::vector<int> fds_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread trickler_;
};

struct Figures {
  int answered = 0, timed_out = 0;
  double p50 = 0, p99 = 0, max = 0;  // ms, of the answered
};

Figures Measure(int port, int requests) {
  std::vector<double> ms;
  Figures f;
  for (int i = 0; i < requests && f.timed_out < kGiveUpAfter; ++i) {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(std::chrono::seconds(2));
    c.set_read_timeout(std::chrono::seconds(2));
    const auto start = Clock::now();
    auto r = c.Get("/health");
    const double took = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if (r && r->status == 200)
      ms.push_back(took);
    else
      ++f.timed_out;
  }
  f.answered = static_cast<int>(ms.size());
  if (!ms.empty()) {
    std::sort(ms.begin(), ms.end());
    f.p50 = ms[ms.size() / 2];
    f.p99 = ms[std::min(ms.size() - 1, ms.size() * 99 / 100)];
    f.max = ms.back();
  }
  return f;
}

void Report(const char* server, const char* clients, int requests, const Figures& f) {
  if (f.answered == 0) {
    std::printf("| %-26s | %-16s | %4d | %8d of %-3d | %8s | %8s | %8s |\n", server, clients,
                requests, 0, f.timed_out, "-", "-", "-");
    return;
  }
  std::printf("| %-26s | %-16s | %4d | %8d of %-3d | %8.2f | %8.2f | %8.2f |\n", server, clients,
              requests, f.answered, f.answered + f.timed_out, f.p50, f.p99, f.max);
}

void Run(const char* name, int port, int requests) {
  // Once with nothing else open, then with the crowds.
  Report(name, "none", requests, Measure(port, requests));
  for (bool slow : {true, false}) {
    Crowd crowd(port, slow);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let the server take them
    Report(name, slow ? "50 slow (1 B/s)" : "50 idle", requests, Measure(port, requests));
  }
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

}  // namespace

int main(int argc, char** argv) {
  namespace cp_ns = carrierarr::control_plane;
  const int requests = argc > 1 ? std::atoi(argv[1]) : 200;
  char dir[] = "/tmp/carrierarr-http-bench-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  auto store = cp_ns::OpenSqliteStore(std::string(dir) + "/fleet.db");
  if (!store.ok()) return 1;
  auto cp = cp_ns::ControlPlane::Create(std::move(*store), {});
  if (!cp.ok()) return 1;
  auto api = cp_ns::HttpApi::Start(**cp, "127.0.0.1", 0, "", "", "bench");
  if (!api.ok()) {
    std::fprintf(stderr, "%s\n", api.status().ToString().c_str());
    return 1;
  }

  // The peer: cpp-httplib as the old HTTP API was configured.
  httplib::Server peer;
  peer.new_task_queue = [] { return new httplib::ThreadPool(4); };
  peer.set_payload_max_length(1 << 20);
  peer.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"ok\"}\n", "application/json");
  });
  const int peer_port = peer.bind_to_any_port("127.0.0.1");
  std::thread peer_thread([&] { peer.listen_after_bind(); });
  while (!peer.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  std::printf("CPU: %s, %u hardware threads; %d /health requests per row, 2 s timeout each\n\n",
              CpuModel().c_str(), std::thread::hardware_concurrency(), requests);
  std::printf("| %-26s | %-16s | %4s | %-15s | %8s | %8s | %8s |\n", "server", "other clients",
              "reqs", "answered", "p50 ms", "p99 ms", "max ms");
  std::printf("|%s|%s|%s|%s|%s|%s|%s|\n", std::string(28, '-').c_str(),
              std::string(18, '-').c_str(), std::string(6, '-').c_str(),
              std::string(17, '-').c_str(), std::string(10, '-').c_str(),
              std::string(10, '-').c_str(), std::string(10, '-').c_str());
  Run("HttpApi (Beast)", (*api)->port(), requests);
  Run("peer: cpp-httplib, 4 thr.", peer_port, requests);

  peer.stop();
  peer_thread.join();
  (*api)->Stop();
  std::string rm = std::string("rm -rf ") + dir;
  return std::system(rm.c_str()) == 0 ? 0 : 1;
}
