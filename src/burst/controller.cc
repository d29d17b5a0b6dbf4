#include "burst/controller.h"

#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "burst/schedule.h"
#include "core/duration.h"
#include "core/strings.h"
#include "core/subprocess.h"
#include "mesh/address_plan.h"

namespace carrierarr::burst {
namespace {

using control_plane::PowerActionRecord;
using std::chrono::milliseconds;

constexpr char kStart[] = "start";
constexpr char kStop[] = "stop";
constexpr char kDecided[] = "decided";
// How far back the books go: the whole UTC month, and a run begun in the month before.
constexpr auto kBooksWindow = std::chrono::hours(24 * 62);
constexpr size_t kFinishedKept = 256;  // finished actions WaitAction finds without the store
// A phase the gateway sees counts for a start decided this long ago at most (later it is a
// request to a node that woke for something else).
constexpr auto kPhaseWindow = std::chrono::hours(1);

int64_t UnixMs(Clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
}
Clock::time_point FromUnixMs(int64_t ms) { return Clock::time_point(milliseconds(ms)); }

class CommandNodePower final : public NodePower {
 public:
  CommandNodePower(std::string binary, std::string fleet_file)
      : binary_(std::move(binary)), fleet_file_(std::move(fleet_file)) {}
  Status Start(const std::string& node) override { return Run(node, "on"); }
  Status Stop(const std::string& node) override { return Run(node, "off"); }

 private:
  Status Run(const std::string& node, const char* set) {
    RunOptions options;
    options.timeout = std::chrono::minutes(10);
    options.max_output_bytes = size_t{64} * 1024;
    options.new_process_group = true;
    auto result = carrierarr::Run(
        {binary_, "power", "-f", fleet_file_, "--node", node, "--set", set}, options);
    if (!result.ok()) return result.status();
    if (result->exit_code == 0 && !result->signaled) return Status::Ok();
    std::string why =
        result->timed_out ? "timed out after 10m" : std::string(TrimSpace(result->err));
    return Status::Unavailable("carrierarr power --node " + node + " --set " + set +
                               " failed: " + why);
  }
  const std::string binary_, fleet_file_;
};

}  // namespace

std::unique_ptr<NodePower> MakeCommandNodePower(std::string binary, std::string fleet_file) {
  return std::make_unique<CommandNodePower>(std::move(binary), std::move(fleet_file));
}

Controller::Controller(ControllerOptions options) : o_(std::move(options)) {}

Result<std::unique_ptr<Controller>> Controller::Start(ControllerOptions options) {
  if (options.store == nullptr || options.power == nullptr || options.owner.empty())
    return Status::InvalidArgument("the burst controller needs a store, a NodePower and an owner");
  std::unique_ptr<Controller> c(new Controller(std::move(options)));
  CARRIERARR_RETURN_IF_ERROR(c->ClaimAndResume());
  if (c->o_.background_thread) c->worker_ = std::thread([raw = c.get()] { raw->Loop(); });
  return c;
}

Controller::~Controller() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.NotifyAll();
  if (worker_.joinable()) worker_.join();
}

Status Controller::ClaimAndResume() {
  std::set<std::string> gained;
  for (const auto& pool : o_.fleet.pools) {
    if (!pool.scaling.enabled) continue;
    CARRIERARR_ASSIGN_OR_RETURN(bool ours, Owns(pool.name));
    MutexLock lock(mu_);
    if (ours && owned_.insert(pool.name).second) gained.insert(pool.name);
    if (!ours) owned_.erase(pool.name);
  }
  if (gained.empty()) return Status::Ok();
  // A pool fleet.yaml no longer scales, or another control plane's, is not resumed here.
  CARRIERARR_ASSIGN_OR_RETURN(auto unfinished, o_.store->ListPowerActions(0, true));
  MutexLock lock(mu_);
  for (const auto& a : unfinished) {
    const bool queued = std::any_of(queue_.begin(), queue_.end(),
                                    [&](const PowerActionRecord& q) { return q.id == a.id; });
    if (gained.count(a.pool) != 0 && !queued) queue_.push_back(a);
  }
  cv_.NotifyAll();
  return Status::Ok();
}

const spec::PoolSpec* Controller::ScaledPool(const std::string& pool) const {
  for (const auto& p : o_.fleet.pools)
    if (p.name == pool && p.scaling.enabled) return &p;
  return nullptr;
}

Result<bool> Controller::Owns(const std::string& pool) {
  return o_.store->ClaimPool(pool, o_.owner, UnixMs(Now()), o_.lease.count());
}

Result<Controller::Books> Controller::ReadBooks() {
  Books b;
  CARRIERARR_ASSIGN_OR_RETURN(b.actions,
                              o_.store->ListPowerActions(UnixMs(Now() - kBooksWindow), false));
  std::map<std::string, size_t> open;  // node -> its open run in b.runs
  for (const auto& a : b.actions) {
    const spec::PoolSpec* pool = ScaledPool(a.pool);
    if (a.action == kStart && a.state != "failed" && open.count(a.node_id) == 0) {
      // Billing may begin as soon as the start is asked for.
      open[a.node_id] = b.runs.size();
      b.runs.push_back({.node = a.node_id,
                        .pool = a.pool,
                        .usd_per_hour = pool != nullptr ? pool->usd_per_hour.value_or(0) : 0,
                        .started = FromUnixMs(a.decided_ms)});
    } else if (a.action == kStop && a.state == "done" && open.count(a.node_id) != 0) {
      b.runs[open[a.node_id]].stopped = FromUnixMs(a.done_ms);
      open.erase(a.node_id);
    }
    if (a.state == "done") b.running[a.node_id] = a.action == kStart;
  }
  return b;
}

Result<int64_t> Controller::Decide(const std::string& pool, const std::string& node,
                                   const std::string& action, const std::string& reason) {
  PowerActionRecord a{.pool = pool,
                      .node_id = node,
                      .action = action,
                      .state = kDecided,
                      .reason = reason,
                      .decided_ms = UnixMs(Now())};
  CARRIERARR_ASSIGN_OR_RETURN(a.id, o_.store->AddPowerAction(a));
  {
    MutexLock lock(mu_);
    queue_.push_back(a);
  }
  cv_.NotifyAll();
  return a.id;
}

Result<const spec::PoolSpec*> Controller::OwnedPool(const std::string& pool_name) {
  const spec::PoolSpec* pool = ScaledPool(pool_name);
  if (pool == nullptr)
    return Status::NotFound("fleet.yaml has no pool '" + pool_name + "' with `scaling`");
  CARRIERARR_ASSIGN_OR_RETURN(bool owned, Owns(pool_name));
  if (!owned)
    return Status::FailedPrecondition("another control plane owns pool '" + pool_name +
                                      "' (its lease in the store); ask that one");
  return pool;
}

std::map<std::string, const PowerActionRecord*> Controller::Books::Pending(
    const std::string& pool) const {
  std::map<std::string, const PowerActionRecord*> pending;
  for (const auto& a : actions)
    if (a.pool == pool && a.state == kDecided) pending[a.node_id] = &a;
  return pending;
}

Result<PoolDecision> Controller::Wake(const std::string& pool_name, const std::string& reason) {
  MutexLock decide(decide_mu_);
  CARRIERARR_ASSIGN_OR_RETURN(const spec::PoolSpec* pool, OwnedPool(pool_name));
  CARRIERARR_ASSIGN_OR_RETURN(Books books, ReadBooks());
  Touch(pool_name);
  const auto pending = books.Pending(pool_name);
  for (const auto& [node, a] : pending)
    if (a->action == kStart) return PoolDecision{pool_name, "waking", node, a->id};
  for (int i = pool->scaling.min + 1; i <= pool->scaling.max; ++i) {
    const std::string node = mesh::WorkerName(pool->name, i);
    if (books.running[node] && pending.count(node) == 0)
      return PoolDecision{pool_name, "awake", node, 0};
  }
  if (pool->scaling.min > 0)
    return PoolDecision{pool_name, "awake", mesh::WorkerName(pool->name, 1), 0};
  for (int i = pool->scaling.min + 1; i <= pool->scaling.max; ++i) {
    const std::string node = mesh::WorkerName(pool->name, i);
    if (books.running[node] && pending.count(node) == 0) continue;
    CARRIERARR_RETURN_IF_ERROR(CheckWake(o_.fleet, *pool, 1, books.runs, Now()));
    CARRIERARR_ASSIGN_OR_RETURN(int64_t id, Decide(pool_name, node, kStart, reason));
    return PoolDecision{pool_name, "decided", node, id};
  }
  return Status::FailedPrecondition("every node of pool '" + pool_name + "' runs (max " +
                                    std::to_string(pool->scaling.max) + ")");
}

Result<std::vector<PoolDecision>> Controller::Sleep(const std::string& pool_name,
                                                    const std::string& reason) {
  MutexLock decide(decide_mu_);
  CARRIERARR_ASSIGN_OR_RETURN(const spec::PoolSpec* pool, OwnedPool(pool_name));
  CARRIERARR_ASSIGN_OR_RETURN(Books books, ReadBooks());
  const auto pending = books.Pending(pool_name);
  std::vector<PoolDecision> out;
  for (int i = pool->scaling.min + 1; i <= pool->scaling.max; ++i) {
    const std::string node = mesh::WorkerName(pool->name, i);
    auto p = pending.find(node);
    if (p != pending.end() && p->second->action == kStop) {
      out.push_back({pool_name, "decided", node, p->second->id});
      continue;
    }
    if (!books.running[node] && p == pending.end()) continue;
    CARRIERARR_ASSIGN_OR_RETURN(int64_t id, Decide(pool_name, node, kStop, reason));
    out.push_back({pool_name, "decided", node, id});
  }
  if (out.empty()) out.push_back({pool_name, "asleep", "", 0});
  return out;
}

void Controller::Touch(const std::string& pool) {
  MutexLock lock(mu_);
  touched_[pool] = Now();
}

Status Controller::RecordWakePhase(const std::string& pool, const std::string& phase,
                                   Clock::time_point at) {
  CARRIERARR_RETURN_IF_ERROR(control_plane::CheckPhaseName(phase));
  if (ScaledPool(pool) == nullptr) return Status::Ok();  // its nodes always run: no wake
  CARRIERARR_ASSIGN_OR_RETURN(auto actions,
                              o_.store->ListPowerActions(UnixMs(Now() - kPhaseWindow), false));
  auto start = std::find_if(actions.rbegin(), actions.rend(), [&](const PowerActionRecord& a) {
    return a.pool == pool && a.action == kStart;
  });
  if (start == actions.rend() || start->state == "failed") return Status::Ok();
  const std::string key = phase + "_ms";
  if (start->state == "done")
    return o_.store->AddPowerActionPhase(start->id, key, UnixMs(at)).status();
  // Seen before the start is done (its agent not yet heard from): kept for Execute to record.
  MutexLock lock(mu_);
  early_phases_[start->id].emplace(key, UnixMs(at));
  while (early_phases_.size() > kFinishedKept) early_phases_.erase(early_phases_.begin());
  return Status::Ok();
}

Status Controller::WaitForAgent(const PowerActionRecord& action, Clock::time_point since,
                                nlohmann::json& timings) {
  if (o_.activity == nullptr) return Status::Ok();
  const auto deadline = o_.time->MonotonicNow() + o_.agent_wait;
  for (int i = 0; !o_.activity->AgentSeenSince(action.node_id, since); ++i) {
    if (o_.time->MonotonicNow() >= deadline)
      return Status::DeadlineExceeded("the agent of " + action.node_id +
                                      " did not connect within " + FormatGoDuration(o_.agent_wait));
    // Renewed while waiting (about every second): the wait may outlast a lease.
    if (i % 10 == 0) CARRIERARR_RETURN_IF_ERROR(StillOwner(action.pool));
    o_.time->SleepFor(milliseconds(100));
  }
  timings["agent_ms"] = UnixMs(Now());
  return Status::Ok();
}

Status Controller::StillOwner(const std::string& pool) {
  {
    MutexLock lock(mu_);
    if (stopping_) return Status::Aborted("the control plane is stopping");
  }
  auto owned = Owns(pool);
  if (!owned.ok()) return owned.status();
  if (!*owned) return Status::Aborted("another control plane took pool '" + pool + "' over");
  return Status::Ok();
}

void Controller::Execute(const PowerActionRecord& action) {
  // Left decided when this controller may not act (any more): the pool's owner, or this one
  // after a restart, carries it out.
  if (!StillOwner(action.pool).ok()) return;
  nlohmann::json timings = {{"decided_ms", action.decided_ms}};
  Status done;
  if (action.action == kStart) {
    const Clock::time_point asked = Now();
    if (o_.drain != nullptr) o_.drain->Undrain(action.node_id);
    done = o_.power->Start(action.node_id);
    if (done.ok()) {
      timings["running_ms"] = UnixMs(Now());
      done = WaitForAgent(action, asked, timings);
    }
  } else {
    // Drained first (nothing new sent to it, its answers finished, its pods moved), then
    // stopped whatever the drain managed: a cap or an idle rule must not wait forever.
    if (o_.drain != nullptr) {
      Status drained = o_.drain->Drain(action.node_id, o_.drain_wait);
      timings["drained_ms"] = UnixMs(Now());
      if (!drained.ok()) timings["drain_error"] = drained.message();
    }
    done = o_.power->Stop(action.node_id);
    if (!done.ok() && o_.drain != nullptr) o_.drain->Undrain(action.node_id);
  }
  if (done.code() == StatusCode::kAborted) return;
  timings["done_ms"] = UnixMs(Now());
  {
    MutexLock lock(mu_);
    if (auto early = early_phases_.find(action.id); early != early_phases_.end()) {
      for (const auto& [key, ms] : early->second) timings[key] = ms;
      early_phases_.erase(early);
    }
  }
  PowerActionRecord finished = action;
  finished.state = done.ok() ? "done" : "failed";
  finished.done_ms = UnixMs(Now());
  finished.detail = done.ok() ? timings.dump() : done.message();
  // FailedPrecondition: finished meanwhile by an owner that took the pool over; theirs stands.
  (void)o_.store->FinishPowerAction(finished.id, finished.state, finished.done_ms, finished.detail);
  MutexLock lock(mu_);
  finished_[finished.id] = finished;
  while (finished_.size() > kFinishedKept) finished_.erase(finished_.begin());
  cv_.NotifyAll();
}

void Controller::RunPending() {
  for (;;) {
    PowerActionRecord next;
    {
      MutexLock lock(mu_);
      if (queue_.empty()) return;
      next = queue_.front();
      queue_.pop_front();
    }
    Execute(next);
  }
}

void Controller::Loop() {
  auto next_tick = std::chrono::steady_clock::now();
  for (;;) {
    {
      MutexLock lock(mu_);
      for (auto now = std::chrono::steady_clock::now();
           !stopping_ && queue_.empty() && now < next_tick; now = std::chrono::steady_clock::now())
        cv_.WaitFor(mu_, next_tick - now);
      if (stopping_) return;
    }
    RunPending();
    if (std::chrono::steady_clock::now() >= next_tick) {
      Tick();
      next_tick = std::chrono::steady_clock::now() + o_.tick;
    }
  }
}

void Controller::Tick() {
  // Takes over the pools whose owner stopped renewing, and their unfinished decisions.
  if (!ClaimAndResume().ok()) return;  // the store is down: try again next tick
  std::vector<std::string> scheduled;
  {
    MutexLock decide(decide_mu_);
    auto books = ReadBooks();
    if (!books.ok()) return;  // the store is down: try again next tick
    StopOverBudget(*books);
    StopIdleNodes(*books);
    for (const auto& pool : o_.fleet.pools) {
      const auto& wake_on = pool.scaling.wake_on;
      if (pool.scaling.enabled && !pool.scaling.schedule.empty() &&
          std::find(wake_on.begin(), wake_on.end(), spec::WakeTrigger::kSchedule) !=
              wake_on.end() &&
          InSchedule(pool.scaling.schedule, Now()))
        scheduled.push_back(pool.name);
    }
  }
  for (const auto& pool : scheduled) (void)Wake(pool, "schedule");
}

void Controller::StopOverBudget(const Books& books) {
  for (const auto& over : NodesOverBudget(o_.fleet, books.runs, Now())) {
    const spec::PoolSpec* pool = ScaledPool(over.pool);
    auto owned = Owns(over.pool);
    if (pool == nullptr || !owned.ok() || !*owned) continue;
    bool pending_stop = false;
    for (const auto& a : books.actions)
      pending_stop =
          pending_stop || (a.node_id == over.node && a.state == kDecided && a.action == kStop);
    if (!pending_stop) (void)Decide(over.pool, over.node, kStop, over.reason);
  }
}

void Controller::StopIdleNodes(const Books& books) {
  for (const auto& pool : o_.fleet.pools) {
    if (!pool.scaling.enabled || InSchedule(pool.scaling.schedule, Now())) continue;
    auto owned = Owns(pool.name);
    if (!owned.ok() || !*owned) continue;
    Clock::time_point touched{};
    {
      MutexLock lock(mu_);
      if (auto t = touched_.find(pool.name); t != touched_.end()) touched = t->second;
    }
    for (int i = pool.scaling.min + 1; i <= pool.scaling.max; ++i) {
      const std::string node = mesh::WorkerName(pool.name, i);
      auto running = books.running.find(node);
      if (running == books.running.end() || !running->second) continue;
      Clock::time_point busy = touched;
      bool pending = false;
      for (const auto& a : books.actions) {
        if (a.node_id != node) continue;
        pending = pending || a.state == kDecided;
        if (a.action == kStart && a.state == "done") busy = std::max(busy, FromUnixMs(a.done_ms));
      }
      if (o_.activity != nullptr)
        if (auto last = o_.activity->LastBusy(node)) busy = std::max(busy, *last);
      if (pending || Now() - busy < pool.scaling.idle_after) continue;
      (void)Decide(pool.name, node, kStop,
                   "idle for " + FormatGoDuration((pool.scaling.idle_after)));
    }
  }
}

Result<std::vector<PoolView>> Controller::Pools() {
  CARRIERARR_ASSIGN_OR_RETURN(Books books, ReadBooks());
  return PoolsOf(books);
}

std::vector<PoolView> Controller::PoolsOf(Books& books) {
  std::vector<PoolView> out;
  for (const auto& pool : o_.fleet.pools) {
    if (!pool.scaling.enabled) continue;
    PoolView v{.pool = pool.name, .min = pool.scaling.min, .max = pool.scaling.max};
    for (int i = pool.scaling.min + 1; i <= pool.scaling.max; ++i)
      if (books.running[mesh::WorkerName(pool.name, i)])
        v.running.push_back(mesh::WorkerName(pool.name, i));
    for (const auto& a : books.actions) {
      if (a.pool != pool.name) continue;
      if (a.state == kDecided) {
        v.pending.push_back(a);
      } else {
        v.last = a;
      }
    }
    v.spend = SpendOf(books.runs, pool.name, Now());
    {
      MutexLock lock(mu_);
      v.owned = owned_.count(pool.name) != 0;  // as the last claim (start, tick) found it
    }
    out.push_back(std::move(v));
  }
  return out;
}

namespace {

// Seconds, as Prometheus writes them.
std::string PromNumber(double v) {
  std::ostringstream out;
  out.precision(9);
  out << v;
  return out.str();
}

std::string Usd(spec::MicroUsd micro) { return PromNumber(static_cast<double>(micro) / 1e6); }

// A wake phase as a histogram of seconds, one series per pool.
void AppendWakeHistogram(const std::map<std::string, std::vector<double>>& by_pool,
                         const std::string& phase, std::string& out) {
  static constexpr double kBuckets[] = {1, 2, 5, 10, 30, 60, 120, 300, 600};
  for (const auto& [pool, values] : by_pool) {
    const std::string labels = "pool=\"" + pool + "\",phase=\"" + phase + "\"";
    double sum = 0;
    for (double v : values) sum += v;
    for (double le : kBuckets) {
      auto n = std::count_if(values.begin(), values.end(), [&](double v) { return v <= le; });
      out += "carrierarr_wake_seconds_bucket{" + labels + ",le=\"" + PromNumber(le) + "\"} " +
             std::to_string(n) + "\n";
    }
    out += "carrierarr_wake_seconds_bucket{" + labels + ",le=\"+Inf\"} " +
           std::to_string(values.size()) + "\n";
    out += "carrierarr_wake_seconds_sum{" + labels + "} " + PromNumber(sum) + "\n";
    out += "carrierarr_wake_seconds_count{" + labels + "} " + std::to_string(values.size()) + "\n";
  }
}

}  // namespace

std::string Controller::PrometheusText() {
  auto books = ReadBooks();
  if (!books.ok()) return "";
  const std::vector<PoolView> pools = PoolsOf(*books);
  std::string out;
  using Samples = std::vector<std::pair<std::string, std::string>>;  // (labels, value)
  // One gauge family: its HELP and TYPE, then each pool's samples.
  auto gauge = [&](const std::string& name, const std::string& help,
                   const std::function<Samples(const PoolView&)>& samples) {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " gauge\n";
    for (const auto& p : pools)
      for (const auto& [labels, value] : samples(p))
        out += name + "{pool=\"" + p.pool + "\"" + labels + "} " + value + "\n";
  };
  gauge(
      "carrierarr_pool_spend_usd",
      "What the nodes the burst controller started cost, since 00:00 UTC (day) and the 1st "
      "(month).",
      [](const PoolView& p) -> Samples {
        return {{",period=\"day\"", Usd(p.spend.today)}, {",period=\"month\"", Usd(p.spend.month)}};
      });
  gauge("carrierarr_pool_forecast_usd", "Spend plus what runs now until the day (month) ends.",
        [](const PoolView& p) -> Samples {
          return {{",period=\"day\"", Usd(p.spend.forecast_day)},
                  {",period=\"month\"", Usd(p.spend.forecast_month)}};
        });
  gauge("carrierarr_pool_running_nodes", "Nodes beyond min that run.",
        [](const PoolView& p) -> Samples {
          return {{"", std::to_string(p.running.size())}};
        });
  gauge("carrierarr_pool_pending_actions", "Decisions not yet carried out.",
        [](const PoolView& p) -> Samples {
          return {{"", std::to_string(p.pending.size())}};
        });
  // The phases of every finished start in the books (its detail holds the timings).
  static constexpr const char* kPhases[] = {"running", "agent", "model_loaded", "first_byte"};
  std::map<std::string, std::map<std::string, std::vector<double>>> seconds;  // phase, pool
  for (const auto& a : books->actions) {
    if (a.action != kStart || a.state != "done") continue;
    auto t = nlohmann::json::parse(a.detail, nullptr, false);
    if (!t.is_object()) continue;
    const auto decided = t.value("decided_ms", int64_t{0});
    for (const char* phase : kPhases) {
      const std::string key = std::string(phase) + "_ms";
      if (t.contains(key) && t[key].is_number_integer())
        seconds[phase][a.pool].push_back(static_cast<double>(t[key].get<int64_t>() - decided) /
                                         1000);
    }
  }
  out +=
      "# HELP carrierarr_wake_seconds From a start's decision to the node running (phase "
      "running), its agent connected (agent), and, for a wake the gateway waited for, the model "
      "loaded on it (model_loaded) and the first byte of the answer (first_byte).\n"
      "# TYPE carrierarr_wake_seconds histogram\n";
  for (const char* phase : kPhases) AppendWakeHistogram(seconds[phase], phase, out);
  return out;
}

Result<PowerActionRecord> Controller::WaitAction(int64_t id, milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  {
    MutexLock lock(mu_);
    for (auto now = std::chrono::steady_clock::now();
         !stopping_ && finished_.count(id) == 0 && now < deadline;
         now = std::chrono::steady_clock::now())
      cv_.WaitFor(mu_, deadline - now);
    if (auto f = finished_.find(id); f != finished_.end()) return f->second;
  }
  CARRIERARR_ASSIGN_OR_RETURN(auto actions,
                              o_.store->ListPowerActions(UnixMs(Now() - kBooksWindow), false));
  for (const auto& a : actions)
    if (a.id == id) return a;
  return Status::NotFound("no power action " + std::to_string(id));
}

}  // namespace carrierarr::burst
