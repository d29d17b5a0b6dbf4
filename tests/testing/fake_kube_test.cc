#include "testing/fake_kube.h"

#include <gtest/gtest.h>

TEST(FakeKube, Starts) {
  carrierarr::testing::FakeKube fake;
  EXPECT_GT(fake.port(), 0);
}
