// `carrierarr render nebula-config`: the Nebula configs `up` would write, for inspection or for
// running nebula by hand.
#include <sys/stat.h>

#include <cerrno>

#include "cli/commands.h"
#include "cli/fleet_command.h"
#include "core/file_util.h"

namespace carrierarr::cli {
namespace {

constexpr char kRenderUsage[] = "carrierarr render nebula-config [-f fleet.yaml] [--out DIR]";

class RenderNebulaConfigCommand final : public FleetCommand {
 public:
  CommandSpec Spec() const override {
    return {"render nebula-config", "Writes every node's Nebula config into a directory.",
            kRenderUsage};
  }
  Preamble preamble() const override { return {}; }
  void DeclareFlags(FlagSet& flags) override {
    flags.String("out", &out_dir_, "nebula-configs",
                 "directory to write <node>.yml into (made if missing)");
  }

  int Run(ops::FleetContext* ctx, const Invocation& invocation) override {
    if (::mkdir(out_dir_.c_str(), 0700) != 0 && errno != EEXIST) {
      invocation.err << "Error: --out " << out_dir_ << ": " << ErrnoString(errno) << "\n";
      return kExitFailure;
    }
    auto written = ops::RenderNebulaConfigs(*ctx, out_dir_);
    if (!written.ok()) return Fail(invocation.err, written.status());
    for (const auto& path : *written) invocation.out << "wrote " << path << "\n";
    return kExitOk;
  }

 private:
  std::string out_dir_;
};

}  // namespace

int RunRender(const Invocation& invocation) {
  const auto& args = invocation.args;
  if (args.empty() || args[0] != "nebula-config") {
    if (!args.empty() && (args[0] == "-h" || args[0] == "--help" || args[0] == "help")) {
      invocation.out << "Usage: " << kRenderUsage
                     << "\nWrites every node's Nebula config (<node>.yml) into DIR.\n";
      return kExitOk;
    }
    invocation.err << "Error: render needs what to render: nebula-config\nUsage: " << kRenderUsage
                   << "\n";
    return kExitUsage;
  }
  return RunFleetCommand<RenderNebulaConfigCommand>(
      Invocation{{args.begin() + 1, args.end()}, invocation.seams, invocation.out, invocation.err});
}

}  // namespace carrierarr::cli
