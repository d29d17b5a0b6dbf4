#include "gateway/upstream.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <limits>
#include <optional>

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
// kind beast's timeouts bound) run to completion here, checking `cancel` meanwhile.
class Connection {
 public:
  explicit Connection(const std::atomic<bool>* cancel) : cancel_(cancel) {}

  template <class Op>
  beast::error_code Step(std::chrono::milliseconds timeout, Op op) {
    std::optional<beast::error_code> result;
    stream.expires_after(timeout);
    op([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc_.restart();
    while (!result) {
      ioc_.run_for(kCancelCheck);
      if (!result && cancelled()) stream.cancel();  // the handler runs with operation_aborted
    }
    return *result;
  }
  bool cancelled() const { return cancel_ && cancel_->load(); }

 private:
  asio::io_context ioc_;
  const std::atomic<bool>* cancel_;

 public:
  beast::tcp_stream stream{ioc_};
};

}  // namespace

Status Exchange(const UpstreamCall& call, UpstreamSink& sink) {
  std::string host, port;
  if (!SplitUrl(call.base_url, &host, &port))
    return Status::InvalidArgument("upstream " + call.base_url + ": want http://HOST:PORT");
  const std::string where = call.base_url + call.path;
  Connection c(call.cancel);
  auto aborted = [&] { return Status::Aborted(where + ": cancelled"); };
  beast::error_code ec;
  // Numeric addresses only (the mesh's): resolving is parsing, never a DNS query.
  tcp::endpoint endpoint(asio::ip::make_address(host, ec), 0);
  if (ec) return Status::InvalidArgument("upstream " + call.base_url + ": not an IP address");
  try {
    endpoint.port(static_cast<uint16_t>(std::stoi(port)));
  } catch (const std::exception&) {
    return Status::InvalidArgument("upstream " + call.base_url + ": bad port");
  }
  ec = c.Step(call.connect_timeout,
              [&](auto handler) { c.stream.async_connect(endpoint, std::move(handler)); });
  if (c.cancelled()) return aborted();
  if (ec) return Status::Unavailable(where + ": cannot connect: " + ec.message());
  c.stream.socket().set_option(tcp::no_delay(true), ec);

  http::request<http::string_body> req{http::string_to_verb(call.method), call.path, 11};
  req.set(http::field::host, host + ":" + port);
  req.set(http::field::user_agent, "carrierarr-gateway");
  if (call.method != "GET") {
    req.set(http::field::content_type, call.content_type);
    req.body() = call.body;
  }
  req.keep_alive(false);
  req.prepare_payload();
  ec = c.Step(call.connect_timeout,
              [&](auto handler) { http::async_write(c.stream, req, std::move(handler)); });
  if (c.cancelled()) return aborted();
  if (ec) return Status::Unavailable(where + ": cannot send: " + ec.message());

  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  // Streamed through, never held. Not boost::none: Boost 1.74 compares the length with the
  // empty optional and refuses every body.
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  ec = c.Step(call.idle_timeout, [&](auto handler) {
    http::async_read_header(c.stream, buffer, parser, std::move(handler));
  });
  if (c.cancelled()) return aborted();
  if (ec) return Status::Unavailable(where + ": no answer: " + ec.message());
  const auto& head = parser.get();
  if (!sink.Head(static_cast<int>(head.result_int()), std::string(head[http::field::content_type])))
    return Status::Aborted("the client went away");
  char chunk[kChunk];
  while (!parser.is_done()) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof chunk;
    // read_some: whatever has arrived, at once (read would wait to fill the chunk).
    ec = c.Step(call.idle_timeout, [&](auto handler) {
      http::async_read_some(c.stream, buffer, parser, std::move(handler));
    });
    if (ec == http::error::need_buffer) ec = {};
    if (c.cancelled()) return aborted();
    if (ec) return Status::Internal(where + ": the answer broke off: " + ec.message());
    const size_t n = sizeof chunk - parser.get().body().size;
    if (n > 0 && !sink.Data(std::string_view(chunk, n)))
      return Status::Aborted("the client went away");
  }
  c.stream.socket().shutdown(tcp::socket::shutdown_both, ec);
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
