// The follower against the in-process bus: bootstrap from the newest
// snapshot, exact restarts, batching, and every kind of bad frame rejected
// with the replica left as it was.
#include "consumer/follower.h"

#include <gtest/gtest.h>

#include <deque>

#include "consumer/follower_test_util.h"
#include "tests/support/memory_bus.h"
#include "tests/support/temp_dir.h"

namespace ltxbus::consumer {
namespace {

using namespace std::chrono_literals;
using testing::SourceSim;
using testing::TestFrame;

constexpr const char* kDb = "app.db";

// A subscriber over a fixed list of chunks, for what the in-process bus
// cannot produce (chunks delivered twice, interleaved attempts).
class ListSubscriber final : public bus::Subscriber {
 public:
  ListSubscriber(std::vector<bus::Chunk> chunks, uint64_t start)
      : chunks_(std::move(chunks)), start_(start) {}
  Result<std::optional<bus::Chunk>> Next(bus::Millis) override {
    while (next_ < chunks_.size() && chunks_[next_].offset < start_) next_++;
    if (next_ >= chunks_.size()) return std::optional<bus::Chunk>();
    return std::optional(chunks_[next_++]);
  }
  Result<uint64_t> HeadOffset() override { return chunks_.empty() ? 0 : chunks_.back().offset + 1; }

 private:
  std::vector<bus::Chunk> chunks_;
  uint64_t start_;
  size_t next_ = 0;
};

// The in-process bus's subscriber, with chunks the test slips in first
// (the in-process bus keeps each database's frames apart).
class InjectingSubscriber final : public bus::Subscriber {
 public:
  InjectingSubscriber(std::unique_ptr<bus::Subscriber> inner,
                      std::shared_ptr<std::deque<bus::Chunk>> injected)
      : inner_(std::move(inner)), injected_(std::move(injected)) {}
  Result<std::optional<bus::Chunk>> Next(bus::Millis timeout) override {
    if (!injected_->empty()) {
      bus::Chunk c = std::move(injected_->front());
      injected_->pop_front();
      return std::optional(std::move(c));
    }
    return inner_->Next(timeout);
  }
  Result<uint64_t> HeadOffset() override { return inner_->HeadOffset(); }

 private:
  std::unique_ptr<bus::Subscriber> inner_;
  std::shared_ptr<std::deque<bus::Chunk>> injected_;
};

class FollowerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = std::make_unique<SourceSim>(dir_.Join("source.db"), kDb);
    source_->Exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
    replica_ = dir_.Join("replicas/app.db");
    options_.database = kDb;
    options_.bus_url = "memory://";
    options_.replica.path = replica_;
    options_.scan_quiet = 10ms;
  }

  // One source transaction, published.
  TestFrame Change(const std::string& sql, bool publish = true) {
    source_->Exec(sql);
    TestFrame f = source_->Next();
    if (publish) testing::Publish(bus_, f);
    return f;
  }
  TestFrame Insert(int rows, bool publish = true) {
    return Change(fmt::format("INSERT INTO t(v) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL "
                              "SELECT i+1 FROM n WHERE i<{}) SELECT randomblob(900) FROM n",
                              rows),
                  publish);
  }

  SubscribeFn FromBus() {
    return [this](const bus::StartPosition& start) -> Result<std::unique_ptr<bus::Subscriber>> {
      LTXBUS_ASSIGN_OR_RETURN(auto sub, bus_.Subscribe(kDb, start));
      return std::unique_ptr<bus::Subscriber>(
          std::make_unique<InjectingSubscriber>(std::move(sub), injected_));
    };
  }

  std::unique_ptr<Follower> Open(SubscribeFn subscribe = {}) {
    auto f = Follower::Open(Env::Default(), options_, subscribe ? subscribe : FromBus());
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    return f.ok() ? std::move(*f) : nullptr;
  }

  // Polls until nothing more happens.
  static void Drain(Follower& f) {
    for (int idle = 0; idle < 3;) {
      auto n = f.Poll(1ms);
      ASSERT_TRUE(n.ok()) << n.status().ToString();
      idle = *n == 0 ? idle + 1 : 0;
    }
  }

  testing::TempDir dir_;
  testing::MemoryBus bus_;
  std::shared_ptr<std::deque<bus::Chunk>> injected_ = std::make_shared<std::deque<bus::Chunk>>();
  std::unique_ptr<SourceSim> source_;
  std::string replica_;
  FollowerOptions options_;
};

TEST_F(FollowerTest, BootstrapsFromTheNewestSnapshotThenFollows) {
  testing::Publish(bus_, source_->Next());  // the first snapshot
  for (int i = 0; i < 4; i++) Insert(3);
  testing::Publish(bus_, source_->Next(/*snapshot=*/true));  // a producer restart
  Insert(5);
  Change("DELETE FROM t WHERE id % 2 = 0");
  auto f = Open();
  ASSERT_NE(f, nullptr);
  Drain(*f);
  testing::ExpectReplicaHolds(replica_, source_->pages());
  EXPECT_EQ(f->stats().snapshots, 1u);
  EXPECT_EQ(f->stats().frames, 3u);
  EXPECT_EQ(f->stats().txid, source_->txid());
  EXPECT_EQ(f->stats().rejected, 0u);
}

TEST_F(FollowerTest, RestartsExactlyWhereItStopped) {
  testing::Publish(bus_, source_->Next());
  for (int i = 0; i < 5; i++) Insert(4);
  {
    auto f = Open();
    ASSERT_NE(f, nullptr);
    Drain(*f);
    testing::ExpectReplicaHolds(replica_, source_->pages());
  }
  Insert(20);
  Change("DELETE FROM t WHERE id > 10");
  Change("VACUUM");
  auto f = Open();
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->stats().txid, 6u);
  Drain(*f);
  testing::ExpectReplicaHolds(replica_, source_->pages());
  EXPECT_EQ(f->stats().frames, 3u);
  EXPECT_EQ(f->stats().duplicates, 0u) << "a restart resumes after its offset";
  EXPECT_EQ(f->stats().snapshots, 0u);
}

TEST_F(FollowerTest, ResumesFromEitherSideOfACrashAroundTheCommit) {
  testing::Publish(bus_, source_->Next());
  Insert(3);
  {
    auto f = Open();
    ASSERT_NE(f, nullptr);
    Drain(*f);
  }
  const std::string pos_path = ReplicaPositionPath(replica_);
  auto file = LoadReplicaPositionFile(Env::Default(), pos_path);
  ASSERT_TRUE(file.ok());
  // Drain ends with a wait that found nothing, which settles the file: the
  // last commit is `committed`, nothing `pending`.
  ASSERT_TRUE(file->committed.has_value());
  ASSERT_FALSE(file->pending.has_value());
  EXPECT_EQ(file->committed->txid, 2u);
  {
    // A crash right after a commit: the file names the batch `pending` and
    // the state before it `committed`; the replica holds `pending`.
    ReplicaPositionFile after = *file;
    after.pending = after.committed;
    after.committed->txid = 1;
    after.committed->checksum ^= 0x5678;
    ASSERT_TRUE(StoreReplicaPositionFile(Env::Default(), pos_path, after).ok());
    auto f = Open();
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->stats().txid, 2u);
  }
  // A crash after the position was written but before the commit: the
  // replica is still at `committed`; here, `pending` names a state it never
  // reached.
  ReplicaPositionFile crashed = *file;
  crashed.pending = crashed.committed;
  crashed.pending->txid = 3;
  crashed.pending->checksum ^= 0x1234;
  crashed.pending->offset += 7;
  ASSERT_TRUE(StoreReplicaPositionFile(Env::Default(), pos_path, crashed).ok());
  Insert(2);
  auto f = Open();
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->stats().txid, 2u);
  Drain(*f);
  testing::ExpectReplicaHolds(replica_, source_->pages());
  EXPECT_EQ(f->stats().txid, 3u);
}

TEST_F(FollowerTest, BatchesSourceTransactionsWhenBehind) {
  options_.max_batch = 4;
  testing::Publish(bus_, source_->Next());
  for (int i = 0; i < 12; i++) Insert(1 + i % 3);
  Change("DELETE FROM t WHERE id % 3 = 0");
  Change("VACUUM");
  Insert(2);
  auto f = Open();
  ASSERT_NE(f, nullptr);
  Drain(*f);
  testing::ExpectReplicaHolds(replica_, source_->pages());
  EXPECT_EQ(f->stats().frames, 16u);
  // The snapshot alone, then 15 transactions in batches of at most 4 (a
  // shrink after growth may cut one short).
  EXPECT_GE(f->stats().commits, 5u);
  EXPECT_LE(f->stats().commits, 8u);
}

TEST_F(FollowerTest, RejectsBadFramesLeavesTheReplicaUnchangedAndResyncs) {
  testing::Publish(bus_, source_->Next());
  Insert(2);
  auto f = Open();
  ASSERT_NE(f, nullptr);
  Drain(*f);
  const testing::Pages applied = source_->pages();
  const TestFrame f3 = Insert(3, /*publish=*/false);
  const TestFrame f4 = Insert(1, /*publish=*/false);

  auto expect_rejected = [&](const TestFrame& bad, const std::string& what, uint64_t n) {
    if (bad.id.database == kDb) {
      testing::Publish(bus_, bad);
    } else {
      testing::Publish(bus_, bad);
      for (auto& c : bus_.Log(bad.id.database)) injected_->push_back(c);
    }
    Drain(*f);
    EXPECT_EQ(f->stats().rejected, n) << what;
    EXPECT_TRUE(f->stats().resyncing) << what;
    EXPECT_EQ(f->stats().txid, 2u) << what;
    testing::ExpectReplicaHolds(replica_, applied);
  };
  TestFrame corrupt = f3;
  corrupt.bytes[corrupt.bytes.size() / 2] ^= 0x20;
  expect_rejected(corrupt, "corrupt", 1);
  TestFrame foreign = f3;
  foreign.id.database = "other.db";
  expect_rejected(foreign, "another database", 2);
  expect_rejected(f4, "out of order (a gap)", 3);
  TestFrame mismatch = f3;
  mismatch.id.pre_apply ^= 0x10;
  expect_rejected(mismatch, "headers disagreeing with the file", 4);
  TestFrame wrong_post = f3;
  wrong_post.trailer.post_apply ^= 0x10;
  expect_rejected(wrong_post, "post-apply checksum disagreeing with the file", 5);

  // The stream continues the replica after all: the bad frames were strays.
  testing::Publish(bus_, f3);
  testing::Publish(bus_, f4);
  testing::Publish(bus_, f3);  // a duplicate
  Drain(*f);
  EXPECT_FALSE(f->stats().resyncing);
  EXPECT_EQ(f->stats().duplicates, 1u);
  EXPECT_EQ(f->stats().txid, 4u);
  testing::ExpectReplicaHolds(replica_, source_->pages());

  // A real gap: TXID 5 never arrives. Nothing applies until a snapshot.
  const testing::Pages at4 = source_->pages();
  Insert(2, /*publish=*/false);
  Insert(2);
  Insert(1);
  Drain(*f);
  EXPECT_TRUE(f->stats().resyncing);
  EXPECT_EQ(f->stats().rejected, 7u);
  testing::ExpectReplicaHolds(replica_, at4);
  testing::Publish(bus_, source_->Next(/*snapshot=*/true));
  Insert(1);
  Drain(*f);
  EXPECT_FALSE(f->stats().resyncing);
  EXPECT_EQ(f->stats().snapshots, 2u);
  testing::ExpectReplicaHolds(replica_, source_->pages());
}

TEST_F(FollowerTest, ReassemblesChunksDeliveredTwiceOrInterleaved) {
  testing::Publish(bus_, source_->Next(), 1000);
  const TestFrame f2 = Insert(6, false);
  // Two attempts of the same frame.
  testing::Publish(bus_, f2, 1000);
  testing::Publish(bus_, f2, 1000);
  std::vector<bus::Chunk> log = bus_.Log(kDb);
  std::vector<bus::Chunk> snap, a, b;
  for (const auto& c : log) {
    if (c.headers.frame.min_txid == 1) {
      snap.push_back(c);
    } else if (a.empty() || c.headers.frame.attempt == a.front().headers.frame.attempt) {
      a.push_back(c);
    } else {
      b.push_back(c);
    }
  }
  ASSERT_GT(a.size(), 3u);
  ASSERT_EQ(a.size(), b.size());
  std::vector<bus::Chunk> chunks;
  for (const auto& c : snap) {  // every chunk twice
    chunks.push_back(c);
    chunks.push_back(c);
  }
  // Attempt A starts, B starts over (A is abandoned), A's stragglers arrive,
  // B completes, then A again in full (a re-delivery).
  chunks.push_back(a[0]);
  chunks.push_back(a[1]);
  chunks.push_back(b[0]);
  chunks.push_back(a[2]);
  for (size_t i = 1; i < b.size(); i++) chunks.push_back(b[i]);
  for (const auto& c : a) chunks.push_back(c);
  // Offsets must grow along the stream; renumber in delivery order.
  for (size_t i = 0; i < chunks.size(); i++) chunks[i].offset = i + 1;
  auto f =
      Open([chunks](const bus::StartPosition& start) -> Result<std::unique_ptr<bus::Subscriber>> {
        const uint64_t from = start.kind == bus::StartPosition::Kind::kOffset ? start.offset : 0;
        return std::unique_ptr<bus::Subscriber>(std::make_unique<ListSubscriber>(chunks, from));
      });
  ASSERT_NE(f, nullptr);
  Drain(*f);
  testing::ExpectReplicaHolds(replica_, source_->pages());
  EXPECT_EQ(f->stats().frames, 2u);
  EXPECT_EQ(f->stats().rejected, 0u);
}

TEST_F(FollowerTest, ARestartedProducersSnapshotOfTheSameStateChangesNothing) {
  testing::Publish(bus_, source_->Next());
  Insert(4);
  auto f = Open();
  ASSERT_NE(f, nullptr);
  Drain(*f);
  testing::Publish(bus_, source_->Next(/*snapshot=*/true));
  Insert(1);
  Drain(*f);
  EXPECT_EQ(f->stats().snapshots, 2u);
  EXPECT_EQ(f->stats().txid, 4u);
  testing::ExpectReplicaHolds(replica_, source_->pages());
}

// The stream was emptied and a producer restarted from scratch: its snapshot
// carries a TXID at or below the replica's but another state. It is a reset,
// applied as a bootstrap, and the frames after it continue the replica.
TEST_F(FollowerTest, ASnapshotThatIsNotTheReplicasStateResetsTheChain) {
  testing::Publish(bus_, source_->Next());
  for (int i = 0; i < 4; i++) Insert(2);
  auto f = Open();
  ASSERT_NE(f, nullptr);
  Drain(*f);
  ASSERT_EQ(f->stats().txid, 5u);
  SourceSim other(dir_.Join("other.db"), kDb);
  other.Exec("CREATE TABLE u(id INTEGER PRIMARY KEY, w TEXT); INSERT INTO u(w) VALUES ('x')");
  testing::Publish(bus_, other.Next());  // snapshot TXID 1
  other.Exec("INSERT INTO u(w) SELECT w || 'y' FROM u");
  testing::Publish(bus_, other.Next());  // TXID 2
  Drain(*f);
  EXPECT_EQ(f->stats().txid, 2u);
  EXPECT_EQ(f->stats().snapshots, 2u);
  EXPECT_EQ(f->stats().rejected, 0u);
  testing::ExpectReplicaHolds(replica_, other.pages());
  // A restart verifies the reset replica against its position.
  f.reset();
  f = Open();
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->stats().txid, 2u);
}

TEST_F(FollowerTest, RefusesReplicasItDidNotWrite) {
  {  // A database that is not a replica.
    auto db = sqlite::Database::Open(dir_.Join("app.db"), sqlite::Database::Mode::kReadWriteCreate);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->Exec("PRAGMA journal_mode=WAL; CREATE TABLE x(a)").ok());
  }
  FollowerOptions o = options_;
  o.replica.path = dir_.Join("app.db");
  auto refused = Follower::Open(Env::Default(), o, FromBus());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("not created by `ltxbus follow`"), std::string::npos)
      << refused.status().ToString();

  testing::Publish(bus_, source_->Next());
  Insert(2);
  {
    auto f = Open();
    ASSERT_NE(f, nullptr);
    Drain(*f);
  }
  // Another database's follower may not take it over.
  o = options_;
  o.database = "other.db";
  refused = Follower::Open(Env::Default(), o, FromBus());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("not 'other.db'"), std::string::npos)
      << refused.status().ToString();

  // Written while the follower was stopped.
  auto write = [&] {
    auto db = sqlite::Database::Open(replica_, sqlite::Database::Mode::kReadWrite);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->Exec("INSERT INTO t(v) VALUES(x'01')").ok());
  };
  write();
  refused = Follower::Open(Env::Default(), options_, FromBus());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("another program wrote it"), std::string::npos)
      << refused.status().ToString();
}

TEST_F(FollowerTest, StopsWritingAReplicaAnotherProcessWrites) {
  testing::Publish(bus_, source_->Next());
  auto f = Open();
  ASSERT_NE(f, nullptr);
  Drain(*f);
  {
    auto db = sqlite::Database::Open(replica_, sqlite::Database::Mode::kReadWrite);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->Exec("CREATE TABLE intruder(a)").ok());
  }
  Insert(1);
  auto n = f->Poll(1ms);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), Status::Code::kConflict) << n.status().ToString();
}

TEST_F(FollowerTest, RefusesASnapshotInAnotherPageSize) {
  testing::Publish(bus_, source_->Next());
  auto f = Open();
  ASSERT_NE(f, nullptr);
  Drain(*f);
  SourceSim bigger(dir_.Join("bigger.db"), kDb, 8192);
  bigger.Exec("CREATE TABLE t(a)");
  bigger.ContinueAfter(source_->txid());
  testing::Publish(bus_, bigger.Next(/*snapshot=*/true));
  auto n = f->Poll(1ms);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(n.status().message().find("page size changed"), std::string::npos)
      << n.status().ToString();
}

TEST_F(FollowerTest, WaitsForASnapshotWhenTheStreamHasNone) {
  source_->Next();  // the first snapshot is never published
  Insert(2);
  auto f = Open();
  ASSERT_NE(f, nullptr);
  Drain(*f);
  EXPECT_FALSE(Env::Default()->FileExists(replica_)) << "nothing to build a replica from";
  testing::Publish(bus_, source_->Next(/*snapshot=*/true));
  Insert(1);
  Drain(*f);
  testing::ExpectReplicaHolds(replica_, source_->pages());
}

}  // namespace
}  // namespace ltxbus::consumer
