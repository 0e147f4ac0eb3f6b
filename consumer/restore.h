// Point-in-time restore from an archive (`ltxbus restore`, docs/archive.md):
// plans the fewest files with Litestream's restore plan (from the manifest,
// without a LIST, when the archive has one), downloads them in parallel into
// temporary files, merges them through the LTX compactor and streams the
// merged pages straight into the output, so memory never depends on the
// database size. The output appears only complete: it is written to
// OUT.tmp, verified, fsynced and renamed.
//
// Verification: every file's checksum and structure (the decoder), the merged
// file is a whole database (MinTXID 1, every page), and, when the manifest
// knows it, the database checksum of the result equals the post-apply
// checksum the stream carried for the target TXID. Optionally
// `PRAGMA integrity_check`.
//
// Archives Litestream v0.5 wrote restore too (no manifest: a LIST per level,
// and a HEAD per file for timestamp targets, as Litestream does).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/env.h"
#include "base/status.h"
#include "consumer/archive_layout.h"
#include "store/object_store.h"

namespace ltxbus::consumer {

struct RestoreProgress {
  uint64_t downloaded_bytes = 0;
  uint64_t total_bytes = 0;  // 0 if unknown
  uint32_t pages_written = 0;
  uint32_t total_pages = 0;  // known once the merge began
};

struct RestoreOptions {
  std::string output;
  RestoreTarget target;
  int parallelism = 8;
  bool integrity_check = false;
  // Called now and then from the restoring thread.
  std::function<void(const RestoreProgress&)> progress;
};

struct RestoreResult {
  std::vector<ArchiveFile> plan;
  bool from_manifest = false;
  ltx::TXID txid = 0;
  uint32_t page_size = 0;
  uint32_t page_count = 0;
  ltx::Checksum checksum = 0;     // of the restored database
  bool checksum_checked = false;  // against the manifest's post-apply checksum
};

// The files a restore of `target` would use.
Result<std::vector<ArchiveFile>> PlanArchiveRestore(store::ObjectStore& store,
                                                    const RestoreTarget& target,
                                                    bool* from_manifest = nullptr);

// Restores into options.output (replacing it).
Result<RestoreResult> Restore(Env* env, store::ObjectStore& store, const RestoreOptions& options);

// Merges `plan` (downloaded from `store`) into the database file `path`
// (created or truncated; written in place, fsynced, not renamed).
Result<RestoreResult> RestorePlanTo(Env* env, store::ObjectStore& store,
                                    const std::vector<ArchiveFile>& plan, const std::string& path,
                                    const RestoreOptions& options);

// `PRAGMA integrity_check` on a database file nothing else uses: OK if "ok".
Status IntegrityCheck(const std::string& path);

}  // namespace ltxbus::consumer
