// The credential chain in the AWS CLI's order, on temporary files and an injected environment:
// environment, shared credentials file, credential_process (real scripts, run as argv), config
// file, container credentials and IMDSv2 (a scripted transport, and the real curl transport
// against a loopback server: nothing is sent to 169.254.x.x), the region's order, refresh before
// expiry on a simulated clock, INI parsing and credential_process splitting.
#include "aws/credentials.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <map>
#include <mutex>

#include "core/file_util.h"
#include "testing/fake_process_runner.h"
#include "testing/loopback_server.h"
#include "testing/tools.h"

namespace carrierarr::aws {
namespace {

using ::carrierarr::testing::LoopbackServer;
using ::carrierarr::testing::ScratchDir;
using ::carrierarr::testing::Slurp;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSecret[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRET";

// Answers by "METHOD URL" (404 otherwise); records the requests.
class ScriptedMetadata final : public HttpTransport {
 public:
  std::map<std::string, HttpResponse> routes;
  std::vector<HttpRequest> seen;
  Result<HttpResponse> Send(const HttpRequest& r) override {
    std::lock_guard<std::mutex> lock(mu_);
    seen.push_back(r);
    auto it = routes.find(r.method + " " + r.url);
    if (it == routes.end()) return HttpResponse{.status = 404};
    return it->second;
  }

 private:
  std::mutex mu_;
};

// No machine answers: what a laptop off EC2 sees.
class NoAnswer final : public HttpTransport {
 public:
  int calls = 0;
  Result<HttpResponse> Send(const HttpRequest&) override {
    ++calls;
    return Status::Unavailable("connection timed out");
  }
};

class CredentialsTest : public ::testing::Test {
 protected:
  void Write(const std::string& name, const std::string& text, mode_t mode = 0600) {
    ::mkdir((dir_ / ".aws").c_str(), 0700);
    ASSERT_TRUE(WriteFileAtomic(dir_ / name, text, mode).ok()) << name;
  }
  // HOME is the scratch directory: the default ~/.aws files are the test's own.
  Environment Env(std::map<std::string, std::string> vars = {}) {
    Environment env;
    env.home = dir_.path();
    env.vars = std::move(vars);
    return env;
  }
  Result<Credentials> Get(const Environment& env, AwsSelection selection = {},
                          HttpTransport* metadata = nullptr) {
    CredentialChain chain(env, std::move(selection), metadata, &clock_);
    return chain.Get();
  }
  ScratchDir dir_;
  SimulatedTimeSource clock_{1'780'000'000'000};  // 2026-05-28T20:26:40Z
};

TEST_F(CredentialsTest, EnvironmentComesFirstUnlessAProfileIsNamedWithDashDashProfile) {
  Write(".aws/credentials", "[dev]\naws_access_key_id = AKIDFILE\naws_secret_access_key = s\n");
  const auto env = Env({{"AWS_ACCESS_KEY_ID", "AKIDENV"},
                        {"AWS_SECRET_ACCESS_KEY", "e"},
                        {"AWS_SESSION_TOKEN", "t"},
                        {"AWS_PROFILE", "dev"}});
  // AWS_PROFILE alone does not outrank the environment's keys (the AWS CLI's rule)...
  auto c = Get(env);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "AKIDENV");
  EXPECT_EQ(c->secret_access_key, "e");
  EXPECT_EQ(c->session_token, "t");
  EXPECT_THAT(c->source, HasSubstr("environment"));

  // ... --profile does.
  c = Get(env, {.profile = "dev"});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "AKIDFILE");
  EXPECT_EQ(c->source, "~/.aws/credentials [dev]");
}

TEST_F(CredentialsTest, HalfSetEnvironmentIsAnErrorThatNamesTheMissingVariable) {
  auto c = Get(Env({{"AWS_ACCESS_KEY_ID", "AKIDENV"}}));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr("AWS_SECRET_ACCESS_KEY is not"));
}

// credential_process is split into argv and run through the injected runner, never a shell.
TEST_F(CredentialsTest, CredentialProcessRunsThroughTheInjectedRunner) {
  ::carrierarr::testing::FakeProcessRunner processes;
  processes.OnRun({"/opt/sso/issue", "--profile"},
                  ::carrierarr::testing::FakeProcessRunner::Exit(
                      0, R"({"Version":1,"AccessKeyId":"AKIDFAKE","SecretAccessKey":"f"})"));
  Write(".aws/config", "[default]\ncredential_process = /opt/sso/issue --profile 'a b' $HOME\n");
  CredentialChain chain(Env(), {}, nullptr, &clock_, &processes);
  auto c = chain.Get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "AKIDFAKE");
  ASSERT_EQ(processes.runs().size(), 1u);
  EXPECT_EQ(processes.runs()[0],
            (std::vector<std::string>{"/opt/sso/issue", "--profile", "a b", "$HOME"}));
}

// One profile configured at every step: each step wins over the ones after it.
TEST_F(CredentialsTest, EveryFileStepOutranksTheNext) {
  Write("issue.sh",
        "#!/bin/sh\nprintf '{\"Version\":1,\"AccessKeyId\":\"AKIDPROC\","
        "\"SecretAccessKey\":\"p\"}'\n",
        0700);
  const std::string process = "credential_process = " + (dir_ / "issue.sh") + "\n";
  const std::string config_keys = "aws_access_key_id = AKIDCONFIG\naws_secret_access_key = c\n";
  const std::string shared_keys = "aws_access_key_id = AKIDSHARED\naws_secret_access_key = s\n";
  ScriptedMetadata metadata;  // answers 404: container and IMDS are never reached here
  const auto env = Env();

  Write(".aws/credentials", "[ops]\n" + shared_keys);
  Write(".aws/config", "[profile ops]\n" + process + config_keys);
  auto c = Get(env, {.profile = "ops"}, &metadata);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "AKIDSHARED");

  Write(".aws/credentials", "[ops]\nregion = x\n");
  c = Get(env, {.profile = "ops"}, &metadata);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "AKIDPROC");
  EXPECT_THAT(c->source, HasSubstr("credential_process of ~/.aws/config [profile ops]"));

  Write(".aws/config", "[profile ops]\n" + config_keys);
  c = Get(env, {.profile = "ops"}, &metadata);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "AKIDCONFIG");
  EXPECT_EQ(c->source, "~/.aws/config [profile ops]");
  EXPECT_TRUE(metadata.seen.empty());
}

TEST_F(CredentialsTest, FileVariablesAwsProfileAndTheDefaultProfile) {
  Write("creds", "# comment\n[default]\naws_access_key_id=AKIDDEFAULT\naws_secret_access_key=d\n");
  Write("config",
        "[profile ops]\nregion = ap-south-1\naws_access_key_id = AKIDCONFIG\n"
        "aws_secret_access_key = c\naws_session_token = tok\n  nested = ignored\n");
  auto env =
      Env({{"AWS_SHARED_CREDENTIALS_FILE", dir_ / "creds"}, {"AWS_CONFIG_FILE", dir_ / "config"}});
  CredentialChain def(env, {}, nullptr, &clock_);
  EXPECT_EQ(def.Profile(), "default");
  auto c = def.Get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "AKIDDEFAULT");
  EXPECT_EQ(c->source, (dir_ / "creds") + " [default]");

  env.vars["AWS_PROFILE"] = "ops";
  CredentialChain ops(env, {}, nullptr, &clock_);
  c = ops.Get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "AKIDCONFIG");
  EXPECT_EQ(c->session_token, "tok");
  EXPECT_EQ(*ops.Region(), "ap-south-1");
  EXPECT_EQ(ops.Profile(), "ops");
  EXPECT_EQ(CredentialChain(env, {.profile = "cli"}, nullptr, &clock_).Profile(), "cli");
}

TEST_F(CredentialsTest, HalfAKeyPairInAFileIsAnErrorWithoutTheSecret) {
  Write(".aws/credentials", std::string("[default]\naws_secret_access_key = ") + kSecret + "\n");
  auto c = Get(Env());
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), AllOf(HasSubstr("~/.aws/credentials [default]"),
                                          HasSubstr("aws_access_key_id"), Not(HasSubstr(kSecret))));
}

TEST_F(CredentialsTest, CredentialProcessRunsAsArgvAndIsRefreshedBeforeItExpires) {
  // Counts its runs (in the directory it is given as an argument with a space in it), so the
  // test sees the refresh.
  const std::string state = dir_ / "state dir";
  ASSERT_EQ(::mkdir(state.c_str(), 0700), 0);
  Write("issue.sh",
        "#!/bin/sh\n"
        "n=$(cat \"$1/count\" 2>/dev/null || echo 0); n=$((n+1)); echo $n > \"$1/count\"\n"
        "printf '{\"Version\":1,\"AccessKeyId\":\"AKIDPROC%s\",\"SecretAccessKey\":\"p\","
        "\"SessionToken\":\"tok\",\"Expiration\":\"2026-05-28T23:00:00.000+02:00\"}' \"$n\"\n",
        0700);
  Write("config",
        "[default]\ncredential_process = \"" + (dir_ / "issue.sh") + "\" '" + state + "'\n");
  CredentialChain chain(
      Env({{"AWS_CONFIG_FILE", dir_ / "config"}, {"AWS_SHARED_CREDENTIALS_FILE", dir_ / "none"}}),
      {}, nullptr, &clock_);
  auto c = chain.Get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "AKIDPROC1");
  EXPECT_EQ(c->session_token, "tok");
  ASSERT_TRUE(c->expiration.has_value());
  // 23:00+02:00 is 21:00Z: 33 min 20 s after the clock's start.
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(c->expiration->time_since_epoch())
                .count(),
            clock_.NowMs() + (33 * 60 + 20) * 1000);
  clock_.Advance(std::chrono::minutes(28));  // 20:54:40: more than 5 minutes left
  EXPECT_EQ(chain.Get()->access_key_id, "AKIDPROC1");
  clock_.Advance(std::chrono::minutes(1));  // 20:55:40: less than 5 minutes left
  EXPECT_EQ(chain.Get()->access_key_id, "AKIDPROC2");
  EXPECT_EQ(Slurp(state + "/count"), "2\n");
}

TEST_F(CredentialsTest, AFailedRefreshKeepsCredentialsUntilTheyExpire) {
  // Succeeds once, then fails.
  Write("once.sh",
        "#!/bin/sh\n[ -e \"$1\" ] && { echo 'token expired' >&2; exit 1; }\ntouch \"$1\"\n"
        "echo '{\"Version\":1,\"AccessKeyId\":\"AKIDONCE\",\"SecretAccessKey\":\"p\","
        "\"Expiration\":\"2026-05-28T21:00:00Z\"}'\n",
        0700);
  Write(".aws/config",
        "[default]\ncredential_process = " + (dir_ / "once.sh") + " " + (dir_ / "ran") + "\n");
  CredentialChain chain(Env(), {}, nullptr, &clock_);
  ASSERT_TRUE(chain.Get().ok());
  clock_.Advance(std::chrono::minutes(30));  // 20:56:40: refresh due, fails, still valid
  auto c = chain.Get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "AKIDONCE");
  clock_.Advance(std::chrono::minutes(4));  // 21:00:40: expired
  c = chain.Get();
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("token expired"));
}

TEST_F(CredentialsTest, ACredentialProcessInTheCredentialsFileCountsToo) {
  Write("issue.sh",
        "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"AKIDSHAREDPROC\", "
        "\"SecretAccessKey\": \"p\"}'\n",
        0700);
  Write(".aws/credentials", "[default]\ncredential_process = " + (dir_ / "issue.sh") + "\n");
  auto c = Get(Env());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "AKIDSHAREDPROC");
  EXPECT_FALSE(c->expiration.has_value());  // long-term keys: cached for good
}

TEST_F(CredentialsTest, CredentialProcessFailuresSayWhyWithoutSecrets) {
  Write("fail.sh", "#!/bin/sh\necho 'SSO session expired' >&2\nexit 3\n", 0700);
  Write(
      "v2.sh",
      std::string("#!/bin/sh\necho '{\"Version\":2,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"") +
          kSecret + "\"}'\n",
      0700);
  Write("garbage.sh", std::string("#!/bin/sh\necho 'SecretAccessKey=") + kSecret + "'\n", 0700);
  Write("config", "[profile sso]\ncredential_process = " + (dir_ / "fail.sh") +
                      "\n[profile v2]\ncredential_process = " + (dir_ / "v2.sh") +
                      "\n[profile garbage]\ncredential_process = " + (dir_ / "garbage.sh") +
                      "\n[profile missing]\ncredential_process = " + (dir_ / "no-such-program") +
                      "\n[profile quote]\ncredential_process = 'unclosed\n");
  const auto env = Env({{"AWS_CONFIG_FILE", dir_ / "config"}});
  auto c = Get(env, {.profile = "sso"});
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(),
              AllOf(HasSubstr("exit 3"), HasSubstr("SSO session expired"), HasSubstr("fail.sh")));
  c = Get(env, {.profile = "v2"});
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), AllOf(HasSubstr("\"Version\": 1"), Not(HasSubstr(kSecret))));
  c = Get(env, {.profile = "garbage"});
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), AllOf(HasSubstr("JSON"), Not(HasSubstr(kSecret))));
  c = Get(env, {.profile = "missing"});
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("cannot run"));
  c = Get(env, {.profile = "quote"});
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("unclosed single quote"));
}

TEST_F(CredentialsTest, InstanceMetadataUsesImdsV2) {
  ScriptedMetadata md;
  md.routes["PUT http://169.254.169.254/latest/api/token"] = {.status = 200, .body = "imds-token"};
  md.routes["GET http://169.254.169.254/latest/meta-data/iam/security-credentials/"] = {
      .status = 200, .body = "node-role\n"};
  md.routes["GET http://169.254.169.254/latest/meta-data/iam/security-credentials/node-role"] = {
      .status = 200,
      .body = R"({"Code":"Success","AccessKeyId":"ASIAIMDS","SecretAccessKey":"i","Token":"it",)"
              R"("Expiration":"2026-05-29T00:00:00Z"})"};
  auto c = Get(Env(), {}, &md);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "ASIAIMDS");
  EXPECT_EQ(c->session_token, "it");
  EXPECT_THAT(c->source, HasSubstr("node-role"));
  ASSERT_EQ(md.seen.size(), 3u);
  EXPECT_EQ(md.seen[0].method, "PUT");
  EXPECT_EQ(FindHeader(md.seen[0].headers, "X-aws-ec2-metadata-token-ttl-seconds"), "21600");
  for (const HttpRequest& r : md.seen) {
    EXPECT_LE(r.timeout, std::chrono::seconds(1)) << r.url;  // one short attempt, off EC2 too
    if (r.method == "GET") {
      EXPECT_EQ(FindHeader(r.headers, "X-aws-ec2-metadata-token"), "imds-token");
    }
  }
}

TEST_F(CredentialsTest, ContainerCredentialsComeBeforeInstanceMetadata) {
  ScriptedMetadata md;
  md.routes["GET http://169.254.170.2/v2/credentials/abc"] = {
      .status = 200, .body = R"({"AccessKeyId":"ASIATASK","SecretAccessKey":"x","Token":"y"})"};
  md.routes["GET http://127.0.0.1:9/creds"] = {
      .status = 200, .body = R"({"AccessKeyId":"ASIAPOD","SecretAccessKey":"x","Token":"y"})"};
  auto c = Get(Env({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc"}}), {}, &md);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "ASIATASK");
  EXPECT_EQ(md.seen.size(), 1u);  // IMDS was not asked

  Write("token", "file-token\n");
  c = Get(Env({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/creds"},
               {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "env-token"}}),
          {}, &md);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "ASIAPOD");
  EXPECT_EQ(FindHeader(md.seen.back().headers, "Authorization"), "env-token");
  c = Get(Env({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/creds"},
               {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "env-token"},
               {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", dir_ / "token"}}),
          {}, &md);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(FindHeader(md.seen.back().headers, "Authorization"), "file-token");

  // Credentials are never fetched from an arbitrary plain-http host.
  const size_t before = md.seen.size();
  c = Get(Env({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://203.0.113.7/creds"}}), {}, &md);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("refusing"));
  EXPECT_EQ(md.seen.size(), before);

  // A refusal is an error (not a fall-through), and does not echo the token.
  md.routes["GET http://127.0.0.1:9/creds"] = {.status = 403, .body = "denied"};
  c = Get(Env({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/creds"},
               {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "env-token"}}),
          {}, &md);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(c.status().message(), AllOf(HasSubstr("HTTP 403"), Not(HasSubstr("env-token"))));
}

// The real curl transport against a loopback server playing IMDSv2 and a container agent.
TEST_F(CredentialsTest, MetadataOverRealHttpOnLoopback) {
  LoopbackServer imds;
  std::mutex mu;
  std::vector<std::string> log;
  imds.server().Put("/latest/api/token", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu);
    log.push_back("PUT token ttl=" + req.get_header_value("X-aws-ec2-metadata-token-ttl-seconds"));
    res.set_content("t0k3n", "text/plain");
  });
  auto authorized = [&](const httplib::Request& req, httplib::Response& res,
                        const std::string& body) {
    std::lock_guard<std::mutex> lock(mu);
    log.push_back("GET " + req.path + " token=" + req.get_header_value("X-aws-ec2-metadata-token"));
    if (req.get_header_value("X-aws-ec2-metadata-token") != "t0k3n") {
      res.status = 401;
      return;
    }
    res.set_content(body, "text/plain");
  };
  imds.server().Get(
      "/latest/meta-data/iam/security-credentials/",
      [&](const httplib::Request& q, httplib::Response& s) { authorized(q, s, "gpu-node\n"); });
  imds.server().Get("/latest/meta-data/iam/security-credentials/gpu-node",
                    [&](const httplib::Request& q, httplib::Response& s) {
                      authorized(q, s,
                                 R"({"Code":"Success","AccessKeyId":"ASIALOOP",)"
                                 R"("SecretAccessKey":"l","Token":"lt"})");
                    });
  imds.server().Get(
      "/latest/meta-data/placement/region",
      [&](const httplib::Request& q, httplib::Response& s) { authorized(q, s, "eu-central-2"); });
  imds.server().Get("/creds", [&](const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("Authorization") != "pod-token") {
      res.status = 403;
      return;
    }
    res.set_content(R"({"AccessKeyId":"ASIAPOD","SecretAccessKey":"x","Token":"y",)"
                    R"("Expiration":"2026-05-28T22:00:00Z"})",
                    "application/json");
  });
  imds.Start();
  auto transport = MakeCurlTransport();
  ASSERT_TRUE(transport.ok()) << transport.status().ToString();

  const auto env = Env({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url() + "/"}});
  CredentialChain chain(env, {}, transport->get(), &clock_);
  auto c = chain.Get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "ASIALOOP");
  EXPECT_EQ(c->session_token, "lt");
  auto region = chain.Region();
  ASSERT_TRUE(region.ok()) << region.status().ToString();
  EXPECT_EQ(*region, "eu-central-2");
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_THAT(
        log,
        ::testing::ElementsAre(
            "PUT token ttl=21600", "GET /latest/meta-data/iam/security-credentials/ token=t0k3n",
            "GET /latest/meta-data/iam/security-credentials/gpu-node token=t0k3n",
            "PUT token ttl=21600", "GET /latest/meta-data/placement/region token=t0k3n"));
  }

  c = Get(Env({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", imds.url() + "/creds"},
               {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "pod-token"}}),
          {}, transport->get());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "ASIAPOD");
  EXPECT_TRUE(c->expiration.has_value());
}

TEST_F(CredentialsTest, NothingFoundListsWhatWasTriedAndHowToFixIt) {
  ScriptedMetadata md;  // answers 404 to everything
  auto c = Get(Env({{"AWS_EC2_METADATA_DISABLED", "TRUE"}}), {}, &md);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(c.status().message(),
              AllOf(HasSubstr("no AWS credentials found: tried environment"),
                    HasSubstr("~/.aws/credentials [default]"), HasSubstr("credential_process"),
                    HasSubstr("~/.aws/config [default]"), HasSubstr("container credentials"),
                    HasSubstr("AWS_EC2_METADATA_DISABLED=true"), HasSubstr("run 'aws configure'"),
                    HasSubstr("AWS_PROFILE")));
  EXPECT_TRUE(md.seen.empty()) << "AWS_EC2_METADATA_DISABLED=true must keep IMDS quiet";

  // Off EC2: IMDS does not answer, and the message says so.
  NoAnswer silent;
  c = Get(Env(), {}, &silent);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("instance metadata at http://169.254.169.254 (no "
                                              "answer (not on EC2?))"));
  EXPECT_EQ(silent.calls, 1);  // one attempt

  // A profile that uses role_arn or SSO gets the export-credentials recipe.
  Write(".aws/config", "[profile admin]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = x\n");
  c = Get(Env(), {.profile = "admin"});
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(),
              HasSubstr("credential_process = aws configure export-credentials --profile admin"));
}

TEST_F(CredentialsTest, ANamedProfileThatExistsNowhereNamesTheFiles) {
  for (const AwsSelection& selection : {AwsSelection{.profile = "nope"}, AwsSelection{}}) {
    CredentialChain chain(Env({{"AWS_PROFILE", "nope"}}), selection, nullptr, &clock_);
    auto c = chain.Get();
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), StatusCode::kNotFound);
    EXPECT_THAT(c.status().message(),
                AllOf(HasSubstr("profile 'nope'"), HasSubstr("~/.aws/credentials"),
                      HasSubstr("~/.aws/config"), HasSubstr("aws configure --profile nope")));
  }
}

TEST_F(CredentialsTest, RegionOrder) {
  Write("config", "[default]\nregion = eu-north-1\n[profile  eu ]\nregion = eu-south-1\n");
  ScriptedMetadata md;
  md.routes["PUT http://169.254.169.254/latest/api/token"] = {.status = 200, .body = "tok"};
  md.routes["GET http://169.254.169.254/latest/meta-data/placement/region"] = {
      .status = 200, .body = "me-south-1\n"};
  auto env = Env();
  EXPECT_EQ(*CredentialChain(env, {}, &md, &clock_).Region(), "me-south-1");
  env.vars["AWS_CONFIG_FILE"] = dir_ / "config";
  EXPECT_EQ(*CredentialChain(env, {}, &md, &clock_).Region(), "eu-north-1");
  EXPECT_EQ(*CredentialChain(env, {.profile = "eu"}, &md, &clock_).Region(), "eu-south-1");
  env.vars["AWS_DEFAULT_REGION"] = "us-east-2";
  EXPECT_EQ(*CredentialChain(env, {}, &md, &clock_).Region(), "us-east-2");
  env.vars["AWS_REGION"] = "us-west-1";
  EXPECT_EQ(*CredentialChain(env, {}, &md, &clock_).Region(), "us-west-1");
  EXPECT_EQ(*CredentialChain(env, {.region = "sa-east-1"}, &md, &clock_).Region(), "sa-east-1");

  auto none =
      CredentialChain(Env({{"AWS_EC2_METADATA_DISABLED", "true"}}), {}, &md, &clock_).Region();
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(),
              AllOf(HasSubstr("no AWS region"), HasSubstr("AWS_REGION"), HasSubstr("--region"),
                    HasSubstr("AWS_EC2_METADATA_DISABLED")));
}

TEST(EnvironmentTest, FromProcessReadsVariablesAndHome) {
  ASSERT_EQ(setenv("CARRIERARR_CREDENTIALS_TEST", "a=b", 1), 0);
  const Environment env = Environment::FromProcess();
  unsetenv("CARRIERARR_CREDENTIALS_TEST");
  EXPECT_EQ(env.Get("CARRIERARR_CREDENTIALS_TEST"), "a=b");
  EXPECT_FALSE(env.home.empty());
  EXPECT_EQ(env.Get("CARRIERARR_NOT_SET_ANYWHERE"), "");
}

TEST(IniTest, ReadsWhatTheAwsCliReads) {
  auto ini = ParseIni(
      "\xEF\xBB\xBF; comment\r\n"
      "[a]\r\n"
      "Key = v = w\r\n"
      "  # an indented comment\n"
      "colon: x:y\n"
      "hash = v # not a comment\n"
      "empty =\n"
      "s3 =\n"
      "  addressing_style = path\n"
      "# c\n"
      "[profile b] ; trailing text\n"
      "x=1\n"
      "[a]\n"
      "key = later\n",
      "f");
  ASSERT_TRUE(ini.ok()) << ini.status().ToString();
  EXPECT_EQ((*ini)["a"]["key"], "later");  // keys are case-insensitive; the last one wins
  EXPECT_EQ((*ini)["a"]["colon"], "x:y");
  EXPECT_EQ((*ini)["a"]["hash"], "v # not a comment");
  EXPECT_EQ((*ini)["a"]["empty"], "");
  EXPECT_EQ((*ini)["a"]["s3"], "");
  EXPECT_EQ((*ini)["a"].count("addressing_style"), 0u);  // nested keys are ignored
  EXPECT_EQ((*ini)["profile b"]["x"], "1");
  EXPECT_EQ(ini->size(), 2u);
}

TEST(IniTest, ErrorsNameFileAndLineButNotTheLine) {
  auto before = ParseIni("k = v\n", "cfg");
  ASSERT_FALSE(before.ok());
  EXPECT_THAT(before.status().message(), AllOf(HasSubstr("cfg:1"), HasSubstr("[section]")));
  EXPECT_THAT(ParseIni("\n[a\n", "cfg").status().message(), HasSubstr("cfg:2"));
  EXPECT_THAT(ParseIni("[]\n", "cfg").status().message(), HasSubstr("cfg:1"));
  auto no_equals = ParseIni(std::string("[a]\n") + kSecret + "\n", "cfg");
  ASSERT_FALSE(no_equals.ok());
  EXPECT_THAT(no_equals.status().message(), AllOf(HasSubstr("cfg:2"), Not(HasSubstr(kSecret))));
  EXPECT_TRUE(ParseIni("", "cfg").ok());
}

TEST(SplitCommandLineTest, QuotesAndEscapesWithoutExpansion) {
  auto argv = SplitCommandLine(
      R"(aws configure  export-credentials --profile "my sso" '$HOME' a\ b "q\"x\\y\n" 'it\s' "" a"b"'c')");
  ASSERT_TRUE(argv.ok()) << argv.status().ToString();
  EXPECT_EQ(*argv, (std::vector<std::string>{"aws", "configure", "export-credentials", "--profile",
                                             "my sso", "$HOME", "a b", R"(q"x\y\n)", R"(it\s)", "",
                                             "abc"}));
  argv = SplitCommandLine("\tprog\n--flag\r\n");
  ASSERT_TRUE(argv.ok());
  EXPECT_EQ(*argv, (std::vector<std::string>{"prog", "--flag"}));
  EXPECT_THAT(SplitCommandLine("aws 'unclosed").status().message(), HasSubstr("single quote"));
  EXPECT_THAT(SplitCommandLine("aws \"unclosed").status().message(), HasSubstr("double quote"));
  EXPECT_FALSE(SplitCommandLine("aws trailing\\").ok());
  EXPECT_FALSE(SplitCommandLine("   ").ok());
}

}  // namespace
}  // namespace carrierarr::aws
