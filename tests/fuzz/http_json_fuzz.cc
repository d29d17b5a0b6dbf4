// libFuzzer target: the control plane's HTTP request decoding (control_plane/http_decode.h), the
// part of the HTTP API that reads what a client sends before any handler runs: the POST
// /api/v1/command body, the request target (path, percent escapes, query) and the query
// parameters of /api/v1/fleet and /api/v1/events. Besides crashes and sanitizer reports it
// checks what the decoders promise: an accepted body names a node and a valid command type, and
// accepted queries are within their documented bounds.
//
//   build-fuzz/bin/http_json_fuzz tests/fuzz/http_json_corpus -dict=tests/fuzz/http_json_fuzz.dict
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "control_plane/http_decode.h"

namespace {

using carrierarr::control_plane::EventsQuery;
using carrierarr::control_plane::kMaxEventsWait;
using carrierarr::control_plane::ParseCommandBody;
using carrierarr::control_plane::ParseCommandType;
using carrierarr::control_plane::ParseEventsQuery;
using carrierarr::control_plane::ParseFleetQuery;
using carrierarr::control_plane::ParseTarget;
using carrierarr::control_plane::RequestTarget;

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "http_json_fuzz: broken invariant: %s\n", what);
  std::abort();
}

void FuzzBody(std::string_view in) {
  carrierarr::v1::SendCommandRequest request;
  std::string error;
  if (ParseCommandBody(in, &request, &error)) {
    Check(!request.node_id().empty(), "an accepted body has a node_id");
    Check(request.type() != ec2agent::v1::COMMAND_TYPE_UNSPECIFIED &&
              ec2agent::v1::CommandType_IsValid(request.type()),
          "an accepted body has a valid command type");
    Check(request.timeout_seconds() >= 0 && request.timeout_seconds() <= 86400,
          "timeout_seconds is within 0..86400");
  } else {
    Check(!error.empty(), "a refused body says why");
  }
}

void FuzzTarget(std::string_view in) {
  RequestTarget target;
  std::string error;
  if (!ParseTarget(in, &target, &error)) {
    Check(!error.empty(), "a refused target says why");
    return;
  }
  Check(!target.segments.empty(), "a path has a segment");
  ec2agent::v1::FleetStatusRequest fleet;
  ParseFleetQuery(target.query, &fleet, &error);
  EventsQuery events;
  if (ParseEventsQuery(target.query, &events, &error)) {
    Check(events.after >= 0, "after >= 0");
    Check(events.limit >= 1 && events.limit <= 1000, "limit within 1..1000");
    Check(events.wait.count() >= 0 && events.wait <= kMaxEventsWait, "wait within bounds");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  FuzzBody(in);
  FuzzTarget(in);
  FuzzTarget("/api/v1/events?" + std::string(in));
  int type = 0;
  if (ParseCommandType(in, &type))
    Check(type != 0 && ec2agent::v1::CommandType_IsValid(type), "a parsed type is valid");
  return 0;
}
