#include "providers/provider.h"

#include "providers/aws/aws_provider.h"
#include "providers/local/local_provider.h"

namespace carrierarr::providers {

Result<std::unique_ptr<Provider>> MakeProvider(const std::string& name) {
  if (name == "local") return local::MakeLocalProvider();
  if (name == "aws") return aws_provider::MakeAwsProvider();
  return Status::InvalidArgument("unknown provider '" + name + "'; known: local, aws");
}

}  // namespace carrierarr::providers
