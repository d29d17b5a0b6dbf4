// Where nodes come from. A provider turns each planned node into the resources that host it
// (a network namespace and a process locally; later an instance with userdata on AWS) and knows
// how to delete them from the state file alone. Providers are chosen by name from fleet.yaml.
#ifndef CARRIERARR_PROVIDERS_PROVIDER_H_
#define CARRIERARR_PROVIDERS_PROVIDER_H_

#include <memory>
#include <string>

#include "core/status.h"
#include "mesh/address_plan.h"
#include "provision/resource.h"
#include "spec/fleet.h"

namespace carrierarr::providers {

// Paths a provider may use, all inside the fleet's state directory.
struct FleetPaths {
  std::string state_dir;  // <fleet dir>/.carrierarr
  std::string NebulaConfig(const std::string& node) const {
    return state_dir + "/nebula/" + node + ".yml";
  }
  std::string Log(const std::string& node) const { return state_dir + "/logs/" + node + ".log"; }
  std::string HostCert(const std::string& node) const {
    return state_dir + "/pki/" + node + ".crt";
  }
  std::string HostKey(const std::string& node) const { return state_dir + "/pki/" + node + ".key"; }
  std::string CaCert() const { return state_dir + "/pki/ca.crt"; }
  std::string CaKey() const { return state_dir + "/pki/ca.key"; }
};

class Provider {
 public:
  virtual ~Provider() = default;
  virtual std::string name() const = 0;
  // What must hold on this machine before anything is made (root, programs); a clear error else.
  virtual Status CheckEnvironment() const = 0;
  // The underlay "HOST:PORT" at which the other nodes reach the lighthouse.
  virtual std::string LighthouseEndpoint(const spec::FleetSpec& fleet,
                                         const mesh::NodePlan& lighthouse) const = 0;
  // The node's underlay address as people should see it in `status`.
  virtual std::string UnderlayAddress(const spec::FleetSpec& fleet,
                                      const mesh::NodePlan& node) const = 0;
  // Appends the resources hosting `node`; `node_deps` are the ids its process needs first (its
  // certificate and config). Shared resources (a bridge) are added once, by id.
  virtual void AddNodeResources(const spec::FleetSpec& fleet, const FleetPaths& paths,
                                const mesh::NodePlan& node,
                                const std::vector<std::string>& node_deps,
                                provision::ResourceList& out) const = 0;
  virtual void RegisterKinds(provision::KindRegistry& kinds) const = 0;
};

// "local" today. Unknown names fail with the list of known ones.
Result<std::unique_ptr<Provider>> MakeProvider(const std::string& name);

}  // namespace carrierarr::providers

#endif  // CARRIERARR_PROVIDERS_PROVIDER_H_
