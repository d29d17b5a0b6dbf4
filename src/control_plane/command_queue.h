// Commands not yet finished (queued or sent), with their timeouts, and the wait for a result.
// Finished commands live only in the store, except the output of a FETCH_KUBECONFIG: it holds
// the k3s cluster's admin key, so the store (and so every later reader) gets a placeholder, and
// the output itself is held in memory until the first Get or Wait of the finished command hands
// it to its caller (the operator who queued it and waits), or kHeldOutputFor has passed.
//
// Thread safety: every method may be called from any thread. mu_ guards unfinished_; the store
// is written under it (lock order: mu_ before the store's own lock) so that a command's states
// reach the store in the order they happen (sent never overwrites succeeded). No StreamSink is
// called under it. Callers: the admin and HTTP threads (send, get, wait), the gRPC reactors
// (attach, deliver, result), the sweep thread (timeouts).
#ifndef CARRIERARR_CONTROL_PLANE_COMMAND_QUEUE_H_
#define CARRIERARR_CONTROL_PLANE_COMMAND_QUEUE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "carrierarr/v1/fleet.pb.h"
#include "control_plane/metrics.h"
#include "control_plane/store.h"
#include "core/status.h"
#include "core/thread_annotations.h"
#include "core/time_source.h"
#include "ec2agent/v1/agent.pb.h"

namespace carrierarr::control_plane {

// Bounds on what is held in memory for FETCH_KUBECONFIG (see above): an output over
// kMaxHeldOutputBytes is dropped (the command fails), at most kMaxHeldOutputs are held (the
// oldest goes first), each for kHeldOutputFor.
inline constexpr size_t kMaxHeldOutputBytes = 64 << 10;
inline constexpr size_t kMaxHeldOutputs = 4;
inline constexpr std::chrono::seconds kHeldOutputFor{120};

class CommandQueue {
 public:
  // A failed store write counts in `store_errors`; the queue keeps going from memory.
  CommandQueue(Store& store, const TimeSource& clock, std::chrono::seconds grace,
               Counter& store_errors)
      : store_(store), clock_(clock), grace_(grace), store_errors_(store_errors) {}

  // Adds a stored unfinished command (at start-up); DataLoss when it does not parse.
  Status Load(const CommandRecord& record) EXCLUDES(mu_);
  // Stores a new command for `node_id` (state queued) and keeps it until it finishes.
  Result<ec2agent::v1::Command> Add(const std::string& node_id, ec2agent::v1::Command command)
      EXCLUDES(mu_);
  // Forgets an unfinished command (its node went away while it was added).
  void Remove(const std::string& command_id) EXCLUDES(mu_);
  // The node's unfinished commands, oldest first by id order; not those being cancelled (the
  // agent already has them, and a restarted one must not start them again).
  std::vector<ec2agent::v1::Command> PendingFor(const std::string& node_id) const EXCLUDES(mu_);
  // A queued command went out on the node's stream: now it is sent.
  void MarkSent(const std::string& command_id) EXCLUDES(mu_);
  // Whether the command is queued or sent (so still to be delivered when asked): false once it
  // finished, was cancelled or is being cancelled.
  bool Deliverable(const std::string& command_id) const EXCLUDES(mu_);

  struct CancelOutcome {
    CommandRecord record;      // as it is after the cancel
    bool send_cancel = false;  // it was sent: the node must be told (COMMAND_TYPE_CANCEL)
  };
  // Cancels a command: a queued one is finished as "cancelled" at once; a sent one becomes
  // "cancelling" (the node's result, an error "cancelled", finishes it as "cancelled"); one
  // already cancelling is left as it is. FailedPrecondition for a finished command, NotFound for
  // an unknown one.
  Result<CancelOutcome> Cancel(const std::string& command_id) EXCLUDES(mu_);
  // The node's result for one of its commands (a failed one that was being cancelled finishes
  // as "cancelled"); false for an unknown or foreign command id (a
  // duplicate after a reconnect, or a command that already timed out).
  bool Finish(const std::string& node_id, const ec2agent::v1::CommandResult& result) EXCLUDES(mu_);
  // Ends every command whose timeout (plus grace) has passed at now_ms, and forgets held
  // outputs past their time; returns the commands.
  std::vector<CommandRecord> TimeOut(int64_t now_ms) EXCLUDES(mu_);
  // Forgets the node's commands (the node was deleted).
  void DropNode(const std::string& node_id) EXCLUDES(mu_);
  size_t size() const EXCLUDES(mu_);

  // The command as it is now: from memory while unfinished, else from the store (with its held
  // output, which is then forgotten).
  Result<carrierarr::v1::CommandRecord> Get(const std::string& command_id) EXCLUDES(mu_);
  // Waits until the command has finished or `timeout` (of the TimeSource's time) has passed;
  // returns it as it is then.
  Result<carrierarr::v1::CommandRecord> Wait(const std::string& command_id,
                                             std::chrono::milliseconds timeout) EXCLUDES(mu_);
  // The non-blocking wait: calls on_done once when the command has finished (at once, on this
  // thread, when it already has or is unknown), from the thread that finished it and with
  // watch_mu_ held, so on_done must be quick, must not block and must not call the queue.
  // Returns the id for Unwatch. At most one watch per waiting HTTP request: bounded by the
  // HTTP server's connection cap.
  uint64_t Watch(const std::string& command_id, std::function<void()> on_done)
      EXCLUDES(mu_, watch_mu_);
  // Forgets a watch; once it returns, its on_done is not running and never will be.
  void Unwatch(uint64_t watch_id) EXCLUDES(watch_mu_);

 private:
  struct Pending {
    CommandRecord record;
    ec2agent::v1::Command command;
  };
  void Put(const CommandRecord& record) REQUIRES(mu_);
  // Of a FETCH_KUBECONFIG's result: moves stdout into held_ and leaves a placeholder.
  void HoldOutput(const std::string& command_id, ec2agent::v1::CommandResult& result) REQUIRES(mu_);
  // A command finished, timed out or was dropped: wakes Wait and the watches of finished ones.
  void NotifyDone() EXCLUDES(mu_, watch_mu_);
  // Calls and forgets the watches whose command is no longer unfinished.
  void FireFinishedWatches() REQUIRES(watch_mu_) EXCLUDES(mu_);

  Store& store_;
  const TimeSource& clock_;
  const std::chrono::seconds grace_;
  Counter& store_errors_;

  mutable Mutex mu_;
  std::map<std::string, Pending> unfinished_ GUARDED_BY(mu_);  // by command id
  struct Held {
    std::string output;
    int64_t until_ms = 0;
  };
  std::map<std::string, Held> held_ GUARDED_BY(mu_);  // by command id
  CondVar done_;  // a command finished, timed out or was dropped

  // Lock order: watch_mu_ before mu_ (FireFinishedWatches reads unfinished_ under both).
  struct Watcher {
    std::string command_id;
    std::function<void()> on_done;
  };
  Mutex watch_mu_;
  std::map<uint64_t, Watcher> watchers_ GUARDED_BY(watch_mu_);
  uint64_t next_watch_ GUARDED_BY(watch_mu_) = 0;
};

// Whether a command in this state has finished: anything but queued, sent and cancelling.
bool CommandFinished(std::string_view state);

// The admin API's view of a stored command.
carrierarr::v1::CommandRecord ToCommandProto(const CommandRecord& record);

}  // namespace carrierarr::control_plane

#endif  // CARRIERARR_CONTROL_PLANE_COMMAND_QUEUE_H_
