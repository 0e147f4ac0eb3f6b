#include "store/store_url.h"

#include <gtest/gtest.h>

namespace ltxbus::store {
namespace {

TEST(StoreUrlTest, SplitsTheParts) {
  auto u =
      StoreUrl::Parse("s3://my-bucket/some/path/?endpoint=http%3A%2F%2F127.0.0.1%3A9000&x=a+b");
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->scheme, "s3");
  EXPECT_EQ(u->host, "my-bucket");
  EXPECT_EQ(u->path, "some/path");
  EXPECT_EQ(u->Option("endpoint"), "http://127.0.0.1:9000");
  EXPECT_EQ(u->Option("x"), "a+b");  // '+' is kept: secrets contain it
  EXPECT_EQ(u->Option("missing", "d"), "d");
  EXPECT_EQ(u->redacted, "s3://my-bucket/some/path");
}

TEST(StoreUrlTest, NatsServersAndCredentials) {
  auto u = StoreUrl::Parse("nats://user:pw@h1:4222,h2:4223/BUCKET/db?timeout=2s");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->userinfo, "user:pw");
  EXPECT_EQ(u->host, "h1:4222,h2:4223");
  EXPECT_EQ(u->path, "BUCKET/db");
  EXPECT_EQ(u->redacted.find("pw"), std::string::npos) << u->redacted;
  EXPECT_TRUE(u->CheckOptions({"timeout"}).ok());
  EXPECT_FALSE(u->CheckOptions({"create"}).ok());
}

TEST(StoreUrlTest, FileUrlsKeepTheAbsolutePath) {
  auto u = StoreUrl::Parse("file:///var/lib/archive%20x");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->scheme, "file");
  EXPECT_EQ(u->path, "/var/lib/archive x");
  auto plain = StoreUrl::Parse("relative/dir");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->scheme, "file");
  EXPECT_EQ(plain->path, "relative/dir");
  EXPECT_FALSE(StoreUrl::Parse("file://otherhost/x").ok());
  EXPECT_FALSE(StoreUrl::Parse("").ok());
}

TEST(StoreUrlTest, ParsesBoolsAndInts) {
  EXPECT_TRUE(*ParseBool("true", "x"));
  EXPECT_FALSE(*ParseBool("0", "x"));
  EXPECT_FALSE(ParseBool("yes", "x").ok());
  EXPECT_EQ(*ParseInt("42", "x", 1, 100), 42);
  EXPECT_FALSE(ParseInt("0", "x", 1, 100).ok());
  EXPECT_FALSE(ParseInt("4x", "x", 1, 100).ok());
}

}  // namespace
}  // namespace ltxbus::store
