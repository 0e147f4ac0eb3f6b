// `ltxbus replicate` against the real nats-server and Kafka 3.9.1, with the
// app a separate process on the system SQLite: every committed transaction
// arrives as one frame, the stream rebuilds the database exactly, kill -9 of
// the producer loses and duplicates nothing, a second producer is fenced.
#include <gtest/gtest.h>

#include <csignal>
#include <random>

#include "base/process.h"
#include "bus/assembler.h"
#include "bus/bus.h"
#include "ltx/apply.h"
#include "tests/support/sqlite_pages.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testbed.h"

namespace ltxbus {
namespace {

using namespace std::chrono_literals;
using testing::ServerKind;

// Follows one database's stream, checks what a consumer must be able to rely
// on, and applies every frame to a rebuild.
class StreamChecker {
 public:
  StreamChecker(const std::string& url, const std::string& db, const std::string& rebuild)
      : rebuild_(rebuild) {
    auto endpoint = bus::Endpoint::Parse(url);
    EXPECT_TRUE(endpoint.ok());
    auto b = bus::Bus::Connect(*endpoint);
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    bus_ = std::move(*b);
    auto sub = bus_->Subscribe(db, {});
    EXPECT_TRUE(sub.ok()) << sub.status().ToString();
    sub_ = std::move(*sub);
    auto a = ltx::DatabaseFileApplier::Open(Env::Default(), rebuild_);
    EXPECT_TRUE(a.ok());
    applier_ = std::move(*a);
  }

  // Consumes what is on the bus now.
  void Drain() {
    for (;;) {
      auto c = sub_->Next(200ms);
      ASSERT_TRUE(c.ok()) << c.status().ToString();
      if (!c->has_value()) return;
      auto f = assembler_.Add(std::move(**c));
      ASSERT_TRUE(f.ok()) << f.status().ToString();
      if (f->has_value()) Apply(**f);
    }
  }

  // Waits until the rebuild equals the source (the producer caught up).
  void ExpectConverges(const std::string& source, std::chrono::seconds timeout = 60s) {
    std::string diff;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      Drain();
      if (::testing::Test::HasFatalFailure()) return;
      auto want = testing::ReadSqlitePages(source);
      auto got = testing::ReadFilePages(rebuild_);
      ASSERT_TRUE(want.ok()) << want.status().ToString();
      if (got.ok()) {
        diff = testing::DiffPages(*want, *got);
        if (diff.empty()) return;
      }
      std::this_thread::sleep_for(200ms);
    }
    FAIL() << "the rebuild never caught up with the source: " << diff;
  }

  int frames() const { return frames_; }
  int snapshots() const { return snapshots_; }

 private:
  void Apply(const bus::Frame& f) {
    const bus::FrameId& id = f.id();
    if (id.min_txid == 1) {
      // A snapshot is honest only where a producer (re)started.
      EXPECT_TRUE(frames_ == 0 || id.producer != last_producer_)
          << "snapshot TXID " << id.max_txid << " without a producer restart";
      snapshots_++;
    } else {
      EXPECT_EQ(id.min_txid, last_txid_ + 1) << "TXIDs must be contiguous";
    }
    EXPECT_GT(id.max_txid, last_txid_) << "a TXID reached the consumer twice";
    const std::string path = rebuild_ + ".frame";
    auto bytes = f.ReadAll();
    ASSERT_TRUE(bytes.ok());
    ASSERT_TRUE(WriteFileAtomic(Env::Default(), path, AsBytes(*bytes)).ok());
    Status s = applier_->ApplyFile(path);  // verifies the checksum chain too
    ASSERT_TRUE(s.ok()) << s.ToString();
    last_txid_ = id.max_txid;
    last_producer_ = id.producer;
    frames_++;
  }

  std::string rebuild_;
  std::unique_ptr<bus::Bus> bus_;
  std::unique_ptr<bus::Subscriber> sub_;
  std::unique_ptr<ltx::DatabaseFileApplier> applier_;
  bus::FrameAssembler assembler_;
  ltx::TXID last_txid_ = 0;
  std::string last_producer_;
  int frames_ = 0;
  int snapshots_ = 0;
};

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

  void RunApp(std::vector<std::string> args) {
    std::vector<std::string> argv = {"python3", testing::SourceDir() + "/tests/apps/workload.py",
                                     db_};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = RunCommand(argv, 300s);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->exit_code, 0) << r->error_output;
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
      checker.Drain();
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
  const std::string config = dir_.Join("ltxbus.yml");
  const std::string app =
      fmt::format("python3 {}/tests/apps/workload.py {} --seed 4 --transactions 40; exit 7",
                  testing::SourceDir(), db_);
  ASSERT_TRUE(WriteFileAtomic(Env::Default(), config,
                              AsBytes(fmt::format("bus: ${{LTXBUS_TEST_BUS}}\n"
                                                  "exec: \"{}\"\n"
                                                  "dbs:\n"
                                                  "  - path: {}\n"
                                                  "    monitor-interval: 20ms\n",
                                                  app, db_)))
                  .ok());
  ProcessOptions o;
  o.stdout_mode = Stream::kCapture;
  o.merge_stderr = true;
  o.env = {{"LTXBUS_TEST_BUS", url_}};
  auto producer = Process::Spawn({testing::LtxbusBinary(), "replicate", "-config", config}, o);
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  auto code = producer->Wait(120s);
  ASSERT_TRUE(code.ok()) << producer->output();
  EXPECT_EQ(*code, 7) << "ltxbus must exit with the app's exit code: " << producer->output();
  // Everything the app committed before it exited was published on the way out.
  StreamChecker checker(url_, "app.db", dir_.Join("rebuild.db"));
  checker.ExpectConverges(db_, 10s);
  EXPECT_EQ(checker.snapshots(), 1);
}

INSTANTIATE_TEST_SUITE_P(Buses, ProducerTest,
                         ::testing::Values(ServerKind::kNats, ServerKind::kKafka),
                         [](const auto& p) { return std::string(testing::ServerName(p.param)); });

}  // namespace
}  // namespace ltxbus
