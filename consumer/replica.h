// A live read replica: a WAL-mode SQLite database that ltxbus alone writes,
// by applying LTX frames through sqlite_dbpage, while any process on the host
// reads it with stock SQLite (docs/follower.md).
//
// Every write is one SQLite write transaction on the replica (Begin, Apply
// one or more frames, Commit), so readers see the state before it or after
// it, never a mix. The connection stays open for the Replica's life: its
// SHARED lock keeps a closing reader from checkpointing and deleting the
// -wal/-shm, and the Replica runs the replica's checkpoints itself.
//
// The Replica tracks the *source's* state its pages hold: TXID, database
// checksum, page count and the source's page 1 (the replica's page 1 differs
// in the bytes SQLite rewrites at commit; see replica_position.h), and the
// checksum of every page it holds (read once by Scan, then kept up to date
// with each page written, as the producer does), so the running checksum
// never needs a page read back. Each frame is verified against that state
// before a page is written: Verify() decodes it completely and recomputes its
// post-apply checksum from the page checksums; only then does Apply() write
// it, from the pages Verify() kept in memory when the frame is small enough.
//
// Not thread-safe: one thread drives one Replica.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/env.h"
#include "consumer/replica_position.h"
#include "ltx/ltx.h"

namespace ltxbus::consumer {

struct ReplicaOptions {
  std::string path;
  // Waiting for the replica's write lock (held briefly by a reader that
  // recovers the WAL or checkpoints).
  std::chrono::milliseconds busy_timeout{5000};
  // PASSIVE checkpoint once the replica's WAL holds this many frames, run by a
  // ReplicaCheckpointer beside the next transactions.
  uint32_t checkpoint_frames = 1000;
  // TRUNCATE checkpoint (bounded by truncate_busy_timeout, retried later if
  // readers hold it up) once the WAL holds this many bytes.
  uint64_t truncate_wal_bytes = uint64_t{64} << 20;
  std::chrono::milliseconds truncate_busy_timeout{100};
  // A frame whose decoded pages fit in this many bytes is decoded once, by
  // Verify(), and written from memory; a larger one is decoded again by
  // Apply(), so memory stays bounded whatever a transaction's size.
  size_t decoded_frame_bytes = size_t{8} << 20;
};

// The source state a replica holds.
struct SourceState {
  ltx::TXID txid = 0;
  ltx::Checksum checksum = 0;
  uint32_t page_count = 0;  // 0: nothing applied yet
  int64_t timestamp_ms = 0;
  std::vector<uint8_t> page1;  // the source's page 1 (empty while page_count is 0)
};

// What a full read of the replica found (Replica::Scan).
struct ReplicaScan {
  uint32_t page_count = 0;
  std::vector<uint8_t> page1;  // as stored in the replica
  ltx::Checksum rest = 0;      // XOR of the page checksums of pages 2..page_count
  // Each page's checksum by pgno ([0] unused, the lock page's 0; page 1's is
  // of the replica's page 1, not the source's).
  std::vector<ltx::Checksum> page_sums;
  // The source's checksum if its page 1 carried `tail`.
  ltx::Checksum SourceChecksum(const Page1Tail& tail) const;
};

class Replica {
 public:
  // Opens an existing replica. Refuses (InvalidArgument) one that is not a
  // WAL-mode SQLite database.
  static Result<std::unique_ptr<Replica>> Open(const ReplicaOptions& options);
  // Creates a new, empty WAL-mode replica with `page_size` (the file must be
  // absent or empty).
  static Result<std::unique_ptr<Replica>> Create(const ReplicaOptions& options, uint32_t page_size);
  ~Replica();
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  uint32_t page_size() const { return page_size_; }
  const std::string& path() const { return options_.path; }

  // Reads every page in one read transaction.
  Result<ReplicaScan> Scan();
  // Takes `position` as the committed source state; the caller has checked
  // it against Scan().
  Status Adopt(const ReplicaPosition& position, const ReplicaScan& scan);

  // The state of the open transaction (the committed one outside a transaction).
  const SourceState& state() const { return in_txn_ ? pending_ : committed_; }
  const SourceState& committed() const { return committed_; }
  bool in_transaction() const { return in_txn_; }
  int frames_in_transaction() const { return txn_frames_; }

  // Starts a write transaction. Fails with Conflict if another connection
  // wrote the replica since this one last looked (it is no longer ours).
  Status Begin();
  // Whether a frame with `header` can join the open transaction. A database
  // can shrink only to below its size at Begin within one transaction
  // (sqlite_dbpage's truncation is relative to it), so a frame that shrinks
  // after the transaction grew the database must start a new one. A snapshot
  // ends its transaction (its pages are not remembered).
  bool Fits(const ltx::Header& header) const;
  // Decodes `ltx` completely and checks it continues the transaction's state:
  // page size, checksums present, pre-apply checksum (unless a snapshot),
  // page 1 in WAL mode, and the post-apply checksum recomputed from the
  // replica's page checksums. Writes nothing. Corruption on any mismatch.
  Result<ltx::Header> Verify(SequentialFile* ltx);
  // The post-apply checksum the last successful Verify() computed.
  ltx::Checksum verified_post() const { return verified_post_; }
  // Writes the frame Verify() accepted last: from the pages Verify() kept, or,
  // for a frame larger than decoded_frame_bytes, by decoding `ltx` (the same
  // bytes) again.
  // A snapshot of exactly the state the replica holds (a restarted producer's)
  // writes nothing.
  Status Apply(SequentialFile* ltx);
  // Commits (synchronous=FULL), then asks for a checkpoint if the WAL has grown.
  Status Commit();
  // Abandons the transaction; the replica is unchanged.
  void Rollback();

  // TRUNCATE checkpoint with the short busy timeout; true if it completed
  // (readers may hold it up: that is not an error).
  Result<bool> TruncateCheckpoint();
  uint32_t wal_frames() const { return wal_frames_; }
  // Pages Apply() has written since Open/Create (for the apply rate).
  uint64_t pages_written() const { return pages_written_; }

 private:
  explicit Replica(ReplicaOptions options);
  struct Db;
  Status Attach(bool create);
  Result<std::vector<uint8_t>> ReadPage(uint32_t pgno);
  // The checksum of the page as the open transaction holds it.
  Result<ltx::Checksum> CurrentPageChecksum(uint32_t pgno) const;
  // Writes one page of the verified frame and records its checksum.
  Status PutPage(uint32_t pgno, std::span<const uint8_t> data, ltx::Checksum sum);
  Status WritePage(uint32_t pgno, std::span<const uint8_t> data);
  // Undoes the open transaction's changes to page_sums_.
  void RestorePageSums();
  void ResetWriterCache();
  uint32_t WriterDataVersion();
  Status MaybeCheckpoint();

  ReplicaOptions options_;
  std::unique_ptr<Db> db_;
  uint32_t page_size_ = 0;
  SourceState committed_;
  SourceState pending_;
  bool in_txn_ = false;
  int txn_frames_ = 0;
  uint32_t start_pages_ = 0;     // the replica's size at Begin
  uint32_t physical_pages_ = 0;  // its size now, within the transaction
  bool txn_snapshot_ = false;
  // The checksum of each page as the open transaction (or, outside one, the
  // committed state) holds it, by pgno ([0] unused). Page 1's is unused: the
  // source's page 1 is pending_.page1.
  std::vector<ltx::Checksum> page_sums_ = std::vector<ltx::Checksum>(1);
  // What the open transaction overwrote in page_sums_ below committed_'s
  // page count, in order, for Rollback.
  std::vector<std::pair<uint32_t, ltx::Checksum>> sums_undo_;
  uint32_t data_version_ = 0;
  uint32_t wal_frames_ = 0;  // reported by the WAL hook after each commit
  uint64_t pages_written_ = 0;
  std::chrono::steady_clock::time_point last_truncate_{};
  // Set by Verify, consumed by Apply.
  bool verified_ = false;
  ltx::Header verified_header_;
  ltx::Checksum verified_post_ = 0;
  // The XOR of the verified frame's page checksums: a frame decoded again by
  // Apply must give the same pages.
  ltx::Checksum verified_pages_ = 0;
  // The verified frame's pages, their pgnos and checksums, when they fit in
  // decoded_frame_bytes (decoded_whole_); the buffers are reused.
  bool decoded_whole_ = false;
  std::vector<uint8_t> decoded_pages_;
  std::vector<uint32_t> decoded_pgnos_;
  std::vector<ltx::Checksum> decoded_sums_;
  std::vector<uint8_t> scratch_;  // one page, for frames decoded twice
};

}  // namespace ltxbus::consumer
