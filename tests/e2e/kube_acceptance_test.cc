// Acceptance: `carrierarr plan`, `up`, `status` and `down` of a fleet whose homelab and
// lighthouse are the Kubernetes cluster named by CARRIERARR_KUBECONFIG (context
// CARRIERARR_KUBE_CONTEXT, image CARRIERARR_KUBE_IMAGE). After `down`, nothing carrierarr applied
// is left (read back with the provider's own sweep by label). Without CARRIERARR_KUBECONFIG the
// suite reports itself as not run (exit 77, CTest's "Not Run"), never as passed.
// docs/providers/kubernetes.md says how to run it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
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
using ::testing::IsEmpty;

std::string Env(const char* name, const std::string& fallback = "") {
  const char* v = std::getenv(name);
  return v == nullptr || *v == '\0' ? fallback : v;
}

std::string FleetYaml(const std::string& name) {
  std::string y =
      "name: " + name +
      "\n"
      "lighthouse:\n  provider: kubernetes\n"
      "homelab:\n  provider: kubernetes\n  kubeconfig: " +
      Env("CARRIERARR_KUBECONFIG") +
      "\n"
      "control_plane:\n  image: " +
      Env("CARRIERARR_KUBE_IMAGE", "localhost/carrierarr:dev") +
      "\n"
      "providers:\n  kubernetes:\n"
      "    nebula_namespace: " +
      name + "-nebula\n    control_plane_namespace: " + name + "-cp\n" +
      "    lighthouse_endpoint: " + Env("CARRIERARR_KUBE_LIGHTHOUSE_ENDPOINT", "127.0.0.1:4242") +
      "\n";
  if (!Env("CARRIERARR_KUBE_CONTEXT").empty())
    y += "    context: " + Env("CARRIERARR_KUBE_CONTEXT") + "\n";
  return y;
}

RunResult Carrierarr(const std::string& dir, const std::vector<std::string>& args) {
  std::vector<std::string> argv{CarrierarrBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  // Image pulls take minutes on a real cluster: the bound is only against a hung run.
  auto r = Run(argv, {.timeout = std::chrono::minutes(15), .working_dir = dir});
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

// What the cluster still holds with the fleet's labels.
std::vector<std::string> Labelled(const std::string& fleet_file) {
  auto spec = spec::LoadFleet(fleet_file, providers::FleetRules());
  if (!spec.ok()) {
    ADD_FAILURE() << spec.status().ToString();
    return {};
  }
  auto kube = providers::MakeProvider(spec->homelab.provider, Seams::FromProcess());
  if (!kube.ok()) {
    ADD_FAILURE() << kube.status().ToString();
    return {};
  }
  auto left = (*kube)->Leftovers(*spec);
  if (!left.ok()) {
    ADD_FAILURE() << "reading the cluster back: " << left.status().ToString();
    return {};
  }
  return *left;
}

class KubeAcceptanceTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(WriteFileAtomic(fleet_file_, FleetYaml(name_), 0600).ok()); }
  void TearDown() override {
    if (up_ran_) {
      RunResult r = Carrierarr(dir_.path(), {"down", "--json"});
      if (r.exit_code != 0) std::cerr << "cleanup down: " << Describe(r);
    }
  }
  // Short and unique per run: its namespaces are named after it.
  const std::string name_ = "kacc" + std::to_string(::getpid() % 10000);
  ScratchDir dir_;
  const std::string fleet_file_ = dir_ / "fleet.yaml";
  bool up_ran_ = false;
};

TEST_F(KubeAcceptanceTest, UpStatusDownLeaveNothingBehind) {
  RunResult plan = Carrierarr(dir_.path(), {"plan", "--json"});
  ASSERT_EQ(plan.exit_code, 0) << Describe(plan);
  up_ran_ = true;
  RunResult up = Carrierarr(dir_.path(), {"up", "--json"});
  ASSERT_EQ(up.exit_code, 0) << Describe(up);
  EXPECT_TRUE(PathExists(dir_ / ".carrierarr/control/server"));
  RunResult again = Carrierarr(dir_.path(), {"plan", "--json"});
  ASSERT_EQ(again.exit_code, 0) << Describe(again);
  RunResult status = Carrierarr(dir_.path(), {"status", "--json"});
  EXPECT_EQ(status.exit_code, 0) << Describe(status);
  RunResult down = Carrierarr(dir_.path(), {"down", "--json"});
  ASSERT_EQ(down.exit_code, 0) << Describe(down);
  up_ran_ = false;
  EXPECT_THAT(Labelled(fleet_file_), IsEmpty());
}

}  // namespace
}  // namespace carrierarr

int main(int argc, char** argv) {
  if (std::getenv("CARRIERARR_KUBECONFIG") == nullptr) {
    std::cout << "kube_acceptance_test: NOT RUN: CARRIERARR_KUBECONFIG is not set (see "
                 "docs/providers/kubernetes.md for running it against a cluster)\n";
    return 77;  // CTest SKIP_RETURN_CODE: reported as "Not Run", never as passed
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
