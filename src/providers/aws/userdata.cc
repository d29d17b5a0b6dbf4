#include "providers/aws/userdata.h"

#include <nlohmann/json.hpp>

namespace carrierarr::aws_provider {
namespace {

bool AllOf(std::string_view s, std::string_view allowed_extra) {
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              allowed_extra.find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// Every value that reaches a command line or a YAML scalar: letters, digits and a few safe
// punctuation marks only, so no quoting can be broken.
Status Check(std::string_view what, std::string_view value, std::string_view allowed_extra,
             bool required = true) {
  if (value.empty() && !required) return Status::Ok();
  if (value.empty() || !AllOf(value, allowed_extra)) {
    return Status::InvalidArgument("userdata: " + std::string(what) + " '" + std::string(value) +
                                   "' may hold only letters, digits and '" +
                                   std::string(allowed_extra) + "'");
  }
  return Status::Ok();
}

// A YAML block scalar: the text verbatim, every line indented.
std::string Block(const std::string& text, const std::string& indent) {
  std::string out = "|\n";
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    out += indent + text.substr(start, nl - start) + "\n";
    start = nl + 1;
  }
  return out;
}

std::string File(const std::string& path, const std::string& permissions,
                 const std::string& content) {
  return "  - path: " + path + "\n    permissions: '" + permissions + "'\n    owner: root:root\n" +
         "    content: " + Block(content, "      ");
}

// The first boot, run once by cloud-init (runcmd calls it with no arguments). Values are
// written into it only after the checks above.
std::string Bootstrap(const UserdataParams& p, const std::string& nebula_arch) {
  std::string s =
      "#!/bin/bash\n"
      "# carrierarr first boot: Nebula, the agent and k3s, each checked before it runs.\n"
      "set -euo pipefail\n"
      "exec >>/var/log/carrierarr-bootstrap.log 2>&1\n"
      "trap 'echo \"carrierarr bootstrap FAILED at line $LINENO\"' ERR\n"
      "echo \"carrierarr bootstrap for node '" +
      p.node + "' of fleet '" + p.fleet +
      "'\"\n"
      "work=$(mktemp -d)\n";
  if (!p.secret_id.empty()) {
    s += "# Nebula material from Secrets Manager, with the instance profile.\n"
         "umask 077\n"
         "aws secretsmanager get-secret-value --secret-id '" +
         p.secret_id + "' --region '" + p.region +
         "' --query SecretString --output text >\"$work/secret.json\"\n"
         "python3 - \"$work/secret.json\" <<'PY'\n"
         "import json, os, sys\n"
         "s = json.load(open(sys.argv[1]))\n"
         "for key, path in [('nebula_ca_crt', '/etc/nebula/ca.crt'),\n"
         "                  ('nebula_node_crt', '/etc/nebula/host.crt'),\n"
         "                  ('nebula_node_key', '/etc/nebula/host.key'),\n"
         "                  ('nebula_config', '/etc/nebula/config.yml')]:\n"
         "    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)\n"
         "    os.write(fd, s[key].encode())\n"
         "    os.close(fd)\n"
         "PY\n"
         "rm -f \"$work/secret.json\"\n";
  }
  s += "# Nebula " + p.nebula_version + ", checked against the release's SHASUM256.txt.\n" +
       "base='https://github.com/slackhq/nebula/releases/download/v" + p.nebula_version +
       "'\n"
       "tarball='nebula-linux-" +
       nebula_arch +
       ".tar.gz'\n"
       "curl -fsSL --retry 5 -o \"$work/$tarball\" \"$base/$tarball\"\n"
       "curl -fsSL --retry 5 -o \"$work/SHASUM256.txt\" \"$base/SHASUM256.txt\"\n"
       "(cd \"$work\" && grep \" $tarball\\$\" SHASUM256.txt | sha256sum -c -)\n"
       "tar -xzf \"$work/$tarball\" -C /usr/local/bin nebula nebula-cert\n"
       "systemctl daemon-reload\n"
       "systemctl enable --now nebula.service\n";
  if (!p.agent_url.empty()) {
    s += "# carrierarr-agent\n"
         "curl -fsSL --retry 5 -o \"$work/carrierarr-agent\" '" +
         p.agent_url + "'\n";
    if (!p.agent_sha256.empty()) {
      s += "echo '" + p.agent_sha256 + "  " + "'\"$work/carrierarr-agent\" | sha256sum -c -\n";
    } else {
      s += "echo 'carrierarr-agent NOT verified: providers.aws.agent_sha256 is not set'\n";
    }
    s += "install -m 0755 \"$work/carrierarr-agent\" /usr/local/bin/carrierarr-agent\n"
         "systemctl enable --now carrierarr-agent.service\n";
  } else {
    s += "echo 'no carrierarr-agent: providers.aws.agent_url is not set'\n";
  }
  if (!p.k3s_token.empty()) {
    s += std::string("# k3s ") + (p.k3s_server ? "server" : "agent") +
         ", bound to the mesh (/etc/rancher/k3s/config.yaml)\n"
         "curl -fsSL --retry 5 -o \"$work/k3s-install.sh\" https://get.k3s.io\n"
         "INSTALL_K3S_EXEC='" +
         (p.k3s_server ? "server" : "agent") + "' sh \"$work/k3s-install.sh\"\n";
  }
  s += "rm -rf \"$work\"\necho 'carrierarr bootstrap done'\n";
  return s;
}

}  // namespace

Result<std::string> RenderUserdata(const UserdataParams& p) {
  CARRIERARR_RETURN_IF_ERROR(Check("fleet", p.fleet, "-"));
  CARRIERARR_RETURN_IF_ERROR(Check("node", p.node, "-"));
  CARRIERARR_RETURN_IF_ERROR(Check("agent_type", p.agent_type, "-"));
  CARRIERARR_RETURN_IF_ERROR(Check("mesh_ip", p.mesh_ip, "."));
  CARRIERARR_RETURN_IF_ERROR(Check("tun_device", p.tun_device, "-_"));
  CARRIERARR_RETURN_IF_ERROR(Check("nebula_version", p.nebula_version, "."));
  CARRIERARR_RETURN_IF_ERROR(Check("agent_url", p.agent_url, ":/._-~%+=", false));
  CARRIERARR_RETURN_IF_ERROR(Check("agent_sha256", p.agent_sha256, "", false));
  CARRIERARR_RETURN_IF_ERROR(Check("agent_token", p.agent_token, "_-", false));
  CARRIERARR_RETURN_IF_ERROR(Check("control_plane", p.control_plane, ".:"));
  CARRIERARR_RETURN_IF_ERROR(Check("k3s_token", p.k3s_token, "", false));
  CARRIERARR_RETURN_IF_ERROR(Check("k3s_server_ip", p.k3s_server_ip, ".", false));
  CARRIERARR_RETURN_IF_ERROR(Check("secret_id", p.secret_id, "/-_", false));
  CARRIERARR_RETURN_IF_ERROR(Check("region", p.region, "-", !p.secret_id.empty()));
  if (p.arch != "x86_64" && p.arch != "arm64")
    return Status::InvalidArgument("userdata: arch must be x86_64 or arm64, not '" + p.arch + "'");
  if (!p.agent_url.empty() && p.agent_url.rfind("https://", 0) != 0 &&
      p.agent_url.rfind("http://", 0) != 0)
    return Status::InvalidArgument("userdata: agent_url must be an http(s) URL");
  const bool embedded = p.secret_id.empty();
  if (embedded &&
      (p.ca_crt.empty() || p.host_crt.empty() || p.host_key.empty() || p.nebula_config.empty()))
    return Status::InvalidArgument("userdata for " + p.node +
                                   ": the Nebula material is neither embedded nor in a secret");

  std::string y = "#cloud-config\n# carrierarr node '" + p.node + "' of fleet '" + p.fleet +
                  "'. Rendered by carrierarr; see docs/providers/aws.md.\nwrite_files:\n";
  if (embedded) {
    y += File("/etc/nebula/ca.crt", "0600", p.ca_crt);
    y += File("/etc/nebula/host.crt", "0600", p.host_crt);
    y += File("/etc/nebula/host.key", "0600", p.host_key);
    y += File("/etc/nebula/config.yml", "0600", p.nebula_config);
  }
  y += File("/etc/systemd/system/nebula.service", "0644",
            "[Unit]\nDescription=Nebula mesh (carrierarr)\nWants=network-online.target\n"
            "After=network-online.target\n\n[Service]\nExecStart=/usr/local/bin/nebula -config "
            "/etc/nebula/config.yml\nRestart=always\n\n[Install]\nWantedBy=multi-user.target\n");
  if (!p.agent_token.empty()) y += File("/etc/carrierarr/agent.token", "0600", p.agent_token);
  y += File("/etc/systemd/system/carrierarr-agent.service", "0644",
            "[Unit]\nDescription=carrierarr agent\nAfter=nebula.service\n\n[Service]\n"
            "ExecStart=/usr/local/bin/carrierarr-agent --control-plane " +
                p.control_plane + " --node-id " + p.node + " --type " + p.agent_type +
                " --token-file /etc/carrierarr/agent.token --state-dir /var/lib/carrierarr-agent "
                "--nebula-dev " +
                p.tun_device +
                "\nRestart=always\nRestartSec=5\n\n[Install]\nWantedBy=multi-user.target\n");
  if (!p.k3s_token.empty()) {
    std::string k3s = "node-ip: " + p.mesh_ip + "\nflannel-iface: " + p.tun_device +
                      "\ntoken: " + p.k3s_token + "\n";
    if (p.k3s_server) {
      k3s += "advertise-address: " + p.mesh_ip + "\ntls-san:\n  - " + p.mesh_ip + "\n";
    } else {
      if (p.k3s_server_ip.empty())
        return Status::InvalidArgument("userdata for " + p.node +
                                       ": a k3s agent needs the "
                                       "server's mesh address");
      k3s += "server: https://" + p.k3s_server_ip + ":6443\n";
    }
    y += File("/etc/rancher/k3s/config.yaml", "0600", k3s);
  }
  y += File("/usr/local/lib/carrierarr/bootstrap.sh", "0700",
            Bootstrap(p, p.arch == "arm64" ? "arm64" : "amd64"));
  y += "runcmd:\n  - [/usr/local/lib/carrierarr/bootstrap.sh]\n";
  if (y.size() > kMaxUserdataBytes) {
    return Status::InvalidArgument(
        "userdata for " + p.node + " is " + std::to_string(y.size()) +
        " bytes, over EC2's limit of " + std::to_string(kMaxUserdataBytes) +
        ": set providers.aws.nebula_material: secretsmanager to keep the certificates out of it");
  }
  return y;
}

std::string NebulaSecretJson(const UserdataParams& p, const std::string& lighthouse_endpoint) {
  return nlohmann::json{{"nebula_ca_crt", p.ca_crt},
                        {"nebula_node_crt", p.host_crt},
                        {"nebula_node_key", p.host_key},
                        {"nebula_ip", p.mesh_ip},
                        {"lighthouse_endpoint", lighthouse_endpoint},
                        {"nebula_config", p.nebula_config}}
      .dump();
}

std::string Base64(std::string_view bytes) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) |
                 (static_cast<uint8_t>(bytes[i + 1]) << 8) | static_cast<uint8_t>(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(v >> shift) & 63];
  }
  if (i + 1 == bytes.size()) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) | (static_cast<uint8_t>(bytes[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

}  // namespace carrierarr::aws_provider
