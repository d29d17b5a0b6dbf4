// Resources that are files in the fleet's state directory: the mesh CA, each node's host
// certificate and key, each node's Nebula config, the key that signs enrollment tokens.
// Provider-neutral: every provider ships them to its nodes in its own way (a path in a namespace,
// userdata, a Kubernetes Secret).
#ifndef CARRIERARR_PROVISION_FILE_RESOURCES_H_
#define CARRIERARR_PROVISION_FILE_RESOURCES_H_

#include <chrono>
#include <memory>
#include <string>

#include "core/ipv4.h"
#include "core/time_source.h"
#include "mesh/address_plan.h"
#include "provision/resource.h"

namespace carrierarr::provision {

inline constexpr char kCaId[] = "ca";

struct CaParams {
  std::string name;  // the CA's name: "<fleet>-mesh"
  std::string cert_path, key_path;
  std::chrono::nanoseconds lifetime;
  Ipv4Net mesh;  // the CA is limited to the mesh network
  // Signing and expiry read this clock (not owned). A CA is made anew once it has expired.
  TimeSource* time = RealTimeSource::Get();
};
std::unique_ptr<Resource> MakeCaResource(const CaParams& params);

struct HostCertParams {
  mesh::NodePlan node;
  int mesh_prefix = 16;
  std::string ca_cert_path, ca_key_path;
  std::string cert_path, key_path;
  // Signing and expiry read this clock (not owned). A certificate is valid until the CA's expiry
  // and is signed anew once it no longer verifies (expired, or its CA was replaced).
  TimeSource* time = RealTimeSource::Get();
};
std::unique_ptr<Resource> MakeHostCertResource(const HostCertParams& params);

inline constexpr char kEnrollmentKeyId[] = "enrollment-key";

// The Ed25519 key pair that signs the agents' enrollment tokens (pki/enrollment_token.h): the
// private key stays with the operator's side; the control plane reads only the public key.
std::unique_ptr<Resource> MakeEnrollmentKeyResource(const std::string& key_path,
                                                    const std::string& public_key_path);

// A plain file with fixed content (mode 0600), e.g. a rendered Nebula config.
std::unique_ptr<Resource> MakeFileResource(const std::string& id, const std::string& summary,
                                           const std::string& path, std::string content,
                                           std::vector<std::string> deps = {});

// Deleters for the kinds above ("pki-ca", "pki-cert", "enrollment-key", "file"): they remove the
// recorded paths.
void RegisterFileKinds(KindRegistry& kinds);

}  // namespace carrierarr::provision

#endif  // CARRIERARR_PROVISION_FILE_RESOURCES_H_
