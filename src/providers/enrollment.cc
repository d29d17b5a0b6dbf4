#include "providers/enrollment.h"

#include "core/duration.h"
#include "core/file_util.h"
#include "core/ipv4.h"
#include "pki/crypto.h"
#include "pki/enrollment_token.h"
#include "pki/keys.h"

namespace carrierarr::providers {
namespace {

class SignedMinter final : public EnrollmentMinter {
 public:
  SignedMinter(std::string key_path, const TimeSource& time)
      : key_path_(std::move(key_path)), time_(time) {}

  Result<std::string> Mint(const std::string& node, const std::string& ttl) const override {
    auto lifetime = ParseGoDuration(ttl);
    if (!lifetime.ok()) return lifetime.status().WithPrefix("enrollment token lifetime");
    auto pem = ReadFile(key_path_);
    if (!pem.ok()) return pem.status().WithPrefix("the fleet's enrollment key");
    auto key = pki::ParseEd25519PrivateKeyPem(*pem);
    pki::Cleanse(*pem);
    if (!key.ok()) return key.status().WithPrefix(key_path_);
    auto signer = pki::Ed25519Signer::Create(*key);
    pki::Cleanse(*key);
    if (!signer.ok()) return signer.status().WithPrefix(key_path_);
    const int64_t expires =
        time_.NowUnix() + std::chrono::duration_cast<std::chrono::seconds>(*lifetime).count();
    return pki::SignEnrollmentToken(*signer, node, expires);
  }

 private:
  std::string key_path_;
  const TimeSource& time_;
};

}  // namespace

std::string AgentType(const mesh::NodePlan& node) {
  if (node.role == mesh::Role::kLighthouse) return "lighthouse";
  if (node.role == mesh::Role::kWorker && node.pool_type == spec::PoolType::kGpuWorker)
    return "gpu-worker";
  return "cpu-worker";
}

std::string ControlPlaneAddress(const spec::FleetSpec& fleet) {
  return FormatIpv4(fleet.homelab.mesh_ip) + ":" + std::to_string(fleet.control_plane.grpc_port);
}

std::shared_ptr<const EnrollmentMinter> MakeSignedMinter(std::string key_path,
                                                         const TimeSource& time) {
  return std::make_shared<SignedMinter>(std::move(key_path), time);
}

}  // namespace carrierarr::providers
