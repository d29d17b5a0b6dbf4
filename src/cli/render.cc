// `carrierarr render nebula-config`: the Nebula configs `up` would write, for inspection or for
// running nebula by hand.
#include <sys/stat.h>

#include <cerrno>

#include "cli/commands.h"
#include "cli/fleet_common.h"
#include "core/file_util.h"

namespace carrierarr::cli {

int RunRender(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty() || args[0] != "nebula-config") {
    if (!args.empty() && (args[0] == "-h" || args[0] == "--help" || args[0] == "help")) {
      out << "Usage: carrierarr render nebula-config [-f fleet.yaml] [--out DIR]\n"
             "Writes every node's Nebula config (<node>.yml) into DIR.\n";
      return kExitOk;
    }
    err << "Error: render needs what to render: nebula-config\n"
           "Usage: carrierarr render nebula-config [-f fleet.yaml] [--out DIR]\n";
    return kExitUsage;
  }
  const CommandSpec command{"render nebula-config",
                            "Writes every node's Nebula config into a directory.",
                            "carrierarr render nebula-config [-f fleet.yaml] [--out DIR]"};
  FlagSet flags;
  std::string fleet_file, out_dir;
  flags.String("out", &out_dir, "nebula-configs",
               "directory to write <node>.yml into (made if missing)");
  if (auto code = ParseCommandFlags(command, flags, {args.begin() + 1, args.end()}, &fleet_file,
                                    out, err)) {
    return *code;
  }
  auto ctx = LoadFleetOrReport(fleet_file, err);
  if (!ctx) return kExitUsage;
  if (::mkdir(out_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    err << "Error: --out " << out_dir << ": " << ErrnoString(errno) << "\n";
    return kExitFailure;
  }
  auto written = ops::RenderNebulaConfigs(*ctx, out_dir);
  if (!written.ok()) {
    ReportError(err, written.status());
    return kExitFailure;
  }
  for (const auto& path : *written) out << "wrote " << path << "\n";
  return kExitOk;
}

}  // namespace carrierarr::cli
