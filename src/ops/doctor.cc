// `carrierarr doctor`: the traps from the seeds' troubleshooting sections, checked one by one,
// each with the fix when it fails.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>

#include "core/file_util.h"
#include "core/subprocess.h"
#include "mesh/nebula_config.h"
#include "ops/fleet_ops.h"
#include "pki/ca_pool.h"
#include "providers/local/local_provider.h"
#include "providers/local/netns.h"

namespace carrierarr::ops {
namespace {

using std::chrono::system_clock;
constexpr int64_t kExpiryWarningSeconds = int64_t{30} * 24 * 3600;

DoctorCheck Pass(std::string name, std::string detail) {
  return {std::move(name), true, std::move(detail), ""};
}
DoctorCheck Fail(std::string name, std::string detail, std::string fix) {
  return {std::move(name), false, std::move(detail), std::move(fix)};
}

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(system_clock::now().time_since_epoch())
      .count();
}

Result<pki::Certificate> LoadCert(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  return pki::CertificateFromPem(*text);
}

// Is anything bound to UDP `port` inside `ns`? Reads the namespace's /proc/net/udp.
bool UdpListening(const std::string& ns, uint16_t port) {
  // nebula binds a dual-stack IPv6 socket even for 0.0.0.0, so look in both tables.
  auto r = Run({"ip", "netns", "exec", ns, "cat", "/proc/net/udp", "/proc/net/udp6"});
  if (!r.ok() || r->exit_code != 0) return false;
  char hex[8];
  std::snprintf(hex, sizeof(hex), ":%04X ", port);
  return r->out.find(hex) != std::string::npos;
}

}  // namespace

Result<std::vector<DoctorCheck>> Doctor(const FleetContext& ctx) {
  std::vector<DoctorCheck> checks;
  const spec::FleetSpec& spec = ctx.spec;
  const int mesh_prefix = spec.mesh.cidr.PrefixLength();

  // The mesh itself: /16 or wider (validation refuses narrower, so this documents the rule).
  checks.push_back(Pass("mesh mask", "mesh " + spec.mesh.cidr.ToString() + " is /" +
                                         std::to_string(mesh_prefix) + " (needs /16 or wider)"));

  Status env = local::CheckNetnsSupport();
  auto nebula = Run({"nebula", "-version"});
  if (!env.ok()) {
    checks.push_back(Fail("environment", env.message(), "run carrierarr as root (sudo)"));
  } else if (!nebula.ok() || nebula->exit_code != 0) {
    checks.push_back(Fail("environment", "nebula is not installed",
                          "apt-get install nebula (or bash scripts/setup.sh)"));
  } else {
    std::string version = nebula->out.substr(0, nebula->out.find('\n'));
    checks.push_back(Pass("environment", "root, iproute2 and " + version));
  }

  auto state = ReadState(ctx);
  if (!state.ok()) return state.status();
  if (state->resources.empty()) {
    checks.push_back(Fail("deployment", "nothing is deployed for fleet '" + spec.name + "'",
                          "run 'carrierarr up'"));
    return checks;
  }

  // CA: present, limited to the mesh, not about to expire.
  auto ca = LoadCert(ctx.paths.CaCert());
  if (!ca.ok()) {
    checks.push_back(Fail("CA", ctx.paths.CaCert() + ": " + ca.status().message(),
                          "run 'carrierarr up' to remake it"));
    return checks;
  }
  bool limited = ca->details.ips.size() == 1 && ca->details.ips[0] == spec.mesh.cidr;
  checks.push_back(
      limited ? Pass("CA constraints", "CA '" + ca->details.name + "' may only sign inside " +
                                           spec.mesh.cidr.ToString())
              : Fail("CA constraints", "CA '" + ca->details.name + "' is not limited to the mesh",
                     "remake the CA: 'carrierarr down' then 'carrierarr up'"));
  int64_t now = NowSeconds();
  pki::CaPool pool;
  Status pool_status = pool.AddCa(*ca, system_clock::now());

  auto desired = BuildDesired(ctx, *state);
  if (!desired.ok()) return desired.status();
  std::vector<std::string> mask_problems, chain_problems, expiring, map_problems, dev_problems;
  if (ca->details.not_after - now < kExpiryWarningSeconds)
    expiring.push_back("CA (" + pki::FormatUtc(ca->details.not_after) + ")");
  for (const auto& node : desired->nodes) {
    auto cert = LoadCert(ctx.paths.HostCert(node.name));
    if (!cert.ok()) {
      chain_problems.push_back(node.name + ": " + cert.status().message());
      continue;
    }
    for (const auto& ip : cert->details.ips) {
      if (ip.PrefixLength() != mesh_prefix) {
        mask_problems.push_back(node.name + " has " + ip.ToString());
      }
    }
    pki::VerifyResult v = pool.Verify(*cert, system_clock::now());
    if (!pool_status.ok() || !v.ok()) {
      chain_problems.push_back(node.name + ": " +
                               (pool_status.ok() ? v.status.message() : pool_status.message()));
    }
    if (cert->details.not_after - now < kExpiryWarningSeconds) {
      expiring.push_back(node.name + " (" + pki::FormatUtc(cert->details.not_after) + ")");
    }
    // The config: every lighthouse in static_host_map and inside the cert's network; tun name.
    try {
      YAML::Node config = YAML::LoadFile(ctx.paths.NebulaConfig(node.name));
      for (const auto& host : config["lighthouse"]["hosts"]) {
        std::string lh = host.as<std::string>();
        if (!config["static_host_map"][lh])
          map_problems.push_back(node.name + ": lighthouse " + lh +
                                 " has no static_host_map entry");
        auto lh_ip = ParseIpv4(lh);
        if (lh_ip.ok() && !cert->details.ips.empty() && !cert->details.ips[0].Contains(*lh_ip)) {
          map_problems.push_back(node.name + ": lighthouse " + lh +
                                 " is outside its certificate network " +
                                 cert->details.ips[0].Masked().ToString());
        }
      }
      std::string dev = config["tun"]["dev"].as<std::string>("");
      if (dev.size() > mesh::kMaxDeviceName)
        dev_problems.push_back(node.name + ": tun.dev '" + dev + "'");
    } catch (const YAML::Exception& e) {
      map_problems.push_back(node.name + ": cannot read its nebula config: " + e.what());
    }
  }
  auto list = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : "; ") + s;
    return out;
  };
  checks.push_back(
      mask_problems.empty()
          ? Pass("certificate masks",
                 "every host certificate carries the mesh mask /" + std::to_string(mesh_prefix))
          : Fail(
                "certificate masks", list(mask_problems),
                "a narrower mask cuts hosts off the lighthouse ('static_host_map key is not in our "
                "subnet'); 'carrierarr up' re-signs certificates with the mesh mask"));
  checks.push_back(
      chain_problems.empty()
          ? Pass("certificate chain", "every host certificate verifies against the fleet CA")
          : Fail("certificate chain", list(chain_problems), "run 'carrierarr up' to re-sign them"));
  checks.push_back(
      expiring.empty()
          ? Pass("certificate expiry", "nothing expires within 30 days")
          : Fail("certificate expiry", "expiring within 30 days: " + list(expiring),
                 "raise mesh.ca_lifetime in fleet.yaml and run 'carrierarr up' to re-sign"));
  checks.push_back(
      map_problems.empty()
          ? Pass("lighthouse map",
                 "every lighthouse has a static_host_map entry inside each host's network")
          : Fail("lighthouse map", list(map_problems),
                 "run 'carrierarr up' to re-render the configs"));
  checks.push_back(
      dev_problems.empty()
          ? Pass("device names", "tun device names fit in 15 characters")
          : Fail("device names",
                 list(dev_problems) + " is longer than 15 characters; Linux truncates it",
                 "use a tun.dev of at most 15 characters"));

  // Live checks: the lighthouse listens, every node reaches it on the underlay, handshakes
  // happened.
  const mesh::NodePlan& lighthouse = desired->nodes.front();
  std::string lh_ns = local::NodeNamespace(spec.name, lighthouse.name);
  for (const auto& cidr : spec.aws.operator_cidrs) {
    if (cidr.PrefixLength() == 0) {
      checks.push_back(Fail("security group",
                            "providers.aws.operator_cidrs opens SSH, 6443, 8080 and 32379 to "
                            "the whole internet (0.0.0.0/0)",
                            "name your own address (e.g. 203.0.113.7/32) or rely on the mesh"));
    }
  }
  // The live checks below look into namespaces on this machine: a cloud lighthouse's nodes
  // report through their agents instead ('carrierarr status').
  if (!env.ok() || lighthouse.provider != "local") return checks;
  checks.push_back(UdpListening(lh_ns, spec.mesh.lighthouse_port)
                       ? Pass("lighthouse port", "the lighthouse listens on UDP " +
                                                     std::to_string(spec.mesh.lighthouse_port))
                       : Fail("lighthouse port",
                              "nothing listens on UDP " +
                                  std::to_string(spec.mesh.lighthouse_port) + " in " + lh_ns,
                              "check " + ctx.paths.Log("lighthouse") +
                                  ", then 'carrierarr up' restarts nebula"));
  uint32_t lh_underlay = local::UnderlayAddress(spec.local.underlay, lighthouse.mesh_ip).ip;
  std::vector<std::string> unreachable, no_handshake;
  for (size_t i = 1; i < desired->nodes.size(); ++i) {
    const auto& node = desired->nodes[i];
    if (node.provider != "local") continue;
    std::string ns = local::NodeNamespace(spec.name, node.name);
    if (!local::Ping(ns, lh_underlay, std::chrono::milliseconds(1000)).ok())
      unreachable.push_back(node.name);
    auto log = ReadFile(ctx.paths.Log(node.name));
    if (!log.ok() || log->find("Handshake message received") == std::string::npos)
      no_handshake.push_back(node.name);
  }
  checks.push_back(
      unreachable.empty()
          ? Pass("underlay", "every node reaches the lighthouse at " + FormatIpv4(lh_underlay))
          : Fail("underlay",
                 "cannot reach " + FormatIpv4(lh_underlay) + " from: " + list(unreachable),
                 "'carrierarr up' repairs missing namespaces and links"));
  checks.push_back(no_handshake.empty()
                       ? Pass("handshakes", "every node's log shows a completed Nebula handshake")
                       : Fail("handshakes", "no handshake in the log of: " + list(no_handshake),
                              "check UDP " + std::to_string(spec.mesh.lighthouse_port) +
                                  " reachability and the nodes' logs in " + ctx.paths.state_dir +
                                  "/logs"));
  return checks;
}

}  // namespace carrierarr::ops
