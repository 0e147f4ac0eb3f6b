// Internals of Capture shared by its source files (capture.cc: open, poll
// and publish; capture_continuity.cc: recovery and snapshots;
// capture_checkpoint.cc: checkpoints). Not a public header.
#pragma once

#include <sqlite3.h>
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ltx/checksum.h"
#include "producer/capture.h"
#include "producer/wal_index.h"
#include "producer/wal_reader.h"
#include "sqlite/database.h"

namespace ltxbus::producer {

using Clock = std::chrono::steady_clock;

// How long a checkpoint waits for the app's write lock before it copies back
// only up to the pin instead: short, because publishing stops meanwhile.
constexpr std::chrono::milliseconds kBarrierTimeout{200};
// How long one Poll publishes before it returns (at a batch boundary) so the
// caller can move the pin and checkpoint while a backlog drains.
constexpr std::chrono::milliseconds kPollBudget{250};
// A WAL fdatasync this slow is logged (debug): it delays every commit behind it.
constexpr std::chrono::milliseconds kSlowSync{5};
// A checkpoint may take the barrier with up to this many frames unpublished
// and publish them under it, so the WAL can restart even while the app
// commits back to back; the app waits for them at most kBarrierPublishLimit.
constexpr uint32_t kBarrierPublishFrames = 256;
constexpr std::chrono::milliseconds kBarrierPublishLimit{100};
// A batch ends after this many frames or page bytes: it bounds how long
// frames wait for the batch's acknowledgement (Kafka: its transaction).
constexpr size_t kBatchFrames = 1000;
constexpr uint64_t kBatchBytes = uint64_t{16} << 20;

bus::WalPosition ToBus(const WalPosition& p);

// fdatasync of the -wal before publishing: with synchronous=NORMAL the app's
// commit is not yet durable, and a replica must never get ahead of a primary
// that loses power.
Status SyncWal(const std::string& wal_path);

// A connection of the producer's own: never checkpoints on its own, never
// deletes the WAL, and refuses a database that is not in WAL mode.
Result<sqlite::Database> OpenConnection(const CaptureOptions& o);

// Holds the database's write lock (BEGIN IMMEDIATE) for a short critical
// section, so no transaction commits while it is held.
// Nested use (a snapshot taken inside a checkpoint's barrier) is a no-op.
class Barrier {
 public:
  // Adds the time the lock was held to *held_us when released.
  static Result<Barrier> Take(sqlite::Database* db, bool* held, uint64_t* held_us) {
    if (*held) return Barrier(nullptr, nullptr, nullptr);
    Status s = db->Exec("BEGIN IMMEDIATE");
    if (!s.ok()) return s.WithContext("taking the write-lock barrier");
    *held = true;
    return Barrier(db, held, held_us);
  }
  Barrier(Barrier&& o) noexcept
      : db_(std::exchange(o.db_, nullptr)),
        held_(std::exchange(o.held_, nullptr)),
        held_us_(std::exchange(o.held_us_, nullptr)),
        taken_(o.taken_) {}
  Barrier& operator=(Barrier&&) = delete;
  ~Barrier() {
    if (db_ == nullptr) return;
    (void)db_->Exec("ROLLBACK");
    *held_ = false;
    *held_us_ += static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - taken_).count());
  }

 private:
  Barrier(sqlite::Database* db, bool* held, uint64_t* held_us)
      : db_(db), held_(held), held_us_(held_us), taken_(Clock::now()) {}
  sqlite::Database* db_;
  bool* held_;
  uint64_t* held_us_;
  Clock::time_point taken_;
};

struct Capture::State {
  Env* env = nullptr;
  CaptureOptions opt;
  std::unique_ptr<bus::Publisher> publisher;
  std::string wal_path;
  // Declared before the connections so they close after them: closing a
  // descriptor drops this process's POSIX locks on the file.
  std::unique_ptr<RandomAccessFile> db_file;
  dev_t db_dev = 0;
  ino_t db_ino = 0;
  std::optional<WalIndex> shm;
  std::optional<WalReader> wal;
  std::optional<sqlite::Database> pin;
  std::optional<sqlite::Database> barrier;
  bool pinned = false;
  bool barrier_held = false;
  uint32_t page_size = 0;

  // What the bus holds: the last TXID, where its WAL position is, and the
  // database checksum (with every page's checksum) after it.
  ltx::TXID txid = 0;
  WalPosition pos;
  bool pos_valid = false;  // false: waiting for the WAL's next generation
  uint32_t commit = 0;
  std::vector<ltx::Checksum> page_sums;  // by pgno; [0] unused
  ltx::DatabaseChecksum db_sum;

  // A batch failed: the bus holds an unknown prefix of it, this state is past
  // it. Every call fails with this until Reopen succeeds.
  Status broken;
  bool behind = false;  // the last Poll stopped at its budget with more to publish
  // Poll runs under the checkpoint barrier, which a watchdog may release at
  // any moment: it must not take a snapshot (PinAtKnownFrame relies on the
  // barrier it believes held) and leaves that to the next Poll.
  bool under_watched_barrier = false;
  // The next pin: a read transaction on the other connection, taken at
  // `candidate` (at most), that becomes the pin once everything up to it is
  // published (see capture_checkpoint.cc).
  bool candidate_held = false;
  WalIndexHeader candidate;

  CaptureStats stats;
  uint64_t unacked_frames = 0;  // published in the open batch, not yet acknowledged
  Clock::time_point last_checkpoint = Clock::now();
  Clock::time_point last_wal_warning{};
  int attempt_counter = 0;

  Status Pin() {
    LTXBUS_RETURN_IF_ERROR(pin->Exec("BEGIN"));
    auto r = pin->QueryInt64("SELECT count(*) FROM sqlite_schema");
    if (!r.ok()) {
      (void)pin->Exec("ROLLBACK");
      return r.status().WithContext("pinning the WAL");
    }
    pinned = true;
    return Status::OK();
  }
  Status Unpin() {
    pinned = false;
    return pin->Exec("ROLLBACK");
  }
  Status Repin() {
    if (pinned) LTXBUS_RETURN_IF_ERROR(Unpin());
    return Pin();
  }
  // Starts the next pin's read transaction on the other connection.
  Status TakeCandidate() {
    LTXBUS_RETURN_IF_ERROR(barrier->Exec("BEGIN"));
    auto r = barrier->QueryInt64("SELECT count(*) FROM sqlite_schema");
    auto hdr = r.ok() ? shm->Read() : Result<WalIndexHeader>(r.status());
    if (!hdr.ok()) {
      (void)barrier->Exec("ROLLBACK");
      return hdr.status().WithContext("taking the next pin");
    }
    candidate = *hdr;  // read after the transaction began: at or past what it sees
    candidate_held = true;
    return Status::OK();
  }
  // The other connection is needed for a barrier, or the candidate is stale.
  void DropCandidate() {
    if (!candidate_held) return;
    (void)barrier->Exec("ROLLBACK");
    candidate_held = false;
  }
  // Everything the wal-index header `h` shows is published.
  bool AllPublished(const WalIndexHeader& h) const {
    return h.max_frame == 0 || (SameGeneration(h) && pos.frame > h.max_frame);
  }
  // `h` is the WAL generation the published position is in.
  bool SameGeneration(const WalIndexHeader& h) const {
    return pos_valid && h.salt1 == pos.salt1 && h.salt2 == pos.salt2;
  }
  // At most kBarrierPublishFrames of what `h` shows are unpublished.
  bool FewUnpublished(const WalIndexHeader& h) const {
    return SameGeneration(h) && h.max_frame + 1 - pos.frame <= kBarrierPublishFrames;
  }
  Result<bool> CheckpointUnderBarrier();
  Result<bool> CheckpointUpToPin();

  bus::FrameId NewFrameId(ltx::TXID min_txid, ltx::TXID max_txid, ltx::Checksum pre,
                          int64_t timestamp_ms) {
    return bus::FrameId{opt.name, min_txid, max_txid, "", opt.producer_id, timestamp_ms, pre};
  }
  Result<WalIndexHeader> PinAtKnownFrame();
  Status CheckNotReplaced() const;
  Status Snapshot(const std::string& reason);
  Status Resume(bool keep_pin);
  Result<bool> Recover(const bus::LastFrame& last, bool keep_pin);
  Status CheckTransaction(const WalTransaction& txn) const;
  Status PublishTransaction(const WalTransaction& txn);
  Result<int> Poll();
};

}  // namespace ltxbus::producer
