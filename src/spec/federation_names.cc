// The names fleet.yaml (and Liqo's CRDs, for the offloading enums) give the federation's enums.
#include "core/enum_table.h"
#include "spec/fleet.h"

namespace carrierarr::spec {
namespace {

constexpr EnumName<FederationMode> kModeNames[] = {{FederationMode::kNone, "none"},
                                                   {FederationMode::kLiqo, "liqo"},
                                                   {FederationMode::kClusterMesh, "clustermesh"},
                                                   {FederationMode::kDirect, "direct"}};
static_assert(IsEnumTable(kModeNames, FederationMode::kDirect));

constexpr EnumName<NamespaceMapping> kMappingNames[] = {
    {NamespaceMapping::kDefaultName, "DefaultName"},
    {NamespaceMapping::kEnforceSameName, "EnforceSameName"},
    {NamespaceMapping::kSelectedName, "SelectedName"}};
static_assert(IsEnumTable(kMappingNames, NamespaceMapping::kSelectedName));

constexpr EnumName<PodOffloading> kPodNames[] = {{PodOffloading::kLocalAndRemote, "LocalAndRemote"},
                                                 {PodOffloading::kRemote, "Remote"},
                                                 {PodOffloading::kLocal, "Local"}};
static_assert(IsEnumTable(kPodNames, PodOffloading::kLocal));

}  // namespace

std::string_view FederationModeName(FederationMode mode) {
  return EnumNameOr(kModeNames, mode, "unknown");
}
std::string_view NamespaceMappingName(NamespaceMapping m) {
  return EnumNameOr(kMappingNames, m, "unknown");
}
std::string_view PodOffloadingName(PodOffloading p) { return EnumNameOr(kPodNames, p, "unknown"); }

std::optional<FederationMode> FederationModeNamed(std::string_view name) {
  return EnumValueNamed(kModeNames, name);
}
std::optional<NamespaceMapping> NamespaceMappingNamed(std::string_view name) {
  return EnumValueNamed(kMappingNames, name);
}
std::optional<PodOffloading> PodOffloadingNamed(std::string_view name) {
  return EnumValueNamed(kPodNames, name);
}

}  // namespace carrierarr::spec
