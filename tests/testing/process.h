// A child process that tests watch while it runs: its standard output is read line by line as
// the child writes it, so a test can act at a precise point of the child's progress (for example
// SIGKILL `carrierarr up --json` right after its Nth step event). core/subprocess.h's Run() only
// returns once the child is done; this is its streaming counterpart, for tests only.
//
// Every wait is bounded by a timeout. The destructor SIGKILLs and reaps a child that still runs,
// by its own pid, so a failed test never leaves it behind. Not thread-safe: one thread drives one
// StreamingProcess.
#ifndef CARRIERARR_TESTS_TESTING_PROCESS_H_
#define CARRIERARR_TESTS_TESTING_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace carrierarr::testing {

class StreamingProcess {
 public:
  StreamingProcess() = default;
  ~StreamingProcess();
  StreamingProcess(const StreamingProcess&) = delete;
  StreamingProcess& operator=(const StreamingProcess&) = delete;

  // Starts argv (argv[0] an absolute path) in `dir` with stdin from /dev/null and stdout and
  // stderr on pipes of ours. Fails when it is already started or the program cannot be spawned.
  Status Start(const std::vector<std::string>& argv, const std::string& dir);

  // The next complete line of stdout, without its '\n'; nullopt once stdout is closed (and no
  // complete line is left) or when `timeout` passes first. Keeps collecting stderr meanwhile.
  std::optional<std::string> ReadLine(std::chrono::milliseconds timeout);

  // Sends `sig` to the child, unless it has been reaped already; true when sent.
  bool Signal(int sig);

  // Reads the rest of the output and waits for the child to exit; its wait status (see
  // WIFEXITED), or nullopt when `timeout` passes first (the child is left running).
  std::optional<int> Wait(std::chrono::milliseconds timeout);

  pid_t pid() const { return pid_; }
  // Everything read from stderr so far, and stdout read but not yet returned by ReadLine.
  const std::string& err() const { return err_; }
  const std::string& pending_out() const { return out_; }

 private:
  // Reads whatever is available on stdout and stderr, waiting up to `timeout` for something.
  void Pump(std::chrono::milliseconds timeout);

  pid_t pid_ = -1;
  bool reaped_ = false;
  int wait_status_ = 0;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::string out_;
  std::string err_;
};

// The wait status as words for failure messages: "exit 1", "signal 9".
std::string DescribeWaitStatus(int wait_status);

}  // namespace carrierarr::testing

#endif  // CARRIERARR_TESTS_TESTING_PROCESS_H_
