// Events that agents cause (their WARN and ERROR logs, notices about what was cut from their
// statuses), between the gRPC callback threads and the event store: a token bucket per node on
// the injected clock drops what comes faster than the limits allow, and what passes is written
// in batches, one transaction each, by a thread of its own (or by Flush). What was dropped is
// reported as one summary event per node: "N events from node X dropped (...)".
//
// Thread safety: every method may be called from any thread. mu_ guards the buckets, the pending
// batch and the stop flag; flush_mu_ makes flushes one at a time and is taken before mu_ (lock
// order: flush_mu_, mu_, the store's own lock, then the EventLog's, which NoteAppended takes
// after the store call). Callers: the gRPC reactors (Submit), the batch thread started by Start,
// tests and the destructor (Flush), the admin threads (ForgetNode).
#ifndef CARRIERARR_CONTROL_PLANE_AGENT_EVENTS_H_
#define CARRIERARR_CONTROL_PLANE_AGENT_EVENTS_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "control_plane/event_log.h"
#include "control_plane/metrics.h"
#include "control_plane/store.h"
#include "core/thread_annotations.h"
#include "core/time_source.h"

namespace carrierarr::control_plane {

struct AgentEventLimits {
  double per_second = 10;  // a node's sustained rate
  int burst = 50;          // and how many it may send at once
  // Events waiting for their batch, all nodes together; beyond it they are dropped (and counted).
  size_t max_pending = 10000;
  std::chrono::milliseconds batch_delay{200};  // the batch thread writes this often
  // A node's drop summary is written at most this often (on the injected clock).
  std::chrono::seconds summary_interval{10};
};

class AgentEvents {
 public:
  AgentEvents(Store& store, EventLog& log, const TimeSource& clock, AgentEventLimits limits,
              Counter& store_errors)
      : store_(store), log_(log), clock_(clock), limits_(limits), store_errors_(store_errors) {}
  ~AgentEvents();  // stops the thread and writes what is pending, summaries included
  AgentEvents(const AgentEvents&) = delete;
  AgentEvents& operator=(const AgentEvents&) = delete;

  // Starts the batch thread (without it, Flush writes).
  void Start() EXCLUDES(mu_);
  // Queues an event the node caused; false when the node is over its limit (or the batch is
  // full) and the event was dropped and counted.
  bool Submit(const std::string& node_id, const std::string& kind, const std::string& message)
      EXCLUDES(mu_);
  // Writes the pending events and any drop summary that is due now.
  void Flush() EXCLUDES(flush_mu_, mu_);
  // Forgets the node's bucket (it was deleted).
  void ForgetNode(const std::string& node_id) EXCLUDES(mu_);

  uint64_t dropped() const { return dropped_.value(); }

 private:
  struct Bucket {
    double tokens = 0;
    int64_t refilled_ms = 0;
    uint64_t dropped = 0;          // since the last summary
    int64_t last_summary_ms = -1;  // -1: none yet
  };
  void Loop() EXCLUDES(mu_);
  // Adds the summaries that are due (all of them when `all`) to pending_ and forgets the
  // buckets that are full again with nothing to report.
  void Summarize(int64_t now_ms, bool all) REQUIRES(mu_);
  void FlushAll(bool all_summaries) EXCLUDES(flush_mu_, mu_);

  Store& store_;
  EventLog& log_;
  const TimeSource& clock_;
  const AgentEventLimits limits_;
  Counter& store_errors_;
  Counter dropped_;

  Mutex flush_mu_;
  Mutex mu_ ACQUIRED_AFTER(flush_mu_);
  std::map<std::string, Bucket> buckets_ GUARDED_BY(mu_);  // by node id; nodes with recent events
  std::vector<EventRecord> pending_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  CondVar wake_;  // a full batch, or stop
  std::thread thread_;
};

}  // namespace carrierarr::control_plane

#endif  // CARRIERARR_CONTROL_PLANE_AGENT_EVENTS_H_
