// Providers chosen by name (osquery's registry of plugins): the fleet.yaml parser, the plan,
// `up`, `down`, `status` and `doctor` look a provider up here instead of naming one. Adding a
// provider is one folder under src/providers/ and one entry in registry.cc (see "How to add a
// provider" in docs/architecture.md). Tests build a ProviderRegistry of their own, with fakes.
#ifndef CARRIERARR_PROVIDERS_REGISTRY_H_
#define CARRIERARR_PROVIDERS_REGISTRY_H_

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/seams.h"
#include "core/status.h"
#include "providers/provider.h"
#include "spec/fleet_parser.h"

namespace carrierarr::providers {

// Makes a provider that reaches the outside world only through `seams` (copied or kept by
// reference by the provider, which must not outlive what the pointers in it point to).
using ProviderFactory = std::function<std::unique_ptr<Provider>(const Seams& seams)>;

struct ProviderEntry {
  std::string_view name;     // as fleet.yaml writes it: `provider: <name>`
  std::string_view summary;  // one line for docs and errors
  ProviderFactory make;
  const spec::ProviderRules* rules;  // its part of fleet.yaml; never null, outlives the entry
};

// An immutable set of providers; thread-safe.
class ProviderRegistry {
 public:
  // `entries` in a fixed order; the first is the default (the parser gives it to every node
  // whose provider fleet.yaml does not name).
  explicit ProviderRegistry(std::vector<ProviderEntry> entries) : entries_(std::move(entries)) {}

  // Every provider of this build: local (the default), aws.
  static const ProviderRegistry& BuiltIn();

  std::span<const ProviderEntry> entries() const { return entries_; }
  std::vector<std::string> Names() const;
  // What the fleet.yaml parser needs of them, in the same order.
  spec::ProviderRulesList FleetRules() const;
  // The provider called `name`; an unknown name fails with the list of known ones.
  Result<std::unique_ptr<Provider>> Make(std::string_view name, const Seams& seams) const;

 private:
  std::vector<ProviderEntry> entries_;
};

// The same, of ProviderRegistry::BuiltIn().
std::span<const ProviderEntry> RegisteredProviders();
std::vector<std::string> ProviderNames();
spec::ProviderRulesList FleetRules();
Result<std::unique_ptr<Provider>> MakeProvider(std::string_view name, const Seams& seams);

}  // namespace carrierarr::providers

#endif  // CARRIERARR_PROVIDERS_REGISTRY_H_
