// Streamed answers of the HTTP server (http_server.h StreamedResponse), over raw loopback
// sockets: each piece reaches the client before the next is made (never buffered whole), the
// connection is kept alive after a chunked answer, HTTP/1.0 gets the body unframed and a close,
// and a producer learns at once, within bounds, that its client is gone or reads nothing.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "control_plane/http_server.h"
#include "testing/raw_socket.h"

namespace carrierarr::control_plane {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// One client connection; reads with a deadline.
class Client {
 public:
  explicit Client(int port) : fd_(testing::ConnectFromLoopback(port, "127.0.0.1")) {}
  ~Client() {
    if (fd_ >= 0) close(fd_);
  }
  bool Send(const std::string& data) {
    return send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
  }
  // Reads until `needle` has arrived, the peer closed, or `timeout`; everything read so far.
  std::string ReadUntil(std::string_view needle, milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (got_.find(needle) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
      if (poll(&p, 1, 50) <= 0) continue;
      char buf[4096];
      const ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_ = true;
        break;
      }
      got_.append(buf, static_cast<size_t>(n));
    }
    return got_;
  }
  bool closed() const { return closed_; }
  void Clear() { got_.clear(); }
  void Close() {
    close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
  std::string got_;
  bool closed_ = false;
};

// A server whose one route hands its stream to the test, on a thread the test controls.
class StreamTest : public ::testing::Test {
 protected:
  void StartServer(HttpLimits limits = {}) {
    std::vector<HttpRoute> routes;
    routes.push_back(
        {.method = "POST", .pattern = "/stream", .handler = [this](const HttpRequest&) {
           return HttpHandlerResult(
               StreamedResponse{.start = [this](std::shared_ptr<ResponseStream> s) {
                 streams_.set_value(std::move(s));
               }});
         }});
    routes.push_back({.method = "GET", .pattern = "/plain", .handler = [](const HttpRequest&) {
                        return HttpHandlerResult(JsonResponse(200, R"({"plain":true})"));
                      }});
    auto server = HttpServer::Start({.limits = limits}, std::move(routes));
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
  }
  // The stream of the request just sent.
  std::shared_ptr<ResponseStream> NextStream() {
    auto f = streams_.get_future();
    EXPECT_EQ(f.wait_for(seconds(10)), std::future_status::ready);
    auto s = f.get();
    streams_ = {};
    return s;
  }

  std::promise<std::shared_ptr<ResponseStream>> streams_;
  std::unique_ptr<HttpServer> server_;
};

constexpr char kPost11[] = "POST /stream HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";

TEST_F(StreamTest, EachPieceArrivesBeforeTheNextIsMadeAndTheConnectionStaysOpen) {
  StartServer();
  Client c(server_->port());
  ASSERT_TRUE(c.Send(kPost11));
  auto stream = NextStream();
  ASSERT_TRUE(stream->Begin(200, "application/x-ndjson", {{"X-Test", "1"}}));
  ASSERT_TRUE(stream->Write("{\"response\":\"Hel\"}\n"));
  // The first token is at the client while the producer still holds the second.
  std::string got = c.ReadUntil("Hel", seconds(10));
  EXPECT_NE(got.find("HTTP/1.1 200 OK\r\n"), std::string::npos) << got;
  EXPECT_NE(got.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << got;
  EXPECT_NE(got.find("X-Test: 1\r\n"), std::string::npos) << got;
  EXPECT_NE(got.find("Content-Type: application/x-ndjson\r\n"), std::string::npos) << got;
  EXPECT_NE(got.find("13\r\n{\"response\":\"Hel\"}\n\r\n"), std::string::npos) << got;
  ASSERT_TRUE(stream->Write("{\"response\":\"lo\",\"done\":true}\n"));
  ASSERT_TRUE(stream->Finish());
  EXPECT_FALSE(stream->Write("late")) << "nothing after the end";
  got = c.ReadUntil("0\r\n\r\n", seconds(10));
  EXPECT_NE(got.find("lo\",\"done\":true}\n\r\n0\r\n\r\n"), std::string::npos) << got;
  // Kept alive: the next request on the same connection is answered.
  c.Clear();
  ASSERT_TRUE(c.Send("GET /plain HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_NE(c.ReadUntil("\"plain\":true", seconds(10)).find("\"plain\":true"), std::string::npos);
}

TEST_F(StreamTest, AWholeAnswerThroughTheStreamKeepsItsHeaders) {
  StartServer();
  Client c(server_->port());
  ASSERT_TRUE(c.Send(kPost11));
  auto stream = NextStream();
  HttpResponse busy = JsonError(503, "queue full", "unavailable");
  busy.headers.emplace_back("Retry-After", "7");
  ASSERT_TRUE(stream->Respond(std::move(busy)));
  EXPECT_FALSE(stream->Begin(200, "text/plain", {})) << "one answer per request";
  const std::string got = c.ReadUntil("queue full", seconds(10));
  EXPECT_NE(got.find("HTTP/1.1 503 Service Unavailable\r\n"), std::string::npos) << got;
  EXPECT_NE(got.find("Retry-After: 7\r\n"), std::string::npos) << got;
}

TEST_F(StreamTest, Http10GetsTheBodyUnframedThenAClose) {
  StartServer();
  Client c(server_->port());
  ASSERT_TRUE(c.Send("POST /stream HTTP/1.0\r\nContent-Length: 0\r\n\r\n"));
  auto stream = NextStream();
  ASSERT_TRUE(stream->Begin(200, "text/event-stream", {{"Bad", "a\r\nInjected: 1"}}));
  ASSERT_TRUE(stream->Write("data: one\n\n"));
  ASSERT_TRUE(stream->Finish());
  const std::string got = c.ReadUntil("never", seconds(10));
  EXPECT_TRUE(c.closed());
  EXPECT_NE(got.find("HTTP/1.0 200 OK\r\n"), std::string::npos) << got;
  EXPECT_NE(got.find("Connection: close\r\n\r\ndata: one\n\n"), std::string::npos) << got;
  EXPECT_EQ(got.find("chunked"), std::string::npos) << got;
  EXPECT_EQ(got.find("Injected"), std::string::npos) << "a header with CR/LF is dropped: " << got;
}

TEST_F(StreamTest, AClientThatLeavesStopsTheProducer) {
  StartServer();
  Client c(server_->port());
  ASSERT_TRUE(c.Send(kPost11));
  auto stream = NextStream();
  ASSERT_TRUE(stream->Begin(200, "text/plain", {}));
  c.Close();
  bool stopped = false;
  const std::string chunk(1024, 'x');
  for (int i = 0; i < 1000 && !stopped; ++i) {  // bounded: 10 s at most
    stopped = !stream->Write(chunk);
    if (!stopped) std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_TRUE(stopped) << "the producer hears that its client is gone";
}

TEST_F(StreamTest, AClientThatReadsNothingIsDroppedAndHoldsBoundedMemory) {
  HttpLimits limits;
  limits.request_timeout = milliseconds(300);
  StartServer(limits);
  Client c(server_->port());
  ASSERT_TRUE(c.Send(kPost11));
  auto stream = NextStream();
  ASSERT_TRUE(stream->Begin(200, "text/plain", {}));
  const std::string chunk(64 << 10, 'x');
  size_t written = 0;
  const auto start = std::chrono::steady_clock::now();
  // The client never reads: once the socket buffers and the server's bound are full, Write
  // waits, then the client is dropped.
  while (written < (256u << 20) && stream->Write(chunk)) written += chunk.size();
  EXPECT_LT(written, 64u << 20) << "bounded by the socket buffers and 256 KiB, not the producer";
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(20));
  EXPECT_FALSE(stream->Write(chunk));
}

TEST_F(StreamTest, StopEndsAProducerThatWaitsForItsClient) {
  StartServer();
  Client c(server_->port());
  ASSERT_TRUE(c.Send(kPost11));
  auto stream = NextStream();
  ASSERT_TRUE(stream->Begin(200, "text/plain", {}));
  std::atomic<bool> done{false};
  std::thread producer([&] {
    const std::string chunk(64 << 10, 'x');
    for (int i = 0; i < 100000 && stream->Write(chunk); ++i) {
    }
    done = true;
  });
  std::this_thread::sleep_for(milliseconds(200));  // let it fill the buffers and wait
  server_->Stop();
  producer.join();
  EXPECT_TRUE(done);
  EXPECT_FALSE(stream->Finish());
  stream.reset();  // after Stop, dropping it posts nothing
  server_.reset();
}

}  // namespace
}  // namespace carrierarr::control_plane
