#include "cli/progress.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

namespace carrierarr::cli {
namespace {

std::string Seconds(std::chrono::milliseconds ms) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2fs", ms.count() / 1000.0);
  return buf;
}

std::string Pad(const std::string& s, size_t width) {
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

}  // namespace

OutputMode ChooseOutputMode(bool json, int fd) {
  if (json) return OutputMode::kJson;
  return ::isatty(fd) ? OutputMode::kLive : OutputMode::kPlain;
}

void PrintPlan(std::ostream& out, const provision::Plan& plan, OutputMode mode, bool verbose) {
  using provision::Action;
  if (mode == OutputMode::kJson) {
    nlohmann::json steps = nlohmann::json::array();
    for (const auto& s : plan.steps) {
      steps.push_back({{"id", s.id},
                       {"kind", s.kind},
                       {"action", provision::ActionName(s.action)},
                       {"reason", s.reason},
                       {"summary", s.summary}});
    }
    out << nlohmann::json{{"event", "plan"},
                          {"create", plan.Count(Action::kCreate)},
                          {"replace", plan.Count(Action::kReplace)},
                          {"delete", plan.Count(Action::kDelete)},
                          {"unchanged", plan.Count(Action::kNone)},
                          {"steps", steps},
                          {"notes", plan.notes}}
               .dump()
        << "\n";
    return;
  }
  out << "Plan: " << plan.Count(Action::kCreate) << " to create, " << plan.Count(Action::kReplace)
      << " to replace, " << plan.Count(Action::kDelete) << " to delete, "
      << plan.Count(Action::kNone) << " unchanged.\n";
  size_t width = 0;
  for (const auto& s : plan.steps) width = std::max(width, s.id.size());
  for (const auto& s : plan.steps) {
    if (s.action == Action::kNone && !verbose) continue;
    out << "  " << provision::ActionSymbol(s.action) << " " << Pad(s.id, width) << "  "
        << s.summary;
    if (!s.reason.empty() && s.reason != "new") out << "  (" << s.reason << ")";
    out << "\n";
  }
  for (const auto& note : plan.notes) out << "Note: " << note << "\n";
}

ProgressPrinter::ProgressPrinter(std::ostream& out, OutputMode mode, int total_steps)
    : out_(out), mode_(mode), total_(total_steps) {}

void ProgressPrinter::DrawStatusLine() {
  if (mode_ != OutputMode::kLive) return;
  std::string line = "[" + std::to_string(done_) + "/" + std::to_string(total_) + "] running: ";
  int shown = 0;
  for (const auto& id : running_) {
    if (shown++ == 4) {
      line += " +" + std::to_string(running_.size() - 4);
      break;
    }
    line += (shown > 1 ? ", " : "") + id;
  }
  if (running_.empty()) line += "-";
  if (line.size() > 100) line = line.substr(0, 97) + "...";
  out_ << "\r\x1b[2K" << line << std::flush;
  status_line_shown_ = true;
}

void ProgressPrinter::OnEvent(const provision::StepEvent& e) {
  using Type = provision::StepEvent::Type;
  std::lock_guard<std::mutex> lock(mu_);
  const provision::Step& s = *e.step;
  if (mode_ == OutputMode::kJson) {
    static constexpr const char* kNames[] = {"started", "succeeded", "failed", "skipped"};
    nlohmann::json j{{"event", kNames[static_cast<int>(e.type)]},
                     {"id", s.id},
                     {"action", provision::ActionName(s.action)}};
    if (e.type != Type::kStarted) j["seconds"] = e.elapsed.count() / 1000.0;
    if (!e.error.empty()) j["error"] = e.error;
    out_ << j.dump() << "\n" << std::flush;
    return;
  }
  if (e.type == Type::kStarted) {
    running_.insert(s.id);
    DrawStatusLine();
    return;
  }
  running_.erase(s.id);
  ++done_;
  if (status_line_shown_) out_ << "\r\x1b[2K";
  const char* mark = e.type == Type::kSucceeded ? "ok  "
                     : e.type == Type::kFailed  ? "FAIL"
                                                : "skip";
  out_ << mark << " " << provision::ActionName(s.action) << " " << s.id;
  if (e.type != Type::kSkipped) out_ << "  " << Seconds(e.elapsed);
  if (!e.error.empty()) out_ << "\n     " << e.error;
  out_ << "\n";
  DrawStatusLine();
  out_ << std::flush;
}

void ProgressPrinter::Finish() {
  std::lock_guard<std::mutex> lock(mu_);
  if (status_line_shown_) out_ << "\r\x1b[2K" << std::flush;
  status_line_shown_ = false;
}

}  // namespace carrierarr::cli
