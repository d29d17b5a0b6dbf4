// HTTP/1.1 framing (agent/http_wire.h) on plain strings: heads, and bodies fed in every split.
#include "agent/http_wire.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace carrierarr::agent::http {
namespace {

TEST(ParseRequestHeadTest, ARequestWithHeaders) {
  const std::string data =
      "GET /metrics?x=1 HTTP/1.1\r\nHost: 10.42.0.5:8080\r\nUser-Agent:  curl/7.88 \r\n"
      "accept: */*\r\n\r\nBODY";
  RequestHead head;
  size_t size = 0;
  std::string error;
  ASSERT_EQ(ParseRequestHead(data, &head, &size, &error), ParseResult::kDone) << error;
  EXPECT_EQ(head.method, "GET");
  EXPECT_EQ(head.target, "/metrics?x=1");
  EXPECT_EQ(head.minor_version, 1);
  EXPECT_EQ(size, data.size() - 4);
  ASSERT_EQ(head.headers.size(), 3u);
  ASSERT_NE(FindHeader(head.headers, "user-agent"), nullptr);
  EXPECT_EQ(*FindHeader(head.headers, "user-agent"), "curl/7.88");
  ASSERT_NE(FindHeader(head.headers, "ACCEPT"), nullptr);
  EXPECT_EQ(*FindHeader(head.headers, "ACCEPT"), "*/*");
  EXPECT_EQ(FindHeader(head.headers, "Content-Length"), nullptr);
}

TEST(ParseRequestHeadTest, IncompleteUntilTheBlankLine) {
  const std::string data = "GET /health HTTP/1.0\r\nHost: x\r\n\r\n";
  for (size_t n = 0; n < data.size(); ++n) {
    RequestHead head;
    size_t size = 0;
    std::string error;
    EXPECT_EQ(ParseRequestHead(data.substr(0, n), &head, &size, &error), ParseResult::kIncomplete)
        << n;
  }
  RequestHead head;
  size_t size = 0;
  std::string error;
  ASSERT_EQ(ParseRequestHead(data, &head, &size, &error), ParseResult::kDone);
  EXPECT_EQ(head.minor_version, 0);
}

TEST(ParseRequestHeadTest, BadRequestsSayWhy) {
  for (std::string_view bad : {
           "GET /health\r\n\r\n",                         // no version
           "GET /health HTTP/1.1 extra\r\n\r\n",          // three spaces
           "GET /health HTTP/2.0\r\n\r\n",                // not 1.x
           "G(T /health HTTP/1.1\r\n\r\n",                // not a token
           "GET /a\x01z HTTP/1.1\r\n\r\n",                // control character
           "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",       // space in a name
           "GET / HTTP/1.1\r\nNoColon\r\n\r\n",           // no colon
           "GET / HTTP/1.1\r\nA: b\r\n\tfolded\r\n\r\n",  // obsolete folding
           "GET / HTTP/1.1\r\nA: b\rc\r\n\r\n",           // a lone CR
       }) {
    RequestHead head;
    size_t size = 0;
    std::string error;
    EXPECT_EQ(ParseRequestHead(bad, &head, &size, &error), ParseResult::kBad) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

TEST(ParseResponseHeadTest, StatusLines) {
  struct Case {
    std::string_view data;
    int status;
    std::string_view reason;
  };
  for (const Case& c :
       {Case{"HTTP/1.1 200 OK\r\n\r\n", 200, "OK"},
        Case{"HTTP/1.0 404 Not Found\r\nA: b\r\n\r\n", 404, "Not Found"},
        Case{"HTTP/1.1 204\r\n\r\n", 204, ""}, Case{"HTTP/1.1 503 \n\n", 503, ""}}) {
    ResponseHead head;
    size_t size = 0;
    std::string error;
    ASSERT_EQ(ParseResponseHead(c.data, &head, &size, &error), ParseResult::kDone) << c.data;
    EXPECT_EQ(head.status, c.status);
    EXPECT_EQ(head.reason, c.reason);
    EXPECT_EQ(size, c.data.size());
  }
  for (std::string_view bad :
       {"HTTP/2 200 OK\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n",
        "ICY 200 OK\r\n\r\n", "HTTP/1.1 099 Low\r\n\r\n", "\r\n\r\n"}) {
    ResponseHead head;
    size_t size = 0;
    std::string error;
    EXPECT_EQ(ParseResponseHead(bad, &head, &size, &error), ParseResult::kBad) << bad;
  }
}

ResponseHead HeadWith(int status, Headers headers) {
  ResponseHead h;
  h.status = status;
  h.headers = std::move(headers);
  return h;
}

// Feeds `data` to a fresh decoder in pieces of `step` bytes; eof with the last piece.
ParseResult FeedInSteps(const ResponseHead& head, std::string_view data, size_t step,
                        bool eof_at_end, std::string* body, std::string* error) {
  ResponseBodyDecoder d(head);
  ParseResult r = ParseResult::kIncomplete;
  size_t pos = 0;
  do {
    std::string_view piece = data.substr(pos, step);
    pos += piece.size();
    r = d.Feed(piece, eof_at_end && pos >= data.size(), error);
  } while (r == ParseResult::kIncomplete && pos < data.size());
  *body = d.body();
  return r;
}

TEST(ResponseBodyDecoderTest, ContentLengthInEverySplit) {
  const ResponseHead head = HeadWith(200, {{"Content-Length", "11"}});
  for (size_t step = 1; step <= 14; ++step) {
    std::string body, error;
    EXPECT_EQ(FeedInSteps(head, "hello worldEXTRA", step, false, &body, &error), ParseResult::kDone)
        << step;
    EXPECT_EQ(body, "hello world") << step;
  }
  std::string body, error;
  EXPECT_EQ(FeedInSteps(head, "hello", 5, true, &body, &error), ParseResult::kBad);
  EXPECT_NE(error.find("5 of 11"), std::string::npos) << error;
}

TEST(ResponseBodyDecoderTest, ChunkedInEverySplit) {
  const ResponseHead head = HeadWith(200, {{"Transfer-Encoding", "Chunked"}});
  const std::string wire =
      "5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nNEXT";
  for (size_t step = 1; step <= wire.size(); ++step) {
    std::string body, error;
    EXPECT_EQ(FeedInSteps(head, wire, step, false, &body, &error), ParseResult::kDone) << step;
    EXPECT_EQ(body, "hello 0123456789") << step;
  }
  // Bare line feeds as well.
  std::string body, error;
  EXPECT_EQ(FeedInSteps(head, "3\nabc\n0\n\n", 1, false, &body, &error), ParseResult::kDone);
  EXPECT_EQ(body, "abc");
}

TEST(ResponseBodyDecoderTest, BrokenChunkedBodies) {
  const ResponseHead head = HeadWith(200, {{"Transfer-Encoding", "chunked"}});
  for (std::string_view bad :
       {"zz\r\nab\r\n0\r\n\r\n", "2\r\nabc\r\n0\r\n\r\n", "10000000000000000\r\n", "3\r\nab"}) {
    std::string body, error;
    EXPECT_EQ(FeedInSteps(head, bad, 64, true, &body, &error), ParseResult::kBad) << bad;
    EXPECT_FALSE(error.empty());
  }
  // A size line that never ends is refused rather than buffered.
  std::string body, error;
  EXPECT_EQ(FeedInSteps(head, std::string(5000, '0'), 100, false, &body, &error),
            ParseResult::kBad);
}

TEST(ResponseBodyDecoderTest, FramingFromTheHead) {
  std::string body, error;
  // Neither length nor chunked: the body runs to the end of the connection.
  EXPECT_EQ(FeedInSteps(HeadWith(200, {}), "all of it", 3, true, &body, &error),
            ParseResult::kDone);
  EXPECT_EQ(body, "all of it");
  // No body for 204 and 304, whatever follows.
  EXPECT_EQ(FeedInSteps(HeadWith(204, {{"Content-Length", "5"}}), "x", 1, false, &body, &error),
            ParseResult::kDone);
  EXPECT_EQ(body, "");
  // Conflicting or bad lengths, unknown codings.
  for (const Headers& headers :
       {Headers{{"Content-Length", "5"}, {"Content-Length", "6"}},
        Headers{{"Content-Length", "-1"}}, Headers{{"Content-Length", "1e3"}},
        Headers{{"Transfer-Encoding", "gzip, chunked"}}}) {
    EXPECT_EQ(FeedInSteps(HeadWith(200, headers), "abcdef", 6, true, &body, &error),
              ParseResult::kBad)
        << headers[0].value;
  }
  // Transfer-Encoding wins over Content-Length.
  EXPECT_EQ(FeedInSteps(HeadWith(200, {{"Content-Length", "99"}, {"Transfer-Encoding", "chunked"}}),
                        "1\r\nx\r\n0\r\n\r\n", 4, false, &body, &error),
            ParseResult::kDone);
  EXPECT_EQ(body, "x");
}

}  // namespace
}  // namespace carrierarr::agent::http
