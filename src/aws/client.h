// AwsClient: one signed request to an AWS JSON or Query API, with retries. It turns every AWS
// error into a Status that says what failed, the AWS code and what to do. Service wrappers
// (ec2.h, secrets_manager.h, service_quotas.h) talk to the AwsApi interface, so their tests
// check request bodies and response parsing without HTTP.
#ifndef CARRIERARR_AWS_CLIENT_H_
#define CARRIERARR_AWS_CLIENT_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aws/credentials.h"
#include "aws/http.h"
#include "core/status.h"
#include "core/time_source.h"

namespace carrierarr::aws {

// Query API parameters in the order the caller adds them ("Action" and "Version" first).
using QueryParams = std::vector<std::pair<std::string, std::string>>;

// application/x-www-form-urlencoded as botocore sends it: RFC 3986 encoding with spaces as '+'.
std::string FormEncode(const QueryParams& params);

// The calls the service wrappers make. Thread-safe.
class AwsApi {
 public:
  virtual ~AwsApi() = default;
  // EC2 Query API: POST Action=<action>&Version=2016-11-15&<params>; returns the XML body.
  virtual Result<std::string> Query(const std::string& service, const std::string& action,
                                    const QueryParams& params) = 0;
  // JSON 1.1: X-Amz-Target: <target> ("secretsmanager.CreateSecret"); returns the JSON body.
  virtual Result<std::string> Json(const std::string& service, const std::string& target,
                                   const std::string& body) = 0;
};

// Every failed AWS call's Status message reads
//   "<service> <Action>: <AwsCode>: <AWS message> [request <id>]; <what to do>"
// and its StatusCode follows the AWS code (Duplicate -> kAlreadyExists, NotFound -> kNotFound,
// auth -> kPermissionDenied, throttling/5xx after retries -> kUnavailable, limits and capacity
// -> kFailedPrecondition, DependencyViolation -> kFailedPrecondition).
// True when `status` came from an AWS error with this code ("DependencyViolation").
bool HasAwsCode(const Status& status, std::string_view code);

struct ClientOptions {
  std::string region;        // required
  std::string endpoint_url;  // "" = the AWS endpoint of each service; else all services here
  int max_attempts = 5;      // the first try and four retries
  std::chrono::milliseconds max_backoff{20000};
  // Seams: the signing time and the waits between attempts; uniform random in [0,1) for the
  // jitter. Not owned.
  TimeSource* time = RealTimeSource::Get();
  std::function<double()> random;  // default: a seeded mt19937
};

// What a client did, for `up`'s report and the round-trip benchmark.
struct CallStats {
  int calls = 0;    // requests sent (retries included)
  int retries = 0;  // of which retries
};

// Thread-safe. Retries throttling (RequestLimitExceeded, Throttling, ThrottlingException,
// EC2ThrottledException, TooManyRequestsException), RequestTimeout, PriorRequestNotComplete,
// HTTP 500/502/503/504 and transport failures, waiting random() * 2^(attempt-1) s capped at
// max_backoff. Does not own `transport` or `credentials`.
class AwsClient final : public AwsApi {
 public:
  AwsClient(ClientOptions options, HttpTransport* transport, CredentialSource* credentials);
  Result<std::string> Query(const std::string& service, const std::string& action,
                            const QueryParams& params) override;
  Result<std::string> Json(const std::string& service, const std::string& target,
                           const std::string& body) override;
  CallStats Stats() const;
  // "https://ec2.us-east-1.amazonaws.com/" or the endpoint override.
  std::string EndpointFor(const std::string& service) const;

 private:
  Result<std::string> Call(const std::string& service, const std::string& action,
                           const HttpRequest& request);
  ClientOptions options_;
  HttpTransport* transport_;
  CredentialSource* credentials_;
  std::atomic<int> calls_{0};
  std::atomic<int> retries_{0};
};

}  // namespace carrierarr::aws

#endif  // CARRIERARR_AWS_CLIENT_H_
