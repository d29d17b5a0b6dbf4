// Decoding of the HTTP API's requests, apart from any transport: the request target (path and
// query), the POST /api/v1/command body and the query parameters of the routes that take them.
// Pure functions over bytes, so that a fuzz target (tests/fuzz/http_json_fuzz.cc) can call them
// without a server. Every error names the offending part of the request.
//
// Thread safety: stateless; safe from any thread.
#ifndef CARRIERARR_CONTROL_PLANE_HTTP_DECODE_H_
#define CARRIERARR_CONTROL_PLANE_HTTP_DECODE_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "carrierarr/v1/fleet.pb.h"
#include "ec2agent/v1/agent.pb.h"

namespace carrierarr::control_plane {

// Query parameters, percent-decoded; a name given twice keeps its first value.
using QueryParams = std::map<std::string, std::string, std::less<>>;

struct RequestTarget {
  std::string path;                   // percent-decoded ("/api/v1/nodes/gpu 1")
  std::vector<std::string> segments;  // the path's segments, each percent-decoded on its own
  QueryParams query;
};

// Splits an origin-form request target ("/api/v1/fleet?node_type=gpu_worker"). False for one
// that does not start with '/', or with a broken percent escape.
bool ParseTarget(std::string_view target, RequestTarget* out, std::string* error);

// An ec2agent.v1.CommandType from how people write it: "EXEC", "exec", "COMMAND_TYPE_EXEC",
// "pull-model", "pull_model" or the number. False for anything else, UNSPECIFIED included.
bool ParseCommandType(std::string_view name, int* type);

// Fills `request` from the POST /api/v1/command body; the error names the offending field.
// On success node_id is set and type is a valid, specified command type.
bool ParseCommandBody(std::string_view body, carrierarr::v1::SendCommandRequest* request,
                      std::string* error);

// GET /api/v1/fleet: ?node_type=GPU_WORKER&health=HEALTHY (any case, prefixes optional).
bool ParseFleetQuery(const QueryParams& query, ec2agent::v1::FleetStatusRequest* request,
                     std::string* error);

// GET /api/v1/events: ?after=SEQ&limit=N&wait_seconds=S.
struct EventsQuery {
  int64_t after = 0;
  int limit = 100;               // clamped to 1..1000
  std::chrono::seconds wait{0};  // up to kMaxEventsWait for an event when there is none yet
};
inline constexpr std::chrono::seconds kMaxEventsWait{300};
bool ParseEventsQuery(const QueryParams& query, EventsQuery* out, std::string* error);

}  // namespace carrierarr::control_plane

#endif  // CARRIERARR_CONTROL_PLANE_HTTP_DECODE_H_
