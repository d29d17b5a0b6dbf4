// The Kubernetes client: REST over carrierarr::net's transport. Resource paths come from
// discovery (cached per apiVersion), errors from the API's Status objects, kept verbatim (they
// name the verb, resource and namespace) with a line that says what to do.
#include "kube/client.h"

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "net/http.h"

namespace carrierarr::kube {
namespace {

std::string UrlEncode(const std::string& text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return out;
}

std::string Selectors(const ListOptions& options) {
  std::string query;
  if (!options.label_selector.empty())
    query += "&labelSelector=" + UrlEncode(options.label_selector);
  if (!options.field_selector.empty())
    query += "&fieldSelector=" + UrlEncode(options.field_selector);
  return query;
}

struct Resource {
  std::string plural;
  bool namespaced = false;
};
using Resources = std::map<std::string, Resource>;  // by kind

bool IsSuccess(int status) { return status >= 200 && status < 300; }

// The message of a Status answer ("... is forbidden: User \"x\" cannot patch resource ...") and,
// for 422, its causes field by field.
std::string StatusMessage(const net::HttpResponse& response) {
  const nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
  if (!body.is_object()) return "HTTP " + std::to_string(response.status);
  std::string message = body.value("message", "HTTP " + std::to_string(response.status));
  if (body.contains("details") && body["details"].is_object() &&
      body["details"].contains("causes") && body["details"]["causes"].is_array()) {
    for (const nlohmann::json& cause : body["details"]["causes"])
      if (cause.is_object())
        message += "; " + cause.value("field", "") + ": " + cause.value("message", "");
  }
  return message;
}

class KubeClient final : public KubeApi {
 public:
  KubeClient(ClusterAccess access, const Seams& seams, const ClientOptions& options,
             std::unique_ptr<net::HttpTransport> transport)
      : access_(std::move(access)),
        seams_(seams),
        options_(options),
        transport_(std::move(transport)) {}

  Result<Object> Apply(const Object& object) override;
  Result<std::optional<Object>> Get(const ObjectRef& ref) override;
  Result<ObjectList> List(const std::string& api_version, const std::string& kind,
                          const std::string& ns, const ListOptions& options) override;
  Status Watch(const std::string& api_version, const std::string& kind, const std::string& ns,
               const ListOptions& options, const std::string& resource_version,
               std::chrono::seconds timeout,
               const std::function<bool(const WatchEvent&)>& on_event) override;
  Status Delete(const ObjectRef& ref, Propagation propagation) override;
  Result<bool> Serves(const std::string& api_version, const std::string& kind) override;
  Result<bool> CanI(const std::string& verb, const std::string& group, const std::string& resource,
                    const std::string& ns) override;
  Result<std::string> PodProxyGet(const std::string& ns, const std::string& pod, int port,
                                  const std::string& path, size_t max_bytes) override;
  std::string Describe() const override {
    return access_.server + ", context " + (access_.context.empty() ? "-" : access_.context);
  }

 private:
  struct Call {
    std::string method = "GET";
    std::string path;  // "/api/v1/namespaces/x/pods?..."
    std::string body;
    std::string content_type;
    std::chrono::milliseconds timeout{0};  // 0: options_.request_timeout
    std::function<bool(std::string_view)> on_chunk;
  };
  Result<net::HttpResponse> Send(const Call& call);
  Result<net::HttpResponse> SendOnce(const Call& call, bool refresh);
  Status Error(const net::HttpResponse& response, const std::string& what) const;
  // Cached; `fresh` asks the server again (a CRD installed since the last look).
  Result<Resources> Discover(const std::string& api_version, bool fresh = false);
  Result<std::string> Path(const std::string& api_version, const std::string& kind,
                           const std::string& ns, const std::string& name);

  mutable std::mutex mu_;
  ClusterAccess access_;  // guarded by mu_ (an exec plugin's credential is refreshed)
  const Seams seams_;
  const ClientOptions options_;
  const std::unique_ptr<net::HttpTransport> transport_;
  std::map<std::string, Resources> discovered_;  // guarded by mu_; by apiVersion
};

// Runs the exec plugin again when its credential has expired (or the server said 401).
Result<net::HttpResponse> KubeClient::SendOnce(const Call& call, bool refresh) {
  net::HttpRequest request;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const bool expired =
        access_.token_expiry.has_value() &&
        seams_.time->SystemNow() + std::chrono::seconds(10) >= *access_.token_expiry;
    if (access_.exec && (refresh || expired))
      CARRIERARR_RETURN_IF_ERROR(RefreshExecCredential(access_, seams_));
    request.url = access_.server + call.path;
    request.tls = {.ca_pem = access_.ca_pem,
                   .client_cert_pem = access_.client_cert_pem,
                   .client_key_pem = access_.client_key_pem,
                   .insecure_skip_verify = access_.insecure_skip_tls_verify};
    if (!access_.token.empty())
      request.headers.emplace_back("Authorization", "Bearer " + access_.token);
  }
  request.method = call.method;
  request.body = call.body;
  request.headers.emplace_back("Accept", "application/json");
  request.headers.emplace_back("User-Agent", "carrierarr");
  if (!call.content_type.empty()) request.headers.emplace_back("Content-Type", call.content_type);
  request.timeout = call.timeout.count() > 0 ? call.timeout : options_.request_timeout;
  request.connect_timeout = options_.connect_timeout;
  request.on_chunk = call.on_chunk;
  Result<net::HttpResponse> response = transport_->Send(request);
  if (!response.ok())
    return Status(response.status().code(), "Kubernetes API server " + Describe() +
                                                " unreachable: " + response.status().message() +
                                                "; check the server URL and that it is up");
  return response;
}

Result<net::HttpResponse> KubeClient::Send(const Call& call) {
  CARRIERARR_ASSIGN_OR_RETURN(net::HttpResponse response, SendOnce(call, false));
  bool has_exec = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    has_exec = access_.exec.has_value();
  }
  if (response.status == 401 && has_exec && !call.on_chunk) return SendOnce(call, true);
  return response;
}

Status KubeClient::Error(const net::HttpResponse& response, const std::string& what) const {
  const std::string message = what + ": " + StatusMessage(response);
  switch (response.status) {
    case 401:
      return Status::Unauthenticated(message + " (user " + access_.user + " of kubeconfig " +
                                     access_.source +
                                     "): credentials expired or wrong? fetch a fresh kubeconfig");
    case 403:
      // The API server's message says the scope: a RoleBinding cannot grant a cluster-scoped
      // resource (namespaces), so name the binding that can.
      return Status::PermissionDenied(
          message +
          (message.find("at the cluster scope") != std::string::npos
               ? "; grant it to that user with a ClusterRole and a ClusterRoleBinding"
               : "; grant it to that user with a Role and a RoleBinding in that namespace") +
          ", or use an admin context ('carrierarr doctor' lists every missing permission)");
    case 404:
      return Status::NotFound(message);
    case 409:
    case 410:
      return Status::Aborted(message);
    case 400:
    case 422:
      return Status::InvalidArgument(message + "; fix the object's fields");
    default:
      return Status::Unavailable(message + " (at " + Describe() + ")");
  }
}

Result<Resources> KubeClient::Discover(const std::string& api_version, bool fresh) {
  if (!fresh) {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = discovered_.find(api_version); it != discovered_.end()) return it->second;
  }
  const std::string path = api_version == "v1" ? "/api/v1" : "/apis/" + api_version;
  CARRIERARR_ASSIGN_OR_RETURN(net::HttpResponse response, Send({.path = path}));
  Resources resources;
  if (response.status != 404) {  // 404: the group or version is not served at all
    if (!IsSuccess(response.status)) return Error(response, "discovery of " + api_version);
    const nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
    if (!body.is_object() || !body.contains("resources") || !body["resources"].is_array())
      return Status::Unavailable("discovery of " + api_version + " at " + Describe() +
                                 ": not an APIResourceList");
    for (const nlohmann::json& r : body["resources"]) {
      const std::string name = r.value("name", "");
      if (name.empty() || name.find('/') != std::string::npos) continue;  // subresources
      resources[r.value("kind", "")] = {.plural = name, .namespaced = r.value("namespaced", false)};
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  discovered_[api_version] = resources;
  return resources;
}

Result<std::string> KubeClient::Path(const std::string& api_version, const std::string& kind,
                                     const std::string& ns, const std::string& name) {
  CARRIERARR_ASSIGN_OR_RETURN(Resources resources, Discover(api_version));
  if (resources.count(kind) == 0) {
    CARRIERARR_ASSIGN_OR_RETURN(resources, Discover(api_version, true));
  }
  auto it = resources.find(kind);
  if (it == resources.end())
    return Status::NotFound("the cluster has no " + kind + " (" + api_version + ") at " +
                            Describe() +
                            ": install its CustomResourceDefinition (CRD) or the component that "
                            "serves it first");
  std::string path = api_version == "v1" ? "/api/v1" : "/apis/" + api_version;
  if (it->second.namespaced && !ns.empty()) path += "/namespaces/" + UrlEncode(ns);
  path += "/" + it->second.plural;
  if (!name.empty()) path += "/" + UrlEncode(name);
  return path;
}

Result<Object> KubeClient::Apply(const Object& object) {
  const ObjectRef ref = ObjectRef::Of(object);
  if (ref.api_version.empty() || ref.kind.empty() || ref.name.empty())
    return Status::InvalidArgument("cannot apply an object without apiVersion, kind and name: " +
                                   object.dump().substr(0, 200));
  CARRIERARR_ASSIGN_OR_RETURN(std::string path, Path(ref.api_version, ref.kind, ref.ns, ref.name));
  path +=
      "?fieldManager=" + UrlEncode(options_.field_manager) + "&force=true&fieldValidation=Strict";
  CARRIERARR_ASSIGN_OR_RETURN(net::HttpResponse response,
                              Send({.method = "PATCH",
                                    .path = path,
                                    .body = object.dump(),
                                    .content_type = "application/apply-patch+yaml"}));
  if (!IsSuccess(response.status)) {
    Status status = Error(response, "apply " + ref.ToString());
    if (response.status == 404 && !ref.ns.empty())
      return Status::NotFound(status.message() + "; create namespace " + ref.ns + " first");
    return status;
  }
  Object applied = nlohmann::json::parse(response.body, nullptr, false);
  if (applied.is_discarded())
    return Status::Unavailable("apply " + ref.ToString() + ": the answer is not JSON");
  return applied;
}

Result<std::optional<Object>> KubeClient::Get(const ObjectRef& ref) {
  CARRIERARR_ASSIGN_OR_RETURN(std::string path, Path(ref.api_version, ref.kind, ref.ns, ref.name));
  CARRIERARR_ASSIGN_OR_RETURN(net::HttpResponse response, Send({.path = path}));
  if (response.status == 404) return std::optional<Object>();
  if (!IsSuccess(response.status)) return Error(response, "get " + ref.ToString());
  Object object = nlohmann::json::parse(response.body, nullptr, false);
  if (object.is_discarded()) return Status::Unavailable("get " + ref.ToString() + ": not JSON");
  return std::optional<Object>(std::move(object));
}

Result<ObjectList> KubeClient::List(const std::string& api_version, const std::string& kind,
                                    const std::string& ns, const ListOptions& options) {
  CARRIERARR_ASSIGN_OR_RETURN(std::string path, Path(api_version, kind, ns, ""));
  const std::string query = Selectors(options);
  if (!query.empty()) path += "?" + query.substr(1);
  CARRIERARR_ASSIGN_OR_RETURN(net::HttpResponse response, Send({.path = path}));
  const std::string what = "list " + kind + (ns.empty() ? "" : " in namespace " + ns);
  if (!IsSuccess(response.status)) return Error(response, what);
  nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
  if (!body.is_object()) return Status::Unavailable(what + ": the answer is not JSON");
  ObjectList list;
  if (body.contains("metadata") && body["metadata"].is_object())
    list.resource_version = body["metadata"].value("resourceVersion", "");
  if (body.contains("items") && body["items"].is_array()) {
    for (nlohmann::json& item : body["items"]) {
      // Items of a list carry no apiVersion and kind on the wire; ObjectRef::Of needs them.
      if (!item.contains("apiVersion")) item["apiVersion"] = api_version;
      if (!item.contains("kind")) item["kind"] = kind;
      list.items.push_back(std::move(item));
    }
  }
  return list;
}

// Splits the stream into lines (one JSON event each, possibly cut across chunks).
Status KubeClient::Watch(const std::string& api_version, const std::string& kind,
                         const std::string& ns, const ListOptions& options,
                         const std::string& resource_version, std::chrono::seconds timeout,
                         const std::function<bool(const WatchEvent&)>& on_event) {
  CARRIERARR_ASSIGN_OR_RETURN(std::string path, Path(api_version, kind, ns, ""));
  path += "?watch=1&allowWatchBookmarks=true&resourceVersion=" + UrlEncode(resource_version) +
          "&timeoutSeconds=" + std::to_string(timeout.count()) + Selectors(options);
  const std::string what = "watch " + kind + (ns.empty() ? "" : " in namespace " + ns);
  std::string pending;
  Status failure;
  auto on_chunk = [&](std::string_view chunk) {
    pending.append(chunk);
    for (size_t end = pending.find('\n'); end != std::string::npos; end = pending.find('\n')) {
      const std::string line = pending.substr(0, end);
      pending.erase(0, end + 1);
      if (line.empty()) continue;
      nlohmann::json event = nlohmann::json::parse(line, nullptr, false);
      if (!event.is_object()) {
        failure = Status::Unavailable(what + ": an event is not JSON: " + line.substr(0, 200));
        return false;
      }
      WatchEvent parsed{.type = event.value("type", ""), .object = event.value("object", Object())};
      if (parsed.type == "ERROR") {
        const int code = parsed.object.is_object() ? parsed.object.value("code", 0) : 0;
        const std::string message =
            what + ": " + (parsed.object.is_object() ? parsed.object.value("message", "") : "");
        failure = code == 410 ? Status::Aborted(message + " (410 Gone: list again and rewatch)")
                              : Status::Unavailable(message);
        return false;
      }
      if (!on_event(parsed)) return false;
    }
    return true;
  };
  // The server ends the watch at timeoutSeconds; the client bound is a little later.
  CARRIERARR_ASSIGN_OR_RETURN(
      net::HttpResponse response,
      Send({.path = path,
            .timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout) +
                       std::chrono::seconds(5),
            .on_chunk = on_chunk}));
  if (!IsSuccess(response.status)) {
    Status status = Error(response, what);
    if (response.status == 410)
      return Status::Aborted(status.message() + " (list again and rewatch)");
    return status;
  }
  return failure;
}

Status KubeClient::Delete(const ObjectRef& ref, Propagation propagation) {
  Result<std::string> path = Path(ref.api_version, ref.kind, ref.ns, ref.name);
  if (!path.ok()) {
    // A kind that is not served has no objects left to delete.
    return path.status().code() == StatusCode::kNotFound ? Status::Ok() : path.status();
  }
  const char* policy = propagation == Propagation::kForeground ? "Foreground"
                       : propagation == Propagation::kOrphan   ? "Orphan"
                                                               : "Background";
  const nlohmann::json options = {
      {"apiVersion", "v1"}, {"kind", "DeleteOptions"}, {"propagationPolicy", policy}};
  CARRIERARR_ASSIGN_OR_RETURN(net::HttpResponse response,
                              Send({.method = "DELETE",
                                    .path = *path,
                                    .body = options.dump(),
                                    .content_type = "application/json"}));
  if (response.status == 404 || IsSuccess(response.status)) return Status::Ok();
  return Error(response, "delete " + ref.ToString());
}

Result<bool> KubeClient::Serves(const std::string& api_version, const std::string& kind) {
  CARRIERARR_ASSIGN_OR_RETURN(Resources resources, Discover(api_version));
  if (resources.count(kind) != 0) return true;
  CARRIERARR_ASSIGN_OR_RETURN(resources, Discover(api_version, true));
  return resources.count(kind) != 0;
}

Result<bool> KubeClient::CanI(const std::string& verb, const std::string& group,
                              const std::string& resource, const std::string& ns) {
  nlohmann::json attributes = {{"verb", verb}, {"group", group}, {"resource", resource}};
  if (!ns.empty()) attributes["namespace"] = ns;
  const nlohmann::json review = {{"apiVersion", "authorization.k8s.io/v1"},
                                 {"kind", "SelfSubjectAccessReview"},
                                 {"spec", {{"resourceAttributes", attributes}}}};
  CARRIERARR_ASSIGN_OR_RETURN(
      net::HttpResponse response,
      Send({.method = "POST",
            .path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            .body = review.dump(),
            .content_type = "application/json"}));
  const std::string what = "access review (may I " + verb + " " + resource + ")";
  if (!IsSuccess(response.status)) return Error(response, what);
  const nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
  if (!body.is_object() || !body.contains("status") || !body["status"].is_object())
    return Status::Unavailable(what + ": the answer has no status");
  return body["status"].value("allowed", false);
}

Result<std::string> KubeClient::PodProxyGet(const std::string& ns, const std::string& pod, int port,
                                            const std::string& path, size_t max_bytes) {
  const std::string what = "GET " + path + " of pod " + ns + "/" + pod + " port " +
                           std::to_string(port) + " (through the API server's proxy)";
  std::string body;
  bool too_big = false;
  CARRIERARR_ASSIGN_OR_RETURN(net::HttpResponse response,
                              Send({.path = "/api/v1/namespaces/" + ns + "/pods/" + pod + ":" +
                                            std::to_string(port) + "/proxy" + path,
                                    .on_chunk = [&](std::string_view chunk) {
                                      too_big = body.size() + chunk.size() > max_bytes;
                                      if (!too_big) body.append(chunk);
                                      return !too_big;
                                    }}));
  if (too_big) {
    return Status::ResourceExhausted(what + ": the answer is over " + std::to_string(max_bytes) +
                                     " bytes");
  }
  if (!IsSuccess(response.status)) return Error(response, what);
  return body;
}

}  // namespace

ObjectRef ObjectRef::Of(const Object& object) {
  ObjectRef ref;
  if (!object.is_object()) return ref;
  ref.api_version = object.value("apiVersion", "");
  ref.kind = object.value("kind", "");
  if (object.contains("metadata") && object["metadata"].is_object()) {
    ref.ns = object["metadata"].value("namespace", "");
    ref.name = object["metadata"].value("name", "");
  }
  return ref;
}

std::string ObjectRef::ToString() const { return kind + " " + (ns.empty() ? "" : ns + "/") + name; }

Result<std::unique_ptr<KubeApi>> MakeKubeClient(const ClusterAccess& access, const Seams& seams,
                                                const ClientOptions& options) {
  if (access.server.rfind("https://", 0) != 0 && access.server.rfind("http://", 0) != 0)
    return Status::InvalidArgument("kubeconfig " + access.source + ": server '" + access.server +
                                   "' is not an https:// URL");
  CARRIERARR_ASSIGN_OR_RETURN(std::unique_ptr<net::HttpTransport> transport,
                              net::MakeCurlTransport());
  ClusterAccess trimmed = access;
  while (!trimmed.server.empty() && trimmed.server.back() == '/') trimmed.server.pop_back();
  return std::unique_ptr<KubeApi>(
      std::make_unique<KubeClient>(std::move(trimmed), seams, options, std::move(transport)));
}

}  // namespace carrierarr::kube
