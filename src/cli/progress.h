// How `plan`, `up` and `down` show what they do: a live view on a terminal (finished steps scroll
// by, one status line shows what runs now), plain lines when output is piped, or one JSON object
// per line with --json.
#ifndef CARRIERARR_CLI_PROGRESS_H_
#define CARRIERARR_CLI_PROGRESS_H_

#include <chrono>
#include <mutex>
#include <ostream>
#include <set>
#include <string>

#include "provision/engine.h"
#include "provision/plan.h"

namespace carrierarr::cli {

enum class OutputMode { kLive, kPlain, kJson };

// kJson when asked, else kLive when `fd` is a terminal, else kPlain.
OutputMode ChooseOutputMode(bool json, int fd);

// Prints a plan: a summary line, then one line per step that changes something (all steps when
// `verbose`).
void PrintPlan(std::ostream& out, const provision::Plan& plan, OutputMode mode, bool verbose);

// Receives engine events (from worker threads, serialised by the engine) and prints them.
class ProgressPrinter {
 public:
  ProgressPrinter(std::ostream& out, OutputMode mode, int total_steps);
  void OnEvent(const provision::StepEvent& event);
  // Clears the live status line; call once the run is over.
  void Finish();

 private:
  void DrawStatusLine();  // requires mu_

  std::ostream& out_;
  const OutputMode mode_;
  const int total_;
  std::mutex mu_;
  int done_ = 0;
  std::set<std::string> running_;
  bool status_line_shown_ = false;
};

}  // namespace carrierarr::cli

#endif  // CARRIERARR_CLI_PROGRESS_H_
