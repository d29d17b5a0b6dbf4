// `carrierarr plan`: what `up` would create, replace or delete, and why. Changes nothing.
// `carrierarr up`: makes it so.
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/fleet_command.h"
#include "cli/progress.h"

namespace carrierarr::cli {
namespace {

constexpr char kJsonUsage[] = "one JSON object per line";

// Shared by plan and up: --target, --skip-* and -v.
struct PlanFlags {
  std::string targets;
  bool skip_certs = false, skip_teardown = false, skip_peering = false, verbose = false;
  void Declare(FlagSet& flags) {
    flags.String("target", &targets, "",
                 "comma-separated resource ids to act on (and what they need)");
    flags.Bool("skip-certs", &skip_certs, false, "leave the CA and host certificates as they are");
    flags.Bool("skip-teardown", &skip_teardown, false,
               "do not delete what fleet.yaml no longer lists");
    flags.Bool("skip-peering", &skip_peering, false,
               "leave the federation's objects (Liqo peering, ClusterMesh) as they are");
    flags.Bool("v", &verbose, false, "list unchanged resources too");
  }
  ops::PlanRequest Request() const {
    ops::PlanRequest r;
    for (const auto& t : SplitCommaList(targets)) r.targets.insert(t);
    r.skip = {skip_certs, skip_teardown, skip_peering};
    return r;
  }
};

class PlanCommand final : public FleetCommand {
 public:
  CommandSpec Spec() const override {
    return {"plan", "Shows what 'carrierarr up' would create, replace or delete.",
            "carrierarr plan [-f fleet.yaml] [--target IDS] [--skip-certs] [--json]"};
  }
  Preamble preamble() const override { return {.aws_flags = true, .json_usage = kJsonUsage}; }
  void DeclareFlags(FlagSet& flags) override { plan_flags_.Declare(flags); }

  int Run(ops::FleetContext* ctx, const Invocation& invocation) override {
    auto plan = ops::PlanFleet(*ctx, plan_flags_.Request());
    if (!plan.ok()) return Fail(invocation.err, plan.status(), ExitCodeOf(plan.status()));
    PrintPlan(invocation.out, *plan, ChooseOutputMode(json(), STDOUT_FILENO), plan_flags_.verbose);
    return kExitOk;
  }

 private:
  PlanFlags plan_flags_;
};

// Steps the progress counts: a replacement is a delete and a create.
int CountSteps(const provision::Plan& plan) {
  int steps = 0;
  for (const auto& s : plan.steps) {
    steps += s.action == provision::Action::kReplace ? 2
             : s.action == provision::Action::kNone  ? 0
                                                     : 1;
  }
  return steps;
}

void PrintUpDone(const ops::UpResult& result, const std::string& fleet, OutputMode mode,
                 std::ostream& out) {
  if (mode == OutputMode::kJson) {
    out << nlohmann::json{{"event", "done"},
                          {"nodes", result.nodes},
                          {"meshed", result.nodes_meshed},
                          {"cloud", result.nodes_cloud},
                          {"unmeasured", result.nodes_unmeasured},
                          {"stopped", result.nodes_stopped},
                          {"seconds", result.elapsed.count() / 1000.0}}
               .dump()
        << "\n";
    return;
  }
  char secs[32];
  std::snprintf(secs, sizeof(secs), "%.2f", result.elapsed.count() / 1000.0);
  const int local =
      result.nodes - result.nodes_cloud - result.nodes_unmeasured - result.nodes_stopped;
  out << (result.plan.HasChanges() ? "Fleet '" : "No changes. Fleet '") << fleet
      << "' is up: " << result.nodes_meshed << "/" << local
      << (result.nodes_cloud + result.nodes_unmeasured > 0 ? " local" : "")
      << " nodes reach the lighthouse over the mesh";
  if (result.nodes_unmeasured > 0) {
    out << "; " << result.nodes_unmeasured
        << " nodes are ready where this machine cannot ping them (in the cluster)";
  }
  if (result.nodes_cloud > 0) {
    out << "; " << result.nodes_cloud
        << " cloud nodes run and join the mesh as they finish their first boot";
  }
  if (result.nodes_stopped > 0) {
    out << "; " << result.nodes_stopped
        << " nodes of scaled pools are stopped until woken (carrierarr wake POOL)";
  }
  out << " (" << secs << " s). See 'carrierarr status'.\n";
  for (const auto& note : result.plan.notes) out << "Note: " << note << "\n";
}

class UpCommand final : public FleetCommand {
 public:
  CommandSpec Spec() const override {
    return {
        "up", "Makes the fleet match fleet.yaml: idempotent, resumable after any interruption.",
        "carrierarr up [-f fleet.yaml] [--target IDS] [--skip-certs] [--skip-teardown] [--json]"};
  }
  Preamble preamble() const override { return {.aws_flags = true, .json_usage = kJsonUsage}; }
  void DeclareFlags(FlagSet& flags) override {
    plan_flags_.Declare(flags);
    flags.String("parallelism", &parallelism_, "8", "how many steps may run at once (1-64)");
  }

  Status CheckFlags() override {
    const char* end = parallelism_.data() + parallelism_.size();
    auto [rest, ec] = std::from_chars(parallelism_.data(), end, jobs_);
    if (ec != std::errc() || rest != end || jobs_ < 1 || jobs_ > 64) {
      return Status::InvalidArgument("--parallelism must be a number from 1 to 64, not '" +
                                     parallelism_ + "'");
    }
    return Status::Ok();
  }

  int Run(ops::FleetContext* ctx, const Invocation& invocation) override {
    if (!plan_flags_.targets.empty()) {
      // An unknown --target is a usage error: found before the state directory is touched.
      ops::PlanRequest check = plan_flags_.Request();
      check.observe = false;
      auto plan = ops::PlanFleet(*ctx, check);
      if (!plan.ok() && plan.status().code() == StatusCode::kInvalidArgument)
        return Fail(invocation.err, plan.status(), kExitUsage);
    }
    std::ostream& out = invocation.out;
    const OutputMode mode = ChooseOutputMode(json(), STDOUT_FILENO);
    std::unique_ptr<ProgressPrinter> progress;
    ops::UpOptions options{.plan = plan_flags_.Request(), .parallelism = jobs_};
    options.on_plan = [&](const provision::Plan& plan) {
      PrintPlan(out, plan, mode, false);
      progress = std::make_unique<ProgressPrinter>(out, mode, CountSteps(plan));
    };
    options.on_event = [&](const provision::StepEvent& e) { progress->OnEvent(e); };
    auto result = ops::Up(*ctx, options);
    if (progress) progress->Finish();
    if (!result.ok()) {
      ReportError(invocation.err, result.status());
      if (progress && mode != OutputMode::kJson) {  // only once something may have been made
        invocation.err << "Nothing is lost: run 'carrierarr up' again to resume, or 'carrierarr "
                          "down' to remove what was made.\n";
      }
      return kExitFailure;
    }
    PrintUpDone(*result, ctx->spec.name, mode, out);
    return kExitOk;
  }

 private:
  PlanFlags plan_flags_;
  std::string parallelism_ = "8";
  int jobs_ = 0;
};

}  // namespace

int RunPlan(const Invocation& invocation) { return RunFleetCommand<PlanCommand>(invocation); }

int RunUp(const Invocation& invocation) { return RunFleetCommand<UpCommand>(invocation); }

}  // namespace carrierarr::cli
