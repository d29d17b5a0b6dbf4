#include "agent/health_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <cerrno>

#include "core/file_util.h"

namespace carrierarr::agent {
namespace {

// JSON string contents; our values are plain, but a reason may quote a control plane message.
std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

}  // namespace

HealthServer::HealthServer(HealthServerOptions options, std::shared_ptr<const AgentMetrics> metrics)
    : options_(std::move(options)), metrics_(std::move(metrics)) {}

HealthServer::~HealthServer() { Stop(); }

Status HealthServer::Start() {
  if (server_) return Status::FailedPrecondition("health server already started");
  auto server = std::make_unique<httplib::Server>();
  // Two threads are plenty for probes and a scraper; httplib's default is one per core.
  server->new_task_queue = [] { return new httplib::ThreadPool(2); };
  server->set_keep_alive_max_count(1);  // one request per connection: no idle connection holds a
                                        // worker
  server->set_read_timeout(5, 0);
  // httplib's default is SO_REUSEPORT, which lets a second agent share the port silently (and
  // take half the probes). SO_REUSEADDR alone still allows a quick restart (TIME_WAIT).
  server->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  server->set_write_timeout(5, 0);

  const AgentMetrics* m = metrics_.get();
  const std::string version = options_.version;
  server->Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"ok\"}\n", "application/json");
  });
  server->Get("/ready", [m](const httplib::Request&, httplib::Response& res) {
    if (m->connected()) {
      res.set_content("{\"status\":\"ready\"}\n", "application/json");
      return;
    }
    res.status = 503;
    res.set_content(
        "{\"status\":\"not ready\",\"reason\":\"" + JsonEscape(m->not_ready_reason()) + "\"}\n",
        "application/json");
  });
  server->Get("/version", [version](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"version\":\"" + JsonEscape(version) + "\"}\n", "application/json");
  });
  server->Get("/metrics", [m](const httplib::Request&, httplib::Response& res) {
    res.set_content(m->RenderPrometheus(), "text/plain; version=0.0.4; charset=utf-8");
  });
  // Everything else (other paths, other methods) is httplib's 404 with an empty body; give it
  // a body that says so.
  server->set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.status == 404) res.set_content("{\"error\":\"not found\"}\n", "application/json");
  });

  int port = options_.port == 0
                 ? server->bind_to_any_port(options_.addr)
                 : (server->bind_to_port(options_.addr, options_.port) ? options_.port : -1);
  if (port < 0) {
    int err = errno;
    return Status::Unavailable("health server: cannot listen on " + options_.addr + ":" +
                               std::to_string(options_.port) + ": " +
                               (err != 0 ? ErrnoString(err) : std::string("bind failed")) +
                               " (choose another with -health-port/-health-addr)");
  }
  port_ = port;
  server_ = std::move(server);
  listen_done_ = false;
  thread_ = std::thread([this, s = server_.get()] {
    s->listen_after_bind();
    listen_done_ = true;
  });
  return Status::Ok();
}

void HealthServer::Stop() {
  if (!server_) return;
  // httplib's stop() does nothing before the listen loop runs: wait (briefly) until it does or
  // it has given up.
  while (!server_->is_running() && !listen_done_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

}  // namespace carrierarr::agent
