// carrierarr-fake-kube: FakeKube (fake_kube.h) as a program, for end-to-end tests that run
// `carrierarr` (or kubectl) against a Kubernetes API without a cluster. Loopback only.
//
//   carrierarr-fake-kube --kubeconfig PATH [--node NAME[=KEY=VALUE,...]]...
//                        [--deny USER:VERB:RESOURCE[:NS]]... [--rollouts-ready=false]
// Writes the kubeconfig (contexts "fake" and "fake-token"), prints "ready https://127.0.0.1:PORT"
// once serving, and runs until SIGINT or SIGTERM.
#include <signal.h>

#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "testing/fake_kube.h"

namespace {

int Usage(const std::string& problem) {
  std::cerr << "carrierarr-fake-kube: " << problem
            << "\nusage: carrierarr-fake-kube --kubeconfig PATH [--node NAME[=KEY=VALUE,...]]... "
               "[--deny USER:VERB:RESOURCE[:NS]]... [--rollouts-ready=false]\n";
  return 2;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string part;
  while (std::getline(in, part, sep)) out.push_back(part);
  return out;
}

struct Node {
  std::string name;
  std::map<std::string, std::string> labels;
};

}  // namespace

int main(int argc, char** argv) {
  std::string kubeconfig;
  std::vector<Node> nodes;
  std::vector<std::vector<std::string>> denials;
  bool rollouts_ready = true;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--rollouts-ready=false") {
      rollouts_ready = false;
      continue;
    }
    if (flag == "--rollouts-ready=true") continue;
    if (i + 1 >= argc) return Usage("bad argument " + flag);
    std::string value = argv[++i];
    if (flag == "--kubeconfig") {
      kubeconfig = value;
    } else if (flag == "--node") {
      size_t eq = value.find('=');
      Node node{value.substr(0, eq), {}};
      if (eq != std::string::npos) {
        for (const std::string& label : Split(value.substr(eq + 1), ',')) {
          size_t at = label.find('=');
          if (at == std::string::npos) return Usage("--node labels are KEY=VALUE");
          node.labels[label.substr(0, at)] = label.substr(at + 1);
        }
      }
      if (node.name.empty()) return Usage("--node needs a name");
      nodes.push_back(node);
    } else if (flag == "--deny") {
      auto parts = Split(value, ':');
      if (parts.size() != 3 && parts.size() != 4)
        return Usage("--deny takes USER:VERB:RESOURCE[:NS]");
      denials.push_back(parts);
    } else {
      return Usage("unknown flag " + flag);
    }
  }
  if (kubeconfig.empty()) return Usage("--kubeconfig is required");
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // the server's threads inherit the mask
  carrierarr::testing::FakeKube fake;
  for (const Node& node : nodes) fake.AddNode(node.name, node.labels);
  for (const auto& d : denials) fake.Deny(d[0], d[1], d[2], d.size() == 4 ? d[3] : "");
  fake.set_rollouts_ready(rollouts_ready);
  try {
    fake.WriteKubeconfig(kubeconfig);
  } catch (const std::exception& e) {
    std::cerr << "carrierarr-fake-kube: " << e.what() << "\n";
    return 1;
  }
  std::cout << "ready " << fake.url() << std::endl;
  int sig = 0;
  sigwait(&signals, &sig);
  fake.Stop();
  return 0;
}
