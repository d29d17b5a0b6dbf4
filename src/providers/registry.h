// Providers chosen by name (osquery's registry of plugins): the fleet.yaml parser, the plan,
// `down` and `doctor` look a provider up here instead of naming one. Adding a provider is one
// folder under src/providers/ and one entry in registry.cc.
#ifndef CARRIERARR_PROVIDERS_REGISTRY_H_
#define CARRIERARR_PROVIDERS_REGISTRY_H_

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/seams.h"
#include "core/status.h"
#include "providers/provider.h"

namespace carrierarr::providers {

// Makes a provider that reaches the outside world only through `seams` (copied or kept by
// reference by the provider, which must not outlive what the pointers in it point to).
using ProviderFactory = std::unique_ptr<Provider> (*)(const Seams& seams);

struct ProviderEntry {
  std::string_view name;     // as fleet.yaml writes it: `provider: <name>`
  std::string_view summary;  // one line for docs and errors
  ProviderFactory make;
};

// Every provider of this build, in a fixed order (the default, "local", first).
std::span<const ProviderEntry> RegisteredProviders();

// Their names, in the same order.
std::vector<std::string> ProviderNames();

// The provider called `name`; an unknown name fails with the list of known ones.
Result<std::unique_ptr<Provider>> MakeProvider(std::string_view name, const Seams& seams);

}  // namespace carrierarr::providers

#endif  // CARRIERARR_PROVIDERS_REGISTRY_H_
