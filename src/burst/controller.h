// The burst controller: wakes and stops the nodes of scaled pools, in the control plane (the
// always-on part in the homelab). Crash-safe: every decision is recorded in the store
// (PowerActionRecord) before it is acted on, and a restarted controller carries out the ones
// left "decided"; acting is idempotent (a resumed start starts nothing that runs). Two
// controllers on one PostgreSQL never decide for the same pool: each pool has one owner at a
// time (Store::ClaimPool, a lease renewed every tick).
//
// The nodes of a pool are <pool>-1 .. <pool>-<max>; the first `min` always run (`up` keeps them),
// the others are the controller's: stopped until woken, stopped again after idle_after without
// activity, or when a budget is reached.
//
// Thread safety: every public method may be called from any thread. One worker thread carries
// out the decisions, one at a time, in the order they were made, and runs the periodic checks
// (idle, budget, schedule, lease). No seam is called with mu_ held.
#ifndef CARRIERARR_BURST_CONTROLLER_H_
#define CARRIERARR_BURST_CONTROLLER_H_

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "burst/spend.h"
#include "control_plane/store.h"
#include "core/status.h"
#include "core/thread_annotations.h"
#include "core/time_source.h"
#include "spec/fleet.h"

namespace carrierarr::burst {

// How the controller starts and stops nodes: in serve, `carrierarr power` (ops/power.h) as a
// subprocess; in tests, a fake. Both calls are idempotent and return once done.
class NodePower {
 public:
  virtual ~NodePower() = default;
  virtual Status Start(const std::string& node) = 0;
  virtual Status Stop(const std::string& node) = 0;
};

// What the control plane knows of a node's agent. Both may be called from the worker thread.
class NodeActivity {
 public:
  virtual ~NodeActivity() = default;
  // Its agent is connected and has been heard from at or after `since` (not a stale view of
  // the run before).
  virtual bool AgentSeenSince(const std::string& node, Clock::time_point since) = 0;
  // When the node was last busy (its agent's report); nullopt when unknown.
  virtual std::optional<Clock::time_point> LastBusy(const std::string& node) = 0;
};

// How the controller drains a node before it stops it, and lets it serve again. In serve: the
// model gateway sends it nothing new and lets its answers finish, and a k3s node's agent
// drains its pods (DRAIN). Both may be called from the worker thread.
class NodeDrain {
 public:
  virtual ~NodeDrain() = default;
  // Returns once `node` is drained, or after about `timeout` with what was not; the stop goes
  // on either way (the error is recorded with it).
  virtual Status Drain(const std::string& node, std::chrono::milliseconds timeout) = 0;
  // Before a start, and after a stop that failed: it may serve again.
  virtual void Undrain(const std::string& node) = 0;
};

// `carrierarr power -f FLEET --node NODE --set on|off` with `binary` (argv, never a shell).
std::unique_ptr<NodePower> MakeCommandNodePower(std::string binary, std::string fleet_file);

struct ControllerOptions {
  spec::FleetSpec fleet;                  // its scaled pools are the controller's
  control_plane::Store* store = nullptr;  // not owned; outlives the controller
  NodePower* power = nullptr;             // not owned
  NodeActivity* activity = nullptr;       // not owned; null: agents are not waited for
  NodeDrain* drain = nullptr;             // not owned; null: nodes are stopped undrained
  TimeSource* time = RealTimeSource::Get();
  std::string owner;                             // this control plane, in the pools' leases
  std::chrono::milliseconds lease{30000};        // how long a claim holds without renewal
  std::chrono::milliseconds tick{1000};          // how often idle, budget and schedule are checked
  std::chrono::milliseconds agent_wait{120000};  // after a start, how long to wait for the agent
  std::chrono::milliseconds drain_wait{120000};  // before a stop, how long a drain may take
  bool background_thread = true;  // tests call RunPending() and Tick() themselves when false
};

// What a wake or sleep did.
struct PoolDecision {
  std::string pool;
  // "decided" (a new action), "waking" (a start under way: joined), "awake" (a node runs),
  // "asleep" (nothing to stop)
  std::string outcome;
  std::string node;       // the node concerned, if any
  int64_t action_id = 0;  // of the start or stop concerned, if any
};

// One pool as `status` and `carrierarr wake` show it.
struct PoolView {
  std::string pool;
  int min = 0, max = 0;
  std::vector<std::string> running;                       // nodes beyond min that run
  std::vector<control_plane::PowerActionRecord> pending;  // decided, not yet done
  std::optional<control_plane::PowerActionRecord> last;   // the latest finished action
  Spend spend;
  bool owned = false;  // this controller holds the pool's lease
};

class Controller {
 public:
  // Claims the fleet's scaled pools, queues their unfinished decisions and starts the worker.
  static Result<std::unique_ptr<Controller>> Start(ControllerOptions options);
  ~Controller();  // stops the worker after the action it is carrying out
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Wakes `pool`: records the start of its lowest stopped node, unless a node of it runs or is
  // starting (a burst of requests makes one wake). ResourceExhausted with the figures when a
  // budget would be passed, FailedPrecondition when every node runs (max) or another control
  // plane owns the pool, NotFound for a pool without `scaling`.
  Result<PoolDecision> Wake(const std::string& pool, const std::string& reason);
  // Records the stop of every node of `pool` beyond min that runs or is starting.
  Result<std::vector<PoolDecision>> Sleep(const std::string& pool, const std::string& reason);
  // Activity on the pool (a gateway request): its nodes are not idle now.
  void Touch(const std::string& pool);
  // A phase of the pool's latest wake that the gateway saw at `at` ("model_loaded",
  // "first_byte"): recorded as <phase>_ms in that start's timings, once (the first sighting
  // counts), when the start was decided within the last hour and did not fail.
  Status RecordWakePhase(const std::string& pool, const std::string& phase, Clock::time_point at);

  Result<std::vector<PoolView>> Pools();
  // For /metrics: each pool's spend and forecast (UTC day and month), running nodes, pending
  // decisions, and the wake phases of the starts in the books as histograms (seconds from the
  // decision to the node running, and to its agent connected). Empty when the store fails.
  std::string PrometheusText();
  // Waits until action `id` is finished or `timeout` has passed; the record as it is then.
  Result<control_plane::PowerActionRecord> WaitAction(int64_t id,
                                                      std::chrono::milliseconds timeout);

  // Without the background thread: carry out every queued decision; one periodic check.
  void RunPending();
  void Tick();

 private:
  explicit Controller(ControllerOptions options);
  void Loop();
  // Carries out one decision and records how it ended.
  void Execute(const control_plane::PowerActionRecord& action);
  // Until the node's agent is heard from after `since`; Aborted when the lease is lost or the
  // controller stops meanwhile (the action stays decided).
  Status WaitForAgent(const control_plane::PowerActionRecord& action, Clock::time_point since,
                      nlohmann::json& timings);
  // OK while this controller may act for `pool`; Aborted when stopping or no longer its owner.
  Status StillOwner(const std::string& pool);
  // Records a decision and queues it (mu_ not held).
  Result<int64_t> Decide(const std::string& pool, const std::string& node,
                         const std::string& action, const std::string& reason);
  Result<bool> Owns(const std::string& pool);
  // The scaled pool `pool_name`, when this controller owns it: NotFound or FailedPrecondition.
  Result<const spec::PoolSpec*> OwnedPool(const std::string& pool_name);
  // Claims (or renews) every scaled pool; queues the unfinished decisions of the pools it has
  // just gained (at start, or from an owner whose lease ran out).
  Status ClaimAndResume();
  // Every action since `since`, and the nodes that run now by the latest finished ones.
  struct Books {
    std::vector<control_plane::PowerActionRecord> actions;
    std::vector<NodeRun> runs;
    std::map<std::string, bool> running;  // node -> runs, by its latest done action
    // The pool's decided actions by node (the latest of each).
    std::map<std::string, const control_plane::PowerActionRecord*> Pending(
        const std::string& pool) const;
  };
  Result<Books> ReadBooks();
  std::vector<PoolView> PoolsOf(Books& books);
  const spec::PoolSpec* ScaledPool(const std::string& pool) const;
  void StopIdleNodes(const Books& books);
  void StopOverBudget(const Books& books);
  void WakeForSchedule(const Books& books);
  Clock::time_point Now() const { return o_.time->SystemNow(); }

  const ControllerOptions o_;
  Mutex mu_;
  CondVar cv_;  // queue_, finished_ or stopping_ changed
  std::deque<control_plane::PowerActionRecord> queue_ GUARDED_BY(mu_);
  std::map<std::string, Clock::time_point> touched_ GUARDED_BY(mu_);  // by pool
  // The latest finished actions, by id, for WaitAction (bounded).
  std::map<int64_t, control_plane::PowerActionRecord> finished_ GUARDED_BY(mu_);
  std::set<std::string> owned_ GUARDED_BY(mu_);  // pools whose lease this controller holds
  // Phases seen while their start was still being carried out, by action id (few: one start
  // per pool at a time; erased when it finishes).
  std::map<int64_t, std::map<std::string, int64_t>> early_phases_ GUARDED_BY(mu_);
  // Serializes Wake/Sleep decisions, so that two requests never both decide a start.
  Mutex decide_mu_;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread worker_;
};

}  // namespace carrierarr::burst

#endif  // CARRIERARR_BURST_CONTROLLER_H_
