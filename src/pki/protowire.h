// The few pieces of the protobuf wire format that Nebula certificates use. Hand-written instead of
// generated so that the canonical encoding (the bytes Nebula signs) is explicit and reviewable.
#ifndef CARRIERARR_PKI_PROTOWIRE_H_
#define CARRIERARR_PKI_PROTOWIRE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace carrierarr::pki::protowire {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

void AppendVarint(std::string& out, uint64_t v);
void AppendTag(std::string& out, uint32_t field, WireType type);
void AppendBytesField(std::string& out, uint32_t field, std::string_view bytes);

// Reads from the front of a buffer; every method returns false on truncated or malformed input
// and then leaves the reader in an unspecified position.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool done() const { return data_.empty(); }
  bool ReadVarint(uint64_t& v);
  bool ReadTag(uint32_t& field, WireType& type);
  bool ReadLengthDelimited(std::string_view& bytes);
  // Skips one value of `type` (groups are refused: they never occur in a certificate).
  bool Skip(WireType type);

 private:
  // Drops the next `n` bytes (a fixed-width field); false, consuming nothing, when fewer remain.
  bool SkipBytes(size_t n);

  std::string_view data_;
};

}  // namespace carrierarr::pki::protowire

#endif  // CARRIERARR_PKI_PROTOWIRE_H_
