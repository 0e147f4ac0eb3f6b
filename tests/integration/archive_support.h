// Shared by the archive integration tests (archive_test.cc): a fixture with
// the real nats-server and moto (signatures checked), a recorded workload
// (the producer `ltxbus replicate` publishing a randomized app's transactions
// to JetStream, the primary captured at known TXIDs and times, and every
// TXID's state as the consumer API replays it), archivers as processes, and
// restores through the CLI.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/process.h"
#include "ltx/ltx.h"
#include "store/object_store.h"
#include "tests/support/ltx_builder.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testbed.h"

namespace ltxbus::archive_test {

using testing::Pages;
using testing::ServerKind;

// The primary once the stream held everything up to `txid`, captured at
// wall-clock `time_ms` before the app wrote again.
struct Capture {
  ltx::TXID txid = 0;
  int64_t time_ms = 0;
  Pages pages;
};

// The archives every test reads: one per backend, written while the app ran.
struct Archives {
  std::string file, s3, nats, versitygw;  // s3: moto
};

struct Recording {
  std::unique_ptr<testing::TempDir> dir;
  std::string bus_url;
  std::string db_path;
  std::vector<Capture> captures;
  std::map<ltx::TXID, Pages> replayed;  // every TXID's state from the stream
  ltx::TXID last_txid = 0;
  Archives archives;
};

class ArchiveTest
    : public testing::ServerTest<ServerKind::kNats, ServerKind::kMoto, ServerKind::kVersitygw> {
 protected:
  // Built by the first test that asks, then shared.
  const Recording& SharedRecording();

  // A bus URL on a fresh JetStream stream; a fresh bucket's archive URLs.
  std::string NewBusUrl() const;
  std::string NewS3Url(ServerKind kind);
  std::string NewNatsStoreUrl() const;
  // AWS credentials of an S3 server (moto by default), for processes.
  std::vector<std::pair<std::string, std::string>> S3Env(ServerKind kind = ServerKind::kMoto) const;
  Result<std::unique_ptr<store::ObjectStore>> OpenStore(const std::string& url) const;

  // `ltxbus replicate` of `db` to `url` (small chunks, so frames span messages).
  Result<Process> StartProducer(const std::string& db, const std::string& url,
                                const std::string& dir) const;
  // `ltxbus archive -config FILE` over a config with one entry per URL.
  Result<Process> StartArchiver(const std::string& bus_url, const std::vector<std::string>& urls,
                                const std::string& config_path, const std::string& levels,
                                const std::vector<std::string>& extra_args = {}) const;
  static void StopGracefully(Process& p, const char* what);
  // Polls the archive's manifest until it holds `txid` (or fails).
  void WaitArchived(const std::string& url, ltx::TXID txid, Process* archiver) const;

  // `ltxbus <args...>` with the S3 credentials; returns the result.
  CommandResult Ltxbus(const std::vector<std::string>& args) const;
  // `ltxbus restore` into `out`, then its raw pages.
  Pages Restore(const std::string& url, const std::vector<std::string>& target,
                const std::string& out) const;
};

}  // namespace ltxbus::archive_test
