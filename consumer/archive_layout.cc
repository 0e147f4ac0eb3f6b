#include "consumer/archive_layout.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <tuple>

#include "store/time_format.h"

namespace ltxbus::consumer {

std::string ArchiveFile::Describe() const {
  return fmt::format("L{} {}-{}", level, ltx::FormatTXID(min_txid), ltx::FormatTXID(max_txid));
}

void SortArchiveFiles(std::vector<ArchiveFile>* files) {
  std::sort(files->begin(), files->end(), [](const ArchiveFile& a, const ArchiveFile& b) {
    return std::tie(a.level, a.min_txid, a.max_txid) < std::tie(b.level, b.min_txid, b.max_txid);
  });
}

std::vector<ArchiveFile> FilesAtLevel(const std::vector<ArchiveFile>& files, int level) {
  std::vector<ArchiveFile> out;
  for (const ArchiveFile& f : files) {
    if (f.level == level) out.push_back(f);
  }
  return out;
}

std::string Summarize(const std::vector<ArchiveFile>& files) {
  constexpr size_t kEnds = 4;  // files shown at each end of a long list
  std::string s = fmt::format("{} files: ", files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    if (files.size() > 2 * kEnds + 1 && i == kEnds) {
      s += "..., ";
      i = files.size() - kEnds - 1;
      continue;
    }
    s += files[i].Describe() + (i + 1 < files.size() ? ", " : "");
  }
  return s;
}

ArchiveLayout::ArchiveLayout(std::string_view store_kind) : s3_(store_kind == "s3") {}

std::string ArchiveLayout::LevelPrefix(int level) const {
  return s3_ ? fmt::format("{:04x}/", level) : fmt::format("ltx/{}/", level);
}

std::string ArchiveLayout::Key(int level, ltx::TXID min_txid, ltx::TXID max_txid) const {
  return LevelPrefix(level) + ltx::FormatFilename(min_txid, max_txid);
}

std::optional<ArchiveFile> ArchiveLayout::ParseKey(std::string_view key) const {
  const size_t slash = key.rfind('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto range = ltx::ParseFilename(key.substr(slash + 1));
  if (!range) return std::nullopt;
  for (int level = 0; level <= kMaxLevel; level++) {
    if (key.substr(0, slash + 1) == LevelPrefix(level)) {
      ArchiveFile f;
      f.level = level;
      f.min_txid = range->first;
      f.max_txid = range->second;
      f.key = std::string(key);
      return f;
    }
  }
  return std::nullopt;
}

Status ReadCreatedAt(store::ObjectStore& store, ArchiveFile* f) {
  // The file store's mtime is the timestamp already (a listing returns it);
  // elsewhere it is metadata that only a HEAD returns.
  if (store.kind() == "file") return Status::OK();
  LTXBUS_ASSIGN_OR_RETURN(store::ObjectInfo full, store.Stat(f->key));
  auto it = full.metadata.find(std::string(store::kTimestampMetadataKey));
  if (it != full.metadata.end()) {
    LTXBUS_ASSIGN_OR_RETURN(f->timestamp_ms, store::ParseTimestamp(it->second));
  }
  return Status::OK();
}

Result<std::vector<ArchiveFile>> ListLevel(store::ObjectStore& store, const ArchiveLayout& layout,
                                           int level, bool timestamps, ltx::TXID after_txid) {
  store::ListOptions options;
  // Keys print TXIDs in fixed-width hex, so key order is TXID order: this
  // key sorts after every file starting at or before `after_txid`.
  if (after_txid > 0) {
    options.start_after = layout.Key(level, after_txid, std::numeric_limits<ltx::TXID>::max());
  }
  LTXBUS_ASSIGN_OR_RETURN(std::vector<store::ObjectInfo> infos,
                          store.List(layout.LevelPrefix(level), options));
  std::vector<ArchiveFile> files;
  for (const store::ObjectInfo& info : infos) {
    std::optional<ArchiveFile> f = layout.ParseKey(info.key);
    if (!f || f->level != level || f->min_txid <= after_txid) continue;  // leftover or foreign
    f->size = info.size;
    f->timestamp_ms = info.last_modified_ms;
    if (timestamps) LTXBUS_RETURN_IF_ERROR(ReadCreatedAt(store, &*f));
    files.push_back(std::move(*f));
  }
  SortArchiveFiles(&files);
  return files;
}

Result<std::vector<ArchiveFile>> ListArchive(store::ObjectStore& store, const ArchiveLayout& layout,
                                             bool timestamps) {
  std::vector<ArchiveFile> files;
  for (int level = 0; level <= kMaxLevel; level++) {
    LTXBUS_ASSIGN_OR_RETURN(std::vector<ArchiveFile> at,
                            ListLevel(store, layout, level, timestamps));
    files.insert(files.end(), std::make_move_iterator(at.begin()),
                 std::make_move_iterator(at.end()));
  }
  SortArchiveFiles(&files);
  return files;
}

std::string RestoreTarget::Describe() const {
  if (txid) return fmt::format("TXID {}", ltx::FormatTXID(*txid));
  if (timestamp_ms) return fmt::format("time {}", store::FormatTimestamp(*timestamp_ms));
  return "the latest state";
}

Result<std::vector<ArchiveFile>> PlanRestore(const std::vector<ArchiveFile>& files,
                                             const RestoreTarget& target, bool use_snapshot) {
  auto allowed = [&](const ArchiveFile& f) {
    if (target.txid && f.max_txid > *target.txid) return false;
    if (target.timestamp_ms && f.timestamp_ms >= *target.timestamp_ms) return false;
    return true;
  };
  std::vector<ArchiveFile> plan;
  ltx::TXID cur = 0;
  if (use_snapshot) {
    // The last snapshot in list order that passes the filter.
    const ArchiveFile* snapshot = nullptr;
    for (const ArchiveFile& f : files) {
      if (f.level == kSnapshotLevel && allowed(f)) snapshot = &f;
    }
    if (snapshot != nullptr) {
      plan.push_back(*snapshot);
      cur = snapshot->max_txid;
    }
  }
  for (;;) {
    if (target.txid && cur >= *target.txid) break;
    const ArchiveFile* best = nullptr;
    for (const ArchiveFile& f : files) {
      if (f.level == kSnapshotLevel || f.min_txid > cur + 1 || f.max_txid <= cur || !allowed(f)) {
        continue;
      }
      if (best == nullptr ||
          std::make_tuple(f.max_txid, -static_cast<int64_t>(f.min_txid), f.level, -f.timestamp_ms) >
              std::make_tuple(best->max_txid, -static_cast<int64_t>(best->min_txid), best->level,
                              -best->timestamp_ms)) {
        best = &f;
      }
    }
    if (best == nullptr) break;
    plan.push_back(*best);
    cur = best->max_txid;
  }
  if (plan.empty()) return Status::NotFound("no files to restore {} from", target.Describe());
  if (target.txid && cur != *target.txid) {
    return Status::NotFound("no chain of files ends at TXID {} (the nearest ends at {})",
                            ltx::FormatTXID(*target.txid), ltx::FormatTXID(cur));
  }
  if (!target.txid && !target.timestamp_ms) {
    for (const ArchiveFile& f : files) {
      if (f.level != kSnapshotLevel && f.min_txid > cur + 1) {
        return Status::Corruption("gap before {}: the restore plan ends at {}", f.Describe(),
                                  ltx::FormatTXID(cur));
      }
    }
  }
  return plan;
}

}  // namespace ltxbus::consumer
