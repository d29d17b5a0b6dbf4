// `carrierarr down`: removes everything carrierarr made for the fleet, in reverse order, from the
// state file alone (it works even after fleet.yaml changed).
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/fleet_command.h"
#include "cli/progress.h"

namespace carrierarr::cli {

namespace {

class DownCommand final : public FleetCommand {
 public:
  CommandSpec Spec() const override {
    return {"down", "Removes every resource carrierarr made for the fleet, in reverse order.",
            "carrierarr down [-f fleet.yaml] [--target IDS] [--json]"};
  }
  Preamble preamble() const override {
    return {.aws_flags = true, .json_usage = "one JSON object per line"};
  }
  void DeclareFlags(FlagSet& flags) override {
    flags.String("target", &targets_, "",
                 "comma-separated resource ids to remove (with what depends on them)");
  }

  int Run(ops::FleetContext* ctx, const Invocation& invocation) override {
    if (Status known = CheckTargets(*ctx); !known.ok())
      return Fail(invocation.err, known, kExitUsage);
    std::ostream& out = invocation.out;
    std::ostream& err = invocation.err;
    const OutputMode mode = ChooseOutputMode(json(), STDOUT_FILENO);
    std::unique_ptr<ProgressPrinter> progress;
    ops::DownOptions options;
    for (const auto& t : SplitCommaList(targets_)) options.targets.insert(t);
    options.on_plan = [&](const provision::Plan& plan) {
      PrintPlan(out, plan, mode, false);
      progress = std::make_unique<ProgressPrinter>(out, mode, static_cast<int>(plan.steps.size()));
    };
    options.on_event = [&](const provision::StepEvent& e) { progress->OnEvent(e); };
    auto result = ops::Down(*ctx, options);
    if (progress) progress->Finish();
    if (!result.ok()) {
      ReportError(err, result.status());
      err << "What could not be removed is still recorded; fix the cause and run 'carrierarr "
             "down' again.\n";
      return kExitFailure;
    }
    PrintDone(*result, ctx->spec.name, mode, out);
    if (!result->leftovers.empty()) {
      err << "Error: still in AWS with the tag carrierarr:fleet=" << ctx->spec.name
          << " (made outside this state, or not yet gone):\n";
      for (const auto& l : result->leftovers) err << "  " << l << "\n";
      err << "Run 'carrierarr down' again in a minute, or remove them in the AWS console.\n";
      return kExitFailure;
    }
    return kExitOk;
  }

 private:
  // An unknown --target is a usage error: found before the state directory is touched.
  Status CheckTargets(const ops::FleetContext& ctx) const {
    if (targets_.empty()) return Status::Ok();
    auto state = ops::ReadState(ctx);
    if (!state.ok()) return Status::Ok();
    for (const auto& t : SplitCommaList(targets_)) {
      if (state->resources.count(t) == 0) {
        return Status::InvalidArgument("--target " + t +
                                       " is not recorded in the state; see 'carrierarr status'");
      }
    }
    return Status::Ok();
  }

  static void PrintDone(const ops::DownResult& result, const std::string& fleet, OutputMode mode,
                        std::ostream& out) {
    if (mode == OutputMode::kJson) {
      out << nlohmann::json{{"event", "done"},
                            {"removed", result.apply.succeeded},
                            {"state_removed", result.state_removed},
                            {"leftovers", result.leftovers}}
                 .dump()
          << "\n";
    } else if (result.plan.steps.empty()) {
      out << "Nothing to remove: fleet '" << fleet << "' has no recorded resources.\n";
    } else {
      out << "Removed " << result.apply.succeeded << " resources of fleet '" << fleet << "'"
          << (result.state_removed && result.leftovers.empty() ? "; nothing of it is left." : ".")
          << "\n";
    }
  }

  std::string targets_;
};

}  // namespace

int RunDown(const Invocation& invocation) { return RunFleetCommand<DownCommand>(invocation); }

}  // namespace carrierarr::cli
