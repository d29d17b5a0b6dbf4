#include "agent/options.h"

#include <charconv>
#include <tuple>

#include "agent/http_client.h"
#include "cli/flags.h"
#include "core/duration.h"

namespace carrierarr::agent {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

// The raw flag values, before validation turns them into AgentOptions.
struct RawFlags {
  std::string control_plane, type, node_id, health_addr, instance_id, nebula_ip, nebula_dev,
      public_ip, region, az, label, token, token_file, state_dir, tls_ca, tls_server_name, imds,
      imds_endpoint, ollama_url, nvidia_smi, kubectl, systemctl, power_mode, k3s_kubeconfig;
  int64_t health_port = 0;
  bool allow_exec = false, allow_kubeconfig_fetch = false, version = false;
  nanoseconds backoff_initial{}, backoff_max{}, status_interval{}, heartbeat_interval{};
};

void DefineFlags(cli::FlagSet& fs, RawFlags& r) {
  const AgentOptions d;
  fs.String("control-plane", &r.control_plane, "",
            "control plane gRPC address host:port (env CONTROL_PLANE_ADDR); required");
  fs.String("type", &r.type, "",
            "node type: gpu-worker, cpu-worker or lighthouse (default gpu-worker when a GPU is "
            "found, else cpu-worker)");
  fs.String("node-id", &r.node_id, "", "node id (default: the host name)");
  fs.Int("health-port", &r.health_port, d.health_port,
         "port of the health HTTP server (/health, /ready, /version, /metrics); 0 picks one");
  fs.String("health-addr", &r.health_addr, d.health_addr, "address the health server listens on");
  fs.String("instance-id", &r.instance_id, "", "EC2 instance id (default: from IMDS)");
  fs.String("nebula-ip", &r.nebula_ip, "",
            "this node's Nebula mesh IP (default: detected from the tun device)");
  fs.String("nebula-dev", &r.nebula_dev, d.nebula_dev,
            "name prefix of the Nebula tun device used to detect -nebula-ip");
  fs.String("public-ip", &r.public_ip, "", "public IP (default: from IMDS)");
  fs.String("region", &r.region, "", "AWS region (default: from IMDS, else \"homelab\")");
  fs.String("az", &r.az, "", "availability zone (default: from IMDS)");
  fs.String("label", &r.label, "", "node labels k=v, comma separated (repeatable)");
  fs.String("token", &r.token, "",
            "enrollment token (env CARRIERARR_TOKEN); visible to other users in the process "
            "list: prefer -token-file");
  fs.String("token-file", &r.token_file, "",
            "file holding the enrollment token, re-read on every attempt (env "
            "CARRIERARR_TOKEN_FILE)");
  fs.String("state-dir", &r.state_dir, d.state_dir,
            "directory for the node credential (\"credential\", mode 0600)");
  fs.String("tls-ca", &r.tls_ca, "",
            "CA certificate (PEM) to verify the control plane with; turns TLS on");
  fs.String("tls-server-name", &r.tls_server_name, "",
            "server name expected in the control plane's certificate (default: the host of "
            "-control-plane)");
  fs.String("imds", &r.imds, "on", "query EC2 instance metadata (IMDSv2) at start: on or off");
  fs.String("imds-endpoint", &r.imds_endpoint, d.imds_endpoint, "EC2 instance metadata endpoint");
  fs.String("ollama-url", &r.ollama_url, d.ollama_url, "Ollama's local HTTP API");
  fs.String("nvidia-smi", &r.nvidia_smi, d.nvidia_smi, "nvidia-smi program");
  fs.String("kubectl", &r.kubectl, d.kubectl,
            "kubectl program (DRAIN, and the cloud cluster's nodes in the status)");
  fs.String("systemctl", &r.systemctl, d.systemctl, "systemctl program (RESTART_SERVICE, power)");
  fs.Bool("allow-exec", &r.allow_exec, false, "run EXEC commands (the fleet must allow them too)");
  fs.String("k3s-kubeconfig", &r.k3s_kubeconfig, d.k3s_kubeconfig,
            "k3s admin kubeconfig; where it exists (the k3s server node), the status reports "
            "the cluster's nodes");
  fs.Bool("allow-kubeconfig-fetch", &r.allow_kubeconfig_fetch, false,
          "hand out -k3s-kubeconfig (FETCH_KUBECONFIG, 'carrierarr kubeconfig'); it holds the "
          "cluster's admin key");
  fs.String("power-mode", &r.power_mode, "system",
            "what SHUTDOWN/REBOOT act on: system (the host) or exit (this agent: exit, or "
            "restart itself)");
  fs.Duration("backoff-initial", &r.backoff_initial, d.backoff_initial,
              "first reconnect delay (doubles up to -backoff-max, with jitter)");
  fs.Duration("backoff-max", &r.backoff_max, d.backoff_max, "longest reconnect delay");
  fs.Duration("status-interval", &r.status_interval, d.status_interval,
              "status report interval until the control plane sets one");
  fs.Duration("heartbeat-interval", &r.heartbeat_interval, d.heartbeat_interval,
              "heartbeat interval until the control plane sets one");
  fs.Bool("version", &r.version, false, "print the version and exit");
}

Status Bad(const std::string& flag, const std::string& why) {
  return Status::InvalidArgument("invalid value for -" + flag + ": " + why);
}

// host:port with a non-empty host and a port in 1..65535 (IPv6 as [addr]:port), or unix:PATH.
bool ValidTarget(const std::string& target) {
  if (target.rfind("unix:", 0) == 0) return target.size() > 5;
  size_t colon = target.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == target.size()) return false;
  std::string host = target.substr(0, colon);
  if (host.front() == '[' && host.back() != ']') return false;
  if (host.front() != '[' && host.find(':') != std::string::npos) return false;
  int port = 0;
  const char* b = target.data() + colon + 1;
  const char* e = target.data() + target.size();
  auto [end, ec] = std::from_chars(b, e, port);
  return ec == std::errc() && end == e && port >= 1 && port <= 65535;
}

// A timer of AgentOptions from its flag's value, which must be at least `min`.
Status SetTimer(const std::string& flag, nanoseconds value, nanoseconds min, milliseconds& out) {
  if (value < min) {
    return Bad(flag, FormatGoDuration(value) + " is shorter than " + FormatGoDuration(min));
  }
  out = std::chrono::duration_cast<milliseconds>(value);
  return Status::Ok();
}

// Every value of the repeatable -label: FlagSet keeps only the last one, so they are collected
// from args first.
std::vector<std::string> LabelValues(const std::vector<std::string>& args) {
  std::vector<std::string> values;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") break;
    for (const char* prefix : {"-label=", "--label="}) {
      if (a.rfind(prefix, 0) == 0) values.push_back(a.substr(std::string(prefix).size()));
    }
    if ((a == "-label" || a == "--label") && i + 1 < args.size()) values.push_back(args[++i]);
  }
  return values;
}

Status SetControlPlane(const cli::FlagSet& fs, const RawFlags& r, const Environment& env,
                       AgentOptions& o) {
  o.control_plane = fs.WasSet("control-plane") ? r.control_plane : env.Get("CONTROL_PLANE_ADDR");
  if (o.control_plane.empty()) {
    return Status::InvalidArgument(
        "the control plane address is required: pass -control-plane HOST:PORT or set "
        "CONTROL_PLANE_ADDR");
  }
  if (!ValidTarget(o.control_plane)) {
    return Bad(fs.WasSet("control-plane") ? "control-plane" : "control-plane (CONTROL_PLANE_ADDR)",
               "\"" + o.control_plane + "\" is not HOST:PORT (port 1-65535) or unix:PATH");
  }
  return Status::Ok();
}

Status SetNodeType(const std::string& type, AgentOptions& o) {
  if (type == "gpu-worker") {
    o.node_type = ec2agent::v1::NODE_TYPE_GPU_WORKER;
  } else if (type == "cpu-worker") {
    o.node_type = ec2agent::v1::NODE_TYPE_CPU_WORKER;
  } else if (type == "lighthouse") {
    o.node_type = ec2agent::v1::NODE_TYPE_LIGHTHOUSE;
  } else {
    return Bad("type", "\"" + type + "\" is not gpu-worker, cpu-worker or lighthouse");
  }
  o.node_type_set = true;
  return Status::Ok();
}

// Who this node is and where its health server listens.
Status SetIdentity(const cli::FlagSet& fs, const RawFlags& r,
                   const std::vector<std::string>& label_values, AgentOptions& o) {
  if (fs.WasSet("type")) CARRIERARR_RETURN_IF_ERROR(SetNodeType(r.type, o));
  if (fs.WasSet("node-id") && r.node_id.empty()) return Bad("node-id", "must not be empty");
  o.node_id = r.node_id;

  if (r.health_port < 0 || r.health_port > 65535) {
    return Bad("health-port", std::to_string(r.health_port) + " is not in 0-65535");
  }
  o.health_port = static_cast<int>(r.health_port);
  if (r.health_addr.empty()) return Bad("health-addr", "must not be empty");
  o.health_addr = r.health_addr;

  o.instance_id = r.instance_id;
  o.nebula_ip = r.nebula_ip;
  if (r.nebula_dev.empty()) return Bad("nebula-dev", "must not be empty");
  o.nebula_dev = r.nebula_dev;
  o.public_ip = r.public_ip;
  o.region = r.region;
  o.az = r.az;

  for (const std::string& value : label_values) {
    for (const std::string& item : cli::SplitCommaList(value)) {
      size_t eq = item.find('=');
      if (eq == std::string::npos || eq == 0) {
        return Bad("label", "\"" + item + "\" is not key=value");
      }
      o.labels[item.substr(0, eq)] = item.substr(eq + 1);
    }
  }
  return Status::Ok();
}

// The token (or its file), the state directory for the node credential, and TLS.
Status SetCredentials(const cli::FlagSet& fs, const RawFlags& r, const Environment& env,
                      AgentOptions& o) {
  // Flags win over the environment; a token given twice is ambiguous. The messages name where
  // the token came from, never its value.
  const bool token_flag = fs.WasSet("token"), file_flag = fs.WasSet("token-file");
  if (token_flag && file_flag) {
    return Status::InvalidArgument("-token and -token-file are mutually exclusive: pass one");
  }
  if (token_flag) {
    o.token = r.token;
  } else if (file_flag) {
    o.token_file = r.token_file;
  } else {
    o.token = env.Get("CARRIERARR_TOKEN");
    o.token_file = env.Get("CARRIERARR_TOKEN_FILE");
    if (!o.token.empty() && !o.token_file.empty()) {
      return Status::InvalidArgument(
          "CARRIERARR_TOKEN and CARRIERARR_TOKEN_FILE are both set: set one");
    }
  }
  if (token_flag && o.token.empty()) return Bad("token", "must not be empty");
  if (file_flag && o.token_file.empty()) return Bad("token-file", "must not be empty");

  if (r.state_dir.empty()) return Bad("state-dir", "must not be empty");
  o.state_dir = r.state_dir;
  if (fs.WasSet("tls-ca") && r.tls_ca.empty()) return Bad("tls-ca", "must not be empty");
  o.tls_ca = r.tls_ca;
  if (!r.tls_server_name.empty() && r.tls_ca.empty()) {
    return Status::InvalidArgument("-tls-server-name needs -tls-ca (TLS is off without it)");
  }
  o.tls_server_name = r.tls_server_name;
  return Status::Ok();
}

// What the agent talks to on its node: IMDS, Ollama, the programs it runs, and power.
Status SetLocalServices(const RawFlags& r, AgentOptions& o) {
  if (r.imds == "on") {
    o.imds = true;
  } else if (r.imds == "off") {
    o.imds = false;
  } else {
    return Bad("imds", "\"" + r.imds + "\" is not on or off");
  }
  // Both are plain-HTTP services on this node (agent/http_client.h): checked here so that a
  // typo stops the start instead of quietly disabling what the service reports.
  if (auto e = http::ParseHttpUrl(r.imds_endpoint); !e.ok()) {
    return Bad("imds-endpoint", e.status().message());
  }
  o.imds_endpoint = r.imds_endpoint;
  if (auto e = http::ParseHttpUrl(r.ollama_url); !e.ok()) {
    return Bad("ollama-url", e.status().message());
  }
  o.ollama_url = r.ollama_url;
  for (auto [flag, value, target] :
       {std::tuple{"nvidia-smi", &r.nvidia_smi, &o.nvidia_smi},
        std::tuple{"kubectl", &r.kubectl, &o.kubectl},
        std::tuple{"systemctl", &r.systemctl, &o.systemctl},
        std::tuple{"k3s-kubeconfig", &r.k3s_kubeconfig, &o.k3s_kubeconfig}}) {
    if (value->empty()) return Bad(flag, "must not be empty");
    *target = *value;
  }
  o.allow_exec = r.allow_exec;
  o.allow_kubeconfig_fetch = r.allow_kubeconfig_fetch;
  if (r.power_mode == "system") {
    o.power_mode = PowerMode::kSystem;
  } else if (r.power_mode == "exit") {
    o.power_mode = PowerMode::kExit;
  } else {
    return Bad("power-mode", "\"" + r.power_mode + "\" is not system or exit");
  }
  return Status::Ok();
}

Status SetTimers(const RawFlags& r, AgentOptions& o) {
  CARRIERARR_RETURN_IF_ERROR(
      SetTimer("backoff-initial", r.backoff_initial, milliseconds(10), o.backoff_initial));
  CARRIERARR_RETURN_IF_ERROR(
      SetTimer("backoff-max", r.backoff_max, r.backoff_initial, o.backoff_max));
  CARRIERARR_RETURN_IF_ERROR(
      SetTimer("status-interval", r.status_interval, seconds(1), o.status_interval));
  return SetTimer("heartbeat-interval", r.heartbeat_interval, seconds(1), o.heartbeat_interval);
}

}  // namespace

std::string NodeTypeName(ec2agent::v1::NodeType type) {
  switch (type) {
    case ec2agent::v1::NODE_TYPE_GPU_WORKER:
      return "gpu-worker";
    case ec2agent::v1::NODE_TYPE_CPU_WORKER:
      return "cpu-worker";
    case ec2agent::v1::NODE_TYPE_LIGHTHOUSE:
      return "lighthouse";
    default:
      return "unspecified";
  }
}

std::string AgentUsage() {
  cli::FlagSet fs;
  RawFlags raw;
  DefineFlags(fs, raw);
  return "carrierarr-agent: the worker agent of a carrierarr fleet. It registers with the control\n"
         "plane, keeps a stream to it, reports status and runs its commands.\n\n"
         "Usage: carrierarr-agent -control-plane HOST:PORT [flags]\n\n"
         "The first start needs an enrollment token ('carrierarr tokens create'): pass it with\n"
         "-token-file (or CARRIERARR_TOKEN_FILE), which keeps it out of the process list.\n"
         "The node credential the control plane returns is kept in -state-dir and used from\n"
         "then on.\n\nFlags:\n" +
         fs.Usage();
}

Result<AgentOptions> ParseAgentOptions(const std::vector<std::string>& args,
                                       const Environment& env) {
  cli::FlagSet fs;
  RawFlags r;
  DefineFlags(fs, r);
  const std::vector<std::string> label_values = LabelValues(args);
  CARRIERARR_RETURN_IF_ERROR(fs.Parse(args));
  AgentOptions o;
  if (fs.help()) {
    o.help = true;
    return o;
  }
  if (r.version) {
    o.version = true;
    return o;
  }
  if (!fs.args().empty()) {
    return Status::InvalidArgument("unexpected argument \"" + fs.args().front() +
                                   "\": carrierarr-agent takes only flags");
  }
  // In this order, so that of several bad values the first one named is always the same.
  CARRIERARR_RETURN_IF_ERROR(SetControlPlane(fs, r, env, o));
  CARRIERARR_RETURN_IF_ERROR(SetIdentity(fs, r, label_values, o));
  CARRIERARR_RETURN_IF_ERROR(SetCredentials(fs, r, env, o));
  CARRIERARR_RETURN_IF_ERROR(SetLocalServices(r, o));
  CARRIERARR_RETURN_IF_ERROR(SetTimers(r, o));
  return o;
}

}  // namespace carrierarr::agent
