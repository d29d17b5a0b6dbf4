// A resource is anything `up` makes and `down` removes: a CA, a certificate, a config file, a
// network namespace, a process, later cloud and Kubernetes objects. The engine plans, creates,
// reads back and deletes resources without knowing what they are.
#ifndef CARRIERARR_PROVISION_RESOURCE_H_
#define CARRIERARR_PROVISION_RESOURCE_H_

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"

namespace carrierarr::provision {

// One desired resource. Implementations must make Create() safe to run again after a crash at
// any point (finish or redo what a killed run began) and must be safe to call from a worker
// thread while other resources' methods run on other threads.
class Resource {
 public:
  virtual ~Resource() = default;

  virtual std::string id() const = 0;    // unique in a fleet: "netns/gpu-1"
  virtual std::string kind() const = 0;  // selects the deleter: "netns"
  // What it stands for, one line, for plan and progress output.
  virtual std::string summary() const = 0;
  // Ids that must be created before this one (and deleted after it).
  virtual std::vector<std::string> deps() const = 0;
  // A digest of the inputs this resource is made from; the engine folds in the digests of its
  // dependencies, so a change anywhere upstream replaces everything downstream.
  virtual std::string hash() const = 0;
  // What the deleter needs, known before Create() runs, so an interrupted create can be undone.
  virtual nlohmann::json attrs() const = 0;
  // Reads reality back: true when the resource exists and is as desired.
  virtual Result<bool> Exists() const = 0;
  // Makes it exist. Returns attrs to record (attrs() plus what creation learnt, e.g. a pid).
  virtual Result<nlohmann::json> Create() = 0;
};

// Deletes what a state record describes. Must succeed when the thing is already (partly) gone.
using Deleter = std::function<Status(const nlohmann::json& attrs)>;

// Deleters by kind: `down` works from the state file alone, even when fleet.yaml changed.
class KindRegistry {
 public:
  void Register(const std::string& kind, Deleter deleter) { deleters_[kind] = std::move(deleter); }
  const Deleter* Find(const std::string& kind) const {
    auto it = deleters_.find(kind);
    return it == deleters_.end() ? nullptr : &it->second;
  }

 private:
  std::map<std::string, Deleter> deleters_;
};

using ResourceList = std::vector<std::unique_ptr<Resource>>;

}  // namespace carrierarr::provision

#endif  // CARRIERARR_PROVISION_RESOURCE_H_
