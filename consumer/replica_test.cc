// The replica writer on its own: frames from a real WAL-mode source applied
// through sqlite_dbpage, verified before any page is written, batches that
// grow and shrink, and a replica someone else wrote.
#include "consumer/replica.h"

#include <gtest/gtest.h>

#include "consumer/follower_test_util.h"
#include "tests/support/sqlite_pages.h"
#include "tests/support/temp_dir.h"

namespace ltxbus::consumer {
namespace {

using testing::SourceSim;
using testing::TestFrame;

constexpr const char* kFill =
    "INSERT INTO t(v) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<{}) "
    "SELECT randomblob(1500) FROM n";

class ReplicaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = std::make_unique<SourceSim>(dir_.Join("source.db"), "source.db");
    source_->Exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB); CREATE INDEX tv ON t(v);");
    source_->Exec(fmt::format(kFill, 40));
    options_.path = dir_.Join("replica.db");
  }

  std::unique_ptr<Replica> CreateWithSnapshot() {
    TestFrame snap = source_->Next();
    auto r = Replica::Create(options_, 4096);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return nullptr;
    ApplyBatch(**r, {snap});
    return std::move(*r);
  }

  // Applies `frames` as one transaction.
  static void ApplyBatch(Replica& r, const std::vector<TestFrame>& frames) {
    Status begun = r.Begin();
    ASSERT_TRUE(begun.ok()) << begun.ToString();
    for (const TestFrame& f : frames) {
      SpanSource a(AsBytes(f.bytes)), b(AsBytes(f.bytes));
      auto h = r.Verify(&a);
      ASSERT_TRUE(h.ok()) << h.status().ToString();
      ASSERT_TRUE(r.Fits(*h));
      Status s = r.Apply(&b);
      ASSERT_TRUE(s.ok()) << s.ToString();
    }
    Status s = r.Commit();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  static Status VerifyBytes(Replica& r, const std::string& bytes) {
    SpanSource src(AsBytes(bytes));
    return r.Verify(&src).status();
  }

  testing::TempDir dir_;
  std::unique_ptr<SourceSim> source_;
  ReplicaOptions options_;
};

TEST_F(ReplicaTest, AppliesASnapshotThenGrowthAndShrink) {
  auto r = CreateWithSnapshot();
  ASSERT_NE(r, nullptr);
  testing::ExpectReplicaHolds(options_.path, source_->pages());
  for (int round = 0; round < 6; round++) {
    source_->Exec(fmt::format(kFill, 30 + 10 * round));  // growth
    ApplyBatch(*r, {source_->Next()});
    source_->Exec("UPDATE t SET v = randomblob(1500) WHERE id % 7 = 0");
    ApplyBatch(*r, {source_->Next()});
    source_->Exec("DELETE FROM t WHERE id % 3 != 0");
    source_->Exec("VACUUM");  // shrink
    ApplyBatch(*r, {source_->Next()});
    testing::ExpectReplicaHolds(options_.path, source_->pages());
  }
  EXPECT_EQ(r->state().checksum, testing::ChecksumOf(source_->pages()));
  EXPECT_EQ(r->state().page_count, source_->pages().size());
  auto ro = sqlite::Database::Open(options_.path, sqlite::Database::Mode::kReadOnly);
  ASSERT_TRUE(ro.ok());
  EXPECT_EQ(*ro->QueryText("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(*ro->QueryText("PRAGMA journal_mode"), "wal");
}

// Frames larger than decoded_frame_bytes are decoded again by Apply instead
// of written from Verify's copy: the same pages and checksums either way.
TEST_F(ReplicaTest, FramesOverTheDecodedLimitAreDecodedTwice) {
  for (const size_t limit : {size_t{0}, size_t{3} * 4096}) {
    SCOPED_TRACE(limit);
    options_.decoded_frame_bytes = limit;
    options_.path = dir_.Join(fmt::format("replica-{}.db", limit));
    source_ = std::make_unique<SourceSim>(dir_.Join(fmt::format("source-{}.db", limit)), "s.db");
    source_->Exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
    source_->Exec(fmt::format(kFill, 40));
    auto r = CreateWithSnapshot();
    ASSERT_NE(r, nullptr);
    for (int round = 0; round < 3; round++) {
      source_->Exec("UPDATE t SET v = randomblob(1500) WHERE id = 3");  // a frame of 2 pages
      TestFrame small = source_->Next();
      source_->Exec(fmt::format(kFill, 30));  // of many
      ApplyBatch(*r, {small, source_->Next()});
      source_->Exec("DELETE FROM t WHERE id % 2 = 0");
      source_->Exec("VACUUM");
      ApplyBatch(*r, {source_->Next()});
      testing::ExpectReplicaHolds(options_.path, source_->pages());
    }
    EXPECT_EQ(r->state().checksum, testing::ChecksumOf(source_->pages()));
  }
}

// The page checksums a rolled-back batch wrote, grew or shrank are forgotten:
// the same frames verify again afterwards, against the committed pages.
TEST_F(ReplicaTest, ARolledBackBatchLeavesThePageChecksumsAsTheyWere) {
  auto r = CreateWithSnapshot();
  ASSERT_NE(r, nullptr);
  const testing::Pages before = source_->pages();
  source_->Exec("UPDATE t SET v = randomblob(1500) WHERE id % 5 = 0");
  TestFrame update = source_->Next();
  source_->Exec(fmt::format(kFill, 25));
  TestFrame grow = source_->Next();
  source_->Exec("DELETE FROM t WHERE id > 10");
  source_->Exec("VACUUM");
  TestFrame shrink = source_->Next();
  ASSERT_LT(shrink.state.size(), before.size());

  ASSERT_TRUE(r->Begin().ok());
  for (const TestFrame* f : {&update, &grow}) {
    SpanSource a(AsBytes(f->bytes)), b(AsBytes(f->bytes));
    ASSERT_TRUE(r->Verify(&a).ok());
    ASSERT_TRUE(r->Apply(&b).ok());
  }
  r->Rollback();
  testing::ExpectReplicaHolds(options_.path, before);
  EXPECT_EQ(r->state().page_count, before.size());

  ApplyBatch(*r, {update});
  ASSERT_TRUE(r->Begin().ok());
  SpanSource a(AsBytes(grow.bytes)), b(AsBytes(grow.bytes));
  ASSERT_TRUE(r->Verify(&a).ok());
  ASSERT_TRUE(r->Apply(&b).ok());
  r->Rollback();
  ApplyBatch(*r, {grow, shrink});
  testing::ExpectReplicaHolds(options_.path, source_->pages());
  EXPECT_EQ(r->state().checksum, testing::ChecksumOf(source_->pages()));
}

TEST_F(ReplicaTest, BatchesShrinkOnlyBelowTheirStartingSize) {
  auto r = CreateWithSnapshot();
  ASSERT_NE(r, nullptr);
  const uint32_t start = r->state().page_count;
  // Grow, then shrink to below the starting size: one transaction.
  source_->Exec(fmt::format(kFill, 60));
  TestFrame grow = source_->Next();
  source_->Exec("DELETE FROM t WHERE id > 5");
  source_->Exec("VACUUM");
  TestFrame shrink = source_->Next();
  ASSERT_LT(shrink.state.size(), start);
  ApplyBatch(*r, {grow, shrink});
  testing::ExpectReplicaHolds(options_.path, source_->pages());

  // Grow, then shrink to between the starting and the grown size: the
  // shrinking frame must start a new transaction.
  source_->Exec(fmt::format(kFill, 80));
  TestFrame grow2 = source_->Next();
  source_->Exec("DELETE FROM t WHERE id > (SELECT max(id) - 40 FROM t)");
  source_->Exec("VACUUM");
  TestFrame shrink2 = source_->Next();
  const uint32_t before = r->state().page_count;
  ASSERT_GE(shrink2.state.size(), before);
  ASSERT_LT(shrink2.state.size(), grow2.state.size());
  ASSERT_TRUE(r->Begin().ok());
  SpanSource a(AsBytes(grow2.bytes)), b(AsBytes(grow2.bytes));
  ASSERT_TRUE(r->Verify(&a).ok());
  ASSERT_TRUE(r->Apply(&b).ok());
  SpanSource c(AsBytes(shrink2.bytes));
  auto h = r->Verify(&c);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_FALSE(r->Fits(*h));
  ASSERT_TRUE(r->Commit().ok());
  ApplyBatch(*r, {shrink2});
  testing::ExpectReplicaHolds(options_.path, source_->pages());
}

TEST_F(ReplicaTest, VerifyRejectsBadFramesAndWritesNothing) {
  auto r = CreateWithSnapshot();
  ASSERT_NE(r, nullptr);
  const testing::Pages before = source_->pages();
  source_->Exec(fmt::format(kFill, 5));
  TestFrame good = source_->Next();

  // Another database's frame: its pre-apply checksum is not ours.
  SourceSim other(dir_.Join("other.db"), "other.db");
  other.Exec("CREATE TABLE x(a)");
  other.Next();
  other.Exec("INSERT INTO x VALUES(1)");
  TestFrame foreign = other.Next();

  ltx::Header h;
  h.flags = 0;
  h.page_size = 4096;
  h.commit = good.state.rbegin()->first;
  h.min_txid = h.max_txid = good.id.max_txid;
  h.timestamp_ms = 1;
  h.pre_apply_checksum = good.id.pre_apply;
  testing::Pages changed = {{2, good.state.at(2)}};
  // Claims a post-apply checksum the pages do not give.
  const std::string lying = testing::EncodeLtx(h, changed, good.trailer.post_apply);
  // Page 1 in rollback-journal mode.
  testing::Pages p1 = {{1, good.state.at(1)}};
  p1[1][18] = p1[1][19] = 1;
  testing::Pages after_p1 = before;
  after_p1[1] = p1[1];
  h.commit = before.rbegin()->first;
  const std::string rollback_mode = testing::EncodeLtx(h, p1, testing::ChecksumOf(after_p1));
  // No checksums.
  ltx::Header nh = h;
  nh.flags = ltx::kHeaderFlagNoChecksum;
  nh.pre_apply_checksum = 0;
  const std::string unchecked = testing::EncodeLtx(nh, changed, 0);
  // Flipped bytes.
  std::string corrupt = good.bytes;
  corrupt[corrupt.size() / 2] ^= 0x5a;

  ASSERT_TRUE(r->Begin().ok());
  for (const auto& [what, bytes] :
       std::vector<std::pair<std::string, std::string>>{{"foreign", foreign.bytes},
                                                        {"lying post-apply", lying},
                                                        {"rollback-mode page 1", rollback_mode},
                                                        {"no checksums", unchecked},
                                                        {"corrupt", corrupt}}) {
    Status s = VerifyBytes(*r, bytes);
    EXPECT_FALSE(s.ok()) << what;
    EXPECT_EQ(s.code(), Status::Code::kCorruption) << what << ": " << s.ToString();
    EXPECT_EQ(r->state().txid, good.id.max_txid - 1) << what;
  }
  SpanSource a(AsBytes(good.bytes));
  ASSERT_TRUE(r->Verify(&a).ok());
  r->Rollback();
  testing::ExpectReplicaHolds(options_.path, before);
  ApplyBatch(*r, {good});
  testing::ExpectReplicaHolds(options_.path, source_->pages());
}

TEST_F(ReplicaTest, ScanFindsTheSourceChecksumAgain) {
  auto r = CreateWithSnapshot();
  ASSERT_NE(r, nullptr);
  source_->Exec(fmt::format(kFill, 10));
  ApplyBatch(*r, {source_->Next()});
  const SourceState st = r->state();
  r.reset();
  auto again = Replica::Open(options_);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  auto scan = (*again)->Scan();
  ASSERT_TRUE(scan.ok()) << scan.status().ToString();
  EXPECT_EQ(scan->SourceChecksum(TakePage1Tail(st.page1)), st.checksum);
  // The tail is what tells the two states apart.
  Page1Tail other = TakePage1Tail(st.page1);
  other[3] ^= 1;
  EXPECT_NE(scan->SourceChecksum(other), st.checksum);
  ReplicaPosition pos{st.txid, st.checksum, 0, st.timestamp_ms, TakePage1Tail(st.page1)};
  ASSERT_TRUE((*again)->Adopt(pos, *scan).ok());
  source_->Exec("DELETE FROM t WHERE id < 20");
  ApplyBatch(**again, {source_->Next()});
  testing::ExpectReplicaHolds(options_.path, source_->pages());
}

TEST_F(ReplicaTest, OwnCommitsAndCheckpointsAreNotMistakenForAnotherWriter) {
  options_.checkpoint_frames = 2;
  options_.truncate_wal_bytes = 40 * 4096;
  auto r = CreateWithSnapshot();
  ASSERT_NE(r, nullptr);
  for (int i = 0; i < 10; i++) {
    source_->Exec(fmt::format(kFill, 5 + i));
    ApplyBatch(*r, {source_->Next()});
    if (i % 3 == 0) {
      auto done = r->TruncateCheckpoint();
      ASSERT_TRUE(done.ok()) << done.status().ToString();
      EXPECT_TRUE(*done);
    }
  }
  testing::ExpectReplicaHolds(options_.path, source_->pages());
}

TEST_F(ReplicaTest, RefusesToWriteAfterAnotherWriter) {
  auto r = CreateWithSnapshot();
  ASSERT_NE(r, nullptr);
  {
    auto other = sqlite::Database::Open(options_.path, sqlite::Database::Mode::kReadWrite);
    ASSERT_TRUE(other.ok());
    ASSERT_TRUE(other->Exec("INSERT INTO t(v) VALUES(x'00')").ok());
  }
  Status s = r->Begin();
  EXPECT_EQ(s.code(), Status::Code::kConflict) << s.ToString();
  EXPECT_NE(s.message().find("another process"), std::string::npos) << s.ToString();
  EXPECT_FALSE(r->in_transaction());
}

TEST_F(ReplicaTest, RefusesAReplicaNotInWalMode) {
  {
    auto db = sqlite::Database::Open(options_.path, sqlite::Database::Mode::kReadWriteCreate);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->Exec("CREATE TABLE x(a)").ok());
  }
  auto r = Replica::Open(options_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("not in WAL mode"), std::string::npos)
      << r.status().ToString();
  auto c = Replica::Create(options_, 4096);
  EXPECT_FALSE(c.ok());
}

// Schema changes rewrite sqlite_master's pages under the follower. A
// connection that had read the schema through the b-tree layer would see
// those pages with stale decoded headers ("database disk image is
// malformed"); the follower reads only through its separate reader.
TEST_F(ReplicaTest, SchemaChangesInBatchesAfterAReopen) {
  std::string ddl;
  for (int i = 0; i < 60; i++) {
    ddl += fmt::format(
        "CREATE TABLE wide_{0}(a_rather_long_column_name_{0} INTEGER, "
        "another_long_column_name_{0} TEXT, yet_another_column_{0} BLOB);",
        i);
  }
  source_->Exec(ddl);
  auto r = CreateWithSnapshot();
  ASSERT_NE(r, nullptr);
  for (int round = 0; round < 3; round++) {
    const SourceState st = r->state();
    r.reset();
    auto again = Replica::Open(options_);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    auto scan = (*again)->Scan();
    ASSERT_TRUE(scan.ok()) << scan.status().ToString();
    ASSERT_EQ(scan->SourceChecksum(TakePage1Tail(st.page1)), st.checksum);
    ReplicaPosition pos{st.txid, st.checksum, 0, st.timestamp_ms, TakePage1Tail(st.page1)};
    ASSERT_TRUE((*again)->Adopt(pos, *scan).ok());
    r = std::move(*again);
    for (int batch = 0; batch < 3; batch++) {
      std::vector<TestFrame> frames;
      for (int i = 0; i < 4; i++) {
        const int t = round * 20 + batch * 4 + i;
        source_->Exec(fmt::format("DROP TABLE wide_{0}; CREATE INDEX ix_{0} ON t(v, id);", t));
        frames.push_back(source_->Next());
        source_->Exec(fmt::format(kFill, 2));
        frames.push_back(source_->Next());
      }
      ApplyBatch(*r, frames);
      testing::ExpectReplicaHolds(options_.path, source_->pages());
    }
  }
  auto ro = sqlite::Database::Open(options_.path, sqlite::Database::Mode::kReadOnly);
  ASSERT_TRUE(ro.ok());
  EXPECT_EQ(*ro->QueryText("PRAGMA integrity_check"), "ok");
}

}  // namespace
}  // namespace ltxbus::consumer
