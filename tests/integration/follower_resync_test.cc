// Bad frames and lost stream positions on the real nats-server and Kafka:
//
// - frames that are corrupt, from another primary that also calls itself
//   app.db (a foreign database's checksums), that leave a gap, or that come
//   out of order, published on the real stream while the producer is
//   stopped: each is rejected with a clear error, the replica stays exactly
//   as it was (page for page), /metrics shows the rejections and the lag,
//   and the snapshot the restarted producer publishes resyncs it;
// - stream retention shorter than the follower's downtime (NATS: the stream
//   purged; Kafka: DeleteRecords): the follower finds its position gone and
//   bootstraps from the snapshot the stream still holds.
// Every run ends with the replica equal to the primary.
#include <gtest/gtest.h>

#include <thread>

#include "consumer/follower_test_util.h"
#include "consumer/replica_position.h"
#include "consumer/snapshot_scan.h"
#include "tests/integration/follower_support.h"
#include "tests/support/sqlite_pages.h"

namespace ltxbus {
namespace {

using namespace std::chrono_literals;
using testing::ServerKind;

class FollowerResyncTest : public testing::FollowerFixture {
 protected:
  // A frame of `pages` (the whole database is `commit` pages) claiming to
  // follow the state with checksum `pre`.
  testing::TestFrame Frame(ltx::TXID min, ltx::TXID max, ltx::Checksum pre,
                           const testing::Pages& pages, uint32_t commit) {
    ltx::Header h;
    h.flags = 0;  // checksums present, as the producer writes them
    h.page_size = static_cast<uint32_t>(pages.begin()->second.size());
    h.commit = commit;
    h.min_txid = min;
    h.max_txid = max;
    h.timestamp_ms = Env::Default()->NowUnixMillis();
    h.pre_apply_checksum = pre;
    const ltx::Checksum post = pre ^ 0x0123456789abcdefULL;  // never checked: rejected first
    testing::TestFrame f;
    f.bytes = testing::EncodeLtx(h, pages, post);
    f.id.database = "app.db";
    f.id.min_txid = min;
    f.id.max_txid = max;
    f.id.timestamp_ms = h.timestamp_ms;
    f.id.pre_apply = pre;
    f.id.producer = "test/injector";
    f.trailer.frame_size = f.bytes.size();
    f.trailer.post_apply = post;
    return f;
  }
};

TEST_P(FollowerResyncTest, InjectedBadFramesAreRejectedAndASnapshotResyncs) {
  RunBank({"--create", "--transactions", "10"});
  auto producer = StartProducer();
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  auto follower = StartFollower({"-metrics-addr", "127.0.0.1:0"});
  ASSERT_TRUE(follower.ok()) << follower.status().ToString();
  const std::string addr = MetricsAddress(*follower);
  RunBank({"--seed", "5", "--transactions", "60"});
  ExpectConverges();
  // Only the injected frames after this: nobody else publishes.
  StopCleanly(producer, "the producer");
  auto b = Connect();
  ASSERT_NE(b, nullptr);
  auto last = b->ReadLastFrame("app.db");
  ASSERT_TRUE(last.ok() && last->has_value()) << last.status().ToString();
  const ltx::TXID t = (*last)->id.max_txid;
  const ltx::Checksum sum = (*last)->trailer.post_apply;
  ASSERT_EQ(PositionTxid(), t);
  auto before = testing::ReadSqlitePages(replica_);
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  const auto commit = static_cast<uint32_t>(before->size());
  testing::Pages changed = {{2, before->at(2)}};
  changed[2][100] ^= 0x5a;

  struct Bad {
    std::string what;
    testing::TestFrame frame;
    std::string logged;  // what the rejection says
  };
  // Distinct last TXIDs: the frame assembler takes a frame with the same
  // last TXID as the one just before it for a re-delivery (on Kafka, where
  // frames carry no attempt) and drops it before the follower sees it.
  testing::TestFrame corrupt = Frame(t + 1, t + 2, sum, changed, commit);
  const size_t mid = corrupt.bytes.size() / 2;
  for (size_t i = mid; i < mid + 16; i++) corrupt.bytes[i] ^= static_cast<char>(0xff);
  const std::vector<Bad> bad = {
      {"another primary's frame (a foreign database's checksum)",
       Frame(t + 1, t + 1, sum ^ 0x00ff00ff00ff00ffULL, changed, commit), "pre-apply"},
      {"corrupt bytes", corrupt, "ltx decode"},
      {"a gap", Frame(t + 3, t + 3, sum, changed, commit), "gap"},
      {"out of order (TXID t+5 before t+4)", Frame(t + 5, t + 5, sum, changed, commit), "gap"},
      {"out of order (TXID t+4 after t+5)", Frame(t + 4, t + 4, sum, changed, commit), "gap"},
  };
  int rejected = 0;
  for (const Bad& x : bad) {
    SCOPED_TRACE(x.what);
    testing::Publish(*b, x.frame);
    WaitForLog(*follower, "rejected frame", ++rejected);
    const std::string& log = follower->output();
    const std::string line = log.substr(log.rfind("rejected frame"));
    EXPECT_NE(line.find(ltx::FormatTXID(x.frame.id.max_txid)), std::string::npos) << line;
    EXPECT_NE(line.find("Not applied: the replica stays at TXID " + ltx::FormatTXID(t)),
              std::string::npos)
        << line;
    if (!x.logged.empty()) {
      EXPECT_NE(line.find(x.logged), std::string::npos) << line;
    }
    // Nothing of it reached the replica.
    testing::ExpectReplicaHolds(replica_, *before);
    EXPECT_EQ(PositionTxid(), t);
  }
  EXPECT_NE(follower->output().find("[error]"), std::string::npos);
  // /metrics: the rejections, the resync under way, and the head ahead.
  WaitForMetric(*follower, addr, "ltxbus_follower_head_txid", replica_,
                [&](double v) { return v == static_cast<double>(t + 4); });
  std::string m = Scrape(addr);
  EXPECT_EQ(Sample(m, "ltxbus_follower_frames_rejected_total", replica_),
            static_cast<double>(bad.size()))
      << m;
  EXPECT_EQ(Sample(m, "ltxbus_follower_resyncing", replica_), 1.0) << m;
  EXPECT_EQ(Sample(m, "ltxbus_follower_txids_behind", replica_), 4.0) << m;
  EXPECT_EQ(Sample(m, "ltxbus_follower_applied_txid", replica_), static_cast<double>(t)) << m;
  const StatusOutput status = SettledStatus({url_, "app.db", "-o", replica_});
  EXPECT_EQ(status.exit_code, 0) << status.error_output;
  EXPECT_EQ(status.json["replicas"][0]["txids_behind"], 4) << status.json.dump();

  // The restarted producer cannot continue the stream's last (injected)
  // frame, so it publishes a snapshot: the follower resyncs from it.
  producer = StartProducer();
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  WaitForLog(*follower, "applying the snapshot", 2);
  RunBank({"--seed", "6", "--transactions", "40"});
  ExpectConverges();
  ExpectIntegrityOk();
  WaitForMetric(*follower, addr, "ltxbus_follower_txids_behind", replica_,
                [](double v) { return v == 0; });
  m = Scrape(addr);
  EXPECT_EQ(Sample(m, "ltxbus_follower_resyncing", replica_), 0.0) << m;
  EXPECT_EQ(Sample(m, "ltxbus_follower_snapshots_applied_total", replica_), 2.0) << m;
  StopCleanly(follower, "the follower");
  StopCleanly(producer, "the producer");
}

TEST_P(FollowerResyncTest, RetentionShorterThanTheDowntimeBootstrapsFromASnapshot) {
  RunBank({"--create", "--transactions", "10"});
  auto producer = StartProducer();
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  auto follower = StartFollower();
  ASSERT_TRUE(follower.ok()) << follower.status().ToString();
  RunBank({"--seed", "8", "--transactions", "50"});
  ExpectConverges();
  StopCleanly(follower, "the follower");
  auto position =
      consumer::LoadReplicaPositionFile(Env::Default(), consumer::ReplicaPositionPath(replica_));
  ASSERT_TRUE(position.ok() && position->committed) << position.status().ToString();
  const uint64_t stopped_at = position->committed->offset;

  // While the follower is down: more writes, and a producer restart that
  // cannot continue the WAL (it was checkpointed and truncated meanwhile), so
  // it publishes a snapshot; then more writes after it.
  RunBank({"--seed", "9", "--transactions", "100"});
  StopCleanly(producer, "the producer");
  auto ckpt = RunCommand({"sqlite3", db_, "PRAGMA wal_checkpoint(TRUNCATE)"}, 60s);
  ASSERT_TRUE(ckpt.ok() && ckpt->exit_code == 0) << ckpt->error_output;
  producer = StartProducer();
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  WaitForLog(*producer, "snapshot TXID");
  RunBank({"--seed", "10", "--transactions", "30"});

  // Retention removes everything before that snapshot, the follower's
  // position included.
  auto b = Connect();
  ASSERT_NE(b, nullptr);
  auto scan = consumer::FindNewestSnapshot(
      [&](const bus::StartPosition& start) { return b->Subscribe("app.db", start); }, 3s);
  ASSERT_TRUE(scan.ok() && scan->newest) << scan.status().ToString();
  ASSERT_GT(scan->newest->first_offset, stopped_at + 1);
  DropBefore(scan->newest->first_offset);

  follower = StartFollower();
  ASSERT_TRUE(follower.ok()) << follower.status().ToString();
  WaitForLog(*follower, "applying the snapshot");
  ExpectConverges();
  ExpectIntegrityOk();
  const StatusOutput status = SettledStatus({url_, "app.db", "-o", replica_});
  EXPECT_EQ(status.exit_code, 0) << status.error_output;
  EXPECT_EQ(status.json["replicas"][0]["txids_behind"], 0) << status.json.dump();
  StopCleanly(follower, "the follower");
  EXPECT_EQ(follower->output().find("[error]"), std::string::npos) << follower->output();
  StopCleanly(producer, "the producer");
}

INSTANTIATE_TEST_SUITE_P(Buses, FollowerResyncTest,
                         ::testing::Values(ServerKind::kNats, ServerKind::kKafka),
                         [](const auto& p) { return std::string(testing::ServerName(p.param)); });

}  // namespace
}  // namespace ltxbus
