#include "cli/fleet_command.h"

namespace carrierarr::cli {

int RunFleetCommand(FleetCommand& command, const Invocation& invocation) {
  const FleetCommand::Preamble preamble = command.preamble();
  FlagSet flags;
  AwsFlags aws;
  if (preamble.aws_flags) aws.Declare(flags);
  if (preamble.json_usage) flags.Bool("json", &command.json_, false, preamble.json_usage);
  command.DeclareFlags(flags);
  if (auto code = ParseCommandFlags(command.Spec(), flags, invocation.args, &command.fleet_file_,
                                    invocation.out, invocation.err)) {
    return *code;
  }
  if (Status checked = command.CheckFlags(); !checked.ok())
    return Fail(invocation.err, checked, kExitUsage);
  if (!preamble.load_fleet) return command.Run(nullptr, invocation);
  auto ctx = LoadFleetOrReport(command.fleet_file_, invocation.seams, invocation.err);
  if (!ctx) return kExitUsage;
  if (preamble.aws_flags) aws.Apply(*ctx);
  return command.Run(&*ctx, invocation);
}

int Fail(std::ostream& err, const Status& status, int code) {
  ReportError(err, status);
  return code;
}

int ExitCodeOf(const Status& status) {
  return status.code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailure;
}

}  // namespace carrierarr::cli
