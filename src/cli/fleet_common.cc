#include "cli/fleet_common.h"

namespace carrierarr::cli {

std::optional<int> ParseCommandFlags(const CommandSpec& command, FlagSet& flags,
                                     const std::vector<std::string>& args, std::string* fleet_file,
                                     std::ostream& out, std::ostream& err) {
  flags.String("f", fleet_file, "fleet.yaml", "path to the fleet file (also --file)");
  flags.String("file", fleet_file, "fleet.yaml", "path to the fleet file");
  Status s = flags.Parse(args);
  if (s.ok() && flags.help()) {
    out << "Usage: " << command.usage << "\n" << command.summary << "\n\nFlags:\n" << flags.Usage();
    return kExitOk;
  }
  if (s.ok() && !flags.args().empty()) {
    s = Status::InvalidArgument("unexpected argument \"" + flags.args()[0] + "\"");
  }
  if (!s.ok()) {
    err << "Error: " << s.message() << "\nRun 'carrierarr " << command.name
        << " -h' for its flags.\n";
    return kExitUsage;
  }
  return std::nullopt;
}

void ReportError(std::ostream& err, const Status& status) {
  std::string message = status.message();
  std::string indented;
  for (char c : message) {
    indented += c;
    if (c == '\n') indented += "  ";
  }
  err << "Error: " << indented << "\n";
}

std::optional<ops::FleetContext> LoadFleetOrReport(const std::string& fleet_file,
                                                   std::ostream& err) {
  auto ctx = ops::LoadContext(fleet_file);
  if (!ctx.ok()) {
    if (ctx.status().code() == StatusCode::kInvalidArgument) {
      err << ctx.status().message() << "\n";
      err << "Error: " << fleet_file << " is not valid; fix the lines above "
          << "(reference: docs/fleet-yaml.md)\n";
    } else {
      ReportError(err, ctx.status());
    }
    return std::nullopt;
  }
  return std::move(*ctx);
}

}  // namespace carrierarr::cli
