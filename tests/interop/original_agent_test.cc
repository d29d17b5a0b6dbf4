// The original agent (interop/original_agent_main.cc, speaking only the original protocol)
// against `carrierarr serve` with mesh identity, across two network namespaces that this test
// makes: the control plane's (10.42.1.1/16) and a node's (10.42.2.1/16), joined by a veth pair.
// The original agent sends no token: from the node's mesh address it is enrolled as the node
// whose certificate carries that address, claiming another id is refused, and from the root
// namespace (the unix socket) nothing gets in without a token. Then an EXEC round trip: our CLI
// sends args["cmd"], which the original agent splits and runs.
//
// Needs root and iproute2: without them every test FAILS (never skips). Leaves no namespace.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "core/file_util.h"
#include "core/subprocess.h"
#include "testing/process.h"
#include "testing/tools.h"

namespace carrierarr::interop {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::string Bin(const std::string& name) {
  return std::string(CARRIERARR_BINARY_DIR) + "/bin/" + name;
}

RunResult Must(const std::vector<std::string>& argv) {
  auto r = carrierarr::Run(argv, {.timeout = seconds(60)});
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : RunResult{};
}

std::string Describe(const RunResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout: " + r.out + "\nstderr: " + r.err;
}

class OriginalAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "needs root (network namespaces): run as root";
    const std::string tag = std::to_string(::getpid() % 100000);
    cp_ns_ = "ci-cp-" + tag;
    node_ns_ = "ci-node-" + tag;
    const std::string a = "cia" + tag, b = "cib" + tag;
    for (const std::vector<std::string>& step : std::vector<std::vector<std::string>>{
             {"ip", "netns", "add", cp_ns_},
             {"ip", "netns", "add", node_ns_},
             // Made inside the namespaces: the root namespace never sees the pair.
             {"ip", "-n", cp_ns_, "link", "add", a, "type", "veth", "peer", "name", b, "netns",
              node_ns_},
             {"ip", "-n", cp_ns_, "addr", "add", "10.42.1.1/16", "dev", a},
             {"ip", "-n", node_ns_, "addr", "add", "10.42.2.1/16", "dev", b},
             {"ip", "-n", cp_ns_, "link", "set", a, "up"},
             {"ip", "-n", node_ns_, "link", "set", b, "up"},
             {"ip", "-n", cp_ns_, "link", "set", "lo", "up"},
         }) {
      RunResult r = Must(step);
      ASSERT_EQ(r.exit_code, 0) << Describe(r);
    }
    // The fleet's pki: a CA and one certificate per node, as `carrierarr up` makes them.
    pki_ = dir_ / "pki";
    std::filesystem::create_directories(pki_);
    RunResult ca = Must({Bin("carrierarr"), "pki", "ca", "-name", "interop", "-out-crt",
                         pki_ + "/ca.crt", "-out-key", pki_ + "/ca.key"});
    ASSERT_EQ(ca.exit_code, 0) << Describe(ca);
    for (auto [name, ip] : {std::pair{"homelab", "10.42.1.1/16"}, {"gpu-1", "10.42.2.1/16"}}) {
      RunResult host = Must({Bin("carrierarr"), "pki", "sign", "-name", name, "-ip", ip, "-ca-crt",
                             pki_ + "/ca.crt", "-ca-key", pki_ + "/ca.key", "-out-crt",
                             pki_ + "/" + name + ".crt", "-out-key", pki_ + "/" + name + ".key"});
      ASSERT_EQ(host.exit_code, 0) << Describe(host);
    }
    control_ = dir_ / "control";
    ASSERT_TRUE(serve_
                    .Start({"/usr/sbin/ip", "netns", "exec", cp_ns_, Bin("carrierarr-fleet"),
                            "serve", "--state-dir", control_, "--listen",
                            "10.42.1.1:50051,unix:" + control_ + "/serve.sock", "--http", "",
                            "--mesh-identity", pki_, "--allow-exec"},
                           dir_.path())
                    .ok());
    // Ready once its socket answers (bounded: 30 s).
    bool ready = false;
    for (int i = 0; i < 300 && !ready; ++i) {
      ready = UnixSocketAccepts(control_ + "/serve.sock");
      if (!ready) std::this_thread::sleep_for(milliseconds(100));
    }
    ASSERT_TRUE(ready) << "serve did not start: " << serve_.err();
  }

  void TearDown() override {
    serve_.Signal(SIGTERM);
    serve_.Wait(milliseconds(10000));
    for (const std::string& ns : {cp_ns_, node_ns_})
      if (!ns.empty()) (void)carrierarr::Run({"ip", "netns", "del", ns}, {.timeout = seconds(10)});
  }

  // The original agent in the node's namespace (or, with ns empty, in the root namespace).
  RunResult Agent(const std::string& ns, const std::string& server, const std::string& node_id) {
    std::vector<std::string> argv = {Bin("original-agent"), "--control-plane", server, "--node-id",
                                     node_id};
    if (!ns.empty()) argv.insert(argv.begin(), {"ip", "netns", "exec", ns});
    return Must(argv);
  }
  std::vector<std::string> Cli(std::vector<std::string> args) const {
    // The flags go right after the subcommand: everything after "--" is the program's.
    args.insert(args.begin() + 1, {"--server", "unix:" + control_ + "/serve.sock",
                                   "--admin-token-file", control_ + "/admin.token"});
    args.insert(args.begin(), Bin("carrierarr-fleet"));
    return args;
  }

  testing::ScratchDir dir_;
  std::string cp_ns_, node_ns_, pki_, control_;
  testing::StreamingProcess serve_;
};

TEST_F(OriginalAgentTest, ATokenlessAgentEnrolsAsTheNodeOfItsMeshAddressOnly) {
  RunResult mine = Agent(node_ns_, "10.42.1.1:50051", "gpu-1");
  EXPECT_EQ(mine.exit_code, 0) << Describe(mine);
  EXPECT_EQ(mine.out, "registered gpu-1\n");
  // No id: the mesh's.
  RunResult unnamed = Agent(node_ns_, "10.42.1.1:50051", "");
  EXPECT_EQ(unnamed.out, "registered gpu-1\n") << Describe(unnamed);
  // Another node's id, from gpu-1's address.
  RunResult other = Agent(node_ns_, "10.42.1.1:50051", "homelab");
  EXPECT_EQ(other.exit_code, 3) << Describe(other);
  EXPECT_NE(other.out.find("may register only as gpu-1, not homelab"), std::string::npos)
      << other.out;
  // The root namespace reaches the control plane only through its unix socket: no token, no
  // entry, whatever id it claims.
  RunResult root = Agent("", "unix:" + control_ + "/serve.sock", "gpu-1");
  EXPECT_EQ(root.exit_code, 3) << Describe(root);
  EXPECT_NE(root.out.find("no enrollment token"), std::string::npos) << root.out;
}

TEST_F(OriginalAgentTest, ExecReachesTheOriginalAgentAsArgsCmd) {
  testing::StreamingProcess agent;
  ASSERT_TRUE(
      agent
          .Start({"/usr/sbin/ip", "netns", "exec", node_ns_, Bin("original-agent"),
                  "--control-plane", "10.42.1.1:50051", "--node-id", "gpu-1", "--commands", "1"},
                 dir_.path())
          .ok());
  auto registered = agent.ReadLine(milliseconds(30000));
  ASSERT_EQ(registered.value_or(""), "registered gpu-1") << agent.err();
  // Queued until the stream is there, then delivered; the CLI waits for the result.
  RunResult exec = Must(Cli({"exec", "gpu-1", "--", "echo", "hello", "world"}));
  EXPECT_EQ(exec.exit_code, 0) << Describe(exec);
  EXPECT_EQ(exec.out, "hello world\n");
  auto command = agent.ReadLine(milliseconds(10000));
  EXPECT_EQ(command.value_or("").rfind("command COMMAND_TYPE_EXEC ", 0), 0u) << agent.err();
  auto status = agent.Wait(milliseconds(10000));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(testing::DescribeWaitStatus(*status), "exit 0") << agent.err();
}

}  // namespace
}  // namespace carrierarr::interop
