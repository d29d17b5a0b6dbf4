// CommandRunner, one command type at a time. Programs the runner must never run for real here
// (kubectl against a cluster, systemctl poweroff) are fake scripts in a scratch directory that
// record their argv; Ollama is a fake HTTP server on 127.0.0.1.
#include "agent/command_runner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/file_util.h"
#include "core/subprocess.h"
#include "core/time_source.h"
#include "testing/eventually.h"
#include "testing/fake_ollama.h"
#include "testing/fake_process_runner.h"
#include "testing/loopback_server.h"
#include "testing/tools.h"

namespace carrierarr::agent {
namespace {

using ::carrierarr::testing::FakeOllama;
using ::carrierarr::testing::ScratchDir;
using ::carrierarr::testing::SilentPort;
using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;
using ec2agent::v1::Command;
using ec2agent::v1::CommandResult;
using ec2agent::v1::CommandType;

Command MakeCommand(CommandType type, std::vector<std::pair<std::string, std::string>> args = {},
                    int timeout_seconds = 0) {
  Command c;
  c.set_command_id("cmd-1");
  c.set_type(type);
  for (auto& [k, v] : args) (*c.mutable_args())[k] = v;
  c.set_timeout_seconds(timeout_seconds);
  return c;
}

Command Exec(std::vector<std::string> argv, int timeout_seconds = 0) {
  Command c = MakeCommand(ec2agent::v1::COMMAND_TYPE_EXEC, {}, timeout_seconds);
  for (auto& a : argv) c.add_argv(a);
  return c;
}

// A script that appends each argument on its own line, then "--", to `log`, and exits with
// `exit_code` when its first argument is `fail_on` (stderr says so).
std::string FakeTool(const ScratchDir& dir, const std::string& name,
                     const std::string& fail_on = "", int exit_code = 0) {
  const std::string path = dir / name;
  std::string script = "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done >> '" +
                       dir / (name + ".log") + "'\necho -- >> '" + dir / (name + ".log") + "'\n";
  if (!fail_on.empty()) {
    script += "if [ \"$1\" = '" + fail_on + "' ]; then echo \"error: cannot " + fail_on +
              "\" >&2; exit " + std::to_string(exit_code) + "; fi\n";
  }
  script += "echo \"" + name + " $1 ok\"\n";
  EXPECT_TRUE(WriteFileAtomic(path, script, 0755).ok());
  return path;
}

std::string Log(const ScratchDir& dir, const std::string& name) {
  const std::string path = dir / (name + ".log");
  return PathExists(path) ? carrierarr::testing::Slurp(path) : "";
}

struct Recorder {
  std::mutex mu;
  std::vector<std::string> calls;
  void Add(std::string s) {
    std::lock_guard<std::mutex> lock(mu);
    calls.push_back(std::move(s));
  }
  std::vector<std::string> Get() {
    std::lock_guard<std::mutex> lock(mu);
    return calls;
  }
  CommandRunner::Hooks Hooks() {
    return {
        .power = [this](bool reboot) { Add(reboot ? "power reboot" : "power off"); },
        .update_config =
            [this](int hb, int st) {
              Add("config " + std::to_string(hb) + " " + std::to_string(st));
            },
        .model_activity = [this] { Add("activity"); },
    };
  }
};

RunnerOptions ExecAllowed() {
  RunnerOptions o;
  o.allow_exec = true;
  return o;
}

// ---------------------------------------------------------------------------------------------
// EXEC

TEST(ExecTest, ArgumentsArriveUnsplitAndUnquoted) {
  CommandRunner runner(ExecAllowed(), {});
  auto r = runner.Run(Exec({"printf", "[%s]\\n", "a b 'c'", "d\"e $HOME", "*"}));
  EXPECT_TRUE(r.success()) << r.error();
  EXPECT_EQ(r.command_id(), "cmd-1");
  EXPECT_EQ(r.exit_code(), 0);
  EXPECT_EQ(r.stdout(), "[a b 'c']\n[d\"e $HOME]\n[*]\n");
  EXPECT_EQ(r.stderr(), "");
  EXPECT_EQ(r.error(), "");
  EXPECT_GE(r.duration_ms(), 0);
}

TEST(ExecTest, ProgramsStartThroughTheInjectedProcessRunner) {
  ::carrierarr::testing::FakeProcessRunner processes;
  processes.OnRun({"/no/such/program"},
                  ::carrierarr::testing::FakeProcessRunner::Exit(0, "ran /no/such/program"));
  RunnerOptions o = ExecAllowed();
  o.processes = &processes;
  o.systemctl = "/no/such/systemctl";
  CommandRunner runner(o, {});
  auto exec = runner.Run(Exec({"/no/such/program", "a b"}, /*timeout_seconds=*/7));
  EXPECT_TRUE(exec.success()) << exec.error();
  EXPECT_EQ(exec.stdout(), "ran /no/such/program");
  auto restart =
      runner.Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_RESTART_SERVICE, {{"service", "nebula"}}));
  EXPECT_TRUE(restart.success()) << restart.error();
  auto runs = processes.runs();
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0], (std::vector<std::string>{"/no/such/program", "a b"}));
  EXPECT_EQ(processes.run_options()[0].timeout, std::chrono::seconds(7));
  EXPECT_EQ(runs[1][0], "/no/such/systemctl");
}

TEST(ExecTest, CmdIsSplitOnWhiteSpaceWithoutAShell) {
  // As the original agent (Go's strings.Fields): words, no shell, no quoting.
  CommandRunner runner(ExecAllowed(), {});
  auto r = runner.Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_EXEC, {{"cmd", "echo hello world"}}));
  EXPECT_TRUE(r.success()) << r.error();
  EXPECT_EQ(r.exit_code(), 0);
  EXPECT_EQ(r.stdout(), "hello world\n");

  auto words = runner.Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_EXEC,
                                      {{"cmd", "  printf [%s]\\n \t'a  b' $HOME\n*  "}}));
  EXPECT_TRUE(words.success()) << words.error();
  EXPECT_EQ(words.stdout(), "['a]\n[b']\n[$HOME]\n[*]\n");

  auto pwd = runner.Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_EXEC, {{"cmd", "pwd"}}));
  EXPECT_EQ(pwd.stdout(), std::filesystem::current_path().string() + "\n");

  for (const char* empty : {"", "  \t "}) {
    auto none = runner.Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_EXEC, {{"cmd", empty}}));
    EXPECT_FALSE(none.success());
    EXPECT_EQ(none.exit_code(), 1);  // as the original agent answers it
    EXPECT_THAT(none.error(), HasSubstr("EXEC needs argv"));
  }
  auto missing = runner.Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_EXEC));
  EXPECT_EQ(missing.exit_code(), 1);
  EXPECT_THAT(missing.error(), HasSubstr("args[\"cmd\"]"));
}

TEST(ExecTest, ArgvWinsOverCmd) {
  CommandRunner runner(ExecAllowed(), {});
  Command c = Exec({"echo", "from argv"});
  (*c.mutable_args())["cmd"] = "false";
  auto r = runner.Run(c);
  EXPECT_TRUE(r.success()) << r.error();
  EXPECT_EQ(r.stdout(), "from argv\n");
}

TEST(ExecTest, NonZeroExitIsAFailureWithItsOutput) {
  CommandRunner runner(ExecAllowed(), {});
  auto r = runner.Run(Exec({"ls", "/carrierarr-no-such-path"}));
  EXPECT_FALSE(r.success());
  EXPECT_EQ(r.exit_code(), 2);
  EXPECT_THAT(r.stderr(), HasSubstr("carrierarr-no-such-path"));
  EXPECT_THAT(r.error(), HasSubstr("exit status 2"));
}

TEST(ExecTest, TimeoutKillsTheProgram) {
  CommandRunner runner(ExecAllowed(), {});
  const auto start = Clock::now();
  auto r = runner.Run(Exec({"sleep", "10"}, /*timeout_seconds=*/1));
  const auto took = Clock::now() - start;
  EXPECT_FALSE(r.success());
  EXPECT_THAT(r.error(), HasSubstr("timed out"));
  EXPECT_GE(took, std::chrono::milliseconds(900));
  EXPECT_LT(took, std::chrono::seconds(5));
  EXPECT_GE(r.duration_ms(), 900);
}

TEST(ExecTest, RefusedUnlessAllowed) {
  ScratchDir dir;
  CommandRunner runner(RunnerOptions{}, {});
  // Would leave a file behind if it ran.
  auto r = runner.Run(Exec({"touch", dir / "ran"}));
  EXPECT_FALSE(r.success());
  EXPECT_EQ(r.error(), "EXEC is disabled on this agent; start it with --allow-exec");
  EXPECT_FALSE(PathExists(dir / "ran"));
}

TEST(ExecTest, MissingProgramIsAClearError) {
  CommandRunner runner(ExecAllowed(), {});
  auto r = runner.Run(Exec({"/nonexistent/carrierarr-prog", "x"}));
  EXPECT_FALSE(r.success());
  EXPECT_THAT(r.error(), HasSubstr("/nonexistent/carrierarr-prog"));
  EXPECT_THAT(r.error(), HasSubstr("no such file or directory"));
  auto by_name = runner.Run(
      MakeCommand(ec2agent::v1::COMMAND_TYPE_EXEC, {{"cmd", "carrierarr-no-such-program"}}));
  EXPECT_FALSE(by_name.success());
  EXPECT_THAT(by_name.error(), HasSubstr("carrierarr-no-such-program"));
}

TEST(ExecTest, OutputIsCutAtTheLimitWithAMarker) {
  RunnerOptions o = ExecAllowed();
  o.max_output_bytes = 10;
  CommandRunner runner(o, {});
  auto r = runner.Run(Exec({"printf", "0123456789ABCDEF"}));
  EXPECT_TRUE(r.success());
  EXPECT_EQ(r.stdout(), "0123456789\n[... output truncated: 6 bytes dropped]");
  auto exact = runner.Run(Exec({"printf", "0123456789"}));
  EXPECT_EQ(exact.stdout(), "0123456789");
  // A cut inside a UTF-8 character drops the whole character.
  auto utf8 = runner.Run(Exec({"printf", "012345678\xC3\xA9xyz"}));
  EXPECT_EQ(utf8.stdout(), "012345678\n[... output truncated: 5 bytes dropped]");
}

TEST(ExecTest, HugeOutputIsDrainedAndCountedNotKept) {
  // 50 MB on stdout, some on stderr: the program runs to its end (nothing blocks on a full
  // pipe), the agent keeps its bound of each stream, and the result fits in one gRPC message.
  RunnerOptions o = ExecAllowed();
  CommandRunner runner(o, {});
  auto r = runner.Run(
      Exec({"sh", "-c", "head -c 50000000 /dev/zero | tr '\\0' a; echo oops >&2; exit 3"}));
  EXPECT_EQ(r.exit_code(), 3) << r.error();
  EXPECT_EQ(r.stderr(), "oops\n");
  const size_t room = o.max_result_output_bytes - size_t{2} * 64;
  const size_t kept = room - r.stderr().size();
  ASSERT_GT(r.stdout().size(), kept);
  EXPECT_EQ(r.stdout().substr(0, kept), std::string(kept, 'a'));
  EXPECT_EQ(r.stdout().substr(kept),
            "\n[... output truncated: " + std::to_string(50000000 - kept) + " bytes dropped]");
  EXPECT_LT(r.ByteSizeLong(), size_t{1} << 20);

  // What the run itself held: the first max_output_bytes of each stream, the rest counted.
  RunOptions bounded;
  bounded.max_output_bytes = 1000;
  auto run = carrierarr::Run({"head", "-c", "3000000", "/dev/zero"}, bounded);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->out.size(), 1000u);
  EXPECT_EQ(run->out_dropped, 3000000u - 1000u);
}

// The pid a test's shell wrote to `path`, once it is there.
pid_t PidFrom(const std::string& path) {
  pid_t pid = 0;
  EXPECT_TRUE(::carrierarr::testing::Eventually([&] {
    auto text = ReadFile(path);
    if (!text.ok() || text->empty() || text->back() != '\n') return false;
    pid = std::stoi(*text);
    return true;
  })) << path;
  return pid;
}

// True once `pid` is gone (or a zombie nobody reaped yet: dead all the same).
bool Gone(pid_t pid) {
  auto stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return true;
  size_t paren = stat->rfind(')');
  return paren != std::string::npos && stat->substr(paren + 2, 1) == "Z";
}

TEST(ExecTest, ATimeoutKillsTheWholeProcessGroup) {
  ScratchDir dir;
  RunnerOptions o = ExecAllowed();
  o.kill_grace = std::chrono::milliseconds(200);
  CommandRunner runner(o, {});
  auto r = runner.Run(
      Exec({"sh", "-c", "sleep 100 & echo $! > " + dir / "pid" + "; wait"}, /*timeout_seconds=*/1));
  EXPECT_FALSE(r.success());
  EXPECT_THAT(r.error(), HasSubstr("timed out"));
  const pid_t background = PidFrom(dir / "pid");
  ASSERT_GT(background, 0);
  EXPECT_TRUE(::carrierarr::testing::Eventually([&] { return Gone(background); }))
      << "the background sleep " << background << " outlived its command";
  if (!Gone(background)) ::kill(background, SIGKILL);
}

TEST(ExecTest, ATimeoutHoldsForAProgramThatClosedItsOutput) {
  // No pipe left to wait on: the timeout still ends it (the run used to wait for it forever).
  CommandRunner runner(ExecAllowed(), {});
  const auto start = Clock::now();
  auto r = runner.Run(Exec({"sh", "-c", "exec >&- 2>&-; sleep 100"}, /*timeout_seconds=*/1));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
  EXPECT_FALSE(r.success());
  EXPECT_THAT(r.error(), HasSubstr("timed out"));
}

TEST(ExecTest, ABackgroundChildHoldingThePipeDoesNotHoldTheResult) {
  ScratchDir dir;
  CommandRunner runner(ExecAllowed(), {});
  const auto start = Clock::now();
  auto r = runner.Run(Exec({"sh", "-c", "sleep 100 & echo $! > " + dir / "pid" + "; echo hi"},
                           /*timeout_seconds=*/60));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
  EXPECT_TRUE(r.success()) << r.error();
  EXPECT_EQ(r.stdout(), "hi\n");
  // The background process is the command's business (a daemon it started): left running.
  const pid_t background = PidFrom(dir / "pid");
  ASSERT_GT(background, 0);
  EXPECT_FALSE(Gone(background));
  ::kill(background, SIGKILL);
}

TEST(ExecTest, BinaryOutputStillMakesAValidMessage) {
  CommandRunner runner(ExecAllowed(), {});
  auto r = runner.Run(Exec({"printf", "a\\377b\\300\\200c\xC3\xA9"}));
  EXPECT_TRUE(r.success()) << r.error();
  EXPECT_EQ(r.stdout(),
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD\xEF\xBF\xBD"
            "c\xC3\xA9");
  std::string wire;
  ASSERT_TRUE(r.SerializeToString(&wire));
  CommandResult back;
  ASSERT_TRUE(back.ParseFromString(wire));
  EXPECT_EQ(back.stdout(), r.stdout());
}

// ---------------------------------------------------------------------------------------------
// DRAIN

TEST(DrainTest, CordonsThenDrainsWithoutForce) {
  ScratchDir dir;
  Recorder rec;
  RunnerOptions o;
  o.kubectl = FakeTool(dir, "kubectl");
  o.node_name = "gpu-1";
  o.power_mode = PowerMode::kExit;
  CommandRunner runner(o, rec.Hooks());
  Command c = MakeCommand(ec2agent::v1::COMMAND_TYPE_DRAIN);
  auto r = runner.Run(c);
  ASSERT_TRUE(r.success()) << r.error();
  EXPECT_EQ(Log(dir, "kubectl"),
            "cordon\ngpu-1\n--\n"
            "drain\ngpu-1\n--ignore-daemonsets\n--delete-emptydir-data\n--timeout=300s\n--\n");
  EXPECT_THAT(r.stdout(), HasSubstr("kubectl cordon ok"));
  EXPECT_THAT(r.stdout(), HasSubstr("kubectl drain ok"));
  EXPECT_TRUE(rec.Get().empty());  // nothing powers off before the result is out

  runner.AfterResultSent(c, r);
  EXPECT_EQ(rec.Get(), std::vector<std::string>{"power off"});
}

TEST(DrainTest, NodeTimeoutAndForceFromArgs) {
  ScratchDir dir;
  RunnerOptions o;
  o.kubectl = FakeTool(dir, "kubectl");
  o.node_name = "default-node";
  CommandRunner runner(o, {});
  auto r = runner.Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_DRAIN,
                                  {{"node", "worker-7"}, {"force", "true"}, {"timeout", "2m"}}));
  ASSERT_TRUE(r.success()) << r.error();
  EXPECT_EQ(Log(dir, "kubectl"),
            "cordon\nworker-7\n--\n"
            "drain\nworker-7\n--ignore-daemonsets\n--delete-emptydir-data\n--timeout=120s\n"
            "--force\n--\n");
}

TEST(DrainTest, OnlyTheStringTrueForces) {
  ScratchDir dir;
  RunnerOptions o;
  o.kubectl = FakeTool(dir, "kubectl");
  CommandRunner runner(o, {});
  auto r = runner.Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_DRAIN,
                                  {{"node", "n1"}, {"force", "yes"}, {"timeout", "45"}},
                                  /*timeout_seconds=*/600));
  ASSERT_TRUE(r.success()) << r.error();
  EXPECT_THAT(Log(dir, "kubectl"), Not(HasSubstr("--force")));
  EXPECT_THAT(Log(dir, "kubectl"), HasSubstr("--timeout=45s\n"));
}

TEST(DrainTest, CommandTimeoutBoundsTheDrainTimeout) {
  ScratchDir dir;
  RunnerOptions o;
  o.kubectl = FakeTool(dir, "kubectl");
  CommandRunner runner(o, {});
  auto r = runner.Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_DRAIN, {{"node", "n1"}},
                                  /*timeout_seconds=*/600));
  ASSERT_TRUE(r.success()) << r.error();
  EXPECT_THAT(Log(dir, "kubectl"), HasSubstr("--timeout=570s\n"));
}

// Each reading of the monotonic clock moves it on by `step`, as if every step took that long.
class SteppingTime final : public TimeSource {
 public:
  explicit SteppingTime(std::chrono::seconds step) : step_(step) {}
  std::chrono::system_clock::time_point SystemNow() const override { return sim_.SystemNow(); }
  std::chrono::steady_clock::time_point MonotonicNow() const override {
    sim_.Advance(step_);
    return sim_.MonotonicNow();
  }
  void SleepFor(std::chrono::nanoseconds d) override { sim_.SleepFor(d); }

 private:
  std::chrono::seconds step_;
  mutable SimulatedTimeSource sim_;
};

TEST(DrainTest, TheStepsShareTheCommandsDeadlineOnTheInjectedClock) {
  ScratchDir dir;
  // Drain would take 5 s: it gets killed at once when the deadline is gone.
  ASSERT_TRUE(WriteFileAtomic(dir / "kubectl",
                              "#!/bin/sh\nif [ \"$1\" = drain ]; then sleep 5; fi\necho ok\n", 0755)
                  .ok());
  // Readings: start 60 s, deadline from 120 s (so at 220 s), cordon at 180 s (40 s left),
  // drain at 240 s (none left: 1 ms), end at 300 s.
  SteppingTime time(std::chrono::seconds(60));
  RunnerOptions o;
  o.kubectl = dir / "kubectl";
  o.time = &time;
  CommandRunner runner(o, {});
  const auto t0 = Clock::now();
  auto r = runner.Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_DRAIN, {{"node", "n1"}},
                                  /*timeout_seconds=*/100));
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(4));
  EXPECT_FALSE(r.success());
  EXPECT_THAT(r.error(), HasSubstr("kubectl drain n1 failed (timed out"));
  EXPECT_THAT(r.error(), HasSubstr("the node stays cordoned"));
  EXPECT_EQ(r.duration_ms(), 240'000);
}

TEST(DrainTest, FailuresAreErrorsAndDoNotPowerOff) {
  for (const std::string failing : {"cordon", "drain"}) {
    ScratchDir dir;
    Recorder rec;
    RunnerOptions o;
    o.kubectl = FakeTool(dir, "kubectl", failing, 1);
    o.node_name = "gpu-1";
    o.power_mode = PowerMode::kExit;
    CommandRunner runner(o, rec.Hooks());
    Command c = MakeCommand(ec2agent::v1::COMMAND_TYPE_DRAIN);
    auto r = runner.Run(c);
    EXPECT_FALSE(r.success()) << failing;
    EXPECT_EQ(r.exit_code(), 1);
    EXPECT_THAT(r.error(), HasSubstr("kubectl " + failing + " gpu-1 failed (exit status 1)"));
    EXPECT_THAT(r.error(), HasSubstr("error: cannot " + failing));
    EXPECT_THAT(r.stderr(), HasSubstr("error: cannot " + failing));
    // A failed cordon never goes on to drain.
    EXPECT_EQ(Log(dir, "kubectl").find("drain") != std::string::npos, failing == "drain");
    runner.AfterResultSent(c, r);
    EXPECT_TRUE(rec.Get().empty());
  }
}

TEST(DrainTest, NeedsASaneNodeNameAndKubectl) {
  ScratchDir dir;
  RunnerOptions o;
  o.kubectl = FakeTool(dir, "kubectl");
  CommandRunner runner(o, {});
  auto none = runner.Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_DRAIN));
  EXPECT_FALSE(none.success());
  EXPECT_THAT(none.error(), HasSubstr("node"));
  auto flag = runner.Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_DRAIN, {{"node", "--all"}}));
  EXPECT_FALSE(flag.success());
  EXPECT_THAT(flag.error(), HasSubstr("bad node name"));
  auto timeout = runner.Run(
      MakeCommand(ec2agent::v1::COMMAND_TYPE_DRAIN, {{"node", "n"}, {"timeout", "soon"}}));
  EXPECT_FALSE(timeout.success());
  EXPECT_THAT(timeout.error(), HasSubstr("bad timeout"));
  EXPECT_EQ(Log(dir, "kubectl"), "");  // none of them ran kubectl

  o.kubectl = dir / "no-kubectl";
  auto missing =
      CommandRunner(o, {}).Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_DRAIN, {{"node", "n"}}));
  EXPECT_FALSE(missing.success());
  EXPECT_THAT(missing.error(), HasSubstr("no-kubectl"));
}

// ---------------------------------------------------------------------------------------------
// SHUTDOWN, REBOOT

TEST(PowerTest, ExitModeCallsTheHookOnlyAfterTheResult) {
  Recorder rec;
  RunnerOptions o;
  o.power_mode = PowerMode::kExit;
  CommandRunner runner(o, rec.Hooks());
  Command off = MakeCommand(ec2agent::v1::COMMAND_TYPE_SHUTDOWN);
  auto r = runner.Run(off);
  EXPECT_TRUE(r.success());
  EXPECT_EQ(r.stdout(), "shutting down");
  Command reboot = MakeCommand(ec2agent::v1::COMMAND_TYPE_REBOOT);
  auto rr = runner.Run(reboot);
  EXPECT_TRUE(rr.success());
  EXPECT_EQ(rr.stdout(), "rebooting");
  EXPECT_TRUE(rec.Get().empty());

  runner.AfterResultSent(off, r);
  runner.AfterResultSent(reboot, rr);
  EXPECT_EQ(rec.Get(), (std::vector<std::string>{"power off", "power reboot"}));

  // Other commands, and failed ones, never power anything.
  CommandResult failed = r;
  failed.set_success(false);
  runner.AfterResultSent(off, failed);
  runner.AfterResultSent(MakeCommand(ec2agent::v1::COMMAND_TYPE_UPDATE_CONFIG), r);
  EXPECT_EQ(rec.Get().size(), 2u);
}

TEST(PowerTest, SystemModeRunsSystemctl) {
  ScratchDir dir;
  Recorder rec;
  RunnerOptions o;
  o.power_mode = PowerMode::kSystem;
  o.systemctl = FakeTool(dir, "systemctl");  // never the real one
  CommandRunner runner(o, rec.Hooks());
  for (auto type : {ec2agent::v1::COMMAND_TYPE_SHUTDOWN, ec2agent::v1::COMMAND_TYPE_REBOOT}) {
    Command c = MakeCommand(type);
    auto r = runner.Run(c);
    ASSERT_TRUE(r.success());
    runner.AfterResultSent(c, r);
  }
  EXPECT_EQ(Log(dir, "systemctl"), "poweroff\n--\nreboot\n--\n");
  EXPECT_TRUE(rec.Get().empty());
}

// ---------------------------------------------------------------------------------------------
// PULL_MODEL, UNLOAD_MODEL

TEST(ModelTest, PullAndUnloadGoToOllama) {
  FakeOllama ollama;
  Recorder rec;
  RunnerOptions o;
  o.ollama_url = ollama.url();
  CommandRunner runner(o, rec.Hooks());
  auto pull =
      runner.Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_PULL_MODEL, {{"model", "qwen2:0.5b"}}));
  EXPECT_TRUE(pull.success()) << pull.error();
  EXPECT_EQ(pull.stdout(), "pulled qwen2:0.5b");
  auto unload =
      runner.Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_UNLOAD_MODEL, {{"model", "llama3:8b"}}));
  EXPECT_TRUE(unload.success()) << unload.error();

  auto requests = ollama.requests();
  ASSERT_EQ(requests.size(), 2u);
  ASSERT_EQ(requests[0].rfind("/api/pull ", 0), 0u);
  auto body = nlohmann::json::parse(requests[0].substr(10));
  EXPECT_EQ(body["name"], "qwen2:0.5b");
  EXPECT_EQ(body["stream"], false);
  ASSERT_EQ(requests[1].rfind("/api/generate ", 0), 0u);
  EXPECT_EQ(nlohmann::json::parse(requests[1].substr(14)),
            nlohmann::json({{"model", "llama3:8b"}, {"keep_alive", 0}}));
  EXPECT_EQ(rec.Get(), (std::vector<std::string>{"activity", "activity"}));
}

TEST(ModelTest, ErrorsSayWhy) {
  FakeOllama ollama;
  Recorder rec;
  RunnerOptions o;
  o.ollama_url = ollama.url();
  CommandRunner runner(o, rec.Hooks());
  auto missing_arg = runner.Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_PULL_MODEL));
  EXPECT_FALSE(missing_arg.success());
  EXPECT_EQ(missing_arg.error(), "PULL_MODEL needs args[\"model\"]");
  auto not_found =
      runner.Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_UNLOAD_MODEL, {{"model", "nosuch"}}));
  EXPECT_FALSE(not_found.success());
  EXPECT_THAT(not_found.error(), HasSubstr("model \"nosuch\" not found, try pulling it first"));
  EXPECT_TRUE(rec.Get().empty());

  SilentPort refused(SilentPort::kRefusing);
  o.ollama_url = refused.url();
  auto down = CommandRunner(o, {}).Run(
      MakeCommand(ec2agent::v1::COMMAND_TYPE_PULL_MODEL, {{"model", "x"}}, 2));
  EXPECT_FALSE(down.success());
  EXPECT_THAT(down.error(), HasSubstr("did not answer"));
}

TEST(ModelTest, UnloadWithoutAModelUnloadsEveryLoadedModel) {
  FakeOllama ollama;
  ollama.set_tags(R"({"models":[{"name":"a:1b"},{"name":"b:7b"},{"name":"c:3b"}]})");
  ollama.set_ps(R"({"models":[{"name":"a:1b"},{"name":"c:3b"}]})");
  Recorder rec;
  RunnerOptions o;
  o.ollama_url = ollama.url();
  CommandRunner runner(o, rec.Hooks());
  auto r = runner.Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_UNLOAD_MODEL));
  EXPECT_TRUE(r.success()) << r.error();
  EXPECT_EQ(r.stdout(), "unloaded a:1b, c:3b");
  auto requests = ollama.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(requests[0].substr(14)),
            nlohmann::json({{"model", "a:1b"}, {"keep_alive", 0}}));
  EXPECT_EQ(nlohmann::json::parse(requests[1].substr(14)),
            nlohmann::json({{"model", "c:3b"}, {"keep_alive", 0}}));
  EXPECT_EQ(rec.Get(), std::vector<std::string>{"activity"});

  ollama.set_ps(R"({"models":[]})");
  auto none = runner.Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_UNLOAD_MODEL));
  EXPECT_TRUE(none.success()) << none.error();
  EXPECT_EQ(none.stdout(), "no model was loaded");
}

// ---------------------------------------------------------------------------------------------
// CANCEL

Command CancelOf(const std::string& target) {
  Command c = MakeCommand(ec2agent::v1::COMMAND_TYPE_CANCEL, {{"command_id", target}});
  c.set_command_id("cancel-" + target);
  return c;
}

TEST(CancelTest, CancelKillsTheRunningCommandsProcessGroup) {
  ScratchDir dir;
  RunnerOptions o = ExecAllowed();
  o.kill_grace = std::chrono::milliseconds(200);
  CommandRunner runner(o, {});
  Command long_one =
      Exec({"sh", "-c", "sleep 100 & echo $! > " + dir / "pid" + "; echo started; wait"});
  long_one.set_command_id("long");
  CommandResult result;
  std::thread worker([&] { result = runner.Run(long_one); });
  const pid_t background = PidFrom(dir / "pid");
  const auto start = Clock::now();
  CommandResult cancel = runner.Run(CancelOf("long"));
  worker.join();
  EXPECT_TRUE(cancel.success()) << cancel.error();
  EXPECT_EQ(cancel.command_id(), "cancel-long");
  EXPECT_EQ(cancel.stdout(), "cancelled long");
  EXPECT_FALSE(result.success());
  EXPECT_EQ(result.error(), "cancelled");
  EXPECT_EQ(result.command_id(), "long");
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
  EXPECT_TRUE(::carrierarr::testing::Eventually([&] { return Gone(background); }));
  if (!Gone(background)) ::kill(background, SIGKILL);

  // Done: nothing left to cancel.
  CommandResult again = runner.Run(CancelOf("long"));
  EXPECT_FALSE(again.success());
  EXPECT_EQ(again.error(), "no running command long");
}

TEST(CancelTest, ACancelledPullStopsWaitingForOllama) {
  // An Ollama that takes the connection and never answers (a long download).
  SilentPort silent;
  RunnerOptions o;
  o.ollama_url = silent.url();
  CommandRunner runner(o, {});
  Command pull = MakeCommand(ec2agent::v1::COMMAND_TYPE_PULL_MODEL, {{"model", "big:70b"}}, 30);
  pull.set_command_id("pull");
  CommandResult result;
  const auto start = Clock::now();
  std::thread worker([&] { result = runner.Run(pull); });
  // The pull registers as it starts: cancel as soon as it is there.
  EXPECT_TRUE(
      ::carrierarr::testing::Eventually([&] { return runner.Run(CancelOf("pull")).success(); }));
  worker.join();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
  EXPECT_FALSE(result.success());
  EXPECT_EQ(result.error(), "cancelled");
}

TEST(CancelTest, UnknownOrMissingTargetsAreErrors) {
  CommandRunner runner(ExecAllowed(), {});
  CommandResult unknown = runner.Run(CancelOf("nosuch"));
  EXPECT_FALSE(unknown.success());
  EXPECT_EQ(unknown.error(), "no running command nosuch");
  CommandResult missing = runner.Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_CANCEL));
  EXPECT_FALSE(missing.success());
  EXPECT_THAT(missing.error(), HasSubstr("CANCEL needs args[\"command_id\"]"));
}

// ---------------------------------------------------------------------------------------------
// UPDATE_CONFIG

TEST(UpdateConfigTest, AppliesValidIntervals) {
  Recorder rec;
  CommandRunner runner(RunnerOptions{}, rec.Hooks());
  EXPECT_TRUE(
      runner
          .Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_UPDATE_CONFIG,
                           {{"heartbeat_interval_sec", "15"}, {"status_interval_sec", "60"}}))
          .success());
  EXPECT_TRUE(runner
                  .Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_UPDATE_CONFIG,
                                   {{"status_interval_sec", "86400"}}))
                  .success());
  EXPECT_TRUE(runner
                  .Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_UPDATE_CONFIG,
                                   {{"heartbeat_interval_sec", "1"}}))
                  .success());
  EXPECT_EQ(rec.Get(), (std::vector<std::string>{"config 15 60", "config 0 86400", "config 1 0"}));
}

TEST(UpdateConfigTest, RejectsBadValuesWithoutApplyingAny) {
  Recorder rec;
  CommandRunner runner(RunnerOptions{}, rec.Hooks());
  for (const std::string bad : {"0", "86401", "-5", "abc", "10s", " 10", "99999999999"}) {
    auto r =
        runner.Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_UPDATE_CONFIG,
                               {{"heartbeat_interval_sec", "30"}, {"status_interval_sec", bad}}));
    EXPECT_FALSE(r.success()) << bad;
    EXPECT_THAT(r.error(),
                HasSubstr("status_interval_sec must be a whole number of seconds in 1..86400"))
        << bad;
  }
  auto none = runner.Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_UPDATE_CONFIG));
  EXPECT_FALSE(none.success());
  EXPECT_THAT(none.error(), HasSubstr("needs heartbeat_interval_sec or status_interval_sec"));
  EXPECT_TRUE(rec.Get().empty());
}

// ---------------------------------------------------------------------------------------------
// RESTART_SERVICE

TEST(RestartServiceTest, RestartsAllowedUnitsWithSystemctl) {
  ScratchDir dir;
  RunnerOptions o;
  o.systemctl = FakeTool(dir, "systemctl");
  CommandRunner runner(o, {});
  for (const char* service : {"nebula", "k3s", "k3s-agent", "ollama", "liqo"}) {
    auto r =
        runner.Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_RESTART_SERVICE, {{"service", service}}));
    EXPECT_TRUE(r.success()) << service << ": " << r.error();
  }
  EXPECT_EQ(
      Log(dir, "systemctl"),
      "restart\nnebula.service\n--\nrestart\nk3s.service\n--\nrestart\nk3s-agent.service\n--\n"
      "restart\nollama.service\n--\nrestart\nliqo.service\n--\n");
}

TEST(RestartServiceTest, RefusesOtherUnitsAndReportsFailures) {
  ScratchDir dir;
  RunnerOptions o;
  o.systemctl = FakeTool(dir, "systemctl", "restart", 5);
  CommandRunner runner(o, {});
  for (const char* service : {"sshd", "", "nebula;reboot", "../nebula"}) {
    auto r =
        runner.Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_RESTART_SERVICE, {{"service", service}}));
    EXPECT_FALSE(r.success());
    EXPECT_THAT(r.error(), HasSubstr("is not one of nebula, k3s, k3s-agent, ollama, liqo"));
  }
  EXPECT_EQ(Log(dir, "systemctl"), "");

  auto failed =
      runner.Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_RESTART_SERVICE, {{"service", "ollama"}}));
  EXPECT_FALSE(failed.success());
  EXPECT_EQ(failed.exit_code(), 5);
  EXPECT_THAT(failed.error(), HasSubstr("systemctl restart ollama.service failed (exit status 5)"));
  EXPECT_THAT(failed.error(), HasSubstr("error: cannot restart"));
}

// ---------------------------------------------------------------------------------------------
// FETCH_KUBECONFIG

TEST(FetchKubeconfigTest, AnswersWithTheFileOnlyWhenAllowed) {
  ScratchDir dir;
  const std::string kubeconfig = dir / "k3s.yaml";
  const std::string text =
      "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: Q0EK\n"
      "    server: https://127.0.0.1:6443\n  name: default\n";
  ASSERT_TRUE(WriteFileAtomic(kubeconfig, text, 0600).ok());
  RunnerOptions o;
  o.k3s_kubeconfig = kubeconfig;
  CommandRunner refusing(o, {});
  auto refused = refusing.Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_FETCH_KUBECONFIG));
  EXPECT_FALSE(refused.success());
  EXPECT_THAT(refused.error(), HasSubstr("--allow-kubeconfig-fetch"));
  EXPECT_EQ(refused.stdout(), "");
  EXPECT_THAT(refused.error(), Not(HasSubstr("Q0EK")));

  o.allow_kubeconfig_fetch = true;
  CommandRunner allowing(o, {});
  auto fetched = allowing.Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_FETCH_KUBECONFIG));
  EXPECT_TRUE(fetched.success()) << fetched.error();
  EXPECT_EQ(fetched.stdout(), text);
  EXPECT_EQ(fetched.command_id(), "cmd-1");

  // Allowed, on a node that is not the k3s server: says so, quotes nothing.
  o.k3s_kubeconfig = dir / "missing.yaml";
  CommandRunner elsewhere(o, {});
  auto missing = elsewhere.Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_FETCH_KUBECONFIG));
  EXPECT_FALSE(missing.success());
  EXPECT_THAT(missing.error(), HasSubstr("k3s server node"));
}

// ---------------------------------------------------------------------------------------------
// Unknown types

TEST(UnknownTest, UnspecifiedAndUnknownTypesAreErrors) {
  CommandRunner runner(ExecAllowed(), {});
  auto unspecified = runner.Run(MakeCommand(ec2agent::v1::COMMAND_TYPE_UNSPECIFIED));
  EXPECT_FALSE(unspecified.success());
  EXPECT_EQ(unspecified.error(), "unknown command type 0");
  EXPECT_EQ(unspecified.command_id(), "cmd-1");

  // A newer control plane's type reaches an older agent as a bare number.
  Command future;
  ASSERT_TRUE(future.ParseFromString(std::string("\x10\x63", 2)));  // field 2 = 99
  auto r = runner.Run(future);
  EXPECT_FALSE(r.success());
  EXPECT_EQ(r.error(), "unknown command type 99");
}

TEST(ConcurrencyTest, CommandsRunOnSeveralThreadsAtOnce) {
  CommandRunner runner(ExecAllowed(), {});
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&runner, &ok, i] {
      auto r = runner.Run(Exec({"sh", "-c", "sleep 0.5; echo \"$0\"", std::to_string(i)}));
      if (r.success() && r.stdout() == std::to_string(i) + "\n") ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 4);
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(1800));  // in parallel, not in turn
}

}  // namespace
}  // namespace carrierarr::agent
