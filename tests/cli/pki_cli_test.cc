// Runs the real `carrierarr` binary, as an operator would, in a scratch directory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "core/file_util.h"
#include "pki/cert.h"
#include "pki/keys.h"
#include "testing/tools.h"

namespace carrierarr {
namespace {

using ::carrierarr::testing::CarrierarrBinary;
using ::carrierarr::testing::Entries;
using ::carrierarr::testing::ModeOf;
using ::carrierarr::testing::RunIn;
using ::carrierarr::testing::ScratchDir;
using ::carrierarr::testing::Slurp;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

constexpr char kWrongUsageHintSign[] = "Run 'carrierarr pki sign -h' for its flags.\n";

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

class PkiCliTest : public ::testing::Test {
 protected:
  // `carrierarr pki ARGS...` in the scratch directory.
  RunResult Pki(std::vector<std::string> args) {
    args.insert(args.begin(), {CarrierarrBinary(), "pki"});
    return RunIn(dir_.path(), args);
  }
  RunResult Carrierarr(std::vector<std::string> args) {
    args.insert(args.begin(), CarrierarrBinary());
    return RunIn(dir_.path(), args);
  }
  // Runs a command that must succeed without a word on either stream.
  void MustPki(const std::vector<std::string>& args) {
    RunResult r = Pki(args);
    ASSERT_EQ(r.exit_code, 0) << ::testing::PrintToString(args) << ": " << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "");
  }
  void MakeCa(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"ca", "-name", "test-ca"};
    args.insert(args.end(), extra.begin(), extra.end());
    MustPki(args);
  }
  void Write(const std::string& name, const std::string& data) {
    ASSERT_TRUE(WriteFileAtomic(dir_ / name, data, 0644).ok());
  }
  std::string Path(const std::string& name) const { return dir_ / name; }

  ScratchDir dir_;
};

// ---- ca -----------------------------------------------------------------------------------

TEST_F(PkiCliTest, CaWritesKeyAndCertMode0600) {
  const mode_t old_umask = ::umask(0);  // the child inherits it: 0600 must not come from it
  RunResult r = Pki({"ca", "-name", "test-ca"});
  ::umask(old_umask);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
  EXPECT_THAT(Entries(dir_.path()), UnorderedElementsAre("ca.key", "ca.crt"));
  EXPECT_EQ(ModeOf(Path("ca.key")), 0600u);
  EXPECT_EQ(ModeOf(Path("ca.crt")), 0600u);
  EXPECT_THAT(Slurp(Path("ca.key")), StartsWith("-----BEGIN NEBULA ED25519 PRIVATE KEY-----\n"));
  auto cert = pki::CertificateFromPem(Slurp(Path("ca.crt")));
  ASSERT_TRUE(cert.ok()) << cert.status().ToString();
  EXPECT_EQ(cert->details.name, "test-ca");
  EXPECT_TRUE(cert->details.is_ca);
  EXPECT_EQ(cert->details.not_after - cert->details.not_before, 8760 * 3600);  // the default
}

TEST_F(PkiCliTest, CaRefusesToOverwriteAnExistingKey) {
  Write("ca.key", "precious key");
  RunResult r = Pki({"ca", "-name", "test-ca"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "Error: refusing to overwrite existing CA key: ca.key\n");
  EXPECT_EQ(Slurp(Path("ca.key")), "precious key");
  EXPECT_EQ(ModeOf(Path("ca.key")), 0644u);
  EXPECT_THAT(Entries(dir_.path()), ElementsAre("ca.key"));  // no ca.crt either
}

TEST_F(PkiCliTest, CaRefusesToOverwriteAnExistingCert) {
  Write("ca.crt", "precious cert");
  RunResult r = Pki({"ca", "-name", "test-ca"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "Error: refusing to overwrite existing CA cert: ca.crt\n");
  EXPECT_EQ(Slurp(Path("ca.crt")), "precious cert");
  EXPECT_THAT(Entries(dir_.path()), ElementsAre("ca.crt"));  // no ca.key either
}

TEST_F(PkiCliTest, SecondCaRunLeavesTheFirstByteIdentical) {
  MakeCa();
  const std::string key = Slurp(Path("ca.key")), crt = Slurp(Path("ca.crt"));
  RunResult r = Pki({"ca", "-name", "other"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(Slurp(Path("ca.key")), key);
  EXPECT_EQ(Slurp(Path("ca.crt")), crt);
}

// Both files are written or neither: a failed cert write takes the key back out.
TEST_F(PkiCliTest, CaFailedCertWriteRemovesTheKey) {
  RunResult r = Pki({"ca", "-name", "test-ca", "-out-crt", "missing/ca.crt"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, AllOf(StartsWith("Error: error while writing out-crt: "),
                           HasSubstr("no such file or directory")));
  EXPECT_THAT(Entries(dir_.path()), IsEmpty());
}

TEST_F(PkiCliTest, GnuStyleFlagsAreAccepted) {
  MustPki({"ca", "--name", "gnu-ca", "--duration=2h", "--ips=10.42.0.0/16"});
  auto cert = pki::CertificateFromPem(Slurp(Path("ca.crt")));
  ASSERT_TRUE(cert.ok());
  EXPECT_EQ(cert->details.name, "gnu-ca");
  EXPECT_EQ(cert->details.not_after - cert->details.not_before, 2 * 3600);
  MustPki({"sign", "--name=host1", "--ip", "10.42.1.1/16"});
  EXPECT_TRUE(PathExists(Path("host1.crt")));
}

// ---- sign ---------------------------------------------------------------------------------

TEST_F(PkiCliTest, SignWritesNameKeyAndCertMode0600) {
  MakeCa({"-ips", "10.42.0.0/16"});
  MustPki({"sign", "-name", "host1", "-ip", "10.42.1.1/16", "-groups", "a, b"});
  EXPECT_THAT(Entries(dir_.path()),
              UnorderedElementsAre("ca.key", "ca.crt", "host1.key", "host1.crt"));
  EXPECT_EQ(ModeOf(Path("host1.key")), 0600u);
  EXPECT_EQ(ModeOf(Path("host1.crt")), 0600u);
  auto cert = pki::CertificateFromPem(Slurp(Path("host1.crt")));
  ASSERT_TRUE(cert.ok()) << cert.status().ToString();
  EXPECT_EQ(cert->details.name, "host1");
  ASSERT_EQ(cert->details.ips.size(), 1u);
  EXPECT_EQ(cert->details.ips[0].ToString(), "10.42.1.1/16");
  EXPECT_THAT(cert->details.groups, ElementsAre("a", "b"));
  EXPECT_FALSE(cert->details.is_ca);
  // The key on disk is the private half of the certificate's public key.
  auto key = pki::ParseX25519PrivateKeyPem(Slurp(Path("host1.key")));
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->size(), 32u);
}

TEST_F(PkiCliTest, SignHonoursOutKeyAndOutCrt) {
  MakeCa();
  MustPki(
      {"sign", "-name", "host1", "-ip", "10.42.1.1/16", "-out-key", "k.pem", "-out-crt", "c.pem"});
  EXPECT_THAT(Entries(dir_.path()), UnorderedElementsAre("ca.key", "ca.crt", "k.pem", "c.pem"));
  EXPECT_EQ(ModeOf(Path("k.pem")), 0600u);
  EXPECT_EQ(ModeOf(Path("c.pem")), 0600u);
}

TEST_F(PkiCliTest, SignRefusesAnExistingCertAndWritesNoKey) {
  MakeCa();
  Write("host1.crt", "old cert");
  RunResult r = Pki({"sign", "-name", "host1", "-ip", "10.42.1.1/16"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "Error: refusing to overwrite existing cert: host1.crt\n");
  EXPECT_EQ(Slurp(Path("host1.crt")), "old cert");
  EXPECT_FALSE(PathExists(Path("host1.key")));
}

TEST_F(PkiCliTest, SignRefusesAnExistingKeyAndWritesNoCert) {
  MakeCa();
  Write("host1.key", "old key");
  RunResult r = Pki({"sign", "-name", "host1", "-ip", "10.42.1.1/16"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "Error: refusing to overwrite existing key: host1.key\n");
  EXPECT_EQ(Slurp(Path("host1.key")), "old key");
  EXPECT_FALSE(PathExists(Path("host1.crt")));
}

TEST_F(PkiCliTest, SignFailedCertWriteRemovesTheKey) {
  MakeCa();
  RunResult r = Pki({"sign", "-name", "host1", "-ip", "10.42.1.1/16", "-out-crt", "no/dir.crt"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, AllOf(StartsWith("Error: error while writing out-crt: "),
                           HasSubstr("no such file or directory")));
  EXPECT_THAT(Entries(dir_.path()), UnorderedElementsAre("ca.key", "ca.crt"));
}

TEST_F(PkiCliTest, SignWarnsAboutANarrowMaskButSucceeds) {
  MakeCa({"-ips", "10.42.0.0/16"});
  RunResult r = Pki({"sign", "-name", "host1", "-ip", "10.42.1.1/24"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, AllOf(StartsWith("Warning: -ip 10.42.1.1/24 has a /24 mask, narrower than the "
                                      "mesh's /16"),
                           HasSubstr("Use -ip 10.42.1.1/16."), EndsWith("\n")));
  EXPECT_EQ(Count(r.err, "\n"), 1u);
  EXPECT_TRUE(PathExists(Path("host1.crt")));
  EXPECT_TRUE(PathExists(Path("host1.key")));
}

// Without -ips on the CA the mesh is the seeds' /16 around the host.
TEST_F(PkiCliTest, SignWarnsAboutANarrowMaskWithAnUnconstrainedCa) {
  MakeCa();
  RunResult r = Pki({"sign", "-name", "host1", "-ip", "10.42.1.1/24"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, StartsWith("Warning: -ip 10.42.1.1/24 has a /24 mask, narrower than the "
                                "mesh's /16"));
}

TEST_F(PkiCliTest, SignDoesNotWarnForTheMeshMask) {
  MakeCa({"-ips", "10.42.0.0/16"});
  MustPki({"sign", "-name", "host1", "-ip", "10.42.1.1/16"});  // MustPki: stderr empty
}

TEST_F(PkiCliTest, SignRefusesAnIpOutsideTheCa) {
  MakeCa({"-ips", "10.42.0.0/16"});
  RunResult r = Pki({"sign", "-name", "host1", "-ip", "10.43.1.1/16"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "Error: refusing to sign, root certificate constraints violated: certificate "
            "contained an ip assignment outside the limitations of the signing ca: "
            "10.43.1.1/16\n");
  EXPECT_THAT(Entries(dir_.path()), UnorderedElementsAre("ca.key", "ca.crt"));
}

TEST_F(PkiCliTest, SignRejectsABadIp) {
  MakeCa();
  RunResult r = Pki({"sign", "-name", "host1", "-ip", "10.42.1.1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, std::string("Error: invalid ip definition: invalid CIDR address: 10.42.1.1\n") +
                       kWrongUsageHintSign);
  RunResult v6 = Pki({"sign", "-name", "host1", "-ip", "fd00::1/64"});
  EXPECT_EQ(v6.exit_code, 1);
  EXPECT_THAT(v6.err,
              StartsWith("Error: invalid ip definition: can only be ipv4, have fd00::1/64\n"));
  EXPECT_THAT(Entries(dir_.path()), UnorderedElementsAre("ca.key", "ca.crt"));
}

TEST_F(PkiCliTest, SignWithoutACaSaysWhichFileIsMissing) {
  RunResult r = Pki({"sign", "-name", "host1", "-ip", "10.42.1.1/16"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "Error: error while reading ca-key: open ca.key: no such file or directory\n");
}

// ---- keygen -------------------------------------------------------------------------------

TEST_F(PkiCliTest, KeygenWritesBothAndRefusesToOverwrite) {
  MustPki({"keygen", "-out-key", "h.key", "-out-pub", "h.pub"});
  EXPECT_EQ(ModeOf(Path("h.key")), 0600u);
  EXPECT_EQ(ModeOf(Path("h.pub")), 0600u);
  const std::string key = Slurp(Path("h.key")), pub = Slurp(Path("h.pub"));
  EXPECT_TRUE(pki::ParseX25519PrivateKeyPem(key).ok());
  EXPECT_TRUE(pki::ParseX25519PublicKeyPem(pub).ok());

  // nebula-cert would silently replace both; we refuse.
  RunResult again = Pki({"keygen", "-out-key", "h.key", "-out-pub", "h.pub"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_EQ(again.err, "Error: refusing to overwrite existing key: h.key\n");
  EXPECT_EQ(Slurp(Path("h.key")), key);
  EXPECT_EQ(Slurp(Path("h.pub")), pub);
}

TEST_F(PkiCliTest, KeygenRefusesAnExistingPubAndWritesNoKey) {
  Write("h.pub", "old pub");
  RunResult r = Pki({"keygen", "-out-key", "h.key", "-out-pub", "h.pub"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "Error: refusing to overwrite existing public key: h.pub\n");
  EXPECT_EQ(Slurp(Path("h.pub")), "old pub");
  EXPECT_FALSE(PathExists(Path("h.key")));
}

TEST_F(PkiCliTest, SignInPubWritesOnlyTheCert) {
  MakeCa();
  MustPki({"keygen", "-out-key", "h.key", "-out-pub", "h.pub"});
  const std::string key = Slurp(Path("h.key"));
  // h.key exists, and that is fine: with -in-pub no key is written.
  MustPki({"sign", "-name", "h", "-ip", "10.42.1.1/16", "-in-pub", "h.pub"});
  EXPECT_THAT(Entries(dir_.path()),
              UnorderedElementsAre("ca.key", "ca.crt", "h.key", "h.pub", "h.crt"));
  EXPECT_EQ(Slurp(Path("h.key")), key);
  EXPECT_EQ(ModeOf(Path("h.crt")), 0600u);
  auto cert = pki::CertificateFromPem(Slurp(Path("h.crt")));
  auto pub = pki::ParseX25519PublicKeyPem(Slurp(Path("h.pub")));
  ASSERT_TRUE(cert.ok());
  ASSERT_TRUE(pub.ok());
  EXPECT_EQ(cert->details.public_key, *pub);
}

TEST_F(PkiCliTest, SignInPubAndOutKeyConflict) {
  MakeCa();
  MustPki({"keygen", "-out-key", "h.key", "-out-pub", "h.pub"});
  RunResult r =
      Pki({"sign", "-name", "h", "-ip", "10.42.1.1/16", "-in-pub", "h.pub", "-out-key", "x.key"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            std::string("Error: cannot set both -in-pub and -out-key\n") + kWrongUsageHintSign);
  EXPECT_FALSE(PathExists(Path("h.crt")));
}

// ---- print --------------------------------------------------------------------------------

TEST_F(PkiCliTest, PrintShowsEveryCertOfABundle) {
  MakeCa();
  MustPki({"sign", "-name", "host1", "-ip", "10.42.1.1/16"});
  Write("bundle.crt", Slurp(Path("ca.crt")) + Slurp(Path("host1.crt")));

  RunResult text = Pki({"print", "-path", "bundle.crt"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_EQ(text.err, "");
  EXPECT_EQ(Count(text.out, "NebulaCertificate {\n"), 2u);
  EXPECT_THAT(text.out, AllOf(HasSubstr("Name: test-ca\n"), HasSubstr("Name: host1\n")));
  EXPECT_LT(text.out.find("Name: test-ca"), text.out.find("Name: host1"));  // in file order

  RunResult json = Pki({"print", "-json", "-path", "bundle.crt"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(Count(json.out, "\n"), 2u);  // one JSON document per line
  EXPECT_EQ(Count(json.out, "{\"details\":"), 2u);
  EXPECT_THAT(json.out, AllOf(HasSubstr("\"name\":\"test-ca\""), HasSubstr("\"name\":\"host1\"")));

  RunResult json_false = Pki({"print", "-json=false", "-path", "bundle.crt"});
  EXPECT_EQ(json_false.out, text.out);
}

TEST_F(PkiCliTest, PrintErrors) {
  RunResult missing = Pki({"print", "-path", "nope.crt"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err, "Error: unable to read cert; open nope.crt: no such file or directory\n");

  Write("junk.crt", "not a certificate\n");
  RunResult junk = Pki({"print", "-path", "junk.crt"});
  EXPECT_EQ(junk.exit_code, 1);
  EXPECT_THAT(junk.err, StartsWith("Error: error while unmarshaling cert: "));

  RunResult bad_bool = Pki({"print", "-json=yes", "-path", "junk.crt"});
  EXPECT_EQ(bad_bool.exit_code, 1);
  EXPECT_EQ(bad_bool.err,
            "Error: invalid boolean value \"yes\" for -json: parse error\n"
            "Run 'carrierarr pki print -h' for its flags.\n");
}

// ---- verify -------------------------------------------------------------------------------

TEST_F(PkiCliTest, VerifySucceedsSilently) {
  MakeCa();
  MustPki({"sign", "-name", "host1", "-ip", "10.42.1.1/16"});
  MustPki({"verify", "-ca", "ca.crt", "-crt", "host1.crt"});
}

TEST_F(PkiCliTest, VerifyExplainsAnExpiredCert) {
  MakeCa();
  // Lifetimes are whole seconds and "now" is not: a 1ms cert has expired by the time another
  // process looks at it (sleep a little so that holds even across a second boundary).
  MustPki({"sign", "-name", "host1", "-ip", "10.42.1.1/16", "-duration", "1ms"});
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  RunResult r = Pki({"verify", "-ca", "ca.crt", "-crt", "host1.crt"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, StartsWith("Error: certificate is expired\n"
                                "  check 5 of 7 (validity window) failed: 'host1' is valid from "));
  EXPECT_THAT(r.err, HasSubstr("(expired: sign a new one)\n"));
  EXPECT_EQ(Count(r.err, "\n"), 2u);
}

TEST_F(PkiCliTest, VerifyAgainstTheWrongCa) {
  MakeCa();
  MustPki({"sign", "-name", "host1", "-ip", "10.42.1.1/16"});
  MustPki({"ca", "-name", "other", "-out-key", "other.key", "-out-crt", "other.crt"});
  RunResult r = Pki({"verify", "-ca", "other.crt", "-crt", "host1.crt"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, StartsWith("Error: could not find ca for the certificate\n"
                                "  check 3 of 7 (issuer is a trusted CA) failed: "));
}

// ---- usage --------------------------------------------------------------------------------

struct UsageCase {
  std::vector<std::string> args;
  std::string first_line;
};

TEST_F(PkiCliTest, UsageErrorsPointAtHelp) {
  const UsageCase cases[] = {
      {{"sign"}, "Error: -name is required"},
      {{"sign", "-name", "h"}, "Error: -ip is required"},
      {{"sign", "-bogus"}, "Error: flag provided but not defined: -bogus"},
      {{"sign", "-name"}, "Error: flag needs an argument: -name"},
      {{"sign", "-duration", "soon"},
       "Error: invalid value \"soon\" for flag -duration: parse error"},
      {{"sign", "-name", "h", "extra"},
       "Error: unexpected argument \"extra\": every value is given with a flag, e.g. -name NAME"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::PrintToString(c.args));
    RunResult r = Pki(c.args);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, c.first_line + "\n" + kWrongUsageHintSign);
  }
  EXPECT_THAT(Entries(dir_.path()), IsEmpty());
}

TEST_F(PkiCliTest, CaUsageErrors) {
  RunResult positional = Pki({"ca", "-name", "x", "stray"});
  EXPECT_EQ(positional.exit_code, 1);
  EXPECT_EQ(positional.err,
            "Error: unexpected argument \"stray\": every value is given with a flag, e.g. -name "
            "NAME\nRun 'carrierarr pki ca -h' for its flags.\n");
  RunResult zero = Pki({"ca", "-name", "x", "-duration", "0s"});
  EXPECT_EQ(zero.exit_code, 1);
  EXPECT_THAT(zero.err, StartsWith("Error: -duration must be greater than 0\n"));
  EXPECT_THAT(Entries(dir_.path()), IsEmpty());
}

TEST_F(PkiCliTest, ModeHelpGoesToStdout) {
  for (const std::string help : {"-h", "--help", "-help"}) {
    RunResult r = Pki({"sign", help});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.err, "");
    EXPECT_THAT(r.out, StartsWith("Usage of carrierarr pki sign <flags>: create and sign a "
                                  "certificate\n  -ca-crt string\n"));
    EXPECT_THAT(r.out, HasSubstr("  -ca-key string\n    \tOptional: path to the signing CA key "
                                 "(default \"ca.key\")\n"));
  }
  RunResult ca = Pki({"ca", "-h"});
  EXPECT_THAT(ca.out, HasSubstr("(default 8760h0m0s)\n"));
}

TEST_F(PkiCliTest, UnknownModeListsTheModes) {
  RunResult r = Pki({"frob"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, StartsWith("Error: unknown mode: frob\nUsage: carrierarr pki <mode>"));
  for (const char* mode : {"ca", "keygen", "sign", "print", "verify"}) {
    EXPECT_THAT(r.err, HasSubstr(std::string("    ") + mode + " <flags>: "));
  }
}

TEST_F(PkiCliTest, PkiWithoutAModeIsAnErrorButHelpIsNot) {
  RunResult none = Pki({});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_EQ(none.out, "");
  EXPECT_THAT(none.err, StartsWith("Usage: carrierarr pki <mode> <flags>\n"));
  RunResult help = Pki({"-h"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_EQ(help.err, "");
  EXPECT_EQ(help.out, none.err);
}

TEST_F(PkiCliTest, TopLevelCommands) {
  RunResult none = Carrierarr({});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_EQ(none.out, "");
  EXPECT_THAT(none.err, HasSubstr("Usage: carrierarr <command> [flags]\n"));

  RunResult help = Carrierarr({"help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_EQ(help.out, none.err);

  RunResult version = Carrierarr({"version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.err, "");
  EXPECT_THAT(version.out, MatchesRegex("carrierarr [0-9]+\\.[0-9]+\\.[0-9]+\n"));
  EXPECT_THAT(help.out, StartsWith(version.out.substr(0, version.out.size() - 1) + ": "));

  RunResult unknown = Carrierarr({"frob"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_EQ(unknown.err,
            "Error: unknown command \"frob\"\nRun 'carrierarr help' for the list of commands.\n");
}

}  // namespace
}  // namespace carrierarr
