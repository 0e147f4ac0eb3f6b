#include "bus/message.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "bus/assembler.h"
#include "bus/bus.h"
#include "bus/chunker.h"

namespace ltxbus::bus {
namespace {

ChunkHeaders Headers(ltx::TXID txid, uint32_t index, bool last, const std::string& attempt = "a") {
  ChunkHeaders h;
  h.frame = {"app.db", txid, txid, attempt, "host/1/2", 1700000000000, ltx::kChecksumFlag | 5};
  h.index = index;
  h.last = last;
  return h;
}

TEST(MessageTest, HeadersRoundTrip) {
  ChunkHeaders h = Headers(7, 3, true);
  h.trailer = {12345, ltx::kChecksumFlag | 9, WalPosition{1, 2, 33, 0xdeadbeef, 4}};
  auto back = ChunkHeaders::Decode(h.Encode());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->frame, h.frame);
  EXPECT_EQ(back->index, 3u);
  EXPECT_TRUE(back->last);
  EXPECT_EQ(back->trailer.frame_size, 12345u);
  EXPECT_EQ(back->trailer.post_apply, ltx::kChecksumFlag | 9);
  EXPECT_EQ(back->trailer.wal, (WalPosition{1, 2, 33, 0xdeadbeef, 4}));
}

TEST(MessageTest, MissingOrBadHeadersAreNamed) {
  auto h = Headers(7, 0, false).Encode();
  h.erase("Ltx-Txid");
  auto r = ChunkHeaders::Decode(h);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("no Ltx-Txid header"), std::string::npos);
  h = Headers(7, 0, false).Encode();
  h["Ltx-Chunk"] = "x";
  EXPECT_NE(ChunkHeaders::Decode(h).status().message().find("Ltx-Chunk"), std::string::npos);
  EXPECT_FALSE(WalPosition::Parse("1:2:3").ok());
}

TEST(MessageTest, EscapedNamesAreSafeAndDistinct) {
  EXPECT_EQ(EscapeDatabaseName("app_db-1"), "app_db-1");
  EXPECT_EQ(EscapeDatabaseName("app.db"), "app%2Edb");
  EXPECT_NE(EscapeDatabaseName("a.b"), EscapeDatabaseName("a%2Eb"));
  EXPECT_EQ(EscapeDatabaseName("a b>*"), "a%20b%3E%2A");
}

// Cuts `total` bytes appended in pieces of `piece` into chunks of 10.
std::vector<std::pair<uint32_t, std::string>> Cut(size_t total, size_t piece) {
  FrameChunker c(Headers(1, 0, false).frame, 10);
  std::vector<std::pair<uint32_t, std::string>> out;
  std::string data;
  for (size_t i = 0; i < total; i++) data.push_back(static_cast<char>('a' + i % 26));
  for (size_t pos = 0; pos < total; pos += piece) {
    const std::string_view part = std::string_view(data).substr(pos, piece);
    EXPECT_TRUE(c.Append(AsBytes(part), [&](const ChunkHeaders& h, std::string& payload) {
                   EXPECT_FALSE(h.last);
                   out.emplace_back(h.index, std::move(payload));
                   return Status::OK();
                 }).ok());
  }
  FrameTrailer t;
  t.frame_size = total;
  EXPECT_TRUE(c.CheckTrailer(t).ok());
  const ChunkHeaders last = c.LastHeaders(t);
  EXPECT_TRUE(last.last);
  out.emplace_back(last.index, c.rest());
  return out;
}

TEST(ChunkerTest, FullChunksOnlyOnceMoreBytesFollow) {
  for (size_t piece : {size_t{1}, size_t{3}, size_t{10}, size_t{25}, size_t{100}}) {
    SCOPED_TRACE(piece);
    auto exact = Cut(30, piece);  // three full chunks: the last one is full, not empty
    ASSERT_EQ(exact.size(), 3u);
    for (uint32_t i = 0; i < 3; i++) {
      EXPECT_EQ(exact[i].first, i);
      EXPECT_EQ(exact[i].second.size(), 10u);
    }
    auto ragged = Cut(31, piece);
    ASSERT_EQ(ragged.size(), 4u);
    EXPECT_EQ(ragged.back().second, "e");  // byte 30
    std::string joined;
    for (const auto& [index, bytes] : ragged) joined += bytes;
    EXPECT_EQ(joined.substr(0, 5), "abcde");
    EXPECT_EQ(joined.size(), 31u);
  }
  auto empty = Cut(0, 1);
  ASSERT_EQ(empty.size(), 1u);  // an empty frame is one empty last chunk
  EXPECT_EQ(empty[0].second, "");
}

TEST(ChunkerTest, EmitFailuresAndWrongTrailersAreReported) {
  FrameChunker c(Headers(7, 0, false).frame, 4);
  Status refused =
      c.Append(AsBytes(std::string_view("123456789")),
               [](const ChunkHeaders&, std::string&) { return Status::Unavailable("bus down"); });
  EXPECT_EQ(refused.code(), Status::Code::kUnavailable);
  FrameChunker d(Headers(7, 0, false).frame, 4);
  ASSERT_TRUE(d.Append(AsBytes(std::string_view("abc")), {}).ok());
  FrameTrailer t;
  t.frame_size = 4;
  Status bad = d.CheckTrailer(t);
  EXPECT_EQ(bad.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(bad.message().find("frame_size 4 but 3 bytes"), std::string::npos) << bad.ToString();
  EXPECT_NE(bad.message().find("app.db"), std::string::npos);
}

TEST(EndpointTest, ParsesBothBuses) {
  auto n = Endpoint::Parse("nats://u:p@127.0.0.1:4222,127.0.0.1:4223/LTX?replicas=1");
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(n->kind, Endpoint::Kind::kNats);
  EXPECT_EQ(n->servers, "nats://u:p@127.0.0.1:4222,nats://u:p@127.0.0.1:4223");
  EXPECT_EQ(n->name, "LTX");
  EXPECT_EQ(n->options.at("replicas"), "1");
  EXPECT_EQ(n->url.find("u:p"), std::string::npos);
  auto k = Endpoint::Parse("kafka://127.0.0.1:9092/app-frames");
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->kind, Endpoint::Kind::kKafka);
  EXPECT_EQ(k->servers, "127.0.0.1:9092");
  EXPECT_EQ(k->name, "app-frames");
  EXPECT_FALSE(Endpoint::Parse("http://x/y").ok());
  EXPECT_FALSE(Endpoint::Parse("nats://127.0.0.1:4222").ok());
  EXPECT_FALSE(Endpoint::Parse("nats:///LTX").ok());
}

TEST(AssemblerTest, ReassemblesAndSpills) {
  for (size_t limit : {size_t{1} << 20, size_t{4}}) {
    FrameAssembler a(limit);
    auto last = Headers(1, 2, true);
    last.trailer.frame_size = 9;
    EXPECT_FALSE(a.Add({Headers(1, 0, false), "abc", 10, 0})->has_value());
    EXPECT_FALSE(a.Add({Headers(1, 1, false), "def", 11, 0})->has_value());
    auto f = a.Add({last, "ghi", 12, 0});
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(f->has_value());
    EXPECT_EQ(*(*f)->ReadAll(), "abcdefghi");
    EXPECT_EQ((*f)->first_offset(), 10u);
    EXPECT_EQ((*f)->last_offset(), 12u);
    EXPECT_EQ((*f)->id().max_txid, 1u);
  }
}

TEST(AssemblerTest, DropsAbandonedFramesStrayChunksAndRedeliveries) {
  std::vector<std::string> drops;
  FrameAssembler a(1 << 20, [&](const std::string& why) { drops.push_back(why); });
  auto last = [](ltx::TXID t, uint32_t i, const std::string& att, uint64_t size) {
    auto h = Headers(t, i, true, att);
    h.trailer.frame_size = size;
    return h;
  };
  // A producer died after chunk 0 of TXID 5; its successor republishes TXID 5.
  EXPECT_FALSE(a.Add({Headers(5, 0, false, "old"), "xx", 1, 0})->has_value());
  EXPECT_FALSE(a.Add({Headers(5, 0, false, "new"), "ab", 2, 0})->has_value());
  EXPECT_EQ(drops.size(), 1u);
  // A stray chunk of the dead attempt is ignored, not mixed in.
  EXPECT_FALSE(a.Add({Headers(5, 1, false, "old"), "yy", 3, 0})->has_value());
  EXPECT_EQ(drops.size(), 2u);
  auto f = a.Add({last(5, 1, "new", 4), "cd", 4, 0});
  ASSERT_TRUE(f->has_value());
  EXPECT_EQ(*(*f)->ReadAll(), "abcd");
  // The same frame delivered again is dropped.
  EXPECT_FALSE(a.Add({last(5, 0, "new", 2), "ab", 5, 0})->has_value());
  EXPECT_EQ(drops.size(), 3u);
  // A frame whose size disagrees with its header is dropped.
  EXPECT_FALSE(a.Add({last(6, 0, "x", 99), "ab", 6, 0})->has_value());
  EXPECT_EQ(drops.size(), 4u);
  // A chunk out of index order is dropped.
  EXPECT_FALSE(a.Add({Headers(7, 0, false), "a", 7, 0})->has_value());
  EXPECT_FALSE(a.Add({Headers(7, 2, false), "c", 8, 0})->has_value());
  EXPECT_EQ(drops.size(), 5u);
}

// Kafka frames carry no attempt (it is empty): a stray frame for TXID N
// (another primary's, or one continuing a different state) followed by the
// real frame N must not be taken for a re-delivery of it.
TEST(AssemblerTest, FramesWithoutAttemptDifferingInProducerOrChecksumAreNotRedeliveries) {
  std::vector<std::string> drops;
  FrameAssembler a(1 << 20, [&](const std::string& why) { drops.push_back(why); });
  auto whole = [](ltx::TXID t, const std::string& producer, ltx::Checksum pre) {
    ChunkHeaders h = Headers(t, 0, true, "");
    h.frame.producer = producer;
    h.frame.pre_apply = pre;
    h.trailer.frame_size = 2;
    return h;
  };
  const ltx::Checksum real = ltx::kChecksumFlag | 5, stray = ltx::kChecksumFlag | 9;
  // A stray frame 5 from another producer, then the real frame 5.
  auto f = a.Add({whole(5, "other/7/1", stray), "zz", 1, 0});
  ASSERT_TRUE(f.ok() && f->has_value());
  f = a.Add({whole(5, "host/1/2", real), "ab", 2, 0});
  ASSERT_TRUE(f.ok() && f->has_value());
  EXPECT_EQ(*(*f)->ReadAll(), "ab");
  // Same producer, but continuing another state: not the same frame either.
  f = a.Add({whole(5, "host/1/2", stray), "cd", 3, 0});
  ASSERT_TRUE(f.ok() && f->has_value());
  EXPECT_TRUE(drops.empty());
  // The very same frame again is a re-delivery.
  f = a.Add({whole(5, "host/1/2", stray), "cd", 4, 0});
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(f->has_value());
  ASSERT_EQ(drops.size(), 1u);
  EXPECT_NE(drops[0].find("re-delivered"), std::string::npos);
}

}  // namespace
}  // namespace ltxbus::bus
