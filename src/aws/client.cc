#include "aws/client.h"

#include <cmath>
#include <mutex>
#include <nlohmann/json.hpp>
#include <pugixml.hpp>
#include <random>
#include <thread>

#include "aws/sigv4.h"

namespace carrierarr::aws {
namespace {

struct AwsError {
  std::string code, message, request_id;
};

std::string LocalName(const char* name) {
  std::string n(name);
  size_t colon = n.find(':');
  return colon == std::string::npos ? n : n.substr(colon + 1);
}

// <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>, or the
// <ErrorResponse><Error>...</Error><RequestId/> shape some Query services use.
std::optional<AwsError> ParseXmlError(const std::string& body) {
  pugi::xml_document doc;
  if (!doc.load_buffer(body.data(), body.size())) return std::nullopt;
  AwsError e;
  bool found = false;
  struct Walker : pugi::xml_tree_walker {
    AwsError* e;
    bool* found;
    bool for_each(pugi::xml_node& node) override {
      std::string name = LocalName(node.name());
      if (name == "Code" && e->code.empty()) {
        e->code = node.text().as_string();
        *found = true;
      } else if (name == "Message" && e->message.empty()) {
        e->message = node.text().as_string();
      } else if ((name == "RequestID" || name == "RequestId") && e->request_id.empty()) {
        e->request_id = node.text().as_string();
      }
      return true;
    }
  } walker;
  walker.e = &e;
  walker.found = &found;
  doc.traverse(walker);
  if (!found) return std::nullopt;
  return e;
}

// {"__type": "com.amazonaws...#ResourceExistsException", "message": "..."}, or the header.
std::optional<AwsError> ParseJsonError(const HttpResponse& r) {
  AwsError e;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_object()) {
    e.code = j.value("__type", j.value("code", j.value("Code", "")));
    e.message = j.value("message", j.value("Message", ""));
  }
  std::string header = FindHeader(r.headers, "x-amzn-errortype");
  if (e.code.empty()) e.code = header.substr(0, header.find(':'));
  if (size_t hash = e.code.rfind('#'); hash != std::string::npos) e.code = e.code.substr(hash + 1);
  e.request_id = FindHeader(r.headers, "x-amzn-requestid");
  if (e.code.empty()) return std::nullopt;
  return e;
}

bool Retryable(const std::string& code, int http_status) {
  static const char* kCodes[] = {"RequestLimitExceeded",     "Throttling",
                                 "ThrottlingException",      "EC2ThrottledException",
                                 "TooManyRequestsException", "RequestTimeout",
                                 "PriorRequestNotComplete",  "InternalError",
                                 "ServiceUnavailable",       "InternalFailure"};
  for (const char* c : kCodes)
    if (code == c) return true;
  return http_status == 500 || http_status == 502 || http_status == 503 || http_status == 504;
}

bool Contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

// The StatusCode and the advice for an AWS error code.
std::pair<StatusCode, std::string> Classify(const std::string& code, const std::string& action) {
  if (Contains(code, "Duplicate") || code == "ResourceExistsException" ||
      code == "IdempotentParameterMismatch")
    return {StatusCode::kAlreadyExists, "it exists already (made by hand or by another run)"};
  if (Contains(code, "NotFound") || code == "ResourceNotFoundException" ||
      code == "NoSuchResourceException")
    return {StatusCode::kNotFound, "it does not exist (deleted outside carrierarr?)"};
  if (code == "AuthFailure" || code == "UnrecognizedClientException" ||
      code == "InvalidSignatureException" || code == "SignatureDoesNotMatch" ||
      code == "InvalidClientTokenId" || code == "ExpiredToken" || code == "ExpiredTokenException")
    return {StatusCode::kPermissionDenied,
            "check the credentials (--profile, AWS_PROFILE, 'aws sts get-caller-identity') and "
            "that this machine's clock is right"};
  if (code == "UnauthorizedOperation" || code == "AccessDeniedException" || code == "AccessDenied")
    return {StatusCode::kPermissionDenied, "the credentials lack the IAM permission for " + action +
                                               ": grant it to the user "
                                               "or role"};
  if (code == "VcpuLimitExceeded" || code == "InstanceLimitExceeded" ||
      code == "AddressLimitExceeded" || Contains(code, "LimitExceeded") ||
      code == "MaxSpotInstanceCountExceeded")
    return {StatusCode::kFailedPrecondition,
            "an account quota is reached: request more in the Service Quotas console (or 'aws "
            "service-quotas request-service-quota-increase')"};
  if (code == "InsufficientInstanceCapacity" || code == "InsufficientCapacity" ||
      code == "Unsupported")
    return {StatusCode::kFailedPrecondition,
            "AWS has no capacity for this type here now: try again later, another instance "
            "type, or another region/zone (subnet_id)"};
  if (code == "DependencyViolation" || code == "InvalidIPAddress.InUse" ||
      code == "IncorrectInstanceState" || code == "InvalidRequestException")
    return {StatusCode::kFailedPrecondition,
            "something still uses it or it is in the wrong state: retry once that is done"};
  if (code == "DryRunOperation") return {StatusCode::kOk, ""};
  return {StatusCode::kInvalidArgument, "see AWS's message above"};
}

}  // namespace

bool HasAwsCode(const Status& status, std::string_view code) {
  // "<service> <Action>: <Code>: ..." (see client.h)
  const std::string& m = status.message();
  std::string needle = ": " + std::string(code) + ":";
  return !status.ok() && m.find(needle) != std::string::npos;
}

AwsClient::AwsClient(ClientOptions options, HttpTransport* transport, CredentialSource* credentials)
    : options_(std::move(options)), transport_(transport), credentials_(credentials) {
  if (!options_.sleep)
    options_.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  if (!options_.random) {
    auto rng = std::make_shared<std::mt19937>(std::random_device{}());
    auto mu = std::make_shared<std::mutex>();
    options_.random = [rng, mu] {
      std::lock_guard<std::mutex> lock(*mu);
      return std::uniform_real_distribution<double>(0, 1)(*rng);
    };
  }
  if (options_.clock == nullptr) options_.clock = SystemClock::Get();
}

std::string AwsClient::EndpointFor(const std::string& service) const {
  const std::string& e = options_.endpoint_url;
  if (e.empty()) return "https://" + service + "." + options_.region + ".amazonaws.com/";
  // "https://ec2.<region>.amazonaws.com" names the real AWS: each service keeps its own host.
  const std::string real = "https://ec2." + options_.region + ".amazonaws.com";
  if (e == real || e == real + "/")
    return "https://" + service + "." + options_.region + ".amazonaws.com/";
  return e.back() == '/' ? e : e + "/";
}

CallStats AwsClient::Stats() const { return {calls_.load(), retries_.load()}; }

Result<std::string> AwsClient::Query(const std::string& service, const std::string& action,
                                     const QueryParams& params) {
  QueryParams all{{"Action", action}, {"Version", "2016-11-15"}};
  all.insert(all.end(), params.begin(), params.end());
  HttpRequest r{.method = "POST",
                .url = EndpointFor(service),
                .headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}},
                .body = FormEncode(all)};
  return Call(service, action, std::move(r));
}

Result<std::string> AwsClient::Json(const std::string& service, const std::string& target,
                                    const std::string& body) {
  HttpRequest r{
      .method = "POST",
      .url = EndpointFor(service),
      .headers = {{"Content-Type", "application/x-amz-json-1.1"}, {"X-Amz-Target", target}},
      .body = body};
  return Call(service, target.substr(target.find('.') + 1), std::move(r));
}

Result<std::string> AwsClient::Call(const std::string& service, const std::string& action,
                                    HttpRequest request) {
  const std::string what = service + " " + action;
  Status last;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    if (attempt > 1) {
      ++retries_;
      double cap = static_cast<double>(options_.max_backoff.count());
      double wait = std::min(cap, options_.random() * 1000.0 * std::pow(2.0, attempt - 2));
      options_.sleep(std::chrono::milliseconds(static_cast<int64_t>(wait)));
    }
    auto creds = credentials_->Get();
    if (!creds.ok()) return creds.status();
    HttpRequest signed_request = request;
    Sign(signed_request, *creds, options_.region, service,
         std::chrono::system_clock::time_point(std::chrono::milliseconds(options_.clock->NowMs())));
    ++calls_;
    auto response = transport_->Send(signed_request);
    if (!response.ok()) {
      last = response.status().WithPrefix(what);
      continue;  // no answer: the network, a timeout; worth another try
    }
    if (response->status >= 200 && response->status < 300) return std::move(response->body);
    std::optional<AwsError> e = ParseXmlError(response->body);
    if (!e) e = ParseJsonError(*response);
    if (!e)
      e = AwsError{.code = "HTTP" + std::to_string(response->status),
                   .message = response->body.substr(0, 200)};
    std::string message = what + ": " + e->code + ": " + e->message +
                          (e->request_id.empty() ? "" : " [request " + e->request_id + "]");
    if (Retryable(e->code, response->status)) {
      last = Status::Unavailable(message);
      continue;
    }
    auto [code, advice] = Classify(e->code, action);
    if (code == StatusCode::kOk) return std::move(response->body);
    return Status(code, message + "; " + advice);
  }
  return Status::Unavailable(last.message() + "; gave up after " +
                             std::to_string(options_.max_attempts) +
                             " attempts (throttled or AWS unavailable): try again later");
}

}  // namespace carrierarr::aws
