// What the archiver does to an archive's levels, and when (docs/archive.md),
// as pure functions of the file list, so the rules are tested apart from
// storage. They follow Litestream v0.5 (reference ltx-format.md §8.5, §8.6):
//
//  - level L (1..8) compacts at wall-clock multiples of its interval: the
//    files of level L-1 past the newest file of L are merged into one file
//    at L. Where L-1 has a gap (the stream restarted with a snapshot, which
//    goes to level 9), each contiguous run becomes its own file;
//  - snapshots (level 9) are written every snapshot interval; those older
//    than the retention go, always keeping the newest, and with them files
//    of levels 1..8 that end before the oldest remaining snapshot's
//    predecessor (the floor);
//  - L0 files older than the L0 retention that L1 already covers go,
//    oldest first, always keeping the newest.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "consumer/archive_layout.h"

namespace ltxbus::consumer {

using Millis = std::chrono::milliseconds;

// True when a wall-clock multiple of `interval` passed since `last_ms`.
bool Due(int64_t last_ms, Millis interval, int64_t now_ms);

// The runs of level-(level-1) files to merge into `level`, in TXID order;
// empty when there is nothing new.
std::vector<std::vector<ArchiveFile>> CompactionRuns(const std::vector<ArchiveFile>& files,
                                                     int level);

struct RetentionSettings {
  Millis snapshot_retention{24 * 3600 * 1000};
  Millis l0_retention{5 * 60 * 1000};
};

// Snapshot retention and the floor it sets for levels 1..8.
std::vector<ArchiveFile> SnapshotRetentionVictims(const std::vector<ArchiveFile>& files,
                                                  const RetentionSettings& settings,
                                                  int64_t now_ms);
// L0 retention.
std::vector<ArchiveFile> L0RetentionVictims(const std::vector<ArchiveFile>& files,
                                            const RetentionSettings& settings, int64_t now_ms);

// `files` without `victims` (matched by level and range).
std::vector<ArchiveFile> Without(const std::vector<ArchiveFile>& files,
                                 const std::vector<ArchiveFile>& victims);

}  // namespace ltxbus::consumer
