// fleet.yaml's part for the AWS provider: the providers.aws section, EC2 instance types for the
// lighthouse and the pools placed on aws.
#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <set>

#include "core/strings.h"
#include "providers/aws/aws_provider.h"
#include "providers/aws/prices.h"
#include "providers/aws/shapes.h"
#include "providers/aws/userdata.h"
#include "spec/fleet_reader.h"

namespace carrierarr::aws_provider {
namespace {

// ---- shapes of the AWS values ---------------------------------------------------------------
// Several of these values end up in AWS requests, resource names or a node's first-boot files,
// so each is held to the narrow shape AWS itself uses: nothing with quotes, spaces or shell
// punctuation gets past the parser.

// us-west-2, us-gov-east-1, ap-southeast-4.
bool IsRegion(const std::string& s) {
  return s.size() >= 4 && s.size() <= 32 && s[0] >= 'a' && s[0] <= 'z' && IsDigit(s.back()) &&
         s.find('-') != std::string::npos && s.find("--") == std::string::npos &&
         AllOf(s, [](char c) { return IsLowerAlnum(c) || c == '-'; });
}

bool IsProfileName(const std::string& s) {
  return !s.empty() && s.size() <= 64 &&
         AllOf(s, [](char c) { return IsAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

// vpc-0abc123, subnet-0def456, ami-0123abcd: the prefix, then lowercase letters and digits.
bool IsAwsId(const std::string& s, const std::string& prefix) {
  return s.size() > prefix.size() && s.size() <= prefix.size() + 32 && s.rfind(prefix, 0) == 0 &&
         AllOf(s.substr(prefix.size()), IsLowerAlnum);
}

// IAM's own rule for instance profile names.
bool IsInstanceProfileName(const std::string& s) {
  return !s.empty() && s.size() <= 128 &&
         AllOf(s, [](char c) { return IsAlnum(c) || OneOf(c, "+=,.@_-"); });
}

// http(s)://host[:port] with at most a trailing '/': every service's requests go to its root.
bool IsEndpointUrl(const std::string& s) {
  std::string_view authority, rest;
  return SplitHttpUrl(s, &authority, &rest) && (rest.empty() || rest == "/");
}

// "{arch}" replaced by `arch` everywhere in `s`.
std::string WithArch(std::string s, const std::string& arch) {
  for (size_t at = s.find("{arch}"); at != std::string::npos; at = s.find("{arch}", at))
    s.replace(at, 6, arch);
  return s;
}

// https://host[:port]/path, possibly with a query; "{arch}" is the one placeholder. No quotes,
// spaces, backslashes or '$': the URL is written into the node's bootstrap script. Never plain
// http: anyone on the path could hand the node another program.
bool IsDownloadUrl(const std::string& s) { return IsHttpsUrl(WithArch(s, "x")); }

// A path under the mirror: "carrierarr/carrierarr-agent-{arch}" (no scheme, no leading '/').
bool IsMirrorPath(const std::string& s) {
  return !s.empty() && s.front() != '/' && s.find("://") == std::string::npos &&
         IsSafeUrlRest(WithArch(s, "x"));
}

// g4dn.xlarge, t3.small, u-6tb1.112xlarge: family, a dot, size.
bool IsInstanceType(const std::string& s) {
  const size_t dot = s.find('.');
  return s.size() <= 32 && dot != std::string::npos && dot > 0 && dot + 1 < s.size() &&
         s.find('.', dot + 1) == std::string::npos &&
         AllOf(s, [](char c) { return IsLowerAlnum(c) || c == '-' || c == '.'; });
}

// sha256sum prints lowercase; keep one spelling so plans compare equal.
std::string Lowercase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
  return s;
}

// agent_sha256: one digest, or one per architecture ({x86_64: ..., arm64: ...}).
void ParseAgentDigest(spec::FleetReader& p, std::map<std::string, YAML::Node>& m,
                      const std::string& w, spec::AwsProviderSpec& aws) {
  if (!m.count("agent_sha256")) return;
  const std::string what = w + ".agent_sha256";
  const std::string shape = "64 hex digits, as sha256sum prints them";
  auto hex = [](const std::string& s) { return IsHex(s, 64); };
  if (!m["agent_sha256"].IsMap()) {
    p.Checked(
        m["agent_sha256"], what, shape + " (or \"\" to leave it unset)",
        [&](const std::string& s) { return s.empty() || hex(s); }, &aws.agent_sha256);
    aws.agent_sha256 = Lowercase(aws.agent_sha256);
    return;
  }
  for (auto& [arch, digest] : p.Map(m["agent_sha256"], what, {"x86_64", "arm64"})) {
    std::string value;
    if (p.Checked(digest, what + "." + arch, shape, hex, &value))
      aws.agent_sha256_by_arch[arch] = Lowercase(value);
  }
}

// An agent comes with its digest: fleet.yaml refuses an agent_url without one.
void RequireAgentDigest(spec::FleetReader& p, std::map<std::string, YAML::Node>& m,
                        const std::string& w, const spec::AwsProviderSpec& aws) {
  const bool has_digest = !aws.agent_sha256.empty() || !aws.agent_sha256_by_arch.empty();
  if (!aws.agent_url.empty() && !has_digest && !m.count("agent_sha256")) {
    p.Error(m["agent_url"].Mark(),
            w + ".agent_url needs agent_sha256 beside it (64 hex digits, as 'sha256sum "
                "carrierarr-agent' prints them): a node runs no program it cannot check");
  } else if (!aws.agent_url.empty() && !has_digest && m["agent_sha256"].IsScalar() &&
             m["agent_sha256"].Scalar().empty()) {
    p.Error(m["agent_sha256"].Mark(),
            w + ".agent_sha256 is empty but agent_url is set: give the agent's sha256 (64 hex "
                "digits, as 'sha256sum carrierarr-agent' prints them)");
  }
}

// nebula_material, and the instance profile that secretsmanager needs.
void ParseNebulaMaterial(spec::FleetReader& p, std::map<std::string, YAML::Node>& m,
                         const std::string& w, spec::AwsProviderSpec& aws) {
  if (!m.count("nebula_material")) return;
  std::string s;
  if (p.Checked(
          m["nebula_material"], w + ".nebula_material", "userdata or secretsmanager",
          [](const std::string& v) { return v == "userdata" || v == "secretsmanager"; }, &s)) {
    aws.nebula_material = s == "secretsmanager" ? spec::NebulaMaterial::kSecretsManager
                                                : spec::NebulaMaterial::kUserdata;
    // Judged on the key as written, so a malformed profile name is reported once, not twice.
    const bool has_profile = m.count("iam_instance_profile") != 0 &&
                             m["iam_instance_profile"].IsScalar() &&
                             !m["iam_instance_profile"].Scalar().empty();
    if (aws.nebula_material == spec::NebulaMaterial::kSecretsManager && !has_profile) {
      p.Error(m["nebula_material"].Mark(),
              w + ".nebula_material: secretsmanager needs iam_instance_profile, because each "
                  "node fetches its secret at boot with its instance profile; set "
                  "iam_instance_profile to a profile allowed secretsmanager:GetSecretValue on "
                  "carrierarr/<fleet>/*, or use nebula_material: userdata");
    }
  }
}

// operator_cidrs: a list of networks, each once.
void ParseOperatorCidrs(spec::FleetReader& p, std::map<std::string, YAML::Node>& m,
                        const std::string& w, spec::AwsProviderSpec& aws) {
  if (!m.count("operator_cidrs")) return;
  const YAML::Node& list = m["operator_cidrs"];
  if (!list.IsSequence()) {
    p.Error(list.Mark(), w + ".operator_cidrs must be a list, e.g. [203.0.113.7/32]");
  } else {
    std::set<std::string> seen;
    for (const auto& item : list) {
      Ipv4Net net;
      if (!p.Cidr(item, w + ".operator_cidrs entry", &net)) continue;
      if (!seen.insert(net.ToString()).second) {
        p.Error(item.Mark(), w + ".operator_cidrs lists " + net.ToString() + " twice; keep one");
        continue;
      }
      aws.operator_cidrs.push_back(net);
    }
  }
}

void ParseAws(spec::FleetReader& p, const YAML::Node& node, spec::AwsProviderSpec& aws) {
  const std::string w = "providers.aws";
  auto m = p.Map(node, w,
                 {"region", "profile", "endpoint_url", "vpc_id", "subnet_id", "operator_cidrs",
                  "ami", "key_type", "iam_instance_profile", "nebula_material", "dns_name",
                  "nebula_version", "agent_url", "agent_sha256", "mirror", "k3s", "k3s_version",
                  "device_plugin_image", "ollama_version"});
  // An optional string: "" means the same as leaving the key out, so the template can show
  // every key uncommented without choosing for the user.
  auto optional = [&](const std::string& key, const std::string& shape,
                      const std::function<bool(const std::string&)>& ok, std::string* out) {
    if (!m.count(key)) return;
    p.Checked(
        m[key], w + "." + key, shape + " (or \"\" to leave it unset)",
        [&](const std::string& s) { return s.empty() || ok(s); }, out);
  };
  optional("region", "a region name such as us-west-2", IsRegion, &aws.region);
  optional("profile", "a profile name of letters, digits, '-', '_' or '.'", IsProfileName,
           &aws.profile);
  optional("endpoint_url",
           "http(s)://HOST[:PORT] with no path or query, e.g. http://127.0.0.1:4566", IsEndpointUrl,
           &aws.endpoint_url);
  optional(
      "vpc_id", "a VPC id such as vpc-0abc123",
      [](const std::string& s) { return IsAwsId(s, "vpc-"); }, &aws.vpc_id);
  optional(
      "subnet_id", "a subnet id such as subnet-0abc123",
      [](const std::string& s) { return IsAwsId(s, "subnet-"); }, &aws.subnet_id);
  optional(
      "ami", "an image id such as ami-0abc123",
      [](const std::string& s) { return IsAwsId(s, "ami-"); }, &aws.ami);
  optional("iam_instance_profile",
           "an instance profile name: up to 128 letters, digits or '+=,.@_-'",
           IsInstanceProfileName, &aws.iam_instance_profile);
  optional("dns_name", "a host name such as nebula.example.org", IsHostName, &aws.dns_name);
  optional(
      "mirror",
      "an https base URL with no query and no final '/', e.g. "
      "https://mirror.example.org/github",
      [](const std::string& s) { return IsMirrorUrl(s); }, &aws.mirror);
  const bool has_mirror = !aws.mirror.empty();
  optional(
      "agent_url",
      has_mirror ? "an https URL, or a path under the mirror, without quotes, spaces or '$', "
                   "e.g. carrierarr/carrierarr-agent-{arch}"
                 : "an https URL without quotes, spaces or '$', e.g. "
                   "https://example.org/carrierarr-agent-{arch}",
      [has_mirror](const std::string& s) {
        return IsDownloadUrl(s) || (has_mirror && IsMirrorPath(s));
      },
      &aws.agent_url);
  ParseAgentDigest(p, m, w, aws);
  if (m.count("key_type"))
    p.Checked(
        m["key_type"], w + ".key_type", "ed25519 or rsa",
        [](const std::string& s) { return s == "ed25519" || s == "rsa"; }, &aws.key_type);
  if (m.count("nebula_version"))
    p.Checked(m["nebula_version"], w + ".nebula_version",
              "a release of slackhq/nebula such as 1.9.5 (digits and dots, no 'v')", IsVersion,
              &aws.nebula_version);
  if (m.count("ollama_version"))
    p.Checked(m["ollama_version"], w + ".ollama_version",
              "a release of ollama/ollama such as 0.13.3 (digits and dots, no 'v')", IsVersion,
              &aws.ollama_version);
  RequireAgentDigest(p, m, w, aws);
  if (m.count("k3s") && p.Bool(m["k3s"], w + ".k3s", &aws.k3s)) {
    aws.k3s_written = true;
    p.Remember(w + ".k3s", m["k3s"].Mark());
  }
  if (m.count("k3s_version"))
    p.Checked(
        m["k3s_version"], w + ".k3s_version", "a k3s release tag such as v1.31.4+k3s1",
        [](const std::string& s) { return IsK3sVersion(s); }, &aws.k3s_version);
  if (m.count("device_plugin_image"))
    p.Checked(
        m["device_plugin_image"], w + ".device_plugin_image",
        "an image such as nvcr.io/nvidia/k8s-device-plugin:v0.17.0",
        [](const std::string& s) { return IsImageReference(s); }, &aws.device_plugin_image);
  ParseNebulaMaterial(p, m, w, aws);
  ParseOperatorCidrs(p, m, w, aws);
}

// Liqo and ClusterMesh federate the homelab with the cloud cluster: k3s on aws, or whatever
// cluster federation.cloud_kubeconfig names.
void CheckCloudCluster(spec::FleetReader& reader, const spec::FleetSpec& fleet) {
  using spec::FederationMode;
  const FederationMode mode = fleet.federation.mode;
  if (mode != FederationMode::kLiqo && mode != FederationMode::kClusterMesh) return;
  if (!fleet.federation.cloud_kubeconfig.empty() || K3sOn(fleet)) return;
  reader.Error(reader.MarkOf("federation.mode"),
               "federation.mode " + std::string(spec::FederationModeName(mode)) +
                   " joins the homelab with the cloud cluster, and there is none: it is k3s "
                   "on aws, which needs the lighthouse on aws (lighthouse.provider: aws) and "
                   "providers.aws.k3s left true; or name another cluster's kubeconfig in "
                   "federation.cloud_kubeconfig");
}

// k3s's pod and service networks must not take the mesh's addresses.
void CheckK3sRanges(spec::FleetReader& reader, const spec::FleetSpec& fleet) {
  if (!K3sOn(fleet)) return;
  const Ipv4Net& mesh = fleet.mesh.cidr;
  for (const char* range : {kK3sClusterCidr, kK3sServiceCidr}) {
    if (!ParseCidr(range)->Overlaps(mesh)) continue;
    reader.Error(reader.MarkOf("mesh.cidr"),
                 "mesh.cidr " + mesh.Masked().ToString() + " overlaps " + range +
                     ", where the cloud k3s puts its " +
                     (range == kK3sClusterCidr ? "pods" : "services") +
                     ": choose a mesh outside 10.52.0.0/15, e.g. 10.42.0.0/16");
  }
}

class Rules final : public spec::ProviderRules {
 public:
  std::string_view name() const override { return kName; }
  void ReadSettings(spec::FleetReader& reader, const YAML::Node& section,
                    spec::FleetSpec& fleet) const override {
    ParseAws(reader, section, fleet.aws);
  }
  void CheckLighthouseSize(spec::FleetReader& reader, const YAML::Node& size,
                           const std::string& value) const override {
    if (IsInstanceType(value)) return;
    reader.Error(size.Mark(), "lighthouse.size '" + value +
                                  "' must be an EC2 instance type such as t3.small, because "
                                  "the lighthouse is on aws");
  }
  // us-east-1's on-demand list (prices.h): fleet.yaml's `prices` override it.
  std::optional<spec::MicroUsd> ListPrice(const std::string& instance_type) const override {
    return aws_provider::ListPrice(instance_type);
  }
  // k3s: true written with aws pools but the lighthouse (the k3s server) elsewhere: the
  // workers would join https://<lighthouse mesh IP>:6443, where nothing serves.
  void Validate(spec::FleetReader& reader, const spec::FleetSpec& fleet) const override {
    CheckCloudCluster(reader, fleet);
    CheckK3sRanges(reader, fleet);
    if (!fleet.aws.k3s_written || !fleet.aws.k3s || fleet.lighthouse.provider == kName) return;
    bool aws_pool = false;
    for (const auto& pool : fleet.pools) aws_pool = aws_pool || pool.provider == kName;
    if (!aws_pool) return;
    reader.Error(reader.MarkOf("providers.aws.k3s"),
                 "providers.aws.k3s is true, but the k3s server runs on the lighthouse, which is "
                 "on " +
                     fleet.lighthouse.provider +
                     ": the aws workers would have no server to join; put the lighthouse on aws "
                     "(lighthouse.provider: aws), or set providers.aws.k3s: false (or "
                     "federation.mode: direct, where cloud workers join the homelab cluster)");
  }
  void CheckPool(spec::FleetReader& reader, const std::map<std::string, YAML::Node>& keys,
                 const spec::PoolSpec& pool, const std::string& where) const override {
    auto type = keys.find("instance_type");
    const bool has_type = type != keys.end() && type->second.IsScalar();
    if (pool.instance_type.empty() && (type == keys.end() || has_type)) {
      auto provider = keys.find("provider");
      reader.Error(provider == keys.end() ? YAML::Mark() : provider->second.Mark(),
                   where +
                       " is on aws and needs an instance_type, e.g. g4dn.xlarge (GPU) or "
                       "t3.medium");
    } else if (has_type && !IsInstanceType(pool.instance_type)) {
      reader.Error(type->second.Mark(), where + ".instance_type '" + pool.instance_type +
                                            "' must be an EC2 instance type such as g4dn.xlarge");
    }
    auto image = keys.find("image");
    if (image != keys.end() && !pool.image.empty() && !IsAwsId(pool.image, "ami-")) {
      reader.Error(image->second.Mark(),
                   where + ".image '" + pool.image +
                       "' must be an AMI id such as ami-0abc1234def567890 (from 'carrierarr "
                       "render packer' and 'packer build', or any AMI of the pool's arch)");
    }
  }
};

// Constant-initialized, so it is there before any dynamic initializer asks for it.
constinit const Rules kRules;

}  // namespace

const spec::ProviderRules& AwsFleetRules() { return kRules; }

}  // namespace carrierarr::aws_provider
