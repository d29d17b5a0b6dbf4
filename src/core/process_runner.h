// Processes as a seam: everything that starts a program goes through a ProcessRunner, so that
// the fleet operations and providers run in unit tests against a recording double
// (tests/testing/fake_process_runner.h) instead of the real `ip`, `nebula` and friends.
// RealProcessRunner runs them for real (argv only, never a shell: see core/subprocess.h).
#ifndef CARRIERARR_CORE_PROCESS_RUNNER_H_
#define CARRIERARR_CORE_PROCESS_RUNNER_H_

#include <string>
#include <vector>

#include "core/status.h"
#include "core/subprocess.h"

namespace carrierarr {

// Implementations are thread-safe: the engine applies resources from several threads.
class ProcessRunner {
 public:
  virtual ~ProcessRunner() = default;
  // Runs argv and waits for it, as carrierarr::Run does. A non-zero exit is not an error: check
  // RunResult. Fails only when the program cannot be started.
  virtual Result<RunResult> Run(const std::vector<std::string>& argv,
                                const RunOptions& options = {}) = 0;
};

// The machine's processes. One process-wide instance; never destroyed.
class RealProcessRunner final : public ProcessRunner {
 public:
  Result<RunResult> Run(const std::vector<std::string>& argv, const RunOptions& options) override;
  static RealProcessRunner* Get();
};

}  // namespace carrierarr

#endif  // CARRIERARR_CORE_PROCESS_RUNNER_H_
