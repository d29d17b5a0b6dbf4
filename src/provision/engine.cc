#include "provision/engine.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace carrierarr::provision {
namespace {

// Runs one batch of steps (all deletes, or all creates) over a DAG with a fixed pool of threads.
// `waits_for[i]` lists the indices step i must wait for.
class DagRunner {
 public:
  DagRunner(std::vector<const Step*> steps, std::vector<std::vector<size_t>> waits_for,
            const ApplyOptions& options, std::function<Status(const Step&)> run,
            ApplyResult& result)
      : steps_(std::move(steps)),
        run_(std::move(run)),
        on_event_(options.on_event),
        time_(*options.time),
        result_(result),
        parallelism_(std::max(1, options.parallelism)) {
    pending_.resize(steps_.size());
    dependents_.resize(steps_.size());
    state_.assign(steps_.size(), kWaiting);
    for (size_t i = 0; i < steps_.size(); ++i) {
      pending_[i] = waits_for[i].size();
      for (size_t d : waits_for[i]) dependents_[d].push_back(i);
      if (pending_[i] == 0) ready_.push_back(i);
    }
  }

  void Run() {
    std::vector<std::thread> threads;
    int n = std::min<int>(parallelism_, static_cast<int>(steps_.size()));
    threads.reserve(n);
    for (int t = 0; t < n; ++t) threads.emplace_back([this] { Worker(); });
    for (auto& t : threads) t.join();
  }

 private:
  enum State { kWaiting, kRunning, kDone, kFailedOrSkipped };

  void Emit(const StepEvent& e) {
    std::lock_guard<std::mutex> lock(event_mu_);
    if (on_event_) on_event_(e);
  }

  // Marks everything downstream of `i` as skipped. Requires mu_.
  void SkipDependents(size_t i, const std::string& because) {
    for (size_t d : dependents_[i]) {
      if (state_[d] != kWaiting) continue;
      state_[d] = kFailedOrSkipped;
      ++result_.skipped;
      ++finished_;
      skipped_events_.push_back({StepEvent::Type::kSkipped, steps_[d], {}, "needs " + because});
      SkipDependents(d, because);
    }
  }

  void Worker() {
    for (;;) {
      size_t i;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return !ready_.empty() || finished_ == steps_.size() || stop_; });
        if (finished_ == steps_.size() || (stop_ && ready_.empty())) {
          cv_.notify_all();
          return;
        }
        if (stop_) {
          // After a failure, start nothing new; count what would have run as skipped.
          while (!ready_.empty()) {
            size_t s = ready_.front();
            ready_.pop_front();
            state_[s] = kFailedOrSkipped;
            ++result_.skipped;
            ++finished_;
            skipped_events_.push_back(
                {StepEvent::Type::kSkipped, steps_[s], {}, "an earlier step failed"});
            SkipDependents(s, steps_[s]->id);
          }
          FlushSkipped(lock);
          cv_.notify_all();
          continue;
        }
        i = ready_.front();
        ready_.pop_front();
        state_[i] = kRunning;
      }
      const Step& step = *steps_[i];
      Emit({StepEvent::Type::kStarted, &step});
      auto start = time_.MonotonicNow();
      Status s = run_(step);
      auto elapsed =
          std::chrono::duration_cast<std::chrono::milliseconds>(time_.MonotonicNow() - start);
      Emit({s.ok() ? StepEvent::Type::kSucceeded : StepEvent::Type::kFailed, &step, elapsed,
            s.ok() ? "" : s.message()});
      std::unique_lock<std::mutex> lock(mu_);
      ++finished_;
      if (s.ok()) {
        state_[i] = kDone;
        ++result_.succeeded;
        for (size_t d : dependents_[i]) {
          if (--pending_[d] == 0 && state_[d] == kWaiting) ready_.push_back(d);
        }
      } else {
        state_[i] = kFailedOrSkipped;
        ++result_.failed;
        if (result_.status.ok()) result_.status = s.WithPrefix(step.id);
        stop_ = true;
        SkipDependents(i, step.id);
      }
      FlushSkipped(lock);
      cv_.notify_all();
    }
  }

  // Emits queued skip events without holding mu_ (event handlers may be slow).
  void FlushSkipped(std::unique_lock<std::mutex>& lock) {
    std::vector<StepEvent> events;
    events.swap(skipped_events_);
    lock.unlock();
    for (const auto& e : events) Emit(e);
    lock.lock();
  }

  const std::vector<const Step*> steps_;
  const std::function<Status(const Step&)> run_;
  const std::function<void(const StepEvent&)>& on_event_;
  TimeSource& time_;
  ApplyResult& result_;
  const int parallelism_;

  std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  std::vector<size_t> pending_;
  std::vector<std::vector<size_t>> dependents_;
  std::vector<State> state_;
  std::deque<size_t> ready_;
  std::vector<StepEvent> skipped_events_;
  size_t finished_ = 0;
  bool stop_ = false;
  std::mutex event_mu_;
};

Status DeleteRecorded(const std::string& id, StateStore& store, const KindRegistry& kinds) {
  FleetState snapshot = store.Snapshot();
  auto it = snapshot.resources.find(id);
  if (it == snapshot.resources.end()) return Status::Ok();  // already gone
  const Deleter* deleter = kinds.Find(it->second.kind);
  if (deleter == nullptr) {
    return Status::Internal("no deleter for kind '" + it->second.kind +
                            "'; this carrierarr is "
                            "older than the one that made it");
  }
  CARRIERARR_RETURN_IF_ERROR(store.SetPhase(id, Phase::kDeleting));
  CARRIERARR_RETURN_IF_ERROR((*deleter)(it->second.attrs));
  return store.Remove(id);
}

Status CreateOne(const Step& step, Resource& resource, StateStore& store) {
  nlohmann::json attrs = resource.attrs();
  attrs["summary"] = step.summary;
  if (step.power_off) {
    attrs[kPoweredOff] = true;
    return store.Put(step.id, {step.kind, Phase::kReady, step.hash, step.deps, attrs});
  }
  CARRIERARR_RETURN_IF_ERROR(
      store.Put(step.id, {step.kind, Phase::kCreating, step.hash, step.deps, attrs}));
  auto created = resource.Create();
  if (!created.ok()) return created.status();
  auto exists = resource.Exists();
  if (!exists.ok()) return exists.status().WithPrefix("reading it back");
  if (!*exists)
    return Status::Internal("created, but reading it back found it missing or different");
  nlohmann::json final_attrs = *created;
  final_attrs["summary"] = step.summary;
  return store.Put(step.id, {step.kind, Phase::kReady, step.hash, step.deps, final_attrs});
}

// The plan's steps of `action` and its replaces: a replace deletes in phase 1 and creates in
// phase 2.
std::vector<const Step*> StepsWithReplaces(const Plan& plan, Action action) {
  std::vector<const Step*> steps;
  for (const auto& s : plan.steps) {
    if (s.action == action || s.action == Action::kReplace) steps.push_back(&s);
  }
  return steps;
}

// Each step's position in `steps`, by id: how DagRunner's waits name a step.
std::map<std::string, size_t> PositionsById(const std::vector<const Step*>& steps) {
  std::map<std::string, size_t> positions;
  for (size_t i = 0; i < steps.size(); ++i) positions[steps[i]->id] = i;
  return positions;
}

}  // namespace

ApplyResult Apply(const Plan& plan, const ResourceList& desired, StateStore& store,
                  const KindRegistry& kinds, const ApplyOptions& options) {
  ApplyResult result;
  std::map<std::string, Resource*> by_id;
  for (const auto& r : desired) by_id[r->id()] = r.get();

  // Phase 1: deletions (plain deletes and the first half of replaces). A record is deleted only
  // after every record that depends on it.
  FleetState state = store.Snapshot();
  const std::vector<const Step*> deletes = StepsWithReplaces(plan, Action::kDelete);
  const std::map<std::string, size_t> delete_index = PositionsById(deletes);
  std::vector<std::vector<size_t>> delete_waits(deletes.size());
  for (size_t i = 0; i < deletes.size(); ++i) {
    for (const auto& [id, rec] : state.resources) {
      auto dependent = delete_index.find(id);
      if (dependent == delete_index.end()) continue;
      for (const auto& d : rec.deps) {
        if (d == deletes[i]->id) delete_waits[i].push_back(dependent->second);
      }
    }
  }
  DagRunner(
      deletes, delete_waits, options,
      [&](const Step& s) { return DeleteRecorded(s.id, store, kinds); }, result)
      .Run();
  if (!result.status.ok()) return result;

  // Phase 2: creations (creates and the second half of replaces) in dependency order.
  const std::vector<const Step*> creates = StepsWithReplaces(plan, Action::kCreate);
  const std::map<std::string, size_t> create_index = PositionsById(creates);
  std::vector<std::vector<size_t>> create_waits(creates.size());
  for (size_t i = 0; i < creates.size(); ++i) {
    for (const auto& d : creates[i]->deps) {
      auto it = create_index.find(d);
      if (it != create_index.end()) create_waits[i].push_back(it->second);
    }
  }
  DagRunner(
      creates, create_waits, options,
      [&](const Step& s) -> Status {
        auto it = by_id.find(s.id);
        if (it == by_id.end()) return Status::Internal("plan step without a resource");
        return CreateOne(s, *it->second, store);
      },
      result)
      .Run();
  return result;
}

}  // namespace carrierarr::provision
