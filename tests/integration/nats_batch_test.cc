// Batches on the NATS bus against a real nats-server: frames pipelined
// across frame boundaries (Publisher::BeginBatch) arrive complete and in
// order, every frame's attempt is the subject sequence just before its chunk
// 0 (which the walk back to the newest complete frame relies on), also when
// two databases interleave on one stream, and a batch stays fenced.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <charconv>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bus/nats/nats_test_util.h"

namespace ltxbus::bus::testing {
namespace {

using ::testing::HasSubstr;

// Sizes for `n` frames: mostly small (one chunk), some several chunks long.
std::vector<std::string> Payloads(size_t n, size_t chunk, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> out;
  for (size_t i = 0; i < n; i++) {
    size_t size = 1 + rng() % 600;
    if (i % 37 == 5) size = chunk * (2 + rng() % 3) + rng() % chunk;
    out.push_back(RandomBytes(size, seed * 1000 + i));
  }
  return out;
}

// Publishes `payloads` as TXIDs first.. in batches of `per_batch` frames.
Status PublishBatches(Publisher& pub, const std::string& db, ltx::TXID first,
                      const std::vector<std::string>& payloads, size_t per_batch) {
  for (size_t i = 0; i < payloads.size(); i += per_batch) {
    LTXBUS_RETURN_IF_ERROR(pub.BeginBatch());
    for (size_t j = i; j < std::min(payloads.size(), i + per_batch); j++) {
      auto sent = PublishFrame(pub, Id(db, first + j), payloads[j]);
      if (!sent.ok()) {
        (void)pub.EndBatch();
        return sent.status();
      }
    }
    LTXBUS_RETURN_IF_ERROR(pub.EndBatch().status());
  }
  return Status::OK();
}

// Every frame arrived in order with its bytes, and its chunk 0 names, as its
// attempt, the subject's message just before it.
void ExpectFramesAndAttempts(const Received& r, const std::vector<std::string>& payloads) {
  ASSERT_EQ(r.frames.size(), payloads.size());
  EXPECT_THAT(r.drops, ::testing::IsEmpty());
  for (size_t i = 0; i < payloads.size(); i++) {
    EXPECT_EQ(r.frames[i].id().max_txid, i + 1);
    EXPECT_TRUE(*r.frames[i].ReadAll() == payloads[i]) << "frame " << i + 1;
  }
  uint64_t previous = 0;
  for (const Chunk& c : r.chunks) {
    if (c.headers.index == 0) {
      uint64_t attempt = 0;
      const std::string& a = c.headers.frame.attempt;
      std::from_chars(a.data(), a.data() + a.size(), attempt);
      EXPECT_EQ(attempt, previous) << "TXID " << c.headers.frame.max_txid << " at " << c.offset;
    }
    previous = c.offset;
  }
}

TEST_F(NatsBusTest, BatchesPipelineFramesInOrderWithExactAttempts) {
  auto bus = Connect("BATCH");
  ASSERT_NE(bus, nullptr);
  constexpr size_t kChunk = 4096;
  auto pub = NewPublisher(*bus, "app.db", "b/1/1", kChunk);
  ASSERT_TRUE(pub->Open().ok());
  const auto payloads = Payloads(400, kChunk, 1);
  Status st = PublishBatches(*pub, "app.db", 1, payloads, 150);
  ASSERT_TRUE(st.ok()) << st.ToString();

  auto sub = Subscribe(*bus, "app.db");
  Received r = Drain(*sub, payloads.size());
  ExpectFramesAndAttempts(r, payloads);
  auto last = bus->ReadLastFrame("app.db");
  ASSERT_TRUE(last.ok() && last->has_value()) << last.status().ToString();
  EXPECT_EQ((*last)->id.max_txid, payloads.size());
}

TEST_F(NatsBusTest, BatchesOfTwoDatabasesInterleaveOnOneStream) {
  auto bus_a = Connect("SHARED");
  auto bus_b = Connect("SHARED");
  ASSERT_NE(bus_a, nullptr);
  ASSERT_NE(bus_b, nullptr);
  constexpr size_t kChunk = 2048;
  auto pub_a = NewPublisher(*bus_a, "a.db", "a/1/1", kChunk);
  auto pub_b = NewPublisher(*bus_b, "b.db", "b/1/1", kChunk);
  ASSERT_TRUE(pub_a->Open().ok());
  ASSERT_TRUE(pub_b->Open().ok());
  const auto payloads_a = Payloads(300, kChunk, 2);
  const auto payloads_b = Payloads(300, kChunk, 3);
  Status st_a, st_b;
  std::thread ta([&] { st_a = PublishBatches(*pub_a, "a.db", 1, payloads_a, 100); });
  std::thread tb([&] { st_b = PublishBatches(*pub_b, "b.db", 1, payloads_b, 100); });
  ta.join();
  tb.join();
  ASSERT_TRUE(st_a.ok()) << st_a.ToString();
  ASSERT_TRUE(st_b.ok()) << st_b.ToString();
  for (const auto& [db, payloads] : {std::pair{"a.db", &payloads_a}, {"b.db", &payloads_b}}) {
    SCOPED_TRACE(db);
    auto sub = Subscribe(*bus_a, db);
    ExpectFramesAndAttempts(Drain(*sub, payloads->size()), *payloads);
    auto last = bus_a->ReadLastFrame(db);
    ASSERT_TRUE(last.ok() && last->has_value());
    EXPECT_EQ((*last)->id.max_txid, payloads->size());
  }
}

TEST_F(NatsBusTest, ABatchIsFencedByANewerProducer) {
  auto bus = Connect("BATCHFENCE");
  ASSERT_NE(bus, nullptr);
  constexpr size_t kChunk = 4096;
  auto first = NewPublisher(*bus, "app.db", "first/1/1", kChunk);
  ASSERT_TRUE(first->Open().ok());
  const auto payloads = Payloads(50, kChunk, 4);
  ASSERT_TRUE(PublishBatches(*first, "app.db", 1, payloads, 50).ok());

  auto second = NewPublisher(*bus, "app.db", "second/2/2", kChunk);
  auto seen = second->Open();
  ASSERT_TRUE(seen.ok() && seen->has_value());
  EXPECT_EQ((*seen)->id.max_txid, 50u);
  ASSERT_TRUE(PublishFrame(*second, Id("app.db", 51), "by the second").ok());

  // The first producer's next batch: nothing of it may land.
  Status st = PublishBatches(*first, "app.db", 51, Payloads(20, kChunk, 5), 20);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Status::Code::kConflict) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("second/2/2"));

  auto sub = Subscribe(*bus, "app.db");
  Received r = Drain(*sub, 51);
  ASSERT_EQ(r.frames.size(), 51u);
  EXPECT_EQ(r.frames.back().id().producer, "second/2/2");
  for (const Chunk& c : r.chunks) {
    if (c.headers.frame.producer == "first/1/1") {
      EXPECT_LE(c.headers.frame.max_txid, 50u);
    }
  }
}

}  // namespace
}  // namespace ltxbus::bus::testing
