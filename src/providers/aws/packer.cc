#include "providers/aws/packer.h"

#include <vector>

#include "providers/aws/aws_provider.h"

namespace carrierarr::aws_provider {
namespace {

// An HCL string literal: quotes and backslashes escaped, and template sequences (${ and %{)
// doubled, so a value is never evaluated.
std::string Quoted(const std::string& s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if ((c == '$' || c == '%') && i + 1 < s.size() && s[i + 1] == '{') {
      out += c;
      out += c;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

struct Variable {
  std::string name, description, value;
};

// The variables, with the values fleet.yaml gives them (the .auto.pkrvars.hcl file).
std::vector<Variable> Variables(const spec::FleetSpec& f) {
  std::string lighthouse_type = f.lighthouse.provider == "aws" ? f.lighthouse.size : "";
  if (lighthouse_type.empty()) lighthouse_type = "t3.small";
  std::string gpu_type = "g4dn.xlarge";
  for (const auto& pool : f.pools) {
    if (pool.provider == "aws" && pool.type == spec::PoolType::kGpuWorker) {
      gpu_type = pool.instance_type;
      break;
    }
  }
  return {
      {"fleet", "the fleet's name, in the images' names and tags", f.name},
      {"region", "where the images are built and registered", f.aws.region},
      {"lighthouse_instance_type", "the build instance of the lighthouse image", lighthouse_type},
      {"lighthouse_arch", "x86_64 or arm64, as the lighthouse's instance type",
       ArchOf(lighthouse_type)},
      {"gpu_instance_type", "the build instance of the GPU worker image (a GPU type)", gpu_type},
      {"gpu_arch", "x86_64 or arm64, as the GPU pool's instance type", ArchOf(gpu_type)},
      {"releases", "https base URL of GitHub's release layout (a mirror, or github.com)",
       f.aws.mirror.empty() ? "https://github.com" : f.aws.mirror},
      {"nebula_version", "slackhq/nebula release", f.aws.nebula_version},
      {"k3s_version", "k3s-io/k3s release", f.aws.k3s_version},
      {"helm_version", "Helm release (get.helm.sh)", kHelmVersion},
      {"cilium_cli_version", "cilium/cilium-cli release",
       f.federation.clustermesh.cilium_cli_version},
      {"agent_url", "carrierarr-agent ({arch} = x86_64 or arm64); empty: none baked in",
       f.aws.agent_url},
      {"agent_sha256_x86_64", "its sha256 for x86_64", AgentDigest(f.aws, "x86_64")},
      {"agent_sha256_arm64", "its sha256 for arm64", AgentDigest(f.aws, "arm64")},
      {"nvidia_driver_branch", "NVIDIA driver branch (dnf module nvidia-driver:<branch>-dkms)",
       kNvidiaDriverBranch},
  };
}

// One image: its amazon-ebs source (AL2023, IMDSv2, encrypted gp3 root) and its build.
std::string Image(const std::string& name, const std::string& type_var, const std::string& arch_var,
                  int root_gb) {
  const std::string arch = "var." + arch_var;
  std::string s = "source \"amazon-ebs\" \"" + name + "\" {\n" +
                  "  region        = var.region\n"
                  "  instance_type = var." +
                  type_var + "\n  ami_name      = \"carrierarr-${var.fleet}-" + name +
                  "-${local.stamp}\"\n"
                  "  ssh_username  = \"ec2-user\"\n"
                  "  imds_support  = \"v2.0\"\n\n"
                  "  source_ami_filter {\n"
                  "    filters = {\n"
                  "      name                  = \"al2023-ami-2023.*-kernel-6.1-${" +
                  arch +
                  "}\"\n"
                  "      \"virtualization-type\" = \"hvm\"\n"
                  "      \"root-device-type\"    = \"ebs\"\n"
                  "    }\n"
                  "    owners      = [\"amazon\"]\n"
                  "    most_recent = true\n"
                  "  }\n\n"
                  "  metadata_options {\n"
                  "    http_endpoint               = \"enabled\"\n"
                  "    http_tokens                 = \"required\"\n"
                  "    http_put_response_hop_limit = 1\n"
                  "  }\n\n"
                  "  launch_block_device_mappings {\n"
                  "    device_name           = \"/dev/xvda\"\n"
                  "    volume_size           = " +
                  std::to_string(root_gb) +
                  "\n"
                  "    volume_type           = \"gp3\"\n"
                  "    encrypted             = true\n"
                  "    delete_on_termination = true\n"
                  "  }\n\n"
                  "  tags = {\n"
                  "    \"carrierarr:fleet\" = var.fleet\n"
                  "    \"carrierarr:image\" = \"" +
                  name + "\"\n  }\n}\n\n";
  s += "build {\n  name    = \"" + name + "\"\n  sources = [\"source.amazon-ebs." + name +
       "\"]\n\n  provisioner \"shell\" {\n"
       "    script          = \"${path.root}/install.sh\"\n"
       "    execute_command = \"sudo -E bash '{{ .Path }}'\"\n"
       "    environment_vars = [\n"
       "      \"IMAGE=" +
       name + "\",\n      \"ARCH=${" + arch +
       "}\",\n"
       "      \"RELEASES=${var.releases}\",\n"
       "      \"NEBULA_VERSION=${var.nebula_version}\",\n"
       "      \"K3S_VERSION=${var.k3s_version}\",\n"
       "      \"HELM_VERSION=${var.helm_version}\",\n"
       "      \"CILIUM_CLI_VERSION=${var.cilium_cli_version}\",\n"
       "      \"AGENT_URL=${var.agent_url}\",\n"
       "      \"AGENT_SHA256=${" +
       arch +
       " == \"arm64\" ? var.agent_sha256_arm64 : var.agent_sha256_x86_64}\",\n"
       "      \"NVIDIA_DRIVER_BRANCH=${var.nvidia_driver_branch}\",\n"
       "    ]\n  }\n}\n";
  return s;
}

constexpr char kInstallScript[] = R"SH(#!/bin/bash
# carrierarr image build (run by Packer's shell provisioner as root): Nebula, k3s (and kubectl),
# helm, the cilium CLI and carrierarr-agent, each pinned and checked against its release's
# sha256 before it is installed; on the gpu-worker image also the NVIDIA driver and container
# toolkit from NVIDIA's signed repositories. Written by 'carrierarr render packer'.
set -Eeuo pipefail
umask 022
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
a='amd64'
if [ "${ARCH}" = arm64 ]; then a='arm64'; fi

# fetch BASE FILE SUMS_URL: BASE/FILE into ${work}, checked against its line in SUMS_URL.
fetch() {
  local want
  curl -fsSL --proto '=https' --retry 5 -o "${work}/$2" "$1/$2"
  curl -fsSL --proto '=https' --retry 5 -o "${work}/$2.sums" "$3"
  want="$(awk -v f="$2" '$2 == f || $2 == "*" f || NF == 1 { print $1; exit }' "${work}/$2.sums")"
  if [ -z "${want}" ]; then echo "$2 is not listed in $3" >&2; exit 1; fi
  if [ "$(sha256sum "${work}/$2" | cut -d ' ' -f 1)" != "${want}" ]; then
    echo "$2 does not match the sha256 in $3" >&2
    exit 1
  fi
}

dnf install -y tar gzip

base="${RELEASES}/slackhq/nebula/releases/download/v${NEBULA_VERSION}"
fetch "${base}" "nebula-linux-${a}.tar.gz" "${base}/SHASUM256.txt"
tar -xzf "${work}/nebula-linux-${a}.tar.gz" -C /usr/local/bin nebula nebula-cert

base="${RELEASES}/k3s-io/k3s/releases/download/${K3S_VERSION//+/%2B}"
k3s='k3s'
if [ "${a}" = arm64 ]; then k3s='k3s-arm64'; fi
fetch "${base}" "${k3s}" "${base}/sha256sum-${a}.txt"
install -m 0755 "${work}/${k3s}" /usr/local/bin/k3s
ln -sf k3s /usr/local/bin/kubectl

helm="helm-${HELM_VERSION}-linux-${a}.tar.gz"
fetch https://get.helm.sh "${helm}" "https://get.helm.sh/${helm}.sha256sum"
tar -xzf "${work}/${helm}" -C "${work}" "linux-${a}/helm"
install -m 0755 "${work}/linux-${a}/helm" /usr/local/bin/helm

cilium="cilium-linux-${a}.tar.gz"
base="${RELEASES}/cilium/cilium-cli/releases/download/${CILIUM_CLI_VERSION}"
fetch "${base}" "${cilium}" "${base}/${cilium}.sha256sum"
tar -xzf "${work}/${cilium}" -C /usr/local/bin cilium

if [ -n "${AGENT_URL}" ]; then
  url="${AGENT_URL//\{arch\}/${ARCH}}"
  curl -fsSL --proto '=https' --retry 5 -o "${work}/carrierarr-agent" "${url}"
  if [ "$(sha256sum "${work}/carrierarr-agent" | cut -d ' ' -f 1)" != "${AGENT_SHA256}" ]; then
    echo "carrierarr-agent from ${url%%\?*} does not match its sha256" >&2
    exit 1
  fi
  install -m 0755 "${work}/carrierarr-agent" /usr/local/bin/carrierarr-agent
fi

if [ "${IMAGE}" = gpu-worker ]; then
  repo='x86_64'
  if [ "${a}" = arm64 ]; then repo='sbsa'; fi
  dnf install -y "kernel-devel-$(uname -r)" "kernel-modules-extra-$(uname -r)" dkms
  dnf config-manager --add-repo \
    "https://developer.download.nvidia.com/compute/cuda/repos/amzn2023/${repo}/cuda-amzn2023.repo"
  dnf module install -y "nvidia-driver:${NVIDIA_DRIVER_BRANCH}-dkms"
  curl -fsSL --proto '=https' --retry 5 -o /etc/yum.repos.d/nvidia-container-toolkit.repo \
    https://nvidia.github.io/libnvidia-container/stable/rpm/nvidia-container-toolkit.repo
  # k3s finds nvidia-container-runtime on its PATH and adds the "nvidia" runtime itself.
  dnf install -y nvidia-container-toolkit
fi
dnf clean all
echo "carrierarr ${IMAGE} image: nebula ${NEBULA_VERSION}, k3s ${K3S_VERSION}, helm ${HELM_VERSION}, cilium CLI ${CILIUM_CLI_VERSION}"
)SH";

}  // namespace

std::map<std::string, std::string> RenderPacker(const spec::FleetSpec& fleet) {
  const std::vector<Variable> vars = Variables(fleet);
  std::string hcl = "# Packer templates of fleet '" + fleet.name +
                    "'s images (written by 'carrierarr render packer').\n"
                    "# Build: packer init . && packer build .   (one image: packer build "
                    "-only='lighthouse.*' .)\n"
                    "# Then name the AMIs in fleet.yaml: providers.aws.ami (the lighthouse) and "
                    "pools[].image.\n\n"
                    "packer {\n"
                    "  required_plugins {\n"
                    "    amazon = {\n"
                    "      version = \">= 1.3.0\"\n"
                    "      source  = \"github.com/hashicorp/amazon\"\n"
                    "    }\n"
                    "  }\n"
                    "}\n\n";
  for (const Variable& v : vars) {
    hcl += "variable \"" + v.name +
           "\" {\n  type        = string\n  description = " + Quoted(v.description) + "\n";
    if (v.name != "region" && v.name != "fleet") hcl += "  default     = \"\"\n";
    hcl += "}\n\n";
  }
  hcl += "locals {\n  stamp = formatdate(\"YYYYMMDDhhmmss\", timestamp())\n}\n\n";
  hcl += Image("lighthouse", "lighthouse_instance_type", "lighthouse_arch", 30) + "\n";
  hcl += Image("gpu-worker", "gpu_instance_type", "gpu_arch", 100);

  std::string values = "# Values from fleet '" + fleet.name +
                       "' (written by 'carrierarr render packer'); Packer loads this file "
                       "itself.\n";
  for (const Variable& v : vars) {
    if (v.name == "region" && v.value.empty()) {
      values += "# region = \"us-east-1\"  # fleet.yaml names none: set it, or -var region=...\n";
      continue;
    }
    values += v.name + " = " + Quoted(v.value) + "\n";
  }
  return {{"carrierarr.pkr.hcl", hcl},
          {"carrierarr.auto.pkrvars.hcl", values},
          {"install.sh", kInstallScript}};
}

}  // namespace carrierarr::aws_provider
