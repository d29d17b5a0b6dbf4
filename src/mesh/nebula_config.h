// Renders a node's Nebula configuration (YAML) from the address plan. Firewall rules are by
// group, least privilege: every node may ping every node (diagnostics), workers and homelab reach
// each other only on the ports the product uses.
#ifndef CARRIERARR_MESH_NEBULA_CONFIG_H_
#define CARRIERARR_MESH_NEBULA_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "mesh/address_plan.h"

namespace carrierarr::mesh {

// Longest Linux interface name; nebula -test accepts longer tun names and truncates them later.
inline constexpr size_t kMaxDeviceName = 15;

struct FirewallRule {
  std::string port;   // "any", "4242", "32379-32380"
  std::string proto;  // "any", "tcp", "udp", "icmp"
  std::string host;   // "any" or empty
  std::string group;  // a group name or empty
};

struct NebulaConfigInput {
  NodePlan node;
  std::string ca_path, cert_path, key_path;
  uint32_t lighthouse_mesh_ip = 0;
  std::string lighthouse_endpoint;  // underlay "HOST:PORT" the others dial
  uint16_t listen_port = 4242;      // the lighthouse must have a fixed, non-zero port
  std::string tun_dev = "nebula1";
  uint16_t grpc_port = 50051;  // control plane, on the homelab node
  uint16_t http_port = 8090;
};

// Inbound rules for a role (outbound is always any).
std::vector<FirewallRule> InboundRules(Role role, uint16_t grpc_port, uint16_t http_port);

std::string RenderNebulaConfig(const NebulaConfigInput& input);

}  // namespace carrierarr::mesh

#endif  // CARRIERARR_MESH_NEBULA_CONFIG_H_
