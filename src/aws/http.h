// The HTTP seam of the AWS client: one request in, one response out. The real transport is
// libcurl, loaded on first use (curl_transport.cc) so that `carrierarr pki` and every other
// command that never talks to AWS do not pay libcurl's start-up (about 5 ms, 30 shared
// libraries). Tests use a scripted transport or the fake AWS server on loopback.
#ifndef CARRIERARR_AWS_HTTP_H_
#define CARRIERARR_AWS_HTTP_H_

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace carrierarr::aws {

using Headers = std::vector<std::pair<std::string, std::string>>;

// Case-insensitive lookup; "" when absent.
std::string FindHeader(const Headers& headers, std::string_view name);

struct HttpRequest {
  std::string method = "POST";
  std::string url;  // "https://ec2.us-east-1.amazonaws.com/"
  Headers headers;  // sent as given (the signer adds its own)
  std::string body;
  std::chrono::milliseconds timeout{30000};          // the whole exchange
  std::chrono::milliseconds connect_timeout{10000};  // connecting alone
};

struct HttpResponse {
  int status = 0;
  Headers headers;
  std::string body;
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

}  // namespace carrierarr::aws

#endif  // CARRIERARR_AWS_HTTP_H_
