// `carrierarr serve`: the control plane as one object. Owns the store, the gRPC server
// (ec2agent.v1.AgentControl for agents, carrierarr.v1.Fleet for the operator) and the HTTP API.
// Tests start it on port 0 and read the bound ports back.
//
// Thread safety: Start/Shutdown from one thread; the accessors are safe from any thread.
#ifndef CARRIERARR_CONTROL_PLANE_SERVER_H_
#define CARRIERARR_CONTROL_PLANE_SERVER_H_

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "control_plane/control_plane.h"
#include "control_plane/http_server.h"
#include "core/status.h"
#include "spec/fleet.h"

namespace carrierarr::control_plane {

// The control plane's own options (intervals, batching, exec, clock) and where it listens.
struct ServeOptions : ControlPlaneOptions {
  // Store URL: a SQLite path ("sqlite:PATH" or PATH) or "postgres://...".
  std::string db = "carrierarr.db";
  // Where the admin token (admin.token, 0600) and the socket live: created 0700 when missing;
  // an existing one is used as it is, and refused when every user may write to it.
  std::string state_dir = ".";
  // gRPC listeners: "HOST:PORT" (port 0 picks one) or "unix:/path/to.sock" (mode 0600). Loopback
  // by default: listening beyond this host is a choice (with TLS, or on the mesh address).
  std::vector<std::string> grpc_listen = {"127.0.0.1:50051"};
  // HTTP API listener "HOST:PORT"; empty turns the HTTP API off.
  std::string http_listen = "127.0.0.1:8090";
  HttpLimits http_limits;  // what one HTTP client may hold (http_server.h)
  // The Nebula mesh CIDR ("10.42.0.0/16"), when serving a mesh: plain-text listeners inside it
  // are not warned about (Nebula encrypts and authenticates that traffic). Empty: none.
  std::string mesh_cidr;
  // Optional TLS for the TCP listeners of both APIs (unix sockets stay plain: file mode guards
  // them). tls_client_ca additionally requires client certificates signed by it.
  std::string tls_cert, tls_key, tls_client_ca;
  // PEM Ed25519 public key (carrierarr up's <state>/control/enrollment.pub): agents may also
  // enrol with tokens signed by its private key (pki/enrollment_token.h). Empty: not accepted.
  std::string enrollment_key;
  // Mesh identity (mesh_identity.h): the fleet's pki directory (ca.crt and the host
  // certificates). Empty: off.
  std::string mesh_identity_dir;
  size_t max_message_bytes = 1 << 20;  // larger gRPC messages are refused
  // GPU burst (`serve --fleet`): the fleet whose scaled pools the burst controller wakes and
  // stops (burst/controller.h), by running `power_binary power -f fleet_file ...`. None: off.
  std::optional<spec::FleetSpec> burst_fleet;
  std::string fleet_file, power_binary;
  // The model gateway (gateway/gateway.h) for burst_fleet's pools with `models`: "HOST:PORT";
  // empty: off.
  std::string gateway_listen;
  std::chrono::milliseconds gateway_max_wait{std::chrono::minutes(10)};
  size_t gateway_max_held = 256;
};

// One warning for each plain-text (no TLS) TCP listener that is neither on loopback nor inside
// options.mesh_cidr: what it exposes and how to fix it. `carrierarr serve` prints them at start.
std::vector<std::string> PlainTextListenerWarnings(const ServeOptions& options);

class Server {
 public:
  static Result<std::unique_ptr<Server>> Start(const ServeOptions& options);
  ~Server();  // shuts down if still running

  // Bound ports of the first TCP gRPC listener and of the HTTP API (0 when off).
  int grpc_port() const;
  int http_port() const;
  int gateway_port() const;  // 0 when off
  const std::string& admin_token() const;
  ControlPlane& control_plane();

  // Stops accepting, ends streams, flushes pending status writes. Idempotent.
  void Shutdown();
  // Blocks until Shutdown (e.g. from a signal handler thread).
  void Wait();

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace carrierarr::control_plane

#endif  // CARRIERARR_CONTROL_PLANE_SERVER_H_
