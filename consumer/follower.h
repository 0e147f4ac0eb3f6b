// Follows one database's stream into a live read replica (docs/follower.md).
//
// Every frame is verified before it is applied: it must be for this database,
// decode completely, continue the replica's TXID, and its pre-apply checksum
// must equal the replica's; the post-apply checksum is recomputed from the
// replica's pages. A frame that fails is not applied and is logged with why;
// the follower then resyncs: it keeps reading and applies either the frame
// that does continue the replica (the bad one was stray) or the next
// snapshot (the stream really broke). A replica is never written with a frame
// that does not continue it.
//
// Source transactions are applied as one replica transaction each, or, when
// the follower is behind, up to `max_batch` of them per replica transaction,
// never splitting one. The position (TXID, checksum, bus offset) is stored
// beside the replica before each commit (replica_position.h), so a restart
// resumes exactly, whether it crashed before or after the commit.
//
// Not thread-safe: one thread drives one Follower.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "base/env.h"
#include "bus/assembler.h"
#include "bus/bus.h"
#include "consumer/follower_archive.h"
#include "consumer/follower_lag.h"
#include "consumer/replica.h"
#include "consumer/replica_position.h"
#include "consumer/snapshot_scan.h"

namespace ltxbus::consumer {

struct FollowerOptions {
  std::string database;  // the database's name on the bus
  std::string bus_url;   // for messages
  ReplicaOptions replica;
  // Source transactions per replica commit when frames are waiting.
  int max_batch = 256;
  // With nothing to apply for this long, TRUNCATE the replica's WAL.
  std::chrono::milliseconds idle_checkpoint{2000};
  // How long the bootstrap scan waits for more of the stream.
  std::chrono::milliseconds scan_quiet{2000};
  size_t frame_memory = 8 << 20;  // bigger frames are spooled to a temporary file
  // An archive of the database (`ltxbus archive`'s URL) to bootstrap from
  // when the replica is empty or the stream no longer holds what it needs
  // (follower_archive.h); empty: the stream's snapshots only.
  std::string archive_url;
  // How long each probe of the stream waits when locating a TXID.
  std::chrono::milliseconds locate_timeout{5000};
};

struct FollowerStats {
  ltx::TXID txid = 0;        // applied and committed
  uint64_t offset = 0;       // bus offset of the last chunk applied
  int64_t timestamp_ms = 0;  // LTX timestamp of the newest frame applied
  uint64_t frames = 0;       // frames applied by this Follower
  uint64_t pages = 0;        // pages those frames wrote
  uint64_t commits = 0;      // replica transactions
  uint64_t snapshots = 0;    // snapshot frames applied
  uint64_t rejected = 0;     // frames refused (corrupt, foreign, gap, mismatch)
  uint64_t duplicates = 0;   // frames already applied, skipped
  bool resyncing = false;    // a frame was refused and the stream has not continued yet
  // The head of the stream, for lag. Read at an interval by FollowerGroup
  // (follower_lag.h), not by the Follower: a Follower's stats leave it unknown.
  StreamHead head;
  Lag lag(int64_t now_ms) const { return ComputeLag(txid, timestamp_ms, head, now_ms); }
};

class Follower {
 public:
  // Loads the position and opens the replica (if it exists), proving it holds
  // exactly the state the position says. Refuses, with InvalidArgument, a
  // replica that is not in WAL mode, that ltxbus did not create, or that
  // another program wrote. With options.archive_url, `bus` (the bus
  // `subscribe` reads) is needed too, to locate TXIDs on the stream.
  static Result<std::unique_ptr<Follower>> Open(Env* env, const FollowerOptions& options,
                                                SubscribeFn subscribe, bus::Bus* bus = nullptr);
  ~Follower();
  Follower(const Follower&) = delete;
  Follower& operator=(const Follower&) = delete;

  // Waits up to `wait` for the next frame, then applies it and whatever else
  // has arrived (batched). Returns the number of frames applied. An error
  // leaves the replica at its last commit; the next Poll resubscribes from it.
  // Conflict: another program wrote the replica; stop following it.
  Result<int> Poll(std::chrono::milliseconds wait);

  // The position file names the last commit as `pending` until the next
  // batch rewrites it (one write per batch, before the commit). This rewrites
  // it with that commit as `committed` and no `pending`, so readers of the
  // file (`ltxbus status`) see exactly where the replica is. Poll does it
  // when a wait for frames ends with none; FollowerGroup on stop.
  Status SettlePosition();

  const FollowerStats& stats() const { return stats_; }
  const FollowerOptions& options() const { return options_; }

 private:
  Follower(Env* env, FollowerOptions options, SubscribeFn subscribe, bus::Bus* bus);
  Status Load();
  std::unique_ptr<bus::FrameAssembler> NewAssembler() const;
  Status Subscribe();
  // Bootstraps from the archive and subscribes after it, if the replica
  // needs it and the archive can (follower_archive.h); false otherwise.
  Result<bool> TryArchive();
  Status BootstrapFromArchive(const ArchiveBootstrapPlan& plan);
  // A snapshot at or below the replica's TXID that is not the replica's
  // state, published after what the replica applied: the chain was reset.
  bool IsReset(const bus::Frame& frame, const ltx::Header& header) const;
  Result<std::optional<bus::Frame>> NextFrame(std::chrono::milliseconds wait);
  enum class Decision { kApply, kSkip, kReject };
  Decision Classify(const bus::Frame& frame, const ltx::Header& header, std::string* why);
  void Reject(const bus::Frame& frame, const std::string& why);
  // Verifies and applies `frame` in the open transaction; false if rejected.
  Result<bool> ApplyFrame(const bus::Frame& frame, const ltx::Header& header);
  Status CommitBatch();
  Status StorePosition();
  void LogWaiting();

  Env* env_;
  FollowerOptions options_;
  SubscribeFn subscribe_;
  bus::Bus* bus_;                                // for the stream locator
  std::unique_ptr<store::ObjectStore> archive_;  // nullptr: no archive
  std::string position_path_;
  std::optional<ReplicaPositionStore> position_store_;
  ReplicaPositionFile position_;
  std::unique_ptr<Replica> replica_;
  std::unique_ptr<bus::Subscriber> sub_;
  std::unique_ptr<bus::FrameAssembler> assembler_;
  std::optional<bus::Frame> lookahead_;
  uint64_t batch_offset_ = 0;  // last offset in the open transaction
  bool batch_snapshot_ = false;
  FollowerStats stats_;
  std::chrono::steady_clock::time_point last_activity_;
  std::chrono::steady_clock::time_point last_waiting_log_;
  bool idle_checkpointed_ = true;
  bool position_settled_ = true;  // the file holds no `pending` record
};

}  // namespace ltxbus::consumer
