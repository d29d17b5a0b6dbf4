#include "control_plane/http_server.h"

#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdio>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <unordered_map>

#include "core/thread_annotations.h"

namespace carrierarr::control_plane {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using nlohmann::json;

constexpr size_t kReadChunk = 4096;
// After an error answer the server reads and drops what the client still sends for this long
// (and at most max_body + kLingerSlack bytes), so that the client sees the answer rather than a
// reset.
constexpr std::chrono::seconds kLinger{2};
constexpr size_t kLingerSlack = 64 << 10;
constexpr std::chrono::milliseconds kAcceptRetry{100};

std::string SizeText(size_t bytes) {
  std::string exact = std::to_string(bytes) + " bytes";
  if (bytes >= (1 << 20) && bytes % (1 << 20) == 0)
    return std::to_string(bytes >> 20) + " MiB (" + exact + ")";
  if (bytes >= 1024 && bytes % 1024 == 0)
    return std::to_string(bytes >> 10) + " KiB (" + exact + ")";
  return exact;
}

// For the log: control characters from a request never reach the operator's terminal raw.
std::string CEscape(std::string_view in) {
  std::string out;
  for (unsigned char c : in) {
    if (c >= 0x20 && c != 0x7f) {
      out += static_cast<char>(c);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  return out;
}

std::string Text(beast::string_view s) { return {s.data(), s.size()}; }

bool SameNoCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// A bounded queue of jobs and the threads that run them.
class WorkerPool {
 public:
  WorkerPool(int threads, size_t max_queue) : max_queue_(max_queue) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
  }
  ~WorkerPool() { Stop(); }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // False when the queue is full or the pool stopped.
  bool Submit(std::function<void()> job) EXCLUDES(mu_) {
    {
      MutexLock lock(mu_);
      if (stopping_ || queue_.size() >= max_queue_) return false;
      queue_.push_back(std::move(job));
    }
    cv_.NotifyOne();
    return true;
  }
  // Drops the queued jobs, lets the running ones finish and joins.
  void Stop() EXCLUDES(mu_) {
    {
      MutexLock lock(mu_);
      stopping_ = true;
      queue_.clear();
    }
    cv_.NotifyAll();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

 private:
  void Run() EXCLUDES(mu_) {
    for (;;) {
      std::function<void()> job;
      {
        MutexLock lock(mu_);
        while (!stopping_ && queue_.empty()) cv_.WaitFor(mu_, std::chrono::hours(1));
        if (stopping_) return;
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      job();
    }
  }

  const size_t max_queue_;
  Mutex mu_;
  CondVar cv_;
  std::deque<std::function<void()>> queue_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

struct CompiledRoute {
  HttpRoute route;
  std::vector<std::string> segments;  // of the pattern
};

class StreamImpl;

// One connection, on the I/O thread. Owned by Core::sessions until Close.
class SessionBase : public std::enable_shared_from_this<SessionBase> {
 public:
  virtual ~SessionBase() = default;
  virtual void Start() = 0;
  virtual void Send(HttpResponse response) = 0;  // the answer to the request in flight
  virtual void Close() = 0;
  // A streamed answer to the request in flight: its producer, then its pieces in order.
  virtual void Attach(std::shared_ptr<StreamImpl> producer) = 0;
  virtual void StreamHead(int status, const std::string& content_type,
                          const std::vector<std::pair<std::string, std::string>>& headers) = 0;
  virtual void StreamData(std::string data) = 0;
  virtual void StreamEnd() = 0;
};

// Most a streamed answer keeps unsent before its producer waits for the client.
constexpr size_t kMaxUnsent = 256 << 10;

// The producer's side of a streamed answer. Every piece is posted to the I/O thread, in order;
// `unsent_` counts the bytes posted and not yet written to the socket.
class StreamImpl final : public ResponseStream {
 public:
  StreamImpl(asio::io_context& ioc, std::weak_ptr<SessionBase> session,
             std::chrono::milliseconds write_timeout)
      : ioc_(ioc), session_(std::move(session)), write_timeout_(write_timeout) {}
  ~StreamImpl() override {
    MutexLock lock(mu_);
    if (!closed_ && state_ != kDone) PostLocked([](SessionBase& s) { s.Close(); });
  }

  bool Respond(HttpResponse response) override EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (closed_ || state_ != kNew) return false;
    state_ = kDone;
    auto r = std::make_shared<HttpResponse>(std::move(response));
    return PostLocked([r](SessionBase& s) { s.Send(std::move(*r)); });
  }
  bool Begin(int status, const std::string& content_type,
             const std::vector<std::pair<std::string, std::string>>& headers) override
      EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (closed_ || state_ != kNew) return false;
    state_ = kStreaming;
    return PostLocked([status, content_type, headers](SessionBase& s) {
      s.StreamHead(status, content_type, headers);
    });
  }
  bool Write(std::string_view data) override EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (closed_ || state_ != kStreaming) return false;
    if (data.empty()) return true;  // an empty chunk would end a chunked body
    const auto deadline = std::chrono::steady_clock::now() + write_timeout_;
    while (!closed_ && unsent_ > kMaxUnsent) {
      if (std::chrono::steady_clock::now() >= deadline) {
        // The client stopped reading: it is dropped, not waited for.
        PostLocked([](SessionBase& s) { s.Close(); });
        closed_ = true;
        return false;
      }
      cv_.WaitFor(mu_, write_timeout_);
    }
    if (closed_) return false;
    unsent_ += data.size();
    return PostLocked(
        [d = std::string(data)](SessionBase& s) mutable { s.StreamData(std::move(d)); });
  }
  bool Finish() override EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (closed_ || state_ != kStreaming) return false;
    state_ = kDone;
    return PostLocked([](SessionBase& s) { s.StreamEnd(); });
  }

  // The I/O thread's side: `n` bytes of data reached the socket; the connection closed.
  void Sent(size_t n) EXCLUDES(mu_) {
    {
      MutexLock lock(mu_);
      unsent_ -= std::min(unsent_, n);
    }
    cv_.NotifyAll();
  }
  void Closed() EXCLUDES(mu_) {
    {
      MutexLock lock(mu_);
      closed_ = true;
    }
    cv_.NotifyAll();
  }

 private:
  enum State { kNew, kStreaming, kDone };
  // Once closed_ is set (by the session's Close, which Stop does for every session before the
  // I/O thread ends) nothing is posted: the io_context may be gone.
  bool PostLocked(std::function<void(SessionBase&)> piece) REQUIRES(mu_) {
    asio::post(ioc_, [session = session_, piece = std::move(piece)] {
      if (auto s = session.lock()) piece(*s);
    });
    return true;
  }

  asio::io_context& ioc_;
  const std::weak_ptr<SessionBase> session_;
  const std::chrono::milliseconds write_timeout_;
  Mutex mu_;
  CondVar cv_;  // unsent_ or closed_ changed
  State state_ GUARDED_BY(mu_) = kNew;
  size_t unsent_ GUARDED_BY(mu_) = 0;
  bool closed_ GUARDED_BY(mu_) = false;
};

// A deferred answer waiting for its wake or deadline.
struct Waiting {
  DeferredResponse deferred;
  std::weak_ptr<SessionBase> session;
  std::shared_ptr<asio::steady_timer> timer;  // set on the I/O thread, under waits_mu
};

}  // namespace

struct HttpServer::Core {
  explicit Core(HttpServerOptions o)
      : options(std::move(o)),
        pool(options.limits.worker_threads,
             // Each connection has one request in flight and a deferred answer at most two
             // wakes (its event and its deadline): the queue never needs more than this.
             4 * options.limits.max_connections + 16) {}

  void Log(const std::string& line) const {
    if (options.log)
      options.log(line);
    else
      std::fprintf(stderr, "carrierarr serve: HTTP: %s\n", line.c_str());
  }

  const CompiledRoute* Match(const HttpRequest& request, std::vector<std::string>* params) const;
  HttpHandlerResult Call(const HttpHandler& handler, const HttpRequest& request) const;
  HttpResponse CallRespond(const DeferredResponse& deferred) const;
  // From a worker: hands the result of a handler to its session.
  void Deliver(const std::weak_ptr<SessionBase>& session, HttpHandlerResult result);
  void Reply(const std::weak_ptr<SessionBase>& session, HttpResponse response);
  // Attaches a new stream to the session (posted first) and hands it to the producer.
  void BeginStream(const std::weak_ptr<SessionBase>& session, const StreamedResponse& streamed);
  void BeginWait(const std::weak_ptr<SessionBase>& session, DeferredResponse deferred)
      EXCLUDES(waits_mu);
  void Wake(uint64_t id);                         // any thread
  void Complete(uint64_t id) EXCLUDES(waits_mu);  // a worker
  // The I/O thread's side.
  void Accept();
  void Admit(tcp::socket socket);
  void Release(SessionBase* session, const std::string& peer);
  void CloseAll();

  // Declared first so that it is destroyed last: every socket and timer below belongs to it.
  asio::io_context ioc{1};
  HttpServerOptions options;
  std::vector<CompiledRoute> routes;
  std::optional<ssl::context> tls;
  tcp::acceptor acceptor{ioc};
  asio::steady_timer accept_retry{ioc};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread io_thread;
  WorkerPool pool;
  int port = 0;
  std::atomic<bool> stopping{false};

  // The I/O thread's alone.
  std::unordered_map<SessionBase*, std::shared_ptr<SessionBase>> sessions;
  std::unordered_map<std::string, size_t> per_client;

  // Deferred answers not given yet, by id.
  Mutex waits_mu;
  std::map<uint64_t, std::shared_ptr<Waiting>> waits GUARDED_BY(waits_mu);
  uint64_t next_wait GUARDED_BY(waits_mu) = 0;
};

namespace {

template <class Stream>
class Session final : public SessionBase {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  Session(HttpServer::Core& core, Stream stream, std::string peer)
      : core_(core), stream_(std::move(stream)), peer_(std::move(peer)) {}

  void Start() override {
    if constexpr (kTls) {
      Tcp().expires_after(core_.options.limits.request_timeout);
      stream_.async_handshake(ssl::stream_base::server, [self = Self()](beast::error_code ec) {
        if (ec) return self->Close();
        self->AwaitRequest();
      });
    } else {
      AwaitRequest();
    }
  }

  void Send(HttpResponse r) override {
    if (closed_) return;
    response_ = {};
    response_.version(version_);
    response_.result(static_cast<unsigned>(r.status));
    response_.set(http::field::content_type, r.content_type);
    for (auto& [name, value] : r.headers) response_.set(name, value);
    response_.body() = std::move(r.body);
    response_.keep_alive(keep_alive_ && !core_.stopping);
    response_.prepare_payload();
    if (head_) response_.body().clear();  // HEAD: GET's headers, Content-Length included
    // A client that does not read its answer is bounded too.
    Tcp().expires_after(core_.options.limits.request_timeout);
    http::async_write(stream_, response_, [self = Self()](beast::error_code ec, size_t) {
      if (ec) return self->Close();
      if (self->linger_) return self->Linger();
      if (!self->response_.keep_alive()) return self->Close();
      self->AwaitRequest();
    });
  }

  void Close() override {
    if (closed_) return;
    closed_ = true;
    if (producer_) producer_->Closed();
    out_.clear();
    beast::error_code ignored;
    Tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
    Tcp().close();
    core_.Release(this, peer_);  // may drop the last owner: nothing after this
  }

  void Attach(std::shared_ptr<StreamImpl> producer) override {
    if (closed_) return producer->Closed();
    producer_ = std::move(producer);
  }

  void StreamHead(int status, const std::string& content_type,
                  const std::vector<std::pair<std::string, std::string>>& headers) override {
    chunked_ = version_ >= 11;
    stream_keep_alive_ = chunked_ && keep_alive_ && !core_.stopping;
    std::string head = "HTTP/1." + std::to_string(version_ % 10) + " " + std::to_string(status) +
                       " " + Text(http::obsolete_reason(static_cast<http::status>(status))) +
                       "\r\nContent-Type: " + content_type + "\r\n";
    for (const auto& [name, value] : headers) {
      // Never a header that would split the answer (a producer's are often an upstream's).
      if ((name + value).find_first_of("\r\n") != std::string::npos) continue;
      head += name + ": " + value + "\r\n";
    }
    if (chunked_) head += "Transfer-Encoding: chunked\r\n";
    head += stream_keep_alive_ ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
    Enqueue(std::move(head), 0);
  }

  void StreamData(std::string data) override {
    const size_t n = data.size();
    if (chunked_) {
      char size[24];
      std::snprintf(size, sizeof size, "%zx\r\n", n);
      data = size + data + "\r\n";
    }
    Enqueue(std::move(data), n);
  }

  void StreamEnd() override {
    stream_ending_ = true;
    Enqueue(chunked_ ? "0\r\n\r\n" : "", 0);
  }

 private:
  std::shared_ptr<Session> Self() { return std::static_pointer_cast<Session>(shared_from_this()); }
  beast::tcp_stream& Tcp() { return beast::get_lowest_layer(stream_); }

  // Between requests: the idle timeout runs until the first byte of the next one.
  void AwaitRequest() {
    if (buffer_.size() > 0) return ReadRequest();
    Tcp().expires_after(core_.options.limits.idle_timeout);
    stream_.async_read_some(buffer_.prepare(kReadChunk),
                            [self = Self()](beast::error_code ec, size_t n) {
                              if (ec) return self->Close();
                              self->buffer_.commit(n);
                              self->ReadRequest();
                            });
  }

  // From its first byte, the whole request (headers and body) has request_timeout.
  void ReadRequest() {
    const HttpLimits& limits = core_.options.limits;
    parser_.emplace();
    head_ = false;
    parser_->header_limit(static_cast<uint32_t>(limits.max_header_bytes));
    parser_->body_limit(limits.max_body_bytes);
    Tcp().expires_after(limits.request_timeout);  // for the header and the body together
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = Self()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  // A client that sent "Expect: 100-continue" (curl, for larger bodies) waits for a 100 before
  // it sends the body. An oversized one has had its 413 already (Content-Length vs the limit).
  void OnHeader(beast::error_code ec) {
    if (ec || parser_->is_done()) return OnRead(ec);
    if (!beast::iequals(parser_->get()[http::field::expect], "100-continue")) return ReadBody();
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                      [self = Self()](beast::error_code e, size_t) {
                        if (e) return self->Close();
                        self->ReadBody();
                      });
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *parser_,
                     [self = Self()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    const HttpLimits& limits = core_.options.limits;
    if (ec == http::error::body_limit)
      return Refuse(JsonError(413,
                              "request body over the limit of " + SizeText(limits.max_body_bytes),
                              "invalid argument"));
    if (ec == http::error::header_limit)
      return Refuse(
          JsonError(431, "request header over the limit of " + SizeText(limits.max_header_bytes),
                    "invalid argument"));
    if (ec && &ec.category() == &http::make_error_code(http::error::bad_method).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message)
      return Refuse(JsonError(400, "malformed HTTP request: " + ec.message(), "invalid argument"));
    if (ec) return Close();  // timed out, reset, or gone
    Tcp().expires_never();   // the handler's time is the server's, not the client's
    Dispatch();
  }

  // A streamed answer's bytes go out one piece at a time; `counted` is what its producer
  // counted as unsent.
  void Enqueue(std::string bytes, size_t counted) {
    if (closed_) return;
    out_.push_back({std::move(bytes), counted});
    if (!writing_) WriteNext();
  }
  void WriteNext() {
    if (out_.empty()) {
      Tcp().expires_never();  // waiting for the producer is the server's time
      return;
    }
    if (out_.front().bytes.empty()) {  // the end of an HTTP/1.0 stream
      out_.pop_front();
      return EndStream();
    }
    writing_ = true;
    Tcp().expires_after(core_.options.limits.request_timeout);  // a client that stopped reading
    asio::async_write(stream_, asio::buffer(out_.front().bytes),
                      [self = Self()](beast::error_code ec, size_t) {
                        self->writing_ = false;
                        if (ec || self->out_.empty()) return self->Close();
                        const size_t counted = self->out_.front().counted;
                        self->out_.pop_front();
                        if (self->producer_) self->producer_->Sent(counted);
                        if (self->stream_ending_ && self->out_.empty()) return self->EndStream();
                        self->WriteNext();
                      });
  }
  void EndStream() {
    stream_ending_ = false;
    producer_.reset();
    if (!stream_keep_alive_) return Close();
    AwaitRequest();
  }

  void Dispatch() {
    http::request<http::string_body> raw = parser_->release();
    version_ = raw.version();
    keep_alive_ = raw.keep_alive();
    head_ = raw.method() == http::verb::head;
    HttpRequest request;
    request.method = head_ ? "GET" : Text(raw.method_string());  // HEAD is served as GET
    std::string error;
    if (!ParseTarget(Text(raw.target()), &request.target, &error))
      return Refuse(JsonError(400, error, "invalid argument"));
    for (const auto& field : raw)
      request.headers.emplace_back(Text(field.name_string()), Text(field.value()));
    request.body = std::move(raw.body());
    request.peer = peer_;
    const CompiledRoute* route = core_.Match(request, &request.params);
    if (!route)
      return Send(
          JsonError(404, "no endpoint " + request.method + " " + request.target.path, "not found"));
    std::weak_ptr<SessionBase> weak = shared_from_this();
    if (route->route.on_io_thread) {
      HttpHandlerResult result = core_.Call(route->route.handler, request);
      if (auto* response = std::get_if<HttpResponse>(&result)) return Send(std::move(*response));
      if (std::holds_alternative<StreamedResponse>(result))
        return core_.Deliver(weak, std::move(result));
      return core_.BeginWait(weak, std::move(std::get<DeferredResponse>(result)));
    }
    HttpServer::Core& core = core_;
    if (!core_.pool.Submit([&core, weak, route, request = std::move(request)] {
          core.Deliver(weak, core.Call(route->route.handler, request));
        }))
      Send(JsonError(503, "the server is busy; try again", "unavailable"));
  }

  // Answers an unreadable or oversized request and closes the connection.
  void Refuse(HttpResponse response) {
    keep_alive_ = false;
    linger_ = true;
    Send(std::move(response));
  }

  // After an error answer: FIN, then drop what the client still sends (bounded), then close.
  void Linger() {
    if constexpr (kTls) {
      Close();
    } else {
      beast::error_code ignored;
      Tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
      Tcp().expires_after(
          std::min<std::chrono::milliseconds>(kLinger, core_.options.limits.request_timeout));
      Drain();
    }
  }
  void Drain() {
    buffer_.clear();
    Tcp().async_read_some(
        buffer_.prepare(kReadChunk), [self = Self()](beast::error_code ec, size_t n) {
          self->drained_ += n;
          if (ec || self->drained_ > self->core_.options.limits.max_body_bytes + kLingerSlack)
            return self->Close();
          self->Drain();
        });
  }

  HttpServer::Core& core_;
  Stream stream_;
  const std::string peer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool head_ = false;  // the request in flight is a HEAD
  bool linger_ = false;
  bool closed_ = false;
  size_t drained_ = 0;
  // A streamed answer in flight.
  struct Piece {
    std::string bytes;
    size_t counted;
  };
  std::shared_ptr<StreamImpl> producer_;
  std::deque<Piece> out_;
  bool writing_ = false;
  bool chunked_ = false;
  bool stream_keep_alive_ = false;
  bool stream_ending_ = false;
};

using PlainSession = Session<beast::tcp_stream>;
using TlsSession = Session<beast::ssl_stream<beast::tcp_stream>>;

std::vector<std::string> PatternSegments(const std::string& pattern) {
  RequestTarget t;
  std::string ignored;
  ParseTarget(pattern, &t, &ignored);
  return t.segments;
}

}  // namespace

HttpResponse JsonResponse(int status, const std::string& body) {
  return HttpResponse{.status = status, .body = body + "\n"};
}

HttpResponse JsonError(int status, const std::string& message, const std::string& code,
                       const std::string& hint) {
  json j{{"error", message}, {"code", code}};
  if (!hint.empty()) j["hint"] = hint;
  // A node id or path from the request may hold bytes that are not UTF-8: replaced, not thrown.
  return JsonResponse(status, j.dump(-1, ' ', false, json::error_handler_t::replace));
}

std::string_view HttpRequest::Header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (SameNoCase(n, name)) return v;
  return {};
}

const CompiledRoute* HttpServer::Core::Match(const HttpRequest& request,
                                             std::vector<std::string>* params) const {
  const std::vector<std::string>& got = request.target.segments;
  for (const CompiledRoute& r : routes) {
    if (r.route.method != request.method || r.segments.size() != got.size()) continue;
    params->clear();
    bool match = true;
    for (size_t i = 0; match && i < got.size(); ++i) {
      if (r.segments[i] == "*")
        match = !got[i].empty() && (params->push_back(got[i]), true);
      else
        match = r.segments[i] == got[i];
    }
    if (match) return &r;
  }
  params->clear();
  return nullptr;
}

HttpHandlerResult HttpServer::Core::Call(const HttpHandler& handler,
                                         const HttpRequest& request) const {
  try {
    return handler(request);
  } catch (const std::exception& e) {
    Log(request.method + " " + CEscape(request.target.path) + ": " + CEscape(e.what()));
  } catch (...) {
    Log(request.method + " " + CEscape(request.target.path) + ": unknown exception");
  }
  return JsonError(500, "internal error", "internal");
}

HttpResponse HttpServer::Core::CallRespond(const DeferredResponse& deferred) const {
  try {
    return deferred.respond();
  } catch (const std::exception& e) {
    Log("deferred answer: " + CEscape(e.what()));
  } catch (...) {
    Log("deferred answer: unknown exception");
  }
  return JsonError(500, "internal error", "internal");
}

void HttpServer::Core::Reply(const std::weak_ptr<SessionBase>& session, HttpResponse response) {
  asio::post(ioc, [session, response = std::move(response)]() mutable {
    if (auto s = session.lock()) s->Send(std::move(response));
  });
}

void HttpServer::Core::Deliver(const std::weak_ptr<SessionBase>& session,
                               HttpHandlerResult result) {
  if (auto* response = std::get_if<HttpResponse>(&result))
    return Reply(session, std::move(*response));
  if (auto* streamed = std::get_if<StreamedResponse>(&result))
    return BeginStream(session, *streamed);
  BeginWait(session, std::move(std::get<DeferredResponse>(result)));
}

void HttpServer::Core::BeginStream(const std::weak_ptr<SessionBase>& session,
                                   const StreamedResponse& streamed) {
  auto stream = std::make_shared<StreamImpl>(ioc, session, options.limits.request_timeout);
  asio::post(ioc, [session, stream] {
    if (auto s = session.lock())
      s->Attach(stream);
    else
      stream->Closed();
  });
  try {
    streamed.start(stream);
  } catch (const std::exception& e) {
    Log("streamed answer: " + CEscape(e.what()));
    stream->Respond(JsonError(500, "internal error", "internal"));
  }
}

void HttpServer::Core::BeginWait(const std::weak_ptr<SessionBase>& session,
                                 DeferredResponse deferred) {
  auto waiting = std::make_shared<Waiting>();
  const auto deadline = deferred.deadline;
  waiting->deferred = std::move(deferred);
  waiting->session = session;
  uint64_t id = 0;
  {
    MutexLock lock(waits_mu);
    id = ++next_wait;
    waits.emplace(id, waiting);
  }
  asio::post(ioc, [this, id, deadline] {
    auto timer = std::make_shared<asio::steady_timer>(ioc, deadline);
    {
      MutexLock lock(waits_mu);
      auto it = waits.find(id);
      if (it == waits.end()) return;  // woken already
      it->second->timer = timer;
    }
    timer->async_wait([this, id, timer](beast::error_code ec) {
      if (!ec) Wake(id);
    });
  });
  waiting->deferred.start([this, id] { Wake(id); });
}

void HttpServer::Core::Wake(uint64_t id) {
  // A full or stopped pool leaves the wait registered: Stop() stops it.
  pool.Submit([this, id] { Complete(id); });
}

void HttpServer::Core::Complete(uint64_t id) {
  std::shared_ptr<Waiting> waiting;
  {
    MutexLock lock(waits_mu);
    auto it = waits.find(id);
    if (it == waits.end()) return;  // a second wake
    waiting = std::move(it->second);
    waits.erase(it);
    if (waiting->timer) asio::post(ioc, [timer = waiting->timer] { timer->cancel(); });
  }
  HttpResponse response = CallRespond(waiting->deferred);
  if (waiting->deferred.stop) waiting->deferred.stop();
  Reply(waiting->session, std::move(response));
}

void HttpServer::Core::Accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (stopping || ec == asio::error::operation_aborted) return;
    if (ec) {
      // Out of file descriptors, most likely: try again shortly rather than spin.
      Log("accept: " + ec.message());
      accept_retry.expires_after(kAcceptRetry);
      accept_retry.async_wait([this](beast::error_code e) {
        if (!e) Accept();
      });
      return;
    }
    Admit(std::move(socket));
    Accept();
  });
}

void HttpServer::Core::Admit(tcp::socket socket) {
  beast::error_code ec;
  asio::ip::address address = socket.remote_endpoint(ec).address();
  if (ec) return;
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  std::string peer = address.to_string();
  const HttpLimits& limits = options.limits;
  size_t& mine = per_client[peer];
  if (sessions.size() >= limits.max_connections || mine >= limits.max_connections_per_client) {
    if (mine == 0) per_client.erase(peer);
    if (!tls) {
      // Best effort, never waiting: the client may read why before the close.
      const std::string body =
          json{{"error",
                sessions.size() >= limits.max_connections
                    ? "too many connections (limit " + std::to_string(limits.max_connections) + ")"
                    : "too many connections from " + peer + " (limit " +
                          std::to_string(limits.max_connections_per_client) + ")"},
               {"code", "unavailable"}}
              .dump() +
          "\n";
      const std::string reply =
          "HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
          "application/json\r\nConnection: close\r\nContent-Length: " +
          std::to_string(body.size()) + "\r\n\r\n" + body;
      socket.non_blocking(true, ec);
      socket.write_some(asio::buffer(reply), ec);
      socket.shutdown(tcp::socket::shutdown_send, ec);
    }
    socket.close(ec);
    return;
  }
  ++mine;
  socket.set_option(tcp::no_delay(true), ec);
  std::shared_ptr<SessionBase> session;
  if (tls)
    session = std::make_shared<TlsSession>(
        *this, beast::ssl_stream<beast::tcp_stream>(beast::tcp_stream(std::move(socket)), *tls),
        std::move(peer));
  else
    session = std::make_shared<PlainSession>(*this, beast::tcp_stream(std::move(socket)),
                                             std::move(peer));
  sessions.emplace(session.get(), session);
  session->Start();
}

void HttpServer::Core::Release(SessionBase* session, const std::string& peer) {
  auto it = per_client.find(peer);
  if (it != per_client.end() && --it->second == 0) per_client.erase(it);
  sessions.erase(session);
}

void HttpServer::Core::CloseAll() {
  beast::error_code ignored;
  acceptor.close(ignored);
  accept_retry.cancel();
  std::vector<std::shared_ptr<SessionBase>> all;
  for (auto& [p, s] : sessions) all.push_back(s);
  for (auto& s : all) s->Close();
  ioc.stop();  // pending timers and completions are destroyed with the io_context
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options,
                                                      std::vector<HttpRoute> routes) {
  if (options.port < 0 || options.port > 65535) return Status::InvalidArgument("port out of range");
  const HttpLimits& l = options.limits;
  if (l.max_connections == 0 || l.max_connections_per_client == 0 || l.worker_threads < 1 ||
      l.request_timeout.count() <= 0 || l.idle_timeout.count() <= 0)
    return Status::InvalidArgument(
        "HTTP limits: connection caps, worker threads and timeouts must be positive");
  auto core = std::make_unique<Core>(std::move(options));
  const HttpServerOptions& o = core->options;
  for (auto& r : routes) {
    std::vector<std::string> segments = PatternSegments(r.pattern);
    core->routes.push_back({std::move(r), std::move(segments)});
  }
  if (!o.tls_cert.empty() || !o.tls_key.empty()) {
    if (o.tls_cert.empty() || o.tls_key.empty())
      return Status::InvalidArgument("--tls-cert and --tls-key go together");
    core->tls.emplace(ssl::context::tls_server);
    ssl::context& ctx = *core->tls;
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    beast::error_code ec;
    ctx.use_certificate_chain_file(o.tls_cert, ec);
    if (!ec) ctx.use_private_key_file(o.tls_key, ssl::context::pem, ec);
    if (ec || SSL_CTX_check_private_key(ctx.native_handle()) != 1)
      return Status::InvalidArgument("cannot load the TLS certificate " + o.tls_cert + " and key " +
                                     o.tls_key + " (PEM files, the key matching the certificate?)");
  }

  const std::string where = o.host + ":" + std::to_string(o.port);
  beast::error_code ec;
  tcp::resolver resolver(core->ioc);
  auto endpoints = resolver.resolve(o.host, std::to_string(o.port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty())
    return Status::Unavailable("cannot listen on " + where + ": " + ec.message());
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  // SO_REUSEADDR but not SO_REUSEPORT: a second `carrierarr serve` on the port is an error.
  core->acceptor.open(endpoint.protocol(), ec);
  if (!ec) core->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) core->acceptor.bind(endpoint, ec);
  if (!ec) core->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return Status::Unavailable("cannot listen on " + where + " (" + ec.message() +
                               "; address in use, or not an address of this host?)");
  core->port = core->acceptor.local_endpoint().port();

  core->work.emplace(core->ioc.get_executor());
  core->Accept();
  Core* c = core.get();
  core->io_thread = std::thread([c] { c->ioc.run(); });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(core)));
}

HttpServer::HttpServer(std::unique_ptr<Core> core) : core_(std::move(core)) {}

HttpServer::~HttpServer() { Stop(); }

int HttpServer::port() const { return core_->port; }

void HttpServer::Stop() {
  Core& c = *core_;
  if (c.stopping.exchange(true)) return;
  c.pool.Stop();  // no handler runs after this, and no wake reaches a worker
  std::map<uint64_t, std::shared_ptr<Waiting>> waits;
  {
    MutexLock lock(c.waits_mu);
    waits.swap(c.waits);
  }
  for (auto& [id, w] : waits)
    if (w->deferred.stop) w->deferred.stop();
  asio::post(c.ioc, [&c] { c.CloseAll(); });
  if (c.io_thread.joinable()) c.io_thread.join();
}

}  // namespace carrierarr::control_plane
