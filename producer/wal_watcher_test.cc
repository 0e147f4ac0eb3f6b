// WalWatcher: woken by the app's commits (including to a -wal SQLite deleted
// and created again), by its stop descriptor, and not by writes to other
// files in the database's directory.
#include "producer/wal_watcher.h"

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>

#include "sqlite/database.h"
#include "tests/support/temp_dir.h"

namespace ltxbus::producer {
namespace {

using namespace std::chrono_literals;
using sqlite::Database;
using Wake = WalWatcher::Wake;

// A wait long enough never to end a test that works; it only bounds one
// that does not.
constexpr auto kLongWait = 10s;

Database OpenApp(const std::string& path) {
  auto db = Database::Open(path, Database::Mode::kReadWriteCreate);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  EXPECT_TRUE(db->Exec("PRAGMA journal_mode=WAL").ok());
  EXPECT_TRUE(db->Exec("CREATE TABLE IF NOT EXISTS t(x)").ok());
  return std::move(*db);
}

// Waits out whatever is queued, so the next Wait sees only what follows.
void Settle(WalWatcher& w) {
  for (int i = 0; i < 100 && w.Wait(50ms) != Wake::kTimedOut; i++) {
  }
}

TEST(WalWatcherTest, ACommitWakesIt) {
  testing::TempDir dir;
  const std::string path = dir.Join("app.db");
  Database app = OpenApp(path);
  WalWatcher w(path, -1);
  ASSERT_TRUE(w.watching());
  Settle(w);
  ASSERT_TRUE(app.Exec("INSERT INTO t VALUES(1)").ok());
  EXPECT_EQ(w.Wait(kLongWait), Wake::kWalChanged);
}

TEST(WalWatcherTest, WritesToOtherFilesBesideTheDatabaseDoNotWakeIt) {
  testing::TempDir dir;
  const std::string path = dir.Join("app.db");
  Database app = OpenApp(path);
  Database other = OpenApp(dir.Join("replica.db"));
  WalWatcher w(path, -1);
  Settle(w);
  ASSERT_TRUE(other.Exec("INSERT INTO t VALUES(1)").ok());
  {
    std::ofstream log(dir.Join("app.log"), std::ios::app);
    log << "a line\n";
  }
  EXPECT_EQ(w.Wait(200ms), Wake::kTimedOut);
  ASSERT_TRUE(app.Exec("INSERT INTO t VALUES(2)").ok());
  EXPECT_EQ(w.Wait(kLongWait), Wake::kWalChanged);
}

TEST(WalWatcherTest, FollowsAWalThatSqliteDeletesAndCreatesAgain) {
  testing::TempDir dir;
  const std::string path = dir.Join("app.db");
  std::optional<Database> app(OpenApp(path));
  WalWatcher w(path, -1);
  app.reset();  // the last connection closes: SQLite deletes the -wal
  ASSERT_FALSE(std::filesystem::exists(path + "-wal"));
  Settle(w);
  app.emplace(OpenApp(path));
  ASSERT_TRUE(app->Exec("INSERT INTO t VALUES(1)").ok());
  EXPECT_EQ(w.Wait(kLongWait), Wake::kWalChanged);
  Settle(w);
  // Now a write to the new -wal, not its creation, must wake it.
  ASSERT_TRUE(app->Exec("INSERT INTO t VALUES(2)").ok());
  EXPECT_EQ(w.Wait(kLongWait), Wake::kWalChanged);
}

TEST(WalWatcherTest, WatchesADatabaseWhoseWalDoesNotExistYet) {
  testing::TempDir dir;
  const std::string path = dir.Join("app.db");
  WalWatcher w(path, -1);
  Database app = OpenApp(path);
  EXPECT_EQ(w.Wait(kLongWait), Wake::kWalChanged);
  Settle(w);
  ASSERT_TRUE(app.Exec("INSERT INTO t VALUES(1)").ok());
  EXPECT_EQ(w.Wait(kLongWait), Wake::kWalChanged);
}

TEST(WalWatcherTest, TheStopDescriptorEndsTheWait) {
  testing::TempDir dir;
  const int stop = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  ASSERT_GE(stop, 0);
  WalWatcher w(dir.Join("app.db"), stop);
  EXPECT_EQ(w.Wait(50ms), Wake::kTimedOut);
  const uint64_t one = 1;
  ASSERT_EQ(::write(stop, &one, sizeof one), static_cast<ssize_t>(sizeof one));
  EXPECT_EQ(w.Wait(kLongWait), Wake::kStopped);
  ::close(stop);
}

}  // namespace
}  // namespace ltxbus::producer
