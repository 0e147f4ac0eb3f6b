// Shared by the `ltxbus tail` integration tests (tail_test.cc,
// tail_example_test.cc): a fixture with the real nats-server and Kafka,
// a recorded stream (a producer publishing a workload, with the source
// database captured at known TXIDs, offsets and times), and helpers to run
// commands and check their JSON.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/process.h"
#include "ltx/ltx.h"
#include "tests/support/ltx_builder.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testbed.h"

namespace ltxbus::tail_test {

using testing::ServerKind;

// One frame of the recorded stream, as the consumer API delivered it.
struct RecordedFrame {
  ltx::TXID txid = 0;
  uint64_t first_offset = 0;
  uint64_t last_offset = 0;
  int64_t bus_time_ms = 0;
};

// The source database as it was once the stream held everything up to
// `txid` (frames[frame]), captured at wall-clock `time_ms`, before the app
// wrote again.
struct Capture {
  ltx::TXID txid = 0;
  size_t frame = 0;
  int64_t time_ms = 0;
  testing::Pages pages;
};

struct Recording {
  std::string url;
  std::string db_name;  // the name on the bus
  std::string db_path;
  std::vector<RecordedFrame> frames;
  std::vector<Capture> captures;
  std::unique_ptr<testing::TempDir> dir;
};

class TailTest : public testing::ServerTest<ServerKind::kNats, ServerKind::kKafka>,
                 public ::testing::WithParamInterface<ServerKind> {
 protected:
  // A bus URL on a fresh stream (NATS) or topic (Kafka) of this test's kind.
  std::string NewUrl(const std::string& prefix) const;
  // The stream every test of one bus kind reads: built by the first test
  // that asks, then shared (a producer publishing a randomized workload in
  // steps, multi-chunk frames included).
  const Recording& SharedRecording();

  // Starts `ltxbus replicate` for `db` with a small chunk size, so that
  // large transactions span several bus messages.
  Result<Process> StartProducer(const std::string& db, const std::string& url,
                                const std::string& dir) const;
  // Stops it (SIGTERM) and checks it exited cleanly.
  static void StopProducer(Process& p);
  // tests/apps/workload.py on the system SQLite.
  static void RunApp(const std::string& db, const std::vector<std::string>& args);
  // Reads the database's stream with the consumer API, applying it to an
  // image, until the image equals the source database at `db_path` (the
  // producer published everything); returns the frames read.
  static std::vector<RecordedFrame> WaitForSource(const std::string& url, const std::string& db,
                                                  const std::string& db_path);
  // `ltxbus tail URL DB args...`.
  static CommandResult Tail(const std::string& url, const std::string& db,
                            const std::vector<std::string>& args);
  // Retention: removes the database's messages before `offset` from the bus.
  void DeleteBefore(const std::string& url, const std::string& db, uint64_t offset) const;
};

// Checks one JSON line against docs/tail-json.schema.json (required
// properties, types, patterns, minimums, no unknown properties); returns
// what is wrong, empty if nothing.
std::string SchemaErrors(const nlohmann::json& line);

std::string Hex(uint64_t v);

}  // namespace ltxbus::tail_test
