// The fleet's event log: appends go to the store (which numbers them); readers list from the
// store and may wait for the next one.
//
// Thread safety: every method may be called from any thread. mu_ guards last_seq_, the highest
// sequence number appended through this log, and the watches; it is never held across a store
// call (only a watch's quick callback runs under it).
// Callers: every part of the control plane appends; the admin (WatchEvents) and HTTP threads
// read.
#ifndef CARRIERARR_CONTROL_PLANE_EVENT_LOG_H_
#define CARRIERARR_CONTROL_PLANE_EVENT_LOG_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "carrierarr/v1/fleet.pb.h"
#include "control_plane/metrics.h"
#include "control_plane/store.h"
#include "core/status.h"
#include "core/thread_annotations.h"
#include "core/time_source.h"

namespace carrierarr::control_plane {

class EventLog {
 public:
  // A failed append counts in `store_errors` and is otherwise dropped: events are a record of
  // what happened, never a reason for it not to happen.
  EventLog(Store& store, const TimeSource& clock, Counter& store_errors)
      : store_(store), clock_(clock), store_errors_(store_errors) {}

  void Append(const std::string& node_id, const std::string& kind, const std::string& message)
      EXCLUDES(mu_);
  // Events up to `seq` were stored by someone else (AgentEvents' batches): wakes the waiters.
  void NoteAppended(int64_t seq) EXCLUDES(mu_);
  // Events after after_seq (up to limit); waits up to `wait` (of the TimeSource's time) for one
  // when there is none yet.
  Result<std::vector<carrierarr::v1::Event>> List(int64_t after_seq, int limit,
                                                  std::chrono::milliseconds wait) EXCLUDES(mu_);
  // The non-blocking wait: calls on_appended once when an event after after_seq has been
  // appended through this log (at once, on this thread, when one already has), with mu_ held,
  // so it must be quick, must not block and must not call the log. Returns the id for Unwatch.
  // Appends by another replica of a shared store are not seen. At most one watch per waiting
  // HTTP request: bounded by the HTTP server's connection cap.
  uint64_t Watch(int64_t after_seq, std::function<void()> on_appended) EXCLUDES(mu_);
  // Forgets a watch; once it returns, its on_appended is not running and never will be.
  void Unwatch(uint64_t watch_id) EXCLUDES(mu_);

 private:
  void FireWatches() REQUIRES(mu_);  // those whose after_seq is below last_seq_

  Store& store_;
  const TimeSource& clock_;
  Counter& store_errors_;

  Mutex mu_;
  int64_t last_seq_ GUARDED_BY(mu_) = 0;
  CondVar appended_;
  struct Watcher {
    int64_t after_seq;
    std::function<void()> on_appended;
  };
  std::map<uint64_t, Watcher> watchers_ GUARDED_BY(mu_);
  uint64_t next_watch_ GUARDED_BY(mu_) = 0;
};

}  // namespace carrierarr::control_plane

#endif  // CARRIERARR_CONTROL_PLANE_EVENT_LOG_H_
