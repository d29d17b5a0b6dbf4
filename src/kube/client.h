// A Kubernetes API client of our own (no C++ client is packaged in Debian): plain REST over
// libcurl. KubeApi is the seam (tests run the real KubeClient against tests/testing/fake_kube.h
// on loopback HTTPS, and against a real cluster in the kube-acceptance suite).
#ifndef CARRIERARR_KUBE_CLIENT_H_
#define CARRIERARR_KUBE_CLIENT_H_

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/seams.h"
#include "core/status.h"
#include "kube/kubeconfig.h"

namespace carrierarr::kube {

using Object = nlohmann::json;

// Names one object. `ns` is "" for cluster-scoped kinds (Namespace, Node, ClusterRole).
struct ObjectRef {
  std::string api_version;  // "v1", "apps/v1"
  std::string kind;         // "DaemonSet"
  std::string ns;
  std::string name;
  static ObjectRef Of(const Object& object);  // from apiVersion, kind, metadata
  std::string ToString() const;               // "DaemonSet nebula-system/nebula"
  bool operator==(const ObjectRef&) const = default;
};

struct ObjectList {
  std::vector<Object> items;
  std::string resource_version;  // of the list: where a watch starts
};

struct ListOptions {
  std::string label_selector;  // "app.kubernetes.io/managed-by=carrierarr,carrierarr.io/fleet=demo"
  std::string field_selector;  // "spec.nodeName=node-1"
};

struct WatchEvent {
  std::string type;  // ADDED, MODIFIED, DELETED, BOOKMARK, ERROR
  Object object;
};

enum class Propagation { kBackground, kForeground, kOrphan };

// Every method is thread-safe (the engine applies resources from several threads) and bounded in
// time. Errors are Status values that say what was refused and how to fix it:
// - unreachable server: kUnavailable (the server URL, the curl error);
// - 401: kUnauthenticated (the user and kubeconfig; "credentials expired?");
// - 403: kPermissionDenied (verb, resource, namespace, as the API says);
// - a kind not served (no CRD): kNotFound ("the cluster has no <kind> (<apiVersion>): install");
// - a namespace missing: kNotFound (names the namespace);
// - 409: kAborted (a conflict: which manager owns which field);
// - 422: kInvalidArgument (the API's causes, field by field).
class KubeApi {
 public:
  virtual ~KubeApi() = default;
  // Server-side apply: PATCH ...?fieldManager=carrierarr&force=true&fieldValidation=Strict with
  // application/apply-patch+yaml (JSON body). Returns the object as the server has it.
  virtual Result<Object> Apply(const Object& object) = 0;
  // nullopt when the object does not exist (its kind does).
  virtual Result<std::optional<Object>> Get(const ObjectRef& ref) = 0;
  // `ns` "" lists across all namespaces (or a cluster-scoped kind).
  virtual Result<ObjectList> List(const std::string& api_version, const std::string& kind,
                                  const std::string& ns, const ListOptions& options) = 0;
  // Watches from `resource_version` for at most `timeout` (timeoutSeconds to the server, and a
  // client-side bound). Calls on_event for each event until it returns false, the server ends the
  // watch, or the time is up (all Ok). 410 Gone is kAborted: list again and rewatch.
  virtual Status Watch(const std::string& api_version, const std::string& kind,
                       const std::string& ns, const ListOptions& options,
                       const std::string& resource_version, std::chrono::seconds timeout,
                       const std::function<bool(const WatchEvent&)>& on_event) = 0;
  // DELETE with propagationPolicy; Ok when the object (or its kind, or its namespace) is gone.
  virtual Status Delete(const ObjectRef& ref, Propagation propagation) = 0;
  // Discovery: whether the server serves `kind` in `api_version` (a CRD is installed).
  virtual Result<bool> Serves(const std::string& api_version, const std::string& kind) = 0;
  // SelfSubjectAccessReview: may we `verb` `resource` (plural, "daemonsets") of `group` ("" core,
  // "apps") in `ns` ("" cluster-wide)?
  virtual Result<bool> CanI(const std::string& verb, const std::string& group,
                            const std::string& resource, const std::string& ns) = 0;
  // GET `path` of a pod's `port` through the API server's proxy
  // (/api/v1/namespaces/NS/pods/NAME:PORT/proxy/PATH; RBAC `get pods/proxy`): the body as text.
  // kResourceExhausted past `max_bytes`; kUnavailable when the pod does not answer there.
  virtual Result<std::string> PodProxyGet(const std::string& ns, const std::string& pod, int port,
                                          const std::string& path, size_t max_bytes) = 0;
  // The server named in messages ("https://10.0.0.1:6443, context home").
  virtual std::string Describe() const = 0;
};

struct ClientOptions {
  std::chrono::milliseconds request_timeout{30000};  // each call but Watch
  std::chrono::milliseconds connect_timeout{10000};
  std::string field_manager = "carrierarr";
};

// The real client. Seams: the clock (token expiry), the processes (exec plugins run again when
// their credential expires) and the environment.
Result<std::unique_ptr<KubeApi>> MakeKubeClient(const ClusterAccess& access, const Seams& seams,
                                                const ClientOptions& options = {});

// Waits until a Deployment or DaemonSet has rolled out (observedGeneration caught up, every
// replica updated and ready), watching it; calls `progress` with a line whenever the counts
// change ("daemonset nebula-system/nebula: 2 of 3 pods ready"). kDeadlineExceeded after
// `timeout`, naming what is not ready and why (a pod's waiting reason: ImagePullBackOff, ...).
Status WaitForRollout(KubeApi& api, const ObjectRef& ref, std::chrono::milliseconds timeout,
                      TimeSource& time, const std::function<void(const std::string&)>& progress);

}  // namespace carrierarr::kube

#endif  // CARRIERARR_KUBE_CLIENT_H_
