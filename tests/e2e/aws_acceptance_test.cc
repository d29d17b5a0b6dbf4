// Acceptance: `carrierarr plan`, `up`, `status` and `down` for a lighthouse and one GPU worker on
// the EC2 endpoint named by CARRIERARR_AWS_ENDPOINT, with the credentials in the environment.
// After `up`, every resource must exist in the account (read back through the AWS APIs by the
// fleet's tag); after `down`, none. Without CARRIERARR_AWS_ENDPOINT the suite reports itself as
// not run (exit 77, CTest's "Not Run"), never as passed. How to run it against a real account:
// docs/providers/aws.md. CI runs it against carrierarr-fake-aws (aws_acceptance_fake.sh).
//
// Needs root: the fleet's homelab node and control plane run in a network namespace here.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/file_util.h"
#include "core/subprocess.h"
#include "providers/registry.h"
#include "spec/fleet_parser.h"
#include "testing/tools.h"

namespace carrierarr {
namespace {

using ::carrierarr::testing::CarrierarrBinary;
using ::carrierarr::testing::ScratchDir;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Json = nlohmann::json;

std::string Env(const char* name, const std::string& fallback = "") {
  const char* v = std::getenv(name);
  return v == nullptr || *v == '\0' ? fallback : v;
}

// Instance types are overridable so a small account can run it (the GPU type must be a G type
// for the quota check to be the one the issue names).
std::string FleetYaml(const std::string& name) {
  std::string material = Env("CARRIERARR_ACCEPTANCE_MATERIAL", "userdata");
  std::string y = "name: " + name +
                  "\n"
                  "mesh:\n"
                  "  cidr: 10.42.0.0/16\n"
                  "lighthouse:\n"
                  "  provider: aws\n"
                  "  size: " +
                  Env("CARRIERARR_ACCEPTANCE_LIGHTHOUSE_TYPE", "t3.small") +
                  "\n"
                  "homelab:\n"
                  "  mesh_ip: 10.42.1.1\n"
                  "pools:\n"
                  "  - name: gpu\n"
                  "    type: gpu-worker\n"
                  "    count: 1\n"
                  "    provider: aws\n"
                  "    instance_type: " +
                  Env("CARRIERARR_ACCEPTANCE_GPU_TYPE", "g4dn.xlarge") +
                  "\n"
                  "providers:\n"
                  "  local:\n"
                  "    underlay: 198.18.0.0/15\n"
                  "  aws:\n"
                  "    nebula_material: " +
                  material + "\n";
  if (material == "secretsmanager") {
    y += "    iam_instance_profile: " + Env("CARRIERARR_ACCEPTANCE_INSTANCE_PROFILE") + "\n";
  }
  return y;
}

RunResult Carrierarr(const std::string& dir, const std::vector<std::string>& args,
                     const std::vector<std::string>& env_prefix = {}) {
  std::vector<std::string> argv = env_prefix;
  argv.push_back(CarrierarrBinary());
  argv.insert(argv.end(), args.begin(), args.end());
  // Instances take minutes on real AWS: the bound is only against a hung run.
  auto r = Run(argv, {.timeout = std::chrono::minutes(20), .working_dir = dir});
  if (!r.ok()) {
    ADD_FAILURE() << "cannot run carrierarr: " << r.status().ToString();
    return {};
  }
  return *r;
}

std::string Describe(const RunResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\n--- stdout:\n" + r.out + "--- stderr:\n" +
         r.err;
}

// What the account holds under the fleet's tag, read with carrierarr's own AWS client.
std::vector<std::string> Tagged(const std::string& fleet_file) {
  auto spec = spec::LoadFleet(fleet_file, providers::FleetRules());
  if (!spec.ok()) {
    ADD_FAILURE() << spec.status().ToString();
    return {};
  }
  auto aws = providers::MakeProvider("aws", Seams::FromProcess());
  if (!aws.ok()) {
    ADD_FAILURE() << aws.status().ToString();
    return {};
  }
  auto left = (*aws)->Leftovers(*spec);
  if (!left.ok()) {
    ADD_FAILURE() << "reading the account back: " << left.status().ToString();
    return {};
  }
  return *left;
}

int CountStartingWith(const std::vector<std::string>& lines, const std::string& prefix) {
  int n = 0;
  for (const auto& l : lines) n += l.rfind(prefix, 0) == 0 ? 1 : 0;
  return n;
}

class AwsAcceptanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0) << "the acceptance suite needs root: the homelab node and the "
                                 "control plane run in a network namespace on this machine";
    ASSERT_TRUE(WriteFileAtomic(fleet_file_, FleetYaml(name_), 0600).ok());
  }
  void TearDown() override {
    if (up_ran_) {
      RunResult r = Carrierarr(dir_.path(), {"down", "--json"});
      if (r.exit_code != 0) std::cerr << "cleanup down: " << Describe(r);
    }
  }
  // Short and unique per run: several people (or CI jobs) may share an account.
  const std::string name_ = "acc" + std::to_string(::getpid() % 100000);
  ScratchDir dir_;
  const std::string fleet_file_ = dir_ / "fleet.yaml";
  bool up_ran_ = false;
};

TEST_F(AwsAcceptanceTest, PlanUpStatusDownLeaveNothingBehind) {
  // plan works offline: no credentials, no endpoint.
  RunResult plan = Carrierarr(
      dir_.path(), {"plan", "--json"},
      {"env", "-u", "AWS_ACCESS_KEY_ID", "-u", "AWS_SECRET_ACCESS_KEY", "-u", "AWS_SESSION_TOKEN",
       "-u", "AWS_PROFILE", "-u", "CARRIERARR_AWS_ENDPOINT", "AWS_EC2_METADATA_DISABLED=true",
       "AWS_SHARED_CREDENTIALS_FILE=/nonexistent", "AWS_CONFIG_FILE=/nonexistent"});
  ASSERT_EQ(plan.exit_code, 0) << Describe(plan);
  for (const char* id : {"aws-sg", "aws-key", "aws-quota/gpu", "instance/lighthouse",
                         "instance/gpu-1", "eip/lighthouse", "eip-association/lighthouse"}) {
    EXPECT_THAT(plan.out, HasSubstr(std::string("\"") + id + "\"")) << id;
  }

  up_ran_ = true;
  RunResult up = Carrierarr(dir_.path(), {"up", "--json"});
  ASSERT_EQ(up.exit_code, 0) << Describe(up);

  std::vector<std::string> made = Tagged(fleet_file_);
  EXPECT_EQ(CountStartingWith(made, "instance "), 2) << ::testing::PrintToString(made);
  EXPECT_EQ(CountStartingWith(made, "security group "), 1) << ::testing::PrintToString(made);
  EXPECT_EQ(CountStartingWith(made, "key pair "), 1) << ::testing::PrintToString(made);
  EXPECT_EQ(CountStartingWith(made, "Elastic IP "), 1) << ::testing::PrintToString(made);
  if (Env("CARRIERARR_ACCEPTANCE_MATERIAL") == "secretsmanager") {
    // One per AWS node.
    EXPECT_EQ(CountStartingWith(made, "secret "), 2) << ::testing::PrintToString(made);
  }

  // status reads the instances back (exit 1 is expected while agents have not registered).
  RunResult status = Carrierarr(dir_.path(), {"status", "--json"});
  Json s = Json::parse(status.out, nullptr, false);
  ASSERT_FALSE(s.is_discarded()) << Describe(status);
  int running = 0;
  for (const auto& n : s["nodes"]) {
    if (n.value("provider", "") != "aws") continue;
    EXPECT_THAT(n.value("detail", ""), HasSubstr("running")) << n.dump();
    EXPECT_FALSE(n.value("underlay_ip", "").empty()) << n.dump();
    running += n.value("running", false) ? 1 : 0;
  }
  EXPECT_EQ(running, 2) << status.out;

  RunResult down = Carrierarr(dir_.path(), {"down", "--json"});
  ASSERT_EQ(down.exit_code, 0) << Describe(down);
  up_ran_ = false;
  EXPECT_THAT(Tagged(fleet_file_), IsEmpty());
}

}  // namespace
}  // namespace carrierarr

int main(int argc, char** argv) {
  if (std::getenv("CARRIERARR_AWS_ENDPOINT") == nullptr) {
    std::cout << "aws_acceptance_test: NOT RUN: CARRIERARR_AWS_ENDPOINT is not set (see "
                 "docs/providers/aws.md for running it against an account)\n";
    return 77;  // CTest SKIP_RETURN_CODE: reported as "Not Run", never as passed
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
