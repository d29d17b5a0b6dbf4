// federation.mode direct: cloud workers join the homelab's Talos cluster as Talos nodes over the
// mesh (the seeds' "future enhancement"). Facts (../shared/spec/kubernetes.md, "Talos"): a node
// joins by its machine config; the kubelet's address is pinned to the mesh with
// machine.kubelet.nodeIP.validSubnets, the node's mesh address is among machine.certSANs
// (and cluster.apiServer.certSANs on a control-plane node), and Nebula runs as the
// siderolabs/nebula system extension, configured by an ExtensionServiceConfig named `nebula`
// whose files the extension reads under /usr/local/etc/nebula/. Pure functions: thread-safe.
#ifndef CARRIERARR_FEDERATION_TALOS_H_
#define CARRIERARR_FEDERATION_TALOS_H_

#include <string>

#include "core/status.h"
#include "spec/fleet.h"

namespace carrierarr::federation {

// Where the nebula extension reads its files.
inline constexpr char kTalosNebulaDir[] = "/usr/local/etc/nebula";

struct TalosNode {
  std::string name;     // "gpu-1"
  std::string mesh_ip;  // "10.42.2.1"
  bool control_plane = false;
  // The node's Nebula material, as `up` makes it for any node (the config's pki paths are
  // rewritten to kTalosNebulaDir). The key is a secret: whoever holds the patch holds it.
  std::string ca_crt, host_crt, host_key, nebula_config;
};

// The node's machine-config patch, two YAML documents: the v1alpha1 patch (validSubnets = the
// mesh, certSANs) and the `nebula` ExtensionServiceConfig with the node's files. For
// `talosctl gen config --config-patch @<file>` or `talosctl patch mc -p @<file>`. Fails on a
// Nebula config that is not YAML.
Result<std::string> RenderTalosPatch(const spec::FleetSpec& fleet, const TalosNode& node);

// `machine_config` (talosctl gen config's worker.yaml or controlplane.yaml; `file` names it in
// errors, with line:column) with `patch` merged in, maps key by key and lists extended without
// repeats; the nebula ExtensionServiceConfig replaces any of that name. The result is the
// node's whole machine config: the userdata a Talos image boots with on EC2. Errors: not YAML,
// no v1alpha1 document, a machine type other than the node's role, an installer image of another
// Talos release than `talos_version` (federation.direct.talos_version).
Result<std::string> MergeTalosConfig(const std::string& machine_config, const std::string& file,
                                     const std::string& patch, bool control_plane,
                                     const std::string& talos_version);

}  // namespace carrierarr::federation

#endif  // CARRIERARR_FEDERATION_TALOS_H_
