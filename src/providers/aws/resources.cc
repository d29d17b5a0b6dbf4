#include "providers/aws/resources.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <set>

#include "core/file_util.h"
#include "core/ipv4.h"
#include "pki/crypto.h"
#include "providers/aws/aws_provider.h"
#include "providers/aws/secret_policy.h"
#include "providers/aws/userdata.h"

namespace carrierarr::aws_provider {
namespace {

using Json = nlohmann::json;

// How long `up` and `down` wait for EC2 (bounded: a stuck instance fails the step).
constexpr std::chrono::seconds kLaunchWait(600);
constexpr std::chrono::seconds kTerminateWait(600);
constexpr std::chrono::seconds kDependencyWait(300);

std::string ShortDigest(const std::string& material) {
  return pki::HexEncode(pki::Sha256(material)).substr(0, 16);
}

aws::Filter TagFilter(const std::string& key, const std::string& value) {
  return {.name = "tag:" + key, .values = {value}};
}

std::vector<aws::Filter> OwnedBy(const std::string& fleet, const std::string& resource_id) {
  return {TagFilter(kFleetTag, fleet), TagFilter(kResourceTag, resource_id)};
}

// The fleet's one object tagged `resource_id`, if any, by `describe` (an Ec2::Describe*).
template <typename T>
Result<std::optional<T>> FindOwned(
    Session& s, Result<std::vector<T>> (aws::Ec2::*describe)(const std::vector<aws::Filter>&),
    const std::string& fleet, const std::string& resource_id) {
  auto found = (s.ec2().*describe)(OwnedBy(fleet, resource_id));
  if (!found.ok()) return found.status();
  if (found->empty()) return std::optional<T>();
  return std::optional<T>(std::move(found->front()));
}

// Common to every AWS resource: its target, recorded so `down` reaches the same account, and the
// provider's sessions its calls go through.
class AwsResource : public provision::Resource {
 public:
  AwsResource(std::string fleet, Target target, std::shared_ptr<SessionFactory> sessions)
      : fleet_(std::move(fleet)), target_(std::move(target)), sessions_(std::move(sessions)) {}
  Json attrs() const override {
    Json a = target_.ToJson();
    a["fleet"] = fleet_;
    a["summary"] = summary();
    return a;
  }

 protected:
  Result<std::shared_ptr<Session>> Connect() const { return Connected(*sessions_, target_); }

  std::string fleet_;
  Target target_;
  std::shared_ptr<SessionFactory> sessions_;
};

// ---- security group ---------------------------------------------------------------------

std::string RuleKey(const aws::IngressRule& r) {
  return r.protocol + "|" + std::to_string(r.from_port) + "|" + std::to_string(r.to_port) + "|" +
         r.cidr;
}

Result<std::optional<aws::SecurityGroup>> FindGroup(Session& s, const std::string& fleet) {
  return FindOwned(s, &aws::Ec2::DescribeSecurityGroups, fleet, "aws-sg");
}

class SecurityGroupResource final : public AwsResource {
 public:
  SecurityGroupResource(const spec::FleetSpec& fleet, const Target& target,
                        std::shared_ptr<SessionFactory> sessions)
      : AwsResource(fleet.name, target, std::move(sessions)),
        vpc_id_(fleet.aws.vpc_id),
        rules_(SecurityGroupRules(fleet)) {}
  std::string id() const override { return "aws-sg"; }
  std::string kind() const override { return "aws-security-group"; }
  std::string summary() const override {
    return "security group " + SecurityGroupName(fleet_) + " (" + std::to_string(rules_.size()) +
           " ingress rules: udp 4242 from anywhere, the rest from the mesh" +
           (rules_.size() > 5 ? " and operator CIDRs" : "") + ")";
  }
  std::vector<std::string> deps() const override { return {}; }
  std::string hash() const override {
    std::string h = SecurityGroupName(fleet_) + "|" + vpc_id_;
    for (const auto& r : rules_) h += "|" + RuleKey(r);
    return h;
  }
  Result<bool> Exists() const override {
    auto s = Connect();
    if (!s.ok()) return s.status();
    auto group = FindGroup(**s, fleet_);
    if (!group.ok()) return group.status();
    return group->has_value() && Keys((*group)->ingress) == Keys(rules_);
  }
  Result<Json> Create() override {
    auto s = Connect();
    if (!s.ok()) return s.status();
    Session& session = **s;
    auto group = FindGroup(session, fleet_);
    if (!group.ok()) return group.status();
    aws::SecurityGroup g;
    if (group->has_value()) {
      g = **group;
    } else {
      std::string vpc = vpc_id_;
      if (vpc.empty()) {
        auto found = session.ec2().DefaultVpc();
        if (!found.ok()) return found.status();
        vpc = *found;
      }
      const std::string name = SecurityGroupName(fleet_);
      auto created = session.ec2().CreateSecurityGroup(
          name, "carrierarr fleet " + fleet_ + ": Nebula from anywhere, the rest from the mesh",
          vpc, BaseTags(fleet_, id(), name));
      if (!created.ok() && created.status().code() == StatusCode::kAlreadyExists) {
        return Status::AlreadyExists("a security group named " + name + " exists in " + vpc +
                                     " but carries no carrierarr tags for fleet " + fleet_ +
                                     ": delete it or rename the fleet");
      }
      if (!created.ok()) return created.status();
      g.id = *created;
      g.vpc_id = vpc;
    }
    // Make the rules exactly the desired set: add what is missing, revoke what someone added.
    std::set<std::string> want = Keys(rules_);
    std::set<std::string> have = Keys(g.ingress);
    std::vector<aws::IngressRule> add, remove;
    for (const auto& r : rules_)
      if (have.count(RuleKey(r)) == 0) add.push_back(r);
    for (const auto& r : g.ingress)
      if (want.count(RuleKey(r)) == 0) remove.push_back(r);
    if (!add.empty()) CARRIERARR_RETURN_IF_ERROR(session.ec2().AuthorizeIngress(g.id, add));
    if (!remove.empty()) CARRIERARR_RETURN_IF_ERROR(session.ec2().RevokeIngress(g.id, remove));
    session.Remember("security-group", g.id);
    Json a = attrs();
    a["group_id"] = g.id;
    a["vpc_id"] = g.vpc_id;
    return a;
  }

 private:
  static std::set<std::string> Keys(const std::vector<aws::IngressRule>& rules) {
    std::set<std::string> keys;
    for (const auto& r : rules) keys.insert(RuleKey(r));
    return keys;
  }
  std::string vpc_id_;
  std::vector<aws::IngressRule> rules_;
};

Status DeleteSecurityGroup(SessionFactory& sessions, const Json& attrs) {
  auto s = Connected(sessions, Target::FromJson(attrs));
  if (!s.ok()) return s.status();
  std::string group_id = attrs.value("group_id", "");
  if (group_id.empty()) {  // interrupted before it was recorded: find it by its tags
    auto group = FindGroup(**s, attrs.value("fleet", ""));
    if (!group.ok()) return group.status();
    if (!group->has_value()) return Status::Ok();
    group_id = (*group)->id;
  }
  // Instances that use the group release it only once they are terminated.
  Status last;
  Status waited =
      (*s)->Poll("deleting security group " + group_id, kDependencyWait, [&]() -> Result<bool> {
        last = (*s)->ec2().DeleteSecurityGroup(group_id);
        if (last.ok()) return true;
        if (aws::HasAwsCode(last, aws::kDependencyViolation)) return false;
        return last;
      });
  if (!waited.ok() && !last.ok()) return last.WithPrefix(waited.message());
  return waited;
}

// ---- key pair ---------------------------------------------------------------------------

class KeyPairResource final : public AwsResource {
 public:
  KeyPairResource(const spec::FleetSpec& fleet, const Target& target,
                  std::shared_ptr<SessionFactory> sessions, std::string pem_path)
      : AwsResource(fleet.name, target, std::move(sessions)),
        key_type_(fleet.aws.key_type),
        pem_(std::move(pem_path)) {}
  std::string id() const override { return "aws-key"; }
  std::string kind() const override { return "aws-key-pair"; }
  std::string summary() const override {
    return "key pair " + KeyPairName(fleet_) + " (" + key_type_ + "), private key in " + pem_;
  }
  std::vector<std::string> deps() const override { return {}; }
  std::string hash() const override { return KeyPairName(fleet_) + "|" + key_type_ + "|" + pem_; }
  Json attrs() const override {
    Json a = AwsResource::attrs();
    a["key_name"] = KeyPairName(fleet_);
    a["pem_path"] = pem_;
    return a;
  }
  Result<bool> Exists() const override {
    if (access(pem_.c_str(), F_OK) != 0) return false;
    auto s = Connect();
    if (!s.ok()) return s.status();
    auto keys =
        (*s)->ec2().DescribeKeyPairs({{.name = "key-name", .values = {KeyPairName(fleet_)}}});
    if (!keys.ok()) return keys.status();
    return !keys->empty();
  }
  Result<Json> Create() override {
    auto s = Connect();
    if (!s.ok()) return s.status();
    const std::string name = KeyPairName(fleet_);
    auto keys = (*s)->ec2().DescribeKeyPairs({{.name = "key-name", .values = {name}}});
    if (!keys.ok()) return keys.status();
    if (!keys->empty()) {
      if (access(pem_.c_str(), F_OK) == 0) return attrs();
      // AWS keeps no copy of the private key: without ours the pair is useless. Only ours
      // (tagged for this fleet) is replaced.
      bool ours = false;
      for (const auto& t : keys->front().tags)
        ours = ours || (t.key == kFleetTag && t.value == fleet_);
      if (!ours) {
        return Status::AlreadyExists("a key pair named " + name +
                                     " exists and is not this fleet's: delete it or rename "
                                     "the fleet");
      }
      CARRIERARR_RETURN_IF_ERROR((*s)->ec2().DeleteKeyPair(name));
    }
    auto created = (*s)->ec2().CreateKeyPair(name, key_type_, BaseTags(fleet_, id(), name));
    if (!created.ok()) return created.status();
    CARRIERARR_RETURN_IF_ERROR(WriteFileAtomic(pem_, created->material, 0600));
    return attrs();
  }

 private:
  std::string key_type_, pem_;
};

Status DeleteKeyPair(SessionFactory& sessions, const Json& attrs) {
  auto s = Connected(sessions, Target::FromJson(attrs));
  if (!s.ok()) return s.status();
  CARRIERARR_RETURN_IF_ERROR((*s)->ec2().DeleteKeyPair(attrs.value("key_name", "")));
  std::string pem = attrs.value("pem_path", "");
  if (!pem.empty() && unlink(pem.c_str()) != 0 && errno != ENOENT)
    return Status::PermissionDenied("cannot remove " + pem + ": " + std::strerror(errno));
  return Status::Ok();
}

// ---- image lookup -----------------------------------------------------------------------

Result<aws::Image> LatestImage(Session& s, const ImageFamily& family) {
  auto images = s.ec2().DescribeImages("amazon", {{.name = "name", .values = {family.name}},
                                                  {.name = "architecture", .values = {family.arch}},
                                                  {.name = "state", .values = {"available"}}});
  if (!images.ok()) return images.status();
  if (images->empty()) {
    return Status::NotFound("no " + family.description + " image for " + family.arch + " in " +
                            s.region() + ": name one with the pool's image or providers.aws.ami");
  }
  return images->front();  // newest first
}

class ImageLookupResource final : public AwsResource {
 public:
  ImageLookupResource(const Target& target, std::shared_ptr<SessionFactory> sessions,
                      ImageFamily family)
      : AwsResource("", target, std::move(sessions)), family_(std::move(family)) {}
  std::string id() const override { return "aws-image/" + family_.key; }
  std::string kind() const override { return "aws-image"; }
  std::string summary() const override {
    return "look up the latest " + family_.description + " image for " + family_.arch;
  }
  std::vector<std::string> deps() const override { return {}; }
  std::string hash() const override { return family_.key; }
  // A lookup has nothing that can drift; a new image is picked up by instances made later.
  Result<bool> Exists() const override { return true; }
  Result<Json> Create() override {
    auto s = Connect();
    if (!s.ok()) return s.status();
    auto image = LatestImage(**s, family_);
    if (!image.ok()) return image.status();
    (*s)->Remember("image/" + family_.key, image->id);
    Json a = attrs();
    a["image_id"] = image->id;
    a["image_name"] = image->name;
    return a;
  }

 private:
  ImageFamily family_;
};

// ---- vCPU quota -------------------------------------------------------------------------

class QuotaCheckResource final : public AwsResource {
 public:
  QuotaCheckResource(const spec::PoolSpec& pool, const Target& target,
                     std::shared_ptr<SessionFactory> sessions)
      : AwsResource("", target, std::move(sessions)), pool_(pool) {}
  std::string id() const override { return "aws-quota/" + pool_.name; }
  std::string kind() const override { return "aws-quota-check"; }
  std::string summary() const override {
    aws::VcpuQuota q = aws::VcpuQuotaFor(pool_.instance_type, pool_.spot);
    return "check the vCPU quota " + q.code + " (" + q.name + ") holds " +
           std::to_string(pool_.count) + " x " + pool_.instance_type;
  }
  std::vector<std::string> deps() const override { return {}; }
  std::string hash() const override {
    return pool_.instance_type + "|" + std::to_string(pool_.count) + "|" +
           (pool_.spot ? "spot" : "on-demand");
  }
  Result<bool> Exists() const override { return true; }  // checked again when the pool changes
  Result<Json> Create() override {
    auto s = Connect();
    if (!s.ok()) return s.status();
    aws::VcpuQuota q = aws::VcpuQuotaFor(pool_.instance_type, pool_.spot);
    auto value = (*s)->quotas().GetServiceQuota("ec2", q.code);
    if (!value.ok()) return value.status();
    const int per_instance = aws::VcpusOf(pool_.instance_type).value_or(1);
    const int needed = per_instance * pool_.count;
    if (*value < needed) {
      const std::string region = (*s)->region();
      return Status::FailedPrecondition(
          "pool " + pool_.name + " needs " + std::to_string(needed) + " vCPUs of " +
          pool_.instance_type + " but the quota " + q.code + " (" + q.name + ") in " + region +
          " is " + std::to_string(static_cast<int>(*value)) +
          ": request more with 'aws service-quotas request-service-quota-increase "
          "--service-code ec2 --quota-code " +
          q.code + " --desired-value " + std::to_string(needed) + " --region " + region +
          "' (or the Service Quotas console); approval can take a day, nothing was launched");
    }
    Json a = attrs();
    a["quota_code"] = q.code;
    a["quota_value"] = *value;
    return a;
  }

 private:
  spec::PoolSpec pool_;
};

// ---- generated secret file --------------------------------------------------------------

class GeneratedSecretFileResource final : public provision::Resource {
 public:
  GeneratedSecretFileResource(std::string id, std::string summary, std::string path)
      : id_(std::move(id)), summary_(std::move(summary)), path_(std::move(path)) {}
  std::string id() const override { return id_; }
  std::string kind() const override { return "file"; }  // removed like any other file
  std::string summary() const override { return summary_; }
  std::vector<std::string> deps() const override { return {}; }
  std::string hash() const override { return path_; }
  Json attrs() const override { return {{"path", path_}}; }
  Result<bool> Exists() const override { return access(path_.c_str(), R_OK) == 0; }
  Result<Json> Create() override {
    if (access(path_.c_str(), R_OK) == 0) return attrs();  // keep it: nodes joined with it
    auto bytes = pki::RandomBytes(32);
    if (!bytes.ok()) return bytes.status();
    CARRIERARR_RETURN_IF_ERROR(WriteFileAtomic(path_, pki::HexEncode(*bytes) + "\n", 0600));
    return attrs();
  }

 private:
  std::string id_, summary_, path_;
};

// ---- per-node secret --------------------------------------------------------------------

// A secret's value until its instance is launched: no material, so nothing to leak.
constexpr char kSealedSecretValue[] =
    R"({"carrierarr":"sealed until the node's instance is launched"})";

Result<UserdataParams> MaterialFromFiles(const NodeFilesOnDisk& files) {
  UserdataParams p;
  for (auto [path, out] :
       {std::pair{&files.ca, &p.ca_crt}, std::pair{&files.cert, &p.host_crt},
        std::pair{&files.key, &p.host_key}, std::pair{&files.config, &p.nebula_config}}) {
    auto text = ReadFile(*path);
    if (!text.ok()) return text.status();
    *out = std::move(*text);
  }
  return p;
}

class NodeSecretResource final : public AwsResource {
 public:
  explicit NodeSecretResource(SecretParams p)
      : AwsResource(p.fleet, p.target, p.sessions), p_(std::move(p)) {}
  std::string id() const override { return "aws-secret/" + p_.node.name; }
  std::string kind() const override { return "aws-secret"; }
  std::string summary() const override {
    return "secret " + SecretName(fleet_, p_.node.name) + " for " + p_.node.name +
           "'s Nebula key and tokens, readable by its own instance only";
  }
  std::vector<std::string> deps() const override { return p_.deps; }
  std::string hash() const override {
    return SecretName(fleet_, p_.node.name) + "|" + p_.lighthouse_endpoint;
  }
  Json attrs() const override {
    Json a = AwsResource::attrs();
    a["secret_name"] = SecretName(fleet_, p_.node.name);
    return a;
  }
  Result<bool> Exists() const override {
    auto s = Connect();
    if (!s.ok()) return s.status();
    auto info = (*s)->secrets().DescribeSecret(SecretName(fleet_, p_.node.name));
    if (!info.ok() && info.status().code() == StatusCode::kNotFound) return false;
    if (!info.ok()) return info.status();
    return !info->scheduled_for_deletion;
  }
  // Made sealed: nobody reads it until the node's instance exists. The instance's launch
  // writes its content (the key and the tokens minted for that launch) and then names the
  // instance in its policy.
  Result<Json> Create() override {
    auto s = Connect();
    if (!s.ok()) return s.status();
    const std::string name = SecretName(fleet_, p_.node.name);
    auto created = (*s)->secrets().CreateSecret(
        name, kSealedSecretValue,
        "Nebula key and tokens of carrierarr fleet " + fleet_ + " node " + p_.node.name,
        BaseTags(fleet_, id(), name));
    if (!created.ok() && created.status().code() != StatusCode::kAlreadyExists)
      return created.status();
    CARRIERARR_RETURN_IF_ERROR(
        (*s)->secrets().PutResourcePolicy(name, SealedSecretPolicy().dump()));
    return attrs();
  }

 private:
  SecretParams p_;
};

Status DeleteSecret(SessionFactory& sessions, const Json& attrs) {
  auto s = Connected(sessions, Target::FromJson(attrs));
  if (!s.ok()) return s.status();
  return (*s)->secrets().DeleteSecret(attrs.value("secret_name", ""));
}

// ---- instance ---------------------------------------------------------------------------

Result<aws::Instance> WaitRunning(Session& s, const std::string& instance_id) {
  aws::Instance last;
  Status waited = s.Poll("instance " + instance_id + " to run", kLaunchWait, [&]() -> Result<bool> {
    auto found = s.ec2().DescribeInstances({instance_id}, {});
    if (!found.ok()) return found.status();
    if (found->empty()) return false;
    last = found->front();
    if (last.state == "running") return true;
    if (last.state == "pending") return false;
    return Status::FailedPrecondition("instance " + instance_id + " went to " + last.state +
                                      (last.state_reason.empty() ? "" : ": " + last.state_reason) +
                                      " instead of running");
  });
  if (!waited.ok()) return waited;
  return last;
}

class InstanceResource final : public AwsResource {
 public:
  explicit InstanceResource(InstanceParams p)
      : AwsResource(p.fleet, p.target, p.sessions), p_(std::move(p)) {}
  std::string id() const override { return "instance/" + p_.node.name; }
  std::string kind() const override { return "aws-instance"; }
  std::string summary() const override {
    return std::string(p_.spot ? (p_.on_demand_fallback ? "spot (else on-demand) " : "spot ")
                               : "") +
           p_.instance_type + " instance for " + p_.node.name + " (" + FormatIpv4(p_.node.mesh_ip) +
           "), " + p_.arch + (p_.ami.empty() ? "" : " " + p_.ami) + ", " +
           std::to_string(p_.root_volume_gb) + " GB encrypted, IMDSv2 (hop limit 1)" +
           (p_.ollama_version.empty()
                ? ""
                : ", Ollama " + p_.ollama_version +
                      (p_.models_volume_gb > 0
                           ? " (models on " + std::to_string(p_.models_volume_gb) + " GB gp3)"
                           : "")) +
           (p_.k3s_agent_token_path.empty() ? ""
            : p_.k3s_server                 ? ", k3s server"
                                            : ", k3s agent");
  }
  std::vector<std::string> deps() const override { return p_.deps; }
  std::string hash() const override {
    return p_.node.name + "|" + p_.instance_type + "|" + p_.arch + "|" + p_.ami + "|" +
           p_.subnet_id + "|" + p_.iam_instance_profile + "|" + std::to_string(p_.root_volume_gb) +
           "|" + (p_.spot ? "spot" : "") + "|" + (p_.secrets_manager ? "sm" : "ud") + "|" +
           p_.nebula_version + "|" + p_.agent_url + "|" + p_.agent_sha256 + "|" + p_.mirror + "|" +
           p_.control_plane + "|" + p_.k3s_version + "|" + p_.k3s_server_token_path + "|" +
           p_.k3s_agent_token_path + "|" + p_.k3s_server_ip + "|" + p_.lighthouse_endpoint +
           (p_.cilium_version.empty()
                ? ""
                : "|cilium " + p_.cilium_version + " " + p_.cilium_cli_version + " " +
                      p_.cluster_name + " " + std::to_string(p_.cluster_id) + " " +
                      std::to_string(p_.clustermesh_port)) +
           // Added only where they apply, so other nodes keep their hash across upgrades; a
           // GPU worker made before the driver image is replaced by one that boots it.
           (p_.image.key.rfind("gpu-", 0) == 0 ? "|" + p_.image.key : "") +
           (p_.device_plugin_image.empty() ? "" : "|device plugin " + p_.device_plugin_image) +
           (p_.ollama_version.empty() ? "" : "|ollama " + OllamaInputs());
  }
  Result<bool> Exists() const override {
    auto s = Connect();
    if (!s.ok()) return s.status();
    auto instances = (*s)->FleetInstances(fleet_);
    if (!instances.ok()) return instances.status();
    auto it = instances->find(id());
    return it != instances->end() && it->second.TagValue(kHashTag) == ShortDigest(hash()) &&
           (it->second.state == "running" || it->second.state == "pending");
  }
  Result<Json> Create() override {
    auto s = Connect();
    if (!s.ok()) return s.status();
    Session& session = **s;
    session.InvalidateInstances();
    auto instances = session.FleetInstances(fleet_);
    if (!instances.ok()) return instances.status();
    std::optional<aws::Instance> instance;
    if (auto it = instances->find(id()); it != instances->end()) {
      if (it->second.TagValue(kHashTag) == ShortDigest(hash())) {
        instance = it->second;  // launched by an interrupted run, or stopped: adopt it
        if (instance->state == "stopped" || instance->state == "stopping")
          CARRIERARR_RETURN_IF_ERROR(StartStopped(session, instance->id));
      } else {
        // Launched for other inputs by a run that was killed: never leave it running.
        CARRIERARR_RETURN_IF_ERROR(Terminate(session, it->second.id));
      }
    }
    if (!instance) {
      auto launched = Launch(session);
      if (!launched.ok()) return launched.status();
      instance = std::move(*launched);
    }
    // Its secret opens to it alone (again, for an adopted one: the run that launched it may
    // have been killed before this).
    if (p_.secrets_manager) CARRIERARR_RETURN_IF_ERROR(OpenSecretTo(session, *instance));
    const std::string instance_id = instance->id;
    session.InvalidateInstances();
    auto running = WaitRunning(session, instance_id);
    if (!running.ok()) return running.status();
    Json a = attrs();
    a["instance_id"] = instance_id;
    a["market"] = running->spot ? "spot" : "on-demand";
    a["public_ip"] = running->public_ip;
    a["private_ip"] = running->private_ip;
    return a;
  }
  Json attrs() const override {
    Json a = AwsResource::attrs();
    a["node"] = p_.node.name;
    a["stop"] = p_.stop_keeps_volumes ? "stop" : "terminate";
    return a;
  }

  // Waits until the instance has stopped (`stopping` passes), then starts it again.
  static Status StartStopped(Session& s, const std::string& instance_id) {
    CARRIERARR_RETURN_IF_ERROR(WaitStopped(s, instance_id));
    CARRIERARR_RETURN_IF_ERROR(s.ec2().StartInstances({instance_id}));
    s.InvalidateInstances();
    return Status::Ok();
  }

  static Status WaitStopped(Session& s, const std::string& instance_id) {
    return s.Poll("instance " + instance_id + " to stop", kTerminateWait, [&]() -> Result<bool> {
      auto found = s.ec2().DescribeInstances({instance_id}, {});
      if (!found.ok()) return found.status();
      if (found->empty() || found->front().state == "stopped") return true;
      if (found->front().state == "stopping") return false;
      return Status::FailedPrecondition("instance " + instance_id + " went to " +
                                        found->front().state + " instead of stopped");
    });
  }

  static Status Terminate(Session& s, const std::string& instance_id) {
    CARRIERARR_RETURN_IF_ERROR(s.ec2().TerminateInstances({instance_id}));
    s.InvalidateInstances();
    return s.Poll("instance " + instance_id + " to terminate", kTerminateWait,
                  [&]() -> Result<bool> {
                    auto found = s.ec2().DescribeInstances({instance_id}, {});
                    if (!found.ok() && found.status().code() == StatusCode::kNotFound) return true;
                    if (!found.ok()) return found.status();
                    return found->empty() || found->front().state == "terminated";
                  });
  }

 private:
  // The node's secret readable by `instance` and nobody else.
  Status OpenSecretTo(Session& s, const aws::Instance& instance) const {
    if (instance.owner_id.empty()) {
      return Status::DataLoss("ec2 did not name the account (ownerId) of " + instance.id +
                              ": its secret stays sealed; run 'carrierarr up' again");
    }
    const std::string arn = InstanceArn(s.region(), instance.owner_id, instance.id);
    return s.secrets().PutResourcePolicy(SecretName(fleet_, p_.node.name),
                                         NodeSecretPolicy(arn).dump());
  }

  Result<aws::Instance> Launch(Session& s) {
    std::string image = p_.ami.empty() ? p_.image_hint : p_.ami;
    if (image.empty()) image = s.Remembered("image/" + p_.image.key);
    if (image.empty()) {
      auto latest = LatestImage(s, p_.image);
      if (!latest.ok()) return latest.status();
      image = latest->id;
    }
    std::string group_id = s.Remembered("security-group");
    if (group_id.empty()) {
      auto group = FindGroup(s, fleet_);
      if (!group.ok()) return group.status();
      if (!group->has_value()) {
        return Status::FailedPrecondition(
            "the fleet's security group is gone; run 'carrierarr up' again to make it");
      }
      group_id = (*group)->id;
    }
    auto userdata = Userdata(s);
    if (!userdata.ok()) return userdata.status();
    aws::Tags tags = BaseTags(fleet_, id(), fleet_ + "-" + p_.node.name);
    tags.push_back({kHashTag, ShortDigest(hash())});
    tags.push_back({"carrierarr:node", p_.node.name});
    aws::RunInstancesRequest request{.image_id = image,
                                     .instance_type = p_.instance_type,
                                     .key_name = KeyPairName(fleet_),
                                     .security_group_id = group_id,
                                     .user_data_base64 = Base64(GzipUserdata(*userdata)),
                                     .iam_instance_profile = p_.iam_instance_profile,
                                     .subnet_id = p_.subnet_id,
                                     .root_volume_gb = p_.root_volume_gb,
                                     .data_volume_gb = p_.models_volume_gb,
                                     .data_device = kModelsDevice,
                                     .spot = p_.spot,
                                     .tags = tags};
    auto instance = RunOnce(s, request);
    if (!instance.ok() && p_.spot && p_.on_demand_fallback && IsSpotShortage(instance.status())) {
      request.spot = false;
      instance = RunOnce(s, request);
      if (!instance.ok())
        return instance.status().WithPrefix("no spot capacity, and on-demand failed too");
    }
    return instance;
  }

  // One launch: its own client token, the same on every HTTP retry of it.
  static Result<aws::Instance> RunOnce(Session& s, aws::RunInstancesRequest& request) {
    auto nonce = pki::RandomBytes(16);
    if (!nonce.ok()) return nonce.status();
    request.client_token = pki::HexEncode(*nonce);
    return s.ec2().RunInstance(request);
  }

  // EC2 has no spot capacity for the type in the zone, or the spot price is over the
  // on-demand one (the default maximum), or the account's spot requests are used up.
  static bool IsSpotShortage(const Status& status) {
    return aws::HasAwsCode(status, "InsufficientInstanceCapacity") ||
           aws::HasAwsCode(status, "SpotMaxPriceTooLow") ||
           aws::HasAwsCode(status, "MaxSpotInstanceCountExceeded");
  }

  // What Ollama on the node is made from (in the hash: a change replaces the instance).
  std::string OllamaInputs() const {
    std::string s = p_.ollama_version + " keep_alive " + p_.keep_alive + " volume " +
                    std::to_string(p_.models_volume_gb) + " models";
    for (const auto& m : p_.models) s += " " + m;
    return s;
  }

  // Everything this launch's node gets: its Nebula material, a fresh enrollment token, the k3s
  // tokens for its role.
  Result<UserdataParams> NodeParams() const {
    auto material = MaterialFromFiles(p_.files);
    if (!material.ok()) return material.status();
    UserdataParams u = std::move(*material);
    u.fleet = fleet_;
    u.node = p_.node.name;
    u.agent_type = providers::AgentType(p_.node);
    u.arch = p_.arch;
    u.mesh_ip = FormatIpv4(p_.node.mesh_ip);
    u.nebula_version = p_.nebula_version;
    u.mirror = p_.mirror;
    if (!p_.agent_url.empty()) {
      // A path is under the mirror.
      u.agent_url = p_.agent_url.find("://") == std::string::npos ? p_.mirror + "/" + p_.agent_url
                                                                  : p_.agent_url;
      for (size_t at = u.agent_url.find("{arch}"); at != std::string::npos;
           at = u.agent_url.find("{arch}", at))
        u.agent_url.replace(at, 6, p_.arch);
      u.agent_sha256 = p_.agent_sha256;
      u.control_plane = p_.control_plane;
      // Single-use, and valid long enough for a slow first boot.
      auto token = p_.enrollment->Mint(p_.node.name, "24h");
      if (!token.ok()) return token.status().WithPrefix("enrollment token for " + p_.node.name);
      u.agent_token = *token;
    }
    u.ollama_version = p_.ollama_version;
    u.models = p_.models;
    u.keep_alive = p_.keep_alive;
    if (p_.models_volume_gb > 0) u.models_device = kModelsDevice;
    if (!p_.k3s_agent_token_path.empty()) {
      u.k3s_version = p_.k3s_version;
      u.k3s_server = p_.k3s_server;
      u.k3s_server_ip = p_.k3s_server_ip;
      u.cilium_version = p_.cilium_version;
      u.cilium_cli_version = p_.cilium_cli_version;
      u.cluster_name = p_.cluster_name;
      u.cluster_id = p_.cluster_id;
      u.clustermesh_port = p_.clustermesh_port;
      u.device_plugin_image = p_.device_plugin_image;
      for (auto [path, out] : {std::pair{&p_.k3s_agent_token_path, &u.k3s_agent_token},
                               std::pair{&p_.k3s_server_token_path, &u.k3s_token}}) {
        if (path->empty()) continue;
        auto token = ReadFile(*path);
        if (!token.ok()) return token.status();
        *out = token->substr(0, token->find('\n'));
      }
    }
    return u;
  }

  // The userdata; with Secrets Manager, the node's secret is written first (sealed while it is
  // rewritten) and the userdata only names it.
  Result<std::string> Userdata(Session& s) const {
    auto u = NodeParams();
    if (!u.ok()) return u.status();
    u->region = s.region();
    if (!p_.secrets_manager) return RenderUserdata(*u);
    const std::string name = SecretName(fleet_, p_.node.name);
    const std::string body = NodeSecretJson(*u, p_.lighthouse_endpoint);
    u->secret_id = name;
    for (std::string* moved : {&u->ca_crt, &u->host_crt, &u->host_key, &u->nebula_config})
      moved->clear();
    auto userdata = RenderUserdata(*u);
    if (!userdata.ok()) return userdata.status();
    CARRIERARR_RETURN_IF_ERROR(s.secrets().PutResourcePolicy(name, SealedSecretPolicy().dump()));
    CARRIERARR_RETURN_IF_ERROR(s.secrets().PutSecretValue(name, body));
    return userdata;
  }

  InstanceParams p_;
};

Status DeleteInstance(SessionFactory& sessions, const Json& attrs) {
  auto s = Connected(sessions, Target::FromJson(attrs));
  if (!s.ok()) return s.status();
  std::string instance_id = attrs.value("instance_id", "");
  if (instance_id.empty()) {  // interrupted before it was recorded: find it by its tags
    (*s)->InvalidateInstances();
    auto instances = (*s)->FleetInstances(attrs.value("fleet", ""));
    if (!instances.ok()) return instances.status();
    auto it = instances->find("instance/" + attrs.value("node", ""));
    if (it == instances->end()) return Status::Ok();
    instance_id = it->second.id;
  }
  return InstanceResource::Terminate(**s, instance_id);
}

// ---- Elastic IP -------------------------------------------------------------------------

Result<std::optional<aws::Address>> FindAddress(Session& s, const std::string& fleet) {
  return FindOwned(s, &aws::Ec2::DescribeAddresses, fleet, "eip/lighthouse");
}

class ElasticIpResource final : public AwsResource {
 public:
  ElasticIpResource(const std::string& fleet, const Target& target,
                    std::shared_ptr<SessionFactory> sessions)
      : AwsResource(fleet, target, std::move(sessions)) {}
  std::string id() const override { return "eip/lighthouse"; }
  std::string kind() const override { return "aws-eip"; }
  std::string summary() const override { return "Elastic IP for the lighthouse"; }
  std::vector<std::string> deps() const override { return {}; }
  std::string hash() const override { return fleet_; }
  Result<bool> Exists() const override {
    auto s = Connect();
    if (!s.ok()) return s.status();
    auto found = FindAddress(**s, fleet_);
    if (!found.ok()) return found.status();
    return found->has_value();
  }
  Result<Json> Create() override {
    auto s = Connect();
    if (!s.ok()) return s.status();
    auto found = FindAddress(**s, fleet_);
    if (!found.ok()) return found.status();
    aws::Address address;
    if (found->has_value()) {
      address = **found;
    } else {
      auto allocated = (*s)->ec2().AllocateAddress(BaseTags(fleet_, id(), fleet_ + "-lighthouse"));
      if (!allocated.ok()) return allocated.status();
      address = *allocated;
    }
    Json a = attrs();
    a["allocation_id"] = address.allocation_id;
    a["public_ip"] = address.public_ip;
    return a;
  }
};

Status ReleaseElasticIp(SessionFactory& sessions, const Json& attrs) {
  auto s = Connected(sessions, Target::FromJson(attrs));
  if (!s.ok()) return s.status();
  auto found = FindAddress(**s, attrs.value("fleet", ""));
  if (!found.ok()) return found.status();
  if (!found->has_value()) return Status::Ok();
  if (!(*found)->association_id.empty())
    CARRIERARR_RETURN_IF_ERROR((*s)->ec2().DisassociateAddress((*found)->association_id));
  return (*s)->ec2().ReleaseAddress((*found)->allocation_id);
}

class ElasticIpAssociationResource final : public AwsResource {
 public:
  ElasticIpAssociationResource(const std::string& fleet, const Target& target,
                               std::shared_ptr<SessionFactory> sessions)
      : AwsResource(fleet, target, std::move(sessions)) {}
  std::string id() const override { return "eip-association/lighthouse"; }
  std::string kind() const override { return "aws-eip-association"; }
  std::string summary() const override { return "the Elastic IP on the lighthouse's instance"; }
  std::vector<std::string> deps() const override {
    return {"eip/lighthouse", "instance/lighthouse"};
  }
  std::string hash() const override { return fleet_; }
  Result<bool> Exists() const override {
    auto s = Connect();
    if (!s.ok()) return s.status();
    auto pair = Lookup(**s);
    if (!pair.ok()) return pair.status();
    return pair->first.instance_id == pair->second;
  }
  Result<Json> Create() override {
    auto s = Connect();
    if (!s.ok()) return s.status();
    (*s)->InvalidateInstances();
    auto pair = Lookup(**s);
    if (!pair.ok()) return pair.status();
    if (pair->first.instance_id != pair->second) {
      CARRIERARR_RETURN_IF_ERROR(
          (*s)->ec2().AssociateAddress(pair->first.allocation_id, pair->second));
    }
    Json a = attrs();
    a["allocation_id"] = pair->first.allocation_id;
    a["instance_id"] = pair->second;
    return a;
  }

 private:
  // The address and the lighthouse's instance id.
  Result<std::pair<aws::Address, std::string>> Lookup(Session& s) const {
    auto address = FindAddress(s, fleet_);
    if (!address.ok()) return address.status();
    if (!address->has_value()) return Status::NotFound("the lighthouse's Elastic IP is gone");
    auto instances = s.FleetInstances(fleet_);
    if (!instances.ok()) return instances.status();
    auto it = instances->find("instance/lighthouse");
    if (it == instances->end()) return Status::NotFound("the lighthouse's instance is gone");
    return std::make_pair(**address, it->second.id);
  }
};

Status DisassociateElasticIp(SessionFactory& sessions, const Json& attrs) {
  auto s = Connected(sessions, Target::FromJson(attrs));
  if (!s.ok()) return s.status();
  auto found = FindAddress(**s, attrs.value("fleet", ""));
  if (!found.ok()) return found.status();
  if (!found->has_value() || (*found)->association_id.empty()) return Status::Ok();
  return (*s)->ec2().DisassociateAddress((*found)->association_id);
}

}  // namespace

aws::Tags BaseTags(const std::string& fleet, const std::string& resource_id,
                   const std::string& name) {
  return {{"Name", name}, {kFleetTag, fleet}, {kResourceTag, resource_id}};
}

std::string SecurityGroupName(const std::string& fleet) { return "carrierarr-" + fleet; }
std::string KeyPairName(const std::string& fleet) { return "carrierarr-" + fleet; }
std::string SecretName(const std::string& fleet, const std::string& node) {
  return "carrierarr/" + fleet + "/" + node;
}

std::vector<aws::IngressRule> SecurityGroupRules(const spec::FleetSpec& fleet) {
  std::vector<aws::IngressRule> rules;
  rules.push_back({.protocol = "udp",
                   .from_port = fleet.mesh.lighthouse_port,
                   .to_port = fleet.mesh.lighthouse_port,
                   .cidr = "0.0.0.0/0",
                   .description = "Nebula"});
  std::vector<std::pair<std::string, std::string>> sources{{fleet.mesh.cidr.ToString(), "mesh"}};
  for (const auto& c : fleet.aws.operator_cidrs) sources.push_back({c.ToString(), "operator"});
  const std::pair<int, const char*> ports[] = {
      {22, "SSH"}, {6443, "k3s API"}, {8080, "agent health"}, {32379, "ClusterMesh"}};
  for (const auto& [port, what] : ports) {
    for (const auto& [cidr, who] : sources) {
      rules.push_back({.protocol = "tcp",
                       .from_port = port,
                       .to_port = port,
                       .cidr = cidr,
                       .description = std::string(what) + " from the " + who});
    }
  }
  return rules;
}

std::unique_ptr<provision::Resource> MakeSecurityGroup(const spec::FleetSpec& fleet,
                                                       const Target& target,
                                                       std::shared_ptr<SessionFactory> sessions) {
  return std::make_unique<SecurityGroupResource>(fleet, target, std::move(sessions));
}
std::unique_ptr<provision::Resource> MakeKeyPair(const spec::FleetSpec& fleet, const Target& target,
                                                 std::shared_ptr<SessionFactory> sessions,
                                                 const std::string& pem_path) {
  return std::make_unique<KeyPairResource>(fleet, target, std::move(sessions), pem_path);
}
ImageFamily ImageFamilyFor(const std::string& arch, bool gpu) {
  if (!gpu) {
    return {.key = arch,
            .arch = arch,
            .description = "Amazon Linux 2023",
            .name = "al2023-ami-2023.*-kernel-*-" + arch};
  }
  const std::string which = arch == "arm64" ? "Deep Learning ARM64 Base" : "Deep Learning Base";
  return {.key = "gpu-" + arch,
          .arch = arch,
          .description = "Deep Learning Base OSS Nvidia Driver GPU AMI (Amazon Linux 2023)",
          .name = which + " OSS Nvidia Driver GPU AMI (Amazon Linux 2023) *"};
}

std::unique_ptr<provision::Resource> MakeImageLookup(const Target& target,
                                                     std::shared_ptr<SessionFactory> sessions,
                                                     const ImageFamily& family) {
  return std::make_unique<ImageLookupResource>(target, std::move(sessions), family);
}
std::unique_ptr<provision::Resource> MakeQuotaCheck(const spec::PoolSpec& pool,
                                                    const Target& target,
                                                    std::shared_ptr<SessionFactory> sessions) {
  return std::make_unique<QuotaCheckResource>(pool, target, std::move(sessions));
}
std::unique_ptr<provision::Resource> MakeGeneratedSecretFile(const std::string& id,
                                                             const std::string& summary,
                                                             const std::string& path) {
  return std::make_unique<GeneratedSecretFileResource>(id, summary, path);
}
std::unique_ptr<provision::Resource> MakeNodeSecret(const SecretParams& params) {
  return std::make_unique<NodeSecretResource>(params);
}
std::unique_ptr<provision::Resource> MakeInstance(const InstanceParams& params) {
  return std::make_unique<InstanceResource>(params);
}
std::unique_ptr<provision::Resource> MakeElasticIp(const std::string& fleet, const Target& target,
                                                   std::shared_ptr<SessionFactory> sessions) {
  return std::make_unique<ElasticIpResource>(fleet, target, std::move(sessions));
}
std::unique_ptr<provision::Resource> MakeElasticIpAssociation(
    const std::string& fleet, const Target& target, std::shared_ptr<SessionFactory> sessions) {
  return std::make_unique<ElasticIpAssociationResource>(fleet, target, std::move(sessions));
}

Result<Json> PowerOffInstance(SessionFactory& sessions, const Json& attrs) {
  Json out = attrs;
  if (attrs.value("stop", "") != "stop" || attrs.value("instance_id", "").empty()) {
    CARRIERARR_RETURN_IF_ERROR(DeleteInstance(sessions, attrs));
    out.erase("instance_id");  // a wake launches a new one
    return out;
  }
  auto s = Connected(sessions, Target::FromJson(attrs));
  if (!s.ok()) return s.status();
  const std::string id = attrs.value("instance_id", "");
  CARRIERARR_RETURN_IF_ERROR((*s)->ec2().StopInstances({id}));
  (*s)->InvalidateInstances();
  CARRIERARR_RETURN_IF_ERROR(InstanceResource::WaitStopped(**s, id));
  return out;
}

void RegisterAwsKinds(provision::KindRegistry& kinds, std::shared_ptr<SessionFactory> sessions) {
  // The deleters keep the sessions alive: the provider that registered them may be gone.
  auto with = [&sessions](Status (*deleter)(SessionFactory&, const Json&)) {
    return [sessions, deleter](const Json& attrs) { return deleter(*sessions, attrs); };
  };
  kinds.Register("aws-security-group", with(DeleteSecurityGroup));
  kinds.Register("aws-key-pair", with(DeleteKeyPair));
  kinds.Register("aws-image", [](const Json&) { return Status::Ok(); });
  kinds.Register("aws-quota-check", [](const Json&) { return Status::Ok(); });
  kinds.Register("aws-secret", with(DeleteSecret));
  kinds.Register("aws-instance", with(DeleteInstance));
  kinds.Register("aws-eip", with(ReleaseElasticIp));
  kinds.Register("aws-eip-association", with(DisassociateElasticIp));
}

}  // namespace carrierarr::aws_provider
