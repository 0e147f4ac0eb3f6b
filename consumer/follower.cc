#include "consumer/follower.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "ltx/decoder.h"

namespace ltxbus::consumer {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

Result<ltx::Header> PeekHeader(const bus::Frame& frame) {
  auto src = frame.Open();
  ltx::Decoder dec(src.get());
  LTXBUS_RETURN_IF_ERROR(dec.DecodeHeader());
  return dec.header();
}

std::string Describe(const bus::Frame& f) {
  const bus::FrameId& id = f.id();
  return id.min_txid == id.max_txid
             ? fmt::format("TXID {} at offset {}", ltx::FormatTXID(id.max_txid), f.last_offset())
             : fmt::format("TXIDs {}-{} at offset {}", ltx::FormatTXID(id.min_txid),
                           ltx::FormatTXID(id.max_txid), f.last_offset());
}

}  // namespace

Follower::Follower(Env* env, FollowerOptions options, SubscribeFn subscribe, bus::Bus* bus)
    : env_(env), options_(std::move(options)), subscribe_(std::move(subscribe)), bus_(bus) {}

Follower::~Follower() = default;

Result<std::unique_ptr<Follower>> Follower::Open(Env* env, const FollowerOptions& options,
                                                 SubscribeFn subscribe, bus::Bus* bus) {
  if (options.database.empty()) return Status::InvalidArgument("no database name to follow");
  if (options.replica.path.empty()) return Status::InvalidArgument("no replica path");
  if (options.max_batch < 1) return Status::InvalidArgument("max-batch must be at least 1");
  std::unique_ptr<Follower> f(new Follower(env, options, std::move(subscribe), bus));
  if (!options.archive_url.empty()) {
    if (bus == nullptr) return Status::InvalidArgument("following with an archive needs the bus");
    auto archive = store::Open(options.archive_url);
    if (!archive.ok()) return archive.status().WithContext("opening the archive");
    f->archive_ = std::move(*archive);
  }
  LTXBUS_RETURN_IF_ERROR(f->Load());
  return f;
}

Status Follower::StorePosition() { return position_store_->Store(position_); }

Status Follower::Load() {
  const std::string& path = options_.replica.path;
  position_path_ = ReplicaPositionPath(path);
  position_store_.emplace(env_, position_path_);
  const std::string dir = std::filesystem::path(path).parent_path().string();
  if (!dir.empty()) LTXBUS_RETURN_IF_ERROR(env_->CreateDirs(dir));
  bool has_data = false;
  if (env_->FileExists(path)) {
    LTXBUS_ASSIGN_OR_RETURN(uint64_t size, env_->GetFileSize(path));
    has_data = size > 0;
  }
  const std::string rebuild = fmt::format(
      "to rebuild it from a snapshot, stop ltxbus and delete {0}, {0}-wal, {0}-shm and {1}", path,
      position_path_);
  auto loaded = LoadReplicaPositionFile(env_, position_path_);
  if (!loaded.ok() && !loaded.status().IsNotFound()) {
    return Status::InvalidArgument("{}; {}", loaded.status().message(), rebuild);
  }
  if (!loaded.ok()) {
    if (has_data) {
      return Status::InvalidArgument(
          "{} exists but has no {}: it was not created by `ltxbus follow`, and following "
          "would overwrite it. Give a new replica path, or delete it",
          path, position_path_);
    }
    position_ = ReplicaPositionFile{options_.database, std::nullopt, std::nullopt};
    return StorePosition();
  }
  position_ = std::move(*loaded);
  if (position_.database != options_.database) {
    return Status::InvalidArgument("{} is a replica of database '{}', not '{}'", path,
                                   position_.database, options_.database);
  }
  if (!has_data) {
    if (position_.committed) {
      spdlog::warn("{}: replica {} is gone (it was at TXID {}); rebuilding it from a snapshot",
                   options_.database, path, ltx::FormatTXID(position_.committed->txid));
    }
    position_.committed.reset();
    position_.pending.reset();
    return StorePosition();
  }
  LTXBUS_ASSIGN_OR_RETURN(replica_, Replica::Open(options_.replica));
  LTXBUS_ASSIGN_OR_RETURN(ReplicaScan scan, replica_->Scan());
  // A commit is atomic, so the replica holds either the state before the
  // last batch or the one after it (replica_position.h).
  for (const auto& candidate : {position_.pending, position_.committed}) {
    if (!candidate || scan.SourceChecksum(candidate->page1_tail) != candidate->checksum) continue;
    LTXBUS_RETURN_IF_ERROR(replica_->Adopt(*candidate, scan));
    position_.committed = candidate;
    position_.pending.reset();
    stats_.txid = candidate->txid;
    stats_.offset = candidate->offset;
    stats_.timestamp_ms = candidate->timestamp_ms;
    spdlog::info("{}: replica {} verified at TXID {} ({} pages); resuming after offset {}",
                 options_.database, path, ltx::FormatTXID(candidate->txid), scan.page_count,
                 candidate->offset);
    return StorePosition();
  }
  if (!position_.committed) {
    // Created, and the first snapshot never committed: nothing of it to keep.
    position_.pending.reset();
    return StorePosition();
  }
  return Status::InvalidArgument(
      "{} does not hold what ltxbus last wrote to it (TXID {}, checksum {:016x}; its pages "
      "give {:016x}): another program wrote it, and following on would corrupt it; {}",
      path, ltx::FormatTXID(position_.committed->txid), position_.committed->checksum,
      scan.SourceChecksum(position_.committed->page1_tail), rebuild);
}

std::unique_ptr<bus::FrameAssembler> Follower::NewAssembler() const {
  return std::make_unique<bus::FrameAssembler>(
      options_.frame_memory,
      [db = options_.database](const std::string& why) { spdlog::warn("{}: {}", db, why); });
}

Result<bool> Follower::TryArchive() {
  if (!archive_ || (replica_ && replica_->in_transaction())) return false;
  std::optional<ltx::TXID> at;
  if (position_.committed) at = position_.committed->txid;
  LTXBUS_ASSIGN_OR_RETURN(
      std::optional<ArchiveBootstrapPlan> plan,
      PlanArchiveBootstrap(*archive_, *bus_, options_.database, at, options_.locate_timeout));
  if (!plan) return false;
  LTXBUS_RETURN_IF_ERROR(BootstrapFromArchive(*plan));
  assembler_ = NewAssembler();
  lookahead_.reset();
  LTXBUS_ASSIGN_OR_RETURN(sub_, subscribe_(plan->resume));
  return true;
}

Status Follower::BootstrapFromArchive(const ArchiveBootstrapPlan& plan) {
  LTXBUS_ASSIGN_OR_RETURN(
      bus::Frame frame,
      RestoreArchiveSnapshot(env_, *archive_, plan, options_.database, options_.replica.path));
  LTXBUS_ASSIGN_OR_RETURN(ltx::Header header, PeekHeader(frame));
  // Applied exactly as a snapshot from the stream: verified, then written in
  // one replica transaction (readers switch over at its commit).
  auto applied = ApplyFrame(frame, header);
  Status s = !applied.ok() ? applied.status()
             : !*applied
                 ? Status::Corruption(
                       "the state restored from the archive {} (TXID {}) does not verify; the "
                       "replica is unchanged. Run `ltxbus verify {}`",
                       archive_->url(), ltx::FormatTXID(plan.txid), archive_->url())
                 : CommitBatch();
  if (replica_ && replica_->in_transaction()) replica_->Rollback();
  if (!s.ok()) return s.WithContext("bootstrapping from the archive");
  stats_.resyncing = false;
  spdlog::info(
      "{}: replica {} bootstrapped from the archive at TXID {} ({} pages); following the stream "
      "from {}",
      options_.database, options_.replica.path, ltx::FormatTXID(plan.txid), header.commit,
      plan.resume.kind == bus::StartPosition::Kind::kOffset
          ? fmt::format("offset {}", plan.resume.offset)
          : std::string("its beginning"));
  return Status::OK();
}

Status Follower::Subscribe() {
  assembler_ = NewAssembler();
  lookahead_.reset();
  LTXBUS_ASSIGN_OR_RETURN(bool bootstrapped, TryArchive());
  if (bootstrapped) return Status::OK();
  bus::StartPosition start;
  if (position_.committed) {
    start.kind = bus::StartPosition::Kind::kOffset;
    start.offset = position_.committed->offset + 1;
  } else {
    spdlog::info("{}: no replica yet; looking for the newest snapshot on {}", options_.database,
                 options_.bus_url);
    LTXBUS_ASSIGN_OR_RETURN(SnapshotScanResult scan,
                            FindNewestSnapshot(subscribe_, options_.scan_quiet));
    if (scan.newest) {
      start.kind = bus::StartPosition::Kind::kOffset;
      start.offset = scan.newest->first_offset;
      spdlog::info("{}: bootstrapping from the snapshot TXID {} at offset {}", options_.database,
                   ltx::FormatTXID(scan.newest->txid), start.offset);
    } else {
      if (scan.end_offset > 0) {
        start.kind = bus::StartPosition::Kind::kOffset;
        start.offset = scan.end_offset;
      }
      spdlog::warn(
          "{}: the stream holds no snapshot yet; waiting for one (a producer publishes one when "
          "it starts)",
          options_.database);
    }
  }
  LTXBUS_ASSIGN_OR_RETURN(sub_, subscribe_(start));
  return Status::OK();
}

Result<std::optional<bus::Frame>> Follower::NextFrame(std::chrono::milliseconds wait) {
  if (lookahead_) {
    std::optional<bus::Frame> f = std::move(lookahead_);
    lookahead_.reset();
    return f;
  }
  const auto deadline = Clock::now() + wait;
  for (;;) {
    const auto left = std::max(
        0ms, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
    auto chunk = sub_->Next(left);
    if (!chunk.ok()) {
      if (chunk.status().IsCorruption()) {
        // A message on our subject that is not one of our chunks.
        stats_.rejected++;
        spdlog::error("{}: {}; skipped", options_.database, chunk.status().message());
        continue;
      }
      if (chunk.status().IsNotFound()) {
        // The next offset is gone (retention): read what the bus still holds;
        // the gap will show and trigger a resync.
        spdlog::warn("{}: {}; reading from the oldest frame on the bus", options_.database,
                     chunk.status().message());
        if (archive_ && replica_ && replica_->in_transaction()) {
          // Commit what the batch holds first; the next Subscribe() asks the archive.
          return Status::Unavailable("{}: the stream lost the next frame; checking the archive",
                                     options_.database);
        }
        LTXBUS_ASSIGN_OR_RETURN(bool bootstrapped, TryArchive());
        if (bootstrapped) continue;
        bus::StartPosition start;
        start.kind = bus::StartPosition::Kind::kBeginning;
        LTXBUS_ASSIGN_OR_RETURN(sub_, subscribe_(start));
        assembler_ = NewAssembler();
        continue;
      }
      return chunk.status();
    }
    if (!chunk->has_value()) return std::optional<bus::Frame>();
    LTXBUS_ASSIGN_OR_RETURN(std::optional<bus::Frame> frame, assembler_->Add(std::move(**chunk)));
    if (frame) return frame;
    if (Clock::now() >= deadline) return std::optional<bus::Frame>();
  }
}

Follower::Decision Follower::Classify(const bus::Frame& frame, const ltx::Header& h,
                                      std::string* why) {
  const bus::FrameId& id = frame.id();
  if (id.database != options_.database) {
    *why = fmt::format("it is a frame of database '{}'", id.database);
    return Decision::kReject;
  }
  if (id.min_txid != h.min_txid || id.max_txid != h.max_txid ||
      id.pre_apply != h.pre_apply_checksum) {
    *why = fmt::format(
        "its bus headers (TXIDs {}-{}, pre-apply {:016x}) disagree with its LTX header "
        "(TXIDs {}-{}, pre-apply {:016x})",
        ltx::FormatTXID(id.min_txid), ltx::FormatTXID(id.max_txid), id.pre_apply,
        ltx::FormatTXID(h.min_txid), ltx::FormatTXID(h.max_txid), h.pre_apply_checksum);
    return Decision::kReject;
  }
  const bool have = replica_ && replica_->state().page_count != 0;
  const ltx::TXID txid = have ? replica_->state().txid : 0;
  if (have && h.max_txid <= txid) {
    if (h.IsSnapshot() && IsReset(frame, h)) {
      spdlog::warn(
          "{}: snapshot {} (checksum {:016x}) is not the replica's state (TXID {}, checksum "
          "{:016x}) and was published after it: the stream was reset (emptied and a producer "
          "restarted); rebuilding the replica from it",
          options_.database, Describe(frame), frame.trailer().post_apply, ltx::FormatTXID(txid),
          replica_->state().checksum);
      return Decision::kApply;
    }
    stats_.duplicates++;
    spdlog::debug("{}: {} is already applied (replica at TXID {})", options_.database,
                  Describe(frame), ltx::FormatTXID(txid));
    return Decision::kSkip;
  }
  if (h.IsSnapshot()) return Decision::kApply;
  if (!have) {
    spdlog::debug("{}: {} skipped: waiting for a snapshot", options_.database, Describe(frame));
    return Decision::kSkip;
  }
  if (h.min_txid == txid + 1) return Decision::kApply;
  if (h.min_txid == txid + 2) {
    *why = fmt::format("gap: the replica is at TXID {}, so TXID {} is missing",
                       ltx::FormatTXID(txid), ltx::FormatTXID(txid + 1));
  } else if (h.min_txid > txid + 2) {
    *why = fmt::format("gap: the replica is at TXID {}, so TXIDs {} to {} are missing",
                       ltx::FormatTXID(txid), ltx::FormatTXID(txid + 1),
                       ltx::FormatTXID(h.min_txid - 1));
  } else {
    *why = fmt::format("it overlaps the replica's TXID {}", ltx::FormatTXID(txid));
  }
  return Decision::kReject;
}

bool Follower::IsReset(const bus::Frame& frame, const ltx::Header& h) const {
  const SourceState& st = replica_->state();
  if (h.max_txid == st.txid && frame.trailer().post_apply == st.checksum) return false;
  // Only a snapshot published after the last frame applied: an older one
  // read again (the same history) must not take the replica back in time.
  const uint64_t applied = replica_->in_transaction() ? batch_offset_
                           : position_.committed      ? position_.committed->offset
                                                      : 0;
  return frame.first_offset() > applied;
}

void Follower::Reject(const bus::Frame& frame, const std::string& why) {
  stats_.rejected++;
  stats_.resyncing = true;
  const ltx::TXID txid = replica_ ? replica_->state().txid : 0;
  spdlog::error(
      "{}: rejected frame {}: {}. Not applied: the replica stays at TXID {}; resyncing (waiting "
      "for the frame that continues it, or a newer snapshot)",
      options_.database, Describe(frame), why, ltx::FormatTXID(txid));
}

Result<bool> Follower::ApplyFrame(const bus::Frame& frame, const ltx::Header& header) {
  if (!replica_) {
    // Only a snapshot gets here: the replica is created for it, in its page size.
    LTXBUS_ASSIGN_OR_RETURN(replica_, Replica::Create(options_.replica, header.page_size));
    spdlog::info("{}: created replica {} ({}-byte pages, WAL mode)", options_.database,
                 options_.replica.path, header.page_size);
  }
  if (header.IsSnapshot() && header.page_size != replica_->page_size()) {
    // A WAL database cannot change its page size in place, and the source did.
    return Status::InvalidArgument(
        "{} {} has {}-byte pages but the replica {} has {}: the primary's page size changed. "
        "Stop ltxbus and delete {} with its -wal, -shm and .ltxbus-position files to rebuild "
        "it",
        options_.database, Describe(frame), header.page_size, options_.replica.path,
        replica_->page_size(), options_.replica.path);
  }
  if (!replica_->in_transaction()) {
    LTXBUS_RETURN_IF_ERROR(replica_->Begin());
    batch_snapshot_ = false;
  }
  {
    auto src = frame.Open();
    auto verified = replica_->Verify(src.get());
    if (!verified.ok()) {
      if (!verified.status().IsCorruption()) return verified.status();
      Reject(frame, verified.status().message());
      return false;
    }
    if (replica_->verified_post() != frame.trailer().post_apply) {
      Reject(frame, fmt::format("its bus trailer's post-apply checksum {:016x} disagrees with "
                                "its LTX file's {:016x}",
                                frame.trailer().post_apply, replica_->verified_post()));
      return false;
    }
  }
  auto src = frame.Open();
  const uint64_t pages_before = replica_->pages_written();
  LTXBUS_RETURN_IF_ERROR(replica_->Apply(src.get()));
  batch_offset_ = frame.last_offset();
  stats_.frames++;
  stats_.pages += replica_->pages_written() - pages_before;
  if (header.IsSnapshot()) {
    batch_snapshot_ = true;
    stats_.snapshots++;
    spdlog::info("{}: applying the snapshot TXID {} ({} pages)", options_.database,
                 ltx::FormatTXID(header.max_txid), header.commit);
  }
  if (stats_.resyncing) {
    stats_.resyncing = false;
    spdlog::info("{}: resynced: {} continues the replica", options_.database, Describe(frame));
  }
  return true;
}

Status Follower::CommitBatch() {
  const SourceState& st = replica_->state();
  const ReplicaPosition next{st.txid, st.checksum, batch_offset_, st.timestamp_ms,
                             TakePage1Tail(st.page1)};
  // Durable before the commit: after a crash the replica is at `committed`
  // or at `pending`, and the checksum tells which.
  position_.pending = next;
  Status s = StorePosition();
  position_settled_ = false;
  if (!s.ok()) {
    position_.pending.reset();
    replica_->Rollback();
    return s.WithContext("storing the position");
  }
  const int frames = replica_->frames_in_transaction();
  s = replica_->Commit();
  position_.pending.reset();
  if (!s.ok()) return s;
  position_.committed = next;
  stats_.txid = next.txid;
  stats_.offset = next.offset;
  stats_.timestamp_ms = next.timestamp_ms;
  stats_.commits++;
  spdlog::debug("{}: committed {} frame(s), replica at TXID {}", options_.database, frames,
                ltx::FormatTXID(next.txid));
  if (batch_snapshot_) {
    // A snapshot filled the WAL with the whole database: give it back.
    auto done = replica_->TruncateCheckpoint();
    if (!done.ok()) spdlog::warn("{}: checkpoint: {}", options_.database, done.status().message());
  }
  return Status::OK();
}

Status Follower::SettlePosition() {
  if (position_settled_ || (replica_ && replica_->in_transaction())) return Status::OK();
  LTXBUS_RETURN_IF_ERROR(StorePosition());
  position_settled_ = true;
  return Status::OK();
}

void Follower::LogWaiting() {
  const auto now = Clock::now();
  if (now - last_waiting_log_ < 30s) return;
  last_waiting_log_ = now;
  if (!replica_ || replica_->state().page_count == 0) {
    spdlog::warn("{}: still waiting for a snapshot on {}", options_.database, options_.bus_url);
  } else {
    spdlog::warn(
        "{}: the replica stays at TXID {}: nothing on {} continues it since frames were rejected; "
        "waiting for a snapshot (restarting the producer publishes one)",
        options_.database, ltx::FormatTXID(replica_->state().txid), options_.bus_url);
  }
}

Result<int> Follower::Poll(std::chrono::milliseconds wait) {
  if (!sub_) {
    Status s = Subscribe();
    if (!s.ok()) {
      sub_.reset();
      return s;
    }
  }
  auto first = NextFrame(wait);
  if (!first.ok()) {
    sub_.reset();
    return first.status();
  }
  const auto now = Clock::now();
  if (!first->has_value()) {
    if (replica_ && !idle_checkpointed_ && now - last_activity_ >= options_.idle_checkpoint) {
      idle_checkpointed_ = true;
      if (replica_->wal_frames() > 0) {
        auto done = replica_->TruncateCheckpoint();
        if (!done.ok()) {
          spdlog::warn("{}: checkpoint: {}", options_.database, done.status().message());
        }
        if (done.ok() && !*done) idle_checkpointed_ = false;  // readers held it; retry later
      }
    }
    if (!position_settled_) {
      // Idle for `wait`: one more write, once per idle spell, so the file
      // names the replica's state exactly while nothing happens.
      Status s = SettlePosition();
      if (!s.ok()) spdlog::warn("{}: storing the position: {}", options_.database, s.message());
    }
    if (stats_.resyncing || !replica_ || replica_->state().page_count == 0) LogWaiting();
    return 0;
  }
  std::optional<bus::Frame> frame = std::move(*first);
  int applied = 0;
  Status read_error;
  while (frame) {
    auto header = PeekHeader(*frame);
    std::string why;
    Decision d = header.ok() ? Classify(*frame, *header, &why) : Decision::kReject;
    if (!header.ok()) why = header.status().message();
    if (d == Decision::kReject) {
      Reject(*frame, why);
    } else if (d == Decision::kApply) {
      if (replica_ && replica_->in_transaction() && replica_->frames_in_transaction() > 0 &&
          (header->IsSnapshot() || !replica_->Fits(*header))) {
        lookahead_ = std::move(frame);  // it starts the next transaction
        break;
      }
      auto ok = ApplyFrame(*frame, *header);
      if (!ok.ok()) {
        if (replica_) replica_->Rollback();
        sub_.reset();
        return ok.status();
      }
      if (*ok) applied++;
    }
    if (replica_ && replica_->frames_in_transaction() >= options_.max_batch) break;
    auto next = NextFrame(0ms);
    if (!next.ok()) {
      read_error = next.status();
      break;
    }
    frame = std::move(*next);
  }
  if (replica_ && replica_->in_transaction()) {
    Status s = replica_->frames_in_transaction() > 0 ? CommitBatch() : Status::OK();
    if (replica_->in_transaction()) replica_->Rollback();
    if (!s.ok()) {
      sub_.reset();
      return s;
    }
  }
  if (!read_error.ok()) {
    sub_.reset();
    return read_error;
  }
  last_activity_ = Clock::now();
  idle_checkpointed_ = false;
  return applied;
}

}  // namespace ltxbus::consumer
