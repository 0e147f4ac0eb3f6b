#include "store/s3/s3_xml.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ltxbus::store::s3 {
namespace {

using ::testing::HasSubstr;

TEST(S3XmlTest, ParsesErrors) {
  auto e = ParseError(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code>"
      "<Message>The request signature we calculated does not match</Message>"
      "<RequestId>4442587FB7D0A2F9</RequestId></Error>");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, "SignatureDoesNotMatch");
  EXPECT_EQ(e->request_id, "4442587FB7D0A2F9");
  EXPECT_FALSE(ParseError("").has_value());
  EXPECT_FALSE(ParseError("<ListBucketResult/>").has_value());
}

TEST(S3XmlTest, ParsesAListingPage) {
  auto page = ParseListObjectsV2(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
      "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name>"
      "<Prefix>db/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>"
      "<IsTruncated>true</IsTruncated>"
      "<Contents><Key>db/0000/a&amp;b.ltx</Key><LastModified>2009-10-12T17:50:30.000Z</"
      "LastModified>"
      "<ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size>"
      "<StorageClass>STANDARD</StorageClass></Contents>"
      "<Contents><Key>db/0001/c.ltx</Key><Size>0</Size><ETag>\"x\"</ETag></Contents>"
      "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
      "</ListBucketResult>");
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "db/0000/a&b.ltx");
  EXPECT_EQ(page->objects[0].size, 434234u);
  EXPECT_EQ(page->objects[0].etag, "\"fba9dede5f27731c9771645a39863328\"");
  EXPECT_EQ(page->objects[0].last_modified_ms, 1255369830000);
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
  EXPECT_FALSE(ParseListObjectsV2("not xml").ok());
  EXPECT_FALSE(
      ParseListObjectsV2("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>")
          .ok());
}

TEST(S3XmlTest, MultipartDocuments) {
  auto id = ParseUploadId(
      "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
      "<UploadId>VXBsb2FkIElE</UploadId></InitiateMultipartUploadResult>");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, "VXBsb2FkIElE");
  EXPECT_FALSE(ParseUploadId("<InitiateMultipartUploadResult/>").ok());

  std::string body = CompleteMultipartBody({{1, "\"a\""}, {2, "\"b<\""}});
  EXPECT_THAT(body, HasSubstr("<Part><PartNumber>1</PartNumber><ETag>\"a\"</ETag></Part>"));
  EXPECT_THAT(body, HasSubstr("<ETag>\"b&lt;\"</ETag>"));

  auto done = ParseCompleteMultipart(
      "<CompleteMultipartUploadResult><ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag>"
      "</CompleteMultipartUploadResult>");
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->etag, "\"3858f62230ac3c915f300c664312c11f-9\"");
  EXPECT_FALSE(done->error.has_value());
  auto moto = ParseCompleteMultipart(
      "<CompleteMultipartUploadResponse xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Location>http://b.s3.amazonaws.com/k</Location><Bucket>b</Bucket><Key>k</Key>"
      "<ETag>\"abc-2\"</ETag></CompleteMultipartUploadResponse>");
  ASSERT_TRUE(moto.ok()) << moto.status().ToString();
  EXPECT_EQ(moto->etag, "\"abc-2\"");
  // 200 OK with an error inside.
  auto failed = ParseCompleteMultipart(
      "<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message>"
      "</Error>");
  ASSERT_TRUE(failed.ok());
  ASSERT_TRUE(failed->error.has_value());
  EXPECT_EQ(failed->error->code, "InternalError");
}

TEST(S3XmlTest, DeleteObjectsDocuments) {
  std::string body = DeleteObjectsBody({"a", "b&c"});
  EXPECT_THAT(body, HasSubstr("<Quiet>true</Quiet>"));
  EXPECT_THAT(body, HasSubstr("<Object><Key>b&amp;c</Key></Object>"));
  auto ok = ParseDeleteResult("<DeleteResult></DeleteResult>");
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->empty());
  auto failed = ParseDeleteResult(
      "<DeleteResult><Error><Key>a</Key><Code>AccessDenied</Code><Message>no</Message></Error>"
      "</DeleteResult>");
  ASSERT_TRUE(failed.ok());
  ASSERT_EQ(failed->size(), 1u);
  EXPECT_EQ((*failed)[0].key, "a");
  EXPECT_EQ((*failed)[0].error.code, "AccessDenied");
}

}  // namespace
}  // namespace ltxbus::store::s3
