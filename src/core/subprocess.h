// Runs a program from an argv vector: never through a shell, so no argument is ever re-split or
// interpreted. Used for the real `nebula`, `ip`, `nebula-cert` in tests, and anything else we exec.
#ifndef CARRIERARR_CORE_SUBPROCESS_H_
#define CARRIERARR_CORE_SUBPROCESS_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace carrierarr {

// A one-shot "stop now" for Run: Cancel() from any thread makes every Run given this signal
// kill its child (its process group with RunOptions::new_process_group) and return with
// RunResult::cancelled set; a Run started after Cancel() kills its child at once. Thread-safe.
class CancelSignal {
 public:
  CancelSignal();  // an eventfd; without one (EMFILE), Cancel() still works by polling
  ~CancelSignal();
  CancelSignal(const CancelSignal&) = delete;
  CancelSignal& operator=(const CancelSignal&) = delete;

  void Cancel();
  bool cancelled() const;
  int fd() const { return fd_; }  // readable once cancelled; -1 when none could be made

 private:
  int fd_ = -1;
  std::atomic<bool> cancelled_{false};
};

struct RunOptions {
  std::string stdin_data;                                        // written to the child's stdin
  std::chrono::milliseconds timeout = std::chrono::seconds(60);  // the child is killed after it
  std::string working_dir;                                       // empty: inherit ours
  std::vector<std::string> extra_env;  // "KEY=VALUE" added to our environment
  // Of each of stdout and stderr, only the first max_output_bytes are kept; the rest is read
  // (the child never blocks on a full pipe) and counted in RunResult::out_dropped/err_dropped.
  size_t max_output_bytes = std::numeric_limits<size_t>::max();
  // The child leads a process group of its own, and a timeout or cancel kills the whole group
  // (what it started in the background too). Without it only the child itself is killed.
  bool new_process_group = false;
  // On timeout or cancel: SIGTERM, then SIGKILL after this long; 0 is SIGKILL at once.
  std::chrono::milliseconds kill_grace{0};
  const CancelSignal* cancel = nullptr;  // not owned; outlives the Run
};

struct RunResult {
  int exit_code = -1;  // valid when !signaled
  bool signaled = false;
  int signal = 0;
  bool timed_out = false;
  bool cancelled = false;  // RunOptions::cancel fired and the child was killed
  std::string out;         // what the child wrote to stdout (up to max_output_bytes)
  std::string err;         // what the child wrote to stderr (up to max_output_bytes)
  size_t out_dropped = 0;  // bytes of stdout beyond max_output_bytes, read and dropped
  size_t err_dropped = 0;
};

// Runs argv[0] (looked up in PATH when it has no slash) and waits for it. A non-zero exit is not an
// error of Run itself: check RunResult. Fails only if the program cannot be started.
// Run returns once the child itself has exited and the output it wrote is read, even when
// something it started in the background still holds its stdout or stderr open (that output
// is not waited for).
// Thread-safe: touches no shared state besides the process table.
Result<RunResult> Run(const std::vector<std::string>& argv, const RunOptions& options = {});

// The full path of `name` as execvp would find it (a name with a '/' is taken as a path), or
// nullopt when it is not an executable file.
std::optional<std::string> FindProgram(const std::string& name);

// One of carrierarr's own programs (carrierarr-fleet, carrierarr-agent): the one installed next
// to the running executable, so that a build directory's binaries go together, else FindProgram.
std::optional<std::string> FindOwnProgram(const std::string& name);

}  // namespace carrierarr

#endif  // CARRIERARR_CORE_SUBPROCESS_H_
