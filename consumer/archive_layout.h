// Litestream v0.5's archive layout (docs/archive.md, reference ltx-format.md
// §8): where an LTX file of a level lives in each kind of object store, how
// an archive is listed, and Litestream's restore plan (§8.7), which both
// `ltxbus restore` and `litestream restore` follow, so either restores the
// other's archives the same way.
//
// Keys are relative to the store's root (which carries the replica path):
//   s3            %04x(level)/<min>-<max>.ltx     e.g. 0009/0000000000000001-00000000000000c8.ltx
//   file, nats    ltx/<level>/<min>-<max>.ltx     e.g. ltx/9/0000000000000001-00000000000000c8.ltx
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "ltx/ltx.h"
#include "store/object_store.h"

namespace ltxbus::consumer {

// Level 9 holds full database images (MinTXID 1); levels 1..8 compactions.
inline constexpr int kSnapshotLevel = 9;
inline constexpr int kMaxLevel = 9;

struct ArchiveFile {
  int level = 0;
  ltx::TXID min_txid = 0;
  ltx::TXID max_txid = 0;
  std::string key;           // relative to the store's root
  int64_t timestamp_ms = 0;  // Litestream's CreatedAt: the header Timestamp, 0 if unknown
  uint64_t size = 0;
  // The database checksum after the file is applied; 0 if unknown (the
  // files themselves are NoChecksum, so only our manifest knows it).
  ltx::Checksum post_apply_checksum = 0;

  // "L1 0000000000000004-0000000000000007"
  std::string Describe() const;
  bool SameRange(const ArchiveFile& o) const {
    return level == o.level && min_txid == o.min_txid && max_txid == o.max_txid;
  }
};

// Sorts by (level, MinTXID, MaxTXID), Litestream's file-backend order.
void SortArchiveFiles(std::vector<ArchiveFile>* files);
std::vector<ArchiveFile> FilesAtLevel(const std::vector<ArchiveFile>& files, int level);
// "L9 …-…, L1 …-…, L0 …-…", eliding the middle of long lists.
std::string Summarize(const std::vector<ArchiveFile>& files);

class ArchiveLayout {
 public:
  // `store_kind` is ObjectStore::kind(): "s3", "file" or "nats".
  explicit ArchiveLayout(std::string_view store_kind);
  static ArchiveLayout For(const store::ObjectStore& store) { return ArchiveLayout(store.kind()); }

  // The listing prefix of a level, ending in '/'.
  std::string LevelPrefix(int level) const;
  std::string Key(int level, ltx::TXID min_txid, ltx::TXID max_txid) const;
  // The level and TXIDs a key names; nullopt for anything else (Litestream
  // ignores such keys, e.g. our manifest, and so do we).
  std::optional<ArchiveFile> ParseKey(std::string_view key) const;
  bool s3() const { return s3_; }

 private:
  bool s3_;
};

// Sets f->timestamp_ms to the file's CreatedAt as Litestream reads it: the
// litestream-timestamp metadata (a HEAD) where there is any; a file listed
// from a `file://` store has it already (its mtime).
Status ReadCreatedAt(store::ObjectStore& store, ArchiveFile* f);
// The LTX files of one level (one LIST), sorted, starting after `after_txid`
// if given (files whose MinTXID is greater); with `timestamps`, each file's
// ReadCreatedAt (else the store's time).
Result<std::vector<ArchiveFile>> ListLevel(store::ObjectStore& store, const ArchiveLayout& layout,
                                           int level, bool timestamps, ltx::TXID after_txid = 0);
// Every LTX file in the archive (one LIST per level), sorted.
Result<std::vector<ArchiveFile>> ListArchive(store::ObjectStore& store, const ArchiveLayout& layout,
                                             bool timestamps);

// What a restore rebuilds: the newest state, the state after a TXID, or the
// state as of a time (files created strictly before it, as Litestream does).
struct RestoreTarget {
  std::optional<ltx::TXID> txid;
  std::optional<int64_t> timestamp_ms;
  std::string Describe() const;
};

// Litestream's restore plan (ltx-format.md §8.7, v0.5.8+): the newest
// level-9 snapshot that passes the target's filter (if `use_snapshot`), then,
// repeatedly, the file over levels 8..0 that starts at or before cur+1 and
// reaches furthest (ties: smaller MinTXID, then higher level, then earlier
// creation). Fails where Litestream fails: nothing chosen (NotFound), a gap
// in a latest restore (Corruption), or a TXID no chain ends at (NotFound).
Result<std::vector<ArchiveFile>> PlanRestore(const std::vector<ArchiveFile>& files,
                                             const RestoreTarget& target, bool use_snapshot = true);

}  // namespace ltxbus::consumer
