// ReplicaCheckpointer: requested checkpoints copy the whole WAL back on the
// thread, while the replica's own connection goes on writing; a Pause holds
// them off, so a TRUNCATE checkpoint elsewhere finds the lock free.
#include "consumer/replica_checkpointer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "sqlite/database.h"
#include "tests/support/temp_dir.h"

namespace ltxbus::consumer {
namespace {

using namespace std::chrono_literals;
using sqlite::Database;

class ReplicaCheckpointerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.Join("replica.db");
    auto db = Database::Open(path_, Database::Mode::kReadWriteCreate);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    writer_ = std::make_unique<Database>(std::move(*db));
    ASSERT_TRUE(writer_->Exec("PRAGMA journal_mode=WAL").ok());
    ASSERT_TRUE(writer_->Exec("PRAGMA wal_autocheckpoint=0").ok());
    ASSERT_TRUE(writer_->Exec("CREATE TABLE t(v BLOB)").ok());
  }

  void Write(int rows) {
    for (int i = 0; i < rows; i++) {
      ASSERT_TRUE(writer_->Exec("INSERT INTO t VALUES(randomblob(3000))").ok());
    }
  }

  // Waits (bounded) until `c` has completed more than `than` checkpoints.
  static bool CompletedMoreThan(const ReplicaCheckpointer& c, uint64_t than) {
    for (auto deadline = std::chrono::steady_clock::now() + 30s;
         std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(5ms)) {
      if (c.completed() > than) return true;
    }
    return false;
  }

  // Pages the database holds that its main file does not yet have: what is
  // still only in the WAL, read beside SQLite without checkpointing.
  int64_t PagesOnlyInTheWal() {
    auto pages = writer_->QueryInt64("PRAGMA page_count");
    EXPECT_TRUE(pages.ok());
    const auto bytes = std::filesystem::file_size(path_);
    return (pages.ok() ? *pages : 0) - static_cast<int64_t>(bytes / 4096);
  }

  testing::TempDir dir_;
  std::string path_;
  std::unique_ptr<Database> writer_;
};

TEST_F(ReplicaCheckpointerTest, ARequestCopiesTheWalBack) {
  auto c = ReplicaCheckpointer::Start(path_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  Write(50);
  ASSERT_GT(PagesOnlyInTheWal(), 40);
  (*c)->Request();
  ASSERT_TRUE(CompletedMoreThan(**c, 0));
  EXPECT_EQ(PagesOnlyInTheWal(), 0);
}

TEST_F(ReplicaCheckpointerTest, RunsBesideAWriterAndEndsCleanly) {
  auto c = ReplicaCheckpointer::Start(path_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  for (int round = 0; round < 20; round++) {
    Write(20);
    (*c)->Request();
  }
  auto count = writer_->QueryInt64("SELECT count(*) FROM t");
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 400);
  c->reset();  // joins with requests pending: must not hang or fail
  auto check = writer_->QueryText("PRAGMA integrity_check");
  ASSERT_TRUE(check.ok());
  EXPECT_EQ(*check, "ok");
}

TEST_F(ReplicaCheckpointerTest, APauseHoldsCheckpointsOffSoATruncateSucceeds) {
  auto c = ReplicaCheckpointer::Start(path_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  Write(50);
  {
    auto paused = (*c)->Pause();
    (*c)->Request();
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ((*c)->completed(), 0u);
    EXPECT_GT(PagesOnlyInTheWal(), 40);
    auto st = writer_->Prepare("PRAGMA wal_checkpoint(TRUNCATE)");
    ASSERT_TRUE(st.ok());
    auto row = st->Step();
    ASSERT_TRUE(row.ok() && *row);
    EXPECT_EQ(st->ColumnInt64(0), 0) << "TRUNCATE found the checkpoint lock taken";
  }
  Write(5);
  (*c)->Request();
  EXPECT_TRUE(CompletedMoreThan(**c, 0));
}

}  // namespace
}  // namespace ltxbus::consumer
