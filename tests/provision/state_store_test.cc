// The state store: a private directory, an exclusive lock, and a state file that is rewritten
// atomically after every change and read back exactly.
#include "provision/state_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "core/file_util.h"
#include "testing/tools.h"

namespace carrierarr::provision {
namespace {

using ::carrierarr::testing::Entries;
using ::carrierarr::testing::ModeOf;
using ::carrierarr::testing::ScratchDir;
using ::carrierarr::testing::Slurp;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::unique_ptr<StateStore> MustOpen(const std::string& dir) {
  auto store = StateStore::Open(dir);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(*store) : nullptr;
}

ResourceRecord SampleRecord() {
  return {"netns",
          Phase::kReady,
          "0123456789abcdef",
          {"ca", "cert/gpu-1"},
          nlohmann::json::parse(R"({"name": "gpu-1", "pid": 4242, "nested": {"list": [1, "two",
              null, true], "empty": {}}, "summary": "network namespace gpu-1"})")};
}

TEST(StateStoreTest, OpenCreatesPrivateDirectory) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->state_dir(), dir / ".carrierarr");
  EXPECT_EQ(ModeOf(dir / ".carrierarr"), 0700);
  EXPECT_THAT(Entries(store->state_dir()), ElementsAre("lock")) << "no state until a change";
  FleetState state = store->Snapshot();
  EXPECT_EQ(state.version, 1);
  EXPECT_TRUE(state.fleet.empty());
  EXPECT_TRUE(state.resources.empty());
  EXPECT_TRUE(state.addresses.empty());
}

TEST(StateStoreTest, StateRoundTripsThroughAPrivateFile) {
  ScratchDir dir;
  FleetState written;
  {
    auto store = MustOpen(dir.path());
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(
        store->SetAddresses("homelab", {{"lighthouse", 0x0a2a0001}, {"gpu-1", 0x0a2a0201}}).ok());
    ASSERT_TRUE(store->Put("netns/gpu-1", SampleRecord()).ok());
    ASSERT_TRUE(store->Put("ca", {"pki-ca", Phase::kCreating, "h", {}, {{"k", "v"}}}).ok());
    ASSERT_TRUE(store->SetPhase("ca", Phase::kDeleting).ok());
    written = store->Snapshot();

    std::string path = store->state_dir() + "/state.json";
    EXPECT_EQ(ModeOf(path), 0600);
    EXPECT_THAT(Entries(store->state_dir()), ElementsAre("lock", "state.json"))
        << "no temporary files left behind";
    auto on_disk = nlohmann::json::parse(Slurp(path));
    EXPECT_EQ(on_disk["version"], 1);
    EXPECT_EQ(on_disk["fleet"], "homelab");
    EXPECT_EQ(on_disk["addresses"]["gpu-1"], "10.42.2.1");
    EXPECT_EQ(on_disk["resources"]["ca"]["phase"], "deleting");
    EXPECT_EQ(on_disk["resources"]["netns/gpu-1"]["attrs"]["nested"]["list"][1], "two");
  }
  auto reopened = MustOpen(dir.path());
  ASSERT_NE(reopened, nullptr);
  FleetState read = reopened->Snapshot();
  EXPECT_EQ(read.fleet, "homelab");
  EXPECT_EQ(read.addresses, written.addresses);
  ASSERT_EQ(read.resources.size(), 2u);
  const ResourceRecord& r = read.resources["netns/gpu-1"];
  EXPECT_EQ(r.kind, "netns");
  EXPECT_EQ(r.phase, Phase::kReady);
  EXPECT_EQ(r.hash, "0123456789abcdef");
  EXPECT_THAT(r.deps, ElementsAre("ca", "cert/gpu-1"));
  EXPECT_EQ(r.attrs, SampleRecord().attrs);
  EXPECT_EQ(read.resources["ca"].phase, Phase::kDeleting);
  EXPECT_EQ(StateToJson(read), StateToJson(written));
}

TEST(StateStoreTest, JsonConversionRoundTrips) {
  FleetState state;
  state.fleet = "f";
  state.addresses = {{"a", 0xc0a80001}};
  state.resources["x"] = SampleRecord();
  auto back = StateFromJson(StateToJson(state));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(StateToJson(*back), StateToJson(state));
  EXPECT_EQ(back->addresses.at("a"), 0xc0a80001u);
}

TEST(StateStoreTest, SecondOpenFailsFastWhileTheLockIsHeld) {
  ScratchDir dir;
  auto first = MustOpen(dir.path());
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(first->Put("x", SampleRecord()).ok());

  auto start = std::chrono::steady_clock::now();
  auto second = StateStore::Open(dir.path());
  auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr(dir / ".carrierarr/lock"));
  EXPECT_THAT(second.status().message(), HasSubstr("(pid " + std::to_string(::getpid()) + ")"));
  EXPECT_LT(waited, std::chrono::seconds(1)) << "must not block on the lock";

  first.reset();
  auto third = MustOpen(dir.path());
  ASSERT_NE(third, nullptr);
  EXPECT_EQ(third->Snapshot().resources.count("x"), 1u);
}

TEST(StateStoreTest, CorruptStateIsDataLossWithAdvice) {
  ScratchDir dir;
  { ASSERT_NE(MustOpen(dir.path()), nullptr); }
  std::string path = dir / ".carrierarr/state.json";
  for (const std::string& text : {
           std::string("{\"version\": 1, \"fleet\": \"f\", \"addr"),         // torn / not JSON
           std::string("[1, 2, 3]"),                                         // wrong shape
           std::string(R"({"version": 1, "fleet": "f", "addresses": {}})"),  // field missing
           std::string(R"({"version": 1, "fleet": "f", "addresses": {"a": "10.0.0.300"},
                          "resources": {}})"),
           std::string(R"({"version": 1, "fleet": "f", "addresses": {}, "resources":
                          {"x": {"kind": "k", "phase": "half", "hash": "", "deps": [],
                          "attrs": {}}}})"),
       }) {
    ASSERT_TRUE(WriteFileAtomic(path, text, 0600).ok());
    auto store = StateStore::Open(dir.path());
    ASSERT_FALSE(store.ok()) << text;
    EXPECT_EQ(store.status().code(), StatusCode::kDataLoss) << text;
    EXPECT_THAT(store.status().message(), HasSubstr(path + ": "));
    EXPECT_THAT(store.status().message(), HasSubstr("restore it from a backup"));
    EXPECT_EQ(Slurp(path), text) << "a corrupt file is never overwritten";
  }
  // The failed opens released the lock.
  ASSERT_EQ(::unlink(path.c_str()), 0);
  EXPECT_NE(MustOpen(dir.path()), nullptr);
}

TEST(StateStoreTest, NewerVersionIsFailedPrecondition) {
  nlohmann::json j = StateToJson(FleetState{});
  j["version"] = 2;
  auto parsed = StateFromJson(j);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(parsed.status().message(), HasSubstr("state version 2"));

  // Open must say the same, not call a newer file corrupt and advise removing it.
  ScratchDir dir;
  { ASSERT_NE(MustOpen(dir.path()), nullptr); }
  std::string path = dir / ".carrierarr/state.json";
  ASSERT_TRUE(WriteFileAtomic(path, j.dump(), 0600).ok());
  auto store = StateStore::Open(dir.path());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr(path));
  EXPECT_THAT(store.status().message(), HasSubstr("upgrade"));
  EXPECT_THAT(store.status().message(), ::testing::Not(HasSubstr("remove it")));
}

TEST(StateStoreTest, ConcurrentPutsLeaveAConsistentFile) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_NE(store, nullptr);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 6;
  std::string path = store->state_dir() + "/state.json";
  std::atomic<bool> done{false};
  std::atomic<int> torn_reads{0};
  std::atomic<int> reads{0};
  // Readers never see a half-written file: each read is some complete earlier state.
  std::thread reader([&] {
    while (!done.load()) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));  // leave the CPU to writers
      auto text = ReadFile(path);
      if (!text.ok()) continue;
      ++reads;
      auto j = nlohmann::json::parse(*text, nullptr, false);
      if (j.is_discarded() || !StateFromJson(j).ok()) ++torn_reads;
    }
  });
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string id = "r" + std::to_string(t) + "-" + std::to_string(i);
        ResourceRecord record = SampleRecord();
        record.attrs["writer"] = t;
        if (!store->Put(id, record).ok()) ++failures;
        if (i % 3 == 0 && !store->SetPhase(id, Phase::kCreating).ok()) ++failures;
      }
    });
  }
  for (auto& w : writers) w.join();
  done = true;
  reader.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(reads.load(), 0) << "the reader never saw the file";
  EXPECT_EQ(torn_reads.load(), 0) << "of " << reads.load() << " reads";
  EXPECT_EQ(store->Snapshot().resources.size(), size_t{kThreads * kPerThread});

  FleetState in_memory = store->Snapshot();
  store.reset();
  auto reopened = MustOpen(dir.path());
  ASSERT_NE(reopened, nullptr);
  FleetState on_disk = reopened->Snapshot();
  EXPECT_EQ(on_disk.resources.size(), size_t{kThreads * kPerThread});
  EXPECT_EQ(StateToJson(on_disk), StateToJson(in_memory));
  EXPECT_EQ(on_disk.resources["r3-3"].phase, Phase::kCreating);
  EXPECT_EQ(on_disk.resources["r3-4"].phase, Phase::kReady);
}

TEST(StateStoreTest, SetPhaseAndRemove) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_NE(store, nullptr);
  Status missing = store->SetPhase("nope", Phase::kReady);
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.message(), HasSubstr("nope"));
  ASSERT_TRUE(store->Put("x", SampleRecord()).ok());
  ASSERT_TRUE(store->Remove("x").ok());
  EXPECT_TRUE(store->Remove("x").ok()) << "removing what is gone is fine";
  EXPECT_TRUE(store->Snapshot().resources.empty());
  auto on_disk = nlohmann::json::parse(Slurp(store->state_dir() + "/state.json"));
  EXPECT_TRUE(on_disk["resources"].empty());
}

TEST(StateStoreTest, EraseRefusesWhileResourcesRemain) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->Erase().ok()) << "nothing to erase yet";
  ASSERT_TRUE(store->SetAddresses("f", {{"a", 1}}).ok());
  ASSERT_TRUE(store->Put("x", SampleRecord()).ok());
  std::string path = store->state_dir() + "/state.json";

  Status refused = store->Erase();
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.message(), HasSubstr("still lists 1 resources"));
  EXPECT_TRUE(PathExists(path));
  EXPECT_EQ(store->Snapshot().fleet, "f");

  ASSERT_TRUE(store->Remove("x").ok());
  ASSERT_TRUE(store->Erase().ok());
  EXPECT_FALSE(PathExists(path));
  EXPECT_TRUE(store->Snapshot().fleet.empty());
  EXPECT_TRUE(store->Snapshot().addresses.empty());
}

TEST(StateStoreTest, EraseRemovesTemporaryFilesOfAKilledWrite) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->SetAddresses("f", {}).ok());
  std::string leftover = store->state_dir() + "/state.json.tmp-Ab12Cd";
  ASSERT_TRUE(WriteFileAtomic(leftover, "{", 0600).ok());
  ASSERT_TRUE(WriteFileAtomic(store->state_dir() + "/keep.me", "x", 0600).ok());
  ASSERT_TRUE(store->Erase().ok());
  EXPECT_THAT(Entries(store->state_dir()), ElementsAre("keep.me", "lock"));
}

TEST(StateStoreTest, PhaseNames) {
  EXPECT_EQ(PhaseName(Phase::kCreating), "creating");
  EXPECT_EQ(PhaseName(Phase::kReady), "ready");
  EXPECT_EQ(PhaseName(Phase::kDeleting), "deleting");
}

}  // namespace
}  // namespace carrierarr::provision
