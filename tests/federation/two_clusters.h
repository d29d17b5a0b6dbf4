// A fleet whose homelab and cloud cluster are two FakeKubes on loopback HTTPS, reached through
// the real client: the fixture of the federation tests, and the checks they share.
#ifndef CARRIERARR_TESTS_FEDERATION_TWO_CLUSTERS_H_
#define CARRIERARR_TESTS_FEDERATION_TWO_CLUSTERS_H_

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "kube/client.h"
#include "ops/fleet_ops.h"
#include "pki/clustermesh.h"
#include "testing/fake_kube.h"
#include "testing/tools.h"

namespace carrierarr::testing {

// The real client for a kubeconfig, applying as `manager`.
std::unique_ptr<kube::KubeApi> ClientFor(const std::string& kubeconfig, const std::string& manager);

// The kinds Liqo's CRDs serve, as if installed.
void ServeLiqoKinds(FakeKube& kube);

// What Liqo's Helm chart leaves in namespace `ns`: the clusterid ConfigMap (CLUSTER_ID `id`) and
// the controller manager, whose image tag is Liqo's `version`.
void InstallLiqo(kube::KubeApi& api, const std::string& ns, const std::string& id,
                 const std::string& version);

// A new Cilium CA for `cluster` as Cilium's chart keeps it (Secret cilium-ca in kube-system, ca.crt
// and ca.key), applied through `api`; returns it.
pki::PemPair InstallCiliumCa(kube::KubeApi& api, const std::string& cluster);

// What Cilium's chart leaves in kube-system for ClusterMesh, stored as it is: cilium-config
// (cluster-name, cluster-id), the clustermesh-apiserver Service on `node_port`, the agents'
// DaemonSet `cilium` and the Deployment `clustermesh-apiserver`.
void InstallCilium(FakeKube& kube, const std::string& name, const std::string& id, int node_port);

class TwoClusters : public ::testing::Test {
 protected:
  // home.kubeconfig and cloud.kubeconfig in dir_, clients as Helm would apply.
  TwoClusters();

  // fleet.yaml: a Kubernetes homelab (and lighthouse) with `federation_yaml` (the whole
  // `federation:` block), whose cloud_kubeconfig is cloud.kubeconfig; loads ctx_.
  void WriteFleet(const std::string& federation_yaml);

  Result<ops::UpResult> Up();
  void UpOk();
  void DownOk();

  // The federation's objects by resource id, as the state records them.
  std::map<std::string, nlohmann::json> FederationRecords();

  // Deletes each recorded object but namespaces by hand, one at a time; each time the plan
  // re-makes it and only what is made from it, and `up` brings it back.
  void ExpectEachObjectDeletedByHandIsRepaired();

  // A rerun plans nothing and patches neither cluster.
  void ExpectARerunChangesNothing();

  // No object of the fleet is left in either cluster.
  void ExpectNothingOfTheFleetLeft();

  FakeKube home_, cloud_;
  ScratchDir dir_;
  std::unique_ptr<kube::KubeApi> home_api_, cloud_api_;
  ops::FleetContext ctx_;
};

}  // namespace carrierarr::testing

#endif  // CARRIERARR_TESTS_FEDERATION_TWO_CLUSTERS_H_
