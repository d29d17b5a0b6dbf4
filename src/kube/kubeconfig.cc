// kubeconfig: the YAML file kubectl reads, resolved to one ClusterAccess. Only what carrierarr
// needs is read: a context's cluster, user and namespace; certificates, keys and tokens from
// files or inline data; exec credential plugins. Auth providers (gcp, azure, oidc) are refused.
#include "kube/kubeconfig.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/file_util.h"

namespace carrierarr::kube {
namespace {

std::optional<std::string> Base64Decode(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  unsigned bits = 0;
  int count = 0;
  for (char c : text) {
    if (c == '=' || c == '\n' || c == '\r' || c == ' ') continue;
    const int v = value(c);
    if (v < 0) return std::nullopt;
    bits = (bits << 6) | static_cast<unsigned>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xff));
    }
  }
  return out;
}

// "2026-12-02T14:00:00Z" (what ExecCredential's expirationTimestamp carries).
std::optional<std::chrono::system_clock::time_point> ParseRfc3339(const std::string& text) {
  std::tm tm{};
  char zone = 0;
  if (std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &zone) < 6)
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string Resolve(const std::string& dir, const std::string& path) {
  return path.empty() || path[0] == '/' ? path : dir + "/" + path;
}

// What every error says: which file, which entry, and then what to fix.
struct Where {
  std::string source;
  std::string entry;
  Status Error(const std::string& what) const {
    return Status::InvalidArgument("kubeconfig " + source + (entry.empty() ? "" : ", " + entry) +
                                   ": " + what);
  }
};

std::string Str(const YAML::Node& node, const char* key) {
  const YAML::Node value = node[key];
  return value && value.IsScalar() ? value.as<std::string>() : "";
}

// One file of the kubeconfig ($KUBECONFIG may list several).
struct Document {
  YAML::Node root;
  std::string path;
};

// An entry found in one of the documents, with the file it came from (its directory resolves
// the entry's relative paths, as kubectl does).
struct Found {
  YAML::Node node;
  const Document* document;
};

// The `name`d entry of a list (contexts, clusters, users), its `field` map, from the first
// document that has one: kubectl's merge, where the first file to define a name wins.
Result<Found> Named(const std::vector<Document>& documents, const char* list, const char* field,
                    const std::string& name, const Where& where) {
  for (const Document& document : documents) {
    const YAML::Node entries = document.root[list];
    if (!entries || !entries.IsSequence()) continue;
    for (const YAML::Node& entry : entries) {
      if (Str(entry, "name") == name && entry[field] && entry[field].IsMap())
        return Found{entry[field], &document};
    }
  }
  return where.Error(std::string("no ") + field + " named '" + name + "' in " + list +
                     ": add it or fix the name (kubectl config get-" + list + ")");
}

// `key-data` (base64) or `key` (a file, relative to the kubeconfig's directory).
Result<std::string> Material(const YAML::Node& node, const std::string& key, const std::string& dir,
                             const Where& where) {
  if (const std::string data = Str(node, (key + "-data").c_str()); !data.empty()) {
    std::optional<std::string> decoded = Base64Decode(data);
    if (!decoded) return where.Error(key + "-data is not base64: paste the PEM base64-encoded");
    return *decoded;
  }
  const std::string file = Str(node, key.c_str());
  if (file.empty()) return std::string();
  Result<std::string> text = ReadFile(Resolve(dir, file));
  if (!text.ok())
    return where.Error(key + " " + Resolve(dir, file) + " cannot be read (" +
                       text.status().message() + "): fix the path or use " + key + "-data");
  return *text;
}

Status ReadCluster(const YAML::Node& cluster, const std::string& dir, const Where& where,
                   const KubeconfigOptions& options, ClusterAccess& access) {
  access.server = Str(cluster, "server");
  if (access.server.empty()) return where.Error("no server: set the API server's https URL");
  CARRIERARR_ASSIGN_OR_RETURN(access.ca_pem,
                              Material(cluster, "certificate-authority", dir, where));
  if (cluster["insecure-skip-tls-verify"] && cluster["insecure-skip-tls-verify"].as<bool>(false)) {
    if (!options.allow_insecure)
      return where.Error(
          "insecure-skip-tls-verify is set: carrierarr does not talk to an unverified API server; "
          "set certificate-authority-data (or allow insecure explicitly)");
    access.insecure_skip_tls_verify = true;
  }
  return Status::Ok();
}

Result<ExecPlugin> ReadExec(const YAML::Node& exec, const std::string& dir, const Where& where) {
  ExecPlugin plugin;
  plugin.api_version = Str(exec, "apiVersion");
  plugin.dir = dir;
  if (plugin.api_version != "client.authentication.k8s.io/v1" &&
      plugin.api_version != "client.authentication.k8s.io/v1beta1")
    return where.Error("exec apiVersion '" + plugin.api_version +
                       "' is not supported: use client.authentication.k8s.io/v1 or v1beta1");
  std::string command = Str(exec, "command");
  if (command.empty()) return where.Error("exec has no command: name the credential plugin");
  // kubectl: a command with a slash but not absolute is relative to the kubeconfig's directory.
  if (command.find('/') != std::string::npos) command = Resolve(dir, command);
  plugin.argv.push_back(command);
  if (const YAML::Node args = exec["args"]; args && args.IsSequence())
    for (const YAML::Node& arg : args) plugin.argv.push_back(arg.as<std::string>());
  if (const YAML::Node env = exec["env"]; env && env.IsSequence())
    for (const YAML::Node& var : env)
      plugin.env.push_back(Str(var, "name") + "=" + Str(var, "value"));
  return plugin;
}

Status ReadUser(const YAML::Node& user, const std::string& dir, const Where& where,
                ClusterAccess& access) {
  CARRIERARR_ASSIGN_OR_RETURN(access.client_cert_pem,
                              Material(user, "client-certificate", dir, where));
  CARRIERARR_ASSIGN_OR_RETURN(access.client_key_pem, Material(user, "client-key", dir, where));
  if (access.client_cert_pem.empty() != access.client_key_pem.empty())
    return where.Error("client-certificate and client-key go together: set both");
  access.token = Str(user, "token");
  if (const std::string file = Str(user, "tokenFile"); access.token.empty() && !file.empty()) {
    Result<std::string> token = ReadFile(Resolve(dir, file));
    if (!token.ok())
      return where.Error("tokenFile " + Resolve(dir, file) + " cannot be read (" +
                         token.status().message() + "): fix the path");
    access.token = *token;
    while (!access.token.empty() && (access.token.back() == '\n' || access.token.back() == '\r'))
      access.token.pop_back();
  }
  if (user["auth-provider"])
    return where.Error("auth-provider is not supported: use an exec credential plugin");
  if (const YAML::Node exec = user["exec"]; exec && exec.IsMap()) {
    CARRIERARR_ASSIGN_OR_RETURN(ExecPlugin plugin, ReadExec(exec, dir, where));
    access.exec = std::move(plugin);
  }
  return Status::Ok();
}

Result<ClusterAccess> Resolve(const std::vector<Document>& documents, const std::string& source,
                              const KubeconfigOptions& options, const Seams& seams) {
  ClusterAccess access;
  access.source = source;
  access.context = options.context;
  for (const Document& d : documents) {
    if (access.context.empty()) access.context = Str(d.root, "current-context");
  }
  Where where{.source = source, .entry = ""};
  if (access.context.empty())
    return where.Error("no current-context: pass a context or run kubectl config use-context");
  CARRIERARR_ASSIGN_OR_RETURN(Found context,
                              Named(documents, "contexts", "context", access.context, where));
  access.cluster = Str(context.node, "cluster");
  access.user = Str(context.node, "user");
  access.default_namespace = Str(context.node, "namespace");
  where.entry = "context " + access.context;
  CARRIERARR_ASSIGN_OR_RETURN(Found cluster,
                              Named(documents, "clusters", "cluster", access.cluster, where));
  where = {.source = cluster.document->path, .entry = "cluster " + access.cluster};
  CARRIERARR_RETURN_IF_ERROR(
      ReadCluster(cluster.node, DirOf(cluster.document->path), where, options, access));
  if (!access.user.empty()) {
    where = {.source = source, .entry = "context " + access.context};
    CARRIERARR_ASSIGN_OR_RETURN(Found user, Named(documents, "users", "user", access.user, where));
    where = {.source = user.document->path, .entry = "user " + access.user};
    CARRIERARR_RETURN_IF_ERROR(ReadUser(user.node, DirOf(user.document->path), where, access));
  }
  if (access.exec) CARRIERARR_RETURN_IF_ERROR(RefreshExecCredential(access, seams));
  return access;
}

// "kubeconfig FILE:LINE:COLUMN: what yaml-cpp says" and then `fix`.
Status YamlError(const std::string& source, const YAML::Exception& e, const std::string& fix) {
  return Status::InvalidArgument("kubeconfig " + source + ":" + std::to_string(e.mark.line + 1) +
                                 ":" + std::to_string(e.mark.column + 1) + ": " + e.msg + fix);
}

// One file's text as a Document; YAML errors carry its path, line and column.
Result<Document> ParseDocument(const std::string& text, const std::string& path) {
  Document document{.root = {}, .path = path};
  try {
    document.root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return YamlError(path, e, ": fix the YAML");
  }
  if (!document.root.IsMap())
    return Status::InvalidArgument(
        "kubeconfig " + path + " is not a kubeconfig (no mapping): kubectl config view shows one");
  return document;
}

Result<ClusterAccess> ResolveDocuments(const std::vector<Document>& documents,
                                       const std::string& source, const KubeconfigOptions& options,
                                       const Seams& seams) {
  try {
    return Resolve(documents, source, options, seams);
  } catch (const YAML::Exception& e) {
    return YamlError(source, e, "");
  }
}

// A kubeconfig named by the caller or by $HOME, which must be there; `fix` says how.
Result<ClusterAccess> LoadFile(const std::string& path, const std::string& fix,
                               const KubeconfigOptions& options, const Seams& seams) {
  Result<std::string> text = ReadFile(path);
  if (!text.ok())
    return Status::NotFound("kubeconfig " + path + " cannot be read (" + text.status().message() +
                            "): " + fix);
  return ParseKubeconfig(*text, path, options, seams);
}

}  // namespace

Status RefreshExecCredential(ClusterAccess& access, const Seams& seams) {
  if (!access.exec) return Status::Ok();
  const ExecPlugin& plugin = *access.exec;
  const Where where{.source = access.source, .entry = "user " + access.user};
  RunOptions run;
  run.timeout = std::chrono::seconds(60);
  run.extra_env = plugin.env;
  // As kubectl does: the plugin learns which ExecCredential version to answer, never interactive.
  run.extra_env.push_back("KUBERNETES_EXEC_INFO=" +
                          nlohmann::json{{"apiVersion", plugin.api_version},
                                         {"kind", "ExecCredential"},
                                         {"spec", {{"interactive", false}}}}
                              .dump());
  Result<RunResult> ran = seams.processes->Run(plugin.argv, run);
  if (!ran.ok())
    return where.Error("exec plugin " + plugin.argv[0] + " cannot run (" + ran.status().message() +
                       "): install it or fix exec.command");
  if (ran->timed_out || ran->signaled || ran->exit_code != 0)
    return where.Error("exec plugin " + plugin.argv[0] + " failed (exit " +
                       std::to_string(ran->exit_code) + "): " + ran->err +
                       "; run it by hand to see why");
  const nlohmann::json answer = nlohmann::json::parse(ran->out, nullptr, false);
  if (!answer.is_object() || answer.value("kind", "") != "ExecCredential" ||
      !answer.contains("status") || !answer["status"].is_object())
    return where.Error("exec plugin " + plugin.argv[0] +
                       " did not print an ExecCredential with a status on stdout");
  const nlohmann::json& status = answer["status"];
  access.token = status.value("token", "");
  if (status.contains("clientCertificateData")) {
    access.client_cert_pem = status.value("clientCertificateData", "");
    access.client_key_pem = status.value("clientKeyData", "");
  }
  if (access.token.empty() && access.client_cert_pem.empty())
    return where.Error("exec plugin " + plugin.argv[0] +
                       " gave neither status.token nor status.clientCertificateData");
  access.token_expiry.reset();
  if (const std::string expiry = status.value("expirationTimestamp", ""); !expiry.empty()) {
    access.token_expiry = ParseRfc3339(expiry);
    if (!access.token_expiry)
      return where.Error("exec plugin's expirationTimestamp '" + expiry + "' is not RFC 3339");
  }
  (void)seams;
  return Status::Ok();
}

Result<ClusterAccess> ParseKubeconfig(const std::string& text, const std::string& source,
                                      const KubeconfigOptions& options, const Seams& seams) {
  CARRIERARR_ASSIGN_OR_RETURN(Document document, ParseDocument(text, source));
  return ResolveDocuments({document}, source, options, seams);
}

Result<ClusterAccess> LoadKubeconfig(const KubeconfigOptions& options, const Seams& seams) {
  if (!options.path.empty()) return LoadFile(options.path, "fix the path", options, seams);
  // $KUBECONFIG lists files merged as kubectl merges them: the first to name a context, cluster
  // or user wins, and a listed file that does not exist is skipped.
  std::vector<std::string> listed;
  const std::string list = seams.environment.Get("KUBECONFIG");
  for (size_t at = 0; at <= list.size();) {
    const size_t colon = std::min(list.find(':', at), list.size());
    if (colon > at) listed.push_back(list.substr(at, colon - at));
    at = colon + 1;
  }
  if (listed.empty()) {
    if (seams.environment.home.empty())
      return Status::FailedPrecondition(
          "no kubeconfig: neither $KUBECONFIG nor $HOME is set; pass the kubeconfig's path");
    return LoadFile(seams.environment.home + "/.kube/config",
                    "copy the cluster's kubeconfig there or set $KUBECONFIG", options, seams);
  }
  std::vector<Document> documents;
  std::string read;  // the files merged, for messages
  for (const std::string& path : listed) {
    Result<std::string> text = ReadFile(path);
    if (!text.ok()) continue;
    CARRIERARR_ASSIGN_OR_RETURN(Document document, ParseDocument(*text, path));
    documents.push_back(std::move(document));
    read += (read.empty() ? "" : ":") + path;
  }
  if (documents.empty())
    return Status::NotFound(
        "no file listed in $KUBECONFIG (" + list +
        ") can be read: fix $KUBECONFIG or copy the cluster's kubeconfig there");
  return ResolveDocuments(documents, read, options, seams);
}

}  // namespace carrierarr::kube
