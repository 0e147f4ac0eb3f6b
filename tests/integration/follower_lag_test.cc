// Lag on the real nats-server and Kafka: two replicas of one stream in one
// `ltxbus follow -config` process (metrics address from the config's
// `addr`), `ltxbus status` and /metrics report 0 TXIDs behind once the
// writer stops and the replicas caught up, and `ltxbus status` reports > 0
// while the follower is stopped and the writer writes. (> 0 on /metrics, with
// a follower that cannot apply: follower_resync_test.cc.)
#include <gtest/gtest.h>

#include <thread>

#include "base/env.h"
#include "tests/integration/follower_support.h"

namespace ltxbus {
namespace {

using namespace std::chrono_literals;
using testing::ServerKind;

class FollowerLagTest : public testing::FollowerFixture {
 protected:
  // Both replicas caught up: /metrics says 0 behind with a head read after
  // the last commit, and every counter agrees with the position file.
  void ExpectCaughtUpOnMetrics(Process& follower, const std::string& addr,
                               const std::vector<std::string>& replicas) {
    for (const std::string& r : replicas) {
      ExpectConverges(120s, r);
      const double txid = static_cast<double>(PositionTxid(r));
      ASSERT_GT(txid, 0);
      WaitForMetric(follower, addr, "ltxbus_follower_head_txid", r,
                    [&](double v) { return v == txid; });
      const std::string m = Scrape(addr);
      EXPECT_EQ(Sample(m, "ltxbus_follower_txids_behind", r), 0.0) << m;
      EXPECT_EQ(Sample(m, "ltxbus_follower_applied_txid", r), txid) << m;
      EXPECT_EQ(Sample(m, "ltxbus_follower_lag_seconds", r), 0.0) << m;
      EXPECT_EQ(Sample(m, "ltxbus_follower_up", r), 1.0) << m;
      EXPECT_EQ(Sample(m, "ltxbus_follower_frames_rejected_total", r), 0.0) << m;
      EXPECT_GT(Sample(m, "ltxbus_follower_frames_applied_total", r).value_or(0), 0) << m;
      EXPECT_GT(Sample(m, "ltxbus_follower_pages_applied_total", r).value_or(0), 0) << m;
      EXPECT_GT(Sample(m, "ltxbus_follower_commits_total", r).value_or(0), 0) << m;
      EXPECT_GE(Sample(m, "ltxbus_follower_seconds_behind", r).value_or(-1), 0) << m;
      EXPECT_GE(Sample(m, "ltxbus_follower_head_seconds_behind", r).value_or(-1), 0) << m;
    }
  }

  // `ltxbus status -config` for both replicas; `behind` says whether frames
  // must be missing.
  void ExpectStatus(const std::string& config, const std::vector<std::string>& replicas,
                    bool behind) {
    const StatusOutput s = SettledStatus({"-config", config});
    ASSERT_EQ(s.exit_code, 0) << s.error_output << s.json.dump();
    ASSERT_EQ(s.json["replicas"].size(), replicas.size()) << s.json.dump();
    for (size_t i = 0; i < replicas.size(); i++) {
      const auto& j = s.json["replicas"][i];
      EXPECT_EQ(j["replica"], replicas[i]);
      EXPECT_EQ(j["database"], "app.db");
      EXPECT_TRUE(j["error"].is_null()) << j.dump();
      EXPECT_EQ(j["txid"].get<uint64_t>(), PositionTxid(replicas[i]));
      EXPECT_FALSE(j["seconds_behind"].is_null()) << j.dump();
      const uint64_t head = j["head_txid"].get<uint64_t>();
      const uint64_t applied = j["txid"].get<uint64_t>();
      if (behind) {
        EXPECT_GT(head, applied) << j.dump();
        EXPECT_EQ(j["txids_behind"].get<uint64_t>(), head - applied) << j.dump();
        EXPECT_GT(j["lag_seconds"].get<double>(), 0) << j.dump();
        EXPECT_EQ(j["state"], "behind");
      } else {
        EXPECT_EQ(head, applied) << j.dump();
        EXPECT_EQ(j["txids_behind"].get<uint64_t>(), 0u) << j.dump();
        EXPECT_EQ(j["state"], "caught up");
      }
    }
  }
};

TEST_P(FollowerLagTest, TwoReplicasInOneProcessReportTheirLagOnStatusAndMetrics) {
  RunBank({"--create", "--transactions", "10"});
  auto producer = StartProducer();
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  const std::vector<std::string> replicas = {dir_.Join("replicas/one.db"),
                                             dir_.Join("replicas/two.db")};
  const std::string config = dir_.Join("follow.yml");
  ASSERT_TRUE(WriteFileAtomic(Env::Default(), config,
                              AsBytes(fmt::format("addr: 127.0.0.1:0\n"
                                                  "log-level: debug\n"
                                                  "bus: {}\n"
                                                  "follow:\n"
                                                  "  - name: app.db\n"
                                                  "    replica: {}\n"
                                                  "  - name: app.db\n"
                                                  "    replica: {}\n"
                                                  "    max-batch: 4\n",
                                                  url_, replicas[0], replicas[1])))
                  .ok());
  auto follower = Ltxbus({"follow", "-config", config});
  ASSERT_TRUE(follower.ok()) << follower.status().ToString();
  const std::string addr = MetricsAddress(*follower);
  RunBank({"--seed", "3", "--transactions", "200"});
  ExpectCaughtUpOnMetrics(*follower, addr, replicas);
  // The config's log-level applies (each replica commit is a debug line).
  WaitForLog(*follower, "[debug] app.db: committed");
  ExpectStatus(config, replicas, /*behind=*/false);
  // The short form and the table.
  auto table =
      RunCommand({testing::LtxbusBinary(), "status", url_, "app.db", "-o", replicas[0]}, 60s);
  ASSERT_TRUE(table.ok());
  EXPECT_EQ(table->exit_code, 0) << table->error_output;
  EXPECT_NE(table->output.find("caught up"), std::string::npos) << table->output;
  EXPECT_NE(table->output.find(replicas[0]), std::string::npos) << table->output;

  // The follower stops; the writer goes on: status sees the replicas behind.
  StopCleanly(follower, "the follower");
  RunBank({"--seed", "4", "--transactions", "100"});
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  for (;;) {
    const StatusOutput s = Status({"-config", config});
    ASSERT_EQ(s.exit_code, 0) << s.error_output;
    if (s.json["replicas"][0]["txids_behind"].get<uint64_t>() >= 100) break;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << "the producer never published the writes: " << s.json.dump();
    std::this_thread::sleep_for(200ms);
  }
  ExpectStatus(config, replicas, /*behind=*/true);

  // Started again, both catch up and lag returns to 0. --log-level wins over
  // the config's.
  auto again = Ltxbus({"--log-level", "info", "follow", "-config", config});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  const std::string addr2 = MetricsAddress(*again);
  ExpectCaughtUpOnMetrics(*again, addr2, replicas);
  ExpectStatus(config, replicas, /*behind=*/false);
  for (const std::string& r : replicas) ExpectIntegrityOk(r);
  StopCleanly(again, "the follower");
  EXPECT_EQ(again->output().find("[error]"), std::string::npos) << again->output();
  EXPECT_EQ(again->output().find("[debug]"), std::string::npos) << again->output();
  StopCleanly(producer, "the producer");
}

INSTANTIATE_TEST_SUITE_P(Buses, FollowerLagTest,
                         ::testing::Values(ServerKind::kNats, ServerKind::kKafka),
                         [](const auto& p) { return std::string(testing::ServerName(p.param)); });

}  // namespace
}  // namespace ltxbus
