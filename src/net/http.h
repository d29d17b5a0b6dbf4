// The HTTP seam shared by the AWS and Kubernetes clients: one request in, one response out (or a
// stream of body chunks, for Kubernetes watches). The real transport is libcurl, loaded on first
// use (curl_transport.cc) so that `carrierarr pki` and every other command that never talks HTTP
// does not pay libcurl's start-up (about 5 ms, 30 shared libraries). TLS material is handed to
// libcurl from memory: no certificate or key is ever written to a file.
#ifndef CARRIERARR_NET_HTTP_H_
#define CARRIERARR_NET_HTTP_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace carrierarr::net {

using Headers = std::vector<std::pair<std::string, std::string>>;

// Case-insensitive lookup; "" when absent.
std::string FindHeader(const Headers& headers, std::string_view name);

// TLS for https URLs, as PEM text. Empty fields keep libcurl's defaults (the system's CAs, no
// client certificate).
struct TlsOptions {
  std::string ca_pem;           // trust only these CAs
  std::string client_cert_pem;  // with client_key_pem: mutual TLS
  std::string client_key_pem;
  bool insecure_skip_verify = false;  // no peer or host check; only when a user asked for it
};

struct HttpRequest {
  std::string method = "POST";
  std::string url;  // "https://ec2.us-east-1.amazonaws.com/"
  Headers headers;  // sent as given (the signer adds its own)
  std::string body;
  std::chrono::milliseconds timeout{30000};          // the whole exchange, streams included
  std::chrono::milliseconds connect_timeout{10000};  // connecting alone
  TlsOptions tls;
  // Streaming: when set and the answer is 2xx, each received piece of the body goes here instead
  // of HttpResponse::body; returning false ends the transfer (Send is then Ok). The end of
  // `timeout` while streaming is Ok too, with HttpResponse::timed_out set. Non-2xx bodies are
  // collected in HttpResponse::body as usual (the error to report).
  std::function<bool(std::string_view chunk)> on_chunk;
};

struct HttpResponse {
  int status = 0;
  Headers headers;
  std::string body;
  bool timed_out = false;  // a stream ended by HttpRequest::timeout
};

// Thread-safe: the engine creates independent resources from several threads at once.
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  // A response of any HTTP status is a success here; a non-OK Status means no response
  // (cannot connect, timed out, TLS failure): kUnavailable or kDeadlineExceeded.
  virtual Result<HttpResponse> Send(const HttpRequest& request) = 0;
};

// libcurl through dlopen("libcurl.so.4"); a clear error when it is not installed.
Result<std::unique_ptr<HttpTransport>> MakeCurlTransport();

// The same from a library named by its soname or path: tests prove the error for a missing one.
// Loading a library other than libcurl.so.4 runs its curl_global_init, which is not thread-safe:
// call it before other threads use curl.
Result<std::unique_ptr<HttpTransport>> MakeCurlTransportFromLibrary(const std::string& library);

}  // namespace carrierarr::net

#endif  // CARRIERARR_NET_HTTP_H_
