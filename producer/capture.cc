#include "producer/capture.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <thread>
#include <utility>

#include "ltx/encoder.h"
#include "producer/capture_state.h"

namespace ltxbus::producer {

bus::WalPosition ToBus(const WalPosition& p) {
  return {p.salt1, p.salt2, p.frame, p.checksum.s0, p.checksum.s1};
}

// SQLite takes no POSIX locks on the -wal, so a short-lived descriptor is
// harmless there (never on the database or -shm).
Status SyncWal(const std::string& wal_path) {
  int fd = ::open(wal_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? Status::OK() : Status::FromErrno("open " + wal_path, errno);
  int rc = ::fdatasync(fd);
  int err = errno;
  ::close(fd);
  return rc == 0 ? Status::OK() : Status::FromErrno("fdatasync " + wal_path, err);
}

Result<sqlite::Database> OpenConnection(const CaptureOptions& o) {
  LTXBUS_ASSIGN_OR_RETURN(sqlite::Database db,
                          sqlite::Database::Open(o.db_path, sqlite::Database::Mode::kReadWrite));
  sqlite3_busy_timeout(db.raw(), static_cast<int>(o.busy_timeout.count()));
  // Our connections never checkpoint on their own, and never delete the WAL
  // when they close (the app may still be running).
  LTXBUS_RETURN_IF_ERROR(db.Exec("PRAGMA wal_autocheckpoint=0"));
  int one = 1;
  sqlite3_file_control(db.raw(), "main", SQLITE_FCNTL_PERSIST_WAL, &one);
  LTXBUS_ASSIGN_OR_RETURN(std::string mode, db.QueryText("PRAGMA journal_mode"));
  if (mode != "wal") {
    return Status::InvalidArgument(
        "{} is in journal_mode={}, not WAL; ltxbus replicates WAL-mode databases (run "
        "'PRAGMA journal_mode=WAL' once)",
        o.db_path, mode);
  }
  return db;
}

Capture::Capture(std::unique_ptr<State> state) : s_(std::move(state)) {}
Capture::~Capture() = default;
const std::string& Capture::name() const { return s_->opt.name; }
const CaptureStats& Capture::stats() const { return s_->stats; }
bool Capture::behind() const { return s_->behind; }
bool Capture::broken() const { return !s_->broken.ok(); }

Result<std::unique_ptr<Capture>> Capture::Open(Env* env, const CaptureOptions& options,
                                               std::unique_ptr<bus::Publisher> publisher) {
  auto s = std::make_unique<State>();
  s->env = env;
  s->opt = options;
  s->publisher = std::move(publisher);
  s->wal_path = options.db_path + "-wal";
  if (!env->FileExists(options.db_path)) {
    return Status::NotFound("{}: no such database", options.db_path);
  }
  LTXBUS_ASSIGN_OR_RETURN(s->db_file, env->NewRandomAccessFile(options.db_path));
  struct stat st {};
  if (::stat(options.db_path.c_str(), &st) != 0) {
    return Status::FromErrno("stat " + options.db_path, errno);
  }
  s->db_dev = st.st_dev;
  s->db_ino = st.st_ino;
  LTXBUS_ASSIGN_OR_RETURN(sqlite::Database pin, OpenConnection(options));
  s->pin.emplace(std::move(pin));
  LTXBUS_ASSIGN_OR_RETURN(sqlite::Database barrier, OpenConnection(options));
  s->barrier.emplace(std::move(barrier));
  LTXBUS_ASSIGN_OR_RETURN(int64_t page_size, s->pin->QueryInt64("PRAGMA page_size"));
  s->page_size = static_cast<uint32_t>(page_size);
  LTXBUS_RETURN_IF_ERROR(s->Pin());  // creates the -wal and -shm if needed
  LTXBUS_ASSIGN_OR_RETURN(WalIndex shm, WalIndex::Open(env, options.db_path + "-shm"));
  s->shm.emplace(std::move(shm));
  LTXBUS_ASSIGN_OR_RETURN(WalReader wal, WalReader::Open(env, s->wal_path));
  s->wal.emplace(std::move(wal));

  LTXBUS_RETURN_IF_ERROR(s->Resume(/*keep_pin=*/false));
  return std::unique_ptr<Capture>(new Capture(std::move(s)));
}

Status Capture::Reopen(std::unique_ptr<bus::Publisher> publisher) {
  State& s = *s_;
  s.publisher = std::move(publisher);
  s.behind = false;
  Status st = s.CheckNotReplaced();
  if (st.ok()) st = s.Resume(/*keep_pin=*/true);
  s.broken = st;
  return st;
}

// Becoming the publisher fences any older producer of this database.
Status Capture::State::Resume(bool keep_pin) {
  LTXBUS_ASSIGN_OR_RETURN(std::optional<bus::LastFrame> last, publisher->Open());
  if (last) txid = last->id.max_txid;
  if (last && stats.txid != 0 && txid > stats.txid) {
    // Part of a batch that failed reached the bus after all (NATS keeps the
    // frames acknowledged before the failure); they are ours.
    stats.frames += txid - stats.txid;
    stats.txid = txid;
    stats.last_publish_ms = env->NowUnixMillis();
  }
  bool continued = false;
  if (last && last->trailer.wal) {
    LTXBUS_ASSIGN_OR_RETURN(continued, Recover(*last, keep_pin));
  }
  if (continued) return Status::OK();
  return Snapshot(!last                ? "first start: nothing on the bus yet"
                  : !last->trailer.wal ? "the bus's last frame has no WAL position"
                                       : "the bus's last frame does not continue into the WAL");
}

Status Capture::State::CheckNotReplaced() const {
  struct stat st {};
  if (::stat(opt.db_path.c_str(), &st) != 0) {
    return Status::NotFound("{}: the database file disappeared ({})", opt.db_path,
                            std::strerror(errno));
  }
  if (st.st_dev != db_dev || st.st_ino != db_ino) {
    return Status::NotFound("{}: the database file was replaced underneath the producer",
                            opt.db_path);
  }
  return Status::OK();
}

// Re-pins and returns the wal-index header the new pin sees. A busy app may
// hold the write lock almost continuously, so rather than stopping commits
// with the barrier, the header is read before and after pinning: if no commit
// happened in between (same change counter, mxFrame and salts), the pin saw
// exactly that header. Only if commits keep racing does it fall back to the
// barrier.
Result<WalIndexHeader> Capture::State::PinAtKnownFrame() {
  DropCandidate();
  for (int attempt = 0; attempt < 200; attempt++) {
    LTXBUS_ASSIGN_OR_RETURN(WalIndexHeader before, shm->Read());
    LTXBUS_RETURN_IF_ERROR(Repin());
    LTXBUS_ASSIGN_OR_RETURN(WalIndexHeader after, shm->Read());
    if (before.change == after.change && before.max_frame == after.max_frame &&
        before.salt1 == after.salt1 && before.salt2 == after.salt2) {
      return after;
    }
  }
  LTXBUS_ASSIGN_OR_RETURN(Barrier b,
                          Barrier::Take(&*barrier, &barrier_held, &stats.app_lock_held_us));
  LTXBUS_RETURN_IF_ERROR(Repin());
  return shm->Read();
}

// What makes a WAL transaction unpublishable as the next frame: continuity
// is lost (Corruption), and a snapshot must be published instead.
Status Capture::State::CheckTransaction(const WalTransaction& txn) const {
  if (txn.page_size != page_size) {
    return Status::Corruption("{}: WAL page size {} differs from the database's {}", opt.db_path,
                              txn.page_size, page_size);
  }
  // Every page between the old and the new size must be in the transaction:
  // SQLite writes every dirty page up to the commit size.
  const uint32_t lock = ltx::LockPgno(page_size);
  size_t next_page = 0;
  for (uint32_t p = commit + 1; p <= txn.commit; p++) {
    if (p == lock) continue;
    while (next_page < txn.pages.size() && txn.pages[next_page].pgno < p) next_page++;
    if (next_page == txn.pages.size() || txn.pages[next_page].pgno != p) {
      return Status::Corruption("{}: the database grew to {} pages but page {} is not in the WAL",
                                opt.db_path, txn.commit, p);
    }
  }
  return Status::OK();
}

// Publishes one WAL transaction (which CheckTransaction accepted) as one
// frame. Inside a batch the state moves on as the frame is sent; the batch's
// end confirms it, and a failed batch breaks the Capture.
Status Capture::State::PublishTransaction(const WalTransaction& txn) {
  const ltx::TXID new_txid = txid + 1;
  const uint32_t lock = ltx::LockPgno(page_size);
  ltx::Header h;
  h.flags = 0;
  h.page_size = page_size;
  h.commit = txn.commit;
  h.min_txid = h.max_txid = new_txid;
  h.timestamp_ms = env->NowUnixMillis();
  h.pre_apply_checksum = db_sum.Value();
  h.wal_offset = static_cast<int64_t>(txn.wal_offset);
  h.wal_size = static_cast<int64_t>(txn.wal_size);
  h.wal_salt1 = txn.begin.salt1;
  h.wal_salt2 = txn.begin.salt2;

  ltx::DatabaseChecksum sum = db_sum;
  std::vector<std::pair<uint32_t, ltx::Checksum>> changes;
  changes.reserve(txn.pages.size());
  LTXBUS_ASSIGN_OR_RETURN(
      auto writer,
      publisher->BeginFrame(NewFrameId(new_txid, new_txid, h.pre_apply_checksum, h.timestamp_ms)));
  ltx::Encoder enc(writer.get(), {.encoding = opt.encoding});
  std::vector<uint8_t> page(page_size);
  auto encode = [&]() -> Status {
    LTXBUS_RETURN_IF_ERROR(enc.EncodeHeader(h));
    for (const WalPage& wp : txn.pages) {
      LTXBUS_RETURN_IF_ERROR(wal->ReadPage(wp.offset, page));
      LTXBUS_RETURN_IF_ERROR(enc.EncodePage(wp.pgno, page));
      const ltx::Checksum c = ltx::PageChecksum(wp.pgno, page);
      if (wp.pgno <= commit) sum.Remove(page_sums[wp.pgno]);
      sum.Add(c);
      changes.emplace_back(wp.pgno, c);
    }
    for (uint32_t p = txn.commit + 1; p <= commit; p++) {
      if (p != lock) sum.Remove(page_sums[p]);  // dropped by a shrink
    }
    return enc.Finish(sum.Value());
  };
  if (Status st = encode(); !st.ok()) {
    writer->Abort();
    return st.WithContext(fmt::format("{}: TXID {}", opt.name, ltx::FormatTXID(new_txid)));
  }
  bus::FrameTrailer trailer{enc.bytes_written(), sum.Value(), ToBus(txn.end)};
  LTXBUS_ASSIGN_OR_RETURN(uint64_t offset, writer->Commit(trailer));
  (void)offset;
  page_sums.resize(size_t{txn.commit} + 1, 0);
  for (const auto& [pgno, c] : changes) page_sums[pgno] = c;
  db_sum = sum;
  commit = txn.commit;
  txid = new_txid;
  pos = txn.end;
  // Counted once the batch is acknowledged (a failed one may be rolled back).
  unacked_frames++;
  return Status::OK();
}

Result<int> Capture::State::Poll() {
  if (!broken.ok()) return broken;
  behind = false;
  LTXBUS_RETURN_IF_ERROR(CheckNotReplaced());
  LTXBUS_ASSIGN_OR_RETURN(WalIndexHeader hdr, shm->Read());
  stats.wal_frames = hdr.max_frame;
  if (hdr.max_frame == 0) return 0;
  if (!SameGeneration(hdr)) {
    // A new WAL generation. While the pin is held, the WAL can restart at
    // most once, and only after every frame before it was copied back, which
    // the pin allows only up to what was published; so the new generation
    // continues exactly where the bus is.
    LTXBUS_ASSIGN_OR_RETURN(WalResume start, wal->Start());
    if (!start.position || start.position->salt1 != hdr.salt1 ||
        start.position->salt2 != hdr.salt2) {
      return 0;  // the header is being written; look again next time
    }
    if (pos_valid && hdr.salt1 != pos.salt1 + 1) {
      LTXBUS_RETURN_IF_ERROR(Snapshot(
          fmt::format("the WAL restarted with salt {:08x} after {:08x}", hdr.salt1, pos.salt1)));
      return 1;
    }
    pos = *start.position;
    pos_valid = true;
  }
  if (pos.frame > hdr.max_frame) return 0;
  if (const auto at = publisher->NextBatchAt(); at > Clock::now()) {
    // The publisher would wait inside BeginBatch anyway; waiting here first
    // lets the commits of that moment go out in this batch, not the next.
    std::this_thread::sleep_until(at);
    LTXBUS_ASSIGN_OR_RETURN(WalIndexHeader later, shm->Read());
    if (SameGeneration(later) && later.max_frame > hdr.max_frame) hdr = later;
  }
  const auto sync_start = Clock::now();
  LTXBUS_RETURN_IF_ERROR(SyncWal(wal_path));
  if (const auto took = Clock::now() - sync_start; took >= kSlowSync) {
    spdlog::debug("{}: fdatasync of the WAL took {} ms", opt.name,
                  std::chrono::duration_cast<std::chrono::milliseconds>(took).count());
  }
  // Transactions go out in batches (Publisher::BeginBatch): many frames per
  // round trip or Kafka transaction. A failed batch leaves the bus holding
  // an unknown prefix of it while this state is already past it, so the
  // Capture is then broken and must be reopened (Reopen learns where the bus
  // is). The time budget lets the caller move the pin and checkpoint while
  // a backlog drains.
  const auto deadline = Clock::now() + kPollBudget;
  bool batch_open = false;
  size_t batch_frames = 0;
  uint64_t batch_bytes = 0;
  auto end_batch = [&]() -> Status {
    if (!batch_open) return Status::OK();
    batch_open = false;
    batch_frames = 0;
    batch_bytes = 0;
    auto r = publisher->EndBatch();
    if (r.ok()) {
      stats.frames += std::exchange(unacked_frames, 0);
      stats.txid = txid;
      stats.last_publish_ms = env->NowUnixMillis();
    } else {
      unacked_frames = 0;  // Reopen counts those the bus has
      broken = r.status().WithContext(opt.name + ": reopening to learn where the bus is");
    }
    return r.status();
  };
  auto fail = [&](const Status& st) {
    unacked_frames = 0;  // Reopen counts those the bus has
    if (batch_open) {
      (void)publisher->EndBatch();
      broken = st.WithContext(opt.name + ": a batch failed; reopening to learn where the bus is");
    }
    return st;
  };
  int published = 0;
  for (;;) {
    auto rd = wal->Next(pos, hdr.max_frame);
    if (!rd.ok()) {
      LTXBUS_RETURN_IF_ERROR(end_batch());
      return rd.status();
    }
    if (rd->txn) {
      if (!batch_open) {
        LTXBUS_RETURN_IF_ERROR(publisher->BeginBatch());
        batch_open = true;
      }
      if (Status bad = CheckTransaction(*rd->txn); !bad.ok()) {
        LTXBUS_RETURN_IF_ERROR(end_batch());
        if (under_watched_barrier) return published;  // the next Poll takes the snapshot
        LTXBUS_RETURN_IF_ERROR(Snapshot(bad.message()));
        return published + 1;
      }
      if (Status st = PublishTransaction(*rd->txn); !st.ok()) return fail(st);
      published++;
      batch_frames++;
      batch_bytes += uint64_t{page_size} * rd->txn->pages.size();
      if (batch_frames >= kBatchFrames || batch_bytes >= kBatchBytes) {
        LTXBUS_RETURN_IF_ERROR(end_batch());
        if (Clock::now() >= deadline) {
          behind = true;
          return published;
        }
      }
      continue;
    }
    LTXBUS_RETURN_IF_ERROR(end_batch());
    if (rd->stop.reason == WalStop::kReachedMaxFrame || pos.frame > hdr.max_frame) break;
    // Below mxFrame every frame is final, so anything else means the WAL is
    // not what its index says: continuity is lost.
    if (under_watched_barrier) return published;  // the next Poll takes the snapshot
    LTXBUS_RETURN_IF_ERROR(
        Snapshot(fmt::format("WAL unreadable at frame {} ({}): {}", rd->stop.frame,
                             WalStopName(rd->stop.reason), rd->stop.detail)));
    return published + 1;
  }
  if (auto size = env->GetFileSize(wal_path);
      size.ok() && *size > opt.wal_warn_bytes &&
      Clock::now() - last_wal_warning > std::chrono::minutes(1)) {
    last_wal_warning = Clock::now();
    spdlog::warn("{}: the WAL is {} MiB (warning at {} MiB): checkpoints are not keeping up",
                 opt.name, *size >> 20, opt.wal_warn_bytes >> 20);
  }
  return published;
}

Result<int> Capture::Poll() { return s_->Poll(); }

}  // namespace ltxbus::producer
