// The fleet's own minter: tokens signed in-process with the enrollment key that `up` makes, for
// the node asked and for the lifetime asked on the injected clock.
#include "providers/enrollment.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "core/file_util.h"
#include "core/time_source.h"
#include "pki/enrollment_token.h"
#include "pki/keys.h"
#include "provision/file_resources.h"
#include "testing/tools.h"

namespace carrierarr::providers {
namespace {

TEST(SignedMinterTest, SignsForTheNodeAndLifetimeOnTheInjectedClock) {
  testing::ScratchDir dir;
  const FleetPaths paths{.state_dir = dir.path()};
  ASSERT_EQ(::mkdir(paths.ControlDir().c_str(), 0700), 0);
  SimulatedTimeSource time;
  auto minter = MakeSignedMinter(paths.EnrollmentKey(), time);

  auto missing = minter->Mint("w-1", "1h");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound) << missing.status().ToString();
  EXPECT_NE(missing.status().message().find("enrollment key"), std::string::npos);

  auto key =
      provision::MakeEnrollmentKeyResource(paths.EnrollmentKey(), paths.EnrollmentPublicKey());
  ASSERT_TRUE(key->Create().ok());
  auto token = minter->Mint("w-1", "2h");
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  auto pem = ReadFile(paths.EnrollmentPublicKey());
  ASSERT_TRUE(pem.ok());
  auto pub = pki::ParseEd25519PublicKeyPem(*pem);
  ASSERT_TRUE(pub.ok());
  auto verified = pki::VerifyEnrollmentToken(*pub, *token, time.NowUnix());
  ASSERT_TRUE(verified.ok()) << verified.status().ToString();
  EXPECT_EQ(verified->node_id, "w-1");
  EXPECT_EQ(verified->expires_unix, time.NowUnix() + 7200);

  auto bad_ttl = minter->Mint("w-1", "soon");
  EXPECT_EQ(bad_ttl.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad_ttl.status().message().find("lifetime"), std::string::npos);
}

}  // namespace
}  // namespace carrierarr::providers
