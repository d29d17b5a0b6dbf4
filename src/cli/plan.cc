// `carrierarr plan`: what `up` would create, replace or delete, and why. Changes nothing.
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/fleet_common.h"
#include "cli/progress.h"

namespace carrierarr::cli {

// Shared by plan and up: --target, --skip-* and --json.
struct PlanFlags {
  std::string targets;
  bool skip_certs = false, skip_teardown = false, skip_peering = false, json = false,
       verbose = false;
  void Declare(FlagSet& flags) {
    flags.String("target", &targets, "",
                 "comma-separated resource ids to act on (and what they need)");
    flags.Bool("skip-certs", &skip_certs, false, "leave the CA and host certificates as they are");
    flags.Bool("skip-teardown", &skip_teardown, false,
               "do not delete what fleet.yaml no longer lists");
    flags.Bool("skip-peering", &skip_peering, false,
               "leave cluster peering alone (a local fleet has none yet)");
    flags.Bool("json", &json, false, "one JSON object per line");
    flags.Bool("v", &verbose, false, "list unchanged resources too");
  }
  ops::PlanRequest Request() const {
    ops::PlanRequest r;
    for (const auto& t : SplitCommaList(targets)) r.targets.insert(t);
    r.skip = {skip_certs, skip_teardown, skip_peering};
    return r;
  }
};

int RunPlan(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  const CommandSpec command{
      "plan", "Shows what 'carrierarr up' would create, replace or delete.",
      "carrierarr plan [-f fleet.yaml] [--target IDS] [--skip-certs] [--json]"};
  FlagSet flags;
  AwsFlags aws;
  aws.Declare(flags);
  std::string fleet_file;
  PlanFlags plan_flags;
  plan_flags.Declare(flags);
  if (auto code = ParseCommandFlags(command, flags, args, &fleet_file, out, err)) return *code;
  auto ctx = LoadFleetOrReport(fleet_file, err);
  if (!ctx) return kExitUsage;
  aws.Apply(*ctx);
  auto plan = ops::PlanFleet(*ctx, plan_flags.Request());
  if (!plan.ok()) {
    ReportError(err, plan.status());
    return plan.status().code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailure;
  }
  PrintPlan(out, *plan, ChooseOutputMode(plan_flags.json, STDOUT_FILENO), plan_flags.verbose);
  return kExitOk;
}

int RunUp(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  const CommandSpec command{
      "up", "Makes the fleet match fleet.yaml: idempotent, resumable after any interruption.",
      "carrierarr up [-f fleet.yaml] [--target IDS] [--skip-certs] [--skip-teardown] [--json]"};
  FlagSet flags;
  AwsFlags aws;
  aws.Declare(flags);
  std::string fleet_file;
  PlanFlags plan_flags;
  plan_flags.Declare(flags);
  std::string parallelism = "8";
  flags.String("parallelism", &parallelism, "8", "how many steps may run at once (1-64)");
  if (auto code = ParseCommandFlags(command, flags, args, &fleet_file, out, err)) return *code;
  int jobs = 0;
  auto [rest, ec] =
      std::from_chars(parallelism.data(), parallelism.data() + parallelism.size(), jobs);
  if (ec != std::errc() || rest != parallelism.data() + parallelism.size() || jobs < 1 ||
      jobs > 64) {
    err << "Error: --parallelism must be a number from 1 to 64, not '" << parallelism << "'\n";
    return kExitUsage;
  }
  auto ctx = LoadFleetOrReport(fleet_file, err);
  if (!ctx) return kExitUsage;
  aws.Apply(*ctx);
  if (!plan_flags.targets.empty()) {
    // An unknown --target is a usage error: found before the state directory is touched.
    ops::PlanRequest check = plan_flags.Request();
    check.observe = false;
    auto plan = ops::PlanFleet(*ctx, check);
    if (!plan.ok() && plan.status().code() == StatusCode::kInvalidArgument) {
      ReportError(err, plan.status());
      return kExitUsage;
    }
  }
  const OutputMode mode = ChooseOutputMode(plan_flags.json, STDOUT_FILENO);
  std::unique_ptr<ProgressPrinter> progress;
  ops::UpOptions options{.plan = plan_flags.Request(), .parallelism = jobs};
  options.on_plan = [&](const provision::Plan& plan) {
    PrintPlan(out, plan, mode, false);
    int steps = 0;
    for (const auto& s : plan.steps) {
      steps += s.action == provision::Action::kReplace ? 2
               : s.action == provision::Action::kNone  ? 0
                                                       : 1;
    }
    progress = std::make_unique<ProgressPrinter>(out, mode, steps);
  };
  options.on_event = [&](const provision::StepEvent& e) { progress->OnEvent(e); };
  auto result = ops::Up(*ctx, options);
  if (progress) progress->Finish();
  if (!result.ok()) {
    ReportError(err, result.status());
    if (progress && mode != OutputMode::kJson) {  // only once something may have been made
      err << "Nothing is lost: run 'carrierarr up' again to resume, or 'carrierarr down' to remove "
             "what was made.\n";
    }
    return kExitFailure;
  }
  char secs[32];
  std::snprintf(secs, sizeof(secs), "%.2f", result->elapsed.count() / 1000.0);
  if (mode == OutputMode::kJson) {
    out << nlohmann::json{{"event", "done"},
                          {"nodes", result->nodes},
                          {"meshed", result->nodes_meshed},
                          {"cloud", result->nodes_cloud},
                          {"seconds", result->elapsed.count() / 1000.0}}
               .dump()
        << "\n";
  } else {
    const int local = result->nodes - result->nodes_cloud;
    out << (result->plan.HasChanges() ? "Fleet '" : "No changes. Fleet '") << ctx->spec.name
        << "' is up: " << result->nodes_meshed << "/" << local
        << (result->nodes_cloud > 0 ? " local" : "") << " nodes reach the lighthouse over the mesh";
    if (result->nodes_cloud > 0) {
      out << "; " << result->nodes_cloud
          << " cloud nodes run and join the mesh as they finish their first boot";
    }
    out << " (" << secs << " s). See 'carrierarr status'.\n";
  }
  return kExitOk;
}

}  // namespace carrierarr::cli
