// Captures every committed transaction of one live WAL-mode database and
// publishes each as one LTX frame (docs/wal-capture.md, docs/message-format.md).
//
// Pin-and-tail, after Litestream: a read transaction ("the pin") is held at
// all times, so no checkpoint can copy back or restart past frames that are
// not yet published; the -wal file is read directly, bounded by the
// wal-index mxFrame, and verified frame by frame. Checkpoints are PASSIVE
// and run by the producer itself under a short BEGIN IMMEDIATE barrier; the
// pin is released only inside that barrier.
//
// Continuity is proven or a snapshot is published: on first start, when the
// bus's last frame does not continue into the WAL on disk (the producer was
// down and the WAL restarted or was checkpointed past it), when a frame fails
// verification, or when the database was replaced. Every frame carries the
// database checksum before and after it, and the WAL position after it, so a
// restarted producer resumes from the bus alone.
//
// Not thread-safe: one thread drives one Capture.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "base/env.h"
#include "bus/bus.h"
#include "ltx/ltx.h"

namespace ltxbus::producer {

struct CaptureOptions {
  std::string db_path;
  std::string name;  // the database's name on the bus
  std::string producer_id;
  std::chrono::milliseconds busy_timeout{5000};
  uint32_t min_checkpoint_page_count = 1000;
  std::chrono::milliseconds checkpoint_interval{60000};
  uint64_t wal_warn_bytes = uint64_t{256} << 20;
  // Blocks: about half the CPU of LZ4 frames per page (bench/RESULTS.md,
  // EncodeTxn); frames for readers older than Go ltx v0.5.2.
  ltx::PageEncoding encoding = ltx::PageEncoding::kLZ4Block;
};

struct CaptureStats {
  ltx::TXID txid = 0;      // last TXID published
  uint64_t frames = 0;     // frames published by this Capture
  uint64_t snapshots = 0;  // of which snapshots
  uint64_t checkpoints = 0;
  // Of which ran under the barrier, copying the whole WAL back so that the
  // app's next write restarts it (the others went up to the pin).
  uint64_t barrier_checkpoints = 0;
  // Checkpoint barriers under which the app's last commits were published,
  // and of those, how many the watchdog released because the bus was slow.
  uint64_t barrier_publishes = 0;
  uint64_t barrier_releases = 0;
  // How long the producer held the app's write lock in all (its barriers).
  uint64_t app_lock_held_us = 0;
  int64_t last_publish_ms = 0;
  uint32_t wal_frames = 0;  // mxFrame at the last poll
};

class Capture {
 public:
  // Opens the database (which must be in WAL mode), becomes the publisher of
  // its frames, and either proves the bus's last frame continues into the WAL
  // on disk or publishes a snapshot.
  static Result<std::unique_ptr<Capture>> Open(Env* env, const CaptureOptions& options,
                                               std::unique_ptr<bus::Publisher> publisher);
  ~Capture();
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;

  // Publishes the transactions committed so far, one frame each, for up to
  // a short time budget (see behind()). Returns how many frames were
  // published. On a bus error nothing is lost: the next Poll (or, once
  // broken(), Reopen) starts again from the last acknowledged frame.
  // Conflict means another producer took over (fenced); NotFound means the
  // database file was replaced or removed: open a new Capture to snapshot
  // the new one.
  Result<int> Poll();
  // Runs a PASSIVE checkpoint under the barrier when the WAL has grown past
  // min_checkpoint_page_count frames or checkpoint_interval has passed and
  // not every frame is copied back yet (or always, with `force`). Returns
  // true if one ran.
  Result<bool> MaybeCheckpoint(bool force = false);

  // The last Poll stopped at its time budget with more to publish: poll
  // again at once.
  bool behind() const;
  // A batch of frames failed and the bus holds an unknown part of it: this
  // Capture only returns errors now, until Reopen succeeds.
  bool broken() const;
  // Becomes the publisher again with a new Publisher (the old one is
  // dropped), learns where the bus's chain ends and continues it, or
  // publishes a snapshot where it cannot be proven, as Open does. Unlike a
  // new Capture it keeps the pin, so checkpoints the app runs while the bus
  // is away cannot copy back frames the bus may not hold, and continuity
  // survives the outage. On error (the bus is still away, Conflict if
  // fenced, NotFound if the database was replaced) it stays broken.
  Status Reopen(std::unique_ptr<bus::Publisher> publisher);
  const CaptureStats& stats() const;
  const std::string& name() const;

 private:
  struct State;
  explicit Capture(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
};

}  // namespace ltxbus::producer
