#include "agent/health_server.h"

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <string_view>
#include <system_error>
#include <vector>

#include "agent/http_wire.h"
#include "core/fd_closer.h"
#include "core/file_util.h"

namespace carrierarr::agent {
namespace {

// poll()-based socket deadlines: the kernel waits on the real clock, so no simulated one here.
using Clock = std::chrono::steady_clock;

// A request is a line and a few headers; anything bigger is not a probe.
constexpr size_t kMaxRequestBytes = 8192;
// Connections served at once. One more is still accepted: it takes the place of the oldest,
// which is closed unanswered, so that slow or idle clients cannot keep a probe waiting in the
// backlog (a probe is answered within one poll round of its arrival).
constexpr size_t kMaxConnections = 32;
constexpr int kListenBacklog = 64;
// After the answer: how long and how much of what the client still sends (a body we do not
// read) we swallow before closing, so that closing does not reset the connection and destroy
// the answer in flight (a "lingering close").
constexpr std::chrono::milliseconds kLingerTime(1000);
constexpr size_t kMaxLingerBytes = size_t{64} * 1024;

// JSON string contents; our values are plain, but a reason may quote a control plane message.
std::string JsonEscape(std::string_view s) {
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
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

struct Answer {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  bool allow_get = false;  // adds "Allow: GET, HEAD" (405)
};

Answer JsonError(int status, std::string_view message) {
  return {.status = status, .body = "{\"error\":\"" + JsonEscape(message) + "\"}\n"};
}

// The path of a request target: the query cut off; an absolute-form target
// ("http://host:8080/health") reduced to its path.
std::string_view TargetPath(std::string_view target) {
  if (target.substr(0, 7) == "http://" || target.substr(0, 8) == "https://") {
    size_t slash = target.find('/', target.find("//") + 2);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  return target.substr(0, target.find('?'));
}

Answer Route(const http::RequestHead& request, const AgentMetrics& metrics,
             const std::string& version) {
  const std::string_view path = TargetPath(request.target);
  const bool known =
      path == "/health" || path == "/ready" || path == "/version" || path == "/metrics";
  if (!known) return JsonError(404, "not found");
  if (request.method != "GET" && request.method != "HEAD") {
    Answer a = JsonError(405, "method not allowed");
    a.allow_get = true;
    return a;
  }
  if (path == "/health") return {.body = "{\"status\":\"ok\"}\n"};
  if (path == "/ready") {
    if (metrics.connected()) return {.body = "{\"status\":\"ready\"}\n"};
    return {.status = 503,
            .body = "{\"status\":\"not ready\",\"reason\":\"" +
                    JsonEscape(metrics.not_ready_reason()) + "\"}\n"};
  }
  if (path == "/version") return {.body = "{\"version\":\"" + JsonEscape(version) + "\"}\n"};
  return {.content_type = "text/plain; version=0.0.4; charset=utf-8",
          .body = metrics.RenderPrometheus()};
}

std::string Serialize(const Answer& a, bool head_only) {
  std::string out = "HTTP/1.1 " + std::to_string(a.status) + " ";
  out += http::ReasonPhrase(a.status);
  out += "\r\nContent-Type: " + a.content_type +
         "\r\nContent-Length: " + std::to_string(a.body.size()) + "\r\nConnection: close\r\n";
  if (a.allow_get) out += "Allow: GET, HEAD\r\n";
  out += "\r\n";
  if (!head_only) out += a.body;
  return out;
}

// One client connection, from accept to close. Owns `fd` (closed by Close()).
struct Connection {
  enum class Phase { kReading, kWriting, kLingering };
  int fd = -1;
  Phase phase = Phase::kReading;
  Clock::time_point accepted_at;
  Clock::time_point deadline;
  std::string in;   // the request so far (at most kMaxRequestBytes plus one read)
  std::string out;  // the answer
  size_t sent = 0;
  size_t lingered = 0;

  void Close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  int16_t PollEvents() const { return phase == Phase::kWriting ? POLLOUT : POLLIN; }
};

// Sends what is left of the answer; once all is out, half-closes and lingers.
void WriteSome(Connection& c) {
  while (c.sent < c.out.size()) {
    ssize_t n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
    if (n > 0) {
      c.sent += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return;  // poll for POLLOUT
    } else {
      c.Close();  // the client went away
      return;
    }
  }
  std::string().swap(c.out);
  ::shutdown(c.fd, SHUT_WR);
  c.phase = Connection::Phase::kLingering;
  c.deadline = std::min(c.deadline, Clock::now() + kLingerTime);
}

void Respond(Connection& c, const Answer& a, bool head_only) {
  c.out = Serialize(a, head_only);
  std::string().swap(c.in);
  c.phase = Connection::Phase::kWriting;
  WriteSome(c);
}

void ReadSome(Connection& c, const AgentMetrics& metrics, const std::string& version) {
  char buf[4096];
  bool eof = false;  // the client has sent all it will (it may still read the answer)
  for (;;) {
    ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n == 0) {
      eof = true;
      break;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return c.Close();
    }
    if (c.phase == Connection::Phase::kLingering) {
      c.lingered += static_cast<size_t>(n);
      if (c.lingered > kMaxLingerBytes) return c.Close();
      continue;
    }
    c.in.append(buf, static_cast<size_t>(n));
    if (c.in.size() > kMaxRequestBytes) break;
  }
  if (c.phase == Connection::Phase::kLingering) {
    if (eof) c.Close();  // the client read our answer and closed: done
    return;
  }

  http::RequestHead request;
  size_t head_size = 0;
  std::string error;
  switch (http::ParseRequestHead(c.in, &request, &head_size, &error)) {
    case http::ParseResult::kDone:
      if (head_size > kMaxRequestBytes) break;  // arrived in one piece, but too big all the same
      return Respond(c, Route(request, metrics, version), request.method == "HEAD");
    case http::ParseResult::kBad:
      return Respond(c, JsonError(400, "bad request: " + error), false);
    case http::ParseResult::kIncomplete:
      if (eof) return c.Close();                    // it gave up before sending a whole request
      if (c.in.size() <= kMaxRequestBytes) return;  // wait for the rest
      break;
  }
  Respond(c, JsonError(431, "the request head is larger than 8192 bytes"), false);
}

}  // namespace

HealthServer::HealthServer(HealthServerOptions options, std::shared_ptr<const AgentMetrics> metrics)
    : options_(std::move(options)), metrics_(std::move(metrics)) {}

HealthServer::~HealthServer() { Stop(); }

Status HealthServer::Start() {
  if (thread_.joinable()) return Status::FailedPrecondition("health server already started");
  const std::string where = options_.addr + ":" + std::to_string(options_.port);
  auto cannot_listen = [&](const std::string& why) {
    return Status::Unavailable("health server: cannot listen on " + where + ": " + why +
                               " (choose another with -health-port/-health-addr)");
  };
  if (options_.port < 0 || options_.port > 65535) return cannot_listen("not a port");

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(options_.port);
  if (int rc = ::getaddrinfo(options_.addr.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return cannot_listen(std::string("cannot resolve the address: ") + ::gai_strerror(rc));
  }
  int fd = -1;
  int err = 0;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    int candidate = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (candidate < 0) {
      err = errno;
      continue;
    }
    FdCloser closer(candidate);
    // SO_REUSEADDR allows a quick restart (TIME_WAIT); no SO_REUSEPORT, which would let a
    // second agent share the port silently (and take half the probes).
    int yes = 1;
    ::setsockopt(candidate, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    if (::bind(candidate, a->ai_addr, a->ai_addrlen) != 0 ||
        ::listen(candidate, kListenBacklog) != 0) {
      err = errno;
      continue;
    }
    fd = closer.Release();
  }
  ::freeaddrinfo(found);
  if (fd < 0) return cannot_listen(err != 0 ? ErrnoString(err) : std::string("bind failed"));
  FdCloser listen_closer(fd);

  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
    return cannot_listen("getsockname: " + ErrnoString(errno));
  }
  const int bound_port = bound.ss_family == AF_INET6
                             ? ntohs(reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port)
                             : ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
  int wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) return cannot_listen("eventfd: " + ErrnoString(errno));
  FdCloser wake_closer(wake);

  listen_fd_ = fd;
  wake_fd_ = wake;
  try {
    thread_ = std::thread([this] { Serve(); });
  } catch (const std::system_error& e) {
    listen_fd_ = wake_fd_ = -1;
    return Status::Unavailable(std::string("health server: cannot start its thread: ") + e.what());
  }
  listen_closer.Release();
  wake_closer.Release();
  port_ = bound_port;
  return Status::Ok();
}

void HealthServer::Stop() {
  if (!thread_.joinable()) return;
  const uint64_t one = 1;
  // An eventfd write of 1 cannot block or fail short of overflow; retry only interruptions.
  while (::write(wake_fd_, &one, sizeof one) < 0 && errno == EINTR) {
  }
  thread_.join();
  ::close(listen_fd_);
  ::close(wake_fd_);
  listen_fd_ = wake_fd_ = -1;
}

void HealthServer::Serve() {
  const AgentMetrics& metrics = *metrics_;
  std::vector<Connection> conns;
  std::vector<pollfd> fds;
  Clock::time_point accept_paused_until{};  // after EMFILE and the like: back off, do not spin
  for (;;) {
    const Clock::time_point now = Clock::now();
    const bool accepting = now >= accept_paused_until;
    fds.clear();
    fds.push_back({.fd = wake_fd_, .events = POLLIN, .revents = 0});
    fds.push_back({.fd = accepting ? listen_fd_ : -1, .events = POLLIN, .revents = 0});
    Clock::time_point wake_at = Clock::time_point::max();
    if (!accepting) wake_at = accept_paused_until;
    for (const Connection& c : conns) {
      fds.push_back({.fd = c.fd, .events = c.PollEvents(), .revents = 0});
      wake_at = std::min(wake_at, c.deadline);
    }
    int timeout_ms = -1;  // idle: sleep until a connection or Stop(); no timer ticks
    if (wake_at != Clock::time_point::max()) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(wake_at - now).count();
      timeout_ms = static_cast<int>(std::clamp<int64_t>(left, 0, 60'000));
    }
    if (::poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // ENOMEM: try again
      continue;
    }
    if (fds[0].revents != 0) break;  // Stop()

    const Clock::time_point after = Clock::now();
    for (size_t i = 0; i < conns.size(); ++i) {
      Connection& c = conns[i];
      if (fds[i + 2].revents != 0) {
        if (c.phase == Connection::Phase::kWriting) {
          WriteSome(c);
        } else {
          ReadSome(c, metrics, options_.version);
        }
      }
      if (c.fd >= 0 && after >= c.deadline) c.Close();  // too slow, or done lingering
    }
    conns.erase(
        std::remove_if(conns.begin(), conns.end(), [](const Connection& c) { return c.fd < 0; }),
        conns.end());

    if (fds[1].revents == 0) continue;
    // Bounded: at most a backlog's worth a round; each new one beyond the cap evicts the oldest.
    for (int accepted = 0; accepted < kListenBacklog; ++accepted) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          accept_paused_until = after + std::chrono::milliseconds(100);
        }
        break;  // EAGAIN: no more for now; ECONNABORTED and the like: the next poll retries
      }
      if (conns.size() >= kMaxConnections) {
        auto oldest = std::min_element(
            conns.begin(), conns.end(),
            [](const Connection& a, const Connection& b) { return a.accepted_at < b.accepted_at; });
        oldest->Close();
        conns.erase(oldest);
      }
      Connection& c = conns.emplace_back();
      c.accepted_at = after;
      c.fd = fd;
      c.deadline = after + options_.io_timeout;
    }
  }
  for (Connection& c : conns) c.Close();
}

}  // namespace carrierarr::agent
