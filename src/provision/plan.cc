#include "provision/plan.h"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <functional>

#include "core/enum_table.h"

namespace carrierarr::provision {
namespace {

// FNV-1a: stable across builds and machines, which std::hash is not promised to be.
std::string Digest(const std::string& data) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// Kahn's algorithm over `deps`; ties broken by insertion order so plans read the same every run.
Result<std::vector<std::string>> TopoOrder(
    const std::vector<std::string>& ids,
    const std::map<std::string, std::vector<std::string>>& deps) {
  std::map<std::string, int> pending;
  std::map<std::string, std::vector<std::string>> dependents;
  for (const auto& id : ids) {
    pending[id] = 0;
  }
  for (const auto& id : ids) {
    for (const auto& d : deps.at(id)) {
      if (pending.count(d) == 0) continue;  // outside this set: already satisfied
      ++pending[id];
      dependents[d].push_back(id);
    }
  }
  std::deque<std::string> ready;
  for (const auto& id : ids) {
    if (pending[id] == 0) ready.push_back(id);
  }
  std::vector<std::string> order;
  while (!ready.empty()) {
    std::string id = ready.front();
    ready.pop_front();
    order.push_back(id);
    for (const auto& next : dependents[id]) {
      if (--pending[next] == 0) ready.push_back(next);
    }
  }
  if (order.size() != ids.size()) {
    std::string stuck;
    for (const auto& id : ids) {
      if (pending[id] > 0) stuck += (stuck.empty() ? "" : ", ") + id;
    }
    return Status::Internal("dependency cycle among: " + stuck);
  }
  return order;
}

// The desired resources by id, with their dependencies, in the order given.
struct Graph {
  std::map<std::string, const Resource*> by_id;
  std::map<std::string, std::vector<std::string>> deps;
  std::vector<std::string> ids;
};

// Fails on a duplicate id or a dependency on an unknown one.
Result<Graph> MakeGraph(const ResourceList& desired) {
  Graph g;
  for (const auto& r : desired) {
    std::string id = r->id();
    if (!g.by_id.emplace(id, r.get()).second) {
      return Status::Internal("duplicate resource id " + id);
    }
    g.deps[id] = r->deps();
    g.ids.push_back(id);
  }
  for (const auto& [id, ds] : g.deps) {
    for (const auto& d : ds) {
      if (g.by_id.count(d) == 0) return Status::Internal(id + " depends on unknown resource " + d);
    }
  }
  return g;
}

// The targets and everything they depend on; empty when there are no targets.
Result<std::set<std::string>> Wanted(const Graph& g, const FleetState& state,
                                     const std::set<std::string>& targets) {
  std::set<std::string> wanted;
  for (const auto& t : targets) {
    if (g.by_id.count(t) == 0 && state.resources.count(t) == 0) {
      return Status::InvalidArgument("--target " + t +
                                     " is not a resource of this fleet; "
                                     "see 'carrierarr plan' for the ids");
    }
  }
  std::vector<std::string> stack(targets.begin(), targets.end());
  while (!stack.empty()) {
    std::string id = stack.back();
    stack.pop_back();
    auto deps = g.deps.find(id);
    if (!wanted.insert(id).second || deps == g.deps.end()) continue;
    for (const auto& d : deps->second) stack.push_back(d);
  }
  return wanted;
}

// Deletions of what is recorded but no longer desired, dependents before what they depend on.
Status AddDeletes(const Graph& g, const FleetState& state, const PlanOptions& options,
                  const std::function<bool(const std::string&)>& in_scope, Plan& plan) {
  std::vector<std::string> gone;
  std::map<std::string, std::vector<std::string>> gone_deps;
  for (const auto& [id, record] : state.resources) {
    if (g.by_id.count(id) != 0 || !in_scope(id)) continue;
    if (options.skip_deletes || options.skip_kinds.count(record.kind) != 0) continue;
    gone.push_back(id);
    gone_deps[id] = record.deps;
  }
  auto gone_order = TopoOrder(gone, gone_deps);
  if (!gone_order.ok()) return gone_order.status();
  for (auto it = gone_order->rbegin(); it != gone_order->rend(); ++it) {
    const ResourceRecord& record = state.resources.at(*it);
    plan.steps.push_back({*it, record.kind, Action::kDelete, "no longer in fleet.yaml",
                          record.attrs.value("summary", *it), record.hash, record.deps});
  }
  return Status::Ok();
}

// A power-managed resource that is new or stopped by the burst controller stays stopped.
void DecidePoweredOff(const ResourceRecord* rec, Step& step) {
  step.power_off = true;
  if (rec == nullptr) {
    step.action = Action::kCreate;
    step.reason = "new; stopped until the burst controller wakes it";
  } else if (rec->phase != Phase::kReady || rec->hash != step.hash) {
    step.action = Action::kReplace;
    step.reason = "inputs changed; stays stopped";
  } else {
    step.reason = "stopped (scaled to zero)";
  }
}

// What a desired resource needs on its own account (its record, its inputs, reality); sets
// step.action and step.reason, leaving both empty when nothing is to be done.
void Decide(const Resource& r, const ResourceRecord* rec, bool in_scope, const PlanOptions& options,
            Step& step) {
  if (!in_scope) {
    step.reason = "not targeted";
  } else if (options.skip_kinds.count(step.kind) != 0) {
    step.reason = "skipped";
  } else if (options.power_managed.count(step.id) != 0 && (rec == nullptr || IsPoweredOff(*rec))) {
    DecidePoweredOff(rec, step);
  } else if (rec == nullptr) {
    step.action = Action::kCreate;
    step.reason = "new";
  } else if (rec->phase == Phase::kCreating) {
    step.action = Action::kCreate;
    step.reason = "interrupted while creating; finishing";
  } else if (rec->phase == Phase::kDeleting) {
    step.action = Action::kCreate;
    step.reason = "interrupted while deleting; making it again";
  } else if (rec->hash != step.hash) {
    step.action = Action::kReplace;
    step.reason = "inputs changed";
  } else if (options.observe) {
    auto exists = r.Exists();
    if (!exists.ok()) {
      step.action = Action::kCreate;
      step.reason = "cannot read it back (" + exists.status().message() + ")";
    } else if (!*exists) {
      step.action = Action::kCreate;
      step.reason = "missing or changed outside carrierarr";
    }
  }
}

struct ActionRow {
  Action value;
  std::string_view name;
  char symbol;
};
constexpr ActionRow kActions[] = {
    {Action::kNone, "unchanged", ' '},
    {Action::kCreate, "create", '+'},
    {Action::kReplace, "replace", '~'},
    {Action::kDelete, "delete", '-'},
};
static_assert(IsEnumTable(kActions, Action::kDelete));

}  // namespace

bool IsPoweredOff(const ResourceRecord& record) {
  return record.attrs.is_object() && record.attrs.value(kPoweredOff, false);
}

std::string_view ActionName(Action action) { return EnumNameOr(kActions, action, "?"); }

char ActionSymbol(Action action) {
  const ActionRow* row = EnumRow(kActions, action);
  return row != nullptr ? row->symbol : '?';
}

int Plan::Count(Action action) const {
  return static_cast<int>(
      std::count_if(steps.begin(), steps.end(), [&](const Step& s) { return s.action == action; }));
}

Result<Plan> MakePlan(const ResourceList& desired, const FleetState& state,
                      const PlanOptions& options) {
  auto graph = MakeGraph(desired);
  if (!graph.ok()) return graph.status();
  const Graph& g = *graph;
  auto order = TopoOrder(g.ids, g.deps);
  if (!order.ok()) return order.status();

  // Targets pull in what they depend on.
  auto wanted = Wanted(g, state, options.targets);
  if (!wanted.ok()) return wanted.status();
  auto in_scope = [&](const std::string& id) {
    return options.targets.empty() || wanted->count(id) != 0;
  };

  Plan plan;
  // Deletions first.
  CARRIERARR_RETURN_IF_ERROR(AddDeletes(g, state, options, in_scope, plan));

  std::map<std::string, std::string> effective;
  std::map<std::string, Action> actions;
  for (const auto& id : *order) {
    const Resource* r = g.by_id.at(id);
    const std::vector<std::string>& deps = g.deps.at(id);
    std::string material = r->hash();
    for (const auto& d : deps) material += "|" + effective[d];
    effective[id] = Digest(material);
    Step step{id, r->kind(), Action::kNone, "", r->summary(), effective[id], deps};
    auto rec = state.resources.find(id);
    Decide(*r, rec == state.resources.end() ? nullptr : &rec->second, in_scope(id), options, step);
    // What is made from a dependency that is made anew must be made anew too (a certificate
    // signed by a replaced CA, a nebula whose namespace was re-created), even with equal inputs.
    if (step.action == Action::kNone && step.reason.empty()) {
      for (const auto& d : deps) {
        if (actions[d] == Action::kNone) continue;
        step.action = Action::kReplace;
        step.reason = "re-made with " + d;
        break;
      }
    }
    actions[id] = step.action;
    plan.steps.push_back(std::move(step));
  }
  return plan;
}

Plan MakeDestroyPlan(const FleetState& state, const std::set<std::string>& targets) {
  std::set<std::string> chosen;
  if (targets.empty()) {
    for (const auto& [id, r] : state.resources) chosen.insert(id);
  } else {
    // A target takes everything that depends on it along.
    chosen = targets;
    for (bool grew = true; grew;) {
      grew = false;
      for (const auto& [id, r] : state.resources) {
        if (chosen.count(id) != 0) continue;
        for (const auto& d : r.deps) {
          if (chosen.count(d) != 0) {
            chosen.insert(id);
            grew = true;
            break;
          }
        }
      }
    }
  }
  std::vector<std::string> ids;
  std::map<std::string, std::vector<std::string>> deps;
  for (const auto& id : chosen) {
    auto it = state.resources.find(id);
    if (it == state.resources.end()) continue;
    ids.push_back(id);
    deps[id] = it->second.deps;
  }
  auto order = TopoOrder(ids, deps);
  // Records are written by us; a cycle would be a bug, so fall back to id order rather than fail.
  std::vector<std::string> sequence = order.ok() ? *order : ids;
  Plan plan;
  for (auto it = sequence.rbegin(); it != sequence.rend(); ++it) {
    const ResourceRecord& r = state.resources.at(*it);
    plan.steps.push_back(
        {*it, r.kind, Action::kDelete, "", r.attrs.value("summary", *it), r.hash, r.deps});
  }
  return plan;
}

}  // namespace carrierarr::provision
