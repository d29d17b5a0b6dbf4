// WaitForRollout: watches a Deployment or DaemonSet until its status says every replica is
// updated and ready; on timeout, the pods it selects say why not (their waiting reasons).
#include <string>
#include <utility>
#include <vector>

#include "kube/client.h"

namespace carrierarr::kube {
namespace {

struct Progress {
  int64_t want = 0, updated = 0, ready = 0;
  bool observed = false;  // status.observedGeneration caught up with metadata.generation
  bool Done() const { return observed && updated == want && ready == want; }
  bool operator==(const Progress&) const = default;
};

int64_t Count(const Object& status, const char* key) {
  return status.is_object() && status.contains(key) && status[key].is_number_integer()
             ? status[key].get<int64_t>()
             : 0;
}

Progress ProgressOf(const Object& object) {
  Progress p;
  const Object status = object.value("status", Object::object());
  const Object spec = object.value("spec", Object::object());
  const int64_t generation = object["metadata"].value("generation", int64_t{0});
  p.observed = Count(status, "observedGeneration") >= generation;
  if (object.value("kind", "") == "DaemonSet") {
    p.want = Count(status, "desiredNumberScheduled");
    p.updated = Count(status, "updatedNumberScheduled");
    p.ready = Count(status, "numberReady");
  } else {
    p.want = spec.contains("replicas") ? Count(spec, "replicas") : 1;
    p.updated = Count(status, "updatedReplicas");
    p.ready = Count(status, "readyReplicas");
  }
  return p;
}

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string Line(const ObjectRef& ref, const Progress& p) {
  return Lower(ref.kind) + " " + ref.ns + "/" + ref.name + ": " + std::to_string(p.ready) + " of " +
         std::to_string(p.want) + " pods ready" +
         (p.updated < p.want ? ", " + std::to_string(p.updated) + " updated" : "");
}

// "pod nebula-x: ImagePullBackOff (Back-off pulling image ...)" for each pod not ready.
std::string PodReasons(KubeApi& api, const ObjectRef& ref, const Object& workload) {
  const Object selector = workload.value("spec", Object::object()).value("selector", Object());
  if (!selector.is_object() || !selector.contains("matchLabels")) return "";
  std::string labels;
  for (const auto& [key, value] : selector["matchLabels"].items())
    labels += (labels.empty() ? "" : ",") + key + "=" + value.get<std::string>();
  Result<ObjectList> pods = api.List("v1", "Pod", ref.ns, {.label_selector = labels});
  if (!pods.ok()) return "; the pods cannot be listed: " + pods.status().message();
  std::string reasons;
  for (const Object& pod : pods->items) {
    const Object status = pod.value("status", Object::object());
    std::string why;
    for (const Object& container : status.value("containerStatuses", Object::array())) {
      if (container.value("ready", false)) continue;
      const Object waiting = container.value("state", Object::object()).value("waiting", Object());
      if (waiting.is_object())
        why += (why.empty() ? "" : ", ") + waiting.value("reason", "waiting") +
               (waiting.contains("message") ? " (" + waiting.value("message", "") + ")" : "");
    }
    if (why.empty() && status.value("phase", "") != "Running")
      why = status.value("phase", "Pending");
    if (!why.empty()) reasons += "; pod " + pod["metadata"].value("name", "") + ": " + why;
  }
  return reasons.empty() ? "; no pod says why" : reasons;
}

}  // namespace

Status WaitForRollout(KubeApi& api, const ObjectRef& ref, std::chrono::milliseconds timeout,
                      TimeSource& time, const std::function<void(const std::string&)>& progress) {
  if (ref.kind != "Deployment" && ref.kind != "DaemonSet")
    return Status::InvalidArgument("cannot wait for the rollout of a " + ref.kind +
                                   ": only Deployments and DaemonSets roll out");
  const auto deadline = time.MonotonicNow() + timeout;
  std::optional<Progress> last;
  Object current;
  auto seen = [&](const Object& object) {
    current = object;
    const Progress p = ProgressOf(object);
    if (!last || !(*last == p)) progress(Line(ref, p));
    last = p;
    return p.Done();
  };
  while (true) {
    CARRIERARR_ASSIGN_OR_RETURN(std::optional<Object> object, api.Get(ref));
    if (!object) return Status::NotFound(ref.ToString() + " does not exist: apply it first");
    if (seen(*object)) return Status::Ok();
    const auto left = deadline - time.MonotonicNow();
    if (left <= std::chrono::milliseconds(0)) break;
    const auto seconds = std::max<int64_t>(
        1, std::chrono::duration_cast<std::chrono::seconds>(left + std::chrono::milliseconds(999))
               .count());
    bool done = false;
    Status watched = api.Watch(ref.api_version, ref.kind, ref.ns,
                               {.field_selector = "metadata.name=" + ref.name},
                               (*object)["metadata"].value("resourceVersion", ""),
                               std::chrono::seconds(seconds), [&](const WatchEvent& event) {
                                 if (event.type != "ADDED" && event.type != "MODIFIED") return true;
                                 done = seen(event.object);
                                 return !done && time.MonotonicNow() < deadline;
                               });
    if (done) return Status::Ok();
    if (!watched.ok() && watched.code() != StatusCode::kAborted) return watched;
    if (time.MonotonicNow() >= deadline) break;
  }
  return Status::DeadlineExceeded(
      Line(ref, last.value_or(Progress{})) + " after " +
      std::to_string(std::chrono::duration_cast<std::chrono::seconds>(timeout).count()) +
      "s: not rolled out" + PodReasons(api, ref, current));
}

}  // namespace carrierarr::kube
