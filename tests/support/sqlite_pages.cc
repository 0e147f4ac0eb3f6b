#include "tests/support/sqlite_pages.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "base/env.h"
#include "sqlite/database.h"

namespace ltxbus::testing {
namespace {

// Page 1 bytes SQLite rewrites without a content change (see the header).
bool IsMaskedHeaderByte(uint32_t pgno, size_t offset) {
  return pgno == 1 && ((offset >= 24 && offset < 28) || (offset >= 92 && offset < 100));
}

// The first offset at which `a` and `b` differ, or nullopt.
std::optional<size_t> FirstDifference(uint32_t pgno, const Page& a, const Page& b, bool mask) {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i] && !(mask && IsMaskedHeaderByte(pgno, i))) return i;
  }
  if (a.size() != b.size()) return n;
  return std::nullopt;
}

}  // namespace

Result<Pages> ReadSqlitePages(const std::string& path) {
  // mode=ro through a URI so SQLite never creates the database by mistake.
  LTXBUS_ASSIGN_OR_RETURN(
      sqlite::Database db,
      sqlite::Database::Open("file:" + path + "?mode=ro", sqlite::Database::Mode::kReadOnly));
  // One read transaction, so every page comes from the same commit.
  LTXBUS_RETURN_IF_ERROR(db.Exec("BEGIN"));
  Pages pages;
  {
    LTXBUS_ASSIGN_OR_RETURN(sqlite::Statement st,
                            db.Prepare("SELECT pgno, data FROM sqlite_dbpage ORDER BY pgno"));
    for (;;) {
      LTXBUS_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      std::span<const uint8_t> data = st.ColumnBlob(1);
      pages[static_cast<uint32_t>(st.ColumnInt64(0))].assign(data.begin(), data.end());
    }
  }
  LTXBUS_RETURN_IF_ERROR(db.Exec("COMMIT"));
  if (pages.empty()) return Status::NotFound("{}: sqlite_dbpage returned no pages", path);
  return pages;
}

Result<Pages> ReadFilePages(const std::string& path) {
  LTXBUS_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(Env::Default(), path));
  if (bytes.size() < 100) return Status::Corruption("{}: {} bytes, no header", path, bytes.size());
  // Bytes 16-17 hold the page size big-endian; the value 1 means 65536.
  uint32_t page_size = (static_cast<uint32_t>(static_cast<uint8_t>(bytes[16])) << 8) |
                       static_cast<uint8_t>(bytes[17]);
  if (page_size == 1) page_size = 65536;
  if (page_size < 512 || (page_size & (page_size - 1)) != 0) {
    return Status::Corruption("{}: bad page size {}", path, page_size);
  }
  if (bytes.size() % page_size != 0) {
    return Status::Corruption("{}: size {} is not a multiple of the page size {}", path,
                              bytes.size(), page_size);
  }
  Pages pages;
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  for (size_t off = 0; off < bytes.size(); off += page_size) {
    pages[static_cast<uint32_t>(off / page_size + 1)].assign(p + off, p + off + page_size);
  }
  return pages;
}

std::string DiffPages(const Pages& want, const Pages& got, const PageCompareOptions& options) {
  std::vector<std::string> lines;
  if (want.size() != got.size()) {
    lines.push_back(fmt::format("page count: want {}, got {}", want.size(), got.size()));
  }
  size_t reported = 0;
  auto report = [&](std::string line) {
    if (reported++ < options.max_reported) lines.push_back(std::move(line));
  };
  for (const auto& [pgno, page] : want) {
    auto it = got.find(pgno);
    if (it == got.end()) {
      report(fmt::format("page {}: missing", pgno));
      continue;
    }
    if (auto off = FirstDifference(pgno, page, it->second, options.mask_header_counters)) {
      report(fmt::format("page {}: differs at byte {} (want {:#04x}, got {:#04x}; sizes {}/{})",
                         pgno, *off, *off < page.size() ? page[*off] : 0,
                         *off < it->second.size() ? it->second[*off] : 0, page.size(),
                         it->second.size()));
    }
  }
  for (const auto& entry : got) {
    if (!want.contains(entry.first)) report(fmt::format("page {}: unexpected", entry.first));
  }
  if (reported > options.max_reported) {
    lines.push_back(fmt::format("... {} more", reported - options.max_reported));
  }
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

}  // namespace ltxbus::testing
