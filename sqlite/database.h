// A small RAII layer over ltxbus's private SQLite (cmake/PrivateSQLite.cmake),
// reporting errors through Status. Used where ltxbus itself reads or writes a
// database: replicas (through sqlite_dbpage) and tests.
//
// A Database and its Statements belong to one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace ltxbus::sqlite {

class Statement {
 public:
  Statement(Statement&&) noexcept;
  Statement& operator=(Statement&&) noexcept;
  ~Statement();

  Status BindInt64(int index, int64_t v);
  Status BindBlob(int index, std::span<const uint8_t> v);  // copied
  // Not copied: `v` must stay valid until the statement is reset or the
  // parameter bound again (for page-sized blobs on a hot path).
  Status BindBlobRef(int index, std::span<const uint8_t> v);
  Status BindText(int index, std::string_view v);  // copied
  Status BindNull(int index);
  // Advances; true while a row is available.
  Result<bool> Step();
  Status Reset();
  int64_t ColumnInt64(int col) const;
  std::span<const uint8_t> ColumnBlob(int col) const;  // valid until the next Step
  std::string ColumnText(int col) const;

 private:
  friend class Database;
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

class Database {
 public:
  enum class Mode { kReadOnly, kReadWrite, kReadWriteCreate };
  static Result<Database> Open(const std::string& path, Mode mode);
  Database(Database&&) noexcept;
  Database& operator=(Database&&) noexcept;
  ~Database();

  Status Exec(std::string_view sql);
  Result<Statement> Prepare(std::string_view sql);
  // First column of the first row as an integer or text.
  Result<int64_t> QueryInt64(std::string_view sql);
  Result<std::string> QueryText(std::string_view sql);
  sqlite3* raw() { return db_; }

  // The library's version, e.g. "3.53.4".
  static std::string_view LibraryVersion();

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  Status Error(std::string_view what) const;
  sqlite3* db_;
};

}  // namespace ltxbus::sqlite
