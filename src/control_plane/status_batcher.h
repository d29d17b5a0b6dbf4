// Status and heartbeat writes, gathered into batches (up to batch_max rows, or what arrived within
// batch_delay of the first) and written in one store transaction each, so that ten thousand
// agents cost a few commits a second rather than ten thousand.
//
// Thread safety: every method may be called from any thread. mu_ guards the pending batch and
// the stop flag; flush_mu_ makes flushes one at a time and is taken before mu_ (lock order:
// flush_mu_, mu_, the store's own lock; the store is written under flush_mu_ only). Callers: the
// gRPC reactors (Add), the batch thread started by Start (or a test) and the destructor (Flush).
#ifndef CARRIERARR_CONTROL_PLANE_STATUS_BATCHER_H_
#define CARRIERARR_CONTROL_PLANE_STATUS_BATCHER_H_

#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "control_plane/metrics.h"
#include "control_plane/store.h"
#include "core/thread_annotations.h"
#include "core/time_source.h"

namespace carrierarr::control_plane {

class StatusBatcher {
 public:
  StatusBatcher(Store& store, const TimeSource& clock, std::chrono::milliseconds delay,
                size_t max_rows, Counter& store_errors)
      : store_(store),
        clock_(clock),
        delay_(delay),
        max_rows_(max_rows),
        store_errors_(store_errors) {}
  ~StatusBatcher();  // stops the thread and flushes what is pending

  // Starts the batch thread (without it, Flush writes).
  void Start();
  // Queues one write; sent_us is when the agent sent it (Unix us), or -1 for a heartbeat (not
  // part of the latency histogram).
  void Add(StatusWrite write, int64_t sent_us) EXCLUDES(mu_);
  // Writes the pending batch now.
  void Flush() EXCLUDES(flush_mu_, mu_);

  uint64_t batches() const { return batches_.value(); }
  uint64_t rows() const { return rows_.value(); }
  const LatencyHistogram& store_latency() const { return store_latency_; }
  const LatencyHistogram& batch_write_ms() const { return batch_write_ms_; }

 private:
  void Loop() EXCLUDES(mu_);
  int64_t NowUs() const;

  Store& store_;
  const TimeSource& clock_;
  const std::chrono::milliseconds delay_;
  const size_t max_rows_;
  Counter& store_errors_;

  Mutex flush_mu_;
  Mutex mu_ ACQUIRED_AFTER(flush_mu_);
  std::vector<StatusWrite> batch_ GUARDED_BY(mu_);
  std::vector<int64_t> sent_us_ GUARDED_BY(mu_);  // batch_[i] was sent at sent_us_[i]
  std::chrono::steady_clock::time_point oldest_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  CondVar wake_;  // the first entry, a full batch, or stop
  std::thread thread_;

  Counter batches_, rows_;
  LatencyHistogram store_latency_;   // agent send (status timestamp) -> committed
  LatencyHistogram batch_write_ms_;  // one WriteStatuses call
};

}  // namespace carrierarr::control_plane

#endif  // CARRIERARR_CONTROL_PLANE_STATUS_BATCHER_H_
