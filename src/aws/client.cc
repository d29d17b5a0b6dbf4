// AwsClient: sign, send, retry, and turn AWS's error documents into a Status that names the
// call, the AWS code and AWS's message, and says what to do (client.h states the format).
#include "aws/client.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <pugixml.hpp>
#include <random>

#include "aws/sigv4.h"

namespace carrierarr::aws {
namespace {

constexpr char kQueryApiVersion[] = "2016-11-15";  // EC2's, the only Query API we call
constexpr char kFormContentType[] = "application/x-www-form-urlencoded; charset=utf-8";
constexpr char kJsonContentType[] = "application/x-amz-json-1.1";
constexpr size_t kMaxQuotedBody = 200;  // of an error answer that is no AWS error document

struct AwsError {
  std::string code;
  std::string message;
  std::string request_id;
};

std::string_view LocalName(std::string_view name) {
  const size_t colon = name.find(':');
  return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

pugi::xml_node FindElement(pugi::xml_node root, std::string_view local_name) {
  return root.find_node([&](pugi::xml_node node) { return LocalName(node.name()) == local_name; });
}

std::string ChildText(pugi::xml_node parent, std::string_view local_name) {
  for (pugi::xml_node child : parent.children())
    if (LocalName(child.name()) == local_name) return child.text().as_string();
  return "";
}

// EC2's <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>, and
// the <ErrorResponse><Error>..</Error><RequestId/></ErrorResponse> of other Query services;
// element names may carry a namespace prefix.
std::optional<AwsError> ParseXmlError(const std::string& body) {
  pugi::xml_document doc;
  if (!doc.load_buffer(body.data(), body.size())) return std::nullopt;
  const pugi::xml_node error = FindElement(doc, "Error");
  if (!error) return std::nullopt;
  AwsError e{.code = ChildText(error, "Code"), .message = ChildText(error, "Message")};
  if (e.code.empty()) return std::nullopt;
  for (const char* name : {"RequestID", "RequestId"}) {
    if (pugi::xml_node id = FindElement(doc, name); id && e.request_id.empty())
      e.request_id = id.text().as_string();
  }
  return e;
}

// JSON 1.1: {"__type": "com.amazonaws.secretsmanager#ResourceExistsException", "message": ".."}
// (or "code"/"Code", "Message"), else the X-Amzn-ErrorType header ("Code:http://...").
std::optional<AwsError> ParseJsonError(const HttpResponse& response) {
  AwsError e;
  const auto j = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object()) {
    for (const char* key : {"__type", "code", "Code"}) {
      if (auto it = j.find(key); e.code.empty() && it != j.end() && it->is_string())
        e.code = it->get<std::string>();
    }
    for (const char* key : {"message", "Message", "errorMessage"}) {
      if (auto it = j.find(key); e.message.empty() && it != j.end() && it->is_string())
        e.message = it->get<std::string>();
    }
  }
  if (e.code.empty()) {
    const std::string header = FindHeader(response.headers, "X-Amzn-ErrorType");
    e.code = header.substr(0, header.find(':'));
  }
  if (const size_t hash = e.code.rfind('#'); hash != std::string::npos)
    e.code = e.code.substr(hash + 1);
  if (e.code.empty()) return std::nullopt;
  return e;
}

AwsError ParseError(const HttpResponse& response) {
  std::optional<AwsError> e = ParseXmlError(response.body);
  if (!e) e = ParseJsonError(response);
  if (!e) {
    std::string quoted = response.body.substr(0, kMaxQuotedBody);
    std::replace(quoted.begin(), quoted.end(), '\n', ' ');
    e = AwsError{.code = "HTTP" + std::to_string(response.status), .message = quoted};
  }
  if (e->request_id.empty()) {
    for (const char* header : {"x-amzn-RequestId", "x-amz-request-id"}) {
      if (e->request_id.empty()) e->request_id = FindHeader(response.headers, header);
    }
  }
  if (e->message.empty()) e->message = "(no message)";
  return *e;
}

bool OneOf(const std::string& code, std::initializer_list<std::string_view> codes) {
  return std::find(codes.begin(), codes.end(), code) != codes.end();
}

bool IsThrottling(const std::string& code, int http_status) {
  return http_status == 429 ||
         OneOf(code, {"RequestLimitExceeded", "Throttling", "ThrottlingException",
                      "EC2ThrottledException", "TooManyRequestsException"});
}

bool Contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

bool IsCapacityCode(const std::string& code) {
  return code.starts_with("Insufficient") && Contains(code, "Capacity");
}

// Worth another attempt: throttling, a request AWS did not finish, or AWS failing itself. Not a
// want of capacity (a 500 too): asking again at once rarely finds any, and the caller may do
// better (a spot pool falls back to on-demand).
bool IsRetryable(const std::string& code, int http_status) {
  if (IsCapacityCode(code)) return false;
  return IsThrottling(code, http_status) ||
         OneOf(code, {"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete",
                      "InternalError", "InternalFailure", "ServiceUnavailable", "Unavailable"}) ||
         http_status == 500 || http_status == 502 || http_status == 503 || http_status == 504;
}

struct Verdict {
  StatusCode code;
  std::string advice;
};

// What an AWS error code means for us, and what the operator should do about it.
Verdict Classify(const std::string& code, const std::string& service, const std::string& action) {
  if (OneOf(code, {"AuthFailure", "UnrecognizedClientException", "InvalidClientTokenId",
                   "SignatureDoesNotMatch", "InvalidSignatureException", "IncompleteSignature",
                   "MissingAuthenticationToken", "ExpiredToken", "ExpiredTokenException",
                   "RequestExpired", "InvalidAccessKeyId"}))
    return {StatusCode::kPermissionDenied,
            "AWS did not accept the credentials: check them and the profile ('aws sts "
            "get-caller-identity', --profile, AWS_PROFILE), refresh temporary ones, and check "
            "this machine's clock (AWS allows 5 minutes of skew)"};
  if (OneOf(code, {"UnauthorizedOperation", "AccessDeniedException", "AccessDenied"}))
    return {StatusCode::kPermissionDenied,
            "the credentials lack the IAM permission " + service + ":" + action +
                ": grant it to the user or role (an encoded message decodes with 'aws sts "
                "decode-authorization-message')"};
  if (code == "OptInRequired")
    return {StatusCode::kPermissionDenied,
            "the account has not enabled this service or region: enable it in the AWS console"};
  if (code == "IdempotentParameterMismatch")
    return {StatusCode::kFailedPrecondition,
            "an earlier request used the same client token with other parameters: the resource "
            "was created differently before; run 'carrierarr status' and 'down' it, or change it "
            "back"};
  if (code == "DryRunOperation")
    return {StatusCode::kFailedPrecondition,
            "this was a dry run (DryRun=true): the request would have succeeded"};
  if (Contains(code, "Duplicate") || Contains(code, "AlreadyExists") ||
      code == "ResourceExistsException")
    return {StatusCode::kAlreadyExists,
            "it exists already (made by hand, or by another run): adopt it or delete it"};
  if (Contains(code, "NotFound") ||
      OneOf(code, {"ResourceNotFoundException", "NoSuchEntity", "NoSuchResourceException"}))
    return {StatusCode::kNotFound,
            "it does not exist (deleted outside carrierarr, or another region or account?)"};
  if (Contains(code, "LimitExceeded") || Contains(code, "QuotaExceeded") ||
      code == "MaxSpotInstanceCountExceeded")
    return {StatusCode::kFailedPrecondition,
            "an account quota or limit is reached: request an increase in the Service Quotas "
            "console ('aws service-quotas request-service-quota-increase'; GPU vCPUs: ec2 "
            "L-DB2E81BA on demand, L-3819A6DF spot), or free what uses it"};
  if (IsCapacityCode(code))
    return {StatusCode::kFailedPrecondition,
            "AWS has no capacity for this instance type in this availability zone now: try "
            "another zone (subnet) or instance type, or try again later"};
  if (code == "Unsupported")
    return {StatusCode::kFailedPrecondition,
            "this zone or account does not offer it: try another availability zone (subnet) or "
            "instance type"};
  if (code == "DependencyViolation" || Contains(code, "InUse"))
    return {StatusCode::kFailedPrecondition,
            "something still depends on it (an instance still terminating, an attached address): "
            "try again once that is gone"};
  if (OneOf(code, {"IncorrectInstanceState", "IncorrectState", "InvalidRequestException"}))
    return {StatusCode::kFailedPrecondition,
            "it is not in a state that allows this (e.g. an instance still stopping, a secret "
            "scheduled for deletion): wait and try again"};
  return {StatusCode::kInvalidArgument,
          "AWS rejected the request's parameters: check fleet.yaml against AWS's message"};
}

bool IsServiceName(std::string_view word) {
  return !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool IsActionName(std::string_view word) {
  return !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  });
}

}  // namespace

bool HasAwsCode(const Status& status, std::string_view code) {
  if (status.ok() || code.empty()) return false;
  // "<service> <Action>: <Code>: <message>...", maybe behind prefixes ("deleting sg-1: ...").
  // The code counts only right after "<service> <Action>", so AWS's message cannot fake one.
  const std::string& m = status.message();
  const std::string needle = ": " + std::string(code) + ": ";
  for (size_t at = m.find(needle); at != std::string::npos; at = m.find(needle, at + 1)) {
    const std::string_view before = std::string_view{m}.substr(0, at);
    const size_t start = before.rfind(": ");
    const std::string_view call =
        start == std::string_view::npos ? before : before.substr(start + 2);
    const size_t space = call.find(' ');
    if (space != std::string_view::npos && IsServiceName(call.substr(0, space)) &&
        IsActionName(call.substr(space + 1)))
      return true;
  }
  return false;
}

AwsClient::AwsClient(ClientOptions options, HttpTransport* transport, CredentialSource* credentials)
    : options_(std::move(options)), transport_(transport), credentials_(credentials) {
  if (!options_.random) {
    // Shared by the copies of the function, guarded: Query/Json run on several threads.
    struct Generator {
      std::mutex mu;
      std::mt19937_64 engine{std::random_device{}()};
    };
    auto generator = std::make_shared<Generator>();
    options_.random = [generator] {
      std::lock_guard<std::mutex> lock(generator->mu);
      return std::uniform_real_distribution<double>(0.0, 1.0)(generator->engine);
    };
  }
  if (options_.time == nullptr) options_.time = RealTimeSource::Get();
  if (options_.max_attempts < 1) options_.max_attempts = 1;
}

std::string AwsClient::EndpointFor(const std::string& service) const {
  const std::string suffix =
      options_.region.starts_with("cn-") ? ".amazonaws.com.cn/" : ".amazonaws.com/";
  std::string aws = "https://" + service + "." + options_.region + suffix;
  std::string endpoint = options_.endpoint_url;
  if (endpoint.empty()) return aws;
  if (endpoint.back() != '/') endpoint += '/';
  // Naming the real EC2 endpoint as the override keeps every service on its own host.
  if (endpoint == "https://ec2." + options_.region + suffix) return aws;
  return endpoint;
}

CallStats AwsClient::Stats() const { return {.calls = calls_.load(), .retries = retries_.load()}; }

Result<std::string> AwsClient::Query(const std::string& service, const std::string& action,
                                     const QueryParams& params) {
  QueryParams all{{"Action", action}, {"Version", kQueryApiVersion}};
  all.insert(all.end(), params.begin(), params.end());
  HttpRequest request{.method = "POST",
                      .url = EndpointFor(service),
                      .headers = {{"Content-Type", kFormContentType}},
                      .body = FormEncode(all)};
  return Call(service, action, request);
}

Result<std::string> AwsClient::Json(const std::string& service, const std::string& target,
                                    const std::string& body) {
  HttpRequest request{.method = "POST",
                      .url = EndpointFor(service),
                      .headers = {{"Content-Type", kJsonContentType}, {"X-Amz-Target", target}},
                      .body = body};
  // "secretsmanager.CreateSecret" -> "CreateSecret"
  const size_t dot = target.rfind('.');
  const std::string action = dot == std::string::npos ? target : target.substr(dot + 1);
  return Call(service, action, request);
}

Result<std::string> AwsClient::Call(const std::string& service, const std::string& action,
                                    const HttpRequest& request) {
  const std::string call = service + " " + action;
  Status last;             // the latest retryable failure
  bool throttled = false;  // ... and whether it was throttling
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    if (attempt > 1) {
      ++retries_;
      // Full jitter: random() * 2^(retry-1) seconds, capped.
      const double seconds = options_.random() * std::pow(2.0, attempt - 2);
      const double capped_ms =
          std::min(seconds * 1000.0, static_cast<double>(options_.max_backoff.count()));
      options_.time->SleepFor(std::chrono::milliseconds(static_cast<int64_t>(capped_ms)));
    }
    auto credentials = credentials_->Get();
    if (!credentials.ok()) return credentials.status().WithPrefix(call);
    // Signed anew for every attempt: the signature carries the time it was made.
    HttpRequest signed_request = request;
    Sign(signed_request, *credentials, options_.region, service, options_.time->SystemNow());
    ++calls_;
    auto response = transport_->Send(signed_request);
    if (!response.ok()) {
      const StatusCode code = response.status().code();
      if (code != StatusCode::kUnavailable && code != StatusCode::kDeadlineExceeded)
        return response.status().WithPrefix(call);
      last = response.status().WithPrefix(call);  // no answer: the network, a timeout
      throttled = false;
      continue;
    }
    if (response->status >= 200 && response->status < 300) return std::move(response->body);

    const AwsError error = ParseError(*response);
    std::string message = call + ": " + error.code + ": " + error.message;
    if (!error.request_id.empty()) message += " [request " + error.request_id + "]";
    if (IsRetryable(error.code, response->status)) {
      last = Status::Unavailable(message);
      throttled = IsThrottling(error.code, response->status);
      continue;
    }
    Verdict verdict = Classify(error.code, service, action);
    return Status(verdict.code, message + "; " + verdict.advice);
  }
  const std::string attempts = std::to_string(options_.max_attempts) + " attempts";
  const std::string retried = "retried " + std::to_string(options_.max_attempts - 1) + " times";
  const std::string advice =
      throttled ? "AWS throttled the account's API calls (" + retried + ", gave up after " +
                      attempts + "): try again in a minute, or run fewer operations in parallel"
                : "gave up after " + attempts + " (" + retried +
                      "): AWS or the network failed each time; try again later, and check the "
                      "endpoint and https://health.aws.amazon.com";
  return Status::Unavailable(last.message() + "; " + advice);
}

}  // namespace carrierarr::aws
