// The readiness ladder of a worker node: where it is between stopped and serving, rung by rung
// (instance running, mesh up, agent registered, GPU visible, GPU allocatable in Kubernetes,
// Ollama up, each of its pool's models loaded), from what `status` knows: the provider's view
// and the agent's last report. Karpenter's Ready is not the end: the device plugin may report
// no GPU for minutes, and a model may still be loading. Pure functions: thread-safe.
#ifndef CARRIERARR_BURST_READINESS_H_
#define CARRIERARR_BURST_READINESS_H_

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "spec/fleet.h"

namespace carrierarr::burst {

// What is known of one node.
struct NodeFacts {
  bool running = false;   // its provider runs it
  std::string lifecycle;  // its agent: "connected", "stale", "dead"; "" never heard from
  bool mesh_up = false;   // the agent reports Nebula running
  int gpus = 0;           // the GPUs nvidia-smi showed its agent
  // nvidia.com/gpu allocatable on its Kubernetes node, as the k3s server's agent reports it;
  // none: not in a cluster carrierarr reads (the rung is left out).
  std::optional<int> gpus_allocatable;
  bool ollama_up = false;        // Ollama runs on it, or answered its agent
  std::set<std::string> loaded;  // models in Ollama's memory
};

struct Rung {
  std::string name;  // "instance running", "model llama3:8b loaded"
  bool reached = false;
};

// The rungs that apply to a node of `pool` (GPU ones for gpu-worker pools, Ollama ones for
// pools with models), in order. A rung counts as reached only when every rung below it is.
std::vector<Rung> Ladder(const spec::PoolSpec& pool, const NodeFacts& facts);
// "serving" (every rung), "stopped" (none), or "<highest reached>; next: <first missing>".
std::string LadderSummary(const std::vector<Rung>& ladder);

}  // namespace carrierarr::burst

#endif  // CARRIERARR_BURST_READINESS_H_
