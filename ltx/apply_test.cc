#include "ltx/apply.h"

#include <gtest/gtest.h>

#include "tests/support/fault_env.h"
#include "tests/support/ltx_builder.h"
#include "tests/support/temp_dir.h"

namespace ltxbus::ltx {
namespace {

using testing::Chain;
using testing::Pages;

std::string Flatten(const Pages& db, uint32_t page_size) {
  std::string out;
  for (const auto& [p, d] : db) {
    out.resize(size_t{p - 1} * page_size);  // pages are dense here
    out.append(reinterpret_cast<const char*>(d.data()), d.size());
  }
  return out;
}

TEST(ApplyTest, ChainRebuildsEveryState) {
  for (bool checksums : {true, false}) {
    Chain c = testing::MakeChain(512, 25, 17, checksums);
    testing::TempDir dir;
    auto applier = DatabaseFileApplier::Open(Env::Default(), dir.Join("db"));
    ASSERT_TRUE(applier.ok()) << applier.status().ToString();
    for (size_t i = 0; i < c.files.size(); i++) {
      const std::string path = dir.Join(FormatFilename(i + 1, i + 1));
      ASSERT_TRUE(WriteFileAtomic(Env::Default(), path, AsBytes(c.files[i])).ok());
      Status s = (*applier)->ApplyFile(path);
      ASSERT_TRUE(s.ok()) << s.ToString();
      auto db = ReadFileToString(Env::Default(), dir.Join("db"));
      ASSERT_EQ(*db, Flatten(c.states[i], 512)) << "after file " << i;
      if (checksums) {
        EXPECT_EQ(*(*applier)->DatabaseChecksumNow(), testing::ChecksumOf(c.states[i]));
      }
    }
  }
}

TEST(ApplyTest, BadFileLeavesDatabaseUntouched) {
  Chain c = testing::MakeChain(512, 4, 23, true);
  testing::TempDir dir;
  auto applier = DatabaseFileApplier::Open(Env::Default(), dir.Join("db"));
  ASSERT_TRUE(applier.ok());
  for (size_t i = 0; i < 3; i++) {
    const std::string path = dir.Join(std::to_string(i));
    ASSERT_TRUE(WriteFileAtomic(Env::Default(), path, AsBytes(c.files[i])).ok());
    ASSERT_TRUE((*applier)->ApplyFile(path).ok());
  }
  const std::string before = *ReadFileToString(Env::Default(), dir.Join("db"));
  std::string bad = c.files[3];
  bad[bad.size() - 20] ^= 0x40;  // inside the index length / trailer area
  ASSERT_TRUE(WriteFileAtomic(Env::Default(), dir.Join("bad"), AsBytes(bad)).ok());
  EXPECT_FALSE((*applier)->ApplyFile(dir.Join("bad")).ok());
  EXPECT_EQ(*ReadFileToString(Env::Default(), dir.Join("db")), before);
  // Skipping a file is a gap, refused before any write.
  Chain more = testing::MakeChain(512, 6, 23, true);
  ASSERT_TRUE(WriteFileAtomic(Env::Default(), dir.Join("gap"), AsBytes(more.files[5])).ok());
  Status s = (*applier)->ApplyFile(dir.Join("gap"));
  EXPECT_NE(s.message().find("TXID gap"), std::string::npos) << s.message();
  EXPECT_EQ(*ReadFileToString(Env::Default(), dir.Join("db")), before);
}

TEST(ApplyTest, RefusesNonSnapshotOnEmptyDatabaseAndLiveWal) {
  Chain c = testing::MakeChain(512, 3, 29, false);
  testing::TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(Env::Default(), dir.Join("f2"), AsBytes(c.files[1])).ok());
  auto applier = DatabaseFileApplier::Open(Env::Default(), dir.Join("db"));
  ASSERT_TRUE(applier.ok());
  Status s = (*applier)->ApplyFile(dir.Join("f2"));
  EXPECT_NE(s.message().find("first file must be a snapshot"), std::string::npos) << s.message();
  ASSERT_TRUE(WriteFileAtomic(Env::Default(), dir.Join("db2-wal"), AsBytes("x")).ok());
  auto live = DatabaseFileApplier::Open(Env::Default(), dir.Join("db2"));
  ASSERT_FALSE(live.ok());
  EXPECT_NE(live.status().message().find("non-empty WAL"), std::string::npos);
}

TEST(ApplyTest, WriteFailuresAreReportedNotSwallowed) {
  Chain c = testing::MakeChain(512, 2, 31, true);
  testing::TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(Env::Default(), dir.Join("f1"), AsBytes(c.files[0])).ok());
  testing::FaultEnv env(Env::Default());
  env.FailWritesAfter(700);  // the second page write fails
  auto applier = DatabaseFileApplier::Open(&env, dir.Join("db"));
  ASSERT_TRUE(applier.ok());
  Status s = (*applier)->ApplyFile(dir.Join("f1"));
  EXPECT_EQ(s.code(), Status::Code::kIOError) << s.ToString();
  EXPECT_NE(s.message().find("injected write failure"), std::string::npos);
  env.FailWritesAfter(-1);
  env.FailSyncs(true);
  EXPECT_FALSE((*applier)->Sync().ok());
}

}  // namespace
}  // namespace ltxbus::ltx
