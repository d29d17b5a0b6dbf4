// The subcommands of `carrierarr`, one file each. A command gets its arguments (after its own
// name) and the streams to write to, and returns the process exit code.
#ifndef CARRIERARR_CLI_COMMANDS_H_
#define CARRIERARR_CLI_COMMANDS_H_

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace carrierarr::cli {

struct Command {
  std::string_view name;
  std::string_view summary;
  int (*run)(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
};

int RunPki(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int RunInit(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int RunPlan(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int RunUp(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int RunDown(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int RunStatus(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int RunDoctor(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int RunRender(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace carrierarr::cli

#endif  // CARRIERARR_CLI_COMMANDS_H_
