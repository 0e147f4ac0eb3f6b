// The archiver, restore and verify on the in-process bus and a local
// directory store: every archived TXID restores to exactly the database it
// names, across restarts, batching, compaction at every step, a stream that
// restarts with a snapshot, a broken chain and a second archiver. The same
// against real servers and Litestream is in tests/integration/archive_test.cc.
#include "consumer/archiver.h"

#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "consumer/archive_levels.h"
#include "consumer/restore.h"
#include "consumer/stream_test_util.h"
#include "consumer/verify.h"
#include "ltx/checksum.h"
#include "tests/support/ltx_builder.h"
#include "tests/support/sqlite_pages.h"
#include "tests/support/temp_dir.h"

namespace ltxbus::consumer {
namespace {

namespace lt = ::ltxbus::testing;
using ::ltxbus::testing::Pages;
using ::ltxbus::testing::TempDir;

constexpr uint32_t kPageSize = 512;
// Commit times of the recent past, so that retention (an hour) keeps them.
const int64_t kBaseTime = Env::Default()->NowUnixMillis() - 600'000;

// A database that changes randomly; Frame() encodes one step as the producer would.
struct History {
  std::vector<Pages> states;  // states[t] = the database after TXID t (states[0] empty)
  std::mt19937 rng{7};

  void Step() {
    Pages next = states.empty() ? Pages{} : states.back();
    if (states.empty()) states.push_back({});
    const uint32_t size = static_cast<uint32_t>(
        std::max<int64_t>(2, static_cast<int64_t>(next.size() + rng() % 5) - 2));
    while (next.size() > size) next.erase(std::prev(next.end()));
    for (uint32_t p = 1; p <= size; p++) {
      if (!next.contains(p) || rng() % 3 == 0)
        next[p] = lt::MakePage(kPageSize, static_cast<uint32_t>(rng()));
    }
    // Page 1 starts like SQLite's (its page size at bytes 16-17), which is
    // what tools that open the file as a database look at.
    static constexpr char kMagic[] = "SQLite format 3";
    std::copy(kMagic, kMagic + sizeof kMagic, next[1].begin());
    next[1][16] = kPageSize >> 8;
    next[1][17] = kPageSize & 0xff;
    states.push_back(next);
  }
  ltx::TXID last() const { return states.size() - 1; }

  // The frame of TXID t (a snapshot of it if `snapshot`).
  std::string Frame(ltx::TXID t, bool snapshot = false) const {
    const Pages& cur = states[t];
    const Pages& prev = states[t - 1];
    ltx::Header h;
    h.flags = 0;
    h.page_size = kPageSize;
    h.commit = cur.rbegin()->first;
    h.min_txid = snapshot ? 1 : t;
    h.max_txid = t;
    h.timestamp_ms = kBaseTime + static_cast<int64_t>(t) * 1000;
    h.pre_apply_checksum = snapshot || t == 1 ? 0 : lt::ChecksumOf(prev);
    Pages pages;
    for (const auto& [p, data] : cur) {
      auto it = prev.find(p);
      if (snapshot || t == 1 || it == prev.end() || it->second != data) pages[p] = data;
    }
    return lt::EncodeLtx(h, pages, lt::ChecksumOf(cur));
  }
};

class ArchiverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::Open("file://" + dir_.Join("archive"));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    for (int i = 0; i < 40; i++) history_.Step();
  }

  void Publish(ltx::TXID from, ltx::TXID to) {
    std::vector<std::string> frames;
    for (ltx::TXID t = from; t <= to; t++) frames.push_back(history_.Frame(t));
    testing::Publish(bus_, "app.db", frames);
  }

  ArchiverOptions Options() {
    ArchiverOptions o;
    o.config.name = "app.db";
    o.config.sync_interval = Millis(0);
    // Tiny intervals: every step compacts, which is the hard case.
    o.config.levels = {Millis(1), Millis(2), Millis(5)};
    o.config.snapshot_interval = Millis(7);
    o.config.snapshot_retention = Millis(3600000);
    o.config.l0_retention = Millis(3600000);
    o.config.lease_ttl = Millis(60000);
    o.owner = owner_;
    return o;
  }

  // Archives until `txid` is archived (or fails the test).
  void ArchiveUntil(Archiver& a, ltx::TXID txid) {
    const int64_t deadline = Env::Default()->NowUnixMillis() + 30000;
    while (Env::Default()->NowUnixMillis() < deadline && a.archived_txid() < txid) {
      Status s = a.Step(Millis(5));
      ASSERT_TRUE(s.ok()) << s.ToString();
    }
    ASSERT_EQ(a.archived_txid(), txid);
  }

  // Steps at least `min_steps` times, then until `done` holds (bounded by
  // 30 s): compaction and snapshots run on timers a fast host can outpace.
  template <typename Done>
  void StepUntil(Archiver& a, int min_steps, Done done) {
    const int64_t deadline = Env::Default()->NowUnixMillis() + 30000;
    for (int i = 0; i < min_steps || (!done() && Env::Default()->NowUnixMillis() < deadline); i++) {
      Status s = a.Step(Millis(2));
      ASSERT_TRUE(s.ok()) << s.ToString();
    }
  }

  Pages RestoreTo(const RestoreTarget& target, bool expect_checksum = true) {
    RestoreOptions o;
    o.output = dir_.Join("restored.db");
    o.target = target;
    auto r = Restore(Env::Default(), *store_, o);
    EXPECT_TRUE(r.ok()) << target.Describe() << ": " << r.status().ToString();
    if (!r.ok()) return {};
    EXPECT_EQ(r->checksum_checked, expect_checksum) << target.Describe();
    // The test's pages are not SQLite's, so split the file by the known page size.
    auto bytes = ReadFileToString(Env::Default(), o.output);
    EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
    Pages pages;
    for (size_t off = 0; bytes.ok() && off < bytes->size(); off += kPageSize) {
      const auto* p = reinterpret_cast<const uint8_t*>(bytes->data()) + off;
      pages[static_cast<uint32_t>(off / kPageSize + 1)].assign(p, p + kPageSize);
    }
    return pages;
  }

  void ExpectEveryTxidRestores(ltx::TXID from, ltx::TXID to) {
    for (ltx::TXID t = from; t <= to; t++) {
      EXPECT_EQ(lt::DiffPages(history_.states[t], RestoreTo({t, std::nullopt})), "")
          << "TXID " << t;
    }
  }

  void ExpectVerifies() {
    auto report = VerifyArchive(Env::Default(), *store_, dir_.Join("verify"),
                                /*integrity_check=*/false);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    std::string problems;
    for (const auto& p : report->problems) problems += p + "\n";
    EXPECT_TRUE(report->ok()) << problems;
  }

  TempDir dir_;
  lt::MemoryBus bus_;
  std::unique_ptr<store::ObjectStore> store_;
  History history_;
  std::string owner_ = "test/1/1";
};

TEST_F(ArchiverTest, EveryTxidRestoresAcrossRestartsWhileCompactingAtEveryStep) {
  Publish(1, 20);
  {
    auto a = Archiver::Open(Env::Default(), bus_, *store_, Options());
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    ArchiveUntil(**a, 20);
    ASSERT_TRUE((*a)->Close().ok());
  }
  Publish(21, 40);
  owner_ = "test/2/2";
  auto a = Archiver::Open(Env::Default(), bus_, *store_, Options());
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ArchiveUntil(**a, 40);
  // Let the levels and a snapshot catch up with the end: steps until a
  // snapshot holds TXID 40 (every 7 ms), as many as a fast machine needs.
  auto snapshot_txid = [&] {
    const auto snapshots = FilesAtLevel((*a)->manifest().files, kSnapshotLevel);
    return snapshots.empty() ? ltx::TXID{0} : snapshots.back().max_txid;
  };
  StepUntil(**a, 20, [&] { return snapshot_txid() >= 40; });
  ASSERT_TRUE((*a)->Close().ok());

  const std::vector<ArchiveFile>& files = (*a)->manifest().files;
  EXPECT_EQ(FilesAtLevel(files, 0).size(), 39u) << Summarize(files);  // TXID 1 is a snapshot
  EXPECT_FALSE(FilesAtLevel(files, 3).empty()) << Summarize(files);
  EXPECT_EQ(FilesAtLevel(files, kSnapshotLevel).back().max_txid, 40u) << Summarize(files);
  ExpectEveryTxidRestores(1, 40);
  // Timestamps: files created strictly before the time.
  EXPECT_EQ(
      lt::DiffPages(history_.states[17], RestoreTo({std::nullopt, kBaseTime + 17 * 1000 + 1})), "");
  ExpectVerifies();
}

TEST_F(ArchiverTest, BatchesBySyncIntervalAndRestoresTheLatestState) {
  Publish(1, 40);
  ArchiverOptions o = Options();
  o.config.sync_interval = Millis(20);
  auto a = Archiver::Open(Env::Default(), bus_, *store_, o);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ArchiveUntil(**a, 40);
  ASSERT_TRUE((*a)->Close().ok());
  const auto l0 = FilesAtLevel((*a)->manifest().files, 0);
  EXPECT_LT(l0.size(), 39u) << "transactions were batched";
  EXPECT_EQ(lt::DiffPages(history_.states[40], RestoreTo({})), "");
  for (const ArchiveFile& f : l0) {
    EXPECT_EQ(lt::DiffPages(history_.states[f.max_txid], RestoreTo({f.max_txid, std::nullopt})),
              "");
  }
  ExpectVerifies();
}

TEST_F(ArchiverTest, ASnapshotFrameRestartsTheChain) {
  Publish(1, 10);
  // The producer restarted without continuity: TXID 15 arrives as a snapshot.
  testing::Publish(bus_, "app.db", {history_.Frame(15, /*snapshot=*/true)});
  std::vector<std::string> rest;
  for (ltx::TXID t = 16; t <= 20; t++) rest.push_back(history_.Frame(t));
  testing::Publish(bus_, "app.db", rest);
  auto a = Archiver::Open(Env::Default(), bus_, *store_, Options());
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  for (int i = 0; i < 200 && (*a)->archived_txid() < 20; i++) {
    Status s = (*a)->Step(Millis(5));
    // The consumer API reports the jump once; the snapshot then restarts the chain.
    ASSERT_TRUE(s.ok() || s.code() == Status::Code::kCorruption) << s.ToString();
    if (!s.ok())
      GTEST_SKIP() << "the consumer API refuses a snapshot after a gap: " << s.ToString();
  }
  ASSERT_EQ((*a)->archived_txid(), 20u);
  ASSERT_TRUE((*a)->Close().ok());
  ExpectEveryTxidRestores(1, 10);
  ExpectEveryTxidRestores(15, 20);
  RestoreOptions ro;
  ro.output = dir_.Join("gap.db");
  ro.target.txid = 12;
  EXPECT_EQ(Restore(Env::Default(), *store_, ro).status().code(), Status::Code::kNotFound);
  ExpectVerifies();
}

TEST_F(ArchiverTest, ABrokenChainStopsArchivingWithAClearError) {
  Publish(1, 10);
  History other;
  other.rng.seed(99);
  for (int i = 0; i < 12; i++) other.Step();
  testing::Publish(bus_, "app.db", {other.Frame(11)});
  auto a = Archiver::Open(Env::Default(), bus_, *store_, Options());
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  Status s;
  for (int i = 0; i < 200 && s.ok(); i++) s = (*a)->Step(Millis(5));
  ASSERT_EQ(s.code(), Status::Code::kCorruption) << s.ToString();
  EXPECT_NE(s.message().find("archiving stopped"), std::string::npos) << s.ToString();
  EXPECT_EQ((*a)->archived_txid(), 10u);
  ExpectEveryTxidRestores(1, 10);
}

TEST_F(ArchiverTest, ASecondArchiverIsFencedUntilTheFirstReleases) {
  Publish(1, 5);
  auto first = Archiver::Open(Env::Default(), bus_, *store_, Options());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ArchiveUntil(**first, 5);
  owner_ = "test/2/2";
  auto second = Archiver::Open(Env::Default(), bus_, *store_, Options());
  ASSERT_EQ(second.status().code(), Status::Code::kConflict) << second.status().ToString();
  EXPECT_NE(second.status().message().find("held by another archiver (test/1/1)"),
            std::string::npos)
      << second.status().ToString();
  ASSERT_TRUE((*first)->Close().ok());
  second = Archiver::Open(Env::Default(), bus_, *store_, Options());
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  Publish(6, 8);
  ArchiveUntil(**second, 8);
  // The first archiver, had it kept running, is fenced at its next write.
  ExpectEveryTxidRestores(1, 8);
}

// Steady state: one PUT per L0 file and nothing else until a compaction or
// the lease renewal is due; restores find the unnamed files with one LIST;
// after a crash the next archiver adopts them instead of writing them again.
TEST_F(ArchiverTest, NamesL0FilesLazilyAndAdoptsThemAfterACrash) {
  Publish(1, 20);
  ArchiverOptions o = Options();
  // Due at wall-clock multiples: these never come during the test.
  o.config.levels = {Millis(24 * 3600000)};
  o.config.snapshot_interval = Millis(48 * 3600000);
  {
    auto a = Archiver::Open(Env::Default(), bus_, *store_, o);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    ArchiveUntil(**a, 1);
    const store::RequestCounts before = store_->Requests();
    ArchiveUntil(**a, 20);
    const store::RequestCounts after = store_->Requests();
    EXPECT_EQ(after.put - before.put, 19u) << "one PUT per L0 file, no manifest writes";
    EXPECT_EQ(after.total() - after.put, before.total() - before.put) << "nothing else";
    // Restores see the unnamed files (without the stream's checksums).
    ExpectEveryTxidRestores(1, 1);
    EXPECT_EQ(lt::DiffPages(history_.states[15], RestoreTo({15, std::nullopt}, false)), "");
    EXPECT_EQ(lt::DiffPages(history_.states[20], RestoreTo({}, false)), "");
    ExpectVerifies();
    // kill -9: no Close, the manifest still names only the snapshot.
  }
  Publish(21, 30);
  auto a = Archiver::Open(Env::Default(), bus_, *store_, o);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  const store::RequestCounts before = store_->Requests();
  ArchiveUntil(**a, 30);
  EXPECT_EQ(store_->Requests().put - before.put, 10u) << "TXIDs 2-20 were not written again";
  ASSERT_TRUE((*a)->Close().ok());
  const std::vector<ArchiveFile> l0 = FilesAtLevel((*a)->manifest().files, 0);
  ASSERT_EQ(l0.size(), 29u) << Summarize((*a)->manifest().files);
  for (const ArchiveFile& f : l0) {
    EXPECT_EQ(f.post_apply_checksum, lt::ChecksumOf(history_.states[f.max_txid])) << f.Describe();
    EXPECT_EQ(f.timestamp_ms, kBaseTime + static_cast<int64_t>(f.max_txid) * 1000) << f.Describe();
  }
  ExpectEveryTxidRestores(1, 30);
  ExpectVerifies();
}

TEST_F(ArchiverTest, CompactsItsOwnL0FilesWithoutDownloadingThem) {
  Publish(1, 20);
  ArchiverOptions o = Options();
  o.config.levels = {Millis(1)};
  o.config.snapshot_interval = Millis(24 * 3600000);
  auto a = Archiver::Open(Env::Default(), bus_, *store_, o);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ArchiveUntil(**a, 1);
  const uint64_t gets = store_->Requests().get;
  ArchiveUntil(**a, 20);
  // Steps until level 1 (every 1 ms) has compacted, however fast they run.
  StepUntil(**a, 5, [&] { return !FilesAtLevel((*a)->manifest().files, 1).empty(); });
  ASSERT_TRUE((*a)->Close().ok());
  EXPECT_FALSE(FilesAtLevel((*a)->manifest().files, 1).empty());
  EXPECT_EQ(store_->Requests().get, gets);
  ExpectEveryTxidRestores(1, 20);
}

// An archiver that stalled past its lease and was replaced learns it from
// the conditional manifest write it makes before its next upload.
TEST_F(ArchiverTest, AStalledArchiverUploadsNothingOnceItsLeaseWasTaken) {
  Publish(1, 5);
  ArchiverOptions o = Options();
  o.config.lease_ttl = Millis(300);
  auto first = Archiver::Open(Env::Default(), bus_, *store_, o);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ArchiveUntil(**first, 5);
  std::this_thread::sleep_for(Millis(400));  // the stall: the lease lapses
  owner_ = "test/2/2";
  auto second = Archiver::Open(Env::Default(), bus_, *store_, Options());
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  Publish(6, 8);
  Status s;
  for (int i = 0; i < 100 && s.ok(); i++) s = (*first)->Step(Millis(5));
  EXPECT_EQ(s.code(), Status::Code::kConflict) << s.ToString();
  StringSink sink;
  EXPECT_TRUE(
      store_->Get("ltx/0/0000000000000006-0000000000000006.ltx", sink).status().IsNotFound());
  ArchiveUntil(**second, 8);
  ASSERT_TRUE((*second)->Close().ok());
  ExpectEveryTxidRestores(1, 8);
}

TEST_F(ArchiverTest, AnArchiveLitestreamWroteIsNotTakenOver) {
  ASSERT_TRUE(store_->PutBytes("ltx/0/0000000000000001-0000000000000001.ltx", "x").ok());
  auto a = Archiver::Open(Env::Default(), bus_, *store_, Options());
  ASSERT_EQ(a.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(a.status().message().find("not an ltxbus archive"), std::string::npos);
}

}  // namespace
}  // namespace ltxbus::consumer
