// What every provider that runs agents needs from the fleet, whichever provider hosts the
// control plane: the agent's type, the control plane's address over the mesh, and single-use
// enrollment tokens. Providers get a minter through NodeRequest, so tests hand in a fake.
#ifndef CARRIERARR_PROVIDERS_ENROLLMENT_H_
#define CARRIERARR_PROVIDERS_ENROLLMENT_H_

#include <memory>
#include <string>
#include <vector>

#include "core/process_runner.h"
#include "core/status.h"
#include "mesh/address_plan.h"
#include "providers/provider.h"
#include "spec/fleet.h"

namespace carrierarr::providers {

// The agent's --type for a node: "lighthouse", "gpu-worker" or "cpu-worker".
std::string AgentType(const mesh::NodePlan& node);

// Where agents reach the control plane over the mesh: "<homelab mesh ip>:<grpc port>".
std::string ControlPlaneAddress(const spec::FleetSpec& fleet);

// Makes single-use enrollment tokens on the fleet's running control plane. Thread-safe: the
// engine creates resources from several threads.
class EnrollmentMinter {
 public:
  virtual ~EnrollmentMinter() = default;
  // A fresh token that enrolls `node` once; `ttl` as `carrierarr tokens create --ttl` takes it.
  virtual Result<std::string> Mint(const std::string& node, const std::string& ttl) const = 0;
};

// The argv of `carrierarr-fleet tokens create` against the control plane under `paths`, writing
// a single-use token for `node` to `out` (0600). The `carrierarr` binary links no gRPC and the
// control plane's HTTP API listens only on the mesh, so its unix socket through this program is
// the operator side's way in.
std::vector<std::string> TokenCreateArgv(const FleetPaths& paths, const std::string& node,
                                         const std::string& ttl, const std::string& out);

// Mints by running TokenCreateArgv through `runner` and reading the token back (the file is
// removed at once: the token lives on only where it is going). `runner` outlives the minter.
std::shared_ptr<const EnrollmentMinter> MakeControlPlaneMinter(const FleetPaths& paths,
                                                               ProcessRunner& runner);

}  // namespace carrierarr::providers

#endif  // CARRIERARR_PROVIDERS_ENROLLMENT_H_
