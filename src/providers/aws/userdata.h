// The cloud-init userdata of an AWS node: a #cloud-config that writes the node's files and runs
// its first boot. Everything it installs is pinned or checked; nothing the user typed reaches a
// shell unquoted (values go through write_files or single-quoted words, and are validated).
// Pure functions: thread-safe.
#ifndef CARRIERARR_PROVIDERS_AWS_USERDATA_H_
#define CARRIERARR_PROVIDERS_AWS_USERDATA_H_

#include <string>
#include <vector>

#include "core/status.h"

namespace carrierarr::aws_provider {

inline constexpr size_t kMaxUserdataBytes = 16384;  // EC2's limit, before base64

struct UserdataParams {
  std::string fleet;
  std::string node;        // "lighthouse", "gpu-1"
  std::string agent_type;  // "lighthouse", "gpu-worker", "cpu-worker"
  std::string arch;        // "x86_64" or "arm64"
  std::string mesh_ip;     // "10.42.2.1"
  std::string tun_device = "nebula1";

  // Nebula material: either embedded (ca/cert/key/config non-empty) or fetched at boot from
  // Secrets Manager (secret_id and region non-empty; the secret, NodeSecretJson, holds the
  // seeds' JSON keys nebula_ca_crt, nebula_node_crt, nebula_node_key, nebula_ip,
  // lighthouse_endpoint, plus nebula_config and the node's tokens below). With a secret no
  // token is in the userdata either.
  std::string ca_crt, host_crt, host_key, nebula_config;
  std::string secret_id, region;
  std::string nebula_version;  // "1.9.5"

  // Where the Nebula and k3s releases come from: "" = https://github.com; a mirror serves the
  // same layout (<owner>/<repo>/releases/download/<tag>/<file>). Every file is checked against
  // its release's sha256 sums wherever it comes from.
  std::string mirror;

  // The agent (on when agent_url is set): downloaded over https, checked against agent_sha256
  // (required), enrolled with its single-use token.
  std::string agent_url, agent_sha256, agent_token;
  std::string control_plane;  // "10.42.1.1:50051": over the mesh

  // k3s bound to the mesh address (../shared/spec/kubernetes.md). Off when k3s_agent_token is
  // empty. The server token (full control of the cluster) is on the server only; agents join
  // with the agent token, which the server accepts from agents alone (--agent-token).
  bool k3s_server = false;      // the lighthouse
  std::string k3s_server_ip;    // workers: the server's mesh address
  std::string k3s_version;      // "v1.31.4+k3s1", checked against its sha256sum-<arch>.txt
  std::string k3s_token;        // the server's token: set on the server, empty on agents
  std::string k3s_agent_token;  // agents' join secret: on the server and every agent

  // federation.mode clustermesh: k3s runs without flannel and its network policy
  // (--flannel-backend=none --disable-network-policy), and the server installs Cilium
  // `cilium_version` as cluster `cluster_name`/`cluster_id`, with the cilium CLI of release
  // `cilium_cli_version` checked against its .sha256sum, its clustermesh-apiserver on NodePort
  // `clustermesh_port` and its agents' metrics on (status reads ClusterMesh's sync from them).
  // "" = k3s keeps flannel.
  std::string cilium_version;      // "1.16.5"
  std::string cilium_cli_version;  // "v0.16.22"
  std::string cluster_name;        // "aws-k3s"
  int cluster_id = 0;
  uint16_t clustermesh_port = 0;  // 30000-32767
  // The k3s server of a fleet with GPU workers: the NVIDIA device plugin DaemonSet (this image)
  // in k3s's manifests directory, which k3s applies; "" = none. GPU workers' kubelets carry the
  // label it selects, nvidia.com/gpu.present=true.
  std::string device_plugin_image;

  // A node of a pool with models: Ollama `ollama_version` from the ollama/ollama release (or the
  // mirror), checked against the release's sha256sum.txt, as the service `ollama` on
  // <mesh_ip>:11434 with OLLAMA_KEEP_ALIVE=keep_alive. Its models live under /var/lib/ollama,
  // on `models_device` (a second EBS volume, formatted at the first boot, kept while the
  // instance is stopped) or on the root volume when "". At every boot `carrierarr-models` pulls
  // the models it lacks and loads each with keep_alive. "" = no Ollama.
  std::string ollama_version;
  std::vector<std::string> models;
  std::string keep_alive = "-1";
  std::string models_device;
};

// Where RunInstances attaches a node's models volume (Amazon Linux links an NVMe volume's
// device to the name it was given).
inline constexpr char kModelsDevice[] = "/dev/sdf";

// k3s's pod and service networks. Its defaults (10.42.0.0/16, 10.43.0.0/16) are the mesh's own
// default range: pods would take the mesh's addresses. The aws fleet rules keep the mesh apart.
inline constexpr char kK3sClusterCidr[] = "10.52.0.0/16";
inline constexpr char kK3sServiceCidr[] = "10.53.0.0/16";

// The #cloud-config document, as the node's cloud-init reads it. Fails (kInvalidArgument) on a
// value that could break out of its place (a newline or quote in a name, a token with spaces)
// and when the document, gzipped as it is sent, passes kMaxUserdataBytes.
Result<std::string> RenderUserdata(const UserdataParams& params);

// The device plugin's manifest for k3s's manifests directory: a DaemonSet in kube-system on the
// nodes labelled nvidia.com/gpu.present=true, with k3s's RuntimeClass `nvidia` (k3s makes it
// when it finds the NVIDIA container runtime, as on the Deep Learning Base image).
std::string NvidiaDevicePluginManifest(std::string_view image);

// What RunInstances sends: `document` gzipped (cloud-init decompresses gzip userdata before it
// reads it), about a third of its size. Deterministic: no name, no time in the header.
std::string GzipUserdata(std::string_view document);

// The node's secret (see UserdataParams): the seeds' JSON shape, plus the node's tokens when it
// has them (carrierarr_agent_token, k3s_token, k3s_agent_token).
std::string NodeSecretJson(const UserdataParams& params, const std::string& lighthouse_endpoint);

std::string Base64(std::string_view bytes);

}  // namespace carrierarr::aws_provider

#endif  // CARRIERARR_PROVIDERS_AWS_USERDATA_H_
