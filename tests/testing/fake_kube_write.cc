// FakeKube's writes: create, update, patch, server-side apply, delete, and what every write
// shares (Commit: resource version, generation, managedFields, events, rollouts).
#include <algorithm>

#include "testing/fake_kube_api.h"
#include "testing/fake_kube_util.h"

namespace carrierarr::testing::kube_fake {
namespace {

std::string Param(const Request& r, const std::string& key) {
  auto it = r.query.find(key);
  return it == r.query.end() ? "" : it->second;
}

// The manager of a non-apply write: fieldManager, else the user agent's program name, as the
// API does.
std::string UpdateManager(const Request& r) {
  std::string m = Param(r, "fieldManager");
  if (!m.empty()) return m;
  std::string ua = r.user_agent.substr(0, r.user_agent.find('/'));
  return ua.empty() ? "unknown" : ua;
}

Json WithoutTimes(Json object) {
  for (Json& entry : object["metadata"]["managedFields"]) entry.erase("time");
  return object;
}

Json WithoutVolatile(Json object) {
  object.erase("status");
  if (object.contains("metadata")) object.erase("metadata");
  return object;
}

Response Invalid(const Resource& r, const std::string& name, const std::string& message) {
  return StatusReply(
      422, "Invalid",
      r.kind + (r.group.empty() ? "" : "." + r.group) + " \"" + name + "\" is invalid: " + message,
      {{"name", name}, {"kind", r.kind}, {"group", r.group}});
}

// Gives `manager` the fields whose values it changed from `before` to `after`, takes them from
// the other managers, and forgets fields that are gone.
void TransferOwnership(Stored* stored, const Json& before, const std::string& manager,
                       const std::string& api_version, const std::string& now) {
  auto old_leaves = Leaves(before);
  auto new_leaves = Leaves(stored->object);
  std::set<std::string> changed;
  for (const auto& [path, value] : new_leaves) {
    auto it = old_leaves.find(path);
    if (it == old_leaves.end() || it->second != value) changed.insert(path);
  }
  for (auto& [name, owner] : stored->owners) {
    for (auto it = owner.paths.begin(); it != owner.paths.end();) {
      bool gone = new_leaves.count(*it) == 0;
      it = (gone || (changed.count(*it) > 0 && name != manager)) ? owner.paths.erase(it) : ++it;
    }
  }
  if (changed.empty() && stored->owners.count(manager) == 0) return;
  Owner& owner = stored->owners[manager];
  if (owner.operation.empty()) owner.operation = "Update";
  owner.api_version = api_version;
  owner.time = now;
  owner.paths.insert(changed.begin(), changed.end());
}

// What the API server defaults: a Secret's type, workloads' strategies (kubectl's rollout status
// reads them).
void Default(const Resource& resource, Json* obj) {
  if (resource.kind == "Secret" && obj->value("type", "").empty()) (*obj)["type"] = "Opaque";
  if (resource.group != "apps" || !obj->contains("spec")) return;
  Json& spec = (*obj)["spec"];
  if (resource.kind == "Deployment") {
    if (!spec.contains("replicas")) spec["replicas"] = 1;
    if (!spec.contains("strategy")) {
      spec["strategy"] = {{"type", "RollingUpdate"},
                          {"rollingUpdate", {{"maxUnavailable", "25%"}, {"maxSurge", "25%"}}}};
    }
    if (!spec.contains("progressDeadlineSeconds")) spec["progressDeadlineSeconds"] = 600;
  }
  if (resource.kind == "DaemonSet" && !spec.contains("updateStrategy")) {
    spec["updateStrategy"] = {{"type", "RollingUpdate"},
                              {"rollingUpdate", {{"maxUnavailable", 1}, {"maxSurge", 0}}}};
  }
  if (!spec.contains("revisionHistoryLimit")) spec["revisionHistoryLimit"] = 10;
}

}  // namespace

void Api::Emit(const std::string& type, const Resource& resource, const Json& object) {
  events_.push_back(Event{rv_, type, resource.id(), object});
  while (events_.size() > kMaxEvents) events_.pop_front();
  changed_.notify_all();
}

Json Api::Commit(const Resource& resource, Stored stored, bool created) {
  Json& obj = stored.object;
  Default(resource, &obj);
  Json& meta = obj["metadata"];
  Key key{resource.id(), meta.value("namespace", ""), meta.value("name", "")};
  auto existing = objects_.find(key);
  obj["apiVersion"] = resource.api_version();
  obj["kind"] = resource.kind;
  if (created || existing == objects_.end()) {
    meta["uid"] = NewUid();
    meta["creationTimestamp"] = Now();
    meta["generation"] = 1;
  } else {
    const Json& old = existing->second.object;
    meta["uid"] = old["metadata"]["uid"];
    meta["creationTimestamp"] = old["metadata"]["creationTimestamp"];
    int64_t generation = old["metadata"].value("generation", 1);
    meta["generation"] = WithoutVolatile(old) == WithoutVolatile(obj) ? generation : generation + 1;
    if (!obj.contains("status") && old.contains("status")) obj["status"] = old["status"];
  }
  Json managed = Json::array();
  for (auto it = stored.owners.begin(); it != stored.owners.end();) {
    if (it->second.paths.empty()) {
      it = stored.owners.erase(it);
      continue;
    }
    managed.push_back({{"manager", it->first},
                       {"operation", it->second.operation},
                       {"apiVersion", it->second.api_version},
                       {"time", it->second.time},
                       {"fieldsType", "FieldsV1"},
                       {"fieldsV1", FieldsV1(it->second.paths)}});
    ++it;
  }
  meta["managedFields"] = managed;
  // A write that changes nothing but the managers' times is a no-op, as on the API (an apply
  // rerun keeps the resourceVersion).
  if (existing != objects_.end() && WithoutTimes(existing->second.object) == WithoutTimes(obj)) {
    return existing->second.object;
  }
  meta["resourceVersion"] = std::to_string(++rv_);
  bool added = existing == objects_.end();
  objects_[key] = stored;
  Emit(added ? "ADDED" : "MODIFIED", resource, obj);
  Reconcile(resource, key);
  return objects_[key].object;
}

void Api::PurgeDue() {
  auto now = std::chrono::steady_clock::now();
  for (auto it = purges_.begin(); it != purges_.end();) {
    if (it->second > now) {
      ++it;
      continue;
    }
    Remove(*FindResource("", "v1", "namespaces"), {"/namespaces", "", it->first});
    it = purges_.erase(it);
  }
}

void Api::Remove(const Resource& resource, const Key& key) {
  auto it = objects_.find(key);
  if (it == objects_.end()) return;
  Json object = it->second.object;
  std::string uid = object["metadata"].value("uid", "");
  objects_.erase(it);
  object["metadata"]["resourceVersion"] = std::to_string(++rv_);
  Emit("DELETED", resource, object);
  // Garbage collection: what it owns, and what a namespace holds.
  std::vector<std::pair<const Resource*, Key>> doomed;
  for (const auto& [k, stored] : objects_) {
    bool owned = false;
    for (const Json& ref : stored.object["metadata"].value("ownerReferences", Json::array())) {
      owned = owned || ref.value("uid", "") == uid;
    }
    bool inside = resource.kind == "Namespace" && std::get<1>(k) == std::get<2>(key);
    if (!owned && !inside) continue;
    for (const Resource& r : resources_) {
      if (r.id() == std::get<0>(k)) doomed.push_back({&r, k});
    }
  }
  for (const auto& [r, k] : doomed) Remove(*r, k);
}

Response Api::Create(const Request& request, const Target& target) {
  const Resource& r = *target.resource;
  auto body = ParseBody(request.body);
  if (!body || !body->is_object()) {
    return StatusReply(400, "BadRequest", "the body of the request could not be decoded");
  }
  Json& meta = (*body)["metadata"];
  if (!meta.is_object()) meta = Json::object();
  if (meta.value("name", "").empty() && !meta.value("generateName", "").empty()) {
    meta["name"] = meta["generateName"].get<std::string>() + std::to_string(rv_ + 1);
  }
  std::string name = meta.value("name", "");
  if (name.empty()) {
    return Invalid(r, "", "metadata.name: Required value: name or generateName is required");
  }
  if (r.namespaced) meta["namespace"] = target.ns;
  if (Response ns = CheckNamespace(target); ns.code != 200) return ns;
  if (objects_.count({r.id(), target.ns, name}) > 0) {
    Json details = {{"name", name}, {"kind", r.plural}};
    if (!r.group.empty()) details["group"] = r.group;
    return StatusReply(409, "AlreadyExists", r.qualified() + " \"" + name + "\" already exists",
                       details);
  }
  if (Param(request, "fieldValidation") == "Strict") {
    auto unknown = UnknownFields(r, *body);
    if (!unknown.empty()) {
      return Invalid(r, name, "strict decoding error: unknown field \"" + unknown[0] + "\"");
    }
  }
  Stored stored;
  stored.object = *body;
  stored.object.erase("status");
  TransferOwnership(&stored, Json::object(), UpdateManager(request), r.api_version(), Now());
  Json out = Commit(r, std::move(stored), true);
  return JsonReply(out, 201);
}

Response Api::Put(const Request& request, const Target& target) {
  const Resource& r = *target.resource;
  auto it = objects_.find({r.id(), target.ns, target.name});
  if (it == objects_.end()) return NotFound(r, target.name);
  auto body = ParseBody(request.body);
  if (!body || !body->is_object()) {
    return StatusReply(400, "BadRequest", "the body of the request could not be decoded");
  }
  std::string sent_rv = body->value("/metadata/resourceVersion"_json_pointer, "");
  std::string have_rv = it->second.object["metadata"].value("resourceVersion", "");
  if (!sent_rv.empty() && sent_rv != have_rv) {
    return StatusReply(409, "Conflict",
                       "Operation cannot be fulfilled on " + r.qualified() + " \"" + target.name +
                           "\": the object has been modified; please apply your changes to the "
                           "latest version and try again",
                       {{"name", target.name}, {"kind", r.plural}});
  }
  Stored stored = it->second;
  Json before = stored.object;
  if (target.subresource == "status") {
    stored.object["status"] = body->value("status", Json::object());
  } else {
    Json status = before.value("status", Json());
    stored.object = *body;
    stored.object["metadata"]["namespace"] = target.ns;
    stored.object["metadata"]["name"] = target.name;
    if (!status.is_null()) stored.object["status"] = status;
  }
  if (!r.namespaced) stored.object["metadata"].erase("namespace");
  TransferOwnership(&stored, before, UpdateManager(request), r.api_version(), Now());
  return JsonReply(Commit(r, std::move(stored), false));
}

Response Api::Patch(const Request& request, const Target& target) {
  const Resource& r = *target.resource;
  std::string type = request.content_type.substr(0, request.content_type.find(';'));
  auto body = ParseBody(request.body);
  if (!body) return StatusReply(400, "BadRequest", "the body of the request could not be decoded");
  if (type == "application/apply-patch+yaml") return Apply(request, target, *body);
  if (type != "application/merge-patch+json" && type != "application/strategic-merge-patch+json" &&
      type != "application/json-patch+json") {
    return StatusReply(415, "UnsupportedMediaType",
                       "the body of the request was in an unknown format - accepted media types "
                       "include: application/json-patch+json, application/merge-patch+json, "
                       "application/apply-patch+yaml");
  }
  auto it = objects_.find({r.id(), target.ns, target.name});
  if (it == objects_.end()) return NotFound(r, target.name);
  Stored stored = it->second;
  Json before = stored.object;
  try {
    stored.object =
        type == "application/json-patch+json" ? before.patch(*body) : MergePatch(before, *body);
  } catch (const Json::exception& e) {
    return StatusReply(422, "Invalid", std::string("the patch could not be applied: ") + e.what());
  }
  if (target.subresource == "status") {
    Json status = stored.object.value("status", Json());
    stored.object = before;
    stored.object["status"] = status;
  } else if (before.contains("status")) {
    stored.object["status"] = before["status"];
  }
  stored.object["metadata"]["name"] = target.name;
  if (r.namespaced) stored.object["metadata"]["namespace"] = target.ns;
  TransferOwnership(&stored, before, UpdateManager(request), r.api_version(), Now());
  return JsonReply(Commit(r, std::move(stored), false));
}

Response Api::Apply(const Request& request, const Target& target, const Json& body) {
  const Resource& r = *target.resource;
  std::string manager = Param(request, "fieldManager");
  if (manager.empty()) {
    return StatusReply(422, "Invalid",
                       "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: "
                       "is required for apply patch",
                       {{"kind", "PatchOptions"}, {"group", "meta.k8s.io"}});
  }
  if (!body.is_object()) return StatusReply(400, "BadRequest", "the body must be an object");
  std::string name = body.value("/metadata/name"_json_pointer, "");
  if (name != target.name) {
    return StatusReply(400, "BadRequest",
                       "the name of the object (" + name +
                           ") does not match the name on the URL (" + target.name + ")");
  }
  if (Param(request, "fieldValidation") == "Strict") {
    auto unknown = UnknownFields(r, body);
    if (!unknown.empty()) {
      return Invalid(r, name, "strict decoding error: unknown field \"" + unknown[0] + "\"");
    }
  }
  if (Response ns = CheckNamespace(target); ns.code != 200) return ns;
  auto it = objects_.find({r.id(), target.ns, target.name});
  Stored stored;
  if (it != objects_.end()) stored = it->second;
  bool force = Param(request, "force") == "true";
  auto applied = Leaves(body);
  Json conflicts = Json::array();
  std::string first;
  for (const auto& [path, value] : applied) {
    for (auto& [other, owner] : stored.owners) {
      if (other == manager || owner.paths.count(path) == 0) continue;
      Json::json_pointer ptr(path);
      if (stored.object.contains(ptr) && stored.object.at(ptr) == value) continue;
      if (force) {
        owner.paths.erase(path);
        continue;
      }
      std::string msg = "conflict with \"" + other + "\"" +
                        (owner.operation == "Update" ? " using " + owner.api_version : "");
      if (first.empty()) first = msg + ": " + DottedPath(path);
      conflicts.push_back(
          {{"type", "FieldManagerConflict"}, {"message", msg}, {"field", DottedPath(path)}});
    }
  }
  if (!conflicts.empty()) {
    std::string message = "Apply failed with " + std::to_string(conflicts.size()) +
                          (conflicts.size() == 1 ? " conflict: " : " conflicts: ") + first;
    return StatusReply(
        409, "Conflict", message,
        {{"name", name}, {"kind", r.plural}, {"group", r.group}, {"causes", conflicts}});
  }
  Owner& mine = stored.owners[manager];
  for (const std::string& path : mine.paths) {
    bool shared = false;
    for (const auto& [other, owner] : stored.owners) {
      shared = shared || (other != manager && owner.paths.count(path) > 0);
    }
    Json::json_pointer ptr(path);
    if (!shared && applied.count(path) == 0 && stored.object.contains(ptr)) {
      stored.object.at(ptr.parent_pointer()).erase(ptr.back());
    }
  }
  if (stored.object.is_null()) stored.object = Json::object();
  for (const auto& [path, value] : applied) stored.object[Json::json_pointer(path)] = value;
  stored.object["metadata"]["name"] = name;
  if (r.namespaced) stored.object["metadata"]["namespace"] = target.ns;
  mine.operation = "Apply";
  mine.api_version = body.value("apiVersion", r.api_version());
  mine.time = Now();
  mine.paths.clear();
  for (const auto& [path, value] : applied) mine.paths.insert(path);
  bool created = it == objects_.end();
  return JsonReply(Commit(r, std::move(stored), created), created ? 201 : 200);
}

Response Api::Delete(const Request& /*request*/, const Target& target) {
  const Resource& r = *target.resource;
  Key key{r.id(), target.ns, target.name};
  auto it = objects_.find(key);
  if (it == objects_.end()) return NotFound(r, target.name);
  if (r.kind == "Namespace") {
    // As the API does: Terminating first, gone once its content is (here: shortly after, so
    // that `kubectl delete -f` can still delete what the namespace held, one by one).
    Stored stored = it->second;
    if (!stored.object["metadata"].contains("deletionTimestamp")) {
      stored.object["metadata"]["deletionTimestamp"] = Now();
      stored.object["status"] = {{"phase", "Terminating"}};
      stored.object["metadata"]["resourceVersion"] = std::to_string(++rv_);
      it->second = stored;
      Emit("MODIFIED", r, stored.object);
      purges_[target.name] =
          hold_terminations_ ? std::chrono::steady_clock::time_point::max()
                             : std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
    }
    return JsonReply(stored.object);
  }
  Json object = it->second.object;
  Remove(r, key);
  return JsonReply(object);
}

Response Api::AccessReview(const Request& request) {
  auto body = ParseBody(request.body);
  if (!body || !body->is_object()) {
    return StatusReply(400, "BadRequest", "the body of the request could not be decoded");
  }
  Json attrs = body->value("/spec/resourceAttributes"_json_pointer, Json::object());
  bool denied = Denied(request.user, attrs.value("verb", ""), attrs.value("resource", ""),
                       attrs.value("namespace", ""));
  Json out = *body;
  out["apiVersion"] = "authorization.k8s.io/v1";
  out["kind"] = "SelfSubjectAccessReview";
  if (!out.contains("metadata")) out["metadata"] = Json::object();
  out["metadata"]["creationTimestamp"] = nullptr;
  out["status"] = {{"allowed", !denied}};
  if (denied) out["status"]["denied"] = true;
  if (!denied) out["status"]["reason"] = "allowed by the fake's rules";
  return JsonReply(out, 201);
}

}  // namespace carrierarr::testing::kube_fake
