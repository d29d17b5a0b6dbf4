// AwsClient over a scripted transport: request shape, signing on every attempt, retries with
// jittered backoff (recorded through the sleep seam on a simulated clock), error documents of
// both families turned into Status with the AWS code and advice, and stats.
#include "aws/client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>
#include <mutex>

namespace carrierarr::aws {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Answers from a script, records what was sent.
class ScriptedTransport final : public HttpTransport {
 public:
  void Push(int status, std::string body, Headers headers = {}) {
    script_.push_back(HttpResponse{status, std::move(headers), std::move(body)});
  }
  void PushNoAnswer() { script_.push_back(std::nullopt); }
  Result<HttpResponse> Send(const HttpRequest& request) override {
    std::lock_guard<std::mutex> lock(mu_);
    sent.push_back(request);
    if (script_.empty()) return Status::Internal("script exhausted");
    auto next = script_.front();
    script_.pop_front();
    if (!next) return Status::Unavailable("connection refused");
    return *next;
  }
  std::vector<HttpRequest> sent;

 private:
  std::mutex mu_;
  std::deque<std::optional<HttpResponse>> script_;
};

const char kEc2Throttle[] =
    "<?xml version=\"1.0\"?><Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>"
    "Request limit exceeded.</Message></Error></Errors><RequestID>r-1</RequestID></Response>";

class AwsClientTest : public ::testing::Test {
 protected:
  AwsClient MakeClient(const std::string& endpoint = "") {
    return AwsClient({.region = "eu-west-1",
                      .endpoint_url = endpoint,
                      .sleep =
                          [this](std::chrono::milliseconds d) {
                            sleeps.push_back(d.count());
                            clock.Advance(d);
                          },
                      .random = [] { return 0.5; },
                      .clock = &clock},
                     &transport, &creds);
  }
  ScriptedTransport transport;
  StaticCredentials creds{{.access_key_id = "AKID", .secret_access_key = "secret"}};
  SimulatedClock clock{1'780'000'000'000};
  std::vector<int64_t> sleeps;
};

TEST_F(AwsClientTest, QueryPostsASignedFormToTheServiceEndpoint) {
  transport.Push(200, "<DescribeVpcsResponse/>");
  AwsClient client = MakeClient();
  auto body = client.Query("ec2", "DescribeVpcs", {{"Filter.1.Name", "is default"}});
  ASSERT_TRUE(body.ok()) << body.status().ToString();
  EXPECT_EQ(*body, "<DescribeVpcsResponse/>");
  ASSERT_EQ(transport.sent.size(), 1u);
  const HttpRequest& r = transport.sent[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, "https://ec2.eu-west-1.amazonaws.com/");
  EXPECT_EQ(r.body, "Action=DescribeVpcs&Version=2016-11-15&Filter.1.Name=is+default");
  EXPECT_EQ(FindHeader(r.headers, "content-type"),
            "application/x-www-form-urlencoded; charset=utf-8");
  EXPECT_THAT(FindHeader(r.headers, "authorization"),
              HasSubstr("Credential=AKID/20260528/eu-west-1/ec2/aws4_request"));
}

TEST_F(AwsClientTest, JsonSendsTheTargetAndEndpointsFollowTheOverride) {
  transport.Push(200, "{}");
  transport.Push(200, "{}");
  AwsClient client = MakeClient("http://127.0.0.1:4566");
  ASSERT_TRUE(client.Json("secretsmanager", "secretsmanager.GetSecretValue", "{}").ok());
  EXPECT_EQ(transport.sent[0].url, "http://127.0.0.1:4566/");
  EXPECT_EQ(FindHeader(transport.sent[0].headers, "x-amz-target"), "secretsmanager.GetSecretValue");
  EXPECT_EQ(FindHeader(transport.sent[0].headers, "content-type"), "application/x-amz-json-1.1");
  // The real EC2 endpoint named as an override keeps every service on its own host.
  AwsClient real = MakeClient("https://ec2.eu-west-1.amazonaws.com");
  EXPECT_EQ(real.EndpointFor("servicequotas"), "https://servicequotas.eu-west-1.amazonaws.com/");
}

TEST_F(AwsClientTest, ThrottlingIsRetriedWithJitteredExponentialBackoff) {
  transport.Push(503, kEc2Throttle);
  transport.PushNoAnswer();
  transport.Push(500,
                 "<Response><Errors><Error><Code>InternalError</Code></Error></Errors></Response>");
  transport.Push(200, "<ok/>");
  AwsClient client = MakeClient();
  auto body = client.Query("ec2", "RunInstances", {});
  ASSERT_TRUE(body.ok()) << body.status().ToString();
  // random() = 0.5: 0.5 s, 1 s, 2 s.
  EXPECT_THAT(sleeps, ElementsAre(500, 1000, 2000));
  EXPECT_EQ(client.Stats().calls, 4);
  EXPECT_EQ(client.Stats().retries, 3);
  // Every attempt is signed anew, with the time it is sent.
  EXPECT_NE(FindHeader(transport.sent[0].headers, "x-amz-date"),
            FindHeader(transport.sent[3].headers, "x-amz-date"));
}

TEST_F(AwsClientTest, BackoffIsCappedAndGivingUpSaysSo) {
  for (int i = 0; i < 8; ++i) transport.Push(503, kEc2Throttle);
  AwsClient client({.region = "eu-west-1",
                    .max_attempts = 8,
                    .max_backoff = std::chrono::milliseconds(3000),
                    .sleep = [this](std::chrono::milliseconds d) { sleeps.push_back(d.count()); },
                    .random = [] { return 1.0; },
                    .clock = &clock},
                   &transport, &creds);
  auto body = client.Query("ec2", "DescribeInstances", {});
  ASSERT_FALSE(body.ok());
  EXPECT_EQ(body.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(body.status().message(), HasSubstr("RequestLimitExceeded"));
  EXPECT_THAT(body.status().message(), HasSubstr("gave up after 8 attempts"));
  EXPECT_THAT(sleeps, ElementsAre(1000, 2000, 3000, 3000, 3000, 3000, 3000));
}

TEST_F(AwsClientTest, ClientErrorsAreNotRetriedAndCarryCodeAndAdvice) {
  transport.Push(400,
                 "<?xml version=\"1.0\"?><Response><Errors><Error><Code>InvalidGroup.Duplicate"
                 "</Code><Message>The security group 'x' already exists</Message></Error></Errors>"
                 "<RequestID>abc-123</RequestID></Response>");
  AwsClient client = MakeClient();
  auto r = client.Query("ec2", "CreateSecurityGroup", {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kAlreadyExists);
  EXPECT_THAT(r.status().message(),
              HasSubstr("ec2 CreateSecurityGroup: InvalidGroup.Duplicate: The security group 'x' "
                        "already exists [request abc-123]"));
  EXPECT_TRUE(HasAwsCode(r.status(), "InvalidGroup.Duplicate"));
  EXPECT_FALSE(HasAwsCode(r.status(), "InvalidGroup"));
  EXPECT_EQ(transport.sent.size(), 1u);
  EXPECT_TRUE(sleeps.empty());
}

TEST_F(AwsClientTest, ErrorFamiliesMapToStatusCodes) {
  struct Case {
    const char* code;
    StatusCode want;
    const char* advice;
  };
  const Case cases[] = {
      {"AuthFailure", StatusCode::kPermissionDenied, "check the credentials"},
      {"UnauthorizedOperation", StatusCode::kPermissionDenied, "IAM permission for RunInstances"},
      {"VcpuLimitExceeded", StatusCode::kFailedPrecondition, "Service Quotas"},
      {"InsufficientInstanceCapacity", StatusCode::kFailedPrecondition, "another instance type"},
      {"DependencyViolation", StatusCode::kFailedPrecondition, "still uses it"},
      {"InvalidInstanceID.NotFound", StatusCode::kNotFound, "does not exist"},
      {"IdempotentParameterMismatch", StatusCode::kAlreadyExists, "exists already"},
  };
  for (const Case& c : cases) {
    transport.Push(400, std::string("<Response><Errors><Error><Code>") + c.code +
                            "</Code><Message>m</Message></Error></Errors></Response>");
    AwsClient client = MakeClient();
    auto r = client.Query("ec2", "RunInstances", {});
    ASSERT_FALSE(r.ok()) << c.code;
    EXPECT_EQ(r.status().code(), c.want) << c.code;
    EXPECT_THAT(r.status().message(), HasSubstr(c.advice)) << c.code;
    EXPECT_TRUE(HasAwsCode(r.status(), c.code));
  }
}

TEST_F(AwsClientTest, JsonErrorsFromBodyOrHeader) {
  transport.Push(400, R"({"__type":"com.amazonaws.secretsmanager#ResourceExistsException",)"
                      R"("message":"the secret exists"})");
  transport.Push(400, "", {{"X-Amzn-ErrorType", "ResourceNotFoundException:http://internal"}});
  transport.Push(400, R"({"__type":"ThrottlingException","message":"slow down"})");
  transport.Push(200, "{}");
  AwsClient client = MakeClient();
  auto exists = client.Json("secretsmanager", "secretsmanager.CreateSecret", "{}");
  EXPECT_EQ(exists.status().code(), StatusCode::kAlreadyExists);
  EXPECT_THAT(exists.status().message(),
              HasSubstr("secretsmanager CreateSecret: ResourceExistsException: the secret exists"));
  auto missing = client.Json("secretsmanager", "secretsmanager.DescribeSecret", "{}");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(HasAwsCode(missing.status(), "ResourceNotFoundException"));
  EXPECT_TRUE(client.Json("servicequotas", "ServiceQuotasV20190624.GetServiceQuota", "{}").ok());
  EXPECT_THAT(sleeps, ElementsAre(500));  // the throttled call, retried once
}

TEST_F(AwsClientTest, MissingCredentialsStopBeforeAnyRequest) {
  class NoCredentials final : public CredentialSource {
   public:
    Result<Credentials> Get() override { return Status::PermissionDenied("no AWS credentials"); }
  } none;
  AwsClient client({.region = "eu-west-1"}, &transport, &none);
  auto r = client.Query("ec2", "DescribeVpcs", {});
  EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(transport.sent.empty());
}

TEST(FormEncodeTest, EncodesAsBotocoreDoes) {
  EXPECT_EQ(FormEncode({{"Action", "RunInstances"},
                        {"UserData", "a+b/c="},
                        {"TagSpecification.1.Tag.1.Value", "my fleet~"}}),
            "Action=RunInstances&UserData=a%2Bb%2Fc%3D&TagSpecification.1.Tag.1.Value=my+fleet~");
}

}  // namespace
}  // namespace carrierarr::aws
