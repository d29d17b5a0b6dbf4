// The libcurl transport's streaming mode on a loopback HTTP server: chunks reach the callback,
// the callback can stop the transfer, the time bound ends a stream well, and an error answer's
// body is kept for the message.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "net/http.h"
#include "testing/loopback_server.h"

namespace carrierarr::net {
namespace {

class CurlStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // An endless stream: one line every few milliseconds until the client goes away.
    server_.server().Get("/stream", [](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("application/json", [](size_t, httplib::DataSink& sink) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the server's pace
        return sink.write("{\"n\":1}\n", 8);
      });
    });
    server_.server().Get("/denied", [](const httplib::Request&, httplib::Response& res) {
      res.status = 403;
      res.set_content("{\"message\":\"no\"}", "application/json");
    });
    server_.Start();
    auto transport = MakeCurlTransport();
    ASSERT_TRUE(transport.ok()) << transport.status().message();
    transport_ = std::move(*transport);
  }
  testing::LoopbackServer server_;
  std::unique_ptr<HttpTransport> transport_;
};

TEST_F(CurlStreamTest, CallbackStopsTheTransfer) {
  int chunks = 0;
  HttpRequest request{.method = "GET", .url = server_.url() + "/stream"};
  request.on_chunk = [&](std::string_view) { return ++chunks < 3; };
  auto response = transport_->Send(request);
  ASSERT_TRUE(response.ok()) << response.status().message();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(chunks, 3);
  EXPECT_FALSE(response->timed_out);
  EXPECT_TRUE(response->body.empty());
}

TEST_F(CurlStreamTest, TimeBoundEndsTheStreamWell) {
  HttpRequest request{.method = "GET", .url = server_.url() + "/stream"};
  request.timeout = std::chrono::milliseconds(300);
  size_t bytes = 0;
  request.on_chunk = [&](std::string_view chunk) {
    bytes += chunk.size();
    return true;
  };
  auto response = transport_->Send(request);
  ASSERT_TRUE(response.ok()) << response.status().message();
  EXPECT_TRUE(response->timed_out);
  EXPECT_GT(bytes, 0u);
}

TEST_F(CurlStreamTest, ErrorBodyIsKept) {
  bool called = false;
  HttpRequest request{.method = "GET", .url = server_.url() + "/denied"};
  request.on_chunk = [&](std::string_view) { return called = true; };
  auto response = transport_->Send(request);
  ASSERT_TRUE(response.ok()) << response.status().message();
  EXPECT_EQ(response->status, 403);
  EXPECT_FALSE(called);
  EXPECT_EQ(response->body, "{\"message\":\"no\"}");
}

}  // namespace
}  // namespace carrierarr::net
