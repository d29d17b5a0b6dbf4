#include "mesh/nebula_config.h"

namespace carrierarr::mesh {
namespace {

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string RuleYaml(const FirewallRule& r) {
  std::string out = "    - port: " + Quote(r.port) + "\n      proto: " + r.proto + "\n";
  if (!r.host.empty()) out += "      host: " + r.host + "\n";
  if (!r.group.empty()) out += "      group: " + Quote(r.group) + "\n";
  return out;
}

}  // namespace

std::vector<FirewallRule> InboundRules(Role role, uint16_t grpc_port, uint16_t http_port) {
  std::vector<FirewallRule> rules{{"any", "icmp", "any", ""}};  // ping, for status and doctor
  switch (role) {
    case Role::kLighthouse:
      rules.push_back({"8080", "tcp", "", "homelab"});  // its agent's health
      break;
    case Role::kHomelab:
      rules.push_back(
          {std::to_string(grpc_port), "tcp", "", "workers"});  // agents -> control plane
      rules.push_back({std::to_string(grpc_port), "tcp", "", "lighthouse"});
      rules.push_back({std::to_string(http_port), "tcp", "", "workers"});
      rules.push_back({"32379-32380", "tcp", "", "workers"});  // ClusterMesh, both directions
      break;
    case Role::kWorker:
      rules.push_back({"22", "tcp", "", "homelab"});
      rules.push_back({"6443", "tcp", "", "homelab"});         // k3s API for Liqo peering
      rules.push_back({"8080", "tcp", "", "homelab"});         // agent health
      rules.push_back({"11434", "tcp", "", "homelab"});        // Ollama, for the model gateway
      rules.push_back({"32379-32380", "tcp", "", "homelab"});  // ClusterMesh
      rules.push_back({"any", "any", "", "workers"});          // the cloud cluster's own traffic
      break;
  }
  return rules;
}

std::string RenderNebulaConfig(const NebulaConfigInput& in) {
  const bool lighthouse = in.node.role == Role::kLighthouse;
  const std::string lh_ip = FormatIpv4(in.lighthouse_mesh_ip);
  std::string y;
  y += "# Nebula config for " + in.node.name + " (" + std::string(RoleName(in.node.role)) + ", " +
       FormatIpv4(in.node.mesh_ip) + "). Written by carrierarr; edits are overwritten.\n";
  y += "pki:\n  ca: " + Quote(in.ca_path) + "\n  cert: " + Quote(in.cert_path) +
       "\n  key: " + Quote(in.key_path) + "\n";
  // Every lighthouse in lighthouse.hosts needs a static_host_map entry, even on the lighthouse.
  y += "static_host_map:\n  " + Quote(lh_ip) + ": [" + Quote(in.lighthouse_endpoint) + "]\n";
  y += "lighthouse:\n  am_lighthouse: " + std::string(lighthouse ? "true" : "false") + "\n";
  y += "  interval: 60\n";
  y += lighthouse ? "  hosts: []\n" : "  hosts:\n    - " + Quote(lh_ip) + "\n";
  y +=
      "listen:\n  host: 0.0.0.0\n  port: " + std::to_string(lighthouse ? in.listen_port : 0) + "\n";
  y += "punchy:\n  punch: true\n  respond: true\n";
  y += "tun:\n  disabled: false\n  dev: " + in.tun_dev + "\n  mtu: 1300\n";
  y += "logging:\n  level: info\n  format: text\n";
  y += "firewall:\n  outbound:\n" + RuleYaml({"any", "any", "any", ""}) + "  inbound:\n";
  for (const auto& rule : InboundRules(in.node.role, in.grpc_port, in.http_port))
    y += RuleYaml(rule);
  return y;
}

}  // namespace carrierarr::mesh
