// PEM must read exactly what Go's encoding/pem reads: nebula-cert's files, and the same oddities.
#include "pki/pem.h"

#include <gtest/gtest.h>

namespace carrierarr::pki {
namespace {

TEST(Base64Test, RoundTripsAllLengths) {
  std::string data;
  for (int i = 0; i < 70; ++i) {
    auto back = Base64Decode(Base64Encode(data));
    ASSERT_TRUE(back.has_value()) << i;
    EXPECT_EQ(*back, data);
    data += static_cast<char>(i * 37);
  }
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_FALSE(Base64Decode("Zm9vYg=").has_value());  // bad padding
  EXPECT_FALSE(Base64Decode("Zm9v!mE=").has_value());
  EXPECT_EQ(*Base64Decode("Zm9v\r\nYmE="), "fooba");  // line breaks are ignored
}

TEST(PemTest, EncodesSixtyFourColumnLines) {
  std::string pem = PemEncode("T", std::string(100, 'x'));
  EXPECT_EQ(pem.substr(0, 18), "-----BEGIN T-----\n");
  size_t first_nl = pem.find('\n');
  size_t second_nl = pem.find('\n', first_nl + 1);
  EXPECT_EQ(second_nl - first_nl - 1, 64u);
  EXPECT_EQ(pem.substr(pem.size() - 16), "-----END T-----\n");
}

TEST(PemTest, DecodesBlocksInSequenceAndReturnsTheRest) {
  std::string two = "leading junk\n" + PemEncode("A", "first") + "\n\n" + PemEncode("B", "second");
  std::string_view rest;
  auto a = PemDecode(two, &rest);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->type, "A");
  EXPECT_EQ(a->bytes, "first");
  auto b = PemDecode(rest, &rest);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->type, "B");
  EXPECT_EQ(b->bytes, "second");
  EXPECT_TRUE(IsBlank(rest));
  EXPECT_FALSE(PemDecode(rest, &rest).has_value());
}

TEST(PemTest, ToleratesCrlfTrailingSpaceAndHeaders) {
  std::string crlf = "-----BEGIN X-----  \r\nZm9v\r\n-----END X-----\r\n";
  std::string_view rest;
  auto block = PemDecode(crlf, &rest);
  ASSERT_TRUE(block.has_value());
  EXPECT_EQ(block->bytes, "foo");
  auto with_header =
      PemDecode("-----BEGIN X-----\nProc-Type: 4,ENCRYPTED\n\nZm9v\n-----END X-----\n", &rest);
  ASSERT_TRUE(with_header.has_value());
  EXPECT_EQ(with_header->bytes, "foo");
  auto empty = PemDecode("-----BEGIN X-----\n-----END X-----\n", &rest);
  ASSERT_TRUE(empty.has_value());
  EXPECT_EQ(empty->bytes, "");
}

TEST(PemTest, SkipsMalformedBlocksAndFindsNone) {
  std::string_view rest;
  const std::string bad[] = {
      "",
      "no pem here",
      "-----BEGIN X-----\nZm9v\n",                        // no END
      "-----BEGIN X-----\nZm9v\n-----END Y-----\n",       // END of another type
      "-----BEGIN X-----\nZm9\n-----END X-----\n",        // bad base64
      "-----BEGIN X----\nZm9v\n-----END X-----\n",        // BEGIN line without five dashes
      "-----BEGIN X-----\nZm9v\n-----END X----- junk\n",  // END line with trailing junk
  };
  for (const auto& input : bad) {
    SCOPED_TRACE(input);
    EXPECT_FALSE(PemDecode(input, &rest).has_value());
    EXPECT_EQ(rest, input);  // nothing consumed when nothing was found
  }
}

TEST(PemTest, ABadBlockIsSkippedForALaterGoodOne) {
  std::string input = "-----BEGIN X-----\n!!!!\n-----END X-----\n" + PemEncode("Y", "ok");
  std::string_view rest;
  auto block = PemDecode(input, &rest);
  ASSERT_TRUE(block.has_value());
  EXPECT_EQ(block->type, "Y");
}

}  // namespace
}  // namespace carrierarr::pki
