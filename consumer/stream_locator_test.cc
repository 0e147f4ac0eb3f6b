// Position resolution against a scripted bus: sparse offsets (as on Kafka),
// bus times, retention, snapshots and abandoned publishing attempts, which
// the MemoryBus does not model.
#include "consumer/stream_locator.h"

#include <gtest/gtest.h>

#include <cmath>

#include "consumer/stream_test_util.h"

namespace ltxbus::consumer {
namespace {

using ::ltxbus::testing::Chain;
using ::ltxbus::testing::MakeChain;
using testing::Drain;
using testing::ScriptedBus;
using testing::Txids;

constexpr char kDb[] = "app.db";
constexpr int64_t kT0 = 1'800'000'000'000;

struct Placed {
  uint64_t first_offset, last_offset;
  int64_t time_ms;
};

// Frame i (TXID i + 1) starts at offset 10 + 3 * (chunks so far) (a gap after
// every chunk, like Kafka's transaction markers and other databases) and is
// stored at kT0 + 1000 * i.
std::vector<Placed> Place(ScriptedBus& bus, const std::vector<std::string>& files,
                          uint64_t* next_offset, int64_t first_time = kT0) {
  std::vector<Placed> out;
  for (size_t i = 0; i < files.size(); i++) {
    const int64_t t = first_time + 1000 * static_cast<int64_t>(i);
    const size_t before = bus.log().size();
    bus.AddFrame(kDb, files[i], *next_offset, t, 700);
    // Spread the chunks out: offsets first, first+3, first+6, ...
    for (size_t k = before; k < bus.log().size(); k++) {
      bus.log()[k].offset = *next_offset + 3 * (k - before);
    }
    out.push_back({bus.log()[before].offset, bus.log().back().offset, t});
    *next_offset = bus.log().back().offset + 3;
  }
  return out;
}

Result<std::unique_ptr<TransactionStream>> Open(bus::Bus& bus, StartAt start, StopAt stop) {
  StreamOptions o;
  o.start = start;
  o.stop = stop;
  return TransactionStream::Open(bus, kDb, o);
}

TEST(StreamLocator, FindsEveryTxidByBisection) {
  Chain chain = MakeChain(4096, 200, 11, true);
  ScriptedBus bus;
  uint64_t next = 10;
  auto placed = Place(bus, chain.files, &next);
  for (ltx::TXID x = 1; x <= chain.files.size(); x++) {
    internal::StreamLocator loc(bus, kDb, bus::Millis(100));
    auto bounds = loc.ReadBounds();
    ASSERT_TRUE(bounds.ok() && bounds->has_value());
    auto c = loc.FindTxid(x);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(c->headers.frame.max_txid, x);
    EXPECT_EQ(c->headers.index, 0u);
    EXPECT_EQ(c->offset, placed[x - 1].first_offset);
    // Bisection over the offsets: logarithmic in the stream's length.
    EXPECT_LE(loc.probes(), 4 + std::ceil(std::log2(static_cast<double>(next))));
  }
}

TEST(StreamLocator, TimesSelectFramesByWhenTheBusStoredThem) {
  Chain chain = MakeChain(4096, 20, 12, true);
  ScriptedBus bus;
  uint64_t next = 10;
  auto placed = Place(bus, chain.files, &next);
  // From a time between frames 4 and 5 (TXIDs 5 and 6), to one between 11 and 12.
  auto s = Open(bus, StartAt::Time(placed[4].time_ms + 500), StopAt::Time(placed[11].time_ms + 1));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(Txids(Drain(**s)), (std::vector<ltx::TXID>{6, 7, 8, 9, 10, 11, 12}));
  // Exactly at a frame's time includes it, at both ends.
  auto t = Open(bus, StartAt::Time(placed[2].time_ms), StopAt::Time(placed[3].time_ms));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(Txids(Drain(**t)), (std::vector<ltx::TXID>{3, 4}));
  // After the newest frame: nothing to read, unless following.
  auto late = Open(bus, StartAt::Time(placed.back().time_ms + 1), StopAt::End());
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(Open(bus, StartAt::Time(placed.back().time_ms + 1), StopAt::Never()).ok());
  // The whole history is on the bus (it starts at TXID 1), so an early time
  // is the beginning; stopping before the first frame has no state to give.
  auto early = Open(bus, StartAt::Time(kT0 - 5000), StopAt::Txid(2));
  ASSERT_TRUE(early.ok());
  EXPECT_EQ(Txids(Drain(**early)), (std::vector<ltx::TXID>{1, 2}));
  auto before = Open(bus, StartAt::Beginning(), StopAt::Time(kT0 - 1));
  ASSERT_FALSE(before.ok());
  EXPECT_EQ(before.status().code(), Status::Code::kNotFound);
}

TEST(StreamLocator, PositionsBeforeRetentionAreErrors) {
  Chain chain = MakeChain(4096, 30, 13, true);
  ScriptedBus bus;
  uint64_t next = 10;
  auto placed = Place(bus, chain.files, &next);
  // Retention cut frame 9 (TXID 10) in the middle: TXID 11 is the oldest whole frame.
  ASSERT_GT(placed[9].last_offset, placed[9].first_offset) << "frame 9 should have several chunks";
  bus.TruncateBefore(placed[9].first_offset + 1);
  auto all = Open(bus, StartAt::Beginning(), StopAt::End());
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ((*all)->bounds()->first_min_txid, 11u);
  auto got = Txids(Drain(**all));
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.front(), 11u);
  auto expect_retention = [&](StartAt start, StopAt stop) {
    auto s = Open(bus, start, stop);
    ASSERT_FALSE(s.ok()) << start.ToString();
    EXPECT_EQ(s.status().code(), Status::Code::kNotFound) << s.status().ToString();
    EXPECT_NE(s.status().message().find("retention"), std::string::npos) << s.status().ToString();
  };
  expect_retention(StartAt::Txid(5), StopAt::End());
  expect_retention(StartAt::Offset(placed[3].first_offset), StopAt::End());
  expect_retention(StartAt::Time(placed[3].time_ms), StopAt::End());
  expect_retention(StartAt::Beginning(), StopAt::Time(placed[3].time_ms));
  expect_retention(StartAt::After({4, placed[3].first_offset, placed[3].last_offset}),
                   StopAt::End());
  // From inside the retained range everything works.
  auto s = Open(bus, StartAt::Txid(20), StopAt::Txid(25));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(Txids(Drain(**s)), (std::vector<ltx::TXID>{20, 21, 22, 23, 24, 25}));
}

TEST(StreamLocator, SnapshotsAndAbandonedAttempts) {
  Chain chain = MakeChain(4096, 12, 14, true);
  // A snapshot covering TXIDs 1-5 (as a restarted producer publishes), then 6-12.
  ltx::Header h;
  h.flags = 0;
  h.page_size = 4096;
  h.commit = static_cast<uint32_t>(chain.states[4].rbegin()->first);
  h.min_txid = 1;
  h.max_txid = 5;
  h.timestamp_ms = kT0;
  const testing::Pages& s5 = chain.states[4];
  std::vector<std::string> files = {
      ::ltxbus::testing::EncodeLtx(h, s5, ::ltxbus::testing::ChecksumOf(s5))};
  files.insert(files.end(), chain.files.begin() + 5, chain.files.end());
  ScriptedBus bus;
  uint64_t next = 0;
  Place(bus, std::vector<std::string>(files.begin(), files.begin() + 3), &next);
  // TXID 8: a producer died after two chunks, then published it again.
  bus.AddFrame(kDb, files[3], next, kT0 + 5000, 700, "dead", /*complete=*/false);
  next = bus.log().back().offset + 1;
  Place(bus, std::vector<std::string>(files.begin() + 3, files.end()), &next, kT0 + 6000);

  std::vector<std::string> skipped;
  StreamOptions o;
  o.start = StartAt::Txid(3);  // inside the snapshot: delivery starts with it
  o.stop = StopAt::Txid(9);
  o.on_skip = [&](const std::string& why) { skipped.push_back(why); };
  auto s = TransactionStream::Open(bus, kDb, o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto txs = Drain(**s);
  EXPECT_EQ(Txids(txs), (std::vector<ltx::TXID>{5, 6, 7, 8, 9}));
  ASSERT_FALSE(txs.empty());
  EXPECT_TRUE(txs[0].snapshot());
  EXPECT_EQ(txs[0].min_txid(), 1u);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find("incomplete frame"), std::string::npos) << skipped[0];
  // The stream has no state at TXID 3, only at 5: stopping there is refused.
  auto inside = Open(bus, StartAt::Beginning(), StopAt::Txid(3));
  ASSERT_FALSE(inside.ok());
  EXPECT_EQ(inside.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(inside.status().message().find("stop at 0000000000000005"), std::string::npos)
      << inside.status().ToString();
}

}  // namespace
}  // namespace ltxbus::consumer
