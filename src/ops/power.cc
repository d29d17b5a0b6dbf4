#include "ops/power.h"

#include <algorithm>
#include <charconv>

#include "provision/plan.h"

namespace carrierarr::ops {
namespace {

using provision::FleetState;
using provision::ResourceRecord;

// n of "<pool>-<n>"; 0 when the name has no such suffix.
int NodeIndex(const mesh::NodePlan& node) {
  const std::string& name = node.name;
  if (name.size() <= node.pool.size() + 1 || !name.starts_with(node.pool + "-")) return 0;
  int n = 0;
  const char* first = name.data() + node.pool.size() + 1;
  auto [end, ec] = std::from_chars(first, name.data() + name.size(), n);
  return ec == std::errc() && end == name.data() + name.size() ? n : 0;
}

// The state store, waiting (bounded) while another run holds the lock.
Result<std::unique_ptr<provision::StateStore>> OpenWaiting(const FleetContext& ctx,
                                                           std::chrono::milliseconds wait) {
  const auto deadline = ctx.seams.time->MonotonicNow() + wait;
  for (;;) {
    auto store = provision::StateStore::Open(ctx.fleet_dir);
    if (store.ok() || store.status().code() != StatusCode::kUnavailable ||
        ctx.seams.time->MonotonicNow() >= deadline)
      return store;
    ctx.seams.time->SleepFor(std::chrono::milliseconds(100));
  }
}

// What powering `node` needs: the state under the lock, the desired resources, the ids.
struct PowerTarget {
  std::unique_ptr<provision::StateStore> store;
  Desired desired;
  const mesh::NodePlan* node = nullptr;
  std::vector<std::string> ids;
  const providers::Provider* provider = nullptr;
};

Result<PowerTarget> Target(const FleetContext& ctx, const std::string& name,
                           const PowerOptions& options) {
  PowerTarget t;
  CARRIERARR_ASSIGN_OR_RETURN(t.store, OpenWaiting(ctx, options.lock_wait));
  CARRIERARR_ASSIGN_OR_RETURN(t.desired, BuildDesired(ctx, t.store->Snapshot()));
  for (const auto& n : t.desired.nodes)
    if (n.name == name) t.node = &n;
  if (t.node == nullptr)
    return Status::NotFound("fleet.yaml has no node " + name + " (nodes are <pool>-<n>)");
  if (!IsPowerManaged(ctx.spec, *t.node))
    return Status::FailedPrecondition(
        "node " + name + " is not started and stopped by carrierarr: only nodes of a pool with " +
        "`scaling` beyond its min are");
  t.provider = &t.desired.ProviderFor(*t.node);
  t.ids = t.provider->PowerResourceIds(ctx.spec, *t.node);
  const FleetState state = t.store->Snapshot();
  for (const auto& id : t.ids)
    if (state.resources.count(id) == 0)
      return Status::FailedPrecondition("node " + name + " is not made yet (no " + id +
                                        "); run carrierarr up");
  return t;
}

}  // namespace

bool IsPowerManaged(const spec::FleetSpec& fleet, const mesh::NodePlan& node) {
  if (node.role != mesh::Role::kWorker) return false;
  for (const auto& pool : fleet.pools)
    if (pool.name == node.pool) return pool.scaling.enabled && NodeIndex(node) > pool.scaling.min;
  return false;
}

Status PowerOnNode(const FleetContext& ctx, const std::string& node, const PowerOptions& options) {
  CARRIERARR_ASSIGN_OR_RETURN(PowerTarget t, Target(ctx, node, options));
  for (const auto& id : t.ids) {
    const ResourceRecord rec = t.store->Snapshot().resources.at(id);
    auto it = std::find_if(t.desired.resources.begin(), t.desired.resources.end(),
                           [&](const auto& r) { return r->id() == id; });
    if (it == t.desired.resources.end())
      return Status::Internal("the provider names " + id + " but does not make it");
    provision::Resource& r = **it;
    if (!provision::IsPoweredOff(rec)) {
      auto exists = r.Exists();
      if (exists.ok() && *exists) continue;
    }
    auto made = r.Create();
    if (!made.ok()) return made.status().WithPrefix("starting " + id);
    nlohmann::json attrs = *made;
    attrs["summary"] = rec.attrs.value("summary", r.summary());
    CARRIERARR_RETURN_IF_ERROR(t.store->Put(
        id, {rec.kind, provision::Phase::kReady, rec.hash, rec.deps, std::move(attrs)}));
  }
  return Status::Ok();
}

Status PowerOffNode(const FleetContext& ctx, const std::string& node, const PowerOptions& options) {
  CARRIERARR_ASSIGN_OR_RETURN(PowerTarget t, Target(ctx, node, options));
  for (auto id = t.ids.rbegin(); id != t.ids.rend(); ++id) {
    ResourceRecord rec = t.store->Snapshot().resources.at(*id);
    if (provision::IsPoweredOff(rec)) continue;
    auto attrs = t.provider->PowerOff(rec, t.desired.kinds);
    if (!attrs.ok()) return attrs.status().WithPrefix("stopping " + *id);
    rec.attrs = std::move(*attrs);
    rec.attrs[provision::kPoweredOff] = true;
    rec.phase = provision::Phase::kReady;
    CARRIERARR_RETURN_IF_ERROR(t.store->Put(*id, std::move(rec)));
  }
  return Status::Ok();
}

Result<std::string> NodePowerState(const FleetContext& ctx, const std::string& node) {
  CARRIERARR_ASSIGN_OR_RETURN(FleetState state, ReadState(ctx));
  CARRIERARR_ASSIGN_OR_RETURN(Desired d, BuildDesired(ctx, state));
  for (const auto& n : d.nodes) {
    if (n.name != node) continue;
    int on = 0, off = 0;
    const auto ids = d.ProviderFor(n).PowerResourceIds(ctx.spec, n);
    for (const auto& id : ids) {
      auto it = state.resources.find(id);
      if (it == state.resources.end() || provision::IsPoweredOff(it->second)) {
        ++off;
      } else if (it->second.phase == provision::Phase::kReady) {
        ++on;
      }
    }
    if (!ids.empty() && on == static_cast<int>(ids.size())) return std::string("on");
    if (off == static_cast<int>(ids.size())) return std::string("off");
    return std::string("partly");
  }
  return Status::NotFound("fleet.yaml has no node " + node);
}

}  // namespace carrierarr::ops
