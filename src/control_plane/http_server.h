// An event-driven HTTP/1.1 server (Boost.Beast over Boost.Asio, optionally TLS with OpenSSL)
// for the control plane's HTTP API, with every resource a client can hold bounded:
//   - one I/O thread does all socket I/O; a slow, idle or trickling client costs a socket and a
//     few KiB, never a thread;
//   - a deadline for the whole request (headers and body) and an idle keep-alive timeout;
//   - a connection cap per client address and in total (over it: 503 and close);
//   - caps on the header and body size (413 naming the limit);
//   - handlers run on a small worker pool (or on the I/O thread when marked cheap) and may
//     answer later without holding a worker (DeferredResponse), for long waits, or stream the
//     answer as it is made (StreamedResponse), with a bound on what waits unsent.
// An exception escaping a handler is logged and answered 500 {"error":"internal error"}; its
// text never reaches the client.
//
// Thread safety: Start, port and Stop may be called from any thread. Handlers run on the worker
// threads (or the I/O thread), concurrently with one another.
#ifndef CARRIERARR_CONTROL_PLANE_HTTP_SERVER_H_
#define CARRIERARR_CONTROL_PLANE_HTTP_SERVER_H_

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "control_plane/http_decode.h"
#include "core/status.h"

namespace carrierarr::control_plane {

// What one client may hold. Defaults are those of `carrierarr serve`.
struct HttpLimits {
  std::chrono::milliseconds request_timeout{std::chrono::seconds(10)};  // headers + body
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(30)};     // between requests
  size_t max_connections = 512;
  size_t max_connections_per_client = 32;  // per client IP address
  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 16 << 10;
  int worker_threads = 2;
};

struct HttpRequest {
  std::string method;  // "GET"
  RequestTarget target;
  std::vector<std::string> params;  // what the route's '*' segments matched
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string peer;  // the client's IP address
  // The first header of that name (any case); empty when none.
  std::string_view Header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// The JSON error shape of the whole API: {"error": message, "code": code[, "hint": hint]}.
HttpResponse JsonError(int status, const std::string& message, const std::string& code,
                       const std::string& hint = "");
// A JSON body and a newline.
HttpResponse JsonResponse(int status, const std::string& body);

// An answer that comes later: the server calls start(wake) once, on a worker; whoever it hands
// `wake` to calls it (from any thread, any number of times) when the answer may be ready. At
// the first wake, or when `deadline` has passed, the server calls respond() on a worker and
// sends what it returns. It calls stop() exactly once, after respond() or at Stop(); once stop()
// has returned, `wake` must never be called again. No thread waits in between.
struct DeferredResponse {
  std::chrono::milliseconds deadline{0};
  std::function<void(std::function<void()> wake)> start;
  std::function<void()> stop;
  std::function<HttpResponse()> respond;
};

// Where a streamed answer goes. Thread safe; any one producer thread calls it. Either Respond
// once (a whole answer, e.g. an error before anything was sent), or Begin once, then Write any
// number of times, then Finish. Each returns false once the client is gone (closed, timed out,
// or the server stopped): the producer should stop. Dropping the stream unfinished closes the
// connection, so that the client sees the answer cut short.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  virtual bool Respond(HttpResponse response) = 0;
  // The status and headers, sent at once. HTTP/1.1: chunked; HTTP/1.0: closed at the end.
  virtual bool Begin(int status, const std::string& content_type,
                     const std::vector<std::pair<std::string, std::string>>& headers) = 0;
  // Sent as it comes; blocks while more than the server's bound (256 KiB) is waiting for a
  // client that reads slowly, up to the request timeout, after which the client is dropped.
  virtual bool Write(std::string_view data) = 0;
  virtual bool Finish() = 0;
};

// An answer made by a producer of the handler's own: the server calls start(stream) once, on a
// worker, which must return without waiting (hand the stream to a thread of its own). The
// producer must be done with the stream before the server is destroyed (stop it first).
struct StreamedResponse {
  std::function<void(std::shared_ptr<ResponseStream> stream)> start;
};

using HttpHandlerResult = std::variant<HttpResponse, DeferredResponse, StreamedResponse>;
using HttpHandler = std::function<HttpHandlerResult(const HttpRequest&)>;

struct HttpRoute {
  std::string method;
  // "/api/v1/nodes/*": each '*' segment matches one non-empty segment, into HttpRequest::params.
  std::string pattern;
  HttpHandler handler;
  // Cheap and touching nothing that blocks (/health): run on the I/O thread itself.
  bool on_io_thread = false;
};

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;                   // 0 picks a free one
  std::string tls_cert, tls_key;  // PEM files: HTTPS only
  HttpLimits limits;
  // Where handler exceptions and other server errors are logged; default: stderr.
  std::function<void(const std::string&)> log;
};

class HttpServer {
 public:
  // Binds and serves until Stop. Unmatched requests get a JSON 404.
  static Result<std::unique_ptr<HttpServer>> Start(HttpServerOptions options,
                                                   std::vector<HttpRoute> routes);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const;
  // Closes every connection, stops every deferred answer (DeferredResponse::stop) and joins
  // the threads; waits for no client. Idempotent.
  void Stop();

  struct Core;  // defined in http_server.cc

 private:
  explicit HttpServer(std::unique_ptr<Core> core);
  std::unique_ptr<Core> core_;
};

}  // namespace carrierarr::control_plane

#endif  // CARRIERARR_CONTROL_PLANE_HTTP_SERVER_H_
