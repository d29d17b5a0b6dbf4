// Every Liqo object `up` writes, checked against the fields, types and enums of Liqo's published
// CRDs. The tables below are facts read from liqotech/liqo at 557c199 (2026-07-23),
// deployments/liqo/charts/liqo-crds/crds/{authentication.liqo.io_tenants,
// authentication.liqo.io_resourceslices, offloading.liqo.io_namespaceoffloadings}.yaml, version
// v1beta1 (served and stored); only `spec` is ours to write (`status` is Liqo's). An unknown
// field is an error here although the API server would prune it: a pruned field is a setting
// that silently does nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "federation/liqo.h"
#include "federation/two_clusters.h"

namespace carrierarr {
namespace {

using testing::InstallLiqo;
using testing::ServeLiqoKinds;

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Json = nlohmann::json;

// The CRDs' patterns, as written there.
const std::regex kClusterIdPattern("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$");
const std::regex kQuantityPattern(
    R"(^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$)");

enum class Type {
  kString,
  kClusterId,     // string with kClusterIdPattern
  kQuantityMap,   // object of int-or-string quantities (additionalProperties)
  kNodeSelector,  // core/v1 NodeSelector, as the CRD inlines it
};

struct Field {
  Type type;
  std::vector<std::string> enums;  // empty = any value of the type
};

struct Crd {
  std::string api_version;
  bool namespaced;
  std::map<std::string, Field> spec;
};

const std::map<std::string, Crd>& LiqoCrds() {
  static const auto* crds = new std::map<std::string, Crd>{
      {"Tenant",
       {"authentication.liqo.io/v1beta1",
        true,
        {{"authzPolicy", {Type::kString, {"KeysExchange", "TolerateNoHandshake"}}},
         {"clusterID", {Type::kClusterId, {}}},
         {"csr", {Type::kString, {}}},
         {"proxyURL", {Type::kString, {}}},
         {"publicKey", {Type::kString, {}}},
         {"signature", {Type::kString, {}}},
         {"tenantCondition", {Type::kString, {"Active", "Cordoned", "Drained"}}}}}},
      {"ResourceSlice",
       {"authentication.liqo.io/v1beta1",
        true,
        {{"class", {Type::kString, {}}},
         {"consumerClusterID", {Type::kClusterId, {}}},
         {"csr", {Type::kString, {}}},
         {"providerClusterID", {Type::kClusterId, {}}},
         {"resources", {Type::kQuantityMap, {}}}}}},
      {"NamespaceOffloading",
       {"offloading.liqo.io/v1beta1",
        true,
        {{"clusterSelector", {Type::kNodeSelector, {}}},
         {"namespaceMappingStrategy",
          {Type::kString, {"EnforceSameName", "DefaultName", "SelectedName"}}},
         {"podOffloadingStrategy", {Type::kString, {"Local", "Remote", "LocalAndRemote"}}},
         {"remoteNamespaceName", {Type::kString, {}}}}}},
  };
  return *crds;
}

// A NodeSelectorRequirement's keys (matchExpressions and matchFields items): key and operator
// required, values an array of strings.
void CheckRequirements(const Json& list, const std::string& path, std::vector<std::string>& out) {
  if (!list.is_array()) return out.push_back(path + ": not an array");
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string at = path + "[" + std::to_string(i) + "]";
    const Json& r = list[i];
    if (!r.is_object()) {
      out.push_back(at + ": not an object");
      continue;
    }
    for (const char* key : {"key", "operator"})
      if (!r.contains(key) || !r[key].is_string())
        out.push_back(at + "." + key + ": required string");
    for (const auto& [k, v] : r.items()) {
      if (k == "values") {
        if (!v.is_array()) out.push_back(at + ".values: not an array");
        for (const Json& s : v.is_array() ? v : Json::array())
          if (!s.is_string()) out.push_back(at + ".values: not all strings");
      } else if (k != "key" && k != "operator") {
        out.push_back(at + "." + k + ": unknown field");
      }
    }
  }
}

void CheckField(const Field& f, const Json& v, const std::string& path,
                std::vector<std::string>& out) {
  switch (f.type) {
    case Type::kString:
    case Type::kClusterId:
      if (!v.is_string()) return out.push_back(path + ": not a string");
      if (f.type == Type::kClusterId && !std::regex_match(v.get<std::string>(), kClusterIdPattern))
        out.push_back(path + ": '" + v.get<std::string>() +
                      "' does not match the cluster id pattern");
      if (!f.enums.empty() &&
          std::find(f.enums.begin(), f.enums.end(), v.get<std::string>()) == f.enums.end())
        out.push_back(path + ": '" + v.get<std::string>() + "' is not one of the enum");
      return;
    case Type::kQuantityMap:
      if (!v.is_object()) return out.push_back(path + ": not an object");
      for (const auto& [name, q] : v.items()) {
        const bool ok = q.is_number_integer() ||
                        (q.is_string() && std::regex_match(q.get<std::string>(), kQuantityPattern));
        if (!ok) out.push_back(path + "." + name + ": not a quantity: " + q.dump());
      }
      return;
    case Type::kNodeSelector:
      if (!v.is_object()) return out.push_back(path + ": not an object");
      if (!v.contains("nodeSelectorTerms")) out.push_back(path + ".nodeSelectorTerms: required");
      for (const auto& [k, terms] : v.items()) {
        if (k != "nodeSelectorTerms") {
          out.push_back(path + "." + k + ": unknown field");
          continue;
        }
        if (!terms.is_array()) {
          out.push_back(path + ".nodeSelectorTerms: not an array");
          continue;
        }
        for (size_t i = 0; i < terms.size(); ++i) {
          const std::string at = path + ".nodeSelectorTerms[" + std::to_string(i) + "]";
          if (!terms[i].is_object()) {
            out.push_back(at + ": not an object");
            continue;
          }
          for (const auto& [tk, tv] : terms[i].items()) {
            if (tk == "matchExpressions" || tk == "matchFields")
              CheckRequirements(tv, at + "." + tk, out);
            else
              out.push_back(at + "." + tk + ": unknown field");
          }
        }
      }
      return;
  }
}

// What does not hold of `o` against its CRD, each with its path; empty when it conforms.
std::vector<std::string> CrdViolations(const Json& o) {
  std::vector<std::string> out;
  const std::string kind = o.value("kind", "");
  auto crd = LiqoCrds().find(kind);
  if (crd == LiqoCrds().end()) return {"kind '" + kind + "' is not one of Liqo's CRDs here"};
  if (o.value("apiVersion", "") != crd->second.api_version)
    out.push_back("apiVersion: '" + o.value("apiVersion", "") + "', the CRD serves " +
                  crd->second.api_version);
  const Json meta = o.value("metadata", Json::object());
  if (meta.value("name", "").empty()) out.push_back("metadata.name: required");
  if (crd->second.namespaced && meta.value("namespace", "").empty())
    out.push_back("metadata.namespace: required (the CRD is Namespaced)");
  for (const auto& [k, v] : o.items()) {
    if (k != "apiVersion" && k != "kind" && k != "metadata" && k != "spec")
      out.push_back(k + ": not ours to write");
  }
  if (!o.contains("spec") || !o["spec"].is_object()) {
    out.push_back("spec: missing");
    return out;
  }
  for (const auto& [k, v] : o["spec"].items()) {
    auto f = crd->second.spec.find(k);
    if (f == crd->second.spec.end()) {
      out.push_back("spec." + k + ": unknown field");
      continue;
    }
    CheckField(f->second, v, "spec." + k, out);
  }
  return out;
}

bool IsLiqoApi(const std::string& api_version) {
  return api_version.find(".liqo.io/") != std::string::npos;
}

// The checker itself: each kind of fault is caught, with its path.
TEST(LiqoCrdCheck, ReportsEachKindOfFault) {
  const Json offloading = {
      {"apiVersion", "offloading.liqo.io/v1beta1"},
      {"kind", "NamespaceOffloading"},
      {"metadata", {{"name", "offloading"}, {"namespace", "ai"}}},
      {"spec",
       {{"podOffloadingStrategy", "Remote"},
        {"clusterSelector",
         {{"nodeSelectorTerms",
           Json::array(
               {{{"matchExpressions",
                  Json::array({{{"key", "k"}, {"operator", "In"}, {"values", {"v"}}}})}}})}}}}}};
  EXPECT_THAT(CrdViolations(offloading), IsEmpty());
  auto with = [&](const char* pointer, const Json& v) {
    Json o = offloading;
    o[Json::json_pointer(pointer)] = v;
    return CrdViolations(o);
  };
  EXPECT_THAT(with("/spec/podOffloadingStrategy", "remote"),
              ElementsAre(HasSubstr("spec.podOffloadingStrategy: 'remote' is not one of")));
  EXPECT_THAT(with("/spec/namespaceMapping", "DefaultName"),
              ElementsAre("spec.namespaceMapping: unknown field"));
  EXPECT_THAT(with("/spec/clusterSelector", Json::object()),
              ElementsAre("spec.clusterSelector.nodeSelectorTerms: required"));
  EXPECT_THAT(with("/spec/clusterSelector/nodeSelectorTerms/0/matchExpressions/0/operator", 1),
              ElementsAre(HasSubstr("matchExpressions[0].operator: required string")));
  EXPECT_THAT(with("/apiVersion", "offloading.liqo.io/v1alpha1"),
              ElementsAre(HasSubstr("the CRD serves offloading.liqo.io/v1beta1")));
  EXPECT_THAT(with("/metadata/namespace", ""), ElementsAre(HasSubstr("Namespaced")));
  EXPECT_THAT(with("/status", Json::object()), ElementsAre("status: not ours to write"));

  const Json slice = {{"apiVersion", "authentication.liqo.io/v1beta1"},
                      {"kind", "ResourceSlice"},
                      {"metadata", {{"name", "aws-k3s"}, {"namespace", "liqo-tenant-aws-k3s"}}},
                      {"spec",
                       {{"providerClusterID", "aws-k3s"},
                        {"resources", {{"cpu", "8"}, {"memory", "32Gi"}, {"pods", 110}}}}}};
  EXPECT_THAT(CrdViolations(slice), IsEmpty());
  Json bad = slice;
  bad["spec"]["resources"]["memory"] = "32GB";
  bad["spec"]["providerClusterID"] = "AWS_k3s";
  EXPECT_THAT(CrdViolations(bad),
              ElementsAre(HasSubstr("providerClusterID: 'AWS_k3s' does not match"),
                          HasSubstr("resources.memory: not a quantity")));
}

class LiqoCrdTest : public testing::TwoClusters {
 protected:
  void SetUp() override {
    for (const char* ns : {"liqo", "ai", "batch", "web"}) home_.AddNamespace(ns);
    cloud_.AddNamespace("liqo-system");
    ServeLiqoKinds(home_);
    ServeLiqoKinds(cloud_);
    InstallLiqo(*home_api_, "liqo", "talos-home", "v1.0.1");
    InstallLiqo(*cloud_api_, "liqo-system", "aws-k3s", "v1.0.1");
  }
};

// Every Liqo object of a peering, with each mapping and pod strategy and extra resources.
TEST(LiqoCrdConformance, EveryRenderedLiqoObjectMatchesItsCrd) {
  federation::LiqoPeering peering{
      .fleet = "lab",
      .consumer = {.ns = "liqo", .cluster_id = "talos-home", .version = "v1.0.1"},
      .provider = {.ns = "liqo-system", .cluster_id = "aws-k3s", .version = "v1.0.1"},
      .offload = {{.name = "ai", .pods = spec::PodOffloading::kRemote},
                  {.name = "batch",
                   .mapping = spec::NamespaceMapping::kSelectedName,
                   .remote_name = "batch-remote",
                   .pods = spec::PodOffloading::kLocal},
                  {.name = "web", .mapping = spec::NamespaceMapping::kEnforceSameName}},
      .resources = {{"cpu", "16"},
                    {"memory", "61Gi"},
                    {"nvidia.com/gpu", "1"},
                    {"ephemeral-storage", "100G"}}};
  const federation::LiqoObjects objects = federation::RenderLiqoPeering(peering);
  std::set<std::string> kinds;
  for (const auto* side : {&objects.provider, &objects.consumer}) {
    for (const Json& o : *side) {
      if (!IsLiqoApi(o.value("apiVersion", ""))) continue;
      kinds.insert(o["kind"]);
      SCOPED_TRACE(o.dump());
      EXPECT_THAT(CrdViolations(o), IsEmpty());
    }
  }
  EXPECT_EQ(kinds, (std::set<std::string>{"Tenant", "ResourceSlice", "NamespaceOffloading"}));
}

// And what `up` leaves in the clusters (the API server's view, after apply) conforms too.
TEST_F(LiqoCrdTest, WhatUpAppliesMatchesTheCrds) {
  home_.AddNode("liqo-aws-k3s",
                {{"liqo.io/type", "virtual-node"}, {"liqo.io/remote-cluster-id", "aws-k3s"}},
                "10.96.0.9");
  WriteFleet(
      "federation:\n  mode: liqo\n  cloud_kubeconfig: cloud.kubeconfig\n  liqo:\n    offload:\n"
      "      - {namespace: ai, pod_offloading_strategy: Remote}\n"
      "      - {namespace: batch, namespace_mapping_strategy: SelectedName,\n"
      "         remote_namespace_name: batch-remote, pod_offloading_strategy: Local}\n"
      "      - {namespace: web, namespace_mapping_strategy: EnforceSameName}\n"
      "    resources: {nvidia.com/gpu: 1, memory: 61Gi}\n");
  UpOk();
  int checked = 0;
  for (const auto& [id, attrs] : FederationRecords()) {
    if (!IsLiqoApi(attrs.value("apiVersion", ""))) continue;
    const bool cloud = id.rfind("federation/cloud/", 0) == 0;
    Json live = (cloud ? cloud_ : home_)
                    .Object(attrs["apiVersion"], attrs["kind"], attrs["namespace"], attrs["name"]);
    ASSERT_FALSE(live.is_null()) << id;
    // The server's own metadata and the status Liqo would write are not ours.
    live.erase("status");
    SCOPED_TRACE(id);
    EXPECT_THAT(CrdViolations(live), IsEmpty());
    ++checked;
  }
  EXPECT_EQ(checked, 5) << "a Tenant, a ResourceSlice and three NamespaceOffloadings";
}

}  // namespace
}  // namespace carrierarr
