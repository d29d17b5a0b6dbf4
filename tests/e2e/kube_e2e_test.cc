// End to end for the kubernetes provider: the built `carrierarr` binary, run as an operator runs
// it (argv, its own environment, the fleet directory as working directory), against FakeKube
// (testing/fake_kube.h), a stateful Kubernetes API server on loopback HTTPS that checks the client
// certificate, field manager and RBAC. The fake runs in this test process, as FakeAws does in
// aws_e2e_test, so the test can hold rollouts, deny verbs and read the request log while the
// binary runs. The tests check: `plan` then `up` applies every object with the fleet's labels and
// waits for the rollouts (held not ready until the test marks them), a rerun changes nothing and
// writes nothing, `down` leaves nothing; a SIGKILLed `up` is finished by the next without applying
// anything twice; RBAC denials name the verb, resource and namespace and the fix; an `up` right
// after `down` waits for the namespaces still Terminating.
//
// The fleet: homelab and lighthouse in the cluster, no pools. fleet.yaml allows that and its cloud
// side is then empty: no network namespace, no AWS, so no root and no nebula binary (the provider
// test kubernetes_provider_test covers the same provider in process; this is its CLI run).
// No kubectl. Network rule: loopback only (the fake's nodes' addresses are never dialled).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/file_util.h"
#include "core/ipv4.h"
#include "core/subprocess.h"
#include "pki/cert.h"
#include "pki/pem.h"
#include "testing/fake_aws.h"
#include "testing/fake_kube.h"
#include "testing/process.h"
#include "testing/tools.h"

namespace carrierarr {
namespace {

using ::carrierarr::testing::CarrierarrBinary;
using ::carrierarr::testing::FakeAws;
using ::carrierarr::testing::FakeKube;
using ::carrierarr::testing::ModeOf;
using ::carrierarr::testing::ScratchDir;
using ::carrierarr::testing::StreamingProcess;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using Json = nlohmann::json;

constexpr char kManagedBy[] = "app.kubernetes.io/managed-by";
constexpr char kFleet[] = "carrierarr.io/fleet";

std::string Describe(const RunResult& r) {
  return "exit " + std::to_string(r.exit_code) + (r.timed_out ? " (timed out)" : "") +
         "\n--- stdout:\n" + r.out + "--- stderr:\n" + r.err;
}

// "Kind ns/name" (cluster-scoped: "Kind name").
std::string KeyOf(const Json& o) {
  const std::string ns = o["metadata"].value("namespace", "");
  return o.value("kind", "") + " " + (ns.empty() ? "" : ns + "/") + o["metadata"].value("name", "");
}

// What a user reading the docs expects `up` to apply (docs/providers/kubernetes.md).
const std::set<std::string>& ExpectedObjects() {
  static const std::set<std::string> kObjects{
      "Namespace nebula-system",
      "Secret nebula-system/nebula-certs",
      "ConfigMap nebula-system/nebula-config",
      "ServiceAccount nebula-system/nebula",
      "DaemonSet nebula-system/nebula",
      "Secret nebula-system/nebula-lighthouse",
      "ConfigMap nebula-system/nebula-lighthouse",
      "Deployment nebula-system/nebula-lighthouse",
      "Namespace carrierarr",
      "Secret carrierarr/carrierarr-control-plane",
      "PersistentVolumeClaim carrierarr/carrierarr-control-plane",
      "Deployment carrierarr/carrierarr-control-plane",
      "Service carrierarr/carrierarr-control-plane",
  };
  return kObjects;
}

std::string Decoded(const Json& data, const std::string& key) {
  if (!data.is_object() || !data.contains(key)) return "";
  return pki::Base64Decode(data[key].get<std::string>()).value_or("");
}

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// An instance's cloud-config read as cloud-init reads it: write_files' contents by path.
std::map<std::string, std::string> UserdataFiles(const std::string& userdata) {
  std::map<std::string, std::string> out;
  EXPECT_EQ(userdata.rfind("#cloud-config\n", 0), 0u) << userdata;
  YAML::Node doc = YAML::Load(userdata.substr(userdata.find('\n') + 1));
  for (const auto& f : doc["write_files"])
    out[f["path"].as<std::string>()] = f["content"].as<std::string>();
  return out;
}

// The Nebula certificate of a PEM text; a failure (and an empty one) when it is none.
pki::Certificate CertOf(const std::string& pem, const std::string& what) {
  auto cert = pki::CertificateFromPem(pem);
  if (!cert.ok()) {
    ADD_FAILURE() << what << ": " << cert.status().ToString();
    return {};
  }
  return *cert;
}

class KubeE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kube_.AddNode("node-a", {}, "192.168.1.10");
    kube_.AddNode("node-b", {}, "192.168.1.11");
    kube_.WriteKubeconfig(dir_ / "kubeconfig");
    const std::string yaml = "name: " + name_ +
                             "\n"
                             "lighthouse:\n  provider: kubernetes\n"
                             "homelab:\n  provider: kubernetes\n  kubeconfig: " +
                             (dir_ / "kubeconfig") +
                             "\n"
                             "control_plane:\n  image: registry.lan/carrierarr:0.1\n"
                             "providers:\n  kubernetes:\n    context: fake\n"
                             "    lighthouse_endpoint: 192.168.1.10:4242\n";
    ASSERT_TRUE(WriteFileAtomic(dir_ / "fleet.yaml", yaml, 0600).ok());
  }
  void TearDown() override {
    if (PathExists(dir_ / ".carrierarr/state.json")) {
      kube_.set_rollouts_ready(true);
      RunResult r = Carrierarr({"down"});
      if (r.exit_code != 0) ADD_FAILURE() << "cleanup: " << Describe(r);
    }
  }

  // Nothing of this machine's Kubernetes or AWS configuration reaches the binary; with FakeAws
  // started, its endpoint and keys do (as in aws_e2e_test), and no instance metadata.
  std::vector<std::string> Argv(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{"/usr/bin/env",       "-u",
                                  "KUBECONFIG",         "-u",
                                  "AWS_PROFILE",        "-u",
                                  "AWS_SESSION_TOKEN",  "-u",
                                  "AWS_REGION",         "-u",
                                  "AWS_DEFAULT_REGION", "-u",
                                  "CARRIERARR_SERVER",  "HOME=" + dir_.path()};
    if (aws_) {
      argv.insert(
          argv.end(),
          {"CARRIERARR_AWS_ENDPOINT=" + aws_->endpoint(), "AWS_ACCESS_KEY_ID=AKIDCARRIERARRTEST",
           "AWS_SECRET_ACCESS_KEY=carrierarr-test-secret", "AWS_EC2_METADATA_DISABLED=true",
           "AWS_SHARED_CREDENTIALS_FILE=/nonexistent", "AWS_CONFIG_FILE=/nonexistent",
           "CARRIERARR_AWS_POLL_MS=20"});
    }
    argv.push_back(CarrierarrBinary());
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  RunResult Carrierarr(const std::vector<std::string>& args) {
    auto r = ::carrierarr::Run(Argv(args),
                               {.timeout = std::chrono::seconds(120), .working_dir = dir_.path()});
    if (!r.ok()) {
      ADD_FAILURE() << r.status().ToString();
      return {};
    }
    return *r;
  }

  // Starts `up` with rollouts held and reads its stdout lines until stderr shows `waiting` (a
  // rollout's progress). False (with the output in a failure) when it never does.
  bool StartUpAndWaitFor(StreamingProcess& p, const std::vector<std::string>& args,
                         const std::string& waiting, std::vector<std::string>& lines) {
    kube_.set_rollouts_ready(false);
    std::vector<std::string> up{"up"};
    up.insert(up.end(), args.begin(), args.end());
    if (Status s = p.Start(Argv(up), dir_.path()); !s.ok()) {
      ADD_FAILURE() << s.ToString();
      return false;
    }
    return WaitForErr(p, waiting, lines);
  }
  bool WaitForErr(StreamingProcess& p, const std::string& waiting,
                  std::vector<std::string>& lines) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (p.err().find(waiting) == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      auto line = p.ReadLine(std::chrono::milliseconds(200));
      if (line) lines.push_back(*line);
      if (!line && p.Wait(std::chrono::milliseconds(0))) break;  // it exited
    }
    if (p.err().find(waiting) != std::string::npos) {
      // The child wrote its stdout lines before that stderr line: read them all (until it has
      // been quiet a while, waiting).
      while (auto line = p.ReadLine(std::chrono::milliseconds(200))) {
        lines.push_back(*line);
        if (std::chrono::steady_clock::now() > deadline) break;
      }
      return true;
    }
    ADD_FAILURE() << "`up` never printed '" << waiting << "'; stdout:\n"
                  << ::testing::PrintToString(lines) << "\nstderr:\n"
                  << p.err();
    return false;
  }

  // The objects carrying the fleet's labels, Pods (the workloads' own) and objects being deleted
  // (a Namespace terminates after `down` returns, as on a cluster) left out.
  std::map<std::string, Json> Managed() const {
    std::map<std::string, Json> out;
    for (const auto& o : kube_.Objects()) {
      if (o.value("kind", "") == "Pod" || o["metadata"].contains("deletionTimestamp")) continue;
      const Json labels = o["metadata"].value("labels", Json::object());
      if (labels.value(kManagedBy, "") == "carrierarr" || labels.value(kFleet, "") == name_)
        out[KeyOf(o)] = o;
    }
    return out;
  }
  std::set<std::string> ManagedKeys() const {
    std::set<std::string> keys;
    for (const auto& [key, o] : Managed()) keys.insert(key);
    return keys;
  }

  // Requests that change the cluster.
  int Writes() const {
    return kube_.CountRequests("PATCH") + kube_.CountRequests("POST") + kube_.CountRequests("PUT") +
           kube_.CountRequests("DELETE");
  }

  static int NextFleet() {
    static int n = 0;
    return n++;
  }
  const std::string name_ =
      "k" + std::to_string(::getpid() % 100000) + "-" + std::to_string(NextFleet());
  FakeKube kube_;
  ScratchDir dir_;
  std::unique_ptr<FakeAws> aws_;  // started by the tests with a pool on aws
};

TEST_F(KubeE2eTest, UpAppliesEverythingWaitsForRolloutsARerunWritesNothingDownRemovesIt) {
  RunResult plan = Carrierarr({"plan"});
  ASSERT_EQ(plan.exit_code, 0) << Describe(plan);
  EXPECT_THAT(plan.out, HasSubstr("Plan: "));
  for (const char* id :
       {"+ kube/Namespace/-/nebula-system", "+ kube/Secret/nebula-system/nebula-certs",
        "+ kube/DaemonSet/nebula-system/nebula", "+ rollout/DaemonSet/nebula",
        "+ kube/Deployment/carrierarr/carrierarr-control-plane",
        "+ rollout/Deployment/carrierarr-control-plane"}) {
    EXPECT_THAT(plan.out, HasSubstr(id));
  }
  EXPECT_EQ(Writes(), 0) << "plan reads the cluster, never writes";

  // `up` with the rollouts held: it applies, then waits, and says so on stderr.
  StreamingProcess p;
  std::vector<std::string> lines;
  ASSERT_TRUE(StartUpAndWaitFor(p, {}, "daemonset nebula-system/nebula: 0 of 2 pods ready", lines));
  EXPECT_EQ(p.Wait(std::chrono::milliseconds(500)), std::nullopt)
      << "`up` finished while its rollouts were not ready; stderr:\n"
      << p.err();
  EXPECT_FALSE(PathExists(dir_ / ".carrierarr/control/server"))
      << "the control plane's address is written once it has rolled out";
  kube_.set_rollouts_ready(true);
  kube_.CompleteRollouts();
  std::optional<int> status = p.Wait(std::chrono::seconds(60));
  ASSERT_TRUE(status.has_value()) << "`up` still runs 60 s after the rollouts completed:\n"
                                  << p.err();
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  out += p.pending_out();
  ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << testing::DescribeWaitStatus(*status) << "\nstdout:\n"
      << out << "\nstderr:\n"
      << p.err();
  EXPECT_THAT(out, HasSubstr("Fleet '" + name_ +
                             "' is up: 1/1 local nodes reach the lighthouse over the mesh; 2 nodes "
                             "are ready where this machine cannot ping them"));
  EXPECT_THAT(p.err(), HasSubstr("daemonset nebula-system/nebula: 2 of 2 pods ready"));
  EXPECT_THAT(p.err(), HasSubstr("deployment carrierarr/carrierarr-control-plane: 1 of 1"));
  EXPECT_THAT(p.err(), HasSubstr("deployment nebula-system/nebula-lighthouse: 1 of 1"));

  // Every object, with the fleet's labels and the digest a rerun compares.
  std::map<std::string, Json> managed = Managed();
  EXPECT_EQ(ManagedKeys(), ExpectedObjects());
  for (const auto& [key, o] : managed) {
    SCOPED_TRACE(key);
    const Json& meta = o["metadata"];
    EXPECT_EQ(meta["labels"].value(kManagedBy, ""), "carrierarr");
    EXPECT_EQ(meta["labels"].value(kFleet, ""), name_);
    EXPECT_FALSE(
        meta.value("annotations", Json::object()).value("carrierarr.io/applied-hash", "").empty());
  }
  // The nodes' certificates keyed by node name, their configs likewise.
  const Json certs = managed["Secret nebula-system/nebula-certs"]["data"];
  for (const std::string key : {"ca.crt", "node-a.crt", "node-b.crt"})
    EXPECT_THAT(Decoded(certs, key), HasSubstr("BEGIN NEBULA CERTIFICATE")) << key;
  for (const std::string key : {"node-a.key", "node-b.key"})
    EXPECT_THAT(Decoded(certs, key), HasSubstr("PRIVATE KEY")) << key;
  const Json configs = managed["ConfigMap nebula-system/nebula-config"]["data"];
  EXPECT_TRUE(configs.contains("node-a.yml") && configs.contains("node-b.yml")) << configs;
  // The admin token: made here once (0600), the same in the cluster.
  const std::string token_file = dir_ / ".carrierarr/control/admin.token";
  EXPECT_EQ(ModeOf(token_file), 0600u);
  const Json cp = managed["Secret carrierarr/carrierarr-control-plane"]["data"];
  EXPECT_EQ(Trimmed(Decoded(cp, "admin.token")), Trimmed(testing::Slurp(token_file)));
  EXPECT_FALSE(Trimmed(Decoded(cp, "admin.token")).empty());
  // The control plane's node is the first by name.
  EXPECT_EQ(Trimmed(testing::Slurp(dir_ / ".carrierarr/control/server")), "192.168.1.10:30052");

  // A rerun: nothing to do, and not one write request.
  const int writes = Writes();
  RunResult again_plan = Carrierarr({"plan"});
  ASSERT_EQ(again_plan.exit_code, 0) << Describe(again_plan);
  EXPECT_THAT(again_plan.out, HasSubstr("Plan: 0 to create, 0 to replace, 0 to delete"));
  RunResult again = Carrierarr({"up"});
  ASSERT_EQ(again.exit_code, 0) << Describe(again);
  EXPECT_THAT(again.out, HasSubstr("No changes. Fleet '" + name_ + "' is up"));
  EXPECT_EQ(Writes(), writes) << ::testing::PrintToString(kube_.Requests());

  RunResult down = Carrierarr({"down"});
  ASSERT_EQ(down.exit_code, 0) << Describe(down);
  EXPECT_THAT(ManagedKeys(), IsEmpty());
  EXPECT_FALSE(PathExists(dir_ / ".carrierarr")) << "down removes the state directory";
}

// SIGKILL `up` while it waits for a rollout; the next `up` adopts what the killed one applied
// (the applied-hash annotation matches) and applies only the rest, once. One step at a time
// (--parallelism 1), so that the kill finds no write in flight and objects still to apply (the
// control plane's Service comes after the rollouts it would wait behind).
TEST_F(KubeE2eTest, AKilledUpIsResumedWithoutApplyingAnythingTwice) {
  StreamingProcess p;
  std::vector<std::string> lines;
  ASSERT_TRUE(StartUpAndWaitFor(p, {"--json", "--parallelism", "1"},
                                "deployment nebula-system/nebula-lighthouse: 0 of 1 pods ready",
                                lines));
  ASSERT_FALSE(lines.empty());
  EXPECT_THAT(lines.back(), HasSubstr("\"started\""));
  EXPECT_THAT(lines.back(), HasSubstr("rollout/Deployment/nebula-lighthouse"));
  ASSERT_TRUE(p.Signal(SIGKILL));
  std::optional<int> killed = p.Wait(std::chrono::seconds(10));
  ASSERT_TRUE(killed.has_value() && WIFSIGNALED(*killed)) << p.err();
  EXPECT_FALSE(PathExists(dir_ / ".carrierarr/control/server"));

  const std::set<std::string> before = ManagedKeys();
  ASSERT_EQ(before.count("Deployment nebula-system/nebula-lighthouse"), 1u);
  ASSERT_LT(before.size(), ExpectedObjects().size())
      << "the kill came after every object was applied: the resumed run has nothing to apply";
  const size_t requests_before = kube_.Requests().size();

  kube_.set_rollouts_ready(true);
  kube_.CompleteRollouts();
  RunResult up = Carrierarr({"up"});
  ASSERT_EQ(up.exit_code, 0) << Describe(up);
  EXPECT_THAT(up.out, HasSubstr("Fleet '" + name_ + "' is up"));

  const std::vector<std::string> requests = kube_.Requests();
  std::vector<std::string> patches;
  for (size_t i = requests_before; i < requests.size(); ++i)
    if (requests[i].rfind("PATCH ", 0) == 0) patches.push_back(requests[i]);
  EXPECT_EQ(patches.size(), ExpectedObjects().size() - before.size())
      << "one apply for each object the killed run had not applied, none for the others: "
      << ::testing::PrintToString(patches);
  for (const auto& r : patches) {
    EXPECT_THAT(r, Not(HasSubstr("/deployments/nebula-lighthouse?"))) << "adopted";
    EXPECT_THAT(r, Not(HasSubstr("/namespaces/nebula-system?"))) << "adopted";
  }
  EXPECT_EQ(ManagedKeys(), ExpectedObjects());
  EXPECT_EQ(Trimmed(testing::Slurp(dir_ / ".carrierarr/control/server")), "192.168.1.10:30052");
  RunResult plan = Carrierarr({"plan"});
  ASSERT_EQ(plan.exit_code, 0) << Describe(plan);
  EXPECT_THAT(plan.out, HasSubstr("Plan: 0 to create, 0 to replace, 0 to delete"));

  RunResult down = Carrierarr({"down"});
  ASSERT_EQ(down.exit_code, 0) << Describe(down);
  EXPECT_THAT(ManagedKeys(), IsEmpty());
}

// RBAC that refuses the DaemonSet: `up` stops there, and says who may not do what, where, and
// how to fix it; `down` still removes what was applied before it.
TEST_F(KubeE2eTest, ADeniedDaemonSetNamesVerbResourceNamespaceAndTheFix) {
  for (const char* verb : {"create", "patch"}) kube_.Deny("admin", verb, "daemonsets");
  RunResult up = Carrierarr({"up"});
  ASSERT_EQ(up.exit_code, 1) << Describe(up);
  EXPECT_THAT(up.err, HasSubstr("applying DaemonSet nebula-system/nebula"));
  EXPECT_THAT(up.err, HasSubstr("User \"admin\" cannot patch resource \"daemonsets\" in API "
                                "group \"apps\" in the namespace \"nebula-system\""));
  EXPECT_THAT(up.err, HasSubstr("grant it to that user with a Role and a RoleBinding in that "
                                "namespace, or use an admin context"));
  EXPECT_THAT(up.err, HasSubstr("'carrierarr doctor' lists every missing permission"));
  EXPECT_THAT(up.err, HasSubstr("run 'carrierarr up' again to resume"));
  EXPECT_EQ(Managed().count("DaemonSet nebula-system/nebula"), 0u);

  RunResult down = Carrierarr({"down"});
  ASSERT_EQ(down.exit_code, 0) << Describe(down);
  EXPECT_THAT(ManagedKeys(), IsEmpty());
}

// No right to make namespaces (the usual lot of a namespace-scoped account): the error names the
// namespace and says which grant it takes; nothing inside a namespace was attempted.
TEST_F(KubeE2eTest, ADeniedNamespaceNamesTheNamespaceAndTheFix) {
  for (const char* verb : {"create", "patch"}) kube_.Deny("admin", verb, "namespaces");
  RunResult up = Carrierarr({"up"});
  ASSERT_EQ(up.exit_code, 1) << Describe(up);
  EXPECT_THAT(up.err, HasSubstr("applying Namespace "));
  EXPECT_THAT(up.err, ::testing::AnyOf(HasSubstr("namespaces \"nebula-system\" is forbidden"),
                                       HasSubstr("namespaces \"carrierarr\" is forbidden")));
  EXPECT_THAT(up.err, HasSubstr("cannot patch resource \"namespaces\""));
  EXPECT_THAT(up.err, HasSubstr("at the cluster scope"));
  EXPECT_THAT(up.err, HasSubstr("grant it to that user with a ClusterRole and a "
                                "ClusterRoleBinding, or use an admin context"));
  EXPECT_THAT(up.err, Not(HasSubstr("RoleBinding in that namespace")))
      << "a RoleBinding cannot grant namespaces";
  EXPECT_THAT(ManagedKeys(), IsEmpty());
  for (const auto& r : kube_.Requests()) {
    if (r.rfind("PATCH ", 0) != 0) continue;
    EXPECT_THAT(r, Not(HasSubstr("/namespaces/nebula-system/"))) << "nothing inside";
    EXPECT_THAT(r, Not(HasSubstr("/namespaces/carrierarr/"))) << "nothing inside";
  }
}

// `up` right after `down`: the Namespaces `down` deleted are still Terminating (held here; a
// cluster takes seconds to minutes). `up` waits until they are gone and makes them anew, rather
// than adopt a namespace about to vanish with everything it puts in it.
TEST_F(KubeE2eTest, UpRightAfterDownWaitsForTheTerminatingNamespaces) {
  RunResult first = Carrierarr({"up"});
  ASSERT_EQ(first.exit_code, 0) << Describe(first);
  kube_.HoldNamespaceTermination(true);
  RunResult down = Carrierarr({"down"});
  ASSERT_EQ(down.exit_code, 0) << Describe(down);
  ASSERT_TRUE(kube_.Object("v1", "Namespace", "", "nebula-system")["metadata"].contains(
      "deletionTimestamp"));

  StreamingProcess p;
  ASSERT_TRUE(p.Start(Argv({"up"}), dir_.path()).ok());
  std::vector<std::string> lines;
  ASSERT_TRUE(WaitForErr(
      p, "Namespace nebula-system is still being deleted (Terminating): waiting until it is gone",
      lines));
  EXPECT_EQ(p.Wait(std::chrono::milliseconds(500)), std::nullopt)
      << "`up` went on while its namespace was Terminating; stderr:\n"
      << p.err();
  kube_.HoldNamespaceTermination(false);
  std::optional<int> status = p.Wait(std::chrono::seconds(60));
  ASSERT_TRUE(status.has_value()) << p.err();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << testing::DescribeWaitStatus(*status) << "\nstdout:\n"
      << ::testing::PrintToString(lines) << p.pending_out() << "\nstderr:\n"
      << p.err();
  // Every object anew, none in a namespace being deleted (Managed() leaves those out).
  EXPECT_EQ(ManagedKeys(), ExpectedObjects());
}

// The homelab and lighthouse in the cluster and a GPU pool on AWS (FakeAws, in this process):
// one `up` applies the cluster's objects and launches the instance, which is given the cluster
// lighthouse's public endpoint and mesh address, a certificate from the same CA as the homelab
// members' and the control plane at the homelab's mesh address; a rerun has nothing to do and
// `down` leaves nothing in either place.
TEST_F(KubeE2eTest, AnAwsPoolJoinsTheClusterLighthouseAndDownRemovesBoth) {
  auto fake = FakeAws::Start({});
  ASSERT_TRUE(fake.ok()) << fake.status().ToString();
  aws_ = std::move(*fake);
  const std::string yaml =
      "name: " + name_ +
      "\n"
      "lighthouse:\n  provider: kubernetes\n"
      "homelab:\n  provider: kubernetes\n  kubeconfig: " +
      (dir_ / "kubeconfig") +
      "\n"
      "pools:\n"
      "  - name: gpu\n    type: gpu-worker\n    count: 1\n    provider: aws\n"
      "    instance_type: g4dn.xlarge\n"
      "control_plane:\n  image: registry.lan/carrierarr:0.1\n"
      "providers:\n  kubernetes:\n    context: fake\n"
      "    lighthouse_endpoint: home.example.net:4242\n"
      "  aws:\n    region: us-east-1\n    operator_cidrs: [203.0.113.7/32]\n"
      // Never fetched here; set so that the userdata carries the agent and its control plane.
      "    agent_url: https://downloads.example.net/carrierarr-agent-{arch}\n"
      "    agent_sha256: " +
      std::string(64, 'a') + "\n";
  ASSERT_TRUE(WriteFileAtomic(dir_ / "fleet.yaml", yaml, 0600).ok());

  RunResult plan = Carrierarr({"plan"});
  ASSERT_EQ(plan.exit_code, 0) << Describe(plan);
  for (const char* id : {"+ kube/DaemonSet/nebula-system/nebula",
                         "+ kube/Deployment/nebula-system/nebula-lighthouse", "+ aws-sg",
                         "+ aws-quota/gpu", "+ instance/gpu-1"})
    EXPECT_THAT(plan.out, HasSubstr(id));
  EXPECT_THAT(plan.out, Not(HasSubstr("eip/lighthouse"))) << "the lighthouse is not on AWS";
  EXPECT_EQ(Writes(), 0);
  EXPECT_EQ(aws_->calls(), 0) << "plan makes no AWS call";

  RunResult up = Carrierarr({"up"});
  ASSERT_EQ(up.exit_code, 0) << Describe(up);
  EXPECT_THAT(up.out, HasSubstr("Fleet '" + name_ + "' is up"));
  std::map<std::string, Json> managed = Managed();
  EXPECT_EQ(ManagedKeys(), ExpectedObjects());
  const std::vector<FakeAws::Instance> instances = aws_->Instances(name_);
  ASSERT_THAT(instances, SizeIs(1)) << ::testing::PrintToString(aws_->Live(name_));
  const FakeAws::Instance& gpu = instances.front();
  EXPECT_EQ(gpu.TagValue("carrierarr:resource"), "instance/gpu-1");
  EXPECT_EQ(gpu.type, "g4dn.xlarge");

  // Its Nebula config: the lighthouse (mesh 10.42.0.1, the first of mesh.cidr) at the endpoint
  // the router forwards, as in the homelab members' configs.
  std::map<std::string, std::string> files = UserdataFiles(gpu.user_data);
  ASSERT_EQ(files.count("/etc/nebula/config.yml"), 1u) << gpu.user_data;
  for (const auto& [what, text] :
       {std::pair<std::string, std::string>{"gpu-1", files["/etc/nebula/config.yml"]},
        {"node-a",
         managed["ConfigMap nebula-system/nebula-config"]["data"].value("node-a.yml", "")}}) {
    SCOPED_TRACE(what);
    YAML::Node config = YAML::Load(text);
    ASSERT_TRUE(config["static_host_map"]["10.42.0.1"].IsSequence()) << text;
    EXPECT_EQ(config["static_host_map"]["10.42.0.1"][0].as<std::string>(), "home.example.net:4242");
    EXPECT_EQ(config["static_host_map"].size(), 1u) << text;
    ASSERT_TRUE(config["lighthouse"]["hosts"].IsSequence()) << text;
    EXPECT_EQ(config["lighthouse"]["hosts"][0].as<std::string>(), "10.42.0.1");
  }

  // One CA: the cluster Secret's is the instance's, and it signed the instance's certificate and
  // the homelab members'.
  const Json certs = managed["Secret nebula-system/nebula-certs"]["data"];
  const pki::Certificate ca = CertOf(Decoded(certs, "ca.crt"), "the cluster's ca.crt");
  ASSERT_TRUE(ca.details.is_ca);
  EXPECT_EQ(pki::Fingerprint(CertOf(files["/etc/nebula/ca.crt"], "the instance's ca.crt")),
            pki::Fingerprint(ca));
  const pki::Certificate host = CertOf(files["/etc/nebula/host.crt"], "the instance's host.crt");
  EXPECT_EQ(host.details.name, "gpu-1");
  ASSERT_THAT(host.details.ips, SizeIs(1));
  EXPECT_EQ(FormatIpv4(host.details.ips[0].ip), "10.42.2.1");
  for (const auto& [what, cert] :
       {std::pair<std::string, pki::Certificate>{"gpu-1", host},
        {"node-a", CertOf(Decoded(certs, "node-a.crt"), "node-a.crt")},
        {"node-b", CertOf(Decoded(certs, "node-b.crt"), "node-b.crt")}}) {
    EXPECT_EQ(cert.details.issuer, pki::RawFingerprint(ca)) << what;
    EXPECT_TRUE(pki::CheckSignature(cert, ca.details.public_key)) << what;
  }

  // The agent dials the control plane where the cluster runs it: the control-plane node's mesh
  // address (homelab.mesh_ip) and control_plane.grpc_port, through the tun.
  ASSERT_EQ(files.count("/etc/systemd/system/carrierarr-agent.service"), 1u) << gpu.user_data;
  EXPECT_THAT(files["/etc/systemd/system/carrierarr-agent.service"],
              HasSubstr("--control-plane 10.42.1.1:50051 --node-id gpu-1"));

  // No k3s: its server runs on the lighthouse, which is in the cluster, so a k3s agent would
  // join https://10.42.0.1:6443, where nothing serves.
  EXPECT_EQ(files.count("/etc/rancher/k3s/config.yaml"), 0u) << gpu.user_data;
  EXPECT_THAT(gpu.user_data, HasSubstr("readonly K3S_ROLE=''"));

  // A rerun: nothing to do, no write to the cluster, no launch.
  const int writes = Writes();
  const int launches = aws_->CallsByAction()["RunInstances"];
  RunResult again_plan = Carrierarr({"plan"});
  ASSERT_EQ(again_plan.exit_code, 0) << Describe(again_plan);
  EXPECT_THAT(again_plan.out, HasSubstr("Plan: 0 to create, 0 to replace, 0 to delete"));
  RunResult again = Carrierarr({"up"});
  ASSERT_EQ(again.exit_code, 0) << Describe(again);
  EXPECT_THAT(again.out, HasSubstr("No changes. Fleet '" + name_ + "' is up"));
  EXPECT_EQ(Writes(), writes) << ::testing::PrintToString(kube_.Requests());
  EXPECT_EQ(aws_->CallsByAction()["RunInstances"], launches);
  EXPECT_THAT(aws_->Instances(name_), SizeIs(1));

  RunResult down = Carrierarr({"down"});
  ASSERT_EQ(down.exit_code, 0) << Describe(down);
  EXPECT_THAT(ManagedKeys(), IsEmpty());
  EXPECT_THAT(aws_->Live(name_), IsEmpty());
}

// federation.mode clustermesh with the cloud cluster being the k3s on an aws lighthouse: the
// instances boot k3s without flannel and the server installs Cilium as fleet.yaml's cloud
// cluster (name, id); until `carrierarr kubeconfig` has the cluster's kubeconfig, `up` says so and
// leaves the federation alone.
TEST_F(KubeE2eTest, ClusterMeshCloudNodesBootWithCiliumInsteadOfFlannel) {
  auto fake = FakeAws::Start({});
  ASSERT_TRUE(fake.ok()) << fake.status().ToString();
  aws_ = std::move(*fake);
  const std::string yaml = "name: " + name_ +
                           "\n"
                           "lighthouse:\n  provider: aws\n  size: t3.small\n"
                           "homelab:\n  provider: kubernetes\n  kubeconfig: " +
                           (dir_ / "kubeconfig") +
                           "\n"
                           "pools:\n"
                           "  - name: gpu\n    type: gpu-worker\n    count: 1\n    provider: aws\n"
                           "    instance_type: g4dn.xlarge\n"
                           "control_plane:\n  image: registry.lan/carrierarr:0.1\n"
                           "providers:\n  kubernetes:\n    context: fake\n"
                           "  aws:\n    region: us-east-1\n    operator_cidrs: [203.0.113.7/32]\n"
                           "federation:\n  mode: clustermesh\n  cloud: {name: burst, id: 7}\n";
  ASSERT_TRUE(WriteFileAtomic(dir_ / "fleet.yaml", yaml, 0600).ok());
  RunResult up = Carrierarr({"up"});
  ASSERT_EQ(up.exit_code, 0) << Describe(up);
  EXPECT_THAT(up.out, HasSubstr("carrierarr kubeconfig")) << "the federation waits for it";
  int servers = 0;
  for (const auto& i : aws_->Instances(name_)) {
    SCOPED_TRACE(i.TagValue("carrierarr:resource"));
    std::map<std::string, std::string> files = UserdataFiles(i.user_data);
    const YAML::Node k3s = YAML::Load(files["/etc/rancher/k3s/config.yaml"]);
    EXPECT_FALSE(k3s["flannel-iface"].IsDefined());
    const std::string& boot = files["/usr/local/lib/carrierarr/bootstrap.sh"];
    if (i.TagValue("carrierarr:resource") != "instance/lighthouse") {
      EXPECT_THAT(boot, Not(HasSubstr("cilium install")));
      continue;
    }
    ++servers;
    EXPECT_EQ(k3s["flannel-backend"].as<std::string>(""), "none");
    EXPECT_TRUE(k3s["disable-network-policy"].as<bool>(false));
    EXPECT_EQ(k3s["cluster-cidr"].as<std::string>(""), "10.52.0.0/16");
    EXPECT_THAT(boot, HasSubstr("readonly CLUSTER_NAME='burst'\n"));
    EXPECT_THAT(boot, HasSubstr("readonly CLUSTER_ID='7'\n"));
    EXPECT_THAT(boot, HasSubstr("readonly CILIUM_VERSION='1.16.5'\n"));
    EXPECT_THAT(boot, HasSubstr("cilium install --version"));
  }
  EXPECT_EQ(servers, 1);
}

}  // namespace
}  // namespace carrierarr
