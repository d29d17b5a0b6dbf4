#include "cli/flags.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace carrierarr::cli {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::nanoseconds;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// A FlagSet shaped like `nebula-cert sign`/`print`, with its targets.
class FlagsTest : public ::testing::Test {
 protected:
  FlagsTest() {
    flags_.String("name", &name_, "", "Required: name of the cert");
    flags_.String("out-crt", &out_crt_, "ca.crt", "Optional: path to write the certificate to");
    flags_.Bool("json", &json_, false, "Optional: outputs certificates in json format");
    flags_.Bool("verbose", &verbose_, true, "Optional: say more");
    flags_.Duration("duration", &duration_, hours(8760), "Optional: validity");
    flags_.Duration("wait", &wait_, nanoseconds(0), "Optional: how long to wait");
  }

  Status Parse(const std::vector<std::string>& args) { return flags_.Parse(args); }

  FlagSet flags_;
  std::string name_ = "unset", out_crt_ = "unset";
  bool json_ = true, verbose_ = false;
  nanoseconds duration_{-1}, wait_{-1};
};

TEST_F(FlagsTest, DeclaringSetsDefaults) {
  EXPECT_EQ(name_, "");
  EXPECT_EQ(out_crt_, "ca.crt");
  EXPECT_FALSE(json_);
  EXPECT_TRUE(verbose_);
  EXPECT_EQ(duration_, hours(8760));
  EXPECT_EQ(wait_, nanoseconds(0));
  EXPECT_FALSE(flags_.WasSet("name"));
  EXPECT_FALSE(flags_.help());
}

// Every spelling Go's flag package accepts for a valued flag.
TEST(FlagSyntaxTest, AllGoSpellingsOfAValue) {
  const std::vector<std::vector<std::string>> spellings = {
      {"-name", "host1"}, {"--name", "host1"}, {"-name=host1"}, {"--name=host1"}};
  for (const auto& args : spellings) {
    SCOPED_TRACE(args[0]);
    FlagSet flags;
    std::string name;
    flags.String("name", &name, "", "");
    ASSERT_TRUE(flags.Parse(args).ok());
    EXPECT_EQ(name, "host1");
    EXPECT_TRUE(flags.WasSet("name"));
    EXPECT_THAT(flags.args(), IsEmpty());
  }
}

TEST_F(FlagsTest, ValuesMayLookLikeFlagsOrBeEmpty) {
  // The word after a valued flag is its value, even when it starts with a dash.
  ASSERT_TRUE(Parse({"-name", "-json", "-out-crt="}).ok());
  EXPECT_EQ(name_, "-json");
  EXPECT_FALSE(json_);
  EXPECT_EQ(out_crt_, "");
  EXPECT_TRUE(flags_.WasSet("out-crt"));
}

TEST_F(FlagsTest, EqualsSplitsAtTheFirstEquals) {
  ASSERT_TRUE(Parse({"-name=a=b"}).ok());
  EXPECT_EQ(name_, "a=b");
}

TEST_F(FlagsTest, LaterFlagsWin) {
  ASSERT_TRUE(Parse({"-name", "a", "--name=b"}).ok());
  EXPECT_EQ(name_, "b");
}

struct BoolCase {
  std::vector<std::string> args;
  bool want;
};

TEST(BoolFlagTest, GoBoolSpellings) {
  const BoolCase cases[] = {
      {{"-json"}, true},        {{"--json"}, true},        {{"-json=true"}, true},
      {{"-json=false"}, false}, {{"--json=false"}, false}, {{"-json=1"}, true},
      {{"-json=0"}, false},     {{"-json=t"}, true},       {{"-json=F"}, false},
      {{"-json=TRUE"}, true},   {{"-json=False"}, false},  {{"-json=T"}, true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.args[0]);
    FlagSet flags;
    bool json = !c.want;
    flags.Bool("json", &json, !c.want, "");
    ASSERT_TRUE(flags.Parse(c.args).ok());
    EXPECT_EQ(json, c.want);
    EXPECT_TRUE(flags.WasSet("json"));
  }
}

// A bare bool flag never takes the next word: `-json false` leaves "false" as an argument.
TEST_F(FlagsTest, BoolDoesNotConsumeTheNextWord) {
  ASSERT_TRUE(Parse({"-json", "false"}).ok());
  EXPECT_TRUE(json_);
  EXPECT_THAT(flags_.args(), ElementsAre("false"));
}

struct ErrorCase {
  std::vector<std::string> args;
  std::string want;
};

// Go's flag package wording, as nebula-cert prints it after "Error: ".
TEST_F(FlagsTest, ErrorsUseGosWording) {
  const ErrorCase cases[] = {
      {{"-json=xx"}, "invalid boolean value \"xx\" for -json: parse error"},
      {{"--json=yes"}, "invalid boolean value \"yes\" for -json: parse error"},
      {{"-json="}, "invalid boolean value \"\" for -json: parse error"},
      {{"-duration", "xx"}, "invalid value \"xx\" for flag -duration: parse error"},
      {{"-duration=1x"}, "invalid value \"1x\" for flag -duration: parse error"},
      {{"--duration", "1"}, "invalid value \"1\" for flag -duration: parse error"},
      {{"-bogus"}, "flag provided but not defined: -bogus"},
      {{"--bogus=1"}, "flag provided but not defined: -bogus"},
      {{"-Name", "x"}, "flag provided but not defined: -Name"},  // names are case-sensitive
      {{"-name"}, "flag needs an argument: -name"},
      {{"-json", "--name"}, "flag needs an argument: -name"},
      {{"-duration"}, "flag needs an argument: -duration"},
      {{"---name", "x"}, "bad flag syntax: ---name"},
      {{"-=x"}, "bad flag syntax: -=x"},
      {{"--=x"}, "bad flag syntax: --=x"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::PrintToString(c.args));
    FlagSet flags;
    std::string name;
    bool json;
    nanoseconds duration;
    flags.String("name", &name, "", "");
    flags.Bool("json", &json, false, "");
    flags.Duration("duration", &duration, hours(1), "");
    Status s = flags.Parse(c.args);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(s.message(), c.want);
  }
}

TEST_F(FlagsTest, FailedValueLeavesTheTargetAlone) {
  ASSERT_FALSE(Parse({"-duration", "soon"}).ok());
  EXPECT_EQ(duration_, hours(8760));
  EXPECT_FALSE(flags_.WasSet("duration"));
}

TEST_F(FlagsTest, DurationsParseLikeGo) {
  ASSERT_TRUE(Parse({"-duration", "1h30m", "--wait=-1.5s"}).ok());
  EXPECT_EQ(duration_, hours(1) + minutes(30));
  EXPECT_EQ(wait_, std::chrono::milliseconds(-1500));
  EXPECT_TRUE(flags_.WasSet("duration"));
  EXPECT_TRUE(flags_.WasSet("wait"));
}

TEST_F(FlagsTest, DoubleDashEndsFlags) {
  ASSERT_TRUE(Parse({"-json", "--", "-name", "x"}).ok());
  EXPECT_TRUE(json_);
  EXPECT_EQ(name_, "");
  EXPECT_THAT(flags_.args(), ElementsAre("-name", "x"));
}

TEST_F(FlagsTest, FirstNonFlagEndsFlags) {
  ASSERT_TRUE(Parse({"-name", "a", "positional", "-json", "--"}).ok());
  EXPECT_EQ(name_, "a");
  EXPECT_FALSE(json_);  // after the positional argument, so not parsed
  EXPECT_FALSE(flags_.WasSet("json"));
  EXPECT_THAT(flags_.args(), ElementsAre("positional", "-json", "--"));
}

TEST_F(FlagsTest, LoneDashIsAnArgument) {
  ASSERT_TRUE(Parse({"-", "-json"}).ok());
  EXPECT_FALSE(json_);
  EXPECT_THAT(flags_.args(), ElementsAre("-", "-json"));
}

TEST_F(FlagsTest, NoArgumentsIsFine) {
  ASSERT_TRUE(Parse({}).ok());
  EXPECT_THAT(flags_.args(), IsEmpty());
  EXPECT_FALSE(flags_.help());
}

TEST(HelpFlagTest, HelpSpellingsSetHelp) {
  for (const std::string spelling : {"-h", "-help", "--help", "--h"}) {
    SCOPED_TRACE(spelling);
    FlagSet flags;
    std::string name;
    flags.String("name", &name, "", "");
    ASSERT_TRUE(flags.Parse({"-name", "x", spelling}).ok());
    EXPECT_TRUE(flags.help());
    EXPECT_FALSE(flags.WasSet("h"));
    EXPECT_FALSE(flags.WasSet("help"));
  }
  FlagSet plain;
  ASSERT_TRUE(plain.Parse({"h", "help"}).ok());  // not flags: positional words
  EXPECT_FALSE(plain.help());
}

TEST(WasSetTest, OnlyForFlagsGivenOnTheCommandLine) {
  FlagSet flags;
  std::string out = "x";
  flags.String("out", &out, "default", "");
  EXPECT_FALSE(flags.WasSet("out"));
  EXPECT_FALSE(flags.WasSet("undeclared"));
  ASSERT_TRUE(flags.Parse({"-out", "default"}).ok());
  EXPECT_TRUE(flags.WasSet("out"));  // set, even though to the default value
}

// Go's PrintDefaults: sorted by name, type word for valued flags, zero defaults omitted, string
// defaults quoted, durations in Go's Duration.String form.
TEST_F(FlagsTest, UsageListsFlagsSortedWithDefaults) {
  EXPECT_EQ(flags_.Usage(),
            "  -duration duration\n"
            "    \tOptional: validity (default 8760h0m0s)\n"
            "  -json\n"
            "    \tOptional: outputs certificates in json format\n"
            "  -name string\n"
            "    \tRequired: name of the cert\n"
            "  -out-crt string\n"
            "    \tOptional: path to write the certificate to (default \"ca.crt\")\n"
            "  -verbose\n"
            "    \tOptional: say more (default true)\n"
            "  -wait duration\n"
            "    \tOptional: how long to wait\n");
}

// `-mesh-ip a -mesh-ip b`: each occurrence appends, in order, in every spelling; none leaves it
// empty.
TEST(StringListTest, EachOccurrenceAppends) {
  FlagSet flags;
  std::vector<std::string> ips = {"stale"};
  flags.StringList("mesh-ip", &ips, "Repeatable: an address");
  EXPECT_THAT(ips, IsEmpty());
  ASSERT_TRUE(flags.Parse({"-mesh-ip", "10.0.0.1", "--mesh-ip=fd00::1", "-mesh-ip", ""}).ok());
  EXPECT_THAT(ips, ElementsAre("10.0.0.1", "fd00::1", ""));
  EXPECT_TRUE(flags.WasSet("mesh-ip"));
  EXPECT_EQ(flags.Usage(), "  -mesh-ip value (repeatable)\n    \tRepeatable: an address\n");
  EXPECT_EQ(flags.Parse({"-mesh-ip"}).message(), "flag needs an argument: -mesh-ip");
}

TEST(UsageTest, EmptyFlagSetPrintsNothing) { EXPECT_EQ(FlagSet().Usage(), ""); }

}  // namespace
}  // namespace carrierarr::cli
