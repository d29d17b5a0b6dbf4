#include "burst/spend.h"

#include <algorithm>
#include <set>

#include "core/duration.h"

namespace carrierarr::burst {
namespace {

using std::chrono::milliseconds;

constexpr auto kMinimumBilled = std::chrono::seconds(60);  // EC2 Linux: per second, 1 min least
constexpr int64_t kMsPerHour = 3'600'000;

// `usd_per_hour` for `d`, rounded up.
spec::MicroUsd CostOf(spec::MicroUsd usd_per_hour, Clock::duration d) {
  const int64_t ms = std::chrono::ceil<milliseconds>(d).count();
  if (ms <= 0 || usd_per_hour <= 0) return 0;
  // In 128 bits: a price of up to a million dollars an hour for years does not overflow.
  const __int128 product = static_cast<__int128>(usd_per_hour) * ms;
  return static_cast<spec::MicroUsd>((product + kMsPerHour - 1) / kMsPerHour);
}

Clock::time_point DayStart(Clock::time_point t) { return std::chrono::floor<std::chrono::days>(t); }

Clock::time_point MonthStart(Clock::time_point t, int months_on = 0) {
  const std::chrono::year_month_day day{std::chrono::floor<std::chrono::days>(t)};
  const std::chrono::year_month first = day.year() / day.month() + std::chrono::months(months_on);
  return std::chrono::sys_days{first / 1};
}

std::vector<NodeRun> RunsOf(const std::vector<NodeRun>& runs, const std::string& pool) {
  std::vector<NodeRun> out;
  for (const NodeRun& r : runs)
    if (pool.empty() || r.pool == pool) out.push_back(r);
  return out;
}

// A cap that applies to a wake or a running node: whose it is, its period and its amount.
struct Cap {
  std::string owner;     // "pool 'gpu'", "the fleet"
  std::string key;       // "pool 'gpu'.budget.usd_per_day", to name what to raise
  std::string pool;      // whose runs count ("" = all)
  bool daily = true;     // else monthly
  spec::MicroUsd limit;  // > 0
};

std::vector<Cap> CapsFor(const spec::FleetSpec& fleet, const spec::PoolSpec* pool) {
  std::vector<Cap> caps;
  auto add = [&](const spec::Budget& b, const std::string& owner, const std::string& key,
                 const std::string& runs_of) {
    if (b.usd_per_day > 0)
      caps.push_back({owner, key + ".usd_per_day", runs_of, true, b.usd_per_day});
    if (b.usd_per_month > 0)
      caps.push_back({owner, key + ".usd_per_month", runs_of, false, b.usd_per_month});
  };
  if (pool != nullptr) {
    add(pool->budget, "pool '" + pool->name + "'", "pool '" + pool->name + "'.budget", pool->name);
  }
  add(fleet.budget, "the fleet", "budget", "");
  return caps;
}

std::string Period(const Cap& cap) { return cap.daily ? "a day" : "a month"; }
std::string Spent(const Cap& cap) { return cap.daily ? "today (UTC)" : "this month (UTC)"; }
spec::MicroUsd SpentIn(const Cap& cap, const Spend& s) { return cap.daily ? s.today : s.month; }

}  // namespace

std::string FormatUsd(spec::MicroUsd amount) {
  const bool negative = amount < 0;
  const int64_t abs = negative ? -amount : amount;
  std::string fraction = std::to_string(abs % 1'000'000);
  fraction.insert(0, 6 - fraction.size(), '0');
  while (fraction.size() > 2 && fraction.back() == '0') fraction.pop_back();
  return std::string(negative ? "-$" : "$") + std::to_string(abs / 1'000'000) + "." + fraction;
}

spec::MicroUsd CostBetween(const std::vector<NodeRun>& runs, Clock::time_point from,
                           Clock::time_point to) {
  spec::MicroUsd total = 0;
  for (const NodeRun& r : runs) {
    Clock::time_point end = to;
    if (r.stopped) end = std::min(to, std::max(*r.stopped, r.started + kMinimumBilled));
    const Clock::time_point begin = std::max(from, r.started);
    if (end > begin) total += CostOf(r.usd_per_hour, end - begin);
  }
  return total;
}

Spend SpendOf(const std::vector<NodeRun>& all, const std::string& pool, Clock::time_point now) {
  const std::vector<NodeRun> runs = RunsOf(all, pool);
  Spend s;
  s.today = CostBetween(runs, DayStart(now), now);
  s.month = CostBetween(runs, MonthStart(now), now);
  for (const NodeRun& r : runs) {
    if (r.stopped) continue;
    s.rate += r.usd_per_hour;
    ++s.running;
  }
  s.forecast_day = s.today + CostOf(s.rate, DayStart(now) + std::chrono::days(1) - now);
  s.forecast_month = s.month + CostOf(s.rate, MonthStart(now, 1) - now);
  return s;
}

Status CheckWake(const spec::FleetSpec& fleet, const spec::PoolSpec& pool, int nodes,
                 const std::vector<NodeRun>& runs, Clock::time_point now) {
  const std::vector<Cap> caps = CapsFor(fleet, &pool);
  if (nodes <= 0 || caps.empty()) return Status::Ok();
  if (!pool.usd_per_hour) {
    return Status::FailedPrecondition("pool '" + pool.name + "' has a budget but no price for " +
                                      "instance type '" + pool.instance_type +
                                      "': add it under prices in fleet.yaml");
  }
  const Clock::duration commit = std::max<Clock::duration>(pool.scaling.idle_after, kMinimumBilled);
  for (const Cap& cap : caps) {
    const Spend s = SpendOf(runs, cap.pool, now);
    const spec::MicroUsd added = CostOf(s.rate + nodes * *pool.usd_per_hour, commit);
    const spec::MicroUsd spent = SpentIn(cap, s);
    if (spent + added <= cap.limit) continue;
    return Status::ResourceExhausted(
        "waking pool '" + pool.name + "' (" + std::to_string(nodes) + " x " +
        (pool.instance_type.empty() ? "node" : pool.instance_type) + " at " +
        FormatUsd(*pool.usd_per_hour) + "/h) would pass " + cap.owner + "'s budget of " +
        FormatUsd(cap.limit) + " " + Period(cap) + ": " + FormatUsd(spent) + " spent " +
        Spent(cap) + ", and what would run costs " + FormatUsd(added) + " over idle_after " +
        FormatGoDuration(commit) + " (" + FormatUsd(spent + added) + "); raise " + cap.key +
        " in fleet.yaml, or wait for " + (cap.daily ? "00:00 UTC" : "the 1st of the month"));
  }
  return Status::Ok();
}

std::vector<OverBudget> NodesOverBudget(const spec::FleetSpec& fleet,
                                        const std::vector<NodeRun>& runs, Clock::time_point now) {
  std::vector<Cap> caps;
  for (const spec::PoolSpec& pool : fleet.pools) {
    for (Cap& cap : CapsFor(fleet, &pool))
      if (!cap.pool.empty()) caps.push_back(std::move(cap));
  }
  for (Cap& cap : CapsFor(fleet, nullptr)) caps.push_back(std::move(cap));
  std::vector<OverBudget> out;
  std::set<std::string> stopping;
  for (const Cap& cap : caps) {
    const spec::MicroUsd spent = SpentIn(cap, SpendOf(runs, cap.pool, now));
    if (spent < cap.limit) continue;
    for (const NodeRun& r : runs) {
      if (r.stopped || (!cap.pool.empty() && r.pool != cap.pool)) continue;
      if (!stopping.insert(r.node).second) continue;
      out.push_back({r.node, r.pool,
                     cap.owner + " spent " + FormatUsd(spent) + " " + Spent(cap) +
                         ", its budget is " + FormatUsd(cap.limit) + " " + Period(cap)});
    }
  }
  return out;
}

std::string DescribeScaling(const spec::FleetSpec& fleet, const spec::PoolSpec& pool) {
  std::string s = "pool '" + pool.name + "' scales from " + std::to_string(pool.scaling.min) +
                  " to " + std::to_string(pool.scaling.max) + " nodes";
  if (pool.usd_per_hour) {
    s += " (" + (pool.instance_type.empty() ? std::string("a node") : pool.instance_type) + " at " +
         FormatUsd(*pool.usd_per_hour) +
         "/h: " + FormatUsd(*pool.usd_per_hour * 24 * pool.scaling.max) + " a day at max)";
  }
  std::string caps;
  for (const Cap& cap : CapsFor(fleet, &pool)) {
    caps += (caps.empty() ? "" : ", ") + std::string(cap.pool.empty() ? "the fleet's " : "") +
            FormatUsd(cap.limit) + " " + Period(cap);
  }
  return s + (caps.empty() ? "; no budget" : "; budget " + caps);
}

}  // namespace carrierarr::burst
