// `carrierarr events [--follow]`: the control plane's events, one a line.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "cli/client_command.h"
#include "cli/client_commands.h"
#include "cli/client_output.h"

namespace carrierarr::cli {
namespace {

constexpr char kEventsUsage[] =
    "Usage: carrierarr events [--follow] [--after SEQ] [flags]\n\n"
    "Prints the control plane's events (registrations, connects, lifecycle changes, commands,\n"
    "tokens), one a line: TIME #SEQ NODE KIND MESSAGE. --follow keeps printing new ones until "
    "Ctrl-C.\n"
    "With --json, one JSON object per line.\n\nFlags:\n";

// Without --follow: the stream never ends by itself, so it is cancelled once no event came for
// this long (the server sends what it has at once, and polls every 500 ms).
constexpr std::chrono::milliseconds kCaughtUp{1200};

// Cancels a context once no event came for kCaughtUp, from a thread of its own.
class CaughtUpWatchdog {
 public:
  CaughtUpWatchdog(grpc::ClientContext* context, const TimeSource* time)
      : time_(time), last_(time->MonotonicNow()) {
    thread_ = std::thread([this, context] {
      std::unique_lock lock(mu_);
      while (!done_) {
        if (time_->MonotonicNow() - last_ >= kCaughtUp) {
          cancelled_ = true;
          context->TryCancel();
          return;
        }
        cv_.wait_for(lock, std::chrono::milliseconds(100));
      }
    });
  }
  ~CaughtUpWatchdog() { Stop(); }
  // Ends the thread; returns whether it cancelled the stream.
  bool Stop() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    return cancelled_;
  }
  void EventCame() {
    std::lock_guard lock(mu_);
    last_ = time_->MonotonicNow();
  }

 private:
  const TimeSource* time_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::chrono::steady_clock::time_point last_;  // guarded by mu_
  bool done_ = false;                           // guarded by mu_
  std::atomic<bool> cancelled_{false};
  std::thread thread_;
};

void PrintEvent(const carrierarr::v1::Event& e, std::ostream& out) {
  // Padded to typical widths rather than measured: lines go out as the events come.
  // Agents supply parts of these: escaped, so an event is one line and cannot drive the
  // terminal.
  std::string node = e.node_id().empty() ? "-" : Printable(e.node_id());
  std::string kind = Printable(e.kind());
  node.resize(std::max<size_t>(node.size(), 16), ' ');
  kind.resize(std::max<size_t>(kind.size(), 12), ' ');
  out << UtcTime(e.unix_ms() / 1000) << "  #" << e.seq() << "  " << node << "  " << kind << "  "
      << Printable(e.message()) << std::endl;
}

class EventsCommand final : public ClientCommand {
 public:
  CommandSpec Spec() const override { return {"events", "", kEventsUsage}; }
  void DeclareFlags(FlagSet& flags) override {
    flags.Bool("follow", &follow_, false, "keep printing new events until interrupted");
    flags.Int("after", &after_, 0, "start after this sequence number (0 = the oldest kept)");
  }

  Status Check(const ClientArgs& args) override {
    if (!args.positional.empty())
      return Status::InvalidArgument("unexpected argument \"" + args.positional[0] + "\"");
    if (after_ < 0) return Status::InvalidArgument("-after must not be negative");
    return Status::Ok();
  }

  int Run(Client& client, const ClientArgs& /*args*/, const Invocation& invocation) override {
    carrierarr::v1::WatchEventsRequest request;
    request.set_after_seq(after_);
    // Following has no deadline; otherwise -timeout bounds the whole read.
    auto context = follow_ ? client.Context(std::chrono::nanoseconds(0)) : client.Context();
    auto reader = client.stub().WatchEvents(context.get(), request);
    std::optional<CaughtUpWatchdog> watchdog;
    if (!follow_) watchdog.emplace(context.get(), invocation.seams.time);
    carrierarr::v1::Event e;
    while (reader->Read(&e)) {
      if (watchdog) watchdog->EventCame();
      if (flags().json)
        invocation.out << ProtoJson(e) << std::endl;  // flushed: a follower pipes it on
      else
        PrintEvent(e, invocation.out);
    }
    grpc::Status st = reader->Finish();
    const bool cancelled = watchdog && watchdog->Stop();
    if (cancelled && st.error_code() == grpc::StatusCode::CANCELLED) return kExitOk;
    if (!follow_ && st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) return kExitOk;
    if (!st.ok()) return client.Fail(st, invocation.err);
    return kExitOk;
  }

 private:
  bool follow_ = false;
  int64_t after_ = 0;
};

}  // namespace

int RunEvents(const Invocation& invocation) { return RunClientCommand<EventsCommand>(invocation); }

}  // namespace carrierarr::cli
