// Applies a plan: deletions first (dependents before their dependencies), then creations in
// dependency order, independent steps in parallel. Every step is recorded in the state store
// before it acts (intent) and after it succeeds (ready), so a run killed at any instant is
// finished by the next `up` and cleaned by `down`.
#ifndef CARRIERARR_PROVISION_ENGINE_H_
#define CARRIERARR_PROVISION_ENGINE_H_

#include <chrono>
#include <functional>
#include <string>

#include "core/time_source.h"
#include "provision/plan.h"
#include "provision/resource.h"
#include "provision/state_store.h"

namespace carrierarr::provision {

struct StepEvent {
  enum class Type { kStarted, kSucceeded, kFailed, kSkipped };
  Type type;
  const Step* step;
  std::chrono::milliseconds elapsed{0};
  std::string error;  // kFailed: what went wrong; kSkipped: which dependency failed
};

struct ApplyOptions {
  int parallelism = 8;
  // Called from worker threads, one call at a time (the engine serialises them).
  std::function<void(const StepEvent&)> on_event;
  // Measures each step's elapsed time (not owned).
  TimeSource* time = RealTimeSource::Get();
};

struct ApplyResult {
  int succeeded = 0;
  int failed = 0;
  int skipped = 0;
  Status status;  // the first failure, with the step id in front
};

// `desired` must be the list the plan was made from (creates look resources up by id).
ApplyResult Apply(const Plan& plan, const ResourceList& desired, StateStore& store,
                  const KindRegistry& kinds, const ApplyOptions& options);

}  // namespace carrierarr::provision

#endif  // CARRIERARR_PROVISION_ENGINE_H_
