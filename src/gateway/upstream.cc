#include "gateway/upstream.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "core/thread_annotations.h"

namespace carrierarr::gateway {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr size_t kChunk = 16 << 10;
constexpr std::chrono::milliseconds kCancelCheck{50};

// "http://HOST:PORT" -> host, port.
bool SplitUrl(const std::string& url, std::string* host, std::string* port) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) return false;
  const std::string rest = url.substr(kScheme.size());
  const size_t colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size()) return false;
  *host = rest.substr(0, colon);
  *port = rest.substr(colon + 1);
  return true;
}

// One connection on a private I/O context. Each step is an asynchronous operation (the only
// kind beast's timeouts bound) run to completion here, checking `cancel` meanwhile. Used by one
// thread at a time.
class Connection {
 public:
  template <class Op>
  beast::error_code Step(std::chrono::milliseconds timeout, const std::atomic<bool>* cancel,
                         Op op) {
    std::optional<beast::error_code> result;
    stream.expires_after(timeout);
    op([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc_.restart();
    while (!result) {
      ioc_.run_for(kCancelCheck);
      if (!result && cancel && cancel->load()) stream.cancel();  // handler: operation_aborted
    }
    return *result;
  }

 private:
  asio::io_context ioc_;

 public:
  beast::tcp_stream stream{ioc_};
  beast::flat_buffer buffer;  // what was read past the last answer (nothing, normally)
  std::chrono::steady_clock::time_point idle_since;
};

// Kept-alive connections by upstream, so that a warm request costs no connect (nor a new I/O
// context): at most kIdlePerUpstream each, none older than kIdleFor. Thread safe.
class ConnectionPool {
 public:
  static ConnectionPool& Get() {
    static ConnectionPool* pool = new ConnectionPool;  // never destroyed: threads may outlive main
    return *pool;
  }
  std::unique_ptr<Connection> Take(const std::string& base_url) EXCLUDES(mu_) {
    MutexLock lock(mu_);
    auto it = idle_.find(base_url);
    if (it == idle_.end()) return nullptr;
    auto& list = it->second;
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(list, [&](const auto& c) { return now - c->idle_since > kIdleFor; });
    std::unique_ptr<Connection> c;
    if (!list.empty()) {
      c = std::move(list.back());
      list.pop_back();
    }
    if (list.empty()) idle_.erase(it);
    return c;
  }
  void Put(const std::string& base_url, std::unique_ptr<Connection> c) EXCLUDES(mu_) {
    c->idle_since = std::chrono::steady_clock::now();
    MutexLock lock(mu_);
    auto& list = idle_[base_url];
    if (list.size() < kIdlePerUpstream && idle_.size() <= kMaxUpstreams)
      list.push_back(std::move(c));
  }

 private:
  static constexpr size_t kIdlePerUpstream = 8;
  static constexpr size_t kMaxUpstreams = 1024;
  static constexpr std::chrono::seconds kIdleFor{30};
  Mutex mu_;
  std::map<std::string, std::vector<std::unique_ptr<Connection>>> idle_ GUARDED_BY(mu_);
};

// Numeric addresses only (the mesh's): resolving is parsing, never a DNS query.
Result<tcp::endpoint> EndpointOf(const std::string& base_url, std::string* host_port) {
  std::string host, port;
  if (!SplitUrl(base_url, &host, &port))
    return Status::InvalidArgument("upstream " + base_url + ": want http://HOST:PORT");
  beast::error_code ec;
  tcp::endpoint endpoint(asio::ip::make_address(host, ec), 0);
  if (ec) return Status::InvalidArgument("upstream " + base_url + ": not an IP address");
  int n = 0;
  auto [end, err] = std::from_chars(port.data(), port.data() + port.size(), n);
  if (err != std::errc() || end != port.data() + port.size() || n < 1 || n > 65535)
    return Status::InvalidArgument("upstream " + base_url + ": bad port");
  endpoint.port(static_cast<uint16_t>(n));
  *host_port = host + ":" + port;
  return endpoint;
}

}  // namespace

Status Exchange(const UpstreamCall& call, UpstreamSink& sink) {
  std::string host_port;
  CARRIERARR_ASSIGN_OR_RETURN(tcp::endpoint endpoint, EndpointOf(call.base_url, &host_port));
  const std::string where = call.base_url + call.path;
  auto cancelled = [&] { return call.cancel && call.cancel->load(); };
  auto aborted = [&] { return Status::Aborted(where + ": cancelled"); };

  http::request<http::string_body> req{http::string_to_verb(call.method), call.path, 11};
  req.set(http::field::host, host_port);
  req.set(http::field::user_agent, "carrierarr-gateway");
  if (call.method != "GET") {
    req.set(http::field::content_type, call.content_type);
    req.body() = call.body;
  }
  req.keep_alive(true);
  req.prepare_payload();

  // A kept-alive connection the node has closed meanwhile fails before any answer: then once
  // more on a new one (nothing reached the sink).
  std::unique_ptr<Connection> c = ConnectionPool::Get().Take(call.base_url);
  std::optional<http::response_parser<http::buffer_body>> parser;
  beast::error_code ec;
  for (int attempt = 0;; ++attempt) {
    const bool reused = c != nullptr;
    if (!reused) {
      c = std::make_unique<Connection>();
      ec = c->Step(call.connect_timeout, call.cancel,
                   [&](auto handler) { c->stream.async_connect(endpoint, std::move(handler)); });
      if (cancelled()) return aborted();
      if (ec) return Status::Unavailable(where + ": cannot connect: " + ec.message());
      c->stream.socket().set_option(tcp::no_delay(true), ec);
    }
    ec = c->Step(call.connect_timeout, call.cancel,
                 [&](auto handler) { http::async_write(c->stream, req, std::move(handler)); });
    parser.emplace();
    // Streamed through, never held. Not boost::none: Boost 1.74 compares the length with the
    // empty optional and refuses every body.
    parser->body_limit(std::numeric_limits<std::uint64_t>::max());
    if (!ec) {
      ec = c->Step(call.idle_timeout, call.cancel, [&](auto handler) {
        http::async_read_header(c->stream, c->buffer, *parser, std::move(handler));
      });
    }
    if (cancelled()) return aborted();
    if (!ec) break;
    if (!reused || attempt > 0) return Status::Unavailable(where + ": no answer: " + ec.message());
    c.reset();
  }
  const auto& head = parser->get();
  const beast::string_view content_type = head[http::field::content_type];
  if (!sink.Head(static_cast<int>(head.result_int()),
                 std::string(content_type.data(), content_type.size())))
    return Status::Aborted("the client went away");
  char chunk[kChunk];
  while (!parser->is_done()) {
    parser->get().body().data = chunk;
    parser->get().body().size = sizeof chunk;
    // read_some: whatever has arrived, at once (read would wait to fill the chunk).
    ec = c->Step(call.idle_timeout, call.cancel, [&](auto handler) {
      http::async_read_some(c->stream, c->buffer, *parser, std::move(handler));
    });
    if (ec == http::error::need_buffer) ec = {};
    if (cancelled()) return aborted();
    if (ec) return Status::Internal(where + ": the answer broke off: " + ec.message());
    const size_t n = sizeof chunk - parser->get().body().size;
    if (n > 0 && !sink.Data(std::string_view(chunk, n)))
      return Status::Aborted("the client went away");
  }
  if (parser->keep_alive() && c->buffer.size() == 0)
    ConnectionPool::Get().Put(call.base_url, std::move(c));
  return Status::Ok();
}

Result<UpstreamAnswer> Fetch(const UpstreamCall& call, size_t max_bytes) {
  class Keep final : public UpstreamSink {
   public:
    explicit Keep(size_t max) : max_(max) {}
    bool Head(int status, const std::string&) override {
      answer.status = status;
      return true;
    }
    bool Data(std::string_view data) override {
      if (answer.body.size() + data.size() > max_) {
        over = true;
        return false;
      }
      answer.body.append(data);
      return true;
    }
    UpstreamAnswer answer;
    bool over = false;

   private:
    const size_t max_;
  } keep(max_bytes);
  Status s = Exchange(call, keep);
  if (keep.over)
    return Status::ResourceExhausted(call.base_url + call.path + ": answer over " +
                                     std::to_string(max_bytes) + " bytes");
  if (!s.ok()) return s;
  return keep.answer;
}

}  // namespace carrierarr::gateway
