#include "agent/http_wire.h"

#include <charconv>
#include <cstdint>

namespace carrierarr::agent::http {
namespace {

// RFC 9110 token characters (methods, header names).
bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits `data` into the lines of a head. kDone: `lines` holds every line before the blank one
// (CR stripped) and `*head_size` counts the blank line too. Bare LF line ends are accepted
// (RFC 9112 section 2.2 allows it); a CR anywhere else is not.
ParseResult SplitHead(std::string_view data, bool skip_leading_blank_lines,
                      std::vector<std::string_view>* lines, size_t* head_size, std::string* error) {
  size_t pos = 0;
  for (;;) {
    size_t lf = data.find('\n', pos);
    if (lf == std::string_view::npos) return ParseResult::kIncomplete;
    std::string_view line = data.substr(pos, lf - pos);
    pos = lf + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find('\r') != std::string_view::npos || line.find('\0') != std::string_view::npos) {
      *error = "a control character inside a header line";
      return ParseResult::kBad;
    }
    if (line.empty()) {
      // A server should ignore blank lines before a request line (RFC 9112 section 2.2).
      if (lines->empty() && skip_leading_blank_lines) continue;
      if (lines->empty()) {
        *error = "an empty start line";
        return ParseResult::kBad;
      }
      *head_size = pos;
      return ParseResult::kDone;
    }
    lines->push_back(line);
  }
}

ParseResult ParseHeaderLines(const std::vector<std::string_view>& lines, Headers* headers,
                             std::string* error) {
  for (size_t i = 1; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (line.front() == ' ' || line.front() == '\t') {
      *error = "a folded header line (obsolete line folding is not accepted)";
      return ParseResult::kBad;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || !IsToken(line.substr(0, colon))) {
      *error = "a header line that is not \"name: value\"";
      return ParseResult::kBad;
    }
    headers->push_back(
        {std::string(line.substr(0, colon)), std::string(TrimOws(line.substr(colon + 1)))});
  }
  return ParseResult::kDone;
}

// "HTTP/1.0" or "HTTP/1.1" -> 0 or 1; -1 for anything else.
int MinorVersion(std::string_view v) {
  if (v == "HTTP/1.1") return 1;
  if (v == "HTTP/1.0") return 0;
  return -1;
}

// A decimal size with no sign, spaces or overflow.
bool ParseDecimalSize(std::string_view s, size_t* out) {
  if (s.empty() || s.size() > 18) return false;
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return false;
  *out = static_cast<size_t>(v);
  return true;
}

// The hexadecimal size at the start of a chunk-size line; extensions (";name=value") ignored.
bool ParseChunkSize(std::string_view line, size_t* out) {
  std::string_view digits = line.substr(0, line.find(';'));
  digits = TrimOws(digits);
  if (digits.empty() || digits.size() > 15) return false;  // under 2^60: no overflow
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v, 16);
  if (ec != std::errc() || end != digits.data() + digits.size()) return false;
  *out = static_cast<size_t>(v);
  return true;
}

// Reads a request line into `head`: method SP request-target SP HTTP-version, single spaces.
// Returns what is wrong with it, or null.
const char* ReadRequestLine(std::string_view start, RequestHead* head) {
  constexpr const char* kBadLine = "a request line that is not \"METHOD TARGET HTTP/1.x\"";
  size_t sp1 = start.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : start.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || start.find(' ', sp2 + 1) != std::string_view::npos) {
    return kBadLine;
  }
  std::string_view method = start.substr(0, sp1);
  std::string_view target = start.substr(sp1 + 1, sp2 - sp1 - 1);
  int minor = MinorVersion(start.substr(sp2 + 1));
  if (!IsToken(method) || target.empty()) return kBadLine;
  for (char c : target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return "a control character in the request target";
    }
  }
  if (minor < 0) return "an HTTP version other than 1.0 and 1.1";
  head->method = std::string(method);
  head->target = std::string(target);
  head->minor_version = minor;
  return nullptr;
}

// Reads a status line into `head`: HTTP-version SP 3DIGIT SP [reason-phrase]; some servers leave
// out the second space. Returns what is wrong with it, or null.
const char* ReadStatusLine(std::string_view start, ResponseHead* head) {
  constexpr const char* kBadLine = "a status line that is not \"HTTP/1.x CODE REASON\"";
  if (start.size() < 12 || MinorVersion(start.substr(0, 8)) < 0 || start[8] != ' ') return kBadLine;
  int status = 0;
  for (char c : start.substr(9, 3)) {
    if (c < '0' || c > '9') return kBadLine;
    status = status * 10 + (c - '0');
  }
  if (status < 100 || (start.size() > 12 && start[12] != ' ')) return kBadLine;
  head->status = status;
  head->reason = std::string(start.size() > 13 ? start.substr(13) : std::string_view());
  return nullptr;
}

// A head at the start of `data`: its first line read by `read_start_line`, then its headers.
template <typename Head>
ParseResult ParseHead(std::string_view data, bool skip_leading_blank_lines,
                      const char* (*read_start_line)(std::string_view, Head*), Head* head,
                      size_t* head_size, std::string* error) {
  std::vector<std::string_view> lines;
  ParseResult r = SplitHead(data, skip_leading_blank_lines, &lines, head_size, error);
  if (r != ParseResult::kDone) return r;
  if (const char* bad = read_start_line(lines[0], head)) {
    *error = bad;
    return ParseResult::kBad;
  }
  head->headers.clear();
  return ParseHeaderLines(lines, &head->headers, error);
}

}  // namespace

const std::string* FindHeader(const Headers& headers, std::string_view name) {
  for (const Header& h : headers) {
    if (EqualsIgnoreCase(h.name, name)) return &h.value;
  }
  return nullptr;
}

ParseResult ParseRequestHead(std::string_view data, RequestHead* head, size_t* head_size,
                             std::string* error) {
  return ParseHead(data, /*skip_leading_blank_lines=*/true, ReadRequestLine, head, head_size,
                   error);
}

ParseResult ParseResponseHead(std::string_view data, ResponseHead* head, size_t* head_size,
                              std::string* error) {
  return ParseHead(data, /*skip_leading_blank_lines=*/false, ReadStatusLine, head, head_size,
                   error);
}

ResponseBodyDecoder::ResponseBodyDecoder(const ResponseHead& head) {
  // No body at all for these (RFC 9112 section 6.3).
  if (head.status < 200 || head.status == 204 || head.status == 304) {
    framing_ = Framing::kEmpty;
    return;
  }
  // Transfer-Encoding wins over Content-Length. We send no TE header, so chunked is the only
  // coding a server may use; anything else we could not decode.
  bool has_te = false;
  bool chunked = false;
  bool has_length = false;
  for (const Header& h : head.headers) {
    if (EqualsIgnoreCase(h.name, "Transfer-Encoding")) {
      has_te = true;
      chunked = EqualsIgnoreCase(h.value, "chunked");
    } else if (EqualsIgnoreCase(h.name, "Content-Length")) {
      size_t n = 0;
      if (!ParseDecimalSize(h.value, &n) || (has_length && n != length_)) {
        framing_ = Framing::kBad;
        framing_error_ = "a bad Content-Length \"" + h.value + "\"";
        return;
      }
      has_length = true;
      length_ = n;
    }
  }
  if (has_te) {
    framing_ = chunked ? Framing::kChunked : Framing::kBad;
    if (!chunked) framing_error_ = "a transfer coding other than chunked";
  } else if (has_length) {
    framing_ = Framing::kLength;
    body_.reserve(length_ < (size_t{1} << 20) ? length_ : size_t{1} << 20);
  }
}

ParseResult ResponseBodyDecoder::Feed(std::string_view data, bool eof, std::string* error) {
  if (done_) return ParseResult::kDone;
  switch (framing_) {
    case Framing::kBad:
      *error = framing_error_;
      return ParseResult::kBad;
    case Framing::kEmpty:
      done_ = true;
      return ParseResult::kDone;
    case Framing::kUntilClose:
      body_.append(data);
      if (!eof) return ParseResult::kIncomplete;
      done_ = true;
      return ParseResult::kDone;
    case Framing::kLength: {
      body_.append(data.substr(0, length_ - body_.size()));
      if (body_.size() == length_) {
        done_ = true;
        return ParseResult::kDone;
      }
      if (!eof) return ParseResult::kIncomplete;
      *error = "the connection closed after " + std::to_string(body_.size()) + " of " +
               std::to_string(length_) + " body bytes";
      return ParseResult::kBad;
    }
    case Framing::kChunked:
      return FeedChunked(data, eof, error);
  }
  return ParseResult::kBad;
}

ParseResult ResponseBodyDecoder::FeedChunked(std::string_view data, bool eof, std::string* error) {
  // Lines (sizes, the CRLF after data, trailers) are short: bound them so that a peer cannot
  // make us buffer without end while we look for a line feed.
  constexpr size_t kMaxLine = 4096;
  while (!data.empty()) {
    if (chunk_state_ == ChunkState::kData) {
      size_t n = data.size() < chunk_left_ ? data.size() : chunk_left_;
      body_.append(data.substr(0, n));
      data.remove_prefix(n);
      chunk_left_ -= n;
      if (chunk_left_ == 0) chunk_state_ = ChunkState::kDataEnd;
      continue;
    }
    size_t lf = data.find('\n');
    line_.append(data.substr(0, lf));
    if (line_.size() > kMaxLine) {
      *error = "a chunk-size or trailer line longer than 4096 bytes";
      return ParseResult::kBad;
    }
    if (lf == std::string_view::npos) break;
    data.remove_prefix(lf + 1);
    std::string_view line = line_;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    switch (chunk_state_) {
      case ChunkState::kSizeLine: {
        size_t size = 0;
        if (!ParseChunkSize(line, &size)) {
          *error = "a bad chunk size \"" + std::string(line.substr(0, 32)) + "\"";
          return ParseResult::kBad;
        }
        chunk_left_ = size;
        chunk_state_ = size == 0 ? ChunkState::kTrailers : ChunkState::kData;
        break;
      }
      case ChunkState::kDataEnd:
        if (!line.empty()) {
          *error = "chunk data longer than its size";
          return ParseResult::kBad;
        }
        chunk_state_ = ChunkState::kSizeLine;
        break;
      case ChunkState::kTrailers:
        if (line.empty()) {
          chunk_state_ = ChunkState::kDone;
          done_ = true;
          line_.clear();
          return ParseResult::kDone;
        }
        break;  // trailer fields: ignored
      case ChunkState::kData:
      case ChunkState::kDone:
        break;
    }
    line_.clear();
  }
  if (!eof) return ParseResult::kIncomplete;
  *error = "the connection closed inside a chunked body";
  return ParseResult::kBad;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "";
  }
}

}  // namespace carrierarr::agent::http
