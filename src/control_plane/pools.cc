// The admin calls of the burst controller (serve --fleet): wake, sleep and list the scaled
// pools, as protobuf for both APIs.
#include <algorithm>

#include "burst/controller.h"
#include "control_plane/control_plane.h"

namespace carrierarr::control_plane {
namespace {

constexpr int kMaxPoolWaitSeconds = 600;

void ToProto(const PowerActionRecord& a, carrierarr::v1::PowerAction* out) {
  out->set_id(a.id);
  out->set_pool(a.pool);
  out->set_node(a.node_id);
  out->set_action(a.action);
  out->set_state(a.state);
  out->set_reason(a.reason);
  out->set_decided_unix_ms(a.decided_ms);
  out->set_done_unix_ms(a.done_ms);
  out->set_detail(a.detail);
}

Status NoBurst() {
  return Status::FailedPrecondition(
      "this control plane runs without --fleet: nothing wakes or stops pools; serve --fleet "
      "fleet.yaml (carrierarr up does for a local fleet with scaling)");
}

// The decisions, each as it is after waiting (bounded) for it to finish.
Result<carrierarr::v1::PoolResponse> Answer(burst::Controller& burst,
                                            const std::vector<burst::PoolDecision>& decisions,
                                            const carrierarr::v1::PoolRequest& request) {
  carrierarr::v1::PoolResponse response;
  response.set_outcome(decisions.empty() ? "asleep" : decisions.front().outcome);
  const auto wait =
      std::chrono::seconds(std::clamp(request.wait_seconds(), 0, kMaxPoolWaitSeconds));
  for (const auto& d : decisions) {
    if (d.action_id == 0) continue;
    CARRIERARR_ASSIGN_OR_RETURN(PowerActionRecord a, burst.WaitAction(d.action_id, wait));
    ToProto(a, response.add_actions());
  }
  return response;
}

}  // namespace

Result<carrierarr::v1::PoolResponse> ControlPlane::WakePool(
    const carrierarr::v1::PoolRequest& request) {
  if (burst_ == nullptr) return NoBurst();
  CARRIERARR_ASSIGN_OR_RETURN(
      burst::PoolDecision d,
      burst_->Wake(request.pool(),
                   request.reason().empty() ? "carrierarr wake" : request.reason()));
  return Answer(*burst_, {d}, request);
}

Result<carrierarr::v1::PoolResponse> ControlPlane::SleepPool(
    const carrierarr::v1::PoolRequest& request) {
  if (burst_ == nullptr) return NoBurst();
  CARRIERARR_ASSIGN_OR_RETURN(
      auto decisions, burst_->Sleep(request.pool(), request.reason().empty() ? "carrierarr sleep"
                                                                             : request.reason()));
  return Answer(*burst_, decisions, request);
}

Result<carrierarr::v1::ListPoolsResponse> ControlPlane::ListPools() {
  if (burst_ == nullptr) return NoBurst();
  CARRIERARR_ASSIGN_OR_RETURN(auto pools, burst_->Pools());
  carrierarr::v1::ListPoolsResponse response;
  for (const auto& v : pools) {
    carrierarr::v1::Pool* p = response.add_pools();
    p->set_name(v.pool);
    p->set_min(v.min);
    p->set_max(v.max);
    for (const auto& n : v.running) p->add_running(n);
    for (const auto& a : v.pending) ToProto(a, p->add_pending());
    if (v.last) ToProto(*v.last, p->mutable_last());
    p->set_spent_today_micro_usd(v.spend.today);
    p->set_spent_month_micro_usd(v.spend.month);
    p->set_rate_micro_usd_per_hour(v.spend.rate);
    p->set_forecast_day_micro_usd(v.spend.forecast_day);
    p->set_forecast_month_micro_usd(v.spend.forecast_month);
    p->set_owned(v.owned);
  }
  return response;
}

}  // namespace carrierarr::control_plane
