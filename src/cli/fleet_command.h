// The fleet commands (init, plan, up, down, status, doctor, render) and the preamble they share:
// -f/--file, their own flags, --json where they have it, the AWS flags where they reach a
// provider, fleet.yaml loaded (its problems printed as file:line:column, exit 2), and the exit
// codes of command.h (0 ok, 1 the operation failed, 2 usage or a bad fleet.yaml).
#ifndef CARRIERARR_CLI_FLEET_COMMAND_H_
#define CARRIERARR_CLI_FLEET_COMMAND_H_

#include <string>

#include "cli/command.h"
#include "cli/fleet_common.h"

namespace carrierarr::cli {

class FleetCommand : public Command {
 public:
  // What of the preamble a command takes.
  struct Preamble {
    bool load_fleet = true;            // false: init, which writes fleet.yaml
    bool aws_flags = false;            // --profile, --region, --endpoint-url
    const char* json_usage = nullptr;  // the help of --json; null: no --json
  };
  virtual Preamble preamble() const = 0;

  // Checks the flags' values once they are parsed, before fleet.yaml is loaded; an error is a
  // usage error (exit 2).
  virtual Status CheckFlags() { return Status::Ok(); }

  // Runs once the flags are parsed and fleet.yaml is loaded (`ctx` is null when the preamble
  // loads none); returns the exit code.
  virtual int Run(ops::FleetContext* ctx, const Invocation& invocation) = 0;

 protected:
  const std::string& fleet_file() const { return fleet_file_; }
  bool json() const { return json_; }

 private:
  friend int RunFleetCommand(FleetCommand& command, const Invocation& invocation);
  std::string fleet_file_;
  bool json_ = false;
};

int RunFleetCommand(FleetCommand& command, const Invocation& invocation);

// Runs a FleetCommand of type C: what each command's Run<Name> is.
template <typename C>
int RunFleetCommand(const Invocation& invocation) {
  C command;
  return RunFleetCommand(command, invocation);
}

// The exit code of a failed operation: kExitUsage for kInvalidArgument (a bad --target, say),
// else kExitFailure.
int ExitCodeOf(const Status& status);

// Reports `status` (ReportError) and returns `code`.
int Fail(std::ostream& err, const Status& status, int code = kExitFailure);

}  // namespace carrierarr::cli

#endif  // CARRIERARR_CLI_FLEET_COMMAND_H_
