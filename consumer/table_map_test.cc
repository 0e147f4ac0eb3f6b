#include "consumer/table_map.h"

#include <gtest/gtest.h>

#include <map>

#include "sqlite/database.h"
#include "tests/support/temp_dir.h"

namespace ltxbus::consumer {
namespace {

TEST(TableMap, AttributesEveryBtreePageToItsTable) {
  ::ltxbus::testing::TempDir dir;
  const std::string path = dir.Join("t.db");
  {
    auto db = sqlite::Database::Open(path, sqlite::Database::Mode::kReadWriteCreate);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->Exec("PRAGMA page_size=1024; CREATE TABLE a(x); CREATE TABLE b(y, z);"
                         "CREATE INDEX b_y ON b(y); CREATE TABLE c(k TEXT PRIMARY KEY, v) "
                         "WITHOUT ROWID;")
                    .ok());
    // Overflow pages (a's blobs), interior pages (b's many rows), a free list.
    ASSERT_TRUE(db->Exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<20)"
                         " INSERT INTO a SELECT randomblob(5000) FROM n;"
                         "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE "
                         "i<500) INSERT INTO b SELECT 'key' || i, randomblob(100) FROM n;"
                         "INSERT INTO c VALUES ('k', 1); CREATE TABLE gone(x);"
                         "INSERT INTO gone SELECT randomblob(3000) FROM a; DROP TABLE gone;")
                    .ok());
  }
  auto map = TableMap::Load(path);
  ASSERT_TRUE(map.ok()) << map.status().ToString();
  EXPECT_EQ(map->tables(), (std::vector<std::string>{"a", "b", "c", "sqlite_schema"}));
  EXPECT_EQ(map->TableOf(1), "sqlite_schema");
  auto db = sqlite::Database::Open(path, sqlite::Database::Mode::kReadOnly);
  ASSERT_TRUE(db.ok());
  auto roots = db->Prepare("SELECT name, tbl_name, rootpage FROM sqlite_schema");
  ASSERT_TRUE(roots.ok());
  while (*roots->Step()) {
    const auto page = static_cast<uint32_t>(roots->ColumnInt64(2));
    EXPECT_EQ(map->TableOf(page), roots->ColumnText(1)) << roots->ColumnText(0);
  }
  // Every page is a's, b's, c's, the schema's, or free (the dropped table's).
  std::map<std::string, uint32_t> counts;
  for (uint32_t p = 1; p <= map->page_count(); p++) counts[std::string(map->TableOf(p))]++;
  const int64_t free_pages = *db->QueryInt64("PRAGMA freelist_count");
  EXPECT_GT(free_pages, 0);
  EXPECT_EQ(counts[""], static_cast<uint32_t>(free_pages));
  EXPECT_GE(counts["a"], 20u * 4) << "a's overflow pages";
  EXPECT_GT(counts["b"], 10u);
  EXPECT_EQ(map->page_count(), *db->QueryInt64("PRAGMA page_count"));
  EXPECT_EQ(map->TableOf(map->page_count() + 1), "");
  EXPECT_EQ(map->TableOf(0), "");

  const uint32_t b_root = static_cast<uint32_t>(
      *db->QueryInt64("SELECT rootpage FROM sqlite_schema WHERE name = 'b_y'"));
  const uint32_t a_root =
      static_cast<uint32_t>(*db->QueryInt64("SELECT rootpage FROM sqlite_schema WHERE name = 'a'"));
  std::vector<uint32_t> pages = {b_root, a_root, b_root, 99999};
  EXPECT_EQ(map->TablesOf(pages), (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(TableMap::StaleAfter(pages));
  pages.push_back(1);
  EXPECT_TRUE(TableMap::StaleAfter(pages));
}

TEST(TableMap, MissingFileIsAnError) {
  auto map = TableMap::Load("/nonexistent/dir/x.db");
  ASSERT_FALSE(map.ok());
  EXPECT_NE(map.status().message().find("/nonexistent/dir/x.db"), std::string::npos);
}

}  // namespace
}  // namespace ltxbus::consumer
