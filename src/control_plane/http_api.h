// The control plane's HTTP API (`carrierarr serve --http`): a thin JSON adapter over
// ControlPlane for dashboards, scripts and Prometheus.
//
//   GET    /health                  {"status":"ok"}             no token needed
//   GET    /version                 {"version":"..."}           no token needed
//   GET    /api/v1/fleet            the fleet summary (ec2agent.v1.FleetStatusResponse)
//   GET    /api/v1/nodes            {"nodes":[carrierarr.v1.Node...]}
//   GET    /api/v1/nodes/{id}       one node; 404 when unknown
//   DELETE /api/v1/nodes/{id}       forget a node
//   POST   /api/v1/command          queue a command (optionally wait for its result)
//   GET    /api/v1/commands/{id}    a command and its result
//   GET    /api/v1/events           {"events":[...]} (?after=SEQ&limit=N)
//   GET    /api/v1/stats            ControlPlane::StatsJson()
//   GET    /metrics                 Prometheus text format
//
// Everything but /health and /version needs "Authorization: Bearer <admin token>". Protobuf
// messages are rendered with their proto field names (snake_case); as proto3 JSON mandates,
// 64-bit integers are JSON strings. Errors are {"error": "...", "code": "..."}.
//
// Thread safety: Start, port and Stop may be called from any thread; requests are served by a
// small pool of threads of its own.
#ifndef CARRIERARR_CONTROL_PLANE_HTTP_API_H_
#define CARRIERARR_CONTROL_PLANE_HTTP_API_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "core/status.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace carrierarr::control_plane {

class ControlPlane;

// The HTTP status that stands for `code` (kNotFound -> 404, kFailedPrecondition -> 409, ...).
int HttpStatusFor(StatusCode code);

// An ec2agent.v1.CommandType from how people write it: "EXEC", "exec", "COMMAND_TYPE_EXEC",
// "pull-model", "pull_model" or the number. False for anything else, UNSPECIFIED included.
bool ParseCommandType(std::string_view name, int* type);

class HttpApi {
 public:
  // Binds host:port (port 0 picks a free one) and serves until Stop. With tls_cert and tls_key
  // (PEM file paths) it speaks HTTPS only. `cp` must outlive the HttpApi.
  static Result<std::unique_ptr<HttpApi>> Start(ControlPlane& cp, const std::string& host, int port,
                                                const std::string& tls_cert,
                                                const std::string& tls_key,
                                                const std::string& version);
  ~HttpApi();  // Stop()
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  int port() const { return port_; }
  // Stops listening, ends waits for command results and joins the threads. Idempotent.
  void Stop();

 private:
  HttpApi(ControlPlane& cp, std::unique_ptr<httplib::Server> server, std::string version);
  void AddRoutes();
  void AddNodeRoutes(httplib::Server& s);     // /health, /version, fleet and nodes
  void AddCommandRoutes(httplib::Server& s);  // commands
  void AddReportRoutes(httplib::Server& s);   // events, stats, /metrics
  static void SetErrorHandlers(httplib::Server& s);
  // True when the request carries the admin token; otherwise fills a 401 response.
  bool Authorized(const httplib::Request& req, httplib::Response& res) const;
  void PostCommand(const httplib::Request& req, httplib::Response& res);

  ControlPlane& cp_;
  std::unique_ptr<httplib::Server> server_;
  const std::string version_;
  int port_ = 0;
  std::thread listen_thread_;
  std::atomic<bool> stopping_{false};
};

}  // namespace carrierarr::control_plane

#endif  // CARRIERARR_CONTROL_PLANE_HTTP_API_H_
