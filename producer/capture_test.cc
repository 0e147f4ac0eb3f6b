// Capture against a real app (a separate process on the system SQLite) and an
// in-process bus. The same scenarios run against nats-server and Kafka in
// tests/integration/producer_*_test.cc.
#include "producer/capture.h"

#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <thread>

#include "base/process.h"
#include "bus/assembler.h"
#include "ltx/apply.h"
#include "producer/wal_index.h"
#include "sqlite/database.h"
#include "tests/support/memory_bus.h"
#include "tests/support/sqlite_pages.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testbed.h"

namespace ltxbus::producer {
namespace {

using namespace std::chrono_literals;

class CaptureTest : public ::testing::Test {
 protected:
  void SetUp() override { db_ = dir_.Join("app.db"); }

  // Runs the test app to completion.
  void RunApp(std::vector<std::string> args) {
    Status s = testing::RunWorkload(db_, std::move(args), 120s);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  // Keeps a connection open in another process, as a long-running app would,
  // so the WAL is not checkpointed away while no producer runs.
  void StartBystander() {
    ProcessOptions options;
    options.stdout_mode = Stream::kCapture;
    auto p = Process::Spawn({"python3", "-c",
                             "import sqlite3, time, sys\n"
                             "c = sqlite3.connect(sys.argv[1]); c.execute('select count(*) from "
                             "sqlite_schema').fetchall()\n"
                             "print('ready', flush=True); time.sleep(600)\n",
                             db_},
                            options);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    bystander_.emplace(std::move(*p));
    for (int i = 0; i < 100 && bystander_->output().find("ready") == std::string::npos; i++) {
      (void)bystander_->Wait(50ms);
    }
  }

  std::unique_ptr<bus::Publisher> NewPublisher() {
    bus::PublisherOptions po;
    po.producer = "test/1/1";
    po.chunk_size = 64 * 1024;
    auto pub = bus_.NewPublisher("app", po);
    EXPECT_TRUE(pub.ok());
    return pub.ok() ? std::move(*pub) : nullptr;
  }

  std::unique_ptr<Capture> OpenCapture(uint32_t min_checkpoint_page_count = 1000) {
    auto pub = NewPublisher();
    CaptureOptions o;
    o.db_path = db_;
    o.name = "app";
    o.producer_id = "test/1/1";
    o.min_checkpoint_page_count = min_checkpoint_page_count;
    auto c = Capture::Open(Env::Default(), o, std::move(pub));
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(*c) : nullptr;
  }

  // Polls and forces a checkpoint `rounds` times, `pause` before each.
  // Three forced checkpoints while a writer in this process commits (durably)
  // every `pause`: its longest commit and how many it made.
  struct WriterRun {
    std::chrono::milliseconds longest;
    int commits;
  };
  WriterRun CheckpointBesideAWriter(Capture& capture, std::chrono::milliseconds pause);

  static void PollAndCheckpoint(Capture& capture, int rounds, std::chrono::milliseconds pause) {
    for (int i = 0; i < rounds; i++) {
      std::this_thread::sleep_for(pause);
      ASSERT_TRUE(capture.Poll().ok());
      auto ck = capture.MaybeCheckpoint(true);
      ASSERT_TRUE(ck.ok()) << ck.status().ToString();
    }
  }

  // Polls until the capture has nothing left to publish.
  static void PublishEverything(Capture& capture) {
    for (int i = 0; i < 10000; i++) {
      auto n = capture.Poll();
      ASSERT_TRUE(n.ok()) << n.status().ToString();
      if (*n == 0) return;
    }
    FAIL() << "the capture never caught up";
  }

  // Applies every frame on the bus (from where the previous call stopped) to
  // the rebuild and checks it equals the source database now.
  void ExpectRebuildEqualsSource() {
    if (!applier_) {
      auto a = ltx::DatabaseFileApplier::Open(Env::Default(), dir_.Join("rebuild.db"));
      ASSERT_TRUE(a.ok()) << a.status().ToString();
      applier_ = std::move(*a);
    }
    auto log = bus_.Log("app");
    for (; consumed_ < log.size(); consumed_++) {
      auto f = assembler_.Add(log[consumed_]);
      ASSERT_TRUE(f.ok()) << f.status().ToString();
      if (!f->has_value()) continue;
      const std::string path = dir_.Join("frame.ltx");
      auto bytes = (*f)->ReadAll();
      ASSERT_TRUE(bytes.ok());
      ASSERT_TRUE(WriteFileAtomic(Env::Default(), path, AsBytes(*bytes)).ok());
      const bool snapshot = (*f)->id().min_txid == 1;
      if (!snapshot) {
        EXPECT_EQ((*f)->id().min_txid, last_txid_ + 1) << "TXIDs must be contiguous";
      }
      Status s = applier_->ApplyFile(path);
      ASSERT_TRUE(s.ok()) << s.ToString();
      last_txid_ = (*f)->id().max_txid;
      frames_++;
      if (snapshot) snapshots_++;
    }
    auto want = testing::ReadSqlitePages(db_);
    ASSERT_TRUE(want.ok()) << want.status().ToString();
    auto got = testing::ReadFilePages(dir_.Join("rebuild.db"));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(testing::DiffPages(*want, *got), "");
  }

  testing::TempDir dir_;
  std::string db_;
  testing::MemoryBus bus_;
  std::optional<Process> bystander_;
  std::unique_ptr<ltx::DatabaseFileApplier> applier_;
  bus::FrameAssembler assembler_;
  size_t consumed_ = 0;
  ltx::TXID last_txid_ = 0;
  int frames_ = 0;
  int snapshots_ = 0;
};

TEST_F(CaptureTest, EveryTransactionThroughCheckpointsVacuumAndSchemaChanges) {
  RunApp({"--create", "--transactions", "5"});
  StartBystander();
  auto capture = OpenCapture();
  ASSERT_NE(capture, nullptr);
  ExpectRebuildEqualsSource();
  EXPECT_EQ(snapshots_, 1);
  for (int round = 0; round < 6; round++) {
    RunApp({"--seed", std::to_string(round), "--transactions", "40", "--vacuum-every", "15",
            "--checkpoint-every", "9", "--big-every", "25", "--big-bytes", "300000"});
    auto n = capture->Poll();
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    ExpectRebuildEqualsSource();
    // Our own checkpoint restarts the WAL; capture must follow the new generation.
    auto ck = capture->MaybeCheckpoint(round % 2 == 1);
    ASSERT_TRUE(ck.ok()) << ck.status().ToString();
  }
  EXPECT_EQ(snapshots_, 1) << "continuity was lost somewhere";
  EXPECT_GT(frames_, 200);
  EXPECT_GE(capture->stats().checkpoints, 3u);
}

// Kafka pauses between its transactions (transaction-gap-ms). A Poll that
// read the WAL first and then waited for the pause inside BeginBatch left a
// commit made during the pause for the next batch, a whole round trip later.
TEST_F(CaptureTest, ACommitMadeWhileThePublisherPausesGoesOutInThatBatch) {
  RunApp({"--create", "--transactions", "2"});
  StartBystander();
  auto capture = OpenCapture();
  ASSERT_NE(capture, nullptr);
  PublishEverything(*capture);
  bus_.SetBatchGap(3000ms);
  RunApp({"--seed", "1", "--transactions", "1"});
  auto first = capture->Poll();  // its EndBatch starts the pause
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(*first, 1);
  RunApp({"--seed", "2", "--transactions", "1"});
  Status late_commit;
  std::thread late([&] {
    std::this_thread::sleep_for(200ms);
    late_commit = testing::RunWorkload(db_, {"--seed", "3", "--transactions", "1"}, 60s);
  });
  auto second = capture->Poll();
  late.join();
  ASSERT_TRUE(late_commit.ok()) << late_commit.ToString();
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(*second, 2) << "the commit made during the pause waited for the next batch";
  ExpectRebuildEqualsSource();
}

// Until the app writes again, a WAL copied back in full stays as long as
// it was; it is no reason for another checkpoint (each takes the app's write
// lock).
TEST_F(CaptureTest, NoCheckpointWhileEverythingIsCopiedBack) {
  RunApp({"--create", "--transactions", "5"});
  StartBystander();
  auto capture = OpenCapture(/*min_checkpoint_page_count=*/1);
  ASSERT_NE(capture, nullptr);
  RunApp({"--seed", "8", "--transactions", "3"});
  PublishEverything(*capture);
  auto ran = capture->MaybeCheckpoint();
  ASSERT_TRUE(ran.ok()) << ran.status().ToString();
  EXPECT_TRUE(*ran);
  const uint64_t checkpoints = capture->stats().checkpoints;
  for (int i = 0; i < 3; i++) {
    ASSERT_TRUE(capture->Poll().ok());
    ran = capture->MaybeCheckpoint();
    ASSERT_TRUE(ran.ok()) << ran.status().ToString();
    EXPECT_FALSE(*ran) << "checkpoint " << i << " had nothing to copy back";
  }
  EXPECT_EQ(capture->stats().checkpoints, checkpoints);
  RunApp({"--seed", "9", "--transactions", "3"});
  PublishEverything(*capture);
  ran = capture->MaybeCheckpoint();
  ASSERT_TRUE(ran.ok()) << ran.status().ToString();
  EXPECT_TRUE(*ran) << "the app wrote again";
  ExpectRebuildEqualsSource();
}

TEST_F(CaptureTest, RestartContinuesTheChainWithoutASnapshot) {
  RunApp({"--create", "--transactions", "10"});
  StartBystander();
  {
    auto capture = OpenCapture();
    ASSERT_NE(capture, nullptr);
    RunApp({"--seed", "7", "--transactions", "20"});
    ASSERT_TRUE(capture->Poll().ok());
  }
  ExpectRebuildEqualsSource();
  // A few writes while no producer runs: too few for the app's own
  // auto-checkpoint (1000 frames) to copy back and restart the WAL, which
  // would lose continuity (CheckpointWhileDownForcesASnapshot).
  RunApp({"--seed", "8", "--transactions", "4"});
  auto capture = OpenCapture();
  ASSERT_NE(capture, nullptr);
  ASSERT_TRUE(capture->Poll().ok());
  ExpectRebuildEqualsSource();
  EXPECT_EQ(snapshots_, 1);
}

TEST_F(CaptureTest, CheckpointWhileDownForcesASnapshot) {
  RunApp({"--create", "--transactions", "10"});
  StartBystander();
  {
    auto capture = OpenCapture();
    ASSERT_NE(capture, nullptr);
    RunApp({"--seed", "3", "--transactions", "20"});
    ASSERT_TRUE(capture->Poll().ok());
  }
  // Without the producer's pin the app can checkpoint everything and restart
  // the WAL: the frames in between are gone, so only a snapshot is honest.
  RunApp({"--seed", "4", "--transactions", "20", "--checkpoint-every", "5"});
  RunApp({"--seed", "5", "--transactions", "5"});
  auto capture = OpenCapture();
  ASSERT_NE(capture, nullptr);
  ASSERT_TRUE(capture->Poll().ok());
  ExpectRebuildEqualsSource();
  EXPECT_EQ(snapshots_, 2);
}

TEST_F(CaptureTest, BusOutageLosesNothing) {
  RunApp({"--create", "--transactions", "5"});
  StartBystander();
  auto capture = OpenCapture();
  ASSERT_NE(capture, nullptr);
  RunApp({"--seed", "10", "--transactions", "5"});
  ASSERT_TRUE(capture->Poll().ok());  // the bus's last frame now has a WAL position
  bus_.SetDown(true);
  RunApp({"--seed", "11", "--transactions", "25"});
  auto n = capture->Poll();
  EXPECT_EQ(n.status().code(), Status::Code::kUnavailable) << n.status().ToString();
  // The failed batch may be partly on the bus: the Capture must be reopened,
  // and then continues the bus's chain without a snapshot.
  ASSERT_TRUE(capture->broken());
  EXPECT_FALSE(capture->Poll().ok());
  EXPECT_FALSE(capture->Reopen(NewPublisher()).ok()) << "the bus is still down";
  ASSERT_TRUE(capture->broken());
  // The app checkpoints meanwhile (every mode, TRUNCATE included): the pin
  // the broken Capture keeps stops them at what the bus acknowledged. A new
  // Capture, unpinned until it opens, would find those frames copied back
  // (or the WAL restarted) and have to publish a snapshot.
  RunApp({"--seed", "12", "--transactions", "25", "--checkpoint-every", "4"});
  bus_.SetDown(false);
  Status reopened = capture->Reopen(NewPublisher());
  ASSERT_TRUE(reopened.ok()) << reopened.ToString();
  EXPECT_FALSE(capture->broken());
  PublishEverything(*capture);
  ExpectRebuildEqualsSource();
  EXPECT_EQ(snapshots_, 1) << "continuity was lost in the outage";
  // Counted once acknowledged: the failed batch is not counted twice.
  EXPECT_EQ(capture->stats().frames, static_cast<uint64_t>(frames_));
}

// A checkpoint copies the whole WAL back; then the bus goes down and the app's
// next write restarts the WAL. Reopened once the bus is back, the Capture
// (which kept its pin) continues into the new WAL generation: no snapshot.
TEST_F(CaptureTest, BusOutageRightAfterACheckpointLosesNoContinuity) {
  RunApp({"--create", "--transactions", "5"});
  StartBystander();
  auto capture = OpenCapture();
  ASSERT_NE(capture, nullptr);
  RunApp({"--seed", "20", "--transactions", "5"});
  PublishEverything(*capture);
  auto ck = capture->MaybeCheckpoint(true);
  ASSERT_TRUE(ck.ok()) << ck.status().ToString();
  ASSERT_TRUE(*ck) << "the checkpoint did not run";
  ASSERT_GT(capture->stats().barrier_checkpoints, 0u);
  bus_.SetDown(true);
  RunApp({"--seed", "21", "--transactions", "5"});  // restarts the WAL
  EXPECT_FALSE(capture->Poll().ok());
  ASSERT_TRUE(capture->broken());
  bus_.SetDown(false);
  Status reopened = capture->Reopen(NewPublisher());
  ASSERT_TRUE(reopened.ok()) << reopened.ToString();
  PublishEverything(*capture);
  ExpectRebuildEqualsSource();
  EXPECT_EQ(snapshots_, 1) << "continuity was lost across the WAL restart";
}

TEST_F(CaptureTest, ASecondProducerFencesTheFirst) {
  RunApp({"--create", "--transactions", "5"});
  StartBystander();
  auto first = OpenCapture();
  ASSERT_NE(first, nullptr);
  auto second = OpenCapture();
  ASSERT_NE(second, nullptr);
  RunApp({"--seed", "2", "--transactions", "3"});
  auto n = first->Poll();
  EXPECT_EQ(n.status().code(), Status::Code::kConflict) << n.status().ToString();
  ASSERT_TRUE(second->Poll().ok());
  first.reset();
  ExpectRebuildEqualsSource();
}

TEST_F(CaptureTest, CheckpointsUpToThePinWhileTheAppHoldsTheWriteLock) {
  RunApp({"--create", "--transactions", "5"});
  StartBystander();
  auto capture = OpenCapture();
  ASSERT_NE(capture, nullptr);
  RunApp({"--seed", "21", "--transactions", "30"});
  ASSERT_TRUE(capture->Poll().ok());
  auto shm = WalIndex::Open(Env::Default(), db_ + "-shm");
  ASSERT_TRUE(shm.ok()) << shm.status().ToString();
  auto before = shm->Read();
  ASSERT_TRUE(before.ok());
  // An app that never lets go of the write lock: the barrier cannot be taken.
  ProcessOptions options;
  options.stdout_mode = Stream::kCapture;
  auto holder = Process::Spawn({"python3", "-c",
                                "import sqlite3, time, sys\n"
                                "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
                                "c.execute('BEGIN IMMEDIATE')\n"
                                "print('locked', flush=True); time.sleep(600)\n",
                                db_},
                               options);
  ASSERT_TRUE(holder.ok());
  for (int i = 0; i < 100 && holder->output().find("locked") == std::string::npos; i++) {
    (void)holder->Wait(50ms);
  }
  ASSERT_NE(holder->output().find("locked"), std::string::npos);
  auto ck = capture->MaybeCheckpoint(true);
  ASSERT_TRUE(ck.ok()) << ck.status().ToString();
  EXPECT_TRUE(*ck);
  auto after = shm->Read();
  ASSERT_TRUE(after.ok());
  EXPECT_GT(after->backfill, before->backfill) << "nothing was copied back";
  EXPECT_EQ(after->backfill, after->max_frame) << "every published frame can be copied back";
  ASSERT_TRUE(holder->Kill().ok());
  RunApp({"--seed", "22", "--transactions", "30"});
  ASSERT_TRUE(capture->Poll().ok());
  ExpectRebuildEqualsSource();
  EXPECT_EQ(snapshots_, 1) << "continuity was lost";
}

// A writer in this process committing in a loop (every `pause`), recording
// how long its longest commit took, until it is destroyed.
class BusyWriter {
 public:
  BusyWriter(const std::string& db_path, std::chrono::milliseconds pause)
      : thread_([this, db_path, pause] { Run(db_path, pause); }) {}
  ~BusyWriter() { (void)Stop(); }
  // Stops the writer: why it failed, if it did.
  Status Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return error_;
  }
  std::chrono::milliseconds longest() const { return std::chrono::milliseconds(longest_ms_); }
  int commits() const { return commits_; }
  // Waits (up to 2 s) until the writer has committed a few times.
  void WaitUntilWriting() const {
    for (int i = 0; i < 200 && commits_ < 5; i++) std::this_thread::sleep_for(10ms);
  }

 private:
  void Run(const std::string& db_path, std::chrono::milliseconds pause) {
    auto db = sqlite::Database::Open(db_path, sqlite::Database::Mode::kReadWrite);
    if (!db.ok()) {
      error_ = db.status();
      return;
    }
    (void)db->Exec("PRAGMA busy_timeout=30000");
    (void)db->Exec("PRAGMA wal_autocheckpoint=0");  // the producer checkpoints
    // Durable commits: back to back, yet slow enough for the producer.
    (void)db->Exec("PRAGMA synchronous=FULL");
    (void)db->Exec("CREATE TABLE IF NOT EXISTS busy(v BLOB)");
    for (int i = 0; !stop_; i++) {
      const auto start = std::chrono::steady_clock::now();
      Status s = db->Exec(fmt::format("INSERT INTO busy VALUES (randomblob({}))", 100 + i % 300));
      if (!s.ok()) {
        error_ = s;
        return;
      }
      const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - start);
      longest_ms_ = std::max<int64_t>(longest_ms_, took.count());
      commits_++;
      if (pause.count() > 0) std::this_thread::sleep_for(pause);
    }
  }

  std::atomic<bool> stop_{false};
  std::atomic<int64_t> longest_ms_{0};
  std::atomic<int> commits_{0};
  Status error_;  // read after the thread ends
  std::thread thread_;
};

CaptureTest::WriterRun CaptureTest::CheckpointBesideAWriter(Capture& capture,
                                                            std::chrono::milliseconds pause) {
  BusyWriter writer(db_, pause);
  writer.WaitUntilWriting();
  PollAndCheckpoint(capture, 3, 0ms);
  Status s = writer.Stop();
  EXPECT_TRUE(s.ok()) << s.ToString();
  return {writer.longest(), writer.commits()};
}

// An app that commits back to back never leaves the barrier a moment with
// everything published; the checkpoint publishes its last commits under the
// barrier, so the WAL still restarts (without that it grows forever).
TEST_F(CaptureTest, TheWalRestartsUnderAnAppThatCommitsBackToBack) {
  RunApp({"--create", "--transactions", "5"});
  StartBystander();
  auto capture = OpenCapture();
  ASSERT_NE(capture, nullptr);
  auto shm = WalIndex::Open(Env::Default(), db_ + "-shm");
  ASSERT_TRUE(shm.ok()) << shm.status().ToString();
  int restarts = 0;
  {
    BusyWriter writer(db_, 0ms);
    auto first = shm->Read();
    ASSERT_TRUE(first.ok());
    uint32_t salt = first->salt1;
    writer.WaitUntilWriting();
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (restarts < 3 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
      ASSERT_TRUE(capture->Poll().ok());
      auto ck = capture->MaybeCheckpoint(true);
      ASSERT_TRUE(ck.ok()) << ck.status().ToString();
      auto hdr = shm->Read();
      ASSERT_TRUE(hdr.ok());
      if (hdr->salt1 != salt) restarts++;
      salt = hdr->salt1;
    }
    Status s = writer.Stop();
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_GT(writer.commits(), 0);
  }
  EXPECT_GE(restarts, 3) << "the WAL did not restart under a busy app";
  PublishEverything(*capture);
  ExpectRebuildEqualsSource();
  EXPECT_EQ(snapshots_, 1) << "continuity was lost";
}

// Publishing under the barrier holds the app's write lock; a slow bus must
// not make the app wait for it (the watchdog releases the lock).
// An app committing back to back frees its write lock only for microseconds
// between COMMIT and the next BEGIN; the barrier must still find such a gap
// within its 200 ms, or the WAL cannot restart (SQLite's own busy handler,
// which sleeps 1, 2, 5 ... 100 ms between attempts, mostly missed).
TEST_F(CaptureTest, TheBarrierFindsTheGapsOfAnAppThatCommitsBackToBack) {
  RunApp({"--create", "--transactions", "5"});
  StartBystander();
  auto capture = OpenCapture();
  ASSERT_NE(capture, nullptr);
  {
    BusyWriter writer(db_, 0ms);
    writer.WaitUntilWriting();
    PollAndCheckpoint(*capture, 30, 20ms);
    Status s = writer.Stop();
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_GT(writer.commits(), 100);
  }
  std::cerr << capture->stats().barrier_checkpoints << " of " << capture->stats().checkpoints
            << " checkpoints under the barrier\n";
  // A forced checkpoint may still find nothing it may copy (too much of the
  // app's writing unpublished); what counts is how often the barrier won.
  // SQLite's own busy handler won 0-2 of 20; polling wins most.
  EXPECT_GE(capture->stats().barrier_checkpoints, 10u)
      << "the barrier missed the app's gaps in most checkpoints";
  PublishEverything(*capture);
  ExpectRebuildEqualsSource();
  EXPECT_EQ(snapshots_, 1) << "continuity was lost";
}

TEST_F(CaptureTest, ASlowBusDoesNotHoldTheAppUnderTheCheckpointBarrier) {
  RunApp({"--create", "--transactions", "5"});
  StartBystander();
  auto capture = OpenCapture();
  ASSERT_NE(capture, nullptr);
  bus_.SetAckDelay(1500ms);
  const WriterRun run = CheckpointBesideAWriter(*capture, 50ms);
  EXPECT_GT(run.commits, 20);
  // Without the watchdog a commit waits out a whole acknowledgement.
  EXPECT_LT(run.longest, 1000ms);
  EXPECT_GT(capture->stats().barrier_releases, 0u) << "nothing was published under the barrier";
  bus_.SetAckDelay(0ms);
  PublishEverything(*capture);
  ExpectRebuildEqualsSource();
  EXPECT_EQ(snapshots_, 1) << "continuity was lost";
}

// Kafka pauses between two of a publisher's transactions (NextBatchAt); the
// barrier publishes the app's last commits, so that pause must be over before
// the barrier is taken, or the app would wait it out too.
TEST_F(CaptureTest, ThePauseBetweenBatchesIsNotSpentUnderTheBarrier) {
  RunApp({"--create", "--transactions", "5"});
  StartBystander();
  auto capture = OpenCapture();
  ASSERT_NE(capture, nullptr);
  bus_.SetBatchGap(150ms);
  const WriterRun run = CheckpointBesideAWriter(*capture, 1ms);
  EXPECT_GT(capture->stats().barrier_publishes, 0u) << "nothing was published under the barrier";
  // A pause waited out under the barrier outlasts the watchdog's 100 ms.
  EXPECT_EQ(capture->stats().barrier_releases, 0u);
  EXPECT_LT(run.longest, 100ms);
  EXPECT_GT(capture->stats().app_lock_held_us, 0u);
  EXPECT_LT(capture->stats().app_lock_held_us, 3 * 100'000u);
  bus_.SetBatchGap(0ms);
  PublishEverything(*capture);
  ExpectRebuildEqualsSource();
  EXPECT_EQ(snapshots_, 1) << "continuity was lost";
}

TEST_F(CaptureTest, RefusesADatabaseNotInWalMode) {
  auto r = RunCommand({"python3", "-c",
                       "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); "
                       "c.execute('create table t(x)'); c.commit()",
                       db_},
                      30s);
  ASSERT_TRUE(r.ok() && r->exit_code == 0);
  auto pub = bus_.NewPublisher("app", {});
  CaptureOptions o;
  o.db_path = db_;
  o.name = "app";
  auto c = Capture::Open(Env::Default(), o, std::move(*pub));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("not WAL"), std::string::npos) << c.status().message();
}

}  // namespace
}  // namespace ltxbus::producer
