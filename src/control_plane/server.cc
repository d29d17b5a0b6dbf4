#include "control_plane/server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "burst/controller.h"
#include "control_plane/auth.h"
#include "control_plane/control_plane.h"
#include "control_plane/grpc_services.h"
#include "control_plane/http_api.h"
#include "control_plane/serve_drain.h"
#include "core/file_util.h"
#include "core/ipv4.h"
#include "core/strings.h"
#include "core/time_source.h"
#include "core/version.h"
#include "gateway/gateway.h"
#include "mesh/address_plan.h"
#include "pki/keys.h"

namespace carrierarr::control_plane {
namespace {

// A unix socket left behind by a control plane that died is removed; one that still answers
// belongs to a running control plane and is an error, never taken over.
Status ClaimUnixSocket(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return Status::Ok();
  if (!S_ISSOCK(st.st_mode))
    return Status::AlreadyExists(path + " exists and is not a socket; remove it or choose another");
  if (UnixSocketAccepts(path))
    return Status::AlreadyExists("a control plane is already serving on " + path +
                                 "; stop it first");
  if (unlink(path.c_str()) != 0 && errno != ENOENT)
    return Status::PermissionDenied("cannot remove stale socket " + path + ": " +
                                    std::strerror(errno));
  return Status::Ok();
}

Result<std::shared_ptr<grpc::ServerCredentials>> TcpCredentials(const ServeOptions& o) {
  if (o.tls_cert.empty() && o.tls_key.empty()) return grpc::InsecureServerCredentials();
  if (o.tls_cert.empty() || o.tls_key.empty())
    return Status::InvalidArgument("--tls-cert and --tls-key go together");
  auto cert = ReadFile(o.tls_cert);
  if (!cert.ok()) return cert.status().WithPrefix("--tls-cert");
  auto key = ReadFile(o.tls_key);
  if (!key.ok()) return key.status().WithPrefix("--tls-key");
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  if (!o.tls_client_ca.empty()) {
    auto ca = ReadFile(o.tls_client_ca);
    if (!ca.ok()) return ca.status().WithPrefix("--tls-client-ca");
    ssl.pem_root_certs = *ca;
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

// Reads the admin token from state_dir/admin.token, creating it (0600) on first start.
Result<std::string> LoadOrCreateAdminToken(const std::string& state_dir) {
  const std::string path = state_dir + "/admin.token";
  auto existing = ReadFile(path);
  if (existing.ok()) {
    std::string token(TrimSpace(*existing));
    if (token.size() < 32)
      return Status::DataLoss(path + " holds no valid admin token; delete it to make a new one");
    return token;
  }
  if (existing.status().code() != StatusCode::kNotFound) return existing.status();
  std::string token = NewSecret("cat_");
  CARRIERARR_RETURN_IF_ERROR(WriteFileAtomic(path, token + "\n", 0600, Overwrite::kNo));
  return token;
}

bool SplitHostPort(const std::string& s, std::string* host, int* port) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos) return false;
  *host = s.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']')
    *host = host->substr(1, host->size() - 2);
  try {
    size_t used = 0;
    *port = std::stoi(s.substr(colon + 1), &used);
    return used == s.size() - colon - 1 && *port >= 0 && *port <= 65535;
  } catch (...) {
    return false;
  }
}

// The state directory holds the admin token and the unix socket. One that is missing is made
// 0700; one that exists is used as it is (never chmod-ed: --state-dir /tmp must stay 1777),
// unless any user may write to it, who could then replace the token or the socket.
Status PrepareStateDir(const std::string& dir) {
  struct stat st;
  if (stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode))
      return Status::FailedPrecondition("--state-dir " + dir + " is not a directory");
    if ((st.st_mode & S_IWOTH) != 0) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
      return Status::PermissionDenied(
          "--state-dir " + dir + " is writable by every user (mode " + mode +
          "): another user could replace the admin token or the socket in it. Use a directory "
          "of your own (a missing one is created 0700, e.g. --state-dir ~/.carrierarr/control), "
          "or remove the others' write permission (chmod o-w " +
          dir + ")");
    }
    return Status::Ok();
  }
  if (errno != ENOENT)
    return Status::PermissionDenied("cannot read state dir " + dir + ": " + std::strerror(errno));
  std::error_code ec;
  const std::filesystem::path path(dir);
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  if (ec || (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST))
    return Status::PermissionDenied("cannot create state dir " + dir + ": " +
                                    (ec ? ec.message() : std::strerror(errno)));
  chmod(dir.c_str(), 0700);  // ours: whatever the umask left
  return Status::Ok();
}

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost" || host == "::1") return true;
  auto ip = ParseIpv4(host);
  return ip.ok() && (*ip >> 24) == 127;
}

// The raw public key that --enrollment-key names; empty when it names none.
Result<std::string> ReadEnrollmentKey(const std::string& path) {
  if (path.empty()) return std::string();
  auto pem = ReadFile(path);
  if (!pem.ok()) return pem.status().WithPrefix("--enrollment-key");
  auto key = pki::ParseEd25519PublicKeyPem(*pem);
  if (!key.ok()) return key.status().WithPrefix("--enrollment-key " + path);
  return key;
}

}  // namespace

std::vector<std::string> PlainTextListenerWarnings(const ServeOptions& o) {
  std::vector<std::string> warnings;
  if (!o.tls_cert.empty()) return warnings;  // TLS on every TCP listener of both APIs
  std::optional<Ipv4Net> mesh;
  if (auto net = ParseCidr(o.mesh_cidr); !o.mesh_cidr.empty() && net.ok()) mesh = *net;
  std::vector<std::pair<std::string, std::string>> listeners;  // flag, address
  for (const std::string& a : o.grpc_listen)
    if (a.rfind("unix:", 0) != 0) listeners.emplace_back("--listen", a);
  if (!o.http_listen.empty()) listeners.emplace_back("--http", o.http_listen);
  for (const auto& [flag, address] : listeners) {
    std::string host;
    int port = 0;
    if (!SplitHostPort(address, &host, &port) || IsLoopbackHost(host)) continue;
    auto ip = ParseIpv4(host);
    if (mesh && ip.ok() && mesh->Contains(*ip)) continue;
    warnings.push_back(
        "warning: " + flag + " " + address +
        " is plain text (no TLS) and reachable from beyond this host: admin and enrollment "
        "tokens and commands would cross the network readable. Use --tls-cert and --tls-key, "
        "or listen on 127.0.0.1 or on this host's Nebula mesh address" +
        (mesh ? " (inside --mesh-cidr " + mesh->ToString() + ")" : " with --mesh-cidr"));
  }
  return warnings;
}

struct Server::Impl {
  std::unique_ptr<MeshIdentity> mesh;  // before cp, which uses it
  std::unique_ptr<ControlPlane> cp;
  std::unique_ptr<AgentService> agent_service;
  std::unique_ptr<AdminService> admin_service;
  std::unique_ptr<grpc::Server> grpc_server;
  std::unique_ptr<HttpApi> http;
  std::string admin_token;
  int grpc_port = 0;
  // The burst controller and its seams (serve --fleet); destroyed before the control plane.
  std::unique_ptr<Store> burst_store;
  std::unique_ptr<burst::NodePower> burst_power;
  std::unique_ptr<burst::NodeActivity> burst_activity;
  std::unique_ptr<ServeDrain> burst_drain;  // the gateway's part detached before it goes
  std::unique_ptr<burst::Controller> burst;
  // The model gateway (serve --gateway): its view of the nodes, then itself; stopped first.
  std::unique_ptr<gateway::Backends> gateway_backends;
  std::unique_ptr<gateway::Gateway> gateway;
  std::vector<std::string> unix_sockets;

  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  bool done = false;
};

namespace {

// What the burst controller learns of agents, from the control plane's registry.
class RegistryActivity final : public burst::NodeActivity {
 public:
  explicit RegistryActivity(ControlPlane* cp) : cp_(cp) {}
  bool AgentSeenSince(const std::string& node, burst::Clock::time_point since) override {
    auto n = cp_->GetNode(node);
    return n.ok() && n->lifecycle() == "connected" &&
           n->last_seen_unix_ms() >=
               std::chrono::duration_cast<std::chrono::milliseconds>(since.time_since_epoch())
                   .count();
  }
  // The agent's idle time is trusted only up to its uptime (node_registry.cc does the same).
  std::optional<burst::Clock::time_point> LastBusy(const std::string& node) override {
    auto n = cp_->GetNode(node);
    if (!n.ok() || !n->has_last_status() || n->lifecycle() != "connected") return std::nullopt;
    const auto& s = n->last_status();
    if (s.idle_seconds() < 0 || s.idle_seconds() > s.uptime_seconds()) return std::nullopt;
    return burst::Clock::time_point(std::chrono::milliseconds(n->last_seen_unix_ms())) -
           std::chrono::seconds(s.idle_seconds());
  }

 private:
  ControlPlane* cp_;
};

// The burst controller, on a store connection of its own (its waits never hold the control
// plane's).
Status StartBurst(const ServeOptions& o, ControlPlane* cp, std::unique_ptr<Store>& store,
                  std::unique_ptr<burst::NodePower>& power,
                  std::unique_ptr<burst::NodeActivity>& activity,
                  std::unique_ptr<ServeDrain>& drain,
                  std::unique_ptr<burst::Controller>& controller) {
  if (!o.burst_fleet) return Status::Ok();
  CARRIERARR_ASSIGN_OR_RETURN(store, OpenStore(o.db));
  power = burst::MakeCommandNodePower(o.power_binary, o.fleet_file);
  activity = std::make_unique<RegistryActivity>(cp);
  drain = std::make_unique<ServeDrain>(cp, *o.burst_fleet);
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  CARRIERARR_ASSIGN_OR_RETURN(
      controller,
      burst::Controller::Start({.fleet = *o.burst_fleet,
                                .store = store.get(),
                                .power = power.get(),
                                .activity = activity.get(),
                                .drain = drain.get(),
                                // Stable across restarts: a restarted one resumes at once.
                                .owner = std::string(host) + ":" + o.state_dir}));
  cp->SetBurst(controller.get());
  return Status::Ok();
}

// What the gateway learns of the pools' nodes (the registry: agents with an open stream, at the
// mesh address they registered) and how it wakes them (the burst controller, when there is one).
class ServeBackends final : public gateway::Backends {
 public:
  ServeBackends(ControlPlane* cp, burst::Controller* burst, const spec::FleetSpec& fleet)
      : cp_(cp), burst_(burst) {
    for (const spec::PoolSpec& pool : fleet.pools) pool_sizes_[pool.name] = pool.count;
  }
  std::vector<std::string> Upstreams(const std::string& pool) override {
    std::vector<std::string> out;
    auto size = pool_sizes_.find(pool);
    if (size == pool_sizes_.end()) return out;
    std::set<std::string> names;
    for (int n = 1; n <= size->second; ++n) names.insert(mesh::WorkerName(pool, n));
    const ec2agent::v1::FleetStatusResponse fleet = cp_->FleetStatus({});
    for (const auto& node : fleet.nodes()) {
      // An agent that stopped is gone from here at once (its stream closed), not when stale.
      if (names.count(node.node_id()) && node.connected() && node.lifecycle() == "connected" &&
          !node.nebula_ip().empty())
        out.push_back(OllamaUrl(node.nebula_ip()));
    }
    return out;
  }
  Status Wake(const std::string& pool, const std::string& reason) override {
    if (!burst_) return Status::NotFound("no burst controller (serve --fleet)");
    return burst_->Wake(pool, reason).status();
  }
  void Touch(const std::string& pool) override {
    if (burst_) burst_->Touch(pool);
  }
  void WakePhase(const std::string& pool, const std::string& phase,
                 std::chrono::system_clock::time_point at) override {
    if (!burst_) return;
    Status recorded = burst_->RecordWakePhase(pool, phase, at);
    if (!recorded.ok())
      std::cerr << "carrierarr serve: recording phase " << phase << " of pool " << pool
                << "'s wake: " << recorded.message() << "\n";
  }

 private:
  ControlPlane* cp_;
  burst::Controller* burst_;
  std::map<std::string, int> pool_sizes_;
};

Status StartGateway(const ServeOptions& o, ControlPlane* cp, burst::Controller* burst,
                    std::unique_ptr<gateway::Backends>& backends,
                    std::unique_ptr<gateway::Gateway>& gateway) {
  if (o.gateway_listen.empty()) return Status::Ok();
  if (!o.burst_fleet)
    return Status::InvalidArgument("needs --fleet: the gateway serves the pools' models");
  std::string host;
  int port = 0;
  if (!SplitHostPort(o.gateway_listen, &host, &port))
    return Status::InvalidArgument(o.gateway_listen + ": want HOST:PORT");
  backends = std::make_unique<ServeBackends>(cp, burst, *o.burst_fleet);
  gateway::GatewayOptions g{.host = host,
                            .port = port,
                            .pools = o.burst_fleet->pools,
                            .backends = backends.get(),
                            .max_held = o.gateway_max_held,
                            .max_wait = o.gateway_max_wait};
  CARRIERARR_ASSIGN_OR_RETURN(gateway, gateway::Gateway::Start(std::move(g)));
  gateway::Gateway* started = gateway.get();
  cp->AddMetrics([started] { return started->PrometheusText(); });
  return Status::Ok();
}

}  // namespace

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { Shutdown(); }

Result<std::unique_ptr<Server>> Server::Start(const ServeOptions& o) {
  auto impl = std::make_unique<Impl>();
  if (!o.mesh_cidr.empty() && !ParseCidr(o.mesh_cidr).ok())
    return Status::InvalidArgument("--mesh-cidr " + o.mesh_cidr + ": want A.B.C.D/N");
  CARRIERARR_RETURN_IF_ERROR(PrepareStateDir(o.state_dir));

  auto store = OpenStore(o.db);
  if (!store.ok()) return store.status().WithPrefix("--db");
  auto enrollment_key = ReadEnrollmentKey(o.enrollment_key);
  if (!enrollment_key.ok()) return enrollment_key.status();
  ControlPlaneOptions control_plane_options = o;
  control_plane_options.enrollment_public_key = std::move(*enrollment_key);
  if (!o.mesh_identity_dir.empty()) {
    auto mesh = MeshIdentity::Load(o.mesh_identity_dir, *o.clock);
    if (!mesh.ok()) return mesh.status();
    impl->mesh = std::move(*mesh);
    control_plane_options.mesh_identity = impl->mesh.get();
  }
  auto cp = ControlPlane::Create(std::move(*store), std::move(control_plane_options));
  if (!cp.ok()) return cp.status();
  impl->cp = std::move(*cp);

  auto token = LoadOrCreateAdminToken(o.state_dir);
  if (!token.ok()) return token.status();
  impl->admin_token = *token;
  CARRIERARR_RETURN_IF_ERROR(impl->cp->SetAdminToken(impl->admin_token));

  impl->agent_service = std::make_unique<AgentService>(impl->cp.get());
  impl->admin_service = std::make_unique<AdminService>(impl->cp.get());
  CARRIERARR_RETURN_IF_ERROR(StartBurst(o, impl->cp.get(), impl->burst_store, impl->burst_power,
                                        impl->burst_activity, impl->burst_drain, impl->burst)
                                 .WithPrefix("--fleet"));
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(static_cast<int>(o.max_message_bytes));
  // Agents keep their stream alive with pings every 30 s even when idle.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  if (o.grpc_listen.empty()) return Status::InvalidArgument("--listen: at least one address");
  auto tcp_credentials = TcpCredentials(o);
  if (!tcp_credentials.ok()) return tcp_credentials.status();
  std::vector<std::unique_ptr<int>> ports;
  int* first_tcp_port = nullptr;
  for (const std::string& address : o.grpc_listen) {
    if (address.rfind("unix:", 0) == 0) {
      std::string path = address.substr(5);
      CARRIERARR_RETURN_IF_ERROR(ClaimUnixSocket(path));
      impl->unix_sockets.push_back(path);
      builder.AddListeningPort(address, grpc::InsecureServerCredentials());
    } else {
      std::string host;
      int port = 0;
      if (!SplitHostPort(address, &host, &port))
        return Status::InvalidArgument("--listen " + address + ": want HOST:PORT or unix:PATH");
      ports.push_back(std::make_unique<int>(0));
      if (!first_tcp_port) first_tcp_port = ports.back().get();
      builder.AddListeningPort(address, *tcp_credentials, ports.back().get());
    }
  }
  builder.RegisterService(impl->agent_service.get());
  builder.RegisterService(impl->admin_service.get());
  impl->grpc_server = builder.BuildAndStart();
  if (!impl->grpc_server)
    return Status::Unavailable("cannot listen on " + [&] {
      std::string all;
      for (const auto& a : o.grpc_listen) all += (all.empty() ? "" : ", ") + a;
      return all;
    }() + " (address in use, or not an address of this host?)");
  for (const std::string& path : impl->unix_sockets) chmod(path.c_str(), 0600);
  if (first_tcp_port) impl->grpc_port = *first_tcp_port;

  if (!o.http_listen.empty()) {
    std::string host;
    int port = 0;
    if (!SplitHostPort(o.http_listen, &host, &port))
      return Status::InvalidArgument("--http " + o.http_listen + ": want HOST:PORT");
    auto http =
        HttpApi::Start(*impl->cp, host, port, o.tls_cert, o.tls_key, kVersion, o.http_limits);
    if (!http.ok()) return http.status().WithPrefix("--http");
    impl->http = std::move(*http);
  }
  CARRIERARR_RETURN_IF_ERROR(
      StartGateway(o, impl->cp.get(), impl->burst.get(), impl->gateway_backends, impl->gateway)
          .WithPrefix("--gateway"));
  if (impl->burst_drain && impl->gateway) impl->burst_drain->Attach(impl->gateway.get());
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

int Server::grpc_port() const { return impl_->grpc_port; }
int Server::http_port() const { return impl_->http ? impl_->http->port() : 0; }
int Server::gateway_port() const { return impl_->gateway ? impl_->gateway->port() : 0; }
const std::string& Server::admin_token() const { return impl_->admin_token; }
ControlPlane& Server::control_plane() { return *impl_->cp; }

void Server::Shutdown() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  if (impl_->gateway) impl_->gateway->Stop();
  if (impl_->burst_drain) impl_->burst_drain->Detach();
  if (impl_->http) impl_->http->Stop();
  impl_->admin_service->Stop();
  // Agents reconnect to the next control plane; streams still open at the deadline are cancelled.
  impl_->cp->CloseStreams("control plane shutting down; reconnect");
  // gRPC measures this deadline against the machine's clock, whatever the control plane reads.
  impl_->grpc_server->Shutdown(RealTimeSource::Get()->SystemNow() + std::chrono::seconds(2));
  impl_->grpc_server->Wait();
  impl_->cp.reset();  // flushes pending status writes
  for (const std::string& path : impl_->unix_sockets) unlink(path.c_str());
  {
    std::lock_guard lock(impl_->mu);
    impl_->done = true;
  }
  impl_->cv.notify_all();
}

void Server::Wait() {
  std::unique_lock lock(impl_->mu);
  impl_->cv.wait(lock, [&] { return impl_->done; });
}

}  // namespace carrierarr::control_plane
