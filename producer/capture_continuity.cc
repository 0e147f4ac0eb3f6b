// Continuity: proving that the bus's last frame continues into the WAL on
// disk (Recover), or publishing a snapshot where it cannot be proven.
#include <spdlog/spdlog.h>

#include <unordered_map>

#include "ltx/encoder.h"
#include "producer/capture_state.h"

namespace ltxbus::producer {

// Proves that the bus's last frame continues into the WAL on disk: the WAL
// still holds that frame's generation, nothing after it was checkpointed
// into the database file, and the database as of that point has exactly the
// frame's post-apply checksum. Then the page checksums are known and
// publishing continues with the next transaction. With `keep_pin` (a
// reopen after a failed batch) the pin held since then stays: it never saw
// past what the bus acknowledged, so the app's own checkpoints cannot have
// copied back anything after the bus's last frame meanwhile. A new pin sees
// the WAL as it is now, which may be past the bus's last frame: from then
// until the first checkpoint moves the pin, an app checkpoint could copy
// back frames the bus lacks (a reopen then takes a snapshot: nothing lost).
Result<bool> Capture::State::Recover(const bus::LastFrame& last, bool keep_pin) {
  const bus::WalPosition& wp = *last.trailer.wal;
  LTXBUS_ASSIGN_OR_RETURN(WalIndexHeader hdr, keep_pin && pinned ? shm->Read() : PinAtKnownFrame());
  const uint64_t last_frame = wp.next_frame - 1;
  // Reopened with the pin held since the bus's last frame was acknowledged:
  // the WAL can have restarted at most once since, and only after every frame
  // of its old generation was copied back, which the pin allowed only up to
  // that frame. If nothing of the new generation is copied back yet, the
  // database file is the state after the bus's last frame (the checksum below
  // confirms it) and the new generation continues it from its first frame.
  const bool restarted_once =
      keep_pin && pinned && wp.next_frame != 0 && hdr.salt1 == wp.salt1 + 1 && hdr.backfill == 0;
  if (!restarted_once &&
      (wp.next_frame == 0 || last_frame > hdr.max_frame || hdr.salt1 != wp.salt1 ||
       hdr.salt2 != wp.salt2 || hdr.backfill > last_frame || wp.next_frame > UINT32_MAX)) {
    spdlog::info(
        "{}: cannot continue TXID {}: WAL is at {:08x}/{:08x} frame {} (backfilled {}), "
        "the bus at {}",
        opt.name, ltx::FormatTXID(last.id.max_txid), hdr.salt1, hdr.salt2, hdr.max_frame,
        hdr.backfill, wp.Format());
    return false;
  }
  const auto frame = restarted_once ? uint32_t{1} : static_cast<uint32_t>(wp.next_frame);
  WalResume resume;
  if (restarted_once) {
    LTXBUS_ASSIGN_OR_RETURN(resume, wal->Start());
    if (resume.position &&
        (resume.position->salt1 != hdr.salt1 || resume.position->salt2 != hdr.salt2)) {
      resume.position.reset();
      resume.stop.detail = "the WAL header is being rewritten";
    }
  } else {
    LTXBUS_ASSIGN_OR_RETURN(
        resume, wal->ResumeAt(wp.salt1, wp.salt2, frame, WalChecksum{wp.checksum1, wp.checksum2}));
  }
  if (!resume.position) {
    spdlog::info("{}: cannot continue TXID {}: {}", opt.name, ltx::FormatTXID(last.id.max_txid),
                 resume.stop.detail);
    return false;
  }
  // The database as of the position: the database file (nothing after the
  // position was copied into it) overlaid with the last WAL image of each
  // page in frames before it.
  LTXBUS_ASSIGN_OR_RETURN(const uint64_t db_size, db_file->Size());
  std::unordered_map<uint32_t, uint64_t> wal_pages;
  uint32_t commit_at = 0;
  if (frame > 1) {
    LTXBUS_ASSIGN_OR_RETURN(WalResume start, wal->Start());
    if (!start.position || start.position->salt1 != wp.salt1) return false;
    WalPosition p = *start.position;
    while (p.frame < frame) {
      LTXBUS_ASSIGN_OR_RETURN(WalRead rd, wal->Next(p, frame - 1));
      if (!rd.txn) return false;
      for (const WalPage& pg : rd.txn->pages) wal_pages[pg.pgno] = pg.offset;
      commit_at = rd.txn->commit;
      p = rd.txn->end;
    }
    if (p.frame != frame) return false;
  } else {
    commit_at = static_cast<uint32_t>(db_size / page_size);
  }
  std::vector<ltx::Checksum> sums(size_t{commit_at} + 1, 0);
  ltx::DatabaseChecksum sum;
  std::vector<uint8_t> page(page_size);
  const uint32_t lock = ltx::LockPgno(page_size);
  for (uint32_t pgno = 1; pgno <= commit_at; pgno++) {
    if (pgno == lock) continue;
    if (auto it = wal_pages.find(pgno); it != wal_pages.end()) {
      LTXBUS_RETURN_IF_ERROR(wal->ReadPage(it->second, page));
    } else if (uint64_t{pgno} * page_size <= db_size) {
      LTXBUS_RETURN_IF_ERROR(db_file->ReadAt(uint64_t{pgno - 1} * page_size, page));
    } else {
      return false;
    }
    sums[pgno] = ltx::PageChecksum(pgno, page);
    sum.Add(sums[pgno]);
  }
  // A checkpoint the app ran meanwhile could have copied later frames in.
  LTXBUS_ASSIGN_OR_RETURN(WalIndexHeader after, shm->Read());
  const bool copied_later =
      restarted_once ? after.backfill > 0 || after.salt1 != hdr.salt1 : after.backfill > last_frame;
  if (copied_later || sum.Value() != last.trailer.post_apply) {
    spdlog::info(
        "{}: cannot continue TXID {}: database checksum at the position is {:016x}, "
        "the bus says {:016x}",
        opt.name, ltx::FormatTXID(last.id.max_txid), sum.Value(), last.trailer.post_apply);
    return false;
  }
  txid = last.id.max_txid;
  pos = *resume.position;
  pos_valid = true;
  commit = commit_at;
  page_sums = std::move(sums);
  db_sum = sum;
  spdlog::info("{}: continuing after TXID {} at WAL frame {}{}", opt.name, ltx::FormatTXID(txid),
               frame, restarted_once ? " of the WAL's next generation" : "");
  return true;
}

// Publishes every page of the database as of a fresh pin as one frame
// covering TXIDs 1..txid+1.
Status Capture::State::Snapshot(const std::string& reason) {
  spdlog::info("{}: publishing a snapshot: {}", opt.name, reason);
  WalIndexHeader hdr;
  std::optional<WalPosition> next;
  for (int attempt = 0;; attempt++) {
    LTXBUS_ASSIGN_OR_RETURN(hdr, PinAtKnownFrame());
    if (hdr.max_frame == 0) break;
    LTXBUS_ASSIGN_OR_RETURN(WalResume r, wal->ResumeAt(hdr.salt1, hdr.salt2, hdr.max_frame + 1));
    if (r.position) {
      next = r.position;
      break;
    }
    // A pin taken when everything was checkpointed does not stop the WAL from
    // restarting over the frame just read; pin again.
    if (attempt == 5) {
      return Status::Corruption("{}: the WAL does not hold the frames its index promises: {}",
                                opt.db_path, r.stop.detail);
    }
  }
  LTXBUS_ASSIGN_OR_RETURN(int64_t page_count, pin->QueryInt64("PRAGMA page_count"));
  const ltx::TXID new_txid = txid + 1;
  ltx::Header h;
  h.flags = 0;
  h.page_size = page_size;
  h.commit = static_cast<uint32_t>(page_count);
  h.min_txid = 1;
  h.max_txid = new_txid;
  h.timestamp_ms = env->NowUnixMillis();
  if (next) {
    WalHeader geometry;
    geometry.page_size = page_size;
    h.wal_offset = static_cast<int64_t>(geometry.FrameOffset(next->frame));
    h.wal_salt1 = next->salt1;
    h.wal_salt2 = next->salt2;
  }
  bus::FrameId id = NewFrameId(1, new_txid, 0, h.timestamp_ms);
  LTXBUS_ASSIGN_OR_RETURN(auto writer, publisher->BeginFrame(id));
  ltx::Encoder enc(writer.get(), {.encoding = opt.encoding});
  std::vector<ltx::Checksum> sums(static_cast<size_t>(page_count) + 1, 0);
  ltx::DatabaseChecksum sum;
  auto encode = [&]() -> Status {
    LTXBUS_RETURN_IF_ERROR(enc.EncodeHeader(h));
    LTXBUS_ASSIGN_OR_RETURN(sqlite::Statement st,
                            pin->Prepare("SELECT data FROM sqlite_dbpage WHERE pgno=?1"));
    const uint32_t lock = ltx::LockPgno(page_size);
    for (uint32_t pgno = 1; pgno <= h.commit; pgno++) {
      if (pgno == lock) continue;
      LTXBUS_RETURN_IF_ERROR(st.BindInt64(1, pgno));
      LTXBUS_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) return Status::Corruption("{}: page {} is missing", opt.db_path, pgno);
      auto data = st.ColumnBlob(0);
      sums[pgno] = ltx::PageChecksum(pgno, data);
      sum.Add(sums[pgno]);
      LTXBUS_RETURN_IF_ERROR(enc.EncodePage(pgno, data));
      LTXBUS_RETURN_IF_ERROR(st.Reset());
    }
    return enc.Finish(sum.Value());
  };
  if (Status st = encode(); !st.ok()) {
    writer->Abort();
    return st.WithContext(opt.name + ": snapshot");
  }
  bus::FrameTrailer trailer{enc.bytes_written(), sum.Value(),
                            next ? std::optional(ToBus(*next)) : std::nullopt};
  LTXBUS_ASSIGN_OR_RETURN(uint64_t offset, writer->Commit(trailer));
  txid = new_txid;
  pos_valid = next.has_value();
  if (next) pos = *next;
  commit = h.commit;
  page_sums = std::move(sums);
  db_sum = sum;
  stats.txid = txid;
  stats.frames++;
  stats.snapshots++;
  stats.last_publish_ms = env->NowUnixMillis();
  spdlog::info("{}: snapshot TXID {} ({} pages) published at offset {}", opt.name,
               ltx::FormatTXID(txid), h.commit, offset);
  return Status::OK();
}

}  // namespace ltxbus::producer
