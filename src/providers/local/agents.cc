// The control plane and the agents of a local fleet: `carrierarr serve` in the homelab node's
// namespace on its mesh address (and on a unix socket under the fleet's state directory, which
// is how the operator's shell reaches it: the root namespace has no mesh route), one enrollment
// token per node, and `carrierarr-agent` in every node's namespace.
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "core/file_util.h"
#include "core/ipv4.h"
#include "core/subprocess.h"
#include "providers/enrollment.h"
#include "providers/local/local_provider.h"
#include "providers/local/netns.h"
#include "provision/file_resources.h"

namespace carrierarr::local {
namespace {

using Json = nlohmann::json;

std::string OwnProgram(const std::string& name) { return FindOwnProgram(name).value_or(name); }

// How long a stopped daemon gets between SIGTERM and SIGKILL.
constexpr std::chrono::milliseconds kStopGrace = std::chrono::seconds(1);

// Stops every process of a "daemon" record: the recorded pid, any process in its namespace
// whose command line carries the marker (a run killed between start and record), and any other
// that has the marker as an argument (its namespace was deleted by hand and made anew: the old
// daemon must not live on beside the new one).
Status StopDaemon(const Netns& netns, const Json& attrs) {
  std::string marker = attrs.value("marker", "");
  if (marker.empty()) return Status::Internal("daemon record without a marker");
  ProcessRunner& processes = netns.processes();
  if (attrs.contains("pid"))
    CARRIERARR_RETURN_IF_ERROR(processes.StopProcess(attrs["pid"].get<int>(), marker, kStopGrace));
  std::string ns = attrs.value("netns", "");
  if (!ns.empty() && netns.NamespaceExists(ns)) {
    for (pid_t pid : netns.NamespacePids(ns))
      if (processes.ProcessMatches(pid, marker))
        CARRIERARR_RETURN_IF_ERROR(processes.StopProcess(pid, marker, kStopGrace));
  }
  for (pid_t pid : processes.ProcessesWithArgs({marker}))
    CARRIERARR_RETURN_IF_ERROR(processes.StopProcess(pid, marker, kStopGrace));
  return Status::Ok();
}

// A long-running program of ours in a node's namespace, found again by a marker in its command
// line (a path only it uses). `ready` is polled (bounded) after the start.
class DaemonResource final : public provision::Resource {
 public:
  struct Params {
    std::string id, summary, ns, marker, log_path;
    std::vector<std::string> argv;
    std::vector<std::string> deps;
    std::function<bool()> ready;
    std::string not_ready;  // what to say when ready() never held
    Netns netns;
  };
  explicit DaemonResource(Params p) : p_(std::move(p)) {}
  std::string id() const override { return p_.id; }
  std::string kind() const override { return "daemon"; }
  std::string summary() const override { return p_.summary; }
  std::vector<std::string> deps() const override { return p_.deps; }
  std::string hash() const override {
    std::string h = p_.ns;
    for (const auto& a : p_.argv) h += "|" + a;
    return h;
  }
  Json attrs() const override {
    return {{"netns", p_.ns}, {"marker", p_.marker}, {"log_path", p_.log_path}};
  }
  Result<bool> Exists() const override {
    if (!p_.netns.NamespaceExists(p_.ns)) return false;
    for (pid_t pid : p_.netns.NamespacePids(p_.ns))
      if (p_.netns.processes().ProcessMatches(pid, p_.marker)) return !p_.ready || p_.ready();
    return false;
  }
  Result<Json> Create() override {
    CARRIERARR_RETURN_IF_ERROR(StopDaemon(p_.netns, attrs()));
    auto pid = p_.netns.StartInNamespace(p_.ns, p_.argv, p_.log_path);
    if (!pid.ok()) return pid.status();
    for (int i = 0; i < 1000; ++i) {  // 10 s
      if (!p_.ready || p_.ready()) {
        Json a = attrs();
        a["pid"] = *pid;
        return a;
      }
      if (!p_.netns.processes().ProcessMatches(*pid, p_.marker)) break;
      p_.netns.time().SleepFor(std::chrono::milliseconds(10));
    }
    std::string log;
    if (auto text = ReadFile(p_.log_path); text.ok())
      log = text->size() > 600 ? text->substr(text->size() - 600) : *text;
    (void)StopDaemon(p_.netns, attrs());
    return Status::Unavailable(p_.not_ready + " within 10 s; its log (" + p_.log_path +
                               ") ends with:\n" + log);
  }

 private:
  Params p_;
};

// A single-use enrollment token for one node, made through the control plane's admin API and
// kept (0600) where that node's agent reads it.
class AgentTokenResource final : public provision::Resource {
 public:
  AgentTokenResource(std::string node, std::string path,
                     std::shared_ptr<const providers::EnrollmentMinter> minter)
      : node_(std::move(node)), path_(std::move(path)), minter_(std::move(minter)) {}
  std::string id() const override { return "agent-token/" + node_; }
  std::string kind() const override { return "agent-token"; }
  std::string summary() const override { return "enrollment token for " + node_ + "'s agent"; }
  std::vector<std::string> deps() const override { return {provision::kEnrollmentKeyId}; }
  std::string hash() const override { return node_ + "|" + path_; }
  Json attrs() const override { return {{"path", path_}}; }
  Result<bool> Exists() const override { return access(path_.c_str(), F_OK) == 0; }
  Result<Json> Create() override {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path_).parent_path(), ec);
    if (ec)
      return Status::PermissionDenied("cannot create the directory of " + path_ + ": " +
                                      ec.message());
    auto token = minter_->Mint(node_, "1h");
    if (!token.ok()) return token.status().WithPrefix("enrollment token for " + node_);
    // A token from an interrupted run is replaced.
    CARRIERARR_RETURN_IF_ERROR(WriteFileAtomic(path_, *token + "\n", 0600));
    return attrs();
  }

 private:
  std::string node_, path_;
  std::shared_ptr<const providers::EnrollmentMinter> minter_;
};

// The node's Ollama (providers.local.ollama), as `ollama serve` runs on a GPU node: on the
// node's mesh address, its models under the node's own directory (kept while it is stopped, as
// a cloud node's models volume is). Environment through env(1): argv, never a shell.
std::unique_ptr<provision::Resource> OllamaResource(const providers::FleetRequest& request,
                                                    const mesh::NodePlan& node,
                                                    const Netns& netns) {
  const spec::FleetSpec& fleet = request.fleet;
  const std::string state = request.paths.state_dir;
  return std::make_unique<DaemonResource>(DaemonResource::Params{
      .id = "ollama/" + node.name,
      .summary = "Ollama in " + NodeNamespace(fleet.name, node.name),
      .ns = NodeNamespace(fleet.name, node.name),
      // Alone in the node's namespace: its program is its mark.
      .marker = fleet.local.ollama,
      .log_path = state + "/logs/ollama-" + node.name + ".log",
      .argv = {"/usr/bin/env",
               "OLLAMA_HOST=" + FormatIpv4(node.mesh_ip) + ":" + std::to_string(kOllamaPort),
               "OLLAMA_MODELS=" + state + "/ollama/" + node.name, fleet.local.ollama, "serve"},
      .deps = {"nebula/" + node.name},
      .netns = netns});
}

// serve's flags for GPU burst: the burst controller (ops/power.h) for a fleet whose pools scale
// or serve models, and the model gateway, where the homelab's clients reach it, for the latter.
std::vector<std::string> BurstArgs(const providers::FleetRequest& request,
                                   const mesh::NodePlan& homelab) {
  const spec::FleetSpec& fleet = request.fleet;
  const bool scaled = std::any_of(fleet.pools.begin(), fleet.pools.end(),
                                  [](const auto& p) { return p.scaling.enabled; });
  const bool models = std::any_of(fleet.pools.begin(), fleet.pools.end(),
                                  [](const auto& p) { return !p.models.empty(); });
  if (request.fleet_file.empty() || !(scaled || models)) return {};
  std::vector<std::string> args = {"--fleet", request.fleet_file};
  if (models) {
    args.push_back("--gateway");
    args.push_back(FormatIpv4(homelab.mesh_ip) + ":" +
                   std::to_string(fleet.control_plane.gateway_port));
  }
  return args;
}

}  // namespace

void AddControlPlaneResources(const providers::FleetRequest& request, provision::ResourceList& out,
                              const Seams& seams) {
  const spec::FleetSpec& fleet = request.fleet;
  const providers::FleetPaths& paths = request.paths;
  const std::vector<mesh::NodePlan>& nodes = request.nodes;
  const Netns netns(seams);
  const mesh::NodePlan* homelab = nullptr;
  for (const auto& n : nodes)
    if (n.role == mesh::Role::kHomelab) homelab = &n;
  if (homelab == nullptr) return;
  const std::string control_dir = paths.state_dir + "/control";
  const std::string socket = control_dir + "/serve.sock";
  const std::string grpc = providers::ControlPlaneAddress(fleet);
  const std::string fleet_binary = OwnProgram("carrierarr-fleet");
  std::vector<std::string> serve_argv = {
      fleet_binary,
      "serve",
      "--state-dir",
      control_dir,
      "--listen",
      grpc + ",unix:" + socket,
      "--http",
      FormatIpv4(homelab->mesh_ip) + ":" + std::to_string(fleet.control_plane.http_port),
      "--enrollment-key",
      paths.EnrollmentPublicKey(),
      "--mesh-identity",
      paths.state_dir + "/pki",
      "--mesh-cidr",
      fleet.mesh.cidr.ToString(),
      "--status-interval",
      "10s",
      "--heartbeat-interval",
      "5s",
      "--allow-exec"};
  for (auto& arg : BurstArgs(request, *homelab)) serve_argv.push_back(std::move(arg));
  out.push_back(std::make_unique<DaemonResource>(DaemonResource::Params{
      .id = "control-plane",
      .summary = "carrierarr serve in " + NodeNamespace(fleet.name, homelab->name) + " on " + grpc,
      .ns = NodeNamespace(fleet.name, homelab->name),
      .marker = control_dir,
      .log_path = paths.state_dir + "/logs/control-plane.log",
      .argv = serve_argv,
      .deps = {"nebula/" + homelab->name, provision::kEnrollmentKeyId},
      .ready = [socket] { return UnixSocketAccepts(socket); },
      .not_ready = "the control plane did not answer on " + socket,
      .netns = netns}));

  for (const auto& node : nodes) {
    // Cloud nodes get their token in their userdata when they are launched.
    if (node.provider != kName) continue;
    const std::string agent_dir = paths.state_dir + "/agents/" + node.name;
    const std::string token = agent_dir + ".token";
    out.push_back(std::make_unique<AgentTokenResource>(node.name, token, request.enrollment));
    const std::string credential = agent_dir + "/credential";
    std::vector<std::string> argv = {OwnProgram("carrierarr-agent"),
                                     "--control-plane",
                                     grpc,
                                     "--node-id",
                                     node.name,
                                     "--type",
                                     providers::AgentType(node),
                                     "--token-file",
                                     token,
                                     "--state-dir",
                                     agent_dir,
                                     "--imds",
                                     "off",
                                     "--region",
                                     "local",
                                     "--allow-exec",
                                     "--power-mode",
                                     "exit",
                                     "--health-addr",
                                     FormatIpv4(node.mesh_ip)};
    // A node's Ollama listens on its mesh address: the agent reports its models from there.
    if (RunsOllama(fleet, node))
      argv.insert(argv.end(), {"--ollama-url", "http://" + FormatIpv4(node.mesh_ip) + ":" +
                                                   std::to_string(kOllamaPort)});
    out.push_back(std::make_unique<DaemonResource>(DaemonResource::Params{
        .id = "agent/" + node.name,
        .summary = "carrierarr-agent in " + NodeNamespace(fleet.name, node.name),
        .ns = NodeNamespace(fleet.name, node.name),
        .marker = agent_dir,
        .log_path = paths.state_dir + "/logs/agent-" + node.name + ".log",
        .argv = std::move(argv),
        .deps = {"nebula/" + node.name, "agent-token/" + node.name, "control-plane"},
        // Registered: the agent keeps the credential the control plane gave it.
        .ready = [credential] { return access(credential.c_str(), F_OK) == 0; },
        .not_ready = "the agent of " + node.name + " did not register",
        .netns = netns}));
    if (RunsOllama(fleet, node)) out.push_back(OllamaResource(request, node, netns));
  }
}

bool RunsOllama(const spec::FleetSpec& fleet, const mesh::NodePlan& node) {
  if (fleet.local.ollama.empty() || node.role != mesh::Role::kWorker) return false;
  for (const spec::PoolSpec& pool : fleet.pools)
    if (pool.name == node.pool) return !pool.models.empty();
  return false;
}

void RegisterControlPlaneKinds(provision::KindRegistry& kinds, const Netns& netns) {
  kinds.Register("daemon", [netns](const Json& attrs) { return StopDaemon(netns, attrs); });
  kinds.Register("agent-token", [](const Json& attrs) {
    std::string path = attrs.value("path", "");
    if (!path.empty() && unlink(path.c_str()) != 0 && errno != ENOENT)
      return Status::PermissionDenied("cannot remove " + path + ": " + std::strerror(errno));
    return Status::Ok();
  });
}

}  // namespace carrierarr::local
