// The operator's clients of the admin API: nodes, exec, drain, command, tokens, events.
#include "cli/fleet_client.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "carrierarr/v1/fleet.grpc.pb.h"
#include "cli/flags.h"
#include "control_plane/http_api.h"
#include "core/duration.h"
#include "core/file_util.h"
#include "core/strings.h"

namespace carrierarr::cli {
namespace {

using carrierarr::v1::Fleet;
using std::chrono::nanoseconds;
using std::chrono::seconds;

// Beyond a waited command's own timeout: the control plane's grace before it marks the command
// timed_out (30 s), and some slack for the RPC itself.
constexpr seconds kWaitSlack{45};

// ---------------------------------------------------------------------------------------------
// Flags and the connection.

struct ClientFlags {
  std::string server, token_file, fleet_file, tls_ca;
  bool json = false;
  nanoseconds rpc_timeout{seconds(10)};
};

// Registers the shared flags; `rpc_timeout` false leaves -timeout to the command itself.
void AddClientFlags(FlagSet& flags, ClientFlags* c, bool rpc_timeout) {
  flags.String("server", &c->server, "",
               "control plane: unix:PATH or HOST:PORT (env CARRIERARR_SERVER; default "
               "unix:<fleet dir>/.carrierarr/control/serve.sock)");
  flags.String("admin-token-file", &c->token_file, "",
               "file holding the admin token (env CARRIERARR_ADMIN_TOKEN_FILE; default "
               "<fleet dir>/.carrierarr/control/admin.token)");
  flags.String("f", &c->fleet_file, "fleet.yaml",
               "fleet.yaml; its directory is where the defaults above are looked for");
  flags.String("tls-ca", &c->tls_ca, "",
               "PEM CA certificate: use TLS to HOST:PORT, verified by it");
  flags.Bool("json", &c->json, false, "print JSON (proto field names) instead of text");
  if (rpc_timeout)
    flags.Duration("timeout", &c->rpc_timeout, seconds(10), "how long to wait for an answer");
}

// Parses flags wherever they are among the arguments ("nodes get ID -json" and
// "nodes -json get ID" alike). After `verbatim_after` positional arguments, the rest is taken
// as it is (exec's program and its arguments, flags of theirs included); "--" also ends the
// flags.
Status ParseInterspersed(FlagSet& flags, const std::vector<std::string>& args,
                         size_t verbatim_after, std::vector<std::string>* positional,
                         std::vector<std::string>* verbatim) {
  std::vector<std::string> rest = args;
  while (true) {
    CARRIERARR_RETURN_IF_ERROR(flags.Parse(rest));
    const size_t consumed = rest.size() - flags.args().size();
    const bool dashdash = consumed > 0 && rest[consumed - 1] == "--";
    std::vector<std::string> left = flags.args();
    if (dashdash || positional->size() >= verbatim_after) {
      if (verbatim) {
        verbatim->insert(verbatim->end(), left.begin(), left.end());
      } else {
        positional->insert(positional->end(), left.begin(), left.end());
      }
      return Status::Ok();
    }
    if (left.empty()) return Status::Ok();
    positional->push_back(left.front());
    rest.assign(left.begin() + 1, left.end());
  }
}

std::string FleetDir(const ClientFlags& c) {
  std::filesystem::path dir = std::filesystem::path(c.fleet_file).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  auto abs = std::filesystem::absolute(dir, ec);
  std::string out = (ec ? dir : abs).lexically_normal().string();
  if (out.size() > 1 && out.back() == '/') out.pop_back();  // "/fleet/." normalizes to "/fleet/"
  return out;
}

// Fills in the defaults that depend on the environment and on -f.
void ResolveDefaults(const FlagSet& flags, ClientFlags* c) {
  const std::string control = FleetDir(*c) + "/.carrierarr/control/";
  if (!flags.WasSet("server")) {
    const char* env = std::getenv("CARRIERARR_SERVER");
    c->server = env && *env ? env : "unix:" + control + "serve.sock";
  }
  if (!flags.WasSet("admin-token-file")) {
    const char* env = std::getenv("CARRIERARR_ADMIN_TOKEN_FILE");
    c->token_file = env && *env ? env : control + "admin.token";
  }
}

class Client {
 public:
  // Reads the admin token and opens the channel (lazily: nothing connects until the first RPC).
  static std::unique_ptr<Client> Open(const ClientFlags& c, std::ostream& err) {
    auto token = ReadFile(c.token_file);
    if (!token.ok()) {
      err << "Error: cannot read the admin token: " << token.status().message()
          << "\n  is 'carrierarr up' done / 'carrierarr serve' running for this fleet? Run in "
             "the fleet's directory, or pass -f fleet.yaml or --admin-token-file\n";
      return nullptr;
    }
    std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
    if (!c.tls_ca.empty()) {
      if (c.server.rfind("unix:", 0) == 0) {
        err << "Error: --tls-ca is for HOST:PORT servers; unix sockets are plain\n";
        return nullptr;
      }
      auto ca = ReadFile(c.tls_ca);
      if (!ca.ok()) {
        err << "Error: --tls-ca: " << ca.status().message() << "\n";
        return nullptr;
      }
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = *ca;
      credentials = grpc::SslCredentials(ssl);
    }
    grpc::ChannelArguments args;
    // A fleet of thousands of nodes with their statuses is far over gRPC's 4 MiB default.
    args.SetMaxReceiveMessageSize(256 << 20);
    auto client = std::unique_ptr<Client>(new Client(c));
    client->token_ = std::string(TrimSpace(*token));
    client->stub_ = Fleet::NewStub(grpc::CreateCustomChannel(c.server, credentials, args));
    return client;
  }

  Fleet::Stub& stub() { return *stub_; }

  // A context with the admin token and a deadline `timeout` from now (none when zero).
  std::unique_ptr<grpc::ClientContext> Context(nanoseconds timeout) const {
    auto context = std::make_unique<grpc::ClientContext>();
    context->AddMetadata("authorization", "Bearer " + token_);
    if (timeout.count() > 0)
      context->set_deadline(std::chrono::system_clock::now() +
                            std::chrono::duration_cast<std::chrono::microseconds>(timeout));
    return context;
  }

  // Explains a failed RPC on `err`; returns the exit code (1).
  int Fail(const grpc::Status& status, std::ostream& err) const {
    const std::string& m = status.error_message();
    switch (status.error_code()) {
      case grpc::StatusCode::UNAVAILABLE:
        if (m.find("connect") != std::string::npos || m.find("DNS") != std::string::npos ||
            m.find("Socket closed") != std::string::npos ||
            m.find("handshake") != std::string::npos || m.find("ssl") != std::string::npos ||
            m.find("SSL") != std::string::npos) {
          err << "Error: cannot reach the control plane at " << flags_.server
              << ": is 'carrierarr up' done / 'carrierarr serve' running? (" << m << ")\n";
          return 1;
        }
        break;
      case grpc::StatusCode::UNAUTHENTICATED:
        err << "Error: the control plane refused the admin token from " << flags_.token_file << ": "
            << m << "\n  (is it the admin.token of the control plane at " << flags_.server
            << "? see --admin-token-file)\n";
        return 1;
      case grpc::StatusCode::DEADLINE_EXCEEDED:
        err << "Error: no answer from the control plane at " << flags_.server << " in time (" << m
            << "); a longer --timeout may help\n";
        return 1;
      default:
        break;
    }
    err << "Error: " << m << "\n";
    return 1;
  }

 private:
  explicit Client(const ClientFlags& c) : flags_(c) {}
  ClientFlags flags_;
  std::string token_;
  std::unique_ptr<Fleet::Stub> stub_;
};

// ---------------------------------------------------------------------------------------------
// Output helpers.

std::string ProtoJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok()) return "{}";
  return out;
}

// Columns padded to their widest cell, two spaces apart.
void PrintTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], row[i].size());
    }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out << line << "\n";
  }
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Ago(int64_t unix_ms) {
  if (unix_ms <= 0) return "never";
  int64_t s = std::max<int64_t>(0, (NowMs() - unix_ms) / 1000);
  if (s < 120) return std::to_string(s) + "s ago";
  if (s < 7200) return std::to_string(s / 60) + "m ago";
  if (s < 172800) return std::to_string(s / 3600) + "h ago";
  return std::to_string(s / 86400) + "d ago";
}

std::string UtcTime(int64_t unix_seconds) {
  if (unix_seconds <= 0) return "-";
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string Percent(double v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

// "GPU_WORKER" -> "gpu-worker": how people write it on the command line.
std::string Lower(std::string name, const std::string& prefix) {
  if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
  for (char& c : name) c = c == '_' ? '-' : static_cast<char>(std::tolower(c));
  return name;
}

std::string NodeTypeName(ec2agent::v1::NodeType t) {
  return t == ec2agent::v1::NODE_TYPE_UNSPECIFIED
             ? "-"
             : Lower(ec2agent::v1::NodeType_Name(t), "NODE_TYPE_");
}

std::string CommandTypeName(ec2agent::v1::CommandType t) {
  return Lower(ec2agent::v1::CommandType_Name(t), "COMMAND_TYPE_");
}

std::string ServiceText(const ec2agent::v1::ServiceStatus& s) {
  std::string text = s.state() == ec2agent::v1::SERVICE_STATE_UNSPECIFIED
                         ? "unknown"
                         : Lower(ec2agent::v1::ServiceState_Name(s.state()), "SERVICE_STATE_");
  if (!s.message().empty()) text += " (" + s.message() + ")";
  return text;
}

std::string MemPercent(const ec2agent::v1::ResourceUsage& r) {
  if (r.memory_total_mb() <= 0) return "-";
  return Percent(100.0 * static_cast<double>(r.memory_used_mb()) /
                 static_cast<double>(r.memory_total_mb()));
}

int LoadedModels(const ec2agent::v1::NodeStatus& s) {
  return static_cast<int>(std::count_if(s.loaded_models().begin(), s.loaded_models().end(),
                                        [](const auto& m) { return m.currently_loaded(); }));
}

// The usage line, then the flags; what -h prints and what a usage error is followed by.
int UsageError(std::ostream& err, const std::string& message, const std::string& usage,
               const FlagSet& flags) {
  err << "Error: " << message << "\n" << usage << flags.Usage();
  return 2;
}

// Parses the flags of a client command. Returns -1 to go on, else the exit code to return.
int ParseClientArgs(FlagSet& flags, ClientFlags* c, const std::vector<std::string>& args,
                    size_t verbatim_after, std::vector<std::string>* positional,
                    std::vector<std::string>* verbatim, const std::string& usage, std::ostream& out,
                    std::ostream& err) {
  Status parsed = ParseInterspersed(flags, args, verbatim_after, positional, verbatim);
  if (flags.help()) {
    out << usage << flags.Usage();
    return 0;
  }
  if (!parsed.ok()) return UsageError(err, parsed.message(), usage, flags);
  if (c->rpc_timeout.count() < 0)
    return UsageError(err, "-timeout must not be negative", usage, flags);
  ResolveDefaults(flags, c);
  return -1;
}

// ---------------------------------------------------------------------------------------------
// Commands and their results (exec, drain, command).

bool Finished(const carrierarr::v1::CommandRecord& r) {
  return r.state() != "queued" && r.state() != "sent";
}

// Sends the request (waiting when it asks to); prints the result. For exec, the program's own
// output goes to out/err as it is, and the exit code is the program's.
int SendAndReport(Client& client, const ClientFlags& c,
                  const carrierarr::v1::SendCommandRequest& request, bool exec_style,
                  std::ostream& out, std::ostream& err) {
  const nanoseconds deadline =
      request.wait()
          ? nanoseconds(seconds(request.timeout_seconds() > 0 ? request.timeout_seconds() : 3600) +
                        kWaitSlack)
          : seconds(30);
  carrierarr::v1::CommandRecord record;
  grpc::Status st = client.stub().SendCommand(client.Context(deadline).get(), request, &record);
  if (!st.ok()) return client.Fail(st, err);
  const auto& result = record.result();
  int code = 0;
  if (!request.wait()) {
    code = 0;
  } else if (!Finished(record) || record.state() == "timed_out") {
    code = 1;
  } else if (exec_style) {
    code = result.exit_code();
    if (code < 0 || code > 255) code = 1;  // a shell's exit code is 8 bits
    if (code == 0 && !result.success()) code = 1;
  } else {
    code = record.state() == "succeeded" ? 0 : 1;
  }
  if (c.json) {
    out << ProtoJson(record) << "\n";
    return code;
  }
  if (!request.wait()) {
    out << record.command_id() << " " << record.state() << "\n";
    err << "(queued " << CommandTypeName(record.type()) << " for " << record.node_id()
        << "; its result shows in 'carrierarr events')\n";
    return 0;
  }
  if (!Finished(record)) {
    err << "Error: no result from " << record.node_id() << " yet (command " << record.command_id()
        << " is " << record.state()
        << "); the node may be offline: it gets the command when it reconnects\n";
    return 1;
  }
  if (record.state() == "timed_out") {
    err << "Error: command " << record.command_id() << " timed out: " << record.node_id()
        << " sent no result within " << request.timeout_seconds() << "s plus the grace period\n";
    return 1;
  }
  out << result.stdout();
  err << result.stderr();
  if (!result.error().empty()) err << "Error: " << result.error() << "\n";
  if (!exec_style) {
    if (!result.stdout().empty() && result.stdout().back() != '\n') out << "\n";
    err << CommandTypeName(record.type()) << " on " << record.node_id() << ": " << record.state()
        << (result.exit_code() != 0 ? " (exit " + std::to_string(result.exit_code()) + ")" : "")
        << " in " << result.duration_ms() << " ms\n";
  }
  return code;
}

// Whole seconds of a duration flag, for timeout_seconds (0..86400).
bool TimeoutSeconds(nanoseconds d, int32_t* out) {
  auto s = std::chrono::duration_cast<seconds>(d).count();
  if (d.count() < 0 || s > 86400) return false;
  if (d.count() > 0 && s == 0) s = 1;
  *out = static_cast<int32_t>(s);
  return true;
}

// ---------------------------------------------------------------------------------------------
// nodes

constexpr char kNodesUsage[] =
    "Usage: carrierarr nodes [flags]              list the registered nodes\n"
    "       carrierarr nodes get ID [flags]       one node in detail, with its last status\n"
    "       carrierarr nodes delete ID [flags]    forget a node (it must enroll again)\n\n"
    "Flags:\n";

void PrintNodeDetails(const carrierarr::v1::Node& n, std::ostream& out) {
  std::vector<std::vector<std::string>> rows;
  auto row = [&](const std::string& k, const std::string& v) {
    if (!v.empty()) rows.push_back({k + ":", v});
  };
  row("node", n.node_id());
  row("type", NodeTypeName(n.node_type()));
  row("lifecycle", n.lifecycle());
  row("nebula ip", n.nebula_ip());
  row("public ip", n.public_ip());
  row("instance", n.instance_id());
  row("region", n.region() + (n.availability_zone().empty() ? "" : " / " + n.availability_zone()));
  std::string labels;
  for (const auto& [k, v] :
       std::map<std::string, std::string>(n.labels().begin(), n.labels().end()))
    labels += (labels.empty() ? "" : ", ") + k + "=" + v;
  row("labels", labels);
  const auto& cap = n.capabilities();
  std::string caps = std::to_string(cap.cpu_cores()) + " cores, " +
                     std::to_string(cap.memory_mb()) + " MiB memory, " +
                     std::to_string(cap.disk_mb()) + " MiB disk";
  if (cap.gpu_count() > 0 || cap.has_gpu())
    caps += ", " + std::to_string(cap.gpu_count()) + " x " +
            (cap.gpu_model().empty() ? "GPU" : cap.gpu_model()) + " (" +
            std::to_string(cap.gpu_memory_mb()) + " MiB)";
  row("capacity", caps);
  row("agent", n.agent_version());
  row("registered", UtcTime(n.registered_unix()));
  row("last seen", Ago(n.last_seen_unix_ms()));
  if (!n.has_last_status()) {
    row("status", "none received yet");
  } else {
    const auto& s = n.last_status();
    const auto& r = s.resources();
    std::string health = s.health() == ec2agent::v1::HEALTH_STATE_UNSPECIFIED
                             ? "unknown"
                             : Lower(ec2agent::v1::HealthState_Name(s.health()), "HEALTH_STATE_");
    row("health",
        health + (s.has_timestamp() ? " (as of " + UtcTime(s.timestamp().seconds()) + ")" : ""));
    row("cpu", Percent(r.cpu_percent()) + "%");
    row("memory", std::to_string(r.memory_used_mb()) + " / " + std::to_string(r.memory_total_mb()) +
                      " MiB (" + MemPercent(r) + "%)");
    row("disk",
        std::to_string(r.disk_used_mb()) + " / " + std::to_string(r.disk_total_mb()) + " MiB");
    row("uptime",
        std::to_string(s.uptime_seconds()) + "s, idle " + std::to_string(s.idle_seconds()) + "s");
    row("nebula", ServiceText(s.nebula()));
    row("k3s", ServiceText(s.k3s()));
    row("ollama", ServiceText(s.ollama()));
    row("liqo", ServiceText(s.liqo()));
    for (const auto& g : s.gpus())
      row("gpu " + std::to_string(g.index()),
          g.name() + ": " + Percent(g.utilization_percent()) + "% busy, " +
              std::to_string(g.memory_used_mb()) + " / " + std::to_string(g.memory_total_mb()) +
              " MiB, " + std::to_string(g.temperature_c()) + " C");
    for (const auto& m : s.loaded_models())
      row("model", m.name() + (m.currently_loaded() ? " (loaded)" : "") + ", " +
                       std::to_string(m.size_bytes() >> 20) + " MiB");
  }
  PrintTable(out, rows);
}

}  // namespace

int RunNodes(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  FlagSet flags;
  ClientFlags c;
  AddClientFlags(flags, &c, /*rpc_timeout=*/true);
  std::vector<std::string> pos;
  int rc = ParseClientArgs(flags, &c, args, SIZE_MAX, &pos, nullptr, kNodesUsage, out, err);
  if (rc >= 0) return rc;
  const std::string sub = pos.empty() ? "list" : pos[0];
  if ((sub == "list" && pos.size() > 1) || ((sub == "get" || sub == "delete") && pos.size() != 2))
    return UsageError(err, "wrong number of arguments for \"nodes " + sub + "\"", kNodesUsage,
                      flags);
  if (sub != "list" && sub != "get" && sub != "delete")
    return UsageError(err, "unknown nodes subcommand \"" + sub + "\" (list, get, delete)",
                      kNodesUsage, flags);
  auto client = Client::Open(c, err);
  if (!client) return 1;

  if (sub == "get") {
    carrierarr::v1::GetNodeRequest request;
    request.set_node_id(pos[1]);
    carrierarr::v1::Node node;
    grpc::Status st = client->stub().GetNode(client->Context(c.rpc_timeout).get(), request, &node);
    if (!st.ok()) return client->Fail(st, err);
    if (c.json)
      out << ProtoJson(node) << "\n";
    else
      PrintNodeDetails(node, out);
    return 0;
  }
  if (sub == "delete") {
    carrierarr::v1::DeleteNodeRequest request;
    request.set_node_id(pos[1]);
    carrierarr::v1::DeleteNodeResponse response;
    grpc::Status st =
        client->stub().DeleteNode(client->Context(c.rpc_timeout).get(), request, &response);
    if (!st.ok()) return client->Fail(st, err);
    if (c.json)
      out << R"({"node_id":")" << pos[1] << R"(","deleted":true})"
          << "\n";
    else
      out << "deleted node " << pos[1] << "\n";
    return 0;
  }
  carrierarr::v1::ListNodesResponse response;
  grpc::Status st = client->stub().ListNodes(client->Context(c.rpc_timeout).get(),
                                             carrierarr::v1::ListNodesRequest(), &response);
  if (!st.ok()) return client->Fail(st, err);
  if (c.json) {
    out << ProtoJson(response) << "\n";
    return 0;
  }
  if (response.nodes().empty()) {
    err << "no nodes registered yet (enroll agents with a token from 'carrierarr tokens "
           "create')\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows = {
      {"NODE", "TYPE", "LIFECYCLE", "NEBULA IP", "CPU%", "MEM%", "GPUS", "MODELS", "LAST SEEN"}};
  for (const auto& n : response.nodes()) {
    const bool s = n.has_last_status();
    const auto& status = n.last_status();
    const int gpus =
        s && status.gpus_size() > 0 ? status.gpus_size() : n.capabilities().gpu_count();
    rows.push_back({n.node_id(), NodeTypeName(n.node_type()), n.lifecycle(),
                    n.nebula_ip().empty() ? "-" : n.nebula_ip(),
                    s ? Percent(status.resources().cpu_percent()) : "-",
                    s ? MemPercent(status.resources()) : "-", std::to_string(gpus),
                    s ? std::to_string(LoadedModels(status)) : "-", Ago(n.last_seen_unix_ms())});
  }
  PrintTable(out, rows);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// exec, drain, command

namespace {

constexpr char kExecUsage[] =
    "Usage: carrierarr exec NODE [flags] -- PROGRAM [ARGS...]\n\n"
    "Runs PROGRAM with ARGS on NODE exactly as given (no shell, nothing split or joined), and\n"
    "prints its output; exits with its exit code. Needs 'carrierarr serve --allow-exec' and\n"
    "the agent's --allow-exec.\n\nFlags:\n";

constexpr char kDrainUsage[] =
    "Usage: carrierarr drain NODE [flags]\n\n"
    "Cordons NODE in Kubernetes, drains its workloads (kubectl drain --ignore-daemonsets\n"
    "--delete-emptydir-data), then shuts it down. Waits for the result.\n\nFlags:\n";

constexpr char kCommandUsage[] =
    "Usage: carrierarr command NODE TYPE [KEY=VALUE...] [flags]\n\n"
    "Sends any command to NODE. TYPE: shutdown, reboot, drain, pull-model (model=NAME),\n"
    "unload-model (model=NAME), exec (cmd=PROGRAM), update-config (heartbeat_interval_sec=N,\n"
    "status_interval_sec=N), restart-service (service=nebula|k3s|k3s-agent|ollama|liqo), or\n"
    "the enum names (COMMAND_TYPE_REBOOT). Exits 0 when the command succeeded.\n\nFlags:\n";

}  // namespace

int RunExec(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  FlagSet flags;
  ClientFlags c;
  AddClientFlags(flags, &c, /*rpc_timeout=*/false);
  nanoseconds timeout;
  bool no_wait = false;
  flags.Duration("timeout", &timeout, seconds(60), "how long the program may run on the node");
  flags.Bool("no-wait", &no_wait, false, "queue it and print the command id; do not wait");
  std::vector<std::string> pos, argv;
  int rc = ParseClientArgs(flags, &c, args, 1, &pos, &argv, kExecUsage, out, err);
  if (rc >= 0) return rc;
  if (pos.empty()) return UsageError(err, "exec needs a NODE", kExecUsage, flags);
  if (argv.empty())
    return UsageError(err, "exec needs a PROGRAM after the node", kExecUsage, flags);
  carrierarr::v1::SendCommandRequest request;
  int32_t timeout_s = 0;
  if (!TimeoutSeconds(timeout, &timeout_s))
    return UsageError(err, "-timeout must be between 0 (none) and 24h", kExecUsage, flags);
  request.set_node_id(pos[0]);
  request.set_type(ec2agent::v1::COMMAND_TYPE_EXEC);
  for (const auto& a : argv) request.add_argv(a);
  request.set_timeout_seconds(timeout_s);
  request.set_wait(!no_wait);
  auto client = Client::Open(c, err);
  if (!client) return 1;
  return SendAndReport(*client, c, request, /*exec_style=*/true, out, err);
}

int RunDrain(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  FlagSet flags;
  ClientFlags c;
  AddClientFlags(flags, &c, /*rpc_timeout=*/false);
  nanoseconds timeout;
  bool force = false, no_wait = false;
  std::string k8s_node;
  flags.Duration("timeout", &timeout, std::chrono::minutes(5),
                 "how long kubectl drain may take (kubectl drain --timeout)");
  flags.Bool("force", &force, false, "also evict pods no controller manages (kubectl --force)");
  flags.Bool("no-wait", &no_wait, false, "queue it and print the command id; do not wait");
  flags.String("k8s-node", &k8s_node, "", "the node's Kubernetes name (default: NODE)");
  std::vector<std::string> pos;
  int rc = ParseClientArgs(flags, &c, args, SIZE_MAX, &pos, nullptr, kDrainUsage, out, err);
  if (rc >= 0) return rc;
  if (pos.size() != 1) return UsageError(err, "drain needs exactly one NODE", kDrainUsage, flags);
  int32_t timeout_s = 0;
  if (!TimeoutSeconds(timeout, &timeout_s) || timeout_s == 0)
    return UsageError(err, "-timeout must be between 1s and 24h", kDrainUsage, flags);
  carrierarr::v1::SendCommandRequest request;
  request.set_node_id(pos[0]);
  request.set_type(ec2agent::v1::COMMAND_TYPE_DRAIN);
  (*request.mutable_args())["node"] = k8s_node.empty() ? pos[0] : k8s_node;
  (*request.mutable_args())["force"] = force ? "true" : "false";
  (*request.mutable_args())["timeout"] = std::to_string(timeout_s) + "s";
  // The agent cordons, drains (bounded by the drain timeout), then shuts down: give it a minute
  // beyond the drain.
  request.set_timeout_seconds(std::min(86400, timeout_s + 60));
  request.set_wait(!no_wait);
  auto client = Client::Open(c, err);
  if (!client) return 1;
  return SendAndReport(*client, c, request, /*exec_style=*/false, out, err);
}

int RunFleetCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  FlagSet flags;
  ClientFlags c;
  AddClientFlags(flags, &c, /*rpc_timeout=*/false);
  nanoseconds timeout;
  bool no_wait = false;
  flags.Duration("timeout", &timeout, std::chrono::minutes(10),
                 "how long the command may run on the node (0 = no limit)");
  flags.Bool("no-wait", &no_wait, false, "queue it and print the command id; do not wait");
  std::vector<std::string> pos;
  int rc = ParseClientArgs(flags, &c, args, SIZE_MAX, &pos, nullptr, kCommandUsage, out, err);
  if (rc >= 0) return rc;
  if (pos.size() < 2) return UsageError(err, "command needs NODE and TYPE", kCommandUsage, flags);
  int type = 0;
  if (!control_plane::ParseCommandType(pos[1], &type))
    return UsageError(err, "unknown command type \"" + pos[1] + "\"", kCommandUsage, flags);
  int32_t timeout_s = 0;
  if (!TimeoutSeconds(timeout, &timeout_s))
    return UsageError(err, "-timeout must be between 0 (none) and 24h", kCommandUsage, flags);
  carrierarr::v1::SendCommandRequest request;
  request.set_node_id(pos[0]);
  request.set_type(static_cast<ec2agent::v1::CommandType>(type));
  for (size_t i = 2; i < pos.size(); ++i) {
    auto eq = pos[i].find('=');
    if (eq == std::string::npos || eq == 0)
      return UsageError(err, "\"" + pos[i] + "\" is not KEY=VALUE", kCommandUsage, flags);
    (*request.mutable_args())[pos[i].substr(0, eq)] = pos[i].substr(eq + 1);
  }
  request.set_timeout_seconds(timeout_s);
  request.set_wait(!no_wait);
  auto client = Client::Open(c, err);
  if (!client) return 1;
  return SendAndReport(*client, c, request, /*exec_style=*/false, out, err);
}

// ---------------------------------------------------------------------------------------------
// tokens

namespace {

constexpr char kTokensUsage[] =
    "Usage: carrierarr tokens create [--name N] [--uses 1] [--ttl 24h] [--out FILE] [flags]\n"
    "       carrierarr tokens list [flags]\n"
    "       carrierarr tokens revoke ID [flags]\n\n"
    "Enrollment tokens let agents register (carrierarr-agent --token-file). 'create' prints the\n"
    "secret once (or writes it, mode 0600, to --out); only its hash is kept.\n\nFlags:\n";

std::string TokenState(const carrierarr::v1::Token& t) {
  if (t.revoked()) return "revoked";
  if (t.expires_unix() > 0 && t.expires_unix() * 1000 <= NowMs()) return "expired";
  if (t.max_uses() > 0 && t.uses() >= t.max_uses()) return "used up";
  return "active";
}

}  // namespace

int RunTokens(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  FlagSet flags;
  ClientFlags c;
  AddClientFlags(flags, &c, /*rpc_timeout=*/true);
  std::string name, out_file;
  int64_t uses = 1;
  nanoseconds ttl;
  bool force = false;
  flags.String("name", &name, "", "a label for the token (create), e.g. the node it is for");
  flags.Int("uses", &uses, 1, "how many registrations it allows (create; 0 = reusable until -ttl)");
  flags.Duration("ttl", &ttl, std::chrono::hours(24), "how long it stays valid (create; 0 = ever)");
  flags.String("out", &out_file, "", "write the secret to this file, mode 0600 (create)");
  flags.Bool("force", &force, false, "let -out replace an existing file (create)");
  std::vector<std::string> pos;
  int rc = ParseClientArgs(flags, &c, args, SIZE_MAX, &pos, nullptr, kTokensUsage, out, err);
  if (rc >= 0) return rc;
  if (pos.empty())
    return UsageError(err, "tokens needs a subcommand: create, list or revoke", kTokensUsage,
                      flags);
  const std::string& sub = pos[0];
  if (sub == "create") {
    if (pos.size() != 1)
      return UsageError(err, "unexpected argument \"" + pos[1] + "\"", kTokensUsage, flags);
    if (uses < 0 || uses > 1000000)
      return UsageError(err, "-uses must be between 0 (reusable) and 1000000", kTokensUsage, flags);
    if (ttl.count() < 0) return UsageError(err, "-ttl must not be negative", kTokensUsage, flags);
    // Checked before the token exists, so that a refusal wastes none; the write itself still
    // refuses to replace a file that appeared meanwhile.
    if (!out_file.empty() && !force && PathExists(out_file)) {
      err << "Error: " << out_file << " exists; pass --force to replace it\n";
      return 1;
    }
    auto client = Client::Open(c, err);
    if (!client) return 1;
    carrierarr::v1::CreateTokenRequest request;
    request.set_name(name);
    request.set_max_uses(static_cast<int32_t>(uses));
    request.set_ttl_seconds(std::chrono::duration_cast<seconds>(ttl).count());
    if (ttl.count() > 0 && request.ttl_seconds() == 0) request.set_ttl_seconds(1);
    carrierarr::v1::CreateTokenResponse response;
    grpc::Status st =
        client->stub().CreateToken(client->Context(c.rpc_timeout).get(), request, &response);
    if (!st.ok()) return client->Fail(st, err);
    const auto& t = response.token();
    if (!out_file.empty()) {
      Status written = WriteFileAtomic(out_file, response.secret() + "\n", 0600,
                                       force ? Overwrite::kYes : Overwrite::kNo);
      if (!written.ok()) {
        // Nobody will ever see this secret: revoke it rather than leave it usable.
        carrierarr::v1::RevokeTokenRequest revoke;
        revoke.set_id(t.id());
        carrierarr::v1::RevokeTokenResponse ignored;
        grpc::Status revoked =
            client->stub().RevokeToken(client->Context(c.rpc_timeout).get(), revoke, &ignored);
        err << "Error: " << written.message() << " (token " << t.id()
            << (revoked.ok() ? " revoked again)" : " NOT revoked: revoke it yourself)") << "\n";
        return 1;
      }
    }
    if (c.json) {
      out << (out_file.empty() ? ProtoJson(response) : ProtoJson(t)) << "\n";
      return 0;
    }
    const std::string what =
        (t.max_uses() == 0   ? std::string("reusable")
         : t.max_uses() == 1 ? "single use"
                             : std::to_string(t.max_uses()) + " uses") +
        (t.expires_unix() > 0 ? ", expires " + UtcTime(t.expires_unix()) : ", never expires");
    if (out_file.empty()) {
      // The secret alone on stdout, so that `carrierarr tokens create > f` captures just it.
      out << response.secret() << "\n";
      err << "token " << t.id() << " (" << what << "); the secret above is shown only once\n";
    } else {
      out << "token " << t.id() << " (" << what << ") written to " << out_file << "\n";
    }
    return 0;
  }
  if (sub == "list") {
    if (pos.size() != 1)
      return UsageError(err, "unexpected argument \"" + pos[1] + "\"", kTokensUsage, flags);
    auto client = Client::Open(c, err);
    if (!client) return 1;
    carrierarr::v1::ListTokensResponse response;
    grpc::Status st = client->stub().ListTokens(client->Context(c.rpc_timeout).get(),
                                                carrierarr::v1::ListTokensRequest(), &response);
    if (!st.ok()) return client->Fail(st, err);
    if (c.json) {
      out << ProtoJson(response) << "\n";
      return 0;
    }
    if (response.tokens().empty()) {
      err << "no tokens (create one with 'carrierarr tokens create')\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows = {
        {"ID", "NAME", "USES", "STATE", "EXPIRES", "CREATED"}};
    for (const auto& t : response.tokens())
      rows.push_back({t.id(), t.name().empty() ? "-" : t.name(),
                      std::to_string(t.uses()) + "/" +
                          (t.max_uses() == 0 ? "unlimited" : std::to_string(t.max_uses())),
                      TokenState(t), t.expires_unix() > 0 ? UtcTime(t.expires_unix()) : "never",
                      UtcTime(t.created_unix())});
    PrintTable(out, rows);
    return 0;
  }
  if (sub == "revoke") {
    if (pos.size() != 2)
      return UsageError(err, "tokens revoke needs one token ID", kTokensUsage, flags);
    auto client = Client::Open(c, err);
    if (!client) return 1;
    carrierarr::v1::RevokeTokenRequest request;
    request.set_id(pos[1]);
    carrierarr::v1::RevokeTokenResponse response;
    grpc::Status st =
        client->stub().RevokeToken(client->Context(c.rpc_timeout).get(), request, &response);
    if (!st.ok()) return client->Fail(st, err);
    if (c.json)
      out << R"({"id":")" << pos[1] << R"(","revoked":true})"
          << "\n";
    else
      out << "revoked token " << pos[1] << "\n";
    return 0;
  }
  return UsageError(err, "unknown tokens subcommand \"" + sub + "\" (create, list, revoke)",
                    kTokensUsage, flags);
}

// ---------------------------------------------------------------------------------------------
// events

namespace {

constexpr char kEventsUsage[] =
    "Usage: carrierarr events [--follow] [--after SEQ] [flags]\n\n"
    "Prints the control plane's events (registrations, connects, lifecycle changes, commands,\n"
    "tokens), one a line: TIME #SEQ NODE KIND MESSAGE. --follow keeps printing new ones until "
    "Ctrl-C.\n"
    "With --json, one JSON object per line.\n\nFlags:\n";

// Without --follow: the stream never ends by itself, so it is cancelled once no event came for
// this long (the server sends what it has at once, and polls every 500 ms).
constexpr std::chrono::milliseconds kCaughtUp{1200};

}  // namespace

int RunEvents(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  FlagSet flags;
  ClientFlags c;
  AddClientFlags(flags, &c, /*rpc_timeout=*/true);
  bool follow = false;
  int64_t after = 0;
  flags.Bool("follow", &follow, false, "keep printing new events until interrupted");
  flags.Int("after", &after, 0, "start after this sequence number (0 = the oldest kept)");
  std::vector<std::string> pos;
  int rc = ParseClientArgs(flags, &c, args, SIZE_MAX, &pos, nullptr, kEventsUsage, out, err);
  if (rc >= 0) return rc;
  if (!pos.empty())
    return UsageError(err, "unexpected argument \"" + pos[0] + "\"", kEventsUsage, flags);
  if (after < 0) return UsageError(err, "-after must not be negative", kEventsUsage, flags);
  auto client = Client::Open(c, err);
  if (!client) return 1;

  carrierarr::v1::WatchEventsRequest request;
  request.set_after_seq(after);
  // Following has no deadline; otherwise -timeout bounds the whole read.
  auto context = client->Context(follow ? nanoseconds(0) : c.rpc_timeout);
  auto reader = client->stub().WatchEvents(context.get(), request);

  std::mutex mu;
  std::condition_variable cv;
  auto last = std::chrono::steady_clock::now();
  bool done = false;
  std::atomic<bool> cancelled{false};
  std::thread watchdog;
  if (!follow) {
    watchdog = std::thread([&] {
      std::unique_lock lock(mu);
      while (!done) {
        if (std::chrono::steady_clock::now() - last >= kCaughtUp) {
          cancelled = true;
          context->TryCancel();
          return;
        }
        cv.wait_for(lock, std::chrono::milliseconds(100));
      }
    });
  }
  carrierarr::v1::Event e;
  while (reader->Read(&e)) {
    {
      std::lock_guard lock(mu);
      last = std::chrono::steady_clock::now();
    }
    if (c.json) {
      out << ProtoJson(e) << std::endl;  // flushed: a follower pipes it on as it comes
      continue;
    }
    // Padded to typical widths rather than measured: lines go out as the events come.
    std::string node = e.node_id().empty() ? "-" : e.node_id();
    std::string kind = e.kind();
    node.resize(std::max<size_t>(node.size(), 16), ' ');
    kind.resize(std::max<size_t>(kind.size(), 12), ' ');
    out << UtcTime(e.unix_ms() / 1000) << "  #" << e.seq() << "  " << node << "  " << kind << "  "
        << e.message() << std::endl;
  }
  grpc::Status st = reader->Finish();
  {
    std::lock_guard lock(mu);
    done = true;
  }
  cv.notify_all();
  if (watchdog.joinable()) watchdog.join();
  if (cancelled && st.error_code() == grpc::StatusCode::CANCELLED) return 0;
  if (!follow && st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) return 0;
  if (!st.ok()) return client->Fail(st, err);
  return 0;
}

}  // namespace carrierarr::cli
