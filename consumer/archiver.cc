#include "consumer/archiver.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <thread>

#include "consumer/archive_levels.h"
#include "consumer/archive_spool.h"
#include "ltx/compactor.h"
#include "store/time_format.h"

namespace ltxbus::consumer {
namespace {

std::string HostName() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) return "unknown";
  return host;
}

// True if `owner` ("host/pid/start-ms") is a process on this host that no
// longer exists: its lease can be taken at once instead of after it expires.
bool OwnerIsDeadHere(const std::string& owner) {
  const size_t a = owner.find('/');
  const size_t b = owner.find('/', a == std::string::npos ? a : a + 1);
  if (a == std::string::npos || b == std::string::npos || owner.substr(0, a) != HostName()) {
    return false;
  }
  pid_t pid = 0;
  const char* first = owner.data() + a + 1;
  if (std::from_chars(first, owner.data() + b, pid).ec != std::errc() || pid <= 0) return false;
  return ::kill(pid, 0) != 0 && errno == ESRCH;
}

Status CopyAll(SequentialFile& from, WritableFile& to) {
  std::vector<uint8_t> buf(1 << 16);
  for (;;) {
    LTXBUS_ASSIGN_OR_RETURN(size_t n, from.Read(buf));
    if (n == 0) return Status::OK();
    LTXBUS_RETURN_IF_ERROR(to.Append(std::span<const uint8_t>(buf.data(), n)));
  }
}

}  // namespace

struct Archiver::Pending {
  std::unique_ptr<Spool> ltx;  // the frame as the bus carried it (with checksums)
  ltx::Checksum post_apply = 0;
  Position position;
};

Archiver::Archiver(Env* env, store::ObjectStore& store, ArchiverOptions options)
    : env_(env), store_(store), options_(std::move(options)), layout_(ArchiveLayout::For(store)) {}

Archiver::~Archiver() = default;

Result<std::unique_ptr<Archiver>> Archiver::Open(Env* env, bus::Bus& bus, store::ObjectStore& store,
                                                 ArchiverOptions options) {
  if (options.owner.empty()) {
    options.owner = fmt::format("{}/{}/{}", HostName(), ::getpid(), env->NowUnixMillis());
  }
  if (options.config.levels.empty() || options.config.levels.size() > 8) {
    return Status::InvalidArgument("an archive needs 1 to 8 compaction levels");
  }
  std::unique_ptr<Archiver> a(new Archiver(env, store, std::move(options)));
  LTXBUS_RETURN_IF_ERROR(a->TakeLease());
  LTXBUS_RETURN_IF_ERROR(a->AdoptUnnamedTail());
  LTXBUS_RETURN_IF_ERROR(a->OpenStream(bus));
  return a;
}

Status Archiver::TakeLease() {
  const config::ArchiveConfig& c = options_.config;
  const int64_t deadline = env_->NowUnixMillis() + options_.lease_wait.count();
  for (;;) {
    const int64_t now = env_->NowUnixMillis();
    LTXBUS_ASSIGN_OR_RETURN(std::optional<StoredManifest> stored, LoadManifest(store_, layout_));
    Result<std::string> etag = Status::OK();
    if (!stored) {
      // A new archive, unless Litestream or someone else already wrote one here:
      // its TXIDs would not be ours.
      LTXBUS_ASSIGN_OR_RETURN(std::vector<ArchiveFile> foreign,
                              ListArchive(store_, layout_, /*timestamps=*/false));
      if (!foreign.empty()) {
        return Status::InvalidArgument(
            "{} holds LTX files ({}) but no ltxbus manifest ({}): it is not an ltxbus archive; "
            "archive into an empty location",
            store_.url(), Summarize(foreign), kManifestKey);
      }
      manifest_ = Manifest{};
      manifest_.database = c.name;
      for (size_t l = 1; l <= c.levels.size(); l++)
        manifest_.compacted_ms[static_cast<int>(l)] = now;
      manifest_.compacted_ms[kSnapshotLevel] = now;
    } else {
      const Manifest& m = stored->manifest;
      if (m.database != c.name) {
        return Status::InvalidArgument("{} is the archive of database '{}', not '{}'", store_.url(),
                                       m.database, c.name);
      }
      const bool free = m.owner.empty() || m.owner == options_.owner || m.lease_expires_ms <= now ||
                        OwnerIsDeadHere(m.owner);
      if (!free) {
        if (now >= deadline) {
          return Status::Conflict(
              "{} is held by another archiver ({}) until {}; only one archiver may write an "
              "archive (wait for it with -lease-wait)",
              store_.url(), m.owner, store::FormatTimestamp(m.lease_expires_ms));
        }
        const int64_t nap = std::min<int64_t>({500, deadline - now, m.lease_expires_ms - now});
        std::this_thread::sleep_for(Millis(std::max<int64_t>(nap, 10)));
        continue;
      }
      if (!m.owner.empty() && m.owner != options_.owner && m.lease_expires_ms > now) {
        spdlog::warn("{}: taking over the lease of {}, which is no longer running", store_.url(),
                     m.owner);
      }
      manifest_ = m;
    }
    manifest_.owner = options_.owner;
    manifest_.lease_expires_ms = now + c.lease_ttl.count();
    etag = StoreManifest(store_, manifest_, stored ? stored->etag : "");
    if (etag.ok()) {
      etag_ = *etag;
      break;
    }
    if (etag.status().code() != Status::Code::kConflict) return etag.status();
    // Another archiver got there first: look again.
  }
  last_txid_ = manifest_.last_txid();
  last_checksum_ = manifest_.last_checksum();
  spdlog::info("{}: archiving '{}' from TXID {}", store_.url(), c.name,
               ltx::FormatTXID(last_txid_ + 1));
  return Status::OK();
}

// An earlier run may have uploaded L0 files after its last manifest write
// (kill -9, a lost lease). They hold exactly the stream's transactions, so
// they are kept rather than written again: the stream is re-read from the
// manifest's position, which verifies the chain through them and supplies
// what the files cannot (each one's post-apply checksum and bus position),
// and each is named once the stream has passed its last TXID.
Status Archiver::AdoptUnnamedTail() {
  LTXBUS_ASSIGN_OR_RETURN(adopted_,
                          UnnamedL0Tail(store_, layout_, last_txid_, /*timestamps=*/false));
  if (!adopted_.empty()) {
    spdlog::info("{}: {} written after the last manifest; re-reading the stream through them",
                 store_.url(), Summarize(adopted_));
  }
  return Status::OK();
}

Status Archiver::OpenStream(bus::Bus& bus) {
  StreamOptions o;
  o.stop = StopAt::Never();
  if (!manifest_.position.empty()) {
    LTXBUS_ASSIGN_OR_RETURN(Position p, Position::Parse(manifest_.position));
    last_position_ = p;
    o.start = StartAt::After(p);
  } else {
    o.start = StartAt::Beginning();
  }
  auto s = TransactionStream::Open(bus, options_.config.name, o);
  if (!s.ok()) {
    return s.status().WithContext(
        last_txid_ == 0
            ? fmt::format("opening the stream of '{}'", options_.config.name)
            : fmt::format("resuming after archived TXID {} (the bus must still hold what follows, "
                          "or the archive would have a gap)",
                          ltx::FormatTXID(last_txid_)));
  }
  stream_ = std::move(*s);
  return Status::OK();
}

Status Archiver::Run(const std::atomic<bool>& stop) {
  while (!stop.load()) LTXBUS_RETURN_IF_ERROR(Step(Millis(100)));
  return Close();
}

Status Archiver::Step(Millis timeout) {
  const Millis sync = options_.config.sync_interval;
  if (!pending_.empty() && sync.count() > 0) {
    const int64_t left = pending_since_ms_ + sync.count() - env_->NowUnixMillis();
    timeout = std::min(timeout, Millis(std::max<int64_t>(left, 0)));
  }
  auto tx = stream_->Next(timeout);
  if (!tx.ok()) {
    if (tx.status().code() == Status::Code::kCorruption) {
      return tx.status().WithContext(
          fmt::format("archiving stopped after TXID {} (nothing after it was archived)",
                      ltx::FormatTXID(manifest_.last_txid())));
    }
    return tx.status();
  }
  if (tx->has_value()) LTXBUS_RETURN_IF_ERROR(Ingest(std::move(**tx)));
  const int64_t now = env_->NowUnixMillis();
  if (!pending_.empty() && (sync.count() == 0 || now >= pending_since_ms_ + sync.count())) {
    LTXBUS_RETURN_IF_ERROR(Flush());
  }
  return Maintain(now);
}

Status Archiver::Ingest(Transaction tx) {
  if (tx.txid() <= last_txid_) return Status::OK();  // delivered again after a restart
  if (tx.snapshot()) {
    adopted_.clear();  // left behind by the snapshot's restart of the chain
    LTXBUS_RETURN_IF_ERROR(Flush());
    return WriteSnapshotFrame(tx);
  }
  if (last_txid_ == 0) {
    return Status::InvalidArgument(
        "the archive must begin with a full database, but the oldest frame of '{}' on the bus is "
        "TXID {} (MinTXID {}), not a snapshot; restart the producer so it publishes one, or keep "
        "the stream from its beginning",
        options_.config.name, ltx::FormatTXID(tx.txid()), ltx::FormatTXID(tx.min_txid()));
  }
  if (tx.min_txid() != last_txid_ + 1) {
    return Status::Corruption(
        "gap in the stream of '{}': TXID {} follows archived TXID {}; archiving stopped",
        options_.config.name, ltx::FormatTXID(tx.min_txid()), ltx::FormatTXID(last_txid_));
  }
  if (last_checksum_ != 0 && tx.header().pre_apply_checksum != last_checksum_) {
    return Status::Corruption(
        "checksum chain broken in the stream of '{}' at TXID {}: pre-apply checksum {:016x}, but "
        "the archive is at {:016x} after TXID {}; archiving stopped",
        options_.config.name, ltx::FormatTXID(tx.min_txid()), tx.header().pre_apply_checksum,
        last_checksum_, ltx::FormatTXID(last_txid_));
  }
  if (!adopted_.empty()) {
    // Archived already, by an earlier run.
    Advance(tx);
    if (tx.txid() == adopted_.front().max_txid) {
      ArchiveFile f = std::move(adopted_.front());
      adopted_.erase(adopted_.begin());
      f.post_apply_checksum = tx.post_apply_checksum();
      f.timestamp_ms = tx.header().timestamp_ms;  // an L0 file's is its last transaction's
      manifest_.files.push_back(std::move(f));
      manifest_.position = tx.position().ToString();
    }
    return Status::OK();
  }
  Pending p;
  LTXBUS_ASSIGN_OR_RETURN(p.ltx, Spool::Create());
  LTXBUS_RETURN_IF_ERROR(CopyAll(*tx.OpenLtx(), *p.ltx));
  p.post_apply = tx.post_apply_checksum();
  p.position = tx.position();
  if (pending_.empty()) pending_since_ms_ = env_->NowUnixMillis();
  pending_.push_back(std::move(p));
  Advance(tx);
  return Status::OK();
}

void Archiver::Advance(const Transaction& tx) {
  last_txid_ = tx.txid();
  last_checksum_ = tx.post_apply_checksum();
  last_position_ = tx.position();
}

Status Archiver::WriteSnapshotFrame(const Transaction& tx) {
  if (manifest_.last_txid() > 0) {
    spdlog::warn("{}: the stream of '{}' restarts with a snapshot at TXID {} (after TXID {})",
                 store_.url(), options_.config.name, ltx::FormatTXID(tx.txid()),
                 ltx::FormatTXID(manifest_.last_txid()));
  }
  LTXBUS_ASSIGN_OR_RETURN(auto spool, Spool::Create());
  ltx::CompactOptions co;
  co.checksums = ltx::CompactOptions::Checksums::kOff;
  LTXBUS_ASSIGN_OR_RETURN(co.encoder.encoding,
                          ltx::ParsePageEncoding(options_.config.page_encoding));
  auto src = tx.OpenLtx();
  SequentialFile* inputs[] = {src.get()};
  LTXBUS_ASSIGN_OR_RETURN(ltx::Header h, ltx::Compact(inputs, spool.get(), co));
  LTXBUS_RETURN_IF_ERROR(spool->Rewind());
  LTXBUS_ASSIGN_OR_RETURN(
      ArchiveFile f, Upload(kSnapshotLevel, *spool, h, spool->size(), tx.post_apply_checksum()));
  manifest_.files.push_back(std::move(f));
  manifest_.position = tx.position().ToString();
  Advance(tx);
  return Commit();
}

Status Archiver::Flush() {
  if (pending_.empty()) return Status::OK();
  std::vector<SequentialFile*> inputs;
  for (const Pending& p : pending_) {
    LTXBUS_RETURN_IF_ERROR(p.ltx->Rewind());
    inputs.push_back(p.ltx.get());
  }
  LTXBUS_ASSIGN_OR_RETURN(auto spool, Spool::Create());
  ltx::CompactOptions co;
  co.checksums = ltx::CompactOptions::Checksums::kOff;
  LTXBUS_ASSIGN_OR_RETURN(co.encoder.encoding,
                          ltx::ParsePageEncoding(options_.config.page_encoding));
  LTXBUS_ASSIGN_OR_RETURN(ltx::Header h, ltx::Compact(inputs, spool.get(), co));
  LTXBUS_RETURN_IF_ERROR(spool->Rewind());
  // Never upload on a lease that may have lapsed: a stalled archiver learns
  // here, from the conditional manifest write, that another took over.
  LTXBUS_RETURN_IF_ERROR(RenewLeaseIfDue(env_->NowUnixMillis()));
  LTXBUS_ASSIGN_OR_RETURN(ArchiveFile f,
                          Upload(0, *spool, h, spool->size(), pending_.back().post_apply));
  // Named in the manifest at its next write; until then restores find it by
  // the one LIST of UnnamedL0Tail. A manifest write per L0 file would double
  // the archive's steady-state requests.
  KeepLocalCopy(f, std::move(spool));
  manifest_.files.push_back(std::move(f));
  manifest_.position = pending_.back().position.ToString();
  pending_.clear();
  return Status::OK();
}

void Archiver::KeepLocalCopy(const ArchiveFile& f, std::unique_ptr<Spool> spool) {
  if (local_l0_bytes_ + spool->size() > kLocalL0Bytes) return;  // downloaded when compacted
  local_l0_bytes_ += spool->size();
  local_l0_[f.key] = std::move(spool);
}

void Archiver::DropLocalCopies(const std::vector<ArchiveFile>& files) {
  for (const ArchiveFile& f : files) {
    auto it = local_l0_.find(f.key);
    if (it == local_l0_.end()) continue;
    local_l0_bytes_ -= it->second->size();
    local_l0_.erase(it);
  }
}

Result<ArchiveFile> Archiver::Upload(int level, SequentialFile& ltx_file, const ltx::Header& header,
                                     uint64_t size, ltx::Checksum post_apply) {
  ArchiveFile f;
  f.level = level;
  f.min_txid = header.min_txid;
  f.max_txid = header.max_txid;
  f.key = layout_.Key(level, header.min_txid, header.max_txid);
  f.timestamp_ms = header.timestamp_ms;
  f.size = size;
  f.post_apply_checksum = post_apply;
  store::PutOptions o;
  o.metadata[std::string(store::kTimestampMetadataKey)] =
      store::FormatTimestamp(header.timestamp_ms);
  LTXBUS_ASSIGN_OR_RETURN(store::ObjectInfo info, store_.Put(f.key, ltx_file, o));
  (void)info;
  spdlog::debug("{}: wrote {}", store_.url(), f.Describe());
  return f;
}

Status Archiver::Commit(const std::vector<ArchiveFile>& victims) {
  // A file rewritten under the same name (a retry after a crash) is listed once.
  std::vector<ArchiveFile> files;
  for (auto it = manifest_.files.rbegin(); it != manifest_.files.rend(); ++it) {
    if (std::none_of(files.begin(), files.end(),
                     [&](const ArchiveFile& f) { return f.SameRange(*it); })) {
      files.push_back(*it);
    }
  }
  manifest_.files = Without(files, victims);
  SortArchiveFiles(&manifest_.files);
  manifest_.lease_expires_ms = env_->NowUnixMillis() + options_.config.lease_ttl.count();
  auto etag = StoreManifest(store_, manifest_, etag_);
  if (!etag.ok()) {
    if (etag.status().code() == Status::Code::kConflict) {
      return Status::Conflict(
          "{}: lost the lease: another archiver wrote the manifest since this one did; stopping "
          "({})",
          store_.url(), etag.status().message());
    }
    return etag.status().WithContext("writing the archive manifest");
  }
  etag_ = *etag;
  if (victims.empty()) return Status::OK();
  std::vector<std::string> keys;
  for (const ArchiveFile& v : victims) keys.push_back(v.key);
  spdlog::info("{}: retention removed {}", store_.url(), Summarize(victims));
  return store_.Delete(keys);
}

Result<ArchiveFile> Archiver::Merge(const std::vector<ArchiveFile>& inputs, int level) {
  // L0 files this run uploaded are still here; only the rest are downloaded.
  std::vector<ArchiveFile> missing;
  for (const ArchiveFile& f : inputs) {
    if (!local_l0_.contains(f.key)) missing.push_back(f);
  }
  LTXBUS_ASSIGN_OR_RETURN(auto downloaded,
                          DownloadFiles(store_, missing, options_.download_parallelism));
  std::vector<SequentialFile*> in;
  for (size_t i = 0, next = 0; i < inputs.size(); i++) {
    auto it = local_l0_.find(inputs[i].key);
    Spool* spool = it != local_l0_.end() ? it->second.get() : downloaded[next++].get();
    LTXBUS_RETURN_IF_ERROR(spool->Rewind());
    in.push_back(spool);
  }
  LTXBUS_ASSIGN_OR_RETURN(auto out, Spool::Create());
  ltx::CompactOptions co;
  co.checksums = ltx::CompactOptions::Checksums::kOff;
  LTXBUS_ASSIGN_OR_RETURN(co.encoder.encoding,
                          ltx::ParsePageEncoding(options_.config.page_encoding));
  auto h = ltx::Compact(in, out.get(), co);
  if (!h.ok()) {
    return h.status().WithContext(
        fmt::format("compacting {} into level {}", Summarize(inputs), level));
  }
  LTXBUS_RETURN_IF_ERROR(out->Rewind());
  return Upload(level, *out, *h, out->size(), inputs.back().post_apply_checksum);
}

// Compactions and snapshots that are due, then, with them or at a lease
// renewal, retention; and one manifest write for all of it. The manifest is
// written only here (and for a snapshot frame, and at Close), so in steady
// state the archive costs one PUT per L0 file plus a few per compaction and
// lease renewal, and no LIST.
Status Archiver::Maintain(int64_t now_ms) {
  const config::ArchiveConfig& c = options_.config;
  bool changed = false;
  for (size_t l = 1; l <= c.levels.size(); l++) {
    const int level = static_cast<int>(l);
    if (Due(manifest_.compacted_ms[level], c.levels[l - 1], now_ms)) {
      LTXBUS_ASSIGN_OR_RETURN(bool compacted, Compact(level, now_ms));
      changed = changed || compacted;
    }
  }
  if (Due(manifest_.compacted_ms[kSnapshotLevel], c.snapshot_interval, now_ms)) {
    LTXBUS_ASSIGN_OR_RETURN(bool snapshot, Snapshot(now_ms));
    changed = changed || snapshot;
  }
  const bool renewal_due = LeaseRenewalDue(now_ms);
  if (!changed && !renewal_due) return Status::OK();
  // Retention with every compaction (L0 files expire one per sync interval,
  // so they go in batches), and at renewals too so an idle archive is trimmed.
  std::vector<ArchiveFile> victims;
  if (changed || now_ms - last_retention_ms_ >= c.levels.front().count()) {
    victims = RetentionVictims(now_ms);
    last_retention_ms_ = now_ms;
  }
  return Commit(victims);
}

bool Archiver::LeaseRenewalDue(int64_t now_ms) const {
  // Renewed when a third of it is left: two chances before it lapses.
  return now_ms >= manifest_.lease_expires_ms - options_.config.lease_ttl.count() * 2 / 3;
}

Status Archiver::RenewLeaseIfDue(int64_t now_ms) {
  return LeaseRenewalDue(now_ms) ? Commit() : Status::OK();
}

Result<bool> Archiver::Compact(int level, int64_t now_ms) {
  manifest_.compacted_ms[level] = now_ms;  // recorded with the next manifest write
  const auto runs = CompactionRuns(manifest_.files, level);
  for (const auto& run : runs) {
    LTXBUS_ASSIGN_OR_RETURN(ArchiveFile f, Merge(run, level));
    spdlog::info("{}: compacted {} into {}", store_.url(), Summarize(run), f.Describe());
    manifest_.files.push_back(std::move(f));
    if (level == 1) DropLocalCopies(run);
  }
  return !runs.empty();
}

Result<bool> Archiver::Snapshot(int64_t now_ms) {
  manifest_.compacted_ms[kSnapshotLevel] = now_ms;
  ltx::TXID newest = 0;
  for (const ArchiveFile& f : FilesAtLevel(manifest_.files, kSnapshotLevel)) {
    newest = std::max(newest, f.max_txid);
  }
  if (manifest_.last_txid() <= newest) return false;
  LTXBUS_ASSIGN_OR_RETURN(std::vector<ArchiveFile> plan, PlanRestore(manifest_.files, {}));
  LTXBUS_ASSIGN_OR_RETURN(ArchiveFile f, Merge(plan, kSnapshotLevel));
  spdlog::info("{}: snapshot {}", store_.url(), f.Describe());
  manifest_.files.push_back(std::move(f));
  return true;
}

std::vector<ArchiveFile> Archiver::RetentionVictims(int64_t now_ms) {
  RetentionSettings r;
  r.snapshot_retention = options_.config.snapshot_retention;
  r.l0_retention = options_.config.l0_retention;
  std::vector<ArchiveFile> victims = SnapshotRetentionVictims(manifest_.files, r, now_ms);
  for (ArchiveFile& f : L0RetentionVictims(Without(manifest_.files, victims), r, now_ms)) {
    victims.push_back(std::move(f));
  }
  DropLocalCopies(victims);
  return victims;
}

Status Archiver::Close() {
  if (stream_ == nullptr) return Status::OK();
  LTXBUS_RETURN_IF_ERROR(Flush());
  // Release the lease so the next archiver need not wait for it to expire.
  manifest_.lease_expires_ms = 0;
  auto etag = StoreManifest(store_, manifest_, etag_);
  if (!etag.ok()) return etag.status().WithContext("releasing the archive lease");
  etag_ = *etag;
  stream_.reset();
  spdlog::info("{}: archived '{}' up to TXID {}", store_.url(), options_.config.name,
               ltx::FormatTXID(manifest_.last_txid()));
  return Status::OK();
}

}  // namespace ltxbus::consumer
