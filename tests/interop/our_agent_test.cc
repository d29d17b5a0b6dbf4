// Our agent (the real carrierarr-agent binary, as a child process) against an original-style
// control plane (interop/original_control_plane.h): it must register without a token, send the
// first status unasked, take EXEC as args["cmd"] and UNLOAD_MODEL without arguments, report
// every installed model, and register again on every reconnect as the original agent does.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <string>
#include <vector>

#include "interop/original_control_plane.h"
#include "testing/fake_ollama.h"
#include "testing/process.h"
#include "testing/tools.h"

namespace carrierarr::interop {
namespace {

using std::chrono::seconds;

std::string AgentBinary() { return std::string(CARRIERARR_BINARY_DIR) + "/bin/carrierarr-agent"; }

// The agent as an operator would start it against an original control plane: no token.
std::vector<std::string> AgentArgv(const std::string& control_plane, const std::string& dir,
                                   const std::string& ollama_url) {
  return {AgentBinary(),
          "-control-plane",
          control_plane,
          "-node-id",
          "interop-1",
          "-state-dir",
          dir + "/state",
          "-imds",
          "off",
          "-health-addr",
          "127.0.0.1",
          "-health-port",
          "0",
          "-ollama-url",
          ollama_url,
          "-nvidia-smi",
          dir + "/none",
          "-allow-exec",
          "-backoff-initial",
          "100ms",
          "-backoff-max",
          "1s",
          "-power-mode",
          "exit"};
}

original::Command MakeCommand(const std::string& id, original::CommandType type) {
  original::Command c;
  c.set_command_id(id);
  c.set_type(type);
  return c;
}

TEST(OurAgentAgainstAnOriginalControlPlane, RegistersStreamsAndRunsCommands) {
  OriginalControlPlane cp;
  ASSERT_TRUE(cp.Start());
  testing::FakeOllama ollama;
  ollama.set_tags(R"({"models":[{"name":"m:1b","size":1000},{"name":"disk:7b","size":7000}]})");
  ollama.set_ps(R"({"models":[{"name":"m:1b"}]})");
  testing::ScratchDir dir;
  testing::StreamingProcess agent;
  ASSERT_TRUE(agent.Start(AgentArgv(cp.target(), dir.path(), ollama.url()), dir.path()).ok());

  // Registered without any authorization; the first status came unasked (the control plane
  // sends nothing before it).
  ASSERT_TRUE(cp.WaitFor([](const auto& s) { return s.statuses >= 1; })) << agent.err();
  auto seen = cp.seen();
  EXPECT_EQ(seen.registers_with_authorization, 0);
  EXPECT_EQ(seen.last_register.node_id(), "interop-1");
  EXPECT_TRUE(seen.every_stream_began_with_a_status);
  EXPECT_EQ(seen.last_status.node_id(), "interop-1");
  // Every installed model, the one in memory marked.
  ASSERT_EQ(seen.last_status.loaded_models_size(), 2) << seen.last_status.DebugString();
  EXPECT_EQ(seen.last_status.loaded_models(0).name(), "m:1b");
  EXPECT_TRUE(seen.last_status.loaded_models(0).currently_loaded());
  EXPECT_EQ(seen.last_status.loaded_models(1).name(), "disk:7b");
  EXPECT_FALSE(seen.last_status.loaded_models(1).currently_loaded());

  // EXEC as the original sends it: the command line in args["cmd"], nothing else.
  original::Command exec = MakeCommand("exec-1", original::COMMAND_TYPE_EXEC);
  (*exec.mutable_args())["cmd"] = "echo hello world";
  cp.Send(exec);
  ASSERT_TRUE(cp.WaitFor([](const auto& s) { return s.results.count("exec-1") > 0; }))
      << agent.err();
  const original::CommandResult r = cp.seen().results.at("exec-1");
  EXPECT_TRUE(r.success()) << r.error();
  EXPECT_EQ(r.exit_code(), 0);
  EXPECT_EQ(r.stdout(), "hello world\n");

  // UNLOAD_MODEL has no arguments in the original: every loaded model goes.
  cp.Send(MakeCommand("unload-1", original::COMMAND_TYPE_UNLOAD_MODEL));
  ASSERT_TRUE(cp.WaitFor([](const auto& s) { return s.results.count("unload-1") > 0; }))
      << agent.err();
  const original::CommandResult u = cp.seen().results.at("unload-1");
  EXPECT_TRUE(u.success()) << u.error();
  auto requests = ollama.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0], R"(/api/generate {"keep_alive":0,"model":"m:1b"})");

  // The stream ends: the agent registers again (the original control plane may have lost the
  // node) and opens a new one, with a status first again.
  const int registers = cp.seen().registers;
  cp.EndStream();
  ASSERT_TRUE(cp.WaitFor([&](const auto& s) { return s.registers > registers && s.streams >= 2; }))
      << agent.err();
  ASSERT_TRUE(cp.WaitFor([](const auto& s) { return s.statuses >= 2; })) << agent.err();
  EXPECT_TRUE(cp.seen().every_stream_began_with_a_status);
  EXPECT_EQ(cp.seen().registers_with_authorization, 0);

  ASSERT_TRUE(agent.Signal(SIGTERM));
  auto status = agent.Wait(std::chrono::seconds(10));
  ASSERT_TRUE(status.has_value()) << agent.err();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << testing::DescribeWaitStatus(*status) << "\n"
      << agent.err();
}

}  // namespace
}  // namespace carrierarr::interop
