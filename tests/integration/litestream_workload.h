// What the Litestream interop tests write to their databases, and the
// Litestream configuration they run with. Writes go through the system
// SQLite (python3's sqlite3 module, the sqlite3 CLI), as a real application's
// would, never through ltxbus's private SQLite.
#pragma once

#include <string>
#include <vector>

namespace ltxbus::testing {

// Creates the replicated database in WAL mode with its tables (sqlite3 CLI SQL).
std::string WalSchemaSql();

// A python3 program: `python3 writer.py DB SECONDS` runs small transactions on
// DB for SECONDS: inserts with rows larger than a page, updates, deletes, an
// index, a burst that grows the file, then DELETE + VACUUM to shrink it, then
// more small writes. Prints "ok <transactions> <pages>" on success.
std::string WriterScript();

// `litestream replicate` configuration (v0.5.16 keys): one L1 level every 3 s,
// snapshots every 8 s, L0 uploads every 200 ms, L0 kept for an hour.
std::string ReplicateConfig(const std::string& db_path, const std::string& replica_dir);

// Log lines Litestream prints when it took the configuration above (it
// ignores unknown keys, so this is how a test knows the keys were read).
std::vector<std::string> ReplicateConfigEvidence();

// SQL for the sqlite3 CLI, one script per transaction of the hand-built
// archive (index i = TXID i+1): a rollback-journal database that grows
// (TXIDs 5 and 8) and shrinks with VACUUM (TXIDs 6 and 9).
std::vector<std::string> ArchiveTransactions();

}  // namespace ltxbus::testing
