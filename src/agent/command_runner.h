// Runs the control plane's commands on the node and turns each into a CommandResult. Every
// external program runs as argv (RunnerOptions::processes), never through a shell. Thread-safe: the
// agent runs commands on worker threads, one command per thread.
#ifndef CARRIERARR_AGENT_COMMAND_RUNNER_H_
#define CARRIERARR_AGENT_COMMAND_RUNNER_H_

#include <functional>
#include <string>

#include "core/process_runner.h"
#include "core/time_source.h"
#include "ec2agent/v1/agent.pb.h"

namespace carrierarr::agent {

// How SHUTDOWN and REBOOT act: on the host (systemctl poweroff / reboot), or on the agent
// itself (the local fleet, where a "node" is a network namespace: exit, or re-exec).
enum class PowerMode { kSystem, kExit };

struct RunnerOptions {
  bool allow_exec = false;  // EXEC is refused unless the agent was started with --allow-exec
  PowerMode power_mode = PowerMode::kSystem;
  std::string kubectl = "kubectl";
  std::string systemctl = "systemctl";
  std::string ollama_url = "http://127.0.0.1:11434";
  std::string node_name;  // Kubernetes node name for DRAIN when args has no "node"
  size_t max_output_bytes = size_t{64} * 1024;  // per stream; longer output is cut with a marker
  // DRAIN's deadline across its steps and each result's duration_ms. The programs' own
  // timeouts run on the machine's clock (core/subprocess.h). Not owned; outlives the runner.
  TimeSource* time = RealTimeSource::Get();
  // What starts kubectl, systemctl and EXEC's programs. Not owned; outlives the runner.
  ProcessRunner* processes = RealProcessRunner::Get();
};

class CommandRunner {
 public:
  // power: from AfterResultSent, for a successful SHUTDOWN, REBOOT or DRAIN. update_config:
  // from Run, for UPDATE_CONFIG (new intervals, 0 = unchanged). model_activity: from Run, for
  // PULL_MODEL/UNLOAD_MODEL. Set by the agent; each may be empty.
  struct Hooks {
    std::function<void(bool reboot)> power;
    std::function<void(int heartbeat_sec, int status_sec)> update_config;
    std::function<void()> model_activity;
  };

  CommandRunner(RunnerOptions options, Hooks hooks);

  // Runs `command` to completion (bounded by its timeout_seconds when non-zero; with 0, EXEC and
  // PULL_MODEL still stop after an hour) and returns the result: success, exit code, captured
  // output, a clear error otherwise (unknown type, EXEC not allowed, missing argument, program
  // not installed, timed out). Output is cut at max_output_bytes per stream and made valid
  // UTF-8 (invalid bytes become U+FFFD), as protobuf requires of string fields.
  // SHUTDOWN, REBOOT and DRAIN only prepare (DRAIN cordons and drains); the power action
  // itself waits for AfterResultSent so that the control plane hears the result first.
  ec2agent::v1::CommandResult Run(const ec2agent::v1::Command& command) const;

  // Call once the result of `command` was handed to the control plane (or could not be, after
  // a bounded wait): performs the power action of a successful SHUTDOWN, REBOOT or DRAIN.
  void AfterResultSent(const ec2agent::v1::Command& command,
                       const ec2agent::v1::CommandResult& result) const;

 private:
  RunnerOptions options_;
  Hooks hooks_;
};

}  // namespace carrierarr::agent

#endif  // CARRIERARR_AGENT_COMMAND_RUNNER_H_
