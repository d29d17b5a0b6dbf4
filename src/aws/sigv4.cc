// AWS Signature Version 4 (header signing) for EC2, Secrets Manager and Service Quotas. The rules
// are in ../shared/spec/aws-wire.md; tests/aws/sigv4_test.cc runs AWS's own suite against them.
#include "aws/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <utility>
#include <vector>

namespace carrierarr::aws {
namespace {

std::string Hex(const unsigned char* data, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 15];
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  return Hex(digest, size);
}

// Raw (binary) HMAC-SHA256: the signing key is chained through four of these.
std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &size);
  return {reinterpret_cast<const char*>(mac), size};
}

char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string Lowercase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), AsciiLower);
  return out;
}

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

// A canonical header value: trimmed, and every run of white space inside it (the line breaks of
// a folded multi-line header included) collapsed to one space.
std::string CanonicalHeaderValue(std::string_view value) {
  std::string out;
  bool pending_space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
  return out;
}

int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes one query component as it came on the wire. '+' stays a literal '+': SigV4
// does not read it as a space (a form body's '+' is only in the body, which is hashed as sent).
std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexDigitValue(s[i + 1]) >= 0 &&
        HexDigitValue(s[i + 2]) >= 0) {
      out += static_cast<char>(HexDigitValue(s[i + 1]) * 16 + HexDigitValue(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// RFC 3986 remove_dot_segments, plus collapsing of empty segments ("//"), as AWS's non-S3
// signers do. A trailing slash (or a trailing "." / ".." segment) keeps the result a directory.
std::string NormalizePath(std::string_view path) {
  std::vector<std::string_view> segments;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view segment = path.substr(start, slash - start);
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!segment.empty() && segment != ".") {
      segments.push_back(segment);
    }
    start = slash + 1;
  }
  if (segments.empty()) return "/";
  std::string out;
  for (std::string_view segment : segments) {
    out += '/';
    out += segment;
  }
  const bool directory = path.ends_with("/") || path.ends_with("/.") || path.ends_with("/..");
  if (directory) out += '/';
  return out;
}

// Each "key=value" decoded and re-encoded (RFC 3986), sorted by encoded key, then by value; a
// parameter without '=' is "key=".
std::string CanonicalQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  size_t start = 0;
  while (start < query.size()) {
    size_t amp = query.find('&', start);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view item = query.substr(start, amp - start);
    if (!item.empty()) {
      const size_t eq = item.find('=');
      std::string_view key = item.substr(0, eq);
      std::string_view value = eq == std::string_view::npos ? "" : item.substr(eq + 1);
      params.emplace_back(UriEncode(PercentDecode(key)), UriEncode(PercentDecode(value)));
    }
    start = amp + 1;
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [key, value] : params) {
    if (!out.empty()) out += '&';
    out += key + "=" + value;
  }
  return out;
}

std::string AmzDate(std::chrono::system_clock::time_point time) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y%m%dT%H%M%SZ", &utc);
  return text;
}

// Removes every header called `name` (any case): re-signing a request replaces its signature.
void RemoveHeader(Headers& headers, std::string_view name) {
  const std::string lower = Lowercase(name);
  std::erase_if(headers, [&](const auto& header) { return Lowercase(header.first) == lower; });
}

}  // namespace

std::string UriEncode(std::string_view text, bool encode_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c) || (c == '/' && !encode_slash)) {
      out += ch;
    } else {
      out += '%';
      out += kDigits[c >> 4];
      out += kDigits[c & 15];
    }
  }
  return out;
}

Signature ComputeSignature(const SigningInput& input, const Credentials& credentials) {
  Signature sig;
  // Lowercase names; the values of a repeated header joined with ',' in the order they came.
  std::map<std::string, std::string> headers;
  for (const auto& [name, value] : input.headers) {
    const std::string key = Lowercase(name);
    const std::string canonical = CanonicalHeaderValue(value);
    auto [it, inserted] = headers.emplace(key, canonical);
    if (!inserted) it->second += "," + canonical;
  }
  if (auto date = headers.find("x-amz-date"); date != headers.end()) {
    sig.amz_date = date->second;
  } else {
    sig.amz_date = AmzDate(input.time);
    headers["x-amz-date"] = sig.amz_date;
  }
  if (!credentials.session_token.empty())
    headers["x-amz-security-token"] = credentials.session_token;

  // The path as it goes on the wire (already percent-encoded once) is encoded again: the
  // "double encoding" of every service but S3.
  std::string path = input.path.empty() ? "/" : input.path;
  if (input.normalize_path) path = NormalizePath(path);
  const std::string canonical_path = UriEncode(path, /*encode_slash=*/false);

  std::string header_block;
  std::string signed_headers;
  for (const auto& [name, value] : headers) {
    header_block += name + ":" + value + "\n";
    if (!signed_headers.empty()) signed_headers += ';';
    signed_headers += name;
  }
  sig.canonical_request = input.method + "\n" + canonical_path + "\n" +
                          CanonicalQuery(input.query) + "\n" + header_block + "\n" +
                          signed_headers + "\n" + Sha256Hex(input.body);

  const std::string date = sig.amz_date.substr(0, 8);
  const std::string scope = date + "/" + input.region + "/" + input.service + "/aws4_request";
  sig.string_to_sign =
      "AWS4-HMAC-SHA256\n" + sig.amz_date + "\n" + scope + "\n" + Sha256Hex(sig.canonical_request);

  std::string key = HmacSha256("AWS4" + credentials.secret_access_key, date);
  key = HmacSha256(key, input.region);
  key = HmacSha256(key, input.service);
  key = HmacSha256(key, "aws4_request");
  const std::string mac = HmacSha256(key, sig.string_to_sign);
  sig.signature = Hex(reinterpret_cast<const unsigned char*>(mac.data()), mac.size());
  sig.authorization = "AWS4-HMAC-SHA256 Credential=" + credentials.access_key_id + "/" + scope +
                      ", SignedHeaders=" + signed_headers + ", Signature=" + sig.signature;
  return sig;
}

void Sign(HttpRequest& request, const Credentials& credentials, const std::string& region,
          const std::string& service, std::chrono::system_clock::time_point now) {
  // "scheme://host[:port][/path][?query][#fragment]"
  std::string_view url = request.url;
  if (size_t hash = url.find('#'); hash != std::string_view::npos) url = url.substr(0, hash);
  const size_t scheme_end = url.find("://");
  const size_t host_start = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  const size_t host_end = url.find_first_of("/?", host_start);
  const std::string_view host =
      url.substr(host_start, host_end == std::string_view::npos ? std::string_view::npos
                                                                : host_end - host_start);
  std::string_view target = host_end == std::string_view::npos ? "" : url.substr(host_end);
  const size_t question = target.find('?');
  const std::string_view path = target.substr(0, question);
  const std::string_view query =
      question == std::string_view::npos ? "" : target.substr(question + 1);

  // A request signed before (an earlier attempt) gets a fresh date, token and signature.
  RemoveHeader(request.headers, "x-amz-date");
  RemoveHeader(request.headers, "x-amz-security-token");
  RemoveHeader(request.headers, "authorization");
  if (FindHeader(request.headers, "host").empty()) request.headers.emplace_back("Host", host);
  request.headers.emplace_back("X-Amz-Date", AmzDate(now));
  if (!credentials.session_token.empty())
    request.headers.emplace_back("X-Amz-Security-Token", credentials.session_token);

  SigningInput input{.method = request.method,
                     .path = path.empty() ? "/" : std::string(path),
                     .query = std::string(query),
                     .headers = request.headers,
                     .body = request.body,
                     .region = region,
                     .service = service,
                     .time = now};
  request.headers.emplace_back("Authorization", ComputeSignature(input, credentials).authorization);
}

}  // namespace carrierarr::aws
