// Proves the private SQLite build does what followers rely on: sqlite_dbpage
// can write pages into a WAL-mode replica inside one transaction, grow it by
// inserting past the end, and truncate it with a NULL page (SQLite >= 3.47.0).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <map>
#include <vector>

#include "sqlite/database.h"
#include "tests/support/temp_dir.h"

namespace ltxbus::sqlite {
namespace {

using PageMap = std::map<int64_t, std::vector<uint8_t>>;

PageMap ReadPages(Database& db, const std::string& schema) {
  PageMap pages;
  auto st = db.Prepare("SELECT pgno, data FROM sqlite_dbpage('" + schema + "') ORDER BY pgno");
  EXPECT_TRUE(st.ok()) << st.status().ToString();
  for (;;) {
    auto row = st->Step();
    EXPECT_TRUE(row.ok()) << row.status().ToString();
    if (!row.ok() || !*row) break;
    auto blob = st->ColumnBlob(1);
    pages[st->ColumnInt64(0)].assign(blob.begin(), blob.end());
  }
  return pages;
}

// Writes `pages` into `replica` (then truncates to `commit` pages) the way a
// follower does: :memory: main, the replica ATTACHed, one write transaction.
void ApplyThroughDbpage(const std::string& replica, const PageMap& pages, int64_t commit,
                        bool truncate) {
  auto db = Database::Open(":memory:", Database::Mode::kReadWriteCreate);
  ASSERT_TRUE(db.ok());
  int on = 1;
  ASSERT_EQ(sqlite3_db_config(db->raw(), SQLITE_DBCONFIG_WRITABLE_SCHEMA, 1, &on), SQLITE_OK);
  ASSERT_TRUE(db->Exec("ATTACH '" + replica + "' AS replica").ok());
  ASSERT_TRUE(db->Exec("PRAGMA replica.synchronous=FULL").ok());
  ASSERT_TRUE(db->Exec("BEGIN IMMEDIATE").ok());
  auto ins = db->Prepare("INSERT INTO sqlite_dbpage(pgno, data, schema) VALUES(?1, ?2, 'replica')");
  ASSERT_TRUE(ins.ok()) << ins.status().ToString();
  for (const auto& [pgno, data] : pages) {
    ASSERT_TRUE(ins->BindInt64(1, pgno).ok());
    ASSERT_TRUE(ins->BindBlob(2, data).ok());
    auto r = ins->Step();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_TRUE(ins->Reset().ok());
  }
  if (truncate) {  // must be the last INSERT of the transaction
    ASSERT_TRUE(ins->BindInt64(1, commit + 1).ok());
    ASSERT_TRUE(ins->BindNull(2).ok());
    auto r = ins->Step();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  Status s = db->Exec("COMMIT");
  ASSERT_TRUE(s.ok()) << s.ToString();
}

TEST(PrivateSqliteTest, IsRecentEnoughAndHasDbpage) {
  EXPECT_GE(sqlite3_libversion_number(), 3047000) << Database::LibraryVersion();
  EXPECT_EQ(sqlite3_compileoption_used("ENABLE_DBPAGE_VTAB"), 1);
}

TEST(PrivateSqliteTest, DbpageGrowsAndTruncatesAWalReplica) {
  testing::TempDir dir;
  const std::string source = dir.Join("source.db");
  const std::string replica = dir.Join("replica.db");
  auto src = Database::Open(source, Database::Mode::kReadWriteCreate);
  ASSERT_TRUE(src.ok());
  ASSERT_TRUE(
      src->Exec("PRAGMA journal_mode=WAL; CREATE TABLE t(x); CREATE INDEX tx ON t(x);").ok());
  ASSERT_TRUE(src->Exec("INSERT INTO t WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM "
                        "n WHERE i<50) SELECT randomblob(3000) FROM n")
                  .ok());
  PageMap small = ReadPages(*src, "main");
  ASSERT_GT(small.size(), 40u);

  // Growth from nothing: an empty WAL-mode replica receives every page.
  {
    auto r = Database::Open(replica, Database::Mode::kReadWriteCreate);
    ASSERT_TRUE(r.ok());
    ASSERT_TRUE(r->Exec("PRAGMA journal_mode=WAL").ok());
  }
  ApplyThroughDbpage(replica, small, static_cast<int64_t>(small.size()), false);

  // Growth past the end.
  ASSERT_TRUE(src->Exec("INSERT INTO t WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM "
                        "n WHERE i<200) SELECT randomblob(3000) FROM n")
                  .ok());
  PageMap big = ReadPages(*src, "main");
  ASSERT_GT(big.size(), small.size() + 100);
  ApplyThroughDbpage(replica, big, static_cast<int64_t>(big.size()), false);
  {
    auto r = Database::Open(replica, Database::Mode::kReadOnly);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r->QueryInt64("PRAGMA page_count"), static_cast<int64_t>(big.size()));
    EXPECT_EQ(*r->QueryInt64("SELECT count(*) FROM t"), 250);
    EXPECT_EQ(*r->QueryText("PRAGMA integrity_check"), "ok");
    EXPECT_EQ(*r->QueryText("PRAGMA journal_mode"), "wal");
  }

  // Shrink: the source deletes and vacuums; the replica gets the changed pages
  // plus a NULL page at commit+1, which truncates it.
  ASSERT_TRUE(src->Exec("DELETE FROM t WHERE rowid > 20; VACUUM;").ok());
  PageMap shrunk = ReadPages(*src, "main");
  ASSERT_LT(shrunk.size(), big.size() / 2);
  ApplyThroughDbpage(replica, shrunk, static_cast<int64_t>(shrunk.size()), true);
  auto r = Database::Open(replica, Database::Mode::kReadOnly);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r->QueryInt64("PRAGMA page_count"), static_cast<int64_t>(shrunk.size()));
  EXPECT_EQ(*r->QueryInt64("SELECT count(*) FROM t"), 20);
  EXPECT_EQ(*r->QueryText("PRAGMA integrity_check"), "ok");
  PageMap got = ReadPages(*r, "main");
  ASSERT_EQ(got.size(), shrunk.size());
  for (auto& [pgno, data] : got) {
    if (pgno == 1) continue;  // the change counter and version bytes differ by design
    EXPECT_EQ(data, shrunk[pgno]) << "page " << pgno;
  }
}

}  // namespace
}  // namespace ltxbus::sqlite
