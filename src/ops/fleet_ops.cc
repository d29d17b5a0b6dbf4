#include "ops/fleet_ops.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <iterator>

#include "burst/spend.h"
#include "core/file_util.h"
#include "federation/federation.h"
#include "federation/liqo.h"
#include "federation/talos.h"
#include "mesh/nebula_config.h"
#include "ops/power.h"
#include "providers/aws/packer.h"
#include "providers/kubernetes/manifests.h"
#include "providers/registry.h"
#include "provision/file_resources.h"
#include "spec/fleet_parser.h"

namespace carrierarr::ops {
namespace {

using provision::FleetState;

std::string DirOf(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
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

provision::PlanOptions PlanOptionsFor(const PlanRequest& request, const Desired& d) {
  provision::PlanOptions options{.observe = request.observe,
                                 .targets = request.targets,
                                 .skip_deletes = request.skip.teardown,
                                 .power_managed = d.power_managed};
  if (request.skip.certs) options.skip_kinds = {"pki-ca", "pki-cert"};
  if (request.skip.peering || d.hold_federation) {
    options.skip_kinds.insert(std::begin(federation::kKinds), std::end(federation::kKinds));
  }
  return options;
}

// The plan of `desired` over `state`, with the notes of what could not be planned yet.
Result<provision::Plan> PlanOf(const Desired& desired, const FleetState& state,
                               const PlanRequest& request) {
  auto plan = provision::MakePlan(desired.resources, state, PlanOptionsFor(request, desired));
  if (plan.ok()) plan->notes = desired.notes;
  return plan;
}

// Plans the federation's objects in both clusters (nothing for federation.mode none).
Status AddFederation(const FleetContext& ctx, Desired& d) {
  auto plan = federation::PlanFederation(FederationRequestFor(ctx, d));
  if (!plan.ok()) return plan.status();
  for (auto& r : plan->resources) d.resources.push_back(std::move(r));
  for (auto& note : plan->notes) d.notes.push_back(std::move(note));
  d.hold_federation = plan->hold_recorded;
  return Status::Ok();
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

// The node's certificate and Nebula config, and what its provider hosts it with.
void AddNodeResources(const FleetContext& ctx, const FleetState& state, const mesh::NodePlan& node,
                      Desired& d) {
  const mesh::NodePlan& lighthouse = d.nodes.front();
  d.resources.push_back(
      provision::MakeHostCertResource({.node = node,
                                       .mesh_prefix = ctx.spec.mesh.cidr.PrefixLength(),
                                       .ca_cert_path = ctx.paths.CaCert(),
                                       .ca_key_path = ctx.paths.CaKey(),
                                       .cert_path = ctx.paths.HostCert(node.name),
                                       .key_path = ctx.paths.HostKey(node.name),
                                       .time = ctx.seams.time}));
  // Every config names the lighthouse's address: made after what decides it (an Elastic IP).
  d.resources.push_back(provision::MakeFileResource(
      "config/" + node.name, "nebula config for " + node.name, ctx.paths.NebulaConfig(node.name),
      ConfigFor(ctx, d, node), d.ProviderFor(lighthouse).EndpointResources(ctx.spec)));
  std::vector<std::string> deps{"cert/" + node.name, "config/" + node.name};
  // Nodes on this machine start after a lighthouse on this machine, so their first handshake
  // finds it listening. Cloud nodes need only its address (Nebula keeps trying), so they launch
  // in parallel.
  if (node.role != mesh::Role::kLighthouse && !d.ProviderFor(node).IsCloud() &&
      !d.ProviderFor(lighthouse).IsCloud()) {
    deps.push_back(d.ProviderFor(lighthouse).RunningResourceId(lighthouse));
  }
  d.ProviderFor(node).AddNodeResources({.fleet = ctx.spec,
                                        .paths = ctx.paths,
                                        .state = state,
                                        .node = node,
                                        .deps = deps,
                                        .lighthouse_endpoint = d.lighthouse_endpoint,
                                        .enrollment = d.enrollment},
                                       d.resources);
}

}  // namespace

federation::FederationRequest FederationRequestFor(const FleetContext& ctx, const Desired& d) {
  federation::FederationRequest request{.fleet = ctx.spec,
                                        .fleet_dir = ctx.fleet_dir,
                                        .state_dir = ctx.paths.state_dir,
                                        .seams = ctx.seams};
  for (const auto& node : d.nodes) {
    const std::string ip = FormatIpv4(node.mesh_ip);
    if (node.role == mesh::Role::kHomelab) request.homelab_mesh_ips.push_back(ip);
    if (!d.ProviderFor(node).IsCloud()) continue;
    request.cloud_mesh_ips.push_back(ip);
    request.cloud_node_ids.push_back(d.ProviderFor(node).RunningResourceId(node));
  }
  return request;
}

const providers::Provider& Desired::ProviderFor(const mesh::NodePlan& node) const {
  return *providers.at(node.provider);
}

Result<FleetContext> LoadContext(const std::string& fleet_file, Seams seams,
                                 const providers::ProviderRegistry& registry) {
  auto spec = spec::LoadFleet(fleet_file, registry.FleetRules());
  if (!spec.ok()) return spec.status();
  FleetContext ctx;
  ctx.fleet_file = fleet_file;
  std::error_code ec;
  std::string absolute = std::filesystem::absolute(fleet_file, ec).lexically_normal().string();
  ctx.fleet_dir = DirOf(ec ? fleet_file : absolute);
  ctx.spec = std::move(*spec);
  ctx.paths.state_dir = ctx.fleet_dir + "/.carrierarr";
  ctx.seams = std::move(seams);
  ctx.registry = &registry;
  return ctx;
}

provision::KindRegistry AllKinds(const FleetContext& ctx) {
  provision::KindRegistry kinds;
  provision::RegisterFileKinds(kinds);
  for (const auto& entry : ctx.registry->entries()) entry.make(ctx.seams)->RegisterKinds(kinds);
  federation::RegisterKinds(kinds, ctx.seams);
  return kinds;
}

// The nodes of scaled pools beyond min: made stopped where their provider can stop and start
// nodes (the burst controller wakes them), else not made at all (the pool runs its min).
void PlanPowerManaged(const FleetContext& ctx, Desired& d) {
  std::set<std::string> unpowered;
  std::erase_if(d.nodes, [&](const mesh::NodePlan& n) {
    if (!IsPowerManaged(ctx.spec, n)) return false;
    auto ids = d.ProviderFor(n).PowerResourceIds(ctx.spec, n);
    if (ids.empty()) unpowered.insert(n.pool);
    d.power_managed.insert(ids.begin(), ids.end());
    return ids.empty();
  });
  for (const auto& pool : ctx.spec.pools) {
    if (!pool.scaling.enabled) continue;
    d.notes.push_back(burst::DescribeScaling(ctx.spec, pool) +
                      (unpowered.count(pool.name) != 0
                           ? "; provider " + pool.provider +
                                 " cannot stop and start nodes yet: up runs its min (" +
                                 std::to_string(pool.scaling.min) + ")"
                           : "; up makes the nodes beyond min (" +
                                 std::to_string(pool.scaling.min) +
                                 ") stopped, and the control plane wakes them (carrierarr wake " +
                                 pool.name + ")"));
  }
}

Result<Desired> BuildDesired(const FleetContext& ctx, const FleetState& state) {
  Desired d;
  // The provider hosting the homelab says who its members are (a cluster's nodes).
  auto homelab = ctx.registry->Make(ctx.spec.homelab.provider, ctx.seams);
  if (!homelab.ok()) return homelab.status();
  auto members = (*homelab)->HomelabMembers(ctx.spec);
  if (!members.ok()) return members.status();
  auto nodes = mesh::PlanNodes(ctx.spec, state.addresses, *members);
  if (!nodes.ok()) return nodes.status();
  d.nodes = std::move(*nodes);
  for (const auto& n : d.nodes) {
    if (d.providers.count(n.provider) != 0) continue;
    auto p = ctx.registry->Make(n.provider, ctx.seams);
    if (!p.ok()) return p.status();
    d.providers[n.provider] = std::move(*p);
  }
  d.kinds = AllKinds(ctx);
  d.enrollment = ctx.enrollment != nullptr
                     ? ctx.enrollment
                     : providers::MakeSignedMinter(ctx.paths.EnrollmentKey(), *ctx.seams.time);
  const mesh::NodePlan& lighthouse = d.nodes.front();
  d.lighthouse_endpoint = d.ProviderFor(lighthouse).LighthouseEndpoint(ctx.spec, lighthouse, state);
  d.resources.push_back(provision::MakeCaResource({.name = ctx.spec.name + "-mesh",
                                                   .cert_path = ctx.paths.CaCert(),
                                                   .key_path = ctx.paths.CaKey(),
                                                   .lifetime = ctx.spec.mesh.ca_lifetime,
                                                   .mesh = ctx.spec.mesh.cidr,
                                                   .time = ctx.seams.time}));
  d.resources.push_back(provision::MakeEnrollmentKeyResource(ctx.paths.EnrollmentKey(),
                                                             ctx.paths.EnrollmentPublicKey()));
  PlanPowerManaged(ctx, d);
  for (const auto& node : d.nodes) AddNodeResources(ctx, state, node, d);
  // Once for the fleet, however many members the homelab has.
  for (const auto& node : d.nodes) {
    if (node.role != mesh::Role::kHomelab) continue;
    d.ProviderFor(node).AddFleetResources(
        {.fleet = ctx.spec,
         .paths = ctx.paths,
         .nodes = d.nodes,
         .enrollment = d.enrollment,
         .fleet_file = std::filesystem::absolute(ctx.fleet_file).string()},
        d.resources);
    break;
  }
  return d;
}

Result<Desired> BuildDesiredWithFederation(const FleetContext& ctx, const FleetState& state) {
  auto d = BuildDesired(ctx, state);
  if (d.ok()) CARRIERARR_RETURN_IF_ERROR(AddFederation(ctx, *d));
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
  auto desired = BuildDesiredWithFederation(ctx, *state);
  if (!desired.ok()) return desired.status();
  return PlanOf(*desired, *state, request);
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

namespace {

using StorePtr = std::unique_ptr<provision::StateStore>;

// Every provider the fleet's nodes are on can work on this machine.
Status CheckEnvironments(const FleetContext& ctx) {
  std::set<std::string> names{ctx.spec.lighthouse.provider, ctx.spec.homelab.provider};
  for (const auto& pool : ctx.spec.pools) names.insert(pool.provider);
  for (const auto& name : names) {
    auto p = ctx.registry->Make(name, ctx.seams);
    if (!p.ok()) return p.status();
    CARRIERARR_RETURN_IF_ERROR((*p)->CheckEnvironment());
  }
  return Status::Ok();
}

// The fleet's state, locked, and its directories; another fleet's state is refused.
Result<StorePtr> OpenStateForUp(const FleetContext& ctx) {
  auto store = provision::StateStore::Open(ctx.fleet_dir);
  if (!store.ok()) return store.status();
  const std::string recorded = (*store)->Snapshot().fleet;
  if (!recorded.empty() && recorded != ctx.spec.name) {
    return Status::FailedPrecondition("this directory's state belongs to fleet '" + recorded +
                                      "', but " + ctx.fleet_file + " names '" + ctx.spec.name +
                                      "'; run 'carrierarr down' with the old name first");
  }
  for (const auto& dir :
       {ctx.paths.state_dir + "/pki", ctx.paths.state_dir + "/nebula",
        ctx.paths.state_dir + "/logs", ctx.paths.ControlDir(), ctx.paths.AwsDir()}) {
    CARRIERARR_RETURN_IF_ERROR(MakeDirectory(dir, 0700));
  }
  return store;
}

// A cloud lighthouse's address (an Elastic IP) goes into every node's config: makes what
// decides it first, then plans the rest again with the address known (`desired` and `plan`
// are replaced). Nothing to do when the address is known already.
Status ApplyEndpointFirst(const FleetContext& ctx, const UpOptions& options,
                          provision::StateStore& store, Desired& desired, provision::Plan& plan,
                          provision::ApplyResult& applied) {
  std::set<std::string> first;
  const auto endpoint_ids = desired.ProviderFor(desired.nodes.front()).EndpointResources(ctx.spec);
  for (const auto& step : plan.steps) {
    for (const auto& id : endpoint_ids) {
      if (step.id == id && step.action != provision::Action::kNone) first.insert(id);
    }
  }
  if (first.empty()) return Status::Ok();
  auto early = provision::MakePlan(desired.resources, store.Snapshot(),
                                   {.observe = options.plan.observe, .targets = first});
  if (!early.ok()) return early.status();
  applied = provision::Apply(
      *early, desired.resources, store, desired.kinds,
      {.parallelism = options.parallelism, .on_event = options.on_event, .time = ctx.seams.time});
  if (!applied.status.ok()) return applied.status;
  auto rebuilt = BuildDesiredWithFederation(ctx, store.Snapshot());
  if (!rebuilt.ok()) return rebuilt.status();
  desired = std::move(*rebuilt);
  auto replanned = PlanOf(desired, store.Snapshot(), options.plan);
  if (!replanned.ok()) return replanned.status();
  plan = std::move(*replanned);
  return Status::Ok();
}

constexpr std::chrono::milliseconds kMeshRetry(100);

// Bounded wait until every node on this machine whose nebula runs (not powered off) reaches the
// lighthouse over the mesh (cloud nodes report through their agents: `carrierarr status`,
// `carrierarr nodes`). Nodes left out by --target have none, and none can be reached while the
// lighthouse has none.
Status WaitForMesh(const FleetContext& ctx, const Desired& d, const FleetState& after,
                   std::chrono::milliseconds wait, UpResult& result) {
  const mesh::NodePlan& lighthouse = d.nodes.front();
  auto watched = [&](const mesh::NodePlan& n) {
    if (d.ProviderFor(n).IsCloud()) return false;
    auto rec = after.resources.find(d.ProviderFor(n).RunningResourceId(n));
    return rec != after.resources.end() && rec->second.phase == provision::Phase::kReady &&
           !provision::IsPoweredOff(rec->second);  // stopped by (or for) the burst controller
  };
  std::vector<mesh::NodePlan> waiting;
  if (watched(lighthouse)) {
    std::copy_if(d.nodes.begin() + 1, d.nodes.end(), std::back_inserter(waiting), watched);
  }
  result.nodes_meshed = watched(lighthouse) ? 1 : 0;
  const auto deadline = ctx.seams.time->MonotonicNow() + wait;
  while (!waiting.empty() && ctx.seams.time->MonotonicNow() < deadline) {
    std::map<std::string, std::vector<mesh::NodePlan>> by_provider;
    for (const auto& n : waiting) by_provider[n.provider].push_back(n);
    std::vector<mesh::NodePlan> still;
    for (const auto& [provider, nodes] : by_provider) {
      auto rtts = d.providers.at(provider)->MeshRoundTrips(ctx.spec, nodes, lighthouse.mesh_ip,
                                                           std::chrono::milliseconds(500));
      for (const auto& n : nodes) {
        auto rtt = rtts.find(n.name);
        if (rtt == rtts.end()) {  // its provider cannot measure it from here
          ++result.nodes_unmeasured;
          continue;
        }
        if (rtt->second.has_value()) {
          ++result.nodes_meshed;
        } else {
          still.push_back(n);
        }
      }
    }
    waiting.swap(still);
    // A round whose pings failed fast (no route yet) must not spin: wait a little between rounds.
    if (!waiting.empty()) ctx.seams.time->SleepFor(kMeshRetry);
  }
  if (waiting.empty()) return Status::Ok();
  std::string names;
  for (const auto& n : waiting) names += (names.empty() ? "" : ", ") + n.name;
  return Status::Unavailable("the mesh did not converge: " + names +
                             " cannot reach the lighthouse "
                             "over Nebula; run 'carrierarr doctor' to find out why");
}

// The registered providers that recorded something in `state` (a resource of one of their
// kinds), by name.
std::map<std::string, std::unique_ptr<providers::Provider>> RecordedProviders(
    const FleetContext& ctx, const FleetState& state) {
  std::map<std::string, std::unique_ptr<providers::Provider>> out;
  for (const auto& entry : ctx.registry->entries()) {
    auto provider = entry.make(ctx.seams);
    provision::KindRegistry kinds;
    provider->RegisterKinds(kinds);
    for (const auto& [id, r] : state.resources) {
      if (kinds.Find(r.kind) == nullptr) continue;
      out[std::string(entry.name)] = std::move(provider);
      break;
    }
  }
  return out;
}

// Cloud resources are found again by their tags: whatever still carries the fleet's name was
// not removed (made by hand with our tags, or a delete the cloud accepted but did not carry out).
Result<std::vector<std::string>> CloudLeftovers(
    const FleetContext& ctx,
    const std::map<std::string, std::unique_ptr<providers::Provider>>& recorded) {
  std::vector<std::string> left;
  for (const auto& [name, provider] : recorded) {
    if (!provider->IsCloud()) continue;
    auto found = provider->Leftovers(ctx.spec);
    if (!found.ok()) return found.status();
    left.insert(left.end(), found->begin(), found->end());
  }
  return left;
}

// Nothing of the fleet stays behind: its directories, then the lock, then .carrierarr.
bool RemoveStateDir(const FleetContext& ctx, StorePtr& store) {
  std::error_code ec;
  for (const std::string& dir : {ctx.paths.state_dir + "/pki", ctx.paths.state_dir + "/nebula",
                                 ctx.paths.state_dir + "/logs", ctx.paths.ControlDir(),
                                 ctx.paths.state_dir + "/agents", ctx.paths.AwsDir()}) {
    std::filesystem::remove_all(dir, ec);
  }
  std::string lock = ctx.paths.state_dir + "/lock";
  ::unlink(lock.c_str());
  store.reset();  // releases the flock
  return ::rmdir(ctx.paths.state_dir.c_str()) == 0;
}

// The fleet's key material (the CA, every certificate and key, the enrollment key) made here as
// `up` makes it, and nothing else: for the renderers that write what a node needs.
Result<Desired> MakeKeyMaterial(const FleetContext& ctx) {
  auto store = OpenStateForUp(ctx);
  if (!store.ok()) return store.status();
  auto desired = BuildDesired(ctx, (*store)->Snapshot());
  if (!desired.ok()) return desired.status();
  CARRIERARR_RETURN_IF_ERROR(
      (*store)->SetAddresses(ctx.spec.name, MergeAddresses((*store)->Snapshot(), desired->nodes)));
  const std::set<std::string> file_kinds{"pki-ca", "pki-cert", "enrollment-key", "file"};
  // Files that need nothing but files (the control plane's address needs the cluster).
  std::set<std::string> material;
  for (const auto& r : desired->resources)
    if (file_kinds.count(r->kind()) != 0) material.insert(r->id());
  for (bool changed = true; changed;) {
    changed = false;
    for (const auto& r : desired->resources) {
      if (material.count(r->id()) == 0) continue;
      for (const auto& d : r->deps()) {
        if (material.count(d) == 0) {
          material.erase(r->id());
          changed = true;
          break;
        }
      }
    }
  }
  auto plan = provision::MakePlan(desired->resources, (*store)->Snapshot(),
                                  {.observe = true, .targets = material});
  if (!plan.ok()) return plan.status();
  provision::ApplyResult applied = provision::Apply(*plan, desired->resources, **store,
                                                    desired->kinds, {.time = ctx.seams.time});
  if (!applied.status.ok()) return applied.status;
  return desired;
}

}  // namespace

Result<std::vector<std::string>> RenderPacker(const FleetContext& ctx, const std::string& out_dir) {
  std::vector<std::string> written;
  for (const auto& [name, text] : aws_provider::RenderPacker(ctx.spec)) {
    const std::string path = out_dir + "/" + name;
    CARRIERARR_RETURN_IF_ERROR(
        WriteFileAtomic(path, text, name.find("pkrvars") != std::string::npos ? 0600 : 0644));
    written.push_back(path);
  }
  return written;
}

Result<std::vector<std::string>> RenderTalos(const FleetContext& ctx, const TalosConfigs& configs,
                                             const std::string& out_dir) {
  const spec::FederationSpec& f = ctx.spec.federation;
  if (f.mode != spec::FederationMode::kDirect) {
    return Status::FailedPrecondition(
        "render talos writes the machine configs of cloud nodes joining the homelab's Talos "
        "cluster, and " +
        ctx.fleet_file + " has federation.mode: " + std::string(spec::FederationModeName(f.mode)) +
        "; set federation.mode: direct");
  }
  std::string worker, control_plane;
  for (auto [path, text] :
       {std::pair{&configs.worker, &worker}, std::pair{&configs.control_plane, &control_plane}}) {
    if (path->empty()) continue;
    auto read = ReadFile(*path);
    if (!read.ok()) return read.status().WithPrefix(*path);
    *text = *read;
  }
  auto desired = MakeKeyMaterial(ctx);
  if (!desired.ok()) return desired.status();
  auto ca = ReadFile(ctx.paths.CaCert());
  if (!ca.ok()) return ca.status();
  auto control_plane_node = [&](const mesh::NodePlan& node) {
    return std::count(f.direct.control_plane_pools.begin(), f.direct.control_plane_pools.end(),
                      node.pool) != 0;
  };
  // Refused before anything is written.
  for (const auto& node : desired->nodes) {
    if (node.role != mesh::Role::kWorker || !control_plane_node(node)) continue;
    if (!f.direct.force_control_plane) {
      return Status::FailedPrecondition(
          "pool '" + node.pool +
          "' is in federation.direct.control_plane_pools: its nodes would "
          "be etcd members across the WAN, where every hiccup of the link costs the cluster its "
          "quorum; keep cloud nodes workers (remove the pool there), or set "
          "federation.direct.force_control_plane: true if you accept that");
    }
  }
  std::vector<std::string> written;
  for (const auto& node : desired->nodes) {
    if (node.role != mesh::Role::kWorker) continue;
    const bool cp = control_plane_node(node);
    federation::TalosNode talos{
        .name = node.name, .mesh_ip = FormatIpv4(node.mesh_ip), .control_plane = cp, .ca_crt = *ca};
    for (auto [path, into] : {std::pair{ctx.paths.HostCert(node.name), &talos.host_crt},
                              std::pair{ctx.paths.HostKey(node.name), &talos.host_key}}) {
      auto read = ReadFile(path);
      if (!read.ok()) return read.status();
      *into = *read;
    }
    talos.nebula_config = ConfigFor(ctx, *desired, node);
    auto patch = federation::RenderTalosPatch(ctx.spec, talos);
    if (!patch.ok()) return patch.status();
    const std::string patch_path = out_dir + "/" + node.name + ".patch.yaml";
    CARRIERARR_RETURN_IF_ERROR(WriteFileAtomic(patch_path, *patch, 0600));
    written.push_back(patch_path);
    const std::string& base = cp ? control_plane : worker;
    if (base.empty()) continue;
    auto merged = federation::MergeTalosConfig(base, cp ? configs.control_plane : configs.worker,
                                               *patch, cp, f.direct.talos_version);
    if (!merged.ok()) return merged.status();
    const std::string config_path = out_dir + "/" + node.name + ".yaml";
    CARRIERARR_RETURN_IF_ERROR(WriteFileAtomic(config_path, *merged, 0600));
    written.push_back(config_path);
  }
  if (written.empty()) {
    return Status::FailedPrecondition(ctx.fleet_file +
                                      " has no pool: its nodes are what joins the homelab");
  }
  return written;
}

Result<std::vector<std::string>> RenderWorkload(const FleetContext& ctx, const std::string& ns,
                                                int gpus, const std::string& out_dir) {
  const spec::FederationSpec& f = ctx.spec.federation;
  if (f.mode != spec::FederationMode::kLiqo) {
    return Status::FailedPrecondition(
        "render workload writes a pod offloaded by Liqo, and " + ctx.fleet_file +
        " has federation.mode: " + std::string(spec::FederationModeName(f.mode)) +
        "; set federation.mode: liqo");
  }
  if (f.liqo.offload.empty()) {
    return Status::FailedPrecondition(
        ctx.fleet_file +
        " offloads no namespace: add one under federation.liqo.offload (a pod "
        "of any other namespace is not offloaded)");
  }
  std::string names;
  for (const auto& o : f.liqo.offload) {
    if (o.name == ns || ns.empty())
      return kubernetes::WriteKustomizeDirs(
          {{"workload", federation::RenderOffloadedWorkload({.ns = o.name, .gpus = gpus})}},
          out_dir);
    names += (names.empty() ? "" : ", ") + o.name;
  }
  return Status::InvalidArgument("--namespace " + ns + " is not offloaded (" + ctx.fleet_file +
                                 " offloads " + names +
                                 "); name one of them, or add it under federation.liqo.offload");
}

Result<std::vector<std::string>> RenderManifests(const FleetContext& ctx,
                                                 const std::string& out_dir) {
  auto homelab = ctx.registry->Make(ctx.spec.homelab.provider, ctx.seams);
  if (!homelab.ok()) return homelab.status();
  if (!(*homelab)->HasManifests()) {
    return Status::FailedPrecondition("the homelab's provider '" + ctx.spec.homelab.provider +
                                      "' has no Kubernetes manifests; set homelab.provider: "
                                      "kubernetes in " +
                                      ctx.fleet_file);
  }
  auto desired = MakeKeyMaterial(ctx);
  if (!desired.ok()) return desired.status();
  return (*homelab)->WriteManifests({.fleet = ctx.spec,
                                     .paths = ctx.paths,
                                     .nodes = desired->nodes,
                                     .enrollment = desired->enrollment},
                                    out_dir);
}

Result<UpResult> Up(const FleetContext& ctx, const UpOptions& options) {
  const auto start = ctx.seams.time->MonotonicNow();
  // Before the state directory exists: a run that cannot work must leave nothing behind.
  CARRIERARR_RETURN_IF_ERROR(CheckEnvironments(ctx));
  auto store = OpenStateForUp(ctx);
  if (!store.ok()) return store.status();
  FleetState state = (*store)->Snapshot();
  auto desired = BuildDesiredWithFederation(ctx, state);
  if (!desired.ok()) return desired.status();
  // Record addresses before anything is made, so a killed run cannot hand them out twice.
  CARRIERARR_RETURN_IF_ERROR(
      (*store)->SetAddresses(ctx.spec.name, MergeAddresses(state, desired->nodes)));

  auto plan = PlanOf(*desired, (*store)->Snapshot(), options.plan);
  if (!plan.ok()) return plan.status();
  if (options.on_plan) options.on_plan(*plan);

  UpResult result;
  result.plan = *plan;
  CARRIERARR_RETURN_IF_ERROR(
      ApplyEndpointFirst(ctx, options, **store, *desired, *plan, result.apply));
  provision::ApplyResult rest = provision::Apply(
      *plan, desired->resources, **store, desired->kinds,
      {.parallelism = options.parallelism, .on_event = options.on_event, .time = ctx.seams.time});
  result.apply.succeeded += rest.succeeded;
  result.apply.failed += rest.failed;
  result.apply.skipped += rest.skipped;
  result.apply.status = rest.status;
  FleetState after = (*store)->Snapshot();
  CARRIERARR_RETURN_IF_ERROR(
      (*store)->SetAddresses(ctx.spec.name, LiveAddresses(after, desired->nodes)));
  if (!result.apply.status.ok()) return result.apply.status;

  result.nodes = static_cast<int>(desired->nodes.size());
  for (const auto& n : desired->nodes) {
    auto rec = after.resources.find(desired->ProviderFor(n).RunningResourceId(n));
    if (rec != after.resources.end() && provision::IsPoweredOff(rec->second)) {
      ++result.nodes_stopped;
    } else {
      result.nodes_cloud += desired->ProviderFor(n).IsCloud();
    }
  }
  Status meshed = WaitForMesh(ctx, *desired, after, options.mesh_wait, result);
  result.elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(ctx.seams.time->MonotonicNow() - start);
  if (!meshed.ok()) return meshed;
  return result;
}

Result<DownResult> Down(const FleetContext& ctx, const DownOptions& options) {
  auto store = provision::StateStore::Open(ctx.fleet_dir);
  if (!store.ok()) return store.status();
  FleetState state = (*store)->Snapshot();
  const auto recorded = RecordedProviders(ctx, state);
  for (const auto& [name, provider] : recorded) {
    CARRIERARR_RETURN_IF_ERROR(provider->CheckEnvironment());
  }
  for (const auto& t : options.targets) {
    if (state.resources.count(t) == 0) {
      return Status::InvalidArgument("--target " + t +
                                     " is not recorded in the state; see 'carrierarr status'");
    }
  }
  DownResult result;
  result.plan = provision::MakeDestroyPlan(state, options.targets);
  if (options.on_plan) options.on_plan(result.plan);
  provision::KindRegistry kinds = AllKinds(ctx);
  result.apply = provision::Apply(
      result.plan, {}, **store, kinds,
      {.parallelism = options.parallelism, .on_event = options.on_event, .time = ctx.seams.time});
  FleetState after = (*store)->Snapshot();
  CARRIERARR_RETURN_IF_ERROR((*store)->SetAddresses(after.fleet, LiveAddresses(after, {})));
  if (!result.apply.status.ok()) return result.apply.status;
  if (options.targets.empty()) {
    auto left = CloudLeftovers(ctx, recorded);
    if (!left.ok()) return left.status();
    result.leftovers = std::move(*left);
  }
  if (after.resources.empty()) {
    CARRIERARR_RETURN_IF_ERROR((*store)->Erase());
    result.state_removed = RemoveStateDir(ctx, *store);
  }
  return result;
}

}  // namespace carrierarr::ops
