// Real servers for integration tests: nats-server with JetStream, a KRaft
// Kafka 3.9.1 broker, moto (S3, signatures checked) and versitygw (S3), each
// on 127.0.0.1 with free ports and a private temporary directory, started by
// scripts/servers/<name>.sh (see docs/testbed.md).
//
// Servers are slow to start (Kafka takes seconds), so a test suite shares
// them: derive the fixture from ServerTest<kinds...>.
//
//   class KafkaNatsTest : public ServerTest<ServerKind::kKafka, ServerKind::kNats> {};
//   TEST_F(KafkaNatsTest, Replicates) {
//     std::string bootstrap = env(ServerKind::kKafka, "KAFKA_BOOTSTRAP");
//     std::string nats_url = env(ServerKind::kNats, "NATS_URL");
//     ...
//   }
//
// They start in SetUpTestSuite and stop in TearDownTestSuite, which
// GoogleTest runs even when tests fail; each server also gets a watchdog that
// stops it if the test binary dies without cleaning up. A server that cannot
// start (its binary missing, say) fails every test of the suite with the
// script's message; nothing is skipped silently.
//
// To iterate faster, start servers once by hand (scripts/testbed.sh start all
// DIR) and set LTXBUS_TESTBED_DIR=DIR: ServerTest then uses those servers
// instead of starting its own, and leaves them running.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <cstdlib>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace ltxbus::testing {

enum class ServerKind { kNats, kKafka, kMoto, kVersitygw };

// "nats", "kafka", "moto", "versitygw": the script and directory name.
std::string_view ServerName(ServerKind kind);

// The repository root: $LTXBUS_SOURCE_DIR (set by CTest), else the source
// directory this binary was configured from.
std::string SourceDir();

// The ltxbus binary under test: $LTXBUS_BINARY (set by CTest), else the one
// this build produces.
std::string LtxbusBinary();

// The command line of the test app (tests/apps/workload.py, on the system
// SQLite) against `db` with `args`.
std::vector<std::string> WorkloadArgv(const std::string& db, std::vector<std::string> args);
// Runs the test app to completion: an error unless it exits 0 within `timeout`.
Status RunWorkload(const std::string& db, std::vector<std::string> args,
                   std::chrono::seconds timeout = std::chrono::seconds(300));

// One running server. Owned servers are stopped and their directory removed
// on destruction; attached ones (LTXBUS_TESTBED_DIR) are left alone.
class TestServer {
 public:
  // Starts a fresh server in a new temporary directory.
  static Result<std::unique_ptr<TestServer>> Start(ServerKind kind);
  // Uses a server already running in `dir` (a scripts/servers/<name>.sh
  // start directory); never stops it.
  static Result<std::unique_ptr<TestServer>> Attach(ServerKind kind, const std::string& dir);

  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;
  ~TestServer();

  // Stops an owned server (TERM, then KILL) and waits for it; idempotent.
  // The directory stays until destruction, for post-mortems.
  Status Stop();

  // How Halt() stops the server: SIGTERM (a clean shutdown) or SIGKILL (a
  // crash; the server recovers its logs when it resumes).
  enum class HaltMode { kClean, kCrash };
  // An outage that keeps the data: stops the server but keeps its directory,
  // data, ports and env, so Resume() brings it back where clients expect it.
  // nats and kafka only. Also works on an attached server, which must then be
  // resumed before anyone else needs it.
  Status Halt(HaltMode mode = HaltMode::kClean);
  // Starts a halted server again on the same ports with the same data, and
  // waits until it is ready (as Start() does); pid() changes.
  Status Resume();
  // Halt() then Resume().
  Status Restart(HaltMode mode = HaltMode::kClean);
  bool halted() const { return halted_; }

  ServerKind kind() const { return kind_; }
  const std::string& dir() const { return dir_; }
  // The server's process, also its process-group id.
  pid_t pid() const { return pid_; }
  // A value from the server's env file (e.g. "NATS_URL"); empty if absent.
  std::string env(std::string_view key) const;
  const std::map<std::string, std::string, std::less<>>& env_map() const { return env_; }

 private:
  // Only Start() and Attach() construct (through make_unique).
  struct Key {
    explicit Key() = default;
  };

 public:
  TestServer(Key, ServerKind kind, std::string dir, bool owned)
      : kind_(kind), dir_(std::move(dir)), owned_(owned) {}

 private:
  Status LoadState();
  // Runs scripts/servers/<name>.sh with `args`.
  Status RunScript(const std::vector<std::string>& args, std::chrono::seconds timeout) const;

  ServerKind kind_;
  std::string dir_;
  bool owned_;
  bool stopped_ = false;
  bool halted_ = false;
  pid_t pid_ = -1;
  std::map<std::string, std::string, std::less<>> env_;
};

// The servers of one test suite. Starts them in parallel; remembers the first
// failure instead of reporting it, so that ServerTest can fail each test with
// it (a failure inside SetUpTestSuite would make GoogleTest, and CTest after
// it, report the tests as skipped).
class ServerSet {
 public:
  void Start(std::initializer_list<ServerKind> kinds);
  void StopAll();
  // nullptr if `kind` was not started.
  TestServer* Find(ServerKind kind) const;
  const std::string& error() const { return error_; }

 private:
  std::vector<std::unique_ptr<TestServer>> servers_;
  std::string error_;
};

// A fixture that overrides SetUp() must call ServerTest::SetUp() first.
template <ServerKind... kKinds>
class ServerTest : public ::testing::Test {
 public:
  static void SetUpTestSuite() { Servers().Start({kKinds...}); }
  static void TearDownTestSuite() { Servers().StopAll(); }

 protected:
  void SetUp() override {
    if (!Servers().error().empty()) GTEST_FAIL() << Servers().error();
  }
  static TestServer& server(ServerKind kind) {
    TestServer* s = Servers().Find(kind);
    if (s == nullptr) {
      ADD_FAILURE() << ServerName(kind) << " is not among this suite's servers";
      std::abort();  // a test bug; there is nothing sensible to return
    }
    return *s;
  }
  static std::string env(ServerKind kind, std::string_view key) { return server(kind).env(key); }

 private:
  // GoogleTest shares per-suite state only through statics; this one lives
  // from SetUpTestSuite to TearDownTestSuite.
  static ServerSet& Servers() {
    static ServerSet set;
    return set;
  }
};

// prefix + "-" + 16 random hex digits: a name for a stream, topic or bucket
// that no other test (or earlier run against shared servers) has used. Valid
// as a NATS stream, Kafka topic and S3 bucket name if `prefix` is.
std::string UniqueName(std::string_view prefix);

// True if something accepts TCP connections on 127.0.0.1:port.
bool PortAcceptsConnections(int port);
// True if `pid` runs (a zombie does not count, unless its other threads still
// run: a JVM can keep its sockets open that way for a moment).
bool ProcessAlive(pid_t pid);
// The port of "host:port" or "scheme://host:port[/...]"; -1 if none.
int PortOf(std::string_view address);

}  // namespace ltxbus::testing
