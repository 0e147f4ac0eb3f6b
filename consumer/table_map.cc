#include "consumer/table_map.h"

#include <algorithm>
#include <map>

#include "sqlite/database.h"

namespace ltxbus::consumer {

namespace {

// A file: URI for `path` (ltxbus opens databases with SQLITE_OPEN_URI).
std::string FileUri(const std::string& path, std::string_view query) {
  std::string uri = "file:";
  for (char c : path) {
    if (c == '?' || c == '#' || c == '%') {
      uri += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    } else {
      uri += c;
    }
  }
  return uri + "?" + std::string(query);
}

}  // namespace

Result<TableMap> TableMap::Load(const std::string& path, bool immutable) {
  auto fail = [&](const Status& s) { return s.WithContext("mapping the pages of " + path); };
  auto db = sqlite::Database::Open(immutable ? FileUri(path, "immutable=1") : path,
                                   sqlite::Database::Mode::kReadOnly);
  if (!db.ok()) return fail(db.status());
  // One read transaction, so the page count, the schema and dbstat agree.
  if (Status s = db->Exec("BEGIN"); !s.ok()) return fail(s);
  TableMap map;
  auto count = db->QueryInt64("PRAGMA page_count");
  if (!count.ok()) return fail(count.status());
  auto version = db->QueryInt64("PRAGMA schema_version");
  if (!version.ok()) return fail(version.status());
  map.owner_.assign(static_cast<size_t>(*count), 0);
  map.schema_version_ = static_cast<uint32_t>(*version);
  // Index b-trees are attributed to their table (sqlite_schema.tbl_name);
  // dbstat names sqlite_schema's own b-tree "sqlite_schema".
  auto st = db->Prepare(
      "SELECT s.pageno, coalesce(m.tbl_name, s.name) FROM dbstat AS s "
      "LEFT JOIN sqlite_schema AS m ON m.name = s.name");
  if (!st.ok()) return fail(st.status());
  std::map<std::string, uint32_t> ids;
  std::vector<std::pair<uint32_t, std::string>> rows;
  for (;;) {
    auto row = st->Step();
    if (!row.ok()) return fail(row.status());
    if (!*row) break;
    const int64_t pgno = st->ColumnInt64(0);
    if (pgno < 1 || pgno > *count) continue;
    rows.emplace_back(static_cast<uint32_t>(pgno), st->ColumnText(1));
    ids.emplace(rows.back().second, 0);
  }
  for (auto& [name, id] : ids) {
    map.names_.push_back(name);
    id = static_cast<uint32_t>(map.names_.size());
  }
  for (const auto& [pgno, name] : rows) map.owner_[pgno - 1] = ids[name];
  return map;
}

std::string_view TableMap::TableOf(uint32_t pgno) const {
  if (pgno == 0 || pgno > owner_.size() || owner_[pgno - 1] == 0) return {};
  return names_[owner_[pgno - 1] - 1];
}

std::vector<std::string> TableMap::TablesOf(std::span<const uint32_t> pgnos) const {
  std::vector<bool> seen(names_.size(), false);
  for (uint32_t pgno : pgnos) {
    if (pgno == 0 || pgno > owner_.size() || owner_[pgno - 1] == 0) continue;
    seen[owner_[pgno - 1] - 1] = true;
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < names_.size(); i++) {
    if (seen[i]) out.push_back(names_[i]);  // names_ is sorted
  }
  return out;
}

bool TableMap::StaleAfter(std::span<const uint32_t> pgnos) {
  return std::find(pgnos.begin(), pgnos.end(), 1u) != pgnos.end();
}

}  // namespace ltxbus::consumer
