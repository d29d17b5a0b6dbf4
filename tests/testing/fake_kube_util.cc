#include "testing/fake_kube_util.h"

#include <yaml-cpp/yaml.h>

#include <regex>
#include <sstream>
#include <vector>

namespace carrierarr::testing::kube_fake {
namespace {

std::vector<std::string> SplitTerms(const std::string& selector) {
  std::vector<std::string> terms;
  std::string term;
  int depth = 0;
  for (char c : selector) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      terms.push_back(term);
      term.clear();
    } else if (c != ' ') {
      term += c;
    }
  }
  if (!term.empty()) terms.push_back(term);
  return terms;
}

std::set<std::string> ValueSet(const std::string& list) {  // "(a,b)"
  std::set<std::string> out;
  std::string inner = list.size() >= 2 ? list.substr(1, list.size() - 2) : "";
  std::stringstream in(inner);
  std::string item;
  while (std::getline(in, item, ',')) out.insert(item);
  return out;
}

bool MatchTerm(const Json& labels, const std::string& term) {
  auto value = [&](const std::string& key) -> std::optional<std::string> {
    if (!labels.is_object() || !labels.contains(key) || !labels[key].is_string()) return {};
    return labels[key].get<std::string>();
  };
  for (const char* op : {"notin(", "in("}) {
    size_t at = term.find(op);
    if (at != std::string::npos && at > 0) {
      auto set = ValueSet(term.substr(at + std::string(op).size() - 1));
      auto v = value(term.substr(0, at));
      bool in = v && set.count(*v) > 0;
      return std::string(op) == "in(" ? in : !in;
    }
  }
  if (size_t at = term.find("!="); at != std::string::npos) {
    return value(term.substr(0, at)) != term.substr(at + 2);
  }
  if (size_t at = term.find("=="); at != std::string::npos) {
    return value(term.substr(0, at)) == term.substr(at + 2);
  }
  if (size_t at = term.find('='); at != std::string::npos) {
    return value(term.substr(0, at)) == term.substr(at + 1);
  }
  if (!term.empty() && term[0] == '!') return !value(term.substr(1)).has_value();
  return value(term).has_value();
}

const std::set<std::string> kServerOwned = {"/apiVersion",
                                            "/kind",
                                            "/metadata/name",
                                            "/metadata/namespace",
                                            "/metadata/uid",
                                            "/metadata/resourceVersion",
                                            "/metadata/generation",
                                            "/metadata/creationTimestamp",
                                            "/metadata/managedFields",
                                            "/metadata/selfLink",
                                            "/status"};

std::string EscapePointer(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

void CollectLeaves(const Json& value, const std::string& prefix, std::map<std::string, Json>* out) {
  if (kServerOwned.count(prefix) > 0) return;
  if (value.is_object() && !value.empty()) {
    for (const auto& [key, child] : value.items()) {
      CollectLeaves(child, prefix + "/" + EscapePointer(key), out);
    }
    return;
  }
  if (!prefix.empty()) (*out)[prefix] = value;
}

Json YamlToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (const auto& item : node) out[item.first.as<std::string>()] = YamlToJson(item.second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const auto& item : node) out.push_back(YamlToJson(item));
      return out;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      if (node.Tag() == "!") return s;  // quoted
      if (s == "true" || s == "True") return true;
      if (s == "false" || s == "False") return false;
      if (s == "null" || s == "~") return nullptr;
      static const std::regex kInt("-?[0-9]+");
      static const std::regex kFloat("-?[0-9]+\\.[0-9]+([eE][-+]?[0-9]+)?");
      if (std::regex_match(s, kInt)) return std::stoll(s);
      if (std::regex_match(s, kFloat)) return std::stod(s);
      return s;
    }
    default:
      return nullptr;
  }
}

// The length-delimited fields of a protobuf message by field number (others are skipped);
// nullopt when it does not parse.
std::optional<std::multimap<int, std::string>> ProtoFields(const std::string& message) {
  std::multimap<int, std::string> fields;
  size_t i = 0;
  auto varint = [&](uint64_t* out) {
    *out = 0;
    for (int shift = 0; i < message.size() && shift < 64; shift += 7) {
      auto byte = static_cast<uint8_t>(message[i++]);
      *out |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  };
  while (i < message.size()) {
    uint64_t key = 0;
    uint64_t value = 0;
    if (!varint(&key)) return std::nullopt;
    switch (key & 7) {
      case 0:
        if (!varint(&value)) return std::nullopt;
        break;
      case 1:
        i += 8;
        break;
      case 5:
        i += 4;
        break;
      case 2:
        if (!varint(&value) || value > message.size() - i) return std::nullopt;
        fields.emplace(static_cast<int>(key >> 3), message.substr(i, value));
        i += value;
        break;
      default:
        return std::nullopt;
    }
    if (i > message.size()) return std::nullopt;
  }
  return fields;
}

std::string Base64Encode(const std::string& data) {
  static const char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < data.size(); i += 3) {
    uint32_t n = static_cast<uint8_t>(data[i]) << 16;
    if (i + 1 < data.size()) n |= static_cast<uint8_t>(data[i + 1]) << 8;
    if (i + 2 < data.size()) n |= static_cast<uint8_t>(data[i + 2]);
    out += kChars[(n >> 18) & 63];
    out += kChars[(n >> 12) & 63];
    out += i + 1 < data.size() ? kChars[(n >> 6) & 63] : '=';
    out += i + 2 < data.size() ? kChars[n & 63] : '=';
  }
  return out;
}

std::string First(const std::multimap<int, std::string>& fields, int number) {
  auto it = fields.find(number);
  return it == fields.end() ? "" : it->second;
}

// A map<string,string> field: repeated entries {1: key, 2: value}.
Json ProtoMap(const std::multimap<int, std::string>& fields, int number, bool base64) {
  Json out = Json::object();
  auto [begin, end] = fields.equal_range(number);
  for (auto it = begin; it != end; ++it) {
    auto entry = ProtoFields(it->second);
    if (!entry) continue;
    std::string value = First(*entry, 2);
    out[First(*entry, 1)] = base64 ? Base64Encode(value) : value;
  }
  return out;
}

}  // namespace

std::optional<Json> ObjectFromProtobuf(const std::string& body) {
  static const std::string kMagic("k8s\0", 4);
  if (body.compare(0, 4, kMagic) != 0) return std::nullopt;
  auto unknown = ProtoFields(body.substr(4));  // runtime.Unknown: 1 = typeMeta, 2 = raw
  if (!unknown) return std::nullopt;
  auto type_meta = ProtoFields(First(*unknown, 1));
  auto object = ProtoFields(First(*unknown, 2));
  if (!type_meta || !object) return std::nullopt;
  std::string kind = First(*type_meta, 2);
  auto meta = ProtoFields(First(*object, 1));
  if (!meta || (kind != "Namespace" && kind != "ConfigMap" && kind != "Secret")) {
    return std::nullopt;
  }
  Json metadata = Json::object();
  for (auto [number, name] : {std::pair{1, "name"}, {2, "generateName"}, {3, "namespace"}}) {
    if (meta->count(number) > 0) metadata[name] = First(*meta, number);
  }
  if (meta->count(11) > 0) metadata["labels"] = ProtoMap(*meta, 11, false);
  if (meta->count(12) > 0) metadata["annotations"] = ProtoMap(*meta, 12, false);
  Json out = {{"apiVersion", First(*type_meta, 1)}, {"kind", kind}, {"metadata", metadata}};
  if (kind == "ConfigMap" && object->count(2) > 0) out["data"] = ProtoMap(*object, 2, false);
  if (kind == "Secret") {
    if (object->count(2) > 0) out["data"] = ProtoMap(*object, 2, true);
    if (object->count(4) > 0) out["stringData"] = ProtoMap(*object, 4, false);
    if (object->count(3) > 0) out["type"] = First(*object, 3);
  }
  return out;
}

std::optional<Json> AccessReviewFromProtobuf(const std::string& body) {
  static const std::string kMagic("k8s\0", 4);
  if (body.compare(0, 4, kMagic) != 0) return std::nullopt;
  auto unknown = ProtoFields(body.substr(4));  // runtime.Unknown: 2 = raw
  if (!unknown) return std::nullopt;
  auto review = ProtoFields(First(*unknown, 2));  // 2 = spec
  if (!review) return std::nullopt;
  auto spec = ProtoFields(First(*review, 2));  // 1 = resourceAttributes
  if (!spec) return std::nullopt;
  auto attrs = ProtoFields(First(*spec, 1));
  if (!attrs) return std::nullopt;
  const char* names[] = {"namespace", "verb",        "group", "version",
                         "resource",  "subresource", "name"};
  Json out = Json::object();
  for (int n = 1; n <= 7; ++n) {
    if (attrs->count(n) > 0) out[names[n - 1]] = First(*attrs, n);
  }
  return Json{{"apiVersion", "authorization.k8s.io/v1"},
              {"kind", "SelfSubjectAccessReview"},
              {"spec", {{"resourceAttributes", out}}}};
}

Response JsonReply(const Json& body, int code) {
  return Response{code, body.dump(), "application/json"};
}

Response StatusReply(int code, const std::string& reason, const std::string& message,
                     const Json& details) {
  Json status = {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", Json::object()},
                 {"status", "Failure"}, {"message", message}, {"reason", reason},
                 {"code", code}};
  if (!details.empty()) status["details"] = details;
  return JsonReply(status, code);
}

Response NotFound(const Resource& resource, const std::string& name) {
  Json details = {{"name", name}, {"kind", resource.plural}};
  if (!resource.group.empty()) details["group"] = resource.group;
  return StatusReply(404, "NotFound", resource.qualified() + " \"" + name + "\" not found",
                     details);
}

bool MatchesLabels(const Json& object, const std::string& selector) {
  Json labels = object.value("/metadata/labels"_json_pointer, Json::object());
  for (const std::string& term : SplitTerms(selector)) {
    if (!MatchTerm(labels, term)) return false;
  }
  return true;
}

bool MatchesFields(const Json& object, const std::string& selector) {
  for (const std::string& term : SplitTerms(selector)) {
    bool negate = term.find("!=") != std::string::npos;
    size_t at = term.find(negate ? "!=" : "=");
    if (at == std::string::npos) return false;
    std::string field = term.substr(0, at);
    std::string want = term.substr(at + (negate ? 2 : (term.compare(at, 2, "==") == 0 ? 2 : 1)));
    std::string pointer = "/" + std::regex_replace(field, std::regex("\\."), "/");
    std::string have;
    Json::json_pointer ptr(pointer);
    if (object.contains(ptr) && object.at(ptr).is_string()) have = object.at(ptr);
    if ((have == want) == negate) return false;
  }
  return true;
}

std::map<std::string, Json> Leaves(const Json& object) {
  std::map<std::string, Json> out;
  CollectLeaves(object, "", &out);
  return out;
}

Json FieldsV1(const std::set<std::string>& paths) {
  Json out = Json::object();
  for (const std::string& path : paths) {
    Json* at = &out;
    Json::json_pointer ptr(path);
    std::vector<std::string> parts;
    for (Json::json_pointer p = ptr; !p.empty(); p = p.parent_pointer()) {
      parts.insert(parts.begin(), p.back());
    }
    for (const std::string& part : parts) {
      Json& next = (*at)["f:" + part];
      if (next.is_null()) next = Json::object();
      at = &next;
    }
  }
  return out;
}

std::string DottedPath(const std::string& pointer) {
  std::string out;
  Json::json_pointer ptr(pointer);
  std::vector<std::string> parts;
  for (Json::json_pointer p = ptr; !p.empty(); p = p.parent_pointer())
    parts.insert(parts.begin(), p.back());
  for (const std::string& part : parts) out += "." + part;
  return out;
}

Json MergePatch(Json target, const Json& patch) {
  if (!patch.is_object()) return patch;
  if (!target.is_object()) target = Json::object();
  for (const auto& [key, value] : patch.items()) {
    if (value.is_null()) {
      target.erase(key);
    } else {
      target[key] = MergePatch(target.contains(key) ? target[key] : Json(), value);
    }
  }
  return target;
}

std::optional<Json> ParseBody(const std::string& body) {
  Json parsed = Json::parse(body, nullptr, false);
  if (!parsed.is_discarded()) return parsed;
  try {
    YAML::Node node = YAML::Load(body);
    return YamlToJson(node);
  } catch (const YAML::Exception&) {
    return std::nullopt;
  }
}

std::vector<std::string> UnknownFields(const Resource& resource, const Json& object) {
  static const std::map<std::string, std::set<std::string>> kTopLevel = {
      {"ConfigMap", {"data", "binaryData", "immutable"}},
      {"Secret", {"data", "stringData", "type", "immutable"}},
      {"ServiceAccount", {"secrets", "imagePullSecrets", "automountServiceAccountToken"}},
      {"Role", {"rules"}},
      {"ClusterRole", {"rules", "aggregationRule"}},
      {"RoleBinding", {"roleRef", "subjects"}},
      {"ClusterRoleBinding", {"roleRef", "subjects"}},
      {"Event",
       {"involvedObject", "reason", "message", "source", "firstTimestamp", "lastTimestamp", "count",
        "type", "eventTime", "series", "action", "related", "reportingComponent",
        "reportingInstance"}},
  };
  static const std::set<std::string> kMetadata = {"name",
                                                  "namespace",
                                                  "labels",
                                                  "annotations",
                                                  "generateName",
                                                  "uid",
                                                  "resourceVersion",
                                                  "generation",
                                                  "creationTimestamp",
                                                  "deletionTimestamp",
                                                  "deletionGracePeriodSeconds",
                                                  "ownerReferences",
                                                  "finalizers",
                                                  "managedFields",
                                                  "selfLink"};
  std::vector<std::string> unknown;
  if (!object.is_object()) return unknown;
  auto extra = kTopLevel.find(resource.kind);
  for (const auto& [key, value] : object.items()) {
    if (key == "apiVersion" || key == "kind" || key == "metadata") continue;
    bool known = extra != kTopLevel.end() ? extra->second.count(key) > 0
                                          : (key == "spec" || key == "status");
    if (!known) unknown.push_back(key);
  }
  if (object.contains("metadata") && object["metadata"].is_object()) {
    for (const auto& [key, value] : object["metadata"].items()) {
      if (kMetadata.count(key) == 0) unknown.push_back("metadata." + key);
    }
  }
  return unknown;
}

}  // namespace carrierarr::testing::kube_fake
