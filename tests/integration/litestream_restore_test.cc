// Interop with the real Litestream v0.5.16, direction two: ltxbus writes,
// Litestream restores. A file-replica directory in Litestream's layout is
// built entirely by ltxbus's encoder and compactor from a real SQLite
// database (written by the system sqlite3 in rollback-journal mode, so after
// each transaction the file is the state): a level-9 snapshot of TXIDs 1-3,
// L0 files 4..10 and an L1 file compacted from L0 4..7. `litestream restore`
// must rebuild the source exactly, both at the latest TXID (its plan:
// snapshot, L1, L0 8-10) and at TXID 5 (snapshot, L0 4-5), with either page
// encoding.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "base/env.h"
#include "ltx/compactor.h"
#include "tests/integration/litestream_archive.h"
#include "tests/integration/litestream_cli.h"
#include "tests/integration/litestream_workload.h"
#include "tests/support/sqlite_pages.h"
#include "tests/support/temp_dir.h"

namespace ltxbus::testing {
namespace {

constexpr ltx::TXID kSnapshotTxid = 3;  // level 9 holds 1-3
constexpr ltx::TXID kCompactedMin = 4;  // level 1 holds 4-7
constexpr ltx::TXID kCompactedMax = 7;
constexpr ltx::TXID kPointInTime = 5;  // restored with -txid

// Compacts L0 files min..max of `root` into level 1 as Litestream would
// place it: NoChecksum, mtime = header Timestamp.
Result<ltx::Header> CompactToL1(const std::string& root, ltx::TXID min_txid, ltx::TXID max_txid,
                                ltx::PageEncoding encoding) {
  Env* env = Env::Default();
  std::vector<std::unique_ptr<SequentialFile>> inputs;
  std::vector<SequentialFile*> raw;
  for (ltx::TXID t = min_txid; t <= max_txid; ++t) {
    LTXBUS_ASSIGN_OR_RETURN(auto f, env->NewSequentialFile(ArchivePath(root, 0, t, t)));
    raw.push_back(f.get());
    inputs.push_back(std::move(f));
  }
  const std::string path = ArchivePath(root, 1, min_txid, max_txid);
  LTXBUS_RETURN_IF_ERROR(env->CreateDirs(root + "/ltx/1"));
  ltx::Header header;
  {
    LTXBUS_ASSIGN_OR_RETURN(auto out, env->NewWritableFile(path + ".tmp"));
    ltx::CompactOptions options;
    options.encoder.encoding = encoding;
    options.checksums = ltx::CompactOptions::Checksums::kOff;
    LTXBUS_ASSIGN_OR_RETURN(header, ltx::Compact(raw, out.get(), options));
    LTXBUS_RETURN_IF_ERROR(out->Sync());
    LTXBUS_RETURN_IF_ERROR(out->Close());
  }
  LTXBUS_RETURN_IF_ERROR(env->RenameFile(path + ".tmp", path));
  LTXBUS_RETURN_IF_ERROR(env->SetModTime(path, header.timestamp_ms));
  return header;
}

// Parametrized by the page encoding's CLI name, so test names and CTest
// output read "frame" / "block".
class LitestreamRestoreTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    auto litestream = FindLitestream();
    ASSERT_TRUE(litestream.ok()) << litestream.status().ToString();
    litestream_ = *litestream;
    auto encoding = ltx::ParsePageEncoding(GetParam());
    ASSERT_TRUE(encoding.ok()) << encoding.status().ToString();
    encoding_ = *encoding;
  }

  // Runs the workload with the system sqlite3; states_[i] = pages after TXID i+1.
  void RunTransactions() {
    const std::string source = dir_.Join("source.db");
    const auto txns = ArchiveTransactions();
    for (size_t i = 0; i < txns.size(); ++i) {
      auto out = RunOk({SystemSqlite3(), "-bail", source, txns[i]});
      ASSERT_TRUE(out.ok()) << "TXID " << i + 1 << ": " << out.status().ToString();
      // Rollback-journal mode: once the CLI exits the file is the state.
      ASSERT_FALSE(std::filesystem::exists(source + "-wal"));
      ASSERT_FALSE(std::filesystem::exists(source + "-journal"));
      const std::string copy = dir_.Join(fmt::format("state-{}.db", i + 1));
      std::filesystem::copy_file(source, copy);
      auto pages = ReadSqlitePages(copy);
      ASSERT_TRUE(pages.ok()) << pages.status().ToString();
      states_.push_back(std::move(pages).value());
    }
    // The workload grows at 5 and 8 and shrinks (VACUUM) at 6 and 9.
    ASSERT_EQ(states_.size(), 10u);
    EXPECT_GT(states_[4].size(), states_[3].size());
    EXPECT_LT(states_[5].size(), states_[4].size());
    EXPECT_GT(states_[7].size(), states_[6].size());
    EXPECT_LT(states_[8].size(), states_[7].size());
  }

  const Pages& StateAt(ltx::TXID txid) const { return states_.at(txid - 1); }
  uint32_t Commit(ltx::TXID txid) const { return static_cast<uint32_t>(StateAt(txid).size()); }

  // Header of an archive file; Timestamps are real, a second apart, with
  // milliseconds, and in the past.
  ltx::Header MakeHeader(ltx::TXID min_txid, ltx::TXID max_txid) const {
    ltx::Header h;
    h.flags = ltx::kHeaderFlagNoChecksum;
    h.page_size = page_size_;
    h.commit = Commit(max_txid);
    h.min_txid = min_txid;
    h.max_txid = max_txid;
    h.timestamp_ms = base_ms_ + static_cast<int64_t>(max_txid) * 1000 + 123;
    return h;
  }

  void WriteArchive() {
    page_size_ = static_cast<uint32_t>(StateAt(1).at(1).size());
    base_ms_ = Env::Default()->NowUnixMillis() - 60'000;
    // The snapshot holds every page (there is no lock page in a file this small).
    Status s = WriteArchiveFile(replica_, kSnapshotLevel, MakeHeader(1, kSnapshotTxid),
                                StateAt(kSnapshotTxid), encoding_);
    ASSERT_TRUE(s.ok()) << s.ToString();
    for (ltx::TXID t = kSnapshotTxid + 1; t <= states_.size(); ++t) {
      Pages changed = ChangedPages(StateAt(t - 1), StateAt(t), page_size_);
      ASSERT_FALSE(changed.empty()) << "TXID " << t;
      s = WriteArchiveFile(replica_, 0, MakeHeader(t, t), changed, encoding_);
      ASSERT_TRUE(s.ok()) << s.ToString();
    }
    auto l1 = CompactToL1(replica_, kCompactedMin, kCompactedMax, encoding_);
    ASSERT_TRUE(l1.ok()) << l1.status().ToString();
    EXPECT_EQ(l1->min_txid, kCompactedMin);
    EXPECT_EQ(l1->max_txid, kCompactedMax);
    EXPECT_EQ(l1->commit, Commit(kCompactedMax));
    EXPECT_EQ(l1->timestamp_ms, MakeHeader(kCompactedMax, kCompactedMax).timestamp_ms);
    EXPECT_EQ(l1->flags, ltx::kHeaderFlagNoChecksum);
  }

  // Restores with `litestream restore` (and, as a cross-check, with `ltxbus
  // ltx apply` over the same plan) and compares with the state at `txid`.
  void CheckRestore(std::optional<ltx::TXID> target, ltx::TXID txid,
                    const std::vector<ArchiveFile>& expected_plan) {
    const std::string name = target ? "restore-" + ltx::FormatTXID(*target) : "restore-latest";
    SCOPED_TRACE(name);
    auto ours = PlanRestore(files_, target, /*use_snapshot=*/true);
    ASSERT_TRUE(ours.ok()) << ours.status().ToString();
    EXPECT_EQ(*ours, expected_plan);
    auto theirs = LitestreamRestorePlan(litestream_, replica_, target, dir_.Join(name + ".db"));
    ASSERT_TRUE(theirs.ok()) << theirs.status().ToString();
    EXPECT_EQ(*theirs, expected_plan);

    const std::string restored = dir_.Join(name + ".db");
    Status s = LitestreamRestore(litestream_, replica_, target, restored);
    ASSERT_TRUE(s.ok()) << s.ToString();
    auto integrity = IntegrityCheck(restored, dir_.path());
    ASSERT_TRUE(integrity.ok()) << integrity.status().ToString();
    EXPECT_EQ(*integrity, "ok");
    auto through_sqlite = ReadSqlitePages(restored);
    ASSERT_TRUE(through_sqlite.ok()) << through_sqlite.status().ToString();
    EXPECT_EQ(DiffPages(StateAt(txid), *through_sqlite), "");
    auto on_disk = ReadFilePages(restored);
    ASSERT_TRUE(on_disk.ok()) << on_disk.status().ToString();
    EXPECT_EQ(DiffPages(StateAt(txid), *on_disk), "") << "file bytes beyond the pages";

    const std::string applied = dir_.Join(name + "-ltxbus.db");
    s = LtxbusApply(applied, PathsOf(expected_plan));
    ASSERT_TRUE(s.ok()) << s.ToString();
    auto applied_pages = ReadFilePages(applied);
    ASSERT_TRUE(applied_pages.ok()) << applied_pages.status().ToString();
    EXPECT_EQ(DiffPages(StateAt(txid), *applied_pages), "");
  }

  TempDir dir_;
  std::string litestream_;
  std::string replica_ = dir_.Join("replica");
  std::vector<Pages> states_;
  std::vector<ArchiveFile> files_;
  ltx::PageEncoding encoding_ = ltx::PageEncoding::kLZ4Frame;
  uint32_t page_size_ = 0;
  int64_t base_ms_ = 0;
};

TEST_P(LitestreamRestoreTest, RestoresAnArchiveLtxbusWrote) {
  ASSERT_NO_FATAL_FAILURE(RunTransactions());
  ASSERT_NO_FATAL_FAILURE(WriteArchive());

  auto listed = ListArchive(replica_);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  files_ = *listed;
  auto at = [&](int level, ltx::TXID min_txid, ltx::TXID max_txid) {
    return ArchiveFile{level, min_txid, max_txid, ArchivePath(replica_, level, min_txid, max_txid)};
  };
  // Every file decodes, in the encoding asked for, with mtime = Timestamp.
  ASSERT_EQ(files_.size(), 9u) << Summarize(files_);
  for (const ArchiveFile& f : files_) {
    auto d = DecodeLtxFile(f.path);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    const bool block = encoding_ == ltx::PageEncoding::kLZ4Block;
    EXPECT_EQ(d->block_pages, block) << f.Describe();
    EXPECT_EQ(d->frame_pages, !block) << f.Describe();
    EXPECT_EQ(ModTimeMillis(f.path), d->header.timestamp_ms) << f.Describe();
  }

  // Latest: the snapshot, the compacted L1 file, then the L0 files after it.
  ASSERT_NO_FATAL_FAILURE(
      CheckRestore(std::nullopt, states_.size(),
                   {at(kSnapshotLevel, 1, kSnapshotTxid), at(1, kCompactedMin, kCompactedMax),
                    at(0, 8, 8), at(0, 9, 9), at(0, 10, 10)}));
  // TXID 5 ends inside the L1 file's range, so only the L0 files reach it.
  ASSERT_NO_FATAL_FAILURE(CheckRestore(
      kPointInTime, kPointInTime,
      {at(kSnapshotLevel, 1, kSnapshotTxid), at(0, 4, 4), at(0, kPointInTime, kPointInTime)}));
}

INSTANTIATE_TEST_SUITE_P(Encodings, LitestreamRestoreTest, ::testing::Values("frame", "block"),
                         [](const ::testing::TestParamInfo<const char*>& param) {
                           return std::string(param.param);
                         });

}  // namespace
}  // namespace ltxbus::testing
