// `carrierarr init`: writes a commented fleet.yaml to start from.
#include <iostream>

#include "cli/commands.h"
#include "cli/fleet_common.h"
#include "core/file_util.h"
#include "providers/registry.h"
#include "spec/fleet_parser.h"

namespace carrierarr::cli {

int RunInit(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  const CommandSpec command{"init", "Writes a commented fleet.yaml (it refuses to overwrite one).",
                            "carrierarr init [-f fleet.yaml] [-name NAME]"};
  FlagSet flags;
  std::string fleet_file, name;
  flags.String("name", &name, "demo", "fleet name: 1-12 lowercase letters, digits or '-'");
  if (auto code = ParseCommandFlags(command, flags, args, &fleet_file, out, err)) return *code;
  std::string yaml = spec::InitTemplate(name);
  // The template must parse: this also validates -name with fleet.yaml's own rules.
  auto parsed = spec::ParseFleet(yaml, "-name", providers::FleetRules());
  if (!parsed.ok()) {
    err << "Error: -name '" << name
        << "' is not a valid fleet name: 1-12 lowercase letters, digits "
        << "or '-', starting with a letter\n";
    return kExitUsage;
  }
  Status s = WriteFileAtomic(fleet_file, yaml, 0644, Overwrite::kNo);
  if (!s.ok()) {
    if (s.code() == StatusCode::kAlreadyExists) {
      err << "Error: " << fleet_file
          << " already exists; edit it, or pass -f to write another file\n";
    } else {
      ReportError(err, s);
    }
    return kExitFailure;
  }
  out << "wrote " << fleet_file << " (fleet '" << name
      << "'): a lighthouse, the homelab node, one GPU "
      << "and one CPU worker on the local provider.\nNext: 'carrierarr plan' to see what "
         "'carrierarr up' "
      << "would make.\n";
  return kExitOk;
}

}  // namespace carrierarr::cli
