// The command framework of src/cli. Every subcommand of carrierarr and carrierarr-fleet is a
// Command: it says what it is (name, summary, usage), declares its flags (bound to its own
// members) and runs once they are parsed. Each family adds the preamble its members share:
// fleet commands (fleet_command.h: -f, --json, fleet.yaml, exit codes), control-plane clients
// (client_command.h: server, admin token, channel, context, failure) and pki modes (pki.cc).
// command_table.h lists them all, for both binaries.
#ifndef CARRIERARR_CLI_COMMAND_H_
#define CARRIERARR_CLI_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

#include "cli/flags.h"
#include "core/seams.h"

namespace carrierarr::cli {

// Exit codes shared by the commands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the operation failed
inline constexpr int kExitUsage = 2;    // bad flags or a bad fleet.yaml

// What a command runs with: its arguments (after its own name), the outside world (made once in
// main, never read again below it) and the streams to write to.
struct Invocation {
  std::vector<std::string> args;
  const Seams& seams;
  std::ostream& out;
  std::ostream& err;
};

// Runs one command; returns the process exit code.
using RunCommand = int (*)(const Invocation& invocation);

// What a command's help and errors name it by.
struct CommandSpec {
  std::string name;     // "up"
  std::string summary;  // one line for help
  std::string usage;    // "carrierarr up [-f fleet.yaml] [flags]"
};

class Command {
 public:
  virtual ~Command() = default;
  virtual CommandSpec Spec() const = 0;
  // Declares the command's own flags, if it has any; the family's preamble adds the shared ones.
  virtual void DeclareFlags(FlagSet& /*flags*/) {}
};

}  // namespace carrierarr::cli

#endif  // CARRIERARR_CLI_COMMAND_H_
