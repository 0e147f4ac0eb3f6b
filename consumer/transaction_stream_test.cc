// The consumer API against the in-process MemoryBus: whole transactions in
// order from every kind of position, acknowledgements and resuming, and the
// errors a consumer must be able to rely on.
#include "consumer/transaction_stream.h"

#include <gtest/gtest.h>

#include <numeric>

#include "consumer/stream_test_util.h"
#include "tests/support/temp_dir.h"

namespace ltxbus::consumer {
namespace {

using ::ltxbus::testing::Chain;
using ::ltxbus::testing::MakeChain;
using ::ltxbus::testing::MemoryBus;
using testing::Drain;
using testing::Publish;
using testing::Txids;

constexpr char kDb[] = "app.db";

Result<std::unique_ptr<TransactionStream>> Open(bus::Bus& bus, StartAt start, StopAt stop,
                                                StreamOptions o = {}) {
  o.start = start;
  o.stop = stop;
  return TransactionStream::Open(bus, kDb, std::move(o));
}

std::vector<ltx::TXID> Range(ltx::TXID from, ltx::TXID to) {
  std::vector<ltx::TXID> v(to - from + 1);
  std::iota(v.begin(), v.end(), from);
  return v;
}

class TransactionStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    chain_ = MakeChain(4096, 40, 7, /*checksums=*/true);
    last_offsets_ = Publish(bus_, kDb, chain_.files);
    log_ = bus_.Log(kDb);
    ASSERT_GT(log_.size(), chain_.files.size()) << "frames should span several chunks";
  }
  // The first offset of frame i (TXID i + 1).
  uint64_t FirstOffset(size_t i) const { return i == 0 ? 0 : last_offsets_[i - 1] + 1; }

  Chain chain_;
  MemoryBus bus_;
  std::vector<uint64_t> last_offsets_;
  std::vector<bus::Chunk> log_;
};

TEST_F(TransactionStreamTest, ReplaysEveryStateFromTheBeginning) {
  auto s = Open(bus_, StartAt::Beginning(), StopAt::End());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_TRUE((*s)->bounds().has_value());
  EXPECT_EQ((*s)->bounds()->first_min_txid, 1u);
  EXPECT_EQ((*s)->bounds()->last_txid, chain_.files.size());
  EXPECT_EQ((*s)->bounds()->last_offset, last_offsets_.back());
  testing::Pages db;
  size_t i = 0;
  while (!(*s)->finished()) {
    auto tx = (*s)->Next(bus::Millis(10));
    ASSERT_TRUE(tx.ok()) << tx.status().ToString();
    ASSERT_TRUE(tx->has_value()) << "stalled after " << i << " transactions";
    const Transaction& t = **tx;
    ASSERT_LT(i, chain_.files.size());
    EXPECT_EQ(t.txid(), i + 1);
    EXPECT_EQ(t.database(), kDb);
    EXPECT_EQ(t.position(), (Position{i + 1, FirstOffset(i), last_offsets_[i]}));
    EXPECT_EQ(t.size(), chain_.files[i].size());
    EXPECT_GT(t.page_count(), 0u);
    EXPECT_EQ(t.snapshot(), i == 0);
    testing::ApplyTo(t, &db);
    ASSERT_EQ(db, chain_.states[i]) << "state after TXID " << t.txid();
    i++;
  }
  EXPECT_EQ(i, chain_.files.size());
  auto after = (*s)->Next(bus::Millis(10));
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(after->has_value());
}

TEST_F(TransactionStreamTest, StartsAndStopsAtEveryTxid) {
  const ltx::TXID n = chain_.files.size();
  for (ltx::TXID from = 1; from <= n; from++) {
    const ltx::TXID to = from + (from * 7) % (n - from + 1);
    auto s = Open(bus_, StartAt::Txid(from), StopAt::Txid(to));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(Txids(Drain(**s)), Range(from, to)) << "from " << from << " to " << to;
  }
}

TEST_F(TransactionStreamTest, StartsAndStopsAtEveryOffset) {
  const uint64_t last = last_offsets_.back();
  for (uint64_t o = 0; o <= last; o++) {
    // The first frame whose first chunk is at or after o.
    size_t first = 0;
    while (first < chain_.files.size() && FirstOffset(first) < o) first++;
    auto s = Open(bus_, StartAt::Offset(o), StopAt::End());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    auto got = Txids(Drain(**s));
    EXPECT_TRUE((*s)->finished()) << "from offset " << o;
    if (first == chain_.files.size()) {
      EXPECT_TRUE(got.empty());
    } else {
      EXPECT_EQ(got, Range(first + 1, chain_.files.size())) << "from offset " << o;
    }
    // Stopping at o: every frame whose last chunk is at or before o.
    size_t complete = 0;
    while (complete < chain_.files.size() && last_offsets_[complete] <= o) complete++;
    auto t = Open(bus_, StartAt::Beginning(), StopAt::Offset(o));
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    EXPECT_EQ(Txids(Drain(**t)).size(), complete) << "to offset " << o;
    EXPECT_TRUE((*t)->finished()) << "to offset " << o;
  }
}

TEST_F(TransactionStreamTest, ResumesAfterTheAcknowledgedPositionAtLeastOnce) {
  ::ltxbus::testing::TempDir dir;
  auto store = NewFilePositionStore(Env::Default(), dir.Join("pos"));
  auto none = store->Load();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  StreamOptions o;
  o.positions = store.get();
  Position acked;
  {
    auto s = Open(bus_, StartAt::Beginning(), StopAt::Never(), o);
    ASSERT_TRUE(s.ok());
    auto txs = Drain(**s, 10);
    ASSERT_EQ(txs.size(), 10u);
    // Processed 10 but acknowledged only up to the 7th, then "crashed".
    for (size_t i = 0; i < 7; i++) ASSERT_TRUE((*s)->Ack(txs[i].position()).ok());
    acked = txs[6].position();
    ASSERT_TRUE((*s)->Ack(txs[2].position()).ok());  // older: no effect
    EXPECT_EQ((*s)->acked(), acked);
  }
  auto saved = store->Load();
  ASSERT_TRUE(saved.ok());
  ASSERT_TRUE(saved->has_value());
  EXPECT_EQ(**saved, acked);
  auto s = Open(bus_, StartAt::After(**saved), StopAt::End(), o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)->acked(), acked);
  // Transactions 8-10 come again: delivered at least once.
  EXPECT_EQ(Txids(Drain(**s)), Range(8, chain_.files.size()));
  // Resuming at the end is not an error: there is just nothing to deliver.
  auto caught_up =
      Open(bus_, StartAt::After({chain_.files.size(), 0, last_offsets_.back()}), StopAt::End());
  ASSERT_TRUE(caught_up.ok()) << caught_up.status().ToString();
  EXPECT_TRUE((*caught_up)->finished());
}

TEST_F(TransactionStreamTest, RejectsPositionsTheBusCannotServe) {
  const uint64_t end = last_offsets_.back();
  const ltx::TXID n = chain_.files.size();
  auto code = [&](StartAt start, StopAt stop) {
    auto s = Open(bus_, start, stop);
    EXPECT_FALSE(s.ok()) << start.ToString() << " to " << stop.ToString();
    return s.ok() ? Status::Code::kOk : s.status().code();
  };
  StreamOptions bounded;
  bounded.start = StartAt::Beginning();
  bounded.stop = StopAt::End();
  auto other = TransactionStream::Open(bus_, "other.db", bounded);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), Status::Code::kNotFound);
  EXPECT_NE(other.status().message().find("other.db"), std::string::npos);
  EXPECT_EQ(code(StartAt::Offset(end + 1), StopAt::End()), Status::Code::kInvalidArgument);
  EXPECT_EQ(code(StartAt::Txid(n + 1), StopAt::End()), Status::Code::kNotFound);
  EXPECT_EQ(code(StartAt::Beginning(), StopAt::Txid(n + 5)), Status::Code::kNotFound);
  EXPECT_EQ(code(StartAt::Beginning(), StopAt::Offset(end + 1)), Status::Code::kInvalidArgument);
  EXPECT_EQ(code(StartAt::Txid(9), StopAt::Txid(4)), Status::Code::kInvalidArgument);
  EXPECT_EQ(code(StartAt::After({n + 3, end + 1, end + 2}), StopAt::End()),
            Status::Code::kInvalidArgument);
  // The message says what the bus holds, so the user can pick again.
  auto s = Open(bus_, StartAt::Txid(n + 1), StopAt::End());
  EXPECT_NE(s.status().message().find("the bus holds TXIDs 0000000000000001 to"), std::string::npos)
      << s.status().ToString();
}

TEST_F(TransactionStreamTest, FollowsWhatIsPublishedLater) {
  MemoryBus fresh;
  // Following a database that has published nothing yet waits for it.
  auto s = Open(fresh, StartAt::Beginning(), StopAt::Never());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto none = (*s)->Next(bus::Millis(1));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  std::vector<std::string> head(chain_.files.begin(), chain_.files.begin() + 5);
  Publish(fresh, kDb, head);
  EXPECT_EQ(Txids(Drain(**s)), Range(1, 5));
  auto tail = Open(fresh, StartAt::End(), StopAt::Never());
  ASSERT_TRUE(tail.ok());
  std::vector<std::string> more(chain_.files.begin() + 5, chain_.files.begin() + 9);
  Publish(fresh, kDb, more);
  EXPECT_EQ(Txids(Drain(**tail)), Range(6, 9));
  EXPECT_FALSE((*tail)->finished());
}

TEST(TransactionStreamErrors, ReportAGapOnceThenGoOn) {
  Chain chain = MakeChain(4096, 12, 3, true);
  MemoryBus bus;
  std::vector<std::string> files = chain.files;
  files.erase(files.begin() + 5);  // TXID 6 never published
  Publish(bus, kDb, files);
  auto s = Open(bus, StartAt::Beginning(), StopAt::End());
  ASSERT_TRUE(s.ok());
  std::vector<Status> errors;
  auto got = Txids(Drain(**s, 1000, &errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(errors[0].IsCorruption());
  EXPECT_NE(errors[0].message().find("gap"), std::string::npos) << errors[0].ToString();
  EXPECT_NE(errors[0].message().find("TXIDs 0000000000000006 to 0000000000000006 are missing"),
            std::string::npos)
      << errors[0].ToString();
  std::vector<ltx::TXID> want = Range(1, 12);
  want.erase(want.begin() + 5);
  EXPECT_EQ(got, want);
}

TEST(TransactionStreamErrors, ReportABrokenChecksumChain) {
  Chain a = MakeChain(4096, 10, 3, true);
  Chain b = MakeChain(4096, 10, 4, true);
  MemoryBus bus;
  std::vector<std::string> files(a.files.begin(), a.files.begin() + 6);
  files.push_back(b.files[6]);  // TXID 7 of another history
  Publish(bus, kDb, files);
  auto s = Open(bus, StartAt::Beginning(), StopAt::End());
  ASSERT_TRUE(s.ok());
  std::vector<Status> errors;
  auto got = Drain(**s, 1000, &errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message().find("checksum chain broken"), std::string::npos)
      << errors[0].ToString();
  EXPECT_EQ(got.size(), 7u);
}

TEST(TransactionStreamErrors, RejectACorruptFrameAndGoOn) {
  Chain chain = MakeChain(4096, 8, 5, true);
  MemoryBus bus;
  std::vector<std::string> files = chain.files;
  files[3][files[3].size() / 2] ^= 0x40;  // inside TXID 4's page data
  Publish(bus, kDb, files);
  auto s = Open(bus, StartAt::Beginning(), StopAt::End());
  ASSERT_TRUE(s.ok());
  std::vector<Status> errors;
  auto got = Txids(Drain(**s, 1000, &errors));
  // The corrupt frame itself, then the gap it leaves.
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_NE(errors[0].message().find("frame TXID 0000000000000004"), std::string::npos)
      << errors[0].ToString();
  EXPECT_NE(errors[1].message().find("gap"), std::string::npos) << errors[1].ToString();
  EXPECT_EQ(got, (std::vector<ltx::TXID>{1, 2, 3, 5, 6, 7, 8}));
}

TEST(TransactionStreamErrors, DeliverARepublishedFrameOnce) {
  Chain chain = MakeChain(4096, 8, 6, true);
  MemoryBus bus;
  std::vector<std::string> files = chain.files;
  files.insert(files.begin() + 4, files[3]);  // TXID 4 published twice (new attempt)
  Publish(bus, kDb, files);
  std::vector<std::string> skipped;
  StreamOptions o;
  o.on_skip = [&](const std::string& why) { skipped.push_back(why); };
  auto s = Open(bus, StartAt::Beginning(), StopAt::End(), o);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(Txids(Drain(**s)), Range(1, 8));
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find("0000000000000004"), std::string::npos) << skipped[0];
}

TEST(TransactionStreamMemory, SpoolsLargeFramesAndStillVerifies) {
  Chain chain = MakeChain(65536, 6, 8, true);
  MemoryBus bus;
  Publish(bus, kDb, chain.files, 64 * 1024);
  StreamOptions o;
  o.frame_memory_limit = 16 * 1024;  // every frame spills to a temporary file
  auto s = Open(bus, StartAt::Beginning(), StopAt::End(), o);
  ASSERT_TRUE(s.ok());
  testing::Pages db;
  size_t i = 0;
  for (const auto& tx : Drain(**s)) {
    testing::ApplyTo(tx, &db);
    EXPECT_EQ(db, chain.states[i++]);
  }
  EXPECT_EQ(i, chain.files.size());
}

}  // namespace
}  // namespace ltxbus::consumer
