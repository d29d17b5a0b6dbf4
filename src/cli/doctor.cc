// `carrierarr doctor`: checks every trap the seeds' troubleshooting sections list, with a fix.
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/fleet_common.h"

namespace carrierarr::cli {

int RunDoctor(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  const CommandSpec command{"doctor", "Checks the fleet for known traps and says how to fix each.",
                            "carrierarr doctor [-f fleet.yaml] [--json]"};
  FlagSet flags;
  std::string fleet_file;
  bool json = false;
  flags.Bool("json", &json, false, "print JSON");
  if (auto code = ParseCommandFlags(command, flags, args, &fleet_file, out, err)) return *code;
  auto ctx = LoadFleetOrReport(fleet_file, err);
  if (!ctx) return kExitUsage;
  auto checks = ops::Doctor(*ctx);
  if (!checks.ok()) {
    ReportError(err, checks.status());
    return kExitFailure;
  }
  int failed = 0;
  nlohmann::json list = nlohmann::json::array();
  for (const auto& c : *checks) {
    failed += c.ok ? 0 : 1;
    if (json) {
      list.push_back({{"check", c.name}, {"ok", c.ok}, {"detail", c.detail}, {"fix", c.fix}});
      continue;
    }
    out << (c.ok ? "ok    " : "FAIL  ") << c.name << ": " << c.detail << "\n";
    if (!c.ok) out << "      fix: " << c.fix << "\n";
  }
  if (json) {
    out << nlohmann::json{{"failed", failed}, {"checks", list}}.dump(2) << "\n";
  } else {
    out << "\n"
        << (failed == 0 ? "No problems found." : std::to_string(failed) + " problem(s) found.")
        << "\n";
  }
  return failed == 0 ? kExitOk : kExitFailure;
}

}  // namespace carrierarr::cli
