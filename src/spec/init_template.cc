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
  # Where the lighthouse runs: local (a network namespace on this machine) or aws (an EC2
  # instance with an Elastic IP; fill in providers.aws below). See docs/providers/aws.md.
  provider: local
  # The instance type with provider: aws (unused by local).
  size: t3.small

homelab:
  # The homelab node's mesh address, in the .1.x range.
  mesh_ip: 10.42.1.1
  # Nebula groups in its certificate; firewall rules match on them.
  groups: [homelab, kubernetes]

# Pools of worker nodes. Addresses are handed out from .2.1 upwards and kept for a node's life.
# provider: local | aws. On aws a pool needs an instance_type and may add `spot: true` (with
# `on_demand_fallback: true` when spot has no capacity) and `root_volume_gb: 8-16384` (default
# 30, or 100 for gpu-worker); local ignores them.
# Instead of count, a pool may scale (docs/burst.md): `scaling: {min: 0, max: 2, idle_after: 15m}`
# with `budget: {usd_per_day: 20}`: nodes beyond min stay stopped until `carrierarr wake POOL`.
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
  # EC2, for nodes with provider: aws. Uncomment the block (each line below) to use it; `plan`
  # needs no credentials. Its security group opens only Nebula's UDP port to the world; SSH,
  # k3s, agent health and ClusterMesh stay on the mesh and operator_cidrs. IMDSv2 and encrypted
  # volumes always. "" keeps a key's default.
  # aws:
  #   region: us-west-2                 # where nodes run; "" = AWS_REGION or the profile's region
  #   profile: ""                       # credentials profile; "" = AWS_PROFILE or default
  #   endpoint_url: ""                  # an EC2-compatible endpoint for every call; "" = AWS
  #   vpc_id: ""                        # vpc-...; "" = the default VPC
  #   subnet_id: ""                     # subnet-...; "" = the VPC's default, zone AWS picks
  #   operator_cidrs: [203.0.113.7/32]  # your address: may reach SSH/6443/8080/32379 too
  #   ami: ""                           # ami-...; "" = newest Amazon Linux 2023 for the arch
  #   key_type: ed25519                 # the SSH key pair carrierarr makes: ed25519 | rsa
  #   iam_instance_profile: ""          # an instance profile name; secretsmanager needs one
  #   nebula_material: userdata         # userdata (embedded) | secretsmanager (fetched at boot)
  #   dns_name: ""                      # a name you point at the lighthouse's Elastic IP
  #   nebula_version: 1.9.5             # slackhq/nebula release, checked against its SHASUM
  #   agent_url: ""                     # https URL of carrierarr-agent; {arch} = x86_64|arm64
  #   agent_sha256: ""                  # its sha256sum: required with agent_url, checked at boot
  #   mirror: ""                        # https base for Nebula/k3s releases; "" = github.com
  #   k3s: true                         # lighthouse runs the k3s server, workers join (mesh)
  #   k3s_version: v1.31.4+k3s1         # k3s release, checked against its sha256sum file
  #   ollama_version: 0.13.3            # Ollama on nodes of pools with models, sums checked
)";
}

}  // namespace carrierarr::spec
