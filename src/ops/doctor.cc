// `carrierarr doctor`: the traps from the seeds' troubleshooting sections, checked one by one,
// each with the fix when it fails. The checks of the mesh's own files are here; what only a
// provider can see (this machine's programs, namespaces, a security group) its provider adds.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>

#include "core/file_util.h"
#include "federation/federation.h"
#include "mesh/nebula_config.h"
#include "ops/fleet_ops.h"
#include "pki/ca_pool.h"

namespace carrierarr::ops {
namespace {

constexpr int64_t kExpiryWarningSeconds = int64_t{30} * 24 * 3600;
constexpr auto Pass = DoctorCheck::Pass;
constexpr auto Fail = DoctorCheck::Fail;
constexpr auto List = DoctorCheck::List;

Result<pki::Certificate> LoadCert(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  return pki::CertificateFromPem(*text);
}

void Append(std::vector<DoctorCheck>& checks, std::vector<DoctorCheck> more) {
  for (auto& c : more) checks.push_back(std::move(c));
}

// What the providers the fleet's nodes are on need on this machine, in the registry's order.
void AddEnvironmentChecks(const FleetContext& ctx, std::vector<DoctorCheck>& checks) {
  for (const auto& entry : ctx.registry->entries()) {
    const spec::FleetSpec& f = ctx.spec;
    if (!f.UsesProvider(entry.name) && f.homelab.provider != entry.name) continue;
    Append(checks, entry.make(ctx.seams)->EnvironmentChecks());
  }
}

// The CA: limited to the mesh. Its expiry is judged with the host certificates'.
DoctorCheck CaConstraintsCheck(const spec::FleetSpec& spec, const pki::Certificate& ca) {
  bool limited = ca.details.ips.size() == 1 && ca.details.ips[0] == spec.mesh.cidr;
  return limited ? Pass("CA constraints", "CA '" + ca.details.name + "' may only sign inside " +
                                              spec.mesh.cidr.ToString())
                 : Fail("CA constraints", "CA '" + ca.details.name + "' is not limited to the mesh",
                        "remake the CA: 'carrierarr down' then 'carrierarr up'");
}

// Problems found in the nodes' certificates and Nebula configs, by check.
struct FileProblems {
  std::vector<std::string> masks, chains, expiring, maps, devices;
};

// The config: every lighthouse in static_host_map and inside the cert's network; tun name.
void CheckConfig(const std::string& node, const std::string& path, const pki::Certificate& cert,
                 FileProblems& found) {
  try {
    YAML::Node config = YAML::LoadFile(path);
    for (const auto& host : config["lighthouse"]["hosts"]) {
      std::string lh = host.as<std::string>();
      if (!config["static_host_map"][lh])
        found.maps.push_back(node + ": lighthouse " + lh + " has no static_host_map entry");
      auto lh_ip = ParseIpv4(lh);
      if (lh_ip.ok() && !cert.details.ips.empty() && !cert.details.ips[0].Contains(*lh_ip)) {
        found.maps.push_back(node + ": lighthouse " + lh + " is outside its certificate network " +
                             cert.details.ips[0].Masked().ToString());
      }
    }
    std::string dev = config["tun"]["dev"].as<std::string>("");
    if (dev.size() > mesh::kMaxDeviceName)
      found.devices.push_back(node + ": tun.dev '" + dev + "'");
  } catch (const YAML::Exception& e) {
    found.maps.push_back(node + ": cannot read its nebula config: " + e.what());
  }
}

FileProblems CheckNodeFiles(const FleetContext& ctx, const pki::Certificate& ca,
                            const std::vector<mesh::NodePlan>& nodes) {
  const int mesh_prefix = ctx.spec.mesh.cidr.PrefixLength();
  const int64_t now = ctx.seams.time->NowUnix();
  FileProblems found;
  pki::CaPool pool;
  Status pool_status = pool.AddCa(ca, ctx.seams.time->SystemNow());
  if (ca.details.not_after - now < kExpiryWarningSeconds)
    found.expiring.push_back("CA (" + pki::FormatUtc(ca.details.not_after) + ")");
  for (const auto& node : nodes) {
    auto cert = LoadCert(ctx.paths.HostCert(node.name));
    if (!cert.ok()) {
      found.chains.push_back(node.name + ": " + cert.status().message());
      continue;
    }
    for (const auto& ip : cert->details.ips) {
      if (ip.PrefixLength() != mesh_prefix)
        found.masks.push_back(node.name + " has " + ip.ToString());
    }
    pki::VerifyResult v = pool.Verify(*cert, ctx.seams.time->SystemNow());
    if (!pool_status.ok() || !v.ok()) {
      found.chains.push_back(node.name + ": " +
                             (pool_status.ok() ? v.status.message() : pool_status.message()));
    }
    if (cert->details.not_after - now < kExpiryWarningSeconds) {
      found.expiring.push_back(node.name + " (" + pki::FormatUtc(cert->details.not_after) + ")");
    }
    CheckConfig(node.name, ctx.paths.NebulaConfig(node.name), *cert, found);
  }
  return found;
}

std::vector<DoctorCheck> NodeFileChecks(const FileProblems& found, int mesh_prefix) {
  return {
      found.masks.empty()
          ? Pass("certificate masks",
                 "every host certificate carries the mesh mask /" + std::to_string(mesh_prefix))
          : Fail(
                "certificate masks", List(found.masks),
                "a narrower mask cuts hosts off the lighthouse ('static_host_map key is not in our "
                "subnet'); 'carrierarr up' re-signs certificates with the mesh mask"),
      found.chains.empty()
          ? Pass("certificate chain", "every host certificate verifies against the fleet CA")
          : Fail("certificate chain", List(found.chains), "run 'carrierarr up' to re-sign them"),
      found.expiring.empty()
          ? Pass("certificate expiry", "nothing expires within 30 days")
          : Fail("certificate expiry", "expiring within 30 days: " + List(found.expiring),
                 "raise mesh.ca_lifetime in fleet.yaml and run 'carrierarr up' to re-sign"),
      found.maps.empty()
          ? Pass("lighthouse map",
                 "every lighthouse has a static_host_map entry inside each host's network")
          : Fail("lighthouse map", List(found.maps),
                 "run 'carrierarr up' to re-render the configs"),
      found.devices.empty()
          ? Pass("device names", "tun device names fit in 15 characters")
          : Fail("device names",
                 List(found.devices) + " is longer than 15 characters; Linux truncates it",
                 "use a tun.dev of at most 15 characters"),
  };
}

}  // namespace

Result<std::vector<DoctorCheck>> Doctor(const FleetContext& ctx) {
  std::vector<DoctorCheck> checks;
  const spec::FleetSpec& spec = ctx.spec;
  const int mesh_prefix = spec.mesh.cidr.PrefixLength();

  // The mesh itself: /16 or wider (validation refuses narrower, so this documents the rule).
  checks.push_back(Pass("mesh mask", "mesh " + spec.mesh.cidr.ToString() + " is /" +
                                         std::to_string(mesh_prefix) + " (needs /16 or wider)"));
  AddEnvironmentChecks(ctx, checks);
  Append(checks, federation::DirectMembershipChecks(spec));

  auto state = ReadState(ctx);
  if (!state.ok()) return state.status();
  if (state->resources.empty()) {
    checks.push_back(Fail("deployment", "nothing is deployed for fleet '" + spec.name + "'",
                          "run 'carrierarr up'"));
    return checks;
  }
  auto ca = LoadCert(ctx.paths.CaCert());
  if (!ca.ok()) {
    checks.push_back(Fail("CA", ctx.paths.CaCert() + ": " + ca.status().message(),
                          "run 'carrierarr up' to remake it"));
    return checks;
  }
  checks.push_back(CaConstraintsCheck(spec, *ca));
  auto desired = BuildDesired(ctx, *state);
  if (!desired.ok()) return desired.status();
  Append(checks, NodeFileChecks(CheckNodeFiles(ctx, *ca, desired->nodes), mesh_prefix));
  const providers::DoctorRequest request{
      .fleet = spec, .paths = ctx.paths, .nodes = desired->nodes};
  for (const auto& entry : ctx.registry->entries()) {
    Append(checks, entry.make(ctx.seams)->DeploymentChecks(request));
  }
  Append(checks, federation::FederationChecks(FederationRequestFor(ctx, *desired)));
  return checks;
}

}  // namespace carrierarr::ops
