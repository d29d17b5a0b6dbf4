// Spend and budgets of scaled pools: per-second billing with EC2's one-minute minimum, UTC days
// and months, the forecast, a wake refused with its figures, and the nodes a reached cap stops.
#include "burst/spend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace carrierarr::burst {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::HasSubstr;

constexpr spec::MicroUsd kUsd = 1'000'000;

// 2026-12-07 00:00 UTC, a Monday.
Clock::time_point Day() { return std::chrono::sys_days(std::chrono::year{2026} / 12 / 7); }

NodeRun Running(const std::string& node, spec::MicroUsd rate, Clock::time_point started,
                const std::string& pool = "gpu") {
  return {.node = node, .pool = pool, .usd_per_hour = rate, .started = started};
}

NodeRun Stopped(const std::string& node, spec::MicroUsd rate, Clock::time_point started,
                Clock::time_point stopped, const std::string& pool = "gpu") {
  NodeRun r = Running(node, rate, started, pool);
  r.stopped = stopped;
  return r;
}

spec::FleetSpec Fleet(spec::Budget pool_budget, spec::Budget fleet_budget = {}) {
  spec::FleetSpec f;
  spec::PoolSpec gpu;
  gpu.name = "gpu";
  gpu.type = spec::PoolType::kGpuWorker;
  gpu.instance_type = "g5.xlarge";
  gpu.usd_per_hour = 1'006'000;
  gpu.scaling.enabled = true;
  gpu.scaling.max = 4;
  gpu.scaling.idle_after = minutes(15);
  gpu.budget = pool_budget;
  spec::PoolSpec cpu = gpu;
  cpu.name = "cpu";
  cpu.instance_type = "t3.small";
  cpu.usd_per_hour = 20'800;
  cpu.budget = {};
  f.pools = {gpu, cpu};
  f.budget = fleet_budget;
  return f;
}

TEST(FormatUsdTest, TwoToSixDecimals) {
  EXPECT_EQ(FormatUsd(0), "$0.00");
  EXPECT_EQ(FormatUsd(5 * kUsd), "$5.00");
  EXPECT_EQ(FormatUsd(1'006'000), "$1.006");
  EXPECT_EQ(FormatUsd(12'500'000), "$12.50");
  EXPECT_EQ(FormatUsd(1), "$0.000001");
}

TEST(CostTest, BilledBySecondWithAMinuteAtLeast) {
  const Clock::time_point t = Day() + hours(10);
  // An hour at $1.006/h.
  EXPECT_EQ(CostBetween({Stopped("a", 1'006'000, t, t + hours(1))}, Day(), t + hours(2)),
            1'006'000);
  // Ten seconds are billed as a minute: 1.006/60, rounded up.
  EXPECT_EQ(CostBetween({Stopped("a", 1'006'000, t, t + seconds(10))}, Day(), t + hours(2)),
            16'767);
  // Still running: up to the end of the window.
  EXPECT_EQ(CostBetween({Running("a", 3'600'000, t)}, Day(), t + seconds(90)), 90'000);
  // A million dollars an hour for a month does not overflow.
  EXPECT_EQ(CostBetween({Running("a", kUsd * 1'000'000, Day())}, Day(), Day() + days(30)),
            kUsd * 1'000'000 * 24 * 30);
  // Only the part inside the window.
  EXPECT_EQ(CostBetween({Stopped("a", 1 * kUsd, t - hours(3), t + hours(1))}, t, t + hours(5)),
            1 * kUsd);
}

TEST(SpendTest, TodayMonthRateAndForecast) {
  const Clock::time_point now = Day() + hours(12);
  const std::vector<NodeRun> runs = {
      Stopped("gpu-1", 2 * kUsd, Day() - days(2), Day() - days(2) + hours(3)),  // 6 this month
      Stopped("gpu-1", 2 * kUsd, Day() + hours(1), Day() + hours(2)),           // 2 today
      Running("gpu-2", 1 * kUsd, Day() + hours(10)),                            // 2 so far
      Running("cpu-1", 1 * kUsd, Day() + hours(11), "cpu"),
  };
  const Spend gpu = SpendOf(runs, "gpu", now);
  EXPECT_EQ(gpu.today, 4 * kUsd);
  EXPECT_EQ(gpu.month, 10 * kUsd);
  EXPECT_EQ(gpu.rate, 1 * kUsd);
  EXPECT_EQ(gpu.running, 1);
  EXPECT_EQ(gpu.forecast_day, 16 * kUsd);  // 4 + 12 h more at $1/h
  // 10 + the rest of December: 24 days 12 hours.
  EXPECT_EQ(gpu.forecast_month, 10 * kUsd + (24 * 24 + 12) * kUsd);
  const Spend fleet = SpendOf(runs, "", now);
  EXPECT_EQ(fleet.today, 5 * kUsd);
  EXPECT_EQ(fleet.running, 2);
  // A new month starts from zero.
  EXPECT_EQ(SpendOf({Stopped("gpu-1", 2 * kUsd, Day(), Day() + hours(1))}, "gpu",
                    std::chrono::sys_days(std::chrono::year{2027} / 1 / 1) + hours(1))
                .month,
            0);
}

TEST(CheckWakeTest, NoBudgetNoLimit) {
  EXPECT_TRUE(CheckWake(Fleet({}), Fleet({}).pools[0], 4, {}, Day()).ok());
}

// $4.80 spent today; a wake adds at least idle_after (15 min) of one g5.xlarge, $0.2515.
TEST(CheckWakeTest, RefusedWithTheFiguresWhenTheWakeWouldPassTheDailyCap) {
  const Clock::time_point now = Day() + hours(12);
  const std::vector<NodeRun> runs = {
      Stopped("gpu-1", 4'800'000, Day() + hours(1), Day() + hours(2))};
  spec::FleetSpec fleet = Fleet({.usd_per_day = 5 * kUsd});
  Status s = CheckWake(fleet, fleet.pools[0], 1, runs, now);
  ASSERT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString();
  EXPECT_EQ(s.message(),
            "waking pool 'gpu' (1 x g5.xlarge at $1.006/h) would pass pool 'gpu''s budget of "
            "$5.00 a day: $4.80 spent today (UTC), and what would run costs $0.2515 over "
            "idle_after 15m0s ($5.0515); raise pool 'gpu'.budget.usd_per_day in fleet.yaml, or "
            "wait for 00:00 UTC");
  // Under the cap it is allowed; the next day it is allowed again.
  fleet.pools[0].budget.usd_per_day = 5'100'000;
  EXPECT_TRUE(CheckWake(fleet, fleet.pools[0], 1, runs, now).ok());
  fleet.pools[0].budget.usd_per_day = 5 * kUsd;
  EXPECT_TRUE(CheckWake(fleet, fleet.pools[0], 1, runs, now + hours(12)).ok());
}

// The fleet's monthly cap counts every pool, and what already runs keeps costing.
TEST(CheckWakeTest, TheFleetsMonthlyCapCountsEveryPool) {
  const Clock::time_point now = Day() + hours(12);
  const std::vector<NodeRun> runs = {Running("cpu-1", 40 * kUsd, Day() + hours(11), "cpu")};
  spec::FleetSpec fleet = Fleet({}, {.usd_per_month = 50 * kUsd});
  Status s = CheckWake(fleet, fleet.pools[0], 1, runs, now);
  ASSERT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("would pass the fleet's budget of $50.00 a month: $40.00 "
                                     "spent this month (UTC)"));
  EXPECT_THAT(s.message(), HasSubstr("raise budget.usd_per_month"));
  EXPECT_THAT(s.message(), HasSubstr("the 1st of the month"));
}

TEST(CheckWakeTest, ABudgetWithoutAPriceIsRefused) {
  spec::FleetSpec fleet = Fleet({.usd_per_day = 5 * kUsd});
  fleet.pools[0].usd_per_hour.reset();
  EXPECT_THAT(CheckWake(fleet, fleet.pools[0], 1, {}, Day()).message(),
              HasSubstr("no price for instance type 'g5.xlarge'"));
}

TEST(NodesOverBudgetTest, ACapReachedStopsWhatRunsUnderIt) {
  const Clock::time_point now = Day() + hours(12);
  const std::vector<NodeRun> runs = {
      Running("gpu-1", 1 * kUsd, Day() + hours(7)),  // $5 today: the pool's cap
      Running("gpu-2", 1 * kUsd, Day() + hours(11)),
      Running("cpu-1", 1 * kUsd, Day() + hours(11), "cpu"),
      Stopped("gpu-3", 1 * kUsd, Day() + hours(1), Day() + hours(2)),
  };
  auto over = NodesOverBudget(Fleet({.usd_per_day = 6 * kUsd}), runs, now);
  ASSERT_EQ(over.size(), 2u);
  EXPECT_EQ(over[0].node, "gpu-1");
  EXPECT_EQ(over[1].node, "gpu-2");
  EXPECT_EQ(over[0].reason, "pool 'gpu' spent $7.00 today (UTC), its budget is $6.00 a day");
  EXPECT_TRUE(NodesOverBudget(Fleet({.usd_per_day = 8 * kUsd}), runs, now).empty());
  // The fleet's cap stops every pool's nodes, each once.
  over = NodesOverBudget(Fleet({.usd_per_day = 6 * kUsd}, {.usd_per_day = 7 * kUsd}), runs, now);
  ASSERT_EQ(over.size(), 3u);
  EXPECT_EQ(over[2].node, "cpu-1");
  EXPECT_THAT(over[2].reason, HasSubstr("the fleet spent $8.00 today"));
}

}  // namespace
}  // namespace carrierarr::burst
