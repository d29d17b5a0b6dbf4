#include "control_plane/http_api.h"

#include <google/protobuf/util/json_util.h>
#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

#include "carrierarr/v1/fleet.pb.h"
#include "control_plane/auth.h"
#include "control_plane/control_plane.h"
#include "core/time_source.h"
#include "ec2agent/v1/agent.pb.h"

namespace carrierarr::control_plane {
namespace {

using nlohmann::json;

constexpr size_t kMaxBody = 1 << 20;
constexpr int kThreads = 4;
constexpr char kJson[] = "application/json";
// A waiting handler wakes this often to notice Stop(), so that shutdown never waits minutes.
constexpr std::chrono::milliseconds kWaitSlice{250};
// With no command timeout, a waited POST /api/v1/command holds a pool thread at most this long.
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

void SendJson(httplib::Response& res, int http_status, const std::string& body) {
  res.status = http_status;
  res.set_content(body + "\n", kJson);
}

void SendError(httplib::Response& res, int http_status, const std::string& message,
               const std::string& code, const std::string& hint = "") {
  json j{{"error", message}, {"code", code}};
  if (!hint.empty()) j["hint"] = hint;
  SendJson(res, http_status, j.dump());
}

void SendStatus(httplib::Response& res, const Status& status) {
  SendError(res, HttpStatusFor(status.code()), status.message(),
            std::string(StatusCodeName(status.code())));
}

std::string Normalize(std::string_view s) {
  std::string out;
  for (char c : s)
    out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// The message of an enum-valued query parameter ("?node_type=GPU_WORKER").
template <typename Enum>
bool ParseEnumParam(const httplib::Request& req, const char* name, const std::string& prefix,
                    bool (*parse)(const std::string&, Enum*), Enum* value, std::string* error) {
  if (!req.has_param(name)) return true;
  std::string v = Normalize(req.get_param_value(name));
  if (v.rfind(prefix, 0) != 0) v = prefix + v;
  if (!parse(v, value)) {
    *error = std::string("unknown ") + name + " \"" + req.get_param_value(name) + "\"";
    return false;
  }
  return true;
}

bool ParseInt64Param(const httplib::Request& req, const char* name, int64_t* value,
                     std::string* error) {
  if (!req.has_param(name)) return true;
  const std::string s = req.get_param_value(name);
  try {
    size_t used = 0;
    *value = std::stoll(s, &used);
    if (used == s.size() && *value >= 0) return true;
  } catch (...) {
  }
  *error = std::string(name) + " must be a non-negative integer, not \"" + s + "\"";
  return false;
}

bool Fail(std::string* error, std::string message) {
  *error = std::move(message);
  return false;
}

// Fills `request` from the POST /api/v1/command body; the error names the offending field.
bool ParseCommandBody(const std::string& body, carrierarr::v1::SendCommandRequest* request,
                      std::string* error) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    *error = "the body is not valid JSON";
    return false;
  }
  if (!j.is_object()) {
    *error = "the body must be a JSON object";
    return false;
  }
  for (const auto& [key, value] : j.items()) {
    if (key == "node_id") {
      if (!value.is_string()) return Fail(error, "node_id must be a string");
      request->set_node_id(value.get<std::string>());
    } else if (key == "type") {
      int type = 0;
      if (value.is_number_integer()) {
        int64_t n = value.get<int64_t>();
        if (n < 1 || n > std::numeric_limits<int>::max() ||
            !ec2agent::v1::CommandType_IsValid(static_cast<int>(n)))
          return Fail(error, "unknown command type " + value.dump());
        type = static_cast<int>(n);
      } else if (!value.is_string() || !ParseCommandType(value.get<std::string>(), &type)) {
        return Fail(error, "unknown command type " + value.dump() +
                               " (want EXEC, DRAIN, SHUTDOWN, REBOOT, PULL_MODEL, UNLOAD_MODEL, "
                               "UPDATE_CONFIG, RESTART_SERVICE or the number)");
      }
      request->set_type(static_cast<ec2agent::v1::CommandType>(type));
    } else if (key == "args") {
      if (!value.is_object()) return Fail(error, "args must be an object of strings");
      for (const auto& [k, v] : value.items()) {
        // Booleans and numbers are accepted as their text ("force": true -> "true").
        if (v.is_string())
          (*request->mutable_args())[k] = v.get<std::string>();
        else if (v.is_boolean() || v.is_number())
          (*request->mutable_args())[k] = v.dump();
        else
          return Fail(error, "args." + k + " must be a string");
      }
    } else if (key == "argv") {
      if (!value.is_array()) return Fail(error, "argv must be an array of strings");
      for (const auto& a : value) {
        if (!a.is_string()) return Fail(error, "argv must be an array of strings");
        request->add_argv(a.get<std::string>());
      }
    } else if (key == "timeout_seconds") {
      if (!value.is_number_integer() || value.get<int64_t>() < 0 || value.get<int64_t>() > 86400)
        return Fail(error, "timeout_seconds must be an integer from 0 (none) to 86400");
      request->set_timeout_seconds(static_cast<int32_t>(value.get<int64_t>()));
    } else if (key == "wait") {
      if (!value.is_boolean()) return Fail(error, "wait must be true or false");
      request->set_wait(value.get<bool>());
    } else {
      // A typo ("timeout" for "timeout_seconds") would otherwise be silently ignored.
      *error = "unknown field \"" + key +
               "\" (fields: node_id, type, args, argv, timeout_seconds, wait)";
      return false;
    }
  }
  if (request->node_id().empty()) return Fail(error, "node_id is required");
  if (request->type() == ec2agent::v1::COMMAND_TYPE_UNSPECIFIED)
    return Fail(error, "type is required (e.g. \"EXEC\")");
  return true;
}

bool Finished(const carrierarr::v1::CommandRecord& r) {
  return r.state() != "queued" && r.state() != "sent";
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

bool ParseCommandType(std::string_view name, int* type) {
  std::string n = Normalize(name);
  if (!n.empty() && std::all_of(n.begin(), n.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
      })) {
    if (n.size() > 3) return false;
    *type = std::stoi(n);
    return *type != 0 && ec2agent::v1::CommandType_IsValid(*type);
  }
  if (n.rfind("COMMAND_TYPE_", 0) != 0) n = "COMMAND_TYPE_" + n;
  ec2agent::v1::CommandType t;
  if (!ec2agent::v1::CommandType_Parse(n, &t) || t == ec2agent::v1::COMMAND_TYPE_UNSPECIFIED)
    return false;
  *type = t;
  return true;
}

HttpApi::HttpApi(ControlPlane& cp, std::unique_ptr<httplib::Server> server, std::string version)
    : cp_(cp), server_(std::move(server)), version_(std::move(version)) {}

HttpApi::~HttpApi() { Stop(); }

Result<std::unique_ptr<HttpApi>> HttpApi::Start(ControlPlane& cp, const std::string& host, int port,
                                                const std::string& tls_cert,
                                                const std::string& tls_key,
                                                const std::string& version) {
  if (port < 0 || port > 65535) return Status::InvalidArgument("port out of range");
  std::unique_ptr<httplib::Server> server;
  if (!tls_cert.empty() || !tls_key.empty()) {
    if (tls_cert.empty() || tls_key.empty())
      return Status::InvalidArgument("--tls-cert and --tls-key go together");
    auto ssl = std::make_unique<httplib::SSLServer>(tls_cert.c_str(), tls_key.c_str());
    if (!ssl->is_valid())
      return Status::InvalidArgument("cannot load the TLS certificate " + tls_cert + " and key " +
                                     tls_key + " (PEM files, the key matching the certificate?)");
    server = std::move(ssl);
  } else {
    server = std::make_unique<httplib::Server>();
  }
  std::unique_ptr<HttpApi> api(new HttpApi(cp, std::move(server), version));
  httplib::Server& s = *api->server_;
  s.new_task_queue = [] { return new httplib::ThreadPool(kThreads); };
  s.set_payload_max_length(kMaxBody);
  // httplib's default also sets SO_REUSEPORT, which would let a second `carrierarr serve` share
  // the port and get half the requests; a busy port must be an error instead.
  s.set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  api->AddRoutes();

  if (port == 0) {
    api->port_ = s.bind_to_any_port(host);
    if (api->port_ <= 0)
      return Status::Unavailable("cannot listen on " + host + ":0 (not an address of this host?)");
  } else {
    if (!s.bind_to_port(host, port))
      return Status::Unavailable("cannot listen on " + host + ":" + std::to_string(port) +
                                 " (address in use, or not an address of this host?)");
    api->port_ = port;
  }
  api->listen_thread_ = std::thread([&s] { s.listen_after_bind(); });
  // httplib's stop() does nothing until the loop runs, so a Stop() racing the start would
  // leave the thread blocked in accept(): return only once it is running.
  // (httplib's thread runs in real time, whatever clock the control plane reads.)
  for (int i = 0; i < 5000 && !s.is_running(); ++i)
    RealTimeSource::Get()->SleepFor(std::chrono::milliseconds(1));
  if (!s.is_running()) {
    api->Stop();
    return Status::Internal("the HTTP server did not start");
  }
  return api;
}

void HttpApi::Stop() {
  if (stopping_.exchange(true)) return;
  server_->stop();
  if (listen_thread_.joinable()) listen_thread_.join();
}

bool HttpApi::Authorized(const httplib::Request& req, httplib::Response& res) const {
  std::string secret(BearerSecret(req.get_header_value("Authorization")));
  if (cp_.IsAdmin(secret)) return true;
  res.set_header("WWW-Authenticate", "Bearer");
  SendError(res, 401, secret.empty() ? "no admin token" : "wrong admin token", "unauthenticated",
            "send the admin token from <state dir>/admin.token as 'Authorization: Bearer ...'");
  return false;
}

void HttpApi::AddRoutes() {
  httplib::Server& s = *server_;
  AddNodeRoutes(s);
  AddCommandRoutes(s);
  AddReportRoutes(s);
  SetErrorHandlers(s);
}

void HttpApi::AddNodeRoutes(httplib::Server& s) {
  s.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    SendJson(res, 200, R"({"status":"ok"})");
  });
  s.Get("/version", [this](const httplib::Request&, httplib::Response& res) {
    SendJson(res, 200, json{{"version", version_}}.dump());
  });

  s.Get("/api/v1/fleet", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req, res)) return;
    ec2agent::v1::FleetStatusRequest request;
    ec2agent::v1::NodeType node_type = ec2agent::v1::NODE_TYPE_UNSPECIFIED;
    ec2agent::v1::HealthState health = ec2agent::v1::HEALTH_STATE_UNSPECIFIED;
    std::string error;
    if (!ParseEnumParam(req, "node_type", "NODE_TYPE_", &ec2agent::v1::NodeType_Parse, &node_type,
                        &error) ||
        !ParseEnumParam(req, "health", "HEALTH_STATE_", &ec2agent::v1::HealthState_Parse, &health,
                        &error))
      return SendError(res, 400, error, "invalid argument");
    request.set_node_type(node_type);
    request.set_health(health);
    SendJson(res, 200, ProtoJson(cp_.FleetStatus(request)));
  });

  s.Get("/api/v1/nodes", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req, res)) return;
    carrierarr::v1::ListNodesResponse list;
    for (auto& n : cp_.ListNodes()) *list.add_nodes() = std::move(n);
    SendJson(res, 200, ProtoJson(list));
  });
  s.Get(R"(/api/v1/nodes/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req, res)) return;
    auto node = cp_.GetNode(req.matches[1]);
    if (!node.ok()) return SendStatus(res, node.status());
    SendJson(res, 200, ProtoJson(*node));
  });
  s.Delete(R"(/api/v1/nodes/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req, res)) return;
    const std::string id = req.matches[1];
    Status st = cp_.DeleteNode(id);
    if (!st.ok()) return SendStatus(res, st);
    SendJson(res, 200, json{{"node_id", id}, {"deleted", true}}.dump());
  });
}

void HttpApi::AddCommandRoutes(httplib::Server& s) {
  s.Post("/api/v1/command", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req, res)) return;
    PostCommand(req, res);
  });
  s.Get(R"(/api/v1/commands/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req, res)) return;
    auto r = cp_.GetCommand(req.matches[1]);
    if (!r.ok()) return SendStatus(res, r.status());
    SendJson(res, 200, ProtoJson(*r));
  });
}

void HttpApi::AddReportRoutes(httplib::Server& s) {
  s.Get("/api/v1/events", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req, res)) return;
    int64_t after = 0, limit = 100;
    std::string error;
    if (!ParseInt64Param(req, "after", &after, &error) ||
        !ParseInt64Param(req, "limit", &limit, &error))
      return SendError(res, 400, error, "invalid argument");
    limit = std::clamp<int64_t>(limit, 1, 1000);
    auto events = cp_.Events(after, static_cast<int>(limit), std::chrono::milliseconds(0));
    if (!events.ok()) return SendStatus(res, events.status());
    json list = json::array();
    for (const auto& e : *events) list.push_back(json::parse(ProtoJson(e), nullptr, false));
    SendJson(res, 200, json{{"events", list}}.dump());
  });

  s.Get("/api/v1/stats", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req, res)) return;
    SendJson(res, 200, cp_.StatsJson());
  });
  s.Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req, res)) return;
    res.set_content(cp_.PrometheusText(), "text/plain; version=0.0.4");
  });
}

void HttpApi::SetErrorHandlers(httplib::Server& s) {
  // httplib calls this for every response >= 400; ours already carry a JSON body.
  s.set_error_handler(httplib::Server::HandlerWithResponse(
      [](const httplib::Request& req, httplib::Response& res) -> httplib::Server::HandlerResponse {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        if (res.status == 404)
          SendError(res, 404, "no endpoint " + req.method + " " + req.path, "not found");
        else if (res.status == 413)
          SendError(res, 413, "request body over 1 MiB", "invalid argument");
        else
          SendError(res, res.status, "HTTP error " + std::to_string(res.status), "http");
        return httplib::Server::HandlerResponse::Handled;
      }));
  s.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, const std::exception_ptr& ep) {
        std::string what = "unexpected error";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        SendError(res, 500, what, "internal");
      });
}

void HttpApi::PostCommand(const httplib::Request& req, httplib::Response& res) {
  carrierarr::v1::SendCommandRequest request;
  std::string error;
  if (!ParseCommandBody(req.body, &request, &error))
    return SendError(res, 400, error, "invalid argument");
  auto r = cp_.SendCommand(request);
  if (!r.ok()) return SendStatus(res, r.status());
  if (request.wait()) {
    // The command's own timeout plus the grace the control plane gives it before timed_out.
    const auto limit =
        (request.timeout_seconds() > 0 ? std::chrono::seconds(request.timeout_seconds())
                                       : kDefaultWait) +
        cp_.options().command_grace;
    const TimeSource& clock = *cp_.options().clock;
    const auto deadline = clock.MonotonicNow() + limit;
    // In slices, so that Stop() is not held up by a handler waiting minutes for a result.
    while (!Finished(*r) && !stopping_ && clock.MonotonicNow() < deadline) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock.MonotonicNow());
      auto next = cp_.WaitCommand(r->command_id(), std::min(left, kWaitSlice));
      if (!next.ok()) return SendStatus(res, next.status());
      r = std::move(next);
    }
  }
  // 202: accepted, the result is still to come (GET /api/v1/commands/{id}).
  SendJson(res, Finished(*r) ? 200 : 202, ProtoJson(*r));
}

}  // namespace carrierarr::control_plane
