#include "spec/fleet_parser.h"

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <set>

#include "core/file_util.h"
#include "spec/burst_reader.h"
#include "spec/federation_reader.h"
#include "spec/fleet_reader.h"

namespace carrierarr::spec {
namespace {

// EBS gp3 sizes: the AL2023 image's snapshot needs 8 GiB, gp3 stops at 16 TiB.
constexpr int64_t kMinRootVolumeGb = 8;
constexpr int64_t kMaxRootVolumeGb = 16384;

// One parse: the reader collecting problems, the providers it knows, the model being filled.
struct Reading {
  FleetReader& r;
  const ProviderRulesList& providers;
  FleetSpec& fleet;

  const ProviderRules* RulesFor(std::string_view name) const {
    for (const ProviderRules* p : providers)
      if (p->name() == name) return p;
    return nullptr;
  }
  // The provider of a node whose provider fleet.yaml does not name: the registry's first.
  std::string DefaultProvider() const {
    return providers.empty() ? std::string() : std::string(providers.front()->name());
  }
  std::vector<std::string> ProviderNames() const {
    std::vector<std::string> names;
    for (const ProviderRules* p : providers) names.emplace_back(p->name());
    return names;
  }
};

bool ReadProvider(Reading& in, const YAML::Node& node, const std::string& what, std::string* out) {
  std::string s;
  if (!in.r.Scalar(node, what, &s)) return false;
  if (in.RulesFor(s) == nullptr) {
    std::string list;
    for (const auto& n : in.ProviderNames()) list += (list.empty() ? "" : ", ") + n;
    in.r.Error(node.Mark(), what + " '" + s + "' is not available; providers: " + list);
    return false;
  }
  *out = s;
  return true;
}

void ReadMesh(Reading& in, const YAML::Node& node) {
  MeshSpec& mesh = in.fleet.mesh;
  auto m = in.r.Map(node, "mesh", {"cidr", "lighthouse_port", "ca_lifetime"});
  if (m.count("cidr") && in.r.Cidr(m["cidr"], "mesh.cidr", &mesh.cidr)) {
    in.r.Remember("mesh.cidr", m["cidr"].Mark());
  }
  if (m.count("lighthouse_port")) {
    in.r.Port(m["lighthouse_port"], "mesh.lighthouse_port", &mesh.lighthouse_port);
  }
  if (m.count("ca_lifetime"))
    in.r.Duration(m["ca_lifetime"], "mesh.ca_lifetime", &mesh.ca_lifetime);
}

void ReadLighthouse(Reading& in, const YAML::Node& node) {
  LighthouseSpec& lighthouse = in.fleet.lighthouse;
  auto m = in.r.Map(node, "lighthouse", {"provider", "size"});
  if (m.count("provider") &&
      ReadProvider(in, m["provider"], "lighthouse.provider", &lighthouse.provider)) {
    in.r.Remember("lighthouse.provider", m["provider"].Mark());
  }
  if (m.count("size") && in.r.Scalar(m["size"], "lighthouse.size", &lighthouse.size)) {
    if (const ProviderRules* rules = in.RulesFor(lighthouse.provider))
      rules->CheckLighthouseSize(in.r, m["size"], lighthouse.size);
  }
}

void ReadHomelab(Reading& in, const YAML::Node& node) {
  HomelabSpec& homelab = in.fleet.homelab;
  auto m = in.r.Map(node, "homelab", {"mesh_ip", "groups", "kubeconfig", "provider"});
  if (m.count("mesh_ip") && in.r.Address(m["mesh_ip"], "homelab.mesh_ip", &homelab.mesh_ip)) {
    in.r.Remember("homelab.mesh_ip", m["mesh_ip"].Mark());
  }
  if (m.count("groups")) in.r.Groups(m["groups"], "homelab.groups", &homelab.groups);
  if (m.count("kubeconfig"))
    in.r.Scalar(m["kubeconfig"], "homelab.kubeconfig", &homelab.kubeconfig);
  // Remembered so a provider's rules can point at it ("... when the homelab is on ...").
  if (m.count("provider") &&
      ReadProvider(in, m["provider"], "homelab.provider", &homelab.provider)) {
    in.r.Remember("homelab.provider", m["provider"].Mark());
  }
}

void ReadPoolType(Reading& in, const YAML::Node& node, const std::string& where, PoolType* out) {
  std::string type;
  if (!in.r.Scalar(node, where + ".type", &type)) return;
  if (type == "gpu-worker") {
    *out = PoolType::kGpuWorker;
  } else if (type == "cpu-worker") {
    *out = PoolType::kCpuWorker;
  } else {
    in.r.Error(node.Mark(), where + ".type '" + type + "' must be gpu-worker or cpu-worker");
  }
}

// pools[i]; `names` holds the pool names read so far.
void ReadPool(Reading& in, const YAML::Node& node, size_t i, std::set<std::string>& names) {
  std::string where = "pools[" + std::to_string(i) + "]";
  auto m = in.r.Map(
      node, where,
      {"name", "type", "count", "provider", "instance_type", "groups", "spot", "on_demand_fallback",
       "root_volume_gb", "image", "scaling", "budget", "models", "keep_alive", "models_volume_gb"});
  if (!node.IsMap()) return;  // reported once; "needs a name/type" would only add noise
  PoolSpec pool;
  pool.provider = in.DefaultProvider();
  if (!m.count("name")) {
    in.r.Error(node.Mark(), where + " needs a name, e.g. 'name: gpu'");
  } else if (in.r.Name(m["name"], where + ".name", 8, &pool.name)) {
    if (pool.name == "lighthouse" || pool.name == "homelab" || !names.insert(pool.name).second) {
      in.r.Error(m["name"].Mark(), "pool name '" + pool.name +
                                       "' is already used; names must be unique "
                                       "and not 'lighthouse' or 'homelab'");
    }
    where = "pool '" + pool.name + "'";
  }
  if (m.count("type")) {
    ReadPoolType(in, m["type"], where, &pool.type);
  } else {
    in.r.Error(node.Mark(), where + " needs a type: gpu-worker or cpu-worker");
  }
  int64_t count = pool.count;
  if (m.count("count") && in.r.Int(m["count"], where + ".count", 0, kMaxPoolCount, &count)) {
    pool.count = static_cast<int>(count);
  }
  if (m.count("provider")) ReadProvider(in, m["provider"], where + ".provider", &pool.provider);
  if (m.count("instance_type"))
    in.r.Scalar(m["instance_type"], where + ".instance_type", &pool.instance_type);
  // The pool's machine image; its provider checks the shape.
  if (m.count("image")) in.r.Scalar(m["image"], where + ".image", &pool.image);
  if (const ProviderRules* rules = in.RulesFor(pool.provider))
    rules->CheckPool(in.r, m, pool, where);
  if (m.count("groups")) in.r.Groups(m["groups"], where + ".groups", &pool.groups);
  if (m.count("spot")) in.r.Bool(m["spot"], where + ".spot", &pool.spot);
  if (m.count("on_demand_fallback") &&
      in.r.Bool(m["on_demand_fallback"], where + ".on_demand_fallback", &pool.on_demand_fallback) &&
      pool.on_demand_fallback && !pool.spot) {
    in.r.Error(m["on_demand_fallback"].Mark(),
               where + ".on_demand_fallback applies to spot pools: add spot: true, or remove it");
  }
  int64_t gb = 0;
  if (m.count("root_volume_gb") && in.r.Int(m["root_volume_gb"], where + ".root_volume_gb",
                                            kMinRootVolumeGb, kMaxRootVolumeGb, &gb)) {
    pool.root_volume_gb = static_cast<int>(gb);
  }
  if (m.count("scaling")) {
    ReadScaling(in.r, m["scaling"], where, pool);
    if (m.count("count")) {
      in.r.Error(m["count"].Mark(), where +
                                        " has both count and scaling: scaling's min and max "
                                        "replace count; remove count");
    }
    pool.count = pool.scaling.max;
  }
  if (m.count("budget")) ReadBudget(in.r, m["budget"], where + ".budget", pool.budget);
  ReadModels(in.r, m, where, pool);
  in.fleet.pools.push_back(pool);
}

void ReadPools(Reading& in, const YAML::Node& pools) {
  if (!pools.IsSequence()) {
    in.r.Error(pools.Mark(), "pools must be a list of pools (each starting with '- name: ...')");
    return;
  }
  std::set<std::string> names;
  for (size_t i = 0; i < pools.size(); ++i) ReadPool(in, pools[i], i, names);
}

void ReadControlPlane(Reading& in, const YAML::Node& node) {
  ControlPlaneSpec& cp = in.fleet.control_plane;
  auto m = in.r.Map(node, "control_plane",
                    {"grpc_port", "http_port", "gateway_port", "image", "storage_size",
                     "storage_class", "database_url_secret", "grpc_node_port", "http_node_port"});
  if (m.count("grpc_port")) in.r.Port(m["grpc_port"], "control_plane.grpc_port", &cp.grpc_port);
  if (m.count("http_port")) in.r.Port(m["http_port"], "control_plane.http_port", &cp.http_port);
  if (m.count("gateway_port"))
    in.r.Port(m["gateway_port"], "control_plane.gateway_port", &cp.gateway_port);
  // Where the control plane runs in a cluster (the provider hosting the homelab checks them).
  for (const auto& [key, out] : {std::pair<const char*, std::string*>{"image", &cp.image},
                                 {"storage_size", &cp.storage_size},
                                 {"storage_class", &cp.storage_class},
                                 {"database_url_secret", &cp.database_url_secret}}) {
    if (m.count(key) && in.r.Scalar(m[key], std::string("control_plane.") + key, out)) {
      in.r.Remember(std::string("control_plane.") + key, m[key].Mark());
    }
  }
  for (const auto& [key, out] :
       {std::pair<const char*, uint16_t*>{"grpc_node_port", &cp.grpc_node_port},
        {"http_node_port", &cp.http_node_port}}) {
    if (m.count(key) && in.r.Port(m[key], std::string("control_plane.") + key, out)) {
      in.r.Remember(std::string("control_plane.") + key, m[key].Mark());
    }
  }
  in.r.Remember("control_plane", node.Mark());
  if (cp.grpc_port == cp.http_port || cp.gateway_port == cp.grpc_port ||
      cp.gateway_port == cp.http_port) {
    in.r.Error(node.Mark(), "control_plane.grpc_port, http_port and gateway_port must differ");
  }
}

// providers.<name>, each read by its provider (in the order of their names).
void ReadProviderSettings(Reading& in, const YAML::Node& node) {
  for (const auto& [name, section] : in.r.Map(node, "providers", in.ProviderNames())) {
    in.RulesFor(name)->ReadSettings(in.r, section, in.fleet);
  }
}

void ParseDocument(Reading& in, const YAML::Node& root) {
  auto top = in.r.Map(root, "fleet.yaml",
                      {"name", "mesh", "lighthouse", "homelab", "pools", "control_plane",
                       "federation", "providers", "budget", "prices"});
  if (top.count("name")) in.r.Name(top["name"], "name", kMaxFleetNameLength, &in.fleet.name);
  if (top.count("mesh")) ReadMesh(in, top["mesh"]);
  if (top.count("lighthouse")) ReadLighthouse(in, top["lighthouse"]);
  if (top.count("homelab")) ReadHomelab(in, top["homelab"]);
  if (top.count("pools")) ReadPools(in, top["pools"]);
  if (top.count("control_plane")) ReadControlPlane(in, top["control_plane"]);
  if (top.count("federation")) ReadFederation(in.r, top["federation"], in.fleet.federation);
  if (top.count("providers")) ReadProviderSettings(in, top["providers"]);
  if (top.count("budget")) ReadBudget(in.r, top["budget"], "budget", in.fleet.budget);
  if (top.count("prices")) ReadPrices(in.r, top["prices"], in.fleet.prices);
}

// The mesh: /16 or wider, so every site's range fits a host's own network.
void ValidateMesh(FleetReader& r, const FleetSpec& f) {
  const Ipv4Net& mesh = f.mesh.cidr;
  if (mesh.PrefixLength() <= 16) return;
  r.Error(r.MarkOf("mesh.cidr"),
          "mesh.cidr " + mesh.ToString() +
              " is narrower than /16: sites are laid out as .0.x "
              "(lighthouse), .1.x (homelab) and .2.x and up (workers), and with a narrower mask "
              "nebula refuses lighthouses outside a host's own network ('static_host_map key is "
              "not in our subnet'); use a /16, e.g. " +
              Ipv4Net{mesh.ip, PrefixToMask(16)}.Masked().ToString());
}

void ValidateHomelab(FleetReader& r, const FleetSpec& f) {
  const Ipv4Net& mesh = f.mesh.cidr;
  uint32_t homelab = f.homelab.mesh_ip;
  // When homelab.mesh_ip is left at its default, a problem with it comes from mesh.cidr.
  const YAML::Mark hm = r.MarkOf(r.Remembered("homelab.mesh_ip") ? "homelab.mesh_ip" : "mesh.cidr");
  if (!mesh.Contains(homelab)) {
    r.Error(hm, "homelab.mesh_ip " + FormatIpv4(homelab) + " is outside mesh.cidr " +
                    mesh.ToString() + "; set homelab.mesh_ip to an address in the homelab " +
                    "range, e.g. " + FormatIpv4(mesh.Network() | 0x101));
  } else if (mesh.PrefixLength() <= 16 && ((homelab >> 8) & 0xff) != 1) {
    r.Error(hm, "homelab.mesh_ip " + FormatIpv4(homelab) + " must be in the homelab range " +
                    FormatIpv4(mesh.Network() | 0x100) +
                    "/24 (.0.x is the lighthouse's, .2.x and "
                    "up the workers')");
  } else if ((homelab & 0xff) == 0 || (homelab & 0xff) == 255) {
    r.Error(hm, "homelab.mesh_ip " + FormatIpv4(homelab) + " ends in ." +
                    std::to_string(homelab & 0xff) + "; use .1 to .254");
  }
}

// Rules that involve more than one field: the mesh, then each provider's settings against it,
// then the homelab's address in it.
void Validate(FleetReader& r, const ProviderRulesList& providers, FleetSpec& f) {
  ValidateMesh(r, f);
  for (const ProviderRules* p : providers) p->Validate(r, f);
  ValidateHomelab(r, f);
  ValidateFederation(r, f);
  ValidateBurst(r, f, [&](const PoolSpec& pool) -> std::optional<MicroUsd> {
    for (const ProviderRules* p : providers)
      if (p->name() == pool.provider) return p->ListPrice(pool.instance_type);
    return std::nullopt;
  });
}

}  // namespace

std::string_view NebulaMaterialName(NebulaMaterial m) {
  return m == NebulaMaterial::kSecretsManager ? "secretsmanager" : "userdata";
}

bool FleetSpec::UsesProvider(std::string_view provider) const {
  if (lighthouse.provider == provider) return true;
  for (const auto& pool : pools)
    if (pool.provider == provider) return true;
  return false;
}

std::string_view PoolTypeName(PoolType type) {
  return type == PoolType::kGpuWorker ? "gpu-worker" : "cpu-worker";
}

Result<FleetSpec> ParseFleet(std::string_view yaml, const std::string& filename,
                             const ProviderRulesList& providers) {
  FleetReader r(filename);
  FleetSpec fleet;
  try {
    YAML::Node root = YAML::Load(std::string(yaml));
    if (!root.IsDefined() || root.IsNull()) {
      return Status::InvalidArgument(filename +
                                     ":1:1: the file is empty; run 'carrierarr init' to write one");
    }
    Reading in{r, providers, fleet};
    fleet.lighthouse.provider = fleet.homelab.provider = in.DefaultProvider();
    ParseDocument(in, root);
  } catch (const YAML::Exception& e) {
    r.Error(e.mark, "not valid YAML: " + e.msg);
  }
  if (r.errors().empty()) Validate(r, providers, fleet);
  if (!r.errors().empty()) {
    std::string message;
    for (const auto& e : r.errors()) message += (message.empty() ? "" : "\n") + e;
    return Status::InvalidArgument(message);
  }
  return fleet;
}

Result<FleetSpec> LoadFleet(const std::string& path, const ProviderRulesList& providers) {
  auto text = ReadFile(path);
  if (!text.ok()) {
    return Status(
        text.status().code(),
        text.status().message() + "; run 'carrierarr init' to write a fleet.yaml, or pass -f FILE");
  }
  return ParseFleet(*text, path, providers);
}

}  // namespace carrierarr::spec
