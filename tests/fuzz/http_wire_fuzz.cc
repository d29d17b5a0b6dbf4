// libFuzzer target for the agent's HTTP/1.1 framing (src/agent/http_wire.cc): what probes send
// to its health server and what EC2's metadata service and Ollama answer it. Malformed input
// must only ever produce kBad or kIncomplete; on input that parses, the invariants below hold:
// the head's size lies within the input, and a body decoded in one piece equals the body
// decoded from the same bytes split anywhere (the parsers see TCP's arbitrary cuts).
//
//   cmake --preset fuzz && cmake --build --preset fuzz --target http_wire_fuzz
//   build-fuzz/bin/http_wire_fuzz -max_total_time=60 tests/fuzz/http_wire_corpus/
//
// (Copy the corpus directory first: libFuzzer adds its findings to the first one it is given.)
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "agent/http_wire.h"

namespace carrierarr::agent::http {
namespace {

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "http_wire_fuzz: invariant broken: %s\n", what);
  std::abort();
}

// Feeds `body` to a decoder for `head`, in pieces cut at `cut` (0: in one piece).
ParseResult Decode(const ResponseHead& head, std::string_view body, size_t cut, std::string* out) {
  ResponseBodyDecoder decoder(head);
  std::string error;
  ParseResult r = ParseResult::kIncomplete;
  if (cut > 0 && cut < body.size()) {
    r = decoder.Feed(body.substr(0, cut), false, &error);
    if (r != ParseResult::kIncomplete) {
      *out = decoder.body();
      return r;
    }
    body.remove_prefix(cut);
  }
  r = decoder.Feed(body, true, &error);
  Check(r != ParseResult::kIncomplete, "a body at the end of the connection is incomplete");
  Check(r != ParseResult::kBad || !error.empty(), "kBad without an error");
  *out = decoder.body();
  return r;
}

}  // namespace
}  // namespace carrierarr::agent::http

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace carrierarr::agent::http;
  // The first byte picks where the body is cut in two; the rest is the message.
  if (size == 0) return 0;
  const size_t cut = data[0];
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

  RequestHead request;
  size_t head_size = 0;
  std::string error;
  ParseResult r = ParseRequestHead(input, &request, &head_size, &error);
  if (r == ParseResult::kDone) {
    Check(head_size > 0 && head_size <= input.size(), "request head size out of the input");
    Check(!request.method.empty() && !request.target.empty(), "request without method or target");
  }
  if (r == ParseResult::kBad) Check(!error.empty(), "bad request head without an error");

  ResponseHead response;
  error.clear();
  r = ParseResponseHead(input, &response, &head_size, &error);
  if (r == ParseResult::kBad) Check(!error.empty(), "bad response head without an error");
  if (r != ParseResult::kDone) return 0;
  Check(head_size > 0 && head_size <= input.size(), "response head size out of the input");
  Check(response.status >= 100 && response.status <= 999, "status out of 100..999");
  const std::string_view body = input.substr(head_size);
  std::string whole, split;
  const ParseResult one = Decode(response, body, 0, &whole);
  const ParseResult two = Decode(response, body, cut, &split);
  Check(one == two, "a body split in two decodes differently");
  if (one == ParseResult::kDone)
    Check(whole == split, "a body split in two decodes to other bytes");
  Check(whole.size() <= body.size(), "a decoded body larger than its encoding");
  return 0;
}
