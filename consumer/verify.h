// `ltxbus verify SOURCE` (docs/archive.md): checks an archive offline and
// says what is wrong and where.
//
//  1. The manifest (if any) and the listing agree: every file the manifest
//     names exists with its size (objects the manifest does not name are
//     reported as notes: leftovers of a crash, harmless to restores).
//  2. Per level: files do not overlap, and TXIDs are contiguous; a gap is
//     allowed only where a level-9 snapshot restarts the chain.
//  3. Every file decodes and verifies (file checksum, page index, header
//     TXIDs equal to its name, one page size).
//  4. The L0 chain is replayed into a temporary database (from the restore
//     of the state before the oldest L0 file): after each file the database
//     checksum must equal the manifest's post-apply checksum (the stream's
//     checksum chain), and every file of levels 1..9 that ends inside the
//     replay must hold exactly the pages the replayed database has then
//     (levels consistent with L0).
//  5. A restore of the latest state into a temporary file passes
//     integrity_check.
#pragma once

#include <string>
#include <vector>

#include "base/env.h"
#include "base/status.h"
#include "consumer/archive_layout.h"
#include "store/object_store.h"

namespace ltxbus::consumer {

struct VerifyReport {
  std::vector<std::string> problems;  // each says what and where
  std::vector<std::string> notes;
  std::vector<ArchiveFile> files;
  bool from_manifest = false;
  ltx::TXID replayed_from = 0, replayed_to = 0;  // the L0 replay's range (0: none)
  ltx::TXID latest_txid = 0;
  bool ok() const { return problems.empty(); }
};

// Checks the archive in `store`; `scratch_dir` holds the temporary databases
// and files (removed afterwards). Errors are reserved for not being able to
// check (the store is unreachable); what is wrong with the archive goes in
// the report. `integrity_check` false skips step 5's PRAGMA (for archives of
// synthetic pages in unit tests).
Result<VerifyReport> VerifyArchive(Env* env, store::ObjectStore& store,
                                   const std::string& scratch_dir, bool integrity_check = true);

}  // namespace ltxbus::consumer
