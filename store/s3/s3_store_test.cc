// S3 configuration from URLs, and the ETags the store predicts to recognise
// its own writes after a lost answer.
#include "store/s3/s3_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ltxbus::store::s3 {
namespace {

using ::testing::HasSubstr;

Result<S3Config> Config(std::string_view url) {
  auto u = StoreUrl::Parse(url);
  if (!u.ok()) return u.status();
  return S3ConfigFromUrl(*u, OpenOptions{"AKID", "SECRET", ""});
}

TEST(S3ConfigTest, AnEndpointMeansPathStyleAsInLitestream) {
  auto c = Config("s3://bkt/db/main?endpoint=http://127.0.0.1:9000&region=auto");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->bucket, "bkt");
  EXPECT_EQ(c->root, "db/main/");
  EXPECT_EQ(c->endpoint, "http://127.0.0.1:9000");
  EXPECT_EQ(c->region, "auto");
  EXPECT_TRUE(c->path_style);
  auto vhost = Config("s3://bkt?endpoint=https://t3.storage.dev/&forcePathStyle=false");
  ASSERT_TRUE(vhost.ok());
  EXPECT_EQ(vhost->endpoint, "https://t3.storage.dev");
  EXPECT_FALSE(vhost->path_style);
  EXPECT_EQ(vhost->root, "");
  auto bare = Config("s3://bkt?endpoint=minio:9000");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->endpoint, "https://minio:9000");
}

TEST(S3ConfigTest, TuningOptionsAreChecked) {
  auto c = Config("s3://b?endpoint=http://h:1&part-size=5242880&max-keys=7&max-attempts=3");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->part_size, 5u << 20);
  EXPECT_EQ(c->max_keys, 7);
  EXPECT_EQ(c->max_attempts, 3);
  auto small = Config("s3://b?endpoint=http://h:1&part-size=1000");
  ASSERT_FALSE(small.ok());
  EXPECT_THAT(small.status().message(), HasSubstr("part-size"));
  EXPECT_FALSE(Config("s3://b?endpoint=http://h:1&max-keys=1001").ok());
  EXPECT_FALSE(Config("s3://b?endpoint=ftp://h:1").ok());
  EXPECT_FALSE(Config("s3://b?endpoint=http://h:1&sign-payload=false").ok());
  EXPECT_FALSE(Config("s3://b/..?endpoint=http://h:1").ok());
}

TEST(S3EtagTest, SingleAndMultipartEtagsFollowS3) {
  EXPECT_EQ(SinglePutEtag(AsBytes("")), "\"d41d8cd98f00b204e9800998ecf8427e\"");
  // Two parts "a" and "b": md5(md5("a") || md5("b")) + "-2".
  std::vector<Md5Digest> parts = {Md5Of(AsBytes("a")), Md5Of(AsBytes("b"))};
  std::vector<uint8_t> joined(parts[0].begin(), parts[0].end());
  joined.insert(joined.end(), parts[1].begin(), parts[1].end());
  EXPECT_EQ(MultipartEtag(parts), "\"" + HexLower(Md5Of(joined)) + "-2\"");
}

}  // namespace
}  // namespace ltxbus::store::s3

namespace ltxbus::store::s3 {
namespace {

TEST(S3AddressingTest, PathStyleAndVirtualHost) {
  auto c = Config("s3://bkt/db?endpoint=http://127.0.0.1:9000");
  ASSERT_TRUE(c.ok());
  S3Client path_style(*c);
  S3Call call;
  call.method = "GET";
  call.key = "db/a b+c.ltx";
  call.query = {{"partNumber", "1"}, {"uploadId", "x/y="}};
  HttpRequest r = path_style.Prepare(call, 1369353600);
  EXPECT_EQ(r.url, "http://127.0.0.1:9000/bkt/db/a%20b%2Bc.ltx?partNumber=1&uploadId=x%2Fy%3D");
  auto header = [&](const HttpRequest& req, std::string_view name) {
    for (const auto& [k, v] : req.headers) {
      if (k == name) return v;
    }
    return std::string();
  };
  EXPECT_EQ(header(r, "Host"), "127.0.0.1:9000");
  EXPECT_EQ(header(r, "x-amz-date"), "20130524T000000Z");
  EXPECT_EQ(header(r, "x-amz-content-sha256"), kEmptyPayloadHash);
  EXPECT_THAT(header(r, "Authorization"),
              HasSubstr("Credential=AKID/20130524/us-east-1/s3/aws4_request, "
                        "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature="));

  auto aws = Config("s3://bkt/db?region=eu-west-1");
  ASSERT_TRUE(aws.ok());
  S3Client vhost(*aws);
  HttpRequest v = vhost.Prepare(call, 1369353600);
  EXPECT_EQ(v.url.substr(0, v.url.find('?')),
            "https://bkt.s3.eu-west-1.amazonaws.com/db/a%20b%2Bc.ltx");
  EXPECT_EQ(header(v, "Host"), "bkt.s3.eu-west-1.amazonaws.com");
  S3Call list;
  list.method = "GET";
  EXPECT_EQ(vhost.Prepare(list, 0).url, "https://bkt.s3.eu-west-1.amazonaws.com/");
  EXPECT_EQ(path_style.Prepare(list, 0).url, "http://127.0.0.1:9000/bkt");

  // The default port is not part of the signed Host.
  auto https = Config("s3://bkt?endpoint=https://r2.example.com:443");
  ASSERT_TRUE(https.ok());
  EXPECT_EQ(header(S3Client(*https).Prepare(list, 0), "Host"), "r2.example.com");
}

}  // namespace
}  // namespace ltxbus::store::s3
