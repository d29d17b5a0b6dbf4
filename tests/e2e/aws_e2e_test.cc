// End to end for the AWS provider: the real `carrierarr` binary (libcurl, SigV4, retries, the
// credential chain) runs plan, up, status and down against FakeAws, a stateful double of EC2,
// Secrets Manager and Service Quotas on loopback that checks every signature. The tests check
// what an operator and a security reviewer would: every resource exists with safe settings,
// a second `up` launches nothing, a killed `up` is finished without a second instance, a zero
// GPU quota stops the plan with its code, throttling is retried, bad credentials change nothing,
// and `down` leaves nothing tagged with the fleet.
//
// Needs root and nebula: the homelab node and the control plane run in a network namespace here,
// as in every fleet (fails, never skips, without them). Network rule: AWS traffic goes only to
// 127.0.0.1; the instances' addresses are documentation ranges the fake hands out and nothing
// sends to. Fleets are named "a<pid><tag>"; TearDown runs `carrierarr down`.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "burst/controller.h"
#include "control_plane/store.h"
#include "core/file_util.h"
#include "core/subprocess.h"
#include "core/time_source.h"
#include "providers/registry.h"
#include "spec/fleet_parser.h"
#include "testing/fake_aws.h"
#include "testing/process.h"
#include "testing/tools.h"

namespace carrierarr {
namespace {

using ::carrierarr::testing::CarrierarrBinary;
using ::carrierarr::testing::FakeAws;
using ::carrierarr::testing::ModeOf;
using ::carrierarr::testing::ScratchDir;
using ::carrierarr::testing::StreamingProcess;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using Json = nlohmann::json;

int Count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

int CountStartingWith(const std::vector<std::string>& lines, const std::string& prefix) {
  int n = 0;
  for (const auto& l : lines) n += l.rfind(prefix, 0) == 0 ? 1 : 0;
  return n;
}

std::string Describe(const RunResult& r) {
  return "exit " + std::to_string(r.exit_code) + (r.timed_out ? " (timed out)" : "") +
         "\n--- stdout:\n" + r.out + "--- stderr:\n" + r.err;
}

class AwsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0) << "needs root: the homelab node runs in a network namespace";
    testing::RequireProgram("nebula", "nebula");
  }
  void TearDown() override {
    if (fake_ && ::access((dir_ / ".carrierarr/state.json").c_str(), F_OK) == 0) {
      RunResult r = Carrierarr({"down", "--json"});
      if (r.exit_code != 0) ADD_FAILURE() << "cleanup: " << Describe(r);
    }
  }

  void StartFake(FakeAws::Options options = {}) {
    auto fake = FakeAws::Start(options);
    ASSERT_TRUE(fake.ok()) << fake.status().ToString();
    fake_ = std::move(*fake);
  }

  // A lighthouse and one GPU worker on AWS; the homelab node local.
  void WriteFleet(const std::string& extra_aws = "") {
    std::string y = "name: " + name_ +
                    "\n"
                    "lighthouse:\n"
                    "  provider: aws\n"
                    "  size: t3.small\n"
                    "pools:\n"
                    "  - name: gpu\n"
                    "    type: gpu-worker\n"
                    "    count: 1\n"
                    "    provider: aws\n"
                    "    instance_type: g4dn.xlarge\n"
                    "providers:\n"
                    "  local:\n"
                    "    underlay: 198.18.0.0/15\n"
                    "  aws:\n"
                    "    region: us-east-1\n"
                    "    operator_cidrs: [203.0.113.7/32]\n" +
                    extra_aws;
    ASSERT_TRUE(WriteFileAtomic(dir_ / "fleet.yaml", y, 0600).ok());
  }

  // The environment of every run: the fake's endpoint and keys, nothing from this machine's
  // AWS configuration, no instance metadata.
  std::vector<std::string> Env() const {
    return {"/usr/bin/env",
            "-u",
            "AWS_PROFILE",
            "-u",
            "AWS_SESSION_TOKEN",
            "-u",
            "AWS_REGION",
            "-u",
            "AWS_DEFAULT_REGION",
            "CARRIERARR_AWS_ENDPOINT=" + (fake_ ? fake_->endpoint() : std::string()),
            "AWS_ACCESS_KEY_ID=AKIDCARRIERARRTEST",
            "AWS_SECRET_ACCESS_KEY=" + secret_,
            "AWS_EC2_METADATA_DISABLED=true",
            "AWS_SHARED_CREDENTIALS_FILE=/nonexistent",
            "AWS_CONFIG_FILE=/nonexistent",
            "CARRIERARR_AWS_POLL_MS=20"};
  }

  RunResult Carrierarr(const std::vector<std::string>& args) {
    std::vector<std::string> argv = Env();
    argv.push_back(CarrierarrBinary());
    argv.insert(argv.end(), args.begin(), args.end());
    auto r =
        ::carrierarr::Run(argv, {.timeout = std::chrono::seconds(120), .working_dir = dir_.path()});
    if (!r.ok()) {
      ADD_FAILURE() << r.status().ToString();
      return {};
    }
    return *r;
  }

  std::vector<std::string> Live() const { return fake_->Live(name_); }

  static int NextFleet() {
    static int n = 0;
    return n++;
  }
  // Distinct per process and per test, so parallel runs never share a namespace or a tag.
  const std::string name_ =
      "a" + std::to_string(::getpid() % 100000) + "-" + std::to_string(NextFleet());
  std::string secret_ = "carrierarr-test-secret";
  ScratchDir dir_;
  std::unique_ptr<FakeAws> fake_;
};

TEST_F(AwsE2eTest, PlanNeedsNoCredentialsAndMakesNoCall) {
  StartFake();
  WriteFleet();
  secret_ = "wrong";  // any call would be refused; none is made
  RunResult plan = Carrierarr({"plan"});
  ASSERT_EQ(plan.exit_code, 0) << Describe(plan);
  for (const char* line : {"+ aws-sg", "+ aws-key", "+ aws-image/x86_64", "+ aws-quota/gpu",
                           "+ instance/lighthouse", "+ instance/gpu-1", "+ eip/lighthouse"}) {
    EXPECT_THAT(plan.out, HasSubstr(line));
  }
  EXPECT_EQ(fake_->calls(), 0);
}

TEST_F(AwsE2eTest, UpMakesEverythingSafelyAndDownRemovesIt) {
  StartFake({.latency = std::chrono::milliseconds(20)});
  WriteFleet();
  RunResult up = Carrierarr({"up"});
  ASSERT_EQ(up.exit_code, 0) << Describe(up);
  EXPECT_THAT(up.out, HasSubstr("2 cloud nodes run"));

  std::vector<std::string> live = Live();
  EXPECT_EQ(CountStartingWith(live, "instance "), 2) << ::testing::PrintToString(live);
  EXPECT_EQ(CountStartingWith(live, "security-group "), 1);
  EXPECT_EQ(CountStartingWith(live, "key-pair "), 1);
  EXPECT_EQ(CountStartingWith(live, "address "), 1);
  // Independent resources were made at once.
  EXPECT_GT(fake_->max_in_flight(), 1);

  // Every instance: IMDSv2, encrypted root volume, tags, its certificates in its userdata.
  auto instances = fake_->Instances(name_);
  ASSERT_THAT(instances, SizeIs(2));
  for (const auto& i : instances) {
    SCOPED_TRACE(i.id);
    EXPECT_EQ(i.http_tokens, "required");
    EXPECT_EQ(i.http_put_response_hop_limit, 1) << "a pod (one hop further) must not reach IMDS";
    EXPECT_TRUE(i.root_encrypted);
    EXPECT_EQ(i.TagValue("carrierarr:fleet"), name_);
    EXPECT_THAT(i.user_data, HasSubstr("#cloud-config"));
    EXPECT_EQ(Count(i.user_data, "BEGIN NEBULA"), 3) << "CA, host certificate, host key";
    EXPECT_THAT(i.user_data, HasSubstr("198.51.100."));  // the lighthouse's Elastic IP
    EXPECT_FALSE(i.client_token.empty());
  }
  // The Elastic IP sits on the lighthouse.
  bool associated = false;
  for (const auto& i : instances)
    associated = associated || (i.TagValue("carrierarr:resource") == "instance/lighthouse" &&
                                i.public_ip.rfind("198.51.100.", 0) == 0);
  EXPECT_TRUE(associated);
  // Only Nebula is open to the world.
  for (const auto& rule : fake_->IngressRules(name_)) {
    if (rule.cidr == "0.0.0.0/0") {
      EXPECT_EQ(rule.protocol, "udp");
      EXPECT_EQ(rule.from_port, 4242);
    }
  }
  const std::string pem = dir_ / (".carrierarr/aws/carrierarr-" + name_ + ".pem");
  EXPECT_EQ(ModeOf(pem), 0600u);

  // A second up changes nothing and launches nothing.
  const int launches = fake_->CallsByAction()["RunInstances"];
  RunResult again = Carrierarr({"up"});
  ASSERT_EQ(again.exit_code, 0) << Describe(again);
  EXPECT_THAT(again.out, HasSubstr("No changes"));
  EXPECT_EQ(fake_->CallsByAction()["RunInstances"], launches);

  // status reads the instances back.
  RunResult status = Carrierarr({"status", "--json"});
  Json s = Json::parse(status.out, nullptr, false);
  ASSERT_FALSE(s.is_discarded()) << Describe(status);
  int running = 0;
  for (const auto& n : s["nodes"]) {
    if (n.value("provider", "") != "aws") continue;
    running += n.value("running", false) ? 1 : 0;
    EXPECT_THAT(n.value("detail", ""), HasSubstr("running"));
  }
  EXPECT_EQ(running, 2) << status.out;

  RunResult down = Carrierarr({"down"});
  ASSERT_EQ(down.exit_code, 0) << Describe(down);
  EXPECT_THAT(Live(), IsEmpty());
  EXPECT_NE(::access((dir_ / ".carrierarr").c_str(), F_OK), 0) << "the state directory stays";
}

TEST_F(AwsE2eTest, SecretsManagerKeepsCertificatesOutOfUserdata) {
  StartFake();
  WriteFleet("    nebula_material: secretsmanager\n    iam_instance_profile: carrierarr-node\n");
  RunResult up = Carrierarr({"up"});
  ASSERT_EQ(up.exit_code, 0) << Describe(up);
  EXPECT_EQ(CountStartingWith(Live(), "secret "), 2);
  for (const auto& i : fake_->Instances(name_)) {
    EXPECT_EQ(Count(i.user_data, "BEGIN NEBULA"), 0) << i.id;
    EXPECT_THAT(i.user_data, HasSubstr("secretsmanager"));
    EXPECT_EQ(i.iam_instance_profile, "carrierarr-node");
    // The node's secret opens to this instance alone.
    const std::string secret = "carrierarr/" + name_ + "/" + i.TagValue("carrierarr:node");
    EXPECT_THAT(fake_->SecretPolicy(secret), HasSubstr("\"ArnNotEquals\""));
    EXPECT_THAT(fake_->SecretPolicy(secret), HasSubstr(":instance/" + i.id + "\""));
  }
  RunResult down = Carrierarr({"down"});
  ASSERT_EQ(down.exit_code, 0) << Describe(down);
  EXPECT_THAT(Live(), IsEmpty());
}

TEST_F(AwsE2eTest, AZeroGpuQuotaStopsBeforeTheGpuLaunch) {
  StartFake({.quotas = {{"L-DB2E81BA", 0}}});
  WriteFleet();
  RunResult up = Carrierarr({"up"});
  ASSERT_EQ(up.exit_code, 1) << Describe(up);
  EXPECT_THAT(up.err, HasSubstr("L-DB2E81BA"));
  EXPECT_THAT(up.err, HasSubstr("request-service-quota-increase"));
  for (const auto& i : fake_->Instances(name_))
    EXPECT_NE(i.TagValue("carrierarr:resource"), "instance/gpu-1");
  RunResult down = Carrierarr({"down"});
  ASSERT_EQ(down.exit_code, 0) << Describe(down);
  EXPECT_THAT(Live(), IsEmpty());
}

TEST_F(AwsE2eTest, ThrottlingIsRetriedAndBadCredentialsChangeNothing) {
  StartFake();
  WriteFleet();
  secret_ = "wrong";
  RunResult refused = Carrierarr({"up"});
  EXPECT_EQ(refused.exit_code, 1) << Describe(refused);
  EXPECT_THAT(refused.err, HasSubstr("AuthFailure"));
  EXPECT_THAT(Live(), IsEmpty());

  secret_ = "carrierarr-test-secret";
  fake_->FailNext("RunInstances", 503, "RequestLimitExceeded", "Request limit exceeded.", 2);
  RunResult up = Carrierarr({"up"});
  ASSERT_EQ(up.exit_code, 0) << Describe(up);
  EXPECT_EQ(CountStartingWith(Live(), "instance "), 2);
}

// SIGKILL `up` while the instances launch; the next `up` adopts what was launched (found by its
// tag) instead of launching it again, and `down` removes everything.
TEST_F(AwsE2eTest, AKilledUpIsFinishedWithoutASecondInstance) {
  StartFake({.latency = std::chrono::milliseconds(100), .pending_describes = 3});
  WriteFleet();
  StreamingProcess p;
  std::vector<std::string> argv = Env();
  argv.push_back(CarrierarrBinary());
  argv.insert(argv.end(), {"up", "--json"});
  ASSERT_TRUE(p.Start(argv, dir_.path()).ok());
  bool killed = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!killed && std::chrono::steady_clock::now() < deadline) {
    auto line = p.ReadLine(std::chrono::seconds(5));
    if (!line) break;
    if (line->find("\"started\"") != std::string::npos &&
        line->find("instance/gpu-1") != std::string::npos) {
      // Inside the launch: after RunInstances went out, while the instance is pending.
      for (int i = 0; i < 100 && fake_->CallsByAction()["RunInstances"] < 2; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      killed = p.Signal(SIGKILL);
    }
  }
  ASSERT_TRUE(killed) << "never saw instance/gpu-1 start; stderr:\n" << p.err();
  p.Wait(std::chrono::seconds(10));
  const int launches = fake_->CallsByAction()["RunInstances"];
  EXPECT_GE(launches, 1);

  RunResult up = Carrierarr({"up"});
  ASSERT_EQ(up.exit_code, 0) << Describe(up);
  EXPECT_EQ(CountStartingWith(Live(), "instance "), 2) << ::testing::PrintToString(Live());
  RunResult down = Carrierarr({"down"});
  ASSERT_EQ(down.exit_code, 0) << Describe(down);
  EXPECT_THAT(Live(), IsEmpty());
}

// A scaled GPU pool at zero: `up` launches only the lighthouse; the burst controller's hands
// (`carrierarr power`) launch the worker, stop it keeping its instance and volumes, and start
// the same instance again; a spot pool's worker is terminated instead (one-time spot requests
// cannot stop).
TEST_F(AwsE2eTest, AScaledPoolsWorkerIsLaunchedStoppedAndStartedAgain) {
  StartFake();
  WriteFleet();
  auto yaml = ReadFile(dir_ / "fleet.yaml");
  ASSERT_TRUE(yaml.ok());
  std::string y = *yaml;
  y.replace(y.find("    count: 1\n"), 13, "    scaling: {min: 0, max: 1}\n");
  ASSERT_TRUE(WriteFileAtomic(dir_ / "fleet.yaml", y, 0600).ok());
  RunResult up = Carrierarr({"up"});
  ASSERT_EQ(up.exit_code, 0) << Describe(up);
  ASSERT_THAT(fake_->Instances(name_), SizeIs(1)) << "the lighthouse only";
  auto worker = [&]() -> std::optional<FakeAws::Instance> {
    for (const auto& i : fake_->Instances(name_))
      if (i.TagValue("carrierarr:resource") == "instance/gpu-1" && i.state != "terminated")
        return i;
    return std::nullopt;
  };

  RunResult on = Carrierarr({"power", "--node", "gpu-1", "--set", "on"});
  ASSERT_EQ(on.exit_code, 0) << Describe(on);
  EXPECT_EQ(on.out, "gpu-1: on\n");
  ASSERT_TRUE(worker());
  const std::string id = worker()->id;
  EXPECT_EQ(worker()->state, "running");
  EXPECT_EQ(fake_->CallsByAction()["RunInstances"], 2);

  RunResult off = Carrierarr({"power", "--node", "gpu-1", "--set", "off"});
  ASSERT_EQ(off.exit_code, 0) << Describe(off);
  EXPECT_EQ(off.out, "gpu-1: off\n");
  ASSERT_TRUE(worker());
  EXPECT_EQ(worker()->id, id) << "stopped, not terminated: its volumes stay";
  EXPECT_EQ(worker()->state, "stopped");
  // `up` leaves it stopped.
  RunResult again = Carrierarr({"up"});
  ASSERT_EQ(again.exit_code, 0) << Describe(again);
  EXPECT_EQ(worker()->state, "stopped");

  ASSERT_EQ(Carrierarr({"power", "--node", "gpu-1", "--set", "on"}).exit_code, 0);
  ASSERT_TRUE(worker());
  EXPECT_EQ(worker()->id, id) << "the same instance, started again";
  EXPECT_EQ(worker()->state, "running");
  EXPECT_EQ(worker()->starts, 1);
  EXPECT_EQ(fake_->CallsByAction()["RunInstances"], 2) << "nothing launched anew";
  // Starting what runs starts nothing.
  ASSERT_EQ(Carrierarr({"power", "--node", "gpu-1", "--set", "on"}).exit_code, 0);
  EXPECT_EQ(worker()->starts, 1);

  // Spot: powered off by terminating.
  y.replace(y.find("    provider: aws\n    instance_type"), 0, "    spot: true\n");
  ASSERT_TRUE(WriteFileAtomic(dir_ / "fleet.yaml", y, 0600).ok());
  ASSERT_EQ(Carrierarr({"up"}).exit_code, 0);  // replaces the worker by a spot one
  ASSERT_EQ(Carrierarr({"power", "--node", "gpu-1", "--set", "on"}).exit_code, 0);
  ASSERT_TRUE(worker());
  EXPECT_TRUE(worker()->spot);
  RunResult spot_off = Carrierarr({"power", "--node", "gpu-1", "--set", "off"});
  ASSERT_EQ(spot_off.exit_code, 0) << Describe(spot_off);
  EXPECT_FALSE(worker()) << "terminated";

  RunResult down = Carrierarr({"down"});
  ASSERT_EQ(down.exit_code, 0) << Describe(down);
  EXPECT_THAT(Live(), IsEmpty());
}

// The burst controller itself (the control plane's, with `carrierarr power` as its hands)
// against FakeAws, on a simulated clock for the spend: an on-demand GPU pool with models wakes
// by RunInstances with its models volume and Ollama's first boot, is stopped when idle keeping
// the instance and both volumes, wakes again by StartInstances of the same instance, and is
// stopped when it runs past its daily budget, after which a wake is refused with the figures.
// A spot pool whose zone has no spot capacity falls back to on-demand and is terminated when put
// to sleep (a spot pool's nodes never stop).
TEST_F(AwsE2eTest, TheBurstControllerWakesStopsAndFallsBackOnFakeAws) {
  StartFake({.spot_capacity = false});
  const std::string y = "name: " + name_ +
                        "\n"
                        "lighthouse: {provider: aws, size: t3.small}\n"
                        "pools:\n"
                        "  - name: gpu\n"
                        "    type: gpu-worker\n"
                        "    provider: aws\n"
                        "    instance_type: g4dn.xlarge\n"
                        "    scaling: {min: 0, max: 1, idle_after: 10m}\n"
                        "    budget: {usd_per_day: 1}\n"
                        "    models: [llama3:8b]\n"
                        "    models_volume_gb: 80\n"
                        "  - name: burst\n"
                        "    type: gpu-worker\n"
                        "    provider: aws\n"
                        "    instance_type: g4dn.xlarge\n"
                        "    spot: true\n"
                        "    on_demand_fallback: true\n"
                        "    scaling: {min: 0, max: 1}\n"
                        "providers:\n"
                        "  local: {underlay: 198.18.0.0/15}\n"
                        "  aws: {region: us-east-1, operator_cidrs: [203.0.113.7/32]}\n";
  ASSERT_TRUE(WriteFileAtomic(dir_ / "fleet.yaml", y, 0600).ok());
  RunResult up = Carrierarr({"up"});
  ASSERT_EQ(up.exit_code, 0) << Describe(up);
  ASSERT_THAT(fake_->Instances(name_), SizeIs(1)) << "the lighthouse only";

  // `carrierarr power` with this test's AWS environment (argv words, each single-quoted).
  std::string script = "#!/bin/sh\nexec";
  std::vector<std::string> words = Env();
  words.push_back(CarrierarrBinary());
  for (const auto& w : words) script += " '" + w + "'";
  ASSERT_TRUE(WriteFileAtomic(dir_ / "power.sh", script + " \"$@\"\n", 0700).ok());
  auto fleet = spec::LoadFleet((dir_ / "fleet.yaml"), providers::FleetRules());
  ASSERT_TRUE(fleet.ok()) << fleet.status().ToString();
  auto store = control_plane::OpenStore((dir_ / "burst.db"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto power = burst::MakeCommandNodePower((dir_ / "power.sh"), (dir_ / "fleet.yaml"));
  SimulatedTimeSource time{1'796'637'600'000};  // 2026-12-07 10:00 UTC
  auto controller = burst::Controller::Start({.fleet = *fleet,
                                              .store = store->get(),
                                              .power = power.get(),
                                              .time = &time,
                                              .owner = "cp-test",
                                              .background_thread = false});
  ASSERT_TRUE(controller.ok()) << controller.status().ToString();
  burst::Controller& c = **controller;
  auto carry_out = [&](int64_t id) {
    c.RunPending();
    auto done = c.WaitAction(id, std::chrono::seconds(1));
    EXPECT_TRUE(done.ok()) << done.status().ToString();
    if (done.ok()) {
      EXPECT_EQ(done->state, "done") << done->detail;
    }
  };
  auto worker = [&](const std::string& node) -> std::optional<FakeAws::Instance> {
    for (const auto& i : fake_->Instances(name_))
      if (i.TagValue("carrierarr:resource") == "instance/" + node && i.state != "terminated")
        return i;
    return std::nullopt;
  };

  // Woken: launched with its models volume and Ollama's first boot.
  auto wake = c.Wake("gpu", "test");
  ASSERT_TRUE(wake.ok()) << wake.status().ToString();
  carry_out(wake->action_id);
  ASSERT_TRUE(worker("gpu-1"));
  const std::string id = worker("gpu-1")->id;
  EXPECT_EQ(worker("gpu-1")->state, "running");
  ASSERT_THAT(worker("gpu-1")->volumes, SizeIs(2));
  const FakeAws::Volume models = worker("gpu-1")->volumes[1];
  EXPECT_EQ(models.device, "/dev/sdf");
  EXPECT_EQ(models.size_gb, 80);
  EXPECT_EQ(models.type, "gp3");
  EXPECT_TRUE(models.encrypted);
  const std::string userdata = worker("gpu-1")->user_data;  // a copy: worker() is a temporary
  EXPECT_THAT(userdata, HasSubstr("Environment=OLLAMA_HOST=10.42."));
  EXPECT_THAT(userdata, HasSubstr("readonly OLLAMA_VERSION='0.13.3'"));
  EXPECT_THAT(userdata, HasSubstr("\"llama3:8b\""));
  const int launches = fake_->CallsByAction()["RunInstances"];

  // Idle for 10 minutes: stopped, the instance and its volumes kept.
  time.Advance(std::chrono::minutes(11));
  c.Tick();
  auto view = c.Pools();
  ASSERT_TRUE(view.ok());
  ASSERT_FALSE(view->front().pending.empty()) << "an idle stop decided";
  EXPECT_THAT(view->front().pending.front().reason, HasSubstr("idle"));
  carry_out(view->front().pending.front().id);
  ASSERT_TRUE(worker("gpu-1"));
  EXPECT_EQ(worker("gpu-1")->id, id);
  EXPECT_EQ(worker("gpu-1")->state, "stopped");
  EXPECT_THAT(worker("gpu-1")->volumes, SizeIs(2));

  // Woken again: the same instance started, nothing launched.
  time.Advance(std::chrono::minutes(5));
  c.Tick();  // renews the pool's lease, which the clock's jump let lapse
  wake = c.Wake("gpu", "test");
  ASSERT_TRUE(wake.ok()) << wake.status().ToString();
  carry_out(wake->action_id);
  EXPECT_EQ(worker("gpu-1")->id, id);
  EXPECT_EQ(worker("gpu-1")->state, "running");
  EXPECT_EQ(worker("gpu-1")->starts, 1);
  EXPECT_EQ(fake_->CallsByAction()["RunInstances"], launches);

  // Busy for two hours at $0.526/h: past the $1 a day, so stopped, and no wake allowed today.
  time.Advance(std::chrono::hours(2));
  c.Touch("gpu");
  c.Tick();
  view = c.Pools();
  ASSERT_TRUE(view.ok());
  ASSERT_FALSE(view->front().pending.empty()) << "a budget stop decided";
  EXPECT_THAT(view->front().pending.front().reason, HasSubstr("budget"));
  carry_out(view->front().pending.front().id);
  EXPECT_EQ(worker("gpu-1")->state, "stopped");
  auto refused = c.Wake("gpu", "test");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.status().message(), HasSubstr("$1.00"));

  // The spot pool: spot refused for capacity, launched on-demand; put to sleep, terminated.
  const int before = fake_->CallsByAction()["RunInstances"];
  wake = c.Wake("burst", "test");
  ASSERT_TRUE(wake.ok()) << wake.status().ToString();
  carry_out(wake->action_id);
  ASSERT_TRUE(worker("burst-1"));
  EXPECT_FALSE(worker("burst-1")->spot) << "on-demand, after the spot launch was refused";
  EXPECT_EQ(fake_->CallsByAction()["RunInstances"], before + 2) << "spot once, then on-demand";
  auto slept = c.Sleep("burst", "test");
  ASSERT_TRUE(slept.ok()) << slept.status().ToString();
  ASSERT_THAT(*slept, SizeIs(1));
  carry_out(slept->front().action_id);
  EXPECT_FALSE(worker("burst-1")) << "terminated: a spot pool's nodes are not kept";
  controller->reset();
}

}  // namespace
}  // namespace carrierarr
