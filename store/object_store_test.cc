// The rules every backend shares: key, prefix and metadata validation, and
// what Open() accepts.
#include "store/object_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"

namespace ltxbus::store {
namespace {

using ::testing::HasSubstr;

TEST(ValidateKeyTest, AcceptsArchiveKeys) {
  for (const char* key : {"ltx/0/0000000000000001-0000000000000001.ltx", "0009/x.ltx", "a",
                          "db/ltxbus/manifest.json", "a b/c+d=e"}) {
    EXPECT_TRUE(ValidateKey(key).ok()) << key << ": " << ValidateKey(key).ToString();
  }
}

TEST(ValidateKeyTest, RejectsKeysThatAreNotPortable) {
  for (const char* key :
       {"", "/abs", "dir/", "a//b", "a/./b", "a/../b", "..", ".hidden", "a/.tmp", "a\\b", "a\nb"}) {
    Status s = ValidateKey(key);
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << "'" << key << "'";
  }
  EXPECT_FALSE(ValidateKey(std::string(1025, 'a')).ok());
  EXPECT_TRUE(ValidateKey(std::string(1024, 'a')).ok());
}

TEST(ValidateKeyTest, PrefixesMayEndWithASlashOrBeEmpty) {
  EXPECT_TRUE(ValidatePrefix("").ok());
  EXPECT_TRUE(ValidatePrefix("ltx/0/").ok());
  EXPECT_TRUE(ValidatePrefix("ltx/0/00000").ok());
  EXPECT_FALSE(ValidatePrefix("/").ok());
  EXPECT_FALSE(ValidatePrefix("../").ok());
}

TEST(ValidateMetadataTest, LowerCaseKeysAndPrintableValues) {
  EXPECT_TRUE(ValidateMetadata({{"litestream-timestamp", "2026-08-01T12:34:56.789Z"}}).ok());
  EXPECT_FALSE(ValidateMetadata({{"Upper", "x"}}).ok());
  EXPECT_FALSE(ValidateMetadata({{"under_score", "x"}}).ok());
  EXPECT_FALSE(ValidateMetadata({{"-lead", "x"}}).ok());
  EXPECT_FALSE(ValidateMetadata({{"k", "line\nbreak"}}).ok());
  EXPECT_FALSE(ValidateMetadata({{"k", " padded"}}).ok());
  EXPECT_FALSE(ValidateMetadata({{"k", "caf\xC3\xA9"}}).ok());
}

TEST(ValidatePutOptionsTest, RejectsBothConditionsAndBadTimestamps) {
  PutOptions both;
  both.if_none_match = true;
  both.if_match = "\"x\"";
  EXPECT_FALSE(ValidatePutOptions("k", both).ok());
  PutOptions ts;
  ts.metadata[std::string(kTimestampMetadataKey)] = "yesterday";
  Status s = ValidatePutOptions("k", ts);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("RFC 3339"));
}

TEST(OpenTest, NamesWhatIsWrong) {
  auto bad_scheme = Open("ftp://host/dir");
  ASSERT_FALSE(bad_scheme.ok());
  EXPECT_THAT(bad_scheme.status().message(), HasSubstr("unknown scheme 'ftp'"));

  testing::TempDir dir;
  auto bad_option = Open("file://" + dir.path() + "?fsync=false");
  ASSERT_FALSE(bad_option.ok());
  EXPECT_THAT(bad_option.status().message(), HasSubstr("unknown option 'fsync'"));

  OpenOptions none;
  auto no_bucket = Open("s3:///path?endpoint=http://127.0.0.1:1", none);
  ASSERT_FALSE(no_bucket.ok());
  EXPECT_THAT(no_bucket.status().message(), HasSubstr("no bucket"));

  auto bad_bucket = Open("nats://127.0.0.1:1/bad.bucket");
  ASSERT_FALSE(bad_bucket.ok());
  EXPECT_THAT(bad_bucket.status().message(), HasSubstr("not a valid object store bucket"));
}

TEST(OpenTest, FileUrlsAndPlainPaths) {
  testing::TempDir dir;
  for (const std::string& url :
       {"file://" + dir.path(), dir.path(), "file://" + dir.path() + "/"}) {
    auto store = Open(url);
    ASSERT_TRUE(store.ok()) << url << ": " << store.status().ToString();
    EXPECT_EQ((*store)->kind(), "file");
    EXPECT_EQ((*store)->url(), "file://" + dir.path());
  }
  auto not_dir = Open("file://" + dir.path() + "/x");  // missing is fine: created on write
  EXPECT_TRUE(not_dir.ok());
}

TEST(OpenTest, S3UrlsDoNotLeakSecrets) {
  OpenOptions creds{"AKID", "SECRET", ""};
  auto store = Open("s3://bucket/db/one?endpoint=http://127.0.0.1:9&region=auto", creds);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->kind(), "s3");
  EXPECT_EQ((*store)->url(), "s3://bucket/db/one");
  auto in_query = Open("s3://bucket?endpoint=http://h:1&access-key-id=A&secret-access-key=S%2Bx");
  ASSERT_TRUE(in_query.ok()) << in_query.status().ToString();
  EXPECT_EQ((*in_query)->url(), "s3://bucket");
}

}  // namespace
}  // namespace ltxbus::store
