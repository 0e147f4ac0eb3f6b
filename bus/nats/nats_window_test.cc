// The NATS publish window (bus/nats/nats_window.h) against a real
// nats-server: multi-chunk frames with many chunks in flight, another
// database interleaving on the same stream, a producer taking over while the
// old one has chunks in flight, and the server's support for the Msg-Id
// fence it relies on. Lost acknowledgements: nats_outage_test.cc. Built into
// nats_bus_test (tests/nats.cmake).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <thread>
#include <vector>

#include "bus/nats/nats_test_util.h"

namespace ltxbus::bus::testing {
namespace {

constexpr size_t kChunk = 4096;

size_t ChunksOf(size_t bytes) { return bytes == 0 ? 1 : (bytes + kChunk - 1) / kChunk; }

class NatsWindowTest : public NatsBusTest {};

// Frames of up to ~60 chunks through windows of several sizes: every frame
// arrives whole and in order, every chunk exactly once.
TEST_F(NatsWindowTest, ManyChunkFramesReassembleExactly) {
  for (int window : {2, 8, 64}) {
    SCOPED_TRACE(fmt::format("max-in-flight={}", window));
    const std::string stream = fmt::format("WIN{}", window);
    auto bus = Connect(stream, fmt::format("?max-in-flight={}", window));
    ASSERT_NE(bus, nullptr);
    auto pub = NewPublisher(*bus, "db", "win/1/1", kChunk);
    ASSERT_TRUE(pub->Open().ok());
    std::mt19937 rng(static_cast<unsigned>(window));
    std::vector<std::string> payloads;
    size_t chunks = 0;
    for (int i = 0; i < 25; i++) {
      size_t size = 1 + rng() % (60 * kChunk);
      if (i == 3) size = 17 * kChunk;  // exactly full chunks
      payloads.push_back(RandomBytes(size, static_cast<uint64_t>(i)));
      chunks += ChunksOf(size);
    }
    std::vector<uint64_t> offsets;
    for (size_t i = 0; i < payloads.size(); i++) {
      auto off = PublishFrame(*pub, Id("db", i + 1), payloads[i]);
      ASSERT_TRUE(off.ok()) << "frame " << i + 1 << ": " << off.status().ToString();
      offsets.push_back(*off);
    }
    auto sub = Subscribe(*bus, "db");
    Received r = Drain(*sub, payloads.size());
    ASSERT_EQ(r.frames.size(), payloads.size());
    EXPECT_TRUE(r.drops.empty()) << r.drops.front();
    EXPECT_EQ(r.chunks.size(), chunks) << "a chunk was stored twice or lost";
    for (size_t i = 0; i < r.frames.size(); i++) {
      EXPECT_EQ(r.frames[i].id().max_txid, i + 1);
      EXPECT_EQ(r.frames[i].last_offset(), offsets[i]);
      EXPECT_TRUE(*r.frames[i].ReadAll() == payloads[i]) << "frame " << i + 1;
    }
  }
}

// Two databases publishing at once on one stream: pipelined chunks are
// refused whenever the other's messages land between two of ours, and are
// published again, fenced on the subject. Nothing is lost or doubled.
TEST_F(NatsWindowTest, AnotherDatabaseInterleavingOnTheStreamCostsNothingButRetries) {
  struct Outcome {
    std::vector<std::string> payloads;
    size_t chunks = 0;
    Status status;
  };
  std::map<std::string, Outcome> results = {{"a", {}}, {"b", {}}};
  auto run = [this](const std::string& db, Outcome& res) {
    // A connection each, as two producers would have.
    auto bus = Connect("SHARED", "?max-in-flight=16");
    if (bus == nullptr) return;
    auto pub = NewPublisher(*bus, db, db + "/1/1", kChunk);
    if (!pub->Open().ok()) return;
    std::mt19937 rng(db == "a" ? 1 : 2);
    for (int i = 0; i < 20 && res.status.ok(); i++) {
      const size_t size = kChunk + rng() % (40 * kChunk);
      res.payloads.push_back(RandomBytes(size, rng()));
      res.chunks += ChunksOf(size);
      res.status =
          PublishFrame(*pub, Id(db, static_cast<ltx::TXID>(i + 1)), res.payloads.back()).status();
    }
  };
  Outcome& b = results.at("b");
  std::thread other([&] { run("b", b); });
  run("a", results.at("a"));
  other.join();
  auto bus = Connect("SHARED");
  ASSERT_NE(bus, nullptr);
  for (auto& [db, res] : results) {
    SCOPED_TRACE(db);
    ASSERT_TRUE(res.status.ok()) << res.status.ToString();
    ASSERT_EQ(res.payloads.size(), 20u);
    auto sub = Subscribe(*bus, db);
    Received r = Drain(*sub, res.payloads.size());
    ASSERT_EQ(r.frames.size(), res.payloads.size());
    EXPECT_TRUE(r.drops.empty()) << r.drops.front();
    EXPECT_EQ(r.chunks.size(), res.chunks) << "a chunk was stored twice or lost";
    for (size_t i = 0; i < r.frames.size(); i++) {
      EXPECT_TRUE(*r.frames[i].ReadAll() == res.payloads[i]) << "frame " << i + 1;
    }
  }
}

// A new producer opens while the old one has a window of chunks in flight:
// the new one wins (the old one's late chunks are not a takeover), the old
// one is fenced, and nothing the old one sent lands after the new one's first
// chunk.
TEST_F(NatsWindowTest, ATakeoverMidWindowFencesTheOldWriterCompletely) {
  auto old_bus = Connect("TAKEOVER", "?max-in-flight=32");
  auto new_bus = Connect("TAKEOVER");
  ASSERT_TRUE(old_bus && new_bus);
  constexpr size_t kBig = 64 * 1024;
  auto old_pub = NewPublisher(*old_bus, "db", "old/1/1", kBig);
  ASSERT_TRUE(old_pub->Open().ok());
  ASSERT_TRUE(PublishFrame(*old_pub, Id("db", 1), RandomBytes(1000, 1)).ok());
  const std::string big = RandomBytes(40 * kBig, 2);
  auto w = old_pub->BeginFrame(Id("db", 2));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Append(AsBytes(std::string_view(big).substr(0, 20 * kBig + 1))).ok());

  // Chunks of the old writer's frame are still landing now.
  auto new_pub = NewPublisher(*new_bus, "db", "new/2/2", kBig);
  auto last = new_pub->Open();
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  ASSERT_TRUE(last->has_value());
  EXPECT_EQ((*last)->id.max_txid, 1u);
  const std::string mine = RandomBytes(3 * kBig, 3);
  auto won = PublishFrame(*new_pub, Id("db", 2), mine);
  ASSERT_TRUE(won.ok()) << won.status().ToString();

  Status rest = (*w)->Append(AsBytes(std::string_view(big).substr(20 * kBig + 1)));
  Result<uint64_t> commit = rest.ok() ? (*w)->Commit(Trailer(2, big.size())) : rest;
  ASSERT_FALSE(commit.ok()) << "the old writer committed after the takeover";
  EXPECT_EQ(commit.status().code(), Status::Code::kConflict) << commit.status().ToString();
  EXPECT_THAT(commit.status().message(), ::testing::HasSubstr("new/2/2"));

  auto sub = Subscribe(*new_bus, "db");
  Received r = Drain(*sub, 2);
  ASSERT_EQ(r.frames.size(), 2u);
  EXPECT_EQ(r.frames[1].id().producer, "new/2/2");
  EXPECT_TRUE(*r.frames[1].ReadAll() == mine);
  bool new_seen = false;
  for (const Chunk& c : r.chunks) {
    if (c.headers.frame.producer == "new/2/2") new_seen = true;
    if (new_seen) {
      EXPECT_EQ(c.headers.frame.producer, "new/2/2")
          << "chunk " << c.headers.index << " of the old writer landed after the new one's";
    }
  }
  EXPECT_EQ(r.drops.size(), 1u);  // the old writer's unfinished frame
}

// What the window relies on from the server (nats-server 2.9 and later): a
// publish naming a Msg-Id as the stream's last message is stored only if it
// is, and a de-duplicated retry is recognised before that check.
TEST_F(NatsWindowTest, TheServerFencesOnTheLastMsgId) {
  auto raw = Raw("MSGID");
  ASSERT_NE(raw, nullptr);
  auto publish = [&](const std::string& subject, const std::string& id,
                     const std::string& expect) -> std::pair<uint64_t, jsErrCode> {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = id.c_str();
    if (!expect.empty()) po.ExpectLastMsgId = expect.c_str();
    jsPubAck* ack = nullptr;
    jsErrCode jerr{};
    natsStatus s = js_Publish(&ack, raw->js(), subject.c_str(), "x", 1, &po, &jerr);
    nats::PubAckPtr owned(ack);
    return {s == NATS_OK && ack != nullptr ? ack->Sequence : 0, jerr};
  };
  const auto a1 = publish("msgid.a", "a1", "");
  ASSERT_GT(a1.first, 0u);
  const auto a2 = publish("msgid.a", "a2", "a1");
  EXPECT_EQ(a2.first, a1.first + 1);
  publish("msgid.b", "b1", "");  // another subject's message lands in between
  const auto a3 = publish("msgid.a", "a3", "a2");
  EXPECT_EQ(a3.first, 0u);
  EXPECT_EQ(a3.second, JSStreamWrongLastMsgIDErr);
  // A retry of a stored message is a duplicate whatever it expects.
  const auto again = publish("msgid.a", "a2", "zzz");
  EXPECT_EQ(again.first, a2.first);
}

}  // namespace
}  // namespace ltxbus::bus::testing
