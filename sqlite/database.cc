#include "sqlite/database.h"

#include <sqlite3.h>

#include <utility>

namespace ltxbus::sqlite {
namespace {

Status StatusFrom(sqlite3* db, int rc, std::string_view what) {
  const char* msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      // Transient: another connection holds the lock. Not kConflict, which
      // means fenced or a failed precondition and stops a producer.
      return Status::Unavailable("{}: {}", what, msg);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corruption("{}: {}", what, msg);
    case SQLITE_CANTOPEN:
      return Status::NotFound("{}: {}", what, msg);
    case SQLITE_IOERR:
    case SQLITE_FULL:
      return Status::IOError("{}: {}", what, msg);
    default:
      return Status::InvalidArgument("{}: {}", what, msg);
  }
}

}  // namespace

Statement::Statement(Statement&& o) noexcept : db_(o.db_), stmt_(std::exchange(o.stmt_, nullptr)) {}
Statement& Statement::operator=(Statement&& o) noexcept {
  if (this != &o) {
    sqlite3_finalize(stmt_);
    db_ = o.db_;
    stmt_ = std::exchange(o.stmt_, nullptr);
  }
  return *this;
}
Statement::~Statement() { sqlite3_finalize(stmt_); }

Status Statement::BindInt64(int index, int64_t v) {
  int rc = sqlite3_bind_int64(stmt_, index, v);
  return rc == SQLITE_OK ? Status::OK() : StatusFrom(db_, rc, "bind");
}
Status Statement::BindBlob(int index, std::span<const uint8_t> v) {
  int rc = sqlite3_bind_blob64(stmt_, index, v.data(), v.size(), SQLITE_TRANSIENT);
  return rc == SQLITE_OK ? Status::OK() : StatusFrom(db_, rc, "bind");
}
Status Statement::BindBlobRef(int index, std::span<const uint8_t> v) {
  int rc = sqlite3_bind_blob64(stmt_, index, v.data(), v.size(), SQLITE_STATIC);
  return rc == SQLITE_OK ? Status::OK() : StatusFrom(db_, rc, "bind");
}
Status Statement::BindText(int index, std::string_view v) {
  int rc = sqlite3_bind_text64(stmt_, index, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return rc == SQLITE_OK ? Status::OK() : StatusFrom(db_, rc, "bind");
}
Status Statement::BindNull(int index) {
  int rc = sqlite3_bind_null(stmt_, index);
  return rc == SQLITE_OK ? Status::OK() : StatusFrom(db_, rc, "bind");
}
Result<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return StatusFrom(db_, rc, sqlite3_sql(stmt_));
}
Status Statement::Reset() {
  sqlite3_clear_bindings(stmt_);
  int rc = sqlite3_reset(stmt_);
  return rc == SQLITE_OK ? Status::OK() : StatusFrom(db_, rc, "reset");
}
int64_t Statement::ColumnInt64(int col) const { return sqlite3_column_int64(stmt_, col); }
std::span<const uint8_t> Statement::ColumnBlob(int col) const {
  const void* p = sqlite3_column_blob(stmt_, col);
  const int n = sqlite3_column_bytes(stmt_, col);
  return {static_cast<const uint8_t*>(p), static_cast<size_t>(n)};
}
std::string Statement::ColumnText(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_, col);
  return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p));
}

Result<Database> Database::Open(const std::string& path, Mode mode) {
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI;
  flags |= mode == Mode::kReadOnly    ? SQLITE_OPEN_READONLY
           : mode == Mode::kReadWrite ? SQLITE_OPEN_READWRITE
                                      : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    Status s = StatusFrom(db, rc, "open " + path);
    sqlite3_close_v2(db);
    return s;
  }
  sqlite3_extended_result_codes(db, 1);
  return Database(db);
}

Database::Database(Database&& o) noexcept : db_(std::exchange(o.db_, nullptr)) {}
Database& Database::operator=(Database&& o) noexcept {
  if (this != &o) {
    sqlite3_close_v2(db_);
    db_ = std::exchange(o.db_, nullptr);
  }
  return *this;
}
Database::~Database() { sqlite3_close_v2(db_); }

Status Database::Error(std::string_view what) const {
  return StatusFrom(db_, sqlite3_errcode(db_), what);
}

Status Database::Exec(std::string_view sql) {
  std::string s(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
  sqlite3_free(err);
  return rc == SQLITE_OK ? Status::OK() : StatusFrom(db_, rc, sql);
}

Result<Statement> Database::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return StatusFrom(db_, rc, sql);
  return Statement(db_, stmt);
}

Result<int64_t> Database::QueryInt64(std::string_view sql) {
  LTXBUS_ASSIGN_OR_RETURN(Statement st, Prepare(sql));
  LTXBUS_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::NotFound("no row from: {}", sql);
  return st.ColumnInt64(0);
}

Result<std::string> Database::QueryText(std::string_view sql) {
  LTXBUS_ASSIGN_OR_RETURN(Statement st, Prepare(sql));
  LTXBUS_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::NotFound("no row from: {}", sql);
  return st.ColumnText(0);
}

std::string_view Database::LibraryVersion() { return sqlite3_libversion(); }

}  // namespace ltxbus::sqlite
