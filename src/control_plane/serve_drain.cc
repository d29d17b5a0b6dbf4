#include "control_plane/serve_drain.h"

#include <vector>

#include "core/duration.h"
#include "mesh/address_plan.h"

namespace carrierarr::control_plane {

std::string OllamaUrl(const std::string& nebula_ip) { return "http://" + nebula_ip + ":11434"; }

ServeDrain::ServeDrain(ControlPlane* cp, const spec::FleetSpec& fleet) : cp_(cp) {
  const bool k3s = fleet.aws.k3s && fleet.lighthouse.provider == "aws";
  for (const spec::PoolSpec& pool : fleet.pools)
    if (k3s && pool.provider == "aws")
      for (int n = 1; n <= pool.count; ++n) k3s_nodes_.insert(mesh::WorkerName(pool.name, n));
}

void ServeDrain::Attach(gateway::Gateway* gateway) {
  MutexLock lock(mu_);
  gateway_ = gateway;
}

void ServeDrain::Detach() {
  MutexLock lock(mu_);
  gateway_ = nullptr;
  while (users_ > 0) idle_.WaitFor(mu_, std::chrono::seconds(1));
}

Status ServeDrain::Drain(const std::string& node, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<std::string> problems;
  const std::string up = UpstreamOf(node);
  if (gateway::Gateway* gw = Use(); gw != nullptr) {
    if (!up.empty() && !gw->Drain(up, timeout))
      problems.push_back("its model requests were still running after " +
                         FormatGoDuration(timeout));
    Release();
  }
  if (k3s_nodes_.count(node)) {
    Status pods = DrainPods(node, deadline);
    if (!pods.ok()) problems.push_back(pods.message());
  }
  if (problems.empty()) return Status::Ok();
  std::string all;
  for (const auto& p : problems) all += (all.empty() ? "" : "; ") + p;
  return Status::DeadlineExceeded(all);
}

void ServeDrain::Undrain(const std::string& node) {
  const std::string up = UpstreamOf(node);
  if (gateway::Gateway* gw = Use(); gw != nullptr) {
    if (!up.empty()) gw->Undrain(up);
    Release();
  }
}

std::string ServeDrain::UpstreamOf(const std::string& node) {
  // The registry keeps a node's registration while it is stopped (Undrain comes then).
  auto n = cp_->GetNode(node);
  return n.ok() && !n->nebula_ip().empty() ? OllamaUrl(n->nebula_ip()) : "";
}

Status ServeDrain::DrainPods(const std::string& node,
                             std::chrono::steady_clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::seconds>(deadline - std::chrono::steady_clock::now());
  if (left < std::chrono::seconds(10))
    return Status::DeadlineExceeded("no time was left to drain its pods");
  carrierarr::v1::SendCommandRequest request;
  request.set_node_id(node);
  request.set_type(ec2agent::v1::COMMAND_TYPE_DRAIN);
  (*request.mutable_args())["node"] = node;
  // kubectl drain's own bound, inside the command's: room for cordon and the answer.
  (*request.mutable_args())["timeout"] = std::to_string(left.count() - 5) + "s";
  request.set_timeout_seconds(static_cast<int32_t>(left.count()));
  auto sent = cp_->SendCommand(request);
  if (!sent.ok()) return sent.status().WithPrefix("DRAIN");
  auto done = cp_->WaitCommand(sent->command_id(), left);
  if (!done.ok()) return done.status().WithPrefix("DRAIN");
  if (done->state() == "queued" || done->state() == "sent") {
    (void)cp_->CancelCommand(sent->command_id());  // the stop goes on without it
    return Status::DeadlineExceeded("its agent did not finish DRAIN within " +
                                    FormatGoDuration(left));
  }
  if (done->state() != "succeeded")
    return Status::Unavailable(
        "DRAIN " + done->state() +
        (done->result().error().empty() ? "" : ": " + done->result().error()));
  return Status::Ok();
}

gateway::Gateway* ServeDrain::Use() {
  MutexLock lock(mu_);
  if (gateway_ != nullptr) ++users_;
  return gateway_;
}

void ServeDrain::Release() {
  MutexLock lock(mu_);
  if (--users_ == 0) idle_.NotifyAll();
}

}  // namespace carrierarr::control_plane
