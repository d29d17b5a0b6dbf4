#include "core/subprocess.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "core/file_util.h"

namespace carrierarr {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using ::testing::HasSubstr;

// Runs argv, failing the test if it cannot start.
RunResult MustRun(const std::vector<std::string>& argv, const RunOptions& options = {}) {
  auto r = Run(argv, options);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : RunResult{};
}

TEST(RunTest, CapturesStdoutAndStderrSeparately) {
  RunResult r = MustRun({"sh", "-c", "echo out1; echo err1 >&2; echo out2; printf err2 >&2"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_FALSE(r.signaled);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.out, "out1\nout2\n");
  EXPECT_EQ(r.err, "err1\nerr2");
}

TEST(RunTest, ReportsExitCodes) {
  for (int code : {0, 1, 3, 42, 255}) {
    RunResult r = MustRun({"sh", "-c", "exit " + std::to_string(code)});
    EXPECT_EQ(r.exit_code, code);
    EXPECT_FALSE(r.signaled);
  }
  EXPECT_EQ(MustRun({"false"}).exit_code, 1);  // looked up in PATH
}

TEST(RunTest, ReportsDeathBySignal) {
  RunResult r = MustRun({"sh", "-c", "kill -TERM $$"});
  EXPECT_TRUE(r.signaled);
  EXPECT_EQ(r.signal, SIGTERM);
  EXPECT_FALSE(r.timed_out);
}

// Both streams are drained while the child runs: a child filling both pipes must not deadlock.
TEST(RunTest, DrainsLargeOutputOnBothStreams) {
  RunResult r =
      MustRun({"sh", "-c", "head -c 1000000 /dev/zero; head -c 700000 /dev/zero >&2; echo done"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.size(), 1000000u + 5);
  EXPECT_EQ(r.err.size(), 700000u);
}

TEST(RunTest, FeedsStdin) {
  RunOptions options;
  options.stdin_data = "hello\nworld\n";
  RunResult r = MustRun({"cat"}, options);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "hello\nworld\n");

  // No stdin data: the child sees EOF at once instead of waiting on an open pipe.
  RunResult empty = MustRun({"cat"});
  EXPECT_EQ(empty.exit_code, 0);
  EXPECT_EQ(empty.out, "");
}

// 1 MiB is far more than a pipe buffer: writing stdin and reading stdout must interleave.
TEST(RunTest, FeedsAMebibyteThroughCat) {
  RunOptions options;
  options.stdin_data.resize(1 << 20);
  for (size_t i = 0; i < options.stdin_data.size(); ++i) {
    options.stdin_data[i] = static_cast<char>('a' + i % 26);
  }
  RunResult r = MustRun({"cat"}, options);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.size(), options.stdin_data.size());
  EXPECT_TRUE(r.out == options.stdin_data);  // not EXPECT_EQ: a mismatch would print 2 MiB
}

// A child that exits without reading its stdin must neither hang us nor kill us with SIGPIPE.
TEST(RunTest, ChildIgnoringStdinDoesNotHurtUs) {
  RunOptions options;
  options.stdin_data = std::string(4 << 20, 'x');
  const auto start = steady_clock::now();
  RunResult r = MustRun({"sh", "-c", "exec <&-; echo bye"}, options);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "bye\n");
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(RunTest, TimeoutKillsTheChild) {
  RunOptions options;
  options.timeout = milliseconds(200);
  const auto start = steady_clock::now();
  RunResult r = MustRun({"sleep", "10"}, options);
  const auto elapsed = steady_clock::now() - start;
  EXPECT_TRUE(r.timed_out);
  EXPECT_TRUE(r.signaled);
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_GE(elapsed, milliseconds(190));
  EXPECT_LT(elapsed, milliseconds(3000));
}

TEST(RunTest, TimeoutKeepsWhatWasWrittenBeforeIt) {
  RunOptions options;
  options.timeout = milliseconds(300);
  RunResult r = MustRun({"sh", "-c", "echo started; echo warn >&2; exec sleep 10"}, options);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.out, "started\n");
  EXPECT_EQ(r.err, "warn\n");
}

TEST(RunTest, QuickChildIsNotMarkedTimedOut) {
  RunOptions options;
  options.timeout = milliseconds(5000);
  RunResult r = MustRun({"true"}, options);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0);
}

TEST(RunTest, MissingProgramIsAnError) {
  auto r = carrierarr::Run({"carrierarr-no-such-program-xyz", "arg"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr("carrierarr-no-such-program-xyz"));
  EXPECT_THAT(r.status().message(), HasSubstr("no such file or directory"));

  auto abs = carrierarr::Run({"/nonexistent/dir/prog"});
  ASSERT_FALSE(abs.ok());
  EXPECT_EQ(abs.status().code(), StatusCode::kNotFound);
}

TEST(RunTest, EmptyArgvIsInvalid) {
  auto r = carrierarr::Run({});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST(RunTest, RunsInWorkingDir) {
  std::string tmpl = std::filesystem::temp_directory_path().string() + "/subprocess-test-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  const std::string dir = std::filesystem::canonical(tmpl);
  RunOptions options;
  options.working_dir = dir;
  RunResult r = MustRun({"pwd", "-P"}, options);
  ::rmdir(dir.c_str());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, dir + "\n");
  // Without a working_dir the child inherits ours.
  EXPECT_EQ(MustRun({"pwd", "-P"}).out,
            std::filesystem::canonical(std::filesystem::current_path()).string() + "\n");
}

TEST(RunTest, MissingWorkingDirIsAnError) {
  RunOptions options;
  options.working_dir = "/nonexistent/carrierarr/dir";
  EXPECT_FALSE(carrierarr::Run({"true"}, options).ok());
}

TEST(RunTest, ExtraEnvIsAddedToOurs) {
  ASSERT_EQ(::setenv("CARRIERARR_TEST_INHERITED", "from-parent", 1), 0);
  RunOptions options;
  options.extra_env = {"CARRIERARR_TEST_EXTRA=a b;$(c)"};
  RunResult r =
      MustRun({"printenv", "CARRIERARR_TEST_EXTRA", "CARRIERARR_TEST_INHERITED"}, options);
  ::unsetenv("CARRIERARR_TEST_INHERITED");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "a b;$(c)\nfrom-parent\n");
}

// extra_env wins over a variable we already have (as TZ=... must for the print interop test):
// getenv() and Go's os.Getenv return the first of duplicate entries.
TEST(RunTest, ExtraEnvOverridesOurs) {
  ASSERT_EQ(::setenv("CARRIERARR_TEST_TZ", "UTC", 1), 0);
  RunOptions options;
  options.extra_env = {"CARRIERARR_TEST_TZ=Asia/Kolkata"};
  RunResult r = MustRun({"printenv", "CARRIERARR_TEST_TZ"}, options);
  RunResult all = MustRun({"env"}, options);
  ::unsetenv("CARRIERARR_TEST_TZ");
  EXPECT_EQ(r.out, "Asia/Kolkata\n");
  // Exactly one entry for the name reaches the child.
  EXPECT_THAT(all.out, HasSubstr("CARRIERARR_TEST_TZ=Asia/Kolkata\n"));
  EXPECT_THAT(all.out, ::testing::Not(HasSubstr("CARRIERARR_TEST_TZ=UTC")));
}

// No shell is involved: quotes, spaces, globs and command substitutions reach the child as typed.
TEST(RunTest, ArgvIsPassedLiterally) {
  const std::vector<std::string> args = {"a b",  "\"quoted\"", "'single'", "$(echo pwned)",
                                         "`id`", "*",          "$HOME",    "; rm -rf x",
                                         "",     "tab\there",  "new\nline"};
  std::vector<std::string> argv = {"printf", "[%s]\\n"};
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult r = MustRun(argv);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string want;
  for (const auto& a : args) want += "[" + a + "]\n";
  EXPECT_EQ(r.out, want);
}

// We ignore SIGPIPE ourselves; the child must get the default back, or `yes` sees EPIPE and
// complains instead of dying quietly, and shell pipelines misbehave.
TEST(RunTest, ChildGetsDefaultSigpipe) {
  RunOptions options;
  options.timeout = milliseconds(5000);
  RunResult r = MustRun({"sh", "-c", "yes | head -1"}, options);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "y\n");
  EXPECT_EQ(r.err, "");  // with SIGPIPE ignored: "yes: standard output: Broken pipe"

  RunResult killed = MustRun({"sh", "-c", "kill -PIPE $$; echo survived"}, options);
  EXPECT_TRUE(killed.signaled);
  EXPECT_EQ(killed.signal, SIGPIPE);
  EXPECT_EQ(killed.out, "");
}

TEST(RunTest, ConcurrentRunsKeepTheirOutputApart) {
  constexpr int kThreads = 6;
  std::vector<RunResult> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&results, t] {
      auto r = carrierarr::Run({"sh", "-c", "echo $0; echo e$0 >&2; exit $0", std::to_string(t)});
      if (r.ok()) results[t] = *r;
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(results[t].exit_code, t);
    EXPECT_EQ(results[t].out, std::to_string(t) + "\n");
    EXPECT_EQ(results[t].err, "e" + std::to_string(t) + "\n");
  }
}

}  // namespace
}  // namespace carrierarr
