// status and doctor for a Kubernetes homelab (providers/kubernetes/observe.h): the real
// KubeClient against FakeKube on loopback HTTPS, with the workloads applied through the client
// as minimal objects carrying the labels `up` gives them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kube/client.h"
#include "pki/authority.h"
#include "providers/kubernetes/manifests.h"
#include "providers/kubernetes/observe.h"
#include "testing/fake_kube.h"
#include "testing/tools.h"

namespace carrierarr::kubernetes {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

Json Labels(const std::string& name) {
  return {{"app.kubernetes.io/name", name}, {kManagedByLabel, kManagedBy}, {kFleetLabel, "demo"}};
}

Json Namespace(const std::string& name, const Json& extra_labels = Json::object()) {
  Json labels = {{kManagedByLabel, kManagedBy}, {kFleetLabel, "demo"}};
  labels.update(extra_labels);
  return {{"apiVersion", "v1"},
          {"kind", "Namespace"},
          {"metadata", {{"name", name}, {"labels", labels}}}};
}

Json Workload(const std::string& kind, const std::string& ns, const std::string& name,
              const Json& node_selector = Json::object()) {
  Json pod_spec = {{"containers", {{{"name", name}, {"image", "nebula:1.9.5"}}}}};
  if (!node_selector.empty()) pod_spec["nodeSelector"] = node_selector;
  Json spec = {{"selector", {{"matchLabels", {{"app.kubernetes.io/name", name}}}}},
               {"template", {{"metadata", {{"labels", Labels(name)}}}, {"spec", pod_spec}}}};
  if (kind == "Deployment") spec["replicas"] = 1;
  return {{"apiVersion", "apps/v1"},
          {"kind", kind},
          {"metadata", {{"name", name}, {"namespace", ns}, {"labels", Labels(name)}}},
          {"spec", spec}};
}

class KubeObserveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_.AddNode("node-1", {{"mesh", "yes"}});
    fake_.AddNode("node-2", {{"mesh", "yes"}}, "192.168.1.11");
    fake_.WriteKubeconfig(dir_ / "config");
    fleet_.kubernetes.lighthouse_endpoint = "home.example.net:4242";
    auto access = kube::LoadKubeconfig({.path = dir_ / "config", .context = "fake"}, seams_);
    ASSERT_TRUE(access.ok()) << access.status().ToString();
    auto client =
        kube::MakeKubeClient(*access, seams_, {.request_timeout = std::chrono::seconds(10)});
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    api_ = std::move(*client);
  }

  void Apply(const Json& object) {
    auto applied = api_->Apply(object);
    ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  }

  // What `up` applies, reduced to what status and doctor read.
  void ApplyWorkloads(const Json& node_selector = {{"mesh", "yes"}}) {
    const std::string& nebula_ns = fleet_.kubernetes.nebula_namespace;
    const std::string& cp_ns = fleet_.kubernetes.control_plane_namespace;
    Apply(Namespace(nebula_ns, {{"pod-security.kubernetes.io/enforce", "privileged"}}));
    Apply(Namespace(cp_ns));
    Apply(Workload("DaemonSet", nebula_ns, kNebulaDaemonSet, node_selector));
    Apply(Workload("Deployment", nebula_ns, kLighthouseDeployment));
    Apply(Workload("Deployment", cp_ns, kControlPlaneDeployment));
  }

  // A node certificate from a fresh CA, its address with `prefix` bits of mask.
  std::string NodeCert(const std::string& name, uint32_t ip, int prefix) {
    auto now = std::chrono::system_clock::now();
    auto ca = pki::CreateCa({.name = "homelab-mesh"}, now);
    EXPECT_TRUE(ca.ok()) << ca.status().ToString();
    auto authority = pki::CertificateAuthority::Create(ca->cert, ca->private_key);
    EXPECT_TRUE(authority.ok()) << authority.status().ToString();
    uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
    auto host = authority->Sign({.name = name, .ip = {ip, mask}, .groups = {"homelab"}}, now);
    EXPECT_TRUE(host.ok()) << host.status().ToString();
    return host->CertPem();
  }

  KubeDoctorInputs Inputs(int prefix_node_2 = 16) {
    return {.selected_nodes = {"node-1", "node-2"},
            .cert_pem = {{"node-1", NodeCert("node-1", 0x0a2a0101, 16)},
                         {"node-2", NodeCert("node-2", 0x0a2a0102, prefix_node_2)}},
            .lighthouse_in_cluster = true};
  }

  // By value: callers pass the temporary that KubernetesChecks returns.
  static providers::DoctorCheck Check(const std::vector<providers::DoctorCheck>& checks,
                                      const std::string& name) {
    for (const auto& c : checks) {
      if (c.name == name) return c;
    }
    ADD_FAILURE() << "no check named " << name;
    return {"(missing)", false, "no such check", ""};
  }

  testing::ScratchDir dir_;
  testing::FakeKube fake_;
  Seams seams_;
  spec::FleetSpec fleet_;
  std::unique_ptr<kube::KubeApi> api_;
};

TEST_F(KubeObserveTest, AllReadyShowsEveryPodAndPassesEveryCheck) {
  ApplyWorkloads();
  auto view = ObserveHomelab(*api_, fleet_, {"node-1", "node-2"});
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  EXPECT_TRUE(view->problems.empty()) << ::testing::PrintToString(view->problems);
  std::map<std::string, int> per_workload;
  for (const PodView& p : view->pods) {
    per_workload[p.workload]++;
    EXPECT_TRUE(p.ready) << p.name << ": " << p.why;
    EXPECT_EQ(p.phase, "Running");
    EXPECT_EQ(p.why, "");
  }
  EXPECT_EQ(per_workload[kNebulaDaemonSet], 2);
  EXPECT_EQ(per_workload[kLighthouseDeployment], 1);
  EXPECT_EQ(per_workload[kControlPlaneDeployment], 1);

  auto obs = ToObservations(*view);
  ASSERT_EQ(obs.size(), 2u);
  for (const std::string node : {"node-1", "node-2"}) {
    EXPECT_TRUE(obs[node].created && obs[node].running) << node << ": " << obs[node].problem;
    EXPECT_THAT(obs[node].detail, ::testing::MatchesRegex("pod nebula-.* Running on " + node));
    EXPECT_EQ(obs[node].problem, "");
  }

  auto checks = KubernetesChecks(*api_, fleet_, Inputs());
  ASSERT_EQ(checks.size(), 6u);
  for (const auto& c : checks) EXPECT_TRUE(c.ok) << c.name << ": " << c.detail << " / " << c.fix;
  EXPECT_THAT(Check(checks, "kubernetes API").detail, HasSubstr(fake_.url()));
  // Where the router's forward must point: the lighthouse pod's node, by its LAN address.
  EXPECT_THAT(Check(checks, "lighthouse exposure").detail,
              ::testing::MatchesRegex("UDP hostPort 4242 on node node-[12]; your router must "
                                      "forward home.example.net:4242 \\(UDP\\) to "
                                      "192\\.168\\.1\\.1[01]:4242"));
  KubeDoctorInputs homelab_only = Inputs();
  homelab_only.lighthouse_in_cluster = false;
  EXPECT_EQ(KubernetesChecks(*api_, fleet_, homelab_only).size(), 5u);
}

// With nodePort exposure the Service must be there with the lighthouse's UDP port as nodePort.
TEST_F(KubeObserveTest, LighthouseNodePortNeedsItsService) {
  fleet_.kubernetes.lighthouse_exposure = spec::LighthouseExposure::kNodePort;
  fleet_.mesh.lighthouse_port = 30424;
  ApplyWorkloads();
  auto exposure = Check(KubernetesChecks(*api_, fleet_, Inputs()), "lighthouse exposure");
  EXPECT_FALSE(exposure.ok);
  EXPECT_THAT(exposure.detail, HasSubstr("Service nebula-system/nebula-lighthouse does not "
                                         "expose UDP nodePort 30424"));
  EXPECT_THAT(exposure.fix, HasSubstr("carrierarr up"));

  Apply(
      {{"apiVersion", "v1"},
       {"kind", "Service"},
       {"metadata",
        {{"name", kLighthouseDeployment}, {"namespace", "nebula-system"}, {"labels", Labels("x")}}},
       {"spec",
        {{"type", "NodePort"},
         {"selector", {{"app.kubernetes.io/name", kLighthouseDeployment}}},
         {"ports",
          {{{"name", "nebula"}, {"protocol", "UDP"}, {"port", 30424}, {"nodePort", 30424}}}}}}});
  exposure = Check(KubernetesChecks(*api_, fleet_, Inputs()), "lighthouse exposure");
  EXPECT_TRUE(exposure.ok) << exposure.detail;
  EXPECT_EQ(exposure.detail,
            "UDP NodePort 30424 on every node; your router must forward home.example.net:4242 "
            "(UDP) to a node's LAN address, port 30424");
}

TEST_F(KubeObserveTest, RolloutsNotReadyShowPendingPodsAndWhy) {
  fake_.set_rollouts_ready(false);
  ApplyWorkloads();
  auto view = ObserveHomelab(*api_, fleet_, {"node-1", "node-2"});
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  ASSERT_EQ(view->pods.size(), 4u);
  for (const PodView& p : view->pods) {
    EXPECT_FALSE(p.ready) << p.name;
    EXPECT_EQ(p.phase, "Pending");
    EXPECT_THAT(p.why, HasSubstr("ContainerCreating")) << p.name;
  }
  auto obs = ToObservations(*view);
  EXPECT_TRUE(obs["node-1"].created);
  EXPECT_FALSE(obs["node-1"].running);
  EXPECT_THAT(obs["node-1"].detail, HasSubstr("Pending on node-1"));
  EXPECT_THAT(obs["node-1"].problem, HasSubstr("not ready: nebula waiting: ContainerCreating"));

  auto checks = KubernetesChecks(*api_, fleet_, Inputs());
  auto pods = Check(checks, "nebula pods");
  EXPECT_FALSE(pods.ok);
  EXPECT_THAT(pods.detail, HasSubstr("node-1: "));
  EXPECT_THAT(pods.detail, HasSubstr("node-2: "));
  EXPECT_THAT(pods.fix, HasSubstr("kubectl -n nebula-system describe pods"));
  auto exposure = Check(checks, "lighthouse exposure");
  EXPECT_FALSE(exposure.ok);
  EXPECT_THAT(exposure.detail, ::testing::MatchesRegex("lighthouse pod nebula-lighthouse-.* is "
                                                       "not ready: nebula-lighthouse waiting: "
                                                       "ContainerCreating"));
  EXPECT_THAT(exposure.fix, HasSubstr("describe pod -l app.kubernetes.io/name=nebula-lighthouse"));

  fake_.CompleteRollouts();
  view = ObserveHomelab(*api_, fleet_, {"node-1", "node-2"});
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  for (const PodView& p : view->pods) EXPECT_TRUE(p.ready) << p.name << ": " << p.why;
}

TEST_F(KubeObserveTest, ASelectedNodeWithoutANebulaPodIsAProblem) {
  fake_.AddNode("node-3", {{"mesh", "no"}}, "192.168.1.12");
  ApplyWorkloads();
  auto view = ObserveHomelab(*api_, fleet_, {"node-1", "node-3"});
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  ASSERT_EQ(view->problems.size(), 1u);
  EXPECT_EQ(view->problems[0],
            "no nebula pod on node node-3: check the DaemonSet's nodeSelector and the node's "
            "taints");
  auto obs = ToObservations(*view);
  EXPECT_FALSE(obs["node-3"].running);
  EXPECT_FALSE(obs["node-3"].created);
  EXPECT_EQ(obs["node-3"].problem, view->problems[0]);
  EXPECT_TRUE(obs["node-1"].running);

  KubeDoctorInputs in = Inputs();
  in.selected_nodes = {"node-1", "node-3"};
  auto pods = Check(KubernetesChecks(*api_, fleet_, in), "nebula pods");
  EXPECT_FALSE(pods.ok);
  EXPECT_THAT(pods.detail, HasSubstr("no nebula pod on node node-3"));
  EXPECT_THAT(pods.detail, Not(HasSubstr("node-1")));
}

TEST_F(KubeObserveTest, AStoppedApiServerIsOneClearProblem) {
  ApplyWorkloads();
  fake_.Stop();
  auto view = ObserveHomelab(*api_, fleet_, {"node-1"});
  ASSERT_FALSE(view.ok());
  EXPECT_THAT(view.status().message(), HasSubstr(fake_.url()));

  auto checks = KubernetesChecks(*api_, fleet_, Inputs());
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_EQ(checks[0].name, "kubernetes API");
  EXPECT_FALSE(checks[0].ok);
  EXPECT_THAT(checks[0].detail, HasSubstr(fake_.url()));
  EXPECT_THAT(checks[0].fix, HasSubstr("kubectl get nodes"));
}

TEST_F(KubeObserveTest, RbacListsExactlyTheDeniedPermission) {
  ApplyWorkloads();
  fake_.Deny("admin", "patch", "daemonsets", "nebula-system");
  auto rbac = Check(KubernetesChecks(*api_, fleet_, Inputs()), "RBAC");
  EXPECT_FALSE(rbac.ok);
  EXPECT_EQ(rbac.detail, "missing: patch daemonsets in nebula-system");
  EXPECT_THAT(rbac.fix, HasSubstr("\n  kubectl auth can-i patch daemonsets.apps -n nebula-system"));
  size_t lines = 0;
  for (size_t at = 0; (at = rbac.fix.find("kubectl auth can-i", at)) != std::string::npos; ++at) {
    ++lines;
  }
  EXPECT_EQ(lines, 1u) << rbac.fix;
}

TEST_F(KubeObserveTest, PodSecurityBaselineFailsWithTheFix) {
  // No namespace yet: up creates it, labelled privileged.
  auto absent = Check(KubernetesChecks(*api_, fleet_, Inputs()), "Pod Security");
  EXPECT_TRUE(absent.ok) << absent.detail;
  EXPECT_THAT(absent.detail, HasSubstr("up creates it labelled privileged"));

  Apply(Namespace("nebula-system", {{"pod-security.kubernetes.io/enforce", "baseline"}}));
  auto baseline = Check(KubernetesChecks(*api_, fleet_, Inputs()), "Pod Security");
  EXPECT_FALSE(baseline.ok);
  EXPECT_THAT(baseline.detail, HasSubstr("enforces baseline"));
  EXPECT_THAT(baseline.detail, HasSubstr("NET_ADMIN"));
  EXPECT_THAT(baseline.detail, HasSubstr("/dev/net/tun"));
  EXPECT_EQ(baseline.fix,
            "kubectl label namespace nebula-system pod-security.kubernetes.io/enforce=privileged "
            "--overwrite");
}

TEST_F(KubeObserveTest, MeshMaskSlash24FailsNamingTheNode) {
  ApplyWorkloads();
  auto good = Check(KubernetesChecks(*api_, fleet_, Inputs(16)), "mesh mask");
  EXPECT_TRUE(good.ok) << good.detail;

  auto bad = Check(KubernetesChecks(*api_, fleet_, Inputs(24)), "mesh mask");
  EXPECT_FALSE(bad.ok);
  EXPECT_THAT(bad.detail, HasSubstr("node-2 has 10.42.1.2/24, not /16"));
  EXPECT_THAT(bad.detail, Not(HasSubstr("node-1")));
  EXPECT_THAT(bad.fix, HasSubstr("carrierarr up"));
}

// States FakeKube does not produce (its pods only wait in ContainerCreating): a KubeApi that
// answers pod lists with pods as a kubelet and scheduler would report them.
class CannedPods : public kube::KubeApi {
 public:
  explicit CannedPods(std::vector<Json> nebula_pods) : pods_(std::move(nebula_pods)) {}
  Result<kube::Object> Apply(const kube::Object&) override { return Status::Internal("unused"); }
  Result<std::optional<kube::Object>> Get(const kube::ObjectRef&) override {
    return std::optional<kube::Object>();
  }
  Result<kube::ObjectList> List(const std::string&, const std::string&, const std::string&,
                                const kube::ListOptions& options) override {
    kube::ObjectList list;
    if (options.label_selector == "app.kubernetes.io/name=nebula") list.items = pods_;
    return list;
  }
  Status Watch(const std::string&, const std::string&, const std::string&, const kube::ListOptions&,
               const std::string&, std::chrono::seconds,
               const std::function<bool(const kube::WatchEvent&)>&) override {
    return Status::Ok();
  }
  Status Delete(const kube::ObjectRef&, kube::Propagation) override { return Status::Ok(); }
  Result<bool> Serves(const std::string&, const std::string&) override { return true; }
  Result<bool> CanI(const std::string&, const std::string&, const std::string&,
                    const std::string&) override {
    return true;
  }
  Result<std::string> PodProxyGet(const std::string&, const std::string&, int, const std::string&,
                                  size_t) override {
    return Status::Internal("unused");
  }
  std::string Describe() const override { return "canned"; }

 private:
  std::vector<Json> pods_;
};

Json Pod(const std::string& name, const std::string& node, const std::string& phase,
         const Json& container_state, const Json& conditions, int restarts = 0) {
  Json spec = Json::object();
  if (!node.empty()) spec["nodeName"] = node;
  Json status = {{"phase", phase}, {"conditions", conditions}};
  if (!container_state.is_null()) {
    status["containerStatuses"] = {{{"name", "nebula"},
                                    {"ready", false},
                                    {"restartCount", restarts},
                                    {"state", container_state}}};
  }
  return {
      {"metadata", {{"name", name}, {"namespace", "nebula-system"}, {"labels", Labels("nebula")}}},
      {"spec", spec},
      {"status", status}};
}

TEST(KubeObserveWhyTest, WaitingReasonsAndUnscheduledPodsAreExplained) {
  Json not_ready = {{{"type", "Ready"}, {"status", "False"}}};
  CannedPods api({
      Pod("nebula-a", "node-1", "Pending",
          {{"waiting",
            {{"reason", "ImagePullBackOff"}, {"message", "Back-off pulling image \"nebula:9\""}}}},
          not_ready),
      Pod("nebula-b", "node-2", "Running",
          {{"waiting", {{"reason", "CrashLoopBackOff"}, {"message", "back-off 5m0s"}}}}, not_ready,
          7),
      Pod("nebula-c", "", "Pending", nullptr,
          {{{"type", "PodScheduled"},
            {"status", "False"},
            {"reason", "Unschedulable"},
            {"message", "0/3 nodes are available: 3 node(s) had untolerated taint"}}}),
  });
  spec::FleetSpec fleet;
  auto view = ObserveHomelab(api, fleet, {"node-1", "node-2", "node-3"});
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  ASSERT_EQ(view->pods.size(), 3u);
  EXPECT_EQ(view->pods[0].why,
            "nebula waiting: ImagePullBackOff: Back-off pulling image \"nebula:9\"");
  EXPECT_EQ(view->pods[1].why, "nebula waiting: CrashLoopBackOff: back-off 5m0s");
  EXPECT_EQ(view->pods[1].restarts, 7);
  EXPECT_EQ(view->pods[2].why,
            "not scheduled: Unschedulable: 0/3 nodes are available: 3 node(s) had untolerated "
            "taint");
  // The unscheduled pod is on no node, so node-3 has none.
  ASSERT_EQ(view->problems.size(), 1u);
  EXPECT_THAT(view->problems[0], HasSubstr("no nebula pod on node node-3"));

  auto obs = ToObservations(*view);
  EXPECT_FALSE(obs["node-2"].running);
  EXPECT_EQ(obs["node-2"].detail, "pod nebula-b Running on node-2 (7 restarts)");
  EXPECT_THAT(obs["node-2"].problem, HasSubstr("CrashLoopBackOff"));
  EXPECT_THAT(obs["node-1"].problem, HasSubstr("ImagePullBackOff"));
}

}  // namespace
}  // namespace carrierarr::kubernetes
