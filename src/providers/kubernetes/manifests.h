// The Kubernetes objects of a homelab cluster on the mesh, as pure functions of the fleet and its
// key material: `up` applies them (server-side apply, kubernetes_provider.cc) and `carrierarr
// render manifests` writes the same objects as kustomize directories for GitOps (Flux, Argo).
//
// Components (one kustomize directory each):
//   nebula         Namespace nebula-system; Secret `nebula-certs` (ca.crt, <node>.crt, <node>.key
//                  per joining node); ConfigMap `nebula-config` (<node>.yml per node); DaemonSet
//                  `nebula` (hostNetwork, NET_ADMIN, /dev/net/tun; the pod reads its node's files
//                  through $(NODE_NAME) in its args; never on a Liqo virtual node);
//                  ServiceAccount.
//   lighthouse     only when the lighthouse is in the cluster: Secret `nebula-lighthouse`,
//                  ConfigMap `nebula-lighthouse`, Deployment `nebula-lighthouse` (1 replica,
//                  pinned to one node, its own network namespace, UDP hostPort or a NodePort
//                  Service), in nebula-system.
//   control-plane  Namespace carrierarr; Secret `carrierarr-control-plane` (admin.token,
//                  enrollment.pub, the fleet's public certificates for --mesh-identity);
//                  PersistentVolumeClaim (SQLite) unless a database URL Secret is named;
//                  Deployment `carrierarr-control-plane` (host networking on the node holding the
//                  homelab's mesh address, so agents reach it through Nebula's tun: with Cilium's
//                  eBPF datapath a NodePort is not reachable through the tun); Service NodePort
//                  (gRPC 30052, HTTP) for the operator; probes, requests/limits, non-root.
// Every object carries app.kubernetes.io/managed-by: carrierarr, carrierarr.io/fleet: <fleet>,
// app.kubernetes.io/name and app.kubernetes.io/part-of: carrierarr.
#ifndef CARRIERARR_PROVIDERS_KUBERNETES_MANIFESTS_H_
#define CARRIERARR_PROVIDERS_KUBERNETES_MANIFESTS_H_

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "spec/fleet.h"

namespace carrierarr::kubernetes {

inline constexpr char kManagedByLabel[] = "app.kubernetes.io/managed-by";
inline constexpr char kManagedBy[] = "carrierarr";
inline constexpr char kFleetLabel[] = "carrierarr.io/fleet";
// Liqo labels its virtual nodes so: they are no homelab members, and the nebula DaemonSet (which
// tolerates every taint) is kept off them.
inline constexpr char kLiqoNodeTypeLabel[] = "liqo.io/type";
inline constexpr char kLiqoVirtualNode[] = "virtual-node";

// One Nebula member in the cluster: a Kubernetes node (or the lighthouse pod).
struct NebulaMember {
  std::string node;         // the Kubernetes node name (also the mesh node's name)
  std::string cert_pem;     // its Nebula host certificate
  std::string key_pem;      // its Nebula private key
  std::string config_yaml;  // its Nebula config, naming files under the pod's mount paths
};

struct ManifestInput {
  const spec::FleetSpec& fleet;
  std::string ca_pem;                                    // the mesh CA certificate
  std::vector<NebulaMember> homelab;                     // every joining node, by name
  std::optional<NebulaMember> lighthouse;                // when lighthouse.provider is kubernetes
  std::string lighthouse_node;                           // the node the lighthouse pod is pinned to
  std::string control_plane_node;                        // the node holding homelab.mesh_ip
  std::string admin_token;                               // the control plane's admin token
  std::string enrollment_public_key_pem;                 // serve --enrollment-key
  std::map<std::string, std::string> mesh_certificates;  // node -> public cert (mesh identity)
};

// Where the pods find their files (the Nebula configs name these paths).
inline constexpr char kNebulaCertDir[] = "/etc/nebula/certs";     // ca.crt, <node>.crt, <node>.key
inline constexpr char kNebulaConfigDir[] = "/etc/nebula/config";  // <node>.yml
inline constexpr char kNebulaTun[] = "nebula1";

struct Component {
  std::string name;  // "nebula", "lighthouse", "control-plane"
  std::vector<nlohmann::json>
      objects;  // in apply order (Namespace first); Secrets with base64 data
};

std::vector<Component> RenderManifests(const ManifestInput& input);

// Writes one kustomize directory per component under out_dir (<out>/<component>/
// kustomization.yaml and one file per object; Secrets as secretGenerator files listed in a
// .gitignore, generatorOptions.disableNameSuffixHash so names match what `up` applies). Files are
// written atomically, secrets 0600. Returns the paths written.
Result<std::vector<std::string>> WriteKustomizeDirs(const std::vector<Component>& components,
                                                    const std::string& out_dir);

// Names the objects use, for the provider and status/doctor.
inline constexpr char kNebulaDaemonSet[] = "nebula";
inline constexpr char kLighthouseDeployment[] = "nebula-lighthouse";
inline constexpr char kControlPlaneDeployment[] = "carrierarr-control-plane";

}  // namespace carrierarr::kubernetes

#endif  // CARRIERARR_PROVIDERS_KUBERNETES_MANIFESTS_H_
