// `carrierarr down`: removes everything carrierarr made for the fleet, in reverse order, from the
// state file alone (it works even after fleet.yaml changed).
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/fleet_common.h"
#include "cli/progress.h"

namespace carrierarr::cli {

int RunDown(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  const CommandSpec command{
      "down", "Removes every resource carrierarr made for the fleet, in reverse order.",
      "carrierarr down [-f fleet.yaml] [--target IDS] [--json]"};
  FlagSet flags;
  AwsFlags aws;
  aws.Declare(flags);
  std::string fleet_file, targets;
  bool json = false;
  flags.String("target", &targets, "",
               "comma-separated resource ids to remove (with what depends on them)");
  flags.Bool("json", &json, false, "one JSON object per line");
  if (auto code = ParseCommandFlags(command, flags, args, &fleet_file, out, err)) return *code;
  auto ctx = LoadFleetOrReport(fleet_file, err);
  if (!ctx) return kExitUsage;
  aws.Apply(*ctx);
  if (!targets.empty()) {
    // An unknown --target is a usage error: found before the state directory is touched.
    auto state = ops::ReadState(*ctx);
    for (const auto& t : SplitCommaList(targets)) {
      if (state.ok() && state->resources.count(t) == 0) {
        err << "Error: --target " << t
            << " is not recorded in the state; see 'carrierarr status'\n";
        return kExitUsage;
      }
    }
  }
  const OutputMode mode = ChooseOutputMode(json, STDOUT_FILENO);
  std::unique_ptr<ProgressPrinter> progress;
  ops::DownOptions options;
  for (const auto& t : SplitCommaList(targets)) options.targets.insert(t);
  options.on_plan = [&](const provision::Plan& plan) {
    PrintPlan(out, plan, mode, false);
    progress = std::make_unique<ProgressPrinter>(out, mode, static_cast<int>(plan.steps.size()));
  };
  options.on_event = [&](const provision::StepEvent& e) { progress->OnEvent(e); };
  auto result = ops::Down(*ctx, options);
  if (progress) progress->Finish();
  if (!result.ok()) {
    ReportError(err, result.status());
    err << "What could not be removed is still recorded; fix the cause and run 'carrierarr down' "
           "again.\n";
    return kExitFailure;
  }
  if (mode == OutputMode::kJson) {
    out << nlohmann::json{{"event", "done"},
                          {"removed", result->apply.succeeded},
                          {"state_removed", result->state_removed},
                          {"leftovers", result->leftovers}}
               .dump()
        << "\n";
  } else if (result->plan.steps.empty()) {
    out << "Nothing to remove: fleet '" << ctx->spec.name << "' has no recorded resources.\n";
  } else {
    out << "Removed " << result->apply.succeeded << " resources of fleet '" << ctx->spec.name << "'"
        << (result->state_removed && result->leftovers.empty() ? "; nothing of it is left." : ".")
        << "\n";
  }
  if (!result->leftovers.empty()) {
    err << "Error: still in AWS with the tag carrierarr:fleet=" << ctx->spec.name
        << " (made outside this state, or not yet gone):\n";
    for (const auto& l : result->leftovers) err << "  " << l << "\n";
    err << "Run 'carrierarr down' again in a minute, or remove them in the AWS console.\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace carrierarr::cli
