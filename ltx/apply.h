// Applies LTX files to a plain database file by writing pages in place and
// truncating to Commit, as superfly/ltx's `ltx apply` does. For offline files
// only (tests, debugging, restore output): nothing may have the database open,
// and a non-empty `-wal` beside it is refused. Live replicas are written
// through SQLite instead (consumer/).
//
// Each file is verified completely before its first page is written, so a bad
// file leaves the database untouched. The database checksum is tracked
// incrementally and checked against files that carry checksums.
#pragma once

#include <memory>
#include <string>

#include "base/env.h"
#include "ltx/ltx.h"

namespace ltxbus::ltx {

class DatabaseFileApplier {
 public:
  // Opens (creating if absent) the database at `path`.
  static Result<std::unique_ptr<DatabaseFileApplier>> Open(Env* env, const std::string& path);

  // Verifies then applies the LTX file at `ltx_path`. It must continue the
  // files applied before it through this applier (contiguous TXIDs, checksum
  // chain); the first must be a snapshot unless the database already exists.
  Status ApplyFile(const std::string& ltx_path);
  // fsyncs the database.
  Status Sync();

  TXID txid() const { return txid_; }
  uint32_t page_count() const { return page_count_; }
  uint32_t page_size() const { return page_size_; }
  // The database checksum as it is now (computed on first use).
  Result<Checksum> DatabaseChecksumNow();

 private:
  DatabaseFileApplier(Env* env, std::string path, std::unique_ptr<DataFile> file);
  Status LoadExisting();

  Env* env_;
  std::string path_;
  std::unique_ptr<DataFile> file_;
  uint32_t page_size_ = 0;  // 0 while the database is empty
  uint32_t page_count_ = 0;
  TXID txid_ = 0;  // of the last file applied here; 0 if none
  bool have_prev_ = false;
  Header prev_header_;
  Trailer prev_trailer_;
  bool checksum_known_ = false;
  Checksum checksum_ = 0;
};

}  // namespace ltxbus::ltx
