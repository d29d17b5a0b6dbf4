// The fleet operations (plan, up, down, status, doctor) without root: the default provider is
// replaced through the registry by a provider whose "hosts" live in memory, every program goes
// to a FakeProcessRunner and time is simulated. What is real: fleet.yaml parsing, the address
// plan, the CA and host certificates, the Nebula configs, the plan, the engine and the state file.
#include "ops/fleet_ops.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <mutex>
#include <set>
#include <string>

#include "core/file_util.h"
#include "core/subprocess.h"
#include "providers/registry.h"
#include "testing/fake_process_runner.h"
#include "testing/tools.h"

namespace carrierarr::ops {
namespace {

using ::carrierarr::testing::FakeProcessRunner;
using ::carrierarr::testing::ScratchDir;
using ::testing::HasSubstr;
using Json = nlohmann::json;

// What the fake provider's nodes are: a set of names, shared by every provider instance a test
// makes (ops makes several per command) and by the deleters the state is undone with.
struct Machine {
  std::mutex mu;
  std::set<std::string> hosts;        // guarded by mu
  std::set<std::string> unreachable;  // guarded by mu: hosts that never answer over the mesh
  bool Has(const std::string& node) {
    std::lock_guard<std::mutex> lock(mu);
    return hosts.count(node) != 0;
  }
};

class HostResource final : public provision::Resource {
 public:
  HostResource(Machine& machine, std::string node, std::vector<std::string> deps)
      : machine_(machine), node_(std::move(node)), deps_(std::move(deps)) {}
  std::string id() const override { return "host/" + node_; }
  std::string kind() const override { return "fake-host"; }
  std::string summary() const override { return "host for " + node_; }
  std::vector<std::string> deps() const override { return deps_; }
  std::string hash() const override { return "h1"; }
  Json attrs() const override { return {{"node", node_}}; }
  Result<bool> Exists() const override { return machine_.Has(node_); }
  Result<Json> Create() override {
    std::lock_guard<std::mutex> lock(machine_.mu);
    machine_.hosts.insert(node_);
    return attrs();
  }

 private:
  Machine& machine_;
  std::string node_;
  std::vector<std::string> deps_;
};

class HostProvider final : public providers::Provider {
 public:
  explicit HostProvider(Machine& machine) : machine_(machine) {}
  std::string name() const override { return "local"; }
  bool IsCloud() const override { return false; }
  Status CheckEnvironment() const override { return Status::Ok(); }
  std::string LighthouseEndpoint(const spec::FleetSpec&, const mesh::NodePlan&,
                                 const provision::FleetState&) const override {
    return "198.18.0.1:4242";
  }
  providers::NodeFiles NebulaFiles(const providers::FleetPaths& paths,
                                   const mesh::NodePlan& node) const override {
    return {
        .ca = paths.CaCert(), .cert = paths.HostCert(node.name), .key = paths.HostKey(node.name)};
  }
  std::string RunningResourceId(const mesh::NodePlan& node) const override {
    return "host/" + node.name;
  }
  void AddNodeResources(const providers::NodeRequest& r,
                        provision::ResourceList& out) const override {
    out.push_back(std::make_unique<HostResource>(machine_, r.node.name, r.deps));
  }
  void RegisterKinds(provision::KindRegistry& kinds) const override {
    Machine* machine = &machine_;
    kinds.Register("fake-host", [machine](const Json& attrs) {
      std::lock_guard<std::mutex> lock(machine->mu);
      machine->hosts.erase(attrs.value("node", ""));
      return Status::Ok();
    });
  }
  std::vector<providers::DoctorCheck> EnvironmentChecks() const override {
    return {providers::DoctorCheck::Pass("environment", "fake hosts")};
  }
  std::map<std::string, std::optional<double>> MeshRoundTrips(
      const spec::FleetSpec&, const std::vector<mesh::NodePlan>& nodes, uint32_t,
      std::chrono::milliseconds) const override {
    std::lock_guard<std::mutex> lock(machine_.mu);
    std::map<std::string, std::optional<double>> out;
    for (const auto& n : nodes) {
      if (machine_.hosts.count(n.name) != 0 && machine_.unreachable.count(n.name) == 0)
        out[n.name] = 1.5;
      else
        out[n.name] = std::nullopt;
    }
    return out;
  }
  std::map<std::string, providers::NodeObservation> ObserveNodes(
      const spec::FleetSpec&, const provision::FleetState&,
      const std::vector<mesh::NodePlan>& nodes, uint32_t, uint32_t) const override {
    std::map<std::string, providers::NodeObservation> out;
    for (const auto& n : nodes) {
      const bool up = machine_.Has(n.name);
      out[n.name] = {.created = up, .running = up, .detail = up ? "fake host" : ""};
    }
    return out;
  }

 private:
  Machine& machine_;
};

constexpr char kFleet[] =
    "name: opsx\n"
    "pools:\n"
    "  - name: w\n"
    "    type: cpu-worker\n"
    "    count: 2\n";

class FleetOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The default provider's entry (its fleet.yaml rules included), made over our machine.
    const providers::ProviderEntry& builtin = providers::ProviderRegistry::BuiltIn().entries()[0];
    Machine* machine = machine_.get();
    registry_ = std::make_unique<providers::ProviderRegistry>(std::vector<providers::ProviderEntry>{
        {builtin.name, "fake hosts in memory",
         [machine](const Seams&) { return std::make_unique<HostProvider>(*machine); },
         builtin.rules}});
    ASSERT_TRUE(WriteFileAtomic(fleet_file(), kFleet, 0600).ok());
  }

  std::string fleet_file() const { return dir_.path() + "/fleet.yaml"; }
  FleetContext Load() {
    Seams seams{.time = &time_, .processes = &processes_};
    auto ctx = LoadContext(fleet_file(), seams, *registry_);
    EXPECT_TRUE(ctx.ok()) << ctx.status().ToString();
    return std::move(*ctx);
  }
  UpResult UpOk(const FleetContext& ctx) {
    auto up = Up(ctx, {.mesh_wait = std::chrono::seconds(15)});
    EXPECT_TRUE(up.ok()) << up.status().ToString();
    return up.ok() ? std::move(*up) : UpResult{};
  }

  ScratchDir dir_;
  std::unique_ptr<Machine> machine_ = std::make_unique<Machine>();
  std::unique_ptr<providers::ProviderRegistry> registry_;
  SimulatedTimeSource time_;
  FakeProcessRunner processes_;
};

TEST_F(FleetOpsTest, PlanListsEveryResourceAndChangesNothing) {
  auto ctx = Load();
  auto plan = PlanFleet(ctx, {});
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  // The CA, the enrollment key, and per node (lighthouse, homelab, w-1, w-2) a certificate, a
  // config and a host.
  EXPECT_EQ(plan->Count(provision::Action::kCreate), 2 + 4 * 3);
  EXPECT_TRUE(machine_->hosts.empty());
  EXPECT_FALSE(std::filesystem::exists(ctx.paths.state_dir + "/state.json"));
}

// A scaled pool: up runs its min, and the plan says what it may cost and that nothing wakes it.
// The fake provider cannot stop nodes: the nodes beyond min are not made at all.
TEST_F(FleetOpsTest, PlanOfAScaledPoolRunsItsMinAndSaysWhatItMayCost) {
  ASSERT_TRUE(WriteFileAtomic(fleet_file(),
                              "name: opsx\n"
                              "pools:\n"
                              "  - name: w\n"
                              "    type: gpu-worker\n"
                              "    instance_type: g5.xlarge\n"
                              "    scaling: {min: 1, max: 2}\n"
                              "    budget: {usd_per_day: 20}\n"
                              "budget: {usd_per_month: 300}\n"
                              "prices: {g5.xlarge: 1.006}\n",
                              0600)
                  .ok());
  auto ctx = Load();
  auto plan = PlanFleet(ctx, {});
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->Count(provision::Action::kCreate), 2 + 3 * 3) << "lighthouse, homelab, w-1";
  EXPECT_THAT(plan->notes,
              ::testing::Contains(
                  "pool 'w' scales from 1 to 2 nodes (g5.xlarge at $1.006/h: $48.288 a day at "
                  "max); budget $20.00 a day, the fleet's $300.00 a month; provider local cannot "
                  "stop and start nodes yet: up runs its min (1)"));
}

TEST_F(FleetOpsTest, UpMakesEveryNodeMeshesItAndASecondUpChangesNothing) {
  auto ctx = Load();
  UpResult first = UpOk(ctx);
  EXPECT_EQ(first.nodes, 4);
  EXPECT_EQ(first.nodes_meshed, 4);
  EXPECT_EQ(first.nodes_cloud, 0);
  EXPECT_TRUE(first.apply.status.ok());
  EXPECT_EQ(machine_->hosts, (std::set<std::string>{"homelab", "lighthouse", "w-1", "w-2"}));
  for (const auto& node : {"lighthouse", "homelab", "w-1", "w-2"}) {
    EXPECT_TRUE(std::filesystem::exists(ctx.paths.HostCert(node))) << node;
    EXPECT_TRUE(std::filesystem::exists(ctx.paths.NebulaConfig(node))) << node;
  }
  EXPECT_EQ(std::filesystem::status(ctx.paths.CaKey()).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

  UpResult second = UpOk(ctx);
  EXPECT_FALSE(second.plan.HasChanges());
  EXPECT_EQ(second.apply.succeeded, 0);
}

TEST_F(FleetOpsTest, UpRepairsAHostThatVanished) {
  auto ctx = Load();
  UpOk(ctx);
  {
    std::lock_guard<std::mutex> lock(machine_->mu);
    machine_->hosts.erase("w-2");
  }
  UpResult again = UpOk(ctx);
  EXPECT_EQ(
      again.plan.Count(provision::Action::kCreate) + again.plan.Count(provision::Action::kReplace),
      1);
  EXPECT_TRUE(machine_->Has("w-2"));
}

TEST_F(FleetOpsTest, AMeshThatNeverConvergesFailsOnceTheWaitIsOverInSimulatedTime) {
  {
    std::lock_guard<std::mutex> lock(machine_->mu);
    machine_->unreachable.insert("w-1");
  }
  auto ctx = Load();
  const auto before = time_.MonotonicNow();
  auto up = Up(ctx, {.mesh_wait = std::chrono::seconds(15)});
  ASSERT_FALSE(up.ok());
  EXPECT_EQ(up.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(up.status().message(), HasSubstr("the mesh did not converge: w-1 cannot reach"));
  EXPECT_THAT(up.status().message(), HasSubstr("carrierarr doctor"));
  EXPECT_GE(time_.MonotonicNow() - before, std::chrono::seconds(15));
}

TEST_F(FleetOpsTest, DownRemovesEveryHostAndTheState) {
  auto ctx = Load();
  UpOk(ctx);
  auto down = Down(ctx, {});
  ASSERT_TRUE(down.ok()) << down.status().ToString();
  EXPECT_TRUE(down->apply.status.ok());
  EXPECT_TRUE(down->state_removed);
  EXPECT_TRUE(down->leftovers.empty());
  EXPECT_TRUE(machine_->hosts.empty());
  EXPECT_FALSE(std::filesystem::exists(ctx.paths.state_dir));
}

TEST_F(FleetOpsTest, StatusShowsEachNodeWithWhatItsAgentReported) {
  auto fleet_program = FindOwnProgram("carrierarr-fleet");
  ASSERT_TRUE(fleet_program.has_value()) << "carrierarr-fleet is built next to the tests";
  processes_.OnRun({*fleet_program, "nodes", "--json"},
                   FakeProcessRunner::Exit(0, R"({"nodes": [{"node_id": "w-1",
                     "lifecycle": "connected", "last_status": {"health": "HEALTH_STATE_HEALTHY",
                     "resources": {"cpu_percent": 12.5, "memory_total_mb": "1000",
                     "memory_used_mb": "250"}, "gpus": [{}, {}],
                     "k3s_cluster_nodes": [{"name": "w-1", "ready": false,
                       "reason": "KubeletNotReady", "message": "cni plugin not\u001b[2J initialized",
                       "roles": "control-plane", "internal_ip": "10.42.2.1"}]}}]})"));
  auto ctx = Load();
  UpOk(ctx);
  auto status = ReadFleetStatus(ctx);
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_TRUE(status->deployed);
  EXPECT_EQ(status->agents_problem, "");
  ASSERT_EQ(status->nodes.size(), 4u);
  for (const auto& n : status->nodes) {
    EXPECT_TRUE(n.running) << n.name;
    if (n.name != "w-1") continue;
    EXPECT_EQ(n.agent.lifecycle, "connected");
    EXPECT_EQ(n.agent.health, "HEALTHY");
    EXPECT_DOUBLE_EQ(n.agent.cpu_percent, 12.5);
    EXPECT_DOUBLE_EQ(n.agent.memory_percent, 25.0);
    EXPECT_EQ(n.agent.gpus, 2);
    ASSERT_EQ(n.agent.cluster.size(), 1u);
    EXPECT_EQ(n.agent.cluster[0].name, "w-1");
    EXPECT_FALSE(n.agent.cluster[0].ready);
    EXPECT_EQ(n.agent.cluster[0].reason, "KubeletNotReady");
    EXPECT_EQ(n.agent.cluster[0].message, "cni plugin not?[2J initialized") << "no escapes";
    EXPECT_EQ(n.agent.cluster[0].roles, "control-plane");
    EXPECT_EQ(n.agent.cluster[0].internal_ip, "10.42.2.1");
  }
  // It asked the fleet's own control plane, over its unix socket.
  bool asked = false;
  for (const auto& argv : processes_.runs()) {
    if (argv.size() > 4 && argv[1] == "nodes")
      asked = argv[4] == "unix:" + ctx.paths.state_dir + "/control/serve.sock";
  }
  EXPECT_TRUE(asked);
}

TEST_F(FleetOpsTest, StatusSaysWhyAgentReportsAreMissing) {
  auto fleet_program = FindOwnProgram("carrierarr-fleet");
  ASSERT_TRUE(fleet_program.has_value());
  processes_.OnRun({*fleet_program, "nodes"},
                   FakeProcessRunner::Exit(1, "", "Error: cannot reach the control plane"));
  auto ctx = Load();
  UpOk(ctx);
  auto status = ReadFleetStatus(ctx);
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_THAT(status->agents_problem, HasSubstr("cannot reach the control plane"));
}

TEST_F(FleetOpsTest, DoctorWarnsOfCertificatesThatExpireOnTheInjectedClock) {
  auto ctx = Load();
  UpOk(ctx);
  auto fresh = Doctor(ctx);
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  auto expiry = [](const std::vector<DoctorCheck>& checks) {
    for (const auto& c : checks)
      if (c.name == "certificate expiry") return c;
    return DoctorCheck{};
  };
  EXPECT_TRUE(expiry(*fresh).ok);
  EXPECT_EQ(expiry(*fresh).name, "certificate expiry");

  // Ten years on (the CA's lifetime), less a week: everything expires within 30 days.
  time_.Advance(std::chrono::hours(87600) - std::chrono::hours(24 * 7));
  auto later = Doctor(ctx);
  ASSERT_TRUE(later.ok()) << later.status().ToString();
  EXPECT_FALSE(expiry(*later).ok);
  EXPECT_THAT(expiry(*later).detail, HasSubstr("CA ("));
}

}  // namespace
}  // namespace carrierarr::ops
