// Which table each page of a database belongs to, so that a consumer can say
// which tables a transaction touched from its page numbers alone (a cache
// invalidator, `ltxbus tail -format json -replica`).
//
// The map is read from a copy of the database (a replica or a rebuild)
// through SQLite's dbstat virtual table, in one read transaction: every page
// of every b-tree (interior, leaf and overflow pages) is attributed to the
// table the b-tree stores; an index's pages go to its table; sqlite_schema's
// pages (page 1 among them) to "sqlite_schema". Free-list and pointer-map
// pages, and pages past the end of the copy, belong to no table.
//
// Pages change owner only when SQLite allocates or frees them, which always
// rewrites page 1 (the free-list count or the database size in the header);
// so a map stays right for the copy until a transaction that includes page 1
// is applied to it (StaleAfter()).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace ltxbus::consumer {

class TableMap {
 public:
  // Reads the layout of the database at `path`, opened read-only (a WAL
  // beside it is read, not checkpointed). `immutable`: the file is an
  // offline copy nobody writes while it is read (a rebuild or shadow copy);
  // SQLite then takes no locks and creates no -wal or -shm file beside it.
  static Result<TableMap> Load(const std::string& path, bool immutable = false);

  // The table that owns page `pgno`; empty if none.
  std::string_view TableOf(uint32_t pgno) const;
  // The distinct tables that own any of `pgnos`, sorted.
  std::vector<std::string> TablesOf(std::span<const uint32_t> pgnos) const;
  // Whether applying a transaction with these pages may move pages between
  // tables, so the map must be loaded again after it.
  static bool StaleAfter(std::span<const uint32_t> pgnos);

  uint32_t page_count() const { return static_cast<uint32_t>(owner_.size()); }
  // SQLite's schema cookie (PRAGMA schema_version): it changes with every
  // schema change.
  uint32_t schema_version() const { return schema_version_; }
  // Every table name, sorted (sqlite_schema included).
  const std::vector<std::string>& tables() const { return names_; }

 private:
  std::vector<uint32_t> owner_;  // owner_[pgno - 1]: 1 + index into names_, 0 for none
  std::vector<std::string> names_;
  uint32_t schema_version_ = 0;
};

}  // namespace ltxbus::consumer
