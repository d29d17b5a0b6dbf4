// A stateful fake Kubernetes API server on loopback HTTPS, for what cannot run here (a real
// cluster). It is strict where the real one is: it checks method, path, content type, the field
// manager of an apply, and the client certificate or bearer token; it answers with the API's
// real shapes (Status objects for 401/403/404/409/422, resourceVersion on every object and
// list, watch streams, discovery documents), so the real `kubectl` works against it
// (tests/testing/fake_kube_test.cc proves it with apply --server-side, get, wait, delete).
// Rollouts: a Deployment or DaemonSet applied gets its status filled in as rolled out
// (DaemonSet: one ready pod per Node matching its nodeSelector, with Pod objects) unless
// set_rollouts_ready(false).
// Thread-safe; the server runs on its own thread until Stop() or destruction.
#ifndef CARRIERARR_TESTS_TESTING_FAKE_KUBE_H_
#define CARRIERARR_TESTS_TESTING_FAKE_KUBE_H_

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace carrierarr::testing {

class FakeKube {
 public:
  // Generates a CA, a server certificate for 127.0.0.1 and a client certificate (CN `admin`,
  // group system:masters); listens on 127.0.0.1:0. A token user `token-user` is also known.
  FakeKube();
  ~FakeKube();
  FakeKube(const FakeKube&) = delete;
  FakeKube& operator=(const FakeKube&) = delete;

  std::string url() const;  // "https://127.0.0.1:PORT"
  int port() const;
  const std::string& ca_pem() const;
  // A kubeconfig for `admin` (client certificate, inline -data) and for `token-user` (token),
  // contexts "fake" and "fake-token"; written 0600 to `path`.
  void WriteKubeconfig(const std::string& path) const;
  static constexpr const char* kToken = "fake-token-secret";

  // The cluster's nodes (labels included); pods of DaemonSets land on them.
  void AddNode(const std::string& name, const std::map<std::string, std::string>& labels = {},
               const std::string& internal_ip = "192.168.1.10");
  void AddNamespace(const std::string& name);  // "default" and "kube-system" exist from the start
  // Serves a custom resource kind (as if its CRD were installed): discovery lists it.
  void AddCustomKind(const std::string& group, const std::string& version, const std::string& kind,
                     const std::string& plural, bool namespaced);
  // RBAC: `user` may not `verb` (get list watch create patch update delete) `resource` (plural)
  // in `ns` ("" = anywhere); answered 403 with the API's message, and so in access reviews.
  void Deny(const std::string& user, const std::string& verb, const std::string& resource,
            const std::string& ns = "");
  // Stores an object as a controller or the kubelet leaves it (a Pending Pod, a NotReady Node,
  // a Service with its nodePort), status and creationTimestamp as given; replaces one of the name.
  void Store(const nlohmann::json& object);
  void set_rollouts_ready(bool ready);
  // Marks every Deployment and DaemonSet rolled out now (after set_rollouts_ready(false)).
  void CompleteRollouts();
  // A deleted Namespace stays Terminating for 300 ms, or, while held, until released (false):
  // a real cluster's termination takes seconds to minutes.
  void HoldNamespaceTermination(bool hold);
  // What pod `ns`/`pod` answers on `port` at `path` through the API server's proxy
  // (GET .../pods/NAME:PORT/proxy/PATH, checked against RBAC `get pods/proxy`); a pod without an
  // answer there is refused with 503 as the API server reports a refused connection.
  void ServePodProxy(const std::string& ns, const std::string& pod, int port,
                     const std::string& path, const std::string& body);

  // What the cluster holds: every object (Nodes and Namespaces included), and one object.
  std::vector<nlohmann::json> Objects() const;
  nlohmann::json Object(const std::string& api_version, const std::string& kind,
                        const std::string& ns, const std::string& name) const;  // null if none
  // Requests seen: "PATCH /apis/apps/v1/namespaces/x/daemonsets/y?fieldManager=..." in order.
  std::vector<std::string> Requests() const;
  int CountRequests(const std::string& method) const;

  void Stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace carrierarr::testing

#endif  // CARRIERARR_TESTS_TESTING_FAKE_KUBE_H_
