// The AWS provider's resources (resources.cc). Each finds its AWS object again by the
// carrierarr:resource tag (or a fixed name), so Create() adopts what an interrupted run made
// instead of making a second one, and each records its Target so `down` needs only the state.
#ifndef CARRIERARR_PROVIDERS_AWS_RESOURCES_H_
#define CARRIERARR_PROVIDERS_AWS_RESOURCES_H_

#include <memory>
#include <string>
#include <vector>

#include "aws/ec2.h"
#include "mesh/address_plan.h"
#include "providers/aws/session.h"
#include "providers/enrollment.h"
#include "providers/provider.h"
#include "provision/resource.h"

namespace carrierarr::aws_provider {

// Name, carrierarr:fleet and carrierarr:resource.
aws::Tags BaseTags(const std::string& fleet, const std::string& resource_id,
                   const std::string& name);
std::string SecurityGroupName(const std::string& fleet);  // "carrierarr-<fleet>"
std::string KeyPairName(const std::string& fleet);        // "carrierarr-<fleet>"
std::string SecretName(const std::string& fleet, const std::string& node);

// The security group's rules: Nebula's UDP port from anywhere, SSH, k3s, agent health and
// ClusterMesh only from the mesh and the operator's CIDRs.
std::vector<aws::IngressRule> SecurityGroupRules(const spec::FleetSpec& fleet);

// Every resource records `target` and makes its calls through `sessions` (the provider's).
std::unique_ptr<provision::Resource> MakeSecurityGroup(const spec::FleetSpec& fleet,
                                                       const Target& target,
                                                       std::shared_ptr<SessionFactory> sessions);
std::unique_ptr<provision::Resource> MakeKeyPair(const spec::FleetSpec& fleet, const Target& target,
                                                 std::shared_ptr<SessionFactory> sessions,
                                                 const std::string& pem_path);
// The images nodes boot when fleet.yaml names none, found by name and owner (amazon), newest
// first: Amazon Linux 2023, or for a GPU worker AWS's Deep Learning Base OSS Nvidia Driver GPU
// AMI (Amazon Linux 2023), which has the NVIDIA driver and container toolkit (nothing is built
// at first boot).
struct ImageFamily {
  std::string key;          // "x86_64", "gpu-arm64": aws-image/<key>
  std::string arch;         // x86_64 | arm64
  std::string description;  // "Amazon Linux 2023"
  std::string name;         // the DescribeImages name filter
};
ImageFamily ImageFamilyFor(const std::string& arch, bool gpu);
std::unique_ptr<provision::Resource> MakeImageLookup(const Target& target,
                                                     std::shared_ptr<SessionFactory> sessions,
                                                     const ImageFamily& family);
// Stops the plan when the pool's vCPU quota cannot hold it (the seeds' Phase 6).
std::unique_ptr<provision::Resource> MakeQuotaCheck(const spec::PoolSpec& pool,
                                                    const Target& target,
                                                    std::shared_ptr<SessionFactory> sessions);
// A random shared secret kept 0600 in the state directory (the k3s tokens).
std::unique_ptr<provision::Resource> MakeGeneratedSecretFile(const std::string& id,
                                                             const std::string& summary,
                                                             const std::string& path);

struct NodeFilesOnDisk {
  std::string ca, cert, key, config;  // local paths under the state directory
};

struct SecretParams {
  std::string fleet;
  Target target;
  std::shared_ptr<SessionFactory> sessions;
  mesh::NodePlan node;
  NodeFilesOnDisk files;
  std::string lighthouse_endpoint;
  std::vector<std::string> deps;
};
std::unique_ptr<provision::Resource> MakeNodeSecret(const SecretParams& params);

struct InstanceParams {
  std::string fleet;
  Target target;
  std::shared_ptr<SessionFactory> sessions;
  mesh::NodePlan node;
  std::string instance_type, arch;
  std::string ami;         // fleet.yaml's; "" = image_hint or the latest of `image`
  std::string image_hint;  // what aws-image/<image.key> recorded
  ImageFamily image;
  std::string subnet_id, iam_instance_profile;
  int root_volume_gb = 30;
  bool spot = false;
  // With spot: a launch refused for want of spot capacity (or price) is made on-demand; the
  // record's "market" says which it got.
  bool on_demand_fallback = false;
  NodeFilesOnDisk files;
  bool secrets_manager = false;  // fetch the material at boot instead of embedding it
  std::string lighthouse_endpoint;
  std::string nebula_version, agent_url, agent_sha256;
  std::string mirror;         // "" = github.com; also the base of an agent_url that is a path
  std::string control_plane;  // agents' address over the mesh
  std::shared_ptr<const providers::EnrollmentMinter> enrollment;  // the agent's token
  std::string k3s_version;
  std::string k3s_server_token_path;  // the server's own token: the server only ("" elsewhere)
  std::string k3s_agent_token_path;   // "" = no k3s
  bool k3s_server = false;
  std::string k3s_server_ip;
  // ClusterMesh: Cilium instead of flannel (UserdataParams); "" = flannel.
  std::string cilium_version, cilium_cli_version, cluster_name;
  int cluster_id = 0;
  uint16_t clustermesh_port = 0;
  std::string device_plugin_image;  // the k3s server of a fleet with GPU workers (UserdataParams)
  // A pool with models: Ollama on the node (UserdataParams), its models on a second volume of
  // models_volume_gb (0 = on the root volume). ollama_version "" = no Ollama.
  std::string ollama_version;
  std::vector<std::string> models;
  std::string keep_alive;
  int models_volume_gb = 0;
  // Scale to zero (ops/power.h): true: powering it off stops the instance, keeping its volumes
  // (a scaled pool's `stop: stop`, on-demand); false: it is terminated.
  bool stop_keeps_volumes = false;
  std::vector<std::string> deps;
};
std::unique_ptr<provision::Resource> MakeInstance(const InstanceParams& params);
// Powers an "aws-instance" record off: StopInstances (its attrs' "stop" is "stop") until it is
// stopped, else TerminateInstances; returns the attributes to record.
Result<nlohmann::json> PowerOffInstance(SessionFactory& sessions, const nlohmann::json& attrs);

std::unique_ptr<provision::Resource> MakeElasticIp(const std::string& fleet, const Target& target,
                                                   std::shared_ptr<SessionFactory> sessions);
std::unique_ptr<provision::Resource> MakeElasticIpAssociation(
    const std::string& fleet, const Target& target, std::shared_ptr<SessionFactory> sessions);

// Deleters for every kind above; they reach AWS through `sessions`.
void RegisterAwsKinds(provision::KindRegistry& kinds, std::shared_ptr<SessionFactory> sessions);

}  // namespace carrierarr::aws_provider

#endif  // CARRIERARR_PROVIDERS_AWS_RESOURCES_H_
