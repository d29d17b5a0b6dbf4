#include "control_plane/http_decode.h"

#include <algorithm>
#include <cctype>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

namespace carrierarr::control_plane {
namespace {

using nlohmann::json;

bool Fail(std::string* error, std::string message) {
  *error = std::move(message);
  return false;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX escapes; in a query, '+' is a space too.
bool PercentDecode(std::string_view in, bool plus_is_space, std::string* out, std::string* error) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      const int hi = i + 2 < in.size() ? HexValue(in[i + 1]) : -1;
      const int lo = hi >= 0 ? HexValue(in[i + 2]) : -1;
      if (lo < 0) return Fail(error, "broken percent escape in the request target");
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out->push_back(plus_is_space && in[i] == '+' ? ' ' : in[i]);
    }
  }
  return true;
}

bool ParseQuery(std::string_view query, QueryParams* out, std::string* error) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    std::string name, value;
    if (!PercentDecode(pair.substr(0, eq), true, &name, error)) return false;
    if (eq != std::string_view::npos && !PercentDecode(pair.substr(eq + 1), true, &value, error))
      return false;
    out->emplace(std::move(name), std::move(value));
  }
  return true;
}

std::string Normalize(std::string_view s) {
  std::string out;
  for (char c : s)
    out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// An enum-valued query parameter ("?node_type=GPU_WORKER").
template <typename Enum>
bool ParseEnumParam(const QueryParams& query, const char* name, const std::string& prefix,
                    bool (*parse)(const std::string&, Enum*), Enum* value, std::string* error) {
  auto it = query.find(name);
  if (it == query.end()) return true;
  std::string v = Normalize(it->second);
  if (v.rfind(prefix, 0) != 0) v = prefix + v;
  if (!parse(v, value))
    return Fail(error, std::string("unknown ") + name + " \"" + it->second + "\"");
  return true;
}

bool ParseInt64Param(const QueryParams& query, const char* name, int64_t max, int64_t* value,
                     std::string* error) {
  auto it = query.find(name);
  if (it == query.end()) return true;
  const std::string& s = it->second;
  const bool digits = !s.empty() && s.size() <= 18 && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c));
  });
  if (digits) {
    *value = std::stoll(s);
    if (*value <= max) return true;
  }
  return Fail(error, std::string(name) + " must be an integer from 0 to " + std::to_string(max) +
                         ", not \"" + s + "\"");
}

bool ParseType(const json& value, int* type, std::string* error) {
  if (value.is_number_integer()) {
    const int64_t n = value.get<int64_t>();
    if (n < 1 || n > std::numeric_limits<int>::max() ||
        !ec2agent::v1::CommandType_IsValid(static_cast<int>(n)))
      return Fail(error, "unknown command type " + value.dump());
    *type = static_cast<int>(n);
    return true;
  }
  if (!value.is_string() || !ParseCommandType(value.get<std::string>(), type))
    return Fail(error, "unknown command type " + value.dump() +
                           " (want EXEC, DRAIN, SHUTDOWN, REBOOT, PULL_MODEL, UNLOAD_MODEL, "
                           "UPDATE_CONFIG, RESTART_SERVICE or the number)");
  return true;
}

bool ParseArgs(const json& value, carrierarr::v1::SendCommandRequest* request, std::string* error) {
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
  return true;
}

// One field of the command body.
bool ParseCommandField(const std::string& key, const json& value,
                       carrierarr::v1::SendCommandRequest* request, std::string* error) {
  if (key == "node_id") {
    if (!value.is_string()) return Fail(error, "node_id must be a string");
    request->set_node_id(value.get<std::string>());
  } else if (key == "type") {
    int type = 0;
    if (!ParseType(value, &type, error)) return false;
    request->set_type(static_cast<ec2agent::v1::CommandType>(type));
  } else if (key == "args") {
    return ParseArgs(value, request, error);
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
    return Fail(error, "unknown field \"" + key +
                           "\" (fields: node_id, type, args, argv, timeout_seconds, wait)");
  }
  return true;
}

}  // namespace

bool ParseTarget(std::string_view target, RequestTarget* out, std::string* error) {
  if (target.empty() || target.front() != '/')
    return Fail(error, "the request target must be a path starting with '/'");
  const size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  if (!PercentDecode(path, false, &out->path, error)) return false;
  out->segments.clear();
  for (std::string_view rest = path.substr(1);;) {
    const size_t slash = rest.find('/');
    std::string segment;
    if (!PercentDecode(rest.substr(0, slash), false, &segment, error)) return false;
    out->segments.push_back(std::move(segment));
    if (slash == std::string_view::npos) break;
    rest = rest.substr(slash + 1);
  }
  out->query.clear();
  return q == std::string_view::npos || ParseQuery(target.substr(q + 1), &out->query, error);
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

bool ParseCommandBody(std::string_view body, carrierarr::v1::SendCommandRequest* request,
                      std::string* error) {
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Fail(error, "the body is not valid JSON");
  if (!j.is_object()) return Fail(error, "the body must be a JSON object");
  for (const auto& [key, value] : j.items())
    if (!ParseCommandField(key, value, request, error)) return false;
  if (request->node_id().empty()) return Fail(error, "node_id is required");
  if (request->type() == ec2agent::v1::COMMAND_TYPE_UNSPECIFIED)
    return Fail(error, "type is required (e.g. \"EXEC\")");
  return true;
}

bool ParseFleetQuery(const QueryParams& query, ec2agent::v1::FleetStatusRequest* request,
                     std::string* error) {
  ec2agent::v1::NodeType node_type = ec2agent::v1::NODE_TYPE_UNSPECIFIED;
  ec2agent::v1::HealthState health = ec2agent::v1::HEALTH_STATE_UNSPECIFIED;
  if (!ParseEnumParam(query, "node_type", "NODE_TYPE_", &ec2agent::v1::NodeType_Parse, &node_type,
                      error) ||
      !ParseEnumParam(query, "health", "HEALTH_STATE_", &ec2agent::v1::HealthState_Parse, &health,
                      error))
    return false;
  request->set_node_type(node_type);
  request->set_health(health);
  return true;
}

bool ParseEventsQuery(const QueryParams& query, EventsQuery* out, std::string* error) {
  int64_t after = out->after, limit = out->limit, wait = out->wait.count();
  if (!ParseInt64Param(query, "after", std::numeric_limits<int64_t>::max(), &after, error) ||
      !ParseInt64Param(query, "limit", std::numeric_limits<int64_t>::max(), &limit, error) ||
      !ParseInt64Param(query, "wait_seconds", kMaxEventsWait.count(), &wait, error))
    return false;
  out->after = after;
  out->limit = static_cast<int>(std::clamp<int64_t>(limit, 1, 1000));
  out->wait = std::chrono::seconds(wait);
  return true;
}

}  // namespace carrierarr::control_plane
