// Checkpoints: the producer runs the database's checkpoints itself, so none
// can copy back or restart past a frame that is not yet published.
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "producer/capture_state.h"

namespace ltxbus::producer {
namespace {

// Releases the barrier (rolls back its BEGIN IMMEDIATE) if publishing under
// it takes longer than `limit`, so a bus that stalls holds the app's write
// lock for that long at most, not for the publisher's ack timeout. The
// connection is used by one thread at a time: the watchdog only until
// Disarm() returns, and the caller does not touch it before.
class BarrierWatchdog {
 public:
  BarrierWatchdog(sqlite::Database* barrier, std::chrono::milliseconds limit)
      : thread_([this, barrier, limit] {
          std::unique_lock lock(mu_);
          if (cv_.wait_for(lock, limit, [this] { return disarmed_; })) return;
          fired_ = true;
          (void)barrier->Exec("ROLLBACK");
        }) {}
  BarrierWatchdog(const BarrierWatchdog&) = delete;
  BarrierWatchdog& operator=(const BarrierWatchdog&) = delete;
  ~BarrierWatchdog() {
    (void)Disarm();
    thread_.join();
  }
  // True if the barrier is still held; the watchdog cannot fire afterwards.
  bool Disarm() {
    {
      std::lock_guard lock(mu_);
      if (fired_) return false;
      disarmed_ = true;
    }
    cv_.notify_one();
    return true;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool disarmed_ = false;
  bool fired_ = false;
  std::thread thread_;  // last: starts once the members it uses exist
};

// Retries the write lock every 50 µs until the deadline. SQLite's default
// handler sleeps 1, 2, 5, 10 ... 100 ms between attempts, about a dozen in
// the barrier's 200 ms; an app committing back to back frees the lock only
// for microseconds between its COMMIT and its next BEGIN, so those few
// attempts mostly missed and the WAL could not restart (the app then pays
// for a growing WAL). Polling finds such a gap within a few milliseconds.
int PollForTheLock(void* deadline, int /*attempts*/) {
  if (Clock::now() >= *static_cast<Clock::time_point*>(deadline)) return 0;
  std::this_thread::sleep_for(std::chrono::microseconds(50));
  return 1;
}

}  // namespace

Result<bool> Capture::MaybeCheckpoint(bool force) {
  State& s = *s_;
  if (!s.broken.ok()) return s.broken;
  const bool due =
      force || s.stats.wal_frames >= s.opt.min_checkpoint_page_count ||
      (s.stats.wal_frames > 0 && Clock::now() - s.last_checkpoint >= s.opt.checkpoint_interval);
  if (!due) return false;
  if (!force) {
    // Everything is copied back already, and the app's next write restarts
    // the WAL: another checkpoint would only take the app's write lock for
    // nothing, at every poll until the app writes again.
    LTXBUS_ASSIGN_OR_RETURN(WalIndexHeader hdr, s.shm->Read());
    if (hdr.max_frame > 0 && hdr.backfill >= hdr.max_frame) return false;
  }
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
// back the whole WAL and the app's next write restarts it. An app that
// commits back to back always has committed again by the time the lock is
// taken, so the few frames it added (kBarrierPublishFrames) are published
// under the lock, watched by BarrierWatchdog (the app waits a round trip to
// the bus, at most kBarrierPublishLimit); without that the WAL would never
// restart and would grow for as long as the app stays busy. False if the
// barrier could not be taken within its short timeout, the backlog is larger,
// or the watchdog released the lock (then the checkpoint goes up to the pin).
Result<bool> Capture::State::CheckpointUnderBarrier() {
  LTXBUS_RETURN_IF_ERROR(Poll().status());
  LTXBUS_ASSIGN_OR_RETURN(WalIndexHeader before, shm->Read());
  if (behind || !(AllPublished(before) || FewUnpublished(before))) return false;
  DropCandidate();  // the barrier needs the other connection
  if (const auto at = publisher->NextBatchAt(); at > Clock::now()) {
    // Kafka's gap between transactions: waited out here, not under the
    // barrier, where the app would wait for it too.
    std::this_thread::sleep_until(at);
  }
  Clock::time_point deadline = Clock::now() + kBarrierTimeout;
  sqlite3_busy_handler(barrier->raw(), PollForTheLock, &deadline);
  auto b = Barrier::Take(&*barrier, &barrier_held, &stats.app_lock_held_us);
  sqlite3_busy_timeout(barrier->raw(), static_cast<int>(opt.busy_timeout.count()));
  if (!b.ok()) {
    spdlog::debug("{}: checkpoint barrier not available: {}", opt.name, b.status().message());
    return false;
  }
  // Releasing the pin lets the checkpoint copy back every frame, so every
  // frame must be published already.
  LTXBUS_ASSIGN_OR_RETURN(WalIndexHeader hdr, shm->Read());
  if (!AllPublished(hdr)) {
    // The app committed since: publish that under the lock, watched.
    if (!FewUnpublished(hdr)) return false;
    Result<int> polled = 0;
    stats.barrier_publishes++;
    {
      BarrierWatchdog watchdog(&*barrier, kBarrierPublishLimit);
      under_watched_barrier = true;
      polled = Poll();
      under_watched_barrier = false;
      if (!watchdog.Disarm()) {
        stats.barrier_releases++;
        spdlog::debug("{}: publishing under the checkpoint barrier took over {} ms; released it",
                      opt.name, kBarrierPublishLimit.count());
        return polled.ok() ? Result<bool>(false) : Result<bool>(polled.status());
      }
    }
    LTXBUS_RETURN_IF_ERROR(polled.status());
    LTXBUS_ASSIGN_OR_RETURN(hdr, shm->Read());
    if (!AllPublished(hdr)) return false;
  }
  LTXBUS_RETURN_IF_ERROR(Unpin());
  int log_frames = 0, checkpointed = 0;
  int rc = sqlite3_wal_checkpoint_v2(pin->raw(), "main", SQLITE_CHECKPOINT_PASSIVE, &log_frames,
                                     &checkpointed);
  LTXBUS_RETURN_IF_ERROR(Pin());
  if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
    return Status::IOError("{}: checkpoint failed: {}", opt.name, sqlite3_errstr(rc));
  }
  spdlog::debug("{}: checkpoint: {} of {} frames copied back", opt.name, checkpointed, log_frames);
  stats.barrier_checkpoints++;
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
    if (pos_valid && !SameGeneration(candidate)) {
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
