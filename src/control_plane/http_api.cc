#include "control_plane/http_api.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <utility>

#include "control_plane/auth.h"
#include "control_plane/control_plane.h"
#include "core/thread_annotations.h"
#include "ec2agent/v1/agent.pb.h"

namespace carrierarr::control_plane {
namespace {

using nlohmann::json;

// With no command timeout, a waited POST /api/v1/command is answered (202) after this long.
constexpr std::chrono::seconds kDefaultWait{300};

std::string ProtoJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  // Zero values (state counters, exit code 0, success: false) are information, not noise.
  options.always_print_primitive_fields = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok())
    return R"({"error":"cannot render the response as JSON"})";
  return out;
}

HttpResponse StatusError(const Status& status) {
  const int http_status = HttpStatusFor(status.code());
  if (http_status == 500) {
    // Internal detail (a corrupt row, a store's own words) is for the operator's log only.
    std::fprintf(stderr, "carrierarr serve: HTTP: %s\n", status.ToString().c_str());
    return JsonError(500, "internal error", "internal");
  }
  return JsonError(http_status, status.message(), std::string(StatusCodeName(status.code())));
}

HttpResponse BadRequest(const std::string& error) {
  return JsonError(400, error, "invalid argument");
}

bool Finished(const carrierarr::v1::CommandRecord& r) { return CommandFinished(r.state()); }

// One watch of a DeferredResponse: its id, and whether stop() came first (then start() must
// undo the watch it makes).
struct WatchSlot {
  Mutex mu;
  uint64_t id GUARDED_BY(mu) = 0;
  bool stopped GUARDED_BY(mu) = false;
};

HttpResponse EventsJson(const std::vector<carrierarr::v1::Event>& events) {
  json list = json::array();
  for (const auto& e : events) list.push_back(json::parse(ProtoJson(e), nullptr, false));
  return JsonResponse(200,
                      json{{"events", list}}.dump(-1, ' ', false, json::error_handler_t::replace));
}

}  // namespace

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kAborted:
      return 409;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kResourceExhausted:
      return 429;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kDeadlineExceeded:
      return 504;
    case StatusCode::kDataLoss:
    case StatusCode::kInternal:
      return 500;
  }
  return 500;
}

HttpApi::HttpApi(ControlPlane& cp, std::string version) : cp_(cp), version_(std::move(version)) {}

HttpApi::~HttpApi() { Stop(); }

Result<std::unique_ptr<HttpApi>> HttpApi::Start(ControlPlane& cp, const std::string& host, int port,
                                                const std::string& tls_cert,
                                                const std::string& tls_key,
                                                const std::string& version,
                                                const HttpLimits& limits) {
  std::unique_ptr<HttpApi> api(new HttpApi(cp, version));
  HttpServerOptions options{
      .host = host, .port = port, .tls_cert = tls_cert, .tls_key = tls_key, .limits = limits};
  auto server = HttpServer::Start(std::move(options), api->ServerRoutes());
  if (!server.ok()) return server.status();
  api->server_ = std::move(*server);
  return api;
}

void HttpApi::Stop() {
  if (server_) server_->Stop();
}

const std::vector<HttpApi::Route>& HttpApi::Routes() {
  static const std::vector<Route> routes = {
      {"GET", "/health", Access::kPublic, &HttpApi::Health, /*on_io_thread=*/true},
      {"GET", "/version", Access::kPublic, &HttpApi::Version, /*on_io_thread=*/true},
      {"GET", "/api/v1/fleet", Access::kAdmin, &HttpApi::Fleet},
      {"GET", "/api/v1/nodes", Access::kAdmin, &HttpApi::ListNodes},
      {"GET", "/api/v1/nodes/*", Access::kAdmin, &HttpApi::GetNode},
      {"DELETE", "/api/v1/nodes/*", Access::kAdmin, &HttpApi::DeleteNode},
      {"POST", "/api/v1/command", Access::kAdmin, &HttpApi::PostCommand},
      {"GET", "/api/v1/commands/*", Access::kAdmin, &HttpApi::GetCommand},
      {"POST", "/api/v1/commands/*/cancel", Access::kAdmin, &HttpApi::CancelCommand},
      {"GET", "/api/v1/events", Access::kAdmin, &HttpApi::Events},
      {"GET", "/api/v1/stats", Access::kAdmin, &HttpApi::Stats},
      {"GET", "/metrics", Access::kAdmin, &HttpApi::Metrics},
      {"GET", "/api/v1/pools", Access::kAdmin, &HttpApi::ListPools},
      {"POST", "/api/v1/pools/*/wake", Access::kAdmin, &HttpApi::WakePool},
      {"POST", "/api/v1/pools/*/sleep", Access::kAdmin, &HttpApi::SleepPool},
  };
  return routes;
}

std::vector<HttpRoute> HttpApi::ServerRoutes() {
  std::vector<HttpRoute> out;
  for (const Route& r : Routes()) {
    out.push_back({.method = r.method,
                   .pattern = r.pattern,
                   .handler = [this, r](const HttpRequest& request) -> HttpHandlerResult {
                     if (r.access == Access::kAdmin)
                       if (auto refused = Unauthorized(request)) return std::move(*refused);
                     return (this->*r.handle)(request);
                   },
                   .on_io_thread = r.on_io_thread});
  }
  return out;
}

std::optional<HttpResponse> HttpApi::Unauthorized(const HttpRequest& request) const {
  std::string secret(BearerSecret(request.Header("Authorization")));
  if (cp_.IsAdmin(secret)) return std::nullopt;
  HttpResponse r =
      JsonError(401, secret.empty() ? "no admin token" : "wrong admin token", "unauthenticated",
                "send the admin token from <state dir>/admin.token as 'Authorization: Bearer ...'");
  r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

HttpHandlerResult HttpApi::Health(const HttpRequest&) {
  return JsonResponse(200, R"({"status":"ok"})");
}

HttpHandlerResult HttpApi::Version(const HttpRequest&) {
  return JsonResponse(200, json{{"version", version_}}.dump());
}

HttpHandlerResult HttpApi::Fleet(const HttpRequest& request) {
  ec2agent::v1::FleetStatusRequest fleet;
  std::string error;
  if (!ParseFleetQuery(request.target.query, &fleet, &error)) return BadRequest(error);
  return JsonResponse(200, ProtoJson(cp_.FleetStatus(fleet)));
}

HttpHandlerResult HttpApi::ListNodes(const HttpRequest&) {
  carrierarr::v1::ListNodesResponse list;
  for (auto& n : cp_.ListNodes()) *list.add_nodes() = std::move(n);
  return JsonResponse(200, ProtoJson(list));
}

HttpHandlerResult HttpApi::GetNode(const HttpRequest& request) {
  auto node = cp_.GetNode(request.params[0]);
  if (!node.ok()) return StatusError(node.status());
  return JsonResponse(200, ProtoJson(*node));
}

HttpHandlerResult HttpApi::DeleteNode(const HttpRequest& request) {
  const std::string& id = request.params[0];
  Status st = cp_.DeleteNode(id);
  if (!st.ok()) return StatusError(st);
  return JsonResponse(200, json{{"node_id", id}, {"deleted", true}}.dump(
                               -1, ' ', false, json::error_handler_t::replace));
}

HttpHandlerResult HttpApi::ListPools(const HttpRequest&) {
  auto pools = cp_.ListPools();
  if (!pools.ok()) return StatusError(pools.status());
  return JsonResponse(200, ProtoJson(*pools));
}

HttpHandlerResult HttpApi::WakePool(const HttpRequest& request) {
  return PoolCall(request, &ControlPlane::WakePool);
}

HttpHandlerResult HttpApi::SleepPool(const HttpRequest& request) {
  return PoolCall(request, &ControlPlane::SleepPool);
}

HttpHandlerResult HttpApi::PoolCall(const HttpRequest& request, PoolMethod call) {
  carrierarr::v1::PoolRequest pool;  // wait_seconds 0: no worker waits
  pool.set_pool(request.params[0]);
  auto r = (cp_.*call)(pool);
  if (!r.ok()) return StatusError(r.status());
  return JsonResponse(200, ProtoJson(*r));
}

HttpHandlerResult HttpApi::GetCommand(const HttpRequest& request) {
  auto r = cp_.GetCommand(request.params[0]);
  if (!r.ok()) return StatusError(r.status());
  return JsonResponse(200, ProtoJson(*r));
}

// 200 with the command as it is now: "cancelled" (it was never sent) or "cancelling" (the node
// was asked to stop it); 409 when it already finished, 404 when unknown.
HttpHandlerResult HttpApi::CancelCommand(const HttpRequest& request) {
  auto r = cp_.CancelCommand(request.params[0]);
  if (!r.ok()) return StatusError(r.status());
  return JsonResponse(200, ProtoJson(*r));
}

HttpHandlerResult HttpApi::Stats(const HttpRequest&) { return JsonResponse(200, cp_.StatsJson()); }

HttpHandlerResult HttpApi::Metrics(const HttpRequest&) {
  return HttpResponse{.content_type = "text/plain; version=0.0.4", .body = cp_.PrometheusText()};
}

HttpResponse HttpApi::CommandResponse(const std::string& command_id) {
  auto r = cp_.GetCommand(command_id);
  if (!r.ok()) return StatusError(r.status());
  // 202: accepted, the result is still to come (GET /api/v1/commands/{id}).
  return JsonResponse(Finished(*r) ? 200 : 202, ProtoJson(*r));
}

HttpHandlerResult HttpApi::PostCommand(const HttpRequest& request) {
  carrierarr::v1::SendCommandRequest command;
  std::string error;
  if (!ParseCommandBody(request.body, &command, &error)) return BadRequest(error);
  auto r = cp_.SendCommand(command);
  if (!r.ok()) return StatusError(r.status());
  if (!command.wait() || Finished(*r)) return JsonResponse(Finished(*r) ? 200 : 202, ProtoJson(*r));
  // The command's own timeout plus the grace the control plane gives it before timed_out.
  const auto limit =
      (command.timeout_seconds() > 0 ? std::chrono::seconds(command.timeout_seconds())
                                     : kDefaultWait) +
      cp_.options().command_grace;
  const std::string id = r->command_id();
  return Watched(
      limit,
      [this, id](std::function<void()> wake) { return cp_.WatchCommand(id, std::move(wake)); },
      [this](uint64_t watch) { cp_.UnwatchCommand(watch); },
      [this, id] { return CommandResponse(id); });
}

HttpResponse HttpApi::EventsResponse(const EventsQuery& query) {
  auto events = cp_.Events(query.after, query.limit, std::chrono::milliseconds(0));
  if (!events.ok()) return StatusError(events.status());
  return EventsJson(*events);
}

HttpHandlerResult HttpApi::Events(const HttpRequest& request) {
  EventsQuery query;
  std::string error;
  if (!ParseEventsQuery(request.target.query, &query, &error)) return BadRequest(error);
  auto events = cp_.Events(query.after, query.limit, std::chrono::milliseconds(0));
  if (!events.ok()) return StatusError(events.status());
  if (!events->empty() || query.wait.count() == 0) return EventsJson(*events);
  return Watched(
      query.wait,
      [this, after = query.after](std::function<void()> wake) {
        return cp_.WatchEvents(after, std::move(wake));
      },
      [this](uint64_t watch) { cp_.UnwatchEvents(watch); },
      [this, query] { return EventsResponse(query); });
}

DeferredResponse HttpApi::Watched(std::chrono::milliseconds limit,
                                  std::function<uint64_t(std::function<void()>)> watch,
                                  const std::function<void(uint64_t)>& unwatch,
                                  std::function<HttpResponse()> respond) {
  auto slot = std::make_shared<WatchSlot>();
  return DeferredResponse{
      .deadline = limit,
      .start =
          [slot, watch = std::move(watch), unwatch](std::function<void()> wake) {
            const uint64_t id = watch(std::move(wake));
            MutexLock lock(slot->mu);
            if (slot->stopped)
              unwatch(id);
            else
              slot->id = id;
          },
      .stop =
          [slot, unwatch] {
            MutexLock lock(slot->mu);
            slot->stopped = true;
            if (slot->id != 0) unwatch(slot->id);
          },
      .respond = std::move(respond)};
}

}  // namespace carrierarr::control_plane
