#include "consumer/replica.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>

#include "consumer/replica_checkpointer.h"
#include "ltx/checksum.h"
#include "ltx/decoder.h"
#include "sqlite/database.h"

namespace ltxbus::consumer {
namespace {

// The replica's schema name on the follower's connection (main is :memory:).
constexpr const char* kSchema = "replica";

// Keeps the follower's commit from auto-vacuuming the replica: pages are
// written as the source had them, and a full auto-vacuum database's commit
// would otherwise move pages the source did not move.
unsigned int NoAutoVacuum(void*, const char*, unsigned int, unsigned int, unsigned int) {
  return 0;
}

int WalHook(void* arg, sqlite3*, const char*, int frames) {
  *static_cast<uint32_t*>(arg) = static_cast<uint32_t>(frames);
  return SQLITE_OK;
}

}  // namespace

// Two connections. The writer (:memory: main, the replica ATTACHed, as
// sqlite3_rsync does) only writes pages through sqlite_dbpage and never reads
// the replica's tables or schema: SQLite's b-tree layer caches decoded page
// headers that page-level writes do not invalidate, and a dbpage SELECT
// verifies every attached schema, so reading through the writer while its
// transaction rewrites the schema would reload that schema from a half-written
// state. Every read (old pages, page count, the startup scan) goes through the
// reader, a plain read-only connection, which sees only committed states and
// notices the writer's commits the way any other reader does. While following,
// nothing is read at all: the page checksums are kept in memory.
struct Replica::Db {
  sqlite::Database writer;
  sqlite::Statement write;
  sqlite::Database reader;
  sqlite::Statement read;
  // Last: stopped before the connections above close.
  std::unique_ptr<ReplicaCheckpointer> checkpointer;
};

ltx::Checksum ReplicaScan::SourceChecksum(const Page1Tail& tail) const {
  ltx::DatabaseChecksum sum(rest);
  if (!page1.empty()) {
    std::vector<uint8_t> p1 = page1;
    PutPage1Tail(tail, p1);
    sum.Add(ltx::PageChecksum(1, p1));
  }
  return sum.Value();
}

Replica::Replica(ReplicaOptions options) : options_(std::move(options)) {}
Replica::~Replica() {
  if (in_txn_) Rollback();
}

Status Replica::Attach(bool create) {
  LTXBUS_ASSIGN_OR_RETURN(
      auto writer, sqlite::Database::Open(":memory:", sqlite::Database::Mode::kReadWriteCreate));
  sqlite3* raw = writer.raw();
  // As sqlite3_rsync does: a schema this build cannot parse must not stop
  // the apply.
  int on = 1;
  sqlite3_db_config(raw, SQLITE_DBCONFIG_WRITABLE_SCHEMA, 1, &on);
  sqlite3_busy_timeout(raw, static_cast<int>(options_.busy_timeout.count()));
  sqlite3_autovacuum_pages(raw, NoAutoVacuum, nullptr, nullptr);
  // Replaces the automatic checkpoints: the Replica runs them (MaybeCheckpoint).
  sqlite3_wal_hook(raw, WalHook, &wal_frames_);
  {
    LTXBUS_ASSIGN_OR_RETURN(sqlite::Statement attach, writer.Prepare("ATTACH ?1 AS replica"));
    LTXBUS_RETURN_IF_ERROR(attach.BindText(1, options_.path));
    auto r = attach.Step();
    if (!r.ok()) return r.status().WithContext("attaching " + options_.path);
  }
  if (create) {
    // Before the first page exists: a WAL database cannot change page size.
    LTXBUS_RETURN_IF_ERROR(writer.Exec(fmt::format("PRAGMA replica.page_size={}", page_size_)));
    LTXBUS_ASSIGN_OR_RETURN(std::string mode, writer.QueryText("PRAGMA replica.journal_mode=WAL"));
    if (mode != "wal") {
      return Status::IOError("{}: could not switch the new replica to WAL mode (got '{}')",
                             options_.path, mode);
    }
  }
  auto mode = writer.QueryText("PRAGMA replica.journal_mode");
  if (!mode.ok()) {
    return Status::InvalidArgument("{} is not a SQLite database: {}", options_.path,
                                   mode.status().message());
  }
  if (*mode != "wal") {
    return Status::InvalidArgument(
        "{} is not in WAL mode (journal_mode={}): a live replica must be, so that readers are "
        "never blocked; was it written by something other than ltxbus follow?",
        options_.path, *mode);
  }
  LTXBUS_ASSIGN_OR_RETURN(int64_t ps, writer.QueryInt64("PRAGMA replica.page_size"));
  if (create && ps != page_size_) {
    return Status::IOError("{}: page size is {} after creation, not {}", options_.path, ps,
                           page_size_);
  }
  page_size_ = static_cast<uint32_t>(ps);
  LTXBUS_RETURN_IF_ERROR(writer.Exec("PRAGMA replica.synchronous=FULL"));
  LTXBUS_ASSIGN_OR_RETURN(
      sqlite::Statement write,
      writer.Prepare("INSERT INTO sqlite_dbpage(pgno, data, schema) VALUES(?1, ?2, 'replica')"));

  LTXBUS_ASSIGN_OR_RETURN(auto reader,
                          sqlite::Database::Open(options_.path, sqlite::Database::Mode::kReadOnly));
  sqlite3_db_config(reader.raw(), SQLITE_DBCONFIG_WRITABLE_SCHEMA, 1, &on);
  sqlite3_busy_timeout(reader.raw(), static_cast<int>(options_.busy_timeout.count()));
  LTXBUS_ASSIGN_OR_RETURN(sqlite::Statement read,
                          reader.Prepare("SELECT data FROM sqlite_dbpage WHERE pgno=?1"));
  // A first read of the replica through the writer (before any page write),
  // so that its WAL header is known and only others' commits move the
  // data version from here on.
  LTXBUS_RETURN_IF_ERROR(writer.QueryInt64("PRAGMA replica.page_count").status());
  LTXBUS_ASSIGN_OR_RETURN(auto checkpointer, ReplicaCheckpointer::Start(options_.path));
  db_ = std::make_unique<Db>(Db{std::move(writer), std::move(write), std::move(reader),
                                std::move(read), std::move(checkpointer)});
  ResetWriterCache();
  return Status::OK();
}

void Replica::ResetWriterCache() {
  // Outside a transaction this drops the writer's page cache, and with it
  // any b-tree state decoded from pages sqlite_dbpage has since rewritten.
  sqlite3* raw = db_->writer.raw();
  sqlite3_file_control(raw, kSchema, SQLITE_FCNTL_RESET_CACHE, nullptr);
  data_version_ = WriterDataVersion();
}

uint32_t Replica::WriterDataVersion() {
  // The writer's pager counts changes it did not make itself, when a
  // transaction starts; its own commits and cache resets count too, which is
  // why the baseline is taken again after each of them.
  unsigned int v = 0;
  sqlite3_file_control(db_->writer.raw(), kSchema, SQLITE_FCNTL_DATA_VERSION, &v);
  return v;
}

Result<std::unique_ptr<Replica>> Replica::Open(const ReplicaOptions& options) {
  Env* env = Env::Default();
  if (!env->FileExists(options.path)) return Status::NotFound("{}: no such replica", options.path);
  LTXBUS_ASSIGN_OR_RETURN(uint64_t size, env->GetFileSize(options.path));
  if (size == 0) return Status::NotFound("{}: the replica is empty", options.path);
  std::unique_ptr<Replica> r(new Replica(options));
  LTXBUS_RETURN_IF_ERROR(r->Attach(false));
  return r;
}

Result<std::unique_ptr<Replica>> Replica::Create(const ReplicaOptions& options,
                                                 uint32_t page_size) {
  Env* env = Env::Default();
  if (env->FileExists(options.path)) {
    LTXBUS_ASSIGN_OR_RETURN(uint64_t size, env->GetFileSize(options.path));
    if (size != 0) {
      return Status::InvalidArgument("{} already exists; not creating a replica over it",
                                     options.path);
    }
  }
  if (!ltx::IsValidPageSize(page_size)) {
    return Status::InvalidArgument("bad page size {}", page_size);
  }
  std::unique_ptr<Replica> r(new Replica(options));
  r->page_size_ = page_size;
  LTXBUS_RETURN_IF_ERROR(r->Attach(true));
  return r;
}

Result<std::vector<uint8_t>> Replica::ReadPage(uint32_t pgno) {
  sqlite::Statement& st = db_->read;  // the reader: committed pages only
  LTXBUS_RETURN_IF_ERROR(st.BindInt64(1, pgno));
  auto row = st.Step();
  if (!row.ok()) {
    (void)st.Reset();
    return row.status();
  }
  if (!*row) {
    (void)st.Reset();
    return Status::Corruption("{}: page {} is missing", options_.path, pgno);
  }
  auto data = st.ColumnBlob(0);
  std::vector<uint8_t> page(data.begin(), data.end());
  LTXBUS_RETURN_IF_ERROR(st.Reset());
  if (page.size() != page_size_) {
    return Status::Corruption("{}: page {} has {} bytes, not {}", options_.path, pgno, page.size(),
                              page_size_);
  }
  return page;
}

Status Replica::WritePage(uint32_t pgno, std::span<const uint8_t> data) {
  sqlite::Statement& st = db_->write;
  LTXBUS_RETURN_IF_ERROR(st.BindInt64(1, pgno));
  LTXBUS_RETURN_IF_ERROR(st.BindBlobRef(2, data));  // read by Step, before Reset
  auto r = st.Step();
  Status reset = st.Reset();
  if (!r.ok()) return r.status().WithContext(fmt::format("writing page {}", pgno));
  return reset;
}

Result<ltx::Checksum> Replica::CurrentPageChecksum(uint32_t pgno) const {
  if (pgno == 1) return ltx::PageChecksum(1, pending_.page1);
  if (pgno >= page_sums_.size()) {
    return Status::Internal("{}: no checksum of page {} (the state has {} pages)", options_.path,
                            pgno, pending_.page_count);
  }
  return page_sums_[pgno];
}

Status Replica::PutPage(uint32_t pgno, std::span<const uint8_t> data, ltx::Checksum sum) {
  LTXBUS_RETURN_IF_ERROR(WritePage(pgno, data));
  pages_written_++;
  if (pgno == 1) {
    pending_.page1.assign(data.begin(), data.end());
    return Status::OK();
  }
  if (pgno >= page_sums_.size()) {
    page_sums_.resize(size_t{pgno} + 1);
  } else if (pgno <= committed_.page_count) {
    sums_undo_.emplace_back(pgno, page_sums_[pgno]);
  }
  page_sums_[pgno] = sum;
  return Status::OK();
}

void Replica::RestorePageSums() {
  for (auto it = sums_undo_.rbegin(); it != sums_undo_.rend(); ++it) {
    page_sums_[it->first] = it->second;
  }
  sums_undo_.clear();
  // Pages past the committed state's end were added by the transaction.
  page_sums_.resize(size_t{committed_.page_count} + 1);
}

Result<ReplicaScan> Replica::Scan() {
  if (in_txn_) return Status::Internal("Scan inside a write transaction");
  sqlite::Database& db = db_->reader;
  LTXBUS_RETURN_IF_ERROR(db.Exec("BEGIN"));
  auto scan = [&]() -> Result<ReplicaScan> {
    ReplicaScan s;
    LTXBUS_ASSIGN_OR_RETURN(int64_t n, db.QueryInt64("PRAGMA page_count"));
    s.page_count = static_cast<uint32_t>(n);
    s.page_sums.assign(size_t{s.page_count} + 1, 0);
    ltx::DatabaseChecksum sum;
    const uint32_t lock = ltx::LockPgno(page_size_);
    for (uint32_t pgno = 1; pgno <= s.page_count; pgno++) {
      if (pgno == lock) continue;
      LTXBUS_ASSIGN_OR_RETURN(std::vector<uint8_t> page, ReadPage(pgno));
      s.page_sums[pgno] = ltx::PageChecksum(pgno, page);
      if (pgno == 1) {
        s.page1 = std::move(page);
      } else {
        sum.Add(s.page_sums[pgno]);
      }
    }
    s.rest = sum.Value();
    return s;
  }();
  Status end = db.Exec("COMMIT");
  if (!scan.ok()) return scan.status();
  LTXBUS_RETURN_IF_ERROR(end);
  return scan;
}

Status Replica::Adopt(const ReplicaPosition& position, const ReplicaScan& scan) {
  if (in_txn_) return Status::Internal("Adopt inside a write transaction");
  if (scan.page_sums.size() != size_t{scan.page_count} + 1) {
    return Status::Internal("Adopt of a scan without its page checksums");
  }
  committed_ = SourceState{};
  committed_.txid = position.txid;
  committed_.checksum = position.checksum;
  committed_.page_count = scan.page_count;
  committed_.timestamp_ms = position.timestamp_ms;
  committed_.page1 = scan.page1;
  PutPage1Tail(position.page1_tail, committed_.page1);
  page_sums_ = scan.page_sums;
  sums_undo_.clear();
  return Status::OK();
}

Status Replica::Begin() {
  if (in_txn_) return Status::Internal("Begin inside a write transaction");
  LTXBUS_RETURN_IF_ERROR(db_->writer.Exec("BEGIN IMMEDIATE"));
  in_txn_ = true;
  auto checks = [&]() -> Status {
    // With the write lock held nobody else can commit; before it, someone
    // did if the writer's data version moved.
    if (WriterDataVersion() != data_version_) {
      return Status::Conflict(
          "{} was written by another process: its pages no longer match the stream, so "
          "ltxbus will not write it again (readers must only read a replica)",
          options_.path);
    }
    // The committed state's size, as a reader sees it.
    LTXBUS_ASSIGN_OR_RETURN(int64_t n, db_->reader.QueryInt64("PRAGMA page_count"));
    if (committed_.page_count != 0 && n != committed_.page_count) {
      return Status::Corruption("{} has {} pages, but the stream's state after TXID {} has {}",
                                options_.path, n, ltx::FormatTXID(committed_.txid),
                                committed_.page_count);
    }
    start_pages_ = physical_pages_ = static_cast<uint32_t>(n);
    return Status::OK();
  }();
  if (!checks.ok()) {
    (void)db_->writer.Exec("ROLLBACK");
    in_txn_ = false;
    return checks;
  }
  pending_ = committed_;
  txn_frames_ = 0;
  txn_snapshot_ = false;
  sums_undo_.clear();
  verified_ = false;
  return Status::OK();
}

bool Replica::Fits(const ltx::Header& h) const {
  if (txn_frames_ == 0) return true;
  if (txn_snapshot_ || h.IsSnapshot()) return false;
  return !(h.commit >= start_pages_ && h.commit < physical_pages_);
}

Result<ltx::Header> Replica::Verify(SequentialFile* ltx) {
  verified_ = false;
  if (!in_txn_) return Status::Internal("Verify outside a write transaction");
  ltx::Decoder dec(ltx);
  LTXBUS_RETURN_IF_ERROR(dec.DecodeHeader());
  const ltx::Header& h = dec.header();
  const bool snapshot = h.IsSnapshot();
  if (!h.HasChecksums()) {
    return Status::Corruption("the frame carries no database checksums, so it cannot be verified");
  }
  if (h.page_size != page_size_) {
    return Status::Corruption("page size {} differs from the replica's {}", h.page_size,
                              page_size_);
  }
  if (!snapshot) {
    if (pending_.page_count == 0) {
      return Status::Corruption("not a snapshot, and the replica holds nothing yet");
    }
    if (h.pre_apply_checksum != pending_.checksum) {
      return Status::Corruption(
          "pre-apply checksum {:016x} does not match the replica's {:016x} (after TXID {})",
          h.pre_apply_checksum, pending_.checksum, ltx::FormatTXID(pending_.txid));
    }
  }
  ltx::DatabaseChecksum sum =
      snapshot ? ltx::DatabaseChecksum() : ltx::DatabaseChecksum(pending_.checksum);
  const uint32_t logical = snapshot ? 0 : pending_.page_count;
  ltx::DatabaseChecksum written;  // of the frame's pages alone
  decoded_whole_ = true;
  decoded_pgnos_.clear();
  decoded_sums_.clear();
  scratch_.resize(page_size_);
  for (;;) {
    // Into the in-memory copy while the frame fits in it, else into scratch
    // (Apply then decodes the frame again).
    const size_t at = decoded_pgnos_.size() * page_size_;
    if (decoded_whole_ && at + page_size_ > options_.decoded_frame_bytes) decoded_whole_ = false;
    if (decoded_whole_ && decoded_pages_.size() < at + page_size_) {
      decoded_pages_.resize(at + page_size_);
    }
    const std::span<uint8_t> page =
        decoded_whole_ ? std::span(decoded_pages_).subspan(at, page_size_) : std::span(scratch_);
    uint32_t pgno = 0;
    LTXBUS_ASSIGN_OR_RETURN(bool more, dec.NextPage(&pgno, page));
    if (!more) break;
    if (pgno == 1 && (page[18] != 2 || page[19] != 2)) {
      return Status::Corruption(
          "page 1 is not in WAL mode (bytes 18-19 are {},{}); the replica must stay in WAL mode",
          page[18], page[19]);
    }
    if (pgno <= logical) {
      LTXBUS_ASSIGN_OR_RETURN(ltx::Checksum old, CurrentPageChecksum(pgno));
      sum.Remove(old);
    }
    const ltx::Checksum page_sum = ltx::PageChecksum(pgno, page);
    sum.Add(page_sum);
    written.Add(page_sum);
    if (decoded_whole_) {
      decoded_pgnos_.push_back(pgno);
      decoded_sums_.push_back(page_sum);
    }
  }
  LTXBUS_RETURN_IF_ERROR(dec.Finish());
  const uint32_t lock = ltx::LockPgno(page_size_);
  for (uint32_t pgno = h.commit + 1; pgno <= logical; pgno++) {
    if (pgno == lock) continue;
    LTXBUS_ASSIGN_OR_RETURN(ltx::Checksum old, CurrentPageChecksum(pgno));
    sum.Remove(old);
  }
  if (sum.Value() != dec.trailer().post_apply_checksum) {
    return Status::Corruption(
        "applied to the replica, it would give checksum {:016x}, not the {:016x} it claims",
        sum.Value(), dec.trailer().post_apply_checksum);
  }
  verified_ = true;
  verified_header_ = h;
  verified_post_ = sum.Value();
  verified_pages_ = written.Value();
  return h;
}

Status Replica::Apply(SequentialFile* ltx) {
  if (!verified_) return Status::Internal("Apply without a successful Verify");
  verified_ = false;
  const ltx::Header& h = verified_header_;
  if (h.IsSnapshot() && pending_.page_count != 0 && h.commit == pending_.page_count &&
      verified_post_ == pending_.checksum) {
    txn_snapshot_ = true;
    pending_.txid = h.max_txid;
    pending_.timestamp_ms = h.timestamp_ms;
    txn_frames_++;
    return Status::OK();
  }
  uint32_t max_pgno = 0;
  if (decoded_whole_) {
    for (size_t i = 0; i < decoded_pgnos_.size(); i++) {
      const uint32_t pgno = decoded_pgnos_[i];
      const auto page =
          std::span<const uint8_t>(decoded_pages_).subspan(i * page_size_, page_size_);
      LTXBUS_RETURN_IF_ERROR(PutPage(pgno, page, decoded_sums_[i]));
      max_pgno = std::max(max_pgno, pgno);
    }
  } else {
    ltx::Decoder dec(ltx);
    LTXBUS_RETURN_IF_ERROR(dec.DecodeHeader());
    if (!(dec.header() == verified_header_)) {
      return Status::Internal("the frame given to Apply is not the one verified");
    }
    ltx::DatabaseChecksum written;
    for (;;) {
      uint32_t pgno = 0;
      LTXBUS_ASSIGN_OR_RETURN(bool more, dec.NextPage(&pgno, scratch_));
      if (!more) break;
      const ltx::Checksum page_sum = ltx::PageChecksum(pgno, scratch_);
      LTXBUS_RETURN_IF_ERROR(PutPage(pgno, scratch_, page_sum));
      written.Add(page_sum);
      max_pgno = std::max(max_pgno, pgno);
    }
    // Pages written before either check fails are undone by the caller's
    // Rollback.
    LTXBUS_RETURN_IF_ERROR(dec.Finish());
    if (written.Value() != verified_pages_) {
      return Status::Internal("the pages decoded again differ from the ones verified");
    }
  }
  physical_pages_ = std::max(physical_pages_, max_pgno);
  txn_snapshot_ = txn_snapshot_ || h.IsSnapshot();
  pending_.page_count = h.commit;
  pending_.checksum = verified_post_;
  pending_.txid = h.max_txid;
  pending_.timestamp_ms = h.timestamp_ms;
  txn_frames_++;
  return Status::OK();
}

Status Replica::Commit() {
  if (!in_txn_) return Status::Internal("Commit outside a write transaction");
  auto commit = [&]() -> Status {
    if (pending_.page_count < physical_pages_) {
      // sqlite_dbpage truncates only below the size the transaction started
      // with; Fits() keeps every transaction within that.
      if (pending_.page_count >= start_pages_) {
        return Status::Internal("cannot shrink to {} pages: the transaction started with {}",
                                pending_.page_count, start_pages_);
      }
      // A NULL page at commit+1 truncates; it must be the last INSERT.
      sqlite::Statement& st = db_->write;
      LTXBUS_RETURN_IF_ERROR(st.BindInt64(1, int64_t{pending_.page_count} + 1));
      LTXBUS_RETURN_IF_ERROR(st.BindNull(2));
      auto r = st.Step();
      Status reset = st.Reset();
      LTXBUS_RETURN_IF_ERROR(r.status());
      LTXBUS_RETURN_IF_ERROR(reset);
    }
    return db_->writer.Exec("COMMIT");
  }();
  if (!commit.ok()) {
    Rollback();
    return commit.WithContext("committing to " + options_.path);
  }
  in_txn_ = false;
  committed_ = pending_;
  // A shrink drops the truncated pages' checksums; growth keeps the new ones.
  page_sums_.resize(size_t{committed_.page_count} + 1);
  sums_undo_.clear();
  ResetWriterCache();
  Status ck = MaybeCheckpoint();
  if (!ck.ok()) spdlog::warn("{}: checkpoint: {}", options_.path, ck.message());
  return Status::OK();
}

void Replica::Rollback() {
  if (db_ && in_txn_) {
    (void)db_->writer.Exec("ROLLBACK");
    ResetWriterCache();
  }
  in_txn_ = false;
  verified_ = false;
  pending_ = committed_;
  RestorePageSums();
}

Status Replica::MaybeCheckpoint() {
  const uint64_t wal_bytes = uint64_t{wal_frames_} * (page_size_ + 24) + 32;
  const auto now = std::chrono::steady_clock::now();
  // Readers can hold a TRUNCATE up; try again at most once a second.
  if (wal_bytes >= options_.truncate_wal_bytes && now - last_truncate_ >= std::chrono::seconds(1)) {
    last_truncate_ = now;
    LTXBUS_ASSIGN_OR_RETURN(bool done, TruncateCheckpoint());
    if (done) return Status::OK();
  }
  if (wal_frames_ >= options_.checkpoint_frames) db_->checkpointer->Request();
  return Status::OK();
}

Result<bool> Replica::TruncateCheckpoint() {
  if (in_txn_) return Status::Internal("checkpoint inside a write transaction");
  sqlite3* raw = db_->writer.raw();
  // A PASSIVE checkpoint running beside it would make it fail at once.
  auto paused = db_->checkpointer->Pause();
  // It waits for readers holding the WAL while it holds the write lock; that
  // delays only this follower, and briefly.
  sqlite3_busy_timeout(raw, static_cast<int>(options_.truncate_busy_timeout.count()));
  int log = 0, done = 0;
  int rc = sqlite3_wal_checkpoint_v2(raw, kSchema, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
  sqlite3_busy_timeout(raw, static_cast<int>(options_.busy_timeout.count()));
  if (rc == SQLITE_BUSY) return false;
  if (rc != SQLITE_OK) return Status::IOError("TRUNCATE checkpoint: {}", sqlite3_errmsg(raw));
  wal_frames_ = 0;
  return true;
}

}  // namespace ltxbus::consumer
