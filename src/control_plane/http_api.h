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
//   POST   /api/v1/commands/{id}/cancel   cancel it (ControlPlane::CancelCommand)
//   GET    /api/v1/events           {"events":[...]} (?after=SEQ&limit=N&wait_seconds=S)
//   GET    /api/v1/stats            ControlPlane::StatsJson()
//   GET    /metrics                 Prometheus text format
//
// Everything but /health and /version needs "Authorization: Bearer <admin token>". Protobuf
// messages are rendered with their proto field names (snake_case); as proto3 JSON mandates,
// 64-bit integers are JSON strings. Errors are {"error": "...", "code": "..."}.
//
// Served by HttpServer (http_server.h: one I/O thread, a small worker pool, every client's
// resources bounded); requests are decoded by http_decode.h. Waits (POST /api/v1/command with
// "wait": true, GET /api/v1/events with wait_seconds) hold no thread: they are watches on the
// control plane (ControlPlane::WatchCommand, WatchEvents) and a timer.
//
// Thread safety: Start, port and Stop may be called from any thread; handlers run on the
// server's worker threads.
#ifndef CARRIERARR_CONTROL_PLANE_HTTP_API_H_
#define CARRIERARR_CONTROL_PLANE_HTTP_API_H_

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "carrierarr/v1/fleet.pb.h"
#include "control_plane/http_decode.h"
#include "control_plane/http_server.h"
#include "core/status.h"

namespace carrierarr::control_plane {

class ControlPlane;

// The HTTP status that stands for `code` (kNotFound -> 404, kFailedPrecondition -> 409, ...).
int HttpStatusFor(StatusCode code);

class HttpApi {
 public:
  // Binds host:port (port 0 picks a free one) and serves until Stop. With tls_cert and tls_key
  // (PEM file paths) it speaks HTTPS only. `cp` must outlive the HttpApi.
  static Result<std::unique_ptr<HttpApi>> Start(ControlPlane& cp, const std::string& host, int port,
                                                const std::string& tls_cert,
                                                const std::string& tls_key,
                                                const std::string& version,
                                                const HttpLimits& limits = {});
  ~HttpApi();  // Stop()
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  int port() const { return server_->port(); }
  // Stops listening, ends waits for command results and events, and joins the threads; waits
  // for no client. Idempotent.
  void Stop();

 private:
  enum class Access { kPublic, kAdmin };
  // One row of the route table (HttpApi::Routes): add a route there.
  struct Route {
    const char* method;
    const char* pattern;  // '*' matches one path segment (HttpRequest::params)
    Access access;
    HttpHandlerResult (HttpApi::*handle)(const HttpRequest&);
    bool on_io_thread = false;  // touches neither the store nor a lock that may be held long
  };
  static const std::vector<Route>& Routes();

  HttpApi(ControlPlane& cp, std::string version);
  std::vector<HttpRoute> ServerRoutes();
  // A 401 unless the request carries the admin token.
  std::optional<HttpResponse> Unauthorized(const HttpRequest& request) const;

  HttpHandlerResult Health(const HttpRequest& request);
  HttpHandlerResult Version(const HttpRequest& request);
  HttpHandlerResult Fleet(const HttpRequest& request);
  HttpHandlerResult ListNodes(const HttpRequest& request);
  HttpHandlerResult GetNode(const HttpRequest& request);
  HttpHandlerResult DeleteNode(const HttpRequest& request);
  HttpHandlerResult PostCommand(const HttpRequest& request);
  HttpHandlerResult GetCommand(const HttpRequest& request);
  HttpHandlerResult CancelCommand(const HttpRequest& request);
  HttpHandlerResult Events(const HttpRequest& request);
  HttpHandlerResult Stats(const HttpRequest& request);
  HttpHandlerResult Metrics(const HttpRequest& request);
  // The burst controller's pools; wake and sleep answer once decided (no worker waits).
  HttpHandlerResult ListPools(const HttpRequest& request);
  HttpHandlerResult WakePool(const HttpRequest& request);
  HttpHandlerResult SleepPool(const HttpRequest& request);
  using PoolMethod =
      Result<carrierarr::v1::PoolResponse> (ControlPlane::*)(const carrierarr::v1::PoolRequest&);
  // Wake or sleep the pool the path names.
  HttpHandlerResult PoolCall(const HttpRequest& request, PoolMethod call);

  HttpResponse CommandResponse(const std::string& command_id);
  HttpResponse EventsResponse(const EventsQuery& query);
  // Answers with respond() once watch() has called its wake, or after `limit`.
  DeferredResponse Watched(std::chrono::milliseconds limit,
                           std::function<uint64_t(std::function<void()>)> watch,
                           const std::function<void(uint64_t)>& unwatch,
                           std::function<HttpResponse()> respond);

  ControlPlane& cp_;
  const std::string version_;
  std::unique_ptr<HttpServer> server_;
};

}  // namespace carrierarr::control_plane

#endif  // CARRIERARR_CONTROL_PLANE_HTTP_API_H_
