// What a fleet's scaled pools cost and whether a wake fits their budgets (fleet.yaml's `budget`
// per pool and per fleet, `prices` over the provider's list prices). Pure: the caller hands in
// the runs (from the store's start and stop events) and the time; nothing here reads a clock.
// Money is kept in millionths of a dollar (spec::MicroUsd) so sums are exact.
#ifndef CARRIERARR_BURST_SPEND_H_
#define CARRIERARR_BURST_SPEND_H_

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "spec/fleet.h"

namespace carrierarr::burst {

using Clock = std::chrono::system_clock;

// "$1.006", "$12.50", "$0.00": dollars with two to six decimals, as many as the amount needs.
std::string FormatUsd(spec::MicroUsd amount);

// One node's run, as its start and stop events recorded it.
struct NodeRun {
  std::string node, pool;
  spec::MicroUsd usd_per_hour = 0;  // the price it was started at
  Clock::time_point started;
  std::optional<Clock::time_point> stopped;  // nullopt: still running
};

// What a pool (or the fleet) has spent and is spending, in UTC calendar days and months.
struct Spend {
  spec::MicroUsd today = 0, month = 0;  // spent since 00:00 UTC, since the 1st
  spec::MicroUsd rate = 0;              // per hour, of what runs now
  spec::MicroUsd forecast_day = 0;      // today + rate until 24:00 UTC
  spec::MicroUsd forecast_month = 0;    // month + rate until the month ends
  int running = 0;                      // nodes running now
};

// What `runs` cost between `from` and `to`: by the second, at least a minute per run (EC2's
// Linux billing), rounded up to the micro-dollar.
spec::MicroUsd CostBetween(const std::vector<NodeRun>& runs, Clock::time_point from,
                           Clock::time_point to);

// The spend of `pool`'s runs ("" = every run) at `now`.
Spend SpendOf(const std::vector<NodeRun>& runs, const std::string& pool, Clock::time_point now);

// Whether starting `nodes` more of `pool` fits every cap that applies (the pool's and the
// fleet's, per day and per month): a wake commits to at least `scaling.idle_after` of running,
// so a cap is passed when what is spent, plus what runs and the new nodes cost over that time,
// exceeds it. kResourceExhausted names the cap, the figures and what to do. The price is the
// pool's `usd_per_hour` (the parser requires one wherever a cap applies).
Status CheckWake(const spec::FleetSpec& fleet, const spec::PoolSpec& pool, int nodes,
                 const std::vector<NodeRun>& runs, Clock::time_point now);

// The running nodes that must stop because a cap is reached (spent >= cap), each once, with
// the cap that stops it.
struct OverBudget {
  std::string node, pool;
  std::string reason;  // "pool 'gpu' spent $5.01 today (UTC), its budget is $5.00 a day"
};
std::vector<OverBudget> NodesOverBudget(const spec::FleetSpec& fleet,
                                        const std::vector<NodeRun>& runs, Clock::time_point now);

// One line on what a scaled pool may cost: "pool 'gpu' scales from 0 to 2 nodes (g5.xlarge at
// $1.006/h: $48.288 a day at max); budget $20.00 a day".
std::string DescribeScaling(const spec::FleetSpec& fleet, const spec::PoolSpec& pool);

}  // namespace carrierarr::burst

#endif  // CARRIERARR_BURST_SPEND_H_
