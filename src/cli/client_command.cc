#include "cli/client_command.h"

#include <filesystem>

#include "core/file_util.h"
#include "core/strings.h"

namespace carrierarr::cli {
namespace {

using std::chrono::nanoseconds;
using std::chrono::seconds;

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
// as it is; "--" also ends the flags.
Status ParseInterspersed(FlagSet& flags, const std::vector<std::string>& args,
                         size_t verbatim_after, ClientArgs* out) {
  std::vector<std::string> rest = args;
  while (true) {
    CARRIERARR_RETURN_IF_ERROR(flags.Parse(rest));
    const size_t consumed = rest.size() - flags.args().size();
    const bool dashdash = consumed > 0 && rest[consumed - 1] == "--";
    std::vector<std::string> left = flags.args();
    if (dashdash || out->positional.size() >= verbatim_after) {
      auto& into = verbatim_after == SIZE_MAX ? out->positional : out->verbatim;
      into.insert(into.end(), left.begin(), left.end());
      return Status::Ok();
    }
    if (left.empty()) return Status::Ok();
    out->positional.push_back(left.front());
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
void ResolveDefaults(const FlagSet& flags, const Environment& env, ClientFlags* c) {
  const std::string control = FleetDir(*c) + "/.carrierarr/control/";
  if (!flags.WasSet("server")) {
    const std::string server = env.Get("CARRIERARR_SERVER");
    // A control plane in a cluster: `up` recorded where it listens ("HOST:PORT").
    auto recorded = ReadFile(control + "server");
    std::string address = recorded.ok() ? *recorded : "";
    while (!address.empty() && (address.back() == '\n' || address.back() == ' '))
      address.pop_back();
    c->server = !server.empty()    ? server
                : !address.empty() ? address
                                   : "unix:" + control + "serve.sock";
  }
  if (!flags.WasSet("admin-token-file")) {
    const std::string file = env.Get("CARRIERARR_ADMIN_TOKEN_FILE");
    c->token_file = !file.empty() ? file : control + "admin.token";
  }
}

// The usage text, then the flags; what -h prints and what a usage error is followed by.
int UsageError(std::ostream& err, const std::string& message, const std::string& usage,
               const FlagSet& flags) {
  err << "Error: " << message << "\n" << usage << flags.Usage();
  return kExitUsage;
}

}  // namespace

std::unique_ptr<Client> Client::Open(const ClientFlags& c, TimeSource* time, std::ostream& err) {
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
  auto client = std::unique_ptr<Client>(new Client(c, time));
  client->token_ = std::string(TrimSpace(*token));
  client->channel_ = grpc::CreateCustomChannel(c.server, credentials, args);
  client->stub_ = carrierarr::v1::Fleet::NewStub(client->channel_);
  return client;
}

std::unique_ptr<grpc::ClientContext> Client::Context(nanoseconds timeout) const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->AddMetadata("authorization", "Bearer " + token_);
  if (timeout.count() > 0)
    context->set_deadline(time_->SystemNow() +
                          std::chrono::duration_cast<std::chrono::microseconds>(timeout));
  return context;
}

int Client::Fail(const grpc::Status& status, std::ostream& err) const {
  const std::string& m = status.error_message();
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      // The server itself answers UNAVAILABLE too (its store is down); only then is the channel
      // still connected. Otherwise the connection, its name lookup or its TLS handshake failed.
      if (channel_->GetState(/*try_to_connect=*/false) != GRPC_CHANNEL_READY) {
        err << "Error: cannot reach the control plane at " << flags_.server
            << ": is 'carrierarr up' done / 'carrierarr serve' running? (" << m << ")\n";
        return kExitFailure;
      }
      break;
    case grpc::StatusCode::UNAUTHENTICATED:
      err << "Error: the control plane refused the admin token from " << flags_.token_file << ": "
          << m << "\n  (is it the admin.token of the control plane at " << flags_.server
          << "? see --admin-token-file)\n";
      return kExitFailure;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      err << "Error: no answer from the control plane at " << flags_.server << " in time (" << m
          << "); a longer --timeout may help\n";
      return kExitFailure;
    default:
      break;
  }
  err << "Error: " << m << "\n";
  return kExitFailure;
}

int RunClientCommand(ClientCommand& command, const Invocation& invocation) {
  const std::string usage = command.Spec().usage;
  FlagSet flags;
  ClientFlags& c = command.flags_;
  AddClientFlags(flags, &c, command.rpc_timeout_flag());
  command.DeclareFlags(flags);
  ClientArgs args;
  Status parsed = ParseInterspersed(flags, invocation.args, command.verbatim_after(), &args);
  if (flags.help()) {
    invocation.out << usage << flags.Usage();
    return kExitOk;
  }
  if (!parsed.ok()) return UsageError(invocation.err, parsed.message(), usage, flags);
  if (c.rpc_timeout.count() < 0)
    return UsageError(invocation.err, "-timeout must not be negative", usage, flags);
  ResolveDefaults(flags, invocation.seams.environment, &c);
  if (Status checked = command.Check(args); !checked.ok()) {
    if (checked.code() == StatusCode::kInvalidArgument)
      return UsageError(invocation.err, checked.message(), usage, flags);
    invocation.err << "Error: " << checked.message() << "\n";
    return kExitFailure;
  }
  auto client = Client::Open(c, invocation.seams.time, invocation.err);
  if (!client) return kExitFailure;
  return command.Run(*client, args, invocation);
}

std::string FleetStateDir(const ClientFlags& flags) { return FleetDir(flags) + "/.carrierarr"; }

bool TimeoutSeconds(nanoseconds d, int32_t* out) {
  auto s = std::chrono::duration_cast<seconds>(d).count();
  if (d.count() < 0 || s > 86400) return false;
  if (d.count() > 0 && s == 0) s = 1;
  *out = static_cast<int32_t>(s);
  return true;
}

}  // namespace carrierarr::cli
