// The Kubernetes objects of a homelab cluster: their shape (labels, host networking, NET_ADMIN,
// $(NODE_NAME) args, node pinning, secret keys per node, base64 round trip, no secret value
// outside a Secret), and for several fleet variants the kustomize directories, read back by the
// real `kubectl kustomize` and checked field by field against the Kubernetes API's schema
// (kube_schema_check.py: unknown fields and wrong types are errors).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/process_runner.h"
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

using testing::Kustomize;
using testing::SchemaCheck;

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
  std::vector<std::string> components = {"nebula", "control-plane"};
  if (in.lighthouse) components.push_back("lighthouse");
  for (const std::string& c : components) {
    std::string out = Kustomize(dir / c);
    ASSERT_FALSE(out.empty()) << c;
    if (c == "lighthouse") {
      EXPECT_NE(out.find("name: nebula-lighthouse"), std::string::npos) << out;
    } else {
      EXPECT_NE(out.find("kind: Secret"), std::string::npos) << out;
      EXPECT_NE(out.find("carrierarr.io/fleet: demo"), std::string::npos) << out;
    }
    // Every field known to the Kubernetes API's schema, with the right type.
    RunResult check = SchemaCheck(out);
    EXPECT_EQ(check.exit_code, 0) << c << " fails the schema check:\n" << check.err << out;
  }
}

INSTANTIATE_TEST_SUITE_P(Fleets, KustomizeVariants, ::testing::Range(0, 6));

// The schema check can fail: every fault below is reported with its path, none stops the rest.
TEST(KubeSchemaCheck, ReportsEveryUnknownFieldAndWrongType) {
  const std::string bad = R"(apiVersion: apps/v1
kind: DaemonSet
metadata: {name: nebula, namespace: nebula-system}
spec:
  selector: {matchLabels: {app: nebula}}
  template:
    metadata: {labels: {app: nebula}}
    spec:
      hostNetwork: "yes"
      containers:
      - name: nebula
        image: nebula:1
        securityContext: {privilegd: true, capabilities: {add: [NET_ADMIN]}}
        resources: {limits: {cpu: 1, memory: 1Gb}}
      - image: sidecar:1
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: carrierarr, namespace: cp}
spec:
  replicas: "two"
  selector: {matchLabels: {app: cp}}
  template:
    metadata: {labels: {app: cp}}
    spec: {containers: [{name: cp, image: cp:1, ports: [{containerPort: 8080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: lighthouse, namespace: nebula-system}
spec: {ports: [{port: 4242, targetPort: true}]}
---
apiVersion: v1
kind: Widget
metadata: {name: w}
)";
  RunResult r = SchemaCheck(bad);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  for (const char* finding : {
           "DaemonSet nebula-system/nebula: spec.template.spec.hostNetwork: expected bool",
           "DaemonSet nebula-system/nebula: "
           "spec.template.spec.containers[0].securityContext.privilegd: unknown field",
           "spec.template.spec.containers[0].resources.limits[memory]: '1Gb' is not a quantity",
           "spec.template.spec.containers[1].name: required field missing",
           "Deployment cp/carrierarr: spec.replicas: expected int, got str 'two'",
           "Service nebula-system/lighthouse: spec.ports[0].targetPort: expected an int or a "
           "string",
           "Widget w: unknown apiVersion/kind v1 Widget",
       }) {
    EXPECT_NE(r.err.find(finding), std::string::npos) << finding << "\nnot in:\n" << r.err;
  }
  // Exactly those seven: `cpu: 1` (a bare number) is a valid quantity.
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 7) << r.err;
}

// A clean object passes, and an empty stream does not (a check that saw nothing proves nothing).
TEST(KubeSchemaCheck, PassesCleanObjectsAndRefusesAnEmptyStream) {
  RunResult ok = SchemaCheck(
      "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"
      "spec: {ports: [{name: udp, port: 4242, targetPort: nebula, protocol: UDP}]}\n");
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  RunResult empty = SchemaCheck("---\n");
  EXPECT_EQ(empty.exit_code, 1) << empty.err;
  EXPECT_NE(empty.err.find("no Kubernetes object"), std::string::npos) << empty.err;
}

}  // namespace
}  // namespace carrierarr::kubernetes
