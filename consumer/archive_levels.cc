#include "consumer/archive_levels.h"

#include <algorithm>

namespace ltxbus::consumer {

bool Due(int64_t last_ms, Millis interval, int64_t now_ms) {
  const int64_t iv = std::max<int64_t>(interval.count(), 1);
  return now_ms / iv > last_ms / iv;
}

std::vector<std::vector<ArchiveFile>> CompactionRuns(const std::vector<ArchiveFile>& files,
                                                     int level) {
  ltx::TXID seek = 1;
  for (const ArchiveFile& f : files) {
    if (f.level == level) seek = std::max(seek, f.max_txid + 1);
  }
  std::vector<std::vector<ArchiveFile>> runs;
  for (const ArchiveFile& f : FilesAtLevel(files, level - 1)) {
    if (f.min_txid < seek) continue;
    if (runs.empty() || f.min_txid != runs.back().back().max_txid + 1) runs.emplace_back();
    runs.back().push_back(f);
  }
  return runs;
}

std::vector<ArchiveFile> SnapshotRetentionVictims(const std::vector<ArchiveFile>& files,
                                                  const RetentionSettings& settings,
                                                  int64_t now_ms) {
  const std::vector<ArchiveFile> snapshots = FilesAtLevel(files, kSnapshotLevel);
  if (snapshots.size() < 2) return {};
  const int64_t cutoff = now_ms - settings.snapshot_retention.count();
  std::vector<ArchiveFile> victims;
  ltx::TXID floor = 0;
  for (size_t i = 0; i + 1 < snapshots.size(); i++) {  // the newest always stays
    if (snapshots[i].timestamp_ms >= cutoff) break;
    victims.push_back(snapshots[i]);
    floor = snapshots[i].max_txid;
  }
  if (floor == 0) return victims;
  for (int level = 1; level < kSnapshotLevel; level++) {
    const std::vector<ArchiveFile> at = FilesAtLevel(files, level);
    for (size_t i = 0; i + 1 < at.size(); i++) {  // each level's newest stays
      if (at[i].max_txid < floor) victims.push_back(at[i]);
    }
  }
  return victims;
}

std::vector<ArchiveFile> L0RetentionVictims(const std::vector<ArchiveFile>& files,
                                            const RetentionSettings& settings, int64_t now_ms) {
  ltx::TXID covered = 0;
  for (const ArchiveFile& f : files) {
    if (f.level == 1) covered = std::max(covered, f.max_txid);
  }
  const std::vector<ArchiveFile> l0 = FilesAtLevel(files, 0);
  const int64_t cutoff = now_ms - settings.l0_retention.count();
  std::vector<ArchiveFile> victims;
  for (size_t i = 0; i + 1 < l0.size(); i++) {
    if (l0[i].timestamp_ms >= cutoff || l0[i].max_txid > covered) break;
    victims.push_back(l0[i]);
  }
  return victims;
}

std::vector<ArchiveFile> Without(const std::vector<ArchiveFile>& files,
                                 const std::vector<ArchiveFile>& victims) {
  std::vector<ArchiveFile> out;
  for (const ArchiveFile& f : files) {
    if (std::none_of(victims.begin(), victims.end(),
                     [&](const ArchiveFile& v) { return v.SameRange(f); })) {
      out.push_back(f);
    }
  }
  return out;
}

}  // namespace ltxbus::consumer
