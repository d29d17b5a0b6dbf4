// The engine: applies plans against FakeWorld, with faults injected, and checks ordering,
// parallelism, failure handling and what the state file records at each instant.
#include "provision/engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/file_util.h"
#include "core/time_source.h"
#include "provision/fake_resource.h"
#include "testing/tools.h"

namespace carrierarr::provision {
namespace {

using ::carrierarr::testing::ScratchDir;
using ::testing::ElementsAre;
using testing::FakeWorld;
using ::testing::HasSubstr;
using testing::MakeFake;
using ::testing::UnorderedElementsAre;
using Type = StepEvent::Type;
using std::chrono::milliseconds;

// Records every event; checks that the engine never runs two handlers at once.
class EventLog {
 public:
  struct Entry {
    Type type;
    std::string id;
    std::string error;
  };

  std::function<void(const StepEvent&)> Handler(milliseconds linger = milliseconds(0)) {
    return [this, linger](const StepEvent& e) {
      int now = ++in_handler_;  // deliberately not under mu_: this is what is being tested
      if (now > 1) overlapped_ = true;
      if (linger.count() > 0) std::this_thread::sleep_for(linger);
      {
        std::lock_guard<std::mutex> lock(mu_);
        entries_.push_back({e.type, e.step->id, e.error});
      }
      cv_.notify_all();
      --in_handler_;
    };
  }

  std::vector<Entry> entries() const {
    std::lock_guard<std::mutex> lock(mu_);
    return entries_;
  }
  int IndexOf(Type type, const std::string& id) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < entries_.size(); ++i) {
      if (entries_[i].type == type && entries_[i].id == id) return static_cast<int>(i);
    }
    return -1;
  }
  std::vector<std::string> Ids(Type type) const {
    std::vector<std::string> ids;
    for (const auto& e : entries()) {
      if (e.type == type) ids.push_back(e.id);
    }
    return ids;
  }
  std::string ErrorOf(Type type, const std::string& id) const {
    for (const auto& e : entries()) {
      if (e.type == type && e.id == id) return e.error;
    }
    return "<no event>";
  }
  bool WaitFor(Type type, const std::string& id) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(5), [&] {
      for (const auto& e : entries_) {
        if (e.type == type && e.id == id) return true;
      }
      return false;
    });
  }
  bool overlapped() const { return overlapped_; }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Entry> entries_;
  std::atomic<int> in_handler_{0};
  std::atomic<bool> overlapped_{false};
};

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = StateStore::Open(dir_.path());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    world_.RegisterDeleter(kinds_);
  }

  Plan MustPlan(const ResourceList& desired, const PlanOptions& options = {}) {
    auto plan = MakePlan(desired, store_->Snapshot(), options);
    EXPECT_TRUE(plan.ok()) << plan.status().ToString();
    return plan.ok() ? *plan : Plan{};
  }

  // Plans against the store and applies the plan.
  ApplyResult PlanAndApply(const ResourceList& desired, int parallelism = 4) {
    plan_ = MustPlan(desired);
    return Apply(plan_, desired, *store_, kinds_,
                 {.parallelism = parallelism, .on_event = events_.Handler()});
  }

  void ExpectConverged(const ResourceList& desired) {
    Plan again = MustPlan(desired);
    for (const auto& s : again.steps) {
      EXPECT_EQ(s.action, Action::kNone) << s.id << ": " << s.reason;
    }
  }

  Phase PhaseOf(const std::string& id) {
    FleetState state = store_->Snapshot();
    auto it = state.resources.find(id);
    EXPECT_NE(it, state.resources.end()) << id << " not recorded";
    return it == state.resources.end() ? Phase::kReady : it->second.phase;
  }
  bool Recorded(const std::string& id) { return store_->Snapshot().resources.count(id) != 0; }

  ScratchDir dir_;
  std::unique_ptr<StateStore> store_;
  FakeWorld world_;
  KindRegistry kinds_;
  EventLog events_;
  Plan plan_;
};

// a; b and c need a; d needs b and c; e on its own.
ResourceList Diamond(FakeWorld& world, const std::string& a_hash = "v1") {
  ResourceList list;
  list.push_back(MakeFake(world, "d", {"b", "c"}));
  list.push_back(MakeFake(world, "e"));
  list.push_back(MakeFake(world, "c", {"a"}));
  list.push_back(MakeFake(world, "b", {"a"}));
  list.push_back(MakeFake(world, "a", {}, a_hash));
  return list;
}

TEST_F(EngineTest, CreatesInDependencyOrderAndRecordsReady) {
  world_.set_create_delay(milliseconds(5));
  ResourceList desired = Diamond(world_);
  ApplyResult result = PlanAndApply(desired);
  ASSERT_TRUE(result.status.ok()) << result.status.ToString();
  EXPECT_EQ(result.succeeded, 5);
  EXPECT_EQ(result.failed, 0);
  EXPECT_EQ(result.skipped, 0);

  for (const auto& r : desired) {
    for (const auto& dep : r->deps()) {
      // Reality: the dependency was made before the dependent's Create began.
      EXPECT_LT(world_.IndexOf("created:" + dep), world_.IndexOf("create:" + r->id()))
          << r->id() << " needs " << dep;
      // Events: the dependency succeeded (state written) before the dependent started.
      EXPECT_LT(events_.IndexOf(Type::kSucceeded, dep), events_.IndexOf(Type::kStarted, r->id()))
          << r->id() << " needs " << dep;
    }
    EXPECT_TRUE(world_.Has(r->id()));
    EXPECT_EQ(world_.Count("create:" + r->id()), 1);
  }

  FleetState state = store_->Snapshot();
  ASSERT_EQ(state.resources.size(), 5u);
  for (const auto& s : plan_.steps) {
    const ResourceRecord& rec = state.resources.at(s.id);
    EXPECT_EQ(rec.phase, Phase::kReady) << s.id;
    EXPECT_EQ(rec.hash, s.hash);
    EXPECT_EQ(rec.kind, testing::kFakeKind);
    EXPECT_EQ(rec.deps, s.deps);
    EXPECT_EQ(rec.attrs["id"], s.id);
    EXPECT_TRUE(rec.attrs.contains("serial")) << "what Create() returned is recorded";
    EXPECT_EQ(rec.attrs["summary"], s.summary);
  }
  ExpectConverged(desired);
}

TEST_F(EngineTest, APoweredOffStepIsRecordedStoppedWithoutBeingMade) {
  ResourceList desired = Diamond(world_);
  plan_ = MustPlan(desired, {.power_managed = {"d"}});
  ApplyResult result = Apply(plan_, desired, *store_, kinds_, {.on_event = events_.Handler()});
  ASSERT_TRUE(result.status.ok()) << result.status.ToString();
  EXPECT_EQ(world_.Count("create:d"), 0) << "the burst controller makes it when it wakes the node";
  EXPECT_EQ(world_.Count("create:b"), 1);
  const ResourceRecord rec = store_->Snapshot().resources.at("d");
  EXPECT_EQ(rec.phase, Phase::kReady);
  EXPECT_TRUE(IsPoweredOff(rec));
  // A second plan leaves it stopped.
  Plan again = MustPlan(desired, {.power_managed = {"d"}});
  EXPECT_FALSE(again.HasChanges());
}

TEST_F(EngineTest, ElapsedTimeIsMeasuredOnTheInjectedClock) {
  SimulatedTimeSource time;
  // Each create "takes" a fixed time on the simulated clock and none of the real one.
  world_.set_on_create([&time](const std::string& id) {
    time.Advance(id == "a" ? std::chrono::seconds(90) : std::chrono::milliseconds(250));
  });
  ResourceList desired;
  desired.push_back(MakeFake(world_, "b", {"a"}));
  desired.push_back(MakeFake(world_, "a"));
  plan_ = MustPlan(desired);
  std::map<std::string, milliseconds> elapsed;
  ApplyResult result = Apply(plan_, desired, *store_, kinds_,
                             {.parallelism = 1,
                              .on_event =
                                  [&elapsed](const StepEvent& e) {
                                    if (e.type == Type::kSucceeded) elapsed[e.step->id] = e.elapsed;
                                  },
                              .time = &time});
  ASSERT_TRUE(result.status.ok()) << result.status.ToString();
  EXPECT_EQ(elapsed["a"], milliseconds(90'000));
  EXPECT_EQ(elapsed["b"], milliseconds(250));
}

TEST_F(EngineTest, IndependentStepsRunInParallel) {
  world_.set_create_delay(milliseconds(40));
  ResourceList desired;
  for (int i = 0; i < 8; ++i) desired.push_back(MakeFake(world_, "r" + std::to_string(i)));
  ApplyResult result = PlanAndApply(desired, /*parallelism=*/4);
  ASSERT_TRUE(result.status.ok()) << result.status.ToString();
  EXPECT_EQ(result.succeeded, 8);
  EXPECT_GT(world_.max_concurrent_creates(), 1);
  EXPECT_LE(world_.max_concurrent_creates(), 4);
}

TEST_F(EngineTest, ParallelismOneRunsOneStepAtATime) {
  world_.set_create_delay(milliseconds(5));
  ResourceList desired;
  for (int i = 0; i < 6; ++i) desired.push_back(MakeFake(world_, "r" + std::to_string(i)));
  ApplyResult result = PlanAndApply(desired, /*parallelism=*/1);
  ASSERT_TRUE(result.status.ok()) << result.status.ToString();
  EXPECT_EQ(result.succeeded, 6);
  EXPECT_EQ(world_.max_concurrent_creates(), 1);
  // One worker takes ready steps in plan order.
  EXPECT_THAT(events_.Ids(Type::kStarted), ElementsAre("r0", "r1", "r2", "r3", "r4", "r5"));
}

TEST_F(EngineTest, NonPositiveParallelismStillRuns) {
  ResourceList desired;
  desired.push_back(MakeFake(world_, "a"));
  desired.push_back(MakeFake(world_, "b"));
  ApplyResult result = PlanAndApply(desired, /*parallelism=*/0);
  ASSERT_TRUE(result.status.ok()) << result.status.ToString();
  EXPECT_EQ(result.succeeded, 2);
  EXPECT_EQ(world_.max_concurrent_creates(), 1);
}

TEST_F(EngineTest, DeletesRunDependentsFirstAndBeforeCreates) {
  ResourceList old_fleet;
  old_fleet.push_back(MakeFake(world_, "x"));
  old_fleet.push_back(MakeFake(world_, "y", {"x"}));
  old_fleet.push_back(MakeFake(world_, "z", {"y"}));
  old_fleet.push_back(MakeFake(world_, "w", {"x"}));
  ASSERT_TRUE(PlanAndApply(old_fleet).status.ok());

  ResourceList desired;
  desired.push_back(MakeFake(world_, "n"));
  ApplyResult result = PlanAndApply(desired);
  ASSERT_TRUE(result.status.ok()) << result.status.ToString();
  EXPECT_EQ(result.succeeded, 5);
  EXPECT_LT(world_.IndexOf("delete:z"), world_.IndexOf("delete:y"));
  EXPECT_LT(world_.IndexOf("delete:y"), world_.IndexOf("delete:x"));
  EXPECT_LT(world_.IndexOf("delete:w"), world_.IndexOf("delete:x"));
  EXPECT_LT(world_.IndexOf("delete:x"), world_.IndexOf("create:n"));
  for (const char* id : {"x", "y", "z", "w"}) {
    EXPECT_FALSE(world_.Has(id)) << id;
    EXPECT_FALSE(Recorded(id)) << id;
  }
  EXPECT_TRUE(world_.Has("n"));
  EXPECT_THAT(store_->Snapshot().resources, ::testing::SizeIs(1));
  ExpectConverged(desired);
}

TEST_F(EngineTest, ReplaceDeletesThenCreates) {
  ASSERT_TRUE(PlanAndApply(Diamond(world_)).status.ok());
  FleetState before = store_->Snapshot();

  const size_t mark = world_.Calls().size();
  ResourceList desired = Diamond(world_, /*a_hash=*/"v2");
  ApplyResult result = PlanAndApply(desired);
  ASSERT_TRUE(result.status.ok()) << result.status.ToString();
  EXPECT_EQ(plan_.Count(Action::kReplace), 4);  // a and everything downstream of it
  EXPECT_EQ(result.succeeded, 8) << "each replace is a delete step and a create step";

  // The second apply's calls, by position.
  std::vector<std::string> all = world_.Calls();
  std::vector<std::string> calls(all.begin() + static_cast<long>(mark), all.end());
  auto at = [&](const std::string& call) {
    auto it = std::find(calls.begin(), calls.end(), call);
    EXPECT_NE(it, calls.end()) << call;
    return it - calls.begin();
  };
  EXPECT_EQ(std::count(calls.begin(), calls.end(), "delete:e"), 0);
  EXPECT_EQ(std::count(calls.begin(), calls.end(), "create:e"), 0);
  // Dependents go first; every delete finishes before any create starts.
  EXPECT_LT(at("delete:d"), at("delete:b"));
  EXPECT_LT(at("delete:d"), at("delete:c"));
  EXPECT_LT(at("delete:b"), at("delete:a"));
  EXPECT_LT(at("delete:c"), at("delete:a"));
  EXPECT_LT(at("delete:a"), at("create:a"));
  EXPECT_LT(at("created:a"), at("create:b"));
  EXPECT_LT(at("created:b"), at("create:d"));
  long last_delete = -1, first_create = static_cast<long>(calls.size());
  for (long i = 0; i < static_cast<long>(calls.size()); ++i) {
    if (calls[i].rfind("delete:", 0) == 0) last_delete = i;
    if (calls[i].rfind("create:", 0) == 0) first_create = std::min(first_create, i);
  }
  EXPECT_LT(last_delete, first_create);
  EXPECT_EQ(world_.HashOf("a"), "v2");
  FleetState after = store_->Snapshot();
  EXPECT_NE(after.resources["a"].hash, before.resources["a"].hash);
  EXPECT_NE(after.resources["d"].hash, before.resources["d"].hash);
  EXPECT_EQ(after.resources["e"].hash, before.resources["e"].hash);
  EXPECT_EQ(after.resources["a"].phase, Phase::kReady);
  ExpectConverged(desired);
}

TEST_F(EngineTest, FailureSkipsDependentsAndEverythingNotYetStarted) {
  ResourceList desired;
  desired.push_back(MakeFake(world_, "a"));
  desired.push_back(MakeFake(world_, "b", {"a"}));
  desired.push_back(MakeFake(world_, "c", {"b"}));
  desired.push_back(MakeFake(world_, "d"));
  world_.FailCreate("a", 1, Status::Unavailable("quota exceeded"));
  ApplyResult result = PlanAndApply(desired, /*parallelism=*/1);

  EXPECT_EQ(result.status.code(), StatusCode::kUnavailable);
  EXPECT_EQ(result.status.message(), "a: quota exceeded");
  EXPECT_EQ(result.succeeded, 0);
  EXPECT_EQ(result.failed, 1);
  EXPECT_EQ(result.skipped, 3);
  EXPECT_EQ(events_.ErrorOf(Type::kFailed, "a"), "quota exceeded");
  EXPECT_THAT(events_.Ids(Type::kSkipped), UnorderedElementsAre("b", "c", "d"));
  EXPECT_EQ(events_.ErrorOf(Type::kSkipped, "b"), "needs a");
  EXPECT_EQ(events_.ErrorOf(Type::kSkipped, "c"), "needs a");
  EXPECT_EQ(events_.ErrorOf(Type::kSkipped, "d"), "an earlier step failed");
  EXPECT_THAT(events_.Ids(Type::kStarted), ElementsAre("a"));
  for (const char* id : {"b", "c", "d"}) {
    EXPECT_EQ(world_.Count(std::string("create:") + id), 0) << id;
    EXPECT_FALSE(Recorded(id)) << id;
  }
  EXPECT_EQ(PhaseOf("a"), Phase::kCreating) << "the intent stays so the next run finishes it";
}

TEST_F(EngineTest, NothingNewStartsAfterAFailureWhileOthersRun) {
  // Two workers: a fails while b is still running; e (needs b) and f would be next.
  ResourceList desired;
  desired.push_back(MakeFake(world_, "a"));
  desired.push_back(MakeFake(world_, "b"));
  desired.push_back(MakeFake(world_, "f"));
  desired.push_back(MakeFake(world_, "e", {"b"}));
  world_.FailCreate("a", 1);
  world_.set_on_create([this](const std::string& id) {
    if (id == "a") {
      EXPECT_TRUE(world_.WaitForCall("create:b")) << "b should start alongside a";
    } else if (id == "b") {
      EXPECT_TRUE(events_.WaitFor(Type::kFailed, "a"));
      std::this_thread::sleep_for(milliseconds(20));  // let a's worker record the failure
    }
  });
  ApplyResult result = PlanAndApply(desired, /*parallelism=*/2);
  EXPECT_EQ(result.status.message(), "a: injected create failure");
  EXPECT_EQ(result.succeeded, 1);
  EXPECT_EQ(result.failed, 1);
  EXPECT_EQ(result.skipped, 2);
  EXPECT_EQ(world_.Count("create:e"), 0);
  EXPECT_EQ(world_.Count("create:f"), 0);
  EXPECT_THAT(events_.Ids(Type::kSkipped), UnorderedElementsAre("e", "f"));
  EXPECT_EQ(PhaseOf("b"), Phase::kReady) << "a step already running is finished and recorded";
}

TEST_F(EngineTest, FirstFailureIsTheOneReported) {
  ResourceList desired;
  desired.push_back(MakeFake(world_, "a"));
  desired.push_back(MakeFake(world_, "b"));
  world_.FailCreate("a", 1, Status::Internal("first"));
  world_.FailCreate("b", 1, Status::Internal("second"));
  world_.set_on_create([this](const std::string& id) {
    if (id == "a") {
      EXPECT_TRUE(world_.WaitForCall("create:b"));
    } else if (id == "b") {
      EXPECT_TRUE(events_.WaitFor(Type::kFailed, "a"));
      std::this_thread::sleep_for(milliseconds(20));  // let a's worker record its failure
    }
  });
  ApplyResult result = PlanAndApply(desired, /*parallelism=*/2);
  EXPECT_EQ(result.failed, 2);
  EXPECT_EQ(result.status.message(), "a: first");
}

TEST_F(EngineTest, StateRecordsCreatingBeforeCreateAndReadyAfter) {
  ResourceList desired = Diamond(world_);
  std::string state_path = store_->state_dir() + "/state.json";
  std::mutex mu;
  std::map<std::string, nlohmann::json> seen;  // id -> its record on disk during Create()
  world_.set_on_create([&](const std::string& id) {
    auto text = ReadFile(state_path);
    ASSERT_TRUE(text.ok()) << text.status().ToString();
    auto on_disk = nlohmann::json::parse(*text);
    std::lock_guard<std::mutex> lock(mu);
    seen[id] = on_disk["resources"][id];
  });
  ApplyResult result = PlanAndApply(desired);
  ASSERT_TRUE(result.status.ok()) << result.status.ToString();
  ASSERT_EQ(seen.size(), 5u);
  for (const auto& s : plan_.steps) {
    const nlohmann::json& during = seen[s.id];
    EXPECT_EQ(during["phase"], "creating") << s.id;
    EXPECT_EQ(during["hash"], s.hash);
    EXPECT_EQ(during["kind"], testing::kFakeKind);
    EXPECT_EQ(during["attrs"]["id"], s.id) << "the deleter's attrs are known before Create";
    EXPECT_FALSE(during["attrs"].contains("serial"));
    EXPECT_EQ(PhaseOf(s.id), Phase::kReady);
  }
  auto after = nlohmann::json::parse(::carrierarr::testing::Slurp(state_path));
  EXPECT_EQ(after["resources"]["d"]["phase"], "ready");
  EXPECT_TRUE(after["resources"]["d"]["attrs"].contains("serial"));
}

TEST_F(EngineTest, SecondApplyAfterAFailureConverges) {
  ResourceList desired = Diamond(world_);
  world_.FailCreate("b", 1);
  ApplyResult first = PlanAndApply(desired, /*parallelism=*/1);
  EXPECT_EQ(first.failed, 1);
  EXPECT_EQ(first.status.message(), "b: injected create failure");
  EXPECT_FALSE(world_.Has("d"));

  plan_ = MustPlan(desired);
  for (const auto& s : plan_.steps) {
    if (s.id == "b") {
      EXPECT_EQ(s.action, Action::kCreate);
      EXPECT_EQ(s.reason, "interrupted while creating; finishing");
    }
    if (s.id == "d") {
      EXPECT_EQ(s.reason, "new");
    }
  }
  ApplyResult second = PlanAndApply(desired);
  ASSERT_TRUE(second.status.ok()) << second.status.ToString();
  EXPECT_EQ(second.failed, 0);
  EXPECT_EQ(second.skipped, 0);
  EXPECT_EQ(world_.Count("create:b"), 2);
  EXPECT_EQ(world_.Count("create:a"), 1) << "what succeeded is not made again";
  for (const auto& r : desired) EXPECT_EQ(PhaseOf(r->id()), Phase::kReady);
  ExpectConverged(desired);
}

TEST_F(EngineTest, ReadBackFailureFailsTheStep) {
  ResourceList desired;
  desired.push_back(MakeFake(world_, "a"));
  desired.push_back(MakeFake(world_, "b", {"a"}));
  world_.LieExists("a", false);
  ApplyResult result = PlanAndApply(desired);
  EXPECT_EQ(result.status.code(), StatusCode::kInternal);
  EXPECT_EQ(result.status.message(),
            "a: created, but reading it back found it missing or different");
  EXPECT_EQ(result.failed, 1);
  EXPECT_EQ(result.skipped, 1);
  EXPECT_TRUE(world_.Has("a"));
  EXPECT_EQ(PhaseOf("a"), Phase::kCreating);
  EXPECT_FALSE(Recorded("b"));

  world_.ClearFaults();
  world_.FailExists("a", Status::Unavailable("timeout"));
  result = PlanAndApply(desired);
  EXPECT_EQ(result.status.code(), StatusCode::kUnavailable);
  EXPECT_EQ(result.status.message(), "a: reading it back: timeout");
}

TEST_F(EngineTest, EventsAreSerialised) {
  world_.set_create_delay(milliseconds(20));
  ResourceList desired;
  for (int i = 0; i < 12; ++i) desired.push_back(MakeFake(world_, "r" + std::to_string(i)));
  plan_ = MustPlan(desired);
  ApplyResult result = Apply(plan_, desired, *store_, kinds_,
                             {.parallelism = 8, .on_event = events_.Handler(milliseconds(2))});
  ASSERT_TRUE(result.status.ok()) << result.status.ToString();
  EXPECT_GT(world_.max_concurrent_creates(), 1) << "workers overlapped, events did not";
  EXPECT_FALSE(events_.overlapped());
  EXPECT_EQ(events_.Ids(Type::kStarted).size(), 12u);
  EXPECT_EQ(events_.Ids(Type::kSucceeded).size(), 12u);
  for (int i = 0; i < 12; ++i) {
    std::string id = "r" + std::to_string(i);
    EXPECT_LT(events_.IndexOf(Type::kStarted, id), events_.IndexOf(Type::kSucceeded, id));
  }
}

TEST_F(EngineTest, DeleteFailureKeepsTheRecordAndStopsTheRun) {
  ResourceList old_fleet;
  old_fleet.push_back(MakeFake(world_, "x"));
  old_fleet.push_back(MakeFake(world_, "y", {"x"}));
  ASSERT_TRUE(PlanAndApply(old_fleet).status.ok());

  ResourceList desired;
  desired.push_back(MakeFake(world_, "n"));
  world_.FailDelete("y", Status::PermissionDenied("busy"));
  ApplyResult result = PlanAndApply(desired);
  EXPECT_EQ(result.status.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(result.status.message(), "y: busy");
  EXPECT_EQ(result.failed, 1);
  EXPECT_EQ(result.skipped, 1);
  EXPECT_EQ(events_.ErrorOf(Type::kSkipped, "x"), "needs y");
  EXPECT_EQ(world_.Count("delete:x"), 0);
  EXPECT_EQ(world_.Count("create:n"), 0) << "creates wait for every delete to succeed";
  EXPECT_EQ(PhaseOf("y"), Phase::kDeleting);
  EXPECT_EQ(PhaseOf("x"), Phase::kReady);

  world_.ClearFaults();
  result = PlanAndApply(desired);
  ASSERT_TRUE(result.status.ok()) << result.status.ToString();
  EXPECT_FALSE(Recorded("x"));
  EXPECT_FALSE(Recorded("y"));
  EXPECT_TRUE(world_.Has("n"));
}

TEST_F(EngineTest, DestroyPlanRemovesEverythingAndDeletersTolerateGoneThings) {
  ResourceList desired = Diamond(world_);
  ASSERT_TRUE(PlanAndApply(desired).status.ok());
  world_.Remove("c");  // already gone: its deleter must still succeed
  Plan destroy = MakeDestroyPlan(store_->Snapshot(), {});
  ApplyResult result = Apply(destroy, {}, *store_, kinds_, {.parallelism = 4});
  ASSERT_TRUE(result.status.ok()) << result.status.ToString();
  EXPECT_EQ(result.succeeded, 5);
  EXPECT_TRUE(store_->Snapshot().resources.empty());
  EXPECT_LT(world_.IndexOf("delete:d"), world_.IndexOf("delete:b"));
  EXPECT_LT(world_.IndexOf("delete:b"), world_.IndexOf("delete:a"));
  EXPECT_TRUE(store_->Erase().ok());
}

TEST_F(EngineTest, UnknownKindCannotBeDeleted) {
  ASSERT_TRUE(store_->Put("q", {"from-the-future", Phase::kReady, "h", {}, {{"id", "q"}}}).ok());
  Plan destroy = MakeDestroyPlan(store_->Snapshot(), {});
  ApplyResult result = Apply(destroy, {}, *store_, kinds_, {});
  EXPECT_EQ(result.status.code(), StatusCode::kInternal);
  EXPECT_THAT(result.status.message(), HasSubstr("q: no deleter for kind 'from-the-future'"));
  EXPECT_TRUE(Recorded("q"));
}

TEST_F(EngineTest, PlanStepWithoutAResourceFails) {
  ResourceList desired;
  desired.push_back(MakeFake(world_, "a"));
  plan_ = MustPlan(desired);
  ApplyResult result = Apply(plan_, {}, *store_, kinds_, {});
  EXPECT_EQ(result.status.code(), StatusCode::kInternal);
  EXPECT_EQ(result.status.message(), "a: plan step without a resource");
}

TEST_F(EngineTest, EmptyPlanDoesNothing) {
  ApplyResult result = Apply(Plan{}, {}, *store_, kinds_, {});
  EXPECT_TRUE(result.status.ok());
  EXPECT_EQ(result.succeeded + result.failed + result.skipped, 0);
  EXPECT_TRUE(world_.Calls().empty());
}

}  // namespace
}  // namespace carrierarr::provision
