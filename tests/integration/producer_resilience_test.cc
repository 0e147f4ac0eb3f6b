// `ltxbus replicate` under conditions a production producer meets, on the
// real nats-server and Kafka 3.9.1, with apps that are separate processes on
// the system SQLite (tests/apps/workload.py):
//   - the broker crashes and comes back while the app keeps writing: the app
//     is never blocked, and the stream still rebuilds the source exactly;
//   - several databases (two buses) replicated by one process at once;
//   - 100 MB transactions, carried by many chunks.
// StreamChecker checks the stream itself (contiguous TXIDs, no duplicates,
// snapshots only where the producer changed, checksum chain).
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/env.h"
#include "base/process.h"
#include "tests/support/stream_checker.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testbed.h"

namespace ltxbus {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::ServerKind;
using testing::StreamChecker;
using testing::TestServer;

class ProducerResilienceTest : public testing::ServerTest<ServerKind::kNats, ServerKind::kKafka>,
                               public ::testing::WithParamInterface<ServerKind> {
 protected:
  void TearDown() override {
    // A failed test must not leave the suite's broker down for the next one.
    if (server(GetParam()).halted()) {
      Status s = server(GetParam()).Resume();
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
    if (HasFailure()) {
      auto log = ReadFileToString(Env::Default(), dir_.Join("ltxbus.log"));
      if (log.ok()) std::cerr << "--- ltxbus.log (tail)\n" << Tail(*log, 8000) << "\n";
    }
  }

  // A stream (NATS) or topic (Kafka) of its own on this test's bus.
  std::string BusUrl() {
    static int counter = 0;
    const std::string name = fmt::format("r{}x{}", ::getpid(), ++counter);
    return GetParam() == ServerKind::kNats
               ? fmt::format("{}/LTX{}", env(ServerKind::kNats, "NATS_URL"), name)
               : fmt::format("kafka://{}/{}", env(ServerKind::kKafka, "KAFKA_BOOTSTRAP"), name);
  }

  static std::string Tail(const std::string& s, size_t n) {
    return s.size() <= n ? s : "..." + s.substr(s.size() - n);
  }

  // `ltxbus ARGS...`, logging to ltxbus.log: a producer that logs a lot
  // while the bus is down must never block on a pipe nobody reads.
  Result<Process> StartLtxbus(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"sh", "-c", "exec \"$@\" >>\"$0\" 2>&1",
                                     dir_.Join("ltxbus.log"), testing::LtxbusBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    return Process::Spawn(argv);
  }

  // Runs an app to completion.
  static void RunApp(const std::string& db, std::vector<std::string> args,
                     std::chrono::seconds timeout = 300s) {
    Status s = testing::RunWorkload(db, std::move(args), timeout);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  static Result<Process> StartApp(const std::string& db, std::vector<std::string> args) {
    ProcessOptions o;
    o.stdout_mode = Stream::kCapture;
    o.merge_stderr = true;
    return Process::Spawn(testing::WorkloadArgv(db, std::move(args)), o);
  }

  // The app's --progress file: transactions committed so far.
  static int64_t Progress(const std::string& file) {
    auto text = ReadFileToString(Env::Default(), file);
    return text.ok() ? std::atoll(text->c_str()) : 0;
  }
  // ... and the longest time one transaction took, lock waits included.
  static int64_t LongestTransactionMs(const std::string& file) {
    auto text = ReadFileToString(Env::Default(), file);
    if (!text.ok()) return 0;
    size_t space = text->find_first_not_of(' ');
    space = text->find(' ', space);
    return space == std::string::npos ? 0 : std::atoll(text->c_str() + space);
  }

  // Waits until the app committed `target` transactions; false if it did
  // not within `timeout` or exited first.
  static bool WaitForProgress(Process& app, const std::string& file, int64_t target,
                              std::chrono::seconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Progress(file) < target) {
      if (Clock::now() > deadline || app.Wait(0ms).ok()) return false;
      std::this_thread::sleep_for(20ms);
    }
    return true;
  }

  // Asks a running producer to publish what is committed and exit.
  static void StopProducer(Process& producer) {
    ASSERT_TRUE(producer.Wait(0ms).status().code() == Status::Code::kTimeout)
        << "the producer exited early";
    ASSERT_TRUE(producer.Signal(SIGTERM).ok());
    auto code = producer.Wait(60s);
    ASSERT_TRUE(code.ok()) << code.status().ToString();
    EXPECT_EQ(*code, 0);
  }

  Status WriteConfig(const std::string& path, const std::string& yaml) {
    return WriteFileAtomic(Env::Default(), path, AsBytes(yaml));
  }

  testing::TempDir dir_;
};

// The broker crashes (kill -9) while the app commits continuously, stays down
// until the app has committed well over a hundred more transactions, and
// comes back on the same port with its data. The producer must ride it out in
// the same process: no snapshot, no gap, no duplicate, and the app is never
// blocked by the bus being away.
TEST_P(ProducerResilienceTest, BrokerCrashMidRunLosesNothingAndNeverBlocksTheApp) {
  const std::string db = dir_.Join("app.db");
  const std::string url = BusUrl();
  RunApp(db, {"--create", "--transactions", "5"});
  auto producer = StartLtxbus({"replicate", db, url});
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  StreamChecker checker(url, "app.db", dir_.Join("rebuild.db"));
  checker.ExpectConverges(db);
  ASSERT_FALSE(HasFatalFailure());

  const std::string progress = dir_.Join("progress");
  const std::string stop = dir_.Join("stop");
  // About a hundred transactions a second: enough to fill the WAL while the
  // broker is away, few enough to republish quickly under ASan. The app waits
  // at most 5 s for a lock (Litestream's advice, docs/config.md): if the
  // producer held the write lock while the bus was down, the app would fail
  // with "database is locked".
  auto app =
      StartApp(db, {"--seed", "7", "--transactions", "1000000", "--pause-ms", "5",
                    "--busy-timeout-ms", "5000", "--vacuum-every", "150", "--big-every", "97",
                    "--big-bytes", "300000", "--progress", progress, "--stop-file", stop});
  ASSERT_TRUE(app.ok()) << app.status().ToString();
  ASSERT_TRUE(WaitForProgress(*app, progress, 100, 60s)) << app->output();
  checker.Drain(2s);
  ASSERT_GT(checker.frames(), 1) << "the producer published nothing before the outage";

  TestServer& broker = server(GetParam());
  ASSERT_TRUE(broker.Halt(TestServer::HaltMode::kCrash).ok());
  const int64_t at_halt = Progress(progress);
  const auto halted_at = Clock::now();
  // The app keeps committing while the bus is gone.
  EXPECT_TRUE(WaitForProgress(*app, progress, at_halt + 150, 120s))
      << "the app stopped committing while the broker was down (committed "
      << Progress(progress) - at_halt << " since the crash)\n"
      << app->output();
  std::this_thread::sleep_for(std::max(
      0ms, std::chrono::duration_cast<std::chrono::milliseconds>(3s - (Clock::now() - halted_at))));
  const int64_t during = Progress(progress) - at_halt;
  Status resumed = broker.Resume();
  ASSERT_TRUE(resumed.ok()) << resumed.ToString();
  const auto resumed_at = Clock::now();

  // The app goes on after the broker is back, then stops cleanly.
  EXPECT_TRUE(WaitForProgress(*app, progress, Progress(progress) + 100, 120s)) << app->output();
  ASSERT_TRUE(WriteConfig(stop, "").ok());
  auto code = app->Wait(60s);
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  ASSERT_EQ(*code, 0) << "(\"database is locked\" means the producer held the app's write "
                         "lock for longer than its 5 s busy_timeout)\n"
                      << app->output();

  checker.ExpectConverges(db, 300s);
  auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  std::cerr << "broker down for " << ms(resumed_at - halted_at)
            << " ms (restart included), the app committed " << during
            << " transactions meanwhile; longest app transaction " << LongestTransactionMs(progress)
            << " ms; caught up " << ms(Clock::now() - resumed_at) << " ms after the restart, "
            << checker.frames() << " frames\n";
  EXPECT_EQ(checker.snapshots(), 1) << "the producer lost continuity";
  EXPECT_GT(checker.frames(), 300);
  StopProducer(*producer);
}

// One `ltxbus replicate -config` process, three databases written at the same
// time by three apps: two share a bus, the third has its own (its own stream
// or topic). The apps are the -exec command, so they start after the first
// sync and ltxbus exits when they are done, having published everything.
// Then all of it again with a new ltxbus process, which continues each stream
// where the first left it. Every stream rebuilds its source exactly.
TEST_P(ProducerResilienceTest, ManyDatabasesInOneProcess) {
  const std::string shared = BusUrl();
  const std::string own = BusUrl();
  struct Db {
    std::string path, name, url;
  };
  const std::vector<Db> dbs = {{dir_.Join("a.db"), "a.db", shared},
                               {dir_.Join("b.db"), "orders", shared},
                               {dir_.Join("c.db"), "c.db", own}};
  for (const Db& d : dbs) RunApp(d.path, {"--create", "--transactions", "3"});
  const std::string config = dir_.Join("ltxbus.yml");
  ASSERT_TRUE(WriteConfig(config, fmt::format("bus: {}\n"
                                              "dbs:\n"
                                              "  - path: {}\n"
                                              "    monitor-interval: 20ms\n"
                                              "  - path: {}\n"
                                              "    name: orders\n"
                                              "    min-checkpoint-page-count: 200\n"
                                              "  - path: {}\n"
                                              "    bus: {}\n"
                                              "    chunk-size: 64KiB\n",
                                              shared, dbs[0].path, dbs[1].path, dbs[2].path, own))
                  .ok());
  std::vector<std::unique_ptr<StreamChecker>> checkers;
  for (const Db& d : dbs) {
    checkers.push_back(
        std::make_unique<StreamChecker>(d.url, d.name, dir_.Join(d.name + ".rebuild")));
  }
  for (size_t round = 0; round < 2 && !HasFatalFailure(); round++) {
    // Three apps at once; the script fails if any of them does.
    std::string script;
    for (size_t i = 0; i < dbs.size(); i++) {
      script += CommandLine(testing::WorkloadArgv(
                    dbs[i].path, {"--seed", std::to_string(round * 10 + i), "--transactions", "150",
                                  "--vacuum-every", "60", "--checkpoint-every", "45", "--big-every",
                                  "50", "--big-bytes", "2000000"})) +
                fmt::format(" & app{}=$!\n", i);
    }
    script += "wait $app0 && wait $app1 && wait $app2\n";
    const std::string apps = dir_.Join("apps.sh");
    ASSERT_TRUE(WriteConfig(apps, script).ok());
    auto producer = StartLtxbus({"replicate", "-config", config, "-exec", "sh " + apps});
    ASSERT_TRUE(producer.ok()) << producer.status().ToString();
    auto code = producer->Wait(300s);
    ASSERT_TRUE(code.ok()) << code.status().ToString();
    ASSERT_EQ(*code, 0) << "ltxbus exits with the apps' exit code";
    for (size_t i = 0; i < dbs.size(); i++) {
      SCOPED_TRACE(dbs[i].name);
      checkers[i]->ExpectConverges(dbs[i].path, 180s);
    }
  }
  for (size_t i = 0; i < dbs.size(); i++) {
    SCOPED_TRACE(dbs[i].name);
    // One frame per transaction that changed a page: up to 2 × (150 + 2 × 2
    // for the vacuums), and the snapshot.
    EXPECT_GT(checkers[i]->frames(), 250);
    EXPECT_EQ(checkers[i]->snapshots(), 1) << "the second ltxbus did not continue the stream";
  }
}

// Two ~100 MB transactions (one insert of a 100 MB blob, then a VACUUM that
// rewrites the whole file) with a 256 KiB chunk size: each frame travels as
// hundreds of chunks, and the stream still rebuilds the source exactly.
TEST_P(ProducerResilienceTest, HundredMegabyteTransactions) {
  const std::string db = dir_.Join("app.db");
  const std::string url = BusUrl();
  RunApp(db, {"--create", "--transactions", "3"});
  const std::string config = dir_.Join("ltxbus.yml");
  ASSERT_TRUE(WriteConfig(config, fmt::format("bus: {}\n"
                                              "dbs:\n"
                                              "  - path: {}\n"
                                              "    chunk-size: 256KiB\n",
                                              url, db))
                  .ok());
  auto producer = StartLtxbus({"replicate", "-config", config});
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  StreamChecker checker(url, "app.db", dir_.Join("rebuild.db"));
  checker.ExpectConverges(db);
  // Transaction 2 of 3 inserts 100 MB; after transaction 3 the app deletes
  // every other row and VACUUMs, which rewrites the whole file.
  RunApp(db, {"--seed", "3", "--transactions", "3", "--big-every", "2", "--big-bytes",
              std::to_string(100 << 20), "--vacuum-every", "3"});
  checker.ExpectConverges(db, 600s);
  EXPECT_GT(checker.largest_frame(), uint64_t{100} << 20);
  EXPECT_GE(checker.largest_frame_chunks(), 400u);
  EXPECT_EQ(checker.snapshots(), 1);
  StopProducer(*producer);
}

INSTANTIATE_TEST_SUITE_P(Buses, ProducerResilienceTest,
                         ::testing::Values(ServerKind::kNats, ServerKind::kKafka),
                         [](const auto& p) { return std::string(testing::ServerName(p.param)); });

}  // namespace
}  // namespace ltxbus
