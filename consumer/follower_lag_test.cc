// Lag from a replica's position and the head of its stream, and its
// Prometheus rendering.
#include "consumer/follower_lag.h"

#include <gtest/gtest.h>

#include "consumer/follower_metrics.h"

namespace ltxbus::consumer {
namespace {

StreamHead Head(ltx::TXID txid, int64_t timestamp_ms) {
  StreamHead h;
  h.known = true;
  h.txid = txid;
  h.timestamp_ms = timestamp_ms;
  return h;
}

TEST(FollowerLagTest, BehindTheHead) {
  const Lag lag = ComputeLag(90, 1'000'000, Head(100, 1'004'000), 1'010'000);
  EXPECT_EQ(lag.txids_behind, 10u);
  EXPECT_DOUBLE_EQ(*lag.seconds_behind, 10.0);
  EXPECT_DOUBLE_EQ(*lag.head_seconds_behind, 6.0);
  EXPECT_DOUBLE_EQ(*lag.lag_seconds, 4.0);
}

TEST(FollowerLagTest, CaughtUpWhileThePrimaryIsIdle) {
  const Lag lag = ComputeLag(100, 1'000'000, Head(100, 1'000'000), 1'030'000);
  EXPECT_EQ(lag.txids_behind, 0u);
  EXPECT_DOUBLE_EQ(*lag.seconds_behind, 30.0);
  EXPECT_DOUBLE_EQ(*lag.head_seconds_behind, 30.0);
  EXPECT_DOUBLE_EQ(*lag.lag_seconds, 0.0);
}

TEST(FollowerLagTest, AHeadReadBeforeTheNewestApplyIsNotNegative) {
  const Lag lag = ComputeLag(105, 1'002'000, Head(100, 1'000'000), 1'003'000);
  EXPECT_EQ(lag.txids_behind, 0u);
  EXPECT_DOUBLE_EQ(*lag.lag_seconds, 0.0);
}

TEST(FollowerLagTest, UnknownsStayUnknown) {
  Lag lag = ComputeLag(0, 0, StreamHead{}, 1'000'000);
  EXPECT_FALSE(lag.txids_behind);
  EXPECT_FALSE(lag.seconds_behind);
  EXPECT_FALSE(lag.head_seconds_behind);
  EXPECT_FALSE(lag.lag_seconds);
  // Nothing applied yet, the stream holds 7 frames.
  lag = ComputeLag(0, 0, Head(7, 1'000'000), 1'001'000);
  EXPECT_EQ(lag.txids_behind, 7u);
  EXPECT_FALSE(lag.seconds_behind);
  EXPECT_FALSE(lag.lag_seconds);
  // An empty stream.
  lag = ComputeLag(0, 0, Head(0, 0), 1'001'000);
  EXPECT_EQ(lag.txids_behind, 0u);
  EXPECT_FALSE(lag.head_seconds_behind);
}

TEST(FollowerMetricsTest, OneLabelledSamplePerReplicaAndNoneForUnknowns) {
  ReplicaReport a;
  a.database = "app.db";
  a.replica = "/srv/r/app.db";
  a.stats.txid = 90;
  a.stats.timestamp_ms = 1'000'000;
  a.stats.frames = 12;
  a.stats.pages = 40;
  a.stats.rejected = 3;
  a.stats.snapshots = 1;
  a.stats.commits = 5;
  a.stats.head = Head(100, 1'004'000);
  ReplicaReport b;
  b.database = "we\"ird\\name\n";
  b.replica = "/r/b.db";
  b.stopped = true;
  const std::string text = RenderFollowerMetrics({a, b}, 1'010'000);
  const std::string la = R"({database="app.db",replica="/srv/r/app.db"})";
  const std::string lb = R"({database="we\"ird\\name\n",replica="/r/b.db"})";
  for (const std::string& want : std::vector<std::string>{
           "# TYPE ltxbus_follower_txids_behind gauge\n",
           "# TYPE ltxbus_follower_frames_applied_total counter\n",
           "ltxbus_follower_up" + la + " 1\n",
           "ltxbus_follower_up" + lb + " 0\n",
           "ltxbus_follower_applied_txid" + la + " 90\n",
           "ltxbus_follower_head_txid" + la + " 100\n",
           "ltxbus_follower_txids_behind" + la + " 10\n",
           "ltxbus_follower_seconds_behind" + la + " 10\n",
           "ltxbus_follower_head_seconds_behind" + la + " 6\n",
           "ltxbus_follower_lag_seconds" + la + " 4\n",
           "ltxbus_follower_frames_applied_total" + la + " 12\n",
           "ltxbus_follower_pages_applied_total" + la + " 40\n",
           "ltxbus_follower_frames_rejected_total" + la + " 3\n",
           "ltxbus_follower_snapshots_applied_total" + la + " 1\n",
           "ltxbus_follower_commits_total" + la + " 5\n",
           "ltxbus_follower_applied_txid" + lb + " 0\n",
       }) {
    EXPECT_NE(text.find(want), std::string::npos) << want << " in\n" << text;
  }
  // b's head was never read: no head or lag samples rather than zeros.
  EXPECT_EQ(text.find("ltxbus_follower_head_txid" + lb), std::string::npos) << text;
  EXPECT_EQ(text.find("ltxbus_follower_txids_behind" + lb), std::string::npos) << text;
  EXPECT_EQ(text.find("ltxbus_follower_seconds_behind" + lb), std::string::npos) << text;
}

}  // namespace
}  // namespace ltxbus::consumer
