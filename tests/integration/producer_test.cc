// `ltxbus replicate` against the real nats-server and Kafka 3.9.1, with the
// app a separate process on the system SQLite: every committed transaction
// arrives as one frame, the stream rebuilds the database exactly, kill -9 of
// the producer loses and duplicates nothing, a second producer is fenced.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <iostream>
#include <random>
#include <thread>

#include "base/env.h"
#include "base/process.h"
#include "tests/support/stream_checker.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testbed.h"

namespace ltxbus {
namespace {

using namespace std::chrono_literals;
using testing::ServerKind;
using testing::StreamChecker;
using testing::TestServer;

class ProducerTest : public testing::ServerTest<ServerKind::kNats, ServerKind::kKafka>,
                     public ::testing::WithParamInterface<ServerKind> {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    db_ = dir_.Join("app.db");
    static int counter = 0;
    const std::string name = fmt::format("p{}x{}", ::getpid(), ++counter);
    url_ = GetParam() == ServerKind::kNats
               ? fmt::format("{}/{}", env(ServerKind::kNats, "NATS_URL"), "LTX" + name)
               : fmt::format("kafka://{}/{}", env(ServerKind::kKafka, "KAFKA_BOOTSTRAP"), name);
  }

  Result<Process> StartProducer(Stream out = Stream::kCapture) {
    ProcessOptions o;
    o.stdout_mode = out;
    o.merge_stderr = true;
    return Process::Spawn({testing::LtxbusBinary(), "replicate", db_, url_}, o);
  }

  // `ltxbus replicate -config` with `yaml` as the config file.
  Result<Process> StartWithConfig(const std::string& yaml,
                                  std::vector<std::pair<std::string, std::string>> env = {}) {
    const std::string config = dir_.Join("ltxbus.yml");
    LTXBUS_RETURN_IF_ERROR(WriteFileAtomic(Env::Default(), config, AsBytes(yaml)));
    ProcessOptions o;
    o.stdout_mode = Stream::kCapture;
    o.merge_stderr = true;
    o.env = std::move(env);
    return Process::Spawn({testing::LtxbusBinary(), "replicate", "-config", config}, o);
  }

  void RunApp(std::vector<std::string> args) {
    Status s = testing::RunWorkload(db_, std::move(args), 300s);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  // The address the producer's log names ("metrics on http://ADDR/metrics").
  static std::string MetricsAddress(Process& p) {
    constexpr std::string_view kPrefix = "metrics on http://";
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (p.output().find(kPrefix) == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      (void)p.Wait(100ms);  // collects the output so far
    }
    const size_t at = p.output().find(kPrefix);
    if (at == std::string::npos) {
      ADD_FAILURE() << "no metrics address logged: " << p.output();
      return "";
    }
    const size_t from = at + kPrefix.size();
    return p.output().substr(from, p.output().find("/metrics", from) - from);
  }

  // The value of `metric` for app.db on the producer's /metrics, or -1.
  static double Metric(const std::string& addr, const std::string& metric) {
    auto r = RunCommand(
        {"curl", "-sS", "--fail", "--max-time", "10", "http://" + addr + "/metrics"}, 20s);
    if (!r.ok() || r->exit_code != 0) return -1;
    const std::string prefix = metric + "{database=\"app.db\",";
    const size_t at = r->output.find("\n" + prefix);
    if (at == std::string::npos) return -1;
    const size_t value = r->output.find("} ", at) + 2;
    return std::stod(r->output.substr(value, r->output.find('\n', value) - value));
  }

  // Waits until `metric` reads `want` (60 s at most); the last value read.
  static double WaitForMetric(const std::string& addr, const std::string& metric, double want) {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    double v = Metric(addr, metric);
    while (v != want && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(100ms);
      v = Metric(addr, metric);
    }
    return v;
  }

  testing::TempDir dir_;
  std::string db_;
  std::string url_;
};

TEST_P(ProducerTest, EveryTransactionRebuildsTheSourceExactly) {
  RunApp({"--create", "--transactions", "5"});
  auto producer = StartProducer();
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  StreamChecker checker(url_, "app.db", dir_.Join("rebuild.db"));
  for (int round = 0; round < 4 && !HasFatalFailure(); round++) {
    RunApp({"--seed", std::to_string(round), "--transactions", "60", "--vacuum-every", "20",
            "--checkpoint-every", "13", "--big-every", "40", "--big-bytes", "3000000"});
    checker.ExpectConverges(db_);
  }
  EXPECT_EQ(checker.snapshots(), 1);
  EXPECT_GT(checker.frames(), 150);
  // Pages go out as raw LZ4 blocks unless the config says otherwise.
  EXPECT_EQ(checker.block_page_frames(), checker.frames());
  EXPECT_EQ(checker.frame_page_frames(), 0);
  ASSERT_TRUE(producer->Signal(SIGTERM).ok());
  auto code = producer->Wait(30s);
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0) << producer->output();
}

TEST_P(ProducerTest, KillNineAtRandomPointsLosesAndDuplicatesNothing) {
  RunApp({"--create", "--transactions", "5"});
  StreamChecker checker(url_, "app.db", dir_.Join("rebuild.db"));
  ProcessOptions app_options;
  app_options.stdout_mode = Stream::kDiscard;
  auto app = Process::Spawn(
      {"python3", testing::SourceDir() + "/tests/apps/workload.py", db_, "--seed", "99",
       "--transactions", "100000", "--vacuum-every", "150", "--checkpoint-every", "70"},
      app_options);
  ASSERT_TRUE(app.ok());
  std::mt19937 rng(42);
  for (int kill = 0; kill < 20 && !HasFatalFailure(); kill++) {
    const int before = checker.frames();
    auto producer = StartProducer();
    ASSERT_TRUE(producer.ok());
    // Kill it while it publishes, not while it starts: wait for its first
    // frame, then a random moment.
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (checker.frames() == before && std::chrono::steady_clock::now() < deadline) {
      checker.Drain(500ms);
    }
    (void)producer->Wait(0ms);  // collect its log
    ASSERT_GT(checker.frames(), before)
        << "producer " << kill << " published nothing: " << producer->output();
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 500));
    ASSERT_TRUE(producer->Kill().ok());
    checker.Drain();
  }
  ASSERT_TRUE(app->Kill().ok());
  auto producer = StartProducer();
  ASSERT_TRUE(producer.ok());
  checker.ExpectConverges(db_);
  EXPECT_GE(checker.frames(), 20);
  ASSERT_TRUE(producer->Signal(SIGTERM).ok());
  EXPECT_TRUE(producer->Wait(30s).ok());
}

TEST_P(ProducerTest, ASecondProducerIsFenced) {
  RunApp({"--create", "--transactions", "5"});
  auto first = StartProducer();
  ASSERT_TRUE(first.ok());
  StreamChecker checker(url_, "app.db", dir_.Join("rebuild.db"));
  checker.ExpectConverges(db_);
  auto second = StartProducer();
  ASSERT_TRUE(second.ok());
  checker.ExpectConverges(db_);  // the second one took over (it may snapshot or continue)
  RunApp({"--seed", "5", "--transactions", "20"});
  // The first producer finds out at its next publish and exits non-zero.
  auto code = first->Wait(60s);
  ASSERT_TRUE(code.ok()) << "the fenced producer kept running";
  EXPECT_NE(*code, 0);
  EXPECT_NE(first->output().find("fenced"), std::string::npos) << first->output();
  checker.ExpectConverges(db_);
  ASSERT_TRUE(second->Signal(SIGTERM).ok());
  EXPECT_TRUE(second->Wait(30s).ok());
}

TEST_P(ProducerTest, ConfigAndExecRunTheAppAfterTheFirstSyncAndExitWithItsCode) {
  RunApp({"--create", "--transactions", "5"});
  const std::string app =
      fmt::format("python3 {}/tests/apps/workload.py {} --seed 4 --transactions 40; exit 7",
                  testing::SourceDir(), db_);
  auto producer = StartWithConfig(fmt::format("bus: ${{LTXBUS_TEST_BUS}}\n"
                                              "exec: \"{}\"\n"
                                              "dbs:\n"
                                              "  - path: {}\n"
                                              "    monitor-interval: 20ms\n"
                                              "    page-encoding: frame\n",
                                              app, db_),
                                  {{"LTXBUS_TEST_BUS", url_}});
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  auto code = producer->Wait(120s);
  ASSERT_TRUE(code.ok()) << producer->output();
  EXPECT_EQ(*code, 7) << "ltxbus must exit with the app's exit code: " << producer->output();
  // Everything the app committed before it exited was published on the way out.
  StreamChecker checker(url_, "app.db", dir_.Join("rebuild.db"));
  checker.ExpectConverges(db_, 10s);
  EXPECT_EQ(checker.snapshots(), 1);
  // For consumers on Go ltx before v0.5.2, which read only LZ4 frames.
  EXPECT_EQ(checker.frame_page_frames(), checker.frames());
  EXPECT_EQ(checker.block_page_frames(), 0);
}

// The app writes a commit's frames (the -wal write the producer is woken by)
// before it makes the commit visible in the wal-index, so a producer can wake
// too early, find nothing, and must look again soon: here nothing else would
// wake it before its 60 s monitor interval.
TEST_P(ProducerTest, EachCommitGoesOutWithoutWaitingForTheNextWrite) {
  RunApp({"--create", "--transactions", "1"});
  auto producer = StartWithConfig(
      fmt::format("bus: {}\ndbs:\n  - path: {}\n    monitor-interval: 60s\n", url_, db_));
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  StreamChecker checker(url_, "app.db", dir_.Join("rebuild.db"));
  checker.ExpectConverges(db_, 30s);
  for (int i = 0; i < 20 && !HasFailure(); i++) {
    RunApp({"--seed", std::to_string(100 + i), "--transactions", "1"});
    checker.ExpectConverges(db_, 10s);
  }
  ASSERT_TRUE(producer->Signal(SIGTERM).ok());
  EXPECT_TRUE(producer->Wait(30s).ok()) << producer->output();
}

// `addr:` in the config (or -metrics-addr) serves Prometheus metrics: what was
// published matches the stream, and `up` drops while the bus is down.
TEST_P(ProducerTest, MetricsShowWhatIsPublishedAndWhenTheBusIsDown) {
  RunApp({"--create", "--transactions", "3"});
  auto producer = StartWithConfig(fmt::format(
      "addr: 127.0.0.1:0\nbus: {}\ndbs:\n  - path: {}\n    checkpoint-interval: 1s\n", url_, db_));
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  const std::string addr = MetricsAddress(*producer);
  ASSERT_FALSE(addr.empty());
  StreamChecker checker(url_, "app.db", dir_.Join("rebuild.db"));
  RunApp({"--seed", "7", "--transactions", "25"});
  checker.ExpectConverges(db_, 60s);
  const double frames = checker.frames();
  EXPECT_EQ(WaitForMetric(addr, "ltxbus_producer_frames_published_total", frames), frames);
  EXPECT_EQ(Metric(addr, "ltxbus_producer_txid"), static_cast<double>(checker.last_txid()));
  EXPECT_EQ(Metric(addr, "ltxbus_producer_snapshots_published_total"), 1);
  EXPECT_EQ(Metric(addr, "ltxbus_producer_up"), 1);
  EXPECT_GT(Metric(addr, "ltxbus_producer_last_publish_timestamp_seconds"), 1.7e9);
  // Within a second the producer checkpoints under its barrier, holding the
  // app's write lock briefly.
  double held = 0;
  for (int i = 0; i < 100 && held <= 0; i++) {
    std::this_thread::sleep_for(100ms);
    held = Metric(addr, "ltxbus_producer_app_lock_held_seconds_total");
  }
  EXPECT_GT(held, 0);
  EXPECT_LT(held, 5);
  EXPECT_GT(Metric(addr, "ltxbus_producer_wal_restarting_checkpoints_total"), 0);

  // The bus goes away while the app writes: not publishing, nothing lost.
  TestServer& bus = server(GetParam());
  ASSERT_TRUE(bus.Halt().ok());
  RunApp({"--seed", "8", "--transactions", "5"});
  // The stalled publish shows within seconds, long before it times out.
  double stalled = 0;
  for (int i = 0; i < 200 && stalled < 2; i++) {
    std::this_thread::sleep_for(100ms);
    stalled = Metric(addr, "ltxbus_producer_publish_seconds");
  }
  EXPECT_GE(stalled, 2);
  EXPECT_EQ(WaitForMetric(addr, "ltxbus_producer_up", 0), 0) << producer->output();
  ASSERT_TRUE(bus.Resume().ok());
  EXPECT_EQ(WaitForMetric(addr, "ltxbus_producer_up", 1), 1) << producer->output();
  checker.ExpectConverges(db_, 120s);
  const double all = checker.frames();
  EXPECT_EQ(WaitForMetric(addr, "ltxbus_producer_frames_published_total", all), all);
  EXPECT_LT(Metric(addr, "ltxbus_producer_publish_seconds"), 2);
  ASSERT_TRUE(producer->Signal(SIGTERM).ok());
  EXPECT_TRUE(producer->Wait(30s).ok()) << producer->output();
  if (HasFailure()) std::cerr << "the producer's log:\n" << producer->output();
}

INSTANTIATE_TEST_SUITE_P(Buses, ProducerTest,
                         ::testing::Values(ServerKind::kNats, ServerKind::kKafka),
                         [](const auto& p) { return std::string(testing::ServerName(p.param)); });

}  // namespace
}  // namespace ltxbus
