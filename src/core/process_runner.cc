#include "core/process_runner.h"

namespace carrierarr {

Result<RunResult> RealProcessRunner::Run(const std::vector<std::string>& argv,
                                         const RunOptions& options) {
  return carrierarr::Run(argv, options);
}

RealProcessRunner* RealProcessRunner::Get() {
  static auto* runner = new RealProcessRunner();  // never destroyed: used by detached threads
  return runner;
}

}  // namespace carrierarr
