// `carrierarr pki clustermesh` as an operator runs it: flag errors naming the flag, the files it
// writes (0600, atomically, never half a set), and what it refuses to overwrite.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "core/file_util.h"
#include "testing/tools.h"

namespace carrierarr {
namespace {

using ::carrierarr::testing::CarrierarrBinary;
using ::carrierarr::testing::Entries;
using ::carrierarr::testing::ModeOf;
using ::carrierarr::testing::RunIn;
using ::carrierarr::testing::ScratchDir;
using ::carrierarr::testing::Slurp;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

constexpr char kHint[] = "Run 'carrierarr pki clustermesh -h' for its flags.\n";

class PkiClusterMeshCliTest : public ::testing::Test {
 protected:
  RunResult Mesh(std::vector<std::string> args) {
    args.insert(args.begin(), {CarrierarrBinary(), "pki", "clustermesh"});
    return RunIn(dir_.path(), args);
  }
  // A valid command line writing to `out`, plus `extra`.
  RunResult MeshOk(const std::string& out, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"-cluster", "talos-home", "-out-dir", out,
                                     "-mesh-ip", "10.42.0.1",  "-mesh-ip", "10.42.0.7"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Mesh(args);
  }
  std::string Path(const std::string& name) const { return dir_ / name; }

  ScratchDir dir_;
};

TEST_F(PkiClusterMeshCliTest, HelpNamesEveryFlag) {
  RunResult r = Mesh({"-h"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* flag :
       {"-cluster string", "-out-dir string", "-mesh-ip value (repeatable)", "-namespace string",
        "-server-cn string", "-ca-cert string", "-ca-key string", "-key-type string",
        "-trust value (repeatable)", "-duration duration", "-ca-duration duration", "-force"}) {
    EXPECT_THAT(r.out, HasSubstr("  " + std::string(flag) + "\n")) << flag;
  }
  EXPECT_THAT(r.out, HasSubstr("\"rsa\" (2048 bits"));
  RunResult modes = RunIn(dir_.path(), {CarrierarrBinary(), "pki", "-h"});
  EXPECT_THAT(modes.out, HasSubstr("    clustermesh <flags>: create Cilium ClusterMesh TLS"));
}

TEST_F(PkiClusterMeshCliTest, UsageErrorsNameTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string error;
  } cases[] = {
      {{"-out-dir", "o", "-mesh-ip", "10.42.0.1"}, "-cluster is required"},
      {{"-cluster", "a", "-mesh-ip", "10.42.0.1"}, "-out-dir is required"},
      {{"-cluster", "a", "-out-dir", "o"}, "-mesh-ip is required"},
      {{"-cluster", "Talos", "-out-dir", "o", "-mesh-ip", "10.42.0.1"},
       "invalid -cluster: cluster name \"Talos\" may hold only lowercase letters, digits and "
       "dashes (Cilium's rule)"},
      {{"-cluster", "a", "-out-dir", "o", "-mesh-ip", "10.42.0.1", "-key-type", "ed25519"},
       "invalid -key-type \"ed25519\": use rsa or ecdsa"},
      {{"-cluster", "a", "-out-dir", "o", "-mesh-ip", "10.42.0.1", "-server-cn", "x"},
       "invalid -server-cn \"x\": use svc or cilium.io"},
      {{"-cluster", "a", "-out-dir", "o", "-mesh-ip", "10.42.0.1", "-ca-cert", "ca.crt"},
       "-ca-cert and -ca-key go together"},
      {{"-cluster", "a", "-out-dir", "o", "-mesh-ip", "10.42.0.1", "-duration", "0s"},
       "-duration must be greater than 0"},
  };
  for (const auto& c : cases) {
    RunResult r = Mesh(c.args);
    EXPECT_EQ(r.exit_code, 1) << c.error;
    EXPECT_THAT(r.err, AllOf(HasSubstr("Error: " + c.error), HasSubstr(kHint)));
  }
  RunResult r = Mesh({"-cluster", "a", "-out-dir", "o", "-mesh-ip", "10.42.0.300"});
  EXPECT_EQ(r.err, "Error: mesh IP \"10.42.0.300\" is not an IPv4 or IPv6 address\n");
  EXPECT_THAT(Entries(dir_.path()), IsEmpty());  // not even the directory
}

TEST_F(PkiClusterMeshCliTest, WritesTheWholeSetMode0600AndSaysWhat) {
  const mode_t old_umask = ::umask(0);  // the child inherits it: 0600 must not come from it
  RunResult r = MeshOk("out");
  ::umask(old_umask);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_THAT(r.out, AllOf(HasSubstr("made a new RSA CA: out/ca.crt, out/ca.key"),
                           HasSubstr("IP 127.0.0.1 ::1 10.42.0.1 10.42.0.7; serverAuth"),
                           HasSubstr("verified: both certificates chain to ca-bundle.crt")));
  EXPECT_THAT(Entries(Path("out")),
              UnorderedElementsAre("ca.crt", "ca.key", "server.crt", "server.key", "client.crt",
                                   "client.key", "ca-bundle.crt"));
  for (const auto& name : Entries(Path("out"))) EXPECT_EQ(ModeOf(Path("out/" + name)), 0600u);
  EXPECT_EQ(ModeOf(Path("out")), 0700u);
  EXPECT_EQ(Slurp(Path("out/ca-bundle.crt")), Slurp(Path("out/ca.crt")));
}

TEST_F(PkiClusterMeshCliTest, NeverReplacesACaAndReplacesLeavesOnlyWithForce) {
  ASSERT_EQ(MeshOk("out").exit_code, 0);
  const std::string ca = Slurp(Path("out/ca.crt")), server = Slurp(Path("out/server.crt"));
  for (bool force : {false, true}) {
    RunResult r =
        MeshOk("out", force ? std::vector<std::string>{"-force"} : std::vector<std::string>{});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.err, AllOf(HasSubstr("Error: refusing to overwrite existing CA file: out/ca."),
                             HasSubstr("to sign with that CA: -ca-cert out/ca.crt -ca-key "
                                       "out/ca.key")));
  }
  const std::vector<std::string> reuse = {"-ca-cert", "out/ca.crt", "-ca-key", "out/ca.key"};
  RunResult no_force = MeshOk("out", reuse);
  EXPECT_EQ(no_force.err,
            "Error: refusing to overwrite existing out/server.crt (-force replaces it)\n");
  EXPECT_EQ(Slurp(Path("out/server.crt")), server);
  std::vector<std::string> forced = reuse;
  forced.push_back("-force");
  RunResult r = MeshOk("out", forced);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr("made a new RSA CA")));
  EXPECT_EQ(Slurp(Path("out/ca.crt")), ca);
  EXPECT_NE(Slurp(Path("out/server.crt")), server);
  EXPECT_EQ(Entries(Path("out")).size(), 7u);  // no temporary file left
}

TEST_F(PkiClusterMeshCliTest, TrustedCasJoinTheBundleAndBadInputIsNamed) {
  ASSERT_EQ(Mesh({"-cluster", "aws-k3s", "-out-dir", "b", "-mesh-ip", "10.42.1.1"}).exit_code, 0);
  RunResult r = MeshOk("a", {"-trust", "b/ca.crt"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Slurp(Path("a/ca-bundle.crt")), Slurp(Path("a/ca.crt")) + Slurp(Path("b/ca.crt")));

  RunResult leaf = MeshOk("c", {"-trust", "b/server.crt"});
  EXPECT_THAT(leaf.err, HasSubstr("Error: b/server.crt: CN=clustermesh-apiserver.kube-system.svc "
                                  "is not a CA certificate"));
  RunResult missing = MeshOk("c", {"-trust", "nope.crt"});
  EXPECT_THAT(missing.err, HasSubstr("Error: error while reading trust nope.crt: "));
  RunResult wrong_key = MeshOk("c", {"-ca-cert", "b/ca.crt", "-ca-key", "b/server.key"});
  EXPECT_THAT(wrong_key.err, HasSubstr("Error: the CA key does not match the CA certificate"));
  EXPECT_FALSE(PathExists(Path("c")));  // nothing written on any failure
}

}  // namespace
}  // namespace carrierarr
