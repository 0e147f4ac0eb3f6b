// Reads database pages for tests that compare a rebuilt or restored database
// with its source, and describes where two page images differ.
//
// ReadSqlitePages asks ltxbus's private SQLite (sqlite_dbpage), so a live
// database is read as SQLite sees it now: committed WAL frames included. It
// links ltxbus::sqlite, so a test using it must not link the system
// libsqlite3.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "tests/support/ltx_builder.h"

namespace ltxbus::testing {

// Every page of the database at `path` (pgno -> bytes), as of one read
// transaction, through `SELECT pgno, data FROM sqlite_dbpage`. The database is
// opened read-only and never written; a WAL beside it is read, not
// checkpointed.
Result<Pages> ReadSqlitePages(const std::string& path);

// The pages of a database file as raw bytes, split by the page size in its
// header (bytes 16-17). For offline files (rebuilds, restores) where exactly
// what is on disk matters, trailing bytes included.
Result<Pages> ReadFilePages(const std::string& path);

struct PageCompareOptions {
  // Ignore page-1 bytes 24-27 (file change counter) and 92-99 (version-valid-
  // for and SQLITE_VERSION_NUMBER): SQLite rewrites them when it merely
  // touches a file, so they differ between copies with the same content.
  bool mask_header_counters = false;
  // How many differing pages to describe.
  size_t max_reported = 8;
};

// Empty if `want` and `got` hold the same page numbers with the same bytes;
// otherwise a description of what differs (page counts, missing or extra
// pages, and for each differing page its first differing byte).
std::string DiffPages(const Pages& want, const Pages& got, const PageCompareOptions& options = {});

}  // namespace ltxbus::testing
