#include "testing/fake_aws.h"

#include <fnmatch.h>
#include <httplib.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "aws/sigv4.h"
#include "testing/form_decode.h"

namespace carrierarr::testing {

using Json = nlohmann::json;
using Params = std::map<std::string, std::string>;
using Tags = std::vector<std::pair<std::string, std::string>>;

namespace {

constexpr char kNs[] = "http://ec2.amazonaws.com/doc/2016-11-15/";

struct Reply {
  int status = 200;
  std::string body;
  std::string content_type = "text/xml;charset=UTF-8";
  std::string error_type;  // JSON errors: X-Amzn-ErrorType
};

std::string Esc(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

Params ParseForm(const std::string& body) {
  Params out;
  size_t start = 0;
  while (start <= body.size()) {
    size_t amp = body.find('&', start);
    if (amp == std::string::npos) amp = body.size();
    std::string item = body.substr(start, amp - start);
    size_t eq = item.find('=');
    if (!item.empty())
      out[FormDecode(item.substr(0, eq))] =
          eq == std::string::npos ? "" : FormDecode(item.substr(eq + 1));
    start = amp + 1;
  }
  return out;
}

// What cloud-init does with gzip userdata; false when it is not whole gzip.
bool Gunzip(const std::string& in, std::string* out) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) return false;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  std::string text;
  char buf[16384];
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof(buf);
    rc = inflate(&z, Z_NO_FLUSH);
    text.append(buf, sizeof(buf) - z.avail_out);
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END) return false;
  *out = std::move(text);
  return true;
}

std::string B64Decode(const std::string& in) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t buf = 0;
  int bits = 0;
  for (char c : in) {
    size_t v = kAlphabet.find(c);
    if (v == std::string::npos) continue;
    buf = (buf << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buf >> bits) & 0xff);
    }
  }
  return out;
}

// Name.N.Key style lists: every N for which `prefix + N + suffix` is present, in order.
std::vector<std::string> Indexed(const Params& p, const std::string& prefix,
                                 const std::string& suffix = "") {
  std::vector<std::string> out;
  for (int i = 1; p.count(prefix + std::to_string(i) + suffix); ++i)
    out.push_back(p.at(prefix + std::to_string(i) + suffix));
  return out;
}

using Filters = std::map<std::string, std::vector<std::string>>;
Filters ParseFilters(const Params& p) {
  Filters f;
  for (int i = 1; p.count("Filter." + std::to_string(i) + ".Name"); ++i) {
    std::string k = "Filter." + std::to_string(i);
    f[p.at(k + ".Name")] = Indexed(p, k + ".Value.");
  }
  return f;
}

Tags TagsFromSpec(const Params& p, const std::string& type) {
  Tags tags;
  for (int i = 1; p.count("TagSpecification." + std::to_string(i) + ".ResourceType"); ++i) {
    std::string k = "TagSpecification." + std::to_string(i);
    if (p.at(k + ".ResourceType") != type) continue;
    for (int j = 1; p.count(k + ".Tag." + std::to_string(j) + ".Key"); ++j) {
      std::string t = k + ".Tag." + std::to_string(j);
      tags.emplace_back(p.at(t + ".Key"), p.count(t + ".Value") ? p.at(t + ".Value") : "");
    }
  }
  return tags;
}

std::string TagValue(const Tags& tags, const std::string& key) {
  for (const auto& [k, v] : tags)
    if (k == key) return v;
  return "";
}

// True when every filter matches: `attr(name)` gives the resource's values for a filter name.
bool Matches(const Filters& filters,
             const std::function<std::vector<std::string>(const std::string&)>& attr,
             const Tags& tags) {
  for (const auto& [name, values] : filters) {
    std::vector<std::string> have;
    if (name.rfind("tag:", 0) == 0) {
      for (const auto& [k, v] : tags)
        if (k == name.substr(4)) have.push_back(v);
    } else if (name == "tag-key") {
      for (const auto& [k, v] : tags) have.push_back(k);
    } else {
      have = attr(name);
    }
    bool any = false;
    for (const auto& h : have)
      for (const auto& v : values) any = any || fnmatch(v.c_str(), h.c_str(), 0) == 0;
    if (!any) return false;
  }
  return true;
}

std::string TagSet(const Tags& tags) {
  std::string x = "<tagSet>";
  for (const auto& [k, v] : tags)
    x += "<item><key>" + Esc(k) + "</key><value>" + Esc(v) + "</value></item>";
  return x + "</tagSet>";
}

// ---- resource policies ---------------------------------------------------------------------

// A policy element that is a string or a list of strings, as a list ("" entries for other types).
std::vector<std::string> Strings(const Json& j) {
  std::vector<std::string> out;
  if (j.is_string()) out.push_back(j.get<std::string>());
  if (j.is_array())
    for (const auto& v : j) out.push_back(v.is_string() ? v.get<std::string>() : "");
  return out;
}

// `j[key]` when `j` is an object holding it, else null (no temporaries in range-for loops).
const Json& Member(const Json& j, const char* key) {
  static const Json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

bool IsKnownOperator(const std::string& op) {
  return op == "ArnEquals" || op == "ArnNotEquals" || op == "StringEquals" ||
         op == "StringNotEquals";
}

// What PutResourcePolicy refuses: not a policy, or one this fake cannot evaluate (so a test
// never passes on a policy that nothing checked). "" = acceptable.
std::string PolicyProblem(const std::string& text) {
  const Json policy = Json::parse(text, nullptr, false);
  if (!policy.is_object()) return "the policy is not a JSON object";
  if (policy.value("Version", "") != "2012-10-17") return "Version must be 2012-10-17";
  const Json& statements = Member(policy, "Statement");
  if (!statements.is_array() || statements.empty()) return "Statement must be a non-empty list";
  for (const auto& st : statements) {
    const std::string effect = st.value("Effect", "");
    if (effect != "Allow" && effect != "Deny") return "Effect must be Allow or Deny";
    if (!st.contains("Principal")) return "a statement without a Principal";
    if (Strings(Member(st, "Action")).empty()) return "a statement without an Action";
    const Json& conditions = Member(st, "Condition");
    if (!conditions.is_null() && !conditions.is_object()) return "Condition must be a mapping";
    if (conditions.is_null()) continue;
    for (const auto& [op, keys] : conditions.items()) {
      if (!IsKnownOperator(op)) return "condition operator " + op + " (not modelled by the fake)";
      if (!keys.is_object()) return "condition " + op + " must map keys to values";
    }
  }
  return "";
}

// True when one of the policy's Deny statements matches `action` by a caller with `context`
// (condition key -> value; a key the request does not carry is absent).
bool DeniedBy(const std::string& text, const std::string& action,
              const std::map<std::string, std::string>& context) {
  const Json policy = Json::parse(text, nullptr, false);
  if (!policy.is_object()) return false;
  const Json& statements = Member(policy, "Statement");
  if (!statements.is_array()) return false;
  for (const auto& st : statements) {
    if (st.value("Effect", "") != "Deny") continue;
    const Json& principal = Member(st, "Principal");
    if (!(principal == "*" || Member(principal, "AWS") == "*")) continue;
    bool action_matches = false;
    for (const auto& a : Strings(Member(st, "Action")))
      action_matches = action_matches || fnmatch(a.c_str(), action.c_str(), FNM_CASEFOLD) == 0;
    if (!action_matches) continue;
    bool all = true;
    const Json& conditions = Member(st, "Condition");
    if (!conditions.is_object()) return true;  // no condition: the Deny holds for everyone
    for (const auto& [op, keys] : conditions.items()) {
      for (const auto& [key, values] : keys.items()) {
        auto have = context.find(key);
        bool equal = false;
        for (const auto& v : Strings(values))
          equal = equal || (have != context.end() && have->second == v);
        const bool negated = op.find("Not") != std::string::npos;
        all = all && (negated ? !equal : equal);
      }
    }
    if (all) return true;
  }
  return false;
}

}  // namespace

std::string FakeAws::Instance::TagValue(const std::string& key) const {
  return testing::TagValue(tags, key);
}

struct FakeAws::State {
  Options options;
  httplib::Server server;
  std::thread thread;
  int port = 0;

  mutable std::mutex mu;  // guards everything below
  int calls = 0, in_flight = 0, max_in_flight = 0, next_id = 1;
  std::map<std::string, int> calls_by_action;
  struct Failure {
    int status;
    std::string code, message;
    int times;
  };
  std::map<std::string, Failure> failures;
  struct Group {
    std::string id, name, description, vpc;
    std::vector<Rule> rules;
    Tags tags;
  };
  struct Key {
    std::string name, id, type;
    Tags tags;
  };
  struct Address {
    std::string allocation_id, public_ip, association_id, instance_id;
    Tags tags;
  };
  struct Secret {
    std::string name, arn, value;
    bool deleted = false;
    Tags tags;
    std::string policy;  // PutResourcePolicy's document, "" = none
  };
  struct RoleKey {
    std::string secret_access_key, session_token, instance_id;
  };
  std::map<std::string, RoleKey> role_keys;  // by access key id: instances' role credentials
  std::map<std::string, Group> groups;       // by id
  std::map<std::string, Key> keys;           // by name
  std::vector<FakeAws::Instance> instances;
  std::map<std::string, std::string> client_tokens;  // token -> instance id
  std::map<std::string, std::string> token_params;   // token -> request fingerprint
  std::map<std::string, Address> addresses;          // by allocation id
  std::map<std::string, Secret> secrets;             // by name

  // Sleeps for up to options.jitter, at random.
  void Jitter() {
    if (options.jitter.count() <= 0) return;
    thread_local std::mt19937 random{std::random_device{}()};
    std::uniform_int_distribution<int64_t> pick(0, options.jitter.count());
    std::this_thread::sleep_for(std::chrono::milliseconds(pick(random)));
  }

  std::string NewId(const std::string& prefix, int hex_digits) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%0*x", hex_digits, next_id++);
    return prefix + buf;
  }

  // ---- EC2 --------------------------------------------------------------------------------

  static Reply Ec2Error(int status, const std::string& code, const std::string& message) {
    return {status,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>" +
                Esc(code) + "</Code><Message>" + Esc(message) +
                "</Message></Error></Errors><RequestID>fake-request</RequestID></Response>"};
  }
  static Reply Ec2Ok(const std::string& action, const std::string& inner) {
    return {200, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<" + action + "Response xmlns=\"" +
                     kNs + "\"><requestId>fake-request</requestId>" + inner + "</" + action +
                     "Response>"};
  }

  std::string InstanceXml(const FakeAws::Instance& i) {
    static const std::map<std::string, int> kCodes = {{"pending", 0},        {"running", 16},
                                                      {"shutting-down", 32}, {"terminated", 48},
                                                      {"stopping", 64},      {"stopped", 80}};
    return "<item><instanceId>" + i.id + "</instanceId><imageId>" + Esc(i.image_id) +
           "</imageId><instanceState><code>" + std::to_string(kCodes.at(i.state)) +
           "</code><name>" + i.state + "</name></instanceState><privateIpAddress>" + i.private_ip +
           "</privateIpAddress>" +
           (i.public_ip.empty() || i.state == "terminated"
                ? ""
                : "<ipAddress>" + i.public_ip + "</ipAddress>") +
           "<instanceType>" + Esc(i.type) + "</instanceType><keyName>" + Esc(i.key_name) +
           "</keyName><launchTime>2026-11-22T10:00:00.000Z</launchTime>" +
           (i.spot ? "<instanceLifecycle>spot</instanceLifecycle>" : "") + TagSet(i.tags) +
           "</item>";
  }

  // StopInstances (running or pending -> stopping -> stopped; a one-time spot instance cannot
  // stop) and StartInstances (stopped -> pending -> running; a started one is left as it is).
  // The volumes stay with the instance, as on AWS.
  Reply StopOrStart(const std::string& action, const Params& p) {
    const bool stop = action == "StopInstances";
    std::string x = "<instancesSet>";
    for (const auto& id : Indexed(p, "InstanceId.")) {
      FakeAws::Instance* i = FindInstance(id);
      if (i == nullptr || i->state == "terminated")
        return Ec2Error(400, "InvalidInstanceID.NotFound",
                        "The instance ID '" + id + "' does not exist");
      if (stop && i->spot)
        return Ec2Error(400, "UnsupportedOperation",
                        "You can't stop the Spot Instance '" + id +
                            "' because it is associated with a one-time Spot Instance request.");
      const std::string before = i->state;
      if (stop && (before == "running" || before == "pending")) {
        i->state = "stopping";
        ++i->stops;
      } else if (!stop && before == "stopped") {
        i->state = "pending";
        ++i->starts;
      } else if (!stop && before != "running" && before != "pending") {
        return Ec2Error(
            400, "IncorrectInstanceState",
            "The instance '" + id + "' is not in a state from which it can be started.");
      } else if (stop && before != "stopping" && before != "stopped") {
        return Ec2Error(
            400, "IncorrectInstanceState",
            "The instance '" + id + "' is not in a state from which it can be stopped.");
      }
      if (i->state != before) i->describes = 0;
      x += "<item><instanceId>" + id + "</instanceId><currentState><name>" + i->state +
           "</name></currentState><previousState><name>" + before +
           "</name></previousState></item>";
    }
    return Ec2Ok(action, x + "</instancesSet>");
  }

  // Advances an instance's state as time passes on AWS: one step per `n` describes.
  void Age(FakeAws::Instance& i) {
    ++i.describes;
    if (i.state == "pending" && i.describes > options.pending_describes) {
      i.state = "running";
      i.describes = 0;
    } else if (i.state == "stopping" && i.describes > options.terminating_describes) {
      i.state = "stopped";
      i.describes = 0;
    } else if (i.state == "shutting-down" && i.describes > options.terminating_describes) {
      i.state = "terminated";
      i.describes = 0;
      for (auto& [id, a] : addresses) {
        if (a.instance_id == i.id) {
          a.instance_id.clear();
          a.association_id.clear();
        }
      }
    }
  }

  FakeAws::Instance* FindInstance(const std::string& id) {
    for (auto& i : instances)
      if (i.id == id) return &i;
    return nullptr;
  }

  Reply Ec2(const std::string& action, const Params& p) {
    const Filters filters = ParseFilters(p);
    auto need = [&](const std::string& key) { return p.count(key) != 0; };
    if (action == "DescribeVpcs") {
      bool match = Matches(filters,
                           [](const std::string& n) {
                             return n == "isDefault"
                                        ? std::vector<std::string>{"true"}
                                        : std::vector<std::string>{"vpc-0fa4e0000000000001"};
                           },
                           {});
      return Ec2Ok(action, std::string("<vpcSet>") +
                               (match ? "<item><vpcId>vpc-0fa4e0000000000001</vpcId><isDefault>"
                                        "true</isDefault></item>"
                                      : "") +
                               "</vpcSet>");
    }
    if (action == "CreateSecurityGroup") {
      if (!need("GroupName") || !need("GroupDescription"))
        return Ec2Error(400, "MissingParameter", "GroupName and GroupDescription are required");
      std::string vpc = need("VpcId") ? p.at("VpcId") : "vpc-0fa4e0000000000001";
      for (const auto& [id, g] : groups)
        if (g.name == p.at("GroupName") && g.vpc == vpc)
          return Ec2Error(
              400, "InvalidGroup.Duplicate",
              "The security group '" + g.name + "' already exists for VPC '" + vpc + "'");
      Group g{NewId("sg-", 17),
              p.at("GroupName"),
              p.at("GroupDescription"),
              vpc,
              {},
              TagsFromSpec(p, "security-group")};
      groups[g.id] = g;
      return Ec2Ok(action, "<return>true</return><groupId>" + g.id + "</groupId>");
    }
    if (action == "DescribeSecurityGroups") {
      std::string x = "<securityGroupInfo>";
      for (const auto& [id, g] : groups) {
        if (!Matches(
                filters,
                [&](const std::string& n) -> std::vector<std::string> {
                  if (n == "group-name") return {g.name};
                  if (n == "group-id") return {g.id};
                  if (n == "vpc-id") return {g.vpc};
                  return {};
                },
                g.tags))
          continue;
        x += "<item><ownerId>123456789012</ownerId><groupId>" + g.id + "</groupId><groupName>" +
             Esc(g.name) + "</groupName><groupDescription>" + Esc(g.description) +
             "</groupDescription><vpcId>" + g.vpc + "</vpcId><ipPermissions>";
        for (const auto& r : g.rules) {
          bool v6 = r.cidr.find(':') != std::string::npos;
          x += "<item><ipProtocol>" + r.protocol + "</ipProtocol><fromPort>" +
               std::to_string(r.from_port) + "</fromPort><toPort>" + std::to_string(r.to_port) +
               "</toPort><groups/>" + (v6 ? "<ipRanges/><ipv6Ranges>" : "<ipRanges>") + "<item><" +
               (v6 ? "cidrIpv6>" : "cidrIp>") + r.cidr + "</" + (v6 ? "cidrIpv6>" : "cidrIp>") +
               "<description>" + Esc(r.description) + "</description></item>" +
               (v6 ? "</ipv6Ranges>" : "</ipRanges><ipv6Ranges/>") + "</item>";
        }
        x += "</ipPermissions>" + TagSet(g.tags) + "</item>";
      }
      return Ec2Ok(action, x + "</securityGroupInfo>");
    }
    if (action == "AuthorizeSecurityGroupIngress" || action == "RevokeSecurityGroupIngress") {
      auto it = groups.find(need("GroupId") ? p.at("GroupId") : "");
      if (it == groups.end())
        return Ec2Error(400, "InvalidGroup.NotFound", "The security group does not exist");
      for (int i = 1; need("IpPermissions." + std::to_string(i) + ".IpProtocol"); ++i) {
        std::string k = "IpPermissions." + std::to_string(i);
        Rule r{p.at(k + ".IpProtocol"), std::stoi(p.at(k + ".FromPort")),
               std::stoi(p.at(k + ".ToPort")), "", ""};
        if (need(k + ".IpRanges.1.CidrIp")) {
          r.cidr = p.at(k + ".IpRanges.1.CidrIp");
          if (need(k + ".IpRanges.1.Description"))
            r.description = p.at(k + ".IpRanges.1.Description");
        } else if (need(k + ".Ipv6Ranges.1.CidrIpv6")) {
          r.cidr = p.at(k + ".Ipv6Ranges.1.CidrIpv6");
        }
        auto& rules = it->second.rules;
        auto same = std::find_if(rules.begin(), rules.end(), [&](const Rule& o) {
          return o.protocol == r.protocol && o.from_port == r.from_port && o.to_port == r.to_port &&
                 o.cidr == r.cidr;
        });
        if (action == "AuthorizeSecurityGroupIngress") {
          if (same != rules.end())
            return Ec2Error(400, "InvalidPermission.Duplicate",
                            "the specified rule \"peer: " + r.cidr + "\" already exists");
          rules.push_back(r);
        } else {
          if (same == rules.end())
            return Ec2Error(400, "InvalidPermission.NotFound", "the rule does not exist");
          rules.erase(same);
        }
      }
      return Ec2Ok(action, "<return>true</return>");
    }
    if (action == "DeleteSecurityGroup") {
      auto it = groups.find(need("GroupId") ? p.at("GroupId") : "");
      if (it == groups.end())
        return Ec2Error(400, "InvalidGroup.NotFound", "The security group does not exist");
      for (auto& i : instances) {
        if (i.security_group_id == it->first && i.state != "terminated") {
          Age(i);  // time passes for the instance while the caller waits
          if (i.state != "terminated")
            return Ec2Error(400, "DependencyViolation",
                            "resource " + it->first + " has a dependent object");
        }
      }
      groups.erase(it);
      return Ec2Ok(action, "<return>true</return>");
    }
    if (action == "CreateKeyPair") {
      std::string name = need("KeyName") ? p.at("KeyName") : "";
      if (name.empty()) return Ec2Error(400, "MissingParameter", "KeyName is required");
      if (keys.count(name))
        return Ec2Error(400, "InvalidKeyPair.Duplicate", "The keypair already exists");
      Key k{name, NewId("key-", 17), need("KeyType") ? p.at("KeyType") : "rsa",
            TagsFromSpec(p, "key-pair")};
      keys[name] = k;
      return Ec2Ok(action, "<keyName>" + Esc(name) + "</keyName><keyFingerprint>fa:ke</" +
                               "keyFingerprint><keyMaterial>-----BEGIN OPENSSH PRIVATE KEY-----\n"
                               "ZmFrZSBrZXkgZm9yIHRlc3Rz\n-----END OPENSSH PRIVATE KEY-----"
                               "</keyMaterial><keyPairId>" +
                               k.id + "</keyPairId>");
    }
    if (action == "DescribeKeyPairs") {
      std::string x = "<keySet>";
      for (const auto& [name, k] : keys) {
        if (!Matches(
                filters,
                [&](const std::string& n) -> std::vector<std::string> {
                  if (n == "key-name") return {k.name};
                  return {};
                },
                k.tags))
          continue;
        x += "<item><keyPairId>" + k.id + "</keyPairId><keyName>" + Esc(k.name) +
             "</keyName><keyFingerprint>fa:ke</keyFingerprint><keyType>" + k.type + "</keyType>" +
             TagSet(k.tags) + "</item>";
      }
      return Ec2Ok(action, x + "</keySet>");
    }
    if (action == "DeleteKeyPair") {
      keys.erase(need("KeyName") ? p.at("KeyName") : "");
      return Ec2Ok(action, "<return>true</return>");
    }
    if (action == "DescribeImages") {
      struct Img {
        const char *id, *name, *arch, *date;
      };
      static const Img kImages[] = {
          {"ami-0a11", "al2023-ami-2023.5.20240701.0-kernel-6.1-x86_64", "x86_64",
           "2024-07-01T00:00:00.000Z"},
          {"ami-0a12", "al2023-ami-2023.6.20241101.0-kernel-6.1-x86_64", "x86_64",
           "2024-11-01T00:00:00.000Z"},
          {"ami-0b11", "al2023-ami-2023.6.20241101.0-kernel-6.1-arm64", "arm64",
           "2024-11-01T00:00:00.000Z"},
          {"ami-0c11", "al2023-ami-minimal-2023.6.20241101.0-kernel-6.1-x86_64", "x86_64",
           "2024-11-02T00:00:00.000Z"},
          // AWS's GPU images with the NVIDIA driver, and a newer Ubuntu one that must not match.
          {"ami-0d21", "Deep Learning Base OSS Nvidia Driver GPU AMI (Amazon Linux 2023) 20260831",
           "x86_64", "2026-09-01T00:00:00.000Z"},
          {"ami-0d22", "Deep Learning Base OSS Nvidia Driver GPU AMI (Amazon Linux 2023) 20260929",
           "x86_64", "2026-10-01T00:00:00.000Z"},
          {"ami-0d31",
           "Deep Learning ARM64 Base OSS Nvidia Driver GPU AMI (Amazon Linux 2023) 20260929",
           "arm64", "2026-10-01T00:00:00.000Z"},
          {"ami-0d41", "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) 20261001",
           "x86_64", "2026-10-02T00:00:00.000Z"}};
      std::string x = "<imagesSet>";
      if (!need("Owner.1") || p.at("Owner.1") == "amazon") {
        for (const auto& img : kImages) {
          if (!Matches(filters,
                       [&](const std::string& n) -> std::vector<std::string> {
                         if (n == "name") return {img.name};
                         if (n == "architecture") return {img.arch};
                         if (n == "state") return {"available"};
                         return {};
                       },
                       {}))
            continue;
          x += std::string("<item><imageId>") + img.id + "</imageId><name>" + img.name +
               "</name><architecture>" + img.arch + "</architecture><creationDate>" + img.date +
               "</creationDate><imageState>available</imageState></item>";
        }
      }
      return Ec2Ok(action, x + "</imagesSet>");
    }
    if (action == "RunInstances") {
      for (const char* k : {"ImageId", "InstanceType", "MinCount", "MaxCount"})
        if (!need(k)) return Ec2Error(400, "MissingParameter", std::string(k) + " is required");
      std::string fingerprint;
      for (const auto& [k, v] : p)
        if (k != "ClientToken") fingerprint += k + "=" + v + "&";
      std::string token = need("ClientToken") ? p.at("ClientToken") : "";
      if (!token.empty() && client_tokens.count(token)) {
        if (token_params[token] != fingerprint)
          return Ec2Error(400, "IdempotentParameterMismatch",
                          "the client token was used with other parameters");
        return Ec2Ok(action,
                     "<reservationId>r-fake</reservationId><ownerId>123456789012</ownerId>"
                     "<instancesSet>" +
                         InstanceXml(*FindInstance(client_tokens[token])) + "</instancesSet>");
      }
      if (p.at("ImageId").rfind("ami-", 0) != 0)
        return Ec2Error(400, "InvalidAMIID.Malformed", "Invalid id: " + p.at("ImageId"));
      if (need("KeyName") && !keys.count(p.at("KeyName")))
        return Ec2Error(400, "InvalidKeyPair.NotFound",
                        "The key pair '" + p.at("KeyName") + "' does not exist");
      if (need("SecurityGroupId.1") && !groups.count(p.at("SecurityGroupId.1")))
        return Ec2Error(400, "InvalidGroup.NotFound", "The security group does not exist");
      FakeAws::Instance i;
      i.id = NewId("i-", 17);
      i.type = p.at("InstanceType");
      i.image_id = p.at("ImageId");
      i.key_name = need("KeyName") ? p.at("KeyName") : "";
      i.security_group_id = need("SecurityGroupId.1") ? p.at("SecurityGroupId.1") : "";
      i.subnet_id = need("SubnetId") ? p.at("SubnetId") : "";
      i.iam_instance_profile =
          need("IamInstanceProfile.Name") ? p.at("IamInstanceProfile.Name") : "";
      i.http_tokens =
          need("MetadataOptions.HttpTokens") ? p.at("MetadataOptions.HttpTokens") : "optional";
      // The AMI's default (2 on Amazon Linux 2023) when RunInstances names none.
      i.http_put_response_hop_limit =
          need("MetadataOptions.HttpPutResponseHopLimit")
              ? std::stoi(p.at("MetadataOptions.HttpPutResponseHopLimit"))
              : 2;
      i.client_token = token;
      i.user_data = need("UserData") ? B64Decode(p.at("UserData")) : "";
      i.user_data_gzipped = i.user_data.rfind("\x1f\x8b", 0) == 0;
      if (i.user_data_gzipped && !Gunzip(i.user_data, &i.user_data)) {
        return Ec2Error(400, "InvalidParameterValue", "UserData is gzip that does not decompress");
      }
      i.root_volume_gb = need("BlockDeviceMapping.1.Ebs.VolumeSize")
                             ? std::stoi(p.at("BlockDeviceMapping.1.Ebs.VolumeSize"))
                             : 8;
      i.root_encrypted = need("BlockDeviceMapping.1.Ebs.Encrypted") &&
                         p.at("BlockDeviceMapping.1.Ebs.Encrypted") == "true";
      i.spot = need("InstanceMarketOptions.MarketType") &&
               p.at("InstanceMarketOptions.MarketType") == "spot";
      if (i.spot && !options.spot_capacity)
        return Ec2Error(500, "InsufficientInstanceCapacity",
                        "There is no Spot capacity available that matches your request.");
      for (int n = 1; need("BlockDeviceMapping." + std::to_string(n) + ".DeviceName"); ++n) {
        const std::string at = "BlockDeviceMapping." + std::to_string(n) + ".";
        auto value = [&](const std::string& key) { return need(at + key) ? p.at(at + key) : ""; };
        const std::string size = value("Ebs.VolumeSize");
        i.volumes.push_back({.device = value("DeviceName"),
                             .type = value("Ebs.VolumeType"),
                             .size_gb = size.empty() ? 8 : std::stoi(size),
                             .encrypted = value("Ebs.Encrypted") == "true",
                             .delete_on_termination = value("Ebs.DeleteOnTermination") == "true"});
      }
      i.state = "pending";
      int n = next_id;
      i.private_ip =
          "172.31." + std::to_string((n / 250) % 250) + "." + std::to_string(n % 250 + 2);
      i.public_ip = "203.0.113." + std::to_string(n % 250 + 2);
      i.tags = TagsFromSpec(p, "instance");
      instances.push_back(i);
      if (!token.empty()) {
        client_tokens[token] = i.id;
        token_params[token] = fingerprint;
      }
      return Ec2Ok(action,
                   "<reservationId>r-fake</reservationId><ownerId>123456789012</ownerId>"
                   "<instancesSet>" +
                       InstanceXml(i) + "</instancesSet>");
    }
    if (action == "DescribeInstances") {
      std::vector<std::string> ids = Indexed(p, "InstanceId.");
      for (const auto& id : ids)
        if (FindInstance(id) == nullptr)
          return Ec2Error(400, "InvalidInstanceID.NotFound",
                          "The instance ID '" + id + "' does not exist");
      std::string x = "<reservationSet>";
      for (auto& i : instances) {
        if (!ids.empty() && std::find(ids.begin(), ids.end(), i.id) == ids.end()) continue;
        Age(i);
        if (!Matches(
                filters,
                [&](const std::string& n) -> std::vector<std::string> {
                  if (n == "instance-state-name") return {i.state};
                  if (n == "instance-id") return {i.id};
                  return {};
                },
                i.tags))
          continue;
        x += "<item><reservationId>r-fake</reservationId><ownerId>123456789012</ownerId>"
             "<instancesSet>" +
             InstanceXml(i) + "</instancesSet></item>";
      }
      return Ec2Ok(action, x + "</reservationSet>");
    }
    if (action == "TerminateInstances") {
      std::string x = "<instancesSet>";
      for (const auto& id : Indexed(p, "InstanceId.")) {
        FakeAws::Instance* i = FindInstance(id);
        if (i == nullptr)
          return Ec2Error(400, "InvalidInstanceID.NotFound",
                          "The instance ID '" + id + "' does not exist");
        if (i->state != "terminated" && i->state != "shutting-down") {
          i->state = "shutting-down";
          i->describes = 0;
        }
        x += "<item><instanceId>" + id + "</instanceId><currentState><name>" + i->state +
             "</name></currentState></item>";
      }
      return Ec2Ok(action, x + "</instancesSet>");
    }
    if (action == "StopInstances" || action == "StartInstances") return StopOrStart(action, p);
    if (action == "AllocateAddress") {
      Address a{NewId("eipalloc-", 17), "", "", "", TagsFromSpec(p, "elastic-ip")};
      a.public_ip = "198.51.100." + std::to_string(next_id % 250 + 2);
      addresses[a.allocation_id] = a;
      return Ec2Ok(action, "<publicIp>" + a.public_ip + "</publicIp><domain>vpc</domain>" +
                               "<allocationId>" + a.allocation_id + "</allocationId>");
    }
    if (action == "DescribeAddresses") {
      std::string x = "<addressesSet>";
      for (const auto& [id, a] : addresses) {
        if (!Matches(
                filters,
                [&](const std::string& n) -> std::vector<std::string> {
                  if (n == "allocation-id") return {a.allocation_id};
                  if (n == "public-ip") return {a.public_ip};
                  if (n == "domain") return {"vpc"};
                  return {};
                },
                a.tags))
          continue;
        x += "<item><publicIp>" + a.public_ip + "</publicIp><allocationId>" + a.allocation_id +
             "</allocationId><domain>vpc</domain>" +
             (a.instance_id.empty()
                  ? ""
                  : "<instanceId>" + a.instance_id + "</instanceId>" + "<associationId>" +
                        a.association_id + "</associationId>") +
             TagSet(a.tags) + "</item>";
      }
      return Ec2Ok(action, x + "</addressesSet>");
    }
    if (action == "AssociateAddress") {
      auto it = addresses.find(need("AllocationId") ? p.at("AllocationId") : "");
      if (it == addresses.end())
        return Ec2Error(400, "InvalidAllocationID.NotFound", "the allocation does not exist");
      FakeAws::Instance* i = FindInstance(need("InstanceId") ? p.at("InstanceId") : "");
      if (i == nullptr)
        return Ec2Error(400, "InvalidInstanceID.NotFound", "The instance does not exist");
      if (i->state != "running" && i->state != "pending")
        return Ec2Error(400, "IncorrectInstanceState", "The instance is not running");
      it->second.instance_id = i->id;
      it->second.association_id = "eipassoc-" + it->first.substr(9);
      i->public_ip = it->second.public_ip;
      return Ec2Ok(action, "<return>true</return><associationId>" + it->second.association_id +
                               "</associationId>");
    }
    if (action == "DisassociateAddress") {
      for (auto& [id, a] : addresses) {
        if (need("AssociationId") && a.association_id == p.at("AssociationId")) {
          a.association_id.clear();
          a.instance_id.clear();
          return Ec2Ok(action, "<return>true</return>");
        }
      }
      return Ec2Error(400, "InvalidAssociationID.NotFound", "the association does not exist");
    }
    if (action == "ReleaseAddress") {
      auto it = addresses.find(need("AllocationId") ? p.at("AllocationId") : "");
      if (it == addresses.end())
        return Ec2Error(400, "InvalidAllocationID.NotFound", "the allocation does not exist");
      if (!it->second.association_id.empty())
        return Ec2Error(400, "InvalidIPAddress.InUse", "the address is in use");
      addresses.erase(it);
      return Ec2Ok(action, "<return>true</return>");
    }
    if (action == "CreateTags") {
      for (const auto& id : Indexed(p, "ResourceId.")) {
        for (int j = 1; need("Tag." + std::to_string(j) + ".Key"); ++j) {
          std::pair<std::string, std::string> tag{p.at("Tag." + std::to_string(j) + ".Key"),
                                                  need("Tag." + std::to_string(j) + ".Value")
                                                      ? p.at("Tag." + std::to_string(j) + ".Value")
                                                      : ""};
          if (FakeAws::Instance* i = FindInstance(id)) i->tags.push_back(tag);
          if (groups.count(id)) groups[id].tags.push_back(tag);
        }
      }
      return Ec2Ok(action, "<return>true</return>");
    }
    return Ec2Error(400, "InvalidAction", "The action " + action + " is not valid");
  }

  // ---- JSON services ----------------------------------------------------------------------

  static Reply JsonError(int status, const std::string& type, const std::string& message) {
    return {status, Json{{"__type", type}, {"message", message}}.dump(),
            "application/x-amz-json-1.1", type};
  }
  static Reply JsonOk(const Json& j) { return {200, j.dump(), "application/x-amz-json-1.1", ""}; }

  std::string InstanceArn(const std::string& instance_id) const {
    return "arn:aws:ec2:" + options.region + ":123456789012:instance/" + instance_id;
  }

  // `caller_instance`: the instance whose role signed the request, "" for the account's keys.
  Reply Secrets(const std::string& action, const Json& in, const std::string& caller_instance) {
    std::string id = in.value("SecretId", in.value("Name", ""));
    auto it = secrets.find(id);
    if (action == "CreateSecret") {
      if (it != secrets.end())
        return JsonError(400, "ResourceExistsException",
                         "The operation failed because the secret " + id + " already exists.");
      Secret s{id,
               "arn:aws:secretsmanager:" + options.region + ":123456789012:secret:" + id,
               in.value("SecretString", ""),
               false,
               {},
               ""};
      for (const auto& t : in.value("Tags", Json::array()))
        s.tags.emplace_back(t.value("Key", ""), t.value("Value", ""));
      secrets[id] = s;
      return JsonOk({{"ARN", s.arn}, {"Name", s.name}, {"VersionId", "v1"}});
    }
    if (it == secrets.end())
      return JsonError(400, "ResourceNotFoundException",
                       "Secrets Manager can't find the specified secret.");
    Secret& s = it->second;
    if (action == "DescribeSecret") {
      Json j{{"ARN", s.arn}, {"Name", s.name}, {"Tags", Json::array()}};
      for (const auto& [k, v] : s.tags) j["Tags"].push_back({{"Key", k}, {"Value", v}});
      if (s.deleted) j["DeletedDate"] = 1.7e9;
      return JsonOk(j);
    }
    if (s.deleted)
      return JsonError(400, "InvalidRequestException",
                       "You can't perform this operation on the secret because it was marked "
                       "for deletion.");
    if (action == "GetSecretValue") {
      std::map<std::string, std::string> context;
      if (!caller_instance.empty()) context["ec2:SourceInstanceARN"] = InstanceArn(caller_instance);
      if (DeniedBy(s.policy, "secretsmanager:GetSecretValue", context))
        return JsonError(400, "AccessDeniedException",
                         "User: " +
                             (caller_instance.empty() ? std::string("the account")
                                                      : InstanceArn(caller_instance)) +
                             " is not authorized to perform: secretsmanager:GetSecretValue on "
                             "resource: " +
                             s.name + " with an explicit deny in a resource-based policy");
      return JsonOk({{"ARN", s.arn}, {"Name", s.name}, {"SecretString", s.value}});
    }
    if (action == "PutResourcePolicy") {
      const std::string policy = in.value("ResourcePolicy", "");
      if (std::string problem = PolicyProblem(policy); !problem.empty())
        return JsonError(400, "MalformedPolicyDocumentException", problem);
      s.policy = policy;
      return JsonOk({{"ARN", s.arn}, {"Name", s.name}});
    }
    if (action == "PutSecretValue") {
      s.value = in.value("SecretString", "");
      return JsonOk({{"ARN", s.arn}, {"Name", s.name}});
    }
    if (action == "DeleteSecret") {
      Json j{{"ARN", s.arn}, {"Name", s.name}, {"DeletionDate", 1.7e9}};
      if (in.value("ForceDeleteWithoutRecovery", false)) {
        secrets.erase(it);
      } else {
        s.deleted = true;
      }
      return JsonOk(j);
    }
    return JsonError(400, "InvalidAction", "unknown action " + action);
  }

  Reply Quotas(const std::string& action, const Json& in) {
    if (action != "GetServiceQuota") return JsonError(400, "InvalidAction", "unknown action");
    if (in.value("ServiceCode", "") != "ec2")
      return JsonError(400, "NoSuchResourceException",
                       "The request failed because the specified service does not exist.");
    std::string code = in.value("QuotaCode", "");
    double value = options.quotas.count(code) ? options.quotas.at(code) : 64;
    return JsonOk({{"Quota",
                    {{"ServiceCode", "ec2"},
                     {"QuotaCode", code},
                     {"QuotaName", "fake quota " + code},
                     {"Value", value},
                     {"Unit", "None"},
                     {"Adjustable", true}}}});
  }

  // ---- dispatch ---------------------------------------------------------------------------

  // Checks the SigV4 signature against the request as received; the reply for a refusal.
  // `caller_instance` is set to the instance whose role credentials signed it ("" otherwise).
  std::optional<Reply> Verify(const httplib::Request& req, const std::string& service, bool json,
                              std::string* caller_instance) {
    auto refuse = [&](const std::string& code, const std::string& message) {
      return json ? JsonError(403, code == "AuthFailure" ? "InvalidSignatureException" : code,
                              message)
                  : Ec2Error(401, "AuthFailure", message);
    };
    std::string auth = req.get_header_value("Authorization");
    auto field = [&](const std::string& name) -> std::string {
      size_t at = auth.find(name + "=");
      if (at == std::string::npos) return "";
      at += name.size() + 1;
      size_t end = auth.find(',', at);
      return auth.substr(at, end == std::string::npos ? std::string::npos : end - at);
    };
    std::string credential = field("Credential"), signed_headers = field("SignedHeaders"),
                signature = field("Signature");
    if (auth.rfind("AWS4-HMAC-SHA256 ", 0) != 0 || credential.empty() || signature.empty())
      return refuse("MissingAuthenticationToken", "Request is missing Authentication Token");
    std::vector<std::string> scope;
    for (size_t start = 0;;) {
      size_t slash = credential.find('/', start);
      scope.push_back(credential.substr(start, slash - start));
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    aws::Credentials creds{.access_key_id = options.access_key_id,
                           .secret_access_key = options.secret_access_key};
    if (scope.size() == 5 && scope[0] != options.access_key_id) {
      std::lock_guard<std::mutex> lock(mu);
      auto role = role_keys.find(scope[0]);
      const FakeAws::Instance* i =
          role == role_keys.end() ? nullptr : FindInstance(role->second.instance_id);
      // Role credentials end with their instance, and always come with their session token.
      if (i != nullptr && i->state != "terminated" &&
          req.get_header_value("X-Amz-Security-Token") == role->second.session_token &&
          signed_headers.find("x-amz-security-token") != std::string::npos) {
        creds = {.access_key_id = scope[0], .secret_access_key = role->second.secret_access_key};
        *caller_instance = i->id;
      }
    }
    if (scope.size() != 5 || scope[0] != creds.access_key_id)
      return refuse(json ? "UnrecognizedClientException" : "AuthFailure",
                    "AWS was not able to validate the provided access credentials");
    if (scope[2] != options.region || scope[3] != service)
      return refuse("AuthFailure", "credential scope " + credential + " is not for " + service +
                                       " in " + options.region);
    aws::SigningInput in{.method = req.method,
                         .path = req.path,
                         .body = req.body,
                         .region = scope[2],
                         .service = scope[3]};
    size_t q = req.target.find('?');
    if (q != std::string::npos) in.query = req.target.substr(q + 1);
    for (size_t start = 0; start <= signed_headers.size();) {
      size_t semi = signed_headers.find(';', start);
      if (semi == std::string::npos) semi = signed_headers.size();
      std::string name = signed_headers.substr(start, semi - start);
      auto range = req.headers.equal_range(name);
      for (auto it = range.first; it != range.second; ++it)
        in.headers.emplace_back(name, it->second);
      start = semi + 1;
    }
    // The token is signed as a header like any other; it is not re-added from credentials.
    if (aws::ComputeSignature(in, creds).signature != signature)
      return refuse("AuthFailure",
                    "The request signature we calculated does not match the signature you "
                    "provided. Check your AWS Secret Access Key and signing method.");
    return std::nullopt;
  }

  Reply Handle(const httplib::Request& req) {
    std::string target = req.get_header_value("X-Amz-Target");
    bool json = !target.empty();
    std::string service, action;
    Params form;
    if (json) {
      size_t dot = target.find('.');
      action = target.substr(dot + 1);
      service = target.rfind("secretsmanager.", 0) == 0 ? "secretsmanager" : "servicequotas";
    } else {
      form = ParseForm(req.body);
      service = "ec2";
      action = form.count("Action") ? form["Action"] : "";
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      ++calls;
      ++calls_by_action[action];
    }
    std::string caller_instance;
    if (auto refused = Verify(req, service, json, &caller_instance)) return *refused;
    std::lock_guard<std::mutex> lock(mu);
    if (auto f = failures.find(action); f != failures.end() && f->second.times > 0) {
      --f->second.times;
      return json ? JsonError(f->second.status, f->second.code, f->second.message)
                  : Ec2Error(f->second.status, f->second.code, f->second.message);
    }
    if (!json) {
      if (form["Version"] != "2016-11-15")
        return Ec2Error(400, "InvalidParameterValue", "Version must be 2016-11-15");
      return Ec2(action, form);
    }
    Json in = Json::parse(req.body, nullptr, false);
    if (in.is_discarded()) return JsonError(400, "SerializationException", "not JSON");
    return service == "secretsmanager" ? Secrets(action, in, caller_instance) : Quotas(action, in);
  }
};

Result<std::unique_ptr<FakeAws>> FakeAws::Start(Options options) {
  std::unique_ptr<FakeAws> fake(new FakeAws());
  fake->state_ = std::make_unique<State>();
  State* s = fake->state_.get();
  s->options = options;
  s->server.new_task_queue = [] { return new httplib::ThreadPool(8); };
  // Read through a content reader: Debian's libcpp-httplib refuses form bodies over 8 KiB on
  // its default path, and RunInstances carries up to 16 KiB of userdata.
  s->server.Post(".*", [s](const httplib::Request& original, httplib::Response& res,
                           const httplib::ContentReader& reader) {
    httplib::Request req = original;
    reader([&req](const char* data, size_t n) {
      req.body.append(data, n);
      return true;
    });
    {
      std::lock_guard<std::mutex> lock(s->mu);
      s->max_in_flight = std::max(s->max_in_flight, ++s->in_flight);
    }
    if (s->options.latency.count() > 0) std::this_thread::sleep_for(s->options.latency);
    s->Jitter();
    Reply r = s->Handle(req);
    s->Jitter();
    res.status = r.status;
    if (!r.error_type.empty()) res.set_header("X-Amzn-ErrorType", r.error_type);
    res.set_header("x-amzn-RequestId", "fake-request");
    res.set_content(r.body, r.content_type);
    std::lock_guard<std::mutex> lock(s->mu);
    --s->in_flight;
  });
  if (options.port == 0) {
    s->port = s->server.bind_to_any_port("127.0.0.1");
  } else if (s->server.bind_to_port("127.0.0.1", options.port)) {
    s->port = options.port;
  }
  if (s->port <= 0) return Status::Unavailable("fake AWS: cannot bind 127.0.0.1");
  s->thread = std::thread([s] { s->server.listen_after_bind(); });
  for (int i = 0; i < 500 && !s->server.is_running(); ++i)  // bounded: 5 s
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return fake;
}

FakeAws::~FakeAws() { Stop(); }

void FakeAws::Stop() {
  if (!state_ || !state_->thread.joinable()) return;
  state_->server.stop();
  state_->thread.join();
}

std::string FakeAws::endpoint() const { return "http://127.0.0.1:" + std::to_string(state_->port); }

void FakeAws::FailNext(const std::string& action, int http_status, const std::string& code,
                       const std::string& message, int times) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->failures[action] = {http_status, code, message, times};
}

int FakeAws::calls() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->calls;
}

std::map<std::string, int> FakeAws::CallsByAction() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->calls_by_action;
}

int FakeAws::max_in_flight() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->max_in_flight;
}

std::vector<std::string> FakeAws::Live(const std::string& fleet) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  const State& s = *state_;
  std::vector<std::string> out;
  auto ours = [&](const Tags& tags) {
    return testing::TagValue(tags, "carrierarr:fleet") == fleet;
  };
  for (const auto& i : s.instances)
    if (ours(i.tags) && i.state != "terminated") out.push_back("instance " + i.id);
  for (const auto& [id, g] : s.groups)
    if (ours(g.tags)) out.push_back("security-group " + id);
  for (const auto& [name, k] : s.keys)
    if (ours(k.tags)) out.push_back("key-pair " + name);
  for (const auto& [id, a] : s.addresses)
    if (ours(a.tags)) out.push_back("address " + id);
  for (const auto& [name, secret] : s.secrets)
    if (ours(secret.tags)) out.push_back("secret " + name);
  return out;
}

std::vector<FakeAws::Instance> FakeAws::Instances(const std::string& fleet) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  std::vector<Instance> out;
  for (const auto& i : state_->instances)
    if (i.TagValue("carrierarr:fleet") == fleet && i.state != "terminated") out.push_back(i);
  return out;
}

Result<FakeAws::RoleCredentials> FakeAws::InstanceRoleCredentials(const std::string& instance_id) {
  std::lock_guard<std::mutex> lock(state_->mu);
  State& s = *state_;
  const Instance* i = s.FindInstance(instance_id);
  if (i == nullptr || i->state == "terminated")
    return Status::NotFound("fake AWS: no live instance " + instance_id);
  if (i->iam_instance_profile.empty())
    return Status::FailedPrecondition("fake AWS: instance " + instance_id +
                                      " has no instance profile, so IMDS hands out no credentials");
  RoleCredentials c{.access_key_id = s.NewId("ASIAFAKEROLE", 8),
                    .secret_access_key = "role-secret-" + instance_id,
                    .session_token = "role-session-" + instance_id,
                    .instance_arn = s.InstanceArn(instance_id)};
  s.role_keys[c.access_key_id] = {c.secret_access_key, c.session_token, instance_id};
  return c;
}

std::string FakeAws::SecretPolicy(const std::string& name) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto it = state_->secrets.find(name);
  return it == state_->secrets.end() ? "" : it->second.policy;
}

std::string FakeAws::SecretValue(const std::string& name) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto it = state_->secrets.find(name);
  return it == state_->secrets.end() ? "" : it->second.value;
}

std::vector<FakeAws::Rule> FakeAws::IngressRules(const std::string& fleet) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  std::vector<Rule> out;
  for (const auto& [id, g] : state_->groups)
    if (testing::TagValue(g.tags, "carrierarr:fleet") == fleet)
      out.insert(out.end(), g.rules.begin(), g.rules.end());
  return out;
}

}  // namespace carrierarr::testing
