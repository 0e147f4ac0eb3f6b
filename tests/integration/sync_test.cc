// `ltxbus sync` end to end on the real nats-server and Kafka 3.9.1: an app
// (the system SQLite, a separate process) commits while `ltxbus replicate`
// runs; once `ltxbus sync -wait` returns, the bus holds everything committed
// before the call — checked by killing the producer (-9) at once and
// rebuilding the database from what is on the bus. Also: no producer running
// (sync waits, or times out with a message), the WAL truncated and
// restarted, the -config form, and Bus::ReadLastFrame reading without
// fencing the writer.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <optional>
#include <thread>

#include "base/process.h"
#include "bus/bus.h"
#include "tests/support/sqlite_pages.h"
#include "tests/support/stream_checker.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testbed.h"

namespace ltxbus {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using testing::ServerKind;

class SyncTest : public testing::ServerTest<ServerKind::kNats, ServerKind::kKafka>,
                 public ::testing::WithParamInterface<ServerKind> {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    db_ = dir_.Join("app.db");
    url_ =
        GetParam() == ServerKind::kNats
            ? fmt::format("{}/{}", env(ServerKind::kNats, "NATS_URL"), testing::UniqueName("SYNC"))
            : fmt::format("kafka://{}/{}", env(ServerKind::kKafka, "KAFKA_BOOTSTRAP"),
                          testing::UniqueName("sync"));
  }

  Result<Process> StartProducer() {
    ProcessOptions o;
    o.stdout_mode = Stream::kCapture;
    o.merge_stderr = true;
    return Process::Spawn({testing::LtxbusBinary(), "replicate", db_, url_}, o);
  }

  void RunApp(std::vector<std::string> args) {
    Status s = testing::RunWorkload(db_, std::move(args), 300s);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  // Python's sqlite3 (the system SQLite), one connection for all `sql`.
  void RunSql(const std::string& sql) {
    const std::string script =
        "import sqlite3, sys\n"
        "con = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)\n"
        "con.execute('PRAGMA busy_timeout=2000')\n"
        "for stmt in sys.argv[2].split(';'):\n"
        "    if stmt.strip():\n"
        "        print(con.execute(stmt).fetchall())\n"
        "con.close()\n";
    auto r = RunCommand({"python3", "-c", script, db_, sql}, 120s);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->exit_code, 0) << r->error_output;
  }

  Result<CommandResult> Sync(std::vector<std::string> args) {
    std::vector<std::string> argv = {testing::LtxbusBinary(), "sync"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, 300s);
  }

  void ExpectSynced(std::vector<std::string> args) {
    auto r = Sync(std::move(args));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->exit_code, 0) << r->output << r->error_output;
    EXPECT_THAT(r->output, HasSubstr("synced: database app.db"));
    std::fputs(r->output.c_str(), stdout);  // how long it waited, for the log
  }

  // Keeps a connection to the database open (no transaction), so that the
  // -wal and -shm stay while no producer runs; closes it once `stop` exists.
  Result<Process> HoldOpen(const std::string& stop) {
    const std::string script =
        "import os, sqlite3, sys, time\n"
        "con = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "con.execute('SELECT count(*) FROM sqlite_master').fetchall()\n"
        "while not os.path.exists(sys.argv[2]):\n"
        "    time.sleep(0.05)\n"
        "con.close()\n";
    return Process::Spawn({"python3", "-c", script, db_, stop});
  }
  void Release(Process& holder, const std::string& stop) {
    ASSERT_TRUE(WriteFileAtomic(Env::Default(), stop, AsBytes(std::string_view("stop"))).ok());
    auto code = holder.Wait(30s);
    ASSERT_TRUE(code.ok());
    EXPECT_EQ(*code, 0);
  }

  Result<std::optional<bus::LastFrame>> ReadLastFrame() {
    if (reader_ == nullptr) {
      LTXBUS_ASSIGN_OR_RETURN(bus::Endpoint endpoint, bus::Endpoint::Parse(url_));
      LTXBUS_ASSIGN_OR_RETURN(reader_, bus::Bus::Connect(endpoint));
    }
    return reader_->ReadLastFrame("app.db");
  }

  // Kills the producer at once, so nothing more reaches the bus, and checks
  // that everything on the bus up to its newest frame rebuilds the source:
  // nothing committed before `sync -wait` returned is missing.
  void ExpectBusHoldsEverything(std::optional<Process>& producer, testing::StreamChecker& checker) {
    ASSERT_TRUE(producer.has_value());
    ASSERT_TRUE(producer->Kill().ok());
    producer.reset();
    auto last = ReadLastFrame();
    ASSERT_TRUE(last.ok()) << last.status().ToString();
    ASSERT_TRUE(last->has_value());
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (checker.last_txid() < (*last)->id.max_txid &&
           std::chrono::steady_clock::now() < deadline && !HasFatalFailure()) {
      checker.Drain(5s);
    }
    ASSERT_EQ(checker.last_txid(), (*last)->id.max_txid) << "the bus's frames never arrived";
    auto want = testing::ReadSqlitePages(db_);
    auto got = testing::ReadFilePages(dir_.Join("rebuild.db"));
    ASSERT_TRUE(want.ok()) << want.status().ToString();
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(testing::DiffPages(*want, *got), "")
        << "a transaction committed before `sync -wait` returned is missing from the bus";
  }

  void Start(std::optional<Process>& producer) {
    auto p = StartProducer();
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    producer.emplace(std::move(*p));
  }

  testing::TempDir dir_;
  std::string db_;
  std::string url_;
  std::unique_ptr<bus::Bus> reader_;
};

TEST_P(SyncTest, ReturnsOnlyOnceEverythingCommittedBeforeTheCallIsOnTheBus) {
  RunApp({"--create", "--transactions", "5"});
  const std::string stop = dir_.Join("stop");
  auto holder = HoldOpen(stop);
  ASSERT_TRUE(holder.ok()) << holder.status().ToString();
  std::optional<Process> producer;
  Start(producer);
  testing::StreamChecker checker(url_, "app.db", dir_.Join("rebuild.db"));

  // A burst, then sync at once: the producer may still be publishing.
  RunApp({"--seed", "1", "--transactions", "40", "--big-every", "10", "--big-bytes", "1500000"});
  ExpectSynced({"-wait", "-timeout", "60s", db_, url_});
  ExpectBusHoldsEverything(producer, checker);
  if (HasFatalFailure()) return;

  // No producer while the app commits (and checkpoints, so the WAL may
  // restart): sync cannot be done before one runs again, and is once it has
  // caught up.
  RunApp({"--seed", "2", "--transactions", "30", "--big-every", "6", "--big-bytes", "2000000",
          "--checkpoint-every", "7"});
  ProcessOptions quiet;
  quiet.stdout_mode = Stream::kCapture;
  quiet.merge_stderr = true;
  auto waiting = Process::Spawn(
      {testing::LtxbusBinary(), "sync", "-wait", "-timeout", "120s", db_, url_}, quiet);
  ASSERT_TRUE(waiting.ok());
  EXPECT_FALSE(waiting->Wait(1500ms).ok())
      << "sync returned with no producer running: " << waiting->output();
  Start(producer);
  auto code = waiting->Wait(150s);
  ASSERT_TRUE(code.ok()) << waiting->output();
  ASSERT_EQ(*code, 0) << waiting->output();
  ExpectBusHoldsEverything(producer, checker);
  if (HasFatalFailure()) return;

  // The -config form names the database and the bus the same way.
  Start(producer);
  RunApp({"--seed", "5", "--transactions", "10"});
  const std::string config = dir_.Join("ltxbus.yml");
  ASSERT_TRUE(WriteFileAtomic(Env::Default(), config,
                              AsBytes(fmt::format("bus: {}\ndbs:\n  - path: {}\n", url_, db_)))
                  .ok());
  ExpectSynced({"-wait", "-config", config});
  ExpectSynced({"-wait", "-config", config, "app.db"});
  auto status = Sync({db_, url_});
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->exit_code, 0) << status->output << status->error_output;
  EXPECT_THAT(status->output, HasSubstr("covered: yes"));
  ASSERT_TRUE(producer->Signal(SIGTERM).ok());
  auto done = producer->Wait(60s);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(*done, 0) << producer->output();
  Release(*holder, stop);
}

TEST_P(SyncTest, TimesOutWithoutAProducerAndSurvivesATruncatedWal) {
  RunApp({"--create", "--transactions", "5"});
  const std::string stop = dir_.Join("stop");
  auto holder = HoldOpen(stop);
  ASSERT_TRUE(holder.ok()) << holder.status().ToString();
  std::optional<Process> producer;
  Start(producer);
  testing::StreamChecker checker(url_, "app.db", dir_.Join("rebuild.db"));
  ExpectSynced({"-wait", "-timeout", "60s", db_, url_});
  ExpectBusHoldsEverything(producer, checker);
  if (HasFatalFailure()) return;

  // No producer: nothing more reaches the bus; sync says so and gives up.
  RunApp({"--seed", "3", "--transactions", "3"});
  auto late = Sync({"-wait", "-timeout", "2s", db_, url_});
  ASSERT_TRUE(late.ok());
  EXPECT_NE(late->exit_code, 0);
  EXPECT_THAT(late->error_output, HasSubstr("does not hold every transaction committed"));
  EXPECT_THAT(late->error_output, HasSubstr("ltxbus replicate"));
  auto status = Sync({db_, url_});
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->exit_code, 2) << status->output << status->error_output;
  EXPECT_THAT(status->output, HasSubstr("covered: no"));
  Start(producer);
  ExpectSynced({"-wait", "-timeout", "60s", db_, url_});
  ExpectBusHoldsEverything(producer, checker);
  if (HasFatalFailure()) return;

  // Every connection closes: the app truncates the WAL (nothing pins it), it
  // restarts, and the last close removes -wal and -shm.
  Release(*holder, stop);
  RunSql(
      "INSERT INTO items(name, qty) VALUES('before-truncate', 1);"
      "PRAGMA wal_checkpoint(TRUNCATE);"
      "INSERT INTO items(name, qty) VALUES('after-truncate', 2);"
      "INSERT INTO items(name, qty, data) VALUES('after-truncate', 3, randomblob(100000))");
  auto offline = Sync({"-wait", "-timeout", "2s", db_, url_});
  ASSERT_TRUE(offline.ok());
  EXPECT_NE(offline->exit_code, 0) << "an old frame was taken for the database file";
  EXPECT_THAT(offline->error_output, HasSubstr("no -shm"));
  Start(producer);
  ExpectSynced({"-wait", "-timeout", "60s", db_, url_});
  ExpectBusHoldsEverything(producer, checker);
  if (HasFatalFailure()) return;

  // A producer runs: the app's TRUNCATE waits on its pin and gives up; the
  // writes around it are published as usual.
  Start(producer);
  RunSql(
      "INSERT INTO items(name, qty) VALUES('pinned', 4);"
      "PRAGMA wal_checkpoint(TRUNCATE);"
      "INSERT INTO items(name, qty) VALUES('pinned', 5)");
  RunApp({"--seed", "4", "--transactions", "20", "--checkpoint-every", "3"});
  ExpectSynced({"-wait", "-timeout", "60s", db_, url_});
  ExpectBusHoldsEverything(producer, checker);
}

// Reading the newest frame is not becoming the writer: the producer goes on
// publishing, mid-frame too.
TEST_P(SyncTest, ReadLastFrameDoesNotFenceTheWriter) {
  auto endpoint = bus::Endpoint::Parse(url_);
  ASSERT_TRUE(endpoint.ok());
  auto writer_bus = bus::Bus::Connect(*endpoint);
  auto reader_bus = bus::Bus::Connect(*endpoint);
  ASSERT_TRUE(writer_bus.ok() && reader_bus.ok()) << writer_bus.status().ToString();
  bus::PublisherOptions o;
  o.producer = "writer/1/1";
  o.chunk_size = 4096;
  auto pub = (*writer_bus)->NewPublisher("db", o);
  ASSERT_TRUE(pub.ok());
  ASSERT_TRUE((*pub)->Open().ok());
  auto none = (*reader_bus)->ReadLastFrame("db");
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->has_value());

  const std::string payload(3 * 4096 + 5, 'x');
  auto publish = [&](ltx::TXID txid, bool commit) -> Result<std::unique_ptr<bus::FrameWriter>> {
    bus::FrameId id;
    id.database = "db";
    id.min_txid = id.max_txid = txid;
    LTXBUS_ASSIGN_OR_RETURN(auto w, (*pub)->BeginFrame(id));
    LTXBUS_RETURN_IF_ERROR(w->Append(AsBytes(payload)));
    if (commit) {
      bus::FrameTrailer t;
      t.frame_size = payload.size();
      t.post_apply = txid;
      t.wal = bus::WalPosition{1, 2, txid + 1, 0, 0};
      LTXBUS_RETURN_IF_ERROR(w->Commit(t).status());
    }
    return w;
  };
  // Kafka shows a committed frame to read_committed readers once the
  // transaction markers are written, a moment after the commit returns.
  auto newest = [&](ltx::TXID want) -> std::optional<bus::LastFrame> {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    for (;;) {
      auto last = (*reader_bus)->ReadLastFrame("db");
      EXPECT_TRUE(last.ok()) << last.status().ToString();
      if (!last.ok()) return std::nullopt;
      if ((last->has_value() && (*last)->id.max_txid >= want) ||
          std::chrono::steady_clock::now() > deadline) {
        return *last;
      }
      std::this_thread::sleep_for(20ms);
    }
  };
  for (ltx::TXID t = 1; t <= 2; t++) {
    ASSERT_TRUE(publish(t, true).ok());
    auto last = newest(t);
    ASSERT_TRUE(last.has_value());
    EXPECT_EQ(last->id.max_txid, t);
    EXPECT_EQ(last->trailer.wal->next_frame, t + 1);
  }
  // Mid-frame (NATS: chunks stored; Kafka: a transaction open), the newest
  // complete frame is still the one before.
  auto open = publish(3, false);
  ASSERT_TRUE(open.ok()) << open.status().ToString();
  auto mid = (*reader_bus)->ReadLastFrame("db");
  ASSERT_TRUE(mid.ok()) << mid.status().ToString();
  ASSERT_TRUE(mid->has_value());
  EXPECT_EQ((*mid)->id.max_txid, 2u);
  bus::FrameTrailer t;
  t.frame_size = payload.size();
  auto committed = (*open)->Commit(t);
  ASSERT_TRUE(committed.ok()) << "the reader fenced the writer: " << committed.status().ToString();
  ASSERT_TRUE(publish(4, true).ok());
  auto last = newest(4);
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->id.max_txid, 4u);
}

INSTANTIATE_TEST_SUITE_P(Buses, SyncTest, ::testing::Values(ServerKind::kNats, ServerKind::kKafka),
                         [](const auto& p) { return std::string(testing::ServerName(p.param)); });

}  // namespace
}  // namespace ltxbus
