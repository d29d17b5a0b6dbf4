#include "testing/fake_process_runner.h"

#include <algorithm>

namespace carrierarr::testing {
namespace {

bool StartsWith(const std::vector<std::string>& argv, const std::vector<std::string>& prefix) {
  return prefix.size() <= argv.size() && std::equal(prefix.begin(), prefix.end(), argv.begin());
}

}  // namespace

RunResult FakeProcessRunner::Exit(int code, std::string out, std::string err) {
  RunResult r;
  r.exit_code = code;
  r.out = std::move(out);
  r.err = std::move(err);
  return r;
}

void FakeProcessRunner::OnRun(Argv prefix, Handler handler) {
  std::lock_guard<std::mutex> lock(mu_);
  handlers_[std::move(prefix)] = std::move(handler);
}

void FakeProcessRunner::OnRun(Argv prefix, RunResult result) {
  OnRun(std::move(prefix), [result](const Argv&) -> Result<RunResult> { return result; });
}

void FakeProcessRunner::FailNextStart(Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_next_start_ = std::move(status);
}

pid_t FakeProcessRunner::AddProcess(Argv argv) {
  std::lock_guard<std::mutex> lock(mu_);
  pid_t pid = next_pid_++;
  table_[pid] = {argv, argv};
  return pid;
}

void FakeProcessRunner::Kill(pid_t pid) {
  std::lock_guard<std::mutex> lock(mu_);
  table_.erase(pid);
}

bool FakeProcessRunner::Alive(pid_t pid) const {
  std::lock_guard<std::mutex> lock(mu_);
  return table_.count(pid) != 0;
}

std::vector<pid_t> FakeProcessRunner::LivePidsStartedWith(const Argv& prefix) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<pid_t> out;
  for (const auto& [pid, p] : table_) {
    if (StartsWith(p.started, prefix)) out.push_back(pid);
  }
  return out;
}

std::vector<FakeProcessRunner::Argv> FakeProcessRunner::runs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return runs_;
}

std::vector<RunOptions> FakeProcessRunner::run_options() const {
  std::lock_guard<std::mutex> lock(mu_);
  return run_options_;
}

std::vector<FakeProcessRunner::Daemon> FakeProcessRunner::daemons() const {
  std::lock_guard<std::mutex> lock(mu_);
  return daemons_;
}

std::vector<FakeProcessRunner::Stop> FakeProcessRunner::stops() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stops_;
}

Result<RunResult> FakeProcessRunner::Run(const Argv& argv, const RunOptions& options) {
  if (argv.empty()) return Status::InvalidArgument("Run: empty argv");
  Handler handler;
  {
    std::lock_guard<std::mutex> lock(mu_);
    runs_.push_back(argv);
    run_options_.push_back(options);
    size_t best = 0;
    for (const auto& [prefix, h] : handlers_) {
      if (StartsWith(argv, prefix) && (!handler || prefix.size() > best)) {
        handler = h;
        best = prefix.size();
      }
    }
  }
  if (!handler) return Exit(0);
  return handler(argv);
}

Result<pid_t> FakeProcessRunner::StartDaemon(const Argv& argv, const DaemonOptions& options) {
  std::lock_guard<std::mutex> lock(mu_);
  if (fail_next_start_) {
    Status s = *fail_next_start_;
    fail_next_start_.reset();
    return s;
  }
  if (argv.size() <= options.wrapper_args) {
    return Status::InvalidArgument("starting a daemon: empty command");
  }
  pid_t pid = next_pid_++;
  table_[pid] = {argv,
                 Argv(argv.begin() + static_cast<ptrdiff_t>(options.wrapper_args), argv.end())};
  daemons_.push_back({pid, argv, options});
  return pid;
}

std::vector<pid_t> FakeProcessRunner::ProcessesWithArgs(const Argv& args) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<pid_t> out;
  for (const auto& [pid, p] : table_) {
    if (p.argv.size() < 2) continue;
    auto it = std::search(p.argv.begin() + 1, p.argv.end(), args.begin(), args.end());
    if (it != p.argv.end()) out.push_back(pid);
  }
  return out;
}

bool FakeProcessRunner::MatchesLocked(pid_t pid, const std::string& marker) const {
  auto it = table_.find(pid);
  if (marker.empty() || it == table_.end()) return false;
  std::string cmdline;
  for (const auto& a : it->second.argv) cmdline += a + '\0';
  return CommandLineHasArgs(cmdline, marker);
}

bool FakeProcessRunner::ProcessMatches(pid_t pid, const std::string& marker) {
  std::lock_guard<std::mutex> lock(mu_);
  return MatchesLocked(pid, marker);
}

Status FakeProcessRunner::StopProcess(pid_t pid, const std::string& marker,
                                      std::chrono::milliseconds /*grace*/) {
  if (marker.empty()) {
    return Status::InvalidArgument("stopping process " + std::to_string(pid) +
                                   ": an empty marker would match any process");
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (!MatchesLocked(pid, marker)) return Status::Ok();
  table_.erase(pid);
  stops_.push_back({pid, marker});
  return Status::Ok();
}

std::vector<pid_t> FakeProcessRunner::StopAll(const std::vector<pid_t>& pids,
                                              std::chrono::milliseconds /*grace*/) {
  std::lock_guard<std::mutex> lock(mu_);
  for (pid_t pid : pids) {
    if (table_.erase(pid) != 0) stops_.push_back({pid, ""});
  }
  return {};
}

}  // namespace carrierarr::testing
