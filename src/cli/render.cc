// `carrierarr render nebula-config`: the Nebula configs `up` would write, for inspection or for
// running nebula by hand. `carrierarr render manifests`: a Kubernetes homelab's objects as
// kustomize directories, for GitOps (Flux, Argo) instead of letting `up` apply them.
// `carrierarr render workload`: an example GPU inference Deployment offloaded through Liqo.
// `carrierarr render talos`: the machine configs of cloud nodes joining a Talos homelab.
// `carrierarr render packer`: Packer templates of the lighthouse and GPU worker images.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "cli/commands.h"
#include "cli/fleet_command.h"
#include "core/file_util.h"

namespace carrierarr::cli {
namespace {

constexpr char kRenderUsage[] =
    "carrierarr render nebula-config [-f fleet.yaml] [--out DIR]\n"
    "       carrierarr render manifests [-f fleet.yaml] [--out DIR]\n"
    "       carrierarr render workload [-f fleet.yaml] [--out DIR] [--namespace NS] [--gpus N]\n"
    "       carrierarr render talos [-f fleet.yaml] [--out DIR] [--worker-config FILE]\n"
    "                               [--controlplane-config FILE]\n"
    "       carrierarr render packer [-f fleet.yaml] [--out DIR]";

// Both forms: make --out, have ops write into it, list what it wrote.
class RenderIntoDirectoryCommand : public FleetCommand {
 public:
  Preamble preamble() const override { return {}; }
  void DeclareFlags(FlagSet& flags) override {
    flags.String("out", &out_dir_, DefaultDirectory(), OutHelp());
    DeclareMoreFlags(flags);
  }

  int Run(ops::FleetContext* ctx, const Invocation& invocation) override {
    const bool made = ::mkdir(out_dir_.c_str(), 0700) == 0;
    if (!made && errno != EEXIST) {
      invocation.err << "Error: --out " << out_dir_ << ": " << ErrnoString(errno) << "\n";
      return kExitFailure;
    }
    auto written = Write(*ctx, out_dir_);
    if (!written.ok()) {
      if (made) ::rmdir(out_dir_.c_str());  // a failed run leaves no empty directory behind
      return Fail(invocation.err, written.status());
    }
    for (const auto& path : *written) invocation.out << "wrote " << path << "\n";
    Done(invocation.out, out_dir_);
    return kExitOk;
  }

 protected:
  virtual std::string DefaultDirectory() const = 0;
  virtual std::string OutHelp() const = 0;
  virtual Result<std::vector<std::string>> Write(const ops::FleetContext& ctx,
                                                 const std::string& out_dir) const = 0;
  virtual void Done(std::ostream& /*out*/, const std::string& /*out_dir*/) const {}
  virtual void DeclareMoreFlags(FlagSet& /*flags*/) {}

 private:
  std::string out_dir_;
};

class RenderNebulaConfigCommand final : public RenderIntoDirectoryCommand {
 public:
  CommandSpec Spec() const override {
    return {"render nebula-config", "Writes every node's Nebula config into a directory.",
            "carrierarr render nebula-config [-f fleet.yaml] [--out DIR]"};
  }

 private:
  std::string DefaultDirectory() const override { return "nebula-configs"; }
  std::string OutHelp() const override {
    return "directory to write <node>.yml into (made if missing)";
  }
  Result<std::vector<std::string>> Write(const ops::FleetContext& ctx,
                                         const std::string& out_dir) const override {
    return ops::RenderNebulaConfigs(ctx, out_dir);
  }
};

class RenderManifestsCommand final : public RenderIntoDirectoryCommand {
 public:
  CommandSpec Spec() const override {
    return {"render manifests",
            "Writes the Kubernetes homelab's objects as kustomize directories (one per "
            "component; Secrets from files under secrets/, kept out of Git by a .gitignore).",
            "carrierarr render manifests [-f fleet.yaml] [--out DIR]"};
  }

 private:
  std::string DefaultDirectory() const override { return "manifests"; }
  std::string OutHelp() const override {
    return "directory to write <component>/kustomization.yaml into (made if missing)";
  }
  Result<std::vector<std::string>> Write(const ops::FleetContext& ctx,
                                         const std::string& out_dir) const override {
    return ops::RenderManifests(ctx, out_dir);
  }
  void Done(std::ostream& out, const std::string& out_dir) const override {
    out << "apply with: kubectl apply --server-side -k " << out_dir
        << "/<component> (or point Flux/Argo at it); keep secrets/ out of Git\n";
  }
};

class RenderWorkloadCommand final : public RenderIntoDirectoryCommand {
 public:
  CommandSpec Spec() const override {
    return {"render workload",
            "Writes an example GPU inference server (Ollama) offloaded to the cloud by Liqo: a "
            "Deployment on the virtual node, tolerating its NoExecute taint, and its Service.",
            "carrierarr render workload [-f fleet.yaml] [--out DIR] [--namespace NS] [--gpus N]"};
  }

 private:
  std::string DefaultDirectory() const override { return "manifests"; }
  std::string OutHelp() const override {
    return "directory to write workload/kustomization.yaml into (made if missing)";
  }
  void DeclareMoreFlags(FlagSet& flags) override {
    flags.String("namespace", &ns_, "",
                 "an offloaded namespace (federation.liqo.offload) to run it in; default: the "
                 "first");
    flags.Int("gpus", &gpus_, 1, "nvidia.com/gpu the pod asks for (1-8)");
  }
  Result<std::vector<std::string>> Write(const ops::FleetContext& ctx,
                                         const std::string& out_dir) const override {
    if (gpus_ < 1 || gpus_ > 8)
      return Status::InvalidArgument("--gpus " + std::to_string(gpus_) + ": give 1 to 8");
    return ops::RenderWorkload(ctx, ns_, static_cast<int>(gpus_), out_dir);
  }
  void Done(std::ostream& out, const std::string& out_dir) const override {
    out << "apply with: kubectl apply -k " << out_dir
        << "/workload once 'carrierarr up' has made the NamespaceOffloading (a pod made before it "
           "stays Pending)\n";
  }

  std::string ns_;
  int64_t gpus_ = 1;
};

class RenderTalosCommand final : public RenderIntoDirectoryCommand {
 public:
  CommandSpec Spec() const override {
    return {"render talos",
            "For federation.mode direct: writes each pool node's Talos machine-config patch "
            "(kubelet on the mesh, certSANs, the nebula extension's config and the node's "
            "certificate), and with --worker-config the whole machine config it boots with.",
            "carrierarr render talos [-f fleet.yaml] [--out DIR] [--worker-config FILE] "
            "[--controlplane-config FILE]"};
  }

 private:
  std::string DefaultDirectory() const override { return "talos"; }
  std::string OutHelp() const override {
    return "directory to write <node>.patch.yaml and <node>.yaml into (made if missing)";
  }
  void DeclareMoreFlags(FlagSet& flags) override {
    flags.String("worker-config", &configs_.worker, "",
                 "talosctl gen config's worker.yaml: also write <node>.yaml, it with the patch "
                 "merged (the node's userdata)");
    flags.String("controlplane-config", &configs_.control_plane, "",
                 "its controlplane.yaml, for the nodes of forced control-plane pools");
  }
  Result<std::vector<std::string>> Write(const ops::FleetContext& ctx,
                                         const std::string& out_dir) const override {
    return ops::RenderTalos(ctx, configs_, out_dir);
  }
  void Done(std::ostream& out, const std::string& /*out_dir*/) const override {
    out << "boot a Talos image with the siderolabs/nebula extension (Image Factory) with "
           "<node>.yaml as its userdata, or apply a patch with 'talosctl patch mc -p "
           "@<node>.patch.yaml'; the files hold the nodes' Nebula keys (mode 0600)\n";
  }

  ops::TalosConfigs configs_;
};

class RenderPackerCommand final : public RenderIntoDirectoryCommand {
 public:
  CommandSpec Spec() const override {
    return {"render packer",
            "Writes Packer templates of the lighthouse and GPU worker images (Nebula, k3s, "
            "kubectl, helm, the cilium CLI, the agent; the NVIDIA driver on the GPU image) and "
            "a variables file with the fleet's values.",
            "carrierarr render packer [-f fleet.yaml] [--out DIR]"};
  }

 private:
  std::string DefaultDirectory() const override { return "packer"; }
  std::string OutHelp() const override {
    return "directory to write carrierarr.pkr.hcl, its variables and install.sh into";
  }
  Result<std::vector<std::string>> Write(const ops::FleetContext& ctx,
                                         const std::string& out_dir) const override {
    return ops::RenderPacker(ctx, out_dir);
  }
  void Done(std::ostream& out, const std::string& out_dir) const override {
    out << "build with: cd " << out_dir
        << " && packer init . && packer build . ; then set providers.aws.ami (lighthouse) "
           "and pools[].image (GPU pools) in fleet.yaml to the AMIs it prints\n";
  }
};

}  // namespace

int RunRender(const Invocation& invocation) {
  const auto& args = invocation.args;
  const Invocation rest{{args.begin() + (args.empty() ? 0 : 1), args.end()},
                        invocation.seams,
                        invocation.out,
                        invocation.err};
  if (!args.empty() && args[0] == "manifests") return RunFleetCommand<RenderManifestsCommand>(rest);
  if (!args.empty() && args[0] == "workload") return RunFleetCommand<RenderWorkloadCommand>(rest);
  if (!args.empty() && args[0] == "talos") return RunFleetCommand<RenderTalosCommand>(rest);
  if (!args.empty() && args[0] == "packer") return RunFleetCommand<RenderPackerCommand>(rest);
  if (args.empty() || args[0] != "nebula-config") {
    if (!args.empty() && (args[0] == "-h" || args[0] == "--help" || args[0] == "help")) {
      invocation.out << "Usage: " << kRenderUsage
                     << "\nnebula-config: every node's Nebula config (<node>.yml) into DIR."
                        "\nmanifests: a Kubernetes homelab's objects as kustomize directories."
                        "\nworkload: an example GPU inference Deployment offloaded by Liqo."
                        "\ntalos: machine configs of cloud nodes joining a Talos homelab."
                        "\npacker: Packer templates of the lighthouse and GPU worker images.\n";
      return kExitOk;
    }
    invocation.err << "Error: render needs what to render: nebula-config, manifests, "
                      "workload, talos or packer\nUsage: "
                   << kRenderUsage << "\n";
    return kExitUsage;
  }
  return RunFleetCommand<RenderNebulaConfigCommand>(rest);
}

}  // namespace carrierarr::cli
