#include "providers/kubernetes/observe.h"

#include <algorithm>
#include <set>
#include <utility>

#include "pki/cert.h"
#include "providers/kubernetes/manifests.h"

namespace carrierarr::kubernetes {
namespace {

using Json = nlohmann::json;

struct Workload {
  const char* name;
  std::string ns;
};

std::vector<Workload> Workloads(const spec::FleetSpec& fleet) {
  return {{kNebulaDaemonSet, fleet.kubernetes.nebula_namespace},
          {kLighthouseDeployment, fleet.kubernetes.nebula_namespace},
          {kControlPlaneDeployment, fleet.kubernetes.control_plane_namespace}};
}

std::string Str(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// "reason: message", or whichever is there.
std::string ReasonMessage(const Json& j) {
  std::string reason = Str(j, "reason"), message = Str(j, "message");
  if (reason.empty() || message.empty() || message == reason)
    return reason.empty() ? message : reason;
  return reason + ": " + message;
}

// Why a pod is not ready: a container's waiting or terminated state says the most
// (ImagePullBackOff, CrashLoopBackOff), then an unscheduled pod's condition, then the phase.
std::string WhyNotReady(const Json& pod) {
  Json status = pod.value("status", Json::object());
  for (const char* key : {"initContainerStatuses", "containerStatuses"}) {
    for (const Json& cs : status.value(key, Json::array())) {
      if (cs.value("ready", false)) continue;
      Json state = cs.value("state", Json::object());
      std::string container = Str(cs, "name");
      if (state.contains("waiting")) {
        std::string why = ReasonMessage(state["waiting"]);
        if (!why.empty()) return container + " waiting: " + why;
      }
      if (state.contains("terminated")) {
        return container + " terminated: " + ReasonMessage(state["terminated"]);
      }
    }
  }
  for (const Json& c : status.value("conditions", Json::array())) {
    if (Str(c, "type") == "PodScheduled" && Str(c, "status") == "False") {
      return "not scheduled: " + ReasonMessage(c);
    }
  }
  std::string why = ReasonMessage(status);
  return why.empty() ? "phase " + Str(status, "phase") : why;
}

PodView ToPodView(const std::string& workload, const Json& pod) {
  PodView view;
  view.workload = workload;
  Json meta = pod.value("metadata", Json::object());
  view.ns = Str(meta, "namespace");
  view.name = Str(meta, "name");
  view.node = Str(pod.value("spec", Json::object()), "nodeName");
  Json status = pod.value("status", Json::object());
  view.phase = Str(status, "phase");
  view.ready = IsReady(pod);
  for (const Json& cs : status.value("containerStatuses", Json::array())) {
    view.restarts += cs.value("restartCount", 0);
  }
  if (!view.ready) view.why = WhyNotReady(pod);
  return view;
}

// `text`, naming the server unless the client's message already does.
std::string WithServer(const kube::KubeApi& api, const std::string& text, const Status& error) {
  std::string server = api.Describe();
  if (error.message().find(server) != std::string::npos) return text;
  return text + " (" + server + ")";
}

}  // namespace

Result<HomelabView> ObserveHomelab(kube::KubeApi& api, const spec::FleetSpec& fleet,
                                   const std::vector<std::string>& selected_nodes) {
  HomelabView view;
  for (const Workload& w : Workloads(fleet)) {
    // Selecting by name alone as well as the fleet: pods carry their template's labels, and a
    // template without the fleet label must still show (the name is ours, in our namespace).
    kube::ListOptions options{.label_selector = std::string("app.kubernetes.io/name=") + w.name};
    auto list = api.List("v1", "Pod", w.ns, options);
    if (!list.ok()) {
      if (list.status().code() == StatusCode::kNotFound) continue;  // namespace not created yet
      return list.status().WithPrefix(WithServer(
          api, "listing the " + std::string(w.name) + " pods in " + w.ns, list.status()));
    }
    std::vector<PodView> pods;
    for (const Json& pod : list->items) {
      Json labels = pod.value("/metadata/labels"_json_pointer, Json::object());
      if (labels.contains(kFleetLabel) && labels[kFleetLabel] != fleet.name) continue;
      pods.push_back(ToPodView(w.name, pod));
    }
    std::sort(pods.begin(), pods.end(),
              [](const PodView& a, const PodView& b) { return a.name < b.name; });
    view.pods.insert(view.pods.end(), pods.begin(), pods.end());
  }
  std::set<std::string> with_nebula;
  for (const PodView& p : view.pods) {
    if (p.workload == kNebulaDaemonSet && !p.node.empty()) with_nebula.insert(p.node);
  }
  for (const std::string& node : selected_nodes) {
    if (with_nebula.count(node) > 0) continue;
    view.problems.push_back("no nebula pod on node " + node +
                            ": check the DaemonSet's nodeSelector and the node's taints");
  }
  return view;
}

std::map<std::string, providers::NodeObservation> ToObservations(const HomelabView& view) {
  std::map<std::string, providers::NodeObservation> out;
  for (const PodView& p : view.pods) {
    if (p.workload != kNebulaDaemonSet || p.node.empty()) continue;
    providers::NodeObservation& o = out[p.node];
    if (o.created && o.running) continue;  // a ready pod already speaks for the node
    o.created = true;
    o.running = p.ready;
    o.detail = "pod " + p.name + " " + p.phase + " on " + p.node;
    if (p.restarts > 0) o.detail += " (" + std::to_string(p.restarts) + " restarts)";
    o.problem = p.ready ? "" : p.name + " not ready: " + p.why;
  }
  const std::string prefix = "no nebula pod on node ";
  for (const std::string& problem : view.problems) {
    if (problem.rfind(prefix, 0) != 0) continue;
    std::string node = problem.substr(prefix.size(), problem.find(':') - prefix.size());
    out[node].problem = problem;
  }
  return out;
}

namespace {

struct Permission {
  std::string verb, group, resource, ns;
};

// What `up` and `down` do: apply is a patch, which needs create too when the object is new; get
// and watch for rollouts and adoption.
std::vector<Permission> NeededPermissions(const spec::FleetSpec& fleet) {
  std::vector<std::string> namespaces = {fleet.kubernetes.nebula_namespace};
  if (fleet.kubernetes.control_plane_namespace != fleet.kubernetes.nebula_namespace) {
    namespaces.push_back(fleet.kubernetes.control_plane_namespace);
  }
  const std::vector<std::string> verbs = {"get", "list", "watch", "create", "patch", "delete"};
  const std::vector<std::pair<std::string, std::string>> namespaced = {
      {"", "secrets"},
      {"", "configmaps"},
      {"", "serviceaccounts"},
      {"", "services"},
      {"", "persistentvolumeclaims"},
      {"apps", "daemonsets"},
      {"apps", "deployments"}};
  std::vector<Permission> out;
  out.reserve(verbs.size() * (1 + namespaced.size() * namespaces.size()) + 2 * namespaces.size() +
              1);
  for (const std::string& verb : verbs) out.push_back({verb, "", "namespaces", ""});
  for (const std::string& ns : namespaces) {
    for (const auto& [group, resource] : namespaced) {
      for (const std::string& verb : verbs) out.push_back({verb, group, resource, ns});
    }
    for (const char* verb : {"list", "watch"}) out.push_back({verb, "", "pods", ns});
  }
  out.push_back({"list", "", "nodes", ""});
  return out;
}

std::string CanILine(const Permission& p) {
  std::string resource = p.group.empty() ? p.resource : p.resource + "." + p.group;
  return "kubectl auth can-i " + p.verb + " " + resource + (p.ns.empty() ? "" : " -n " + p.ns);
}

providers::DoctorCheck RbacCheck(kube::KubeApi& api, const spec::FleetSpec& fleet) {
  std::vector<std::string> missing, lines, errors;
  std::vector<Permission> needed = NeededPermissions(fleet);
  for (const Permission& p : needed) {
    auto allowed = api.CanI(p.verb, p.group, p.resource, p.ns);
    if (!allowed.ok()) {
      errors.push_back(CanILine(p) + ": " + allowed.status().message());
    } else if (!*allowed) {
      missing.push_back(p.verb + " " + p.resource + (p.ns.empty() ? "" : " in " + p.ns));
      lines.push_back(CanILine(p));
    }
  }
  if (!errors.empty()) {
    return providers::DoctorCheck::Fail("RBAC", "access reviews failed: " + errors.front(),
                                        "check that the API server serves "
                                        "authorization.k8s.io/v1 SelfSubjectAccessReview");
  }
  if (missing.empty()) {
    return providers::DoctorCheck::Pass(
        "RBAC", "all " + std::to_string(needed.size()) + " permissions up needs are granted");
  }
  std::string fix = "grant them to your kubeconfig's user (a Role or ClusterRole); verify with:";
  for (const std::string& line : lines) fix += "\n  " + line;
  return providers::DoctorCheck::Fail("RBAC", "missing: " + providers::DoctorCheck::List(missing),
                                      fix);
}

providers::DoctorCheck PodSecurityCheck(kube::KubeApi& api, const spec::FleetSpec& fleet) {
  const std::string& ns = fleet.kubernetes.nebula_namespace;
  const char* kName = "Pod Security";
  auto got = api.Get({"v1", "Namespace", "", ns});
  if (!got.ok()) return providers::DoctorCheck::Fail(kName, got.status().message(), "");
  if (!got->has_value()) {
    return providers::DoctorCheck::Pass(kName, "namespace " + ns +
                                                   " does not exist: up creates it labelled "
                                                   "privileged");
  }
  Json labels = (**got).value("/metadata/labels"_json_pointer, Json::object());
  std::string level = Str(labels, "pod-security.kubernetes.io/enforce");
  if (level.empty() || level == "privileged") {
    return providers::DoctorCheck::Pass(
        kName, "namespace " + ns + " enforces " + (level.empty() ? "no level" : level));
  }
  return providers::DoctorCheck::Fail(
      kName,
      "namespace " + ns + " enforces " + level +
          ": the nebula pods' hostNetwork, NET_ADMIN and the /dev/net/tun hostPath are refused",
      "kubectl label namespace " + ns +
          " pod-security.kubernetes.io/enforce=privileged --overwrite");
}

// A host mask narrower than the mesh (the seeds' /24 trap) leaves the other subnets unroutable.
providers::DoctorCheck MeshMaskCheck(const spec::FleetSpec& fleet, const KubeDoctorInputs& in) {
  const char* kName = "mesh mask";
  int want = fleet.mesh.cidr.PrefixLength();
  std::vector<std::string> bad;
  for (const auto& [node, pem] : in.cert_pem) {
    auto cert = pki::CertificateFromPem(pem);
    if (!cert.ok()) {
      bad.push_back(node + ": unreadable certificate (" + cert.status().message() + ")");
      continue;
    }
    for (const Ipv4Net& ip : cert->details.ips) {
      if (ip.PrefixLength() != want) {
        bad.push_back(node + " has " + ip.ToString() + ", not /" + std::to_string(want));
      }
    }
  }
  if (bad.empty()) {
    return providers::DoctorCheck::Pass(kName, std::to_string(in.cert_pem.size()) +
                                                   " node certificates carry the mesh's /" +
                                                   std::to_string(want));
  }
  return providers::DoctorCheck::Fail(
      kName,
      providers::DoctorCheck::List(bad) + " (a narrower mask breaks routes to the other subnets)",
      "carrierarr up (re-signs the node certificates with the mesh's mask)");
}

providers::DoctorCheck NebulaPodsCheck(const HomelabView& view, const std::string& ns,
                                       const std::vector<std::string>& selected) {
  const char* kName = "nebula pods";
  std::vector<std::string> bad = view.problems;
  std::set<std::string> wanted(selected.begin(), selected.end());
  std::map<std::string, providers::NodeObservation> obs = ToObservations(view);
  for (const auto& [node, o] : obs) {
    if (wanted.count(node) > 0 && o.created && !o.running) bad.push_back(node + ": " + o.problem);
  }
  if (bad.empty()) {
    return providers::DoctorCheck::Pass(
        kName, "ready on all " + std::to_string(selected.size()) + " selected nodes");
  }
  return providers::DoctorCheck::Fail(
      kName, providers::DoctorCheck::List(bad),
      "kubectl -n " + ns + " describe pods -l app.kubernetes.io/name=" + kNebulaDaemonSet +
          "; carrierarr up re-applies");
}

// The router's forward is the user's step: this says where it must point (the lighthouse's node
// for a hostPort, any node for a NodePort) and whether the lighthouse is there to receive it.
providers::DoctorCheck LighthouseExposureCheck(kube::KubeApi& api, const spec::FleetSpec& fleet,
                                               const HomelabView& view) {
  constexpr char kName[] = "lighthouse exposure";
  const auto& k = fleet.kubernetes;
  const std::string port = std::to_string(fleet.mesh.lighthouse_port);
  const std::string where = k.nebula_namespace + "/" + kLighthouseDeployment;
  const PodView* pod = nullptr;
  for (const PodView& p : view.pods) {
    if (p.workload == kLighthouseDeployment) pod = &p;
  }
  if (pod == nullptr || !pod->ready) {
    return providers::DoctorCheck::Fail(
        kName,
        pod == nullptr ? "no lighthouse pod (Deployment " + where + ")"
                       : "lighthouse pod " + pod->name + " is not ready" +
                             (pod->why.empty() ? "" : ": " + pod->why),
        "carrierarr up re-applies it; kubectl -n " + k.nebula_namespace +
            " describe pod -l app.kubernetes.io/name=" + kLighthouseDeployment + " says why");
  }
  if (k.lighthouse_exposure == spec::LighthouseExposure::kNodePort) {
    auto svc = api.Get({"v1", "Service", k.nebula_namespace, kLighthouseDeployment});
    bool exposed = false;
    if (svc.ok() && svc->has_value() && (**svc)["spec"].value("type", "") == "NodePort") {
      for (const Json& p : (**svc)["spec"].value("ports", Json::array()))
        exposed = exposed || (p.value("nodePort", 0) == fleet.mesh.lighthouse_port &&
                              p.value("protocol", "TCP") == "UDP");
    }
    if (!exposed) {
      return providers::DoctorCheck::Fail(kName,
                                          "Service " + where + " does not expose UDP nodePort " +
                                              port +
                                              (svc.ok() ? "" : " (" + svc.status().message() + ")"),
                                          "carrierarr up re-applies it");
    }
    return providers::DoctorCheck::Pass(
        kName, "UDP NodePort " + port + " on every node; your router must forward " +
                   k.lighthouse_endpoint + " (UDP) to a node's LAN address, port " + port);
  }
  std::string ip;
  if (auto node = api.Get({"v1", "Node", "", pod->node}); node.ok() && node->has_value())
    ip = NodeInternalIp(**node);
  return providers::DoctorCheck::Pass(
      kName, "UDP hostPort " + port + " on node " + pod->node + "; your router must forward " +
                 k.lighthouse_endpoint + " (UDP) to " + (ip.empty() ? pod->node : ip) + ":" + port);
}

}  // namespace

std::string NodeInternalIp(const kube::Object& node) {
  const Json status = node.value("status", Json::object());
  for (const Json& a : status.value("addresses", Json::array()))
    if (Str(a, "type") == "InternalIP") return Str(a, "address");
  return "";
}

bool IsReady(const kube::Object& object) {
  const Json status = object.value("status", Json::object());
  for (const Json& c : status.value("conditions", Json::array()))
    if (Str(c, "type") == "Ready") return Str(c, "status") == "True";
  return false;
}

std::vector<providers::DoctorCheck> KubernetesChecks(kube::KubeApi& api,
                                                     const spec::FleetSpec& fleet,
                                                     const KubeDoctorInputs& in) {
  std::vector<providers::DoctorCheck> out;
  auto nodes = api.List("v1", "Node", "", {});
  if (!nodes.ok()) {
    out.push_back(providers::DoctorCheck::Fail(
        "kubernetes API", WithServer(api, nodes.status().message(), nodes.status()),
        "check the kubeconfig (homelab.kubeconfig, providers.kubernetes.context) and that the "
        "API server is up: kubectl get nodes"));
    return out;
  }
  out.push_back(providers::DoctorCheck::Pass(
      "kubernetes API",
      api.Describe() + " answers (" + std::to_string(nodes->items.size()) + " nodes)"));
  out.push_back(RbacCheck(api, fleet));
  out.push_back(PodSecurityCheck(api, fleet));
  out.push_back(MeshMaskCheck(fleet, in));
  auto view = ObserveHomelab(api, fleet, in.selected_nodes);
  if (!view.ok()) {
    out.push_back(providers::DoctorCheck::Fail("nebula pods", view.status().message(), ""));
  } else {
    out.push_back(NebulaPodsCheck(*view, fleet.kubernetes.nebula_namespace, in.selected_nodes));
    if (in.lighthouse_in_cluster) out.push_back(LighthouseExposureCheck(api, fleet, *view));
  }
  return out;
}

}  // namespace carrierarr::kubernetes
