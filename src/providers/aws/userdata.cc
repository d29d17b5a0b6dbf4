#include "providers/aws/userdata.h"

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "core/ipv4.h"
#include "core/strings.h"
#include "providers/aws/shapes.h"

namespace carrierarr::aws_provider {
namespace {

// Where the first boot puts things. Fixed paths: nothing the user wrote decides a path.
constexpr std::string_view kBootstrapPath = "/usr/local/lib/carrierarr/bootstrap.sh";
constexpr std::string_view kSplitSecretPath = "/usr/local/lib/carrierarr/split-secret.py";
constexpr std::string_view kTokenPath = "/etc/carrierarr/agent.token";
constexpr std::string_view kK3sServerTokenPath = "/etc/rancher/k3s/server-token";
constexpr std::string_view kK3sAgentTokenPath = "/etc/rancher/k3s/agent-token";
constexpr std::string_view kK3sConfigPath = "/etc/rancher/k3s/config.yaml";
constexpr std::string_view kK3sUnitPath = "/etc/systemd/system/k3s.service";
constexpr std::string_view kDevicePluginPath =
    "/var/lib/rancher/k3s/server/manifests/carrierarr-nvidia-device-plugin.yaml";
constexpr std::string_view kAgentStateDir = "/var/lib/carrierarr-agent";
constexpr std::string_view kOllamaHome = "/var/lib/ollama";
constexpr std::string_view kOllamaUnitPath = "/etc/systemd/system/ollama.service";
constexpr std::string_view kModelsUnitPath = "/etc/systemd/system/carrierarr-models.service";
constexpr std::string_view kModelsScriptPath = "/usr/local/lib/carrierarr/carrierarr-models.py";
constexpr std::string_view kModelsConfigPath = "/etc/carrierarr/ollama-models.json";
constexpr int kOllamaPort = 11434;

// ---- validation ---------------------------------------------------------------------------
// Every value that lands in a YAML scalar, a systemd unit or the bootstrap script is held to an
// alphabet in which it cannot end its quoting or start a new line, so quoting is belt and braces.

// A value as it may appear in an error: control characters and quotes spelt out, so a refused
// newline shows as \n instead of breaking the message.
std::string Shown(std::string_view s) {
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (u < 0x20 || u >= 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", u);
      out += hex;
    } else {
      out += c;
    }
  }
  return out;
}

// Lowercase letters, digits and '-', not at either end: a DNS label (fleet and node names).
bool IsLabel(std::string_view s) {
  return !s.empty() && s.size() <= 63 && s.front() != '-' && s.back() != '-' &&
         AllOf(s, [](char c) { return IsLowerAlnum(c) || c == '-'; });
}

bool IsCanonicalIpv4(std::string_view s) {
  auto ip = ParseIpv4(s);
  return ip.ok() && FormatIpv4(*ip) == s;
}

// A join secret as k3s takes it: letters, digits and "-_.:" (no quotes or spaces).
bool IsK3sToken(std::string_view s) {
  return s.size() <= 512 && AllOf(s, [](char c) { return IsAlnum(c) || OneOf(c, "-_.:"); });
}

// ASCII text that a YAML block scalar carries byte for byte: printable characters, tabs and
// line feeds (no carriage returns, which YAML folds into line feeds).
size_t FirstNonText(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (!(s[i] == '\n' || s[i] == '\t' || (u >= 0x20 && u < 0x7f))) return i;
  }
  return std::string_view::npos;
}

class Checker {
 public:
  explicit Checker(const UserdataParams& p) : node_(p.node) {}

  // `value` must pass `ok`; `shape` says what it should look like. Secrets are never echoed.
  Status Value(std::string_view field, std::string_view value, bool ok, std::string_view shape,
               bool secret = false) const {
    if (ok) return Status::Ok();
    std::string shown = secret ? "(a value not shown)" : "'" + Shown(value) + "'";
    if (value.empty()) shown = "(empty)";
    return Status::InvalidArgument(Prefix() + std::string(field) + " " + shown + " must be " +
                                   std::string(shape));
  }

  Status Text(std::string_view field, std::string_view text) const {
    if (text.empty()) return Status::InvalidArgument(Prefix() + std::string(field) + " is empty");
    const size_t bad = FirstNonText(text);
    if (bad == std::string_view::npos) return Status::Ok();
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned char>(text[bad]));
    return Status::InvalidArgument(Prefix() + std::string(field) + " holds byte " + hex +
                                   " at offset " + std::to_string(bad) +
                                   ": only printable ASCII, tabs and line feeds can be embedded "
                                   "verbatim (PEM and Nebula configs are such text)");
  }

  Status Pem(std::string_view field, std::string_view pem) const {
    CARRIERARR_RETURN_IF_ERROR(Text(field, pem));
    if (pem.rfind("-----BEGIN NEBULA ", 0) != 0) {
      return Status::InvalidArgument(
          Prefix() + std::string(field) +
          " is not a Nebula PEM block ('-----BEGIN NEBULA ...'); pass the file's contents, not "
          "its path or the program that makes it");
    }
    return Status::Ok();
  }

  std::string Prefix() const { return "userdata for node '" + Shown(node_) + "': "; }

 private:
  std::string node_;
};

// The agent: only over https, only with its digest, only with its token.
Status ValidateAgent(const Checker& check, const UserdataParams& p) {
  CARRIERARR_RETURN_IF_ERROR(
      check.Value("agent_url", p.agent_url, p.agent_url.empty() || IsHttpsUrl(p.agent_url),
                  "an https URL of letters, digits and '-._~/%+=&?:@,' (no quotes, spaces or "
                  "'$'), e.g. https://example.org/carrierarr-agent-x86_64"));
  CARRIERARR_RETURN_IF_ERROR(check.Value("agent_sha256", p.agent_sha256,
                                         p.agent_sha256.empty() || IsHex(p.agent_sha256, 64),
                                         "64 hex digits, as sha256sum prints them"));
  CARRIERARR_RETURN_IF_ERROR(
      check.Value("agent_token", p.agent_token,
                  p.agent_token.size() <= 512 &&
                      AllOf(p.agent_token, [](char c) { return IsAlnum(c) || OneOf(c, "-_."); }),
                  "letters, digits, '-', '_' or '.' (an enrollment token such as cet_... or "
                  "cst1....)",
                  true));
  if (p.agent_url.empty()) {
    if (!p.agent_token.empty() || !p.agent_sha256.empty()) {
      return Status::InvalidArgument(check.Prefix() +
                                     "an agent token or digest without an agent_url: there is "
                                     "no agent to download");
    }
    return Status::Ok();
  }
  if (p.agent_sha256.empty()) {
    return Status::InvalidArgument(check.Prefix() +
                                   "the agent (agent_url) needs its sha256 (agent_sha256): a "
                                   "node runs no program it cannot check");
  }
  if (p.agent_token.empty()) {
    return Status::InvalidArgument(check.Prefix() +
                                   "an agent (agent_url) needs its enrollment token (agent_token) "
                                   "to register; mint one with 'carrierarr tokens create'");
  }
  return check.Value("control_plane", p.control_plane, IsHostPort(p.control_plane),
                     "HOST:PORT on the mesh, e.g. 10.42.1.1:50051");
}

// k3s: a pinned release; the server token on the server alone, the agent token everywhere.
Status ValidateK3s(const Checker& check, const UserdataParams& p) {
  if (p.k3s_agent_token.empty()) {
    if (!p.k3s_token.empty()) {
      return Status::InvalidArgument(check.Prefix() +
                                     "a k3s server token without the agent token (k3s_agent_token)"
                                     ": agents could only join with the server's own");
    }
    return Status::Ok();
  }
  CARRIERARR_RETURN_IF_ERROR(
      check.Value("k3s_agent_token", p.k3s_agent_token, IsK3sToken(p.k3s_agent_token),
                  "letters, digits, '-', '_', '.' or ':' (a k3s token)", true));
  CARRIERARR_RETURN_IF_ERROR(check.Value("k3s_version", p.k3s_version, IsK3sVersion(p.k3s_version),
                                         "a k3s release such as v1.31.4+k3s1"));
  if (p.k3s_server) {
    CARRIERARR_RETURN_IF_ERROR(
        check.Value("k3s_token", p.k3s_token, !p.k3s_token.empty() && IsK3sToken(p.k3s_token),
                    "the server's token: letters, digits, '-', '_', '.' or ':'", true));
    if (p.k3s_token == p.k3s_agent_token) {
      return Status::InvalidArgument(check.Prefix() +
                                     "the k3s server and agent tokens are the same: an agent "
                                     "would hold the server's");
    }
    if (p.k3s_server_ip.empty()) return Status::Ok();
  } else if (!p.k3s_token.empty()) {
    return Status::InvalidArgument(check.Prefix() +
                                   "a k3s agent was given the server token (k3s_token); agents "
                                   "join with k3s_agent_token only");
  }
  return check.Value("k3s_server_ip", p.k3s_server_ip, IsCanonicalIpv4(p.k3s_server_ip),
                     "the k3s server's mesh address, e.g. 10.42.0.1");
}

// Cilium instead of flannel: pinned releases, and the cluster's name and id by Cilium's rules.
Status ValidateCilium(const Checker& check, const UserdataParams& p) {
  if (p.cilium_version.empty()) return Status::Ok();
  auto release = [](const std::string& v, bool v_prefix) {
    if (v_prefix != (!v.empty() && v[0] == 'v')) return false;
    int dots = 0;
    for (char c : v.substr(v_prefix ? 1 : 0)) {
      if (c == '.')
        ++dots;
      else if (c < '0' || c > '9')
        return false;
    }
    return dots == 2;
  };
  CARRIERARR_RETURN_IF_ERROR(check.Value("cilium_version", p.cilium_version,
                                         release(p.cilium_version, false),
                                         "a Cilium release such as 1.16.5"));
  CARRIERARR_RETURN_IF_ERROR(check.Value("cilium_cli_version", p.cilium_cli_version,
                                         release(p.cilium_cli_version, true),
                                         "a cilium CLI release such as v0.16.22"));
  CARRIERARR_RETURN_IF_ERROR(check.Value(
      "cluster_name", p.cluster_name, IsLabel(p.cluster_name) && p.cluster_name.size() <= 32,
      "at most 32 lowercase letters, digits or '-' (Cilium's rule)"));
  CARRIERARR_RETURN_IF_ERROR(check.Value("cluster_id", std::to_string(p.cluster_id),
                                         p.cluster_id >= 1 && p.cluster_id <= 255,
                                         "1 to 255 (Cilium's rule)"));
  return check.Value("clustermesh_port", std::to_string(p.clustermesh_port),
                     p.clustermesh_port >= 30000 && p.clustermesh_port <= 32767,
                     "a NodePort, 30000 to 32767");
}

bool IsModelChar(char c) { return IsAlnum(c) || OneOf(c, "._:/-"); }

Status ValidateOllama(const Checker& check, const UserdataParams& p) {
  if (p.ollama_version.empty()) {
    if (!p.models.empty() || !p.models_device.empty())
      return Status::InvalidArgument(check.Prefix() +
                                     "models and models_device need an ollama_version");
    return Status::Ok();
  }
  CARRIERARR_RETURN_IF_ERROR(check.Value("ollama_version", p.ollama_version,
                                         IsVersion(p.ollama_version),
                                         "an ollama/ollama release such as 0.13.3"));
  for (const auto& model : p.models) {
    CARRIERARR_RETURN_IF_ERROR(check.Value(
        "models", model, !model.empty() && model.size() <= 200 && AllOf(model, IsModelChar),
        "Ollama model names of [A-Za-z0-9._:/-], e.g. llama3:8b"));
  }
  CARRIERARR_RETURN_IF_ERROR(
      check.Value("keep_alive", p.keep_alive,
                  p.keep_alive == "-1" ||
                      (!p.keep_alive.empty() && p.keep_alive.size() <= 32 &&
                       AllOf(p.keep_alive, [](char c) { return IsLowerAlnum(c) || c == '.'; })),
                  "-1 or a duration such as 30m"));
  return check.Value("models_device", p.models_device,
                     p.models_device.empty() ||
                         (p.models_device.size() == 8 && p.models_device.starts_with("/dev/sd") &&
                          p.models_device[7] >= 'f' && p.models_device[7] <= 'p'),
                     "a device name /dev/sdf to /dev/sdp");
}

Status Validate(const UserdataParams& p) {
  const Checker check(p);
  CARRIERARR_RETURN_IF_ERROR(check.Value("node", p.node, IsLabel(p.node),
                                         "1-63 lowercase letters, digits or '-', e.g. gpu-1"));
  CARRIERARR_RETURN_IF_ERROR(check.Value("fleet", p.fleet, IsLabel(p.fleet),
                                         "1-63 lowercase letters, digits or '-', e.g. demo"));
  CARRIERARR_RETURN_IF_ERROR(check.Value(
      "agent_type", p.agent_type,
      p.agent_type == "lighthouse" || p.agent_type == "gpu-worker" || p.agent_type == "cpu-worker",
      "lighthouse, gpu-worker or cpu-worker"));
  CARRIERARR_RETURN_IF_ERROR(
      check.Value("arch", p.arch, p.arch == "x86_64" || p.arch == "arm64", "x86_64 or arm64"));
  CARRIERARR_RETURN_IF_ERROR(check.Value("mesh_ip", p.mesh_ip, IsCanonicalIpv4(p.mesh_ip),
                                         "an IPv4 address without a mask, e.g. 10.42.2.1"));
  CARRIERARR_RETURN_IF_ERROR(
      check.Value("tun_device", p.tun_device,
                  !p.tun_device.empty() && p.tun_device.size() <= 15 &&
                      AllOf(p.tun_device, [](char c) { return IsLowerAlnum(c) || OneOf(c, "-_"); }),
                  "an interface name of 1-15 lowercase letters, digits, '-' or '_', e.g. nebula1"));
  CARRIERARR_RETURN_IF_ERROR(check.Value("nebula_version", p.nebula_version,
                                         IsVersion(p.nebula_version),
                                         "a slackhq/nebula release such as 1.9.5"));

  CARRIERARR_RETURN_IF_ERROR(check.Value(
      "mirror", p.mirror, p.mirror.empty() || IsMirrorUrl(p.mirror),
      "an https base URL without a query or a final '/', e.g. https://mirror.example.org/github"));
  CARRIERARR_RETURN_IF_ERROR(ValidateAgent(check, p));
  CARRIERARR_RETURN_IF_ERROR(ValidateK3s(check, p));
  CARRIERARR_RETURN_IF_ERROR(ValidateCilium(check, p));
  CARRIERARR_RETURN_IF_ERROR(ValidateOllama(check, p));
  CARRIERARR_RETURN_IF_ERROR(check.Value(
      "device_plugin_image", p.device_plugin_image,
      p.device_plugin_image.empty() ||
          (IsImageReference(p.device_plugin_image) && p.k3s_server && !p.k3s_agent_token.empty()),
      "an image such as nvcr.io/nvidia/k8s-device-plugin:v0.17.0, on the k3s server only"));

  // Nebula material: in the userdata, or in Secrets Manager.
  const bool in_secret = !p.secret_id.empty();
  CARRIERARR_RETURN_IF_ERROR(
      check.Value("region", p.region,
                  (p.region.empty() && !in_secret) ||
                      (!p.region.empty() && p.region.size() <= 32 &&
                       AllOf(p.region, [](char c) { return IsLowerAlnum(c) || c == '-'; })),
                  "a region such as us-west-2 (required with secret_id)"));
  if (in_secret) {
    CARRIERARR_RETURN_IF_ERROR(check.Value(
        "secret_id", p.secret_id,
        p.secret_id.size() <= 512 &&
            AllOf(p.secret_id, [](char c) { return IsAlnum(c) || OneOf(c, "/_+=.@:-"); }),
        "a Secrets Manager name or ARN (letters, digits and '/_+=.@:-')"));
    if (!p.ca_crt.empty() || !p.host_crt.empty() || !p.host_key.empty() ||
        !p.nebula_config.empty()) {
      return Status::InvalidArgument(
          check.Prefix() +
          "both a secret_id and embedded Nebula material were given; with Secrets Manager the "
          "certificates, key and config stay out of the userdata, so leave them empty");
    }
  } else {
    CARRIERARR_RETURN_IF_ERROR(check.Pem("ca_crt", p.ca_crt));
    CARRIERARR_RETURN_IF_ERROR(check.Pem("host_crt", p.host_crt));
    CARRIERARR_RETURN_IF_ERROR(check.Pem("host_key", p.host_key));
    CARRIERARR_RETURN_IF_ERROR(check.Text("nebula_config", p.nebula_config));
  }
  return Status::Ok();
}

// ---- YAML ---------------------------------------------------------------------------------

// `text` as a literal block scalar whose lines are indented by `indent` spaces, with the
// chomping indicator that makes the parsed value equal `text` byte for byte: strip (-) without
// a final line feed, clip for exactly one, keep (+) for more. An explicit indentation indicator
// is added when the first line starts with a space (the parser would take it for indentation).
// `text` has passed FirstNonText.
std::string BlockScalar(std::string_view text, int indent) {
  const std::string pad(static_cast<size_t>(indent), ' ');
  std::string header = "|";
  const size_t first = text.find_first_not_of('\n');
  if (first != std::string_view::npos && text[first] == ' ') header += "2";
  if (text.empty() || text.back() != '\n') {
    header += "-";
  } else if (text.size() >= 2 && text[text.size() - 2] == '\n') {
    header += "+";
  }
  std::string out = header + "\n";
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(start, nl - start);
    if (!line.empty()) out += pad;
    out += line;
    out += '\n';
    start = nl + 1;
  }
  return out;
}

// One write_files entry. Files are root's; `permissions` is octal, quoted so YAML keeps it a
// string.
std::string WriteFile(std::string_view path, std::string_view permissions,
                      std::string_view content) {
  return "  - path: " + std::string(path) + "\n    owner: root:root\n    permissions: '" +
         std::string(permissions) + "'\n    content: " + BlockScalar(content, 6);
}

// ---- files on the node --------------------------------------------------------------------

std::string NebulaUnit() {
  return R"([Unit]
Description=Nebula mesh (carrierarr)
Wants=network-online.target
After=network-online.target

[Service]
ExecStartPre=/usr/local/bin/nebula -test -config /etc/nebula/config.yml
ExecStart=/usr/local/bin/nebula -config /etc/nebula/config.yml
ExecReload=/bin/kill -HUP $MAINPID
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
)";
}

// The agent reaches the control plane over the mesh, so it starts after Nebula. Every argument
// is validated and free of spaces, so systemd's own word splitting keeps them apart. The k3s
// server's agent hands out the cluster's kubeconfig ('carrierarr kubeconfig'); no other does.
std::string AgentUnit(const UserdataParams& p) {
  const bool k3s_server = p.k3s_server && !p.k3s_agent_token.empty();
  return "[Unit]\nDescription=carrierarr agent (node " + p.node +
         ")\nWants=network-online.target\nAfter=network-online.target nebula.service\n\n"
         "[Service]\nExecStart=/usr/local/bin/carrierarr-agent --control-plane " +
         p.control_plane + " --node-id " + p.node + " --type " + p.agent_type + " --token-file " +
         std::string(kTokenPath) + " --state-dir " + std::string(kAgentStateDir) +
         " --nebula-dev " + p.tun_device + (k3s_server ? " --allow-kubeconfig-fetch" : "") +
         (p.ollama_version.empty()
              ? ""
              : " --ollama-url http://" + p.mesh_ip + ":" + std::to_string(kOllamaPort)) +
         "\nRestart=always\nRestartSec=5\n\n[Install]\nWantedBy=multi-user.target\n";
}

// Ollama on the mesh address only (the Nebula firewall admits the homelab to it). Until Nebula
// has the address, `serve` cannot listen and exits: systemd starts it again, without a limit.
std::string OllamaUnit(const UserdataParams& p) {
  return "[Unit]\nDescription=Ollama on the mesh (carrierarr)\nAfter=nebula.service\n"
         "Wants=nebula.service\nRequiresMountsFor=" +
         std::string(kOllamaHome) +
         "\nStartLimitIntervalSec=0\n\n[Service]\nUser=ollama\nGroup=ollama\n"
         "Environment=OLLAMA_HOST=" +
         p.mesh_ip + ":" + std::to_string(kOllamaPort) +
         "\nEnvironment=OLLAMA_MODELS=" + std::string(kOllamaHome) +
         "/models\nEnvironment=OLLAMA_KEEP_ALIVE=" + p.keep_alive +
         "\nExecStart=/usr/local/bin/ollama serve\nRestart=always\nRestartSec=3\n\n"
         "[Install]\nWantedBy=multi-user.target\n";
}

// At every boot: the pool's models pulled where missing, then loaded (carrierarr-models.py).
std::string ModelsUnit() {
  return "[Unit]\nDescription=The pool's Ollama models, pulled and loaded (carrierarr)\n"
         "After=ollama.service\nRequires=ollama.service\n\n[Service]\n"
         "ExecStart=/usr/bin/python3 " +
         std::string(kModelsScriptPath) + " " + std::string(kModelsConfigPath) +
         "\nRestart=on-failure\nRestartSec=30\n\n[Install]\nWantedBy=multi-user.target\n";
}

// What carrierarr-models reads: Ollama's address, the models, and keep_alive in Ollama's JSON
// (a number of seconds, -1 = while the node runs, or a duration string).
std::string ModelsConfig(const UserdataParams& p) {
  nlohmann::json c = {{"host", "http://" + p.mesh_ip + ":" + std::to_string(kOllamaPort)},
                      {"models", p.models}};
  if (p.keep_alive == "-1") {
    c["keep_alive"] = -1;
  } else {
    c["keep_alive"] = p.keep_alive;
  }
  return c.dump(2) + "\n";
}

// Each model: present (api/show) or pulled (api/pull, bounded retries), then loaded with
// keep_alive by a request without a prompt (Ollama's way to preload). Python: JSON in and out
// without a shell.
std::string ModelsScript() {
  return R"PY(# Pulls the pool's Ollama models it lacks and loads them (written by carrierarr).
import json, sys, time, urllib.error, urllib.request

with open(sys.argv[1], encoding="utf-8") as f:
    cfg = json.load(f)

def post(path, body, timeout):
    request = urllib.request.Request(cfg["host"] + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return answer.read()

def attempt(what, call, tries, pause):
    for n in range(1, tries + 1):
        try:
            return call()
        except OSError as e:  # urllib's errors are OSErrors
            print(f"{what}: attempt {n} of {tries} failed: {e}", flush=True)
            if n == tries:
                raise
            time.sleep(pause)

attempt("ollama", lambda: urllib.request.urlopen(cfg["host"] + "/api/version", timeout=5).read(),
        60, 2)
for model in cfg["models"]:
    try:
        post("/api/show", {"model": model}, 60)
        print(f"{model}: already on the models volume", flush=True)
    except urllib.error.HTTPError:
        # Ollama answers a pull without streaming once it is done: the timeout is per read.
        attempt("pull " + model,
                lambda: post("/api/pull", {"model": model, "stream": False}, 3 * 3600), 5, 30)
        print(f"{model}: pulled", flush=True)
    attempt("load " + model,
            lambda: post("/api/generate", {"model": model, "keep_alive": cfg["keep_alive"]}, 1800),
            5, 10)
    print(f"{model}: loaded", flush=True)
)PY";
}

// k3s reads /etc/rancher/k3s/config.yaml at start; every address in it is the mesh's
// (kubernetes.md: "k3s over Nebula"), so the cluster's traffic stays on the mesh. It names the
// token files and holds no secret itself.
std::string K3sConfig(const UserdataParams& p) {
  auto q = [](std::string_view v) { return "\"" + std::string(v) + "\""; };  // validated: no quotes
  std::string y = "# k3s " + std::string(p.k3s_server ? "server" : "agent") +
                  " bound to the Nebula mesh (written by carrierarr)\n"
                  "node-name: " +
                  q(p.node) + "\nnode-ip: " + q(p.mesh_ip) + "\n";
  if (p.cilium_version.empty()) y += "flannel-iface: " + q(p.tun_device) + "\n";
  if (p.k3s_server) {
    // The server token stays here; agents join with the agent token, which admits agents only.
    y += "token-file: " + q(kK3sServerTokenPath) + "\nagent-token-file: " + q(kK3sAgentTokenPath) +
         "\nadvertise-address: " + q(p.mesh_ip) + "\ntls-san:\n  - " + q(p.mesh_ip) +
         "\ncluster-cidr: " + q(kK3sClusterCidr) + "\nservice-cidr: " + q(kK3sServiceCidr) + "\n";
    // Cilium is the CNI (ClusterMesh); a node is NotReady until the bootstrap installs it.
    if (!p.cilium_version.empty()) y += "flannel-backend: \"none\"\ndisable-network-policy: true\n";
  } else {
    y += "token-file: " + q(kK3sAgentTokenPath) +
         "\nserver: " + q("https://" + p.k3s_server_ip + ":6443") + "\n";
  }
  // What the NVIDIA device plugin's DaemonSet selects (NvidiaDevicePluginManifest).
  if (p.agent_type == "gpu-worker") y += "node-label:\n  - \"nvidia.com/gpu.present=true\"\n";
  return y;
}

// k3s as the release's own binary under systemd (what get.k3s.io would write, without running
// an unchecked installer).
std::string K3sUnit(const UserdataParams& p) {
  const std::string role = p.k3s_server ? "server" : "agent";
  return "[Unit]\nDescription=k3s " + role +
         " on the Nebula mesh (carrierarr)\nWants=network-online.target\n"
         "After=network-online.target nebula.service\n\n[Service]\n"
         // The server tells systemd when it is ready; the agent does not (as k3s's installer).
         "Type=" +
         std::string(p.k3s_server ? "notify" : "exec") +
         "\n"
         "ExecStartPre=-/sbin/modprobe br_netfilter\nExecStartPre=-/sbin/modprobe overlay\n"
         "ExecStart=/usr/local/bin/k3s " +
         role +
         "\nKillMode=process\nDelegate=yes\nLimitNOFILE=1048576\nLimitNPROC=infinity\n"
         "LimitCORE=infinity\nTasksMax=infinity\nTimeoutStartSec=0\nRestart=always\n"
         "RestartSec=5s\n\n[Install]\nWantedBy=multi-user.target\n";
}

// Runs with python3 (on Amazon Linux 2023, cloud-init's own interpreter) on the secret that the
// bootstrap fetched: writes each Nebula file and each of the node's tokens with mode 0600,
// atomically.
std::string SplitSecretScript() {
  return R"PY("""carrierarr: a node's Secrets Manager secret into its files (mode 0600)."""
import json
import os
import sys

FILES = [
    ("nebula_ca_crt", "/etc/nebula/ca.crt"),
    ("nebula_node_crt", "/etc/nebula/host.crt"),
    ("nebula_node_key", "/etc/nebula/host.key"),
    ("nebula_config", "/etc/nebula/config.yml"),
]
# The node's tokens, when it has them; the bootstrap checks for those it needs.
TOKENS = [
    ("carrierarr_agent_token", "/etc/carrierarr/agent.token"),
    ("k3s_token", "/etc/rancher/k3s/server-token"),
    ("k3s_agent_token", "/etc/rancher/k3s/agent-token"),
]

with open(sys.argv[1], encoding="utf-8") as f:
    secret = json.load(f)
missing = [key for key, _ in FILES if not isinstance(secret.get(key), str) or not secret[key]]
if missing:
    sys.exit("the secret lacks " + ", ".join(missing) + "; run 'carrierarr up' again to rewrite it")
written = []
for key, path in FILES + TOKENS:
    value = secret.get(key)
    if not isinstance(value, str) or not value:
        continue
    if key in dict(TOKENS):
        value = value + "\n"
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(value)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    written.append(path)
print("wrote " + ", ".join(written))
)PY";
}

// `value` as a single-quoted shell word. Validation already keeps quotes out; this holds even if
// it did not.
std::string ShellQuote(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// The k3s server installs Cilium (agents get it from the server's DaemonSet).
bool CiliumHere(const UserdataParams& p) {
  return !p.cilium_version.empty() && p.k3s_server && !p.k3s_agent_token.empty();
}

// The top of the first-boot script: the only part that varies, each a validated value in single
// quotes.
std::string BootstrapVariables(const UserdataParams& p, bool agent, bool secret) {
  auto var = [](std::string_view name, std::string_view value) {
    return "readonly " + std::string(name) + "=" + ShellQuote(value) + "\n";
  };
  std::string s =
      "#!/bin/bash\n"
      "# carrierarr first boot: Nebula, carrierarr-agent and k3s, each checked before it runs.\n"
      "# Written by cloud-init and run once from runcmd; logs to "
      "/var/log/carrierarr-bootstrap.log.\n"
      "set -Eeuo pipefail\n"
      "umask 077\n\n";
  s += var("NODE", p.node);
  s += var("FLEET", p.fleet);
  s += var("MESH_IP", p.mesh_ip);
  s += var("TUN_DEVICE", p.tun_device);
  s += var("NEBULA_VERSION", p.nebula_version);
  s += var("NEBULA_ARCH", p.arch == "arm64" ? "arm64" : "amd64");
  if (secret) {
    s += var("SECRET_ID", p.secret_id);
    s += var("REGION", p.region);
  }
  s += var("RELEASES", p.mirror.empty() ? "https://github.com" : p.mirror);
  s += var("AGENT", agent ? "yes" : "");
  s += var("AGENT_URL", p.agent_url);
  std::string sha = p.agent_sha256;
  std::transform(sha.begin(), sha.end(), sha.begin(),
                 [](char c) { return c >= 'A' && c <= 'F' ? static_cast<char>(c + 32) : c; });
  s += var("AGENT_SHA256", sha);
  s += var("K3S_ROLE", p.k3s_agent_token.empty() ? "" : (p.k3s_server ? "server" : "agent"));
  s += var("K3S_VERSION", p.k3s_agent_token.empty() ? "" : p.k3s_version);
  if (CiliumHere(p)) {
    s += var("CILIUM_VERSION", p.cilium_version);
    s += var("CILIUM_CLI_VERSION", p.cilium_cli_version);
    s += var("CLUSTER_NAME", p.cluster_name);
    s += var("CLUSTER_ID", std::to_string(p.cluster_id));
    s += var("CLUSTERMESH_PORT", std::to_string(p.clustermesh_port));
  }
  if (!p.ollama_version.empty()) {
    s += var("OLLAMA_VERSION", p.ollama_version);
    s += var("MODELS_DEVICE", p.models_device);
  }
  s += "\n";
  return s;
}

// The log, failure reporting (also on the console), retries and checks the steps share.
// retry TRIES DELAY COMMAND...: downloads and the first AWS call may race the network or the
// instance profile right after boot. fetch_release BASE FILE SUMS: BASE/FILE into ${work}, over
// https only, checked against the sha256 that the release's BASE/SUMS lists for FILE. (Said
// here rather than in the script, which counts against EC2's 16 KiB of userdata.)
constexpr char kShellHelpers[] = R"SH(exec >>/var/log/carrierarr-bootstrap.log 2>&1
step='start'
log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $*"; }
fail() {
  log "carrierarr bootstrap FAILED in step '${step}': $*"
  # Also on the serial console, which 'aws ec2 get-console-output' shows without SSH.
  echo "carrierarr bootstrap FAILED in step '${step}'; see /var/log/carrierarr-bootstrap.log" \
    >/dev/console 2>/dev/null || true
  exit 1
}
trap 'fail "line ${LINENO} exited with status $?"' ERR
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

retry() {
  local tries=$1 delay=$2 n=1
  shift 2
  until "$@"; do
    if [ "${n}" -ge "${tries}" ]; then return 1; fi
    log "retrying $1 in ${delay}s (attempt ${n} of ${tries} failed)"
    sleep "${delay}"
    n=$((n + 1))
  done
}

# sha256_is FILE DIGEST: the file's SHA-256 is DIGEST (lowercase hex).
sha256_is() { [ "$(sha256sum "$1" | cut -d ' ' -f 1)" = "$2" ]; }

# sum_of SUMS FILE: FILE's digest in a sha256sum listing (a "*" or "./" before names allowed).
sum_of() {
  awk -v f="$2" '{ n = $2; sub(/^\*/, "", n); sub(/^\.\//, "", n) } n == f { print $1; exit }' "$1"
}

fetch_release() {
  local base=$1 file=$2 sums=$3 want
  retry 5 5 curl -fsSL --proto '=https' -o "${work}/${file}" "${base}/${file}" ||
    fail "could not download ${base}/${file}"
  retry 5 5 curl -fsSL --proto '=https' -o "${work}/${sums}" "${base}/${sums}" ||
    fail "could not download ${base}/${sums}"
  want="$(sum_of "${work}/${sums}" "${file}")"
  [ -n "${want}" ] || fail "${file} is not listed in the release's ${sums}"
  sha256_is "${work}/${file}" "${want}" ||
    fail "${file} does not match the sha256 in the release's ${sums}"
}

# The tun device carries the node's mesh address. (No "| grep -q" under pipefail: an early exit
# of grep can fail the pipe.)
has_mesh_ip() {
  local addrs
  addrs="$(ip -4 -o addr show dev "${TUN_DEVICE}" 2>/dev/null)" || return 1
  [[ "${addrs}" == *"inet ${MESH_IP}/"* ]]
}

log "carrierarr bootstrap of node ${NODE} (fleet ${FLEET}, mesh ${MESH_IP})"

)SH";

// The Nebula material from Secrets Manager, when the node fetches it at boot (only then is the
// step in the script: userdata is scarce).
constexpr char kSecretStep[] = R"SH(step='Nebula material from Secrets Manager'
command -v aws >/dev/null || dnf install -y awscli-2
secret_file="$(mktemp "${work}/secret.XXXXXX")"
log "fetching secret ${SECRET_ID} in ${REGION} with the instance profile"
# The secret's policy admits this instance only from a moment after its launch: retry.
retry 20 6 aws secretsmanager get-secret-value --secret-id "${SECRET_ID}" --region "${REGION}" \
  --query SecretString --output text >"${secret_file}" ||
  fail "could not read secret ${SECRET_ID}:" \
    "the instance profile needs secretsmanager:GetSecretValue on it, and its resource policy" \
    "must name this instance (carrierarr up sets it right after the launch)"
python3 /usr/local/lib/carrierarr/split-secret.py "${secret_file}"
rm -f "${secret_file}"

)SH";

// Nebula's release, checked against the release's SHA256 sums.
constexpr char kNebulaInstallStep[] = R"SH(step="Nebula ${NEBULA_VERSION}"
installed="$(/usr/local/bin/nebula -version 2>/dev/null || true)"
if [ "${installed}" = "Version: ${NEBULA_VERSION}" ]; then
  log "nebula ${NEBULA_VERSION} is already installed"
else
  command -v tar >/dev/null || dnf install -y tar
  base="${RELEASES}/slackhq/nebula/releases/download/v${NEBULA_VERSION}"
  tarball="nebula-linux-${NEBULA_ARCH}.tar.gz"
  fetch_release "${base}" "${tarball}" SHASUM256.txt
  mkdir "${work}/nebula"
  tar -xzf "${work}/${tarball}" -C "${work}/nebula"
  install -D -m 0755 "${work}/nebula/nebula" /usr/local/bin/nebula
  install -D -m 0755 "${work}/nebula/nebula-cert" /usr/local/bin/nebula-cert
  log "nebula ${NEBULA_VERSION} installed (sha256 checked)"
fi

)SH";

// Nebula running, and the tun device carrying the mesh address.
constexpr char kNebulaServiceStep[] = R"SH(step='Nebula service'
systemctl daemon-reload
systemctl enable --now nebula.service
for _ in $(seq 1 30); do
  has_mesh_ip && break
  sleep 2
done
has_mesh_ip ||
  fail "${TUN_DEVICE} did not get ${MESH_IP} within 60 s; see 'journalctl -u nebula'"
log "nebula is up: ${MESH_IP} on ${TUN_DEVICE}"

)SH";

// carrierarr-agent downloaded over https, checked against its digest, and started.
constexpr char kAgentStep[] = R"SH(step='carrierarr-agent'
if [ -n "${AGENT}" ]; then
  [ -s /etc/carrierarr/agent.token ] ||
    fail "no enrollment token in /etc/carrierarr/agent.token; run 'carrierarr up' again"
  shown_url="${AGENT_URL%%\?*}"  # a presigned URL's query holds its signature: keep it out of logs
  retry 5 5 curl -fsSL --proto '=https' -o "${work}/carrierarr-agent" "${AGENT_URL}" ||
    fail "could not download carrierarr-agent from ${shown_url}"
  sha256_is "${work}/carrierarr-agent" "${AGENT_SHA256}" ||
    fail "carrierarr-agent from ${shown_url} does not match providers.aws.agent_sha256"
  log "carrierarr-agent from ${shown_url} verified (sha256)"
  install -D -m 0755 "${work}/carrierarr-agent" /usr/local/bin/carrierarr-agent
  install -d -m 0700 /var/lib/carrierarr-agent
  systemctl enable --now carrierarr-agent.service
  log "carrierarr-agent started"
else
  log "no carrierarr-agent on this node (providers.aws.agent_url is not set)"
fi

)SH";

// k3s as server or agent, when the fleet runs k3s: the pinned release's binary, checked against
// the release's sha256sum-<arch>.txt; then the end. k3s is kubectl too when run by that name
// (its own installer makes the link): the agent's DRAIN and its report of the cluster's nodes
// run "kubectl".
constexpr char kK3sStep[] = R"SH(if [ -n "${K3S_ROLE}" ]; then
  step="k3s ${K3S_VERSION} ${K3S_ROLE}"
  [ -s /etc/rancher/k3s/agent-token ] || fail "no k3s agent token in /etc/rancher/k3s/agent-token"
  if [ "${K3S_ROLE}" = server ]; then
    [ -s /etc/rancher/k3s/server-token ] ||
      fail "no k3s server token in /etc/rancher/k3s/server-token"
  fi
  installed="$(/usr/local/bin/k3s --version 2>/dev/null || true)"
  if [[ "${installed}" == "k3s version ${K3S_VERSION} "* ]]; then
    log "k3s ${K3S_VERSION} is already installed"
  else
    base="${RELEASES}/k3s-io/k3s/releases/download/${K3S_VERSION//+/%2B}"
    binary='k3s'
    if [ "${NEBULA_ARCH}" = arm64 ]; then binary='k3s-arm64'; fi
    fetch_release "${base}" "${binary}" "sha256sum-${NEBULA_ARCH}.txt"
    install -D -m 0755 "${work}/${binary}" /usr/local/bin/k3s
    log "k3s ${K3S_VERSION} installed (sha256 checked)"
  fi
  [ -e /usr/local/bin/kubectl ] || ln -s k3s /usr/local/bin/kubectl
  systemctl daemon-reload
  systemctl enable --now k3s.service
  log "k3s ${K3S_ROLE} started"
fi

)SH";

// On the k3s server of a ClusterMesh fleet: the cilium CLI (checked) installs Cilium with the
// cluster's name and id, on k3s's pod ranges (ipam kubernetes: Cilium's own default pool,
// 10.0.0.0/8, holds the mesh), its clustermesh-apiserver on the cluster's NodePort and the
// agents' metrics on.
constexpr char kCiliumStep[] = R"SH(step="Cilium ${CILIUM_VERSION}"
export KUBECONFIG=/etc/rancher/k3s/k3s.yaml
if kubectl -n kube-system get daemonset cilium >/dev/null 2>&1; then
  log "Cilium is already installed"
else
  tarball="cilium-linux-${NEBULA_ARCH}.tar.gz"
  fetch_release "${RELEASES}/cilium/cilium-cli/releases/download/${CILIUM_CLI_VERSION}" \
    "${tarball}" "${tarball}.sha256sum"
  tar -xzf "${work}/${tarball}" -C /usr/local/bin cilium
  retry 5 10 cilium install --version "${CILIUM_VERSION}" --set cluster.name="${CLUSTER_NAME}" \
    --set cluster.id="${CLUSTER_ID}" --set ipam.mode=kubernetes --set prometheus.enabled=true \
    --set clustermesh.useAPIServer=true --set clustermesh.apiserver.service.type=NodePort \
    --set clustermesh.apiserver.service.nodePort="${CLUSTERMESH_PORT}" ||
    fail "cilium install did not succeed; see 'cilium status'"
  log "Cilium ${CILIUM_VERSION} installed as cluster ${CLUSTER_NAME} (id ${CLUSTER_ID})"
fi

)SH";

// The models volume (a second EBS volume): formatted once, mounted at every boot by its label.
constexpr char kModelsVolumeStep[] = R"SH(step="models volume ${MODELS_DEVICE}"
for _ in $(seq 1 60); do
  [ -b "${MODELS_DEVICE}" ] && break
  sleep 2
done
[ -b "${MODELS_DEVICE}" ] || fail "the models volume did not appear at ${MODELS_DEVICE} in 120 s"
if ! blkid -o value -s TYPE "${MODELS_DEVICE}" >/dev/null; then
  mkfs.xfs -q -L carrierarr-models "${MODELS_DEVICE}"
  log "models volume ${MODELS_DEVICE} formatted (xfs)"
fi
mkdir -p /var/lib/ollama
if ! grep -q '^LABEL=carrierarr-models ' /etc/fstab; then
  echo 'LABEL=carrierarr-models /var/lib/ollama xfs defaults,nofail 0 2' >>/etc/fstab
fi
mountpoint -q /var/lib/ollama || mount /var/lib/ollama
log "models volume mounted at /var/lib/ollama"

)SH";

// Ollama's release (a .tgz, or .tar.zst in later releases: whichever its sha256sum.txt lists),
// checked, run as its own user on the mesh address; then the models service.
constexpr char kOllamaStep[] = R"SH(step="Ollama ${OLLAMA_VERSION}"
installed="$(/usr/local/bin/ollama --version 2>&1 || true)"
if [[ "${installed}" == *"version is ${OLLAMA_VERSION}"* ]]; then
  log "ollama ${OLLAMA_VERSION} is already installed"
else
  base="${RELEASES}/ollama/ollama/releases/download/v${OLLAMA_VERSION}"
  retry 5 5 curl -fsSL --proto '=https' -o "${work}/ollama-sums" "${base}/sha256sum.txt" ||
    fail "could not download ${base}/sha256sum.txt"
  tarball=''
  for t in "ollama-linux-${NEBULA_ARCH}.tgz" "ollama-linux-${NEBULA_ARCH}.tar.zst"; do
    if [ -n "$(sum_of "${work}/ollama-sums" "${t}")" ]; then
      tarball="${t}"
      break
    fi
  done
  [ -n "${tarball}" ] || fail "the release's sha256sum.txt lists no ollama-linux-${NEBULA_ARCH}"
  fetch_release "${base}" "${tarball}" sha256sum.txt
  rm -rf /usr/local/lib/ollama
  if [[ "${tarball}" == *.zst ]]; then
    command -v zstd >/dev/null || dnf install -y zstd
    tar -I zstd -xf "${work}/${tarball}" -C /usr/local
  else
    tar -xzf "${work}/${tarball}" -C /usr/local
  fi
  installed="$(/usr/local/bin/ollama --version 2>&1 || true)"
  [[ "${installed}" == *"version is ${OLLAMA_VERSION}"* ]] ||
    fail "ollama --version says '${installed}', not ${OLLAMA_VERSION}"
  log "ollama ${OLLAMA_VERSION} installed (sha256 checked)"
fi
id ollama >/dev/null 2>&1 || useradd -r -U -s /sbin/nologin -d /var/lib/ollama ollama
install -d -o ollama -g ollama -m 0750 /var/lib/ollama /var/lib/ollama/models
systemctl daemon-reload
systemctl enable --now ollama.service
retry 60 2 curl -fsS -o /dev/null "http://${MESH_IP}:11434/api/version" ||
  fail "ollama did not answer on ${MESH_IP}:11434 in 120 s; see 'journalctl -u ollama'"
systemctl enable --now carrierarr-models.service
log "ollama is up on ${MESH_IP}:11434; the models load in carrierarr-models (journalctl)"

)SH";

constexpr char kDoneStep[] = R"SH(step='done'
log "carrierarr bootstrap done"
)SH";

// The first boot, run once by cloud-init (runcmd, no arguments): the variables, then fixed text.
std::string Bootstrap(const UserdataParams& p, bool agent, bool secret) {
  return BootstrapVariables(p, agent, secret) + kShellHelpers + (secret ? kSecretStep : "") +
         kNebulaInstallStep + kNebulaServiceStep +
         (p.models_device.empty() ? "" : kModelsVolumeStep) +
         (p.ollama_version.empty() ? "" : kOllamaStep) + kAgentStep + kK3sStep +
         (CiliumHere(p) ? kCiliumStep : "") + kDoneStep;
}

}  // namespace

Result<std::string> RenderUserdata(const UserdataParams& p) {
  CARRIERARR_RETURN_IF_ERROR(Validate(p));
  const bool secret = !p.secret_id.empty();
  const bool agent = !p.agent_url.empty();
  const bool k3s = !p.k3s_agent_token.empty();

  std::string y = "#cloud-config\n# carrierarr node " + p.node + " of fleet " + p.fleet + " (" +
                  p.agent_type + ", " + p.arch +
                  "). Written by carrierarr; the first boot logs to "
                  "/var/log/carrierarr-bootstrap.log.\n"
                  "write_files:\n";
  // With a secret, the key and every token come from it at boot (split-secret.py).
  if (secret) {
    y += WriteFile(kSplitSecretPath, "0600", SplitSecretScript());
  } else {
    y += WriteFile("/etc/nebula/ca.crt", "0600", p.ca_crt);
    y += WriteFile("/etc/nebula/host.crt", "0600", p.host_crt);
    y += WriteFile("/etc/nebula/host.key", "0600", p.host_key);
    y += WriteFile("/etc/nebula/config.yml", "0600", p.nebula_config);
    if (agent) y += WriteFile(kTokenPath, "0600", p.agent_token + "\n");
    if (k3s && p.k3s_server) y += WriteFile(kK3sServerTokenPath, "0600", p.k3s_token + "\n");
    if (k3s) y += WriteFile(kK3sAgentTokenPath, "0600", p.k3s_agent_token + "\n");
  }
  y += WriteFile("/etc/systemd/system/nebula.service", "0644", NebulaUnit());
  if (agent) y += WriteFile("/etc/systemd/system/carrierarr-agent.service", "0644", AgentUnit(p));
  if (k3s) {
    y += WriteFile(kK3sConfigPath, "0600", K3sConfig(p));
    y += WriteFile(kK3sUnitPath, "0644", K3sUnit(p));
  }
  if (!p.ollama_version.empty()) {
    y += WriteFile(kOllamaUnitPath, "0644", OllamaUnit(p));
    y += WriteFile(kModelsUnitPath, "0644", ModelsUnit());
    y += WriteFile(kModelsScriptPath, "0644", ModelsScript());
    y += WriteFile(kModelsConfigPath, "0644", ModelsConfig(p));
  }
  if (!p.device_plugin_image.empty())
    y += WriteFile(kDevicePluginPath, "0600", NvidiaDevicePluginManifest(p.device_plugin_image));
  y += WriteFile(kBootstrapPath, "0700", Bootstrap(p, agent, secret));
  // An argv list: cloud-init executes it directly, no shell in between.
  y += "runcmd:\n  - [" + std::string(kBootstrapPath) + "]\n";

  const size_t sent = GzipUserdata(y).size();
  if (sent > kMaxUserdataBytes) {
    return Status::InvalidArgument(
        "userdata for node '" + p.node + "' is " + std::to_string(sent) +
        " bytes gzipped, over EC2's limit of " + std::to_string(kMaxUserdataBytes) +
        " (before base64); set providers.aws.nebula_material: secretsmanager in fleet.yaml so "
        "the node fetches its certificates, key and config at boot instead");
  }
  return y;
}

std::string NvidiaDevicePluginManifest(std::string_view image) {
  const std::string img(image);
  return "# The NVIDIA device plugin (written by carrierarr): nvidia.com/gpu on the GPU workers.\n"
         "apiVersion: apps/v1\n"
         "kind: DaemonSet\n"
         "metadata:\n"
         "  name: nvidia-device-plugin\n"
         "  namespace: kube-system\n"
         "  labels: {app.kubernetes.io/name: nvidia-device-plugin, "
         "app.kubernetes.io/managed-by: carrierarr}\n"
         "spec:\n"
         "  selector:\n"
         "    matchLabels: {app.kubernetes.io/name: nvidia-device-plugin}\n"
         "  updateStrategy: {type: RollingUpdate}\n"
         "  template:\n"
         "    metadata:\n"
         "      labels: {app.kubernetes.io/name: nvidia-device-plugin}\n"
         "    spec:\n"
         "      runtimeClassName: nvidia\n"
         "      priorityClassName: system-node-critical\n"
         "      nodeSelector: {nvidia.com/gpu.present: \"true\"}\n"
         "      tolerations:\n"
         "        - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}\n"
         "      containers:\n"
         "        - name: nvidia-device-plugin\n"
         "          image: \"" +
         img +
         "\"\n"
         "          env:\n"
         "            - {name: FAIL_ON_INIT_ERROR, value: \"false\"}\n"
         "          securityContext:\n"
         "            allowPrivilegeEscalation: false\n"
         "            capabilities: {drop: [ALL]}\n"
         "          volumeMounts:\n"
         "            - {name: device-plugins, mountPath: /var/lib/kubelet/device-plugins}\n"
         "      volumes:\n"
         "        - name: device-plugins\n"
         "          hostPath: {path: /var/lib/kubelet/device-plugins}\n";
}

std::string GzipUserdata(std::string_view document) {
  z_stream z{};
  // 15 + 16: a gzip wrapper with zlib's bare header (no name, mtime 0), level 9.
  if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
    std::abort();  // only on a bad parameter or no memory
  std::string out(deflateBound(&z, document.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(document.data()));
  z.avail_in = static_cast<uInt>(document.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) std::abort();  // the buffer is deflateBound's: it always fits
  return out;
}

std::string NodeSecretJson(const UserdataParams& p, const std::string& lighthouse_endpoint) {
  nlohmann::json j{{"nebula_ca_crt", p.ca_crt},
                   {"nebula_node_crt", p.host_crt},
                   {"nebula_node_key", p.host_key},
                   {"nebula_ip", p.mesh_ip},
                   {"lighthouse_endpoint", lighthouse_endpoint},
                   {"nebula_config", p.nebula_config}};
  for (const auto& [key, value] :
       {std::pair{"carrierarr_agent_token", &p.agent_token}, std::pair{"k3s_token", &p.k3s_token},
        std::pair{"k3s_agent_token", &p.k3s_agent_token}}) {
    if (!value->empty()) j[key] = *value;
  }
  return j.dump();
}

std::string Base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t group = 0;
    for (size_t k = 0; k < 3; ++k) {
      group <<= 8;
      if (k < n) group |= static_cast<uint8_t>(bytes[i + k]);
    }
    // n input bytes give n + 1 characters; '=' pads the group to four.
    for (size_t k = 0; k < 4; ++k) {
      out += k <= n ? kAlphabet[(group >> (18 - 6 * k)) & 63] : '=';
    }
  }
  return out;
}

}  // namespace carrierarr::aws_provider
