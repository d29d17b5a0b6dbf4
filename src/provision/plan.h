// Planning: the diff between what fleet.yaml asks for, what the state file records and what
// exists. `carrierarr plan` prints it; `carrierarr up` applies it.
#ifndef CARRIERARR_PROVISION_PLAN_H_
#define CARRIERARR_PROVISION_PLAN_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "provision/resource.h"
#include "provision/state_store.h"

namespace carrierarr::provision {

// A new action goes last, and in the table in plan.cc that checks it ends at the last one.
enum class Action { kNone, kCreate, kReplace, kDelete };
std::string_view ActionName(Action action);  // "unchanged", "create", "replace", "delete"
char ActionSymbol(Action action);            // ' ', '+', '~', '-'

struct Step {
  std::string id;
  std::string kind;
  Action action = Action::kNone;
  std::string reason;  // "new", "inputs changed", "missing: drifted", "interrupted", ...
  std::string summary;
  std::string hash;  // effective hash (own + dependencies') for creates
  std::vector<std::string> deps;
  // A create or replace of a power-managed resource that is to stay stopped: it is recorded
  // (powered off) but not made; the burst controller makes it when it wakes the node.
  bool power_off = false;
};

struct Plan {
  std::vector<Step> steps;  // every desired and recorded resource, in dependency order
  // What the caller could not plan yet and why, with what to do (printed with the plan).
  std::vector<std::string> notes;
  int Count(Action action) const;
  bool HasChanges() const {
    return Count(Action::kCreate) + Count(Action::kReplace) + Count(Action::kDelete) > 0;
  }
};

struct PlanOptions {
  bool observe = true;               // read reality back to find drift
  std::set<std::string> targets;     // only these ids (and what they need); empty: all
  std::set<std::string> skip_kinds;  // leave resources of these kinds as they are
  bool skip_deletes = false;         // keep recorded resources fleet.yaml no longer asks for
  // Resources that run the nodes of scaled pools beyond their min (what the burst controller
  // starts and stops): a new one is recorded powered off instead of made, and one the
  // controller powered off (attrs "powered_off") stays so while its inputs are unchanged.
  std::set<std::string> power_managed;
};

// The attribute of a recorded resource that the burst controller has stopped.
inline constexpr char kPoweredOff[] = "powered_off";
bool IsPoweredOff(const ResourceRecord& record);

// Fails on a dependency cycle or a dependency on an unknown id (a bug in a provider).
Result<Plan> MakePlan(const ResourceList& desired, const FleetState& state,
                      const PlanOptions& options);

// A plan that deletes everything recorded (optionally only `targets` and what depends on them).
Plan MakeDestroyPlan(const FleetState& state, const std::set<std::string>& targets);

}  // namespace carrierarr::provision

#endif  // CARRIERARR_PROVISION_PLAN_H_
