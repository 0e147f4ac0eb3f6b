#include "consumer/verify.h"

#include <algorithm>
#include <map>

#include "consumer/archive_manifest.h"
#include "consumer/archive_spool.h"
#include "consumer/restore.h"
#include "ltx/apply.h"
#include "ltx/decoder.h"

namespace ltxbus::consumer {
namespace {

constexpr int kParallelism = 8;
constexpr size_t kBatch = 32;  // files downloaded at a time while decoding

// 1. The manifest against the listing.
void CheckManifest(const std::vector<ArchiveFile>& manifest,
                   const std::vector<ArchiveFile>& listing, VerifyReport* r) {
  for (const ArchiveFile& m : manifest) {
    auto it = std::find_if(listing.begin(), listing.end(),
                           [&](const ArchiveFile& l) { return l.SameRange(m); });
    if (it == listing.end()) {
      r->problems.push_back(
          fmt::format("{}: named by the manifest but missing ({})", m.Describe(), m.key));
    } else if (it->size != m.size) {
      r->problems.push_back(
          fmt::format("{}: {} bytes, the manifest says {}", m.Describe(), it->size, m.size));
    }
  }
  for (const ArchiveFile& l : listing) {
    if (std::none_of(manifest.begin(), manifest.end(),
                     [&](const ArchiveFile& m) { return m.SameRange(l); })) {
      r->notes.push_back(
          fmt::format("{}: not in the manifest (left by an interrupted archiver)", l.Describe()));
    }
  }
}

// 2. Overlaps and gaps per level.
void CheckLevels(const std::vector<ArchiveFile>& files, VerifyReport* r) {
  auto restarts_at = [&](ltx::TXID txid) {
    return std::any_of(files.begin(), files.end(), [&](const ArchiveFile& f) {
      return f.level == kSnapshotLevel && f.max_txid + 1 == txid;
    });
  };
  for (const ArchiveFile& f : FilesAtLevel(files, kSnapshotLevel)) {
    if (f.min_txid != 1)
      r->problems.push_back(fmt::format("{}: a snapshot must start at TXID 1", f.Describe()));
  }
  for (int level = 0; level < kSnapshotLevel; level++) {
    const std::vector<ArchiveFile> at = FilesAtLevel(files, level);
    for (size_t i = 1; i < at.size(); i++) {
      const ArchiveFile& a = at[i - 1];
      const ArchiveFile& b = at[i];
      if (b.min_txid <= a.max_txid) {
        r->problems.push_back(fmt::format("{} overlaps {}", b.Describe(), a.Describe()));
      } else if (b.min_txid > a.max_txid + 1 && !restarts_at(b.min_txid)) {
        r->problems.push_back(
            fmt::format("gap at level {}: TXIDs {} to {} missing between {} and {}", level,
                        ltx::FormatTXID(a.max_txid + 1), ltx::FormatTXID(b.min_txid - 1),
                        a.Describe(), b.Describe()));
      }
    }
  }
}

// 3. Every file decodes and verifies.
Status CheckFiles(store::ObjectStore& store, const std::vector<ArchiveFile>& files,
                  VerifyReport* r) {
  uint32_t page_size = 0;
  for (size_t start = 0; start < files.size(); start += kBatch) {
    const std::vector<ArchiveFile> batch(
        files.begin() + static_cast<ptrdiff_t>(start),
        files.begin() + static_cast<ptrdiff_t>(std::min(files.size(), start + kBatch)));
    LTXBUS_ASSIGN_OR_RETURN(auto spools, DownloadFiles(store, batch, kParallelism));
    for (size_t i = 0; i < batch.size(); i++) {
      const ArchiveFile& f = batch[i];
      auto summary = ltx::DecodeFile(spools[i].get());
      if (!summary.ok()) {
        r->problems.push_back(fmt::format("{}: {}", f.Describe(), summary.status().ToString()));
        continue;
      }
      const ltx::Header& h = summary->header;
      if (h.min_txid != f.min_txid || h.max_txid != f.max_txid) {
        r->problems.push_back(fmt::format("{}: the header says TXIDs {}-{}", f.Describe(),
                                          ltx::FormatTXID(h.min_txid),
                                          ltx::FormatTXID(h.max_txid)));
      }
      if (page_size == 0) page_size = h.page_size;
      if (h.page_size != page_size) {
        r->problems.push_back(fmt::format("{}: page size {}, other files have {}", f.Describe(),
                                          h.page_size, page_size));
      }
    }
  }
  return Status::OK();
}

// Compares a compacted file's pages with the replayed database at its MaxTXID.
Status CompareWithReplay(store::ObjectStore& store, const ArchiveFile& f,
                         const RandomAccessFile& db, uint32_t page_count, VerifyReport* r) {
  LTXBUS_ASSIGN_OR_RETURN(auto spools, DownloadFiles(store, {f}, 1));
  std::vector<uint8_t> replayed;
  std::string first_diff;
  uint32_t commit = 0;
  auto summary =
      ltx::DecodeFile(spools[0].get(), [&](uint32_t pgno, std::span<const uint8_t> data) {
        if (!first_diff.empty()) return Status::OK();
        replayed.resize(data.size());
        if (pgno > page_count) {
          first_diff =
              fmt::format("page {} is beyond the replayed database's {} pages", pgno, page_count);
          return Status::OK();
        }
        LTXBUS_RETURN_IF_ERROR(db.ReadAt(uint64_t{pgno - 1} * data.size(), replayed));
        if (!std::equal(data.begin(), data.end(), replayed.begin())) {
          first_diff = fmt::format("page {} differs", pgno);
        }
        return Status::OK();
      });
  if (!summary.ok()) return Status::OK();  // reported by CheckFiles
  commit = summary->header.commit;
  if (first_diff.empty() && commit != page_count) {
    first_diff =
        fmt::format("it ends the database at {} pages, the replay at {}", commit, page_count);
  }
  if (!first_diff.empty()) {
    r->problems.push_back(fmt::format("{} is not consistent with L0 at TXID {}: {}", f.Describe(),
                                      ltx::FormatTXID(f.max_txid), first_diff));
  }
  return Status::OK();
}

// 4. Replays L0 (with the snapshots that restart it) into a database.
Status Replay(Env* env, store::ObjectStore& store, const std::vector<ArchiveFile>& files,
              bool have_checksums, const std::string& scratch, VerifyReport* r) {
  const std::vector<ArchiveFile> l0 = FilesAtLevel(files, 0);
  if (l0.empty()) return Status::OK();
  const std::string db_path = scratch + "/replay.db";
  const ltx::TXID start = l0.front().min_txid;
  std::vector<ArchiveFile> steps;
  if (start > 1) {
    auto plan = PlanRestore(files, RestoreTarget{start - 1, std::nullopt});
    if (!plan.ok()) {
      r->problems.push_back(
          fmt::format("the state before the oldest L0 file ({}) cannot be rebuilt: {}",
                      l0.front().Describe(), plan.status().ToString()));
      return Status::OK();
    }
    auto base = RestorePlanTo(env, store, *plan, db_path, {});
    if (!base.ok()) {
      r->problems.push_back(fmt::format("restoring TXID {}: {}", ltx::FormatTXID(start - 1),
                                        base.status().ToString()));
      return Status::OK();
    }
  }
  for (const ArchiveFile& f : l0) {
    if (!steps.empty() && f.min_txid > steps.back().max_txid + 1) {
      for (const ArchiveFile& s : FilesAtLevel(files, kSnapshotLevel)) {
        if (s.max_txid + 1 == f.min_txid) steps.push_back(s);
      }
    }
    steps.push_back(f);
  }
  LTXBUS_ASSIGN_OR_RETURN(auto applier, ltx::DatabaseFileApplier::Open(env, db_path));
  const std::string step_path = scratch + "/step.ltx";
  for (const ArchiveFile& f : steps) {
    {
      LTXBUS_ASSIGN_OR_RETURN(auto out, env->NewWritableFile(step_path));
      LTXBUS_RETURN_IF_ERROR(store.Get(f.key, *out).status());
      LTXBUS_RETURN_IF_ERROR(out->Close());
    }
    Status s = applier->ApplyFile(step_path);
    if (!s.ok()) {
      r->problems.push_back(fmt::format("replaying {}: {}", f.Describe(), s.ToString()));
      return Status::OK();
    }
    LTXBUS_ASSIGN_OR_RETURN(ltx::Checksum now, applier->DatabaseChecksumNow());
    if (have_checksums && f.post_apply_checksum != 0 && now != f.post_apply_checksum) {
      r->problems.push_back(fmt::format(
          "checksum chain broken at {}: the database checksum is {:016x}, the manifest recorded "
          "{:016x} from the stream",
          f.Describe(), now, f.post_apply_checksum));
    }
    LTXBUS_ASSIGN_OR_RETURN(auto db, env->NewRandomAccessFile(db_path));
    for (const ArchiveFile& g : files) {
      if (g.level == 0 || g.max_txid != f.max_txid || g.SameRange(f)) continue;
      if (have_checksums && g.post_apply_checksum != 0 && g.post_apply_checksum != now) {
        r->problems.push_back(fmt::format("{}: the manifest's checksum {:016x} is not L0's {:016x}",
                                          g.Describe(), g.post_apply_checksum, now));
      }
      LTXBUS_RETURN_IF_ERROR(CompareWithReplay(store, g, *db, applier->page_count(), r));
    }
  }
  r->replayed_from = start;
  r->replayed_to = steps.back().max_txid;
  (void)env->RemoveFile(step_path);
  (void)env->RemoveFile(db_path);
  return Status::OK();
}

}  // namespace

Result<VerifyReport> VerifyArchive(Env* env, store::ObjectStore& store,
                                   const std::string& scratch_dir, bool integrity_check) {
  VerifyReport r;
  const ArchiveLayout layout = ArchiveLayout::For(store);
  LTXBUS_ASSIGN_OR_RETURN(std::vector<ArchiveFile> listing, ListArchive(store, layout, false));
  auto manifest = LoadManifest(store, layout);
  if (!manifest.ok()) {
    r.problems.push_back(manifest.status().ToString());
    r.files = listing;
  } else if (*manifest) {
    r.from_manifest = true;
    const Manifest& m = (*manifest)->manifest;
    // L0 files newer than the manifest, as restores see them.
    LTXBUS_ASSIGN_OR_RETURN(std::vector<ArchiveFile> tail,
                            UnnamedL0Tail(store, layout, m.last_txid(), /*timestamps=*/false));
    r.files = m.files;
    r.files.insert(r.files.end(), tail.begin(), tail.end());
    SortArchiveFiles(&r.files);
    CheckManifest(r.files, listing, &r);
    if (!tail.empty()) {
      r.notes.push_back(
          fmt::format("{} newer than the manifest (the archiver names them at its "
                      "next manifest write)",
                      Summarize(tail)));
    }
  } else {
    r.files = listing;
  }
  if (r.files.empty()) {
    r.problems.push_back(fmt::format("{} holds no archive", store.url()));
    return r;
  }
  CheckLevels(r.files, &r);
  LTXBUS_RETURN_IF_ERROR(CheckFiles(store, r.files, &r));
  if (!r.ok()) return r;  // replaying broken files would only repeat the problems
  LTXBUS_RETURN_IF_ERROR(env->CreateDirs(scratch_dir));
  LTXBUS_RETURN_IF_ERROR(Replay(env, store, r.files, r.from_manifest, scratch_dir, &r));
  // 5. The latest state restores and is a sound database.
  const std::string latest = scratch_dir + "/latest.db";
  auto plan = PlanRestore(r.files, {});
  if (!plan.ok()) {
    r.problems.push_back(fmt::format("restoring the latest state: {}", plan.status().ToString()));
    return r;
  }
  auto restored = RestorePlanTo(env, store, *plan, latest, {});
  if (!restored.ok()) {
    r.problems.push_back(
        fmt::format("restoring the latest state: {}", restored.status().ToString()));
  } else {
    r.latest_txid = restored->txid;
    Status ic = integrity_check ? IntegrityCheck(latest) : Status::OK();
    if (!ic.ok()) r.problems.push_back(ic.ToString());
  }
  (void)env->RemoveFile(latest);
  return r;
}

}  // namespace ltxbus::consumer
