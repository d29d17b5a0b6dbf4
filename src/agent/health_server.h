// The agent's health HTTP server: /health (liveness), /ready (200 only while connected to the
// control plane), /version and /metrics (Prometheus text). Two worker threads, and connections
// are not kept alive, so that a scraper cannot hold the pool and RSS stays small.
//
// Thread safety: Start and Stop from one thread; port() from any.
#ifndef CARRIERARR_AGENT_HEALTH_SERVER_H_
#define CARRIERARR_AGENT_HEALTH_SERVER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "agent/metrics.h"
#include "core/status.h"

namespace httplib {
class Server;
}

namespace carrierarr::agent {

struct HealthServerOptions {
  std::string addr = "0.0.0.0";
  int port = 8080;  // 0 picks a free port (see HealthServer::port())
  std::string version;
};

class HealthServer {
 public:
  // `metrics` is shared with the client and read on every request.
  HealthServer(HealthServerOptions options, std::shared_ptr<const AgentMetrics> metrics);
  ~HealthServer();  // Stop()
  HealthServer(const HealthServer&) = delete;
  HealthServer& operator=(const HealthServer&) = delete;

  // Binds (failing clearly when the address is taken) and serves on a thread of its own.
  Status Start();
  // Stops serving and joins the thread. Idempotent.
  void Stop();
  // The bound port, once Start succeeded.
  int port() const { return port_; }

 private:
  HealthServerOptions options_;
  std::shared_ptr<const AgentMetrics> metrics_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<bool> listen_done_{false};
};

}  // namespace carrierarr::agent

#endif  // CARRIERARR_AGENT_HEALTH_SERVER_H_
