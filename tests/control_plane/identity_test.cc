// Who may register as which node: tokens bound to a node or a pool, no take-over of a
// registered node, and mesh identity (a connection from a mesh address is the node whose
// certificate carries it). Enrollment on a SQLite store and a simulated clock; certificates
// from the in-process CA.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "control_plane/enrollment.h"
#include "control_plane/mesh_identity.h"
#include "core/file_util.h"
#include "pki/authority.h"
#include "testing/tools.h"

namespace carrierarr::control_plane {
namespace {

using std::chrono::seconds;

bool Has(const Status& s, const std::string& text) {
  return s.message().find(text) != std::string::npos;
}

ec2agent::v1::RegisterRequest As(const std::string& node_id) {
  ec2agent::v1::RegisterRequest r;
  r.set_node_id(node_id);
  return r;
}

// A fleet's pki directory: ca.crt and one certificate per (name, mesh address).
class MeshDir {
 public:
  explicit MeshDir(const std::string& dir, const TimeSource& clock) : dir_(dir), clock_(clock) {
    std::filesystem::create_directories(dir_);
    auto ca = pki::CreateCa({.name = "test-mesh"}, clock.SystemNow());
    EXPECT_TRUE(ca.ok());
    auto authority = pki::CertificateAuthority::Create(ca->cert, ca->private_key);
    EXPECT_TRUE(authority.ok());
    authority_.emplace(std::move(*authority));
    EXPECT_TRUE(WriteFileAtomic(dir_ + "/ca.crt", ca->CertPem(), 0600).ok());
    // The CA's key lies beside them, as in a fleet's state: never read as a certificate.
    EXPECT_TRUE(WriteFileAtomic(dir_ + "/ca.key", ca->KeyPem(), 0600).ok());
  }
  void Add(const std::string& name, const std::string& cidr,
           const pki::CertificateAuthority* by = nullptr) {
    auto ip = ParseCidr(cidr);
    ASSERT_TRUE(ip.ok());
    auto host = (by ? *by : *authority_).Sign({.name = name, .ip = *ip}, clock_.SystemNow());
    ASSERT_TRUE(host.ok()) << host.status().ToString();
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/" + name + ".crt", host->CertPem(), 0600).ok());
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  const TimeSource& clock_;
  std::optional<pki::CertificateAuthority> authority_;
};

std::unique_ptr<Store> OpenStoreIn(const testing::ScratchDir& dir) {
  auto store = OpenSqliteStore(dir / "fleet.db");
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(*store) : nullptr;
}

class IdentityTest : public ::testing::Test {
 protected:
  std::unique_ptr<Enrollment> MakeEnrollment(MeshIdentity* mesh = nullptr) {
    return std::make_unique<Enrollment>(*store_, nodes_, events_, clock_, store_errors_,
                                        std::string(), mesh);
  }
  carrierarr::v1::CreateTokenResponse Token(Enrollment& e, const std::string& node,
                                            const std::string& pool = "", bool replace = false,
                                            int uses = 1) {
    carrierarr::v1::CreateTokenRequest r;
    r.set_node_id(node);
    r.set_pool(pool);
    r.set_replace(replace);
    r.set_max_uses(uses);
    r.set_ttl_seconds(3600);
    auto t = e.CreateToken(r);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? *t : carrierarr::v1::CreateTokenResponse();
  }
  int Uses(const std::string& token_id) {
    auto tokens = store_->ListTokens();
    EXPECT_TRUE(tokens.ok());
    for (const auto& t : *tokens)
      if (t.id == token_id) return t.uses;
    return -1;
  }

  testing::ScratchDir dir_;
  SimulatedTimeSource clock_;
  Counter store_errors_;
  std::unique_ptr<Store> store_ = OpenStoreIn(dir_);
  NodeRegistry nodes_{{}, seconds(10), seconds(30), 0};
  EventLog events_{*store_, clock_, store_errors_};
};

TEST_F(IdentityTest, EveryTokenIsBoundToOneNodeOrOnePool) {
  auto e = MakeEnrollment();
  carrierarr::v1::CreateTokenRequest r;
  r.set_max_uses(1);
  auto unbound = e->CreateToken(r);
  EXPECT_EQ(unbound.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Has(unbound.status(), "--node NAME")) << unbound.status().ToString();
  r.set_node_id("gpu-1");
  r.set_pool("gpu");
  EXPECT_TRUE(Has(e->CreateToken(r).status(), "not both"));
  r.set_node_id("");
  r.set_replace(true);
  EXPECT_TRUE(Has(e->CreateToken(r).status(), "--replace needs --node"));
  r.set_replace(false);
  r.set_pool("gpu/../x");
  EXPECT_EQ(e->CreateToken(r).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(IdentityTest, ANodeTokenEnrolsOnlyItsNodeAndARefusalSpendsNothing) {
  auto e = MakeEnrollment();
  auto token = Token(*e, "gpu-1");
  EXPECT_EQ(token.token().node_id(), "gpu-1");
  auto other = e->Register({token.secret()}, As("gpu-2"));
  EXPECT_EQ(other.status().code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(Has(other.status(), "made for node gpu-1, not gpu-2")) << other.status().ToString();
  EXPECT_TRUE(Has(other.status(), "tokens create --node gpu-2"));
  EXPECT_EQ(Uses(token.token().id()), 0);
  // No id asked for: the token's.
  auto mine = e->Register({token.secret()}, {});
  ASSERT_TRUE(mine.ok()) << mine.status().ToString();
  EXPECT_EQ(mine->assigned_id(), "gpu-1");
  EXPECT_EQ(Uses(token.token().id()), 1);
}

TEST_F(IdentityTest, APoolTokenEnrolsThePoolsNamesOnly) {
  auto e = MakeEnrollment();
  auto token = Token(*e, "", "gpu", false, /*uses=*/0);
  auto seven = e->Register({token.secret()}, As("gpu-7"));
  ASSERT_TRUE(seven.ok()) << seven.status().ToString();
  for (const char* outside : {"cpu-1", "gpu", "gpu-", "gpux-1"}) {
    auto refused = e->Register({token.secret()}, As(outside));
    EXPECT_EQ(refused.status().code(), StatusCode::kPermissionDenied) << outside;
    EXPECT_TRUE(Has(refused.status(), "enrols nodes named gpu-*")) << refused.status().ToString();
  }
  auto unnamed = e->Register({token.secret()}, {});
  ASSERT_TRUE(unnamed.ok()) << unnamed.status().ToString();
  EXPECT_EQ(unnamed->assigned_id().rfind("gpu-", 0), 0u) << unnamed->assigned_id();
  EXPECT_EQ(Uses(token.token().id()), 2);
}

TEST_F(IdentityTest, ATokenDoesNotTakeOverARegisteredNode) {
  auto e = MakeEnrollment();
  auto first = e->Register({Token(*e, "gpu-1").secret()}, As("gpu-1"));
  ASSERT_TRUE(first.ok()) << first.status().ToString();

  // Another token for the same node: refused, saying what to do, and left unspent.
  auto second = Token(*e, "gpu-1");
  auto taken = e->Register({second.secret()}, As("gpu-1"));
  EXPECT_EQ(taken.status().code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(Has(taken.status(), "already registered")) << taken.status().ToString();
  EXPECT_TRUE(Has(taken.status(), "carrierarr nodes delete gpu-1"));
  EXPECT_TRUE(Has(taken.status(), "--replace"));
  EXPECT_EQ(Uses(second.token().id()), 0);
  // A pool token cannot either.
  auto pool = Token(*e, "", "gpu");
  EXPECT_TRUE(Has(e->Register({pool.secret()}, As("gpu-1")).status(), "already registered"));
  // The node's credential still works: nothing was replaced.
  EXPECT_EQ(*e->AuthenticateNode({first->node_credential()}), "gpu-1");

  // A --replace token may, and the old credential is dead after it.
  auto replaced = e->Register({Token(*e, "gpu-1", "", /*replace=*/true).secret()}, As("gpu-1"));
  ASSERT_TRUE(replaced.ok()) << replaced.status().ToString();
  EXPECT_EQ(e->AuthenticateNode({first->node_credential()}).status().code(),
            StatusCode::kUnauthenticated);
  // Deleted by the operator: a plain token enrols it again (the spare one from above).
  ASSERT_TRUE(nodes_.Remove("gpu-1").has_value());
  EXPECT_TRUE(e->Register({second.secret()}, As("gpu-1")).ok());
}

TEST_F(IdentityTest, TokensFromBeforeBindingEnrolNothing) {
  ASSERT_TRUE(store_
                  ->PutToken({.id = "tok_old",
                              .name = "old",
                              .secret_hash = pki::Sha256Hex("cet_old"),
                              .max_uses = 1,
                              .created_ms = 1})
                  .ok());
  auto refused = MakeEnrollment()->Register({"cet_old"}, As("gpu-1"));
  EXPECT_EQ(refused.status().code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(Has(refused.status(), "bound to no node")) << refused.status().ToString();
  EXPECT_TRUE(Has(refused.status(), "tokens revoke tok_old"));
}

// --- mesh identity ---

TEST(PeerIpv4Test, ReadsGrpcPeerUris) {
  EXPECT_EQ(PeerIpv4("ipv4:10.42.2.1:41000"), ParseIpv4("10.42.2.1").value());
  EXPECT_EQ(PeerIpv4("ipv6:[::ffff:10.42.2.1]:41000"), ParseIpv4("10.42.2.1").value());
  EXPECT_EQ(PeerIpv4("ipv6:%5B::ffff:10.42.2.1%5D:41000"), ParseIpv4("10.42.2.1").value());
  EXPECT_EQ(PeerIpv4("ipv6:[::1]:41000"), std::nullopt);
  EXPECT_EQ(PeerIpv4("unix:/run/x.sock"), std::nullopt);
  EXPECT_EQ(PeerIpv4(""), std::nullopt);
  EXPECT_EQ(PeerIpv4("ipv4:10.42.2:1"), std::nullopt);
}

TEST_F(IdentityTest, MeshIdentityReadsTheFleetsCertificates) {
  MeshDir pki(dir_ / "pki", clock_);
  auto missing = MeshIdentity::Load(dir_ / "nowhere", clock_);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Has(missing.status(), "--mesh-identity"));
  auto empty = MeshIdentity::Load(pki.dir(), clock_);
  EXPECT_TRUE(Has(empty.status(), "no host certificate")) << empty.status().ToString();

  pki.Add("lighthouse", "10.42.0.1/16");
  pki.Add("gpu-1", "10.42.2.1/16");
  // Signed by another CA: names nobody.
  auto foreign_ca = pki::CreateCa({.name = "intruder"}, clock_.SystemNow());
  ASSERT_TRUE(foreign_ca.ok());
  auto intruder = pki::CertificateAuthority::Create(foreign_ca->cert, foreign_ca->private_key);
  ASSERT_TRUE(intruder.ok());
  pki.Add("evil", "10.42.9.9/16", &*intruder);
  pki.Add("odd", "127.0.0.2/8");  // a certificate may say so; loopback stays outside the mesh

  auto mesh = MeshIdentity::Load(pki.dir(), clock_);
  ASSERT_TRUE(mesh.ok()) << mesh.status().ToString();
  EXPECT_EQ(*(*mesh)->NodeOf(*ParseIpv4("10.42.2.1")), "gpu-1");
  EXPECT_TRUE((*mesh)->InMesh(*ParseIpv4("10.42.9.9")));
  EXPECT_EQ((*mesh)->NodeOf(*ParseIpv4("10.42.9.9")).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE((*mesh)->InMesh(*ParseIpv4("127.0.0.1")));
  EXPECT_FALSE((*mesh)->InMesh(*ParseIpv4("127.0.0.2")));
  EXPECT_FALSE((*mesh)->InMesh(*ParseIpv4("198.18.0.2")));

  // A node added later is known without a restart (the directory's mtime moves; make sure it
  // does even on a coarse-grained file system).
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  pki.Add("cpu-1", "10.42.3.1/16");
  EXPECT_EQ(*(*mesh)->NodeOf(*ParseIpv4("10.42.3.1")), "cpu-1");
}

class MeshEnrollmentTest : public IdentityTest {
 protected:
  void SetUp() override {
    pki_.emplace(dir_ / "pki", clock_);
    pki_->Add("gpu-1", "10.42.2.1/16");
    pki_->Add("cpu-1", "10.42.3.1/16");
    auto mesh = MeshIdentity::Load(pki_->dir(), clock_);
    ASSERT_TRUE(mesh.ok()) << mesh.status().ToString();
    mesh_ = std::move(*mesh);
    enrollment_ = MakeEnrollment(mesh_.get());
  }
  static Caller From(const std::string& ip, const std::string& secret = "") {
    return {.secret = secret, .peer = "ipv4:" + ip + ":40000"};
  }

  std::optional<MeshDir> pki_;
  std::unique_ptr<MeshIdentity> mesh_;
  std::unique_ptr<Enrollment> enrollment_;
};

TEST_F(MeshEnrollmentTest, ATokenlessAgentInTheMeshIsTheNodeOfItsAddress) {
  auto unnamed = enrollment_->Register(From("10.42.2.1"), {});
  ASSERT_TRUE(unnamed.ok()) << unnamed.status().ToString();
  EXPECT_EQ(unnamed->assigned_id(), "gpu-1");
  EXPECT_FALSE(unnamed->node_credential().empty());
  // An original agent calls Register again on every reconnect, with no credential: accepted.
  auto again = enrollment_->Register(From("10.42.2.1"), As("gpu-1"));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  // Its streams authenticate by address; a credential authenticates too.
  EXPECT_EQ(*enrollment_->AuthenticateNode(From("10.42.2.1")), "gpu-1");
  EXPECT_EQ(*enrollment_->AuthenticateNode(From("10.42.2.1", again->node_credential())), "gpu-1");
}

TEST_F(MeshEnrollmentTest, AConnectionFromTheMeshRegistersAsNoOtherNode) {
  auto claimed = enrollment_->Register(From("10.42.2.1"), As("cpu-1"));
  EXPECT_EQ(claimed.status().code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(Has(claimed.status(), "may register only as gpu-1, not cpu-1"))
      << claimed.status().ToString();
  // Not even with a good token for the other node.
  auto token = Token(*enrollment_, "cpu-1");
  auto with_token = enrollment_->Register(From("10.42.2.1", token.secret()), {});
  EXPECT_EQ(with_token.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(Uses(token.token().id()), 0);
  // An address in the mesh that no certificate carries.
  auto stranger = enrollment_->Register(From("10.42.7.7"), {});
  EXPECT_EQ(stranger.status().code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(Has(stranger.status(), "10.42.7.7")) << stranger.status().ToString();
  // A certificate whose name is no node id names no node.
  pki_->Add("bad name", "10.42.8.8/16");
  auto badly_named = enrollment_->Register(From("10.42.8.8"), {});
  EXPECT_EQ(badly_named.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Has(badly_named.status(), "not a node id")) << badly_named.status().ToString();
  // A credential of cpu-1 used from gpu-1's address.
  auto cpu = enrollment_->Register(From("10.42.3.1"), {});
  ASSERT_TRUE(cpu.ok());
  EXPECT_EQ(
      enrollment_->AuthenticateNode(From("10.42.2.1", cpu->node_credential())).status().code(),
      StatusCode::kPermissionDenied);
}

TEST_F(MeshEnrollmentTest, OutsideTheMeshTheAddressProvesNothing) {
  for (const Caller& outside :
       {From("127.0.0.1"), From("198.18.0.2"), Caller{.peer = "unix:/tmp/serve.sock"},
        Caller{.peer = "ipv6:[::1]:5000"}}) {
    auto refused = enrollment_->Register(outside, As("gpu-1"));
    EXPECT_EQ(refused.status().code(), StatusCode::kUnauthenticated) << outside.peer;
    EXPECT_TRUE(Has(refused.status(), "no enrollment token")) << refused.status().ToString();
  }
  // ... and a registered node's streams need its credential there.
  ASSERT_TRUE(enrollment_->Register(From("10.42.2.1"), {}).ok());
  EXPECT_EQ(enrollment_->AuthenticateNode(From("127.0.0.1")).status().code(),
            StatusCode::kUnauthenticated);
  // With a token, loopback works as before.
  auto token = Token(*enrollment_, "cpu-1");
  EXPECT_TRUE(enrollment_->Register(From("127.0.0.1", token.secret()), As("cpu-1")).ok());
}

TEST_F(MeshEnrollmentTest, TheMeshMayReplaceARegistrationAToken) {
  // A node whose agent lost its credential comes back from its own address: the mesh vouches.
  auto first = enrollment_->Register(From("10.42.2.1", Token(*enrollment_, "gpu-1").secret()), {});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto back = enrollment_->Register(From("10.42.2.1", Token(*enrollment_, "gpu-1").secret()), {});
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->assigned_id(), "gpu-1");
}

}  // namespace
}  // namespace carrierarr::control_plane
