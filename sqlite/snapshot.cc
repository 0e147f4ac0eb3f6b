#include "sqlite/snapshot.h"

#include "ltx/checksum.h"
#include "sqlite/database.h"

namespace ltxbus::sqlite {

Result<ltx::Header> EncodeSnapshot(const std::string& db_path, WritableFile* out,
                                   const SnapshotOptions& options) {
  if (!Env::Default()->FileExists(db_path))
    return Status::NotFound("{}: no such database", db_path);
  LTXBUS_ASSIGN_OR_RETURN(Database db, Database::Open(db_path, Database::Mode::kReadOnly));
  // One read transaction: page_count and every page come from the same commit.
  LTXBUS_RETURN_IF_ERROR(db.Exec("BEGIN"));
  LTXBUS_ASSIGN_OR_RETURN(int64_t page_size, db.QueryInt64("PRAGMA page_size"));
  LTXBUS_ASSIGN_OR_RETURN(int64_t page_count, db.QueryInt64("PRAGMA page_count"));
  if (page_count == 0) return Status::InvalidArgument("{} is empty; nothing to snapshot", db_path);
  ltx::Header h;
  h.flags = options.checksums ? 0 : ltx::kHeaderFlagNoChecksum;
  h.page_size = static_cast<uint32_t>(page_size);
  h.commit = static_cast<uint32_t>(page_count);
  h.min_txid = 1;
  h.max_txid = options.txid;
  h.timestamp_ms =
      options.timestamp_ms != 0 ? options.timestamp_ms : Env::Default()->NowUnixMillis();
  ltx::Encoder enc(out, options.encoder);
  LTXBUS_RETURN_IF_ERROR(enc.EncodeHeader(h));
  ltx::DatabaseChecksum sum;
  const uint32_t lock = ltx::LockPgno(h.page_size);
  // Page by page rather than a table scan: the pager refuses to fetch the
  // lock page of a database larger than 1 GiB, so it must never be asked for.
  LTXBUS_ASSIGN_OR_RETURN(Statement st, db.Prepare("SELECT data FROM sqlite_dbpage WHERE pgno=?1"));
  for (uint32_t pgno = 1; pgno <= h.commit; pgno++) {
    if (pgno == lock) continue;
    LTXBUS_RETURN_IF_ERROR(st.BindInt64(1, pgno));
    LTXBUS_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return Status::Corruption("{}: page {} of {} is missing", db_path, pgno, h.commit);
    auto data = st.ColumnBlob(0);
    if (options.checksums) sum.Add(ltx::PageChecksum(pgno, data));
    LTXBUS_RETURN_IF_ERROR(enc.EncodePage(pgno, data).WithContext(db_path));
    LTXBUS_RETURN_IF_ERROR(st.Reset());
  }
  LTXBUS_RETURN_IF_ERROR(db.Exec("COMMIT"));
  LTXBUS_RETURN_IF_ERROR(enc.Finish(options.checksums ? sum.Value() : 0));
  return h;
}

}  // namespace ltxbus::sqlite
