// The agent's health HTTP server: /health (liveness), /ready (200 only while connected to the
// control plane), /version and /metrics (Prometheus text). GET and HEAD; another method on one
// of these paths is 405, any other path 404.
//
// A small HTTP/1.1 server of our own (agent/http_wire.h) rather than a library's: one thread
// with poll(), no keep-alive (one request per connection, then "Connection: close"), requests
// bounded to 8 KiB and to `io_timeout`, at most 32 connections at once: a new one beyond that
// takes the place of the oldest (closed unanswered), so that slow or idle clients never keep a
// probe waiting. Probes and a scraper need no more, and the agent stays small
// (docs/benchmarks.md, agent footprint).
//
// Thread safety: Start and Stop from one thread; port() from any.
#ifndef CARRIERARR_AGENT_HEALTH_SERVER_H_
#define CARRIERARR_AGENT_HEALTH_SERVER_H_

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "agent/metrics.h"
#include "core/status.h"

namespace carrierarr::agent {

struct HealthServerOptions {
  std::string addr = "0.0.0.0";  // a numeric address or a host name
  int port = 8080;               // 0 picks a free port (see HealthServer::port())
  std::string version;
  // How long a connection may take to send its request and read the answer; after that it is
  // closed unanswered, so that a slow or stuck client cannot hold a slot.
  std::chrono::milliseconds io_timeout{5000};
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
  // Stops serving, closes every connection and the listening socket, and joins the thread.
  // Idempotent.
  void Stop();
  // The bound port, once Start succeeded.
  int port() const { return port_; }

 private:
  void Serve();  // the server thread

  HealthServerOptions options_;
  std::shared_ptr<const AgentMetrics> metrics_;
  int listen_fd_ = -1;  // owned; open between Start and Stop
  int wake_fd_ = -1;    // owned eventfd: Stop writes it to end Serve()
  std::thread thread_;
  int port_ = 0;
};

}  // namespace carrierarr::agent

#endif  // CARRIERARR_AGENT_HEALTH_SERVER_H_
