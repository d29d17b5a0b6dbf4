// AwsClient over a scripted transport: request shape (endpoints, headers, signature, body),
// signing on every attempt, retries with jittered backoff (recorded on a simulated TimeSource),
// error documents of both families turned into a Status with the AWS code and advice,
// HasAwsCode, and stats. Then the real curl transport against a loopback server.
#include "aws/client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <thread>

#include "aws/sigv4.h"
#include "testing/loopback_server.h"

namespace carrierarr::aws {
namespace {

using ::carrierarr::testing::LoopbackServer;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// Answers from a script (a response, or no answer), records what was sent. Thread-safe.
class ScriptedTransport final : public HttpTransport {
 public:
  void Push(int status, std::string body, Headers headers = {}) {
    std::lock_guard<std::mutex> lock(mu_);
    script_.emplace_back(HttpResponse{status, std::move(headers), std::move(body)});
  }
  void PushFailure(Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    script_.emplace_back(std::move(status));
  }
  Result<HttpResponse> Send(const HttpRequest& request) override {
    std::lock_guard<std::mutex> lock(mu_);
    sent.push_back(request);
    if (script_.empty()) return HttpResponse{.status = 200, .body = "default"};
    Result<HttpResponse> next = std::move(script_.front());
    script_.pop_front();
    return next;
  }
  std::vector<HttpRequest> sent;  // read by the test once calls are done

 private:
  std::mutex mu_;
  std::deque<Result<HttpResponse>> script_;
};

// Counts Get() calls, so the test sees credentials fetched for every attempt.
class CountingCredentials final : public CredentialSource {
 public:
  explicit CountingCredentials(Credentials c) : c_(std::move(c)) {}
  Result<Credentials> Get() override {
    ++calls;
    return c_;
  }
  std::atomic<int> calls{0};

 private:
  Credentials c_;
};

std::string Ec2Error(const std::string& code, const std::string& message = "m",
                     const std::string& request_id = "") {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>" + code +
         "</Code><Message>" + message + "</Message></Error></Errors><RequestID>" + request_id +
         "</RequestID></Response>";
}

const std::string kThrottle = Ec2Error("RequestLimitExceeded", "Request limit exceeded.", "r-1");

// Simulated time that also records every sleep, in milliseconds, in order. Thread-safe.
class RecordingTime final : public TimeSource {
 public:
  explicit RecordingTime(int64_t start_unix_ms) : time_(start_unix_ms) {}
  std::chrono::system_clock::time_point SystemNow() const override { return time_.SystemNow(); }
  std::chrono::steady_clock::time_point MonotonicNow() const override {
    return time_.MonotonicNow();
  }
  void SleepFor(std::chrono::nanoseconds d) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      sleeps_.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
    }
    time_.SleepFor(d);
  }
  std::vector<int64_t> sleeps() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sleeps_;
  }

 private:
  SimulatedTimeSource time_;
  mutable std::mutex mu_;
  std::vector<int64_t> sleeps_;  // guarded by mu_
};

class AwsClientTest : public ::testing::Test {
 protected:
  ClientOptions Options(const std::string& endpoint = "") {
    return {.region = "eu-west-1", .endpoint_url = endpoint, .time = &time, .random = [] {
              return 0.5;
            }};
  }
  AwsClient MakeClient(const std::string& endpoint = "") {
    return AwsClient(Options(endpoint), &transport, &creds);
  }
  std::vector<int64_t> sleeps() const { return time.sleeps(); }
  ScriptedTransport transport;
  StaticCredentials creds{{.access_key_id = "AKID", .secret_access_key = "secret"}};
  RecordingTime time{1'780'000'000'000};  // 2026-05-28T20:26:40Z
};

// Recomputes the signature of a request as it was sent, as AWS (or the fake server) would.
std::string ExpectedAuthorization(const HttpRequest& sent, const std::string& service,
                                  const Credentials& credentials) {
  SigningInput in{.method = sent.method,
                  .path = "/",
                  .headers = sent.headers,
                  .body = sent.body,
                  .region = "eu-west-1",
                  .service = service};
  std::erase_if(in.headers, [](const auto& h) { return h.first == "Authorization"; });
  return ComputeSignature(in, credentials).authorization;
}

TEST_F(AwsClientTest, QueryPostsASignedFormToTheServiceEndpoint) {
  transport.Push(200, "<DescribeVpcsResponse/>");
  AwsClient client = MakeClient();
  auto body = client.Query("ec2", "DescribeVpcs",
                           {{"Filter.1.Name", "is default"}, {"Filter.1.Value.1", "a+b/c"}});
  ASSERT_TRUE(body.ok()) << body.status().ToString();
  EXPECT_EQ(*body, "<DescribeVpcsResponse/>");
  ASSERT_EQ(transport.sent.size(), 1u);
  const HttpRequest& r = transport.sent[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, "https://ec2.eu-west-1.amazonaws.com/");
  EXPECT_EQ(r.body,
            "Action=DescribeVpcs&Version=2016-11-15&Filter.1.Name=is+default&Filter.1.Value.1="
            "a%2Bb%2Fc");
  EXPECT_EQ(FindHeader(r.headers, "Content-Type"),
            "application/x-www-form-urlencoded; charset=utf-8");
  EXPECT_EQ(FindHeader(r.headers, "Host"), "ec2.eu-west-1.amazonaws.com");
  EXPECT_EQ(FindHeader(r.headers, "X-Amz-Date"), "20260528T202640Z");
  const std::string auth = FindHeader(r.headers, "Authorization");
  EXPECT_THAT(auth, StartsWith("AWS4-HMAC-SHA256 Credential=AKID/20260528/eu-west-1/ec2/"
                               "aws4_request, SignedHeaders=content-type;host;x-amz-date, "));
  EXPECT_EQ(auth, ExpectedAuthorization(r, "ec2", *creds.Get()));
}

TEST_F(AwsClientTest, JsonSendsTheTargetSignedWithSessionCredentials) {
  transport.Push(200, R"({"Quota":{"Value":64.0}})");
  StaticCredentials session(
      {.access_key_id = "ASIA", .secret_access_key = "s", .session_token = "tk"});
  AwsClient client(Options(), &transport, &session);
  auto body = client.Json("servicequotas", "ServiceQuotasV20190624.GetServiceQuota",
                          R"({"ServiceCode":"ec2","QuotaCode":"L-DB2E81BA"})");
  ASSERT_TRUE(body.ok()) << body.status().ToString();
  EXPECT_EQ(*body, R"({"Quota":{"Value":64.0}})");
  const HttpRequest& r = transport.sent.at(0);
  EXPECT_EQ(r.url, "https://servicequotas.eu-west-1.amazonaws.com/");
  EXPECT_EQ(r.body, R"({"ServiceCode":"ec2","QuotaCode":"L-DB2E81BA"})");
  EXPECT_EQ(FindHeader(r.headers, "X-Amz-Target"), "ServiceQuotasV20190624.GetServiceQuota");
  EXPECT_EQ(FindHeader(r.headers, "Content-Type"), "application/x-amz-json-1.1");
  EXPECT_EQ(FindHeader(r.headers, "X-Amz-Security-Token"), "tk");
  const std::string auth = FindHeader(r.headers, "Authorization");
  EXPECT_THAT(auth, HasSubstr("/servicequotas/aws4_request, SignedHeaders=content-type;host;"
                              "x-amz-date;x-amz-security-token;x-amz-target, "));
  EXPECT_EQ(auth, ExpectedAuthorization(r, "servicequotas", *session.Get()));
}

TEST_F(AwsClientTest, EndpointsPerServiceOrTheOverrideForAll) {
  AwsClient aws = MakeClient();
  EXPECT_EQ(aws.EndpointFor("ec2"), "https://ec2.eu-west-1.amazonaws.com/");
  EXPECT_EQ(aws.EndpointFor("secretsmanager"), "https://secretsmanager.eu-west-1.amazonaws.com/");
  EXPECT_EQ(aws.EndpointFor("servicequotas"), "https://servicequotas.eu-west-1.amazonaws.com/");

  AwsClient fake = MakeClient("http://127.0.0.1:4566");
  for (const char* service : {"ec2", "secretsmanager", "servicequotas"})
    EXPECT_EQ(fake.EndpointFor(service), "http://127.0.0.1:4566/");
  transport.Push(200, "{}");
  ASSERT_TRUE(fake.Json("secretsmanager", "secretsmanager.GetSecretValue", "{}").ok());
  EXPECT_EQ(transport.sent[0].url, "http://127.0.0.1:4566/");
  EXPECT_EQ(FindHeader(transport.sent[0].headers, "Host"), "127.0.0.1:4566");
  // Signed for the service, whatever host answers.
  EXPECT_THAT(FindHeader(transport.sent[0].headers, "Authorization"),
              HasSubstr("/eu-west-1/secretsmanager/aws4_request"));

  // The real EC2 endpoint named as the override keeps every service on its own host.
  AwsClient real = MakeClient("https://ec2.eu-west-1.amazonaws.com");
  EXPECT_EQ(real.EndpointFor("servicequotas"), "https://servicequotas.eu-west-1.amazonaws.com/");
  AwsClient china({.region = "cn-north-1"}, &transport, &creds);
  EXPECT_EQ(china.EndpointFor("ec2"), "https://ec2.cn-north-1.amazonaws.com.cn/");
}

TEST_F(AwsClientTest, RetriesThenSucceedsSigningEveryAttemptAnew) {
  CountingCredentials counting({.access_key_id = "AKID", .secret_access_key = "secret"});
  transport.Push(503, kThrottle);
  transport.PushFailure(Status::Unavailable("connection refused"));
  transport.Push(500, Ec2Error("InternalError"));
  transport.PushFailure(Status::DeadlineExceeded("timed out"));
  transport.Push(429, "");
  transport.Push(200, "<ok/>");
  AwsClient client(
      [&] {
        ClientOptions o = Options();
        o.max_attempts = 6;
        return o;
      }(),
      &transport, &counting);
  auto body = client.Query("ec2", "RunInstances", {});
  ASSERT_TRUE(body.ok()) << body.status().ToString();
  EXPECT_EQ(*body, "<ok/>");
  // random() = 0.5: 0.5 s * 2^(retry-1).
  EXPECT_THAT(sleeps(), ElementsAre(500, 1000, 2000, 4000, 8000));
  EXPECT_EQ(client.Stats().calls, 6);
  EXPECT_EQ(client.Stats().retries, 5);
  EXPECT_EQ(counting.calls.load(), 6);
  // Every attempt carries the time it was signed at (the clock moved with each sleep).
  ASSERT_EQ(transport.sent.size(), 6u);
  EXPECT_EQ(FindHeader(transport.sent[0].headers, "X-Amz-Date"), "20260528T202640Z");
  EXPECT_EQ(FindHeader(transport.sent[5].headers, "X-Amz-Date"), "20260528T202655Z");
  for (const HttpRequest& r : transport.sent) {
    EXPECT_EQ(FindHeader(r.headers, "Authorization"),
              ExpectedAuthorization(r, "ec2", *creds.Get()));
    EXPECT_EQ(r.headers.size(), 4u);  // content-type, host, date, authorization: once each
  }
}

TEST_F(AwsClientTest, BackoffIsCappedAndGivingUpSaysWhatHappened) {
  for (int i = 0; i < 8; ++i) transport.Push(503, kThrottle);
  ClientOptions options = Options();
  options.max_attempts = 8;
  options.max_backoff = std::chrono::milliseconds(3000);
  options.random = [] { return 0.999; };
  AwsClient client(options, &transport, &creds);
  auto body = client.Query("ec2", "DescribeInstances", {});
  ASSERT_FALSE(body.ok());
  EXPECT_EQ(body.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(body.status().message(),
              AllOf(StartsWith("ec2 DescribeInstances: RequestLimitExceeded: Request limit "
                               "exceeded. [request r-1]; "),
                    HasSubstr("throttled"), HasSubstr("retried 7 times"),
                    HasSubstr("gave up after 8 attempts")));
  EXPECT_TRUE(HasAwsCode(body.status(), "RequestLimitExceeded"));
  EXPECT_THAT(sleeps(), ElementsAre(999, 1998, 3000, 3000, 3000, 3000, 3000));
  EXPECT_EQ(client.Stats().calls, 8);
  EXPECT_EQ(client.Stats().retries, 7);
}

TEST_F(AwsClientTest, NoAnswerAtAllEndsUnavailableNamingTheAttempts) {
  for (int i = 0; i < 5; ++i) transport.PushFailure(Status::Unavailable("connection refused"));
  AwsClient client = MakeClient();
  auto body = client.Json("secretsmanager", "secretsmanager.DescribeSecret", "{}");
  ASSERT_FALSE(body.ok());
  EXPECT_EQ(body.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(body.status().message(),
              AllOf(StartsWith("secretsmanager DescribeSecret: connection refused; "),
                    HasSubstr("gave up after 5 attempts")));
  EXPECT_EQ(transport.sent.size(), 5u);
  EXPECT_THAT(sleeps(), ElementsAre(500, 1000, 2000, 4000));
}

TEST_F(AwsClientTest, ABadUrlIsNotRetried) {
  transport.PushFailure(Status::InvalidArgument("POST htps://x/: Unsupported protocol"));
  AwsClient client = MakeClient();
  auto body = client.Query("ec2", "DescribeVpcs", {});
  EXPECT_EQ(body.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(transport.sent.size(), 1u);
}

TEST_F(AwsClientTest, ClientErrorsAreNotRetriedAndCarryCodeMessageRequestAndAdvice) {
  transport.Push(
      400, Ec2Error("InvalidGroup.Duplicate", "The security group 'x' already exists", "abc-123"));
  AwsClient client = MakeClient();
  auto r = client.Query("ec2", "CreateSecurityGroup", {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kAlreadyExists);
  EXPECT_THAT(r.status().message(),
              StartsWith("ec2 CreateSecurityGroup: InvalidGroup.Duplicate: The security group 'x' "
                         "already exists [request abc-123]; it exists already"));
  EXPECT_TRUE(HasAwsCode(r.status(), "InvalidGroup.Duplicate"));
  EXPECT_FALSE(HasAwsCode(r.status(), "InvalidGroup"));
  EXPECT_EQ(transport.sent.size(), 1u);
  EXPECT_TRUE(sleeps().empty());
  EXPECT_EQ(client.Stats().calls, 1);
  EXPECT_EQ(client.Stats().retries, 0);
}

TEST_F(AwsClientTest, ErrorFamiliesMapToStatusCodesAndAdvice) {
  struct Case {
    const char* code;
    StatusCode want;
    const char* advice;
  };
  const Case cases[] = {
      {"AuthFailure", StatusCode::kPermissionDenied, "clock"},
      {"SignatureDoesNotMatch", StatusCode::kPermissionDenied, "check them and the profile"},
      {"UnauthorizedOperation", StatusCode::kPermissionDenied, "IAM permission ec2:RunInstances"},
      {"VcpuLimitExceeded", StatusCode::kFailedPrecondition, "Service Quotas"},
      {"InstanceLimitExceeded", StatusCode::kFailedPrecondition, "Service Quotas"},
      {"InsufficientInstanceCapacity", StatusCode::kFailedPrecondition, "another zone"},
      {"DependencyViolation", StatusCode::kFailedPrecondition, "still depends on it"},
      {"IncorrectInstanceState", StatusCode::kFailedPrecondition, "wait and try again"},
      {"InvalidInstanceID.NotFound", StatusCode::kNotFound, "does not exist"},
      {"InvalidKeyPair.Duplicate", StatusCode::kAlreadyExists, "exists already"},
      {"IdempotentParameterMismatch", StatusCode::kFailedPrecondition, "same client token"},
      {"InvalidParameterValue", StatusCode::kInvalidArgument, "fleet.yaml"},
  };
  for (const Case& c : cases) {
    transport.Push(400, Ec2Error(c.code));
    AwsClient client = MakeClient();
    auto r = client.Query("ec2", "RunInstances", {});
    ASSERT_FALSE(r.ok()) << c.code;
    EXPECT_EQ(r.status().code(), c.want) << c.code;
    EXPECT_THAT(r.status().message(), HasSubstr(std::string(": ") + c.code + ": m; ")) << c.code;
    EXPECT_THAT(r.status().message(), HasSubstr(c.advice)) << c.code;
    EXPECT_TRUE(HasAwsCode(r.status(), c.code)) << c.code;
  }
  EXPECT_TRUE(sleeps().empty());
}

// EC2 answers a want of capacity with a 500; asking again at once rarely finds any, and the
// caller may do better (a spot pool falls back to on-demand): no retry.
TEST_F(AwsClientTest, ACapacityErrorIsNotRetriedThoughItIsA500) {
  transport.Push(500, Ec2Error("InsufficientInstanceCapacity"));
  AwsClient client = MakeClient();
  auto r = client.Query("ec2", "RunInstances", {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(HasAwsCode(r.status(), "InsufficientInstanceCapacity"));
  EXPECT_TRUE(sleeps().empty());
  EXPECT_EQ(client.Stats().calls, 1);
}

TEST_F(AwsClientTest, XmlErrorsWithNamespacesAndTheErrorResponseShape) {
  transport.Push(400,
                 "<Response xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><Errors><Error>"
                 "<Code>InvalidGroup.NotFound</Code><Message>no sg-1</Message></Error></Errors>"
                 "<RequestID>ns-1</RequestID></Response>");
  transport.Push(400,
                 "<ec2:Response xmlns:ec2=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><ec2:Errors>"
                 "<ec2:Error><ec2:Code>AuthFailure</ec2:Code><ec2:Message>bad</ec2:Message>"
                 "</ec2:Error></ec2:Errors><ec2:RequestID>ns-2</ec2:RequestID></ec2:Response>");
  transport.Push(403,
                 "<ErrorResponse><Error><Type>Sender</Type><Code>OptInRequired</Code><Message>opt"
                 "</Message></Error><RequestId>er-3</RequestId></ErrorResponse>");
  transport.Push(403, "<html><body>Forbidden by proxy</body></html>");
  AwsClient client = MakeClient();
  auto a = client.Query("ec2", "DescribeSecurityGroups", {});
  EXPECT_EQ(a.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(a.status().message(), HasSubstr("InvalidGroup.NotFound: no sg-1 [request ns-1]"));
  auto b = client.Query("ec2", "DescribeVpcs", {});
  EXPECT_EQ(b.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(b.status().message(), HasSubstr("AuthFailure: bad [request ns-2]"));
  auto c = client.Query("ec2", "DescribeVpcs", {});
  EXPECT_TRUE(HasAwsCode(c.status(), "OptInRequired"));
  EXPECT_THAT(c.status().message(), HasSubstr("[request er-3]"));
  auto d = client.Query("ec2", "DescribeVpcs", {});
  EXPECT_TRUE(HasAwsCode(d.status(), "HTTP403"));
  EXPECT_THAT(d.status().message(), HasSubstr("Forbidden by proxy"));
}

TEST_F(AwsClientTest, JsonErrorsFromBodyOrHeader) {
  transport.Push(400,
                 R"({"__type":"com.amazonaws.secretsmanager#ResourceExistsException",)"
                 R"("message":"the secret exists"})",
                 {{"x-amzn-RequestId", "j-1"}});
  transport.Push(400, "", {{"X-Amzn-ErrorType", "ResourceNotFoundException:http://internal"}});
  transport.Push(400, R"({"Code":"InvalidRequestException","Message":"scheduled for deletion"})");
  transport.Push(400, R"({"__type":"ThrottlingException","message":"slow down"})");
  transport.Push(200, "{}");
  AwsClient client = MakeClient();
  auto exists = client.Json("secretsmanager", "secretsmanager.CreateSecret", "{}");
  EXPECT_EQ(exists.status().code(), StatusCode::kAlreadyExists);
  EXPECT_THAT(exists.status().message(),
              StartsWith("secretsmanager CreateSecret: ResourceExistsException: the secret exists "
                         "[request j-1]; "));
  auto missing = client.Json("secretsmanager", "secretsmanager.DescribeSecret", "{}");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(HasAwsCode(missing.status(), "ResourceNotFoundException"));
  auto deleting = client.Json("secretsmanager", "secretsmanager.PutSecretValue", "{}");
  EXPECT_EQ(deleting.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(deleting.status().message(), HasSubstr("scheduled for deletion"));
  EXPECT_TRUE(client.Json("servicequotas", "ServiceQuotasV20190624.GetServiceQuota", "{}").ok());
  EXPECT_THAT(sleeps(), ElementsAre(500));  // the throttled call, retried once
}

TEST(HasAwsCodeTest, MatchesOnlyTheCodeOfAnAwsCall) {
  const Status s(StatusCode::kFailedPrecondition,
                 "ec2 DeleteSecurityGroup: DependencyViolation: resource sg-1 has a dependent "
                 "object: NotTheCode: x; something still depends on it");
  EXPECT_TRUE(HasAwsCode(s, "DependencyViolation"));
  EXPECT_FALSE(HasAwsCode(s, "NotTheCode"));  // inside AWS's message
  EXPECT_FALSE(HasAwsCode(s, "Dependency"));
  EXPECT_FALSE(HasAwsCode(s, ""));
  EXPECT_TRUE(HasAwsCode(s.WithPrefix("deleting security group sg-1"), "DependencyViolation"));
  EXPECT_FALSE(HasAwsCode(Status::Ok(), "DependencyViolation"));
  EXPECT_FALSE(HasAwsCode(Status::Unavailable("DependencyViolation: DependencyViolation: x"),
                          "DependencyViolation"));
}

TEST_F(AwsClientTest, MissingCredentialsStopBeforeAnyRequest) {
  class NoCredentials final : public CredentialSource {
   public:
    Result<Credentials> Get() override { return Status::PermissionDenied("no AWS credentials"); }
  } none;
  AwsClient client(Options(), &transport, &none);
  auto r = client.Query("ec2", "DescribeVpcs", {});
  EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(r.status().message(), HasSubstr("no AWS credentials"));
  EXPECT_TRUE(transport.sent.empty());
  EXPECT_EQ(client.Stats().calls, 0);
}

TEST_F(AwsClientTest, StatsCountAcrossThreads) {
  ClientOptions options = Options();
  // Retries sleep on simulated time, which several threads may share.
  AwsClient client(options, &transport, &creds);
  for (int i = 0; i < 4; ++i) transport.Push(503, kThrottle);  // four retries among all calls
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) EXPECT_TRUE(client.Query("ec2", "DescribeVpcs", {}).ok());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(client.Stats().calls, 44);
  EXPECT_EQ(client.Stats().retries, 4);
}

TEST(FindHeaderTest, CaseInsensitiveFirstMatchOrEmpty) {
  const Headers headers = {{"Content-Type", "a"}, {"content-type", "b"}, {"X-Amz-Date", "d"}};
  EXPECT_EQ(FindHeader(headers, "CONTENT-TYPE"), "a");
  EXPECT_EQ(FindHeader(headers, "x-amz-date"), "d");
  EXPECT_EQ(FindHeader(headers, "x-amz-dat"), "");
  EXPECT_EQ(FindHeader({}, "host"), "");
}

TEST(FormEncodeTest, EncodesAsBotocoreDoes) {
  EXPECT_EQ(FormEncode({{"Action", "RunInstances"},
                        {"UserData", "a+b/c="},
                        {"TagSpecification.1.Tag.1.Value", "my fleet~"}}),
            "Action=RunInstances&UserData=a%2Bb%2Fc%3D&TagSpecification.1.Tag.1.Value=my+fleet~");
}

// The real libcurl transport (dlopen'ed) against cpp-httplib on loopback.
class CurlTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto echo = [](const httplib::Request& req, httplib::Response& res) {
      res.status = 201;
      res.set_header("X-Seen-Target", req.get_header_value("X-Amz-Target"));
      res.set_header("X-Seen-Host", req.get_header_value("Host"));
      res.set_header("X-Seen-Expect", req.get_header_value("Expect"));
      res.set_content(req.method + " " + req.body, "text/plain");
    };
    server_.server().Post("/echo", echo);
    server_.server().Post("/", echo);
    server_.server().Post("/fail/", [](const httplib::Request&, httplib::Response& res) {
      res.status = 400;
      res.set_header("x-amzn-RequestId", "loop-1");
      res.set_content(R"({"__type":"ValidationException","message":"bad input"})",
                      "application/x-amz-json-1.1");
    });
    server_.server().Put("/token", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(req.method + " " + req.get_header_value("X-Ttl"), "text/plain");
    });
    server_.server().Get("/redirect", [](const httplib::Request&, httplib::Response& res) {
      res.set_redirect("/echo");
    });
    server_.server().Get("/slow", [](const httplib::Request&, httplib::Response& res) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      res.set_content("late", "text/plain");
    });
    server_.server().Get("/error", [](const httplib::Request&, httplib::Response& res) {
      res.status = 400;
      res.set_header("X-Amzn-ErrorType", "ValidationException");
      res.set_content(R"({"message":"bad"})", "application/x-amz-json-1.1");
    });
    server_.Start();
    auto transport = MakeCurlTransport();
    ASSERT_TRUE(transport.ok()) << transport.status().ToString();
    transport_ = std::move(*transport);
  }
  LoopbackServer server_;
  std::unique_ptr<HttpTransport> transport_;
};

TEST_F(CurlTransportTest, StatusHeadersAndBody) {
  const std::string big(300 * 1024, 'x');  // above curl's buffers and any 100-continue limit
  auto r = transport_->Send(
      {.method = "POST",
       .url = server_.url() + "/echo",
       .headers = {{"Content-Type", "application/octet-stream"}, {"X-Amz-Target", "svc.Op"}},
       .body = big});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->status, 201) << r->body.substr(0, 200);
  EXPECT_EQ(r->body.size(), big.size() + 5);
  EXPECT_TRUE(r->body == "POST " + big);  // not EXPECT_EQ: 300 KiB in a failure message
  EXPECT_EQ(FindHeader(r->headers, "x-seen-target"), "svc.Op");
  EXPECT_EQ(FindHeader(r->headers, "X-Seen-Host"), "127.0.0.1:" + std::to_string(server_.port()));
  EXPECT_EQ(FindHeader(r->headers, "X-Seen-Expect"), "");
  EXPECT_EQ(FindHeader(r->headers, "content-type"), "text/plain");

  auto put = transport_->Send(
      {.method = "PUT", .url = server_.url() + "/token", .headers = {{"X-Ttl", "21600"}}});
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ(put->body, "PUT 21600");

  auto error = transport_->Send({.method = "GET", .url = server_.url() + "/error"});
  ASSERT_TRUE(error.ok()) << "an HTTP error is an answer, not a transport failure";
  EXPECT_EQ(error->status, 400);
  EXPECT_EQ(FindHeader(error->headers, "x-amzn-errortype"), "ValidationException");
}

TEST_F(CurlTransportTest, RedirectsAreAnswersNotFollowed) {
  auto r = transport_->Send({.method = "GET", .url = server_.url() + "/redirect"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 302);
  EXPECT_EQ(FindHeader(r->headers, "Location"), "/echo");
}

TEST_F(CurlTransportTest, TimeoutsAndRefusalsAreTransportErrors) {
  const auto start = std::chrono::steady_clock::now();
  auto slow = transport_->Send(
      {.method = "GET", .url = server_.url() + "/slow", .timeout = std::chrono::milliseconds(200)});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1400));
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_THAT(slow.status().message(), HasSubstr("/slow"));

  // A port nothing listens on: bind one, then close it.
  int closed_port = 0;
  {
    LoopbackServer gone;
    gone.Start();
    closed_port = gone.port();
  }
  auto refused = transport_->Send(
      {.method = "GET", .url = "http://127.0.0.1:" + std::to_string(closed_port) + "/"});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(refused.status().message(), HasSubstr("127.0.0.1"));

  auto bad = transport_->Send({.method = "GET", .url = "gopher://127.0.0.1/"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(CurlTransportTest, ConcurrentSendsReuseHandlesSafely) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        const std::string body = std::to_string(t) + "-" + std::to_string(i);
        auto r = transport_->Send({.method = "POST", .url = server_.url() + "/echo", .body = body});
        if (r.ok() && r->body == "POST " + body) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 80);
}

TEST(CurlLibraryTest, AMissingLibcurlSaysWhatToInstall) {
  auto transport = MakeCurlTransportFromLibrary("libcurl-carrierarr-missing.so.4");
  ASSERT_FALSE(transport.ok());
  EXPECT_EQ(transport.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(transport.status().message(), HasSubstr("apt-get install libcurl4"));
}

// AwsClient over the real transport: an answer, and an AWS-shaped JSON error.
TEST_F(CurlTransportTest, AwsClientOverCurl) {
  StaticCredentials creds({.access_key_id = "AKID", .secret_access_key = "s"});
  AwsClient client({.region = "us-east-1", .endpoint_url = server_.url()}, transport_.get(),
                   &creds);
  auto body = client.Json("secretsmanager", "secretsmanager.GetSecretValue", R"({"SecretId":"x"})");
  ASSERT_TRUE(body.ok()) << body.status().ToString();
  EXPECT_EQ(*body, R"(POST {"SecretId":"x"})");

  AwsClient failing({.region = "us-east-1", .endpoint_url = server_.url() + "/fail"},
                    transport_.get(), &creds);
  auto error = failing.Json("secretsmanager", "secretsmanager.CreateSecret", "{}");
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(error.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(error.status().message(),
              StartsWith("secretsmanager CreateSecret: ValidationException: bad input [request "
                         "loop-1]; "));
  EXPECT_EQ(failing.Stats().calls, 1);
}

}  // namespace
}  // namespace carrierarr::aws
