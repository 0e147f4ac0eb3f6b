#include "consumer/replica_position.h"

#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"

namespace ltxbus::consumer {
namespace {

TEST(ReplicaPositionTest, RoundTripsThroughTheFile) {
  testing::TempDir dir;
  ReplicaPositionFile f;
  f.database = "my app.db";
  const std::string path = ReplicaPositionPath(dir.Join("replica.db"));
  ASSERT_TRUE(StoreReplicaPositionFile(Env::Default(), path, f).ok());
  auto got = LoadReplicaPositionFile(Env::Default(), path);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, f);

  ReplicaPosition p{0x2a, 0x8000000000001234, 77, 1700000000123, {}};
  for (size_t i = 0; i < p.page1_tail.size(); i++) p.page1_tail[i] = static_cast<uint8_t>(i * 17);
  f.committed = p;
  p.txid++;
  p.offset = 81;
  f.pending = p;
  ASSERT_TRUE(StoreReplicaPositionFile(Env::Default(), path, f).ok());
  got = LoadReplicaPositionFile(Env::Default(), path);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, f);
}

TEST(ReplicaPositionTest, RejectsMalformedFiles) {
  auto good = FormatReplicaPositionFile(
      {"db", ReplicaPosition{1, 0x8000000000000001, 2, 3, {}}, std::nullopt});
  ASSERT_TRUE(good.ok());
  ASSERT_TRUE(ParseReplicaPositionFile(*good).ok());
  std::string flipped = *good;
  flipped[flipped.find("committed") + 12] ^= 0x01;  // slot 0; slot 1 is empty
  for (const std::string& bad : {std::string("hello\n"), good->substr(0, 4096), flipped}) {
    auto r = ParseReplicaPositionFile(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_TRUE(r.status().IsCorruption()) << bad;
  }
  EXPECT_TRUE(LoadReplicaPositionFile(Env::Default(), "/nonexistent/x").status().IsNotFound());
  EXPECT_EQ(FormatReplicaPositionFile({std::string(5000, 'x'), std::nullopt, std::nullopt})
                .status()
                .code(),
            Status::Code::kInvalidArgument);
}

// Files written before the two-slot format: one record, rewritten whole.
TEST(ReplicaPositionTest, ReadsTheOneRecordFormat) {
  const std::string v1 =
      "ltxbus-follower-position 1\n"
      "# txid checksum offset timestamp-ms source-page1-bytes(24-27,92-99); docs/follower.md\n"
      "database my app.db\n"
      "committed 000000000000002a 8000000000001234 77 1700000000123 000102030405060708090a0b\n";
  auto r = ParseReplicaPositionFile(v1);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->database, "my app.db");
  ASSERT_TRUE(r->committed.has_value());
  EXPECT_EQ(r->committed->txid, 0x2au);
  EXPECT_EQ(r->committed->page1_tail[11], 11);
  EXPECT_FALSE(r->pending.has_value());
  for (const std::string& bad :
       {v1.substr(0, v1.find("committed")), v1 + "surprise 1\n",
        v1.substr(0, v1.find("committed")) + "committed 1 2 3\n", v1 + "sequence 3\n"}) {
    auto b = ParseReplicaPositionFile(bad);
    EXPECT_TRUE(b.status().IsCorruption()) << bad;
  }
}

// Each Store after the first rewrites the older slot in place; a write torn
// by a crash (a slot whose CRC fails) leaves the previous record to load.
TEST(ReplicaPositionTest, AStoreTornByACrashLeavesThePreviousRecord) {
  testing::TempDir dir;
  const std::string path = ReplicaPositionPath(dir.Join("replica.db"));
  ReplicaPositionStore store(Env::Default(), path);
  ReplicaPositionFile f{"app.db", std::nullopt, std::nullopt};
  std::vector<ReplicaPositionFile> written;
  for (ltx::TXID txid = 1; txid <= 5; txid++) {
    f.committed = f.pending;
    f.pending = ReplicaPosition{txid, 0x8000000000000000 | txid, txid * 3, 1700000000000, {}};
    ASSERT_TRUE(store.Store(f).ok());
    written.push_back(f);
    auto got = LoadReplicaPositionFile(Env::Default(), path);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, f);
  }
  auto size = Env::Default()->GetFileSize(path);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 8192u) << "two fixed slots, rewritten in place";

  // The fifth record went to slot 0 (1: slot 0, 2: slot 1, ...): tear it.
  auto text = ReadFileToString(Env::Default(), path);
  ASSERT_TRUE(text.ok());
  std::string torn = *text;
  const size_t pending_at = torn.find("pending");
  ASSERT_LT(pending_at, 4096u);
  torn[pending_at + 8] ^= 0x01;
  auto got = ParseReplicaPositionFile(torn);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, written[3]);
  // Both torn: nothing to trust.
  torn[4096 + torn.substr(4096).find("pending") + 8] ^= 0x01;
  got = ParseReplicaPositionFile(torn);
  EXPECT_TRUE(got.status().IsCorruption());
  EXPECT_NE(got.status().message().find("no intact slot"), std::string::npos)
      << got.status().message();
}

TEST(ReplicaPositionTest, Page1TailIsBytes24To27And92To99) {
  std::vector<uint8_t> page(512);
  for (size_t i = 0; i < page.size(); i++) page[i] = static_cast<uint8_t>(i);
  Page1Tail t = TakePage1Tail(page);
  EXPECT_EQ(t[0], 24);
  EXPECT_EQ(t[3], 27);
  EXPECT_EQ(t[4], 92);
  EXPECT_EQ(t[11], 99);
  std::vector<uint8_t> other(512, 0);
  PutPage1Tail(t, other);
  EXPECT_EQ(other[25], 25);
  EXPECT_EQ(other[99], 99);
  EXPECT_EQ(other[28], 0);
}

}  // namespace
}  // namespace ltxbus::consumer
