// `carrierarr render packer`: Packer (HCL2) templates for the fleet's two images, as the seeds'
// phase 4 bakes them: the lighthouse (Nebula, k3s, kubectl, helm, the cilium CLI, the agent) and
// the GPU worker (the same, plus the NVIDIA driver and container toolkit). Amazon Linux 2023,
// IMDSv2 and an encrypted root, like the instances `up` launches; every download pinned and
// checked against its release's sha256 by one install script both builds run. The first boot
// finds the baked versions and skips their downloads. Pure functions: thread-safe.
#ifndef CARRIERARR_PROVIDERS_AWS_PACKER_H_
#define CARRIERARR_PROVIDERS_AWS_PACKER_H_

#include <map>
#include <string>

#include "spec/fleet.h"

namespace carrierarr::aws_provider {

// Releases baked in that fleet.yaml does not pin.
inline constexpr char kHelmVersion[] = "v3.16.4";
inline constexpr char kNvidiaDriverBranch[] = "565";

// File name -> contents: carrierarr.pkr.hcl (plugins, variables, sources, builds),
// carrierarr.auto.pkrvars.hcl (the values from fleet.yaml; Packer loads *.auto.pkrvars.hcl by
// itself) and install.sh (the provisioner).
std::map<std::string, std::string> RenderPacker(const spec::FleetSpec& fleet);

}  // namespace carrierarr::aws_provider

#endif  // CARRIERARR_PROVIDERS_AWS_PACKER_H_
