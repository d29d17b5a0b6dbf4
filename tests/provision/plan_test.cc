// Planning: the diff between desired resources, the state file and reality, and the orders in
// which it must be applied.
#include "provision/plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "provision/fake_resource.h"

namespace carrierarr::provision {
namespace {

using ::testing::ElementsAre;
using testing::FakeWorld;
using ::testing::HasSubstr;
using testing::MakeFake;

const Step* Find(const Plan& plan, const std::string& id) {
  for (const auto& s : plan.steps) {
    if (s.id == id) return &s;
  }
  ADD_FAILURE() << "no step " << id;
  static const Step kMissing;
  return &kMissing;
}

std::vector<std::string> Ids(const Plan& plan) {
  std::vector<std::string> ids;
  for (const auto& s : plan.steps) ids.push_back(s.id);
  return ids;
}

std::vector<std::string> IdsWith(const Plan& plan, Action action) {
  std::vector<std::string> ids;
  for (const auto& s : plan.steps) {
    if (s.action == action) ids.push_back(s.id);
  }
  return ids;
}

int Position(const Plan& plan, const std::string& id) {
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    if (plan.steps[i].id == id) return static_cast<int>(i);
  }
  return -1;
}

ResourceRecord Record(Phase phase, const std::string& hash, std::vector<std::string> deps = {},
                      const std::string& kind = testing::kFakeKind) {
  return {kind, phase, hash, std::move(deps), {{"summary", "old " + kind}}};
}

Plan MustPlan(const ResourceList& desired, const FleetState& state,
              const PlanOptions& options = {}) {
  auto plan = MakePlan(desired, state, options);
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  return plan.ok() ? *plan : Plan{};
}

// The state after a successful apply of `desired`: every resource ready and present.
FleetState Converged(const ResourceList& desired, FakeWorld& world) {
  Plan plan = MustPlan(desired, {}, {.observe = false});
  FleetState state;
  for (const auto& s : plan.steps) {
    state.resources[s.id] = {s.kind, Phase::kReady, s.hash, s.deps, {{"summary", s.summary}}};
  }
  for (const auto& r : desired) world.Make(r->id(), r->hash());
  return state;
}

// a <- b <- c, and d on its own.
ResourceList Chain(FakeWorld& world, const std::string& a_hash = "v1") {
  ResourceList list;
  list.push_back(MakeFake(world, "c", {"b"}));
  list.push_back(MakeFake(world, "b", {"a"}));
  list.push_back(MakeFake(world, "a", {}, a_hash));
  list.push_back(MakeFake(world, "d"));
  return list;
}

TEST(PlanTest, NewResourcesAreCreatedInDependencyOrder) {
  FakeWorld world;
  ResourceList desired = Chain(world);
  Plan plan = MustPlan(desired, {});
  ASSERT_EQ(plan.steps.size(), 4u);
  EXPECT_LT(Position(plan, "a"), Position(plan, "b"));
  EXPECT_LT(Position(plan, "b"), Position(plan, "c"));
  for (const auto& s : plan.steps) {
    EXPECT_EQ(s.action, Action::kCreate) << s.id;
    EXPECT_EQ(s.reason, "new") << s.id;
    EXPECT_EQ(s.kind, testing::kFakeKind);
    EXPECT_EQ(s.summary, "fake " + s.id + " v1");
    EXPECT_EQ(s.hash.size(), 16u) << "a 64-bit hex digest, not the raw inputs";
  }
  EXPECT_THAT(Find(plan, "c")->deps, ElementsAre("b"));
  EXPECT_EQ(plan.Count(Action::kCreate), 4);
  EXPECT_TRUE(plan.HasChanges());
  // Nothing recorded yet, so nothing was read back.
  EXPECT_TRUE(world.Calls().empty());
}

TEST(PlanTest, PlansAreDeterministic) {
  FakeWorld world;
  ResourceList desired = Chain(world);
  Plan first = MustPlan(desired, {});
  Plan second = MustPlan(desired, {});
  EXPECT_EQ(Ids(first), Ids(second));
  for (size_t i = 0; i < first.steps.size(); ++i) {
    EXPECT_EQ(first.steps[i].hash, second.steps[i].hash);
  }
  // Ties go to listing order: a and d are ready first, in the order they were listed.
  EXPECT_THAT(Ids(first), ElementsAre("a", "d", "b", "c"));
}

TEST(PlanTest, ConvergedStateIsUnchanged) {
  FakeWorld world;
  ResourceList desired = Chain(world);
  FleetState state = Converged(desired, world);
  Plan plan = MustPlan(desired, state);
  ASSERT_EQ(plan.steps.size(), 4u);
  for (const auto& s : plan.steps) {
    EXPECT_EQ(s.action, Action::kNone) << s.id << ": " << s.reason;
    EXPECT_EQ(ActionName(s.action), "unchanged");
  }
  EXPECT_FALSE(plan.HasChanges());
  EXPECT_EQ(world.Count("exists:a"), 1) << "observe reads every recorded resource back";
}

// A scaled pool's node beyond min: its running resources are the burst controller's.
TEST(PlanTest, PowerManagedResourcesStartStoppedAndStayStopped) {
  FakeWorld world;
  ResourceList desired = Chain(world);
  const PlanOptions options{.power_managed = {"b", "c"}};
  Plan fresh = MustPlan(desired, {}, options);
  EXPECT_EQ(Find(fresh, "b")->action, Action::kCreate);
  EXPECT_TRUE(Find(fresh, "b")->power_off);
  EXPECT_EQ(Find(fresh, "b")->reason, "new; stopped until the burst controller wakes it");
  EXPECT_FALSE(Find(fresh, "a")->power_off);

  // Recorded powered off: left as it is, and what depends on it is not re-made; reality is
  // not read (nothing runs, on purpose).
  FleetState state = Converged(desired, world);
  state.resources["b"].attrs[kPoweredOff] = true;
  state.resources["c"].attrs[kPoweredOff] = true;
  world.Remove("b");
  world.Remove("c");
  Plan stopped = MustPlan(desired, state, options);
  EXPECT_FALSE(stopped.HasChanges());
  EXPECT_EQ(Find(stopped, "b")->reason, "stopped (scaled to zero)");
  EXPECT_EQ(world.Count("exists:b"), 0);

  // Its inputs changed: replaced, and still stopped.
  ResourceList changed;
  changed.push_back(MakeFake(world, "c", {"b"}));
  changed.push_back(MakeFake(world, "b", {"a"}, "v2"));
  changed.push_back(MakeFake(world, "a"));
  changed.push_back(MakeFake(world, "d"));
  Plan replaced = MustPlan(changed, state, options);
  EXPECT_EQ(Find(replaced, "b")->action, Action::kReplace);
  EXPECT_TRUE(Find(replaced, "b")->power_off);
  EXPECT_EQ(Find(replaced, "c")->action, Action::kReplace);
  EXPECT_TRUE(Find(replaced, "c")->power_off);

  // Woken (no longer powered off) and then gone: made again, as any drifted resource.
  state.resources["b"].attrs.erase(kPoweredOff);
  Plan woken = MustPlan(desired, state, options);
  EXPECT_EQ(Find(woken, "b")->action, Action::kCreate);
  EXPECT_FALSE(Find(woken, "b")->power_off);
}

TEST(PlanTest, WithoutObserveRealityIsNotRead) {
  FakeWorld world;
  ResourceList desired = Chain(world);
  FleetState state = Converged(desired, world);
  world.Remove("a");
  Plan plan = MustPlan(desired, state, {.observe = false});
  EXPECT_FALSE(plan.HasChanges());
  EXPECT_EQ(world.Count("exists:a"), 0);
}

TEST(PlanTest, OwnHashChangeReplacesOnlyItAndItsDependents) {
  FakeWorld world;
  FleetState state = Converged(Chain(world), world);
  ResourceList desired;
  desired.push_back(MakeFake(world, "c", {"b"}, "v2"));  // only the leaf changed
  desired.push_back(MakeFake(world, "b", {"a"}));
  desired.push_back(MakeFake(world, "a"));
  desired.push_back(MakeFake(world, "d"));
  Plan plan = MustPlan(desired, state);
  EXPECT_THAT(IdsWith(plan, Action::kReplace), ElementsAre("c"));
  EXPECT_EQ(Find(plan, "c")->reason, "inputs changed");
  EXPECT_NE(Find(plan, "c")->hash, state.resources["c"].hash);
  EXPECT_EQ(Find(plan, "a")->action, Action::kNone);
  EXPECT_EQ(Find(plan, "b")->action, Action::kNone);
}

TEST(PlanTest, UpstreamHashChangeCascadesToDependents) {
  FakeWorld world;
  FleetState state = Converged(Chain(world), world);
  ResourceList desired = Chain(world, /*a_hash=*/"v2");
  Plan plan = MustPlan(desired, state);
  // b and c did not change themselves, but their effective hash folds in a's.
  EXPECT_THAT(IdsWith(plan, Action::kReplace), ElementsAre("a", "b", "c"));
  EXPECT_EQ(Find(plan, "d")->action, Action::kNone);
  EXPECT_EQ(Find(plan, "d")->hash, state.resources["d"].hash);
  EXPECT_EQ(plan.Count(Action::kReplace), 3);
  EXPECT_EQ(ActionSymbol(Action::kReplace), '~');
}

TEST(PlanTest, EffectiveHashDependsOnDependencies) {
  FakeWorld world;
  ResourceList desired;
  desired.push_back(MakeFake(world, "x", {}, "same"));
  desired.push_back(MakeFake(world, "y", {}, "other"));
  desired.push_back(MakeFake(world, "p", {"x"}, "leaf"));
  desired.push_back(MakeFake(world, "q", {"y"}, "leaf"));
  desired.push_back(MakeFake(world, "r", {}, "leaf"));
  Plan plan = MustPlan(desired, {});
  EXPECT_NE(Find(plan, "p")->hash, Find(plan, "q")->hash);
  EXPECT_NE(Find(plan, "p")->hash, Find(plan, "r")->hash);
  EXPECT_NE(Find(plan, "x")->hash, Find(plan, "y")->hash);
}

TEST(PlanTest, InterruptedPhasesAreCreatedAgain) {
  FakeWorld world;
  ResourceList desired = Chain(world);
  FleetState state = Converged(desired, world);
  state.resources["a"].phase = Phase::kCreating;
  state.resources["d"].phase = Phase::kDeleting;
  state.resources["d"].hash = "stale";  // the phase wins over the hash comparison
  Plan plan = MustPlan(desired, state);
  EXPECT_EQ(Find(plan, "a")->action, Action::kCreate);
  EXPECT_EQ(Find(plan, "a")->reason, "interrupted while creating; finishing");
  EXPECT_EQ(Find(plan, "d")->action, Action::kCreate);
  EXPECT_EQ(Find(plan, "d")->reason, "interrupted while deleting; making it again");
  EXPECT_EQ(world.Count("exists:a"), 0) << "an interrupted create is finished without asking";
}

TEST(PlanTest, DriftIsCreatedAgain) {
  FakeWorld world;
  ResourceList desired = Chain(world);
  FleetState state = Converged(desired, world);
  world.Remove("b");
  world.Make("d", "edited by hand");
  Plan plan = MustPlan(desired, state);
  EXPECT_EQ(Find(plan, "b")->action, Action::kCreate);
  EXPECT_EQ(Find(plan, "b")->reason, "missing or changed outside carrierarr");
  EXPECT_EQ(Find(plan, "d")->action, Action::kCreate);
  EXPECT_EQ(Find(plan, "a")->action, Action::kNone);
}

TEST(PlanTest, WhatDependsOnARemadeResourceIsRemadeToo) {
  FakeWorld world;
  ResourceList desired = Chain(world);
  FleetState state = Converged(desired, world);
  world.Remove("a");  // e.g. the CA's key was lost: the CA is made anew, with equal inputs
  Plan plan = MustPlan(desired, state);
  EXPECT_EQ(Find(plan, "a")->action, Action::kCreate);
  // b and c still exist and have unchanged inputs, but were made from the old a.
  EXPECT_EQ(Find(plan, "b")->action, Action::kReplace);
  EXPECT_EQ(Find(plan, "b")->reason, "re-made with a");
  EXPECT_EQ(Find(plan, "c")->action, Action::kReplace);
  EXPECT_EQ(Find(plan, "c")->reason, "re-made with b");
  EXPECT_EQ(Find(plan, "d")->action, Action::kNone);
}

TEST(PlanTest, ReadBackErrorIsCreatedWithTheReason) {
  FakeWorld world;
  ResourceList desired = Chain(world);
  FleetState state = Converged(desired, world);
  world.FailExists("a", Status::Unavailable("api is down"));
  Plan plan = MustPlan(desired, state);
  EXPECT_EQ(Find(plan, "a")->action, Action::kCreate);
  EXPECT_EQ(Find(plan, "a")->reason, "cannot read it back (api is down)");
}

TEST(PlanTest, RecordedButNotDesiredIsDeletedDependentsFirst) {
  FakeWorld world;
  FleetState state;
  // Inserted into a map, so id order (x < y < z) is the opposite of the needed order.
  state.resources["x"] = Record(Phase::kReady, "hx");
  state.resources["y"] = Record(Phase::kReady, "hy", {"x"});
  state.resources["z"] = Record(Phase::kCreating, "hz", {"y"});
  state.resources["w"] = Record(Phase::kReady, "hw", {}, "other-kind");
  ResourceList desired;
  desired.push_back(MakeFake(world, "n"));
  Plan plan = MustPlan(desired, state);
  ASSERT_EQ(plan.steps.size(), 5u);
  EXPECT_EQ(plan.Count(Action::kDelete), 4);
  EXPECT_LT(Position(plan, "z"), Position(plan, "y"));
  EXPECT_LT(Position(plan, "y"), Position(plan, "x"));
  EXPECT_EQ(Position(plan, "n"), 4) << "deletions come first";
  const Step* y = Find(plan, "y");
  EXPECT_EQ(y->reason, "no longer in fleet.yaml");
  EXPECT_EQ(y->summary, "old fake");
  EXPECT_EQ(y->hash, "hy");
  EXPECT_THAT(y->deps, ElementsAre("x"));
  EXPECT_EQ(Find(plan, "w")->kind, "other-kind");
  EXPECT_EQ(ActionSymbol(Action::kDelete), '-');
}

TEST(PlanTest, TargetPullsInDependenciesOnly) {
  FakeWorld world;
  ResourceList desired = Chain(world);
  FleetState state;
  state.resources["old"] = Record(Phase::kReady, "h");
  Plan plan = MustPlan(desired, state, {.targets = {"b"}});
  EXPECT_THAT(IdsWith(plan, Action::kCreate), ElementsAre("a", "b"));
  EXPECT_EQ(Find(plan, "c")->action, Action::kNone);
  EXPECT_EQ(Find(plan, "c")->reason, "not targeted");
  EXPECT_EQ(Find(plan, "d")->reason, "not targeted");
  EXPECT_EQ(plan.Count(Action::kDelete), 0) << "an untargeted record is kept";

  // A recorded-only id can be targeted, and is then deleted.
  Plan deletion = MustPlan(desired, state, {.targets = {"old"}});
  EXPECT_THAT(IdsWith(deletion, Action::kDelete), ElementsAre("old"));
  EXPECT_EQ(deletion.Count(Action::kCreate), 0);
}

TEST(PlanTest, UnknownTargetIsInvalidArgument) {
  FakeWorld world;
  auto plan = MakePlan(Chain(world), {}, {.targets = {"a", "nope"}});
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(plan.status().message(), HasSubstr("--target nope"));
}

TEST(PlanTest, SkipKindsLeavesThoseResourcesAlone) {
  FakeWorld world;
  ResourceList desired = Chain(world);
  desired.push_back(MakeFake(world, "slow", {}, "v1", "vm"));
  FleetState state;
  state.resources["old-vm"] = Record(Phase::kReady, "h", {}, "vm");
  state.resources["old"] = Record(Phase::kReady, "h");
  Plan plan = MustPlan(desired, state, {.skip_kinds = {"vm"}});
  EXPECT_EQ(Find(plan, "slow")->action, Action::kNone);
  EXPECT_EQ(Find(plan, "slow")->reason, "skipped");
  EXPECT_EQ(Position(plan, "old-vm"), -1);
  EXPECT_THAT(IdsWith(plan, Action::kDelete), ElementsAre("old"));
  EXPECT_EQ(plan.Count(Action::kCreate), 4);
}

TEST(PlanTest, SkipDeletesKeepsRecordedResources) {
  FakeWorld world;
  FleetState state;
  state.resources["old"] = Record(Phase::kReady, "h");
  Plan plan = MustPlan(Chain(world), state, {.skip_deletes = true});
  EXPECT_EQ(plan.Count(Action::kDelete), 0);
  EXPECT_EQ(plan.Count(Action::kCreate), 4);
}

TEST(PlanTest, CycleIsInternalError) {
  FakeWorld world;
  ResourceList desired;
  desired.push_back(MakeFake(world, "free"));
  desired.push_back(MakeFake(world, "a", {"b"}));
  desired.push_back(MakeFake(world, "b", {"a"}));
  auto plan = MakePlan(desired, {}, {});
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kInternal);
  EXPECT_EQ(plan.status().message(), "dependency cycle among: a, b");
}

TEST(PlanTest, UnknownDependencyIsInternalError) {
  FakeWorld world;
  ResourceList desired;
  desired.push_back(MakeFake(world, "a", {"ghost"}));
  auto plan = MakePlan(desired, {}, {});
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kInternal);
  EXPECT_EQ(plan.status().message(), "a depends on unknown resource ghost");
}

TEST(PlanTest, DuplicateIdIsInternalError) {
  FakeWorld world;
  ResourceList desired;
  desired.push_back(MakeFake(world, "a"));
  desired.push_back(MakeFake(world, "a", {}, "v2"));
  auto plan = MakePlan(desired, {}, {});
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kInternal);
  EXPECT_THAT(plan.status().message(), HasSubstr("duplicate resource id a"));
}

TEST(PlanTest, CycleAmongRecordsToDeleteIsInternalError) {
  FleetState state;
  state.resources["x"] = Record(Phase::kReady, "h", {"y"});
  state.resources["y"] = Record(Phase::kReady, "h", {"x"});
  auto plan = MakePlan({}, state, {});
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kInternal);
  EXPECT_THAT(plan.status().message(), HasSubstr("cycle"));
}

FleetState DestroyState() {
  FleetState state;
  state.resources["x"] = Record(Phase::kReady, "hx");
  state.resources["y"] = Record(Phase::kReady, "hy", {"x"});
  state.resources["z"] = Record(Phase::kDeleting, "hz", {"y"});
  state.resources["w"] = Record(Phase::kReady, "hw");
  state.resources["v"] = Record(Phase::kReady, "hv", {"w", "y"});
  return state;
}

TEST(DestroyPlanTest, DeletesEverythingDependentsFirst) {
  FleetState state = DestroyState();
  Plan plan = MakeDestroyPlan(state, {});
  ASSERT_EQ(plan.steps.size(), 5u);
  EXPECT_EQ(plan.Count(Action::kDelete), 5);
  for (const auto& [id, record] : state.resources) {
    for (const auto& dep : record.deps) {
      EXPECT_LT(Position(plan, id), Position(plan, dep)) << id << " needs " << dep;
    }
  }
  EXPECT_EQ(Find(plan, "y")->summary, "old fake");
  EXPECT_EQ(Find(plan, "y")->hash, "hy");
}

TEST(DestroyPlanTest, TargetTakesItsDependentsAlong) {
  FleetState state = DestroyState();
  Plan plan = MakeDestroyPlan(state, {"y"});
  // z and v need y (v also needs w, which stays).
  std::vector<std::string> ids = Ids(plan);
  std::sort(ids.begin(), ids.end());
  EXPECT_THAT(ids, ElementsAre("v", "y", "z"));
  EXPECT_LT(Position(plan, "z"), Position(plan, "y"));
  EXPECT_LT(Position(plan, "v"), Position(plan, "y"));

  EXPECT_TRUE(MakeDestroyPlan(state, {"not-recorded"}).steps.empty());
  EXPECT_TRUE(MakeDestroyPlan({}, {}).steps.empty());
}

TEST(PlanTest, NamesAndSymbols) {
  EXPECT_EQ(ActionName(Action::kNone), "unchanged");
  EXPECT_EQ(ActionName(Action::kCreate), "create");
  EXPECT_EQ(ActionName(Action::kReplace), "replace");
  EXPECT_EQ(ActionName(Action::kDelete), "delete");
  EXPECT_EQ(ActionSymbol(Action::kNone), ' ');
  EXPECT_EQ(ActionSymbol(Action::kCreate), '+');
}

}  // namespace
}  // namespace carrierarr::provision
