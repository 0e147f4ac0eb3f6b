// `ltxbus follow` end to end against the real nats-server and Kafka 3.9.1:
// the app (tests/apps/bank.py) and the readers (tests/apps/bank_reader.py)
// are separate processes on the system SQLite 3.40.1, `ltxbus replicate`
// publishes, `ltxbus follow` keeps the replica.
//
// - Bank invariant: readers never see a torn or older state while the
//   replica follows growth, shrink, schema changes and VACUUM; the replica
//   passes integrity_check and ends equal to the primary page for page.
// - kill -9 of the follower at 20 random points while the app writes: each
//   restart resumes (and verifies the replica), readers still see no torn
//   state, and the replica ends equal to the primary.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <random>

#include "base/process.h"
#include "consumer/replica_position.h"
#include "tests/support/sqlite_pages.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testbed.h"

namespace ltxbus {
namespace {

using namespace std::chrono_literals;
using testing::ServerKind;

constexpr int kReaders = 4;

class FollowerTest : public testing::ServerTest<ServerKind::kNats, ServerKind::kKafka>,
                     public ::testing::WithParamInterface<ServerKind> {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    db_ = dir_.Join("app.db");
    replica_ = dir_.Join("replicas/app.db");
    stop_file_ = dir_.Join("stop-readers");
    static int counter = 0;
    const std::string name = fmt::format("f{}x{}", ::getpid(), ++counter);
    url_ = GetParam() == ServerKind::kNats
               ? fmt::format("{}/{}", env(ServerKind::kNats, "NATS_URL"), "LTX" + name)
               : fmt::format("kafka://{}/{}", env(ServerKind::kKafka, "KAFKA_BOOTSTRAP"), name);
  }

  static std::string App(const std::string& name) {
    return testing::SourceDir() + "/tests/apps/" + name;
  }

  Result<Process> Ltxbus(std::vector<std::string> args) {
    args.insert(args.begin(), testing::LtxbusBinary());
    ProcessOptions o;
    o.stdout_mode = Stream::kCapture;
    o.merge_stderr = true;
    return Process::Spawn(args, o);
  }
  Result<Process> StartProducer() { return Ltxbus({"replicate", db_, url_}); }
  Result<Process> StartFollower() { return Ltxbus({"follow", url_, "app.db", "-o", replica_}); }

  void RunBank(std::vector<std::string> args) {
    std::vector<std::string> argv = {"python3", App("bank.py"), db_};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = RunCommand(argv, 300s);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->exit_code, 0) << r->error_output;
  }

  std::vector<Process> StartReaders(int n, int min_reads) {
    std::vector<Process> readers;
    for (int i = 0; i < n; i++) {
      ProcessOptions o;
      o.stdout_mode = Stream::kCapture;
      o.stderr_mode = Stream::kCapture;
      auto p = Process::Spawn({"python3", App("bank_reader.py"), replica_, "--stop-file",
                               stop_file_, "--min-reads", std::to_string(min_reads)},
                              o);
      EXPECT_TRUE(p.ok()) << p.status().ToString();
      if (p.ok()) readers.push_back(std::move(*p));
    }
    return readers;
  }

  struct ReaderTotals {
    int64_t reads = 0, violations = 0, errors = 0, states = 0;
  };
  // Stops the readers and adds up what they saw.
  ReaderTotals StopReaders(std::vector<Process>& readers) {
    EXPECT_TRUE(WriteFileAtomic(Env::Default(), stop_file_, AsBytes("stop")).ok());
    ReaderTotals t;
    for (Process& r : readers) {
      auto code = r.Wait(240s);
      EXPECT_TRUE(code.ok()) << "a reader did not stop: " << r.error_output();
      EXPECT_EQ(code.ok() ? *code : -1, 0) << r.error_output();
      auto j = nlohmann::json::parse(r.output(), nullptr, /*allow_exceptions=*/false);
      EXPECT_TRUE(j.is_object()) << r.output() << r.error_output();
      if (!j.is_object()) continue;
      t.reads += j["reads"].get<int64_t>();
      t.violations += j["violations"].get<int64_t>();
      t.errors += j["errors"].get<int64_t>();
      t.states += j["states"].get<int64_t>();
      EXPECT_EQ(j["version"].get<std::string>(), "3.40.1") << "readers use the system SQLite";
      EXPECT_EQ(j["violations"].get<int64_t>(), 0) << r.error_output();
    }
    return t;
  }

  // Waits until the replica equals the primary page for page (page 1's
  // change counter and version bytes masked: SQLite rewrites them).
  void ExpectConverges(std::chrono::seconds timeout = 120s) {
    std::string diff = "the replica was never readable";
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto want = testing::ReadSqlitePages(db_);
      ASSERT_TRUE(want.ok()) << want.status().ToString();
      if (Env::Default()->FileExists(replica_)) {
        auto got = testing::ReadSqlitePages(replica_);
        if (got.ok()) {
          testing::PageCompareOptions o;
          o.mask_header_counters = true;
          diff = testing::DiffPages(*want, *got, o);
          if (diff.empty()) return;
        }
      }
      std::this_thread::sleep_for(100ms);
    }
    FAIL() << "the replica never caught up with the primary: " << diff;
  }

  // The replica checked by the system SQLite, read-only.
  void ExpectIntegrityOk() {
    auto r = RunCommand({"sqlite3", "-readonly", replica_, "PRAGMA integrity_check"}, 60s);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->output, "ok\n") << r->error_output;
  }

  // The newest TXID the follower's position file names (0 if none).
  ltx::TXID PositionTxid() {
    auto f =
        consumer::LoadReplicaPositionFile(Env::Default(), consumer::ReplicaPositionPath(replica_));
    if (!f.ok()) return 0;
    ltx::TXID t = f->committed ? f->committed->txid : 0;
    if (f->pending) t = std::max(t, f->pending->txid);
    return t;
  }

  void StopCleanly(Result<Process>& p, const std::string& what) {
    ASSERT_TRUE(p->Signal(SIGTERM).ok());
    auto code = p->Wait(60s);
    ASSERT_TRUE(code.ok()) << what << " did not stop: " << p->output();
    EXPECT_EQ(*code, 0) << what << ": " << p->output();
  }

  testing::TempDir dir_;
  std::string db_, replica_, stop_file_, url_;
};

TEST_P(FollowerTest, BankInvariantHoldsForReadersWhileTheReplicaFollows) {
  RunBank({"--create", "--transactions", "10"});
  auto producer = StartProducer();
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  auto follower = StartFollower();
  ASSERT_TRUE(follower.ok()) << follower.status().ToString();
  std::vector<Process> readers = StartReaders(kReaders, 100000 / kReaders);
  ASSERT_EQ(readers.size(), static_cast<size_t>(kReaders));
  // Rate-limited so the run spans the readers' reads: seconds of changing
  // states rather than a burst the follower applies in a few batches. Kafka
  // gets fewer: the producer publishes each frame as one Kafka transaction.
  const bool kafka = GetParam() == ServerKind::kKafka;
  RunBank({"--seed", "7", "--transactions", kafka ? "800" : "3000", "--rate", kafka ? "150" : "400",
           "--vacuum-every", "200"});
  ExpectConverges();
  const ReaderTotals t = StopReaders(readers);
  EXPECT_EQ(t.violations, 0);
  EXPECT_EQ(t.errors, 0);
  EXPECT_GE(t.reads, 100000);
  // Each reader saw many distinct states, not one frozen snapshot.
  EXPECT_GE(t.states, 4 * 100);
  ExpectIntegrityOk();
  ExpectConverges(10s);  // the final state, after the readers stopped
  StopCleanly(follower, "the follower");
  EXPECT_NE(follower->output().find("applying the snapshot"), std::string::npos)
      << follower->output();
  EXPECT_EQ(follower->output().find("[error]"), std::string::npos) << follower->output();
  StopCleanly(producer, "the producer");
  std::cerr << "readers: " << t.reads << " reads, " << t.states << " states seen\n";
}

TEST_P(FollowerTest, KillNineOfTheFollowerAtRandomPointsResumesExactly) {
  RunBank({"--create", "--transactions", "10"});
  auto producer = StartProducer();
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  ProcessOptions quiet;
  quiet.stdout_mode = Stream::kDiscard;
  auto app = Process::Spawn({"python3", App("bank.py"), db_, "--seed", "11", "--transactions", "0",
                             "--rate", "300", "--vacuum-every", "120"},
                            quiet);
  ASSERT_TRUE(app.ok()) << app.status().ToString();
  std::vector<Process> readers = StartReaders(1, 0);
  std::mt19937 rng(4242);
  for (int kill = 0; kill < 20 && !HasFatalFailure(); kill++) {
    const ltx::TXID before = PositionTxid();
    auto follower = StartFollower();
    ASSERT_TRUE(follower.ok()) << follower.status().ToString();
    // Kill it while it applies: after it started a batch, at a random moment.
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (PositionTxid() <= before && std::chrono::steady_clock::now() < deadline) {
      ASSERT_FALSE(follower->Wait(0ms).ok())
          << "follower " << kill << " exited: " << follower->output();
      std::this_thread::sleep_for(5ms);
    }
    if (PositionTxid() <= before) {
      (void)follower->Wait(0ms);  // collect its log
      FAIL() << "follower " << kill << " applied nothing in 60 s: " << follower->output();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 300));
    ASSERT_TRUE(follower->Kill().ok());
    EXPECT_EQ(follower->output().find("[error]"), std::string::npos) << follower->output();
  }
  ASSERT_TRUE(app->Kill().ok());
  auto follower = StartFollower();
  ASSERT_TRUE(follower.ok());
  ExpectConverges();
  const ReaderTotals t = StopReaders(readers);
  EXPECT_EQ(t.violations, 0);
  EXPECT_EQ(t.errors, 0);
  ExpectIntegrityOk();
  StopCleanly(follower, "the follower");
  EXPECT_NE(follower->output().find("verified at TXID"), std::string::npos) << follower->output();
  StopCleanly(producer, "the producer");
}

INSTANTIATE_TEST_SUITE_P(Buses, FollowerTest,
                         ::testing::Values(ServerKind::kNats, ServerKind::kKafka),
                         [](const auto& p) { return std::string(testing::ServerName(p.param)); });

}  // namespace
}  // namespace ltxbus
