#include "control_plane/event_log.h"

#include <algorithm>

#include "core/utf8.h"

namespace carrierarr::control_plane {
namespace {

// Another replica sharing a PostgreSQL store appends without notifying us: look again this often.
constexpr std::chrono::seconds kPollInterval{1};

carrierarr::v1::Event ToEventProto(const EventRecord& e) {
  carrierarr::v1::Event p;
  p.set_seq(e.seq);
  p.set_unix_ms(e.unix_ms);
  // Proto strings must be valid UTF-8 (else the whole stream fails to serialize), and a store
  // may hold text from before this was checked.
  p.set_node_id(SanitizeUtf8(e.node_id));
  p.set_kind(SanitizeUtf8(e.kind));
  p.set_message(SanitizeUtf8(e.message));
  return p;
}

}  // namespace

void EventLog::Append(const std::string& node_id, const std::string& kind,
                      const std::string& message) {
  EventRecord e{.unix_ms = clock_.NowMs(),
                .node_id = node_id,
                .kind = kind,
                .message = SanitizeUtf8(message)};
  auto seq = store_.AppendEvent(e);
  if (!seq.ok()) {
    store_errors_.Add();
    return;
  }
  NoteAppended(*seq);
}

void EventLog::NoteAppended(int64_t seq) {
  {
    MutexLock lock(mu_);
    last_seq_ = std::max(last_seq_, seq);
    FireWatches();
  }
  appended_.NotifyAll();
}

Result<std::vector<carrierarr::v1::Event>> EventLog::List(int64_t after_seq, int limit,
                                                          std::chrono::milliseconds wait) {
  const auto deadline = clock_.MonotonicNow() + wait;
  for (;;) {
    CARRIERARR_ASSIGN_OR_RETURN(std::vector<EventRecord> events,
                                store_.ListEvents(after_seq, limit));
    const auto left = deadline - clock_.MonotonicNow();
    if (!events.empty() || left <= std::chrono::steady_clock::duration::zero()) {
      std::vector<carrierarr::v1::Event> out;
      out.reserve(events.size());
      for (const EventRecord& e : events) out.push_back(ToEventProto(e));
      return out;
    }
    MutexLock lock(mu_);
    if (last_seq_ <= after_seq)
      appended_.WaitFor(mu_, std::min<std::chrono::nanoseconds>(left, kPollInterval));
  }
}

void EventLog::FireWatches() {
  for (auto it = watchers_.begin(); it != watchers_.end();) {
    if (it->second.after_seq < last_seq_) {
      it->second.on_appended();
      it = watchers_.erase(it);
    } else {
      ++it;
    }
  }
}

uint64_t EventLog::Watch(int64_t after_seq, std::function<void()> on_appended) {
  MutexLock lock(mu_);
  const uint64_t id = ++next_watch_;
  watchers_.emplace(id, Watcher{after_seq, std::move(on_appended)});
  FireWatches();
  return id;
}

void EventLog::Unwatch(uint64_t watch_id) {
  MutexLock lock(mu_);
  watchers_.erase(watch_id);
}

}  // namespace carrierarr::control_plane
