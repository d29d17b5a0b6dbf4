#include "providers/provider.h"

#include "providers/local/local_provider.h"

namespace carrierarr::providers {

Result<std::unique_ptr<Provider>> MakeProvider(const std::string& name) {
  if (name == "local") return local::MakeLocalProvider();
  return Status::InvalidArgument("unknown provider '" + name + "'; known: local");
}

}  // namespace carrierarr::providers
