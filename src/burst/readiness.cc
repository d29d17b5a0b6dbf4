#include "burst/readiness.h"

namespace carrierarr::burst {

std::vector<Rung> Ladder(const spec::PoolSpec& pool, const NodeFacts& f) {
  const bool gpu = pool.type == spec::PoolType::kGpuWorker;
  std::vector<Rung> out = {{"instance running", f.running},
                           {"mesh up", f.mesh_up},
                           {"agent registered", f.lifecycle == "connected"}};
  if (gpu) out.push_back({"GPU visible", f.gpus > 0});
  if (gpu && f.gpus_allocatable) out.push_back({"GPU allocatable", *f.gpus_allocatable > 0});
  if (!pool.models.empty()) {
    out.push_back({"Ollama up", f.ollama_up});
    for (const std::string& m : pool.models)
      out.push_back({"model " + m + " loaded", f.loaded.count(m) > 0});
  }
  // A report from the run before (or a rung seen out of order) does not count past a gap.
  bool below = true;
  for (Rung& r : out) {
    r.reached = below && r.reached;
    below = r.reached;
  }
  return out;
}

std::string LadderSummary(const std::vector<Rung>& ladder) {
  size_t reached = 0;
  while (reached < ladder.size() && ladder[reached].reached) ++reached;
  if (reached == ladder.size()) return "serving";
  if (reached == 0) return "stopped";
  return ladder[reached - 1].name + "; next: " + ladder[reached].name;
}

}  // namespace carrierarr::burst
