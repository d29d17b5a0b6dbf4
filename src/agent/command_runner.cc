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
#include "core/duration.h"
#include "core/process_runner.h"
#include "core/status.h"

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
constexpr std::string_view kTruncated = "\n[... output truncated]";

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

// At most `max` bytes of `s` (not splitting a UTF-8 character), plus a marker when cut.
std::string CapOutput(const std::string& s, size_t max) {
  if (s.size() <= max) return SanitizeUtf8(s);
  size_t cut = max;
  for (int k = 0; k < 3 && cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80; ++k) {
    --cut;
  }
  std::string out = SanitizeUtf8(std::string_view{s}.substr(0, cut));
  out.append(kTruncated);
  return out;
}

std::string FirstLine(std::string_view s, size_t max = 512) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  return SanitizeUtf8(s.substr(0, std::min(max, s.size())));
}

std::string Describe(const RunResult& r, std::chrono::milliseconds timeout) {
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

class Handler {
 public:
  Handler(const RunnerOptions& options, const CommandRunner::Hooks& hooks, const Command& command,
          CommandResult& result)
      : options_(options), hooks_(hooks), command_(command), result_(result) {}

  void Exec() const {
    if (!options_.allow_exec) {
      return Fail(result_, "EXEC is disabled on this agent; start it with --allow-exec");
    }
    std::vector<std::string> argv(command_.argv().begin(), command_.argv().end());
    if (argv.empty()) {
      std::string cmd = ArgOr(command_, "cmd");
      if (cmd.empty()) return Fail(result_, "EXEC needs argv, or args[\"cmd\"] naming a program");
      if (std::any_of(cmd.begin(), cmd.end(),
                      [](char ch) { return std::isspace(static_cast<unsigned char>(ch)); })) {
        return Fail(result_, "cmd contains spaces; send argv (no shell, no splitting)");
      }
      argv.push_back(std::move(cmd));
    }
    if (argv[0].empty()) return Fail(result_, "EXEC: argv[0] is empty");
    RunOptions run_options;
    run_options.timeout = command_.timeout_seconds() > 0
                              ? std::chrono::seconds(command_.timeout_seconds())
                              : kDefaultExecTimeout;
    auto run = options_.processes->Run(argv, run_options);
    if (!run.ok()) return Fail(result_, run.status().message());
    result_.set_exit_code(run->exit_code);
    result_.set_stdout(CapOutput(run->out, options_.max_output_bytes));
    result_.set_stderr(CapOutput(run->err, options_.max_output_bytes));
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

    std::string out;
    auto step = [&](const std::vector<std::string>& argv, std::chrono::milliseconds cap) -> bool {
      RunOptions run_options;
      run_options.timeout = Budget(options_.time->MonotonicNow(), deadline, cap);
      auto run = options_.processes->Run(argv, run_options);
      if (!run.ok()) {
        Fail(result_, run.status().message() + " (set the agent's kubectl path?)");
        return false;
      }
      out += run->out;
      result_.set_exit_code(run->exit_code);
      if (run->timed_out || run->signaled || run->exit_code != 0) {
        result_.set_stdout(CapOutput(out, options_.max_output_bytes));
        result_.set_stderr(CapOutput(run->err, options_.max_output_bytes));
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
    out += "drained " + node + "; shutting down\n";
    result_.set_stdout(CapOutput(out, options_.max_output_bytes));
    result_.set_success(true);
  }

  // SHUTDOWN or REBOOT: AfterResultSent acts, once the control plane has the result.
  void Power() const {
    result_.set_success(true);
    result_.set_stdout(command_.type() == ec2agent::v1::COMMAND_TYPE_REBOOT ? "rebooting"
                                                                            : "shutting down");
  }

  // PULL_MODEL or UNLOAD_MODEL.
  void Model() const {
    const bool pull = command_.type() == ec2agent::v1::COMMAND_TYPE_PULL_MODEL;
    const std::string model = ArgOr(command_, "model");
    if (model.empty()) {
      return Fail(result_,
                  std::string(pull ? "PULL_MODEL" : "UNLOAD_MODEL") + " needs args[\"model\"]");
    }
    OllamaClient ollama(options_.ollama_url);
    std::chrono::seconds timeout = command_.timeout_seconds() > 0
                                       ? std::chrono::seconds(command_.timeout_seconds())
                                   : pull ? kDefaultExecTimeout
                                          : kUnloadTimeout;
    Status s = pull ? ollama.Pull(model, timeout) : ollama.Unload(model, timeout);
    if (!s.ok()) return Fail(result_, s.message());
    if (hooks_.model_activity) hooks_.model_activity();
    result_.set_success(true);
    result_.set_stdout((pull ? "pulled " : "unloaded ") + model);
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

  void RestartService() const {
    const std::string service = ArgOr(command_, "service");
    if (std::find(std::begin(kServices), std::end(kServices), service) == std::end(kServices)) {
      std::string allowed;
      for (auto s : kServices) allowed += (allowed.empty() ? "" : ", ") + std::string(s);
      return Fail(result_, "RESTART_SERVICE: service \"" + service + "\" is not one of " + allowed);
    }
    RunOptions run_options;
    run_options.timeout = command_.timeout_seconds() > 0
                              ? std::chrono::seconds(command_.timeout_seconds())
                              : kSystemctlTimeout;
    const std::string unit = service + ".service";
    auto run = options_.processes->Run({options_.systemctl, "restart", unit}, run_options);
    if (!run.ok()) return Fail(result_, run.status().message());
    result_.set_exit_code(run->exit_code);
    result_.set_stdout(CapOutput(run->out, options_.max_output_bytes));
    result_.set_stderr(CapOutput(run->err, options_.max_output_bytes));
    if (run->timed_out || run->signaled || run->exit_code != 0) {
      std::string said = FirstLine(run->err);
      return Fail(result_, "systemctl restart " + unit + " failed (" +
                               Describe(*run, run_options.timeout) + ")" +
                               (said.empty() ? "" : ": " + said));
    }
    result_.set_success(true);
  }

 private:
  const RunnerOptions& options_;
  const CommandRunner::Hooks& hooks_;
  const Command& command_;
  CommandResult& result_;
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
};

}  // namespace

CommandRunner::CommandRunner(RunnerOptions options, Hooks hooks)
    : options_(std::move(options)), hooks_(std::move(hooks)) {}

CommandResult CommandRunner::Run(const Command& command) const {
  const MonotonicTime start = options_.time->MonotonicNow();
  CommandResult result;
  result.set_command_id(command.command_id());
  const Handler h(options_, hooks_, command, result);
  const auto* handler =
      std::find_if(std::begin(kHandlers), std::end(kHandlers),
                   [&](const auto& entry) { return entry.first == command.type(); });
  if (handler != std::end(kHandlers))
    (h.*handler->second)();
  else
    Fail(result, "unknown command type " + std::to_string(static_cast<int>(command.type())));
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
