// Interop with the real Litestream v0.5.16, direction one: Litestream writes,
// ltxbus reads. `litestream replicate` archives a WAL-mode database that a
// separate process (python3's sqlite3, i.e. the system SQLite) writes to for
// a while; then every LTX file Litestream produced, at every level, must
// decode and verify with ltxbus's decoder, agree with the other levels, and
// rebuild (through `ltxbus ltx apply`) a database whose pages equal the
// source's as SQLite sees them, WAL included. Direction two (ltxbus writes,
// Litestream restores) is litestream_restore_test.cc.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "base/env.h"
#include "tests/integration/litestream_archive.h"
#include "tests/integration/litestream_cli.h"
#include "tests/integration/litestream_workload.h"
#include "tests/support/sqlite_pages.h"
#include "tests/support/temp_dir.h"

namespace ltxbus::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

// Long enough for many L0 files, several L1 compactions and a snapshot.
constexpr int kWriterSeconds = 16;
// Every wait is bounded by one of these.
constexpr auto kStartTimeout = 20s;
constexpr auto kWriterTimeout = 60s;
constexpr auto kQuietPeriod = 2s;  // newest L0 unchanged this long: synced
constexpr auto kSyncTimeout = 30s;
constexpr auto kStopGrace = 15s;

Status WriteTextFile(const std::string& path, const std::string& text) {
  return WriteFileAtomic(Env::Default(), path, AsBytes(text));
}

// The newest L0 TXID in `replica`, 0 if there is none yet.
ltx::TXID NewestL0(const std::string& replica) {
  auto names = Env::Default()->ListDir(replica + "/ltx/0");
  ltx::TXID newest = 0;
  if (!names.ok()) return newest;
  for (const std::string& name : *names) {
    if (auto range = ltx::ParseFilename(name)) newest = std::max(newest, range->second);
  }
  return newest;
}

class LitestreamReplicateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto litestream = FindLitestream();
    ASSERT_TRUE(litestream.ok()) << litestream.status().ToString();
    litestream_ = *litestream;
  }

  // The daemon's and the writer's output, for failure messages.
  std::string Logs() const {
    auto log = ReadFileToString(Env::Default(), dir_.Join("litestream.log"));
    return "--- litestream.log\n" + (log.ok() ? *log : log.status().ToString()) +
           "--- writer output\n" + writer_output_;
  }

  // Fails unless litestream is still running; `when` is for the message.
  void AssertDaemonRunning(const char* when) {
    auto exited = daemon_->Wait(0ms);
    ASSERT_FALSE(exited.ok()) << "litestream exited with " << *exited << " " << when << "\n"
                              << Logs();
    ASSERT_EQ(exited.status().code(), Status::Code::kTimeout) << exited.status().ToString();
  }

  void StartReplication() {
    auto schema = RunOk({SystemSqlite3(), db_, WalSchemaSql()});
    ASSERT_TRUE(schema.ok()) << schema.status().ToString();
    ASSERT_EQ(*schema, "wal\n");
    const std::string config = dir_.Join("litestream.yml");
    ASSERT_TRUE(WriteTextFile(config, ReplicateConfig(db_, replica_)).ok());
    auto proc =
        SpawnLogged({litestream_, "replicate", "-config", config}, dir_.Join("litestream.log"));
    ASSERT_TRUE(proc.ok()) << proc.status().ToString();
    daemon_.emplace(std::move(proc).value());
    // Replicating once the first L0 file (the initial snapshot) is there.
    const auto deadline = Clock::now() + kStartTimeout;
    while (NewestL0(replica_) == 0) {
      ASSERT_NO_FATAL_FAILURE(AssertDaemonRunning("before its first L0 file"));
      ASSERT_LT(Clock::now(), deadline) << "no L0 file after " << kStartTimeout.count() << " s\n"
                                        << Logs();
      std::this_thread::sleep_for(50ms);
    }
    // Litestream ignores unknown keys; its log shows the settings took.
    auto log = ReadFileToString(Env::Default(), dir_.Join("litestream.log"));
    ASSERT_TRUE(log.ok());
    for (const std::string& line : ReplicateConfigEvidence()) EXPECT_THAT(*log, HasSubstr(line));
  }

  void RunWriter() {
    const std::string script = dir_.Join("writer.py");
    ASSERT_TRUE(WriteTextFile(script, WriterScript()).ok());
    ProcessOptions options;
    options.stdout_mode = Stream::kCapture;
    options.merge_stderr = true;
    auto run = RunCommand({"python3", script, db_, std::to_string(kWriterSeconds)}, kWriterTimeout,
                          options);
    ASSERT_TRUE(run.ok()) << run.status().ToString() << "\n" << Logs();
    writer_output_ = run->output;
    ASSERT_EQ(run->exit_code, 0) << Logs();
    ASSERT_NO_FATAL_FAILURE(AssertDaemonRunning("while the writer ran"));
    ASSERT_THAT(writer_output_, HasSubstr("ok ")) << Logs();
  }

  // Waits until Litestream has uploaded everything: the newest L0 TXID stays
  // the same for kQuietPeriod. Then stops it with SIGTERM.
  void SyncAndStop() {
    const auto deadline = Clock::now() + kSyncTimeout;
    ltx::TXID last = NewestL0(replica_);
    auto last_change = Clock::now();
    while (Clock::now() - last_change < kQuietPeriod) {
      ASSERT_LT(Clock::now(), deadline)
          << "L0 still moving after " << kSyncTimeout.count() << " s\n"
          << Logs();
      std::this_thread::sleep_for(100ms);
      if (ltx::TXID now = NewestL0(replica_); now != last) {
        last = now;
        last_change = Clock::now();
      }
    }
    auto code = daemon_->Stop(kStopGrace);
    ASSERT_TRUE(code.ok()) << code.status().ToString();
    EXPECT_EQ(*code, 0) << "litestream did not exit cleanly on SIGTERM\n" << Logs();
  }

  // Rebuilds a database from `plan` with `ltxbus ltx apply` and checks it
  // against the source pages and with the system sqlite3.
  void CheckRebuild(const std::string& name, const std::vector<ArchiveFile>& plan,
                    const Pages& source) {
    SCOPED_TRACE(name + ": " + Summarize(plan));
    const std::string out = dir_.Join(name + ".db");
    Status s = LtxbusApply(out, PathsOf(plan));
    ASSERT_TRUE(s.ok()) << s.ToString();
    auto pages = ReadFilePages(out);
    ASSERT_TRUE(pages.ok()) << pages.status().ToString();
    EXPECT_EQ(DiffPages(source, *pages), "");
    auto integrity = IntegrityCheck(out, dir_.path());
    ASSERT_TRUE(integrity.ok()) << integrity.status().ToString();
    EXPECT_EQ(*integrity, "ok");
  }

  TempDir dir_;
  std::string litestream_;
  std::string db_ = dir_.Join("app.db");
  std::string replica_ = dir_.Join("replica");
  std::string writer_output_;
  // Declared after dir_, so it is killed before the directory is removed.
  std::optional<Process> daemon_;
};

TEST_F(LitestreamReplicateTest, EveryLevelDecodesAndRebuildsTheSource) {
  ASSERT_NO_FATAL_FAILURE(StartReplication());
  ASSERT_NO_FATAL_FAILURE(RunWriter());
  ASSERT_NO_FATAL_FAILURE(SyncAndStop());

  // The source as SQLite sees it now, committed WAL frames included.
  auto source = ReadSqlitePages(db_);
  ASSERT_TRUE(source.ok()) << source.status().ToString();

  auto listed = ListArchive(replica_);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  const std::vector<ArchiveFile>& files = *listed;
  const auto l0 = FilesAtLevel(files, 0);
  const auto l1 = FilesAtLevel(files, 1);
  const auto l9 = FilesAtLevel(files, kSnapshotLevel);
  // Only the configured levels exist: 0, one compaction level, snapshots.
  ASSERT_EQ(l0.size() + l1.size() + l9.size(), files.size()) << Summarize(files);
  ASSERT_GE(l0.size(), 20u) << Summarize(files);
  ASSERT_GE(l1.size(), 2u) << Summarize(files);
  ASSERT_GE(l9.size(), 1u) << Summarize(files);
  // L0 retention is an hour, so every L0 file since TXID 1 is still there.
  for (size_t i = 0; i < l0.size(); ++i) {
    ASSERT_EQ(l0[i].min_txid, i + 1) << l0[i].Describe();
    ASSERT_EQ(l0[i].max_txid, i + 1) << l0[i].Describe();
  }

  // Every file decodes and verifies with ltxbus's decoder; its header agrees
  // with its name and its mtime is its Timestamp. Compacted files and
  // snapshots are kept for the comparisons below.
  std::map<std::string, DecodedFile> decoded;
  bool saw_block_pages = false;
  uint32_t page_size = 0;
  for (const ArchiveFile& f : files) {
    SCOPED_TRACE(f.Describe());
    auto d = DecodeLtxFile(f.path);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    const ltx::Header& h = d->header;
    EXPECT_EQ(h.flags, ltx::kHeaderFlagNoChecksum);
    EXPECT_EQ(h.min_txid, f.min_txid);
    EXPECT_EQ(h.max_txid, f.max_txid);
    EXPECT_EQ(ModTimeMillis(f.path), h.timestamp_ms);
    if (page_size == 0) page_size = h.page_size;
    EXPECT_EQ(h.page_size, page_size);
    saw_block_pages = saw_block_pages || d->block_pages;
    if (f.level != 0) decoded.emplace(f.path, std::move(d).value());
  }
  // v0.5.16 writes ltx v0.5.2 block-compressed pages, so this covers them.
  EXPECT_TRUE(saw_block_pages);

  // The ltxbus CLI verifies each level's chain in TXID order.
  for (const auto* level : {&l0, &l1, &l9}) {
    Status s = LtxbusVerify(PathsOf(*level));
    EXPECT_TRUE(s.ok()) << s.ToString();
  }

  // Replaying L0 in memory: each snapshot equals the database at its
  // MaxTXID, and each L1 file holds exactly the pages its L0 range changed
  // (up to its Commit) with their contents at its MaxTXID.
  Pages image;
  std::map<ltx::TXID, std::set<uint32_t>> changed;  // L0 TXID -> pgnos
  std::vector<uint32_t> commits;
  size_t compared = 0;
  for (const ArchiveFile& f : l0) {
    auto d = DecodeLtxFile(f.path);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    ApplyToImage(*d, &image);
    commits.push_back(d->header.commit);
    for (const auto& entry : d->pages) changed[f.max_txid].insert(entry.first);
    for (const ArchiveFile& c : files) {
      if (c.level == 0 || c.max_txid != f.max_txid) continue;
      SCOPED_TRACE(c.Describe());
      const DecodedFile& cd = decoded.at(c.path);
      ASSERT_EQ(cd.header.commit, d->header.commit);
      Pages want;
      if (c.level == kSnapshotLevel) {
        want = image;
      } else {
        for (ltx::TXID t = c.min_txid; t <= c.max_txid; ++t) {
          for (uint32_t pgno : changed[t]) {
            if (pgno <= cd.header.commit) want[pgno] = image.at(pgno);
          }
        }
      }
      EXPECT_EQ(DiffPages(want, cd.pages), "");
      ++compared;
    }
  }
  EXPECT_EQ(compared, l1.size() + l9.size());
  EXPECT_EQ(DiffPages(*source, image), "") << "L0 replay differs from the source";
  // The workload grew the file and VACUUM shrank it; Commit must show both.
  ASSERT_FALSE(commits.empty());
  EXPECT_GT(*std::max_element(commits.begin(), commits.end()), commits.front());
  EXPECT_TRUE(std::adjacent_find(commits.begin(), commits.end(),
                                 [](uint32_t a, uint32_t b) { return b < a; }) != commits.end())
      << "no L0 file shrank the database";

  // Rebuilds with `ltxbus ltx apply`, one per way through the levels.
  ASSERT_NO_FATAL_FAILURE(CheckRebuild("all-l0", l0, *source));

  std::vector<ArchiveFile> snapshot_then_l0 = {l9.back()};
  for (const ArchiveFile& f : l0) {
    if (f.min_txid > l9.back().max_txid) snapshot_then_l0.push_back(f);
  }
  ASSERT_NO_FATAL_FAILURE(CheckRebuild("snapshot-l0", snapshot_then_l0, *source));

  // Without snapshots the plan must go through L1 (whose first file starts
  // at TXID 1) and end with the L0 files after the last compaction.
  std::vector<ArchiveFile> no_snapshots = l0;
  no_snapshots.insert(no_snapshots.end(), l1.begin(), l1.end());
  auto via_l1 = PlanRestore(no_snapshots, std::nullopt, /*use_snapshot=*/false);
  ASSERT_TRUE(via_l1.ok()) << via_l1.status().ToString();
  ASSERT_EQ(via_l1->front().level, 1) << Summarize(*via_l1);
  ASSERT_NO_FATAL_FAILURE(CheckRebuild("l1-l0", *via_l1, *source));

  // Litestream's own plan (snapshot, then compacted and L0 files) matches
  // ours, and rebuilds the source through ltxbus too.
  auto ours = PlanRestore(files, std::nullopt, /*use_snapshot=*/true);
  ASSERT_TRUE(ours.ok()) << ours.status().ToString();
  auto theirs = LitestreamRestorePlan(litestream_, replica_, std::nullopt, dir_.Join("plan.db"));
  ASSERT_TRUE(theirs.ok()) << theirs.status().ToString();
  EXPECT_EQ(*theirs, *ours);
  ASSERT_EQ(ours->front().level, kSnapshotLevel);
  ASSERT_NO_FATAL_FAILURE(CheckRebuild("restore-plan", *ours, *source));

  // And `litestream restore` itself produces the same pages.
  const std::string restored = dir_.Join("litestream-restore.db");
  Status s = LitestreamRestore(litestream_, replica_, std::nullopt, restored);
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto restored_pages = ReadFilePages(restored);
  ASSERT_TRUE(restored_pages.ok()) << restored_pages.status().ToString();
  EXPECT_EQ(DiffPages(*source, *restored_pages), "");
}

}  // namespace
}  // namespace ltxbus::testing
