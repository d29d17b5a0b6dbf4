// fleet.yaml: the one declarative file that describes a carrierarr fleet. This header is the
// model; fleet_parser.h reads it from YAML with file:line:column errors, and init_template.h
// writes a commented starting point. Reference: docs/fleet-yaml.md.
#ifndef CARRIERARR_SPEC_FLEET_H_
#define CARRIERARR_SPEC_FLEET_H_

#include <chrono>
#include <cstdint>
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

struct LighthouseSpec {
  std::string provider = "local";
  std::string size = "t3.small";  // instance type where the provider has them
};

struct HomelabSpec {
  uint32_t mesh_ip = 0x0a2a0101;  // 10.42.1.1: the seeds' .1.x range
  std::vector<std::string> groups{"homelab", "kubernetes"};
  std::string kubeconfig;  // optional; used once Kubernetes federation lands
};

struct PoolSpec {
  std::string name;
  PoolType type = PoolType::kCpuWorker;
  int count = 1;
  std::string provider = "local";
  std::string instance_type;
  std::vector<std::string> groups;
};

struct ControlPlaneSpec {
  uint16_t grpc_port = 50051;
  uint16_t http_port = 8090;
};

struct LocalProviderSpec {
  Ipv4Net underlay{0xc6120000, 0xfffe0000};  // 198.18.0.0/15, the benchmarking range (RFC 2544)
};

struct FleetSpec {
  std::string name = "demo";  // prefixes every resource, so fleets coexist
  MeshSpec mesh;
  LighthouseSpec lighthouse;
  HomelabSpec homelab;
  std::vector<PoolSpec> pools;
  ControlPlaneSpec control_plane;
  LocalProviderSpec local;
};

// Limits that validation enforces and docs quote.
inline constexpr int kMaxPoolCount = 250;
inline constexpr size_t kMaxFleetNameLength = 12;  // keeps namespace and device names short

}  // namespace carrierarr::spec

#endif  // CARRIERARR_SPEC_FLEET_H_
