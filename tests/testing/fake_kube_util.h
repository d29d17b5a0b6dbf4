// Pieces of FakeKube's API that hold no state: Status bodies, selectors, field ownership
// (leaf JSON pointers), merge patches and YAML bodies.
#ifndef CARRIERARR_TESTS_TESTING_FAKE_KUBE_UTIL_H_
#define CARRIERARR_TESTS_TESTING_FAKE_KUBE_UTIL_H_

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>

#include "testing/fake_kube_api.h"

namespace carrierarr::testing::kube_fake {

// A Status object (kind Status, apiVersion v1) as the API answers failures.
Response StatusReply(int code, const std::string& reason, const std::string& message,
                     const Json& details = Json::object());
Response NotFound(const Resource& resource, const std::string& name);
Response JsonReply(const Json& body, int code = 200);

// labelSelector: k=v, k==v, k!=v, k, !k, k in (a,b), k notin (a,b), comma-separated.
bool MatchesLabels(const Json& object, const std::string& selector);
// fieldSelector: metadata.name=x, spec.nodeName!=y, ... comma-separated.
bool MatchesFields(const Json& object, const std::string& selector);

// The leaf fields of `object` as JSON pointers (arrays and empty objects are leaves), without
// what the server owns (apiVersion, kind, name, namespace, resourceVersion, uid, ...).
std::map<std::string, Json> Leaves(const Json& object);
// managedFields' FieldsV1 for a set of leaf pointers.
Json FieldsV1(const std::set<std::string>& paths);
// "/spec/replicas" -> ".spec.replicas"
std::string DottedPath(const std::string& pointer);

Json MergePatch(Json target, const Json& patch);  // RFC 7386
// A body as JSON, or as YAML (one document); nullopt when it is neither.
std::optional<Json> ParseBody(const std::string& body);

// A protobuf-encoded SelfSubjectAccessReview (kubectl auth can-i sends its typed clients' bodies
// in protobuf) as JSON: spec.resourceAttributes only; nullopt when it is not one.
std::optional<Json> AccessReviewFromProtobuf(const std::string& body);

// A protobuf-encoded Namespace, ConfigMap or Secret (what `kubectl create namespace|configmap|
// secret` sends) as JSON: metadata name, generateName, namespace, labels, annotations; data
// (Secret data base64, as in JSON), stringData, type. nullopt for other kinds.
std::optional<Json> ObjectFromProtobuf(const std::string& body);

// Unknown top-level or metadata fields of `object` for `kind`, as "spec.foo"-style names.
std::vector<std::string> UnknownFields(const Resource& resource, const Json& object);

}  // namespace carrierarr::testing::kube_fake

#endif  // CARRIERARR_TESTS_TESTING_FAKE_KUBE_UTIL_H_
