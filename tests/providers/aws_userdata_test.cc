// The userdata of an AWS node: the seeds' "grep -c BEGIN NEBULA" check done as a test, the
// files and their modes as cloud-init will write them (parsed back with yaml-cpp), k3s bound to
// the mesh, the agent's argv, refusal of values that could break out of their place, the size
// limit, and Base64 against RFC 4648.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <nlohmann/json.hpp>

#include "providers/aws/userdata.h"

namespace carrierarr::aws_provider {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

int Count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

UserdataParams Worker() {
  UserdataParams p;
  p.fleet = "demo";
  p.node = "gpu-1";
  p.agent_type = "gpu-worker";
  p.arch = "x86_64";
  p.mesh_ip = "10.42.2.1";
  p.ca_crt =
      "-----BEGIN NEBULA CERTIFICATE-----\nCkAKDmRlbW8tbWVzaA==\n-----END NEBULA "
      "CERTIFICATE-----\n";
  p.host_crt =
      "-----BEGIN NEBULA CERTIFICATE-----\nCmYKBWdwdS0x\n-----END NEBULA CERTIFICATE-----\n";
  p.host_key =
      "-----BEGIN NEBULA X25519 PRIVATE KEY-----\nc2VjcmV0\n-----END NEBULA X25519 PRIVATE "
      "KEY-----\n";
  p.nebula_config =
      "pki:\n  ca: /etc/nebula/ca.crt\nstatic_host_map:\n  '10.42.0.1': ['198.51.100.7:4242']\n";
  p.nebula_version = "1.9.5";
  p.agent_url = "https://example.org/carrierarr-agent-x86_64";
  p.agent_sha256 = std::string(64, 'a');
  p.agent_token = "cet_0123456789abcdef";
  p.control_plane = "10.42.1.1:50051";
  p.k3s_server_ip = "10.42.0.1";
  p.k3s_token = "0123456789abcdef";
  return p;
}

// path -> (permissions, content) of write_files.
std::map<std::string, std::pair<std::string, std::string>> Files(const std::string& userdata) {
  YAML::Node doc = YAML::Load(userdata);
  std::map<std::string, std::pair<std::string, std::string>> out;
  for (const auto& f : doc["write_files"])
    out[f["path"].as<std::string>()] = {f["permissions"].as<std::string>(),
                                        f["content"].as<std::string>()};
  return out;
}

TEST(UserdataTest, EmbedsTheCertificatesVerbatimWithPrivateModes) {
  UserdataParams p = Worker();
  auto ud = RenderUserdata(p);
  ASSERT_TRUE(ud.ok()) << ud.status().ToString();
  EXPECT_EQ(ud->rfind("#cloud-config\n", 0), 0u);
  EXPECT_EQ(Count(*ud, "BEGIN NEBULA"), 3) << "CA certificate, host certificate, host key";
  auto files = Files(*ud);
  EXPECT_EQ(files["/etc/nebula/ca.crt"], std::make_pair(std::string("0600"), p.ca_crt));
  EXPECT_EQ(files["/etc/nebula/host.key"], std::make_pair(std::string("0600"), p.host_key));
  EXPECT_EQ(files["/etc/nebula/config.yml"].second, p.nebula_config);
  EXPECT_EQ(files["/etc/carrierarr/agent.token"].first, "0600");
  EXPECT_EQ(files["/usr/local/lib/carrierarr/bootstrap.sh"].first, "0700");
  // k3s agent on the mesh.
  const std::string k3s = files["/etc/rancher/k3s/config.yaml"].second;
  EXPECT_EQ(files["/etc/rancher/k3s/config.yaml"].first, "0600");
  EXPECT_THAT(k3s, HasSubstr("node-ip: 10.42.2.1"));
  EXPECT_THAT(k3s, HasSubstr("flannel-iface: nebula1"));
  EXPECT_THAT(k3s, HasSubstr("server: https://10.42.0.1:6443"));
  // The agent, enrolled with its token, pointed at the control plane over the mesh.
  EXPECT_THAT(files["/etc/systemd/system/carrierarr-agent.service"].second,
              HasSubstr("--control-plane 10.42.1.1:50051 --node-id gpu-1 --type gpu-worker "
                        "--token-file /etc/carrierarr/agent.token"));
  const std::string boot = files["/usr/local/lib/carrierarr/bootstrap.sh"].second;
  EXPECT_THAT(boot, HasSubstr("nebula-linux-amd64.tar.gz"));
  EXPECT_THAT(boot, HasSubstr("SHASUM256.txt"));
  EXPECT_THAT(boot, HasSubstr("sha256sum -c"));
  EXPECT_THAT(boot, HasSubstr("INSTALL_K3S_EXEC='agent'"));
}

TEST(UserdataTest, TheServerAdvertisesItsMeshAddress) {
  UserdataParams p = Worker();
  p.node = "lighthouse";
  p.agent_type = "lighthouse";
  p.mesh_ip = "10.42.0.1";
  p.k3s_server = true;
  p.arch = "arm64";
  auto ud = RenderUserdata(p);
  ASSERT_TRUE(ud.ok());
  const std::string k3s = Files(*ud)["/etc/rancher/k3s/config.yaml"].second;
  EXPECT_THAT(k3s, HasSubstr("advertise-address: 10.42.0.1"));
  EXPECT_THAT(k3s, HasSubstr("tls-san:\n  - 10.42.0.1"));
  EXPECT_THAT(k3s, Not(HasSubstr("server:")));
  EXPECT_THAT(*ud, HasSubstr("nebula-linux-arm64.tar.gz"));
}

TEST(UserdataTest, SecretsManagerModeCarriesNoKeyMaterial) {
  UserdataParams p = Worker();
  p.ca_crt = p.host_crt = p.host_key = p.nebula_config = "";
  p.secret_id = "carrierarr/demo/gpu-1";
  p.region = "us-west-2";
  auto ud = RenderUserdata(p);
  ASSERT_TRUE(ud.ok()) << ud.status().ToString();
  EXPECT_EQ(Count(*ud, "BEGIN NEBULA"), 0);
  EXPECT_THAT(*ud, HasSubstr("aws secretsmanager get-secret-value --secret-id "
                             "'carrierarr/demo/gpu-1' --region 'us-west-2'"));
  auto j = nlohmann::json::parse(NebulaSecretJson(Worker(), "198.51.100.7:4242"));
  for (const char* key : {"nebula_ca_crt", "nebula_node_crt", "nebula_node_key", "nebula_ip",
                          "lighthouse_endpoint", "nebula_config"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["lighthouse_endpoint"], "198.51.100.7:4242");
}

TEST(UserdataTest, RefusesValuesThatCouldBreakOut) {
  for (auto mutate : std::vector<std::function<void(UserdataParams&)>>{
           [](UserdataParams& p) { p.node = "gpu-1'; rm -rf /"; },
           [](UserdataParams& p) { p.node = "gpu\n-1"; },
           [](UserdataParams& p) { p.agent_token = "cet_a b"; },
           [](UserdataParams& p) { p.agent_url = "https://x/a'b"; },
           [](UserdataParams& p) { p.agent_url = "ftp://x/a"; },
           [](UserdataParams& p) { p.control_plane = "10.42.1.1:50051 --allow-exec"; },
           [](UserdataParams& p) { p.arch = "mips"; },
           [](UserdataParams& p) { p.host_key.clear(); }}) {
    UserdataParams p = Worker();
    mutate(p);
    auto ud = RenderUserdata(p);
    EXPECT_EQ(ud.status().code(), StatusCode::kInvalidArgument) << p.node << " " << p.agent_url;
  }
}

TEST(UserdataTest, OverSixteenKilobytesSaysHowToShrinkIt) {
  UserdataParams p = Worker();
  p.nebula_config += "# " + std::string(kMaxUserdataBytes, 'x') + "\n";
  auto ud = RenderUserdata(p);
  ASSERT_FALSE(ud.ok());
  EXPECT_THAT(ud.status().message(), HasSubstr("nebula_material: secretsmanager"));
}

TEST(UserdataTest, Base64MatchesRfc4648) {
  EXPECT_EQ(Base64(""), "");
  EXPECT_EQ(Base64("f"), "Zg==");
  EXPECT_EQ(Base64("fo"), "Zm8=");
  EXPECT_EQ(Base64("foo"), "Zm9v");
  EXPECT_EQ(Base64("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64(std::string("\xff\xfe", 2)), "//4=");
}

}  // namespace
}  // namespace carrierarr::aws_provider
