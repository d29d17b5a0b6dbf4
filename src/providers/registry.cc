#include "providers/registry.h"

#include "providers/aws/aws_provider.h"
#include "providers/local/local_provider.h"

namespace carrierarr::providers {
namespace {

constexpr ProviderEntry kProviders[] = {
    {"local", "every node a network namespace on this machine, running the real nebula",
     local::MakeLocalProvider},
    {"aws", "EC2 instances that join the mesh at first boot", aws_provider::MakeAwsProvider},
};

}  // namespace

std::span<const ProviderEntry> RegisteredProviders() { return kProviders; }

std::vector<std::string> ProviderNames() {
  std::vector<std::string> names;
  for (const auto& p : kProviders) names.emplace_back(p.name);
  return names;
}

Result<std::unique_ptr<Provider>> MakeProvider(std::string_view name, const Seams& seams) {
  for (const auto& p : kProviders) {
    if (p.name == name) return p.make(seams);
  }
  std::string known;
  for (const auto& p : kProviders) known += (known.empty() ? "" : ", ") + std::string(p.name);
  return Status::InvalidArgument("unknown provider '" + std::string(name) + "'; known: " + known);
}

}  // namespace carrierarr::providers
