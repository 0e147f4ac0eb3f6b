#include "producer/replicator_metrics.h"

#include <gtest/gtest.h>

namespace ltxbus::producer {
namespace {

TEST(ReplicatorMetricsTest, OneSamplePerDatabaseAndNothingUnknown) {
  DatabaseReport published;
  published.database = "app.db";
  published.path = "/data/app.db";
  published.stats.frames = 12;
  published.stats.snapshots = 1;
  published.stats.txid = 11;
  published.stats.last_publish_ms = 1'700'000'000'500;
  published.stats.wal_frames = 30;
  published.stats.app_lock_held_us = 2'500'000;
  published.publishing = true;
  DatabaseReport down;
  down.database = "other\"db";
  down.path = "/data/other.db";
  down.error = "bus unreachable";
  down.publish_started_ms = 1'700'000'000'000;
  const std::string text = RenderProducerMetrics({published, down}, 1'700'000'004'000);
  const std::string app = "{database=\"app.db\",path=\"/data/app.db\"}";
  const std::string other = "{database=\"other\\\"db\",path=\"/data/other.db\"}";
  EXPECT_NE(text.find("ltxbus_producer_up" + app + " 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ltxbus_producer_up" + other + " 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ltxbus_producer_txid" + app + " 11\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ltxbus_producer_last_publish_timestamp_seconds" + app + " 1700000000.5\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("ltxbus_producer_frames_published_total" + app + " 12\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("ltxbus_producer_app_lock_held_seconds_total" + app + " 2.5\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("ltxbus_producer_publish_seconds" + other + " 4\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("ltxbus_producer_publish_seconds" + app + " 0\n"), std::string::npos) << text;
  // Nothing published yet: no TXID and no timestamp rather than zeros.
  EXPECT_EQ(text.find("ltxbus_producer_txid" + other), std::string::npos) << text;
  EXPECT_EQ(text.find("ltxbus_producer_last_publish_timestamp_seconds" + other), std::string::npos)
      << text;
  EXPECT_NE(text.find("# TYPE ltxbus_producer_frames_published_total counter\n"),
            std::string::npos);
}

}  // namespace
}  // namespace ltxbus::producer
