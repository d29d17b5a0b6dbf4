// `carrierarr wake POOL`, `carrierarr sleep POOL` and `carrierarr pools`: the burst controller
// of `serve --fleet` (burst/controller.h) through the admin API. Wake and sleep wait for the
// nodes to start or stop (-wait); what the controller decided is recorded before it acts, so an
// interrupted wait changes nothing.
#include <nlohmann/json.hpp>

#include "burst/spend.h"
#include "cli/client_command.h"
#include "cli/client_commands.h"
#include "core/duration.h"

namespace carrierarr::cli {
namespace {

constexpr char kWakeUsage[] =
    "Usage: carrierarr wake POOL [flags]\n\n"
    "Wakes a pool with `scaling`: its lowest stopped node starts, unless one runs or is\n"
    "starting. Refused, with the figures, when it would pass a budget. Waits for the node's\n"
    "agent (-wait).\n\nFlags:\n";
constexpr char kSleepUsage[] =
    "Usage: carrierarr sleep POOL [flags]\n\n"
    "Stops every node of a pool with `scaling` beyond its min (the instances are stopped, their\n"
    "volumes kept, where the pool's stop is `stop`). Waits for them (-wait).\n\nFlags:\n";
constexpr char kPoolsUsage[] =
    "Usage: carrierarr pools [flags]\n\n"
    "Lists the pools with `scaling`: what runs, what is under way, the last action, and what\n"
    "the nodes the control plane started have cost today and this month (UTC).\n\nFlags:\n";

nlohmann::json ActionJson(const carrierarr::v1::PowerAction& a) {
  return {{"id", a.id()},
          {"pool", a.pool()},
          {"node", a.node()},
          {"action", a.action()},
          {"state", a.state()},
          {"reason", a.reason()},
          {"detail", a.detail()},
          {"decided_unix_ms", a.decided_unix_ms()},
          {"done_unix_ms", a.done_unix_ms()}};
}

// A done action's phases, each from its decision (those recorded): a start's "; running 1.2s,
// agent 3.4s, model loaded 9s, first byte 9.1s", a stop's "; drained 2s" and what its drain
// could not do.
std::string PhasesOf(const carrierarr::v1::PowerAction& a) {
  const auto t = nlohmann::json::parse(a.detail(), nullptr, false);
  if (!t.is_object()) return "";
  std::string out;
  for (const auto& [key, name] : {std::pair{"running_ms", "running"},
                                  {"agent_ms", "agent"},
                                  {"model_loaded_ms", "model loaded"},
                                  {"first_byte_ms", "first byte"},
                                  {"drained_ms", "drained"}}) {
    if (!t.contains(key) || !t[key].is_number_integer()) continue;
    const int64_t ms = t[key].get<int64_t>() - a.decided_unix_ms();
    out += (out.empty() ? "; " : ", ") + std::string(name) + " " +
           FormatGoDuration(std::chrono::milliseconds(std::max<int64_t>(ms, 0)));
  }
  if (t.contains("drain_error") && t["drain_error"].is_string())
    out += " (drain: " + t["drain_error"].get<std::string>() + ")";
  return out;
}

std::string ActionLine(const carrierarr::v1::PowerAction& a) {
  std::string line = a.action() + " " + a.node() + ": " + a.state();
  if (a.state() != "decided" && a.done_unix_ms() >= a.decided_unix_ms())
    line += " in " +
            FormatGoDuration(std::chrono::milliseconds(a.done_unix_ms() - a.decided_unix_ms()));
  line += " (" + a.reason() + ")";
  if (a.state() == "failed") line += ": " + a.detail();
  if (a.state() == "done") line += PhasesOf(a);
  return line;
}

class PoolPowerCommand final : public ClientCommand {
 public:
  explicit PoolPowerCommand(bool wake) : wake_(wake) {}
  CommandSpec Spec() const override {
    return wake_ ? CommandSpec{"wake", "", kWakeUsage} : CommandSpec{"sleep", "", kSleepUsage};
  }
  bool rpc_timeout_flag() const override { return false; }
  void DeclareFlags(FlagSet& flags) override {
    flags.Duration("wait", &wait_, std::chrono::minutes(5),
                   "how long to wait for the nodes (at most 10m; 0: return once decided)");
    flags.String("reason", &reason_, "", "recorded with the decision");
  }
  Status Check(const ClientArgs& args) override {
    if (args.positional.size() != 1)
      return Status::InvalidArgument(std::string(wake_ ? "wake" : "sleep") + " needs one POOL");
    int32_t seconds = 0;
    if (!TimeoutSeconds(wait_, &seconds) || seconds > 600)
      return Status::InvalidArgument("-wait must be between 0 and 10m");
    request_.set_pool(args.positional[0]);
    request_.set_reason(reason_);
    request_.set_wait_seconds(seconds);
    return Status::Ok();
  }
  int Run(Client& client, const ClientArgs& /*args*/, const Invocation& invocation) override {
    carrierarr::v1::PoolResponse response;
    auto context = client.Context(wait_ + std::chrono::seconds(30));
    grpc::Status status = wake_ ? client.stub().WakePool(context.get(), request_, &response)
                                : client.stub().SleepPool(context.get(), request_, &response);
    if (!status.ok()) return client.Fail(status, invocation.err);
    bool failed = false;
    nlohmann::json actions = nlohmann::json::array();
    for (const auto& a : response.actions()) {
      failed = failed || a.state() == "failed";
      actions.push_back(ActionJson(a));
    }
    if (flags().json) {
      invocation.out << nlohmann::json{{"pool", request_.pool()},
                                       {"outcome", response.outcome()},
                                       {"actions", actions}}
                            .dump()
                     << "\n";
    } else {
      invocation.out << "pool " << request_.pool() << ": " << response.outcome() << "\n";
      for (const auto& a : response.actions()) invocation.out << "  " << ActionLine(a) << "\n";
    }
    return failed ? kExitFailure : kExitOk;
  }

 private:
  const bool wake_;
  std::chrono::nanoseconds wait_{};
  std::string reason_;
  carrierarr::v1::PoolRequest request_;
};

class PoolsCommand final : public ClientCommand {
 public:
  CommandSpec Spec() const override { return {"pools", "", kPoolsUsage}; }
  void DeclareFlags(FlagSet& /*flags*/) override {}
  Status Check(const ClientArgs& args) override {
    if (!args.positional.empty()) return Status::InvalidArgument("pools takes no arguments");
    return Status::Ok();
  }
  int Run(Client& client, const ClientArgs& /*args*/, const Invocation& invocation) override {
    carrierarr::v1::ListPoolsResponse response;
    int rc = client.Call(&carrierarr::v1::Fleet::Stub::ListPools,
                         carrierarr::v1::ListPoolsRequest(), &response, invocation.err);
    if (rc != kExitOk) return rc;
    nlohmann::json pools = nlohmann::json::array();
    for (const auto& p : response.pools()) {
      nlohmann::json pending = nlohmann::json::array();
      for (const auto& a : p.pending()) pending.push_back(ActionJson(a));
      pools.push_back({{"pool", p.name()},
                       {"min", p.min()},
                       {"max", p.max()},
                       {"running", p.running()},
                       {"pending", pending},
                       {"last", p.has_last() ? ActionJson(p.last()) : nlohmann::json()},
                       {"spent_today_micro_usd", p.spent_today_micro_usd()},
                       {"spent_month_micro_usd", p.spent_month_micro_usd()},
                       {"forecast_day_micro_usd", p.forecast_day_micro_usd()},
                       {"owned", p.owned()}});
      if (flags().json) continue;
      std::ostream& out = invocation.out;
      out << "pool " << p.name() << " (" << p.min() << ".." << p.max()
          << "): " << (p.running().empty() ? "asleep" : std::to_string(p.running_size()) + " woken")
          << "; spent " << burst::FormatUsd(p.spent_today_micro_usd()) << " today, "
          << burst::FormatUsd(p.spent_month_micro_usd()) << " this month (UTC); forecast "
          << burst::FormatUsd(p.forecast_day_micro_usd()) << " today"
          << (p.owned() ? "" : "; decided by another control plane") << "\n";
      for (const auto& a : p.pending()) out << "  " << ActionLine(a) << "\n";
      if (p.has_last()) out << "  last: " << ActionLine(p.last()) << "\n";
    }
    if (flags().json) invocation.out << nlohmann::json{{"pools", pools}}.dump() << "\n";
    return kExitOk;
  }
};

}  // namespace

int RunWake(const Invocation& invocation) {
  PoolPowerCommand command(true);
  return RunClientCommand(command, invocation);
}
int RunSleep(const Invocation& invocation) {
  PoolPowerCommand command(false);
  return RunClientCommand(command, invocation);
}
int RunPools(const Invocation& invocation) { return RunClientCommand<PoolsCommand>(invocation); }

}  // namespace carrierarr::cli
