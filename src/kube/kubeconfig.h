// kubeconfig: which API server to reach and with what credentials, as kubectl reads it.
// Certificates and keys stay in memory (the transport hands them to libcurl as blobs): nothing
// lands in /tmp. Reference:
// https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/
#ifndef CARRIERARR_KUBE_KUBECONFIG_H_
#define CARRIERARR_KUBE_KUBECONFIG_H_

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/seams.h"
#include "core/status.h"

namespace carrierarr::kube {

// An exec credential plugin of a kubeconfig user, kept so the client can run it again when the
// credential it gave expires.
struct ExecPlugin {
  std::string api_version;  // client.authentication.k8s.io/v1 or v1beta1
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "NAME=VALUE"
  std::string dir;               // the kubeconfig's directory (relative commands)
};

// One context of a kubeconfig, resolved: where the API server is and who we are to it.
struct ClusterAccess {
  std::string server;  // "https://192.168.1.10:6443"
  std::string ca_pem;  // certificate-authority(-data); "" = the system's CAs
  std::string client_cert_pem, client_key_pem;  // client-certificate(-data), client-key(-data)
  std::string token;                            // token, tokenFile, or an exec plugin's answer
  // When the exec plugin's credential expires (the client runs the plugin again after it).
  std::optional<std::chrono::system_clock::time_point> token_expiry;
  bool insecure_skip_tls_verify = false;  // set only when KubeconfigOptions::allow_insecure
  std::string context, cluster, user;     // names, for messages
  std::string default_namespace;          // the context's namespace; "" = none given
  std::string source;                     // the kubeconfig's path, for messages
  std::optional<ExecPlugin> exec;         // set when the user's credential comes from a plugin
};

struct KubeconfigOptions {
  // "" = the files of $KUBECONFIG merged as kubectl does (the first to name a context, cluster or
  // user wins; missing files skipped), else $HOME/.kube/config.
  std::string path;
  std::string context;  // "" = current-context
  // insecure-skip-tls-verify: true is refused (with the fix) unless this is set.
  bool allow_insecure = false;
};

// Reads and resolves the kubeconfig. `exec` credential plugins run through seams.processes as
// argv (never a shell), with their `env` added to seams.environment; files through the file
// system, relative paths against the kubeconfig's directory as kubectl does. Errors name the
// file, the context/user/cluster and the fix.
Result<ClusterAccess> LoadKubeconfig(const KubeconfigOptions& options, const Seams& seams);

// The same from text already read (`source` names it in messages).
Result<ClusterAccess> ParseKubeconfig(const std::string& text, const std::string& source,
                                      const KubeconfigOptions& options, const Seams& seams);

// Runs access.exec (if any) and stores its token or client certificate and expiry in `access`.
Status RefreshExecCredential(ClusterAccess& access, const Seams& seams);

}  // namespace carrierarr::kube

#endif  // CARRIERARR_KUBE_KUBECONFIG_H_
