// The commands `carrierarr` runs itself, one file each (the table of all commands, with their
// summaries, is command_table.h).
#ifndef CARRIERARR_CLI_COMMANDS_H_
#define CARRIERARR_CLI_COMMANDS_H_

#include "cli/command_table.h"

namespace carrierarr::cli {

int RunPki(const Invocation& invocation);
int RunInit(const Invocation& invocation);
int RunPlan(const Invocation& invocation);
int RunUp(const Invocation& invocation);
int RunDown(const Invocation& invocation);
int RunStatus(const Invocation& invocation);
int RunDoctor(const Invocation& invocation);
int RunRender(const Invocation& invocation);
int RunPower(const Invocation& invocation);

inline constexpr CommandRunner kCarrierarrRunners[] = {
    {"init", RunInit},     {"plan", RunPlan},     {"up", RunUp},
    {"down", RunDown},     {"status", RunStatus}, {"doctor", RunDoctor},
    {"render", RunRender}, {"pki", RunPki},       {"power", RunPower},
};

}  // namespace carrierarr::cli

#endif  // CARRIERARR_CLI_COMMANDS_H_
