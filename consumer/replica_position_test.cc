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
  const std::string good = FormatReplicaPositionFile(
      {"db", ReplicaPosition{1, 0x8000000000000001, 2, 3, {}}, std::nullopt});
  ASSERT_TRUE(ParseReplicaPositionFile(good).ok());
  for (const std::string& bad :
       {std::string("hello\n"), good.substr(0, good.find("committed")), good + "surprise 1\n",
        good.substr(0, good.find("committed")) + "committed 1 2 3\n"}) {
    auto r = ParseReplicaPositionFile(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_TRUE(r.status().IsCorruption()) << bad;
  }
  EXPECT_TRUE(LoadReplicaPositionFile(Env::Default(), "/nonexistent/x").status().IsNotFound());
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
