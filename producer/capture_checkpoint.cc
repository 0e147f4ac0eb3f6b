// Checkpoints: the producer runs the database's checkpoints itself, so none
// can copy back or restart past a frame that is not yet published.
#include <spdlog/spdlog.h>

#include "producer/capture_state.h"

namespace ltxbus::producer {

Result<bool> Capture::MaybeCheckpoint(bool force) {
  State& s = *s_;
  const bool due =
      force || s.stats.wal_frames >= s.opt.min_checkpoint_page_count ||
      (s.stats.wal_frames > 0 && Clock::now() - s.last_checkpoint >= s.opt.checkpoint_interval);
  if (!due) return false;
  LTXBUS_ASSIGN_OR_RETURN(bool ran, s.CheckpointUnderBarrier());
  if (!ran) {
    // The app holds the write lock almost continuously. Waiting for it would
    // stall publishing and may never succeed, so copy back what is published
    // now; only the WAL restart, which needs a moment without the pin, waits
    // for a quieter time.
    LTXBUS_ASSIGN_OR_RETURN(ran, s.CheckpointUpToPin());
  }
  s.last_checkpoint = Clock::now();
  if (ran) s.stats.checkpoints++;
  return ran;
}

// The checkpoint the issue prescribes: under the write lock every commit is
// published, then the pin is released so the checkpoint can copy back the
// whole WAL and the app's next write restarts it. False if the barrier could
// not be taken within its short timeout.
Result<bool> Capture::State::CheckpointUnderBarrier() {
  sqlite3_busy_timeout(barrier->raw(), static_cast<int>(kBarrierTimeout.count()));
  auto b = Barrier::Take(&*barrier, &barrier_held);
  sqlite3_busy_timeout(barrier->raw(), static_cast<int>(opt.busy_timeout.count()));
  if (!b.ok()) {
    spdlog::debug("{}: checkpoint barrier not available: {}", opt.name, b.status().message());
    return false;
  }
  // Everything committed is published before the pin moves, so the
  // checkpoint can only copy back published frames.
  LTXBUS_RETURN_IF_ERROR(Poll().status());
  LTXBUS_RETURN_IF_ERROR(Unpin());
  int log_frames = 0, checkpointed = 0;
  int rc = sqlite3_wal_checkpoint_v2(pin->raw(), "main", SQLITE_CHECKPOINT_PASSIVE, &log_frames,
                                     &checkpointed);
  LTXBUS_RETURN_IF_ERROR(Pin());
  if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
    return Status::IOError("{}: checkpoint failed: {}", opt.name, sqlite3_errstr(rc));
  }
  spdlog::debug("{}: checkpoint: {} of {} frames copied back", opt.name, checkpointed, log_frames);
  return true;
}

// Without the barrier: the pin advances to the newest commit, everything up
// to it is published, and a PASSIVE checkpoint on the other connection copies
// back at most up to the pin, since a checkpoint never passes a reader.
Result<bool> Capture::State::CheckpointUpToPin() {
  LTXBUS_RETURN_IF_ERROR(AdvancePin());
  LTXBUS_RETURN_IF_ERROR(Poll().status());
  int log_frames = 0, checkpointed = 0;
  int rc = sqlite3_wal_checkpoint_v2(barrier->raw(), "main", SQLITE_CHECKPOINT_PASSIVE, &log_frames,
                                     &checkpointed);
  if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
    return Status::IOError("{}: checkpoint failed: {}", opt.name, sqlite3_errstr(rc));
  }
  spdlog::debug("{}: checkpoint up to the pin: {} of {} frames copied back", opt.name, checkpointed,
                log_frames);
  return true;
}

}  // namespace ltxbus::producer
