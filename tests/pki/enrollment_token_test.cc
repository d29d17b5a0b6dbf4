// Fleet-signed enrollment tokens: what one key signs, only its public half accepts, for the node
// and until the time it names; any change to a token is refused.
#include "pki/enrollment_token.h"

#include <gtest/gtest.h>

namespace carrierarr::pki {
namespace {

class EnrollmentTokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto keys = GenerateEd25519();
    ASSERT_TRUE(keys.ok());
    public_key_ = keys->public_key;
    auto signer = Ed25519Signer::Create(keys->private_key);
    ASSERT_TRUE(signer.ok());
    signer_ = std::make_unique<Ed25519Signer>(std::move(*signer));
  }
  std::string Sign(const std::string& node, int64_t expires) {
    auto token = SignEnrollmentToken(*signer_, node, expires);
    EXPECT_TRUE(token.ok()) << token.status().ToString();
    return token.ok() ? *token : "";
  }

  std::string public_key_;
  std::unique_ptr<Ed25519Signer> signer_;
};

TEST_F(EnrollmentTokenTest, VerifiesForItsNodeUntilItExpires) {
  const std::string token = Sign("gpu-1.pool", 1000);  // node ids may hold dots
  EXPECT_TRUE(IsSignedEnrollmentToken(token));
  EXPECT_TRUE(token.starts_with("cst1.1000."));
  auto ok = VerifyEnrollmentToken(public_key_, token, 999);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->node_id, "gpu-1.pool");
  EXPECT_EQ(ok->expires_unix, 1000);
  auto late = VerifyEnrollmentToken(public_key_, token, 1000);
  EXPECT_EQ(late.status().code(), StatusCode::kPermissionDenied) << late.status().ToString();
  EXPECT_NE(late.status().message().find("expired"), std::string::npos);
}

TEST_F(EnrollmentTokenTest, EveryTokenIsNew) {
  EXPECT_NE(Sign("w-1", 1000), Sign("w-1", 1000));  // a fresh nonce each time
}

TEST_F(EnrollmentTokenTest, AnyChangeOrAnotherKeyIsRefused) {
  const std::string token = Sign("w-1", 1000);
  auto other = GenerateEd25519();
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(VerifyEnrollmentToken(other->public_key, token, 0).status().code(),
            StatusCode::kUnauthenticated);
  // Another node, a later expiry, a flipped signature digit: each breaks the signature.
  std::string renamed = token.substr(0, token.size() - 1) + "2";
  std::string extended = token;
  extended.replace(5, 4, "9999");
  std::string flipped = token;
  const size_t sig = token.find('.', token.find('.', 5) + 1) + 1;
  flipped[sig] = flipped[sig] == '0' ? '1' : '0';
  for (const std::string& t : {renamed, extended, flipped}) {
    auto r = VerifyEnrollmentToken(public_key_, t, 0);
    EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated) << t;
  }
}

TEST_F(EnrollmentTokenTest, MalformedTokensSayWhatIsExpected) {
  const std::string token = Sign("w-1", 1000);
  std::string upper = token;
  const size_t nonce = token.find('.', 5) + 1;
  upper[nonce] = 'A';  // one spelling per token: lowercase hex only
  for (const std::string& t :
       {std::string("cet_abc"), std::string("cst1."), std::string("cst1.1000.ab.cd.w-1"),
        std::string("cst1.-5.") + token.substr(10), std::string("cst1.01000.") + token.substr(10),
        token.substr(0, token.rfind('.') + 1), upper}) {
    auto r = VerifyEnrollmentToken(public_key_, t, 0);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << t;
    EXPECT_NE(r.status().message().find("cst1.<expires>.<nonce>.<signature>.<node>"),
              std::string::npos);
  }
  EXPECT_FALSE(SignEnrollmentToken(*signer_, "", 1000).ok());
}

}  // namespace
}  // namespace carrierarr::pki
