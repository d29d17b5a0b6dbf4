#include "testing/fake_kube_api.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <sstream>
#include <stdexcept>

#include "testing/fake_kube_util.h"

namespace carrierarr::testing::kube_fake {
namespace {

constexpr int kMaxWatches = 64;

const std::vector<std::string> kAllVerbs = {"create", "delete", "deletecollection", "get",
                                            "list",   "patch",  "update",           "watch"};

std::string Param(const Request& r, const std::string& key) {
  auto it = r.query.find(key);
  return it == r.query.end() ? "" : it->second;
}

bool Truthy(const std::string& value) { return value == "1" || value == "true"; }

std::vector<std::string> Split(const std::string& path) {
  std::vector<std::string> parts;
  std::stringstream in(path);
  std::string part;
  while (std::getline(in, part, '/')) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

}  // namespace

Api::Api() {
  auto add = [this](std::string group, std::string kind, std::string plural, bool namespaced,
                    std::vector<std::string> shorts, bool status = false) {
    Resource r;
    r.group = std::move(group);
    r.version = "v1";
    r.kind = std::move(kind);
    r.plural = std::move(plural);
    r.singular = r.kind;
    std::transform(r.singular.begin(), r.singular.end(), r.singular.begin(), ::tolower);
    r.namespaced = namespaced;
    r.short_names = std::move(shorts);
    r.verbs = kAllVerbs;
    if (status) r.subresources = {"status"};
    resources_.push_back(std::move(r));
  };
  add("", "Namespace", "namespaces", false, {"ns"}, true);
  add("", "Node", "nodes", false, {"no"}, true);
  add("", "Pod", "pods", true, {"po"}, true);
  add("", "Secret", "secrets", true, {});
  add("", "ConfigMap", "configmaps", true, {"cm"});
  add("", "Service", "services", true, {"svc"}, true);
  add("", "ServiceAccount", "serviceaccounts", true, {"sa"});
  add("", "PersistentVolumeClaim", "persistentvolumeclaims", true, {"pvc"}, true);
  add("", "Event", "events", true, {"ev"});
  add("apps", "Deployment", "deployments", true, {"deploy"}, true);
  add("apps", "DaemonSet", "daemonsets", true, {"ds"}, true);
  add("apps", "StatefulSet", "statefulsets", true, {"sts"}, true);
  const std::string rbac = "rbac.authorization.k8s.io";
  add(rbac, "Role", "roles", true, {});
  add(rbac, "RoleBinding", "rolebindings", true, {});
  add(rbac, "ClusterRole", "clusterroles", false, {});
  add(rbac, "ClusterRoleBinding", "clusterrolebindings", false, {});
  add("authorization.k8s.io", "SelfSubjectAccessReview", "selfsubjectaccessreviews", false, {});
  resources_.back().verbs = {"create"};
  for (const char* ns : {"default", "kube-system"}) AddNamespace(ns);
}

std::string Api::Now() const {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string Api::NewUid() {
  char buf[40];
  uint64_t n = ++uid_counter_;
  std::snprintf(buf, sizeof buf, "6b6b6b6b-0000-4000-8000-%012llx",
                static_cast<unsigned long long>(n));
  return buf;
}

const Resource* Api::FindResource(const std::string& group, const std::string& version,
                                  const std::string& plural) const {
  for (const Resource& r : resources_) {
    if (r.group == group && r.version == version && r.plural == plural) return &r;
  }
  return nullptr;
}

const Resource* Api::FindKind(const std::string& api_version, const std::string& kind) const {
  for (const Resource& r : resources_) {
    if (r.api_version() == api_version && r.kind == kind) return &r;
  }
  return nullptr;
}

// ---- discovery ----

Response Api::ResourceList(const std::string& group_version) const {
  Json list = Json::array();
  for (const Resource& r : resources_) {
    if (r.api_version() != group_version) continue;
    Json entry = {{"name", r.plural},
                  {"singularName", r.singular},
                  {"namespaced", r.namespaced},
                  {"kind", r.kind},
                  {"verbs", r.verbs}};
    if (!r.short_names.empty()) entry["shortNames"] = r.short_names;
    list.push_back(entry);
    for (const std::string& sub : r.subresources) {
      list.push_back({{"name", r.plural + "/" + sub},
                      {"singularName", ""},
                      {"namespaced", r.namespaced},
                      {"kind", r.kind},
                      {"verbs", {"get", "patch", "update"}}});
    }
  }
  if (list.empty())
    return StatusReply(404, "NotFound", "the server could not find the requested resource");
  return JsonReply({{"kind", "APIResourceList"},
                    {"apiVersion", "v1"},
                    {"groupVersion", group_version},
                    {"resources", list}});
}

Response Api::Discovery(const Request& request, bool* handled) const {
  *handled = true;
  const std::string& p = request.path;
  if (p == "/version") {
    return JsonReply({{"major", "1"},
                      {"minor", "32"},
                      {"gitVersion", "v1.32.0-fake"},
                      {"gitCommit", "0000000000000000000000000000000000000000"},
                      {"gitTreeState", "clean"},
                      {"buildDate", "2025-01-01T00:00:00Z"},
                      {"goVersion", "go1.23"},
                      {"compiler", "gc"},
                      {"platform", "linux/amd64"}});
  }
  if (p == "/api") {
    return JsonReply({{"kind", "APIVersions"},
                      {"versions", {"v1"}},
                      {"serverAddressByClientCIDRs",
                       {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", server_address_}}}}});
  }
  if (p == "/api/v1") return ResourceList("v1");
  std::map<std::string, std::set<std::string>> groups;
  for (const Resource& r : resources_) {
    if (!r.group.empty()) groups[r.group].insert(r.version);
  }
  auto group_json = [](const std::string& name, const std::set<std::string>& versions) {
    Json vs = Json::array();
    for (const std::string& v : versions)
      vs.push_back({{"groupVersion", name + "/" + v}, {"version", v}});
    return Json{{"name", name}, {"versions", vs}, {"preferredVersion", vs[0]}};
  };
  if (p == "/apis") {
    Json list = Json::array();
    for (const auto& [name, versions] : groups) list.push_back(group_json(name, versions));
    return JsonReply({{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", list}});
  }
  std::vector<std::string> parts = Split(p);
  if (parts.size() == 2 && parts[0] == "apis" && groups.count(parts[1]) > 0) {
    Json group = group_json(parts[1], groups[parts[1]]);
    group["kind"] = "APIGroup";
    group["apiVersion"] = "v1";
    return JsonReply(group);
  }
  if (parts.size() == 3 && parts[0] == "apis") return ResourceList(parts[1] + "/" + parts[2]);
  if (p == "/healthz" || p == "/readyz" || p == "/livez") return Response{200, "ok", "text/plain"};
  *handled = false;
  return {};
}

// kubectl validates through the server (fieldValidation=Strict) once the OpenAPI v3 document of
// the kind's group version lists that parameter on the kind's PATCH: a minimal document that
// says so, without schemas.
Response Api::OpenApiV3(const std::string& path) const {
  std::set<std::string> group_versions;
  for (const Resource& r : resources_) {
    group_versions.insert(r.group.empty() ? "api/v1" : "apis/" + r.api_version());
  }
  if (path == "/openapi/v3" || path == "/openapi/v3/") {
    Json paths = Json::object();
    for (const std::string& gv : group_versions) {
      paths[gv] = {{"serverRelativeURL", "/openapi/v3/" + gv + "?hash=" + std::to_string(rv_)}};
    }
    return JsonReply({{"paths", paths}});
  }
  std::string gv = path.substr(std::string("/openapi/v3/").size());
  if (group_versions.count(gv) == 0) {
    return StatusReply(404, "NotFound", "the server could not find the requested resource");
  }
  Json params = Json::array();
  for (const char* name : {"dryRun", "fieldManager", "fieldValidation", "force"}) {
    params.push_back({{"name", name}, {"in", "query"}, {"schema", {{"type", "string"}}}});
  }
  Json paths = Json::object();
  for (const Resource& r : resources_) {
    if ((r.group.empty() ? "api/v1" : "apis/" + r.api_version()) != gv) continue;
    std::string url =
        "/" + gv + (r.namespaced ? "/namespaces/{namespace}/" : "/") + r.plural + "/{name}";
    paths[url] = {{"patch",
                   {{"x-kubernetes-group-version-kind",
                     {{"group", r.group}, {"version", r.version}, {"kind", r.kind}}},
                    {"parameters", params},
                    {"responses", {{"200", {{"description", "OK"}}}}}}}};
  }
  return JsonReply({{"openapi", "3.0.0"},
                    {"info", {{"title", "Kubernetes"}, {"version", "v1.32.0"}}},
                    {"paths", paths},
                    {"components", {{"schemas", Json::object()}}}});
}

// ---- routing ----

Response Api::Handle(const Request& request) {
  std::lock_guard<std::mutex> lock(mu_);
  PurgeDue();
  bool handled = false;
  if (request.method == "GET") {
    Response r = Discovery(request, &handled);
    if (handled) return r;
  }
  if (request.method == "GET" && request.path.rfind("/openapi/v3", 0) == 0) {
    return OpenApiV3(request.path);
  }
  if (request.path.rfind("/openapi/", 0) == 0) {
    return StatusReply(404, "NotFound", "the server could not find the requested resource");
  }
  return Route(request);
}

bool Api::Denied(const std::string& user, const std::string& verb, const std::string& resource,
                 const std::string& ns) const {
  for (const Denial& d : denials_) {
    if ((d.user == user || d.user == "*") && (d.verb == verb || d.verb == "*") &&
        (d.resource == resource || d.resource == "*") && (d.ns.empty() || d.ns == ns)) {
      return true;
    }
  }
  return false;
}

Response Api::Forbidden(const Request& request, const Target& target,
                        const std::string& verb) const {
  const Resource& r = *target.resource;
  std::string what = r.qualified() + (target.name.empty() ? "" : " \"" + target.name + "\"");
  std::string resource = r.plural + (target.subresource.empty() ? "" : "/" + target.subresource);
  std::string where =
      target.ns.empty() ? " at the cluster scope" : " in the namespace \"" + target.ns + "\"";
  std::string message = what + " is forbidden: User \"" + request.user + "\" cannot " + verb +
                        " resource \"" + resource + "\" in API group \"" + r.group + "\"" + where;
  Json details = {{"kind", r.plural}};
  if (!target.name.empty()) details["name"] = target.name;
  if (!r.group.empty()) details["group"] = r.group;
  return StatusReply(403, "Forbidden", message, details);
}

Response Api::Route(const Request& request) {
  std::vector<std::string> parts = Split(request.path);
  std::string group, version;
  size_t i = 0;
  if (parts.size() >= 2 && parts[0] == "api") {
    version = parts[1];
    i = 2;
  } else if (parts.size() >= 3 && parts[0] == "apis") {
    group = parts[1];
    version = parts[2];
    i = 3;
  } else {
    return Response{404, "404 page not found\n", "text/plain; charset=utf-8"};
  }
  std::vector<std::string> rest(parts.begin() + static_cast<std::ptrdiff_t>(i), parts.end());
  if (group.empty() && rest.size() >= 5 && rest[0] == "namespaces" && rest[2] == "pods" &&
      rest[4] == "proxy")
    return PodProxy(request, rest);
  Target target;
  std::string plural;
  if (!rest.empty() && rest[0] == "namespaces" && rest.size() >= 3 && rest[2] != "status" &&
      rest[2] != "finalize") {
    target.ns = rest[1];
    plural = rest[2];
    if (rest.size() >= 4) target.name = rest[3];
    if (rest.size() >= 5) target.subresource = rest[4];
    if (rest.size() > 5) plural.clear();
  } else if (!rest.empty()) {
    plural = rest[0];
    if (rest.size() >= 2) target.name = rest[1];
    if (rest.size() >= 3) target.subresource = rest[2];
    if (rest.size() > 3) plural.clear();
  }
  target.resource = FindResource(group, version, plural);
  if (target.resource == nullptr || (!target.resource->namespaced && !target.ns.empty())) {
    return StatusReply(404, "NotFound", "the server could not find the requested resource");
  }
  std::string verb;
  const std::string& m = request.method;
  bool watch = Truthy(Param(request, "watch"));
  if (m == "GET") verb = watch ? "watch" : (target.name.empty() ? "list" : "get");
  if (m == "POST") verb = "create";
  if (m == "PUT") verb = "update";
  if (m == "PATCH") verb = "patch";
  if (m == "DELETE") verb = target.name.empty() ? "deletecollection" : "delete";
  if (verb.empty() || std::find(target.resource->verbs.begin(), target.resource->verbs.end(),
                                verb) == target.resource->verbs.end()) {
    return StatusReply(405, "MethodNotAllowed",
                       "the server does not allow this method on the requested resource");
  }
  if (Denied(request.user, verb, target.resource->plural, target.ns)) {
    return Forbidden(request, target, verb);
  }
  std::string type = request.content_type.substr(0, request.content_type.find(';'));
  if (target.resource->kind == "SelfSubjectAccessReview" &&
      type == "application/vnd.kubernetes.protobuf") {
    auto review = AccessReviewFromProtobuf(request.body);
    if (!review)
      return StatusReply(400, "BadRequest", "the body of the request could not be decoded");
    Request as_json = request;
    as_json.body = review->dump();
    return AccessReview(as_json);
  }
  if (m == "POST" && type == "application/vnd.kubernetes.protobuf") {
    if (auto object = ObjectFromProtobuf(request.body)) {
      Request as_json = request;
      as_json.body = object->dump();
      return Create(as_json, target);
    }
  }
  if ((m == "POST" || m == "PUT") && !type.empty() && type != "application/json" &&
      type != "application/yaml") {
    // As a server without protobuf: client-go then retries in JSON.
    return StatusReply(415, "UnsupportedMediaType",
                       "the body of the request was in an unknown format - accepted media types "
                       "include: application/json, application/yaml");
  }
  if (target.resource->kind == "SelfSubjectAccessReview") return AccessReview(request);
  if (watch) {
    if (watches_ >= kMaxWatches) {
      return StatusReply(429, "TooManyRequests", "too many watches");
    }
    Response r;
    r.watch = true;
    return r;
  }
  if (verb == "get") return Get(request, target);
  if (verb == "list") return List(request, target);
  if (verb == "create") return Create(request, target);
  if (verb == "update") return Put(request, target);
  if (verb == "patch") return Patch(request, target);
  if (verb == "delete") return Delete(request, target);
  return StatusReply(405, "MethodNotAllowed",
                     "the server does not allow this method on the requested resource");
}

// ---- reads ----

Response Api::Get(const Request& /*request*/, const Target& target) {
  auto it = objects_.find({target.resource->id(), target.ns, target.name});
  if (it == objects_.end()) return NotFound(*target.resource, target.name);
  return JsonReply(it->second.object);
}

Response Api::List(const Request& request, const Target& target) {
  std::string labels = Param(request, "labelSelector");
  std::string fields = Param(request, "fieldSelector");
  Json items = Json::array();
  for (const auto& [key, stored] : objects_) {
    if (std::get<0>(key) != target.resource->id()) continue;
    if (!target.ns.empty() && std::get<1>(key) != target.ns) continue;
    if (!MatchesLabels(stored.object, labels) || !MatchesFields(stored.object, fields)) continue;
    items.push_back(stored.object);
  }
  return JsonReply({{"kind", target.resource->kind + "List"},
                    {"apiVersion", target.resource->api_version()},
                    {"metadata", {{"resourceVersion", std::to_string(rv_)}}},
                    {"items", items}});
}

Response Api::CheckNamespace(const Target& target) const {
  if (!target.resource->namespaced) return Response{};
  auto it = objects_.find({"/namespaces", "", target.ns});
  if (it == objects_.end()) {
    return StatusReply(404, "NotFound", "namespaces \"" + target.ns + "\" not found",
                       {{"name", target.ns}, {"kind", "namespaces"}});
  }
  if (it->second.object["metadata"].contains("deletionTimestamp")) {
    return StatusReply(403, "Forbidden",
                       target.resource->qualified() +
                           " is forbidden: unable to create new "
                           "content in namespace " +
                           target.ns + " because it is being terminated",
                       {{"kind", target.resource->plural}});
  }
  return Response{};
}

// ---- the test's side ----

void Api::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  shutdown_ = true;
  changed_.notify_all();
}

void Api::AddNode(const std::string& name, const std::map<std::string, std::string>& labels,
                  const std::string& internal_ip) {
  std::lock_guard<std::mutex> lock(mu_);
  Json all_labels = {{"kubernetes.io/hostname", name}, {"kubernetes.io/os", "linux"}};
  for (const auto& [k, v] : labels) all_labels[k] = v;
  Stored stored;
  stored.object = {
      {"metadata", {{"name", name}, {"labels", all_labels}}},
      {"spec", Json::object()},
      {"status",
       {{"addresses",
         {{{"type", "InternalIP"}, {"address", internal_ip}},
          {{"type", "Hostname"}, {"address", name}}}},
        {"conditions", {{{"type", "Ready"}, {"status", "True"}, {"reason", "KubeletReady"}}}}}}};
  Commit(*FindResource("", "v1", "nodes"), std::move(stored),
         objects_.count({"/nodes", "", name}) == 0);
  ReconcileAll();
}

void Api::Store(Json object) {
  std::lock_guard<std::mutex> lock(mu_);
  const Resource* r = FindKind(object.value("apiVersion", ""), object.value("kind", ""));
  if (r == nullptr) throw std::invalid_argument("the fake serves no " + object.dump());
  const Json meta = object.value("metadata", Json::object());
  const Key key{r->id(), r->namespaced ? meta.value("namespace", "") : "", meta.value("name", "")};
  Stored stored;
  stored.object = std::move(object);
  Commit(*r, std::move(stored), objects_.count(key) == 0);
  if (meta.contains("creationTimestamp"))
    objects_[key].object["metadata"]["creationTimestamp"] = meta["creationTimestamp"];
  ReconcileAll();
}

void Api::AddNamespace(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  PurgeDue();
  if (objects_.count({"/namespaces", "", name}) > 0) return;
  Stored stored;
  stored.object = {
      {"metadata", {{"name", name}, {"labels", {{"kubernetes.io/metadata.name", name}}}}},
      {"spec", {{"finalizers", {"kubernetes"}}}},
      {"status", {{"phase", "Active"}}}};
  Commit(*FindResource("", "v1", "namespaces"), std::move(stored), true);
}

void Api::AddCustomKind(const std::string& group, const std::string& version,
                        const std::string& kind, const std::string& plural, bool namespaced) {
  std::lock_guard<std::mutex> lock(mu_);
  if (FindResource(group, version, plural) != nullptr) return;
  Resource r;
  r.group = group;
  r.version = version;
  r.kind = kind;
  r.plural = plural;
  r.singular = kind;
  std::transform(r.singular.begin(), r.singular.end(), r.singular.begin(), ::tolower);
  r.namespaced = namespaced;
  r.verbs = kAllVerbs;
  r.subresources = {"status"};
  resources_.push_back(std::move(r));
}

void Api::Deny(const Denial& denial) {
  std::lock_guard<std::mutex> lock(mu_);
  denials_.push_back(denial);
}

void Api::SetRolloutsReady(bool ready) {
  std::lock_guard<std::mutex> lock(mu_);
  rollouts_ready_ = ready;
  ReconcileAll();
}

void Api::CompleteRollouts() { SetRolloutsReady(true); }

void Api::ServePodProxy(const std::string& key, const std::string& body) {
  std::lock_guard<std::mutex> lock(mu_);
  pod_proxy_[key] = body;
}

// rest: namespaces NS pods NAME:PORT proxy PATH...
Response Api::PodProxy(const Request& request, const std::vector<std::string>& rest) {
  const std::string& ns = rest[1];
  const std::string name = rest[3].substr(0, rest[3].find(':'));
  if (request.method != "GET") {
    return StatusReply(405, "MethodNotAllowed",
                       "the server does not allow this method on the requested resource");
  }
  if (Denied(request.user, "get", "pods/proxy", ns)) {
    return StatusReply(403, "Forbidden",
                       "pods \"" + name + "\" is forbidden: User \"" + request.user +
                           "\" cannot get resource \"pods/proxy\" in API group \"\" in the "
                           "namespace \"" +
                           ns + "\"",
                       {{"name", name}, {"kind", "pods"}});
  }
  const Resource* pods = FindResource("", "v1", "pods");
  if (objects_.count({pods->id(), ns, name}) == 0) return NotFound(*pods, name);
  std::string path;
  for (size_t i = 5; i < rest.size(); ++i) path += "/" + rest[i];
  auto it = pod_proxy_.find(ns + "/" + rest[3] + path);
  if (it == pod_proxy_.end()) {
    return StatusReply(503, "ServiceUnavailable",
                       "error trying to reach service: dial tcp 10.0.0.1:" +
                           rest[3].substr(rest[3].find(':') + 1) + ": connect: connection refused");
  }
  return Response{200, it->second, "text/plain; version=0.0.4; charset=utf-8"};
}

void Api::HoldNamespaceTermination(bool hold) {
  std::lock_guard<std::mutex> lock(mu_);
  hold_terminations_ = hold;
  if (hold) return;
  for (auto& [name, due] : purges_) due = std::chrono::steady_clock::now();
  PurgeDue();
}

std::vector<Json> Api::Objects() const {
  std::lock_guard<std::mutex> lock(mu_);
  const_cast<Api*>(this)->PurgeDue();
  std::vector<Json> out;
  for (const auto& [key, stored] : objects_) out.push_back(stored.object);
  return out;
}

Json Api::Object(const std::string& api_version, const std::string& kind, const std::string& ns,
                 const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  const_cast<Api*>(this)->PurgeDue();
  const Resource* r = FindKind(api_version, kind);
  if (r == nullptr) return nullptr;
  auto it = objects_.find({r->id(), r->namespaced ? ns : "", name});
  return it == objects_.end() ? Json() : it->second.object;
}

}  // namespace carrierarr::testing::kube_fake
