#include "providers/local/local_provider.h"

#include <unistd.h>

#include <cstdint>
#include <future>

#include "core/file_util.h"
#include "providers/local/netns.h"

namespace carrierarr::local {
namespace {

using Json = nlohmann::json;

// The bridge-side veth of a node: "v" and the low 16 bits of its mesh address in hex.
std::string BridgePort(uint32_t mesh_ip) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "v%04x", mesh_ip & 0xffff);
  return buf;
}

// Every nebula we start carries its config path on its command line: that is how a pid is
// confirmed to be ours before it is signalled.
std::string Marker(const std::string& config_path) { return config_path; }

// How long a stopped nebula gets between SIGTERM and SIGKILL.
constexpr std::chrono::milliseconds kStopGrace = std::chrono::seconds(1);

class UnderlayResource final : public provision::Resource {
 public:
  UnderlayResource(const std::string& fleet, const Netns& netns)
      : ns_(UnderlayNamespace(fleet)), netns_(netns) {}
  std::string id() const override { return "underlay"; }
  std::string kind() const override { return "netns"; }
  std::string summary() const override { return "underlay bridge namespace " + ns_; }
  std::vector<std::string> deps() const override { return {}; }
  std::string hash() const override { return ns_; }
  Json attrs() const override { return {{"netns", ns_}}; }
  Result<bool> Exists() const override {
    return netns_.NamespaceExists(ns_) && netns_.LinkExists(ns_, kBridge);
  }
  Result<Json> Create() override {
    CARRIERARR_RETURN_IF_ERROR(netns_.CreateNamespace(ns_));
    CARRIERARR_RETURN_IF_ERROR(netns_.EnsureBridge(ns_, kBridge));
    return attrs();
  }

 private:
  std::string ns_;
  Netns netns_;
};

class NodeNamespaceResource final : public provision::Resource {
 public:
  explicit NodeNamespaceResource(NodeNamespaceParams p)
      : p_(std::move(p)),
        ns_(NodeNamespace(p_.fleet, p_.node.name)),
        address_(UnderlayAddress(p_.underlay, p_.node.mesh_ip)) {}
  std::string id() const override { return "netns/" + p_.node.name; }
  std::string kind() const override { return "netns"; }
  std::string summary() const override {
    return "network namespace " + ns_ + " on the underlay at " + address_.ToString();
  }
  std::vector<std::string> deps() const override { return {"underlay"}; }
  std::string hash() const override { return ns_ + "|" + address_.ToString(); }
  Json attrs() const override {
    return {{"netns", ns_},
            {"underlay_ip", address_.ToString()},
            {"bridge_netns", UnderlayNamespace(p_.fleet)},
            {"bridge_port", BridgePort(p_.node.mesh_ip)}};
  }
  Result<bool> Exists() const override {
    if (!p_.netns.NamespaceExists(ns_)) return false;
    auto addr = p_.netns.InterfaceAddress(ns_, "eth0");
    return addr.has_value() && *addr == address_;
  }
  Result<Json> Create() override {
    CARRIERARR_RETURN_IF_ERROR(p_.netns.CreateNamespace(ns_));
    CARRIERARR_RETURN_IF_ERROR(p_.netns.ConnectToBridge(
        UnderlayNamespace(p_.fleet), kBridge, BridgePort(p_.node.mesh_ip), ns_, address_));
    return attrs();
  }

 private:
  NodeNamespaceParams p_;
  std::string ns_;
  Ipv4Net address_;
};

// Stops what a "nebula" record describes: the recorded pid if it still is ours, and any process
// in the namespace carrying the same config (a run killed between start and record), or anywhere
// else (its namespace was deleted by hand and made anew: the old nebula must not live on).
Status StopNebula(const Netns& netns, const Json& attrs) {
  std::string marker = Marker(attrs.value("config_path", ""));
  if (marker.empty()) return Status::Internal("nebula record without a config path");
  ProcessRunner& processes = netns.processes();
  if (attrs.contains("pid")) {
    CARRIERARR_RETURN_IF_ERROR(processes.StopProcess(attrs["pid"].get<int>(), marker, kStopGrace));
  }
  std::string ns = attrs.value("netns", "");
  if (!ns.empty() && netns.NamespaceExists(ns)) {
    for (pid_t pid : netns.NamespacePids(ns)) {
      if (processes.ProcessMatches(pid, marker)) {
        CARRIERARR_RETURN_IF_ERROR(processes.StopProcess(pid, marker, kStopGrace));
      }
    }
  }
  for (pid_t pid : processes.ProcessesWithArgs({"-config", attrs.value("config_path", "")})) {
    CARRIERARR_RETURN_IF_ERROR(processes.StopProcess(pid, marker, kStopGrace));
  }
  return Status::Ok();
}

class NebulaProcessResource final : public provision::Resource {
 public:
  explicit NebulaProcessResource(NebulaProcessParams p)
      : p_(std::move(p)), ns_(NodeNamespace(p_.fleet, p_.node.name)) {}
  std::string id() const override { return "nebula/" + p_.node.name; }
  std::string kind() const override { return "nebula"; }
  std::string summary() const override {
    return "nebula in " + ns_ + " as " + FormatIpv4(p_.node.mesh_ip);
  }
  std::vector<std::string> deps() const override { return p_.deps; }
  std::string hash() const override { return ns_ + "|" + p_.config_path + "|" + p_.nebula_binary; }
  Json attrs() const override {
    return {{"netns", ns_}, {"config_path", p_.config_path}, {"log_path", p_.log_path}};
  }
  Result<bool> Exists() const override {
    if (!p_.netns.NamespaceExists(ns_)) return false;
    for (pid_t pid : p_.netns.NamespacePids(ns_)) {
      if (p_.netns.processes().ProcessMatches(pid, Marker(p_.config_path))) {
        return p_.netns.InterfaceAddress(ns_, kTunDevice).has_value();
      }
    }
    return false;
  }
  Result<Json> Create() override {
    // A previous, interrupted run may have left one running: never run two.
    CARRIERARR_RETURN_IF_ERROR(StopNebula(p_.netns, attrs()));
    auto pid =
        p_.netns.StartInNamespace(ns_, {p_.nebula_binary, "-config", p_.config_path}, p_.log_path);
    if (!pid.ok()) return pid.status();
    // Bounded wait for the tun device: nebula is up once it has its mesh address.
    for (int i = 0; i < 500; ++i) {  // 5 s: generous for a loaded machine
      if (p_.netns.InterfaceAddress(ns_, kTunDevice).has_value()) {
        Json a = attrs();
        a["pid"] = *pid;
        return a;
      }
      if (!p_.netns.processes().ProcessMatches(*pid, Marker(p_.config_path))) break;
      p_.netns.time().SleepFor(std::chrono::milliseconds(10));
    }
    std::string log;
    if (auto text = ReadFile(p_.log_path); text.ok()) {
      log = text->size() > 600 ? text->substr(text->size() - 600) : *text;
    }
    (void)StopNebula(p_.netns, attrs());
    return Status::Unavailable("nebula in " + ns_ + " did not bring up " + kTunDevice +
                               " within 5 s; its log (" + p_.log_path + ") ends with:\n" + log);
  }

 private:
  NebulaProcessParams p_;
  std::string ns_;
};

// One ping over the mesh from inside `ns` (the node at `self`) to `target`, in milliseconds; a
// node reaches itself at once.
std::optional<double> RoundTripMs(const Netns& netns, const std::string& ns, uint32_t self,
                                  uint32_t target, std::chrono::milliseconds timeout) {
  if (target == self) return 0.0;
  auto rtt = netns.Ping(ns, target, timeout);
  if (!rtt.ok()) return std::nullopt;
  return rtt->count() / 1000.0;
}

class LocalProvider final : public providers::Provider {
 public:
  explicit LocalProvider(const Seams& seams) : seams_(seams), netns_(seams) {}
  std::string name() const override { return kName; }
  bool IsCloud() const override { return false; }
  Status CheckEnvironment() const override { return netns_.CheckSupport(); }
  std::string LighthouseEndpoint(const spec::FleetSpec& fleet, const mesh::NodePlan& lighthouse,
                                 const provision::FleetState& /*state*/) const override {
    return FormatIpv4(local::UnderlayAddress(fleet.local.underlay, lighthouse.mesh_ip).ip) + ":" +
           std::to_string(fleet.mesh.lighthouse_port);
  }
  providers::NodeFiles NebulaFiles(const providers::FleetPaths& paths,
                                   const mesh::NodePlan& node) const override {
    return {.ca = paths.CaCert(),
            .cert = paths.HostCert(node.name),
            .key = paths.HostKey(node.name),
            .tun = kTunDevice};
  }
  std::string RunningResourceId(const mesh::NodePlan& node) const override {
    return "nebula/" + node.name;
  }
  // A stopped node keeps its namespace (and so its underlay address and Nebula config).
  std::vector<std::string> PowerResourceIds(const spec::FleetSpec& fleet,
                                            const mesh::NodePlan& node) const override {
    if (node.role != mesh::Role::kWorker) return {};
    std::vector<std::string> ids = {"nebula/" + node.name, "agent-token/" + node.name,
                                    "agent/" + node.name};
    if (RunsOllama(fleet, node)) ids.push_back("ollama/" + node.name);
    return ids;
  }
  // Nebula and the agent are stopped as `down` would stop them; the token file goes too (a
  // started agent keeps its credential; a never-started one gets a fresh token when woken).
  Result<nlohmann::json> PowerOff(const provision::ResourceRecord& record,
                                  const provision::KindRegistry& kinds) const override {
    const provision::Deleter* deleter = kinds.Find(record.kind);
    if (deleter == nullptr) return Status::Internal("no deleter for kind '" + record.kind + "'");
    CARRIERARR_RETURN_IF_ERROR((*deleter)(record.attrs));
    nlohmann::json attrs = record.attrs;
    attrs.erase("pid");
    return attrs;
  }
  void AddNodeResources(const providers::NodeRequest& r,
                        provision::ResourceList& out) const override {
    bool have_underlay = false;
    for (const auto& res : out) have_underlay = have_underlay || res->id() == "underlay";
    if (!have_underlay) out.push_back(MakeUnderlayResource(r.fleet.name, netns_));
    out.push_back(
        MakeNodeNamespaceResource({r.fleet.name, r.node, r.fleet.local.underlay, netns_}));
    std::vector<std::string> deps = r.deps;
    deps.push_back("netns/" + r.node.name);
    out.push_back(MakeNebulaProcessResource({.fleet = r.fleet.name,
                                             .node = r.node,
                                             .config_path = r.paths.NebulaConfig(r.node.name),
                                             .log_path = r.paths.Log(r.node.name),
                                             .deps = deps,
                                             .netns = netns_}));
  }
  void RegisterKinds(provision::KindRegistry& kinds) const override {
    RegisterLocalKinds(kinds, netns_);
  }
  void AddFleetResources(const providers::FleetRequest& r,
                         provision::ResourceList& out) const override {
    AddControlPlaneResources(r, out, seams_);
  }
  std::vector<providers::DoctorCheck> EnvironmentChecks() const override {
    return LocalEnvironmentChecks(netns_);
  }
  std::vector<providers::DoctorCheck> DeploymentChecks(
      const providers::DoctorRequest& request) const override {
    return LocalDeploymentChecks(netns_, request);
  }

  // One ping per node from inside its namespace, all nodes in parallel.
  std::map<std::string, std::optional<double>> MeshRoundTrips(
      const spec::FleetSpec& fleet, const std::vector<mesh::NodePlan>& nodes, uint32_t target,
      std::chrono::milliseconds timeout) const override {
    std::map<std::string, std::future<std::optional<double>>> futures;
    for (const auto& n : nodes) {
      const std::string ns = NodeNamespace(fleet.name, n.name);
      const uint32_t self = n.mesh_ip;
      futures[n.name] = std::async(std::launch::async, [this, ns, self, target, timeout] {
        return RoundTripMs(netns_, ns, self, target, timeout);
      });
    }
    std::map<std::string, std::optional<double>> out;
    for (auto& [name, f] : futures) out[name] = f.get();
    return out;
  }

  // Each node's nebula process, and round trips measured from inside its namespace (in
  // parallel: a node that does not answer costs its timeout once, not once per node).
  std::map<std::string, providers::NodeObservation> ObserveNodes(
      const spec::FleetSpec& fleet, const provision::FleetState& state,
      const std::vector<mesh::NodePlan>& nodes, uint32_t lighthouse,
      uint32_t homelab) const override {
    std::map<std::string, std::future<providers::NodeObservation>> futures;
    for (const auto& node : nodes) {
      auto rec = state.resources.find("nebula/" + node.name);
      Json attrs = rec == state.resources.end() ? Json() : rec->second.attrs;
      futures[node.name] =
          std::async(std::launch::async, [this, &fleet, node, attrs, lighthouse, homelab] {
            providers::NodeObservation o;
            o.underlay = FormatIpv4(local::UnderlayAddress(fleet.local.underlay, node.mesh_ip).ip);
            if (attrs.is_null()) {
              o.problem = "not created; run 'carrierarr up'";
              return o;
            }
            o.created = true;
            ProcessInfo p = ObserveNebula(attrs, netns_.processes());
            o.running = p.running;
            o.pid = p.pid;
            if (!o.running) {
              o.problem = "nebula is not running; see " +
                          attrs.value("log_path", std::string("its log")) +
                          ", then 'carrierarr up' restarts it";
              return o;
            }
            const std::string ns = NodeNamespace(fleet.name, node.name);
            const std::chrono::milliseconds timeout(1000);
            o.mesh_checked = true;
            o.rtt_lighthouse_ms = RoundTripMs(netns_, ns, node.mesh_ip, lighthouse, timeout);
            o.rtt_homelab_ms = RoundTripMs(netns_, ns, node.mesh_ip, homelab, timeout);
            return o;
          });
    }
    std::map<std::string, providers::NodeObservation> out;
    for (auto& [name, f] : futures) out[name] = f.get();
    return out;
  }

 private:
  Seams seams_;
  Netns netns_;
};

}  // namespace

std::unique_ptr<providers::Provider> MakeLocalProvider(const Seams& seams) {
  return std::make_unique<LocalProvider>(seams);
}

std::string UnderlayNamespace(const std::string& fleet) { return fleet + ".ul"; }

std::string NodeNamespace(const std::string& fleet, const std::string& node) {
  return fleet + "." + node;
}

Ipv4Net UnderlayAddress(const Ipv4Net& underlay, uint32_t mesh_ip) {
  return {underlay.Network() | (mesh_ip & 0xffff), underlay.mask};
}

std::unique_ptr<provision::Resource> MakeUnderlayResource(const std::string& fleet,
                                                          const Netns& netns) {
  return std::make_unique<UnderlayResource>(fleet, netns);
}

std::unique_ptr<provision::Resource> MakeNodeNamespaceResource(const NodeNamespaceParams& params) {
  return std::make_unique<NodeNamespaceResource>(params);
}

std::unique_ptr<provision::Resource> MakeNebulaProcessResource(const NebulaProcessParams& params) {
  return std::make_unique<NebulaProcessResource>(params);
}

void RegisterLocalKinds(provision::KindRegistry& kinds, const Netns& netns) {
  kinds.Register("netns", [netns](const Json& attrs) {
    // Deleting a namespace stops what runs in it and removes its veth (and the peer end).
    return netns.DeleteNamespace(attrs.value("netns", ""));
  });
  kinds.Register("nebula", [netns](const Json& attrs) { return StopNebula(netns, attrs); });
  RegisterControlPlaneKinds(kinds, netns);
}

ProcessInfo ObserveNebula(const Json& attrs, ProcessRunner& processes) {
  ProcessInfo info;
  std::string marker = Marker(attrs.value("config_path", ""));
  if (attrs.contains("pid") && processes.ProcessMatches(attrs["pid"].get<int>(), marker)) {
    info.running = true;
    info.pid = attrs["pid"].get<int>();
  }
  return info;
}

}  // namespace carrierarr::local
