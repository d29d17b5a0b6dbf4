// carrierarr-agent's command line: flags, their environment fallbacks and validation. Parsing is
// pure (the environment comes in as a value) so that tests can drive it; detection that needs
// the host (mesh IP, EC2 metadata, GPUs) happens later in main.
#ifndef CARRIERARR_AGENT_OPTIONS_H_
#define CARRIERARR_AGENT_OPTIONS_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "agent/command_runner.h"
#include "core/environment.h"
#include "core/status.h"
#include "ec2agent/v1/agent.pb.h"

namespace carrierarr::agent {

struct AgentOptions {
  std::string control_plane;  // "host:port" or "unix:/path" (gRPC target)

  // Identity. Empty values are detected at start (main): node_id from the host name, nebula_ip
  // from the tun device, instance/region/az/public IP from IMDS (region "homelab" off EC2).
  ec2agent::v1::NodeType node_type = ec2agent::v1::NODE_TYPE_CPU_WORKER;
  bool node_type_set = false;  // false: gpu-worker when a GPU is found at start
  std::string node_id;
  std::string instance_id;
  std::string nebula_ip;
  std::string nebula_dev = "nebula";
  std::string public_ip;
  std::string region;
  std::string az;
  std::map<std::string, std::string> labels;

  // Health HTTP server.
  std::string health_addr = "0.0.0.0";
  int health_port = 8080;

  // Authentication. `token` is a secret: never log it or put it in an error message.
  std::string token;
  std::string token_file;  // re-read before every Register that needs the token
  std::string state_dir = "/var/lib/carrierarr-agent";

  // TLS: on when tls_ca is set (the server is verified against it).
  std::string tls_ca;
  std::string tls_server_name;

  bool imds = true;
  std::string imds_endpoint = "http://169.254.169.254";

  // Commands and collectors.
  std::string ollama_url = "http://127.0.0.1:11434";
  std::string nvidia_smi = "nvidia-smi";
  std::string kubectl = "kubectl";
  std::string systemctl = "systemctl";
  bool allow_exec = false;
  // The k3s admin kubeconfig: present on the k3s server node only. The status reports the
  // cluster's nodes through it; FETCH_KUBECONFIG hands it out only with allow_kubeconfig_fetch
  // (it holds the cluster's admin key).
  std::string k3s_kubeconfig = "/etc/rancher/k3s/k3s.yaml";
  bool allow_kubeconfig_fetch = false;
  PowerMode power_mode = PowerMode::kSystem;

  std::chrono::milliseconds backoff_initial{1000};
  std::chrono::milliseconds backoff_max{60000};
  // Initial values, until the control plane sends its ConfigUpdate.
  std::chrono::milliseconds status_interval{30000};
  std::chrono::milliseconds heartbeat_interval{10000};

  bool help = false;     // print AgentUsage() and exit 0
  bool version = false;  // print the version and exit 0
};

// Parses args (argv without the program name). `env` supplies CONTROL_PLANE_ADDR,
// CARRIERARR_TOKEN and CARRIERARR_TOKEN_FILE; flags win over the environment. Errors name the
// flag (and the variable where one applies) and never contain the token; main exits 2 on them.
// When help or version is set, nothing else is validated.
Result<AgentOptions> ParseAgentOptions(const std::vector<std::string>& args,
                                       const Environment& env);

// The -h text: what the agent does, then every flag with its default.
std::string AgentUsage();

// "gpu-worker", "cpu-worker", "lighthouse" (and "unspecified").
std::string NodeTypeName(ec2agent::v1::NodeType type);

}  // namespace carrierarr::agent

#endif  // CARRIERARR_AGENT_OPTIONS_H_
