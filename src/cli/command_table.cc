#include "cli/command_table.h"

namespace carrierarr::cli {
namespace {

bool Listed(const Program& program, const CommandInfo& command) {
  return command.binary == program.binary || program.delegate != nullptr;
}

// The width of the name column of `help` (kubeconfig, the longest name, and two spaces).
constexpr size_t kNameColumn = 12;

void PrintHelp(const Program& program, std::ostream& out) {
  out << program.name << " " << program.version << ": " << program.tagline
      << "\n\nUsage: " << program.name << " <command> [flags]\n\nCommands:\n";
  for (const auto& c : kCommandTable) {
    if (Listed(program, c))
      out << "  " << c.name << std::string(kNameColumn - c.name.size(), ' ') << c.summary << "\n";
  }
  out << "  version     print the version\n"
         "  help        show this help\n\n"
         "Run '"
      << program.name << " <command> -h' for a command's flags.\n";
}

}  // namespace

RunCommand FindRunner(const Program& program, std::string_view name) {
  for (const auto& r : program.runners)
    if (r.name == name) return r.run;
  return nullptr;
}

int RunProgram(const Program& program, const std::vector<std::string>& args, const Seams& seams,
               std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    PrintHelp(program, err);
    return kExitUsage;
  }
  const std::string& name = args[0];
  if (name == "help" || name == "-h" || name == "--help" || name == "-help") {
    PrintHelp(program, out);
    return kExitOk;
  }
  if (name == "version" || name == "--version" || name == "-version") {
    out << program.name << " " << program.version << "\n";
    return kExitOk;
  }
  for (const auto& c : kCommandTable) {
    if (c.name != name || !Listed(program, c)) continue;
    if (c.binary != program.binary) return program.delegate(args);
    if (RunCommand run = FindRunner(program, name))
      return run(Invocation{{args.begin() + 1, args.end()}, seams, out, err});
  }
  err << "Error: unknown command \"" << name << "\"\n"
      << "Run '" << program.name << " help' for the list of commands.\n";
  return kExitUsage;
}

}  // namespace carrierarr::cli
