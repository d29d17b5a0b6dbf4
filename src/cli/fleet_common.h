// The pieces of the fleet commands' preamble (fleet_command.h): the -f flag, the AWS flags,
// loading fleet.yaml, and reporting a failure the same way everywhere.
#ifndef CARRIERARR_CLI_FLEET_COMMON_H_
#define CARRIERARR_CLI_FLEET_COMMON_H_

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/flags.h"
#include "ops/fleet_ops.h"

namespace carrierarr::cli {

// Parses `args` into `flags` (after adding -f/--file into *fleet_file). Prints help or a usage
// error and returns the exit code when the command should stop; nullopt to go on.
std::optional<int> ParseCommandFlags(const CommandSpec& command, FlagSet& flags,
                                     const std::vector<std::string>& args, std::string* fleet_file,
                                     std::ostream& out, std::ostream& err);

// --profile, --region and --endpoint-url (or CARRIERARR_AWS_ENDPOINT): the AWS account, region
// and endpoint, beating fleet.yaml's providers.aws and what the state recorded.
struct AwsFlags {
  std::string profile, region, endpoint_url;
  void Declare(FlagSet& flags);
  // Into the context: its spec (recorded with new resources) and its seams' overrides (every
  // AWS call, deletions of recorded resources included).
  void Apply(ops::FleetContext& ctx) const;
};

// Loads fleet.yaml; prints the problems (file:line:column) and returns nullopt on failure.
std::optional<ops::FleetContext> LoadFleetOrReport(const std::string& fleet_file,
                                                   const Seams& seams, std::ostream& err);

// "Error: <message>" plus an indented continuation for multi-line messages.
void ReportError(std::ostream& err, const Status& status);

}  // namespace carrierarr::cli

#endif  // CARRIERARR_CLI_FLEET_COMMON_H_
