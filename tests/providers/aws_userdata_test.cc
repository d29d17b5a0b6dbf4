// The userdata of an AWS node, read back the way cloud-init reads it: a YAML document whose
// write_files carry the Nebula PEM (minted here by the project's own CA) byte for byte with
// private modes, k3s bound to the mesh address, the agent's argv, a bootstrap script that bash
// accepts, a Secrets Manager mode without key material (its splitter run on the real secret
// JSON), refusal of every value that could break out of its place, the 16 KB limit, and Base64
// against RFC 4648.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/file_util.h"
#include "core/ipv4.h"
#include "core/subprocess.h"
#include "pki/authority.h"
#include "providers/aws/userdata.h"
#include "testing/fake_model_server.h"
#include "testing/loopback_server.h"
#include "testing/tools.h"

namespace carrierarr::aws_provider {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kBootstrap[] = "/usr/local/lib/carrierarr/bootstrap.sh";
constexpr char kSplitSecret[] = "/usr/local/lib/carrierarr/split-secret.py";
constexpr char kToken[] = "/etc/carrierarr/agent.token";
constexpr char kK3sConfig[] = "/etc/rancher/k3s/config.yaml";
constexpr char kK3sUnit[] = "/etc/systemd/system/k3s.service";
constexpr char kK3sServerToken[] = "/etc/rancher/k3s/server-token";
constexpr char kK3sAgentToken[] = "/etc/rancher/k3s/agent-token";
constexpr char kAgentUnit[] = "/etc/systemd/system/carrierarr-agent.service";
constexpr char kNebulaUnit[] = "/etc/systemd/system/nebula.service";
constexpr char kOllamaUnit[] = "/etc/systemd/system/ollama.service";
constexpr char kModelsUnit[] = "/etc/systemd/system/carrierarr-models.service";
constexpr char kModelsScript[] = "/usr/local/lib/carrierarr/carrierarr-models.py";
constexpr char kModelsConfig[] = "/etc/carrierarr/ollama-models.json";

int Count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// A CA and host certificates from the project's own PKI, so the PEM is the real thing.
struct Material {
  std::string ca, cert, key;
};

Material Mint(const std::string& name, const std::string& ip, std::vector<std::string> groups) {
  const pki::TimePoint now = std::chrono::system_clock::now();
  auto ca = pki::CreateCa({.name = "demo-mesh"}, now);
  EXPECT_TRUE(ca.ok()) << ca.status().ToString();
  if (!ca.ok()) return {};
  auto authority = pki::CertificateAuthority::Create(ca->cert, ca->private_key);
  EXPECT_TRUE(authority.ok()) << authority.status().ToString();
  if (!authority.ok()) return {};
  auto mesh_ip = ParseIpv4(ip);
  EXPECT_TRUE(mesh_ip.ok());
  auto host = authority->Sign(
      {.name = name, .ip = Ipv4Net{*mesh_ip, PrefixToMask(16)}, .groups = std::move(groups)}, now);
  EXPECT_TRUE(host.ok()) << host.status().ToString();
  if (!host.ok()) return {};
  return {ca->CertPem(), host->CertPem(), host->KeyPem()};
}

std::string NebulaConfig(const std::string& lighthouse_endpoint, bool am_lighthouse) {
  return "pki:\n  ca: /etc/nebula/ca.crt\n  cert: /etc/nebula/host.crt\n  key: "
         "/etc/nebula/host.key\nstatic_host_map:\n  \"10.42.0.1\": [\"" +
         lighthouse_endpoint + "\"]\nlighthouse:\n  am_lighthouse: " +
         (am_lighthouse ? "true\n  hosts: []\n" : "false\n  hosts:\n    - \"10.42.0.1\"\n") +
         "listen:\n  host: 0.0.0.0\n  port: " + (am_lighthouse ? "4242" : "0") +
         "\ntun:\n  dev: nebula1\n  mtu: 1300\nfirewall:\n  outbound:\n    - port: any\n"
         "      proto: any\n      host: any\n  inbound:\n    - port: any\n      proto: icmp\n"
         "      host: any\n";
}

// The lighthouse: the k3s server.
UserdataParams Lighthouse() {
  const Material m = Mint("lighthouse", "10.42.0.1", {"lighthouse"});
  UserdataParams p;
  p.fleet = "demo";
  p.node = "lighthouse";
  p.agent_type = "lighthouse";
  p.arch = "x86_64";
  p.mesh_ip = "10.42.0.1";
  p.ca_crt = m.ca;
  p.host_crt = m.cert;
  p.host_key = m.key;
  p.nebula_config = NebulaConfig("198.51.100.7:4242", true);
  p.region = "us-west-2";
  p.nebula_version = "1.9.5";
  p.agent_url = "https://downloads.example.org/carrierarr-agent-x86_64";
  p.agent_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
  p.agent_token = "cet_5d41402abc4b2a76b9719d911017c592aabbccddeeff00112233445566778899";
  p.control_plane = "10.42.1.1:50051";
  p.k3s_server = true;
  p.k3s_version = "v1.31.4+k3s1";
  p.k3s_token = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
  p.k3s_agent_token = "a9b8c7d6e5f40312a9b8c7d6e5f40312a9b8c7d6e5f40312a9b8c7d6e5f40312";
  return p;
}

// federation.mode clustermesh: k3s without flannel, and Cilium installed by the server.
UserdataParams WithCilium(UserdataParams p) {
  p.cilium_version = "1.16.5";
  p.cilium_cli_version = "v0.16.22";
  p.cluster_name = "aws-k3s";
  p.cluster_id = 2;
  p.clustermesh_port = 32380;
  return p;
}

// The k3s server of a fleet with GPU workers: the NVIDIA device plugin is in its manifests.
UserdataParams WithDevicePlugin(UserdataParams p) {
  p.device_plugin_image = "nvcr.io/nvidia/k8s-device-plugin:v0.17.0";
  return p;
}

// A GPU worker on arm64: a k3s agent that joins the lighthouse.
UserdataParams GpuWorker() {
  const Material m = Mint("gpu-1", "10.42.2.1", {"workers", "gpu-compute"});
  UserdataParams p = Lighthouse();
  p.node = "gpu-1";
  p.agent_type = "gpu-worker";
  p.arch = "arm64";
  p.mesh_ip = "10.42.2.1";
  p.ca_crt = m.ca;
  p.host_crt = m.cert;
  p.host_key = m.key;
  p.nebula_config = NebulaConfig("198.51.100.7:4242", false);
  p.agent_url = "https://downloads.example.org/carrierarr-agent-arm64?X-Amz-Signature=abc123";
  p.k3s_server = false;
  p.k3s_server_ip = "10.42.0.1";
  p.k3s_token.clear();  // the server's: never on an agent
  return p;
}

// A node of a pool with models: Ollama pinned, its models on the second volume.
UserdataParams WithOllama(UserdataParams p, std::string device = kModelsDevice) {
  p.ollama_version = "0.13.3";
  p.models = {"llama3:8b", "nomic-embed-text"};
  p.keep_alive = "-1";
  p.models_device = std::move(device);
  return p;
}

UserdataParams InSecretsManager(UserdataParams p) {
  p.ca_crt.clear();
  p.host_crt.clear();
  p.host_key.clear();
  p.nebula_config.clear();
  p.secret_id = "carrierarr/demo/" + p.node;
  return p;
}

struct File {
  std::string owner, permissions, content;
};

// The document after "#cloud-config", parsed as cloud-init will: write_files by path.
std::map<std::string, File> Files(const std::string& userdata) {
  std::map<std::string, File> out;
  EXPECT_EQ(userdata.rfind("#cloud-config\n", 0), 0u) << "cloud-init needs this first line";
  YAML::Node doc = YAML::Load(userdata.substr(userdata.find('\n') + 1));
  EXPECT_TRUE(doc["write_files"].IsSequence());
  for (const auto& f : doc["write_files"]) {
    const std::string path = f["path"].as<std::string>();
    EXPECT_EQ(out.count(path), 0u) << path << " written twice";
    out[path] = {f["owner"].as<std::string>(), f["permissions"].as<std::string>(),
                 f["content"].as<std::string>()};
  }
  return out;
}

Result<std::map<std::string, File>> RenderFiles(const UserdataParams& p) {
  auto ud = RenderUserdata(p);
  if (!ud.ok()) return ud.status();
  return Files(*ud);
}

std::set<std::string> Paths(const std::map<std::string, File>& files) {
  std::set<std::string> out;
  for (const auto& [path, file] : files) out.insert(path);
  return out;
}

// The words of a systemd unit's ExecStart (no quoting in ours: every value is one word).
std::vector<std::string> ExecStart(const std::string& unit) {
  const size_t at = unit.find("\nExecStart=");
  if (at == std::string::npos) return {};
  const size_t start = at + 11;
  std::istringstream words(unit.substr(start, unit.find('\n', start) - start));
  std::vector<std::string> argv;
  for (std::string w; words >> w;) argv.push_back(w);
  return argv;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = std::filesystem::temp_directory_path().string() + "/userdata-test-XXXXXX";
    EXPECT_NE(::mkdtemp(tmpl.data()), nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// ---- the lighthouse and a worker ------------------------------------------------------------

TEST(RenderUserdataTest, LighthouseCarriesItsNebulaMaterialVerbatimWithPrivateModes) {
  const UserdataParams p = Lighthouse();
  auto ud = RenderUserdata(p);
  ASSERT_TRUE(ud.ok()) << ud.status().ToString();
  // The seeds' check: CA certificate, host certificate, host key.
  EXPECT_EQ(Count(*ud, "BEGIN NEBULA"), 3) << *ud;

  auto files = Files(*ud);
  EXPECT_EQ(Paths(files), (std::set<std::string>{
                              "/etc/nebula/ca.crt", "/etc/nebula/host.crt", "/etc/nebula/host.key",
                              "/etc/nebula/config.yml", kNebulaUnit, kToken, kAgentUnit, kK3sConfig,
                              kK3sUnit, kK3sServerToken, kK3sAgentToken, kBootstrap}));
  // Byte for byte what was given, readable by root alone.
  const std::map<std::string, std::string> secret_files = {
      {"/etc/nebula/ca.crt", p.ca_crt},
      {"/etc/nebula/host.crt", p.host_crt},
      {"/etc/nebula/host.key", p.host_key},
      {"/etc/nebula/config.yml", p.nebula_config},
      {kToken, p.agent_token + "\n"},
      {kK3sServerToken, p.k3s_token + "\n"},
      {kK3sAgentToken, p.k3s_agent_token + "\n"}};
  for (const auto& [path, content] : secret_files) {
    SCOPED_TRACE(path);
    EXPECT_EQ(files[path].content, content);
    EXPECT_EQ(files[path].permissions, "0600");
    EXPECT_EQ(files[path].owner, "root:root");
  }
  EXPECT_EQ(files[kK3sConfig].permissions, "0600");
  EXPECT_EQ(files[kK3sUnit].permissions, "0644");
  EXPECT_EQ(files[kBootstrap].permissions, "0700");
  EXPECT_EQ(files[kNebulaUnit].permissions, "0644");
  EXPECT_EQ(files[kAgentUnit].permissions, "0644");
  EXPECT_THAT(files[kNebulaUnit].content,
              HasSubstr("\nExecStart=/usr/local/bin/nebula -config /etc/nebula/config.yml\n"));
}

TEST(RenderUserdataTest, LighthouseRunsTheK3sServerOnItsMeshAddress) {
  const UserdataParams p = Lighthouse();
  auto files = RenderFiles(p);
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  const YAML::Node k3s = YAML::Load((*files)[kK3sConfig].content);
  EXPECT_EQ(k3s["node-ip"].as<std::string>(), "10.42.0.1");
  EXPECT_EQ(k3s["advertise-address"].as<std::string>(), "10.42.0.1");
  ASSERT_TRUE(k3s["tls-san"].IsSequence());
  EXPECT_EQ(k3s["tls-san"].as<std::vector<std::string>>(), std::vector<std::string>{"10.42.0.1"});
  EXPECT_EQ(k3s["flannel-iface"].as<std::string>(), "nebula1");
  // The server keeps its own token and admits agents with the agent token (k3s --agent-token).
  EXPECT_EQ(k3s["token-file"].as<std::string>(), kK3sServerToken);
  EXPECT_EQ(k3s["agent-token-file"].as<std::string>(), kK3sAgentToken);
  EXPECT_FALSE(k3s["token"].IsDefined()) << "no secret in the config itself";
  EXPECT_EQ(k3s["node-name"].as<std::string>(), "lighthouse");
  EXPECT_FALSE(k3s["server"].IsDefined()) << "the server joins nobody";
  EXPECT_THAT(ExecStart((*files)[kK3sUnit].content), ElementsAre("/usr/local/bin/k3s", "server"));
  EXPECT_THAT((*files)[kK3sUnit].content, HasSubstr("\nType=notify\n"));
  const std::string& boot = (*files)[kBootstrap].content;
  EXPECT_THAT(boot, HasSubstr("readonly K3S_ROLE='server'\n"));
  EXPECT_THAT(boot, HasSubstr("readonly K3S_VERSION='v1.31.4+k3s1'\n"));
  EXPECT_THAT(boot, Not(HasSubstr("get.k3s.io"))) << "no unpinned, unchecked installer";
  EXPECT_THAT(boot, HasSubstr("readonly NEBULA_ARCH='amd64'\n"));
}

// k3s's pod and service ranges stay off the mesh (its defaults are the mesh's 10.42.0.0/16).
TEST(RenderUserdataTest, K3sPodsAndServicesAreOffTheMesh) {
  auto files = RenderFiles(Lighthouse());
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  const YAML::Node k3s = YAML::Load((*files)[kK3sConfig].content);
  EXPECT_EQ(k3s["cluster-cidr"].as<std::string>(), "10.52.0.0/16");
  EXPECT_EQ(k3s["service-cidr"].as<std::string>(), "10.53.0.0/16");
  EXPECT_FALSE(k3s["flannel-backend"].IsDefined()) << "flannel unless ClusterMesh";
  EXPECT_THAT((*files)[kBootstrap].content, Not(HasSubstr("cilium")));
}

// ClusterMesh: k3s with --flannel-backend=none --disable-network-policy, and the server's first
// boot installs Cilium with the cloud cluster's name and id by the checked cilium CLI.
TEST(RenderUserdataTest, ClusterMeshServerInstallsCiliumWithTheClustersNameAndId) {
  auto files = RenderFiles(WithCilium(Lighthouse()));
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  const YAML::Node k3s = YAML::Load((*files)[kK3sConfig].content);
  EXPECT_EQ(k3s["flannel-backend"].as<std::string>(), "none");
  EXPECT_TRUE(k3s["disable-network-policy"].as<bool>());
  EXPECT_FALSE(k3s["flannel-iface"].IsDefined());
  const std::string& boot = (*files)[kBootstrap].content;
  EXPECT_THAT(boot, HasSubstr("readonly CILIUM_VERSION='1.16.5'\n"));
  EXPECT_THAT(boot, HasSubstr("readonly CILIUM_CLI_VERSION='v0.16.22'\n"));
  EXPECT_THAT(boot, HasSubstr("readonly CLUSTER_NAME='aws-k3s'\n"));
  EXPECT_THAT(boot, HasSubstr("readonly CLUSTER_ID='2'\n"));
  EXPECT_THAT(boot, HasSubstr("${RELEASES}/cilium/cilium-cli/releases/download/"
                              "${CILIUM_CLI_VERSION}"));
  EXPECT_THAT(boot, HasSubstr("\"${tarball}\" \"${tarball}.sha256sum\""))
      << "the CLI is checked against its release's sha256 before it runs";
  EXPECT_THAT(boot, HasSubstr("cilium install --version \"${CILIUM_VERSION}\" --set "
                              "cluster.name=\"${CLUSTER_NAME}\""));
  EXPECT_THAT(boot, HasSubstr("--set cluster.id=\"${CLUSTER_ID}\" --set ipam.mode=kubernetes"));
  // The peer dials the clustermesh-apiserver on the fleet's NodePort; status reads the agents'
  // metrics for the sync counts.
  EXPECT_THAT(boot, HasSubstr("readonly CLUSTERMESH_PORT='32380'\n"));
  for (const char* flag :
       {"--set clustermesh.useAPIServer=true", "--set clustermesh.apiserver.service.type=NodePort",
        "--set clustermesh.apiserver.service.nodePort=\"${CLUSTERMESH_PORT}\"",
        "--set prometheus.enabled=true"}) {
    EXPECT_THAT(boot, HasSubstr(flag));
  }
  // After k3s (whose kubeconfig it uses), before the end.
  EXPECT_LT(boot.find("systemctl enable --now k3s.service"), boot.find("cilium install"));
  EXPECT_LT(boot.find("cilium install"), boot.find("step='done'"));

  // Agents join without flannel too, and install nothing: Cilium's DaemonSet reaches them.
  auto agent = RenderFiles(WithCilium(GpuWorker()));
  ASSERT_TRUE(agent.ok()) << agent.status().ToString();
  const YAML::Node agent_k3s = YAML::Load((*agent)[kK3sConfig].content);
  EXPECT_FALSE(agent_k3s["flannel-iface"].IsDefined());
  EXPECT_THAT((*agent)[kBootstrap].content, Not(HasSubstr("cilium install")));
}

TEST(RenderUserdataTest, RefusesCiliumSettingsOutsideCiliumsRules) {
  struct Case {
    std::function<void(UserdataParams&)> edit;
    std::string want;
  };
  const std::vector<Case> cases = {
      {[](UserdataParams& p) { p.cilium_version = "latest"; }, "cilium_version"},
      {[](UserdataParams& p) { p.cilium_cli_version = "0.16.22"; }, "cilium_cli_version"},
      {[](UserdataParams& p) { p.cluster_name = std::string(33, 'a'); }, "at most 32"},
      {[](UserdataParams& p) { p.cluster_name = "AWS"; }, "cluster_name"},
      {[](UserdataParams& p) { p.cluster_id = 0; }, "1 to 255"},
      {[](UserdataParams& p) { p.cluster_id = 256; }, "1 to 255"},
      {[](UserdataParams& p) { p.clustermesh_port = 2379; }, "30000 to 32767"},
      {[](UserdataParams& p) { p.clustermesh_port = 32768; }, "30000 to 32767"},
  };
  for (const Case& c : cases) {
    UserdataParams p = WithCilium(Lighthouse());
    c.edit(p);
    auto ud = RenderUserdata(p);
    ASSERT_FALSE(ud.ok()) << c.want;
    EXPECT_THAT(ud.status().message(), HasSubstr(c.want));
  }
}

// A fleet with GPU workers: k3s applies the NVIDIA device plugin from its manifests directory,
// on the nodes the GPU workers' kubelets label; nothing of it elsewhere.
TEST(RenderUserdataTest, TheServerRunsTheDevicePluginOnTheGpuWorkers) {
  auto files = RenderFiles(WithDevicePlugin(Lighthouse()));
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  const std::string path =
      "/var/lib/rancher/k3s/server/manifests/carrierarr-nvidia-device-plugin.yaml";
  ASSERT_EQ(files->count(path), 1u);
  EXPECT_EQ((*files)[path].permissions, "0600");
  const YAML::Node ds = YAML::Load((*files)[path].content);
  EXPECT_EQ(ds["kind"].as<std::string>(), "DaemonSet");
  EXPECT_EQ(ds["metadata"]["namespace"].as<std::string>(), "kube-system");
  const YAML::Node pod = ds["spec"]["template"]["spec"];
  EXPECT_EQ(pod["runtimeClassName"].as<std::string>(), "nvidia");
  EXPECT_EQ(pod["nodeSelector"]["nvidia.com/gpu.present"].as<std::string>(), "true");
  EXPECT_EQ(pod["containers"][0]["image"].as<std::string>(),
            "nvcr.io/nvidia/k8s-device-plugin:v0.17.0");
  EXPECT_EQ(pod["volumes"][0]["hostPath"]["path"].as<std::string>(),
            "/var/lib/kubelet/device-plugins");

  auto worker = RenderFiles(GpuWorker());
  ASSERT_TRUE(worker.ok()) << worker.status().ToString();
  const YAML::Node k3s = YAML::Load((*worker)[kK3sConfig].content);
  ASSERT_TRUE(k3s["node-label"].IsSequence());
  EXPECT_EQ(k3s["node-label"][0].as<std::string>(), "nvidia.com/gpu.present=true");
  EXPECT_EQ(worker->count(path), 0u);
  auto plain = RenderFiles(Lighthouse());
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->count(path), 0u);
  EXPECT_FALSE(YAML::Load((*plain)[kK3sConfig].content)["node-label"].IsDefined());
}

// The manifest passes the strict core-API check (unknown fields and wrong types are errors).
TEST(RenderUserdataTest, TheDevicePluginManifestIsAValidDaemonSet) {
  const RunResult check =
      ::carrierarr::testing::SchemaCheck(NvidiaDevicePluginManifest("registry.lan/dp:v1"));
  EXPECT_EQ(check.exit_code, 0) << check.err;
}

TEST(RenderUserdataTest, TheDevicePluginIsTheServersAndAnImage) {
  UserdataParams worker = GpuWorker();
  worker.device_plugin_image = "nvcr.io/nvidia/k8s-device-plugin:v0.17.0";
  EXPECT_THAT(RenderUserdata(worker).status().message(), HasSubstr("on the k3s server only"));
  UserdataParams bad = WithDevicePlugin(Lighthouse());
  bad.device_plugin_image = "nvcr.io/nvidia/dp:v1\n  hostNetwork: true";
  EXPECT_THAT(RenderUserdata(bad).status().message(), HasSubstr("device_plugin_image"));
}

TEST(RenderUserdataTest, GpuWorkerJoinsTheServerOverTheMesh) {
  const UserdataParams p = GpuWorker();
  auto ud = RenderUserdata(p);
  ASSERT_TRUE(ud.ok()) << ud.status().ToString();
  EXPECT_EQ(Count(*ud, "BEGIN NEBULA"), 3);
  auto files = Files(*ud);
  const YAML::Node k3s = YAML::Load(files[kK3sConfig].content);
  EXPECT_EQ(k3s["server"].as<std::string>(), "https://10.42.0.1:6443");
  EXPECT_EQ(k3s["node-ip"].as<std::string>(), "10.42.2.1");
  EXPECT_EQ(k3s["flannel-iface"].as<std::string>(), "nebula1");
  EXPECT_EQ(k3s["token-file"].as<std::string>(), kK3sAgentToken);
  EXPECT_FALSE(k3s["agent-token-file"].IsDefined());
  EXPECT_EQ(files[kK3sAgentToken].content, p.k3s_agent_token + "\n");
  EXPECT_EQ(files.count(kK3sServerToken), 0u);
  // Nowhere in an agent's userdata is the server's token (shared by nobody but the server).
  EXPECT_THAT(*ud, Not(HasSubstr(Lighthouse().k3s_token)));
  EXPECT_THAT(ExecStart(files[kK3sUnit].content), ElementsAre("/usr/local/bin/k3s", "agent"));
  EXPECT_THAT(files[kK3sUnit].content, HasSubstr("\nType=exec\n")) << "the agent sends no notify";
  EXPECT_FALSE(k3s["advertise-address"].IsDefined());
  EXPECT_FALSE(k3s["tls-san"].IsDefined());
  const std::string& boot = files[kBootstrap].content;
  EXPECT_THAT(boot, HasSubstr("readonly K3S_ROLE='agent'\n"));
  EXPECT_THAT(boot, HasSubstr("readonly NEBULA_ARCH='arm64'\n"));
  EXPECT_THAT(boot, HasSubstr("nebula-linux-${NEBULA_ARCH}.tar.gz"));
  EXPECT_THAT(boot, HasSubstr("SHASUM256.txt"));
  EXPECT_THAT(boot, HasSubstr("readonly RELEASES='https://github.com'\n"));
  EXPECT_THAT(
      boot, HasSubstr("base=\"${RELEASES}/slackhq/nebula/releases/download/v${NEBULA_VERSION}\""));
  EXPECT_THAT(boot, HasSubstr("readonly NEBULA_VERSION='1.9.5'\n"));
}

// A pool with models: Ollama pinned and checked, on the mesh address only, its models on the
// second volume (formatted once, mounted by label at every boot), the agent asking it there.
TEST(RenderUserdataTest, AWorkerOfAPoolWithModelsRunsPinnedOllamaOnItsMeshAddress) {
  auto files = RenderFiles(WithOllama(GpuWorker()));
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  const std::string& unit = (*files)[kOllamaUnit].content;
  EXPECT_EQ((*files)[kOllamaUnit].permissions, "0644");
  EXPECT_THAT(ExecStart(unit), ElementsAre("/usr/local/bin/ollama", "serve"));
  EXPECT_THAT(unit, HasSubstr("\nEnvironment=OLLAMA_HOST=10.42.2.1:11434\n"))
      << "never 0.0.0.0: the underlay must not reach it";
  EXPECT_THAT(unit, HasSubstr("\nEnvironment=OLLAMA_MODELS=/var/lib/ollama/models\n"));
  EXPECT_THAT(unit, HasSubstr("\nEnvironment=OLLAMA_KEEP_ALIVE=-1\n"));
  EXPECT_THAT(unit, HasSubstr("\nUser=ollama\n"));
  EXPECT_THAT(unit, HasSubstr("\nRequiresMountsFor=/var/lib/ollama\n"));
  EXPECT_THAT(unit, HasSubstr("\nAfter=nebula.service\n"));
  EXPECT_THAT(unit, HasSubstr("\nStartLimitIntervalSec=0\n")) << "restarted until the mesh is up";

  const std::string& boot = (*files)[kBootstrap].content;
  EXPECT_THAT(boot, HasSubstr("readonly OLLAMA_VERSION='0.13.3'\n"));
  EXPECT_THAT(boot, HasSubstr("readonly MODELS_DEVICE='/dev/sdf'\n"));
  EXPECT_THAT(boot, HasSubstr("/ollama/ollama/releases/download/v${OLLAMA_VERSION}"));
  EXPECT_THAT(boot, HasSubstr("fetch_release \"${base}\" \"${tarball}\" sha256sum.txt"));
  EXPECT_THAT(boot, HasSubstr("*\"version is ${OLLAMA_VERSION}\"*"));
  EXPECT_THAT(boot, HasSubstr("mkfs.xfs -q -L carrierarr-models \"${MODELS_DEVICE}\""));
  EXPECT_THAT(boot, HasSubstr("LABEL=carrierarr-models /var/lib/ollama xfs defaults,nofail 0 2"));
  EXPECT_THAT(boot, HasSubstr("systemctl enable --now carrierarr-models.service"));
  // The volume before Ollama, Ollama before the agent (which reports it).
  EXPECT_LT(boot.find("step=\"models volume"), boot.find("step=\"Ollama"));
  EXPECT_LT(boot.find("step=\"Ollama"), boot.find("step='carrierarr-agent'"));

  EXPECT_THAT(ExecStart((*files)[kAgentUnit].content),
              ::testing::IsSupersetOf({"--ollama-url", "http://10.42.2.1:11434"}));
  EXPECT_THAT(ExecStart((*files)[kModelsUnit].content),
              ElementsAre("/usr/bin/python3", kModelsScript, kModelsConfig));
  const auto config = nlohmann::json::parse((*files)[kModelsConfig].content);
  EXPECT_EQ(config["host"], "http://10.42.2.1:11434");
  EXPECT_EQ(config["models"], nlohmann::json({"llama3:8b", "nomic-embed-text"}));
  EXPECT_EQ(config["keep_alive"], -1) << "Ollama reads -1 as a number";

  // Models on the root volume: no volume step. A duration keep_alive stays a string.
  UserdataParams on_root = WithOllama(GpuWorker(), "");
  on_root.keep_alive = "30m";
  auto root_files = RenderFiles(on_root);
  ASSERT_TRUE(root_files.ok()) << root_files.status().ToString();
  EXPECT_THAT((*root_files)[kBootstrap].content, Not(HasSubstr("mkfs")));
  EXPECT_EQ(nlohmann::json::parse((*root_files)[kModelsConfig].content)["keep_alive"], "30m");
  // Without models, none of it.
  auto plain = RenderFiles(GpuWorker());
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->count(kOllamaUnit), 0u);
  EXPECT_EQ(plain->count(kModelsConfig), 0u);
  EXPECT_THAT((*plain)[kBootstrap].content, Not(HasSubstr("OLLAMA_VERSION")));
  EXPECT_THAT(ExecStart((*plain)[kAgentUnit].content), Not(::testing::Contains("--ollama-url")));
}

TEST(RenderUserdataTest, RefusesOllamaValuesThatCouldBreakOutOfTheirPlace) {
  struct Case {
    std::function<void(UserdataParams&)> change;
    const char* field;
  };
  const Case cases[] = {
      {[](UserdataParams& p) { p.ollama_version = "0.13.3; reboot"; }, "ollama_version"},
      {[](UserdataParams& p) { p.models = {"llama3:8b\nExecStart=/bin/sh"}; }, "models"},
      {[](UserdataParams& p) { p.models = {"it's"}; }, "models"},
      {[](UserdataParams& p) { p.keep_alive = "5m\nUser=root"; }, "keep_alive"},
      {[](UserdataParams& p) { p.models_device = "/dev/xvda"; }, "models_device"},
      {[](UserdataParams& p) { p.ollama_version.clear(); }, "ollama_version"},
  };
  for (const Case& c : cases) {
    UserdataParams p = WithOllama(GpuWorker());
    c.change(p);
    auto ud = RenderUserdata(p);
    ASSERT_FALSE(ud.ok()) << c.field;
    EXPECT_EQ(ud.status().code(), StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(ud.status().message(), HasSubstr(c.field)) << ud.status().message();
  }
}

TEST(RenderUserdataTest, AgentRunsWithItsTokenFileAndTheRealFlags) {
  const UserdataParams p = GpuWorker();
  auto files = RenderFiles(p);
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  const std::vector<std::string> argv = ExecStart((*files)[kAgentUnit].content);
  EXPECT_THAT(argv,
              ElementsAre("/usr/local/bin/carrierarr-agent", "--control-plane", "10.42.1.1:50051",
                          "--node-id", "gpu-1", "--type", "gpu-worker", "--token-file", kToken,
                          "--state-dir", "/var/lib/carrierarr-agent", "--nebula-dev", "nebula1"));
  EXPECT_THAT((*files)[kAgentUnit].content,
              HasSubstr("After=network-online.target nebula.service"));
  // A worker never hands out the cluster's kubeconfig; the k3s server's agent does.
  EXPECT_THAT((*files)[kAgentUnit].content, Not(HasSubstr("--allow-kubeconfig-fetch")));
  auto server_files = RenderFiles(Lighthouse());
  ASSERT_TRUE(server_files.ok()) << server_files.status().ToString();
  const std::vector<std::string> server_argv = ExecStart((*server_files)[kAgentUnit].content);
  EXPECT_THAT(server_argv,
              ElementsAre("/usr/local/bin/carrierarr-agent", "--control-plane", "10.42.1.1:50051",
                          "--node-id", "lighthouse", "--type", "lighthouse", "--token-file", kToken,
                          "--state-dir", "/var/lib/carrierarr-agent", "--nebula-dev", "nebula1",
                          "--allow-kubeconfig-fetch"));
  EXPECT_THAT((*server_files)[kBootstrap].content,
              HasSubstr("[ -e /usr/local/bin/kubectl ] || ln -s k3s /usr/local/bin/kubectl\n"));
  // Every flag is one the agent defines (src/agent/options.cc), so a rename there fails here.
  auto options = ReadFile(std::string(CARRIERARR_SOURCE_DIR) + "/src/agent/options.cc");
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  std::vector<std::string> words = argv;
  words.insert(words.end(), server_argv.begin(), server_argv.end());
  for (const auto& word : words) {
    if (word.rfind("--", 0) != 0) continue;
    EXPECT_THAT(*options, HasSubstr("(\"" + word.substr(2) + "\", &r.")) << word;
  }
  // The token never appears on a command line, only in its 0600 file.
  EXPECT_THAT((*files)[kAgentUnit].content, Not(HasSubstr(p.agent_token)));
  EXPECT_THAT((*files)[kBootstrap].content, Not(HasSubstr(p.agent_token)));
}

TEST(RenderUserdataTest, RunsOneFixedScriptAsAnArgvList) {
  auto ud = RenderUserdata(Lighthouse());
  ASSERT_TRUE(ud.ok()) << ud.status().ToString();
  const YAML::Node doc = YAML::Load(ud->substr(ud->find('\n') + 1));
  ASSERT_TRUE(doc["runcmd"].IsSequence());
  ASSERT_EQ(doc["runcmd"].size(), 1u);
  // A list, not a string: cloud-init executes it without a shell.
  ASSERT_TRUE(doc["runcmd"][0].IsSequence());
  EXPECT_EQ(doc["runcmd"][0].as<std::vector<std::string>>(), std::vector<std::string>{kBootstrap});
}

TEST(RenderUserdataTest, BootstrapVerifiesWhatItInstallsAndLogsFailures) {
  UserdataParams p = GpuWorker();
  auto files = RenderFiles(p);
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  const std::string& boot = (*files)[kBootstrap].content;
  EXPECT_EQ(boot.rfind("#!/bin/bash\n", 0), 0u);
  EXPECT_THAT(boot, HasSubstr("set -Eeuo pipefail"));
  EXPECT_THAT(boot, HasSubstr("exec >>/var/log/carrierarr-bootstrap.log 2>&1"));
  EXPECT_THAT(boot, HasSubstr("carrierarr bootstrap FAILED in step"));
  EXPECT_THAT(boot, HasSubstr("readonly AGENT_SHA256='" + p.agent_sha256 + "'\n"));
  EXPECT_THAT(boot, HasSubstr("does not match providers.aws.agent_sha256"));
  EXPECT_THAT(boot, HasSubstr("systemctl enable --now nebula.service"));
  EXPECT_THAT(boot, HasSubstr("systemctl enable --now carrierarr-agent.service"));
  // Every interpolated value is a single-quoted assignment at the top.
  EXPECT_THAT(boot, HasSubstr("readonly NODE='gpu-1'\n"));
  EXPECT_THAT(boot, HasSubstr("readonly MESH_IP='10.42.2.1'\n"));
  EXPECT_THAT(boot, HasSubstr("readonly AGENT_URL='" + p.agent_url + "'\n"));

  // Every download is https only.
  EXPECT_EQ(Count(boot, "curl -fsSL --proto '=https'"), Count(boot, "curl "));

  // Without a digest there is no agent at all.
  p.agent_sha256.clear();
  auto unverified = RenderUserdata(p);
  ASSERT_FALSE(unverified.ok());
  EXPECT_THAT(unverified.status().message(), HasSubstr("needs its sha256 (agent_sha256)"));

  // An uppercase digest is compared as sha256sum prints it.
  p.agent_sha256 = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";
  auto upper = RenderFiles(p);
  ASSERT_TRUE(upper.ok()) << upper.status().ToString();
  EXPECT_THAT(
      (*upper)[kBootstrap].content,
      HasSubstr("readonly AGENT_SHA256='9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6"
                "c15b0f00a08'\n"));
}

TEST(RenderUserdataTest, NebulaAndK3sComeFromTheMirrorWhenOneIsNamed) {
  UserdataParams p = GpuWorker();
  auto direct = RenderFiles(p);
  ASSERT_TRUE(direct.ok()) << direct.status().ToString();
  EXPECT_THAT((*direct)[kBootstrap].content, HasSubstr("readonly RELEASES='https://github.com'\n"));
  p.mirror = "https://mirror.example.org/github";
  auto mirrored = RenderFiles(p);
  ASSERT_TRUE(mirrored.ok()) << mirrored.status().ToString();
  const std::string& boot = (*mirrored)[kBootstrap].content;
  EXPECT_THAT(boot, HasSubstr("readonly RELEASES='https://mirror.example.org/github'\n"));
  EXPECT_THAT(boot, Not(HasSubstr("github.com")));
  // Both releases in GitHub's layout under it, each checked against its own sums file.
  EXPECT_THAT(boot, HasSubstr("base=\"${RELEASES}/slackhq/nebula/releases/download/v"));
  EXPECT_THAT(boot, HasSubstr("base=\"${RELEASES}/k3s-io/k3s/releases/download/"));
  EXPECT_THAT(boot, HasSubstr("fetch_release \"${base}\" \"${tarball}\" SHASUM256.txt\n"));
  EXPECT_THAT(
      boot,
      HasSubstr("fetch_release \"${base}\" \"${binary}\" \"sha256sum-${NEBULA_ARCH}.txt\"\n"));
  EXPECT_THAT(boot, HasSubstr("does not match the sha256 in the release's ${sums}"));
}

// Every shape of node: server and agent, material embedded or in Secrets Manager.
std::vector<UserdataParams> EveryShape() {
  return {Lighthouse(),
          WithDevicePlugin(Lighthouse()),
          GpuWorker(),
          InSecretsManager(GpuWorker()),
          InSecretsManager(Lighthouse()),
          WithCilium(Lighthouse()),
          WithCilium(GpuWorker()),
          WithCilium(InSecretsManager(Lighthouse())),
          WithOllama(GpuWorker()),
          WithOllama(InSecretsManager(GpuWorker()), "")};
}

std::string ShapeName(const UserdataParams& p) {
  return p.node + (p.secret_id.empty() ? " embedded" : " secretsmanager") +
         (p.cilium_version.empty() ? "" : " cilium") +
         (p.device_plugin_image.empty() ? "" : " device-plugin") +
         (p.ollama_version.empty() ? "" : " ollama") + (p.models_device.empty() ? "" : " volume");
}

// `argv` with a scratch file holding `text` as its last argument.
Result<RunResult> RunOnFile(const std::string& text, std::vector<std::string> argv) {
  TempDir dir;
  const std::string path = dir.path() + "/file";
  CARRIERARR_RETURN_IF_ERROR(WriteFileAtomic(path, text, 0700));
  argv.push_back(path);
  return carrierarr::Run(argv);
}

// cloud-init's own schema check, as the node's cloud-init will read the document.
TEST(RenderUserdataTest, CloudInitAcceptsTheDocument) {
  if (::carrierarr::testing::RequireProgram("cloud-init", "cloud-init").empty()) return;
  for (const UserdataParams& p : EveryShape()) {
    SCOPED_TRACE(ShapeName(p));
    auto ud = RenderUserdata(p);
    ASSERT_TRUE(ud.ok()) << ud.status().ToString();
    auto run = RunOnFile(*ud, {"cloud-init", "schema", "--config-file"});
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    EXPECT_EQ(run->exit_code, 0) << run->out << run->err;
    EXPECT_THAT(run->out, HasSubstr("Valid cloud-config")) << run->err;
  }
}

TEST(RenderUserdataTest, BootstrapScriptIsValidBash) {
  for (const UserdataParams& p : EveryShape()) {
    SCOPED_TRACE(ShapeName(p));
    auto files = RenderFiles(p);
    ASSERT_TRUE(files.ok()) << files.status().ToString();
    auto run = RunOnFile((*files)[kBootstrap].content, {"bash", "-n"});
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    EXPECT_EQ(run->exit_code, 0) << run->err;
  }
}

TEST(RenderUserdataTest, WithoutAnAgentOrK3sThoseFilesStayOut) {
  UserdataParams p = GpuWorker();
  p.agent_url.clear();
  p.agent_sha256.clear();
  p.agent_token.clear();
  p.control_plane.clear();
  p.k3s_agent_token.clear();
  auto files = RenderFiles(p);
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  EXPECT_EQ(Paths(*files), (std::set<std::string>{"/etc/nebula/ca.crt", "/etc/nebula/host.crt",
                                                  "/etc/nebula/host.key", "/etc/nebula/config.yml",
                                                  kNebulaUnit, kBootstrap}));
  const std::string& boot = (*files)[kBootstrap].content;
  EXPECT_THAT(boot, HasSubstr("readonly K3S_ROLE=''\n"));
  EXPECT_THAT(boot, HasSubstr("readonly AGENT=''\n"));
  EXPECT_THAT(boot, HasSubstr("no carrierarr-agent on this node"));
}

// ---- Secrets Manager ------------------------------------------------------------------------

TEST(RenderUserdataTest, SecretsManagerModeCarriesNoKeyMaterial) {
  const UserdataParams embedded = GpuWorker();
  const UserdataParams p = InSecretsManager(embedded);
  auto ud = RenderUserdata(p);
  ASSERT_TRUE(ud.ok()) << ud.status().ToString();
  EXPECT_EQ(Count(*ud, "BEGIN NEBULA"), 0);
  EXPECT_THAT(*ud, Not(HasSubstr(embedded.host_key.substr(50, 20))));
  auto files = Files(*ud);
  EXPECT_EQ(files.count("/etc/nebula/host.key"), 0u);
  EXPECT_EQ(files.count("/etc/nebula/ca.crt"), 0u);
  // Nor any token: the enrollment token and the k3s token travel in the node's secret too, so
  // whoever reads the userdata (DescribeInstanceAttribute, a process on the node) gets none.
  EXPECT_EQ(Paths(files), (std::set<std::string>{kSplitSecret, kNebulaUnit, kAgentUnit, kK3sConfig,
                                                 kK3sUnit, kBootstrap}));
  EXPECT_THAT(*ud, Not(HasSubstr(p.agent_token)));
  EXPECT_THAT(*ud, Not(HasSubstr(p.k3s_agent_token)));
  const UserdataParams server = InSecretsManager(Lighthouse());
  auto server_ud = RenderUserdata(server);
  ASSERT_TRUE(server_ud.ok()) << server_ud.status().ToString();
  EXPECT_THAT(*server_ud, Not(HasSubstr(server.k3s_token)));
  EXPECT_THAT(*server_ud, Not(HasSubstr(server.k3s_agent_token)));
  EXPECT_THAT(*server_ud, Not(HasSubstr(server.agent_token)));
  EXPECT_EQ(files[kSplitSecret].permissions, "0600");
  const std::string& boot = files[kBootstrap].content;
  EXPECT_THAT(boot, HasSubstr("readonly SECRET_ID='carrierarr/demo/gpu-1'\n"));
  EXPECT_THAT(boot, HasSubstr("readonly REGION='us-west-2'\n"));
  EXPECT_THAT(boot, HasSubstr("aws secretsmanager get-secret-value --secret-id \"${SECRET_ID}\" "
                              "--region \"${REGION}\" \\\n  --query SecretString --output text"));
  EXPECT_THAT(boot, HasSubstr("python3 " + std::string(kSplitSecret)));
  // Nebula starts only after its files exist: the fetch comes before the service.
  EXPECT_LT(boot.find("get-secret-value"), boot.find("systemctl enable --now nebula.service"));
  // A node with embedded material has no Secrets Manager step (userdata is scarce).
  EXPECT_THAT(*RenderUserdata(embedded), Not(HasSubstr("secretsmanager")));
  EXPECT_THAT(*RenderUserdata(embedded), Not(HasSubstr("SECRET_ID")));
}

TEST(RenderUserdataTest, SecretsManagerNeedsTheRegionAndNoEmbeddedMaterial) {
  UserdataParams p = InSecretsManager(GpuWorker());
  p.region.clear();
  auto no_region = RenderUserdata(p);
  ASSERT_FALSE(no_region.ok());
  EXPECT_THAT(no_region.status().message(), HasSubstr("region"));

  UserdataParams both = GpuWorker();
  both.secret_id = "carrierarr/demo/gpu-1";
  auto mixed = RenderUserdata(both);
  ASSERT_FALSE(mixed.ok());
  EXPECT_EQ(mixed.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(mixed.status().message(), HasSubstr("both a secret_id and embedded"));
}

TEST(NodeSecretJsonTest, HasTheSeedsKeysPlusTheConfig) {
  const UserdataParams p = GpuWorker();
  const auto j = nlohmann::json::parse(NodeSecretJson(p, "198.51.100.7:4242"));
  std::set<std::string> keys;
  for (const auto& [key, value] : j.items()) keys.insert(key);
  EXPECT_EQ(keys, (std::set<std::string>{"nebula_ca_crt", "nebula_node_crt", "nebula_node_key",
                                         "nebula_ip", "lighthouse_endpoint", "nebula_config",
                                         "carrierarr_agent_token", "k3s_agent_token"}))
      << "an agent's secret holds the agent tokens, never the k3s server's";
  EXPECT_EQ(j["nebula_ca_crt"], p.ca_crt);
  EXPECT_EQ(j["nebula_node_crt"], p.host_crt);
  EXPECT_EQ(j["nebula_node_key"], p.host_key);
  EXPECT_EQ(j["nebula_ip"], "10.42.2.1");
  EXPECT_EQ(j["lighthouse_endpoint"], "198.51.100.7:4242");
  EXPECT_EQ(j["nebula_config"], p.nebula_config);
  EXPECT_EQ(j["carrierarr_agent_token"], p.agent_token);
  EXPECT_EQ(j["k3s_agent_token"], p.k3s_agent_token);
  const UserdataParams server = Lighthouse();
  const auto s = nlohmann::json::parse(NodeSecretJson(server, "198.51.100.7:4242"));
  EXPECT_EQ(s["k3s_token"], server.k3s_token);
  EXPECT_EQ(s["k3s_agent_token"], server.k3s_agent_token);
}

// The splitter from the userdata, run by python3 on the secret as the AWS CLI prints it
// (SecretString and a line feed), into a scratch copy of /etc/nebula.
TEST(SplitSecretTest, WritesEachNebulaFileVerbatimWithModeSixHundredPython3) {
  const UserdataParams p = GpuWorker();
  auto files = RenderFiles(InSecretsManager(p));
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  std::string script = (*files)[kSplitSecret].content;
  TempDir dir;
  const std::string root = dir.path();
  const std::string etc = root + "/etc/nebula";
  // Point the fixed paths at the scratch directory; nothing else in the script changes.
  for (size_t at = script.find("\"/etc/"); at != std::string::npos;
       at = script.find("\"/etc/", at + root.size() + 2)) {
    script.insert(at + 1, root);
  }
  ASSERT_THAT(script, Not(HasSubstr("\"/etc/")));
  const std::string secret = dir.path() + "/secret.json";
  ASSERT_TRUE(WriteFileAtomic(dir.path() + "/split.py", script, 0600).ok());
  ASSERT_TRUE(WriteFileAtomic(secret, NodeSecretJson(p, "198.51.100.7:4242") + "\n", 0600).ok());
  auto run = carrierarr::Run({"python3", dir.path() + "/split.py", secret});
  ASSERT_TRUE(run.ok()) << "python3 is needed here (Amazon Linux 2023 has it): "
                        << run.status().ToString();
  ASSERT_EQ(run->exit_code, 0) << run->err;
  const std::map<std::string, std::string> want = {{"ca.crt", p.ca_crt},
                                                   {"host.crt", p.host_crt},
                                                   {"host.key", p.host_key},
                                                   {"config.yml", p.nebula_config}};
  for (const auto& [name, content] : want) {
    SCOPED_TRACE(name);
    auto got = ReadFile(etc + "/" + name);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, content);
    EXPECT_EQ(ModeOf(etc + "/" + name), 0600u);
  }
  // The node's tokens, each in its own 0600 file; the k3s server token is not in an agent's.
  for (const auto& [path, content] :
       {std::pair{std::string(kToken), p.agent_token + "\n"},
        std::pair{std::string(kK3sAgentToken), p.k3s_agent_token + "\n"}}) {
    SCOPED_TRACE(path);
    auto got = ReadFile(root + path);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, content);
    EXPECT_EQ(ModeOf(root + path), 0600u);
  }
  EXPECT_NE(::access((root + kK3sServerToken).c_str(), F_OK), 0);

  // A secret without the key fails and says what is missing.
  ASSERT_TRUE(WriteFileAtomic(secret, R"({"nebula_ca_crt": "x"})", 0600).ok());
  auto partial = carrierarr::Run({"python3", dir.path() + "/split.py", secret});
  ASSERT_TRUE(partial.ok());
  EXPECT_NE(partial->exit_code, 0);
  EXPECT_THAT(partial->err, HasSubstr("nebula_node_key"));
}

// carrierarr-models against an Ollama double: the model on the volume is not pulled again, the
// missing one is, each is loaded with the pool's keep_alive; a model the registry lacks fails
// the run (systemd tries again) after the models before it are loaded.
TEST(ModelsScriptTest, PullsWhatIsMissingAndLoadsEveryModelWithKeepAlive) {
  testing::FakeModelServer ollama(
      {.models = {"llama3:8b"}, .pullable = {"llama3:8b", "nomic-embed-text"}});
  testing::LoopbackServer server;
  ollama.Install(server.server());
  server.Start();
  auto files = RenderFiles(WithOllama(GpuWorker()));
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  auto config = nlohmann::json::parse((*files)[kModelsConfig].content);
  config["host"] = server.url();  // loopback instead of the mesh address
  TempDir dir;
  ASSERT_TRUE(
      WriteFileAtomic(dir.path() + "/models.py", (*files)[kModelsScript].content, 0600).ok());
  ASSERT_TRUE(WriteFileAtomic(dir.path() + "/models.json", config.dump(), 0600).ok());
  auto run = carrierarr::Run({"python3", dir.path() + "/models.py", dir.path() + "/models.json"},
                             {.timeout = std::chrono::seconds(60)});
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  ASSERT_EQ(run->exit_code, 0) << run->out << run->err;
  EXPECT_THAT(ollama.pulls(), ElementsAre("nomic-embed-text")) << "llama3:8b was on the volume";
  EXPECT_EQ(ollama.loaded(), (std::set<std::string>{"llama3:8b", "nomic-embed-text"}));
  EXPECT_EQ(ollama.preload_keep_alive("llama3:8b"), -1);
  EXPECT_THAT(run->out, HasSubstr("llama3:8b: already on the models volume"));
  EXPECT_THAT(run->out, HasSubstr("nomic-embed-text: pulled"));

  // Again (the next boot): nothing pulled.
  auto again = carrierarr::Run({"python3", dir.path() + "/models.py", dir.path() + "/models.json"},
                               {.timeout = std::chrono::seconds(60)});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->exit_code, 0) << again->err;
  EXPECT_EQ(ollama.pulls().size(), 1u);
}

// The release sums name files as sha256sum writes them, with "*" (binary) or "./" before some.
TEST(RenderUserdataTest, SumOfReadsEveryFormOfASha256sumListing) {
  auto files = RenderFiles(WithOllama(GpuWorker()));
  ASSERT_TRUE(files.ok());
  const std::string& boot = (*files)[kBootstrap].content;
  const size_t start = boot.find("sum_of() {");
  ASSERT_NE(start, std::string::npos);
  const std::string fn = boot.substr(start, boot.find("\n}\n", start) + 3 - start);
  TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir.path() + "/sums",
                              "aaa  ollama-linux-amd64.tgz\nbbb *ollama-linux-arm64.tgz\n"
                              "ccc  ./ollama-darwin.tgz\nddd  ollama-linux-amd64.tgz.old\n",
                              0600)
                  .ok());
  for (const auto& [file, want] :
       {std::pair{"ollama-linux-amd64.tgz", "aaa\n"}, std::pair{"ollama-linux-arm64.tgz", "bbb\n"},
        std::pair{"ollama-darwin.tgz", "ccc\n"}, std::pair{"ollama-linux-amd64.tar.zst", ""}}) {
    auto run = carrierarr::Run(
        {"bash", "-c", fn + "sum_of \"$1\" \"$2\"", "bash", dir.path() + "/sums", file});
    ASSERT_TRUE(run.ok());
    EXPECT_EQ(run->exit_code, 0) << run->err;
    EXPECT_EQ(run->out, want) << file;
  }
}

// ---- YAML round trips -----------------------------------------------------------------------

TEST(RenderUserdataTest, EmbeddedTextSurvivesYamlByteForByte) {
  // Shapes that a plain "content: |" would change: no final line feed, several, leading spaces
  // (taken for indentation without an indicator), blank lines, tabs, trailing spaces, YAML and
  // shell syntax, a document marker.
  for (const std::string& config :
       {std::string("a: 1"), std::string("a: 1\n\n\n"), std::string("  indented: first\nb: 2\n"),
        std::string("\n\n  after blank lines\n"), std::string("a:\n\n\n  b: 1\n"),
        std::string("\tk: v\t\ntrailing   \n"), std::string("--- \n...\n# '\"$(x)` |\n"),
        std::string("   \n  x\n")}) {
    SCOPED_TRACE("config: [" + config + "]");
    UserdataParams p = Lighthouse();
    p.nebula_config = config;
    auto files = RenderFiles(p);
    ASSERT_TRUE(files.ok()) << files.status().ToString();
    EXPECT_EQ((*files)["/etc/nebula/config.yml"].content, config);
    EXPECT_EQ((*files)["/etc/nebula/host.key"].content, p.host_key);
  }
}

TEST(RenderUserdataTest, RefusesTextThatYamlWouldNotKeep) {
  UserdataParams p = Lighthouse();
  p.nebula_config = "a: 1\r\nb: 2\n";
  auto cr = RenderUserdata(p);
  ASSERT_FALSE(cr.ok());
  EXPECT_THAT(cr.status().message(), HasSubstr("nebula_config holds byte 0x0d at offset 4"));

  p = Lighthouse();
  p.host_key = "/home/me/.carrierarr/pki/lighthouse.key";
  auto path = RenderUserdata(p);
  ASSERT_FALSE(path.ok());
  EXPECT_THAT(path.status().message(), HasSubstr("host_key is not a Nebula PEM block"));

  p = Lighthouse();
  p.ca_crt.clear();
  auto missing = RenderUserdata(p);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("ca_crt is empty"));
}

// ---- refusals ------------------------------------------------------------------------------

struct BadParams {
  std::string name;
  std::function<void(UserdataParams&)> mutate;
  std::string want;  // in the message
};

TEST(RenderUserdataTest, RefusesValuesThatCouldBreakOutOfTheirPlace) {
  const std::vector<BadParams> cases = {
      {"NodeWithQuote", [](UserdataParams& p) { p.node = "gpu-1'; rm -rf /"; },
       "node 'gpu-1'; rm -rf /' must be 1-63 lowercase"},
      {"NodeWithNewline", [](UserdataParams& p) { p.node = "gpu\n-1"; }, "node 'gpu\\n-1' must"},
      {"NodeUppercase", [](UserdataParams& p) { p.node = "GPU-1"; }, "node 'GPU-1' must"},
      {"FleetWithSpace", [](UserdataParams& p) { p.fleet = "my lab"; }, "fleet 'my lab' must"},
      {"UnknownType", [](UserdataParams& p) { p.agent_type = "tpu"; },
       "agent_type 'tpu' must be lighthouse, gpu-worker or cpu-worker"},
      {"UnknownArch", [](UserdataParams& p) { p.arch = "mips"; }, "arch 'mips' must be x86_64"},
      {"MeshIpWithMask", [](UserdataParams& p) { p.mesh_ip = "10.42.2.1/16"; },
       "mesh_ip '10.42.2.1/16' must be an IPv4 address without a mask"},
      {"MeshIpNotCanonical", [](UserdataParams& p) { p.mesh_ip = "010.42.2.1"; }, "mesh_ip"},
      {"TunTooLong", [](UserdataParams& p) { p.tun_device = "nebula-mesh-device"; },
       "tun_device 'nebula-mesh-device' must be an interface name"},
      {"VersionWithCommand", [](UserdataParams& p) { p.nebula_version = "1.9.5;reboot"; },
       "nebula_version '1.9.5;reboot' must be a slackhq/nebula release"},
      {"UrlWithQuote", [](UserdataParams& p) { p.agent_url = "https://x.org/a'b"; },
       "agent_url 'https://x.org/a'b' must be an https URL"},
      {"UrlWithSpace", [](UserdataParams& p) { p.agent_url = "https://x.org/a b"; }, "agent_url"},
      {"UrlWithCommand", [](UserdataParams& p) { p.agent_url = "https://x.org/$(reboot)"; },
       "no quotes, spaces or '$'"},
      {"UrlWithBacktick", [](UserdataParams& p) { p.agent_url = "https://x.org/`id`"; },
       "agent_url"},
      {"UrlNotHttp", [](UserdataParams& p) { p.agent_url = "file:///etc/shadow"; }, "agent_url"},
      {"UrlBadHost", [](UserdataParams& p) { p.agent_url = "https://-x.org/a"; }, "agent_url"},
      {"UrlPlainHttp", [](UserdataParams& p) { p.agent_url = "http://x.org/carrierarr-agent"; },
       "agent_url 'http://x.org/carrierarr-agent' must be an https URL"},
      {"AgentWithoutSha", [](UserdataParams& p) { p.agent_sha256.clear(); },
       "needs its sha256 (agent_sha256)"},
      {"MirrorPlainHttp", [](UserdataParams& p) { p.mirror = "http://mirror.example.org"; },
       "mirror 'http://mirror.example.org' must be an https base URL"},
      {"MirrorWithQuery", [](UserdataParams& p) { p.mirror = "https://m.example.org/?x=1"; },
       "mirror"},
      {"K3sUnpinned", [](UserdataParams& p) { p.k3s_version.clear(); },
       "k3s_version (empty) must be a k3s release such as v1.31.4+k3s1"},
      {"K3sVersionWithCommand", [](UserdataParams& p) { p.k3s_version = "v1.31.4+k3s1;id"; },
       "k3s_version"},
      {"K3sAgentGivenTheServerToken",
       [](UserdataParams& p) { p.k3s_token = Lighthouse().k3s_token; },
       "a k3s agent was given the server token"},
      {"ShaNotHex", [](UserdataParams& p) { p.agent_sha256 = std::string(64, 'g'); },
       "agent_sha256"},
      {"ControlPlaneWithFlag",
       [](UserdataParams& p) { p.control_plane = "10.42.1.1:50051 --allow-exec"; },
       "control_plane '10.42.1.1:50051 --allow-exec' must be HOST:PORT"},
      {"ControlPlaneWithoutPort", [](UserdataParams& p) { p.control_plane = "10.42.1.1"; },
       "control_plane"},
      {"AgentWithoutToken", [](UserdataParams& p) { p.agent_token.clear(); },
       "needs its enrollment token"},
      {"K3sAgentWithoutServer", [](UserdataParams& p) { p.k3s_server_ip.clear(); },
       "k3s_server_ip (empty) must be the k3s server's mesh address"},
      {"SecretIdWithQuote",
       [](UserdataParams& p) {
         p = InSecretsManager(p);
         p.secret_id = "carrierarr/demo/gpu-1' --profile 'x";
       },
       "secret_id"},
      {"RegionWithSpace", [](UserdataParams& p) { p.region = "us west 2"; }, "region"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    UserdataParams p = GpuWorker();
    c.mutate(p);
    auto ud = RenderUserdata(p);
    ASSERT_FALSE(ud.ok());
    EXPECT_EQ(ud.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(ud.status().message(), HasSubstr(c.want));
    EXPECT_THAT(ud.status().message(), HasSubstr("userdata for node '"));
    EXPECT_EQ(ud.status().message().find('\n'), std::string::npos) << "one line";
  }
}

TEST(RenderUserdataTest, RefusesBadSecretsWithoutRepeatingThem) {
  const std::vector<BadParams> cases = {
      {"TokenWithSpace", [](UserdataParams& p) { p.agent_token = "cet_abc def"; }, "agent_token"},
      {"TokenWithNewline",
       [](UserdataParams& p) { p.agent_token = "cet_abc\nExecStartPre=/bin/sh"; }, "agent_token"},
      {"K3sTokenWithQuote", [](UserdataParams& p) { p.k3s_agent_token = "abc\"\nserver: evil"; },
       "k3s_agent_token"},
      {"K3sServerTokenWithQuote",
       [](UserdataParams& p) {
         p = Lighthouse();
         p.k3s_token = "abc\"\nserver: evil";
       },
       "k3s_token"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    UserdataParams p = GpuWorker();
    c.mutate(p);
    auto ud = RenderUserdata(p);
    ASSERT_FALSE(ud.ok());
    EXPECT_EQ(ud.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(ud.status().message(), HasSubstr(c.want + " (a value not shown) must be"));
    EXPECT_THAT(ud.status().message(), Not(HasSubstr("abc")));
  }
}

// ---- size --------------------------------------------------------------------------------

// What is sent is the document gzipped; at least 8 KB stay free for larger Nebula configs (more
// rules, more lighthouses) and what later first boots add.
TEST(RenderUserdataTest, StaysUnderEc2sLimitWithRoomToSpare) {
  for (const UserdataParams& p : EveryShape()) {
    auto ud = RenderUserdata(p);
    ASSERT_TRUE(ud.ok()) << ud.status().ToString();
    EXPECT_LT(GzipUserdata(*ud).size(), kMaxUserdataBytes - 8192) << ShapeName(p);
  }
}

// The gzip is one that gzip(1) reads back to the document, and the same bytes every time (a
// rerun sends nothing new).
TEST(RenderUserdataTest, GzipsTheDocumentAsGzipReadsIt) {
  if (::carrierarr::testing::RequireProgram("gzip", "gzip").empty()) return;
  auto ud = RenderUserdata(Lighthouse());
  ASSERT_TRUE(ud.ok()) << ud.status().ToString();
  const std::string gz = GzipUserdata(*ud);
  EXPECT_EQ(gz, GzipUserdata(*ud));
  EXPECT_LT(gz.size(), ud->size() / 2);
  TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir.path() + "/ud.gz", gz, 0600).ok());
  auto run = carrierarr::Run({"gzip", "-dc", dir.path() + "/ud.gz"});
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->exit_code, 0) << run->err;
  EXPECT_EQ(run->out, *ud);
}

TEST(RenderUserdataTest, OverTheLimitNamesTheNodeAndSuggestsSecretsManager) {
  UserdataParams p = GpuWorker();
  // Text gzip cannot shrink below the limit (about 5 bits a character).
  std::string noise;
  uint32_t x = 1;
  for (size_t i = 0; i < 2 * kMaxUserdataBytes; ++i) {
    x = x * 1103515245u + 12345u;
    noise += "abcdefghijklmnopqrstuvwxyz0123456789"[(x >> 16) % 36];
  }
  p.nebula_config += "# " + noise + "\n";
  auto ud = RenderUserdata(p);
  ASSERT_FALSE(ud.ok());
  EXPECT_EQ(ud.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(ud.status().message(), HasSubstr("userdata for node 'gpu-1' is "));
  EXPECT_THAT(ud.status().message(), HasSubstr("bytes gzipped, over EC2's limit of 16384"));
  EXPECT_THAT(ud.status().message(), HasSubstr("nebula_material: secretsmanager"));

  // The same node with its material in Secrets Manager fits: the config is not in the userdata.
  auto moved = RenderUserdata(InSecretsManager(p));
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_LE(GzipUserdata(*moved).size(), kMaxUserdataBytes);

  // Up to the limit (gzipped) is accepted; a character more of noise is not.
  const UserdataParams worker = GpuWorker();  // one set of keys: each GpuWorker() mints anew
  auto with_noise = [&](size_t n) {
    UserdataParams e = worker;
    e.nebula_config += "# " + noise.substr(0, n) + "\n";
    return RenderUserdata(e);
  };
  size_t fits = 0, over = noise.size();
  ASSERT_TRUE(with_noise(fits).ok());
  ASSERT_FALSE(with_noise(over).ok());
  while (over - fits > 1) {
    const size_t mid = fits + (over - fits) / 2;
    (with_noise(mid).ok() ? fits : over) = mid;
  }
  const size_t sent = GzipUserdata(*with_noise(fits)).size();
  EXPECT_LE(sent, kMaxUserdataBytes);
  EXPECT_GT(sent, kMaxUserdataBytes - 8) << "the boundary is the limit, not something short of it";
  EXPECT_THAT(with_noise(over).status().message(), HasSubstr("bytes gzipped"));
}

// ---- Base64 ------------------------------------------------------------------------------

TEST(Base64Test, MatchesRfc4648Vectors) {
  // RFC 4648 section 10.
  EXPECT_EQ(Base64(""), "");
  EXPECT_EQ(Base64("f"), "Zg==");
  EXPECT_EQ(Base64("fo"), "Zm8=");
  EXPECT_EQ(Base64("foo"), "Zm9v");
  EXPECT_EQ(Base64("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Base64("foobar"), "Zm9vYmFy");
}

TEST(Base64Test, UsesTheStandardAlphabetForEveryByte) {
  // The last two characters of the standard alphabet, and bytes with the high bit set.
  EXPECT_EQ(Base64(std::string("\xfb\xff", 2)), "+/8=");
  EXPECT_EQ(Base64(std::string("\x00\x00\x00", 3)), "AAAA");
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  const std::string encoded = Base64(all);
  EXPECT_EQ(encoded.size(), 344u);  // 4 * ceil(256 / 3)
  EXPECT_EQ(encoded.substr(0, 8), "AAECAwQF");
  EXPECT_EQ(encoded.substr(encoded.size() - 8), "/P3+/w==");
  // Agrees with coreutils' base64 on real userdata.
  auto ud = RenderUserdata(GpuWorker());
  ASSERT_TRUE(ud.ok());
  auto run = carrierarr::Run({"base64", "-w", "0"}, {.stdin_data = *ud});
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  ASSERT_EQ(run->exit_code, 0) << run->err;
  EXPECT_EQ(Base64(*ud), run->out);
}

}  // namespace
}  // namespace carrierarr::aws_provider
