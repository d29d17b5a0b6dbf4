// HTTP/1.1 message framing (RFC 9112), just what the agent's own health server and its client
// for the node's local services (EC2 metadata, Ollama) need: heads with headers, bodies by
// Content-Length, chunked transfer coding or the end of the connection. No I/O here, so that
// every parser is tested, and fuzzable, on plain strings.
//
// The parsers take what has arrived so far and answer kIncomplete until a whole head or body
// is there; the caller bounds how much it buffers. Stateless; thread-safe.
#ifndef CARRIERARR_AGENT_HTTP_WIRE_H_
#define CARRIERARR_AGENT_HTTP_WIRE_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace carrierarr::agent::http {

struct Header {
  std::string name;   // as sent; compare with FindHeader (names are case-insensitive)
  std::string value;  // without surrounding white space
};
using Headers = std::vector<Header>;

// The value of the first header named `name` (case-insensitive); nullptr when there is none.
const std::string* FindHeader(const Headers& headers, std::string_view name);

enum class ParseResult {
  kIncomplete,  // more bytes needed
  kDone,
  kBad,  // not HTTP/1.x, or framing we do not accept; `error` says what
};

struct RequestHead {
  std::string method;     // "GET"
  std::string target;     // "/health?x=1" (origin form) or "http://host/health" (absolute form)
  int minor_version = 1;  // HTTP/1.<minor_version>
  Headers headers;
};

struct ResponseHead {
  int status = 0;
  std::string reason;
  Headers headers;
};

// Parses a request head at the start of `data`. On kDone, `*head_size` is the number of bytes
// the head took, blank line included.
ParseResult ParseRequestHead(std::string_view data, RequestHead* head, size_t* head_size,
                             std::string* error);

// Parses a response head at the start of `data`, as ParseRequestHead.
ParseResult ParseResponseHead(std::string_view data, ResponseHead* head, size_t* head_size,
                              std::string* error);

// Decodes the body of one response as its bytes arrive: by Content-Length, chunked transfer
// coding, or up to the end of the connection when the head names neither. Not thread-safe.
class ResponseBodyDecoder {
 public:
  // `head` is the response's (its framing headers are read here; it need not outlive this).
  explicit ResponseBodyDecoder(const ResponseHead& head);

  // Takes the next bytes after the head; `eof`: the peer closed the connection after them.
  // kDone once the body is complete (bytes after it are ignored); kBad with `error` when the
  // framing is broken or the connection ended early.
  ParseResult Feed(std::string_view data, bool eof, std::string* error);
  // The body decoded so far; complete once Feed answered kDone.
  const std::string& body() const { return body_; }
  std::string TakeBody() { return std::move(body_); }

 private:
  enum class Framing { kEmpty, kLength, kChunked, kUntilClose, kBad };
  enum class ChunkState { kSizeLine, kData, kDataEnd, kTrailers, kDone };
  ParseResult FeedChunked(std::string_view data, bool eof, std::string* error);

  Framing framing_ = Framing::kUntilClose;
  std::string framing_error_;  // why the framing is kBad
  size_t length_ = 0;          // kLength: the body's size
  ChunkState chunk_state_ = ChunkState::kSizeLine;
  size_t chunk_left_ = 0;  // kData: bytes of the current chunk still to come
  std::string line_;       // a size, CRLF or trailer line received in part
  std::string body_;
  bool done_ = false;
};

// "OK" for 200, "Not Found" for 404, ...; "" for a code this file does not name.
std::string_view ReasonPhrase(int status);

}  // namespace carrierarr::agent::http

#endif  // CARRIERARR_AGENT_HTTP_WIRE_H_
