// RealProcessRunner's process table without root: daemons started for real (plain and through a
// wrapper that execs what it wraps, as `ip netns exec` does), found by their arguments, and
// stopped by pid and marker. Every daemon is a `sleep` with an argument unique to this test
// process, and is stopped before the test ends.
#include "core/process_runner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "core/file_util.h"
#include "testing/tools.h"

namespace carrierarr {
namespace {

using std::chrono::milliseconds;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

class ProcessRunnerTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (pid_t pid : started_) EXPECT_TRUE(runner_.StopProcess(pid, tag_, milliseconds(200)).ok());
  }
  // `sleep 30 0.<our pid>`: sleeps 30 s and a bit, and no other process has that argument.
  std::vector<std::string> Sleep() const { return {"sleep", "30", tag_}; }
  pid_t MustStart(const std::vector<std::string>& argv, size_t wrapper_args = 0) {
    auto pid =
        runner_.StartDaemon(argv, {.log_path = dir_ / "daemon.log", .wrapper_args = wrapper_args});
    EXPECT_TRUE(pid.ok()) << pid.status().ToString();
    if (!pid.ok()) return -1;
    started_.push_back(*pid);
    return *pid;
  }

  RealProcessRunner runner_;
  const std::string tag_ = "0." + std::to_string(::getpid());
  testing::ScratchDir dir_;
  std::vector<pid_t> started_;
};

// A daemon's marker is one of its arguments: cpu-1's must not find cpu-10's processes.
TEST(CommandLineHasArgsTest, MatchesWholeArgumentsOnly) {
  using namespace std::string_literals;
  const std::string agent10 =
      "carrierarr-agent\0--state-dir\0/f/agents/cpu-10\0--token-file\0"
      "/f/agents/cpu-10.token\0"s;
  EXPECT_FALSE(CommandLineHasArgs(agent10, "/f/agents/cpu-1"));
  EXPECT_TRUE(CommandLineHasArgs(agent10, "/f/agents/cpu-10"));
  EXPECT_TRUE(CommandLineHasArgs(agent10, "carrierarr-agent"));
  EXPECT_FALSE(CommandLineHasArgs(agent10, "agents/cpu-10"));  // starts inside an argument
  EXPECT_TRUE(CommandLineHasArgs(agent10, "--state-dir /f/agents/cpu-10"));  // spans two
  EXPECT_FALSE(CommandLineHasArgs(agent10, ""));
  // A space inside an argument is an ordinary character.
  const std::string spaced = "serve\0--state-dir\0/My Fleet/control\0"s;
  EXPECT_TRUE(CommandLineHasArgs(spaced, "/My Fleet/control"));
  EXPECT_FALSE(CommandLineHasArgs(spaced, "Fleet/control"));
  // No trailing NUL (a process that rewrote its arguments) is the same.
  EXPECT_TRUE(CommandLineHasArgs("sleep\0"s + "30", "sleep 30"));
  EXPECT_FALSE(CommandLineHasArgs("sleep\0"s + "300", "sleep 30"));
}

TEST_F(ProcessRunnerTest, DaemonIsFoundByWholeArgumentsAndStoppedOnlyWithItsMarker) {
  pid_t pid = MustStart(Sleep());
  ASSERT_GT(pid, 0);
  EXPECT_NE(pid, ::getpid());
  EXPECT_TRUE(runner_.ProcessMatches(pid, "sleep 30 " + tag_));
  EXPECT_FALSE(runner_.ProcessMatches(pid, ""));
  EXPECT_THAT(runner_.ProcessesWithArgs({"30", tag_}), Contains(pid));
  EXPECT_THAT(runner_.ProcessesWithArgs({"3", tag_}), Not(Contains(pid)));  // not a whole arg
  EXPECT_THAT(runner_.ProcessesWithArgs({"sleep"}), Not(Contains(pid)));    // argv[0] is not

  // A wrong marker means "not ours": nothing is signalled, and that is not an error.
  Status s = runner_.StopProcess(pid, "not-the-marker", milliseconds(200));
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(runner_.ProcessMatches(pid, tag_));
  s = runner_.StopProcess(pid, tag_, milliseconds(1000));
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_FALSE(runner_.ProcessMatches(pid, tag_));
  EXPECT_TRUE(runner_.StopProcess(pid, tag_, milliseconds(200)).ok());  // gone: still fine
  EXPECT_EQ(runner_.StopProcess(pid, "", milliseconds(200)).code(), StatusCode::kInvalidArgument);
}

// The daemon's exec is under way when its report pipe closes, and /proc/PID/cmdline reads empty
// until the kernel has set up the new arguments: StartDaemon must not return inside that window,
// or a caller's marker check right after it takes the daemon for gone (a CI failure on a loaded
// machine). Many starts make the window likely to be hit if it is there.
TEST_F(ProcessRunnerTest, EveryDaemonIsFoundByItsMarkerAsSoonAsStartReturns) {
  for (int i = 0; i < 40; ++i) {
    pid_t pid = MustStart(Sleep());
    ASSERT_GT(pid, 0);
    ASSERT_TRUE(runner_.ProcessMatches(pid, tag_)) << "start " << i << " returned too early";
    ASSERT_TRUE(runner_.StopProcess(pid, tag_, milliseconds(1000)).ok());
    ASSERT_FALSE(runner_.ProcessMatches(pid, tag_));
  }
}

TEST_F(ProcessRunnerTest, WrapperHandsOverBeforeStartReturnsAndStopAllEndsIt) {
  std::vector<std::string> argv = {"env"};
  for (const auto& a : Sleep()) argv.push_back(a);
  pid_t pid = MustStart(argv, 1);
  ASSERT_GT(pid, 0);
  auto cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
  ASSERT_TRUE(cmdline.ok());
  EXPECT_EQ(cmdline->rfind("sleep", 0), 0u) << "still the wrapper: " << *cmdline;

  EXPECT_TRUE(runner_.StopAll({pid, ::getpid()}, milliseconds(500)).empty());
  EXPECT_FALSE(runner_.ProcessMatches(pid, tag_));
}

TEST_F(ProcessRunnerTest, StartFailsClearly) {
  auto r = runner_.StartDaemon({"env", "no-such-program-carrierarr"},
                               {.log_path = dir_ / "x.log", .wrapper_args = 1});
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr("no-such-program-carrierarr not found in PATH"));
  r = runner_.StartDaemon({"env"}, {.log_path = dir_ / "x.log", .wrapper_args = 1});
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  r = runner_.StartDaemon(Sleep(), {.log_path = dir_ / "no/such/dir/x.log"});
  EXPECT_THAT(r.status().message(), HasSubstr("no/such/dir/x.log"));
  EXPECT_TRUE(runner_.ProcessesWithArgs({"30", tag_}).empty());
}

}  // namespace
}  // namespace carrierarr
