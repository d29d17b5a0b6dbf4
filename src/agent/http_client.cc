#include "agent/http_client.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <optional>

#include "core/fd_closer.h"
#include "core/file_util.h"

namespace carrierarr::agent::http {
namespace {

// poll()-based socket deadlines: the kernel waits on the real clock, so no simulated one here.
using Clock = std::chrono::steady_clock;

std::string Millis(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

constexpr int kCancelled = -2;

// Waits until `fd` is ready for `events` or `deadline` passes: 1 ready (or in error: the next
// call says which), 0 timed out, -1 poll failed (errno), kCancelled when `cancel_fd` (-1: none)
// became readable.
int WaitReady(int fd, int16_t events, Clock::time_point deadline, int cancel_fd) {
  for (;;) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return 0;
    pollfd p[2] = {{.fd = fd, .events = events, .revents = 0},
                   {.fd = cancel_fd, .events = POLLIN, .revents = 0}};
    int n = ::poll(p, cancel_fd >= 0 ? 2 : 1,
                   static_cast<int>(std::min<int64_t>(left.count(), 60'000)));
    if (n > 0 && p[1].revents != 0 && cancel_fd >= 0) return kCancelled;
    if (n > 0) return 1;
    if (n < 0 && errno != EINTR) return -1;
  }
}

Status Cancelled(const std::string& where) {
  return Status::Aborted("cancelled (the call to " + where + " was abandoned)");
}

// A connected, non-blocking socket to one of the addresses `endpoint` resolves to.
Result<int> Connect(const Endpoint& endpoint, Clock::time_point deadline,
                    std::chrono::milliseconds connect_timeout, int cancel_fd) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(endpoint.port);
  if (int rc = ::getaddrinfo(endpoint.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return Status::Unavailable("cannot resolve " + endpoint.host + ": " + ::gai_strerror(rc));
  }
  std::string last_error = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last_error = ErrnoString(errno);
      continue;
    }
    FdCloser closer(fd);
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        last_error = ErrnoString(errno);
        continue;
      }
      int ready = WaitReady(fd, POLLOUT, deadline, cancel_fd);
      if (ready == kCancelled) return Cancelled(endpoint.HostPort());
      if (ready == 0) {
        last_error = "timed out after " + Millis(connect_timeout);
        continue;
      }
      int err = 0;
      socklen_t len = sizeof(err);
      if (ready < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      if (err != 0) {
        last_error = ErrnoString(err);
        continue;
      }
    }
    ::freeaddrinfo(found);
    return closer.Release();
  }
  ::freeaddrinfo(found);
  return Status::Unavailable("cannot connect to " + endpoint.HostPort() + ": " + last_error);
}

// Refuses what would let a value end a line early (a header smuggled in by a value taken
// from an answer, such as the IMDS token).
Status CheckRequest(const Request& request) {
  auto bad_char = [](char c) { return c == '\r' || c == '\n' || c == '\0'; };
  if (request.method.empty() || request.method.find_first_of(" \t\r\n") != std::string::npos) {
    return Status::InvalidArgument("bad HTTP method \"" + request.method + "\"");
  }
  if (request.path.empty() || request.path.front() != '/' ||
      request.path.find_first_of(" \t\r\n") != std::string::npos) {
    return Status::InvalidArgument("bad HTTP request path \"" + request.path + "\"");
  }
  for (const Header& h : request.headers) {
    if (h.name.empty() || h.name.find_first_of(" \t:\r\n") != std::string::npos ||
        std::any_of(h.value.begin(), h.value.end(), bad_char)) {
      // The value is not shown: it may be a credential.
      return Status::InvalidArgument("HTTP header \"" + h.name +
                                     "\": a line break or NUL in its name or value, or a space "
                                     "or colon in its name");
    }
  }
  return Status::Ok();
}

std::string Serialize(const Endpoint& endpoint, const Request& request) {
  std::string out;
  out.reserve(256 + request.body.size());
  out += request.method + " " + request.path + " HTTP/1.1\r\n";
  out += "Host: " + endpoint.HostPort() + "\r\n";
  out += "User-Agent: carrierarr-agent\r\nConnection: close\r\n";
  for (const Header& h : request.headers) out += h.name + ": " + h.value + "\r\n";
  if (!request.body.empty() || request.method == "POST" || request.method == "PUT" ||
      request.method == "PATCH") {
    out += "Content-Length: " + std::to_string(request.body.size()) + "\r\n";
  }
  out += "\r\n";
  out += request.body;
  return out;
}

}  // namespace

std::string Endpoint::HostPort() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<Endpoint> ParseHttpUrl(std::string_view url) {
  const std::string quoted = "\"" + std::string(url) + "\"";
  auto starts_with = [&](std::string_view prefix) {
    if (url.size() < prefix.size()) return false;
    for (size_t i = 0; i < prefix.size(); ++i) {
      char c = url[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != prefix[i]) return false;
    }
    return true;
  };
  if (starts_with("https://")) {
    return Status::InvalidArgument(quoted +
                                   ": https:// is not supported; the agent talks plain HTTP to "
                                   "services on its own node (give http://HOST:PORT)");
  }
  if (!starts_with("http://")) return Status::InvalidArgument(quoted + " is not an http:// URL");
  std::string_view rest = url.substr(7);
  size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view path = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (path.find_first_not_of('/') != std::string_view::npos) {
    return Status::InvalidArgument(quoted + " has a path or query; give only http://HOST[:PORT]");
  }
  if (authority.find('@') != std::string_view::npos) {
    return Status::InvalidArgument(quoted + ": user info in the URL is not supported");
  }
  Endpoint e;
  std::string_view port;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return Status::InvalidArgument(quoted + ": an IPv6 address without its closing ']'");
    }
    e.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') {
      return Status::InvalidArgument(quoted + ": unexpected text after the IPv6 address");
    }
    if (!after.empty()) {
      has_port = true;
      port = after.substr(1);
    }
  } else {
    size_t colon = authority.find(':');
    e.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      has_port = true;
      port = authority.substr(colon + 1);
      if (port.find(':') != std::string_view::npos) {
        return Status::InvalidArgument(quoted + ": write an IPv6 address in brackets");
      }
    }
  }
  if (e.host.empty()) return Status::InvalidArgument(quoted + " has no host");
  if (has_port) {
    unsigned value = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || p != port.data() + port.size() || value == 0 ||
        value > 65535) {
      return Status::InvalidArgument(quoted + ": the port must be 1..65535");
    }
    e.port = static_cast<uint16_t>(value);
  }
  return e;
}

Result<Response> Call(const Endpoint& endpoint, const Request& request,
                      const CallOptions& options) {
  CARRIERARR_RETURN_IF_ERROR(CheckRequest(request));
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = start + options.timeout;
  const Clock::time_point connect_deadline = std::min(deadline, start + options.connect_timeout);
  auto connected = Connect(endpoint, connect_deadline, options.connect_timeout, options.cancel_fd);
  if (!connected.ok()) return connected.status();
  FdCloser closer(*connected);
  const int fd = *connected;
  const std::string where = endpoint.HostPort();
  auto timed_out = [&](const char* what) {
    return Status::DeadlineExceeded(where + " " + what + " within " + Millis(options.timeout));
  };

  const std::string wire = Serialize(endpoint, request);
  for (size_t sent = 0; sent < wire.size();) {
    ssize_t n = ::send(fd, wire.data() + sent, wire.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      return Status::Unavailable("sending to " + where + ": " + ErrnoString(errno));
    }
    if (int r = WaitReady(fd, POLLOUT, deadline, options.cancel_fd); r <= 0) {
      if (r == kCancelled) return Cancelled(where);
      return r == 0 ? timed_out("did not take the request")
                    : Status::Unavailable("poll: " + ErrnoString(errno));
    }
  }

  std::string in;  // what arrived before the end of the head
  ResponseHead head;
  std::optional<ResponseBodyDecoder> body;
  size_t received = 0;
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) {
        return Status::Unavailable("reading from " + where + ": " + ErrnoString(errno));
      }
      if (int r = WaitReady(fd, POLLIN, deadline, options.cancel_fd); r <= 0) {
        if (r == kCancelled) return Cancelled(where);
        return r == 0 ? timed_out("gave no complete answer")
                      : Status::Unavailable("poll: " + ErrnoString(errno));
      }
      continue;
    }
    const bool eof = n == 0;
    received += static_cast<size_t>(n);
    if (received > options.max_response_bytes) {
      return Status::DataLoss(where + " answered more than " +
                              std::to_string(options.max_response_bytes) + " bytes");
    }
    std::string_view fresh(buf, static_cast<size_t>(n));  // bytes for the body decoder
    std::string error;
    if (!body) {
      in.append(fresh);
      for (;;) {
        size_t head_size = 0;
        ParseResult r = ParseResponseHead(in, &head, &head_size, &error);
        if (r == ParseResult::kBad) {
          return Status::DataLoss(where + " answered something that is not HTTP/1.x: " + error);
        }
        if (r == ParseResult::kIncomplete) {
          if (!eof) break;
          return Status::Unavailable(where + " closed the connection without " +
                                     (in.empty() ? "an answer" : "a complete answer"));
        }
        if (head.status >= 100 && head.status < 200 && head.status != 101) {
          in.erase(0, head_size);  // an interim answer (100 Continue): the real one follows
          continue;
        }
        body.emplace(head);
        fresh = std::string_view{in}.substr(head_size);
        break;
      }
      if (!body) continue;
    }
    ParseResult r = body->Feed(fresh, eof, &error);
    if (r == ParseResult::kBad) {
      return Status::DataLoss("the answer from " + where + " is cut or malformed: " + error);
    }
    if (r == ParseResult::kDone) {
      return Response{
          .status = head.status, .headers = std::move(head.headers), .body = body->TakeBody()};
    }
    if (eof) return Status::Unavailable(where + " closed the connection inside the answer");
  }
}

}  // namespace carrierarr::agent::http
