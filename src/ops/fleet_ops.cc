#include "ops/fleet_ops.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <future>
#include <iterator>
#include <thread>

#include "core/file_util.h"
#include "mesh/nebula_config.h"
#include "providers/local/local_provider.h"
#include "providers/local/netns.h"
#include "provision/file_resources.h"
#include "spec/fleet_parser.h"

namespace carrierarr::ops {
namespace {

using provision::FleetState;
using Clock = std::chrono::steady_clock;

std::string DirOf(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

Status MakeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::PermissionDenied("cannot create " + path + ": " + ErrnoString(errno));
  }
  return Status::Ok();
}

std::string ConfigFor(const FleetContext& ctx, const Desired& d, const mesh::NodePlan& node) {
  const mesh::NodePlan& lighthouse = d.nodes.front();
  return mesh::RenderNebulaConfig(
      {.node = node,
       .ca_path = ctx.paths.CaCert(),
       .cert_path = ctx.paths.HostCert(node.name),
       .key_path = ctx.paths.HostKey(node.name),
       .lighthouse_mesh_ip = lighthouse.mesh_ip,
       .lighthouse_endpoint = d.ProviderFor(lighthouse).LighthouseEndpoint(ctx.spec, lighthouse),
       .listen_port = ctx.spec.mesh.lighthouse_port,
       .tun_dev = local::kTunDevice,
       .grpc_port = ctx.spec.control_plane.grpc_port,
       .http_port = ctx.spec.control_plane.http_port});
}

// Node -> address for every node that exists after this run: those recorded (they keep theirs
// until deleted) plus the desired ones.
mesh::Assignments MergeAddresses(const FleetState& state,
                                 const std::vector<mesh::NodePlan>& nodes) {
  mesh::Assignments out = state.addresses;
  for (const auto& n : nodes) out[n.name] = n.mesh_ip;
  return out;
}

// Addresses of nodes that still have a recorded resource (a node's resources carry its name).
mesh::Assignments LiveAddresses(const FleetState& state,
                                const std::vector<mesh::NodePlan>& desired) {
  mesh::Assignments out;
  for (const auto& [name, ip] : state.addresses) {
    bool live = false;
    for (const auto& n : desired) live = live || n.name == name;
    for (const auto& [id, r] : state.resources) {
      auto slash = id.find('/');
      live = live || (slash != std::string::npos && id.substr(slash + 1) == name);
    }
    if (live) out[name] = ip;
  }
  return out;
}

// One ping per node to `target` over the mesh, all nodes in parallel; RTT in ms per node.
std::map<std::string, std::optional<double>> PingAll(const std::string& fleet,
                                                     const std::vector<mesh::NodePlan>& nodes,
                                                     uint32_t target,
                                                     std::chrono::milliseconds timeout) {
  std::map<std::string, std::future<std::optional<double>>> futures;
  for (const auto& n : nodes) {
    if (n.mesh_ip == target) continue;
    std::string ns = local::NodeNamespace(fleet, n.name);
    futures[n.name] =
        std::async(std::launch::async, [ns, target, timeout]() -> std::optional<double> {
          auto rtt = local::Ping(ns, target, timeout);
          if (!rtt.ok()) return std::nullopt;
          return rtt->count() / 1000.0;
        });
  }
  std::map<std::string, std::optional<double>> out;
  for (auto& [name, f] : futures) out[name] = f.get();
  return out;
}

}  // namespace

const providers::Provider& Desired::ProviderFor(const mesh::NodePlan& node) const {
  return *providers.at(node.provider);
}

Result<FleetContext> LoadContext(const std::string& fleet_file) {
  auto spec = spec::LoadFleet(fleet_file);
  if (!spec.ok()) return spec.status();
  FleetContext ctx;
  ctx.fleet_file = fleet_file;
  std::error_code ec;
  std::string absolute = std::filesystem::absolute(fleet_file, ec).lexically_normal().string();
  ctx.fleet_dir = DirOf(ec ? fleet_file : absolute);
  ctx.spec = std::move(*spec);
  ctx.paths.state_dir = ctx.fleet_dir + "/.carrierarr";
  return ctx;
}

provision::KindRegistry AllKinds() {
  provision::KindRegistry kinds;
  provision::RegisterFileKinds(kinds);
  local::RegisterLocalKinds(kinds);
  return kinds;
}

Result<Desired> BuildDesired(const FleetContext& ctx, const FleetState& state) {
  Desired d;
  auto nodes = mesh::PlanNodes(ctx.spec, state.addresses);
  if (!nodes.ok()) return nodes.status();
  d.nodes = std::move(*nodes);
  for (const auto& n : d.nodes) {
    if (d.providers.count(n.provider) != 0) continue;
    auto p = providers::MakeProvider(n.provider);
    if (!p.ok()) return p.status();
    d.providers[n.provider] = std::move(*p);
  }
  d.kinds = AllKinds();
  d.resources.push_back(provision::MakeCaResource({.name = ctx.spec.name + "-mesh",
                                                   .cert_path = ctx.paths.CaCert(),
                                                   .key_path = ctx.paths.CaKey(),
                                                   .lifetime = ctx.spec.mesh.ca_lifetime,
                                                   .mesh = ctx.spec.mesh.cidr}));
  const int prefix = ctx.spec.mesh.cidr.PrefixLength();
  for (const auto& node : d.nodes) {
    d.resources.push_back(
        provision::MakeHostCertResource({.node = node,
                                         .mesh_prefix = prefix,
                                         .ca_cert_path = ctx.paths.CaCert(),
                                         .ca_key_path = ctx.paths.CaKey(),
                                         .cert_path = ctx.paths.HostCert(node.name),
                                         .key_path = ctx.paths.HostKey(node.name)}));
    d.resources.push_back(
        provision::MakeFileResource("config/" + node.name, "nebula config for " + node.name,
                                    ctx.paths.NebulaConfig(node.name), ConfigFor(ctx, d, node)));
    std::vector<std::string> deps{"cert/" + node.name, "config/" + node.name};
    // Others start after the lighthouse, so their first handshake finds it listening.
    if (node.role != mesh::Role::kLighthouse) deps.push_back("nebula/lighthouse");
    d.ProviderFor(node).AddNodeResources(ctx.spec, ctx.paths, node, deps, d.resources);
  }
  local::AddControlPlaneResources(ctx.spec, ctx.paths, d.nodes, d.resources);
  return d;
}

Result<FleetState> ReadState(const FleetContext& ctx) {
  std::string path = ctx.paths.state_dir + "/state.json";
  auto text = ReadFile(path);
  if (!text.ok() && text.status().code() == StatusCode::kNotFound) return FleetState{};
  if (!text.ok()) {
    return text.status().WithPrefix("reading the fleet's state (made by root, mode 0600)");
  }
  auto json = nlohmann::json::parse(*text, nullptr, false);
  if (json.is_discarded()) return Status::DataLoss(path + " is not valid JSON");
  auto parsed = provision::StateFromJson(json);
  if (!parsed.ok()) return parsed.status().WithPrefix(path);
  return parsed;
}

Result<provision::Plan> PlanFleet(const FleetContext& ctx, const PlanRequest& request) {
  // Planning changes nothing, so it reads the state without the lock.
  auto state = ReadState(ctx);
  if (!state.ok()) return state.status();
  auto desired = BuildDesired(ctx, *state);
  if (!desired.ok()) return desired.status();
  provision::PlanOptions options{.observe = request.observe,
                                 .targets = request.targets,
                                 .skip_deletes = request.skip.teardown};
  if (request.skip.certs) options.skip_kinds = {"pki-ca", "pki-cert"};
  return provision::MakePlan(desired->resources, *state, options);
}

Result<std::vector<std::string>> RenderNebulaConfigs(const FleetContext& ctx,
                                                     const std::string& out_dir) {
  auto state = ReadState(ctx);
  if (!state.ok()) return state.status();
  auto desired = BuildDesired(ctx, *state);
  if (!desired.ok()) return desired.status();
  std::vector<std::string> written;
  for (const auto& node : desired->nodes) {
    std::string path = out_dir + "/" + node.name + ".yml";
    CARRIERARR_RETURN_IF_ERROR(WriteFileAtomic(path, ConfigFor(ctx, *desired, node), 0600));
    written.push_back(path);
  }
  return written;
}

Result<UpResult> Up(const FleetContext& ctx, const UpOptions& options) {
  const auto start = Clock::now();
  // Before the state directory exists: a run that cannot work must leave nothing behind.
  std::set<std::string> provider_names{ctx.spec.lighthouse.provider, "local"};  // homelab: local
  for (const auto& pool : ctx.spec.pools) provider_names.insert(pool.provider);
  for (const auto& name : provider_names) {
    auto p = providers::MakeProvider(name);
    if (!p.ok()) return p.status();
    CARRIERARR_RETURN_IF_ERROR((*p)->CheckEnvironment());
  }
  auto store = provision::StateStore::Open(ctx.fleet_dir);
  if (!store.ok()) return store.status();
  if (!(*store)->Snapshot().fleet.empty() && (*store)->Snapshot().fleet != ctx.spec.name) {
    return Status::FailedPrecondition("this directory's state belongs to fleet '" +
                                      (*store)->Snapshot().fleet + "', but " + ctx.fleet_file +
                                      " names '" + ctx.spec.name +
                                      "'; run 'carrierarr down' with the old name first");
  }
  for (const auto& dir : {ctx.paths.state_dir + "/pki", ctx.paths.state_dir + "/nebula",
                          ctx.paths.state_dir + "/logs"}) {
    CARRIERARR_RETURN_IF_ERROR(MakeDir(dir));
  }
  FleetState state = (*store)->Snapshot();
  auto desired = BuildDesired(ctx, state);
  if (!desired.ok()) return desired.status();
  // Record addresses before anything is made, so a killed run cannot hand them out twice.
  CARRIERARR_RETURN_IF_ERROR(
      (*store)->SetAddresses(ctx.spec.name, MergeAddresses(state, desired->nodes)));

  provision::PlanOptions plan_options{.observe = options.plan.observe,
                                      .targets = options.plan.targets,
                                      .skip_deletes = options.plan.skip.teardown};
  if (options.plan.skip.certs) plan_options.skip_kinds = {"pki-ca", "pki-cert"};
  auto plan = provision::MakePlan(desired->resources, (*store)->Snapshot(), plan_options);
  if (!plan.ok()) return plan.status();
  if (options.on_plan) options.on_plan(*plan);

  UpResult result;
  result.plan = *plan;
  result.apply =
      provision::Apply(*plan, desired->resources, **store, desired->kinds,
                       {.parallelism = options.parallelism, .on_event = options.on_event});
  FleetState after = (*store)->Snapshot();
  CARRIERARR_RETURN_IF_ERROR(
      (*store)->SetAddresses(ctx.spec.name, LiveAddresses(after, desired->nodes)));
  if (!result.apply.status.ok()) return result.apply.status;

  // Bounded wait until every node whose nebula runs reaches the lighthouse over the mesh. Nodes
  // left out by --target have none, and none can be reached while the lighthouse has none.
  result.nodes = static_cast<int>(desired->nodes.size());
  const uint32_t lighthouse = desired->nodes.front().mesh_ip;
  auto has_nebula = [&after](const mesh::NodePlan& n) {
    auto rec = after.resources.find("nebula/" + n.name);
    return rec != after.resources.end() && rec->second.phase == provision::Phase::kReady;
  };
  std::vector<mesh::NodePlan> waiting;
  if (has_nebula(desired->nodes.front())) {
    std::copy_if(desired->nodes.begin() + 1, desired->nodes.end(), std::back_inserter(waiting),
                 has_nebula);
  }
  result.nodes_meshed = has_nebula(desired->nodes.front()) ? 1 : 0;
  const auto deadline = Clock::now() + options.mesh_wait;
  while (!waiting.empty() && Clock::now() < deadline) {
    auto rtts = PingAll(ctx.spec.name, waiting, lighthouse, std::chrono::milliseconds(500));
    std::vector<mesh::NodePlan> still;
    for (const auto& n : waiting) {
      if (rtts[n.name].has_value()) {
        ++result.nodes_meshed;
      } else {
        still.push_back(n);
      }
    }
    waiting.swap(still);
  }
  result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  if (!waiting.empty()) {
    std::string names;
    for (const auto& n : waiting) names += (names.empty() ? "" : ", ") + n.name;
    return Status::Unavailable("the mesh did not converge: " + names +
                               " cannot reach the lighthouse "
                               "over Nebula; run 'carrierarr doctor' to find out why");
  }
  return result;
}

Result<DownResult> Down(const FleetContext& ctx, const DownOptions& options) {
  auto store = provision::StateStore::Open(ctx.fleet_dir);
  if (!store.ok()) return store.status();
  FleetState state = (*store)->Snapshot();
  bool needs_root = false;
  for (const auto& [id, r] : state.resources)
    needs_root = needs_root || r.kind == "netns" || r.kind == "nebula";
  if (needs_root) CARRIERARR_RETURN_IF_ERROR(local::CheckNetnsSupport());
  for (const auto& t : options.targets) {
    if (state.resources.count(t) == 0) {
      return Status::InvalidArgument("--target " + t +
                                     " is not recorded in the state; see 'carrierarr status'");
    }
  }
  DownResult result;
  result.plan = provision::MakeDestroyPlan(state, options.targets);
  if (options.on_plan) options.on_plan(result.plan);
  provision::KindRegistry kinds = AllKinds();
  result.apply =
      provision::Apply(result.plan, {}, **store, kinds,
                       {.parallelism = options.parallelism, .on_event = options.on_event});
  FleetState after = (*store)->Snapshot();
  CARRIERARR_RETURN_IF_ERROR((*store)->SetAddresses(after.fleet, LiveAddresses(after, {})));
  if (!result.apply.status.ok()) return result.apply.status;
  if (after.resources.empty()) {
    CARRIERARR_RETURN_IF_ERROR((*store)->Erase());
    // Nothing of the fleet stays behind: its directories, then the lock, then .carrierarr.
    std::error_code ec;
    for (const char* sub : {"/pki", "/nebula", "/logs", "/control", "/agents"}) {
      std::filesystem::remove_all(ctx.paths.state_dir + sub, ec);
    }
    std::string lock = ctx.paths.state_dir + "/lock";
    ::unlink(lock.c_str());
    store->reset();  // releases the flock
    result.state_removed = ::rmdir(ctx.paths.state_dir.c_str()) == 0;
  }
  return result;
}

}  // namespace carrierarr::ops
