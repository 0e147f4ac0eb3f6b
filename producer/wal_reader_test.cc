// WalReader against real WALs written by the private SQLite: every committed
// transaction is found, and replaying each one's last page images over the
// database file reproduces the pages SQLite reports after that commit. Also:
// corruption, torn tails, frames past mxFrame, restarts, and the synthetic
// cases a real workload cannot force. (Both checksum byte orders are checked
// against SQLite in wal_format_test.cc.)
#include "producer/wal_reader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/endian.h"
#include "base/env.h"
#include "ltx/ltx.h"
#include "producer/wal_index.h"
#include "sqlite/database.h"
#include "tests/support/temp_dir.h"

namespace ltxbus::producer {
namespace {

using sqlite::Database;
using Pages = std::map<uint32_t, std::vector<uint8_t>>;
constexpr uint32_t kPageSize = 1024;

// A RandomAccessFile over bytes in memory, optionally failing reads.
class MemFile final : public RandomAccessFile {
 public:
  explicit MemFile(std::vector<uint8_t> data) : data_(std::move(data)) {}
  Status ReadAt(uint64_t off, std::span<uint8_t> dst) const override {
    if (off + dst.size() > fail_from_) return Status::IOError("injected read failure at {}", off);
    if (off > data_.size() || dst.size() > data_.size() - off) {
      return Status::IOError("short read at {}", off);
    }
    std::memcpy(dst.data(), data_.data() + off, dst.size());
    return Status::OK();
  }
  Result<uint64_t> Size() const override { return uint64_t{data_.size()}; }
  uint64_t fail_from_ = UINT64_MAX;

 private:
  std::vector<uint8_t> data_;
};

WalReader MemReader(std::vector<uint8_t> bytes, uint64_t fail_from = UINT64_MAX) {
  auto f = std::make_unique<MemFile>(std::move(bytes));
  f->fail_from_ = fail_from;
  return WalReader(std::move(f));
}

std::vector<uint8_t> ReadBytes(const std::string& path) {
  auto s = ReadFileToString(Env::Default(), path);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::vector<uint8_t>(s->begin(), s->end()) : std::vector<uint8_t>{};
}

// Reads transactions from `pos` until one read stops.
struct Scan {
  std::vector<WalTransaction> txns;
  WalStopInfo stop;
  WalPosition end;
};
Scan ReadAll(const WalReader& r, WalPosition pos, uint32_t max_frame) {
  Scan s;
  for (;;) {
    auto res = r.Next(pos, max_frame);
    EXPECT_TRUE(res.ok()) << res.status().ToString();
    if (!res.ok()) break;
    if (!res->txn) {
      s.stop = res->stop;
      break;
    }
    EXPECT_EQ(res->txn->begin, pos);
    pos = res->txn->end;
    s.txns.push_back(std::move(*res->txn));
  }
  s.end = pos;
  return s;
}

WalPosition StartOf(const WalReader& r) {
  auto s = r.Start();
  EXPECT_TRUE(s.ok() && s->position) << (s.ok() ? s->stop.detail : s.status().ToString());
  return s.ok() && s->position ? *s->position : WalPosition{};
}

class RealWalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_path_ = dir_.Join("app.db");
    wal_path_ = db_path_ + "-wal";
    {
      auto db = Database::Open(db_path_, Database::Mode::kReadWriteCreate);
      ASSERT_TRUE(db.ok()) << db.status().ToString();
      ASSERT_TRUE(db->Exec("PRAGMA page_size=1024; PRAGMA auto_vacuum=INCREMENTAL; "
                           "PRAGMA journal_mode=WAL; "
                           "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB); "
                           "INSERT INTO t(v) VALUES(randomblob(200)), (randomblob(200));")
                      .ok());
    }  // The last close checkpoints and removes the WAL: the file is complete.
    base_ = FilePages(db_path_);
    ASSERT_EQ(base_.size(), 3u);  // schema, pointer map, table t
    auto db = Database::Open(db_path_, Database::Mode::kReadWrite);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_.emplace(std::move(*db));
    Exec("PRAGMA wal_autocheckpoint=0");
  }

  void Exec(const std::string& sql) {
    Status s = db_->Exec(sql);
    ASSERT_TRUE(s.ok()) << sql << ": " << s.ToString();
  }

  // Runs `sql`, which commits exactly one transaction, and records the pages
  // SQLite reports afterwards.
  void Commit(const std::string& sql) {
    Exec(sql);
    expected_.push_back(DbPages());
  }

  Pages DbPages() {
    Pages pages;
    auto st = db_->Prepare("SELECT pgno, data FROM sqlite_dbpage ORDER BY pgno");
    EXPECT_TRUE(st.ok()) << st.status().ToString();
    while (st.ok()) {
      auto row = st->Step();
      EXPECT_TRUE(row.ok()) << row.status().ToString();
      if (!row.ok() || !*row) break;
      auto blob = st->ColumnBlob(1);
      pages[static_cast<uint32_t>(st->ColumnInt64(0))].assign(blob.begin(), blob.end());
    }
    return pages;
  }

  static Pages FilePages(const std::string& path) {
    std::vector<uint8_t> bytes = ReadBytes(path);
    Pages pages;
    for (size_t off = 0; off + kPageSize <= bytes.size(); off += kPageSize) {
      pages[static_cast<uint32_t>(off / kPageSize + 1)].assign(
          bytes.begin() + static_cast<ptrdiff_t>(off),
          bytes.begin() + static_cast<ptrdiff_t>(off + kPageSize));
    }
    return pages;
  }

  WalIndexHeader Index() {
    if (!index_) {
      auto idx = WalIndex::Open(Env::Default(), db_path_ + "-shm");
      EXPECT_TRUE(idx.ok()) << idx.status().ToString();
      index_.emplace(std::move(*idx));
    }
    auto h = index_->Read();
    EXPECT_TRUE(h.ok()) << h.status().ToString();
    return h.ok() ? *h : WalIndexHeader{};
  }

  WalReader Reader() {
    auto r = WalReader::Open(Env::Default(), wal_path_);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return std::move(*r);
  }

  static std::string Rows(int n, int size) {
    return fmt::format(
        "INSERT INTO t(v) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n "
        "WHERE i<{}) SELECT randomblob({}) FROM n",
        n, size);
  }

  // Transactions of every shape: small, the same row updated twice, an
  // overflow chain, growth, a cache spill with pages rewritten after it (one
  // page ends up in two frames), growth and shrink in one spilling
  // transaction (frames for pages past the final size), a rolled-back spill
  // whose frames later commits overwrite, DDL, deletes, and a VACUUM.
  void RunWorkload() {
    Commit("INSERT INTO t(v) VALUES(randomblob(100))");
    Commit(
        "BEGIN; UPDATE t SET v=randomblob(90) WHERE id=1; "
        "UPDATE t SET v=randomblob(80) WHERE id=1; COMMIT");
    Commit("INSERT INTO t(v) VALUES(randomblob(5000))");
    Commit(Rows(300, 300));
    Exec("PRAGMA cache_size=10");
    twice_txn_ = expected_.size();
    Commit(
        "BEGIN; UPDATE t SET v=randomblob(length(v)); UPDATE t SET v=randomblob(length(v)); "
        "COMMIT");
    shrink_txn_ = expected_.size();
    Commit("BEGIN; " + Rows(150, 500) +
           "; DELETE FROM t WHERE id > (SELECT max(id) - 200 FROM t); "
           "PRAGMA incremental_vacuum; COMMIT");
    Exec("BEGIN; " + Rows(200, 500) + "; ROLLBACK");
    Exec("PRAGMA cache_size=-2000");
    Commit("CREATE INDEX tv ON t(substr(v, 1, 8))");
    Commit("DELETE FROM t WHERE id % 3 != 0");
    Commit("VACUUM");
    Commit("INSERT INTO t(v) VALUES(randomblob(50))");
  }

  // Checks layout invariants of consecutive transactions.
  void ExpectWellFormed(const std::vector<WalTransaction>& txns) {
    for (size_t i = 0; i < txns.size(); ++i) {
      const WalTransaction& t = txns[i];
      SCOPED_TRACE(fmt::format("transaction {}", i));
      if (i > 0) {
        EXPECT_EQ(t.begin, txns[i - 1].end);
      }
      EXPECT_EQ(t.page_size, kPageSize);
      EXPECT_GE(t.frame_count(), t.pages.size());
      EXPECT_EQ(t.wal_offset, 32 + uint64_t{t.begin.frame - 1} * (kPageSize + 24));
      EXPECT_EQ(t.wal_size, uint64_t{t.frame_count()} * (kPageSize + 24));
      for (size_t j = 0; j < t.pages.size(); ++j) {
        const WalPage& p = t.pages[j];
        EXPECT_GE(p.pgno, 1u);
        EXPECT_LE(p.pgno, t.commit);
        if (j > 0) {
          EXPECT_LT(t.pages[j - 1].pgno, p.pgno);
        }
        EXPECT_GE(p.offset, t.wal_offset + 24);
        EXPECT_LT(p.offset, t.wal_offset + t.wal_size);
        EXPECT_EQ((p.offset - 32 - 24) % (kPageSize + 24), 0u);
      }
    }
  }

  // Replays `txns` over `state`, checking the result after each against
  // expected_[first + i]: every page 1..commit, byte for byte.
  void ExpectReplayMatches(const WalReader& r, const std::vector<WalTransaction>& txns, Pages state,
                           size_t first) {
    ASSERT_LE(first + txns.size(), expected_.size());
    std::vector<uint8_t> buf(kPageSize);
    for (size_t i = 0; i < txns.size(); ++i) {
      const WalTransaction& t = txns[i];
      for (const WalPage& p : t.pages) {
        ASSERT_TRUE(r.ReadPage(p.offset, buf).ok());
        state[p.pgno] = buf;
      }
      state.erase(state.upper_bound(t.commit), state.end());
      const Pages& want = expected_[first + i];
      ASSERT_EQ(t.commit, want.size()) << "transaction " << i;
      ASSERT_EQ(state.size(), want.size()) << "transaction " << i << " left a gap";
      for (const auto& [pgno, data] : want) {
        ASSERT_TRUE(state[pgno] == data) << "transaction " << i << " page " << pgno;
      }
    }
  }

  testing::TempDir dir_;
  std::string db_path_;
  std::string wal_path_;
  Pages base_;
  std::vector<Pages> expected_;
  size_t twice_txn_ = 0;   // RunWorkload's transaction that writes a page twice
  size_t shrink_txn_ = 0;  // and the one that grows, spills and shrinks
  // Declared before db_ so that it is destroyed after it: closing the -shm
  // descriptor must not drop locks of a connection that is still open.
  std::optional<WalIndex> index_;
  std::optional<Database> db_;
};

TEST_F(RealWalTest, ReplaysEveryCommittedTransaction) {
  RunWorkload();
  const WalIndexHeader idx = Index();
  WalReader r = Reader();
  Scan s = ReadAll(r, StartOf(r), idx.max_frame);
  EXPECT_EQ(s.stop.reason, WalStop::kReachedMaxFrame) << s.stop.detail;
  EXPECT_EQ(s.stop.frame, idx.max_frame + 1);
  ASSERT_EQ(s.txns.size(), expected_.size());
  ExpectWellFormed(s.txns);
  // The cases the workload is there to produce really occurred: a page
  // written twice in one transaction (spilled, then the commit frame), and
  // frames of pages past the new end in a shrinking transaction.
  const WalTransaction& twice = s.txns[twice_txn_];
  EXPECT_GT(twice.frame_count(), twice.pages.size());
  const WalTransaction& shrink = s.txns[shrink_txn_];
  EXPECT_LT(shrink.commit, s.txns[shrink_txn_ - 1].commit);
  const std::vector<uint8_t> wal = ReadBytes(wal_path_);
  int past_commit = 0;
  for (uint32_t f = shrink.begin.frame; f < shrink.end.frame; ++f) {
    const uint64_t off = 32 + uint64_t{f - 1} * (kPageSize + 24);
    past_commit += LoadBE32(&wal[off]) > shrink.commit ? 1 : 0;
  }
  EXPECT_GT(past_commit, 0);
  ExpectReplayMatches(r, s.txns, base_, 0);
  // The workload grew the database and VACUUM shrank it.
  uint32_t peak = 0;
  for (const auto& t : s.txns) peak = std::max(peak, t.commit);
  EXPECT_GT(peak, s.txns[2].commit);
  EXPECT_LT(s.txns[s.txns.size() - 2].commit, s.txns[s.txns.size() - 3].commit);
  // The reader's end is exactly SQLite's view of the WAL.
  EXPECT_EQ(s.end.frame, idx.max_frame + 1);
  EXPECT_EQ(s.end.checksum, idx.frame_checksum);
  EXPECT_EQ(s.txns.back().commit, idx.db_pages);
}

TEST_F(RealWalTest, StopsAtMaxFrameAndResumesThere) {
  Commit("INSERT INTO t(v) VALUES(randomblob(100))");
  Commit(Rows(50, 300));
  Commit("UPDATE t SET v=randomblob(10) WHERE id=2");
  const uint32_t m1 = Index().max_frame;
  Commit(Rows(80, 200));
  Commit("DELETE FROM t WHERE id > 10");
  const WalIndexHeader idx = Index();
  ASSERT_GT(idx.max_frame, m1);

  WalReader r = Reader();
  Scan first = ReadAll(r, StartOf(r), m1);
  EXPECT_EQ(first.stop.reason, WalStop::kReachedMaxFrame);
  ASSERT_EQ(first.txns.size(), 3u);
  EXPECT_EQ(first.end.frame, m1 + 1);

  // Resuming from salts and frame alone (as from an LTX header) recovers the
  // chain from the stored checksum of the previous frame.
  auto resumed = r.ResumeAt(first.end.salt1, first.end.salt2, first.end.frame);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  ASSERT_TRUE(resumed->position) << resumed->stop.detail;
  EXPECT_EQ(*resumed->position, first.end);
  auto checked = r.ResumeAt(first.end);
  ASSERT_TRUE(checked.ok() && checked->position);
  WalPosition wrong = first.end;
  wrong.checksum.s1 ^= 1;
  auto bad = r.ResumeAt(wrong);
  ASSERT_TRUE(bad.ok());
  EXPECT_FALSE(bad->position);
  EXPECT_EQ(bad->stop.reason, WalStop::kPrevFrameMismatch);

  Scan rest = ReadAll(r, *resumed->position, idx.max_frame);
  EXPECT_EQ(rest.stop.reason, WalStop::kReachedMaxFrame);
  ASSERT_EQ(rest.txns.size(), 2u);
  std::vector<WalTransaction> all = first.txns;
  all.insert(all.end(), rest.txns.begin(), rest.txns.end());
  ExpectReplayMatches(r, all, base_, 0);
}

TEST_F(RealWalTest, UncommittedFramesPastMaxFrameAreNeverReturned) {
  RunWorkload();
  // A transaction that spills frames into the WAL and then rolls back: its
  // frames carry the current salts and stay in the file past mxFrame.
  Exec("PRAGMA cache_size=10; BEGIN; " + Rows(200, 500) + "; ROLLBACK");
  const WalIndexHeader idx = Index();
  std::vector<uint8_t> wal = ReadBytes(wal_path_);
  WalReader r = Reader();
  WalPosition start = StartOf(r);
  const uint64_t next_off = 32 + uint64_t{idx.max_frame} * (kPageSize + 24);
  ASSERT_GT(wal.size(), next_off + kPageSize + 24) << "no spilled frames past mxFrame";
  auto spilled =
      WalFrameHeader::Decode(std::span<const uint8_t>(wal).subspan(next_off).first<24>());
  EXPECT_EQ(spilled.salt1, start.salt1);
  EXPECT_EQ(spilled.salt2, start.salt2);

  Scan bounded = ReadAll(r, start, idx.max_frame);
  EXPECT_EQ(bounded.stop.reason, WalStop::kReachedMaxFrame);
  EXPECT_EQ(bounded.txns.size(), expected_.size());
  // Unbounded, the reader walks into the spilled frames but, finding no
  // commit frame, returns nothing more.
  Scan unbounded = ReadAll(r, start, kNoMaxFrame);
  EXPECT_EQ(unbounded.txns.size(), expected_.size());
  EXPECT_GT(unbounded.stop.frame, idx.max_frame);
  EXPECT_NE(unbounded.stop.reason, WalStop::kReachedMaxFrame);
  ExpectReplayMatches(r, unbounded.txns, base_, 0);
}

TEST_F(RealWalTest, BitFlipStopsAtTheFrameAndHidesItsTransaction) {
  RunWorkload();
  const WalIndexHeader idx = Index();
  const std::vector<uint8_t> wal = ReadBytes(wal_path_);
  Scan clean = ReadAll(MemReader(wal), StartOf(MemReader(wal)), idx.max_frame);
  ASSERT_EQ(clean.txns.size(), expected_.size());
  const WalTransaction& victim = clean.txns[3];  // the growth transaction
  ASSERT_GT(victim.frame_count(), 3u);
  const uint32_t frame = victim.begin.frame + 2;
  const uint64_t off = 32 + uint64_t{frame - 1} * (kPageSize + 24);
  // In the page image, in the page number, and in the commit field.
  for (uint64_t pos : {off + 24 + 700, off + 3, off + 4 + 1}) {
    std::vector<uint8_t> bad = wal;
    bad[pos] ^= 0x08;
    WalReader r = MemReader(bad);
    Scan s = ReadAll(r, StartOf(r), idx.max_frame);
    EXPECT_EQ(s.stop.reason, WalStop::kChecksumMismatch) << s.stop.detail;
    EXPECT_EQ(s.stop.frame, frame);
    ASSERT_EQ(s.txns.size(), 3u);
    EXPECT_EQ(s.end, victim.begin);
    for (size_t i = 0; i < 3; ++i) EXPECT_EQ(s.txns[i].pages, clean.txns[i].pages);
  }
}

TEST_F(RealWalTest, TornLastTransactionIsNotReturned) {
  RunWorkload();
  Commit(Rows(40, 600));  // a multi-frame last transaction
  const WalIndexHeader idx = Index();
  const std::vector<uint8_t> wal = ReadBytes(wal_path_);
  WalReader whole = MemReader(wal);
  Scan all = ReadAll(whole, StartOf(whole), idx.max_frame);
  ASSERT_EQ(all.txns.size(), expected_.size());
  const WalTransaction& last = all.txns.back();
  ASSERT_GT(last.frame_count(), 2u);
  const uint64_t frame_size = kPageSize + 24;

  // Cut inside the commit frame, and at the boundary just before it.
  const uint64_t commit_off = last.wal_offset + last.wal_size - frame_size;
  for (uint64_t cut : {commit_off + 24 + 100, commit_off}) {
    std::vector<uint8_t> torn(wal.begin(), wal.begin() + static_cast<ptrdiff_t>(cut));
    WalReader r = MemReader(torn);
    Scan s = ReadAll(r, StartOf(r), kNoMaxFrame);
    ASSERT_EQ(s.txns.size(), expected_.size() - 1);
    EXPECT_EQ(s.end, last.begin);
    EXPECT_EQ(s.stop.reason, cut == commit_off ? WalStop::kEndOfFrames : WalStop::kShortFile)
        << s.stop.detail;
    EXPECT_EQ(s.stop.frame, last.end.frame - 1);
  }
  // A WAL whose header was never finished has no position at all.
  auto start = MemReader(std::vector<uint8_t>(wal.begin(), wal.begin() + 20)).Start();
  ASSERT_TRUE(start.ok());
  EXPECT_FALSE(start->position);
  EXPECT_EQ(start->stop.reason, WalStop::kShortFile);
  std::vector<uint8_t> bad_header = wal;
  bad_header[19] ^= 1;  // salt1
  auto changed = MemReader(bad_header).Next(all.txns[0].begin, kNoMaxFrame);
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(changed->stop.reason, WalStop::kHeaderChanged);
}

TEST_F(RealWalTest, TruncateCheckpointThenWriteIsASaltChange) {
  RunWorkload();
  WalReader r = Reader();
  const WalPosition start = StartOf(r);
  auto old_header = r.Start()->header;
  Scan s = ReadAll(r, start, Index().max_frame);
  ASSERT_EQ(s.txns.size(), expected_.size());

  Exec("PRAGMA wal_checkpoint(TRUNCATE)");
  auto empty = r.Next(s.end, kNoMaxFrame);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->stop.reason, WalStop::kShortFile);  // zero bytes: not even a header

  Commit("INSERT INTO t(v) VALUES(randomblob(100))");
  auto next = r.Next(s.end, kNoMaxFrame);
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->txn);
  EXPECT_EQ(next->stop.reason, WalStop::kSaltMismatch) << next->stop.detail;
  auto resumed = r.ResumeAt(s.end);
  ASSERT_TRUE(resumed.ok());
  EXPECT_EQ(resumed->stop.reason, WalStop::kPrevFrameMismatch);  // the file was truncated

  auto fresh = r.Start();
  ASSERT_TRUE(fresh.ok() && fresh->position);
  EXPECT_EQ(fresh->header.salt1, old_header.salt1 + 1);
  EXPECT_NE(fresh->header.salt2, old_header.salt2);
  EXPECT_EQ(fresh->header.checkpoint_seq, old_header.checkpoint_seq + 1);
  const WalIndexHeader idx = Index();
  EXPECT_EQ(idx.salt1, fresh->header.salt1);
  Scan after = ReadAll(r, *fresh->position, idx.max_frame);
  ASSERT_EQ(after.txns.size(), 1u);
  // The checkpoint put everything in the database file: replay from there.
  ExpectReplayMatches(r, after.txns, FilePages(db_path_), expected_.size() - 1);
}

TEST_F(RealWalTest, RestartInPlaceLeavesOldFramesThatEndTheNewGeneration) {
  RunWorkload();
  WalReader r = Reader();
  Scan s = ReadAll(r, StartOf(r), Index().max_frame);
  ASSERT_EQ(s.txns.size(), expected_.size());
  auto ckpt = db_->QueryText("PRAGMA wal_checkpoint(PASSIVE)");
  ASSERT_TRUE(ckpt.ok());
  Commit("INSERT INTO t(v) VALUES(randomblob(100))");  // restarts the WAL at frame 1

  auto fresh = r.Start();
  ASSERT_TRUE(fresh.ok() && fresh->position);
  EXPECT_EQ(fresh->header.salt1, s.end.salt1 + 1);
  Scan after = ReadAll(r, *fresh->position, kNoMaxFrame);
  ASSERT_EQ(after.txns.size(), 1u);
  EXPECT_EQ(after.stop.reason, WalStop::kEndOfFrames) << after.stop.detail;
  EXPECT_EQ(after.stop.frame, after.end.frame);
  EXPECT_NE(after.stop.detail.find("another WAL generation"), std::string::npos);
  EXPECT_EQ(after.end.frame, Index().max_frame + 1);
  ExpectReplayMatches(r, after.txns, FilePages(db_path_), expected_.size() - 1);

  // The old end: the frame before it still has the old salts (intact), but
  // the header has new ones.
  auto old_next = r.Next(s.end, kNoMaxFrame);
  ASSERT_TRUE(old_next.ok());
  EXPECT_EQ(old_next->stop.reason, WalStop::kSaltMismatch);
  auto old_end = r.ResumeAt(s.end);
  ASSERT_TRUE(old_end.ok());
  EXPECT_EQ(old_end->stop.reason, WalStop::kSaltMismatch) << old_end->stop.detail;
  // An old position early in the file: its previous frame was overwritten.
  auto early = r.ResumeAt(s.txns[1].begin);
  ASSERT_TRUE(early.ok());
  EXPECT_EQ(early->stop.reason, WalStop::kPrevFrameMismatch) << early->stop.detail;
}

TEST_F(RealWalTest, ReadFailuresAreErrorsNotStops) {
  RunWorkload();
  const std::vector<uint8_t> wal = ReadBytes(wal_path_);
  WalReader r = MemReader(wal, 32 + 5 * uint64_t{kPageSize + 24});
  auto res = r.Next(StartOf(r), kNoMaxFrame);
  ASSERT_TRUE(res.ok());  // the first transaction ends before the failure
  ASSERT_TRUE(res->txn);
  Status failed = Status::OK();
  WalPosition pos = res->txn->end;
  for (int i = 0; i < 100 && failed.ok(); ++i) {
    auto n = r.Next(pos, kNoMaxFrame);
    if (!n.ok())
      failed = n.status();
    else if (n->txn)
      pos = n->txn->end;
    else
      break;
  }
  EXPECT_EQ(failed.code(), Status::Code::kIOError) << failed.ToString();
  EXPECT_NE(failed.message().find("injected"), std::string::npos);
}

// Synthetic WALs for what SQLite's writer does not produce on demand.
class WalBuilder {
 public:
  explicit WalBuilder(uint32_t page_size) {
    header_.page_size = page_size;
    header_.salt1 = 0x11111111;
    header_.salt2 = 0x22222222;
    bytes_.resize(kWalHeaderSize);
    header_.EncodeTo(std::span<uint8_t>(bytes_).first<kWalHeaderSize>());
    chain_ = header_.checksum;
  }
  // Appends a frame for `pgno` whose bytes are all `fill`.
  void Frame(uint32_t pgno, uint8_t fill, uint32_t commit = 0) {
    std::vector<uint8_t> page(header_.page_size, fill);
    std::array<uint8_t, kWalFrameHeaderSize> fh_bytes{};
    WalFrameHeader fh{pgno, commit, header_.salt1, header_.salt2, {}};
    fh.EncodeTo(fh_bytes);
    chain_ = WalFrameChecksum(header_.big_endian_checksums(), chain_, fh_bytes, page);
    fh.checksum = chain_;
    fh.EncodeTo(fh_bytes);
    bytes_.insert(bytes_.end(), fh_bytes.begin(), fh_bytes.end());
    bytes_.insert(bytes_.end(), page.begin(), page.end());
  }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  WalHeader header_;
  WalChecksum chain_;
  std::vector<uint8_t> bytes_;
};

uint8_t FirstByteOf(const WalReader& r, const WalPage& p) {
  std::array<uint8_t, 1> b{};
  EXPECT_TRUE(r.ReadPage(p.offset, b).ok());
  return b[0];
}

TEST(WalReaderSyntheticTest, KeepsTheLastImageDropsPagesPastCommitAndTheLockPage) {
  constexpr uint32_t kSmall = 512;
  const uint32_t lock = ltx::LockPgno(kSmall);
  WalBuilder b(kSmall);
  b.Frame(2, 0xa1);
  b.Frame(7, 0xa7);
  b.Frame(2, 0xb2);     // page 2 again: this image wins
  b.Frame(3, 0xa3, 6);  // commit: the database is now 6 pages, so page 7 goes
  b.Frame(lock, 0xcc);
  b.Frame(lock + 1, 0xdd, lock + 5);
  b.Frame(1, 0xee);  // no commit frame follows
  WalReader r = MemReader(b.bytes());
  Scan s = ReadAll(r, StartOf(r), kNoMaxFrame);
  ASSERT_EQ(s.txns.size(), 2u);
  EXPECT_EQ(s.stop.reason, WalStop::kEndOfFrames);
  EXPECT_EQ(s.stop.frame, 8u);
  EXPECT_EQ(s.end.frame, 7u);

  const WalTransaction& t1 = s.txns[0];
  EXPECT_EQ(t1.commit, 6u);
  EXPECT_EQ(t1.frame_count(), 4u);
  ASSERT_EQ(t1.pages.size(), 2u);
  EXPECT_EQ(t1.pages[0].pgno, 2u);
  EXPECT_EQ(FirstByteOf(r, t1.pages[0]), 0xb2);
  EXPECT_EQ(t1.pages[0].offset, 32 + 2 * uint64_t{kSmall + 24} + 24);
  EXPECT_EQ(t1.pages[1].pgno, 3u);

  const WalTransaction& t2 = s.txns[1];
  EXPECT_EQ(t2.commit, lock + 5);
  ASSERT_EQ(t2.pages.size(), 1u);
  EXPECT_EQ(t2.pages[0].pgno, lock + 1);
  EXPECT_EQ(FirstByteOf(r, t2.pages[0]), 0xdd);

  // A bound in the middle of the second transaction returns only the first.
  Scan bounded = ReadAll(r, StartOf(r), 5);
  ASSERT_EQ(bounded.txns.size(), 1u);
  EXPECT_EQ(bounded.stop.reason, WalStop::kReachedMaxFrame);
  EXPECT_EQ(bounded.stop.frame, 6u);
  EXPECT_EQ(bounded.end, t1.end);
}

TEST(WalReaderSyntheticTest, RejectsFrameIndexZero) {
  WalBuilder b(512);
  b.Frame(1, 1, 1);
  WalReader r = MemReader(b.bytes());
  WalPosition p = StartOf(r);
  p.frame = 0;
  EXPECT_EQ(r.Next(p, kNoMaxFrame).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(r.ResumeAt(p).status().code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace ltxbus::producer
