// Whether the bus holds every transaction a database had committed at one
// moment: what `ltxbus sync -wait` waits for (docs/sync.md). Bus-side logic
// only; reading the database's files is the caller's (cli/sync_command.cc).
//
// A sync point is the bus's newest frame, then the database's committed WAL
// position (its WAL generation — the salts — and mxFrame), read in that
// order. Every frame carries the producer's WAL position after it
// (FrameTrailer::wal), and a producer publishes a generation's frames before
// SQLite may restart the WAL (its read pin forbids the checkpoint), or
// snapshots after it restarted. So the bus's newest frame F covers the point
// when:
//   1. F is from the point's generation and reaches its mxFrame; or
//   2. F was published after the point and is from a later generation:
//      salt1 ahead (SQLite increments it on each restart; compared with a
//      wrap-around-safe signed difference) or equal to the database's
//      generation now, which began after the point; or
//   3. the point had nothing in its WAL (mxFrame 0, or no -shm at all), and
//      F's post-apply checksum equals the database file's checksum at a
//      quiescent moment at or after the point: the bus holds exactly that
//      state; or
//   4. there was no -shm at the point (no connection, so no producer), and F
//      was published after it from the database's generation now.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "base/status.h"
#include "bus/bus.h"
#include "ltx/ltx.h"

namespace ltxbus::bus {

// What a database had committed at one moment, as its files say.
struct LocalCommits {
  // False when there is no -shm: no connection has the database open, and
  // everything committed is in the database file.
  bool wal_index = false;
  // From the wal-index header: the WAL generation, the last frame of the last
  // committed transaction in it (0: none yet), and the change counter.
  uint32_t salt1 = 0;
  uint32_t salt2 = 0;
  uint32_t max_frame = 0;
  uint32_t change = 0;
  // With nothing committed in the WAL: the LTX checksum of the database file,
  // when it was read while the wal-index stayed the same.
  std::optional<ltx::Checksum> db_checksum;

  std::string Format() const;
};

// The database's committed state now; `with_checksum` asks for db_checksum
// too (the whole file is read) when nothing is committed in the WAL.
using LocalReader = std::function<Result<LocalCommits>(bool with_checksum)>;

struct SyncPoint {
  std::optional<LastFrame> before;  // the bus's newest frame, read first
  LocalCommits local;               // then the database
  // The checksum of the database at a quiescent moment at or after the
  // point (rule 3), once read.
  std::optional<ltx::Checksum> state_checksum;
};

struct Verdict {
  bool covered = false;
  std::string why;  // a sentence for people
};

// Whether `frame` — the bus's newest frame now — covers every transaction
// committed at `point`; `now` is the database now (for rules 2 and 4).
Verdict Covers(const SyncPoint& point, const std::optional<LastFrame>& frame,
               const LocalCommits& now);

// A frame's position for messages: TXID, offset, WAL position, producer.
std::string FormatFrame(const std::optional<LastFrame>& frame);

struct SyncOptions {
  std::chrono::milliseconds timeout{30000};
  std::chrono::milliseconds poll_interval{100};  // the longest pause between looks
};

struct SyncResult {
  SyncPoint point;
  std::optional<LastFrame> frame;  // the bus's newest frame when the verdict was made
  LocalCommits now;
  Verdict verdict;
  std::chrono::milliseconds waited{0};
};

// Takes a sync point and judges it once, against the bus as it is right
// after.
Result<SyncResult> CheckSync(Bus& bus, const std::string& database, const LocalReader& read);

// Takes a sync point and looks again until the bus covers it. Timeout, naming
// both positions, when `options.timeout` passes first. Bus errors while
// waiting are retried until then; errors taking the point are returned.
Result<SyncResult> WaitForSync(Bus& bus, const std::string& database, const LocalReader& read,
                               const SyncOptions& options);

}  // namespace ltxbus::bus
