#include "pki/cert.h"

#include <cinttypes>
#include <cstdint>
#include <ctime>

#include "pki/crypto.h"
#include "pki/pem.h"
#include "pki/protowire.h"

namespace carrierarr::pki {
namespace {

namespace pw = protowire;

// Field numbers of RawNebulaCertificate and RawNebulaCertificateDetails.
enum : uint32_t { kCertDetails = 1, kCertSignature = 2 };
enum : uint32_t {
  kName = 1,
  kIps = 2,
  kSubnets = 3,
  kGroups = 4,
  kNotBefore = 5,
  kNotAfter = 6,
  kPublicKey = 7,
  kIsCa = 8,
  kIssuer = 9,
};

void AppendPackedNets(std::string& out, uint32_t field, const std::vector<Ipv4Net>& nets) {
  if (nets.empty()) return;
  std::string packed;
  for (const auto& n : nets) {
    pw::AppendVarint(packed, n.ip);
    pw::AppendVarint(packed, n.mask);
  }
  pw::AppendBytesField(out, field, packed);
}

void AppendVarintField(std::string& out, uint32_t field, uint64_t v) {
  pw::AppendTag(out, field, pw::kVarint);
  pw::AppendVarint(out, v);
}

// Proto3 rejects strings that are not UTF-8; so must we, to accept exactly what nebula accepts.
bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<uint8_t>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else
      return false;
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += len;
  }
  return true;
}

// Appends uint32 values of a repeated field, packed (LEN) or not (VARINT), as proto3 allows.
bool ReadRepeatedUint32(pw::Reader& r, pw::WireType type, std::vector<uint32_t>& out) {
  uint64_t v;
  if (type == pw::kVarint) {
    if (!r.ReadVarint(v)) return false;
    out.push_back(static_cast<uint32_t>(v));
    return true;
  }
  std::string_view packed;
  if (!r.ReadLengthDelimited(packed)) return false;
  pw::Reader inner(packed);
  while (!inner.done()) {
    if (!inner.ReadVarint(v)) return false;
    out.push_back(static_cast<uint32_t>(v));
  }
  return true;
}

const Status kInvalidWireFormat = Status::DataLoss("proto: cannot parse invalid wire-format data");
// protobuf-go words this one without its "proto:" prefix.
const Status kInvalidUtf8 = Status::DataLoss("string field contains invalid UTF-8");

// Whether `field` is a RawNebulaCertificateDetails field arriving in its own wire type. Anything
// else is an unknown field to protobuf, and skipped.
bool IsKnownField(uint32_t field, pw::WireType type) {
  switch (field) {
    case kName:
    case kGroups:
    case kPublicKey:
    case kIssuer:
      return type == pw::kLengthDelimited;
    case kIps:
    case kSubnets:  // packed (LEN) or not (VARINT)
      return type == pw::kLengthDelimited || type == pw::kVarint;
    case kNotBefore:
    case kNotAfter:
    case kIsCa:
      return type == pw::kVarint;
    default:
      return false;
  }
}

// Merges one encoded RawNebulaCertificateDetails into the raw fields (proto merge semantics).
struct RawDetails {
  CertDetails d;
  std::vector<uint32_t> ips, subnets;
};

Status MergeDetails(std::string_view bytes, RawDetails& raw) {
  pw::Reader r(bytes);
  while (!r.done()) {
    uint32_t field;
    pw::WireType type;
    if (!r.ReadTag(field, type)) return kInvalidWireFormat;
    if (!IsKnownField(field, type)) {
      if (!r.Skip(type)) return kInvalidWireFormat;
    } else if (field == kIps || field == kSubnets) {
      if (!ReadRepeatedUint32(r, type, field == kIps ? raw.ips : raw.subnets))
        return kInvalidWireFormat;
    } else if (type == pw::kLengthDelimited) {
      std::string_view s;
      if (!r.ReadLengthDelimited(s)) return kInvalidWireFormat;
      if ((field == kName || field == kGroups) && !IsValidUtf8(s)) return kInvalidUtf8;
      if (field == kName) raw.d.name = s;
      if (field == kGroups) raw.d.groups.emplace_back(s);
      if (field == kPublicKey) raw.d.public_key = s;
      if (field == kIssuer) raw.d.issuer = s;
    } else {
      uint64_t v;
      if (!r.ReadVarint(v)) return kInvalidWireFormat;
      if (field == kNotBefore) raw.d.not_before = static_cast<int64_t>(v);
      if (field == kNotAfter) raw.d.not_after = static_cast<int64_t>(v);
      if (field == kIsCa) raw.d.is_ca = v != 0;
    }
  }
  return Status::Ok();
}

std::vector<Ipv4Net> Pairs(const std::vector<uint32_t>& flat) {
  std::vector<Ipv4Net> nets;
  for (size_t i = 0; i + 1 < flat.size(); i += 2) nets.push_back({flat[i], flat[i + 1]});
  return nets;
}

// A Unix time in the local zone, as Go's time.Time prints it. `rfc3339` picks
// "2006-01-02T15:04:05Z07:00" over time.String()'s "2006-01-02 15:04:05 -0700 MST".
std::string FormatTime(int64_t unix_seconds, bool rfc3339) {
  time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm;
  if (localtime_r(&t, &tm) == nullptr) return std::to_string(unix_seconds);
  char buf[96];
  size_t n =
      std::strftime(buf, sizeof(buf), rfc3339 ? "%Y-%m-%dT%H:%M:%S" : "%Y-%m-%d %H:%M:%S", &tm);
  std::string out(buf, n);
  int64_t off = tm.tm_gmtoff;
  char sign = off < 0 ? '-' : '+';
  if (off < 0) off = -off;
  char zone[32];
  if (rfc3339) {
    if (off == 0) return out + "Z";
    std::snprintf(zone, sizeof(zone), "%c%02" PRId64 ":%02" PRId64, sign, off / 3600,
                  (off / 60) % 60);
    return out + zone;
  }
  std::snprintf(zone, sizeof(zone), " %c%02" PRId64 "%02" PRId64 " ", sign, off / 3600,
                (off / 60) % 60);
  return out + zone + (tm.tm_zone != nullptr ? tm.tm_zone : "");
}

// Go's encoding/json string escaping (HTML-safe: <, > and & become \u003c, \u003e, \u0026).
void AppendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      default:
        break;
    }
    if (c < 0x20 || c == '<' || c == '>' || c == '&') {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else if (c == 0xe2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
               (static_cast<unsigned char>(s[i + 2]) & 0xfe) == 0xa8) {
      out += (static_cast<unsigned char>(s[i + 2]) == 0xa8) ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

void AppendJsonNets(std::string& out, const std::vector<Ipv4Net>& nets) {
  out += '[';
  for (size_t i = 0; i < nets.size(); ++i) {
    if (i > 0) out += ',';
    AppendJsonString(out, nets[i].ToString());
  }
  out += ']';
}

}  // namespace

std::string EncodeDetails(const CertDetails& d) {
  std::string out;
  out.reserve(128 + d.name.size() + d.groups.size() * 16);
  if (!d.name.empty()) pw::AppendBytesField(out, kName, d.name);
  AppendPackedNets(out, kIps, d.ips);
  AppendPackedNets(out, kSubnets, d.subnets);
  for (const auto& g : d.groups) pw::AppendBytesField(out, kGroups, g);
  if (d.not_before != 0) AppendVarintField(out, kNotBefore, static_cast<uint64_t>(d.not_before));
  if (d.not_after != 0) AppendVarintField(out, kNotAfter, static_cast<uint64_t>(d.not_after));
  if (!d.public_key.empty()) pw::AppendBytesField(out, kPublicKey, d.public_key);
  if (d.is_ca) AppendVarintField(out, kIsCa, 1);
  if (!d.issuer.empty()) pw::AppendBytesField(out, kIssuer, d.issuer);
  return out;
}

std::string EncodeCertificate(const Certificate& cert) {
  std::string out;
  pw::AppendBytesField(out, kCertDetails, EncodeDetails(cert.details));
  if (!cert.signature.empty()) pw::AppendBytesField(out, kCertSignature, cert.signature);
  return out;
}

Result<Certificate> DecodeCertificate(std::string_view bytes) {
  if (bytes.empty()) return Status::DataLoss("nil byte array");
  pw::Reader r(bytes);
  RawDetails raw;
  bool have_details = false;
  Certificate cert;
  while (!r.done()) {
    uint32_t field;
    pw::WireType type;
    if (!r.ReadTag(field, type)) return kInvalidWireFormat;
    std::string_view s;
    if ((field == kCertDetails || field == kCertSignature) && type == pw::kLengthDelimited) {
      if (!r.ReadLengthDelimited(s)) return kInvalidWireFormat;
      if (field == kCertSignature) {
        cert.signature = s;
      } else {
        have_details = true;
        CARRIERARR_RETURN_IF_ERROR(MergeDetails(s, raw));
      }
    } else if (!r.Skip(type)) {
      return kInvalidWireFormat;
    }
  }
  if (!have_details) return Status::DataLoss("encoded Details was nil");
  if (raw.ips.size() % 2 != 0) {
    return Status::DataLoss("encoded IPs should be in pairs, an odd number was found");
  }
  if (raw.subnets.size() % 2 != 0) {
    return Status::DataLoss("encoded Subnets should be in pairs, an odd number was found");
  }
  if (raw.d.public_key.size() < kKeyLen) {
    return Status::DataLoss("Public key was fewer than 32 bytes; " +
                            std::to_string(raw.d.public_key.size()));
  }
  cert.details = std::move(raw.d);
  cert.details.ips = Pairs(raw.ips);
  cert.details.subnets = Pairs(raw.subnets);
  return cert;
}

std::string RawFingerprint(const Certificate& cert) { return Sha256(EncodeCertificate(cert)); }

std::string Fingerprint(const Certificate& cert) { return HexEncode(RawFingerprint(cert)); }

bool IsExpired(const Certificate& cert, TimePoint now) {
  int64_t t = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  // Go compares full-precision instants: NotBefore.After(now) || NotAfter.Before(now).
  bool before_start = cert.details.not_before > t;
  bool after_end = cert.details.not_after < t || (cert.details.not_after == t &&
                                                  now.time_since_epoch() > std::chrono::seconds(t));
  return before_start || after_end;
}

bool CheckSignature(const Certificate& cert, std::string_view ca_public_key) {
  return Ed25519Verify(ca_public_key, EncodeDetails(cert.details), cert.signature);
}

namespace {

// A child network fits a CA network when its address is inside and its mask is no wider.
bool NetFits(const Ipv4Net& child, const std::vector<Ipv4Net>& allowed) {
  for (const auto& ca : allowed) {
    if (ca.Contains(child.ip) && (ca.mask & ~child.mask) == 0) return true;
  }
  return false;
}

}  // namespace

Status CheckRootConstraints(const Certificate& cert, const Certificate& signer) {
  const CertDetails& c = cert.details;
  const CertDetails& s = signer.details;
  if (s.not_after < c.not_after) {
    return Status::FailedPrecondition("certificate expires after signing certificate");
  }
  if (s.not_before > c.not_before) {
    return Status::FailedPrecondition("certificate is valid before the signing certificate");
  }
  if (!s.groups.empty()) {
    for (const auto& g : c.groups) {
      bool found = false;
      for (const auto& allowed : s.groups) found = found || allowed == g;
      if (!found) {
        return Status::FailedPrecondition(
            "certificate contained a group not present on the signing ca: " + g);
      }
    }
  }
  if (!s.ips.empty()) {
    for (const auto& ip : c.ips) {
      if (!NetFits(ip, s.ips)) {
        return Status::FailedPrecondition(
            "certificate contained an ip assignment outside the limitations of the signing ca: " +
            ip.ToString());
      }
    }
  }
  if (!s.subnets.empty()) {
    for (const auto& subnet : c.subnets) {
      if (!NetFits(subnet, s.subnets)) {
        return Status::FailedPrecondition(
            "certificate contained a subnet assignment outside the limitations of the signing "
            "ca: " +
            subnet.ToString());
      }
    }
  }
  return Status::Ok();
}

Result<Certificate> CertificateFromPem(std::string_view pem, std::string_view* rest) {
  std::string_view remaining;
  auto block = PemDecode(pem, &remaining);
  if (rest != nullptr) *rest = remaining;
  if (!block) return Status::DataLoss("input did not contain a valid PEM encoded block");
  if (block->type != kCertBanner) {
    return Status::DataLoss("bytes did not contain a proper nebula certificate banner");
  }
  return DecodeCertificate(block->bytes);
}

std::string CertificateToPem(const Certificate& cert) {
  return PemEncode(kCertBanner, EncodeCertificate(cert));
}

std::string CertificateToJson(const Certificate& cert) {
  const CertDetails& d = cert.details;
  // encoding/json sorts map keys: this is nebula-cert's order.
  std::string out = "{\"details\":{\"groups\":[";
  for (size_t i = 0; i < d.groups.size(); ++i) {
    if (i > 0) out += ',';
    AppendJsonString(out, d.groups[i]);
  }
  out += "],\"ips\":";
  AppendJsonNets(out, d.ips);
  out += ",\"isCa\":";
  out += d.is_ca ? "true" : "false";
  out += ",\"issuer\":";
  AppendJsonString(out, HexEncode(d.issuer));
  out += ",\"name\":";
  AppendJsonString(out, d.name);
  out += ",\"notAfter\":";
  AppendJsonString(out, FormatTime(d.not_after, true));
  out += ",\"notBefore\":";
  AppendJsonString(out, FormatTime(d.not_before, true));
  out += ",\"publicKey\":";
  AppendJsonString(out, HexEncode(d.public_key));
  out += ",\"subnets\":";
  AppendJsonNets(out, d.subnets);
  out += "},\"fingerprint\":";
  AppendJsonString(out, Fingerprint(cert));
  out += ",\"signature\":";
  AppendJsonString(out, HexEncode(cert.signature));
  out += '}';
  return out;
}

std::string CertificateToText(const Certificate& cert) {
  const CertDetails& d = cert.details;
  std::string s = "NebulaCertificate {\n\tDetails {\n";
  s += "\t\tName: " + d.name + "\n";
  auto list = [&](const char* label, const std::vector<std::string>& items) {
    if (items.empty()) {
      s += std::string("\t\t") + label + ": []\n";
      return;
    }
    s += std::string("\t\t") + label + ": [\n";
    for (const auto& item : items) s += "\t\t\t" + item + "\n";
    s += "\t\t]\n";
  };
  auto nets = [](const std::vector<Ipv4Net>& v) {
    std::vector<std::string> out;
    out.reserve(v.size());
    for (const auto& n : v) out.push_back(n.ToString());
    return out;
  };
  std::vector<std::string> groups;
  for (const auto& g : d.groups) groups.push_back("\"" + g + "\"");
  list("Ips", nets(d.ips));
  list("Subnets", nets(d.subnets));
  list("Groups", groups);
  s += "\t\tNot before: " + FormatTime(d.not_before, false) + "\n";
  s += "\t\tNot After: " + FormatTime(d.not_after, false) + "\n";
  s += std::string("\t\tIs CA: ") + (d.is_ca ? "true" : "false") + "\n";
  s += "\t\tIssuer: " + HexEncode(d.issuer) + "\n";
  s += "\t\tPublic key: " + HexEncode(d.public_key) + "\n";
  s += "\t}\n";
  s += "\tFingerprint: " + Fingerprint(cert) + "\n";
  s += "\tSignature: " + HexEncode(cert.signature) + "\n";
  s += "}";
  return s;
}

}  // namespace carrierarr::pki
