// Runs the control plane's commands on the node and turns each into a CommandResult. Every
// external program runs as argv (RunnerOptions::processes), never through a shell. Thread-safe: the
// agent runs commands on worker threads, one command per thread.
#ifndef CARRIERARR_AGENT_COMMAND_RUNNER_H_
#define CARRIERARR_AGENT_COMMAND_RUNNER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "core/process_runner.h"
#include "core/subprocess.h"
#include "core/thread_annotations.h"
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
  // FETCH_KUBECONFIG answers with this file, and only when allowed (it holds the k3s
  // cluster's admin key; see agent/k3s_nodes.h).
  std::string k3s_kubeconfig = "/etc/rancher/k3s/k3s.yaml";
  bool allow_kubeconfig_fetch = false;
  // Of each of stdout and stderr, what is kept while a program runs; the rest is read, counted
  // and dropped, so that a chatty program cannot grow the agent.
  size_t max_output_bytes = size_t{1} << 20;
  // stdout and stderr together in one CommandResult: the control plane refuses gRPC messages
  // over 1 MiB, and a result it refuses would be sent again on every reconnect. A cut stream
  // ends with "[... output truncated: N bytes dropped]".
  size_t max_result_output_bytes = size_t{960} * 1024;
  // A timed-out or cancelled program's process group gets SIGTERM, then SIGKILL after this.
  std::chrono::milliseconds kill_grace{2000};
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
  // not installed, timed out). Output is bounded (RunnerOptions) and made valid UTF-8 (invalid
  // bytes become U+FFFD), as protobuf requires of string fields. Every program runs in a
  // process group of its own, killed whole on timeout or cancel.
  // SHUTDOWN, REBOOT and DRAIN only prepare (DRAIN cordons and drains); the power action
  // itself waits for AfterResultSent so that the control plane hears the result first.
  // CANCEL (args["command_id"]) stops the running command of that id, which then reports
  // success=false and error "cancelled"; CANCEL itself succeeds, or fails with "no running
  // command <id>". A PULL_MODEL or UNLOAD_MODEL stops waiting for Ollama (which may finish
  // the download on its own). FETCH_KUBECONFIG answers with the k3s kubeconfig as stdout, or
  // fails (permission denied, naming --allow-kubeconfig-fetch) when not allowed.
  ec2agent::v1::CommandResult Run(const ec2agent::v1::Command& command) const;

  // Call once the result of `command` was handed to the control plane (or could not be, after
  // a bounded wait): performs the power action of a successful SHUTDOWN, REBOOT or DRAIN.
  void AfterResultSent(const ec2agent::v1::Command& command,
                       const ec2agent::v1::CommandResult& result) const;

 private:
  // The cancel signal of the running command `id`, registered for the time of the run (none
  // for an empty id, or when one of that id is running already).
  std::shared_ptr<CancelSignal> Register(const std::string& id) const;
  void Unregister(const std::string& id, const std::shared_ptr<CancelSignal>& signal) const;
  ec2agent::v1::CommandResult Cancel(const ec2agent::v1::Command& command) const;

  RunnerOptions options_;
  Hooks hooks_;
  // The commands running now, by id, with what cancels them. Bounded by the client's cap on
  // commands running at once. Mutable: Run is const (thread-safe), the registry its state.
  mutable Mutex mu_;
  mutable std::map<std::string, std::shared_ptr<CancelSignal>> running_ GUARDED_BY(mu_);
};

}  // namespace carrierarr::agent

#endif  // CARRIERARR_AGENT_COMMAND_RUNNER_H_
