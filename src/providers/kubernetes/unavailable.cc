// The kubernetes provider in a build without the Kubernetes client (src/kube) or the manifests:
// fleet.yaml is still read and checked, but anything that would reach a cluster says why not.
#include "providers/kubernetes/kubernetes_provider.h"

namespace carrierarr::kubernetes {
namespace {

constexpr char kWhy[] =
    "this carrierarr was built without the Kubernetes client: the kubernetes provider is "
    "unavailable";

class UnavailableProvider final : public providers::Provider {
 public:
  std::string name() const override { return kName; }
  bool IsCloud() const override { return false; }
  Status CheckEnvironment() const override { return Status::FailedPrecondition(kWhy); }
  std::string LighthouseEndpoint(const spec::FleetSpec& fleet, const mesh::NodePlan& /*node*/,
                                 const provision::FleetState& /*state*/) const override {
    return fleet.kubernetes.lighthouse_endpoint;
  }
  providers::NodeFiles NebulaFiles(const providers::FleetPaths& paths,
                                   const mesh::NodePlan& node) const override {
    return {paths.CaCert(), paths.HostCert(node.name), paths.HostKey(node.name)};
  }
  std::string RunningResourceId(const mesh::NodePlan& /*node*/) const override {
    return "kube/unavailable";
  }
  void AddNodeResources(const providers::NodeRequest& /*request*/,
                        provision::ResourceList& /*out*/) const override {}
  void RegisterKinds(provision::KindRegistry& kinds) const override {
    for (const char* kind : {kObjectKind, kRolloutKind}) {
      kinds.Register(kind, [](const nlohmann::json&) { return Status::FailedPrecondition(kWhy); });
    }
  }
  std::map<std::string, providers::NodeObservation> ObserveNodes(
      const spec::FleetSpec& /*fleet*/, const provision::FleetState& /*state*/,
      const std::vector<mesh::NodePlan>& nodes, uint32_t /*lighthouse*/,
      uint32_t /*homelab*/) const override {
    std::map<std::string, providers::NodeObservation> out;
    for (const auto& n : nodes) out[n.name].problem = kWhy;
    return out;
  }
};

}  // namespace

std::string ObjectResourceId(const std::string& kind, const std::string& ns,
                             const std::string& name) {
  return "kube/" + kind + "/" + (ns.empty() ? "-" : ns) + "/" + name;
}

std::unique_ptr<providers::Provider> MakeKubernetesProvider(const Seams& /*seams*/) {
  return std::make_unique<UnavailableProvider>();
}

}  // namespace carrierarr::kubernetes
