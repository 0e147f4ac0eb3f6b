// Test helpers for the follower's unit tests: a real WAL-mode source database
// (on ltxbus's private SQLite) whose changes become LTX frames the way the
// producer makes them (changed pages, database checksums), and a way to
// publish frames, good or deliberately bad, on a fake bus.
#pragma once

#include <string>
#include <vector>

#include "bus/bus.h"
#include "ltx/ltx.h"
#include "sqlite/database.h"
#include "tests/support/ltx_builder.h"

namespace ltxbus::testing {

// One LTX frame with what the bus headers say about it.
struct TestFrame {
  bus::FrameId id;
  bus::FrameTrailer trailer;
  std::string bytes;
  Pages state;  // the source's pages after it
};

class SourceSim {
 public:
  // Creates a WAL-mode database at `path` with `page_size`.
  SourceSim(std::string path, std::string name, uint32_t page_size = 4096);

  // Runs SQL on the source (one or more statements, autocommit).
  void Exec(const std::string& sql);
  // The changes since the last frame as the next frame: a snapshot of every
  // page the first time, or when asked.
  TestFrame Next(bool snapshot = false);

  const std::string& path() const { return path_; }
  const Pages& pages() const { return last_; }
  ltx::TXID txid() const { return txid_; }
  // Numbers the next frame after `txid` (another primary taking over a stream).
  void ContinueAfter(ltx::TXID txid) { txid_ = txid; }

 private:
  std::string path_;
  std::string name_;
  sqlite::Database db_;
  Pages last_;
  ltx::TXID txid_ = 0;
};

// Publishes `f` on `bus` as its producer would (chunks of `chunk_size`). The
// FrameId is published as given, so tests can lie in it.
void Publish(bus::Bus& bus, const TestFrame& f, size_t chunk_size = 512 * 1024);

// Fails the test if `replica`'s pages differ from `want` beyond page 1's
// rewritten bytes.
void ExpectReplicaHolds(const std::string& replica, const Pages& want);

}  // namespace ltxbus::testing
