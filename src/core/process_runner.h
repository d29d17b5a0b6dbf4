// Processes as a seam: everything that starts, finds or stops a program goes through a
// ProcessRunner, so that the fleet operations and providers run in unit tests against a recording
// double (tests/testing/fake_process_runner.h) instead of the real `ip`, `nebula` and friends.
// RealProcessRunner runs them for real (argv only, never a shell: see core/subprocess.h).
#ifndef CARRIERARR_CORE_PROCESS_RUNNER_H_
#define CARRIERARR_CORE_PROCESS_RUNNER_H_

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/subprocess.h"

namespace carrierarr {

struct DaemonOptions {
  std::string log_path;  // stdout and stderr are appended to it (created 0600)
  // The first `wrapper_args` entries of argv are a wrapper that execs the rest under the same
  // pid (`ip netns exec NS` is 4). Both programs must exist. StartDaemon returns only once the
  // program's command line shows in /proc (for a wrapper: once it has handed over), or after 3 s,
  // the pid then still the program's.
  size_t wrapper_args = 0;
};

// Whether `marker` appears in a NUL-separated command line (/proc/PID/cmdline) as whole
// arguments: it may span several, with a space where one ends and the next begins ("sleep 30"),
// but it starts and ends on argument boundaries, so ".../agents/cpu-1" never matches
// ".../agents/cpu-10". An empty marker never matches.
bool CommandLineHasArgs(std::string_view cmdline, std::string_view marker);

// Implementations are thread-safe: the engine applies resources from several threads. A pid
// is only signalled after its command line was checked against a marker the caller gave.
class ProcessRunner {
 public:
  virtual ~ProcessRunner() = default;
  // Runs argv and waits for it, as carrierarr::Run does. A non-zero exit is not an error: check
  // RunResult. Fails only when the program cannot be started.
  virtual Result<RunResult> Run(const std::vector<std::string>& argv,
                                const RunOptions& options) = 0;

  // Starts argv as a detached daemon (own session, stdin /dev/null, stdout and stderr appended to
  // the log, no descriptor of ours inherited) and returns its pid without waiting for it to
  // finish. It is not our child: callers stop it with StopProcess. Fails when a program is
  // missing, the log cannot be opened, or the program exits at once (the message quotes the end
  // of its log).
  virtual Result<pid_t> StartDaemon(const std::vector<std::string>& argv,
                                    const DaemonOptions& options) = 0;

  // Every process on this machine (but this one) whose arguments after argv[0] include `args`,
  // consecutive and each whole ({"-config", "/x/a.yml"} matches neither "/x/a.yml.bak" nor a
  // different flag), wherever it runs (in any network namespace).
  virtual std::vector<pid_t> ProcessesWithArgs(const std::vector<std::string>& args) = 0;

  // True when `pid` is alive and its command line has `marker` as whole arguments
  // (CommandLineHasArgs; guards against pid reuse). Zombies count as gone; an empty marker never
  // matches.
  virtual bool ProcessMatches(pid_t pid, const std::string& marker) = 0;

  // SIGTERM, wait up to `grace`, then SIGKILL; only if ProcessMatches(pid, marker). Succeeds
  // when the process is gone afterwards (or was never there, or the pid now belongs to another
  // program). An empty marker is an InvalidArgument error.
  virtual Status StopProcess(pid_t pid, const std::string& marker,
                             std::chrono::milliseconds grace) = 0;

  // SIGTERM to every pid at once, SIGKILL to those still there after `grace`; for processes the
  // caller owns by other means (everything left in its network namespace). This process is
  // never signalled. Returns the pids still there 5 s after SIGKILL (stuck in the kernel).
  virtual std::vector<pid_t> StopAll(const std::vector<pid_t>& pids,
                                     std::chrono::milliseconds grace) = 0;
};

// The machine's processes. One process-wide instance; never destroyed.
class RealProcessRunner final : public ProcessRunner {
 public:
  Result<RunResult> Run(const std::vector<std::string>& argv, const RunOptions& options) override;
  Result<pid_t> StartDaemon(const std::vector<std::string>& argv,
                            const DaemonOptions& options) override;
  std::vector<pid_t> ProcessesWithArgs(const std::vector<std::string>& args) override;
  bool ProcessMatches(pid_t pid, const std::string& marker) override;
  Status StopProcess(pid_t pid, const std::string& marker,
                     std::chrono::milliseconds grace) override;
  std::vector<pid_t> StopAll(const std::vector<pid_t>& pids,
                             std::chrono::milliseconds grace) override;
  static RealProcessRunner* Get();
};

}  // namespace carrierarr

#endif  // CARRIERARR_CORE_PROCESS_RUNNER_H_
