// The provider registry as the fleet operations use it: a test registers a provider of its own
// and fleet.yaml, the plan and the enrollment tokens reach it without naming it anywhere else.
#include "providers/registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "core/file_util.h"
#include "ops/fleet_ops.h"
#include "providers/enrollment.h"
#include "provision/file_resources.h"
#include "spec/fleet_reader.h"

namespace carrierarr {
namespace {

using ::testing::HasSubstr;

class FakeMinter final : public providers::EnrollmentMinter {
 public:
  Result<std::string> Mint(const std::string& node, const std::string& /*ttl*/) const override {
    minted.push_back(node);  // BuildDesired adds resources from one thread
    return "token-for-" + node;
  }
  mutable std::vector<std::string> minted;
};

class FakeRules final : public spec::ProviderRules {
 public:
  std::string_view name() const override { return "fake"; }
  void ReadSettings(spec::FleetReader& reader, const YAML::Node& section,
                    spec::FleetSpec& /*fleet*/) const override {
    reader.Map(section, "providers.fake", {});
  }
  void CheckPool(spec::FleetReader& reader, const std::map<std::string, YAML::Node>& keys,
                 const spec::PoolSpec& pool, const std::string& where) const override {
    if (!pool.instance_type.empty())
      reader.Error(keys.at("instance_type").Mark(), where + " has no instance types on fake");
  }
};

// A cloud whose nodes are one resource each; it mints the node's token while planning, which
// is enough to see that the minter it was handed is the context's.
class FakeProvider final : public providers::Provider {
 public:
  std::string name() const override { return "fake"; }
  bool IsCloud() const override { return true; }
  Status CheckEnvironment() const override { return Status::Ok(); }
  std::string LighthouseEndpoint(const spec::FleetSpec&, const mesh::NodePlan&,
                                 const provision::FleetState&) const override {
    return "192.0.2.1:4242";
  }
  providers::NodeFiles NebulaFiles(const providers::FleetPaths& paths,
                                   const mesh::NodePlan& node) const override {
    return {
        .ca = paths.CaCert(), .cert = paths.HostCert(node.name), .key = paths.HostKey(node.name)};
  }
  std::string RunningResourceId(const mesh::NodePlan& node) const override {
    return "fake/" + node.name;
  }
  void AddNodeResources(const providers::NodeRequest& r,
                        provision::ResourceList& out) const override {
    auto token = r.enrollment->Mint(r.node.name, "1h");
    out.push_back(provision::MakeFileResource(RunningResourceId(r.node), "fake node",
                                              r.paths.state_dir + "/" + r.node.name,
                                              token.ok() ? *token : "", r.deps));
  }
  void RegisterKinds(provision::KindRegistry&) const override {}
  std::map<std::string, providers::NodeObservation> ObserveNodes(const spec::FleetSpec&,
                                                                 const provision::FleetState&,
                                                                 const std::vector<mesh::NodePlan>&,
                                                                 uint32_t,
                                                                 uint32_t) const override {
    return {};
  }
};

const FakeRules kFakeRules;

providers::ProviderRegistry WithFake() {
  std::vector<providers::ProviderEntry> entries;
  entries.push_back(providers::ProviderRegistry::BuiltIn().entries().front());  // the default
  entries.push_back({"fake", "a test's provider",
                     [](const Seams&) { return std::make_unique<FakeProvider>(); }, &kFakeRules});
  return providers::ProviderRegistry(std::move(entries));
}

constexpr char kFleet[] =
    "name: reg\npools:\n  - name: f\n    type: cpu-worker\n    count: 2\n    provider: fake\n";

TEST(ProviderRegistryTest, TheDefaultComesFirst) {
  EXPECT_EQ(providers::ProviderNames().front(), "local");
  auto unknown = providers::MakeProvider("fake", Seams{});
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.status().message(), HasSubstr("known: local, aws"));
}

TEST(ProviderRegistryTest, FleetYamlKnowsTheRegisteredProvidersOnly) {
  auto built_in = spec::ParseFleet(kFleet, "fleet.yaml", providers::FleetRules());
  ASSERT_FALSE(built_in.ok());
  EXPECT_THAT(built_in.status().message(),
              HasSubstr("fleet.yaml:6:15: pool 'f'.provider 'fake' is not available; "
                        "providers: local, aws"));

  const auto registry = WithFake();
  auto fleet = spec::ParseFleet(kFleet, "fleet.yaml", registry.FleetRules());
  ASSERT_TRUE(fleet.ok()) << fleet.status().message();
  EXPECT_TRUE(fleet->UsesProvider("fake"));

  // Its own section and its own pool checks.
  auto typed =
      spec::ParseFleet(std::string(kFleet) + "    instance_type: big\nproviders:\n  fake: {}\n",
                       "fleet.yaml", registry.FleetRules());
  ASSERT_FALSE(typed.ok());
  EXPECT_THAT(typed.status().message(),
              HasSubstr("fleet.yaml:7:20: pool 'f' has no instance types"));
  auto aws = spec::ParseFleet("providers:\n  aws: {}\n", "fleet.yaml", registry.FleetRules());
  ASSERT_FALSE(aws.ok());
  EXPECT_THAT(aws.status().message(), HasSubstr("unknown key 'aws' in providers"));
}

TEST(ProviderRegistryTest, TheRegistrysFirstProviderIsTheDefault) {
  // Nothing outside the registry names the default: a registry that lists "fake" first makes it
  // the provider of every node that fleet.yaml gives none.
  const spec::ProviderRulesList fake_first = {
      &kFakeRules, providers::ProviderRegistry::BuiltIn().entries().front().rules};
  auto fleet = spec::ParseFleet("name: reg\npools:\n  - name: f\n    type: cpu-worker\n",
                                "fleet.yaml", fake_first);
  ASSERT_TRUE(fleet.ok()) << fleet.status().message();
  EXPECT_EQ(fleet->lighthouse.provider, "fake");
  EXPECT_EQ(fleet->homelab.provider, "fake");
  ASSERT_EQ(fleet->pools.size(), 1u);
  EXPECT_EQ(fleet->pools[0].provider, "fake");
}

TEST(ProviderRegistryTest, ThePlanReachesTheProviderAndTheInjectedMinter) {
  const std::string dir = ::testing::TempDir() + "/registry_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(WriteFileAtomic(dir + "/fleet.yaml", kFleet, 0600).ok());
  const auto registry = WithFake();
  auto ctx = ops::LoadContext(dir + "/fleet.yaml", Seams{}, registry);
  ASSERT_TRUE(ctx.ok()) << ctx.status().message();
  auto minter = std::make_shared<FakeMinter>();
  ctx->enrollment = minter;
  auto desired = ops::BuildDesired(*ctx, {});
  ASSERT_TRUE(desired.ok()) << desired.status().message();
  std::map<std::string, std::string> fake_nodes;
  for (const auto& r : desired->resources) {
    if (r->id().rfind("fake/", 0) == 0) fake_nodes[r->id()] = r->summary();
  }
  EXPECT_EQ(fake_nodes.size(), 2u);
  EXPECT_THAT(minter->minted, ::testing::ElementsAre("f-1", "f-2"));
  // A cloud node waits for no lighthouse process: only its certificate and config.
  for (const auto& r : desired->resources) {
    if (r->id() != "fake/f-1") continue;
    EXPECT_THAT(r->deps(), ::testing::ElementsAre("cert/f-1", "config/f-1"));
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace carrierarr
