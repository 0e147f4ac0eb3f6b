// The fixture of the follower's integration tests (follower_test.cc,
// follower_lag_test.cc, follower_resync_test.cc): a primary written by
// tests/apps/bank.py on the system SQLite, `ltxbus replicate` and
// `ltxbus follow` as processes, on the real nats-server or Kafka broker.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "base/process.h"
#include "bus/bus.h"
#include "ltx/ltx.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testbed.h"

namespace ltxbus::testing {

class FollowerFixture : public ServerTest<ServerKind::kNats, ServerKind::kKafka>,
                        public ::testing::WithParamInterface<ServerKind> {
 protected:
  void SetUp() override;

  static std::string App(const std::string& name);
  Result<Process> Ltxbus(std::vector<std::string> args);
  Result<Process> StartProducer() { return Ltxbus({"replicate", db_, url_}); }
  // `ltxbus follow URL app.db -o REPLICA` with `extra` arguments.
  Result<Process> StartFollower(std::vector<std::string> extra = {},
                                const std::string& replica = "");
  void RunBank(std::vector<std::string> args);

  std::vector<Process> StartReaders(int n, int min_reads);
  struct ReaderTotals {
    int64_t reads = 0, violations = 0, errors = 0, states = 0;
  };
  // Stops the readers and adds up what they saw.
  ReaderTotals StopReaders(std::vector<Process>& readers);

  // Waits until `replica` (default: replica_) equals the primary page for
  // page (page 1's change counter and version bytes masked: SQLite rewrites
  // them).
  void ExpectConverges(std::chrono::seconds timeout = std::chrono::seconds(120),
                       const std::string& replica = "");
  // The replica checked by the system SQLite, read-only.
  void ExpectIntegrityOk(const std::string& replica = "");
  // The newest TXID the follower's position file names (0 if none).
  ltx::TXID PositionTxid(const std::string& replica = "");
  void StopCleanly(Result<Process>& p, const std::string& what);
  // A connection to the test's bus (url_).
  std::unique_ptr<bus::Bus> Connect();
  // Deletes every message of app.db's stream before `offset`, as retention
  // would (NATS: a purge; Kafka: DeleteRecords).
  void DropBefore(uint64_t offset);

  // Collects `p`'s output until it holds `needle` `count` times; fails the
  // test if `p` exits first or `timeout` passes.
  void WaitForLog(Process& p, const std::string& needle, int count = 1,
                  std::chrono::seconds timeout = std::chrono::seconds(60));
  // The address a follower started with `-metrics-addr 127.0.0.1:0` serves
  // /metrics on (from its log).
  std::string MetricsAddress(Process& follower);
  // GET http://ADDR/metrics.
  std::string Scrape(const std::string& addr);
  // The value of `metric` for the replica `replica` in a scrape; nullopt if absent.
  static std::optional<double> Sample(const std::string& scrape, const std::string& metric,
                                      const std::string& replica);
  // Scrapes until `ok(value of metric)` holds; fails the test after `timeout`.
  void WaitForMetric(Process& follower, const std::string& addr, const std::string& metric,
                     const std::string& replica, const std::function<bool(double)>& ok,
                     std::chrono::seconds timeout = std::chrono::seconds(60));
  // `ltxbus status ARGS -json`: its exit code and the parsed output.
  struct StatusOutput {
    int exit_code = -1;
    nlohmann::json json;
    std::string error_output;
  };
  StatusOutput Status(std::vector<std::string> args);
  // Status until no replica has a `pending_txid` (a running follower settles
  // its position file once it has nothing to apply).
  StatusOutput SettledStatus(std::vector<std::string> args);

  TempDir dir_;
  std::string db_, replica_, stop_file_, url_;
};

}  // namespace ltxbus::testing
