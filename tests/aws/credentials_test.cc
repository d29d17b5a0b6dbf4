// The credential chain in the AWS CLI's order, on temporary files and an injected environment:
// environment, shared credentials file, credential_process (a real script, run as argv), config
// file, container credentials and IMDSv2 (through a scripted transport: nothing is sent to
// 169.254.x.x), the region's order, refresh before expiry on a simulated clock.
#include "aws/credentials.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>

#include "core/file_util.h"
#include "testing/tools.h"

namespace carrierarr::aws {
namespace {

using ::carrierarr::testing::ScratchDir;
using ::testing::HasSubstr;

// Answers by "METHOD URL"; records the requests.
class MetadataServer final : public HttpTransport {
 public:
  std::map<std::string, HttpResponse> routes;
  std::vector<HttpRequest> seen;
  Result<HttpResponse> Send(const HttpRequest& r) override {
    seen.push_back(r);
    auto it = routes.find(r.method + " " + r.url);
    if (it == routes.end()) return HttpResponse{404, {}, ""};
    return it->second;
  }
};

class CredentialsTest : public ::testing::Test {
 protected:
  void Write(const std::string& name, const std::string& text, mode_t mode = 0600) {
    ASSERT_TRUE(WriteFileAtomic(dir_ / name, text, mode).ok());
  }
  Environment Env(std::map<std::string, std::string> vars = {}) {
    Environment env;
    env.home = dir_.path();  // ~/.aws/... lives in the scratch directory
    env.vars = std::move(vars);
    return env;
  }
  ScratchDir dir_;
  SimulatedClock clock_{1'780'000'000'000};
};

TEST_F(CredentialsTest, EnvironmentComesFirstUnlessAProfileIsNamed) {
  ::mkdir((dir_ / ".aws").c_str(), 0700);
  Write(".aws/credentials", "[dev]\naws_access_key_id = AKIDFILE\naws_secret_access_key = s\n");
  CredentialChain from_env(Env({{"AWS_ACCESS_KEY_ID", "AKIDENV"},
                                {"AWS_SECRET_ACCESS_KEY", "e"},
                                {"AWS_SESSION_TOKEN", "t"}}),
                           {}, nullptr, &clock_);
  auto c = from_env.Get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "AKIDENV");
  EXPECT_EQ(c->session_token, "t");
  EXPECT_EQ(c->source, "environment");

  CredentialChain named(Env({{"AWS_ACCESS_KEY_ID", "AKIDENV"}, {"AWS_SECRET_ACCESS_KEY", "e"}}),
                        {.profile = "dev"}, nullptr, &clock_);
  c = named.Get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "AKIDFILE");
  EXPECT_THAT(c->source, HasSubstr("[dev]"));
}

TEST_F(CredentialsTest, SharedFileThenConfigFileWithAwsProfileAndFileVariables) {
  Write("creds", "# comment\n[default]\naws_access_key_id=AKIDDEFAULT\naws_secret_access_key=d\n");
  Write("config",
        "[profile ops]\nregion = ap-south-1\naws_access_key_id = AKIDCONFIG\n"
        "aws_secret_access_key = c\n  nested = ignored\n");
  auto env =
      Env({{"AWS_SHARED_CREDENTIALS_FILE", dir_ / "creds"}, {"AWS_CONFIG_FILE", dir_ / "config"}});
  CredentialChain def(env, {}, nullptr, &clock_);
  EXPECT_EQ(def.Get()->access_key_id, "AKIDDEFAULT");
  env.vars["AWS_PROFILE"] = "ops";
  CredentialChain ops(env, {}, nullptr, &clock_);
  auto c = ops.Get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "AKIDCONFIG");
  EXPECT_EQ(*ops.Region(), "ap-south-1");
  EXPECT_EQ(ops.Profile(), "ops");
}

TEST_F(CredentialsTest, CredentialProcessRunsAsArgvAndExpires) {
  // A script that counts its runs, so the test sees the refresh.
  Write("issue.sh",
        "#!/bin/sh\n"
        "n=$(cat \"$1/count\" 2>/dev/null || echo 0); n=$((n+1)); echo $n > \"$1/count\"\n"
        "printf '{\"Version\":1,\"AccessKeyId\":\"AKIDPROC%s\",\"SecretAccessKey\":\"p\","
        "\"SessionToken\":\"tok\",\"Expiration\":\"2026-05-28T21:00:00Z\"}' \"$n\"\n",
        0700);
  Write("config",
        "[default]\ncredential_process = '" + (dir_ / "issue.sh") + "' '" + dir_.path() + "'\n");
  CredentialChain chain(
      Env({{"AWS_CONFIG_FILE", dir_ / "config"}, {"AWS_SHARED_CREDENTIALS_FILE", dir_ / "none"}}),
      {}, nullptr, &clock_);
  auto c = chain.Get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "AKIDPROC1");
  EXPECT_EQ(c->session_token, "tok");
  EXPECT_EQ(chain.Get()->access_key_id, "AKIDPROC1");  // cached
  // 1.78e12 ms is 2026-05-28T20:26:40Z; five minutes before 21:00 it refreshes.
  clock_.Advance(std::chrono::minutes(29));
  EXPECT_EQ(chain.Get()->access_key_id, "AKIDPROC2");
}

TEST_F(CredentialsTest, AFailingCredentialProcessSaysWhy) {
  Write("fail.sh", "#!/bin/sh\necho 'SSO session expired' >&2\nexit 3\n", 0700);
  Write("config", "[profile sso]\ncredential_process = " + (dir_ / "fail.sh") + "\n");
  CredentialChain chain(Env({{"AWS_CONFIG_FILE", dir_ / "config"}}), {.profile = "sso"}, nullptr,
                        &clock_);
  auto c = chain.Get();
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("exit 3"));
  EXPECT_THAT(c.status().message(), HasSubstr("SSO session expired"));
}

TEST_F(CredentialsTest, ContainerThenInstanceMetadataWithImdsV2) {
  MetadataServer md;
  md.routes["PUT http://169.254.169.254/latest/api/token"] = {200, {}, "imds-token"};
  md.routes["GET http://169.254.169.254/latest/meta-data/iam/security-credentials/"] = {
      200, {}, "node-role\n"};
  md.routes["GET http://169.254.169.254/latest/meta-data/iam/security-credentials/node-role"] = {
      200,
      {},
      R"({"Code":"Success","AccessKeyId":"ASIAIMDS","SecretAccessKey":"i","Token":"it",)"
      R"("Expiration":"2026-05-29T00:00:00Z"})"};
  CredentialChain chain(Env(), {}, &md, &clock_);
  auto c = chain.Get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "ASIAIMDS");
  EXPECT_EQ(c->session_token, "it");
  ASSERT_GE(md.seen.size(), 3u);
  EXPECT_EQ(FindHeader(md.seen[0].headers, "X-aws-ec2-metadata-token-ttl-seconds"), "21600");
  EXPECT_EQ(FindHeader(md.seen[1].headers, "X-aws-ec2-metadata-token"), "imds-token");

  MetadataServer container;
  container.routes["GET http://169.254.170.2/v2/credentials/abc"] = {
      200, {}, R"({"AccessKeyId":"ASIATASK","SecretAccessKey":"x","Token":"y"})"};
  CredentialChain task(Env({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc"}}), {},
                       &container, &clock_);
  EXPECT_EQ(task.Get()->access_key_id, "ASIATASK");
}

TEST_F(CredentialsTest, NothingFoundListsWhatWasTried) {
  MetadataServer md;  // answers 404 to everything
  CredentialChain chain(Env({{"AWS_EC2_METADATA_DISABLED", "true"}}), {}, &md, &clock_);
  auto c = chain.Get();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(c.status().message(), HasSubstr("tried environment"));
  EXPECT_THAT(c.status().message(), HasSubstr("run 'aws configure'"));
  EXPECT_TRUE(md.seen.empty()) << "AWS_EC2_METADATA_DISABLED=true must keep IMDS quiet";

  CredentialChain missing(Env(), {.profile = "nope"}, nullptr, &clock_);
  EXPECT_EQ(missing.Get().status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.Get().status().message(), HasSubstr("profile 'nope'"));
}

TEST_F(CredentialsTest, RegionOrder) {
  Write("config", "[default]\nregion = eu-north-1\n");
  auto env = Env({{"AWS_CONFIG_FILE", dir_ / "config"}, {"AWS_EC2_METADATA_DISABLED", "true"}});
  EXPECT_EQ(*CredentialChain(env, {}, nullptr, &clock_).Region(), "eu-north-1");
  env.vars["AWS_DEFAULT_REGION"] = "us-east-2";
  EXPECT_EQ(*CredentialChain(env, {}, nullptr, &clock_).Region(), "us-east-2");
  env.vars["AWS_REGION"] = "us-west-1";
  EXPECT_EQ(*CredentialChain(env, {}, nullptr, &clock_).Region(), "us-west-1");
  EXPECT_EQ(*CredentialChain(env, {.region = "sa-east-1"}, nullptr, &clock_).Region(), "sa-east-1");
  auto none =
      CredentialChain(Env({{"AWS_EC2_METADATA_DISABLED", "true"}}), {}, nullptr, &clock_).Region();
  EXPECT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(), HasSubstr("no AWS region"));
}

TEST(IniTest, SectionsCommentsAndErrors) {
  auto ini = ParseIni("; c\n[a]\nk = v = w\n# c\n[profile b]\nx=1\n", "f");
  ASSERT_TRUE(ini.ok());
  EXPECT_EQ((*ini)["a"]["k"], "v = w");
  EXPECT_EQ((*ini)["profile b"]["x"], "1");
  EXPECT_THAT(ParseIni("k = v\n", "cfg").status().message(), HasSubstr("cfg:1"));
  EXPECT_THAT(ParseIni("[a\n", "cfg").status().message(), HasSubstr("cfg:1"));
}

TEST(SplitCommandLineTest, QuotesWithoutExpansion) {
  auto argv =
      SplitCommandLine(R"(aws configure  export-credentials --profile "my sso" '$HOME' a\ b)");
  ASSERT_TRUE(argv.ok());
  EXPECT_EQ(*argv, (std::vector<std::string>{"aws", "configure", "export-credentials", "--profile",
                                             "my sso", "$HOME", "a b"}));
  EXPECT_FALSE(SplitCommandLine("aws 'unclosed").ok());
  EXPECT_FALSE(SplitCommandLine("   ").ok());
}

}  // namespace
}  // namespace carrierarr::aws
