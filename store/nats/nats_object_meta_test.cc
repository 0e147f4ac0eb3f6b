// The Object Store wire format: what nats.go (and so Litestream's nats
// replica) writes and reads.
#include "store/nats/nats_object_meta.h"

#include <gtest/gtest.h>

namespace ltxbus::store::nats {
namespace {

TEST(NatsObjectMetaTest, SubjectsAsNatsGoNamesThem) {
  EXPECT_EQ(StreamName("litestream"), "OBJ_litestream");
  // base64.URLEncoding (padded) of the name.
  EXPECT_EQ(MetaSubject("b", "ltx/0/0000000000000001-0000000000000001.ltx"),
            "$O.b.M.bHR4LzAvMDAwMDAwMDAwMDAwMDAwMS0wMDAwMDAwMDAwMDAwMDAxLmx0eA==");
  EXPECT_EQ(MetaSubject("b", "\xfb\xff"), "$O.b.M.-_8=");
  EXPECT_EQ(ChunkSubject("b", "NUID"), "$O.b.C.NUID");
  EXPECT_EQ(NameFromMetaSubject("b", MetaSubject("b", "a/b.ltx")), "a/b.ltx");
  EXPECT_EQ(NameFromMetaSubject("b", "$O.other.M.YQ=="), "");
  EXPECT_EQ(NameFromMetaSubject("b", "$O.b.C.x"), "");
}

TEST(NatsObjectMetaTest, DecodesWhatNatsGoWrites) {
  // As nats.go v1.44 marshals an ObjectInfo for Litestream's Put.
  const char* go = R"({"name":"ltx/0/0000000000000002-0000000000000002.ltx",)"
                   R"("headers":{"Litestream-Timestamp":["2026-08-01T12:34:56.789Z"]},)"
                   R"("options":{"max_chunk_size":131072},"bucket":"litestream",)"
                   R"("nuid":"hJ3jQeTX2Y4w4xQmV1bCfA","size":4152,)"
                   R"("mtime":"0001-01-01T00:00:00Z","chunks":1,)"
                   R"("digest":"SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU="})";
  auto m = ObjectMeta::Decode(go);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->name, "ltx/0/0000000000000002-0000000000000002.ltx");
  EXPECT_EQ(m->bucket, "litestream");
  EXPECT_EQ(m->size, 4152u);
  EXPECT_EQ(m->chunks, 1u);
  EXPECT_EQ(m->max_chunk_size, 131072u);
  EXPECT_FALSE(m->deleted);
  EXPECT_TRUE(m->chunk_seqs.empty());
  EXPECT_FALSE(m->ChunkSeq(0).has_value());
  ASSERT_EQ(m->headers.count("Litestream-Timestamp"), 1u);
  EXPECT_EQ(m->headers.at("Litestream-Timestamp").front(), "2026-08-01T12:34:56.789Z");

  auto marker = ObjectMeta::Decode(
      R"({"name":"x","bucket":"b","nuid":"n","size":0,"mtime":"0001-01-01T00:00:00Z",)"
      R"("chunks":0,"deleted":true})");
  ASSERT_TRUE(marker.ok());
  EXPECT_TRUE(marker->deleted);
}

TEST(NatsObjectMetaTest, RoundTripsIncludingChunkSequences) {
  ObjectMeta m;
  m.name = "db/manifest";
  m.bucket = "b";
  m.nuid = "n";
  m.size = 10;
  m.chunks = 5;
  m.max_chunk_size = 2;
  m.digest = "SHA-256=x";
  m.headers["Litestream-Timestamp"] = {"t"};
  m.chunk_seqs = {{10, 3}, {20, 2}};
  auto back = ObjectMeta::Decode(m.Encode());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->Encode(), m.Encode());
  EXPECT_EQ(*back->ChunkSeq(0), 10u);
  EXPECT_EQ(*back->ChunkSeq(2), 12u);
  EXPECT_EQ(*back->ChunkSeq(3), 20u);
  EXPECT_EQ(*back->ChunkSeq(4), 21u);
  EXPECT_FALSE(back->ChunkSeq(5).has_value());
  EXPECT_NE(m.Encode().find(R"("mtime":"0001-01-01T00:00:00Z")"), std::string::npos);
}

TEST(NatsObjectMetaTest, RejectsJunk) {
  EXPECT_FALSE(ObjectMeta::Decode("").ok());
  EXPECT_FALSE(ObjectMeta::Decode("[1]").ok());
  EXPECT_FALSE(ObjectMeta::Decode(R"({"size":1})").ok());
  EXPECT_FALSE(ObjectMeta::Decode(R"({"name":"x","size":"big"})").ok());
}

TEST(NatsObjectMetaTest, HeaderNamesAndBuckets) {
  EXPECT_EQ(CanonicalHeaderName("litestream-timestamp"), "Litestream-Timestamp");
  EXPECT_EQ(CanonicalHeaderName("a-b-c"), "A-B-C");
  EXPECT_TRUE(ValidBucket("litestream_1-x"));
  EXPECT_FALSE(ValidBucket(""));
  EXPECT_FALSE(ValidBucket("a.b"));
  EXPECT_FALSE(ValidBucket("a b"));
}

}  // namespace
}  // namespace ltxbus::store::nats
