// The rules of `ltxbus sync` (bus/sync.h): which bus frames cover which
// committed WAL positions, and the wait, against the in-process MemoryBus.
#include "bus/sync.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/memory_bus.h"

namespace ltxbus::bus {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

LocalCommits Wal(uint32_t salt1, uint32_t salt2, uint32_t max_frame) {
  LocalCommits l;
  l.wal_index = true;
  l.salt1 = salt1;
  l.salt2 = salt2;
  l.max_frame = max_frame;
  return l;
}

LocalCommits NoShm() { return LocalCommits{}; }

LastFrame Frame(uint64_t offset, std::optional<WalPosition> wal,
                ltx::Checksum post = 0x8000'0000'0000'0001) {
  LastFrame f;
  f.id.database = "db";
  f.id.min_txid = f.id.max_txid = offset + 1;
  f.id.producer = "p/1/1";
  f.trailer.post_apply = post;
  f.trailer.wal = wal;
  f.offset = offset;
  return f;
}

WalPosition At(uint32_t salt1, uint32_t salt2, uint64_t next_frame) {
  return WalPosition{salt1, salt2, next_frame, 0, 0};
}

SyncPoint Point(LocalCommits local, std::optional<LastFrame> before) {
  SyncPoint p;
  p.local = local;
  p.before = std::move(before);
  return p;
}

TEST(SyncRulesTest, NothingOnTheBusCoversNothing) {
  auto v = Covers(Point(Wal(1, 2, 5), std::nullopt), std::nullopt, Wal(1, 2, 5));
  EXPECT_FALSE(v.covered);
  EXPECT_THAT(v.why, HasSubstr("no frame"));
}

TEST(SyncRulesTest, TheSameGenerationMustReachMxFrame) {
  const SyncPoint p = Point(Wal(7, 9, 10), Frame(3, At(7, 9, 4)));
  // next_frame is the first frame not published: 10 means frames up to 9.
  EXPECT_FALSE(Covers(p, Frame(4, At(7, 9, 10)), Wal(7, 9, 12)).covered);
  EXPECT_TRUE(Covers(p, Frame(5, At(7, 9, 11)), Wal(7, 9, 12)).covered);
  EXPECT_TRUE(Covers(p, Frame(6, At(7, 9, 40)), Wal(7, 9, 40)).covered);
  // The frame read before the point counts too when it is far enough.
  EXPECT_TRUE(
      Covers(Point(Wal(7, 9, 10), Frame(5, At(7, 9, 11))), Frame(5, At(7, 9, 11)), Wal(7, 9, 10))
          .covered);
  // Same salt1, other salt2: another generation, not this one.
  EXPECT_FALSE(Covers(p, Frame(3, At(7, 8, 99)), Wal(7, 9, 12)).covered);
}

TEST(SyncRulesTest, ALaterGenerationPublishedAfterThePointCovers) {
  const SyncPoint p = Point(Wal(7, 9, 10), Frame(3, At(7, 9, 4)));
  // SQLite restarted the WAL (salt1 + 1) after the producer published it all.
  EXPECT_TRUE(Covers(p, Frame(9, At(8, 1234, 2)), Wal(8, 1234, 1)).covered);
  EXPECT_TRUE(Covers(p, Frame(9, At(10, 1, 2)), Wal(11, 1, 1)).covered);
  // An older generation (the producer was behind) never does.
  EXPECT_FALSE(Covers(p, Frame(9, At(6, 1, 50)), Wal(7, 9, 10)).covered);
  // Wrap-around: 0 comes after 0xffffffff.
  const SyncPoint wrap = Point(Wal(0xffffffff, 9, 3), std::nullopt);
  EXPECT_TRUE(Covers(wrap, Frame(1, At(0, 5, 2)), Wal(0, 5, 2)).covered);
  EXPECT_FALSE(
      Covers(Point(Wal(0, 9, 3), std::nullopt), Frame(1, At(0xffffffff, 5, 2)), Wal(0, 9, 3))
          .covered);
}

TEST(SyncRulesTest, ARandomlySaltedGenerationCoversOnlyWhenItIsTheDatabasesNow) {
  // All connections closed in between: the new WAL got random salts, here
  // "behind" by salt1.
  const SyncPoint p = Point(Wal(0x80000000, 9, 10), Frame(3, At(0x80000000, 9, 4)));
  const LastFrame fresh = Frame(9, At(0x10, 77, 3));
  EXPECT_FALSE(Covers(p, fresh, Wal(0x20, 1, 5)).covered);
  EXPECT_TRUE(Covers(p, fresh, Wal(0x10, 77, 5)).covered);
}

TEST(SyncRulesTest, AFrameFromBeforeThePointNeverCoversByGeneration) {
  // `before` was read before the database, so its generation cannot be
  // later; even if salt1 says so (random salts), it must not count.
  const LastFrame before = Frame(3, At(50, 1, 4));
  const SyncPoint p = Point(Wal(40, 9, 10), before);
  EXPECT_FALSE(Covers(p, before, Wal(50, 1, 10)).covered);
}

TEST(SyncRulesTest, AnEmptyWalIsCoveredByTheDatabaseChecksum) {
  SyncPoint p = Point(Wal(7, 9, 0), Frame(3, At(6, 1, 20), 0x8000'0000'0000'00aa));
  EXPECT_FALSE(Covers(p, p.before, Wal(7, 9, 0)).covered) << "no checksum read yet";
  p.state_checksum = 0x8000'0000'0000'00aa;
  const auto v = Covers(p, p.before, Wal(7, 9, 0));
  EXPECT_TRUE(v.covered);
  EXPECT_THAT(v.why, HasSubstr("checksum"));
  p.state_checksum = 0x8000'0000'0000'00bb;
  EXPECT_FALSE(Covers(p, p.before, Wal(7, 9, 0)).covered);
  // A frame of the (empty) generation itself covers it.
  EXPECT_TRUE(Covers(p, Frame(4, At(7, 9, 2)), Wal(7, 9, 1)).covered);
  // With frames in the WAL, the file's checksum means nothing.
  SyncPoint busy = Point(Wal(7, 9, 3), p.before);
  busy.state_checksum = 0x8000'0000'0000'00aa;
  EXPECT_FALSE(Covers(busy, p.before, Wal(7, 9, 3)).covered);
}

TEST(SyncRulesTest, WithoutAShmOnlyTheChecksumOrANewGenerationCover) {
  SyncPoint p = Point(NoShm(), Frame(3, At(6, 1, 20), 0x8000'0000'0000'00aa));
  // The old frame, whatever generation it names, says nothing about the file.
  EXPECT_FALSE(Covers(p, p.before, NoShm()).covered);
  EXPECT_FALSE(Covers(p, Frame(4, At(6, 1, 30)), NoShm()).covered);
  // A producer started since (the -shm exists now) published from the
  // generation the database is in now.
  EXPECT_TRUE(Covers(p, Frame(4, At(99, 3, 2)), Wal(99, 3, 1)).covered);
  EXPECT_FALSE(Covers(p, Frame(4, At(99, 3, 2)), Wal(98, 3, 1)).covered);
  // A snapshot of an empty WAL carries no position: only its checksum tells.
  EXPECT_FALSE(Covers(p, Frame(4, std::nullopt, 0x8000'0000'0000'00cc), Wal(99, 3, 0)).covered);
  p.state_checksum = 0x8000'0000'0000'00cc;
  EXPECT_TRUE(Covers(p, Frame(4, std::nullopt, 0x8000'0000'0000'00cc), Wal(99, 3, 0)).covered);
}

// A fake database whose committed state the test sets, and which can run a
// step (a producer publishing) when it is read for the n-th time.
struct FakeDatabase {
  LocalCommits state;
  std::optional<ltx::Checksum> checksum;
  int reads = 0;
  int checksum_reads = 0;
  std::function<void(int)> on_read;

  LocalReader Reader() {
    return [this](bool with_checksum) -> Result<LocalCommits> {
      reads++;
      if (on_read) on_read(reads);
      LocalCommits c = state;
      if (with_checksum && (!c.wal_index || c.max_frame == 0)) {
        checksum_reads++;
        c.db_checksum = checksum;
      }
      return c;
    };
  }
};

Status Publish(testing::MemoryBus& bus, ltx::TXID txid, std::optional<WalPosition> wal,
               ltx::Checksum post = 0x8000'0000'0000'0001) {
  PublisherOptions o;
  o.producer = "p/1/1";
  LTXBUS_ASSIGN_OR_RETURN(auto pub, bus.NewPublisher("db", o));
  LTXBUS_RETURN_IF_ERROR(pub->Open().status());
  FrameId id;
  id.database = "db";
  id.min_txid = id.max_txid = txid;
  LTXBUS_ASSIGN_OR_RETURN(auto w, pub->BeginFrame(id));
  LTXBUS_RETURN_IF_ERROR(w->Append(AsBytes(std::string_view("frame"))));
  FrameTrailer t;
  t.frame_size = 5;
  t.post_apply = post;
  t.wal = wal;
  return w->Commit(t).status();
}

TEST(SyncWaitTest, ReturnsOnceTheProducerPublishedThePoint) {
  testing::MemoryBus bus;
  ASSERT_TRUE(Publish(bus, 1, At(7, 9, 5)).ok());
  FakeDatabase db;
  db.state = Wal(7, 9, 12);
  // The producer catches up while sync looks: frames 5..8, then 9..12.
  db.on_read = [&](int n) {
    if (n == 3) {
      EXPECT_TRUE(Publish(bus, 2, At(7, 9, 9)).ok());
    }
    if (n == 6) {
      EXPECT_TRUE(Publish(bus, 3, At(7, 9, 13)).ok());
    }
  };
  auto r = WaitForSync(bus, "db", db.Reader(), {.timeout = 10s, .poll_interval = 5ms});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->verdict.covered);
  EXPECT_EQ(r->frame->id.max_txid, 3u);
  EXPECT_GE(db.reads, 6);
  EXPECT_EQ(db.checksum_reads, 0) << "the whole file was read for nothing";
}

TEST(SyncWaitTest, TimesOutNamingBothPositions) {
  testing::MemoryBus bus;
  ASSERT_TRUE(Publish(bus, 4, At(7, 9, 5)).ok());
  FakeDatabase db;
  db.state = Wal(7, 9, 12);
  auto r = WaitForSync(bus, "db", db.Reader(), {.timeout = 50ms, .poll_interval = 5ms});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kTimeout);
  EXPECT_THAT(r.status().message(), HasSubstr("committed up to frame 12"));
  EXPECT_THAT(r.status().message(), HasSubstr("0000000000000004"));
  EXPECT_THAT(r.status().message(), HasSubstr("up to frame 4"));
  EXPECT_THAT(r.status().message(), HasSubstr("ltxbus replicate"));
}

TEST(SyncWaitTest, AQuiescentDatabaseIsSettledByItsChecksum) {
  testing::MemoryBus bus;
  ASSERT_TRUE(Publish(bus, 4, At(7, 9, 5), 0x8000'0000'0000'0042).ok());
  FakeDatabase db;
  db.state = Wal(8, 1, 0);  // restarted, nothing in it yet
  db.checksum = 0x8000'0000'0000'0042;
  auto r = CheckSync(bus, "db", db.Reader());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->verdict.covered) << r->verdict.why;
  EXPECT_EQ(db.checksum_reads, 1);
  // Not the same state: not covered, and the status says where both stand.
  db.checksum = 0x8000'0000'0000'0043;
  auto no = CheckSync(bus, "db", db.Reader());
  ASSERT_TRUE(no.ok());
  EXPECT_FALSE(no->verdict.covered);
}

TEST(SyncWaitTest, ErrorsTakingThePointAreReturned) {
  testing::MemoryBus bus;
  LocalReader broken = [](bool) -> Result<LocalCommits> {
    return Status::NotFound("database x does not exist");
  };
  auto r = WaitForSync(bus, "db", broken, {.timeout = 1s, .poll_interval = 5ms});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kNotFound);
}

}  // namespace
}  // namespace ltxbus::bus
