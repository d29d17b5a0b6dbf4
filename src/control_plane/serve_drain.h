// How the burst controller drains a node in `carrierarr serve` (burst::NodeDrain): the model
// gateway sends the node nothing new and lets its answers finish; then a node that runs k3s
// (a pool on aws, with providers.aws.k3s and the lighthouse on aws) gets its agent's DRAIN
// (cordon, kubectl drain, then the agent shuts the node down), waited for. Both within the
// timeout the controller gives (its drain_wait).
//
// Thread safety: every method may be called from any thread; Drain blocks (the controller's
// worker calls it).
#ifndef CARRIERARR_CONTROL_PLANE_SERVE_DRAIN_H_
#define CARRIERARR_CONTROL_PLANE_SERVE_DRAIN_H_

#include <chrono>
#include <set>
#include <string>

#include "burst/controller.h"
#include "control_plane/control_plane.h"
#include "core/thread_annotations.h"
#include "gateway/gateway.h"
#include "spec/fleet.h"

namespace carrierarr::control_plane {

// A node's Ollama, as the gateway reaches it: its mesh address, Ollama's port (the seeds').
std::string OllamaUrl(const std::string& nebula_ip);

class ServeDrain final : public burst::NodeDrain {
 public:
  // `cp` is not owned and outlives this.
  ServeDrain(ControlPlane* cp, const spec::FleetSpec& fleet);

  // Until Detach, Drain and Undrain go through `gateway` too (not owned).
  void Attach(gateway::Gateway* gateway) EXCLUDES(mu_);
  // Forgets the gateway once no drain uses it (its Stop ends them): call before destroying it.
  void Detach() EXCLUDES(mu_);

  // DeadlineExceeded or Unavailable naming what was not drained (the stop goes on).
  Status Drain(const std::string& node, std::chrono::milliseconds timeout) override;
  void Undrain(const std::string& node) override;

 private:
  // Its Ollama's base URL, from the mesh address its agent registered; "" unknown.
  std::string UpstreamOf(const std::string& node);
  Status DrainPods(const std::string& node, std::chrono::steady_clock::time_point deadline);
  gateway::Gateway* Use() EXCLUDES(mu_);  // the gateway, held until Release; null: none
  void Release() EXCLUDES(mu_);

  ControlPlane* cp_;
  std::set<std::string> k3s_nodes_;  // immutable after construction
  Mutex mu_;
  CondVar idle_;  // users_ reached 0
  gateway::Gateway* gateway_ GUARDED_BY(mu_) = nullptr;
  int users_ GUARDED_BY(mu_) = 0;
};

}  // namespace carrierarr::control_plane

#endif  // CARRIERARR_CONTROL_PLANE_SERVE_DRAIN_H_
