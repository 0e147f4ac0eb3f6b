// The archive layout, Litestream's restore plan, the manifest and the level
// rules (consumer/archive_layout.h, archive_manifest.h, archive_levels.h).
#include "consumer/archive_layout.h"

#include <gtest/gtest.h>

#include "consumer/archive_levels.h"
#include "consumer/archive_manifest.h"

namespace ltxbus::consumer {
namespace {

ArchiveFile F(int level, ltx::TXID min, ltx::TXID max, int64_t ts = 0) {
  ArchiveFile f;
  f.level = level;
  f.min_txid = min;
  f.max_txid = max;
  f.timestamp_ms = ts;
  f.key = ArchiveLayout("file").Key(level, min, max);
  return f;
}

std::vector<std::string> Described(const std::vector<ArchiveFile>& files) {
  std::vector<std::string> out;
  for (const auto& f : files) out.push_back(f.Describe());
  return out;
}

TEST(ArchiveLayoutTest, KeysFollowLitestreamPerBackend) {
  EXPECT_EQ(ArchiveLayout("s3").Key(9, 1, 200), "0009/0000000000000001-00000000000000c8.ltx");
  EXPECT_EQ(ArchiveLayout("s3").Key(10 - 10, 5, 5), "0000/0000000000000005-0000000000000005.ltx");
  EXPECT_EQ(ArchiveLayout("file").Key(1, 4, 7), "ltx/1/0000000000000004-0000000000000007.ltx");
  EXPECT_EQ(ArchiveLayout("nats").Key(0, 2, 2), "ltx/0/0000000000000002-0000000000000002.ltx");

  for (const char* kind : {"s3", "file", "nats"}) {
    const ArchiveLayout layout(kind);
    auto f = layout.ParseKey(layout.Key(3, 10, 20));
    ASSERT_TRUE(f.has_value()) << kind;
    EXPECT_EQ(f->level, 3);
    EXPECT_EQ(f->min_txid, 10u);
    EXPECT_EQ(f->max_txid, 20u);
    // What Litestream ignores, we ignore.
    EXPECT_FALSE(layout.ParseKey(kManifestKey).has_value());
    EXPECT_FALSE(
        layout.ParseKey(layout.LevelPrefix(0) + "0000000000000001-0000000000000001.ltx.tmp"));
    EXPECT_FALSE(layout.ParseKey(layout.LevelPrefix(0) + "000000000000000A-000000000000000A.ltx"));
  }
  // A key of the other layout is not an archive file.
  EXPECT_FALSE(ArchiveLayout("s3").ParseKey("ltx/0/0000000000000001-0000000000000001.ltx"));
  EXPECT_FALSE(ArchiveLayout("file").ParseKey("0000/0000000000000001-0000000000000001.ltx"));
}

TEST(ArchiveLayoutTest, PlanRestoreIsLitestreams) {
  // Snapshot 1-3, L1 4-7, L0 4..10 (the example of docs/litestream-interop.md).
  std::vector<ArchiveFile> files = {F(9, 1, 3, 300), F(1, 4, 7, 700)};
  for (ltx::TXID t = 4; t <= 10; t++) files.push_back(F(0, t, t, static_cast<int64_t>(t) * 100));
  SortArchiveFiles(&files);

  auto latest = PlanRestore(files, {});
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  EXPECT_EQ(Described(*latest),
            (std::vector<std::string>{
                "L9 0000000000000001-0000000000000003", "L1 0000000000000004-0000000000000007",
                "L0 0000000000000008-0000000000000008", "L0 0000000000000009-0000000000000009",
                "L0 000000000000000a-000000000000000a"}));
  auto at5 = PlanRestore(files, {5, std::nullopt});
  ASSERT_TRUE(at5.ok());
  EXPECT_EQ(Described(*at5), (std::vector<std::string>{"L9 0000000000000001-0000000000000003",
                                                       "L0 0000000000000004-0000000000000004",
                                                       "L0 0000000000000005-0000000000000005"}));
  // Timestamps: files created strictly before the target.
  auto by_time = PlanRestore(files, {std::nullopt, 700});
  ASSERT_TRUE(by_time.ok());
  EXPECT_EQ(by_time->back().max_txid, 6u);
  by_time = PlanRestore(files, {std::nullopt, 701});
  ASSERT_TRUE(by_time.ok());
  EXPECT_EQ(by_time->back().max_txid, 7u);
  EXPECT_EQ(by_time->back().level, 1);

  EXPECT_EQ(PlanRestore(files, {11, std::nullopt}).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(PlanRestore(files, {std::nullopt, 100}).status().code(), Status::Code::kNotFound);
  files.push_back(F(0, 12, 12));
  EXPECT_EQ(PlanRestore(files, {}).status().code(), Status::Code::kCorruption);
}

TEST(ArchiveManifestTest, RoundTripsAndRejectsDamage) {
  Manifest m;
  m.database = "app.db";
  m.owner = "host/1/2";
  m.lease_expires_ms = 1234;
  m.position = "0000000000000005:10:12";
  m.compacted_ms = {{1, 100}, {9, 900}};
  m.files = {F(9, 1, 1, 5), F(0, 2, 2, 6), F(1, 2, 5, 9)};
  m.files[1].size = 77;
  m.files[1].post_apply_checksum = 0x8000000000001234;
  SortArchiveFiles(&m.files);
  const ArchiveLayout s3("s3");
  auto back = Manifest::Decode(m.Encode(), s3);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->Encode(), m.Encode());
  EXPECT_EQ(back->files[0].key, s3.Key(0, 2, 2));  // keys follow the store's layout
  EXPECT_EQ(back->last_txid(), 5u);
  EXPECT_EQ(back->files[0].post_apply_checksum, 0x8000000000001234u);

  for (
      const char* bad :
      {"", "{", "[]", R"({"version":2,"files":[]})",
       R"({"version":1,"files":[[0,"x","y",0,0,"0"]]})",
       R"({"version":1,"files":[[0,"0000000000000005","0000000000000004",0,0,"0000000000000000"]]})",
       R"({"version":1,"files":[[12,"0000000000000001","0000000000000001",0,0,"0000000000000000"]]})"}) {
    EXPECT_EQ(Manifest::Decode(bad, s3).status().code(), Status::Code::kCorruption) << bad;
  }
}

TEST(ArchiveLevelsTest, CompactionRunsSplitAtChainRestarts) {
  EXPECT_TRUE(Due(0, Millis(30000), 30000));
  EXPECT_FALSE(Due(30000, Millis(30000), 59999));
  EXPECT_TRUE(Due(30000, Millis(30000), 60000));

  std::vector<ArchiveFile> files = {F(9, 1, 1), F(0, 2, 2), F(0, 3, 3),   F(1, 2, 3),  F(0, 4, 4),
                                    F(0, 5, 5), F(9, 1, 9), F(0, 10, 10), F(0, 11, 11)};
  SortArchiveFiles(&files);
  auto runs = CompactionRuns(files, 1);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(Described(runs[0]), (std::vector<std::string>{"L0 0000000000000004-0000000000000004",
                                                          "L0 0000000000000005-0000000000000005"}));
  EXPECT_EQ(runs[1].front().min_txid, 10u);
  EXPECT_EQ(runs[1].back().max_txid, 11u);
  EXPECT_TRUE(CompactionRuns(files, 3).empty());
}

TEST(ArchiveLevelsTest, RetentionKeepsTheNewestAndWhatL1DoesNotCover) {
  RetentionSettings r{Millis(1000), Millis(100)};
  std::vector<ArchiveFile> files = {F(9, 1, 3, 0),   F(9, 1, 6, 500),  F(9, 1, 9, 2000),
                                    F(1, 4, 5, 50),  F(1, 6, 8, 800),  F(1, 9, 9, 1900),
                                    F(0, 8, 8, 700), F(0, 9, 9, 1900), F(0, 10, 10, 1950)};
  SortArchiveFiles(&files);
  // At 2000: snapshots before 1000 go (1-3 and 1-6); the floor is 6, so L1
  // 4-5 goes too. L0 8 and 9 are old and covered by L1 (up to 9); 10 is not.
  EXPECT_EQ(Described(SnapshotRetentionVictims(files, r, 2000)),
            (std::vector<std::string>{"L9 0000000000000001-0000000000000003",
                                      "L9 0000000000000001-0000000000000006",
                                      "L1 0000000000000004-0000000000000005"}));
  EXPECT_EQ(Described(L0RetentionVictims(files, r, 2000)),
            (std::vector<std::string>{"L0 0000000000000008-0000000000000008"}));
  EXPECT_EQ(Described(L0RetentionVictims(files, r, 2100)),
            (std::vector<std::string>{"L0 0000000000000008-0000000000000008",
                                      "L0 0000000000000009-0000000000000009"}));
  EXPECT_EQ(Without(files, SnapshotRetentionVictims(files, r, 2000)).size(), files.size() - 3);
}

}  // namespace
}  // namespace ltxbus::consumer
