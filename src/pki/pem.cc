#include "pki/pem.h"

#include <array>
#include <cstdint>

namespace carrierarr::pki {
namespace {

constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kBegin = "-----BEGIN ";
constexpr std::string_view kEnd = "-----END ";
constexpr std::string_view kDashes = "-----";

// Splits off one line; the line loses trailing spaces, tabs and CR (as Go's pem getLine does).
std::string_view TakeLine(std::string_view& data) {
  size_t nl = data.find('\n');
  std::string_view line = data.substr(0, nl);
  data = nl == std::string_view::npos ? std::string_view() : data.substr(nl + 1);
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) {
    line.remove_suffix(1);
  }
  return line;
}

}  // namespace

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) |
                 (static_cast<uint8_t>(bytes[i + 1]) << 8) | static_cast<uint8_t>(bytes[i + 2]);
    out += kBase64Alphabet[v >> 18];
    out += kBase64Alphabet[(v >> 12) & 63];
    out += kBase64Alphabet[(v >> 6) & 63];
    out += kBase64Alphabet[v & 63];
  }
  if (i + 1 == bytes.size()) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    out += kBase64Alphabet[v >> 18];
    out += kBase64Alphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) | (static_cast<uint8_t>(bytes[i + 1]) << 8);
    out += kBase64Alphabet[v >> 18];
    out += kBase64Alphabet[(v >> 12) & 63];
    out += kBase64Alphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  static const std::array<int8_t, 256> kValue = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    for (size_t i = 0; i < kBase64Alphabet.size(); ++i) {
      t[static_cast<uint8_t>(kBase64Alphabet[i])] = static_cast<int8_t>(i);
    }
    return t;
  }();
  std::string clean;
  clean.reserve(text.size());
  for (char c : text) {
    if (c != '\r' && c != '\n') clean += c;
  }
  if (clean.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(clean.size() / 4 * 3);
  for (size_t i = 0; i < clean.size(); i += 4) {
    bool last = i + 4 == clean.size();
    int pad = 0;
    if (last && clean[i + 3] == '=') pad = clean[i + 2] == '=' ? 2 : 1;
    uint32_t v = 0;
    for (int j = 0; j < 4 - pad; ++j) {
      int8_t d = kValue[static_cast<uint8_t>(clean[i + j])];
      if (d < 0) return std::nullopt;
      v |= static_cast<uint32_t>(d) << (18 - 6 * j);
    }
    out += static_cast<char>(v >> 16);
    if (pad < 2) out += static_cast<char>((v >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(v & 0xff);
  }
  return out;
}

bool IsBlank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

std::string PemEncode(std::string_view type, std::string_view bytes) {
  std::string b64 = Base64Encode(bytes);
  std::string out;
  out.reserve(b64.size() + b64.size() / 64 + 2 * type.size() + 40);
  out.append(kBegin).append(type).append(kDashes).append("\n");
  for (size_t i = 0; i < b64.size(); i += 64) out.append(b64, i, 64).append("\n");
  out.append(kEnd).append(type).append(kDashes).append("\n");
  return out;
}

std::optional<PemBlock> PemDecode(std::string_view data, std::string_view* rest) {
  *rest = data;
  std::string_view cursor = data;
  for (;;) {
    // The BEGIN line either starts the input or follows a newline.
    if (cursor.substr(0, kBegin.size()) == kBegin) {
      cursor.remove_prefix(kBegin.size());
    } else {
      size_t at = cursor.find(std::string("\n").append(kBegin));
      if (at == std::string_view::npos) return std::nullopt;
      cursor.remove_prefix(at + 1 + kBegin.size());
    }
    std::string_view type_line = TakeLine(cursor);
    if (type_line.size() < kDashes.size() ||
        type_line.substr(type_line.size() - kDashes.size()) != kDashes) {
      continue;
    }
    std::string_view type = type_line.substr(0, type_line.size() - kDashes.size());

    // Optional "Key: value" headers (never in Nebula files, but legal PEM).
    bool has_headers = false;
    for (;;) {
      if (cursor.empty()) return std::nullopt;
      std::string_view next = cursor;
      std::string_view line = TakeLine(next);
      if (line.find(':') == std::string_view::npos) break;
      has_headers = true;
      cursor = next;
    }

    size_t end_index, trailer_index;
    if (!has_headers && cursor.substr(0, kEnd.size()) == kEnd) {
      end_index = 0;
      trailer_index = kEnd.size();
    } else {
      end_index = cursor.find(std::string("\n").append(kEnd));
      if (end_index == std::string_view::npos) continue;
      trailer_index = end_index + 1 + kEnd.size();
    }
    std::string_view trailer = cursor.substr(trailer_index);
    size_t trailer_len = type.size() + kDashes.size();
    if (trailer.size() < trailer_len) continue;
    std::string_view after_end = trailer.substr(trailer_len);
    trailer = trailer.substr(0, trailer_len);
    if (trailer.substr(0, type.size()) != type || trailer.substr(type.size()) != kDashes) continue;
    std::string_view end_rest = after_end;
    if (!TakeLine(end_rest).empty()) continue;  // the END line must end with only whitespace

    std::string body;
    for (char c : cursor.substr(0, end_index)) {
      if (c != ' ' && c != '\t') body += c;
    }
    auto decoded = Base64Decode(body);
    if (!decoded) continue;
    *rest = end_rest;
    return PemBlock{std::string(type), std::move(*decoded)};
  }
}

}  // namespace carrierarr::pki
