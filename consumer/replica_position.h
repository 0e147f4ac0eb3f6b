// Where a follower's replica stands in its database's stream, kept in a small
// sidecar file beside the replica ("<replica>.ltxbus-position"), outside the
// replica's pages.
//
// The file is written durably *before* each replica commit and holds two
// records: `committed` (the state the replica is in when the batch starts)
// and `pending` (the state the batch being committed leads to). After a crash
// the replica is in exactly one of those two states, because a replica commit
// is atomic; the follower tells which by checksumming the replica
// (docs/follower.md, "Position and crashes"). One synced write per batch
// thus keeps the position durable with the replica, with nothing to write
// after the commit.
//
// The file is text in two fixed-size slots (each with a sequence number and
// a CRC-64), so a running follower rewrites one slot in place with one
// fdatasync (ReplicaPositionStore) rather than a temporary file, fsync,
// rename and directory fsync: a write torn by a crash leaves the other slot,
// the previous record, intact, and a load takes the intact slot with the
// higher sequence. Files of the older one-record format still load.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/env.h"
#include "ltx/ltx.h"

namespace ltxbus::consumer {

// Page-1 bytes SQLite rewrites on every commit that touches page 1: the file
// change counter (24-27), version-valid-for (92-95) and SQLITE_VERSION_NUMBER
// (96-99). The replica's copies differ from the source's, so a position keeps
// the source's, to recompute the source's checksum from the replica.
using Page1Tail = std::array<uint8_t, 12>;
Page1Tail TakePage1Tail(std::span<const uint8_t> page1);
void PutPage1Tail(const Page1Tail& tail, std::span<uint8_t> page1);

// The source state a replica holds after applying the stream up to `txid`.
struct ReplicaPosition {
  ltx::TXID txid = 0;
  ltx::Checksum checksum = 0;  // the source's database checksum after `txid`
  uint64_t offset = 0;         // bus offset of the last chunk of the frame ending at `txid`
  int64_t timestamp_ms = 0;    // that frame's LTX timestamp (commit time on the source)
  Page1Tail page1_tail{};      // the source's page-1 bytes 24-27 and 92-99 after `txid`
  bool operator==(const ReplicaPosition&) const = default;
};

struct ReplicaPositionFile {
  std::string database;  // the database's name on the bus
  // Empty while nothing is applied yet (the replica is created, not bootstrapped).
  std::optional<ReplicaPosition> committed;
  std::optional<ReplicaPosition> pending;
  bool operator==(const ReplicaPositionFile&) const = default;
};

// The sidecar's path for a replica.
std::string ReplicaPositionPath(const std::string& replica_path);

// The whole file with `file` in slot 0 (sequence 1) and slot 1 empty.
// InvalidArgument if the record does not fit a slot (a very long name).
Result<std::string> FormatReplicaPositionFile(const ReplicaPositionFile& file);
// Corruption naming the line (or saying no slot is intact) on malformed input.
Result<ReplicaPositionFile> ParseReplicaPositionFile(std::string_view text);

// NotFound if the file does not exist.
Result<ReplicaPositionFile> LoadReplicaPositionFile(Env* env, const std::string& path);
// Atomic and durable (temporary file, fsync, rename, directory fsync).
Status StoreReplicaPositionFile(Env* env, const std::string& path, const ReplicaPositionFile& file);

// Rewrites one replica's position file, durably, once per replica batch.
// The first Store writes the whole file atomically (StoreReplicaPositionFile);
// each later one writes the slot not holding the newest record, in place,
// and fdatasyncs it. Only one writer per file (the follower holding the
// replica).
class ReplicaPositionStore {
 public:
  ReplicaPositionStore(Env* env, std::string path);
  Status Store(const ReplicaPositionFile& file);

 private:
  Env* env_;
  std::string path_;
  std::unique_ptr<DataFile> file_;  // open after the first Store
  uint64_t sequence_ = 0;           // of the newest record written
  int newest_slot_ = 0;
};

}  // namespace ltxbus::consumer
