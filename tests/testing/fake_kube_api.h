// FakeKube's API, apart from its HTTPS transport (fake_kube.cc): the objects, the resource
// versions, the REST verbs, server-side apply, RBAC denials, watches and rollouts. One mutex
// guards everything; a watch waits on a condition variable and writes through a callback.
#ifndef CARRIERARR_TESTS_TESTING_FAKE_KUBE_API_H_
#define CARRIERARR_TESTS_TESTING_FAKE_KUBE_API_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace carrierarr::testing::kube_fake {

using Json = nlohmann::json;

struct Request {
  std::string method;
  std::string path;                          // decoded, without the query
  std::string target;                        // as sent
  std::map<std::string, std::string> query;  // decoded
  std::string content_type;
  std::string accept;
  std::string user_agent;
  std::string body;
  std::string user;  // authenticated; empty: none
  std::vector<std::string> groups;
};

struct Response {
  int code = 200;
  std::string body;
  std::string content_type = "application/json";
  bool watch = false;  // the handler streams instead: see Api::Watch
};

struct Resource {
  std::string group, version, kind, plural, singular;
  bool namespaced = true;
  std::vector<std::string> short_names;
  std::vector<std::string> verbs;
  std::vector<std::string> subresources;  // "status"
  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
  std::string id() const { return group + "/" + plural; }
  // "deployments.apps", "pods": how the API names it in messages.
  std::string qualified() const { return group.empty() ? plural : plural + "." + group; }
};

// Who owns which leaf fields (JSON pointers) of an object, and how they got them.
struct Owner {
  std::string operation;  // Apply or Update
  std::string api_version;
  std::string time;
  std::set<std::string> paths;
};

struct Stored {
  Json object;
  std::map<std::string, Owner> owners;  // by field manager
};

struct Event {
  uint64_t rv;
  std::string type;  // ADDED MODIFIED DELETED
  std::string resource_id;
  Json object;
};

struct Denial {
  std::string user, verb, resource, ns;
};

class Api {
 public:
  Api();

  // Answers a request (authentication already done: `user` set). When the answer has watch set,
  // call Watch with the same request to stream it.
  Response Handle(const Request& request);
  // Streams watch events as lines through `write` (false: the client is gone) until the
  // request's timeoutSeconds, Shutdown, or the client leaves.
  void Watch(const Request& request, const std::function<bool(const std::string&)>& write);
  void Shutdown();

  void AddNode(const std::string& name, const std::map<std::string, std::string>& labels,
               const std::string& internal_ip);
  void AddNamespace(const std::string& name);
  void AddCustomKind(const std::string& group, const std::string& version, const std::string& kind,
                     const std::string& plural, bool namespaced);
  void Deny(const Denial& denial);
  void SetRolloutsReady(bool ready);
  void CompleteRollouts();
  void HoldNamespaceTermination(bool hold);
  void ServePodProxy(const std::string& key, const std::string& body);  // "ns/pod:port/path"
  // Stores `object` as a controller or the kubelet leaves it (status and creationTimestamp as
  // given), creating or replacing it.
  void Store(Json object);
  std::vector<Json> Objects() const;
  Json Object(const std::string& api_version, const std::string& kind, const std::string& ns,
              const std::string& name) const;
  void set_server_address(const std::string& address) { server_address_ = address; }
  void set_ca_pem(const std::string& pem) { ca_pem_ = pem; }  // ca.crt of token Secrets

 private:
  using Key = std::tuple<std::string, std::string, std::string>;  // resource id, ns, name

  struct Target {
    const Resource* resource = nullptr;
    std::string ns, name, subresource;
  };

  Response Discovery(const Request& request, bool* handled) const;
  Response ResourceList(const std::string& group_version) const;
  Response OpenApiV3(const std::string& path) const;
  Response Route(const Request& request);
  Response Get(const Request& request, const Target& target);
  Response List(const Request& request, const Target& target);
  Response Create(const Request& request, const Target& target);
  Response Put(const Request& request, const Target& target);
  Response Patch(const Request& request, const Target& target);
  Response Apply(const Request& request, const Target& target, const Json& body);
  Response Delete(const Request& request, const Target& target);
  Response AccessReview(const Request& request);
  Response CheckNamespace(const Target& target) const;
  Response PodProxy(const Request& request, const std::vector<std::string>& rest);

  const Resource* FindResource(const std::string& group, const std::string& version,
                               const std::string& plural) const;
  const Resource* FindKind(const std::string& api_version, const std::string& kind) const;
  bool Denied(const std::string& user, const std::string& verb, const std::string& resource,
              const std::string& ns) const;
  Response Forbidden(const Request& request, const Target& target, const std::string& verb) const;

  // Stores `object` (new or changed): bumps the resource version, generation on spec changes,
  // renders managedFields, records the event and rolls workloads out.
  Json Commit(const Resource& resource, Stored stored, bool created);
  void Remove(const Resource& resource, const Key& key);
  void PurgeDue();  // removes the namespaces whose termination is due
  void Emit(const std::string& type, const Resource& resource, const Json& object);
  void Reconcile(const Resource& resource, const Key& key);
  void ReconcileAll();
  void FillTokens(const std::string& ns);
  void SyncPods(const Json& owner, const std::vector<Json>& pods);
  Json PodFor(const Json& owner, const std::string& name, const std::string& node) const;
  // The nodes a workload's pod template may run on (nodeSelector, required node affinity).
  std::vector<std::string> NodesFor(const Json& workload) const;
  std::string Now() const;
  std::string NewUid();

  static constexpr size_t kMaxEvents = 20000;  // the watch log kept; older: 410 Expired

  mutable std::mutex mu_;
  std::condition_variable changed_;
  bool shutdown_ = false;
  int watches_ = 0;
  uint64_t rv_ = 1;
  uint64_t uid_counter_ = 0;
  bool rollouts_ready_ = true;
  bool hold_terminations_ = false;  // deleted Namespaces stay Terminating until released
  std::string server_address_;
  std::string ca_pem_;
  std::vector<Resource> resources_;
  std::map<Key, Stored> objects_;
  std::deque<Event> events_;
  std::vector<Denial> denials_;
  std::map<std::string, std::chrono::steady_clock::time_point> purges_;  // terminating namespaces
  std::map<std::string, std::string> pod_proxy_;  // "ns/pod:port/path" -> body
};

}  // namespace carrierarr::testing::kube_fake

#endif  // CARRIERARR_TESTS_TESTING_FAKE_KUBE_API_H_
