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

// The checkpoint the issue prescribes: everything committed is published,
// the write lock is taken, and the pin is released so the checkpoint can copy
// back the whole WAL and the app's next write restarts it. Publishing happens
// before the lock, never under it: the app must not wait on the bus. False if
// the barrier could not be taken within its short timeout, or the app
// committed in between (then the checkpoint goes up to the pin instead).
Result<bool> Capture::State::CheckpointUnderBarrier() {
  LTXBUS_RETURN_IF_ERROR(Poll().status());
  sqlite3_busy_timeout(barrier->raw(), static_cast<int>(kBarrierTimeout.count()));
  auto b = Barrier::Take(&*barrier, &barrier_held);
  sqlite3_busy_timeout(barrier->raw(), static_cast<int>(opt.busy_timeout.count()));
  if (!b.ok()) {
    spdlog::debug("{}: checkpoint barrier not available: {}", opt.name, b.status().message());
    return false;
  }
  // Releasing the pin lets the checkpoint copy back every frame, so every
  // frame must be published already.
  LTXBUS_ASSIGN_OR_RETURN(WalIndexHeader hdr, shm->Read());
  const bool all_published =
      hdr.max_frame == 0 ||
      (pos_valid && hdr.salt1 == pos.salt1 && hdr.salt2 == pos.salt2 && pos.frame > hdr.max_frame);
  if (!all_published) return false;
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
