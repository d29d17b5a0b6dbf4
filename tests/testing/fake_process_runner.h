// FakeProcessRunner: a recording ProcessRunner for unit tests. Runs answer what the test
// scripted for their argv prefix; daemons get fake pids in a fake process table that
// ProcessMatches, ProcessesWithArgs, StopProcess and StopAll read and change. Nothing is ever
// executed. Thread-safe (the engine applies resources from several threads); handlers are called
// without the lock held, so they may call back into the runner.
#ifndef CARRIERARR_TESTS_TESTING_FAKE_PROCESS_RUNNER_H_
#define CARRIERARR_TESTS_TESTING_FAKE_PROCESS_RUNNER_H_

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/process_runner.h"

namespace carrierarr::testing {

class FakeProcessRunner final : public ProcessRunner {
 public:
  using Argv = std::vector<std::string>;
  using Handler = std::function<Result<RunResult>(const Argv& argv)>;

  // A run that exits with `code` after writing `out` and `err`.
  static RunResult Exit(int code, std::string out = "", std::string err = "");

  // Runs whose argv starts with `prefix` are answered by `handler` (the longest matching prefix
  // wins; registering a prefix again replaces its handler). Unscripted runs exit 0 silently.
  void OnRun(Argv prefix, Handler handler);
  void OnRun(Argv prefix, RunResult result);

  // The next StartDaemon fails with `status` instead of starting anything.
  void FailNextStart(Status status);

  // A live process with this command line, as if started before the test (a leftover); its pid.
  pid_t AddProcess(Argv argv);
  // The process dies on its own (a crash): it leaves the table without being stopped.
  void Kill(pid_t pid);
  bool Alive(pid_t pid) const;
  // Live processes whose argv as started (with any wrapper) begins with `prefix`.
  std::vector<pid_t> LivePidsStartedWith(const Argv& prefix) const;

  struct Daemon {
    pid_t pid;
    Argv argv;  // as given to StartDaemon, wrapper included
    DaemonOptions options;
  };
  struct Stop {
    pid_t pid;
    std::string marker;  // empty for StopAll
  };
  std::vector<Argv> runs() const;               // the argv of every Run, in order
  std::vector<RunOptions> run_options() const;  // the options of every Run, in the same order
  std::vector<Daemon> daemons() const;          // every StartDaemon that started one, in order
  std::vector<Stop> stops() const;              // every process StopProcess or StopAll ended

  Result<RunResult> Run(const Argv& argv, const RunOptions& options) override;
  Result<pid_t> StartDaemon(const Argv& argv, const DaemonOptions& options) override;
  std::vector<pid_t> ProcessesWithArgs(const Argv& args) override;
  bool ProcessMatches(pid_t pid, const std::string& marker) override;
  Status StopProcess(pid_t pid, const std::string& marker,
                     std::chrono::milliseconds grace) override;
  std::vector<pid_t> StopAll(const std::vector<pid_t>& pids,
                             std::chrono::milliseconds grace) override;

 private:
  struct Process {
    Argv started;  // as started, wrapper included
    Argv argv;     // what /proc/PID/cmdline would say (the wrapped program's)
  };
  bool MatchesLocked(pid_t pid, const std::string& marker) const;

  mutable std::mutex mu_;
  std::map<Argv, Handler> handlers_;
  std::optional<Status> fail_next_start_;
  std::map<pid_t, Process> table_;
  pid_t next_pid_ = 4000;
  std::vector<Argv> runs_;
  std::vector<RunOptions> run_options_;
  std::vector<Daemon> daemons_;
  std::vector<Stop> stops_;
};

}  // namespace carrierarr::testing

#endif  // CARRIERARR_TESTS_TESTING_FAKE_PROCESS_RUNNER_H_
