// The real check of `carrierarr pki clustermesh`: Debian's etcd (package etcd-server), standing in
// for clustermesh-apiserver's etcd on loopback with cluster A's server certificate and combined
// CA bundle, accepts cluster B's client certificate (signed by B's CA) and refuses one from a CA
// it was never given. The client is Debian's etcdctl (package etcd-client). A missing program
// fails the test, naming its package; etcd is stopped by its pid in TearDown.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/file_util.h"
#include "core/process_runner.h"
#include "testing/tools.h"

namespace carrierarr {
namespace {

using ::carrierarr::testing::CarrierarrBinary;
using ::carrierarr::testing::RequireProgram;
using ::carrierarr::testing::RunIn;
using ::carrierarr::testing::ScratchDir;
using ::carrierarr::testing::Slurp;
using ::testing::AllOf;
using ::testing::HasSubstr;

// A TCP port on 127.0.0.1 that nothing listens on now (the kernel picks it).
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  if (fd >= 0) ::close(fd);
  EXPECT_NE(port, 0) << "cannot find a free loopback port";
  return port;
}

// What etcd (Go's crypto/tls) logs when it refuses a client certificate of a CA it does not trust.
constexpr char kUnknownClientCa[] =
    "failed to verify client certificate: x509: certificate signed by unknown authority";

// Runs `carrierarr pki clustermesh ARGS` in `dir`; it must succeed.
void Clustermesh(const std::string& dir, std::vector<std::string> args) {
  args.insert(args.begin(), {CarrierarrBinary(), "pki", "clustermesh"});
  RunResult r = RunIn(dir, args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

class ClusterMeshEtcdTest : public ::testing::Test {
 protected:
  // The clusters' material, made once: A (RSA, three mesh IPs) trusts B; B (ECDSA leaves under
  // its RSA CA, as Cilium's certgen makes them) re-issued with its own CA to trust A back; a
  // stranger nobody trusts.
  static void SetUpTestSuite() {
    dir_ = new ScratchDir();
    const std::string d = dir_->path();
    Clustermesh(
        d, {"-cluster", "aws-k3s", "-out-dir", "b", "-mesh-ip", "10.42.1.1", "-key-type", "ecdsa"});
    Clustermesh(d, {"-cluster", "talos-home", "-out-dir", "a", "-mesh-ip", "10.42.0.1", "-mesh-ip",
                    "10.42.0.7", "-mesh-ip", "fd42::1", "-trust", "b/ca.crt"});
    Clustermesh(
        d, {"-cluster", "aws-k3s", "-out-dir", "b", "-mesh-ip", "10.42.1.1", "-key-type", "ecdsa",
            "-ca-cert", "b/ca.crt", "-ca-key", "b/ca.key", "-trust", "a/ca.crt", "-force"});
    Clustermesh(d, {"-cluster", "stranger", "-out-dir", "c", "-mesh-ip", "10.42.9.9"});
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    etcd_ = RequireProgram("etcd", "etcd-server");
    etcdctl_ = RequireProgram("etcdctl", "etcd-client");
    openssl_ = RequireProgram("openssl", "openssl");
  }

  void TearDown() override {
    if (pid_ <= 0) return;
    Status s = runner_->StopProcess(pid_, marker_, std::chrono::seconds(5));
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_FALSE(runner_->ProcessMatches(pid_, marker_)) << "etcd " << pid_ << " is still running";
  }

  static std::string In(const std::string& name) { return *dir_ / name; }

  // Starts etcd with A's server certificate, trusting `trusted_ca_file` for client certificates,
  // and waits (at most 30 s) until it serves clients.
  void StartEtcd(const std::string& trusted_ca_file) {
    ASSERT_FALSE(etcd_.empty());
    port_ = FreePort();
    const int peer_port = FreePort();
    const std::string client_url = "https://127.0.0.1:" + std::to_string(port_);
    const std::string peer_url = "http://127.0.0.1:" + std::to_string(peer_port);
    const std::string data_dir = run_dir_ / "data";
    log_path_ = run_dir_ / "etcd.log";
    marker_ = "--data-dir " + data_dir;
    auto pid = runner_->StartDaemon({etcd_,
                                     "--name",
                                     "crr-test",
                                     "--data-dir",
                                     data_dir,
                                     "--listen-client-urls",
                                     client_url,
                                     "--advertise-client-urls",
                                     client_url,
                                     "--listen-peer-urls",
                                     peer_url,
                                     "--initial-advertise-peer-urls",
                                     peer_url,
                                     "--initial-cluster",
                                     "crr-test=" + peer_url,
                                     "--cert-file",
                                     In("a/server.crt"),
                                     "--key-file",
                                     In("a/server.key"),
                                     "--client-cert-auth",
                                     "--trusted-ca-file",
                                     trusted_ca_file},
                                    {.log_path = log_path_});
    ASSERT_TRUE(pid.ok()) << pid.status().ToString();
    pid_ = *pid;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (Log().find("ready to serve client requests") == std::string::npos) {
      ASSERT_TRUE(runner_->ProcessMatches(pid_, marker_)) << "etcd exited:\n" << Log();
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "etcd not ready in 30 s:\n" << Log();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  // etcdctl against our etcd with cluster `client_dir`'s client certificate, trusting
  // `server_ca` for the server's certificate.
  RunResult Etcdctl(const std::string& client_dir, const std::string& server_ca,
                    std::vector<std::string> command) {
    std::vector<std::string> argv = {etcdctl_,
                                     "--endpoints",
                                     "https://127.0.0.1:" + std::to_string(port_),
                                     "--cacert",
                                     server_ca,
                                     "--cert",
                                     In(client_dir + "/client.crt"),
                                     "--key",
                                     In(client_dir + "/client.key"),
                                     "--dial-timeout",
                                     "3s",
                                     "--command-timeout",
                                     "5s"};
    argv.insert(argv.end(), command.begin(), command.end());
    auto r =
        runner_->Run(argv, {.timeout = std::chrono::seconds(30), .extra_env = {"ETCDCTL_API=3"}});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : RunResult{};
  }

  std::string Log() const {
    auto log = ReadFile(log_path_);
    return log.ok() ? *log : "";
  }

  // Waits (at most 10 s) for etcd to log `text`: it logs a rejected handshake after it happened.
  bool LogEventually(const std::string& text) const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (Log().find(text) == std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return true;
  }

  static ScratchDir* dir_;
  ScratchDir run_dir_;
  ProcessRunner* runner_ = RealProcessRunner::Get();
  std::string etcd_, etcdctl_, openssl_, log_path_, marker_;
  pid_t pid_ = -1;
  int port_ = 0;
};

ScratchDir* ClusterMeshEtcdTest::dir_ = nullptr;

TEST_F(ClusterMeshEtcdTest, OtherClustersClientIsAcceptedThroughTheCombinedBundle) {
  ASSERT_NO_FATAL_FAILURE(StartEtcd(In("a/ca-bundle.crt")));
  // B's agent trusts A's server through B's own combined bundle, over the SAN 127.0.0.1.
  RunResult put = Etcdctl("b", In("b/ca-bundle.crt"), {"put", "cilium/state/nodes", "ok"});
  ASSERT_EQ(put.exit_code, 0) << put.err << "\netcd log:\n" << Log();
  RunResult get = Etcdctl("b", In("b/ca-bundle.crt"), {"get", "cilium/state/nodes"});
  EXPECT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(get.out, "cilium/state/nodes\nok\n");
  // A's own client too.
  RunResult own = Etcdctl("a", In("a/ca-bundle.crt"), {"get", "cilium/state/nodes"});
  EXPECT_EQ(own.exit_code, 0) << own.err;
}

TEST_F(ClusterMeshEtcdTest, ClientOfAnUnknownCaIsRefused) {
  ASSERT_NO_FATAL_FAILURE(StartEtcd(In("a/ca-bundle.crt")));
  RunResult put = Etcdctl("c", In("a/ca.crt"), {"put", "k", "v"});
  EXPECT_NE(put.exit_code, 0) << put.out;
  EXPECT_TRUE(LogEventually(kUnknownClientCa)) << Log();
}

// Without the other cluster's CA in the trusted file, its client is an unknown authority: the
// bundle is what lets B in.
TEST_F(ClusterMeshEtcdTest, OwnCaAloneRefusesTheOtherCluster) {
  ASSERT_NO_FATAL_FAILURE(StartEtcd(In("a/ca.crt")));
  RunResult put = Etcdctl("b", In("b/ca-bundle.crt"), {"put", "k", "v"});
  EXPECT_NE(put.exit_code, 0) << put.out;
  EXPECT_TRUE(LogEventually(kUnknownClientCa)) << Log();
}

TEST_F(ClusterMeshEtcdTest, OpensslListsEveryMeshAddressInTheServerSans) {
  ASSERT_FALSE(openssl_.empty());
  RunResult r = RunIn(dir_->path(), {openssl_, "x509", "-noout", "-ext", "subjectAltName", "-in",
                                     In("a/server.crt")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out,
              AllOf(HasSubstr("DNS:clustermesh-apiserver.cilium.io"),
                    HasSubstr("DNS:clustermesh-apiserver.kube-system.svc"),
                    HasSubstr("DNS:*.mesh.cilium.io"), HasSubstr("IP Address:127.0.0.1"),
                    HasSubstr("IP Address:0:0:0:0:0:0:0:1"), HasSubstr("IP Address:10.42.0.1"),
                    HasSubstr("IP Address:10.42.0.7"), HasSubstr("IP Address:FD42:0:0:0:0:0:0:1")));
  RunResult eku = RunIn(dir_->path(), {openssl_, "x509", "-noout", "-ext", "extendedKeyUsage",
                                       "-in", In("b/client.crt")});
  EXPECT_THAT(eku.out, HasSubstr("TLS Web Client Authentication"));
  EXPECT_EQ(Slurp(In("b/ca-bundle.crt")), Slurp(In("b/ca.crt")) + Slurp(In("a/ca.crt")));
}

}  // namespace
}  // namespace carrierarr
