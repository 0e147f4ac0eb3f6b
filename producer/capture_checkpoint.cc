// Checkpoints: the producer runs the database's checkpoints itself, so none
// can copy back or restart past a frame that is not yet published.
#include <spdlog/spdlog.h>

#include "producer/capture_state.h"

namespace ltxbus::producer {

Result<bool> Capture::MaybeCheckpoint(bool force) {
  State& s = *s_;
  if (!s.broken.ok()) return s.broken;
  const bool due =
      force || s.stats.wal_frames >= s.opt.min_checkpoint_page_count ||
      (s.stats.wal_frames > 0 && Clock::now() - s.last_checkpoint >= s.opt.checkpoint_interval);
  if (!due) return false;
  bool ran = false;
  // Behind, the barrier could not pass anyway (not everything is published)
  // and waiting for it would only slow the catching up.
  if (!s.behind) {
    LTXBUS_ASSIGN_OR_RETURN(ran, s.CheckpointUnderBarrier());
  }
  if (!ran) {
    // The app holds the write lock almost continuously, or the producer is
    // behind. Waiting would stall publishing and may never succeed, so copy
    // back what is published; only the WAL restart, which needs a moment
    // without the pin, waits for a quieter time.
    LTXBUS_ASSIGN_OR_RETURN(ran, s.CheckpointUpToPin());
  }
  if (ran) {
    s.last_checkpoint = Clock::now();
    s.stats.checkpoints++;
  }
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
  LTXBUS_ASSIGN_OR_RETURN(WalIndexHeader before, shm->Read());
  if (behind || !AllPublished(before)) return false;
  DropCandidate();  // the barrier needs the other connection
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
  if (!AllPublished(hdr)) return false;
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

// Without the barrier. The pin never sees an unpublished frame: the next pin
// (a read transaction on the other connection) is taken ahead of time and
// becomes the pin only once everything up to it is published, the old pin
// ending after it began, so there is never a moment unpinned. Then a PASSIVE
// checkpoint copies back at most up to the new pin (a checkpoint never passes
// a reader), and the next candidate is taken. While a backlog drains, the pin
// and the checkpoint thus follow the published position one step behind.
Result<bool> Capture::State::CheckpointUpToPin() {
  if (!candidate_held) LTXBUS_RETURN_IF_ERROR(TakeCandidate());
  const bool covered = candidate.max_frame == 0 || AllPublished(candidate);
  if (!covered) {
    if (pos_valid && (candidate.salt1 != pos.salt1 || candidate.salt2 != pos.salt2)) {
      DropCandidate();  // taken in an earlier WAL generation
      LTXBUS_RETURN_IF_ERROR(TakeCandidate());
    }
    return false;
  }
  if (pinned) (void)pin->Exec("ROLLBACK");
  std::swap(pin, barrier);
  pinned = true;
  candidate_held = false;
  int log_frames = 0, checkpointed = 0;
  int rc = sqlite3_wal_checkpoint_v2(barrier->raw(), "main", SQLITE_CHECKPOINT_PASSIVE, &log_frames,
                                     &checkpointed);
  if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
    return Status::IOError("{}: checkpoint failed: {}", opt.name, sqlite3_errstr(rc));
  }
  spdlog::debug("{}: checkpoint up to the pin: {} of {} frames copied back", opt.name, checkpointed,
                log_frames);
  LTXBUS_RETURN_IF_ERROR(TakeCandidate());
  return true;
}

}  // namespace ltxbus::producer
