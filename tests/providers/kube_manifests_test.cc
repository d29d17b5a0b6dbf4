// The Kubernetes objects of a homelab cluster: their shape (labels, host networking, NET_ADMIN,
// $(NODE_NAME) args, node pinning, secret keys per node, base64 round trip, no secret value
// outside a Secret), and for several fleet variants the kustomize directories, read back by the
// real `kubectl kustomize`.
#include <gtest/gtest.h>
#include <stdio.h>
#include <sys/stat.h>

#include <string>

#include "pki/pem.h"
#include "providers/kubernetes/manifests.h"
#include "testing/tools.h"

namespace carrierarr::kubernetes {
namespace {

using nlohmann::json;

struct Material {
  spec::FleetSpec fleet;
  ManifestInput Input() const {
    ManifestInput in{fleet};
    in.ca_pem = "-----BEGIN NEBULA CERTIFICATE-----\nCA\n-----END NEBULA CERTIFICATE-----\n";
    for (const char* node : {"n1", "n2"}) {
      in.homelab.push_back({node, std::string("CERT-") + node, std::string("KEY-") + node,
                            std::string("pki: {}\n# ") + node + "\n"});
      in.mesh_certificates[node] = std::string("CERT-") + node;
    }
    in.control_plane_node = "n1";
    in.admin_token = "ADMIN-TOKEN-SECRET";
    in.enrollment_public_key_pem = "ENROLL-PUB";
    return in;
  }
};

const json* Find(const std::vector<Component>& cs, const std::string& kind,
                 const std::string& name) {
  for (const auto& c : cs) {
    for (const auto& o : c.objects) {
      if (o["kind"] == kind && o["metadata"]["name"] == name) return &o;
    }
  }
  return nullptr;
}

TEST(KubeManifests, NebulaDaemonSetShape) {
  Material m;
  m.fleet.name = "lab";
  m.fleet.kubernetes.node_selector = {{"mesh", "yes"}};
  ManifestInput in = m.Input();
  auto cs = RenderManifests(in);
  ASSERT_EQ(cs.size(), 2u);
  EXPECT_EQ(cs[0].objects[0]["kind"], "Namespace");
  const json* ds = Find(cs, "DaemonSet", kNebulaDaemonSet);
  ASSERT_NE(ds, nullptr);
  const json& pod = (*ds)["spec"]["template"]["spec"];
  EXPECT_EQ(pod["hostNetwork"], true);
  EXPECT_EQ(pod["nodeSelector"]["mesh"], "yes");
  EXPECT_EQ(pod["containers"][0]["args"][1], "/etc/nebula/config/$(NODE_NAME).yml");
  EXPECT_EQ(pod["containers"][0]["securityContext"]["capabilities"]["add"][0], "NET_ADMIN");
  EXPECT_EQ((*ds)["metadata"]["labels"][kFleetLabel], "lab");
  EXPECT_EQ((*ds)["metadata"]["labels"][kManagedByLabel], "carrierarr");
  const json* s = Find(cs, "Secret", "nebula-certs");
  ASSERT_NE(s, nullptr);
  for (const char* k : {"ca.crt", "n1.crt", "n1.key", "n2.crt", "n2.key"}) {
    ASSERT_TRUE((*s)["data"].contains(k)) << k;
  }
  EXPECT_EQ(pki::Base64Decode((*s)["data"]["n2.key"].get<std::string>()), "KEY-n2");
  // No secret value appears in any non-Secret object.
  for (const auto& c : cs) {
    for (const auto& o : c.objects) {
      if (o["kind"] == "Secret") continue;
      std::string d = o.dump();
      EXPECT_EQ(d.find("KEY-n"), std::string::npos) << d;
      EXPECT_EQ(d.find("ADMIN-TOKEN"), std::string::npos) << d;
    }
  }
}

TEST(KubeManifests, ControlPlanePinnedWithPvcOrDatabase) {
  Material m;
  m.fleet.control_plane.image = "reg/carrierarr:1";
  auto cs = RenderManifests(m.Input());
  const json* d = Find(cs, "Deployment", kControlPlaneDeployment);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ((*d)["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/hostname"], "n1");
  EXPECT_NE(Find(cs, "PersistentVolumeClaim", kControlPlaneDeployment), nullptr);
  m.fleet.control_plane.database_url_secret = "pg";
  cs = RenderManifests(m.Input());
  EXPECT_EQ(Find(cs, "PersistentVolumeClaim", kControlPlaneDeployment), nullptr);
  d = Find(cs, "Deployment", kControlPlaneDeployment);
  std::string args = (*d)["spec"]["template"]["spec"]["containers"][0]["args"].dump();
  EXPECT_NE(args.find("$(CARRIERARR_DB_URL)"), std::string::npos);
}

std::string Kustomize(const std::string& dir, int& rc) {
  std::string out;
  FILE* p = popen(("kubectl kustomize " + dir + " 2>&1").c_str(), "r");
  if (p == nullptr) {
    rc = -1;
    return out;
  }
  char buf[4096];
  size_t n = 0;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  rc = pclose(p);
  return out;
}

class KustomizeVariants : public ::testing::TestWithParam<int> {};

TEST_P(KustomizeVariants, KubectlKustomizeAccepts) {
  Material m;
  m.fleet.control_plane.image = "reg/carrierarr:1";
  ManifestInput in = m.Input();
  switch (GetParam()) {
    case 1:
      in.lighthouse = NebulaMember{"lighthouse", "CERT-lh", "KEY-lh", "pki: {}\n"};
      in.lighthouse_node = "n2";
      break;
    case 2:
      m.fleet.kubernetes.lighthouse_exposure = spec::LighthouseExposure::kNodePort;
      m.fleet.mesh.lighthouse_port = 30424;
      in.lighthouse = NebulaMember{"lighthouse", "CERT-lh", "KEY-lh", "pki: {}\n"};
      in.lighthouse_node = "n2";
      break;
    case 3:
      m.fleet.control_plane.database_url_secret = "pg";
      break;
    case 4:
      m.fleet.kubernetes.node_selector = {{"mesh", "yes"}};
      break;
    case 5:
      m.fleet.kubernetes.nebula_namespace = "mesh";
      m.fleet.kubernetes.control_plane_namespace = "cp";
      m.fleet.control_plane.storage_class = "local-path";
      break;
    default:
      break;
  }
  testing::ScratchDir dir;
  auto written = WriteKustomizeDirs(RenderManifests(in), dir.path());
  ASSERT_TRUE(written.ok()) << written.status().message();
  struct stat st {};
  ASSERT_EQ(stat((dir / "nebula/secrets/nebula-certs/n1.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  for (const char* c : {"nebula", "control-plane"}) {
    int rc = 0;
    std::string out = Kustomize(dir / c, rc);
    ASSERT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("kind: Secret"), std::string::npos) << out;
    EXPECT_NE(out.find("carrierarr.io/fleet: demo"), std::string::npos) << out;
  }
  if (in.lighthouse) {
    int rc = 0;
    std::string out = Kustomize(dir / "lighthouse", rc);
    ASSERT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("name: nebula-lighthouse"), std::string::npos) << out;
  }
}

INSTANTIATE_TEST_SUITE_P(Fleets, KustomizeVariants, ::testing::Range(0, 6));

}  // namespace
}  // namespace carrierarr::kubernetes
