// Runs a program from an argv vector: never through a shell, so no argument is ever re-split or
// interpreted. Used for the real `nebula`, `ip`, `nebula-cert` in tests, and anything else we exec.
#ifndef CARRIERARR_CORE_SUBPROCESS_H_
#define CARRIERARR_CORE_SUBPROCESS_H_

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace carrierarr {

struct RunOptions {
  std::string stdin_data;                                        // written to the child's stdin
  std::chrono::milliseconds timeout = std::chrono::seconds(60);  // the child is SIGKILLed after it
  std::string working_dir;                                       // empty: inherit ours
  std::vector<std::string> extra_env;  // "KEY=VALUE" added to our environment
};

struct RunResult {
  int exit_code = -1;  // valid when !signaled
  bool signaled = false;
  int signal = 0;
  bool timed_out = false;
  std::string out;  // everything the child wrote to stdout
  std::string err;  // everything the child wrote to stderr
};

// Runs argv[0] (looked up in PATH when it has no slash) and waits for it. A non-zero exit is not an
// error of Run itself: check RunResult. Fails only if the program cannot be started.
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
