#include "control_plane/status_batcher.h"

#include <algorithm>
#include <utility>

namespace carrierarr::control_plane {
namespace {

// An idle or waiting batch thread looks at the stop flag and the clock this often.
constexpr std::chrono::milliseconds kIdleWake{200};

}  // namespace

StatusBatcher::~StatusBatcher() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  wake_.NotifyAll();
  if (thread_.joinable()) thread_.join();
  Flush();
}

void StatusBatcher::Start() {
  thread_ = std::thread([this] { Loop(); });
}

int64_t StatusBatcher::NowUs() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             clock_.SystemNow().time_since_epoch())
      .count();
}

void StatusBatcher::Add(StatusWrite write, int64_t sent_us) {
  bool wake = false;
  {
    MutexLock lock(mu_);
    if (batch_.empty()) oldest_ = clock_.MonotonicNow();
    batch_.push_back(std::move(write));
    sent_us_.push_back(sent_us);
    // The writer sleeps while the batch is empty: wake it for the first entry (it then waits
    // delay_ for more) and when the batch is full.
    wake = batch_.size() == 1 || batch_.size() >= max_rows_;
  }
  if (wake) wake_.NotifyOne();
}

void StatusBatcher::Flush() {
  MutexLock flush_lock(flush_mu_);
  std::vector<StatusWrite> writes;
  std::vector<int64_t> sent;
  {
    MutexLock lock(mu_);
    writes.swap(batch_);
    sent.swap(sent_us_);
  }
  if (writes.empty()) return;
  const auto start = clock_.MonotonicNow();
  Status s = store_.WriteStatuses(writes);
  const auto end = clock_.MonotonicNow();
  batches_.Add();
  rows_.Add(writes.size());
  batch_write_ms_.Observe(std::chrono::duration<double, std::milli>(end - start).count());
  if (!s.ok()) {
    store_errors_.Add();
    return;  // the in-memory view still has them; the next status of each node retries
  }
  const int64_t now_us = NowUs();
  for (int64_t us : sent)
    if (us >= 0) store_latency_.Observe(static_cast<double>(now_us - us) / 1000.0);
}

void StatusBatcher::Loop() {
  for (;;) {
    {
      MutexLock lock(mu_);
      while (batch_.empty() && !stopping_) wake_.WaitFor(mu_, kIdleWake);
      if (stopping_) return;  // the destructor flushes
      // Wait out the delay for more rows, unless the batch fills first.
      const auto due = oldest_ + delay_;
      for (;;) {
        const auto left = due - clock_.MonotonicNow();
        if (batch_.size() >= max_rows_ || stopping_ ||
            left <= std::chrono::steady_clock::duration::zero())
          break;
        // In slices: a simulated clock moves without notifying.
        wake_.WaitFor(mu_, std::min<std::chrono::nanoseconds>(left, kIdleWake));
      }
    }
    Flush();
  }
}

}  // namespace carrierarr::control_plane
