#include "providers/kubernetes/objects.h"

#include <cstdio>
#include <iostream>

#include "core/file_util.h"
#include "pki/crypto.h"
#include "providers/kubernetes/kubernetes_provider.h"

namespace carrierarr::kubernetes {
namespace {

using Json = nlohmann::json;

// "applying DaemonSet nebula-system/nebula: <the client's reason>"
Status Named(const Status& status, const std::string& verb, const kube::ObjectRef& ref) {
  return status.WithPrefix(verb + " " + ref.ToString());
}

Json RefAttrs(const kube::ObjectRef& ref) {
  return {{"apiVersion", ref.api_version},
          {"kind", ref.kind},
          {"namespace", ref.ns},
          {"name", ref.name}};
}

kube::ObjectRef RefFromAttrs(const Json& attrs) {
  return {attrs.value("apiVersion", ""), attrs.value("kind", ""), attrs.value("namespace", ""),
          attrs.value("name", "")};
}

bool BeingDeleted(const kube::Object& object) {
  return object["metadata"].contains("deletionTimestamp");
}

// A Namespace that a recent `down` deleted stays Terminating while the cluster empties it (seconds
// to minutes); applying it then would only adopt a namespace about to vanish with what `up` puts
// in it. Waits (progress on stderr) until it is gone.
Status WaitWhileTerminating(kube::KubeApi& api, const kube::ObjectRef& ref, TimeSource& time) {
  constexpr auto kLimit = std::chrono::minutes(3);
  const auto deadline = time.MonotonicNow() + kLimit;
  for (bool said = false;; said = true) {
    auto got = api.Get(ref);
    if (!got.ok()) return Named(got.status(), "reading", ref);
    if (!got->has_value() || !BeingDeleted(**got)) return Status::Ok();
    if (!said)
      std::cerr << ref.ToString()
                << " is still being deleted (Terminating): waiting until it is gone, 3 minutes at "
                   "most\n";
    if (time.MonotonicNow() >= deadline) {
      return Status::FailedPrecondition(
          ref.ToString() + " is still Terminating after 3 minutes; 'kubectl get namespace " +
          ref.name + " -o yaml' shows what holds it (status.conditions, finalizers); run " +
          "'carrierarr up' again once it is gone");
    }
    time.SleepFor(std::chrono::milliseconds(500));
  }
}

// The object as `up` applies it: its content digest in the annotation.
kube::Object Annotated(kube::Object object) {
  const std::string digest = ContentDigest(object);
  object["metadata"]["annotations"][kAppliedHashAnnotation] = digest;
  return object;
}

class ObjectResource final : public provision::Resource {
 public:
  explicit ObjectResource(ObjectParams p)
      : p_(std::move(p)), ref_(kube::ObjectRef::Of(p_.planned)) {}
  std::string id() const override {
    return p_.id.empty() ? ObjectResourceId(ref_.kind, ref_.ns, ref_.name) : p_.id;
  }
  std::string kind() const override { return p_.kind; }
  std::string summary() const override { return ref_.ToString(); }
  std::vector<std::string> deps() const override { return p_.deps; }
  // What the spec decides; the key material's own changes come through the deps' hashes.
  std::string hash() const override { return ContentDigest(p_.planned); }
  Json attrs() const override {
    Json a = p_.session->target().ToJson();
    a.update(RefAttrs(ref_));
    return a;
  }
  Result<bool> Exists() const override {
    auto want = p_.source(ref_);
    if (!want.ok()) return false;  // its material is not made yet: Create() will say
    auto api = p_.session->Api();
    if (!api.ok()) return api.status();
    auto got = (*api)->Get(ref_);
    if (!got.ok()) return Named(got.status(), "reading", ref_);
    if (!got->has_value() || BeingDeleted(**got)) return false;
    const Json& annotations = (**got)["metadata"].value("annotations", Json::object());
    return annotations.value(kAppliedHashAnnotation, "") == ContentDigest(*want);
  }
  Result<Json> Create() override {
    auto want = p_.source(ref_);
    if (!want.ok()) return Named(want.status(), "rendering", ref_);
    auto api = p_.session->Api();
    if (!api.ok()) return api.status();
    if (ref_.kind == "Namespace")
      CARRIERARR_RETURN_IF_ERROR(WaitWhileTerminating(**api, ref_, *p_.session->seams().time));
    auto applied = (*api)->Apply(Annotated(*want));
    if (!applied.ok()) return Named(applied.status(), "applying", ref_);
    return attrs();
  }

 private:
  ObjectParams p_;
  kube::ObjectRef ref_;
};

// The counts WaitForRollout waits for, read once.
bool RolledOut(const Json& o) {
  const Json& status = o.value("status", Json::object());
  if (status.value("observedGeneration", 0) < o["metadata"].value("generation", 1)) return false;
  if (o.value("kind", "") == "DaemonSet") {
    const int want = status.value("desiredNumberScheduled", 0);
    return status.value("numberReady", 0) == want &&
           status.value("updatedNumberScheduled", 0) == want;
  }
  const int want = o.value("spec", Json::object()).value("replicas", 1);
  return status.value("readyReplicas", 0) >= want && status.value("updatedReplicas", 0) >= want;
}

class RolloutResource final : public provision::Resource {
 public:
  explicit RolloutResource(RolloutParams p) : p_(std::move(p)) {}
  std::string id() const override {
    return "rollout/" + p_.ref.kind + "/" + p_.ref.name;  // names are unique in a fleet
  }
  std::string kind() const override { return kRolloutKind; }
  std::string summary() const override { return "rollout of " + p_.ref.ToString(); }
  std::vector<std::string> deps() const override { return p_.deps; }
  std::string hash() const override { return p_.ref.ToString(); }
  Json attrs() const override {
    Json a = p_.session->target().ToJson();
    a.update(RefAttrs(p_.ref));
    return a;
  }
  // Rolled out as the object stands now (a changed object upstream replaces this resource
  // through its deps' hash, so the wait runs again).
  Result<bool> Exists() const override {
    auto api = p_.session->Api();
    if (!api.ok()) return api.status();
    auto got = (*api)->Get(p_.ref);
    if (!got.ok()) return Named(got.status(), "reading", p_.ref);
    return got->has_value() && RolledOut(**got);
  }
  Result<Json> Create() override {
    auto api = p_.session->Api();
    if (!api.ok()) return api.status();
    // Progress to stderr: the engine's own lines go to stdout, and a rollout can take minutes.
    Status s = kube::WaitForRollout(**api, p_.ref, p_.timeout, *p_.session->seams().time,
                                    [](const std::string& line) { std::cerr << line << "\n"; });
    if (!s.ok()) return Named(s, "waiting for the rollout of", p_.ref);
    return attrs();
  }

 private:
  RolloutParams p_;
};

class TokenFileResource final : public provision::Resource {
 public:
  TokenFileResource(std::string id, std::string summary, std::string path)
      : id_(std::move(id)), summary_(std::move(summary)), path_(std::move(path)) {}
  std::string id() const override { return id_; }
  std::string kind() const override { return "file"; }  // the file kind's deleter removes it
  std::string summary() const override { return summary_; }
  std::vector<std::string> deps() const override { return {}; }
  std::string hash() const override { return path_; }
  Json attrs() const override { return {{"path", path_}}; }
  Result<bool> Exists() const override {
    auto data = ReadFile(path_);
    return data.ok() && !data->empty();
  }
  Result<Json> Create() override {
    auto data = ReadFile(path_);
    if (data.ok() && !data->empty()) return attrs();  // made once, kept
    auto bytes = pki::RandomBytes(32);
    if (!bytes.ok()) return bytes.status();
    std::string hex;
    for (unsigned char c : *bytes) {
      char two[3];
      std::snprintf(two, sizeof two, "%02x", c);
      hex += two;
    }
    CARRIERARR_RETURN_IF_ERROR(WriteFileAtomic(path_, hex + "\n", 0600));
    return attrs();
  }

 private:
  std::string id_, summary_, path_;
};

}  // namespace

std::string ObjectResourceId(const std::string& kind, const std::string& ns,
                             const std::string& name) {
  return "kube/" + kind + "/" + (ns.empty() ? "-" : ns) + "/" + name;
}

Json ClusterTarget::ToJson() const {
  return {{"kubeconfig", kubeconfig}, {"context", context}, {"allow_insecure", allow_insecure}};
}

ClusterTarget ClusterTarget::FromJson(const Json& attrs) {
  return {attrs.value("kubeconfig", ""), attrs.value("context", ""),
          attrs.value("allow_insecure", false)};
}

Result<kube::KubeApi*> KubeSession::Api() {
  std::lock_guard<std::mutex> lock(mu_);
  if (api_ != nullptr) return api_.get();
  auto access = kube::LoadKubeconfig({.path = target_.kubeconfig,
                                      .context = target_.context,
                                      .allow_insecure = target_.allow_insecure},
                                     seams_);
  if (!access.ok()) return access.status();
  auto api = kube::MakeKubeClient(*access, seams_);
  if (!api.ok()) return api.status();
  api_ = std::move(*api);
  return api_.get();
}

std::string ContentDigest(const kube::Object& object) {
  kube::Object copy = object;
  if (copy.contains("metadata") && copy["metadata"].contains("annotations")) {
    copy["metadata"]["annotations"].erase(kAppliedHashAnnotation);
    if (copy["metadata"]["annotations"].empty()) copy["metadata"].erase("annotations");
  }
  return pki::Sha256Hex(copy.dump());  // nlohmann's objects are ordered: the same content, one dump
}

std::unique_ptr<provision::Resource> MakeObjectResource(ObjectParams params) {
  return std::make_unique<ObjectResource>(std::move(params));
}

std::unique_ptr<provision::Resource> MakeRolloutResource(RolloutParams params) {
  return std::make_unique<RolloutResource>(std::move(params));
}

std::unique_ptr<provision::Resource> MakeTokenFileResource(const std::string& id,
                                                           const std::string& summary,
                                                           const std::string& path) {
  return std::make_unique<TokenFileResource>(id, summary, path);
}

provision::Deleter ObjectDeleter(const Seams& seams) {
  return [seams](const Json& attrs) -> Status {
    KubeSession session(ClusterTarget::FromJson(attrs), seams);
    auto api = session.Api();
    if (!api.ok()) return api.status();
    const kube::ObjectRef ref = RefFromAttrs(attrs);
    Status s = (*api)->Delete(ref, kube::Propagation::kBackground);
    return s.ok() ? s : Named(s, "deleting", ref);
  };
}

void RegisterObjectKinds(provision::KindRegistry& kinds, const Seams& seams) {
  kinds.Register(kObjectKind, ObjectDeleter(seams));
  kinds.Register(kRolloutKind, [](const Json&) { return Status::Ok(); });
}

}  // namespace carrierarr::kubernetes
