// Starting and stopping the nodes of scaled pools: the burst controller's hands
// (`carrierarr power`, which the control plane runs). A node beyond its pool's min is made by
// `up` with its running resources recorded powered off (provision/plan.h); these functions make
// them again, or stop them through their provider, and record each step in the fleet's state
// under its lock.
#ifndef CARRIERARR_OPS_POWER_H_
#define CARRIERARR_OPS_POWER_H_

#include <chrono>
#include <string>

#include "core/status.h"
#include "mesh/address_plan.h"
#include "ops/fleet_ops.h"

namespace carrierarr::ops {

// Of a scaled pool and beyond its min: the burst controller starts and stops it.
bool IsPowerManaged(const spec::FleetSpec& fleet, const mesh::NodePlan& node);

struct PowerOptions {
  // How long to wait for the fleet's lock (an `up` may hold it) before failing.
  std::chrono::milliseconds lock_wait{std::chrono::minutes(2)};
};

// Makes every running resource of `node` that is powered off or gone, in start order; OK at
// once when all of them run (a resumed wake starts nothing twice). FailedPrecondition when the
// node is not power-managed or `up` has not made it yet.
Status PowerOnNode(const FleetContext& ctx, const std::string& node, const PowerOptions& options);
// Stops them in reverse order, recording each powered off; OK at once when all are.
Status PowerOffNode(const FleetContext& ctx, const std::string& node, const PowerOptions& options);

// From the recorded state alone: "on" (every running resource recorded and not powered off),
// "off" (every one powered off), or "partly" (a wake or stop was interrupted).
Result<std::string> NodePowerState(const FleetContext& ctx, const std::string& node);

}  // namespace carrierarr::ops

#endif  // CARRIERARR_OPS_POWER_H_
