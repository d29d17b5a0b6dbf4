// `carrierarr doctor`: checks every trap the seeds' troubleshooting sections list, with a fix.
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/fleet_command.h"

namespace carrierarr::cli {
namespace {

class DoctorCommand final : public FleetCommand {
 public:
  CommandSpec Spec() const override {
    return {"doctor", "Checks the fleet for known traps and says how to fix each.",
            "carrierarr doctor [-f fleet.yaml] [--json]"};
  }
  Preamble preamble() const override { return {.json_usage = "print JSON"}; }

  int Run(ops::FleetContext* ctx, const Invocation& invocation) override {
    auto checks = ops::Doctor(*ctx);
    if (!checks.ok()) return Fail(invocation.err, checks.status());
    std::ostream& out = invocation.out;
    int failed = 0;
    nlohmann::json list = nlohmann::json::array();
    for (const auto& c : *checks) {
      failed += c.ok ? 0 : 1;
      if (json()) {
        list.push_back({{"check", c.name}, {"ok", c.ok}, {"detail", c.detail}, {"fix", c.fix}});
        continue;
      }
      out << (c.ok ? "ok    " : "FAIL  ") << c.name << ": " << c.detail << "\n";
      if (!c.ok) out << "      fix: " << c.fix << "\n";
    }
    if (json()) {
      out << nlohmann::json{{"failed", failed}, {"checks", list}}.dump(2) << "\n";
    } else {
      out << "\n"
          << (failed == 0 ? "No problems found." : std::to_string(failed) + " problem(s) found.")
          << "\n";
    }
    return failed == 0 ? kExitOk : kExitFailure;
  }
};

}  // namespace

int RunDoctor(const Invocation& invocation) { return RunFleetCommand<DoctorCommand>(invocation); }

}  // namespace carrierarr::cli
