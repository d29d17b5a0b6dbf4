#include "providers/registry.h"

#include "providers/aws/aws_provider.h"
#include "providers/kubernetes/kubernetes_provider.h"
#include "providers/local/local_provider.h"

namespace carrierarr::providers {

// The first is the default: fleet.yaml's parser gives it to every node that names no provider.
const ProviderRegistry& ProviderRegistry::BuiltIn() {
  static const ProviderRegistry* registry = new ProviderRegistry({
      {local::kName, "every node a network namespace on this machine, running the real nebula",
       local::MakeLocalProvider, &local::LocalFleetRules()},
      {aws_provider::kName, "EC2 instances that join the mesh at first boot",
       aws_provider::MakeAwsProvider, &aws_provider::AwsFleetRules()},
      {kubernetes::kName, "a Kubernetes cluster (kubeconfig) hosting the homelab and a lighthouse",
       kubernetes::MakeKubernetesProvider, &kubernetes::KubernetesFleetRules()},
  });
  return *registry;
}

std::vector<std::string> ProviderRegistry::Names() const {
  std::vector<std::string> names;
  for (const auto& p : entries_) names.emplace_back(p.name);
  return names;
}

spec::ProviderRulesList ProviderRegistry::FleetRules() const {
  spec::ProviderRulesList rules;
  for (const auto& p : entries_) rules.push_back(p.rules);
  return rules;
}

Result<std::unique_ptr<Provider>> ProviderRegistry::Make(std::string_view name,
                                                         const Seams& seams) const {
  for (const auto& p : entries_) {
    if (p.name == name) return p.make(seams);
  }
  std::string known;
  for (const auto& p : entries_) known += (known.empty() ? "" : ", ") + std::string(p.name);
  return Status::InvalidArgument("unknown provider '" + std::string(name) + "'; known: " + known);
}

std::span<const ProviderEntry> RegisteredProviders() {
  return ProviderRegistry::BuiltIn().entries();
}
std::vector<std::string> ProviderNames() { return ProviderRegistry::BuiltIn().Names(); }
spec::ProviderRulesList FleetRules() { return ProviderRegistry::BuiltIn().FleetRules(); }
Result<std::unique_ptr<Provider>> MakeProvider(std::string_view name, const Seams& seams) {
  return ProviderRegistry::BuiltIn().Make(name, seams);
}

}  // namespace carrierarr::providers
