#include "store/digest.h"

#include <gtest/gtest.h>

namespace ltxbus::store {
namespace {

TEST(DigestTest, KnownVectors) {
  EXPECT_EQ(HexLower(Sha256Of("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexLower(Md5Of(AsBytes(""))), "d41d8cd98f00b204e9800998ecf8427e");
  Sha256 h;
  h.Update("a");
  h.Update("bc");
  EXPECT_EQ(h.Finish(), Sha256Of("abc"));
  h.Update("abc");  // reusable after Finish
  EXPECT_EQ(h.Finish(), Sha256Of("abc"));
  // RFC 4231 test case 2.
  EXPECT_EQ(HexLower(HmacSha256(AsBytes("Jefe"), "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(DigestTest, Base64BothAlphabets) {
  EXPECT_EQ(Base64(AsBytes("")), "");
  EXPECT_EQ(Base64(AsBytes("f")), "Zg==");
  EXPECT_EQ(Base64(AsBytes("fo")), "Zm8=");
  EXPECT_EQ(Base64(AsBytes("foo")), "Zm9v");
  EXPECT_EQ(Base64(AsBytes("\xfb\xff")), "+/8=");
  EXPECT_EQ(Base64(AsBytes("\xfb\xff"), /*url=*/true), "-_8=");
  std::string out;
  ASSERT_TRUE(Base64Decode("-_8=", out));
  EXPECT_EQ(out, "\xfb\xff");
  ASSERT_TRUE(Base64Decode("Zm9vYg", out));
  EXPECT_EQ(out, "foob");
  EXPECT_FALSE(Base64Decode("a*b", out));
}

}  // namespace
}  // namespace ltxbus::store
