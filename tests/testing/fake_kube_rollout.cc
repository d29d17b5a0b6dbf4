// FakeKube's controllers and watches: Deployments and DaemonSets get a rolled-out (or, with
// rollouts not ready, a pending) status and Pod objects; watch streams follow the event log.
#include <algorithm>
#include <chrono>

#include "testing/fake_kube_api.h"
#include "testing/fake_kube_tls.h"
#include "testing/fake_kube_util.h"

namespace carrierarr::testing::kube_fake {
namespace {

std::string Hash(const std::string& s, size_t n) {
  size_t h = std::hash<std::string>{}(s);
  static const char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += kAlphabet[h % 27];
    h = h / 27 + 7919 * (i + 1);
  }
  return out;
}

std::string Param(const Request& r, const std::string& key) {
  auto it = r.query.find(key);
  return it == r.query.end() ? "" : it->second;
}

Json Condition(const std::string& type, bool ok, const std::string& reason,
               const std::string& now) {
  return {{"type", type},      {"status", ok ? "True" : "False"}, {"reason", reason},
          {"message", reason}, {"lastUpdateTime", now},           {"lastTransitionTime", now}};
}

// A node selector term's matchExpressions, all of which must hold (In, NotIn, Exists,
// DoesNotExist), as the scheduler reads required node affinity.
bool MatchesTerm(const Json& term, const Json& labels) {
  for (const Json& e : term.value("matchExpressions", Json::array())) {
    const std::string key = e.value("key", ""), op = e.value("operator", "");
    const bool has = labels.contains(key);
    const Json values = e.value("values", Json::array());
    const bool listed = has && std::find(values.begin(), values.end(), labels[key]) != values.end();
    if ((op == "In" && !listed) || (op == "NotIn" && listed) || (op == "Exists" && !has) ||
        (op == "DoesNotExist" && has)) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::vector<std::string> Api::NodesFor(const Json& workload) const {
  Json selector = workload.value("/spec/template/spec/nodeSelector"_json_pointer, Json::object());
  Json terms = workload.value(
      "/spec/template/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms"_json_pointer,
      Json::array());
  std::vector<std::string> nodes;
  for (const auto& [key, stored] : objects_) {
    if (std::get<0>(key) != "/nodes") continue;
    Json labels = stored.object.value("/metadata/labels"_json_pointer, Json::object());
    bool match = true;
    for (const auto& [k, v] : selector.items()) match = match && labels.value(k, Json()) == v;
    // The terms are ORed; no terms: no constraint.
    bool term_match = terms.empty();
    for (const Json& term : terms) term_match = term_match || MatchesTerm(term, labels);
    if (match && term_match) nodes.push_back(std::get<2>(key));
  }
  return nodes;
}

Json Api::PodFor(const Json& owner, const std::string& name, const std::string& node) const {
  const Json& meta = owner["metadata"];
  Json tmpl = owner.value("/spec/template"_json_pointer, Json::object());
  Json spec = tmpl.value("spec", Json::object());
  if (!node.empty()) spec["nodeName"] = node;
  Json statuses = Json::array();
  for (const Json& c : spec.value("containers", Json::array())) {
    Json state = rollouts_ready_ ? Json{{"running", {{"startedAt", Now()}}}}
                                 : Json{{"waiting", {{"reason", "ContainerCreating"}}}};
    statuses.push_back({{"name", c.value("name", "")},
                        {"image", c.value("image", "")},
                        {"ready", rollouts_ready_},
                        {"restartCount", 0},
                        {"started", rollouts_ready_},
                        {"state", state}});
  }
  std::string ready = rollouts_ready_ ? "True" : "False";
  Json conditions = {{{"type", "PodScheduled"}, {"status", "True"}},
                     {{"type", "Initialized"}, {"status", "True"}},
                     {{"type", "ContainersReady"}, {"status", ready}},
                     {{"type", "Ready"}, {"status", ready}}};
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"name", name},
            {"namespace", meta.value("namespace", "")},
            {"labels", tmpl.value("/metadata/labels"_json_pointer, Json::object())},
            {"ownerReferences",
             {{{"apiVersion", owner.value("apiVersion", "")},
               {"kind", owner.value("kind", "")},
               {"name", meta.value("name", "")},
               {"uid", meta.value("uid", "")},
               {"controller", true}}}}}},
          {"spec", spec},
          {"status",
           {{"phase", rollouts_ready_ ? "Running" : "Pending"},
            {"conditions", conditions},
            {"containerStatuses", statuses}}}};
}

// Makes the pods of `owner` exactly `pods` (by name), each change an event.
void Api::SyncPods(const Json& owner, const std::vector<Json>& pods) {
  const Resource* pod_resource = FindResource("", "v1", "pods");
  std::string uid = owner["metadata"].value("uid", "");
  std::set<std::string> wanted;
  for (const Json& pod : pods) wanted.insert(pod["metadata"]["name"].get<std::string>());
  std::vector<Key> stale;
  for (const auto& [key, stored] : objects_) {
    if (std::get<0>(key) != "/pods" || wanted.count(std::get<2>(key)) > 0) continue;
    for (const Json& ref : stored.object["metadata"].value("ownerReferences", Json::array())) {
      if (ref.value("uid", "") == uid) stale.push_back(key);
    }
  }
  for (const Key& key : stale) Remove(*pod_resource, key);
  for (Json pod : pods) {
    Key key{"/pods", pod["metadata"]["namespace"], pod["metadata"]["name"]};
    auto it = objects_.find(key);
    Stored stored;
    if (it != objects_.end()) {
      stored = it->second;
      Json want_status = pod["status"];
      Json have_status = stored.object["status"];
      if (want_status["phase"] == have_status["phase"] && stored.object["spec"] == pod["spec"]) {
        continue;
      }
      for (auto& cs : want_status["containerStatuses"]) {
        if (cs["state"].contains("running")) cs["state"]["running"]["startedAt"] = Now();
      }
      stored.object["spec"] = pod["spec"];
      stored.object["status"] = want_status;
    } else {
      stored.object = pod;
    }
    Commit(*pod_resource, std::move(stored), it == objects_.end());
  }
}

// The token controller: a Secret of type kubernetes.io/service-account-token whose annotation
// names a ServiceAccount of its namespace gets its token, ca.crt and namespace filled in (once the
// ServiceAccount exists, as on a real cluster).
void Api::FillTokens(const std::string& ns) {
  for (auto& [key, stored] : objects_) {
    Json& secret = stored.object;
    if (std::get<0>(key) != "/secrets" || std::get<1>(key) != ns ||
        secret.value("type", "") != "kubernetes.io/service-account-token" ||
        secret.contains("/data/token"_json_pointer)) {
      continue;
    }
    const std::string account = secret["metadata"]
                                    .value("annotations", Json::object())
                                    .value("kubernetes.io/service-account.name", "");
    if (account.empty() || objects_.count({"/serviceaccounts", ns, account}) == 0) continue;
    const std::string token = "fake-sa-token-" + Hash(secret["metadata"].value("uid", ""), 16);
    secret["data"]["token"] = Base64(token);
    secret["data"]["namespace"] = Base64(ns);
    secret["data"]["ca.crt"] = Base64(ca_pem_);
    secret["metadata"]["resourceVersion"] = std::to_string(++rv_);
    Emit("MODIFIED", *FindResource("", "v1", "secrets"), secret);
  }
}

void Api::Reconcile(const Resource& resource, const Key& key) {
  if (resource.group.empty() && (resource.kind == "Secret" || resource.kind == "ServiceAccount")) {
    FillTokens(std::get<1>(key));
    return;
  }
  if (resource.group != "apps" || (resource.kind != "Deployment" && resource.kind != "DaemonSet")) {
    return;
  }
  Json owner = objects_[key].object;
  std::string name = std::get<2>(key);
  std::string now = Now();
  Json status = owner.value("status", Json::object());
  status["observedGeneration"] = owner["metadata"].value("generation", 1);
  std::vector<Json> pods;
  std::string template_hash = Hash(owner.value("spec", Json::object()).dump(), 10);
  if (resource.kind == "Deployment") {
    int replicas = owner.value("/spec/replicas"_json_pointer, 1);
    // Spread over the nodes its pod template may run on, as the scheduler would.
    std::vector<std::string> nodes = NodesFor(owner);
    for (int i = 0; i < replicas; ++i) {
      std::string node = nodes.empty() ? "" : nodes[static_cast<size_t>(i) % nodes.size()];
      pods.push_back(PodFor(
          owner, name + "-" + template_hash + "-" + Hash(name + std::to_string(i), 5), node));
    }
    int ready = rollouts_ready_ ? replicas : 0;
    status["replicas"] = replicas;
    status["updatedReplicas"] = replicas;
    status["readyReplicas"] = ready;
    status["availableReplicas"] = ready;
    if (ready < replicas)
      status["unavailableReplicas"] = replicas - ready;
    else
      status.erase("unavailableReplicas");
    status["conditions"] = {
        Condition("Available", ready >= replicas,
                  ready >= replicas ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
                  now),
        Condition("Progressing", true,
                  ready >= replicas ? "NewReplicaSetAvailable" : "ReplicaSetUpdated", now)};
  } else {
    std::vector<std::string> nodes = NodesFor(owner);
    for (const std::string& node : nodes)
      pods.push_back(PodFor(owner, name + "-" + Hash(node, 5), node));
    int n = static_cast<int>(nodes.size());
    int ready = rollouts_ready_ ? n : 0;
    status["desiredNumberScheduled"] = n;
    status["currentNumberScheduled"] = n;
    status["updatedNumberScheduled"] = n;
    status["numberMisscheduled"] = 0;
    status["numberReady"] = ready;
    status["numberAvailable"] = ready;
    if (ready < n)
      status["numberUnavailable"] = n - ready;
    else
      status.erase("numberUnavailable");
  }
  SyncPods(owner, pods);
  Json old = owner.value("status", Json::object());
  // Conditions carry times: compare without them so that an unchanged status is not rewritten.
  auto strip = [](Json s) {
    for (auto& c : s["conditions"]) {
      c.erase("lastUpdateTime");
      c.erase("lastTransitionTime");
    }
    return s;
  };
  if (strip(old) == strip(status)) return;
  Stored stored = objects_[key];
  stored.object["status"] = status;
  stored.object["metadata"]["resourceVersion"] = std::to_string(++rv_);
  objects_[key] = stored;
  Emit("MODIFIED", resource, stored.object);
}

void Api::ReconcileAll() {
  std::vector<std::pair<const Resource*, Key>> workloads;
  for (const auto& [key, stored] : objects_) {
    const std::string& id = std::get<0>(key);
    if (id == "apps/deployments" || id == "apps/daemonsets") {
      workloads.push_back({FindResource("apps", "v1", id.substr(5)), key});
    }
  }
  for (const auto& [r, key] : workloads) Reconcile(*r, key);
}

void Api::Watch(const Request& request, const std::function<bool(const std::string&)>& write) {
  std::unique_lock<std::mutex> lock(mu_);
  std::string labels = Param(request, "labelSelector");
  std::string fields = Param(request, "fieldSelector");
  std::string rv_param = Param(request, "resourceVersion");
  int timeout = 1800;
  if (!Param(request, "timeoutSeconds").empty()) {
    timeout = std::max(0, std::atoi(Param(request, "timeoutSeconds").c_str()));
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout);
  // The resource and namespace come from the path, resolved as Route does.
  std::string id, ns;
  {
    std::vector<std::string> p;
    std::string seg;
    for (char c : request.path + "/") {
      if (c == '/') {
        if (!seg.empty()) p.push_back(seg);
        seg.clear();
      } else {
        seg += c;
      }
    }
    size_t i = p[0] == "api" ? 2 : 3;
    std::string group = p[0] == "api" ? "" : p[1];
    if (p.size() > i + 2 && p[i] == "namespaces") {
      ns = p[i + 1];
      i += 2;
    }
    id = group + "/" + p[i];
  }
  auto matches = [&](const std::string& res, const Json& obj) {
    return res == id && (ns.empty() || obj["metadata"].value("namespace", "") == ns) &&
           MatchesLabels(obj, labels) && MatchesFields(obj, fields);
  };
  ++watches_;
  std::vector<std::string> pending;
  uint64_t cursor = 0;
  if (rv_param.empty() || rv_param == "0") {
    for (const auto& [key, stored] : objects_) {
      if (matches(std::get<0>(key), stored.object)) {
        pending.push_back(Json{{"type", "ADDED"}, {"object", stored.object}}.dump() + "\n");
      }
    }
    cursor = rv_;
  } else {
    cursor = std::strtoull(rv_param.c_str(), nullptr, 10);
    if (!events_.empty() && cursor + 1 < events_.front().rv) {
      Json status = {{"kind", "Status"},
                     {"apiVersion", "v1"},
                     {"metadata", Json::object()},
                     {"status", "Failure"},
                     {"message", "too old resource version"},
                     {"reason", "Expired"},
                     {"code", 410}};
      pending.push_back(Json{{"type", "ERROR"}, {"object", status}}.dump() + "\n");
      deadline = std::chrono::steady_clock::now();
    }
  }
  bool open = true;
  while (open) {
    PurgeDue();
    for (const Event& e : events_) {
      if (e.rv > cursor && matches(e.resource_id, e.object)) {
        pending.push_back(Json{{"type", e.type}, {"object", e.object}}.dump() + "\n");
      }
    }
    if (!events_.empty()) cursor = std::max(cursor, events_.back().rv);
    if (!pending.empty()) {
      lock.unlock();
      for (const std::string& line : pending) open = open && write(line);
      pending.clear();
      lock.lock();
      continue;
    }
    if (shutdown_ || std::chrono::steady_clock::now() >= deadline) break;
    changed_.wait_until(lock,
                        std::min(deadline, std::chrono::steady_clock::now() +
                                               (purges_.empty() ? std::chrono::milliseconds(5000)
                                                                : std::chrono::milliseconds(100))));
  }
  --watches_;
}

}  // namespace carrierarr::testing::kube_fake
