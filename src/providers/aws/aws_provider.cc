#include "providers/aws/aws_provider.h"

#include <cctype>

#include "core/ipv4.h"
#include "providers/aws/resources.h"
#include "providers/aws/session.h"
#include "providers/enrollment.h"
#include "provision/file_resources.h"

namespace carrierarr::aws_provider {
namespace {

Target TargetOf(const spec::FleetSpec& fleet) {
  return {.region = fleet.aws.region,
          .profile = fleet.aws.profile,
          .endpoint_url = fleet.aws.endpoint_url};
}

const spec::PoolSpec* PoolOf(const spec::FleetSpec& fleet, const mesh::NodePlan& node) {
  for (const auto& p : fleet.pools)
    if (p.name == node.pool) return &p;
  return nullptr;
}

// GPU workers join this fleet's k3s: its server runs the NVIDIA device plugin.
bool HasAwsGpuPool(const spec::FleetSpec& fleet) {
  for (const auto& p : fleet.pools)
    if (p.provider == kName && p.type == spec::PoolType::kGpuWorker) return true;
  return false;
}

std::string InstanceTypeOf(const spec::FleetSpec& fleet, const mesh::NodePlan& node) {
  if (node.role == mesh::Role::kLighthouse) return fleet.lighthouse.size;
  const spec::PoolSpec* pool = PoolOf(fleet, node);
  return pool == nullptr ? "" : pool->instance_type;
}

bool HasResource(const provision::ResourceList& out, const std::string& id) {
  for (const auto& r : out)
    if (r->id() == id) return true;
  return false;
}

class AwsProvider final : public providers::Provider {
 public:
  explicit AwsProvider(std::shared_ptr<SessionFactory> sessions) : sessions_(std::move(sessions)) {}
  std::string name() const override { return kName; }
  bool IsCloud() const override { return true; }
  // Credentials and region are checked at the first AWS call, with the chain's own advice;
  // `plan` needs neither.
  Status CheckEnvironment() const override { return Status::Ok(); }

  std::string LighthouseEndpoint(const spec::FleetSpec& fleet, const mesh::NodePlan& /*lh*/,
                                 const provision::FleetState& state) const override {
    const std::string port = ":" + std::to_string(fleet.mesh.lighthouse_port);
    if (!fleet.aws.dns_name.empty()) return fleet.aws.dns_name + port;
    auto rec = state.resources.find("eip/lighthouse");
    if (rec != state.resources.end() && rec->second.phase == provision::Phase::kReady) {
      std::string ip = rec->second.attrs.value("public_ip", "");
      if (!ip.empty()) return ip + port;
    }
    return "<lighthouse elastic ip>" + port;  // `up` allocates it before anything uses it
  }
  std::vector<std::string> EndpointResources(const spec::FleetSpec& fleet) const override {
    if (!fleet.aws.dns_name.empty()) return {};
    return {"eip/lighthouse"};
  }
  providers::NodeFiles NebulaFiles(const providers::FleetPaths& /*paths*/,
                                   const mesh::NodePlan& /*node*/) const override {
    return {.ca = "/etc/nebula/ca.crt",
            .cert = "/etc/nebula/host.crt",
            .key = "/etc/nebula/host.key",
            .tun = "nebula1"};
  }
  std::string RunningResourceId(const mesh::NodePlan& node) const override {
    return "instance/" + node.name;
  }
  // A stopped worker keeps its instance and volumes (`stop: stop`) or is terminated.
  std::vector<std::string> PowerResourceIds(const spec::FleetSpec& /*fleet*/,
                                            const mesh::NodePlan& node) const override {
    if (node.role != mesh::Role::kWorker) return {};
    return {"instance/" + node.name};
  }
  Result<nlohmann::json> PowerOff(const provision::ResourceRecord& record,
                                  const provision::KindRegistry& /*kinds*/) const override {
    if (record.kind != "aws-instance")
      return Status::Internal("aws powers off instances, not " + record.kind);
    return PowerOffInstance(*sessions_, record.attrs);
  }

  // The k3s join secrets, files made once per fleet: the server's token (full control of the
  // cluster) goes to the server alone; agents join with the agent token, which the server admits
  // for agents only. Their paths; empty when k3s is off (and the server's, on a worker).
  struct K3sTokens {
    std::string server, agent;
  };
  static K3sTokens AddK3sTokens(const providers::NodeRequest& r, bool lighthouse,
                                provision::ResourceList& out, std::vector<std::string>& deps) {
    K3sTokens paths;
    if (!K3sOn(r.fleet)) return paths;
    auto add = [&](const std::string& id, const std::string& what) {
      std::string path = r.paths.AwsDir() + "/" + id;
      if (!HasResource(out, id))
        out.push_back(MakeGeneratedSecretFile(id, what + ", " + path, path));
      deps.push_back(id);
      return path;
    };
    paths.agent = add("k3s-agent-token", "k3s agent join token");
    if (lighthouse) paths.server = add("k3s-token", "k3s server token (the server's only)");
    return paths;
  }

  // What the node boots: its pool's own image (e.g. from `render packer`); else for a GPU
  // worker the latest Deep Learning Base image (its driver stack: providers.aws.ami is a plain
  // image for the others), for the rest providers.aws.ami or the latest Amazon Linux 2023. A
  // lookup is added once per image family where no image is named, and the node depends on it.
  struct BootImage {
    std::string ami;   // named in fleet.yaml; "" = looked up
    std::string hint;  // what the lookup recorded last time
    ImageFamily family;
  };
  BootImage AddBootImage(const providers::NodeRequest& r, const std::string& arch,
                         const Target& target, provision::ResourceList& out,
                         std::vector<std::string>& deps) const {
    const spec::PoolSpec* pool = PoolOf(r.fleet, r.node);
    const bool gpu = r.node.pool_type == spec::PoolType::kGpuWorker;
    BootImage image{.ami = pool != nullptr ? pool->image : "", .family = ImageFamilyFor(arch, gpu)};
    if (image.ami.empty() && !gpu) image.ami = r.fleet.aws.ami;
    if (!image.ami.empty()) return image;
    const std::string image_id = "aws-image/" + image.family.key;
    if (!HasResource(out, image_id))
      out.push_back(MakeImageLookup(target, sessions_, image.family));
    deps.push_back(image_id);
    auto rec = r.state.resources.find(image_id);
    if (rec != r.state.resources.end()) image.hint = rec->second.attrs.value("image_id", "");
    return image;
  }

  void AddNodeResources(const providers::NodeRequest& r,
                        provision::ResourceList& out) const override {
    const spec::FleetSpec& fleet = r.fleet;
    const Target target = TargetOf(fleet);
    const std::string type = InstanceTypeOf(fleet, r.node);
    const std::string arch = ArchOf(type);
    std::vector<std::string> deps = r.deps;

    if (!HasResource(out, "aws-sg")) out.push_back(MakeSecurityGroup(fleet, target, sessions_));
    if (!HasResource(out, "aws-key"))
      out.push_back(MakeKeyPair(fleet, target, sessions_,
                                r.paths.AwsDir() + "/" + KeyPairName(fleet.name) + ".pem"));
    // The agent's token is signed at launch with the fleet's enrollment key.
    deps.insert(deps.end(), {"aws-sg", "aws-key", provision::kEnrollmentKeyId});

    const spec::PoolSpec* pool = PoolOf(fleet, r.node);
    const BootImage image = AddBootImage(r, arch, target, out, deps);

    const bool lighthouse = r.node.role == mesh::Role::kLighthouse;
    const K3sTokens k3s = AddK3sTokens(r, lighthouse, out, deps);
    // ClusterMesh with this k3s as the cloud cluster: Cilium is its CNI instead of flannel.
    const spec::FederationSpec& fm = fleet.federation;
    const bool cilium =
        fm.mode == spec::FederationMode::kClusterMesh && fm.cloud_kubeconfig.empty();

    int root_gb = r.node.pool_type == spec::PoolType::kGpuWorker ? 100 : 30;
    if (pool != nullptr) {
      if (pool->root_volume_gb > 0) root_gb = pool->root_volume_gb;
      const std::string quota_id = "aws-quota/" + pool->name;
      if (!HasResource(out, quota_id)) out.push_back(MakeQuotaCheck(*pool, target, sessions_));
      deps.push_back(quota_id);
    }

    const bool serves = pool != nullptr && !pool->models.empty();  // Ollama on the node
    const NodeFilesOnDisk files{.ca = r.paths.CaCert(),
                                .cert = r.paths.HostCert(r.node.name),
                                .key = r.paths.HostKey(r.node.name),
                                .config = r.paths.NebulaConfig(r.node.name)};
    const bool secrets_manager = fleet.aws.nebula_material == spec::NebulaMaterial::kSecretsManager;
    if (secrets_manager) {
      out.push_back(MakeNodeSecret({.fleet = fleet.name,
                                    .target = target,
                                    .sessions = sessions_,
                                    .node = r.node,
                                    .files = files,
                                    .lighthouse_endpoint = r.lighthouse_endpoint,
                                    .deps = r.deps}));
      deps.push_back("aws-secret/" + r.node.name);
    }

    out.push_back(MakeInstance(
        {.fleet = fleet.name,
         .target = target,
         .sessions = sessions_,
         .node = r.node,
         .instance_type = type,
         .arch = arch,
         .ami = image.ami,
         .image_hint = image.hint,
         .image = image.family,
         .subnet_id = fleet.aws.subnet_id,
         .iam_instance_profile = fleet.aws.iam_instance_profile,
         .root_volume_gb = root_gb,
         .spot = pool != nullptr && pool->spot,
         .on_demand_fallback = pool != nullptr && pool->on_demand_fallback,
         .files = files,
         .secrets_manager = secrets_manager,
         .lighthouse_endpoint = r.lighthouse_endpoint,
         .nebula_version = fleet.aws.nebula_version,
         .agent_url = fleet.aws.agent_url,
         .agent_sha256 = AgentDigest(fleet.aws, arch),
         .mirror = fleet.aws.mirror,
         .control_plane = providers::ControlPlaneAddress(fleet),
         .enrollment = r.enrollment,
         .k3s_version = fleet.aws.k3s_version,
         .k3s_server_token_path = k3s.server,
         .k3s_agent_token_path = k3s.agent,
         .k3s_server = lighthouse,
         .k3s_server_ip = FormatIpv4(mesh::LighthouseIp(fleet)),
         .cilium_version = cilium ? fm.clustermesh.cilium_version : "",
         .cilium_cli_version = fm.clustermesh.cilium_cli_version,
         .cluster_name = fm.cloud.name,
         .cluster_id = fm.cloud.id,
         .clustermesh_port = fm.cloud.clustermesh_port,
         .device_plugin_image = lighthouse && !k3s.agent.empty() && HasAwsGpuPool(fleet)
                                    ? fleet.aws.device_plugin_image
                                    : "",
         .ollama_version = serves ? fleet.aws.ollama_version : "",
         .models = serves ? pool->models : std::vector<std::string>{},
         .keep_alive = serves ? pool->keep_alive : "",
         .models_volume_gb = serves ? pool->models_volume_gb : 0,
         // A one-time spot instance cannot be stopped: it is terminated and launched again.
         .stop_keeps_volumes = pool != nullptr && pool->scaling.enabled && !pool->spot &&
                               pool->scaling.stop == spec::StopMode::kStop,
         .deps = deps}));
    if (lighthouse) {
      out.push_back(MakeElasticIp(fleet.name, target, sessions_));
      out.push_back(MakeElasticIpAssociation(fleet.name, target, sessions_));
    }
  }

  void RegisterKinds(provision::KindRegistry& kinds) const override {
    RegisterAwsKinds(kinds, sessions_);
  }

  // The security group's openings, whichever provider the fleet's nodes are on.
  std::vector<providers::DoctorCheck> DeploymentChecks(
      const providers::DoctorRequest& request) const override {
    std::vector<providers::DoctorCheck> checks;
    for (const auto& cidr : request.fleet.aws.operator_cidrs) {
      if (cidr.PrefixLength() != 0) continue;
      checks.push_back(providers::DoctorCheck::Fail(
          "security group",
          "providers.aws.operator_cidrs opens SSH, 6443, 8080 and 32379 to the whole internet "
          "(0.0.0.0/0)",
          "name your own address (e.g. 203.0.113.7/32) or rely on the mesh"));
    }
    return checks;
  }

  std::map<std::string, providers::NodeObservation> ObserveNodes(
      const spec::FleetSpec& fleet, const provision::FleetState& state,
      const std::vector<mesh::NodePlan>& nodes, uint32_t /*lighthouse*/,
      uint32_t /*homelab*/) const override {
    std::map<std::string, providers::NodeObservation> out;
    auto session = sessions_->For(TargetOf(fleet));
    session->InvalidateInstances();
    // FleetInstances connects first and carries the reason when it cannot.
    Result<std::map<std::string, aws::Instance>> instances = session->FleetInstances(fleet.name);
    for (const auto& node : nodes) {
      providers::NodeObservation& o = out[node.name];
      const std::string id = "instance/" + node.name;
      o.created = state.resources.count(id) != 0;
      if (!instances.ok()) {
        o.problem = "cannot read it back from AWS: " + instances.status().message();
        continue;
      }
      auto it = instances->find(id);
      if (it == instances->end()) {
        o.problem = o.created ? "its instance is gone (terminated outside carrierarr?); "
                                "'carrierarr up' launches it again"
                              : "not created; run 'carrierarr up'";
        continue;
      }
      const aws::Instance& i = it->second;
      o.running = i.state == "running";
      o.underlay = i.public_ip;
      o.detail = i.id + " " + i.state + " (" + i.type + ")";
      if (!o.running) o.problem = "its instance is " + i.state;
    }
    return out;
  }

  Result<std::vector<std::string>> Leftovers(const spec::FleetSpec& fleet) const override {
    auto left = TaggedLeftovers(fleet);
    if (!left.ok()) return left.status().WithPrefix("checking what is left in AWS");
    return left;
  }

 private:
  // Everything in AWS that still carries the fleet's tag (and the secrets by their names).
  Result<std::vector<std::string>> TaggedLeftovers(const spec::FleetSpec& fleet) const {
    auto session = sessions_->For(TargetOf(fleet));
    CARRIERARR_RETURN_IF_ERROR(session->Connect());
    aws::Ec2& ec2 = session->ec2();
    const std::vector<aws::Filter> tagged{
        {.name = std::string("tag:") + kFleetTag, .values = {fleet.name}}};
    std::vector<std::string> left;
    session->InvalidateInstances();
    auto instances = session->FleetInstances(fleet.name);
    if (!instances.ok()) return instances.status();
    for (const auto& [id, i] : *instances) left.push_back("instance " + i.id + " (" + id + ")");
    auto groups = ec2.DescribeSecurityGroups(tagged);
    if (!groups.ok()) return groups.status();
    for (const auto& g : *groups) left.push_back("security group " + g.id + " (" + g.name + ")");
    auto keys = ec2.DescribeKeyPairs(tagged);
    if (!keys.ok()) return keys.status();
    for (const auto& k : *keys) left.push_back("key pair " + k.name);
    auto addresses = ec2.DescribeAddresses(tagged);
    if (!addresses.ok()) return addresses.status();
    for (const auto& a : *addresses)
      left.push_back("Elastic IP " + a.public_ip + " (" + a.allocation_id + ")");
    auto nodes = mesh::PlanNodes(fleet, {});
    if (nodes.ok()) {
      for (const auto& n : *nodes) {
        auto secret = session->secrets().DescribeSecret(SecretName(fleet.name, n.name));
        if (secret.ok() && !secret->scheduled_for_deletion)
          left.push_back("secret " + secret->name);
      }
    }
    return left;
  }

 private:
  std::shared_ptr<SessionFactory> sessions_;  // shared with the resources and deleters it makes
};

std::string Override(const Seams& seams, const char* key) {
  auto it = seams.overrides.find(key);
  return it == seams.overrides.end() ? "" : it->second;
}

}  // namespace

std::unique_ptr<providers::Provider> MakeAwsProvider(const Seams& seams) {
  Target overrides{.region = Override(seams, kRegionOverride),
                   .profile = Override(seams, kProfileOverride),
                   .endpoint_url = Override(seams, kEndpointOverride)};
  // Also for callers that never parsed the flags.
  if (overrides.endpoint_url.empty())
    overrides.endpoint_url = seams.environment.Get("CARRIERARR_AWS_ENDPOINT");
  return MakeAwsProviderWith(
      std::make_shared<SessionFactory>(SessionDeps{.make_transport = aws::MakeCurlTransport,
                                                   .environment = seams.environment,
                                                   .time = seams.time,
                                                   .processes = seams.processes,
                                                   .overrides = std::move(overrides)}));
}

std::unique_ptr<providers::Provider> MakeAwsProviderWith(std::shared_ptr<SessionFactory> sessions) {
  return std::make_unique<AwsProvider>(std::move(sessions));
}

bool K3sOn(const spec::FleetSpec& fleet) {
  return fleet.aws.k3s && fleet.lighthouse.provider == kName;
}

std::string AgentDigest(const spec::AwsProviderSpec& aws, const std::string& arch) {
  auto it = aws.agent_sha256_by_arch.find(arch);
  return it == aws.agent_sha256_by_arch.end() ? aws.agent_sha256 : it->second;
}

std::string ArchOf(const std::string& instance_type) {
  // The family is the part before the '.'; Graviton families carry a 'g' after the generation
  // digit ("t4g", "c7gn", "g5g"); "g4dn" is a GPU family on x86.
  std::string family = instance_type.substr(0, instance_type.find('.'));
  size_t digit = family.find_first_of("0123456789");
  if (digit == std::string::npos) return "x86_64";
  return family.find('g', digit) != std::string::npos ? "arm64" : "x86_64";
}

}  // namespace carrierarr::aws_provider
