// SigV4 against the example signatures AWS documents ("Signature
// Calculations for the Authorization Header: Transferring Payload in a Single
// Chunk", and the general reference's IAM example); values as collected in
// /work/shared/reference/bus-and-storage.md §5.5.
#include "store/s3/sigv4.h"

#include <gtest/gtest.h>

namespace ltxbus::store::s3 {
namespace {

const Credentials kExampleCredentials{"AKIAIOSFODNN7EXAMPLE",
                                      "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
constexpr std::string_view kDate = "20130524T000000Z";

TEST(SigV4Test, GetObjectExample) {
  SigningInput in;
  in.method = "GET";
  in.canonical_uri = "/test.txt";
  in.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                {"Range", "bytes=0-9"},
                {"x-amz-content-sha256", std::string(kEmptyPayloadHash)},
                {"x-amz-date", std::string(kDate)}};
  in.payload_hash = std::string(kEmptyPayloadHash);
  SigningResult r = SignV4(in, kExampleCredentials, "us-east-1", "s3", kDate);
  EXPECT_EQ(r.canonical_request,
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
            "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            "\nx-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HexLower(Sha256Of(r.canonical_request)),
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(r.string_to_sign,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(r.signed_headers, "host;range;x-amz-content-sha256;x-amz-date");
  EXPECT_EQ(r.signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  EXPECT_EQ(r.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4Test, PutObjectExampleEncodesTheKeyOnce) {
  const std::string body = "Welcome to Amazon S3.";
  const std::string hash = HexLower(Sha256Of(body));
  EXPECT_EQ(hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  SigningInput in;
  in.method = "PUT";
  in.canonical_uri = "/" + UriEncode("test$file.text", false);
  EXPECT_EQ(in.canonical_uri, "/test%24file.text");
  in.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                {"x-amz-date", std::string(kDate)},
                {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                {"x-amz-content-sha256", hash}};
  in.payload_hash = hash;
  SigningResult r = SignV4(in, kExampleCredentials, "us-east-1", "s3", kDate);
  EXPECT_EQ(r.signed_headers, "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class");
  EXPECT_EQ(r.signature, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

SigningInput BucketGet(HeaderList query) {
  SigningInput in;
  in.method = "GET";
  in.canonical_uri = "/";
  in.query = std::move(query);
  in.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                {"x-amz-date", std::string(kDate)},
                {"x-amz-content-sha256", std::string(kEmptyPayloadHash)}};
  in.payload_hash = std::string(kEmptyPayloadHash);
  return in;
}

TEST(SigV4Test, GetBucketLifecycleExampleSignsAValuelessParameter) {
  SigningResult r =
      SignV4(BucketGet({{"lifecycle", ""}}), kExampleCredentials, "us-east-1", "s3", kDate);
  EXPECT_NE(r.canonical_request.find("\nlifecycle=\n"), std::string::npos);
  EXPECT_EQ(r.signature, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST(SigV4Test, ListObjectsExampleSortsTheQuery) {
  // Given out of order: the canonical form sorts.
  SigningResult r = SignV4(BucketGet({{"prefix", "J"}, {"max-keys", "2"}}), kExampleCredentials,
                           "us-east-1", "s3", kDate);
  EXPECT_NE(r.canonical_request.find("\nmax-keys=2&prefix=J\n"), std::string::npos);
  EXPECT_EQ(r.signature, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(SigV4Test, IamListUsersExample) {
  const Credentials creds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
  SigningInput in;
  in.method = "GET";
  in.canonical_uri = "/";
  in.query = {{"Action", "ListUsers"}, {"Version", "2010-05-08"}};
  in.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                {"Host", "iam.amazonaws.com"},
                {"X-Amz-Date", "20150830T123600Z"}};
  in.payload_hash = std::string(kEmptyPayloadHash);
  SigningResult r = SignV4(in, creds, "us-east-1", "iam", "20150830T123600Z");
  EXPECT_EQ(HexLower(Sha256Of(r.canonical_request)),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
  EXPECT_EQ(HexLower(SigningKey(creds.secret_access_key, "20150830", "us-east-1", "iam")),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
  EXPECT_EQ(r.signature, "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
}

TEST(SigV4Test, UriEncodingFollowsSigV4NotFormEncoding) {
  EXPECT_EQ(UriEncode("a b+c/d~e_f.g-h", false), "a%20b%2Bc/d~e_f.g-h");
  EXPECT_EQ(UriEncode("a/b", true), "a%2Fb");
  EXPECT_EQ(UriEncode("\xC3\xA9", false), "%C3%A9");
  // Continuation tokens carry '=', '+' and '/', which must be encoded.
  EXPECT_EQ(CanonicalQuery({{"continuation-token", "1ab/+=="}, {"list-type", "2"}}),
            "continuation-token=1ab%2F%2B%3D%3D&list-type=2");
}

TEST(SigV4Test, QueryCharactersCanBeLeftRawForLenientServers) {
  EXPECT_EQ(CanonicalQuery({{"prefix", "db/0000/"}, {"start-after", "a:b+c"}}, "/:"),
            "prefix=db/0000/&start-after=a:b%2Bc");
  SigningInput in = {};
  in.method = "GET";
  in.canonical_uri = "/b";
  in.query = {{"prefix", "db/"}};
  in.headers = {{"Host", "h"}};
  in.payload_hash = "UNSIGNED-PAYLOAD";
  std::string strict = SignV4(in, kExampleCredentials, "us-east-1", "s3", kDate).canonical_request;
  in.query_keep_raw = "/";
  std::string lenient = SignV4(in, kExampleCredentials, "us-east-1", "s3", kDate).canonical_request;
  EXPECT_NE(strict.find("\nprefix=db%2F\n"), std::string::npos);
  EXPECT_NE(lenient.find("\nprefix=db/\n"), std::string::npos);
}

TEST(SigV4Test, HeaderValuesAreTrimmedAndRepeatedHeadersJoined) {
  SigningInput in;
  in.method = "GET";
  in.canonical_uri = "/";
  in.headers = {{"Host", "h"}, {"X-Amz-Meta-A", "  x   y "}, {"x-amz-meta-a", "z"}};
  in.payload_hash = "UNSIGNED-PAYLOAD";
  SigningResult r = SignV4(in, kExampleCredentials, "us-east-1", "s3", kDate);
  EXPECT_NE(r.canonical_request.find("x-amz-meta-a:x y,z\n"), std::string::npos)
      << r.canonical_request;
  EXPECT_EQ(r.signed_headers, "host;x-amz-meta-a");
}

}  // namespace
}  // namespace ltxbus::store::s3
