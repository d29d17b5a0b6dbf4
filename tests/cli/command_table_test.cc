// The command table and RunProgram (both binaries' main), and the commands' seams, in process.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/file_util.h"
#include "pki/cert.h"
#include "pki/crypto.h"
#include "testing/tools.h"

namespace carrierarr::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(CommandTableTest, CarrierarrRunsEachOfItsCommandsAndNoOther) {
  std::set<std::string_view> own;
  for (const auto& c : kCommandTable)
    if (c.binary == Binary::kCarrierarr) own.insert(c.name);
  std::set<std::string_view> runners;
  for (const auto& r : kCarrierarrRunners) runners.insert(r.name);
  EXPECT_EQ(own, runners);
}

TEST(CommandTableTest, NamesAreUniqueAndFitTheHelpColumn) {
  std::set<std::string_view> names;
  for (const auto& c : kCommandTable) {
    EXPECT_TRUE(names.insert(c.name).second) << c.name;
    EXPECT_LT(c.name.size(), 11u) << c.name;  // two spaces to the summary, kubeconfig included
  }
}

// A program of the fleet binary's kind with one command of its own, and one that delegates.
std::vector<std::string> delegated;
int RecordDelegate(const std::vector<std::string>& args) {
  delegated = args;
  return 7;
}
int RunNodesHere(const Invocation& invocation) {
  invocation.out << "nodes ran with " << invocation.args.size() << " args\n";
  return 3;
}
constexpr CommandRunner kRunners[] = {{"nodes", RunNodesHere}};

struct Ran {
  int code;
  std::string out, err;
};

Ran RunWith(const Program& program, const std::vector<std::string>& args) {
  std::ostringstream out, err;
  int code = RunProgram(program, args, Seams{}, out, err);
  return {code, out.str(), err.str()};
}

TEST(RunProgramTest, HelpListsWhatTheProgramRunsOrDelegates) {
  Program alone{.binary = Binary::kCarrierarrFleet,
                .name = "tool",
                .version = "1.2.3",
                .tagline = "a test.",
                .runners = kRunners};
  Ran help = RunWith(alone, {"help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_THAT(help.out, HasSubstr("tool 1.2.3: a test.\n\nUsage: tool <command> [flags]\n"));
  EXPECT_THAT(help.out, HasSubstr("  nodes       list, show or delete"));
  EXPECT_THAT(help.out, Not(HasSubstr("  init ")));
  EXPECT_THAT(help.out, HasSubstr("Run 'tool <command> -h' for a command's flags.\n"));

  Program delegating = alone;
  delegating.delegate = RecordDelegate;
  EXPECT_THAT(RunWith(delegating, {"-h"}).out, HasSubstr("  init        write a commented"));

  Ran none = RunWith(alone, {});
  EXPECT_EQ(none.code, 2);
  EXPECT_THAT(none.err, HasSubstr("Commands:"));
  EXPECT_EQ(RunWith(alone, {"--version"}).out, "tool 1.2.3\n");
}

TEST(RunProgramTest, RunsItsOwnDelegatesTheOthersAndRefusesTheRest) {
  Program program{.binary = Binary::kCarrierarrFleet,
                  .name = "tool",
                  .version = "1",
                  .tagline = "t",
                  .runners = kRunners,
                  .delegate = RecordDelegate};
  Ran own = RunWith(program, {"nodes", "get", "x"});
  EXPECT_EQ(own.code, 3);
  EXPECT_EQ(own.out, "nodes ran with 2 args\n");

  delegated.clear();
  EXPECT_EQ(RunWith(program, {"init", "-name", "x"}).code, 7);
  EXPECT_EQ(delegated, (std::vector<std::string>{"init", "-name", "x"}));

  Ran unknown = RunWith(program, {"nope"});
  EXPECT_EQ(unknown.code, 2);
  EXPECT_EQ(unknown.err,
            "Error: unknown command \"nope\"\nRun 'tool help' for the list of commands.\n");

  program.delegate = nullptr;
  EXPECT_EQ(RunWith(program, {"init"}).code, 2) << "not this binary's, and none to ask";
}

TEST(PkiSeamsTest, CertificatesAreDatedByTheInjectedClock) {
  pki::InitCrypto();
  testing::ScratchDir dir;
  SimulatedTimeSource time(1'500'000'000'000);
  Seams seams{.time = &time};
  std::ostringstream out, err;
  int code = RunPki(Invocation{{"ca", "-name", "test", "-duration", "2h", "-out-key",
                                dir / "ca.key", "-out-crt", dir / "ca.crt"},
                               seams,
                               out,
                               err});
  ASSERT_EQ(code, 0) << err.str();
  auto pem = ReadFile(dir / "ca.crt");
  ASSERT_TRUE(pem.ok());
  auto cert = pki::CertificateFromPem(*pem);
  ASSERT_TRUE(cert.ok()) << cert.status().message();
  EXPECT_EQ(cert->details.not_before, 1'500'000'000);
  EXPECT_EQ(cert->details.not_after, 1'500'000'000 + 7200);
}

}  // namespace
}  // namespace carrierarr::cli
