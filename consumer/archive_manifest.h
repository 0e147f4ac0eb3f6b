// ltxbus's own index of an archive (docs/archive.md): one JSON object at
// kManifestKey, outside Litestream's `ltx/` and `%04x/` prefixes so Litestream
// never sees it. It lists every file per level with its TXIDs, timestamp,
// size and post-apply database checksum, so the archiver needs no LIST in
// steady state, a restore one (UnnamedL0Tail), and a restore can check the
// database it built against the checksum the stream carried.
//
// The manifest is also the archive's lease: it names the archiver that owns
// the archive and until when. Every write is conditional (create-only, or
// compare-and-swap on the etag read or last written), so an archiver whose
// lease was taken over fails its next write with Conflict and stops: the
// manifest is the commit point of every change to the archive.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "consumer/archive_layout.h"
#include "store/object_store.h"

namespace ltxbus::consumer {

inline constexpr const char* kManifestKey = "ltxbus/manifest.json";

struct Manifest {
  std::string database;          // the database's name on the bus
  std::string owner;             // the archiver holding the lease ("host/pid/start-ms")
  int64_t lease_expires_ms = 0;  // 0: released
  // Where the newest archived transaction sits on the bus ("TXID:FIRST:LAST",
  // consumer::Position), so a restarted archiver resumes right after it.
  std::string position;
  // When each level last ran its compaction (level 9: the last snapshot).
  std::map<int, int64_t> compacted_ms;
  std::vector<ArchiveFile> files;  // sorted (level, MinTXID, MaxTXID)

  // The newest TXID in the archive, and the database checksum then (0 if unknown).
  ltx::TXID last_txid() const;
  ltx::Checksum last_checksum() const;

  std::string Encode() const;
  // Keys are derived from `layout`, so a manifest cannot point elsewhere.
  static Result<Manifest> Decode(std::string_view json, const ArchiveLayout& layout);
};

struct StoredManifest {
  Manifest manifest;
  std::string etag;
};

// The archive's manifest, or nullopt if it has none.
Result<std::optional<StoredManifest>> LoadManifest(store::ObjectStore& store,
                                                   const ArchiveLayout& layout);
// Writes `manifest`: create-only when `if_match` is empty, otherwise only
// over that etag (Conflict if someone else wrote it since). Returns the new etag.
Result<std::string> StoreManifest(store::ObjectStore& store, const Manifest& manifest,
                                  const std::string& if_match);

// The level-0 files written after the manifest's newest TXID (`after_txid`)
// that continue it without a gap: the archiver uploads each L0 file at once
// but names it in the manifest only at its next manifest write (a compaction,
// retention or the lease renewal, every lease-ttl/3), so these hold the
// newest seconds of the archive. One LIST; with `timestamps`, a HEAD per file
// (S3, NATS). Their post-apply checksums are unknown (0): the files are
// NoChecksum and only the manifest records the stream's.
Result<std::vector<ArchiveFile>> UnnamedL0Tail(store::ObjectStore& store,
                                               const ArchiveLayout& layout, ltx::TXID after_txid,
                                               bool timestamps);

// The files a restore plans from: the manifest's list plus its unnamed L0
// tail when there is a manifest (one LIST, of level 0, whatever the archive's
// size), else a listing of every level (with timestamps read when
// `need_timestamps`).
Result<std::vector<ArchiveFile>> ArchiveFiles(store::ObjectStore& store,
                                              const ArchiveLayout& layout, bool need_timestamps,
                                              bool* from_manifest = nullptr);

}  // namespace ltxbus::consumer
