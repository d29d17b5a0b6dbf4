// What every provider that runs agents needs from the fleet, whichever provider hosts the
// control plane: the agent's type, the control plane's address over the mesh, and single-use
// enrollment tokens. Providers get a minter through NodeRequest and FleetRequest, so tests hand
// in a fake.
#ifndef CARRIERARR_PROVIDERS_ENROLLMENT_H_
#define CARRIERARR_PROVIDERS_ENROLLMENT_H_

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/time_source.h"
#include "mesh/address_plan.h"
#include "providers/provider.h"
#include "spec/fleet.h"

namespace carrierarr::providers {

// The agent's --type for a node: "lighthouse", "gpu-worker" or "cpu-worker".
std::string AgentType(const mesh::NodePlan& node);

// Where agents reach the control plane over the mesh: "<homelab mesh ip>:<grpc port>".
std::string ControlPlaneAddress(const spec::FleetSpec& fleet);

// Makes single-use enrollment tokens for nodes. Thread-safe: the engine creates resources from
// several threads.
class EnrollmentMinter {
 public:
  virtual ~EnrollmentMinter() = default;
  // A fresh token that enrolls `node` once, valid for `ttl` (a Go duration such as "1h").
  virtual Result<std::string> Mint(const std::string& node, const std::string& ttl) const = 0;
};

// Mints fleet-signed tokens (pki/enrollment_token.h) in-process with the private key at
// `key_path` (provision's enrollment-key resource makes it during the same `up`, so the key is
// read at each Mint). The control plane verifies them with the public key; it need not be
// running yet. `time` outlives the minter.
std::shared_ptr<const EnrollmentMinter> MakeSignedMinter(std::string key_path,
                                                         const TimeSource& time);

}  // namespace carrierarr::providers

#endif  // CARRIERARR_PROVIDERS_ENROLLMENT_H_
