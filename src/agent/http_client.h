// A small HTTP/1.1 client for the plain-HTTP services on the agent's own node: EC2's instance
// metadata service (link-local) and Ollama (loopback). One connection per request
// ("Connection: close"), every wait bounded by a deadline, the answer bounded in size. No TLS,
// no redirects, no proxies: none of these services needs them, and a smaller agent stays
// smaller (the footprint is in docs/benchmarks.md).
//
// Thread-safe: the functions share no state.
#ifndef CARRIERARR_AGENT_HTTP_CLIENT_H_
#define CARRIERARR_AGENT_HTTP_CLIENT_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "agent/http_wire.h"
#include "core/status.h"

namespace carrierarr::agent::http {

// Where a service listens: "http://HOST[:PORT][/]". HOST is a name, an IPv4 address or an
// IPv6 address in brackets.
struct Endpoint {
  std::string host;  // without brackets
  uint16_t port = 80;
  // "host:port" ("[::1]:port" for IPv6), for the Host header and messages.
  std::string HostPort() const;
};
// InvalidArgument, saying why, for anything else (https://, a path, user info, a bad port).
Result<Endpoint> ParseHttpUrl(std::string_view url);

struct Request {
  std::string method = "GET";
  std::string path = "/";  // origin form: "/latest/api/token"
  Headers headers;         // Host, Connection, Content-Length and User-Agent are added
  std::string body;        // sent with Content-Length for POST, PUT and PATCH, even when empty
};

struct Response {
  int status = 0;
  Headers headers;
  std::string body;
};

struct CallOptions {
  std::chrono::milliseconds connect_timeout{1000};
  // From the start of the call (connecting included) to the end of the answer.
  std::chrono::milliseconds timeout{5000};
  size_t max_response_bytes = size_t{8} << 20;  // head and body together
  // Once this descriptor is readable (an eventfd: core/subprocess.h's CancelSignal) the call
  // is abandoned with Aborted ("cancelled ..."); -1: never.
  int cancel_fd = -1;
};

// Sends `request` to `endpoint` and reads the whole answer. Any HTTP status is a Response;
// errors (Unavailable, DeadlineExceeded, DataLoss) are for connections refused, timed out or
// answered with something that is not HTTP, and their messages say which; Aborted when
// cancelled.
Result<Response> Call(const Endpoint& endpoint, const Request& request,
                      const CallOptions& options = {});

}  // namespace carrierarr::agent::http

#endif  // CARRIERARR_AGENT_HTTP_CLIENT_H_
