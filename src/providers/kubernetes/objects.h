// The kubernetes provider's resources: one per applied object, one per awaited rollout, and the
// admin token file. Internal to the provider (kubernetes_provider.cc and its tests).
#ifndef CARRIERARR_PROVIDERS_KUBERNETES_OBJECTS_H_
#define CARRIERARR_PROVIDERS_KUBERNETES_OBJECTS_H_

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/seams.h"
#include "kube/client.h"
#include "providers/kubernetes/kubernetes_provider.h"
#include "provision/resource.h"

namespace carrierarr::kubernetes {

// How to reach the cluster, recorded in every resource's attrs so `down` needs only the state.
struct ClusterTarget {
  std::string kubeconfig;  // "" = $KUBECONFIG, ~/.kube/config
  std::string context;     // "" = current-context
  bool allow_insecure = false;
  nlohmann::json ToJson() const;
  static ClusterTarget FromJson(const nlohmann::json& attrs);
};

// One client per cluster target, made on first use (so `plan` of an unchanged fleet and every
// deleter share it), thread-safe.
class KubeSession {
 public:
  KubeSession(ClusterTarget target, Seams seams)
      : target_(std::move(target)), seams_(std::move(seams)) {}
  Result<kube::KubeApi*> Api();
  const ClusterTarget& target() const { return target_; }
  const Seams& seams() const { return seams_; }

 private:
  ClusterTarget target_;
  Seams seams_;
  std::mutex mu_;
  std::unique_ptr<kube::KubeApi> api_;  // guarded by mu_
};

// The objects with their real key material, rendered once at Create() time (the Secret holds
// the certificates the cert/<node> resources made, so it cannot be read at plan time).
using ObjectSource = std::function<Result<kube::Object>(const kube::ObjectRef& ref)>;

// The digest `up` writes into kAppliedHashAnnotation: of the object without that annotation.
std::string ContentDigest(const kube::Object& object);

struct ObjectParams {
  std::shared_ptr<KubeSession> session;
  kube::Object planned;  // as rendered at plan time (material may be missing): names the object
  std::vector<std::string> deps;
  ObjectSource source;
  // Recorded as: "" = ObjectResourceId(...) of kind kObjectKind. Federation's objects live in two
  // clusters and are skipped by --skip-peering, so they have ids and a kind of their own.
  std::string id;
  std::string kind = kObjectKind;
};
std::unique_ptr<provision::Resource> MakeObjectResource(ObjectParams params);

struct RolloutParams {
  std::shared_ptr<KubeSession> session;
  kube::ObjectRef ref;  // a Deployment or DaemonSet
  std::vector<std::string> deps;
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
};
std::unique_ptr<provision::Resource> MakeRolloutResource(RolloutParams params);

// A secret made once (32 random bytes, hex) at `path`, mode 0600, kind "file"; kept as it is on
// every later run.
std::unique_ptr<provision::Resource> MakeTokenFileResource(const std::string& id,
                                                           const std::string& summary,
                                                           const std::string& path);

// The deleters of kObjectKind (Delete with background propagation; gone is fine) and
// kRolloutKind (nothing to undo).
void RegisterObjectKinds(provision::KindRegistry& kinds, const Seams& seams);
// kObjectKind's deleter, for another kind of applied object (the ClusterTarget and ref in attrs).
provision::Deleter ObjectDeleter(const Seams& seams);

}  // namespace carrierarr::kubernetes

#endif  // CARRIERARR_PROVIDERS_KUBERNETES_OBJECTS_H_
