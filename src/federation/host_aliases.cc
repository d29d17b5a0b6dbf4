#include "federation/host_aliases.h"

#include <algorithm>

namespace carrierarr::federation {
namespace {

using Json = nlohmann::json;

const Json::json_pointer kAliases("/spec/template/spec/hostAliases");

// The workload alone, named: what `down` applies to give the aliases up.
Json Bare(const Json& patch) {
  return {{"apiVersion", patch["apiVersion"]},
          {"kind", patch["kind"]},
          {"metadata",
           {{"name", patch["metadata"]["name"]}, {"namespace", patch["metadata"]["namespace"]}}}};
}

class HostAliases final : public provision::Resource {
 public:
  HostAliases(std::shared_ptr<kubernetes::KubeSession> session, const std::string& side,
              kube::Object patch, std::vector<std::string> deps)
      : session_(std::move(session)),
        side_(side),
        patch_(std::move(patch)),
        ref_(kube::ObjectRef::Of(patch_)),
        deps_(std::move(deps)) {}

  std::string id() const override {
    return "federation/" + side_ + "/host-aliases/" + ref_.kind + "/" + ref_.ns + "/" + ref_.name;
  }
  std::string kind() const override { return kHostAliasesKind; }
  std::string summary() const override {
    std::string names;
    for (const auto& a : patch_.at(kAliases))
      for (const auto& h : a["hostnames"])
        names += (names.empty() ? "" : ", ") + h.get<std::string>();
    return "host aliases " + names + " on the " + side_ + " " + ref_.ToString();
  }
  std::vector<std::string> deps() const override { return deps_; }
  std::string hash() const override { return patch_.at(kAliases).dump(); }
  Json attrs() const override {
    Json a = session_->target().ToJson();
    a.update(Bare(patch_));
    return a;
  }
  Result<bool> Exists() const override {
    auto api = session_->Api();
    if (!api.ok()) return api.status();
    auto live = (*api)->Get(ref_);
    if (!live.ok()) return live.status().WithPrefix("reading " + ref_.ToString());
    if (!live->has_value()) return false;  // Create() says what is missing
    for (const auto& want : patch_.at(kAliases)) {
      for (const auto& host : want["hostnames"]) {
        if (HostAliasIp(**live, host.get<std::string>()) != want["ip"].get<std::string>())
          return false;
      }
    }
    return true;
  }
  Result<Json> Create() override {
    auto api = session_->Api();
    if (!api.ok()) return api.status();
    auto live = (*api)->Get(ref_);
    if (!live.ok()) return live.status().WithPrefix("reading " + ref_.ToString());
    if (!live->has_value()) {
      return Status::FailedPrecondition(
          "ClusterMesh needs Cilium's " + ref_.ToString() + " in the " + side_ + " cluster (" +
          (*api)->Describe() +
          "), and it is not there; enable ClusterMesh with its apiserver on a NodePort ('cilium "
          "clustermesh enable --service-type NodePort', or the Helm values "
          "clustermesh.useAPIServer=true and clustermesh.apiserver.service.type=NodePort), then "
          "run 'carrierarr up' again");
    }
    auto applied = (*api)->Apply(patch_);
    if (!applied.ok()) return applied.status().WithPrefix("adding " + summary());
    return attrs();
  }

 private:
  std::shared_ptr<kubernetes::KubeSession> session_;
  std::string side_;
  kube::Object patch_;
  kube::ObjectRef ref_;
  std::vector<std::string> deps_;
};

}  // namespace

std::unique_ptr<provision::Resource> MakeHostAliases(
    std::shared_ptr<kubernetes::KubeSession> session, const std::string& side, kube::Object patch,
    std::vector<std::string> deps) {
  return std::make_unique<HostAliases>(std::move(session), side, std::move(patch), std::move(deps));
}

std::string HostAliasIp(const kube::Object& workload, const std::string& hostname) {
  const Json aliases = workload.value(kAliases, Json::array());
  for (const auto& a : aliases.is_array() ? aliases : Json::array()) {
    const Json names = a.value("hostnames", Json::array());
    if (names.is_array() && std::find(names.begin(), names.end(), hostname) != names.end())
      return a.value("ip", "");
  }
  return "";
}

provision::Deleter HostAliasesRelease(const Seams& seams) {
  return [seams](const Json& attrs) -> Status {
    kubernetes::KubeSession session(kubernetes::ClusterTarget::FromJson(attrs), seams);
    auto api = session.Api();
    if (!api.ok()) return api.status();
    const Json bare = Bare(attrs);
    const kube::ObjectRef ref = kube::ObjectRef::Of(bare);
    // Applied to a workload that is gone, the bare object would make an empty one.
    auto live = (*api)->Get(ref);
    if (!live.ok()) return live.status().WithPrefix("reading " + ref.ToString());
    if (!live->has_value()) return Status::Ok();
    auto applied = (*api)->Apply(bare);
    return applied.ok()
               ? Status::Ok()
               : applied.status().WithPrefix("removing the host aliases from " + ref.ToString());
  };
}

}  // namespace carrierarr::federation
