#include "pki/protowire.h"

namespace carrierarr::pki::protowire {

void AppendVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void AppendTag(std::string& out, uint32_t field, WireType type) {
  AppendVarint(out, (static_cast<uint64_t>(field) << 3) | type);
}

void AppendBytesField(std::string& out, uint32_t field, std::string_view bytes) {
  AppendTag(out, field, kLengthDelimited);
  AppendVarint(out, bytes.size());
  out.append(bytes);
}

bool Reader::ReadVarint(uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (data_.empty()) return false;
    auto byte = static_cast<uint8_t>(data_[0]);
    data_.remove_prefix(1);
    if (shift == 63 && byte > 1) return false;  // more than 64 bits
    v |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

bool Reader::ReadTag(uint32_t& field, WireType& type) {
  uint64_t key;
  if (!ReadVarint(key)) return false;
  field = static_cast<uint32_t>(key >> 3);
  type = static_cast<WireType>(key & 7);
  // Field numbers are 1..2^29-1.
  return field >= 1 && (key >> 3) <= 0x1fffffff;
}

bool Reader::ReadLengthDelimited(std::string_view& bytes) {
  uint64_t len;
  if (!ReadVarint(len) || len > data_.size()) return false;
  bytes = data_.substr(0, len);
  data_.remove_prefix(len);
  return true;
}

bool Reader::SkipBytes(size_t n) {
  if (data_.size() < n) return false;
  data_.remove_prefix(n);
  return true;
}

bool Reader::Skip(WireType type) {
  uint64_t ignored;
  std::string_view ignored_bytes;
  switch (type) {
    case kVarint:
      return ReadVarint(ignored);
    case kFixed64:
      return SkipBytes(8);
    case kLengthDelimited:
      return ReadLengthDelimited(ignored_bytes);
    case kFixed32:
      return SkipBytes(4);
  }
  return false;
}

}  // namespace carrierarr::pki::protowire
