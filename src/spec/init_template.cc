#include "spec/fleet_parser.h"

namespace carrierarr::spec {

std::string InitTemplate(const std::string& fleet_name) {
  return R"(# fleet.yaml: one carrierarr fleet. `carrierarr plan` shows what `carrierarr up` would do.
# Reference: docs/fleet-yaml.md

# Prefixes every resource carrierarr makes (network namespaces, cloud tags), so fleets coexist.
# 1-12 lowercase letters, digits or '-'.
name: )" +
         fleet_name + R"(

mesh:
  # The Nebula overlay. Keep it /16 (or wider): the lighthouse sits in .0.x, the homelab in .1.x
  # and workers in .2.x and up, and every host certificate carries this mask, so all of them can
  # reach the lighthouse. A /24 here is the classic "static_host_map key is not in our subnet".
  cidr: 10.42.0.0/16
  # UDP port of the lighthouse (forward it on your router when the lighthouse is at home).
  lighthouse_port: 4242
  # Lifetime of the mesh CA; host certificates end one second before it. `carrierarr doctor`
  # warns 30 days ahead.
  ca_lifetime: 87600h

lighthouse:
  # Where the lighthouse runs: local (a network namespace on this machine).
  provider: local
  # Instance size, for providers that have them.
  size: t3.small

homelab:
  # The homelab node's mesh address, in the .1.x range.
  mesh_ip: 10.42.1.1
  # Nebula groups in its certificate; firewall rules match on them.
  groups: [homelab, kubernetes]

# Pools of worker nodes. Addresses are handed out from .2.1 upwards and kept for a node's life.
pools:
  - name: gpu
    type: gpu-worker        # gpu-worker | cpu-worker
    count: 1                # 0-250
    provider: local
    instance_type: g4dn.xlarge
    groups: [workers, gpu-compute]
  - name: cpu
    type: cpu-worker
    count: 1
    provider: local
    instance_type: t3.medium
    groups: [workers]

control_plane:
  grpc_port: 50051          # ec2agent.v1 AgentControl, on the homelab node's mesh address
  http_port: 8090           # HTTP API, dashboard and /metrics

providers:
  local:
    # Underlay addresses of the namespaces' virtual links. Traffic never leaves this machine.
    underlay: 198.18.0.0/15
)";
}

}  // namespace carrierarr::spec
