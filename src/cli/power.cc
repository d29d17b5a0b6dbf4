// `carrierarr power`: starts or stops one node of a scaled pool (ops/power.h). The control
// plane's burst controller runs it for its decisions (recorded before it acts); an operator
// uses `carrierarr wake` and `sleep` instead, which go through the controller.
#include "ops/power.h"

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/fleet_command.h"

namespace carrierarr::cli {
namespace {

class PowerCommand final : public FleetCommand {
 public:
  CommandSpec Spec() const override {
    return {"power",
            "Starts or stops one node of a scaled pool, or says whether it runs. The control "
            "plane's burst controller runs this; use 'carrierarr wake POOL' and 'sleep POOL'.",
            "carrierarr power [-f fleet.yaml] --node NODE [--set on|off] [--json]"};
  }
  Preamble preamble() const override { return {.json_usage = "one JSON object"}; }
  void DeclareFlags(FlagSet& flags) override {
    flags.String("node", &node_, "", "the node, e.g. gpu-2 (of a pool with `scaling`)");
    flags.String("set", &set_, "", "on or off; empty: print whether it is on, off or partly");
    flags.Duration("lock-wait", &lock_wait_, std::chrono::minutes(2),
                   "how long to wait for the fleet's lock while another run holds it");
  }
  Status CheckFlags() override {
    if (node_.empty()) return Status::InvalidArgument("--node is required (e.g. --node gpu-2)");
    if (!set_.empty() && set_ != "on" && set_ != "off")
      return Status::InvalidArgument("--set must be on or off, not \"" + set_ + "\"");
    return Status::Ok();
  }

  int Run(ops::FleetContext* ctx, const Invocation& invocation) override {
    const ops::PowerOptions options{
        .lock_wait = std::chrono::duration_cast<std::chrono::milliseconds>(lock_wait_)};
    Status done = set_ == "on"    ? ops::PowerOnNode(*ctx, node_, options)
                  : set_ == "off" ? ops::PowerOffNode(*ctx, node_, options)
                                  : Status::Ok();
    if (!done.ok()) return Fail(invocation.err, done, ExitCodeOf(done));
    auto state = ops::NodePowerState(*ctx, node_);
    if (!state.ok()) return Fail(invocation.err, state.status(), ExitCodeOf(state.status()));
    if (json()) {
      invocation.out << nlohmann::json{{"node", node_}, {"power", *state}}.dump() << "\n";
    } else {
      invocation.out << node_ << ": " << *state << "\n";
    }
    return kExitOk;
  }

 private:
  std::string node_, set_;
  std::chrono::nanoseconds lock_wait_{};
};

}  // namespace

int RunPower(const Invocation& invocation) { return RunFleetCommand<PowerCommand>(invocation); }

}  // namespace carrierarr::cli
