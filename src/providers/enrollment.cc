#include "providers/enrollment.h"

#include <unistd.h>

#include "core/file_util.h"
#include "core/ipv4.h"
#include "core/strings.h"
#include "core/subprocess.h"

namespace carrierarr::providers {
namespace {

class ControlPlaneMinter final : public EnrollmentMinter {
 public:
  ControlPlaneMinter(FleetPaths paths, ProcessRunner& runner)
      : paths_(std::move(paths)), runner_(runner) {}

  Result<std::string> Mint(const std::string& node, const std::string& ttl) const override {
    // Written by carrierarr-fleet (0600) under the control directory, read back and removed.
    const std::string out = paths_.ControlDir() + "/.token-" + node;
    auto run =
        runner_.Run(TokenCreateArgv(paths_, node, ttl, out), {.timeout = std::chrono::seconds(15)});
    if (!run.ok()) return run.status();
    if (run->exit_code != 0)
      return Status::Unavailable("creating " + node + "'s enrollment token failed: " + run->err);
    auto token = ReadFile(out);
    unlink(out.c_str());
    if (!token.ok()) return token.status();
    return std::string(TrimSpace(*token));
  }

 private:
  FleetPaths paths_;
  ProcessRunner& runner_;
};

}  // namespace

std::string AgentType(const mesh::NodePlan& node) {
  if (node.role == mesh::Role::kLighthouse) return "lighthouse";
  if (node.role == mesh::Role::kWorker && node.pool_type == spec::PoolType::kGpuWorker)
    return "gpu-worker";
  return "cpu-worker";
}

std::string ControlPlaneAddress(const spec::FleetSpec& fleet) {
  return FormatIpv4(fleet.homelab.mesh_ip) + ":" + std::to_string(fleet.control_plane.grpc_port);
}

std::vector<std::string> TokenCreateArgv(const FleetPaths& paths, const std::string& node,
                                         const std::string& ttl, const std::string& out) {
  const std::string dir = paths.ControlDir();
  return {FindOwnProgram("carrierarr-fleet").value_or("carrierarr-fleet"),
          "tokens",
          "create",
          "--server",
          "unix:" + dir + "/serve.sock",
          "--admin-token-file",
          dir + "/admin.token",
          "--name",
          node,
          "--uses",
          "1",
          "--ttl",
          ttl,
          "--out",
          out,
          "--force"};
}

std::shared_ptr<const EnrollmentMinter> MakeControlPlaneMinter(const FleetPaths& paths,
                                                               ProcessRunner& runner) {
  return std::make_shared<ControlPlaneMinter>(paths, runner);
}

}  // namespace carrierarr::providers
