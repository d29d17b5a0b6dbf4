// `carrierarr doctor` for the local provider: root, iproute2 and nebula on this machine, then
// what can be seen from inside the namespaces: the lighthouse listens, every node reaches it on
// the underlay, and handshakes happened.
#include <chrono>
#include <cstdio>

#include "core/file_util.h"
#include "providers/local/local_provider.h"
#include "providers/local/netns.h"

namespace carrierarr::local {
namespace {

using providers::DoctorCheck;

// Is anything bound to UDP `port` inside `ns`? Reads the namespace's /proc/net/udp.
bool UdpListening(const Netns& netns, const std::string& ns, uint16_t port) {
  // nebula binds a dual-stack IPv6 socket even for 0.0.0.0, so look in both tables.
  auto r = netns.processes().Run(
      {"ip", "netns", "exec", ns, "cat", "/proc/net/udp", "/proc/net/udp6"}, {});
  if (!r.ok() || r->exit_code != 0) return false;
  char hex[8];
  std::snprintf(hex, sizeof(hex), ":%04X ", port);
  return r->out.find(hex) != std::string::npos;
}

DoctorCheck LighthousePortCheck(const Netns& netns, const providers::DoctorRequest& r) {
  const uint16_t port = r.fleet.mesh.lighthouse_port;
  const std::string ns = NodeNamespace(r.fleet.name, r.nodes.front().name);
  if (UdpListening(netns, ns, port)) {
    return DoctorCheck::Pass("lighthouse port",
                             "the lighthouse listens on UDP " + std::to_string(port));
  }
  return DoctorCheck::Fail(
      "lighthouse port", "nothing listens on UDP " + std::to_string(port) + " in " + ns,
      "check " + r.paths.Log("lighthouse") + ", then 'carrierarr up' restarts nebula");
}

// The underlay and handshake checks: every other local node, from inside its namespace.
std::vector<DoctorCheck> NodeChecks(const Netns& netns, const providers::DoctorRequest& r) {
  const uint32_t lh_underlay = UnderlayAddress(r.fleet.local.underlay, r.nodes.front().mesh_ip).ip;
  std::vector<std::string> unreachable, no_handshake;
  for (size_t i = 1; i < r.nodes.size(); ++i) {
    const auto& node = r.nodes[i];
    if (node.provider != kName) continue;
    std::string ns = NodeNamespace(r.fleet.name, node.name);
    if (!netns.Ping(ns, lh_underlay, std::chrono::milliseconds(1000)).ok())
      unreachable.push_back(node.name);
    auto log = ReadFile(r.paths.Log(node.name));
    if (!log.ok() || log->find("Handshake message received") == std::string::npos)
      no_handshake.push_back(node.name);
  }
  const std::string port = std::to_string(r.fleet.mesh.lighthouse_port);
  return {
      unreachable.empty()
          ? DoctorCheck::Pass("underlay",
                              "every node reaches the lighthouse at " + FormatIpv4(lh_underlay))
          : DoctorCheck::Fail("underlay",
                              "cannot reach " + FormatIpv4(lh_underlay) +
                                  " from: " + DoctorCheck::List(unreachable),
                              "'carrierarr up' repairs missing namespaces and links"),
      no_handshake.empty()
          ? DoctorCheck::Pass("handshakes", "every node's log shows a completed Nebula handshake")
          : DoctorCheck::Fail("handshakes",
                              "no handshake in the log of: " + DoctorCheck::List(no_handshake),
                              "check UDP " + port + " reachability and the nodes' logs in " +
                                  r.paths.state_dir + "/logs"),
  };
}

}  // namespace

std::vector<DoctorCheck> LocalEnvironmentChecks(const Netns& netns) {
  Status env = netns.CheckSupport();
  if (!env.ok())
    return {DoctorCheck::Fail("environment", env.message(), "run carrierarr as root (sudo)")};
  auto nebula = netns.processes().Run({"nebula", "-version"}, {});
  if (!nebula.ok() || nebula->exit_code != 0) {
    return {DoctorCheck::Fail("environment", "nebula is not installed",
                              "apt-get install nebula (or bash scripts/setup.sh)")};
  }
  std::string version = nebula->out.substr(0, nebula->out.find('\n'));
  return {DoctorCheck::Pass("environment", "root, iproute2 and " + version)};
}

std::vector<DoctorCheck> LocalDeploymentChecks(const Netns& netns,
                                               const providers::DoctorRequest& request) {
  // Only a lighthouse in a namespace here can be looked into: a cloud lighthouse's nodes report
  // through their agents instead ('carrierarr status').
  if (request.nodes.front().provider != kName || !netns.CheckSupport().ok()) return {};
  std::vector<DoctorCheck> checks{LighthousePortCheck(netns, request)};
  for (auto& c : NodeChecks(netns, request)) checks.push_back(std::move(c));
  return checks;
}

}  // namespace carrierarr::local
