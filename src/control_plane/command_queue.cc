#include "control_plane/command_queue.h"

#include <algorithm>
#include <utility>

#include "control_plane/auth.h"

namespace carrierarr::control_plane {
namespace {

// How often a Wait looks at the TimeSource again (a simulated one moves without notifying).
constexpr std::chrono::milliseconds kWaitSlice{50};

constexpr char kCancelling[] = "cancelling";
constexpr char kCancelled[] = "cancelled";

}  // namespace

Status CommandQueue::Load(const CommandRecord& record) {
  Pending p{record, {}};
  if (!p.command.ParseFromString(record.command))
    return Status::DataLoss("stored command " + record.command_id + " is corrupt");
  MutexLock lock(mu_);
  unfinished_.emplace(record.command_id, std::move(p));
  return Status::Ok();
}

Result<ec2agent::v1::Command> CommandQueue::Add(const std::string& node_id,
                                                ec2agent::v1::Command command) {
  command.set_command_id(NewId("cmd_"));
  Pending p{.record = {.command_id = command.command_id(),
                       .node_id = node_id,
                       .command = command.SerializeAsString(),
                       .state = "queued",
                       .created_ms = clock_.NowMs()},
            .command = command};
  MutexLock lock(mu_);
  CARRIERARR_RETURN_IF_ERROR(store_.PutCommand(p.record));
  unfinished_.emplace(p.record.command_id, std::move(p));
  return command;
}

void CommandQueue::Remove(const std::string& command_id) {
  {
    MutexLock lock(mu_);
    unfinished_.erase(command_id);
  }
  NotifyDone();
}

void CommandQueue::Put(const CommandRecord& record) {
  if (!store_.PutCommand(record).ok()) store_errors_.Add();
}

void CommandQueue::HoldOutput(const std::string& command_id, ec2agent::v1::CommandResult& result) {
  const size_t size = result.stdout().size();
  if (size > kMaxHeldOutputBytes) {
    result.set_success(false);
    result.set_error("the kubeconfig is " + std::to_string(size) + " bytes, over the " +
                     std::to_string(kMaxHeldOutputBytes) + "-byte limit; it was dropped");
  } else if (result.success()) {
    while (held_.size() >= kMaxHeldOutputs) {
      auto oldest = std::min_element(held_.begin(), held_.end(), [](const auto& a, const auto& b) {
        return a.second.until_ms < b.second.until_ms;
      });
      held_.erase(oldest);
    }
    held_[command_id] = {result.stdout(),
                         clock_.NowMs() + std::chrono::milliseconds(kHeldOutputFor).count()};
  }
  if (size > 0)
    result.set_stdout("[kubeconfig: " + std::to_string(size) + " bytes, kept in memory only]");
}

std::vector<ec2agent::v1::Command> CommandQueue::PendingFor(const std::string& node_id) const {
  std::vector<ec2agent::v1::Command> out;
  MutexLock lock(mu_);
  for (const auto& [id, p] : unfinished_)
    if (p.record.node_id == node_id && p.record.state != kCancelling) out.push_back(p.command);
  return out;
}

bool CommandQueue::Deliverable(const std::string& command_id) const {
  MutexLock lock(mu_);
  auto it = unfinished_.find(command_id);
  return it != unfinished_.end() && it->second.record.state != kCancelling;
}

Result<CommandQueue::CancelOutcome> CommandQueue::Cancel(const std::string& command_id) {
  std::optional<CancelOutcome> out;
  {
    MutexLock lock(mu_);
    auto it = unfinished_.find(command_id);
    if (it != unfinished_.end()) {
      CommandRecord& r = it->second.record;
      if (r.state == "queued") {
        r.state = kCancelled;
        r.finished_ms = clock_.NowMs();
        ec2agent::v1::CommandResult result;
        result.set_command_id(command_id);
        result.set_error("cancelled before it was sent to the node");
        r.result = result.SerializeAsString();
        Put(r);
        out = CancelOutcome{.record = r};
        unfinished_.erase(it);
      } else {
        const bool first = r.state != kCancelling;
        if (first) {
          r.state = kCancelling;
          Put(r);
        }
        return CancelOutcome{.record = r, .send_cancel = first};
      }
    }
  }
  if (out) {
    NotifyDone();
    return *std::move(out);
  }
  CARRIERARR_ASSIGN_OR_RETURN(CommandRecord r, store_.GetCommand(command_id));
  if (!CommandFinished(r.state))
    // Unfinished in the store but not here: another control plane sharing the store has it.
    return Status::FailedPrecondition("command " + command_id +
                                      " is held by another control plane; cancel it there");
  return Status::FailedPrecondition("command " + command_id + " already finished (" + r.state +
                                    "): there is nothing to cancel");
}

void CommandQueue::MarkSent(const std::string& command_id) {
  MutexLock lock(mu_);
  auto it = unfinished_.find(command_id);
  if (it == unfinished_.end() || it->second.record.state != "queued") return;
  it->second.record.state = "sent";
  Put(it->second.record);
}

bool CommandQueue::Finish(const std::string& node_id, const ec2agent::v1::CommandResult& result) {
  {
    MutexLock lock(mu_);
    auto it = unfinished_.find(result.command_id());
    if (it == unfinished_.end() || it->second.record.node_id != node_id) return false;
    CommandRecord& r = it->second.record;
    ec2agent::v1::CommandResult stored = result;
    if (it->second.command.type() == ec2agent::v1::COMMAND_TYPE_FETCH_KUBECONFIG)
      HoldOutput(r.command_id, stored);
    r.state = stored.success() ? "succeeded" : r.state == kCancelling ? kCancelled : "failed";
    r.finished_ms = clock_.NowMs();
    r.result = stored.SerializeAsString();
    Put(r);
    unfinished_.erase(it);
  }
  NotifyDone();
  return true;
}

std::vector<CommandRecord> CommandQueue::TimeOut(int64_t now_ms) {
  std::vector<CommandRecord> timed_out;
  {
    MutexLock lock(mu_);
    std::erase_if(held_, [&](const auto& e) { return e.second.until_ms < now_ms; });
    for (auto it = unfinished_.begin(); it != unfinished_.end();) {
      const int timeout = it->second.command.timeout_seconds();
      const int64_t limit = it->second.record.created_ms + timeout * 1000LL + grace_.count() * 1000;
      if (timeout > 0 && now_ms > limit) {
        it->second.record.state = "timed_out";
        it->second.record.finished_ms = now_ms;
        Put(it->second.record);
        timed_out.push_back(it->second.record);
        it = unfinished_.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (!timed_out.empty()) NotifyDone();
  return timed_out;
}

void CommandQueue::DropNode(const std::string& node_id) {
  {
    MutexLock lock(mu_);
    std::erase_if(unfinished_, [&](const auto& e) { return e.second.record.node_id == node_id; });
  }
  NotifyDone();
}

size_t CommandQueue::size() const {
  MutexLock lock(mu_);
  return unfinished_.size();
}

Result<carrierarr::v1::CommandRecord> CommandQueue::Get(const std::string& command_id) {
  {
    MutexLock lock(mu_);
    auto it = unfinished_.find(command_id);
    if (it != unfinished_.end()) return ToCommandProto(it->second.record);
  }
  CARRIERARR_ASSIGN_OR_RETURN(CommandRecord r, store_.GetCommand(command_id));
  carrierarr::v1::CommandRecord out = ToCommandProto(r);
  MutexLock lock(mu_);
  auto held = held_.find(command_id);
  if (held != held_.end()) {
    // Handed out once, to whoever asks first for the finished command: the operator's wait.
    if (held->second.until_ms >= clock_.NowMs())
      out.mutable_result()->set_stdout(std::move(held->second.output));
    held_.erase(held);
  }
  return out;
}

Result<carrierarr::v1::CommandRecord> CommandQueue::Wait(const std::string& command_id,
                                                         std::chrono::milliseconds timeout) {
  const auto deadline = clock_.MonotonicNow() + timeout;
  {
    MutexLock lock(mu_);
    while (unfinished_.count(command_id) != 0) {
      const auto left = deadline - clock_.MonotonicNow();
      if (left <= std::chrono::steady_clock::duration::zero()) break;
      done_.WaitFor(mu_, std::min<std::chrono::nanoseconds>(left, kWaitSlice));
    }
  }
  return Get(command_id);
}

bool CommandFinished(std::string_view state) {
  return state != "queued" && state != "sent" && state != kCancelling;
}

void CommandQueue::NotifyDone() {
  done_.NotifyAll();
  MutexLock lock(watch_mu_);
  FireFinishedWatches();
}

void CommandQueue::FireFinishedWatches() {
  if (watchers_.empty()) return;
  std::vector<uint64_t> finished;
  {
    MutexLock lock(mu_);
    for (const auto& [id, w] : watchers_)
      if (unfinished_.count(w.command_id) == 0) finished.push_back(id);
  }
  for (uint64_t id : finished) {
    auto node = watchers_.extract(id);
    node.mapped().on_done();
  }
}

uint64_t CommandQueue::Watch(const std::string& command_id, std::function<void()> on_done) {
  MutexLock lock(watch_mu_);
  const uint64_t id = ++next_watch_;
  watchers_.emplace(id, Watcher{command_id, std::move(on_done)});
  FireFinishedWatches();  // this one, when it has finished already
  return id;
}

void CommandQueue::Unwatch(uint64_t watch_id) {
  MutexLock lock(watch_mu_);
  watchers_.erase(watch_id);
}

carrierarr::v1::CommandRecord ToCommandProto(const CommandRecord& r) {
  carrierarr::v1::CommandRecord out;
  ec2agent::v1::Command command;
  command.ParseFromString(r.command);
  out.set_command_id(r.command_id);
  out.set_node_id(r.node_id);
  out.set_type(command.type());
  out.mutable_args()->insert(command.args().begin(), command.args().end());
  out.mutable_argv()->CopyFrom(command.argv());
  out.set_timeout_seconds(command.timeout_seconds());
  out.set_state(r.state);
  out.set_created_unix_ms(r.created_ms);
  out.set_finished_unix_ms(r.finished_ms);
  if (!r.result.empty()) out.mutable_result()->ParseFromString(r.result);
  return out;
}

}  // namespace carrierarr::control_plane
