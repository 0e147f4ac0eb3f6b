// The external commands the Litestream interop tests drive: the real
// `litestream` binary, the `ltxbus` CLI under test, and the system `sqlite3`.
// Each runs with a bounded time and reports failure with its output. They run
// through base/process.h, so none outlives its test.
#pragma once

#include "tests/support/testbed.h"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "base/process.h"
#include "base/status.h"
#include "ltx/ltx.h"
#include "tests/integration/litestream_archive.h"

namespace ltxbus::testing {

// Generous: the Asan build of ltxbus is several times slower.
inline constexpr std::chrono::seconds kCommandTimeout{60};

// The Litestream the tests were written against.
inline constexpr const char* kLitestreamVersion = "v0.5.16";

// The litestream that scripts/install-deps.sh installed (in
// ${LTXBUS_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/ltxbus}/bin, as
// scripts/lib.sh decides), once `litestream version` says kLitestreamVersion;
// otherwise an error that says how to install it.
Result<std::string> FindLitestream();

// The system sqlite3 CLI (/usr/bin/sqlite3 when present, else from PATH): the
// SQLite a real application would use, not ltxbus's private one.
std::string SystemSqlite3();

// Runs `argv` and fails unless it exits 0 within kCommandTimeout; returns its
// stdout (the failure message quotes stdout and stderr).
Result<std::string> RunOk(const std::vector<std::string>& argv);

// Starts `argv` (a daemon) with stdout and stderr appended to `log_path`, so
// that its log survives it and never fills a pipe nobody reads.
Result<Process> SpawnLogged(const std::vector<std::string>& argv, const std::string& log_path);

// `litestream restore -dry-run -json [-txid T] -o OUT file://REPLICA`: the
// files Litestream's own restore plan picks, in plan order, with paths under
// `replica_dir`.
Result<std::vector<ArchiveFile>> LitestreamRestorePlan(const std::string& litestream,
                                                       const std::string& replica_dir,
                                                       std::optional<ltx::TXID> txid,
                                                       const std::string& out_path);
// `litestream restore [-txid T] -o OUT file://REPLICA`.
Status LitestreamRestore(const std::string& litestream, const std::string& replica_dir,
                         std::optional<ltx::TXID> txid, const std::string& out_path);

// `litestream restore [-txid T] -o OUT URL` for any replica URL (s3://…?endpoint=…,
// file://…), with `env` added to its environment (e.g. AWS credentials).
Status LitestreamRestoreUrl(const std::string& litestream, const std::string& url,
                            std::optional<ltx::TXID> txid, const std::string& out_path,
                            const std::vector<std::pair<std::string, std::string>>& env = {});

// `ltxbus ltx apply --db DB FILES...` into a new database file.
Status LtxbusApply(const std::string& db, const std::vector<std::string>& files);
// `ltxbus ltx verify -q FILES...` (each file, then the chain in the given order).
Status LtxbusVerify(const std::vector<std::string>& files);

// `PRAGMA integrity_check` by the system sqlite3 on a copy of `db` made in
// `scratch_dir` (so opening it cannot change the file under test). Returns
// the output without its trailing newline: "ok" for a sound database.
Result<std::string> IntegrityCheck(const std::string& db, const std::string& scratch_dir);

}  // namespace ltxbus::testing
