// The real `nebula` daemon accepts the material carrierarr mints. `nebula -test -config F` loads
// the CA pool, the node's certificate and key, the firewall and the lighthouse map, then exits
// without opening a tun device, so it needs no root. Never start nebula here without -test.
#include <gtest/gtest.h>

#include <chrono>
#include <ostream>
#include <string>
#include <vector>

#include "core/file_util.h"
#include "pki/authority.h"
#include "pki/cert.h"
#include "testing/tools.h"

namespace carrierarr::pki {
namespace {

using ::carrierarr::testing::CarrierarrBinary;
using ::carrierarr::testing::RequireProgram;
using ::carrierarr::testing::RunIn;
using ::carrierarr::testing::ScratchDir;
using ::carrierarr::testing::Slurp;

Ipv4Net Cidr(const std::string& text) {
  auto net = ParseCidr(text);
  EXPECT_TRUE(net.ok()) << text << ": " << net.status().ToString();
  return net.ok() ? *net : Ipv4Net{};
}

void Write(const std::string& path, const std::string& data) {
  Status s = WriteFileAtomic(path, data, 0600);
  ASSERT_TRUE(s.ok()) << s.ToString();
}

struct NodeConfig {
  std::string ca, cert, key;  // file paths
  bool am_lighthouse = false;
  std::string extra_inbound;  // one more inbound rule, as YAML lines indented like the others
};

// The seeds' layout: one lighthouse at 10.42.0.1 reached on 127.0.0.1:4242, allow-all firewall.
std::string ConfigYaml(const NodeConfig& c) {
  std::string y = "pki:\n  ca: " + c.ca + "\n  cert: " + c.cert + "\n  key: " + c.key + "\n";
  y += "static_host_map:\n  \"10.42.0.1\": [\"127.0.0.1:4242\"]\n";
  y += "lighthouse:\n";
  y += c.am_lighthouse ? "  am_lighthouse: true\n"
                       : "  am_lighthouse: false\n  hosts:\n    - \"10.42.0.1\"\n";
  y += "listen:\n  host: 0.0.0.0\n  port: " + std::string(c.am_lighthouse ? "4242" : "0") + "\n";
  y += "tun:\n  dev: crr-test0\n";  // <= 15 characters, the kernel's limit
  y += "firewall:\n  outbound:\n    - port: any\n      proto: any\n      host: any\n";
  y += "  inbound:\n    - port: any\n      proto: any\n      host: any\n" + c.extra_inbound;
  return y;
}

struct Minted {
  std::string ca_crt, host_crt, host_key;  // paths
};

enum class Source { kLibrary, kCli };

// A CA and one host, written into `dir` by our library or by the `carrierarr pki` binary.
Minted Mint(const ScratchDir& dir, Source source, const std::string& host, const std::string& ip,
            const std::string& groups_csv) {
  Minted m{dir / "ca.crt", dir / (host + ".crt"), dir / (host + ".key")};
  if (source == Source::kCli) {
    auto ca = RunIn(dir.path(), {CarrierarrBinary(), "pki", "ca", "-name", "mesh-ca", "-groups",
                                 "lighthouse,servers,ops", "-ips", "10.42.0.0/16", "-subnets",
                                 "192.168.0.0/16"});
    EXPECT_EQ(ca.exit_code, 0) << ca.err;
    auto sign = RunIn(dir.path(), {CarrierarrBinary(), "pki", "sign", "-name", host, "-ip", ip,
                                   "-groups", groups_csv, "-subnets", "192.168.7.0/24"});
    EXPECT_EQ(sign.exit_code, 0) << sign.err;
    return m;
  }
  const auto now = std::chrono::system_clock::now();
  auto ca = CreateCa({.name = "mesh-ca",
                      .groups = {"lighthouse", "servers", "ops"},
                      .ips = {Cidr("10.42.0.0/16")},
                      .subnets = {Cidr("192.168.0.0/16")}},
                     now);
  EXPECT_TRUE(ca.ok()) << ca.status().ToString();
  if (!ca.ok()) return m;
  auto authority = CertificateAuthority::Create(ca->cert, ca->private_key);
  EXPECT_TRUE(authority.ok()) << authority.status().ToString();
  if (!authority.ok()) return m;
  HostOptions options{.name = host, .ip = Cidr(ip), .subnets = {Cidr("192.168.7.0/24")}};
  for (size_t start = 0; start <= groups_csv.size();) {
    size_t comma = groups_csv.find(',', start);
    if (comma == std::string::npos) comma = groups_csv.size();
    options.groups.push_back(groups_csv.substr(start, comma - start));
    start = comma + 1;
  }
  auto minted = authority->Sign(options, now);
  EXPECT_TRUE(minted.ok()) << minted.status().ToString();
  if (!minted.ok()) return m;
  Write(m.ca_crt, ca->CertPem());
  Write(m.host_crt, minted->CertPem());
  Write(m.host_key, minted->KeyPem());
  return m;
}

struct RunCase {
  std::string name;
  Source source;
  bool am_lighthouse;
  std::string host, ip;
  // Breaks the minted files or config before the run; may be null.
  void (*sabotage)(const ScratchDir& dir, const Minted& minted, NodeConfig& config);
  std::string want_log;  // empty: `nebula -test` must pass; else it must fail and log this
};

void PrintTo(const RunCase& c, std::ostream* os) { *os << c.name; }

void SwapKeyForAnotherHosts(const ScratchDir& dir, const Minted& minted, NodeConfig& config) {
  // A valid X25519 key of the same CA, just not the one in the certificate.
  auto other = RunIn(dir.path(), {CarrierarrBinary(), "pki", "keygen", "-out-key",
                                  dir / "other.key", "-out-pub", dir / "other.pub"});
  ASSERT_EQ(other.exit_code, 0) << other.err;
  ASSERT_NE(Slurp(minted.host_key), Slurp(dir / "other.key"));
  config.key = dir / "other.key";
}

void UseHostCertAsCa(const ScratchDir& /*dir*/, const Minted& minted, NodeConfig& config) {
  config.ca = minted.host_crt;
}

void AddGroupRule(const ScratchDir& /*dir*/, const Minted& /*minted*/, NodeConfig& config) {
  // Groups in one rule are AND-ed; the rule must parse with our certificate's group names.
  config.extra_inbound =
      "    - port: 22\n      proto: tcp\n      groups:\n        - servers\n        - ops\n";
}

const RunCase kRunCases[] = {
    {"LighthouseFromLibrary", Source::kLibrary, true, "lighthouse", "10.42.0.1/16", nullptr, ""},
    {"LighthouseFromCli", Source::kCli, true, "lighthouse", "10.42.0.1/16", nullptr, ""},
    {"NodeFromLibrary", Source::kLibrary, false, "web-1", "10.42.2.1/16", nullptr, ""},
    {"NodeFromCli", Source::kCli, false, "web-1", "10.42.2.1/16", nullptr, ""},
    {"NodeWithGroupFirewallRule", Source::kLibrary, false, "web-1", "10.42.2.1/16", AddGroupRule,
     ""},
    {"KeyNotMatchingCert", Source::kLibrary, false, "web-1", "10.42.2.1/16", SwapKeyForAnotherHosts,
     "private key is not a pair with public key in nebula cert"},
    {"KeyNotMatchingCertFromCli", Source::kCli, true, "lighthouse", "10.42.0.1/16",
     SwapKeyForAnotherHosts, "private key is not a pair with public key in nebula cert"},
    {"CaFileHoldsHostCert", Source::kLibrary, false, "web-1", "10.42.2.1/16", UseHostCertAsCa,
     "web-1: certificate is not a CA"},
    // The seeds' /24 trap: the lighthouse lies outside the node's own certificate network.
    {"NarrowMaskCannotReachLighthouse", Source::kLibrary, false, "web-1", "10.42.2.1/24", nullptr,
     "static_host_map key is not in our subnet"},
};

class NebulaRunTest : public ::testing::TestWithParam<RunCase> {};

TEST_P(NebulaRunTest, NebulaTestJudgesOurMaterial) {
  const RunCase& c = GetParam();
  const std::string nebula = RequireProgram("nebula", "nebula");
  ASSERT_FALSE(nebula.empty());
  ScratchDir dir;
  Minted minted = Mint(dir, c.source, c.host, c.ip, c.am_lighthouse ? "lighthouse" : "servers,ops");
  ASSERT_FALSE(::testing::Test::HasFailure());
  NodeConfig config{minted.ca_crt, minted.host_crt, minted.host_key, c.am_lighthouse, ""};
  if (c.sabotage != nullptr) c.sabotage(dir, minted, config);
  ASSERT_FALSE(::testing::Test::HasFailure());
  const std::string config_path = dir / "config.yml";
  Write(config_path, ConfigYaml(config));

  RunResult run = RunIn(dir.path(), {nebula, "-test", "-config", config_path});
  const std::string log = run.out + run.err;  // nebula logs to stdout
  ASSERT_FALSE(run.signaled) << "signal " << run.signal << (run.timed_out ? " (timed out)" : "");
  if (c.want_log.empty()) {
    EXPECT_EQ(run.exit_code, 0) << log;
    EXPECT_EQ(log.find("level=error"), std::string::npos) << log;
  } else {
    EXPECT_NE(run.exit_code, 0) << log;
    EXPECT_NE(log.find(c.want_log), std::string::npos) << "want \"" << c.want_log << "\" in:\n"
                                                       << log;
  }
}

INSTANTIATE_TEST_SUITE_P(Configs, NebulaRunTest, ::testing::ValuesIn(kRunCases),
                         [](const ::testing::TestParamInfo<RunCase>& param) {
                           return param.param.name;
                         });

}  // namespace
}  // namespace carrierarr::pki
