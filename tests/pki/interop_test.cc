// Interop with the real nebula-cert 1.6.1, in both directions: what carrierarr mints (library and
// CLI) nebula-cert accepts and prints identically, what nebula-cert mints carrierarr accepts, and
// every rejection reads the same "Error:" line from both tools. Wire facts:
// shared/spec/nebula-cert-v1.md.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "core/file_util.h"
#include "core/ipv4.h"
#include "core/subprocess.h"
#include "pki/authority.h"
#include "pki/ca_pool.h"
#include "pki/cert.h"
#include "pki/crypto.h"
#include "pki/keys.h"
#include "pki/pem.h"
#include "testing/tools.h"

namespace carrierarr::pki {
namespace {

using ::carrierarr::testing::CarrierarrBinary;
using ::carrierarr::testing::RequireProgram;
using ::carrierarr::testing::ScratchDir;
using ::carrierarr::testing::Slurp;

constexpr int64_t kHour = 3600;
constexpr int64_t kDay = 24 * kHour;

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Ipv4Net Cidr(const std::string& text) {
  auto net = ParseCidr(text);
  EXPECT_TRUE(net.ok()) << text << ": " << net.status().ToString();
  return net.ok() ? *net : Ipv4Net{};
}

std::vector<Ipv4Net> Cidrs(const std::vector<std::string>& texts) {
  std::vector<Ipv4Net> nets;
  for (const auto& t : texts) nets.push_back(Cidr(t));
  return nets;
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
  return out;
}

void Write(const std::string& path, const std::string& data) {
  Status s = WriteFileAtomic(path, data, 0600);
  ASSERT_TRUE(s.ok()) << s.ToString();
}

std::string FirstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

// protobuf-go puts a space or, chosen per binary, U+00A0 after "proto:" so that callers do not
// match its messages; Debian's nebula-cert got the U+00A0. Compare them as equal.
std::string NormalizeProtoSeparator(std::string s) {
  const std::string nbsp = "proto:\xc2\xa0";
  for (size_t at; (at = s.find(nbsp)) != std::string::npos;) s.replace(at, nbsp.size(), "proto: ");
  return s;
}

// One of the two command lines under comparison.
struct Cli {
  std::string label;
  std::vector<std::string> prefix;
};

Cli NebulaCert() { return {"nebula-cert", {RequireProgram("nebula-cert", "nebula")}}; }
Cli Ours() { return {"carrierarr pki", {CarrierarrBinary(), "pki"}}; }
std::vector<Cli> BothClis() { return {NebulaCert(), Ours()}; }

RunResult Invoke(const Cli& cli, const std::string& dir, const std::vector<std::string>& args,
                 const std::vector<std::string>& env = {}) {
  std::vector<std::string> argv = cli.prefix;
  argv.insert(argv.end(), args.begin(), args.end());
  RunOptions options;
  options.working_dir = dir;
  options.extra_env = env;
  auto result = Run(argv, options);
  if (!result.ok()) {
    ADD_FAILURE() << "cannot run " << cli.label << ": " << result.status().ToString();
    return {};
  }
  return *result;
}

// Runs a command that must succeed silently on stderr, returning stdout.
std::string MustRun(const Cli& cli, const std::string& dir, const std::vector<std::string>& args,
                    const std::vector<std::string>& env = {}) {
  RunResult r = Invoke(cli, dir, args, env);
  EXPECT_EQ(r.exit_code, 0) << cli.label << " " << Join(args) << ": " << r.err;
  return r.out;
}

std::string FieldOfJson(const std::string& json, const std::string& key) {
  const std::string marker = "\"" + key + "\":\"";
  size_t at = json.find(marker);
  if (at == std::string::npos) return "<no " + key + ">";
  at += marker.size();
  return json.substr(at, json.find('"', at) - at);
}

Certificate MustParseCert(const std::string& pem) {
  auto cert = CertificateFromPem(pem);
  EXPECT_TRUE(cert.ok()) << cert.status().ToString();
  return cert.ok() ? *cert : Certificate{};
}

// ---- hand-built certificates ----------------------------------------------------------------

struct Ca {
  Certificate cert;
  std::string key;  // Ed25519 seed||public
  std::string Pem() const { return CertificateToPem(cert); }
};

// A self-signed CA with exactly these details (any validity, even expired).
Ca MakeCa(CertDetails d) {
  auto keys = GenerateEd25519();
  EXPECT_TRUE(keys.ok());
  d.public_key = keys->public_key;
  d.is_ca = true;
  auto cert = SignDetailsUnchecked(std::move(d), keys->private_key);
  EXPECT_TRUE(cert.ok()) << cert.status().ToString();
  return {cert.ok() ? *cert : Certificate{}, keys->private_key};
}

std::string NewX25519Public() {
  auto keys = GenerateX25519();
  EXPECT_TRUE(keys.ok());
  return keys.ok() ? keys->public_key : std::string(32, 'x');
}

// A protobuf writer of our own, so that the encodings below do not lean on the code under test.
class HandProto {
 public:
  HandProto& Varint(uint32_t field, uint64_t v) {
    Raw(field << 3 | 0);
    Raw(v);
    return *this;
  }
  HandProto& Bytes(uint32_t field, std::string_view b) {
    Raw(field << 3 | 2);
    Raw(b.size());
    out_.append(b);
    return *this;
  }
  HandProto& Packed(uint32_t field, const std::vector<uint32_t>& values) {
    HandProto inner;
    for (uint32_t v : values) inner.Raw(v);
    return Bytes(field, inner.out_);
  }
  const std::string& str() const { return out_; }

 private:
  void Raw(uint64_t v) {
    while (v >= 0x80) {
      out_ += static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    out_ += static_cast<char>(v);
  }
  std::string out_;
};

std::vector<uint32_t> Flatten(const std::vector<Ipv4Net>& nets) {
  std::vector<uint32_t> out;
  for (const auto& n : nets) {
    out.push_back(n.ip);
    out.push_back(n.mask);
  }
  return out;
}

struct Encoding {
  std::vector<int> order = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  bool packed = true;
  bool explicit_is_ca_false = false;  // writes IsCA=0, which proto3 would omit
  bool unknown_field = false;         // appends field 15, which RawNebulaCertificateDetails lacks
};

std::string HandDetails(const CertDetails& d, const Encoding& e = {}) {
  HandProto p;
  auto repeated = [&](uint32_t field, const std::vector<Ipv4Net>& nets) {
    if (nets.empty()) return;
    if (e.packed) {
      p.Packed(field, Flatten(nets));
    } else {
      for (uint32_t v : Flatten(nets)) p.Varint(field, v);
    }
  };
  for (int field : e.order) {
    switch (field) {
      case 1:
        if (!d.name.empty()) p.Bytes(1, d.name);
        break;
      case 2:
        repeated(2, d.ips);
        break;
      case 3:
        repeated(3, d.subnets);
        break;
      case 4:
        for (const auto& g : d.groups) p.Bytes(4, g);
        break;
      case 5:
        if (d.not_before != 0) p.Varint(5, static_cast<uint64_t>(d.not_before));
        break;
      case 6:
        if (d.not_after != 0) p.Varint(6, static_cast<uint64_t>(d.not_after));
        break;
      case 7:
        if (!d.public_key.empty()) p.Bytes(7, d.public_key);
        break;
      case 8:
        if (d.is_ca || e.explicit_is_ca_false) p.Varint(8, d.is_ca ? 1 : 0);
        break;
      case 9:
        if (!d.issuer.empty()) p.Bytes(9, d.issuer);
        break;
    }
  }
  if (e.unknown_field) p.Varint(15, 1);
  return p.str();
}

std::string HandCertPem(const std::string& details, const std::string& signature) {
  return PemEncode(kCertBanner, HandProto().Bytes(1, details).Bytes(2, signature).str());
}

// Signs exactly `details` bytes, canonical or not, as a careless encoder would.
std::string SignBytes(const std::string& details, const Ca& ca) {
  auto signer = Ed25519Signer::Create(ca.key);
  EXPECT_TRUE(signer.ok());
  auto sig = signer->Sign(details);
  EXPECT_TRUE(sig.ok());
  return sig.ok() ? *sig : "";
}

// ---- carrierarr's material is accepted and printed identically --------------------------------

struct MaterialCase {
  std::string name;
  bool via_cli = false;  // `carrierarr pki ca/sign`, else CreateCa and CertificateAuthority::Sign
  std::string ca_name;
  std::vector<std::string> ca_groups, ca_ips, ca_subnets;
  std::string host_name, host_ip;
  std::vector<std::string> host_groups, host_subnets;
};

// gtest prints parameters on failure; the case name says more than the struct's bytes.
void PrintTo(const MaterialCase& c, std::ostream* os) { *os << c.name; }

std::vector<MaterialCase> MaterialCases() {
  const std::string odd_name = "Zoë's <CA> & \"friends\" \\ 東京 🚀\u2028\t\x01";
  std::vector<MaterialCase> base = {
      {.name = "Plain",
       .ca_name = "homelab-mesh",
       .host_name = "lighthouse",
       .host_ip = "10.42.0.1/16",
       .host_groups = {"lighthouse"}},
      {.name = "ConstrainedCa",
       .ca_name = "constrained-ca",
       .ca_groups = {"lighthouse", "servers", "ops"},
       .ca_ips = {"10.42.0.0/16", "192.168.50.9/24"},  // a CA keeps the address as given
       .ca_subnets = {"10.99.0.0/16", "172.16.5.1/24"},
       .host_name = "db-1",
       .host_ip = "10.42.7.3/16",
       .host_groups = {"servers", "ops"},
       .host_subnets = {"10.99.3.0/24", "172.16.5.1/25"}},
      {.name = "SpecialChars",
       .ca_name = odd_name,
       .host_name = "host <&> \"q\" \\ ünï 🚀",
       .host_ip = "10.42.9.9/16",
       .host_groups = {"<&>", "\"quoted\"", "ünïcode", "emoji🚀", "ctl\x7f\b\f", "a b"},
       .host_subnets = {"0.0.0.0/0"}},
  };
  std::vector<MaterialCase> out;
  for (auto c : base) {
    out.push_back(c);
    c.name += "ViaCli";
    c.via_cli = true;
    out.push_back(c);
  }
  return out;
}

class CarrierarrMaterialTest : public ::testing::TestWithParam<MaterialCase> {};

TEST_P(CarrierarrMaterialTest, NebulaCertVerifiesAndPrintsItLikeWeDo) {
  const MaterialCase& c = GetParam();
  const Cli nebula = NebulaCert();
  const Cli ours = Ours();
  ASSERT_FALSE(HasFailure());
  ScratchDir dir;
  std::vector<std::string> lib_json, lib_text;  // what the library prints, when it minted
  if (c.via_cli) {
    std::vector<std::string> ca_args = {"ca", "-name", c.ca_name};
    if (!c.ca_groups.empty()) ca_args.insert(ca_args.end(), {"-groups", Join(c.ca_groups)});
    if (!c.ca_ips.empty()) ca_args.insert(ca_args.end(), {"-ips", Join(c.ca_ips)});
    if (!c.ca_subnets.empty()) ca_args.insert(ca_args.end(), {"-subnets", Join(c.ca_subnets)});
    MustRun(ours, dir.path(), ca_args);
    std::vector<std::string> sign_args = {"sign",     "-name",    c.host_name, "-ip",     c.host_ip,
                                          "-out-crt", "host.crt", "-out-key",  "host.key"};
    if (!c.host_groups.empty()) sign_args.insert(sign_args.end(), {"-groups", Join(c.host_groups)});
    if (!c.host_subnets.empty()) {
      sign_args.insert(sign_args.end(), {"-subnets", Join(c.host_subnets)});
    }
    MustRun(ours, dir.path(), sign_args);
  } else {
    const auto now = std::chrono::system_clock::now();
    auto ca = CreateCa({.name = c.ca_name,
                        .groups = c.ca_groups,
                        .ips = Cidrs(c.ca_ips),
                        .subnets = Cidrs(c.ca_subnets)},
                       now);
    ASSERT_TRUE(ca.ok()) << ca.status().ToString();
    auto authority = CertificateAuthority::Create(ca->cert, ca->private_key);
    ASSERT_TRUE(authority.ok()) << authority.status().ToString();
    auto host = authority->Sign({.name = c.host_name,
                                 .ip = Cidr(c.host_ip),
                                 .groups = c.host_groups,
                                 .subnets = Cidrs(c.host_subnets)},
                                now);
    ASSERT_TRUE(host.ok()) << host.status().ToString();
    Write(dir / "ca.crt", ca->CertPem());
    Write(dir / "ca.key", ca->KeyPem());
    Write(dir / "host.crt", host->CertPem());
    Write(dir / "host.key", host->KeyPem());
    lib_json = {CertificateToJson(ca->cert) + "\n", CertificateToJson(host->cert) + "\n"};
    lib_text = {CertificateToText(ca->cert) + "\n", CertificateToText(host->cert) + "\n"};
  }
  Write(dir / "bundle.crt", Slurp(dir / "ca.crt") + Slurp(dir / "host.crt"));
  ASSERT_FALSE(HasFailure());

  // Both verifiers accept, silently.
  for (const Cli& cli : {nebula, ours}) {
    SCOPED_TRACE(cli.label);
    RunResult r = Invoke(cli, dir.path(), {"verify", "-ca", "ca.crt", "-crt", "host.crt"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "");
  }

  // Our decoding of the files agrees with what was asked for, special characters included.
  const Certificate ca_cert = MustParseCert(Slurp(dir / "ca.crt"));
  const Certificate host_cert = MustParseCert(Slurp(dir / "host.crt"));
  EXPECT_EQ(ca_cert.details.name, c.ca_name);
  EXPECT_EQ(host_cert.details.name, c.host_name);
  EXPECT_EQ(host_cert.details.groups, c.host_groups);
  EXPECT_EQ(host_cert.details.ips, std::vector<Ipv4Net>{Cidr(c.host_ip)});
  EXPECT_EQ(host_cert.details.issuer, RawFingerprint(ca_cert));
  // As nebula-cert does: a CA's -ips keep their address, every subnet is masked.
  EXPECT_EQ(ca_cert.details.ips, Cidrs(c.ca_ips));
  std::vector<Ipv4Net> masked;
  for (const auto& n : Cidrs(c.ca_subnets)) masked.push_back(n.Masked());
  EXPECT_EQ(ca_cert.details.subnets, masked);
  masked.clear();
  for (const auto& n : Cidrs(c.host_subnets)) masked.push_back(n.Masked());
  EXPECT_EQ(host_cert.details.subnets, masked);
  // Each key file belongs to its certificate.
  auto ca_key = ParseEd25519PrivateKeyPem(Slurp(dir / "ca.key"));
  ASSERT_TRUE(ca_key.ok()) << ca_key.status().ToString();
  EXPECT_EQ(ca_key->substr(32), ca_cert.details.public_key);
  auto host_key = ParseX25519PrivateKeyPem(Slurp(dir / "host.key"));
  ASSERT_TRUE(host_key.ok()) << host_key.status().ToString();
  auto host_pub = X25519PublicKey(*host_key);
  ASSERT_TRUE(host_pub.ok());
  EXPECT_EQ(*host_pub, host_cert.details.public_key);

  // nebula-cert computes the fingerprints we compute.
  const std::string ca_json = MustRun(nebula, dir.path(), {"print", "-json", "-path", "ca.crt"});
  const std::string host_json =
      MustRun(nebula, dir.path(), {"print", "-json", "-path", "host.crt"});
  EXPECT_EQ(FieldOfJson(ca_json, "fingerprint"), Fingerprint(ca_cert));
  EXPECT_EQ(FieldOfJson(host_json, "fingerprint"), Fingerprint(host_cert));
  EXPECT_EQ(FieldOfJson(host_json, "issuer"), Fingerprint(ca_cert));
  if (!lib_json.empty()) {
    EXPECT_EQ(ca_json, lib_json[0]);
    EXPECT_EQ(host_json, lib_json[1]);
    EXPECT_EQ(MustRun(nebula, dir.path(), {"print", "-path", "ca.crt"}), lib_text[0]);
    EXPECT_EQ(MustRun(nebula, dir.path(), {"print", "-path", "host.crt"}), lib_text[1]);
  }

  // `carrierarr pki print` is byte-identical, also in zones with odd offsets (times print local).
  struct Print {
    std::string file;
    std::vector<std::string> env;
  };
  const std::vector<Print> prints = {{"ca.crt", {}},
                                     {"host.crt", {}},
                                     {"bundle.crt", {}},
                                     {"bundle.crt", {"TZ=Asia/Kolkata"}},
                                     {"bundle.crt", {"TZ=America/St_Johns"}}};
  for (const auto& p : prints) {
    for (bool json : {true, false}) {
      SCOPED_TRACE(p.file + (json ? " -json " : " ") + Join(p.env));
      std::vector<std::string> args = {"print", "-path", p.file};
      if (json) args.push_back("-json");
      const std::string theirs = MustRun(nebula, dir.path(), args, p.env);
      EXPECT_FALSE(theirs.empty());
      EXPECT_EQ(MustRun(ours, dir.path(), args, p.env), theirs);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Interop, CarrierarrMaterialTest, ::testing::ValuesIn(MaterialCases()),
                         [](const ::testing::TestParamInfo<MaterialCase>& param) {
                           return param.param.name;
                         });

// ---- nebula-cert's material is accepted by carrierarr -------------------------------------------

class NebulaCertMaterialTest : public ::testing::Test {
 protected:
  void SetUp() override {
    nebula_ = NebulaCert();
    ours_ = Ours();
    ASSERT_FALSE(HasFailure());
  }

  // A constrained CA made by nebula-cert in `dir`: ca.key, ca.crt.
  void NebulaCa(const ScratchDir& dir) {
    MustRun(nebula_, dir.path(),
            {"ca", "-name", "nebula <&> CA ü", "-duration", "48h", "-groups", "servers,ops,web",
             "-ips", "10.42.0.0/16", "-subnets", "10.99.0.0/16"});
  }

  void ExpectBothVerify(const ScratchDir& dir, const std::string& ca, const std::string& crt) {
    for (const Cli& cli : {nebula_, ours_}) {
      SCOPED_TRACE(cli.label + " verify " + crt);
      RunResult r = Invoke(cli, dir.path(), {"verify", "-ca", ca, "-crt", crt});
      EXPECT_EQ(r.exit_code, 0) << r.err;
      EXPECT_EQ(r.out + r.err, "");
    }
  }

  Cli nebula_, ours_;
};

TEST_F(NebulaCertMaterialTest, CarrierarrVerifiesParsesAndReencodesItExactly) {
  ScratchDir dir;
  NebulaCa(dir);
  MustRun(nebula_, dir.path(),
          {"sign", "-name", "db-1 \"ü\"", "-ip", "10.42.7.3/16", "-groups", "servers,ops",
           "-subnets", "10.99.3.0/24", "-out-crt", "host.crt", "-out-key", "host.key"});
  ExpectBothVerify(dir, "ca.crt", "host.crt");

  const std::string ca_pem = Slurp(dir / "ca.crt");
  const std::string host_pem = Slurp(dir / "host.crt");
  const Certificate ca = MustParseCert(ca_pem);
  const Certificate host = MustParseCert(host_pem);
  // Canonical round trip: our encoder writes nebula-cert's bytes, PEM armour included.
  EXPECT_EQ(CertificateToPem(ca), ca_pem);
  EXPECT_EQ(CertificateToPem(host), host_pem);
  EXPECT_EQ(FieldOfJson(MustRun(nebula_, dir.path(), {"print", "-json", "-path", "host.crt"}),
                        "fingerprint"),
            Fingerprint(host));
  EXPECT_EQ(host.details.name, "db-1 \"ü\"");
  EXPECT_EQ(host.details.subnets, Cidrs({"10.99.3.0/24"}));

  // The library's pool agrees.
  CaPool pool;
  const auto now = std::chrono::system_clock::now();
  ASSERT_TRUE(pool.AddCasFromPem(ca_pem, now).ok());
  VerifyResult verdict = pool.Verify(host, now);
  EXPECT_TRUE(verdict.ok()) << verdict.status.ToString();

  // Keys read back to the bytes nebula-cert wrote, and belong to their certificates.
  const std::string ca_key_pem = Slurp(dir / "ca.key");
  auto ca_key = ParseEd25519PrivateKeyPem(ca_key_pem);
  ASSERT_TRUE(ca_key.ok()) << ca_key.status().ToString();
  EXPECT_EQ(ca_key->substr(32), ca.details.public_key);
  EXPECT_EQ(Ed25519PrivateKeyToPem(*ca_key), ca_key_pem);
  const std::string host_key_pem = Slurp(dir / "host.key");
  auto host_key = ParseX25519PrivateKeyPem(host_key_pem);
  ASSERT_TRUE(host_key.ok()) << host_key.status().ToString();
  auto host_pub = X25519PublicKey(*host_key);
  ASSERT_TRUE(host_pub.ok());
  EXPECT_EQ(*host_pub, host.details.public_key);
  EXPECT_EQ(X25519PrivateKeyToPem(*host_key), host_key_pem);

  // And both print it the same way.
  Write(dir / "bundle.crt", ca_pem + host_pem);
  for (bool json : {true, false}) {
    std::vector<std::string> args = {"print", "-path", "bundle.crt"};
    if (json) args.push_back("-json");
    EXPECT_EQ(MustRun(ours_, dir.path(), args), MustRun(nebula_, dir.path(), args));
  }
}

TEST_F(NebulaCertMaterialTest, CarrierarrSignsWithANebulaCertCaKey) {
  ScratchDir dir;
  NebulaCa(dir);
  MustRun(ours_, dir.path(),
          {"sign", "-name", "web-1", "-ip", "10.42.3.1/16", "-groups", "web,ops", "-subnets",
           "10.99.4.0/24"});
  ExpectBothVerify(dir, "ca.crt", "web-1.crt");

  // The library, handed nebula-cert's key, signs what nebula-cert accepts too.
  auto key = ParseEd25519PrivateKeyPem(Slurp(dir / "ca.key"));
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  auto authority = CertificateAuthority::Create(MustParseCert(Slurp(dir / "ca.crt")), *key);
  ASSERT_TRUE(authority.ok()) << authority.status().ToString();
  auto host = authority->Sign({.name = "db-2", .ip = Cidr("10.42.3.2/16"), .groups = {"servers"}},
                              std::chrono::system_clock::now());
  ASSERT_TRUE(host.ok()) << host.status().ToString();
  Write(dir / "db-2.crt", host->CertPem());
  ExpectBothVerify(dir, "ca.crt", "db-2.crt");
}

TEST_F(NebulaCertMaterialTest, NebulaCertSignsWithACarrierarrCaKey) {
  ScratchDir dir;
  MustRun(ours_, dir.path(), {"ca", "-name", "ours", "-groups", "web", "-ips", "10.42.0.0/16"});
  MustRun(nebula_, dir.path(), {"sign", "-name", "web-1", "-ip", "10.42.3.1/16", "-groups", "web"});
  ExpectBothVerify(dir, "ca.crt", "web-1.crt");

  ScratchDir lib;
  auto ca = CreateCa({.name = "library"}, std::chrono::system_clock::now());
  ASSERT_TRUE(ca.ok());
  Write(lib / "ca.crt", ca->CertPem());
  Write(lib / "ca.key", ca->KeyPem());
  MustRun(nebula_, lib.path(), {"sign", "-name", "h", "-ip", "10.42.3.9/16"});
  ExpectBothVerify(lib, "ca.crt", "h.crt");
}

TEST_F(NebulaCertMaterialTest, KeygenPublicKeysWorkAcrossTools) {
  struct Direction {
    Cli keygen, signer;
  };
  for (const Direction& d : {Direction{nebula_, ours_}, Direction{ours_, nebula_}}) {
    SCOPED_TRACE("keygen by " + d.keygen.label + ", signed by " + d.signer.label);
    ScratchDir dir;
    MustRun(ours_, dir.path(), {"ca", "-name", "mesh"});
    MustRun(d.keygen, dir.path(), {"keygen", "-out-key", "node.key", "-out-pub", "node.pub"});
    const std::string key_before = Slurp(dir / "node.key");
    // With -in-pub no key is written, so the default -out-key (node.key, present) is no obstacle.
    MustRun(d.signer, dir.path(),
            {"sign", "-name", "node", "-ip", "10.42.5.5/16", "-in-pub", "node.pub"});
    EXPECT_EQ(Slurp(dir / "node.key"), key_before);
    ExpectBothVerify(dir, "ca.crt", "node.crt");

    auto pub = ParseX25519PublicKeyPem(Slurp(dir / "node.pub"));
    auto priv = ParseX25519PrivateKeyPem(Slurp(dir / "node.key"));
    ASSERT_TRUE(pub.ok()) << pub.status().ToString();
    ASSERT_TRUE(priv.ok()) << priv.status().ToString();
    auto derived = X25519PublicKey(*priv);
    ASSERT_TRUE(derived.ok());
    EXPECT_EQ(*derived, *pub);  // the keygen pair is a pair
    EXPECT_EQ(MustParseCert(Slurp(dir / "node.crt")).details.public_key, *pub);
  }
}

// ---- verify: every rejection, both ways --------------------------------------------------------

// The material one verify case is built from; all times are relative to `now`.
struct World {
  int64_t now = UnixNow();
  // groups ops,web,db; ips 10.42.0.0/16 and 192.168.7.0/24; subnets 10.99.0.0/16.
  Ca ca = MakeCa({.name = "mesh-ca",
                  .ips = Cidrs({"10.42.0.0/16", "192.168.7.0/24"}),
                  .subnets = Cidrs({"10.99.0.0/16"}),
                  .groups = {"ops", "web", "db"},
                  .not_before = now - kDay,
                  .not_after = now + 30 * kDay});
  Ca other = MakeCa({.name = "other-ca", .not_before = now - kDay, .not_after = now + 30 * kDay});

  // A host `ca` signs without complaint.
  CertDetails Host() const {
    return {.name = "web-1",
            .ips = Cidrs({"10.42.1.1/16"}),
            .subnets = Cidrs({"10.99.3.0/24"}),
            .groups = {"web", "ops"},
            .not_before = now - kHour,
            .not_after = now + kDay,
            .public_key = NewX25519Public(),
            .issuer = RawFingerprint(ca.cert)};
  }
  std::string Signed(const CertDetails& d, const Ca& by) const {
    auto cert = SignDetailsUnchecked(d, by.key);
    EXPECT_TRUE(cert.ok());
    return cert.ok() ? CertificateToPem(*cert) : "";
  }
  std::string Signed(const CertDetails& d) const { return Signed(d, ca); }
};

struct VerifyInputs {
  std::string ca_pem, crt_pem;
};

struct VerifyCase {
  std::string name;
  VerifyInputs (*build)(const World& w);
  std::string error;  // after "Error: "; empty when both must accept
  int check = 0;      // VerifyCheck our explanation names; -1: CA loading; 0: no explanation
};

void PrintTo(const VerifyCase& c, std::ostream* os) { *os << c.name; }

CertDetails With(CertDetails d, void (*edit)(CertDetails&)) {
  edit(d);
  return d;
}

const VerifyCase kVerifyCases[] = {
    // Controls: the builders make valid material unless told otherwise.
    {"ValidHost",
     [](const World& w) {
       return VerifyInputs{w.ca.Pem(), w.Signed(w.Host())};
     },
     ""},
    {"HandEncodedCanonicalHost",
     [](const World& w) {
       std::string details = HandDetails(w.Host());
       return VerifyInputs{w.ca.Pem(), HandCertPem(details, SignBytes(details, w.ca))};
     },
     ""},
    {"IssuerIsSecondCaOfFile",
     [](const World& w) {
       return VerifyInputs{w.other.Pem() + w.ca.Pem(), w.Signed(w.Host())};
     },
     ""},
    {"OnlyFirstCertOfCrtIsChecked",
     [](const World& w) {
       return VerifyInputs{w.ca.Pem(), w.Signed(w.Host()) + "this is not a certificate\n"};
     },
     ""},
    // Checks 2 to 6 of the verifier.
    {"NoIssuer",
     [](const World& w) {
       return VerifyInputs{w.ca.Pem(),
                           w.Signed(With(w.Host(), [](CertDetails& d) { d.issuer.clear(); }))};
     },
     "no issuer in certificate", 2},
    {"CaPassedAsCrt",
     [](const World& w) {
       return VerifyInputs{w.ca.Pem(), w.ca.Pem()};
     },
     "no issuer in certificate", 2},
    {"UnknownCa",
     [](const World& w) {
       CertDetails d = w.Host();
       d.issuer = RawFingerprint(w.other.cert);
       return VerifyInputs{w.ca.Pem(), w.Signed(d, w.other)};
     },
     "could not find ca for the certificate", 3},
    {"Expired",
     [](const World& w) {
       CertDetails d = w.Host();
       d.not_before = w.now - 2 * kHour;
       d.not_after = w.now - kHour;
       return VerifyInputs{w.ca.Pem(), w.Signed(d)};
     },
     "certificate is expired", 5},
    {"NotYetValid",
     [](const World& w) {
       CertDetails d = w.Host();
       d.not_before = w.now + kHour;
       return VerifyInputs{w.ca.Pem(), w.Signed(d)};
     },
     "certificate is expired", 5},
    {"FirstCertOfCrtIsExpiredSecondGood",
     [](const World& w) {
       CertDetails d = w.Host();
       d.not_after = w.now - kHour;
       d.not_before = w.now - 2 * kHour;
       return VerifyInputs{w.ca.Pem(), w.Signed(d) + w.Signed(w.Host())};
     },
     "certificate is expired", 5},
    {"TamperedName",
     [](const World& w) {
       auto cert = SignDetailsUnchecked(w.Host(), w.ca.key);
       cert->details.name = "web-2";
       return VerifyInputs{w.ca.Pem(), CertificateToPem(*cert)};
     },
     "certificate signature did not match", 6},
    {"TamperedIp",
     [](const World& w) {
       auto cert = SignDetailsUnchecked(w.Host(), w.ca.key);
       cert->details.ips = Cidrs({"10.42.1.2/16"});
       return VerifyInputs{w.ca.Pem(), CertificateToPem(*cert)};
     },
     "certificate signature did not match", 6},
    {"TamperedSignature",
     [](const World& w) {
       auto cert = SignDetailsUnchecked(w.Host(), w.ca.key);
       cert->signature[5] ^= 0x01;
       return VerifyInputs{w.ca.Pem(), CertificateToPem(*cert)};
     },
     "certificate signature did not match", 6},
    {"SignedByWrongKeyWithRightIssuer",
     [](const World& w) {
       return VerifyInputs{w.ca.Pem(), w.Signed(w.Host(), w.other)};
     },
     "certificate signature did not match", 6},
    // Non-canonical encodings, signed over exactly the bytes sent: the verifier re-encodes.
    {"UnpackedIps",
     [](const World& w) {
       std::string details = HandDetails(w.Host(), {.packed = false});
       return VerifyInputs{w.ca.Pem(), HandCertPem(details, SignBytes(details, w.ca))};
     },
     "certificate signature did not match", 6},
    {"ReorderedFields",
     [](const World& w) {
       std::string details = HandDetails(w.Host(), {.order = {7, 1, 2, 3, 4, 5, 6, 8, 9}});
       return VerifyInputs{w.ca.Pem(), HandCertPem(details, SignBytes(details, w.ca))};
     },
     "certificate signature did not match", 6},
    {"ExplicitDefaultValue",
     [](const World& w) {
       std::string details = HandDetails(w.Host(), {.explicit_is_ca_false = true});
       return VerifyInputs{w.ca.Pem(), HandCertPem(details, SignBytes(details, w.ca))};
     },
     "certificate signature did not match", 6},
    {"UnknownField",
     [](const World& w) {
       std::string details = HandDetails(w.Host(), {.unknown_field = true});
       return VerifyInputs{w.ca.Pem(), HandCertPem(details, SignBytes(details, w.ca))};
     },
     "certificate signature did not match", 6},
    // Check 7: the CA's constraints.
    {"ExpiresAfterCa",
     [](const World& w) {
       CertDetails d = w.Host();
       d.not_after = w.ca.cert.details.not_after + 1;
       return VerifyInputs{w.ca.Pem(), w.Signed(d)};
     },
     "certificate expires after signing certificate", 7},
    {"ValidBeforeCa",
     [](const World& w) {
       CertDetails d = w.Host();
       d.not_before = w.ca.cert.details.not_before - 1;
       return VerifyInputs{w.ca.Pem(), w.Signed(d)};
     },
     "certificate is valid before the signing certificate", 7},
    {"GroupNotOnCa",
     [](const World& w) {
       CertDetails d = w.Host();
       d.groups = {"web", "hackers", "zzz"};
       return VerifyInputs{w.ca.Pem(), w.Signed(d)};
     },
     "certificate contained a group not present on the signing ca: hackers", 7},
    {"IpOutsideCa",
     [](const World& w) {
       CertDetails d = w.Host();
       d.ips = Cidrs({"10.43.1.1/16"});
       return VerifyInputs{w.ca.Pem(), w.Signed(d)};
     },
     "certificate contained an ip assignment outside the limitations of the signing ca: "
     "10.43.1.1/16",
     7},
    {"IpMaskWiderThanCa",
     [](const World& w) {
       CertDetails d = w.Host();
       d.ips = Cidrs({"10.42.1.1/8"});
       return VerifyInputs{w.ca.Pem(), w.Signed(d)};
     },
     "certificate contained an ip assignment outside the limitations of the signing ca: "
     "10.42.1.1/8",
     7},
    {"SecondIpOutsideCa",
     [](const World& w) {
       CertDetails d = w.Host();
       d.ips = Cidrs({"192.168.7.20/24", "172.16.0.1/16"});
       return VerifyInputs{w.ca.Pem(), w.Signed(d)};
     },
     "certificate contained an ip assignment outside the limitations of the signing ca: "
     "172.16.0.1/16",
     7},
    {"SubnetOutsideCa",
     [](const World& w) {
       CertDetails d = w.Host();
       d.subnets = Cidrs({"10.99.3.0/24", "10.98.0.0/24"});
       return VerifyInputs{w.ca.Pem(), w.Signed(d)};
     },
     "certificate contained a subnet assignment outside the limitations of the signing ca: "
     "10.98.0.0/24",
     7},
    {"SubnetMaskWiderThanCa",
     [](const World& w) {
       CertDetails d = w.Host();
       d.subnets = Cidrs({"10.0.0.0/8"});
       return VerifyInputs{w.ca.Pem(), w.Signed(d)};
     },
     "certificate contained a subnet assignment outside the limitations of the signing ca: "
     "10.0.0.0/8",
     7},
    // Loading -ca: every block a valid, unexpired, self-signed CA.
    {"CaFileHoldsHostCert",
     [](const World& w) {
       return VerifyInputs{w.Signed(w.Host()), w.Signed(w.Host())};
     },
     "error while adding ca cert to pool: web-1: certificate is not a CA", -1},
    {"CaFileHoldsCaThenHostCert",
     [](const World& w) {
       return VerifyInputs{w.ca.Pem() + w.Signed(w.Host()), w.Signed(w.Host())};
     },
     "error while adding ca cert to pool: web-1: certificate is not a CA", -1},
    {"CaNotSelfSigned",
     [](const World& w) {
       Certificate forged = w.ca.cert;
       forged.signature = SignBytes(EncodeDetails(forged.details), w.other);
       return VerifyInputs{CertificateToPem(forged), w.Signed(w.Host())};
     },
     "error while adding ca cert to pool: mesh-ca: certificate is not self-signed", -1},
    {"CaExpired",
     [](const World& w) {
       Ca old =
           MakeCa({.name = "old-ca", .not_before = w.now - 30 * kDay, .not_after = w.now - kDay});
       return VerifyInputs{old.Pem(), w.Signed(w.Host())};
     },
     "error while adding ca cert to pool: old-ca: certificate is expired", -1},
    {"CaNotYetValid",
     [](const World& w) {
       Ca young =
           MakeCa({.name = "young-ca", .not_before = w.now + kDay, .not_after = w.now + 9 * kDay});
       return VerifyInputs{w.ca.Pem() + young.Pem(), w.Signed(w.Host())};
     },
     "error while adding ca cert to pool: young-ca: certificate is expired", -1},
    // nebula-cert verify stops at the first bad CA block, whatever follows it.
    {"CaExpiredThenHostCert",
     [](const World& w) {
       Ca old =
           MakeCa({.name = "old-ca", .not_before = w.now - 30 * kDay, .not_after = w.now - kDay});
       return VerifyInputs{old.Pem() + w.Signed(w.Host()), w.Signed(w.Host())};
     },
     "error while adding ca cert to pool: old-ca: certificate is expired", -1},
    {"CaGarbage",
     [](const World& w) {
       return VerifyInputs{"not a certificate\n", w.Signed(w.Host())};
     },
     "error while adding ca cert to pool: input did not contain a valid PEM encoded block", -1},
    {"CaGarbageAfterGoodCa",
     [](const World& w) {
       return VerifyInputs{w.ca.Pem() + "junk\n", w.Signed(w.Host())};
     },
     "error while adding ca cert to pool: input did not contain a valid PEM encoded block", -1},
    // Malformed -crt.
    {"CrtGarbage",
     [](const World& w) {
       return VerifyInputs{w.ca.Pem(), "garbage\n"};
     },
     "error while parsing crt: input did not contain a valid PEM encoded block"},
    {"CrtEmpty",
     [](const World& w) {
       return VerifyInputs{w.ca.Pem(), ""};
     },
     "error while parsing crt: input did not contain a valid PEM encoded block"},
    {"CrtWrongBanner",
     [](const World& w) {
       return VerifyInputs{w.ca.Pem(), X25519PublicKeyToPem(NewX25519Public())};
     },
     "error while parsing crt: bytes did not contain a proper nebula certificate banner"},
    {"CrtBadBase64",
     [](const World& w) {
       return VerifyInputs{w.ca.Pem(),
                           "-----BEGIN NEBULA CERTIFICATE-----\n!!!!\n"
                           "-----END NEBULA CERTIFICATE-----\n"};
     },
     "error while parsing crt: input did not contain a valid PEM encoded block"},
    {"CrtEmptyBody",
     [](const World& w) {
       return VerifyInputs{w.ca.Pem(), PemEncode(kCertBanner, "")};
     },
     "error while parsing crt: nil byte array"},
    {"CrtTruncatedProtobuf",
     [](const World& w) {
       std::string der = EncodeCertificate(*SignDetailsUnchecked(w.Host(), w.ca.key));
       return VerifyInputs{w.ca.Pem(), PemEncode(kCertBanner, der.substr(0, der.size() - 3))};
     },
     "error while parsing crt: proto: cannot parse invalid wire-format data"},
    {"CrtNoDetails",
     [](const World& w) {
       return VerifyInputs{w.ca.Pem(), PemEncode(kCertBanner, HandProto().Bytes(2, "sig").str())};
     },
     "error while parsing crt: encoded Details was nil"},
    {"CrtOddIps",
     [](const World& w) {
       std::string details =
           HandProto().Packed(2, {0x0a2a0101}).Bytes(7, std::string(32, 'k')).str();
       return VerifyInputs{w.ca.Pem(), HandCertPem(details, "sig")};
     },
     "error while parsing crt: encoded IPs should be in pairs, an odd number was found"},
    {"CrtOddSubnets",
     [](const World& w) {
       std::string details = HandProto().Packed(3, {1, 2, 3}).Bytes(7, std::string(32, 'k')).str();
       return VerifyInputs{w.ca.Pem(), HandCertPem(details, "sig")};
     },
     "error while parsing crt: encoded Subnets should be in pairs, an odd number was found"},
    {"CrtShortPublicKey",
     [](const World& w) {
       CertDetails d = w.Host();
       d.public_key = "short";
       return VerifyInputs{w.ca.Pem(), w.Signed(d)};
     },
     "error while parsing crt: Public key was fewer than 32 bytes; 5"},
    {"CrtNameNotUtf8",
     [](const World& w) {
       CertDetails d = w.Host();
       d.name = "bad\xff";
       return VerifyInputs{w.ca.Pem(), w.Signed(d)};
     },
     "error while parsing crt: string field contains invalid UTF-8"},
    {"CrtGroupNotUtf8",
     [](const World& w) {
       CertDetails d = w.Host();
       d.groups = {"web", "\xc3\x28"};
       return VerifyInputs{w.ca.Pem(), w.Signed(d)};
     },
     "error while parsing crt: string field contains invalid UTF-8"},
};

class VerifyVerdictTest : public ::testing::TestWithParam<VerifyCase> {};

TEST_P(VerifyVerdictTest, BothToolsAgree) {
  const VerifyCase& c = GetParam();
  const std::vector<Cli> clis = BothClis();
  ASSERT_FALSE(HasFailure());
  World world;
  const VerifyInputs in = c.build(world);
  ASSERT_FALSE(HasFailure());
  ScratchDir dir;
  Write(dir / "ca.crt", in.ca_pem);
  Write(dir / "host.crt", in.crt_pem);

  for (const Cli& cli : clis) {
    SCOPED_TRACE(cli.label);
    RunResult r = Invoke(cli, dir.path(), {"verify", "-ca", "ca.crt", "-crt", "host.crt"});
    EXPECT_EQ(r.out, "");
    if (c.error.empty()) {
      EXPECT_EQ(r.exit_code, 0) << r.err;
      EXPECT_EQ(r.err, "");
      continue;
    }
    EXPECT_EQ(r.exit_code, 1);
    const std::string err = NormalizeProtoSeparator(r.err);
    EXPECT_EQ(FirstLine(err), "Error: " + c.error) << r.err;
    if (cli.label == "nebula-cert") {
      EXPECT_EQ(err, "Error: " + c.error + "\n");  // nebula-cert says nothing more
      continue;
    }
    // Ours goes on to say which check failed, indented under the error.
    std::string explanation = err.substr(std::min(err.size(), err.find('\n') + 1));
    if (c.check > 0) {
      EXPECT_EQ(explanation.rfind("  check " + std::to_string(c.check) + " of 7 (", 0), 0u)
          << explanation;
    } else if (c.check < 0) {
      EXPECT_EQ(explanation.rfind("  check: loading the CAs of ca.crt", 0), 0u) << explanation;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Interop, VerifyVerdictTest, ::testing::ValuesIn(kVerifyCases),
                         [](const ::testing::TestParamInfo<VerifyCase>& param) {
                           return param.param.name;
                         });

// The hand encoder is only trustworthy for the non-canonical cases if its canonical output is
// byte-for-byte ours (and so nebula's: see CarrierarrVerifiesParsesAndReencodesItExactly).
TEST(HandEncoderTest, CanonicalOutputIsOurs) {
  World w;
  CertDetails host = w.Host();
  EXPECT_EQ(HandDetails(host), EncodeDetails(host));
  EXPECT_EQ(HandDetails(w.ca.cert.details), EncodeDetails(w.ca.cert.details));
  EXPECT_NE(HandDetails(host, {.packed = false}), EncodeDetails(host));
}

// ---- command-line rejections, both ways --------------------------------------------------------

struct CliCase {
  std::string name;
  std::vector<std::string> args;      // {ca.key} {ca.crt} {other.key} {expired.*}: see below
  std::string error;                  // after "Error: "
  std::vector<std::string> existing;  // files in the working directory before the run
};

void PrintTo(const CliCase& c, std::ostream* os) { *os << c.name; }

// Sign cases run against a CA made by each tool, both with the same flags.
constexpr std::string_view kCaOrigins[] = {"CarrierarrCa", "NebulaCertCa"};

std::vector<CliCase> CliCases() {
  const std::string constraints = "refusing to sign, root certificate constraints violated: ";
  const std::vector<std::string> ca = {"-ca-key", "{ca.key}", "-ca-crt", "{ca.crt}"};
  auto sign = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "sign");
    args.insert(args.end(), ca.begin(), ca.end());
    return args;
  };
  std::vector<CliCase> sign_cases = {
      {"SignGroupNotOnCa",
       sign({"-name", "web-1", "-ip", "10.42.1.1/16", "-groups", "web,hackers"}),
       constraints + "certificate contained a group not present on the signing ca: hackers"},
      {"SignIpOutsideCa", sign({"-name", "web-1", "-ip", "10.43.1.1/16"}),
       constraints +
           "certificate contained an ip assignment outside the limitations of the signing ca: "
           "10.43.1.1/16"},
      {"SignIpMaskWiderThanCa", sign({"-name", "web-1", "-ip", "10.42.1.1/8"}),
       constraints +
           "certificate contained an ip assignment outside the limitations of the signing ca: "
           "10.42.1.1/8"},
      {"SignSubnetOutsideCa",
       sign({"-name", "web-1", "-ip", "10.42.1.1/16", "-subnets", "10.99.1.0/24,10.98.0.0/24"}),
       constraints +
           "certificate contained a subnet assignment outside the limitations of the signing ca: "
           "10.98.0.0/24"},
      {"SignDurationBeyondCa", sign({"-name", "web-1", "-ip", "10.42.1.1/16", "-duration", "101h"}),
       constraints + "certificate expires after signing certificate"},
      {"SignKeyNotMatchingCa",
       {"sign", "-name", "web-1", "-ip", "10.42.1.1/16", "-ca-key", "{other.key}", "-ca-crt",
        "{ca.crt}"},
       "refusing to sign, root certificate does not match private key"},
      {"SignExistingCert",
       sign({"-name", "web-1", "-ip", "10.42.1.1/16"}),
       "refusing to overwrite existing cert: web-1.crt",
       {"web-1.crt"}},
      {"SignExistingKey",
       sign({"-name", "web-1", "-ip", "10.42.1.1/16"}),
       "refusing to overwrite existing key: web-1.key",
       {"web-1.key"}},
      {"SignExistingOutCrt",
       sign({"-name", "web-1", "-ip", "10.42.1.1/16", "-out-crt", "x.crt", "-out-key", "x.key"}),
       "refusing to overwrite existing cert: x.crt",
       {"x.crt", "x.key"}},
      // Two faults: the CA's refusal is reported before the existing files.
      {"SignExistingCertAndIpOutsideCa",
       sign({"-name", "web-1", "-ip", "10.43.1.1/16"}),
       constraints +
           "certificate contained an ip assignment outside the limitations of the signing ca: "
           "10.43.1.1/16",
       {"web-1.crt", "web-1.key"}},
      {"SignInvalidIp", sign({"-name", "web-1", "-ip", "10.42.1.300/16"}),
       "invalid ip definition: invalid CIDR address: 10.42.1.300/16"},
      {"SignIpWithoutMask", sign({"-name", "web-1", "-ip", "10.42.1.1"}),
       "invalid ip definition: invalid CIDR address: 10.42.1.1"},
      {"SignIpv6", sign({"-name", "web-1", "-ip", "fd00::1/64"}),
       "invalid ip definition: can only be ipv4, have fd00::1/64"},
      {"SignInvalidSubnet",
       sign({"-name", "web-1", "-ip", "10.42.1.1/16", "-subnets", "10.99.0.0/33"}),
       "invalid subnet definition: invalid CIDR address: 10.99.0.0/33"},
      {"SignMissingName", sign({"-ip", "10.42.1.1/16"}), "-name is required"},
      {"SignMissingIp", sign({"-name", "web-1"}), "-ip is required"},
      {"SignInPubAndOutKey",
       sign({"-name", "web-1", "-ip", "10.42.1.1/16", "-in-pub", "p.pub", "-out-key", "k.key"}),
       "cannot set both -in-pub and -out-key"},
      {"SignInPubNotAKey", sign({"-name", "web-1", "-ip", "10.42.1.1/16", "-in-pub", "{ca.crt}"}),
       "error while parsing in-pub: bytes did not contain a proper nebula X25519 public key "
       "banner"},
      {"SignCaKeyIsACert",
       {"sign", "-name", "web-1", "-ip", "10.42.1.1/16", "-ca-key", "{ca.crt}", "-ca-crt",
        "{ca.crt}"},
       "error while parsing ca-key: bytes did not contain a proper nebula Ed25519 private key "
       "banner"},
      {"SignCaCrtIsAKey",
       {"sign", "-name", "web-1", "-ip", "10.42.1.1/16", "-ca-key", "{ca.key}", "-ca-crt",
        "{ca.key}"},
       "error while parsing ca-crt: bytes did not contain a proper nebula certificate banner"},
  };
  std::vector<CliCase> out;
  for (std::string_view origin : kCaOrigins) {
    for (CliCase c : sign_cases) {
      c.name += "_" + std::string(origin);
      for (auto& a : c.args) {
        if (a.front() == '{' && a != "{other.key}") a.insert(1, std::string(origin) + "/");
      }
      out.push_back(std::move(c));
    }
  }
  std::vector<CliCase> others = {
      {"SignExpiredCa",
       {"sign", "-name", "web-1", "-ip", "10.42.1.1/16", "-ca-key", "{expired.key}", "-ca-crt",
        "{expired.crt}"},
       "ca certificate is expired"},
      {"SignMissingCaKeyFile",
       {"sign", "-name", "web-1", "-ip", "10.42.1.1/16", "-ca-key", "missing.key"},
       "error while reading ca-key: open missing.key: no such file or directory"},
      {"CaMissingName", {"ca", "-groups", "a"}, "-name is required"},
      {"CaZeroDuration",
       {"ca", "-name", "x", "-duration", "0s"},
       "-duration must be greater than 0"},
      {"CaInvalidIp",
       {"ca", "-name", "x", "-ips", "10.42.0.0/16,10.0.0.1"},
       "invalid ip definition: invalid CIDR address: 10.0.0.1"},
      {"CaIpv6Ip",
       {"ca", "-name", "x", "-ips", "fd00::/8"},
       "invalid ip definition: can only be ipv4, have fd00::/8"},
      {"CaInvalidSubnet",
       {"ca", "-name", "x", "-subnets", "10.99.0.0"},
       "invalid subnet definition: invalid CIDR address: 10.99.0.0"},
      {"CaExistingKey",
       {"ca", "-name", "x"},
       "refusing to overwrite existing CA key: ca.key",
       {"ca.key"}},
      {"CaExistingCrt",
       {"ca", "-name", "x"},
       "refusing to overwrite existing CA cert: ca.crt",
       {"ca.crt"}},
      {"VerifyMissingCa", {"verify", "-crt", "x.crt"}, "-ca is required"},
      {"VerifyMissingCrt", {"verify", "-ca", "x.crt"}, "-crt is required"},
      {"VerifyCaFileMissing",
       {"verify", "-ca", "missing.crt", "-crt", "x.crt"},
       "error while reading ca: open missing.crt: no such file or directory"},
      {"VerifyCrtFileMissing",
       {"verify", "-ca", "{CarrierarrCa/ca.crt}", "-crt", "missing.crt"},
       "unable to read crt; open missing.crt: no such file or directory"},
      {"PrintMissingPath", {"print", "-json"}, "-path is required"},
      {"PrintFileMissing",
       {"print", "-path", "missing.crt"},
       "unable to read cert; open missing.crt: no such file or directory"},
      {"PrintKeyFile",
       {"print", "-path", "{CarrierarrCa/ca.key}"},
       "error while unmarshaling cert: bytes did not contain a proper nebula certificate banner"},
      {"KeygenMissingOutKey", {"keygen", "-out-pub", "x.pub"}, "-out-key is required"},
      {"KeygenMissingOutPub", {"keygen", "-out-key", "x.key"}, "-out-pub is required"},
  };
  out.insert(out.end(), others.begin(), others.end());
  return out;
}

class CliRejectionTest : public ::testing::TestWithParam<CliCase> {
 protected:
  // CAs shared by all cases: {origin}/ca.{key,crt} (groups web,db, ips 10.42.0.0/16, subnets
  // 10.99.0.0/16, 100h), other.key (an unrelated CA key), expired.{key,crt}.
  static void SetUpTestSuite() {
    materials_ = new ScratchDir();
    const std::vector<std::string> flags = {"ca",           "-name",    "suite-ca",    "-duration",
                                            "100h",         "-groups",  "web,db",      "-ips",
                                            "10.42.0.0/16", "-subnets", "10.99.0.0/16"};
    const std::map<std::string_view, Cli> makers = {{"CarrierarrCa", Ours()},
                                                    {"NebulaCertCa", NebulaCert()}};
    for (const auto& [origin, cli] : makers) {
      const std::string dir = *materials_ / std::string(origin);
      std::filesystem::create_directory(dir);
      MustRun(cli, dir, flags);
    }
    Ca other =
        MakeCa({.name = "other", .not_before = UnixNow() - kHour, .not_after = UnixNow() + kDay});
    Write(*materials_ / "other.key", Ed25519PrivateKeyToPem(other.key));
    Ca expired = MakeCa(
        {.name = "expired", .not_before = UnixNow() - 2 * kDay, .not_after = UnixNow() - kDay});
    Write(*materials_ / "expired.key", Ed25519PrivateKeyToPem(expired.key));
    Write(*materials_ / "expired.crt", expired.Pem());
  }
  static void TearDownTestSuite() {
    delete materials_;
    materials_ = nullptr;
  }

  static std::vector<std::string> Substitute(std::vector<std::string> args) {
    for (auto& a : args) {
      if (a.size() > 2 && a.front() == '{' && a.back() == '}')
        a = *materials_ / a.substr(1, a.size() - 2);
    }
    return args;
  }

  static ScratchDir* materials_;
};

ScratchDir* CliRejectionTest::materials_ = nullptr;

std::vector<std::string> Listing(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST_P(CliRejectionTest, BothToolsRefuseWithTheSameErrorAndWriteNothing) {
  const CliCase& c = GetParam();
  const std::vector<Cli> clis = BothClis();
  ASSERT_FALSE(HasFailure());
  const std::vector<std::string> args = Substitute(c.args);
  std::vector<std::string> existing = c.existing;
  std::sort(existing.begin(), existing.end());

  std::vector<std::string> first_lines;
  for (const Cli& cli : clis) {
    SCOPED_TRACE(cli.label);
    ScratchDir work;
    for (const auto& name : existing) Write(work / name, "keep\n");
    RunResult r = Invoke(cli, work.path(), args);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_EQ(r.out, "");
    first_lines.push_back(FirstLine(r.err));
    EXPECT_EQ(first_lines.back(), "Error: " + c.error) << r.err;
    // A refusal leaves the directory as it was.
    EXPECT_EQ(Listing(work.path()), existing);
    for (const auto& name : existing) EXPECT_EQ(Slurp(work / name), "keep\n") << name;
  }
  ASSERT_EQ(first_lines.size(), 2u);
  EXPECT_EQ(first_lines[0], first_lines[1]);
}

INSTANTIATE_TEST_SUITE_P(Interop, CliRejectionTest, ::testing::ValuesIn(CliCases()),
                         [](const ::testing::TestParamInfo<CliCase>& param) {
                           return param.param.name;
                         });

}  // namespace
}  // namespace carrierarr::pki
