// File resources: the mesh CA, host certificates and plain files, made for real in a scratch
// directory and read back with the pki library; their deleters; and one full up/down through the
// engine.
#include "provision/file_resources.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "core/file_util.h"
#include "core/time_source.h"
#include "pki/authority.h"
#include "pki/ca_pool.h"
#include "pki/cert.h"
#include "pki/crypto.h"
#include "pki/keys.h"
#include "provision/engine.h"
#include "provision/plan.h"
#include "provision/state_store.h"
#include "testing/tools.h"

namespace carrierarr::provision {
namespace {

using ::carrierarr::testing::ScratchDir;
using ::carrierarr::testing::Slurp;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr uint32_t kGpuIp = 0x0a2a0201;  // 10.42.2.1

int ModeOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

bool Exists(const Resource& r) {
  auto e = r.Exists();
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() && *e;
}

void MustCreate(Resource& r) {
  auto created = r.Create();
  ASSERT_TRUE(created.ok()) << r.id() << ": " << created.status().ToString();
  EXPECT_EQ(*created, r.attrs());
}

pki::Certificate MustLoadCert(const std::string& path) {
  auto cert = pki::CertificateFromPem(Slurp(path));
  EXPECT_TRUE(cert.ok()) << path << ": " << cert.status().ToString();
  return cert.ok() ? *cert : pki::Certificate{};
}

class FileResourcesTest : public ::testing::Test {
 protected:
  CaParams Ca(const std::string& name = "homelab-mesh") {
    return {.name = name,
            .cert_path = dir_ / "ca.crt",
            .key_path = dir_ / "ca.key",
            .lifetime = std::chrono::hours(24),
            .mesh = {0x0a2a0000, PrefixToMask(16)}};
  }
  HostCertParams Host(std::vector<std::string> groups = {"workers", "gpu-compute"},
                      int prefix = 16) {
    HostCertParams p;
    p.node.name = "gpu-1";
    p.node.mesh_ip = kGpuIp;
    p.node.groups = std::move(groups);
    p.mesh_prefix = prefix;
    p.ca_cert_path = dir_ / "ca.crt";
    p.ca_key_path = dir_ / "ca.key";
    p.cert_path = dir_ / "gpu-1.crt";
    p.key_path = dir_ / "gpu-1.key";
    return p;
  }

  ScratchDir dir_;
};

TEST_F(FileResourcesTest, CaCreatesPrivateFilesThatParse) {
  auto ca = MakeCaResource(Ca());
  EXPECT_EQ(ca->id(), "ca");
  EXPECT_EQ(ca->kind(), "pki-ca");
  EXPECT_TRUE(ca->deps().empty());
  EXPECT_EQ(ca->summary(), "Nebula CA 'homelab-mesh' limited to 10.42.0.0/16");
  EXPECT_EQ(ca->attrs(),
            nlohmann::json({{"cert_path", dir_ / "ca.crt"}, {"key_path", dir_ / "ca.key"}}));
  EXPECT_FALSE(Exists(*ca));

  MustCreate(*ca);
  EXPECT_EQ(ModeOf(dir_ / "ca.crt"), 0600);
  EXPECT_EQ(ModeOf(dir_ / "ca.key"), 0600);
  pki::Certificate cert = MustLoadCert(dir_ / "ca.crt");
  EXPECT_TRUE(cert.details.is_ca);
  EXPECT_EQ(cert.details.name, "homelab-mesh");
  EXPECT_THAT(cert.details.ips, ElementsAre(Ipv4Net{0x0a2a0000, PrefixToMask(16)}));
  EXPECT_EQ(cert.details.not_after - cert.details.not_before, 24 * 3600);
  auto key = pki::ParseEd25519PrivateKeyPem(Slurp(dir_ / "ca.key"));
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_TRUE(pki::CertificateAuthority::Create(cert, *key).ok()) << "key and cert belong together";
  EXPECT_TRUE(Exists(*ca));

  // Creating an existing CA keeps it: re-keying would orphan every host certificate.
  std::string before = Slurp(dir_ / "ca.crt");
  MustCreate(*ca);
  EXPECT_EQ(Slurp(dir_ / "ca.crt"), before);
}

TEST_F(FileResourcesTest, CaExistsIsFalseAfterTampering) {
  auto ca = MakeCaResource(Ca());
  MustCreate(*ca);
  std::string good_crt = Slurp(dir_ / "ca.crt");
  std::string good_key = Slurp(dir_ / "ca.key");

  // A certificate of another CA next to our key.
  ScratchDir other;
  auto other_ca = MakeCaResource({.name = "evil",
                                  .cert_path = other / "ca.crt",
                                  .key_path = other / "ca.key",
                                  .lifetime = std::chrono::hours(24),
                                  .mesh = {0x0a2a0000, PrefixToMask(16)}});
  MustCreate(*other_ca);
  ASSERT_TRUE(WriteFileAtomic(dir_ / "ca.crt", Slurp(other / "ca.crt"), 0600).ok());
  EXPECT_FALSE(Exists(*ca));

  ASSERT_TRUE(WriteFileAtomic(dir_ / "ca.crt", good_crt, 0600).ok());
  EXPECT_TRUE(Exists(*ca));
  ASSERT_TRUE(WriteFileAtomic(dir_ / "ca.key", "not a key\n", 0600).ok());
  EXPECT_FALSE(Exists(*ca));
  ASSERT_EQ(::unlink((dir_ / "ca.key").c_str()), 0);
  EXPECT_FALSE(Exists(*ca));

  // Create replaces what is broken with a whole new CA.
  MustCreate(*ca);
  EXPECT_TRUE(Exists(*ca));
  EXPECT_NE(Slurp(dir_ / "ca.crt"), good_crt);
}

TEST_F(FileResourcesTest, CaCreateFinishesAHalfMadeState) {
  // A run killed after writing the key of a CA whose certificate never landed.
  auto stale = pki::CreateCa({.name = "homelab-mesh"}, std::chrono::system_clock::now());
  ASSERT_TRUE(stale.ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ / "ca.key", stale->KeyPem(), 0600).ok());
  auto ca = MakeCaResource(Ca());
  EXPECT_FALSE(Exists(*ca));
  MustCreate(*ca);
  EXPECT_TRUE(Exists(*ca));
  EXPECT_NE(Slurp(dir_ / "ca.key"), stale->KeyPem());

  // And the opposite: only a certificate.
  ASSERT_EQ(::unlink((dir_ / "ca.key").c_str()), 0);
  EXPECT_FALSE(Exists(*ca));
  MustCreate(*ca);
  EXPECT_TRUE(Exists(*ca));
}

TEST_F(FileResourcesTest, CaHashFollowsItsInputsNotItsPaths) {
  CaParams base = Ca();
  CaParams moved = base;
  moved.cert_path = "/elsewhere/ca.crt";
  CaParams renamed = Ca("other-mesh");
  CaParams longer = base;
  longer.lifetime = std::chrono::hours(48);
  CaParams wider = base;
  wider.mesh = {0x0a000000, PrefixToMask(8)};
  std::string h = MakeCaResource(base)->hash();
  EXPECT_EQ(MakeCaResource(moved)->hash(), h);
  EXPECT_NE(MakeCaResource(renamed)->hash(), h);
  EXPECT_NE(MakeCaResource(longer)->hash(), h);
  EXPECT_NE(MakeCaResource(wider)->hash(), h);
}

TEST_F(FileResourcesTest, EnrollmentKeyIsAPrivateKeyAndItsOwnPublicHalf) {
  const struct {
    std::string key_path, public_key_path;
  } paths{dir_ / "enrollment.key", dir_ / "enrollment.pub"};
  auto key = MakeEnrollmentKeyResource(paths.key_path, paths.public_key_path);
  EXPECT_FALSE(Exists(*key));
  MustCreate(*key);
  EXPECT_TRUE(Exists(*key));
  EXPECT_EQ(ModeOf(paths.key_path), 0600);
  EXPECT_EQ(ModeOf(paths.public_key_path), 0600);
  auto raw = pki::ParseEd25519PrivateKeyPem(Slurp(paths.key_path));
  ASSERT_TRUE(raw.ok()) << raw.status().ToString();
  auto pub = pki::ParseEd25519PublicKeyPem(Slurp(paths.public_key_path));
  ASSERT_TRUE(pub.ok()) << pub.status().ToString();
  EXPECT_EQ(raw->substr(32), *pub);  // seed || public

  // Another key's public half, or a missing private key: not ours any more; Create starts over.
  const std::string good_pub = Slurp(paths.public_key_path);
  auto other = pki::GenerateEd25519();
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(
      WriteFileAtomic(paths.public_key_path, pki::Ed25519PublicKeyToPem(other->public_key), 0600)
          .ok());
  EXPECT_FALSE(Exists(*key));
  ASSERT_EQ(::unlink(paths.key_path.c_str()), 0);
  EXPECT_FALSE(Exists(*key));
  MustCreate(*key);
  EXPECT_TRUE(Exists(*key));
  EXPECT_NE(Slurp(paths.public_key_path), good_pub);
}

TEST_F(FileResourcesTest, HostCertIsSignedWithTheMeshMaskAndGroups) {
  auto ca = MakeCaResource(Ca());
  MustCreate(*ca);
  auto host = MakeHostCertResource(Host());
  EXPECT_EQ(host->id(), "cert/gpu-1");
  EXPECT_EQ(host->kind(), "pki-cert");
  EXPECT_THAT(host->deps(), ElementsAre("ca"));
  EXPECT_EQ(host->summary(), "host certificate gpu-1 10.42.2.1/16 [workers,gpu-compute]");
  EXPECT_FALSE(Exists(*host));

  MustCreate(*host);
  EXPECT_EQ(ModeOf(dir_ / "gpu-1.crt"), 0600);
  EXPECT_EQ(ModeOf(dir_ / "gpu-1.key"), 0600);
  pki::Certificate cert = MustLoadCert(dir_ / "gpu-1.crt");
  pki::Certificate ca_cert = MustLoadCert(dir_ / "ca.crt");
  EXPECT_FALSE(cert.details.is_ca);
  EXPECT_EQ(cert.details.name, "gpu-1");
  EXPECT_THAT(cert.details.ips, ElementsAre(Ipv4Net{kGpuIp, PrefixToMask(16)}));
  EXPECT_EQ(cert.details.ips[0].ToString(), "10.42.2.1/16");
  EXPECT_THAT(cert.details.groups, ElementsAre("workers", "gpu-compute"));
  EXPECT_EQ(cert.details.issuer, pki::RawFingerprint(ca_cert));
  auto key = pki::ParseX25519PrivateKeyPem(Slurp(dir_ / "gpu-1.key"));
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  auto pub = pki::X25519PublicKey(*key);
  ASSERT_TRUE(pub.ok());
  EXPECT_EQ(*pub, cert.details.public_key);
  pki::CaPool pool;
  auto now = std::chrono::system_clock::now();
  ASSERT_TRUE(pool.AddCa(ca_cert, now).ok());
  EXPECT_TRUE(pool.Verify(cert, now).ok()) << pool.Verify(cert, now).status.ToString();
  EXPECT_TRUE(Exists(*host));

  // The same files do not satisfy a resource that asks for other groups or another mask.
  EXPECT_FALSE(Exists(*MakeHostCertResource(Host({"workers"}))));
  EXPECT_FALSE(Exists(*MakeHostCertResource(Host({"workers", "gpu-compute"}, 24))));
}

TEST_F(FileResourcesTest, HostCertUsesTheGivenPrefix) {
  auto ca = MakeCaResource(Ca());
  MustCreate(*ca);
  auto host = MakeHostCertResource(Host({"workers"}, 24));
  MustCreate(*host);
  EXPECT_THAT(MustLoadCert(dir_ / "gpu-1.crt").details.ips,
              ElementsAre(Ipv4Net{kGpuIp, PrefixToMask(24)}));
  EXPECT_TRUE(Exists(*host));
}

TEST_F(FileResourcesTest, HostCertDoesNotExistOnceTheCaChanged) {
  auto ca = MakeCaResource(Ca());
  MustCreate(*ca);
  auto host = MakeHostCertResource(Host());
  MustCreate(*host);
  ASSERT_TRUE(Exists(*host));

  // A new CA (new key) in the same files.
  ASSERT_EQ(::unlink((dir_ / "ca.key").c_str()), 0);
  MustCreate(*ca);
  EXPECT_FALSE(Exists(*host));
  MustCreate(*host);
  EXPECT_TRUE(Exists(*host));
  EXPECT_EQ(MustLoadCert(dir_ / "gpu-1.crt").details.issuer,
            pki::RawFingerprint(MustLoadCert(dir_ / "ca.crt")));

  // A key that does not match the certificate.
  ASSERT_TRUE(
      WriteFileAtomic(dir_ / "gpu-1.key", pki::X25519PrivateKeyToPem(std::string(32, '\x07')), 0600)
          .ok());
  EXPECT_FALSE(Exists(*host));
  // No CA certificate at all.
  MustCreate(*host);
  ASSERT_EQ(::unlink((dir_ / "ca.crt").c_str()), 0);
  EXPECT_FALSE(Exists(*host));
}

TEST_F(FileResourcesTest, HostCertCreateFailsWithoutACa) {
  auto host = MakeHostCertResource(Host());
  auto created = host->Create();
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(created.status().message(), HasSubstr("ca.crt"));
  EXPECT_FALSE(PathExists(dir_ / "gpu-1.crt"));
  EXPECT_FALSE(PathExists(dir_ / "gpu-1.key"));
}

TEST_F(FileResourcesTest, HostCertHashFollowsNameAddressAndGroups) {
  std::string h = MakeHostCertResource(Host())->hash();
  HostCertParams moved = Host();
  moved.cert_path = "/elsewhere.crt";
  EXPECT_EQ(MakeHostCertResource(moved)->hash(), h);
  EXPECT_NE(MakeHostCertResource(Host({"workers"}))->hash(), h);
  EXPECT_NE(MakeHostCertResource(Host({"workers", "gpu-compute"}, 24))->hash(), h);
  HostCertParams readdressed = Host();
  readdressed.node.mesh_ip = kGpuIp + 1;
  EXPECT_NE(MakeHostCertResource(readdressed)->hash(), h);
}

TEST_F(FileResourcesTest, FileResourceWritesItsContent) {
  auto file = MakeFileResource("config/gpu-1", "nebula config of gpu-1", dir_ / "gpu-1.yml",
                               "pki: {}\n", {"cert/gpu-1"});
  EXPECT_EQ(file->id(), "config/gpu-1");
  EXPECT_EQ(file->kind(), "file");
  EXPECT_EQ(file->summary(), "nebula config of gpu-1");
  EXPECT_THAT(file->deps(), ElementsAre("cert/gpu-1"));
  EXPECT_EQ(file->attrs(), nlohmann::json({{"path", dir_ / "gpu-1.yml"}}));
  EXPECT_EQ(file->hash(), "pki: {}\n");
  EXPECT_NE(MakeFileResource("x", "", dir_ / "gpu-1.yml", "pki: {a: 1}\n")->hash(), file->hash());
  EXPECT_FALSE(Exists(*file));

  MustCreate(*file);
  EXPECT_EQ(Slurp(dir_ / "gpu-1.yml"), "pki: {}\n");
  EXPECT_EQ(ModeOf(dir_ / "gpu-1.yml"), 0600);
  EXPECT_TRUE(Exists(*file));
  ASSERT_TRUE(WriteFileAtomic(dir_ / "gpu-1.yml", "edited\n", 0644).ok());
  EXPECT_FALSE(Exists(*file));
  MustCreate(*file);
  EXPECT_EQ(Slurp(dir_ / "gpu-1.yml"), "pki: {}\n");
  EXPECT_EQ(ModeOf(dir_ / "gpu-1.yml"), 0600);
}

TEST_F(FileResourcesTest, DeletersRemoveRecordedPathsAndTolerateGoneOnes) {
  KindRegistry kinds;
  RegisterFileKinds(kinds);
  EXPECT_EQ(kinds.Find("netns"), nullptr);
  const Deleter* ca_deleter = kinds.Find("pki-ca");
  const Deleter* cert_deleter = kinds.Find("pki-cert");
  const Deleter* file_deleter = kinds.Find("file");
  ASSERT_NE(ca_deleter, nullptr);
  ASSERT_NE(cert_deleter, nullptr);
  ASSERT_NE(file_deleter, nullptr);

  auto ca = MakeCaResource(Ca());
  MustCreate(*ca);
  EXPECT_TRUE((*ca_deleter)(ca->attrs()).ok());
  EXPECT_FALSE(PathExists(dir_ / "ca.crt"));
  EXPECT_FALSE(PathExists(dir_ / "ca.key"));
  EXPECT_TRUE((*ca_deleter)(ca->attrs()).ok()) << "already gone";

  // Half gone: only the key is left.
  ASSERT_TRUE(WriteFileAtomic(dir_ / "gpu-1.key", "k", 0600).ok());
  EXPECT_TRUE((*cert_deleter)(MakeHostCertResource(Host())->attrs()).ok());
  EXPECT_FALSE(PathExists(dir_ / "gpu-1.key"));

  auto file = MakeFileResource("f", "f", dir_ / "f.yml", "x");
  MustCreate(*file);
  EXPECT_TRUE((*file_deleter)(file->attrs()).ok());
  EXPECT_FALSE(PathExists(dir_ / "f.yml"));
  EXPECT_TRUE((*file_deleter)(file->attrs()).ok());

  // What cannot be removed is an error, naming the path.
  ASSERT_EQ(::mkdir((dir_ / "dir.yml").c_str(), 0700), 0);
  Status s = (*file_deleter)({{"path", dir_ / "dir.yml"}});
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_THAT(s.message(), HasSubstr("remove " + dir_ / "dir.yml"));
}

// The rule on a simulated clock: a certificate still valid, even a minute before it expires, is
// kept; once expired, the plan makes the CA anew and signs the host again from the new "now".
TEST_F(FileResourcesTest, ExpiredCertificatesAreMadeAnewAndValidOnesKept) {
  SimulatedTimeSource time;
  CaParams ca_params = Ca();
  ca_params.time = &time;
  HostCertParams host_params = Host();
  host_params.time = &time;
  auto store = StateStore::Open(dir_.path());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  KindRegistry kinds;
  RegisterFileKinds(kinds);
  ResourceList desired;
  desired.push_back(MakeCaResource(ca_params));
  desired.push_back(MakeHostCertResource(host_params));
  auto up = [&] {
    auto plan = MakePlan(desired, (*store)->Snapshot(), {});
    EXPECT_TRUE(plan.ok()) << plan.status().ToString();
    if (!plan.ok()) return Plan{};
    ApplyResult result = Apply(*plan, desired, **store, kinds, {.time = &time});
    EXPECT_TRUE(result.status.ok()) << result.status.ToString();
    return *plan;
  };

  EXPECT_EQ(up().Count(Action::kCreate), 2);
  const pki::Certificate first = MustLoadCert(dir_ / "gpu-1.crt");
  EXPECT_EQ(first.details.not_before, time.NowUnix());
  // Valid until one second before the CA (a day) expires.
  EXPECT_EQ(first.details.not_after, time.NowUnix() + 24 * 3600 - 1);

  time.Advance(std::chrono::hours(24) - std::chrono::minutes(1));
  EXPECT_FALSE(up().HasChanges()) << "a certificate that still verifies is kept";
  EXPECT_EQ(MustLoadCert(dir_ / "gpu-1.crt").details.not_before, first.details.not_before);

  time.Advance(std::chrono::minutes(2));
  EXPECT_FALSE(Exists(*desired[0]));
  EXPECT_FALSE(Exists(*desired[1]));
  Plan renewed = up();
  EXPECT_TRUE(renewed.HasChanges());
  const pki::Certificate second = MustLoadCert(dir_ / "gpu-1.crt");
  EXPECT_EQ(second.details.not_before, time.NowUnix());
  EXPECT_EQ(MustLoadCert(dir_ / "ca.crt").details.not_before, time.NowUnix());
  EXPECT_TRUE(Exists(*desired[0]));
  EXPECT_TRUE(Exists(*desired[1]));
}

// CA, two host certificates and a config, through the planner and the engine: up, a CA change
// that re-signs everything downstream, and down.
TEST_F(FileResourcesTest, UpReplaceAndDownThroughTheEngine) {
  auto store = StateStore::Open(dir_.path());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  KindRegistry kinds;
  RegisterFileKinds(kinds);
  auto fleet = [&](const std::string& ca_name) {
    ResourceList list;
    list.push_back(MakeCaResource(Ca(ca_name)));
    list.push_back(MakeHostCertResource(Host()));
    HostCertParams lighthouse = Host({"lighthouse"});
    lighthouse.node.name = "lighthouse";
    lighthouse.node.mesh_ip = 0x0a2a0001;
    lighthouse.cert_path = dir_ / "lighthouse.crt";
    lighthouse.key_path = dir_ / "lighthouse.key";
    list.push_back(MakeHostCertResource(lighthouse));
    list.push_back(
        MakeFileResource("config/gpu-1", "config", dir_ / "gpu-1.yml", "x\n", {"cert/gpu-1"}));
    return list;
  };
  auto up = [&](const ResourceList& desired) {
    auto plan = MakePlan(desired, (*store)->Snapshot(), {});
    EXPECT_TRUE(plan.ok()) << plan.status().ToString();
    if (!plan.ok()) return Plan{};
    ApplyResult result = Apply(*plan, desired, **store, kinds, {.parallelism = 4});
    EXPECT_TRUE(result.status.ok()) << result.status.ToString();
    return *plan;
  };

  ResourceList v1 = fleet("homelab-mesh");
  EXPECT_EQ(up(v1).Count(Action::kCreate), 4);
  for (const auto& r : v1) EXPECT_TRUE(Exists(*r)) << r->id();
  EXPECT_FALSE(up(v1).HasChanges());

  ResourceList v2 = fleet("renamed-mesh");
  Plan replaced = up(v2);
  EXPECT_EQ(replaced.Count(Action::kReplace), 4) << "a new CA re-signs everything below it";
  EXPECT_EQ(MustLoadCert(dir_ / "ca.crt").details.name, "renamed-mesh");
  for (const auto& r : v2) EXPECT_TRUE(Exists(*r)) << r->id();

  Plan down = MakeDestroyPlan((*store)->Snapshot(), {});
  ApplyResult result = Apply(down, {}, **store, kinds, {});
  ASSERT_TRUE(result.status.ok()) << result.status.ToString();
  EXPECT_EQ(result.succeeded, 4);
  for (const char* f : {"ca.crt", "ca.key", "gpu-1.crt", "gpu-1.key", "lighthouse.crt",
                        "lighthouse.key", "gpu-1.yml"}) {
    EXPECT_FALSE(PathExists(dir_ / f)) << f;
  }
  EXPECT_TRUE((*store)->Erase().ok());
}

}  // namespace
}  // namespace carrierarr::provision
