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
#include "providers/registry.h"
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
  providers::NodeFiles files = d.ProviderFor(node).NebulaFiles(ctx.paths, node);
  return mesh::RenderNebulaConfig({.node = node,
                                   .ca_path = files.ca,
                                   .cert_path = files.cert,
                                   .key_path = files.key,
                                   .lighthouse_mesh_ip = lighthouse.mesh_ip,
                                   .lighthouse_endpoint = d.lighthouse_endpoint,
                                   .listen_port = ctx.spec.mesh.lighthouse_port,
                                   .tun_dev = files.tun,
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

Result<FleetContext> LoadContext(const std::string& fleet_file, Seams seams) {
  auto spec = spec::LoadFleet(fleet_file);
  if (!spec.ok()) return spec.status();
  FleetContext ctx;
  ctx.fleet_file = fleet_file;
  std::error_code ec;
  std::string absolute = std::filesystem::absolute(fleet_file, ec).lexically_normal().string();
  ctx.fleet_dir = DirOf(ec ? fleet_file : absolute);
  ctx.spec = std::move(*spec);
  ctx.paths.state_dir = ctx.fleet_dir + "/.carrierarr";
  ctx.seams = std::move(seams);
  return ctx;
}

provision::KindRegistry AllKinds(const Seams& seams) {
  provision::KindRegistry kinds;
  provision::RegisterFileKinds(kinds);
  for (const auto& entry : providers::RegisteredProviders())
    entry.make(seams)->RegisterKinds(kinds);
  return kinds;
}

Result<Desired> BuildDesired(const FleetContext& ctx, const FleetState& state) {
  Desired d;
  auto nodes = mesh::PlanNodes(ctx.spec, state.addresses);
  if (!nodes.ok()) return nodes.status();
  d.nodes = std::move(*nodes);
  for (const auto& n : d.nodes) {
    if (d.providers.count(n.provider) != 0) continue;
    auto p = providers::MakeProvider(n.provider, ctx.seams);
    if (!p.ok()) return p.status();
    d.providers[n.provider] = std::move(*p);
  }
  d.kinds = AllKinds(ctx.seams);
  const mesh::NodePlan& lighthouse = d.nodes.front();
  d.lighthouse_endpoint = d.ProviderFor(lighthouse).LighthouseEndpoint(ctx.spec, lighthouse, state);
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
    // Every config names the lighthouse's address: made after what decides it (an Elastic IP).
    d.resources.push_back(provision::MakeFileResource(
        "config/" + node.name, "nebula config for " + node.name, ctx.paths.NebulaConfig(node.name),
        ConfigFor(ctx, d, node), d.ProviderFor(lighthouse).EndpointResources(ctx.spec)));
    std::vector<std::string> deps{"cert/" + node.name, "config/" + node.name};
    // Local nodes start after a local lighthouse, so their first handshake finds it listening.
    // Cloud nodes need only its address (Nebula keeps trying), so they launch in parallel.
    if (node.role != mesh::Role::kLighthouse && node.provider == "local" &&
        lighthouse.provider == "local") {
      deps.push_back(d.ProviderFor(lighthouse).RunningResourceId(lighthouse));
    }
    d.ProviderFor(node).AddNodeResources({.fleet = ctx.spec,
                                          .paths = ctx.paths,
                                          .state = state,
                                          .node = node,
                                          .deps = deps,
                                          .lighthouse_endpoint = d.lighthouse_endpoint},
                                         d.resources);
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
    auto p = providers::MakeProvider(name, ctx.seams);
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
                          ctx.paths.state_dir + "/logs", ctx.paths.AwsDir()}) {
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
  const provision::ApplyOptions apply_options{.parallelism = options.parallelism,
                                              .on_event = options.on_event};
  // A cloud lighthouse's address (an Elastic IP) goes into every node's config: make what
  // decides it first, then plan the rest again with the address known.
  std::set<std::string> first;
  for (const auto& step : plan->steps) {
    for (const auto& id :
         desired->ProviderFor(desired->nodes.front()).EndpointResources(ctx.spec)) {
      if (step.id == id && step.action != provision::Action::kNone) first.insert(id);
    }
  }
  if (!first.empty()) {
    auto early = provision::MakePlan(desired->resources, (*store)->Snapshot(),
                                     {.observe = options.plan.observe, .targets = first});
    if (!early.ok()) return early.status();
    result.apply =
        provision::Apply(*early, desired->resources, **store, desired->kinds, apply_options);
    if (!result.apply.status.ok()) return result.apply.status;
    desired = BuildDesired(ctx, (*store)->Snapshot());
    if (!desired.ok()) return desired.status();
    plan = provision::MakePlan(desired->resources, (*store)->Snapshot(), plan_options);
    if (!plan.ok()) return plan.status();
  }
  provision::ApplyResult rest =
      provision::Apply(*plan, desired->resources, **store, desired->kinds, apply_options);
  result.apply.succeeded += rest.succeeded;
  result.apply.failed += rest.failed;
  result.apply.skipped += rest.skipped;
  result.apply.status = rest.status;
  FleetState after = (*store)->Snapshot();
  CARRIERARR_RETURN_IF_ERROR(
      (*store)->SetAddresses(ctx.spec.name, LiveAddresses(after, desired->nodes)));
  if (!result.apply.status.ok()) return result.apply.status;

  // Bounded wait until every node whose nebula runs reaches the lighthouse over the mesh. Nodes
  // left out by --target have none, and none can be reached while the lighthouse has none.
  result.nodes = static_cast<int>(desired->nodes.size());
  for (const auto& n : desired->nodes) result.nodes_cloud += n.provider == "local" ? 0 : 1;
  const uint32_t lighthouse = desired->nodes.front().mesh_ip;
  auto has_nebula = [&after, &desired](const mesh::NodePlan& n) {
    auto rec = after.resources.find(desired->ProviderFor(n).RunningResourceId(n));
    return rec != after.resources.end() && rec->second.phase == provision::Phase::kReady;
  };
  // Only namespaces on this machine can be pinged from here; cloud nodes report through their
  // agents (`carrierarr status`, `carrierarr nodes`).
  auto local_with_nebula = [&](const mesh::NodePlan& n) {
    return n.provider == "local" && has_nebula(n);
  };
  std::vector<mesh::NodePlan> waiting;
  if (local_with_nebula(desired->nodes.front())) {
    std::copy_if(desired->nodes.begin() + 1, desired->nodes.end(), std::back_inserter(waiting),
                 local_with_nebula);
  }
  result.nodes_meshed = local_with_nebula(desired->nodes.front()) ? 1 : 0;
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
  bool had_cloud = false;
  for (const auto& [id, r] : state.resources) {
    needs_root = needs_root || r.kind == "netns" || r.kind == "nebula";
    had_cloud = had_cloud || r.kind.rfind("aws-", 0) == 0;
  }
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
  provision::KindRegistry kinds = AllKinds(ctx.seams);
  result.apply =
      provision::Apply(result.plan, {}, **store, kinds,
                       {.parallelism = options.parallelism, .on_event = options.on_event});
  FleetState after = (*store)->Snapshot();
  CARRIERARR_RETURN_IF_ERROR((*store)->SetAddresses(after.fleet, LiveAddresses(after, {})));
  if (!result.apply.status.ok()) return result.apply.status;
  // Cloud resources are found again by their tags: whatever still carries the fleet's name was
  // not removed (made by hand with our tags, or a delete AWS accepted but did not carry out).
  if (had_cloud && options.targets.empty()) {
    auto aws = providers::MakeProvider("aws", ctx.seams);
    if (aws.ok()) {
      auto left = (*aws)->Leftovers(ctx.spec);
      if (!left.ok()) return left.status().WithPrefix("checking what is left in AWS");
      result.leftovers = *left;
    }
  }
  if (after.resources.empty()) {
    CARRIERARR_RETURN_IF_ERROR((*store)->Erase());
    // Nothing of the fleet stays behind: its directories, then the lock, then .carrierarr.
    std::error_code ec;
    for (const char* sub : {"/pki", "/nebula", "/logs", "/control", "/agents", "/aws"}) {
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
