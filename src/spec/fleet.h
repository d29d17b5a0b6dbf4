// fleet.yaml: the one declarative file that describes a carrierarr fleet. This header is the
// model; fleet_parser.h reads it from YAML with file:line:column errors, and init_template.h
// writes a commented starting point. Reference: docs/fleet-yaml.md.
#ifndef CARRIERARR_SPEC_FLEET_H_
#define CARRIERARR_SPEC_FLEET_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/ipv4.h"

namespace carrierarr::spec {

enum class PoolType { kGpuWorker, kCpuWorker };
std::string_view PoolTypeName(PoolType type);  // "gpu-worker", "cpu-worker"

struct MeshSpec {
  Ipv4Net cidr{0x0a2a0000, 0xffff0000};                              // 10.42.0.0/16
  uint16_t lighthouse_port = 4242;                                   // UDP
  std::chrono::nanoseconds ca_lifetime = std::chrono::hours(87600);  // the seeds' ten years
};

// Every `provider` below is a name from the registry (providers/registry.h). Where fleet.yaml
// names none, the parser writes the default: the first of the providers it was given.
struct LighthouseSpec {
  std::string provider;
  std::string size = "t3.small";  // instance type where the provider has them
};

struct HomelabSpec {
  uint32_t mesh_ip = 0x0a2a0101;  // 10.42.1.1: the seeds' .1.x range
  std::vector<std::string> groups{"homelab", "kubernetes"};
  std::string kubeconfig;  // the homelab cluster's kubeconfig ("" = $KUBECONFIG, ~/.kube/config)
  // Where the homelab's nodes and the control plane run (`homelab.provider`).
  std::string provider;
};

using MicroUsd = int64_t;  // millionths of a US dollar: money sums exactly

// A spending cap over the UTC day and the UTC calendar month (fleet.yaml's `budget`, per pool
// and per fleet); 0 = no cap of that period.
struct Budget {
  MicroUsd usd_per_day = 0;
  MicroUsd usd_per_month = 0;
  bool any() const { return usd_per_day > 0 || usd_per_month > 0; }
};

// What one node of an instance type costs per hour (fleet.yaml's `prices`).
struct InstancePrice {
  MicroUsd on_demand = 0;
  std::optional<MicroUsd> spot;  // none: a spot node counts at on_demand (never under-counted)
};

// What wakes a scaled pool. The last enumerator is kSchedule (spec/burst_parser.cc's table).
enum class WakeTrigger { kRequests, kPendingPods, kSchedule };
std::string_view WakeTriggerName(WakeTrigger t);  // "requests", "pending-pods", "schedule"
std::optional<WakeTrigger> WakeTriggerNamed(std::string_view name);
// What an idle node of a scaled pool becomes: stopped with its volumes kept (a warm start skips
// the model download), or terminated (nothing kept).
enum class StopMode { kStop, kTerminate };
std::string_view StopModeName(StopMode m);  // "stop", "terminate"
std::optional<StopMode> StopModeNamed(std::string_view name);

// A window of the week, in UTC, in which a pool woken on `schedule` is held awake.
struct ScheduleWindow {
  uint8_t days = 0;      // bit 0 = Monday ... bit 6 = Sunday
  int start_minute = 0;  // after 00:00, inclusive
  int end_minute = 0;    // exclusive, at most 1440
};

// A pool that scales between `min` and `max` nodes (fleet.yaml's `scaling`, instead of `count`).
struct ScalingSpec {
  bool enabled = false;
  int min = 0;
  int max = 1;  // a hard ceiling
  std::chrono::seconds idle_after = std::chrono::minutes(15);
  std::vector<WakeTrigger> wake_on{WakeTrigger::kRequests, WakeTrigger::kPendingPods};
  StopMode stop = StopMode::kStop;  // the parser's default: stop for gpu-worker, else terminate
  std::vector<ScheduleWindow> schedule;
};

inline constexpr int kDefaultModelsVolumeGb = 64;

struct PoolSpec {
  std::string name;
  PoolType type = PoolType::kCpuWorker;
  int count = 1;
  std::string provider;
  std::string instance_type;
  std::vector<std::string> groups;
  bool spot = false;  // aws: a spot instance instead of on-demand
  // aws, with spot: a launch EC2 refuses for want of spot capacity (or a spot price over
  // on-demand's) is made on-demand instead of failing the wake. Spend counts such a pool at the
  // on-demand price.
  bool on_demand_fallback = false;
  int root_volume_gb = 0;  // aws: 0 = the provider's default (30, or 100 for gpu-worker)
  // aws, a pool with models: a separate encrypted gp3 volume of this size (GB) for Ollama's
  // models, mounted at /var/lib/ollama; a stopped node keeps it, so a warm start skips the
  // download (terminate deletes it). 0 = the models on the root volume. The parser's default
  // for a pool with models is kDefaultModelsVolumeGb.
  int models_volume_gb = 0;
  std::string image;  // the machine image (an AMI on aws, e.g. from `render packer`); "" = default
  // enabled: `count` is `scaling.max` (every node that may run has its identity); the first
  // `scaling.min` always run, the others run when woken (ops/power.h)
  ScalingSpec scaling;
  Budget budget;  // only with scaling
  // What one node costs per hour, for a scaled pool: fleet.yaml's `prices` for its instance
  // type, else its provider's list price (the parser fills it in); none when neither knows.
  std::optional<MicroUsd> usd_per_hour;
  // The Ollama models its nodes serve ("llama3:8b"): the gateway in `carrierarr serve` sends
  // requests for them to this pool (a model belongs to one pool) and has them loaded first.
  std::vector<std::string> models;
  // How long Ollama keeps a model loaded after its last request, in Ollama's own form ("-1":
  // while the node runs, the default; "5m" is Ollama's, which makes every fifth-minute request
  // a cold load).
  std::string keep_alive = "-1";
};

struct ControlPlaneSpec {
  uint16_t grpc_port = 50051;
  uint16_t http_port = 8090;
  // The model gateway (serve --gateway, for pools with `models`), on the homelab's address:
  // Ollama's own port, so that clients point OLLAMA_HOST at it unchanged.
  uint16_t gateway_port = 11434;
  // In a Kubernetes homelab: carrierarr's own image (the user builds it: docs/containers.md),
  // where its SQLite lives, or the Secret holding a PostgreSQL URL instead.
  std::string image;                 // required there; "registry/carrierarr:TAG"
  std::string storage_size = "1Gi";  // the PersistentVolumeClaim for SQLite
  std::string storage_class;         // "" = the cluster's default
  std::string database_url_secret;   // "" = SQLite; else a Secret (key `url`) in its namespace
  uint16_t grpc_node_port = 30052;   // the seeds' NodePort, how the operator's CLI reaches it
  uint16_t http_node_port = 30090;
};

struct LocalProviderSpec {
  Ipv4Net underlay{0xc6120000, 0xfffe0000};  // 198.18.0.0/15, the benchmarking range (RFC 2544)
  // An Ollama program (`ollama`, or tests' carrierarr-fake-ollama) that the nodes of pools with
  // `models` run as `PROGRAM serve` on <mesh ip>:11434, started and stopped with the node.
  // "" = none.
  std::string ollama;
};

// How an AWS node gets its Nebula certificate, key and config.
enum class NebulaMaterial {
  kUserdata,        // embedded in the instance's userdata (the seeds' way)
  kSecretsManager,  // one secret per node in the seeds' JSON shape, fetched at boot with the
                    // instance profile (needs iam_instance_profile)
};
std::string_view NebulaMaterialName(NebulaMaterial m);  // "userdata", "secretsmanager"

struct AwsProviderSpec {
  std::string region;        // "" = the AWS CLI's rules (AWS_REGION, the profile, ...)
  std::string profile;       // "" = AWS_PROFILE or default
  std::string endpoint_url;  // "" = AWS; else an EC2-compatible endpoint for every service
  std::string vpc_id;        // "" = the default VPC
  std::string subnet_id;     // "" = the VPC's default for the zone AWS picks
  // Who may reach SSH 22, k3s 6443, agent health 8080 and ClusterMesh 32379 besides the mesh
  // (empty: nobody; never 0.0.0.0/0 unless written here).
  std::vector<Ipv4Net> operator_cidrs;
  std::string ami;                   // "" = the latest Amazon Linux 2023 for the arch
  std::string key_type = "ed25519";  // or rsa
  std::string iam_instance_profile;  // instance profile name; "" = none
  NebulaMaterial nebula_material = NebulaMaterial::kUserdata;
  std::string dns_name;                  // optional name that points at the lighthouse's Elastic IP
  std::string nebula_version = "1.9.5";  // installed from the slackhq/nebula release
  // Where instances download carrierarr-agent (a linux binary for their arch; "{arch}" in the
  // URL becomes x86_64 or arm64): an https URL, or a path under `mirror`. "" = no agent on cloud
  // nodes (plan says so): carrierarr publishes no release binaries yet, so host
  // build/bin/carrierarr-agent somewhere the nodes can fetch it. agent_sha256 is required with
  // it and checked before it runs.
  std::string agent_url;
  std::string agent_sha256;  // for every architecture, or:
  // per architecture ("x86_64", "arm64"), for an agent_url with "{arch}" and pools of both.
  std::map<std::string, std::string> agent_sha256_by_arch;
  // https base URL serving GitHub's release layout for Nebula and k3s ("" = github.com), and
  // the base of a relative agent_url. Every download is checked against its sha256 all the same.
  std::string mirror;
  // The lighthouse runs the k3s server and aws workers join it (flags bound to the mesh). It
  // needs the lighthouse on aws: with the lighthouse elsewhere there is no server to join, so
  // k3s is off unless fleet.yaml writes `k3s: true`, which is then refused.
  bool k3s = true;
  bool k3s_written = false;                  // fleet.yaml sets providers.aws.k3s
  std::string k3s_version = "v1.31.4+k3s1";  // the k3s release, checked against its sums
  // The NVIDIA device plugin the k3s server runs on the GPU workers (nvidia.com/gpu for pods).
  std::string device_plugin_image = "nvcr.io/nvidia/k8s-device-plugin:v0.17.0";
  // On the GPU workers of pools with models: Ollama from the ollama/ollama release (or the
  // mirror), checked against the release's sha256sum.txt, serving on the node's mesh address.
  std::string ollama_version = "0.13.3";
};

// How a Kubernetes homelab (and a lighthouse in it) is reached and laid out
// (`providers.kubernetes`). Facts: ../shared/spec/kubernetes.md.
enum class LighthouseExposure { kHostPort, kNodePort };         // UDP mesh.lighthouse_port
std::string_view LighthouseExposureName(LighthouseExposure e);  // "hostPort", "nodePort"

struct KubernetesProviderSpec {
  std::string context;  // "" = the kubeconfig's current-context
  std::string nebula_namespace = "nebula-system";
  std::string control_plane_namespace = "carrierarr";
  std::map<std::string, std::string> node_selector;  // which nodes join the mesh; empty = all
  std::string nebula_image = "docker.io/nebulaoss/nebula:1.9.5";
  // The node that runs the control plane (host networking, on the homelab's mesh address
  // homelab.mesh_ip) and a homelab lighthouse; "" = the first joining node by name.
  std::string control_plane_node;
  LighthouseExposure lighthouse_exposure = LighthouseExposure::kHostPort;
  // For a lighthouse in the cluster: the public "HOST:PORT" the router forwards to it (required
  // when any node is outside the homelab).
  std::string lighthouse_endpoint;
  bool allow_insecure = false;  // accept insecure-skip-tls-verify in the kubeconfig
};

// How the homelab cluster and the cloud cluster (k3s on the cloud nodes) are federated
// (`federation`). Facts: ../shared/spec/kubernetes.md. Reference: docs/federation.md.
enum class FederationMode {
  kNone,         // two clusters side by side, nothing shared
  kLiqo,         // the homelab offloads namespaces to the cloud cluster (a Liqo virtual node)
  kClusterMesh,  // Cilium ClusterMesh: services and identities shared both ways
  kDirect,       // no cloud cluster: cloud workers join the homelab (Talos) cluster over the mesh
};
std::string_view FederationModeName(FederationMode mode);  // "none", "liqo", ...
std::optional<FederationMode> FederationModeNamed(std::string_view name);

// One cluster as Cilium and Liqo name it.
struct ClusterName {
  std::string name;  // Cilium's rules (pki::CheckClusterMeshName): <= 32 of [a-z0-9-]
  int id = 0;        // 1-255, unique across the mesh
  // ClusterMesh: the NodePort of this cluster's clustermesh-apiserver, where the other side's
  // forwarder sends. The two must differ: a forwarder listening on its own cluster's NodePort
  // makes that cluster's agents reach their own apiserver.
  uint16_t clustermesh_port = 0;
};

// Liqo's NamespaceOffloading enums, as its CRD spells them.
enum class NamespaceMapping { kDefaultName, kEnforceSameName, kSelectedName };
enum class PodOffloading { kLocalAndRemote, kRemote, kLocal };
std::string_view NamespaceMappingName(NamespaceMapping m);  // "DefaultName", ...
std::string_view PodOffloadingName(PodOffloading p);        // "LocalAndRemote", ...
std::optional<NamespaceMapping> NamespaceMappingNamed(std::string_view name);
std::optional<PodOffloading> PodOffloadingNamed(std::string_view name);

struct OffloadedNamespace {
  std::string name;                                           // a homelab namespace
  NamespaceMapping mapping = NamespaceMapping::kDefaultName;  // Liqo's default
  std::string remote_name;                                    // with kSelectedName only
  PodOffloading pods = PodOffloading::kLocalAndRemote;        // Liqo's default
};

struct LiqoSpec {
  // Where Liqo is installed on each side: "" = found from its clusterid ConfigMap.
  std::string ns;            // homelab (the seeds: liqo)
  std::string remote_ns;     // cloud (the seeds: liqo-system)
  bool use_liqoctl = false;  // peer with the user's liqoctl instead of through the API
  std::vector<OffloadedNamespace> offload;
  // What the virtual node advertises (ResourceSlice spec.resources, quantities); empty keys take
  // the defaults: cpu 8, memory 32Gi, pods 110, and nvidia.com/gpu = the fleet's GPU workers.
  std::map<std::string, std::string> resources;
};

struct ClusterMeshSpec {
  std::string ns = "kube-system";               // where Cilium runs on both sides
  std::string cilium_version = "1.16.5";        // the cloud side's `cilium install --version`
  std::string cilium_cli_version = "v0.16.22";  // the cilium CLI the first boot installs
  std::string forwarder_image = "docker.io/alpine/socat:1.8.0.1";  // the socat DaemonSets
};

struct DirectSpec {
  std::string talos_version = "v1.9.1";
  // Pools whose nodes join as Talos control-plane nodes. doctor refuses them (etcd members
  // across a WAN lose quorum on every hiccup) unless force_control_plane is set.
  std::vector<std::string> control_plane_pools;
  bool force_control_plane = false;
};

struct FederationSpec {
  FederationMode mode = FederationMode::kNone;
  ClusterName homelab{"talos-home", 1, 32379};  // the seeds' names and ids
  ClusterName cloud{"aws-k3s", 2, 32380};
  // The cloud cluster's kubeconfig ("" = where `carrierarr kubeconfig` writes it:
  // .carrierarr/k3s/kubeconfig). Relative paths are from fleet.yaml's directory.
  std::string cloud_kubeconfig;
  LiqoSpec liqo;
  ClusterMeshSpec clustermesh;
  DirectSpec direct;
};

struct FleetSpec {
  std::string name = "demo";  // prefixes every resource, so fleets coexist
  MeshSpec mesh;
  LighthouseSpec lighthouse;
  HomelabSpec homelab;
  std::vector<PoolSpec> pools;
  ControlPlaneSpec control_plane;
  LocalProviderSpec local;
  AwsProviderSpec aws;
  KubernetesProviderSpec kubernetes;
  FederationSpec federation;
  Budget budget;                                // over every scaled pool
  std::map<std::string, InstancePrice> prices;  // by instance type, over the providers' lists
  bool UsesProvider(std::string_view provider) const;  // the lighthouse's or any pool's
};

// Limits that validation enforces and docs quote.
inline constexpr int kMaxPoolCount = 250;
inline constexpr size_t kMaxFleetNameLength = 12;  // keeps namespace and device names short

}  // namespace carrierarr::spec

#endif  // CARRIERARR_SPEC_FLEET_H_
