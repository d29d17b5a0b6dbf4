#include "control_plane/agent_events.h"

#include <algorithm>
#include <utility>

#include "core/utf8.h"

namespace carrierarr::control_plane {

AgentEvents::~AgentEvents() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  wake_.NotifyAll();
  if (thread_.joinable()) thread_.join();
  FlushAll(/*all_summaries=*/true);
}

void AgentEvents::Start() {
  thread_ = std::thread([this] { Loop(); });
}

bool AgentEvents::Submit(const std::string& node_id, const std::string& kind,
                         const std::string& message) {
  const int64_t now = clock_.NowMs();
  bool wake = false;
  {
    MutexLock lock(mu_);
    auto [it, fresh] = buckets_.try_emplace(node_id);
    Bucket& b = it->second;
    if (fresh) {
      b.tokens = limits_.burst;
      b.refilled_ms = now;
    } else if (now > b.refilled_ms) {
      b.tokens =
          std::min<double>(limits_.burst, b.tokens + static_cast<double>(now - b.refilled_ms) *
                                                         limits_.per_second / 1000.0);
      b.refilled_ms = now;
    }
    if (b.tokens < 1 || pending_.size() >= limits_.max_pending) {
      ++b.dropped;
      dropped_.Add();
      return false;
    }
    b.tokens -= 1;
    pending_.push_back(
        {.unix_ms = now, .node_id = node_id, .kind = kind, .message = SanitizeUtf8(message)});
    wake = pending_.size() >= limits_.max_pending / 2;
  }
  if (wake) wake_.NotifyOne();
  return true;
}

void AgentEvents::Summarize(int64_t now_ms, bool all) {
  const int64_t interval_ms = limits_.summary_interval.count() * 1000;
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    Bucket& b = it->second;
    if (b.dropped > 0 &&
        (all || b.last_summary_ms < 0 || now_ms - b.last_summary_ms >= interval_ms)) {
      pending_.push_back(
          {.unix_ms = now_ms,
           .node_id = it->first,
           .kind = "dropped",
           .message = std::to_string(b.dropped) + " events from node " + it->first +
                      " dropped (more than " + std::to_string(limits_.burst) + " at once or " +
                      std::to_string(static_cast<int64_t>(limits_.per_second)) + " a second)"});
      b.dropped = 0;
      b.last_summary_ms = now_ms;
    }
    // A bucket that would be full again and owes no summary is the same as none.
    const double refilled =
        b.tokens + static_cast<double>(now_ms - b.refilled_ms) * limits_.per_second / 1000.0;
    const bool quiet = b.last_summary_ms < 0 || now_ms - b.last_summary_ms >= interval_ms;
    if (b.dropped == 0 && refilled >= limits_.burst && quiet)
      it = buckets_.erase(it);
    else
      ++it;
  }
}

void AgentEvents::Flush() { FlushAll(/*all_summaries=*/false); }

void AgentEvents::FlushAll(bool all_summaries) {
  MutexLock flush_lock(flush_mu_);
  std::vector<EventRecord> batch;
  {
    MutexLock lock(mu_);
    Summarize(clock_.NowMs(), all_summaries);
    batch.swap(pending_);
  }
  if (batch.empty()) return;
  auto seq = store_.AppendEvents(batch);
  if (!seq.ok()) {
    store_errors_.Add();  // events are a record, never a reason to stop: these are lost
    return;
  }
  log_.NoteAppended(*seq);
}

void AgentEvents::ForgetNode(const std::string& node_id) {
  MutexLock lock(mu_);
  buckets_.erase(node_id);
}

void AgentEvents::Loop() {
  for (;;) {
    {
      // Real time paces the writes; the limits read the TimeSource.
      MutexLock lock(mu_);
      if (!stopping_) wake_.WaitFor(mu_, limits_.batch_delay);
      if (stopping_) return;  // the destructor flushes
    }
    Flush();
  }
}

}  // namespace carrierarr::control_plane
