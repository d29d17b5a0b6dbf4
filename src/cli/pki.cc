// `carrierarr pki`: a Nebula certificate authority with nebula-cert's modes, flags, defaults and
// messages, made safer: keys are never overwritten, every file is written atomically with mode
// 0600, narrow host masks are warned about, and `verify` says which check failed and why.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <initializer_list>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "cli/command.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "core/file_util.h"
#include "pki/authority.h"
#include "pki/ca_pool.h"
#include "pki/clustermesh.h"
#include "pki/keys.h"
#include "pki/pem.h"

namespace carrierarr::cli {
namespace {

using pki::TimePoint;

constexpr mode_t kSecretMode = 0600;

// A failure to report: `usage` asks for the "Run ... -h" hint (bad or missing flags).
struct Failure {
  std::string message;
  bool usage = false;
  std::vector<std::string> details;  // further lines, indented under the error
};

// One mode of `carrierarr pki`, a Command whose Spec() has nebula-cert's name and summary (its
// usage line is nebula-cert's too, made from them).
class Mode : public Command {
 public:
  // Runs once the flags are parsed; returns what to report, or nothing when it succeeded.
  virtual std::optional<Failure> Run(const Invocation& invocation) = 0;
};

Failure UsageError(std::string message) { return {std::move(message), true, {}}; }
Failure Error(std::string message) { return {std::move(message), false, {}}; }

std::optional<Failure> Required(const std::string& flag, const std::string& value) {
  if (value.empty()) return UsageError("-" + flag + " is required");
  return std::nullopt;
}

// Parses "-ips"/"-subnets" style lists. `what` is "ip" or "subnet" for nebula-cert's wording.
Result<std::vector<Ipv4Net>> ParseNets(const std::string& csv, const std::string& what) {
  std::vector<Ipv4Net> nets;
  for (const auto& item : SplitCommaList(csv)) {
    auto net = ParseCidr(item);
    if (!net.ok())
      return Status::InvalidArgument("invalid " + what + " definition: " + net.status().message());
    nets.push_back(*net);
  }
  return nets;
}

// Cleanses the secrets it was given when it goes out of scope, so that every return path does.
// Declare it after them: it must run before their destructors.
class CleanseOnExit {
 public:
  CleanseOnExit(std::initializer_list<std::string*> secrets) : secrets_(secrets) {}
  ~CleanseOnExit() {
    for (std::string* secret : secrets_) pki::Cleanse(*secret);
  }
  CleanseOnExit(const CleanseOnExit&) = delete;
  CleanseOnExit& operator=(const CleanseOnExit&) = delete;

 private:
  std::vector<std::string*> secrets_;
};

// Writes each (path, data) atomically without overwriting; if a later file fails, the earlier
// ones are removed again so a failed command leaves nothing half-made behind.
std::optional<Failure> WriteAllOrNothing(
    const std::vector<std::tuple<std::string, std::string, std::string>>& files,
    Overwrite overwrite = Overwrite::kNo) {
  std::vector<FileToWrite> batch;
  batch.reserve(files.size());
  for (const auto& [path, data, flag] : files) batch.push_back({path, data, kSecretMode});
  size_t failed = 0;
  // Like nebula-cert, the names are left to the next journal commit (it does not even fsync the
  // content): this keeps a `pki sign` as quick as nebula-cert's. The engine's own files and
  // state sync their directory too.
  Status s = WriteFilesAtomic(batch, overwrite, &failed, SyncDirectory::kNo);
  if (!s.ok())
    return Error("error while writing " + std::get<2>(files[failed]) + ": " + s.message());
  return std::nullopt;
}

// ---- ca -------------------------------------------------------------------------------------

class CaMode final : public Mode {
 public:
  CommandSpec Spec() const override {
    return {"ca", "create a self signed certificate authority", ""};
  }
  void DeclareFlags(FlagSet& flags) override {
    flags.String("name", &name_, "", "Required: name of the certificate authority");
    flags.Duration("duration", &duration_, std::chrono::hours(8760),
                   "Optional: amount of time the certificate should be valid for. Valid time units "
                   "are seconds: \"s\", minutes: \"m\", hours: \"h\"");
    flags.String("out-key", &out_key_, "ca.key", "Optional: path to write the private key to");
    flags.String("out-crt", &out_crt_, "ca.crt", "Optional: path to write the certificate to");
    flags.String("groups", &groups_, "",
                 "Optional: comma separated list of groups. This will limit which groups "
                 "subordinate certs can use");
    flags.String("ips", &ips_, "",
                 "Optional: comma separated list of ipv4 address and network in CIDR notation. "
                 "This will limit which ipv4 addresses and networks subordinate certs can use for "
                 "ip addresses");
    flags.String("subnets", &subnets_, "",
                 "Optional: comma separated list of ipv4 address and network in CIDR notation. "
                 "This will limit which ipv4 addresses and networks subordinate certs can use in "
                 "subnets");
  }

  std::optional<Failure> Run(const Invocation& invocation) override;

 private:
  std::string name_, out_key_, out_crt_, groups_, ips_, subnets_;
  std::chrono::nanoseconds duration_;
};

std::optional<Failure> CaMode::Run(const Invocation& invocation) {
  for (auto [flag, value] :
       {std::pair{"name", &name_}, {"out-key", &out_key_}, {"out-crt", &out_crt_}}) {
    if (auto f = Required(flag, *value)) return f;
  }
  if (duration_ <= std::chrono::nanoseconds(0))
    return UsageError("-duration must be greater than 0");
  pki::CaOptions options{.name = name_, .duration = duration_, .groups = SplitCommaList(groups_)};
  auto ip_nets = ParseNets(ips_, "ip");
  if (!ip_nets.ok()) return UsageError(ip_nets.status().message());
  options.ips = *ip_nets;
  auto subnet_nets = ParseNets(subnets_, "subnet");
  if (!subnet_nets.ok()) return UsageError(subnet_nets.status().message());
  options.subnets = *subnet_nets;

  if (PathExists(out_key_)) return Error("refusing to overwrite existing CA key: " + out_key_);
  if (PathExists(out_crt_)) return Error("refusing to overwrite existing CA cert: " + out_crt_);
  auto ca = pki::CreateCa(options, invocation.seams.time->SystemNow());
  if (!ca.ok()) return Error(ca.status().message());
  std::string key_pem = ca->KeyPem();
  CleanseOnExit cleanse{&key_pem, &ca->private_key};
  return WriteAllOrNothing({{out_key_, key_pem, "out-key"}, {out_crt_, ca->CertPem(), "out-crt"}});
}

// ---- sign -----------------------------------------------------------------------------------

class SignMode final : public Mode {
 public:
  CommandSpec Spec() const override { return {"sign", "create and sign a certificate", ""}; }
  void DeclareFlags(FlagSet& flags) override {
    flags.String("ca-key", &ca_key_, "ca.key", "Optional: path to the signing CA key");
    flags.String("ca-crt", &ca_crt_, "ca.crt", "Optional: path to the signing CA cert");
    flags.String("name", &name_, "", "Required: name of the cert, usually a hostname");
    flags.String("ip", &ip_, "",
                 "Required: ipv4 address and network in CIDR notation to assign the cert");
    flags.Duration("duration", &duration_, std::chrono::nanoseconds(0),
                   "Optional: how long the cert should be valid for. The default is 1 second "
                   "before the signing cert expires. Valid time units are seconds: \"s\", "
                   "minutes: \"m\", hours: \"h\"");
    flags.String("in-pub", &in_pub_, "",
                 "Optional (if out-key not set): path to read a previously generated public key");
    flags.String("out-key", &out_key_, "",
                 "Optional (if in-pub not set): path to write the private key to");
    flags.String("out-crt", &out_crt_, "", "Optional: path to write the certificate to");
    flags.String("groups", &groups_, "", "Optional: comma separated list of groups");
    flags.String("subnets", &subnets_, "",
                 "Optional: comma separated list of ipv4 address and network in CIDR notation. "
                 "Subnets this cert can serve for");
  }

  std::optional<Failure> Run(const Invocation& invocation) override;

 private:
  std::string ca_key_, ca_crt_, name_, ip_, in_pub_, out_key_, out_crt_, groups_, subnets_;
  std::chrono::nanoseconds duration_;
};

std::optional<Failure> SignMode::Run(const Invocation& invocation) {
  std::ostream& err = invocation.err;
  for (auto [flag, value] :
       {std::pair{"ca-key", &ca_key_}, {"ca-crt", &ca_crt_}, {"name", &name_}, {"ip", &ip_}}) {
    if (auto f = Required(flag, *value)) return f;
  }
  if (!in_pub_.empty() && !out_key_.empty())
    return UsageError("cannot set both -in-pub and -out-key");

  auto raw_key = ReadFile(ca_key_);
  if (!raw_key.ok()) return Error("error while reading ca-key: " + raw_key.status().message());
  auto key = pki::ParseEd25519PrivateKeyPem(*raw_key);
  pki::Cleanse(*raw_key);
  if (!key.ok()) return Error("error while parsing ca-key: " + key.status().message());
  CleanseOnExit cleanse_ca_key{&*key};
  auto raw_crt = ReadFile(ca_crt_);
  if (!raw_crt.ok()) return Error("error while reading ca-crt: " + raw_crt.status().message());
  auto ca_cert = pki::CertificateFromPem(*raw_crt);
  if (!ca_cert.ok()) return Error("error while parsing ca-crt: " + ca_cert.status().message());
  auto authority = pki::CertificateAuthority::Create(*ca_cert, *key);
  if (!authority.ok()) return Error(authority.status().message());
  const TimePoint now = invocation.seams.time->SystemNow();
  if (pki::IsExpired(authority->cert(), now)) return Error("ca certificate is expired");

  auto host_ip = ParseCidr(ip_);
  if (!host_ip.ok()) return UsageError("invalid ip definition: " + host_ip.status().message());
  auto subnet_nets = ParseNets(subnets_, "subnet");
  if (!subnet_nets.ok()) return UsageError(subnet_nets.status().message());
  pki::HostOptions options{.name = name_,
                           .ip = *host_ip,
                           .groups = SplitCommaList(groups_),
                           .subnets = *subnet_nets,
                           .duration = duration_};
  if (!in_pub_.empty()) {
    auto raw_pub = ReadFile(in_pub_);
    if (!raw_pub.ok()) return Error("error while reading in-pub: " + raw_pub.status().message());
    auto pub = pki::ParseX25519PublicKeyPem(*raw_pub);
    if (!pub.ok()) return Error("error while parsing in-pub: " + pub.status().message());
    options.public_key = *pub;
  }
  if (out_key_.empty()) out_key_ = name_ + ".key";
  if (out_crt_.empty()) out_crt_ = name_ + ".crt";

  auto host = authority->Sign(options, now);
  if (!host.ok()) return Error(host.status().message());
  CleanseOnExit cleanse_host_key{&host->private_key};
  // After the CA's checks, as nebula-cert reports them first; but before writing anything, so a
  // refusal never leaves one of the two files behind.
  std::optional<Failure> refusal;
  if (PathExists(out_crt_)) {
    refusal = Error("refusing to overwrite existing cert: " + out_crt_);
  } else if (in_pub_.empty() && PathExists(out_key_)) {
    refusal = Error("refusing to overwrite existing key: " + out_key_);
  }
  if (refusal) return refusal;
  for (const auto& warning : authority->Warnings(options)) err << "Warning: " << warning << "\n";
  std::vector<std::tuple<std::string, std::string, std::string>> files;
  std::string key_pem;
  if (in_pub_.empty()) {
    key_pem = host->KeyPem();
    files.emplace_back(out_key_, key_pem, "out-key");
  }
  files.emplace_back(out_crt_, host->CertPem(), "out-crt");
  CleanseOnExit cleanse_files{&key_pem, &std::get<1>(files.front())};
  return WriteAllOrNothing(files);
}

// ---- keygen ---------------------------------------------------------------------------------

class KeygenMode final : public Mode {
 public:
  CommandSpec Spec() const override {
    return {
        "keygen",
        "create a public/private key pair. the public key can be passed to `carrierarr pki sign`",
        ""};
  }
  void DeclareFlags(FlagSet& flags) override {
    flags.String("out-key", &out_key_, "", "Required: path to write the private key to");
    flags.String("out-pub", &out_pub_, "", "Required: path to write the public key to");
  }

  std::optional<Failure> Run(const Invocation& invocation) override;

 private:
  std::string out_key_, out_pub_;
};

std::optional<Failure> KeygenMode::Run(const Invocation& /*invocation*/) {
  if (auto f = Required("out-key", out_key_)) return f;
  if (auto f = Required("out-pub", out_pub_)) return f;
  // nebula-cert overwrites here; losing a private key by a typo is worse than an error.
  if (PathExists(out_key_)) return Error("refusing to overwrite existing key: " + out_key_);
  if (PathExists(out_pub_)) return Error("refusing to overwrite existing public key: " + out_pub_);
  auto keys = pki::GenerateX25519();
  if (!keys.ok()) return Error(keys.status().message());
  std::string key_pem = pki::X25519PrivateKeyToPem(keys->private_key);
  CleanseOnExit cleanse{&key_pem, &keys->private_key};
  return WriteAllOrNothing({{out_key_, key_pem, "out-key"},
                            {out_pub_, pki::X25519PublicKeyToPem(keys->public_key), "out-pub"}});
}

// ---- print ----------------------------------------------------------------------------------

class PrintMode final : public Mode {
 public:
  CommandSpec Spec() const override { return {"print", "prints details about a certificate", ""}; }
  void DeclareFlags(FlagSet& flags) override {
    flags.Bool("json", &json_, false, "Optional: outputs certificates in json format");
    flags.String("path", &path_, "", "Required: path to the certificate");
  }

  std::optional<Failure> Run(const Invocation& invocation) override;

 private:
  std::string path_;
  bool json_;
};

std::optional<Failure> PrintMode::Run(const Invocation& invocation) {
  std::ostream& out = invocation.out;
  if (auto f = Required("path", path_)) return f;
  auto raw = ReadFile(path_);
  if (!raw.ok()) return Error("unable to read cert; " + raw.status().message());
  std::string_view rest = *raw;
  for (;;) {
    auto cert = pki::CertificateFromPem(rest, &rest);
    if (!cert.ok()) return Error("error while unmarshaling cert: " + cert.status().message());
    out << (json_ ? pki::CertificateToJson(*cert) : pki::CertificateToText(*cert)) << "\n";
    if (pki::IsBlank(rest)) break;
  }
  return std::nullopt;
}

// ---- verify ---------------------------------------------------------------------------------

class VerifyMode final : public Mode {
 public:
  CommandSpec Spec() const override {
    return {"verify", "verifies a certificate isn't expired and was signed by a trusted authority.",
            ""};
  }
  void DeclareFlags(FlagSet& flags) override {
    flags.String("ca", &ca_path_, "",
                 "Required: path to a file containing one or more ca certificates");
    flags.String("crt", &crt_path_, "", "Required: path to a file containing a single certificate");
  }

  std::optional<Failure> Run(const Invocation& invocation) override;

 private:
  std::string ca_path_, crt_path_;
};

std::optional<Failure> VerifyMode::Run(const Invocation& invocation) {
  if (auto f = Required("ca", ca_path_)) return f;
  if (auto f = Required("crt", crt_path_)) return f;
  const TimePoint now = invocation.seams.time->SystemNow();
  auto raw_ca = ReadFile(ca_path_);
  if (!raw_ca.ok()) return Error("error while reading ca: " + raw_ca.status().message());
  pki::CaPool pool;
  // Block by block, stopping at the first failure (an expired CA included), as nebula-cert
  // verify does; AddCasFromPem would go on past an expired CA, as the daemon does.
  for (std::string_view rest = *raw_ca;;) {
    auto ca = pki::CertificateFromPem(rest, &rest);
    Status s = ca.ok() ? pool.AddCa(*ca, now) : ca.status();
    if (!s.ok()) {
      Failure f = Error("error while adding ca cert to pool: " + s.message());
      f.details.push_back("check: loading the CAs of " + ca_path_ +
                          " (each block must be a CA, self-signed and unexpired)");
      return f;
    }
    if (pki::IsBlank(rest)) break;
  }
  auto raw_crt = ReadFile(crt_path_);
  if (!raw_crt.ok()) return Error("unable to read crt; " + raw_crt.status().message());
  auto cert = pki::CertificateFromPem(*raw_crt);
  if (!cert.ok()) return Error("error while parsing crt: " + cert.status().message());
  pki::VerifyResult result = pool.Verify(*cert, now);
  if (result.ok()) return std::nullopt;
  static constexpr std::string_view kCheckNames[] = {"",
                                                     "blocklist",
                                                     "issuer present",
                                                     "issuer is a trusted CA",
                                                     "CA validity window",
                                                     "validity window",
                                                     "signature",
                                                     "CA constraints"};
  Failure f = Error(result.status.message());
  f.details.push_back("check " + std::to_string(static_cast<int>(result.failed)) + " of 7 (" +
                      std::string(kCheckNames[static_cast<int>(result.failed)]) +
                      ") failed: " + result.explanation);
  return f;
}

// ---- clustermesh ----------------------------------------------------------------------------

// Not a nebula-cert mode: the X.509 material of Cilium ClusterMesh over Nebula, used by
// federation (issue 13). Unlike the Nebula modes it reports what it wrote.
class ClusterMeshMode final : public Mode {
 public:
  CommandSpec Spec() const override {
    return {"clustermesh",
            "create Cilium ClusterMesh TLS material: etcd server and client certificates and a "
            "combined CA bundle",
            ""};
  }
  void DeclareFlags(FlagSet& flags) override {
    flags.String("cluster", &cluster_, "",
                 "Required: this cluster's Cilium name (at most 32 characters: lowercase letters, "
                 "digits and dashes, starting and ending with a letter or digit)");
    flags.String("out-dir", &out_dir_, "",
                 "Required: directory for ca.crt and ca.key (when a new CA is made), server.crt, "
                 "server.key, client.crt, client.key and ca-bundle.crt (made 0700 if missing)");
    flags.StringList("mesh-ip", &mesh_ips_,
                     "Required, repeatable: a Nebula address (IPv4 or IPv6) clients reach the "
                     "clustermesh-apiserver on; each is put in the server certificate's SANs");
    flags.String(
        "namespace", &ns_, "kube-system",
        "Optional: Cilium's namespace, for the name clustermesh-apiserver.<namespace>.svc");
    flags.String("server-cn", &server_cn_, "svc",
                 "Optional: the server certificate's CN: \"svc\" for "
                 "clustermesh-apiserver.<namespace>.svc (newest charts) or \"cilium.io\" for "
                 "clustermesh-apiserver.cilium.io (older charts); both names are in its SANs");
    flags.String("ca-cert", &ca_cert_, "",
                 "Optional (with -ca-key): an existing CA certificate to sign with, e.g. ca.crt "
                 "of the cilium-ca Secret; without it a new RSA CA is made");
    flags.String("ca-key", &ca_key_, "", "Optional (with -ca-cert): that CA's private key");
    flags.String("key-type", &key_type_, "rsa",
                 "Optional: key of the server and client certificates: \"rsa\" (2048 bits, as "
                 "the seeds' and Helm's Cilium CAs) or \"ecdsa\" (P-256, as Cilium's certgen)");
    flags.StringList("trust", &trust_,
                     "Optional, repeatable: another cluster's CA certificate file; ca-bundle.crt "
                     "holds this cluster's CA and each of these");
    flags.Duration("duration", &duration_, std::chrono::hours(8760),
                   "Optional: how long the server and client certificates are valid (never past "
                   "the CA's end)");
    flags.Duration("ca-duration", &ca_duration_, std::chrono::hours(3 * 8760),
                   "Optional: how long a new CA is valid");
    flags.Bool("force", &force_, false,
               "Optional: replace existing server, client and bundle files (a CA is never "
               "replaced)");
  }

  std::optional<Failure> Run(const Invocation& invocation) override;

 private:
  std::optional<Failure> ParseOptions();
  std::optional<Failure> RefuseExisting() const;
  std::string Path(const std::string& name) const { return out_dir_ + "/" + name; }
  void Report(std::ostream& out, const pki::ClusterMeshMaterial& material) const;

  std::string cluster_, out_dir_, ns_, server_cn_, ca_cert_, ca_key_, key_type_;
  std::vector<std::string> mesh_ips_, trust_;
  std::chrono::nanoseconds duration_, ca_duration_;
  bool force_ = false;
  pki::ClusterMeshOptions options_;
};

constexpr const char* kLeafFiles[] = {"server.crt", "server.key", "client.crt", "client.key",
                                      "ca-bundle.crt"};

std::optional<Failure> ClusterMeshMode::ParseOptions() {
  if (auto f = Required("cluster", cluster_)) return f;
  if (auto f = Required("out-dir", out_dir_)) return f;
  if (mesh_ips_.empty())
    return UsageError("-mesh-ip is required: give each Nebula address the server is reached on");
  if (Status s = pki::CheckClusterMeshName(cluster_); !s.ok())
    return UsageError("invalid -cluster: " + s.message());
  if (key_type_ != "rsa" && key_type_ != "ecdsa")
    return UsageError("invalid -key-type \"" + key_type_ + "\": use rsa or ecdsa");
  if (server_cn_ != "svc" && server_cn_ != "cilium.io")
    return UsageError("invalid -server-cn \"" + server_cn_ + "\": use svc or cilium.io");
  if (ca_cert_.empty() != ca_key_.empty())
    return UsageError("-ca-cert and -ca-key go together: give both, or neither for a new CA");
  if (duration_ <= std::chrono::nanoseconds(0))
    return UsageError("-duration must be greater than 0");
  if (ca_duration_ <= std::chrono::nanoseconds(0))
    return UsageError("-ca-duration must be greater than 0");
  options_ = {.cluster = cluster_,
              .ns = ns_,
              .server_cn = server_cn_ == "svc" ? pki::ServerCnStyle::kService
                                               : pki::ServerCnStyle::kCiliumIo,
              .mesh_ips = mesh_ips_,
              .key_type = key_type_ == "rsa" ? pki::MeshKeyType::kRsa : pki::MeshKeyType::kEcdsa,
              .ca_validity = std::chrono::duration_cast<std::chrono::seconds>(ca_duration_),
              .validity = std::chrono::duration_cast<std::chrono::seconds>(duration_)};
  if (!ca_cert_.empty()) {
    auto cert = ReadFile(ca_cert_);
    if (!cert.ok()) return Error("error while reading ca-cert: " + cert.status().message());
    auto key = ReadFile(ca_key_);
    if (!key.ok()) return Error("error while reading ca-key: " + key.status().message());
    options_.ca = pki::PemPair{*cert, *key};
    pki::Cleanse(*key);
  }
  for (const auto& path : trust_) {
    auto pem = ReadFile(path);
    if (!pem.ok())
      return Error("error while reading trust " + path + ": " + pem.status().message());
    options_.trusted_cas.push_back({path, *pem});
  }
  return std::nullopt;
}

std::optional<Failure> ClusterMeshMode::RefuseExisting() const {
  if (!options_.ca) {
    for (const char* name : {"ca.key", "ca.crt"}) {
      if (!PathExists(Path(name))) continue;
      // Other clusters may trust that CA: replacing it is the seeds' "CA regenerated under the
      // same name", so not even -force does.
      Failure f = Error("refusing to overwrite existing CA file: " + Path(name));
      f.details.push_back("to sign with that CA: -ca-cert " + Path("ca.crt") + " -ca-key " +
                          Path("ca.key") + "; to make a new CA, remove both first");
      return f;
    }
  }
  if (force_) return std::nullopt;
  for (const char* name : kLeafFiles) {
    if (PathExists(Path(name)))
      return Error("refusing to overwrite existing " + Path(name) + " (-force replaces it)");
  }
  return std::nullopt;
}

void ClusterMeshMode::Report(std::ostream& out, const pki::ClusterMeshMaterial& material) const {
  if (material.ca_created)
    out << "made a new RSA CA: " << Path("ca.crt") << ", " << Path("ca.key") << "\n";
  out << "server: " << Path("server.crt") << " (DNS";
  for (const auto& name : pki::ServerDnsNames(options_)) out << " " << name;
  out << "; IP";
  for (const auto& ip : pki::ServerIpAddresses(options_)) out << " " << ip;
  out << "; serverAuth)\nclient: " << Path("client.crt") << " (CN remote; clientAuth)\n"
      << "bundle: " << Path("ca-bundle.crt") << " (this cluster's CA + " << trust_.size()
      << " trusted)\nverified: both certificates chain to ca-bundle.crt and match their keys\n";
}

std::optional<Failure> ClusterMeshMode::Run(const Invocation& invocation) {
  if (auto f = ParseOptions()) return f;
  if (auto f = RefuseExisting()) return f;
  const TimePoint now = invocation.seams.time->SystemNow();
  auto material = pki::CreateClusterMeshMaterial(options_, now);
  if (options_.ca) pki::Cleanse(options_.ca->key_pem);
  if (!material.ok()) return Error(material.status().message());
  CleanseOnExit cleanse{&material->ca.key_pem, &material->server.key_pem,
                        &material->client.key_pem};
  if (Status s = pki::VerifyClusterMeshMaterial(*material, options_, now); !s.ok())
    return Error("refusing to write material that a peer would refuse: " + s.message());
  if (!PathExists(out_dir_) && ::mkdir(out_dir_.c_str(), 0700) != 0)
    return Error("cannot create -out-dir " + out_dir_ + ": " + ErrnoString(errno));
  std::vector<std::tuple<std::string, std::string, std::string>> files = {
      {Path("server.crt"), material->server.cert_pem, "server.crt"},
      {Path("server.key"), material->server.key_pem, "server.key"},
      {Path("client.crt"), material->client.cert_pem, "client.crt"},
      {Path("client.key"), material->client.key_pem, "client.key"},
      {Path("ca-bundle.crt"), material->ca_bundle_pem, "ca-bundle.crt"}};
  if (material->ca_created) {
    files.emplace_back(Path("ca.crt"), material->ca.cert_pem, "ca.crt");
    files.emplace_back(Path("ca.key"), material->ca.key_pem, "ca.key");
  }
  auto failure = WriteAllOrNothing(files, force_ ? Overwrite::kYes : Overwrite::kNo);
  for (auto& file : files) pki::Cleanse(std::get<1>(file));
  if (failure) return failure;
  Report(invocation.out, *material);
  return std::nullopt;
}

template <typename T>
std::unique_ptr<Mode> Make() {
  return std::make_unique<T>();
}

// In the order help lists them.
constexpr std::unique_ptr<Mode> (*kModes[])() = {Make<CaMode>,     Make<KeygenMode>,
                                                 Make<SignMode>,   Make<PrintMode>,
                                                 Make<VerifyMode>, Make<ClusterMeshMode>};

void PrintPkiHelp(std::ostream& out) {
  out << "Usage: carrierarr pki <mode> <flags>\n"
         "A Nebula certificate authority, compatible with nebula-cert (flags as -name or "
         "--name).\n\n"
         "  Modes:\n";
  for (auto make : kModes) {
    const CommandSpec spec = make()->Spec();
    out << "    " << spec.name << " <flags>: " << spec.summary << "\n";
  }
}

// Parses the mode's flags and runs it: nebula-cert's usage and errors, exit 0 or 1.
int RunMode(Mode& mode, const Invocation& invocation) {
  const CommandSpec spec = mode.Spec();
  FlagSet flags;
  mode.DeclareFlags(flags);
  std::optional<Failure> failure;
  if (Status s = flags.Parse(invocation.args); !s.ok()) {
    failure = UsageError(s.message());
  } else if (flags.help()) {
    invocation.out << "Usage of carrierarr pki " << spec.name << " <flags>: " << spec.summary
                   << "\n"
                   << flags.Usage();
    return 0;
  } else if (!flags.args().empty()) {
    failure = UsageError("unexpected argument \"" + flags.args()[0] +
                         "\": every value is given with a flag, e.g. -name NAME");
  } else {
    failure = mode.Run(invocation);
  }
  if (!failure) return 0;
  invocation.err << "Error: " << failure->message << "\n";
  for (const auto& line : failure->details) invocation.err << "  " << line << "\n";
  if (failure->usage)
    invocation.err << "Run 'carrierarr pki " << spec.name << " -h' for its flags.\n";
  return 1;
}

}  // namespace

int RunPki(const Invocation& invocation) {
  const auto& args = invocation.args;
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" ||
      args[0] == "help") {
    PrintPkiHelp(args.empty() ? invocation.err : invocation.out);
    return args.empty() ? 1 : 0;
  }
  for (auto make : kModes) {
    std::unique_ptr<Mode> mode = make();
    if (mode->Spec().name == args[0])
      return RunMode(
          *mode,
          Invocation{
              {args.begin() + 1, args.end()}, invocation.seams, invocation.out, invocation.err});
  }
  invocation.err << "Error: unknown mode: " << args[0] << "\n";
  PrintPkiHelp(invocation.err);
  return 1;
}

}  // namespace carrierarr::cli
