#include "spec/fleet_parser.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <functional>
#include <map>
#include <set>

#include "core/duration.h"
#include "core/file_util.h"

namespace carrierarr::spec {
namespace {

// EBS gp3 sizes: the AL2023 image's snapshot needs 8 GiB, gp3 stops at 16 TiB.
constexpr int64_t kMinRootVolumeGb = 8;
constexpr int64_t kMaxRootVolumeGb = 16384;

// Levenshtein distance, for "did you mean" hints on misspelt keys.
size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

bool IsDnsLabel(const std::string& s) {
  if (s.empty() || !(s[0] >= 'a' && s[0] <= 'z') || s.back() == '-') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// Collects problems while walking the document; never stops at the first.
class Parser {
 public:
  explicit Parser(std::string file) : file_(std::move(file)) {}

  void Error(const YAML::Mark& mark, const std::string& message) {
    // yaml-cpp marks are 0-based; an unknown position (-1) still prints as line 1.
    int line = mark.line >= 0 ? mark.line + 1 : 1;
    int column = mark.column >= 0 ? mark.column + 1 : 1;
    errors_.push_back(file_ + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " +
                      message);
  }
  const std::vector<std::string>& errors() const { return errors_; }

  // Checks that `node` is a mapping whose keys are all in `allowed` and appear once. Returns
  // the values by key (absent keys are missing from the map).
  std::map<std::string, YAML::Node> Map(const YAML::Node& node, const std::string& where,
                                        const std::vector<std::string>& allowed) {
    std::map<std::string, YAML::Node> out;
    if (!node.IsMap()) {
      Error(node.Mark(), where + " must be a mapping of keys to values");
      return out;
    }
    for (const auto& entry : node) {
      const YAML::Node key_node = entry.first;
      if (!key_node.IsScalar()) {
        Error(key_node.Mark(), "keys in " + where + " must be plain words");
        continue;
      }
      const std::string& key = key_node.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string hint;
        size_t best = 3;
        for (const auto& a : allowed) {
          size_t d = EditDistance(key, a);
          if (d < best) {
            best = d;
            hint = " (did you mean '" + a + "'?)";
          }
        }
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        Error(key_node.Mark(),
              "unknown key '" + key + "' in " + where + hint + "; allowed: " + list);
        continue;
      }
      if (out.count(key) != 0) {
        Error(key_node.Mark(), "duplicate key '" + key + "' in " + where + "; keep one");
        continue;
      }
      out[key] = entry.second;
    }
    return out;
  }

  bool Scalar(const YAML::Node& node, const std::string& what, std::string* out) {
    if (!node.IsScalar()) {
      Error(node.Mark(), what + " must be a single value");
      return false;
    }
    *out = node.Scalar();
    return true;
  }

  bool Int(const YAML::Node& node, const std::string& what, int64_t min, int64_t max,
           int64_t* out) {
    std::string s;
    if (!Scalar(node, what, &s)) return false;
    size_t used = 0;
    int64_t v = 0;
    try {
      v = std::stoll(s, &used);
    } catch (...) {
      used = 0;
    }
    if (used == 0 || used != s.size() || v < min || v > max) {
      Error(node.Mark(), what + " must be a whole number from " + std::to_string(min) + " to " +
                             std::to_string(max) + ", not '" + s + "'");
      return false;
    }
    *out = v;
    return true;
  }

  bool Port(const YAML::Node& node, const std::string& what, uint16_t* out) {
    int64_t v;
    if (!Int(node, what, 1, 65535, &v)) return false;
    *out = static_cast<uint16_t>(v);
    return true;
  }

  bool Cidr(const YAML::Node& node, const std::string& what, Ipv4Net* out) {
    std::string s;
    if (!Scalar(node, what, &s)) return false;
    auto net = ParseCidr(s);
    if (!net.ok()) {
      Error(node.Mark(),
            what + ": " + net.status().message() + "; write it as A.B.C.D/N, e.g. 10.42.0.0/16");
      return false;
    }
    if (net->ip != net->Network()) {
      Error(node.Mark(),
            what + " " + s + " has host bits set; did you mean " + net->Masked().ToString() + "?");
      return false;
    }
    *out = *net;
    return true;
  }

  bool Address(const YAML::Node& node, const std::string& what, uint32_t* out) {
    std::string s;
    if (!Scalar(node, what, &s)) return false;
    auto ip = ParseIpv4(s);
    if (!ip.ok()) {
      Error(node.Mark(), what + " '" + s + "' is not an IPv4 address (A.B.C.D, no mask)");
      return false;
    }
    *out = *ip;
    return true;
  }

  bool Duration(const YAML::Node& node, const std::string& what, std::chrono::nanoseconds* out) {
    std::string s;
    if (!Scalar(node, what, &s)) return false;
    auto d = ParseGoDuration(s);
    if (!d.ok() || *d <= std::chrono::nanoseconds(0)) {
      Error(node.Mark(), what + " '" + s + "' is not a positive duration; write e.g. 8760h or 90m");
      return false;
    }
    *out = *d;
    return true;
  }

  bool Name(const YAML::Node& node, const std::string& what, size_t max_len, std::string* out) {
    std::string s;
    if (!Scalar(node, what, &s)) return false;
    if (!IsDnsLabel(s) || s.size() > max_len) {
      Error(node.Mark(), what + " '" + s + "' must be 1-" + std::to_string(max_len) +
                             " lowercase letters, digits or '-', starting with a letter");
      return false;
    }
    *out = s;
    return true;
  }

  bool Groups(const YAML::Node& node, const std::string& what, std::vector<std::string>* out) {
    if (!node.IsSequence()) {
      Error(node.Mark(), what + " must be a list, e.g. [workers, gpu-compute]");
      return false;
    }
    std::vector<std::string> groups;
    std::set<std::string> seen;
    for (const auto& item : node) {
      std::string g;
      if (!Scalar(item, what + " entry", &g)) continue;
      if (g.empty() || g.find_first_of(", \t") != std::string::npos) {
        Error(item.Mark(), what + " entry '" + g + "' must be one word without commas or spaces");
        continue;
      }
      if (!seen.insert(g).second) {
        Error(item.Mark(), "group '" + g + "' is listed twice in " + what);
        continue;
      }
      groups.push_back(g);
    }
    *out = groups;
    return true;
  }

  bool Bool(const YAML::Node& node, const std::string& what, bool* out) {
    std::string s;
    if (!Scalar(node, what, &s)) return false;
    if (s == "true" || s == "yes") {
      *out = true;
    } else if (s == "false" || s == "no") {
      *out = false;
    } else {
      Error(node.Mark(), what + " must be true or false, not '" + s + "'");
      return false;
    }
    return true;
  }

  // A scalar that matches `ok`, else an error saying what it should look like.
  bool Checked(const YAML::Node& node, const std::string& what, const std::string& shape,
               const std::function<bool(const std::string&)>& ok, std::string* out) {
    std::string s;
    if (!Scalar(node, what, &s)) return false;
    if (!ok(s)) {
      Error(node.Mark(), what + " '" + s + "' must be " + shape);
      return false;
    }
    *out = s;
    return true;
  }

  bool Provider(const YAML::Node& node, const std::string& what, std::string* out) {
    std::string s;
    if (!Scalar(node, what, &s)) return false;
    if (s != "local" && s != "aws") {
      Error(node.Mark(), what + " '" + s + "' is not available; providers: local, aws");
      return false;
    }
    *out = s;
    return true;
  }

 private:
  std::string file_;
  std::vector<std::string> errors_;
};

// ---- shapes of the AWS values ---------------------------------------------------------------
// Several of these values end up in AWS requests, resource names or a node's first-boot files,
// so each is held to the narrow shape AWS itself uses: nothing with quotes, spaces or shell
// punctuation gets past the parser.

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool IsAlnum(char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool AllIn(const std::string& s, const std::function<bool(char)>& ok) {
  return std::all_of(s.begin(), s.end(), ok);
}

bool IsHex(const std::string& s, size_t len) {
  return s.size() == len && AllIn(s, [](char c) {
           return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
         });
}

// us-west-2, us-gov-east-1, ap-southeast-4.
bool IsRegion(const std::string& s) {
  return s.size() >= 4 && s.size() <= 32 && s[0] >= 'a' && s[0] <= 'z' && IsDigit(s.back()) &&
         s.find('-') != std::string::npos && s.find("--") == std::string::npos &&
         AllIn(s, [](char c) { return IsLowerAlnum(c) || c == '-'; });
}

bool IsProfileName(const std::string& s) {
  return !s.empty() && s.size() <= 64 &&
         AllIn(s, [](char c) { return IsAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

// vpc-0abc123, subnet-0def456, ami-0123abcd: the prefix, then lowercase letters and digits.
bool IsAwsId(const std::string& s, const std::string& prefix) {
  return s.size() > prefix.size() && s.size() <= prefix.size() + 32 && s.rfind(prefix, 0) == 0 &&
         AllIn(s.substr(prefix.size()), IsLowerAlnum);
}

// IAM's own rule for instance profile names.
bool IsInstanceProfileName(const std::string& s) {
  return !s.empty() && s.size() <= 128 && AllIn(s, [](char c) {
    return IsAlnum(c) || std::string_view("+=,.@_-").find(c) != std::string_view::npos;
  });
}

// A DNS host name (labels of letters, digits and '-', not starting or ending with '-'), or an
// IPv4 address, which has the same shape.
bool IsHostName(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (start <= s.size()) {
    size_t dot = s.find('.', start);
    if (dot == std::string::npos) dot = s.size();
    const std::string label = s.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-' ||
        !AllIn(label, [](char c) { return IsAlnum(c) || c == '-'; })) {
      return false;
    }
    start = dot + 1;
  }
  return true;
}

// host or host:port (port 1-65535).
bool IsHostPort(const std::string& s) {
  const size_t colon = s.find(':');
  if (colon == std::string::npos) return IsHostName(s);
  const std::string port = s.substr(colon + 1);
  if (port.empty() || port.size() > 5 || !AllIn(port, IsDigit)) return false;
  const int n = std::stoi(port);
  return n >= 1 && n <= 65535 && IsHostName(s.substr(0, colon));
}

// 1.9.5: digits separated by single dots.
bool IsVersion(const std::string& s) {
  return !s.empty() && s.size() <= 32 && IsDigit(s.front()) && IsDigit(s.back()) &&
         s.find("..") == std::string::npos &&
         AllIn(s, [](char c) { return IsDigit(c) || c == '.'; });
}

// Splits "http(s)://HOST[:PORT]REST" into its authority and the rest; false for other schemes.
bool SplitUrl(const std::string& s, std::string* authority, std::string* rest) {
  std::string tail;
  if (s.rfind("https://", 0) == 0) {
    tail = s.substr(8);
  } else if (s.rfind("http://", 0) == 0) {
    tail = s.substr(7);
  } else {
    return false;
  }
  const size_t slash = tail.find('/');
  *authority = tail.substr(0, slash);
  *rest = slash == std::string::npos ? "" : tail.substr(slash);
  return IsHostPort(*authority);
}

// http(s)://host[:port] with at most a trailing '/': every service's requests go to its root.
bool IsEndpointUrl(const std::string& s) {
  std::string authority, rest;
  return SplitUrl(s, &authority, &rest) && (rest.empty() || rest == "/");
}

// http(s)://host[:port]/path, possibly with a query; "{arch}" is the one placeholder. No quotes,
// spaces, backslashes or '$': the URL is written into the node's bootstrap script.
bool IsDownloadUrl(const std::string& s) {
  std::string authority, rest;
  if (!SplitUrl(s, &authority, &rest)) return false;
  for (size_t at = rest.find("{arch}"); at != std::string::npos; at = rest.find("{arch}"))
    rest.replace(at, 6, "x");
  return AllIn(rest, [](char c) {
    return IsAlnum(c) || std::string_view("-._~/%+=&?:@,").find(c) != std::string_view::npos;
  });
}

// g4dn.xlarge, t3.small, u-6tb1.112xlarge: family, a dot, size.
bool IsInstanceType(const std::string& s) {
  const size_t dot = s.find('.');
  return s.size() <= 32 && dot != std::string::npos && dot > 0 && dot + 1 < s.size() &&
         s.find('.', dot + 1) == std::string::npos &&
         AllIn(s, [](char c) { return IsLowerAlnum(c) || c == '-' || c == '.'; });
}

void ParseAws(Parser& p, const YAML::Node& node, AwsProviderSpec& aws) {
  const std::string w = "providers.aws";
  auto m = p.Map(node, w,
                 {"region", "profile", "endpoint_url", "vpc_id", "subnet_id", "operator_cidrs",
                  "ami", "key_type", "iam_instance_profile", "nebula_material", "dns_name",
                  "nebula_version", "agent_url", "agent_sha256", "k3s"});
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
  optional("agent_url",
           "an http(s) URL without quotes, spaces or '$', e.g. "
           "https://example.org/carrierarr-agent-{arch}",
           IsDownloadUrl, &aws.agent_url);
  optional(
      "agent_sha256", "64 hex digits, as sha256sum prints them",
      [](const std::string& s) { return IsHex(s, 64); }, &aws.agent_sha256);
  // sha256sum prints lowercase; keep one spelling so plans compare equal.
  std::transform(
      aws.agent_sha256.begin(), aws.agent_sha256.end(), aws.agent_sha256.begin(),
      [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
  if (m.count("key_type"))
    p.Checked(
        m["key_type"], w + ".key_type", "ed25519 or rsa",
        [](const std::string& s) { return s == "ed25519" || s == "rsa"; }, &aws.key_type);
  if (m.count("nebula_version"))
    p.Checked(m["nebula_version"], w + ".nebula_version",
              "a release of slackhq/nebula such as 1.9.5 (digits and dots, no 'v')", IsVersion,
              &aws.nebula_version);
  if (m.count("k3s")) p.Bool(m["k3s"], w + ".k3s", &aws.k3s);
  if (m.count("nebula_material")) {
    std::string s;
    if (p.Checked(
            m["nebula_material"], w + ".nebula_material", "userdata or secretsmanager",
            [](const std::string& v) { return v == "userdata" || v == "secretsmanager"; }, &s)) {
      aws.nebula_material =
          s == "secretsmanager" ? NebulaMaterial::kSecretsManager : NebulaMaterial::kUserdata;
      // Judged on the key as written, so a malformed profile name is reported once, not twice.
      const bool has_profile = m.count("iam_instance_profile") != 0 &&
                               m["iam_instance_profile"].IsScalar() &&
                               !m["iam_instance_profile"].Scalar().empty();
      if (aws.nebula_material == NebulaMaterial::kSecretsManager && !has_profile) {
        p.Error(m["nebula_material"].Mark(),
                w + ".nebula_material: secretsmanager needs iam_instance_profile, because each "
                    "node fetches its secret at boot with its instance profile; set "
                    "iam_instance_profile to a profile allowed secretsmanager:GetSecretValue on "
                    "carrierarr/<fleet>/*, or use nebula_material: userdata");
      }
    }
  }
  if (m.count("operator_cidrs")) {
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
}

void ParseDocument(Parser& p, const YAML::Node& root, FleetSpec& fleet,
                   std::map<std::string, YAML::Mark>& marks) {
  auto top =
      p.Map(root, "fleet.yaml",
            {"name", "mesh", "lighthouse", "homelab", "pools", "control_plane", "providers"});
  if (top.count("name")) p.Name(top["name"], "name", kMaxFleetNameLength, &fleet.name);
  if (top.count("mesh")) {
    auto mesh = p.Map(top["mesh"], "mesh", {"cidr", "lighthouse_port", "ca_lifetime"});
    if (mesh.count("cidr") && p.Cidr(mesh["cidr"], "mesh.cidr", &fleet.mesh.cidr)) {
      marks["mesh.cidr"] = mesh["cidr"].Mark();
    }
    if (mesh.count("lighthouse_port")) {
      p.Port(mesh["lighthouse_port"], "mesh.lighthouse_port", &fleet.mesh.lighthouse_port);
    }
    if (mesh.count("ca_lifetime")) {
      p.Duration(mesh["ca_lifetime"], "mesh.ca_lifetime", &fleet.mesh.ca_lifetime);
    }
  }
  if (top.count("lighthouse")) {
    auto lh = p.Map(top["lighthouse"], "lighthouse", {"provider", "size"});
    if (lh.count("provider"))
      p.Provider(lh["provider"], "lighthouse.provider", &fleet.lighthouse.provider);
    if (lh.count("size") && p.Scalar(lh["size"], "lighthouse.size", &fleet.lighthouse.size) &&
        fleet.lighthouse.provider == "aws" && !IsInstanceType(fleet.lighthouse.size)) {
      p.Error(lh["size"].Mark(), "lighthouse.size '" + fleet.lighthouse.size +
                                     "' must be an EC2 instance type such as t3.small, because "
                                     "the lighthouse is on aws");
    }
  }
  if (top.count("homelab")) {
    auto hl = p.Map(top["homelab"], "homelab", {"mesh_ip", "groups", "kubeconfig"});
    if (hl.count("mesh_ip") &&
        p.Address(hl["mesh_ip"], "homelab.mesh_ip", &fleet.homelab.mesh_ip)) {
      marks["homelab.mesh_ip"] = hl["mesh_ip"].Mark();
    }
    if (hl.count("groups")) p.Groups(hl["groups"], "homelab.groups", &fleet.homelab.groups);
    if (hl.count("kubeconfig"))
      p.Scalar(hl["kubeconfig"], "homelab.kubeconfig", &fleet.homelab.kubeconfig);
  }
  if (top.count("pools")) {
    const YAML::Node& pools = top["pools"];
    if (!pools.IsSequence()) {
      p.Error(pools.Mark(), "pools must be a list of pools (each starting with '- name: ...')");
    } else {
      std::set<std::string> names;
      for (size_t i = 0; i < pools.size(); ++i) {
        const YAML::Node& node = pools[i];
        std::string where = "pools[" + std::to_string(i) + "]";
        auto m = p.Map(node, where,
                       {"name", "type", "count", "provider", "instance_type", "groups", "spot",
                        "root_volume_gb"});
        if (!node.IsMap()) continue;  // reported once; "needs a name/type" would only add noise
        PoolSpec pool;
        if (!m.count("name")) {
          p.Error(node.Mark(), where + " needs a name, e.g. 'name: gpu'");
        } else if (p.Name(m["name"], where + ".name", 8, &pool.name)) {
          if (pool.name == "lighthouse" || pool.name == "homelab" ||
              !names.insert(pool.name).second) {
            p.Error(m["name"].Mark(), "pool name '" + pool.name +
                                          "' is already used; names must be unique "
                                          "and not 'lighthouse' or 'homelab'");
          }
          where = "pool '" + pool.name + "'";
        }
        if (m.count("type")) {
          std::string type;
          if (p.Scalar(m["type"], where + ".type", &type)) {
            if (type == "gpu-worker") {
              pool.type = PoolType::kGpuWorker;
            } else if (type == "cpu-worker") {
              pool.type = PoolType::kCpuWorker;
            } else {
              p.Error(m["type"].Mark(),
                      where + ".type '" + type + "' must be gpu-worker or cpu-worker");
            }
          }
        } else {
          p.Error(node.Mark(), where + " needs a type: gpu-worker or cpu-worker");
        }
        int64_t count = pool.count;
        if (m.count("count") && p.Int(m["count"], where + ".count", 0, kMaxPoolCount, &count)) {
          pool.count = static_cast<int>(count);
        }
        if (m.count("provider")) p.Provider(m["provider"], where + ".provider", &pool.provider);
        const bool has_type =
            m.count("instance_type") != 0 &&
            p.Scalar(m["instance_type"], where + ".instance_type", &pool.instance_type);
        if (pool.provider == "aws") {
          if (pool.instance_type.empty() && (!m.count("instance_type") || has_type)) {
            p.Error(m["provider"].Mark(),
                    where +
                        " is on aws and needs an instance_type, e.g. g4dn.xlarge (GPU) or "
                        "t3.medium");
          } else if (has_type && !IsInstanceType(pool.instance_type)) {
            p.Error(m["instance_type"].Mark(),
                    where + ".instance_type '" + pool.instance_type +
                        "' must be an EC2 instance type such as g4dn.xlarge");
          }
        }
        if (m.count("groups")) p.Groups(m["groups"], where + ".groups", &pool.groups);
        if (m.count("spot")) p.Bool(m["spot"], where + ".spot", &pool.spot);
        int64_t gb = 0;
        if (m.count("root_volume_gb") && p.Int(m["root_volume_gb"], where + ".root_volume_gb",
                                               kMinRootVolumeGb, kMaxRootVolumeGb, &gb)) {
          pool.root_volume_gb = static_cast<int>(gb);
        }
        fleet.pools.push_back(pool);
      }
    }
  }
  if (top.count("control_plane")) {
    auto cp = p.Map(top["control_plane"], "control_plane", {"grpc_port", "http_port"});
    if (cp.count("grpc_port"))
      p.Port(cp["grpc_port"], "control_plane.grpc_port", &fleet.control_plane.grpc_port);
    if (cp.count("http_port"))
      p.Port(cp["http_port"], "control_plane.http_port", &fleet.control_plane.http_port);
    if (fleet.control_plane.grpc_port == fleet.control_plane.http_port) {
      p.Error(top["control_plane"].Mark(), "control_plane.grpc_port and http_port must differ");
    }
  }
  if (top.count("providers")) {
    auto providers = p.Map(top["providers"], "providers", {"local", "aws"});
    if (providers.count("aws")) ParseAws(p, providers["aws"], fleet.aws);
    if (providers.count("local")) {
      auto local = p.Map(providers["local"], "providers.local", {"underlay"});
      if (local.count("underlay") &&
          p.Cidr(local["underlay"], "providers.local.underlay", &fleet.local.underlay)) {
        marks["providers.local.underlay"] = local["underlay"].Mark();
      }
    }
  }
}

bool Overlap(const Ipv4Net& a, const Ipv4Net& b) {
  uint32_t mask = a.mask & b.mask;  // the shorter prefix decides
  return (a.ip & mask) == (b.ip & mask);
}

// Rules that involve more than one field.
void Validate(Parser& p, const FleetSpec& f, std::map<std::string, YAML::Mark>& marks) {
  const Ipv4Net& mesh = f.mesh.cidr;
  int prefix = mesh.PrefixLength();
  if (prefix > 16) {
    p.Error(
        marks["mesh.cidr"],
        "mesh.cidr " + mesh.ToString() +
            " is narrower than /16: sites are laid out as .0.x "
            "(lighthouse), .1.x (homelab) and .2.x and up (workers), and with a narrower mask "
            "nebula refuses lighthouses outside a host's own network ('static_host_map key is not "
            "in our subnet'); use a /16, e.g. " +
            Ipv4Net{mesh.ip, PrefixToMask(16)}.Masked().ToString());
  }
  if (Overlap(mesh, f.local.underlay)) {
    p.Error(marks.count("providers.local.underlay") ? marks["providers.local.underlay"]
                                                    : marks["mesh.cidr"],
            "mesh.cidr " + mesh.ToString() + " overlaps providers.local.underlay " +
                f.local.underlay.ToString() + "; the overlay and the underlay must be disjoint");
  }
  // The local provider adds the low 16 bits of a node's mesh address to the underlay network;
  // a narrower underlay would give two nodes the same underlay address.
  if (f.local.underlay.PrefixLength() > 16) {
    p.Error(marks["providers.local.underlay"],
            "providers.local.underlay " + f.local.underlay.ToString() +
                " is narrower than /16: "
                "each node's underlay address is this network plus the low 16 bits of its mesh "
                "address; use a /16 or wider, e.g. 198.18.0.0/15");
  }
  uint32_t homelab = f.homelab.mesh_ip;
  // When homelab.mesh_ip is left at its default, a problem with it comes from mesh.cidr.
  const YAML::Mark hm =
      marks.count("homelab.mesh_ip") ? marks["homelab.mesh_ip"] : marks["mesh.cidr"];
  if (!mesh.Contains(homelab)) {
    p.Error(hm, "homelab.mesh_ip " + FormatIpv4(homelab) + " is outside mesh.cidr " +
                    mesh.ToString() + "; set homelab.mesh_ip to an address in the homelab " +
                    "range, e.g. " + FormatIpv4(mesh.Network() | 0x101));
  } else if (prefix <= 16 && ((homelab >> 8) & 0xff) != 1) {
    p.Error(hm, "homelab.mesh_ip " + FormatIpv4(homelab) + " must be in the homelab range " +
                    FormatIpv4(mesh.Network() | 0x100) +
                    "/24 (.0.x is the lighthouse's, .2.x and "
                    "up the workers')");
  } else if ((homelab & 0xff) == 0 || (homelab & 0xff) == 255) {
    p.Error(hm, "homelab.mesh_ip " + FormatIpv4(homelab) + " ends in ." +
                    std::to_string(homelab & 0xff) + "; use .1 to .254");
  }
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

Result<FleetSpec> ParseFleet(std::string_view yaml, const std::string& filename) {
  Parser p(filename);
  FleetSpec fleet;
  std::map<std::string, YAML::Mark> marks;
  try {
    YAML::Node root = YAML::Load(std::string(yaml));
    if (!root.IsDefined() || root.IsNull()) {
      return Status::InvalidArgument(filename +
                                     ":1:1: the file is empty; run 'carrierarr init' to write one");
    }
    ParseDocument(p, root, fleet, marks);
  } catch (const YAML::Exception& e) {
    p.Error(e.mark, "not valid YAML: " + e.msg);
  }
  if (p.errors().empty()) Validate(p, fleet, marks);
  if (!p.errors().empty()) {
    std::string message;
    for (const auto& e : p.errors()) message += (message.empty() ? "" : "\n") + e;
    return Status::InvalidArgument(message);
  }
  return fleet;
}

Result<FleetSpec> LoadFleet(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) {
    return Status(
        text.status().code(),
        text.status().message() + "; run 'carrierarr init' to write a fleet.yaml, or pass -f FILE");
  }
  return ParseFleet(*text, path);
}

}  // namespace carrierarr::spec
