#include "agent/command_runner.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string_view>
#include <tuple>
#include <vector>

#include "agent/collectors.h"
#include "agent/k3s_nodes.h"
#include "core/duration.h"
#include "core/process_runner.h"
#include "core/status.h"
#include "core/strings.h"

namespace carrierarr::agent {
namespace {

using MonotonicTime = std::chrono::steady_clock::time_point;
using ec2agent::v1::Command;
using ec2agent::v1::CommandResult;

// timeout_seconds 0 means "none", yet nothing may run forever on a worker thread.
constexpr std::chrono::seconds kDefaultExecTimeout = std::chrono::hours(1);
constexpr std::chrono::seconds kDefaultDrainTimeout(300);
constexpr std::chrono::seconds kKubectlSlack(30);  // beyond drain's own --timeout
constexpr std::chrono::seconds kCordonTimeout(60);
constexpr std::chrono::seconds kSystemctlTimeout(120);
constexpr std::chrono::seconds kUnloadTimeout(60);
constexpr int kMaxIntervalSec = 86400;

constexpr std::string_view kServices[] = {"nebula", "k3s", "k3s-agent", "ollama", "liqo"};

std::string ArgOr(const Command& c, const std::string& key, const std::string& fallback = "") {
  auto it = c.args().find(key);
  return it == c.args().end() ? fallback : it->second;
}

// Protobuf refuses to serialize a string field that is not UTF-8, and a program may print
// anything: invalid bytes become U+FFFD.
std::string SanitizeUtf8(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  size_t i = 0;
  while (i < in.size()) {
    const auto c = static_cast<unsigned char>(in[i]);
    size_t len = c < 0x80                   ? 1
                 : (c >= 0xC2 && c <= 0xDF) ? 2
                 : (c >= 0xE0 && c <= 0xEF) ? 3
                 : (c >= 0xF0 && c <= 0xF4) ? 4
                                            : 0;
    bool ok = len > 0 && i + len <= in.size();
    for (size_t k = 1; ok && k < len; ++k) {
      ok = (static_cast<unsigned char>(in[i + k]) & 0xC0) == 0x80;
    }
    if (ok && len >= 3) {
      const auto c1 = static_cast<unsigned char>(in[i + 1]);
      // No overlong forms, no UTF-16 surrogates, nothing past U+10FFFF.
      if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0) || (c == 0xF0 && c1 < 0x90) ||
          (c == 0xF4 && c1 >= 0x90)) {
        ok = false;
      }
    }
    if (ok) {
      out.append(in.substr(i, len));
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  return out;
}

// `s` without a UTF-8 character that a byte limit cut off at its end.
std::string_view WithoutCutCharacter(std::string_view s) {
  for (size_t k = 1; k <= 3 && k <= s.size(); ++k) {
    const auto c = static_cast<unsigned char>(s[s.size() - k]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    const size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return len > k ? s.substr(0, s.size() - k) : s;
  }
  return s;
}

// What a program wrote to one stream: the bytes kept and how many more were dropped.
struct Captured {
  std::string kept;
  size_t dropped = 0;
};

// Room kept in the result for the marker of a cut stream.
constexpr size_t kMarkerRoom = 64;

// One stream as the result carries it, before the budget: valid UTF-8, and how many bytes were
// dropped (by the program's Run, and a character cut off at the end of what it kept).
Captured Sanitized(const Captured& c) {
  const std::string_view whole = c.dropped > 0 ? WithoutCutCharacter(c.kept) : c.kept;
  return {SanitizeUtf8(whole), c.dropped + (c.kept.size() - whole.size())};
}

// At most `max` bytes of a sanitized stream, then a marker saying how many bytes were dropped.
std::string FitStream(const Captured& c, size_t max) {
  if (c.dropped == 0 && c.kept.size() <= max) return c.kept;
  std::string out = TruncateUtf8(c.kept, max);
  const size_t dropped = c.dropped + (c.kept.size() - out.size());
  out += "\n[... output truncated: " + std::to_string(dropped) + " bytes dropped]";
  return out;
}

// stdout and stderr into `result`, together within `budget` bytes (markers included): each
// stream gets half, and what one does not need the other may use.
void SetOutputs(CommandResult& result, const Captured& raw_out, const Captured& raw_err,
                size_t budget) {
  const Captured out = Sanitized(raw_out), err = Sanitized(raw_err);
  const size_t room = budget > 2 * kMarkerRoom ? budget - 2 * kMarkerRoom : 0;
  const size_t half = room / 2;
  const size_t out_max = std::max(half, room - std::min(err.kept.size(), half));
  const size_t out_take = std::min(out.kept.size(), out_max);
  result.set_stdout(FitStream(out, out_take));
  result.set_stderr(FitStream(err, room - out_take));
}

std::string FirstLine(std::string_view s, size_t max = 512) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  return SanitizeUtf8(s.substr(0, std::min(max, s.size())));
}

std::string Describe(const RunResult& r, std::chrono::milliseconds timeout) {
  if (r.cancelled) return "cancelled";
  if (r.timed_out) {
    return "timed out after " + std::to_string(timeout.count() / 1000) + "s (killed)";
  }
  if (r.signaled) return "killed by signal " + std::to_string(r.signal);
  return "exit status " + std::to_string(r.exit_code);
}

void Fail(CommandResult& result, const std::string& error) {
  result.set_success(false);
  result.set_error(SanitizeUtf8(error));
}

std::optional<int> ParseInterval(const std::string& s) {
  int v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  if (v < 1 || v > kMaxIntervalSec) return std::nullopt;
  return v;
}

// The time left at `now` before `deadline`, capped at `cap`; at least 1 ms so a Run still starts.
std::chrono::milliseconds Budget(MonotonicTime now, MonotonicTime deadline,
                                 std::chrono::milliseconds cap) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
  return std::clamp(left, std::chrono::milliseconds(1), cap);
}

// args["cmd"] split on runs of white space, as the original agent (Go's strings.Fields) did:
// no shell, no quoting. ASCII white space only (space, \t, \n, \v, \f, \r).
std::vector<std::string> SplitFields(std::string_view cmd) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < cmd.size()) {
    while (i < cmd.size() && std::isspace(static_cast<unsigned char>(cmd[i]))) ++i;
    const size_t start = i;
    while (i < cmd.size() && !std::isspace(static_cast<unsigned char>(cmd[i]))) ++i;
    if (i > start) words.emplace_back(cmd.substr(start, i - start));
  }
  return words;
}

class Handler {
 public:
  Handler(const RunnerOptions& options, const CommandRunner::Hooks& hooks, const Command& command,
          CommandResult& result, const CancelSignal* cancel)
      : options_(options), hooks_(hooks), command_(command), result_(result), cancel_(cancel) {}

  void Exec() const {
    if (!options_.allow_exec) {
      return Fail(result_, "EXEC is disabled on this agent; start it with --allow-exec");
    }
    std::vector<std::string> argv(command_.argv().begin(), command_.argv().end());
    if (argv.empty()) argv = SplitFields(ArgOr(command_, "cmd"));
    if (argv.empty()) {
      result_.set_exit_code(1);  // as the original agent answers a missing cmd
      return Fail(result_, "EXEC needs argv, or args[\"cmd\"] with a command line");
    }
    if (argv[0].empty()) return Fail(result_, "EXEC: argv[0] is empty");
    const RunOptions run_options =
        Bounded(command_.timeout_seconds() > 0 ? std::chrono::seconds(command_.timeout_seconds())
                                               : kDefaultExecTimeout);
    auto run = options_.processes->Run(argv, run_options);
    if (!run.ok()) return Fail(result_, run.status().message());
    result_.set_exit_code(run->exit_code);
    TakeOutputs(*run);
    if (run->timed_out || run->signaled || run->exit_code != 0) {
      return Fail(result_, argv[0] + ": " + Describe(*run, run_options.timeout));
    }
    result_.set_success(true);
  }

  void Drain() const {
    const std::string node = ArgOr(command_, "node", options_.node_name);
    if (node.empty())
      return Fail(result_, "DRAIN needs args[\"node\"] (the agent has no node name)");
    // argv is never re-parsed, but kubectl would still read "-x" as one of its own flags.
    if (node.front() == '-') return Fail(result_, "DRAIN: bad node name \"" + node + "\"");

    std::chrono::seconds drain_timeout = kDefaultDrainTimeout;
    if (command_.timeout_seconds() > 0) {
      // Leave room within the command's own bound for cordon and for kubectl to give up cleanly.
      const std::chrono::seconds bound(command_.timeout_seconds());
      drain_timeout = std::max<std::chrono::seconds>(std::chrono::seconds(1),
                                                     bound - std::min(kKubectlSlack, bound / 4));
    }
    if (std::string t = ArgOr(command_, "timeout"); !t.empty()) {
      if (std::all_of(t.begin(), t.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
        t += "s";  // a bare number is seconds
      }
      auto d = ParseGoDuration(t);
      if (!d.ok() || d->count() <= 0) {
        return Fail(result_, "DRAIN: bad timeout \"" + t + "\" (seconds, or e.g. 5m)");
      }
      drain_timeout = std::max<std::chrono::seconds>(std::chrono::seconds(1),
                                                     std::chrono::ceil<std::chrono::seconds>(*d));
    }
    const MonotonicTime deadline =
        options_.time->MonotonicNow() + (command_.timeout_seconds() > 0
                                             ? std::chrono::seconds(command_.timeout_seconds())
                                             : kCordonTimeout + drain_timeout + kKubectlSlack);

    Captured out;
    auto step = [&](const std::vector<std::string>& argv, std::chrono::milliseconds cap) -> bool {
      const RunOptions run_options = Bounded(Budget(options_.time->MonotonicNow(), deadline, cap));
      auto run = options_.processes->Run(argv, run_options);
      if (!run.ok()) {
        Fail(result_, run.status().message() + " (set the agent's kubectl path?)");
        return false;
      }
      Keep(out, run->out, run->out_dropped);
      result_.set_exit_code(run->exit_code);
      if (run->timed_out || run->signaled || run->exit_code != 0) {
        SetOutputs(result_, out, {run->err, run->err_dropped}, options_.max_result_output_bytes);
        std::string said = FirstLine(run->err);
        Fail(result_, "kubectl " + argv[1] + " " + node + " failed (" +
                          Describe(*run, run_options.timeout) + ")" +
                          (said.empty() ? "" : ": " + said));
        return false;
      }
      return true;
    };
    if (!step({options_.kubectl, "cordon", node}, kCordonTimeout)) return;
    std::vector<std::string> drain = {options_.kubectl,
                                      "drain",
                                      node,
                                      "--ignore-daemonsets",
                                      "--delete-emptydir-data",
                                      "--timeout=" + std::to_string(drain_timeout.count()) + "s"};
    // --force also deletes pods that no controller would recreate: only when asked for.
    if (ArgOr(command_, "force") == "true") drain.push_back("--force");
    if (!step(drain, drain_timeout + kKubectlSlack)) {
      result_.set_error(result_.error() + " (the node stays cordoned)");
      return;
    }
    Keep(out, "drained " + node + "; shutting down\n", 0);
    SetOutputs(result_, out, {}, options_.max_result_output_bytes);
    result_.set_success(true);
  }

  // SHUTDOWN or REBOOT: AfterResultSent acts, once the control plane has the result.
  void Power() const {
    result_.set_success(true);
    result_.set_stdout(command_.type() == ec2agent::v1::COMMAND_TYPE_REBOOT ? "rebooting"
                                                                            : "shutting down");
  }

  // PULL_MODEL or UNLOAD_MODEL; UNLOAD_MODEL without a model unloads every model in memory
  // (the original protocol defines no arguments for it).
  void Model() const {
    const bool pull = command_.type() == ec2agent::v1::COMMAND_TYPE_PULL_MODEL;
    const std::string model = ArgOr(command_, "model");
    if (model.empty() && pull) return Fail(result_, "PULL_MODEL needs args[\"model\"]");
    OllamaClient ollama(options_.ollama_url);
    std::chrono::seconds timeout = command_.timeout_seconds() > 0
                                       ? std::chrono::seconds(command_.timeout_seconds())
                                   : pull ? kDefaultExecTimeout
                                          : kUnloadTimeout;
    if (model.empty()) return UnloadAll(ollama, timeout);
    Status s = pull ? ollama.Pull(model, timeout, cancel_) : ollama.Unload(model, timeout, cancel_);
    if (!s.ok()) return Fail(result_, s.message());
    if (hooks_.model_activity) hooks_.model_activity();
    result_.set_success(true);
    result_.set_stdout((pull ? "pulled " : "unloaded ") + model);
  }

  void UnloadAll(const OllamaClient& ollama, std::chrono::seconds timeout) const {
    auto models = ollama.Models();
    if (!models.ok()) return Fail(result_, models.status().message());
    std::string unloaded;
    int count = 0;
    for (const auto& m : *models) {
      if (!m.currently_loaded()) continue;
      if (Status s = ollama.Unload(m.name(), timeout, cancel_); !s.ok()) {
        return Fail(result_,
                    s.message() + (count > 0 ? " (unloaded before: " + unloaded + ")" : ""));
      }
      unloaded += (count++ > 0 ? ", " : "") + m.name();
    }
    if (count > 0 && hooks_.model_activity) hooks_.model_activity();
    result_.set_success(true);
    result_.set_stdout(count > 0 ? "unloaded " + unloaded : "no model was loaded");
  }

  void UpdateConfig() const {
    const std::string hb = ArgOr(command_, "heartbeat_interval_sec");
    const std::string st = ArgOr(command_, "status_interval_sec");
    if (hb.empty() && st.empty()) {
      return Fail(result_, "UPDATE_CONFIG needs heartbeat_interval_sec or status_interval_sec");
    }
    int heartbeat = 0, status = 0;  // 0 = unchanged
    for (auto [text, out, name] : {std::tuple{&hb, &heartbeat, "heartbeat_interval_sec"},
                                   std::tuple{&st, &status, "status_interval_sec"}}) {
      if (text->empty()) continue;
      auto v = ParseInterval(*text);
      if (!v) {
        return Fail(result_, std::string(name) + " must be a whole number of seconds in 1.." +
                                 std::to_string(kMaxIntervalSec) + ", got \"" + *text + "\"");
      }
      *out = *v;
    }
    if (hooks_.update_config) hooks_.update_config(heartbeat, status);
    result_.set_success(true);
    result_.set_stdout("heartbeat_interval_sec=" + std::to_string(heartbeat) +
                       " status_interval_sec=" + std::to_string(status) + " (0 = unchanged)");
  }

  // The k3s admin kubeconfig, whole, as stdout: never logged here or by the client, which logs
  // only a result's error.
  void FetchKubeconfig() const {
    auto text = ReadKubeconfigForFetch(options_.k3s_kubeconfig, options_.allow_kubeconfig_fetch);
    if (!text.ok()) return Fail(result_, text.status().message());
    result_.set_success(true);
    result_.set_stdout(SanitizeUtf8(*text));
  }

  void RestartService() const {
    const std::string service = ArgOr(command_, "service");
    if (std::find(std::begin(kServices), std::end(kServices), service) == std::end(kServices)) {
      std::string allowed;
      for (auto s : kServices) allowed += (allowed.empty() ? "" : ", ") + std::string(s);
      return Fail(result_, "RESTART_SERVICE: service \"" + service + "\" is not one of " + allowed);
    }
    const RunOptions run_options =
        Bounded(command_.timeout_seconds() > 0 ? std::chrono::seconds(command_.timeout_seconds())
                                               : kSystemctlTimeout);
    const std::string unit = service + ".service";
    auto run = options_.processes->Run({options_.systemctl, "restart", unit}, run_options);
    if (!run.ok()) return Fail(result_, run.status().message());
    result_.set_exit_code(run->exit_code);
    TakeOutputs(*run);
    if (run->timed_out || run->signaled || run->exit_code != 0) {
      std::string said = FirstLine(run->err);
      return Fail(result_, "systemctl restart " + unit + " failed (" +
                               Describe(*run, run_options.timeout) + ")" +
                               (said.empty() ? "" : ": " + said));
    }
    result_.set_success(true);
  }

 private:
  // What every program the runner starts runs with: its own process group, killed whole (after
  // a grace period) on timeout or cancel, and bounded output.
  RunOptions Bounded(std::chrono::milliseconds timeout) const {
    RunOptions o;
    o.timeout = timeout;
    o.max_output_bytes = options_.max_output_bytes;
    o.new_process_group = true;
    o.kill_grace = options_.kill_grace;
    o.cancel = cancel_;
    return o;
  }
  // One run's stdout and stderr into the result.
  void TakeOutputs(const RunResult& run) const {
    SetOutputs(result_, {run.out, run.out_dropped}, {run.err, run.err_dropped},
               options_.max_result_output_bytes);
  }
  // Appends one step's output to `into`, still within max_output_bytes.
  void Keep(Captured& into, const std::string& more, size_t more_dropped) const {
    const size_t room =
        options_.max_output_bytes - std::min(options_.max_output_bytes, into.kept.size());
    into.kept.append(more, 0, room);
    into.dropped += more_dropped + (more.size() - std::min(more.size(), room));
  }

  const RunnerOptions& options_;
  const CommandRunner::Hooks& hooks_;
  const Command& command_;
  CommandResult& result_;
  const CancelSignal* cancel_;  // of this command; may be null
};

// Which handler runs each command type; any other type fails as unknown.
constexpr std::pair<ec2agent::v1::CommandType, void (Handler::*)() const> kHandlers[] = {
    {ec2agent::v1::COMMAND_TYPE_SHUTDOWN, &Handler::Power},
    {ec2agent::v1::COMMAND_TYPE_REBOOT, &Handler::Power},
    {ec2agent::v1::COMMAND_TYPE_DRAIN, &Handler::Drain},
    {ec2agent::v1::COMMAND_TYPE_PULL_MODEL, &Handler::Model},
    {ec2agent::v1::COMMAND_TYPE_UNLOAD_MODEL, &Handler::Model},
    {ec2agent::v1::COMMAND_TYPE_EXEC, &Handler::Exec},
    {ec2agent::v1::COMMAND_TYPE_UPDATE_CONFIG, &Handler::UpdateConfig},
    {ec2agent::v1::COMMAND_TYPE_RESTART_SERVICE, &Handler::RestartService},
    {ec2agent::v1::COMMAND_TYPE_FETCH_KUBECONFIG, &Handler::FetchKubeconfig},
};

}  // namespace

CommandRunner::CommandRunner(RunnerOptions options, Hooks hooks)
    : options_(std::move(options)), hooks_(std::move(hooks)) {}

std::shared_ptr<CancelSignal> CommandRunner::Register(const std::string& id) const {
  if (id.empty()) return nullptr;
  auto signal = std::make_shared<CancelSignal>();
  MutexLock lock(mu_);
  return running_.emplace(id, signal).second ? signal : nullptr;
}

void CommandRunner::Unregister(const std::string& id,
                               const std::shared_ptr<CancelSignal>& signal) const {
  if (!signal) return;
  MutexLock lock(mu_);
  auto it = running_.find(id);
  if (it != running_.end() && it->second == signal) running_.erase(it);
}

CommandResult CommandRunner::Cancel(const Command& command) const {
  CommandResult result;
  const std::string target = ArgOr(command, "command_id");
  if (target.empty()) {
    Fail(result, "CANCEL needs args[\"command_id\"], the id of a running command");
    return result;
  }
  bool found = false;
  {
    // Under the lock: once Run has unregistered its command, it is no longer cancelled, and
    // the CANCEL says so; before that, Run sees the signal (it looks after Unregister).
    MutexLock lock(mu_);
    auto it = running_.find(target);
    if (it != running_.end()) {
      it->second->Cancel();
      found = true;
    }
  }
  if (!found) {
    Fail(result, "no running command " + target);
    return result;
  }
  result.set_success(true);
  result.set_stdout("cancelled " + target);
  return result;
}

CommandResult CommandRunner::Run(const Command& command) const {
  const MonotonicTime start = options_.time->MonotonicNow();
  CommandResult result;
  if (command.type() == ec2agent::v1::COMMAND_TYPE_CANCEL) {
    result = Cancel(command);
  } else {
    const std::shared_ptr<CancelSignal> cancel = Register(command.command_id());
    const Handler h(options_, hooks_, command, result, cancel.get());
    const auto* handler =
        std::find_if(std::begin(kHandlers), std::end(kHandlers),
                     [&](const auto& entry) { return entry.first == command.type(); });
    if (handler != std::end(kHandlers))
      (h.*handler->second)();
    else
      Fail(result, "unknown command type " + std::to_string(static_cast<int>(command.type())));
    Unregister(command.command_id(), cancel);
    // A CANCEL that found this command succeeded: whatever the command did, it was cancelled.
    if (cancel && cancel->cancelled()) Fail(result, "cancelled");
  }
  result.set_command_id(command.command_id());
  result.set_duration_ms(
      std::chrono::duration_cast<std::chrono::milliseconds>(options_.time->MonotonicNow() - start)
          .count());
  return result;
}

void CommandRunner::AfterResultSent(const Command& command, const CommandResult& result) const {
  if (!result.success()) return;
  bool reboot = false;
  switch (command.type()) {
    case ec2agent::v1::COMMAND_TYPE_REBOOT:
      reboot = true;
      break;
    case ec2agent::v1::COMMAND_TYPE_SHUTDOWN:
    case ec2agent::v1::COMMAND_TYPE_DRAIN:
      break;  // a drained node is shut down
    default:
      return;
  }
  if (options_.power_mode == PowerMode::kExit) {
    if (hooks_.power) hooks_.power(reboot);
    return;
  }
  RunOptions run_options;
  run_options.timeout = kSystemctlTimeout;
  const char* verb = reboot ? "reboot" : "poweroff";
  auto run = options_.processes->Run({options_.systemctl, verb}, run_options);
  // The result is already with the control plane; all that is left is to say so in the log.
  if (!run.ok()) {
    std::fprintf(stderr, "carrierarr-agent: systemctl %s: %s\n", verb,
                 run.status().message().c_str());
  } else if (run->timed_out || run->signaled || run->exit_code != 0) {
    std::fprintf(stderr, "carrierarr-agent: systemctl %s failed (%s): %s\n", verb,
                 Describe(*run, run_options.timeout).c_str(), FirstLine(run->err).c_str());
  }
}

}  // namespace carrierarr::agent
