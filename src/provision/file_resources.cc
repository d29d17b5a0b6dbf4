#include "provision/file_resources.h"

#include <unistd.h>

#include <cerrno>

#include "core/file_util.h"
#include "pki/authority.h"
#include "pki/ca_pool.h"
#include "pki/crypto.h"
#include "pki/keys.h"

namespace carrierarr::provision {
namespace {

using Json = nlohmann::json;

Status RemovePaths(const Json& attrs) {
  for (const char* key : {"cert_path", "key_path", "path"}) {
    if (!attrs.contains(key) || !attrs[key].is_string()) continue;
    std::string path = attrs[key].get<std::string>();
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return Status::Internal("remove " + path + ": " + ErrnoString(errno));
    }
  }
  return Status::Ok();
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

class CaResource final : public Resource {
 public:
  explicit CaResource(CaParams p) : p_(std::move(p)) {}
  std::string id() const override { return kCaId; }
  std::string kind() const override { return "pki-ca"; }
  std::string summary() const override {
    return "Nebula CA '" + p_.name + "' limited to " + p_.mesh.ToString();
  }
  std::vector<std::string> deps() const override { return {}; }
  std::string hash() const override {
    return p_.name + "|" + p_.mesh.ToString() + "|" + std::to_string(p_.lifetime.count());
  }
  Json attrs() const override { return {{"cert_path", p_.cert_path}, {"key_path", p_.key_path}}; }

  Result<bool> Exists() const override {
    auto loaded = Load();
    return loaded.ok();
  }

  Result<Json> Create() override {
    if (Load().ok()) return attrs();  // a run killed after writing both files
    // Anything half-made (one file, or a key from a killed run) is replaced as a whole.
    CARRIERARR_RETURN_IF_ERROR(RemovePaths(attrs()));
    auto ca = pki::CreateCa({.name = p_.name, .duration = p_.lifetime, .ips = {p_.mesh}},
                            p_.time->SystemNow());
    if (!ca.ok()) return ca.status();
    std::string key_pem = ca->KeyPem();
    Status s = WriteFileAtomic(p_.key_path, key_pem, 0600, Overwrite::kNo);
    pki::Cleanse(key_pem);
    CARRIERARR_RETURN_IF_ERROR(s);
    CARRIERARR_RETURN_IF_ERROR(WriteFileAtomic(p_.cert_path, ca->CertPem(), 0600, Overwrite::kNo));
    return attrs();
  }

 private:
  // The CA exists when both files parse, belong together and the CA is valid now.
  Result<pki::CertificateAuthority> Load() const {
    auto crt = ReadFile(p_.cert_path);
    auto key = ReadFile(p_.key_path);
    if (!crt.ok() || !key.ok()) return Status::NotFound("CA files missing");
    auto cert = pki::CertificateFromPem(*crt);
    auto raw_key = pki::ParseEd25519PrivateKeyPem(*key);
    pki::Cleanse(*key);
    if (!cert.ok() || !raw_key.ok()) return Status::DataLoss("CA files unreadable");
    auto authority = pki::CertificateAuthority::Create(*cert, *raw_key);
    pki::Cleanse(*raw_key);
    if (!authority.ok()) return authority.status();
    if (pki::IsExpired(authority->cert(), p_.time->SystemNow()))
      return Status::FailedPrecondition("CA expired");
    return authority;
  }

  CaParams p_;
};

class HostCertResource final : public Resource {
 public:
  explicit HostCertResource(HostCertParams p) : p_(std::move(p)) {}
  std::string id() const override { return "cert/" + p_.node.name; }
  std::string kind() const override { return "pki-cert"; }
  std::string summary() const override {
    return "host certificate " + p_.node.name + " " + HostIp().ToString() + " [" +
           Join(p_.node.groups) + "]";
  }
  std::vector<std::string> deps() const override { return {kCaId}; }
  std::string hash() const override {
    return p_.node.name + "|" + HostIp().ToString() + "|" + Join(p_.node.groups);
  }
  Json attrs() const override { return {{"cert_path", p_.cert_path}, {"key_path", p_.key_path}}; }

  Result<bool> Exists() const override {
    auto crt = ReadFile(p_.cert_path);
    auto key = ReadFile(p_.key_path);
    if (!crt.ok() || !key.ok()) return false;
    auto cert = pki::CertificateFromPem(*crt);
    auto raw_key = pki::ParseX25519PrivateKeyPem(*key);
    pki::Cleanse(*key);
    if (!cert.ok() || !raw_key.ok()) return false;
    auto pub = pki::X25519PublicKey(*raw_key);
    pki::Cleanse(*raw_key);
    const pki::CertDetails& d = cert->details;
    auto ca = ReadFile(p_.ca_cert_path);
    if (!ca.ok()) return false;
    auto ca_cert = pki::CertificateFromPem(*ca);
    if (!ca_cert.ok()) return false;
    pki::CaPool pool;
    if (!pool.AddCa(*ca_cert, p_.time->SystemNow()).ok()) return false;
    return pub.ok() && *pub == d.public_key && d.name == p_.node.name && d.ips.size() == 1 &&
           d.ips[0] == HostIp() && d.groups == p_.node.groups &&
           pool.Verify(*cert, p_.time->SystemNow()).ok();
  }

  Result<Json> Create() override {
    CARRIERARR_RETURN_IF_ERROR(RemovePaths(attrs()));
    auto crt = ReadFile(p_.ca_cert_path);
    if (!crt.ok()) return crt.status();
    auto key = ReadFile(p_.ca_key_path);
    if (!key.ok()) return key.status();
    auto cert = pki::CertificateFromPem(*crt);
    if (!cert.ok()) return cert.status().WithPrefix(p_.ca_cert_path);
    auto raw_key = pki::ParseEd25519PrivateKeyPem(*key);
    pki::Cleanse(*key);
    if (!raw_key.ok()) return raw_key.status().WithPrefix(p_.ca_key_path);
    auto authority = pki::CertificateAuthority::Create(*cert, *raw_key);
    pki::Cleanse(*raw_key);
    if (!authority.ok()) return authority.status();
    auto host = authority->Sign({.name = p_.node.name, .ip = HostIp(), .groups = p_.node.groups},
                                p_.time->SystemNow());
    if (!host.ok()) return host.status();
    std::string key_pem = host->KeyPem();
    Status s = WriteFileAtomic(p_.key_path, key_pem, 0600, Overwrite::kNo);
    pki::Cleanse(key_pem);
    pki::Cleanse(host->private_key);
    CARRIERARR_RETURN_IF_ERROR(s);
    CARRIERARR_RETURN_IF_ERROR(
        WriteFileAtomic(p_.cert_path, host->CertPem(), 0600, Overwrite::kNo));
    return attrs();
  }

 private:
  // The host's own address with the mesh mask: the seeds' /16 rule.
  Ipv4Net HostIp() const { return {p_.node.mesh_ip, PrefixToMask(p_.mesh_prefix)}; }
  HostCertParams p_;
};

class EnrollmentKeyResource final : public Resource {
 public:
  EnrollmentKeyResource(std::string key_path, std::string public_key_path)
      : key_path_(std::move(key_path)), public_key_path_(std::move(public_key_path)) {}
  std::string id() const override { return kEnrollmentKeyId; }
  std::string kind() const override { return "enrollment-key"; }
  std::string summary() const override { return "Ed25519 key that signs agent tokens"; }
  std::vector<std::string> deps() const override { return {}; }
  std::string hash() const override { return "ed25519"; }  // made anew only when missing or broken
  Json attrs() const override { return {{"key_path", key_path_}, {"path", public_key_path_}}; }

  // Both files parse and the public key is the private key's own.
  Result<bool> Exists() const override {
    auto key = ReadFile(key_path_);
    auto pub = ReadFile(public_key_path_);
    if (!key.ok() || !pub.ok()) return false;
    auto raw_key = pki::ParseEd25519PrivateKeyPem(*key);
    pki::Cleanse(*key);
    auto raw_pub = pki::ParseEd25519PublicKeyPem(*pub);
    if (!raw_key.ok() || !raw_pub.ok()) return false;
    auto signer = pki::Ed25519Signer::Create(*raw_key);
    pki::Cleanse(*raw_key);
    return signer.ok() && signer->public_key() == *raw_pub;
  }

  Result<Json> Create() override {
    CARRIERARR_RETURN_IF_ERROR(RemovePaths(attrs()));
    auto keys = pki::GenerateEd25519();
    if (!keys.ok()) return keys.status();
    std::string key_pem = pki::Ed25519PrivateKeyToPem(keys->private_key);
    pki::Cleanse(keys->private_key);
    Status s = WriteFileAtomic(key_path_, key_pem, 0600, Overwrite::kNo);
    pki::Cleanse(key_pem);
    CARRIERARR_RETURN_IF_ERROR(s);
    CARRIERARR_RETURN_IF_ERROR(WriteFileAtomic(
        public_key_path_, pki::Ed25519PublicKeyToPem(keys->public_key), 0600, Overwrite::kNo));
    return attrs();
  }

 private:
  std::string key_path_, public_key_path_;
};

class FileResource final : public Resource {
 public:
  FileResource(std::string id, std::string summary, std::string path, std::string content,
               std::vector<std::string> deps)
      : id_(std::move(id)),
        summary_(std::move(summary)),
        path_(std::move(path)),
        content_(std::move(content)),
        deps_(std::move(deps)) {}
  std::string id() const override { return id_; }
  std::string kind() const override { return "file"; }
  std::string summary() const override { return summary_; }
  std::vector<std::string> deps() const override { return deps_; }
  std::string hash() const override { return content_; }
  Json attrs() const override { return {{"path", path_}}; }
  Result<bool> Exists() const override {
    auto data = ReadFile(path_);
    return data.ok() && *data == content_;
  }
  Result<Json> Create() override {
    CARRIERARR_RETURN_IF_ERROR(WriteFileAtomic(path_, content_, 0600));
    return attrs();
  }

 private:
  std::string id_, summary_, path_, content_;
  std::vector<std::string> deps_;
};

}  // namespace

std::unique_ptr<Resource> MakeCaResource(const CaParams& params) {
  return std::make_unique<CaResource>(params);
}

std::unique_ptr<Resource> MakeHostCertResource(const HostCertParams& params) {
  return std::make_unique<HostCertResource>(params);
}

std::unique_ptr<Resource> MakeEnrollmentKeyResource(const std::string& key_path,
                                                    const std::string& public_key_path) {
  return std::make_unique<EnrollmentKeyResource>(key_path, public_key_path);
}

std::unique_ptr<Resource> MakeFileResource(const std::string& id, const std::string& summary,
                                           const std::string& path, std::string content,
                                           std::vector<std::string> deps) {
  return std::make_unique<FileResource>(id, summary, path, std::move(content), std::move(deps));
}

void RegisterFileKinds(KindRegistry& kinds) {
  for (const char* kind : {"pki-ca", "pki-cert", "enrollment-key", "file"})
    kinds.Register(kind, RemovePaths);
}

}  // namespace carrierarr::provision
