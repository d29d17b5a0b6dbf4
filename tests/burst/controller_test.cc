// The burst controller on simulated time with a real SQLite store and a fake NodePower: wakes
// coalesce, decisions are recorded before they are acted on and resumed after a restart, idle
// nodes stop, budgets refuse wakes and stop nodes, and one owner per pool.
#include "burst/controller.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "testing/tools.h"

namespace carrierarr::burst {
namespace {

using control_plane::PowerActionRecord;
using std::chrono::minutes;
using std::chrono::seconds;

// Starts and stops by name; can be told to fail; counts every call.
class FakePower final : public NodePower {
 public:
  Status Start(const std::string& node) override {
    ++starts[node];
    if (fail) return Status::Unavailable("no capacity");
    running.insert(node);
    return Status::Ok();
  }
  Status Stop(const std::string& node) override {
    ++stops[node];
    running.erase(node);
    return Status::Ok();
  }
  std::map<std::string, int> starts, stops;
  std::set<std::string> running;
  bool fail = false;
};

class FakeActivity final : public NodeActivity {
 public:
  explicit FakeActivity(FakePower& power) : power_(power) {}
  bool AgentSeenSince(const std::string& node, Clock::time_point) override {
    return power_.running.count(node) != 0;
  }
  std::optional<Clock::time_point> LastBusy(const std::string& node) override {
    auto it = busy.find(node);
    if (it == busy.end()) return std::nullopt;
    return it->second;
  }
  std::map<std::string, Clock::time_point> busy;

 private:
  FakePower& power_;
};

spec::FleetSpec Fleet() {
  spec::FleetSpec fleet;
  fleet.name = "lab";
  spec::PoolSpec gpu;
  gpu.name = "gpu";
  gpu.type = spec::PoolType::kGpuWorker;
  gpu.count = 2;
  gpu.scaling = {.enabled = true, .min = 0, .max = 2, .idle_after = minutes(15)};
  gpu.usd_per_hour = 1'000'000;  // $1/h
  fleet.pools.push_back(gpu);
  spec::PoolSpec cpu;
  cpu.name = "cpu";
  fleet.pools.push_back(cpu);
  return fleet;
}

class ControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = control_plane::OpenStore(dir_ / "fleet.db");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    ASSERT_NO_FATAL_FAILURE(StartController());
  }

  // A controller of this test's fleet, store, power and clock, driven by the test.
  Result<std::unique_ptr<Controller>> Make(const std::string& owner, NodeActivity* activity) {
    return Controller::Start({.fleet = fleet_,
                              .store = store_.get(),
                              .power = &power_,
                              .activity = activity,
                              .time = &time_,
                              .owner = owner,
                              .agent_wait = minutes(2),
                              .background_thread = false});
  }

  void StartController(const std::string& owner = "cp-a") {
    controller_.reset();
    auto c = Make(owner, &activity_);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    controller_ = std::move(*c);
  }

  std::vector<PowerActionRecord> Actions() {
    auto all = store_->ListPowerActions(0, false);
    EXPECT_TRUE(all.ok());
    return all.ok() ? *all : std::vector<PowerActionRecord>{};
  }

  testing::ScratchDir dir_;
  // 2026-12-07 10:00 UTC.
  SimulatedTimeSource time_{1'796'637'600'000};
  spec::FleetSpec fleet_ = Fleet();
  FakePower power_;
  FakeActivity activity_{power_};
  std::unique_ptr<control_plane::Store> store_;
  std::unique_ptr<Controller> controller_;
};

TEST_F(ControllerTest, ABurstOfWakesDecidesOneStart) {
  auto first = controller_->Wake("gpu", "request for llama3");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->outcome, "decided");
  EXPECT_EQ(first->node, "gpu-1");
  for (int i = 0; i < 20; ++i) {
    auto again = controller_->Wake("gpu", "request for llama3");
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->outcome, "waking");
    EXPECT_EQ(again->action_id, first->action_id);
  }
  // Recorded before it is acted on.
  ASSERT_EQ(Actions().size(), 1u);
  EXPECT_EQ(Actions()[0].state, "decided");
  EXPECT_TRUE(power_.starts.empty());

  controller_->RunPending();
  EXPECT_EQ(power_.starts["gpu-1"], 1);
  ASSERT_EQ(Actions().size(), 1u);
  EXPECT_EQ(Actions()[0].state, "done");
  EXPECT_NE(Actions()[0].detail.find("agent_ms"), std::string::npos) << Actions()[0].detail;

  auto awake = controller_->Wake("gpu", "request");
  ASSERT_TRUE(awake.ok());
  EXPECT_EQ(awake->outcome, "awake");
  EXPECT_EQ(awake->node, "gpu-1");
  EXPECT_EQ(Actions().size(), 1u);
}

TEST_F(ControllerTest, UnknownAndUnscaledPoolsAreRefused) {
  EXPECT_EQ(controller_->Wake("nope", "x").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(controller_->Wake("cpu", "x").status().code(), StatusCode::kNotFound);
}

TEST_F(ControllerTest, ADecisionLeftByACrashIsCarriedOutOnceAfterRestart) {
  auto woke = controller_->Wake("gpu", "carrierarr wake");
  ASSERT_TRUE(woke.ok());
  // The control plane dies before acting: the decision is in the store.
  ASSERT_NO_FATAL_FAILURE(StartController());
  controller_->RunPending();
  EXPECT_EQ(power_.starts["gpu-1"], 1);
  ASSERT_EQ(Actions().size(), 1u);
  EXPECT_EQ(Actions()[0].state, "done");
  // Another restart finds nothing unfinished: nothing is started twice.
  ASSERT_NO_FATAL_FAILURE(StartController());
  controller_->RunPending();
  EXPECT_EQ(power_.starts["gpu-1"], 1);
}

TEST_F(ControllerTest, IdleNodesStopAfterIdleAfterAndWakeAgain) {
  ASSERT_TRUE(controller_->Wake("gpu", "request").ok());
  controller_->RunPending();
  time_.Advance(minutes(14));
  controller_->Tick();
  controller_->RunPending();
  EXPECT_EQ(power_.stops["gpu-1"], 0);
  // A request at 14 min holds it for another idle_after.
  controller_->Touch("gpu");
  time_.Advance(minutes(14));
  controller_->Tick();
  controller_->RunPending();
  EXPECT_EQ(power_.stops["gpu-1"], 0);
  // So does the agent's report of work.
  activity_.busy["gpu-1"] = time_.SystemNow();
  time_.Advance(minutes(14));
  controller_->Tick();
  controller_->RunPending();
  EXPECT_EQ(power_.stops["gpu-1"], 0);
  time_.Advance(minutes(2));
  controller_->Tick();
  controller_->RunPending();
  EXPECT_EQ(power_.stops["gpu-1"], 1);
  EXPECT_EQ(Actions().back().action, "stop");
  EXPECT_EQ(Actions().back().reason, "idle for 15m0s");

  auto again = controller_->Wake("gpu", "request");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome, "decided");
  EXPECT_EQ(again->node, "gpu-1");
  controller_->RunPending();
  EXPECT_EQ(power_.starts["gpu-1"], 2);
}

TEST_F(ControllerTest, SleepStopsWhatRunsAndIsANoOpWhenAsleep) {
  auto asleep = controller_->Sleep("gpu", "carrierarr sleep");
  ASSERT_TRUE(asleep.ok());
  ASSERT_EQ(asleep->size(), 1u);
  EXPECT_EQ((*asleep)[0].outcome, "asleep");
  ASSERT_TRUE(controller_->Wake("gpu", "x").ok());
  controller_->RunPending();
  auto slept = controller_->Sleep("gpu", "carrierarr sleep");
  ASSERT_TRUE(slept.ok());
  ASSERT_EQ(slept->size(), 1u);
  EXPECT_EQ((*slept)[0].node, "gpu-1");
  controller_->RunPending();
  EXPECT_TRUE(power_.running.empty());
  auto view = controller_->Pools();
  ASSERT_TRUE(view.ok());
  ASSERT_EQ(view->size(), 1u);
  EXPECT_TRUE((*view)[0].running.empty());
  EXPECT_TRUE((*view)[0].owned);
}

TEST_F(ControllerTest, AFailedStartIsRecordedAndTheNextWakeTriesAgain) {
  power_.fail = true;
  ASSERT_TRUE(controller_->Wake("gpu", "x").ok());
  controller_->RunPending();
  ASSERT_EQ(Actions().size(), 1u);
  EXPECT_EQ(Actions()[0].state, "failed");
  EXPECT_NE(Actions()[0].detail.find("no capacity"), std::string::npos);
  power_.fail = false;
  auto again = controller_->Wake("gpu", "x");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome, "decided");
  controller_->RunPending();
  EXPECT_EQ(power_.running.count("gpu-1"), 1u);
}

TEST_F(ControllerTest, AWakePastTheBudgetIsRefusedWithTheFigures) {
  // $0.50 a day; a wake commits to idle_after (15 min at $1/h: $0.25), so after $0.30 spent
  // the next wake would pass it.
  fleet_.pools[0].budget.usd_per_day = 500'000;
  ASSERT_NO_FATAL_FAILURE(StartController());
  ASSERT_TRUE(controller_->Wake("gpu", "x").ok());
  controller_->RunPending();
  time_.Advance(seconds(18 * 60));  // $0.30
  ASSERT_TRUE(controller_->Sleep("gpu", "x").ok());
  controller_->RunPending();
  auto refused = controller_->Wake("gpu", "x");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("$0.50 a day"), std::string::npos)
      << refused.status().message();
  EXPECT_EQ(power_.starts["gpu-1"], 1);
}

TEST_F(ControllerTest, ANodeRunningPastTheBudgetIsStopped) {
  fleet_.pools[0].budget.usd_per_day = 500'000;
  ASSERT_NO_FATAL_FAILURE(StartController());
  ASSERT_TRUE(controller_->Wake("gpu", "x").ok());
  controller_->RunPending();
  activity_.busy["gpu-1"] = time_.SystemNow() + minutes(60);  // busy: idle never stops it
  time_.Advance(minutes(29));
  controller_->Tick();
  controller_->RunPending();
  EXPECT_EQ(power_.stops["gpu-1"], 0);
  time_.Advance(minutes(2));  // $0.5167 spent
  controller_->Tick();
  controller_->RunPending();
  EXPECT_EQ(power_.stops["gpu-1"], 1);
  EXPECT_NE(Actions().back().reason.find("budget"), std::string::npos) << Actions().back().reason;
}

TEST_F(ControllerTest, AnotherOwnerCannotDecideForThePool) {
  auto other = Make("cp-b", nullptr);
  ASSERT_TRUE(other.ok());
  auto refused = (*other)->Wake("gpu", "x");
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  // Once cp-a's lease runs out (it stopped renewing), cp-b takes the pool.
  time_.Advance(seconds(31));
  auto woke = (*other)->Wake("gpu", "x");
  ASSERT_TRUE(woke.ok()) << woke.status().ToString();
  EXPECT_EQ(woke->outcome, "decided");
}

TEST_F(ControllerTest, ATakeoverResumesTheDecisionsTheLastOwnerLeft) {
  ASSERT_TRUE(controller_->Wake("gpu", "x").ok());
  controller_.reset();  // cp-a dies before acting; its lease runs another 30 s
  auto other = Make("cp-b", nullptr);
  ASSERT_TRUE(other.ok());
  (*other)->Tick();
  (*other)->RunPending();
  EXPECT_EQ(power_.starts["gpu-1"], 0) << "cp-a's lease still runs";
  time_.Advance(seconds(31));
  (*other)->Tick();
  (*other)->RunPending();
  EXPECT_EQ(power_.starts["gpu-1"], 1);
  EXPECT_EQ(Actions()[0].state, "done");
}

TEST_F(ControllerTest, TheScheduleHoldsThePoolAwake) {
  // Every day 09:00-18:00 UTC; it is 10:00.
  auto& pool = fleet_.pools[0];
  pool.scaling.wake_on.push_back(spec::WakeTrigger::kSchedule);
  pool.scaling.schedule.push_back({.days = 0x7f, .start_minute = 9 * 60, .end_minute = 18 * 60});
  ASSERT_NO_FATAL_FAILURE(StartController());
  controller_->Tick();
  controller_->RunPending();
  EXPECT_EQ(power_.running.count("gpu-1"), 1u);
  EXPECT_EQ(Actions()[0].reason, "schedule");
  time_.Advance(minutes(60));  // idle, but in the window
  controller_->Tick();
  controller_->RunPending();
  EXPECT_EQ(power_.stops["gpu-1"], 0);
  time_.Advance(minutes(8 * 60 + 20));  // 19:20: out of the window and idle
  controller_->Tick();
  controller_->RunPending();
  EXPECT_EQ(power_.stops["gpu-1"], 1);
}

TEST_F(ControllerTest, AnActionOfAPoolTakenOverIsLeftToItsNewOwner) {
  ASSERT_TRUE(controller_->Wake("gpu", "x").ok());
  // cp-a stalls past its lease (it has not ticked); cp-b takes the pool with the decision.
  time_.Advance(seconds(31));
  auto other = Make("cp-b", nullptr);
  ASSERT_TRUE(other.ok());
  controller_->RunPending();  // cp-a no longer owns the pool: it does not act
  EXPECT_EQ(power_.starts["gpu-1"], 0);
  EXPECT_EQ(Actions()[0].state, "decided");
  (*other)->RunPending();
  EXPECT_EQ(power_.starts["gpu-1"], 1);
  EXPECT_EQ(Actions()[0].state, "done");
}

TEST_F(ControllerTest, AStartWhoseAgentNeverConnectsFailsAfterTheWait) {
  class NeverConnects final : public NodeActivity {
   public:
    bool AgentSeenSince(const std::string&, Clock::time_point) override { return false; }
    std::optional<Clock::time_point> LastBusy(const std::string&) override { return {}; }
  } never;
  controller_.reset();
  auto c = Make("cp-a", &never);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->Wake("gpu", "x").ok());
  (*c)->RunPending();  // simulated time: the two minutes pass in SleepFor, renewing the lease
  ASSERT_EQ(Actions().size(), 1u);
  EXPECT_EQ(Actions()[0].state, "failed");
  EXPECT_NE(Actions()[0].detail.find("did not connect within 2m0s"), std::string::npos)
      << Actions()[0].detail;
  // Its lease was renewed while it waited: nobody else could take the pool.
  auto taken = store_->ClaimPool(
      "gpu", "cp-b", time_.SystemNow().time_since_epoch() / std::chrono::milliseconds(1), 1000);
  ASSERT_TRUE(taken.ok());
  EXPECT_FALSE(*taken);
}

TEST_F(ControllerTest, MetricsShowSpendRunningNodesAndWakePhases) {
  ASSERT_TRUE(controller_->Wake("gpu", "x").ok());
  controller_->RunPending();
  time_.Advance(minutes(30));  // $0.50 at $1/h
  std::string text = controller_->PrometheusText();
  EXPECT_NE(text.find("carrierarr_pool_spend_usd{pool=\"gpu\",period=\"day\"} 0.5\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("carrierarr_pool_running_nodes{pool=\"gpu\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("carrierarr_pool_pending_actions{pool=\"gpu\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("carrierarr_wake_seconds_count{pool=\"gpu\",phase=\"agent\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# TYPE carrierarr_wake_seconds histogram"), std::string::npos);
}

// The gateway's phases of a wake: one seen while the start is carried out waits for it, one
// seen after is added to its record; the first sighting counts; a phase long after the wake,
// or of a failed start, is not the wake's.
TEST_F(ControllerTest, TheGatewaysPhasesAreRecordedOnceOnTheWakesStart) {
  auto wake = controller_->Wake("gpu", "gateway");
  ASSERT_TRUE(wake.ok());
  const auto decided = time_.SystemNow();
  ASSERT_TRUE(controller_->RecordWakePhase("gpu", "model_loaded", decided + seconds(4)).ok());
  controller_->RunPending();
  ASSERT_TRUE(controller_->RecordWakePhase("gpu", "first_byte", decided + seconds(5)).ok());
  ASSERT_TRUE(controller_->RecordWakePhase("gpu", "first_byte", decided + seconds(50)).ok());
  ASSERT_TRUE(controller_->RecordWakePhase("gpu", "model_loaded", decided + seconds(60)).ok());
  ASSERT_EQ(Actions().size(), 1u);
  auto t = nlohmann::json::parse(Actions()[0].detail);
  const int64_t at = Actions()[0].decided_ms;
  EXPECT_EQ(t["model_loaded_ms"], at + 4000);
  EXPECT_EQ(t["first_byte_ms"], at + 5000);
  const std::string text = controller_->PrometheusText();
  for (const char* phase : {"running", "agent", "model_loaded", "first_byte"}) {
    EXPECT_NE(text.find("carrierarr_wake_seconds_count{pool=\"gpu\",phase=\"" + std::string(phase) +
                        "\"} 1\n"),
              std::string::npos)
        << phase << "\n"
        << text;
  }
  EXPECT_NE(text.find("carrierarr_wake_seconds_sum{pool=\"gpu\",phase=\"first_byte\"} 5\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(controller_->RecordWakePhase("gpu", "First Byte", decided).code(),
            StatusCode::kInvalidArgument);
  ASSERT_TRUE(controller_->RecordWakePhase("cpu", "first_byte", decided).ok()) << "not scaled";

  // A failed start gets none.
  ASSERT_TRUE(controller_->Sleep("gpu", "x").ok());
  controller_->RunPending();
  power_.fail = true;
  ASSERT_TRUE(controller_->Wake("gpu", "gateway").ok());
  controller_->RunPending();
  ASSERT_TRUE(controller_->RecordWakePhase("gpu", "first_byte", time_.SystemNow()).ok());
  ASSERT_EQ(Actions().size(), 3u);
  EXPECT_EQ(Actions()[2].state, "failed");
  EXPECT_EQ(Actions()[2].detail.find("first_byte"), std::string::npos);

  // Past the hour, a start is not the wake of a request.
  power_.fail = false;
  ASSERT_TRUE(controller_->Wake("gpu", "x").ok());
  controller_->RunPending();
  time_.Advance(std::chrono::hours(2));
  ASSERT_TRUE(controller_->RecordWakePhase("gpu", "first_byte", time_.SystemNow()).ok());
  EXPECT_EQ(Actions().back().detail.find("first_byte"), std::string::npos);
}

// Every call, in order, across the power and the drain.
class LoggingDrain final : public NodeDrain {
 public:
  explicit LoggingDrain(std::vector<std::string>& log) : log_(log) {}
  Status Drain(const std::string& node, std::chrono::milliseconds timeout) override {
    log_.push_back("drain " + node + " " + std::to_string(timeout.count()));
    return result;
  }
  void Undrain(const std::string& node) override { log_.push_back("undrain " + node); }
  Status result;

 private:
  std::vector<std::string>& log_;
};

class LoggingPower final : public NodePower {
 public:
  explicit LoggingPower(std::vector<std::string>& log) : log_(log) {}
  Status Start(const std::string& node) override {
    log_.push_back("start " + node);
    return Status::Ok();
  }
  Status Stop(const std::string& node) override {
    log_.push_back("stop " + node);
    return stop_result;
  }
  Status stop_result;

 private:
  std::vector<std::string>& log_;
};

// A stop drains first and goes on when the drain falls short (recorded); a start lets the node
// serve again, and so does a stop that failed.
TEST_F(ControllerTest, AStopDrainsTheNodeFirstAndAStartUndrainsIt) {
  std::vector<std::string> log;
  LoggingPower power(log);
  LoggingDrain drain(log);
  controller_.reset();
  auto c = Controller::Start({.fleet = fleet_,
                              .store = store_.get(),
                              .power = &power,
                              .drain = &drain,
                              .time = &time_,
                              .owner = "cp-a",
                              .drain_wait = seconds(90),
                              .background_thread = false});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_TRUE((*c)->Wake("gpu", "x").ok());
  (*c)->RunPending();
  ASSERT_TRUE((*c)->Sleep("gpu", "x").ok());
  (*c)->RunPending();
  EXPECT_EQ(log, (std::vector<std::string>{"undrain gpu-1", "start gpu-1", "drain gpu-1 90000",
                                           "stop gpu-1"}));
  auto stop = nlohmann::json::parse(Actions().back().detail);
  EXPECT_TRUE(stop.contains("drained_ms"));
  EXPECT_FALSE(stop.contains("drain_error"));

  // A drain that falls short: stopped all the same, and said.
  log.clear();
  drain.result = Status::DeadlineExceeded("its model requests were still running after 1m30s");
  ASSERT_TRUE((*c)->Wake("gpu", "x").ok());
  (*c)->RunPending();
  ASSERT_TRUE((*c)->Sleep("gpu", "x").ok());
  (*c)->RunPending();
  EXPECT_EQ(log.back(), "stop gpu-1");
  EXPECT_EQ(Actions().back().state, "done");
  EXPECT_EQ(nlohmann::json::parse(Actions().back().detail)["drain_error"],
            "its model requests were still running after 1m30s");

  // A stop that failed: the node runs on and serves again.
  log.clear();
  drain.result = Status::Ok();
  ASSERT_TRUE((*c)->Wake("gpu", "x").ok());
  (*c)->RunPending();
  power.stop_result = Status::Unavailable("StopInstances failed");
  ASSERT_TRUE((*c)->Sleep("gpu", "x").ok());
  (*c)->RunPending();
  EXPECT_EQ(Actions().back().state, "failed");
  EXPECT_EQ(log.back(), "undrain gpu-1");
}

}  // namespace
}  // namespace carrierarr::burst
